//! The world libvirt's test driver starts with (`test:///default`), and the host it pretends to run on: node
//! info, capabilities, security model. Values are the ones libvirtd 9.0's test driver reports on the wire.

use super::world::{DomainObj, NetworkObj, PoolObj, POOL_CAPACITY};
use crate::driver::{reason, DomainState, NodeInfo};
use crate::model::{DiskDef, DomainDef, Extra, InterfaceDef, IpDef, NetworkDef, OsDef, PoolDef};
use crate::xml::Node;
use std::fmt::Write;
use uuid::Uuid;

/// `virConnectGetType`.
pub(super) const DRIVER_TYPE: &str = "TEST";
/// `virConnectGetVersion`: the test hypervisor is "0.0.2".
pub(super) const HV_VERSION: u64 = 2;
/// `virConnectGetLibVersion`: the libvirt API level spoken (9.0.0).
pub(super) const LIB_VERSION: u64 = 9_000_000;
pub(super) const URI: &str = "test:///default";
/// `virDomainGetOSType` of libvirt's test driver answers "linux" whatever the definition says.
pub(super) const OS_TYPE: &str = "linux";
pub(super) const SECURITY_MODEL: &str = "testSecurity";
pub(super) const SECURITY_DOI: &str = "";
pub(super) const SECURITY_LABEL: &str = "libvirt-test";

const TEST_DOMAIN_UUID: &str = "6695eb01-f6a4-8304-79aa-97f2502e193f";
const DEFAULT_NETWORK_UUID: &str = "dd8fe884-6c02-601e-7551-cca97df1c5df";
const DEFAULT_POOL_UUID: &str = "dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566";

fn fixed_uuid(text: &str) -> Uuid {
    // The constants above are valid UUIDs; a parse failure would be caught by the unit tests.
    Uuid::parse_str(text).unwrap_or_default()
}

pub(super) fn node_info() -> NodeInfo {
    NodeInfo {
        model: "i686".into(),
        memory_kib: 3_145_728,
        cpus: 16,
        mhz: 1400,
        nodes: 2,
        sockets: 2,
        cores: 2,
        threads: 2,
    }
}

/// The NUMA cells of libvirt's default test host, as (size, free) in bytes: cell n holds 2n+2 MiB, n+1 free.
pub(super) const NUMA_CELLS: [(u64, u64); 2] = [(2 << 20, 1 << 20), (4 << 20, 2 << 20)];

/// libvirt's test host as `virNodeGetCPUMap` describes it: 8 CPUs present, 0, 2 and 4 online.
pub(super) const CPU_MAP: (u32, u8) = (8, 0b0001_0101);

/// The scheduler libvirt's test driver reports for every domain (its one parameter, the weight, is the world's).
pub(super) const SCHEDULER: &str = "fair";

/// What `virConnectGetMaxVcpus` answers for every guest type.
pub(super) const MAX_VCPUS: i32 = 32;

/// `<address type='pci'>` on domain 0 at `bus`, `slot`, function 0, as libvirt's test world places devices.
fn pci_address(bus: &str, slot: &str) -> Node {
    let attrs = [
        ("type", "pci"),
        ("domain", "0x0000"),
        ("bus", bus),
        ("slot", slot),
        ("function", "0x0"),
    ];
    Node {
        name: "address".into(),
        attrs: attrs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        ..Node::default()
    }
}

fn with_child(child: Node) -> Extra {
    Extra {
        children: vec![child],
        ..Extra::default()
    }
}

/// The running domain `test`, id 1, with its devices at libvirt's PCI addresses and its virtio balloon.
pub(super) fn test_domain() -> DomainObj {
    let def = DomainDef {
        domain_type: "test".into(),
        name: "test".into(),
        uuid: fixed_uuid(TEST_DOMAIN_UUID),
        memory_kib: 8_388_608,
        current_memory_kib: 2_097_152,
        vcpus: 2,
        current_vcpus: 2,
        os: OsDef {
            os_type: "hvm".into(),
            arch: Some("i686".into()),
            boot: vec!["hd".into()],
            ..OsDef::default()
        },
        clock_offset: Some("utc".into()),
        on_poweroff: Some("destroy".into()),
        on_reboot: Some("restart".into()),
        on_crash: Some("destroy".into()),
        devices: crate::model::Devices {
            disks: vec![DiskDef {
                disk_type: "file".into(),
                device: "disk".into(),
                source: Some("/guest/diskimage1".into()),
                target_dev: "vda".into(),
                target_bus: Some("virtio".into()),
                extra: with_child(pci_address("0x01", "0x00")),
                ..DiskDef::default()
            }],
            interfaces: vec![InterfaceDef {
                iface_type: "network".into(),
                mac: "aa:bb:cc:dd:ee:ff".into(),
                source: Some("default".into()),
                target_dev: Some("testnet0".into()),
                extra: with_child(pci_address("0x00", "0x01")),
                ..InterfaceDef::default()
            }],
            others: vec![Node {
                name: "memballoon".into(),
                attrs: vec![("model".into(), "virtio".into())],
                children: vec![pci_address("0x00", "0x02")],
                ..Node::default()
            }],
            ..crate::model::Devices::default()
        },
        ..DomainDef::default()
    };
    DomainObj {
        persistent_def: Some(def.clone()),
        live_def: Some(def),
        state: DomainState::Running,
        // libvirtd reports reason 0 (unknown) for it: trace 08-domstate, DOMAIN_GET_STATE reply.
        reason: reason::RUNNING_UNKNOWN,
        id: 1,
        autostart: false,
        cpu_time_ns: 0,
        running_since_ms: Some(super::world::now_ms()),
        snapshots: Default::default(),
        managed_save: false,
    }
}

/// The active network `default` (NAT on virbr0).
pub(super) fn default_network() -> NetworkObj {
    NetworkObj {
        def: NetworkDef {
            name: "default".into(),
            uuid: fixed_uuid(DEFAULT_NETWORK_UUID),
            forward_mode: Some("nat".into()),
            bridge: Some("virbr0".into()),
            bridge_stp: Some(true),
            bridge_delay: Some(0),
            ips: vec![IpDef {
                address: "192.168.122.1".into(),
                netmask: Some("255.255.255.0".into()),
                dhcp_ranges: vec![("192.168.122.2".into(), "192.168.122.254".into())],
                ..IpDef::default()
            }],
            ..NetworkDef::default()
        },
        persistent: true,
        active: true,
        // libvirtd 9.0's test world reports "Autostart: no" for it (traces 20, 26, 32).
        autostart: false,
    }
}

/// The active dir pool `default-pool` at `/default-pool`, empty, 100 GiB.
pub(super) fn default_pool() -> PoolObj {
    PoolObj {
        def: PoolDef {
            pool_type: "dir".into(),
            name: "default-pool".into(),
            uuid: fixed_uuid(DEFAULT_POOL_UUID),
            capacity: POOL_CAPACITY,
            allocation: 0,
            available: POOL_CAPACITY,
            target_path: Some("/default-pool".into()),
            target_mode: None,
            ..PoolDef::default()
        },
        persistent: true,
        active: true,
        autostart: false,
    }
}

/// The capabilities document of libvirt's test driver: two NUMA cells of 8 CPUs, i686 guests (hvm and xen).
pub(super) fn capabilities() -> String {
    let mut xml = String::from(
        "<capabilities>\n\n  <host>\n    <cpu>\n      <arch>i686</arch>\n      <features>\n        <pae/>\n        \
         <nonpae/>\n      </features>\n      <pages unit='KiB' size='4'/>\n      <pages unit='KiB' size='8'/>\n      \
         <pages unit='KiB' size='2048'/>\n      <pages unit='KiB' size='1048576'/>\n    </cpu>\n    \
         <power_management/>\n    <iommu support='no'/>\n    <topology>\n      <cells num='2'>\n",
    );
    // (memory KiB, page size KiB) per cell, as the test driver describes its host.
    for (cell, (memory, page)) in [(2_097_152u64, 4u64), (4_194_304, 8)]
        .into_iter()
        .enumerate()
    {
        let _ = write!(
            xml,
            "        <cell id='{cell}'>\n          <memory unit='KiB'>{memory}</memory>\n          \
             <pages unit='KiB' size='{page}'>524288</pages>\n          \
             <pages unit='KiB' size='2048'>0</pages>\n          \
             <pages unit='KiB' size='1048576'>0</pages>\n          <cpus num='8'>\n"
        );
        for core in 0..8 {
            let cpu = cell * 8 + core;
            let _ = writeln!(
                xml,
                "            <cpu id='{cpu}' socket_id='{cell}' die_id='0' core_id='{core}' siblings='{cpu}'/>"
            );
        }
        xml.push_str("          </cpus>\n        </cell>\n");
    }
    xml.push_str(
        "      </cells>\n    </topology>\n    <secmodel>\n      <model>testSecurity</model>\n      <doi></doi>\n    \
         </secmodel>\n  </host>\n\n",
    );
    for os_type in ["hvm", "xen"] {
        let _ = write!(
            xml,
            "  <guest>\n    <os_type>{os_type}</os_type>\n    <arch name='i686'>\n      <wordsize>32</wordsize>\n      \
             <emulator>/usr/bin/test-hv</emulator>\n      <domain type='test'/>\n    </arch>\n    <features>\n      \
             <pae/>\n      <nonpae/>\n    </features>\n  </guest>\n\n"
        );
    }
    xml.push_str("</capabilities>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_match_libvirts_test_driver_byte_for_byte() {
        let golden = include_str!("../../../tests/data/testdrv/capabilities.xml");
        assert_eq!(capabilities(), golden);
    }

    #[test]
    fn fixed_uuids_parse() {
        assert_eq!(test_domain().uuid().to_string(), TEST_DOMAIN_UUID);
        assert_eq!(default_network().def.uuid.to_string(), DEFAULT_NETWORK_UUID);
        assert_eq!(default_pool().def.uuid.to_string(), DEFAULT_POOL_UUID);
    }
}
