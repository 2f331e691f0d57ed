//! Resource pool configuration and snapshots through real clients against a `virtcimd` on the test driver:
//! pywbem drives every method of `KVM_ResourcePoolConfigurationService` and `KVM_VirtualSystemSnapshotService`
//! and checks each change with stock virsh over the daemon's unix socket (and virsh's changes through CIM);
//! wbemcli walks the new classes and associations.

use std::process::Command;

use crate::support::python::{have_wbemcli, run, venv_python, wbemcli};
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
fn pywbem_configures_pools_and_volumes_and_virsh_sees_each_change() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let wbem = Wbem::start(Options::default());
    let scratch = tempfile::tempdir().expect("tempdir");
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(peer_script("cim_pool_config.py"))
        .arg(wbem.url())
        .arg(virsh_uri(&wbem))
        .arg(scratch.path()));
    assert!(
        ok && out.contains("OK "),
        "cim_pool_config.py:\n{out}\n{err}"
    );
    eprintln!("cim_pool_config.py: {}", out.trim());
}

#[test]
fn pywbem_takes_applies_and_destroys_snapshots_and_virsh_agrees() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let wbem = Wbem::start(Options::default());
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(peer_script("cim_snapshots.py"))
        .arg(wbem.url())
        .arg(virsh_uri(&wbem)));
    assert!(ok && out.contains("OK "), "cim_snapshots.py:\n{out}\n{err}");
    eprintln!("cim_snapshots.py: {}", out.trim());
}

#[test]
fn wbemcli_walks_the_pool_configuration_and_snapshot_classes() {
    if !have_wbemcli() {
        eprintln!("wbemcli not installed, skipping");
        return;
    }
    let wbem = Wbem::start(Options::default());
    let u = wbem.url();
    let out = wbemcli(&[
        "ein",
        &format!("{u}/root/virt:KVM_ResourcePoolConfigurationService"),
    ]);
    assert!(out.contains("Name=\"RPCS\""), "{out}");
    let out = wbemcli(&[
        "ei",
        &format!("{u}/root/virt:KVM_ResourcePoolConfigurationCapabilities"),
    ]);
    assert!(out.contains("SynchronousMethodsSupported=3,4"), "{out}");
    let out = wbemcli(&[
        "ein",
        &format!("{u}/root/virt:KVM_VirtualSystemSnapshotService"),
    ]);
    assert!(out.contains("Name=\"SnapshotService\""), "{out}");
    let out = wbemcli(&[
        "ei",
        &format!("{u}/root/virt:KVM_VirtualSystemSnapshotServiceCapabilities"),
    ]);
    assert!(out.contains("SnapshotTypesSupported=2,3"), "{out}");
    let caps = format!("{u}/root/virt:KVM_AllocationCapabilities.InstanceID=\"DiskPool/0\"");
    let out = wbemcli(&["ain", "-ac", "KVM_SettingsDefineCapabilities", &caps]);
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("KVM_DiskPoolResourceAllocationSettingData"))
            .count(),
        28,
        "{out}"
    );
    let hosts = wbemcli(&["ein", &format!("{u}/root/virt:KVM_HostSystem")]);
    let host = hosts
        .lines()
        .find_map(|l| l.split_once("root/virt:").map(|(_, path)| path.trim()))
        .expect("a host");
    let out = wbemcli(&[
        "ain",
        "-ac",
        "KVM_HostedService",
        &format!("{u}/root/virt:{host}"),
    ]);
    for service in [
        "KVM_VirtualSystemManagementService",
        "KVM_ResourcePoolConfigurationService",
        "KVM_VirtualSystemSnapshotService",
    ] {
        assert!(out.contains(service), "{service}:\n{out}");
    }
}
