//! Devices beyond a bare VM on QEMU's command line: controllers (USB models, SCSI models, virtio-serial, SATA),
//! virtio consoles and channels on a virtio-serial bus (a channel's unix socket under the run dir, its path
//! generated when the definition names none, removed at stop), SCSI disk addressing, input devices, and the
//! `bus=pci.0,addr=` of devices with a PCI address. Anything the definition asks for that is not built here is
//! refused with libvirt's error, never dropped.

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{CharDevDef, DiskDef, DomainDef, InputDef};
use crate::xml::Node;
use std::path::{Path, PathBuf};

fn unsupported(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::CONFIG_UNSUPPORTED, ErrorDomain::QEMU, detail)
}

fn escape_opt(value: &str) -> String {
    value.replace(',', ",,")
}

fn attr<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A number in an address attribute, decimal or `0x` hex, as libvirt reads them.
fn number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The `<address>` among a device's kept children.
pub(super) fn address(children: &[Node]) -> Option<&Node> {
    children.iter().find(|c| c.name == "address")
}

/// `,bus=pci.0,addr=0xS[.0xF]` for a device with a PCI address on the root bus (libvirt's `qemuBuildDeviceAddressStr`);
/// empty for one without (QEMU picks the slot).
pub(super) fn pci_props(children: &[Node]) -> Result<String> {
    let Some(addr) = address(children).filter(|a| attr(a, "type") == Some("pci")) else {
        return Ok(String::new());
    };
    let field = |key: &str| attr(addr, key).map(number).unwrap_or(Some(0));
    let (Some(domain), Some(bus), Some(slot), Some(function)) = (
        field("domain"),
        field("bus"),
        field("slot"),
        field("function"),
    ) else {
        return Err(unsupported(
            "a PCI address has a field that is not a number",
        ));
    };
    if domain != 0 || bus > 255 {
        return Err(unsupported(format!(
            "PCI address domain {domain:#06x} bus {bus:#04x} is not supported"
        )));
    }
    if slot > 31 || function > 7 {
        return Err(unsupported(format!(
            "PCI address slot {slot:#x} function {function:#x} is out of range"
        )));
    }
    let function = if function == 0 {
        String::new()
    } else {
        format!(".{function:#x}")
    };
    let multi = if attr(addr, "multifunction") == Some("on") {
        ",multifunction=on"
    } else {
        ""
    };
    // The root bus is `pci.0` here; [`super::command::build_argv`] names it `pcie.0` on q35.
    Ok(format!(",bus=pci.{bus},addr={slot:#x}{function}{multi}"))
}

/// `,bus=..,multifunction=on,addr=..` as libvirt orders a root port's options (the same set as `pci`).
fn pci_with_multifunction_first(pci: &str) -> String {
    match pci.strip_suffix(",multifunction=on") {
        Some(rest) => match rest.split_once(",addr=") {
            Some((bus, addr)) => format!("{bus},multifunction=on,addr={addr}"),
            None => pci.to_string(),
        },
        None => pci.to_string(),
    }
}

/// Whether an argv already creates a device with this id.
pub(super) fn has_device_id(argv: &[String], id: &str) -> bool {
    let wanted = format!("id={id}");
    argv.windows(2)
        .any(|w| w[0] == "-device" && w[1].split(',').any(|p| p == wanted))
}

/// The QEMU device of a USB controller model (libvirt's names), `None` for `model='none'`.
fn usb_device(model: &str) -> Result<Option<&'static str>> {
    Ok(Some(match model {
        "piix3-uhci" => "piix3-usb-uhci",
        "piix4-uhci" => "piix4-usb-uhci",
        "ich9-ehci1" => "ich9-usb-ehci1",
        "ich9-uhci1" => "ich9-usb-uhci1",
        "ich9-uhci2" => "ich9-usb-uhci2",
        "ich9-uhci3" => "ich9-usb-uhci3",
        "nec-xhci" => "nec-usb-xhci",
        "qemu-xhci" => "qemu-xhci",
        "none" => return Ok(None),
        other => {
            return Err(unsupported(format!(
                "USB controller model '{other}' is not supported"
            )))
        }
    }))
}

/// The first port a UHCI companion of libvirt's USB2 set takes on its EHCI master when `<master startport>` does
/// not say; `None` for a controller that is no companion.
fn companion_first_port(model: &str) -> Option<u32> {
    match model {
        "ich9-uhci1" => Some(0),
        "ich9-uhci2" => Some(2),
        "ich9-uhci3" => Some(4),
        _ => None,
    }
}

/// The USB controller model a machine gets when the definition names none (libvirt's default).
pub(super) fn default_usb_model(q35: bool) -> &'static str {
    if q35 {
        "qemu-xhci"
    } else {
        "piix3-uhci"
    }
}

/// Whether USB is switched off (`<controller type='usb' model='none'>`).
pub(super) fn usb_disabled(def: &DomainDef) -> bool {
    def.devices
        .controllers
        .iter()
        .any(|c| c.controller_type == "usb" && c.model.as_deref() == Some("none"))
}

/// The SCSI controller model of controller `index` (libvirt's x86 default: lsilogic).
fn scsi_model(def: &DomainDef, index: u32) -> Option<&str> {
    def.devices
        .controllers
        .iter()
        .find(|c| c.controller_type == "scsi" && c.index == index)
        .map(|c| c.model.as_deref().unwrap_or("lsilogic"))
}

/// The `-device` options of the controllers a definition names (root buses and the machine's built-in IDE/SATA
/// need none).
pub(super) fn controller_args(def: &DomainDef, q35: bool, argv: &mut Vec<String>) -> Result<()> {
    // The PCI buses first, by index: the devices on them follow.
    let mut pci: Vec<&crate::model::ControllerDef> = def
        .devices
        .controllers
        .iter()
        .filter(|c| c.controller_type == "pci")
        .collect();
    pci.sort_by_key(|c| c.index);
    let others = def
        .devices
        .controllers
        .iter()
        .filter(|c| c.controller_type != "pci");
    for c in pci.into_iter().chain(others) {
        let model = c.model.as_deref();
        let pci = pci_props(&c.extra.children)?;
        let index = c.index;
        let device = match c.controller_type.as_str() {
            "pci" => match (model, q35, index) {
                (None | Some("pci-root"), false, 0) | (None | Some("pcie-root"), true, 0) => None,
                (Some("pcie-root-port"), true, 1..) => {
                    let target = c.extra.children.iter().find(|n| n.name == "target");
                    let field = |key: &str| target.and_then(|t| attr(t, key)).and_then(number);
                    let port = field("port").unwrap_or(0);
                    let chassis = field("chassis").unwrap_or(index);
                    // libvirt's order of the options: port and chassis before the address.
                    Some(format!(
                        "pcie-root-port,port={port},chassis={chassis},id=pci.{index}{}",
                        pci_with_multifunction_first(&pci)
                    ))
                }
                (Some("pcie-to-pci-bridge"), true, 1..) => {
                    Some(format!("pcie-pci-bridge,id=pci.{index}{pci}"))
                }
                (Some(model), _, _) => {
                    return Err(unsupported(format!(
                        "PCI controller model '{model}' with index {index} is not supported on this machine"
                    )))
                }
                (None, _, _) => {
                    return Err(unsupported(format!(
                        "PCI controller index {index} is not supported"
                    )))
                }
            },
            "ide" if q35 => {
                return Err(unsupported(
                    "IDE controllers are unsupported for this QEMU binary or machine type",
                ))
            }
            "ide" if index == 0 => None,
            "sata" if q35 && index == 0 => None,
            "sata" if index == 0 => Some(format!("ahci,id=sata0{pci}")),
            "usb" if index == 0 => {
                let model = model.unwrap_or(default_usb_model(q35));
                usb_device(model)?.map(|device| match companion_first_port(model) {
                    // A UHCI companion of the EHCI controller: its ports are the master's, it has no bus of its own.
                    Some(default_port) => {
                        let port = c
                            .extra
                            .children
                            .iter()
                            .find(|n| n.name == "master")
                            .and_then(|m| attr(m, "startport"))
                            .and_then(number)
                            .unwrap_or(default_port);
                        format!("{device},masterbus=usb.0,firstport={port}{pci}")
                    }
                    None => format!("{device},id=usb{pci}"),
                })
            }
            "scsi" => {
                let device = match model.unwrap_or("lsilogic") {
                    "virtio-scsi" => "virtio-scsi-pci",
                    "lsilogic" => "lsi",
                    other => {
                        return Err(unsupported(format!(
                            "Unsupported controller model: {other}"
                        )))
                    }
                };
                Some(format!("{device},id=scsi{index}{pci}"))
            }
            "virtio-serial" => Some(format!("virtio-serial-pci,id=virtio-serial{index}{pci}")),
            kind @ ("ide" | "sata" | "usb") => {
                return Err(unsupported(format!(
                    "{kind} controller index {index} is not supported (one controller, index 0)"
                )))
            }
            other => {
                return Err(unsupported(format!(
                    "controller type '{other}' is not supported by this QEMU driver"
                )))
            }
        };
        if let Some(device) = device {
            argv.extend(["-device".into(), device]);
        }
    }
    Ok(())
}

/// A SCSI disk's bus options: its `<address type='drive'>` (or the one its target's index gives) on the
/// controller's model (lsilogic: one LUN per SCSI id; virtio-scsi: LUNs of target 0).
pub(super) fn scsi_disk_props(def: &DomainDef, disk: &DiskDef, index: usize) -> Result<String> {
    let drive = address(&disk.extra.children).filter(|a| attr(a, "type") == Some("drive"));
    let field = |key: &str| drive.and_then(|a| attr(a, key)).and_then(number);
    let controller = field("controller").unwrap_or(0);
    let model = scsi_model(def, controller).unwrap_or("virtio-scsi");
    let unit = match field("unit") {
        Some(unit) => unit,
        None => u32::try_from(index).map_err(|_| unsupported("SCSI target index is too large"))?,
    };
    Ok(match model {
        "lsilogic" => {
            if unit > 6 {
                return Err(unsupported(format!(
                    "SCSI unit {unit} is beyond lsilogic's 7 units"
                )));
            }
            format!("bus=scsi{controller}.0,scsi-id={unit}")
        }
        _ => format!(
            "bus=scsi{controller}.0,channel=0,scsi-id={},lun={unit}",
            field("target").unwrap_or(0)
        ),
    })
}

/// `,port=N` of a device with a USB address (`<address type='usb' port='N'>`); empty for one without.
pub(super) fn usb_port(children: &[Node]) -> String {
    address(children)
        .filter(|a| attr(a, "type") == Some("usb"))
        .and_then(|a| attr(a, "port"))
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .map(|p| format!(",port={p}"))
        .unwrap_or_default()
}

/// The `-device` of one input (PS/2 ones come with the PC machine).
pub(super) fn input_device(input: &InputDef, index: usize) -> Result<Option<String>> {
    let kind = input.input_type.as_str();
    let pci = pci_props(&input.extra.children)?;
    Ok(match (kind, input.bus.as_deref()) {
        ("tablet", None | Some("ps2")) => {
            return Err(unsupported("ps2 bus does not support tablet input device"))
        }
        (_, None | Some("ps2")) => None,
        (_, Some("usb")) => {
            let device = match kind {
                "tablet" => "usb-tablet",
                "mouse" => "usb-mouse",
                _ => "usb-kbd",
            };
            Some(format!(
                "{device},id=input{index},bus=usb.0{}",
                usb_port(&input.extra.children)
            ))
        }
        (_, Some("virtio")) => {
            let device = match kind {
                "tablet" => "virtio-tablet-pci",
                "mouse" => "virtio-mouse-pci",
                _ => "virtio-keyboard-pci",
            };
            Some(format!("{device},id=input{index}{pci}"))
        }
        (kind, Some(bus)) => {
            return Err(unsupported(format!(
                "input '{kind}' on bus '{bus}' is not supported"
            )))
        }
    })
}

/// Whether a console sits on the virtio-serial bus.
pub(super) fn is_virtio_console(console: &CharDevDef) -> bool {
    console.target_type.as_deref() == Some("virtio")
}

/// The channels of a definition (kept whole by the model).
pub(super) fn channels(def: &DomainDef) -> impl Iterator<Item = &Node> {
    def.devices.others.iter().filter(|n| n.name == "channel")
}

/// Whether a definition has the QEMU guest agent's channel.
pub(super) fn has_agent_channel(def: &DomainDef) -> bool {
    channels(def).any(|n| {
        n.children
            .iter()
            .any(|c| c.name == "target" && attr(c, "name") == Some("org.qemu.guest_agent.0"))
    })
}

/// Where a running guest's channel sockets live, per guest (short, as unix socket paths are).
pub(super) fn channel_dir(run_dir: &Path, uuid: &uuid::Uuid) -> PathBuf {
    run_dir
        .join("channel")
        .join(uuid.simple().to_string().get(..12).unwrap_or("guest"))
}

/// Gives each unix channel of a definition about to start the socket path libvirt would generate when it names
/// none (`<source mode='bind' path=DIR/TARGETNAME>`); [`create_channel_dir`] makes the directory.
pub(super) fn prepare_channels(def: &mut DomainDef, run_dir: &Path) -> Result<()> {
    let dir = channel_dir(run_dir, &def.uuid);
    for (index, node) in def
        .devices
        .others
        .iter_mut()
        .filter(|n| n.name == "channel")
        .enumerate()
    {
        // A virtio channel starts with its port closed (libvirt's live `state`); VSERPORT_CHANGE updates it.
        if let Some(target) = node
            .children
            .iter_mut()
            .find(|c| c.name == "target" && attr(c, "type") == Some("virtio"))
        {
            target.attrs.retain(|(k, _)| k != "state");
            target.attrs.push(("state".into(), "disconnected".into()));
        }
        if attr(node, "type") != Some("unix") {
            continue;
        }
        let name = node
            .children
            .iter()
            .find(|c| c.name == "target")
            .and_then(|t| attr(t, "name"))
            .map(str::to_string)
            .unwrap_or_else(|| format!("channel{index}"));
        let source = match node.children.iter().position(|c| c.name == "source") {
            Some(at) => &mut node.children[at],
            None => {
                node.children.insert(
                    0,
                    Node {
                        name: "source".into(),
                        attrs: vec![("mode".into(), "bind".into())],
                        ..Node::default()
                    },
                );
                &mut node.children[0]
            }
        };
        if attr(source, "path").is_some() {
            continue;
        }
        if name.contains('/') || name.starts_with('.') {
            return Err(unsupported(format!("channel name '{name}' is not valid")));
        }
        let path = dir.join(&name);
        if path.as_os_str().len() > 107 {
            return Err(unsupported(format!(
                "channel socket path {} is too long for a unix socket",
                path.display()
            )));
        }
        if attr(source, "mode").is_none() {
            source.attrs.insert(0, ("mode".into(), "bind".into()));
        }
        source
            .attrs
            .push(("path".into(), path.to_string_lossy().into_owned()));
    }
    Ok(())
}

/// Creates the directory of a starting guest's generated channel sockets (when it has channels).
pub(super) fn create_channel_dir(run_dir: &Path, def: &DomainDef) -> Result<()> {
    if channels(def).next().is_none() {
        return Ok(());
    }
    let dir = channel_dir(run_dir, &def.uuid);
    crate::persist::create_private_dir(&dir).map_err(|e| {
        Error::system(
            ErrorDomain::QEMU,
            format!("cannot create {}", dir.display()),
            &e,
        )
    })
}

/// Removes a stopped guest's channel sockets.
pub(super) fn remove_channels(run_dir: &Path, uuid: &uuid::Uuid) {
    let dir = channel_dir(run_dir, uuid);
    if dir.is_dir() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn chardev_backend(kind: &str, path: Option<&str>, mode: Option<&str>, id: &str) -> Result<String> {
    Ok(match kind {
        "pty" => format!("pty,id={id}"),
        "null" => format!("null,id={id}"),
        "unix" => {
            let path = path.ok_or_else(|| unsupported("a unix channel needs a socket path"))?;
            let server = if mode == Some("connect") {
                ""
            } else {
                ",server=on,wait=off"
            };
            format!("socket,id={id},path={}{server}", escape_opt(path))
        }
        "file" => {
            let path = path.ok_or_else(|| unsupported("a file character device needs a path"))?;
            format!("file,id={id},path={},append=on", escape_opt(path))
        }
        other => {
            return Err(unsupported(format!(
                "character device type '{other}' is not supported"
            )))
        }
    })
}

/// The virtio consoles and channels: the virtio-serial controller they need (unless named), their chardevs and
/// ports. Port 0 of the bus belongs to the console; channels take the ports their addresses name, else 1, 2...
pub(super) fn virtio_serial_args(def: &DomainDef, argv: &mut Vec<String>) -> Result<()> {
    let consoles: Vec<(usize, &CharDevDef)> = def
        .devices
        .consoles
        .iter()
        .enumerate()
        .filter(|(_, c)| is_virtio_console(c))
        .collect();
    let channels: Vec<&Node> = channels(def).collect();
    if consoles.is_empty() && channels.is_empty() {
        return Ok(());
    }
    if !has_device_id(argv, "virtio-serial0") {
        argv.extend([
            "-device".into(),
            "virtio-serial-pci,id=virtio-serial0".into(),
        ]);
    }
    for (index, console) in consoles {
        let id = format!("charconsole{index}");
        argv.extend([
            "-chardev".into(),
            chardev_backend(&console.dev_type, console.source_path.as_deref(), None, &id)?,
        ]);
        argv.extend([
            "-device".into(),
            format!("virtconsole,chardev={id},id=console{index}"),
        ]);
    }
    let mut next_port = 1;
    for (index, node) in channels.into_iter().enumerate() {
        let target = node.children.iter().find(|c| c.name == "target");
        let target_type = target.and_then(|t| attr(t, "type"));
        if target_type != Some("virtio") {
            return Err(unsupported(format!(
                "channel target type '{}' is not supported (virtio only)",
                target_type.unwrap_or_default()
            )));
        }
        let source = node.children.iter().find(|c| c.name == "source");
        let kind = attr(node, "type").unwrap_or("pty");
        let id = format!("charchannel{index}");
        argv.extend([
            "-chardev".into(),
            chardev_backend(
                kind,
                source.and_then(|s| attr(s, "path")),
                source.and_then(|s| attr(s, "mode")),
                &id,
            )?,
        ]);
        let addr = address(&node.children).filter(|a| attr(a, "type") == Some("virtio-serial"));
        let controller = addr
            .and_then(|a| attr(a, "controller"))
            .and_then(number)
            .unwrap_or(0);
        let port = match addr.and_then(|a| attr(a, "port")).and_then(number) {
            Some(port) => port,
            None => next_port,
        };
        next_port = next_port.max(port + 1);
        let name = target
            .and_then(|t| attr(t, "name"))
            .map(|n| format!(",name={}", escape_opt(n)))
            .unwrap_or_default();
        argv.extend([
            "-device".into(),
            format!(
                "virtserialport,bus=virtio-serial{controller}.0,nr={port},chardev={id},id=channel{index}{name}"
            ),
        ]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(devices: &str) -> DomainDef {
        DomainDef::from_xml(
            &format!(
                "<domain type='qemu'><name>d</name><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>\
                 <memory>65536</memory><os><type>hvm</type></os><devices>{devices}</devices></domain>"
            ),
            true,
        )
        .unwrap()
    }

    #[test]
    fn channels_get_a_socket_under_the_run_dir() {
        let run = tempfile::tempdir().unwrap();
        let mut d = def("<console type='pty'><target type='virtio'/></console>\
             <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>");
        prepare_channels(&mut d, run.path()).unwrap();
        create_channel_dir(run.path(), &d).unwrap();
        let dir = channel_dir(run.path(), &d.uuid);
        assert!(dir.is_dir());
        let mut argv = Vec::new();
        virtio_serial_args(&d, &mut argv).unwrap();
        let path = dir.join("org.qemu.guest_agent.0");
        assert_eq!(
            argv,
            [
                "-device".to_string(),
                "virtio-serial-pci,id=virtio-serial0".into(),
                "-chardev".into(),
                "pty,id=charconsole0".into(),
                "-device".into(),
                "virtconsole,chardev=charconsole0,id=console0".into(),
                "-chardev".into(),
                format!("socket,id=charchannel0,path={},server=on,wait=off", path.display()),
                "-device".into(),
                "virtserialport,bus=virtio-serial0.0,nr=1,chardev=charchannel0,id=channel0,name=org.qemu.guest_agent.0"
                    .into(),
            ]
        );
        remove_channels(run.path(), &d.uuid);
        assert!(!dir.exists());
    }

    #[test]
    fn pci_addresses_become_bus_and_addr() {
        let d = def(
            "<controller type='scsi' index='0' model='virtio-scsi'>\
             <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/></controller>",
        );
        let mut argv = Vec::new();
        controller_args(&d, false, &mut argv).unwrap();
        assert_eq!(
            argv,
            ["-device", "virtio-scsi-pci,id=scsi0,bus=pci.0,addr=0x5"]
        );
    }

    #[test]
    fn unknown_controllers_are_refused() {
        let d = def("<controller type='ccid' index='0'/>");
        let err = controller_args(&d, false, &mut Vec::new()).unwrap_err();
        assert!(err.message.contains("controller type 'ccid'"), "{err}");
        let d = def("<controller type='usb' index='0' model='qemu-xhci'/>");
        let mut argv = Vec::new();
        controller_args(&d, false, &mut argv).unwrap();
        assert_eq!(argv, ["-device", "qemu-xhci,id=usb"]);
    }

    #[test]
    fn the_usb2_set_shares_a_slot_and_its_companions_use_the_ehci_ports() {
        // What virt-install writes for an i440fx guest (without a video, slot 2 is free).
        let mut d = def(
            "<controller type='usb' index='0' model='ich9-ehci1'/>\
             <controller type='usb' index='0' model='ich9-uhci1'><master startport='0'/></controller>\
             <controller type='usb' index='0' model='ich9-uhci2'><master startport='2'/></controller>\
             <controller type='usb' index='0' model='ich9-uhci3'><master startport='4'/></controller>",
        );
        super::super::defaults::assign_pci(&mut d);
        let mut argv = Vec::new();
        controller_args(&d, false, &mut argv).unwrap();
        assert_eq!(
            argv,
            [
                "-device",
                "ich9-usb-ehci1,id=usb,bus=pci.0,addr=0x2.0x7",
                "-device",
                "ich9-usb-uhci1,masterbus=usb.0,firstport=0,bus=pci.0,addr=0x2,multifunction=on",
                "-device",
                "ich9-usb-uhci2,masterbus=usb.0,firstport=2,bus=pci.0,addr=0x2.0x1",
                "-device",
                "ich9-usb-uhci3,masterbus=usb.0,firstport=4,bus=pci.0,addr=0x2.0x2",
            ]
        );
    }
}
