//! Peer test: the guest-control calls libvirt 9.0's test driver has and ours gained (issue 14, "the test driver
//! keeps pace"): `dommemstat --period`, `domcontrol` in each of its states, `domblkerror`, `domfsfreeze` /
//! `domfsthaw` / `domfstrim`, `set-user-password`, `send-process-signal`, `set-lifecycle-action`, `dump`,
//! `freepages`, and domain messages, launch security and free pages from
//! python3-libvirt. Stock virsh and libvirt-python print the same, errors included, from our daemon's
//! `test:///default` as from libvirt's own embedded test driver.

use crate::support::server::serve;
use crate::support::virsh::{have_virsh, reference_session, virsh};

/// Runs each session against a fresh world of ours and against libvirt's test driver; both must print the same.
async fn same_as_libvirt(dir: &std::path::Path, sessions: &[String]) {
    for (n, session) in sessions.iter().enumerate() {
        let state = dir.join(format!("world{n}"));
        std::fs::create_dir(&state).unwrap();
        let (rw, _) = serve(&state);
        let ours = virsh(&rw, &[session]).await;
        let want = reference_session(session).await;
        assert_eq!(ours, want, "virsh {session:?}");
    }
}

/// A domain with five disks (alternating disk errors) and no balloon.
const FIVE_DISKS: &str = "<domain type='test'><name>d5</name><memory>1024</memory><os><type>hvm</type></os>\
    <devices><disk type='file' device='disk'><source file='/a'/><target dev='vda'/></disk>\
    <disk type='file' device='disk'><source file='/b'/><target dev='vdb'/></disk>\
    <disk type='file' device='disk'><source file='/c'/><target dev='vdc'/></disk>\
    <disk type='file' device='disk'><source file='/d'/><target dev='vdd'/></disk>\
    <disk type='file' device='disk'><source file='/e'/><target dev='vde'/></disk></devices></domain>";

/// A domain whose balloon is disabled.
const NO_BALLOON: &str =
    "<domain type='test'><name>nob</name><memory>1024</memory><os><type>hvm</type></os>\
    <devices><memballoon model='none'/></devices></domain>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_control_calls_match_libvirts_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d5.xml"), FIVE_DISKS).unwrap();
    std::fs::write(dir.path().join("nob.xml"), NO_BALLOON).unwrap();
    let sessions = [
        // DOMAIN_SET_MEMORY_STATS_PERIOD: the live or persistent balloon, 0 drops the period, no balloon refused.
        "dommemstat test --period 5; dumpxml test; dumpxml test --inactive",
        "dommemstat test --period 7 --config; dumpxml test --inactive; dumpxml test",
        "dommemstat test --period 5; dommemstat test --period 0; dumpxml test",
        "dommemstat test --period 5 --live --config",
        "dommemstat test --period -1",
        "destroy test; dommemstat test --period 5; dommemstat test --period 4 --live; dumpxml test",
        "create {dir}/nob.xml; dommemstat nob --period 3; dommemstat nob --period 3 --config",
        // DOMAIN_GET_CONTROL_INFO: each control state, as libvirt's test driver derives it from the guest clock.
        "domcontrol test; domtime test --time 5; domcontrol test; domtime test --time 15000; domcontrol test",
        "domtime test --time 30001; domcontrol test; domtime test --time 30002; domcontrol test",
        "domtime test --time 30003; domcontrol test; domtime test --time 30004; domcontrol test",
        "domtime test --time 60000; domcontrol test; suspend test; domcontrol test",
        "destroy test; domcontrol test",
        // DOMAIN_GET_DISK_ERRORS: every disk in error, alternating the two reasons.
        "domblkerror test; create {dir}/d5.xml; domblkerror d5; create {dir}/nob.xml; domblkerror nob",
        "destroy test; domblkerror test",
        // DOMAIN_FSFREEZE / FSTHAW / FSTRIM: the two simulated file systems.
        "domfsfreeze test; domfsfreeze test; domfsthaw test; domfsthaw test",
        "domfsthaw test; domfsfreeze test --mountpoint / --mountpoint /; domfsfreeze test --mountpoint /; \
         domfsthaw test --mountpoint /boot; domfsthaw test --mountpoint /x; \
         domfsfreeze test --mountpoint /boot --mountpoint /x; domfsthaw test",
        "domfstrim test; domfstrim test --minimum 5; domfstrim test --mountpoint /boot; \
         domfstrim test --mountpoint /x",
        "suspend test; domfsfreeze test; domfstrim test; domfsthaw test --mountpoint /",
        "destroy test; domfsfreeze test; domfsthaw test; domfstrim test",
        // DOMAIN_SET_USER_PASSWORD, DOMAIN_SEND_PROCESS_SIGNAL.
        "set-user-password test root secret; set-user-password test root x --encrypted",
        "destroy test; set-user-password test root secret",
        "send-process-signal test 1 kill; send-process-signal test 1 nop; send-process-signal test 1 sigrt32",
        "send-process-signal test 5 term; send-process-signal test 1 99; send-process-signal test 5 99",
        "destroy test; send-process-signal test 1 kill",
        // DOMAIN_SET_LIFECYCLE_ACTION: live, persistent or both definitions; core dumps after a crash only.
        "set-lifecycle-action test poweroff restart; set-lifecycle-action test reboot destroy --config; \
         set-lifecycle-action test crash coredump-destroy; dumpxml test; dumpxml test --inactive",
        "set-lifecycle-action test crash preserve --live --config; dumpxml test --inactive",
        "set-lifecycle-action test poweroff coredump-destroy; set-lifecycle-action test reboot coredump-restart",
        "destroy test; set-lifecycle-action test crash rename-restart; \
         set-lifecycle-action test crash preserve --live; dumpxml test",
        "create {dir}/nob.xml; set-lifecycle-action nob crash preserve --config",
        // DOMAIN_CORE_DUMP_WITH_FORMAT: the raw format only. (virsh waits forever on libvirt's embedded driver
        // when a dump fails or crashes the domain; the python test covers those.)
        "dump test {dir}/core1; domstate test --reason",
        // NODE_GET_FREE_PAGES.
        "freepages --all; freepages --cellno 0 --pagesize 4; freepages --cellno 1 --pagesize 2048",
    ]
    .map(|s| s.replace("{dir}", &dir.path().display().to_string()));
    same_as_libvirt(dir.path(), &sessions).await;
    // The dump holds the test driver's magic (written by our daemon, then by libvirt's driver: the same).
    let bytes = std::fs::read(dir.path().join("core1")).expect("core1");
    assert_eq!(bytes, b"TestGuestMagic\0");
}

/// What python3-libvirt asks that virsh cannot: messages, launch security, disk errors by number, the
/// control state's fields, lifecycle values out of range, and networks created with flags (NETWORK_CREATE_XML_FLAGS).
const PYTHON_SCRIPT: &str = r#"
import sys, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
conn = libvirt.open(sys.argv[1])
d = conn.lookupByName('test')
def attempt(f, *a):
    try:
        print(f(*a))
    except libvirt.libvirtError as e:
        print(e.get_error_code(), e.get_error_domain(), e.get_error_message())
def attempt_code(f):
    # Only the error's code and domain: its message names a random UUID or a schema file's path.
    try:
        print(f())
    except libvirt.libvirtError as e:
        print(e.get_error_code(), e.get_error_domain())
attempt(d.messages, 0)
attempt(d.messages, 3)
attempt(d.messages, 4)
attempt(d.launchSecurityInfo, 0)
attempt(d.diskErrors, 0)
attempt(d.controlInfo, 0)
attempt(d.setTime, {'seconds': 30006, 'nseconds': 0}, 0)
attempt(d.controlInfo, 0)
attempt(d.setMemoryStatsPeriod, 9, 0)
attempt(d.setMemoryStatsPeriod, 9, 1 << 5)
attempt(d.setLifecycleAction, 5, 0, 0)
attempt(d.setLifecycleAction, 0, 9, 0)
attempt(d.setLifecycleAction, 2, 4, 0)
attempt(d.fsFreeze, ['/boot'], 0)
attempt(d.fsThaw, None, 0)
attempt(d.fSTrim, '/', 0, 0)
attempt(d.setUserPassword, 'root', 'pw', 0)
attempt(d.setUserPassword, 'root', 'pw', 2)
attempt(d.coreDumpWithFormat, '/nonexistent-dir/core', 0, 0)
attempt(d.coreDump, sys.argv[2] + '/core-mem', 1 << 4)
attempt(d.coreDumpWithFormat, sys.argv[2] + '/core-kdump', 1, 0)
attempt(lambda: open(sys.argv[2] + '/core-kdump', 'rb').read())
attempt(d.coreDump, sys.argv[2] + '/core-crash', 1)
attempt(d.state, 0)
attempt(d.coreDump, sys.argv[2] + '/core-stopped', 0)
attempt(d.create)
xml = "<network><name>n1</name><bridge name='vbr1'/></network>"
attempt(lambda: conn.networkCreateXMLFlags(xml, 0).name())
attempt_code(lambda: conn.networkCreateXMLFlags(xml, 0).name())
attempt_code(lambda: conn.networkCreateXMLFlags("<network><name>n2</name><bogus/></network>", 1).name())
attempt(lambda: sorted(n.name() for n in conn.listAllNetworks(0)))
attempt(d.destroy)
attempt(d.messages, 0)
attempt(d.diskErrors, 0)
attempt(d.controlInfo, 0)
"#;

/// libvirt-python over our socket answers as against libvirt's embedded test driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sees_the_same_guest_control() {
    let Some(python) = crate::support::python::libvirt_python() else {
        eprintln!("python3-libvirt not installed, skipping");
        return;
    };
    let python = python.as_path();
    let dir = tempfile::tempdir().unwrap();
    let (rw, _ro) = serve(dir.path());
    let run = |uri: String| async move {
        let out = tempfile::tempdir().unwrap();
        let out_dir = out.path().display().to_string();
        let output = tokio::process::Command::new(python)
            .args(["-c", PYTHON_SCRIPT, &uri, &out_dir])
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let want = run("test:///default".to_string()).await;
    assert_eq!(run(rw).await, want);
}

/// Our remote driver carries every new call; a period set on the persistent definition shows there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_driver_carries_guest_control() {
    let dir = tempfile::tempdir().unwrap();
    let (rw, _ro) = serve(dir.path());
    let remote = virtcim::connect(&rw, &virtcim::ConnectOptions::default())
        .await
        .unwrap();
    let dom = remote.domain_lookup_by_name("test").await.unwrap();
    remote
        .domain_set_memory_stats_period(&dom, 11, 2)
        .await
        .unwrap();
    let inactive = remote.domain_get_xml_desc(&dom, 2).await.unwrap();
    assert!(inactive.contains("<stats period='11'/>"), "{inactive}");
    let live = remote.domain_get_xml_desc(&dom, 0).await.unwrap();
    assert!(!live.contains("<stats period"), "{live}");
    let info = remote.domain_get_control_info(&dom, 0).await.unwrap();
    assert_eq!((info.state, info.details, info.state_time_ms), (0, 0, 0));
    let (errors, n) = remote.domain_get_disk_errors(&dom, 4, 0).await.unwrap();
    assert_eq!((errors.len(), n), (1, 1));
    assert_eq!((errors[0].disk.as_str(), errors[0].error), ("vda", 1));
    assert_eq!(remote.domain_fs_freeze(&dom, vec![], 0).await.unwrap(), 2);
    let thawed = remote.domain_fs_thaw(&dom, vec!["/".into()], 0).await;
    assert_eq!(thawed.unwrap(), 1);
    let pages = remote.node_get_free_pages(vec![4, 8], 0, 1, 0).await;
    assert_eq!(pages.unwrap(), [19, 45]);
    assert!(remote
        .domain_get_messages(&dom, 0)
        .await
        .unwrap()
        .is_empty());
    let err = remote
        .domain_get_disk_errors(&dom, 257, 0)
        .await
        .unwrap_err();
    assert_eq!(err.message, "RPC error: maxerrors too large");
}
