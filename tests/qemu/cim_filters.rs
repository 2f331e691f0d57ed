//! Network filters through CIM on `qemu:///system`: a virtcimd serving WBEM on the host's real nwfilter driver
//! (nftables) with a running guest on a bridge of the test's own. pywbem reads libvirt's stock filters and one
//! defined with virsh (rules mapped as libvirt-CIM did), makes and removes filter lists and references, and applies
//! a filter to the guest's NIC and removes it (KVM_AppliedFilterList): virsh sees each change in the definition and
//! the live XML, and the guest's tap is bound and unbound at once. wbemcli walks the same classes.
//!
//! The same script runs again through a WBEM gateway whose connection is the remote driver to that daemon.
//!
//! Names carry the test process's pid; the bridge, the tap, the nftables tables of the tap and the QEMU are
//! removed however the test ends.

use std::path::Path;
use std::process::Command;

use crate::cim::{Daemon, QemuReaper};
use crate::objects::{nft_usable, NftGuard, OwnBridge};
use crate::support::python::{have_wbemcli, run, venv_python, wbemcli};
use crate::support::virsh::ok_blocking as ok;
use crate::support::wbem::{Options, Wbem};

#[test]
fn cim_filters_on_the_host_driver_and_a_running_guests_nic() {
    if !(crate::daemon::peers_present() && nft_usable() && Path::new("/dev/net/tun").exists()) {
        eprintln!("skipped: needs virsh, qemu, root, nft and /dev/net/tun");
        return;
    }
    let _alone = crate::support::qemu::alone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let mut reaper = QemuReaper(Vec::new());
    let uri = daemon.rpc_uri();
    let tag = std::process::id() % 100_000;
    let bridge = OwnBridge(format!("vcfb{tag}"));
    assert!(Command::new("ip")
        .args(["link", "add", &bridge.0, "type", "bridge"])
        .status()
        .expect("ip runs")
        .success());
    let tap = OwnBridge(format!("vcft{tag}"));
    let nft = NftGuard {
        port: tap.0.clone(),
    };
    let name = format!("cimf-guest-{tag}");
    let mac = "52:54:00:7c:00:02";
    let xml = tmp.path().join("guest.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\
             <features><acpi/></features><devices>\
             <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
             <target dev='hda' bus='ide'/></disk>\
             <interface type='bridge'><mac address='{mac}'/><source bridge='{}'/>\
             <target dev='{}'/><model type='virtio'/></interface></devices></domain>",
            crate::support::qemu::spinning_disk(tmp.path()).display(),
            bridge.0,
            tap.0
        ),
    )
    .expect("guest xml");
    ok(&uri, &["define", &xml.to_string_lossy()]);
    ok(&uri, &["start", &name]);
    reaper.0.push(daemon.qemu_pid(&name));

    let url = format!("http://{}", daemon.wbem);
    let script = crate::support::tests_file("peers/cim_filters.py");
    let (passed, out, err) = run(Command::new(venv_python())
        .arg(script)
        .arg(&url)
        .arg(&uri)
        .arg("qemu")
        .arg(tag.to_string())
        .arg(&name)
        .arg(mac)
        .arg(&tap.0));
    assert!(
        passed && out.contains("OK "),
        "cim_filters.py qemu:\n{out}\n{err}"
    );
    eprintln!("cim_filters.py (qemu:///system): {}", out.trim());
    assert!(
        nft.tables_with_port().is_empty(),
        "no rules are left on the tap"
    );

    // The same through a WBEM gateway whose connection is the remote driver to this daemon.
    let gateway = Wbem::start(Options {
        extra_domains: 0,
        extra_config: format!("wbem_connect_uri = \"{uri}\"\n"),
        ..Options::default()
    });
    let (passed, out, err) = run(Command::new(venv_python())
        .arg(crate::support::tests_file("peers/cim_filters.py"))
        .arg(gateway.url())
        .arg(&uri)
        .arg("qemu")
        .arg(format!("{tag}r"))
        .arg(&name)
        .arg(mac)
        .arg(&tap.0));
    assert!(
        passed && out.contains("OK "),
        "cim_filters.py qemu through the remote driver:\n{out}\n{err}"
    );
    eprintln!("cim_filters.py (remote to qemu:///system): {}", out.trim());
    drop(gateway);

    if have_wbemcli() {
        let out = wbemcli(&["ein", &format!("{url}/root/virt:KVM_FilterList")]);
        assert!(out.contains("Name=\"clean-traffic\""), "{out}");
        let out = wbemcli(&["ei", &format!("{url}/root/virt:KVM_IPHeadersFilter")]);
        assert!(out.contains("HdrIPVersion="), "{out}");
        let out = wbemcli(&[
            "ain",
            "-ac",
            "KVM_NestedFilterList",
            &format!(
                "{url}/root/virt:KVM_FilterList.CreationClassName=\"KVM_FilterList\",Name=\"clean-traffic\",\
                 SystemCreationClassName=\"KVM_HostSystem\",SystemName=\"{}\"",
                hostname()
            ),
        ]);
        assert!(out.contains("no-mac-spoofing"), "{out}");
    }

    // virsh's live and persistent filter change of the NIC is CIM's applied filter list, and the tap is bound.
    let nic = tmp.path().join("nic.xml");
    let nic_xml = |filter: &str| {
        format!(
            "<interface type='bridge'><mac address='{mac}'/><source bridge='{}'/><target dev='{}'/>\
             <model type='virtio'/>{filter}\
             </interface>",
            bridge.0, tap.0
        )
    };
    std::fs::write(&nic, nic_xml("<filterref filter='no-mac-spoofing'/>")).expect("nic xml");
    let nic_path = nic.to_string_lossy().into_owned();
    ok(
        &uri,
        &["update-device", &name, &nic_path, "--live", "--config"],
    );
    let bindings = ok(&uri, &["nwfilter-binding-list"]);
    assert!(
        bindings
            .lines()
            .any(|l| l.contains(&tap.0) && l.contains("no-mac-spoofing")),
        "{bindings}"
    );
    assert_eq!(nft.tables_with_port().len(), 1, "the tap has its chains");
    let port = format!(
        "{url}/root/virt:KVM_NetworkPort.CreationClassName=\"KVM_NetworkPort\",DeviceID=\"{name}/{mac}\",\
         SystemCreationClassName=\"KVM_ComputerSystem\",SystemName=\"{name}\""
    );
    if have_wbemcli() {
        let out = wbemcli(&["ain", "-ac", "KVM_AppliedFilterList", &port]);
        assert!(out.contains("Name=\"no-mac-spoofing\""), "{out}");
    }
    // Any other live change of the NIC is refused, and nothing changes.
    std::fs::write(
        &nic,
        nic_xml("<filterref filter='no-mac-spoofing'/><link state='down'/>"),
    )
    .expect("nic xml");
    let refused =
        crate::support::virsh::fails_blocking(&uri, &["update-device", &name, &nic_path, "--live"]);
    assert!(refused.contains("other than its filter"), "{refused}");
    std::fs::write(&nic, nic_xml("")).expect("nic xml");
    ok(
        &uri,
        &["update-device", &name, &nic_path, "--live", "--config"],
    );
    assert!(!ok(&uri, &["nwfilter-binding-list"]).contains(&tap.0));
    assert!(
        nft.tables_with_port().is_empty(),
        "the tap's chains are gone"
    );
    assert!(!ok(&uri, &["dumpxml", &name]).contains("filterref"));

    // A NIC attached to the running guest with a filter has its port bound at once; CIM sees the filter applied.
    let tap2 = OwnBridge(format!("vcfu{tag}"));
    let mac2 = "52:54:00:7c:00:03";
    let nic2 = tmp.path().join("nic2.xml");
    std::fs::write(
        &nic2,
        format!(
            "<interface type='bridge'><mac address='{mac2}'/><source bridge='{}'/><target dev='{}'/>\
             <model type='e1000'/><filterref filter='no-mac-spoofing'/></interface>",
            bridge.0, tap2.0
        ),
    )
    .expect("nic xml");
    let nft2 = NftGuard {
        port: tap2.0.clone(),
    };
    ok(
        &uri,
        &[
            "attach-device",
            &name,
            &nic2.to_string_lossy(),
            "--live",
            "--config",
        ],
    );
    let bindings = ok(&uri, &["nwfilter-binding-list"]);
    assert!(
        bindings
            .lines()
            .any(|l| l.contains(&tap2.0) && l.contains("no-mac-spoofing")),
        "{bindings}"
    );
    assert_eq!(
        nft2.tables_with_port().len(),
        1,
        "the new port has its chains"
    );
    if have_wbemcli() {
        let out = wbemcli(&[
            "ain",
            "-ac",
            "KVM_AppliedFilterList",
            &port.replace(mac, mac2),
        ]);
        assert!(out.contains("Name=\"no-mac-spoofing\""), "{out}");
    }

    // A filter applied through CIM to a stopped guest's NIC is in its definition only, and bound when it starts.
    ok(&uri, &["destroy", &name]);
    apply(&url, &name, mac, "no-mac-spoofing", true);
    assert!(ok(&uri, &["dumpxml", "--inactive", &name])
        .contains("<filterref filter='no-mac-spoofing'/>"));
    assert!(!ok(&uri, &["nwfilter-binding-list"]).contains(&tap.0));
    ok(&uri, &["start", &name]);
    reaper.0.push(daemon.qemu_pid(&name));
    let bindings = ok(&uri, &["nwfilter-binding-list"]);
    assert!(
        bindings
            .lines()
            .any(|l| l.contains(&tap.0) && l.contains("no-mac-spoofing")),
        "{bindings}"
    );
    apply(&url, &name, mac, "no-mac-spoofing", false);
    assert!(!ok(&uri, &["nwfilter-binding-list"]).contains(&tap.0));
    assert!(
        nft.tables_with_port().is_empty(),
        "the tap's chains are gone"
    );
    ok(&uri, &["destroy", &name]);
    assert!(
        nft2.tables_with_port().is_empty(),
        "the attached NIC's chains left with the guest"
    );
    ok(&uri, &["undefine", &name]);
}

/// Creates (`on`) or deletes the KVM_AppliedFilterList of a guest NIC and a filter with pywbem.
fn apply(url: &str, guest: &str, mac: &str, filter: &str, on: bool) {
    let script = r#"
import sys, pywbem
url, guest, mac, filt, on = sys.argv[1:6]
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt")
host = conn.EnumerateInstanceNames("KVM_HostSystem")[0]["Name"]
port = pywbem.CIMInstanceName("KVM_NetworkPort", namespace="root/virt", keybindings={
    "CreationClassName": "KVM_NetworkPort", "DeviceID": "%s/%s" % (guest, mac),
    "SystemCreationClassName": "KVM_ComputerSystem", "SystemName": guest})
flist = pywbem.CIMInstanceName("KVM_FilterList", namespace="root/virt", keybindings={
    "CreationClassName": "KVM_FilterList", "Name": filt,
    "SystemCreationClassName": "KVM_HostSystem", "SystemName": host})
if on == "1":
    inst = pywbem.CIMInstance("KVM_AppliedFilterList", properties={
        "Antecedent": pywbem.CIMProperty("Antecedent", port, type="reference"),
        "Dependent": pywbem.CIMProperty("Dependent", flist, type="reference")})
    inst.path = pywbem.CIMInstanceName("KVM_AppliedFilterList", namespace="root/virt")
    conn.CreateInstance(inst)
else:
    conn.DeleteInstance(pywbem.CIMInstanceName("KVM_AppliedFilterList", namespace="root/virt",
                                               keybindings={"Antecedent": port, "Dependent": flist}))
print("done")
"#;
    let (passed, out, err) = run(Command::new(venv_python())
        .args(["-c", script, url, guest, mac, filter])
        .arg(if on { "1" } else { "0" }));
    assert!(
        passed && out.contains("done"),
        "applied list {on}: {out}{err}"
    );
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .expect("hostname")
        .to_string_lossy()
        .into_owned()
}
