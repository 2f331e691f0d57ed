//! The WBEM server, its layers from the bottom: `cimxml` (the DSP0201 codec, sans I/O: tree, request,
//! response) and `query` (WQL); `error` (the operation error and the one error-to-CIM-status map); `providers`
//! (instances from the driver); `ops` (the intrinsic and extrinsic operations, one tracing span per request);
//! `http` (the hyper front end); and [`start`], which opens the listeners a daemon asks for, serving the
//! connection it passes in.
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
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::info;

use crate::auth::CredentialStore;
use crate::driver::Connection;
use crate::listener::Services;
use http::{BasicAuth, HttpLimits, WbemServer};

/// Where the WBEM listeners of a daemon ended up.
#[derive(Clone, Debug, Default)]
pub struct WbemListeners {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
}

/// What the WBEM front end listens on and whom it lets in, as a daemon derives it from its configuration.
#[derive(Clone, Debug, Default)]
pub struct WbemSettings {
    /// The address both listeners bind (`wbem_listen_addr`; an IPv6 address may come without brackets).
    pub listen_addr: String,
    /// Plain HTTP on this port (`listen_wbem_http`, `wbem_http_port`).
    pub http_port: Option<u16>,
    /// HTTPS on this port, with this certificate and key (`listen_wbem_https`, `wbem_https_port`).
    pub https: Option<HttpsSettings>,
    /// Basic authentication against this credentials file (`wbem_auth = "basic"`); `None` lets everyone in.
    pub basic_auth_file: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct HttpsSettings {
    pub port: u16,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl WbemSettings {
    /// Whether any listener is asked for.
    pub fn listens(&self) -> bool {
        self.http_port.is_some() || self.https.is_some()
    }
}

/// Opens the WBEM listeners `settings` ask for, serving `driver`, and runs them as services of `services`.
pub async fn start(
    settings: WbemSettings,
    driver: Connection,
    services: &mut Services,
) -> Result<WbemListeners, String> {
    let mut out = WbemListeners::default();
    if !settings.listens() {
        return Ok(out);
    }
    let host = driver
        .get_hostname()
        .await
        .unwrap_or_else(|_| "localhost".into());
    let repo = crate::cim::builtin_repository().map_err(|e| format!("built-in MOF: {e}"))?;
    let ops = Arc::new(ops::Operations::new(Arc::new(repo), driver, &host));
    let auth = match &settings.basic_auth_file {
        None => None,
        Some(path) => {
            if !path.exists() {
                // An empty store refuses everyone until users are added; say so early.
                CredentialStore::new()
                    .save(path)
                    .map_err(|e| e.to_string())?;
            }
            Some(BasicAuth::new(path)?)
        }
    };
    let server = Arc::new(WbemServer::new(ops, auth, HttpLimits::default()));
    let addr = settings.listen_addr.clone();
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
    if let Some(port) = settings.http_port {
        let listener = bind(port).await?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        info!(addr = %local, "WBEM HTTP listening");
        out.http = Some(local);
        let shutdown = services.shutdown();
        services.spawn(
            "wbem-http",
            Arc::clone(&server).serve_http(listener, shutdown),
        );
    }
    if let Some(https) = &settings.https {
        let acceptor = http::tls_acceptor(&https.cert, &https.key)?;
        let listener = bind(https.port).await?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        info!(addr = %local, "WBEM HTTPS listening");
        out.https = Some(local);
        let shutdown = services.shutdown();
        services.spawn(
            "wbem-https",
            Arc::clone(&server).serve_https(listener, acceptor, shutdown),
        );
    }
    Ok(out)
}
