//! The server describing itself in root/interop, through real clients: `pywbemcli namespace list / interop` (the
//! `server namespaces / interop` of pywbemcli before 1.0), `server brand / info`, pywbem's `WBEMServer` and plain operations on CIM_Namespace, CIM_ObjectManager and
//! CIM_NamespaceInManager, and sblim wbemcli.

use std::process::Command;

use crate::support::python::{pywbemcli, run, venv_python};
use crate::support::wbem::{Options, Wbem};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn cli(wbem: &Wbem, args: &[&str]) -> String {
    let (ok, out, err) = run(Command::new(pywbemcli())
        .args(["-s", &wbem.url()])
        .args(args));
    assert!(ok, "pywbemcli {args:?} failed:\n{out}\n{err}");
    assert!(
        !err.contains("Warning"),
        "pywbemcli {args:?} warned:\n{err}"
    );
    out
}

#[test]
fn pywbemcli_server_commands_describe_virtcim() {
    let wbem = Wbem::start(Options::default());

    let out = cli(&wbem, &["namespace", "interop"]);
    assert_eq!(out.trim(), "root/interop", "{out}");

    let out = cli(&wbem, &["server", "brand"]);
    assert_eq!(out.trim(), "virtcim", "{out}");

    // `-o text` lists one namespace a line.
    let out = cli(&wbem, &["-o", "text", "namespace", "list"]);
    let mut listed: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, ["root/cimv2", "root/interop", "root/virt"], "{out}");

    // The default table has the brand, the crate's version, the interop namespace and every namespace.
    let out = cli(&wbem, &["server", "info"]);
    let row = out
        .lines()
        .find(|l| l.contains("virtcim"))
        .unwrap_or_else(|| panic!("no virtcim row:\n{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "virtcim",
            VERSION,
            "root/interop",
            "root/cimv2,",
            "root/interop,",
            "root/virt"
        ],
        "{out}"
    );
}

/// pywbem's own discovery plus plain operations on the three classes; the host keys are cross-checked with
/// the host system root/virt serves.
#[test]
fn pywbem_sees_the_object_manager_and_namespaces() {
    let wbem = Wbem::start(Options::default());
    let script = r#"
import sys, pywbem
conn = pywbem.WBEMConnection(sys.argv[1], None, default_namespace="root/interop", timeout=60)
server = pywbem.WBEMServer(conn)
print("interop", server.interop_ns)
print("nsclass", server.namespace_classname)
print("namespaces", ",".join(sorted(server.namespaces)))
print("brand", server.brand)
print("version", server.version)

hosts = conn.EnumerateInstances("KVM_HostSystem", namespace="root/virt")
assert len(hosts) == 1, hosts
host = hosts[0]

namespaces = conn.EnumerateInstances("CIM_Namespace", namespace="root/interop")
for ns in namespaces:
    keys = ns.path.keybindings
    assert ns.path.classname == "CIM_Namespace", ns.path
    assert ns.path.namespace == "root/interop", ns.path
    assert keys["SystemCreationClassName"] == host["CreationClassName"], keys
    assert keys["SystemName"] == host["Name"], keys
    assert keys["ObjectManagerCreationClassName"] == "CIM_ObjectManager", keys
    assert keys["ObjectManagerName"] == "virtcim", keys
    assert keys["CreationClassName"] == "CIM_Namespace", keys
    assert keys["Name"] == ns["Name"], keys
    assert ns["ClassType"] == 2 and ns["ClassTypeVersion"] == "2.49.0", ns.tomof()
    again = conn.GetInstance(ns.path)
    assert again["Name"] == ns["Name"], again.tomof()
    print("namespace", ns["Name"])

names = conn.EnumerateInstanceNames("CIM_Namespace", namespace="root/interop")
assert sorted(p.keybindings["Name"] for p in names) == sorted(ns["Name"] for ns in namespaces), names

managers = conn.EnumerateInstances("CIM_ObjectManager", namespace="root/interop")
assert len(managers) == 1, managers
om = managers[0]
assert om.path.keybindings["SystemName"] == host["Name"], om.path
assert om.path.keybindings["Name"] == "virtcim", om.path
assert om["Started"] is True and om["EnabledState"] == 2, om.tomof()
print("description", om["Description"])

# CIM_Service subclasses are the object manager and the indication service, both hosted by the one host system.
services = conn.EnumerateInstanceNames("CIM_Service", namespace="root/interop")
assert sorted(p.classname for p in services) == ["CIM_IndicationService", "CIM_ObjectManager"], services
assert all(p.keybindings["SystemCreationClassName"] == om.path.keybindings["SystemCreationClassName"]
           and p.keybindings["SystemName"] == host["Name"] for p in services), services

served = conn.Associators(om.path, AssocClass="CIM_NamespaceInManager", ResultClass="CIM_Namespace")
print("associated", ",".join(sorted(i["Name"] for i in served)))
back = conn.AssociatorNames(namespaces[0].path, AssocClass="CIM_NamespaceInManager")
assert len(back) == 1 and back[0].classname == "CIM_ObjectManager", back

missing = namespaces[0].path.copy()
missing.keybindings["Name"] = "root/nowhere"
try:
    conn.GetInstance(missing)
    raise SystemExit("GetInstance of a namespace we do not serve succeeded")
except pywbem.CIMError as err:
    assert err.status_code == pywbem.CIM_ERR_NOT_FOUND, err
print("OK")
"#;
    let (ok, out, err) = run(Command::new(venv_python())
        .args(["-c", script])
        .arg(wbem.url()));
    assert!(ok && out.contains("OK"), "{out}\n{err}");
    let value = |what: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{what} ")))
            .unwrap_or_else(|| panic!("no {what}:\n{out}"))
            .to_owned()
    };
    assert_eq!(value("interop"), "root/interop");
    assert_eq!(value("nsclass"), "CIM_Namespace");
    assert_eq!(value("namespaces"), "root/cimv2,root/interop,root/virt");
    assert_eq!(value("brand"), "virtcim");
    assert_eq!(value("version"), VERSION);
    assert_eq!(
        value("description"),
        format!("virtcim CIM server version {VERSION}")
    );
    assert_eq!(value("associated"), "root/cimv2,root/interop,root/virt");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("namespace ")).count(),
        3
    );
}

fn wbemcli(args: &[&str]) -> String {
    let (ok, out, err) = run(Command::new("wbemcli").args(args));
    assert!(ok, "wbemcli {args:?} failed:\n{out}\n{err}");
    out
}

#[test]
fn wbemcli_enumerates_namespaces_and_the_object_manager() {
    let wbem = Wbem::start(Options::default());
    let u = wbem.url();
    let out = wbemcli(&["ein", &format!("{u}/root/interop:CIM_Namespace")]);
    let lines: Vec<&str> = out.trim().lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for ns in ["root/cimv2", "root/interop", "root/virt"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains("CIM_Namespace.") && l.contains(&format!("Name=\"{ns}\""))),
            "{ns}:\n{out}"
        );
    }
    let out = wbemcli(&["ei", &format!("{u}/root/interop:CIM_ObjectManager")]);
    assert!(
        out.contains("ElementName=\"virtcim\"")
            && out.contains(&format!(
                "Description=\"virtcim CIM server version {VERSION}\""
            )),
        "{out}"
    );
}
