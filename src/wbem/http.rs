//! The WBEM HTTP(S) front end (DSP0200): hyper serving `POST`/`M-POST /cimom`, the body's framing and the CIM
//! headers checked, Basic auth and HTTPS client certificates against the credential store (with its users'
//! read-only flag), slow-client deadlines, and [`fault_response`], the one map from an HTTP-level fault to its
//! status and `CIMError` header.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, info, warn, Instrument as _};

use crate::auth::CredentialStore;
use crate::cim::{namespace_eq, ObjectPath};
use crate::listener::{accept_loop, Limit, Shutdown};
use crate::transport::tls;
use crate::wbem::cimxml::{parse_request, Call, CimXmlError, Limits, Request};
use crate::wbem::framing::FramingTracker;
use crate::wbem::ops::{Access, Operations, RawRequest, Reply};

/// The realm of the Basic challenge.
pub const REALM: &str = "cimom";
/// The one path operations are posted to.
pub const CIM_PATH: &str = "/cimom";

/// Deadlines and caps of the HTTP layer.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// Largest request body; a bigger Content-Length gets 413 before the body is read.
    pub max_body: usize,
    /// Total time for one request's header block.
    pub header_timeout: Duration,
    /// The body must arrive within `body_grace` plus its length at `min_body_rate` bytes per second.
    pub body_grace: Duration,
    pub min_body_rate: u64,
    /// A connection that makes no progress for this long while no request is being processed (idle
    /// keep-alive, or a client that does not read its response) is closed.
    pub stall_timeout: Duration,
    pub max_headers: usize,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    /// Requests served on one keep-alive connection before the server asks the client to reconnect.
    pub max_requests_per_connection: u64,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_body: 16 << 20,
            header_timeout: Duration::from_secs(10),
            body_grace: Duration::from_secs(10),
            min_body_rate: 16 * 1024,
            stall_timeout: Duration::from_secs(60),
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            max_connections: 1024,
            max_requests_per_connection: 10_000,
        }
    }
}

/// An HTTP-level fault: answered with a status and, where DSP0200 defines one, a `CIMError` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFault {
    WrongPath,
    WrongMethod,
    MissingCredentials,
    BadCredentials,
    MalformedAuthorization,
    BodyTooLarge,
    BodyTimeout,
    BadBody,
    /// CIMOperation missing or not `MethodCall`.
    UnsupportedOperation,
    /// CIMMethod / CIMObject missing or contradicting the body.
    HeaderMismatch,
    UnsupportedProtocolVersion,
    /// Transfer-Encoding together with Content-Length (RFC 9112 section 6.3: the framing is ambiguous, the
    /// classic request-smuggling vector).
    ConflictingFraming,
    /// A Transfer-Encoding other than `chunked` alone.
    UnsupportedTransferEncoding,
    /// A client certificate this server does not let in (DN off `wbem_allowed_dn_list`, or no such user).
    CertificateRefused,
    Decode(CimXmlError),
}

/// The one map from an HTTP-level fault to the wire: status and `CIMError` header value.
pub fn fault_status(fault: &HttpFault) -> (StatusCode, Option<&'static str>) {
    match fault {
        HttpFault::WrongPath => (StatusCode::NOT_FOUND, None),
        HttpFault::WrongMethod => (StatusCode::METHOD_NOT_ALLOWED, None),
        HttpFault::MissingCredentials | HttpFault::BadCredentials => {
            (StatusCode::UNAUTHORIZED, None)
        }
        HttpFault::MalformedAuthorization | HttpFault::BadBody => (StatusCode::BAD_REQUEST, None),
        HttpFault::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, None),
        HttpFault::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, None),
        HttpFault::UnsupportedOperation => (StatusCode::BAD_REQUEST, Some("unsupported-operation")),
        HttpFault::HeaderMismatch => (StatusCode::BAD_REQUEST, Some("header-mismatch")),
        HttpFault::UnsupportedProtocolVersion => (
            StatusCode::NOT_IMPLEMENTED,
            Some("unsupported-protocol-version"),
        ),
        HttpFault::ConflictingFraming => (StatusCode::BAD_REQUEST, None),
        HttpFault::UnsupportedTransferEncoding => (StatusCode::NOT_IMPLEMENTED, None),
        HttpFault::CertificateRefused => (StatusCode::FORBIDDEN, None),
        HttpFault::Decode(e) => {
            let status = match e {
                CimXmlError::MultipleRequests
                | CimXmlError::UnsupportedCimVersion(_)
                | CimXmlError::UnsupportedDtdVersion(_)
                | CimXmlError::UnsupportedProtocolVersion(_) => StatusCode::NOT_IMPLEMENTED,
                _ => StatusCode::BAD_REQUEST,
            };
            (status, Some(e.cim_error_header()))
        }
    }
}

/// The response for a fault.
pub fn fault_response(fault: &HttpFault) -> Response<ReplyBody> {
    let (status, cim_error) = fault_status(fault);
    let mut resp = Response::new(ReplyBody::Full(None));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    if let Some(value) = cim_error {
        headers.insert("CIMError", HeaderValue::from_static(value));
    }
    match fault {
        HttpFault::MissingCredentials | HttpFault::BadCredentials => {
            headers.insert(
                "WWW-Authenticate",
                HeaderValue::from_str(&format!("Basic realm=\"{REALM}\""))
                    .unwrap_or(HeaderValue::from_static("Basic")),
            );
        }
        HttpFault::WrongMethod => {
            headers.insert("Allow", HeaderValue::from_static("POST, M-POST"));
        }
        // The body was not read (or its framing cannot be trusted, or the client is not let in at all): the
        // connection cannot be reused.
        HttpFault::BodyTooLarge
        | HttpFault::BodyTimeout
        | HttpFault::ConflictingFraming
        | HttpFault::UnsupportedTransferEncoding
        | HttpFault::CertificateRefused => {
            headers.insert("Connection", HeaderValue::from_static("close"));
        }
        _ => {}
    }
    resp
}

/// A response body: whole or in parts known in advance (sent with Content-Length), or streamed chunks
/// (chunked encoding).
pub enum ReplyBody {
    Full(Option<Bytes>),
    /// The parts left and their total length.
    Parts(std::collections::VecDeque<Bytes>, u64),
    Chunks(mpsc::Receiver<Bytes>),
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ReplyBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ReplyBody::Parts(parts, left) => {
                let part = parts.pop_front();
                if let Some(p) = &part {
                    *left -= p.len() as u64;
                }
                Poll::Ready(part.map(|b| Ok(Frame::data(b))))
            }
            ReplyBody::Chunks(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReplyBody::Full(None) => true,
            ReplyBody::Parts(parts, _) => parts.is_empty(),
            _ => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReplyBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ReplyBody::Full(None) => SizeHint::with_exact(0),
            ReplyBody::Parts(_, left) => SizeHint::with_exact(*left),
            ReplyBody::Chunks(_) => SizeHint::default(),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Basic authentication

/// The credential store file a listener's users come from, re-read when it changes. Basic auth checks passwords
/// against it; client certificates map to its users; both take a user's read-only flag from it.
pub struct UserStore {
    path: PathBuf,
    /// The file's modification time when read, a count of reloads, and the store.
    store: Mutex<(Option<SystemTime>, u64, Arc<CredentialStore>)>,
}

impl UserStore {
    pub fn new(path: &Path) -> Result<UserStore, String> {
        let store = CredentialStore::load(path).map_err(|e| e.to_string())?;
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Ok(UserStore {
            path: path.to_path_buf(),
            store: Mutex::new((mtime, 0, Arc::new(store))),
        })
    }

    /// The store as the file holds it now, and how many times it was reloaded.
    fn current(&self) -> (u64, Arc<CredentialStore>) {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let Ok(mut guard) = self.store.lock() else {
            return (u64::MAX, Arc::new(CredentialStore::new()));
        };
        if guard.0 != mtime {
            match CredentialStore::load(&self.path) {
                Ok(store) => {
                    *guard = (mtime, guard.1 + 1, Arc::new(store));
                    info!(path = %self.path.display(), "credentials reloaded");
                }
                Err(err) => {
                    warn!(error = %err, "credentials file unreadable; keeping the previous one")
                }
            }
        }
        (guard.1, Arc::clone(&guard.2))
    }

    /// What a known user may do; `None` for a name the store does not hold.
    fn access_of(&self, user: &str) -> Option<Access> {
        let (_, store) = self.current();
        store.user(user).map(|u| {
            if u.read_only {
                Access::ReadOnly
            } else {
                Access::Full
            }
        })
    }
}

/// Basic auth against the credential store (re-read when it changes), with failures slowed per source.
pub struct BasicAuth {
    users: Arc<UserStore>,
    /// SHA-256 of "user\0password" pairs verified since the store was (re)loaded, with the reload count they
    /// belong to (verification is slow on purpose).
    verified: Mutex<(u64, HashMap<[u8; 32], ()>)>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

const MAX_VERIFIED_CACHE: usize = 1024;
const MAX_FAILURE_SOURCES: usize = 4096;

impl BasicAuth {
    pub fn new(path: &Path) -> Result<BasicAuth, String> {
        Ok(BasicAuth::with_users(Arc::new(UserStore::new(path)?)))
    }

    pub fn with_users(users: Arc<UserStore>) -> BasicAuth {
        BasicAuth {
            users,
            verified: Mutex::new((0, HashMap::new())),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Checks an Authorization header value.
    async fn check(&self, header: Option<&HeaderValue>, peer: IpAddr) -> Result<String, HttpFault> {
        let Some(header) = header else {
            return Err(HttpFault::MissingCredentials);
        };
        let text = header
            .to_str()
            .map_err(|_| HttpFault::MalformedAuthorization)?;
        let (scheme, rest) = text.trim().split_once(' ').unwrap_or((text, ""));
        if !scheme.eq_ignore_ascii_case("Basic") {
            return Err(HttpFault::MissingCredentials);
        }
        let decoded = B64
            .decode(rest.trim())
            .map_err(|_| HttpFault::MalformedAuthorization)?;
        let decoded = String::from_utf8(decoded).map_err(|_| HttpFault::MalformedAuthorization)?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or(HttpFault::MalformedAuthorization)?;
        let (generation, store) = self.users.current();
        let key: [u8; 32] = Sha256::digest(format!("{user}\0{password}").as_bytes()).into();
        let cached = self.verified.lock().is_ok_and(|mut v| {
            if v.0 != generation {
                *v = (generation, HashMap::new());
            }
            v.1.contains_key(&key)
        });
        let ok = cached || {
            let (user, password) = (user.to_owned(), password.to_owned());
            let store = Arc::clone(&store);
            tokio::task::spawn_blocking(move || store.verify_password(&user, &password))
                .await
                .unwrap_or(false)
        };
        if ok {
            if let Ok(mut v) = self.verified.lock() {
                if v.1.len() >= MAX_VERIFIED_CACHE || v.0 != generation {
                    *v = (generation, HashMap::new());
                }
                v.1.insert(key, ());
            }
            if let Ok(mut f) = self.failures.lock() {
                f.remove(&peer);
            }
            return Ok(user.to_owned());
        }
        // Slow down repeated failures from the same source; other sources are not affected.
        let fails = match self.failures.lock() {
            Ok(mut f) => {
                if f.len() >= MAX_FAILURE_SOURCES {
                    let cutoff = Instant::now() - Duration::from_secs(600);
                    f.retain(|_, (_, at)| *at > cutoff);
                }
                let entry = f.entry(peer).or_insert((0, Instant::now()));
                entry.0 = entry.0.saturating_add(1);
                entry.1 = Instant::now();
                entry.0
            }
            Err(_) => 1,
        };
        let delay_ms = 100u64.saturating_mul(1u64 << fails.min(6)).min(5000);
        warn!(%peer, user, fails, "WBEM authentication failed");
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        Err(HttpFault::BadCredentials)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Client certificates

/// What an HTTPS connection's verified client certificate says, read once per connection.
#[derive(Clone, Debug)]
pub struct PeerCertificate {
    /// The subject DN as `tls_allowed_dn_list` patterns see it.
    pub dn: String,
    /// The subject's Common Name: the user the client acts as.
    pub common_name: Option<String>,
}

impl PeerCertificate {
    /// A certificate the TLS layer accepted but that does not parse here still counts as sent: with no DN
    /// and no Common Name it is refused, never taken for a client without a certificate.
    fn from_der(der: &[u8]) -> PeerCertificate {
        PeerCertificate {
            dn: tls::certificate_dn(der).unwrap_or_default(),
            common_name: tls::certificate_common_name(der).ok().flatten(),
        }
    }
}

/// Client certificates as credentials (`wbem_auth = "cert"` or `"cert,basic"`): the TLS layer has checked the
/// chain against `ca_file`; here the DN must be on `wbem_allowed_dn_list` and the Common Name a user of the
/// credential store, whose read-only flag applies.
pub struct CertAuth {
    users: Arc<UserStore>,
    allowed_dn_list: Option<Vec<String>>,
}

impl CertAuth {
    pub fn new(users: Arc<UserStore>, allowed_dn_list: Option<Vec<String>>) -> CertAuth {
        CertAuth {
            users,
            allowed_dn_list,
        }
    }

    fn check(&self, cert: &PeerCertificate, peer: IpAddr) -> Result<Access, HttpFault> {
        if !tls::dn_allowed(self.allowed_dn_list.as_deref(), &cert.dn) {
            warn!(%peer, dn = %cert.dn, "WBEM client certificate DN not on wbem_allowed_dn_list");
            return Err(HttpFault::CertificateRefused);
        }
        let access = cert
            .common_name
            .as_deref()
            .and_then(|user| self.users.access_of(user));
        access.ok_or_else(|| {
            warn!(%peer, dn = %cert.dn, "WBEM client certificate names no user of the credentials file");
            HttpFault::CertificateRefused
        })
    }
}

/// The client certificate check of the HTTPS listener: where the CA and CRL are, and whether a client without
/// a certificate may still finish the handshake (to use Basic credentials).
#[derive(Clone, Debug)]
pub struct ClientCertFiles {
    pub ca: PathBuf,
    pub crl: Option<PathBuf>,
    pub required: bool,
}

// ---------------------------------------------------------------------------------------------------------
// The server

/// The WBEM service shared by every connection.
pub struct WbemServer {
    ops: Arc<Operations>,
    auth: Option<BasicAuth>,
    certs: Option<CertAuth>,
    limits: HttpLimits,
    xml_limits: Limits,
    connections: Limit,
}

impl WbemServer {
    /// `auth` = `None` serves without authentication (`wbem_auth = "none"`).
    pub fn new(ops: Arc<Operations>, auth: Option<BasicAuth>, limits: HttpLimits) -> WbemServer {
        let connections = Limit::new("WBEM max_connections", limits.max_connections);
        WbemServer {
            ops,
            auth,
            certs: None,
            limits,
            xml_limits: Limits::default(),
            connections,
        }
    }

    /// Lets HTTPS clients in by their certificates too (alone when `new` was given no Basic auth).
    pub fn with_client_certs(mut self, certs: CertAuth) -> WbemServer {
        self.certs = Some(certs);
        self
    }

    /// Accepts plain-HTTP connections until shutdown.
    pub async fn serve_http(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: Shutdown,
    ) -> Result<(), String> {
        self.accept_loop(listener, None, shutdown).await
    }

    /// Accepts HTTPS connections until shutdown.
    pub async fn serve_https(
        self: Arc<Self>,
        listener: TcpListener,
        tls: tokio_rustls::TlsAcceptor,
        shutdown: Shutdown,
    ) -> Result<(), String> {
        self.accept_loop(listener, Some(tls), shutdown).await
    }

    async fn accept_loop(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        shutdown: Shutdown,
    ) -> Result<(), String> {
        let name = if tls.is_some() {
            "wbem https"
        } else {
            "wbem http"
        };
        let connection_shutdown = shutdown.clone();
        accept_loop(
            listener,
            name,
            shutdown,
            |_| self.connections.try_take(),
            |stream, peer, permit| {
                let _ = stream.set_nodelay(true);
                let server = Arc::clone(&self);
                let tls = tls.clone();
                let shutdown = connection_shutdown.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match tls {
                        None => server.serve_connection(stream, peer, None, shutdown).await,
                        Some(acceptor) => {
                            let handshake = tokio::time::timeout(
                                server.limits.header_timeout,
                                acceptor.accept(stream),
                            )
                            .await;
                            match handshake {
                                Ok(Ok(tls_stream)) => {
                                    let cert = tls_stream
                                        .get_ref()
                                        .1
                                        .peer_certificates()
                                        .and_then(|chain| chain.first())
                                        .map(|der| Arc::new(PeerCertificate::from_der(der)));
                                    server
                                        .serve_connection(tls_stream, peer, cert, shutdown)
                                        .await
                                }
                                Ok(Err(err)) => debug!(%peer, error = %err, "TLS handshake failed"),
                                Err(_) => debug!(%peer, "TLS handshake timed out"),
                            }
                        }
                    }
                });
            },
        )
        .await
        .map_err(|err| format!("{name}: {err}"))
    }

    async fn serve_connection<S>(
        self: Arc<Self>,
        stream: S,
        peer: SocketAddr,
        cert: Option<Arc<PeerCertificate>>,
        mut shutdown: Shutdown,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: Arc::clone(&activity),
            framing: FramingTracker::default(),
        });
        let server = Arc::clone(&self);
        let act = Arc::clone(&activity);
        let max_requests = self.limits.max_requests_per_connection;
        let service = hyper::service::service_fn(move |req: HttpRequest<Incoming>| {
            let server = Arc::clone(&server);
            let act = Arc::clone(&act);
            let cert = cert.clone();
            async move {
                act.busy.store(true, Ordering::Relaxed);
                // This request's index on the connection; its head was read (and followed) before hyper
                // could hand it over.
                let index = act.requests.load(Ordering::SeqCst);
                let conflicting = act.conflicting_head.load(Ordering::SeqCst) == index + 1;
                let mut resp = if conflicting {
                    debug!(%peer, "WBEM request with Transfer-Encoding and Content-Length refused");
                    fault_response(&HttpFault::ConflictingFraming)
                } else {
                    server.handle(req, peer, cert.as_deref()).await
                };
                if act.requests.fetch_add(1, Ordering::Relaxed) + 1 >= max_requests {
                    // hyper closes the connection after a response that says so.
                    resp.headers_mut()
                        .insert("Connection", HeaderValue::from_static("close"));
                }
                act.touch();
                act.busy.store(false, Ordering::Relaxed);
                Ok::<_, Infallible>(resp)
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // hyper's own header timer starts as soon as it waits for the next head, so it also closes an idle
        // keep-alive connection after `header_timeout`, racing the client's next request (seen as a reset by a
        // client whose next request came late on a starved machine). The watchdog below runs the header
        // deadline from the head's first byte instead; an idle connection is the stall timeout's.
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .max_headers(self.limits.max_headers)
            .max_buf_size(self.limits.max_header_bytes.max(8192))
            .keep_alive(true);
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let stall = self.limits.stall_timeout;
        let header = self.limits.header_timeout;
        let watchdog = async {
            loop {
                tokio::time::sleep(stall.min(header) / 4).await;
                if !activity.busy.load(Ordering::Relaxed) && activity.idle_for() > stall {
                    return;
                }
                if activity.head_for().is_some_and(|t| t > header) {
                    debug!(%peer, "WBEM request head not complete in time; closed");
                    return;
                }
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    debug!(%peer, error = %err, "WBEM connection ended with an error");
                }
            }
            () = watchdog => debug!(%peer, "WBEM connection stalled; closed"),
            () = shutdown.wait() => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
            }
        }
    }

    /// One HTTP request: checks, auth, body, decode, operation. Its span names the client, so the operation's
    /// own span (see [`Operations::handle`]) and a refusal both say whose request it was.
    pub async fn handle(
        &self,
        req: HttpRequest<Incoming>,
        peer: SocketAddr,
        cert: Option<&PeerCertificate>,
    ) -> Response<ReplyBody> {
        let span = tracing::debug_span!("wbem_http", %peer);
        match self.handle_inner(req, peer, cert).instrument(span).await {
            Ok(resp) => resp,
            Err(fault) => {
                debug!(%peer, ?fault, "WBEM request refused");
                fault_response(&fault)
            }
        }
    }

    async fn handle_inner(
        &self,
        req: HttpRequest<Incoming>,
        peer: SocketAddr,
        cert: Option<&PeerCertificate>,
    ) -> Result<Response<ReplyBody>, HttpFault> {
        check_framing(req.headers())?;
        let method = req.method().as_str();
        let extension = match method {
            "POST" => None,
            "M-POST" => Some(man_prefix(req.headers())),
            _ => return Err(HttpFault::WrongMethod),
        };
        if req.uri().path() != CIM_PATH {
            return Err(HttpFault::WrongPath);
        }
        let access = self.authenticate(req.headers(), peer.ip(), cert).await?;
        let prefix = extension.flatten();
        let headers = req.headers();
        let cim_header = |name: &str| -> Option<String> {
            let value = match &prefix {
                Some(p) => headers
                    .get(format!("{p}-{name}").as_str())
                    .or_else(|| headers.get(name)),
                None => headers.get(name),
            };
            value
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_owned())
        };
        match cim_header("CIMOperation") {
            Some(op) if op.eq_ignore_ascii_case("MethodCall") => {}
            _ => return Err(HttpFault::UnsupportedOperation),
        }
        if let Some(version) = cim_header("CIMProtocolVersion") {
            if !version.starts_with("1.") {
                return Err(HttpFault::UnsupportedProtocolVersion);
            }
        }
        let cim_method = cim_header("CIMMethod").ok_or(HttpFault::HeaderMismatch)?;
        let cim_object = cim_header("CIMObject").ok_or(HttpFault::HeaderMismatch)?;
        // hyper has parsed Content-Length into the body's exact size; chunked bodies are capped while read.
        let declared = req.body().size_hint().exact();
        if declared.is_some_and(|n| n > self.limits.max_body as u64) {
            return Err(HttpFault::BodyTooLarge);
        }
        let expected = declared.unwrap_or(self.limits.max_body as u64);
        let deadline = self.limits.body_grace
            + Duration::from_secs(expected / self.limits.min_body_rate.max(1));
        let body = http_body_util::Limited::new(req.into_body(), self.limits.max_body);
        let bytes = match tokio::time::timeout(deadline, body.collect()).await {
            Err(_) => return Err(HttpFault::BodyTimeout),
            Ok(Err(err)) => {
                return Err(if err.is::<http_body_util::LengthLimitError>() {
                    HttpFault::BodyTooLarge
                } else {
                    HttpFault::BadBody
                })
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        // A request that differs from one seen before only in its message ID may be answered without being
        // decoded (the same bytes decode the same way, and the headers it had to agree with are in the key).
        let raw = RawRequest::new(&bytes, &cim_method, &cim_object);
        if let Some(reply) = raw.as_ref().and_then(|raw| self.ops.reuse_raw(raw)) {
            return Ok(cim_response(reply, prefix.as_deref()));
        }
        let request = match parse_request(&bytes, &self.xml_limits) {
            Ok(r) => r,
            Err(err) => {
                if let Some(text) = err.error_response() {
                    return Ok(cim_response(Reply::Whole(text), prefix.as_deref()));
                }
                return Err(HttpFault::Decode(err));
            }
        };
        check_headers(&request, &cim_method, &cim_object)?;
        let reply = self.ops.handle_as(&request, access).await;
        if let Some(raw) = raw {
            self.ops.remember_raw(raw, &request);
        }
        Ok(cim_response(reply, prefix.as_deref()))
    }

    /// Who may do what: a client certificate when certificates are accepted and the connection has one (it must
    /// then pass: no fallback to Basic), else Basic credentials when accepted; with neither configured, anyone.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
        cert: Option<&PeerCertificate>,
    ) -> Result<Access, HttpFault> {
        if let (Some(certs), Some(cert)) = (&self.certs, cert) {
            return certs.check(cert, peer);
        }
        if let Some(basic) = &self.auth {
            let user = basic
                .check(headers.get(hyper::header::AUTHORIZATION), peer)
                .await?;
            // Removed between the check and now: refused as a wrong password would be.
            return basic
                .users
                .access_of(&user)
                .ok_or(HttpFault::BadCredentials);
        }
        if self.certs.is_some() {
            // Certificates alone, and this connection has none (plain HTTP).
            return Err(HttpFault::CertificateRefused);
        }
        Ok(Access::Full)
    }
}

/// Progress of a connection, for the stall watchdog.
#[derive(Default)]
struct Activity {
    /// Milliseconds since `EPOCH` of the last read or write progress.
    last: AtomicU64,
    busy: AtomicBool,
    requests: AtomicU64,
    /// 1 + the index of the first request whose head carried both Transfer-Encoding and Content-Length
    /// (0: none), as the read side followed the bytes.
    conflicting_head: AtomicU64,
    /// 1 + `now_ms()` when the first byte of a head not yet complete was read (0: no head in progress).
    head_since: AtomicU64,
}

static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn now_ms() -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Activity {
    fn touch(&self) {
        self.last.store(now_ms(), Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = self.last.load(Ordering::Relaxed);
        Duration::from_millis(now_ms().saturating_sub(last))
    }

    /// How long the head now in progress has been arriving.
    fn head_for(&self) -> Option<Duration> {
        match self.head_since.load(Ordering::Relaxed) {
            0 => None,
            since => Some(Duration::from_millis(now_ms().saturating_sub(since - 1))),
        }
    }

    fn follow_head(&self, in_progress: bool) {
        if !in_progress {
            self.head_since.store(0, Ordering::Relaxed);
        } else if self.head_since.load(Ordering::Relaxed) == 0 {
            self.head_since.store(now_ms() + 1, Ordering::Relaxed);
        }
    }
}

/// A stream that records when it last made progress, and follows the request framing in what it reads.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
    framing: FramingTracker,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
            let this = &mut *self;
            if let Some(index) = this.framing.feed(&buf.filled()[before..]) {
                this.activity
                    .conflicting_head
                    .store(index + 1, Ordering::SeqCst);
            }
            this.activity.follow_head(this.framing.head_in_progress());
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    // Vectored writes passed through: without them hyper copies every body byte into its own buffer before
    // writing (its "flatten" strategy); with them a reused answer goes from the cache to the socket as is.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A body is framed one way only: `Transfer-Encoding: chunked` or `Content-Length`, never both (hyper would
/// take the chunked one; a proxy in front might take the other), and no other transfer coding. hyper drops
/// Content-Length when both come, so the connection's reader reports that case (see [`FramingTracker`]); the
/// check here is for a server given requests some other way.
fn check_framing(headers: &HeaderMap) -> Result<(), HttpFault> {
    let mut codings = headers.get_all(hyper::header::TRANSFER_ENCODING).iter();
    let Some(first) = codings.next() else {
        return Ok(());
    };
    if headers.contains_key(hyper::header::CONTENT_LENGTH) {
        return Err(HttpFault::ConflictingFraming);
    }
    let chunked_alone = codings.next().is_none()
        && first
            .to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
    if chunked_alone {
        Ok(())
    } else {
        Err(HttpFault::UnsupportedTransferEncoding)
    }
}

/// The header-name prefix of an M-POST (`Man: http://www.dmtf.org/cim/mapping.http/v1.0 ; ns=73`).
fn man_prefix(headers: &HeaderMap) -> Option<String> {
    let man = headers.get("Man")?.to_str().ok()?;
    man.split(';')
        .filter_map(|part| part.trim().strip_prefix("ns="))
        .map(|ns| ns.trim().to_owned())
        .find(|ns| !ns.is_empty() && ns.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Undoes %-escaping (wbemcli escapes CIMObject; pywbem does not, and `%` never occurs unescaped there).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The CIMMethod and CIMObject headers must say what the body says.
fn check_headers(req: &Request, cim_method: &str, cim_object: &str) -> Result<(), HttpFault> {
    if cim_method != req.call.name() {
        return Err(HttpFault::HeaderMismatch);
    }
    let object = percent_decode(cim_object);
    match &req.call {
        Call::Intrinsic { namespace, .. } => {
            if !namespace_eq(object.trim(), namespace) {
                return Err(HttpFault::HeaderMismatch);
            }
        }
        Call::Extrinsic { target, .. } => {
            let parsed = ObjectPath::parse(object.trim()).map_err(|_| HttpFault::HeaderMismatch)?;
            let same = if target.is_class_path() {
                parsed.class_name.eq_ignore_ascii_case(&target.class_name)
                    && parsed
                        .namespace
                        .as_deref()
                        .zip(target.namespace.as_deref())
                        .is_none_or(|(a, b)| namespace_eq(a, b))
            } else {
                parsed.same_object(target)
            };
            if !same {
                return Err(HttpFault::HeaderMismatch);
            }
        }
    }
    Ok(())
}

fn cim_response(reply: Reply, prefix: Option<&str>) -> Response<ReplyBody> {
    let body = match reply {
        Reply::Whole(text) => ReplyBody::Full(Some(Bytes::from(text))),
        Reply::Parts(parts) => {
            let total = parts.iter().map(|p| p.len() as u64).sum();
            ReplyBody::Parts(parts.into_iter().filter(|p| !p.is_empty()).collect(), total)
        }
        Reply::Chunks(rx) => ReplyBody::Chunks(rx),
    };
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=\"utf-8\""),
    );
    match prefix {
        Some(p) => {
            headers.insert("Ext", HeaderValue::from_static(""));
            if let Ok(name) =
                hyper::header::HeaderName::from_bytes(format!("{p}-CIMOperation").as_bytes())
            {
                headers.insert(name, HeaderValue::from_static("MethodResponse"));
            }
        }
        None => {
            headers.insert("CIMOperation", HeaderValue::from_static("MethodResponse"));
        }
    }
    resp
}

/// A TLS acceptor from PEM certificate chain and key files, checking client certificates when `clients` says
/// how.
pub fn tls_acceptor(
    cert: &Path,
    key: &Path,
    clients: Option<&ClientCertFiles>,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    let certs = tls::load_certificates("server certificate", cert).map_err(|e| e.to_string())?;
    let key_der = tls::load_private_key("server private key", key).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match clients {
        Some(files) => {
            let verifier = tls::client_verifier(&files.ca, files.crl.as_deref(), files.required)
                .map_err(|e| e.to_string())?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(certs, key_der)
        .map_err(|e| format!("TLS certificate/key: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_table() {
        let cases = [
            (HttpFault::WrongPath, 404, None),
            (HttpFault::WrongMethod, 405, None),
            (HttpFault::MissingCredentials, 401, None),
            (HttpFault::BadCredentials, 401, None),
            (HttpFault::MalformedAuthorization, 400, None),
            (HttpFault::BodyTooLarge, 413, None),
            (HttpFault::BodyTimeout, 408, None),
            (
                HttpFault::UnsupportedOperation,
                400,
                Some("unsupported-operation"),
            ),
            (HttpFault::HeaderMismatch, 400, Some("header-mismatch")),
            (HttpFault::ConflictingFraming, 400, None),
            (HttpFault::UnsupportedTransferEncoding, 501, None),
            (HttpFault::CertificateRefused, 403, None),
            (
                HttpFault::UnsupportedProtocolVersion,
                501,
                Some("unsupported-protocol-version"),
            ),
            (
                HttpFault::Decode(CimXmlError::NotWellFormed("x".into())),
                400,
                Some("request-not-well-formed"),
            ),
            (
                HttpFault::Decode(CimXmlError::NotValid("x".into())),
                400,
                Some("request-not-valid"),
            ),
            (
                HttpFault::Decode(CimXmlError::MultipleRequests),
                501,
                Some("multiple-requests-unsupported"),
            ),
        ];
        for (fault, status, header) in cases {
            let (s, h) = fault_status(&fault);
            assert_eq!((s.as_u16(), h), (status, header), "{fault:?}");
        }
        let resp = fault_response(&HttpFault::MissingCredentials);
        assert_eq!(resp.headers()["WWW-Authenticate"], "Basic realm=\"cimom\"");
    }

    #[test]
    fn cim_object_header_unescaped() {
        assert_eq!(
            percent_decode("root%2Fvirt%3AKVM_ComputerSystem"),
            "root/virt:KVM_ComputerSystem"
        );
        assert_eq!(percent_decode("root/virt"), "root/virt");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn m_post_prefix() {
        let mut h = HeaderMap::new();
        h.insert(
            "Man",
            HeaderValue::from_static("http://www.dmtf.org/cim/mapping.http/v1.0 ; ns=73"),
        );
        assert_eq!(man_prefix(&h).as_deref(), Some("73"));
    }
}
