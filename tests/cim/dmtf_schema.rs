//! The MOF compiler against the real DMTF CIM 2.49 schema: every file, timed, and the classes libvirt-CIM uses.

use std::time::Instant;

use virtcim::{CimType, QualifierList, Repository};

#[test]
fn whole_dmtf_schema_compiles_and_is_timed() {
    let dir = crate::support::cim::dmtf_dir();
    let mut repo = Repository::new();
    let started = Instant::now();
    let stats =
        crate::support::cim::compile_into(&mut repo, "root/cimv2", dir, "cim_schema_2.49.0.mof")
            .expect("compile");
    let elapsed = started.elapsed();
    eprintln!(
        "DMTF CIM 2.49: {} files, {} qualifier declarations, {} classes in {:.3} s",
        stats.files,
        stats.qualifier_decls,
        stats.classes,
        elapsed.as_secs_f64()
    );
    // 1633 includes + the top file; the counts come from the schema itself, not from us.
    assert_eq!(stats.files, 1634);
    assert!(stats.classes > 1500, "{} classes", stats.classes);
    let ns = repo.namespace("root/cimv2").expect("namespace");
    assert_eq!(ns.class_count(), stats.classes);
}

#[test]
fn classes_libvirt_cim_needs_resolve() {
    let repo = crate::support::cim::dmtf_repo();
    let ns = repo.namespace("root/cimv2").expect("namespace");
    for name in [
        "CIM_ManagedElement",
        "CIM_ManagedSystemElement",
        "CIM_LogicalElement",
        "CIM_EnabledLogicalElement",
        "CIM_System",
        "CIM_ComputerSystem",
        "CIM_VirtualSystemSettingData",
        "CIM_ResourceAllocationSettingData",
        "CIM_ResourcePool",
        "CIM_VirtualSystemManagementService",
        "CIM_VirtualSystemManagementCapabilities",
        "CIM_RegisteredProfile",
        "CIM_ReferencedProfile",
        "CIM_ElementConformsToProfile",
        "CIM_Processor",
        "CIM_Memory",
        "CIM_LogicalDisk",
        "CIM_NetworkPort",
        "CIM_DisplayController",
        "CIM_PointingDevice",
        "CIM_Controller",
        "CIM_HostedDependency",
        "CIM_SystemDevice",
        "CIM_SettingsDefineState",
        "CIM_ElementSettingData",
        "CIM_VirtualSystemSettingDataComponent",
        "CIM_AllocationCapabilities",
        "CIM_SettingsDefineCapabilities",
        "CIM_ElementAllocatedFromPool",
        "CIM_ResourceAllocationFromPool",
        "CIM_HostedResourcePool",
        "CIM_ElementCapabilities",
        "CIM_HostedService",
        "CIM_ResourcePoolConfigurationService",
        "CIM_ConcreteJob",
        "CIM_Namespace",
        "CIM_ObjectManager",
    ] {
        assert!(ns.class(name).is_some(), "{name} missing");
    }

    // Inheritance: CIM_ComputerSystem's chain and keys as libvirt-CIM's class table records them.
    assert_eq!(
        ns.superclass_chain("CIM_ComputerSystem"),
        [
            "CIM_System",
            "CIM_AllocatedLogicalElement",
            "CIM_EnabledLogicalElement",
            "CIM_LogicalElement",
            "CIM_ManagedSystemElement",
            "CIM_ManagedElement"
        ]
    );
    let cs = ns.class("CIM_ComputerSystem").expect("CIM_ComputerSystem");
    let mut keys: Vec<&str> = cs.keys().map(|p| p.name.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["CreationClassName", "Name"]);
    let name = cs.property("Name").expect("Name");
    assert_eq!(
        name.class_origin.as_deref(),
        Some("CIM_System"),
        "Name is overridden in CIM_System"
    );
    let caption = cs.property("Caption").expect("Caption");
    assert!(caption.propagated && caption.class_origin.as_deref() == Some("CIM_ManagedElement"));
    let state = cs.property("EnabledState").expect("EnabledState");
    assert_eq!(state.ty.ty, CimType::Uint16);
    assert!(
        state.qualifiers.qualifier("ValueMap").is_some(),
        "ValueMap propagates"
    );
    let rsc = cs.method("RequestStateChange").expect("RequestStateChange");
    assert_eq!(
        rsc.class_origin.as_deref(),
        Some("CIM_EnabledLogicalElement")
    );
    let timeout = rsc.parameter("TimeoutPeriod").expect("TimeoutPeriod");
    assert_eq!(timeout.ty.ty, CimType::DateTime);
    let job = rsc.parameter("Job").expect("Job");
    assert_eq!(
        job.ty.ty,
        CimType::Reference(Some("CIM_ConcreteJob".into()))
    );
    assert!(job.is_out());

    // Associations and embedded instances.
    let ectp = ns.class("CIM_ElementConformsToProfile").expect("ECTP");
    assert!(ectp.is_association());
    let roles: Vec<&str> = ectp.references().map(|p| p.name.as_str()).collect();
    assert_eq!(roles, ["ConformantStandard", "ManagedElement"]);
    let vsms = ns
        .class("CIM_VirtualSystemManagementService")
        .expect("VSMS");
    let define = vsms.method("DefineSystem").expect("DefineSystem");
    assert_eq!(
        define
            .parameter("SystemSettings")
            .expect("SystemSettings")
            .ty
            .ty,
        CimType::EmbeddedInstance(Some("CIM_VirtualSystemSettingData".into()))
    );
    assert!(ns.class("CIM_ManagedElement").expect("ME").is_abstract());
    assert!(
        !cs.is_abstract(),
        "Abstract is restricted: it does not propagate"
    );
    assert!(ns
        .associations_for("CIM_ComputerSystem")
        .iter()
        .any(|c| c.name == "CIM_HostedDependency"));
    let subs = ns.subclass_names(Some("CIM_EnabledLogicalElement"), true);
    assert!(
        subs.iter().any(|c| c == "CIM_ComputerSystem")
            && subs.iter().any(|c| c == "CIM_LogicalDisk")
    );
}
