//! Our `mof/`: it loads into the repository, each class agrees with DMTF CIM 2.49, and pywbem's MOF compiler
//! (an independent, strict implementation) accepts it.

mod cim_common;

use std::path::Path;
use std::process::Command;

use virtcim::{CimType, Class, QualifierList, Repository};

fn our_repo() -> Repository {
    let dir = cim_common::our_mof_dir();
    let mut repo = Repository::new();
    cim_common::compile_into(&mut repo, "root/virt", &dir, "root_virt.mof")
        .expect("root_virt.mof compiles");
    cim_common::compile_into(&mut repo, "root/interop", &dir, "root_interop.mof")
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

/// DMTF's declaration of a class, or a panic naming it.
fn dmtf_class<'a>(dmtf: &'a Repository, name: &str) -> &'a Class {
    dmtf.get_class("root/cimv2", name)
        .unwrap_or_else(|_| panic!("{name} is not a DMTF CIM 2.49 class"))
}

#[test]
fn our_classes_agree_with_dmtf() {
    let ours = our_repo();
    let dmtf = cim_common::dmtf_repo();
    let ns = ours.namespace("root/virt").expect("root/virt");
    let mut checked = 0;
    for class in ns.classes() {
        if !class.name.starts_with("CIM_") {
            // Our own classes must hang off a DMTF class.
            let nearest_cim = ns
                .superclass_chain(&class.name)
                .into_iter()
                .find(|c| c.starts_with("CIM_"));
            dmtf_class(
                dmtf,
                &nearest_cim.unwrap_or_else(|| panic!("{} has no CIM superclass", class.name)),
            );
            continue;
        }
        let theirs = dmtf_class(dmtf, &class.name);
        assert_eq!(
            class.superclass.as_deref().map(str::to_ascii_lowercase),
            theirs.superclass.as_deref().map(str::to_ascii_lowercase),
            "{}: superclass",
            class.name
        );
        assert_eq!(
            class.is_abstract(),
            theirs.is_abstract(),
            "{}: Abstract",
            class.name
        );
        assert_eq!(
            class.is_association(),
            theirs.is_association(),
            "{}: Association",
            class.name
        );
        for prop in &class.properties {
            let what = format!("{}.{}", class.name, prop.name);
            let other = theirs
                .property(&prop.name)
                .unwrap_or_else(|| panic!("{what} is not in DMTF"));
            assert_eq!(prop.name, other.name, "{what}: spelling");
            assert_eq!(prop.ty.ty.name(), other.ty.ty.name(), "{what}: type");
            assert_eq!(
                prop.ty.ty, other.ty.ty,
                "{what}: reference / embedded class"
            );
            assert_eq!(prop.ty.is_array(), other.ty.is_array(), "{what}: array");
            assert_eq!(prop.is_key(), other.is_key(), "{what}: Key");
            assert_eq!(
                prop.class_origin, other.class_origin,
                "{what}: class origin"
            );
            assert_eq!(prop.default, other.default, "{what}: default value");
            for q in ["ValueMap", "Values"] {
                if let Some(ours) = prop.qualifiers.qualifier(q) {
                    let theirs_q = other
                        .qualifiers
                        .qualifier(q)
                        .unwrap_or_else(|| panic!("{what}: DMTF has no {q}"));
                    assert_eq!(ours.value, theirs_q.value, "{what}: {q}");
                }
            }
        }
        for method in &class.methods {
            let what = format!("{}.{}()", class.name, method.name);
            let other = theirs
                .method(&method.name)
                .unwrap_or_else(|| panic!("{what} is not in DMTF"));
            assert_eq!(method.return_type, other.return_type, "{what}: return type");
            let names: Vec<&str> = method.parameters.iter().map(|p| p.name.as_str()).collect();
            let their_names: Vec<&str> = other.parameters.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, their_names, "{what}: parameters");
            for (p, q) in method.parameters.iter().zip(&other.parameters) {
                assert_eq!(
                    (&p.ty, p.is_in(), p.is_out()),
                    (&q.ty, q.is_in(), q.is_out()),
                    "{what}: {}",
                    p.name
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} CIM classes checked");
}

#[test]
fn pywbem_accepts_our_mof() {
    let python = cim_common::pywbem_python();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(python)
        .arg(root.join("tests/cim_pywbem_compile.py"))
        .arg(cim_common::our_mof_dir())
        .args(["root_virt.mof:root/virt", "root_interop.mof:root/interop"])
        .output()
        .expect("run the pywbem check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pywbem rejected our MOF:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // pywbem must see the same classes we do.
    let ours = our_repo();
    let virt_line = stdout
        .lines()
        .find(|l| l.starts_with("OK root_virt.mof"))
        .expect("root_virt line");
    for class in ours.namespace("root/virt").expect("ns").classes() {
        assert!(
            virt_line.split(' ').any(|w| w == class.name),
            "pywbem lacks {}: {virt_line}",
            class.name
        );
    }
}

/// Every file under mof/ is built into the binary (`cim::builtin::MOF_FILES`) with the same content.
#[test]
fn builtin_table_lists_every_mof_file() {
    let dir = cim_common::our_mof_dir();
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
    let mut built_in: Vec<String> = virtcim::BUILTIN_MOF_FILES
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    built_in.sort();
    assert_eq!(
        on_disk, built_in,
        "add new mof/ files to src/cim/builtin.rs MOF_FILES"
    );
    let repo = virtcim::builtin_repository().expect("built-in MOF compiles");
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
