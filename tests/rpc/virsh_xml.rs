//! Stock libvirt reads the definition XML we write, and we read what it writes: every golden output under
//! `tests/data/xml` goes through `virsh -c test:///default` (libvirt's own parser and formatter, in process) and
//! back. The golden files themselves are checked inside the crate (`src/model/tests_xml.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use virtcim::{DomainDef, Error, NetworkDef, PoolDef, VolumeDef};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/xml")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Domain,
    Network,
    Pool,
    Volume,
}

impl Kind {
    fn of_file(name: &str) -> Kind {
        let prefix = name.split('-').next().unwrap_or_default();
        match prefix {
            "domain" => Kind::Domain,
            "network" => Kind::Network,
            "pool" => Kind::Pool,
            "volume" => Kind::Volume,
            _ => {
                panic!("golden file {name} does not start with domain-, network-, pool- or volume-")
            }
        }
    }

    fn parse(self, xml: &str, validate: bool) -> Result<Def, Error> {
        Ok(match self {
            Kind::Domain => Def::Domain(Box::new(DomainDef::from_xml(xml, validate)?)),
            Kind::Network => Def::Network(Box::new(NetworkDef::from_xml(xml, validate)?)),
            Kind::Pool => Def::Pool(PoolDef::from_xml(xml, validate)?),
            Kind::Volume => Def::Volume(VolumeDef::from_xml(xml, validate)?),
        })
    }
}

#[derive(Debug, PartialEq)]
enum Def {
    Domain(Box<DomainDef>),
    Network(Box<NetworkDef>),
    Pool(PoolDef),
    Volume(VolumeDef),
}

fn golden_inputs() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(data_dir())
        .expect("tests/data/xml exists")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.ends_with(".in.xml").then_some(name)
        })
        .map(|name| {
            let text = std::fs::read_to_string(data_dir().join(&name)).expect("read golden input");
            (name, text)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "golden inputs missing");
    files
}

/// Runs one `virsh -c test:///default` session (libvirt's own parser and formatter, in process).
fn virsh_test_driver(commands: &str) -> Result<String, String> {
    let output = Command::new("virsh")
        .args(["-q", "-c", "test:///default", commands])
        .output()
        .unwrap_or_else(|err| {
            panic!("cannot run virsh ({err}): install the Debian package libvirt-clients (apt-get install -y libvirt-clients)")
        });
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn real_libvirt_accepts_what_we_write_and_we_read_what_it_writes() {
    let dir = data_dir();
    for (name, _) in golden_inputs() {
        let out_file = dir.join(name.replace(".in.xml", ".out.xml"));
        let path = out_file.to_str().expect("UTF-8 path");
        let kind = Kind::of_file(&name);
        let ours = kind
            .parse(&std::fs::read_to_string(&out_file).expect("read"), true)
            .expect("parse ours");
        // libvirt's test driver already holds objects with these identities; give ours fresh ones.
        let commands = match &ours {
            Def::Domain(def)
                if def.name == "test" || def.uuid.to_string().starts_with("6695eb01") =>
            {
                continue
            }
            Def::Domain(def) => format!("define {path}; dumpxml --security-info {}", def.uuid),
            Def::Network(def) if def.name == "default" => continue,
            Def::Network(def) => format!("net-define {path}; net-dumpxml {}", def.uuid),
            Def::Pool(def) if def.name == "default-pool" => continue,
            Def::Pool(def) => format!("pool-define {path}; pool-dumpxml {}", def.uuid),
            Def::Volume(def) => format!(
                "vol-create default-pool {path}; vol-dumpxml --pool default-pool {}",
                def.name
            ),
        };
        let theirs = virsh_test_driver(&commands)
            .unwrap_or_else(|err| panic!("libvirt refused {name}: {err}"));
        let back = kind
            .parse(&theirs, false)
            .unwrap_or_else(|err| panic!("we refuse libvirt's {name}: {err}\n{theirs}"));
        // libvirt adds driver defaults (arch, boot, clock, actions, buses, controllers); what we wrote must stay.
        match (&ours, &back) {
            (Def::Domain(a), Def::Domain(b)) => {
                assert_eq!(
                    (&a.name, a.uuid, &a.title, &a.description),
                    (&b.name, b.uuid, &b.title, &b.description)
                );
                assert_eq!(
                    (a.memory_kib, a.current_memory_kib),
                    (b.memory_kib, b.current_memory_kib)
                );
                assert_eq!((a.vcpus, a.current_vcpus), (b.vcpus, b.current_vcpus));
                assert_eq!(
                    (&a.os.cmdline, &a.os.kernel, &a.os.machine),
                    (&b.os.cmdline, &b.os.kernel, &b.os.machine)
                );
                let disks = |d: &DomainDef| -> Vec<(String, Option<String>)> {
                    d.devices
                        .disks
                        .iter()
                        .map(|disk| (disk.target_dev.clone(), disk.source.clone()))
                        .collect()
                };
                assert_eq!(disks(a), disks(b), "{name}");
                let macs = |d: &DomainDef| -> Vec<String> {
                    d.devices.interfaces.iter().map(|i| i.mac.clone()).collect()
                };
                assert_eq!(macs(a), macs(b), "{name}");
                let passwords = |d: &DomainDef| -> Vec<Option<String>> {
                    d.devices
                        .graphics
                        .iter()
                        .map(|g| g.passwd.clone())
                        .collect()
                };
                assert_eq!(passwords(a), passwords(b), "{name}");
            }
            (Def::Network(a), Def::Network(b)) => assert_eq!(a, b, "{name}"),
            (Def::Pool(a), Def::Pool(b)) => {
                // The test driver reports its own sizes.
                assert_eq!(
                    (&a.name, a.uuid, &a.target_path, &a.target_mode),
                    (&b.name, b.uuid, &b.target_path, &b.target_mode)
                );
            }
            (Def::Volume(a), Def::Volume(b)) => {
                // libvirt's default format is raw.
                let format = a.format.clone().or_else(|| Some("raw".into()));
                assert_eq!(
                    (&a.name, a.capacity, &format),
                    (&b.name, b.capacity, &b.format),
                    "{name}"
                );
            }
            _ => unreachable!("same kind"),
        }
    }
}
