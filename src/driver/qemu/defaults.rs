//! What libvirt's QEMU driver adds to a definition when it is defined (its PostParse callbacks and address
//! assignment), so `dumpxml` of a defined guest reads like libvirt 9.0's: the canonical machine type (`pc` →
//! `pc-i440fx-7.2`, from QEMU's `query-machines`), the emulator and architecture, the default `qemu64` CPU,
//! lifecycle actions and clock, the default controllers (USB, the PCI root, IDE or SATA, SCSI and virtio-serial
//! when devices need them), disks in libvirt's order with their buses, drivers and drive addresses, PS/2 inputs,
//! a video device for a guest with graphics, an audio backend, the serial/console pair, a virtio memory balloon,
//! virtio-serial and USB ports, and PCI addresses: on i440fx slots of the root bus, on q35 the pcie-root-ports
//! and pcie-to-pci-bridge libvirt adds (stable, and what QEMU gets as `bus=`/`addr=`).
//! `tests/data/qemu/defaults/` holds stock libvirtd's answers for the same guests.

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

pub(super) fn is_q35(def: &DomainDef) -> bool {
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
        disk.driver_type.get_or_insert_with(|| "raw".into());
        if !has_address(&disk.extra.children) {
            let index = command::target_index(&disk.target_dev);
            if let Some(addr) = index.and_then(|i| drive_address(&bus, i)) {
                disk.extra.children.push(addr);
            }
        }
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
    // libvirt's order: the machine's defaults (USB, the PCI root, IDE or SATA), then what devices need.
    let mut added = Vec::new();
    if !has_controller(def, "usb") {
        added.push(controller("usb", 0, Some(devices::default_usb_model(q35))));
    }
    let has_pci = has_controller(def, "pci");
    if q35 {
        if !has_controller(def, "sata") {
            added.push(controller("sata", 0, None));
        }
        if !has_pci {
            added.push(controller("pci", 0, Some("pcie-root")));
        }
    } else {
        if !has_pci {
            added.push(controller("pci", 0, Some("pci-root")));
        }
        if !has_controller(def, "ide") {
            added.push(controller("ide", 0, None));
        }
    }
    if needs_scsi && !has_controller(def, "scsi") {
        added.push(controller("scsi", 0, Some("lsilogic")));
    }
    if !q35 && needs_sata && !has_controller(def, "sata") {
        added.push(controller("sata", 0, None));
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
        // libvirt spells a VNC autoport out as port -1; a SPICE one keeps no port.
        if graphics::autoport(g) {
            if g.graphics_type != "spice" || g.port.is_some() {
                g.port = Some(-1);
            }
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
    // The PC machines' i8042: a PS/2 mouse and keyboard in every x86 guest.
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
    if !def.devices.graphics.is_empty() && def.devices.videos.is_empty() {
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

    // NICs without a model get libvirt's x86 default (qemuDomainDefaultNetModel: rtl8139), written into the
    // definition as libvirt does, so every client reads the model the guest really has.
    for iface in &mut def.devices.interfaces {
        nic_defaults(iface);
    }
    // An audio backend for the display (spice carries sound) or none, as libvirt 9.0 adds.
    if !def.devices.others.iter().any(|n| n.name == "audio") {
        let kind = match def.devices.graphics.first() {
            Some(g) if g.graphics_type == "spice" => "spice",
            _ => "none",
        };
        def.devices
            .others
            .push(node("audio", &[("id", "1"), ("type", kind)]));
    }
    // libvirt's default CPU for x86 guests that name none.
    if def.cpu_mode.is_none() && def.extra.of("cpu").is_none() {
        def.cpu_mode = Some("custom".into());
        let mut model = node("model", &[("fallback", "forbid")]);
        model.text = "qemu64".into();
        def.extra.nested.push((
            "cpu".into(),
            Extra {
                attrs: vec![
                    ("match".into(), "exact".into()),
                    ("check".into(), "none".into()),
                ],
                children: vec![model],
                nested: Vec::new(),
            },
        ));
    }
    assign_channel_ports(def);
    if !def.devices.others.iter().any(|n| n.name == "memballoon") {
        def.devices
            .others
            .push(node("memballoon", &[("model", "virtio")]));
    }
    sort_disks(def);
    assign_pci(def);
    assign_usb(def);
}

/// A NIC's define-time default, for a whole definition and a device attached alone alike.
pub(super) fn nic_defaults(iface: &mut crate::model::InterfaceDef) {
    if iface.iface_type != "hostdev" {
        iface.model.get_or_insert_with(|| "rtl8139".into());
    }
}

/// Virtio-serial ports for channels without an address: port 1 on, after the ones given (port 0 is the
/// console's), as libvirt numbers them.
fn assign_channel_ports(def: &mut DomainDef) {
    let port_of = |n: &Node| {
        devices::address(&n.children)
            .filter(|a| a.attr("type") == Some("virtio-serial"))
            .and_then(|a| a.attr("port"))
            .and_then(|p| p.parse::<u32>().ok())
    };
    let mut next = 1 + def
        .devices
        .others
        .iter()
        .filter(|n| n.name == "channel")
        .filter_map(port_of)
        .max()
        .unwrap_or(0);
    for channel in def
        .devices
        .others
        .iter_mut()
        .filter(|n| n.name == "channel")
    {
        let virtio = channel
            .children
            .iter()
            .any(|c| c.name == "target" && c.attr("type") == Some("virtio"));
        if virtio && !has_address(&channel.children) {
            channel.children.push(node(
                "address",
                &[
                    ("type", "virtio-serial"),
                    ("controller", "0"),
                    ("bus", "0"),
                    ("port", &next.to_string()),
                ],
            ));
            next += 1;
        }
    }
}

/// Where a device that wants a PCI address sits in a definition (libvirt's assignment order is kept by the list).
#[derive(Clone, Copy)]
enum PciDev {
    Controller(usize),
    Iface(usize),
    Disk(usize),
    Balloon(usize),
    Input(usize),
    Video(usize),
}

fn pci_children(def: &mut DomainDef, dev: PciDev) -> &mut Vec<Node> {
    let devs = &mut def.devices;
    match dev {
        PciDev::Controller(i) => &mut devs.controllers[i].extra.children,
        PciDev::Iface(i) => &mut devs.interfaces[i].extra.children,
        PciDev::Disk(i) => &mut devs.disks[i].extra.children,
        PciDev::Balloon(i) => &mut devs.others[i].children,
        PciDev::Input(i) => &mut devs.inputs[i].extra.children,
        PciDev::Video(i) => &mut devs.videos[i].extra.children,
    }
}

fn pci_address(bus: u32, slot: u32, function: u32, multifunction: bool) -> Node {
    let mut address = node(
        "address",
        &[
            ("type", "pci"),
            ("domain", "0x0000"),
            ("bus", &format!("{bus:#04x}")),
            ("slot", &format!("{slot:#04x}")),
            ("function", &format!("{function:#x}")),
        ],
    );
    if multifunction {
        address.attrs.push(("multifunction".into(), "on".into()));
    }
    address
}

/// A PCI address's (bus, slot, function), when `children` hold one.
fn pci_of(children: &[Node]) -> Option<(u32, u32, u32)> {
    let addr = devices::address(children)?;
    if addr.attr("type") != Some("pci") {
        return None;
    }
    let num = |key: &str| {
        let text = addr.attr(key).unwrap_or("0");
        match text.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => text.parse().ok(),
        }
    };
    Some((num("bus")?, num("slot")?, num("function")?))
}

/// Whether a device is a PCI Express endpoint (it goes on a pcie-root-port of a q35 guest) or a conventional
/// PCI device (it goes on a pcie-to-pci-bridge), as libvirt's `qemuDomainDeviceCalculatePCIConnectFlags` sorts
/// them: virtio devices, e1000e and the XHCI controllers are PCIe.
fn is_pcie(def: &DomainDef, dev: PciDev) -> bool {
    let devs = &def.devices;
    match dev {
        PciDev::Controller(i) => {
            let c = &devs.controllers[i];
            match c.controller_type.as_str() {
                "usb" => matches!(c.model.as_deref(), Some("qemu-xhci" | "nec-xhci")),
                "scsi" => c.model.as_deref() == Some("virtio-scsi"),
                "virtio-serial" | "sata" => true,
                _ => false,
            }
        }
        PciDev::Iface(i) => matches!(
            devs.interfaces[i].model.as_deref(),
            Some("virtio" | "e1000e")
        ),
        PciDev::Disk(_) | PciDev::Balloon(_) | PciDev::Input(_) => true,
        PciDev::Video(i) => devs.videos[i].model_type == "virtio",
    }
}

/// The devices of `def` that want a PCI address and have none, in libvirt's order (`qemuDomainAssignDevicePCISlots`):
/// NICs, controllers, virtio disks, the balloon, virtio inputs, then secondary videos. The primary video and the
/// chipset's own functions are placed before, by the caller.
fn unplaced_pci_devices(def: &DomainDef, q35: bool) -> Vec<PciDev> {
    let devs = &def.devices;
    let mut out = Vec::new();
    for (i, iface) in devs.interfaces.iter().enumerate() {
        if !has_address(&iface.extra.children) {
            out.push(PciDev::Iface(i));
        }
    }
    for (i, c) in devs.controllers.iter().enumerate() {
        let pci_device = match (c.controller_type.as_str(), c.model.as_deref()) {
            ("usb", Some("none" | "piix3-uhci")) | ("pci" | "ide", _) => false,
            ("usb", Some(model)) if model.starts_with("ich9-") => false,
            ("sata", _) if q35 && c.index == 0 => false,
            ("usb" | "scsi" | "virtio-serial" | "sata", _) => true,
            _ => false,
        };
        if pci_device && !has_address(&c.extra.children) {
            out.push(PciDev::Controller(i));
        }
    }
    for (i, disk) in devs.disks.iter().enumerate() {
        if disk.target_bus.as_deref() == Some("virtio") && !has_address(&disk.extra.children) {
            out.push(PciDev::Disk(i));
        }
    }
    for (i, balloon) in devs.others.iter().enumerate() {
        if balloon.name == "memballoon"
            && balloon.attr("model") == Some("virtio")
            && !has_address(&balloon.children)
        {
            out.push(PciDev::Balloon(i));
        }
    }
    for (i, input) in devs.inputs.iter().enumerate() {
        if input.bus.as_deref() == Some("virtio") && !has_address(&input.extra.children) {
            out.push(PciDev::Input(i));
        }
    }
    for (i, video) in devs.videos.iter().enumerate().skip(1) {
        if video.model_type != "none" && !has_address(&video.extra.children) {
            out.push(PciDev::Video(i));
        }
    }
    out
}

/// Every address already taken, as (bus, slot, function).
fn used_pci_addresses(def: &DomainDef) -> Vec<(u32, u32, u32)> {
    let devs = &def.devices;
    let mut used = Vec::new();
    used.extend(
        devs.controllers
            .iter()
            .filter_map(|c| pci_of(&c.extra.children)),
    );
    used.extend(
        devs.interfaces
            .iter()
            .filter_map(|i| pci_of(&i.extra.children)),
    );
    used.extend(devs.disks.iter().filter_map(|d| pci_of(&d.extra.children)));
    used.extend(devs.videos.iter().filter_map(|v| pci_of(&v.extra.children)));
    used.extend(devs.inputs.iter().filter_map(|i| pci_of(&i.extra.children)));
    used.extend(devs.others.iter().filter_map(|n| pci_of(&n.children)));
    used
}

/// Gives every PCI device of a definition without an address the one libvirt 9.0 gives it (addresses already
/// given are kept). i440fx: the PIIX3 functions of slot 1 (IDE, the UHCI USB controller), the primary video at
/// slot 2, then NICs, controllers, virtio disks, the balloon and virtio inputs from the next free slot. q35: see
/// [`assign_pci_q35`].
pub(super) fn assign_pci(def: &mut DomainDef) {
    if is_q35(def) {
        return assign_pci_q35(def);
    }
    let mut used: Vec<u32> = vec![0, 1];
    if def
        .devices
        .videos
        .first()
        .is_some_and(|v| v.model_type != "none")
    {
        used.push(2);
    }
    used.extend(
        used_pci_addresses(def)
            .into_iter()
            .filter(|(bus, _, _)| *bus == 0)
            .map(|(_, slot, _)| slot),
    );
    let pci = |slot: u32, function: u32| pci_address(0, slot, function, false);
    let next = |used: &mut Vec<u32>| -> Option<u32> {
        let slot = (1..32).find(|s| !used.contains(s))?;
        used.push(slot);
        Some(slot)
    };
    if let Some(video) = def.devices.videos.first_mut() {
        if video.model_type != "none" && !has_address(&video.extra.children) {
            video.extra.children.push(pci(2, 0));
        }
    }
    for c in &mut def.devices.controllers {
        if has_address(&c.extra.children) || c.index != 0 {
            continue;
        }
        match (c.controller_type.as_str(), c.model.as_deref()) {
            ("ide", _) => c.extra.children.push(pci(1, 1)),
            ("usb", Some("piix3-uhci")) => c.extra.children.push(pci(1, 2)),
            _ => {}
        }
    }
    // NICs come before the USB2 set, which comes before the other controllers.
    let order = unplaced_pci_devices(def, false);
    let (nics, rest): (Vec<PciDev>, Vec<PciDev>) = order
        .into_iter()
        .partition(|d| matches!(d, PciDev::Iface(_)));
    for dev in nics {
        if let Some(slot) = next(&mut used) {
            pci_children(def, dev).push(pci(slot, 0));
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
    if def.devices.controllers.iter().any(unplaced_usb2) {
        if let Some(slot) = next(&mut used) {
            for c in def
                .devices
                .controllers
                .iter_mut()
                .filter(|c| unplaced_usb2(c))
            {
                let function = usb2_function(c).unwrap_or_default();
                c.extra
                    .children
                    .push(pci_address(0, slot, function, function == 0));
            }
        }
    }
    for dev in rest {
        if let Some(slot) = next(&mut used) {
            pci_children(def, dev).push(pci(slot, 0));
        }
    }
}

/// A bus behind pcie-root in the placement of a q35 guest: a root port (one slot, 0) or a pcie-to-pci-bridge
/// (slots 1 to 31 for conventional PCI devices).
#[derive(Clone, Copy, PartialEq)]
enum Bus {
    RootPort,
    Bridge,
    Other,
}

/// The free place for a device on the buses behind pcie-root: the lowest free root port for a PCIe device, the
/// first free slot of a bridge for a PCI one.
fn q35_place(buses: &[Bus], used: &[(u32, u32, u32)], pcie: bool) -> Option<(u32, u32)> {
    buses.iter().enumerate().find_map(|(index, bus)| {
        let index = u32::try_from(index).ok()?;
        let slots = match (bus, pcie) {
            (Bus::RootPort, true) => 0..1,
            (Bus::Bridge, false) => 1..32,
            _ => return None,
        };
        slots
            .into_iter()
            .find(|slot| !used.iter().any(|(b, s, _)| *b == index && s == slot))
            .map(|slot| (index, slot))
    })
}

/// The PCI buses a q35 definition has, by index (pcie-root is 0).
fn q35_buses(def: &DomainDef) -> Vec<Bus> {
    let mut buses: Vec<Bus> = Vec::new();
    for c in def
        .devices
        .controllers
        .iter()
        .filter(|c| c.controller_type == "pci")
    {
        let at = usize::try_from(c.index).unwrap_or(usize::MAX);
        if at >= 256 {
            continue;
        }
        if buses.len() <= at {
            buses.resize(at + 1, Bus::Other);
        }
        buses[at] = match c.model.as_deref() {
            Some("pcie-root-port") => Bus::RootPort,
            Some("pcie-to-pci-bridge") => Bus::Bridge,
            _ => Bus::Other,
        };
    }
    if buses.is_empty() {
        buses.push(Bus::Other);
    }
    buses
}

/// Where a device hot-plugged into a running guest goes, as (bus, slot): on q35 a free pcie-root-port for a
/// PCIe device (`pcie`), a free slot of a pcie-to-pci-bridge for a conventional one, since pcie-root itself takes
/// no hotplug and no controller can be added to a running guest (libvirt's error when none is free); on i440fx
/// `None`, QEMU's own choice of a free slot of pci.0 being libvirt's too.
pub(super) fn hotplug_pci_place(live: &DomainDef, pcie: bool) -> Result<Option<(u32, u32)>> {
    if !is_q35(live) {
        return Ok(None);
    }
    q35_place(&q35_buses(live), &used_pci_addresses(live), pcie)
        .map(Some)
        .ok_or_else(|| Error::internal(ErrorDomain::QEMU, "No more available PCI slots"))
}

/// The (bus, slot) a hot-plugged device's own PCI `<address>` asks for, if it has one.
pub(super) fn given_pci_place(children: &[Node]) -> Option<(u32, u32)> {
    pci_of(children).map(|(bus, slot, _)| (bus, slot))
}

/// The `<address>` of a device hot-plugged at `place`.
pub(super) fn hotplug_pci_address((bus, slot): (u32, u32)) -> Node {
    pci_address(bus, slot, 0, false)
}

/// libvirt 9.0's placement on q35 (`qemuDomainAssignPCIAddresses`): the primary video at 00:01.0, the built-in
/// SATA controller at 00:1f.2, and every other device behind a controller of its own added on the way: a
/// `pcie-root-port` per PCIe device, one `pcie-to-pci-bridge` (in a root port) for conventional PCI devices, and
/// one spare root port for hotplug. A first pass counts the buses (in device order, a bridge taking a fresh root
/// port); the new controllers are numbered in that order, the root ports packed eight functions to a slot of
/// pcie-root from the first free slot (chassis = index, port = slot << 3 | function), the bridge in the first
/// free root port; then the devices take the lowest free root port, or the bridge's next slot.
fn assign_pci_q35(def: &mut DomainDef) {
    let mut used = used_pci_addresses(def);
    used.push((0, 0, 0));
    used.push((0, 0x1f, 0));
    if let Some(video) = def.devices.videos.first_mut() {
        if video.model_type != "none"
            && !has_address(&video.extra.children)
            && !used.iter().any(|(b, s, _)| *b == 0 && *s == 1)
        {
            video.extra.children.push(pci_address(0, 1, 0, false));
            used.push((0, 1, 0));
        }
    }
    for c in &mut def.devices.controllers {
        if c.controller_type == "sata" && c.index == 0 && !has_address(&c.extra.children) {
            c.extra.children.push(pci_address(0, 0x1f, 2, false));
            used.push((0, 0x1f, 2));
        }
    }
    let mut buses = q35_buses(def);
    let wanted: Vec<(PciDev, bool)> = unplaced_pci_devices(def, true)
        .into_iter()
        .map(|dev| (dev, is_pcie(def, dev)))
        .collect();

    // First pass: how many buses of each kind the devices need.
    let existing = buses.len();
    let mut dry = used.clone();
    let index_of = |buses: &Vec<Bus>| u32::try_from(buses.len()).unwrap_or(u32::MAX);
    for (_, pcie) in &wanted {
        let (bus, slot) = match q35_place(&buses, &dry, *pcie) {
            Some(place) => place,
            None if *pcie => {
                buses.push(Bus::RootPort);
                (index_of(&buses) - 1, 0)
            }
            None => {
                if q35_place(&buses, &dry, true).is_none() {
                    buses.push(Bus::RootPort);
                }
                let (port, _) = q35_place(&buses, &dry, true).unwrap_or_default();
                dry.push((port, 0, 0));
                buses.push(Bus::Bridge);
                (index_of(&buses) - 1, 1)
            }
        };
        dry.push((bus, slot, 0));
    }
    if buses.len() > existing {
        buses.push(Bus::RootPort);
    }

    // The new controllers, appended in index order and placed.
    let mut aggregate: Option<(u32, u32)> = None;
    for index in existing..buses.len() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let controller = match buses[index as usize] {
            Bus::RootPort => {
                let (slot, function) = match aggregate {
                    Some((slot, function)) if function < 7 => (slot, function + 1),
                    _ => {
                        let Some(slot) =
                            (1..0x1f).find(|s| !used.iter().any(|(b, us, _)| *b == 0 && us == s))
                        else {
                            break;
                        };
                        (slot, 0)
                    }
                };
                aggregate = Some((slot, function));
                used.push((0, slot, function));
                let mut c = controller("pci", index, Some("pcie-root-port"));
                c.extra
                    .children
                    .push(node("model", &[("name", "pcie-root-port")]));
                c.extra.children.push(node(
                    "target",
                    &[
                        ("chassis", &index.to_string()),
                        ("port", &format!("{:#x}", (slot << 3) | function)),
                    ],
                ));
                c.extra
                    .children
                    .push(pci_address(0, slot, function, function == 0));
                c
            }
            _ => {
                let Some((port, _)) = q35_place(&buses[..index as usize], &used, true) else {
                    break;
                };
                used.push((port, 0, 0));
                let mut c = controller("pci", index, Some("pcie-to-pci-bridge"));
                c.extra
                    .children
                    .push(node("model", &[("name", "pcie-pci-bridge")]));
                c.extra.children.push(pci_address(port, 0, 0, false));
                c
            }
        };
        def.devices.controllers.push(controller);
    }

    for (dev, pcie) in wanted {
        if let Some((bus, slot)) = q35_place(&buses, &used, pcie) {
            used.push((bus, slot, 0));
            pci_children(def, dev).push(pci_address(bus, slot, 0, false));
        }
    }
}

/// libvirt's place in `<devices>` for a disk added after `disks` (`virDomainDiskInsert`): after the last disk
/// on its bus, before any disk on its bus with a higher target index; at the end when none shares its bus.
fn sort_disks(def: &mut DomainDef) {
    let disks = std::mem::take(&mut def.devices.disks);
    let index = |d: &DiskDef| command::target_index(&d.target_dev).unwrap_or(usize::MAX);
    for disk in disks {
        let list = &mut def.devices.disks;
        let mut insert_at = None;
        for (at, other) in list.iter().enumerate().rev() {
            if other.target_bus != disk.target_bus {
                continue;
            }
            if index(other) > index(&disk) {
                insert_at = Some(at);
            } else if insert_at.is_none() {
                insert_at = Some(at + 1);
            }
        }
        let at = insert_at.unwrap_or(list.len());
        list.insert(at, disk);
    }
}

/// USB addresses (`<address type='usb' bus='0' port='N'/>`) for USB disks and inputs without one, the ports of
/// controller 0 in order, as libvirt gives them (no hub is added when they run out).
fn assign_usb(def: &mut DomainDef) {
    let Some(model) = def
        .devices
        .controllers
        .iter()
        .find(|c| c.controller_type == "usb" && c.index == 0)
        .and_then(|c| c.model.clone())
    else {
        return;
    };
    let ports: u32 = match model.as_str() {
        "piix3-uhci" | "piix4-uhci" | "ich9-uhci1" => 2,
        "qemu-xhci" | "nec-xhci" => 4,
        "ich9-ehci1" => 6,
        _ => return,
    };
    let port_of = |children: &[Node]| {
        devices::address(children)
            .filter(|a| a.attr("type") == Some("usb"))
            .and_then(|a| a.attr("port"))
            .and_then(|p| p.parse::<u32>().ok())
    };
    let devs = &mut def.devices;
    let mut used: Vec<u32> = devs
        .disks
        .iter()
        .filter_map(|d| port_of(&d.extra.children))
        .chain(
            devs.inputs
                .iter()
                .filter_map(|i| port_of(&i.extra.children)),
        )
        .collect();
    let mut next = || {
        let port = (1..=ports).find(|p| !used.contains(p))?;
        used.push(port);
        Some(node(
            "address",
            &[("type", "usb"), ("bus", "0"), ("port", &port.to_string())],
        ))
    };
    for disk in &mut devs.disks {
        if disk.target_bus.as_deref() == Some("usb") && !has_address(&disk.extra.children) {
            disk.extra.children.extend(next());
        }
    }
    for input in &mut devs.inputs {
        if input.bus.as_deref() == Some("usb") && !has_address(&input.extra.children) {
            input.extra.children.extend(next());
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
