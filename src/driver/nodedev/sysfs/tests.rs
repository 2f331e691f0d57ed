//! The sysfs → node device mapping over a fake sysfs tree built in a temp dir.

use super::*;
use std::os::unix::fs::symlink;

/// A fake sysfs: devices under `devices/`, linked from `bus/*/devices` or `class/*` as the kernel links them.
struct FakeSys {
    dir: tempfile::TempDir,
}

impl FakeSys {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn sys(&self) -> PathBuf {
        self.dir.path().join("sys")
    }

    /// A device at `devices/<path>` in `subsystem` (`bus/pci` or `class/net`), listed there under its name.
    fn device(&self, path: &str, subsystem: &str, files: &[(&str, &str)]) -> PathBuf {
        let sys = self.sys();
        let dir = sys.join("devices").join(path);
        std::fs::create_dir_all(&dir).expect("device dir");
        let subsystem_dir = sys.join(subsystem);
        std::fs::create_dir_all(&subsystem_dir).expect("subsystem dir");
        symlink(&subsystem_dir, dir.join("subsystem")).expect("subsystem link");
        let listing = if subsystem.starts_with("bus/") {
            subsystem_dir.join("devices")
        } else {
            subsystem_dir.clone()
        };
        std::fs::create_dir_all(&listing).expect("listing");
        let name = dir.file_name().expect("name").to_owned();
        symlink(&dir, listing.join(name)).expect("listing link");
        for (file, text) in files {
            let at = dir.join(file);
            std::fs::create_dir_all(at.parent().expect("parent")).expect("file dir");
            std::fs::write(at, text).expect("file");
        }
        dir
    }

    fn file(&self, path: &str, text: &str) {
        let at = self.sys().join(path);
        std::fs::create_dir_all(at.parent().expect("parent")).expect("dir");
        std::fs::write(at, text).expect("file");
    }

    fn roots(&self) -> SysfsRoots {
        let pci_ids = self.dir.path().join("pci.ids");
        std::fs::write(
            &pci_ids,
            "# comment\n1af4  Red Hat, Inc.\n\t1041  Virtio 1.0 network device\n\t\t1af4 1100  QEMU\n\
             8086  Intel Corporation\n\t0d57  Host bridge\nC 02  Network controller\n",
        )
        .expect("pci.ids");
        SysfsRoots {
            sys: self.sys(),
            udev_data: self.dir.path().join("udev"),
            pci_ids,
            ethtool: false,
        }
    }
}

/// A PCI config space: vendor, device, status with a capability list at 0x40 holding a PCIe capability
/// (endpoint, link 8 GT/s x4 capable, 2.5 GT/s x1 now), 4096 bytes long.
fn express_config() -> Vec<u8> {
    let mut config = vec![0u8; 4096];
    config[0..4].copy_from_slice(&[0xf4, 0x1a, 0x41, 0x10]);
    config[6] = 0x10;
    config[0x34] = 0x40;
    config[0x40] = 0x10;
    config[0x41] = 0x00;
    config[0x42] = 0x02; // version 2, type 0 (endpoint)
    config[0x4c..0x50].copy_from_slice(&(3u32 | (4 << 4) | (7 << 24)).to_le_bytes());
    config[0x52..0x54].copy_from_slice(&(1u16 | (1 << 4)).to_le_bytes());
    config
}

fn build() -> FakeSys {
    let fake = FakeSys::new();
    let nic = fake.device(
        "pci0000:00/0000:00:03.0",
        "bus/pci",
        &[
            (
                "uevent",
                "DRIVER=virtio-pci\nPCI_CLASS=20000\nPCI_SLOT_NAME=0000:00:03.0\n",
            ),
            ("vendor", "0x1af4\n"),
            ("device", "0x1041\n"),
            ("numa_node", "-1\n"),
        ],
    );
    std::fs::write(nic.join("config"), express_config()).expect("config");
    fake.file("kernel/iommu_groups/7/devices/0000:00:03.0", "");
    symlink(
        fake.sys().join("kernel/iommu_groups/7"),
        nic.join("iommu_group"),
    )
    .expect("iommu link");
    // A host bridge whose config space has no capability list and is longer than 256 bytes: Express, no link.
    let bridge = fake.device(
        "pci0000:00/0000:00:00.0",
        "bus/pci",
        &[
            ("uevent", "PCI_CLASS=60000\n"),
            ("vendor", "0x8086\n"),
            ("device", "0x0d57\n"),
        ],
    );
    std::fs::write(bridge.join("config"), vec![0u8; 4096]).expect("config");
    fake.device(
        "pci0000:00/0000:00:03.0/virtio2/net/eth0",
        "class/net",
        &[
            ("uevent", "INTERFACE=eth0\nIFINDEX=2\n"),
            ("address", "52:54:00:12:34:56\n"),
            ("operstate", "up\n"),
            ("speed", "-1\n"),
            ("type", "1\n"),
        ],
    );
    fake.device(
        "virtual/net/lo",
        "class/net",
        &[
            ("uevent", "INTERFACE=lo\nIFINDEX=1\n"),
            ("address", "00:00:00:00:00:00\n"),
            ("operstate", "unknown\n"),
        ],
    );
    // A bridge sets DEVTYPE, which libvirt does not take for a network device.
    fake.device(
        "virtual/net/br0",
        "class/net",
        &[("uevent", "DEVTYPE=bridge\nINTERFACE=br0\nIFINDEX=3\n")],
    );
    let virtio1 = fake.sys().join("devices/pci0000:00/0000:00:02.0/virtio1");
    std::fs::create_dir_all(&virtio1).expect("virtio dir");
    std::fs::write(virtio1.join("vendor"), "0x1af4\n").expect("vendor");
    let vda = fake.device(
        "pci0000:00/0000:00:02.0/virtio1/block/vda",
        "class/block",
        &[
            ("uevent", "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n"),
            ("size", "2048\n"),
            ("queue/logical_block_size", "512\n"),
        ],
    );
    symlink(&virtio1, vda.join("device")).expect("device link");
    fake.device(
        "pci0000:00/0000:00:02.0/virtio1/block/vda/vda1",
        "class/block",
        &[(
            "uevent",
            "MAJOR=254\nMINOR=1\nDEVNAME=vda1\nDEVTYPE=partition\n",
        )],
    );
    // A loop device: no udev type, not /dev/vd*: libvirt skips it.
    fake.device(
        "virtual/block/loop0",
        "class/block",
        &[("uevent", "MAJOR=7\nMINOR=0\nDEVNAME=loop0\nDEVTYPE=disk\n")],
    );
    fake.file(
        "../udev/b254:0",
        "S:disk/by-id/virtio-abc-1\nE:ID_SERIAL=abc-1\nE:ID_BUS=virtio\n",
    );
    fake.device(
        "pci0000:00/0000:00:04.0/usb1",
        "bus/usb",
        &[
            (
                "uevent",
                "DEVTYPE=usb_device\nDRIVER=usb\nBUSNUM=001\nDEVNUM=001\nDEVNAME=bus/usb/001/001\nMAJOR=189\nMINOR=0\n",
            ),
            ("idVendor", "1d6b\n"),
            ("idProduct", "0002\n"),
            ("manufacturer", "Linux 6.1 xhci-hcd\n"),
            ("product", "xHCI Host Controller\n"),
        ],
    );
    fake.device(
        "pci0000:00/0000:00:04.0/usb1/1-0:1.0",
        "bus/usb",
        &[
            ("uevent", "DEVTYPE=usb_interface\nDRIVER=hub\n"),
            ("bInterfaceNumber", "00\n"),
            ("bInterfaceClass", "09\n"),
            ("bInterfaceSubClass", "00\n"),
            ("bInterfaceProtocol", "00\n"),
        ],
    );
    fake.device(
        "pci0000:00/0000:00:05.0/host0",
        "bus/scsi",
        &[("uevent", "DEVTYPE=scsi_host\n")],
    );
    fake.file("class/scsi_host/host0/unique_id", "1\n");
    fake.file("class/fc_host/host0/node_name", "0x2000000012341234\n");
    fake.file("class/fc_host/host0/port_name", "0x1000000012341234\n");
    fake.file("class/fc_host/host0/fabric_name", "0x2000000043214321\n");
    fake.device(
        "pci0000:00/0000:00:05.0/host0/target0:0:0",
        "bus/scsi",
        &[("uevent", "DEVTYPE=scsi_target\n")],
    );
    fake.device(
        "pci0000:00/0000:00:05.0/host0/target0:0:0/0:0:0:0",
        "bus/scsi",
        &[
            ("uevent", "DEVTYPE=scsi_device\nDRIVER=sr\n"),
            ("type", "5\n"),
        ],
    );
    fake.file("devices/virtual/dmi/id/sys_vendor", "QEMU\n");
    fake.file(
        "devices/virtual/dmi/id/product_uuid",
        "11111111-2222-3333-4444-555555555555\n",
    );
    fake
}

fn by_name(devices: &[NodeDeviceDef], name: &str) -> NodeDeviceDef {
    devices
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("{name} missing from {devices:?}"))
        .clone()
}

#[test]
fn the_fake_tree_lists_what_libvirt_would() {
    let fake = build();
    let devices = fake.roots().scan();
    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "block_vda_abc_1",
            "computer",
            "net_eth0_52_54_00_12_34_56",
            "net_lo_00_00_00_00_00_00",
            "pci_0000_00_00_0",
            "pci_0000_00_03_0",
            "scsi_0_0_0_0",
            "scsi_host0",
            "scsi_target0_0_0",
            "usb_1_0_1_0",
            "usb_usb1",
        ]
    );
    let parent = |name: &str| by_name(&devices, name).parent;
    assert_eq!(parent("computer"), None);
    assert_eq!(parent("pci_0000_00_03_0").as_deref(), Some("computer"));
    assert_eq!(
        parent("net_eth0_52_54_00_12_34_56").as_deref(),
        Some("pci_0000_00_03_0")
    );
    // The disk's PCI function is not a listed device here, so its parent is the root.
    assert_eq!(parent("block_vda_abc_1").as_deref(), Some("computer"));
    assert_eq!(parent("usb_1_0_1_0").as_deref(), Some("usb_usb1"));
    assert_eq!(parent("scsi_target0_0_0").as_deref(), Some("scsi_host0"));
    assert_eq!(parent("scsi_0_0_0_0").as_deref(), Some("scsi_target0_0_0"));
}

#[test]
fn a_pci_function_has_its_ids_names_group_and_link() {
    let fake = build();
    let devices = fake.roots().scan();
    assert_eq!(
        by_name(&devices, "pci_0000_00_03_0").to_xml(),
        "<device>\n  <name>pci_0000_00_03_0</name>\n  <path>/sys/devices/pci0000:00/0000:00:03.0</path>\n  \
         <parent>computer</parent>\n  <driver>\n    <name>virtio-pci</name>\n  </driver>\n  <capability type='pci'>\n    \
         <class>0x020000</class>\n    <domain>0</domain>\n    <bus>0</bus>\n    <slot>3</slot>\n    <function>0</function>\n    \
         <product id='0x1041'>Virtio 1.0 network device</product>\n    <vendor id='0x1af4'>Red Hat, Inc.</vendor>\n    \
         <iommuGroup number='7'>\n      <address domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>\n    </iommuGroup>\n    \
         <pci-express>\n      <link validity='cap' port='7' speed='8' width='4'/>\n      \
         <link validity='sta' speed='2.5' width='1'/>\n    </pci-express>\n  </capability>\n</device>\n"
    );
    let bridge = by_name(&devices, "pci_0000_00_00_0").to_xml();
    assert!(
        bridge.contains("<product id='0x0d57'>Host bridge</product>"),
        "{bridge}"
    );
    assert!(bridge.contains("<vendor id='0x8086'>Intel Corporation</vendor>"));
    assert!(bridge.contains("    <pci-express/>\n"));
    assert!(!bridge.contains("<driver>"));
}

#[test]
fn net_storage_usb_and_scsi_devices_format_as_libvirt_does() {
    let fake = build();
    let devices = fake.roots().scan();
    assert_eq!(
        by_name(&devices, "net_eth0_52_54_00_12_34_56").to_xml(),
        "<device>\n  <name>net_eth0_52_54_00_12_34_56</name>\n  \
         <path>/sys/devices/pci0000:00/0000:00:03.0/virtio2/net/eth0</path>\n  <parent>pci_0000_00_03_0</parent>\n  \
         <capability type='net'>\n    <interface>eth0</interface>\n    <address>52:54:00:12:34:56</address>\n    \
         <link speed='4294967295' state='up'/>\n    <capability type='80203'/>\n  </capability>\n</device>\n"
    );
    assert!(by_name(&devices, "net_lo_00_00_00_00_00_00")
        .to_xml()
        .contains("    <link state='unknown'/>\n"));
    assert_eq!(
        by_name(&devices, "block_vda_abc_1").to_xml(),
        "<device>\n  <name>block_vda_abc_1</name>\n  \
         <path>/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda</path>\n  <devnode type='dev'>/dev/vda</devnode>\n  \
         <devnode type='link'>/dev/disk/by-id/virtio-abc-1</devnode>\n  <parent>computer</parent>\n  \
         <capability type='storage'>\n    <block>/dev/vda</block>\n    <bus>virtio</bus>\n    <drive_type>disk</drive_type>\n    \
         <vendor>0x1af4</vendor>\n    <serial>abc-1</serial>\n    <size>1048576</size>\n    \
         <logical_block_size>512</logical_block_size>\n    <num_blocks>2048</num_blocks>\n  </capability>\n</device>\n"
    );
    let usb = by_name(&devices, "usb_usb1").to_xml();
    assert!(
        usb.contains("  <devnode type='dev'>/dev/bus/usb/001/001</devnode>\n"),
        "{usb}"
    );
    assert!(usb.contains(
        "  <capability type='usb_device'>\n    <bus>1</bus>\n    <device>1</device>\n    \
         <product id='0x0002'>xHCI Host Controller</product>\n    <vendor id='0x1d6b'>Linux 6.1 xhci-hcd</vendor>\n"
    ));
    assert!(by_name(&devices, "usb_1_0_1_0").to_xml().contains(
        "  <capability type='usb'>\n    <number>0</number>\n    <class>9</class>\n    <subclass>0</subclass>\n    \
         <protocol>0</protocol>\n  </capability>\n"
    ));
    assert!(by_name(&devices, "scsi_host0").to_xml().contains(
        "<capability type='scsi_host'>\n    <host>0</host>\n    <unique_id>1</unique_id>\n    \
         <capability type='fc_host'>\n      <wwnn>2000000012341234</wwnn>\n      <wwpn>1000000012341234</wwpn>\n      \
         <fabric_wwn>2000000043214321</fabric_wwn>\n    </capability>\n  </capability>"
    ));
    assert!(by_name(&devices, "scsi_target0_0_0")
        .to_xml()
        .contains("<capability type='scsi_target'>\n    <target>target0:0:0</target>\n"));
    assert!(by_name(&devices, "scsi_0_0_0_0").to_xml().contains(
        "    <host>0</host>\n    <bus>0</bus>\n    <target>0</target>\n    <lun>0</lun>\n    <type>cdrom</type>\n"
    ));
    let computer = by_name(&devices, "computer").to_xml();
    assert!(computer.contains(
        "    <hardware>\n      <vendor>QEMU</vendor>\n      <uuid>11111111-2222-3333-4444-555555555555</uuid>\n"
    ));
}

#[test]
fn a_missing_sysfs_leaves_only_the_root() {
    let roots = SysfsRoots {
        sys: PathBuf::from("/nonexistent-sysfs"),
        udev_data: PathBuf::from("/nonexistent-udev"),
        pci_ids: PathBuf::from("/nonexistent-pci.ids"),
        ethtool: false,
    };
    let devices = roots.scan();
    assert_eq!(devices.len(), 1);
    assert!(devices[0]
        .to_xml()
        .contains("<uuid>00000000-0000-0000-0000-000000000000</uuid>"));
}

#[test]
fn numbers_parse_as_libvirts_strtol_does() {
    assert_eq!(parse_u32("-1", 10), Some(u32::MAX));
    assert_eq!(parse_u32("0x1af4", 16), Some(0x1af4));
    assert_eq!(parse_u32("1000", 10), Some(1000));
    assert_eq!(parse_u32("x", 10), None);
    assert_eq!(
        device_name("net", "eth0", Some("52:54:00:aa")),
        "net_eth0_52_54_00_aa"
    );
}

#[tokio::test]
async fn the_driver_finds_devices_by_name_and_fc_hosts_by_wwn() {
    use crate::driver::NodeDeviceDriver;
    let fake = build();
    let driver = super::super::HostNodeDevices::new(fake.roots());
    assert_eq!(
        driver
            .node_device_lookup_scsi_host_by_wwn("2000000012341234", "1000000012341234", 0)
            .await
            .unwrap(),
        "scsi_host0"
    );
    let err = driver
        .node_device_lookup_scsi_host_by_wwn("1", "2", 0)
        .await
        .unwrap_err();
    assert_eq!(err.message, "An error occurred, but the cause is unknown");
    assert_eq!(
        driver.node_list_devices(Some("fc_host"), 0).await.unwrap(),
        ["scsi_host0"]
    );
    assert_eq!(driver.node_num_of_devices(Some("pci"), 0).await.unwrap(), 2);
    assert_eq!(
        driver.node_device_list_caps("scsi_host0").await.unwrap(),
        ["scsi_host", "fc_host"]
    );
    assert_eq!(
        driver.node_device_get_parent("computer").await.unwrap(),
        None
    );
    let err = driver
        .node_device_get_xml_desc("nope", 0)
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "Node device not found: no node device with matching name 'nope'"
    );
    let err = driver.node_list_devices(None, 1).await.unwrap_err();
    assert_eq!(
        err.message,
        "unsupported flags (0x1) in function nodeListDevices"
    );
    // Every device found is active: the inactive filter alone finds none.
    assert!(driver
        .list_all_node_devices(1 << 30)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        driver
            .list_all_node_devices((1 << 31) | (1 << 1))
            .await
            .unwrap(),
        ["pci_0000_00_00_0", "pci_0000_00_03_0"]
    );
}
