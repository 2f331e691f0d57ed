//! The reverse of the guest model: embedded VSSD / RASD instances (MOF text, CIM-XML text or decoded
//! instances, as the VSMS methods receive them) turned into changes of a [`DomainDef`], with the libvirt-CIM
//! conventions of REPORT §1.2–1.3 (ResourceType, VirtualQuantity + AllocationUnits, Address = MAC or disk
//! source, PoolID `"NetworkPool/<net>"`, VirtualDevice = target, InstanceID `"<domain>/<device id>"`).

use super::guest::{guest_model, GuestFacts, HostIndex};
use super::guest::{split_fq_devid, ResourceKind};
use crate::cim::mof::parse_instance_mof;
use crate::cim::{Instance, Namespace, Value};
use crate::model::{generate_mac, parse_mac, CharDevDef, ControllerDef, DiskDef, DomainDef};
use crate::model::{GraphicsDef, InterfaceDef};
use crate::wbem::cimxml::{parse_embedded_object, Limits};

/// Why an embedded setting could not be used (the VSMS reports it as a CIM error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RasdError {
    /// The text is neither a MOF `instance of` nor a CIM-XML `INSTANCE`.
    #[error("cannot decode embedded instance: {0}")]
    Decode(String),
    /// A property has a value the mapping cannot use.
    #[error("{0}")]
    Invalid(String),
    /// The setting names a device the domain does not have.
    #[error("Device `{0}' not found")]
    NoDevice(String),
    #[error("Cannot {action} resources of type {resource_type}")]
    Unsupported {
        action: &'static str,
        resource_type: String,
    },
}

/// Decodes one embedded instance parameter value: an instance already decoded from CIM-XML, CIM-XML text
/// (`<INSTANCE ...>`), or MOF text typed by the classes of `ns`.
pub fn decode_embedded(value: &Value, ns: &Namespace) -> Result<Instance, RasdError> {
    match value {
        Value::Instance(inst) => Ok(inst.as_ref().clone()),
        Value::String(text) if text.trim_start().starts_with('<') => {
            match parse_embedded_object(text, &Limits::default()) {
                Ok(Value::Instance(inst)) => Ok(*inst),
                Ok(_) => Err(RasdError::Decode(
                    "an embedded class, not an instance".into(),
                )),
                Err(e) => Err(RasdError::Decode(e.to_string())),
            }
        }
        Value::String(text) => {
            parse_instance_mof(ns, text).map_err(|e| RasdError::Decode(e.to_string()))
        }
        other => Err(RasdError::Decode(format!(
            "{} where an embedded instance belongs",
            other.cim_type().map_or("a value", |t| t.name())
        ))),
    }
}

/// A property as text: strings as they are, other scalars in their CIM-XML text form.
pub(super) fn text(inst: &Instance, name: &str) -> Option<String> {
    match inst.get(name)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(_, items) => items.first().and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            other => other.to_text(),
        }),
        other => other.to_text(),
    }
    .map(|s| s.trim().to_owned())
    .filter(|s| !s.is_empty())
}

/// A property as an unsigned integer; text holding a number is accepted too (untyped clients).
pub(super) fn number(inst: &Instance, name: &str) -> Result<Option<u64>, RasdError> {
    let value = match inst.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let n = match value {
        Value::String(s) => s.trim().parse::<i128>().ok(),
        other => other.as_i128(),
    };
    match n.and_then(|n| u64::try_from(n).ok()) {
        Some(n) => Ok(Some(n)),
        None => Err(RasdError::Invalid(format!(
            "{name} must be a non-negative integer"
        ))),
    }
}

fn flag(inst: &Instance, name: &str) -> Option<bool> {
    match inst.get(name)? {
        Value::Boolean(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        other => other.as_i128().map(|n| n != 0),
    }
}

fn strings(inst: &Instance, name: &str) -> Vec<String> {
    match inst.get(name) {
        Some(Value::Array(_, items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(|s| s.trim().to_owned()))
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_owned()],
        _ => Vec::new(),
    }
}

/// The kind of resource a RASD describes: by ResourceType (with OtherResourceType for 1 "Other"), else by
/// its class name.
pub fn resource_kind(inst: &Instance) -> Result<ResourceKind, RasdError> {
    let resource_type = number(inst, "ResourceType")?;
    let other = text(inst, "OtherResourceType").map(|s| s.to_ascii_lowercase());
    let by_type = match resource_type {
        Some(3) => Some(ResourceKind::Processor),
        Some(4) => Some(ResourceKind::Memory),
        Some(14..=17 | 19 | 31 | 32) => Some(ResourceKind::Disk),
        Some(10 | 11 | 33) => Some(ResourceKind::Network),
        Some(24) => Some(ResourceKind::Graphics),
        Some(13) => Some(ResourceKind::Input),
        // libvirt-CIM's vendor values for consoles and controllers.
        Some(32769) => Some(ResourceKind::Console),
        Some(32771) => Some(ResourceKind::Controller),
        Some(1) => match other.as_deref() {
            Some("console") => Some(ResourceKind::Console),
            Some("controller") => Some(ResourceKind::Controller),
            _ => None,
        },
        _ => None,
    };
    if let Some(kind) = by_type {
        return Ok(kind);
    }
    let class = inst.class_name.to_ascii_lowercase();
    let by_class = [
        ("procresource", ResourceKind::Processor),
        ("memresource", ResourceKind::Memory),
        ("diskresource", ResourceKind::Disk),
        ("netresource", ResourceKind::Network),
        ("graphicsresource", ResourceKind::Graphics),
        ("inputresource", ResourceKind::Input),
        ("consoleresource", ResourceKind::Console),
        ("controllerresource", ResourceKind::Controller),
    ]
    .into_iter()
    .find(|(part, _)| class.contains(part))
    .map(|(_, kind)| kind);
    by_class.ok_or_else(|| RasdError::Unsupported {
        action: "use",
        resource_type: resource_type.map_or_else(|| "(none)".into(), |t| t.to_string()),
    })
}

/// Bytes per AllocationUnits step: libvirt-CIM's words ("KiloBytes", "MegaBytes"...) and DMTF programmatic
/// units ("byte*2^20"). None for text we do not understand.
fn unit_bytes(units: &str) -> Option<u64> {
    let u = units.trim().to_ascii_lowercase().replace(' ', "");
    if let Some(exp) = u.strip_prefix("byte*2^") {
        return exp.parse::<u32>().ok().and_then(|e| 1u64.checked_shl(e));
    }
    Some(match u.as_str() {
        "b" | "byte" | "bytes" => 1,
        "k" | "kb" | "kib" | "kilobyte" | "kilobytes" => 1 << 10,
        "m" | "mb" | "mib" | "megabyte" | "megabytes" => 1 << 20,
        "g" | "gb" | "gib" | "gigabyte" | "gigabytes" => 1 << 30,
        _ => return None,
    })
}

/// A quantity in the RASD's AllocationUnits (KiB when absent, libvirt-CIM's memory unit) as KiB.
fn to_kib(quantity: u64, units: Option<&str>) -> Result<u64, RasdError> {
    let per = match units {
        None => 1024,
        Some(u) => unit_bytes(u)
            .ok_or_else(|| RasdError::Invalid(format!("unknown AllocationUnits {u:?}")))?,
    };
    quantity
        .checked_mul(per)
        .map(|bytes| bytes / 1024)
        .ok_or_else(|| RasdError::Invalid("memory quantity is too large".into()))
}

/// Where the device of `kind` whose device id (the part after "<domain>/" in RASD and device keys) is `devid`
/// sits in its list of the definition, by the same ids the guest model gives (so keys round-trip).
fn device_index(def: &DomainDef, kind: ResourceKind, devid: &str) -> Option<usize> {
    guest_model(def, GuestFacts::default(), &HostIndex::default())
        .resources
        .iter()
        .filter(|r| r.kind == kind)
        .position(|r| r.devid.eq_ignore_ascii_case(devid))
}

/// The device id the guest model gives the device of `kind` at `index`.
fn device_id(def: &DomainDef, kind: ResourceKind, index: usize) -> Option<String> {
    guest_model(def, GuestFacts::default(), &HostIndex::default())
        .resources
        .into_iter()
        .filter(|r| r.kind == kind)
        .nth(index)
        .map(|r| r.devid)
}

/// Applies a VSSD to a definition: name, UUID and the system-wide settings libvirt-CIM maps. `defining`:
/// a new domain (the name is required); otherwise the name must match and the UUID may not change.
pub fn apply_vssd(def: &mut DomainDef, vssd: &Instance, defining: bool) -> Result<(), RasdError> {
    let name = text(vssd, "VirtualSystemIdentifier").or_else(|| text(vssd, "ElementName"));
    match (name, defining) {
        (Some(name), true) => def.name = name,
        (None, true) => return Err(RasdError::Invalid("Missing VirtualSystemIdentifier".into())),
        (Some(name), false) if name != def.name => {
            return Err(RasdError::Invalid(format!(
                "VirtualSystemIdentifier `{name}' does not name domain `{}'",
                def.name
            )))
        }
        _ => {}
    }
    if let Some(uuid) = text(vssd, "UUID") {
        let uuid = uuid::Uuid::parse_str(&uuid)
            .map_err(|_| RasdError::Invalid(format!("invalid UUID {uuid:?}")))?;
        if defining {
            def.uuid = uuid;
        } else if uuid != def.uuid {
            return Err(RasdError::Invalid(format!(
                "{} is already defined with UUID {} - cannot change UUID to the UUID specified {uuid}",
                def.name, def.uuid
            )));
        }
    }
    if let Some(action) = number(vssd, "AutomaticRecoveryAction")? {
        def.on_crash = Some(
            match action {
                2 => "destroy",
                3 => "restart",
                123 => "preserve",
                other => {
                    return Err(RasdError::Invalid(format!(
                        "AutomaticRecoveryAction {other} is not supported"
                    )))
                }
            }
            .into(),
        );
    }
    if let Some(offset) = number(vssd, "ClockOffset")? {
        def.clock_offset = Some(if offset == 1 { "localtime" } else { "utc" }.into());
    }
    if let Some(acpi) = flag(vssd, "EnableACPI") {
        def.features.acpi = acpi;
    } else if defining {
        // libvirt-CIM turns ACPI on for every KVM guest it defines without EnableACPI (shutdown and PCI
        // hotplug depend on it).
        def.features.acpi = true;
    }
    if let Some(apic) = flag(vssd, "EnableAPIC") {
        def.features.apic = apic;
    }
    if let Some(pae) = flag(vssd, "EnablePAE") {
        def.features.pae = pae;
    }
    let boot = strings(vssd, "BootDevices");
    if !boot.is_empty() {
        def.os.boot = boot;
    }
    if let Some(emulator) = text(vssd, "Emulator") {
        def.devices.emulator = Some(emulator);
    }
    if let Some(arch) = text(vssd, "Arch") {
        def.os.arch = Some(arch);
    }
    if let Some(machine) = text(vssd, "Machine") {
        def.os.machine = Some(machine);
    }
    Ok(())
}

/// Whether a RASD adds a device or changes an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add,
    Modify,
}

/// Applies one RASD to a definition; returns the device id of the resource it describes.
pub fn apply_rasd(
    def: &mut DomainDef,
    rasd: &Instance,
    change: Change,
) -> Result<String, RasdError> {
    let kind = resource_kind(rasd)?;
    match kind {
        ResourceKind::Processor => {
            if let Some(n) = number(rasd, "VirtualQuantity")? {
                let n = u32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                    RasdError::Invalid("VirtualQuantity (vCPUs) must be 1 or more".into())
                })?;
                def.vcpus = n;
                def.current_vcpus = n;
            }
            return Ok("proc".into());
        }
        ResourceKind::Memory => {
            apply_memory(def, rasd, change)?;
            return Ok("mem".into());
        }
        _ => {}
    }
    // For a change, the InstanceID names the device.
    let index = if change == Change::Modify {
        let id = text(rasd, "InstanceID")
            .ok_or_else(|| RasdError::Invalid("Missing InstanceID in RASD".into()))?;
        let (_, devid) = split_fq_devid(&id)
            .ok_or_else(|| RasdError::Invalid(format!("Invalid InstanceID `{id}'")))?;
        Some(device_index(def, kind, devid).ok_or_else(|| RasdError::NoDevice(devid.to_owned()))?)
    } else {
        None
    };
    let before = index.and_then(|i| device_id(def, kind, i));
    let d = &mut def.devices;
    let at = match kind {
        ResourceKind::Disk => {
            let mut disk = index.map(|i| d.disks[i].clone()).unwrap_or_default();
            fill_disk(&mut disk, rasd)?;
            let clash = d
                .disks
                .iter()
                .enumerate()
                .any(|(i, x)| Some(i) != index && x.target_dev == disk.target_dev);
            if clash {
                return Err(RasdError::Invalid(format!(
                    "a disk with target {} already exists",
                    disk.target_dev
                )));
            }
            put_at(&mut d.disks, index, disk)
        }
        ResourceKind::Network => {
            let mut iface = index.map(|i| d.interfaces[i].clone()).unwrap_or_default();
            fill_interface(&mut iface, rasd, index.is_none())?;
            let clash = d
                .interfaces
                .iter()
                .enumerate()
                .any(|(i, x)| Some(i) != index && x.mac.eq_ignore_ascii_case(&iface.mac));
            if clash {
                return Err(RasdError::Invalid(format!(
                    "an interface with MAC {} already exists",
                    iface.mac
                )));
            }
            put_at(&mut d.interfaces, index, iface)
        }
        ResourceKind::Graphics => {
            let mut g = index.map(|i| d.graphics[i].clone()).unwrap_or_default();
            fill_graphics(&mut g, rasd)?;
            put_at(&mut d.graphics, index, g)
        }
        ResourceKind::Input => {
            let mut input = index.map(|i| d.inputs[i].clone()).unwrap_or_default();
            input.input_type = text(rasd, "ResourceSubType")
                .map(|s| s.to_ascii_lowercase())
                .unwrap_or_else(|| non_empty_or(&input.input_type, "mouse"));
            if let Some(bus) = text(rasd, "BusType") {
                input.bus = Some(bus.to_ascii_lowercase());
            } else if input.bus.is_none() {
                input.bus = Some(
                    if input.input_type == "tablet" {
                        "usb"
                    } else {
                        "ps2"
                    }
                    .into(),
                );
            }
            put_at(&mut d.inputs, index, input)
        }
        ResourceKind::Console => {
            let mut console = index.map(|i| d.consoles[i].clone()).unwrap_or_default();
            fill_console(&mut console, rasd)?;
            if console.target_port.is_none() {
                let next = d
                    .consoles
                    .iter()
                    .filter_map(|c| c.target_port)
                    .max()
                    .map_or(0, |p| p + 1);
                console.target_port = Some(next);
            }
            put_at(&mut d.consoles, index, console)
        }
        ResourceKind::Controller => {
            let mut c = index.map(|i| d.controllers[i].clone()).unwrap_or_default();
            fill_controller(&mut c, rasd, index.is_none())?;
            let clash = d.controllers.iter().enumerate().any(|(i, x)| {
                Some(i) != index && x.controller_type == c.controller_type && x.index == c.index
            });
            if clash {
                return Err(RasdError::Invalid(format!(
                    "controller {} {} already exists",
                    c.controller_type, c.index
                )));
            }
            put_at(&mut d.controllers, index, c)
        }
        ResourceKind::Processor | ResourceKind::Memory => unreachable_kind(kind)?,
    };
    let id = device_id(def, kind, at)
        .ok_or_else(|| RasdError::Invalid("the device has no id in the model".into()))?;
    if let Some(before) = before {
        // The id is the device's identity: a change may not turn it into another device.
        if !before.eq_ignore_ascii_case(&id) {
            return Err(RasdError::Invalid(format!(
                "device `{before}' cannot become `{id}'"
            )));
        }
    }
    Ok(id)
}

fn unreachable_kind(kind: ResourceKind) -> Result<usize, RasdError> {
    Err(RasdError::Invalid(format!("{kind:?} is not a device list")))
}

fn apply_memory(def: &mut DomainDef, rasd: &Instance, change: Change) -> Result<(), RasdError> {
    let units = text(rasd, "AllocationUnits");
    let current = number(rasd, "VirtualQuantity")?
        .map(|q| to_kib(q, units.as_deref()))
        .transpose()?;
    let limit = number(rasd, "Limit")?
        .map(|q| to_kib(q, units.as_deref()))
        .transpose()?;
    if current == Some(0) || limit == Some(0) {
        return Err(RasdError::Invalid("memory must be more than 0".into()));
    }
    match (current, limit) {
        (Some(cur), Some(max)) => {
            def.memory_kib = max.max(cur);
            def.current_memory_kib = cur;
        }
        (Some(cur), None) => {
            if change == Change::Add || cur > def.memory_kib {
                def.memory_kib = cur;
            }
            def.current_memory_kib = cur;
        }
        (None, Some(max)) => {
            def.memory_kib = max;
            def.current_memory_kib = def.current_memory_kib.min(max).max(1);
        }
        (None, None) => {}
    }
    Ok(())
}

fn non_empty_or(current: &str, default: &str) -> String {
    if current.is_empty() {
        default.into()
    } else {
        current.into()
    }
}

/// Replaces the item at `index`, or appends it; returns where it is.
fn put_at<T>(items: &mut Vec<T>, index: Option<usize>, item: T) -> usize {
    match index {
        Some(i) => {
            items[i] = item;
            i
        }
        None => {
            items.push(item);
            items.len() - 1
        }
    }
}

fn fill_graphics(g: &mut GraphicsDef, rasd: &Instance) -> Result<(), RasdError> {
    g.graphics_type = text(rasd, "ResourceSubType")
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_else(|| non_empty_or(&g.graphics_type, "vnc"));
    // The model writes "host:port" ("[v6]:port"), and just "sdl" for SDL.
    if let Some(address) = text(rasd, "Address").filter(|_| g.graphics_type != "sdl") {
        let (host, port) = match address.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') => {
                (h.trim_matches(|c| c == '[' || c == ']'), Some(p))
            }
            _ => (address.as_str(), None),
        };
        if !host.is_empty() {
            g.listen = Some(host.to_owned());
        }
        if let Some(p) = port {
            let port: i32 = p
                .parse()
                .map_err(|_| RasdError::Invalid(format!("invalid graphics port {p:?}")))?;
            g.port = Some(port);
            if port == -1 {
                g.autoport = Some(true);
            } else if g.autoport == Some(true) {
                g.autoport = Some(false);
            }
        }
    }
    if g.port.is_none() && g.graphics_type != "sdl" {
        g.port = Some(-1);
        g.autoport = Some(true);
    }
    // The model shows a set password as asterisks; those never replace the real one.
    if let Some(password) = text(rasd, "Password").filter(|p| !p.chars().all(|c| c == '*')) {
        g.passwd = Some(password);
    }
    Ok(())
}

fn fill_console(console: &mut CharDevDef, rasd: &Instance) -> Result<(), RasdError> {
    if let Some(source) = number(rasd, "SourceType")? {
        console.dev_type = match source {
            0 => "null",
            1 => "vc",
            2 => "pty",
            3 => "dev",
            4 => "file",
            5 => "pipe",
            6 => "stdio",
            7 => "udp",
            8 => "tcp",
            9 => "unix",
            10 => "spicevmc",
            other => {
                return Err(RasdError::Invalid(format!(
                    "console SourceType {other} is not supported"
                )))
            }
        }
        .into();
    } else if console.dev_type.is_empty() {
        console.dev_type = "pty".into();
    }
    let url_path =
        text(rasd, "ConnectURL").map(|u| u.strip_prefix("file://").unwrap_or(&u).to_owned());
    if let Some(path) = text(rasd, "SourcePath").or(url_path) {
        console.source_path = Some(path);
    }
    if let Some(target_type) = text(rasd, "TargetType") {
        console.target_type = Some(target_type);
    }
    Ok(())
}

fn fill_controller(c: &mut ControllerDef, rasd: &Instance, new: bool) -> Result<(), RasdError> {
    if let Some(kind) = text(rasd, "ResourceSubType") {
        c.controller_type = kind.to_ascii_lowercase();
    }
    if c.controller_type.is_empty() {
        return Err(RasdError::Invalid(
            "a controller needs ResourceSubType (its type)".into(),
        ));
    }
    match number(rasd, "Index")? {
        Some(i) => {
            c.index =
                u32::try_from(i).map_err(|_| RasdError::Invalid("Index is too large".into()))?;
        }
        None if new => {
            return Err(RasdError::Invalid(
                "Add resource failed: Index property is required.".into(),
            ))
        }
        None => {}
    }
    if let Some(model) = text(rasd, "Model") {
        c.model = Some(model);
    }
    Ok(())
}

fn fill_disk(disk: &mut DiskDef, rasd: &Instance) -> Result<(), RasdError> {
    if let Some(dev) = text(rasd, "VirtualDevice") {
        disk.target_dev = dev;
    }
    if disk.target_dev.is_empty() {
        return Err(RasdError::Invalid(
            "a disk needs VirtualDevice (its target, e.g. vda)".into(),
        ));
    }
    // libvirt-CIM puts the source path in Address; DMTF has HostResource.
    let source = text(rasd, "Address").or_else(|| strings(rasd, "HostResource").into_iter().next());
    if let Some(source) = source {
        disk.disk_type = if source.starts_with("/dev/") {
            "block"
        } else {
            "file"
        }
        .into();
        disk.source = Some(source);
    }
    if disk.disk_type.is_empty() {
        disk.disk_type = "file".into();
    }
    let emulated = number(rasd, "EmulatedType")?;
    let resource_type = number(rasd, "ResourceType")?;
    disk.device = match (emulated, resource_type) {
        (Some(1), _) | (None, Some(15 | 16)) => "cdrom".into(),
        (Some(2), _) | (None, Some(14)) => "floppy".into(),
        (Some(0) | None, _) if disk.device.is_empty() => "disk".into(),
        (Some(0), _) => "disk".into(),
        (Some(4), _) => "lun".into(),
        (Some(other), _) if other > 2 => {
            return Err(RasdError::Invalid(format!(
                "disk EmulatedType {other} is not supported"
            )))
        }
        _ => disk.device.clone(),
    };
    if let Some(bus) = text(rasd, "BusType") {
        disk.target_bus = Some(bus.to_ascii_lowercase());
    } else if disk.target_bus.is_none() {
        let dev = disk.target_dev.as_str();
        disk.target_bus = Some(
            if dev.starts_with("vd") {
                "virtio"
            } else if dev.starts_with("sd") {
                "scsi"
            } else if dev.starts_with("fd") {
                "fdc"
            } else {
                "ide"
            }
            .into(),
        );
    }
    if let Some(name) = text(rasd, "DriverName") {
        disk.driver_name = Some(name);
    }
    if let Some(ty) = text(rasd, "DriverType") {
        disk.driver_type = Some(ty);
    }
    if let Some(cache) = text(rasd, "DriverCache") {
        disk.driver_cache = Some(cache);
    }
    if let Some(ro) = flag(rasd, "readonly") {
        disk.readonly = ro;
    }
    if let Some(shared) = flag(rasd, "shareable") {
        disk.shareable = shared;
    }
    Ok(())
}

fn fill_interface(iface: &mut InterfaceDef, rasd: &Instance, new: bool) -> Result<(), RasdError> {
    if let Some(mac) = text(rasd, "Address") {
        let octets =
            parse_mac(&mac).ok_or_else(|| RasdError::Invalid(format!("invalid MAC {mac:?}")))?;
        let mac = octets
            .iter()
            .map(|o| format!("{o:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        if !new && !mac.eq_ignore_ascii_case(&iface.mac) {
            return Err(RasdError::Invalid(
                "the MAC address of a NIC cannot change".into(),
            ));
        }
        iface.mac = mac;
    } else if new {
        iface.mac = generate_mac();
    }
    let pool_network = text(rasd, "PoolID").and_then(|p| {
        p.strip_prefix("NetworkPool/")
            .filter(|n| *n != "0" && !n.is_empty())
            .map(str::to_owned)
    });
    let network = text(rasd, "NetworkName").or(pool_network);
    if let Some(kind) = text(rasd, "NetworkType") {
        iface.iface_type = kind.to_ascii_lowercase();
    } else if iface.iface_type.is_empty() {
        iface.iface_type = if network.is_some() { "network" } else { "user" }.into();
    }
    match iface.iface_type.as_str() {
        "network" => {
            if let Some(net) = network {
                iface.source = Some(net);
            }
            if iface.source.is_none() {
                iface.source = Some("default".into());
            }
        }
        "bridge" | "direct" => {
            if let Some(dev) = text(rasd, "SourceDevice").or(network) {
                iface.source = Some(dev);
            }
            if iface.source.is_none() {
                return Err(RasdError::Invalid(format!(
                    "a {} interface needs SourceDevice",
                    iface.iface_type
                )));
            }
        }
        "user" | "ethernet" => iface.source = None,
        other => {
            return Err(RasdError::Invalid(format!(
                "NetworkType {other:?} is not supported"
            )))
        }
    }
    if let Some(model) = text(rasd, "ResourceSubType") {
        iface.model = Some(model);
    }
    if let Some(dev) = text(rasd, "VirtualDevice") {
        iface.target_dev = Some(dev);
    }
    Ok(())
}

/// Removes the device whose id (the part after "<domain>/" of a RASD InstanceID) is `devid`; memory and
/// processors cannot be removed.
pub fn remove_device(def: &mut DomainDef, devid: &str) -> Result<(), RasdError> {
    if devid == "mem" || devid == "proc" {
        return Err(RasdError::Unsupported {
            action: "delete",
            resource_type: if devid == "mem" { "4" } else { "3" }.into(),
        });
    }
    let found = ResourceKind::ALL
        .into_iter()
        .find_map(|kind| device_index(def, kind, devid).map(|i| (kind, i)));
    let d = &mut def.devices;
    match found {
        Some((ResourceKind::Disk, i)) => drop(d.disks.remove(i)),
        Some((ResourceKind::Network, i)) => drop(d.interfaces.remove(i)),
        Some((ResourceKind::Graphics, i)) => drop(d.graphics.remove(i)),
        Some((ResourceKind::Input, i)) => drop(d.inputs.remove(i)),
        Some((ResourceKind::Console, i)) => drop(d.consoles.remove(i)),
        Some((ResourceKind::Controller, i)) => drop(d.controllers.remove(i)),
        _ => return Err(RasdError::NoDevice(devid.to_owned())),
    }
    Ok(())
}

/// The XML of one disk or NIC of a definition (by device id), for hotplug on a running domain; `None` for
/// other devices and for ids the definition lacks.
pub fn device_xml(def: &DomainDef, devid: &str) -> Option<(ResourceKind, String)> {
    let (kind, tag) = [
        (ResourceKind::Disk, "disk"),
        (ResourceKind::Network, "interface"),
    ]
    .into_iter()
    .find(|(kind, _)| device_index(def, *kind, devid).is_some())?;
    let index = device_index(def, kind, devid)?;
    let mut one = def.clone();
    one.devices = crate::model::Devices::default();
    match kind {
        ResourceKind::Disk => one
            .devices
            .disks
            .push(def.devices.disks.get(index)?.clone()),
        _ => one
            .devices
            .interfaces
            .push(def.devices.interfaces.get(index)?.clone()),
    }
    let xml = one.to_xml(&crate::model::DomainXmlOptions {
        id: None,
        secure: true,
    });
    let start = xml.find(&format!("<{tag} "))?;
    let close = format!("</{tag}>");
    let end = xml.rfind(&close)? + close.len();
    (start < end).then(|| (kind, xml[start..end].to_owned()))
}

#[cfg(test)]
mod tests {
    use super::super::guest::domain_of_vssd_id;
    use super::*;
    use crate::cim::CimType;

    fn rasd(class: &str, props: &[(&str, Value)]) -> Instance {
        let mut inst = Instance::new(class);
        for (name, value) in props {
            inst.set(name, value.clone());
        }
        inst
    }

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    fn base() -> DomainDef {
        DomainDef {
            domain_type: "test".into(),
            name: "vm".into(),
            memory_kib: 1024,
            current_memory_kib: 1024,
            vcpus: 1,
            current_vcpus: 1,
            ..DomainDef::default()
        }
    }

    #[test]
    fn memory_units_and_limits() {
        let mut def = base();
        let mem = rasd(
            "KVM_MemResourceAllocationSettingData",
            &[
                ("ResourceType", Value::Uint16(4)),
                ("VirtualQuantity", Value::Uint64(512)),
                ("AllocationUnits", s("MegaBytes")),
            ],
        );
        assert_eq!(apply_rasd(&mut def, &mem, Change::Add), Ok("mem".into()));
        assert_eq!((def.memory_kib, def.current_memory_kib), (524_288, 524_288));
        let mem = rasd(
            "KVM_MemResourceAllocationSettingData",
            &[
                ("InstanceID", s("vm/mem")),
                ("ResourceType", s("4")),
                ("VirtualQuantity", s("262144")),
                ("Limit", Value::Uint64(1 << 20)),
                ("AllocationUnits", s("byte*2^10")),
            ],
        );
        apply_rasd(&mut def, &mem, Change::Modify).expect("modify");
        assert_eq!((def.memory_kib, def.current_memory_kib), (1 << 20, 262_144));
        let bad = rasd(
            "X",
            &[
                ("ResourceType", Value::Uint16(4)),
                ("VirtualQuantity", Value::Uint64(0)),
            ],
        );
        assert!(apply_rasd(&mut def, &bad, Change::Add).is_err());
    }

    #[test]
    fn disks_and_nics_round_trip_by_device_id() {
        let mut def = base();
        let disk = rasd(
            "KVM_DiskResourceAllocationSettingData",
            &[
                ("ResourceType", Value::Uint16(17)),
                ("VirtualDevice", s("vdb")),
                ("Address", s("/var/lib/images/b.img")),
            ],
        );
        assert_eq!(apply_rasd(&mut def, &disk, Change::Add), Ok("vdb".into()));
        assert_eq!(def.devices.disks[0].target_bus.as_deref(), Some("virtio"));
        assert_eq!(def.devices.disks[0].device, "disk");
        assert!(
            apply_rasd(&mut def, &disk, Change::Add).is_err(),
            "duplicate target"
        );
        let cdrom = rasd(
            "KVM_DiskResourceAllocationSettingData",
            &[
                ("InstanceID", s("vm/vdb")),
                ("EmulatedType", Value::Uint16(1)),
            ],
        );
        apply_rasd(&mut def, &cdrom, Change::Modify).expect("modify disk");
        assert_eq!(def.devices.disks[0].device, "cdrom");
        let nic = rasd(
            "KVM_NetResourceAllocationSettingData",
            &[
                ("ResourceType", Value::Uint16(10)),
                ("Address", s("52:54:00:AA:BB:CC")),
                ("PoolID", s("NetworkPool/default")),
                ("ResourceSubType", s("virtio")),
            ],
        );
        assert_eq!(
            apply_rasd(&mut def, &nic, Change::Add),
            Ok("52:54:00:aa:bb:cc".into())
        );
        let iface = &def.devices.interfaces[0];
        assert_eq!(
            (iface.iface_type.as_str(), iface.source.as_deref()),
            ("network", Some("default"))
        );
        assert_eq!(remove_device(&mut def, "52:54:00:aa:bb:cc"), Ok(()));
        assert_eq!(remove_device(&mut def, "vdb"), Ok(()));
        assert_eq!(
            remove_device(&mut def, "vdb"),
            Err(RasdError::NoDevice("vdb".into()))
        );
        assert!(remove_device(&mut def, "mem").is_err());
        let missing = rasd(
            "KVM_DiskResourceAllocationSettingData",
            &[("InstanceID", s("vm/vdz"))],
        );
        assert_eq!(
            apply_rasd(&mut def, &missing, Change::Modify),
            Err(RasdError::NoDevice("vdz".into()))
        );
    }

    #[test]
    fn kinds_by_type_other_type_and_class() {
        let k = |props: &[(&str, Value)], class: &str| resource_kind(&rasd(class, props));
        assert_eq!(
            k(&[("ResourceType", Value::Uint16(3))], "X"),
            Ok(ResourceKind::Processor)
        );
        assert_eq!(
            k(
                &[
                    ("ResourceType", Value::Uint16(1)),
                    ("OtherResourceType", s("controller"))
                ],
                "X"
            ),
            Ok(ResourceKind::Controller)
        );
        assert_eq!(
            k(&[], "KVM_InputResourceAllocationSettingData"),
            Ok(ResourceKind::Input)
        );
        assert!(k(&[("ResourceType", Value::Uint16(99))], "X").is_err());
    }

    #[test]
    fn vssd_names_and_uuid_rules() {
        let mut def = base();
        let vssd = rasd(
            "KVM_VirtualSystemSettingData",
            &[
                ("VirtualSystemIdentifier", s("new")),
                ("UUID", s("6f1c8a8e-1111-4222-8333-444455556666")),
                ("AutomaticRecoveryAction", Value::Uint16(3)),
                (
                    "BootDevices",
                    Value::Array(CimType::String, vec![s("network"), s("hd")]),
                ),
            ],
        );
        apply_vssd(&mut def, &vssd, true).expect("define");
        assert_eq!(def.name, "new");
        assert_eq!(def.on_crash.as_deref(), Some("restart"));
        assert_eq!(def.os.boot, ["network", "hd"]);
        let other_uuid = rasd(
            "KVM_VirtualSystemSettingData",
            &[("UUID", s("00000000-0000-4000-8000-000000000001"))],
        );
        assert!(apply_vssd(&mut def, &other_uuid, false).is_err());
        assert!(apply_vssd(&mut base(), &rasd("X", &[]), true).is_err());
    }

    #[test]
    fn instance_ids() {
        assert_eq!(split_fq_devid("vm/vda"), Some(("vm", "vda")));
        assert_eq!(
            split_fq_devid("vm/controller:pci:0"),
            Some(("vm", "controller:pci:0"))
        );
        assert_eq!(split_fq_devid("vm"), None);
        assert_eq!(domain_of_vssd_id("KVM:vm1"), Some("vm1"));
        assert_eq!(domain_of_vssd_id("vm1"), None);
    }

    /// Every RASD the guest model shows, applied back as a change, leaves the definition as it was; added as
    /// new resources to an empty domain, it rebuilds the same devices.
    #[test]
    fn guest_model_rasds_round_trip() {
        let xml = "<domain type='test'><name>rt</name><uuid>6f1c8a8e-1111-4222-8333-444455556666</uuid>\
            <memory unit='KiB'>1048576</memory><currentMemory unit='KiB'>524288</currentMemory>\
            <vcpu>2</vcpu><os><type>hvm</type></os><devices>\
            <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/img/a.qcow2'/>\
            <target dev='vda' bus='virtio'/></disk>\
            <disk type='file' device='cdrom'><source file='/img/b.iso'/><target dev='hdc' bus='ide'/>\
            <readonly/></disk>\
            <controller type='usb' index='0'/>\
            <interface type='network'><mac address='52:54:00:aa:00:01'/><source network='default'/>\
            <model type='virtio'/></interface>\
            <interface type='bridge'><mac address='52:54:00:aa:00:02'/><source bridge='br0'/></interface>\
            <console type='pty'><target type='serial' port='0'/></console>\
            <input type='tablet' bus='usb'/><graphics type='vnc' port='5901' listen='127.0.0.1'/>\
            </devices></domain>";
        let def = DomainDef::from_xml(xml, false).expect("domain XML");
        let model = guest_model(&def, GuestFacts::default(), &HostIndex::default());
        let mut changed = def.clone();
        for rasd in model.rasds() {
            let id = apply_rasd(&mut changed, rasd, Change::Modify)
                .unwrap_or_else(|e| panic!("{}: {e}", rasd.class_name));
            assert_eq!(
                Some(format!("rt/{id}").as_str()),
                rasd.get_str("InstanceID")
            );
        }
        assert_eq!(changed, def);
        let mut rebuilt = DomainDef {
            name: "rt".into(),
            uuid: def.uuid,
            domain_type: def.domain_type.clone(),
            os: def.os.clone(),
            ..DomainDef::default()
        };
        for rasd in model.rasds() {
            apply_rasd(&mut rebuilt, rasd, Change::Add)
                .unwrap_or_else(|e| panic!("{}: {e}", rasd.class_name));
        }
        assert_eq!(rebuilt.devices.disks, def.devices.disks);
        assert_eq!(rebuilt.devices.interfaces, def.devices.interfaces);
        assert_eq!(rebuilt.devices.controllers, def.devices.controllers);
        assert_eq!(rebuilt.devices.inputs, def.devices.inputs);
        assert_eq!(rebuilt.devices.consoles, def.devices.consoles);
        assert_eq!(rebuilt.devices.graphics.len(), 1);
        assert_eq!(rebuilt.devices.graphics[0].port, Some(5901));
        assert_eq!(
            (rebuilt.memory_kib, rebuilt.current_memory_kib),
            (1_048_576, 524_288)
        );
        assert_eq!(rebuilt.vcpus, 2);
    }
}
