//! pywbem's own response parser (what pywbem clients run on our replies) reads the CIM-XML golden responses under
//! `tests/data/cim` as meant. The codec itself is tested inside the crate (`src/wbem/tests_cimxml.rs`).

use std::path::{Path, PathBuf};

use crate::support::cim as cim_common;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cim")
        .join(name)
}

/// The golden responses, each as pywbem parses it.
#[test]
fn pywbem_parses_our_responses() {
    let python = cim_common::pywbem_python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_pywbem_parse.py");
    let files: Vec<PathBuf> = [
        "resp_ein.xml",
        "resp_ei.xml",
        "resp_assoc.xml",
        "resp_assoc_names.xml",
        "resp_error.xml",
        "resp_rsc.xml",
        "resp_getclass.xml",
        "resp_pull.xml",
    ]
    .iter()
    .map(|f| data(f))
    .collect();
    let output = std::process::Command::new(python)
        .arg(script)
        .args(&files)
        .output()
        .expect("run pywbem parser");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pywbem rejected a response:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |file: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("OK {file} ")))
            .unwrap_or_else(|| panic!("{file}: {stdout}"))
            .to_owned()
    };
    assert!(line("resp_ein.xml").contains(
        r#"CIMInstanceName(KVM_ComputerSystem.CreationClassName="KVM_ComputerSystem",Name="demo2")"#
    ));
    let ei = line("resp_ei.xml");
    assert!(
        ei.contains(r#"Description='Virtual System <"&\'>':string"#),
        "{ei}"
    );
    assert!(
        ei.contains("Caption=None:string")
            && ei.contains("EnabledState=Uint16(")
            && ei.contains("OperationalStatus=[Uint16(")
    );
    assert!(line("resp_assoc.xml").contains(r#"path=//host.example/root/virt:KVM_ComputerSystem.CreationClassName="KVM_ComputerSystem",Name="demo1""#));
    assert!(line("resp_assoc_names.xml")
        .contains("CIMInstanceName(//host.example/root/virt:KVM_ComputerSystem."));
    assert!(
        line("resp_error.xml").contains("CODE=6")
            && line("resp_error.xml").contains("Referenced domain `x' does not exist")
    );
    let rsc = line("resp_rsc.xml");
    assert!(
        rsc.contains("('RETURNVALUE' '4096')")
            && rsc.contains(
                r#"('Job' 'reference' CIMInstanceName(root/virt:CIM_ConcreteJob.InstanceID="j1"))"#
            ),
        "{rsc}"
    );
    let pull = line("resp_pull.xml");
    assert!(
        pull.contains(
            "CIMInstance(KVM_ComputerSystem path=//host.example/root/virt:KVM_ComputerSystem."
        ) && pull.contains("EndOfSequence")
            && pull.contains("ctx-1"),
        "{pull}"
    );
    assert!(line("resp_getclass.xml").contains("CIMClass(KVM_ComputerSystem:CIM_ComputerSystem; UUID:string:KVM_ComputerSystem; Description='A virtual machine')"));
}
