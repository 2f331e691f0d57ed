//! The VSMS methods and RequestStateChange against real clients: pywbem drives a `virtcimd` (test driver)
//! through every method, good input and bad, and checks each change with stock virsh over the daemon's unix
//! socket; wbemcli and pywbemcli call the methods the way libvirt-CIM's users do.

use std::process::Command;

use crate::support::python::{have_wbemcli, run, venv_python};
use crate::support::virsh::have_virsh;
use crate::support::wbem::{Options, Wbem};

fn virsh_uri(wbem: &Wbem) -> String {
    format!(
        "test+unix:///default?socket={}",
        wbem.dir.path().join("run/libvirt-sock").display()
    )
}

fn peer_script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

#[test]
fn pywbem_drives_every_method_and_virsh_sees_each_change() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let python = venv_python();
    let wbem = Wbem::start(Options::default());
    let (ok, out, err) = run(Command::new(python)
        .arg(peer_script("cim_methods.py"))
        .arg(wbem.url())
        .arg(virsh_uri(&wbem)));
    assert!(ok && out.contains("OK "), "cim_methods.py:\n{out}\n{err}");
    eprintln!("cim_methods.py: {}", out.trim());
}

fn wbemcli(args: &[&str]) -> (bool, String, String) {
    run(Command::new("wbemcli").args(args))
}

fn virsh(wbem: &Wbem, args: &[&str]) -> String {
    let (ok, out, err) = run(Command::new("virsh")
        .arg("-q")
        .arg("-c")
        .arg(virsh_uri(wbem))
        .args(args));
    assert!(ok, "virsh {args:?}: {out}{err}");
    out
}

#[test]
fn wbemcli_calls_the_methods_with_untyped_mof_text() {
    if !have_virsh() || !have_wbemcli() {
        eprintln!("virsh or wbemcli not installed, skipping");
        return;
    }
    let wbem = Wbem::start(Options::default());
    let base = format!("{}/root/virt", wbem.url());
    let (ok, out, err) = wbemcli(&["ein", &format!("{base}:KVM_VirtualSystemManagementService")]);
    assert!(ok && out.lines().count() == 1, "ein VSMS: {out}{err}");
    // wbemcli prints "host:port/root/virt:Class.keys"; cm wants the same with the scheme.
    let vsms = format!("http://{}", out.trim());
    let (ok, out, err) = wbemcli(&[
        "cm",
        &vsms,
        "DefineSystem.SystemSettings=instance of KVM_VirtualSystemSettingData { VirtualSystemIdentifier = \"wb1\"; };,\
         ResourceSettings=instance of KVM_MemResourceAllocationSettingData { ResourceType = 4; VirtualQuantity = 256; AllocationUnits = \"MegaBytes\"; };,\
         ResourceSettings=instance of KVM_ProcResourceAllocationSettingData { ResourceType = 3; VirtualQuantity = 3; };",
    ]);
    assert!(
        ok && out.contains("DefineSystem: 0") && out.contains("Name=\"wb1\""),
        "cm DefineSystem: {out}{err}"
    );
    let xml = virsh(&wbem, &["dumpxml", "wb1"]);
    assert!(
        xml.contains(">262144</currentMemory>") && xml.contains(">3</vcpu>"),
        "{xml}"
    );
    let cs =
        format!("{base}:KVM_ComputerSystem.CreationClassName=\"KVM_ComputerSystem\",Name=\"wb1\"");
    let (ok, out, err) = wbemcli(&["cm", &cs, "RequestStateChange.RequestedState=2"]);
    assert!(
        ok && out.contains("RequestStateChange: 0"),
        "cm start: {out}{err}"
    );
    assert_eq!(virsh(&wbem, &["domstate", "wb1"]).trim(), "running");
    let (ok, out, err) = wbemcli(&["cm", &cs, "RequestStateChange.RequestedState=2"]);
    assert!(
        !ok && err.contains("Invalid state transition"),
        "start twice: {out}{err}"
    );
    let (ok, out, err) = wbemcli(&["cm", &cs, "RequestStateChange.RequestedState=9"]);
    assert!(
        ok && out.contains("RequestStateChange: 0"),
        "cm pause: {out}{err}"
    );
    assert_eq!(virsh(&wbem, &["domstate", "wb1"]).trim(), "paused");
    let destroy = "DestroySystem.AffectedSystem=KVM_ComputerSystem.CreationClassName=\"KVM_ComputerSystem\",Name=\"wb1\"";
    let (ok, out, err) = wbemcli(&["cm", &vsms, destroy]);
    assert!(
        ok && out.contains("DestroySystem: 0"),
        "cm DestroySystem: {out}{err}"
    );
    assert!(!virsh(&wbem, &["list", "--all", "--name"]).contains("wb1"));
    let (ok, out, err) = wbemcli(&["cm", &vsms, destroy]);
    assert!(
        !ok && err.contains("CIM_ERR_NOT_FOUND")
            && err.contains("Referenced domain `wb1' does not exist"),
        "destroy twice: {out}{err}"
    );
}

#[test]
fn pywbemcli_invokes_on_instance_and_class_paths() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let wbem = Wbem::start(Options::default());
    let cli = |args: &[&str]| {
        run(Command::new(crate::support::python::pywbemcli())
            .args(["-s", &wbem.url(), "-d", "root/virt"])
            .args(args))
    };
    let (ok, out, err) = cli(&[
        "instance",
        "enumerate",
        "KVM_VirtualSystemManagementService",
        "--names-only",
    ]);
    assert!(ok, "{out}{err}");
    let vsms = out
        .lines()
        .map(str::trim)
        .find(|l| l.contains("KVM_VirtualSystemManagementService."))
        .expect("VSMS path")
        .to_owned();
    let (ok, out, err) = cli(&[
        "instance",
        "invokemethod",
        &vsms,
        "DefineSystem",
        "-p",
        "SystemSettings=instance of KVM_VirtualSystemSettingData { VirtualSystemIdentifier = \"pc1\"; };",
        "-p",
        "ResourceSettings=instance of KVM_MemResourceAllocationSettingData { ResourceType = 4; VirtualQuantity = 192; AllocationUnits = \"MegaBytes\"; };",
    ]);
    assert!(
        ok && out.contains("ReturnValue=0") && out.contains("pc1"),
        "instance DefineSystem: {out}{err}"
    );
    let (ok, out, err) = cli(&[
        "class",
        "invokemethod",
        "KVM_VirtualSystemManagementService",
        "DefineSystem",
        "-p",
        "SystemSettings=instance of KVM_VirtualSystemSettingData { VirtualSystemIdentifier = \"pc2\"; };",
        "-p",
        "ResourceSettings=instance of KVM_ProcResourceAllocationSettingData { ResourceType = 3; VirtualQuantity = 2; };",
    ]);
    assert!(
        ok && out.contains("ReturnValue=0") && out.contains("pc2"),
        "class DefineSystem: {out}{err}"
    );
    assert!(virsh(&wbem, &["dumpxml", "pc1"]).contains(">196608</currentMemory>"));
    assert!(virsh(&wbem, &["dumpxml", "pc2"]).contains(">2</vcpu>"));
    let cs = "KVM_ComputerSystem.CreationClassName=\"KVM_ComputerSystem\",Name=\"pc1\"";
    let (ok, out, err) = cli(&[
        "instance",
        "invokemethod",
        cs,
        "RequestStateChange",
        "-p",
        "RequestedState=2",
    ]);
    assert!(
        ok && out.contains("ReturnValue=0"),
        "RequestStateChange: {out}{err}"
    );
    assert_eq!(virsh(&wbem, &["domstate", "pc1"]).trim(), "running");
    let (ok, out, err) = cli(&[
        "instance",
        "invokemethod",
        &vsms,
        "DestroySystem",
        "-p",
        &format!("AffectedSystem={cs}"),
    ]);
    assert!(
        ok && out.contains("ReturnValue=0"),
        "DestroySystem: {out}{err}"
    );
    assert!(!virsh(&wbem, &["list", "--all", "--name"]).contains("pc1"));
}
