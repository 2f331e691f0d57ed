//! Golden tests of the QEMU command-line builder: every `tests/data/qemu/*.xml` becomes argv (`NAME.args`, one
//! argument per line) or, for `error-*.xml`, an error (`NAME.err`). `UPDATE_GOLDEN=1` rewrites the files.

use super::command::{build_argv, HostFacts, RuntimePaths};
use crate::model::DomainDef;
use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/qemu")
}

fn paths() -> RuntimePaths {
    RuntimePaths {
        qmp_socket: PathBuf::from("/state/qemu/run/UUID.qmp"),
        pid_file: PathBuf::from("/state/qemu/run/UUID.pid"),
    }
}

fn facts() -> HostFacts {
    HostFacts {
        kvm: true,
        bridges: vec!["br0".into(), "virbr0".into()],
        vnc_port: Some(5901),
        vhost_net: false,
        spice: true,
    }
}

fn check_golden(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "golden file {} differs", path.display());
}

#[test]
fn every_definition_matches_its_golden_argv_or_error() {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 8, "golden inputs are missing");
    for input in inputs {
        let xml = std::fs::read_to_string(&input).unwrap();
        let mut def =
            DomainDef::from_xml(&xml, true).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        // As the driver does before QEMU starts: the aliases name the disks' QEMU devices.
        super::alias::assign(&mut def);
        let stem = input.file_stem().unwrap().to_str().unwrap();
        let result = build_argv(&def, &paths(), &facts());
        if stem.starts_with("error-") {
            let err = result.expect_err(stem);
            check_golden(&input.with_extension("err"), &format!("{}\n", err.message));
        } else {
            let argv = result.unwrap_or_else(|e| panic!("{stem}: {e}"));
            check_golden(&input.with_extension("args"), &(argv.join("\n") + "\n"));
        }
    }
}

#[test]
fn kvm_domains_need_kvm() {
    let xml = std::fs::read_to_string(data_dir().join("full.xml")).unwrap();
    let def = DomainDef::from_xml(&xml, false).unwrap();
    let err = build_argv(
        &def,
        &paths(),
        &HostFacts {
            kvm: false,
            ..facts()
        },
    )
    .unwrap_err();
    assert!(err.message.contains("needs KVM"), "{err}");
}

#[test]
fn the_builder_is_pure() {
    let xml = std::fs::read_to_string(data_dir().join("full.xml")).unwrap();
    let def = DomainDef::from_xml(&xml, false).unwrap();
    assert_eq!(
        build_argv(&def, &paths(), &facts()).unwrap(),
        build_argv(&def, &paths(), &facts()).unwrap()
    );
}

#[test]
fn bridged_virtio_nics_use_vhost_when_the_host_offers_it() {
    let xml = std::fs::read_to_string(data_dir().join("full.xml")).unwrap();
    let mut def = DomainDef::from_xml(&xml, false).unwrap();
    let netdev = |def: &DomainDef, vhost_net: bool| {
        build_argv(
            def,
            &paths(),
            &HostFacts {
                vhost_net,
                ..facts()
            },
        )
        .unwrap()
        .into_iter()
        .find(|a| a.starts_with("tap,"))
        .unwrap()
    };
    // e1000 never gets vhost; virtio does, only when /dev/vhost-net is usable.
    assert!(!netdev(&def, true).contains("vhost"));
    def.devices.interfaces[1].model = Some("virtio".into());
    assert_eq!(
        netdev(&def, true),
        "tap,id=hostnet1,ifname=vnet3,script=no,downscript=no,vhost=on"
    );
    assert!(!netdev(&def, false).contains("vhost"));
}

#[test]
fn a_bridged_nic_without_a_prepared_tap_is_refused() {
    let xml = std::fs::read_to_string(data_dir().join("full.xml")).unwrap();
    let mut def = DomainDef::from_xml(&xml, false).unwrap();
    def.devices.interfaces[1].target_dev = None;
    let err = build_argv(&def, &paths(), &facts()).unwrap_err();
    assert!(err.message.contains("no tap device"), "{err}");
}

#[test]
fn per_device_boot_order_becomes_bootindex() {
    let xml = std::fs::read_to_string(data_dir().join("bootorder.xml")).unwrap();
    let def = DomainDef::from_xml(&xml, true).unwrap();
    let argv = build_argv(&def, &paths(), &facts()).unwrap();
    let device = |prefix: &str| {
        argv.iter()
            .find(|arg| arg.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {argv:?}"))
            .clone()
    };
    assert!(device("virtio-net-pci,").ends_with(",bootindex=1"));
    assert!(device("virtio-blk-pci,").ends_with(",bootindex=2"));
    assert!(device("ide-cd,").ends_with(",bootindex=3"));
    // Per-device order replaces <os><boot dev>: no -boot option.
    assert!(!argv.iter().any(|arg| arg == "-boot"));
    // Without per-device order, <os><boot dev> stays QEMU's -boot order.
    let xml = std::fs::read_to_string(data_dir().join("full.xml")).unwrap();
    let def = DomainDef::from_xml(&xml, true).unwrap();
    let argv = build_argv(&def, &paths(), &facts()).unwrap();
    assert!(argv.windows(2).any(|w| w == ["-boot", "order=dcn"]));
    assert!(!argv.iter().any(|arg| arg.contains("bootindex")));
}
