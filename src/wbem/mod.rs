//! The WBEM server, its layers from the bottom: `cimxml` (the DSP0201 codec, sans I/O: tree, request,
//! response) and `query` (WQL); `error` (the operation error and the one error-to-CIM-status map); `providers`
//! (instances from the driver); `ops` (the intrinsic and extrinsic operations, one tracing span per request);
//! `http` (the hyper front end); and [`start`], which opens the listeners a daemon's configuration asks for.
//! Imports point down this list.

pub mod cimxml;
pub mod error;
pub mod http;
pub mod ops;
pub mod providers;
pub mod query;

#[cfg(test)]
mod tests_cimxml;
#[cfg(test)]
mod tests_robustness;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::info;

use crate::auth::CredentialStore;
use crate::config::WbemAuth;
use crate::daemon::Daemon;
use http::{BasicAuth, HttpLimits, WbemServer};

/// Where the WBEM listeners of a daemon ended up.
#[derive(Clone, Debug, Default)]
pub struct WbemListeners {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
}

/// Opens the WBEM listeners the daemon's configuration enables and registers them as daemon services.
pub async fn start(daemon: &mut Daemon) -> Result<WbemListeners, String> {
    let config = daemon.config().clone();
    let mut out = WbemListeners::default();
    if !config.listen_wbem_http && !config.listen_wbem_https {
        return Ok(out);
    }
    let uri = daemon.wbem_driver_uri().to_owned();
    // A qemu URI may still be opening in the background: the registry waits for it rather than open a second
    // driver. A driver the daemon does not run (a remote daemon) is opened now if it answers, else on the first
    // request, and again whenever the connection dies.
    let driver = daemon
        .registry()
        .open_reconnecting(&uri)
        .await
        .map_err(|e| format!("wbem_connect_uri {uri}: {e}"))?;
    let host = driver
        .get_hostname()
        .await
        .unwrap_or_else(|_| "localhost".into());
    let repo = crate::cim::builtin_repository().map_err(|e| format!("built-in MOF: {e}"))?;
    let ops = Arc::new(ops::Operations::new(Arc::new(repo), driver, &host));
    let auth = match config.wbem_auth {
        WbemAuth::None => None,
        WbemAuth::Basic => {
            let path = config
                .credentials_file
                .clone()
                .ok_or("wbem_auth = \"basic\" needs credentials_file")?;
            if !path.exists() {
                // An empty store refuses everyone until users are added; say so early.
                CredentialStore::new()
                    .save(&path)
                    .map_err(|e| e.to_string())?;
            }
            Some(BasicAuth::new(&path)?)
        }
    };
    let server = Arc::new(WbemServer::new(ops, auth, HttpLimits::default()));
    let addr = config
        .wbem_listen_addr
        .clone()
        .unwrap_or_else(|| "0.0.0.0".into());
    let bind = |port: u16| {
        let addr = addr.clone();
        async move {
            let text = if addr.contains(':') && !addr.starts_with('[') {
                format!("[{addr}]:{port}")
            } else {
                format!("{addr}:{port}")
            };
            TcpListener::bind(&text)
                .await
                .map_err(|e| format!("cannot listen on {text}: {e}"))
        }
    };
    if config.listen_wbem_http {
        let listener = bind(config.wbem_http_port).await?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        info!(addr = %local, "WBEM HTTP listening");
        out.http = Some(local);
        let shutdown = daemon.shutdown();
        daemon.spawn_service(
            "wbem-http",
            Arc::clone(&server).serve_http(listener, shutdown),
        );
    }
    if config.listen_wbem_https {
        let files = config.tls_files();
        let acceptor = http::tls_acceptor(&files.cert, &files.key)?;
        let listener = bind(config.wbem_https_port).await?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        info!(addr = %local, "WBEM HTTPS listening");
        out.https = Some(local);
        let shutdown = daemon.shutdown();
        daemon.spawn_service(
            "wbem-https",
            Arc::clone(&server).serve_https(listener, acceptor, shutdown),
        );
    }
    Ok(out)
}
