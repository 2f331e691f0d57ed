//! Live device changes on a running QEMU guest served by virtcimd, driven by stock virsh (attach-disk,
//! detach-disk, change-media, attach-interface, detach-interface, send-key) and python3-libvirt
//! (attachDeviceFlags / detachDeviceFlags). QEMU's own view is read from /proc (the image files it holds open)
//! and /sys (the tap on the test's bridge).
//!
//! Needs root and /dev/net/tun for the NIC part (skipped otherwise); each test uses its own daemon, guest names
//! and bridge (with the pid in them) and removes them, and its Drop guards kill only the QEMUs its daemon started.

use crate::daemon::{ok, peers_present, run, Daemon, QemuReaper};
use crate::support::qemu::{alone_async, spinning_disk};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The files QEMU `pid` holds open.
fn open_files(pid: i32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .map_while(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn holds(pid: i32, path: &Path) -> bool {
    let path = path.to_string_lossy();
    open_files(pid).iter().any(|f| *f == path)
}

fn wait_until(what: &str, check: impl FnMut() -> bool) {
    assert!(
        crate::support::wait_for(Duration::from_secs(10), check),
        "timed out waiting for {what}"
    );
}

/// virsh's stderr for a command that must fail.
fn fails(uri: &str, args: &[&str]) -> String {
    let out = run("virsh", uri, args);
    assert!(!out.status.success(), "virsh {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn image(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, vec![0u8; 1 << 20]).expect("image");
    path
}

/// A guest with an IDE disk that spins and an empty IDE CD-ROM drive; without ACPI its PCI bus takes no hotplug.
fn define_guest(uri: &str, dir: &Path, name: &str) {
    define_guest_with(uri, dir, name, "<features><acpi/></features>");
}

fn define_guest_with(uri: &str, dir: &Path, name: &str, features: &str) {
    let disk = spinning_disk(dir);
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>48</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\
         {features}<devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk>\
         <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='hdc' bus='ide'/>\
         <readonly/></disk></devices></domain>",
        disk.display()
    );
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, xml).expect("xml");
    ok("virsh", uri, &["define", &path.to_string_lossy()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virsh_attaches_and_detaches_disks_and_changes_media_live() {
    if !peers_present() {
        return;
    }
    // Hotplug waits on QEMU's monitor, whose answers slow past the driver's timeout when other guests load CI.
    let _guests = alone_async().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let reaper = QemuReaper::default();
    let uri = daemon.uri();
    let name = format!("hotplug-{}", std::process::id());
    define_guest(&uri, tmp.path(), &name);
    ok("virsh", &uri, &["start", &name]);
    let pid = daemon.qemu_pid(&name);
    reaper.watch(pid);

    // A SCSI disk: the virtio-scsi controller comes with it; unplug completes without the guest.
    let scsi = image(tmp.path(), "scsi.img");
    let scsi_path = scsi.to_string_lossy();
    ok(
        "virsh",
        &uri,
        &[
            "attach-disk",
            &name,
            &scsi_path,
            "sdb",
            "--targetbus",
            "scsi",
            "--live",
        ],
    );
    assert!(holds(pid, &scsi), "QEMU does not hold {scsi_path} open");
    let xml = ok("virsh", &uri, &["dumpxml", &name]);
    assert!(xml.contains("<target dev='sdb' bus='scsi'/>"), "{xml}");
    assert!(
        xml.contains("<controller type='scsi' index='0' model='virtio-scsi'/>"),
        "{xml}"
    );
    let list = ok("virsh", &uri, &["domblklist", &name]);
    assert!(
        list.lines()
            .any(|l| l.contains("sdb") && l.contains(&*scsi_path)),
        "{list}"
    );
    // The persistent definition is untouched by a live change.
    let inactive = ok("virsh", &uri, &["dumpxml", "--inactive", &name]);
    assert!(!inactive.contains("sdb"), "{inactive}");

    // A target in use is refused, and so is the same target again.
    let err = fails(
        &uri,
        &[
            "attach-disk",
            &name,
            &scsi_path,
            "sdb",
            "--targetbus",
            "scsi",
            "--live",
        ],
    );
    assert!(err.contains("target sdb already exists"), "{err}");

    // virsh event hears QEMU confirm the removal.
    let watcher = Command::new("virsh")
        .args([
            "-c",
            &uri,
            "event",
            "--domain",
            &name,
            "--event",
            "device-removed",
        ])
        .args(["--timeout", "20"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("virsh event");
    std::thread::sleep(Duration::from_millis(700));
    ok("virsh", &uri, &["detach-disk", &name, "sdb", "--live"]);
    let heard = watcher.wait_with_output().expect("virsh event output");
    let heard = String::from_utf8_lossy(&heard.stdout);
    assert!(
        heard.contains(&format!(
            "event 'device-removed' for domain '{name}': scsi0-0-0-1"
        )),
        "{heard}"
    );
    let xml = ok("virsh", &uri, &["dumpxml", &name]);
    assert!(!xml.contains("dev='sdb'"), "{xml}");
    wait_until("QEMU to close the SCSI image", || !holds(pid, &scsi));

    // A USB disk.
    let usb = image(tmp.path(), "usb.img");
    ok(
        "virsh",
        &uri,
        &[
            "attach-disk",
            &name,
            &usb.to_string_lossy(),
            "sdc",
            "--targetbus",
            "usb",
            "--live",
        ],
    );
    assert!(holds(pid, &usb));
    assert!(ok("virsh", &uri, &["dumpxml", &name]).contains("<target dev='sdc' bus='usb'/>"));
    ok("virsh", &uri, &["detach-disk", &name, "sdc", "--live"]);
    wait_until("QEMU to close the USB image", || !holds(pid, &usb));
    assert!(!ok("virsh", &uri, &["dumpxml", &name]).contains("dev='sdc'"));

    // CD-ROM media: insert, swap, eject.
    let cd1 = image(tmp.path(), "cd1.iso");
    let cd2 = image(tmp.path(), "cd2.iso");
    ok(
        "virsh",
        &uri,
        &[
            "change-media",
            &name,
            "hdc",
            &cd1.to_string_lossy(),
            "--insert",
            "--live",
        ],
    );
    assert!(holds(pid, &cd1));
    assert!(ok("virsh", &uri, &["domblklist", &name]).contains(&*cd1.to_string_lossy()));
    ok(
        "virsh",
        &uri,
        &[
            "change-media",
            &name,
            "hdc",
            &cd2.to_string_lossy(),
            "--update",
            "--live",
        ],
    );
    wait_until("QEMU to swap the medium", || {
        holds(pid, &cd2) && !holds(pid, &cd1)
    });
    ok(
        "virsh",
        &uri,
        &["change-media", &name, "hdc", "--eject", "--live"],
    );
    wait_until("QEMU to let go of the medium", || !holds(pid, &cd2));
    let list = ok("virsh", &uri, &["domblklist", &name]);
    assert!(!list.contains("cd2.iso"), "{list}");

    // IDE cannot be hot-plugged.
    let spare = image(tmp.path(), "spare.img");
    let err = fails(
        &uri,
        &[
            "attach-disk",
            &name,
            &spare.to_string_lossy(),
            "hdb",
            "--targetbus",
            "ide",
            "--live",
        ],
    );
    assert!(err.contains("disk bus 'ide' cannot be hotplugged"), "{err}");

    // --config on a running guest changes only the persistent definition.
    ok(
        "virsh",
        &uri,
        &[
            "attach-disk",
            &name,
            &spare.to_string_lossy(),
            "vdb",
            "--config",
        ],
    );
    assert!(ok("virsh", &uri, &["dumpxml", "--inactive", &name])
        .contains("<target dev='vdb' bus='virtio'/>"));
    assert!(!ok("virsh", &uri, &["dumpxml", &name]).contains("dev='vdb'"));
    assert!(!holds(pid, &spare));
    ok("virsh", &uri, &["detach-disk", &name, "vdb", "--config"]);
    assert!(!ok("virsh", &uri, &["dumpxml", "--inactive", &name]).contains("dev='vdb'"));

    // Keys reach QEMU (which accepts them for its PS/2 keyboard); a code without an XT equivalent is refused.
    ok("virsh", &uri, &["send-key", &name, "KEY_A", "KEY_ENTER"]);
    ok(
        "virsh",
        &uri,
        &["send-key", &name, "--codeset", "xt", "0x1e"],
    );

    // The guest's clock needs a guest agent, which this guest has not.
    let err = fails(&uri, &["domtime", &name]);
    assert!(err.contains("QEMU guest agent is not configured"), "{err}");

    ok("virsh", &uri, &["destroy", &name]);
    // Live changes need a running guest.
    let err = fails(
        &uri,
        &[
            "attach-disk",
            &name,
            &spare.to_string_lossy(),
            "sdd",
            "--targetbus",
            "scsi",
            "--live",
        ],
    );
    assert!(err.contains("domain is not running"), "{err}");
    ok("virsh", &uri, &["undefine", &name]);
}

/// Why the NIC test cannot run here, if it cannot.
fn no_bridging() -> Option<&'static str> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not root (bridges and taps need CAP_NET_ADMIN)");
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing");
    }
    None
}

/// A bridge of the test's own, deleted when the test ends.
struct TestBridge(String);

impl TestBridge {
    fn new() -> Self {
        let name = format!("vchp{}", std::process::id() % 100_000);
        let status = Command::new("ip")
            .args(["link", "add", &name, "type", "bridge"])
            .status()
            .expect("ip");
        assert!(status.success(), "cannot create bridge {name}");
        Self(name)
    }
}

impl Drop for TestBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

fn tap_of(xml: &str, mac: &str) -> String {
    let at = xml.find(mac).unwrap_or_else(|| panic!("no {mac} in {xml}"));
    let rest = &xml[at..];
    let start = rest.find("<target dev='").expect("a tap in the live XML") + "<target dev='".len();
    rest[start..]
        .split('\'')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nics_attach_to_a_bridge_through_a_tap_and_python_attaches_devices() {
    if !peers_present() {
        return;
    }
    if let Some(why) = no_bridging() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let _guests = alone_async().await;
    let bridge = TestBridge::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let reaper = QemuReaper::default();
    let uri = daemon.uri();
    let name = format!("hotnic-{}", std::process::id());
    define_guest(&uri, tmp.path(), &name);
    ok("virsh", &uri, &["start", &name]);
    let pid = daemon.qemu_pid(&name);
    reaper.watch(pid);

    let mac = "52:54:00:6b:0c:01";
    ok(
        "virsh",
        &uri,
        &[
            "attach-interface",
            &name,
            "bridge",
            &bridge.0,
            "--mac",
            mac,
            "--model",
            "virtio",
            "--live",
        ],
    );
    let xml = ok("virsh", &uri, &["dumpxml", &name]);
    let tap = tap_of(&xml, mac);
    let tap_index = crate::support::qemu::link_index(&tap);
    let master =
        std::fs::read_link(format!("/sys/class/net/{tap}/master")).expect("tap has a master");
    assert!(master.ends_with(&bridge.0), "{tap} is on {master:?}");
    let err = fails(
        &uri,
        &[
            "attach-interface",
            &name,
            "bridge",
            &bridge.0,
            "--mac",
            mac,
            "--live",
        ],
    );
    assert!(err.contains(&format!("mac {mac} already exists")), "{err}");
    let listed = ok("virsh", &uri, &["domiflist", &name]);
    assert!(listed.contains(mac), "{listed}");

    // virtio-net unplug needs the guest's consent (PCI hot-unplug through ACPI): a guest without an OS never
    // gives it, so the request stays pending and the NIC stays listed.
    ok(
        "virsh",
        &uri,
        &["detach-interface", &name, "bridge", "--mac", mac, "--live"],
    );
    assert!(ok("virsh", &uri, &["dumpxml", &name]).contains(mac));
    assert!(Path::new(&format!("/sys/class/net/{tap}")).exists());

    // python3-libvirt: a USB disk attached and detached through the flags APIs.
    if let Some(python) = crate::support::python::libvirt_python() {
        let img = image(tmp.path(), "py.img");
        let disk = format!(
            "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
             <target dev='sde' bus='usb'/></disk>",
            img.display()
        );
        let script = String::from(
            "import libvirt, sys\n\
             c = libvirt.open(sys.argv[1])\n\
             d = c.lookupByName(sys.argv[2])\n\
             d.attachDeviceFlags(sys.argv[3], libvirt.VIR_DOMAIN_AFFECT_LIVE)\n\
             assert \"dev='sde'\" in d.XMLDesc(0)\n\
             d.detachDeviceFlags(sys.argv[3], libvirt.VIR_DOMAIN_AFFECT_LIVE)\n\
             assert \"dev='sde'\" not in d.XMLDesc(0)\n\
             try:\n    d.attachDeviceFlags('<input type=\"tablet\" bus=\"usb\"/>', libvirt.VIR_DOMAIN_AFFECT_LIVE)\n    sys.exit('attached an input device')\n\
             except libvirt.libvirtError as e:\n    assert e.get_error_code() == libvirt.VIR_ERR_OPERATION_UNSUPPORTED, e\n    print(e)\n"
        );
        let out = Command::new(python)
            .args(["-c", &script, &uri, &name, &disk])
            .output()
            .expect("python");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("live attach of device 'input' is not supported"),
            "{text}"
        );
        wait_until("QEMU to close the python disk", || !holds(pid, &img));
    }

    ok("virsh", &uri, &["destroy", &name]);
    wait_until("the tap to go", || {
        crate::support::qemu::link_gone(&tap, &tap_index)
    });
    ok("virsh", &uri, &["undefine", &name]);

    // A PCI bus without hotplug (no ACPI): QEMU refuses the device, and what was made for it goes again.
    let stiff = format!("stiff-{}", std::process::id());
    define_guest_with(&uri, tmp.path(), &stiff, "");
    ok("virsh", &uri, &["start", &stiff]);
    let pid = daemon.qemu_pid(&stiff);
    reaper.watch(pid);
    let img = image(tmp.path(), "stiff.img");
    let err = fails(
        &uri,
        &[
            "attach-disk",
            &stiff,
            &img.to_string_lossy(),
            "vdb",
            "--live",
        ],
    );
    assert!(err.contains("does not support hotplugging"), "{err}");
    assert!(!holds(pid, &img), "the block node outlived a failed attach");
    assert!(!ok("virsh", &uri, &["dumpxml", &stiff]).contains("dev='vdb'"));
    let target = format!("vchpt{}", std::process::id() % 100_000);
    let err = fails(
        &uri,
        &[
            "attach-interface",
            &stiff,
            "bridge",
            &bridge.0,
            "--target",
            &target,
            "--live",
        ],
    );
    assert!(err.contains("does not support hotplugging"), "{err}");
    assert!(
        !Path::new(&format!("/sys/class/net/{target}")).exists(),
        "the tap outlived a failed attach"
    );
    ok("virsh", &uri, &["destroy", &stiff]);
    ok("virsh", &uri, &["undefine", &stiff]);
}
