//! Domain capabilities (`virConnectGetDomainCapabilities`, `virsh domcapabilities`): what the installed QEMU
//! offers guests of one machine and virtualization type, laid out as libvirt 9.0's `<domainCapabilities>`.
//!
//! QEMU is asked once per binary (path and modification time) and accelerator, as libvirt caches its probe:
//! `qemu -machine none -qmp stdio` answers `query-machines`, `query-cpu-definitions`, `qom-list-types` and
//! `query-commands`, and `-display help` lists the display backends. The UEFI loaders come from QEMU's firmware
//! descriptors (`/usr/share/qemu/firmware/*.json`, Debian's `ovmf`), CPU vendors from libvirt's CPU map when
//! installed. The host-model CPU (libvirt's expansion of the host CPU against its CPU map) is not computed here:
//! that mode reads `supported='no'`.

use super::*;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

/// What one QEMU binary answered for one accelerator.
struct Probe {
    machines: Vec<Value>,
    cpus: Vec<Value>,
    types: BTreeSet<String>,
    commands: BTreeSet<String>,
    displays: BTreeSet<String>,
}

type ProbeKey = (PathBuf, Option<SystemTime>, bool);

fn cache() -> &'static Mutex<HashMap<ProbeKey, Arc<Probe>>> {
    static CACHE: OnceLock<Mutex<HashMap<ProbeKey, Arc<Probe>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn probe_failed(emulator: &Path, why: impl std::fmt::Display) -> Error {
    Error::with_detail(
        ErrorCode::INTERNAL_ERROR,
        ErrorDomain::QEMU,
        format!(
            "failed to probe the capabilities of '{}': {why}",
            emulator.display()
        ),
    )
}

/// The `return` values of a QMP script's commands, in order (the greeting and events skipped).
fn qmp_returns(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v.get("return").is_some() || v.get("error").is_some())
        .map(|v| v.get("return").cloned().unwrap_or(Value::Null))
        .collect()
}

/// The display backends `-display help` lists (one per line after the header).
fn parse_displays(text: &str) -> BTreeSet<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("Available display backend types"))
        .skip(1)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.contains(' '))
        .collect()
}

async fn run_probe(emulator: &Path, kvm: bool) -> Result<Probe> {
    use tokio::io::AsyncWriteExt;
    let accel = if kvm { "kvm" } else { "tcg" };
    let mut child = tokio::process::Command::new(emulator)
        .args([
            "-machine",
            &format!("none,accel={accel}"),
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-qmp",
            "stdio",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| probe_failed(emulator, err))?;
    let script = concat!(
        "{\"execute\":\"qmp_capabilities\"}\n",
        "{\"execute\":\"query-machines\"}\n",
        "{\"execute\":\"query-cpu-definitions\"}\n",
        "{\"execute\":\"qom-list-types\",\"arguments\":{\"abstract\":false}}\n",
        "{\"execute\":\"query-commands\"}\n",
        "{\"execute\":\"quit\"}\n"
    );
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|err| probe_failed(emulator, err))?;
    }
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .map_err(|_| probe_failed(emulator, "QEMU did not answer in time"))?
        .map_err(|err| probe_failed(emulator, err))?;
    let returns = qmp_returns(&String::from_utf8_lossy(&output.stdout));
    if returns.len() < 5 {
        return Err(probe_failed(emulator, "QEMU did not answer every query"));
    }
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let names = |v: &Value| -> BTreeSet<String> {
        list(v)
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let help = tokio::process::Command::new(emulator)
        .args(["-display", "help"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    Ok(Probe {
        machines: list(&returns[1]),
        cpus: list(&returns[2]),
        types: names(&returns[3]),
        commands: names(&returns[4]),
        displays: parse_displays(&help),
    })
}

async fn probe(emulator: &Path, kvm: bool) -> Result<Arc<Probe>> {
    let mtime = std::fs::metadata(emulator).and_then(|m| m.modified()).ok();
    let key = (emulator.to_path_buf(), mtime, kvm);
    if let Some(found) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(found.clone());
    }
    let fresh = Arc::new(run_probe(emulator, kvm).await?);
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, fresh.clone());
    Ok(fresh)
}

/// The machine a name asks for (an alias resolves to its target), or QEMU's default.
fn pick_machine<'a>(machines: &'a [Value], name: Option<&str>) -> Option<&'a Value> {
    let field = |m: &'a Value, key: &str| m.get(key).and_then(Value::as_str);
    match name {
        Some(name) => {
            let found = machines
                .iter()
                .find(|m| field(m, "name") == Some(name) || field(m, "alias") == Some(name))?;
            Some(found)
        }
        None => machines
            .iter()
            .find(|m| m.get("is-default").and_then(Value::as_bool) == Some(true))
            .or_else(|| machines.first()),
    }
}

/// The canonical name of a machine type on this QEMU (an alias such as `pc` resolves to its target, none to
/// QEMU's default), `None` when QEMU has no such machine. Probed once per binary, as domain capabilities are.
pub(super) async fn machine_name(emulator: &Path, name: Option<&str>) -> Result<Option<String>> {
    let probe = probe(emulator, false).await?;
    Ok(pick_machine(&probe.machines, name)
        .and_then(|m| m.get("name").and_then(Value::as_str))
        .map(str::to_string))
}

/// Whether this QEMU answers a QMP command (`query-spice` tells a build with SPICE).
pub(super) async fn has_command(emulator: &Path, command: &str) -> bool {
    probe(emulator, false)
        .await
        .is_ok_and(|probe| probe.commands.contains(command))
}

/// A glob of a firmware descriptor's `machines` (only `*` wildcards occur there).
fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.len() >= head.len()
                && text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| {
                    text.is_char_boundary(head.len() + i)
                        && glob_match(tail, &text[head.len() + i..])
                })
        }
    }
}

/// UEFI flash loaders whose descriptors match the architecture and machine: (path, secure boot).
fn firmware_loaders(dir: &Path, machine: &str) -> Vec<(String, bool)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out: Vec<(String, bool)> = Vec::new();
    for file in files {
        let Some(desc) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        else {
            continue;
        };
        let uefi = desc["interface-types"]
            .as_array()
            .is_some_and(|t| t.iter().any(|i| i == "uefi"));
        let flash = desc["mapping"]["device"] == "flash";
        let targets = desc["targets"].as_array().cloned().unwrap_or_default();
        let fits = targets.iter().any(|t| {
            t["architecture"] == "x86_64"
                && t["machines"].as_array().is_some_and(|ms| {
                    ms.iter()
                        .any(|m| m.as_str().is_some_and(|m| glob_match(m, machine)))
                })
        });
        let Some(path) = desc["mapping"]["executable"]["filename"].as_str() else {
            continue;
        };
        let secure = desc["features"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "secure-boot"));
        if uefi && flash && fits && !out.iter().any(|(p, _)| p == path) {
            out.push((path.to_string(), secure));
        }
    }
    out
}

/// Whether libvirt's CPU map (when installed) has the model.
fn cpu_known(model: &str) -> bool {
    let map = Path::new(CPU_MAP);
    !map.is_dir() || (!model.contains('/') && map.join(format!("x86_{model}.xml")).is_file())
}

const CPU_MAP: &str = "/usr/share/libvirt/cpu_map";

/// A CPU model's vendor as libvirt's CPU map names it, `unknown` when the map has none.
fn cpu_vendor(model: &str) -> String {
    if model.contains('/') || model.starts_with('.') {
        return "unknown".into();
    }
    std::fs::read_to_string(format!("{CPU_MAP}/x86_{model}.xml"))
        .ok()
        .and_then(|text| {
            let rest = text.split("<vendor name='").nth(1)?;
            Some(rest.split('\'').next()?.to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

/// `<enum name='NAME'>` with its values, or an empty one.
fn enum_xml(out: &mut String, indent: &str, name: &str, values: &[&str]) {
    if values.is_empty() {
        out.push_str(&format!("{indent}<enum name='{name}'/>\n"));
        return;
    }
    out.push_str(&format!("{indent}<enum name='{name}'>\n"));
    for value in values {
        out.push_str(&format!("{indent}  <value>{}</value>\n", esc(value)));
    }
    out.push_str(&format!("{indent}</enum>\n"));
}

/// The values whose QEMU type (or condition) is present, in libvirt's order.
fn present<'a>(items: &[(&'a str, bool)]) -> Vec<&'a str> {
    items
        .iter()
        .filter(|(_, on)| *on)
        .map(|(v, _)| *v)
        .collect()
}

struct Request<'a> {
    emulator: &'a Path,
    virt_type: &'a str,
    machine: &'a str,
    cpu_max: u64,
    kvm: bool,
    q35: bool,
}

fn render(req: &Request<'_>, probe: &Probe) -> String {
    let has = |t: &str| probe.types.contains(t);
    let mut x = String::from("<domainCapabilities>\n");
    x.push_str(&format!(
        "  <path>{}</path>\n",
        esc(&req.emulator.to_string_lossy())
    ));
    x.push_str(&format!("  <domain>{}</domain>\n", req.virt_type));
    x.push_str(&format!("  <machine>{}</machine>\n", esc(req.machine)));
    x.push_str("  <arch>x86_64</arch>\n");
    x.push_str(&format!("  <vcpu max='{}'/>\n", req.cpu_max));
    x.push_str(&format!(
        "  <iothreads supported='{}'/>\n",
        if has("iothread") { "yes" } else { "no" }
    ));

    let loaders = firmware_loaders(Path::new("/usr/share/qemu/firmware"), req.machine);
    x.push_str("  <os supported='yes'>\n");
    let firmware: Vec<&str> = if loaders.is_empty() {
        vec![]
    } else {
        vec!["efi"]
    };
    enum_xml(&mut x, "    ", "firmware", &firmware);
    x.push_str("    <loader supported='yes'>\n");
    for (path, _) in &loaders {
        x.push_str(&format!("      <value>{}</value>\n", esc(path)));
    }
    enum_xml(&mut x, "      ", "type", &["rom", "pflash"]);
    enum_xml(&mut x, "      ", "readonly", &["yes", "no"]);
    let secure: Vec<&str> = if loaders.iter().any(|(_, s)| *s) {
        vec!["yes", "no"]
    } else {
        vec!["no"]
    };
    enum_xml(&mut x, "      ", "secure", &secure);
    x.push_str("    </loader>\n  </os>\n");

    x.push_str("  <cpu>\n");
    if req.kvm {
        x.push_str("    <mode name='host-passthrough' supported='yes'>\n");
        enum_xml(
            &mut x,
            "      ",
            "hostPassthroughMigratable",
            &["on", "off"],
        );
        x.push_str("    </mode>\n");
    } else {
        x.push_str("    <mode name='host-passthrough' supported='no'/>\n");
    }
    x.push_str("    <mode name='maximum' supported='yes'>\n");
    enum_xml(&mut x, "      ", "maximumMigratable", &["on", "off"]);
    x.push_str("    </mode>\n");
    x.push_str("    <mode name='host-model' supported='no'/>\n");
    x.push_str("    <mode name='custom' supported='yes'>\n");
    for cpu in &probe.cpus {
        let Some(name) = cpu.get("name").and_then(Value::as_str) else {
            continue;
        };
        // libvirt lists the unversioned names (QEMU's aliases of `-vN` versions) its CPU map knows, never
        // the versions themselves nor the generic "host", "max" and "base".
        let versioned = name
            .rsplit_once("-v")
            .is_some_and(|(_, v)| v.parse::<u32>().is_ok());
        if versioned || matches!(name, "host" | "max" | "base") || !cpu_known(name) {
            continue;
        }
        let usable = cpu
            .get("unavailable-features")
            .and_then(Value::as_array)
            .is_some_and(|f| f.is_empty());
        let deprecated = if cpu.get("deprecated").and_then(Value::as_bool) == Some(true) {
            " deprecated='yes'"
        } else {
            ""
        };
        x.push_str(&format!(
            "      <model usable='{}'{deprecated} vendor='{}'>{}</model>\n",
            if usable { "yes" } else { "no" },
            esc(&cpu_vendor(name)),
            esc(name)
        ));
    }
    x.push_str("    </mode>\n  </cpu>\n");

    x.push_str("  <memoryBacking supported='yes'>\n");
    enum_xml(
        &mut x,
        "    ",
        "sourceType",
        &present(&[
            ("file", has("memory-backend-file")),
            ("anonymous", has("memory-backend-ram")),
            ("memfd", has("memory-backend-memfd")),
        ]),
    );
    x.push_str("  </memoryBacking>\n");

    x.push_str("  <devices>\n    <disk supported='yes'>\n");
    enum_xml(
        &mut x,
        "      ",
        "diskDevice",
        &present(&[
            ("disk", true),
            ("cdrom", true),
            ("floppy", has("isa-fdc")),
            ("lun", has("scsi-block")),
        ]),
    );
    enum_xml(
        &mut x,
        "      ",
        "bus",
        &present(&[
            ("ide", !req.q35),
            ("fdc", has("isa-fdc")),
            ("scsi", has("scsi-hd")),
            ("virtio", has("virtio-blk-pci")),
            ("usb", has("usb-storage")),
            ("sata", has("ide-hd")),
        ]),
    );
    enum_xml(
        &mut x,
        "      ",
        "model",
        &present(&[
            ("virtio", has("virtio-blk-pci")),
            ("virtio-transitional", has("virtio-blk-pci-transitional")),
            (
                "virtio-non-transitional",
                has("virtio-blk-pci-non-transitional"),
            ),
        ]),
    );
    x.push_str("    </disk>\n    <graphics supported='yes'>\n");
    let display = |d: &str| probe.displays.contains(d);
    enum_xml(
        &mut x,
        "      ",
        "type",
        &present(&[
            ("sdl", display("sdl")),
            ("vnc", probe.commands.contains("query-vnc")),
            ("spice", probe.commands.contains("query-spice")),
            ("egl-headless", display("egl-headless")),
            ("dbus", display("dbus")),
        ]),
    );
    x.push_str("    </graphics>\n    <video supported='yes'>\n");
    enum_xml(
        &mut x,
        "      ",
        "modelType",
        &present(&[
            ("vga", has("VGA")),
            ("cirrus", has("cirrus-vga")),
            ("vmvga", has("vmware-svga")),
            ("qxl", has("qxl-vga")),
            ("virtio", has("virtio-vga") || has("virtio-gpu-pci")),
            ("none", true),
            ("bochs", has("bochs-display")),
            ("ramfb", has("ramfb")),
        ]),
    );
    x.push_str("    </video>\n    <hostdev supported='yes'>\n");
    enum_xml(&mut x, "      ", "mode", &["subsystem"]);
    enum_xml(
        &mut x,
        "      ",
        "startupPolicy",
        &["default", "mandatory", "requisite", "optional"],
    );
    enum_xml(
        &mut x,
        "      ",
        "subsysType",
        &present(&[
            ("usb", has("usb-host")),
            ("pci", true),
            ("scsi", has("scsi-generic")),
        ]),
    );
    enum_xml(&mut x, "      ", "capsType", &[]);
    let vfio = Path::new("/dev/vfio/vfio").exists()
        && Path::new("/sys/kernel/iommu_groups")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some());
    enum_xml(
        &mut x,
        "      ",
        "pciBackend",
        &present(&[("vfio", vfio && has("vfio-pci"))]),
    );
    x.push_str("    </hostdev>\n    <rng supported='yes'>\n");
    enum_xml(
        &mut x,
        "      ",
        "model",
        &present(&[
            ("virtio", has("virtio-rng-pci")),
            ("virtio-transitional", has("virtio-rng-pci-transitional")),
            (
                "virtio-non-transitional",
                has("virtio-rng-pci-non-transitional"),
            ),
        ]),
    );
    enum_xml(
        &mut x,
        "      ",
        "backendModel",
        &present(&[
            ("random", has("rng-random")),
            ("egd", has("rng-egd")),
            ("builtin", has("rng-builtin")),
        ]),
    );
    x.push_str("    </rng>\n    <filesystem supported='yes'>\n");
    enum_xml(
        &mut x,
        "      ",
        "driverType",
        &present(&[
            ("path", has("virtio-9p-pci")),
            ("handle", has("virtio-9p-pci")),
            ("virtiofs", has("vhost-user-fs-pci")),
        ]),
    );
    x.push_str("    </filesystem>\n    <tpm supported='yes'>\n");
    enum_xml(
        &mut x,
        "      ",
        "model",
        &present(&[("tpm-tis", has("tpm-tis")), ("tpm-crb", has("tpm-crb"))]),
    );
    let swtpm = process::find_binary("swtpm").is_some();
    enum_xml(
        &mut x,
        "      ",
        "backendModel",
        &present(&[
            ("passthrough", has("tpm-passthrough")),
            ("emulator", swtpm && has("tpm-emulator")),
        ]),
    );
    x.push_str("    </tpm>\n    <redirdev supported='yes'>\n");
    enum_xml(
        &mut x,
        "      ",
        "bus",
        &present(&[("usb", has("usb-redir"))]),
    );
    x.push_str("    </redirdev>\n    <channel supported='yes'>\n");
    enum_xml(
        &mut x,
        "      ",
        "type",
        &present(&[
            ("pty", true),
            ("unix", true),
            ("spicevmc", probe.commands.contains("query-spice")),
        ]),
    );
    x.push_str("    </channel>\n  </devices>\n");

    let yes_no = |on: bool| if on { "yes" } else { "no" };
    x.push_str("  <features>\n    <gic supported='no'/>\n");
    x.push_str(&format!(
        "    <vmcoreinfo supported='{}'/>\n",
        yes_no(has("vmcoreinfo"))
    ));
    x.push_str(&format!(
        "    <genid supported='{}'/>\n",
        yes_no(has("vmgenid"))
    ));
    x.push_str("    <backingStoreInput supported='yes'/>\n");
    x.push_str(&format!(
        "    <backup supported='{}'/>\n",
        yes_no(probe.commands.contains("blockdev-backup"))
    ));
    // SEV and SGX need host support QEMU reports only when present (query-sev / query-sgx-capabilities).
    x.push_str("    <sev supported='no'/>\n    <sgx supported='no'/>\n");
    x.push_str("    <hyperv supported='yes'>\n");
    enum_xml(&mut x, "      ", "features", &["spinlocks", "vendor_id"]);
    x.push_str("    </hyperv>\n  </features>\n</domainCapabilities>\n");
    x
}

impl QemuDriver {
    pub(super) async fn domain_capabilities(
        &self,
        emulator: Option<String>,
        arch: Option<String>,
        machine: Option<String>,
        virt_type: Option<String>,
        caps_flags: u32,
    ) -> Result<String> {
        check_flags(caps_flags, 0, "virConnectGetDomainCapabilities")?;
        if let Some(arch) = arch.as_deref().filter(|a| *a != "x86_64") {
            return Err(Error::with_detail(
                ErrorCode::CONFIG_UNSUPPORTED,
                ErrorDomain::QEMU,
                format!("unable to find any emulator to serve '{arch}' architecture"),
            ));
        }
        let emulator = match emulator {
            Some(path) => PathBuf::from(path),
            None => self.shared.emulator.clone().ok_or_else(|| {
                Error::with_detail(
                    ErrorCode::CONFIG_UNSUPPORTED,
                    ErrorDomain::QEMU,
                    "unable to find any emulator to serve 'x86_64' architecture",
                )
            })?,
        };
        if !emulator.is_file() {
            return Err(Error::with_detail(
                ErrorCode::SYSTEM_ERROR,
                ErrorDomain::QEMU,
                format!(
                    "Cannot check QEMU binary {}: No such file or directory",
                    emulator.display()
                ),
            ));
        }
        let kvm_works = *self
            .shared
            .kvm
            .get_or_init(|| process::probe_kvm(&emulator))
            .await;
        let kvm = match virt_type.as_deref() {
            None => kvm_works,
            Some("kvm") if kvm_works => true,
            Some("kvm") => {
                return Err(Error::invalid_arg(
                    ErrorDomain::QEMU,
                    format!(
                        "KVM is not supported by '{}' on this host",
                        emulator.display()
                    ),
                ))
            }
            Some("qemu") => false,
            Some(other) => {
                return Err(Error::invalid_arg(
                    ErrorDomain::QEMU,
                    format!("unknown virttype: {other}"),
                ))
            }
        };
        let probe = probe(&emulator, kvm).await?;
        let chosen = pick_machine(&probe.machines, machine.as_deref()).ok_or_else(|| {
            Error::invalid_arg(
                ErrorDomain::QEMU,
                format!(
                    "the machine '{}' is not supported by emulator '{}'",
                    machine.as_deref().unwrap_or_default(),
                    emulator.display()
                ),
            )
        })?;
        let name = chosen
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let request = Request {
            emulator: &emulator,
            virt_type: if kvm { "kvm" } else { "qemu" },
            q35: name.contains("q35"),
            machine: &name,
            cpu_max: chosen.get("cpu-max").and_then(Value::as_u64).unwrap_or(1),
            kvm,
        };
        Ok(render(&request, &probe))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_globs_match_machine_versions() {
        assert!(glob_match("pc-q35-*", "pc-q35-7.2"));
        assert!(glob_match("pc-i440fx-*", "pc-i440fx-7.2"));
        assert!(!glob_match("pc-q35-*", "pc-i440fx-7.2"));
        assert!(glob_match("*", "anything"));
    }

    #[test]
    fn qmp_script_answers_are_taken_in_order() {
        let out =
            "{\"QMP\":{}}\n{\"return\":{}}\n{\"event\":\"X\"}\n{\"return\":[1]}\n{\"error\":{}}\n";
        assert_eq!(qmp_returns(out), vec![json!({}), json!([1]), Value::Null]);
    }

    #[test]
    fn display_help_lists_backends() {
        let text = "Available display backend types:\nnone\ngtk\nsdl\negl-headless\ndbus\n";
        let got = parse_displays(text);
        assert!(got.contains("sdl") && got.contains("dbus") && got.contains("none"));
    }

    #[test]
    fn descriptors_give_loaders_per_machine() {
        let dir = tempfile::tempdir().unwrap();
        let desc = |file: &str, machines: &str, secure: bool| {
            let features = if secure {
                "\"secure-boot\""
            } else {
                "\"acpi-s3\""
            };
            std::fs::write(
                dir.path().join(file),
                format!(
                    "{{\"interface-types\":[\"uefi\"],\"mapping\":{{\"device\":\"flash\",\"executable\":\
                     {{\"filename\":\"/fw/{file}.fd\"}}}},\"targets\":[{{\"architecture\":\"x86_64\",\
                     \"machines\":[{machines}]}}],\"features\":[{features}]}}"
                ),
            )
            .unwrap();
        };
        desc("50-secure.json", "\"pc-q35-*\"", true);
        desc("60-plain.json", "\"pc-i440fx-*\",\"pc-q35-*\"", false);
        assert_eq!(
            firmware_loaders(dir.path(), "pc-i440fx-7.2"),
            vec![("/fw/60-plain.json.fd".to_string(), false)]
        );
        assert_eq!(firmware_loaders(dir.path(), "pc-q35-7.2").len(), 2);
    }
}
