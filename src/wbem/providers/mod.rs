//! The provider interface: one implementation per CIM class family computes instances from the driver on each
//! request (nothing cached), and carries out extrinsic methods and instance changes. Association providers are
//! providers of association classes; the operations layer derives Associators/References from them.

mod computer_system;
pub mod devices;
pub mod guest;
pub mod guest_assoc;
pub mod settings;
// cimhost: pools, capabilities, host-side associations, profile registration.
pub mod capabilities;
pub mod host_assoc;
pub mod pools;
pub mod profiles;
// cimmethods: the management service and its RASD/VSSD parsing.
pub mod rasd_parse;
pub mod vsms;
// interop: the server and its namespaces in root/interop.
pub mod interop;
// Pool configuration and snapshots.
pub mod pool_config;
pub mod snapshots;
// Console redirection and the switch service.
pub mod redirection;
pub mod switch_service;
pub mod text_redirection;
// Network filters.
pub mod filters;
// The jobs of methods that answer 4096.
pub mod jobs;
// The host resources the pools are made of (root/cimv2) and KVM_ConcreteComponent.
pub mod host_resources;
// libvirt-CIM's GetInstance failures.
pub mod lookup;
// Virtual system migration (DSP1081).
pub mod migration;

use std::sync::Arc;

use async_trait::async_trait;

use crate::cim::{CimStatus, Class, Instance, Name, ObjectPath, Value};
use crate::driver::{every_domain, Connection};
use crate::error::ErrorCode;
use crate::wbem::cimxml::MethodReturn;
use crate::wbem::error::OpError;
use crate::wbem::jobs::JobTable;

pub use computer_system::{
    computer_system_path, ComputerSystemProvider, HostSystemProvider, HostedDependencyProvider,
};
pub use vsms::VsmsProvider;

/// What a provider call gets: the driver, the class being served (resolved, with inherited properties) and
/// the namespace.
pub struct ProviderCtx<'a> {
    pub driver: &'a Connection,
    pub class: &'a Class,
    /// Shared by every path the provider makes for this request.
    pub namespace: Name,
}

impl ProviderCtx<'_> {
    /// A fresh instance of the served class, every declared property present (NULL or its default).
    pub fn new_instance(&self) -> Instance {
        self.class.new_instance()
    }

    /// Finishes an instance: sets its path from the key properties.
    pub fn with_path(&self, mut inst: Instance) -> Instance {
        inst.path = Some(inst.path_from_keys(self.class, Some(self.namespace.clone())));
        inst
    }
}

/// Sets a property only when the class declares it (so a provider never invents properties).
pub fn put(inst: &mut Instance, class: &Class, name: &str, value: Value) {
    put_from(inst, class, name, value, 0);
}

/// [`put`] looking for the property among the few from position `from` on (then among all): a caller that
/// sets properties in the class's order finds each at once. The position set, if any.
pub(crate) fn put_from(
    inst: &mut Instance,
    class: &Class,
    name: &str,
    value: Value,
    from: usize,
) -> Option<usize> {
    let props = &class.properties;
    // Callers that set properties in the class's order set most a few declared ones apart.
    let ahead = (props.get(from..).unwrap_or_default().iter().take(8)).position(|p| p.name == name);
    let at = match ahead {
        Some(i) => from + i,
        None => class.property_position(name)?,
    };
    let prop = &props[at];
    // Most values already have the declared type: no copy kept for a coercion that would change nothing.
    let value = if value.fits(&prop.ty) {
        value
    } else {
        value.clone().coerce(&prop.ty).unwrap_or(value)
    };
    inst.set_at(at, &prop.name, value);
    Some(at)
}

/// The paths of instances a provider computed whole (for providers whose names come from their instances).
pub(crate) fn paths_of(instances: Vec<Instance>) -> Vec<ObjectPath> {
    instances.into_iter().filter_map(|inst| inst.path).collect()
}

/// An association instance whose properties are its references; the path is built from them.
pub fn assoc_instance(ctx: &ProviderCtx<'_>, refs: &[(&str, ObjectPath)]) -> Instance {
    owned_assoc_instance(ctx, refs.iter().map(|(role, path)| (*role, path.clone())))
}

/// [`assoc_instance`] of references the caller no longer needs: each is moved into its property, and
/// copied only into the instance's path.
pub fn owned_assoc_instance<'r, P: Into<Arc<ObjectPath>>>(
    ctx: &ProviderCtx<'_>,
    refs: impl IntoIterator<Item = (&'r str, P)>,
) -> Instance {
    let mut inst = ctx.new_instance();
    for (role, path) in refs {
        put(&mut inst, ctx.class, role, Value::Reference(path.into()));
    }
    ctx.with_path(inst)
}

/// GetInstance for an association: the enumerated instance with the same path, or NOT_FOUND.
pub fn get_from_enumeration(
    instances: Vec<Instance>,
    path: &ObjectPath,
) -> Result<Instance, OpError> {
    instances
        .into_iter()
        .find(|i| i.path.as_ref().is_some_and(|p| p.same_object(path)))
        .ok_or_else(|| not_found(path))
}

/// The host's name when `path` names the host's one instance of a singleton service, whose path `path_of`
/// builds from that name; NOT_FOUND otherwise, naming the first key that differs (libvirt-CIM's answer).
pub(crate) async fn singleton_host(
    ctx: &ProviderCtx<'_>,
    path: &ObjectPath,
    path_of: fn(&str) -> ObjectPath,
) -> Result<String, OpError> {
    let host = computer_system::host_name(ctx.driver).await;
    lookup::validate_ref(path, &path_of(&host))?;
    Ok(host)
}

/// CIM_ERR_NOT_FOUND for a path that names no instance.
pub(crate) fn not_found(path: &ObjectPath) -> OpError {
    OpError::cim(CimStatus::NotFound, format!("no instance {path}"))
}

pub(crate) fn not_supported(what: &str) -> OpError {
    OpError::cim(CimStatus::NotSupported, format!("{what} is not supported"))
}

/// The target of a host service's method: its class (libvirt-CIM's clients call methods there too) or its one
/// instance, `service` (the path it has on this host).
pub(crate) fn check_service_target(
    target: &ObjectPath,
    service: &ObjectPath,
) -> Result<(), OpError> {
    if target.is_class_path() || service.same_object(target) {
        Ok(())
    } else {
        Err(not_found(target))
    }
}

/// A method the class does not have.
pub(crate) fn unknown_method(class: &str, method: &str) -> OpError {
    not_supported(&format!("{class}.{method}"))
}

/// One guest's share of an enumeration: what it was computed from, and its instances unless the caller holds
/// what it wrote for them ([`HeldPieces`]).
pub struct Piece {
    pub key: PieceKey,
    /// `None`: the caller said it holds this piece.
    pub instances: Option<Vec<Instance>>,
}

/// What one guest's instances were computed from: the guest, the driver's version of it, and the driver's
/// generation when they also depend on the host's pools and networks (0 when not).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PieceKey {
    pub uuid: uuid::Uuid,
    pub version: u64,
    pub host: u64,
}

/// An enumeration's pieces in order, each guest's instances made only when its piece is read: the caller writes
/// and drops one guest's instances before the next are made, so that they stay in the processor's caches
/// instead of a whole enumeration's being made, then written, then dropped.
pub type Pieces<'a> = Box<dyn Iterator<Item = Piece> + Send + 'a>;

/// The caller's side of [`Provider::enumerate_pieces`]: whether it still holds what it made of a piece.
pub trait HeldPieces: Send + Sync {
    fn holds(&self, key: &PieceKey) -> bool;
}

/// A caller that reuses nothing.
pub struct HoldsNothing;

impl HeldPieces for HoldsNothing {
    fn holds(&self, _: &PieceKey) -> bool {
        false
    }
}

/// [`Provider::enumerate_pieces`] for instances made from a domain's summary alone (its name, state and
/// definition, the provider's own state, names the host never changes): one piece per domain, made by `each` for
/// the domains `have` does not hold. `None` when the driver gives no versions.
pub(crate) async fn summary_pieces<'a>(
    ctx: &ProviderCtx<'_>,
    have: &dyn HeldPieces,
    each: impl Fn(&crate::driver::DomainSummary) -> Vec<Instance> + Send + 'a,
) -> Result<Option<Pieces<'a>>, OpError> {
    if ctx.driver.generation().is_none() {
        return Ok(None);
    }
    let summaries = ctx.driver.domain_summaries(&every_domain).await?;
    let mut keyed = Vec::with_capacity(summaries.len());
    for summary in summaries {
        let Some(version) = summary.version else {
            return Ok(None);
        };
        let key = PieceKey {
            uuid: summary.dom.uuid,
            version,
            host: 0,
        };
        let held = have.holds(&key);
        keyed.push((key, held, summary));
    }
    Ok(Some(Box::new(keyed.into_iter().map(
        move |(key, held, summary)| Piece {
            key,
            instances: (!held).then(|| each(&summary)),
        },
    ))))
}

/// The summaries of the domain named `only` (none when it does not exist) or of every domain, when the driver
/// holds its definitions in memory: taken as the driver holds them instead of formatting and parsing each
/// domain's XML on every request. Only the domains whose definitions `keep` takes are given. `None`: the caller
/// reads the domains call by call.
pub async fn summaries_in_memory(
    driver: &Connection,
    only: Option<&str>,
    keep: &crate::driver::KeepDomain,
) -> Result<Option<Vec<crate::driver::DomainSummary>>, OpError> {
    if !driver.definitions_in_memory() {
        return Ok(None);
    }
    let Some(name) = only else {
        return Ok(Some(driver.domain_summaries(keep).await?));
    };
    match driver.domain_summary(name).await {
        Ok(summary) if !keep(&summary.def) => Ok(Some(Vec::new())),
        Ok(summary) => Ok(Some(vec![summary])),
        Err(err) if err.code == ErrorCode::NO_DOMAIN => Ok(Some(Vec::new())),
        Err(err) if err.code == ErrorCode::NO_SUPPORT => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// One class family's instances and behaviour.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The (most-derived) class this provider serves.
    fn class_name(&self) -> &'static str;

    /// Whether an answer computed from this provider may be served again while the driver's
    /// [`Driver::generation`] and the count of CIM writes stay the same: true when the instances depend only on
    /// driver state that the generation covers and on provider state that only CIM writes change. A provider
    /// reporting counters that move by themselves (CPU time, free memory of a live host) must answer false.
    fn answers_are_reusable(&self) -> bool {
        true
    }

    /// The namespace the class lives in.
    fn namespace(&self) -> &'static str {
        "root/virt"
    }

    /// The paths of every instance.
    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError>;

    /// One instance by path; `CIM_ERR_NOT_FOUND` when it does not exist.
    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError>;

    /// Every instance. The default gets each enumerated path, skipping objects that vanished meanwhile.
    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let mut out = Vec::new();
        for path in self.enumerate_names(ctx).await? {
            match self.get(ctx, &path).await {
                Ok(inst) => out.push(inst),
                Err(err) if err.status() == CimStatus::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        Ok(out)
    }

    /// Whether [`Provider::enumerate_pieces`] splits this provider's instances per guest. Each instance then
    /// belongs to one guest and depends on nothing but that guest's version, the host generation and the CIM
    /// writes (so does [`Provider::get`] of it), or belongs to the host's piece (the nil UUID, version 0),
    /// which depends on the host generation and the CIM writes alone.
    fn splits_per_guest(&self) -> bool {
        false
    }

    /// For association providers: whether every instance links two objects of one guest's model (system,
    /// settings, resources, devices) and depends on nothing but that guest's version and the CIM writes. An
    /// association answer about one of a guest's objects through such associations alone then depends only on
    /// that guest.
    fn links_within_guest(&self) -> bool {
        false
    }

    /// For providers whose instances each belong to one guest ([`Provider::splits_per_guest`]):
    /// [`Provider::enumerate`] split per guest, in the same order, with the instances of the pieces `have`
    /// holds left out (not computed) and the others' made as their pieces are read. `None` (the default, and
    /// for drivers without per-domain versions): not split.
    async fn enumerate_pieces<'a>(
        &'a self,
        _ctx: &'a ProviderCtx<'a>,
        _have: &dyn HeldPieces,
    ) -> Result<Option<Pieces<'a>>, OpError> {
        Ok(None)
    }

    /// For association providers: the association instances that may reference `object`, when the provider
    /// can find them without enumerating every instance (`None`, the default: the caller filters
    /// [`Provider::enumerate`]). May return more than the exact matches; the caller still checks the roles.
    async fn references_to(
        &self,
        _ctx: &ProviderCtx<'_>,
        _object: &ObjectPath,
    ) -> Result<Option<Vec<Instance>>, OpError> {
        Ok(None)
    }

    /// An extrinsic method on an instance or class path, parameters already typed per the declaration.
    async fn invoke(
        &self,
        _ctx: &ProviderCtx<'_>,
        _target: &ObjectPath,
        method: &str,
        _params: Vec<(String, Value)>,
    ) -> Result<MethodReturn, OpError> {
        Err(OpError::cim(
            CimStatus::MethodNotAvailable,
            format!("method {method} is not available"),
        ))
    }

    async fn create(&self, _ctx: &ProviderCtx<'_>, _inst: Instance) -> Result<ObjectPath, OpError> {
        Err(not_supported("CreateInstance"))
    }

    async fn modify(
        &self,
        _ctx: &ProviderCtx<'_>,
        _inst: Instance,
        _property_list: Option<Vec<String>>,
    ) -> Result<(), OpError> {
        Err(not_supported("ModifyInstance"))
    }

    async fn delete(&self, _ctx: &ProviderCtx<'_>, _path: &ObjectPath) -> Result<(), OpError> {
        Err(not_supported("DeleteInstance"))
    }
}

/// The providers the server has; methods that answer 4096 start their jobs in `job_table`.
pub fn all_providers(job_table: &Arc<JobTable>) -> Vec<Arc<dyn Provider>> {
    let mut providers: Vec<Arc<dyn Provider>> = vec![
        Arc::new(ComputerSystemProvider::default()),
        Arc::new(HostSystemProvider),
        Arc::new(HostedDependencyProvider),
    ];
    providers.extend(settings::settings_providers());
    providers.extend(devices::device_providers());
    providers.extend(guest_assoc::guest_association_providers());
    // cimmethods
    providers.push(Arc::new(VsmsProvider::default()));
    // cimhost
    for pool in pools::PoolProvider::all() {
        providers.push(Arc::new(pool));
    }
    providers.push(Arc::new(capabilities::AllocationCapabilitiesProvider));
    providers.push(Arc::new(capabilities::VsmcProvider));
    providers.push(Arc::new(capabilities::ElecProvider));
    for assoc in host_assoc::HostAssocProvider::all() {
        providers.push(Arc::new(assoc));
    }
    providers.push(Arc::new(profiles::RegisteredProfileProvider));
    providers.push(Arc::new(profiles::ReferencedProfileProvider));
    for conforms in profiles::ConformsToProfileProvider::both() {
        providers.push(Arc::new(conforms));
    }
    // Pool configuration and snapshots
    providers.push(Arc::new(pool_config::RpcsProvider::new(job_table)));
    providers.push(Arc::new(pool_config::RpccProvider));
    for settings in pool_config::PoolSettingProvider::all() {
        providers.push(Arc::new(settings));
    }
    providers.push(Arc::new(snapshots::SnapshotServiceProvider::new(job_table)));
    providers.push(Arc::new(snapshots::SnapshotCapabilitiesProvider));
    providers.push(Arc::new(snapshots::SnapshotProvider));
    for assoc in snapshots::SnapshotAssocProvider::both() {
        providers.push(Arc::new(assoc));
    }
    // Network filters
    providers.extend(filters::filter_providers());
    // interop
    providers.push(Arc::new(interop::ObjectManagerProvider));
    providers.push(Arc::new(interop::NamespaceProvider));
    providers.push(Arc::new(interop::NamespaceInManagerProvider));
    // Console redirection
    providers.push(Arc::new(redirection::ConsoleRedirectionServiceProvider));
    providers.push(Arc::new(
        redirection::ConsoleRedirectionCapabilitiesProvider,
    ));
    providers.push(Arc::new(redirection::RedirectionSapProvider));
    providers.push(Arc::new(text_redirection::TextRedirectionSapProvider));
    for assoc in redirection::RedirectionAssocProvider::all() {
        providers.push(Arc::new(assoc));
    }
    providers.push(Arc::new(switch_service::SwitchServiceProvider));
    // Jobs
    providers.push(Arc::new(jobs::JobProvider::new(job_table, jobs::JOB_CLASS)));
    providers.push(Arc::new(jobs::AffectedJobElementProvider {
        table: Arc::clone(job_table),
    }));
    // Host resources (root/cimv2) and the pools they make up
    providers.push(Arc::new(host_resources::ProcessorProvider));
    providers.push(Arc::new(host_resources::EthernetPortProvider));
    for component in host_resources::ConcreteComponentProvider::both() {
        providers.push(Arc::new(component));
    }
    // Virtual system migration
    providers.extend(migration::migration_providers(job_table));
    providers
}
