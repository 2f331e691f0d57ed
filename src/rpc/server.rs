//! The native RPC server loop on tokio: accepts unix (read-write / read-only) and TCP clients and drives each
//! connection: frames in, [`Dispatcher`] calls (up to `max_client_requests` in flight), replies, events and
//! keepalive out, and the streams calls open carried both ways with backpressure (see `streams`).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use super::auth::{SaslConnection, SaslSettings};
use super::dispatch::{ConnectionState, DispatchOutcome, Dispatcher, DriverOpener, Route};
use super::packet::{
    encode_frame, FrameDecoder, Header, Message, MessageType, Status, FRAME_MAX, KEEPALIVE_PING,
    KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, PRE_AUTH_FRAME_MAX, REMOTE_PROGRAM,
};
use super::procedures::Procedure;
use super::proto::auth_type;
use super::socket::{BareSocket, RpcSocket};
use super::streams::{Inbound, ServerStreams, OUTBOX_ROOM};
use crate::auth::{SaslLayer, SaslTransport};
use crate::driver::{DomainEvent, NetworkEvent, PoolEvent};
use crate::listener::{accept_loop, Limit, Listener, Shutdown, Slot};
use crate::transport::tls::TlsServer;

/// How long a closing connection may take to flush what is queued for the client.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Replies gathered into one socket write at most (more only when one frame alone is larger).
const WRITE_BATCH_MAX: usize = 64 * 1024;

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 4 * 1024;

/// How long a stream's driver may refuse data from the client (its queue full) before the connection is closed:
/// a client that sends against the stream's direction would otherwise hold its connection forever.
const STREAM_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes read at a time while the connection carries a stream.
const STREAM_READ_CHUNK: usize = 256 * 1024;

/// Per-connection limits, with libvirtd's defaults.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Calls of one client processed at once; the socket is not read while this many are outstanding.
    pub max_client_requests: usize,
    /// Seconds of silence before the server PINGs a client that asked for keepalive; `None` disables PINGs.
    pub keepalive_interval: Option<Duration>,
    /// Unanswered PINGs before the connection is dropped.
    pub keepalive_count: u32,
    /// Replies and events queued for a client that does not read them; beyond this the client is dropped.
    pub max_queued_frames: usize,
    /// A client whose reply queue stays full this long (it does not read) is dropped.
    pub write_timeout: Duration,
    /// A frame started but not completed within this time closes the connection (slow-loris).
    pub frame_timeout: Duration,
    /// A connection not authenticated within this time is closed.
    pub auth_timeout: Duration,
    /// Connections served at once over all listeners; further ones are closed on accept.
    pub max_clients: usize,
    /// Connections on listeners that demand authentication and have not completed it yet; further ones are
    /// closed on accept. Connections that need no authentication never count, so they are never turned away.
    pub max_anonymous_clients: usize,
    /// Users, realm and policy for listeners that demand SASL; without it SASL calls fail.
    pub sasl: Option<Arc<SaslSettings>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_client_requests: 5,
            keepalive_interval: Some(Duration::from_secs(5)),
            keepalive_count: 5,
            max_queued_frames: 256,
            write_timeout: Duration::from_secs(10),
            frame_timeout: Duration::from_secs(30),
            auth_timeout: Duration::from_secs(60),
            max_clients: 5000,
            max_anonymous_clients: 20,
            sasl: None,
        }
    }
}

/// One RPC service: a dispatcher shared by all listeners and connections.
pub struct RpcServer {
    dispatcher: Dispatcher,
    config: ServerConfig,
    clients: Limit,
    anonymous: Limit,
    /// Numbers connections in traces, so that two clients from one address or user can be told apart.
    connections: std::sync::atomic::AtomicU64,
}

/// What a listener offers its clients: the authentication it demands and whether it is read-only.
#[derive(Clone, Copy, Debug)]
pub struct ListenerKind {
    /// An [`auth_type`] value; `NONE` authenticates every client at once.
    pub auth: i32,
    /// Every connection is read-only whatever it asks for (libvirt's `libvirt-sock-ro`).
    pub read_only: bool,
}

impl ListenerKind {
    pub const READ_WRITE: Self = Self {
        auth: auth_type::NONE,
        read_only: false,
    };
    pub const READ_ONLY: Self = Self {
        auth: auth_type::NONE,
        read_only: true,
    };
}

/// The slots one accepted connection holds; the anonymous one is given back once the client authenticates.
struct Admission {
    _client: Slot,
    anonymous: Option<Slot>,
}

impl RpcServer {
    pub fn new(opener: Arc<dyn DriverOpener>, config: ServerConfig) -> Arc<Self> {
        let clients = Limit::new("max_clients", config.max_clients);
        let anonymous = Limit::new("max_anonymous_clients", config.max_anonymous_clients);
        Arc::new(Self {
            dispatcher: Dispatcher::new(opener),
            config,
            clients,
            anonymous,
            connections: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Serves TCP clients (auth none) until the listener fails.
    pub async fn serve_tcp(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        self.serve_tcp_as(listener, ListenerKind::READ_WRITE).await
    }

    /// Serves TCP clients with the listener's authentication until the listener fails.
    pub async fn serve_tcp_as(
        self: Arc<Self>,
        listener: TcpListener,
        kind: ListenerKind,
    ) -> std::io::Result<()> {
        self.serve(listener, kind, Shutdown::never()).await
    }

    /// Serves a unix socket; `read_only` makes every connection read-only whatever it asks for.
    pub async fn serve_unix(
        self: Arc<Self>,
        listener: UnixListener,
        read_only: bool,
    ) -> std::io::Result<()> {
        let kind = ListenerKind {
            auth: auth_type::NONE,
            read_only,
        };
        self.serve_unix_as(listener, kind).await
    }

    /// Serves a unix socket with the listener's authentication and read-only mode until the listener fails.
    pub async fn serve_unix_as(
        self: Arc<Self>,
        listener: UnixListener,
        kind: ListenerKind,
    ) -> std::io::Result<()> {
        self.serve(listener, kind, Shutdown::never()).await
    }

    /// Serves a unix or TCP listener until `shutdown` fires (`Ok`) or the listener fails. Each connection lives on
    /// the runtime (thread) this runs on.
    pub async fn serve<L: PlainListener>(
        self: Arc<Self>,
        listener: L,
        kind: ListenerKind,
        shutdown: Shutdown,
    ) -> std::io::Result<()> {
        accept_loop(
            listener,
            L::NAME,
            shutdown,
            |_| self.admit(kind),
            |stream, peer, admission| {
                let (stream, transport, peer) = match L::take(stream, &peer, kind) {
                    Ok(taken) => taken,
                    Err(err) => {
                        tracing::warn!(error = %err, "rpc client socket cannot be watched; dropping it");
                        return;
                    }
                };
                let server = self.clone();
                tokio::spawn(server.run_traced(stream, kind, admission, transport, peer, None));
            },
        )
        .await
    }

    /// Serves TLS clients (auth none, read-write) on `listener` until it fails.
    pub async fn serve_tls(
        self: Arc<Self>,
        tls: Arc<TlsServer>,
        listener: TcpListener,
    ) -> std::io::Result<()> {
        self.serve_tls_as(tls, listener, ListenerKind::READ_WRITE, Shutdown::never())
            .await
    }

    /// Serves TLS clients until `shutdown` fires or the listener fails: each verified session (handshake under a
    /// deadline and the `max_handshakes` cap, certificate and DN checks) is served with the listener's `kind`.
    /// Sessions stay on the runtime this runs on (the daemon's main one), where handshakes do not hold up the
    /// RPC threads.
    pub async fn serve_tls_as(
        self: Arc<Self>,
        tls: Arc<TlsServer>,
        listener: TcpListener,
        kind: ListenerKind,
        shutdown: Shutdown,
    ) -> std::io::Result<()> {
        accept_loop(
            listener,
            "rpc tls",
            shutdown,
            |_| tls.handshake_slot(),
            |stream, peer, handshake| {
                let _ = stream.set_nodelay(true);
                let tls = tls.clone();
                let server = self.clone();
                tokio::spawn(async move {
                    let session = tls.accept_with_dn(stream).await;
                    drop(handshake);
                    match session {
                        Ok((session, dn)) => {
                            tracing::debug!(%peer, "tls client accepted");
                            let Some(admission) = server.admit(kind) else {
                                return;
                            };
                            let origin = peer.ip().to_string();
                            server
                                .run_traced(
                                    session,
                                    kind,
                                    admission,
                                    SaslTransport::Tls,
                                    origin,
                                    dn,
                                )
                                .await;
                        }
                        Err(err) => tracing::info!(%peer, error = %err, "tls client refused"),
                    }
                });
            },
        )
        .await
    }

    /// Slots under `max_clients` and, for a listener that demands authentication, `max_anonymous_clients`; `None`
    /// when either is full (the accepted socket is then dropped, i.e. closed).
    fn admit(&self, kind: ListenerKind) -> Option<Admission> {
        let client = self.clients.try_take()?;
        let anonymous = if kind.auth == auth_type::NONE {
            None
        } else {
            Some(self.anonymous.try_take()?)
        };
        Some(Admission {
            _client: client,
            anonymous,
        })
    }

    /// Binds a unix socket at `path`. A socket file left by a daemon that died is replaced; one a live process
    /// still accepts on is an `AddrInUse` error, never taken over.
    pub fn bind_unix(path: &Path) -> std::io::Result<UnixListener> {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("{} is in use by another running daemon", path.display()),
                ))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => match std::fs::remove_file(path) {
                Ok(()) => tracing::info!(path = %path.display(), "replaced a stale socket"),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            },
        }
        UnixListener::bind(path)
    }

    /// Runs one connection to its end (EOF, CONNECT_CLOSE, a framing error, a keepalive timeout).
    pub async fn serve_connection<S>(self: Arc<Self>, stream: S, auth: i32, read_only: bool)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let kind = ListenerKind { auth, read_only };
        self.serve_connection_from(stream, kind, SaslTransport::Tls, "tls".into())
            .await;
    }

    /// Runs one connection that arrived over `transport` from `peer` (an address; the key that failed SASL
    /// attempts are slowed by).
    pub async fn serve_connection_from<S>(
        self: Arc<Self>,
        stream: S,
        kind: ListenerKind,
        transport: SaslTransport,
        peer: String,
    ) where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let Some(admission) = self.admit(kind) else {
            return;
        };
        self.run_traced(stream, kind, admission, transport, peer, None)
            .await;
    }

    /// Runs one connection inside its tracing span (peer, transport, identity once known), so that with
    /// `RUST_LOG=virtcim=debug` every line about it, its calls included, says whose it is.
    async fn run_traced<S>(
        self: Arc<Self>,
        stream: S,
        kind: ListenerKind,
        admission: Admission,
        transport: SaslTransport,
        peer: String,
        tls_dn: Option<String>,
    ) where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let id = self
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let span = tracing::debug_span!(
            "rpc_conn",
            id,
            peer = %peer,
            transport = transport_name(transport),
            identity = tracing::field::Empty,
        );
        if let Some(dn) = &tls_dn {
            span.record("identity", dn.as_str());
        }
        self.run_connection(stream, kind, admission, (transport, peer))
            .instrument(span)
            .await;
    }

    async fn run_connection<S>(
        self: Arc<Self>,
        stream: S,
        kind: ListenerKind,
        mut admission: Admission,
        (transport, peer): (SaslTransport, String),
    ) where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let ListenerKind { auth, read_only } = kind;
        // A bare socket is closed by dropping it (the peer sees EOF all the same); only a stream layer such as TLS
        // needs a shutdown, to send its close message. Skipping it saves a syscall per connection.
        let any: &dyn std::any::Any = &stream;
        let bare_socket = any.is::<RpcSocket<std::os::unix::net::UnixStream>>()
            || any.is::<RpcSocket<std::net::TcpStream>>()
            || any.is::<tokio::net::UnixStream>()
            || any.is::<tokio::net::TcpStream>();
        let (mut reader, mut writer) = tokio::io::split(stream);
        // One task per connection owns both halves: replies are written from here, gathered in `outbox`, without
        // a hop to another task.
        let queue_cap = self.config.max_queued_frames.max(1);
        let mut outbox = Outbox::default();
        let mut state = ConnectionState::new(auth, read_only);
        if auth == auth_type::SASL {
            if let Some(settings) = &self.config.sasl {
                state.sasl = Some(SaslConnection::new(settings.clone(), transport, peer));
            }
        }
        let mut decoder = FrameDecoder::new(if state.authenticated {
            FRAME_MAX
        } else {
            PRE_AUTH_FRAME_MAX
        });
        let mut jobs: JoinSet<DispatchOutcome> = JoinSet::new();
        let mut events = EventFeeds::default();
        let mut streams = ServerStreams::default();
        // Small on purpose: calls are small, and an idle connection should cost little memory.
        let mut buf = vec![0u8; READ_CHUNK];
        let mut last_heard = Instant::now();
        let mut pings_unanswered = 0u32;
        let tick = self
            .config
            .keepalive_interval
            .unwrap_or(Duration::from_secs(3600));
        let mut keepalive = tokio::time::interval_at(Instant::now() + tick, tick);
        let max_jobs = self.config.max_client_requests.max(1);
        let mut closing = false;
        let auth_deadline = Instant::now() + self.config.auth_timeout;
        let mut partial_since: Option<Instant> = None;
        let mut was_authenticated = state.authenticated;
        tracing::debug!(auth = auth, read_only, "rpc client connected");

        'conn: while !closing {
            if outbox.broken {
                break 'conn;
            }
            // Stream data comes in large frames: read it in large pieces while a stream is open.
            if streams.is_empty() {
                if buf.len() > READ_CHUNK {
                    buf = vec![0u8; READ_CHUNK];
                }
            } else if buf.len() < STREAM_READ_CHUNK {
                buf.resize(STREAM_READ_CHUNK, 0);
            }
            // Write what is queued now if the socket takes it; what it does not take waits in the write branch.
            while outbox.pending() {
                let write = std::pin::pin!(writer.write(&outbox.buf[outbox.pos..]));
                match poll_once(write) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => break 'conn,
                    Poll::Ready(Ok(n)) => outbox.advance(n),
                    Poll::Pending => break,
                }
            }
            tokio::select! {
                written = writer.write(&outbox.buf[outbox.pos..]), if outbox.pending() => {
                    match written {
                        Ok(0) | Err(_) => break 'conn,
                        Ok(n) => outbox.advance(n),
                    }
                }
                _ = tokio::time::sleep_until(outbox.full_since.unwrap_or(auth_deadline) + self.config.write_timeout),
                    if outbox.full_since.is_some() => {
                    tracing::debug!("rpc client does not read its replies, closing");
                    break 'conn;
                }
                read = reader.read(&mut buf), if jobs.len() < max_jobs && outbox.frames < queue_cap => {
                    let n = match read {
                        Ok(0) | Err(_) => break 'conn,
                        Ok(n) => n,
                    };
                    last_heard = Instant::now();
                    pings_unanswered = 0;
                    match outbox.layer.as_mut() {
                        None => decoder.push(&buf[..n]),
                        Some(layer) => match layer.decode(&buf[..n]) {
                            Ok(plain) => decoder.push(&plain),
                            Err(err) => {
                                tracing::debug!(%err, "rpc SASL layer refused client data, closing");
                                break 'conn;
                            }
                        },
                    }
                    loop {
                        let frame = match decoder.next_frame() {
                            Ok(Some(frame)) => frame,
                            Ok(None) => break,
                            Err(err) => {
                                tracing::debug!(%err, "rpc framing error, closing");
                                break 'conn;
                            }
                        };
                        let message = match Message::from_frame(&frame) {
                            Ok(message) => message,
                            Err(_) => {
                                // Unknown type/status: the dispatcher answers on that serial if it can.
                                match self.dispatcher.handle_frame(&mut state, &frame).await {
                                    Ok(outcome) => {
                                        if !self.deliver(&mut outbox, outcome, &mut events, &mut closing, &mut streams) {
                                            break 'conn;
                                        }
                                        continue;
                                    }
                                    Err(_) => break 'conn,
                                }
                            }
                        };
                        if message.header.prog == KEEPALIVE_PROGRAM
                            && message.header.kind == MessageType::Message
                            && message.header.proc_ != KEEPALIVE_PING
                        {
                            continue; // PONGs and unknown keepalive procedures only prove liveness
                        }
                        if matches!(message.header.kind, MessageType::Stream | MessageType::StreamHole) {
                            let (serial, packet) = match streams.inbound(&message) {
                                Inbound::Unknown => continue,
                                Inbound::Answer(frame) => {
                                    outbox.push(frame, queue_cap);
                                    continue;
                                }
                                Inbound::Forward(serial, packet) => (serial, packet),
                            };
                            let Some(stream) = streams.stream(serial) else {
                                continue;
                            };
                            // Backpressure: the socket is not read until the driver takes this packet, but what
                            // is queued for the client keeps going out.
                            let mut packet = Some(packet);
                            let stall = tokio::time::sleep(STREAM_STALL_TIMEOUT);
                            tokio::pin!(stall);
                            while packet.is_some() {
                                tokio::select! {
                                    _ = &mut stall => {
                                        tracing::debug!("rpc stream takes no data, closing");
                                        break 'conn;
                                    }
                                    permit = stream.reserve() => {
                                        if let (Ok(permit), Some(packet)) = (permit, packet.take()) {
                                            permit.send(packet);
                                        }
                                        // A driver that went away has left its verdict in its queue.
                                        packet = None;
                                    }
                                    written = writer.write(&outbox.buf[outbox.pos..]), if outbox.pending() => {
                                        match written {
                                            Ok(0) | Err(_) => break 'conn,
                                            Ok(n) => outbox.advance(n),
                                        }
                                    }
                                }
                            }
                            continue;
                        }
                        let trace = CallTrace::start(&message.header);
                        let outcome = match self.dispatcher.route(&state, &message) {
                            Route::Done(outcome) => {
                                if let Some(trace) = trace {
                                    trace.finish(&outcome);
                                }
                                outcome
                            }
                            Route::Job(job) => {
                                // Frames already buffered wait for a free slot, like unread bytes do.
                                while jobs.len() >= max_jobs {
                                    if let Some(Ok(outcome)) = jobs.join_next().await {
                                        if !self.deliver(&mut outbox, outcome, &mut events, &mut closing, &mut streams) {
                                            break 'conn;
                                        }
                                    }
                                }
                                // Most driver calls finish without waiting (in-memory state, an uncontended
                                // lock): answer those at once instead of paying a task spawn and two wake-ups.
                                let mut job = Traced {
                                    job: Box::pin(job.run()),
                                    trace,
                                };
                                if let Poll::Ready(outcome) = poll_once(Pin::new(&mut job)) {
                                    if !self.deliver(&mut outbox, outcome, &mut events, &mut closing, &mut streams) {
                                        break 'conn;
                                    }
                                    continue;
                                }
                                jobs.spawn(job);
                                continue;
                            }
                            Route::Stateful(header, call) => {
                                // State changes see every earlier call finished, as a client expects after CLOSE.
                                while let Some(done) = jobs.join_next().await {
                                    if let Ok(outcome) = done {
                                        if !self.deliver(&mut outbox, outcome, &mut events, &mut closing, &mut streams) {
                                            break 'conn;
                                        }
                                    }
                                }
                                let call = self.dispatcher.stateful(&mut state, &header, call);
                                match trace {
                                    None => call.await,
                                    Some(trace) => {
                                        let outcome = call.instrument(trace.span.clone()).await;
                                        trace.finish(&outcome);
                                        outcome
                                    }
                                }
                            }
                        };
                        if !self.deliver(&mut outbox, outcome, &mut events, &mut closing, &mut streams) {
                            break 'conn;
                        }
                        // The final SASL reply went out plain; everything after it goes through the layer.
                        if let Some(layer) = state.sasl.as_mut().and_then(|s| s.pending_layer.take()) {
                            // A client cannot have sent layer data before it saw that reply; bytes already
                            // buffered would be read as the wrong kind.
                            if decoder.buffered() > 0 {
                                tracing::debug!("rpc client sent data before the SASL layer started, closing");
                                break 'conn;
                            }
                            outbox.layer = Some(layer);
                        }
                        if state.authenticated && !was_authenticated {
                            was_authenticated = true;
                            decoder.set_limit(FRAME_MAX);
                            admission.anonymous = None;
                            if let Some(name) = state.sasl.as_ref().and_then(|s| s.username.as_deref()) {
                                tracing::Span::current().record("identity", name);
                                tracing::debug!(user = name, "rpc client authenticated");
                            }
                        }
                        if closing {
                            break;
                        }
                    }
                    partial_since = match (decoder.buffered(), partial_since) {
                        (0, _) => None,
                        (_, Some(since)) => Some(since),
                        (_, None) => Some(Instant::now()),
                    };
                }
                _ = tokio::time::sleep_until(partial_since.unwrap_or(auth_deadline) + self.config.frame_timeout),
                    if partial_since.is_some() => {
                    tracing::debug!("rpc frame stalled, closing");
                    break 'conn;
                }
                _ = tokio::time::sleep_until(auth_deadline), if !state.authenticated => {
                    tracing::debug!("rpc client did not authenticate in time, closing");
                    break 'conn;
                }
                Some(done) = jobs.join_next(), if !jobs.is_empty() => {
                    if let Ok(outcome) = done {
                        if !self.deliver(&mut outbox, outcome, &mut events, &mut closing, &mut streams) {
                            break 'conn;
                        }
                    }
                }
                frames = streams.next_frames(),
                    if !streams.is_empty() && outbox.buf.len() - outbox.pos < OUTBOX_ROOM && outbox.frames < queue_cap / 2 => {
                    for frame in frames {
                        outbox.push(frame, queue_cap);
                    }
                }
                event = next_event(&mut state.secret_events), if state.secret_events.is_some() => {
                    match event {
                        Some(event) => {
                            for frame in state.secret_event_frames(&event) {
                                if outbox.frames >= queue_cap {
                                    tracing::debug!("rpc client does not read its events, closing");
                                    break 'conn;
                                }
                                outbox.push(frame, queue_cap);
                            }
                        }
                        None => state.secret_events = None,
                    }
                }
                event = next_event(&mut events.domains), if events.domains.is_some() => {
                    match event {
                        Some(event) => {
                            for frame in state.event_frames(&event) {
                                if outbox.frames >= queue_cap {
                                    tracing::debug!("rpc client does not read its events, closing");
                                    break 'conn;
                                }
                                outbox.push(frame, queue_cap);
                            }
                        }
                        None => events.domains = None,
                    }
                    if !state.wants_events() {
                        events.domains = None;
                    }
                }
                event = next_event(&mut events.networks), if events.networks.is_some() => {
                    match event {
                        Some(event) => {
                            for frame in state.network_event_frames(&event) {
                                if outbox.frames >= queue_cap {
                                    tracing::debug!("rpc client does not read its events, closing");
                                    break 'conn;
                                }
                                outbox.push(frame, queue_cap);
                            }
                        }
                        None => events.networks = None,
                    }
                    if !state.wants_network_events() {
                        events.networks = None;
                    }
                }
                event = next_event(&mut events.pools), if events.pools.is_some() => {
                    match event {
                        Some(event) => {
                            for frame in state.pool_event_frames(&event) {
                                if outbox.frames >= queue_cap {
                                    tracing::debug!("rpc client does not read its events, closing");
                                    break 'conn;
                                }
                                outbox.push(frame, queue_cap);
                            }
                        }
                        None => events.pools = None,
                    }
                    if !state.wants_pool_events() {
                        events.pools = None;
                    }
                }
                _ = keepalive.tick(), if state.keepalive && self.config.keepalive_interval.is_some() => {
                    if last_heard.elapsed() >= tick {
                        if pings_unanswered >= self.config.keepalive_count {
                            tracing::debug!("rpc client silent, closing");
                            break 'conn;
                        }
                        pings_unanswered += 1;
                        let ping = Header {
                            prog: KEEPALIVE_PROGRAM,
                            vers: KEEPALIVE_VERSION,
                            proc_: KEEPALIVE_PING,
                            kind: MessageType::Message,
                            serial: 0,
                            status: Status::Ok,
                        };
                        outbox.push(encode_frame(&ping, &[]), queue_cap);
                    }
                }
            }
        }
        jobs.abort_all();
        // Let queued replies (the CONNECT_CLOSE answer) go out, but never wait long on a client that does not read.
        if outbox.pending() {
            let rest = &outbox.buf[outbox.pos..];
            let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, writer.write_all(rest)).await;
        }
        if !bare_socket {
            let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, writer.shutdown()).await;
        }
        if let Some(driver) = state.driver.take() {
            self.dispatcher.release(driver).await;
        }
        tracing::debug!("rpc client gone");
    }

    /// Queues an outcome's reply and takes its side effects; false ends the connection.
    fn deliver(
        &self,
        outbox: &mut Outbox,
        outcome: DispatchOutcome,
        events: &mut EventFeeds,
        closing: &mut bool,
        streams: &mut ServerStreams,
    ) -> bool {
        if let Some(receiver) = outcome.subscribe {
            events.domains = Some(receiver);
        }
        if let Some(receiver) = outcome.subscribe_networks {
            events.networks = Some(receiver);
        }
        if let Some(receiver) = outcome.subscribe_pools {
            events.pools = Some(receiver);
        }
        *closing |= outcome.close;
        if let Some(frame) = outcome.reply {
            outbox.push(frame, self.config.max_queued_frames.max(1));
        }
        if let Some((call, opened)) = outcome.stream {
            streams.add(call, opened);
        }
        true
    }
}

/// Frames waiting for the socket. Past `max_queued_frames` the connection is not read (backpressure); staying
/// that full without any write progress for `write_timeout` drops the client (it does not read).
#[derive(Default)]
struct Outbox {
    /// The SASL security layer once negotiated: frames are encoded as they are queued.
    layer: Option<SaslLayer>,
    /// The layer failed to encode: the connection cannot go on.
    broken: bool,
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    pos: usize,
    /// Frames queued since the buffer was last empty.
    frames: usize,
    /// Since when the queue is full without progress.
    full_since: Option<Instant>,
}

impl Outbox {
    fn pending(&self) -> bool {
        self.pos < self.buf.len()
    }

    fn push(&mut self, frame: Vec<u8>, cap: usize) {
        let frame = match self.layer.as_mut().map(|layer| layer.encode(&frame)) {
            None => frame,
            Some(Ok(wire)) => wire,
            Some(Err(err)) => {
                tracing::warn!(%err, "rpc SASL layer cannot encode a reply");
                self.broken = true;
                return;
            }
        };
        if self.buf.is_empty() {
            self.buf = frame; // the common case: one reply, no copy
        } else {
            // A queue that never drains completely (a stream keeps it busy) drops what was written, or the
            // buffer would grow by everything ever sent.
            if self.pos >= WRITE_BATCH_MAX {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            self.buf.extend_from_slice(&frame);
        }
        self.frames += 1;
        if self.frames >= cap && self.full_since.is_none() {
            self.full_since = Some(Instant::now());
        }
    }

    fn advance(&mut self, written: usize) {
        self.pos += written;
        if self.pos >= self.buf.len() {
            self.pos = 0;
            self.frames = 0;
            self.full_since = None;
            if self.buf.capacity() > WRITE_BATCH_MAX * 2 {
                self.buf = Vec::new(); // a huge reply went through: do not keep its buffer on an idle client
            } else {
                self.buf.clear();
            }
        } else if self.full_since.is_some() {
            self.full_since = Some(Instant::now());
        }
    }
}

/// Polls a future once, without a task to wake: `Pending` leaves it to be spawned and polled again.
fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    let mut context = Context::from_waker(Waker::noop());
    future.poll(&mut context)
}

/// A listening socket whose clients the RPC server reads directly (unix or TCP): how it turns an accepted stream
/// into the [`RpcSocket`] it serves and names the peer.
pub trait PlainListener: Listener {
    /// The listener's name in log lines.
    const NAME: &'static str;
    type Socket: BareSocket;
    /// The socket to serve, its transport and the peer's name (an address: the key failed SASL logins are slowed
    /// by, and the connection's name in traces).
    fn take(
        stream: Self::Stream,
        peer: &Self::Peer,
        kind: ListenerKind,
    ) -> std::io::Result<(RpcSocket<Self::Socket>, SaslTransport, String)>;
}

impl PlainListener for TcpListener {
    const NAME: &'static str = "rpc tcp";
    type Socket = std::net::TcpStream;
    fn take(
        stream: tokio::net::TcpStream,
        peer: &std::net::SocketAddr,
        _kind: ListenerKind,
    ) -> std::io::Result<(RpcSocket<std::net::TcpStream>, SaslTransport, String)> {
        let _ = stream.set_nodelay(true);
        Ok((
            RpcSocket::from_tokio_tcp(stream)?,
            SaslTransport::Tcp,
            peer.ip().to_string(),
        ))
    }
}

impl PlainListener for UnixListener {
    const NAME: &'static str = "rpc unix";
    type Socket = std::os::unix::net::UnixStream;
    fn take(
        stream: tokio::net::UnixStream,
        _peer: &tokio::net::unix::SocketAddr,
        kind: ListenerKind,
    ) -> std::io::Result<(
        RpcSocket<std::os::unix::net::UnixStream>,
        SaslTransport,
        String,
    )> {
        // Failed SASL logins slow down the local user who failed, not every local client (only asked for where
        // SASL is, or a trace wants the name: a syscall saved on every other connection).
        let peer = if kind.auth == auth_type::SASL || tracing::enabled!(tracing::Level::DEBUG) {
            match stream.peer_cred() {
                Ok(cred) => format!("unix uid {}", cred.uid()),
                Err(_) => "unix".to_owned(),
            }
        } else {
            "unix".to_owned()
        };
        Ok((
            RpcSocket::from_tokio_unix(stream)?,
            SaslTransport::Unix,
            peer,
        ))
    }
}

fn transport_name(transport: SaslTransport) -> &'static str {
    match transport {
        SaslTransport::Unix => "unix",
        SaslTransport::Tcp => "tcp",
        SaslTransport::Tls => "tls",
        SaslTransport::Ssh => "ssh",
    }
}

/// One call being traced: its span (program, procedure, serial) and when it arrived. Made only when debug
/// logging is on, so a call costs one level check otherwise.
struct CallTrace {
    span: tracing::Span,
    started: Instant,
}

impl CallTrace {
    fn start(header: &Header) -> Option<Self> {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return None;
        }
        let program = match header.prog {
            REMOTE_PROGRAM => "remote",
            crate::rpc::qemu::QEMU_PROGRAM => "qemu",
            KEEPALIVE_PROGRAM => "keepalive",
            _ => "unknown",
        };
        let span = if header.prog == REMOTE_PROGRAM {
            let procedure = Procedure::from_number(header.proc_);
            tracing::debug_span!("rpc_call", program, procedure = %procedure, serial = header.serial)
        } else {
            tracing::debug_span!(
                "rpc_call",
                program,
                procedure = header.proc_,
                serial = header.serial
            )
        };
        Some(Self {
            span,
            started: Instant::now(),
        })
    }

    /// Logs how the call ended: the reply's status and, for an error, libvirt's error code.
    fn finish(self, outcome: &DispatchOutcome) {
        let duration_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (status, code) = reply_result(outcome.reply.as_deref());
        tracing::debug!(parent: &self.span, duration_us, status, code, "rpc call done");
    }
}

/// The status of a reply frame (`ok`, `error`, `none` without a reply) and, for an error, the code that opens
/// its `remote_error` body.
fn reply_result(frame: Option<&[u8]>) -> (&'static str, Option<i32>) {
    let word = |at: usize| {
        frame
            .and_then(|frame| frame.get(at..at + 4))
            .map(|bytes| i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    // Length word, then prog, vers, proc, type, serial, status; the body after them.
    match word(24) {
        None => ("none", None),
        Some(0) => ("ok", None),
        Some(1) => ("error", word(28)),
        Some(_) => ("other", None),
    }
}

/// A dispatched call's future, traced when its call is (inside its span, logged when it ends).
struct Traced<F> {
    job: Pin<Box<F>>,
    trace: Option<CallTrace>,
}

impl<F: Future<Output = DispatchOutcome>> Future for Traced<F> {
    type Output = DispatchOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DispatchOutcome> {
        let this = &mut *self;
        let entered = this.trace.as_ref().map(|trace| trace.span.enter());
        let outcome = std::task::ready!(this.job.as_mut().poll(cx));
        drop(entered);
        if let Some(trace) = this.trace.take() {
            trace.finish(&outcome);
        }
        Poll::Ready(outcome)
    }
}

/// The driver event channels one client listens to, once it registered for that family.
#[derive(Default)]
struct EventFeeds {
    domains: Option<broadcast::Receiver<DomainEvent>>,
    networks: Option<broadcast::Receiver<NetworkEvent>>,
    pools: Option<broadcast::Receiver<PoolEvent>>,
}

/// The next event; `None` when the driver's channel closed. Lagging receivers skip what they missed.
async fn next_event<E: Clone>(events: &mut Option<broadcast::Receiver<E>>) -> Option<E> {
    let receiver = events.as_mut()?;
    loop {
        match receiver.recv().await {
            Ok(event) => return Some(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "rpc client missed events");
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}
