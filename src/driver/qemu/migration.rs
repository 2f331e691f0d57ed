//! Migration of QEMU guests between two drivers (libvirt's version 3 protocol with parameters): offline (the
//! definition only) and live, QEMU's own migration stream going straight from the source QEMU to a destination
//! QEMU started with `-incoming defer` and `migrate-incoming`, as libvirt's qemu driver runs it.
//!
//! Source: Begin checks and answers the definition; Perform runs `migrate` and follows `query-migrate` (what
//! `domjobinfo` shows, what `domjobabort` cancels); Confirm ends the source QEMU (stopped, migrated) or, when the
//! migration failed, resumes it. Destination: Prepare starts the incoming QEMU (started, migrated) and answers
//! the URI it listens on; Finish waits for the stream to complete and resumes the guest (resumed, migrated), or
//! ends it when the source says the migration was cancelled. Whatever fails, the guest keeps running on the source.
//!
//! Non-shared disks (`--copy-storage-all`/`-inc`) are copied over NBD alongside (`migration_disks.rs`); a
//! tunnelled migration carries QEMU's stream inside the daemons' RPC connection instead (`migration_tunnel.rs`).

use super::migration_disks as disks;
use super::migration_tunnel as tunnel;
use super::save::Boot;
use super::{check_flags, no_domain, not_running, qmp_error, QemuDriver};
use crate::driver::migration::{
    detail, feature, flags as mf, param, run_peer2peer, Cookie, Kind, Nbd, Params, SourceSide,
    Statistics, JOB_OPERATION_MIGRATION_OUT, OPERATION_ABORTED,
};
use crate::driver::{event, reason, DomainRef, DomainState, JobInfo, TypedParam, TypedValue};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{DomainDef, DomainXmlOptions};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use uuid::Uuid;

use super::qmp::QmpClient;

/// Flags this driver's migration takes.
const ALLOWED: u32 = mf::LIVE
    | mf::PEER2PEER
    | mf::TUNNELLED
    | mf::PERSIST_DEST
    | mf::UNDEFINE_SOURCE
    | mf::PAUSED
    | mf::NON_SHARED_DISK
    | mf::NON_SHARED_INC
    | mf::CHANGE_PROTECTION
    | mf::UNSAFE
    | mf::OFFLINE
    | mf::ABORT_ON_ERROR
    | mf::AUTO_CONVERGE;

/// The parameters this driver knows.
const KNOWN: &[(&str, Kind)] = &[
    (param::URI, Kind::String),
    (param::DEST_NAME, Kind::String),
    (param::DEST_XML, Kind::String),
    (param::PERSIST_XML, Kind::String),
    (param::BANDWIDTH, Kind::ULLong),
    (param::LISTEN_ADDRESS, Kind::String),
    (param::GRAPHICS_URI, Kind::String),
    (param::MIGRATE_DISKS, Kind::String),
    (param::DISKS_PORT, Kind::Int),
    (param::DISKS_URI, Kind::String),
];

/// libvirt's `QEMU_DOMAIN_MIG_BANDWIDTH_MAX` (MiB/s): what `migrate-getspeed` says when nothing was set.
const BANDWIDTH_MAX: u64 = i64::MAX.unsigned_abs() / (1024 * 1024);
/// The migration ports libvirt uses by default (`migration_port_min` .. `_max`).
const PORT_MIN: u16 = 49152;
const PORT_MAX: u16 = 49215;
/// Between two `query-migrate` polls.
const POLL: Duration = Duration::from_millis(50);
/// How long Finish waits for the incoming stream to complete once the source said it did.
const FINISH_WAIT: Duration = Duration::from_secs(60);

/// An outgoing migration in progress on the source.
struct OutJob {
    started: Instant,
    qmp: Arc<QmpClient>,
    generation: u64,
    /// The guest ran when the migration started (so a failed one resumes it).
    was_running: bool,
    aborted: bool,
    /// The last `query-migrate` answer, for `domjobinfo`.
    last: serde_json::Value,
    /// Perform completed; Confirm ends or resumes the source.
    performed: bool,
    /// Disks copied over NBD: bytes in all, bytes copied (`domjobinfo`'s "File" lines).
    disk_total: u64,
    disk_processed: u64,
}

/// An incoming migration waiting for Finish: images Prepare created (removed if it fails) and whether an NBD
/// server runs for the copied disks.
struct Incoming {
    created: Vec<std::path::PathBuf>,
    nbd: bool,
}

/// The migration state of one driver: jobs by domain UUID, the last completed job's statistics, the speed and
/// downtime asked for. Never held together with the domain table's lock.
#[derive(Default)]
pub(super) struct Jobs {
    out: Mutex<BTreeMap<Uuid, OutJob>>,
    incoming: Mutex<BTreeMap<Uuid, Incoming>>,
    completed: Mutex<BTreeMap<Uuid, Statistics>>,
    speed: Mutex<BTreeMap<Uuid, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Jobs {
    /// Whether the guest is being migrated out (its QEMU's STOP is then the switch-over, not a user's pause).
    pub(super) fn outgoing(&self, uuid: &Uuid) -> bool {
        lock(&self.out).contains_key(uuid)
    }
}

fn failed(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::OPERATION_FAILED, ErrorDomain::QEMU, detail)
}

fn unsupported(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::ARGUMENT_UNSUPPORTED, ErrorDomain::QEMU, detail)
}

/// QEMU's URI for a libvirt migration URI: `tcp://HOST:PORT` or `tcp:HOST:PORT` → `tcp:HOST:PORT`.
fn split_uri(uri: &str) -> Result<(String, Option<u16>)> {
    let rest = uri
        .strip_prefix("tcp://")
        .or_else(|| uri.strip_prefix("tcp:"))
        .ok_or_else(|| {
            unsupported(format!(
                "unsupported scheme {} in migration URI {uri}",
                uri.split(':').next().unwrap_or("")
            ))
        })?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => {
            let port = port.parse::<u16>().map_err(|_| {
                Error::invalid_arg(
                    ErrorDomain::QEMU,
                    format!("invalid port in migration URI {uri}"),
                )
            })?;
            (host.to_string(), Some(port).filter(|p| *p != 0))
        }
        _ => (rest.to_string(), None),
    };
    if host.is_empty() {
        return Err(Error::invalid_arg(
            ErrorDomain::QEMU,
            format!("missing host in migration URI: {uri}"),
        ));
    }
    Ok((host, port))
}

/// A free port in libvirt's migration range on `addr`.
fn free_port(addr: &str) -> Result<u16> {
    // Started at a varying offset, so a port another process is about to take is not every migration's first pick.
    let span = PORT_MAX - PORT_MIN + 1;
    let start = u16::try_from(std::process::id() % u32::from(span)).unwrap_or(0);
    for i in 0..span {
        let port = PORT_MIN + (start + i) % span;
        if std::net::TcpListener::bind((addr, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::internal(
        ErrorDomain::QEMU,
        format!("Unable to find an unused port in range 'migration' ({PORT_MIN}-{PORT_MAX})"),
    ))
}

fn ull(name: &str, value: u64) -> TypedParam {
    TypedParam {
        field: name.to_string(),
        value: TypedValue::ULLong(value),
    }
}

fn json_u64(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Tells QEMU to take the incoming stream on `uri`, once its monitor is up (a start with `Boot::Migration`).
pub(super) async fn listen(qmp: &QmpClient, uri: &str) -> Result<()> {
    qmp.execute("migrate-incoming", Some(json!({ "uri": uri })))
        .await
        .map_err(qmp_error)?;
    Ok(())
}

impl QemuDriver {
    pub(super) fn migration_supports(&self, value: i32) -> bool {
        matches!(
            value,
            feature::MIGRATION_V3
                | feature::MIGRATION_P2P
                | feature::MIGRATE_CHANGE_PROTECTION
                | feature::MIGRATION_PARAMS
                | feature::MIGRATION_OFFLINE
                | feature::XML_MIGRATABLE
        )
    }

    fn jobs(&self) -> &Jobs {
        &self.shared.migration
    }

    fn cookie_for(&self, name: &str, uuid: Uuid, statistics: Option<Statistics>) -> Vec<u8> {
        self.cookie_with(name, uuid, statistics, None)
    }

    fn cookie_with(
        &self,
        name: &str,
        uuid: Uuid,
        statistics: Option<Statistics>,
        nbd: Option<Nbd>,
    ) -> Vec<u8> {
        Cookie {
            name: name.to_string(),
            uuid,
            hostname: self.shared.hostname.clone(),
            hostuuid: crate::driver::host_uuid::host_uuid(),
            statistics,
            nbd,
        }
        .to_bytes()
    }

    /// Checks flags and parameters as every phase does.
    fn check_call(params: &[TypedParam], given: u32, api: &str) -> Result<Params> {
        check_flags(given, ALLOWED, api)?;
        let params = Params(params.to_vec());
        params.validate(KNOWN, ErrorDomain::QEMU)?;
        if given & mf::TUNNELLED != 0 && copies_storage(given) {
            return Err(unsupported(
                "migration of non-shared storage is not supported with tunnelled migration",
            ));
        }
        if given & mf::NON_SHARED_DISK != 0 && given & mf::NON_SHARED_INC != 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                "Flags 'VIR_MIGRATE_NON_SHARED_DISK' and 'VIR_MIGRATE_NON_SHARED_INC' are mutually exclusive",
            ));
        }
        if given & mf::OFFLINE != 0 && given & (mf::NON_SHARED_DISK | mf::NON_SHARED_INC) != 0 {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "offline migration cannot handle non-shared storage",
            ));
        }
        if given & (mf::NON_SHARED_DISK | mf::NON_SHARED_INC) == 0
            && !params.strings(param::MIGRATE_DISKS).is_empty()
        {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                "use of 'VIR_MIGRATE_PARAM_MIGRATE_DISKS' requires use of 'VIR_MIGRATE_NON_SHARED_DISK' or \
                 'VIR_MIGRATE_NON_SHARED_INC' flag",
            ));
        }
        Ok(params)
    }

    pub(super) async fn migrate_begin(
        &self,
        dom: &DomainRef,
        params: Vec<TypedParam>,
        given: u32,
    ) -> Result<(Vec<u8>, String)> {
        let params = Self::check_call(&params, given, "virDomainMigrateBegin3Params")?;
        if given & mf::TUNNELLED != 0 && given & mf::PEER2PEER == 0 {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "cannot perform tunnelled migration without using peer2peer flag",
            ));
        }
        self.begin_phase(dom, &params, given).await
    }

    async fn begin_phase(
        &self,
        dom: &DomainRef,
        params: &Params,
        given: u32,
    ) -> Result<(Vec<u8>, String)> {
        let offline = given & mf::OFFLINE != 0;
        if offline && given & mf::PERSIST_DEST == 0 {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "offline migration must be specified with the persistent flag set",
            ));
        }
        let (handle, def) = {
            let domains = self.domains();
            let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
            let def = if offline {
                obj.persistent.clone().ok_or_else(|| {
                    Error::operation_invalid(
                        ErrorDomain::QEMU,
                        "cannot migrate a transient domain offline",
                    )
                })?
            } else {
                if !obj.state.is_active() {
                    return Err(not_running(obj.name()));
                }
                obj.live.clone().ok_or_else(|| not_running(obj.name()))?
            };
            (obj.handle(), def)
        };
        if !offline && self.jobs().outgoing(&handle.uuid) {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                format!("domain '{}' is already being migrated", handle.name),
            ));
        }
        let def = match params.string(param::DEST_XML) {
            Some(xml) => {
                let new = DomainDef::from_xml(xml, false)?;
                if new.uuid != def.uuid
                    || new.memory_kib != def.memory_kib
                    || new.vcpus != def.vcpus
                {
                    return Err(Error::with_detail(
                        ErrorCode::CONFIG_UNSUPPORTED,
                        ErrorDomain::QEMU,
                        "Target domain definition does not match the source's ABI",
                    ));
                }
                new
            }
            None => def,
        };
        let nbd = if !offline && copies_storage(given) {
            let qmp = self.running_monitor(&handle)?;
            let source_def = self.live_def_of(&handle)?;
            Some(disks::describe(&qmp, &source_def, &params.strings(param::MIGRATE_DISKS)).await?)
                .filter(|n| !n.disks.is_empty())
        } else {
            None
        };
        let xml = def.to_xml(&DomainXmlOptions {
            id: None,
            secure: true,
        });
        Ok((self.cookie_with(&handle.name, handle.uuid, None, nbd), xml))
    }

    pub(super) async fn migrate_prepare(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        given: u32,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let params = Self::check_call(&params, given, "virDomainMigratePrepare3Params")?;
        self.prepare_incoming(&params, &cookie_in, given, None)
            .await
    }

    /// Prepare of a tunnelled migration: the incoming QEMU listens on a unix socket, and the stream answered feeds
    /// it what the source sends.
    pub(super) async fn migrate_prepare_tunnel(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        given: u32,
    ) -> Result<(Vec<u8>, crate::driver::Stream)> {
        let params = Self::check_call(&params, given, "virDomainMigratePrepareTunnel3Params")?;
        if given & mf::OFFLINE != 0 {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "offline migration cannot be tunnelled",
            ));
        }
        let def_uuid = params
            .string(param::DEST_XML)
            .and_then(|xml| DomainDef::from_xml(xml, false).ok())
            .map(|def| def.uuid)
            .ok_or_else(|| Error::internal(ErrorDomain::QEMU, "no domain XML passed"))?;
        let path = tunnel::socket_path(&self.shared.files.root, &def_uuid, "in");
        let _ = std::fs::remove_file(&path);
        let (cookie, _) = match self
            .prepare_incoming(&params, &cookie_in, given, Some(&path))
            .await
        {
            Ok(prepared) => prepared,
            Err(err) => {
                let _ = std::fs::remove_file(&path);
                return Err(err);
            }
        };
        let (user, driver) = crate::driver::Stream::pair();
        tokio::spawn(tunnel::feed(path, driver));
        Ok((cookie, user))
    }

    /// Prepare: starts the incoming QEMU, listening on TCP, or (`tunnel`) on a unix socket at that path that the
    /// tunnel's stream feeds.
    async fn prepare_incoming(
        &self,
        params: &Params,
        cookie_in: &[u8],
        given: u32,
        tunnel: Option<&std::path::Path>,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let xml = params
            .string(param::DEST_XML)
            .ok_or_else(|| Error::internal(ErrorDomain::QEMU, "no domain XML passed"))?;
        let cookie_in = Cookie::parse(cookie_in, ErrorDomain::QEMU)?;
        if let Some(cookie) = &cookie_in {
            if cookie.hostuuid == crate::driver::host_uuid::host_uuid() {
                return Err(Error::internal(
                    ErrorDomain::QEMU,
                    format!(
                        "Attempt to migrate guest to the same host {}",
                        cookie.hostuuid
                    ),
                ));
            }
        }
        let mut def = DomainDef::from_xml(xml, false)?;
        if let Some(name) = params.string(param::DEST_NAME) {
            def.name = name.to_string();
        }
        self.post_parse(&mut def).await?;
        self.check_definable(&def)?;
        let offline = given & mf::OFFLINE != 0;
        let _guard = self.shared.lifecycle.lock().await;
        self.clash(&def)?;
        let persistent = match self.domains().get(&def.uuid) {
            Some(obj) if obj.state.is_active() => {
                return Err(Error::operation_invalid(
                    ErrorDomain::QEMU,
                    format!("domain '{}' is already active", def.name),
                ))
            }
            Some(obj) => obj.persistent.is_some(),
            None => false,
        };
        let cookie = self.cookie_for(&def.name, def.uuid, None);
        if offline {
            // Nothing runs here: Finish defines the domain. The client still wants a URI back.
            return Ok((cookie, Some(format!("tcp:{}", self.shared.hostname))));
        }
        let (host, port) = match params.string(param::URI) {
            Some(uri) if tunnel.is_none() => split_uri(uri)?,
            _ => (self.shared.hostname.clone(), None),
        };
        // Without a URI naming an address, QEMU listens on every address, as libvirt's does.
        let listen = params
            .string(param::LISTEN_ADDRESS)
            .map(str::to_string)
            .unwrap_or_else(|| {
                if params.string(param::URI).is_some() {
                    host.clone()
                } else {
                    "0.0.0.0".to_string()
                }
            });
        let port = match (port, tunnel) {
            (_, Some(_)) => 0,
            (Some(port), None) => port,
            (None, None) => free_port(&listen)?,
        };
        let uuid = def.uuid;
        let name = def.name.clone();
        let incoming = match tunnel {
            Some(path) => format!("unix:{}", path.display()),
            None => format!("tcp:{listen}:{port}"),
        };
        // The disks to copy: those the source's cookie lists (it applied `migrate_disks`).
        let nbd = cookie_in
            .and_then(|c| c.nbd)
            .filter(|n| copies_storage(given) && !n.disks.is_empty());
        let created = match &nbd {
            Some(nbd) => disks::precreate(&def, nbd).await?,
            None => Vec::new(),
        };
        let live_def = def.clone();
        let handle = match self
            .start(def, persistent, Boot::Migration(incoming.clone()))
            .await
        {
            Ok(handle) => handle,
            Err(err) => {
                disks::remove_created(&created);
                return Err(err);
            }
        };
        let mut cookie = cookie;
        if let Some(mut nbd) = nbd {
            // The definition as started (its aliases name the block nodes).
            let served = match self.live_def_of(&handle) {
                Ok(started) => {
                    self.serve_disks(&handle, &started, &nbd, params, &listen)
                        .await
                }
                Err(err) => Err(err),
            };
            match served {
                Ok(port) => {
                    nbd.port = Some(port);
                    cookie = self.cookie_with(&live_def.name, uuid, None, Some(nbd));
                }
                Err(err) => {
                    if let Ok((_, generation)) = self.running_generation(&handle) {
                        self.kill_run(uuid, generation, reason::SHUTOFF_FAILED)
                            .await;
                    }
                    disks::remove_created(&created);
                    return Err(err);
                }
            }
            lock(&self.jobs().incoming).insert(uuid, Incoming { created, nbd: true });
        } else {
            lock(&self.jobs().incoming).insert(
                uuid,
                Incoming {
                    created,
                    nbd: false,
                },
            );
        }
        tracing::info!(domain = %name, %incoming, "waiting for an incoming migration");
        Ok((
            cookie,
            tunnel.is_none().then(|| format!("tcp:{host}:{port}")),
        ))
    }

    /// Destination: the NBD server for the disks to copy, on `disks_uri`/`disks_port` or a free migration port;
    /// answers its port.
    async fn serve_disks(
        &self,
        handle: &DomainRef,
        def: &DomainDef,
        nbd: &Nbd,
        params: &Params,
        listen: &str,
    ) -> Result<u16> {
        let (listen, port) = match params.string(param::DISKS_URI) {
            Some(uri) => {
                let (host, port) = split_uri(uri)?;
                (host, port)
            }
            None => (listen.to_string(), None),
        };
        let port = match (port, params.int(param::DISKS_PORT)) {
            (Some(port), _) => port,
            (None, Some(port)) if port > 0 => u16::try_from(port).map_err(|_| {
                Error::invalid_arg(ErrorDomain::QEMU, format!("invalid disks port {port}"))
            })?,
            _ => free_port(&listen)?,
        };
        let qmp = self.running_monitor(handle)?;
        disks::start_server(&qmp, def, nbd, (&listen, port)).await?;
        Ok(port)
    }

    pub(super) async fn migrate_perform(
        &self,
        dom: &DomainRef,
        dconnuri: Option<String>,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        given: u32,
    ) -> Result<Vec<u8>> {
        let params = Self::check_call(&params, given, "virDomainMigratePerform3Params")?;
        if given & mf::PEER2PEER != 0 {
            let uri = dconnuri.ok_or_else(|| {
                Error::invalid_arg(
                    ErrorDomain::QEMU,
                    "dconnuri in virDomainMigratePerform3Params must not be NULL",
                )
            })?;
            run_peer2peer(self, dom, &uri, params, given, ErrorDomain::QEMU).await?;
            return Ok(Vec::new());
        }
        self.perform_phase(dom, &params, &cookie_in, given, None)
            .await
    }

    async fn perform_phase(
        &self,
        dom: &DomainRef,
        params: &Params,
        cookie_in: &[u8],
        given: u32,
        tunnel: Option<crate::driver::Stream>,
    ) -> Result<Vec<u8>> {
        let nbd = match Cookie::parse(cookie_in, ErrorDomain::QEMU)? {
            Some(cookie) if copies_storage(given) => cookie.nbd.filter(|n| !n.disks.is_empty()),
            _ => None,
        };
        if copies_storage(given) && nbd.as_ref().and_then(|n| n.port).is_none() {
            let wanted = self.live_def_of(dom)?;
            if !disks::disks_to_copy(&wanted, &params.strings(param::MIGRATE_DISKS))?.is_empty() {
                return Err(failed(
                    "the destination did not start an NBD server for the disks to copy",
                ));
            }
        }
        let (host, target) = match &tunnel {
            // QEMU sends to a socket of ours, whose bytes go down the stream.
            Some(_) => (String::new(), None),
            None => {
                let uri = params.string(param::URI).ok_or_else(|| {
                    Error::invalid_arg(ErrorDomain::QEMU, "missing migration URI")
                })?;
                let (host, port) = split_uri(uri)?;
                let port = port.ok_or_else(|| {
                    Error::invalid_arg(
                        ErrorDomain::QEMU,
                        format!("missing port in migration URI {uri}"),
                    )
                })?;
                let target = if host.contains(':') {
                    format!("tcp:[{host}]:{port}")
                } else {
                    format!("tcp:{host}:{port}")
                };
                (host, Some(target))
            }
        };
        let (handle, generation, qmp, state) = {
            let domains = self.domains();
            let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
            let run = obj
                .run
                .as_ref()
                .filter(|_| obj.state.is_active())
                .ok_or_else(|| not_running(obj.name()))?;
            let qmp = run
                .qmp
                .clone()
                .ok_or_else(|| failed(format!("no QMP connection to domain '{}'", obj.name())))?;
            (obj.handle(), run.generation, qmp, obj.state)
        };
        let was_running = state == DomainState::Running;
        {
            let mut out = lock(&self.jobs().out);
            if out.contains_key(&handle.uuid) {
                return Err(Error::operation_invalid(
                    ErrorDomain::QEMU,
                    format!("domain '{}' is already being migrated", handle.name),
                ));
            }
            out.insert(
                handle.uuid,
                OutJob {
                    started: Instant::now(),
                    qmp: Arc::clone(&qmp),
                    generation,
                    was_running,
                    aborted: false,
                    last: serde_json::Value::Null,
                    performed: false,
                    disk_total: 0,
                    disk_processed: 0,
                },
            );
        }
        let (target, outgoing) = match (target, tunnel) {
            (Some(target), _) => (target, None),
            (None, Some(stream)) => {
                let path = tunnel::socket_path(&self.shared.files.root, &handle.uuid, "out");
                match tunnel::Outgoing::listen(&path, stream) {
                    Ok(out) => (format!("unix:{}", path.display()), Some(out)),
                    Err(err) => {
                        lock(&self.jobs().out).remove(&handle.uuid);
                        return Err(err);
                    }
                }
            }
            (None, None) => unreachable!("a migration without a target has a tunnel"),
        };
        let mut outcome = self
            .send(
                &handle,
                generation,
                &qmp,
                params,
                given,
                (&host, &target),
                was_running,
                nbd.as_ref(),
            )
            .await;
        if let Some(outgoing) = outgoing {
            // All of QEMU's data is in the stream only once the destination said so.
            let finished = outgoing.finish(outcome.is_ok()).await;
            if let (Ok(_), Err(err)) = (&outcome, finished) {
                outcome = Err(err);
            }
        }
        match outcome {
            Ok(statistics) => {
                if let Some(job) = lock(&self.jobs().out).get_mut(&handle.uuid) {
                    job.performed = true;
                }
                tracing::info!(domain = %handle.name, downtime_ms = statistics.downtime, "migration sent");
                Ok(self.cookie_for(&handle.name, handle.uuid, Some(statistics)))
            }
            Err(err) => {
                tracing::warn!(domain = %handle.name, "migration failed: {}", err.message);
                self.resume_source(&handle).await;
                Err(err)
            }
        }
    }

    /// Runs QEMU's migration to `host:port` and follows it to the end.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        handle: &DomainRef,
        generation: u64,
        qmp: &QmpClient,
        params: &Params,
        given: u32,
        (host, target): (&str, &str),
        was_running: bool,
        nbd: Option<&Nbd>,
    ) -> Result<Statistics> {
        let mirrors = match nbd {
            Some(nbd) => {
                self.copy_disks(handle, qmp, params, given, host, nbd)
                    .await?
            }
            None => Vec::new(),
        };
        let sent = self
            .send_memory(
                handle,
                generation,
                qmp,
                params,
                given,
                target,
                was_running,
                &mirrors,
            )
            .await;
        if sent.is_err() && !mirrors.is_empty() {
            disks::cancel_mirrors(qmp, &mirrors, true).await;
        }
        sent
    }

    /// Source: mirrors the disks into the destination's NBD server and waits until every copy is in step.
    async fn copy_disks(
        &self,
        handle: &DomainRef,
        qmp: &QmpClient,
        params: &Params,
        given: u32,
        host: &str,
        nbd: &Nbd,
    ) -> Result<Vec<disks::Mirror>> {
        let port = nbd.port.unwrap_or(0);
        let host = match params.string(param::DISKS_URI) {
            Some(uri) => split_uri(uri)?.0,
            None => host.to_string(),
        };
        let speed = params
            .ullong(param::BANDWIDTH)
            .filter(|b| *b > 0)
            .or_else(|| lock(&self.jobs().speed).get(&handle.uuid).copied())
            .filter(|b| *b < BANDWIDTH_MAX)
            .map_or(0, |b| b.saturating_mul(1024 * 1024));
        let def = self.live_def_of(handle)?;
        let mirrors = disks::start_mirrors(
            qmp,
            &def,
            nbd,
            (&host, port),
            given & mf::NON_SHARED_INC != 0,
            speed,
        )
        .await?;
        loop {
            let progress = match disks::progress(qmp, &mirrors).await {
                Ok(p) => p,
                Err(err) => {
                    disks::cancel_mirrors(qmp, &mirrors, true).await;
                    return Err(err);
                }
            };
            let aborted = {
                let mut out = lock(&self.jobs().out);
                match out.get_mut(&handle.uuid) {
                    Some(job) => {
                        job.disk_total = progress.total;
                        job.disk_processed = progress.processed;
                        job.aborted
                    }
                    None => false,
                }
            };
            if aborted {
                disks::cancel_mirrors(qmp, &mirrors, true).await;
                return Err(Error::new(
                    OPERATION_ABORTED,
                    ErrorDomain::QEMU,
                    "operation aborted: migration out job: canceled by client",
                ));
            }
            if progress.ready {
                return Ok(mirrors);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs QEMU's memory migration to `host:port` and follows it to the end; with `mirrors`, pauses at the
    /// switch-over to end them first.
    #[allow(clippy::too_many_arguments)]
    async fn send_memory(
        &self,
        handle: &DomainRef,
        generation: u64,
        qmp: &QmpClient,
        params: &Params,
        given: u32,
        target: &str,
        was_running: bool,
        mirrors: &[disks::Mirror],
    ) -> Result<Statistics> {
        let started = Instant::now();
        let bandwidth = params
            .ullong(param::BANDWIDTH)
            .filter(|b| *b > 0)
            .or_else(|| lock(&self.jobs().speed).get(&handle.uuid).copied())
            .unwrap_or(BANDWIDTH_MAX);
        let bytes_per_sec = bandwidth
            .saturating_mul(1024 * 1024)
            .min(i64::MAX.unsigned_abs());
        qmp.execute(
            "migrate-set-parameters",
            Some(json!({ "max-bandwidth": bytes_per_sec })),
        )
        .await
        .map_err(qmp_error)?;
        if given & mf::AUTO_CONVERGE != 0 {
            qmp.execute(
                "migrate-set-capabilities",
                Some(json!({ "capabilities": [{ "capability": "auto-converge", "state": true }] })),
            )
            .await
            .map_err(qmp_error)?;
        }
        if given & mf::LIVE == 0 && was_running {
            // A migration that is not live pauses the guest first, as libvirt's does.
            self.set_run_state(
                handle,
                generation,
                (DomainState::Paused, reason::PAUSED_MIGRATION),
                Some((event::SUSPENDED, detail::SUSPENDED_MIGRATED)),
            );
            qmp.execute("stop", None).await.map_err(qmp_error)?;
        }
        disks::pause_before_switchover(qmp, !mirrors.is_empty()).await?;
        qmp.execute("migrate", Some(json!({ "uri": target })))
            .await
            .map_err(qmp_error)?;
        let mut switched = false;
        loop {
            let info = qmp
                .execute("query-migrate", None)
                .await
                .map_err(qmp_error)?;
            let aborted = {
                let mut out = lock(&self.jobs().out);
                match out.get_mut(&handle.uuid) {
                    Some(job) => {
                        job.last = info.clone();
                        job.aborted
                    }
                    None => false,
                }
            };
            match info["status"].as_str() {
                Some("completed") => {
                    let ram = &info["ram"];
                    return Ok(Statistics {
                        time_elapsed: u64::try_from(started.elapsed().as_millis())
                            .unwrap_or(u64::MAX),
                        downtime: json_u64(&info["downtime"]),
                        memory_total: json_u64(&ram["total"]),
                        memory_processed: json_u64(&ram["transferred"]),
                        memory_bps: json_u64(&ram["transferred"])
                            .saturating_mul(1000)
                            .checked_div(json_u64(&info["total-time"]))
                            .unwrap_or(0),
                    });
                }
                Some("pre-switchover") if !mirrors.is_empty() && !switched => {
                    switched = true;
                    // The guest is paused: the copies are final once the mirrors end.
                    if !disks::cancel_mirrors(qmp, mirrors, false).await {
                        let _ = qmp.execute("migrate_cancel", None).await;
                        return Err(failed("migration out job: the disk copies did not end"));
                    }
                    if let Some(job) = lock(&self.jobs().out).get_mut(&handle.uuid) {
                        job.disk_processed = job.disk_total;
                    }
                    disks::continue_switchover(qmp).await?;
                    tokio::time::sleep(POLL).await;
                }
                Some("cancelled") if aborted => {
                    return Err(Error::new(
                        OPERATION_ABORTED,
                        ErrorDomain::QEMU,
                        "operation aborted: migration out job: canceled by client",
                    ));
                }
                Some("failed" | "cancelled") => {
                    let desc = info["error-desc"].as_str().unwrap_or("unexpectedly failed");
                    return Err(failed(format!("migration out job: {desc}")));
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// After a failed or cancelled migration: the source guest runs again as it did, and the job is gone.
    async fn resume_source(&self, handle: &DomainRef) {
        let job = lock(&self.jobs().out).remove(&handle.uuid);
        let Some(job) = job else {
            return;
        };
        if !job.was_running {
            return;
        }
        let status = job
            .qmp
            .execute("query-status", None)
            .await
            .ok()
            .and_then(|s| s["status"].as_str().map(str::to_string));
        if status.as_deref() == Some("running") {
            self.set_run_state(
                handle,
                job.generation,
                (DomainState::Running, detail::RUNNING_MIGRATION_CANCELED),
                None,
            );
            return;
        }
        match job.qmp.execute("cont", None).await {
            Ok(_) => self.set_run_state(
                handle,
                job.generation,
                (DomainState::Running, detail::RUNNING_MIGRATION_CANCELED),
                Some((event::RESUMED, detail::RESUMED_MIGRATED)),
            ),
            Err(err) => {
                tracing::warn!(domain = %handle.name, "cannot resume after a failed migration: {err}")
            }
        }
    }

    pub(super) async fn migrate_finish(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        given: u32,
        cancelled: bool,
    ) -> Result<(DomainRef, Vec<u8>)> {
        let params = Self::check_call(&params, given, "virDomainMigrateFinish3Params")?;
        let name = params
            .string(param::DEST_NAME)
            .ok_or_else(|| Error::invalid_arg(ErrorDomain::QEMU, "missing destination name"))?
            .to_string();
        let cookie = Cookie::parse(&cookie_in, ErrorDomain::QEMU)?;
        if given & mf::OFFLINE != 0 {
            if cancelled {
                return Err(failed(format!("migration of domain {name} was cancelled")));
            }
            let xml = params
                .string(param::PERSIST_XML)
                .or_else(|| params.string(param::DEST_XML))
                .ok_or_else(|| Error::internal(ErrorDomain::QEMU, "no domain XML passed"))?;
            let mut def = DomainDef::from_xml(xml, false)?;
            def.name = name;
            let handle = self
                .domain_define_xml_inner(&def.to_xml(&DomainXmlOptions {
                    id: None,
                    secure: true,
                }))
                .await?;
            return Ok((
                handle.clone(),
                self.cookie_for(&handle.name, handle.uuid, None),
            ));
        }
        let (handle, generation, qmp) = {
            let domains = self.domains();
            let obj = domains
                .values()
                .find(|o| o.name() == name)
                .ok_or_else(no_domain)?;
            let run = obj
                .run
                .as_ref()
                .ok_or_else(|| failed(format!("domain {name} is not receiving a migration")))?;
            (obj.handle(), run.generation, run.qmp.clone())
        };
        let Some(incoming) = lock(&self.jobs().incoming).remove(&handle.uuid) else {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                format!("domain '{name}' is not processing incoming migration"),
            ));
        };
        let qmp = qmp.ok_or_else(|| failed(format!("no QMP connection to domain '{name}'")))?;
        let arrived = if cancelled {
            Err(failed(format!(
                "migration of domain {name} was cancelled by the source"
            )))
        } else {
            wait_incoming(&qmp).await
        };
        if let Err(err) = arrived {
            let _guard = self.shared.lifecycle.lock().await;
            self.kill_run(handle.uuid, generation, reason::SHUTOFF_FAILED)
                .await;
            disks::remove_created(&incoming.created);
            return Err(err);
        }
        if incoming.nbd {
            disks::stop_server(&qmp).await;
        }
        if let Some(stats) = cookie.and_then(|c| c.statistics) {
            lock(&self.jobs().completed).insert(handle.uuid, stats);
        }
        if given & mf::PAUSED != 0 {
            self.set_run_state(
                &handle,
                generation,
                (DomainState::Paused, reason::PAUSED_USER),
                Some((event::SUSPENDED, event::SUSPENDED_PAUSED)),
            );
        } else {
            // Set before `cont`, so its RESUME event is not taken for an unpause.
            self.set_run_state(
                &handle,
                generation,
                (DomainState::Running, detail::RUNNING_MIGRATED),
                None,
            );
            if let Err(err) = qmp.execute("cont", None).await {
                let _guard = self.shared.lifecycle.lock().await;
                self.kill_run(handle.uuid, generation, reason::SHUTOFF_FAILED)
                    .await;
                return Err(qmp_error(err));
            }
            self.shared
                .emit(&handle, event::RESUMED, detail::RESUMED_MIGRATED);
        }
        if given & mf::PERSIST_DEST != 0 {
            let xml = match params.string(param::PERSIST_XML) {
                Some(xml) => xml.to_string(),
                None => self.live_def_of(&handle)?.to_xml(&DomainXmlOptions {
                    id: None,
                    secure: true,
                }),
            };
            if let Err(err) = self.domain_define_xml_inner(&xml).await {
                tracing::warn!(domain = %name, "cannot make the migrated domain persistent: {err}");
            }
        }
        tracing::info!(domain = %name, "incoming migration finished");
        Ok((
            handle.clone(),
            self.cookie_for(&handle.name, handle.uuid, None),
        ))
    }

    pub(super) async fn migrate_confirm(
        &self,
        dom: &DomainRef,
        params: Vec<TypedParam>,
        _cookie_in: Vec<u8>,
        given: u32,
        cancelled: bool,
    ) -> Result<()> {
        let params = Self::check_call(&params, given, "virDomainMigrateConfirm3Params")?;
        self.confirm_phase(dom, &params, given, cancelled).await
    }

    async fn confirm_phase(
        &self,
        dom: &DomainRef,
        _params: &Params,
        given: u32,
        cancelled: bool,
    ) -> Result<()> {
        let (handle, _, _) = self.find(dom)?;
        if given & mf::OFFLINE != 0 {
            if !cancelled && given & mf::UNDEFINE_SOURCE != 0 {
                self.undefine_migrated(&handle).await;
            }
            return Ok(());
        }
        if cancelled {
            self.resume_source(&handle).await;
            return Ok(());
        }
        let job = lock(&self.jobs().out).remove(&handle.uuid);
        let Some(job) = job.filter(|j| j.performed) else {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                format!("domain '{}' is not being migrated", handle.name),
            ));
        };
        {
            let _guard = self.shared.lifecycle.lock().await;
            self.kill_run(handle.uuid, job.generation, detail::SHUTOFF_MIGRATED)
                .await;
        }
        if given & mf::UNDEFINE_SOURCE != 0 {
            self.undefine_migrated(&handle).await;
        }
        Ok(())
    }

    async fn undefine_migrated(&self, handle: &DomainRef) {
        use crate::driver::HypervisorDriver;
        if let Err(err) = self.domain_undefine(handle, 0).await {
            tracing::warn!(domain = %handle.name, "cannot undefine the migrated domain: {err}");
        }
    }

    async fn domain_define_xml_inner(&self, xml: &str) -> Result<DomainRef> {
        use crate::driver::HypervisorDriver;
        self.domain_define_xml(xml, 0).await
    }

    pub(super) async fn migrate_abort(&self, dom: &DomainRef) -> Result<()> {
        let (handle, _, _) = self.find(dom)?;
        let qmp = {
            let mut out = lock(&self.jobs().out);
            match out.get_mut(&handle.uuid).filter(|j| !j.performed) {
                Some(job) => {
                    job.aborted = true;
                    Arc::clone(&job.qmp)
                }
                None => {
                    return Err(Error::operation_invalid(
                        ErrorDomain::QEMU,
                        "no job is active on the domain",
                    ))
                }
            }
        };
        qmp.execute("migrate_cancel", None)
            .await
            .map_err(qmp_error)?;
        Ok(())
    }

    /// The outgoing migration's progress, if one runs.
    pub(super) fn migration_job_info(&self, dom: &DomainRef) -> Option<JobInfo> {
        let out = lock(&self.jobs().out);
        let job = out.get(&dom.uuid)?;
        let ram = &job.last["ram"];
        let (total, processed, remaining) = (
            json_u64(&ram["total"]),
            json_u64(&ram["transferred"]),
            json_u64(&ram["remaining"]),
        );
        Some(JobInfo {
            kind: 2,
            time_elapsed: u64::try_from(job.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            data_total: total,
            data_processed: processed,
            data_remaining: remaining,
            mem_total: total,
            mem_processed: processed,
            mem_remaining: remaining,
            file_total: job.disk_total,
            file_processed: job.disk_processed,
            file_remaining: job.disk_total.saturating_sub(job.disk_processed),
            ..JobInfo::default()
        })
    }

    /// `virDomainGetJobStats` for a migration: the running one, or (`completed`) the last one finished.
    pub(super) fn migration_job_stats(
        &self,
        dom: &DomainRef,
        completed: bool,
    ) -> Option<(i32, Vec<TypedParam>)> {
        if completed {
            let stats = *lock(&self.jobs().completed).get(&dom.uuid)?;
            return Some((
                3,
                vec![
                    TypedParam {
                        field: "operation".into(),
                        value: TypedValue::Int(super::super::migration::JOB_OPERATION_MIGRATION_IN),
                    },
                    ull("time_elapsed", stats.time_elapsed),
                    ull("downtime", stats.downtime),
                    ull("data_total", stats.memory_total),
                    ull("data_processed", stats.memory_processed),
                    ull("data_remaining", 0),
                    ull("memory_total", stats.memory_total),
                    ull("memory_processed", stats.memory_processed),
                    ull("memory_remaining", 0),
                    ull("memory_bps", stats.memory_bps),
                ],
            ));
        }
        let info = self.migration_job_info(dom)?;
        let dirty = {
            let out = lock(&self.jobs().out);
            out.get(&dom.uuid)
                .map(|j| json_u64(&j.last["ram"]["dirty-pages-rate"]))
                .unwrap_or(0)
        };
        let mut stats = vec![
            TypedParam {
                field: "operation".into(),
                value: TypedValue::Int(JOB_OPERATION_MIGRATION_OUT),
            },
            ull("time_elapsed", info.time_elapsed),
            ull("data_total", info.data_total),
            ull("data_processed", info.data_processed),
            ull("data_remaining", info.data_remaining),
            ull("memory_total", info.mem_total),
            ull("memory_processed", info.mem_processed),
            ull("memory_remaining", info.mem_remaining),
            ull("memory_dirty_rate", dirty),
        ];
        if info.file_total > 0 {
            stats.extend([
                ull("disk_total", info.file_total),
                ull("disk_processed", info.file_processed),
                ull("disk_remaining", info.file_remaining),
            ]);
        }
        Some((2, stats))
    }

    pub(super) async fn migrate_set_max_speed(
        &self,
        dom: &DomainRef,
        bandwidth: u64,
        f: u32,
    ) -> Result<()> {
        check_flags(f, 0, "virDomainMigrateSetMaxSpeed")?;
        let (handle, _, _) = self.find(dom)?;
        if bandwidth > BANDWIDTH_MAX {
            return Err(Error::with_detail(
                ErrorCode::OVERFLOW,
                ErrorDomain::QEMU,
                format!("bandwidth must be less than {}", BANDWIDTH_MAX + 1),
            ));
        }
        let qmp = lock(&self.jobs().out)
            .get(&handle.uuid)
            .map(|j| Arc::clone(&j.qmp));
        if let Some(qmp) = qmp {
            qmp.execute(
                "migrate-set-parameters",
                Some(json!({ "max-bandwidth": bandwidth.saturating_mul(1024 * 1024) })),
            )
            .await
            .map_err(qmp_error)?;
        }
        lock(&self.jobs().speed).insert(handle.uuid, bandwidth);
        Ok(())
    }

    pub(super) async fn migrate_get_max_speed(&self, dom: &DomainRef, f: u32) -> Result<u64> {
        check_flags(f, 0, "virDomainMigrateGetMaxSpeed")?;
        let (handle, _, _) = self.find(dom)?;
        Ok(lock(&self.jobs().speed)
            .get(&handle.uuid)
            .copied()
            .unwrap_or(BANDWIDTH_MAX))
    }

    fn running_monitor(&self, dom: &DomainRef) -> Result<Arc<QmpClient>> {
        let domains = self.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        obj.run
            .as_ref()
            .filter(|_| obj.state.is_active())
            .and_then(|r| r.qmp.clone())
            .ok_or_else(|| not_running(obj.name()))
    }

    pub(super) async fn migrate_set_max_downtime(
        &self,
        dom: &DomainRef,
        downtime: u64,
        f: u32,
    ) -> Result<()> {
        check_flags(f, 0, "virDomainMigrateSetMaxDowntime")?;
        let qmp = self.running_monitor(dom)?;
        qmp.execute(
            "migrate-set-parameters",
            Some(json!({ "downtime-limit": downtime })),
        )
        .await
        .map_err(qmp_error)?;
        Ok(())
    }

    pub(super) async fn migrate_get_max_downtime(&self, dom: &DomainRef, f: u32) -> Result<u64> {
        check_flags(f, 0, "virDomainMigrateGetMaxDowntime")?;
        let qmp = self.running_monitor(dom)?;
        let answer = qmp
            .execute("query-migrate-parameters", None)
            .await
            .map_err(qmp_error)?;
        answer["downtime-limit"]
            .as_u64()
            .ok_or_else(|| failed("Querying migration downtime is not supported by QEMU binary"))
    }
}

/// Whether a migration copies the guest's disks.
fn copies_storage(given: u32) -> bool {
    given & (mf::NON_SHARED_DISK | mf::NON_SHARED_INC) != 0
}

/// Waits until QEMU says the incoming stream is all in.
async fn wait_incoming(qmp: &QmpClient) -> Result<()> {
    let deadline = Instant::now() + FINISH_WAIT;
    loop {
        let info = qmp
            .execute("query-migrate", None)
            .await
            .map_err(qmp_error)?;
        match info["status"].as_str() {
            Some("completed") => return Ok(()),
            Some("failed" | "cancelled") => {
                let desc = info["error-desc"].as_str().unwrap_or("unexpectedly failed");
                return Err(failed(format!("migration in job: {desc}")));
            }
            _ if Instant::now() > deadline => {
                return Err(failed(
                    "migration in job: the stream did not complete in time",
                ));
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

#[async_trait::async_trait]
impl SourceSide for QemuDriver {
    async fn begin(
        &self,
        dom: &DomainRef,
        params: &Params,
        given: u32,
    ) -> Result<(Vec<u8>, String)> {
        self.begin_phase(dom, params, given).await
    }
    async fn perform(
        &self,
        dom: &DomainRef,
        params: &Params,
        cookie: &[u8],
        given: u32,
    ) -> Result<Vec<u8>> {
        self.perform_phase(dom, params, cookie, given, None).await
    }
    async fn confirm(
        &self,
        dom: &DomainRef,
        params: &Params,
        _cookie: &[u8],
        given: u32,
        cancelled: bool,
    ) -> Result<()> {
        self.confirm_phase(dom, params, given, cancelled).await
    }
    async fn perform_tunnel(
        &self,
        dom: &DomainRef,
        params: &Params,
        cookie: &[u8],
        given: u32,
        stream: crate::driver::Stream,
    ) -> Result<Vec<u8>> {
        self.perform_phase(dom, params, cookie, given, Some(stream))
            .await
    }
    async fn cancel(&self, dom: &DomainRef) {
        if let Err(err) = self.migrate_abort(dom).await {
            tracing::warn!(domain = %dom.name, "cannot cancel the migration: {}", err.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_uris_split_as_qemu_needs_them() {
        assert_eq!(
            split_uri("tcp://127.0.0.1:49200").unwrap(),
            ("127.0.0.1".into(), Some(49200))
        );
        assert_eq!(
            split_uri("tcp:127.0.0.1:49200").unwrap(),
            ("127.0.0.1".into(), Some(49200))
        );
        assert_eq!(
            split_uri("tcp://127.0.0.1").unwrap(),
            ("127.0.0.1".into(), None)
        );
        assert!(split_uri("rdma://h:1").is_err());
        assert!(split_uri("tcp://:1").is_err());
    }

    #[test]
    fn cookies_round_trip_and_carry_statistics() {
        let cookie = Cookie {
            name: "g<1>".into(),
            uuid: Uuid::new_v4(),
            hostname: "h".into(),
            hostuuid: Uuid::new_v4(),
            statistics: Some(Statistics {
                time_elapsed: 5,
                downtime: 7,
                ..Statistics::default()
            }),
            nbd: None,
        };
        let parsed = Cookie::parse(&cookie.to_bytes(), ErrorDomain::QEMU).unwrap();
        assert_eq!(parsed, Some(cookie));
        assert_eq!(Cookie::parse(b"", ErrorDomain::QEMU).unwrap(), None);
        assert!(Cookie::parse(b"<other/>", ErrorDomain::QEMU).is_err());
    }
}
