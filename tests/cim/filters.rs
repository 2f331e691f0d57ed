//! The network-filter classes on the test driver, which has no network filters (as libvirt's): pywbem finds every
//! class with no instances, changes answered "not supported" and nothing written; wbemcli walks the classes.

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

#[test]
fn pywbem_finds_no_filters_on_the_test_driver_and_changes_are_not_supported() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let wbem = Wbem::start(Options::default());
    let script = crate::support::tests_file("peers/cim_filters.py");
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(script)
        .arg(wbem.url())
        .arg(virsh_uri(&wbem))
        .arg("test"));
    assert!(
        ok && out.contains("OK "),
        "cim_filters.py test:\n{out}\n{err}"
    );
    eprintln!("cim_filters.py (test:///default): {}", out.trim());
}

#[test]
fn wbemcli_walks_the_filter_classes_on_the_test_driver() {
    if !have_wbemcli() {
        eprintln!("wbemcli not installed, skipping");
        return;
    }
    let wbem = Wbem::start(Options::default());
    let u = wbem.url();
    for class in [
        "KVM_FilterList",
        "KVM_Hdr8021Filter",
        "KVM_IPHeadersFilter",
        "KVM_FilterEntry",
        "KVM_EntriesInFilterList",
        "KVM_HostedFilterList",
        "KVM_NestedFilterList",
        "KVM_AppliedFilterList",
    ] {
        let out = wbemcli(&["ein", &format!("{u}/root/virt:{class}")]);
        assert!(out.trim().is_empty(), "{class}: {out}");
    }
    let out = wbemcli(&["gc", &format!("{u}/root/virt:KVM_AppliedFilterList")]);
    assert!(
        out.contains("Antecedent=") && out.contains("Dependent="),
        "{out}"
    );
}
