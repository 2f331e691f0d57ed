//! Profile registration (DSP1033) as libvirt-CIM advertises it: `KVM_RegisteredProfile` (in root/interop, the
//! profiles whose central class we serve: libvirt-CIM's 13, Virtual System Migration among them, and the
//! Indications profile, DSP1054, whose central class is the indication service of root/interop),
//! `KVM_ReferencedProfile` (each component profile and its scoping profile) and `KVM_ElementConformsToProfile`
//! (a profile and the host, guests, pools, allocation capabilities and services that conform to it), served in
//! root/interop and root/virt alike with references crossing the two.

use async_trait::async_trait;

use super::capabilities::{alloc_caps_path, ALLOC_CAPS_CLASS};
use super::migration::{
    service_path_of as migration_service_path, SERVICE_CLASS as MIGRATION_CLASS,
};
use super::paths_of;
use super::pools::{host_name, host_path, HostPools, PoolId, PoolKind, HOST_CLASS};
use super::redirection::{crs_path, CRS_CLASS};
use super::{assoc_instance, get_from_enumeration, not_found, put, Provider, ProviderCtx};
use crate::cim::{CimType, Instance, ObjectPath, Value};
use crate::wbem::error::OpError;

pub const INTEROP_NAMESPACE: &str = "root/interop";
pub const VIRT_NAMESPACE: &str = "root/virt";
pub const PROFILE_CLASS: &str = "KVM_RegisteredProfile";
pub const REFERENCED_PROFILE_CLASS: &str = "KVM_ReferencedProfile";
pub const CONFORMS_CLASS: &str = "KVM_ElementConformsToProfile";
const CS_CLASS: &str = "KVM_ComputerSystem";

/// RegisteredOrganization 2: DMTF.
const DMTF: u16 = 2;
/// AdvertiseTypes 3: SLP.
const SLP: u16 = 3;

/// The elements of root/virt a profile's scoping or central class stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Conformant {
    Host,
    Guests,
    Pools(PoolKind),
    AllocationCapabilities,
    /// The host's console redirection service.
    RedirectionService,
    /// The host's virtual system migration service.
    MigrationService,
    /// The indication service of root/interop.
    IndicationService,
}

/// One registered profile (REPORT §1.7).
#[derive(Debug)]
pub struct Profile {
    pub instance_id: &'static str,
    pub name: &'static str,
    pub version: &'static str,
    pub scoping: Option<Conformant>,
    pub central: Option<Conformant>,
    /// Index in [`PROFILES`] of the profile this one is scoped by.
    pub scoping_profile: Option<usize>,
}

const SYSTEM_VIRTUALIZATION: usize = 0;
const VIRTUAL_SYSTEM: usize = 1;

pub const PROFILES: [Profile; 14] = [
    Profile {
        instance_id: "CIM:DSP1042-SystemVirtualization-1.0.0",
        name: "System Virtualization",
        version: "1.0.0",
        scoping: Some(Conformant::Host),
        central: None,
        scoping_profile: Some(VIRTUAL_SYSTEM),
    },
    Profile {
        instance_id: "CIM:DSP1057-VirtualSystem-1.0.0a",
        name: "Virtual System Profile",
        version: "1.0.0a",
        scoping: Some(Conformant::Guests),
        central: None,
        scoping_profile: None,
    },
    Profile {
        instance_id: "CIM:DSP1059-GenericDeviceResourceVirtualization-1.0.0_d",
        name: "Generic Device Resource Virtualization",
        version: "1.0.0",
        scoping: None,
        central: Some(Conformant::Pools(PoolKind::Disk)),
        scoping_profile: Some(SYSTEM_VIRTUALIZATION),
    },
    Profile {
        instance_id: "CIM:DSP1059-GenericDeviceResourceVirtualization-1.0.0_n",
        name: "Generic Device Resource Virtualization",
        version: "1.0.0",
        scoping: None,
        central: Some(Conformant::Pools(PoolKind::Network)),
        scoping_profile: Some(SYSTEM_VIRTUALIZATION),
    },
    Profile {
        instance_id: "CIM:DSP1059-GenericDeviceResourceVirtualization-1.0.0_p",
        name: "Generic Device Resource Virtualization",
        version: "1.0.0",
        scoping: None,
        central: Some(Conformant::Pools(PoolKind::Processor)),
        scoping_profile: Some(SYSTEM_VIRTUALIZATION),
    },
    Profile {
        instance_id: "CIM:DSP1045-MemoryResourceVirtualization-1.0.0",
        name: "Memory Resource Virtualization",
        version: "1.0.0",
        scoping: None,
        central: Some(Conformant::Pools(PoolKind::Memory)),
        scoping_profile: Some(SYSTEM_VIRTUALIZATION),
    },
    Profile {
        instance_id: "CIM:DSP1076-KVMRedirection-1.0.0",
        name: "KVM Redirection",
        version: "1.0.0",
        scoping: Some(Conformant::Host),
        central: Some(Conformant::RedirectionService),
        scoping_profile: Some(SYSTEM_VIRTUALIZATION),
    },
    Profile {
        instance_id: "CIM:DSP1043-AllocationCapabilities-1.0.0a",
        name: "Allocation Capabilities",
        version: "1.0.0a",
        scoping: Some(Conformant::Guests),
        central: Some(Conformant::AllocationCapabilities),
        scoping_profile: Some(SYSTEM_VIRTUALIZATION),
    },
    Profile {
        instance_id: "CIM:DSP1041-ResourceAllocation-1.1.0c_d",
        name: "Resource Allocation",
        version: "1.1.0c",
        scoping: Some(Conformant::Guests),
        central: Some(Conformant::Pools(PoolKind::Disk)),
        scoping_profile: Some(SYSTEM_VIRTUALIZATION),
    },
    Profile {
        instance_id: "CIM:DSP1041-ResourceAllocation-1.1.0c_n",
        name: "Resource Allocation",
        version: "1.1.0c",
        scoping: Some(Conformant::Guests),
        central: Some(Conformant::Pools(PoolKind::Network)),
        scoping_profile: Some(SYSTEM_VIRTUALIZATION),
    },
    Profile {
        instance_id: "CIM:DSP1041-ResourceAllocation-1.1.0c_p",
        name: "Resource Allocation",
        version: "1.1.0c",
        scoping: Some(Conformant::Guests),
        central: Some(Conformant::Pools(PoolKind::Processor)),
        scoping_profile: Some(SYSTEM_VIRTUALIZATION),
    },
    Profile {
        instance_id: "CIM:DSP1041-ResourceAllocation-1.1.0c_m",
        name: "Resource Allocation",
        version: "1.1.0c",
        scoping: Some(Conformant::Guests),
        central: Some(Conformant::Pools(PoolKind::Memory)),
        scoping_profile: Some(SYSTEM_VIRTUALIZATION),
    },
    // libvirt-CIM's registration of DSP1081, at the version it implements.
    Profile {
        instance_id: "CIM:DSP1081-VirtualSystemMigration-0.8.1",
        name: "Virtual System Migration",
        version: "0.8.1",
        scoping: None,
        central: Some(Conformant::MigrationService),
        scoping_profile: Some(SYSTEM_VIRTUALIZATION),
    },
    // DSP1054: filters, listener destinations, subscriptions and delivery as its 1.1.0 describes them (the
    // version OpenPegasus and SFCB advertise); an autonomous profile, scoped by none of ours.
    Profile {
        instance_id: "CIM:DSP1054-Indications-1.1.0",
        name: "Indications",
        version: "1.1.0",
        scoping: None,
        central: Some(Conformant::IndicationService),
        scoping_profile: None,
    },
];

/// The path of the indication service (served by the indication providers in root/interop; its keys as
/// `wbem::indications` builds them, which sits above this module).
fn indication_service_path(host: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(INTEROP_NAMESPACE),
        "CIM_IndicationService",
        &[
            ("CreationClassName", "CIM_IndicationService"),
            ("Name", "virtcim:IndicationService"),
            ("SystemCreationClassName", HOST_CLASS),
            ("SystemName", host),
        ],
    )
}

/// The path of a registered profile, always in root/interop (so references to it from root/virt cross over).
pub fn profile_path(instance_id: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(INTEROP_NAMESPACE),
        PROFILE_CLASS,
        &[("InstanceID", instance_id)],
    )
}

/// `KVM_RegisteredProfile` (root/interop).
pub struct RegisteredProfileProvider;

impl RegisteredProfileProvider {
    fn instance(ctx: &ProviderCtx<'_>, profile: &Profile) -> Instance {
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        let s = |v: &str| Value::String(v.to_owned());
        put(&mut inst, class, "InstanceID", s(profile.instance_id));
        put(
            &mut inst,
            class,
            "RegisteredOrganization",
            Value::Uint16(DMTF),
        );
        put(&mut inst, class, "RegisteredName", s(profile.name));
        put(&mut inst, class, "RegisteredVersion", s(profile.version));
        put(
            &mut inst,
            class,
            "AdvertiseTypes",
            Value::Array(CimType::Uint16, vec![Value::Uint16(SLP)]),
        );
        // 2: a profile (the only value the class allows).
        put(&mut inst, class, "SpecificationType", Value::Uint16(2));
        ctx.with_path(inst)
    }
}

#[async_trait]
impl Provider for RegisteredProfileProvider {
    fn class_name(&self) -> &'static str {
        PROFILE_CLASS
    }

    fn namespace(&self) -> &'static str {
        INTEROP_NAMESPACE
    }

    async fn enumerate_names(&self, _ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(PROFILES
            .iter()
            .map(|p| profile_path(p.instance_id))
            .collect())
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        // As libvirt-CIM, only InstanceID counts: other keys a client adds are ignored.
        let id = path.key_str("InstanceID").ok_or_else(|| not_found(path))?;
        PROFILES
            .iter()
            .find(|p| p.instance_id == id)
            .map(|p| Self::instance(ctx, p))
            .ok_or_else(|| not_found(path))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        Ok(PROFILES.iter().map(|p| Self::instance(ctx, p)).collect())
    }
}

/// `KVM_ReferencedProfile` (root/interop): Antecedent = the scoping profile, Dependent = the profile it scopes.
pub struct ReferencedProfileProvider;

impl ReferencedProfileProvider {
    fn pairs() -> impl Iterator<Item = (&'static Profile, &'static Profile)> {
        PROFILES.iter().filter_map(|p| {
            p.scoping_profile
                .and_then(|i| PROFILES.get(i))
                .map(|scope| (scope, p))
        })
    }
}

#[async_trait]
impl Provider for ReferencedProfileProvider {
    fn class_name(&self) -> &'static str {
        REFERENCED_PROFILE_CLASS
    }

    fn namespace(&self) -> &'static str {
        INTEROP_NAMESPACE
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        Ok(Self::pairs()
            .map(|(scope, component)| {
                assoc_instance(
                    ctx,
                    &[
                        ("Antecedent", profile_path(scope.instance_id)),
                        ("Dependent", profile_path(component.instance_id)),
                    ],
                )
            })
            .collect())
    }
}

/// `KVM_ElementConformsToProfile`, one provider per namespace (root/interop and root/virt): the same pairs,
/// ConformantStandard in root/interop and ManagedElement in root/virt.
pub struct ConformsToProfileProvider {
    pub namespace: &'static str,
}

impl ConformsToProfileProvider {
    pub fn both() -> [ConformsToProfileProvider; 2] {
        [
            ConformsToProfileProvider {
                namespace: INTEROP_NAMESPACE,
            },
            ConformsToProfileProvider {
                namespace: VIRT_NAMESPACE,
            },
        ]
    }
}

/// The root/virt elements standing for a scoping or central class, given one reading of the host.
fn conformant_paths(
    what: Conformant,
    host: &ObjectPath,
    guests: &[ObjectPath],
    pools: &[PoolId],
) -> Vec<ObjectPath> {
    match what {
        Conformant::Host => vec![host.clone()],
        Conformant::Guests => guests.to_vec(),
        Conformant::Pools(kind) => pools
            .iter()
            .filter(|p| p.kind == kind)
            .map(PoolId::path)
            .collect(),
        Conformant::AllocationCapabilities => pools.iter().map(alloc_caps_path).collect(),
        Conformant::RedirectionService => vec![crs_path(host.key_str("Name").unwrap_or_default())],
        Conformant::MigrationService => {
            vec![migration_service_path(
                host.key_str("Name").unwrap_or_default(),
            )]
        }
        Conformant::IndicationService => {
            vec![indication_service_path(
                host.key_str("Name").unwrap_or_default(),
            )]
        }
    }
}

#[async_trait]
impl Provider for ConformsToProfileProvider {
    fn class_name(&self) -> &'static str {
        CONFORMS_CLASS
    }

    fn namespace(&self) -> &'static str {
        self.namespace
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let driver = &ctx.driver;
        let guests: Vec<ObjectPath> = driver
            .list_all_domains(0)
            .await?
            .iter()
            .map(|d| guest_path(&d.name))
            .collect();
        let host = host_path(&host_name(driver).await);
        let pools = HostPools::read_ids(driver).await?;
        Ok(conforming(ctx, &host, &guests, &pools, None))
    }

    /// A guest's profiles need no listing; an object of a class no profile names has none.
    async fn references_to(
        &self,
        ctx: &ProviderCtx<'_>,
        object: &ObjectPath,
    ) -> Result<Option<Vec<Instance>>, OpError> {
        let is = |c: &str| object.class_name.eq_ignore_ascii_case(c);
        if is(CS_CLASS) {
            let guest = guest_path(object.key_str("Name").unwrap_or_default());
            let host = host_path(&host_name(ctx.driver).await);
            let only = Some(Conformant::Guests);
            return Ok(Some(conforming(ctx, &host, &[guest], &[], only)));
        }
        let endpoint = is(PROFILE_CLASS)
            || is(HOST_CLASS)
            || is(ALLOC_CAPS_CLASS)
            || is(CRS_CLASS)
            || is(MIGRATION_CLASS)
            || is("CIM_IndicationService")
            || PoolKind::ALL.iter().any(|k| is(k.class_name()));
        Ok(if endpoint { None } else { Some(Vec::new()) })
    }
}

fn guest_path(name: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(VIRT_NAMESPACE),
        CS_CLASS,
        &[("CreationClassName", CS_CLASS), ("Name", name)],
    )
}

/// The ElementConformsToProfile instances for the given host, guests and pools; `only` keeps one kind of
/// element.
fn conforming(
    ctx: &ProviderCtx<'_>,
    host: &ObjectPath,
    guests: &[ObjectPath],
    pools: &[PoolId],
    only: Option<Conformant>,
) -> Vec<Instance> {
    let mut out = Vec::new();
    for profile in &PROFILES {
        let standard = profile_path(profile.instance_id);
        for what in [profile.scoping, profile.central].into_iter().flatten() {
            if only.is_some_and(|o| o != what) {
                continue;
            }
            for element in conformant_paths(what, host, guests, pools) {
                out.push(assoc_instance(
                    ctx,
                    &[
                        ("ConformantStandard", standard.clone()),
                        ("ManagedElement", element),
                    ],
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_table_as_libvirt_cim() {
        assert_eq!(PROFILES.len(), 14);
        let ids: std::collections::HashSet<_> = PROFILES.iter().map(|p| p.instance_id).collect();
        assert_eq!(ids.len(), 14, "InstanceIDs are unique");
        assert_eq!(
            PROFILES[SYSTEM_VIRTUALIZATION].instance_id,
            "CIM:DSP1042-SystemVirtualization-1.0.0"
        );
        assert_eq!(
            PROFILES[VIRTUAL_SYSTEM].instance_id,
            "CIM:DSP1057-VirtualSystem-1.0.0a"
        );
        // Every profile but Virtual System and Indications has a scoping profile: 12 ReferencedProfile pairs.
        assert_eq!(ReferencedProfileProvider::pairs().count(), 12);
    }
}
