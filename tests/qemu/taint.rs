//! A guest tainted by `qemu-monitor-command` stays tainted across a daemon restart: the taint is in its status
//! file, and the restarted daemon does not taint (and log) it a second time.

use super::daemon::{ok, Daemon, QemuReaper};
use crate::support::qemu::{guest_xml_file, have_qemu};
use crate::support::virsh::have_virsh;

fn taint_lines(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("is tainted: custom-monitor"))
        .count()
}

#[test]
fn the_custom_monitor_taint_survives_a_daemon_restart() {
    if !have_virsh() || !have_qemu() {
        panic!("virsh and qemu-system-x86_64 are needed (tests/run installs them)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(tmp.path());
    let reaper = QemuReaper::default();
    let uri = daemon.uri();
    let name = format!("taint{}", std::process::id());
    let xml = guest_xml_file(tmp.path(), &name);
    ok("virsh", &uri, &["define", &xml.to_string_lossy()]);
    ok("virsh", &uri, &["start", &name]);
    let pid = daemon.qemu_pid(&name);
    reaper.watch(pid);
    let status_file = daemon
        .state_dir()
        .join("qemu/run")
        .join(format!("{name}.json"));
    let status = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&status_file).unwrap()).unwrap()
    };
    assert!(status().get("taints").is_none(), "{}", status());

    let query = r#"{"execute":"query-status"}"#;
    ok("virsh", &uri, &["qemu-monitor-command", &name, query]);
    assert_eq!(status()["taints"], serde_json::json!(["custom-monitor"]));
    assert_eq!(taint_lines(&daemon.domain_log(&name)), 1);

    daemon.restart();
    assert_eq!(daemon.qemu_pid(&name), pid, "the guest was found again");
    assert_eq!(status()["taints"], serde_json::json!(["custom-monitor"]));
    ok("virsh", &uri, &["qemu-monitor-command", &name, query]);
    assert_eq!(
        taint_lines(&daemon.domain_log(&name)),
        1,
        "tainted once per run: {}",
        daemon.domain_log(&name)
    );
    assert_eq!(status()["taints"], serde_json::json!(["custom-monitor"]));
    ok("virsh", &uri, &["destroy", &name]);
    ok("virsh", &uri, &["undefine", &name]);
    daemon.stop();
}
