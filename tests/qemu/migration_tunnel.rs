//! Tunnelled migration between two virtcimd daemons (`virsh migrate --p2p --tunnelled`): QEMU's migration data
//! travels as a stream inside the source daemon's RPC connection to the destination daemon (127.0.0.1), the
//! guest's memory arrives word for word, `--tunnelled` without `--p2p` is refused, and a destination daemon that
//! dies half-way leaves the guest running on the source with an error.

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::daemon::{ok, peers_present, run, Daemon, QemuReaper};
use crate::migration::{guest_xml, names, peek, state, sub, tcp_listener, wait_filled, COUNTER};
use crate::support::qemu::alone;
use crate::support::{free_port, wait_for};

#[test]
fn tunnelled_migration_goes_through_the_daemons_and_survives_a_dead_destination() {
    if !peers_present() {
        return;
    }
    let _alone = alone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = Daemon::start_with(&sub(tmp.path(), "a"), &tcp_listener(port_a));
    let b = Daemon::start_with(&sub(tmp.path(), "b"), &tcp_listener(port_b));
    let reaper = QemuReaper::default();
    let (ua, ub) = (a.uri(), b.uri());
    let name = format!("mig-tunnel-{}", std::process::id());
    let xml = guest_xml(tmp.path(), &name, 64);
    ok("virsh", &ua, &["create", &xml.to_string_lossy()]);
    reaper.watch(a.qemu_pid(&name));
    wait_filled(&ua, &name);

    let to_b = format!("qemu+tcp://127.0.0.1:{port_b}/system");
    let out = run(
        "virsh",
        &ua,
        &["migrate", "--live", "--tunnelled", &name, &to_b],
    );
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("peer2peer"),
        "{out:?}"
    );
    assert_eq!(state(&ua, &name), "running (booted)");

    ok(
        "virsh",
        &ua,
        &["migrate", "--live", "--p2p", "--tunnelled", &name, &to_b],
    );
    reaper.watch(b.qemu_pid(&name));
    assert_eq!(state(&ub, &name), "running (migrated)");
    assert!(!names(&ua).contains(&name), "the guest left the source");
    assert_eq!(peek(&ub, &name, 0x200_0000), 0x200_0000);
    assert_eq!(peek(&ub, &name, 0x100_0000), 0x100_0000);
    let counted = peek(&ub, &name, COUNTER);
    assert!(wait_for(Duration::from_secs(10), || peek(
        &ub, &name, COUNTER
    ) > counted));

    // Back towards a, slowed to 1 MiB/s: aborted half-way, the guest stays on b and a keeps nothing.
    ok("virsh", &ub, &["migrate-setspeed", &name, "1"]);
    let to_a = format!("qemu+tcp://127.0.0.1:{port_a}/system");
    let migrate = {
        let (ub, name, to_a) = (ub.clone(), name.clone(), to_a.clone());
        std::thread::spawn(move || {
            run(
                "virsh",
                &ub,
                &["migrate", "--live", "--p2p", "--tunnelled", &name, &to_a],
            )
        })
    };
    assert!(wait_for(Duration::from_secs(20), || {
        ok("virsh", &ub, &["domjobinfo", &name]).contains("Unbounded")
    }));
    reaper.watch(a.qemu_pid(&name));
    ok("virsh", &ub, &["domjobabort", &name]);
    let out = migrate.join().expect("migrate thread");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("operation aborted"),
        "{out:?}"
    );
    assert_eq!(state(&ub, &name), "running (migration canceled)");
    assert!(wait_for(Duration::from_secs(10), || !names(&ua).contains(&name)));
    let leftovers = |dir: &std::path::Path| {
        std::fs::read_dir(dir.join("qemu"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("mig-"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(
        wait_for(Duration::from_secs(10), || leftovers(a.state_dir()) == 0
            && leftovers(b.state_dir()) == 0),
        "no tunnel socket is left behind"
    );

    // Again, and this time a dies half-way (its incoming QEMU with it).
    let migrate = {
        let (ub, name) = (ub.clone(), name.clone());
        std::thread::spawn(move || {
            run(
                "virsh",
                &ub,
                &["migrate", "--live", "--p2p", "--tunnelled", &name, &to_a],
            )
        })
    };
    assert!(wait_for(Duration::from_secs(20), || {
        let job = ok("virsh", &ub, &["domjobinfo", &name]);
        job.contains("Unbounded") && !job.contains("Memory processed: 0.000 B")
    }));
    let incoming = a.qemu_pid(&name);
    reaper.watch(incoming);
    a.stop();
    let _ = kill(Pid::from_raw(incoming), Signal::SIGKILL);
    let out = migrate.join().expect("migrate thread");
    assert!(!out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).trim().is_empty());
    assert_eq!(state(&ub, &name), "running (migration canceled)");
    let counted = peek(&ub, &name, COUNTER);
    assert!(wait_for(Duration::from_secs(10), || peek(
        &ub, &name, COUNTER
    ) > counted));
    ok("virsh", &ub, &["destroy", &name]);
}
