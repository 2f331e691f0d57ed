//! The host's node devices and interfaces behind `qemu:///system`, driven by stock virsh and python3-libvirt over
//! virtcimd's sockets (read-write and read-only): PCI devices as sysfs has them, the device tree rooted at
//! `computer`, a bridge this test creates (unique name, removed by a guard) with its port, MAC and address; and,
//! when a stock libvirtd can run here, its own nodedev driver's description of every PCI device as the reference.

use std::path::Path;
use std::process::Command;

use crate::support::daemon::Daemon;
use crate::support::libvirtd::StockLibvirtd;
use crate::support::python::libvirt_python;
use crate::support::virsh::{have_virsh, virsh};

fn system_uri(socket: &Path) -> String {
    format!("qemu:///system?socket={}", socket.display())
}

/// `virsh -c URI ARGS` that must succeed; its stdout.
async fn ok(uri: &str, args: &[&str]) -> String {
    let (success, out, err) = virsh(uri, args).await;
    assert!(success, "virsh {args:?} failed: {err}");
    out
}

fn sysfs(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_string()
}

/// The libvirt names of the PCI functions sysfs lists (`0000:00:01.0` → `pci_0000_00_01_0`).
fn pci_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/bus/pci/devices")
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    format!(
                        "pci_{}",
                        e.file_name().to_string_lossy().replace([':', '.'], "_")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn run_python(script: &str, args: &[&str]) -> Option<String> {
    let python = libvirt_python()?;
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn nodedev_list_shows_the_pci_devices_sysfs_has() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), "");
    let uri = system_uri(&daemon.rw_socket());

    let listed: Vec<String> = ok(&uri, &["nodedev-list", "--cap", "pci"])
        .await
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(listed, pci_names());
    let all = ok(&uri, &["nodedev-list"]).await;
    assert!(all.lines().any(|l| l == "computer"), "{all}");
    assert!(
        all.lines().any(|l| l.starts_with("net_lo_")),
        "the loopback link is a node device: {all}"
    );

    let tree = ok(&uri, &["nodedev-list", "--tree"]).await;
    assert_eq!(tree.lines().next(), Some("computer"), "{tree}");

    if let Some(first) = listed.first() {
        let address = first.trim_start_matches("pci_");
        let (domain, rest) = address.split_at(4);
        let sys = format!(
            "/sys/bus/pci/devices/{domain}:{}:{}.{}",
            &rest[1..3],
            &rest[4..6],
            &rest[7..]
        );
        let xml = ok(&uri, &["nodedev-dumpxml", first]).await;
        let vendor = sysfs(&format!("{sys}/vendor"));
        let device = sysfs(&format!("{sys}/device"));
        assert!(xml.contains(&format!("<vendor id='{vendor}'")), "{xml}");
        assert!(xml.contains(&format!("<product id='{device}'")), "{xml}");
        assert!(xml.contains(&format!("<name>{first}</name>")), "{xml}");
        let info = ok(&uri, &["nodedev-info", first]).await;
        assert!(info.contains("Parent:"), "{info}");
        assert!(info
            .lines()
            .any(|l| l.starts_with("Active:") && l.ends_with("yes")));
    }
    let (success, _, err) = virsh(&uri, &["nodedev-dumpxml", "no_such_device"]).await;
    assert!(!success);
    assert!(
        err.contains("Node device not found: no node device with matching name 'no_such_device'"),
        "{err}"
    );
    // Detaching is a hypervisor call this driver does not make: refused, never faked.
    if let Some(first) = listed.first() {
        let (success, _, err) = virsh(&uri, &["nodedev-detach", first]).await;
        assert!(!success, "detach must not pretend to work");
        assert!(err.contains("not supported"), "{err}");
    }

    // python3-libvirt on the read-only socket: every call here is a read.
    let ro = system_uri(&daemon.ro_socket());
    let script = "import libvirt, sys\n\
        c = libvirt.openReadOnly(sys.argv[1])\n\
        names = sorted(d.name() for d in c.listAllDevices(0))\n\
        assert c.numOfDevices(None, 0) == len(names), names\n\
        assert sorted(c.listDevices('pci', 0)) == [n for n in names if n.startswith('pci_')]\n\
        d = c.nodeDeviceLookupByName('computer')\n\
        assert d.parent() is None and d.listCaps() == ['system'], d.listCaps()\n\
        for n in names:\n    dev = c.nodeDeviceLookupByName(n)\n    assert dev.XMLDesc(0).startswith('<device>')\n    \
        assert dev.numOfCaps() == 1\n\
        print(len(names))\n";
    if let Some(out) = run_python(script, &[&ro]) {
        // computer and at least one link besides the PCI functions.
        assert!(out.trim().parse::<usize>().expect("count") > listed.len() + 1);
    }
}

/// A bridge with one veth port and an address, deleted (with its veth pair) when the test ends.
struct TestLinks {
    bridge: String,
    port: String,
}

impl TestLinks {
    fn new() -> Option<Self> {
        let tag = std::process::id() % 100_000;
        let links = Self {
            bridge: format!("hdbr{tag}"),
            port: format!("hdva{tag}"),
        };
        let peer = format!("hdvb{tag}");
        let address = format!("198.51.100.{}/32", 10 + tag % 200);
        let steps: [&[&str]; 7] = [
            &["link", "add", &links.bridge, "type", "bridge"],
            &[
                "link",
                "add",
                &links.port,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ],
            &["link", "set", &links.port, "master", &links.bridge],
            &["link", "set", &links.port, "up"],
            &["link", "set", &peer, "up"],
            &["link", "set", &links.bridge, "up"],
            &["addr", "add", &address, "dev", &links.bridge],
        ];
        for step in steps {
            let status = Command::new("ip").args(step).status().ok()?;
            if !status.success() {
                eprintln!("ip {step:?} failed, skipping");
                return None;
            }
        }
        Some(links)
    }

    fn address(&self) -> String {
        format!("198.51.100.{}", 10 + (std::process::id() % 100_000) % 200)
    }
}

impl Drop for TestLinks {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both.
        for name in [&self.port, &self.bridge] {
            let _ = Command::new("ip").args(["link", "del", name]).status();
        }
    }
}

#[tokio::test]
async fn iface_list_shows_lo_and_a_bridge_with_its_port_mac_and_address() {
    if !have_virsh() || !nix::unistd::Uid::effective().is_root() {
        eprintln!("virsh missing or not root (creating a bridge needs CAP_NET_ADMIN), skipping");
        return;
    }
    let Some(links) = TestLinks::new() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), "");
    let uri = system_uri(&daemon.rw_socket());
    let mac = sysfs(&format!("/sys/class/net/{}/address", links.bridge));

    let list = ok(&uri, &["iface-list", "--all"]).await;
    let row = |name: &str| {
        list.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(str::to_string)
    };
    assert!(row("lo").is_some(), "{list}");
    let bridge_row = row(&links.bridge).unwrap_or_else(|| panic!("no bridge in {list}"));
    assert!(bridge_row.contains(&mac), "{bridge_row}");
    // A bridge port is part of its bridge's description, not a host interface of its own.
    assert!(row(&links.port).is_none(), "{list}");

    let xml = ok(&uri, &["iface-dumpxml", &links.bridge]).await;
    assert!(
        xml.starts_with(&format!(
            "<interface type='bridge' name='{}'>",
            links.bridge
        )),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("<ip address='{}' prefix='32'/>", links.address())),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<interface type='ethernet' name='{}'>",
            links.port
        )),
        "{xml}"
    );
    let inactive = ok(&uri, &["iface-dumpxml", &links.bridge, "--inactive"]).await;
    assert!(!inactive.contains("<protocol"), "{inactive}");

    assert_eq!(ok(&uri, &["iface-mac", &links.bridge]).await.trim(), mac);
    assert_eq!(ok(&uri, &["iface-name", &mac]).await.trim(), links.bridge);
    let (success, _, err) = virsh(&uri, &["iface-undefine", &links.bridge]).await;
    assert!(!success);
    assert!(
        err.contains(
            "this function is not supported by the connection driver: virInterfaceUndefine"
        ),
        "{err}"
    );

    let ro = system_uri(&daemon.ro_socket());
    let script = "import libvirt, sys\n\
        c = libvirt.openReadOnly(sys.argv[1])\n\
        names = [i.name() for i in c.listAllInterfaces(0)]\n\
        assert 'lo' in names and sys.argv[2] in names, names\n\
        i = c.interfaceLookupByMACString(sys.argv[3])\n\
        assert i.name() == sys.argv[2] and i.MACString() == sys.argv[3]\n\
        assert i.isActive() == 1\n\
        assert sys.argv[2] in [x.name() for x in c.listAllInterfaces(libvirt.VIR_CONNECT_LIST_INTERFACES_ACTIVE)]\n\
        assert '<bridge' in i.XMLDesc(0)\n\
        print('ok')\n";
    if let Some(out) = run_python(script, &[&ro, &links.bridge, &mac]) {
        assert_eq!(out.trim(), "ok");
    }
}

#[tokio::test]
async fn pci_devices_and_lo_read_as_a_stock_libvirtd_describes_them() {
    if !have_virsh() || !StockLibvirtd::available() {
        return;
    }
    let nodedev =
        Path::new("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_nodedev.so");
    if !nodedev.exists() {
        eprintln!("libvirt's nodedev driver is not installed, skipping");
        return;
    }
    // The harness points libvirtd at `emptydrivers` in its dir; the nodedev driver put there is the only one
    // it loads.
    let peer_dir = tempfile::tempdir().expect("tempdir");
    let drivers = peer_dir.path().join("emptydrivers");
    std::fs::create_dir_all(&drivers).expect("drivers dir");
    std::os::unix::fs::symlink(nodedev, drivers.join("libvirt_driver_nodedev.so")).expect("link");
    let port = crate::support::free_port();
    let settings = format!(
        "listen_tls = 0\nlisten_tcp = 1\nlisten_addr = \"127.0.0.1\"\ntcp_port = \"{port}\"\n\
         auth_tcp = \"none\"\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\""
    );
    let Some(peer) = StockLibvirtd::start(peer_dir, port, &settings, &[]) else {
        return;
    };
    let reference = format!("nodedev:///system?socket={}", peer.socket().display());

    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), "");
    let ours = system_uri(&daemon.rw_socket());

    let theirs = ok(&reference, &["nodedev-list", "--cap", "pci"]).await;
    assert_eq!(ok(&ours, &["nodedev-list", "--cap", "pci"]).await, theirs);
    // The loopback link too: its name, link state and offload features (read over ethtool netlink here, with
    // ioctls by libvirt). Links other tests add and remove meanwhile are left out.
    let lo = ok(&reference, &["nodedev-list", "--cap", "net"])
        .await
        .lines()
        .find(|l| l.starts_with("net_lo_"))
        .map(str::to_string);
    for name in theirs
        .lines()
        .filter(|l| !l.is_empty())
        .chain(lo.as_deref())
    {
        assert_eq!(
            ok(&ours, &["nodedev-dumpxml", name]).await,
            ok(&reference, &["nodedev-dumpxml", name]).await,
            "{name} differs from libvirt's description"
        );
    }
}

/// The test driver's node devices against libvirt's own embedded test driver: the same devices, XML, parents
/// and capability filters, and the same refusal of the ACTIVE filter stock virsh's nodedev-list sends.
#[tokio::test]
async fn test_driver_node_devices_match_libvirts_embedded_one() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), "");
    let ours = format!(
        "test+unix:///default?socket={}",
        daemon.rw_socket().display()
    );
    let reference = "test:///default";
    for name in ["computer", "scsi_host1", "scsi_host11", "scsi_host2"] {
        assert_eq!(
            ok(&ours, &["nodedev-dumpxml", name]).await,
            ok(reference, &["nodedev-dumpxml", name]).await,
            "{name}"
        );
    }
    for args in [
        &["nodedev-list"][..],
        &["nodedev-dumpxml", "nope"],
        &["nodedev-info", "scsi_host11"],
    ] {
        let (ok_ours, out_ours, err_ours) = virsh(&ours, args).await;
        let (ok_ref, out_ref, err_ref) = virsh(reference, args).await;
        assert_eq!((ok_ours, &out_ours), (ok_ref, &out_ref), "{args:?}");
        // The first line names what failed; the second is libvirt's message.
        assert_eq!(err_ours.lines().last(), err_ref.lines().last(), "{args:?}");
    }
    let script = "import libvirt, sys\n\
        c = libvirt.open(sys.argv[1])\n\
        out = [sorted(c.listDevices(None, 0)), sorted(c.listDevices('fc_host', 0)),\n\
               sorted(c.listDevices('vports', 0)), c.listDevices('bogus', 0), c.numOfDevices('scsi_host', 0)]\n\
        for n in sorted(c.listDevices(None, 0)):\n    d = c.nodeDeviceLookupByName(n)\n    \
        out.append((n, d.parent(), d.numOfCaps(), d.listCaps()))\n\
        print(out)\n";
    if let (Some(theirs), Some(mine)) = (
        run_python(script, &[reference]),
        run_python(script, &[&ours]),
    ) {
        assert_eq!(mine, theirs);
    }
}
