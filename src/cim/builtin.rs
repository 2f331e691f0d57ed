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
        "cim/CIM_SettingData.mof",
        include_str!("../../mof/cim/CIM_SettingData.mof"),
    ),
    (
        "cim/CIM_VirtualSystemSettingData.mof",
        include_str!("../../mof/cim/CIM_VirtualSystemSettingData.mof"),
    ),
    (
        "cim/CIM_ResourceAllocationSettingData.mof",
        include_str!("../../mof/cim/CIM_ResourceAllocationSettingData.mof"),
    ),
    (
        "cim/CIM_LogicalDevice.mof",
        include_str!("../../mof/cim/CIM_LogicalDevice.mof"),
    ),
    (
        "cim/CIM_Processor.mof",
        include_str!("../../mof/cim/CIM_Processor.mof"),
    ),
    (
        "cim/CIM_StorageExtent.mof",
        include_str!("../../mof/cim/CIM_StorageExtent.mof"),
    ),
    (
        "cim/CIM_Memory.mof",
        include_str!("../../mof/cim/CIM_Memory.mof"),
    ),
    (
        "cim/CIM_LogicalDisk.mof",
        include_str!("../../mof/cim/CIM_LogicalDisk.mof"),
    ),
    (
        "cim/CIM_LogicalPort.mof",
        include_str!("../../mof/cim/CIM_LogicalPort.mof"),
    ),
    (
        "cim/CIM_NetworkPort.mof",
        include_str!("../../mof/cim/CIM_NetworkPort.mof"),
    ),
    (
        "cim/CIM_Controller.mof",
        include_str!("../../mof/cim/CIM_Controller.mof"),
    ),
    (
        "cim/CIM_DisplayController.mof",
        include_str!("../../mof/cim/CIM_DisplayController.mof"),
    ),
    (
        "cim/CIM_UserDevice.mof",
        include_str!("../../mof/cim/CIM_UserDevice.mof"),
    ),
    (
        "cim/CIM_PointingDevice.mof",
        include_str!("../../mof/cim/CIM_PointingDevice.mof"),
    ),
    (
        "cim/CIM_Component.mof",
        include_str!("../../mof/cim/CIM_Component.mof"),
    ),
    (
        "cim/CIM_SystemComponent.mof",
        include_str!("../../mof/cim/CIM_SystemComponent.mof"),
    ),
    (
        "cim/CIM_SystemDevice.mof",
        include_str!("../../mof/cim/CIM_SystemDevice.mof"),
    ),
    (
        "cim/CIM_VirtualSystemSettingDataComponent.mof",
        include_str!("../../mof/cim/CIM_VirtualSystemSettingDataComponent.mof"),
    ),
    (
        "cim/CIM_SettingsDefineState.mof",
        include_str!("../../mof/cim/CIM_SettingsDefineState.mof"),
    ),
    (
        "cim/CIM_ElementSettingData.mof",
        include_str!("../../mof/cim/CIM_ElementSettingData.mof"),
    ),
    (
        "kvm/Virt_VirtualSystemSettingData.mof",
        include_str!("../../mof/kvm/Virt_VirtualSystemSettingData.mof"),
    ),
    (
        "kvm/KVM_VirtualSystemSettingData.mof",
        include_str!("../../mof/kvm/KVM_VirtualSystemSettingData.mof"),
    ),
    (
        "kvm/KVM_ResourceAllocationSettingData.mof",
        include_str!("../../mof/kvm/KVM_ResourceAllocationSettingData.mof"),
    ),
    (
        "kvm/KVM_ProcResourceAllocationSettingData.mof",
        include_str!("../../mof/kvm/KVM_ProcResourceAllocationSettingData.mof"),
    ),
    (
        "kvm/KVM_MemResourceAllocationSettingData.mof",
        include_str!("../../mof/kvm/KVM_MemResourceAllocationSettingData.mof"),
    ),
    (
        "kvm/KVM_DiskResourceAllocationSettingData.mof",
        include_str!("../../mof/kvm/KVM_DiskResourceAllocationSettingData.mof"),
    ),
    (
        "kvm/KVM_NetResourceAllocationSettingData.mof",
        include_str!("../../mof/kvm/KVM_NetResourceAllocationSettingData.mof"),
    ),
    (
        "kvm/KVM_GraphicsResourceAllocationSettingData.mof",
        include_str!("../../mof/kvm/KVM_GraphicsResourceAllocationSettingData.mof"),
    ),
    (
        "kvm/KVM_InputResourceAllocationSettingData.mof",
        include_str!("../../mof/kvm/KVM_InputResourceAllocationSettingData.mof"),
    ),
    (
        "kvm/KVM_CharacterResourceAllocationSettingData.mof",
        include_str!("../../mof/kvm/KVM_CharacterResourceAllocationSettingData.mof"),
    ),
    (
        "kvm/KVM_ConsoleResourceAllocationSettingData.mof",
        include_str!("../../mof/kvm/KVM_ConsoleResourceAllocationSettingData.mof"),
    ),
    (
        "kvm/KVM_ControllerResourceAllocationSettingData.mof",
        include_str!("../../mof/kvm/KVM_ControllerResourceAllocationSettingData.mof"),
    ),
    (
        "kvm/KVM_Processor.mof",
        include_str!("../../mof/kvm/KVM_Processor.mof"),
    ),
    (
        "kvm/KVM_Memory.mof",
        include_str!("../../mof/kvm/KVM_Memory.mof"),
    ),
    (
        "kvm/KVM_LogicalDisk.mof",
        include_str!("../../mof/kvm/KVM_LogicalDisk.mof"),
    ),
    (
        "kvm/KVM_NetworkPort.mof",
        include_str!("../../mof/kvm/KVM_NetworkPort.mof"),
    ),
    (
        "kvm/KVM_DisplayController.mof",
        include_str!("../../mof/kvm/KVM_DisplayController.mof"),
    ),
    (
        "kvm/KVM_ConsoleDisplayController.mof",
        include_str!("../../mof/kvm/KVM_ConsoleDisplayController.mof"),
    ),
    (
        "kvm/KVM_PointingDevice.mof",
        include_str!("../../mof/kvm/KVM_PointingDevice.mof"),
    ),
    (
        "kvm/KVM_Controller.mof",
        include_str!("../../mof/kvm/KVM_Controller.mof"),
    ),
    (
        "kvm/KVM_SystemDevice.mof",
        include_str!("../../mof/kvm/KVM_SystemDevice.mof"),
    ),
    (
        "kvm/KVM_SettingsDefineState.mof",
        include_str!("../../mof/kvm/KVM_SettingsDefineState.mof"),
    ),
    (
        "kvm/KVM_VirtualSystemSettingDataComponent.mof",
        include_str!("../../mof/kvm/KVM_VirtualSystemSettingDataComponent.mof"),
    ),
    (
        "kvm/KVM_ElementSettingData.mof",
        include_str!("../../mof/kvm/KVM_ElementSettingData.mof"),
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
