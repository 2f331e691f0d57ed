//! The host-side associations: `KVM_HostedResourcePool` (host -> each pool), `KVM_HostedService` (host -> the
//! virtual system management, pool configuration, snapshot and console redirection services),
//! `KVM_ElementCapabilities` (host and VSMS -> management capabilities, host and console redirection service ->
//! its capabilities, pool
//! -> its allocation capabilities, guest -> its enabled-logical-element capabilities),
//! `KVM_ElementAllocatedFromPool` (pool -> guest device, primordial pool -> child pool) and
//! `KVM_ResourceAllocationFromPool` (pool -> guest RASD) and `KVM_SettingsDefineCapabilities` (a pool's
//! allocation capabilities -> its RASD templates). Each enumeration reads the driver once.

use std::sync::Arc;

use async_trait::async_trait;

use super::capabilities::{
    alloc_caps_path, elec_path, template_path, vsmc_path, TemplateRole, ALLOC_CAPS_CLASS,
    ELEC_CLASS, VSMC_CLASS,
};
use super::guest::load_guest_pieces;
use super::guest::{split_fq_devid, ResourceKind};
use super::paths_of;
use super::pool_config::{
    pool_templates, rpcc_path, rpcs_path, template_role, DISK_POOL_RASD, NET_POOL_RASD, RPCC_CLASS,
    RPCS_CLASS, VOLUME_RASD,
};
use super::pools::{
    guest_allocations, host_name, host_path, Allocation, AllocationReading, HostPools, PoolId,
    PoolKind, HOST_CLASS, NAMESPACE,
};
use super::redirection::{crs_path, crsc_path, CRSC_CLASS, CRS_CLASS};
use super::snapshots::{vsss_path, vsssc_path, VSSSC_CLASS, VSSS_CLASS};
use super::vsms::{vsms_path, VSMS_CLASS};
// Virtual system migration: the service, its capabilities and default settings.
use super::migration::{
    caps_path as migration_caps_path, msd_path, service_path_of as migration_service_path,
    CAPS_CLASS as MIGRATION_CAPS_CLASS, MSD_CLASS, SERVICE_CLASS as MIGRATION_SERVICE_CLASS,
};
use super::{
    get_from_enumeration, owned_assoc_instance, put, HeldPieces, Piece, PieceKey, Pieces, Provider,
    ProviderCtx,
};
use crate::cim::{Instance, ObjectPath, Value};
use crate::wbem::error::OpError;

pub const HOSTED_POOL_CLASS: &str = "KVM_HostedResourcePool";
pub const HOSTED_SERVICE_CLASS: &str = "KVM_HostedService";
pub const ELEMENT_CAPS_CLASS: &str = "KVM_ElementCapabilities";
pub const ALLOCATED_FROM_POOL_CLASS: &str = "KVM_ElementAllocatedFromPool";
pub const RASD_FROM_POOL_CLASS: &str = "KVM_ResourceAllocationFromPool";

/// The two ends of one association instance, (role, path) each; an end shared by many instances (a pool,
/// the host) is shared, not copied.
type Pair = [(&'static str, Arc<ObjectPath>); 2];
pub const SDC_CLASS: &str = "KVM_SettingsDefineCapabilities";

const CS_CLASS: &str = "KVM_ComputerSystem";

fn guest_path(name: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        CS_CLASS,
        &[("CreationClassName", CS_CLASS), ("Name", name)],
    )
}

/// Which association a [`HostAssocProvider`] serves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HostAssoc {
    HostedResourcePool,
    HostedService,
    ElementCapabilities,
    ElementAllocatedFromPool,
    ResourceAllocationFromPool,
    SettingsDefineCapabilities,
}

impl HostAssoc {
    pub const ALL: [HostAssoc; 6] = [
        HostAssoc::HostedResourcePool,
        HostAssoc::HostedService,
        HostAssoc::ElementCapabilities,
        HostAssoc::ElementAllocatedFromPool,
        HostAssoc::ResourceAllocationFromPool,
        HostAssoc::SettingsDefineCapabilities,
    ];

    pub fn class_name(self) -> &'static str {
        match self {
            HostAssoc::HostedResourcePool => HOSTED_POOL_CLASS,
            HostAssoc::HostedService => HOSTED_SERVICE_CLASS,
            HostAssoc::ElementCapabilities => ELEMENT_CAPS_CLASS,
            HostAssoc::ElementAllocatedFromPool => ALLOCATED_FROM_POOL_CLASS,
            HostAssoc::ResourceAllocationFromPool => RASD_FROM_POOL_CLASS,
            HostAssoc::SettingsDefineCapabilities => SDC_CLASS,
        }
    }
}

/// One provider per host-side association class.
pub struct HostAssocProvider {
    pub assoc: HostAssoc,
}

impl HostAssocProvider {
    pub fn all() -> Vec<HostAssocProvider> {
        HostAssoc::ALL
            .into_iter()
            .map(|assoc| HostAssocProvider { assoc })
            .collect()
    }

    /// The classes this association's ends can be (an object of another class has no instances).
    fn endpoint(&self, class: &str) -> bool {
        let is = |c: &str| class.eq_ignore_ascii_case(c);
        let pool = PoolKind::ALL.iter().any(|k| is(k.class_name()));
        let device = ResourceKind::ALL.iter().any(|k| is(k.device_class()));
        let rasd = ResourceKind::ALL.iter().any(|k| is(k.rasd_class()));
        match self.assoc {
            HostAssoc::HostedResourcePool => pool || is(HOST_CLASS),
            HostAssoc::HostedService => {
                is(HOST_CLASS)
                    || is(VSMS_CLASS)
                    || is(RPCS_CLASS)
                    || is(VSSS_CLASS)
                    || is(CRS_CLASS)
                    || is(MIGRATION_SERVICE_CLASS)
            }
            HostAssoc::ElementCapabilities => {
                pool || is(HOST_CLASS)
                    || is(VSMS_CLASS)
                    || is(VSMC_CLASS)
                    || is(RPCS_CLASS)
                    || is(RPCC_CLASS)
                    || is(VSSS_CLASS)
                    || is(VSSSC_CLASS)
                    || is(ALLOC_CAPS_CLASS)
                    || is(CS_CLASS)
                    || is(ELEC_CLASS)
                    || is(CRS_CLASS)
                    || is(CRSC_CLASS)
                    || is(MIGRATION_SERVICE_CLASS)
                    || is(MIGRATION_CAPS_CLASS)
            }
            HostAssoc::ElementAllocatedFromPool => pool || device,
            HostAssoc::ResourceAllocationFromPool => pool || rasd,
            HostAssoc::SettingsDefineCapabilities => {
                is(ALLOC_CAPS_CLASS)
                    || rasd
                    || is(DISK_POOL_RASD)
                    || is(NET_POOL_RASD)
                    || is(VOLUME_RASD)
                    || is(MIGRATION_CAPS_CLASS)
                    || is(MSD_CLASS)
            }
        }
    }

    /// The reference pairs of the instances that may name `object`, when that needs less than all of them.
    async fn pairs_for(
        &self,
        ctx: &ProviderCtx<'_>,
        object: &ObjectPath,
    ) -> Result<Option<Vec<Pair>>, OpError> {
        if !self.endpoint(&object.class_name) {
            return Ok(Some(Vec::new()));
        }
        let is = |c: &str| object.class_name.eq_ignore_ascii_case(c);
        let driver = &ctx.driver;
        match self.assoc {
            // A guest or its capabilities: the one pair.
            HostAssoc::ElementCapabilities if is(CS_CLASS) || is(ELEC_CLASS) => {
                let name = object
                    .key_str("Name")
                    .or_else(|| object.key_str("InstanceID"))
                    .unwrap_or_default();
                Ok(Some(vec![[
                    ("ManagedElement", guest_path(name).into()),
                    ("Capabilities", elec_path(name).into()),
                ]]))
            }
            // A guest's device or RASD: that guest's allocations only.
            HostAssoc::ElementAllocatedFromPool | HostAssoc::ResourceAllocationFromPool
                if !PoolKind::ALL.iter().any(|k| is(k.class_name())) =>
            {
                let domain = object
                    .key_str("SystemName")
                    .or_else(|| {
                        object
                            .key_str("InstanceID")
                            .and_then(split_fq_devid)
                            .map(|(d, _)| d)
                    })
                    .unwrap_or_default();
                let pools = HostPools::read(driver).await?;
                let mut out = Vec::new();
                for alloc in
                    guest_allocations(driver, &pools, Some(domain), None, self.links_devices())
                        .await?
                {
                    self.push_allocation(&mut out, alloc);
                }
                Ok(Some(out))
            }
            // A pool: only the resources of its kind (memory, processor ... need no storage listing).
            HostAssoc::ElementAllocatedFromPool | HostAssoc::ResourceAllocationFromPool => {
                let Some(pool) = PoolId::from_path(object) else {
                    return Ok(Some(Vec::new()));
                };
                let pools = HostPools::read(driver).await?;
                let mut out = Vec::new();
                if self.assoc == HostAssoc::ElementAllocatedFromPool {
                    // A child pool's parent, or a primordial pool's children.
                    for child in pools.ids().into_iter().filter(|p| p.kind == pool.kind) {
                        if let Some(parent) = child.parent() {
                            out.push([
                                ("Antecedent", parent.path().into()),
                                ("Dependent", child.path().into()),
                            ]);
                        }
                    }
                }
                for alloc in
                    guest_allocations(driver, &pools, None, Some(pool.kind), self.links_devices())
                        .await?
                {
                    if alloc.pool == pool {
                        self.push_allocation(&mut out, alloc);
                    }
                }
                Ok(Some(out))
            }
            _ => Ok(None),
        }
    }

    fn push_allocation(&self, out: &mut Vec<Pair>, alloc: Allocation) {
        let antecedent = Arc::new(alloc.pool.path());
        for dependent in alloc.paths {
            out.push([
                ("Antecedent", Arc::clone(&antecedent)),
                ("Dependent", dependent.into()),
            ]);
        }
    }

    /// The pairs between pools: child disk and network pools come from their primordial parent (allocations
    /// from pools only).
    fn pool_pairs(&self, pools: &HostPools) -> Vec<Pair> {
        if self.assoc != HostAssoc::ElementAllocatedFromPool {
            return Vec::new();
        }
        let mut out = Vec::new();
        for pool in pools.ids() {
            if let Some(parent) = pool.parent() {
                out.push([
                    ("Antecedent", parent.path().into()),
                    ("Dependent", pool.path().into()),
                ]);
            }
        }
        out
    }

    /// Whether the association's guest ends are devices (else RASDs).
    fn links_devices(&self) -> bool {
        self.assoc == HostAssoc::ElementAllocatedFromPool
    }

    /// The reference pairs of every instance, (role A, path A), (role B, path B).
    async fn pairs(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Pair>, OpError> {
        let driver = &ctx.driver;
        let mut out = Vec::new();
        match self.assoc {
            HostAssoc::HostedResourcePool => {
                let host = Arc::new(host_path(&host_name(driver).await));
                for pool in HostPools::read_ids(driver).await? {
                    out.push([
                        ("GroupComponent", Arc::clone(&host)),
                        ("PartComponent", pool.path().into()),
                    ]);
                }
            }
            HostAssoc::HostedService => {
                let name = host_name(driver).await;
                for service in [
                    vsms_path(&name),
                    rpcs_path(&name),
                    vsss_path(&name),
                    crs_path(&name),
                    migration_service_path(&name),
                ] {
                    out.push([
                        ("Antecedent", host_path(&name).into()),
                        ("Dependent", service.into()),
                    ]);
                }
            }
            HostAssoc::ElementCapabilities => {
                let name = host_name(driver).await;
                let caps = |element: ObjectPath, caps: ObjectPath| -> Pair {
                    [
                        ("ManagedElement", element.into()),
                        ("Capabilities", caps.into()),
                    ]
                };
                out.push(caps(host_path(&name), vsmc_path()));
                out.push(caps(vsms_path(&name), vsmc_path()));
                out.push(caps(rpcs_path(&name), rpcc_path()));
                out.push(caps(vsss_path(&name), vsssc_path()));
                // As libvirt-CIM: the host and the console redirection service share its capabilities.
                out.push(caps(host_path(&name), crsc_path()));
                out.push(caps(crs_path(&name), crsc_path()));
                // As libvirt-CIM: the host and the migration service, and the migration capabilities.
                out.push(caps(host_path(&name), migration_caps_path()));
                out.push(caps(migration_service_path(&name), migration_caps_path()));
                for pool in HostPools::read_ids(driver).await? {
                    out.push(caps(pool.path(), alloc_caps_path(&pool)));
                }
                for dom in driver.list_all_domains(0).await? {
                    out.push(caps(guest_path(&dom.name), elec_path(&dom.name)));
                }
            }
            HostAssoc::SettingsDefineCapabilities => {
                // The migration capabilities and their default settings (libvirt-CIM).
                out.push([
                    ("GroupComponent", migration_caps_path().into()),
                    ("PartComponent", msd_path().into()),
                ]);
                for pool in HostPools::read_ids(driver).await? {
                    // The primordial disk and network pools offer pool settings, not device settings.
                    let device_templates = !(pool.is_primordial()
                        && matches!(pool.kind, PoolKind::Disk | PoolKind::Network));
                    for role in TemplateRole::ALL {
                        if let Some(template) =
                            template_path(pool.kind, role).filter(|_| device_templates)
                        {
                            out.push([
                                ("GroupComponent", alloc_caps_path(&pool).into()),
                                ("PartComponent", template.into()),
                            ]);
                        }
                    }
                    for template in pool_templates(&pool) {
                        out.push([
                            ("GroupComponent", alloc_caps_path(&pool).into()),
                            ("PartComponent", template.into()),
                        ]);
                    }
                }
            }
            HostAssoc::ElementAllocatedFromPool | HostAssoc::ResourceAllocationFromPool => {
                let pools = HostPools::read(driver).await?;
                out = self.pool_pairs(&pools);
                for alloc in
                    guest_allocations(driver, &pools, None, None, self.links_devices()).await?
                {
                    self.push_allocation(&mut out, alloc);
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Provider for HostAssocProvider {
    fn class_name(&self) -> &'static str {
        self.assoc.class_name()
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let pairs = self.pairs(ctx).await?;
        Ok(self.instances(ctx, pairs))
    }

    /// The allocations from pools: the pairs between pools first (the host's piece), then each guest's.
    fn splits_per_guest(&self) -> bool {
        matches!(
            self.assoc,
            HostAssoc::ElementAllocatedFromPool | HostAssoc::ResourceAllocationFromPool
        )
    }

    async fn enumerate_pieces<'a>(
        &'a self,
        ctx: &'a ProviderCtx<'a>,
        have: &dyn HeldPieces,
    ) -> Result<Option<Pieces<'a>>, OpError> {
        if !self.splits_per_guest() {
            return Ok(None);
        }
        // Read before the pools: what is made across a host change is kept under the older number.
        let Some(host) = ctx.driver.host_generation() else {
            return Ok(None);
        };
        let pools = HostPools::read(ctx.driver).await?;
        let reading = AllocationReading::new(&pools, None, self.links_devices());
        let key = PieceKey {
            uuid: uuid::Uuid::nil(),
            version: 0,
            host,
        };
        let between_pools =
            (!have.holds(&key)).then(|| self.instances(ctx, self.pool_pairs(&pools)));
        let (options, part) = (reading.options, reading.part);
        let Some(guests) = load_guest_pieces(ctx.driver, options, part, have, move |model| {
            let mut allocations = Vec::new();
            reading.of_guest(model, &mut allocations);
            let mut pairs = Vec::new();
            for alloc in allocations {
                self.push_allocation(&mut pairs, alloc);
            }
            self.instances(ctx, pairs)
        })
        .await?
        else {
            return Ok(None);
        };
        let first = Piece {
            key,
            instances: between_pools,
        };
        Ok(Some(Box::new(std::iter::once(first).chain(guests))))
    }

    async fn references_to(
        &self,
        ctx: &ProviderCtx<'_>,
        object: &ObjectPath,
    ) -> Result<Option<Vec<Instance>>, OpError> {
        Ok(self
            .pairs_for(ctx, object)
            .await?
            .map(|pairs| self.instances(ctx, pairs)))
    }
}

impl HostAssocProvider {
    fn instances(&self, ctx: &ProviderCtx<'_>, pairs: Vec<Pair>) -> Vec<Instance> {
        let mut out: Vec<Instance> = pairs
            .into_iter()
            .map(|refs| owned_assoc_instance(ctx, refs))
            .collect();
        if self.assoc == HostAssoc::SettingsDefineCapabilities {
            for inst in &mut out {
                let role = match inst.get("PartComponent") {
                    Some(Value::Reference(p)) => p.key_str("InstanceID").and_then(template_role),
                    _ => None,
                };
                if let Some(role) = role {
                    let (value_role, value_range) = role.value_role_and_range();
                    put(inst, ctx.class, "ValueRole", Value::Uint16(value_role));
                    put(inst, ctx.class, "ValueRange", Value::Uint16(value_range));
                    put(inst, ctx.class, "PropertyPolicy", Value::Uint16(0));
                }
            }
        }
        out
    }
}
