//! Peer test: stock virsh's statistics commands (domstats, domblkstat, domifstat, domblkinfo,
//! nodecpustats, domifaddr, domfsinfo, domhostname, iothreadinfo) over our unix sockets print what
//! `virsh -c test:///default` prints against libvirt's own embedded test driver; python3-libvirt reads the same
//! typed values; our remote driver reads back what the test driver gives; the server enforces the XDR caps.
//! The virsh and python parts are skipped when virsh / python3-libvirt are not installed.

use crate::support::server::serve;
use crate::support::virsh::{have_virsh, ok, virsh};

use std::sync::Arc;

use virtcim::rpc_wire::{
    BlockStatsFlagsArgs, ConnectOpenArgs, NodeCpuStatsArgs, NodeCpuStatsRet, REMOTE_PROGRAM,
};
use virtcim::{
    prelude::*, ConnectionState, Dispatcher, Header, Message, Procedure, RemoteError, Status,
    TypedValue, Xdr,
};

/// The reference: libvirt's own test driver, embedded in virsh.
async fn reference(args: &[&str]) -> String {
    ok("test:///default", args).await
}

/// Block and interface counters come from the wall clock in both drivers: checks every line is
/// "DEVICE FIELD NUMBER" (or a --human line ending in a number) and blanks the numbers.
fn without_clock_counters(text: &str) -> String {
    text.lines()
        .map(|line| match line.rsplit_once(' ') {
            Some((head, number)) if number.parse::<i64>().is_ok() => format!("{head} <counter>"),
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs virsh with a script (several commands separated by `;`) against `uri`; its stdout.
async fn script(uri: &str, commands: &str) -> String {
    let (success, stdout, stderr) = virsh(uri, &[commands]).await;
    assert!(success, "virsh -c {uri} {commands:?}: {stdout}{stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_commands_match_libvirts_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rw, ro) = serve(dir.path());

    // Deterministic in libvirt's test driver: byte for byte, on both sockets (all of these are reads).
    for args in [
        &["domstats"][..],
        &["domstats", "--raw"],
        &["domstats", "test"],
        &["domstats", "--state"],
        &["domstats", "--cpu-total"],
        &[
            "domstats",
            "--state",
            "--cpu-total",
            "--balloon",
            "--vcpu",
            "--interface",
            "--block",
        ],
        &["domstats", "--list-active"],
        &["domstats", "--list-inactive"],
        &["domstats", "--list-running", "--state"],
        &["domstats", "--list-persistent", "--list-transient"],
        &["domstats", "--list-transient"],
        &["domstats", "--state", "--enforce"],
        &["domstats", "--block", "--backing", "--nowait"],
        &["domblkinfo", "test", "vda"],
        &["domblkinfo", "test", "/guest/diskimage1"],
        &["domblkinfo", "test", "--all"],
        &["domblkinfo", "test", "--all", "--human"],
        &["nodecpustats"],
        &["nodecpustats", "--cpu", "0"],
        &["nodecpustats", "--cpu", "7"],
        &["domifaddr", "test"],
        &["domifaddr", "test", "--full"],
        &["domifaddr", "test", "testnet0"],
        &["domifaddr", "test", "--source", "lease"],
        &["domifaddr", "test", "--source", "agent"],
        &["domifaddr", "test", "--source", "arp"],
        &["domfsinfo", "test"],
        &["domhostname", "test"],
        &["iothreadinfo", "test"],
        &["iothreadinfo", "test", "--live"],
        &["iothreadinfo", "test", "--config"],
    ] {
        let want = reference(args).await;
        assert_eq!(ok(&rw, args).await, want, "virsh {args:?}");
        assert_eq!(ok(&ro, args).await, want, "virsh {args:?} (read-only)");
    }

    // Clock-derived counters: the same lines with numbers in the same places.
    for args in [
        &["domblkstat", "test", "vda"][..],
        &["domblkstat", "test", "/guest/diskimage1"],
        &["domblkstat", "test", "vda", "--human"],
        &["domifstat", "test", "testnet0"],
        &["domifstat", "test", "aa:bb:cc:dd:ee:ff"],
    ] {
        let want = without_clock_counters(&reference(args).await);
        assert_eq!(
            without_clock_counters(&ok(&rw, args).await),
            want,
            "virsh {args:?}"
        );
        assert_eq!(
            without_clock_counters(&ok(&ro, args).await),
            want,
            "virsh {args:?} (read-only)"
        );
    }

    // The usual misuse fails with libvirt's words: unknown domain, device or source, refused groups and flags.
    for args in [
        &["domstats", "nosuch"][..],
        &["domstats", "--cpu-total", "--enforce"],
        &["domstats", "--vcpu", "--balloon", "--enforce"],
        &["domblkstat", "nosuch", "vda"],
        &["domblkstat", "test", "vdb"],
        &["domifstat", "test", "vnet0"],
        &["domblkinfo", "test", "vdb"],
        &["domifaddr", "nosuch"],
        &["domfsinfo", "nosuch"],
        &["domhostname", "test", "--source", "agent"],
        &["domhostname", "test", "--source", "lease"],
        &["iothreadinfo", "nosuch"],
    ] {
        let (success, stdout, theirs) = virsh("test:///default", args).await;
        assert!(!success, "reference virsh {args:?}");
        for uri in [&rw, &ro] {
            let (success, ours_out, ours) = virsh(uri, args).await;
            assert!(!success, "virsh {args:?}");
            assert_eq!(
                (ours_out, ours),
                (stdout.clone(), theirs.clone()),
                "virsh {args:?}"
            );
        }
    }

    // A paused domain still answers; a stopped one has no counters, addresses, file systems or host name, but
    // its disk sizes and (empty) I/O threads remain. Scripts keep libvirt's embedded world alive across commands.
    let sequence = "suspend test; domstats --list-paused; domhostname test; domifaddr test; resume test; \
                    destroy test; domstats; domstats --list-shutoff --list-inactive; domblkinfo test vda; \
                    iothreadinfo test";
    assert_eq!(
        script(&rw, sequence).await,
        script("test:///default", sequence).await
    );
    for args in [
        &["domblkstat", "test", "vda"][..],
        &["domifstat", "test", "testnet0"],
        &["domifaddr", "test"],
        &["domfsinfo", "test"],
        &["domhostname", "test"],
    ] {
        let (success, _, stderr) = virsh(&ro, args).await;
        assert!(!success, "virsh {args:?} on a stopped domain");
        assert!(
            stderr.contains("Requested operation is not valid: domain is not running"),
            "virsh {args:?}: {stderr}"
        );
    }
}

/// python3-libvirt against both drivers: the same typed values (bulk statistics, CPU times, addresses, file
/// systems, host name, sizes) and the same errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_libvirt_reads_the_same_values() {
    let Some(python) = crate::support::python::libvirt_python() else {
        eprintln!("python3-libvirt not installed, skipping");
        return;
    };
    let python = python.as_path();
    const SCRIPT: &str = r#"
import libvirt, sys
libvirt.registerErrorHandler(lambda *a: None, None)
c = libvirt.open(sys.argv[1])
d = c.lookupByName("test")
def show(name, f):
    try: print(name, repr(f()))
    except libvirt.libvirtError as e: print(name, "error", e.get_error_code(), e.get_error_domain(), e.get_error_message())
show("all", lambda: [(x.name(), s) for x, s in c.getAllDomainStats()])
show("all-running", lambda: [(x.name(), s) for x, s in c.getAllDomainStats(0, 16)])
show("all-groups", lambda: [(x.name(), s) for x, s in c.getAllDomainStats(2)])
show("enforce", lambda: c.getAllDomainStats(6, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS))
show("badflag", lambda: c.getAllDomainStats(1, 1 << 20))
show("list", lambda: [(x.name(), s) for x, s in c.domainListGetStats([d], 1)])
show("cpu", lambda: c.getCPUStats(-1))
show("cpu3", lambda: c.getCPUStats(3))
show("cpu-2", lambda: c.getCPUStats(-2))
show("cpuflag", lambda: c.getCPUStats(0, 1))
show("blockinfo", lambda: d.blockInfo("vda"))
show("blockinfo-flag", lambda: d.blockInfo("vda", 1))
show("blockstats-empty", lambda: d.blockStats(""))
show("ifaddr", lambda: d.interfaceAddresses(0))
show("ifaddr3", lambda: d.interfaceAddresses(3))
show("ifaddr-flag", lambda: d.interfaceAddresses(0, 1))
show("fsinfo", lambda: d.fsInfo())
show("fsinfo-flag", lambda: d.fsInfo(1))
show("hostname", lambda: d.hostname())
show("iothreads", lambda: d.ioThreadInfo())
show("iothreads-flag", lambda: d.ioThreadInfo(4))
"#;
    let dir = tempfile::tempdir().unwrap();
    let (rw, _) = serve(dir.path());
    let run = |uri: String| async move {
        let out = tokio::process::Command::new(python)
            .args(["-c", SCRIPT, &uri])
            .output()
            .await
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let theirs = run("test:///default".to_owned()).await;
    let ours = run(rw).await;
    assert_eq!(ours, theirs);
}

/// Our remote driver reads back what the test driver gives in process, on both sockets.
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
            remote
                .connect_get_all_domain_stats(&[], 0, 0)
                .await
                .unwrap(),
            local.connect_get_all_domain_stats(&[], 0, 0).await.unwrap()
        );
        let records = remote
            .connect_get_all_domain_stats(std::slice::from_ref(&dom), 1, 0)
            .await
            .unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].dom.name, "test");
        assert_eq!(records[0].params[0].value, TypedValue::Int(1));
        assert_eq!(
            remote.domain_get_block_info(&dom, "vda", 0).await.unwrap(),
            local.domain_get_block_info(&dom, "vda", 0).await.unwrap()
        );
        assert_eq!(
            remote.node_get_cpu_stats(-1, 0).await.unwrap(),
            local.node_get_cpu_stats(-1, 0).await.unwrap()
        );
        assert_eq!(
            remote.domain_interface_addresses(&dom, 0, 0).await.unwrap(),
            local.domain_interface_addresses(&dom, 0, 0).await.unwrap()
        );
        assert_eq!(
            remote.domain_get_fsinfo(&dom, 0).await.unwrap(),
            local.domain_get_fsinfo(&dom, 0).await.unwrap()
        );
        assert_eq!(
            remote.domain_get_hostname(&dom, 0).await.unwrap(),
            "testhost"
        );
        assert_eq!(
            remote.domain_get_iothread_info(&dom, 0).await.unwrap(),
            vec![]
        );
        // Clock-derived counters only grow: the remote answer lies between two local ones.
        let before = local.domain_block_stats(&dom, "vda").await.unwrap();
        let across = remote.domain_block_stats(&dom, "vda").await.unwrap();
        let after = local.domain_block_stats(&dom, "vda").await.unwrap();
        assert!(before.rd_req <= across.rd_req && across.rd_req <= after.rd_req);
        assert!(before.errs <= across.errs && across.errs <= after.errs);
        let before = local
            .domain_interface_stats(&dom, "testnet0")
            .await
            .unwrap();
        let across = remote
            .domain_interface_stats(&dom, "testnet0")
            .await
            .unwrap();
        let after = local
            .domain_interface_stats(&dom, "testnet0")
            .await
            .unwrap();
        assert!(before.tx_bytes <= across.tx_bytes && across.tx_bytes <= after.tx_bytes);
        // Errors travel with libvirt's code and words.
        let err = remote.domain_block_stats(&dom, "vdb").await.unwrap_err();
        assert_eq!(err.message, "invalid argument: invalid path: vdb");
        let err = remote.domain_get_hostname(&dom, 1).await.unwrap_err();
        assert_eq!(
            err.message,
            "unsupported flags (0x1) in function testDomainGetHostname"
        );
        // Like libvirt 9.0's test driver, ours has no typed-parameter block statistics (virsh falls back).
        let err = remote
            .domain_block_stats_flags(&dom, "vda", 0)
            .await
            .unwrap_err();
        assert_eq!(err.code, virtcim::ErrorCode::NO_SUPPORT);
    }
}

fn call(proc_: Procedure, serial: u32, payload: Vec<u8>) -> Message {
    Message {
        header: Header::call(REMOTE_PROGRAM, 1, proc_.number(), serial),
        payload,
    }
}

fn reply_of(outcome: &virtcim::DispatchOutcome) -> Message {
    let frame = outcome.reply.as_ref().expect("a reply");
    Message::from_frame(&frame[4..]).expect("reply frame")
}

/// The server applies remote_protocol.x's caps to typed-parameter counts before asking the driver, and answers
/// a count of 0 with how many parameters there are.
#[tokio::test]
async fn the_server_enforces_the_typed_parameter_caps() {
    let dir = tempfile::tempdir().unwrap();
    let options = virtcim::ConnectOptions {
        state_dir: Some(dir.path().to_path_buf()),
        read_only: false,
    };
    let dispatcher = Dispatcher::new(Arc::new(virtcim::Registry::new(options)));
    let mut state = ConnectionState::new(0, false);
    let open = ConnectOpenArgs {
        name: Some("test:///default".into()),
        flags: 0,
    };
    let outcome = dispatcher
        .handle(
            &mut state,
            &call(Procedure::ConnectOpen, 1, open.to_bytes()),
        )
        .await;
    assert_eq!(reply_of(&outcome).header.status, Status::Ok);

    let cpu_stats = |nparams: i32| NodeCpuStatsArgs {
        cpu_num: -1,
        nparams,
        flags: 0,
    };
    let outcome = dispatcher
        .handle(
            &mut state,
            &call(Procedure::NodeGetCpuStats, 2, cpu_stats(0).to_bytes()),
        )
        .await;
    let ret = NodeCpuStatsRet::from_bytes(&reply_of(&outcome).payload).unwrap();
    assert_eq!((ret.params.0.len(), ret.nparams), (0, 4));
    let outcome = dispatcher
        .handle(
            &mut state,
            &call(Procedure::NodeGetCpuStats, 3, cpu_stats(2).to_bytes()),
        )
        .await;
    let ret = NodeCpuStatsRet::from_bytes(&reply_of(&outcome).payload).unwrap();
    assert_eq!(ret.nparams, 2);
    assert_eq!(ret.params.0[0].field, "user");

    for (serial, nparams) in [(4, 17), (5, -1)] {
        let outcome = dispatcher
            .handle(
                &mut state,
                &call(
                    Procedure::NodeGetCpuStats,
                    serial,
                    cpu_stats(nparams).to_bytes(),
                ),
            )
            .await;
        let message = reply_of(&outcome);
        assert_eq!(message.header.status, Status::Error);
        let err = RemoteError::from_bytes(&message.payload).unwrap();
        assert!(
            err.message.as_deref().unwrap_or("").contains("nparams"),
            "{err:?}"
        );
    }
    let dom = virtcim::DomainRef {
        name: "test".into(),
        uuid: uuid::Uuid::parse_str("6695eb01-f6a4-8304-79aa-97f2502e193f").unwrap(),
        id: 1,
    };
    let args = BlockStatsFlagsArgs {
        dom,
        path: "vda".into(),
        nparams: 17,
        flags: 0,
    };
    let outcome = dispatcher
        .handle(
            &mut state,
            &call(Procedure::DomainBlockStatsFlags, 6, args.to_bytes()),
        )
        .await;
    let message = reply_of(&outcome);
    assert_eq!(message.header.status, Status::Error);
    let err = RemoteError::from_bytes(&message.payload).unwrap();
    assert!(
        err.message
            .as_deref()
            .unwrap_or("")
            .contains("nparams too large"),
        "{err:?}"
    );
}
