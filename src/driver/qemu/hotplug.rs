//! Device changes on a domain, as libvirt's qemu driver makes them: attach, detach and update of disks (virtio,
//! SCSI and USB; CD-ROM media) and NICs (bridged through a tap, or user networking), in the persistent definition
//! and live through QMP (`blockdev-add` + `device_add`; `device_del`, then QEMU's DEVICE_DELETED before the
//! backend goes), plus key presses (`send-key`).
//!
//! A live change that fails half-way is undone (no block node, netdev or tap is left behind); a removal QEMU has
//! not confirmed within libvirt's five seconds stays pending and completes when the event comes.

use super::*;
use crate::model::{parse_device, ControllerDef, DeviceDef, DiskDef, InterfaceDef};
use serde_json::Value;

mod nic_update;

/// How long a detach waits for QEMU to confirm the removal (libvirt's `qemuDomainRemoveDeviceWaitTime`).
const UNPLUG_WAIT: Duration = Duration::from_secs(5);
/// `VIR_DOMAIN_DEVICE_MODIFY_FORCE`: eject even a medium the guest locked.
const MODIFY_FORCE: u32 = 1 << 2;
/// `VIR_DOMAIN_SEND_KEY_MAX_KEYS`.
const SEND_KEY_MAX_KEYS: usize = 16;
/// libvirt's `virKeycodeSet` names, by number.
const KEYCODE_SETS: &[&str] = &[
    "linux", "xt", "atset1", "atset2", "atset3", "os_x", "xt_kbd", "usb", "win32", "qnum",
];

/// A removal QEMU was asked for (`device_del`) and has not confirmed yet.
pub(super) struct Unplug {
    uuid: Uuid,
    generation: u64,
    /// The QEMU device id.
    id: String,
    what: Removed,
}

/// What goes from the live definition and the host once QEMU confirms a removal.
#[derive(Clone)]
pub(super) enum Removed {
    Disk {
        target: String,
        node: Option<String>,
    },
    Nic {
        mac: String,
        netdev: String,
        tap: Option<String>,
    },
    /// A hot-plugged vCPU entity (`vcpu<N>`) holding this many vCPUs.
    Vcpus(u32),
}

/// Which definitions one change affects: the live one (with its run) and/or the persistent one.
pub(super) struct Impact {
    pub(super) handle: DomainRef,
    /// The run generation when the change reaches the running guest.
    pub(super) live: Option<u64>,
    pub(super) config: bool,
}

fn failed(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::OPERATION_FAILED, ErrorDomain::QEMU, detail)
}

fn unsupported(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::OPERATION_UNSUPPORTED, ErrorDomain::QEMU, detail)
}

fn missing(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::DEVICE_MISSING, ErrorDomain::QEMU, detail)
}

fn device_kind(device: &DeviceDef) -> &str {
    match device {
        DeviceDef::Disk(_) => "disk",
        DeviceDef::Interface(..) => "interface",
        DeviceDef::Controller(_) => "controller",
        DeviceDef::Other(name) => name,
    }
}

/// The bus libvirt gives a disk whose `<target>` names none, from the target's prefix.
fn fill_bus(disk: &mut DiskDef) {
    if disk.target_bus.is_none() {
        let bus = match disk.target_dev.get(..2) {
            Some("vd") => "virtio",
            Some("sd") => "scsi",
            Some("ub") => "usb",
            _ => "ide",
        };
        disk.target_bus = Some(bus.into());
    }
}

/// The bus a disk of a running definition sits on (what the command line gave a disk without one).
fn live_bus(disk: &DiskDef) -> String {
    disk.target_bus
        .clone()
        .unwrap_or_else(|| command::default_bus(disk))
}

/// The controller a disk bus needs, as QEMU device (driver, id) and as libvirt models it.
fn bus_controller(bus: &str) -> Option<(&'static str, &'static str, ControllerDef)> {
    let (driver, id, kind, model) = match bus {
        "scsi" => ("virtio-scsi-pci", "scsi0", "scsi", "virtio-scsi"),
        "usb" => ("piix3-usb-uhci", "usb", "usb", "piix3-uhci"),
        _ => return None,
    };
    Some((
        driver,
        id,
        ControllerDef {
            controller_type: kind.into(),
            index: 0,
            model: Some(model.into()),
            extra: Default::default(),
        },
    ))
}

/// The PCI place of a device hot-plugged into `live`: the one its own `<address>` gives, else a free one
/// (on q35 a root port or bridge slot; on i440fx QEMU's choice, `None`), written into `device`'s `bus`/`addr`.
/// An address the device already had stays in `children`; a chosen one is for the caller to record.
fn pci_place(
    live: &DomainDef,
    children: &[crate::xml::Node],
    pcie: bool,
    device: &mut Value,
) -> Result<Option<(u32, u32)>> {
    let (place, chosen) = match super::defaults::given_pci_place(children) {
        Some(place) => (Some(place), false),
        None => (super::defaults::hotplug_pci_place(live, pcie)?, true),
    };
    if let Some((bus, slot)) = place {
        device["bus"] = json!(if bus == 0 && super::defaults::is_q35(live) {
            "pcie.0".to_string()
        } else {
            format!("pci.{bus}")
        });
        device["addr"] = json!(format!("{slot:#x}"));
    }
    Ok(if chosen { place } else { None })
}

/// Adds the controller `bus` needs to `def` unless it has one (libvirt adds it as well).
fn add_controller(def: &mut DomainDef, bus: &str) {
    if let Some((_, _, controller)) = bus_controller(bus) {
        let present = def.devices.controllers.iter().any(|c| {
            c.controller_type == controller.controller_type && c.index == controller.index
        });
        if !present {
            def.devices.controllers.push(controller);
        }
    }
}

/// The interface of `def` the given one names: by MAC when its XML had one, else the only one of its type
/// (and bridge) (`virDomainNetFindIdx`).
fn find_nic(def: &DomainDef, iface: &InterfaceDef, mac_given: bool) -> Result<usize> {
    let matches: Vec<usize> = def
        .devices
        .interfaces
        .iter()
        .enumerate()
        .filter(|(_, nic)| {
            if mac_given {
                nic.mac.eq_ignore_ascii_case(&iface.mac)
            } else {
                nic.iface_type == iface.iface_type
                    && (iface.source.is_none() || nic.source == iface.source)
            }
        })
        .map(|(index, _)| index)
        .collect();
    match matches.as_slice() {
        [index] => Ok(*index),
        [] if mac_given => Err(missing(format!(
            "no device matching MAC address {} found",
            iface.mac
        ))),
        [] => Err(missing("no matching network device was found")),
        [first, ..] => Err(failed(format!(
            "multiple devices matching MAC address {} found",
            def.devices.interfaces[*first].mac
        ))),
    }
}

/// The ids of the devices QEMU holds under `/machine/peripheral` (those given an id).
async fn peripheral_ids(qmp: &QmpClient) -> Result<Vec<String>> {
    let list = qmp
        .execute("qom-list", Some(json!({ "path": "/machine/peripheral" })))
        .await
        .map_err(qmp_error)?;
    Ok(list
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|item| {
                    item["type"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("child<"))
                })
                .filter_map(|item| item["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

async fn qom_string(qmp: &QmpClient, id: &str, property: &str) -> Option<String> {
    let path = format!("/machine/peripheral/{id}");
    qmp.execute(
        "qom-get",
        Some(json!({ "path": path, "property": property })),
    )
    .await
    .ok()?
    .as_str()
    .map(str::to_string)
}

/// The format node of the medium in the drive of device `id` (`query-block`), if one is inserted.
async fn medium_node(qmp: &QmpClient, id: &str) -> Option<String> {
    let block = qmp.execute("query-block", None).await.ok()?;
    block.as_array()?.iter().find_map(|entry| {
        let qdev = entry["qdev"].as_str()?;
        let matches = qdev == id || qdev.split('/').any(|part| part == id);
        matches
            .then(|| entry["inserted"]["node-name"].as_str().map(str::to_string))
            .flatten()
    })
}

/// The next free `N` of libvirt's `libvirt-N-...` node names (one above the highest QEMU has).
async fn next_node_number(qmp: &QmpClient) -> usize {
    let nodes = qmp
        .execute("query-named-block-nodes", None)
        .await
        .unwrap_or_default();
    1 + nodes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["node-name"].as_str().and_then(command::node_number))
        .max()
        .unwrap_or(0)
}

/// The QEMU device and netdev ids of the NIC with this MAC.
async fn nic_ids(qmp: &QmpClient, mac: &str) -> Result<(String, String)> {
    for id in peripheral_ids(qmp).await? {
        if !id.starts_with("net") {
            continue;
        }
        if qom_string(qmp, &id, "mac")
            .await
            .is_some_and(|m| m.eq_ignore_ascii_case(mac))
        {
            let netdev = qom_string(qmp, &id, "netdev").await.unwrap_or_default();
            return Ok((id, netdev));
        }
    }
    Err(failed(format!(
        "QEMU has no device for the interface with MAC address {mac}"
    )))
}

/// A keycode of `codeset` as the XT-based number QEMU's `send-key` takes (libvirt's "qnum").
fn qnum(codeset: u32, code: u32) -> Result<u32> {
    let set = usize::try_from(codeset)
        .ok()
        .and_then(|i| KEYCODE_SETS.get(i))
        .ok_or_else(|| {
            Error::invalid_arg(ErrorDomain::QEMU, format!("unknown keycode set {codeset}"))
        })?;
    // Linux numbers the main block of keys (Esc to KP., F11, F12) as XT set 1 does.
    let same = match *set {
        "linux" => (1..=83).contains(&code) || code == 87 || code == 88,
        "xt" | "atset1" => (1..0x80).contains(&code),
        "qnum" => code > 0,
        _ => false,
    };
    if same {
        Ok(code)
    } else {
        Err(Error::internal(
            ErrorDomain::QEMU,
            format!("cannot translate keycode {code} of {set} codeset to qnum keycode"),
        ))
    }
}

impl Shared {
    /// Changes the live definition of run `generation` and saves its status; false when that run has ended.
    pub(super) fn edit_live(
        &self,
        uuid: Uuid,
        generation: u64,
        edit: impl FnOnce(&mut DomainDef),
    ) -> bool {
        let mut domains = self.domains();
        let Some(obj) = domains.get_mut(&uuid) else {
            return false;
        };
        if obj.run.as_ref().map(|r| r.generation) != Some(generation) {
            return false;
        }
        let Some(live) = obj.live.as_mut() else {
            return false;
        };
        edit(live);
        self.save_status_locked(obj);
        true
    }

    /// QEMU removed a device: a pending detach completes (the device leaves the live definition, its block node,
    /// netdev and tap go).
    pub(super) fn device_deleted(&self, uuid: Uuid, generation: u64, data: &serde_json::Value) {
        let Some(id) = data["device"].as_str() else {
            return;
        };
        let is_it = |u: &Unplug| u.uuid == uuid && u.generation == generation && u.id == id;
        // The request stays listed until the removal is complete: the detach waiting on it returns only once the
        // live definition and the host show the device gone.
        let Some(what) = self
            .unplugs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|u| is_it(u))
            .map(|u| u.what.clone())
        else {
            return;
        };
        tracing::info!(%uuid, device = id, "device removed");
        // Under the lock a run's end takes: either the run is still on and the tap is this device's to delete, or
        // the run's end deleted it with the others (and its name may already be another guest's).
        let stopping = self.stopping.lock().unwrap_or_else(|p| p.into_inner());
        let running = self.edit_live(uuid, generation, |live| match &what {
            Removed::Disk { target, .. } => live.devices.disks.retain(|d| &d.target_dev != target),
            Removed::Nic { mac, .. } => live
                .devices
                .interfaces
                .retain(|i| !i.mac.eq_ignore_ascii_case(mac)),
            Removed::Vcpus(count) => {
                live.current_vcpus = live.current_vcpus.saturating_sub(*count).max(1);
            }
        });
        if let (true, Removed::Nic { tap: Some(tap), .. }) = (running, &what) {
            self.host.unbind_guest_filters(std::slice::from_ref(tap));
            tap::delete(tap);
        }
        drop(stopping);
        self.unplugs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|u| !is_it(u));
        let (handle, qmp) = {
            let domains = self.domains();
            let Some(obj) = domains.get(&uuid) else {
                return;
            };
            let qmp = obj
                .run
                .as_ref()
                .filter(|r| r.generation == generation)
                .and_then(|r| r.qmp.clone());
            (obj.handle(), qmp)
        };
        // No subscriber is not an error.
        let _ = self.events.send(DomainEvent {
            domain: handle,
            event: 0,
            detail: 0,
            device_removed: Some(id.to_string()),
            metadata: None,
        });
        if let Some(qmp) = qmp {
            // The monitor task delivers this event: the backend is removed on a task of its own, not awaited here.
            tokio::spawn(async move {
                let result = match what {
                    Removed::Disk {
                        node: Some(node), ..
                    } => {
                        qmp.execute("blockdev-del", Some(json!({ "node-name": node })))
                            .await
                    }
                    Removed::Nic { netdev, .. } if !netdev.is_empty() => {
                        qmp.execute("netdev_del", Some(json!({ "id": netdev })))
                            .await
                    }
                    _ => return,
                };
                if let Err(err) = result {
                    tracing::warn!(%uuid, "cannot remove the backend of a removed device: {err}");
                }
            });
        }
    }
}

impl QemuDriver {
    /// Resolves `AFFECT_*` as libvirt's `virDomainObjUpdateModificationImpact` does.
    pub(super) fn change_impact(&self, dom: &DomainRef, flags: u32) -> Result<Impact> {
        let (handle, persistent, running) = self.find(dom)?;
        let mut live = flags & flags::AFFECT_LIVE != 0;
        let mut config = flags & flags::AFFECT_CONFIG != 0;
        if !live && !config {
            live = running.is_some();
            config = !live;
        }
        if live && running.is_none() {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "domain is not running",
            ));
        }
        if config && !persistent {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "transient domains do not have any persistent config",
            ));
        }
        Ok(Impact {
            handle,
            live: if live { running } else { None },
            config,
        })
    }

    pub(super) fn persistent_def(&self, handle: &DomainRef) -> Result<DomainDef> {
        self.domains()
            .get(&handle.uuid)
            .and_then(|o| o.persistent.clone())
            .ok_or_else(no_domain)
    }

    pub(super) fn live_def(&self, handle: &DomainRef) -> Result<DomainDef> {
        self.domains()
            .get(&handle.uuid)
            .and_then(|o| o.live.clone())
            .ok_or_else(|| not_running(&handle.name))
    }

    /// Checks and writes a changed persistent definition.
    fn commit_config(&self, handle: &DomainRef, def: DomainDef) -> Result<()> {
        self.shared.files.save_definition(&def)?;
        if let Some(obj) = self.domains().get_mut(&handle.uuid) {
            obj.persistent = Some(def);
        }
        Ok(())
    }

    pub(super) async fn attach_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "virDomainAttachDeviceFlags",
        )?;
        let mut device = parse_device(xml)?;
        if let DeviceDef::Interface(iface, _) = &mut device {
            super::defaults::nic_defaults(iface);
        }
        let _guard = self.shared.lifecycle.lock().await;
        let impact = self.change_impact(dom, flags)?;
        // The persistent change is prepared first, so a refusal there changes nothing live.
        let config = if impact.config {
            Some(self.config_attach(&impact.handle, device.clone())?)
        } else {
            None
        };
        if let Some(generation) = impact.live {
            match device {
                DeviceDef::Disk(disk) => {
                    self.attach_disk_live(&impact.handle, generation, *disk)
                        .await?
                }
                DeviceDef::Interface(iface, _) => {
                    self.attach_nic_live(&impact.handle, generation, iface)
                        .await?
                }
                other => {
                    return Err(unsupported(format!(
                        "live attach of device '{}' is not supported",
                        device_kind(&other)
                    )))
                }
            }
        }
        if let Some(def) = config {
            self.commit_config(&impact.handle, def)?;
        }
        Ok(())
    }

    fn config_attach(&self, handle: &DomainRef, device: DeviceDef) -> Result<DomainDef> {
        let mut def = self.persistent_def(handle)?;
        match device {
            DeviceDef::Disk(mut disk) => {
                if def.disk_by_target(&disk.target_dev).is_some() {
                    return Err(Error::operation_invalid(
                        ErrorDomain::QEMU,
                        format!("target {} already exists", disk.target_dev),
                    ));
                }
                fill_bus(&mut disk);
                add_controller(&mut def, disk.target_bus.as_deref().unwrap_or_default());
                def.devices.disks.push(*disk);
            }
            DeviceDef::Interface(iface, _) => {
                if def.interface_by_mac(&iface.mac).is_some() {
                    return Err(Error::operation_invalid(
                        ErrorDomain::QEMU,
                        format!("mac {} already exists", iface.mac),
                    ));
                }
                def.devices.interfaces.push(iface);
            }
            DeviceDef::Controller(controller) => {
                if def.devices.controllers.iter().any(|c| {
                    c.controller_type == controller.controller_type && c.index == controller.index
                }) {
                    return Err(Error::operation_invalid(
                        ErrorDomain::QEMU,
                        format!("controller index='{}' already exists", controller.index),
                    ));
                }
                def.devices.controllers.push(controller);
            }
            DeviceDef::Other(name) => {
                return Err(unsupported(format!(
                    "persistent attach of device '{name}' is not supported"
                )))
            }
        }
        self.check_definable(&def)?;
        Ok(def)
    }

    async fn attach_disk_live(
        &self,
        handle: &DomainRef,
        generation: u64,
        disk: DiskDef,
    ) -> Result<()> {
        let mut disk = disk;
        fill_bus(&mut disk);
        let live = self.live_def(handle)?;
        if live.disk_by_target(&disk.target_dev).is_some() {
            return Err(failed(format!("target {} already exists", disk.target_dev)));
        }
        let bus = disk.target_bus.clone().unwrap_or_default();
        let cdrom = match disk.device.as_str() {
            "disk" => false,
            "cdrom" => true,
            other => {
                return Err(unsupported(format!(
                    "disk device='{other}' cannot be hotplugged."
                )))
            }
        };
        let driver = match (bus.as_str(), cdrom) {
            ("virtio", false) => "virtio-blk-pci",
            ("scsi", false) => "scsi-hd",
            ("scsi", true) => "scsi-cd",
            ("usb", false) => "usb-storage",
            _ => {
                return Err(unsupported(format!(
                    "disk bus '{bus}' cannot be hotplugged."
                )))
            }
        };
        if disk.source.is_none() {
            return Err(Error::with_detail(
                ErrorCode::CONFIG_UNSUPPORTED,
                ErrorDomain::QEMU,
                format!("disk '{}' has no source", disk.target_dev),
            ));
        }
        let qmp = self.monitor(handle)?;
        let (node, storage) = command::node_names(next_node_number(&qmp).await);
        if let Some(name) = super::alias::disk_alias_in(&live, &disk) {
            super::alias::set_if_absent(&mut disk.extra.children, &name);
        }
        let id = super::alias::disk_id(&live, &disk);
        let blockdev: Value =
            serde_json::from_str(&command::blockdev_json(&disk, (&node, &storage), cdrom)?)
                .map_err(|e| Error::internal(ErrorDomain::QEMU, e.to_string()))?;
        let mut device = json!({ "driver": driver, "drive": node, "id": id });
        let place = if bus == "virtio" {
            pci_place(&live, &disk.extra.children, true, &mut device)?
        } else {
            None
        };
        match bus.as_str() {
            "scsi" => {
                let lun = command::target_index(&disk.target_dev).ok_or_else(|| {
                    Error::with_detail(
                        ErrorCode::CONFIG_UNSUPPORTED,
                        ErrorDomain::QEMU,
                        format!("disk target '{}' is not valid", disk.target_dev),
                    )
                })?;
                device["bus"] = json!("scsi0.0");
                device["channel"] = json!(0);
                device["scsi-id"] = json!(0);
                device["lun"] = json!(lun);
            }
            "usb" => device["bus"] = json!("usb.0"),
            _ => {}
        }
        if let Some((driver, id, _)) = bus_controller(&bus) {
            if !peripheral_ids(&qmp).await?.iter().any(|p| p == id) {
                qmp.execute("device_add", Some(json!({ "driver": driver, "id": id })))
                    .await
                    .map_err(qmp_error)?;
                // The controller stays (as in libvirt), so the live definition shows it from now on.
                self.shared
                    .edit_live(handle.uuid, generation, |live| add_controller(live, &bus));
            }
        }
        qmp.execute("blockdev-add", Some(blockdev))
            .await
            .map_err(qmp_error)?;
        if let Err(err) = qmp.execute("device_add", Some(device)).await {
            let _ = qmp
                .execute("blockdev-del", Some(json!({ "node-name": node })))
                .await;
            return Err(qmp_error(err));
        }
        if let Some(place) = place {
            disk.extra
                .children
                .push(super::defaults::hotplug_pci_address(place));
        }
        tracing::info!(domain = %handle.name, target = %disk.target_dev, "disk attached");
        self.shared.edit_live(handle.uuid, generation, |live| {
            live.devices.disks.push(disk)
        });
        Ok(())
    }

    async fn attach_nic_live(
        &self,
        handle: &DomainRef,
        generation: u64,
        iface: InterfaceDef,
    ) -> Result<()> {
        let mut iface = iface;
        let live = self.live_def(handle)?;
        if live.interface_by_mac(&iface.mac).is_some() {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                format!("mac {} already exists", iface.mac),
            ));
        }
        let bridge = match iface.iface_type.as_str() {
            "bridge" => iface.source.clone(),
            "network" => {
                self.join_network(&mut iface).await?;
                command::bridge_name(&iface).map(str::to_string)
            }
            "user" => None,
            other => {
                return Err(unsupported(format!(
                    "hotplug of interface type of {other} is not implemented yet"
                )))
            }
        };
        let model = command::nic_device(&iface)?;
        let qmp = self.monitor(handle)?;
        let taken = peripheral_ids(&qmp).await?;
        let index = (0u32..)
            .find(|n| !taken.contains(&format!("net{n}")))
            .unwrap_or_default();
        let (id, netdev) = (format!("net{index}"), format!("hostnet{index}"));
        let mut backend = json!({ "type": "user", "id": netdev });
        let mut tap_made = None;
        if let Some(bridge) = bridge {
            let name = iface
                .target_dev
                .take()
                .filter(|name| !name.starts_with(tap::AUTO_PREFIX))
                .unwrap_or_else(|| tap::free_name(&bridged_taps(&live)));
            if !tap::valid_name(&name) {
                return Err(Error::with_detail(
                    ErrorCode::CONFIG_UNSUPPORTED,
                    ErrorDomain::QEMU,
                    format!("interface target '{name}' is not a valid network interface name"),
                ));
            }
            tap::create(&name, &iface.mac, &bridge).await?;
            backend = json!({
                "type": "tap", "id": netdev, "ifname": name, "script": "no", "downscript": "no",
            });
            if model == "virtio-net-pci" && tap::vhost_net_usable() {
                backend["vhost"] = json!(true);
            }
            iface.target_dev = Some(name.clone());
            tap_made = Some(name);
        }
        let undo_tap = |tap_made: &Option<String>| {
            if let Some(name) = tap_made {
                self.shared
                    .host
                    .unbind_guest_filters(std::slice::from_ref(name));
                tap::delete(name);
            }
        };
        // The NIC's filter is enforced on its port before the guest can send through it (as at start).
        if iface.filterref.is_some() && tap_made.is_some() {
            let mut one = live.clone();
            one.devices.interfaces = vec![iface.clone()];
            if let Err(err) = self.shared.host.bind_guest_filters(&one) {
                undo_tap(&tap_made);
                return Err(err);
            }
        }
        if let Err(err) = qmp.execute("netdev_add", Some(backend)).await {
            undo_tap(&tap_made);
            return Err(qmp_error(err));
        }
        let mut device = json!({ "driver": model, "netdev": netdev, "id": id, "mac": iface.mac });
        let pcie = matches!(model, "virtio-net-pci" | "e1000e");
        let place = match pci_place(&live, &iface.extra.children, pcie, &mut device) {
            Ok(place) => place,
            Err(err) => {
                let _ = qmp
                    .execute("netdev_del", Some(json!({ "id": netdev })))
                    .await;
                undo_tap(&tap_made);
                return Err(err);
            }
        };
        if let Err(err) = qmp.execute("device_add", Some(device)).await {
            let _ = qmp
                .execute("netdev_del", Some(json!({ "id": netdev })))
                .await;
            undo_tap(&tap_made);
            return Err(qmp_error(err));
        }
        if let Some(place) = place {
            iface
                .extra
                .children
                .push(super::defaults::hotplug_pci_address(place));
        }
        tracing::info!(domain = %handle.name, mac = %iface.mac, "interface attached");
        super::alias::set_if_absent(&mut iface.extra.children, &id);
        let recorded = self.shared.edit_live(handle.uuid, generation, |live| {
            live.devices.interfaces.push(iface)
        });
        if !recorded {
            // The guest stopped meanwhile; its end removed only the taps its definition listed.
            undo_tap(&tap_made);
        }
        Ok(())
    }

    pub(super) async fn detach_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "virDomainDetachDeviceFlags",
        )?;
        let device = parse_device(xml)?;
        let _guard = self.shared.lifecycle.lock().await;
        self.detach_locked(dom, device, flags).await
    }

    async fn detach_locked(&self, dom: &DomainRef, device: DeviceDef, flags: u32) -> Result<()> {
        let impact = self.change_impact(dom, flags)?;
        let config = if impact.config {
            Some(self.config_detach(&impact.handle, &device)?)
        } else {
            None
        };
        if let Some(generation) = impact.live {
            self.detach_live(&impact.handle, generation, &device)
                .await?;
        }
        if let Some(def) = config {
            self.commit_config(&impact.handle, def)?;
        }
        Ok(())
    }

    fn config_detach(&self, handle: &DomainRef, device: &DeviceDef) -> Result<DomainDef> {
        let mut def = self.persistent_def(handle)?;
        match device {
            DeviceDef::Disk(disk) => {
                let before = def.devices.disks.len();
                def.devices
                    .disks
                    .retain(|d| d.target_dev != disk.target_dev);
                if def.devices.disks.len() == before {
                    return Err(missing(format!("no target device {}", disk.target_dev)));
                }
            }
            DeviceDef::Interface(iface, mac_given) => {
                let index = find_nic(&def, iface, *mac_given)?;
                def.devices.interfaces.remove(index);
            }
            other => {
                return Err(unsupported(format!(
                    "persistent detach of device '{}' is not supported",
                    device_kind(other)
                )))
            }
        }
        Ok(def)
    }

    async fn detach_live(
        &self,
        handle: &DomainRef,
        generation: u64,
        device: &DeviceDef,
    ) -> Result<()> {
        let live = self.live_def(handle)?;
        let (id, what) = match device {
            DeviceDef::Disk(wanted) => {
                let disk = live
                    .disk_by_target(&wanted.target_dev)
                    .ok_or_else(|| missing(format!("disk {} not found", wanted.target_dev)))?;
                let bus = live_bus(disk);
                if !matches!(bus.as_str(), "virtio" | "scsi" | "usb") {
                    return Err(unsupported(format!(
                        "disk bus '{bus}' cannot be hotunplugged."
                    )));
                }
                let id = super::alias::disk_id(&live, disk);
                let node = match disk.source {
                    Some(_) => medium_node(&*self.monitor(handle)?, &id).await,
                    None => None,
                };
                (
                    id,
                    Removed::Disk {
                        target: disk.target_dev.clone(),
                        node,
                    },
                )
            }
            DeviceDef::Interface(wanted, mac_given) => {
                let nic = &live.devices.interfaces[find_nic(&live, wanted, *mac_given)?];
                let qmp = self.monitor(handle)?;
                let (id, netdev) = nic_ids(&qmp, &nic.mac).await?;
                let tap = command::bridge_name(nic).and(nic.target_dev.clone());
                (
                    id,
                    Removed::Nic {
                        mac: nic.mac.clone(),
                        netdev,
                        tap,
                    },
                )
            }
            other => {
                return Err(unsupported(format!(
                    "live detach of device '{}' is not supported",
                    device_kind(other)
                )))
            }
        };
        self.unplug(handle, generation, id, what).await
    }

    /// Asks QEMU to remove device `id` and waits a while for it to confirm; the live definition changes when it
    /// does (see [`Shared::device_deleted`]).
    async fn unplug(
        &self,
        handle: &DomainRef,
        generation: u64,
        id: String,
        what: Removed,
    ) -> Result<()> {
        self.request_unplug(handle, generation, id, what)
            .await
            .map(|_| ())
    }

    /// Asks QEMU to remove device `id` and waits a while for it to confirm; `Ok(false)` when the guest has not
    /// released it by then (the removal still completes if it does later).
    pub(super) async fn request_unplug(
        &self,
        handle: &DomainRef,
        generation: u64,
        id: String,
        what: Removed,
    ) -> Result<bool> {
        let qmp = self.monitor(handle)?;
        let uuid = handle.uuid;
        {
            let mut unplugs = self
                .shared
                .unplugs
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            // Requests of an earlier run of this domain can never complete.
            unplugs.retain(|u| u.uuid != uuid || u.generation == generation);
            unplugs.retain(|u| !(u.uuid == uuid && u.id == id));
            unplugs.push(Unplug {
                uuid,
                generation,
                id: id.clone(),
                what,
            });
        }
        let pending = || {
            self.shared
                .unplugs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .any(|u| u.uuid == uuid && u.id == id)
        };
        if let Err(err) = qmp.execute("device_del", Some(json!({ "id": id }))).await {
            self.shared
                .unplugs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|u| !(u.uuid == uuid && u.id == id));
            return Err(super::monitor::command_error(err));
        }
        let deadline = tokio::time::Instant::now() + UNPLUG_WAIT;
        while pending() {
            if tokio::time::Instant::now() >= deadline {
                tracing::info!(domain = %handle.name, device = %id, "removal requested, not yet confirmed");
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(true)
    }

    pub(super) async fn detach_device_alias(
        &self,
        dom: &DomainRef,
        alias: &str,
        flags: u32,
    ) -> Result<()> {
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "virDomainDetachDeviceAlias",
        )?;
        let _guard = self.shared.lifecycle.lock().await;
        let (handle, _, running) = self.find(dom)?;
        // The aliases the definition shows (libvirt's names, the user's `ua-` ones), then QEMU's device ids:
        // `disk-<target>` for disks, `netN` for NICs (found by their MAC).
        let shown = match running {
            Some(_) => self.live_def(&handle).ok(),
            None => self.persistent_def(&handle).ok(),
        };
        let named = shown.as_ref().and_then(|def| {
            if let Some(target) = super::alias::disk_target(def, alias) {
                return def
                    .disk_by_target(&target)
                    .map(|disk| DeviceDef::Disk(Box::new(disk.clone())));
            }
            let mac = super::alias::nic_mac(def, alias)?;
            def.interface_by_mac(&mac)
                .cloned()
                .map(|nic| DeviceDef::Interface(nic, true))
        });
        let device = if named.is_some() {
            named
        } else if let Some(target) = alias.strip_prefix("disk-") {
            let def = match running {
                Some(_) => self.live_def(&handle)?,
                None => self.persistent_def(&handle)?,
            };
            def.disk_by_target(target)
                .map(|disk| DeviceDef::Disk(Box::new(disk.clone())))
        } else if alias.starts_with("net") && running.is_some() {
            let qmp = self.monitor(&handle)?;
            match qom_string(&qmp, alias, "mac").await {
                Some(mac) => self
                    .live_def(&handle)?
                    .interface_by_mac(&mac)
                    .cloned()
                    .map(|nic| DeviceDef::Interface(nic, true)),
                None => None,
            }
        } else {
            None
        };
        let device =
            device.ok_or_else(|| missing(format!("no device found with alias {alias}")))?;
        self.detach_locked(&handle, device, flags).await
    }

    pub(super) async fn update_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        check_flags(
            flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | MODIFY_FORCE,
            "virDomainUpdateDeviceFlags",
        )?;
        let device = parse_device(xml)?;
        let _guard = self.shared.lifecycle.lock().await;
        let impact = self.change_impact(dom, flags)?;
        let device = match device {
            DeviceDef::Interface(nic, mac_given) => {
                return self.update_interface(&impact, nic, mac_given)
            }
            other => other,
        };
        let DeviceDef::Disk(disk) = device else {
            let scope = if impact.live.is_some() {
                "live"
            } else {
                "persistent"
            };
            return Err(unsupported(format!(
                "{scope} update of device '{}' is not supported",
                device_kind(&device)
            )));
        };
        let config = if impact.config {
            let mut def = self.persistent_def(&impact.handle)?;
            let orig = def
                .devices
                .disks
                .iter_mut()
                .find(|d| d.target_dev == disk.target_dev)
                .ok_or_else(|| missing(format!("target {} doesn't exist.", disk.target_dev)))?;
            orig.source.clone_from(&disk.source);
            if disk.driver_type.is_some() {
                orig.driver_type.clone_from(&disk.driver_type);
            }
            self.check_definable(&def)?;
            Some(def)
        } else {
            None
        };
        if let Some(generation) = impact.live {
            self.change_media(&impact.handle, generation, *disk, flags & MODIFY_FORCE != 0)
                .await?;
        }
        if let Some(def) = config {
            self.commit_config(&impact.handle, def)?;
        }
        Ok(())
    }

    /// Ejects a CD-ROM's medium and/or inserts another (`blockdev-open-tray`, `-remove-medium`, `-insert-medium`).
    async fn change_media(
        &self,
        handle: &DomainRef,
        generation: u64,
        disk: DiskDef,
        force: bool,
    ) -> Result<()> {
        let live = self.live_def(handle)?;
        let orig = live.disk_by_target(&disk.target_dev).ok_or_else(|| {
            Error::internal(
                ErrorDomain::QEMU,
                format!("disk '{}' not found", disk.target_dev),
            )
        })?;
        if orig.device != "cdrom" {
            if orig.source == disk.source {
                return Ok(());
            }
            return Err(unsupported(
                "disk source can be changed only in removable media",
            ));
        }
        let mut new = orig.clone();
        new.source.clone_from(&disk.source);
        if disk.driver_type.is_some() {
            new.driver_type.clone_from(&disk.driver_type);
        }
        let id = super::alias::disk_id(&live, orig);
        let qmp = self.monitor(handle)?;
        let old_node = medium_node(&qmp, &id).await;
        let (node, storage) = command::node_names(next_node_number(&qmp).await);
        let blockdev: Option<Value> = match new.source {
            Some(_) => Some(
                serde_json::from_str(&command::blockdev_json(&new, (&node, &storage), true)?)
                    .map_err(|e| Error::internal(ErrorDomain::QEMU, e.to_string()))?,
            ),
            None => None,
        };
        qmp.execute(
            "blockdev-open-tray",
            Some(json!({ "id": id, "force": force })),
        )
        .await
        .map_err(qmp_error)?;
        if orig.source.is_some() {
            qmp.execute("blockdev-remove-medium", Some(json!({ "id": id })))
                .await
                .map_err(qmp_error)?;
            if let Some(old_node) = &old_node {
                let _ = qmp
                    .execute("blockdev-del", Some(json!({ "node-name": old_node })))
                    .await;
            }
            // From here the drive is empty, whatever happens to the new medium.
            self.shared.edit_live(handle.uuid, generation, |live| {
                if let Some(d) = live
                    .devices
                    .disks
                    .iter_mut()
                    .find(|d| d.target_dev == new.target_dev)
                {
                    d.source = None;
                }
            });
        }
        if let Some(blockdev) = blockdev {
            qmp.execute("blockdev-add", Some(blockdev))
                .await
                .map_err(qmp_error)?;
            let inserted = qmp
                .execute(
                    "blockdev-insert-medium",
                    Some(json!({ "id": id, "node-name": node })),
                )
                .await;
            if let Err(err) = inserted {
                let _ = qmp
                    .execute("blockdev-del", Some(json!({ "node-name": node })))
                    .await;
                return Err(qmp_error(err));
            }
            qmp.execute("blockdev-close-tray", Some(json!({ "id": id })))
                .await
                .map_err(qmp_error)?;
        }
        tracing::info!(domain = %handle.name, target = %new.target_dev, source = ?new.source, "medium changed");
        self.shared.edit_live(handle.uuid, generation, |live| {
            if let Some(d) = live
                .devices
                .disks
                .iter_mut()
                .find(|d| d.target_dev == new.target_dev)
            {
                *d = new;
            }
        });
        Ok(())
    }

    pub(super) async fn send_key(
        &self,
        dom: &DomainRef,
        (codeset, holdtime, keycodes): (u32, u32, &[u32]),
        flags: u32,
    ) -> Result<()> {
        check_flags(flags, 0, "virDomainSendKey")?;
        if keycodes.is_empty() || keycodes.len() > SEND_KEY_MAX_KEYS {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!("nkeycodes must be between 1 and {SEND_KEY_MAX_KEYS}"),
            ));
        }
        let keys = keycodes
            .iter()
            .map(|&code| Ok(json!({ "type": "number", "data": qnum(codeset, code)? })))
            .collect::<Result<Vec<Value>>>()?;
        let (handle, _) = self.running_generation(dom)?;
        let qmp = self.monitor(&handle)?;
        let mut arguments = json!({ "keys": keys });
        if holdtime > 0 {
            arguments["hold-time"] = json!(holdtime);
        }
        qmp.execute("send-key", Some(arguments))
            .await
            .map_err(qmp_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_and_xt_keycodes_become_qnum() {
        assert_eq!(qnum(0, 30).unwrap(), 30);
        assert_eq!(qnum(0, 88).unwrap(), 88);
        assert_eq!(qnum(1, 0x1c).unwrap(), 0x1c);
        assert_eq!(qnum(9, 0x9c).unwrap(), 0x9c);
        let err = qnum(0, 200).unwrap_err();
        assert!(err
            .to_string()
            .contains("cannot translate keycode 200 of linux codeset"));
        assert!(qnum(7, 4).is_err());
        assert!(qnum(42, 4).is_err());
    }

    #[test]
    fn disks_get_libvirts_default_bus() {
        for (target, bus) in [
            ("vdb", "virtio"),
            ("sdb", "scsi"),
            ("hdc", "ide"),
            ("uba", "usb"),
        ] {
            let mut disk = DiskDef {
                target_dev: target.into(),
                ..DiskDef::default()
            };
            fill_bus(&mut disk);
            assert_eq!(disk.target_bus.as_deref(), Some(bus));
        }
    }

    #[test]
    fn nics_are_found_by_mac_or_by_type() {
        let mut def = DomainDef::default();
        for mac in ["52:54:00:00:00:01", "52:54:00:00:00:02"] {
            def.devices.interfaces.push(InterfaceDef {
                iface_type: "bridge".into(),
                mac: mac.into(),
                source: Some("br0".into()),
                ..InterfaceDef::default()
            });
        }
        let wanted = InterfaceDef {
            iface_type: "bridge".into(),
            mac: "52:54:00:00:00:02".into(),
            ..InterfaceDef::default()
        };
        assert_eq!(find_nic(&def, &wanted, true).unwrap(), 1);
        let err = find_nic(&def, &wanted, false).unwrap_err();
        assert!(err.to_string().contains("multiple devices"));
        let other = InterfaceDef {
            mac: "52:54:00:00:00:09".into(),
            ..wanted
        };
        assert_eq!(
            find_nic(&def, &other, true).unwrap_err().code,
            ErrorCode::DEVICE_MISSING
        );
    }
}
