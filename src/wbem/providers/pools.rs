//! The resource pools of the host, as libvirt-CIM models them: `KVM_MemoryPool`, `KVM_ProcessorPool`,
//! `KVM_GraphicsPool`, `KVM_InputPool`, `KVM_ControllerPool` (one primordial pool each, "<Kind>Pool/0"),
//! `KVM_DiskPool` (one per active storage pool plus the primordial "DiskPool/0") and `KVM_NetworkPool` (one per
//! active virtual network plus "NetworkPool/0"). Also the host-side facts the other host providers share: the
//! host's path, the list of pools, and which pool a guest device is allocated from.

use async_trait::async_trait;

use super::{put, Provider, ProviderCtx};
use crate::cim::{CimStatus, Instance, ObjectPath, Value};
use crate::driver::{flags, Driver};
use crate::error::ErrorCode;
use crate::model::{DomainDef, NetworkDef, PoolDef};
use crate::wbem::ops::OpError;

pub const NAMESPACE: &str = "root/virt";
pub const HOST_CLASS: &str = "KVM_HostSystem";

/// The suffix of every primordial pool's InstanceID ("MemoryPool/0", "DiskPool/0", ...).
pub const PRIMORDIAL: &str = "0";

/// The seven kinds of pool, each with its class, InstanceID prefix and CIM ResourceType.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum PoolKind {
    Memory,
    Processor,
    Disk,
    Network,
    Graphics,
    Input,
    Controller,
}

impl PoolKind {
    pub const ALL: [PoolKind; 7] = [
        PoolKind::Memory,
        PoolKind::Processor,
        PoolKind::Disk,
        PoolKind::Network,
        PoolKind::Graphics,
        PoolKind::Input,
        PoolKind::Controller,
    ];

    pub fn class_name(self) -> &'static str {
        match self {
            PoolKind::Memory => "KVM_MemoryPool",
            PoolKind::Processor => "KVM_ProcessorPool",
            PoolKind::Disk => "KVM_DiskPool",
            PoolKind::Network => "KVM_NetworkPool",
            PoolKind::Graphics => "KVM_GraphicsPool",
            PoolKind::Input => "KVM_InputPool",
            PoolKind::Controller => "KVM_ControllerPool",
        }
    }

    /// The InstanceID prefix before the slash.
    pub fn id_prefix(self) -> &'static str {
        match self {
            PoolKind::Memory => "MemoryPool",
            PoolKind::Processor => "ProcessorPool",
            PoolKind::Disk => "DiskPool",
            PoolKind::Network => "NetworkPool",
            PoolKind::Graphics => "GraphicsPool",
            PoolKind::Input => "InputPool",
            PoolKind::Controller => "ControllerPool",
        }
    }

    /// CIM ResourceType; controllers use libvirt-CIM's vendor value 32771.
    pub fn resource_type(self) -> u16 {
        match self {
            PoolKind::Memory => 4,
            PoolKind::Processor => 3,
            PoolKind::Disk => 17,
            PoolKind::Network => 10,
            PoolKind::Graphics => 24,
            PoolKind::Input => 13,
            PoolKind::Controller => 32771,
        }
    }

    /// The kind and the name after the slash of a pool InstanceID ("DiskPool/default" -> (Disk, "default")).
    pub fn parse_id(id: &str) -> Option<(PoolKind, &str)> {
        let (prefix, name) = id.split_once('/')?;
        let kind = PoolKind::ALL
            .into_iter()
            .find(|k| k.id_prefix() == prefix)?;
        Some((kind, name))
    }

    /// Memory, processor, graphics, input and controller pools exist only as the primordial one.
    pub fn single(self) -> bool {
        !matches!(self, PoolKind::Disk | PoolKind::Network)
    }
}

/// One pool: its kind and the name after the slash of its InstanceID (a storage pool or network name, or "0").
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub struct PoolId {
    pub kind: PoolKind,
    pub name: String,
}

impl PoolId {
    pub fn new(kind: PoolKind, name: &str) -> PoolId {
        PoolId {
            kind,
            name: name.to_owned(),
        }
    }

    pub fn primordial(kind: PoolKind) -> PoolId {
        PoolId::new(kind, PRIMORDIAL)
    }

    pub fn is_primordial(&self) -> bool {
        self.name == PRIMORDIAL
    }

    /// "DiskPool/default".
    pub fn instance_id(&self) -> String {
        format!("{}/{}", self.kind.id_prefix(), self.name)
    }

    pub fn path(&self) -> ObjectPath {
        ObjectPath::instance(
            Some(NAMESPACE),
            self.kind.class_name(),
            &[("InstanceID", &self.instance_id())],
        )
    }

    /// The pool a path names (class and InstanceID prefix must agree); the pool may not exist.
    pub fn from_path(path: &ObjectPath) -> Option<PoolId> {
        let (kind, name) = PoolKind::parse_id(path.key_str("InstanceID")?)?;
        if !kind.class_name().eq_ignore_ascii_case(&path.class_name) || name.is_empty() {
            return None;
        }
        Some(PoolId::new(kind, name))
    }

    /// The primordial parent of a child disk or network pool.
    pub fn parent(&self) -> Option<PoolId> {
        (!self.is_primordial()).then(|| PoolId::primordial(self.kind))
    }
}

/// The host's name as KVM_HostSystem uses it ("unknown" when the driver has none).
pub async fn host_name(driver: &dyn Driver) -> String {
    match driver.get_hostname().await {
        Ok(name) if !name.is_empty() => name,
        _ => "unknown".into(),
    }
}

pub fn host_path(name: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        HOST_CLASS,
        &[("CreationClassName", HOST_CLASS), ("Name", name)],
    )
}

/// The active storage pools (name and definition) and the active networks: read once per request.
#[derive(Default)]
pub struct HostPools {
    pub storage: Vec<PoolDef>,
    pub networks: Vec<NetworkDef>,
}

impl HostPools {
    pub async fn read(driver: &dyn Driver) -> Result<HostPools, OpError> {
        let mut out = HostPools::default();
        for pool in list_or_empty(driver.list_all_storage_pools(0).await)? {
            if !driver.pool_is_active(&pool).await.unwrap_or(false) {
                continue;
            }
            let Ok(xml) = driver.pool_get_xml_desc(&pool, 0).await else {
                continue;
            };
            if let Ok(def) = PoolDef::from_xml(&xml, false) {
                out.storage.push(def);
            }
        }
        let networks = driver.list_all_networks(flags::LIST_NETWORKS_ACTIVE).await;
        for net in list_or_empty(networks)? {
            let Ok(xml) = driver.network_get_xml_desc(&net, 0).await else {
                continue;
            };
            if let Ok(def) = NetworkDef::from_xml(&xml, false) {
                out.networks.push(def);
            }
        }
        Ok(out)
    }

    /// Every pool: the five single ones, the disk pools, then the network pools (primordial ones first).
    pub fn ids(&self) -> Vec<PoolId> {
        let mut out: Vec<PoolId> = PoolKind::ALL.into_iter().map(PoolId::primordial).collect();
        out.extend(
            self.storage
                .iter()
                .map(|p| PoolId::new(PoolKind::Disk, &p.name)),
        );
        out.extend(
            self.networks
                .iter()
                .map(|n| PoolId::new(PoolKind::Network, &n.name)),
        );
        out
    }

    /// The disk pool holding a disk source: the active storage pool whose target path is the longest prefix.
    pub fn disk_pool_of(&self, source: &str) -> Option<PoolId> {
        self.storage
            .iter()
            .filter_map(|p| {
                let dir = p.target_path.as_deref()?.trim_end_matches('/');
                let inside = !dir.is_empty()
                    && source.starts_with(dir)
                    && source[dir.len()..].starts_with('/');
                inside.then_some((dir.len(), &p.name))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, name)| PoolId::new(PoolKind::Disk, name))
    }

    /// The network pool of an interface: its network (type network) or the network owning its bridge.
    pub fn network_pool_of(&self, iface_type: &str, source: Option<&str>) -> Option<PoolId> {
        let source = source?;
        let net = match iface_type {
            "network" => self.networks.iter().find(|n| n.name == source),
            "bridge" => self
                .networks
                .iter()
                .find(|n| n.bridge.as_deref() == Some(source)),
            _ => None,
        }?;
        Some(PoolId::new(PoolKind::Network, &net.name))
    }
}

/// A driver without storage or networks has no pools of those kinds, not an error.
fn list_or_empty<T>(result: crate::error::Result<Vec<T>>) -> Result<Vec<T>, OpError> {
    match result {
        Ok(items) => Ok(items),
        Err(e) if e.code == ErrorCode::NO_SUPPORT => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// The guest devices and settings allocated from pools: for one domain, each (pool, device path, RASD path).
/// A device with no pool (a console, a disk outside every storage pool) is left out, as libvirt-CIM does.
pub fn guest_allocations(def: &DomainDef, pools: &HostPools) -> Vec<Allocation> {
    use guest_paths as g;
    let dom = def.name.as_str();
    let mut out = Vec::new();
    let mut add = |pool: Option<PoolId>, devices: Vec<ObjectPath>, rasd: ObjectPath| {
        if let Some(pool) = pool {
            out.push(Allocation {
                pool,
                devices,
                rasd,
            });
        }
    };
    let vcpus = if def.current_vcpus > 0 {
        def.current_vcpus
    } else {
        def.vcpus
    };
    add(
        Some(PoolId::primordial(PoolKind::Processor)),
        (0..vcpus).map(|n| g::processor(dom, n)).collect(),
        g::proc_rasd(dom),
    );
    add(
        Some(PoolId::primordial(PoolKind::Memory)),
        vec![g::memory(dom)],
        g::mem_rasd(dom),
    );
    for disk in &def.devices.disks {
        let pool = disk.source.as_deref().and_then(|s| pools.disk_pool_of(s));
        add(
            pool,
            vec![g::logical_disk(dom, &disk.target_dev)],
            g::disk_rasd(dom, &disk.target_dev),
        );
    }
    for iface in &def.devices.interfaces {
        let pool = pools.network_pool_of(&iface.iface_type, iface.source.as_deref());
        add(
            pool,
            vec![g::network_port(dom, &iface.mac)],
            g::net_rasd(dom, &iface.mac),
        );
    }
    for graphics in &def.devices.graphics {
        let id = g::graphics_id(graphics);
        add(
            Some(PoolId::primordial(PoolKind::Graphics)),
            vec![g::display_controller(dom, &id)],
            g::graphics_rasd(dom, &id),
        );
    }
    for input in &def.devices.inputs {
        let id = g::input_id(input);
        add(
            Some(PoolId::primordial(PoolKind::Input)),
            vec![g::pointing_device(dom, &id)],
            g::input_rasd(dom, &id),
        );
    }
    for controller in &def.devices.controllers {
        let id = g::controller_id(controller);
        add(
            Some(PoolId::primordial(PoolKind::Controller)),
            vec![g::controller(dom, &id)],
            g::controller_rasd(dom, &id),
        );
    }
    out
}

/// One guest resource drawn from a pool: the pool, the device instances realising it, the RASD describing it.
#[derive(Clone, Debug)]
pub struct Allocation {
    pub pool: PoolId,
    pub devices: Vec<ObjectPath>,
    pub rasd: ObjectPath,
}

/// Every domain's definition (the live one for a running domain), read once; domains that vanish meanwhile or
/// whose XML does not parse are skipped.
pub async fn all_domain_defs(driver: &dyn Driver) -> Result<Vec<DomainDef>, OpError> {
    let mut out = Vec::new();
    for dom in driver.list_all_domains(0).await? {
        match driver.domain_get_xml_desc(&dom, 0).await {
            Ok(xml) => {
                if let Ok(def) = DomainDef::from_xml(&xml, false) {
                    out.push(def);
                }
            }
            Err(e) if e.code == ErrorCode::NO_DOMAIN => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// libvirt's storage pool types that libvirt-CIM names in OtherResourceType.
fn disk_pool_type(pool_type: &str) -> Option<&'static str> {
    ["dir", "fs", "netfs", "disk", "iscsi", "logical", "scsi"]
        .into_iter()
        .find(|t| *t == pool_type)
}

/// One pool class; the kind picks the class and how its instances are computed.
pub struct PoolProvider {
    pub kind: PoolKind,
}

impl PoolProvider {
    pub fn all() -> Vec<PoolProvider> {
        PoolKind::ALL
            .into_iter()
            .map(|kind| PoolProvider { kind })
            .collect()
    }

    async fn instance(
        &self,
        ctx: &ProviderCtx<'_>,
        id: &PoolId,
        pools: &HostPools,
    ) -> Result<Option<Instance>, OpError> {
        let class = ctx.class;
        let driver = ctx.driver.as_ref();
        let mut inst = ctx.new_instance();
        let s = |v: &str| Value::String(v.to_owned());
        let instance_id = id.instance_id();
        put(&mut inst, class, "InstanceID", s(&instance_id));
        put(&mut inst, class, "PoolID", s(&instance_id));
        put(
            &mut inst,
            class,
            "ResourceType",
            Value::Uint16(id.kind.resource_type()),
        );
        put(
            &mut inst,
            class,
            "Primordial",
            Value::Boolean(id.is_primordial()),
        );
        let units = |inst: &mut Instance, unit: &str| {
            put(inst, class, "AllocationUnits", s(unit));
            put(inst, class, "ConsumedResourceUnits", s(unit));
        };
        match id.kind {
            PoolKind::Memory => {
                let node = driver.node_get_info().await?;
                // Reserved: the memory the running guests hold now.
                let mut used = 0u64;
                for dom in driver.list_all_domains(flags::LIST_DOMAINS_ACTIVE).await? {
                    if let Ok(info) = driver.domain_get_info(&dom).await {
                        used += info.memory_kib;
                    }
                }
                put(&mut inst, class, "Capacity", Value::Uint64(node.memory_kib));
                put(&mut inst, class, "Reserved", Value::Uint64(used));
                put(
                    &mut inst,
                    class,
                    "CurrentlyConsumedResource",
                    Value::Uint64(used),
                );
                units(&mut inst, "byte*2^10");
            }
            PoolKind::Processor => {
                let node = driver.node_get_info().await?;
                put(
                    &mut inst,
                    class,
                    "Capacity",
                    Value::Uint64(u64::from(node.cpus)),
                );
                put(&mut inst, class, "Reserved", Value::Uint64(0));
                units(&mut inst, "Processors");
            }
            PoolKind::Disk => {
                units(&mut inst, "Megabytes");
                put(&mut inst, class, "Caption", s(&id.name));
                if !id.is_primordial() {
                    let Some(def) = pools.storage.iter().find(|p| p.name == id.name) else {
                        return Ok(None);
                    };
                    // Live figures from the driver; the definition's as a fallback.
                    let (capacity, allocation) = match driver.pool_lookup_by_name(&def.name).await {
                        Ok(pool) => match driver.pool_get_info(&pool).await {
                            Ok(info) => (info.capacity, info.allocation),
                            Err(_) => (def.capacity, def.allocation),
                        },
                        Err(_) => (def.capacity, def.allocation),
                    };
                    put(&mut inst, class, "Capacity", Value::Uint64(capacity >> 20));
                    put(
                        &mut inst,
                        class,
                        "Reserved",
                        Value::Uint64(allocation >> 20),
                    );
                    if let Some(path) = &def.target_path {
                        put(&mut inst, class, "Path", s(path));
                    }
                    if let Some(kind) = disk_pool_type(&def.pool_type) {
                        put(&mut inst, class, "OtherResourceType", s(kind));
                    }
                    let autostart = match driver.pool_lookup_by_name(&def.name).await {
                        Ok(pool) => driver.pool_get_autostart(&pool).await.unwrap_or(false),
                        Err(_) => false,
                    };
                    put(
                        &mut inst,
                        class,
                        "Autostart",
                        Value::Uint16(u16::from(autostart)),
                    );
                }
            }
            PoolKind::Network => {
                if !id.is_primordial() {
                    let Some(def) = pools.networks.iter().find(|n| n.name == id.name) else {
                        return Ok(None);
                    };
                    let bridge = def.bridge.as_deref().unwrap_or("");
                    put(&mut inst, class, "Caption", s(&format!("Bridge: {bridge}")));
                }
            }
            PoolKind::Graphics | PoolKind::Input | PoolKind::Controller => {}
        }
        Ok(Some(ctx.with_path(inst)))
    }

    fn ids_of_kind(&self, pools: &HostPools) -> Vec<PoolId> {
        pools
            .ids()
            .into_iter()
            .filter(|id| id.kind == self.kind)
            .collect()
    }

    /// The pools of this kind; memory and processor pools need no driver listing.
    async fn read_pools(&self, driver: &dyn Driver) -> Result<HostPools, OpError> {
        if self.kind.single() {
            Ok(HostPools::default())
        } else {
            HostPools::read(driver).await
        }
    }
}

#[async_trait]
impl Provider for PoolProvider {
    fn class_name(&self) -> &'static str {
        self.kind.class_name()
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        let pools = self.read_pools(ctx.driver.as_ref()).await?;
        Ok(self.ids_of_kind(&pools).iter().map(PoolId::path).collect())
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let not_found = || OpError::cim(CimStatus::NotFound, format!("no instance {path}"));
        let id = PoolId::from_path(path)
            .filter(|id| id.kind == self.kind)
            .ok_or_else(not_found)?;
        if self.kind.single() && !id.is_primordial() {
            return Err(not_found());
        }
        let pools = self.read_pools(ctx.driver.as_ref()).await?;
        self.instance(ctx, &id, &pools).await?.ok_or_else(not_found)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let pools = self.read_pools(ctx.driver.as_ref()).await?;
        let mut out = Vec::new();
        for id in self.ids_of_kind(&pools) {
            if let Some(inst) = self.instance(ctx, &id, &pools).await? {
                out.push(inst);
            }
        }
        Ok(out)
    }
}

/// Guest device and RASD paths (REPORT §1.2 key formats) for the pool associations.
// TODO(cimguest): switch to the path functions guest.rs exports once merged.
pub mod guest_paths {
    use crate::cim::ObjectPath;
    use crate::model::{ControllerDef, GraphicsDef, InputDef};

    const CS_CLASS: &str = "KVM_ComputerSystem";

    fn device(class: &str, dom: &str, devid: &str) -> ObjectPath {
        ObjectPath::instance(
            Some(super::NAMESPACE),
            class,
            &[
                ("SystemCreationClassName", CS_CLASS),
                ("SystemName", dom),
                ("CreationClassName", class),
                ("DeviceID", &format!("{dom}/{devid}")),
            ],
        )
    }

    fn rasd(class: &str, dom: &str, devid: &str) -> ObjectPath {
        ObjectPath::instance(
            Some(super::NAMESPACE),
            class,
            &[("InstanceID", &format!("{dom}/{devid}"))],
        )
    }

    pub fn graphics_id(g: &GraphicsDef) -> String {
        if g.graphics_type == "vnc" {
            "vnc".into()
        } else {
            format!("{}:{}", g.graphics_type, g.port.unwrap_or(-1))
        }
    }

    pub fn input_id(i: &InputDef) -> String {
        format!("{}:{}", i.input_type, i.bus.as_deref().unwrap_or("ps2"))
    }

    pub fn controller_id(c: &ControllerDef) -> String {
        format!("controller:{}:{}", c.controller_type, c.index)
    }

    pub fn processor(dom: &str, n: u32) -> ObjectPath {
        device("KVM_Processor", dom, &n.to_string())
    }
    pub fn memory(dom: &str) -> ObjectPath {
        device("KVM_Memory", dom, "mem")
    }
    pub fn logical_disk(dom: &str, target: &str) -> ObjectPath {
        device("KVM_LogicalDisk", dom, target)
    }
    pub fn network_port(dom: &str, mac: &str) -> ObjectPath {
        device("KVM_NetworkPort", dom, mac)
    }
    pub fn display_controller(dom: &str, id: &str) -> ObjectPath {
        device("KVM_DisplayController", dom, id)
    }
    pub fn pointing_device(dom: &str, id: &str) -> ObjectPath {
        device("KVM_PointingDevice", dom, id)
    }
    pub fn controller(dom: &str, id: &str) -> ObjectPath {
        device("KVM_Controller", dom, id)
    }
    pub fn proc_rasd(dom: &str) -> ObjectPath {
        rasd("KVM_ProcResourceAllocationSettingData", dom, "proc")
    }
    pub fn mem_rasd(dom: &str) -> ObjectPath {
        rasd("KVM_MemResourceAllocationSettingData", dom, "mem")
    }
    pub fn disk_rasd(dom: &str, target: &str) -> ObjectPath {
        rasd("KVM_DiskResourceAllocationSettingData", dom, target)
    }
    pub fn net_rasd(dom: &str, mac: &str) -> ObjectPath {
        rasd("KVM_NetResourceAllocationSettingData", dom, mac)
    }
    pub fn graphics_rasd(dom: &str, id: &str) -> ObjectPath {
        rasd("KVM_GraphicsResourceAllocationSettingData", dom, id)
    }
    pub fn input_rasd(dom: &str, id: &str) -> ObjectPath {
        rasd("KVM_InputResourceAllocationSettingData", dom, id)
    }
    pub fn controller_rasd(dom: &str, id: &str) -> ObjectPath {
        rasd("KVM_ControllerResourceAllocationSettingData", dom, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_ids_round_trip() {
        let id = PoolId::new(PoolKind::Disk, "default");
        assert_eq!(id.instance_id(), "DiskPool/default");
        assert_eq!(PoolId::from_path(&id.path()), Some(id.clone()));
        assert_eq!(id.parent(), Some(PoolId::primordial(PoolKind::Disk)));
        assert_eq!(PoolId::primordial(PoolKind::Memory).parent(), None);
        // A pool path whose class disagrees with its InstanceID names nothing.
        let wrong = ObjectPath::instance(
            Some(NAMESPACE),
            "KVM_NetworkPool",
            &[("InstanceID", "DiskPool/default")],
        );
        assert_eq!(PoolId::from_path(&wrong), None);
        assert_eq!(
            PoolKind::parse_id("NetworkPool/a/b"),
            Some((PoolKind::Network, "a/b"))
        );
    }

    #[test]
    fn disk_pool_is_the_longest_target_prefix() {
        let pool = |name: &str, path: &str| PoolDef {
            name: name.into(),
            target_path: Some(path.into()),
            ..PoolDef::default()
        };
        let pools = HostPools {
            storage: vec![
                pool("images", "/var/lib/images"),
                pool("sub", "/var/lib/images/sub/"),
            ],
            networks: Vec::new(),
        };
        let of = |s: &str| pools.disk_pool_of(s).map(|p| p.name);
        assert_eq!(of("/var/lib/images/a.qcow2").as_deref(), Some("images"));
        assert_eq!(of("/var/lib/images/sub/b.img").as_deref(), Some("sub"));
        assert_eq!(of("/var/lib/images2/c.img"), None);
        assert_eq!(of("/elsewhere/d.img"), None);
    }
}
