//! Virtual system migration over CIM between two `virtcimd`s on the test driver: pywbem asks the source's
//! KVM_VirtualSystemMigrationService to move a defined guest offline to the other daemon (named by its socket);
//! the KVM_MigrationJob reaches Completed, stock virsh sees the guest on the destination and no longer on the
//! source, a pywbem WBEMListener receives the job's indications, and bad input gets libvirt-CIM's answers
//! (`tests/peers/cim_migration.py`).

use std::process::Command;

use crate::support::python::{run, venv_python};
use crate::support::virsh::{have_virsh, ok_blocking};
use crate::support::wbem::{Options, Wbem};

fn socket(wbem: &Wbem) -> String {
    wbem.dir
        .path()
        .join("run/libvirt-sock")
        .display()
        .to_string()
}

fn virsh_uri(wbem: &Wbem) -> String {
    format!("test+unix:///default?socket={}", socket(wbem))
}

#[test]
fn pywbem_migrates_a_defined_guest_offline_to_another_daemon() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let options = || Options {
        extra_domains: 0,
        ..Options::default()
    };
    let (source, dest) = (Wbem::start(options()), Wbem::start(options()));
    let (src_uri, dst_uri) = (virsh_uri(&source), virsh_uri(&dest));
    let guest = format!("traveller-{}", std::process::id());
    let xml = source.dir.path().join("guest.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain type='test'><name>{guest}</name><memory unit='KiB'>262144</memory><vcpu>1</vcpu>\
             <os><type>hvm</type></os></domain>"
        ),
    )
    .expect("guest xml");
    ok_blocking(&src_uri, &["define", &xml.to_string_lossy()]);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_migration.py");
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(script)
        .arg("offline")
        .arg(source.url())
        .arg(&src_uri)
        .arg(&dst_uri)
        .arg(socket(&dest))
        .arg(&guest));
    assert!(ok && out.contains("OK "), "cim_migration.py:\n{out}\n{err}");
    eprintln!("cim_migration.py: {}", out.trim());
    // Both daemons keep serving.
    ok_blocking(&src_uri, &["list", "--all"]);
    assert!(ok_blocking(&dst_uri, &["list", "--all"]).contains(&guest));
}
