//! The MOF under `mof/`, built into the binary, and the repository compiled from it: `root/virt` and
//! `root/interop`. A file added under `mof/` must be listed in [`MOF_FILES`] (a test checks).

use std::collections::HashMap;

use super::mof::{compile_files, MofError};
use super::repo::Repository;

/// Every file under `mof/`, by its path relative to `mof/`.
pub const MOF_FILES: &[(&str, &str)] = &[
    ("qualifiers.mof", include_str!("../../mof/qualifiers.mof")),
    ("cim_schema.mof", include_str!("../../mof/cim_schema.mof")),
    ("root_virt.mof", include_str!("../../mof/root_virt.mof")),
    (
        "root_interop.mof",
        include_str!("../../mof/root_interop.mof"),
    ),
    (
        "cim/CIM_ManagedElement.mof",
        include_str!("../../mof/cim/CIM_ManagedElement.mof"),
    ),
    (
        "cim/CIM_ManagedSystemElement.mof",
        include_str!("../../mof/cim/CIM_ManagedSystemElement.mof"),
    ),
    (
        "cim/CIM_LogicalElement.mof",
        include_str!("../../mof/cim/CIM_LogicalElement.mof"),
    ),
    ("cim/CIM_Job.mof", include_str!("../../mof/cim/CIM_Job.mof")),
    (
        "cim/CIM_ConcreteJob.mof",
        include_str!("../../mof/cim/CIM_ConcreteJob.mof"),
    ),
    (
        "cim/CIM_EnabledLogicalElement.mof",
        include_str!("../../mof/cim/CIM_EnabledLogicalElement.mof"),
    ),
    (
        "cim/CIM_AllocatedLogicalElement.mof",
        include_str!("../../mof/cim/CIM_AllocatedLogicalElement.mof"),
    ),
    (
        "cim/CIM_System.mof",
        include_str!("../../mof/cim/CIM_System.mof"),
    ),
    (
        "cim/CIM_ComputerSystem.mof",
        include_str!("../../mof/cim/CIM_ComputerSystem.mof"),
    ),
    (
        "cim/CIM_Dependency.mof",
        include_str!("../../mof/cim/CIM_Dependency.mof"),
    ),
    (
        "cim/CIM_HostedDependency.mof",
        include_str!("../../mof/cim/CIM_HostedDependency.mof"),
    ),
    (
        "kvm/KVM_ComputerSystem.mof",
        include_str!("../../mof/kvm/KVM_ComputerSystem.mof"),
    ),
    (
        "kvm/KVM_HostSystem.mof",
        include_str!("../../mof/kvm/KVM_HostSystem.mof"),
    ),
    (
        "kvm/KVM_HostedDependency.mof",
        include_str!("../../mof/kvm/KVM_HostedDependency.mof"),
    ),
    (
        "cim/CIM_ResourcePool.mof",
        include_str!("../../mof/cim/CIM_ResourcePool.mof"),
    ),
    (
        "cim/CIM_Capabilities.mof",
        include_str!("../../mof/cim/CIM_Capabilities.mof"),
    ),
    (
        "cim/CIM_AllocationCapabilities.mof",
        include_str!("../../mof/cim/CIM_AllocationCapabilities.mof"),
    ),
    (
        "cim/CIM_EnabledLogicalElementCapabilities.mof",
        include_str!("../../mof/cim/CIM_EnabledLogicalElementCapabilities.mof"),
    ),
    (
        "cim/CIM_VirtualSystemManagementCapabilities.mof",
        include_str!("../../mof/cim/CIM_VirtualSystemManagementCapabilities.mof"),
    ),
    (
        "cim/CIM_Service.mof",
        include_str!("../../mof/cim/CIM_Service.mof"),
    ),
    (
        "cim/CIM_HostedService.mof",
        include_str!("../../mof/cim/CIM_HostedService.mof"),
    ),
    (
        "cim/CIM_ElementCapabilities.mof",
        include_str!("../../mof/cim/CIM_ElementCapabilities.mof"),
    ),
    (
        "cim/CIM_AbstractElementAllocatedFromPool.mof",
        include_str!("../../mof/cim/CIM_AbstractElementAllocatedFromPool.mof"),
    ),
    (
        "cim/CIM_ElementAllocatedFromPool.mof",
        include_str!("../../mof/cim/CIM_ElementAllocatedFromPool.mof"),
    ),
    (
        "cim/CIM_RegisteredSpecification.mof",
        include_str!("../../mof/cim/CIM_RegisteredSpecification.mof"),
    ),
    (
        "cim/CIM_RegisteredProfile.mof",
        include_str!("../../mof/cim/CIM_RegisteredProfile.mof"),
    ),
    (
        "cim/CIM_ReferencedSpecification.mof",
        include_str!("../../mof/cim/CIM_ReferencedSpecification.mof"),
    ),
    (
        "cim/CIM_ReferencedProfile.mof",
        include_str!("../../mof/cim/CIM_ReferencedProfile.mof"),
    ),
    (
        "cim/CIM_ElementConformsToProfile.mof",
        include_str!("../../mof/cim/CIM_ElementConformsToProfile.mof"),
    ),
    (
        "kvm/KVM_MemoryPool.mof",
        include_str!("../../mof/kvm/KVM_MemoryPool.mof"),
    ),
    (
        "kvm/KVM_ProcessorPool.mof",
        include_str!("../../mof/kvm/KVM_ProcessorPool.mof"),
    ),
    (
        "kvm/KVM_DiskPool.mof",
        include_str!("../../mof/kvm/KVM_DiskPool.mof"),
    ),
    (
        "kvm/KVM_NetworkPool.mof",
        include_str!("../../mof/kvm/KVM_NetworkPool.mof"),
    ),
    (
        "kvm/KVM_GraphicsPool.mof",
        include_str!("../../mof/kvm/KVM_GraphicsPool.mof"),
    ),
    (
        "kvm/KVM_InputPool.mof",
        include_str!("../../mof/kvm/KVM_InputPool.mof"),
    ),
    (
        "kvm/KVM_ControllerPool.mof",
        include_str!("../../mof/kvm/KVM_ControllerPool.mof"),
    ),
    (
        "kvm/KVM_AllocationCapabilities.mof",
        include_str!("../../mof/kvm/KVM_AllocationCapabilities.mof"),
    ),
    (
        "kvm/KVM_VirtualSystemManagementCapabilities.mof",
        include_str!("../../mof/kvm/KVM_VirtualSystemManagementCapabilities.mof"),
    ),
    (
        "kvm/KVM_EnabledLogicalElementCapabilities.mof",
        include_str!("../../mof/kvm/KVM_EnabledLogicalElementCapabilities.mof"),
    ),
    (
        "kvm/KVM_HostedService.mof",
        include_str!("../../mof/kvm/KVM_HostedService.mof"),
    ),
    (
        "kvm/KVM_ElementCapabilities.mof",
        include_str!("../../mof/kvm/KVM_ElementCapabilities.mof"),
    ),
    (
        "kvm/KVM_ElementAllocatedFromPool.mof",
        include_str!("../../mof/kvm/KVM_ElementAllocatedFromPool.mof"),
    ),
    (
        "kvm/KVM_RegisteredProfile.mof",
        include_str!("../../mof/kvm/KVM_RegisteredProfile.mof"),
    ),
    (
        "kvm/KVM_ElementConformsToProfile.mof",
        include_str!("../../mof/kvm/KVM_ElementConformsToProfile.mof"),
    ),
    (
        "kvm/KVM_ReferencedProfile.mof",
        include_str!("../../mof/kvm/KVM_ReferencedProfile.mof"),
    ),
];

/// The namespaces the server serves and the MOF file compiled into each.
pub const NAMESPACES: &[(&str, &str)] = &[
    ("root/virt", "root_virt.mof"),
    ("root/interop", "root_interop.mof"),
];

/// Compiles the built-in MOF into a fresh repository.
pub fn builtin_repository() -> Result<Repository, MofError> {
    let files: HashMap<String, String> = MOF_FILES
        .iter()
        .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
        .collect();
    let mut repo = Repository::new();
    for (namespace, root) in NAMESPACES {
        compile_files(&mut repo, namespace, root, &files)?;
    }
    Ok(repo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_mof_compiles() {
        let repo = builtin_repository().expect("built-in MOF compiles");
        let virt = repo.namespace("root/virt").expect("root/virt");
        assert!(virt.class("KVM_ComputerSystem").is_some());
        assert!(repo.namespace("root/interop").is_ok());
    }
}
