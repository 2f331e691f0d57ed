//! The resource pools of the host, as libvirt-CIM models them: `KVM_MemoryPool`, `KVM_ProcessorPool`,
//! `KVM_GraphicsPool`, `KVM_InputPool`, `KVM_ControllerPool` (one primordial pool each, `"<Kind>Pool/0"`),
//! `KVM_DiskPool` (one per active storage pool plus the primordial "DiskPool/0") and `KVM_NetworkPool` (one per
//! active virtual network plus "NetworkPool/0"). Also the host-side facts the other host providers share: the
//! host's path, the list of pools, and which pool a guest device is allocated from.

use async_trait::async_trait;

pub use super::computer_system::{host_name, host_path, HOST_CLASS};
use super::guest::{load_guests_part, GuestModel, Kinds, LoadOptions, ModelPart, ResourceKind};
use super::{lookup, put, Provider, ProviderCtx};
use crate::cim::{CimStatus, Instance, ObjectPath, Value};
use crate::driver::{flags, Connection, NetworkRef, PoolRef};
use crate::error::ErrorCode;
use crate::model::{NetworkDef, PoolDef};
use crate::wbem::error::OpError;

pub const NAMESPACE: &str = "root/virt";

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

    /// The guest resources drawn from pools of this kind.
    pub fn resource_kind(self) -> ResourceKind {
        match self {
            PoolKind::Memory => ResourceKind::Memory,
            PoolKind::Processor => ResourceKind::Processor,
            PoolKind::Disk => ResourceKind::Disk,
            PoolKind::Network => ResourceKind::Network,
            PoolKind::Graphics => ResourceKind::Graphics,
            PoolKind::Input => ResourceKind::Input,
            PoolKind::Controller => ResourceKind::Controller,
        }
    }

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

/// The active storage pools (name and definition) and the active networks: read once per request.
#[derive(Default)]
pub struct HostPools {
    pub storage: Vec<PoolDef>,
    pub networks: Vec<NetworkDef>,
}

impl HostPools {
    pub async fn read(driver: &Connection) -> Result<HostPools, OpError> {
        let mut out = HostPools::default();
        let (pools, networks) = active_pools_and_networks(driver).await?;
        for pool in pools {
            // One stopped or undefined meanwhile is no longer a pool.
            let Ok(xml) = driver.pool_get_xml_desc(&pool, 0).await else {
                continue;
            };
            match PoolDef::from_xml(&xml, false) {
                Ok(def) => out.storage.push(def),
                Err(err) => unreadable("storage pool", &pool.name, &err),
            }
        }
        for net in networks {
            let Ok(xml) = driver.network_get_xml_desc(&net, 0).await else {
                continue;
            };
            match NetworkDef::from_xml(&xml, false) {
                Ok(def) => out.networks.push(def),
                Err(err) => unreadable("network", &net.name, &err),
            }
        }
        Ok(out)
    }

    /// Every pool: the five single ones, the disk pools, then the network pools (primordial ones first).
    pub fn ids(&self) -> Vec<PoolId> {
        pool_ids(
            self.storage.iter().map(|p| p.name.as_str()),
            self.networks.iter().map(|n| n.name.as_str()),
        )
    }

    /// [`HostPools::ids`] from the names of the active storage pools and networks alone, for the answers that
    /// name pools and read nothing of their definitions (no XML is formatted or parsed).
    pub async fn read_ids(driver: &Connection) -> Result<Vec<PoolId>, OpError> {
        let (pools, networks) = active_pools_and_networks(driver).await?;
        Ok(pool_ids(
            pools.iter().map(|p| p.name.as_str()),
            networks.iter().map(|n| n.name.as_str()),
        ))
    }
}

/// The active storage pools and the active networks: the disk and network pools there are.
async fn active_pools_and_networks(
    driver: &Connection,
) -> Result<(Vec<PoolRef>, Vec<NetworkRef>), OpError> {
    let pools = driver
        .list_all_storage_pools(flags::LIST_POOLS_ACTIVE)
        .await;
    let networks = driver.list_all_networks(flags::LIST_NETWORKS_ACTIVE).await;
    Ok((list_or_empty(pools)?, list_or_empty(networks)?))
}

/// The primordial pools, then the disk pools `storage`, then the network pools `networks`.
fn pool_ids<'a>(
    storage: impl Iterator<Item = &'a str>,
    networks: impl Iterator<Item = &'a str>,
) -> Vec<PoolId> {
    let mut out: Vec<PoolId> = PoolKind::ALL.into_iter().map(PoolId::primordial).collect();
    out.extend(storage.map(|name| PoolId::new(PoolKind::Disk, name)));
    out.extend(networks.map(|name| PoolId::new(PoolKind::Network, name)));
    out
}

/// A definition the driver gave that this model cannot read: its pool is left out, and the log says which.
fn unreadable(what: &str, name: &str, err: &dyn std::fmt::Display) {
    tracing::warn!(%name, error = %err, "{what} left out of the CIM model");
}

/// A driver without storage or networks has no pools of those kinds, not an error.
fn list_or_empty<T>(result: crate::error::Result<Vec<T>>) -> Result<Vec<T>, OpError> {
    match result {
        Ok(items) => Ok(items),
        Err(e) if e.code == ErrorCode::NO_SUPPORT => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// The guest devices and settings allocated from pools: for each domain's resource that has a pool (as
/// guest.rs resolves it) which exists now, the pool and the paths of its devices or of its RASD. A device
/// with no pool (a console, a disk outside every storage pool) is left out, as libvirt-CIM does.
/// `only`: the one domain to read (an association asked about one guest's device or RASD), else all.
/// `kind`: only resources from pools of this kind (disk and network pools need the host's volumes and
/// bridges; the others do not). `devices`: the devices' paths, else the RASDs'.
pub async fn guest_allocations(
    driver: &Connection,
    pools: &HostPools,
    only: Option<&str>,
    kind: Option<PoolKind>,
    devices: bool,
) -> Result<Vec<Allocation>, OpError> {
    let reading = AllocationReading::new(pools, kind, devices);
    let models = load_guests_part(driver, only, reading.options, reading.part).await?;
    let mut out = Vec::new();
    for model in models {
        reading.of_guest(model, &mut out);
    }
    Ok(out)
}

/// What [`guest_allocations`] reads of the guests' models, and how it finds their allocations in one model.
pub struct AllocationReading {
    /// The pools that exist now (of the kind asked for).
    existing: Vec<PoolId>,
    devices: bool,
    pub options: LoadOptions,
    pub part: Option<ModelPart>,
}

impl AllocationReading {
    pub fn new(pools: &HostPools, kind: Option<PoolKind>, devices: bool) -> AllocationReading {
        let existing = pools
            .ids()
            .into_iter()
            .filter(|p| kind.is_none_or(|k| p.kind == k))
            .collect();
        let options = LoadOptions {
            host_index: kind.is_none_or(|k| !k.single()),
            autostart: false,
        };
        // Only paths and pools are read from the models: their objects are built as paths alone, only the side
        // asked for, and only the resources a pool of the kinds asked for can hold.
        let kinds = match kind {
            Some(kind) => Kinds::of(&[kind.resource_kind()]),
            None => Kinds::of(&PoolKind::ALL.map(PoolKind::resource_kind)),
        };
        let part = Some(ModelPart::Paths {
            rasds: !devices,
            devices,
            kinds,
        });
        AllocationReading {
            existing,
            devices,
            options,
            part,
        }
    }

    /// The allocations of one guest's model (read with [`AllocationReading::options`] and `part`).
    pub fn of_guest(&self, model: GuestModel, out: &mut Vec<Allocation>) {
        for resource in model.resources {
            let Some(pool) = resource
                .pool_id
                .as_deref()
                .and_then(PoolKind::parse_id)
                .map(|(kind, name)| PoolId::new(kind, name))
                .filter(|p| self.existing.contains(p))
            else {
                continue;
            };
            let paths = if self.devices {
                resource
                    .devices
                    .into_iter()
                    .filter_map(|d| d.path)
                    .collect()
            } else {
                resource.rasd.path.into_iter().collect()
            };
            out.push(Allocation { pool, paths });
        }
    }
}

/// One guest resource drawn from a pool: the pool, and the paths of the device instances realising it or of
/// the RASD describing it (as asked).
#[derive(Clone, Debug)]
pub struct Allocation {
    pub pool: PoolId,
    pub paths: Vec<ObjectPath>,
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
        let driver = &ctx.driver;
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
                // Reserved: the memory the running guests hold now (the QEMU driver's domain info is its own
                // record, no round trip to QEMU).
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
    async fn read_pools(&self, driver: &Connection) -> Result<HostPools, OpError> {
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
        let pools = self.read_pools(ctx.driver).await?;
        Ok(self.ids_of_kind(&pools).iter().map(PoolId::path).collect())
    }

    /// libvirt-CIM's `get_pool_by_ref`: its codes and descriptions ([`super::lookup`]).
    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let instance_id = path
            .key_str("InstanceID")
            .ok_or_else(|| lookup::missing_key("Missing InstanceID"))?;
        let missing = || lookup::no_such(instance_id);
        let (kind, _) = PoolKind::parse_id(instance_id)
            .filter(|(kind, _)| *kind == self.kind)
            .ok_or_else(|| {
                OpError::cim(
                    CimStatus::NotFound,
                    format!("No such instance ({instance_id}) - resource pool type mismatch"),
                )
            })?;
        let id = PoolId::from_path(path)
            .filter(|id| id.kind == kind)
            .ok_or_else(missing)?;
        if self.kind.single() && !id.is_primordial() {
            return Err(missing());
        }
        let pools = self.read_pools(ctx.driver).await?;
        let inst = self.instance(ctx, &id, &pools).await?.ok_or_else(missing)?;
        if let Some(found) = &inst.path {
            lookup::validate_ref(path, found)?;
        }
        Ok(inst)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let pools = self.read_pools(ctx.driver).await?;
        let mut out = Vec::new();
        for id in self.ids_of_kind(&pools) {
            if let Some(inst) = self.instance(ctx, &id, &pools).await? {
                out.push(inst);
            }
        }
        Ok(out)
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
}
