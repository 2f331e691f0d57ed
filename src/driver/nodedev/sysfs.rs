//! The host's devices read from sysfs the way libvirt's udev backend sees them (`node_device_udev.c`): which
//! devices count (PCI, USB devices and interfaces, network links, disks, SCSI hosts, targets and devices, SCSI
//! generic and DRM nodes), their names (`pci_0000_00_01_0`, `net_eth0_52_54_00_..`, `block_vda_<serial>`), the
//! parent found by walking up the sysfs tree (`computer` at the top), and each capability's fields.
//!
//! Device properties come from each device's `uevent` file plus, when udevd keeps a database
//! (`/run/udev/data`), its `E:` lines (disk serials and types, USB ids and names from the hardware database)
//! and `S:` device links. PCI names come from `pci.ids`, as libpciaccess gives them to libvirt.
//! Every root is a parameter so that tests run over a tree they build.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::model::node_device::*;

/// Where the scanner reads from.
#[derive(Clone, Debug)]
pub struct SysfsRoots {
    /// The sysfs mount (`/sys`).
    pub sys: PathBuf,
    /// udevd's database (`/run/udev/data`); absent when udevd does not run.
    pub udev_data: PathBuf,
    /// `pci.ids` (libpciaccess's name list).
    pub pci_ids: PathBuf,
    /// Whether to ask the kernel for links' offload features (the host's links only: a fake tree has none).
    pub ethtool: bool,
}

impl SysfsRoots {
    /// The host's own.
    pub fn host() -> Self {
        let pci_ids = ["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("/usr/share/misc/pci.ids"));
        Self {
            sys: PathBuf::from("/sys"),
            udev_data: PathBuf::from("/run/udev/data"),
            pci_ids,
            ethtool: true,
        }
    }
}

/// The directories whose entries are the devices libvirt can describe (udev enumerates every subsystem; the
/// others never yield a device type libvirt knows).
pub(super) const SOURCES: &[&str] = &[
    "bus/pci/devices",
    "bus/usb/devices",
    "class/net",
    "class/block",
    "bus/scsi/devices",
    "class/scsi_generic",
    "class/drm",
];

/// One sysfs device with its udev-style properties.
struct RawDevice {
    dir: PathBuf,
    subsystem: String,
    sysname: String,
    props: HashMap<String, String>,
    devlinks: Vec<String>,
}

impl RawDevice {
    fn prop(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    fn prop_u32(&self, key: &str, radix: u32) -> Option<u32> {
        let text = self.prop(key)?;
        u32::from_str_radix(text.trim_start_matches("0x"), radix).ok()
    }

    fn prop_is_one(&self, key: &str) -> bool {
        self.prop(key) == Some("1")
    }

    /// A sysfs attribute as libvirt reads it: control characters dropped, surrounding newline gone, empty as none.
    fn attr(&self, name: &str) -> Option<String> {
        read_attr(&self.dir.join(name))
    }

    fn attr_u32(&self, name: &str, radix: u32) -> Option<u32> {
        parse_u32(&self.attr(name)?, radix)
    }

    fn attr_u64(&self, name: &str) -> Option<u64> {
        self.attr(name)?.parse().ok()
    }
}

fn read_attr(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    (!text.is_empty()).then_some(text)
}

/// libvirt's `virStrToLong_ui` with a radix: a `0x` prefix is allowed in base 16; a negative value wraps.
fn parse_u32(text: &str, radix: u32) -> Option<u32> {
    let text = text.trim();
    if let Some(negative) = text.strip_prefix('-') {
        let value = u32::from_str_radix(negative, radix).ok()?;
        return Some(value.wrapping_neg());
    }
    let digits = if radix == 16 {
        text.trim_start_matches("0x")
    } else {
        text
    };
    u32::from_str_radix(digits, radix).ok()
}

fn basename(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// libvirt's `udevGenerateDeviceName`: subsystem, sysname and an optional suffix, every non-alphanumeric `_`.
fn device_name(subsystem: &str, sysname: &str, suffix: Option<&str>) -> String {
    let mut name = format!("{subsystem}_{sysname}");
    if let Some(suffix) = suffix {
        name.push('_');
        name.push_str(suffix);
    }
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

impl SysfsRoots {
    /// Every device libvirt would list, the root `computer` first, then by name.
    pub fn scan(&self) -> Vec<NodeDeviceDef> {
        let sys = std::fs::canonicalize(&self.sys).unwrap_or_else(|_| self.sys.clone());
        let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
        for source in SOURCES {
            let Ok(entries) = std::fs::read_dir(sys.join(source)) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Ok(dir) = std::fs::canonicalize(entry.path()) {
                    seen.insert(dir);
                }
            }
        }
        let pci_names = PciNames::load(&self.pci_ids);
        // Parents come before children in path order, as udev enumerates them.
        let mut by_path: HashMap<PathBuf, String> = HashMap::new();
        let mut devices = Vec::new();
        for dir in seen {
            let Some(raw) = self.raw_device(&dir) else {
                continue;
            };
            let Some(mut def) = describe(&raw, &sys, &pci_names, self.ethtool) else {
                continue;
            };
            def.parent = Some(parent_of(&dir, &sys, &by_path));
            by_path.insert(dir, def.name.clone());
            devices.push(def);
        }
        devices.push(self.computer(&sys));
        devices.sort_by(|a, b| a.name.cmp(&b.name));
        devices.dedup_by(|a, b| a.name == b.name);
        devices
    }

    fn raw_device(&self, dir: &Path) -> Option<RawDevice> {
        let subsystem = basename(&std::fs::read_link(dir.join("subsystem")).ok()?);
        let sysname = basename(dir);
        let mut props = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(dir.join("uevent")) {
            for line in text.lines() {
                if let Some((key, value)) = line.split_once('=') {
                    props.insert(key.to_string(), value.to_string());
                }
            }
        }
        // udevd's database is keyed as libudev keys it: block and char devices by number, links by index.
        let id = if let (Some(major), Some(minor)) = (props.get("MAJOR"), props.get("MINOR")) {
            let kind = if subsystem == "block" { 'b' } else { 'c' };
            format!("{kind}{major}:{minor}")
        } else if let Some(index) = props.get("IFINDEX") {
            format!("n{index}")
        } else {
            format!("+{subsystem}:{sysname}")
        };
        let mut devlinks = Vec::new();
        if let Ok(text) = std::fs::read_to_string(self.udev_data.join(id)) {
            for line in text.lines() {
                if let Some(prop) = line.strip_prefix("E:") {
                    if let Some((key, value)) = prop.split_once('=') {
                        props.insert(key.to_string(), value.to_string());
                    }
                } else if let Some(link) = line.strip_prefix("S:") {
                    devlinks.push(format!("/dev/{link}"));
                }
            }
        }
        Some(RawDevice {
            dir: dir.to_path_buf(),
            subsystem,
            sysname,
            props,
            devlinks,
        })
    }

    /// The root device: the host as DMI describes it.
    fn computer(&self, sys: &Path) -> NodeDeviceDef {
        let dmi = [sys.join("devices/virtual/dmi/id"), sys.join("class/dmi/id")]
            .into_iter()
            .find(|p| p.exists());
        let mut cap = SystemCap {
            uuid: uuid::Uuid::nil().to_string(),
            ..SystemCap::default()
        };
        if let Some(dmi) = dmi {
            let attr = |name: &str| read_attr(&dmi.join(name));
            cap.product = attr("product_name");
            cap.hardware_vendor = attr("sys_vendor");
            cap.hardware_version = attr("product_version");
            cap.hardware_serial = attr("product_serial");
            if let Some(uuid) = attr("product_uuid").and_then(|u| uuid::Uuid::parse_str(&u).ok()) {
                cap.uuid = uuid.to_string();
            }
            cap.firmware_vendor = attr("bios_vendor");
            cap.firmware_version = attr("bios_version");
            cap.firmware_release_date = attr("bios_date");
        }
        NodeDeviceDef {
            name: "computer".into(),
            path: None,
            devnode: None,
            devlinks: Vec::new(),
            parent: None,
            driver: None,
            cap: DeviceCap::System(cap),
        }
    }
}

/// The nearest ancestor directory that is itself a listed device, or `computer`.
fn parent_of(dir: &Path, sys: &Path, by_path: &HashMap<PathBuf, String>) -> String {
    let mut at = dir.parent();
    while let Some(candidate) = at {
        if candidate == sys || !candidate.starts_with(sys) {
            break;
        }
        if let Some(name) = by_path.get(candidate) {
            return name.clone();
        }
        at = candidate.parent();
    }
    "computer".to_string()
}

/// The path as libvirt prints it: under `/sys`, whatever root the scan read.
fn shown_path(dir: &Path, sys: &Path) -> String {
    match dir.strip_prefix(sys) {
        Ok(rel) => format!("/sys/{}", rel.display()),
        Err(_) => dir.display().to_string(),
    }
}

/// libvirt's `udevGetDeviceType` then the per-type processing; `None` for devices libvirt skips.
fn describe(
    raw: &RawDevice,
    sys: &Path,
    pci_names: &PciNames,
    ethtool: bool,
) -> Option<NodeDeviceDef> {
    let devtype = raw.prop("DEVTYPE");
    let (name, cap) = match devtype {
        Some("usb_device") => usb_device(raw)?,
        Some("usb_interface") => usb_interface(raw)?,
        Some("scsi_host") => scsi_host(raw, sys)?,
        Some("scsi_target") => (
            device_name(&raw.subsystem, &raw.sysname, None),
            DeviceCap::ScsiTarget {
                target: raw.sysname.clone(),
            },
        ),
        Some("scsi_device") => scsi_device(raw)?,
        Some("disk") => storage(raw)?,
        Some("wlan") => net(raw, true, ethtool)?,
        Some("drm_minor") => drm(raw)?,
        Some(_) => return None,
        None => {
            if raw.prop("PCI_CLASS").is_some() {
                pci(raw, sys, pci_names)?
            } else if raw.subsystem == "scsi_generic" {
                let devname = raw.prop("DEVNAME")?;
                (
                    device_name(&raw.subsystem, &raw.sysname, None),
                    DeviceCap::ScsiGeneric {
                        char_dev: format!("/dev/{}", devname.trim_start_matches("/dev/")),
                    },
                )
            } else if raw.prop("INTERFACE").is_some() {
                net(raw, false, ethtool)?
            } else {
                return None;
            }
        }
    };
    Some(NodeDeviceDef {
        name,
        path: Some(shown_path(&raw.dir, sys)),
        devnode: raw
            .prop("DEVNAME")
            .map(|n| format!("/dev/{}", n.trim_start_matches("/dev/"))),
        devlinks: raw.devlinks.clone(),
        parent: None,
        driver: raw.prop("DRIVER").map(str::to_string),
        cap,
    })
}

fn pci(raw: &RawDevice, sys: &Path, names: &PciNames) -> Option<(String, DeviceCap)> {
    let address = PciAddress::parse(&raw.sysname)?;
    let vendor_id = raw.attr_u32("vendor", 16).unwrap_or(0);
    let product_id = raw.attr_u32("device", 16).unwrap_or(0);
    let (vendor_name, product_name) = names.lookup(vendor_id, product_id);
    let link_address = |link: &Path| {
        std::fs::read_link(link)
            .ok()
            .and_then(|target| PciAddress::parse(&basename(&target)))
    };
    let mut virt_functions = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&raw.dir) {
        let mut links: Vec<(u32, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let index = name.strip_prefix("virtfn")?.parse().ok()?;
                Some((index, e.path()))
            })
            .collect();
        links.sort();
        virt_functions.extend(links.iter().filter_map(|(_, link)| link_address(link)));
    }
    let total_vfs = raw.attr_u32("sriov_totalvfs", 10);
    let iommu_group = std::fs::read_link(raw.dir.join("iommu_group"))
        .ok()
        .and_then(|target| basename(&target).parse::<u32>().ok())
        .map(|group| {
            let mut members: Vec<PciAddress> =
                std::fs::read_dir(sys.join(format!("kernel/iommu_groups/{group}/devices")))
                    .map(|entries| {
                        entries
                            .flatten()
                            .filter_map(|e| PciAddress::parse(&e.file_name().to_string_lossy()))
                            .collect()
                    })
                    .unwrap_or_default();
            members.sort();
            (group, members)
        });
    let cap = PciCap {
        class: raw.prop_u32("PCI_CLASS", 16),
        address: Some(address),
        product_id,
        product_name,
        vendor_id,
        vendor_name,
        phys_function: link_address(&raw.dir.join("physfn")),
        virt_functions: (total_vfs.is_some_and(|n| n > 0) || !virt_functions.is_empty())
            .then(|| (total_vfs.unwrap_or(0), virt_functions)),
        iommu_group,
        numa_node: raw
            .attr("numa_node")
            .and_then(|n| n.trim().parse::<i32>().ok())
            .filter(|n| *n >= 0),
        pci_express: pci_express(&raw.dir.join("config")),
    };
    Some((
        device_name(&raw.subsystem, &raw.sysname, None),
        DeviceCap::Pci(cap),
    ))
}

/// libvirt's PCI Express test over the config space: the Express capability in the capability list; when
/// the list cannot be walked, a config space larger than 256 bytes counts as Express. The link registers are
/// read when the capability was found and the device is not a root-complex endpoint or event collector.
fn pci_express(config_path: &Path) -> Option<Option<(PcieLink, PcieLink)>> {
    // Standard capabilities live in the first 256 bytes; each byte read may trap to a hypervisor, so no more.
    let mut config = Vec::with_capacity(256);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(config_path).ok()?, 256),
        &mut config,
    )
    .ok()?;
    let byte = |at: usize| config.get(at).copied();
    let word = |at: usize| Some(u16::from_le_bytes([byte(at)?, byte(at + 1)?]));
    let dword = |at: usize| Some(u32::from(word(at)?) | (u32::from(word(at + 2)?) << 16));
    let mut express_at = None;
    let mut walked = false;
    if word(0x06).is_some_and(|status| status & 0x10 != 0) {
        let mut pos = byte(0x34).unwrap_or(0);
        let mut steps = 0;
        while pos >= 0x40 && pos != 0xff && steps < 48 {
            steps += 1;
            match byte(usize::from(pos)) {
                Some(0x10) => {
                    express_at = Some(usize::from(pos));
                    break;
                }
                Some(_) => pos = byte(usize::from(pos) + 1).unwrap_or(0),
                None => break,
            }
        }
        walked = true;
    }
    let Some(at) = express_at else {
        let file_len = std::fs::metadata(config_path).map(|m| m.len()).ok();
        let express = !walked && file_len != Some(256);
        return express.then_some(None);
    };
    let kind = (word(at + 2)? & 0xf0) >> 4;
    if kind == 0x9 || kind == 0xa {
        return Some(None);
    }
    let cap = dword(at + 0x0c)?;
    let sta = word(at + 0x12)?;
    Some(Some((
        PcieLink {
            port: Some(cap >> 24),
            speed: cap & 0xf,
            width: (cap >> 4) & 0x3f,
        },
        PcieLink {
            port: None,
            speed: u32::from(sta & 0xf),
            width: u32::from((sta >> 4) & 0x3f),
        },
    )))
}

fn usb_device(raw: &RawDevice) -> Option<(String, DeviceCap)> {
    // With udevd the ids come from its usb_id builtin; without, the same values from the descriptors in sysfs.
    let vendor_id = raw
        .prop_u32("ID_VENDOR_ID", 16)
        .or_else(|| raw.attr_u32("idVendor", 16))
        .unwrap_or(0);
    let product_id = raw
        .prop_u32("ID_MODEL_ID", 16)
        .or_else(|| raw.attr_u32("idProduct", 16))
        .unwrap_or(0);
    let cap = UsbDeviceCap {
        bus: raw.prop_u32("BUSNUM", 10).unwrap_or(0),
        device: raw.prop_u32("DEVNUM", 10).unwrap_or(0),
        product_id,
        product_name: raw
            .prop("ID_MODEL_FROM_DATABASE")
            .map(str::to_string)
            .or_else(|| raw.attr("product")),
        vendor_id,
        vendor_name: raw
            .prop("ID_VENDOR_FROM_DATABASE")
            .map(str::to_string)
            .or_else(|| raw.attr("manufacturer")),
    };
    Some((
        device_name(&raw.subsystem, &raw.sysname, None),
        DeviceCap::UsbDevice(cap),
    ))
}

fn usb_interface(raw: &RawDevice) -> Option<(String, DeviceCap)> {
    let cap = UsbInterfaceCap {
        number: raw.attr_u32("bInterfaceNumber", 16)?,
        class: raw.attr_u32("bInterfaceClass", 16)?,
        subclass: raw.attr_u32("bInterfaceSubClass", 16)?,
        protocol: raw.attr_u32("bInterfaceProtocol", 16)?,
    };
    Some((
        device_name(&raw.subsystem, &raw.sysname, None),
        DeviceCap::UsbInterface(cap),
    ))
}

/// Link state and speed as libvirt's `virNetDevGetLinkInfo` reads them.
pub(crate) fn link_info(dir: &Path) -> (Option<String>, Option<u32>) {
    let state = read_attr(&dir.join("operstate"));
    let speed = read_attr(&dir.join("speed")).and_then(|s| parse_u32(&s, 10));
    (state, speed)
}

fn net(raw: &RawDevice, wireless: bool, ethtool: bool) -> Option<(String, DeviceCap)> {
    let interface = raw.prop("INTERFACE")?.to_string();
    let address = raw.attr("address");
    let (link_state, link_speed) = link_info(&raw.dir);
    let cap = NetCap {
        address: address.clone(),
        link_speed,
        link_state,
        features: if ethtool {
            super::ethtool::features(&interface)
        } else {
            Vec::new()
        },
        interface,
        wireless,
    };
    Some((
        device_name(&raw.subsystem, &raw.sysname, address.as_deref()),
        DeviceCap::Net(cap),
    ))
}

fn scsi_host(raw: &RawDevice, sys: &Path) -> Option<(String, DeviceCap)> {
    let host = raw.sysname.strip_prefix("host")?.parse().ok()?;
    let class_dir = sys.join("class/scsi_host").join(&raw.sysname);
    let unique_id = read_attr(&class_dir.join("unique_id")).and_then(|s| s.trim().parse().ok());
    let fc_dir = sys.join("class/fc_host").join(&raw.sysname);
    let wwn = |name: &str| {
        read_attr(&fc_dir.join(name)).map(|s| s.trim().trim_start_matches("0x").to_string())
    };
    let fc_host = match (wwn("node_name"), wwn("port_name")) {
        (Some(wwnn), Some(wwpn)) => Some(FcHost {
            wwnn,
            wwpn,
            fabric_wwn: wwn("fabric_name"),
        }),
        _ => None,
    };
    let vport_ops = fc_dir.join("vport_create").exists().then(|| {
        let number = |name: &str| {
            read_attr(&fc_dir.join(name))
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        (number("max_npiv_vports"), number("npiv_vports_inuse"))
    });
    let cap = ScsiHostCap {
        host,
        unique_id,
        fc_host,
        vport_ops,
    };
    Some((
        device_name(&raw.subsystem, &raw.sysname, None),
        DeviceCap::ScsiHost(cap),
    ))
}

/// SCSI peripheral device types by code, as libvirt names them.
fn scsi_type(code: u32) -> Option<&'static str> {
    Some(match code {
        0x00 => "disk",
        0x01 => "tape",
        0x03 => "processor",
        0x04 => "worm",
        0x05 => "cdrom",
        0x06 => "scanner",
        0x07 => "mod",
        0x08 => "changer",
        0x0d => "enclosure",
        0x0c => "raid",
        _ => return None,
    })
}

fn scsi_device(raw: &RawDevice) -> Option<(String, DeviceCap)> {
    let mut parts = raw.sysname.split(':').map(|p| p.parse::<u32>().ok());
    let cap = ScsiCap {
        host: parts.next()??,
        bus: parts.next()??,
        target: parts.next()??,
        lun: parts.next()??,
        kind: raw
            .attr_u32("type", 10)
            .and_then(scsi_type)
            .map(str::to_string),
    };
    Some((
        device_name(&raw.subsystem, &raw.sysname, None),
        DeviceCap::Scsi(cap),
    ))
}

fn storage(raw: &RawDevice) -> Option<(String, DeviceCap)> {
    let devname = raw.prop("DEVNAME")?;
    let block = format!("/dev/{}", devname.trim_start_matches("/dev/"));
    let trimmed = |name: &str| {
        raw.attr(name)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let mut drive_type = raw.prop("ID_TYPE").map(str::to_string);
    if drive_type.as_deref().is_none_or(|t| t == "generic") {
        drive_type = if raw.prop_is_one("ID_DRIVE_FLOPPY") {
            Some("floppy".into())
        } else if raw.prop_is_one("ID_CDROM") {
            Some("cd".into())
        } else if raw.prop_is_one("ID_DRIVE_FLASH_SD") {
            Some("sd".into())
        } else if block.starts_with("/dev/vd") {
            // libvirt's guess for virtio disks, which udev leaves untyped.
            Some("disk".into())
        } else {
            return None;
        };
    }
    let num_blocks = raw.attr_u64("size").unwrap_or(0);
    let logical_block_size = raw.attr_u64("queue/logical_block_size").unwrap_or(0);
    let mut cap = StorageCap {
        block,
        bus: raw.prop("ID_BUS").map(str::to_string),
        drive_type: None,
        model: trimmed("device/model"),
        vendor: trimmed("device/vendor"),
        serial: raw.prop("ID_SERIAL").map(str::to_string),
        removable: None,
        size: 0,
        logical_block_size: 0,
        num_blocks: 0,
    };
    let removable = |has_media: bool| -> Option<(bool, u64, Option<String>)> {
        if raw.attr("removable").as_deref().map(str::trim) != Some("1") {
            return None;
        }
        if !has_media {
            return Some((false, 0, None));
        }
        Some((
            true,
            num_blocks * logical_block_size,
            raw.prop("ID_FS_LABEL").map(str::to_string),
        ))
    };
    match drive_type.as_deref() {
        Some("cd") => {
            cap.drive_type = Some("cdrom".into());
            cap.removable = removable(raw.prop_is_one("ID_CDROM_MEDIA"));
            if cap.removable.as_ref().is_some_and(|r| r.0) {
                cap.logical_block_size = logical_block_size;
                cap.num_blocks = num_blocks;
            }
        }
        Some("floppy") => {
            let has_media = if raw.prop("ID_CDROM_MEDIA").is_some() {
                raw.prop_is_one("DKD_MEDIA_AVAILABLE")
            } else {
                raw.prop("ID_FS_LABEL").is_some()
            };
            cap.drive_type = drive_type.clone();
            cap.removable = removable(has_media);
            if cap.removable.as_ref().is_some_and(|r| r.0) {
                cap.logical_block_size = logical_block_size;
                cap.num_blocks = num_blocks;
            }
        }
        Some("disk") | Some("sd") => {
            cap.drive_type = drive_type.clone();
            cap.num_blocks = num_blocks;
            cap.logical_block_size = logical_block_size;
            cap.size = num_blocks * logical_block_size;
        }
        _ => return None,
    }
    let name = device_name(&raw.subsystem, &raw.sysname, cap.serial.as_deref());
    Some((name, DeviceCap::Storage(cap)))
}

fn drm(raw: &RawDevice) -> Option<(String, DeviceCap)> {
    let minor: i64 = raw.prop("MINOR")?.parse().ok()?;
    let kind = match minor >> 6 {
        0 => "primary",
        1 => "control",
        2 => "render",
        _ => return None,
    };
    Some((
        device_name(&raw.subsystem, &raw.sysname, None),
        DeviceCap::Drm { kind: kind.into() },
    ))
}

/// Vendor and device names from `pci.ids`, as libpciaccess's `pci_get_strings` finds them: read once per file
/// and kept (the list changes only when its package does).
struct PciNames {
    vendors: HashMap<u32, (String, HashMap<u32, String>)>,
}

impl PciNames {
    fn load(path: &Path) -> Arc<Self> {
        static LOADED: Mutex<BTreeMap<PathBuf, Arc<PciNames>>> = Mutex::new(BTreeMap::new());
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        loaded
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                Arc::new(Self::parse(
                    &std::fs::read_to_string(path).unwrap_or_default(),
                ))
            })
            .clone()
    }

    fn parse(text: &str) -> Self {
        let mut vendors: HashMap<u32, (String, HashMap<u32, String>)> = HashMap::new();
        let mut current: Option<u32> = None;
        let id_and_name = |line: &str| -> Option<(u32, String)> {
            let (id, name) = line.split_once("  ")?;
            if id.len() != 4 {
                return None;
            }
            Some((u32::from_str_radix(id, 16).ok()?, name.to_string()))
        };
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('\t') {
                // Subsystem lines (two tabs) name boards, not devices.
                if rest.starts_with('\t') {
                    continue;
                }
                if let (Some(vendor), Some((device, name))) = (current, id_and_name(rest)) {
                    if let Some((_, devices)) = vendors.get_mut(&vendor) {
                        devices.entry(device).or_insert(name);
                    }
                }
                continue;
            }
            // A vendor line; the class list at the end ("C 01  ...") is not one.
            current = id_and_name(line).map(|(vendor, name)| {
                vendors.entry(vendor).or_insert((name, HashMap::new()));
                vendor
            });
        }
        Self { vendors }
    }

    fn lookup(&self, vendor: u32, device: u32) -> (Option<String>, Option<String>) {
        match self.vendors.get(&vendor) {
            Some((name, devices)) => (Some(name.clone()), devices.get(&device).cloned()),
            None => (None, None),
        }
    }
}

#[cfg(test)]
mod tests;
