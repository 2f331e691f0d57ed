//! QEMU's command line: a pure function from a domain definition, its runtime paths and what the host offers to
//! the argv of `qemu-system-*` (without the binary). Golden-tested under `tests/data/qemu/`.

use super::{devices, firmware, graphics};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{CharDevDef, DiskDef, DomainDef, InterfaceDef};
use std::path::PathBuf;

/// Where a running domain's files live (chosen by the driver before the argv is built).
#[derive(Clone, Debug)]
pub struct RuntimePaths {
    /// The QMP unix socket QEMU listens on.
    pub qmp_socket: PathBuf,
    /// Where QEMU writes its pid.
    pub pid_file: PathBuf,
}

/// What the host offers, probed by the driver (I/O happens there, not here).
#[derive(Clone, Debug, Default)]
pub struct HostFacts {
    /// KVM opened and created a VM.
    pub kvm: bool,
    /// Names of the Linux bridges that exist.
    pub bridges: Vec<String>,
    /// The display port picked for `<graphics autoport='yes'>` (VNC: 5900 + display; SPICE: the port).
    pub vnc_port: Option<u16>,
    /// `/dev/vhost-net` is usable: virtio NICs on a tap get in-kernel acceleration (`vhost=on`).
    pub vhost_net: bool,
    /// This QEMU build has SPICE (`query-spice` among its QMP commands).
    pub spice: bool,
}

/// The first VNC TCP port (display :0).
pub const VNC_BASE_PORT: u16 = graphics::DISPLAY_BASE_PORT;

fn unsupported(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::CONFIG_UNSUPPORTED, ErrorDomain::QEMU, detail)
}

/// Commas inside a `key=value` option are doubled: that is QEMU's escape.
fn escape_opt(value: &str) -> String {
    value.replace(',', ",,")
}

/// Builds QEMU's argv (without the program) for `def`.
pub fn build_argv(def: &DomainDef, paths: &RuntimePaths, host: &HostFacts) -> Result<Vec<String>> {
    let mut argv = Vec::new();
    let mut push = |args: &[&str]| argv.extend(args.iter().map(|a| (*a).to_string()));

    let accel = match def.domain_type.as_str() {
        "qemu" => "tcg",
        "kvm" if host.kvm => "kvm",
        "kvm" => return Err(unsupported(
            "domain type 'kvm' needs KVM, which this host does not offer; use type 'qemu' (TCG)",
        )),
        other => {
            return Err(unsupported(format!(
                "domain type '{other}' cannot run on the QEMU driver (use 'qemu' or 'kvm')"
            )))
        }
    };
    if let Some(arch) = def.os.arch.as_deref() {
        if arch != "x86_64" && arch != "i686" {
            return Err(unsupported(format!(
                "architecture '{arch}' is not supported (x86_64 only)"
            )));
        }
    }
    if def.os.os_type != "hvm" {
        return Err(unsupported(format!(
            "OS type '{}' is not supported by the QEMU driver (hvm only)",
            def.os.os_type
        )));
    }
    let machine = def.os.machine.as_deref().unwrap_or("pc");
    if machine.contains(',') || machine.is_empty() {
        return Err(unsupported(format!(
            "machine type '{machine}' is not valid"
        )));
    }
    let q35 = machine.contains("q35");

    push(&[
        "-name",
        &format!("guest={},debug-threads=on", escape_opt(&def.name)),
    ]);
    push(&["-S"]);
    push(&["-uuid", &def.uuid.to_string()]);
    let (firmware_args, firmware_machine) = firmware::args(def)?;
    push(&[
        "-machine",
        &format!("{machine},accel={accel}{firmware_machine}"),
    ]);
    if accel == "kvm" && def.cpu_mode.as_deref() == Some("host-passthrough") {
        push(&["-cpu", "host"]);
    } else if let Some(model) = cpu_model(def)? {
        push(&["-cpu", model]);
    }
    // `<pm>`: S3/S4 as the definition says (QEMU's default otherwise), on the machine's power-management device.
    let pm_device = if q35 { "ICH9-LPC" } else { "PIIX4_PM" };
    let (s3, s4) = super::agent::pm_settings(def);
    for (state, enabled) in [("s3", s3), ("s4", s4)] {
        if let Some(enabled) = enabled {
            push(&[
                "-global",
                &format!("{pm_device}.disable_{state}={}", u8::from(!enabled)),
            ]);
        }
    }
    if def.memory_kib == 0 {
        return Err(unsupported("memory must be greater than zero"));
    }
    push(&["-m", &format!("size={}k", def.memory_kib)]);
    if def.vcpus == 0 || def.current_vcpus == 0 || def.current_vcpus > def.vcpus {
        return Err(unsupported(
            "vCPU counts must be at least 1 and current ≤ maximum",
        ));
    }
    push(&[
        "-smp",
        &format!("{},maxcpus={}", def.current_vcpus, def.vcpus),
    ]);
    push(&["-no-user-config", "-nodefaults"]);
    push(&[
        "-qmp",
        &format!(
            "unix:{},server=on,wait=off",
            escape_opt(&paths.qmp_socket.to_string_lossy())
        ),
    ]);
    push(&["-pidfile", &paths.pid_file.to_string_lossy()]);
    push(&firmware_args.iter().map(String::as_str).collect::<Vec<_>>());
    match def.clock_offset.as_deref() {
        None | Some("utc") => push(&["-rtc", "base=utc"]),
        Some("localtime") => push(&["-rtc", "base=localtime"]),
        Some(other) => {
            return Err(unsupported(format!(
                "clock offset '{other}' is not supported"
            )))
        }
    }
    if def.on_reboot.as_deref() == Some("destroy") {
        push(&["-no-reboot"]);
    }
    if !def.features.acpi {
        push(&["-no-acpi"]);
    }
    if !def.os.boot.is_empty() {
        let mut order = String::new();
        for dev in &def.os.boot {
            order.push(match dev.as_str() {
                "hd" => 'c',
                "cdrom" => 'd',
                "network" => 'n',
                "fd" => 'a',
                other => {
                    return Err(unsupported(format!(
                        "boot device '{other}' is not supported"
                    )))
                }
            });
        }
        push(&["-boot", &format!("order={order}")]);
    }
    if let Some(kernel) = def.os.kernel.as_deref() {
        push(&["-kernel", kernel]);
        if let Some(initrd) = def.os.initrd.as_deref() {
            push(&["-initrd", initrd]);
        }
        if let Some(cmdline) = def.os.cmdline.as_deref() {
            push(&["-append", cmdline]);
        }
    } else if def.os.initrd.is_some() || def.os.cmdline.is_some() {
        return Err(unsupported("<initrd> and <cmdline> need a <kernel>"));
    }

    // Devices the model keeps without interpreting would be silently missing from the guest: refused instead.
    let mut balloon = Some(String::new());
    let mut audio = Vec::new();
    for other in &def.devices.others {
        match (other.name.as_str(), other.attr("model")) {
            ("memballoon", Some("virtio")) => {
                balloon = Some(devices::pci_props(&other.children)?);
            }
            ("memballoon", Some("none")) => balloon = None,
            ("audio", _) => audio_args(other, &mut audio)?,
            // Built by `devices::virtio_serial_args`, which refuses what it cannot build.
            ("channel", _) => {}
            ("memballoon", model) => {
                return Err(unsupported(format!(
                    "memballoon model '{}' is not supported (virtio only)",
                    model.unwrap_or_default()
                )))
            }
            (name, _) => {
                return Err(unsupported(format!(
                    "<{name}> devices are not supported by this QEMU driver"
                )))
            }
        }
    }
    argv.extend(audio);
    graphics_args(def, host, &mut argv)?;
    devices::controller_args(def, q35, &mut argv)?;
    disk_args(def, q35, &mut argv)?;
    for (index, iface) in def.devices.interfaces.iter().enumerate() {
        interface_args(iface, index, host, &mut argv)?;
    }
    serial_args(def, &mut argv)?;
    devices::virtio_serial_args(def, &mut argv)?;
    for (index, input) in def.devices.inputs.iter().enumerate() {
        if let Some(device) = devices::input_device(input, index)? {
            if input.bus.as_deref() == Some("usb") {
                need_usb(def, &mut argv)?;
            }
            argv.extend(["-device".into(), device]);
        }
    }
    // libvirt gives every x86 guest a virtio balloon unless told otherwise; setting memory live needs it.
    if let Some(pci) = balloon {
        argv.extend([
            "-device".into(),
            format!("virtio-balloon-pci,id=balloon0{pci}"),
        ]);
    }
    argv.extend(["-msg".into(), "timestamp=on".into()]);
    if q35 {
        // The root bus of q35 is `pcie.0`.
        for arg in argv.iter_mut() {
            if arg.contains(",bus=pci.0,") || arg.ends_with(",bus=pci.0") {
                *arg = arg
                    .split(',')
                    .map(|part| {
                        if part == "bus=pci.0" {
                            "bus=pcie.0"
                        } else {
                            part
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(",");
            }
        }
    }
    Ok(argv)
}

/// The model of a `<cpu mode='custom'>` (libvirt's default for x86 is `qemu64`), passed to `-cpu`.
fn cpu_model(def: &DomainDef) -> Result<Option<&str>> {
    if def.cpu_mode.as_deref().unwrap_or("custom") != "custom" {
        return Ok(None);
    }
    let Some(model) = def
        .extra
        .of("cpu")
        .and_then(|cpu| cpu.children.iter().find(|n| n.name == "model"))
    else {
        return Ok(None);
    };
    let name = model.text.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(unsupported(format!("CPU model '{name}' is not valid")));
    }
    Ok(Some(name))
}

/// `-audiodev` of an `<audio>` backend (libvirt's id `audio<N>`): `none` and `spice` are built.
fn audio_args(audio: &crate::xml::Node, argv: &mut Vec<String>) -> Result<()> {
    let id = audio.attr("id").unwrap_or("1");
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unsupported(format!("audio id '{id}' is not valid")));
    }
    let driver = match audio.attr("type") {
        Some(kind @ ("none" | "spice")) => kind,
        other => {
            return Err(unsupported(format!(
                "audio type '{}' is not supported (none, spice)",
                other.unwrap_or_default()
            )))
        }
    };
    argv.extend(["-audiodev".into(), format!("id=audio{id},driver={driver}")]);
    Ok(())
}

fn graphics_args(def: &DomainDef, host: &HostFacts, argv: &mut Vec<String>) -> Result<()> {
    let display = graphics::args(def, host.vnc_port, host.spice, argv)?;
    if !display && def.devices.videos.iter().all(|v| v.model_type == "none") {
        return Ok(());
    }
    let video = def.devices.videos.first();
    let model = video.map(|v| v.model_type.as_str()).unwrap_or("vga");
    let device = match model {
        "vga" => "VGA",
        "cirrus" => "cirrus-vga",
        "virtio" => "virtio-vga",
        "qxl" => "qxl-vga",
        "none" => return Ok(()),
        other => {
            return Err(unsupported(format!(
                "video model '{other}' is not supported"
            )))
        }
    };
    if def.devices.videos.len() > 1 {
        return Err(unsupported("only one <video> device is supported"));
    }
    let pci = match video {
        Some(video) => devices::pci_props(&video.extra.children)?,
        None => String::new(),
    };
    argv.extend(["-device".into(), format!("{device},id=video0{pci}")]);
    Ok(())
}

/// The block node names of the disk at `position` among `count` disks at start, as libvirt 9.0 numbers them
/// (the first disk gets the highest number): (`libvirt-N-format`, `libvirt-N-storage`).
pub(super) fn disk_nodes(count: usize, position: usize) -> (String, String) {
    node_names(count.saturating_sub(position).max(1))
}

/// `libvirt-N-format` and `libvirt-N-storage`.
pub(super) fn node_names(n: usize) -> (String, String) {
    (
        format!("libvirt-{n}-format"),
        format!("libvirt-{n}-storage"),
    )
}

/// The `N` of a `libvirt-N-...` node name.
pub(super) fn node_number(name: &str) -> Option<usize> {
    name.strip_prefix("libvirt-")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// A disk's QEMU device id: its `<alias>` (given by the driver before QEMU starts, as libvirt names disks).
fn disk_device_id(disk: &DiskDef) -> String {
    disk.extra
        .children
        .iter()
        .find(|n| n.name == "alias")
        .and_then(|n| n.attr("name"))
        .map(str::to_string)
        .unwrap_or_else(|| format!("disk-{}", disk.target_dev))
}

/// The index a target name encodes: `vda` → 0, `hdc` → 2, `sdab` → 27.
pub(super) fn target_index(target: &str) -> Option<usize> {
    let letters = target.get(2..)?;
    if letters.is_empty() || !letters.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let mut index = 0usize;
    for b in letters.bytes() {
        index = index
            .checked_mul(26)?
            .checked_add(usize::from(b - b'a') + 1)?;
    }
    Some(index - 1)
}

fn json_string(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}

fn disk_args(def: &DomainDef, q35: bool, argv: &mut Vec<String>) -> Result<()> {
    let mut used = std::collections::BTreeSet::new();
    let count = def.devices.disks.len();
    for (position, disk) in def.devices.disks.iter().enumerate() {
        let bus = disk.target_bus.clone().unwrap_or_else(|| default_bus(disk));
        let index = target_index(&disk.target_dev).ok_or_else(|| {
            unsupported(format!("disk target '{}' is not valid", disk.target_dev))
        })?;
        if !used.insert((bus.clone(), index)) {
            return Err(unsupported(format!(
                "two disks use target '{}'",
                disk.target_dev
            )));
        }
        // libvirt's names: the device is the disk's alias, the block nodes `libvirt-N-format`/`-storage`.
        let id = disk_device_id(disk);
        let (node, storage) = disk_nodes(count, position);
        let cdrom = match disk.device.as_str() {
            "disk" => false,
            "cdrom" => true,
            other => {
                return Err(unsupported(format!(
                    "disk device '{other}' is not supported"
                )))
            }
        };
        let has_media = disk.source.is_some();
        if has_media {
            argv.extend([
                "-blockdev".into(),
                blockdev_json(disk, (&node, &storage), cdrom)?,
            ]);
        } else if !cdrom {
            return Err(unsupported(format!(
                "disk '{}' has no source",
                disk.target_dev
            )));
        }
        let drive = if has_media {
            format!(",drive={node}")
        } else {
            String::new()
        };
        let device = match bus.as_str() {
            "virtio" if cdrom => return Err(unsupported("a cdrom cannot sit on the virtio bus")),
            "virtio" => format!(
                "virtio-blk-pci{}{drive},id={id}",
                devices::pci_props(&disk.extra.children)?
            ),
            "ide" if q35 => return Err(unsupported("q35 machines have no IDE bus; use sata")),
            "ide" => {
                if index > 3 {
                    return Err(unsupported(format!(
                        "IDE target '{}' is beyond hdd",
                        disk.target_dev
                    )));
                }
                let kind = if cdrom { "ide-cd" } else { "ide-hd" };
                format!(
                    "{kind},bus=ide.{},unit={}{drive},id={id}",
                    index / 2,
                    index % 2
                )
            }
            "sata" => {
                if index > 5 {
                    return Err(unsupported(format!(
                        "SATA target '{}' is beyond sdf",
                        disk.target_dev
                    )));
                }
                // q35 has its AHCI controller built in (bus "ide"); on pc one is added.
                let controller = if q35 { "ide" } else { "sata0" };
                if !q35 {
                    push_once(argv, "ahci,id=sata0");
                }
                let kind = if cdrom { "ide-cd" } else { "ide-hd" };
                format!("{kind},bus={controller}.{index}{drive},id={id}")
            }
            "scsi" => {
                push_once(argv, SCSI_CONTROLLER);
                let kind = if cdrom { "scsi-cd" } else { "scsi-hd" };
                let props = devices::scsi_disk_props(def, disk, index)?;
                format!("{kind},{props}{drive},id={id}")
            }
            "usb" if !cdrom => {
                need_usb(def, argv)?;
                format!(
                    "usb-storage,bus=usb.0{}{drive},id={id}",
                    devices::usb_port(&disk.extra.children)
                )
            }
            other => return Err(unsupported(format!("disk bus '{other}' is not supported"))),
        };
        argv.extend(["-device".into(), device + &bootindex(disk.boot_order)]);
    }
    Ok(())
}

/// The virtio-scsi controller SCSI disks sit on (libvirt's `scsi0`), and the USB controller (libvirt's `usb`).
pub(super) const SCSI_CONTROLLER: &str = "virtio-scsi-pci,id=scsi0";
pub(super) const USB_CONTROLLER: &str = "piix3-usb-uhci,id=usb";

/// Adds a controller unless the argv already has a device with its id (a definition's own controller).
fn push_once(argv: &mut Vec<String>, device: &str) {
    let id = device.split(',').find_map(|p| p.strip_prefix("id="));
    let present = match id {
        Some(id) => devices::has_device_id(argv, id),
        None => argv.iter().any(|a| a == device),
    };
    if !present {
        argv.extend(["-device".into(), device.into()]);
    }
}

/// A USB device needs the USB controller: the definition's, else libvirt's default one; none when USB is off.
fn need_usb(def: &DomainDef, argv: &mut Vec<String>) -> Result<()> {
    if devices::usb_disabled(def) {
        return Err(unsupported(
            "USB is disabled for this domain, but USB devices are present in the domain XML",
        ));
    }
    push_once(argv, USB_CONTROLLER);
    Ok(())
}

pub(super) fn default_bus(disk: &DiskDef) -> String {
    match disk.target_dev.get(..2) {
        Some("vd") => "virtio",
        Some("sd") => "sata",
        _ => "ide",
    }
    .to_string()
}

/// The `-blockdev`/`blockdev-add` of a disk's medium: its format node `node.0` over a protocol node named
/// `node.1` (created with it, and removed with it).
pub(super) fn blockdev_json(disk: &DiskDef, node: (&str, &str), cdrom: bool) -> Result<String> {
    let (node, storage) = node;
    let source = disk.source.as_deref().unwrap_or_default();
    let protocol = match disk.disk_type.as_str() {
        "file" | "" => "file",
        "block" => "host_device",
        other => return Err(unsupported(format!("disk type '{other}' is not supported"))),
    };
    let format = disk.driver_type.as_deref().unwrap_or("raw");
    if format != "raw" && format != "qcow2" {
        return Err(unsupported(format!(
            "disk format '{format}' is not supported (raw, qcow2)"
        )));
    }
    let read_only = disk.readonly || cdrom;
    let cache = match disk.driver_cache.as_deref() {
        None | Some("default") | Some("writeback") => "",
        Some("none") => r#","cache":{"direct":true,"no-flush":false}"#,
        Some("writethrough") | Some("directsync") => {
            r#","cache":{"direct":false,"no-flush":false}"#
        }
        Some("unsafe") => r#","cache":{"direct":false,"no-flush":true}"#,
        Some(other) => {
            return Err(unsupported(format!(
                "disk cache mode '{other}' is not supported"
            )))
        }
    };
    Ok(format!(
        r#"{{"driver":"{format}","node-name":{},"read-only":{read_only}{cache},"file":{{"driver":"{protocol}","node-name":{},"filename":{},"read-only":{read_only}}}}}"#,
        json_string(node),
        json_string(storage),
        json_string(source)
    ))
}

/// The host bridge a bridged or network interface joins: a network's is the one its driver gave it at start
/// (without a network driver, the bridge libvirt would give it: `default` is `virbr0`).
pub fn bridge_name(iface: &InterfaceDef) -> Option<&str> {
    let source = iface.source.as_deref()?;
    match (iface.iface_type.as_str(), source) {
        ("bridge", bridge) => Some(bridge),
        ("network", _) if iface.source_bridge.is_some() => iface.source_bridge.as_deref(),
        ("network", "default") => Some("virbr0"),
        ("network", network) => Some(network),
        _ => None,
    }
}

/// The QEMU device of a NIC's `<model>` (rtl8139 when none is named, as libvirt's default for pc).
pub(super) fn nic_device(iface: &InterfaceDef) -> Result<&'static str> {
    Ok(match iface.model.as_deref().unwrap_or("rtl8139") {
        "virtio" => "virtio-net-pci",
        "e1000" => "e1000",
        "e1000e" => "e1000e",
        "rtl8139" => "rtl8139",
        other => return Err(unsupported(format!("NIC model '{other}' is not supported"))),
    })
}

fn interface_args(
    iface: &InterfaceDef,
    index: usize,
    host: &HostFacts,
    argv: &mut Vec<String>,
) -> Result<()> {
    let netdev = format!("hostnet{index}");
    let model = nic_device(iface)?;
    let backend = match iface.iface_type.as_str() {
        "user" => format!("user,id={netdev}"),
        "bridge" | "network" => {
            let bridge = bridge_name(iface).ok_or_else(|| {
                unsupported(format!("interface {index} names no {}", iface.iface_type))
            })?;
            if !host.bridges.iter().any(|b| b == bridge) {
                return Err(Error::with_detail(
                    ErrorCode::OPERATION_FAILED,
                    ErrorDomain::QEMU,
                    format!(
                        "interface {index}: bridge '{bridge}' does not exist on this host \
                         (create it, or use <interface type='user'>)"
                    ),
                ));
            }
            // The driver creates the tap on the bridge and names it in the live definition before this runs.
            let tap = iface.target_dev.as_deref().ok_or_else(|| {
                Error::internal(
                    ErrorDomain::QEMU,
                    format!("interface {index}: no tap device was prepared"),
                )
            })?;
            let vhost = if host.vhost_net && model == "virtio-net-pci" {
                ",vhost=on"
            } else {
                ""
            };
            format!(
                "tap,id={netdev},ifname={},script=no,downscript=no{vhost}",
                escape_opt(tap)
            )
        }
        other => {
            return Err(unsupported(format!(
                "interface type '{other}' is not supported"
            )))
        }
    };
    crate::model::parse_mac(&iface.mac)
        .ok_or_else(|| unsupported(format!("MAC address '{}' is not valid", iface.mac)))?;
    argv.extend(["-netdev".into(), backend]);
    argv.extend([
        "-device".into(),
        format!(
            "{model},netdev={netdev},id=net{index},mac={}{}{}",
            iface.mac,
            devices::pci_props(&iface.extra.children)?,
            bootindex(iface.boot_order)
        ),
    ]);
    Ok(())
}

/// A device's `<boot order=N>` as QEMU's `bootindex` property (libvirt passes the order unchanged).
fn bootindex(order: Option<u32>) -> String {
    order
        .map(|order| format!(",bootindex={order}"))
        .unwrap_or_default()
}

fn chardev_backend(dev: &CharDevDef, id: &str) -> Result<String> {
    Ok(match dev.dev_type.as_str() {
        "pty" => format!("pty,id={id}"),
        "null" => format!("null,id={id}"),
        "file" => {
            let path = dev
                .source_path
                .as_deref()
                .ok_or_else(|| unsupported("a file serial needs <source path=...>"))?;
            format!("file,id={id},path={},append=on", escape_opt(path))
        }
        other => {
            return Err(unsupported(format!(
                "character device type '{other}' is not supported"
            )))
        }
    })
}

fn serial_args(def: &DomainDef, argv: &mut Vec<String>) -> Result<()> {
    // A serial console is the first serial port (libvirt shows it twice); a console alone becomes that port.
    let serials: Vec<&CharDevDef> = if def.devices.serials.is_empty() {
        def.devices
            .consoles
            .iter()
            .filter(|c| matches!(c.target_type.as_deref(), None | Some("serial")))
            .take(1)
            .collect()
    } else {
        def.devices.serials.iter().collect()
    };
    for (index, serial) in serials.iter().enumerate() {
        let port = serial
            .target_port
            .unwrap_or(u32::try_from(index).unwrap_or(u32::MAX));
        if port > 3 {
            return Err(unsupported(format!(
                "serial port {port} is beyond the 4 ISA ports"
            )));
        }
        let id = format!("charserial{port}");
        argv.extend(["-chardev".into(), chardev_backend(serial, &id)?]);
        argv.extend([
            "-device".into(),
            format!("isa-serial,chardev={id},id=serial{port},index={port}"),
        ]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_map_to_indexes() {
        assert_eq!(target_index("vda"), Some(0));
        assert_eq!(target_index("hdc"), Some(2));
        assert_eq!(target_index("sdz"), Some(25));
        assert_eq!(target_index("sdaa"), Some(26));
        assert_eq!(target_index("vd"), None);
        assert_eq!(target_index("vd1"), None);
    }

    #[test]
    fn commas_are_doubled() {
        assert_eq!(escape_opt("a,b"), "a,,b");
    }
}
