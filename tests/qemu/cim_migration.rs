//! CIM live migration of a running QEMU guest between two virtcimd daemons on one machine: pywbem calls the
//! source's KVM_VirtualSystemMigrationService.MigrateVirtualSystemToHost (the destination named by its daemon's
//! socket, TransportType 32768); a migration slowed to 1 MiB/s shows PercentComplete from the driver's job
//! statistics and RequestStateChange(Terminate) cancels it, the guest still running on the source; then the
//! KVM_MigrationJob is followed to Completed, and stock virsh sees the guest running on the destination and gone
//! from the source (`tests/peers/cim_migration.py`, mode "live"). QEMU's stream goes
//! over 127.0.0.1; nothing leaves the machine.

use std::path::Path;
use std::process::Command;

use crate::daemon::{ok, peers_present, Daemon, QemuReaper};
use crate::migration::{guest_xml, wait_filled};
use crate::support::python::{run, venv_python};
use crate::support::qemu::alone;

const WBEM: &str = "listen_wbem_http = 1\nwbem_http_port = 0\nwbem_listen_addr = \"127.0.0.1\"\n\
                    wbem_auth = \"none\"\nwbem_connect_uri = \"qemu:///system\"\n";

fn sub(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).expect("daemon dir");
    path
}

#[test]
fn pywbem_live_migrates_a_running_guest_to_another_daemon() {
    if !peers_present() {
        return;
    }
    let _alone = alone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = Daemon::start_with(&sub(tmp.path(), "a"), WBEM);
    let b = Daemon::start(&sub(tmp.path(), "b"));
    let wbem = a
        .logged_addr("WBEM HTTP listening")
        .expect("the source's WBEM listener");
    let reaper = QemuReaper::default();
    let (ua, ub) = (a.uri(), b.uri());
    let name = format!("cimmig-{}", std::process::id());
    // A guest that fills its memory with non-zero words, so that a migration limited to 1 MiB/s takes a while.
    let xml = guest_xml(tmp.path(), &name, 64);
    ok("virsh", &ua, &["define", &xml.to_string_lossy()]);
    ok("virsh", &ua, &["start", &name]);
    reaper.watch(a.qemu_pid(&name));
    wait_filled(&ua, &name);
    let dest_socket = tmp.path().join("b/run/libvirt-sock");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_migration.py");
    let (passed, out, err) = run(Command::new(venv_python())
        .arg(script)
        .arg("live")
        .arg(format!("http://{wbem}"))
        .arg(&ua)
        .arg(&ub)
        .arg(&dest_socket)
        .arg(&name));
    if let Ok(pid) = std::panic::catch_unwind(|| b.qemu_pid(&name)) {
        reaper.watch(pid);
    }
    assert!(
        passed && out.contains("OK "),
        "cim_migration.py:\n{out}\n{err}"
    );
    eprintln!("cim_migration.py: {}", out.trim());
    assert_eq!(
        ok("virsh", &ub, &["domstate", &name]).trim(),
        "running",
        "the guest runs on the destination"
    );
    ok("virsh", &ub, &["destroy", &name]);
    ok("virsh", &ub, &["undefine", &name]);
}
