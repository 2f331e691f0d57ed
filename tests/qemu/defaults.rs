//! What a define adds, compared with a stock libvirtd 9.0: every guest `tests/data/qemu/defaults/NAME.xml` (pc
//! and q35 with virtio/sata/ide/scsi disks, cdroms, e1000/e1000e/virtio NICs, vnc/spice, USB, inputs, serial,
//! channel, controllers given partly) is defined on virtcimd with stock virsh, and `virsh dumpxml --inactive`
//! must equal `NAME.libvirt.xml`, libvirtd's answer to the same define (captured by `capture.sh` there), once
//! the generated uuid and MAC addresses are masked.

use std::path::{Path, PathBuf};

use super::daemon::{ok, Daemon};
use crate::support::qemu::have_qemu;
use crate::support::virsh::have_virsh;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/qemu/defaults")
}

/// The XML with what each daemon generates at random (uuid, MAC addresses) masked.
fn normalise(xml: &str) -> String {
    let mut out = String::new();
    for line in xml.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed.starts_with("<uuid>") {
            out.push_str(&format!("{indent}<uuid>UUID</uuid>\n"));
        } else if trimmed.starts_with("<mac address=") {
            out.push_str(&format!("{indent}<mac address='MAC'/>\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.trim_end().to_string() + "\n"
}

/// The guests of the comparison, by name.
pub(crate) fn guests() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".xml")?;
            (!stem.ends_with(".libvirt")).then(|| stem.to_string())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn defined_guests_read_like_libvirtds() {
    if !have_virsh() || !have_qemu() {
        panic!("virsh and qemu-system-x86_64 are needed (tests/run installs them)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let uri = daemon.uri();
    let names = guests();
    assert!(names.len() >= 6, "{names:?}");
    let mut differ = Vec::new();
    for name in &names {
        let input = data_dir().join(format!("{name}.xml"));
        ok("virsh", &uri, &["define", &input.to_string_lossy()]);
        let ours = normalise(&ok("virsh", &uri, &["dumpxml", "--inactive", name]));
        let want = normalise(
            &std::fs::read_to_string(data_dir().join(format!("{name}.libvirt.xml"))).unwrap(),
        );
        if ours != want {
            let dump = tmp.path().join(format!("{name}.ours.xml"));
            std::fs::write(&dump, &ours).unwrap();
            let diff = std::process::Command::new("diff")
                .args(["-u", "--label", "libvirtd", "--label", "virtcimd", "-"])
                .arg(&dump)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    use std::io::Write;
                    child.stdin.take().unwrap().write_all(want.as_bytes())?;
                    child.wait_with_output()
                })
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            differ.push(format!("{name}:\n{diff}"));
        }
        ok("virsh", &uri, &["undefine", "--nvram", name]);
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// `(bus, slot, function)` of the `<address type='pci'>` inside the `nth` XML element that starts with `open`.
fn pci_address_in(xml: &str, open: &str, nth: usize) -> Option<(u32, u32, u32)> {
    let start = xml.match_indices(open).nth(nth)?.0;
    let tag = open
        .trim_start_matches('<')
        .trim_end_matches('>')
        .split(' ')
        .next()?;
    let rest = &xml[start..];
    let end = rest
        .find(&format!("</{tag}>"))
        .unwrap_or_else(|| rest.find("/>").unwrap_or(rest.len()));
    let block = &rest[..end];
    let addr = &block[block.find("<address type='pci'")?..];
    let field = |key: &str| {
        let at = addr.find(&format!(" {key}='0x"))? + key.len() + 5;
        let text = &addr[at..];
        u32::from_str_radix(&text[..text.find('\'')?], 16).ok()
    };
    Some((field("bus")?, field("slot")?, field("function")?))
}

/// qdev id → (the qdev id of the bridge it sits behind, "" for the root bus; slot; function), from QMP
/// `query-pci`'s nested devices.
fn pci_topology(
    devices: &serde_json::Value,
    parent: &str,
    out: &mut std::collections::BTreeMap<String, (String, u64, u64)>,
) {
    for dev in devices.as_array().into_iter().flatten() {
        let id = dev["qdev_id"].as_str().unwrap_or_default().to_string();
        let place = (
            parent.to_string(),
            dev["slot"].as_u64().unwrap_or(99),
            dev["function"].as_u64().unwrap_or(99),
        );
        if let Some(children) = dev.get("pci_bridge").map(|b| &b["devices"]) {
            pci_topology(children, &id, out);
        }
        if !id.is_empty() {
            out.insert(id, place);
        }
    }
}

/// A q35 guest with root ports, a pcie-to-pci-bridge and devices on both runs in QEMU with every device where
/// `dumpxml` says: QEMU's own `query-pci` tree (read with `qemu-monitor-command`) puts each device behind the
/// controller `pci.<bus>` of its address, at its slot and function.
#[test]
fn a_q35_guest_boots_with_its_devices_where_dumpxml_says() {
    if !have_virsh() || !have_qemu() {
        panic!("virsh and qemu-system-x86_64 are needed (tests/run installs them)");
    }
    let _guests = crate::support::qemu::alone();
    let tmp = tempfile::tempdir().unwrap();
    let disk = crate::support::qemu::spinning_disk(tmp.path());
    let scsi = tmp.path().join("scsi.img");
    std::fs::write(&scsi, vec![0u8; 65536]).unwrap();
    let mut daemon = Daemon::start(tmp.path());
    let reaper = super::daemon::QemuReaper::default();
    let uri = daemon.uri();
    let kind = if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
    {
        "kvm"
    } else {
        "qemu"
    };
    let name = format!("q35live{}", std::process::id());
    let xml = format!(
        "<domain type='{kind}'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='q35'>hvm</type></os><devices>\
         <disk type='file' device='disk'><source file='{}'/><target dev='vda' bus='virtio'/></disk>\
         <disk type='file' device='disk'><source file='{}'/><target dev='sda' bus='scsi'/></disk>\
         <disk type='file' device='cdrom'><target dev='sdb' bus='sata'/><readonly/></disk>\
         <interface type='user'><model type='e1000'/></interface>\
         <interface type='user'><model type='virtio'/></interface>\
         <input type='tablet' bus='usb'/><graphics type='vnc' autoport='yes' listen='127.0.0.1'/>\
         </devices></domain>",
        disk.display(),
        scsi.display()
    );
    let file = tmp.path().join("q35.xml");
    std::fs::write(&file, xml).unwrap();
    ok("virsh", &uri, &["define", &file.to_string_lossy()]);
    ok("virsh", &uri, &["start", &name]);
    reaper.watch(daemon.qemu_pid(&name));
    let live = ok("virsh", &uri, &["dumpxml", &name]);
    // Devices behind bridges show once the firmware has numbered the buses: ask until every device is there.
    let mut tree = std::collections::BTreeMap::new();
    let numbered = crate::support::wait_for(std::time::Duration::from_secs(30), || {
        let reply = ok(
            "virsh",
            &uri,
            &["qemu-monitor-command", &name, r#"{"execute":"query-pci"}"#],
        );
        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
        tree.clear();
        pci_topology(&reply["return"][0]["devices"], "", &mut tree);
        ["net0", "net1", "usb", "scsi0", "balloon0"]
            .iter()
            .all(|id| tree.contains_key(*id))
            && tree.contains_key("virtio-disk0")
    });
    assert!(numbered, "the buses were never numbered: {tree:?}");
    let disk_id = ["virtio-disk0"]
        .into_iter()
        .find(|id| tree.contains_key(*id))
        .unwrap_or_else(|| panic!("no virtio disk in {tree:?}"));
    let mut expected = vec![
        ("net0".to_string(), "<interface type='user'>", 0),
        ("net1".to_string(), "<interface type='user'>", 1),
        ("usb".to_string(), "<controller type='usb'", 0),
        ("scsi0".to_string(), "<controller type='scsi'", 0),
        ("balloon0".to_string(), "<memballoon", 0),
        ("video0".to_string(), "<video>", 0),
        (disk_id.to_string(), "<disk type='file' device='disk'>", 0),
    ];
    // Every root port and bridge libvirt's placement added.
    for index in 1..32 {
        if live.contains(&format!("<controller type='pci' index='{index}' ")) {
            expected.push((format!("pci.{index}"), "", index));
        }
    }
    assert!(expected.len() >= 12, "too few PCI controllers in {live}");
    for (qdev, open, nth) in &expected {
        let found = if open.is_empty() {
            pci_address_in(&live, &format!("<controller type='pci' index='{nth}' "), 0)
        } else {
            pci_address_in(&live, open, *nth)
        };
        let (bus, slot, function) =
            found.unwrap_or_else(|| panic!("no address for {qdev} in {live}"));
        let parent = if bus == 0 {
            String::new()
        } else {
            format!("pci.{bus}")
        };
        let want = (parent, u64::from(slot), u64::from(function));
        assert_eq!(
            tree.get(qdev.as_str()),
            Some(&want),
            "{qdev} in QEMU's tree {tree:?}\n{live}"
        );
    }
    // The disks' QEMU devices are named by their live aliases and their block nodes as libvirt 9.0 names them
    // (`libvirt-N-format`, the first disk with the highest N).
    for alias in ["virtio-disk0", "scsi0-0-0", "sata0-0-1"] {
        assert!(
            live.contains(&format!("<alias name='{alias}'/>")),
            "{alias} in {live}"
        );
    }
    let block = ok(
        "virsh",
        &uri,
        &[
            "qemu-monitor-command",
            &name,
            r#"{"execute":"query-block"}"#,
        ],
    );
    let block: serde_json::Value = serde_json::from_str(&block).unwrap();
    let node_of = |id: &str| {
        block["return"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| {
                e["qdev"]
                    .as_str()
                    .is_some_and(|q| q == id || q.contains(&format!("/{id}/")))
            })
            .map(|e| {
                e["inserted"]["node-name"]
                    .as_str()
                    .unwrap_or("empty")
                    .to_string()
            })
    };
    assert_eq!(
        node_of("virtio-disk0").as_deref(),
        Some("libvirt-3-format"),
        "{block}"
    );
    assert_eq!(
        node_of("scsi0-0-0").as_deref(),
        Some("libvirt-2-format"),
        "{block}"
    );
    assert_eq!(node_of("sata0-0-1").as_deref(), Some("empty"), "{block}");
    // The e1000 sits behind the pcie-to-pci-bridge, the virtio NIC in a root port.
    assert!(live.contains("model='pcie-to-pci-bridge'"), "{live}");

    // Hotplug: pcie.0 takes none, so a virtio NIC goes into the spare root port libvirt's placement left and an
    // e1000 into the bridge's next slot, each where the live XML then says; with no root port left a virtio disk
    // is refused with libvirt's error and the guest runs on.
    let attach = |xml: &str, file: &str| {
        let path = tmp.path().join(file);
        std::fs::write(&path, xml).unwrap();
        super::daemon::run(
            "virsh",
            &uri,
            &["attach-device", &name, &path.to_string_lossy(), "--live"],
        )
    };
    for (xml, file) in [
        (
            "<interface type='user'><model type='virtio'/></interface>",
            "nic2.xml",
        ),
        (
            "<interface type='user'><model type='e1000'/></interface>",
            "nic3.xml",
        ),
    ] {
        let out = attach(xml, file);
        assert!(out.status.success(), "{file}: {out:?}");
    }
    let live = ok("virsh", &uri, &["dumpxml", &name]);
    let seen = crate::support::wait_for(std::time::Duration::from_secs(30), || {
        let reply = ok(
            "virsh",
            &uri,
            &["qemu-monitor-command", &name, r#"{"execute":"query-pci"}"#],
        );
        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
        tree.clear();
        pci_topology(&reply["return"][0]["devices"], "", &mut tree);
        tree.contains_key("net2") && tree.contains_key("net3")
    });
    assert!(seen, "the hot-plugged NICs never showed: {tree:?}");
    for (qdev, nth) in [("net2", 2), ("net3", 3)] {
        let (bus, slot, function) = pci_address_in(&live, "<interface type='user'>", nth)
            .unwrap_or_else(|| panic!("no address for {qdev} in {live}"));
        assert_ne!(bus, 0, "{qdev} on pcie.0 in {live}");
        let want = (format!("pci.{bus}"), u64::from(slot), u64::from(function));
        assert_eq!(tree.get(qdev), Some(&want), "{qdev} in {tree:?}\n{live}");
    }
    let extra = tmp.path().join("vdb.img");
    std::fs::write(&extra, vec![0u8; 65536]).unwrap();
    let refused = attach(
        &format!(
            "<disk type='file' device='disk'><source file='{}'/><target dev='vdb' bus='virtio'/></disk>",
            extra.display()
        ),
        "vdb.xml",
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("No more available PCI slots"),
        "{refused:?}"
    );
    let state = ok("virsh", &uri, &["domstate", &name]);
    assert_eq!(state.trim(), "running");
    ok("virsh", &uri, &["destroy", &name]);
    ok("virsh", &uri, &["undefine", &name]);
    daemon.stop();
}
