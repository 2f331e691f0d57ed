//! Domain definitions (`<domain>` XML): the model, its parser (with the validate flag) and its stable formatter.

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::mac;
use crate::model::names::validate_name;
use crate::model::units::ScaleDefault;
use crate::model::xml::{parse_decimal, parse_document, parse_signed, Attrs, Ctx, Node, XmlWriter};
use uuid::Uuid;

/// A domain definition as libvirt models the parts we support.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DomainDef {
    /// `<domain type=...>`: "test", "kvm", "qemu".
    pub domain_type: String,
    pub name: String,
    pub uuid: Uuid,
    pub title: Option<String>,
    pub description: Option<String>,
    /// `<memory>`: the maximum, KiB.
    pub memory_kib: u64,
    /// `<currentMemory>`, KiB (equal to `memory_kib` when absent).
    pub current_memory_kib: u64,
    /// `<vcpu>`: the maximum.
    pub vcpus: u32,
    /// `<vcpu current=...>` (equal to `vcpus` when absent).
    pub current_vcpus: u32,
    pub os: OsDef,
    pub features: Features,
    /// `<cpu mode=...>`.
    pub cpu_mode: Option<String>,
    /// `<clock offset=...>`.
    pub clock_offset: Option<String>,
    pub on_poweroff: Option<String>,
    pub on_reboot: Option<String>,
    pub on_crash: Option<String>,
    pub devices: Devices,
    /// `<blkiotune>`, `<memtune>`, `<cputune>`, `<numatune>`.
    pub tunables: crate::model::tunables::Tunables,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct OsDef {
    /// `<type>`: "hvm", "linux", "xen", "exe".
    pub os_type: String,
    pub arch: Option<String>,
    pub machine: Option<String>,
    /// `<boot dev=...>` in order: "hd", "cdrom", "network", "fd".
    pub boot: Vec<String>,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Features {
    pub acpi: bool,
    pub apic: bool,
    pub pae: bool,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Devices {
    pub emulator: Option<String>,
    pub disks: Vec<DiskDef>,
    pub controllers: Vec<ControllerDef>,
    pub interfaces: Vec<InterfaceDef>,
    pub serials: Vec<CharDevDef>,
    pub consoles: Vec<CharDevDef>,
    pub inputs: Vec<InputDef>,
    pub graphics: Vec<GraphicsDef>,
    pub videos: Vec<VideoDef>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DiskDef {
    /// `type`: "file" or "block".
    pub disk_type: String,
    /// `device`: "disk", "cdrom" or "floppy".
    pub device: String,
    pub driver_name: Option<String>,
    pub driver_type: Option<String>,
    pub driver_cache: Option<String>,
    /// `<source file=...>` or `<source dev=...>`.
    pub source: Option<String>,
    pub target_dev: String,
    pub target_bus: Option<String>,
    pub readonly: bool,
    pub shareable: bool,
    /// `<iotune>`: block I/O throttling.
    pub iotune: crate::model::tunables::BlockIoTune,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct InterfaceDef {
    /// "network", "bridge", "user" or "ethernet".
    pub iface_type: String,
    /// Always set after parsing: generated (52:54:00:xx:xx:xx) when missing.
    pub mac: String,
    /// The network name or bridge name.
    pub source: Option<String>,
    pub model: Option<String>,
    pub target_dev: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct GraphicsDef {
    /// "vnc" or "spice".
    pub graphics_type: String,
    pub port: Option<i32>,
    pub autoport: Option<bool>,
    pub listen: Option<String>,
    /// Shown only with the secure flag.
    pub passwd: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct VideoDef {
    pub model_type: String,
    pub vram: Option<u64>,
    pub heads: Option<u32>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct InputDef {
    /// "mouse", "tablet" or "keyboard".
    pub input_type: String,
    pub bus: Option<String>,
}

/// A `<serial>` or `<console>`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct CharDevDef {
    /// "pty", "file", "null", "stdio", ...
    pub dev_type: String,
    pub source_path: Option<String>,
    pub target_type: Option<String>,
    pub target_port: Option<u32>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ControllerDef {
    pub controller_type: String,
    pub index: u32,
    pub model: Option<String>,
}

/// How to format a domain's XML.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct DomainXmlOptions {
    /// The live id, written as `<domain id=...>` for running domains.
    pub id: Option<i32>,
    /// Include secrets (graphics passwords): the SECURE flag.
    pub secure: bool,
}

const SCHEMA: &str = "domain.rng";

/// libvirt's virtualization types (`<domain type=...>`).
pub const DOMAIN_TYPES: &[&str] = &[
    "none",
    "qemu",
    "kqemu",
    "kvm",
    "xen",
    "lxc",
    "uml",
    "openvz",
    "test",
    "vmware",
    "hyperv",
    "vbox",
    "phyp",
    "parallels",
    "bhyve",
    "vz",
    "hvf",
];
const OS_TYPES: &[&str] = &["hvm", "xen", "linux", "exe", "uml", "xenpvh"];
const BOOT_DEVICES: &[&str] = &["fd", "cdrom", "hd", "network"];
const CPU_MODES: &[&str] = &["custom", "host-model", "host-passthrough", "maximum"];
const CLOCK_OFFSETS: &[&str] = &["utc", "localtime", "timezone", "variable", "absolute"];
const LIFECYCLE_ACTIONS: &[&str] = &["destroy", "restart", "rename-restart", "preserve"];
const CRASH_ACTIONS: &[&str] = &[
    "destroy",
    "restart",
    "rename-restart",
    "preserve",
    "coredump-destroy",
    "coredump-restart",
];
const DISK_TYPES: &[&str] = &["file", "block"];
const DISK_DEVICES: &[&str] = &["disk", "cdrom", "floppy"];
const DISK_BUSES: &[&str] = &[
    "ide", "fdc", "scsi", "virtio", "xen", "usb", "uml", "sata", "sd",
];
const DISK_CACHES: &[&str] = &[
    "default",
    "none",
    "writethrough",
    "writeback",
    "directsync",
    "unsafe",
];
const INTERFACE_TYPES: &[&str] = &["network", "bridge", "user", "ethernet"];
const GRAPHICS_TYPES: &[&str] = &["vnc", "spice"];
const VIDEO_MODELS: &[&str] = &[
    "vga",
    "cirrus",
    "vmvga",
    "xen",
    "vbox",
    "qxl",
    "parallels",
    "virtio",
    "gop",
    "none",
    "bochs",
    "ramfb",
];
/// The model libvirt picks when `<video>` names none (what its test driver reports).
pub const DEFAULT_VIDEO_MODEL: &str = "cirrus";
const INPUT_TYPES: &[&str] = &["mouse", "tablet", "keyboard"];
const INPUT_BUSES: &[&str] = &["ps2", "usb", "xen", "parallels", "virtio", "none"];
const CHAR_TYPES: &[&str] = &[
    "null",
    "vc",
    "pty",
    "dev",
    "file",
    "pipe",
    "stdio",
    "udp",
    "tcp",
    "unix",
    "spicevmc",
    "spiceport",
    "nmdm",
    "qemu-vdagent",
    "dbus",
];
const CONTROLLER_TYPES: &[&str] = &[
    "ide",
    "fdc",
    "scsi",
    "sata",
    "virtio-serial",
    "ccid",
    "usb",
    "pci",
    "xenbus",
    "isa",
];

fn unsupported(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::CONFIG_UNSUPPORTED, ErrorDomain::DOMAIN, detail)
}

/// `value` must be one of `allowed`, else CONFIG_UNSUPPORTED with `message(value)` (libvirt's wording).
fn one_of(value: &str, allowed: &[&str], message: impl FnOnce(&str) -> String) -> Result<String> {
    if allowed.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(unsupported(message(value)))
    }
}

impl DomainDef {
    /// Parses domain XML. Unknown elements are dropped, as libvirt drops them, unless `validate` is set, when
    /// they are an error naming the element. A missing UUID is generated, as are missing MAC addresses.
    pub fn from_xml(xml: &str, validate: bool) -> Result<Self> {
        let cx = Ctx::new(ErrorDomain::DOMAIN, SCHEMA, validate);
        let root = parse_document(xml, cx.domain, cx.document_name())?;
        cx.expect_root(&root, "domain")?;
        cx.check(
            &root,
            &[
                "name",
                "uuid",
                "title",
                "description",
                "memory",
                "currentMemory",
                "vcpu",
                "os",
                "features",
                "cpu",
                "clock",
                "on_poweroff",
                "on_reboot",
                "on_crash",
                "devices",
                "blkiotune",
                "memtune",
                "cputune",
                "numatune",
                "perf",
            ],
            &["type", "id"],
        )?;
        if let Some(id) = root.attr("id").filter(|_| validate) {
            parse_signed::<i32>(id).ok_or_else(|| cx.invalid_attr("domain", "id", id))?;
        }
        let domain_type = match root.attr("type") {
            None => {
                return Err(Error::internal(
                    ErrorDomain::DOMAIN,
                    "missing domain type attribute",
                ))
            }
            Some(kind) => one_of(kind, DOMAIN_TYPES, |kind| {
                format!("invalid domain type {kind}")
            })?,
        };
        for leaf in [
            "name",
            "uuid",
            "title",
            "description",
            "on_poweroff",
            "on_reboot",
            "on_crash",
        ] {
            for node in root.children_named(leaf) {
                cx.check(node, &[], &[])?;
            }
        }

        let name = match root.child_text("name") {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => {
                return Err(Error::new(
                    ErrorCode::NO_NAME,
                    ErrorDomain::DOMAIN,
                    "missing name information",
                ))
            }
        };
        validate_name("domain", &name)?;
        let uuid = cx.uuid(&root)?;
        let title = root.child_text("title").map(str::to_string);
        if title
            .as_deref()
            .is_some_and(|title| title.contains(['\n', '\r']))
        {
            return Err(cx.xml_error("Domain title can't contain newlines"));
        }
        let description = root.child_text("description").map(str::to_string);

        let (memory_kib, current_memory_kib) = parse_memory(&cx, &root)?;
        let (vcpus, current_vcpus) = parse_vcpu(&cx, &root)?;
        let os = parse_os(&cx, &root)?;
        let features = parse_features(&cx, &root)?;

        let cpu_mode = match root.child("cpu") {
            Some(cpu) => {
                cx.check(cpu, &[], &["mode"])?;
                cpu.attr("mode")
                    .map(|mode| {
                        one_of(mode, CPU_MODES, |mode| {
                            format!("Invalid mode attribute '{mode}'")
                        })
                    })
                    .transpose()?
            }
            None => None,
        };
        let clock_offset = match root.child("clock") {
            Some(clock) => {
                cx.check(clock, &[], &["offset"])?;
                clock
                    .attr("offset")
                    .map(|offset| {
                        one_of(offset, CLOCK_OFFSETS, |offset| {
                            format!("unknown clock offset '{offset}'")
                        })
                    })
                    .transpose()?
            }
            None => None,
        };
        let lifecycle = |element: &str, allowed: &[&str]| -> Result<Option<String>> {
            root.child_text(element)
                .map(|action| {
                    one_of(action, allowed, |action| {
                        format!("unknown {element} action: {action}")
                    })
                })
                .transpose()
        };
        let on_poweroff = lifecycle("on_poweroff", LIFECYCLE_ACTIONS)?;
        let on_reboot = lifecycle("on_reboot", LIFECYCLE_ACTIONS)?;
        let on_crash = lifecycle("on_crash", CRASH_ACTIONS)?;

        let devices = match root.child("devices") {
            Some(node) => parse_devices(&cx, node)?,
            None => Devices::default(),
        };
        let tunables = crate::model::tunables::parse(&cx, &root)?;

        Ok(Self {
            domain_type,
            name,
            uuid,
            title,
            description,
            memory_kib,
            current_memory_kib,
            vcpus,
            current_vcpus,
            os,
            features,
            cpu_mode,
            clock_offset,
            on_poweroff,
            on_reboot,
            on_crash,
            devices,
            tunables,
        })
    }

    /// Formats the definition; the output is stable (same definition, same bytes).
    pub fn to_xml(&self, options: &DomainXmlOptions) -> String {
        let mut w = XmlWriter::new();
        w.open(
            "domain",
            Attrs::new()
                .with("type", &self.domain_type)
                .opt("id", options.id),
        );
        w.text("name", Attrs::new(), &self.name);
        w.text("uuid", Attrs::new(), &self.uuid.hyphenated().to_string());
        w.opt_text("title", self.title.as_deref());
        w.opt_text("description", self.description.as_deref());
        w.text(
            "memory",
            Attrs::new().with("unit", "KiB"),
            &self.memory_kib.to_string(),
        );
        w.text(
            "currentMemory",
            Attrs::new().with("unit", "KiB"),
            &self.current_memory_kib.to_string(),
        );
        crate::model::tunables::format_memory_side(&mut w, &self.tunables);
        let current = (self.current_vcpus != self.vcpus).then_some(self.current_vcpus);
        w.text(
            "vcpu",
            Attrs::new()
                .with("placement", "static")
                .opt("current", current),
            &self.vcpus.to_string(),
        );
        crate::model::tunables::format_cpu_side(&mut w, &self.tunables);
        format_os(&mut w, &self.os);
        let features = &self.features;
        if features.acpi || features.apic || features.pae {
            w.open("features", Attrs::new());
            for (on, name) in [
                (features.acpi, "acpi"),
                (features.apic, "apic"),
                (features.pae, "pae"),
            ] {
                if on {
                    w.empty(name, Attrs::new());
                }
            }
            w.close("features");
        }
        if let Some(mode) = &self.cpu_mode {
            w.empty("cpu", Attrs::new().with("mode", mode));
        }
        if let Some(offset) = &self.clock_offset {
            w.empty("clock", Attrs::new().with("offset", offset));
        }
        w.opt_text("on_poweroff", self.on_poweroff.as_deref());
        w.opt_text("on_reboot", self.on_reboot.as_deref());
        w.opt_text("on_crash", self.on_crash.as_deref());
        crate::model::tunables::format_perf(&mut w, &self.tunables);
        format_devices(&mut w, &self.devices, options);
        w.close("domain");
        w.finish()
    }

    /// The disk whose target is `dev` ("vda").
    pub fn disk_by_target(&self, dev: &str) -> Option<&DiskDef> {
        self.devices
            .disks
            .iter()
            .find(|disk| disk.target_dev == dev)
    }

    /// The interface with this MAC address (any case).
    pub fn interface_by_mac(&self, mac: &str) -> Option<&InterfaceDef> {
        self.devices
            .interfaces
            .iter()
            .find(|iface| iface.mac.eq_ignore_ascii_case(mac))
    }
}

fn parse_memory(cx: &Ctx, root: &Node) -> Result<(u64, u64)> {
    let mut memory = 0;
    if let Some(node) = root.child("memory") {
        cx.check(node, &[], &["unit", "dumpCore"])?;
        cx.enum_attr(node, "dumpCore", &["on", "off"])?;
        memory = cx.scaled(node, ScaleDefault::KiB)?;
    }
    if memory == 0 {
        return Err(cx.xml_error(
            "Memory size must be specified via <memory> or in the <numa> configuration",
        ));
    }
    let mut current = 0;
    if let Some(node) = root.child("currentMemory") {
        cx.check(node, &[], &["unit"])?;
        current = cx.scaled(node, ScaleDefault::KiB)?;
    }
    // libvirt clamps a missing, zero or too large balloon to the maximum.
    if current == 0 || current > memory {
        current = memory;
    }
    Ok((memory, current))
}

fn parse_vcpu(cx: &Ctx, root: &Node) -> Result<(u32, u32)> {
    let Some(node) = root.child("vcpu") else {
        return Ok((1, 1));
    };
    cx.check(node, &[], &["placement", "current", "cpuset"])?;
    cx.enum_attr(node, "placement", &["static", "auto"])?;
    let vcpus: u32 = parse_decimal(&node.text)
        .ok_or_else(|| cx.xml_error("maximum vcpus count must be an integer"))?;
    if vcpus == 0 {
        return Err(cx.xml_error("maximum vcpus count must be at least 1"));
    }
    let current = match node.attr("current") {
        None => vcpus,
        Some(text) => parse_decimal::<u32>(text)
            .filter(|current| *current > 0)
            .ok_or_else(|| cx.xml_error("current vcpus count must be a positive integer"))?,
    };
    if current > vcpus {
        return Err(unsupported(
            "maximum vCPU count must not be less than current vCPU count",
        ));
    }
    Ok((vcpus, current))
}

fn parse_os(cx: &Ctx, root: &Node) -> Result<OsDef> {
    let missing = || cx.xml_error("an os <type> must be specified");
    let os = root.child("os").ok_or_else(missing)?;
    cx.check(os, &["type", "boot", "kernel", "initrd", "cmdline"], &[])?;
    let type_node = os.child("type").ok_or_else(missing)?;
    cx.check(type_node, &[], &["arch", "machine"])?;
    if type_node.text.is_empty() {
        return Err(missing());
    }
    let os_type = one_of(&type_node.text, OS_TYPES, |kind| {
        format!("unknown OS type '{kind}'")
    })?;
    let mut boot = Vec::new();
    for node in os.children_named("boot") {
        cx.check(node, &[], &["dev"])?;
        let dev = node
            .attr("dev")
            .ok_or_else(|| cx.missing_attr("boot", "dev"))?;
        if !BOOT_DEVICES.contains(&dev) {
            return Err(cx.invalid_attr("boot", "dev", dev));
        }
        boot.push(dev.to_string());
    }
    for leaf in ["kernel", "initrd", "cmdline"] {
        if let Some(node) = os.child(leaf) {
            cx.check(node, &[], &[])?;
        }
    }
    Ok(OsDef {
        os_type,
        arch: type_node.attr("arch").map(str::to_string),
        machine: type_node.attr("machine").map(str::to_string),
        boot,
        kernel: os.child_text("kernel").map(str::to_string),
        initrd: os.child_text("initrd").map(str::to_string),
        cmdline: os.child_text("cmdline").map(str::to_string),
    })
}

fn format_os(w: &mut XmlWriter, os: &OsDef) {
    w.open("os", Attrs::new());
    w.text(
        "type",
        Attrs::new()
            .opt("arch", os.arch.as_deref())
            .opt("machine", os.machine.as_deref()),
        &os.os_type,
    );
    w.opt_text("kernel", os.kernel.as_deref());
    w.opt_text("initrd", os.initrd.as_deref());
    w.opt_text("cmdline", os.cmdline.as_deref());
    for dev in &os.boot {
        w.empty("boot", Attrs::new().with("dev", dev));
    }
    w.close("os");
}

fn parse_features(cx: &Ctx, root: &Node) -> Result<Features> {
    let Some(node) = root.child("features") else {
        return Ok(Features::default());
    };
    cx.check(node, &["acpi", "apic", "pae"], &[])?;
    for child in &node.children {
        cx.check(child, &[], &[])?;
    }
    Ok(Features {
        acpi: node.child("acpi").is_some(),
        apic: node.child("apic").is_some(),
        pae: node.child("pae").is_some(),
    })
}

fn parse_devices(cx: &Ctx, node: &Node) -> Result<Devices> {
    cx.check(
        node,
        &[
            "emulator",
            "disk",
            "controller",
            "interface",
            "serial",
            "console",
            "input",
            "graphics",
            "video",
        ],
        &[],
    )?;
    let mut devices = Devices::default();
    if let Some(emulator) = node.child("emulator") {
        cx.check(emulator, &[], &[])?;
        devices.emulator = Some(emulator.text.clone());
    }
    for child in &node.children {
        match child.name.as_str() {
            "disk" => devices.disks.push(parse_disk(cx, child)?),
            "controller" => devices.controllers.push(parse_controller(cx, child)?),
            "interface" => devices.interfaces.push(parse_interface(cx, child)?),
            "serial" => devices.serials.push(parse_chardev(cx, child)?),
            "console" => devices.consoles.push(parse_chardev(cx, child)?),
            "input" => devices.inputs.push(parse_input(cx, child)?),
            "graphics" => devices.graphics.push(parse_graphics(cx, child)?),
            "video" => devices.videos.push(parse_video(cx, child)?),
            _ => {}
        }
    }
    Ok(devices)
}

fn format_devices(w: &mut XmlWriter, devices: &Devices, options: &DomainXmlOptions) {
    w.open("devices", Attrs::new());
    w.opt_text("emulator", devices.emulator.as_deref());
    for disk in &devices.disks {
        format_disk(w, disk);
    }
    for controller in &devices.controllers {
        w.empty(
            "controller",
            Attrs::new()
                .with("type", &controller.controller_type)
                .with("index", controller.index)
                .opt("model", controller.model.as_deref()),
        );
    }
    for iface in &devices.interfaces {
        format_interface(w, iface);
    }
    for serial in &devices.serials {
        format_chardev(w, "serial", serial);
    }
    for console in &devices.consoles {
        format_chardev(w, "console", console);
    }
    for input in &devices.inputs {
        w.empty(
            "input",
            Attrs::new()
                .with("type", &input.input_type)
                .opt("bus", input.bus.as_deref()),
        );
    }
    for graphics in &devices.graphics {
        let passwd = if options.secure {
            graphics.passwd.as_deref()
        } else {
            None
        };
        w.empty(
            "graphics",
            Attrs::new()
                .with("type", &graphics.graphics_type)
                .opt("port", graphics.port)
                .opt(
                    "autoport",
                    graphics.autoport.map(|on| if on { "yes" } else { "no" }),
                )
                .opt("listen", graphics.listen.as_deref())
                .opt("passwd", passwd),
        );
    }
    for video in &devices.videos {
        w.open("video", Attrs::new());
        w.empty(
            "model",
            Attrs::new()
                .with("type", &video.model_type)
                .opt("vram", video.vram)
                .opt("heads", video.heads),
        );
        w.close("video");
    }
    w.close("devices");
}

fn parse_disk(cx: &Ctx, node: &Node) -> Result<DiskDef> {
    cx.check(
        node,
        &[
            "driver",
            "source",
            "target",
            "iotune",
            "readonly",
            "shareable",
        ],
        &["type", "device"],
    )?;
    let disk_type = cx
        .enum_attr(node, "type", DISK_TYPES)?
        .unwrap_or_else(|| "file".into());
    let device = cx
        .enum_attr(node, "device", DISK_DEVICES)?
        .unwrap_or_else(|| "disk".into());
    let mut disk = DiskDef {
        disk_type,
        device,
        iotune: crate::model::tunables::parse_iotune(cx, node)?,
        ..DiskDef::default()
    };
    if let Some(driver) = node.child("driver") {
        cx.check(driver, &[], &["name", "type", "cache"])?;
        disk.driver_name = driver.attr("name").map(str::to_string);
        disk.driver_type = driver.attr("type").map(str::to_string);
        disk.driver_cache = cx.enum_attr(driver, "cache", DISK_CACHES)?;
    }
    if let Some(source) = node.child("source") {
        cx.check(source, &[], &["file", "dev"])?;
        let key = if disk.disk_type == "block" {
            "dev"
        } else {
            "file"
        };
        disk.source = source.attr(key).map(str::to_string);
    }
    let target = node
        .child("target")
        .and_then(|target| target.attr("dev").map(|dev| (target, dev)));
    let Some((target, dev)) = target else {
        return Err(Error::new(
            ErrorCode(20),
            ErrorDomain::DOMAIN,
            format!(
                "missing target information for device {}",
                disk.source.as_deref().unwrap_or("")
            ),
        ));
    };
    cx.check(target, &[], &["dev", "bus"])?;
    disk.target_dev = dev.to_string();
    disk.target_bus = cx.enum_attr(target, "bus", DISK_BUSES)?;
    for flag in ["readonly", "shareable"] {
        if let Some(child) = node.child(flag) {
            cx.check(child, &[], &[])?;
        }
    }
    disk.readonly = node.child("readonly").is_some();
    disk.shareable = node.child("shareable").is_some();
    Ok(disk)
}

fn format_disk(w: &mut XmlWriter, disk: &DiskDef) {
    w.open(
        "disk",
        Attrs::new()
            .with("type", &disk.disk_type)
            .with("device", &disk.device),
    );
    let driver = Attrs::new()
        .opt("name", disk.driver_name.as_deref())
        .opt("type", disk.driver_type.as_deref())
        .opt("cache", disk.driver_cache.as_deref());
    if !driver.is_empty() {
        w.empty("driver", driver);
    }
    if let Some(source) = &disk.source {
        let key = if disk.disk_type == "block" {
            "dev"
        } else {
            "file"
        };
        w.empty("source", Attrs::new().with(key, source));
    }
    w.empty(
        "target",
        Attrs::new()
            .with("dev", &disk.target_dev)
            .opt("bus", disk.target_bus.as_deref()),
    );
    crate::model::tunables::format_iotune(w, &disk.iotune);
    if disk.readonly {
        w.empty("readonly", Attrs::new());
    }
    if disk.shareable {
        w.empty("shareable", Attrs::new());
    }
    w.close("disk");
}

fn parse_interface(cx: &Ctx, node: &Node) -> Result<InterfaceDef> {
    cx.check(node, &["mac", "source", "model", "target"], &["type"])?;
    let iface_type = cx
        .enum_attr(node, "type", INTERFACE_TYPES)?
        .unwrap_or_else(|| "user".into());
    let mac = match node.child("mac") {
        Some(mac_node) => {
            cx.check(mac_node, &[], &["address"])?;
            let text = mac_node
                .attr("address")
                .ok_or_else(|| cx.missing_attr("mac", "address"))?;
            let octets = mac::parse_mac(text).ok_or_else(|| {
                Error::with_detail(
                    ErrorCode::XML_ERROR,
                    cx.domain,
                    format!("unable to parse mac address '{text}'"),
                )
            })?;
            if mac::is_multicast(&octets) {
                return Err(cx.xml_error(format!(
                    "expected unicast mac address, found multicast '{text}'"
                )));
            }
            mac::format_mac(&octets)
        }
        None => mac::generate_mac(),
    };
    let source_key = match iface_type.as_str() {
        "network" => Some("network"),
        "bridge" => Some("bridge"),
        _ => None,
    };
    let mut source = None;
    if let Some(source_node) = node.child("source") {
        cx.check(source_node, &[], &["network", "bridge"])?;
        source = source_key
            .and_then(|key| source_node.attr(key))
            .map(str::to_string);
    }
    if source_key.is_some() && source.is_none() {
        return Err(cx.xml_error(format!(
            "interface type='{iface_type}' requires a 'source' element"
        )));
    }
    let mut model = None;
    if let Some(model_node) = node.child("model") {
        cx.check(model_node, &[], &["type"])?;
        model = Some(
            model_node
                .attr("type")
                .ok_or_else(|| cx.missing_attr("model", "type"))?
                .to_string(),
        );
    }
    let mut target_dev = None;
    if let Some(target) = node.child("target") {
        cx.check(target, &[], &["dev"])?;
        target_dev = target.attr("dev").map(str::to_string);
    }
    Ok(InterfaceDef {
        iface_type,
        mac,
        source,
        model,
        target_dev,
    })
}

fn format_interface(w: &mut XmlWriter, iface: &InterfaceDef) {
    w.open("interface", Attrs::new().with("type", &iface.iface_type));
    w.empty("mac", Attrs::new().with("address", &iface.mac));
    if let Some(source) = &iface.source {
        let key = if iface.iface_type == "bridge" {
            "bridge"
        } else {
            "network"
        };
        w.empty("source", Attrs::new().with(key, source));
    }
    if let Some(dev) = &iface.target_dev {
        w.empty("target", Attrs::new().with("dev", dev));
    }
    if let Some(model) = &iface.model {
        w.empty("model", Attrs::new().with("type", model));
    }
    w.close("interface");
}

fn parse_graphics(cx: &Ctx, node: &Node) -> Result<GraphicsDef> {
    cx.check(
        node,
        &["listen"],
        &["type", "port", "autoport", "listen", "passwd"],
    )?;
    let graphics_type = cx
        .enum_attr(node, "type", GRAPHICS_TYPES)?
        .ok_or_else(|| cx.missing_attr("graphics", "type"))?;
    let port = node
        .attr("port")
        .map(|text| {
            parse_signed::<i32>(text).ok_or_else(|| cx.invalid_attr("graphics", "port", text))
        })
        .transpose()?;
    let autoport = cx.bool_attr(node, "autoport", ("yes", "no"))?;
    let mut listen = node.attr("listen").map(str::to_string);
    for child in node.children_named("listen") {
        cx.check(child, &[], &["type", "address"])?;
        if listen.is_none() {
            listen = child.attr("address").map(str::to_string);
        }
    }
    Ok(GraphicsDef {
        graphics_type,
        port,
        autoport,
        listen,
        passwd: node.attr("passwd").map(str::to_string),
    })
}

fn parse_video(cx: &Ctx, node: &Node) -> Result<VideoDef> {
    cx.check(node, &["model"], &[])?;
    let Some(model) = node.child("model") else {
        return Ok(VideoDef {
            model_type: DEFAULT_VIDEO_MODEL.into(),
            ..VideoDef::default()
        });
    };
    cx.check(model, &[], &["type", "vram", "heads", "primary"])?;
    cx.enum_attr(model, "primary", &["yes", "no"])?;
    let model_type = match model.attr("type") {
        None => DEFAULT_VIDEO_MODEL.to_string(),
        Some(kind) => one_of(kind, VIDEO_MODELS, |kind| {
            format!("unknown video model '{kind}'")
        })?,
    };
    Ok(VideoDef {
        model_type,
        vram: cx.u64_attr(model, "vram")?,
        heads: cx.u32_attr(model, "heads")?,
    })
}

fn parse_input(cx: &Ctx, node: &Node) -> Result<InputDef> {
    cx.check(node, &[], &["type", "bus"])?;
    let input_type = match node.attr("type") {
        None => {
            return Err(Error::internal(
                ErrorDomain::DOMAIN,
                "missing input device type",
            ))
        }
        Some(kind) => one_of(kind, INPUT_TYPES, |kind| {
            format!("unknown input device type '{kind}'")
        })?,
    };
    Ok(InputDef {
        input_type,
        bus: cx.enum_attr(node, "bus", INPUT_BUSES)?,
    })
}

fn parse_chardev(cx: &Ctx, node: &Node) -> Result<CharDevDef> {
    cx.check(node, &["source", "target"], &["type"])?;
    let dev_type = match node.attr("type") {
        None => "pty".to_string(),
        Some(kind) => one_of(kind, CHAR_TYPES, |kind| {
            format!("unknown type presented to host for character device: {kind}")
        })?,
    };
    let mut chardev = CharDevDef {
        dev_type,
        ..CharDevDef::default()
    };
    if let Some(source) = node.child("source") {
        cx.check(source, &[], &["path"])?;
        chardev.source_path = source.attr("path").map(str::to_string);
    }
    if let Some(target) = node.child("target") {
        cx.check(target, &[], &["type", "port"])?;
        chardev.target_type = target.attr("type").map(str::to_string);
        chardev.target_port = cx.u32_attr(target, "port")?;
    }
    Ok(chardev)
}

fn format_chardev(w: &mut XmlWriter, element: &str, chardev: &CharDevDef) {
    let attrs = Attrs::new().with("type", &chardev.dev_type);
    let target = Attrs::new()
        .opt("type", chardev.target_type.as_deref())
        .opt("port", chardev.target_port);
    if chardev.source_path.is_none() && target.is_empty() {
        w.empty(element, attrs);
        return;
    }
    w.open(element, attrs);
    if let Some(path) = &chardev.source_path {
        w.empty("source", Attrs::new().with("path", path));
    }
    if !target.is_empty() {
        w.empty("target", target);
    }
    w.close(element);
}

fn parse_controller(cx: &Ctx, node: &Node) -> Result<ControllerDef> {
    cx.check(node, &[], &["type", "index", "model"])?;
    Ok(ControllerDef {
        controller_type: cx
            .enum_attr(node, "type", CONTROLLER_TYPES)?
            .unwrap_or_else(|| "ide".into()),
        index: cx.u32_attr(node, "index")?.unwrap_or(0),
        model: node.attr("model").map(str::to_string),
    })
}

/// One device element given alone (to attach, detach or update): what the driver can act on, or the element's
/// name for kinds it cannot.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DeviceDef {
    Disk(Box<DiskDef>),
    /// The interface, and whether its XML named a MAC (else one was generated and matching ignores it).
    Interface(InterfaceDef, bool),
    Controller(ControllerDef),
    Other(String),
}

/// Parses one `<disk>`, `<interface>`, `<controller>` or other device element (`virDomainDeviceDefParse`).
pub fn parse_device(xml: &str) -> Result<DeviceDef> {
    let cx = Ctx::new(ErrorDomain::DOMAIN, SCHEMA, false);
    let root = parse_document(xml, cx.domain, cx.document_name())?;
    Ok(match root.name.as_str() {
        "disk" => DeviceDef::Disk(Box::new(parse_disk(&cx, &root)?)),
        "interface" => {
            DeviceDef::Interface(parse_interface(&cx, &root)?, root.child("mac").is_some())
        }
        "controller" => DeviceDef::Controller(parse_controller(&cx, &root)?),
        other => DeviceDef::Other(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "6695eb01-f6a4-8304-79aa-97f2502e193f";

    fn minimal(extra: &str) -> String {
        format!(
            "<domain type='test'><name>a</name><uuid>{UUID}</uuid><memory>1024</memory>\
             <os><type>hvm</type></os>{extra}</domain>"
        )
    }

    fn parse_err(xml: &str, validate: bool) -> Error {
        DomainDef::from_xml(xml, validate).expect_err("should be refused")
    }

    #[test]
    fn minimal_domain_gets_libvirt_defaults() {
        let def = DomainDef::from_xml(&minimal(""), false).unwrap();
        assert_eq!(def.domain_type, "test");
        assert_eq!(def.uuid.to_string(), UUID);
        assert_eq!((def.memory_kib, def.current_memory_kib), (1024, 1024));
        assert_eq!((def.vcpus, def.current_vcpus), (1, 1));
        assert_eq!(def.os.os_type, "hvm");
        assert_eq!(
            def.to_xml(&DomainXmlOptions::default()),
            format!(
                "<domain type='test'>\n  <name>a</name>\n  <uuid>{UUID}</uuid>\n  <memory unit='KiB'>1024</memory>\n  \
                 <currentMemory unit='KiB'>1024</currentMemory>\n  <vcpu placement='static'>1</vcpu>\n  <os>\n    \
                 <type>hvm</type>\n  </os>\n  <devices>\n  </devices>\n</domain>\n"
            )
        );
    }

    #[test]
    fn id_and_secure_options_shape_the_output() {
        let xml = minimal("<devices><graphics type='vnc' port='5900' passwd='pw'/></devices>");
        let def = DomainDef::from_xml(&xml, true).unwrap();
        let plain = def.to_xml(&DomainXmlOptions::default());
        assert!(plain.starts_with("<domain type='test'>\n"));
        assert!(!plain.contains("passwd"));
        let live = def.to_xml(&DomainXmlOptions {
            id: Some(3),
            secure: true,
        });
        assert!(live.starts_with("<domain type='test' id='3'>\n"));
        assert!(live.contains("<graphics type='vnc' port='5900' passwd='pw'/>"));
        assert_eq!(DomainDef::from_xml(&live, true).unwrap(), def);
    }

    #[test]
    fn missing_uuid_and_mac_are_generated() {
        let xml = "<domain type='kvm'><name>g</name><memory unit='MiB'>1</memory><vcpu current='1'>2</vcpu>\
                   <os><type>hvm</type></os><devices><interface type='network'><source network='default'/>\
                   </interface></devices></domain>";
        let one = DomainDef::from_xml(xml, true).unwrap();
        let two = DomainDef::from_xml(xml, true).unwrap();
        assert_ne!(one.uuid, two.uuid);
        assert_eq!(one.uuid.get_version_num(), 4);
        let mac = &one.devices.interfaces[0].mac;
        assert!(mac.starts_with("52:54:00:"), "{mac}");
        assert_eq!(one.memory_kib, 1024);
        assert_eq!((one.vcpus, one.current_vcpus), (2, 1));
        let out = one.to_xml(&DomainXmlOptions::default());
        assert!(out.contains("<vcpu placement='static' current='1'>2</vcpu>"));
        assert_eq!(DomainDef::from_xml(&out, true).unwrap(), one);
    }

    #[test]
    fn macs_are_normalised_and_checked() {
        let with_mac = |mac: &str| {
            minimal(&format!(
                "<devices><interface type='user'><mac address='{mac}'/></interface></devices>"
            ))
        };
        let def = DomainDef::from_xml(&with_mac("52:54:0:AA:b:C"), false).unwrap();
        assert_eq!(def.devices.interfaces[0].mac, "52:54:00:aa:0b:0c");
        assert!(def.interface_by_mac("52:54:00:AA:0B:0C").is_some());
        let err = parse_err(&with_mac("zz"), false);
        assert_eq!(err.code, ErrorCode::XML_ERROR);
        assert_eq!(err.message, "XML error: unable to parse mac address 'zz'");
        let err = parse_err(&with_mac("01:00:00:00:00:01"), false);
        assert_eq!(
            err.message,
            "XML error: expected unicast mac address, found multicast '01:00:00:00:00:01'"
        );
    }

    #[test]
    fn libvirt_errors_for_bad_definitions() {
        let t = "<domain type='test'><name>a</name>";
        let cases: Vec<(String, ErrorCode, &str)> = vec![
            (
                "<domain><name>a</name><memory>1</memory></domain>".into(),
                ErrorCode::INTERNAL_ERROR,
                "missing domain type attribute",
            ),
            (
                "<domain type='foo'><name>a</name></domain>".into(),
                ErrorCode::CONFIG_UNSUPPORTED,
                "invalid domain type foo",
            ),
            (
                "<domain type='test'><memory>1</memory></domain>".into(),
                ErrorCode::NO_NAME,
                "missing name information",
            ),
            (
                "<domain type='test'><name></name></domain>".into(),
                ErrorCode::NO_NAME,
                "missing name information",
            ),
            (
                "<domain type='test'><name>a/b</name></domain>".into(),
                ErrorCode::XML_ERROR,
                "must not contain '/'",
            ),
            (
                "<domain type='test'><name>.a</name></domain>".into(),
                ErrorCode::XML_ERROR,
                "must not start with '.'",
            ),
            (
                format!("{t}<uuid>xyz</uuid></domain>"),
                ErrorCode::XML_ERROR,
                "malformed uuid element",
            ),
            (
                format!("{t}<uuid>{{{UUID}}}</uuid></domain>"),
                ErrorCode::XML_ERROR,
                "malformed uuid element",
            ),
            (
                format!("{t}<title>a\nb</title></domain>"),
                ErrorCode::XML_ERROR,
                "Domain title can't contain newlines",
            ),
            (
                format!("{t}<os><type>hvm</type></os></domain>"),
                ErrorCode::XML_ERROR,
                "Memory size must be specified",
            ),
            (
                format!("{t}<memory>0</memory></domain>"),
                ErrorCode::XML_ERROR,
                "Memory size must be specified",
            ),
            (
                format!("{t}<memory>-5</memory></domain>"),
                ErrorCode::XML_ERROR,
                "Invalid value '-5' for element or attribute 'memory'",
            ),
            (
                format!("{t}<memory unit='foo'>1</memory></domain>"),
                ErrorCode::INVALID_ARG,
                "unknown suffix 'foo'",
            ),
            (
                format!("{t}<memory unit='EiB'>99</memory></domain>"),
                ErrorCode::OVERFLOW,
                "value too large",
            ),
            (
                format!("{t}<memory>1</memory><vcpu>x</vcpu></domain>"),
                ErrorCode::XML_ERROR,
                "maximum vcpus count must be an integer",
            ),
            (
                format!("{t}<memory>1</memory><vcpu>0</vcpu></domain>"),
                ErrorCode::XML_ERROR,
                "at least 1",
            ),
            (
                format!("{t}<memory>1</memory><vcpu current='4'>2</vcpu></domain>"),
                ErrorCode::CONFIG_UNSUPPORTED,
                "maximum vCPU count must not be less than current vCPU count",
            ),
            (
                format!("{t}<memory>1</memory></domain>"),
                ErrorCode::XML_ERROR,
                "an os <type> must be specified",
            ),
            (
                format!("{t}<memory>1</memory><os><type>zz</type></os></domain>"),
                ErrorCode::CONFIG_UNSUPPORTED,
                "unknown OS type 'zz'",
            ),
            (
                "<dom type='test'/>".into(),
                ErrorCode::XML_ERROR,
                "expecting root element of 'domain', not 'dom'",
            ),
        ];
        for (xml, code, text) in &cases {
            let err = parse_err(xml, false);
            assert_eq!(err.code, *code, "{xml}: {}", err.message);
            assert!(err.message.contains(text), "{xml}: {}", err.message);
        }
        let device_cases: &[(&str, ErrorCode, &str)] = &[
            (
                "<disk type='file'><source file='/x'/></disk>",
                ErrorCode(20),
                "missing target information for device /x",
            ),
            (
                "<disk type='zzz'><target dev='vda'/></disk>",
                ErrorCode::XML_ERROR,
                "Invalid value for attribute 'type' in element 'disk': 'zzz'.",
            ),
            (
                "<interface type='network'/>",
                ErrorCode::XML_ERROR,
                "interface type='network' requires a 'source' element",
            ),
            (
                "<graphics port='1'/>",
                ErrorCode::XML_ERROR,
                "Missing required attribute 'type' in element 'graphics'",
            ),
            (
                "<graphics type='vnc' port='abc'/>",
                ErrorCode::XML_ERROR,
                "'port' in element 'graphics'",
            ),
            (
                "<input bus='usb'/>",
                ErrorCode::INTERNAL_ERROR,
                "missing input device type",
            ),
            (
                "<input type='zz'/>",
                ErrorCode::CONFIG_UNSUPPORTED,
                "unknown input device type 'zz'",
            ),
            (
                "<video><model type='zz'/></video>",
                ErrorCode::CONFIG_UNSUPPORTED,
                "unknown video model 'zz'",
            ),
            (
                "<serial type='zz'/>",
                ErrorCode::CONFIG_UNSUPPORTED,
                "unknown type presented to host for character device: zz",
            ),
        ];
        for (device, code, text) in device_cases {
            let err = parse_err(&minimal(&format!("<devices>{device}</devices>")), false);
            assert_eq!(err.code, *code, "{device}: {}", err.message);
            assert!(err.message.contains(text), "{device}: {}", err.message);
        }
        let err = parse_err(&minimal("<on_poweroff>zz</on_poweroff>"), false);
        assert_eq!(
            err.message,
            "unsupported configuration: unknown on_poweroff action: zz"
        );
        let err = parse_err(&minimal("<clock offset='zz'/>"), false);
        assert_eq!(
            err.message,
            "unsupported configuration: unknown clock offset 'zz'"
        );
    }

    #[test]
    fn unknown_content_is_dropped_or_refused_with_validate() {
        let xml = minimal(
            "<metadata><x/></metadata><devices><memballoon model='virtio'/>\
             <disk type='file' foo='1'><target dev='vda'/><address type='pci'/></disk></devices>",
        );
        let def = DomainDef::from_xml(&xml, false).unwrap();
        assert_eq!(def.devices.disks.len(), 1);
        let err = parse_err(&xml, true);
        assert_eq!(err.code, ErrorCode::XML_INVALID_SCHEMA);
        assert!(err.message.contains("metadata"), "{}", err.message);
        let err = parse_err(
            &minimal("<devices><disk type='file' foo='1'><target dev='vda'/></disk></devices>"),
            true,
        );
        assert!(
            err.message
                .contains("Invalid attribute foo for element disk"),
            "{}",
            err.message
        );
        let err = parse_err(
            &minimal("<devices><disk><target dev='vda'/><address/></disk></devices>"),
            true,
        );
        assert!(
            err.message
                .contains("Element disk has extra content: address"),
            "{}",
            err.message
        );
    }

    #[test]
    fn memory_units_and_clamping() {
        let xml = minimal("").replace(
            "<memory>1024</memory>",
            "<memory unit='GiB'>2</memory><currentMemory unit='MB'>1000</currentMemory>",
        );
        let def = DomainDef::from_xml(&xml, true).unwrap();
        assert_eq!((def.memory_kib, def.current_memory_kib), (2 << 20, 976_563));
        let xml = minimal("<currentMemory unit='GiB'>9</currentMemory>");
        assert_eq!(
            DomainDef::from_xml(&xml, true).unwrap().current_memory_kib,
            1024
        );
    }

    #[test]
    fn graphics_listen_child_is_read_when_the_attribute_is_missing() {
        let xml = minimal("<devices><graphics type='spice'><listen type='address' address='0.0.0.0'/></graphics></devices>");
        let def = DomainDef::from_xml(&xml, true).unwrap();
        assert_eq!(def.devices.graphics[0].listen.as_deref(), Some("0.0.0.0"));
    }
}
