//! The WBEM server, its layers from the bottom: `cimxml` (the DSP0201 codec, sans I/O: tree, request,
//! response) and `query` (WQL); `error` (the operation error and the one error-to-CIM-status map); `providers`
//! (instances from the driver); `ops` (the intrinsic and extrinsic operations, one tracing span per request);
//! `framing` (request framing followed byte by byte, sans I/O); `http` (the hyper front end); `indications`
//! (subscriptions and delivery of the guests' indications, over `ops`); and [`start`], which opens the listeners a daemon asks for, serving the
//! connection it passes in.
//! Imports point down this list.

pub mod cimxml;
pub mod error;
pub mod framing;
pub mod http;
pub mod indications;
pub mod jobs;
pub mod ops;
mod pieces;
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
use http::{BasicAuth, CertAuth, ClientCertFiles, HttpLimits, UserStore, WbemServer};

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
    /// The credential store (`credentials_file`): the users Basic credentials and client certificates name.
    pub credentials_file: Option<PathBuf>,
    /// Basic credentials let a client in (`wbem_auth` holds "basic").
    pub basic: bool,
    /// HTTPS client certificates let a client in (`wbem_auth` holds "cert"). With neither this nor `basic`,
    /// everyone is let in.
    pub client_certs: Option<ClientCertSettings>,
    /// Indication delivery: where subscriptions are kept, retries, queue size.
    pub indications: indications::IndicationSettings,
}

/// The client certificate check of the HTTPS listener (`wbem_auth = "cert"` or `"cert,basic"`).
#[derive(Clone, Debug)]
pub struct ClientCertSettings {
    /// `ca_file` and `crl_file`.
    pub ca: PathBuf,
    pub crl: Option<PathBuf>,
    /// `wbem_allowed_dn_list`.
    pub allowed_dn_list: Option<Vec<String>>,
    /// Whether a client must send a certificate (no Basic to fall back to).
    pub required: bool,
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
    let repo =
        Arc::new(crate::cim::builtin_repository().map_err(|e| format!("built-in MOF: {e}"))?);
    let hub = indications::Hub::start(settings.indications.clone(), Arc::clone(&repo), &host)?;
    let mut ops = ops::Operations::new(Arc::clone(&repo), driver.clone(), &host);
    ops.add_providers(indications::providers(&hub));
    indications::watch_jobs(&hub, ops.jobs(), Arc::clone(&repo));
    let ops = Arc::new(ops);
    services.spawn(
        "wbem-indications",
        indications::run_source(hub, Arc::clone(&ops), driver, repo, services.shutdown()),
    );
    let users = match &settings.credentials_file {
        None if settings.basic || settings.client_certs.is_some() => {
            return Err("WBEM authentication needs credentials_file".into())
        }
        None => None,
        Some(path) => {
            if !path.exists() {
                // An empty store refuses everyone until users are added; say so early.
                CredentialStore::new()
                    .save(path)
                    .map_err(|e| e.to_string())?;
            }
            Some(Arc::new(UserStore::new(path)?))
        }
    };
    let basic = match &users {
        Some(users) if settings.basic => Some(BasicAuth::with_users(Arc::clone(users))),
        _ => None,
    };
    let mut server = WbemServer::new(ops, basic, HttpLimits::default());
    if let (Some(certs), Some(users)) = (&settings.client_certs, &users) {
        server = server.with_client_certs(CertAuth::new(
            Arc::clone(users),
            certs.allowed_dn_list.clone(),
        ));
    }
    let server = Arc::new(server);
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
        let clients = settings.client_certs.as_ref().map(|c| ClientCertFiles {
            ca: c.ca.clone(),
            crl: c.crl.clone(),
            required: c.required,
        });
        let acceptor = http::tls_acceptor(&https.cert, &https.key, clients.as_ref())?;
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
