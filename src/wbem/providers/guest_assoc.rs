//! The per-guest associations, with libvirt-CIM's roles: `KVM_SystemDevice` (GroupComponent = the
//! KVM_ComputerSystem, PartComponent = each device), `KVM_SettingsDefineState` (ComputerSystem <-> VSSD and
//! device <-> its RASD), `KVM_VirtualSystemSettingDataComponent` (VSSD -> each RASD) and
//! `KVM_ElementSettingData` (each VSSD and each RASD with itself).

use std::sync::Arc;

use async_trait::async_trait;

use super::guest::{
    computer_system_path, domain_of_vssd_id, guest_class, load_all_guests_part, load_guest_pieces,
    load_guest_shared, split_fq_devid, GuestModel, Kinds, LoadOptions, ModelPart, NAMESPACE,
};
use super::not_found;
use super::paths_of;
use super::{put, HeldPieces, Pieces, Provider, ProviderCtx};
use crate::cim::{Instance, ObjectPath, Value};
use crate::wbem::error::OpError;

pub const SYSTEM_DEVICE_CLASS: &str = "KVM_SystemDevice";
pub const SETTINGS_DEFINE_STATE_CLASS: &str = "KVM_SettingsDefineState";
pub const VSSD_COMPONENT_CLASS: &str = "KVM_VirtualSystemSettingDataComponent";
pub const ELEMENT_SETTING_DATA_CLASS: &str = "KVM_ElementSettingData";

/// The four per-guest association classes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GuestAssociation {
    SystemDevice,
    SettingsDefineState,
    VssdComponent,
    ElementSettingData,
}

impl GuestAssociation {
    pub const ALL: [GuestAssociation; 4] = [
        GuestAssociation::SystemDevice,
        GuestAssociation::SettingsDefineState,
        GuestAssociation::VssdComponent,
        GuestAssociation::ElementSettingData,
    ];

    pub fn class_name(self) -> &'static str {
        match self {
            GuestAssociation::SystemDevice => SYSTEM_DEVICE_CLASS,
            GuestAssociation::SettingsDefineState => SETTINGS_DEFINE_STATE_CLASS,
            GuestAssociation::VssdComponent => VSSD_COMPONENT_CLASS,
            GuestAssociation::ElementSettingData => ELEMENT_SETTING_DATA_CLASS,
        }
    }

    /// The two reference properties, in the order of the pairs of [`GuestAssociation::pairs`].
    pub fn roles(self) -> (&'static str, &'static str) {
        match self {
            GuestAssociation::SystemDevice | GuestAssociation::VssdComponent => {
                ("GroupComponent", "PartComponent")
            }
            GuestAssociation::SettingsDefineState | GuestAssociation::ElementSettingData => {
                ("ManagedElement", "SettingData")
            }
        }
    }

    /// The part of a guest's model its pairs are read from: the paths of the objects it links.
    pub fn part(self) -> ModelPart {
        let (rasds, devices) = match self {
            GuestAssociation::SystemDevice => (false, true),
            GuestAssociation::SettingsDefineState => (true, true),
            GuestAssociation::VssdComponent | GuestAssociation::ElementSettingData => (true, false),
        };
        ModelPart::Paths {
            rasds,
            devices,
            kinds: Kinds::ALL,
        }
    }

    /// The (first role, second role) object pairs this association links within one guest, the model's
    /// paths moved into them.
    pub fn pairs(self, model: GuestModel) -> Vec<(ObjectPath, ObjectPath)> {
        let system = computer_system_path(&model.name);
        let vssd = model.vssd.path;
        let mut out = Vec::new();
        match self {
            GuestAssociation::SystemDevice => {
                for resource in model.resources {
                    for device in resource.devices {
                        out.extend(device.path.map(|d| (system.clone(), d)));
                    }
                }
            }
            GuestAssociation::SettingsDefineState => {
                out.extend(vssd.map(|v| (system, v)));
                for resource in model.resources {
                    let Some(rasd) = resource.rasd.path else {
                        continue;
                    };
                    for device in resource.devices {
                        out.extend(device.path.map(|d| (d, rasd.clone())));
                    }
                }
            }
            GuestAssociation::VssdComponent => {
                if let Some(v) = vssd {
                    let rasds = model.resources.into_iter().filter_map(|r| r.rasd.path);
                    out.extend(rasds.map(|r| (v.clone(), r)));
                }
            }
            GuestAssociation::ElementSettingData => {
                out.extend(vssd.map(|v| (v.clone(), v)));
                let rasds = model.resources.into_iter().filter_map(|r| r.rasd.path);
                out.extend(rasds.map(|r| (r.clone(), r)));
            }
        }
        out
    }

    fn instance(self, first: ObjectPath, second: ObjectPath) -> Instance {
        let class_name = self.class_name();
        let (role_a, role_b) = self.roles();
        let a = Value::Reference(Arc::new(first));
        let b = Value::Reference(Arc::new(second));
        let path = ObjectPath::instance(Some(NAMESPACE), class_name, &[])
            .with_key(role_a, a.clone())
            .with_key(role_b, b.clone());
        let mut inst = match guest_class(class_name) {
            Some(class) => {
                let mut inst = class.new_instance();
                put(&mut inst, class, role_a, a);
                put(&mut inst, class, role_b, b);
                inst
            }
            None => {
                let mut inst = Instance::new(class_name);
                inst.set(role_a, a);
                inst.set(role_b, b);
                inst
            }
        };
        if self == GuestAssociation::ElementSettingData {
            // As libvirt-CIM (DSP1057): the setting data is the element's default and next configuration.
            inst.set("IsDefault", Value::Uint16(1));
            inst.set("IsNext", Value::Uint16(1));
        }
        inst.path = Some(path);
        inst
    }

    pub fn instances(self, model: GuestModel) -> Vec<Instance> {
        self.pairs(model)
            .into_iter()
            .map(|(a, b)| self.instance(a, b))
            .collect()
    }
}

/// The domain an object of the per-guest model belongs to, from its keys.
pub fn domain_of_object(path: &ObjectPath) -> Option<&str> {
    if let Some(system) = path.key_str("SystemName") {
        return Some(system);
    }
    if let Some(id) = path.key_str("InstanceID") {
        return domain_of_vssd_id(id).or_else(|| split_fq_devid(id).map(|(d, _)| d));
    }
    path.key_str("Name")
}

pub struct GuestAssociationProvider {
    kind: GuestAssociation,
}

impl GuestAssociationProvider {
    pub fn new(kind: GuestAssociation) -> GuestAssociationProvider {
        GuestAssociationProvider { kind }
    }
}

#[async_trait]
impl Provider for GuestAssociationProvider {
    fn class_name(&self) -> &'static str {
        self.kind.class_name()
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let (role_a, _) = self.kind.roles();
        let domain = match path.key(role_a) {
            Some(Value::Reference(p)) => domain_of_object(p).map(str::to_owned),
            _ => None,
        }
        .ok_or_else(|| not_found(path))?;
        let model = load_guest_shared(
            ctx.driver,
            &domain,
            LoadOptions::KEYS_ONLY,
            Some(self.kind.part()),
        )
        .await?
        .ok_or_else(|| not_found(path))?;
        self.kind
            .instances(Arc::unwrap_or_clone(model))
            .into_iter()
            .find(|i| i.path.as_ref().is_some_and(|p| p.same_object(path)))
            .ok_or_else(|| not_found(path))
    }

    /// Only the guest the object belongs to is read: every object these associations link names its domain
    /// in its keys.
    async fn references_to(
        &self,
        ctx: &ProviderCtx<'_>,
        object: &ObjectPath,
    ) -> Result<Option<Vec<Instance>>, OpError> {
        let Some(domain) = domain_of_object(object) else {
            return Ok(Some(Vec::new()));
        };
        let model = load_guest_shared(
            ctx.driver,
            domain,
            LoadOptions::KEYS_ONLY,
            Some(self.kind.part()),
        )
        .await?;
        Ok(Some(
            model
                .map(|m| self.kind.instances(Arc::unwrap_or_clone(m)))
                .unwrap_or_default(),
        ))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        // These associations link paths: each guest's objects are built as paths alone.
        let part = Some(self.kind.part());
        let guests = load_all_guests_part(ctx.driver, LoadOptions::KEYS_ONLY, part).await?;
        Ok(guests
            .into_iter()
            .flat_map(|g| self.kind.instances(g))
            .collect())
    }

    fn splits_per_guest(&self) -> bool {
        true
    }

    fn links_within_guest(&self) -> bool {
        true
    }

    async fn enumerate_pieces<'a>(
        &'a self,
        ctx: &'a ProviderCtx<'a>,
        have: &dyn HeldPieces,
    ) -> Result<Option<Pieces<'a>>, OpError> {
        let part = Some(self.kind.part());
        load_guest_pieces(ctx.driver, LoadOptions::KEYS_ONLY, part, have, |g| {
            self.kind.instances(g)
        })
        .await
    }
}

/// One provider per per-guest association class.
pub fn guest_association_providers() -> Vec<Arc<dyn Provider>> {
    GuestAssociation::ALL
        .into_iter()
        .map(|kind| Arc::new(GuestAssociationProvider::new(kind)) as Arc<dyn Provider>)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wbem::providers::guest::{device_path, rasd_path, vssd_path, ResourceKind};

    #[test]
    fn every_linked_object_names_its_domain() {
        let objects = [
            computer_system_path("g1"),
            vssd_path("g1"),
            rasd_path(ResourceKind::Network, "g1", "52:54:00:00:00:01"),
            device_path(ResourceKind::Controller, "g1", "controller:usb:0"),
        ];
        for object in &objects {
            assert_eq!(domain_of_object(object), Some("g1"), "{object}");
        }
    }
}
