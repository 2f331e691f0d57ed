//! Host facts of libvirt's test driver that no client can change: the SMBIOS description
//! (`virConnectGetSysinfo`), the CPU model names per architecture (`virConnectGetCPUModelNames`) as libvirt 9.0
//! answers them with its stock CPU map, and the host's devices (`virConnectListAllNodeDevices`, `virNodeDeviceGetXMLDesc`, ...).

use super::check_flags;
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::node_device::{
    cap_bit, DeviceCap, FcHost, NodeDeviceDef, ScsiHostCap, SystemCap, CAP_FILTERS,
};

/// The sysinfo libvirt's test driver reports, byte for byte.
const SYSINFO: &str = "<sysinfo type='smbios'>\n  <bios>\n    <entry name='vendor'>LENOVO</entry>\n    <entry name='version'>G4ETA1WW (2.61 )</entry>\n    <entry name='date'>05/07/2014</entry>\n    <entry name='release'>2.61</entry>\n  </bios>\n</sysinfo>\n";

/// libvirt 9.0's x86 CPU models, in its CPU map's order.
const X86_MODELS: &[&str] = &[
    "486",
    "pentium",
    "pentium2",
    "pentium3",
    "pentiumpro",
    "coreduo",
    "n270",
    "core2duo",
    "qemu32",
    "kvm32",
    "cpu64-rhel5",
    "cpu64-rhel6",
    "qemu64",
    "kvm64",
    "Conroe",
    "Penryn",
    "Nehalem",
    "Nehalem-IBRS",
    "Westmere",
    "Westmere-IBRS",
    "SandyBridge",
    "SandyBridge-IBRS",
    "IvyBridge",
    "IvyBridge-IBRS",
    "Haswell-noTSX",
    "Haswell-noTSX-IBRS",
    "Haswell",
    "Haswell-IBRS",
    "Broadwell-noTSX",
    "Broadwell-noTSX-IBRS",
    "Broadwell",
    "Broadwell-IBRS",
    "Skylake-Client",
    "Skylake-Client-IBRS",
    "Skylake-Client-noTSX-IBRS",
    "Skylake-Server",
    "Skylake-Server-IBRS",
    "Skylake-Server-noTSX-IBRS",
    "Cascadelake-Server",
    "Cascadelake-Server-noTSX",
    "Icelake-Client",
    "Icelake-Client-noTSX",
    "Icelake-Server",
    "Icelake-Server-noTSX",
    "Cooperlake",
    "Snowridge",
    "athlon",
    "phenom",
    "Opteron_G1",
    "Opteron_G2",
    "Opteron_G3",
    "Opteron_G4",
    "Opteron_G5",
    "EPYC",
    "EPYC-IBPB",
    "EPYC-Rome",
    "EPYC-Milan",
    "Dhyana",
];

/// libvirt 9.0's 64-bit PowerPC CPU models.
const PPC64_MODELS: &[&str] = &[
    "POWER6",
    "POWER7",
    "POWER8",
    "POWER9",
    "POWER10",
    "POWERPC_e5500",
    "POWERPC_e6500",
];

/// Every architecture name libvirt 9.0 knows (`virArch`, without "none").
const ARCHES: &[&str] = &[
    "alpha",
    "armv6l",
    "armv7l",
    "armv7b",
    "aarch64",
    "cris",
    "i686",
    "ia64",
    "lm32",
    "m68k",
    "microblaze",
    "microblazeel",
    "mips",
    "mipsel",
    "mips64",
    "mips64el",
    "openrisc",
    "parisc",
    "parisc64",
    "ppc",
    "ppcle",
    "ppc64",
    "ppc64le",
    "ppcemb",
    "riscv32",
    "riscv64",
    "s390",
    "s390x",
    "sh4",
    "sh4eb",
    "sparc",
    "sparc64",
    "unicore32",
    "x86_64",
    "xtensa",
    "xtensaeb",
];

/// The devices of libvirt's default test host: the root and three FC SCSI hosts, two of them able to create
/// vports and one a vport of `scsi_host1`.
fn node_device_defs() -> Vec<NodeDeviceDef> {
    let scsi_host =
        |host: u32, unique_id: i32, parent: &str, wwn: &str, fabric: &str, vports: bool| {
            NodeDeviceDef {
                name: format!("scsi_host{host}"),
                path: None,
                devnode: None,
                devlinks: Vec::new(),
                parent: Some(parent.to_string()),
                driver: None,
                cap: DeviceCap::ScsiHost(ScsiHostCap {
                    host,
                    unique_id: Some(unique_id),
                    fc_host: Some(FcHost {
                        wwnn: format!("2000000{wwn}"),
                        wwpn: format!("1000000{wwn}"),
                        fabric_wwn: Some(fabric.to_string()),
                    }),
                    vport_ops: vports.then_some((0, 0)),
                }),
            }
        };
    vec![
        NodeDeviceDef {
            name: "computer".into(),
            path: None,
            devnode: None,
            devlinks: Vec::new(),
            parent: None,
            driver: None,
            cap: DeviceCap::System(SystemCap {
                product: None,
                hardware_vendor: Some("Libvirt".into()),
                hardware_version: Some("Test driver".into()),
                hardware_serial: Some("123456".into()),
                uuid: "11111111-2222-3333-4444-555555555555".into(),
                firmware_vendor: Some("Libvirt".into()),
                firmware_version: Some("Test Driver".into()),
                firmware_release_date: Some("01/22/2007".into()),
            }),
        },
        scsi_host(1, 0, "computer", "012341234", "2000000043214321", true),
        scsi_host(11, 10, "scsi_host1", "034563456", "2000000043214321", false),
        scsi_host(2, 1, "computer", "056785678", "2000000087658765", true),
    ]
}

fn node_device(name: &str) -> Result<NodeDeviceDef> {
    node_device_defs()
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| {
            Error::with_detail(
                ErrorCode::NO_NODE_DEVICE,
                ErrorDomain::TEST,
                format!("no node device with matching name '{name}'"),
            )
        })
}

/// libvirt's test driver refuses the ACTIVE/INACTIVE filters, which stock virsh's nodedev-list always sends.
pub(in crate::driver::test) fn node_devices(flags: u32) -> Result<Vec<String>> {
    check_flags(flags, CAP_FILTERS, "testConnectListAllNodeDevices")?;
    Ok(node_device_defs()
        .into_iter()
        .filter(|d| d.matches(flags))
        .map(|d| d.name)
        .collect())
}

/// The devices with capability `cap` (a nested one counts: `fc_host`, `vports`); an unknown name matches none.
pub(in crate::driver::test) fn node_devices_with_cap(
    cap: Option<&str>,
    flags: u32,
    function: &str,
) -> Result<Vec<String>> {
    check_flags(flags, 0, function)?;
    let bit = match cap {
        None => CAP_FILTERS,
        Some(cap) => cap_bit(cap).unwrap_or(0),
    };
    Ok(node_device_defs()
        .into_iter()
        .filter(|d| d.cap_bits() & bit != 0)
        .map(|d| d.name)
        .collect())
}

pub(in crate::driver::test) fn node_device_lookup(name: &str) -> Result<String> {
    node_device(name).map(|d| d.name)
}

pub(in crate::driver::test) fn node_device_xml(name: &str, flags: u32) -> Result<String> {
    check_flags(flags, 0, "testNodeDeviceGetXMLDesc")?;
    node_device(name).map(|d| d.to_xml())
}

pub(in crate::driver::test) fn node_device_parent(name: &str) -> Result<Option<String>> {
    node_device(name).map(|d| d.parent)
}

/// libvirt's test driver lists a device's top-level capability only (not the nested FC ones).
pub(in crate::driver::test) fn node_device_caps(name: &str) -> Result<Vec<String>> {
    node_device(name).map(|d| vec![d.cap.type_name().to_string()])
}

pub(in crate::driver::test) fn sysinfo(flags: u32) -> Result<String> {
    check_flags(flags, 0, "testConnectGetSysinfo")?;
    Ok(SYSINFO.to_string())
}

/// The models of `arch`: an unknown name is an invalid argument; an architecture without a CPU driver is "not
/// supported"; ARM and s390 have a CPU driver but no named models.
pub(in crate::driver::test) fn cpu_model_names(arch: &str, flags: u32) -> Result<Vec<String>> {
    check_flags(flags, 0, "testConnectGetCPUModelNames")?;
    if !ARCHES.contains(&arch) {
        return Err(Error::invalid_arg(
            ErrorDomain::TEST,
            format!("cannot find architecture {arch}"),
        ));
    }
    let models: &[&str] = match arch {
        "i686" | "x86_64" => X86_MODELS,
        "ppc64" | "ppc64le" => PPC64_MODELS,
        "armv6l" | "armv7l" | "armv7b" | "aarch64" | "s390" | "s390x" => &[],
        _ => {
            return Err(Error::with_detail(
                ErrorCode::NO_SUPPORT,
                ErrorDomain::CPU,
                format!("'{arch}' architecture is not supported by CPU driver"),
            ))
        }
    };
    Ok(models.iter().map(|m| m.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_answer_as_libvirts_cpu_map_does() {
        assert_eq!(cpu_model_names("x86_64", 0).unwrap().len(), 58);
        assert_eq!(cpu_model_names("ppc64le", 0).unwrap()[0], "POWER6");
        assert!(cpu_model_names("aarch64", 0).unwrap().is_empty());
        let err = cpu_model_names("i386", 0).unwrap_err();
        assert_eq!(
            err.message,
            "invalid argument: cannot find architecture i386"
        );
        let err = cpu_model_names("mips", 0).unwrap_err();
        assert_eq!(err.code, ErrorCode::NO_SUPPORT);
        let err = cpu_model_names("x86_64", 1).unwrap_err();
        assert_eq!(
            err.message,
            "unsupported flags (0x1) in function testConnectGetCPUModelNames"
        );
        assert!(sysinfo(0).unwrap().starts_with("<sysinfo type='smbios'>"));
        assert_eq!(node_devices(1 << 10).unwrap(), ["scsi_host1", "scsi_host2"]);
        assert_eq!(
            node_devices_with_cap(Some("fc_host"), 0, "testNodeNumOfDevices").unwrap(),
            ["scsi_host1", "scsi_host11", "scsi_host2"]
        );
        assert!(
            node_devices_with_cap(Some("bogus"), 0, "testNodeListDevices")
                .unwrap()
                .is_empty()
        );
        assert_eq!(node_device_parent("computer").unwrap(), None);
        assert_eq!(node_device_caps("scsi_host1").unwrap(), ["scsi_host"]);
        assert_eq!(
            node_device_lookup("nope").unwrap_err().message,
            "Node device not found: no node device with matching name 'nope'"
        );
        assert_eq!(
            node_device_xml("scsi_host11", 0).unwrap(),
            "<device>\n  <name>scsi_host11</name>\n  <parent>scsi_host1</parent>\n  <capability type='scsi_host'>\n    \
             <host>11</host>\n    <unique_id>10</unique_id>\n    <capability type='fc_host'>\n      \
             <wwnn>2000000034563456</wwnn>\n      <wwpn>1000000034563456</wwpn>\n      \
             <fabric_wwn>2000000043214321</fabric_wwn>\n    </capability>\n  </capability>\n</device>\n"
        );
        let err = node_devices(1 << 31).unwrap_err();
        assert_eq!(
            err.message,
            "unsupported flags (0x80000000) in function testConnectListAllNodeDevices"
        );
    }
}
