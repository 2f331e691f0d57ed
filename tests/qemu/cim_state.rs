//! libvirt-CIM's behaviour on real QEMU guests, through pywbem: every RequestStateChange value from every state
//! (what is allowed, the CIM error otherwise, EnabledState and RequestedState re-read, the QEMU process really
//! started, paused, reset or stopped); a guest's whole life through the VSMS (DefineSystem with disk and NIC,
//! start, live balloon and NIC hotplug, AutoStart both ways with virsh, DestroySystem) answered the same by a
//! daemon on `qemu:///system` and by a WBEM gateway reaching that daemon over `qemu+tls://`; and the profiles
//! of root/interop with their central classes on `qemu:///system`.
//!
//! Every QEMU a test's daemons started is SIGKILLed when the test ends, however it ends.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::cim::{virsh, Daemon, QemuReaper};
use super::daemon::peers_present;
use crate::support::alive;
use crate::support::pki::Pki;
use crate::support::qemu::{guest_executing, spinning_disk};
use crate::support::{free_port, have};

fn peer(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

/// Runs a peer script with the venv's python; its stdout, or a panic with everything it printed.
fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(crate::support::python::venv_python())
        .arg(peer(script))
        .args(args)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A guest that boots a sector spinning forever, with ACPI (so shutdown and reboot requests reach it and are
/// ignored by it, and PCI hotplug works).
fn acpi_guest_xml(dir: &Path, name: &str) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>48</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\
         <features><acpi/></features><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk></devices></domain>",
        spinning_disk(dir).display()
    )
}

#[test]
fn request_state_change_allows_libvirt_cims_transitions_only() {
    if !peers_present() {
        return;
    }
    let _alone = crate::support::qemu::alone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start_with(tmp.path(), "qemu:///system", "");
    let mut reaper = QemuReaper(Vec::new());
    let uri = daemon.rpc_uri();
    let url = format!("http://{}", daemon.wbem);
    let name = format!("cimstate-{}", std::process::id());
    let xml = tmp.path().join("guest.xml");
    std::fs::write(&xml, acpi_guest_xml(tmp.path(), &name)).expect("xml");
    virsh(&uri, &["define", &xml.to_string_lossy()]);
    let domstate = || virsh(&uri, &["domstate", &name]).trim().to_string();
    // One request and what CIM answers, then the instance re-read: "<answer>|<enabled> <requested>".
    let step = |state: Option<u16>| {
        let state = state.map(|s| s.to_string());
        let mut args = vec![url.as_str(), name.as_str()];
        args.extend(state.as_deref());
        let out = python("cim_state.py", &args);
        let lines: Vec<&str> = out.lines().collect();
        lines.join("|")
    };
    let invalid = "error 1 Invalid state transition";
    let not_running = "error 1 Domain not running";
    let unsupported = "error 7 State not supported";

    // Shut off: only Enabled is allowed; a refused request is still remembered as RequestedState.
    assert_eq!(step(None), "state 3 0");
    for (state, answer) in [
        (3, invalid),
        (4, invalid),
        (9, not_running),
        (10, not_running),
        (11, not_running),
        (6, unsupported),
        (8, unsupported),
        (5, unsupported),
    ] {
        assert_eq!(
            step(Some(state)),
            format!("{answer}|state 3 {state}"),
            "RequestedState {state} on a shut-off guest"
        );
        assert_eq!(domstate(), "shut off");
    }

    // 2 starts QEMU.
    assert_eq!(step(Some(2)), "return 0|state 2 2");
    let pid = daemon.qemu_pid(&name);
    reaper.0.push(pid);
    assert!(guest_executing(pid), "a CIM-started guest runs");
    assert_eq!(step(Some(2)), format!("{invalid}|state 2 2"));

    // 9 pauses it; paused, only Enabled (resume), Reboot and Reset are allowed.
    assert_eq!(step(Some(9)), "return 0|state 9 9");
    assert!(!guest_executing(pid), "QEMU still runs a CIM-paused guest");
    assert_eq!(step(Some(9)), format!("{not_running}|state 9 9"));
    assert_eq!(step(Some(3)), format!("{invalid}|state 9 3"));
    assert_eq!(step(Some(4)), format!("{invalid}|state 9 4"));
    assert_eq!(step(Some(6)), format!("{unsupported}|state 9 6"));
    assert_eq!(domstate(), "paused");
    // Reset of a paused guest: a new QEMU, running.
    assert_eq!(step(Some(11)), "return 0|state 2 11");
    let old = pid;
    let pid = daemon.qemu_pid(&name);
    reaper.0.push(pid);
    assert_ne!(pid, old, "reset of a paused guest kept its QEMU");
    wait_until("the paused guest's old QEMU to exit", || !alive(old));
    assert!(guest_executing(pid), "the reset guest runs");
    assert_eq!(step(Some(9)), "return 0|state 9 9");
    assert_eq!(step(Some(2)), "return 0|state 2 2");
    assert_eq!(daemon.qemu_pid(&name), pid, "resume started a new QEMU");
    assert!(guest_executing(pid), "QEMU did not resume the guest");

    // 10 reboots in place (the same QEMU); 11 resets: destroyed and started again, a new QEMU.
    assert_eq!(step(Some(10)), "return 0|state 2 10");
    assert_eq!(domstate(), "running");
    assert!(alive(pid));
    assert_eq!(step(Some(11)), "return 0|state 2 11");
    let reset_pid = daemon.qemu_pid(&name);
    reaper.0.push(reset_pid);
    assert_ne!(reset_pid, pid, "reset kept the old QEMU");
    wait_until("the reset guest's old QEMU to exit", || !alive(pid));
    assert!(guest_executing(reset_pid), "the reset guest runs");

    // 4 asks the guest to shut down (ACPI); this one never does, so it stays running with RequestedState 4.
    assert_eq!(step(Some(4)), "return 0|state 2 4");
    assert_eq!(domstate(), "running");
    assert!(alive(reset_pid));

    // 3 destroys it.
    assert_eq!(step(Some(3)), "return 0|state 3 3");
    wait_until("QEMU to exit after Disabled", || !alive(reset_pid));
    assert_eq!(
        virsh(&uri, &["domstate", &name, "--reason"]).trim(),
        "shut off (destroyed)"
    );
    virsh(&uri, &["undefine", &name]);

    // Reset of a transient guest defines it from its inactive definition before starting it (libvirt-CIM's
    // domain_reset), so it survives the destroy.
    let transient = format!("cimtransient-{}", std::process::id());
    let xml = tmp.path().join("transient.xml");
    std::fs::write(&xml, acpi_guest_xml(tmp.path(), &transient)).expect("xml");
    virsh(&uri, &["create", &xml.to_string_lossy()]);
    let first = daemon.qemu_pid(&transient);
    reaper.0.push(first);
    let step_t = |state: u16| {
        let state = state.to_string();
        python("cim_state.py", &[&url, &transient, &state])
            .lines()
            .collect::<Vec<_>>()
            .join("|")
    };
    assert_eq!(step_t(11), "return 0|state 2 11");
    let second = daemon.qemu_pid(&transient);
    reaper.0.push(second);
    assert_ne!(first, second);
    let info = virsh(&uri, &["dominfo", &transient]);
    assert!(
        info.lines()
            .any(|l| l.starts_with("Persistent:") && l.ends_with("yes")),
        "{info}"
    );
    assert_eq!(step_t(3), "return 0|state 3 3");
    virsh(&uri, &["undefine", &transient]);
}

/// The lifecycle steps a CIM console takes, run against one WBEM server; returns every answer, checking the
/// host after each step through virsh on `rpc` (the daemon that runs the guest).
fn lifecycle(url: &str, rpc: &str, daemon: &Daemon, reaper: &mut QemuReaper, dir: &Path) -> String {
    let name = "cimlife";
    let disk = spinning_disk(dir);
    let disk = disk.to_string_lossy();
    let mut answers = String::new();
    let mut run = |args: &[&str]| {
        let mut all = vec![url];
        all.extend_from_slice(args);
        let out = python("cim_lifecycle.py", &all);
        answers.push_str(&out);
        out
    };
    let out = run(&["define", name, &disk, "52:54:00:c1:00:01"]);
    assert!(out.starts_with("DefineSystem return 0"), "{out}");
    // A disk file outside any pool: its real size in bytes; the driver's default format.
    assert!(out.contains("disk cimlife/hda 4096 Bytes raw"), "{out}");
    let info = virsh(rpc, &["dominfo", name]);
    assert!(info.contains("Autostart:      enable"), "{info}");
    let out = run(&["show", name]);
    // libvirt's default NIC model for x86 is written into the definition.
    assert!(
        out.contains("autostart 1")
            && out.contains("state 3 0")
            && out.contains("nic cimlife/52:54:00:c1:00:01 user rtl8139"),
        "{out}"
    );

    assert!(run(&["state", name, "2"]).contains("state 2 2"));
    let pid = daemon.qemu_pid(name);
    reaper.0.push(pid);
    assert!(guest_executing(pid), "the CIM-defined guest runs");

    // The balloon target changes live and in the definition.
    assert!(run(&["memory", name, "40960"]).contains("ModifyResourceSettings return 0"));
    let info = virsh(rpc, &["dominfo", name]);
    assert!(info.contains("Used memory:    40960 KiB"), "{info}");
    let inactive = virsh(rpc, &["dumpxml", "--inactive", name]);
    assert!(
        inactive.contains("<currentMemory unit='KiB'>40960</currentMemory>"),
        "{inactive}"
    );

    // A NIC added live: QEMU gets the device, virsh sees it live and in the configuration.
    let out = run(&["addnic", name, "52:54:00:c1:00:02"]);
    assert!(out.contains("AddResourceSettings return 0"), "{out}");
    let list = virsh(rpc, &["domiflist", name]);
    assert!(list.contains("52:54:00:c1:00:02"), "{list}");
    assert!(virsh(rpc, &["dumpxml", "--inactive", name]).contains("52:54:00:c1:00:02"));
    assert_eq!(daemon.qemu_pid(name), pid, "hotplug restarted QEMU");

    // AutoStart through CIM is seen by virsh, and virsh's change by CIM.
    assert!(run(&["autostart", name, "0"]).contains("ModifySystemSettings return 0"));
    let info = virsh(rpc, &["dominfo", name]);
    assert!(info.contains("Autostart:      disable"), "{info}");
    virsh(rpc, &["autostart", name]);
    let out = run(&["show", name]);
    assert!(
        out.contains("autostart 1")
            && out.contains("state 2 2")
            && out.contains("memory 40960 65536 KiloBytes")
            && out.contains("nic cimlife/52:54:00:c1:00:02 user rtl8139"),
        "{out}"
    );

    let out = run(&["destroy", name]);
    assert!(
        out.contains("DestroySystem return 0") && out.contains("GetInstance error 6"),
        "{out}"
    );
    wait_until("QEMU to exit after DestroySystem", || !alive(pid));
    let all = virsh(rpc, &["list", "--all", "--name"]);
    assert!(!all.contains(name), "{all}");
    answers
}

#[test]
fn a_guest_lifecycle_answers_the_same_on_qemu_system_and_through_a_tls_gateway() {
    if !peers_present() {
        return;
    }
    let _alone = crate::support::qemu::alone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(&tmp.path().join("pki"));
    let tls_port = free_port();
    let host_dir = tmp.path().join("host");
    std::fs::create_dir(&host_dir).expect("host dir");
    let host = Daemon::start_with(
        &host_dir,
        "qemu:///system",
        &format!(
            "listen_tls = 1\nlisten_addr = \"127.0.0.1\"\ntls_port = \"{tls_port}\"\n{}",
            pki.server_config()
        ),
    );
    let mut reaper = QemuReaper(Vec::new());
    let tls = format!(
        "qemu+tls://127.0.0.1:{tls_port}/system?pkipath={}",
        pki.client_dir.display()
    );
    let gateway_dir = tmp.path().join("gateway");
    std::fs::create_dir(&gateway_dir).expect("gateway dir");
    let gateway = Daemon::start_with(&gateway_dir, &tls, "");

    let direct = lifecycle(
        &format!("http://{}", host.wbem),
        &host.rpc_uri(),
        &host,
        &mut reaper,
        tmp.path(),
    );
    // The same calls through the gateway act on the host daemon's QEMU; virsh over TLS checks each step.
    let through_tls = lifecycle(
        &format!("http://{}", gateway.wbem),
        &tls,
        &host,
        &mut reaper,
        tmp.path(),
    );
    assert_eq!(direct, through_tls, "the gateway answered differently");
}

#[test]
fn every_profile_has_its_central_class_on_qemu_system() {
    if !have("virsh", "--version") {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start_with(tmp.path(), "qemu:///system", "");
    let uri = daemon.rpc_uri();
    let name = format!("cimprofile-{}", std::process::id());
    let xml = tmp.path().join("guest.xml");
    std::fs::write(&xml, acpi_guest_xml(tmp.path(), &name)).expect("xml");
    virsh(&uri, &["define", &xml.to_string_lossy()]);
    let out = python("cim_profiles.py", &[&format!("http://{}", daemon.wbem)]);
    assert!(
        out.lines().any(
            |l| l.starts_with("profile CIM:DSP1057-VirtualSystem-1.0.0a ")
                && !l.ends_with(" 0 conformant")
        ),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("OK ")), "{out}");
    virsh(&uri, &["undefine", &name]);
}
