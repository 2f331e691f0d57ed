//! Applications built on libvirt, unchanged, against the host networks of `qemu:///system` served by virtcimd:
//! `virt-install --network network=NAME` creates and starts a real QEMU guest whose tap joins the network's bridge;
//! `libvirt-dbus` (on a private D-Bus the test starts) lists the networks over D-Bus; and the WBEM front end of the
//! same daemon (`wbem_connect_uri = "qemu:///system"`) shows each active network as a `KVM_NetworkPool` with its
//! capabilities and the guest's NIC allocated from it (pywbem).
//!
//! Everything runs in the namespaces of a [`Lab`] (see `network.rs`); the D-Bus daemon and libvirt-dbus are killed
//! by a guard, however the test ends.

use super::network::{must, run, unavailable, Lab};
use crate::support::python::venv_python;
use crate::support::qemu::{have_qemu, spinning_disk};
use crate::support::{have, wait_for};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Processes the test started; killed and reaped on drop.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virt_install_libvirt_dbus_and_cim_on_host_networks() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    if !have_qemu() {
        eprintln!("SKIPPED: qemu-system-x86_64 is not installed");
        return;
    }
    for (program, arg) in [
        ("virt-install", "--version"),
        ("dbus-daemon", "--version"),
        ("busctl", "--version"),
        ("/usr/sbin/libvirt-dbus", "--help"),
    ] {
        assert!(
            have(program, arg),
            "{program} is not installed (tests/run installs virtinst, dbus and libvirt-dbus)"
        );
    }
    let _guests = crate::support::qemu::alongside().await;
    tokio::task::block_in_place(scenario);
}

fn scenario() {
    let mut lab = Lab::named("a");
    lab.add_config(
        "listen_wbem_http = 1\nwbem_http_port = 0\nwbem_listen_addr = \"127.0.0.1\"\n\
         wbem_auth = \"none\"\nwbem_connect_uri = \"qemu:///system\"\n",
    );
    lab.start();
    let wbem = lab
        .daemon
        .as_ref()
        .unwrap()
        .logged_addr("WBEM HTTP listening")
        .expect("WBEM listener");
    let tag = std::process::id() % 100_000;
    let (net, bridge, idle) = (
        format!("vcapp{tag}"),
        format!("vcab{tag}"),
        format!("vcidle{tag}"),
    );
    let xml = format!(
        "<network><name>{net}</name><bridge name='{bridge}'/>\
         <ip address='10.215.3.1' prefix='24'><dhcp><range start='10.215.3.10' end='10.215.3.20'/></dhcp></ip></network>"
    );
    lab.ok(&["net-define", &lab.write("app.xml", &xml)]);
    lab.ok(&["net-start", &net]);
    let idle_xml = format!(
        "<network><name>{idle}</name><bridge name='vcai{tag}'/><ip address='10.215.4.1' prefix='24'/></network>"
    );
    lab.ok(&["net-define", &lab.write("idle.xml", &idle_xml)]);

    // virt-install creates and starts a guest on the network.
    let guest = format!("vcvi{tag}");
    let mac = "52:54:00:6f:00:42";
    // virt-install makes a storage pool of the disk's directory, named after it (a temp dir's name starts with a
    // dot, which pool names may not).
    let images = lab.dir.path().join(format!("vcimages{tag}"));
    std::fs::create_dir(&images).unwrap();
    let disk = spinning_disk(&images);
    let out = Command::new("virt-install")
        .args([
            "--connect",
            &lab.uri(),
            "--name",
            &guest,
            "--memory",
            "64",
            "--vcpus",
            "1",
            "--import",
            "--disk",
            &format!("path={},format=raw,bus=ide", disk.display()),
            "--network",
            &format!("network={net},mac={mac},model=e1000"),
            "--graphics",
            "none",
            "--noautoconsole",
            "--osinfo",
            "detect=on,require=off",
            // A named model rather than virt-install's default host-passthrough: under some nested KVM hosts
            // QEMU 7.2's `-cpu host` aborts at start ("failed to set MSR 0x10a"), as it would under libvirtd;
            // the CPU is not what this test is about (`-cpu host` has its own argv test).
            "--cpu",
            "qemu64",
        ])
        .env("LIBVIRT_AUTOSTART", "0")
        .stdin(Stdio::null())
        .output()
        .expect("virt-install runs");
    assert!(out.status.success(), "virt-install: {}", text(&out));
    let state = lab.ok(&["domstate", &guest]);
    assert_eq!(state.trim(), "running");
    let iflist = lab.ok(&["domiflist", &guest]);
    let tap = iflist
        .lines()
        .find(|l| l.contains(mac))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no NIC {mac} in\n{iflist}"))
        .to_string();
    assert!(iflist.contains(&net), "{iflist}");
    let link = text(&lab.inside(&["ip", "link", "show", &tap]));
    assert!(link.contains(&format!("master {bridge}")), "{link}");

    // libvirt-dbus, on a bus of our own, reaches the daemon through a private mount of /run/libvirt, on a
    // private /run: the host may have no /run/libvirt (no libvirtd ever ran there), and none is made on it.
    let bus = lab.dir.path().join("bus");
    let address = format!("unix:path={}", bus.display());
    let mut children = Children(Vec::new());
    children.0.push(
        Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon"),
    );
    assert!(wait_for(Duration::from_secs(10), || bus.exists()));
    children.0.push(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "--", "sh", "-c"])
            .arg(
                "mount -t tmpfs tmpfs /run && mkdir /run/libvirt && mount --bind \"$1\" /run/libvirt \
                 && exec /usr/sbin/libvirt-dbus --system",
            )
            .arg("sh")
            .arg(lab.dir.path().join("run"))
            .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
            .env("LIBVIRT_AUTOSTART", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("libvirt-dbus"),
    );
    let uuid = lab.ok(&["net-uuid", &net]).trim().replace('-', "_");
    let mut listed = String::new();
    let found = wait_for(Duration::from_secs(30), || {
        let out = run(
            "busctl",
            &[
                &format!("--address={address}"),
                "call",
                "org.libvirt",
                "/org/libvirt/QEMU",
                "org.libvirt.Connect",
                "ListNetworks",
                "u",
                "0",
            ],
        );
        listed = text(&out);
        out.status.success() && listed.contains(&uuid)
    });
    assert!(
        found,
        "libvirt-dbus ListNetworks: {listed}\nthe daemon's socket dir holds: {:?}; libvirt-dbus exited: {:?}",
        std::fs::read_dir(lab.dir.path().join("run"))
            .map(|dir| dir.flatten().map(|e| e.file_name()).collect::<Vec<_>>()),
        children.0.last_mut().map(|child| child.try_wait())
    );
    assert!(listed.starts_with("ao 2 "), "{listed}");
    let path = format!("/org/libvirt/QEMU/network/_{uuid}");
    let name = must(
        "busctl",
        &[
            &format!("--address={address}"),
            "get-property",
            "org.libvirt",
            &path,
            "org.libvirt.Network",
            "Name",
        ],
    );
    assert_eq!(name.trim(), format!("s \"{net}\""));
    let active = must(
        "busctl",
        &[
            &format!("--address={address}"),
            "get-property",
            "org.libvirt",
            &path,
            "org.libvirt.Network",
            "Active",
        ],
    );
    assert_eq!(active.trim(), "b true");
    drop(children);

    // The CIM view of the same daemon: pywbem in the daemon's namespace (the listener is on its loopback).
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/cim_netpools.py");
    let python = venv_python();
    let out = run(
        "ip",
        &[
            "netns",
            "exec",
            &lab.ns,
            python.to_str().unwrap(),
            script,
            &format!("http://{wbem}"),
            &guest,
            mac,
            &format!("{net}={bridge}"),
            &format!("-{idle}"),
        ],
    );
    let said = text(&out);
    assert!(out.status.success() && said.contains("OK "), "{said}");

    lab.ok(&["destroy", &guest]);
    lab.ok(&["undefine", &guest]);
    lab.ok(&["net-destroy", &net]);
    lab.ok(&["net-undefine", &net]);
    lab.ok(&["net-undefine", &idle]);
    lab.stop();
}
