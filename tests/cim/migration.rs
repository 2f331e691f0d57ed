//! Virtual system migration over CIM between two `virtcimd`s on the test driver: pywbem asks the source's
//! KVM_VirtualSystemMigrationService to move a defined guest offline to the other daemon (named by its socket);
//! the KVM_MigrationJob reaches Completed, stock virsh sees the guest on the destination and no longer on the
//! source, a pywbem WBEMListener receives the job's indications, and bad input gets libvirt-CIM's answers
//! (`tests/peers/cim_migration.py`); the same through a WBEM gateway serving the source daemon remotely.

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

fn define_guest(wbem: &Wbem, uri: &str, guest: &str) {
    let xml = wbem.dir.path().join("guest.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain type='test'><name>{guest}</name><memory unit='KiB'>262144</memory><vcpu>1</vcpu>\
             <os><type>hvm</type></os></domain>"
        ),
    )
    .expect("guest xml");
    ok_blocking(uri, &["define", &xml.to_string_lossy()]);
}

/// Runs the offline scenario: `wbem` serves the source, whose guests virsh reaches at `src_uri`.
fn migrate_offline(wbem: &Wbem, src_uri: &str, dest: &Wbem, guest: &str) {
    let dst_uri = virsh_uri(dest);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_migration.py");
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(script)
        .arg("offline")
        .arg(wbem.url())
        .arg(src_uri)
        .arg(&dst_uri)
        .arg(socket(dest))
        .arg(guest));
    assert!(ok && out.contains("OK "), "cim_migration.py:\n{out}\n{err}");
    eprintln!("cim_migration.py: {}", out.trim());
    // Both daemons keep serving.
    ok_blocking(src_uri, &["list", "--all"]);
    assert!(ok_blocking(&dst_uri, &["list", "--all"]).contains(guest));
}

fn options() -> Options {
    Options {
        extra_domains: 0,
        ..Options::default()
    }
}

#[test]
fn pywbem_migrates_a_defined_guest_offline_to_another_daemon() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let (source, dest) = (Wbem::start(options()), Wbem::start(options()));
    let src_uri = virsh_uri(&source);
    let guest = format!("traveller-{}", std::process::id());
    define_guest(&source, &src_uri, &guest);
    migrate_offline(&source, &src_uri, &dest, &guest);
}

/// A WBEM gateway whose `wbem_connect_uri` is another daemon: the source daemon behind it runs the migration.
#[test]
fn a_wbem_gateway_migrates_the_guests_of_the_daemon_it_serves() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let (source, dest) = (Wbem::start(options()), Wbem::start(options()));
    let src_uri = virsh_uri(&source);
    let gateway = Wbem::start(Options {
        extra_config: format!("wbem_connect_uri = \"{src_uri}\"\n"),
        ..options()
    });
    let guest = format!("gated-{}", std::process::id());
    define_guest(&source, &src_uri, &guest);
    migrate_offline(&gateway, &src_uri, &dest, &guest);
}
