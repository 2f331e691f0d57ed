//! Peer test: stock virsh's tunables commands (memtune, blkiotune, numatune, schedinfo --set, vcpupin,
//! emulatorpin) over our unix sockets print what `virsh -c test:///default` prints against libvirt's embedded
//! test driver, errors included; changes persist into the domain XML. Skipped when virsh is not installed.

use crate::support::server::serve;
use crate::support::virsh::{have_virsh, ok, virsh};

use virtcim::{TunableKind, TypedParam, TypedValue};

/// Our domain XML leaves out the device addresses and the balloon libvirt's test driver adds to the default
/// domain (outside this test's subject), so those lines are dropped from both sides before comparing.
fn without_device_extras(text: &str) -> String {
    let mut in_balloon = false;
    text.lines()
        .filter(|line| {
            let trimmed = line.trim();
            if trimmed.starts_with("<memballoon") {
                in_balloon = !trimmed.ends_with("/>");
                return false;
            }
            if in_balloon {
                in_balloon = trimmed != "</memballoon>";
                return false;
            }
            !trimmed.starts_with("<address ")
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Runs one virsh script (commands joined by ';', one connection) against a fresh daemon of ours and against
/// libvirt's embedded test driver; stdout and stderr must be the same bytes.
async fn differs_from_libvirt(script: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let (rw, _) = serve(dir.path());
    let (success, stdout, stderr) = virsh("test:///default", &[script]).await;
    let theirs = (success, without_device_extras(&stdout), stderr);
    let (success, stdout, stderr) = virsh(&rw, &[script]).await;
    let ours = (success, without_device_extras(&stdout), stderr);
    (ours != theirs).then(|| format!("{script:?}\n--- ours:\n{ours:?}\n--- libvirt's:\n{theirs:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunables_commands_match_libvirts_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let mut differences = Vec::new();
    for script in [
        // Reads of the untouched world.
        "memtune test; blkiotune test; numatune test; schedinfo test; vcpupin test; emulatorpin test",
        "memtune test --config; blkiotune test --live; numatune test --config; emulatorpin test --config",
        // memtune: set, read back from either definition, and the XML.
        "memtune test --hard-limit 1000000 --soft-limit 500000; memtune test; \
         memtune test --swap-hard-limit 2000000 --config; memtune test --config; memtune test; dumpxml test; \
         dumpxml test --inactive",
        "memtune test --hard-limit 100 --swap-hard-limit 50",
        "memtune test --swap-hard-limit 5000; memtune test --hard-limit 6000",
        "memtune test --hard-limit -1; memtune test --live --config",
        // blkiotune: the weight and the string-typed per-device lists, merged as libvirt merges them.
        "blkiotune test --weight 500 --device-weights /dev/sda,300,/dev/sdb,200; blkiotune test; \
         blkiotune test --device-read-iops-sec /dev/vda,100 --device-write-bytes-sec /dev/sda,4096 --live; \
         blkiotune test --device-weights /dev/sda,0; blkiotune test; dumpxml test",
        "blkiotune test --device-weights /dev/sda",
        "blkiotune test --device-weights /dev/sda,abc",
        "blkiotune test --weight 300 --config; blkiotune test --config; dumpxml test --inactive",
        // numatune: mode and nodeset, and the rules for a running domain.
        "numatune test --nodeset 0-1 --mode interleave; numatune test; numatune test --mode preferred; \
         numatune test --nodeset 0,2-3; numatune test; dumpxml test",
        "numatune test --mode interleave",
        "numatune test --nodeset 5-3",
        "numatune test --nodeset 1 --mode restrictive --config; numatune test --config; dumpxml test --inactive",
        // schedinfo --set is checked and ignored, as libvirt's test driver does.
        "schedinfo test --set weight=77; schedinfo test",
        "schedinfo test --set foo=1",
        "schedinfo test --set weight=5 --config",
        "schedinfo test --current",
        // vcpupin / emulatorpin.
        "vcpupin test 1 2-3; vcpupin test; vcpupin test --vcpu 1; vcpuinfo test --pretty; dumpxml test",
        "vcpupin test 5 1",
        "vcpupin test 1 99",
        "vcpupin test 0 1 --config",
        "emulatorpin test 0,2; emulatorpin test; emulatorpin test 1-3 --config; emulatorpin test --config; \
         dumpxml test --inactive",
        "emulatorpin test 99",
        // A stopped domain.
        "destroy test; vcpupin test 1 1; emulatorpin test 1; memtune test --live; memtune test; \
         blkiotune test --weight 10; blkiotune test; vcpupin test; emulatorpin test --config 4; emulatorpin test",
        // perf: boolean events kept in <perf>.
        "perf test; perf test --enable cmt,cpu_cycles; perf test; perf test --disable cmt --config; \
         perf test --config; dumpxml test; dumpxml test --inactive",
        "perf test --enable foo",
        "perf test --enable cmt,cmt",
        // domtime: the guest clock libvirt's test driver fakes, settable while active.
        "domtime test; domtime test --pretty; domtime test --time 1234567; domtime test; domtime test --sync; \
         domtime test; domtime test --time -5; domtime test",
        "suspend test; domtime test; domtime test --time 5; resume test; domtime test",
        "destroy test; domtime test; domtime test --now; perf test --enable cmt; perf test; perf test --live",
        // blkdeviotune: a disk's throttling, in its <iotune>, with libvirt's test driver's checks.
        "blkdeviotune test vda; blkdeviotune test /guest/diskimage1 --config",
        "blkdeviotune test vda --total-bytes-sec 1000 --total-bytes-sec-max 2000 --group-name grp \
         --read-iops-sec 5 --read-iops-sec-max 9 --size-iops-sec 3; blkdeviotune test vda; dumpxml test; \
         blkdeviotune test vda --config",
        "blkdeviotune test vda --total-bytes-sec 1000",
        "blkdeviotune test vda --read-bytes-sec 5 --total-bytes-sec 6 --total-bytes-sec-max 9",
        "blkdeviotune test vda --total-iops-sec-max 5 --write-iops-sec-max 5",
        "blkdeviotune test vdb; blkdeviotune test vdb --total-bytes-sec 1",
        "blkdeviotune test vda --read-bytes-sec-max 2000000000000000",
        "blkdeviotune test vda --write-bytes-sec-max 10 --config; dumpxml test --inactive; destroy test; \
         blkdeviotune test vda; blkdeviotune test vda --live",
        // Unknown domains.
        "memtune nosuch",
        "blkiotune nosuch --weight 1",
        "vcpupin nosuch 0 1",
    ] {
        if let Some(difference) = differs_from_libvirt(script).await {
            differences.push(difference);
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_only_socket_reads_tunables_and_refuses_changes() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, ro) = serve(dir.path());
    for args in [
        &["memtune", "test"][..],
        &["blkiotune", "test"],
        &["numatune", "test"],
        &["vcpupin", "test"],
        &["emulatorpin", "test"],
        &["perf", "test"],
        &["blkdeviotune", "test", "vda"],
    ] {
        let want = ok("test:///default", args).await;
        assert_eq!(ok(&ro, args).await, want, "virsh {args:?} (read-only)");
    }
    for (args, api) in [
        (
            &["memtune", "test", "--hard-limit", "1000"][..],
            "virDomainSetMemoryParameters",
        ),
        (
            &["blkiotune", "test", "--weight", "100"],
            "virDomainSetBlkioParameters",
        ),
        (
            &["numatune", "test", "--nodeset", "0"],
            "virDomainSetNumaParameters",
        ),
        (
            &["schedinfo", "test", "--set", "weight=1"],
            "virDomainSetSchedulerParameters",
        ),
        (&["vcpupin", "test", "0", "1"], "virDomainPinVcpu"),
        (&["emulatorpin", "test", "1"], "virDomainPinEmulator"),
        (
            &["perf", "test", "--enable", "cmt"],
            "virDomainSetPerfEvents",
        ),
        (&["domtime", "test"], "virDomainGetTime"),
        (
            &["blkdeviotune", "test", "vda", "--total-iops-sec", "5"],
            "virDomainSetBlockIoTune",
        ),
        (&["domtime", "test", "--time", "5"], "virDomainSetTime"),
    ] {
        let (success, _, stderr) = virsh(&ro, args).await;
        assert!(!success, "virsh {args:?} on the read-only socket");
        assert!(
            stderr.contains("read only access prevents"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(api), "{args:?}: {stderr}");
    }
}

/// python3-libvirt's typed-parameter dictionaries, strings included, are the same from our daemon as from
/// libvirt's embedded test driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_libvirt_sees_the_same_typed_parameters() {
    let Some(python) = crate::support::python::libvirt_python() else {
        eprintln!("python3-libvirt not installed, skipping");
        return;
    };
    let python = python.as_path();
    let script = r#"
import sys, libvirt
conn = libvirt.open(sys.argv[1])
dom = conn.lookupByName("test")
dom.setMemoryParameters({"hard_limit": 1048576}, 0)
dom.setBlkioParameters({"weight": 700, "device_weight": "/dev/sda,300"}, 0)
dom.setNumaParameters({"numa_nodeset": "0-1", "numa_mode": 2}, 0)
dom.pinVcpu(0, (True, False, True))
dom.pinEmulator((False, True), 0)
dom.setPerfEvents({"cmt": True, "mbml": False}, 0)
dom.setTime({"seconds": 1000, "nseconds": 5}, 0)
dom.setBlockIoTune("vda", {"group_name": "g1", "write_iops_sec": 7, "write_iops_sec_max": 8}, 0)
print(sorted(dom.blockIoTune("vda", 0).items()))
print(sorted(dom.perfEvents(0).items()))
print(dom.getTime(0))
print(sorted(dom.memoryParameters(0).items()))
print(sorted(dom.blkioParameters(0).items()))
print(sorted(dom.numaParameters(0).items()))
print(dom.vcpuPinInfo(0))
print(dom.emulatorPinInfo(0))
try:
    dom.setBlkioParameters({"device_weight": "/dev/sda"}, 0)
except libvirt.libvirtError as err:
    print(err.get_error_code(), err.get_error_message())
"#;
    let dir = tempfile::tempdir().unwrap();
    let (rw, _) = serve(dir.path());
    let run = |uri: String| {
        tokio::process::Command::new(python)
            .args(["-c", script, &uri])
            .output()
    };
    let theirs = run("test:///default".into()).await.unwrap();
    let ours = run(rw).await.unwrap();
    assert!(theirs.status.success(), "{theirs:?}");
    assert!(ours.status.success(), "{ours:?}");
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&theirs.stdout)
    );
}

/// Our remote driver sets and reads every tunable over the wire as the test driver keeps them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_driver_round_trips_tunables() {
    let dir = tempfile::tempdir().unwrap();
    let (rw, ro) = serve(dir.path());
    let remote = virtcim::connect(&rw, &virtcim::ConnectOptions::default())
        .await
        .unwrap();
    let dom = remote.domain_lookup_by_name("test").await.unwrap();
    let param = |field: &str, value: TypedValue| TypedParam {
        field: field.into(),
        value,
    };
    remote
        .domain_set_tunables(
            &dom,
            TunableKind::Blkio,
            vec![
                param("weight", TypedValue::UInt(321)),
                param(
                    "device_read_bytes_sec",
                    TypedValue::String("/dev/vda,4096".into()),
                ),
            ],
            0,
        )
        .await
        .unwrap();
    let blkio = remote
        .domain_get_tunables(&dom, TunableKind::Blkio, 16, 0)
        .await
        .unwrap();
    assert_eq!(blkio.len(), 6);
    assert_eq!(blkio[0], param("weight", TypedValue::UInt(321)));
    assert_eq!(
        blkio[4],
        param(
            "device_read_bytes_sec",
            TypedValue::String("/dev/vda,4096".into())
        )
    );
    remote
        .domain_set_tunables(
            &dom,
            TunableKind::Memory,
            vec![param("soft_limit", TypedValue::ULLong(2048))],
            virtcim::flags::AFFECT_CONFIG,
        )
        .await
        .unwrap();
    let memory = remote
        .domain_get_tunables(&dom, TunableKind::Memory, 16, virtcim::flags::AFFECT_CONFIG)
        .await
        .unwrap();
    assert_eq!(memory[1], param("soft_limit", TypedValue::ULLong(2048)));
    let err = remote
        .domain_set_tunables(
            &dom,
            TunableKind::Memory,
            vec![param("soft_limit", TypedValue::UInt(1))],
            0,
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("expected 'ullong'"), "{}", err.message);

    remote
        .domain_pin_vcpu(&dom, 1, vec![0b0000_0110], 0)
        .await
        .unwrap();
    let (count, maps) = remote
        .domain_get_vcpu_pin_info(&dom, 2, 1, 0)
        .await
        .unwrap();
    assert_eq!((count, maps), (2, vec![0xff, 0b0000_0110]));
    remote
        .domain_pin_emulator(&dom, vec![0b1000_0001], 0)
        .await
        .unwrap();
    assert_eq!(
        remote
            .domain_get_emulator_pin_info(&dom, 1, 0)
            .await
            .unwrap(),
        vec![0b1000_0001]
    );
    let xml = remote.domain_get_xml_desc(&dom, 0).await.unwrap();
    assert!(xml.contains("<vcpupin vcpu='1' cpuset='1-2'/>"), "{xml}");
    assert!(xml.contains("<emulatorpin cpuset='0,7'/>"), "{xml}");
    remote
        .domain_set_tunables(
            &dom,
            TunableKind::Perf,
            vec![param("page_faults", TypedValue::Boolean(true))],
            0,
        )
        .await
        .unwrap();
    let perf = remote
        .domain_get_tunables(&dom, TunableKind::Perf, 64, 0)
        .await
        .unwrap();
    assert_eq!(perf.len(), 22);
    assert_eq!(perf[15], param("page_faults", TypedValue::Boolean(true)));
    assert_eq!(
        remote.domain_get_time(&dom, 0).await.unwrap(),
        (627_319_920, 0)
    );
    remote.domain_set_time(&dom, -7, 9, 0).await.unwrap();
    assert_eq!(remote.domain_get_time(&dom, 0).await.unwrap(), (-7, 9));
    remote
        .domain_set_block_io_tune(
            &dom,
            "vda".into(),
            vec![
                param("group_name", TypedValue::String("g".into())),
                param("read_bytes_sec_max", TypedValue::ULLong(77)),
            ],
            0,
        )
        .await
        .unwrap();
    let iotune = remote
        .domain_get_block_io_tune(&dom, Some("vda".into()), 32, 0)
        .await
        .unwrap();
    assert_eq!(iotune.len(), 20);
    assert_eq!(
        iotune[7],
        param("read_bytes_sec_max", TypedValue::ULLong(77))
    );
    assert_eq!(
        iotune[13],
        param("group_name", TypedValue::String("g".into()))
    );
    let inactive = remote.domain_get_xml_desc(&dom, 2).await.unwrap();
    assert!(
        inactive.contains("<soft_limit unit='KiB'>2048</soft_limit>"),
        "{inactive}"
    );

    // The read-only socket reads the same values and refuses changes.
    let read_only = virtcim::connect(&ro, &virtcim::ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(
        read_only
            .domain_get_tunables(&dom, TunableKind::Blkio, 16, 0)
            .await
            .unwrap(),
        blkio
    );
    let err = read_only
        .domain_pin_emulator(&dom, vec![1], 0)
        .await
        .unwrap_err();
    assert_eq!(err.code, virtcim::ErrorCode::OPERATION_DENIED);
}
