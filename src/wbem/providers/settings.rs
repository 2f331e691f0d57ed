//! The setting data of each guest: `KVM_VirtualSystemSettingData` (InstanceID `"KVM:<domain>"`) and the eight
//! RASD classes (InstanceID `"<domain>/<device id>"`), served from the per-guest model of [`super::guest`].

use std::sync::Arc;

use async_trait::async_trait;

use super::guest::{
    load_all_guests_part, load_guest_pieces, load_guest_shared, split_fq_devid, vssd_path,
    GuestModel, LoadOptions, ModelPart, ResourceKind, VSSD_CLASS,
};
use super::{lookup, HeldPieces, Pieces, Provider, ProviderCtx};
use crate::cim::{Instance, ObjectPath};
use crate::wbem::error::OpError;

/// `KVM_VirtualSystemSettingData`: one per defined domain, active or not.
pub struct VssdProvider;

const VSSD_LOAD: LoadOptions = LoadOptions {
    host_index: false,
    autostart: true,
};

#[async_trait]
impl Provider for VssdProvider {
    fn class_name(&self) -> &'static str {
        VSSD_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        let domains = ctx.driver.list_all_domains(0).await?;
        Ok(domains.iter().map(|d| vssd_path(&d.name)).collect())
    }

    /// libvirt-CIM's `get_vssd_by_ref`: its codes and descriptions ([`super::lookup`]).
    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let id = path
            .key_str("InstanceID")
            .ok_or_else(|| lookup::no_such("InstanceID"))?;
        // libvirt-CIM takes the name after any prefix; the prefix is then checked with the other keys.
        let domain = match id.split_once(':') {
            Some((_, name)) if !name.is_empty() => name,
            _ => return Err(lookup::no_such("InstanceID")),
        };
        let Some(model) =
            load_guest_shared(ctx.driver, domain, VSSD_LOAD, Some(ModelPart::Vssd)).await?
        else {
            return Err(lookup::no_such_domain(ctx.driver, domain, domain).await);
        };
        lookup::validate_ref(path, &vssd_path(&model.name))?;
        Ok(model.vssd.clone())
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let guests = load_all_guests_part(ctx.driver, VSSD_LOAD, Some(ModelPart::Vssd)).await?;
        Ok(guests.into_iter().map(|g| g.vssd).collect())
    }

    fn splits_per_guest(&self) -> bool {
        true
    }

    async fn enumerate_pieces<'a>(
        &'a self,
        ctx: &'a ProviderCtx<'a>,
        have: &dyn HeldPieces,
    ) -> Result<Option<Pieces<'a>>, OpError> {
        let part = Some(ModelPart::Vssd);
        load_guest_pieces(ctx.driver, VSSD_LOAD, part, have, |g| vec![g.vssd]).await
    }
}

/// One RASD class (`KVM_ProcResourceAllocationSettingData`, ...): one instance per resource of that kind of
/// every defined domain.
pub struct RasdProvider {
    kind: ResourceKind,
}

impl RasdProvider {
    pub fn new(kind: ResourceKind) -> RasdProvider {
        RasdProvider { kind }
    }

    /// One guest's RASDs of this kind.
    fn of_guest(&self, guest: GuestModel) -> Vec<Instance> {
        guest
            .resources
            .into_iter()
            .filter(|r| r.kind == self.kind)
            .map(|r| r.rasd)
            .collect()
    }

    fn load_options(&self) -> LoadOptions {
        LoadOptions {
            host_index: self.kind.needs_host_index(),
            autostart: false,
        }
    }
}

#[async_trait]
impl Provider for RasdProvider {
    fn class_name(&self) -> &'static str {
        self.kind.rasd_class()
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        let part = Some(ModelPart::Rasds(self.kind));
        let guests = load_all_guests_part(ctx.driver, LoadOptions::KEYS_ONLY, part).await?;
        Ok(guests
            .iter()
            .flat_map(|g| g.resources.iter())
            .filter(|r| r.kind == self.kind)
            .filter_map(|r| r.rasd.path.clone())
            .collect())
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        // cimhost: the RASD templates of KVM_SettingsDefineCapabilities ("Minimum", "Default", ...).
        if let Some(template) = super::capabilities::rasd_template(ctx, path).await? {
            return Ok(template);
        }
        // libvirt-CIM's `get_rasd_by_ref`: its codes and descriptions ([`super::lookup`]).
        let name = path
            .key_str("InstanceID")
            .ok_or_else(|| lookup::missing_key("Missing InstanceID"))?;
        let (domain, _) = split_fq_devid(name).ok_or_else(|| lookup::no_such(name))?;
        let Some(model) = load_guest_shared(
            ctx.driver,
            domain,
            self.load_options(),
            Some(ModelPart::Rasds(self.kind)),
        )
        .await?
        else {
            return Err(lookup::no_such_domain(ctx.driver, domain, name).await);
        };
        let rasd = model
            .resources
            .iter()
            .filter(|r| r.kind == self.kind)
            .map(|r| &r.rasd)
            .find(|rasd| {
                rasd.path
                    .as_ref()
                    .is_some_and(|p| p.key_str("InstanceID") == Some(name))
            })
            .cloned()
            .ok_or_else(|| lookup::no_such(name))?;
        if let Some(found) = &rasd.path {
            lookup::validate_ref(path, found)?;
        }
        Ok(rasd)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let part = Some(ModelPart::Rasds(self.kind));
        let guests = load_all_guests_part(ctx.driver, self.load_options(), part).await?;
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
        let part = Some(ModelPart::Rasds(self.kind));
        load_guest_pieces(ctx.driver, self.load_options(), part, have, |g| {
            self.of_guest(g)
        })
        .await
    }
}

/// The VSSD provider and one provider per RASD class.
pub fn settings_providers() -> Vec<Arc<dyn Provider>> {
    let mut out: Vec<Arc<dyn Provider>> = vec![Arc::new(VssdProvider)];
    out.extend(
        ResourceKind::ALL
            .into_iter()
            .map(|kind| Arc::new(RasdProvider::new(kind)) as Arc<dyn Provider>),
    );
    out
}
