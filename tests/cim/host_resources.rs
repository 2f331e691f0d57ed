//! The host resources the pools are made of (libvirt-CIM's KVM_ConcreteComponent): Linux_Processor and
//! Linux_EthernetPort in root/cimv2 and the association in root/virt and root/cimv2, on the test driver through
//! pywbem and sblim wbemcli, over HTTP and HTTPS with Basic authentication, and through a remote URI.

use std::process::Command;

use crate::support::python::{run, venv_python, wbemcli};
use crate::support::wbem::{Options, Wbem, PASSWORD, USER};

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_host_resources.py")
}

fn native_uri(wbem: &Wbem) -> String {
    format!(
        "test+unix:///default?socket={}",
        wbem.dir.path().join("run/libvirt-sock").display()
    )
}

#[test]
fn pywbem_host_resources_over_http() {
    let wbem = Wbem::start(Options::default());
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(script())
        .arg(wbem.url())
        .arg(native_uri(&wbem)));
    assert!(
        ok && out.contains("OK "),
        "cim_host_resources.py:\n{out}\n{err}"
    );
}

#[test]
fn pywbem_host_resources_over_https() {
    let wbem = Wbem::start(Options {
        basic_auth: true,
        https: true,
        ..Options::default()
    });
    let url = format!("https://{}", wbem.https.expect("https listener"));
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(script())
        .arg(&url)
        .arg(native_uri(&wbem))
        .arg(USER)
        .arg(PASSWORD));
    assert!(
        ok && out.contains("OK "),
        "cim_host_resources.py:\n{out}\n{err}"
    );
}

/// The same through the remote driver: the WBEM front's `wbem_connect_uri` is another daemon's `test+tcp://`.
#[test]
fn pywbem_host_resources_through_a_remote_uri() {
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
        .arg(script())
        .arg(front.url())
        .arg(&remote_uri));
    assert!(
        ok && out.contains("OK "),
        "cim_host_resources.py:\n{out}\n{err}"
    );
    drop(remote);
}

/// wbemcli against `base` (`http://host:port` or `https://user:pass@host:port`), with `extra` options first.
fn walk_with_wbemcli(base: &str, extra: &[&str]) {
    let cli = |args: &[&str]| {
        let mut all: Vec<&str> = extra.to_vec();
        all.extend_from_slice(args);
        wbemcli(&all)
    };
    let cpus = cli(&["ein", &format!("{base}/root/cimv2:Linux_Processor")]);
    let count = cpus.trim().lines().count();
    assert!(count > 0, "{cpus}");
    let first = cpus
        .lines()
        .find(|l| l.contains("DeviceID=\"0\""))
        .and_then(|l| l.split_once("root/cimv2:"))
        .map(|(_, p)| p.trim().to_owned())
        .expect("processor 0");
    let out = cli(&["gi", &format!("{base}/root/cimv2:{first}")]);
    assert!(out.contains("Role=\"Central Processor\""), "{out}");
    let pool = format!("{base}/root/virt:KVM_ProcessorPool.InstanceID=\"ProcessorPool/0\"");
    let out = cli(&["ain", "-ac", "KVM_ConcreteComponent", &pool]);
    assert_eq!(out.trim().lines().count(), count, "{out}");
    assert!(out.contains("root/cimv2:Linux_Processor."), "{out}");
    let out = cli(&[
        "ain",
        "-ac",
        "KVM_ConcreteComponent",
        "-arc",
        "Linux_EthernetPort",
        &pool,
    ]);
    assert!(out.trim().is_empty(), "{out}");
    // Role: the pool is the GroupComponent, never the part.
    let out = cli(&[
        "ain",
        "-ar",
        "GroupComponent",
        "-arr",
        "PartComponent",
        &pool,
    ]);
    assert_eq!(out.trim().lines().count(), count, "{out}");
    let out = cli(&[
        "ain",
        "-ac",
        "KVM_ConcreteComponent",
        "-ar",
        "PartComponent",
        &pool,
    ]);
    assert!(out.trim().is_empty(), "{out}");
    let out = cli(&[
        "rin",
        "-arc",
        "KVM_ConcreteComponent",
        &format!("{base}/root/cimv2:{first}"),
    ]);
    assert!(
        out.contains("KVM_ConcreteComponent.") && out.contains("ProcessorPool/0"),
        "{out}"
    );
    // The test driver's default network and its bridge, both ways.
    let net = format!("{base}/root/virt:KVM_NetworkPool.InstanceID=\"NetworkPool/default\"");
    let out = cli(&["ai", "-ac", "KVM_ConcreteComponent", &net]);
    assert!(
        out.contains("DeviceID=\"virbr0\"") && out.contains("LinkTechnology=2"),
        "{out}"
    );
    let ports = cli(&["ein", &format!("{base}/root/cimv2:Linux_EthernetPort")]);
    let port = ports
        .lines()
        .find_map(|l| {
            l.split_once("root/cimv2:")
                .map(|(_, p)| p.trim().to_owned())
        })
        .expect("a port");
    let out = cli(&[
        "ain",
        "-ac",
        "KVM_ConcreteComponent",
        "-arc",
        "KVM_NetworkPool",
        &format!("{base}/root/cimv2:{port}"),
    ]);
    assert!(out.contains("NetworkPool/default"), "{out}");
    let out = cli(&["ein", &format!("{base}/root/virt:KVM_ConcreteComponent")]);
    assert_eq!(out.trim().lines().count(), count + 1, "{out}");
}

#[test]
fn wbemcli_walks_host_resources_over_http() {
    let wbem = Wbem::start(Options::default());
    walk_with_wbemcli(&wbem.url(), &[]);
}

#[test]
fn wbemcli_walks_host_resources_over_https() {
    let wbem = Wbem::start(Options {
        basic_auth: true,
        https: true,
        ..Options::default()
    });
    let base = format!(
        "https://{USER}:{PASSWORD}@{}",
        wbem.https.expect("https listener")
    );
    walk_with_wbemcli(&base, &["-noverify"]);
}
