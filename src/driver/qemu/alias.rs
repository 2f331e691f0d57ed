//! Device aliases in a running guest's live definition, named as libvirt names them (`ide0-0-0`,
//! `virtio-disk0`, `sata0-0-1`, `scsi0-0-0-0`, `usb-disk4`, `fdc0-0-0` for disks; `net0` for NICs, which is also
//! the NIC's QEMU device id). A user alias (`ua-...`) the definition gives is kept as it is.

use super::command;
use crate::model::{DiskDef, DomainDef};
use crate::xml::Node;

/// The `<alias name>` a device's kept children hold, if any.
fn alias_of(children: &[Node]) -> Option<&str> {
    children
        .iter()
        .find(|node| node.name == "alias")
        .and_then(|node| node.attr("name"))
}

fn alias_node(name: &str) -> Node {
    Node {
        name: "alias".into(),
        attrs: vec![("name".into(), name.into())],
        children: Vec::new(),
        text: String::new(),
    }
}

/// libvirt's alias of a disk: from its bus and the address its target name implies.
pub(super) fn disk_alias(disk: &DiskDef) -> Option<String> {
    let index = command::target_index(&disk.target_dev)?;
    let bus = disk
        .target_bus
        .clone()
        .unwrap_or_else(|| command::default_bus(disk));
    Some(match bus.as_str() {
        "virtio" => format!("virtio-disk{index}"),
        "usb" => format!("usb-disk{index}"),
        "ide" => format!("ide{}-{}-{}", index / 4, (index % 4) / 2, index % 2),
        "sata" => format!("sata{}-0-{}", index / 6, index % 6),
        "scsi" => format!("scsi{}-0-0-{}", index / 7, index % 7),
        "fdc" => format!("fdc0-0-{index}"),
        _ => return None,
    })
}

/// libvirt's alias of a disk of `def`: from its drive address when it has one, and a SCSI disk on a controller
/// that is not virtio-scsi (lsilogic) named without its target (`scsi0-0-2`), as libvirt names it there.
pub(super) fn disk_alias_in(def: &DomainDef, disk: &DiskDef) -> Option<String> {
    let alias = disk_alias(disk)?;
    let bus = disk.target_bus.as_deref().unwrap_or_default();
    // A drive address names the place (libvirt's aliases come from it), else the target's index does.
    let drive = disk
        .extra
        .children
        .iter()
        .find(|n| n.name == "address" && n.attr("type") == Some("drive"));
    let field = |key: &str| {
        drive
            .and_then(|a| a.attr(key))
            .and_then(|v| v.parse::<u32>().ok())
    };
    let index = u32::try_from(command::target_index(&disk.target_dev)?).ok()?;
    let (controller, bus_no, target, unit) = match (drive, bus) {
        (Some(_), "ide" | "sata" | "scsi") => (
            field("controller").unwrap_or(0),
            field("bus").unwrap_or(0),
            field("target").unwrap_or(0),
            field("unit").unwrap_or(0),
        ),
        (None, "scsi") => (index / 7, 0, 0, index % 7),
        _ => return Some(alias),
    };
    Some(match bus {
        "ide" => format!("ide{controller}-{bus_no}-{unit}"),
        "sata" => format!("sata{controller}-{bus_no}-{unit}"),
        _ => {
            let model = def
                .devices
                .controllers
                .iter()
                .find(|c| c.controller_type == "scsi" && c.index == controller)
                .and_then(|c| c.model.as_deref());
            match model {
                Some("virtio-scsi") | None => format!("scsi{controller}-{bus_no}-{target}-{unit}"),
                Some(_) => format!("scsi{controller}-{bus_no}-{unit}"),
            }
        }
    })
}

/// The QEMU device id of a disk: its alias (a user's `ua-` one included), else the one libvirt gives it.
pub(super) fn disk_id(def: &DomainDef, disk: &DiskDef) -> String {
    alias_of(&disk.extra.children)
        .map(str::to_string)
        .or_else(|| disk_alias_in(def, disk))
        .unwrap_or_else(|| format!("disk-{}", disk.target_dev))
}

/// Gives every disk and NIC of a definition about to run the alias libvirt's live XML shows; NICs are
/// `net<N>` by position, as the command line names their devices.
pub(super) fn assign(def: &mut DomainDef) {
    let names: Vec<Option<String>> = def
        .devices
        .disks
        .iter()
        .map(|disk| disk_alias_in(def, disk))
        .collect();
    for (disk, name) in def.devices.disks.iter_mut().zip(names) {
        if alias_of(&disk.extra.children).is_none() {
            if let Some(name) = name {
                disk.extra.children.push(alias_node(&name));
            }
        }
    }
    for (index, iface) in def.devices.interfaces.iter_mut().enumerate() {
        if alias_of(&iface.extra.children).is_none() {
            iface
                .extra
                .children
                .push(alias_node(&format!("net{index}")));
        }
    }
}

/// `def` without the aliases [`assign`] gives (a user's stay): what the live definition holds beyond them.
pub(super) fn without_generated(def: &DomainDef) -> DomainDef {
    let generated = |node: &Node| {
        node.name == "alias" && !node.attr("name").is_some_and(|n| n.starts_with("ua-"))
    };
    let mut def = def.clone();
    for disk in &mut def.devices.disks {
        disk.extra.children.retain(|node| !generated(node));
    }
    for iface in &mut def.devices.interfaces {
        iface.extra.children.retain(|node| !generated(node));
    }
    def
}

/// Sets a hot-plugged device's alias (its QEMU id), unless the user gave one.
pub(super) fn set_if_absent(children: &mut Vec<Node>, name: &str) {
    if alias_of(children).is_none() {
        children.push(alias_node(name));
    }
}

/// The target of the disk of `def` whose alias (generated or the user's) is `alias`.
pub(super) fn disk_target(def: &DomainDef, alias: &str) -> Option<String> {
    def.devices
        .disks
        .iter()
        .find(|disk| alias_of(&disk.extra.children) == Some(alias))
        .map(|disk| disk.target_dev.clone())
}

/// The MAC of the NIC of `def` whose alias is `alias`.
pub(super) fn nic_mac(def: &DomainDef, alias: &str) -> Option<String> {
    def.devices
        .interfaces
        .iter()
        .find(|iface| alias_of(&iface.extra.children) == Some(alias))
        .map(|iface| iface.mac.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(target: &str, bus: Option<&str>) -> DiskDef {
        DiskDef {
            target_dev: target.into(),
            target_bus: bus.map(str::to_string),
            ..DiskDef::default()
        }
    }

    #[test]
    fn disks_are_named_by_bus_and_address_as_libvirt_names_them() {
        let cases = [
            ("hda", None, "ide0-0-0"),
            ("hdc", Some("ide"), "ide0-1-0"),
            ("hdd", None, "ide0-1-1"),
            ("vdb", None, "virtio-disk1"),
            ("sdb", Some("sata"), "sata0-0-1"),
            ("sdh", Some("scsi"), "scsi1-0-0-0"),
            ("sde", Some("usb"), "usb-disk4"),
            ("fda", Some("fdc"), "fdc0-0-0"),
        ];
        for (target, bus, want) in cases {
            assert_eq!(
                disk_alias(&disk(target, bus)).as_deref(),
                Some(want),
                "{target}"
            );
        }
    }

    #[test]
    fn a_user_alias_is_kept() {
        let mut def = DomainDef::default();
        let mut user = disk("vda", None);
        user.extra.children.push(alias_node("ua-data"));
        def.devices.disks = vec![user, disk("vdb", None)];
        assign(&mut def);
        assign(&mut def);
        let names: Vec<_> = def
            .devices
            .disks
            .iter()
            .map(|d| alias_of(&d.extra.children).unwrap_or_default().to_string())
            .collect();
        assert_eq!(names, ["ua-data", "virtio-disk1"]);
        assert_eq!(disk_target(&def, "ua-data").as_deref(), Some("vda"));
        assert_eq!(disk_target(&def, "virtio-disk1").as_deref(), Some("vdb"));
        let plain = without_generated(&def);
        assert_eq!(disk_target(&plain, "ua-data").as_deref(), Some("vda"));
        assert_eq!(disk_target(&plain, "virtio-disk1"), None);
    }

    #[test]
    fn aliases_follow_the_drive_address_and_the_scsi_model() {
        let def = DomainDef::from_xml(
            "<domain type='qemu'><name>d</name><memory>65536</memory><os><type>hvm</type></os><devices>\
             <disk type='file' device='disk'><source file='/a'/><target dev='sda' bus='scsi'/>\
             <address type='drive' controller='0' bus='0' target='0' unit='3'/></disk>\
             <disk type='file' device='disk'><source file='/b'/><target dev='sdb' bus='scsi'/>\
             <address type='drive' controller='1' bus='0' target='0' unit='1'/></disk>\
             <disk type='file' device='disk'><source file='/c'/><target dev='sdc' bus='sata'/></disk>\
             <controller type='scsi' index='0' model='lsilogic'/>\
             <controller type='scsi' index='1' model='virtio-scsi'/></devices></domain>",
            true,
        )
        .unwrap();
        let names: Vec<String> = def
            .devices
            .disks
            .iter()
            .map(|d| disk_alias_in(&def, d).unwrap())
            .collect();
        assert_eq!(names, ["scsi0-0-3", "scsi1-0-0-1", "sata0-0-2"]);
        assert_eq!(command::disk_nodes(3, 0).0, "libvirt-3-format");
        assert_eq!(command::disk_nodes(3, 2).1, "libvirt-1-storage");
        assert_eq!(command::node_number("libvirt-12-format"), Some(12));
    }
}
