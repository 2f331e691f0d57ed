//! GetInstance failures with libvirt-CIM's status codes and descriptions (missing key, key naming nothing, missing
//! domain, other keys differing), through pywbem over HTTP and HTTPS and through wbemcli.

use std::process::Command;

use crate::support::python::{run, venv_python};
use crate::support::wbem::{Options, Wbem, PASSWORD, USER};

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_lookup_errors.py")
}

#[test]
fn pywbem_sees_libvirt_cim_lookup_errors_over_http() {
    let wbem = Wbem::start(Options::default());
    let (ok, out, err) = run(Command::new(venv_python()).arg(script()).arg(wbem.url()));
    assert!(
        ok && out.contains("OK "),
        "cim_lookup_errors.py:\n{out}\n{err}"
    );
}

#[test]
fn pywbem_sees_libvirt_cim_lookup_errors_over_https() {
    let wbem = Wbem::start(Options {
        basic_auth: true,
        https: true,
        ..Options::default()
    });
    let url = format!("https://{}", wbem.https.expect("https listener"));
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(script())
        .arg(&url)
        .arg(USER)
        .arg(PASSWORD));
    assert!(
        ok && out.contains("OK "),
        "cim_lookup_errors.py:\n{out}\n{err}"
    );
}

/// wbemcli shows the status and libvirt-CIM's description.
#[test]
fn wbemcli_sees_libvirt_cim_lookup_errors() {
    let wbem = Wbem::start(Options::default());
    let base = wbem.url();
    let cases = [
        (
            "KVM_DiskResourceAllocationSettingData.InstanceID=\"test/vdz\"",
            "CIM_ERR_NOT_FOUND",
            "No such instance (test/vdz)",
        ),
        (
            "KVM_LogicalDisk.SystemCreationClassName=\"KVM_ComputerSystem\",SystemName=\"test\",\
             CreationClassName=\"KVM_LogicalDisk\"",
            "CIM_ERR_FAILED",
            "No DeviceID specified",
        ),
        (
            "KVM_DiskPool.InstanceID=\"NetworkPool/default\"",
            "CIM_ERR_NOT_FOUND",
            "No such instance (NetworkPool/default) - resource pool type mismatch",
        ),
    ];
    for (path, status, description) in cases {
        let (ok, out, err) =
            run(Command::new("wbemcli").args(["gi", &format!("{base}/root/virt:{path}")]));
        let all = format!("{out}{err}");
        assert!(
            !ok && all.contains(status) && all.contains(description),
            "{path}:\n{all}"
        );
    }
}
