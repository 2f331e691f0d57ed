//! The capabilities classes of the host side: `KVM_AllocationCapabilities` (one per resource pool, InstanceID and
//! ResourceType the pool's), `KVM_VirtualSystemManagementCapabilities` (the one "ManagementCapabilities") and
//! `KVM_EnabledLogicalElementCapabilities` (one per guest, InstanceID the domain name), as libvirt-CIM.

use async_trait::async_trait;

use super::pools::{HostPools, PoolId, PoolKind, NAMESPACE};
use super::{lookup, put, summary_pieces, HeldPieces, Pieces, Provider, ProviderCtx};
use crate::cim::{CimStatus, CimType, Instance, ObjectPath, Value};
use crate::error::ErrorCode;
use crate::wbem::error::OpError;

pub const ALLOC_CAPS_CLASS: &str = "KVM_AllocationCapabilities";
pub const VSMC_CLASS: &str = "KVM_VirtualSystemManagementCapabilities";
pub const ELEC_CLASS: &str = "KVM_EnabledLogicalElementCapabilities";
pub const VSMC_ID: &str = "ManagementCapabilities";

/// The VSMS methods that complete before returning, in DMTF 2.49's value map: DefineSystem (2), DestroySystem
/// (3), ModifyResourceSettings (5), ModifySystemSettings (6), RemoveResourceSettings (7), AddResourceSettings
/// (10) — the six methods libvirt-CIM lists.
pub const VSMS_SYNCHRONOUS_METHODS: [u16; 6] = [2, 3, 5, 6, 7, 10];

/// The states KVM_ComputerSystem.RequestStateChange accepts: Enabled, Disabled, Shut Down, Quiesce (pause),
/// Reboot, Reset.
pub const REQUESTED_STATES_SUPPORTED: [u16; 6] = [2, 3, 4, 9, 10, 11];

fn uint16_array(values: &[u16]) -> Value {
    Value::Array(
        CimType::Uint16,
        values.iter().map(|v| Value::Uint16(*v)).collect(),
    )
}

pub fn alloc_caps_path(pool: &PoolId) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        ALLOC_CAPS_CLASS,
        &[("InstanceID", &pool.instance_id())],
    )
}

pub fn vsmc_path() -> ObjectPath {
    ObjectPath::instance(Some(NAMESPACE), VSMC_CLASS, &[("InstanceID", VSMC_ID)])
}

pub fn elec_path(domain: &str) -> ObjectPath {
    ObjectPath::instance(Some(NAMESPACE), ELEC_CLASS, &[("InstanceID", domain)])
}

/// `KVM_AllocationCapabilities`: one per pool.
pub struct AllocationCapabilitiesProvider;

impl AllocationCapabilitiesProvider {
    fn instance(ctx: &ProviderCtx<'_>, pool: &PoolId) -> Instance {
        let mut inst = ctx.new_instance();
        let id = pool.instance_id();
        put(
            &mut inst,
            ctx.class,
            "InstanceID",
            Value::String(id.clone()),
        );
        put(&mut inst, ctx.class, "ElementName", Value::String(id));
        put(
            &mut inst,
            ctx.class,
            "ResourceType",
            Value::Uint16(pool.kind.resource_type()),
        );
        ctx.with_path(inst)
    }
}

#[async_trait]
impl Provider for AllocationCapabilitiesProvider {
    fn class_name(&self) -> &'static str {
        ALLOC_CAPS_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        let pools = HostPools::read_ids(ctx.driver).await?;
        Ok(pools.iter().map(alloc_caps_path).collect())
    }

    /// libvirt-CIM's codes and descriptions: FAILED "No InstanceID specified", NOT_FOUND "Instance not found.".
    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let not_found = |_: &ObjectPath| OpError::cim(CimStatus::NotFound, "Instance not found.");
        let (kind, name) = path
            .key_str("InstanceID")
            .ok_or_else(|| lookup::missing_key("No InstanceID specified"))
            .map(PoolKind::parse_id)?
            .ok_or_else(|| not_found(path))?;
        let pool = PoolId::new(kind, name);
        if !path.class_name.eq_ignore_ascii_case(ALLOC_CAPS_CLASS) {
            return Err(not_found(path));
        }
        let exists = if kind.single() {
            pool.is_primordial()
        } else {
            pool.is_primordial() || HostPools::read_ids(ctx.driver).await?.contains(&pool)
        };
        if !exists {
            return Err(not_found(path));
        }
        Ok(Self::instance(ctx, &pool))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let pools = HostPools::read_ids(ctx.driver).await?;
        Ok(pools.iter().map(|p| Self::instance(ctx, p)).collect())
    }
}

/// `KVM_VirtualSystemManagementCapabilities`: the one instance describing the VSMS.
pub struct VsmcProvider;

#[async_trait]
impl Provider for VsmcProvider {
    fn class_name(&self) -> &'static str {
        VSMC_CLASS
    }

    async fn enumerate_names(&self, _ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![vsmc_path()])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        lookup::validate_ref(path, &vsmc_path())?;
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        put(
            &mut inst,
            class,
            "InstanceID",
            Value::String(VSMC_ID.into()),
        );
        put(
            &mut inst,
            class,
            "ElementName",
            Value::String(VSMC_ID.into()),
        );
        put(
            &mut inst,
            class,
            "SynchronousMethodsSupported",
            uint16_array(&VSMS_SYNCHRONOUS_METHODS),
        );
        put(
            &mut inst,
            class,
            "VirtualSystemTypesSupported",
            Value::Array(CimType::String, vec![Value::String("KVM".into())]),
        );
        Ok(ctx.with_path(inst))
    }
}

/// `KVM_EnabledLogicalElementCapabilities`: one per guest.
pub struct ElecProvider;

impl ElecProvider {
    fn instance(ctx: &ProviderCtx<'_>, domain: &str) -> Instance {
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        put(&mut inst, class, "InstanceID", Value::String(domain.into()));
        put(
            &mut inst,
            class,
            "ElementName",
            Value::String(domain.into()),
        );
        put(
            &mut inst,
            class,
            "RequestedStatesSupported",
            uint16_array(&REQUESTED_STATES_SUPPORTED),
        );
        put(
            &mut inst,
            class,
            "ElementNameEditSupported",
            Value::Boolean(false),
        );
        ctx.with_path(inst)
    }
}

#[async_trait]
impl Provider for ElecProvider {
    fn class_name(&self) -> &'static str {
        ELEC_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        let domains = ctx.driver.list_all_domains(0).await?;
        Ok(domains.iter().map(|d| elec_path(&d.name)).collect())
    }

    fn splits_per_guest(&self) -> bool {
        true
    }

    async fn enumerate_pieces<'a>(
        &'a self,
        ctx: &'a ProviderCtx<'a>,
        have: &dyn HeldPieces,
    ) -> Result<Option<Pieces<'a>>, OpError> {
        summary_pieces(ctx, have, |s| vec![Self::instance(ctx, &s.dom.name)]).await
    }

    /// libvirt-CIM's `get_elec_by_ref`: its codes and descriptions ([`super::lookup`]).
    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let name = path
            .key_str("InstanceID")
            .ok_or_else(|| lookup::missing_key("No InstanceID specified"))?;
        let inst = match ctx.driver.domain_lookup_by_name(name).await {
            Ok(dom) => Self::instance(ctx, &dom.name),
            Err(e) if e.code == ErrorCode::NO_DOMAIN => {
                return Err(lookup::no_such_domain(ctx.driver, name, name).await)
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(found) = &inst.path {
            lookup::validate_ref(path, found)?;
        }
        Ok(inst)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let domains = ctx.driver.list_all_domains(0).await?;
        Ok(domains
            .iter()
            .map(|d| Self::instance(ctx, &d.name))
            .collect())
    }
}

/// The four RASD templates each pool's allocation capabilities carry, by InstanceID.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TemplateRole {
    Minimum,
    Maximum,
    Increment,
    Default,
}

impl TemplateRole {
    pub const ALL: [TemplateRole; 4] = [
        TemplateRole::Minimum,
        TemplateRole::Maximum,
        TemplateRole::Increment,
        TemplateRole::Default,
    ];

    pub fn instance_id(self) -> &'static str {
        match self {
            TemplateRole::Minimum => "Minimum",
            TemplateRole::Maximum => "Maximum",
            TemplateRole::Increment => "Increment",
            TemplateRole::Default => "Default",
        }
    }

    pub fn from_instance_id(id: &str) -> Option<TemplateRole> {
        TemplateRole::ALL
            .into_iter()
            .find(|r| r.instance_id() == id)
    }

    /// SettingsDefineCapabilities (ValueRole, ValueRange) as libvirt-CIM sets them: the default is a Default
    /// point; the others are Supported minimums, maximums and increments.
    pub fn value_role_and_range(self) -> (u16, u16) {
        match self {
            TemplateRole::Default => (0, 0),
            TemplateRole::Minimum => (3, 1),
            TemplateRole::Maximum => (3, 2),
            TemplateRole::Increment => (3, 3),
        }
    }
}

/// The RASD class of a pool kind's templates; controllers have none (libvirt-CIM has no controller template).
pub fn template_class(kind: PoolKind) -> Option<&'static str> {
    match kind {
        PoolKind::Memory => Some("KVM_MemResourceAllocationSettingData"),
        PoolKind::Processor => Some("KVM_ProcResourceAllocationSettingData"),
        PoolKind::Disk => Some("KVM_DiskResourceAllocationSettingData"),
        PoolKind::Network => Some("KVM_NetResourceAllocationSettingData"),
        PoolKind::Graphics => Some("KVM_GraphicsResourceAllocationSettingData"),
        PoolKind::Input => Some("KVM_InputResourceAllocationSettingData"),
        PoolKind::Controller => None,
    }
}

pub fn template_path(kind: PoolKind, role: TemplateRole) -> Option<ObjectPath> {
    template_class(kind).map(|class| {
        ObjectPath::instance(
            Some(NAMESPACE),
            class,
            &[("InstanceID", role.instance_id())],
        )
    })
}

/// Most NICs a KVM guest gets from a template (libvirt-CIM's build default).
const MAX_NICS: u64 = 8;
/// Processor weights (cpu shares) libvirt-CIM offers for KVM.
const KVM_WEIGHTS: [u32; 4] = [2, 262_144, 1, 1024];
/// Disk template sizes in megabytes: minimum, increment, default.
const DISK_MIN_MB: u64 = 2000;
const DISK_INC_MB: u64 = 250;
const DISK_DEF_MB: u64 = 5000;

/// A RASD template by path (class and InstanceID "Minimum", "Maximum", "Increment" or "Default"), or `None`
/// when the path names no template. The RASD providers answer GetInstance for template paths through this, so
/// Associators over KVM_SettingsDefineCapabilities find them; `ctx.class` is the RASD class.
pub async fn rasd_template(
    ctx: &ProviderCtx<'_>,
    path: &ObjectPath,
) -> Result<Option<Instance>, OpError> {
    let Some(role) = path
        .key_str("InstanceID")
        .and_then(TemplateRole::from_instance_id)
    else {
        return Ok(None);
    };
    let Some(kind) = PoolKind::ALL
        .into_iter()
        .find(|k| template_class(*k).is_some_and(|c| c.eq_ignore_ascii_case(&path.class_name)))
    else {
        return Ok(None);
    };
    let driver = &ctx.driver;
    let class = ctx.class;
    let mut inst = ctx.new_instance();
    let s = |v: &str| Value::String(v.to_owned());
    // Template values are listed minimum, maximum, increment, default.
    let slot = match role {
        TemplateRole::Minimum => 0,
        TemplateRole::Maximum => 1,
        TemplateRole::Increment => 2,
        TemplateRole::Default => 3,
    };
    let pick = |values: [u64; 4]| values[slot];
    put(&mut inst, class, "InstanceID", s(role.instance_id()));
    put(
        &mut inst,
        class,
        "ResourceType",
        Value::Uint16(kind.resource_type()),
    );
    match kind {
        PoolKind::Memory => {
            let host_kib = driver.node_get_info().await?.memory_kib;
            let kib = pick([64 << 10, host_kib, 1 << 10, 256 << 10]);
            put(&mut inst, class, "AllocationUnits", s("KiloBytes"));
            put(&mut inst, class, "VirtualQuantity", Value::Uint64(kib));
            put(&mut inst, class, "Limit", Value::Uint64(kib));
        }
        PoolKind::Processor => {
            let cpus = u64::from(driver.node_get_info().await?.cpus);
            put(&mut inst, class, "AllocationUnits", s("Processors"));
            put(
                &mut inst,
                class,
                "VirtualQuantity",
                Value::Uint64(pick([0, cpus, 1, 1])),
            );
            put(&mut inst, class, "Weight", Value::Uint32(KVM_WEIGHTS[slot]));
        }
        PoolKind::Disk => {
            // The largest free space of an active storage pool bounds a new disk.
            let mut free_mb = 0;
            for pool in list_pools(driver).await {
                if let Ok(info) = driver.pool_get_info(&pool).await {
                    free_mb = free_mb.max(info.available >> 20);
                }
            }
            let mb = pick([DISK_MIN_MB.min(free_mb), free_mb, DISK_INC_MB, DISK_DEF_MB]);
            put(&mut inst, class, "AllocationUnits", s("MegaBytes"));
            put(&mut inst, class, "VirtualQuantity", Value::Uint64(mb));
            put(&mut inst, class, "Address", s("/dev/null"));
            put(&mut inst, class, "VirtualDevice", s("hda"));
            put(&mut inst, class, "EmulatedType", Value::Uint16(0));
        }
        PoolKind::Network => {
            put(&mut inst, class, "NetworkType", s("network"));
            put(
                &mut inst,
                class,
                "VirtualQuantity",
                Value::Uint64(pick([0, MAX_NICS, 1, 1])),
            );
        }
        PoolKind::Graphics => {
            put(&mut inst, class, "ResourceSubType", s("vnc"));
            put(&mut inst, class, "Address", s("127.0.0.1:-1"));
            put(&mut inst, class, "KeyMap", s("en-us"));
        }
        PoolKind::Input => {
            put(&mut inst, class, "ResourceSubType", s("mouse"));
            put(&mut inst, class, "BusType", s("ps2"));
            put(&mut inst, class, "Caption", s("PS2 Mouse"));
        }
        PoolKind::Controller => return Ok(None),
    }
    Ok(Some(ctx.with_path(inst)))
}

async fn list_pools(driver: &crate::driver::Connection) -> Vec<crate::driver::PoolRef> {
    let mut out = Vec::new();
    for pool in driver.list_all_storage_pools(0).await.unwrap_or_default() {
        if driver.pool_is_active(&pool).await.unwrap_or(false) {
            out.push(pool);
        }
    }
    out
}
