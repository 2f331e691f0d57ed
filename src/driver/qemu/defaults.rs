//! What libvirt's QEMU driver adds to a definition when it is defined (its PostParse callbacks), so `dumpxml`
//! of a defined guest reads like libvirt's: the canonical machine type (`pc` → `pc-i440fx-7.2`, from QEMU's
//! `query-machines`), the emulator and architecture, lifecycle actions and clock, the default controllers
//! (PCI root, USB, IDE or SATA, SCSI and virtio-serial when devices need them), disk buses, drivers and drive
//! addresses, PS/2 inputs and a video device for a guest with graphics, the serial/console pair, a virtio
//! memory balloon, and PCI addresses for i440fx guests (stable, and what QEMU gets as `addr=`).

use super::*;
use crate::model::{CharDevDef, ControllerDef, DiskDef, Extra, InputDef, VideoDef};
use crate::xml::Node;

fn node(name: &str, attrs: &[(&str, &str)]) -> Node {
    Node {
        name: name.into(),
        attrs: attrs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        ..Node::default()
    }
}

fn has_address(children: &[Node]) -> bool {
    children.iter().any(|c| c.name == "address")
}

fn is_q35(def: &DomainDef) -> bool {
    def.os.machine.as_deref().is_some_and(|m| m.contains("q35"))
}

/// The bus libvirt gives a disk whose target names none, from the target's prefix.
fn default_disk_bus(disk: &DiskDef) -> &'static str {
    match disk.target_dev.get(..2) {
        Some("vd") => "virtio",
        Some("sd") => "scsi",
        Some("ub") => "usb",
        Some("fd") => "fdc",
        _ => "ide",
    }
}

fn controller(kind: &str, index: u32, model: Option<&str>) -> ControllerDef {
    ControllerDef {
        controller_type: kind.into(),
        index,
        model: model.map(str::to_string),
        extra: Extra::default(),
    }
}

fn has_controller(def: &DomainDef, kind: &str) -> bool {
    def.devices
        .controllers
        .iter()
        .any(|c| c.controller_type == kind)
}

/// A drive address (`<address type='drive' ...>`) from a disk's target index, as libvirt's
/// `virDomainDiskDefAssignAddress` lays disks out per bus.
fn drive_address(bus: &str, index: usize) -> Option<Node> {
    let (controller, bus_no, unit) = match bus {
        "ide" => (0, index / 2, index % 2),
        "sata" => (index / 6, 0, index % 6),
        "scsi" => (index / 7, 0, index % 7),
        _ => return None,
    };
    let (controller, bus_no, unit) = (controller.to_string(), bus_no.to_string(), unit.to_string());
    Some(node(
        "address",
        &[
            ("type", "drive"),
            ("controller", &controller),
            ("bus", &bus_no),
            ("target", "0"),
            ("unit", &unit),
        ],
    ))
}

/// The defaults that need no QEMU probe; `machine` is the canonical machine type when it was resolved.
pub(super) fn apply(def: &mut DomainDef, machine: Option<String>, emulator: Option<&Path>) {
    if let Some(machine) = machine {
        def.os.machine = Some(machine);
    }
    if def.os.os_type == "hvm" && def.os.arch.is_none() {
        def.os.arch = Some("x86_64".into());
    }
    if def.devices.emulator.is_none() {
        def.devices.emulator = emulator.map(|e| e.to_string_lossy().into_owned());
    }
    def.on_poweroff.get_or_insert_with(|| "destroy".into());
    def.on_reboot.get_or_insert_with(|| "restart".into());
    def.on_crash.get_or_insert_with(|| "destroy".into());
    def.clock_offset.get_or_insert_with(|| "utc".into());
    let booted_by_device = def.devices.disks.iter().any(|d| d.boot_order.is_some())
        || def
            .devices
            .interfaces
            .iter()
            .any(|i| i.boot_order.is_some());
    if def.os.boot.is_empty() && def.os.kernel.is_none() && !booted_by_device {
        def.os.boot.push("hd".into());
    }
    let q35 = is_q35(def);

    // Disks: bus, driver, drive address.
    for disk in &mut def.devices.disks {
        let bus = disk
            .target_bus
            .clone()
            .unwrap_or_else(|| default_disk_bus(disk).to_string());
        disk.target_bus = Some(bus.clone());
        disk.driver_name.get_or_insert_with(|| "qemu".into());
        if disk.source.is_some() || disk.device != "cdrom" {
            disk.driver_type.get_or_insert_with(|| "raw".into());
        }
        if !has_address(&disk.extra.children) {
            let index = command::target_index(&disk.target_dev);
            if let Some(addr) = index.and_then(|i| drive_address(&bus, i)) {
                disk.extra.children.push(addr);
            }
        }
    }

    // NICs without a model get libvirt's x86 default (qemuDomainDefaultNetModel: rtl8139), written into the
    // definition as libvirt does, so every client reads the model the guest really has.
    for iface in &mut def.devices.interfaces {
        nic_defaults(iface);
    }

    // Controllers, in the order libvirt writes implicit ones (usb, pci root, ide/sata).
    let disk_on = |bus: &str| {
        def.devices
            .disks
            .iter()
            .any(|d| d.target_bus.as_deref() == Some(bus))
    };
    let (needs_scsi, needs_sata) = (disk_on("scsi"), disk_on("sata"));
    let virtio_serial = def.devices.consoles.iter().any(devices::is_virtio_console)
        || devices::channels(def).next().is_some();
    let mut added = Vec::new();
    if needs_scsi && !has_controller(def, "scsi") {
        added.push(controller("scsi", 0, Some("lsilogic")));
    }
    if !has_controller(def, "usb") {
        added.push(controller("usb", 0, Some(devices::default_usb_model(q35))));
    }
    if !has_controller(def, "pci") {
        let root = if q35 { "pcie-root" } else { "pci-root" };
        added.push(controller("pci", 0, Some(root)));
    }
    if q35 {
        if !has_controller(def, "sata") {
            added.push(controller("sata", 0, None));
        }
    } else {
        if !has_controller(def, "ide") {
            added.push(controller("ide", 0, None));
        }
        if needs_sata && !has_controller(def, "sata") {
            added.push(controller("sata", 0, None));
        }
    }
    if virtio_serial && !has_controller(def, "virtio-serial") {
        added.push(controller("virtio-serial", 0, None));
    }
    def.devices.controllers.extend(added);
    for c in &mut def.devices.controllers {
        if c.controller_type == "scsi" && c.model.is_none() {
            c.model = Some("lsilogic".into());
        }
    }

    // Serial and console show one port twice.
    let serial_console = |c: &CharDevDef| matches!(c.target_type.as_deref(), None | Some("serial"));
    if def.devices.consoles.is_empty() {
        if let Some(first) = def.devices.serials.first() {
            def.devices.consoles.push(CharDevDef {
                dev_type: first.dev_type.clone(),
                source_path: first.source_path.clone(),
                target_type: Some("serial".into()),
                target_port: Some(first.target_port.unwrap_or(0)),
                extra: Extra::default(),
            });
        }
    } else if def.devices.serials.is_empty()
        && def.devices.consoles.first().is_some_and(serial_console)
    {
        let first = &def.devices.consoles[0];
        def.devices.serials.push(CharDevDef {
            dev_type: first.dev_type.clone(),
            source_path: first.source_path.clone(),
            target_type: None,
            target_port: Some(0),
            extra: Extra::default(),
        });
    }
    for (index, serial) in def.devices.serials.iter_mut().enumerate() {
        serial
            .target_type
            .get_or_insert_with(|| "isa-serial".into());
        serial
            .target_port
            .get_or_insert(u32::try_from(index).unwrap_or(u32::MAX));
        if serial.target_type.as_deref() == Some("isa-serial")
            && serial
                .extra
                .of("target")
                .is_none_or(|t| t.children.is_empty())
        {
            let mut target = serial
                .extra
                .nested
                .iter()
                .position(|(k, _)| k == "target")
                .map(|at| serial.extra.nested.remove(at).1)
                .unwrap_or_default();
            target
                .children
                .push(node("model", &[("name", "isa-serial")]));
            serial.extra.nested.push(("target".into(), target));
        }
    }
    if let Some(console) = def.devices.consoles.first_mut() {
        if serial_console(console) {
            console.target_type = Some("serial".into());
            console.target_port.get_or_insert(0);
        }
    }
    for console in &mut def.devices.consoles {
        if devices::is_virtio_console(console) {
            console.target_port.get_or_insert(0);
        }
    }

    // Graphics: the autoport spelled out, the listen element; PS/2 input and a video device come with them.
    for g in &mut def.devices.graphics {
        if graphics::autoport(g) {
            g.port = Some(-1);
            g.autoport = Some(true);
        }
        if !g.extra.children.iter().any(|c| c.name == "listen") {
            let listen = match g.listen.as_deref() {
                Some(address) => node("listen", &[("type", "address"), ("address", address)]),
                None => node("listen", &[("type", "address")]),
            };
            g.extra.children.push(listen);
        }
    }
    if !def.devices.graphics.is_empty() {
        for kind in ["mouse", "keyboard"] {
            let present = def
                .devices
                .inputs
                .iter()
                .any(|i| i.input_type == kind && i.bus.as_deref().unwrap_or("ps2") == "ps2");
            if !present {
                def.devices.inputs.push(InputDef {
                    input_type: kind.into(),
                    bus: Some("ps2".into()),
                    extra: Extra::default(),
                });
            }
        }
        if def.devices.videos.is_empty() {
            let mut extra = Extra::default();
            extra.nested.push((
                "model".into(),
                Extra {
                    attrs: vec![("primary".into(), "yes".into())],
                    ..Extra::default()
                },
            ));
            def.devices.videos.push(VideoDef {
                model_type: crate::model::DEFAULT_VIDEO_MODEL.into(),
                vram: Some(16384),
                heads: Some(1),
                extra,
            });
        }
    }
    for input in &mut def.devices.inputs {
        if input.bus.is_none() {
            input.bus = Some(
                if input.input_type == "tablet" {
                    "usb"
                } else {
                    "ps2"
                }
                .into(),
            );
        }
    }

    if !def.devices.others.iter().any(|n| n.name == "memballoon") {
        def.devices
            .others
            .push(node("memballoon", &[("model", "virtio")]));
    }
    assign_pci(def);
}

/// A NIC's define-time default, for a whole definition and a device attached alone alike.
pub(super) fn nic_defaults(iface: &mut crate::model::InterfaceDef) {
    if iface.iface_type != "hostdev" {
        iface.model.get_or_insert_with(|| "rtl8139".into());
    }
}

/// Gives every PCI device of an i440fx guest without an address a slot on the root bus, as libvirt does: the
/// PIIX3 functions of slot 1 (IDE, the UHCI USB controller), the primary video at slot 2, then NICs,
/// controllers, virtio disks, the balloon and virtio inputs from slot 3. Addresses already given are kept.
/// q35 guests are left to QEMU's own placement (libvirt puts their devices on pcie-root-ports, not built here).
pub(super) fn assign_pci(def: &mut DomainDef) {
    if is_q35(def) {
        return;
    }
    let slot_of = |children: &[Node]| -> Option<u32> {
        let addr = devices::address(children)?;
        if addr.attr("type") != Some("pci") {
            return None;
        }
        let slot = addr.attr("slot")?;
        u32::from_str_radix(slot.trim_start_matches("0x"), 16).ok()
    };
    let mut used: Vec<u32> = vec![0, 1, 2];
    let devs = &def.devices;
    used.extend(
        devs.controllers
            .iter()
            .filter_map(|c| slot_of(&c.extra.children)),
    );
    used.extend(
        devs.interfaces
            .iter()
            .filter_map(|i| slot_of(&i.extra.children)),
    );
    used.extend(devs.disks.iter().filter_map(|d| slot_of(&d.extra.children)));
    used.extend(
        devs.videos
            .iter()
            .filter_map(|v| slot_of(&v.extra.children)),
    );
    used.extend(
        devs.inputs
            .iter()
            .filter_map(|i| slot_of(&i.extra.children)),
    );
    used.extend(devs.others.iter().filter_map(|n| slot_of(&n.children)));
    let pci = |slot: u32, function: u32| {
        node(
            "address",
            &[
                ("type", "pci"),
                ("domain", "0x0000"),
                ("bus", "0x00"),
                ("slot", &format!("{slot:#04x}")),
                ("function", &format!("{function:#x}")),
            ],
        )
    };
    let next = |used: &mut Vec<u32>| -> Option<u32> {
        let slot = (3..32).find(|s| !used.contains(s))?;
        used.push(slot);
        Some(slot)
    };
    let devs = &mut def.devices;
    for (at, video) in devs.videos.iter_mut().enumerate() {
        if video.model_type == "none" || has_address(&video.extra.children) {
            continue;
        }
        let slot = if at == 0 { Some(2) } else { next(&mut used) };
        video.extra.children.extend(slot.map(|s| pci(s, 0)));
    }
    for c in &mut devs.controllers {
        if has_address(&c.extra.children) || c.index != 0 {
            continue;
        }
        match (c.controller_type.as_str(), c.model.as_deref()) {
            ("ide", _) => c.extra.children.push(pci(1, 1)),
            ("usb", Some("piix3-uhci")) => c.extra.children.push(pci(1, 2)),
            _ => {}
        }
    }
    for iface in &mut devs.interfaces {
        if !has_address(&iface.extra.children) {
            iface
                .extra
                .children
                .extend(next(&mut used).map(|s| pci(s, 0)));
        }
    }
    // libvirt's USB2 set (what virt-install writes): the EHCI controller and its UHCI companions share one slot,
    // the companions at functions 0 to 2 (the first one multifunction) and EHCI at 7.
    let usb2_function = |c: &ControllerDef| match (c.controller_type.as_str(), c.model.as_deref()) {
        ("usb", Some("ich9-ehci1")) => Some(7),
        ("usb", Some("ich9-uhci1")) => Some(0),
        ("usb", Some("ich9-uhci2")) => Some(1),
        ("usb", Some("ich9-uhci3")) => Some(2),
        _ => None,
    };
    let unplaced_usb2 = |c: &ControllerDef| {
        c.index == 0 && usb2_function(c).is_some() && !has_address(&c.extra.children)
    };
    if devs.controllers.iter().any(unplaced_usb2) {
        if let Some(slot) = next(&mut used) {
            for c in devs.controllers.iter_mut().filter(|c| unplaced_usb2(c)) {
                let function = usb2_function(c).unwrap_or_default();
                let mut address = pci(slot, function);
                if function == 0 {
                    address.attrs.push(("multifunction".into(), "on".into()));
                }
                c.extra.children.push(address);
            }
        }
    }
    for c in &mut devs.controllers {
        let pci_device = match (c.controller_type.as_str(), c.model.as_deref()) {
            ("usb", Some("none" | "piix3-uhci")) | ("pci" | "ide", _) => false,
            ("usb" | "scsi" | "virtio-serial" | "sata", _) => true,
            _ => false,
        };
        if pci_device && !has_address(&c.extra.children) {
            c.extra.children.extend(next(&mut used).map(|s| pci(s, 0)));
        }
    }
    for disk in &mut devs.disks {
        if disk.target_bus.as_deref() == Some("virtio") && !has_address(&disk.extra.children) {
            disk.extra
                .children
                .extend(next(&mut used).map(|s| pci(s, 0)));
        }
    }
    for balloon in devs.others.iter_mut().filter(|n| n.name == "memballoon") {
        if balloon.attr("model") == Some("virtio") && !has_address(&balloon.children) {
            balloon.children.extend(next(&mut used).map(|s| pci(s, 0)));
        }
    }
    for input in &mut devs.inputs {
        if input.bus.as_deref() == Some("virtio") && !has_address(&input.extra.children) {
            input
                .extra
                .children
                .extend(next(&mut used).map(|s| pci(s, 0)));
        }
    }
}

impl QemuDriver {
    /// The machine type a definition's alias stands for on this QEMU (cached per binary), or libvirt's error
    /// for a machine QEMU does not have. Without an emulator to ask, the name is kept.
    async fn canonical_machine(&self, def: &DomainDef) -> Result<Option<String>> {
        let emulator = match def.devices.emulator.as_deref() {
            Some(name) => process::find_binary(name),
            None => self.shared.emulator.clone(),
        };
        let Some(emulator) = emulator else {
            return Ok(None);
        };
        let wanted = def.os.machine.as_deref();
        match capabilities::machine_name(&emulator, wanted).await {
            Ok(Some(name)) => Ok(Some(name)),
            Ok(None) => Err(Error::with_detail(
                ErrorCode::CONFIG_UNSUPPORTED,
                ErrorDomain::QEMU,
                format!(
                    "Emulator '{}' does not support machine type '{}'",
                    emulator.display(),
                    wanted.unwrap_or_default()
                ),
            )),
            Err(err) => {
                tracing::warn!("cannot canonicalise the machine type: {err}");
                Ok(None)
            }
        }
    }

    /// libvirt's define-time defaults (PostParse) for a new or changed definition.
    pub(super) async fn post_parse(&self, def: &mut DomainDef) -> Result<()> {
        if def.os.os_type != "hvm" {
            return Ok(());
        }
        let machine = self.canonical_machine(def).await?;
        if let Some(emulator) = &self.shared.emulator {
            if def
                .devices
                .graphics
                .iter()
                .any(|g| g.graphics_type == "spice")
                && !capabilities::has_command(emulator, "query-spice").await
            {
                return Err(Error::with_detail(
                    ErrorCode::CONFIG_UNSUPPORTED,
                    ErrorDomain::QEMU,
                    "spice graphics are not supported with this QEMU",
                ));
            }
        }
        let emulator = self.shared.emulator.clone();
        apply(def, machine, emulator.as_deref());
        firmware::fill_nvram_path(def, &self.shared.files.root.join("nvram"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defined(devices: &str) -> String {
        let mut def = DomainDef::from_xml(
            &format!(
                "<domain type='qemu'><name>d</name><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>\
                 <memory>65536</memory><os><type>hvm</type></os><devices>{devices}</devices></domain>"
            ),
            true,
        )
        .unwrap();
        apply(
            &mut def,
            Some("pc-i440fx-7.2".into()),
            Some(Path::new("/usr/bin/qemu-system-x86_64")),
        );
        def.to_xml(&DomainXmlOptions::default())
    }

    #[test]
    fn a_bare_guest_gets_libvirts_defaults() {
        let xml = defined(
            "<disk type='file' device='disk'><source file='/x.img'/><target dev='vda'/></disk>\
             <interface type='user'><mac address='52:54:00:00:00:01'/></interface>\
             <graphics type='vnc'/>",
        );
        for want in [
            "<type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>",
            "<boot dev='hd'/>",
            "<on_poweroff>destroy</on_poweroff>",
            "<emulator>/usr/bin/qemu-system-x86_64</emulator>",
            "<driver name='qemu' type='raw'/>",
            "<target dev='vda' bus='virtio'/>",
            "<controller type='usb' index='0' model='piix3-uhci'>\n      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x2'/>",
            "<controller type='pci' index='0' model='pci-root'/>",
            "<controller type='ide' index='0'>\n      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x1'/>",
            "<mac address='52:54:00:00:00:01'/>\n      <model type='rtl8139'/>",
            "<input type='mouse' bus='ps2'/>",
            "<input type='keyboard' bus='ps2'/>",
            "<graphics type='vnc' port='-1' autoport='yes'>\n      <listen type='address'/>",
            "<model type='cirrus' vram='16384' heads='1' primary='yes'/>\n      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>",
            "<memballoon model='virtio'>\n      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>",
        ] {
            assert!(xml.contains(want), "missing {want} in\n{xml}");
        }
        // The NIC comes first among the free slots, then the virtio disk.
        let nic = xml.find("<interface").unwrap();
        assert!(xml[nic..].contains("slot='0x03'"), "{xml}");
        assert!(xml.contains("<target dev='vda' bus='virtio'/>\n      <address type='pci' domain='0x0000' bus='0x00' slot='0x04'"), "{xml}");
    }

    #[test]
    fn defaults_are_stable() {
        let once = defined("<serial type='pty'/><disk type='file' device='disk'><source file='/x'/><target dev='sda'/></disk>");
        let def = DomainDef::from_xml(&once, true).unwrap();
        let mut again = def.clone();
        apply(&mut again, None, None);
        assert_eq!(again.to_xml(&DomainXmlOptions::default()), once);
        assert!(
            once.contains("<controller type='scsi' index='0' model='lsilogic'>"),
            "{once}"
        );
        assert!(
            once.contains("<address type='drive' controller='0' bus='0' target='0' unit='0'/>"),
            "{once}"
        );
        assert!(
            once.contains("<console type='pty'>\n      <target type='serial' port='0'/>"),
            "{once}"
        );
        assert!(
            once.contains(
                "<target type='isa-serial' port='0'>\n        <model name='isa-serial'/>"
            ),
            "{once}"
        );
    }
}
