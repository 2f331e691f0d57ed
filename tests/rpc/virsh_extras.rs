//! Peer test: stock virsh's node and vCPU/memory statistics commands (freecell, maxvcpus, nodecpumap, vcpuinfo,
//! dommemstat, schedinfo) over our unix sockets print what `virsh -c test:///default` prints against libvirt's own embedded
//! test driver. Skipped when virsh is not installed.

use crate::support::server::serve;
use crate::support::virsh::{have_virsh, ok, virsh};

use virtcim::prelude::*;

/// The reference: libvirt's own test driver, embedded in virsh.
async fn reference(args: &[&str]) -> String {
    ok("test:///default", args).await
}

/// vcpuinfo's "CPU time" comes from the wall clock in both drivers: checks it is a time in seconds and blanks it.
fn without_cpu_time(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix("CPU time:") {
            Some(value) => {
                let seconds = value.trim().strip_suffix('s').unwrap_or("x");
                assert!(seconds.parse::<f64>().is_ok(), "CPU time {value:?}");
                "CPU time: <wall clock>".to_owned()
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_domain_statistics_match_libvirts_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rw, ro) = serve(dir.path());

    // Every answer here is deterministic in libvirt's test driver, so the output must match byte for byte,
    // on the read-write socket and on the read-only one (all of these are reads).
    for args in [
        &["freecell"][..],
        &["freecell", "--all"],
        &["freecell", "0"],
        &["freecell", "1"],
        &["maxvcpus"],
        &["maxvcpus", "--type", "kvm"],
        &["nodecpumap"],
        &["nodecpumap", "--pretty"],
        &["dommemstat", "test"],
        &["schedinfo", "test"],
    ] {
        let want = reference(args).await;
        assert_eq!(ok(&rw, args).await, want, "virsh {args:?}");
        assert_eq!(ok(&ro, args).await, want, "virsh {args:?} (read-only)");
    }

    let want = without_cpu_time(&reference(&["vcpuinfo", "test"]).await);
    assert_eq!(
        without_cpu_time(&ok(&rw, &["vcpuinfo", "test"]).await),
        want
    );
    assert_eq!(
        without_cpu_time(&ok(&ro, &["vcpuinfo", "test"]).await),
        want
    );

    // libvirt's test driver takes no AFFECT_* flag for scheduler parameters; neither does ours.
    for args in [
        &["schedinfo", "test", "--live"][..],
        &["schedinfo", "test", "--config"],
    ] {
        let (success, _, theirs) = virsh("test:///default", args).await;
        assert!(!success);
        let (success, _, stderr) = virsh(&rw, args).await;
        assert!(!success, "virsh {args:?}");
        // The flag values differ: virsh adds TYPED_PARAM_STRING_OKAY only where the connection advertises it.
        assert!(theirs.contains("unsupported flags"), "{theirs}");
        assert!(stderr.contains("unsupported flags"), "{stderr}");
    }

    // A cell past the host's, and statistics of a stopped domain, fail as they do in libvirt's test driver.
    let (success, _, stderr) = virsh(&rw, &["freecell", "5"]).await;
    assert!(!success);
    assert!(stderr.contains("Range exceeds available cells"), "{stderr}");

    // The statistics follow the balloon: a smaller current memory shows in dommemstat as it does in libvirt's.
    let (success, stdout, stderr) =
        virsh("test:///default", &["setmem test 1000000; dommemstat test"]).await;
    assert!(success, "{stdout}{stderr}");
    ok(&rw, &["setmem", "test", "1000000"]).await;
    let ours = ok(&rw, &["dommemstat", "test"]).await;
    assert_eq!(format!("\n{ours}"), stdout, "dommemstat after setmem");

    // A stopped domain has no memory statistics; its vcpuinfo falls back to the pinning of its definition.
    let (success, stdout, stderr) =
        virsh("test:///default", &["destroy test; vcpuinfo test"]).await;
    assert!(success, "{stdout}{stderr}");
    let want = stdout
        .split_once("destroyed\n\n")
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or_default();
    ok(&rw, &["destroy", "test"]).await;
    assert_eq!(
        ok(&rw, &["vcpuinfo", "test"]).await,
        want,
        "vcpuinfo of a stopped domain"
    );
    let (success, _, stderr) = virsh(&rw, &["dommemstat", "test"]).await;
    assert!(!success, "dommemstat of a stopped domain");
    assert!(
        stderr.contains("Requested operation is not valid: domain is not running"),
        "{stderr}"
    );
}

/// Our remote driver reads the same answers back over the wire that the test driver gives in process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_driver_reads_statistics_as_the_test_driver_gives_them() {
    let dir = tempfile::tempdir().unwrap();
    let local = virtcim::TestDriver::open(&dir.path().join("local"))
        .await
        .unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let (rw, ro) = serve(&served);
    for uri in [rw, ro] {
        let remote = virtcim::connect(&uri, &virtcim::ConnectOptions::default())
            .await
            .unwrap();
        let dom = remote.domain_lookup_by_name("test").await.unwrap();
        assert_eq!(
            remote.node_get_free_memory().await.unwrap(),
            local.node_get_free_memory().await.unwrap()
        );
        assert_eq!(
            remote.node_get_cells_free_memory(0, 8).await.unwrap(),
            local.node_get_cells_free_memory(0, 8).await.unwrap()
        );
        assert_eq!(
            remote.node_get_cpu_map(0).await.unwrap(),
            local.node_get_cpu_map(0).await.unwrap()
        );
        assert_eq!(remote.get_max_vcpus(None).await.unwrap(), 32);
        assert_eq!(remote.domain_get_max_vcpus(&dom).await.unwrap(), 2);
        let (info, maps) = remote.domain_get_vcpu_info(&dom, 8, 2).await.unwrap();
        assert_eq!(info.len(), 2);
        assert_eq!(maps, vec![0xff; 4], "two vCPUs, each on all 16 host CPUs");
        assert_eq!(
            remote
                .domain_get_vcpu_pin_info(&dom, 8, 1, 0)
                .await
                .unwrap(),
            (2, vec![0xff, 0xff])
        );
        assert_eq!(
            remote.domain_memory_stats(&dom, 3, 0).await.unwrap(),
            local.domain_memory_stats(&dom, 3, 0).await.unwrap()
        );
        assert_eq!(
            remote.domain_get_scheduler_type(&dom).await.unwrap(),
            ("fair".to_owned(), 1)
        );
        assert_eq!(
            remote
                .domain_get_scheduler_parameters(&dom, 0)
                .await
                .unwrap(),
            vec![virtcim::TypedParam {
                field: "weight".into(),
                value: virtcim::TypedValue::UInt(50)
            }]
        );
        // Counts past the protocol's caps are refused by the server before the driver sees them.
        let err = remote
            .domain_get_vcpu_info(&dom, 16385, 1)
            .await
            .unwrap_err();
        assert!(
            err.message.contains("REMOTE_VCPUINFO_MAX"),
            "{}",
            err.message
        );
        let err = remote
            .domain_get_vcpu_info(&dom, 16384, 1024)
            .await
            .unwrap_err();
        assert!(
            err.message.contains("REMOTE_CPUMAPS_MAX"),
            "{}",
            err.message
        );
        let err = remote.domain_memory_stats(&dom, 1025, 0).await.unwrap_err();
        assert!(
            err.message.contains("REMOTE_DOMAIN_MEMORY_STATS_MAX"),
            "{}",
            err.message
        );
    }
}

/// DOMAIN_RESET and DOMAIN_INJECT_NMI from stock virsh print what libvirt's test driver prints (it implements
/// both: accepted on a running domain, "domain is not running" otherwise); both are refused read-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_and_inject_nmi_from_virsh() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rw, ro) = serve(dir.path());
    let script = "reset test; inject-nmi test; destroy test; reset test; inject-nmi test";
    let (want_ok, want_out, want_err) = virsh("test:///default", &[script]).await;
    let (got_ok, got_out, got_err) = virsh(&rw, &[script]).await;
    assert_eq!(
        (got_ok, &got_out, &got_err),
        (want_ok, &want_out, &want_err)
    );
    assert!(got_out.contains("Domain 'test' was reset"), "{got_out}");
    assert!(
        got_err.contains("Requested operation is not valid: domain is not running"),
        "{got_err}"
    );

    let out = ok(&rw, &["start", "test"]).await;
    assert!(out.contains("started"), "{out}");
    let (nmi_ok, _, nmi_err) = virsh(&rw, &["inject-nmi", "test"]).await;
    assert!(nmi_ok, "{nmi_err}");
    for args in [&["reset", "test"][..], &["inject-nmi", "test"]] {
        let (ok_ro, _, err_ro) = virsh(&ro, args).await;
        assert!(!ok_ro, "{args:?} read-only");
        assert!(
            err_ro.contains("read only access prevents"),
            "{args:?}: {err_ro}"
        );
    }

    // The remote driver sends the two procedures and gets the same answers as in process.
    let conn = virtcim::connect(&rw, &virtcim::ConnectOptions::default())
        .await
        .unwrap();
    let dom = conn.domain_lookup_by_name("test").await.unwrap();
    conn.domain_reset(&dom, 0).await.unwrap();
    conn.domain_inject_nmi(&dom, 0).await.unwrap();
    let err = conn.domain_inject_nmi(&dom, 2).await.unwrap_err();
    assert_eq!(
        err.message,
        "unsupported flags (0x2) in function testDomainInjectNMI"
    );
}
