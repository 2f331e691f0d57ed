//! The `qemu` driver (`qemu:///system`, `qemu:///session`): real QEMU guests, run by the daemon.
//!
//! Definitions live in `STATE/qemu/NAME.xml` (`STATE/qemu/session/...` for `qemu:///session`), the live status of each running guest in `STATE/qemu/run/NAME.json`
//! (pid, QMP socket, id, state, reason, start time, running definition), QEMU's stderr in `STATE/qemu/log/`.
//! Guests run in their own process group and outlive the driver: a new driver (after a daemon restart) finds them
//! again through their status files and QMP sockets. One QMP connection per guest feeds a monitor task that turns
//! QEMU's events and its death into state changes and lifecycle events.
//!
//! A guest without an OS never reacts to ACPI: `shutdown` then only asks, and the guest stays running.

mod agent;
mod alias;
mod balloon;
mod capabilities;
pub mod command;
mod console;
mod defaults;
mod devices;
mod firmware;
mod graphics;
mod hotplug;
mod metadata;
mod migration;
mod migration_disks;
mod migration_tunnel;
mod monitor;
mod process;
pub mod qmp;
mod save;
mod stats;
mod status;
mod tap;
mod vcpu;

#[cfg(test)]
mod tests_argv;

use crate::driver::host::{HostDrivers, HostMode};
use crate::driver::{
    event, flags, reason, BlockInfo, BlockStats, Connection, DomainEvent, DomainInfo, DomainRef,
    DomainState, DomainStatsRecord, DomainSummary, FsInfo, GuestInterface, HypervisorDriver,
    InterfaceStats, JobInfo, KeepDomain, MemoryStat, NodeInfo, TypedParam, VcpuInfo,
};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{validate_name, DomainDef, DomainXmlOptions};
use crate::persist::{DirLock, LockError};
use async_trait::async_trait;
use command::{HostFacts, RuntimePaths};
use qmp::{MonitorEvent, QmpClient, QmpError};
use save::Boot;
use serde_json::json;
use status::{Files, ProcessInfo, RunStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, OnceCell};
use uuid::Uuid;

const EVENT_BACKLOG: usize = 1024;
/// How long a new QEMU may take to open its QMP socket.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `destroy` waits after `quit` before signals.
const QUIT_GRACE: Duration = Duration::from_secs(3);
/// Between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// Which daemon URI a driver serves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum QemuMode {
    System,
    Session,
}

/// A running guest's process and monitor.
struct Run {
    pid: i32,
    qmp_socket: PathBuf,
    started_ms: u64,
    qmp: Option<Arc<QmpClient>>,
    /// The shut-off reason to record when QEMU goes away (set by destroy / a guest shutdown); crashed if unset.
    expected_stop: Option<i32>,
    /// A reboot asked for through the ACPI power button: QEMU pauses when the guest powers off (`set-action`
    /// shutdown=pause) and the driver resets and resumes it, as libvirt's "fake reboot" does.
    fake_reboot: bool,
    /// The guest powered off for that reboot and QEMU paused; the driver is resetting it. As for libvirt, the
    /// domain stays running meanwhile and QEMU's STOP is no pause.
    rebooting: bool,
    /// Tells apart successive runs of one domain, so a late notice about an old run changes nothing.
    generation: u64,
    /// libvirt's taint names this run has been marked with (each logged once).
    taints: Vec<&'static str>,
}

struct DomainObj {
    persistent: Option<DomainDef>,
    live: Option<DomainDef>,
    state: DomainState,
    reason: i32,
    id: i32,
    autostart: bool,
    run: Option<Run>,
}

impl DomainObj {
    fn def(&self) -> &DomainDef {
        self.live
            .as_ref()
            .or(self.persistent.as_ref())
            .expect("a domain object always holds a definition")
    }
    fn name(&self) -> &str {
        &self.def().name
    }
    fn handle(&self) -> DomainRef {
        let def = self.def();
        DomainRef {
            name: def.name.clone(),
            uuid: def.uuid,
            id: if self.state.is_active() { self.id } else { -1 },
        }
    }
    fn status(&self) -> Option<RunStatus> {
        let run = self.run.as_ref()?;
        let status = RunStatus::new(
            self.live.as_ref()?,
            self.id,
            (self.state, self.reason),
            &ProcessInfo {
                pid: run.pid,
                qmp_socket: &run.qmp_socket,
                started_ms: run.started_ms,
            },
            self.persistent.is_some(),
        );
        Some(monitor::with_taints(status, &run.taints))
    }
}

struct Shared {
    files: Files,
    mode: QemuMode,
    domains: Mutex<BTreeMap<Uuid, DomainObj>>,
    next_id: Mutex<i32>,
    generation: Mutex<u64>,
    events: broadcast::Sender<DomainEvent>,
    emulator: Option<PathBuf>,
    version: u64,
    kvm: OnceCell<bool>,
    command_timeout: Duration,
    /// Serialises lifecycle changes (they await QEMU); reads never take it.
    lifecycle: tokio::sync::Mutex<()>,
    hostname: String,
    load_warnings: Vec<String>,
    /// Where the driver was opened: its monitors, reapers and QEMU children live on this runtime.
    runtime: tokio::runtime::Handle,
    /// The host's object drivers this driver's connections share.
    host: HostDrivers,
    /// Device removals QEMU has been asked for and not yet confirmed.
    unplugs: Mutex<Vec<hotplug::Unplug>>,
    /// Held while a run's end is recorded and its host resources (taps, filters) removed, so a second caller
    /// (the monitor's end and a destroy race) returns only once that is done; a confirmed NIC removal takes it
    /// too, so a tap is deleted by exactly one of them.
    stopping: Mutex<()>,
    /// Migrations in and out, and what they measured.
    migration: migration::Jobs,
    /// Guest agent connections and response timeouts.
    agents: agent::Agents,
    _lock: DirLock,
}

/// The QEMU driver. Dropping it leaves running guests running.
pub struct QemuDriver {
    shared: Arc<Shared>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn no_domain() -> Error {
    Error::with_detail(
        ErrorCode::NO_DOMAIN,
        ErrorDomain::QEMU,
        "no domain with matching name or uuid",
    )
}

/// A domain's summary: its definition copied, not formatted and parsed again. No version: QEMU guests change by
/// themselves (events, the monitor), so nothing may be reused.
fn summary_of(obj: &DomainObj) -> DomainSummary {
    DomainSummary {
        dom: obj.handle(),
        state: obj.state,
        reason: obj.reason,
        def: Arc::new(obj.def().clone()),
        version: None,
        autostart: Some(obj.autostart),
    }
}

fn not_running(name: &str) -> Error {
    Error::operation_invalid(ErrorDomain::QEMU, format!("domain '{name}' is not running"))
}

fn qmp_error(err: QmpError) -> Error {
    match err {
        QmpError::Timeout(command) => Error::with_detail(
            ErrorCode::OPERATION_TIMEOUT,
            ErrorDomain::QEMU,
            format!("QEMU did not answer '{command}' in time"),
        ),
        QmpError::Command { class, desc, .. } if class == "DeviceNotActive" => {
            Error::with_detail(ErrorCode::OPERATION_UNSUPPORTED, ErrorDomain::QEMU, desc)
        }
        other => Error::with_detail(
            ErrorCode::OPERATION_FAILED,
            ErrorDomain::QEMU,
            other.to_string(),
        ),
    }
}

/// virDomainRebootFlagValues: VIR_DOMAIN_REBOOT_ACPI_POWER_BTN, the one way without a guest agent.
const REBOOT_ACPI_POWER_BTN: u32 = 1;

/// What QEMU does when the guest powers off: `poweroff` (exit) or `pause` (a reboot the driver completes).
async fn set_shutdown_action(qmp: &QmpClient, action: &str) -> Result<()> {
    qmp.execute("set-action", Some(json!({ "shutdown": action })))
        .await
        .map_err(qmp_error)?;
    Ok(())
}

fn check_flags(given: u32, allowed: u32, api: &str) -> Result<()> {
    if given & !allowed != 0 {
        return Err(Error::invalid_arg(
            ErrorDomain::QEMU,
            format!(
                "unsupported flags (0x{:x}) in function {api}",
                given & !allowed
            ),
        ));
    }
    Ok(())
}

fn stopped_detail(shutoff_reason: i32) -> i32 {
    match shutoff_reason {
        reason::SHUTOFF_SHUTDOWN => event::STOPPED_SHUTDOWN,
        reason::SHUTOFF_DESTROYED => event::STOPPED_DESTROYED,
        reason::SHUTOFF_FAILED => event::STOPPED_FAILED,
        reason::SHUTOFF_SAVED => event::STOPPED_SAVED,
        crate::driver::migration::detail::SHUTOFF_MIGRATED => {
            crate::driver::migration::detail::STOPPED_MIGRATED
        }
        _ => event::STOPPED_CRASHED,
    }
}

/// QMP's run states mapped to libvirt's (state, reason).
fn state_from_qmp(status: &str) -> (DomainState, i32) {
    match status {
        "running" => (DomainState::Running, reason::RUNNING_UNKNOWN),
        "shutdown" => (DomainState::Shutdown, reason::SHUTDOWN_UNKNOWN),
        "guest-panicked" => (DomainState::Crashed, reason::CRASHED_PANICKED),
        "io-error" => (DomainState::Paused, reason::PAUSED_IOERROR),
        "paused" => (DomainState::Paused, reason::PAUSED_USER),
        "prelaunch" => (DomainState::Paused, reason::PAUSED_STARTING_UP),
        "suspended" => (DomainState::PmSuspended, 0),
        _ => (DomainState::Paused, reason::PAUSED_UNKNOWN),
    }
}

impl QemuDriver {
    /// A `qemu:///` connection: this hypervisor driver plus the host's shared object drivers ([`HostDrivers`]),
    /// with calls run on the runtime that owns the guests' monitors.
    pub fn connection(self: Arc<Self>) -> Connection {
        let builder = Connection::builder()
            .home_runtime(Some(self.shared.runtime.clone()))
            .definitions_in_memory()
            .hypervisor(self.clone());
        self.shared.host.plug(builder).build()
    }

    /// The host's object drivers this driver's connections share.
    pub fn host(&self) -> &HostDrivers {
        &self.shared.host
    }

    /// Opens the driver on `state_dir/qemu/` (locking it), finds running guests again and starts autostart ones.
    pub async fn open(state_dir: &Path, mode: QemuMode) -> Result<Arc<Self>> {
        Self::open_with_timeout(state_dir, mode, qmp::DEFAULT_COMMAND_TIMEOUT).await
    }

    /// [`QemuDriver::open`] with another QMP command timeout: a QEMU that does not answer within it is declared
    /// hung, ended, and its domain shut off as crashed.
    pub async fn open_with_timeout(
        state_dir: &Path,
        mode: QemuMode,
        command_timeout: Duration,
    ) -> Result<Arc<Self>> {
        // System and session are two worlds, as in libvirt; each driver owns (and locks) its own directory.
        let root = match mode {
            QemuMode::System => state_dir.join("qemu"),
            QemuMode::Session => state_dir.join("qemu").join("session"),
        };
        let files = Files { root };
        files.prepare()?;
        let lock = DirLock::acquire(&files.root).map_err(|err| match &err {
            LockError::Busy { .. } => Error::with_detail(
                ErrorCode::OPERATION_FAILED,
                ErrorDomain::QEMU,
                err.to_string(),
            ),
            LockError::Io { source, .. } => {
                Error::system(ErrorDomain::QEMU, err.to_string(), source)
            }
        })?;
        let emulator = process::find_binary(process::DEFAULT_EMULATOR);
        let version = match &emulator {
            Some(path) => process::emulator_version(path).await.unwrap_or(0),
            None => 0,
        };
        let mut warnings = Vec::new();
        let mut domains = BTreeMap::new();
        for def in files.load_definitions(&mut warnings) {
            let autostart = files.autostart(&def.name);
            domains.insert(
                def.uuid,
                DomainObj {
                    persistent: Some(def),
                    live: None,
                    state: DomainState::Shutoff,
                    reason: reason::SHUTOFF_UNKNOWN,
                    id: -1,
                    autostart,
                    run: None,
                },
            );
        }
        let statuses = files.load_statuses(&mut warnings);
        // The host's drivers come up first: autostarted networks before the guests that use them.
        let host_mode = match mode {
            QemuMode::System => HostMode::System,
            QemuMode::Session => HostMode::Session,
        };
        let host = HostDrivers::open(&files.root, host_mode).await?;
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        let driver = Arc::new(Self {
            shared: Arc::new(Shared {
                files,
                mode,
                domains: Mutex::new(domains),
                next_id: Mutex::new(1),
                generation: Mutex::new(0),
                events,
                emulator,
                version,
                kvm: OnceCell::new(),
                unplugs: Mutex::new(Vec::new()),
                stopping: Mutex::new(()),
                command_timeout,
                lifecycle: tokio::sync::Mutex::new(()),
                hostname,
                load_warnings: warnings,
                runtime: tokio::runtime::Handle::current(),
                host,
                migration: migration::Jobs::default(),
                agents: agent::Agents::default(),
                _lock: lock,
            }),
        });
        for (name, status) in statuses {
            driver.reconnect(&name, status).await;
        }
        driver.autostart_all().await;
        Ok(driver)
    }

    /// The state files skipped at open, one line each.
    pub fn load_warnings(&self) -> &[String] {
        &self.shared.load_warnings
    }

    /// QMP `query-status` of a running domain ("running", "paused", ...), straight from QEMU.
    pub async fn qmp_status(&self, dom: &DomainRef) -> Result<String> {
        let qmp = self.monitor(dom)?;
        let value = qmp.execute("query-status", None).await.map_err(qmp_error)?;
        Ok(value["status"].as_str().unwrap_or_default().to_string())
    }

    /// Runs one QMP command on a running domain's monitor and returns its `return` value (what libvirt's
    /// `qemu-monitor-command` offers; for diagnostics and tests).
    pub async fn qmp_execute(
        &self,
        dom: &DomainRef,
        command: &str,
        arguments: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let qmp = self.monitor(dom)?;
        qmp.execute(command, arguments).await.map_err(qmp_error)
    }

    /// The pid of a running domain's QEMU.
    pub fn pid(&self, dom: &DomainRef) -> Result<i32> {
        let domains = self.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        obj.run
            .as_ref()
            .map(|r| r.pid)
            .ok_or_else(|| not_running(obj.name()))
    }

    fn domains(&self) -> MutexGuard<'_, BTreeMap<Uuid, DomainObj>> {
        self.shared.domains()
    }

    fn monitor(&self, dom: &DomainRef) -> Result<Arc<QmpClient>> {
        let domains = self.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        let run = obj.run.as_ref().ok_or_else(|| not_running(obj.name()))?;
        run.qmp.clone().ok_or_else(|| {
            Error::with_detail(
                ErrorCode::OPERATION_FAILED,
                ErrorDomain::QEMU,
                format!("no QMP connection to domain '{}'", obj.name()),
            )
        })
    }

    /// Takes over a guest recorded in a status file: reconnects its monitor, or records it shut off if it is gone.
    async fn reconnect(&self, name: &str, status: RunStatus) {
        let shared = &self.shared;
        let live = match DomainDef::from_xml(&status.live_xml, false) {
            Ok(def) if def.name == name && def.uuid == status.uuid => def,
            _ => {
                tracing::warn!(
                    domain = name,
                    "status file holds an unusable definition; removed"
                );
                let _ = shared.files.remove_status(name);
                return;
            }
        };
        let marker = status.uuid.to_string();
        let alive = process::is_our_process(status.pid, &marker);
        let connected = if alive {
            match QmpClient::connect(&status.qmp_socket, shared.command_timeout).await {
                Ok((client, events)) => Some((client, events)),
                Err(err) => {
                    tracing::warn!(
                        domain = name,
                        pid = status.pid,
                        "cannot reconnect to QMP: {err}"
                    );
                    None
                }
            }
        } else {
            None
        };
        {
            let mut next = shared.next_id.lock().unwrap_or_else(|p| p.into_inner());
            *next = (*next).max(status.id.saturating_add(1));
        }
        let Some((client, events)) = connected else {
            if alive {
                // A guest we cannot talk to is left alone (never killed), recorded as running without a monitor.
                self.adopt(name, live, &status, None, None);
                return;
            }
            tracing::info!(
                domain = name,
                pid = status.pid,
                "guest is gone since the last run"
            );
            let _ = shared.files.remove_status(name);
            shared.host.unbind_guest_filters(&bridged_taps(&live));
            delete_taps(&bridged_taps(&live));
            let mut domains = shared.domains();
            if let Some(obj) = domains.get_mut(&status.uuid) {
                obj.state = DomainState::Shutoff;
                obj.reason = reason::SHUTOFF_UNKNOWN;
            }
            return;
        };
        let client = Arc::new(client);
        let state = match client.execute("query-status", None).await {
            Ok(value) => state_from_qmp(value["status"].as_str().unwrap_or_default()),
            Err(_) => (
                DomainState::from_i32(status.state).unwrap_or(DomainState::Running),
                status.reason,
            ),
        };
        // Keep the recorded reason when the state agrees with it.
        let state = match DomainState::from_i32(status.state) {
            Some(recorded) if recorded == state.0 => (recorded, status.reason),
            _ => state,
        };
        self.adopt(name, live, &status, Some(client), Some((events, state)));
        tracing::info!(
            domain = name,
            pid = status.pid,
            "reconnected to running guest"
        );
    }

    fn adopt(
        &self,
        name: &str,
        live: DomainDef,
        status: &RunStatus,
        client: Option<Arc<QmpClient>>,
        monitor: Option<(mpsc::Receiver<MonitorEvent>, (DomainState, i32))>,
    ) {
        let shared = &self.shared;
        let generation = shared.next_generation();
        let (state, state_reason) = monitor.as_ref().map(|(_, s)| *s).unwrap_or((
            DomainState::from_i32(status.state).unwrap_or(DomainState::Running),
            status.reason,
        ));
        {
            let mut domains = shared.domains();
            let obj = domains.entry(status.uuid).or_insert_with(|| DomainObj {
                persistent: None,
                live: None,
                state: DomainState::Shutoff,
                reason: 0,
                id: -1,
                autostart: false,
                run: None,
            });
            if !status.persistent && obj.persistent.is_some() {
                tracing::warn!(
                    domain = name,
                    "status says transient but a definition exists"
                );
            }
            obj.live = Some(live);
            obj.state = state;
            obj.reason = state_reason;
            obj.id = status.id;
            obj.run = Some(Run {
                pid: status.pid,
                qmp_socket: status.qmp_socket.clone(),
                started_ms: status.started_ms,
                qmp: client,
                expected_stop: None,
                taints: monitor::known_taints(&status.taints),
                fake_reboot: false,
                rebooting: false,
                generation,
            });
            shared.save_status_locked(obj);
        }
        match monitor {
            Some((events, _)) => spawn_monitor(
                Arc::downgrade(shared),
                status.uuid,
                generation,
                status.pid,
                events,
            ),
            None => spawn_pid_watch(Arc::downgrade(shared), status.uuid, generation, status.pid),
        }
    }

    async fn autostart_all(&self) {
        let due: Vec<DomainRef> = self
            .domains()
            .values()
            .filter(|d| d.autostart && d.persistent.is_some() && !d.state.is_active())
            .map(DomainObj::handle)
            .collect();
        for dom in due {
            if let Err(err) = self.domain_create(&dom, 0).await {
                tracing::warn!(domain = %dom.name, "autostart failed: {err}");
            }
        }
    }

    async fn host_facts(&self, def: &DomainDef) -> HostFacts {
        let kvm = if def.domain_type == "kvm" {
            match &self.shared.emulator {
                Some(emulator) => {
                    *self
                        .shared
                        .kvm
                        .get_or_init(|| process::probe_kvm(emulator))
                        .await
                }
                None => false,
            }
        } else {
            false
        };
        let needs_port = graphics::needs_port(def);
        let spice = match &self.shared.emulator {
            Some(emulator)
                if def
                    .devices
                    .graphics
                    .iter()
                    .any(|g| g.graphics_type == "spice") =>
            {
                capabilities::has_command(emulator, "query-spice").await
            }
            _ => false,
        };
        HostFacts {
            spice,
            kvm,
            bridges: process::host_bridges(),
            vnc_port: if needs_port {
                process::free_vnc_port()
            } else {
                None
            },
            vhost_net: tap::vhost_net_usable(),
        }
    }

    /// Spawns QEMU for `def` and brings it to running (or paused), booting or loading a saved image as `boot`
    /// says; the caller holds the lifecycle lock.
    async fn start(&self, def: DomainDef, persistent: bool, boot: Boot) -> Result<DomainRef> {
        let shared = &self.shared;
        let emulator = match def.devices.emulator.as_deref() {
            Some(name) => process::find_binary(name),
            None => shared.emulator.clone(),
        }
        .ok_or_else(|| {
            Error::with_detail(
                ErrorCode::OPERATION_FAILED,
                ErrorDomain::QEMU,
                format!(
                    "cannot find the emulator '{}'; install qemu-system-x86",
                    def.devices
                        .emulator
                        .as_deref()
                        .unwrap_or(process::DEFAULT_EMULATOR)
                ),
            )
        })?;
        let run_dir = shared.files.run_dir();
        let paths = RuntimePaths {
            qmp_socket: run_dir.join(format!("{}.qmp", def.uuid)),
            pid_file: run_dir.join(format!("{}.pid", def.uuid)),
        };
        if paths.qmp_socket.as_os_str().len() > 100 {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_FAILED,
                ErrorDomain::QEMU,
                format!(
                    "QMP socket path {} is too long for a unix socket",
                    paths.qmp_socket.display()
                ),
            ));
        }
        shared.host.check_guest_secrets(&def)?;
        let mut def = def;
        // The firmware (UEFI variable store) and channel sockets get their paths; PCI devices added since define
        // get a free slot, so nothing QEMU places itself can take a slot the definition names.
        firmware::resolve(
            &mut def,
            &shared.files.root.join("nvram"),
            Path::new(firmware::DESCRIPTOR_DIR),
        )?;
        defaults::assign_pci(&mut def);
        devices::prepare_channels(&mut def, &run_dir)?;
        firmware::create_nvram(&def)?;
        self.join_networks(&mut def).await?;
        alias::assign(&mut def);
        name_taps(&mut def);
        let facts = self.host_facts(&def).await;
        // Built once to refuse what cannot start before any tap exists, again with the names the taps got.
        command::build_argv(&def, &paths, &facts)?;
        create_taps(&mut def).await?;
        let mut argv = match command::build_argv(&def, &paths, &facts) {
            Ok(argv) => argv,
            Err(err) => {
                delete_taps(&bridged_taps(&def));
                return Err(err);
            }
        };
        if matches!(boot, Boot::Restore(_) | Boot::Migration(_)) {
            // The saved state comes in over QMP (`migrate-incoming`) once the monitor is up.
            argv.extend(["-incoming".to_string(), "defer".to_string()]);
        }
        let taps = bridged_taps(&def);
        let uuid = def.uuid;
        if let Err(err) = shared.host.bind_guest_filters(&def) {
            delete_taps(&taps);
            return Err(err);
        }
        let launched = self
            .launch(def, &emulator, (&paths, &argv, &facts), persistent, boot)
            .await;
        if launched.is_err() {
            // A failed start leaves no tap (or filter binding) behind; a recorded run has removed its own already.
            shared.host.unbind_guest_filters(&taps);
            delete_taps(&taps);
            devices::remove_channels(&run_dir, &uuid);
        }
        launched
    }

    /// Gives each `type='network'` interface of a definition about to start the bridge of its network, which
    /// must exist and be active (libvirt's errors otherwise). Without a network driver (a session) the bridge
    /// libvirt would give the network is assumed, as before networks were served.
    async fn join_networks(&self, def: &mut DomainDef) -> Result<()> {
        for iface in &mut def.devices.interfaces {
            self.join_network(iface).await?;
        }
        Ok(())
    }

    /// [`QemuDriver::join_networks`] for one interface (also a NIC attached to a running guest).
    async fn join_network(&self, iface: &mut crate::model::InterfaceDef) -> Result<()> {
        let networks = &self.shared.host.network;
        if iface.iface_type != "network" {
            return Ok(());
        }
        let Some(name) = iface.source.clone() else {
            return Ok(());
        };
        let net = match networks.network_lookup_by_name(&name).await {
            Ok(net) => net,
            Err(err) if err.code == ErrorCode::NO_SUPPORT => return Ok(()),
            Err(err) => return Err(err),
        };
        if !networks.network_is_active(&net).await? {
            return Err(Error::operation_invalid(
                ErrorDomain::NETWORK,
                format!("network '{name}' is not active."),
            ));
        }
        iface.source_bridge = Some(networks.network_get_bridge_name(&net).await?);
        Ok(())
    }

    /// Spawns QEMU with `argv` for `def` (taps ready) and brings it to running (or paused).
    async fn launch(
        &self,
        def: DomainDef,
        emulator: &Path,
        (paths, argv, facts): (&RuntimePaths, &[String], &HostFacts),
        persistent: bool,
        boot: Boot,
    ) -> Result<DomainRef> {
        let shared = &self.shared;
        let mut def = def;
        // The live definition shows the port autoport picked and the listen address, as libvirt's does.
        graphics::fill_live(&mut def, facts.vnc_port);
        devices::create_channel_dir(&shared.files.run_dir(), &def)?;
        let _ = std::fs::remove_file(&paths.qmp_socket);
        let _ = std::fs::remove_file(&paths.pid_file);
        let log = shared.files.log_dir().join(format!("{}.log", def.name));
        let quoted: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
        let header = format!(
            "{} starting: {} {}\n",
            now_ms(),
            emulator.display(),
            quoted.join(" ")
        );
        append_log(&log, &header);
        let mut child = process::spawn(emulator, argv, &log).map_err(|e| {
            Error::system(
                ErrorDomain::QEMU,
                format!("cannot run {}", emulator.display()),
                &e,
            )
        })?;
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| Error::internal(ErrorDomain::QEMU, "QEMU exited before it had a pid"))?;
        let id = {
            let mut next = shared.next_id.lock().unwrap_or_else(|p| p.into_inner());
            let id = *next;
            *next = id.saturating_add(1);
            id
        };
        let started_ms = now_ms();
        let marker = def.uuid.to_string();
        // Recorded before anything else, so a daemon that dies now still finds this QEMU.
        let early = RunStatus::new(
            &def,
            id,
            (DomainState::Paused, reason::PAUSED_STARTING_UP),
            &ProcessInfo {
                pid,
                qmp_socket: &paths.qmp_socket,
                started_ms,
            },
            persistent,
        );
        if let Err(err) = shared.files.save_status(&def.name, &early) {
            process::terminate(pid, &marker, TERM_GRACE).await;
            let _ = child.wait().await;
            return Err(err);
        }
        let connected = connect_new(&mut child, &paths.qmp_socket, shared.command_timeout).await;
        let (client, events) = match connected {
            Ok(pair) => pair,
            Err(why) => {
                process::terminate(pid, &marker, TERM_GRACE).await;
                let _ = child.wait().await;
                let _ = shared.files.remove_status(&def.name);
                let tail = process::log_tail(&log, 2000);
                return Err(Error::with_detail(
                    ErrorCode::OPERATION_FAILED,
                    ErrorDomain::QEMU,
                    format!(
                        "QEMU for domain '{}' did not start: {why}: {tail}",
                        def.name
                    ),
                ));
            }
        };
        tracing::debug!(domain = %def.name, pid, qemu = client.version(), "QMP connected");
        console::record_ptys(&client, &mut def).await;
        // Passwords go to QEMU through its monitor only, before the guest runs.
        if let Err(err) = graphics::init_passwords(&client, &def).await {
            process::terminate(pid, &marker, TERM_GRACE).await;
            let _ = child.wait().await;
            let _ = shared.files.remove_status(&def.name);
            return Err(err);
        }
        // The balloon's statistics period, which QEMU only takes through its monitor.
        if let Err(err) = balloon::init_polling(&client, &def).await {
            tracing::warn!(domain = %def.name, error = %err, "balloon statistics period not set");
        }
        if let Boot::Restore(incoming) = &boot {
            if let Err(err) = save::receive(&client, incoming).await {
                drop(client);
                process::terminate(pid, &marker, TERM_GRACE).await;
                let _ = child.wait().await;
                let _ = shared.files.remove_status(&def.name);
                let _ = std::fs::remove_file(&paths.qmp_socket);
                let _ = std::fs::remove_file(&paths.pid_file);
                // QEMU says on stderr why it refused the stream (it exits when loading fails).
                let tail = process::log_tail(&log, 400);
                let tail = tail
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                return Err(Error::new(
                    err.code,
                    err.domain,
                    format!("{}; QEMU: {}", err.message, tail.trim()),
                ));
            }
        }
        if let Boot::Migration(uri) = &boot {
            if let Err(err) = migration::listen(&client, uri).await {
                drop(client);
                process::terminate(pid, &marker, TERM_GRACE).await;
                let _ = child.wait().await;
                let _ = shared.files.remove_status(&def.name);
                return Err(err);
            }
        }
        let paused = match &boot {
            Boot::Fresh { paused } => *paused,
            Boot::Restore(incoming) => !incoming.running,
            Boot::Migration(_) => true,
        };
        let client = Arc::new(client);
        let generation = shared.next_generation();
        let uuid = def.uuid;
        let handle = {
            let mut domains = shared.domains();
            let obj = domains.entry(uuid).or_insert_with(|| DomainObj {
                persistent: None,
                live: None,
                state: DomainState::Shutoff,
                reason: 0,
                id: -1,
                autostart: false,
                run: None,
            });
            obj.live = Some(def);
            obj.id = id;
            // Set before `cont`, so the RESUME event it causes is not taken for an unpause.
            // A restored guest left paused keeps the reason of its incoming migration, as libvirt's does.
            (obj.state, obj.reason) = match (&boot, paused) {
                (Boot::Fresh { .. }, true) => (DomainState::Paused, reason::PAUSED_USER),
                (Boot::Restore(_), true) => (DomainState::Paused, reason::PAUSED_MIGRATION),
                (Boot::Fresh { .. }, false) => (DomainState::Running, reason::RUNNING_BOOTED),
                (Boot::Restore(_), false) => (DomainState::Running, reason::RUNNING_RESTORED),
                (Boot::Migration(_), _) => (DomainState::Paused, reason::PAUSED_MIGRATION),
            };
            obj.run = Some(Run {
                pid,
                qmp_socket: paths.qmp_socket.clone(),
                started_ms,
                qmp: Some(Arc::clone(&client)),
                expected_stop: None,
                taints: Vec::new(),
                fake_reboot: false,
                rebooting: false,
                generation,
            });
            shared.save_status_locked(obj);
            obj.handle()
        };
        spawn_monitor(Arc::downgrade(shared), uuid, generation, pid, events);
        spawn_reaper(Arc::downgrade(shared), uuid, generation, child);
        let (started, suspended) = match &boot {
            Boot::Fresh { .. } => (event::STARTED_BOOTED, event::SUSPENDED_PAUSED),
            Boot::Restore(incoming) => (event::STARTED_RESTORED, incoming.suspended_detail),
            Boot::Migration(_) => (crate::driver::migration::detail::STARTED_MIGRATED, -1),
        };
        shared.emit(&handle, event::STARTED, started);
        if matches!(boot, Boot::Migration(_)) {
            // Paused until Finish resumes it; libvirt tells of no suspension here.
        } else if paused {
            shared.emit(&handle, event::SUSPENDED, suspended);
        } else if let Err(err) = client.execute("cont", None).await {
            self.kill_run(uuid, generation, reason::SHUTOFF_FAILED)
                .await;
            return Err(qmp_error(err));
        }
        Ok(handle)
    }

    /// Ends a run: `quit`, then SIGTERM and SIGKILL; records it shut off with `shutoff_reason`.
    async fn kill_run(&self, uuid: Uuid, generation: u64, shutoff_reason: i32) {
        let shared = &self.shared;
        let (pid, qmp) = {
            let mut domains = shared.domains();
            let Some(run) = domains
                .get_mut(&uuid)
                .and_then(|o| o.run.as_mut())
                .filter(|r| r.generation == generation)
            else {
                return;
            };
            run.expected_stop = Some(shutoff_reason);
            (run.pid, run.qmp.clone())
        };
        let marker = uuid.to_string();
        if let Some(qmp) = qmp {
            let _ = tokio::time::timeout(QUIT_GRACE, qmp.execute("quit", None)).await;
        }
        if !process::wait_gone(pid, &marker, QUIT_GRACE).await {
            process::terminate(pid, &marker, TERM_GRACE).await;
        }
        shared.finish_stop(uuid, generation, None);
    }

    fn find(&self, dom: &DomainRef) -> Result<(DomainRef, bool, Option<u64>)> {
        let domains = self.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        Ok((
            obj.handle(),
            obj.persistent.is_some(),
            obj.run.as_ref().map(|r| r.generation),
        ))
    }

    /// The running definition of a domain.
    fn live_def_of(&self, dom: &DomainRef) -> Result<DomainDef> {
        let domains = self.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        Ok(obj.def().clone())
    }

    fn running_generation(&self, dom: &DomainRef) -> Result<(DomainRef, u64)> {
        let (handle, _, generation) = self.find(dom)?;
        generation
            .map(|g| (handle.clone(), g))
            .ok_or_else(|| not_running(&handle.name))
    }

    /// Marks (or clears) a pending ACPI reboot of a running domain; returns what was set before.
    fn set_fake_reboot(&self, dom: &DomainRef, value: bool) -> Result<bool> {
        let mut domains = self.domains();
        let obj = domains.get_mut(&dom.uuid).ok_or_else(no_domain)?;
        let name = obj.name().to_string();
        let run = obj.run.as_mut().ok_or_else(|| not_running(&name))?;
        Ok(std::mem::replace(&mut run.fake_reboot, value))
    }

    fn check_definable(&self, def: &DomainDef) -> Result<()> {
        validate_name("domain", &def.name)?;
        // A dry run of the command line refuses what could never start; bridges and ports are checked at start.
        let facts = HostFacts {
            kvm: true,
            bridges: def
                .devices
                .interfaces
                .iter()
                .filter_map(|i| i.source.clone())
                .chain(["virbr0".to_string()])
                .collect(),
            vnc_port: Some(command::VNC_BASE_PORT),
            vhost_net: false,
            // Checked against the emulator in `post_parse`.
            spice: true,
        };
        let paths = RuntimePaths {
            qmp_socket: PathBuf::from("/qmp"),
            pid_file: PathBuf::from("/pid"),
        };
        let mut def = def.clone();
        firmware::resolve(
            &mut def,
            &self.shared.files.root.join("nvram"),
            Path::new(firmware::DESCRIPTOR_DIR),
        )?;
        devices::prepare_channels(&mut def, &self.shared.files.run_dir())?;
        for iface in &mut def.devices.interfaces {
            if let Some(name) = iface.target_dev.as_deref() {
                if command::bridge_name(iface).is_some() && !tap::valid_name(name) {
                    return Err(Error::with_detail(
                        ErrorCode::CONFIG_UNSUPPORTED,
                        ErrorDomain::QEMU,
                        format!("interface target '{name}' is not a valid network interface name"),
                    ));
                }
            }
            iface.target_dev.get_or_insert_with(|| "tap".into());
        }
        command::build_argv(&def, &paths, &facts).map(|_| ())
    }

    /// Refuses a definition whose name or UUID belongs to another domain.
    fn clash(&self, def: &DomainDef) -> Result<()> {
        let domains = self.domains();
        if let Some(existing) = domains.get(&def.uuid) {
            if existing.name() != def.name {
                return Err(Error::with_detail(
                    ErrorCode::OPERATION_FAILED,
                    ErrorDomain::QEMU,
                    format!(
                        "domain '{}' is already defined with uuid {}",
                        existing.name(),
                        def.uuid
                    ),
                ));
            }
        } else if let Some(existing) = domains.values().find(|d| d.name() == def.name) {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_FAILED,
                ErrorDomain::QEMU,
                format!(
                    "domain '{}' already exists with uuid {}",
                    def.name,
                    existing.def().uuid
                ),
            ));
        }
        Ok(())
    }
}

/// Gives every bridged interface of a definition about to start its tap name: the `<target dev>` it names, or
/// the first free `vnetN` (names with that prefix are always chosen afresh, as libvirt does).
fn name_taps(def: &mut DomainDef) {
    let mut reserved: Vec<String> = Vec::new();
    for iface in &mut def.devices.interfaces {
        if command::bridge_name(iface).is_none() {
            continue;
        }
        let chosen = iface
            .target_dev
            .take()
            .filter(|name| !name.starts_with(tap::AUTO_PREFIX))
            .unwrap_or_else(|| tap::free_name(&reserved));
        reserved.push(chosen.clone());
        iface.target_dev = Some(chosen);
    }
}

/// The tap devices a live definition's bridged interfaces use.
fn bridged_taps(def: &DomainDef) -> Vec<String> {
    def.devices
        .interfaces
        .iter()
        .filter(|iface| command::bridge_name(iface).is_some())
        .filter_map(|iface| iface.target_dev.clone())
        .collect()
}

/// Creates the taps `name_taps` chose, each on its bridge. An automatic name someone else took meanwhile (another
/// driver, a libvirtd) is replaced by the next free one. On a failure the taps made are deleted again.
async fn create_taps(def: &mut DomainDef) -> Result<()> {
    let mut made: Vec<String> = Vec::new();
    for iface in &mut def.devices.interfaces {
        let (Some(bridge), Some(mut name)) = (
            command::bridge_name(iface).map(str::to_string),
            iface.target_dev.clone(),
        ) else {
            continue;
        };
        let mut attempts = 0;
        let created = loop {
            match tap::create(&name, &iface.mac, &bridge).await {
                Err(_)
                    if name.starts_with(tap::AUTO_PREFIX) && attempts < 8 && tap::exists(&name) =>
                {
                    attempts += 1;
                    let mut reserved = made.clone();
                    reserved.push(name.clone());
                    name = tap::free_name(&reserved);
                }
                other => break other,
            }
        };
        if let Err(err) = created {
            delete_taps(&made);
            return Err(err);
        }
        iface.target_dev = Some(name.clone());
        made.push(name);
    }
    Ok(())
}

fn delete_taps(taps: &[String]) {
    for name in taps {
        tap::delete(name);
    }
}

fn append_log(log: &Path, text: &str) {
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = file.write_all(text.as_bytes());
    }
}

/// Waits for a new QEMU's QMP socket and negotiates; fails early if QEMU exits.
async fn connect_new(
    child: &mut tokio::process::Child,
    socket: &Path,
    command_timeout: Duration,
) -> std::result::Result<(QmpClient, mpsc::Receiver<MonitorEvent>), String> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("QEMU exited ({status})"));
        }
        if socket.exists() {
            match QmpClient::connect(socket, command_timeout).await {
                Ok(pair) => return Ok(pair),
                Err(err) if tokio::time::Instant::now() >= deadline => return Err(err.to_string()),
                Err(_) => {}
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err("the QMP socket did not appear in time".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Shared {
    fn domains(&self) -> MutexGuard<'_, BTreeMap<Uuid, DomainObj>> {
        // Changes are applied field by field under the lock without awaiting; a panic cannot leave a torn record
        // that matters more than losing the daemon, so the poison is cleared.
        self.domains.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_generation(&self) -> u64 {
        let mut generation = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        *generation += 1;
        *generation
    }

    fn emit(&self, handle: &DomainRef, kind: i32, detail: i32) {
        // No subscriber is not an error.
        let _ = self.events.send(DomainEvent {
            domain: handle.clone(),
            event: kind,
            detail,
            metadata: None,
            device_removed: None,
        });
    }

    /// Saves a running domain's status file; a failure is logged (the guest runs regardless).
    fn save_status_locked(&self, obj: &DomainObj) {
        if let Some(status) = obj.status() {
            if let Err(err) = self.files.save_status(obj.name(), &status) {
                tracing::error!(domain = obj.name(), "cannot save status: {err}");
            }
        }
    }

    /// Records that run `generation` of `uuid` ended (once; later calls wait for the first to finish, then do
    /// nothing) and emits STOPPED.
    fn finish_stop(&self, uuid: Uuid, generation: u64, fallback_reason: Option<i32>) {
        let _stopping = self.stopping.lock().unwrap_or_else(|p| p.into_inner());
        let mut domains = self.domains();
        let Some(obj) = domains.get_mut(&uuid) else {
            return;
        };
        let Some(run) = obj.run.take_if(|r| r.generation == generation) else {
            return;
        };
        let shutoff_reason = run
            .expected_stop
            .or(fallback_reason)
            .unwrap_or(reason::SHUTOFF_CRASHED);
        let handle = obj.handle();
        let name = obj.name().to_string();
        if let Err(err) = self.files.remove_status(&name) {
            tracing::error!(domain = %name, "cannot remove status: {err}");
        }
        let _ = std::fs::remove_file(&run.qmp_socket);
        let _ = std::fs::remove_file(self.files.run_dir().join(format!("{uuid}.pid")));
        devices::remove_channels(&self.files.run_dir(), &uuid);
        let taps = obj.live.as_ref().map(bridged_taps).unwrap_or_default();
        obj.state = DomainState::Shutoff;
        obj.reason = shutoff_reason;
        obj.id = -1;
        obj.live = None;
        if obj.persistent.is_none() {
            domains.remove(&uuid);
        }
        drop(domains);
        self.host.unbind_guest_filters(&taps);
        delete_taps(&taps);
        tracing::info!(domain = %name, reason = shutoff_reason, "guest stopped");
        self.emit(&handle, event::STOPPED, stopped_detail(shutoff_reason));
    }

    /// Applies one QMP event to the domain's state; true when the guest powered off for a pending reboot, which
    /// the caller then completes ([`Shared::finish_fake_reboot`]).
    fn on_event(&self, uuid: Uuid, generation: u64, name: &str, data: &serde_json::Value) -> bool {
        if name == "DEVICE_DELETED" {
            self.device_deleted(uuid, generation, data);
            return false;
        }
        let mut domains = self.domains();
        let Some(obj) = domains.get_mut(&uuid) else {
            return false;
        };
        let Some(run) = obj.run.as_mut().filter(|r| r.generation == generation) else {
            return false;
        };
        let mut emitted = None;
        let mut reboot = false;
        match name {
            // The switch-over of an outgoing migration.
            "STOP" if obj.state == DomainState::Running && self.migration.outgoing(&uuid) => {
                (obj.state, obj.reason) = (DomainState::Paused, reason::PAUSED_MIGRATION);
                emitted = Some((
                    event::SUSPENDED,
                    crate::driver::migration::detail::SUSPENDED_MIGRATED,
                ));
            }
            "STOP" if obj.state == DomainState::Running && !run.rebooting => {
                (obj.state, obj.reason) = (DomainState::Paused, reason::PAUSED_USER);
                emitted = Some((event::SUSPENDED, event::SUSPENDED_PAUSED));
            }
            "RESUME" if obj.state != DomainState::Running => {
                (obj.state, obj.reason) = (DomainState::Running, reason::RUNNING_UNPAUSED);
                emitted = Some((event::RESUMED, event::RESUMED_UNPAUSED));
            }
            "SHUTDOWN" if run.fake_reboot && data["reason"].as_str() != Some("host-qmp-quit") => {
                // QEMU paused instead of exiting (shutdown action `pause`): the caller completes the reboot. As
                // libvirt, the state stays and no event tells of this transient shutdown.
                (run.fake_reboot, run.rebooting, reboot) = (false, true, true);
            }
            "SHUTDOWN" => {
                let host_quit = data["reason"].as_str() == Some("host-qmp-quit");
                if run.expected_stop.is_none() && !host_quit {
                    run.expected_stop = Some(reason::SHUTOFF_SHUTDOWN);
                }
                if !host_quit {
                    (obj.state, obj.reason) = (DomainState::Shutdown, reason::SHUTDOWN_UNKNOWN);
                    // libvirt's detail says who asked when QEMU tells (it does since 2.10).
                    let detail = match data["guest"].as_bool() {
                        Some(true) => event::SHUTDOWN_GUEST,
                        Some(false) => event::SHUTDOWN_HOST,
                        None => event::SHUTDOWN_FINISHED,
                    };
                    emitted = Some((event::SHUTDOWN, detail));
                }
            }
            // The guest put itself to sleep (S3), and woke (system_wakeup or a wake-up source).
            "SUSPEND" if obj.state == DomainState::Running => {
                (obj.state, obj.reason) = (DomainState::PmSuspended, 0);
                emitted = Some((event::PMSUSPENDED, 0));
            }
            "WAKEUP" if obj.state == DomainState::PmSuspended => {
                (obj.state, obj.reason) = (DomainState::Running, reason::RUNNING_WAKEUP);
                emitted = Some((event::STARTED, event::STARTED_WAKEUP));
            }
            // The guest opened or closed a virtio channel's port: its live `<target state>`.
            "VSERPORT_CHANGE" => {
                if let Some(change) = obj
                    .live
                    .as_mut()
                    .and_then(|l| agent::set_channel_state(l, data))
                {
                    self.save_status_locked(obj);
                    if let Some(state) = change {
                        emitted = Some((event::AGENT_LIFECYCLE, state));
                    }
                }
            }
            "GUEST_PANICKED" => {
                (obj.state, obj.reason) = (DomainState::Crashed, reason::CRASHED_PANICKED);
                emitted = Some((event::CRASHED, event::CRASHED_PANICKED));
            }
            _ => {}
        }
        if emitted.is_some() {
            self.save_status_locked(obj);
        }
        let handle = obj.handle();
        drop(domains);
        if let Some((kind, detail)) = emitted {
            self.emit(&handle, kind, detail);
        }
        reboot
    }

    /// The second half of an ACPI reboot, once the guest has powered off and QEMU paused: reset the machine, let
    /// QEMU exit again on the next power-off, and resume it (running, booted), as libvirt's qemuProcessFakeReboot.
    async fn finish_fake_reboot(&self, uuid: Uuid, generation: u64) {
        let qmp = {
            let mut domains = self.domains();
            let Some(run) = domains
                .get_mut(&uuid)
                .and_then(|obj| obj.run.as_mut())
                .filter(|r| r.generation == generation)
            else {
                return;
            };
            run.qmp.clone()
        };
        let Some(qmp) = qmp else {
            return;
        };
        let done = async {
            qmp.execute("system_reset", None).await?;
            qmp.execute("set-action", Some(json!({ "shutdown": "poweroff" })))
                .await?;
            Ok::<_, QmpError>(())
        }
        .await;
        if let Err(err) = done {
            // As libvirt: a reboot that cannot complete ends the guest rather than leaving it paused.
            tracing::warn!(%uuid, "cannot reset the guest for its reboot: {err}; stopping it");
            let _ = qmp.execute("quit", None).await;
            return;
        }
        let handle = {
            let mut domains = self.domains();
            let Some(obj) = domains
                .get_mut(&uuid)
                .filter(|obj| obj.run.as_ref().is_some_and(|r| r.generation == generation))
            else {
                return;
            };
            if let Some(run) = obj.run.as_mut() {
                run.rebooting = false;
            }
            (obj.state, obj.reason) = (DomainState::Running, reason::RUNNING_BOOTED);
            self.save_status_locked(obj);
            obj.handle()
        };
        if let Err(err) = qmp.execute("cont", None).await {
            tracing::warn!(%uuid, "cannot resume the guest after its reboot: {err}");
            return;
        }
        self.emit(&handle, event::RESUMED, event::RESUMED_UNPAUSED);
    }
}

/// Follows one run's QMP events; when the monitor closes, makes sure QEMU is gone and records the stop.
fn spawn_monitor(
    shared: Weak<Shared>,
    uuid: Uuid,
    generation: u64,
    pid: i32,
    mut events: mpsc::Receiver<MonitorEvent>,
) {
    tokio::spawn(async move {
        while let Some(message) = events.recv().await {
            let Some(strong) = shared.upgrade() else {
                return;
            };
            match message {
                MonitorEvent::Event { name, data } => {
                    tracing::debug!(%uuid, event = %name, "QMP event");
                    if strong.on_event(uuid, generation, &name, &data) {
                        // Apart from this loop, which must go on reading the events the reset brings.
                        tokio::spawn(
                            async move { strong.finish_fake_reboot(uuid, generation).await },
                        );
                    }
                }
                MonitorEvent::Closed { why } => {
                    tracing::info!(%uuid, pid, "QMP connection ended: {why}");
                    drop(strong);
                    let marker = uuid.to_string();
                    // A QEMU that closed its monitor is on its way out; one that hung is unmanageable.
                    if !process::wait_gone(pid, &marker, Duration::from_secs(3)).await {
                        tracing::warn!(%uuid, pid, "QEMU lost its monitor but still runs: terminating it");
                        process::terminate(pid, &marker, TERM_GRACE).await;
                    }
                    if let Some(strong) = shared.upgrade() {
                        strong.finish_stop(uuid, generation, None);
                    }
                    return;
                }
            }
        }
    });
}

/// Watches a guest whose monitor could not be reached: its end is noticed by polling its pid.
fn spawn_pid_watch(shared: Weak<Shared>, uuid: Uuid, generation: u64, pid: i32) {
    tokio::spawn(async move {
        let marker = uuid.to_string();
        while process::is_our_process(pid, &marker) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if shared.strong_count() == 0 {
                return;
            }
        }
        if let Some(strong) = shared.upgrade() {
            strong.finish_stop(uuid, generation, None);
        }
    });
}

/// Reaps a QEMU the driver started (so no zombie is left) and records its end if the monitor did not.
fn spawn_reaper(
    shared: Weak<Shared>,
    uuid: Uuid,
    generation: u64,
    mut child: tokio::process::Child,
) {
    tokio::spawn(async move {
        let status = child.wait().await;
        tracing::debug!(%uuid, ?status, "QEMU exited");
        // The monitor normally records the end, with the reason QEMU's last events gave (a guest shutdown is
        // not a crash); this is the fallback if the monitor never does.
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Some(strong) = shared.upgrade() {
            strong.finish_stop(uuid, generation, None);
        }
    });
}

#[async_trait]
impl HypervisorDriver for QemuDriver {
    async fn get_type(&self) -> Result<String> {
        Ok("QEMU".into())
    }
    async fn get_version(&self) -> Result<u64> {
        Ok(self.shared.version)
    }
    async fn get_lib_version(&self) -> Result<u64> {
        Ok(10_000_000)
    }
    async fn get_hostname(&self) -> Result<String> {
        Ok(self.shared.hostname.clone())
    }
    async fn get_uri(&self) -> Result<String> {
        Ok(match self.shared.mode {
            QemuMode::System => "qemu:///system",
            QemuMode::Session => "qemu:///session",
        }
        .into())
    }
    async fn node_get_info(&self) -> Result<NodeInfo> {
        let cpus = std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(1))
            .unwrap_or(1);
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0);
        Ok(NodeInfo {
            model: std::env::consts::ARCH.into(),
            memory_kib,
            cpus,
            mhz: 0,
            nodes: 1,
            sockets: 1,
            cores: cpus,
            threads: 1,
        })
    }
    async fn get_capabilities(&self) -> Result<String> {
        let emulator = self.shared.emulator.as_ref().ok_or_else(|| {
            Error::with_detail(
                ErrorCode::OPERATION_FAILED,
                ErrorDomain::QEMU,
                "qemu-system-x86_64 is not installed",
            )
        })?;
        let kvm = *self
            .shared
            .kvm
            .get_or_init(|| process::probe_kvm(emulator))
            .await;
        let mut domains = String::from("      <domain type='qemu'/>\n");
        if kvm {
            domains.push_str("      <domain type='kvm'/>\n");
        }
        let emulator = emulator
            .to_string_lossy()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        Ok(format!(
            "<capabilities>\n\n  <host>\n    <uuid>{host_uuid}</uuid>\n    <cpu>\n      <arch>x86_64</arch>\n    </cpu>\n  </host>\n\n  \
             <guest>\n    <os_type>hvm</os_type>\n    <arch name='x86_64'>\n      <wordsize>64</wordsize>\n      \
             <emulator>{emulator}</emulator>\n      <machine>pc</machine>\n      <machine>q35</machine>\n{domains}    \
             </arch>\n    <features>\n      <acpi default='on' toggle='yes'/>\n    </features>\n  </guest>\n\n\
             </capabilities>\n",
            host_uuid = crate::driver::host_uuid::host_uuid()
        ))
    }
    async fn node_get_security_model(&self) -> Result<(String, String)> {
        // No security driver confines the guests (no SELinux/AppArmor labelling): an empty model says so.
        Ok((String::new(), String::new()))
    }
    async fn domain_get_security_label(&self, dom: &DomainRef) -> Result<(String, bool)> {
        self.find(dom)?;
        Ok((String::new(), false))
    }
    async fn list_all_domains(&self, list_flags: u32) -> Result<Vec<DomainRef>> {
        check_flags(list_flags, (1 << 16) - 1, "virConnectListAllDomains")?;
        let pick = |yes: u32, no: u32, value: bool| {
            let (y, n) = (list_flags & yes != 0, list_flags & no != 0);
            (!y && !n) || (y && value) || (n && !value)
        };
        let state_bits = flags::LIST_DOMAINS_RUNNING
            | flags::LIST_DOMAINS_PAUSED
            | flags::LIST_DOMAINS_SHUTOFF
            | flags::LIST_DOMAINS_OTHER;
        let domains = self.domains();
        let mut found: Vec<DomainRef> = domains
            .values()
            .filter(|d| {
                let state_ok = list_flags & state_bits == 0
                    || match d.state {
                        DomainState::Running => list_flags & flags::LIST_DOMAINS_RUNNING != 0,
                        DomainState::Paused => list_flags & flags::LIST_DOMAINS_PAUSED != 0,
                        DomainState::Shutoff => list_flags & flags::LIST_DOMAINS_SHUTOFF != 0,
                        _ => list_flags & flags::LIST_DOMAINS_OTHER != 0,
                    };
                state_ok
                    && pick(
                        flags::LIST_DOMAINS_ACTIVE,
                        flags::LIST_DOMAINS_INACTIVE,
                        d.state.is_active(),
                    )
                    && pick(
                        flags::LIST_DOMAINS_PERSISTENT,
                        flags::LIST_DOMAINS_TRANSIENT,
                        d.persistent.is_some(),
                    )
                    && pick(
                        flags::LIST_DOMAINS_AUTOSTART,
                        flags::LIST_DOMAINS_NO_AUTOSTART,
                        d.autostart,
                    )
                    && pick(
                        flags::LIST_DOMAINS_MANAGEDSAVE,
                        flags::LIST_DOMAINS_NO_MANAGEDSAVE,
                        list_flags
                            & (flags::LIST_DOMAINS_MANAGEDSAVE
                                | flags::LIST_DOMAINS_NO_MANAGEDSAVE)
                            != 0
                            && self.has_managed_save(d.name()),
                    )
                    && pick(
                        flags::LIST_DOMAINS_HAS_SNAPSHOT,
                        flags::LIST_DOMAINS_NO_SNAPSHOT,
                        false,
                    )
                    && pick(
                        flags::LIST_DOMAINS_HAS_CHECKPOINT,
                        flags::LIST_DOMAINS_NO_CHECKPOINT,
                        false,
                    )
            })
            .map(DomainObj::handle)
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }
    async fn domain_lookup_by_name(&self, name: &str) -> Result<DomainRef> {
        self.domains()
            .values()
            .find(|d| d.name() == name)
            .map(DomainObj::handle)
            .ok_or_else(no_domain)
    }
    async fn domain_lookup_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        self.domains()
            .get(uuid)
            .map(DomainObj::handle)
            .ok_or_else(no_domain)
    }
    async fn domain_lookup_by_id(&self, id: i32) -> Result<DomainRef> {
        self.domains()
            .values()
            .find(|d| d.state.is_active() && d.id == id)
            .map(DomainObj::handle)
            .ok_or_else(no_domain)
    }
    async fn domain_define_xml(&self, xml: &str, define_flags: u32) -> Result<DomainRef> {
        check_flags(
            define_flags,
            flags::DEFINE_VALIDATE,
            "virDomainDefineXMLFlags",
        )?;
        let mut def = DomainDef::from_xml(xml, define_flags & flags::DEFINE_VALIDATE != 0)?;
        self.post_parse(&mut def).await?;
        self.check_definable(&def)?;
        let _guard = self.shared.lifecycle.lock().await;
        self.clash(&def)?;
        self.shared.files.save_definition(&def)?;
        let mut domains = self.domains();
        let (handle, detail) = match domains.get_mut(&def.uuid) {
            Some(obj) => {
                let detail = if obj.persistent.is_some() {
                    event::DEFINED_UPDATED
                } else {
                    event::DEFINED_ADDED
                };
                obj.persistent = Some(def);
                if let Some(status) = obj.status() {
                    let _ = self.shared.files.save_status(obj.name(), &status);
                }
                (obj.handle(), detail)
            }
            None => {
                let obj = DomainObj {
                    persistent: Some(def),
                    live: None,
                    state: DomainState::Shutoff,
                    reason: reason::SHUTOFF_UNKNOWN,
                    id: -1,
                    autostart: false,
                    run: None,
                };
                let handle = obj.handle();
                domains.insert(handle.uuid, obj);
                (handle, event::DEFINED_ADDED)
            }
        };
        drop(domains);
        self.shared.emit(&handle, event::DEFINED, detail);
        Ok(handle)
    }
    async fn domain_undefine(&self, dom: &DomainRef, undefine_flags: u32) -> Result<()> {
        check_flags(undefine_flags, 0b1_1111, "virDomainUndefineFlags")?;
        let _guard = self.shared.lifecycle.lock().await;
        let (handle, persistent, running) = self.find(dom)?;
        if !persistent {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "cannot undefine transient domain",
            ));
        }
        let managed_save = self.has_managed_save(&handle.name);
        if managed_save && undefine_flags & flags::UNDEFINE_MANAGED_SAVE == 0 {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "Refusing to undefine while domain managed save image exists",
            ));
        }
        let nvram = self
            .domains()
            .get(&handle.uuid)
            .and_then(|o| o.persistent.as_ref())
            .and_then(|def| firmware::nvram_of(def, &self.shared.files.root.join("nvram")))
            .filter(|path| path.exists());
        if nvram.is_some()
            && undefine_flags & flags::UNDEFINE_NVRAM == 0
            && undefine_flags & flags::UNDEFINE_KEEP_NVRAM == 0
        {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "cannot undefine domain with nvram",
            ));
        }
        if managed_save {
            crate::persist::remove_durable(
                &self.shared.files.save_dir(),
                &format!("{}.save", handle.name),
            )
            .map_err(|_| {
                Error::internal(
                    ErrorDomain::QEMU,
                    "Failed to remove domain managed save image",
                )
            })?;
        }
        if let Some(path) = nvram.filter(|_| undefine_flags & flags::UNDEFINE_NVRAM != 0) {
            std::fs::remove_file(&path).map_err(|e| {
                Error::system(
                    ErrorDomain::QEMU,
                    format!("failed to remove nvram: {}", path.display()),
                    &e,
                )
            })?;
        }
        self.shared.files.remove_definition(&handle.name)?;
        let mut domains = self.domains();
        if running.is_some() {
            if let Some(obj) = domains.get_mut(&handle.uuid) {
                obj.persistent = None;
                obj.autostart = false;
                self.shared.save_status_locked(obj);
            }
        } else {
            domains.remove(&handle.uuid);
        }
        drop(domains);
        self.shared
            .emit(&handle, event::UNDEFINED, event::UNDEFINED_REMOVED);
        Ok(())
    }
    async fn domain_create(&self, dom: &DomainRef, start_flags: u32) -> Result<DomainRef> {
        check_flags(
            start_flags,
            flags::START_PAUSED
                | flags::START_BYPASS_CACHE
                | flags::START_FORCE_BOOT
                | flags::START_VALIDATE,
            "virDomainCreateWithFlags",
        )?;
        let _guard = self.shared.lifecycle.lock().await;
        let def = {
            let domains = self.domains();
            let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
            if obj.state.is_active() {
                return Err(Error::operation_invalid(
                    ErrorDomain::QEMU,
                    format!("domain '{}' is already running", obj.name()),
                ));
            }
            obj.persistent.clone().ok_or_else(no_domain)?
        };
        if self.has_managed_save(&def.name) {
            if start_flags & flags::START_FORCE_BOOT != 0 {
                let path = self.managed_save_path(&def.name);
                std::fs::remove_file(&path).map_err(|e| {
                    Error::system(
                        ErrorDomain::QEMU,
                        format!("cannot remove managed save file {}", path.display()),
                        &e,
                    )
                })?;
            } else if let Some(handle) = self.start_from_managed(&def, start_flags).await? {
                return Ok(handle);
            }
        }
        let paused = start_flags & flags::START_PAUSED != 0;
        self.start(def, true, Boot::Fresh { paused }).await
    }
    async fn domain_create_xml(&self, xml: &str, start_flags: u32) -> Result<DomainRef> {
        check_flags(
            start_flags,
            flags::START_PAUSED | flags::START_AUTODESTROY | flags::START_VALIDATE,
            "virDomainCreateXML",
        )?;
        let mut def = DomainDef::from_xml(xml, start_flags & flags::START_VALIDATE != 0)?;
        self.post_parse(&mut def).await?;
        self.check_definable(&def)?;
        let _guard = self.shared.lifecycle.lock().await;
        self.clash(&def)?;
        let persistent = match self.domains().get(&def.uuid) {
            Some(obj) if obj.state.is_active() => {
                return Err(Error::operation_invalid(
                    ErrorDomain::QEMU,
                    format!("domain '{}' is already active", def.name),
                ))
            }
            Some(_) => true,
            None => false,
        };
        let paused = start_flags & flags::START_PAUSED != 0;
        self.start(def, persistent, Boot::Fresh { paused }).await
    }
    async fn domain_destroy(&self, dom: &DomainRef, destroy_flags: u32) -> Result<()> {
        check_flags(destroy_flags, 0b11, "virDomainDestroyFlags")?;
        let _guard = self.shared.lifecycle.lock().await;
        let (handle, generation) = self.running_generation(dom)?;
        self.kill_run(handle.uuid, generation, reason::SHUTOFF_DESTROYED)
            .await;
        Ok(())
    }
    async fn domain_shutdown(&self, dom: &DomainRef, shutdown_flags: u32) -> Result<()> {
        // 0 = hypervisor's choice, 1 = ACPI power button, 2 = guest agent.
        check_flags(shutdown_flags, 0b11, "virDomainShutdownFlags")?;
        if self.shutdown_by_agent(dom, shutdown_flags, false).await? {
            return Ok(());
        }
        let qmp = self.monitor(dom)?;
        // A shutdown asked for after a reboot the guest ignored powers off (libvirt clears its fake reboot too).
        if self.set_fake_reboot(dom, false)? {
            set_shutdown_action(&qmp, "poweroff").await?;
        }
        qmp.execute("system_powerdown", None)
            .await
            .map_err(qmp_error)?;
        Ok(())
    }
    /// With the guest agent when asked (or when none is asked for and the agent is connected); else, as libvirt's
    /// qemu driver without a guest agent: the ACPI power button, and when the guest has powered off,
    /// a reset and resume of the same QEMU (state running, booted).
    async fn domain_reboot(&self, dom: &DomainRef, reboot_flags: u32) -> Result<()> {
        check_flags(
            reboot_flags,
            REBOOT_ACPI_POWER_BTN | agent::REBOOT_GUEST_AGENT,
            "qemuDomainReboot",
        )?;
        if self.shutdown_by_agent(dom, reboot_flags, true).await? {
            return Ok(());
        }
        let _guard = self.shared.lifecycle.lock().await;
        let qmp = self.monitor(dom)?;
        set_shutdown_action(&qmp, "pause").await?;
        self.set_fake_reboot(dom, true)?;
        if let Err(err) = qmp.execute("system_powerdown", None).await {
            let _ = self.set_fake_reboot(dom, false);
            let _ = set_shutdown_action(&qmp, "poweroff").await;
            return Err(qmp_error(err));
        }
        Ok(())
    }
    async fn domain_suspend(&self, dom: &DomainRef) -> Result<()> {
        let _guard = self.shared.lifecycle.lock().await;
        let qmp = self.monitor(dom)?;
        if self.domain_get_state(dom, 0).await?.0 != DomainState::Running {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "domain is not running",
            ));
        }
        qmp.execute("stop", None).await.map_err(qmp_error)?;
        let (handle, generation) = self.running_generation(dom)?;
        self.shared
            .on_event(handle.uuid, generation, "STOP", &serde_json::Value::Null);
        Ok(())
    }
    /// QMP `inject-nmi`: the guest kernel sees a non-maskable interrupt (a crash dump, a debugger).
    async fn domain_inject_nmi(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        check_flags(flags, 0, "qemuDomainInjectNMI")?;
        let _guard = self.shared.lifecycle.lock().await;
        let qmp = self.monitor(dom)?;
        qmp.execute("inject-nmi", None).await.map_err(qmp_error)?;
        Ok(())
    }
    /// QMP `system_reset`: the machine restarts at once, the same QEMU process, no shutdown in the guest.
    async fn domain_reset(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        check_flags(flags, 0, "qemuDomainReset")?;
        let _guard = self.shared.lifecycle.lock().await;
        let qmp = self.monitor(dom)?;
        qmp.execute("system_reset", None).await.map_err(qmp_error)?;
        Ok(())
    }
    async fn domain_resume(&self, dom: &DomainRef) -> Result<()> {
        let _guard = self.shared.lifecycle.lock().await;
        let qmp = self.monitor(dom)?;
        if self.domain_get_state(dom, 0).await?.0 != DomainState::Paused {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "domain is not paused",
            ));
        }
        qmp.execute("cont", None).await.map_err(qmp_error)?;
        let (handle, generation) = self.running_generation(dom)?;
        self.shared
            .on_event(handle.uuid, generation, "RESUME", &serde_json::Value::Null);
        Ok(())
    }
    async fn domain_get_info(&self, dom: &DomainRef) -> Result<DomainInfo> {
        // The state as QEMU's events keep it, not asked of QEMU (as libvirt): a monitor round trip per call
        // made every listing that shows states cost one per guest.
        let (info, pid) = {
            let domains = self.domains();
            let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
            let def = obj.def();
            let info = DomainInfo {
                state: obj.state,
                max_mem_kib: def.memory_kib,
                memory_kib: def.current_memory_kib,
                nr_virt_cpu: def.current_vcpus,
                cpu_time_ns: 0,
            };
            (info, obj.run.as_ref().map(|r| r.pid))
        };
        Ok(DomainInfo {
            cpu_time_ns: pid.map(process::cpu_time_ns).unwrap_or(0),
            ..info
        })
    }
    async fn domain_get_state(
        &self,
        dom: &DomainRef,
        state_flags: u32,
    ) -> Result<(DomainState, i32)> {
        check_flags(state_flags, 0, "virDomainGetState")?;
        let domains = self.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        Ok((obj.state, obj.reason))
    }
    async fn domain_get_xml_desc(&self, dom: &DomainRef, xml_flags: u32) -> Result<String> {
        check_flags(
            xml_flags,
            flags::XML_SECURE | flags::XML_INACTIVE | flags::XML_UPDATE_CPU | flags::XML_MIGRATABLE,
            "virDomainGetXMLDesc",
        )?;
        let domains = self.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        let secure = xml_flags & flags::XML_SECURE != 0;
        let (def, id) = match (&obj.persistent, &obj.live) {
            (Some(p), _) if xml_flags & flags::XML_INACTIVE != 0 => (p, None),
            (_, Some(live)) => (live, Some(obj.id)),
            _ => (obj.def(), None),
        };
        Ok(def.to_xml(&DomainXmlOptions { id, secure }))
    }
    /// The definitions are in memory (see [`summary_of`]).
    async fn domain_summaries(&self, keep: &KeepDomain) -> Result<Vec<DomainSummary>> {
        let mut out: Vec<DomainSummary> = self
            .domains()
            .values()
            .filter(|obj| keep(obj.def()))
            .map(summary_of)
            .collect();
        // The order of list_all_domains.
        out.sort_by(|a, b| a.dom.name.cmp(&b.dom.name));
        Ok(out)
    }
    async fn domain_summary(&self, name: &str) -> Result<DomainSummary> {
        let domains = self.domains();
        let obj = domains
            .values()
            .find(|d| d.name() == name)
            .ok_or_else(no_domain)?;
        Ok(summary_of(obj))
    }
    async fn domain_get_os_type(&self, dom: &DomainRef) -> Result<String> {
        let domains = self.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        Ok(obj.def().os.os_type.clone())
    }
    async fn domain_get_autostart(&self, dom: &DomainRef) -> Result<bool> {
        let domains = self.domains();
        Ok(domains.get(&dom.uuid).ok_or_else(no_domain)?.autostart)
    }
    async fn domain_set_autostart(&self, dom: &DomainRef, autostart: bool) -> Result<()> {
        let _guard = self.shared.lifecycle.lock().await;
        let (handle, persistent, _) = self.find(dom)?;
        if !persistent {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "cannot set autostart for transient domain",
            ));
        }
        self.shared.files.set_autostart(&handle.name, autostart)?;
        if let Some(obj) = self.domains().get_mut(&handle.uuid) {
            obj.autostart = autostart;
        }
        Ok(())
    }
    async fn domain_is_active(&self, dom: &DomainRef) -> Result<bool> {
        Ok(self.domain_get_state(dom, 0).await?.0.is_active())
    }
    async fn domain_is_persistent(&self, dom: &DomainRef) -> Result<bool> {
        Ok(self.find(dom)?.1)
    }
    async fn domain_is_updated(&self, dom: &DomainRef) -> Result<bool> {
        let domains = self.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        Ok(
            matches!((&obj.live, &obj.persistent), (Some(l), Some(p)) if alias::without_generated(l) != *p),
        )
    }
    async fn domain_has_managed_save_image(&self, dom: &DomainRef, has_flags: u32) -> Result<bool> {
        check_flags(has_flags, 0, "virDomainHasManagedSaveImage")?;
        let (handle, _, _) = self.find(dom)?;
        Ok(self.has_managed_save(&handle.name))
    }
    async fn domain_managed_save(&self, dom: &DomainRef, save_flags: u32) -> Result<()> {
        self.save_domain(dom, None, None, save_flags).await
    }
    async fn domain_managed_save_remove(&self, dom: &DomainRef, remove_flags: u32) -> Result<()> {
        self.managed_save_remove(dom, remove_flags).await
    }
    async fn domain_managed_save_get_xml_desc(
        &self,
        dom: &DomainRef,
        xml_flags: u32,
    ) -> Result<String> {
        self.managed_save_xml(dom, xml_flags)
    }
    async fn domain_managed_save_define_xml(
        &self,
        dom: &DomainRef,
        dxml: Option<&str>,
        define_flags: u32,
    ) -> Result<()> {
        self.managed_save_define(dom, dxml, define_flags).await
    }
    async fn domain_save(
        &self,
        dom: &DomainRef,
        to: &str,
        dxml: Option<&str>,
        save_flags: u32,
    ) -> Result<()> {
        self.save_domain(dom, Some(to), dxml, save_flags).await
    }
    async fn domain_restore(
        &self,
        from: &str,
        dxml: Option<&str>,
        restore_flags: u32,
    ) -> Result<()> {
        self.restore_domain(from, dxml, restore_flags).await
    }
    async fn domain_save_image_get_xml_desc(&self, file: &str, xml_flags: u32) -> Result<String> {
        self.save_image_xml(file, xml_flags)
    }
    async fn domain_save_image_define_xml(
        &self,
        file: &str,
        dxml: &str,
        define_flags: u32,
    ) -> Result<()> {
        self.save_image_define(file, dxml, define_flags).await
    }
    async fn domain_set_memory(&self, dom: &DomainRef, kib: u64, mem_flags: u32) -> Result<()> {
        check_flags(
            mem_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::MEM_MAXIMUM,
            "virDomainSetMemoryFlags",
        )?;
        let _guard = self.shared.lifecycle.lock().await;
        let (handle, persistent, running) = self.find(dom)?;
        let mut live = mem_flags & flags::AFFECT_LIVE != 0;
        let config = mem_flags & flags::AFFECT_CONFIG != 0;
        if !live && !config {
            live = running.is_some();
        }
        let config = config || (!live && persistent);
        if live && running.is_none() {
            return Err(not_running(&handle.name));
        }
        if config && !persistent {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "transient domains do not have any persistent config",
            ));
        }
        let maximum = mem_flags & flags::MEM_MAXIMUM != 0;
        if maximum && live {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "cannot resize the maximum memory on an active domain",
            ));
        }
        if kib == 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                "memory must be greater than zero",
            ));
        }
        if live {
            let max = self
                .domains()
                .get(&handle.uuid)
                .map(|o| o.def().memory_kib)
                .unwrap_or(0);
            if kib > max {
                return Err(Error::invalid_arg(
                    ErrorDomain::QEMU,
                    "cannot set memory higher than max memory",
                ));
            }
            let qmp = self.monitor(dom)?;
            let bytes = kib
                .checked_mul(1024)
                .ok_or_else(|| Error::invalid_arg(ErrorDomain::QEMU, "memory size is too large"))?;
            qmp.execute("balloon", Some(json!({ "value": bytes })))
                .await
                .map_err(qmp_error)?;
            let mut domains = self.domains();
            if let Some(obj) = domains.get_mut(&handle.uuid) {
                if let Some(def) = obj.live.as_mut() {
                    def.current_memory_kib = kib;
                }
                self.shared.save_status_locked(obj);
            }
        }
        if config {
            let mut def = self
                .domains()
                .get(&handle.uuid)
                .and_then(|o| o.persistent.clone())
                .ok_or_else(no_domain)?;
            if maximum {
                def.memory_kib = kib;
                def.current_memory_kib = def.current_memory_kib.min(kib);
            } else if kib > def.memory_kib {
                return Err(Error::invalid_arg(
                    ErrorDomain::QEMU,
                    "cannot set memory higher than max memory",
                ));
            } else {
                def.current_memory_kib = kib;
            }
            self.shared.files.save_definition(&def)?;
            if let Some(obj) = self.domains().get_mut(&handle.uuid) {
                obj.persistent = Some(def);
            }
        }
        Ok(())
    }
    async fn domain_get_max_memory(&self, dom: &DomainRef) -> Result<u64> {
        let domains = self.domains();
        Ok(domains
            .get(&dom.uuid)
            .ok_or_else(no_domain)?
            .def()
            .memory_kib)
    }
    async fn domain_set_vcpus(&self, dom: &DomainRef, count: u32, vcpu_flags: u32) -> Result<()> {
        self.set_vcpus(dom, count, vcpu_flags).await
    }
    async fn domain_get_vcpus(&self, dom: &DomainRef, vcpu_flags: u32) -> Result<u32> {
        check_flags(
            vcpu_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::VCPU_MAXIMUM,
            "virDomainGetVcpusFlags",
        )?;
        let domains = self.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        let def = if vcpu_flags & flags::AFFECT_CONFIG != 0 {
            obj.persistent.as_ref().unwrap_or(obj.def())
        } else {
            obj.def()
        };
        Ok(if vcpu_flags & flags::VCPU_MAXIMUM != 0 {
            def.vcpus
        } else {
            def.current_vcpus
        })
    }
    async fn domain_event_subscribe(&self) -> Result<broadcast::Receiver<DomainEvent>> {
        Ok(self.shared.events.subscribe())
    }
    async fn domain_screenshot(
        &self,
        dom: &DomainRef,
        screen: u32,
        flags: u32,
    ) -> Result<(String, crate::driver::Stream)> {
        self.screenshot(dom, screen, flags).await
    }
    async fn domain_open_console(
        &self,
        dom: &DomainRef,
        dev_name: Option<&str>,
        flags: u32,
    ) -> Result<crate::driver::Stream> {
        self.open_console(dom, dev_name, flags).await
    }
    async fn domain_get_time(&self, dom: &DomainRef, time_flags: u32) -> Result<(i64, u32)> {
        self.agent_get_time(dom, time_flags).await
    }
    async fn domain_set_time(
        &self,
        dom: &DomainRef,
        seconds: i64,
        nseconds: u32,
        flags: u32,
    ) -> Result<()> {
        self.agent_set_time(dom, seconds, nseconds, flags).await
    }
    async fn domain_interface_addresses(
        &self,
        dom: &DomainRef,
        source: u32,
        flags: u32,
    ) -> Result<Vec<GuestInterface>> {
        self.interface_addresses(dom, source, flags).await
    }
    async fn domain_get_fsinfo(&self, dom: &DomainRef, flags: u32) -> Result<Vec<FsInfo>> {
        self.agent_fsinfo(dom, flags).await
    }
    async fn domain_fs_freeze(
        &self,
        dom: &DomainRef,
        mountpoints: Vec<String>,
        flags: u32,
    ) -> Result<i32> {
        self.agent_fs_freeze(dom, mountpoints, false, flags).await
    }
    async fn domain_fs_thaw(
        &self,
        dom: &DomainRef,
        mountpoints: Vec<String>,
        flags: u32,
    ) -> Result<i32> {
        self.agent_fs_freeze(dom, mountpoints, true, flags).await
    }
    async fn domain_fs_trim(
        &self,
        dom: &DomainRef,
        mount_point: Option<&str>,
        minimum: u64,
        flags: u32,
    ) -> Result<()> {
        self.agent_fs_trim(dom, mount_point, minimum, flags).await
    }
    async fn domain_set_user_password(
        &self,
        dom: &DomainRef,
        user: Option<&str>,
        password: Option<&str>,
        flags: u32,
    ) -> Result<()> {
        self.agent_set_user_password(dom, user, password, flags)
            .await
    }
    async fn domain_get_guest_info(
        &self,
        dom: &DomainRef,
        types: u32,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        self.agent_guest_info(dom, types, flags).await
    }
    async fn domain_get_guest_vcpus(&self, dom: &DomainRef, flags: u32) -> Result<Vec<TypedParam>> {
        self.agent_guest_vcpus(dom, flags).await
    }
    async fn domain_set_guest_vcpus(
        &self,
        dom: &DomainRef,
        cpumap: &str,
        state: i32,
        flags: u32,
    ) -> Result<()> {
        self.agent_set_guest_vcpus(dom, cpumap, state, flags).await
    }
    async fn domain_agent_set_response_timeout(
        &self,
        dom: &DomainRef,
        timeout: i32,
        flags: u32,
    ) -> Result<i32> {
        self.agent_set_response_timeout(dom, timeout, flags)
            .map(|()| 0)
    }
    async fn domain_qemu_monitor_command(
        &self,
        dom: &DomainRef,
        cmd: &str,
        flags: u32,
    ) -> Result<String> {
        self.monitor_command(dom, cmd, flags).await
    }
    async fn domain_qemu_agent_command(
        &self,
        dom: &DomainRef,
        cmd: &str,
        timeout: i32,
        flags: u32,
    ) -> Result<Option<String>> {
        self.agent_command(dom, cmd, timeout, flags).await
    }
    async fn domain_pm_suspend_for_duration(
        &self,
        dom: &DomainRef,
        target: u32,
        duration: u64,
        flags: u32,
    ) -> Result<()> {
        self.pm_suspend(dom, target, duration, flags).await
    }
    async fn domain_pm_wakeup(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        self.pm_wakeup(dom, flags).await
    }
    async fn domain_attach_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        self.attach_device(dom, xml, flags).await
    }
    async fn domain_detach_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        self.detach_device(dom, xml, flags).await
    }
    async fn domain_update_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()> {
        if let Ok(Some(graphics)) = crate::model::parse_graphics_device(xml) {
            return self.update_graphics(dom, graphics, flags).await;
        }
        self.update_device(dom, xml, flags).await
    }
    async fn domain_detach_device_alias(
        &self,
        dom: &DomainRef,
        alias: &str,
        flags: u32,
    ) -> Result<()> {
        self.detach_device_alias(dom, alias, flags).await
    }
    async fn domain_send_key(
        &self,
        dom: &DomainRef,
        codeset: u32,
        holdtime: u32,
        keycodes: Vec<u32>,
        flags: u32,
    ) -> Result<()> {
        self.send_key(dom, (codeset, holdtime, &keycodes), flags)
            .await
    }
    async fn domain_get_metadata(
        &self,
        dom: &DomainRef,
        kind: i32,
        uri: Option<&str>,
        meta_flags: u32,
    ) -> Result<String> {
        self.get_metadata(dom, kind, uri, meta_flags)
    }
    async fn domain_set_metadata(
        &self,
        dom: &DomainRef,
        kind: i32,
        metadata: Option<&str>,
        key: Option<&str>,
        uri: Option<&str>,
        meta_flags: u32,
    ) -> Result<()> {
        self.set_metadata(dom, kind, metadata, key, uri, meta_flags)
            .await
    }
    // statistics and information of running guests (stats.rs) and domain capabilities (capabilities.rs)
    async fn domain_block_stats(&self, dom: &DomainRef, disk: &str) -> Result<BlockStats> {
        self.stats_block_stats(dom, disk).await
    }
    async fn domain_block_stats_flags(
        &self,
        dom: &DomainRef,
        disk: &str,
        f: u32,
    ) -> Result<Vec<TypedParam>> {
        self.stats_block_stats_flags(dom, disk, f).await
    }
    async fn domain_get_block_info(
        &self,
        dom: &DomainRef,
        disk: &str,
        f: u32,
    ) -> Result<BlockInfo> {
        self.stats_block_info(dom, disk, f).await
    }
    async fn domain_interface_stats(
        &self,
        dom: &DomainRef,
        device: &str,
    ) -> Result<InterfaceStats> {
        self.stats_interface_stats(dom, device).await
    }
    async fn domain_memory_stats(
        &self,
        dom: &DomainRef,
        max: u32,
        f: u32,
    ) -> Result<Vec<MemoryStat>> {
        self.stats_memory_stats(dom, max, f).await
    }
    async fn domain_get_cpu_stats(
        &self,
        dom: &DomainRef,
        nparams: u32,
        start: i32,
        ncpus: u32,
        f: u32,
    ) -> Result<(Vec<TypedParam>, i32)> {
        self.stats_cpu_stats(dom, nparams, start, ncpus, f).await
    }
    async fn domain_get_vcpu_info(
        &self,
        dom: &DomainRef,
        max: u32,
        map_len: u32,
    ) -> Result<(Vec<VcpuInfo>, Vec<u8>)> {
        self.stats_vcpu_info(dom, max, map_len).await
    }
    async fn domain_get_max_vcpus(&self, dom: &DomainRef) -> Result<i32> {
        self.stats_max_vcpus(dom).await
    }
    async fn domain_get_vcpu_pin_info(
        &self,
        dom: &DomainRef,
        max: u32,
        map_len: u32,
        f: u32,
    ) -> Result<(u32, Vec<u8>)> {
        self.stats_vcpu_pin_info(dom, max, map_len, f).await
    }
    async fn domain_get_emulator_pin_info(
        &self,
        dom: &DomainRef,
        map_len: u32,
        f: u32,
    ) -> Result<Vec<u8>> {
        self.stats_emulator_pin_info(dom, map_len, f).await
    }
    async fn domain_set_memory_stats_period(
        &self,
        dom: &DomainRef,
        period: i32,
        period_flags: u32,
    ) -> Result<()> {
        self.set_memory_stats_period(dom, period, period_flags)
            .await
    }
    async fn domain_get_control_info(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<crate::driver::types::ControlInfo> {
        check_flags(flags, 0, "virDomainGetControlInfo")?;
        let (state, details, state_time_ms) = match self.monitor(dom) {
            // VIR_DOMAIN_CONTROL_JOB: a background job (an outgoing migration) and how long it has run.
            Ok(_) => match self.migration_job_info(dom) {
                Some(job) => (1, 0, job.time_elapsed),
                // VIR_DOMAIN_CONTROL_OK. A monitor command in flight (libvirt's "occupied") is not tracked.
                None => (0, 0, 0),
            },
            // VIR_DOMAIN_CONTROL_ERROR, VIR_DOMAIN_CONTROL_ERROR_REASON_MONITOR: running without a monitor.
            Err(err) if err.code == ErrorCode::OPERATION_FAILED => (3, 2, 0),
            Err(err) => return Err(err),
        };
        Ok(crate::driver::types::ControlInfo {
            state,
            details,
            state_time_ms,
        })
    }
    async fn domain_get_job_info(&self, dom: &DomainRef) -> Result<JobInfo> {
        match self.migration_job_info(dom) {
            Some(info) => Ok(info),
            None => self.stats_job_info(dom).await,
        }
    }
    async fn domain_get_job_stats(
        &self,
        dom: &DomainRef,
        f: u32,
    ) -> Result<(i32, Vec<TypedParam>)> {
        // VIR_DOMAIN_JOB_STATS_COMPLETED
        match self.migration_job_stats(dom, f & 1 != 0) {
            Some(stats) => Ok(stats),
            None => self.stats_job_stats(dom, f).await,
        }
    }
    // ---- migration (migration.rs) ----
    async fn supports_feature(&self, feature: i32) -> Result<bool> {
        Ok(self.migration_supports(feature))
    }
    async fn domain_migrate_begin3_params(
        &self,
        dom: &DomainRef,
        params: Vec<TypedParam>,
        f: u32,
    ) -> Result<(Vec<u8>, String)> {
        self.migrate_begin(dom, params, f).await
    }
    async fn domain_migrate_prepare3_params(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        f: u32,
    ) -> Result<(Vec<u8>, Option<String>)> {
        self.migrate_prepare(params, cookie_in, f).await
    }
    async fn domain_migrate_prepare_tunnel3_params(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        f: u32,
    ) -> Result<(Vec<u8>, crate::driver::Stream)> {
        self.migrate_prepare_tunnel(params, cookie_in, f).await
    }
    async fn domain_migrate_perform3_params(
        &self,
        dom: &DomainRef,
        dconnuri: Option<String>,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        f: u32,
    ) -> Result<Vec<u8>> {
        self.migrate_perform(dom, dconnuri, params, cookie_in, f)
            .await
    }
    async fn domain_migrate_finish3_params(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        f: u32,
        cancelled: bool,
    ) -> Result<(DomainRef, Vec<u8>)> {
        self.migrate_finish(params, cookie_in, f, cancelled).await
    }
    async fn domain_migrate_confirm3_params(
        &self,
        dom: &DomainRef,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        f: u32,
        cancelled: bool,
    ) -> Result<()> {
        self.migrate_confirm(dom, params, cookie_in, f, cancelled)
            .await
    }
    async fn domain_abort_job(&self, dom: &DomainRef) -> Result<()> {
        self.migrate_abort(dom).await
    }
    async fn domain_migrate_set_max_speed(
        &self,
        dom: &DomainRef,
        bandwidth: u64,
        f: u32,
    ) -> Result<()> {
        self.migrate_set_max_speed(dom, bandwidth, f).await
    }
    async fn domain_migrate_get_max_speed(&self, dom: &DomainRef, f: u32) -> Result<u64> {
        self.migrate_get_max_speed(dom, f).await
    }
    async fn domain_migrate_set_max_downtime(
        &self,
        dom: &DomainRef,
        downtime: u64,
        f: u32,
    ) -> Result<()> {
        self.migrate_set_max_downtime(dom, downtime, f).await
    }
    async fn domain_migrate_get_max_downtime(&self, dom: &DomainRef, f: u32) -> Result<u64> {
        self.migrate_get_max_downtime(dom, f).await
    }
    async fn domain_get_scheduler_type(&self, dom: &DomainRef) -> Result<(String, i32)> {
        self.stats_scheduler_type(dom).await
    }
    async fn domain_get_scheduler_parameters(
        &self,
        dom: &DomainRef,
        f: u32,
    ) -> Result<Vec<TypedParam>> {
        self.stats_scheduler_parameters(dom, f).await
    }
    async fn connect_get_all_domain_stats(
        &self,
        doms: &[DomainRef],
        stats: u32,
        f: u32,
    ) -> Result<Vec<DomainStatsRecord>> {
        self.stats_all_domains(doms, stats, f).await
    }
    async fn get_domain_capabilities(
        &self,
        emulator: Option<String>,
        arch: Option<String>,
        machine: Option<String>,
        virt_type: Option<String>,
        f: u32,
    ) -> Result<String> {
        self.domain_capabilities(emulator, arch, machine, virt_type, f)
            .await
    }
}
