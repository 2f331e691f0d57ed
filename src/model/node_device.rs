//! Node devices (`virNodeDevice`): the description of one host device and its XML, laid out as libvirt 9.0's
//! `virNodeDeviceDefFormat` writes it, and the capability names and `LIST_NODE_DEVICES_CAP_*` bits. Pure: the
//! drivers fill the description (the test world from constants, the host driver from sysfs).

use crate::model::xml::{Attrs, XmlWriter};

/// libvirt's `virNodeDevCapType` names, in enum order: name `i` is filter bit `1 << i`
/// (`VIR_CONNECT_LIST_NODE_DEVICES_CAP_*`).
pub const CAP_NAMES: &[&str] = &[
    "system",
    "pci",
    "usb_device",
    "usb",
    "net",
    "scsi_host",
    "scsi_target",
    "scsi",
    "storage",
    "fc_host",
    "vports",
    "scsi_generic",
    "drm",
    "mdev_types",
    "mdev",
    "ccw",
    "css",
    "vdpa",
    "ap_card",
    "ap_queue",
    "ap_matrix",
    "vpd",
];

/// Every capability filter bit libvirt 9.0 defines.
pub const CAP_FILTERS: u32 = (1 << 22) - 1;
/// `VIR_CONNECT_LIST_NODE_DEVICES_INACTIVE` / `_ACTIVE`.
pub const LIST_INACTIVE: u32 = 1 << 30;
pub const LIST_ACTIVE: u32 = 1 << 31;

/// The filter bit of a capability name; `None` for a name libvirt does not know (which matches no device).
pub fn cap_bit(name: &str) -> Option<u32> {
    CAP_NAMES.iter().position(|n| *n == name).map(|i| 1 << i)
}

/// One host device.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NodeDeviceDef {
    pub name: String,
    /// The sysfs path (`<path>`).
    pub path: Option<String>,
    /// `<devnode type='dev'>`.
    pub devnode: Option<String>,
    /// `<devnode type='link'>`, in order.
    pub devlinks: Vec<String>,
    /// `None` only for the root, `computer`.
    pub parent: Option<String>,
    /// The kernel driver bound to it.
    pub driver: Option<String>,
    pub cap: DeviceCap,
}

/// What a device is: its one top-level capability.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DeviceCap {
    System(SystemCap),
    Pci(PciCap),
    UsbDevice(UsbDeviceCap),
    UsbInterface(UsbInterfaceCap),
    Net(NetCap),
    ScsiHost(ScsiHostCap),
    ScsiTarget {
        target: String,
    },
    Scsi(ScsiCap),
    Storage(StorageCap),
    ScsiGeneric {
        char_dev: String,
    },
    /// `primary`, `control` or `render`.
    Drm {
        kind: String,
    },
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SystemCap {
    pub product: Option<String>,
    pub hardware_vendor: Option<String>,
    pub hardware_version: Option<String>,
    pub hardware_serial: Option<String>,
    pub uuid: String,
    pub firmware_vendor: Option<String>,
    pub firmware_version: Option<String>,
    pub firmware_release_date: Option<String>,
}

/// A PCI address as libvirt's nodedev XML writes it in `<address>` elements.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub struct PciAddress {
    pub domain: u32,
    pub bus: u32,
    pub slot: u32,
    pub function: u32,
}

impl PciAddress {
    /// Parses a sysfs name `DDDD:BB:SS.F`.
    pub fn parse(text: &str) -> Option<Self> {
        let (domain, rest) = text.split_once(':')?;
        let (bus, rest) = rest.split_once(':')?;
        let (slot, function) = rest.split_once('.')?;
        Some(Self {
            domain: u32::from_str_radix(domain, 16).ok()?,
            bus: u32::from_str_radix(bus, 16).ok()?,
            slot: u32::from_str_radix(slot, 16).ok()?,
            function: u32::from_str_radix(function, 16).ok()?,
        })
    }

    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("domain", format!("0x{:04x}", self.domain))
            .with("bus", format!("0x{:02x}", self.bus))
            .with("slot", format!("0x{:02x}", self.slot))
            .with("function", format!("0x{}", self.function))
    }
}

/// One PCIe link (`<link validity=...>`): speed code as in the Link Capabilities register (1 = 2.5 GT/s).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PcieLink {
    pub port: Option<u32>,
    pub speed: u32,
    pub width: u32,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PciCap {
    /// `None` when the device has no class property.
    pub class: Option<u32>,
    pub address: Option<PciAddress>,
    pub product_id: u32,
    pub product_name: Option<String>,
    pub vendor_id: u32,
    pub vendor_name: Option<String>,
    pub phys_function: Option<PciAddress>,
    /// (maxCount, the virtual functions) when the device can have some.
    pub virt_functions: Option<(u32, Vec<PciAddress>)>,
    /// (group number, the devices in it).
    pub iommu_group: Option<(u32, Vec<PciAddress>)>,
    pub numa_node: Option<i32>,
    /// `Some` for PCI Express devices: (link capability, link status) when the device has a link.
    pub pci_express: Option<Option<(PcieLink, PcieLink)>>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct UsbDeviceCap {
    pub bus: u32,
    pub device: u32,
    pub product_id: u32,
    pub product_name: Option<String>,
    pub vendor_id: u32,
    pub vendor_name: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct UsbInterfaceCap {
    pub number: u32,
    pub class: u32,
    pub subclass: u32,
    pub protocol: u32,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NetCap {
    pub interface: String,
    pub address: Option<String>,
    /// `<link speed=...>` in Mb/s (the kernel's −1 for unknown reads as 4294967295, as in libvirt).
    pub link_speed: Option<u32>,
    pub link_state: Option<String>,
    pub features: Vec<String>,
    /// true for wireless (`80211`), false for wired (`80203`).
    pub wireless: bool,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct FcHost {
    pub wwnn: String,
    pub wwpn: String,
    pub fabric_wwn: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ScsiHostCap {
    pub host: u32,
    pub unique_id: Option<i32>,
    pub fc_host: Option<FcHost>,
    /// (max_vports, vports) of a host that can create vports.
    pub vport_ops: Option<(u32, u32)>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ScsiCap {
    pub host: u32,
    pub bus: u32,
    pub target: u32,
    pub lun: u32,
    pub kind: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct StorageCap {
    pub block: String,
    pub bus: Option<String>,
    pub drive_type: Option<String>,
    pub model: Option<String>,
    pub vendor: Option<String>,
    pub serial: Option<String>,
    /// `Some((media available, media size, media label))` for removable drives.
    pub removable: Option<(bool, u64, Option<String>)>,
    pub size: u64,
    pub logical_block_size: u64,
    pub num_blocks: u64,
}

impl DeviceCap {
    /// The capability's name (`<capability type=...>`, `virNodeDeviceListCaps`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::System(_) => "system",
            Self::Pci(_) => "pci",
            Self::UsbDevice(_) => "usb_device",
            Self::UsbInterface(_) => "usb",
            Self::Net(_) => "net",
            Self::ScsiHost(_) => "scsi_host",
            Self::ScsiTarget { .. } => "scsi_target",
            Self::Scsi(_) => "scsi",
            Self::Storage(_) => "storage",
            Self::ScsiGeneric { .. } => "scsi_generic",
            Self::Drm { .. } => "drm",
        }
    }
}

impl NodeDeviceDef {
    /// The `LIST_NODE_DEVICES_CAP_*` bits this device matches: its own capability and the nested ones a
    /// filter also finds (an FC host is an `fc_host`, one that can create vports is `vports`).
    pub fn cap_bits(&self) -> u32 {
        let mut bits = cap_bit(self.cap.type_name()).unwrap_or(0);
        if let DeviceCap::ScsiHost(host) = &self.cap {
            if host.fc_host.is_some() {
                bits |= cap_bit("fc_host").unwrap_or(0);
            }
            if host.vport_ops.is_some() {
                bits |= cap_bit("vports").unwrap_or(0);
            }
        }
        bits
    }

    /// Whether a `virConnectListAllNodeDevices` capability filter (0 = none) selects this device.
    pub fn matches(&self, flags: u32) -> bool {
        let caps = flags & CAP_FILTERS;
        caps == 0 || self.cap_bits() & caps != 0
    }

    /// The device's XML, as `virNodeDeviceGetXMLDesc` returns it.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.open("device", Attrs::new());
        w.text("name", Attrs::new(), &self.name);
        w.opt_text("path", self.path.as_deref());
        if let Some(node) = &self.devnode {
            w.text("devnode", Attrs::new().with("type", "dev"), node);
        }
        for link in &self.devlinks {
            w.text("devnode", Attrs::new().with("type", "link"), link);
        }
        w.opt_text("parent", self.parent.as_deref());
        if let Some(driver) = &self.driver {
            w.open("driver", Attrs::new());
            w.text("name", Attrs::new(), driver);
            w.close("driver");
        }
        w.open(
            "capability",
            Attrs::new().with("type", self.cap.type_name()),
        );
        format_cap(&mut w, &self.cap);
        w.close("capability");
        w.close("device");
        w.finish()
    }
}

/// `<product id='0x....'>name</product>` or, without a name, `<product id='0x....'/>`.
fn id_and_name(w: &mut XmlWriter, element: &str, id: u32, name: Option<&str>) {
    let attrs = Attrs::new().with("id", format!("0x{id:04x}"));
    match name {
        Some(name) => w.text(element, attrs, name),
        None => w.empty(element, attrs),
    }
}

fn number(w: &mut XmlWriter, element: &str, value: impl ToString) {
    w.text(element, Attrs::new(), &value.to_string());
}

/// libvirt's `virPCIELinkSpeed` names by Link Capabilities speed code.
fn pcie_speed(code: u32) -> Option<&'static str> {
    match code {
        1 => Some("2.5"),
        2 => Some("5"),
        3 => Some("8"),
        4 => Some("16"),
        5 => Some("32"),
        6 => Some("64"),
        _ => None,
    }
}

fn pcie_link(w: &mut XmlWriter, validity: &str, link: &PcieLink) {
    w.empty(
        "link",
        Attrs::new()
            .with("validity", validity)
            .opt("port", link.port)
            .opt("speed", pcie_speed(link.speed))
            .with("width", link.width),
    );
}

fn format_cap(w: &mut XmlWriter, cap: &DeviceCap) {
    match cap {
        DeviceCap::System(sys) => {
            w.opt_text("product", sys.product.as_deref());
            w.open("hardware", Attrs::new());
            w.opt_text("vendor", sys.hardware_vendor.as_deref());
            w.opt_text("version", sys.hardware_version.as_deref());
            w.opt_text("serial", sys.hardware_serial.as_deref());
            w.text("uuid", Attrs::new(), &sys.uuid);
            w.close("hardware");
            w.open("firmware", Attrs::new());
            w.opt_text("vendor", sys.firmware_vendor.as_deref());
            w.opt_text("version", sys.firmware_version.as_deref());
            w.opt_text("release_date", sys.firmware_release_date.as_deref());
            w.close("firmware");
        }
        DeviceCap::Pci(pci) => {
            if let Some(class) = pci.class {
                w.text("class", Attrs::new(), &format!("0x{class:06x}"));
            }
            let address = pci.address.unwrap_or(PciAddress {
                domain: 0,
                bus: 0,
                slot: 0,
                function: 0,
            });
            number(w, "domain", address.domain);
            number(w, "bus", address.bus);
            number(w, "slot", address.slot);
            number(w, "function", address.function);
            id_and_name(w, "product", pci.product_id, pci.product_name.as_deref());
            id_and_name(w, "vendor", pci.vendor_id, pci.vendor_name.as_deref());
            if let Some(pf) = &pci.phys_function {
                w.open("capability", Attrs::new().with("type", "phys_function"));
                w.empty("address", pf.attrs());
                w.close("capability");
            }
            if let Some((max, vfs)) = &pci.virt_functions {
                let attrs = Attrs::new()
                    .with("type", "virt_functions")
                    .opt("maxCount", (*max > 0).then_some(*max));
                if vfs.is_empty() {
                    w.empty("capability", attrs);
                } else {
                    w.open("capability", attrs);
                    for vf in vfs {
                        w.empty("address", vf.attrs());
                    }
                    w.close("capability");
                }
            }
            if let Some((group, members)) = &pci.iommu_group {
                w.open("iommuGroup", Attrs::new().with("number", group));
                for member in members {
                    w.empty("address", member.attrs());
                }
                w.close("iommuGroup");
            }
            if let Some(node) = pci.numa_node {
                w.empty("numa", Attrs::new().with("node", node));
            }
            match &pci.pci_express {
                Some(None) => w.empty("pci-express", Attrs::new()),
                Some(Some((cap, sta))) => {
                    w.open("pci-express", Attrs::new());
                    pcie_link(w, "cap", cap);
                    pcie_link(w, "sta", sta);
                    w.close("pci-express");
                }
                None => {}
            }
        }
        DeviceCap::UsbDevice(usb) => {
            number(w, "bus", usb.bus);
            number(w, "device", usb.device);
            id_and_name(w, "product", usb.product_id, usb.product_name.as_deref());
            id_and_name(w, "vendor", usb.vendor_id, usb.vendor_name.as_deref());
        }
        DeviceCap::UsbInterface(usb) => {
            number(w, "number", usb.number);
            number(w, "class", usb.class);
            number(w, "subclass", usb.subclass);
            number(w, "protocol", usb.protocol);
        }
        DeviceCap::Net(net) => {
            w.text("interface", Attrs::new(), &net.interface);
            w.opt_text("address", net.address.as_deref());
            if net.link_speed.is_some_and(|s| s != 0) || net.link_state.is_some() {
                w.empty(
                    "link",
                    Attrs::new()
                        .opt("speed", net.link_speed.filter(|s| *s != 0))
                        .opt("state", net.link_state.as_deref()),
                );
            }
            for feature in &net.features {
                w.empty("feature", Attrs::new().with("name", feature));
            }
            let subtype = if net.wireless { "80211" } else { "80203" };
            w.empty("capability", Attrs::new().with("type", subtype));
        }
        DeviceCap::ScsiHost(host) => {
            number(w, "host", host.host);
            if let Some(id) = host.unique_id.filter(|id| *id != -1) {
                number(w, "unique_id", id);
            }
            if let Some(fc) = &host.fc_host {
                w.open("capability", Attrs::new().with("type", "fc_host"));
                w.text("wwnn", Attrs::new(), &fc.wwnn);
                w.text("wwpn", Attrs::new(), &fc.wwpn);
                w.opt_text("fabric_wwn", fc.fabric_wwn.as_deref());
                w.close("capability");
            }
            if let Some((max, used)) = host.vport_ops {
                w.open("capability", Attrs::new().with("type", "vport_ops"));
                number(w, "max_vports", max);
                number(w, "vports", used);
                w.close("capability");
            }
        }
        DeviceCap::ScsiTarget { target } => w.text("target", Attrs::new(), target),
        DeviceCap::Scsi(scsi) => {
            number(w, "host", scsi.host);
            number(w, "bus", scsi.bus);
            number(w, "target", scsi.target);
            number(w, "lun", scsi.lun);
            w.opt_text("type", scsi.kind.as_deref());
        }
        DeviceCap::Storage(st) => {
            w.text("block", Attrs::new(), &st.block);
            w.opt_text("bus", st.bus.as_deref());
            w.opt_text("drive_type", st.drive_type.as_deref());
            w.opt_text("model", st.model.as_deref());
            w.opt_text("vendor", st.vendor.as_deref());
            w.opt_text("serial", st.serial.as_deref());
            match &st.removable {
                Some((available, media_size, label)) => {
                    w.open("capability", Attrs::new().with("type", "removable"));
                    number(w, "media_available", u8::from(*available));
                    number(w, "media_size", media_size);
                    w.opt_text("media_label", label.as_deref());
                    w.close("capability");
                }
                None => number(w, "size", st.size),
            }
            if st.logical_block_size > 0 {
                number(w, "logical_block_size", st.logical_block_size);
                number(w, "num_blocks", st.num_blocks);
            }
        }
        DeviceCap::ScsiGeneric { char_dev } => w.text("char", Attrs::new(), char_dev),
        DeviceCap::Drm { kind } => w.text("type", Attrs::new(), kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_names_are_filter_bits_in_libvirts_order() {
        assert_eq!(cap_bit("system"), Some(1));
        assert_eq!(cap_bit("pci"), Some(2));
        assert_eq!(cap_bit("vports"), Some(1 << 10));
        assert_eq!(cap_bit("vpd"), Some(1 << 21));
        assert_eq!(cap_bit("bogus"), None);
    }

    #[test]
    fn a_pci_device_formats_as_libvirt_does() {
        let dev = NodeDeviceDef {
            name: "pci_0000_00_01_0".into(),
            path: Some("/sys/devices/pci0000:00/0000:00:01.0".into()),
            devnode: None,
            devlinks: vec![],
            parent: Some("computer".into()),
            driver: Some("virtio-pci".into()),
            cap: DeviceCap::Pci(PciCap {
                class: Some(0xffff00),
                address: PciAddress::parse("0000:00:01.0"),
                product_id: 0x1045,
                product_name: Some("Virtio 1.0 memory balloon".into()),
                vendor_id: 0x1af4,
                vendor_name: Some("Red Hat, Inc.".into()),
                iommu_group: Some((3, vec![PciAddress::parse("0000:00:01.0").expect("address")])),
                pci_express: Some(Some((
                    PcieLink {
                        port: Some(0),
                        speed: 3,
                        width: 4,
                    },
                    PcieLink {
                        port: None,
                        speed: 1,
                        width: 1,
                    },
                ))),
                ..PciCap::default()
            }),
        };
        assert_eq!(
            dev.to_xml(),
            "<device>\n  <name>pci_0000_00_01_0</name>\n  <path>/sys/devices/pci0000:00/0000:00:01.0</path>\n  \
             <parent>computer</parent>\n  <driver>\n    <name>virtio-pci</name>\n  </driver>\n  \
             <capability type='pci'>\n    <class>0xffff00</class>\n    <domain>0</domain>\n    <bus>0</bus>\n    \
             <slot>1</slot>\n    <function>0</function>\n    <product id='0x1045'>Virtio 1.0 memory balloon</product>\n    \
             <vendor id='0x1af4'>Red Hat, Inc.</vendor>\n    <iommuGroup number='3'>\n      \
             <address domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>\n    </iommuGroup>\n    \
             <pci-express>\n      <link validity='cap' port='0' speed='8' width='4'/>\n      \
             <link validity='sta' speed='2.5' width='1'/>\n    </pci-express>\n  </capability>\n</device>\n"
        );
        assert_eq!(dev.cap_bits(), 2);
        assert!(dev.matches(0) && dev.matches(2 | LIST_ACTIVE) && !dev.matches(1));
    }

    #[test]
    fn an_empty_firmware_block_keeps_its_two_lines() {
        let dev = NodeDeviceDef {
            name: "computer".into(),
            path: None,
            devnode: None,
            devlinks: vec![],
            parent: None,
            driver: None,
            cap: DeviceCap::System(SystemCap {
                uuid: "00000000-0000-0000-0000-000000000000".into(),
                ..SystemCap::default()
            }),
        };
        assert_eq!(
            dev.to_xml(),
            "<device>\n  <name>computer</name>\n  <capability type='system'>\n    <hardware>\n      \
             <uuid>00000000-0000-0000-0000-000000000000</uuid>\n    </hardware>\n    <firmware>\n    </firmware>\n  \
             </capability>\n</device>\n"
        );
    }
}
