//! Console redirection over QEMU: a virtcimd serving `qemu:///system` to WBEM; a guest with an autoport VNC console
//! on 127.0.0.1, a SPICE console on a free port and a serial pty console. Its `KVM_KVMRedirectionSAP`s carry the
//! ports QEMU really listens on (an RFB client connects there), a connected client shows as its own session SAP
//! (as libvirt-CIM reads the host's TCP table) and EnabledState follows the guest's start and destroy. The serial
//! console is a `KVM_TextRedirectionSAP` naming the pty QEMU opened.
//!
//! The test SIGKILLs every QEMU its daemon started when it ends, however it ends.

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::cim::{virsh, Daemon, QemuReaper};
use crate::support::qemu::spinning_disk;
use crate::support::{free_port, have, wait_for};

/// (Name, EnabledState, KVMProtocol) of every KVM SAP of `guest`, read through its KVM_SAPAvailableForElement, and
/// checked against the enumeration and the service's KVM_ServiceAccessBySAP.
fn saps(python: &Path, daemon: &Daemon, guest: &str) -> Vec<(String, u16, u16)> {
    read_saps(python, daemon, guest)
        .lines()
        .filter_map(|l| l.strip_prefix("sap "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].to_owned(),
                f[1].parse().expect("state"),
                f[2].parse().expect("protocol"),
            )
        })
        .collect()
}

/// "DeviceName EnabledState CharDeviceType ConsoleAddress" of every text SAP of `guest`.
fn text_saps(python: &Path, daemon: &Daemon, guest: &str) -> Vec<String> {
    read_saps(python, daemon, guest)
        .lines()
        .filter_map(|l| l.strip_prefix("text "))
        .map(str::to_owned)
        .collect()
}

fn read_saps(python: &Path, daemon: &Daemon, guest: &str) -> String {
    let script = r#"
import sys, pywbem
conn = pywbem.WBEMConnection(sys.argv[1], None, default_namespace="root/virt")
cs = pywbem.CIMInstanceName("KVM_ComputerSystem", {"CreationClassName": "KVM_ComputerSystem", "Name": sys.argv[2]},
                            namespace="root/virt")
found = conn.Associators(cs, AssocClass="KVM_SAPAvailableForElement")
mine = [i for i in found if i.classname == "KVM_KVMRedirectionSAP"]
texts = [i for i in found if i.classname == "KVM_TextRedirectionSAP"]
assert len(mine) + len(texts) == len(found), found
listed = [i for i in conn.EnumerateInstances("KVM_KVMRedirectionSAP") if i["SystemName"] == sys.argv[2]]
assert sorted(i["Name"] for i in mine) == sorted(i["Name"] for i in listed), (mine, listed)
svc = conn.EnumerateInstanceNames("KVM_ConsoleRedirectionService")[0]
by_service = [p["Name"] for p in conn.AssociatorNames(svc, AssocClass="KVM_ServiceAccessBySAP")
              if p["SystemName"] == sys.argv[2]]
assert sorted(by_service) == sorted(i["Name"] for i in mine + texts), (by_service, mine, texts)
for i in sorted(mine, key=lambda i: i["Name"]):
    print("sap %s %d %d" % (i["Name"], i["EnabledState"], i["KVMProtocol"]))
for i in sorted(texts, key=lambda i: i["Name"]):
    print("text %s %d %s %s" % (i["DeviceName"], i["EnabledState"], i["CharDeviceType"], i["ConsoleAddress"]))
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(format!("http://{}", daemon.wbem))
        .arg(guest)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.into_owned()
}

#[test]
fn cim_console_saps_follow_a_qemu_guest_and_its_vnc_clients() {
    if !(have("virsh", "--version") && have("qemu-system-x86_64", "--version")) {
        eprintln!("virsh or qemu-system-x86_64 not installed, skipping");
        return;
    }
    let python = crate::support::python::venv_python();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let mut reaper = QemuReaper(Vec::new());
    let uri = daemon.rpc_uri();
    let name = format!("cimvnc-{}", std::process::id());
    let spice = free_port();
    let xml = tmp.path().join("cimvnc.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>\
             <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
             <target dev='hda' bus='ide'/></disk>\
             <serial type='pty'><target port='0'/></serial><console type='pty'><target type='serial'/></console>\
             <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>\
             <graphics type='spice' port='{spice}' autoport='no' listen='127.0.0.1'/></devices></domain>",
            spinning_disk(tmp.path()).display()
        ),
    )
    .expect("guest xml");
    virsh(&uri, &["define", &xml.to_string_lossy()]);

    // Shut off: the autoport console has no port yet; both are disabled; the pty console is no KVM redirection.
    let spice_off = (format!("{spice}:-1"), 3, 1);
    assert_eq!(
        saps(&python, &daemon, &name),
        [("-1:-1".to_owned(), 3, 4), spice_off.clone()]
    );

    virsh(&uri, &["start", &name]);
    reaper.0.push(daemon.qemu_pid(&name));
    let display = virsh(&uri, &["domdisplay", &name]);
    let port: u16 = display
        .trim()
        .rsplit_once(':')
        .and_then(|(_, d)| d.trim_end_matches('/').parse::<u16>().ok())
        .map(|d| 5900 + d)
        .unwrap_or_else(|| panic!("domdisplay: {display}"));
    let listening = format!("{port}:0");
    let spice_on = (format!("{spice}:0"), 6, 1);
    let idle = {
        let mut idle = vec![(listening.clone(), 6, 4), spice_on.clone()];
        idle.sort();
        idle
    };
    assert_eq!(
        saps(&python, &daemon, &name),
        idle,
        "running guest, no client"
    );
    // The serial and its console are text SAPs naming the pty QEMU opened, the one the live XML names.
    let live = virsh(&uri, &["dumpxml", &name]);
    let tty = live
        .split("path='")
        .skip(1)
        .filter_map(|rest| rest.split('\'').next())
        .find(|p| p.starts_with("/dev/pts/"))
        .unwrap_or_else(|| panic!("no pty in the live XML: {live}"))
        .to_owned();
    assert!(
        tty.starts_with("/dev/pts/") && Path::new(&tty).exists(),
        "{tty}"
    );
    assert_eq!(
        text_saps(&python, &daemon, &name),
        [
            format!("console0 2 pty {tty}"),
            format!("serial0 2 pty {tty}")
        ]
    );
    // QEMU listens on the SPICE SAP's port too.
    drop(TcpStream::connect(("127.0.0.1", spice)).expect("connect to the SPICE port"));

    // An RFB client on the SAP's port: QEMU greets it, and its session is a SAP of its own.
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect to the VNC port");
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut banner = [0u8; 12];
    client.read_exact(&mut banner).expect("RFB banner");
    assert!(banner.starts_with(b"RFB "), "{banner:?}");
    let session = format!("{port}:{}", client.local_addr().expect("local").port());
    let found = saps(&python, &daemon, &name);
    assert!(
        found.contains(&(listening.clone(), 6, 4))
            && found.contains(&(session.clone(), 2, 4))
            && found.contains(&spice_on),
        "{found:?}"
    );
    drop(client);
    assert!(
        wait_for(Duration::from_secs(30), || saps(&python, &daemon, &name)
            == idle),
        "the closed session stays: {:?}",
        saps(&python, &daemon, &name)
    );

    virsh(&uri, &["destroy", &name]);
    assert_eq!(
        saps(&python, &daemon, &name),
        [("-1:-1".to_owned(), 3, 4), spice_off]
    );
    assert_eq!(
        text_saps(&python, &daemon, &name),
        ["console0 3 pty None", "serial0 3 pty None"]
    );
    virsh(&uri, &["undefine", &name]);
}
