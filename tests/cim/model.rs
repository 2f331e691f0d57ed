//! The generic model walker (`tests/peers/cim_model.py`) over a running daemon: every class of root/virt and
//! root/interop with instances is enumerated, each instance read back by GetInstance, and every association
//! followed from each end with its roles (Associators, AssociatorNames, References, ReferenceNames), across
//! namespaces. It knows no class names, so it covers every family's classes.

use std::process::Command;

use crate::support::python::{run, venv_python};
use crate::support::wbem::{Options, Wbem};

#[test]
fn every_class_and_association_is_consistent() {
    let wbem = Wbem::start(Options::default());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_model.py");
    let (ok, out, err) = run(Command::new(venv_python()).arg(script).arg(wbem.url()));
    assert!(ok, "cim_model.py:\n{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect("walker prints JSON");
    let failures = report["failures"].as_array().expect("failures");
    assert!(
        failures.is_empty(),
        "{} model inconsistencies:\n{}",
        failures.len(),
        failures
            .iter()
            .filter_map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let counts = report["counts"].as_object().expect("counts");
    // The walker saw the host, the guests, the pools and the profiles, and followed associations.
    for class in [
        "root/virt:KVM_HostSystem",
        "root/virt:KVM_ComputerSystem",
        "root/virt:KVM_MemoryPool",
        "root/virt:KVM_DiskPool",
        "root/virt:KVM_ElementConformsToProfile",
        "root/interop:KVM_RegisteredProfile",
        "root/interop:KVM_ElementConformsToProfile",
        "root/interop:KVM_ReferencedProfile",
    ] {
        assert!(
            counts.contains_key(class),
            "no instances of {class}: {counts:?}"
        );
    }
    assert!(report["checks"].as_u64().unwrap_or(0) > 500, "{report}");
}
