//! The per-guest DMTF model: from one domain definition its `KVM_VirtualSystemSettingData`, its RASDs and its
//! logical devices, with libvirt-CIM's key formats (REPORT §1.2), and the pool each resource is allocated from.
//! Every provider that shows a guest (settings, devices, associations, the host's pools and the methods that
//! define or change guests) builds on these functions, so one domain always yields the same keys everywhere.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use super::{summaries_in_memory, HeldPieces, Piece, PieceKey, Pieces};
use crate::cim::{
    builtin_repository, CimType, Class, Instance, Name, ObjectPath, Repository, Value,
};
use crate::driver::{every_domain, Connection, DomainRef, VolumeRef};
use crate::error::ErrorCode;
use crate::model::{DiskDef, DomainDef, InterfaceDef};
use crate::wbem::error::OpError;

pub use super::computer_system::{computer_system_path, CS_CLASS};

pub const NAMESPACE: &str = "root/virt";
pub const VSSD_CLASS: &str = "KVM_VirtualSystemSettingData";
/// libvirt-CIM's VirtualSystemType and the prefix of VSSD InstanceIDs.
pub const VIRTUAL_SYSTEM_TYPE: &str = "KVM";
/// libvirt-CIM reports memory devices in blocks of this many bytes.
pub const MEMORY_BLOCK_SIZE: u64 = 4096;

/// The kinds of virtual resources a guest has: one RASD class and one device class each.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ResourceKind {
    Processor,
    Memory,
    Disk,
    Network,
    Graphics,
    Input,
    Console,
    Controller,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 8] = [
        ResourceKind::Processor,
        ResourceKind::Memory,
        ResourceKind::Disk,
        ResourceKind::Network,
        ResourceKind::Graphics,
        ResourceKind::Input,
        ResourceKind::Console,
        ResourceKind::Controller,
    ];

    pub fn rasd_class(self) -> &'static str {
        match self {
            ResourceKind::Processor => "KVM_ProcResourceAllocationSettingData",
            ResourceKind::Memory => "KVM_MemResourceAllocationSettingData",
            ResourceKind::Disk => "KVM_DiskResourceAllocationSettingData",
            ResourceKind::Network => "KVM_NetResourceAllocationSettingData",
            ResourceKind::Graphics => "KVM_GraphicsResourceAllocationSettingData",
            ResourceKind::Input => "KVM_InputResourceAllocationSettingData",
            ResourceKind::Console => "KVM_ConsoleResourceAllocationSettingData",
            ResourceKind::Controller => "KVM_ControllerResourceAllocationSettingData",
        }
    }

    pub fn device_class(self) -> &'static str {
        match self {
            ResourceKind::Processor => "KVM_Processor",
            ResourceKind::Memory => "KVM_Memory",
            ResourceKind::Disk => "KVM_LogicalDisk",
            ResourceKind::Network => "KVM_NetworkPort",
            ResourceKind::Graphics => "KVM_DisplayController",
            ResourceKind::Input => "KVM_PointingDevice",
            ResourceKind::Console => "KVM_ConsoleDisplayController",
            ResourceKind::Controller => "KVM_Controller",
        }
    }

    /// The RASD ResourceType libvirt-CIM reports (consoles and controllers are 1 "Other" with
    /// OtherResourceType).
    pub fn resource_type(self) -> u16 {
        match self {
            ResourceKind::Processor => 3,
            ResourceKind::Memory => 4,
            ResourceKind::Disk => 17,
            ResourceKind::Network => 10,
            ResourceKind::Graphics => 24,
            ResourceKind::Input => 13,
            ResourceKind::Console | ResourceKind::Controller => 1,
        }
    }

    pub fn from_rasd_class(name: &str) -> Option<ResourceKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.rasd_class().eq_ignore_ascii_case(name))
    }

    pub fn from_device_class(name: &str) -> Option<ResourceKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.device_class().eq_ignore_ascii_case(name))
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// Whether building this kind's instances needs the host's pools and networks ([`HostIndex`]).
    pub fn needs_host_index(self) -> bool {
        matches!(self, ResourceKind::Disk | ResourceKind::Network)
    }
}

/// `KVM:<domain>`, the VSSD InstanceID.
pub fn vssd_instance_id(domain: &str) -> String {
    let mut id = String::with_capacity(VIRTUAL_SYSTEM_TYPE.len() + 1 + domain.len());
    id.push_str(VIRTUAL_SYSTEM_TYPE);
    id.push(':');
    id.push_str(domain);
    id
}

/// The domain a VSSD InstanceID names.
pub fn domain_of_vssd_id(instance_id: &str) -> Option<&str> {
    let (prefix, name) = instance_id.split_once(':')?;
    (prefix.eq_ignore_ascii_case(VIRTUAL_SYSTEM_TYPE) && !name.is_empty()).then_some(name)
}

/// `<domain>/<devid>`, the RASD InstanceID and the device DeviceID.
pub fn fq_devid(domain: &str, devid: &str) -> String {
    let mut id = String::with_capacity(domain.len() + 1 + devid.len());
    id.push_str(domain);
    id.push('/');
    id.push_str(devid);
    id
}

/// Splits a RASD InstanceID or DeviceID into domain and device id (domain names cannot contain '/').
pub fn split_fq_devid(id: &str) -> Option<(&str, &str)> {
    let (domain, devid) = id.split_once('/')?;
    (!domain.is_empty() && !devid.is_empty()).then_some((domain, devid))
}

pub fn vssd_path(domain: &str) -> ObjectPath {
    vssd_path_of(vssd_instance_id(domain))
}

/// [`vssd_path`] of a VSSD's InstanceID (see [`vssd_instance_id`]).
fn vssd_path_of(instance_id: String) -> ObjectPath {
    instance_id_path(VSSD_CLASS, instance_id)
}

pub fn rasd_path(kind: ResourceKind, domain: &str, devid: &str) -> ObjectPath {
    rasd_path_of(kind, fq_devid(domain, devid))
}

/// [`rasd_path`] of a RASD's InstanceID (see [`fq_devid`]).
fn rasd_path_of(kind: ResourceKind, instance_id: String) -> ObjectPath {
    instance_id_path(kind.rasd_class(), instance_id)
}

/// The path of an instance of `class` keyed by InstanceID alone.
fn instance_id_path(class: &'static str, instance_id: String) -> ObjectPath {
    ObjectPath {
        host: None,
        namespace: Some(Name::from_static(NAMESPACE)),
        class_name: Name::from_static(class),
        keys: vec![(Name::from_static("InstanceID"), Value::String(instance_id))],
    }
}

pub fn device_path(kind: ResourceKind, domain: &str, devid: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        kind.device_class(),
        &[
            ("SystemCreationClassName", CS_CLASS),
            ("SystemName", domain),
            ("CreationClassName", kind.device_class()),
            ("DeviceID", &fq_devid(domain, devid)),
        ],
    )
}

/// What a domain's model needs besides its XML.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestFacts {
    /// Running (or paused): its XML is the live one and vCPU counts are the current ones.
    pub active: bool,
    pub autostart: bool,
}

/// The host objects RASD values refer to: which storage pool holds a disk's source, how large that volume
/// is, and which virtual network owns a bridge. Built once per request.
#[derive(Clone, Debug, Default)]
pub struct HostIndex {
    volumes: HashMap<String, VolumeFacts>,
    bridge_networks: HashMap<String, String>,
    /// Capacities of file disks outside any pool, as the driver's block info gives them (libvirt-CIM stats
    /// the file): by source path.
    file_sizes: HashMap<String, u64>,
}

#[derive(Clone, Debug)]
struct VolumeFacts {
    pool: String,
    capacity: Option<u64>,
}

impl HostIndex {
    /// Reads pools, their volumes and the networks' bridges; with `sizes`, the capacities of the volumes and
    /// files the given domains use (only a disk RASD's VirtualQuantity shows them). A driver without storage
    /// or networks yields an empty index (values then stay NULL).
    pub async fn load(
        driver: &Connection,
        defs: &[(&DomainDef, &DomainRef)],
        sizes: bool,
    ) -> HostIndex {
        let mut index = HostIndex::default();
        let used: HashSet<&str> = if sizes {
            defs.iter()
                .flat_map(|(d, _)| d.devices.disks.iter())
                .filter_map(|disk| disk.source.as_deref())
                .collect()
        } else {
            HashSet::new()
        };
        if let Ok(pools) = driver.list_all_storage_pools(0).await {
            for pool in pools {
                let Ok(volumes) = driver.pool_list_all_volumes(&pool, 0).await else {
                    continue;
                };
                for vol in volumes {
                    let path = volume_path(driver, &vol).await;
                    let capacity = if used.contains(path.as_str()) {
                        driver.vol_get_info(&vol).await.ok().map(|i| i.capacity)
                    } else {
                        None
                    };
                    index.volumes.insert(
                        path,
                        VolumeFacts {
                            pool: pool.name.clone(),
                            capacity,
                        },
                    );
                }
            }
        }
        for (def, dom) in defs.iter().filter(|_| sizes) {
            let outside: Vec<&DiskDef> = def
                .devices
                .disks
                .iter()
                .filter(|d| d.disk_type == "file")
                .filter(|d| {
                    d.source.as_deref().is_some_and(|s| {
                        !index.volumes.contains_key(s) && !index.file_sizes.contains_key(s)
                    })
                })
                .collect();
            if outside.is_empty() {
                continue;
            }
            for disk in outside {
                if let Ok(info) = driver.domain_get_block_info(dom, &disk.target_dev, 0).await {
                    let source = disk.source.clone().unwrap_or_default();
                    index.file_sizes.insert(source, info.capacity);
                }
            }
        }
        if let Ok(networks) = driver.list_all_networks(0).await {
            for net in networks {
                if let Ok(bridge) = driver.network_get_bridge_name(&net).await {
                    if !bridge.is_empty() {
                        index.bridge_networks.insert(bridge, net.name.clone());
                    }
                }
            }
        }
        index
    }

    /// The storage pool a disk source path belongs to.
    pub fn pool_of_path(&self, path: &str) -> Option<&str> {
        self.volumes.get(path).map(|v| v.pool.as_str())
    }

    /// The virtual network whose bridge is `bridge`.
    pub fn network_of_bridge(&self, bridge: &str) -> Option<&str> {
        self.bridge_networks.get(bridge).map(String::as_str)
    }
}

/// A volume's path: its key when that is a path (dir/fs/logical pools), else asked from the driver.
async fn volume_path(driver: &Connection, vol: &VolumeRef) -> String {
    if vol.key.starts_with('/') {
        return vol.key.clone();
    }
    driver
        .vol_get_path(vol)
        .await
        .unwrap_or_else(|_| vol.key.clone())
}

/// One virtual resource of a guest: its RASD, its logical devices (one per vCPU for processors, one
/// otherwise) and the pool it is allocated from.
#[derive(Clone, Debug)]
pub struct GuestResource {
    pub kind: ResourceKind,
    /// The device id part of the keys: "proc", "mem", "vda", the MAC, "vnc", "mouse:ps2", ...
    pub devid: String,
    /// `"ProcessorPool/0"`, `"DiskPool/<pool>"`, `"NetworkPool/<network>"`, ... (`None`: not in a known pool).
    pub pool_id: Option<String>,
    pub rasd: Instance,
    pub devices: Vec<Instance>,
}

/// A guest's whole per-guest model.
#[derive(Clone, Debug)]
pub struct GuestModel {
    pub name: String,
    pub active: bool,
    pub vssd: Instance,
    pub resources: Vec<GuestResource>,
}

impl GuestModel {
    pub fn rasds(&self) -> impl Iterator<Item = &Instance> {
        self.resources.iter().map(|r| &r.rasd)
    }

    /// Every device with the resource it belongs to.
    pub fn devices(&self) -> impl Iterator<Item = (&GuestResource, &Instance)> {
        self.resources
            .iter()
            .flat_map(|r| r.devices.iter().map(move |d| (r, d)))
    }

    pub fn resource(&self, kind: ResourceKind, devid: &str) -> Option<&GuestResource> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && r.devid == devid)
    }
}

fn builtin_classes() -> Option<&'static Repository> {
    static REPO: OnceLock<Option<Repository>> = OnceLock::new();
    REPO.get_or_init(|| builtin_repository().ok()).as_ref()
}

/// The resolved class from the built-in schema (the one the server serves), borrowed for the process's life:
/// no reference count for every instance built to contend on.
pub fn guest_class(name: &str) -> Option<&'static Class> {
    builtin_classes()?
        .namespace(NAMESPACE)
        .ok()?
        .class(name)
        .map(|class| &**class)
}

/// [`guest_class`] of a class name the model itself spells (a constant): each worker keeps the classes it
/// looked up by the name's address, so that building an instance does not search the repository each time.
fn model_class(name: &'static str) -> Option<&'static Class> {
    thread_local! {
        static SEEN: std::cell::RefCell<Vec<(usize, usize, Option<&'static Class>)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    let key = (name.as_ptr() as usize, name.len());
    SEEN.with(|seen| {
        if let Some(&(_, _, class)) = seen.borrow().iter().find(|(a, l, _)| (*a, *l) == key) {
            return class;
        }
        let class = guest_class(name);
        seen.borrow_mut().push((key.0, key.1, class));
        class
    })
}

/// Which instances of a resource are built: a RASD enumeration needs no devices, a device enumeration no
/// RASDs. Set around the (synchronous) building of one [`ModelPart`]; the side left out is an empty instance
/// (with its path only where a paths-only variant names that side).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sides {
    Both,
    Rasds,
    Devices,
    /// Neither: every instance empty but for its path (for associations, which link paths).
    Neither,
    /// Neither, with paths for the RASDs only.
    RasdPaths,
    /// Neither, with paths for the devices only.
    DevicePaths,
}

impl Sides {
    fn builds_rasds(self) -> bool {
        matches!(self, Sides::Both | Sides::Rasds)
    }

    fn builds_devices(self) -> bool {
        matches!(self, Sides::Both | Sides::Devices)
    }

    fn names_rasds(self) -> bool {
        !matches!(self, Sides::Devices | Sides::DevicePaths)
    }

    fn names_devices(self) -> bool {
        !matches!(self, Sides::Rasds | Sides::RasdPaths)
    }
}

thread_local! {
    static SIDES: std::cell::Cell<Sides> = const { std::cell::Cell::new(Sides::Both) };
}

/// Runs `build` with only `sides` built.
fn building<T>(sides: Sides, build: impl FnOnce() -> T) -> T {
    let before = SIDES.with(|s| s.replace(sides));
    let out = build();
    SIDES.with(|s| s.set(before));
    out
}

/// An instance under construction: every declared property present, values set only when declared.
struct Builder {
    inst: Instance,
    class: Option<&'static Class>,
    /// Not wanted (see [`Sides`]): nothing is set.
    skipped: bool,
    /// Where the next property is looked for first: most are set in the class's order.
    next: usize,
    /// A RASD's InstanceID, kept for its path.
    instance_id: Option<String>,
}

impl Builder {
    fn new(class_name: &'static str) -> Builder {
        let class = model_class(class_name);
        let inst = class
            .map(Class::new_instance)
            .unwrap_or_else(|| Instance::new(Name::from_static(class_name)));
        Builder {
            inst,
            class,
            skipped: false,
            next: 0,
            instance_id: None,
        }
    }

    /// A builder whose instance is not wanted: it stays empty but for its path.
    fn skipped(class_name: &'static str) -> Builder {
        Builder {
            inst: Instance::new(Name::from_static(class_name)),
            class: None,
            skipped: true,
            next: 0,
            instance_id: None,
        }
    }

    fn set(&mut self, name: &str, value: Value) -> &mut Builder {
        if value.is_null() || self.skipped {
            return self;
        }
        match &self.class {
            Some(class) => {
                if let Some(at) = super::put_from(&mut self.inst, class, name, value, self.next) {
                    self.next = at + 1;
                }
            }
            None => self.inst.set(name, value),
        }
        self
    }

    fn str(&mut self, name: &str, value: &str) -> &mut Builder {
        if self.skipped {
            return self;
        }
        self.set(name, Value::String(value.to_owned()))
    }

    fn opt_str(&mut self, name: &str, value: Option<&str>) -> &mut Builder {
        match value {
            Some(v) => self.str(name, v),
            None => self,
        }
    }

    fn strings(&mut self, name: &str, values: &[&str]) -> &mut Builder {
        if self.skipped {
            return self;
        }
        let items = values
            .iter()
            .map(|v| Value::String((*v).to_owned()))
            .collect();
        self.set(name, Value::Array(CimType::String, items))
    }

    fn finish(mut self, path: ObjectPath) -> Instance {
        self.inst.path = Some(path);
        self.inst
    }
}

/// libvirt-CIM's numbers for on_poweroff / on_crash: destroy 2, restart 3, preserve 123 (anything else 2).
fn lifecycle_action(action: Option<&str>) -> u16 {
    match action {
        Some("restart") => 3,
        Some("preserve") => 123,
        _ => 2,
    }
}

fn vssd_instance(def: &DomainDef, facts: GuestFacts) -> Instance {
    let mut b = Builder::new(VSSD_CLASS);
    let id = vssd_instance_id(&def.name);
    // Set in the class's order: each property is then found where the last one ended and appended.
    b.set("InstanceID", Value::String(id.clone()))
        .str("Caption", "Virtual System")
        .str("Description", "Virtual System")
        .str("ElementName", &def.name)
        .str("VirtualSystemIdentifier", &def.name)
        .str("VirtualSystemType", VIRTUAL_SYSTEM_TYPE)
        .set(
            "AutomaticShutdownAction",
            Value::Uint16(lifecycle_action(def.on_poweroff.as_deref())),
        )
        .set(
            "AutomaticRecoveryAction",
            Value::Uint16(lifecycle_action(def.on_crash.as_deref())),
        );
    if let Some(offset) = def.clock_offset.as_deref() {
        let local = offset.eq_ignore_ascii_case("localtime");
        b.set("ClockOffset", Value::Uint16(u16::from(local)));
    }
    b.set("UUID", Value::String(def.uuid.to_string()))
        .set("EnableACPI", Value::Boolean(def.features.acpi))
        .set("EnableAPIC", Value::Boolean(def.features.apic))
        .set("EnablePAE", Value::Boolean(def.features.pae))
        .set("AutoStart", Value::Uint16(u16::from(facts.autostart)));
    let boot: Vec<&str> = def.os.boot.iter().map(String::as_str).collect();
    b.strings("BootDevices", &boot)
        .opt_str("Emulator", def.devices.emulator.as_deref())
        .opt_str("Arch", def.os.arch.as_deref())
        .opt_str("Machine", def.os.machine.as_deref());
    b.finish(vssd_path_of(id))
}

/// A RASD builder with the properties every RASD has.
fn rasd_builder(kind: ResourceKind, domain: &str, devid: &str) -> Builder {
    if !SIDES.with(std::cell::Cell::get).builds_rasds() {
        return Builder::skipped(kind.rasd_class());
    }
    let id = fq_devid(domain, devid);
    let mut b = Builder::new(kind.rasd_class());
    b.set("InstanceID", Value::String(id.clone()))
        .str("ElementName", devid)
        .set("ResourceType", Value::Uint16(kind.resource_type()));
    b.instance_id = Some(id);
    b
}

/// A device builder with the four keys set.
fn device_builder(kind: ResourceKind, domain: &str, devid: &str) -> Builder {
    if !SIDES.with(std::cell::Cell::get).builds_devices() {
        return Builder::skipped(kind.device_class());
    }
    let mut b = Builder::new(kind.device_class());
    b.str("ElementName", devid)
        .str("SystemCreationClassName", CS_CLASS)
        .str("SystemName", domain)
        .str("CreationClassName", kind.device_class())
        .set("DeviceID", Value::String(fq_devid(domain, devid)));
    b
}

/// A device with its path, or, while only RASDs are built, an empty instance without one: no reader of a
/// RASD part looks at its devices.
fn finish_device(b: Builder, kind: ResourceKind, domain: &str, devid: &str) -> Instance {
    if !SIDES.with(std::cell::Cell::get).names_devices() {
        return b.inst;
    }
    b.finish(device_path(kind, domain, devid))
}

/// A RASD with its path, or, while only devices are built, an empty instance without one.
fn finish_rasd(mut b: Builder, kind: ResourceKind, domain: &str, devid: &str) -> Instance {
    if !SIDES.with(std::cell::Cell::get).names_rasds() {
        return b.inst;
    }
    let id = b
        .instance_id
        .take()
        .unwrap_or_else(|| fq_devid(domain, devid));
    b.finish(rasd_path_of(kind, id))
}

fn processor_resources(def: &DomainDef, facts: GuestFacts) -> GuestResource {
    let kind = ResourceKind::Processor;
    let name = &def.name;
    // libvirt-CIM: the vCPUs in use for a running domain, the configured count otherwise.
    let quantity = if facts.active {
        def.current_vcpus
    } else {
        def.vcpus
    };
    let pool = "ProcessorPool/0";
    let mut rasd = rasd_builder(kind, name, "proc");
    rasd.str("PoolID", pool)
        .set("VirtualQuantity", Value::Uint64(u64::from(quantity)));
    // One KVM_Processor per configured vCPU, DeviceID "<domain>/<n>".
    let devices = (0..def.vcpus)
        .map(|n| {
            let devid = n.to_string();
            finish_device(device_builder(kind, name, &devid), kind, name, &devid)
        })
        .collect();
    GuestResource {
        kind,
        devid: "proc".into(),
        pool_id: Some(pool.into()),
        rasd: finish_rasd(rasd, kind, name, "proc"),
        devices,
    }
}

fn memory_resource(def: &DomainDef) -> GuestResource {
    let kind = ResourceKind::Memory;
    let name = &def.name;
    let pool = "MemoryPool/0";
    let mut rasd = rasd_builder(kind, name, "mem");
    rasd.str("PoolID", pool)
        .str("AllocationUnits", "KiloBytes")
        .set("VirtualQuantity", Value::Uint64(def.current_memory_kib))
        .set("Reservation", Value::Uint64(def.current_memory_kib))
        .set("Limit", Value::Uint64(def.memory_kib));
    let mut dev = device_builder(kind, name, "mem");
    dev.set("BlockSize", Value::Uint64(MEMORY_BLOCK_SIZE))
        .set(
            "NumberOfBlocks",
            Value::Uint64(def.memory_kib.saturating_mul(1024) / MEMORY_BLOCK_SIZE),
        )
        .set(
            "ConsumableBlocks",
            Value::Uint64(def.current_memory_kib.saturating_mul(1024) / MEMORY_BLOCK_SIZE),
        );
    GuestResource {
        kind,
        devid: "mem".into(),
        pool_id: Some(pool.into()),
        rasd: finish_rasd(rasd, kind, name, "mem"),
        devices: vec![finish_device(dev, kind, name, "mem")],
    }
}

/// libvirt-CIM's EmulatedType: 0 disk, 1 cdrom, 2 floppy, 3 filesystem, 4 lun.
fn emulated_type(device: &str) -> u16 {
    match device {
        "cdrom" => 1,
        "floppy" => 2,
        "lun" => 4,
        _ => 0,
    }
}

fn disk_resource(name: &str, disk: &DiskDef, host: &HostIndex) -> GuestResource {
    let kind = ResourceKind::Disk;
    let devid = disk.target_dev.as_str();
    let volume = disk.source.as_deref().and_then(|s| host.volumes.get(s));
    let pool_id = volume.map(|v| format!("DiskPool/{}", v.pool));
    let size = volume.and_then(|v| v.capacity).or_else(|| {
        disk.source
            .as_deref()
            .and_then(|s| host.file_sizes.get(s).copied())
    });
    // Set in the class's order: each property is then found where the last one ended and appended.
    let mut rasd = rasd_builder(kind, name, devid);
    rasd.opt_str("PoolID", pool_id.as_deref());
    if let Some(source) = disk.source.as_deref() {
        rasd.strings("HostResource", &[source]);
    }
    rasd.str("AllocationUnits", "Bytes")
        .set("VirtualQuantity", Value::Uint64(size.unwrap_or(0)))
        .opt_str("Address", disk.source.as_deref())
        .str("VirtualDevice", devid)
        .set("EmulatedType", Value::Uint16(emulated_type(&disk.device)))
        .opt_str("BusType", disk.target_bus.as_deref());
    if disk.readonly {
        rasd.set("readonly", Value::Boolean(true));
    }
    rasd.opt_str("DriverName", disk.driver_name.as_deref())
        .opt_str("DriverType", disk.driver_type.as_deref())
        .opt_str("DriverCache", disk.driver_cache.as_deref());
    if disk.shareable {
        rasd.set("shareable", Value::Boolean(true));
    }
    let mut dev = device_builder(kind, name, devid);
    dev.str("Name", devid).set("HealthState", Value::Uint16(5));
    GuestResource {
        kind,
        devid: devid.to_owned(),
        pool_id,
        rasd: finish_rasd(rasd, kind, name, devid),
        devices: vec![finish_device(dev, kind, name, devid)],
    }
}

fn network_resource(name: &str, iface: &InterfaceDef, host: &HostIndex) -> GuestResource {
    let kind = ResourceKind::Network;
    let devid = iface.mac.as_str();
    let source = iface.source.as_deref();
    // The RASD names its pool only for type network (as libvirt-CIM); a bridge's pool is the network owning
    // the bridge, used for the pool associations.
    let rasd_pool = match (iface.iface_type.as_str(), source) {
        ("network", Some(net)) => Some(format!("NetworkPool/{net}")),
        _ => None,
    };
    let pool_id = rasd_pool
        .clone()
        .or_else(|| match (iface.iface_type.as_str(), source) {
            ("bridge", Some(bridge)) => host
                .network_of_bridge(bridge)
                .map(|net| format!("NetworkPool/{net}")),
            _ => None,
        });
    let mut rasd = rasd_builder(kind, name, devid);
    rasd.opt_str("ResourceSubType", iface.model.as_deref())
        .opt_str("PoolID", rasd_pool.as_deref())
        .str("Address", &iface.mac)
        .str("NetworkType", &iface.iface_type)
        .opt_str("NetworkName", source)
        .opt_str("VirtualDevice", iface.target_dev.as_deref());
    if iface.iface_type == "direct" {
        rasd.opt_str("SourceDevice", source);
    }
    let ethernet = matches!(iface.iface_type.as_str(), "network" | "bridge" | "ethernet");
    let mut dev = device_builder(kind, name, devid);
    dev.set(
        "LinkTechnology",
        Value::Uint16(if ethernet { 2 } else { 0 }),
    )
    .strings("NetworkAddresses", &[&iface.mac]);
    GuestResource {
        kind,
        devid: devid.to_owned(),
        pool_id,
        rasd: finish_rasd(rasd, kind, name, devid),
        devices: vec![finish_device(dev, kind, name, devid)],
    }
}

fn graphics_resources(def: &DomainDef) -> Vec<GuestResource> {
    let kind = ResourceKind::Graphics;
    let name = &def.name;
    let pool = "GraphicsPool/0";
    def.devices
        .graphics
        .iter()
        .map(|g| {
            let port = g.port.unwrap_or(-1).to_string();
            // libvirt-CIM: "vnc" for VNC (one per domain), "<type>:<port>" for the others.
            let devid = if g.graphics_type == "vnc" {
                "vnc".to_owned()
            } else {
                format!("{}:{port}", g.graphics_type)
            };
            let host = g.listen.as_deref().unwrap_or("127.0.0.1");
            let address = if g.graphics_type == "sdl" {
                "sdl".to_owned()
            } else if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            let mut rasd = rasd_builder(kind, name, &devid);
            rasd.str("ResourceSubType", &g.graphics_type)
                .str("Address", &address)
                .str("PoolID", pool);
            if g.passwd.as_deref().is_some_and(|p| !p.is_empty()) {
                // libvirt-CIM never shows the password itself.
                rasd.str("Password", "********");
            }
            let processor = if g.graphics_type == "sdl" {
                "sdl".to_owned()
            } else {
                format!("{}/{host}:{port}", g.graphics_type)
            };
            let mut dev = device_builder(kind, name, &devid);
            dev.str("VideoProcessor", &processor);
            GuestResource {
                kind,
                pool_id: Some(pool.into()),
                rasd: finish_rasd(rasd, kind, name, &devid),
                devices: vec![finish_device(dev, kind, name, &devid)],
                devid,
            }
        })
        .collect()
}

/// libvirt-CIM's input caption: "<bus> <type>", e.g. "PS2 Mouse", "USB Tablet".
fn input_caption(input_type: &str, bus: &str) -> String {
    let type_text = match input_type {
        "mouse" => "Mouse",
        "tablet" => "Tablet",
        _ => "Unknown device type",
    };
    let bus_text = match bus {
        "usb" => "USB",
        "ps2" => "PS2",
        "xen" => "Xen",
        _ => "Unknown bus",
    };
    format!("{bus_text} {type_text}")
}

fn input_resources(def: &DomainDef) -> Vec<GuestResource> {
    let kind = ResourceKind::Input;
    let name = &def.name;
    let pool = "InputPool/0";
    def.devices
        .inputs
        .iter()
        .map(|input| {
            let bus = input.bus.as_deref().unwrap_or("ps2");
            let devid = format!("{}:{bus}", input.input_type);
            let caption = input_caption(&input.input_type, bus);
            let mut rasd = rasd_builder(kind, name, &devid);
            rasd.str("ResourceSubType", &input.input_type)
                .str("BusType", bus)
                .str("Caption", &caption)
                .str("PoolID", pool);
            let pointer = matches!(input.input_type.as_str(), "mouse" | "tablet");
            let mut dev = device_builder(kind, name, &devid);
            // CIM PointingType 3 Mouse, 2 Unknown.
            dev.set("PointingType", Value::Uint16(if pointer { 3 } else { 2 }))
                .str("Caption", &caption);
            GuestResource {
                kind,
                pool_id: Some(pool.into()),
                rasd: finish_rasd(rasd, kind, name, &devid),
                devices: vec![finish_device(dev, kind, name, &devid)],
                devid,
            }
        })
        .collect()
}

/// libvirt-CIM's character device SourceType numbers.
fn char_source_type(dev_type: &str) -> u16 {
    match dev_type {
        "vc" => 1,
        "pty" => 2,
        "dev" => 3,
        "file" => 4,
        "pipe" => 5,
        "stdio" => 6,
        "udp" => 7,
        "tcp" => 8,
        "unix" => 9,
        "spicevmc" => 10,
        _ => 0,
    }
}

fn console_resources(def: &DomainDef) -> Vec<GuestResource> {
    let kind = ResourceKind::Console;
    let name = &def.name;
    def.devices
        .consoles
        .iter()
        .map(|console| {
            let devid = format!("charconsole:{}", console.target_port.unwrap_or(0));
            let mut rasd = rasd_builder(kind, name, &devid);
            rasd.str("OtherResourceType", "console")
                .set(
                    "SourceType",
                    Value::Uint16(char_source_type(&console.dev_type)),
                )
                .opt_str("TargetType", console.target_type.as_deref());
            match console.dev_type.as_str() {
                "unix" => {
                    if let Some(path) = console.source_path.as_deref() {
                        rasd.str("ConnectURL", &format!("file://{path}"));
                    }
                }
                _ => {
                    rasd.opt_str("SourcePath", console.source_path.as_deref());
                }
            }
            let mut dev = device_builder(kind, name, &devid);
            dev.str("VideoProcessor", &console.dev_type);
            GuestResource {
                kind,
                pool_id: None,
                rasd: finish_rasd(rasd, kind, name, &devid),
                devices: vec![finish_device(dev, kind, name, &devid)],
                devid,
            }
        })
        .collect()
}

/// libvirt-CIM's Controller ProtocolSupported codes (CIM values; virtio-serial and ccid are its own, ccid
/// with libvirt-CIM's 32678).
fn controller_protocol(controller_type: &str) -> u16 {
    match controller_type {
        "ide" => 37,
        "fdc" => 7,
        "scsi" => 13,
        "sata" => 48,
        "ccid" => 32678,
        "virtio-serial" => 32769,
        "pci" => 5,
        "usb" => 16,
        _ => 2,
    }
}

fn controller_resources(def: &DomainDef) -> Vec<GuestResource> {
    let kind = ResourceKind::Controller;
    let name = &def.name;
    let pool = "ControllerPool/0";
    def.devices
        .controllers
        .iter()
        .map(|c| {
            let devid = format!("controller:{}:{}", c.controller_type, c.index);
            let mut rasd = rasd_builder(kind, name, &devid);
            rasd.str("OtherResourceType", "controller")
                .str("ResourceSubType", &c.controller_type)
                .set("Index", Value::Uint64(u64::from(c.index)))
                .opt_str("Model", c.model.as_deref())
                .str("PoolID", pool);
            let mut dev = device_builder(kind, name, &devid);
            dev.set(
                "ProtocolSupported",
                Value::Uint16(controller_protocol(&c.controller_type)),
            )
            .opt_str("ProtocolDescription", c.model.as_deref());
            GuestResource {
                kind,
                pool_id: Some(pool.into()),
                rasd: finish_rasd(rasd, kind, name, &devid),
                devices: vec![finish_device(dev, kind, name, &devid)],
                devid,
            }
        })
        .collect()
}

/// The whole per-guest model of one domain. `host` resolves disk pools, volume sizes and bridge networks
/// (pass `HostIndex::default()` when only keys matter).
pub fn guest_model(def: &DomainDef, facts: GuestFacts, host: &HostIndex) -> GuestModel {
    let resources = ResourceKind::ALL
        .into_iter()
        .flat_map(|kind| resources_of(def, facts, host, kind))
        .collect();
    GuestModel {
        name: def.name.clone(),
        active: facts.active,
        vssd: vssd_instance(def, facts),
        resources,
    }
}

/// The part of a guest's model one class needs: an enumeration of one class builds only that part for each
/// guest instead of the whole model and throwing most of it away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelPart {
    /// The VSSD alone (`resources` left empty).
    Vssd,
    /// The resources of one kind alone (`vssd` left an empty instance of its class).
    Resources(ResourceKind),
    /// As `Resources`, with only each resource's RASD built (its devices are empty instances without paths).
    Rasds(ResourceKind),
    /// As `Resources`, with only each resource's devices built (its RASD is an empty instance without a path).
    Devices(ResourceKind),
    /// Every object of the model as an empty instance with its path (what associations link), of the
    /// resources of `kinds` only; without `rasds` (`devices`) the RASDs (devices) are empty instances without
    /// paths.
    Paths {
        rasds: bool,
        devices: bool,
        kinds: Kinds,
    },
}

/// A set of resource kinds (the resources an association can link).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kinds(u8);

impl Kinds {
    pub const ALL: Kinds = Kinds::of(&ResourceKind::ALL);

    pub const fn of(kinds: &[ResourceKind]) -> Kinds {
        let mut bits = 0;
        let mut i = 0;
        while i < kinds.len() {
            bits |= kinds[i].bit();
            i += 1;
        }
        Kinds(bits)
    }

    pub fn contains(self, kind: ResourceKind) -> bool {
        self.0 & kind.bit() != 0
    }
}

impl ModelPart {
    /// Whether this part holds disk RASDs with their properties (the only objects that show a disk's size).
    pub fn builds_disk_rasds(self) -> bool {
        matches!(
            self,
            ModelPart::Resources(ResourceKind::Disk) | ModelPart::Rasds(ResourceKind::Disk)
        )
    }

    /// [`ModelPart::Paths`] of every object.
    pub const PATHS: ModelPart = ModelPart::Paths {
        rasds: true,
        devices: true,
        kinds: Kinds::ALL,
    };
}

/// One part of a guest's model (see [`ModelPart`]); the parts built equal those of [`guest_model`].
pub fn guest_model_part(
    def: &DomainDef,
    facts: GuestFacts,
    host: &HostIndex,
    part: ModelPart,
) -> GuestModel {
    let (vssd, resources) = match part {
        ModelPart::Vssd => (vssd_instance(def, facts), Vec::new()),
        ModelPart::Resources(kind) => (
            Instance::new(Name::from_static(VSSD_CLASS)),
            resources_of(def, facts, host, kind),
        ),
        ModelPart::Rasds(kind) => (
            Instance::new(Name::from_static(VSSD_CLASS)),
            building(Sides::Rasds, || resources_of(def, facts, host, kind)),
        ),
        ModelPart::Devices(kind) => (
            Instance::new(Name::from_static(VSSD_CLASS)),
            building(Sides::Devices, || resources_of(def, facts, host, kind)),
        ),
        ModelPart::Paths {
            rasds,
            devices,
            kinds,
        } => {
            let mut vssd = Instance::new(Name::from_static(VSSD_CLASS));
            vssd.path = Some(vssd_path(&def.name));
            let sides = match (rasds, devices) {
                (true, false) => Sides::RasdPaths,
                (false, true) => Sides::DevicePaths,
                _ => Sides::Neither,
            };
            let resources = building(sides, || {
                ResourceKind::ALL
                    .into_iter()
                    .filter(|&kind| kinds.contains(kind))
                    .flat_map(|kind| resources_of(def, facts, host, kind))
                    .collect()
            });
            (vssd, resources)
        }
    };
    GuestModel {
        name: def.name.clone(),
        active: facts.active,
        vssd,
        resources,
    }
}

/// How many resources of `kind` a guest has: as many as [`resources_of`] builds, found without building them.
fn resource_count(def: &DomainDef, kind: ResourceKind) -> usize {
    let devices = &def.devices;
    match kind {
        ResourceKind::Processor | ResourceKind::Memory => 1,
        ResourceKind::Disk => devices.disks.len(),
        ResourceKind::Network => devices.interfaces.len(),
        ResourceKind::Graphics => devices.graphics.len(),
        ResourceKind::Input => devices.inputs.len(),
        ResourceKind::Console => devices.consoles.len(),
        ResourceKind::Controller => devices.controllers.len(),
    }
}

/// Whether a guest's `part` holds anything besides what every guest's does: only a part of one kind of
/// resource can be empty (a guest without inputs has no input RASD, device or path).
fn part_has_resources(def: &DomainDef, part: Option<ModelPart>) -> bool {
    match part {
        Some(ModelPart::Resources(kind) | ModelPart::Rasds(kind) | ModelPart::Devices(kind)) => {
            resource_count(def, kind) > 0
        }
        None | Some(ModelPart::Vssd | ModelPart::Paths { .. }) => true,
    }
}

/// A guest's resources of one kind, in the model's order.
fn resources_of(
    def: &DomainDef,
    facts: GuestFacts,
    host: &HostIndex,
    kind: ResourceKind,
) -> Vec<GuestResource> {
    let name = &def.name;
    let resources = match kind {
        ResourceKind::Processor => vec![processor_resources(def, facts)],
        ResourceKind::Memory => vec![memory_resource(def)],
        ResourceKind::Disk => def
            .devices
            .disks
            .iter()
            .map(|d| disk_resource(name, d, host))
            .collect(),
        ResourceKind::Network => def
            .devices
            .interfaces
            .iter()
            .map(|i| network_resource(name, i, host))
            .collect(),
        ResourceKind::Graphics => graphics_resources(def),
        ResourceKind::Input => input_resources(def),
        ResourceKind::Console => console_resources(def),
        ResourceKind::Controller => controller_resources(def),
    };
    debug_assert_eq!(resources.len(), resource_count(def, kind));
    resources
}

/// What to read from the driver besides each domain's XML.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LoadOptions {
    /// Pools, volumes and networks (disk PoolID/VirtualQuantity, bridge pools).
    pub host_index: bool,
    /// Each domain's autostart flag (VSSD AutoStart).
    pub autostart: bool,
}

impl LoadOptions {
    pub const KEYS_ONLY: LoadOptions = LoadOptions {
        host_index: false,
        autostart: false,
    };
    pub const FULL: LoadOptions = LoadOptions {
        host_index: true,
        autostart: true,
    };
}

fn vanished(err: &crate::error::Error) -> bool {
    err.code == ErrorCode::NO_DOMAIN
}

/// One domain's XML (live when it runs) and facts; `None` when it vanished meanwhile.
async fn read_domain(
    driver: &Connection,
    dom: &DomainRef,
    autostart: bool,
) -> Result<Option<(String, GuestFacts)>, OpError> {
    let xml = match driver.domain_get_xml_desc(dom, 0).await {
        Ok(xml) => xml,
        Err(err) if vanished(&err) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let autostart = if autostart {
        driver.domain_get_autostart(dom).await.unwrap_or(false)
    } else {
        false
    };
    let facts = GuestFacts {
        active: dom.id >= 0,
        autostart,
    };
    Ok(Some((xml, facts)))
}

/// A domain to model: its definition, facts and the driver's reference to it.
type Loaded = (Arc<DomainDef>, GuestFacts, DomainRef);

async fn build(
    driver: &Connection,
    defs: Vec<Loaded>,
    options: LoadOptions,
    part: Option<ModelPart>,
) -> Vec<GuestModel> {
    let host = host_index(driver, &defs, options, part).await;
    defs.iter()
        .map(|(def, facts, _)| model_of(def, *facts, &host, part))
        .collect()
}

/// What the models of `defs` need of the host (nothing unless `options` asks for it).
async fn host_index(
    driver: &Connection,
    defs: &[Loaded],
    options: LoadOptions,
    part: Option<ModelPart>,
) -> HostIndex {
    if !options.host_index {
        return HostIndex::default();
    }
    let refs: Vec<(&DomainDef, &DomainRef)> =
        defs.iter().map(|(d, _, dom)| (d.as_ref(), dom)).collect();
    HostIndex::load(driver, &refs, part.is_none_or(ModelPart::builds_disk_rasds)).await
}

/// A guest's whole model (`None`) or one part of it.
fn model_of(
    def: &DomainDef,
    facts: GuestFacts,
    host: &HostIndex,
    part: Option<ModelPart>,
) -> GuestModel {
    match part {
        None => guest_model(def, facts, host),
        Some(part) => guest_model_part(def, facts, host, part),
    }
}

/// A summarised domain's facts (autostart asked only when `options` wants it).
async fn summary_facts(
    driver: &Connection,
    summary: &crate::driver::DomainSummary,
    options: LoadOptions,
) -> GuestFacts {
    let autostart = options.autostart
        && match summary.autostart {
            Some(autostart) => autostart,
            None => driver
                .domain_get_autostart(&summary.dom)
                .await
                .unwrap_or(false),
        };
    GuestFacts {
        active: summary.dom.id >= 0,
        autostart,
    }
}

/// The models of summarised domains (their definitions as the driver holds them).
async fn build_summarised(
    driver: &Connection,
    summaries: Vec<crate::driver::DomainSummary>,
    options: LoadOptions,
    part: Option<ModelPart>,
) -> Vec<GuestModel> {
    let mut defs = Vec::with_capacity(summaries.len());
    for summary in summaries {
        let facts = summary_facts(driver, &summary, options).await;
        defs.push((summary.def, facts, summary.dom));
    }
    build(driver, defs, options, part).await
}

/// Every defined domain's model: one listing, then one XML read per domain (plus what `options` asks).
/// Domains undefined meanwhile are skipped.
pub async fn load_all_guests(
    driver: &Connection,
    options: LoadOptions,
) -> Result<Vec<GuestModel>, OpError> {
    load_all_guests_part(driver, options, None).await
}

/// [`load_all_guests`] building only `part` of each model (all of it for `None`). A part of one kind of
/// resource leaves out the guests that have none (their model of that part is empty), so that the driver passes
/// over them.
pub async fn load_all_guests_part(
    driver: &Connection,
    options: LoadOptions,
    part: Option<ModelPart>,
) -> Result<Vec<GuestModel>, OpError> {
    let keep = move |def: &DomainDef| part_has_resources(def, part);
    if let Some(summaries) = summaries_in_memory(driver, None, &keep).await? {
        return Ok(build_summarised(driver, summaries, options, part).await);
    }
    let mut defs = Vec::new();
    for dom in driver.list_all_domains(0).await? {
        let Some((xml, facts)) = read_domain(driver, &dom, options.autostart).await? else {
            continue;
        };
        match DomainDef::from_xml(&xml, false) {
            Ok(def) if !keep(&def) => {}
            Ok(def) => defs.push((Arc::new(def), facts, dom)),
            // One domain whose XML we cannot model must not hide all the others.
            Err(err) => {
                tracing::warn!(domain = %dom.name, error = %err, "domain left out of the CIM model");
            }
        }
    }
    Ok(build(driver, defs, options, part).await)
}

/// [`load_all_guests_part`] as one piece per guest ([`Pieces`]), building the models of only the guests whose
/// piece `have` does not hold, each as its piece is read; `None` when the driver gives no per-domain versions
/// (nothing may be reused). With `options.host_index` a piece also depends on the host's pools, volumes and
/// networks, so its key carries the driver's host generation too.
pub async fn load_guest_pieces<'a>(
    driver: &Connection,
    options: LoadOptions,
    part: Option<ModelPart>,
    have: &dyn HeldPieces,
    each: impl Fn(GuestModel) -> Vec<Instance> + Send + 'a,
) -> Result<Option<Pieces<'a>>, OpError> {
    // Read before the domains: pieces built across a host change are kept under the older number.
    let Some(host_generation) = driver.host_generation() else {
        return Ok(None);
    };
    let host = if options.host_index {
        host_generation
    } else {
        0
    };
    // A guest with nothing in the part has an empty piece: passed over, as the general path does.
    let keep = move |def: &DomainDef| part_has_resources(def, part);
    let summaries = driver.domain_summaries(&keep).await?;
    let mut keys = Vec::with_capacity(summaries.len());
    let mut defs = Vec::new();
    for summary in summaries {
        let Some(version) = summary.version else {
            return Ok(None);
        };
        let key = PieceKey {
            uuid: summary.dom.uuid,
            version,
            host,
        };
        let held = have.holds(&key);
        keys.push((key, held));
        if !held {
            let facts = summary_facts(driver, &summary, options).await;
            defs.push((summary.def, facts, summary.dom));
        }
    }
    let index = host_index(driver, &defs, options, part).await;
    let mut defs = defs.into_iter();
    // Each guest not held is built when its piece is read; `defs` holds them in the pieces' order.
    Ok(Some(Box::new(keys.into_iter().map_while(
        move |(key, held)| {
            let instances = if held {
                None
            } else {
                let (def, facts, _) = defs.next()?;
                Some(each(model_of(&def, facts, &index, part)))
            };
            Some(Piece { key, instances })
        },
    ))))
}

/// One domain's model by name; `None` when no such domain exists.
/// Guests loaded during one request ([`with_guest_memo`]), by name, options and part.
type GuestMemo =
    std::sync::Mutex<HashMap<(String, LoadOptions, Option<ModelPart>), Option<Arc<GuestModel>>>>;

tokio::task_local! {
    static GUEST_MEMO: GuestMemo;
}

/// Runs `work` (one request) with its guests loaded once: an association's answer asks for the guest its
/// object belongs to, then for each object at the other end, which mostly belong to the same guest. Nothing is
/// kept after `work`.
pub async fn with_guest_memo<F: std::future::Future>(work: F) -> F::Output {
    GUEST_MEMO.scope(GuestMemo::default(), work).await
}

/// `part` of one guest's model (all of it for `None`), shared: loaded once per request inside
/// [`with_guest_memo`].
pub async fn load_guest_shared(
    driver: &Connection,
    name: &str,
    options: LoadOptions,
    part: Option<ModelPart>,
) -> Result<Option<Arc<GuestModel>>, OpError> {
    let key = (name.to_owned(), options, part);
    let held = GUEST_MEMO.try_with(|memo| memo.lock().ok().and_then(|m| m.get(&key).cloned()));
    if let Ok(Some(model)) = held {
        return Ok(model);
    }
    let model = load_guest_part(driver, name, options, part)
        .await?
        .map(Arc::new);
    if held.is_ok() {
        let _ = GUEST_MEMO.try_with(|memo| {
            if let Ok(mut m) = memo.lock() {
                m.insert(key, model.clone());
            }
        });
    }
    Ok(model)
}

pub async fn load_guest(
    driver: &Connection,
    name: &str,
    options: LoadOptions,
) -> Result<Option<GuestModel>, OpError> {
    load_guest_part(driver, name, options, None).await
}

/// `part` of the model of the guest named `only` (none when it does not exist) or of every guest.
pub async fn load_guests_part(
    driver: &Connection,
    only: Option<&str>,
    options: LoadOptions,
    part: Option<ModelPart>,
) -> Result<Vec<GuestModel>, OpError> {
    match only {
        Some(name) => Ok(load_guest_part(driver, name, options, part)
            .await?
            .into_iter()
            .collect()),
        None => load_all_guests_part(driver, options, part).await,
    }
}

/// [`load_guest`] building only `part` of the model (all of it for `None`).
pub async fn load_guest_part(
    driver: &Connection,
    name: &str,
    options: LoadOptions,
    part: Option<ModelPart>,
) -> Result<Option<GuestModel>, OpError> {
    if let Some(summaries) = summaries_in_memory(driver, Some(name), &every_domain).await? {
        return Ok(build_summarised(driver, summaries, options, part)
            .await
            .pop());
    }
    let dom = match driver.domain_lookup_by_name(name).await {
        Ok(dom) => dom,
        Err(err) if vanished(&err) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let Some((xml, facts)) = read_domain(driver, &dom, options.autostart).await? else {
        return Ok(None);
    };
    let def = DomainDef::from_xml(&xml, false)?;
    Ok(
        build(driver, vec![(Arc::new(def), facts, dom)], options, part)
            .await
            .pop(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ControllerDef, GraphicsDef, InputDef};

    fn sample() -> DomainDef {
        let mut def = DomainDef {
            domain_type: "kvm".into(),
            name: "g1".into(),
            memory_kib: 1_048_576,
            current_memory_kib: 524_288,
            vcpus: 4,
            current_vcpus: 2,
            on_crash: Some("restart".into()),
            ..DomainDef::default()
        };
        def.devices.disks.push(DiskDef {
            disk_type: "file".into(),
            device: "cdrom".into(),
            source: Some("/isos/a.iso".into()),
            target_dev: "hdc".into(),
            target_bus: Some("ide".into()),
            readonly: true,
            ..DiskDef::default()
        });
        def.devices.interfaces.push(InterfaceDef {
            iface_type: "bridge".into(),
            mac: "52:54:00:aa:bb:cc".into(),
            source: Some("br0".into()),
            ..InterfaceDef::default()
        });
        def.devices.graphics.push(GraphicsDef {
            graphics_type: "vnc".into(),
            port: Some(5901),
            ..GraphicsDef::default()
        });
        def.devices.inputs.push(InputDef {
            input_type: "tablet".into(),
            bus: Some("usb".into()),
            ..InputDef::default()
        });
        def.devices.controllers.push(ControllerDef {
            controller_type: "usb".into(),
            index: 0,
            model: None,
            ..ControllerDef::default()
        });
        def
    }

    #[test]
    fn key_formats_follow_libvirt_cim() {
        assert_eq!(vssd_instance_id("g1"), "KVM:g1");
        assert_eq!(domain_of_vssd_id("KVM:g1"), Some("g1"));
        assert_eq!(domain_of_vssd_id("Xen:g1"), None);
        assert_eq!(
            split_fq_devid("g1/controller:usb:0"),
            Some(("g1", "controller:usb:0"))
        );
        assert_eq!(split_fq_devid("g1"), None);
        let model = guest_model(&sample(), GuestFacts::default(), &HostIndex::default());
        let ids: Vec<&str> = model
            .rasds()
            .filter_map(|r| r.get_str("InstanceID"))
            .collect();
        assert_eq!(
            ids,
            [
                "g1/proc",
                "g1/mem",
                "g1/hdc",
                "g1/52:54:00:aa:bb:cc",
                "g1/vnc",
                "g1/tablet:usb",
                "g1/controller:usb:0"
            ]
        );
        let processors: Vec<&str> = model
            .devices()
            .filter(|(r, _)| r.kind == ResourceKind::Processor)
            .filter_map(|(_, d)| d.get_str("DeviceID"))
            .collect();
        assert_eq!(processors, ["g1/0", "g1/1", "g1/2", "g1/3"]);
    }

    #[test]
    fn values_follow_libvirt_cim() {
        let mut host = HostIndex::default();
        host.bridge_networks.insert("br0".into(), "default".into());
        host.volumes.insert(
            "/isos/a.iso".into(),
            VolumeFacts {
                pool: "isos".into(),
                capacity: Some(1000),
            },
        );
        let facts = GuestFacts {
            active: true,
            autostart: true,
        };
        let model = guest_model(&sample(), facts, &host);
        assert_eq!(
            model.vssd.get("AutomaticRecoveryAction"),
            Some(&Value::Uint16(3))
        );
        assert_eq!(model.vssd.get("AutoStart"), Some(&Value::Uint16(1)));
        let proc = model
            .resource(ResourceKind::Processor, "proc")
            .expect("proc");
        assert_eq!(proc.rasd.get("VirtualQuantity"), Some(&Value::Uint64(2)));
        let disk = model.resource(ResourceKind::Disk, "hdc").expect("disk");
        assert_eq!(disk.rasd.get("EmulatedType"), Some(&Value::Uint16(1)));
        assert_eq!(disk.rasd.get("VirtualQuantity"), Some(&Value::Uint64(1000)));
        assert_eq!(disk.pool_id.as_deref(), Some("DiskPool/isos"));
        let nic = model
            .resource(ResourceKind::Network, "52:54:00:aa:bb:cc")
            .expect("nic");
        assert_eq!(nic.pool_id.as_deref(), Some("NetworkPool/default"));
        assert_eq!(nic.rasd.get("PoolID"), Some(&Value::Null));
        let mem = model.resource(ResourceKind::Memory, "mem").expect("mem");
        assert_eq!(
            mem.devices[0].get("NumberOfBlocks"),
            Some(&Value::Uint64(262_144))
        );
        let input = model
            .resource(ResourceKind::Input, "tablet:usb")
            .expect("input");
        assert_eq!(input.rasd.get_str("Caption"), Some("USB Tablet"));
        let ctrl = model
            .resource(ResourceKind::Controller, "controller:usb:0")
            .expect("controller");
        assert_eq!(
            ctrl.devices[0].get("ProtocolSupported"),
            Some(&Value::Uint16(16))
        );
        assert_eq!(ctrl.rasd.get("ResourceType"), Some(&Value::Uint16(1)));
    }

    #[test]
    fn model_parts_equal_the_whole_models_parts() {
        let mut host = HostIndex::default();
        host.bridge_networks.insert("br0".into(), "default".into());
        let facts = GuestFacts {
            active: true,
            autostart: true,
        };
        let def = sample();
        let whole = guest_model(&def, facts, &host);
        let vssd = guest_model_part(&def, facts, &host, ModelPart::Vssd);
        assert_eq!(format!("{:?}", vssd.vssd), format!("{:?}", whole.vssd));
        assert!(vssd.resources.is_empty());
        for kind in ResourceKind::ALL {
            let part = guest_model_part(&def, facts, &host, ModelPart::Resources(kind));
            let expected: Vec<_> = whole.resources.iter().filter(|r| r.kind == kind).collect();
            assert_eq!(
                format!("{:?}", part.resources.iter().collect::<Vec<_>>()),
                format!("{expected:?}")
            );
            let rasds = guest_model_part(&def, facts, &host, ModelPart::Rasds(kind));
            let devices = guest_model_part(&def, facts, &host, ModelPart::Devices(kind));
            assert_eq!(
                format!("{:?}", rasds.rasds().collect::<Vec<_>>()),
                format!("{:?}", expected.iter().map(|r| &r.rasd).collect::<Vec<_>>())
            );
            assert_eq!(
                format!(
                    "{:?}",
                    devices.devices().map(|(_, d)| d).collect::<Vec<_>>()
                ),
                format!(
                    "{:?}",
                    expected.iter().flat_map(|r| &r.devices).collect::<Vec<_>>()
                )
            );
        }
        // Paths only: every object of the whole model, in its order, with nothing else set.
        let paths = guest_model_part(&def, facts, &host, ModelPart::PATHS);
        let objects = |m: &GuestModel| -> Vec<Option<ObjectPath>> {
            std::iter::once(&m.vssd)
                .chain(
                    m.resources
                        .iter()
                        .flat_map(|r| std::iter::once(&r.rasd).chain(&r.devices)),
                )
                .map(|i| i.path.clone())
                .collect()
        };
        assert_eq!(objects(&paths), objects(&whole));
        assert!(objects(&paths).iter().all(Option::is_some));
        assert!(std::iter::once(&paths.vssd)
            .chain(
                paths
                    .resources
                    .iter()
                    .flat_map(|r| std::iter::once(&r.rasd).chain(&r.devices))
            )
            .all(|i| i.property_count() == 0));
        // One side's paths: the same paths for that side, none for the other.
        for (rasds, devices) in [(true, false), (false, true)] {
            let sided = guest_model_part(
                &def,
                facts,
                &host,
                ModelPart::Paths {
                    rasds,
                    devices,
                    kinds: Kinds::ALL,
                },
            );
            let side = |m: &GuestModel, of_rasds: bool| -> Vec<Option<ObjectPath>> {
                m.resources
                    .iter()
                    .flat_map(|r| match of_rasds {
                        true => vec![r.rasd.path.clone()],
                        false => r.devices.iter().map(|d| d.path.clone()).collect(),
                    })
                    .collect()
            };
            assert_eq!(sided.vssd.path, whole.vssd.path);
            assert_eq!(side(&sided, rasds), side(&whole, rasds));
            assert!(side(&sided, !rasds).iter().all(Option::is_none));
            assert_eq!(
                sided
                    .resources
                    .iter()
                    .map(|r| &r.pool_id)
                    .collect::<Vec<_>>(),
                whole
                    .resources
                    .iter()
                    .map(|r| &r.pool_id)
                    .collect::<Vec<_>>()
            );
        }
        // Some kinds only: exactly the whole model's resources of those kinds, with the same paths.
        let kinds = [ResourceKind::Graphics, ResourceKind::Memory];
        let some = guest_model_part(
            &def,
            facts,
            &host,
            ModelPart::Paths {
                rasds: true,
                devices: true,
                kinds: Kinds::of(&kinds),
            },
        );
        let of_kinds =
            |m: &GuestModel| -> Vec<(ResourceKind, Option<ObjectPath>, Vec<Option<ObjectPath>>)> {
                m.resources
                    .iter()
                    .filter(|r| kinds.contains(&r.kind))
                    .map(|r| {
                        let devices = r.devices.iter().map(|d| d.path.clone()).collect();
                        (r.kind, r.rasd.path.clone(), devices)
                    })
                    .collect()
            };
        assert_eq!(some.resources.len(), of_kinds(&some).len());
        assert!(!of_kinds(&some).is_empty());
        assert_eq!(of_kinds(&some), of_kinds(&whole));
    }
}
