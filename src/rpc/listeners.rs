//! The native RPC front end as a daemon starts it: binds what its settings ask for (unix read-write and
//! read-only sockets, TCP, TLS), starts the RPC threads and runs every accept loop as a service.
//!
//! The settings are plain values the daemon derives from its configuration; this module knows nothing of the
//! configuration file, as the WBEM front end's `start` does not.

use std::future::Future;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::info;

use super::dispatch::DriverOpener;
use super::server::{ListenerKind, RpcServer, ServerConfig};
use super::threads::RpcThreads;
use crate::error::io_error_text;
use crate::listener::{Services, Shutdown};
use crate::transport::tls::{TlsServer, TlsServerOptions};

/// What the RPC front end listens on, and how it serves.
#[derive(Clone, Debug)]
pub struct RpcSettings {
    pub server: ServerConfig,
    /// Created (mode 0755) if missing; holds the unix sockets.
    pub unix_sock_dir: PathBuf,
    pub unix: Vec<UnixSocket>,
    /// Addresses (`host:port`, IPv6 in brackets) for plain TCP, served with `tcp_kind`.
    pub tcp: Vec<String>,
    pub tcp_kind: ListenerKind,
    pub tls: Option<TlsSettings>,
    /// RPC threads serving the unix and TCP clients (at least one).
    pub threads: usize,
}

/// One unix socket: its path, the mode it is given, and what it offers.
#[derive(Clone, Debug)]
pub struct UnixSocket {
    pub path: PathBuf,
    pub perms: u32,
    pub kind: ListenerKind,
}

/// The TLS listeners: the server's files and checks, the addresses, and what a verified session is offered.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub options: TlsServerOptions,
    pub addrs: Vec<String>,
    pub kind: ListenerKind,
}

/// The running front end: its threads end (and their connections with them) when it is stopped.
pub struct RpcFrontEnd {
    threads: RpcThreads,
}

impl RpcFrontEnd {
    /// Ends every unix and TCP connection; call it after the services stopped and before the drivers close.
    pub async fn stop(self) {
        self.threads.stop().await;
    }
}

/// Binds every listener of `settings` (a busy address or socket is an error here, not later), then runs their
/// accept loops as services of `services`. Errors are the operator's message.
pub async fn start(
    settings: RpcSettings,
    opener: Arc<dyn DriverOpener>,
    services: &mut Services,
) -> Result<RpcFrontEnd, String> {
    let tls = match &settings.tls {
        None => None,
        Some(tls) => Some(bind_tls(tls).await?),
    };
    let server = RpcServer::new(opener, settings.server.clone());

    let dir = &settings.unix_sock_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|err| {
            format!(
                "cannot create unix_sock_dir {}: {}",
                dir.display(),
                io_error_text(&err)
            )
        })?;
    let mut unix = Vec::new();
    for socket in &settings.unix {
        let listener = bind_socket(&socket.path, socket.perms)?;
        info!(path = %socket.path.display(), mode = format!("{:04o}", socket.perms), read_only = socket.kind.read_only, "rpc unix socket listening");
        unix.push((socket.path.clone(), listener, socket.kind));
    }
    let mut tcp = Vec::new();
    for addr in &settings.tcp {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|err| format!("cannot listen on tcp {addr}: {}", io_error_text(&err)))?;
        info!(addr = %addr, auth = auth_name(settings.tcp_kind.auth), "rpc tcp listening");
        tcp.push(listener);
    }
    // Unix and TCP clients are served on the RPC threads: every thread accepts on its own copy of each listening
    // socket, and a connection stays on the thread that accepted it. TLS stays on the main runtime, where its
    // handshakes do not hold up other RPC clients.
    let threads = RpcThreads::start(settings.threads)
        .map_err(|err| format!("cannot start the RPC threads: {}", io_error_text(&err)))?;
    info!(threads = threads.len(), "rpc threads started");
    for (path, listener, kind) in unix {
        let cannot = |err: std::io::Error| {
            format!(
                "cannot listen on {}: {}",
                path.display(),
                io_error_text(&err)
            )
        };
        let listener = listener.into_std().map_err(cannot)?;
        let server = server.clone();
        let loops = spawn_accept_loops(&threads, &listener, services, move |copy, shutdown| {
            let server = server.clone();
            async move {
                let listener = tokio::net::UnixListener::from_std(copy)?;
                server.serve(listener, kind, shutdown).await
            }
        })
        .map_err(cannot)?;
        services.spawn("rpc-unix", async move {
            let result = join_accept_loops(loops).await;
            // Only our own socket file: another daemon cannot have replaced it while we listened on it.
            let _ = std::fs::remove_file(&path);
            result
        });
    }
    let tcp_kind = settings.tcp_kind;
    for listener in tcp {
        let cannot = |err: std::io::Error| format!("cannot listen on tcp: {}", io_error_text(&err));
        let listener = listener.into_std().map_err(cannot)?;
        let server = server.clone();
        let loops = spawn_accept_loops(&threads, &listener, services, move |copy, shutdown| {
            let server = server.clone();
            async move {
                let listener = tokio::net::TcpListener::from_std(copy)?;
                server.serve(listener, tcp_kind, shutdown).await
            }
        })
        .map_err(cannot)?;
        services.spawn("rpc-tcp", join_accept_loops(loops));
    }
    if let (Some((tls, listeners)), Some(tls_settings)) = (tls, &settings.tls) {
        for listener in listeners {
            let shutdown = services.shutdown();
            let served =
                server
                    .clone()
                    .serve_tls_as(tls.clone(), listener, tls_settings.kind, shutdown);
            services.spawn("rpc-tls", async move {
                served.await.map_err(|err| io_error_text(&err))
            });
        }
    }
    Ok(RpcFrontEnd { threads })
}

/// Loads the TLS files (any problem is an error naming the file) and binds the TLS addresses.
async fn bind_tls(
    settings: &TlsSettings,
) -> Result<(Arc<TlsServer>, Vec<tokio::net::TcpListener>), String> {
    let tls = TlsServer::new(settings.options.clone())
        .map_err(|err| format!("cannot set up TLS: {err}"))?;
    let mut listeners = Vec::new();
    for addr in &settings.addrs {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|err| format!("cannot listen on tls {addr}: {}", io_error_text(&err)))?;
        info!(addr = %addr, auth = auth_name(settings.kind.auth), verify_client = settings.options.verify_client, "rpc tls listening");
        listeners.push(listener);
    }
    Ok((Arc::new(tls), listeners))
}

/// One copy of an accept loop per RPC thread, each over its own descriptor for `listener`, until the services
/// stop. `serve` builds a copy's loop; it must make its tokio listener inside the future (see
/// [`RpcThreads::spawn_on`]).
fn spawn_accept_loops<L, F, Fut>(
    threads: &RpcThreads,
    listener: &L,
    services: &Services,
    serve: F,
) -> std::io::Result<Vec<tokio::task::JoinHandle<std::io::Result<()>>>>
where
    L: std::os::fd::AsFd + From<std::os::fd::OwnedFd>,
    F: Fn(L, Shutdown) -> Fut,
    Fut: Future<Output = std::io::Result<()>> + Send + 'static,
{
    let mut loops = Vec::new();
    for index in 0..threads.len() {
        let copy = L::from(listener.as_fd().try_clone_to_owned()?);
        loops.push(threads.spawn_on(index, serve(copy, services.shutdown())));
    }
    Ok(loops)
}

/// Waits for every RPC thread's copy of one listener's accept loop; the first failure is the service's error.
async fn join_accept_loops(
    loops: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
) -> Result<(), String> {
    let mut result = Ok(());
    for accept_loop in loops {
        let outcome = match accept_loop.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(io_error_text(&err)),
            Err(err) if err.is_cancelled() => Ok(()),
            Err(err) => Err(format!("accept loop failed: {err}")),
        };
        if result.is_ok() {
            result = outcome;
        }
    }
    result
}

/// Binds one RPC unix socket (a stale file replaced, a live daemon's refused) and gives it its mode.
fn bind_socket(path: &Path, perms: u32) -> Result<tokio::net::UnixListener, String> {
    use std::os::unix::fs::PermissionsExt;
    let listener = RpcServer::bind_unix(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::AddrInUse => {
            format!(
                "{}; stop it first or use another unix_sock_dir",
                io_error_text(&err)
            )
        }
        _ => format!(
            "cannot listen on {}: {}",
            path.display(),
            io_error_text(&err)
        ),
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(perms)).map_err(|err| {
        format!(
            "cannot set mode {perms:04o} on {}: {}",
            path.display(),
            io_error_text(&err)
        )
    })?;
    Ok(listener)
}

/// An `auth_type` value as the configuration spells it, for log lines.
fn auth_name(auth: i32) -> &'static str {
    match auth {
        super::proto::auth_type::NONE => "none",
        super::proto::auth_type::SASL => "sasl",
        super::proto::auth_type::POLKIT => "polkit",
        _ => "unknown",
    }
}
