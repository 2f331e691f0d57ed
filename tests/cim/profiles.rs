//! Profile registration on `test:///default`: every profile registered in root/interop has its central (or
//! scoping) class served with instances that conform to it, each ElementConformsToProfile resolves by
//! GetInstance at both ends, and extra keys in a profile path are ignored (`tests/peers/cim_profiles.py`).

use std::process::Command;

use crate::support::python::{run, venv_python};
use crate::support::wbem::{Options, Wbem};

#[test]
fn every_registered_profile_has_its_central_class_and_resolving_conformance() {
    let wbem = Wbem::start(Options::default());
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_profiles.py");
    let (ok, out, err) = run(Command::new(venv_python()).arg(script).arg(wbem.url()));
    assert!(ok, "cim_profiles.py:\n{out}\n{err}");
    // The test driver's guests conform to the Virtual System profile.
    assert!(
        out.lines().any(
            |l| l.starts_with("profile CIM:DSP1057-VirtualSystem-1.0.0a ")
                && !l.ends_with(" 0 conformant")
        ),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("OK ")), "{out}");
}
