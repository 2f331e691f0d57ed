//! The capabilities classes of the host side: `KVM_AllocationCapabilities` (one per resource pool, InstanceID and
//! ResourceType the pool's), `KVM_VirtualSystemManagementCapabilities` (the one "ManagementCapabilities") and
//! `KVM_EnabledLogicalElementCapabilities` (one per guest, InstanceID the domain name), as libvirt-CIM.

use async_trait::async_trait;

use super::pools::{HostPools, PoolId, PoolKind, NAMESPACE};
use super::{put, Provider, ProviderCtx};
use crate::cim::{CimStatus, CimType, Instance, ObjectPath, Value};
use crate::error::ErrorCode;
use crate::wbem::ops::OpError;

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

fn not_found(path: &ObjectPath) -> OpError {
    OpError::cim(CimStatus::NotFound, format!("no instance {path}"))
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
        let pools = HostPools::read(ctx.driver.as_ref()).await?;
        Ok(pools.ids().iter().map(alloc_caps_path).collect())
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let (kind, name) = path
            .key_str("InstanceID")
            .and_then(PoolKind::parse_id)
            .ok_or_else(|| not_found(path))?;
        let pool = PoolId::new(kind, name);
        if !path.class_name.eq_ignore_ascii_case(ALLOC_CAPS_CLASS) {
            return Err(not_found(path));
        }
        let exists = if kind.single() {
            pool.is_primordial()
        } else {
            pool.is_primordial()
                || HostPools::read(ctx.driver.as_ref())
                    .await?
                    .ids()
                    .contains(&pool)
        };
        if !exists {
            return Err(not_found(path));
        }
        Ok(Self::instance(ctx, &pool))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let pools = HostPools::read(ctx.driver.as_ref()).await?;
        Ok(pools.ids().iter().map(|p| Self::instance(ctx, p)).collect())
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
        if !vsmc_path().same_object(path) {
            return Err(not_found(path));
        }
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

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let name = path
            .key_str("InstanceID")
            .filter(|_| path.class_name.eq_ignore_ascii_case(ELEC_CLASS))
            .ok_or_else(|| not_found(path))?;
        match ctx.driver.domain_lookup_by_name(name).await {
            Ok(dom) => Ok(Self::instance(ctx, &dom.name)),
            Err(e) if e.code == ErrorCode::NO_DOMAIN => Err(not_found(path)),
            Err(e) => Err(e.into()),
        }
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let domains = ctx.driver.list_all_domains(0).await?;
        Ok(domains
            .iter()
            .map(|d| Self::instance(ctx, &d.name))
            .collect())
    }
}
