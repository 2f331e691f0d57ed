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

/// Gives every disk and NIC of a definition about to run the alias libvirt's live XML shows; NICs are
/// `net<N>` by position, as the command line names their devices.
pub(super) fn assign(def: &mut DomainDef) {
    for disk in &mut def.devices.disks {
        if alias_of(&disk.extra.children).is_none() {
            if let Some(name) = disk_alias(disk) {
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
}
