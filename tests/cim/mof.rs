//! Our `mof/` against the outside: each class agrees with DMTF CIM 2.49 (fetched once from PyPI), and pywbem's MOF
//! compiler (an independent, strict implementation) accepts it.

use std::path::Path;
use std::process::Command;

use crate::support::cim as cim_common;
use virtcim::{Class, QualifierList, Repository};

fn our_repo() -> Repository {
    let dir = cim_common::our_mof_dir();
    let mut repo = Repository::new();
    cim_common::compile_into(&mut repo, "root/virt", &dir, "root_virt.mof")
        .expect("root_virt.mof compiles");
    cim_common::compile_into(&mut repo, "root/interop", &dir, "root_interop.mof")
        .expect("root_interop.mof compiles");
    repo
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
        .arg(root.join("tests/peers/cim_pywbem_compile.py"))
        .arg(cim_common::our_mof_dir())
        .args([
            "root_virt.mof:root/virt",
            "root_interop.mof:root/interop",
            "root_cimv2.mof:root/cimv2",
        ])
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
