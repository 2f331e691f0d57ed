//! The one registry that turns a URI into a [`Connection`], for the daemon, the WBEM front end, the CLI and the
//! tests alike.
//!
//! As with libvirt, `test:///default` opens inside the process that asks (its state under a state dir, locked
//! by one process at a time, so the registry keeps the one it opened); stateful drivers (`qemu:///...`) live in
//! the daemon, which registers them here; every other URI is reached through the remote driver. A daemon
//! serving CONNECT_OPEN only ever hands out the drivers it owns.

mod reconnect;

pub use crate::config::default_state_dir;
use crate::driver::test::TestDriver;
use crate::driver::Connection;
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::remote::{RemoteDriver, RemoteOptions};
use crate::uri::Uri;
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;

pub use reconnect::Reconnecting;
/// What a caller can tell `connect` besides the URI.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Where an in-process driver keeps its state; `None` is [`default_state_dir`].
    pub state_dir: Option<PathBuf>,
    /// Open read-only: every state-changing call is refused with code 29.
    pub read_only: bool,
}

/// Drivers a daemon opens lazily (its QEMU drivers, opened in the background at start), by canonical URI.
#[async_trait]
pub trait LazyDrivers: Send + Sync {
    /// `None` when `canonical` is not one of them.
    async fn open(&self, canonical: &str) -> Option<Result<Connection>>;
}

/// URIs to connections: the drivers this process owns, the in-process test driver, and the remote driver.
pub struct Registry {
    options: ConnectOptions,
    /// Drivers this process owns, by canonical URI; the first is the default for clients that send no name.
    owned: Vec<(String, Connection)>,
    lazy: Option<Arc<dyn LazyDrivers>>,
    /// The in-process `test:///default`, once opened (its state dir is locked, so it is opened once).
    in_process: tokio::sync::Mutex<Option<Connection>>,
    /// The name served to clients that send none, when nothing is owned.
    default_uri: String,
}

impl Registry {
    /// A client's registry: `test:///default` in process under `options.state_dir`, everything else remote.
    pub fn new(options: ConnectOptions) -> Self {
        Self {
            options,
            owned: Vec::new(),
            lazy: None,
            in_process: tokio::sync::Mutex::new(None),
            default_uri: TEST_DEFAULT.to_string(),
        }
    }

    /// A daemon's registry: the drivers it owns (the first is the default) and those it opens lazily.
    pub fn owning(owned: Vec<(String, Connection)>, lazy: Option<Arc<dyn LazyDrivers>>) -> Self {
        Self {
            owned,
            lazy,
            ..Self::new(ConnectOptions::default())
        }
    }

    /// Opens what `uri` names, as a client does: an owned driver, the in-process test driver, or a remote one.
    pub async fn open(&self, uri: &str, read_only: bool) -> Result<Connection> {
        let parsed = Uri::parse(uri)?;
        check_missing_slash(uri, &parsed)?;
        if parsed.is_local_in_process()
            || parsed.explicit_transport.is_none() && parsed.host.is_none()
        {
            if let Some(conn) = self.owned(&canonical(&parsed)).await {
                return conn.map(|c| view(c, read_only));
            }
        }
        if parsed.is_local_in_process() {
            return self.in_process(&parsed).await.map(|c| view(c, read_only));
        }
        // Everything else lives in a daemon: the remote driver, with the read-only flag sent in CONNECT_OPEN and the
        // same local refusal an in-process read-only connection gives (libvirt's library refuses before any RPC).
        let remote_options = RemoteOptions {
            read_only,
            ..RemoteOptions::default()
        };
        let driver = RemoteDriver::open(&parsed, uri, &remote_options).await?;
        Ok(view(driver.connection(), read_only))
    }

    /// Like [`Registry::open`], but a URI served by another daemon gets a connection that is opened lazily and
    /// again whenever it dies (for front ends that start before that daemon and outlive its restarts).
    pub async fn open_reconnecting(&self, uri: &str) -> Result<Connection> {
        let parsed = Uri::parse(uri)?;
        let elsewhere = !parsed.is_local_in_process()
            && (parsed.explicit_transport.is_some()
                || parsed.host.is_some()
                || self.owned(&canonical(&parsed)).await.is_none());
        if elsewhere {
            return Ok(Connection::forwarding(
                Reconnecting::open(uri, self.options.clone()).await,
            ));
        }
        self.open(uri, false).await
    }

    /// The driver a client's CONNECT_OPEN names (`None`: the default): only drivers living in this process are
    /// served, never a new remote connection (which could be to this very daemon, without end).
    pub async fn open_served(&self, name: Option<&str>) -> Result<Connection> {
        let Some(name) = name else {
            if let Some((_, conn)) = self.owned.first() {
                return Ok(conn.clone());
            }
            return self.in_process(&Uri::parse(&self.default_uri)?).await;
        };
        // The name a client sends has no transport or host left ("test:///default"); query parameters do not
        // select a different driver.
        let parsed = match Uri::parse(name) {
            Ok(uri) if uri.explicit_transport.is_none() && uri.host.is_none() => uri,
            _ => return Err(Error::no_driver(name)),
        };
        let canonical = canonical(&parsed);
        if let Some(conn) = self.owned(&canonical).await {
            return conn;
        }
        if self.owned.is_empty() && parsed.is_local_in_process() {
            return self.in_process(&parsed).await;
        }
        match canonical.as_str() {
            // Not loaded here: libvirt's answer for a driver that is not loaded.
            QEMU_SYSTEM | QEMU_SESSION => Err(Error::no_driver(&canonical)),
            _ => Err(Error::no_driver(name)),
        }
    }

    async fn owned(&self, canonical: &str) -> Option<Result<Connection>> {
        if let Some((_, conn)) = self.owned.iter().find(|(uri, _)| uri == canonical) {
            return Some(Ok(conn.clone()));
        }
        match &self.lazy {
            Some(lazy) => lazy.open(canonical).await,
            None => None,
        }
    }

    async fn in_process(&self, parsed: &Uri) -> Result<Connection> {
        match parsed.path.as_str() {
            "/default" => {}
            "" | "/" => {
                return Err(Error::invalid_arg(
                    ErrorDomain::TEST,
                    "testOpen: supply a path or use test:///default",
                ))
            }
            path => {
                return Err(Error::with_detail(
                    ErrorCode::NO_SUPPORT,
                    ErrorDomain::TEST,
                    format!(
                        "test driver configuration files are not supported ('{path}'); use test:///default"
                    ),
                ))
            }
        }
        let mut slot = self.in_process.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let dir = self
            .options
            .state_dir
            .clone()
            .unwrap_or_else(default_state_dir);
        let conn = TestDriver::open_connection(&dir.join("test")).await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

#[async_trait]
impl crate::rpc::DriverOpener for Registry {
    async fn open(&self, name: Option<&str>, _read_only: bool) -> Result<Connection> {
        // Read-only is enforced per client by the dispatcher; the shared connection stays read-write.
        self.open_served(name).await
    }

    /// Connections are the registry's, shared by every client: a client leaving closes nothing.
    async fn release(&self, _conn: Connection) {}
}

/// The default URI of the in-process test driver.
pub const TEST_DEFAULT: &str = "test:///default";
/// The canonical QEMU URIs.
pub const QEMU_SYSTEM: &str = "qemu:///system";
pub const QEMU_SESSION: &str = "qemu:///session";

/// The name a driver is registered under: scheme and path, without transport, host or parameters.
fn canonical(uri: &Uri) -> String {
    format!("{}://{}", uri.driver, uri.path)
}

fn view(conn: Connection, read_only: bool) -> Connection {
    if read_only {
        conn.read_only()
    } else {
        conn
    }
}

/// Opens the connection that serves `uri` with a registry of its own (a client that opens one URI).
pub async fn connect(uri: &str, options: &ConnectOptions) -> Result<Connection> {
    Registry::new(options.clone())
        .open(uri, options.read_only)
        .await
}

/// Opens migration destinations for a daemon's drivers (`virsh migrate --p2p`): every URI through a client
/// registry of its own, so a daemon never hands its own drivers to itself as a peer.
pub struct PeerRegistry;

#[async_trait]
impl crate::driver::migration::PeerOpener for PeerRegistry {
    async fn open(&self, uri: &str) -> Result<Connection> {
        connect(uri, &ConnectOptions::default()).await
    }
}

/// libvirt refuses `qemu://system` (a host called "system") with a hint, for drivers whose path is mandatory.
fn check_missing_slash(text: &str, uri: &Uri) -> Result<()> {
    let mandatory_path = matches!(uri.driver.as_str(), "qemu" | "vbox" | "vz");
    match uri.host.as_deref() {
        Some(host @ ("system" | "session")) if mandatory_path => Err(Error::internal(
            ErrorDomain::NONE,
            format!(
                "invalid URI {text} (maybe you want {}:///{host})",
                uri.driver
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open(uri: &str, dir: &std::path::Path) -> Result<Connection> {
        let options = ConnectOptions {
            state_dir: Some(dir.to_path_buf()),
            read_only: false,
        };
        connect(uri, &options).await
    }

    #[tokio::test]
    async fn test_default_opens_in_process() {
        let tmp = tempfile::tempdir().expect("tempdir");
        open("test:///default", tmp.path())
            .await
            .expect("test:///default");
    }

    #[tokio::test]
    async fn other_uris_get_libvirt_like_errors() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cases = [
            ("test:///", ErrorCode::INVALID_ARG, "supply a path"),
            (
                "test:///etc/custom.xml",
                ErrorCode::NO_SUPPORT,
                "test:///default",
            ),
            (
                "test+unix:///default?socket=/nonexistent/virtcim-sock",
                ErrorCode::SYSTEM_ERROR,
                "Failed to connect socket to '/nonexistent/virtcim-sock': No such file or directory",
            ),
            (
                "qemu+tcp://127.0.0.1:1/system",
                ErrorCode::SYSTEM_ERROR,
                "unable to connect to server at '127.0.0.1:1': Connection refused",
            ),
            (
                "qemu+tls://127.0.0.1/system?pkipath=/nonexistent",
                ErrorCode::SYSTEM_ERROR,
                "Cannot read CA certificate '/nonexistent/cacert.pem'",
            ),
            (
                "qemu://system",
                ErrorCode::INTERNAL_ERROR,
                "maybe you want qemu:///system",
            ),
            (
                "default",
                ErrorCode::NO_CONNECT,
                "does not include a driver name",
            ),
            (
                "test+bogus:///default",
                ErrorCode::INVALID_ARG,
                "transport in URL not recognised",
            ),
            (
                "qemu+ssh://h/system?no_tty=x",
                ErrorCode::INVALID_ARG,
                "URI component no_tty",
            ),
            (
                "test+tcp://h/a b",
                ErrorCode::INTERNAL_ERROR,
                "Unable to parse URI",
            ),
        ];
        for (uri, code, text) in cases {
            match open(uri, tmp.path()).await {
                Ok(_) => panic!("{uri} opened"),
                Err(err) => {
                    assert_eq!(err.code, code, "{uri}: {}", err.message);
                    assert!(err.message.contains(text), "{uri}: {}", err.message);
                }
            }
        }
    }
}
