//! Peer test: the guest-agent calls on `test:///default` (issue 14's agent part): `domtime` get and set,
//! `domfsinfo`, `domifaddr --source agent`, `guestinfo`, `guestvcpus`, `dompmsuspend` / `dompmwakeup`,
//! `qemu-agent-command`, `shutdown` / `reboot --mode agent`. Stock virsh prints the same, errors included, from our
//! daemon's `test:///default` as from libvirt 9.0's own embedded test driver.

use crate::support::server::serve;
use crate::support::virsh::{have_virsh, reference_session, virsh};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_calls_match_libvirts_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sessions = [
        "domtime test; domtime test --pretty; domtime test --now; domtime test --sync; domtime test",
        "domtime test --time 1234; domtime test; destroy test; domtime test",
        "domfsinfo test; domifaddr test --source agent; domifaddr test --source agent --full",
        "destroy test; domfsinfo test; domifaddr test --source agent",
        "guestinfo test; guestinfo test --os --hostname; guestvcpus test; guestvcpus test --cpulist 0 --disable",
        "dompmsuspend test mem; dompmsuspend test disk --duration 5; dompmwakeup test; domstate test --reason",
        "qemu-agent-command test '{\"execute\":\"guest-ping\"}'; domstate test",
        "shutdown test --mode agent; reboot test --mode agent; shutdown test --mode acpi,agent; domstate test",
    ];
    for (n, session) in sessions.iter().enumerate() {
        let state = dir.path().join(format!("world{n}"));
        std::fs::create_dir(&state).unwrap();
        let (rw, _) = serve(&state);
        let ours = virsh(&rw, &[session]).await;
        let want = reference_session(session).await;
        assert_eq!(ours, want, "virsh {session:?}");
    }
}
