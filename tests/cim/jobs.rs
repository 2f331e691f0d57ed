//! CIM jobs through pywbem against a `virtcimd` on the test driver: snapshot and large-volume methods answer
//! 4096 with a `KVM_ConcreteJob`, polled to Completed or Exception (GetError's CIM_Error), their
//! `KVM_AffectedJobElement` both ways, state change requests, and removal (TimeBeforeRemoval, DeleteInstance).

use std::process::Command;

use crate::support::python::{run, venv_python};
use crate::support::virsh::have_virsh;
use crate::support::wbem::{Options, Wbem};

#[test]
fn pywbem_polls_jobs_to_their_end_and_removes_them() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let wbem = Wbem::start(Options::default());
    let virsh_uri = format!(
        "test+unix:///default?socket={}",
        wbem.dir.path().join("run/libvirt-sock").display()
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_jobs.py");
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(script)
        .arg(wbem.url())
        .arg(virsh_uri));
    assert!(ok && out.contains("OK "), "cim_jobs.py:\n{out}\n{err}");
    eprintln!("cim_jobs.py: {}", out.trim());
}
