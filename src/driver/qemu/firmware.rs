//! Guest firmware: `<os><loader>` (a ROM as `-bios`, or UEFI flash as pflash block nodes), `<os firmware='efi'>`
//! resolved from QEMU's firmware descriptors (`/usr/share/qemu/firmware/*.json`, Debian's `ovmf`) as libvirt's
//! `qemuFirmwareFillDomain` does, and each guest's own UEFI variable store (`<nvram>`), copied from the
//! firmware's template into the driver's state dir on first start, kept across restarts, removed by
//! `undefine --nvram`.

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::DomainDef;
use crate::xml::Node;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where QEMU's packages install their firmware descriptors.
pub const DESCRIPTOR_DIR: &str = "/usr/share/qemu/firmware";

fn unsupported(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::CONFIG_UNSUPPORTED, ErrorDomain::QEMU, detail)
}

/// One UEFI flash firmware a descriptor offers.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Descriptor {
    code: String,
    vars_template: Option<String>,
    secure_boot: bool,
    enrolled_keys: bool,
    requires_smm: bool,
}

/// A `*` glob, the only wildcard descriptors use.
fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (head.len()..=text.len())
                    .any(|i| text.is_char_boundary(i) && glob_match(tail, &text[i..]))
        }
    }
}

/// The UEFI flash firmwares for x86_64 `machine`, in descriptor file-name order (libvirt's priority).
fn descriptors(dir: &Path, machine: &str) -> Vec<Descriptor> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    let mut out = Vec::new();
    for file in files {
        let Some(desc) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        else {
            continue;
        };
        let has = |list: &Value, what: &str| {
            list.as_array()
                .is_some_and(|items| items.iter().any(|i| i == what))
        };
        let fits = desc["targets"].as_array().is_some_and(|targets| {
            targets.iter().any(|t| {
                t["architecture"] == "x86_64"
                    && t["machines"].as_array().is_some_and(|ms| {
                        ms.iter()
                            .any(|m| m.as_str().is_some_and(|m| glob_match(m, machine)))
                    })
            })
        });
        let mapping = &desc["mapping"];
        let Some(code) = mapping["executable"]["filename"].as_str() else {
            continue;
        };
        if !has(&desc["interface-types"], "uefi") || mapping["device"] != "flash" || !fits {
            continue;
        }
        out.push(Descriptor {
            code: code.to_string(),
            vars_template: mapping["nvram-template"]["filename"]
                .as_str()
                .map(str::to_string),
            secure_boot: has(&desc["features"], "secure-boot"),
            enrolled_keys: has(&desc["features"], "enrolled-keys"),
            requires_smm: has(&desc["features"], "requires-smm"),
        });
    }
    out
}

fn child<'a>(os: &'a DomainDef, name: &str) -> Option<&'a Node> {
    os.os.extra.children.iter().find(|c| c.name == name)
}

fn child_mut<'a>(def: &'a mut DomainDef, name: &str) -> Option<&'a mut Node> {
    def.os.extra.children.iter_mut().find(|c| c.name == name)
}

fn set_attr(node: &mut Node, key: &str, value: &str) {
    match node.attrs.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = value.to_string(),
        None => node.attrs.push((key.to_string(), value.to_string())),
    }
}

/// The features `<os firmware='efi'><firmware><feature enabled=.. name=..>` asks for: (name, enabled).
fn wanted_features(def: &DomainDef) -> Vec<(String, bool)> {
    child(def, "firmware")
        .map(|fw| {
            fw.children_named("feature")
                .filter_map(|f| Some((f.attr("name")?.to_string(), f.attr("enabled")? == "yes")))
                .collect()
        })
        .unwrap_or_default()
}

/// The per-guest variable store path the driver gives a guest (libvirt's `NAME_VARS.fd`).
pub(super) fn default_nvram(nvram_dir: &Path, def: &DomainDef) -> PathBuf {
    nvram_dir.join(format!("{}_VARS.fd", def.name))
}

/// Whether the loader is UEFI flash.
fn is_pflash(loader: &Node) -> bool {
    loader.attr("type") == Some("pflash")
}

/// Fills in what libvirt fills in on define: the `<nvram>` path of a read-only flash loader.
pub(super) fn fill_nvram_path(def: &mut DomainDef, nvram_dir: &Path) {
    let Some(loader) = child(def, "loader") else {
        return;
    };
    if !is_pflash(loader) || loader.attr("readonly") != Some("yes") {
        return;
    }
    let path = default_nvram(nvram_dir, def).to_string_lossy().into_owned();
    match child_mut(def, "nvram") {
        Some(nvram) if nvram.text.is_empty() => nvram.text = path,
        Some(_) => {}
        None => def.os.extra.children.push(Node {
            name: "nvram".into(),
            text: path,
            ..Node::default()
        }),
    }
}

/// Resolves `firmware='efi'` to a loader and variable store (as libvirt does at start) and fills the `<nvram>`
/// path and template; refuses firmware that cannot be found. `machine` is the canonical machine type.
pub(super) fn resolve(def: &mut DomainDef, nvram_dir: &Path, descriptor_dir: &Path) -> Result<()> {
    let machine = def.os.machine.clone().unwrap_or_else(|| "pc".into());
    match def.os.extra.attr("firmware") {
        None => {}
        Some("efi") if child(def, "loader").is_none_or(|l| l.text.is_empty()) => {
            let wanted = wanted_features(def);
            let want = |name: &str| wanted.iter().find(|(n, _)| n == name).map(|(_, on)| *on);
            let found = descriptors(descriptor_dir, &machine).into_iter().find(|d| {
                want("secure-boot").is_none_or(|on| on == d.secure_boot)
                    && want("enrolled-keys").is_none_or(|on| on == d.enrolled_keys)
            });
            let Some(found) = found else {
                return Err(Error::with_detail(
                    ErrorCode::OPERATION_FAILED,
                    ErrorDomain::QEMU,
                    format!(
                        "Unable to find any firmware to satisfy 'efi' (install the ovmf package; \
                             descriptors are read from {})",
                        descriptor_dir.display()
                    ),
                ));
            };
            let mut attrs = vec![
                ("readonly".to_string(), "yes".to_string()),
                ("type".to_string(), "pflash".to_string()),
            ];
            if found.secure_boot || found.requires_smm {
                attrs.insert(1, ("secure".into(), "yes".into()));
            }
            def.os.extra.children.retain(|c| c.name != "loader");
            def.os.extra.children.push(Node {
                name: "loader".into(),
                attrs,
                text: found.code.clone(),
                ..Node::default()
            });
            fill_nvram_path(def, nvram_dir);
            if let (Some(template), Some(nvram)) = (found.vars_template, child_mut(def, "nvram")) {
                if nvram.attr("template").is_none() {
                    set_attr(nvram, "template", &template);
                }
            }
        }
        Some("efi" | "bios") => {}
        Some(other) => return Err(unsupported(format!("firmware '{other}' is not supported"))),
    }
    let Some(loader) = child(def, "loader").cloned() else {
        if child(def, "nvram").is_some() {
            return Err(unsupported("<nvram> needs a UEFI <loader type='pflash'>"));
        }
        return Ok(());
    };
    if loader.text.is_empty() {
        return Err(unsupported("<loader> names no firmware file"));
    }
    if !Path::new(&loader.text).is_file() {
        return Err(Error::with_detail(
            ErrorCode::OPERATION_FAILED,
            ErrorDomain::QEMU,
            format!("cannot find firmware file '{}'", loader.text),
        ));
    }
    if is_pflash(&loader) {
        fill_nvram_path(def, nvram_dir);
        // The template of a named loader: the one its descriptor pairs with it.
        let code = loader.text.clone();
        if let Some(nvram) = child_mut(def, "nvram") {
            if nvram.attr("template").is_none() {
                if let Some(template) = descriptors(descriptor_dir, &machine)
                    .into_iter()
                    .find(|d| d.code == code)
                    .and_then(|d| d.vars_template)
                {
                    set_attr(nvram, "template", &template);
                }
            }
        }
    }
    Ok(())
}

/// The guest's variable store file, if it has one.
pub(super) fn nvram_file(def: &DomainDef) -> Option<PathBuf> {
    child(def, "nvram")
        .filter(|n| !n.text.is_empty())
        .map(|n| PathBuf::from(&n.text))
}

/// The variable store a definition has or will get at start (`firmware='efi'` resolves then).
pub(super) fn nvram_of(def: &DomainDef, nvram_dir: &Path) -> Option<PathBuf> {
    nvram_file(def).or_else(|| {
        (def.os.extra.attr("firmware") == Some("efi")).then(|| default_nvram(nvram_dir, def))
    })
}

/// Creates the guest's variable store from its template unless it exists (it keeps the guest's UEFI variables
/// across restarts).
pub(super) fn create_nvram(def: &DomainDef) -> Result<()> {
    let Some(path) = nvram_file(def) else {
        return Ok(());
    };
    if path.exists() {
        return Ok(());
    }
    let template = child(def, "nvram").and_then(|n| n.attr("template"));
    let Some(template) = template else {
        return Err(Error::with_detail(
            ErrorCode::OPERATION_FAILED,
            ErrorDomain::QEMU,
            format!(
                "unable to find any master var store for loader: {}",
                child(def, "loader").map(|l| l.text.as_str()).unwrap_or("")
            ),
        ));
    };
    let io = |what: &str, p: &Path, e: std::io::Error| {
        Error::system(
            ErrorDomain::QEMU,
            format!("cannot {what} {}", p.display()),
            &e,
        )
    };
    if let Some(dir) = path.parent() {
        crate::persist::create_private_dir(dir).map_err(|e| io("create", dir, e))?;
    }
    let bytes = std::fs::read(template).map_err(|e| io("read", Path::new(template), e))?;
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => (dir, name.to_string_lossy().into_owned()),
        _ => {
            return Err(unsupported(format!(
                "nvram path '{}' is not valid",
                path.display()
            )))
        }
    };
    crate::persist::write_atomic(dir, &name, &bytes).map_err(|e| io("write", &path, e))
}

/// The QEMU arguments of the firmware, and what `-machine` needs added (`,pflash0=...`).
pub(super) fn args(def: &DomainDef) -> Result<(Vec<String>, String)> {
    let Some(loader) = child(def, "loader") else {
        return Ok((Vec::new(), String::new()));
    };
    let json = |v: &str| Value::String(v.to_string()).to_string();
    if !is_pflash(loader) {
        if loader.attr("type").is_some_and(|t| t != "rom") {
            return Err(unsupported(format!(
                "loader type '{}' is not supported",
                loader.attr("type").unwrap_or_default()
            )));
        }
        return Ok((vec!["-bios".into(), loader.text.clone()], String::new()));
    }
    let readonly = loader.attr("readonly") == Some("yes");
    let mut argv = Vec::new();
    let mut machine = String::new();
    let mut flash = |unit: u32, file: &str, read_only: bool| {
        argv.push("-blockdev".to_string());
        argv.push(format!(
            r#"{{"driver":"file","filename":{},"node-name":"libvirt-pflash{unit}-storage","auto-read-only":true,"discard":"unmap"}}"#,
            json(file)
        ));
        argv.push("-blockdev".to_string());
        argv.push(format!(
            r#"{{"node-name":"libvirt-pflash{unit}-format","read-only":{read_only},"driver":"raw","file":"libvirt-pflash{unit}-storage"}}"#
        ));
        machine.push_str(&format!(",pflash{unit}=libvirt-pflash{unit}-format"));
    };
    flash(0, &loader.text, readonly);
    match nvram_file(def) {
        Some(nvram) => flash(1, &nvram.to_string_lossy(), false),
        None if readonly => {
            return Err(unsupported(
                "a read-only UEFI loader needs an <nvram> variable store",
            ))
        }
        None => {}
    }
    if loader.attr("secure") == Some("yes") {
        if !def.os.machine.as_deref().is_some_and(|m| m.contains("q35")) {
            return Err(unsupported(
                "Secure boot is supported with q35 machine types only",
            ));
        }
        machine.push_str(",smm=on");
        argv.extend([
            "-global".into(),
            "driver=cfi.pflash01,property=secure,value=on".into(),
        ]);
    }
    Ok((argv, machine))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(os: &str) -> DomainDef {
        DomainDef::from_xml(
            &format!("<domain type='qemu'><name>fw</name><memory>65536</memory>{os}</domain>"),
            true,
        )
        .unwrap()
    }

    fn descriptor_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("code.fd"), b"code").unwrap();
        std::fs::write(dir.path().join("vars.fd"), b"vars").unwrap();
        let desc = serde_json::json!({
            "interface-types": ["uefi"],
            "mapping": {
                "device": "flash",
                "executable": {"filename": dir.path().join("code.fd"), "format": "raw"},
                "nvram-template": {"filename": dir.path().join("vars.fd"), "format": "raw"},
            },
            "targets": [{"architecture": "x86_64", "machines": ["pc-i440fx-*", "pc-q35-*"]}],
            "features": ["acpi-s3"],
        });
        std::fs::write(dir.path().join("60-plain.json"), desc.to_string()).unwrap();
        dir
    }

    #[test]
    fn efi_resolves_to_a_pflash_loader_with_its_own_variable_store() {
        let descs = descriptor_dir();
        let nvram = tempfile::tempdir().unwrap();
        let mut d = def("<os firmware='efi'><type machine='pc-i440fx-7.2'>hvm</type></os>");
        resolve(&mut d, nvram.path(), descs.path()).unwrap();
        let vars = nvram.path().join("fw_VARS.fd");
        assert_eq!(nvram_file(&d), Some(vars.clone()));
        create_nvram(&d).unwrap();
        assert_eq!(std::fs::read(&vars).unwrap(), b"vars");
        // Kept across restarts: an existing store is never overwritten.
        std::fs::write(&vars, b"changed").unwrap();
        create_nvram(&d).unwrap();
        assert_eq!(std::fs::read(&vars).unwrap(), b"changed");
        let (argv, machine) = args(&d).unwrap();
        assert_eq!(
            machine,
            ",pflash0=libvirt-pflash0-format,pflash1=libvirt-pflash1-format"
        );
        assert!(argv[1].contains("code.fd"), "{argv:?}");
        assert!(argv[5].contains("fw_VARS.fd"), "{argv:?}");
        assert!(argv[3].contains(r#""read-only":true"#));
        assert!(argv[7].contains(r#""read-only":false"#));
    }

    #[test]
    fn missing_firmware_is_refused() {
        let nvram = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        let mut d = def("<os firmware='efi'><type machine='pc-i440fx-7.2'>hvm</type></os>");
        let err = resolve(&mut d, nvram.path(), empty.path()).unwrap_err();
        assert!(err.message.contains("Unable to find any firmware"), "{err}");
        let mut d = def(
            "<os><type>hvm</type><loader readonly='yes' type='pflash'>/nonexistent.fd</loader></os>",
        );
        let err = resolve(&mut d, nvram.path(), empty.path()).unwrap_err();
        assert!(err.message.contains("cannot find firmware file"), "{err}");
    }

    #[test]
    fn globs() {
        assert!(glob_match("pc-q35-*", "pc-q35-7.2"));
        assert!(!glob_match("pc-q35-*", "pc-i440fx-7.2"));
        assert!(glob_match("*", "x"));
    }
}
