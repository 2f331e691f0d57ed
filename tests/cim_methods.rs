//! The VSMS methods and RequestStateChange against real clients: pywbem drives a `virtcimd` (test driver)
//! through every method, good input and bad, and checks each change with stock virsh over the daemon's unix
//! socket; wbemcli and pywbemcli call the methods the way libvirt-CIM's users do.

mod wbem_common;

use std::process::Command;

use wbem_common::{run, venv_python, Options, Wbem};

fn have_virsh() -> bool {
    Command::new("virsh")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

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
