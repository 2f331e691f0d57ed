//! Host facts of libvirt's test driver that no client can change: the SMBIOS description
//! (`virConnectGetSysinfo`), the CPU model names per architecture (`virConnectGetCPUModelNames`) as libvirt 9.0
//! answers them with its stock CPU map, and the names of the host's devices (`virConnectListAllNodeDevices`).

use super::check_flags;
use crate::error::{Error, ErrorCode, ErrorDomain, Result};

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

/// The devices of libvirt's default test host, with the `LIST_NODE_DEVICES_CAP_*` bits each one matches
/// (system; scsi_host, fc_host and, for the vport-capable ones, vports).
const NODE_DEVICES: &[(&str, u32)] = &[
    ("computer", 1),
    ("scsi_host1", (1 << 5) | (1 << 9) | (1 << 10)),
    ("scsi_host11", (1 << 5) | (1 << 9)),
    ("scsi_host2", (1 << 5) | (1 << 9) | (1 << 10)),
];

/// Every `LIST_NODE_DEVICES_CAP_*` bit libvirt 9.0 defines; its test driver refuses the ACTIVE/INACTIVE
/// filters, which stock virsh's nodedev-list always sends.
const NODE_DEVICE_CAP_FILTERS: u32 = (1 << 22) - 1;

pub(in crate::driver::test) fn node_devices(flags: u32) -> Result<Vec<String>> {
    check_flags(
        flags,
        NODE_DEVICE_CAP_FILTERS,
        "testConnectListAllNodeDevices",
    )?;
    Ok(NODE_DEVICES
        .iter()
        .filter(|(_, caps)| flags == 0 || caps & flags != 0)
        .map(|(name, _)| name.to_string())
        .collect())
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
        let err = node_devices(1 << 31).unwrap_err();
        assert_eq!(
            err.message,
            "unsupported flags (0x80000000) in function testConnectListAllNodeDevices"
        );
    }
}
