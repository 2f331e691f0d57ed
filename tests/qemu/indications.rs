//! CIM indications from real QEMU guests: a guest that powers itself off raises
//! `KVM_ComputerSystemModifiedIndication` and a transient guest destroyed by virsh
//! `KVM_ComputerSystemDeletedIndication` at a pywbem WBEMListener subscribed through the daemon's WBEM server
//! (`wbem_connect_uri = qemu:///system`).

use std::process::Command;

use super::daemon::{peers_present, Daemon};
use crate::support::python::{run, venv_python};
use crate::support::qemu::guest_xml_file;

/// A boot sector that powers the PC off through the PIIX4 ACPI PM control port, then halts.
fn poweroff_xml(dir: &std::path::Path) -> std::path::PathBuf {
    let code = [0xBA, 0x04, 0x06, 0xB8, 0x00, 0x20, 0xEF, 0xF4, 0xEB, 0xFE];
    let mut sector = vec![0u8; 512];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector.resize(4096, 0);
    let disk = dir.join("bye.img");
    std::fs::write(&disk, sector).expect("disk");
    let xml = format!(
        "<domain type='qemu'><name>ind-bye</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\
         <features><acpi/></features><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk></devices></domain>",
        disk.display()
    );
    let path = dir.join("ind-bye.xml");
    std::fs::write(&path, xml).expect("xml");
    path
}

#[test]
fn a_guest_powering_off_and_a_virsh_destroy_reach_a_pywbem_listener() {
    if !peers_present() {
        return;
    }
    let _alone = crate::support::qemu::alone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut daemon = Daemon::start_with(
        tmp.path(),
        "listen_wbem_http = 1\nwbem_http_port = 0\nwbem_listen_addr = \"127.0.0.1\"\nwbem_auth = \"none\"\n\
         wbem_connect_uri = \"qemu:///system\"\n",
    );
    let wbem = daemon
        .logged_addr("WBEM HTTP listening")
        .expect("WBEM listener");
    let transient = guest_xml_file(tmp.path(), "ind-spin");
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/peers/qemu_indications.py"),
        )
        .arg(format!("http://{wbem}"))
        .arg(daemon.uri())
        .arg(poweroff_xml(tmp.path()))
        .arg(transient));
    assert!(
        ok && out.contains("OK "),
        "qemu_indications.py:\n{out}\n{err}\n{}",
        daemon.log()
    );
    eprintln!("qemu_indications.py: {}", out.trim());
}
