//! Domain definitions (`<domain>` XML): the model, its parser (with the validate flag) and its stable formatter.

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::domain_schema::ELEMENTS;
use crate::model::mac;
use crate::model::names::validate_name;
use crate::model::units::ScaleDefault;
use crate::model::xml::{
    is_xml_space, parse_decimal, parse_document, parse_signed, Attrs, Ctx, Node, XmlWriter,
};
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
    /// `<metadata>`: applications' own elements, each in its namespace, kept as given (declarations included).
    pub metadata: Option<Node>,
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
    /// What libvirt's schema allows at the top level that the model does not interpret (`<genid>`,
    /// `<memoryBacking>`, `<sysinfo>`, `<pm>`, `<seclabel>` ...) and the root's namespace declarations; nested
    /// under "memory", "vcpu", "cpu" and "clock", the uninterpreted parts of those elements.
    pub extra: Extra,
}

/// The parts of one element that libvirt's schema allows but the model does not interpret, kept as parsed and
/// written back: its other attributes, its other child elements (whole), and the same for interpreted children
/// by name. Names the schema does not know are never kept: refused with validation, dropped without (as libvirt's
/// parser ignores them).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Extra {
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
    pub nested: Vec<(String, Extra)>,
}

impl Extra {
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty() && self.children.is_empty() && self.nested.is_empty()
    }

    /// The kept parts of the interpreted child `name`.
    pub fn of(&self, name: &str) -> Option<&Extra> {
        self.nested
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, extra)| extra)
    }

    fn put(&mut self, name: &str, extra: Extra) {
        if !extra.is_empty() {
            self.nested.push((name.to_string(), extra));
        }
    }

    /// The attribute `name` among the kept ones.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
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
    /// `<loader>`, `<nvram>`, `<bootmenu>`, `<smbios>`, `<bios>`, `firmware=` ...
    pub extra: Extra,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Features {
    pub acpi: bool,
    pub apic: bool,
    pub pae: bool,
    /// `<hyperv>`, `<kvm>`, `<vmport>` ... and attributes of the three above.
    pub extra: Extra,
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
    /// Devices the model does not interpret (`<hostdev>`, `<filesystem>`, `<channel>`, `<sound>`, `<watchdog>`,
    /// `<rng>`, `<memballoon>`, `<tpm>`, `<panic>`, `<redirdev>` ...), kept whole in document order.
    pub others: Vec<Node>,
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
    /// `<boot order=...>`: the device's place in the boot order (QEMU's `bootindex`).
    pub boot_order: Option<u32>,
    /// `<serial>`, `<address>`, `<alias>`, `<wwn>` ...
    pub extra: Extra,
    /// `<encryption>`: the volume's encryption format and the secret holding its passphrase.
    pub encryption: Option<DiskEncryption>,
    /// `<auth>`: the user and secret a network disk logs in with.
    pub auth: Option<DiskAuth>,
}

/// `<secret type=.. uuid=.. usage=..>` inside a disk's `<encryption>` or `<auth>`: a secret by UUID or usage.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DiskSecret {
    pub secret_type: Option<String>,
    pub uuid: Option<Uuid>,
    pub usage: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DiskEncryption {
    /// "luks", "qcow", "default".
    pub format: String,
    pub secrets: Vec<DiskSecret>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DiskAuth {
    pub username: String,
    pub secret: DiskSecret,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct InterfaceDef {
    /// "network", "bridge", "user" or "ethernet".
    pub iface_type: String,
    /// Always set after parsing: generated (52:54:00:xx:xx:xx) when missing.
    pub mac: String,
    /// The network name or bridge name.
    pub source: Option<String>,
    /// The bridge a `type='network'` interface joined when the guest started (live XML:
    /// `<source network='N' bridge='B'/>`).
    pub source_bridge: Option<String>,
    pub model: Option<String>,
    pub target_dev: Option<String>,
    /// `<boot order=...>`.
    pub boot_order: Option<u32>,
    /// `<mtu>`, `<address>`, `<driver>`, `<link>`, `<bandwidth>` ...
    pub extra: Extra,
    /// `<filterref>`: the network filter bound to the interface's host port while the guest runs.
    pub filterref: Option<crate::model::FilterRef>,
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
    /// `<listen>` children, `keymap=`, `passwdValidTo=` ...
    pub extra: Extra,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct VideoDef {
    pub model_type: String,
    pub vram: Option<u64>,
    pub heads: Option<u32>,
    pub extra: Extra,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct InputDef {
    /// "mouse", "tablet" or "keyboard".
    pub input_type: String,
    pub bus: Option<String>,
    pub extra: Extra,
}

/// A `<serial>` or `<console>`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct CharDevDef {
    /// "pty", "file", "null", "stdio", ...
    pub dev_type: String,
    pub source_path: Option<String>,
    pub target_type: Option<String>,
    pub target_port: Option<u32>,
    pub extra: Extra,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ControllerDef {
    pub controller_type: String,
    pub index: u32,
    pub model: Option<String>,
    pub extra: Extra,
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

/// The top-level elements the model interprets (itself or through `tunables`); libvirt's other top-level
/// elements are kept in [`DomainDef::extra`].
const INTERPRETED_TOP: &[&str] = &[
    "name",
    "uuid",
    "title",
    "description",
    "metadata",
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
];

/// libvirt's order of the top-level elements when it writes a definition (`virDomainDefFormatInternal`).
const TOP_ORDER: &[&str] = &[
    "name",
    "uuid",
    "genid",
    "title",
    "description",
    "metadata",
    "maxMemory",
    "memory",
    "currentMemory",
    "blkiotune",
    "memtune",
    "memoryBacking",
    "vcpu",
    "vcpus",
    "iothreads",
    "iothreadids",
    "defaultiothread",
    "cputune",
    "numatune",
    "resource",
    "sysinfo",
    "bootloader",
    "bootloader_args",
    "os",
    "idmap",
    "features",
    "cpu",
    "clock",
    "on_poweroff",
    "on_reboot",
    "on_crash",
    "on_lockfailure",
    "pm",
    "perf",
    "devices",
    "seclabel",
    "keywrap",
    "launchSecurity",
];

/// libvirt's order of device kinds when it writes `<devices>`.
const DEVICE_ORDER: &[&str] = &[
    "emulator",
    "disk",
    "controller",
    "lease",
    "filesystem",
    "interface",
    "smartcard",
    "serial",
    "parallel",
    "console",
    "channel",
    "input",
    "tpm",
    "graphics",
    "sound",
    "audio",
    "video",
    "hostdev",
    "redirdev",
    "redirfilter",
    "hub",
    "watchdog",
    "memballoon",
    "rng",
    "nvram",
    "panic",
    "shmem",
    "memory",
    "iommu",
    "vsock",
    "crypto",
];

/// The device kinds the model interprets.
const INTERPRETED_DEVICES: &[&str] = &[
    "emulator",
    "disk",
    "controller",
    "interface",
    "serial",
    "console",
    "input",
    "graphics",
    "video",
];

/// The namespace a metadata element belongs to: its prefix's declaration, or the default namespace.
fn namespace_of(node: &Node) -> Option<&str> {
    match node.name.split_once(':') {
        Some((prefix, _)) => node.attr(&format!("xmlns:{prefix}")),
        None => node.attr("xmlns"),
    }
}

/// `<metadata>`: each child keeps its namespace; a prefix declared on `<metadata>` or `<domain>` is copied onto
/// the child that uses it, so the element stands alone (as libvirt's copy of the node does).
fn parse_metadata(cx: &Ctx, root: &Node, node: &Node) -> Result<Node> {
    keep(cx, "domain", node, &[], &[])?;
    let mut metadata = Node {
        name: "metadata".into(),
        ..Node::default()
    };
    for child in &node.children {
        let mut child = without_blanks(child.clone());
        if namespace_of(&child).is_none() {
            let key = match child.name.split_once(':') {
                Some((prefix, _)) => format!("xmlns:{prefix}"),
                None => "xmlns".to_string(),
            };
            if let Some(uri) = node.attr(&key).or_else(|| root.attr(&key)) {
                child.attrs.insert(0, (key, uri.to_string()));
            }
        }
        metadata.children.push(child);
    }
    Ok(metadata)
}

/// `virDomainMetadataType`.
pub mod metadata_type {
    pub const DESCRIPTION: i32 = 0;
    pub const TITLE: i32 = 1;
    pub const ELEMENT: i32 = 2;
}

fn unknown_metadata_type(kind: i32) -> Error {
    Error::invalid_arg(
        ErrorDomain::DOMAIN,
        format!("unknown metadata type '{kind}'"),
    )
}

/// The argument checks of `virDomainSetMetadata` / `virDomainGetMetadata` (`set` tells which), worded as
/// libvirt's public API words them.
pub fn check_metadata_args(
    set: bool,
    kind: i32,
    metadata: Option<&str>,
    key: Option<&str>,
    uri: Option<&str>,
) -> Result<()> {
    let api = if set {
        "virDomainSetMetadata"
    } else {
        "virDomainGetMetadata"
    };
    let arg = |name: &str, must: &str| {
        Error::new(
            ErrorCode::INVALID_ARG,
            ErrorDomain::DOMAIN,
            format!("{name} in {api} {must}"),
        )
    };
    match kind {
        metadata_type::TITLE | metadata_type::DESCRIPTION => {
            if set
                && kind == metadata_type::TITLE
                && metadata.is_some_and(|text| text.contains('\n'))
            {
                return Err(Error::new(
                    ErrorCode::INVALID_ARG,
                    ErrorDomain::DOMAIN,
                    "metadata title can't contain newlines",
                ));
            }
            if uri.is_some() {
                return Err(arg("uri", "must be NULL"));
            }
            if set && key.is_some() {
                return Err(arg("key", "must be NULL"));
            }
        }
        metadata_type::ELEMENT => {
            if uri.is_none() {
                return Err(arg("uri", "must not be NULL"));
            }
            if set && metadata.is_some() && key.is_none() {
                return Err(arg("key", "must not be NULL"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// XML's NCName: a name without a colon (what a namespace prefix must be).
fn is_ncname(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Puts every unprefixed element of the tree under `prefix`, as libvirt does with a new metadata element.
fn with_prefix(mut node: Node, prefix: &str) -> Node {
    if !node.name.contains(':') {
        node.name = format!("{prefix}:{}", node.name);
    }
    node.children = node
        .children
        .into_iter()
        .map(|child| with_prefix(child, prefix))
        .collect();
    node
}

/// A metadata element as `virDomainGetMetadata` returns it: the prefix of namespace `uri` and its declaration
/// removed throughout.
fn without_namespace(node: &Node, uri: &str) -> Node {
    let prefix = node
        .name
        .split_once(':')
        .map(|(prefix, _)| prefix.to_string());
    fn strip(node: &Node, prefix: Option<&str>, uri: &str) -> Node {
        let name = match (prefix, node.name.split_once(':')) {
            (Some(prefix), Some((p, local))) if p == prefix => local.to_string(),
            _ => node.name.clone(),
        };
        let declaration = match prefix {
            Some(prefix) => format!("xmlns:{prefix}"),
            None => "xmlns".to_string(),
        };
        Node {
            name,
            attrs: node
                .attrs
                .iter()
                .filter(|(key, value)| !(key == &declaration && value == uri))
                .cloned()
                .collect(),
            children: node
                .children
                .iter()
                .map(|child| strip(child, prefix, uri))
                .collect(),
            text: node.text.clone(),
        }
    }
    strip(node, prefix.as_deref(), uri)
}

/// libvirt's checks of per-device boot order: not together with `<os><boot dev>`, each order used once.
fn check_boot_orders(os: &OsDef, devices: &Devices) -> Result<()> {
    let mut orders: Vec<u32> = Vec::new();
    orders.extend(devices.disks.iter().filter_map(|disk| disk.boot_order));
    orders.extend(
        devices
            .interfaces
            .iter()
            .filter_map(|iface| iface.boot_order),
    );
    for other in &devices.others {
        if let Some(order) = other
            .child("boot")
            .and_then(|boot| boot.attr("order"))
            .and_then(parse_decimal::<u32>)
        {
            orders.push(order);
        }
    }
    if orders.is_empty() {
        return Ok(());
    }
    if !os.boot.is_empty() {
        return Err(unsupported(
            "per-device boot elements cannot be used together with os/boot elements",
        ));
    }
    for (index, order) in orders.iter().enumerate() {
        if orders[..index].contains(order) {
            return Err(unsupported(format!(
                "boot order '{order}' used for more than one device"
            )));
        }
    }
    Ok(())
}

/// The tunables the model interprets, level by level; the schema's other tunables are refused as unsupported
/// (the model writes these elements from its own fields, so it cannot keep the rest).
fn check_tunables(cx: &Ctx, root: &Node) -> Result<()> {
    if let Some(memtune) = root.child("memtune") {
        refuse_rest(
            cx,
            "domain",
            memtune,
            &["hard_limit", "soft_limit", "swap_hard_limit"],
            &[],
        )?;
        for child in &memtune.children {
            refuse_rest(cx, "memtune", child, &[], &["unit"])?;
        }
    }
    if let Some(blkiotune) = root.child("blkiotune") {
        refuse_rest(cx, "domain", blkiotune, &["weight", "device"], &[])?;
        for device in blkiotune.children_named("device") {
            let fields = [
                "path",
                "weight",
                "read_iops_sec",
                "write_iops_sec",
                "read_bytes_sec",
                "write_bytes_sec",
            ];
            refuse_rest(cx, "blkiotune", device, &fields, &[])?;
        }
    }
    if let Some(cputune) = root.child("cputune") {
        refuse_rest(cx, "domain", cputune, &["vcpupin", "emulatorpin"], &[])?;
        for pin in cputune.children_named("vcpupin") {
            refuse_rest(cx, "cputune", pin, &[], &["vcpu", "cpuset"])?;
        }
        for pin in cputune.children_named("emulatorpin") {
            refuse_rest(cx, "cputune", pin, &[], &["cpuset"])?;
        }
    }
    if let Some(numatune) = root.child("numatune") {
        refuse_rest(cx, "domain", numatune, &["memory"], &[])?;
        if let Some(memory) = numatune.child("memory") {
            refuse_rest(
                cx,
                "numatune",
                memory,
                &[],
                &["mode", "nodeset", "placement"],
            )?;
        }
    }
    if let Some(perf) = root.child("perf") {
        refuse_rest(cx, "domain", perf, &["event"], &[])?;
        for event in perf.children_named("event") {
            refuse_rest(cx, "perf", event, &[], &["name", "enabled"])?;
        }
    }
    Ok(())
}

fn unsupported(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::CONFIG_UNSUPPORTED, ErrorDomain::DOMAIN, detail)
}

/// libvirt's schema at (parent, element): (child elements, attributes, any child allowed, any attribute allowed).
fn schema_at(
    parent: &str,
    element: &str,
) -> Option<(&'static [&'static str], &'static [&'static str], bool, bool)> {
    ELEMENTS
        .binary_search_by(|(p, e, ..)| (*p, *e).cmp(&(parent, element)))
        .ok()
        .map(|index| {
            let (_, _, children, attrs, any_child, any_attr) = ELEMENTS[index];
            (children, attrs, any_child, any_attr)
        })
}

fn is_namespace_declaration(key: &str) -> bool {
    key == "xmlns" || key.starts_with("xmlns:")
}

/// Splits `node` (under `parent`) into what the model interprets (`used_children`, `used_attrs`, read by the
/// caller) and the rest: names libvirt's schema knows there are kept (child subtrees filtered the same way);
/// other names are refused with `validate` (libvirt's schema error) and dropped without it, as libvirt's parser
/// ignores what it does not know.
fn keep(
    cx: &Ctx,
    parent: &str,
    node: &Node,
    used_children: &[&str],
    used_attrs: &[&str],
) -> Result<Extra> {
    let schema = schema_at(parent, &node.name);
    let mut extra = Extra::default();
    for (key, value) in &node.attrs {
        if used_attrs.contains(&key.as_str()) {
            continue;
        }
        let known = is_namespace_declaration(key)
            || schema.is_some_and(|(_, attrs, _, any)| any || attrs.contains(&key.as_str()));
        if known {
            extra.attrs.push((key.clone(), value.clone()));
        } else if cx.validate {
            return Err(
                cx.schema_error(format!("Invalid attribute {key} for element {}", node.name))
            );
        }
    }
    for child in &node.children {
        if used_children.contains(&child.name.as_str()) {
            continue;
        }
        let known = schema
            .is_some_and(|(children, _, any, _)| any || children.contains(&child.name.as_str()));
        if known {
            extra.children.push(filter(cx, &node.name, child)?);
        } else if cx.validate {
            return Err(cx.schema_error(format!(
                "Element {} has extra content: {}",
                node.name, child.name
            )));
        }
    }
    Ok(extra)
}

/// A kept subtree, with what the schema does not know below it refused or dropped as [`keep`] does.
fn filter(cx: &Ctx, parent: &str, node: &Node) -> Result<Node> {
    if schema_at(parent, &node.name).is_none_or(|(_, _, any_child, _)| any_child) {
        // Free content (<metadata>'s elements): all of it is the application's.
        return Ok(without_blanks(node.clone()));
    }
    let extra = keep(cx, parent, node, &[], &[])?;
    Ok(without_blanks(Node {
        name: node.name.clone(),
        attrs: extra.attrs,
        children: extra.children,
        text: node.text.clone(),
    }))
}

/// White space between child elements is layout, not content: libvirt parses definitions without it. (Text
/// mixed with child elements keeps its words, not its place among them: the model holds one text per element.)
fn without_blanks(mut node: Node) -> Node {
    if !node.children.is_empty() {
        node.text = node.text.trim_matches(is_xml_space).to_string();
    }
    node.children = node.children.into_iter().map(without_blanks).collect();
    node
}

/// For the parts the model interprets only partly (tunables): what the schema allows there beyond
/// `children`/`attrs` is refused as unsupported rather than kept, because the model rewrites these elements.
fn refuse_rest(
    cx: &Ctx,
    parent: &str,
    node: &Node,
    children: &[&str],
    attrs: &[&str],
) -> Result<()> {
    let extra = keep(cx, parent, node, children, attrs)?;
    if let Some((key, _)) = extra
        .attrs
        .iter()
        .find(|(key, _)| !is_namespace_declaration(key))
    {
        return Err(unsupported(format!(
            "attribute '{key}' of <{}> is not supported",
            node.name
        )));
    }
    if let Some(child) = extra.children.first() {
        return Err(unsupported(format!(
            "<{}> in <{}> is not supported",
            child.name, node.name
        )));
    }
    Ok(())
}

/// Writes `name` with `attrs` plus the kept attributes, then `body`, then the kept children; an element with
/// neither body nor kept children is written empty.
fn write_el(
    w: &mut XmlWriter,
    name: &str,
    attrs: Attrs,
    extra: Option<&Extra>,
    has_body: bool,
    body: impl FnOnce(&mut XmlWriter),
) {
    let attrs = match extra {
        Some(extra) => attrs.extend(&extra.attrs),
        None => attrs,
    };
    let children = extra.map(|extra| extra.children.as_slice()).unwrap_or(&[]);
    if !has_body && children.is_empty() {
        w.empty(name, attrs);
        return;
    }
    w.open(name, attrs);
    body(w);
    for child in children {
        w.node(child, '\'');
    }
    w.close(name);
}

/// What libvirt writes last in every device (`virDomainDeviceInfoFormat`), after `<boot>`, in this order.
const DEVICE_INFO: &[&str] = &["alias", "master", "rom", "acpi", "address"];

/// A device with a boot order: `body`, the kept children, `<boot>`, then the kept device-info children, as
/// libvirt orders them.
fn write_device(
    w: &mut XmlWriter,
    name: &str,
    attrs: Attrs,
    extra: &Extra,
    boot_order: Option<u32>,
    body: impl FnOnce(&mut XmlWriter),
) {
    w.open(name, attrs.extend(&extra.attrs));
    body(w);
    let info = |node: &&Node| DEVICE_INFO.contains(&node.name.as_str());
    for node in extra.children.iter().filter(|node| !info(node)) {
        w.node(node, '\'');
    }
    if let Some(order) = boot_order {
        let kept = extra.of("boot").map(|b| b.attrs.as_slice()).unwrap_or(&[]);
        w.empty("boot", Attrs::new().with("order", order).extend(kept));
    }
    for kind in DEVICE_INFO {
        for node in extra.children.iter().filter(|node| node.name == *kind) {
            w.node(node, '\'');
        }
    }
    w.close(name);
}

/// The `<boot order=...>` of a device element, checked as libvirt checks it.
fn parse_boot_order(cx: &Ctx, device: &Node) -> Result<Option<u32>> {
    let Some(boot) = device.child("boot") else {
        return Ok(None);
    };
    let text = boot
        .attr("order")
        .ok_or_else(|| cx.missing_attr("boot", "order"))?;
    match parse_decimal::<u32>(text) {
        Some(0) => Err(Error::with_detail(
            ErrorCode::XML_ERROR,
            ErrorDomain::XML,
            "Invalid value for attribute 'order' in element 'boot': Zero is not permitted",
        )),
        Some(order) => Ok(Some(order)),
        None => Err(Error::with_detail(
            ErrorCode::XML_ERROR,
            ErrorDomain::XML,
            format!(
                "Invalid value for attribute 'order' in element 'boot': '{text}'. Expected non-negative integer value"
            ),
        )),
    }
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
        let mut extra = keep(&cx, "", &root, INTERPRETED_TOP, &["type", "id"])?;
        if let Some(foreign) = root.children.iter().find(|child| {
            child.name.contains(':') && !INTERPRETED_TOP.contains(&child.name.as_str())
        }) {
            // Hypervisor namespaces (qemu:commandline ...) would change what runs: refused, never ignored.
            return Err(unsupported(format!(
                "namespaced element <{}> is not supported",
                foreign.name
            )));
        }
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
                keep(&cx, "domain", node, &[], &[])?;
            }
        }
        let metadata = match root.child("metadata") {
            Some(node) => Some(parse_metadata(&cx, &root, node)?),
            None => None,
        };

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

        let (memory_kib, current_memory_kib) = parse_memory(&cx, &root, &mut extra)?;
        let (vcpus, current_vcpus) = parse_vcpu(&cx, &root, &mut extra)?;
        let os = parse_os(&cx, &root)?;
        let features = parse_features(&cx, &root)?;

        let cpu_mode = match root.child("cpu") {
            Some(cpu) => {
                let kept = keep(&cx, "domain", cpu, &[], &["mode"])?;
                // An empty <cpu/> says nothing; anything in it is kept.
                extra.put("cpu", kept);
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
                extra.put("clock", keep(&cx, "domain", clock, &[], &["offset"])?);
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
        check_boot_orders(&os, &devices)?;
        check_tunables(&cx, &root)?;
        let tunables = crate::model::tunables::parse(&cx, &root)?;

        Ok(Self {
            domain_type,
            name,
            uuid,
            title,
            description,
            metadata,
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
            extra,
        })
    }

    /// Formats the definition; the output is stable (same definition, same bytes).
    pub fn to_xml(&self, options: &DomainXmlOptions) -> String {
        let mut w = XmlWriter::new();
        w.open(
            "domain",
            Attrs::new()
                .with("type", &self.domain_type)
                .opt("id", options.id)
                .extend(&self.extra.attrs),
        );
        // The kept top-level elements go where libvirt writes them: before the first interpreted element that
        // follows them in libvirt's order.
        let rank = |name: &str| {
            TOP_ORDER
                .iter()
                .position(|known| *known == name)
                .unwrap_or(TOP_ORDER.len())
        };
        let mut sorted: Vec<&Node> = self.extra.children.iter().collect();
        sorted.sort_by_key(|node| rank(&node.name));
        let mut pending = sorted.into_iter().peekable();
        let mut flush_before = |w: &mut XmlWriter, next: &str| {
            while let Some(node) = pending.next_if(|node| rank(&node.name) < rank(next)) {
                w.node(node, '\'');
            }
        };
        w.text("name", Attrs::new(), &self.name);
        w.text("uuid", Attrs::new(), &self.uuid.hyphenated().to_string());
        flush_before(&mut w, "title");
        w.opt_text("title", self.title.as_deref());
        w.opt_text("description", self.description.as_deref());
        if let Some(metadata) = self.metadata.as_ref().filter(|m| !m.children.is_empty()) {
            w.open("metadata", Attrs::new());
            for child in &metadata.children {
                w.node(child, '"');
            }
            w.close("metadata");
        }
        flush_before(&mut w, "memory");
        let memory = self.extra.of("memory");
        w.text(
            "memory",
            Attrs::new()
                .with("unit", "KiB")
                .extend(memory.map(|m| m.attrs.as_slice()).unwrap_or(&[])),
            &self.memory_kib.to_string(),
        );
        w.text(
            "currentMemory",
            Attrs::new().with("unit", "KiB"),
            &self.current_memory_kib.to_string(),
        );
        flush_before(&mut w, "blkiotune");
        crate::model::tunables::format_memory_side(&mut w, &self.tunables);
        flush_before(&mut w, "vcpu");
        let current = (self.current_vcpus != self.vcpus).then_some(self.current_vcpus);
        let vcpu = self.extra.of("vcpu");
        let placement = vcpu.and_then(|v| v.attr("placement")).unwrap_or("static");
        let vcpu_rest = vcpu
            .map(|v| {
                v.attrs
                    .iter()
                    .filter(|(key, _)| key != "placement")
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        w.text(
            "vcpu",
            Attrs::new()
                .with("placement", placement)
                .extend(vcpu_rest)
                .opt("current", current),
            &self.vcpus.to_string(),
        );
        flush_before(&mut w, "cputune");
        crate::model::tunables::format_cpu_side(&mut w, &self.tunables);
        flush_before(&mut w, "os");
        format_os(&mut w, &self.os);
        flush_before(&mut w, "features");
        let features = &self.features;
        if features.acpi || features.apic || features.pae || !features.extra.is_empty() {
            write_el(
                &mut w,
                "features",
                Attrs::new(),
                Some(&features.extra),
                true,
                |w| {
                    for (on, name) in [
                        (features.acpi, "acpi"),
                        (features.apic, "apic"),
                        (features.pae, "pae"),
                    ] {
                        if on {
                            write_el(
                                w,
                                name,
                                Attrs::new(),
                                features.extra.of(name),
                                false,
                                |_| {},
                            );
                        }
                    }
                },
            );
        }
        let cpu = self.extra.of("cpu");
        if self.cpu_mode.is_some() || cpu.is_some() {
            write_el(
                &mut w,
                "cpu",
                Attrs::new().opt("mode", self.cpu_mode.as_deref()),
                cpu,
                false,
                |_| {},
            );
        }
        let clock = self.extra.of("clock");
        if self.clock_offset.is_some() || clock.is_some() {
            write_el(
                &mut w,
                "clock",
                Attrs::new().opt("offset", self.clock_offset.as_deref()),
                clock,
                false,
                |_| {},
            );
        }
        w.opt_text("on_poweroff", self.on_poweroff.as_deref());
        w.opt_text("on_reboot", self.on_reboot.as_deref());
        w.opt_text("on_crash", self.on_crash.as_deref());
        flush_before(&mut w, "perf");
        crate::model::tunables::format_perf(&mut w, &self.tunables);
        flush_before(&mut w, "devices");
        format_devices(&mut w, &self.devices, options);
        for node in pending {
            w.node(node, '\'');
        }
        w.close("domain");
        w.finish()
    }

    /// `virDomainGetMetadata` on this definition: the description, the title, or (for
    /// [`metadata_type::ELEMENT`]) the `<metadata>` element in namespace `uri`, written without its prefix.
    pub fn get_metadata(&self, kind: i32, uri: Option<&str>) -> Result<String> {
        let found = match kind {
            metadata_type::DESCRIPTION => self.description.clone(),
            metadata_type::TITLE => self.title.clone(),
            metadata_type::ELEMENT => {
                let uri = uri.unwrap_or_default();
                self.metadata
                    .as_ref()
                    .and_then(|m| m.children.iter().find(|c| namespace_of(c) == Some(uri)))
                    .map(|element| {
                        let mut w = XmlWriter::new();
                        w.node(&without_namespace(element, uri), '"');
                        w.finish().trim_end_matches('\n').to_string()
                    })
            }
            _ => return Err(unknown_metadata_type(kind)),
        };
        found.ok_or_else(|| {
            Error::with_detail(
                ErrorCode::NO_DOMAIN_METADATA,
                ErrorDomain::DOMAIN,
                "Requested metadata element is not present",
            )
        })
    }

    /// `virDomainSetMetadata` on this definition: an empty or absent text clears the description or title; an
    /// element is parsed, put in namespace `uri` under prefix `key` and replaces the element of that namespace
    /// (absent: removes it).
    pub fn set_metadata(
        &mut self,
        kind: i32,
        metadata: Option<&str>,
        key: Option<&str>,
        uri: Option<&str>,
    ) -> Result<()> {
        let text = metadata.filter(|text| !text.is_empty()).map(str::to_string);
        match kind {
            metadata_type::DESCRIPTION => self.description = text,
            metadata_type::TITLE => self.title = text,
            metadata_type::ELEMENT => {
                let uri = uri.unwrap_or_default();
                let new = match metadata {
                    Some(xml) => {
                        let key = key.unwrap_or_default();
                        if !is_ncname(key) {
                            return Err(Error::internal(
                                ErrorDomain::XML,
                                "failed to validate prefix for a new XML namespace",
                            ));
                        }
                        let parsed = parse_document(xml, ErrorDomain::DOMAIN, "metadata_xml")?;
                        let mut element = with_prefix(without_blanks(parsed), key);
                        element
                            .attrs
                            .insert(0, (format!("xmlns:{key}"), uri.to_string()));
                        Some(element)
                    }
                    None => None,
                };
                let holder = self.metadata.get_or_insert_with(|| Node {
                    name: "metadata".into(),
                    ..Node::default()
                });
                holder
                    .children
                    .retain(|child| namespace_of(child) != Some(uri));
                holder.children.extend(new);
            }
            _ => return Err(unknown_metadata_type(kind)),
        }
        Ok(())
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

fn parse_memory(cx: &Ctx, root: &Node, extra: &mut Extra) -> Result<(u64, u64)> {
    let mut memory = 0;
    if let Some(node) = root.child("memory") {
        // dumpCore is checked here and kept as given.
        extra.put("memory", keep(cx, "domain", node, &[], &["unit"])?);
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
        keep(cx, "domain", node, &[], &["unit"])?;
        current = cx.scaled(node, ScaleDefault::KiB)?;
    }
    // libvirt clamps a missing, zero or too large balloon to the maximum.
    if current == 0 || current > memory {
        current = memory;
    }
    Ok((memory, current))
}

fn parse_vcpu(cx: &Ctx, root: &Node, extra: &mut Extra) -> Result<(u32, u32)> {
    let Some(node) = root.child("vcpu") else {
        return Ok((1, 1));
    };
    // placement and cpuset are checked and kept as given; placement 'static' is what is written by default.
    let mut kept = keep(cx, "domain", node, &[], &["current"])?;
    kept.attrs
        .retain(|(key, value)| !(key == "placement" && value == "static"));
    extra.put("vcpu", kept);
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
    let extra = keep(
        cx,
        "domain",
        os,
        &["type", "boot", "kernel", "initrd", "cmdline"],
        &[],
    )?;
    let type_node = os.child("type").ok_or_else(missing)?;
    keep(cx, "os", type_node, &[], &["arch", "machine"])?;
    if type_node.text.is_empty() {
        return Err(missing());
    }
    let os_type = one_of(&type_node.text, OS_TYPES, |kind| {
        format!("unknown OS type '{kind}'")
    })?;
    let mut boot = Vec::new();
    for node in os.children_named("boot") {
        keep(cx, "os", node, &[], &["dev"])?;
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
            keep(cx, "os", node, &[], &[])?;
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
        extra,
    })
}

fn format_os(w: &mut XmlWriter, os: &OsDef) {
    w.open("os", Attrs::new().extend(&os.extra.attrs));
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
    for node in &os.extra.children {
        w.node(node, '\'');
    }
    w.close("os");
}

fn parse_features(cx: &Ctx, root: &Node) -> Result<Features> {
    let Some(node) = root.child("features") else {
        return Ok(Features::default());
    };
    let mut extra = keep(cx, "domain", node, &["acpi", "apic", "pae"], &[])?;
    for name in ["acpi", "apic", "pae"] {
        if let Some(child) = node.child(name) {
            extra.put(name, keep(cx, "features", child, &[], &[])?);
        }
    }
    Ok(Features {
        acpi: node.child("acpi").is_some(),
        apic: node.child("apic").is_some(),
        pae: node.child("pae").is_some(),
        extra,
    })
}

fn parse_devices(cx: &Ctx, node: &Node) -> Result<Devices> {
    let kept = keep(cx, "domain", node, INTERPRETED_DEVICES, &[])?;
    let mut devices = Devices {
        others: kept.children,
        ..Devices::default()
    };
    if let Some(emulator) = node.child("emulator") {
        keep(cx, "devices", emulator, &[], &[])?;
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
    // Each kind in libvirt's order; the kept devices of a kind follow the interpreted ones of that kind.
    let rank = |name: &str| {
        DEVICE_ORDER
            .iter()
            .position(|known| *known == name)
            .unwrap_or(DEVICE_ORDER.len())
    };
    let mut others: Vec<&Node> = devices.others.iter().collect();
    others.sort_by_key(|node| rank(&node.name));
    let mut pending = others.into_iter().peekable();
    let mut flush_through = |w: &mut XmlWriter, kind: &str| {
        while let Some(node) = pending.next_if(|node| rank(&node.name) <= rank(kind)) {
            w.node(node, '\'');
        }
    };
    w.opt_text("emulator", devices.emulator.as_deref());
    for disk in &devices.disks {
        format_disk(w, disk);
    }
    flush_through(w, "disk");
    for controller in &devices.controllers {
        write_el(
            w,
            "controller",
            Attrs::new()
                .with("type", &controller.controller_type)
                .with("index", controller.index)
                .opt("model", controller.model.as_deref()),
            Some(&controller.extra),
            false,
            |_| {},
        );
    }
    flush_through(w, "filesystem");
    for iface in &devices.interfaces {
        format_interface(w, iface);
    }
    flush_through(w, "interface");
    for serial in &devices.serials {
        format_chardev(w, "serial", serial, options);
    }
    flush_through(w, "parallel");
    for console in &devices.consoles {
        format_chardev(w, "console", console, options);
    }
    flush_through(w, "channel");
    for input in &devices.inputs {
        write_el(
            w,
            "input",
            Attrs::new()
                .with("type", &input.input_type)
                .opt("bus", input.bus.as_deref()),
            Some(&input.extra),
            false,
            |_| {},
        );
    }
    flush_through(w, "tpm");
    for graphics in &devices.graphics {
        let passwd = if options.secure {
            graphics.passwd.as_deref()
        } else {
            None
        };
        write_el(
            w,
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
            Some(&graphics.extra),
            false,
            |_| {},
        );
    }
    flush_through(w, "audio");
    for video in &devices.videos {
        write_el(w, "video", Attrs::new(), Some(&video.extra), true, |w| {
            write_el(
                w,
                "model",
                Attrs::new()
                    .with("type", &video.model_type)
                    .opt("vram", video.vram)
                    .opt("heads", video.heads),
                video.extra.of("model"),
                false,
                |_| {},
            );
        });
    }
    for node in pending {
        w.node(node, '\'');
    }
    w.close("devices");
}

fn parse_disk(cx: &Ctx, node: &Node) -> Result<DiskDef> {
    let mut extra = keep(
        cx,
        "devices",
        node,
        &[
            "driver",
            "source",
            "target",
            "iotune",
            "readonly",
            "shareable",
            "boot",
            "encryption",
            "auth",
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
        boot_order: parse_boot_order(cx, node)?,
        ..DiskDef::default()
    };
    if let Some(iotune) = node.child("iotune") {
        let mut fields = crate::model::tunables::IOTUNE_FIELDS.to_vec();
        fields.push("group_name");
        refuse_rest(cx, "disk", iotune, &fields, &[])?;
    }
    if let Some(boot) = node.child("boot") {
        extra.put("boot", keep(cx, "disk", boot, &[], &["order"])?);
    }
    if let Some(driver) = node.child("driver") {
        extra.put(
            "driver",
            keep(cx, "disk", driver, &[], &["name", "type", "cache"])?,
        );
        disk.driver_name = driver.attr("name").map(str::to_string);
        disk.driver_type = driver.attr("type").map(str::to_string);
        disk.driver_cache = cx.enum_attr(driver, "cache", DISK_CACHES)?;
    }
    if let Some(source) = node.child("source") {
        let key = if disk.disk_type == "block" {
            "dev"
        } else {
            "file"
        };
        // As for interfaces, the attribute of the other disk type is dropped.
        let _ = key;
        extra.put("source", keep(cx, "disk", source, &[], &["file", "dev"])?);
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
    extra.put("target", keep(cx, "disk", target, &[], &["dev", "bus"])?);
    disk.target_dev = dev.to_string();
    disk.target_bus = cx.enum_attr(target, "bus", DISK_BUSES)?;
    for flag in ["readonly", "shareable"] {
        if let Some(child) = node.child(flag) {
            keep(cx, "disk", child, &[], &[])?;
        }
    }
    disk.readonly = node.child("readonly").is_some();
    disk.shareable = node.child("shareable").is_some();
    if let Some(encryption) = node.child("encryption") {
        cx.check(encryption, &["secret"], &["format"])?;
        let format = encryption
            .attr("format")
            .ok_or_else(|| cx.missing_attr("encryption", "format"))?;
        disk.encryption = Some(DiskEncryption {
            format: format.to_string(),
            secrets: encryption
                .children_named("secret")
                .map(|secret| parse_disk_secret(cx, secret))
                .collect::<Result<_>>()?,
        });
    }
    if let Some(auth) = node.child("auth") {
        cx.check(auth, &["secret"], &["username"])?;
        let username = auth
            .attr("username")
            .ok_or_else(|| cx.missing_attr("auth", "username"))?;
        let secret = auth
            .child("secret")
            .ok_or_else(|| cx.xml_error("missing auth secret node"))?;
        disk.auth = Some(DiskAuth {
            username: username.to_string(),
            secret: parse_disk_secret(cx, secret)?,
        });
    }
    disk.extra = extra;
    Ok(disk)
}

/// A disk's reference to a secret, by UUID or by usage (libvirt's `virSecretLookupDef`).
fn parse_disk_secret(cx: &Ctx, node: &Node) -> Result<DiskSecret> {
    cx.check(node, &[], &["type", "uuid", "usage"])?;
    let uuid = match node.attr("uuid") {
        Some(text) => Some(
            Uuid::parse_str(text)
                .map_err(|_| cx.xml_error(format!("invalid secret uuid '{text}'")))?,
        ),
        None => None,
    };
    let usage = node.attr("usage").map(str::to_string);
    match (&uuid, &usage) {
        (Some(_), Some(_)) => Err(cx.xml_error("either secret uuid or usage expected")),
        (None, None) => Err(cx.xml_error("missing secret uuid or usage attribute")),
        _ => Ok(DiskSecret {
            secret_type: node.attr("type").map(str::to_string),
            uuid,
            usage,
        }),
    }
}

fn format_disk_secret(w: &mut XmlWriter, secret: &DiskSecret) {
    w.empty(
        "secret",
        Attrs::new()
            .opt("type", secret.secret_type.as_deref())
            .opt("uuid", secret.uuid.map(|u| u.to_string()))
            .opt("usage", secret.usage.as_deref()),
    );
}

fn format_disk(w: &mut XmlWriter, disk: &DiskDef) {
    let extra = &disk.extra;
    write_device(
        w,
        "disk",
        Attrs::new()
            .with("type", &disk.disk_type)
            .with("device", &disk.device),
        extra,
        disk.boot_order,
        |w| {
            let driver = Attrs::new()
                .opt("name", disk.driver_name.as_deref())
                .opt("type", disk.driver_type.as_deref())
                .opt("cache", disk.driver_cache.as_deref());
            if !driver.is_empty() || extra.of("driver").is_some() {
                write_el(w, "driver", driver, extra.of("driver"), false, |_| {});
            }
            if let Some(auth) = &disk.auth {
                w.open("auth", Attrs::new().with("username", &auth.username));
                format_disk_secret(w, &auth.secret);
                w.close("auth");
            }
            if let Some(source) = &disk.source {
                let key = if disk.disk_type == "block" {
                    "dev"
                } else {
                    "file"
                };
                write_el(
                    w,
                    "source",
                    Attrs::new().with(key, source),
                    extra.of("source"),
                    false,
                    |_| {},
                );
            } else if let Some(source) = extra.of("source") {
                write_el(w, "source", Attrs::new(), Some(source), false, |_| {});
            }
            write_el(
                w,
                "target",
                Attrs::new()
                    .with("dev", &disk.target_dev)
                    .opt("bus", disk.target_bus.as_deref()),
                extra.of("target"),
                false,
                |_| {},
            );
            crate::model::tunables::format_iotune(w, &disk.iotune);
            if disk.readonly {
                w.empty("readonly", Attrs::new());
            }
            if disk.shareable {
                w.empty("shareable", Attrs::new());
            }
            if let Some(encryption) = &disk.encryption {
                w.open(
                    "encryption",
                    Attrs::new().with("format", &encryption.format),
                );
                for secret in &encryption.secrets {
                    format_disk_secret(w, secret);
                }
                w.close("encryption");
            }
        },
    );
}

fn parse_interface(cx: &Ctx, node: &Node) -> Result<InterfaceDef> {
    let mut extra = keep(
        cx,
        "devices",
        node,
        &["mac", "source", "model", "target", "boot", "filterref"],
        &["type"],
    )?;
    let boot_order = parse_boot_order(cx, node)?;
    if let Some(boot) = node.child("boot") {
        extra.put("boot", keep(cx, "interface", boot, &[], &["order"])?);
    }
    let iface_type = cx
        .enum_attr(node, "type", INTERFACE_TYPES)?
        .unwrap_or_else(|| "user".into());
    let mac = match node.child("mac") {
        Some(mac_node) => {
            extra.put("mac", keep(cx, "interface", mac_node, &[], &["address"])?);
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
    let mut source_bridge = None;
    if let Some(source_node) = node.child("source") {
        // The attribute of another interface type is dropped, as libvirt's parser reads only its type's.
        extra.put(
            "source",
            keep(cx, "interface", source_node, &[], &["network", "bridge"])?,
        );
        source = source_key
            .and_then(|key| source_node.attr(key))
            .map(str::to_string);
        if iface_type == "network" {
            source_bridge = source_node.attr("bridge").map(str::to_string);
        }
    }
    if source_key.is_some() && source.is_none() {
        return Err(cx.xml_error(format!(
            "interface type='{iface_type}' requires a 'source' element"
        )));
    }
    let mut model = None;
    if let Some(model_node) = node.child("model") {
        extra.put("model", keep(cx, "interface", model_node, &[], &["type"])?);
        model = Some(
            model_node
                .attr("type")
                .ok_or_else(|| cx.missing_attr("model", "type"))?
                .to_string(),
        );
    }
    let mut target_dev = None;
    if let Some(target) = node.child("target") {
        extra.put("target", keep(cx, "interface", target, &[], &["dev"])?);
        target_dev = target.attr("dev").map(str::to_string);
    }
    let filterref = match node.child("filterref") {
        Some(filterref) => {
            cx.check(filterref, &["parameter"], &["filter"])?;
            let filter = filterref
                .attr("filter")
                .ok_or_else(|| cx.missing_attr("filterref", "filter"))?;
            let mut params = Vec::new();
            for param in filterref.children_named("parameter") {
                cx.check(param, &[], &["name", "value"])?;
                let (Some(name), Some(value)) = (param.attr("name"), param.attr("value")) else {
                    return Err(cx.xml_error("filterref parameter needs a name and a value"));
                };
                params.push((name.to_string(), value.to_string()));
            }
            Some(crate::model::FilterRef {
                filter: filter.to_string(),
                params,
            })
        }
        None => None,
    };
    Ok(InterfaceDef {
        iface_type,
        mac,
        source,
        source_bridge,
        model,
        target_dev,
        boot_order,
        extra,
        filterref,
    })
}

fn format_interface(w: &mut XmlWriter, iface: &InterfaceDef) {
    let extra = &iface.extra;
    write_device(
        w,
        "interface",
        Attrs::new().with("type", &iface.iface_type),
        extra,
        iface.boot_order,
        |w| {
            write_el(
                w,
                "mac",
                Attrs::new().with("address", &iface.mac),
                extra.of("mac"),
                false,
                |_| {},
            );
            let key = if iface.iface_type == "bridge" {
                "bridge"
            } else {
                "network"
            };
            match (&iface.source, extra.of("source")) {
                (Some(source), kept) => write_el(
                    w,
                    "source",
                    Attrs::new()
                        .with(key, source)
                        .opt("bridge", iface.source_bridge.as_deref()),
                    kept,
                    false,
                    |_| {},
                ),
                (None, Some(kept)) => {
                    write_el(w, "source", Attrs::new(), Some(kept), false, |_| {})
                }
                (None, None) => {}
            }
            if let Some(dev) = &iface.target_dev {
                write_el(
                    w,
                    "target",
                    Attrs::new().with("dev", dev),
                    extra.of("target"),
                    false,
                    |_| {},
                );
            }
            if let Some(model) = &iface.model {
                write_el(
                    w,
                    "model",
                    Attrs::new().with("type", model),
                    extra.of("model"),
                    false,
                    |_| {},
                );
            }
            if let Some(filterref) = &iface.filterref {
                let attrs = Attrs::new().with("filter", &filterref.filter);
                if filterref.params.is_empty() {
                    w.empty("filterref", attrs);
                } else {
                    w.open("filterref", attrs);
                    for (name, value) in &filterref.params {
                        w.empty(
                            "parameter",
                            Attrs::new().with("name", name).with("value", value),
                        );
                    }
                    w.close("filterref");
                }
            }
        },
    );
}

fn parse_graphics(cx: &Ctx, node: &Node) -> Result<GraphicsDef> {
    // <listen> children are kept whole; the first address is also the listen attribute.
    let extra = keep(
        cx,
        "devices",
        node,
        &[],
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
        extra,
    })
}

fn parse_video(cx: &Ctx, node: &Node) -> Result<VideoDef> {
    let mut extra = keep(cx, "devices", node, &["model"], &[])?;
    let Some(model) = node.child("model") else {
        return Ok(VideoDef {
            model_type: DEFAULT_VIDEO_MODEL.into(),
            extra,
            ..VideoDef::default()
        });
    };
    // primary is checked and kept as given.
    extra.put(
        "model",
        keep(cx, "video", model, &[], &["type", "vram", "heads"])?,
    );
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
        extra,
    })
}

fn parse_input(cx: &Ctx, node: &Node) -> Result<InputDef> {
    let extra = keep(cx, "devices", node, &[], &["type", "bus"])?;
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
        extra,
    })
}

fn parse_chardev(cx: &Ctx, node: &Node) -> Result<CharDevDef> {
    // `tty` is output only: libvirt writes it from a running pty's path and ignores it on input.
    let mut extra = keep(cx, "devices", node, &["source", "target"], &["type", "tty"])?;
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
        extra.put("source", keep(cx, &node.name, source, &[], &["path"])?);
        chardev.source_path = source.attr("path").map(str::to_string);
    }
    if let Some(target) = node.child("target") {
        extra.put(
            "target",
            keep(cx, &node.name, target, &[], &["type", "port"])?,
        );
        chardev.target_type = target.attr("type").map(str::to_string);
        chardev.target_port = cx.u32_attr(target, "port")?;
    }
    chardev.extra = extra;
    Ok(chardev)
}

fn format_chardev(
    w: &mut XmlWriter,
    element: &str,
    chardev: &CharDevDef,
    options: &DomainXmlOptions,
) {
    let extra = &chardev.extra;
    // A running guest's pty is also named in `tty`, where `virsh ttyconsole` and older tools look for it.
    let tty = (options.id.is_some() && chardev.dev_type == "pty")
        .then_some(chardev.source_path.as_deref())
        .flatten();
    let target = Attrs::new()
        .opt("type", chardev.target_type.as_deref())
        .opt("port", chardev.target_port);
    let source = chardev.source_path.is_some() || extra.of("source").is_some();
    let has_target = !target.is_empty() || extra.of("target").is_some();
    write_el(
        w,
        element,
        Attrs::new().with("type", &chardev.dev_type).opt("tty", tty),
        Some(extra),
        source || has_target,
        |w| {
            if source {
                write_el(
                    w,
                    "source",
                    Attrs::new().opt("path", chardev.source_path.as_deref()),
                    extra.of("source"),
                    false,
                    |_| {},
                );
            }
            if has_target {
                write_el(w, "target", target, extra.of("target"), false, |_| {});
            }
        },
    );
}

fn parse_controller(cx: &Ctx, node: &Node) -> Result<ControllerDef> {
    let extra = keep(cx, "devices", node, &[], &["type", "index", "model"])?;
    Ok(ControllerDef {
        controller_type: cx
            .enum_attr(node, "type", CONTROLLER_TYPES)?
            .unwrap_or_else(|| "ide".into()),
        index: cx.u32_attr(node, "index")?.unwrap_or(0),
        model: node.attr("model").map(str::to_string),
        extra,
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

/// One `<graphics>` element given alone (to update a display's password), `None` for any other element.
pub fn parse_graphics_device(xml: &str) -> Result<Option<GraphicsDef>> {
    let cx = Ctx::new(ErrorDomain::DOMAIN, SCHEMA, false);
    let root = parse_document(xml, cx.domain, cx.document_name())?;
    if root.name != "graphics" {
        return Ok(None);
    }
    parse_graphics(&cx, &root).map(Some)
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
    fn a_running_pty_is_named_in_tty_and_tty_is_not_read_back() {
        let xml = minimal(
            "<devices><serial type='pty' tty='/dev/pts/9'><source path='/dev/pts/7'/><target port='0'/></serial></devices>",
        );
        let def = DomainDef::from_xml(&xml, true).unwrap();
        let plain = def.to_xml(&DomainXmlOptions::default());
        assert!(plain.contains("<serial type='pty'>"), "{plain}");
        let live = def.to_xml(&DomainXmlOptions {
            id: Some(3),
            secure: false,
        });
        assert!(
            live.contains("<serial type='pty' tty='/dev/pts/7'>"),
            "{live}"
        );
        assert!(!live.contains("/dev/pts/9"), "{live}");
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
    fn schema_known_content_is_kept_and_unknown_names_dropped_or_refused() {
        // libvirt 9.0's test driver, without validation, drops <foo/>, bogus='1' and <zork/> and keeps the rest
        // (checked with `virsh -c test:///default define`); with validation it refuses them.
        let xml = minimal(
            "<metadata><app:x xmlns:app='urn:a' k='v'><app:y>t</app:y></app:x></metadata><foo/>\
             <genid>43dc0cf8-809b-4adb-9bea-a9abb5f3d90d</genid><pm><suspend-to-mem enabled='no'/></pm>\
             <devices><memballoon model='virtio'><stats period='10'/></memballoon>\
             <disk type='file' bogus='1'><target dev='vda'/><serial>S1</serial><zork/>\
             <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/></disk></devices>",
        );
        let def = DomainDef::from_xml(&xml, false).unwrap();
        let out = def.to_xml(&DomainXmlOptions::default());
        for kept in [
            "<genid>43dc0cf8-809b-4adb-9bea-a9abb5f3d90d</genid>",
            "<app:x xmlns:app=\"urn:a\" k=\"v\">",
            "<app:y>t</app:y>",
            "<suspend-to-mem enabled='no'/>",
            "<stats period='10'/>",
            "<serial>S1</serial>",
            "<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>",
        ] {
            assert!(out.contains(kept), "{kept} missing from\n{out}");
        }
        for dropped in ["foo", "bogus", "zork"] {
            assert!(!out.contains(dropped), "{dropped} kept in\n{out}");
        }
        // libvirt's order: genid right after uuid, metadata before memory, pm after the lifecycle actions.
        let at = |text: &str| out.find(text).unwrap();
        assert!(at("<genid>") < at("<metadata>") && at("<metadata>") < at("<memory"));
        assert!(at("<pm>") < at("<devices>"));
        assert_eq!(DomainDef::from_xml(&out, true).unwrap(), def);

        let err = parse_err(&xml, true);
        assert_eq!(err.code, ErrorCode::XML_INVALID_SCHEMA);
        assert!(
            err.message
                .contains("Element domain has extra content: foo"),
            "{}",
            err.message
        );
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
            &minimal(
                "<devices><disk><target dev='vda'/><address><zork/></address></disk></devices>",
            ),
            true,
        );
        assert!(
            err.message
                .contains("Element address has extra content: zork"),
            "{}",
            err.message
        );
        // A hypervisor namespace would change what runs: refused, never ignored.
        let err = parse_err(
            &minimal("<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/>"),
            false,
        );
        assert_eq!(err.code, ErrorCode::CONFIG_UNSUPPORTED);
        // Tunables the model rewrites cannot keep what it does not interpret: refused as unsupported.
        let err = parse_err(&minimal("<cputune><shares>2048</shares></cputune>"), false);
        assert_eq!(err.code, ErrorCode::CONFIG_UNSUPPORTED);
        assert!(
            err.message.contains("<shares> in <cputune>"),
            "{}",
            err.message
        );
    }

    #[test]
    fn boot_order_round_trips_and_is_checked_as_libvirt_does() {
        let xml = minimal(
            "<devices><disk type='file'><source file='/x'/><target dev='vda'/><boot order='2'/></disk>\
             <interface type='user'><mac address='52:54:00:00:00:01'/><boot order='1' loadparm='A'/></interface>\
             <hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source>\
             <boot order='3'/></hostdev><redirdev bus='usb' type='spicevmc'><boot order='4'/></redirdev>\
             </devices>",
        );
        let def = DomainDef::from_xml(&xml, true).unwrap();
        assert_eq!(def.devices.disks[0].boot_order, Some(2));
        assert_eq!(def.devices.interfaces[0].boot_order, Some(1));
        let out = def.to_xml(&DomainXmlOptions::default());
        for kept in [
            "<boot order='2'/>",
            "<boot order='1' loadparm='A'/>",
            "<boot order='3'/>",
            "<boot order='4'/>",
        ] {
            assert!(out.contains(kept), "{kept} missing from\n{out}");
        }
        assert!(out.find("<hostdev").unwrap() < out.find("<redirdev").unwrap());
        assert_eq!(DomainDef::from_xml(&out, true).unwrap(), def);

        let disk = |boot: &str| {
            minimal(&format!(
                "<devices><disk type='file'><source file='/x'/><target dev='vda'/>{boot}</disk></devices>"
            ))
        };
        let cases: &[(String, ErrorCode, &str)] = &[
            (
                disk("<boot order='0'/>"),
                ErrorCode::XML_ERROR,
                "Invalid value for attribute 'order' in element 'boot': Zero is not permitted",
            ),
            (
                disk("<boot/>"),
                ErrorCode::XML_ERROR,
                "Missing required attribute 'order' in element 'boot'",
            ),
            (
                disk("<boot order='x'/>"),
                ErrorCode::XML_ERROR,
                "'x'. Expected non-negative integer value",
            ),
            (
                xml.replace("<boot order='3'/>", "<boot order='2'/>"),
                ErrorCode::CONFIG_UNSUPPORTED,
                "boot order '2' used for more than one device",
            ),
            (
                xml.replace("<type>hvm</type>", "<type>hvm</type><boot dev='hd'/>"),
                ErrorCode::CONFIG_UNSUPPORTED,
                "per-device boot elements cannot be used together with os/boot elements",
            ),
        ];
        for (xml, code, text) in cases {
            let err = parse_err(xml, false);
            assert_eq!(err.code, *code, "{}", err.message);
            assert!(err.message.contains(text), "{}", err.message);
        }
    }

    #[test]
    fn metadata_keeps_namespaces_and_answers_get_and_set_as_libvirt() {
        let xml = minimal(
            "<metadata xmlns:b='urn:b'><a:foo xmlns:a='urn:a' k='1'><a:bar>x &amp; y</a:bar><a:e/></a:foo>\
             <b:other>t</b:other></metadata>",
        );
        let mut def = DomainDef::from_xml(&xml, true).unwrap();
        let out = def.to_xml(&DomainXmlOptions::default());
        assert!(
            out.contains(
                "  <metadata>\n    <a:foo xmlns:a=\"urn:a\" k=\"1\">\n      <a:bar>x &amp; y</a:bar>\n      \
                 <a:e/>\n    </a:foo>\n    <b:other xmlns:b=\"urn:b\">t</b:other>\n  </metadata>\n"
            ),
            "{out}"
        );
        assert_eq!(DomainDef::from_xml(&out, true).unwrap(), def);
        assert_eq!(
            def.get_metadata(metadata_type::ELEMENT, Some("urn:a"))
                .unwrap(),
            "<foo k=\"1\">\n  <bar>x &amp; y</bar>\n  <e/>\n</foo>"
        );
        assert_eq!(
            def.get_metadata(metadata_type::ELEMENT, Some("urn:b"))
                .unwrap(),
            "<other>t</other>"
        );
        let err = def
            .get_metadata(metadata_type::ELEMENT, Some("urn:none"))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::NO_DOMAIN_METADATA);
        assert_eq!(
            err.message,
            "metadata not found: Requested metadata element is not present"
        );
        let err = def.get_metadata(metadata_type::TITLE, None).unwrap_err();
        assert_eq!(err.code, ErrorCode(80));

        // Set replaces the element of that namespace and puts it under the key's prefix.
        def.set_metadata(
            metadata_type::ELEMENT,
            Some("<n><q/></n>"),
            Some("z"),
            Some("urn:a"),
        )
        .unwrap();
        let out = def.to_xml(&DomainXmlOptions::default());
        assert!(!out.contains("a:foo"), "{out}");
        assert!(
            out.contains("<z:n xmlns:z=\"urn:a\">\n      <z:q/>\n    </z:n>"),
            "{out}"
        );
        assert_eq!(
            def.get_metadata(metadata_type::ELEMENT, Some("urn:a"))
                .unwrap(),
            "<n>\n  <q/>\n</n>"
        );
        def.set_metadata(metadata_type::ELEMENT, None, None, Some("urn:a"))
            .unwrap();
        def.set_metadata(metadata_type::ELEMENT, None, None, Some("urn:b"))
            .unwrap();
        assert!(!def
            .to_xml(&DomainXmlOptions::default())
            .contains("metadata"));
        def.set_metadata(metadata_type::TITLE, Some("T"), None, None)
            .unwrap();
        def.set_metadata(metadata_type::DESCRIPTION, Some("D"), None, None)
            .unwrap();
        assert_eq!(def.get_metadata(metadata_type::TITLE, None).unwrap(), "T");
        assert_eq!(
            def.get_metadata(metadata_type::DESCRIPTION, None).unwrap(),
            "D"
        );
        def.set_metadata(metadata_type::DESCRIPTION, Some(""), None, None)
            .unwrap();
        assert!(def.description.is_none());
        let err = def
            .set_metadata(
                metadata_type::ELEMENT,
                Some("<a/>"),
                Some("1k"),
                Some("urn:a"),
            )
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::INTERNAL_ERROR);
        let err = def
            .set_metadata(metadata_type::ELEMENT, Some("<a"), Some("k"), Some("urn:a"))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::XML_DETAIL);
        assert!(err.message.contains("(metadata_xml):1:"), "{}", err.message);
        let err = def.set_metadata(7, None, None, None).unwrap_err();
        assert_eq!(err.message, "invalid argument: unknown metadata type '7'");

        // The public API's argument checks, as libvirt words them.
        let check = |set, kind, metadata, key, uri| {
            check_metadata_args(set, kind, metadata, key, uri)
                .unwrap_err()
                .message
        };
        assert_eq!(
            check(true, 0, Some("x"), Some("k"), Some("u")),
            "uri in virDomainSetMetadata must be NULL"
        );
        assert_eq!(
            check(true, 2, Some("<a/>"), None, Some("u")),
            "key in virDomainSetMetadata must not be NULL"
        );
        assert_eq!(
            check(false, 2, None, None, None),
            "uri in virDomainGetMetadata must not be NULL"
        );
        assert_eq!(
            check(true, 1, Some("a\nb"), None, None),
            "metadata title can't contain newlines"
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
