//! Our `mof/` loads into the repository through the MOF compiler, and the built-in table carries every file of
//! it. Checking it against DMTF CIM 2.49 and pywbem's compiler is an integration test (`tests/cim/mof.rs`).

use std::path::{Path, PathBuf};

use super::mof::MofCompiler;
use super::{builtin, builtin_repository, CimType, QualifierList, Repository};

fn our_mof_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mof")
}

/// Compiles `file` (relative to `root`) into `repo` with `namespace` as the starting namespace.
fn compile_into(
    repo: &mut Repository,
    namespace: &str,
    root: &Path,
    file: &str,
) -> Result<(), String> {
    let loader = |name: &str| std::fs::read_to_string(root.join(name)).map_err(|e| e.to_string());
    let mut compiler = MofCompiler::new(repo, namespace, loader);
    compiler
        .compile_file(file)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn our_repo() -> Repository {
    let dir = our_mof_dir();
    let mut repo = Repository::new();
    compile_into(&mut repo, "root/virt", &dir, "root_virt.mof").expect("root_virt.mof compiles");
    compile_into(&mut repo, "root/interop", &dir, "root_interop.mof")
        .expect("root_interop.mof compiles");
    repo
}

#[test]
fn our_mof_loads_into_the_repository() {
    let repo = our_repo();
    let ns = repo.namespace("root/virt").expect("root/virt");
    let cs = ns.class("KVM_ComputerSystem").expect("KVM_ComputerSystem");
    assert_eq!(
        ns.superclass_chain("KVM_ComputerSystem"),
        [
            "CIM_ComputerSystem",
            "CIM_System",
            "CIM_AllocatedLogicalElement",
            "CIM_EnabledLogicalElement",
            "CIM_LogicalElement",
            "CIM_ManagedSystemElement",
            "CIM_ManagedElement"
        ]
    );
    let mut keys: Vec<&str> = cs.keys().map(|p| p.name.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["CreationClassName", "Name"]);
    assert!(!cs.is_abstract());
    // The properties libvirt-CIM fills for a guest are all there.
    for name in [
        "UUID",
        "ElementName",
        "Caption",
        "Description",
        "EnabledState",
        "RequestedState",
        "HealthState",
        "OperationalStatus",
        "OperatingStatus",
        "OtherIdentifyingInfo",
        "IdentifyingDescriptions",
        "InstanceID",
    ] {
        assert!(cs.property(name).is_some(), "KVM_ComputerSystem.{name}");
    }
    assert_eq!(
        cs.property("UUID").and_then(|p| p.class_origin.as_deref()),
        Some("KVM_ComputerSystem")
    );
    let rsc = cs.method("RequestStateChange").expect("RequestStateChange");
    assert_eq!(
        rsc.parameter("RequestedState").expect("param").ty.ty,
        CimType::Uint16
    );
    assert!(rsc
        .parameter("RequestedState")
        .expect("param")
        .qualifiers
        .qualifier("ValueMap")
        .is_some());
    // libvirt-CIM's class table counts 35 properties on KVM_ComputerSystem (34 inherited + UUID), minus the
    // AllocationState we leave out.
    assert_eq!(cs.properties.len(), 34);
    assert!(repo
        .namespace("root/interop")
        .expect("root/interop")
        .class("CIM_ComputerSystem")
        .is_some());
}

/// Every file under mof/ is built into the binary (`cim::builtin::MOF_FILES`) with the same content.
#[test]
fn builtin_table_lists_every_mof_file() {
    let dir = our_mof_dir();
    let mut on_disk = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read mof dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "mof") {
                let rel = path
                    .strip_prefix(&dir)
                    .expect("relative")
                    .to_string_lossy()
                    .replace('\\', "/");
                on_disk.push(rel);
            }
        }
    }
    on_disk.sort();
    let mut built_in: Vec<String> = builtin::MOF_FILES
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    built_in.sort();
    assert_eq!(
        on_disk, built_in,
        "add new mof/ files to src/cim/builtin.rs MOF_FILES"
    );
    let repo = builtin_repository().expect("built-in MOF compiles");
    let from_disk = our_repo();
    for ns in ["root/virt", "root/interop"] {
        let a: Vec<String> = repo
            .namespace(ns)
            .expect("ns")
            .classes()
            .map(|c| c.name.clone())
            .collect();
        let b: Vec<String> = from_disk
            .namespace(ns)
            .expect("ns")
            .classes()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(a, b, "{ns}");
    }
}
