//! `KVM_SwitchService`, the host's switch virtualization service as libvirt-CIM keys it (Name "Switch
//! Virtualization Capabilities", SystemCreationClassName/SystemName = the host). libvirt-CIM fills IsVSISupported
//! and VSIInterface by running lldpad's `lldptool` on the host's interfaces; the driver API (which may reach
//! another host) tells nothing of 802.1Qbg, so both stay NULL (unknown) rather than guessed.

use async_trait::async_trait;

use super::pool_config::service_path;
use super::pools::{host_name, HOST_CLASS};
use super::{put, singleton_host, Provider, ProviderCtx};
use crate::cim::{Instance, ObjectPath, Value};
use crate::wbem::error::OpError;

pub const SWITCH_SERVICE_CLASS: &str = "KVM_SwitchService";
pub const SWITCH_SERVICE_NAME: &str = "Switch Virtualization Capabilities";

pub fn switch_service_path(host: &str) -> ObjectPath {
    service_path(SWITCH_SERVICE_CLASS, SWITCH_SERVICE_NAME, host)
}

/// `KVM_SwitchService`: the host's one instance.
pub struct SwitchServiceProvider;

#[async_trait]
impl Provider for SwitchServiceProvider {
    fn class_name(&self) -> &'static str {
        SWITCH_SERVICE_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![switch_service_path(&host_name(ctx.driver).await)])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let host = singleton_host(ctx, path, switch_service_path).await?;
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        let s = |v: &str| Value::String(v.to_owned());
        put(&mut inst, class, "CreationClassName", s(&class.name));
        put(&mut inst, class, "Name", s(SWITCH_SERVICE_NAME));
        put(&mut inst, class, "SystemCreationClassName", s(HOST_CLASS));
        put(&mut inst, class, "SystemName", s(&host));
        Ok(ctx.with_path(inst))
    }
}
