//! The daemon's life: configuration in, state dir locked, drivers opened, front-end services started, signals
//! handled, everything stopped cleanly.
//!
//! Front ends (the native RPC listeners, the WBEM listeners) are services: futures started with
//! [`Daemon::spawn_service`] that hold driver handles from [`Daemon::driver`] and end when their [`Shutdown`]
//! fires. The daemon itself never reaches into a particular driver.

use crate::config::{Config, ConfigError};
use crate::connect::{LazyDrivers, Registry};
use crate::driver::qemu::{QemuDriver, QemuMode};
use crate::driver::test::TestDriver;
use crate::driver::Connection;
use crate::error::{io_error_text, Error};
use crate::listener::Services;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::future::Future;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// The URI of the embedded test driver the daemon serves.
pub const TEST_URI: &str = "test:///default";

/// How long stopping waits for services to finish before abandoning them.
const SERVICE_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Name of the lock file that marks a state dir as owned by one process.
const STATE_LOCK_FILE: &str = "virtcimd.lock";

/// What the command line adds to the configuration.
#[derive(Clone, Debug, Default)]
pub struct DaemonOptions {
    /// Write the daemon's pid here while it runs (libvirtd's `--pid-file`). `None`: no pid file.
    pub pid_file: Option<PathBuf>,
}

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("state directory {}: {message}", path.display())]
    StateDir { path: PathBuf, message: String },
    #[error("state directory {} is in use by another process{holder}; only one daemon may own it", path.display())]
    StateDirBusy { path: PathBuf, holder: String },
    #[error("cannot open driver {uri}: {source}")]
    Driver {
        uri: String,
        #[source]
        source: Error,
    },
    #[error("pid file {}: {message}", path.display())]
    PidFile { path: PathBuf, message: String },
    #[error("cannot install signal handlers: {}", io_error_text(.0))]
    Signals(#[source] std::io::Error),
    #[error("native RPC: {0}")]
    Rpc(String),
    /// The WBEM front end's message as it stands (it names the key or address at fault).
    #[error("{0}")]
    Wbem(String),
}

pub use crate::listener::Shutdown;

/// The exclusive lock on a state dir, held for the daemon's life.
#[derive(Debug)]
struct StateLock {
    _file: Flock<File>,
}

impl StateLock {
    /// Creates the state dir (mode 0700) if needed, takes its lock without waiting, and records our pid in it.
    fn acquire(dir: &Path) -> Result<Self, DaemonError> {
        let state_dir_error = |message: String| DaemonError::StateDir {
            path: dir.to_path_buf(),
            message,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| state_dir_error(format!("cannot create it: {}", io_error_text(&err))))?;
        if !dir.is_dir() {
            return Err(state_dir_error("not a directory".into()));
        }
        let lock_path = dir.join(STATE_LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|err| {
                state_dir_error(format!(
                    "cannot open {}: {}",
                    lock_path.display(),
                    io_error_text(&err)
                ))
            })?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => String::new(),
                    pid => format!(" (pid {pid})"),
                };
                return Err(DaemonError::StateDirBusy {
                    path: dir.to_path_buf(),
                    holder,
                });
            }
            Err((_, errno)) => {
                return Err(state_dir_error(format!(
                    "cannot lock {}: {}",
                    lock_path.display(),
                    errno.desc()
                )))
            }
        };
        let record = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.sync_all());
        record.map_err(|err| {
            state_dir_error(format!(
                "cannot write {}: {}",
                lock_path.display(),
                io_error_text(&err)
            ))
        })?;
        Ok(Self { _file: file })
    }
}

/// The running daemon: its configuration, its drivers and its services.
pub struct Daemon {
    config: Config,
    drivers: Vec<(String, Connection)>,
    services: Services,
    pid_file: Option<PathBuf>,
    state_lock: Option<StateLock>,
    qemu: Arc<QemuDrivers>,
    /// URIs to connections for both front ends: the drivers above, and remote ones for `wbem_connect_uri`.
    registry: Arc<Registry>,
    /// The RPC front end (its threads serve the unix and TCP clients); started with the RPC listeners.
    rpc: Option<crate::rpc::listeners::RpcFrontEnd>,
}

impl Daemon {
    /// Locks the state dir, opens the drivers and writes the pid file. Listeners are started afterwards as
    /// services.
    pub async fn start(config: Config, options: DaemonOptions) -> Result<Self, DaemonError> {
        let state_lock = StateLock::acquire(&config.state_dir)?;
        info!(state_dir = %config.state_dir.display(), "state directory locked");
        let host_uuid = match &config.host_uuid {
            Some(text) => crate::driver::host_uuid::parse_configured(text).ok(),
            None => None,
        };
        let host_uuid = match host_uuid {
            Some(uuid) => uuid,
            None => crate::driver::host_uuid::load_or_create(&config.state_dir).map_err(|err| {
                DaemonError::StateDir {
                    path: config.state_dir.clone(),
                    message: format!("cannot keep the host UUID: {}", io_error_text(&err)),
                }
            })?,
        };
        crate::driver::host_uuid::set_host_uuid(host_uuid);
        info!(%host_uuid, "host UUID");

        let test_dir = config.state_dir.join("test");
        let test = TestDriver::open_connection(&test_dir)
            .await
            .map_err(|source| DaemonError::Driver {
                uri: TEST_URI.to_string(),
                source,
            })?;
        info!(uri = TEST_URI, dir = %test_dir.display(), "driver opened");
        let drivers: Vec<(String, Connection)> = vec![(TEST_URI.to_string(), test)];
        let qemu = Arc::new(QemuDrivers::new(
            &config.state_dir,
            nix::unistd::geteuid().is_root(),
        ));
        // Opened in the background so the QEMU probe and re-adopting running guests never delay "ready"; a
        // client naming a qemu URI meanwhile waits for that open.
        for slot in &qemu.slots {
            let slot = Arc::clone(slot);
            tokio::spawn(async move {
                let _ = slot.get().await;
            });
        }

        if let Some(path) = &options.pid_file {
            write_pid_file(path)?;
            info!(path = %path.display(), "pid file written");
        }
        crate::driver::migration::set_peer_opener(Arc::new(crate::connect::PeerRegistry));
        let registry = Arc::new(Registry::owning(
            drivers.clone(),
            Some(Arc::clone(&qemu) as Arc<dyn LazyDrivers>),
        ));
        Ok(Self {
            config,
            registry,
            drivers,
            services: Services::new(),
            pid_file: options.pid_file,
            state_lock: Some(state_lock),
            qemu,
            rpc: None,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The driver serving `uri` (as a client names it in CONNECT_OPEN), if this daemon has one.
    /// QEMU drivers count once their background open has finished.
    pub fn driver(&self, uri: &str) -> Option<Connection> {
        self.drivers
            .iter()
            .find(|(name, _)| name == uri)
            .map(|(_, driver)| driver.clone())
            .or_else(|| {
                let slot = self.qemu.slot(uri)?;
                slot.opened().map(|driver| driver.connection())
            })
    }

    /// Like [`Daemon::driver`], but waits for a QEMU driver's open (for front ends started right after start,
    /// such as WBEM with `wbem_connect_uri = "qemu:///system"`).
    pub async fn driver_when_open(&self, uri: &str) -> Option<Connection> {
        if let Some(driver) = self.driver(uri) {
            return Some(driver);
        }
        let slot = self.qemu.slot(uri)?;
        slot.get().await.ok().map(|driver| driver.connection())
    }

    /// The URIs of the drivers this daemon serves (QEMU ones whether or not their open has finished yet).
    pub fn driver_uris(&self) -> Vec<String> {
        self.drivers
            .iter()
            .map(|(uri, _)| uri.clone())
            .chain(self.qemu.slots.iter().map(|slot| slot.uri.to_string()))
            .collect()
    }

    /// The registry both front ends open connections from.
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// The driver the WBEM providers use: `wbem_connect_uri`, else the daemon's default (`test:///default`).
    pub fn wbem_driver_uri(&self) -> &str {
        self.config.wbem_connect_uri.as_deref().unwrap_or(TEST_URI)
    }

    /// A handle that fires when the daemon stops; every service holds one.
    pub fn shutdown(&self) -> Shutdown {
        self.services.shutdown()
    }

    /// Runs `service` until it ends on its own or after [`Shutdown`] fires. An `Err` is logged when the daemon
    /// stops; a service that ends early does not stop the others.
    pub fn spawn_service<F>(&mut self, name: &'static str, service: F)
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.services.spawn(name, service);
    }

    /// Waits for SIGTERM or SIGINT (SIGHUP is logged and ignored), then stops. The handlers are installed before
    /// this returns its future, so a signal that comes after "ready" is never lost.
    pub async fn run(self) -> Result<(), DaemonError> {
        let signals = Signals::install().map_err(DaemonError::Signals)?;
        self.warn_about_missing_front_ends();
        info!(pid = std::process::id(), drivers = ?self.driver_uris(), "virtcimd ready");
        let name = signals.wait().await;
        info!(signal = name, "signal received, stopping");
        self.stop().await;
        Ok(())
    }

    /// Listeners the configuration asks for that this build cannot start yet are named, not silently skipped.
    fn warn_about_missing_front_ends(&self) {
        let config = &self.config;
        let requested = [
            ("listen_tcp", config.listen_tcp),
            ("listen_wbem_http", config.listen_wbem_http),
            ("listen_wbem_https", config.listen_wbem_https),
        ];
        for (key, on) in requested {
            if on && self.services.is_empty() {
                warn!(
                    key,
                    "listener requested but this build has no network front end yet"
                );
            }
        }
    }

    /// Runs until `stop` resolves, then stops (for tests and embedding).
    pub async fn run_until(self, stop: impl Future<Output = ()>) {
        info!(pid = std::process::id(), drivers = ?self.driver_uris(), "virtcimd ready");
        stop.await;
        self.stop().await;
    }

    /// Tells every service to end, waits for them (bounded), closes the drivers, removes the pid file and releases
    /// the state dir.
    pub async fn stop(mut self) {
        self.services.stop(SERVICE_STOP_TIMEOUT).await;
        // QEMU drivers: waits for an open still under way; their guests keep running for the next daemon.
        let mut qemu: Vec<(String, Connection)> = Vec::new();
        for slot in &self.qemu.slots {
            if let Some(driver) = slot.take().await {
                qemu.push((slot.uri.to_string(), driver));
            }
        }
        // The RPC connections end before the drivers they call are closed.
        if let Some(rpc) = self.rpc.take() {
            rpc.stop().await;
        }
        let drivers = std::mem::take(&mut self.drivers);
        for (uri, driver) in drivers.into_iter().chain(qemu) {
            match driver.close().await {
                Ok(()) => info!(uri = %uri, "driver closed"),
                Err(err) => warn!(uri = %uri, error = %err, "driver close failed"),
            }
        }
        if let Some(path) = self.pid_file.take() {
            if let Err(err) = std::fs::remove_file(&path) {
                warn!(path = %path.display(), error = %io_error_text(&err), "cannot remove pid file");
            }
        }
        drop(self.state_lock.take());
        info!("virtcimd stopped");
    }
}

fn write_pid_file(path: &Path) -> Result<(), DaemonError> {
    let pid_error = |err: std::io::Error| DaemonError::PidFile {
        path: path.to_path_buf(),
        message: io_error_text(&err),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(pid_error)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .map_err(pid_error)?;
    writeln!(file, "{}", std::process::id()).map_err(pid_error)
}

/// SIGTERM, SIGINT and SIGHUP, caught.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The name of the first stopping signal.
    async fn wait(mut self) -> &'static str {
        loop {
            tokio::select! {
                _ = self.term.recv() => return "SIGTERM",
                _ = self.int.recv() => return "SIGINT",
                _ = self.hup.recv() => {
                    warn!("SIGHUP received: configuration reload is not supported; ignored");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The QEMU drivers: one process owns the guests, so `qemu:///system` and `qemu:///session` live here only.

const QEMU_SYSTEM_URI: &str = "qemu:///system";
const QEMU_SESSION_URI: &str = "qemu:///session";

/// One QEMU driver the daemon serves, opened once (a failed open is retried by the next client that names it).
pub struct QemuSlot {
    uri: &'static str,
    mode: QemuMode,
    state_dir: PathBuf,
    driver: tokio::sync::Mutex<Option<Arc<QemuDriver>>>,
    /// The daemon's main runtime, where the driver is opened (see [`QemuSlot::get`]).
    runtime: Option<tokio::runtime::Handle>,
}

impl QemuSlot {
    fn new(uri: &'static str, mode: QemuMode, state_dir: &Path) -> Self {
        Self {
            uri,
            mode,
            state_dir: state_dir.to_path_buf(),
            driver: tokio::sync::Mutex::new(None),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// The driver, opening it first if needed (which finds running guests again and autostarts the others).
    async fn get(&self) -> crate::error::Result<Arc<QemuDriver>> {
        let mut slot = self.driver.lock().await;
        if let Some(driver) = slot.as_ref() {
            return Ok(Arc::clone(driver));
        }
        let started = std::time::Instant::now();
        let (dir, mode) = (self.state_dir.clone(), self.mode);
        let opening = async move { QemuDriver::open(&dir, mode).await };
        // Opened on the daemon's main runtime, whichever front end asked first: the driver keeps its guests'
        // monitors and child processes on the runtime it was opened on.
        let opened = match &self.runtime {
            Some(runtime) => runtime.spawn(opening).await.unwrap_or_else(|err| {
                Err(crate::error::Error::internal(
                    crate::error::ErrorDomain::QEMU,
                    format!("opening the driver did not finish: {err}"),
                ))
            }),
            None => opening.await,
        };
        match opened {
            Ok(driver) => {
                for warning in driver.load_warnings() {
                    warn!(uri = self.uri, warning = %warning, "state file skipped");
                }
                info!(
                    uri = self.uri,
                    elapsed_ms = started.elapsed().as_millis(),
                    "driver opened"
                );
                *slot = Some(Arc::clone(&driver));
                Ok(driver)
            }
            Err(err) => {
                warn!(uri = self.uri, error = %err, "cannot open driver");
                Err(err)
            }
        }
    }

    /// The driver if its open has finished (never waits).
    fn opened(&self) -> Option<Arc<QemuDriver>> {
        self.driver.try_lock().ok().and_then(|slot| slot.clone())
    }

    /// Removes the driver for closing, after any open under way.
    async fn take(&self) -> Option<Connection> {
        self.driver
            .lock()
            .await
            .take()
            .map(|driver| driver.connection())
    }
}

/// The QEMU drivers this daemon may serve: `qemu:///system` when running as root (libvirt's rule: the system
/// instance needs root), `qemu:///session` always.
pub struct QemuDrivers {
    slots: Vec<Arc<QemuSlot>>,
    privileged: bool,
}

impl QemuDrivers {
    fn new(state_dir: &Path, privileged: bool) -> Self {
        let mut slots = Vec::new();
        if privileged {
            slots.push(Arc::new(QemuSlot::new(
                QEMU_SYSTEM_URI,
                QemuMode::System,
                state_dir,
            )));
        }
        slots.push(Arc::new(QemuSlot::new(
            QEMU_SESSION_URI,
            QemuMode::Session,
            state_dir,
        )));
        Self { slots, privileged }
    }

    fn slot(&self, uri: &str) -> Option<&Arc<QemuSlot>> {
        self.slots.iter().find(|slot| slot.uri == uri)
    }
}

#[async_trait::async_trait]
impl LazyDrivers for QemuDrivers {
    /// CONNECT_OPEN of a canonical qemu URI; `None` when `uri` is not one.
    async fn open(&self, uri: &str) -> Option<crate::error::Result<Connection>> {
        if let Some(slot) = self.slot(uri) {
            return Some(slot.get().await.map(|driver| driver.connection()));
        }
        if uri == QEMU_SYSTEM_URI && !self.privileged {
            // libvirt's answer from an unprivileged daemon.
            return Some(Err(Error::internal(
                crate::error::ErrorDomain::QEMU,
                "unexpected QEMU URI path '/system', try qemu:///session",
            )));
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The native RPC front end: listeners from the configuration, CONNECT_OPEN names to the daemon's own drivers.

impl Daemon {
    /// Starts both front ends the configuration asks for, the same way: settings derived from the configuration,
    /// the drivers they serve, and this daemon's services to run their listeners.
    pub async fn start_front_ends(&mut self) -> Result<(), DaemonError> {
        self.start_rpc().await?;
        self.start_wbem().await?;
        Ok(())
    }

    /// Starts the native RPC listeners the configuration asks for: `libvirt-sock` (read-write) and
    /// `libvirt-sock-ro` (read-only) in `unix_sock_dir`, TCP on `listen_addr:tcp_port` with `listen_tcp = 1`, TLS
    /// on `listen_addr:tls_port` with `listen_tls = 1`. Everything is bound before this returns, so a busy address
    /// or socket is an error here, not later.
    pub async fn start_rpc(&mut self) -> Result<(), DaemonError> {
        let settings = self.rpc_settings()?;
        let opener = Arc::clone(&self.registry);
        let rpc = crate::rpc::listeners::start(settings, opener, &mut self.services)
            .await
            .map_err(DaemonError::Rpc)?;
        self.rpc = Some(rpc);
        Ok(())
    }

    /// Starts the WBEM listeners the configuration asks for (`listen_wbem_http`, `listen_wbem_https`), serving
    /// the driver of `wbem_connect_uri`.
    pub async fn start_wbem(&mut self) -> Result<crate::wbem::WbemListeners, DaemonError> {
        let config = &self.config;
        let mut settings = crate::wbem::WbemSettings {
            listen_addr: config
                .wbem_listen_addr
                .clone()
                .unwrap_or_else(|| "0.0.0.0".into()),
            http_port: config.listen_wbem_http.then_some(config.wbem_http_port),
            https: config.listen_wbem_https.then(|| {
                let files = config.tls_files();
                crate::wbem::HttpsSettings {
                    port: config.wbem_https_port,
                    cert: files.cert,
                    key: files.key,
                }
            }),
            credentials_file: None,
            basic: false,
            client_certs: None,
            indications: crate::wbem::indications::IndicationSettings {
                store_dir: Some(config.state_dir.join("indications")),
                retry_attempts: config.wbem_indication_retry_attempts,
                retry_interval: std::time::Duration::from_secs(u64::from(
                    config.wbem_indication_retry_interval,
                )),
                queue_size: usize::try_from(config.wbem_indication_queue_size)
                    .unwrap_or(usize::MAX),
                ca_file: config.wbem_indication_ca_file.clone(),
            },
        };
        if !settings.listens() {
            return Ok(crate::wbem::WbemListeners::default());
        }
        let driver = self.wbem_driver().await.map_err(DaemonError::Wbem)?;
        let config = &self.config;
        let auth = config.wbem_auth;
        if auth != crate::config::WbemAuth::None {
            let path = config.credentials_file.clone().ok_or_else(|| {
                DaemonError::Wbem("wbem_auth other than \"none\" needs credentials_file".into())
            })?;
            settings.credentials_file = Some(path);
        }
        settings.basic = auth.basic();
        if auth.cert() && settings.https.is_some() {
            let files = config.tls_files();
            settings.client_certs = Some(crate::wbem::ClientCertSettings {
                ca: files.ca,
                crl: files.crl,
                allowed_dn_list: config.wbem_allowed_dn_list.clone(),
                required: !auth.basic(),
            });
        }
        crate::wbem::start(settings, driver, &mut self.services)
            .await
            .map_err(DaemonError::Wbem)
    }

    /// The connection the WBEM providers use. A qemu URI may still be opening in the background: the registry
    /// waits for it rather than open a second driver. A driver the daemon does not run (a remote daemon) is
    /// opened now if it answers, else on the first request, and again whenever the connection dies.
    async fn wbem_driver(&self) -> Result<Connection, String> {
        let uri = self.wbem_driver_uri().to_owned();
        self.registry
            .open_reconnecting(&uri)
            .await
            .map_err(|e| format!("wbem_connect_uri {uri}: {e}"))
    }

    /// The RPC front end's settings, from the configuration (the SASL users file is read here).
    fn rpc_settings(&self) -> Result<crate::rpc::listeners::RpcSettings, DaemonError> {
        use crate::rpc::listeners::{RpcSettings, TlsSettings, UnixSocket};
        use crate::rpc::ListenerKind;
        let config = &self.config;
        let sasl = self.rpc_sasl_settings()?;
        let keepalive_interval = u64::try_from(config.keepalive_interval)
            .ok()
            .map(Duration::from_secs);
        let server = crate::rpc::ServerConfig {
            max_client_requests: usize::try_from(config.max_client_requests).unwrap_or(usize::MAX),
            keepalive_interval,
            keepalive_count: config.keepalive_count,
            max_clients: usize::try_from(config.max_clients).unwrap_or(usize::MAX),
            max_anonymous_clients: usize::try_from(config.effective_max_anonymous_clients())
                .unwrap_or(usize::MAX),
            sasl,
            ..crate::rpc::ServerConfig::default()
        };
        let unix = vec![
            UnixSocket {
                path: config.unix_sock_rw_path(),
                perms: config.unix_sock_rw_perms,
                kind: ListenerKind {
                    auth: wire_auth(config.auth_unix_rw),
                    read_only: false,
                },
            },
            UnixSocket {
                path: config.unix_sock_ro_path(),
                perms: config.unix_sock_ro_perms,
                kind: ListenerKind {
                    auth: wire_auth(config.auth_unix_ro),
                    read_only: true,
                },
            },
        ];
        let tcp = if config.listen_tcp {
            rpc_tcp_addresses(config.listen_addr.as_deref(), config.tcp_port)?
        } else {
            Vec::new()
        };
        let tls = if config.listen_tls {
            Some(TlsSettings {
                options: tls_server_options(config),
                addrs: rpc_tcp_addresses(config.listen_addr.as_deref(), config.tls_port)?,
                kind: ListenerKind {
                    auth: wire_auth(config.auth_tls),
                    read_only: false,
                },
            })
        } else {
            None
        };
        Ok(RpcSettings {
            server,
            unix_sock_dir: config.unix_sock_dir.clone(),
            unix,
            tcp,
            tcp_kind: ListenerKind {
                auth: wire_auth(config.auth_tcp),
                read_only: false,
            },
            tls,
            threads: crate::rpc::threads::RpcThreads::default_count(),
        })
    }

    /// The SASL users and policy when any RPC listener demands SASL: the credentials file is read now (a
    /// corrupt file is a start-up error) and re-read when it changes.
    fn rpc_sasl_settings(
        &self,
    ) -> Result<Option<Arc<crate::rpc::auth::SaslSettings>>, DaemonError> {
        let config = &self.config;
        let sasl = crate::config::AuthMode::Sasl;
        let wanted_by = [
            ("auth_unix_rw", config.auth_unix_rw == sasl),
            ("auth_unix_ro", config.auth_unix_ro == sasl),
            ("auth_tcp", config.listen_tcp && config.auth_tcp == sasl),
            ("auth_tls", config.listen_tls && config.auth_tls == sasl),
        ]
        .into_iter()
        .find_map(|(key, wants)| wants.then_some(key));
        let Some(key) = wanted_by else {
            return Ok(None);
        };
        let path = config.credentials_file.as_deref().ok_or_else(|| {
            DaemonError::Rpc(format!(
                "{key} = \"sasl\" needs credentials_file (users made with virtcim-passwd)"
            ))
        })?;
        // Nobody could log in without the file: a typo in the path is better reported now.
        if !path.exists() {
            return Err(DaemonError::Rpc(format!(
                "{key} = \"sasl\" needs credentials_file {}, which does not exist \
                 (create users with virtcim-passwd -f {})",
                path.display(),
                path.display()
            )));
        }
        let settings = crate::rpc::auth::SaslSettings::from_file(
            path,
            crate::auth::DEFAULT_REALM,
            config.sasl_allowed_username_list.clone(),
        )
        .map_err(DaemonError::Rpc)?;
        Ok(Some(Arc::new(settings)))
    }
}

/// The TLS server's files and checks, as `libvirtd.conf` states them.
fn tls_server_options(config: &Config) -> crate::transport::tls::TlsServerOptions {
    use crate::transport::tls::{DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_HANDSHAKES};
    let files = config.tls_files();
    crate::transport::tls::TlsServerOptions {
        key: files.key,
        cert: files.cert,
        ca: files.ca,
        crl: files.crl,
        verify_client: !config.tls_no_verify_certificate,
        allowed_dn_list: config.tls_allowed_dn_list.clone(),
        handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        max_handshakes: usize::try_from(config.effective_max_anonymous_clients())
            .unwrap_or(DEFAULT_MAX_HANDSHAKES)
            .max(1),
    }
}

/// `listen_addr:tcp_port`, or every address (IPv6 and IPv4) when `listen_addr` is not set.
fn rpc_tcp_addresses(listen_addr: Option<&str>, port: u16) -> Result<Vec<String>, DaemonError> {
    match listen_addr {
        Some(addr) if addr.contains(':') && !addr.starts_with('[') => {
            Ok(vec![format!("[{addr}]:{port}")])
        }
        Some(addr) => Ok(vec![format!("{addr}:{port}")]),
        // A dual-stack IPv6 socket also takes IPv4; a host without IPv6 falls back below.
        None => {
            let v6 = std::net::TcpListener::bind(("::", 0)).is_ok();
            Ok(vec![if v6 {
                format!("[::]:{port}")
            } else {
                format!("0.0.0.0:{port}")
            }])
        }
    }
}

/// The config file used when none is given: `/etc/virtcim/virtcimd.conf` for root, else
/// `$XDG_CONFIG_HOME/virtcim/virtcimd.conf` (default `~/.config/virtcim/virtcimd.conf`).
pub fn default_config_path() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/etc/virtcim/virtcimd.conf");
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into())).join(".config")
        }
    };
    base.join("virtcim/virtcimd.conf")
}

/// The AUTH_LIST answer for a listener's configured authentication.
fn wire_auth(mode: crate::config::AuthMode) -> i32 {
    match mode {
        crate::config::AuthMode::Sasl => crate::rpc::proto::auth_type::SASL,
        _ => crate::rpc::proto::auth_type::NONE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_dir_has_one_owner() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("state");
        let first = StateLock::acquire(&dir).expect("first lock");
        let pid = std::fs::read_to_string(dir.join(STATE_LOCK_FILE)).expect("lock file");
        assert_eq!(pid.trim(), std::process::id().to_string());
        match StateLock::acquire(&dir) {
            Err(DaemonError::StateDirBusy { holder, .. }) => {
                assert_eq!(holder, format!(" (pid {})", std::process::id()))
            }
            other => panic!("second lock: {other:?}"),
        }
        drop(first);
        StateLock::acquire(&dir).expect("lock after release");
    }

    #[test]
    fn a_file_is_not_a_state_dir() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("plain");
        std::fs::write(&file, b"x").expect("write");
        assert!(matches!(
            StateLock::acquire(&file),
            Err(DaemonError::StateDir { .. })
        ));
    }

    #[tokio::test]
    async fn services_stop_with_the_daemon() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = Config {
            state_dir: tmp.path().join("state"),
            ..Config::default()
        };
        let pid_file = tmp.path().join("run/virtcimd.pid");
        let mut daemon = Daemon::start(
            config,
            DaemonOptions {
                pid_file: Some(pid_file.clone()),
            },
        )
        .await
        .expect("start");
        assert!(pid_file.exists());
        assert!(daemon.driver(TEST_URI).is_some());
        assert!(daemon
            .driver_uris()
            .contains(&"qemu:///session".to_string()));
        let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
        let mut shutdown = daemon.shutdown();
        daemon.spawn_service("probe", async move {
            shutdown.wait().await;
            let _ = seen_tx.send(());
            Ok(())
        });
        daemon.run_until(async {}).await;
        seen_rx.await.expect("service saw the shutdown");
        assert!(!pid_file.exists());
    }

    #[tokio::test]
    async fn an_unprivileged_daemon_serves_only_the_session_driver() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let qemu = QemuDrivers::new(tmp.path(), false);
        match qemu.open(QEMU_SYSTEM_URI).await {
            Some(Err(err)) => assert_eq!(
                err.message,
                "internal error: unexpected QEMU URI path '/system', try qemu:///session"
            ),
            other => panic!("system open: {:?}", other.map(|r| r.map(|_| ()))),
        }
        assert!(matches!(qemu.open(QEMU_SESSION_URI).await, Some(Ok(_))));
        assert!(qemu.open("test:///default").await.is_none());
    }
}
