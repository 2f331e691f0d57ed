//! Virtual System Migration (DSP1081) as libvirt-CIM serves it: `KVM_VirtualSystemMigrationService` (the host's
//! one "MigrationService": CheckVirtualSystemIsMigratableTo{Host,System} answer at once,
//! MigrateVirtualSystemTo{Host,System} answer 4096 with a `KVM_MigrationJob` of the server's job table),
//! `KVM_VirtualSystemMigrationCapabilities` and `KVM_VirtualSystemMigrationSettingData` (the defaults: live over
//! ssh). A migration is the driver's peer-to-peer migration (`virsh migrate --p2p`): the source driver behind the
//! WBEM connection opens the destination and drives it, so it works over any `wbem_connect_uri`.
//!
//! The destination: DestinationHost is a host name or address, and the libvirt URI is built from TransportType
//! as libvirt-CIM builds it (`<driver>+<transport>://<host>/<path>`, the driver and path those of the source
//! connection: `qemu+ssh://host/system`, TLS adding `?no_verify=1`, TLS Strict not); a DestinationHost holding
//! "://" is taken as the full URI; with TransportType 32768 (Unix) or 6 (IPC) an absolute path names the
//! destination daemon's socket (`<driver>+unix:///<path>?socket=<that path>`). A destination on this machine (a
//! socket, localhost, a loopback address) gets its migration stream over the loopback.
//!
//! MigrationType as libvirt-CIM maps it: 1 (Other) moves the definition of a shut-off guest (offline), 2 Live,
//! 3 Resume (paused while it moves, running after), 4 Restart (shut down, moved offline, started at the
//! destination); in each the definition ends on the destination and leaves the source.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::jobs::{start_job_as, JobProvider};
use super::pool_config::{service_instance, service_path};
use super::pools::host_name;
use super::vsms::{decode_all, invalid, param};
use super::{
    check_service_target, not_found, put, singleton_host, unknown_method, Provider, ProviderCtx,
};
use crate::cim::{CimStatus, CimType, Instance, ObjectPath, Value};
use crate::driver::migration::{flags as mflags, param as mparam};
use crate::driver::{Connection, DomainRef, DomainState, TypedParam, TypedValue};
use crate::error::ErrorCode;
use crate::wbem::cimxml::MethodReturn;
use crate::wbem::error::OpError;
use crate::wbem::jobs::{Cleanup, JobProgress, JobSpec, JobTable};

pub const SERVICE_CLASS: &str = "KVM_VirtualSystemMigrationService";
pub const SERVICE_NAME: &str = "MigrationService";
pub const CAPS_CLASS: &str = "KVM_VirtualSystemMigrationCapabilities";
pub const CAPS_ID: &str = "MigrationCapabilities";
pub const MSD_CLASS: &str = "KVM_VirtualSystemMigrationSettingData";
pub const MSD_ID: &str = "MigrationSettingData";
pub const JOB_CLASS: &str = "KVM_MigrationJob";
const NAMESPACE: &str = "root/virt";
const CS_CLASS: &str = "KVM_ComputerSystem";

/// MigrationType values (CIM_VirtualSystemMigrationSettingData; libvirt-CIM's 1 is an offline move).
pub const TYPE_OFFLINE: u16 = 1;
pub const TYPE_LIVE: u16 = 2;
pub const TYPE_RESUME: u16 = 3;
pub const TYPE_RESTART: u16 = 4;

/// TransportType values; 32768 is libvirt-CIM's Unix socket.
pub const TRANSPORT_SSH: u16 = 2;
pub const TRANSPORT_TLS: u16 = 3;
pub const TRANSPORT_TLS_STRICT: u16 = 4;
pub const TRANSPORT_TCP: u16 = 5;
pub const TRANSPORT_IPC: u16 = 6;
pub const TRANSPORT_UNIX: u16 = 32768;

/// The capabilities' method numbers (libvirt-CIM: migrations asynchronous, checks synchronous).
const ASYNC_METHODS: [u16; 2] = [2, 3];
const SYNC_METHODS: [u16; 2] = [4, 5];
/// DNS name, IPv4 address, IPv6 address.
const HOST_FORMATS: [u16; 3] = [2, 3, 4];

/// How long a guest has to shut down for a Restart migration (libvirt-CIM's MIGRATE_SHUTDOWN_TIMEOUT).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long opening the destination may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn service_path_of(host: &str) -> ObjectPath {
    service_path(SERVICE_CLASS, SERVICE_NAME, host)
}

pub fn caps_path() -> ObjectPath {
    ObjectPath::instance(Some(NAMESPACE), CAPS_CLASS, &[("InstanceID", CAPS_ID)])
}

pub fn msd_path() -> ObjectPath {
    ObjectPath::instance(Some(NAMESPACE), MSD_CLASS, &[("InstanceID", MSD_ID)])
}

fn guest_path(name: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        CS_CLASS,
        &[("CreationClassName", CS_CLASS), ("Name", name)],
    )
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn u16_array(values: &[u16]) -> Value {
    Value::Array(
        CimType::Uint16,
        values.iter().map(|v| Value::Uint16(*v)).collect(),
    )
}

fn failed(message: impl Into<String>) -> OpError {
    OpError::cim(CimStatus::Failed, message)
}

/// The providers of the migration classes; migrations start their jobs in `jobs`.
pub fn migration_providers(jobs: &Arc<JobTable>) -> Vec<Arc<dyn Provider>> {
    vec![
        Arc::new(MigrationServiceProvider {
            jobs: Arc::clone(jobs),
        }),
        Arc::new(MigrationCapabilitiesProvider),
        Arc::new(MigrationSettingDataProvider),
        Arc::new(JobProvider::new(jobs, JOB_CLASS)),
    ]
}

// ---- the settings of one migration --------------------------------------------------------------------------

/// What a MigrationSettingData parameter (or the defaults) asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub migration_type: u16,
    pub transport: u16,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            migration_type: TYPE_LIVE,
            transport: TRANSPORT_SSH,
        }
    }
}

fn uint16_prop(inst: &Instance, name: &str) -> Result<Option<u16>, OpError> {
    match inst.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let n = match v {
                Value::String(t) => t.trim().parse::<i128>().ok(),
                other => other.as_i128(),
            };
            n.and_then(|n| u16::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| invalid(format!("MigrationSettingData: {name} is not a uint16")))
        }
    }
}

/// Reads the settings of an embedded KVM_VirtualSystemMigrationSettingData: one that does not decode fails as
/// every libvirt-CIM method's does ("Unable to parse embedded object"), an instance of another class is an
/// invalid parameter, and a MigrationType libvirt-CIM does not know fails as there.
pub fn parse_settings(value: Option<&Value>) -> Result<Settings, OpError> {
    let Some(value) = value else {
        return Ok(Settings::default());
    };
    let inst = decode_all(value, "MigrationSettingData")?
        .into_iter()
        .next()
        .ok_or_else(|| invalid("MigrationSettingData: no instance"))?;
    if !inst
        .class_name
        .to_ascii_lowercase()
        .ends_with("virtualsystemmigrationsettingdata")
    {
        return Err(invalid(format!(
            "MigrationSettingData: {} is not a virtual system migration setting",
            inst.class_name
        )));
    }
    let migration_type = uint16_prop(&inst, "MigrationType")?.unwrap_or(TYPE_LIVE);
    if !(TYPE_OFFLINE..=TYPE_RESTART).contains(&migration_type) {
        return Err(failed(format!(
            "Unsupported migration type {migration_type}"
        )));
    }
    let transport = uint16_prop(&inst, "TransportType")?.unwrap_or(TRANSPORT_SSH);
    if uint16_prop(&inst, "Bandwidth")?.unwrap_or(0) != 0 {
        return Err(OpError::cim(
            CimStatus::NotSupported,
            "MigrationSettingData: a migration bandwidth is not supported",
        ));
    }
    let checks = match inst.get("CheckParameters") {
        Some(Value::Array(_, items)) => !items.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    };
    if checks {
        return Err(OpError::cim(
            CimStatus::NotSupported,
            "MigrationSettingData: CheckParameters: external migration checks are not supported",
        ));
    }
    Ok(Settings {
        migration_type,
        transport,
    })
}

// ---- the destination ------------------------------------------------------------------------------------------

/// The driver name and path of a connection URI (`qemu:///system` -> ("qemu", "/system")).
fn driver_and_path(uri: &str) -> (String, String) {
    let (scheme, rest) = uri.split_once("://").unwrap_or((uri, ""));
    let driver = scheme.split('+').next().unwrap_or(scheme).to_owned();
    let rest = rest.split('?').next().unwrap_or("");
    let path = rest.find('/').map_or("/", |at| &rest[at..]).to_owned();
    (driver, path)
}

fn host_ok(host: &str) -> bool {
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'))
}

/// The libvirt URI of the destination (see the module's notes), given the source connection's URI.
pub fn destination_uri(dest: &str, transport: u16, local_uri: &str) -> Result<String, OpError> {
    let dest = dest.trim();
    if dest.contains("://") {
        return Ok(dest.to_owned());
    }
    let (driver, path) = driver_and_path(local_uri);
    let unix = matches!(transport, TRANSPORT_UNIX | TRANSPORT_IPC);
    if unix && dest.starts_with('/') {
        if dest.contains(['?', '&', '#']) || dest.chars().any(char::is_whitespace) {
            return Err(invalid(format!(
                "DestinationHost {dest:?}: not a socket path"
            )));
        }
        return Ok(format!("{driver}+unix://{path}?socket={dest}"));
    }
    if !host_ok(dest) {
        return Err(invalid(format!(
            "DestinationHost {dest:?}: not a host name, IPv4 or IPv6 address, or libvirt URI"
        )));
    }
    let host = if dest.contains(':') && !dest.starts_with('[') {
        format!("[{dest}]")
    } else {
        dest.to_owned()
    };
    let (transport_name, suffix) = match transport {
        TRANSPORT_SSH => ("ssh", ""),
        TRANSPORT_TLS => ("tls", "?no_verify=1"),
        TRANSPORT_TLS_STRICT => ("tls", ""),
        TRANSPORT_TCP => ("tcp", ""),
        TRANSPORT_UNIX | TRANSPORT_IPC => ("unix", ""),
        _ => return Err(failed("Failed to construct a valid libvirt URI")),
    };
    Ok(format!("{driver}+{transport_name}://{host}{path}{suffix}"))
}

/// Whether a destination URI names this machine (its migration stream then stays on the loopback).
pub fn is_local_destination(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return false;
    };
    if scheme.ends_with("+unix") {
        return true;
    }
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host.is_empty() || host == "localhost" || host == "::1" || host.starts_with("127.")
}

async fn open_destination(uri: &str) -> Result<Connection, String> {
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        crate::connect::connect(uri, &crate::connect::ConnectOptions::default()),
    )
    .await
    {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(err)) => Err(format!(
            "Failed to connect to remote host ({uri}): {}",
            err.message
        )),
        Err(_) => Err(format!(
            "Failed to connect to remote host ({uri}): no answer in {} s",
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

// ---- the service --------------------------------------------------------------------------------------------

/// The request of one method call, its parameters read.
struct Request {
    domain: String,
    destination: String,
    settings: Settings,
    /// NewSystemSettingData's ElementName: the guest's name at the destination.
    new_name: Option<String>,
}

/// The guest's name from the ComputerSystem reference, as libvirt-CIM checks it.
fn system_name(params: &[(String, Value)]) -> Result<String, OpError> {
    let Some(Value::Reference(path)) = param(params, "ComputerSystem") else {
        return Err(failed("Missing key (Name) in ComputerSystem"));
    };
    if !path.class_name.eq_ignore_ascii_case(CS_CLASS) {
        return Err(failed("Invalid REF in ComputerSystem"));
    }
    path.key_str("Name")
        .map(str::to_owned)
        .ok_or_else(|| failed("Missing key (Name) in ComputerSystem"))
}

fn read_request(params: &[(String, Value)], to_system: bool) -> Result<Request, OpError> {
    let domain = system_name(params)?;
    let destination = if to_system {
        match param(params, "DestinationSystem") {
            Some(Value::Reference(path)) => path
                .key_str("Name")
                .map(str::to_owned)
                .ok_or_else(|| failed("Missing key (Name) in DestinationSystem"))?,
            _ => return Err(failed("Missing key (Name) in DestinationSystem")),
        }
    } else {
        match param(params, "DestinationHost") {
            Some(Value::String(host)) if !host.trim().is_empty() => host.trim().to_owned(),
            _ => return Err(invalid("DestinationHost is required")),
        }
    };
    if matches!(
        param(params, "MigrationWithoutRootKey"),
        Some(Value::Boolean(true))
    ) {
        return Err(failed(
            "Migration with special ssh key is not enabled in config file.",
        ));
    }
    let settings = parse_settings(param(params, "MigrationSettingData"))?;
    if param(params, "NewResourceSettingData").is_some_and(|v| match v {
        Value::Array(_, items) => !items.is_empty(),
        _ => true,
    }) {
        return Err(OpError::cim(
            CimStatus::NotSupported,
            "NewResourceSettingData: changing resources while migrating is not supported",
        ));
    }
    let new_name = match param(params, "NewSystemSettingData") {
        None => None,
        Some(v) => {
            let vssd = decode_all(v, "NewSystemSettingData")?
                .into_iter()
                .next()
                .ok_or_else(|| invalid("NewSystemSettingData: no instance"))?;
            vssd.get_str("ElementName")
                .map(str::trim)
                .filter(|n| !n.is_empty() && *n != domain)
                .map(str::to_owned)
        }
    };
    Ok(Request {
        domain,
        destination,
        settings,
        new_name,
    })
}

/// libvirt-CIM's answer for a guest the source does not have.
async fn lookup_domain(driver: &Connection, name: &str) -> Result<DomainRef, OpError> {
    match driver.domain_lookup_by_name(name).await {
        Ok(dom) => Ok(dom),
        Err(e) if e.code == ErrorCode::NO_DOMAIN => Err(OpError::cim(
            CimStatus::NotFound,
            format!("No such domain: {}", e.message),
        )),
        Err(e) => Err(e.into()),
    }
}

fn is_active(state: DomainState) -> bool {
    !matches!(state, DomainState::Shutoff | DomainState::Crashed)
}

/// Whether the guest's state suits the migration type (libvirt-CIM's words when it does not).
fn state_problem(migration_type: u16, state: DomainState) -> Option<&'static str> {
    match migration_type {
        TYPE_OFFLINE if is_active(state) => Some("Domain must be shut off for offline migration"),
        TYPE_LIVE | TYPE_RESUME if !is_active(state) => {
            Some("Domain must be running for live or resume migration")
        }
        TYPE_RESTART if !is_active(state) => Some("Domain must be running for restart migration"),
        _ => None,
    }
}

/// `KVM_VirtualSystemMigrationService`.
pub struct MigrationServiceProvider {
    jobs: Arc<JobTable>,
}

fn ret(value: u32, out_params: Vec<(String, Value)>) -> MethodReturn {
    MethodReturn {
        value: Value::Uint32(value),
        out_params,
    }
}

impl MigrationServiceProvider {
    async fn check(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
        to_system: bool,
    ) -> Result<MethodReturn, OpError> {
        let req = read_request(params, to_system)?;
        let dom = lookup_domain(driver, &req.domain).await?;
        let local_uri = driver.get_uri().await?;
        let uri = destination_uri(&req.destination, req.settings.transport, &local_uri)?;
        let answer = |reason: Option<String>| {
            ret(
                0,
                vec![
                    ("IsMigratable".into(), Value::Boolean(reason.is_none())),
                    ("Reason".into(), reason.map_or(Value::Null, |r| s(&r))),
                ],
            )
        };
        let dconn = match open_destination(&uri).await {
            Ok(conn) => conn,
            Err(reason) => return Ok(answer(Some(reason))),
        };
        let reason = why_not_migratable(driver, &dconn, &dom, &req).await;
        let _ = dconn.close().await;
        Ok(answer(reason))
    }

    async fn migrate(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
        to_system: bool,
    ) -> Result<MethodReturn, OpError> {
        let req = read_request(params, to_system)?;
        let dom = lookup_domain(driver, &req.domain).await?;
        let local_uri = driver.get_uri().await?;
        let uri = destination_uri(&req.destination, req.settings.transport, &local_uri)?;
        // As libvirt-CIM: an unreachable destination fails the call, before any job exists.
        let dconn = open_destination(&uri).await.map_err(failed)?;
        let dest_name = req.new_name.clone().unwrap_or_else(|| dom.name.clone());
        if dconn.domain_lookup_by_name(&dest_name).await.is_ok() {
            let _ = dconn.close().await;
            return Err(failed(format!("Remote already has domain `{dest_name}'")));
        }
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let abort_driver = driver.clone();
        let abort_dom = dom.clone();
        // Terminate asks the driver to abort its migration job and waits for the migration to give up; the
        // migration itself runs in a task of its own, so that stopping the job never drops it half way.
        let cleanup: Cleanup = Box::new(move || {
            Box::pin(async move {
                let _ = abort_driver.domain_abort_job(&abort_dom).await;
                let mut done = done_rx;
                let _ = tokio::time::timeout(
                    Duration::from_secs(60),
                    done.wait_for(|finished| *finished),
                )
                .await;
            })
        });
        // Only a guest moving while it runs is a driver job that can be aborted; an offline move or a restart
        // cannot be taken back half way, so those jobs cannot be terminated.
        let abortable = matches!(req.settings.migration_type, TYPE_LIVE | TYPE_RESUME);
        let spec = JobSpec {
            name: "Migration".into(),
            description: format!("Migration of {} to {uri}", dom.name),
            namespace: NAMESPACE.into(),
            affected: vec![guest_path(&dom.name)],
            cleanup: abortable.then_some(cleanup),
        };
        let migration = Migration {
            driver: driver.clone(),
            dom,
            uri,
            dconn,
            migration_type: req.settings.migration_type,
            new_name: req.new_name,
        };
        Ok(start_job_as(
            &self.jobs,
            Some(JOB_CLASS),
            spec,
            Vec::new(),
            move |progress| async move {
                let running = tokio::spawn(async move {
                    let result = migration.run(&progress).await;
                    let _ = migration.dconn.close().await;
                    let _ = done_tx.send(true);
                    result
                });
                running
                    .await
                    .map_err(|e| failed(format!("the migration stopped: {e}")))?
            },
        ))
    }
}

/// Why `dom` cannot go to `dconn` now, or `None` when it can (libvirt-CIM's hypervisor version check, then the
/// state the migration type needs and a name free at the destination).
async fn why_not_migratable(
    driver: &Connection,
    dconn: &Connection,
    dom: &DomainRef,
    req: &Request,
) -> Option<String> {
    let local = match driver.get_version().await {
        Ok(v) => v,
        Err(e) => {
            return Some(format!(
                "Unable to get local Hypervisor version: {}",
                e.message
            ))
        }
    };
    let remote = match dconn.get_version().await {
        Ok(v) => v,
        Err(e) => {
            return Some(format!(
                "Unable to get remote Hypervisor version: {}",
                e.message
            ))
        }
    };
    if remote < local {
        return Some(format!(
            "Remote hypervisor is older than local ({remote} < {local})"
        ));
    }
    match driver.domain_get_state(dom, 0).await {
        Ok((state, _)) => {
            if let Some(problem) = state_problem(req.settings.migration_type, state) {
                return Some(problem.to_owned());
            }
        }
        Err(e) => return Some(format!("Error getting domain info: {}", e.message)),
    }
    let dest_name = req.new_name.as_deref().unwrap_or(&dom.name);
    if dconn.domain_lookup_by_name(dest_name).await.is_ok() {
        return Some(format!("Remote already has domain `{dest_name}'"));
    }
    None
}

/// One migration as its job carries it out.
struct Migration {
    driver: Connection,
    dom: DomainRef,
    uri: String,
    dconn: Connection,
    migration_type: u16,
    new_name: Option<String>,
}

impl Migration {
    async fn run(&self, progress: &JobProgress) -> Result<(), OpError> {
        let (state, _) = self.driver.domain_get_state(&self.dom, 0).await?;
        if let Some(problem) = state_problem(self.migration_type, state) {
            return Err(invalid(problem));
        }
        let persistent = self
            .driver
            .domain_is_persistent(&self.dom)
            .await
            .unwrap_or(true);
        match self.migration_type {
            TYPE_LIVE => self.peer_to_peer(progress, mflags::LIVE, persistent).await,
            TYPE_RESUME => self.peer_to_peer(progress, 0, persistent).await,
            TYPE_RESTART => {
                progress.report(0, Some("Shutting down"));
                self.shut_down().await?;
                self.peer_to_peer(progress, mflags::OFFLINE, persistent)
                    .await?;
                progress.report(99, Some("Starting on the destination"));
                let name = self.new_name.as_deref().unwrap_or(&self.dom.name);
                let moved = self.dconn.domain_lookup_by_name(name).await?;
                self.dconn.domain_create(&moved, 0).await?;
                Ok(())
            }
            _ => {
                self.peer_to_peer(progress, mflags::OFFLINE, persistent)
                    .await
            }
        }
    }

    /// The driver's peer-to-peer migration, its progress read from the driver's job statistics meanwhile.
    async fn peer_to_peer(
        &self,
        progress: &JobProgress,
        kind: u32,
        persistent: bool,
    ) -> Result<(), OpError> {
        let mut flags = kind | mflags::PEER2PEER | mflags::PERSIST_DEST;
        if persistent {
            flags |= mflags::UNDEFINE_SOURCE;
        }
        let mut params = Vec::new();
        let mut string = |field: &str, value: &str| {
            params.push(TypedParam {
                field: field.to_owned(),
                value: TypedValue::String(value.to_owned()),
            });
        };
        if let Some(name) = &self.new_name {
            string(mparam::DEST_NAME, name);
        }
        if kind & mflags::OFFLINE == 0 && is_local_destination(&self.uri) {
            string(mparam::URI, "tcp://127.0.0.1");
        }
        progress.report(0, Some("Migrating"));
        let perform = self.driver.domain_migrate_perform3_params(
            &self.dom,
            Some(self.uri.clone()),
            params,
            Vec::new(),
            flags,
        );
        tokio::pin!(perform);
        loop {
            tokio::select! {
                result = &mut perform => {
                    result?;
                    return Ok(());
                }
                () = tokio::time::sleep(Duration::from_millis(500)) => {
                    if let Some(percent) = self.percent().await {
                        progress.report(percent, Some("Migrating"));
                    }
                }
            }
        }
    }

    /// How far the driver's migration job is, from its statistics (data, else memory, processed of total).
    async fn percent(&self) -> Option<u16> {
        let (kind, stats) = self.driver.domain_get_job_stats(&self.dom, 0).await.ok()?;
        if kind == 0 {
            return None;
        }
        let get = |name: &str| {
            stats.iter().find_map(|p| match p.value {
                TypedValue::ULLong(v) if p.field == name => Some(v),
                _ => None,
            })
        };
        let (done, total) = match (get("data_processed"), get("data_total")) {
            (Some(d), Some(t)) if t > 0 => (d, t),
            _ => (get("memory_processed")?, get("memory_total")?),
        };
        if total == 0 {
            return None;
        }
        u16::try_from(done.min(total) * 99 / total).ok()
    }

    async fn shut_down(&self) -> Result<(), OpError> {
        self.driver.domain_shutdown(&self.dom, 0).await?;
        let deadline = tokio::time::Instant::now() + SHUTDOWN_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            let (state, _) = self.driver.domain_get_state(&self.dom, 0).await?;
            if !is_active(state) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(failed(format!(
            "Domain failed to shutdown in {} seconds",
            SHUTDOWN_TIMEOUT.as_secs()
        )))
    }
}

#[async_trait]
impl Provider for MigrationServiceProvider {
    fn class_name(&self) -> &'static str {
        SERVICE_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![service_path_of(&host_name(ctx.driver).await)])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let host = singleton_host(ctx, path, service_path_of).await?;
        Ok(service_instance(ctx, SERVICE_NAME, &host))
    }

    async fn invoke(
        &self,
        ctx: &ProviderCtx<'_>,
        target: &ObjectPath,
        method: &str,
        params: Vec<(String, Value)>,
    ) -> Result<MethodReturn, OpError> {
        let host = host_name(ctx.driver).await;
        check_service_target(target, &service_path_of(&host))?;
        let driver = ctx.driver;
        match method.to_ascii_lowercase().as_str() {
            "checkvirtualsystemismigratabletohost" => self.check(driver, &params, false).await,
            "checkvirtualsystemismigratabletosystem" => self.check(driver, &params, true).await,
            "migratevirtualsystemtohost" => self.migrate(driver, &params, false).await,
            "migratevirtualsystemtosystem" => self.migrate(driver, &params, true).await,
            _ => Err(unknown_method(SERVICE_CLASS, method)),
        }
    }
}

/// `KVM_VirtualSystemMigrationCapabilities`: one instance, libvirt-CIM's values.
pub struct MigrationCapabilitiesProvider;

#[async_trait]
impl Provider for MigrationCapabilitiesProvider {
    fn class_name(&self) -> &'static str {
        CAPS_CLASS
    }

    async fn enumerate_names(&self, _ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![caps_path()])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        if path.key_str("InstanceID") != Some(CAPS_ID) {
            return Err(not_found(path));
        }
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        put(&mut inst, class, "InstanceID", s(CAPS_ID));
        put(&mut inst, class, "ElementName", s(CAPS_ID));
        put(
            &mut inst,
            class,
            "AsynchronousMethodsSupported",
            u16_array(&ASYNC_METHODS),
        );
        put(
            &mut inst,
            class,
            "SynchronousMethodsSupported",
            u16_array(&SYNC_METHODS),
        );
        put(
            &mut inst,
            class,
            "DestinationHostFormatsSupported",
            u16_array(&HOST_FORMATS),
        );
        Ok(ctx.with_path(inst))
    }
}

/// `KVM_VirtualSystemMigrationSettingData`: the one instance of the defaults.
pub struct MigrationSettingDataProvider;

#[async_trait]
impl Provider for MigrationSettingDataProvider {
    fn class_name(&self) -> &'static str {
        MSD_CLASS
    }

    async fn enumerate_names(&self, _ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![msd_path()])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        if path.key_str("InstanceID") != Some(MSD_ID) {
            return Err(not_found(path));
        }
        let class = ctx.class;
        let defaults = Settings::default();
        let mut inst = ctx.new_instance();
        put(&mut inst, class, "InstanceID", s(MSD_ID));
        put(&mut inst, class, "ElementName", s(MSD_ID));
        put(
            &mut inst,
            class,
            "MigrationType",
            Value::Uint16(defaults.migration_type),
        );
        put(&mut inst, class, "Priority", Value::Uint16(0));
        put(
            &mut inst,
            class,
            "TransportType",
            Value::Uint16(defaults.transport),
        );
        Ok(ctx.with_path(inst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_uris_as_libvirt_cim_builds_them() {
        let q = "qemu:///system";
        let uri = |d: &str, t: u16| destination_uri(d, t, q).unwrap();
        assert_eq!(
            uri("host.example", TRANSPORT_SSH),
            "qemu+ssh://host.example/system"
        );
        assert_eq!(
            uri("10.0.0.2", TRANSPORT_TLS),
            "qemu+tls://10.0.0.2/system?no_verify=1"
        );
        assert_eq!(uri("h", TRANSPORT_TLS_STRICT), "qemu+tls://h/system");
        assert_eq!(uri("fe80::1", TRANSPORT_TCP), "qemu+tcp://[fe80::1]/system");
        assert_eq!(
            uri("/run/b/libvirt-sock", TRANSPORT_UNIX),
            "qemu+unix:///system?socket=/run/b/libvirt-sock"
        );
        assert_eq!(
            destination_uri("/s", TRANSPORT_UNIX, "test:///default").unwrap(),
            "test+unix:///default?socket=/s"
        );
        assert_eq!(
            uri("qemu+tcp://127.0.0.1:1/system", TRANSPORT_SSH),
            "qemu+tcp://127.0.0.1:1/system"
        );
        for bad in ["a b", "h/x", "h?x", ""] {
            assert_eq!(
                destination_uri(bad, TRANSPORT_SSH, q).unwrap_err().status(),
                CimStatus::InvalidParameter,
                "{bad:?}"
            );
        }
        assert_eq!(
            destination_uri("h", 7, q).unwrap_err().status(),
            CimStatus::Failed
        );
    }

    #[test]
    fn local_destinations() {
        assert!(is_local_destination("qemu+unix:///system?socket=/x"));
        assert!(is_local_destination("qemu+tcp://127.0.0.1:16509/system"));
        assert!(is_local_destination("qemu+tcp://[::1]/system"));
        assert!(is_local_destination("qemu+ssh://root@localhost/system"));
        assert!(!is_local_destination("qemu+ssh://host.example/system"));
        assert!(!is_local_destination("qemu+tcp://10.1.1.1/system"));
    }

    #[test]
    fn settings_defaults_and_bad_input() {
        assert_eq!(parse_settings(None).unwrap(), Settings::default());
        let msd = |body: &str| {
            Value::String(format!(
                "instance of KVM_VirtualSystemMigrationSettingData {{ InstanceID = \"x\"; {body} }};"
            ))
        };
        let got = parse_settings(Some(&msd("MigrationType = 1; TransportType = 32768;"))).unwrap();
        assert_eq!(
            got,
            Settings {
                migration_type: TYPE_OFFLINE,
                transport: TRANSPORT_UNIX
            }
        );
        let status = |v: Value| parse_settings(Some(&v)).unwrap_err().status();
        assert_eq!(status(s("<INSTANCE")), CimStatus::Failed);
        assert_eq!(status(s("not mof at all")), CimStatus::Failed);
        assert_eq!(
            status(Value::String(
                "instance of KVM_VirtualSystemSettingData { InstanceID = \"x\"; };".into()
            )),
            CimStatus::InvalidParameter
        );
        assert_eq!(status(msd("MigrationType = 9;")), CimStatus::Failed);
        assert_eq!(status(msd("Bandwidth = 5;")), CimStatus::NotSupported);
    }
}
