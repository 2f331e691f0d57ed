//! The host side of the DMTF model through real clients over HTTP: resource pools, capabilities, RASD templates,
//! host associations and profile registration (root/interop <-> root/virt) with the pywbem API cross-checked
//! against virsh on the same daemon, pywbemcli's profile discovery, sblim wbemcli, and enumeration time with
//! 1 000 domains.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::python::wbemcli;
use crate::support::python::{pywbemcli, run, venv_python};
use crate::support::wbem::{Options, Wbem};

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
fn pywbem_host_model_matches_virsh() {
    let wbem = Wbem::start(Options::default());
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(peer("cim_host.py"))
        .arg(wbem.url())
        .arg(native_uri(&wbem)));
    assert!(ok && out.contains("OK "), "cim_host.py:\n{out}\n{err}");
}

fn cli(wbem: &Wbem, args: &[&str]) -> String {
    let (ok, out, err) = run(Command::new(pywbemcli())
        .args(["-s", &wbem.url()])
        .args(args));
    assert!(ok, "pywbemcli {args:?} failed:\n{out}\n{err}");
    out
}

#[test]
fn pywbemcli_discovers_the_profiles() {
    let wbem = Wbem::start(Options::default());
    // `profile list` finds the interop namespace itself and lists CIM_RegisteredProfile there.
    let out = cli(&wbem, &["profile", "list"]);
    for (name, version) in [
        ("System Virtualization", "1.0.0"),
        ("Virtual System Profile", "1.0.0a"),
        ("Resource Allocation", "1.1.0c"),
        ("Allocation Capabilities", "1.0.0a"),
        ("Memory Resource Virtualization", "1.0.0"),
        ("Generic Device Resource Virtualization", "1.0.0"),
        ("Virtual System Migration", "0.8.1"),
        ("Indications", "1.1.0"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("DMTF") && l.contains(name) && l.contains(version)),
            "{name} {version} missing:\n{out}"
        );
    }
    assert_eq!(
        out.lines().filter(|l| l.starts_with("DMTF")).count(),
        14,
        "{out}"
    );
    // The central instances of DSP1057 are the guests, reached from root/interop.
    let out = cli(
        &wbem,
        &[
            "profile",
            "centralinsts",
            "--organization",
            "DMTF",
            "--profile",
            "Virtual System Profile",
            "--central-class",
            "KVM_ComputerSystem",
        ],
    );
    for guest in ["test", "vm000", "vm001", "vm002"] {
        assert!(
            out.contains(&format!("Name=\"{guest}\"")),
            "{guest}:\n{out}"
        );
    }
    let out = cli(
        &wbem,
        &[
            "-d",
            "root/virt",
            "instance",
            "enumerate",
            "CIM_ResourcePool",
            "--names-only",
        ],
    );
    for id in [
        "MemoryPool/0",
        "ProcessorPool/0",
        "DiskPool/0",
        "NetworkPool/0",
        "GraphicsPool/0",
        "InputPool/0",
        "ControllerPool/0",
    ] {
        assert!(
            out.contains(&format!("InstanceID=\"{id}\"")),
            "{id}:\n{out}"
        );
    }
}

#[test]
fn wbemcli_walks_pools_and_profiles() {
    let wbem = Wbem::start(Options::default());
    let u = wbem.url();
    let out = wbemcli(&["ein", &format!("{u}/root/virt:KVM_MemoryPool")]);
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert!(
        out.contains("KVM_MemoryPool.InstanceID=\"MemoryPool/0\""),
        "{out}"
    );
    let pool = format!("{u}/root/virt:KVM_ProcessorPool.InstanceID=\"ProcessorPool/0\"");
    let out = wbemcli(&["ai", "-ac", "KVM_ElementCapabilities", &pool]);
    assert!(
        out.contains("KVM_AllocationCapabilities.InstanceID=\"ProcessorPool/0\"")
            && out.contains("ResourceType=3"),
        "{out}"
    );
    let out = wbemcli(&["ein", &format!("{u}/root/interop:KVM_RegisteredProfile")]);
    assert_eq!(out.trim().lines().count(), 14, "{out}");
    let profile = format!(
        "{u}/root/interop:KVM_RegisteredProfile.InstanceID=\"CIM:DSP1042-SystemVirtualization-1.0.0\""
    );
    let out = wbemcli(&["ain", "-ac", "KVM_ElementConformsToProfile", &profile]);
    assert!(
        out.contains("root/virt:KVM_HostSystem.CreationClassName=\"KVM_HostSystem\""),
        "{out}"
    );
    let out = wbemcli(&["rin", "-arc", "KVM_HostedResourcePool", &pool]);
    assert!(
        out.contains("KVM_HostedResourcePool.GroupComponent="),
        "{out}"
    );
}

/// With 1 000 domains each host-side enumeration reads the driver once per request, so it stays well under
/// the bound below even in a debug build.
#[test]
fn enumerations_with_1000_domains() {
    let wbem = Wbem::start(Options {
        extra_domains: 1000,
        ..Options::default()
    });
    let script = r#"
import sys, time, pywbem
conn = pywbem.WBEMConnection(sys.argv[1], None, default_namespace="root/virt", timeout=600)
for cls, ns in [("KVM_EnabledLogicalElementCapabilities", "root/virt"), ("KVM_ElementCapabilities", "root/virt"),
                ("KVM_ElementAllocatedFromPool", "root/virt"), ("KVM_ResourceAllocationFromPool", "root/virt"),
                ("KVM_ElementConformsToProfile", "root/virt"), ("KVM_ElementConformsToProfile", "root/interop"),
                ("CIM_ResourcePool", "root/virt")]:
    t = time.time()
    n = len(conn.EnumerateInstanceNames(cls, namespace=ns))
    print("%s %s %d %.3f" % (ns, cls, n, time.time() - t))
"#;
    let started = Instant::now();
    let (ok, out, err) = run(Command::new(venv_python())
        .args(["-c", script])
        .arg(wbem.url()));
    assert!(ok, "{out}\n{err}");
    let elapsed = started.elapsed();
    eprintln!("{out}");
    let count = |class: &str, ns: &str| -> usize {
        out.lines()
            .find(|l| l.starts_with(&format!("{ns} {class} ")))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{class}:\n{out}"))
    };
    let guests = 1001;
    assert_eq!(
        count("KVM_EnabledLogicalElementCapabilities", "root/virt"),
        guests
    );
    // host and VSMS -> VSMC, RPCS -> RPCC, snapshot service -> its capabilities, host and console redirection
    // service -> its capabilities, host and migration service -> the migration capabilities, 9 pools -> their
    // capabilities, each guest -> its ELEC.
    assert_eq!(
        count("KVM_ElementCapabilities", "root/virt"),
        8 + 9 + guests
    );
    // Every guest conforms to DSP1057, DSP1043 and the four DSP1041 profiles.
    let ectp = count("KVM_ElementConformsToProfile", "root/virt");
    assert!(ectp >= 6 * guests, "{ectp}");
    assert_eq!(ectp, count("KVM_ElementConformsToProfile", "root/interop"));
    // Each shut-off guest has 1 vCPU and memory: two devices and two RASDs from pools.
    assert!(count("KVM_ElementAllocatedFromPool", "root/virt") >= 2 * guests);
    assert!(count("KVM_ResourceAllocationFromPool", "root/virt") >= 2 * guests);
    assert!(
        elapsed < Duration::from_secs(120),
        "host-side enumerations with 1000 domains took {elapsed:?}:\n{out}"
    );
}
