//! The logical devices of each guest (`KVM_Processor`, `KVM_Memory`, `KVM_LogicalDisk`, `KVM_NetworkPort`,
//! `KVM_DisplayController`, `KVM_ConsoleDisplayController`, `KVM_PointingDevice`, `KVM_Controller`), keyed
//! SystemCreationClassName/SystemName/CreationClassName/DeviceID as libvirt-CIM. Like libvirt-CIM, devices
//! are served for every defined domain, running or not (from the live XML when it runs).

use std::sync::Arc;

use async_trait::async_trait;

use super::guest::{
    load_all_guests_part, load_guest_pieces, load_guest_shared, split_fq_devid, GuestModel,
    LoadOptions, ModelPart, ResourceKind,
};
use super::{lookup, HeldPieces, Pieces, Provider, ProviderCtx};
use crate::cim::{Instance, ObjectPath};
use crate::wbem::error::OpError;

/// One device class: the devices of that kind of every defined domain.
pub struct DeviceProvider {
    kind: ResourceKind,
}

impl DeviceProvider {
    pub fn new(kind: ResourceKind) -> DeviceProvider {
        DeviceProvider { kind }
    }

    /// One guest's devices of this kind.
    fn of_guest(&self, guest: GuestModel) -> Vec<Instance> {
        guest
            .resources
            .into_iter()
            .filter(|r| r.kind == self.kind)
            .flat_map(|r| r.devices)
            .collect()
    }
}

#[async_trait]
impl Provider for DeviceProvider {
    fn class_name(&self) -> &'static str {
        self.kind.device_class()
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(self
            .enumerate(ctx)
            .await?
            .into_iter()
            .filter_map(|d| d.path)
            .collect())
    }

    /// libvirt-CIM's `get_device_by_ref`: its codes and descriptions ([`super::lookup`]).
    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let name = path
            .key_str("DeviceID")
            .ok_or_else(|| lookup::missing_key("No DeviceID specified"))?;
        let (domain, _) =
            split_fq_devid(name).ok_or_else(|| lookup::no_such(&format!("bad id {name}")))?;
        let Some(model) = load_guest_shared(
            ctx.driver,
            domain,
            LoadOptions::KEYS_ONLY,
            Some(ModelPart::Devices(self.kind)),
        )
        .await?
        else {
            let what = format!("no domain for {name}");
            return Err(lookup::no_such_domain(ctx.driver, domain, &what).await);
        };
        let device = model
            .resources
            .iter()
            .filter(|r| r.kind == self.kind)
            .flat_map(|r| &r.devices)
            .find(|d| {
                d.path
                    .as_ref()
                    .is_some_and(|p| p.key_str("DeviceID") == Some(name))
            })
            .cloned()
            .ok_or_else(|| lookup::no_such(&format!("no device {name}")))?;
        if let Some(found) = &device.path {
            lookup::validate_ref(path, found)?;
        }
        Ok(device)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let part = Some(ModelPart::Devices(self.kind));
        let guests = load_all_guests_part(ctx.driver, LoadOptions::KEYS_ONLY, part).await?;
        Ok(guests.into_iter().flat_map(|g| self.of_guest(g)).collect())
    }

    fn splits_per_guest(&self) -> bool {
        true
    }

    async fn enumerate_pieces<'a>(
        &'a self,
        ctx: &'a ProviderCtx<'a>,
        have: &dyn HeldPieces,
    ) -> Result<Option<Pieces<'a>>, OpError> {
        let part = Some(ModelPart::Devices(self.kind));
        load_guest_pieces(ctx.driver, LoadOptions::KEYS_ONLY, part, have, |g| {
            self.of_guest(g)
        })
        .await
    }
}

/// One provider per device class.
pub fn device_providers() -> Vec<Arc<dyn Provider>> {
    ResourceKind::ALL
        .into_iter()
        .map(|kind| Arc::new(DeviceProvider::new(kind)) as Arc<dyn Provider>)
        .collect()
}
