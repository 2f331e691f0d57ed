//! Console redirection (DSP1076: the redirection service, its capabilities, the guests' KVM redirection SAPs and
//! their associations; the guests' serial consoles as text redirection SAPs), the service-element association, the
//! switch service and the KVM Redirection profile, on the test driver through pywbem and sblim wbemcli, over HTTP
//! and HTTPS with Basic authentication, and through a remote URI (`wbem_connect_uri` naming another daemon).

use std::process::Command;

use crate::support::python::{run, venv_python, wbemcli};
use crate::support::virsh::ok_blocking;
use crate::support::wbem::{Options, Wbem, PASSWORD, USER};

fn peer(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

fn native_uri(wbem: &Wbem) -> String {
    format!(
        "test+unix:///default?socket={}",
        wbem.dir.path().join("run/libvirt-sock").display()
    )
}

#[test]
fn pywbem_console_redirection_over_http() {
    let wbem = Wbem::start(Options::default());
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(peer("cim_console.py"))
        .arg(wbem.url())
        .arg(native_uri(&wbem)));
    assert!(ok && out.contains("OK "), "cim_console.py:\n{out}\n{err}");
}

#[test]
fn pywbem_console_redirection_over_https() {
    let wbem = Wbem::start(Options {
        basic_auth: true,
        https: true,
        ..Options::default()
    });
    let url = format!("https://{}", wbem.https.expect("https listener"));
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(peer("cim_console.py"))
        .arg(&url)
        .arg(native_uri(&wbem))
        .arg(USER)
        .arg(PASSWORD));
    assert!(ok && out.contains("OK "), "cim_console.py:\n{out}\n{err}");
}

/// The same model through the remote driver: a WBEM front whose `wbem_connect_uri` is another daemon's
/// `test+tcp://` URI, the guests set up with virsh on that other daemon.
#[test]
fn pywbem_console_redirection_through_a_remote_uri() {
    let port = crate::support::free_port();
    let remote = Wbem::start(Options {
        extra_config: format!(
            "listen_tcp = 1\nlisten_tls = 0\nlisten_addr = \"127.0.0.1\"\ntcp_port = {port}\n\
             auth_tcp = \"none\"\n"
        ),
        ..Options::default()
    });
    let remote_uri = format!("test+tcp://127.0.0.1:{port}/default");
    let front = Wbem::start(Options {
        extra_domains: 0,
        extra_config: format!("wbem_connect_uri = \"{remote_uri}\"\n"),
        ..Options::default()
    });
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(peer("cim_console.py"))
        .arg(front.url())
        .arg(&remote_uri));
    assert!(ok && out.contains("OK "), "cim_console.py:\n{out}\n{err}");
    drop(remote);
}

/// One guest with VNC on 5920 (started) for wbemcli to walk.
fn vnc_guest(wbem: &Wbem) {
    let uri = native_uri(wbem);
    let xml = wbem.dir.path().join("vncguest.xml");
    std::fs::write(
        &xml,
        "<domain type='test'><name>vncguest</name><memory unit='KiB'>524288</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os><devices><input type='tablet' bus='usb'/>\
         <graphics type='vnc' port='5920' listen='127.0.0.1'/></devices></domain>",
    )
    .expect("write xml");
    ok_blocking(&uri, &["define", &xml.display().to_string()]);
    ok_blocking(&uri, &["start", "vncguest"]);
}

/// wbemcli against `base` (`http://host:port` or `https://user:pass@host:port`), with `extra` options first.
fn walk_with_wbemcli(base: &str, extra: &[&str]) {
    let cli = |args: &[&str]| {
        let mut all: Vec<&str> = extra.to_vec();
        all.extend_from_slice(args);
        wbemcli(&all)
    };
    let out = cli(&["ein", &format!("{base}/root/virt:KVM_KVMRedirectionSAP")]);
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert!(
        out.contains("Name=\"5920:0\"") && out.contains("SystemName=\"vncguest\""),
        "{out}"
    );
    let sap = format!(
        "{base}/root/virt:KVM_KVMRedirectionSAP.CreationClassName=\"KVM_KVMRedirectionSAP\",\
         Name=\"5920:0\",SystemCreationClassName=\"KVM_ComputerSystem\",SystemName=\"vncguest\""
    );
    let out = cli(&["gi", &sap]);
    assert!(
        out.contains("KVMProtocol=4") && out.contains("EnabledState=6"),
        "{out}"
    );
    // A path missing a key names no instance: wbemcli reports CIM_ERR_NOT_FOUND and fails.
    let partial = format!(
        "{base}/root/virt:KVM_KVMRedirectionSAP.CreationClassName=\"KVM_KVMRedirectionSAP\",\
         Name=\"5920:0\",SystemCreationClassName=\"KVM_ComputerSystem\""
    );
    let mut cmd = Command::new("wbemcli");
    cmd.args(extra).args(["gi", &partial]);
    let (ok, out, err) = run(&mut cmd);
    assert!(
        !ok && (out.contains("CIM_ERR_NOT_FOUND") || err.contains("CIM_ERR_NOT_FOUND")),
        "{out}\n{err}"
    );
    let out = cli(&["ain", "-ac", "KVM_SAPAvailableForElement", &sap]);
    assert!(
        out.contains(
            "KVM_ComputerSystem.CreationClassName=\"KVM_ComputerSystem\",Name=\"vncguest\""
        ),
        "{out}"
    );
    let guest = format!(
        "{base}/root/virt:KVM_ComputerSystem.CreationClassName=\"KVM_ComputerSystem\",Name=\"vncguest\""
    );
    let out = cli(&["ai", "-ac", "KVM_SAPAvailableForElement", &guest]);
    assert!(
        out.contains("Name=\"5920:0\"") && out.contains("KVMProtocol=4"),
        "{out}"
    );
    let out = cli(&["rin", "-arc", "KVM_HostedAccessPoint", &sap]);
    assert!(
        out.contains("KVM_HostedAccessPoint.Antecedent=") && out.contains("KVM_HostSystem"),
        "{out}"
    );
    let services = cli(&[
        "ein",
        &format!("{base}/root/virt:KVM_ConsoleRedirectionService"),
    ]);
    let service = services
        .lines()
        .find_map(|l| l.split_once("root/virt:").map(|(_, path)| path.trim()))
        .expect("the service");
    let service = format!("{base}/root/virt:{service}");
    let out = cli(&["gi", &service]);
    assert!(
        out.contains("RedirectionServiceType=3") && out.contains("SharingMode=3"),
        "{out}"
    );
    let out = cli(&["rin", "-arc", "KVM_ServiceAccessBySAP", &service]);
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert!(out.contains("5920:0"), "{out}");
    let out = cli(&["ain", "-ac", "KVM_ServiceAffectsElement", &service]);
    assert!(
        out.contains("KVM_PointingDevice") && out.contains("vncguest/tablet:usb"),
        "{out}"
    );
    let out = cli(&["ain", "-ac", "KVM_ElementCapabilities", &service]);
    assert!(
        out.contains("KVM_ConsoleRedirectionServiceCapabilities.InstanceID=\"ConsoleRedirectionCapabilities\""),
        "{out}"
    );
    let profile = format!(
        "{base}/root/interop:KVM_RegisteredProfile.InstanceID=\"CIM:DSP1076-KVMRedirection-1.0.0\""
    );
    let out = cli(&["ain", "-ac", "KVM_ElementConformsToProfile", &profile]);
    assert!(
        out.contains("root/virt:KVM_ConsoleRedirectionService.")
            && out.contains("root/virt:KVM_HostSystem."),
        "{out}"
    );
    let out = cli(&["ein", &format!("{base}/root/virt:KVM_SwitchService")]);
    assert!(
        out.contains("Name=\"Switch Virtualization Capabilities\""),
        "{out}"
    );
}

#[test]
fn wbemcli_walks_console_redirection_over_http() {
    let wbem = Wbem::start(Options::default());
    vnc_guest(&wbem);
    walk_with_wbemcli(&wbem.url(), &[]);
}

#[test]
fn wbemcli_walks_console_redirection_over_https() {
    let wbem = Wbem::start(Options {
        basic_auth: true,
        https: true,
        ..Options::default()
    });
    vnc_guest(&wbem);
    let base = format!(
        "https://{USER}:{PASSWORD}@{}",
        wbem.https.expect("https listener")
    );
    walk_with_wbemcli(&base, &["-noverify"]);
}

/// A guest's tcp serial as a KVM_TextRedirectionSAP through wbemcli: enumerated with its address, and reached
/// from the guest.
#[test]
fn wbemcli_reads_a_serial_console() {
    let wbem = Wbem::start(Options::default());
    let uri = native_uri(&wbem);
    let xml = wbem.dir.path().join("textguest.xml");
    std::fs::write(
        &xml,
        "<domain type='test'><name>textguest</name><memory unit='KiB'>524288</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os><devices><serial type='tcp'>\
         <source mode='bind' host='127.0.0.1' service='4556'/><protocol type='raw'/><target port='0'/>\
         </serial></devices></domain>",
    )
    .expect("write xml");
    ok_blocking(&uri, &["define", &xml.display().to_string()]);
    ok_blocking(&uri, &["start", "textguest"]);
    let base = wbem.url();
    let out = wbemcli(&["ei", &format!("{base}/root/virt:KVM_TextRedirectionSAP")]);
    let line = out
        .lines()
        .find(|l| l.contains("SystemName=\"textguest\""))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains(":serial0\"")
            && line.contains("ConsoleAddress=\"127.0.0.1:4556\"")
            && line.contains("CharDeviceType=\"tcp\"")
            && line.contains("SessionTerminateSequence=\"^]\"")
            && line.contains("TextFlowType=2")
            && line.contains("EnabledState=2"),
        "{line}"
    );
    let guest = format!(
        "{base}/root/virt:KVM_ComputerSystem.CreationClassName=\"KVM_ComputerSystem\",Name=\"textguest\""
    );
    let out = wbemcli(&["ain", "-ac", "KVM_SAPAvailableForElement", &guest]);
    assert!(
        out.contains("KVM_TextRedirectionSAP.") && out.contains(":serial0"),
        "{out}"
    );
}

/// With 1 000 domains the console classes still find exactly the one VNC guest's SAP (timings are printed, not asserted).
#[test]
fn console_enumerations_with_1000_domains() {
    let wbem = Wbem::start(Options {
        extra_domains: 1000,
        ..Options::default()
    });
    vnc_guest(&wbem);
    let script = r#"
import sys, time, pywbem
conn = pywbem.WBEMConnection(sys.argv[1], None, default_namespace="root/virt", timeout=600)
for cls in ("KVM_KVMRedirectionSAP", "KVM_HostedAccessPoint", "KVM_ServiceAccessBySAP", "KVM_SAPAvailableForElement",
            "KVM_ServiceAffectsElement"):
    t = time.time()
    n = len(conn.EnumerateInstanceNames(cls))
    print("%s %d %.3f" % (cls, n, time.time() - t))
cs = pywbem.CIMInstanceName("KVM_ComputerSystem", {"CreationClassName": "KVM_ComputerSystem", "Name": "vncguest"},
                            namespace="root/virt")
t = time.time()
n = len(conn.AssociatorNames(cs, AssocClass="KVM_SAPAvailableForElement"))
print("guest-to-SAP %d %.3f" % (n, time.time() - t))
"#;
    let (ok, out, err) = run(Command::new(venv_python())
        .args(["-c", script])
        .arg(wbem.url()));
    assert!(ok, "{out}\n{err}");
    eprintln!("{out}");
    let count = |what: &str| -> usize {
        out.lines()
            .find(|l| l.starts_with(&format!("{what} ")))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{what}:\n{out}"))
    };
    for class in [
        "KVM_KVMRedirectionSAP",
        "KVM_HostedAccessPoint",
        "KVM_ServiceAccessBySAP",
        "KVM_SAPAvailableForElement",
        "guest-to-SAP",
    ] {
        assert_eq!(count(class), 1, "{class}:\n{out}");
    }
    // Every guest and the one tablet and display controller of vncguest.
    assert_eq!(count("KVM_ServiceAffectsElement"), 1002 + 2, "{out}");
}
