//! One incoming RPC message in, at most one reply frame out: the server-side rules of libvirtd (auth gate,
//! open gate, read-only allow-list, unknown and unimplemented procedures) and the calls into the [`Driver`].
//!
//! Pure of I/O: the server feeds decoded frames and writes back what comes out. Calls that only need the driver
//! are returned as a [`DriverJob`] by [`Dispatcher::route`] so a server can run several of them at once.

mod connect;
mod domain;
mod domain_stats;
mod domain_tunables;
mod interface;
mod migration;
mod network;
mod node_device;
mod nwfilter;
mod qemu;
mod secret;
mod snapshot;
mod storage;
mod stream;

pub use stream::OpenedStream;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::packet::{
    encode_frame, FrameError, Header, Message, MessageType, Status, KEEPALIVE_PING, KEEPALIVE_PONG,
    KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, REMOTE_PROGRAM, REMOTE_VERSION,
};
use super::procedures::Procedure;
use super::proto::{self, auth_type, feature, Call, RemoteError, Reply};
use super::qemu as proto_qemu;
use super::values::WrapReply;
use super::xdr::Parts;
use super::xdr::{Array, CharArray, Opaque, Xdr};
use crate::driver::{
    flags, Access, Connection, DomainEvent, DomainRef, NetworkEvent, NetworkRef, PoolEvent,
    PoolEventKind, PoolRef, SecretEvent, SecretEventKind, SecretRef, TunableKind,
};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};

/// `virErrorLevel` ERROR.
const ERROR_LEVEL: i32 = 2;
/// CONNECT_OPEN flag bit: read-only connection.
const OPEN_READ_ONLY: u32 = 1;
/// `VIR_DOMAIN_EVENT_ID_LIFECYCLE`, served to both kinds of registration.
const EVENT_ID_LIFECYCLE: i32 = 0;
/// `VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED`, served to callback registrations.
const EVENT_ID_DEVICE_REMOVED: i32 = 15;
/// `VIR_DOMAIN_EVENT_ID_METADATA_CHANGE` (callback registrations only: it has no legacy message).
const EVENT_ID_METADATA_CHANGE: i32 = 23;
/// `VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE` (callback registrations only).
const EVENT_ID_AGENT_LIFECYCLE: i32 = 18;
/// `VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_CHANNEL`: the agent's channel opened or closed.
const AGENT_LIFECYCLE_REASON_CHANNEL: i32 = 2;
/// `VIR_NETWORK_EVENT_ID_LIFECYCLE`, the only network event family.
const NETWORK_EVENT_ID_LIFECYCLE: i32 = 0;

/// Resolves the name a client passes to CONNECT_OPEN into a driver; the daemon decides which drivers exist.
#[async_trait]
pub trait DriverOpener: Send + Sync {
    /// `name` is the URI the client sent (`None` or empty: the daemon's default); `read_only` is already final.
    async fn open(&self, name: Option<&str>, read_only: bool) -> Result<Connection>;

    /// A connection is done with a driver `open` gave it (CONNECT_CLOSE or the connection ended). The default
    /// closes it, for per-connection drivers; an opener that shares drivers among clients keeps them open.
    async fn release(&self, driver: Connection) {
        let _ = driver.close().await;
    }
}

/// One lifecycle callback a client registered (CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY).
#[derive(Clone, Debug)]
pub struct EventCallback {
    pub event_id: i32,
    /// Only events of this domain, when set.
    pub dom: Option<DomainRef>,
}

/// One storage pool callback a client registered (CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY).
#[derive(Clone, Debug)]
pub struct PoolCallback {
    /// `VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE` (0) or `_REFRESH` (1).
    pub event_id: i32,
    /// Only events of this pool, when set.
    pub pool: Option<PoolRef>,
}

/// `VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE` and `_REFRESH`, the storage pool event families.
const POOL_EVENT_ID_LIFECYCLE: i32 = 0;
const POOL_EVENT_ID_REFRESH: i32 = 1;
/// One secret event callback a client registered (CONNECT_SECRET_EVENT_REGISTER_ANY).
#[derive(Clone, Debug)]
pub struct SecretCallback {
    /// `VIR_SECRET_EVENT_ID_LIFECYCLE` (0) or `VALUE_CHANGED` (1).
    pub event_id: i32,
    /// Only events of this secret, when set.
    pub secret: Option<SecretRef>,
}

/// `VIR_SECRET_EVENT_ID_LAST`.
const SECRET_EVENT_IDS: i32 = 2;

/// What one connection has established so far.
pub struct ConnectionState {
    /// What AUTH_LIST answers (one entry, as libvirtd does).
    pub auth_types: Vec<i32>,
    pub authenticated: bool,
    /// Forced by the read-only socket or asked for by CONNECT_OPEN.
    pub read_only: bool,
    pub driver: Option<Connection>,
    /// The client probed feature 10: the server should send keepalive PINGs.
    pub keepalive: bool,
    pub callbacks: BTreeMap<i32, EventCallback>,
    /// Legacy (pre-callback) lifecycle registration: events go out as DOMAIN_EVENT_LIFECYCLE.
    pub legacy_lifecycle: bool,
    /// Network lifecycle callbacks (CONNECT_NETWORK_EVENT_REGISTER_ANY), each for one network or all of them.
    pub network_callbacks: BTreeMap<i32, Option<NetworkRef>>,
    pub pool_callbacks: BTreeMap<i32, PoolCallback>,
    next_callback_id: i32,
    pub secret_callbacks: BTreeMap<i32, SecretCallback>,
    /// The driver's secret events, from the first secret callback on; the server forwards them through
    /// [`ConnectionState::secret_event_frames`].
    pub secret_events: Option<broadcast::Receiver<SecretEvent>>,
    /// The SASL exchange, on a listener that demands SASL.
    pub sasl: Option<super::auth::SaslConnection>,
}

impl ConnectionState {
    /// A connection on a socket offering `auth` (an [`auth_type`] value); `NONE` means authenticated at once.
    pub fn new(auth: i32, read_only_socket: bool) -> Self {
        Self {
            auth_types: vec![auth],
            authenticated: auth == auth_type::NONE,
            read_only: read_only_socket,
            driver: None,
            keepalive: false,
            callbacks: BTreeMap::new(),
            legacy_lifecycle: false,
            network_callbacks: BTreeMap::new(),
            pool_callbacks: BTreeMap::new(),
            next_callback_id: 0,
            secret_callbacks: BTreeMap::new(),
            secret_events: None,
            sasl: None,
        }
    }

    pub fn wants_events(&self) -> bool {
        self.legacy_lifecycle || !self.callbacks.is_empty()
    }

    pub fn wants_network_events(&self) -> bool {
        !self.network_callbacks.is_empty()
    }

    /// The NETWORK_EVENT_LIFECYCLE frames one network event turns into (one per matching callback).
    pub fn network_event_frames(&self, event: &NetworkEvent) -> Vec<Vec<u8>> {
        self.network_callbacks
            .iter()
            .filter(|(_, net)| {
                net.as_ref()
                    .is_none_or(|net| net.uuid == event.network.uuid)
            })
            .map(|(&callback_id, _)| {
                let body = proto::NetworkEventLifecycleMsg {
                    callback_id,
                    net: event.network.clone(),
                    event: event.event,
                    detail: event.detail,
                };
                event_frame(Procedure::NetworkEventLifecycle, &body.to_bytes())
            })
            .collect()
    }

    pub fn wants_pool_events(&self) -> bool {
        !self.pool_callbacks.is_empty()
    }

    /// The MESSAGE frames one storage pool event turns into for this client (one per matching callback).
    pub fn pool_event_frames(&self, event: &PoolEvent) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for (&callback_id, callback) in &self.pool_callbacks {
            if callback
                .pool
                .as_ref()
                .is_some_and(|pool| pool.uuid != event.pool.uuid)
            {
                continue;
            }
            match (callback.event_id, event.kind) {
                (
                    POOL_EVENT_ID_LIFECYCLE,
                    PoolEventKind::Lifecycle {
                        event: kind,
                        detail,
                    },
                ) => {
                    let body = proto::PoolLifecycleMsg {
                        callback_id,
                        pool: event.pool.clone(),
                        event: kind,
                        detail,
                    };
                    frames.push(event_frame(
                        Procedure::StoragePoolEventLifecycle,
                        &body.to_bytes(),
                    ));
                }
                (POOL_EVENT_ID_REFRESH, PoolEventKind::Refresh) => {
                    let body = proto::PoolRefreshMsg {
                        callback_id,
                        pool: event.pool.clone(),
                    };
                    frames.push(event_frame(
                        Procedure::StoragePoolEventRefresh,
                        &body.to_bytes(),
                    ));
                }
                _ => {}
            }
        }
        frames
    }

    /// The MESSAGE frames one driver event turns into for this client (one per matching registration).
    pub fn event_frames(&self, event: &DomainEvent) -> Vec<Vec<u8>> {
        if let Some(alias) = &event.device_removed {
            return self.device_removed_frames(event, alias);
        }
        let wanted = |callback: &EventCallback, event_id: i32| {
            callback.event_id == event_id
                && callback
                    .dom
                    .as_ref()
                    .is_none_or(|dom| dom.uuid == event.domain.uuid)
        };
        if let Some(change) = &event.metadata {
            return self
                .callbacks
                .iter()
                .filter(|(_, callback)| wanted(callback, EVENT_ID_METADATA_CHANGE))
                .map(|(&callback_id, _)| {
                    let body = proto::CallbackMetadataChangeMsg {
                        callback_id,
                        dom: event.domain.clone(),
                        kind: change.kind,
                        nsuri: change.nsuri.clone(),
                    };
                    event_frame(
                        Procedure::DomainEventCallbackMetadataChange,
                        &body.to_bytes(),
                    )
                })
                .collect();
        }
        if event.event == crate::driver::event::AGENT_LIFECYCLE {
            return self
                .callbacks
                .iter()
                .filter(|(_, callback)| wanted(callback, EVENT_ID_AGENT_LIFECYCLE))
                .map(|(&callback_id, _)| {
                    let body = proto::CallbackAgentLifecycleMsg {
                        callback_id,
                        dom: event.domain.clone(),
                        state: event.detail,
                        reason: AGENT_LIFECYCLE_REASON_CHANNEL,
                    };
                    event_frame(
                        Procedure::DomainEventCallbackAgentLifecycle,
                        &body.to_bytes(),
                    )
                })
                .collect();
        }
        let msg = proto::LifecycleMsg {
            dom: event.domain.clone(),
            event: event.event,
            detail: event.detail,
        };
        let mut frames = Vec::new();
        if self.legacy_lifecycle {
            frames.push(event_frame(
                Procedure::DomainEventLifecycle,
                &msg.to_bytes(),
            ));
        }
        for (&callback_id, callback) in &self.callbacks {
            if wanted(callback, EVENT_ID_LIFECYCLE) {
                let body = proto::CallbackLifecycleMsg {
                    callback_id,
                    msg: msg.clone(),
                };
                frames.push(event_frame(
                    Procedure::DomainEventCallbackLifecycle,
                    &body.to_bytes(),
                ));
            }
        }
        frames
    }
}

impl ConnectionState {
    /// The MESSAGE frames one secret event turns into for this client (one per matching callback).
    pub fn secret_event_frames(&self, event: &SecretEvent) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for (&callback_id, callback) in &self.secret_callbacks {
            if callback
                .secret
                .as_ref()
                .is_some_and(|s| s.uuid != event.secret.uuid)
            {
                continue;
            }
            match (callback.event_id, event.kind) {
                (
                    0,
                    SecretEventKind::Lifecycle {
                        event: kind,
                        detail,
                    },
                ) => {
                    let msg = proto::SecretLifecycleMsg {
                        callback_id,
                        secret: event.secret.clone(),
                        event: kind,
                        detail,
                    };
                    frames.push(event_frame(
                        Procedure::SecretEventLifecycle,
                        &msg.to_bytes(),
                    ));
                }
                (1, SecretEventKind::ValueChanged) => {
                    let msg = proto::SecretValueChangedMsg {
                        callback_id,
                        secret: event.secret.clone(),
                    };
                    frames.push(event_frame(
                        Procedure::SecretEventValueChanged,
                        &msg.to_bytes(),
                    ));
                }
                _ => {}
            }
        }
        frames
    }

    /// Device-removed events go to the callbacks registered for them (clients without callback support never
    /// register that family: only lifecycle is accepted from them).
    fn device_removed_frames(&self, event: &DomainEvent, alias: &str) -> Vec<Vec<u8>> {
        let msg = proto::DeviceRemovedMsg {
            dom: event.domain.clone(),
            dev_alias: alias.to_string(),
        };
        self.callbacks
            .iter()
            .filter(|(_, callback)| {
                callback.event_id == EVENT_ID_DEVICE_REMOVED
                    && callback
                        .dom
                        .as_ref()
                        .is_none_or(|dom| dom.uuid == event.domain.uuid)
            })
            .map(|(&callback_id, _)| {
                let body = proto::CallbackDeviceRemovedMsg {
                    callback_id,
                    msg: msg.clone(),
                };
                event_frame(
                    Procedure::DomainEventCallbackDeviceRemoved,
                    &body.to_bytes(),
                )
            })
            .collect()
    }
}

fn event_frame(proc_: Procedure, payload: &[u8]) -> Vec<u8> {
    let header = Header {
        prog: REMOTE_PROGRAM,
        vers: REMOTE_VERSION,
        proc_: proc_.number(),
        kind: MessageType::Message,
        serial: 0,
        status: Status::Ok,
    };
    encode_frame(&header, payload)
}

/// What the server does after one message.
#[derive(Default)]
pub struct DispatchOutcome {
    /// The frame to send back, if any.
    pub reply: Option<Vec<u8>>,
    /// Close the connection once the reply is written (CONNECT_CLOSE).
    pub close: bool,
    /// The client registered its first event callback: forward these driver events through
    /// [`ConnectionState::event_frames`].
    pub subscribe: Option<broadcast::Receiver<DomainEvent>>,
    /// The client registered its first network event callback: forward these through
    /// [`ConnectionState::network_event_frames`].
    pub subscribe_networks: Option<broadcast::Receiver<NetworkEvent>>,
    /// The client registered its first storage pool callback: forward these through
    /// [`ConnectionState::pool_event_frames`].
    pub subscribe_pools: Option<broadcast::Receiver<PoolEvent>>,
    /// The call opened a stream: its messages follow the reply, on the call's procedure and serial.
    pub stream: Option<(Header, OpenedStream)>,
}

impl DispatchOutcome {
    fn reply(frame: Vec<u8>) -> Self {
        Self {
            reply: Some(frame),
            ..Self::default()
        }
    }
}

/// A call that needs only the driver; run it anywhere, in any order with others.
pub struct DriverJob {
    header: Header,
    driver: Connection,
    call: JobCall,
}

/// The decoded call of a job, by program.
enum JobCall {
    Remote(Call),
    Qemu(proto_qemu::QemuCall),
}

impl DriverJob {
    pub async fn run(self) -> DispatchOutcome {
        let Self {
            header,
            driver,
            call,
        } = self;
        let call = match call {
            JobCall::Remote(call) => call,
            JobCall::Qemu(call) => {
                let frame = match driver.home_runtime() {
                    Some(home) if !is_current_runtime(&home) => home
                        .spawn(async move { qemu::answer(&header, &driver, call).await })
                        .await
                        .unwrap_or_else(|err| {
                            error_frame(
                                &header,
                                &Error::internal(
                                    ErrorDomain::RPC,
                                    format!("the driver call did not finish: {err}"),
                                ),
                            )
                        }),
                    _ => qemu::answer(&header, &driver, call).await,
                };
                return DispatchOutcome::reply(frame);
            }
        };
        let result = match driver.home_runtime() {
            Some(home) if !is_current_runtime(&home) => home
                .spawn(async move { answer_call(&driver, call).await })
                .await
                .unwrap_or_else(|err| {
                    Err(Error::internal(
                        ErrorDomain::RPC,
                        format!("the driver call did not finish: {err}"),
                    ))
                }),
            _ => answer_call(&driver, call).await,
        };
        match result {
            Ok((reply, stream)) => DispatchOutcome {
                reply: Some(ok_frame(&header, &reply)),
                stream: stream.map(|stream| (header, stream)),
                ..DispatchOutcome::default()
            },
            Err(err) => DispatchOutcome::reply(error_frame(&header, &err)),
        }
    }
}

/// A call's reply, and the stream it opened if it opens one.
async fn answer_call(driver: &Connection, call: Call) -> Result<(Reply, Option<OpenedStream>)> {
    if let Some(opened) = stream::open(driver, &call).await {
        return opened.map(|(reply, stream)| (reply, Some(stream)));
    }
    call_driver(driver, call).await.map(|reply| (reply, None))
}

fn is_current_runtime(home: &tokio::runtime::Handle) -> bool {
    tokio::runtime::Handle::try_current().is_ok_and(|current| current.id() == home.id())
}

/// Where [`Dispatcher::route`] sends a message.
pub enum Route {
    /// Answered (or dropped) without the driver.
    Done(DispatchOutcome),
    /// Needs the driver only.
    Job(DriverJob),
    /// Changes the connection state: hand it to [`Dispatcher::handle`] in message order.
    Stateful(Header, Call),
}

/// The error reply for a call's header.
pub fn error_frame(call: &Header, err: &Error) -> Vec<u8> {
    encode_frame(&call.reply(Status::Error), &error_to_wire(err).to_bytes())
}

fn ok_frame(call: &Header, ret: &Reply) -> Vec<u8> {
    encode_frame(&call.reply(Status::Ok), &ret.encode())
}

fn reply_frame(call: &Header, result: Result<Reply>) -> Vec<u8> {
    match result {
        Ok(ret) => ok_frame(call, &ret),
        Err(err) => error_frame(call, &err),
    }
}

/// THE mapping from the crate error to the wire: code, domain and message unchanged, level ERROR, the optional
/// detail fields absent and the int fields −1, as libvirtd fills them.
pub fn error_to_wire(err: &Error) -> RemoteError {
    RemoteError {
        code: err.code.0,
        domain: err.domain.0,
        message: Some(err.message.clone()),
        level: ERROR_LEVEL,
        dom: None,
        str1: None,
        str2: None,
        str3: None,
        int1: -1,
        int2: -1,
        net: None,
    }
}

impl RemoteError {
    /// The crate error a received `remote_error` stands for (the client side of [`error_to_wire`]).
    pub fn to_error(&self) -> Error {
        let message = self
            .message
            .clone()
            .unwrap_or_else(|| "unknown error".to_string());
        Error::new(ErrorCode(self.code), ErrorDomain(self.domain), message)
    }
}

/// A scheduler-parameters answer cut to the `nparams` the caller has room for (at most the protocol's cap).
async fn scheduler_parameters(
    driver: &Connection,
    dom: &DomainRef,
    nparams: i32,
    flags: u32,
) -> Result<Array<crate::driver::TypedParam, { proto::SCHEDULER_PARAMETERS_MAX }>> {
    let Ok(room) = u32::try_from(nparams) else {
        return Err(rpc_error("nparams must not be negative"));
    };
    if room > proto::SCHEDULER_PARAMETERS_MAX {
        return Err(rpc_error("nparams too large"));
    }
    let mut params = driver.domain_get_scheduler_parameters(dom, flags).await?;
    params.truncate(room as usize);
    Ok(Array(params))
}

/// How many typed parameters a caller has room for (0 = "how many are there?"), refused when
/// negative or above the procedure's cap, as libvirtd refuses them.
fn typed_param_room(nparams: i32, cap: u32) -> Result<usize> {
    let Ok(room) = u32::try_from(nparams) else {
        return Err(rpc_error("nparams must not be negative"));
    };
    if room > cap {
        return Err(rpc_error("nparams too large"));
    }
    Ok(room as usize)
}

/// A typed-parameter read as libvirtd answers it — the full count when asked for 0 parameters,
/// else at most `nparams` of them, string-typed ones only for a caller that said it takes strings.
async fn tunables_get(
    driver: &Connection,
    args: &proto::TunablesGetArgs,
    kind: crate::driver::TunableKind,
) -> Result<proto::TunablesGetRet> {
    let room = typed_param_room(args.nparams, proto::TUNABLE_PARAMETERS_MAX)?;
    let mut params = driver
        .domain_get_tunables(
            &args.dom,
            kind,
            u32::try_from(room).unwrap_or(u32::MAX),
            args.flags,
        )
        .await?;
    if room == 0 {
        return Ok(proto::TunablesGetRet {
            params: Array(Vec::new()),
            nparams: clamp_i32(params.len()),
        });
    }
    params.truncate(room);
    if args.flags & flags::TYPED_PARAM_STRING_OKAY == 0 {
        params.retain(|p| !matches!(p.value, crate::driver::TypedValue::String(_)));
    }
    Ok(proto::TunablesGetRet {
        params: Array(params),
        nparams: 0,
    })
}

/// The caps libvirtd applies to a vCPU query before asking the driver, so that the reply fits the protocol's
/// arrays: a count and a map length, neither negative, at most `REMOTE_VCPUINFO_MAX` maps of
/// `REMOTE_CPUMAPS_MAX` bytes in all.
fn vcpu_map_bounds(count: i32, map_len: i32, count_name: &str) -> Result<(u32, u32)> {
    let (Ok(count), Ok(map_len)) = (u32::try_from(count), u32::try_from(map_len)) else {
        return Err(rpc_error(format!(
            "{count_name} and maplen must not be negative"
        )));
    };
    if count > proto::VCPUINFO_MAX {
        return Err(rpc_error(format!("{count_name} > REMOTE_VCPUINFO_MAX")));
    }
    if u64::from(count) * u64::from(map_len) > u64::from(proto::CPUMAPS_MAX) {
        return Err(rpc_error(format!(
            "{count_name} * maplen > REMOTE_CPUMAPS_MAX"
        )));
    }
    Ok((count, map_len))
}

/// The `VIR_DRV_FEATURE_*` numbers of the migration protocols.
fn migration_feature(value: i32) -> bool {
    use crate::driver::migration::feature as m;
    matches!(
        value,
        m::MIGRATION_V2
            | m::MIGRATION_P2P
            | m::MIGRATION_DIRECT
            | m::MIGRATION_V3
            | m::MIGRATE_CHANGE_PROTECTION
            | m::MIGRATION_PARAMS
            | m::MIGRATION_OFFLINE
            | m::XML_MIGRATABLE
    )
}

fn rpc_error(message: impl Into<String>) -> Error {
    // VIR_ERR_RPC messages carry no prefix.
    Error::new(ErrorCode::RPC, ErrorDomain::RPC, message)
}

fn not_open() -> Error {
    Error::internal(ErrorDomain::RPC, "hypervisor connection not open")
}

fn api_of(proc_: Procedure) -> String {
    match (proc_.api_name(), proc_.name()) {
        (Some(api), _) => api.to_string(),
        (None, Some(name)) => name.to_string(),
        (None, None) => proc_.to_string(),
    }
}

enum SaslCall {
    Init,
    Start(proto::AuthSaslStartArgs),
    Step(proto::AuthSaslStepArgs),
}

/// A step's outcome on the wire: `nil` = 1 exactly when there is no data at all.
fn sasl_ret(step: crate::auth::SaslStep) -> proto::AuthSaslRet {
    let (complete, data) = match step {
        crate::auth::SaslStep::Continue(data) => (0, data),
        crate::auth::SaslStep::Done(data) => (1, data),
    };
    proto::AuthSaslRet {
        complete,
        nil: i32::from(data.is_none()),
        data: CharArray(data.unwrap_or_default()),
    }
}

/// Procedures that run before authentication.
fn is_auth_procedure(proc_: Procedure) -> bool {
    matches!(
        proc_,
        Procedure::AuthList
            | Procedure::AuthSaslInit
            | Procedure::AuthSaslStart
            | Procedure::AuthSaslStep
            | Procedure::AuthPolkit
    )
}

/// The read-only gate: a procedure this crate decodes is allowed read-only when the driver method it calls reads
/// (the access class declared with the method, the same rule the read-only connection view applies). Procedures
/// without a codec here are judged by their name (a get/list/lookup that is not a secret's value), which only
/// decides between code 29 and code 3.
pub fn allowed_read_only(proc_: Procedure) -> bool {
    if let Some(access) = declared_access(proc_) {
        return access == Access::Read;
    }
    if proto::has_codec(proc_) {
        return false;
    }
    let Some(name) = proc_.name() else {
        return false;
    };
    // Reads that libvirt still forbids read-only: secrets, launch security, and what asks the guest agent.
    const DENIED_READS: [&str; 8] = [
        "SECRET_GET_VALUE",
        "DOMAIN_GET_LAUNCH_SECURITY_INFO",
        "NODE_GET_SEV_INFO",
        "DOMAIN_GET_FSINFO",
        "DOMAIN_GET_TIME",
        "DOMAIN_GET_GUEST_INFO",
        "DOMAIN_GET_GUEST_VCPUS",
        "DOMAIN_AUTHORIZED_SSH_KEYS_GET",
    ];
    if DENIED_READS.contains(&name) || name.contains("EVENT_") && !name.starts_with("CONNECT_") {
        return false;
    }
    ["_GET_", "_LOOKUP_", "_LIST_", "_NUM_OF_", "_IS_", "_HAS_"]
        .iter()
        .any(|word| format!("_{name}").contains(word))
}

/// Turns messages into replies for the connections of one server.
pub struct Dispatcher {
    opener: Arc<dyn DriverOpener>,
}

impl Dispatcher {
    pub fn new(opener: Arc<dyn DriverOpener>) -> Self {
        Self { opener }
    }

    /// Hands a connection's driver back to the opener.
    pub async fn release(&self, driver: Connection) {
        self.opener.release(driver).await;
    }

    /// Decodes a frame (length word removed) and handles it. A frame whose header cannot even be typed gets an
    /// error reply when its fields can be echoed; only framing errors are returned (fatal for the connection).
    pub async fn handle_frame(
        &self,
        state: &mut ConnectionState,
        frame: &[u8],
    ) -> Result<DispatchOutcome, FrameError> {
        match Message::from_frame(frame) {
            Ok(message) => Ok(self.handle(state, &message).await),
            Err(FrameError::UnknownType {
                prog,
                vers,
                proc_,
                serial,
                ..
            })
            | Err(FrameError::UnknownStatus {
                prog,
                vers,
                proc_,
                serial,
                ..
            }) => {
                let header = Header::call(prog, vers, proc_, serial);
                Ok(DispatchOutcome::reply(error_frame(
                    &header,
                    &rpc_error("Unsupported message type"),
                )))
            }
            Err(err) => Err(err),
        }
    }

    /// Handles one message completely, in order.
    pub async fn handle(&self, state: &mut ConnectionState, message: &Message) -> DispatchOutcome {
        match self.route(state, message) {
            Route::Done(outcome) => outcome,
            Route::Job(job) => job.run().await,
            Route::Stateful(header, call) => self.stateful(state, &header, call).await,
        }
    }

    /// Applies every gate and decides who answers. Pure and quick: no driver call happens here.
    pub fn route(&self, state: &ConnectionState, message: &Message) -> Route {
        let header = &message.header;
        // Only a MESSAGE of the keepalive version is keepalive traffic (libvirt's virKeepAliveCheckMessage); a CALL
        // to the keepalive program is a call to an unknown program and needs its error reply, or the caller waits.
        let keepalive = header.prog == KEEPALIVE_PROGRAM
            && header.vers == KEEPALIVE_VERSION
            && header.kind == MessageType::Message;
        if keepalive {
            if header.proc_ == KEEPALIVE_PING {
                let pong = Header {
                    proc_: KEEPALIVE_PONG,
                    ..*header
                };
                return Route::Done(DispatchOutcome::reply(encode_frame(&pong, &[])));
            }
            return Route::Done(DispatchOutcome::default());
        }
        match header.kind {
            MessageType::Call => {}
            MessageType::CallWithFds => {
                return Route::Done(DispatchOutcome::reply(error_frame(
                    header,
                    &rpc_error("file descriptor passing is not supported"),
                )))
            }
            // Stream packets for streams we never opened, and anything a client should not send, are dropped.
            _ => return Route::Done(DispatchOutcome::default()),
        }
        let fail = |err: Error| Route::Done(DispatchOutcome::reply(error_frame(header, &err)));
        if header.prog == proto_qemu::QEMU_PROGRAM && header.vers == proto_qemu::QEMU_VERSION {
            return qemu::route(state, header, &message.payload);
        }
        if header.prog != REMOTE_PROGRAM || header.vers != REMOTE_VERSION {
            return fail(rpc_error(format!(
                "Cannot find program {} version {}",
                i32::from_be_bytes(header.prog.to_be_bytes()),
                header.vers
            )));
        }
        let proc_ = Procedure::from_number(header.proc_);
        // Event messages flow server to client only; as calls they are as unknown as unassigned numbers.
        let is_event_message = proc_.api_name().is_none() && !is_auth_procedure(proc_);
        if matches!(proc_, Procedure::Unknown(_)) || is_event_message {
            let number = i32::from_be_bytes(header.proc_.to_be_bytes());
            return fail(rpc_error(format!("unknown procedure: {number}")));
        }
        if !state.authenticated && !is_auth_procedure(proc_) {
            return fail(rpc_error("authentication required"));
        }
        let call = match Call::decode(proc_, &message.payload) {
            Some(Ok(call)) => call,
            Some(Err(_)) => return fail(rpc_error("Unable to decode message payload")),
            None => {
                if state.driver.is_none() {
                    return fail(not_open());
                }
                if state.read_only && !allowed_read_only(proc_) {
                    return fail(Error::read_only(&api_of(proc_)));
                }
                return fail(Error::no_support(&api_of(proc_)));
            }
        };
        let before_open = matches!(
            call,
            Call::ConnectOpen(_)
                | Call::ConnectClose(_)
                | Call::AuthList(_)
                | Call::AuthSaslInit(_)
                | Call::AuthSaslStart(_)
                | Call::AuthSaslStep(_)
                | Call::AuthPolkit(_)
        ) || matches!(&call, Call::ConnectSupportsFeature(args) if args.value == feature::PROGRAM_KEEPALIVE);
        if before_open {
            return Route::Stateful(*header, call);
        }
        let Some(driver) = state.driver.clone() else {
            return fail(not_open());
        };
        if state.read_only && !allowed_read_only(proc_) {
            return fail(Error::read_only(&api_of(proc_)));
        }
        match call {
            Call::ConnectSupportsFeature(_)
            | Call::ConnectDomainEventRegisterAny(_)
            | Call::ConnectDomainEventDeregisterAny(_)
            | Call::ConnectDomainEventCallbackRegisterAny(_)
            | Call::ConnectDomainEventCallbackDeregisterAny(_)
            | Call::ConnectNetworkEventRegisterAny(_)
            | Call::ConnectNetworkEventDeregisterAny(_)
            | Call::ConnectStoragePoolEventRegisterAny(_)
            | Call::ConnectStoragePoolEventDeregisterAny(_)
            | Call::ConnectSecretEventRegisterAny(_)
            | Call::ConnectSecretEventDeregisterAny(_) => Route::Stateful(*header, call),
            call => Route::Job(DriverJob {
                header: *header,
                driver,
                call: JobCall::Remote(call),
            }),
        }
    }

    /// The calls that read or change the connection state ([`Route::Stateful`]), in message order.
    pub async fn stateful(
        &self,
        state: &mut ConnectionState,
        header: &Header,
        call: Call,
    ) -> DispatchOutcome {
        let mut outcome = DispatchOutcome::default();
        let result = match call {
            Call::AuthList(()) => Ok(Reply::AuthList(proto::AuthListRet {
                types: Array(state.auth_types.clone()),
            })),
            Call::ConnectOpen(args) => self.open(state, args).await.map(Reply::ConnectOpen),
            Call::ConnectClose(()) => {
                outcome.close = true;
                if let Some(driver) = state.driver.take() {
                    self.opener.release(driver).await;
                }
                state.callbacks.clear();
                state.network_callbacks.clear();
                state.legacy_lifecycle = false;
                state.pool_callbacks.clear();
                state.secret_callbacks.clear();
                state.secret_events = None;
                Ok(Reply::ConnectClose(()))
            }
            Call::ConnectSupportsFeature(args) => {
                let supported = match args.value {
                    feature::PROGRAM_KEEPALIVE => {
                        state.keepalive = true;
                        true
                    }
                    feature::REMOTE_EVENT_CALLBACK | feature::REMOTE_CLOSE_CALLBACK => true,
                    feature::NETWORK_UPDATE_HAS_CORRECT_ORDER => true,
                    // As libvirtd with the test driver: typed parameters may carry strings.
                    feature::TYPED_PARAM_STRING => true,
                    // The migration protocols are the hypervisor driver's, as libvirtd asks its driver.
                    value if migration_feature(value) => match &state.driver {
                        Some(driver) => driver.supports_feature(value).await.unwrap_or(false),
                        None => false,
                    },
                    _ => false,
                };
                Ok(Reply::ConnectSupportsFeature(proto::IntRet {
                    value: i32::from(supported),
                }))
            }
            // Only lifecycle events have a legacy (callback-less) message.
            Call::ConnectDomainEventRegisterAny(args) if args.value != EVENT_ID_LIFECYCLE => {
                Err(Error::no_support("virConnectDomainEventRegisterAny"))
            }
            Call::ConnectDomainEventRegisterAny(args) => self
                .register(state, args.value, &[EVENT_ID_LIFECYCLE], &mut outcome)
                .await
                .map(|_| {
                    state.legacy_lifecycle = true;
                    Reply::ConnectDomainEventRegisterAny(())
                }),
            Call::ConnectDomainEventDeregisterAny(args) => {
                if args.value == EVENT_ID_LIFECYCLE && state.legacy_lifecycle {
                    state.legacy_lifecycle = false;
                    Ok(Reply::ConnectDomainEventDeregisterAny(()))
                } else {
                    Err(Error::invalid_arg(
                        ErrorDomain::RPC,
                        "domain event is not registered",
                    ))
                }
            }
            Call::ConnectDomainEventCallbackRegisterAny(args) => {
                let families = [
                    EVENT_ID_LIFECYCLE,
                    EVENT_ID_DEVICE_REMOVED,
                    EVENT_ID_METADATA_CHANGE,
                    EVENT_ID_AGENT_LIFECYCLE,
                ];
                match self
                    .register(state, args.event_id, &families, &mut outcome)
                    .await
                {
                    Ok(()) => {
                        let id = state.next_callback_id;
                        state.next_callback_id = id.wrapping_add(1);
                        state.callbacks.insert(
                            id,
                            EventCallback {
                                event_id: args.event_id,
                                dom: args.dom,
                            },
                        );
                        Ok(Reply::ConnectDomainEventCallbackRegisterAny(
                            proto::IntRet { value: id },
                        ))
                    }
                    Err(err) => Err(err),
                }
            }
            Call::ConnectDomainEventCallbackDeregisterAny(args) => {
                match state.callbacks.remove(&args.value) {
                    Some(_) => Ok(Reply::ConnectDomainEventCallbackDeregisterAny(())),
                    None => Err(Error::invalid_arg(
                        ErrorDomain::RPC,
                        format!("callback ID {} not registered", args.value),
                    )),
                }
            }
            Call::ConnectNetworkEventRegisterAny(args) => {
                if args.event_id != NETWORK_EVENT_ID_LIFECYCLE {
                    Err(Error::invalid_arg(
                        ErrorDomain::RPC,
                        format!("unsupported network event ID {}", args.event_id),
                    ))
                } else {
                    match state.driver.as_ref() {
                        None => Err(not_open()),
                        Some(driver) => {
                            let subscribed = if state.wants_network_events() {
                                Ok(None)
                            } else {
                                driver.network_event_subscribe().await.map(Some)
                            };
                            subscribed.map(|receiver| {
                                outcome.subscribe_networks = receiver;
                                let id = state.next_callback_id;
                                state.next_callback_id = id.wrapping_add(1);
                                state.network_callbacks.insert(id, args.net);
                                Reply::ConnectNetworkEventRegisterAny(proto::IntRet { value: id })
                            })
                        }
                    }
                }
            }
            Call::ConnectNetworkEventDeregisterAny(args) => {
                match state.network_callbacks.remove(&args.value) {
                    Some(_) => Ok(Reply::ConnectNetworkEventDeregisterAny(())),
                    None => Err(Error::invalid_arg(
                        ErrorDomain::RPC,
                        format!("callback ID {} not registered", args.value),
                    )),
                }
            }
            Call::ConnectSecretEventRegisterAny(args) => {
                self.register_secret_events(state, args).await
            }
            Call::ConnectSecretEventDeregisterAny(args) => {
                match state.secret_callbacks.remove(&args.value) {
                    Some(_) => {
                        if state.secret_callbacks.is_empty() {
                            state.secret_events = None;
                        }
                        Ok(Reply::ConnectSecretEventDeregisterAny(()))
                    }
                    None => Err(Error::invalid_arg(
                        ErrorDomain::RPC,
                        format!("callback ID {} not registered", args.value),
                    )),
                }
            }
            Call::ConnectStoragePoolEventRegisterAny(args) => {
                if args.event_id != POOL_EVENT_ID_LIFECYCLE
                    && args.event_id != POOL_EVENT_ID_REFRESH
                {
                    Err(Error::invalid_arg(
                        ErrorDomain::RPC,
                        format!("unsupported storage pool event ID {}", args.event_id),
                    ))
                } else {
                    let subscribed = match (&state.driver, state.wants_pool_events()) {
                        (None, _) => Err(not_open()),
                        (Some(_), true) => Ok(()),
                        (Some(driver), false) => driver
                            .storage_pool_event_subscribe()
                            .await
                            .map(|receiver| outcome.subscribe_pools = Some(receiver)),
                    };
                    subscribed.map(|()| {
                        let id = state.next_callback_id;
                        state.next_callback_id = id.wrapping_add(1);
                        state.pool_callbacks.insert(
                            id,
                            PoolCallback {
                                event_id: args.event_id,
                                pool: args.pool,
                            },
                        );
                        Reply::ConnectStoragePoolEventRegisterAny(proto::IntRet { value: id })
                    })
                }
            }
            Call::ConnectStoragePoolEventDeregisterAny(args) => {
                match state.pool_callbacks.remove(&args.value) {
                    Some(_) => Ok(Reply::ConnectStoragePoolEventDeregisterAny(())),
                    None => Err(Error::internal(
                        ErrorDomain::RPC,
                        format!("storage pool event callback {} not registered", args.value),
                    )),
                }
            }
            Call::AuthSaslInit(()) if state.sasl.is_some() => {
                return self.sasl_call(state, header, SaslCall::Init).await
            }
            Call::AuthSaslStart(args) if state.sasl.is_some() => {
                return self.sasl_call(state, header, SaslCall::Start(args)).await
            }
            Call::AuthSaslStep(args) if state.sasl.is_some() => {
                return self.sasl_call(state, header, SaslCall::Step(args)).await
            }
            // Polkit, and SASL on a socket that does not offer it.
            other => Err(Error::no_support(&api_of(other.procedure()))),
        };
        outcome.reply = Some(reply_frame(header, result));
        outcome
    }

    /// AUTH_SASL_INIT / START / STEP. Any failure answers "authentication failed" after the client's
    /// slow-down delay and closes the connection once the reply is out.
    async fn sasl_call(
        &self,
        state: &mut ConnectionState,
        header: &Header,
        call: SaslCall,
    ) -> DispatchOutcome {
        let mut outcome = DispatchOutcome::default();
        let Some(sasl) = state.sasl.as_mut() else {
            outcome.reply = Some(error_frame(header, &super::auth::auth_failed()));
            outcome.close = true;
            return outcome;
        };
        let data = |nil: i32, data: &[u8]| (nil == 0).then(|| data.to_vec());
        let result = match call {
            SaslCall::Init => sasl
                .init()
                .map(|mechlist| Reply::AuthSaslInit(proto::StringRet { value: mechlist })),
            SaslCall::Start(args) => sasl
                .start(&args.mech, data(args.nil, &args.data.0).as_deref())
                .map(|step| Reply::AuthSaslStart(sasl_ret(step))),
            SaslCall::Step(args) => sasl
                .step(data(args.nil, &args.data.0).as_deref())
                .map(|step| Reply::AuthSaslStep(sasl_ret(step))),
        };
        match result {
            Ok(reply) => {
                if sasl.username.is_some() {
                    state.authenticated = true;
                }
                outcome.reply = Some(ok_frame(header, &reply));
            }
            Err(err) => {
                let delay = sasl.fail(&err);
                tokio::time::sleep(delay).await;
                outcome.reply = Some(error_frame(header, &super::auth::auth_failed()));
                outcome.close = true;
            }
        }
        outcome
    }

    async fn open(&self, state: &mut ConnectionState, args: proto::ConnectOpenArgs) -> Result<()> {
        if state.driver.is_some() {
            return Err(Error::internal(ErrorDomain::RPC, "connection already open"));
        }
        let read_only = state.read_only || args.flags & OPEN_READ_ONLY != 0;
        let name = args.name.as_deref().filter(|name| !name.is_empty());
        let driver = self.opener.open(name, read_only).await?;
        state.read_only = read_only;
        // The connection's read-only view applies the per-argument rules (secure XML) the gate cannot see.
        state.driver = Some(if read_only {
            driver.read_only()
        } else {
            driver
        });
        Ok(())
    }

    /// A secret event callback: the driver's secret events are subscribed to with the first one.
    async fn register_secret_events(
        &self,
        state: &mut ConnectionState,
        args: proto::SecretEventRegisterArgs,
    ) -> Result<Reply> {
        if !(0..SECRET_EVENT_IDS).contains(&args.event_id) {
            return Err(Error::invalid_arg(
                ErrorDomain::RPC,
                format!("unsupported secret event ID {}", args.event_id),
            ));
        }
        let driver = state.driver.as_ref().ok_or_else(not_open)?;
        if state.secret_events.is_none() {
            state.secret_events = Some(driver.secret_event_subscribe().await?);
        }
        let id = state.next_callback_id;
        state.next_callback_id = id.wrapping_add(1);
        state.secret_callbacks.insert(
            id,
            SecretCallback {
                event_id: args.event_id,
                secret: args.secret,
            },
        );
        Ok(Reply::ConnectSecretEventRegisterAny(proto::IntRet {
            value: id,
        }))
    }

    /// Checks the event family and subscribes to the driver on the first registration.
    async fn register(
        &self,
        state: &ConnectionState,
        event_id: i32,
        families: &[i32],
        outcome: &mut DispatchOutcome,
    ) -> Result<()> {
        if !families.contains(&event_id) {
            return Err(Error::no_support("virConnectDomainEventRegisterAny"));
        }
        let driver = state.driver.as_ref().ok_or_else(not_open)?;
        if !state.wants_events() {
            outcome.subscribe = Some(driver.domain_event_subscribe().await?);
        }
        Ok(())
    }
}

fn count(len: usize) -> proto::IntRet {
    proto::IntRet {
        value: i32::try_from(len).unwrap_or(i32::MAX),
    }
}

fn clamp_i32<T: TryInto<i32>>(value: T) -> i32 {
    value.try_into().unwrap_or(i32::MAX)
}

/// Checks an old-style `maxnames`/`maxids` argument: not negative, not above the list cap.
fn list_limit(max: i32, cap: u32, what: &str) -> Result<usize> {
    match usize::try_from(max) {
        Ok(limit) if limit <= cap as usize => Ok(limit),
        Ok(_) => Err(rpc_error(format!("{what} > {cap}"))),
        Err(_) => Err(Error::invalid_arg(
            ErrorDomain::RPC,
            format!("{what} must not be negative"),
        )),
    }
}

fn names<T>(items: Vec<T>, limit: usize, name: impl Fn(T) -> String) -> Vec<String> {
    items.into_iter().take(limit).map(name).collect()
}

/// The body of one call's arm: the declared driver call, or the hand-written dispatcher.
macro_rules! dispatch_body {
    ($conn:ident, $args:ident, $variant:ident, call || $method:ident()) => {{
        let () = Parts::into_parts($args);
        Ok(Reply::$variant(WrapReply::wrap($conn.$method().await?)))
    }};
    ($conn:ident, $args:ident, $variant:ident, call |$($field:ident),*| $method:ident($($arg:expr),*)) => {{
        let ($($field,)*) = Parts::into_parts($args);
        Ok(Reply::$variant(WrapReply::wrap($conn.$method($($arg),*).await?)))
    }};
    ($conn:ident, $args:ident, $variant:ident, $($hand:tt)*) => {
        call_hand($conn, Call::$variant($args)).await
    };
}

/// The read-only rule of a declaration: its driver method's access class, or the one it states.
macro_rules! access_of {
    (call || $method:ident()) => {
        Some(crate::driver::access::$method)
    };
    (call |$($field:ident),*| $method:ident($($arg:expr),*)) => {
        Some(crate::driver::access::$method)
    };
    (hand $method:ident) => {
        Some(crate::driver::access::$method)
    };
    (conn read) => {
        Some(Access::Read)
    };
    (unsupported read) => {
        Some(Access::Read)
    };
    (event) => {
        None
    };
}

macro_rules! dispatch_table {
    ($($variant:ident : $args:ty => $ret:ty [$($spec:tt)*];)*) => {
        /// Calls the driver for one decoded call and shapes its answer.
        async fn call_driver(conn: &Connection, call: Call) -> Result<Reply> {
            match call {
                $(Call::$variant(args) => dispatch_body!(conn, args, $variant, $($spec)*),)*
            }
        }

        /// The read-only rule of each implemented procedure; `None` for procedures that are never calls.
        fn declared_access(proc_: Procedure) -> Option<Access> {
            match proc_ {
                $(Procedure::$variant => access_of!($($spec)*),)*
                _ => None,
            }
        }
    };
}

proto::remote_procedure_table!(dispatch_table);

/// Answers the calls whose wire form differs from the driver API (see [`proto::remote_procedure_table`]), each
/// in the file of its object. Procedures the driver API has no method for answer "not supported".
async fn call_hand(driver: &Connection, call: Call) -> Result<Reply> {
    if let Some(reply) = connect::answer(driver, &call).await {
        return reply;
    }
    if let Some(reply) = domain::answer(driver, &call).await {
        return reply;
    }
    if let Some(reply) = domain_stats::answer(driver, &call).await {
        return reply;
    }
    if let Some(reply) = domain_tunables::answer(driver, &call).await {
        return reply;
    }
    if let Some(reply) = snapshot::answer(driver, &call).await {
        return reply;
    }
    if let Some(reply) = network::answer(driver, &call).await {
        return reply;
    }
    if let Some(reply) = storage::answer(driver, &call).await {
        return reply;
    }
    if let Some(reply) = interface::answer(driver, &call).await {
        return reply;
    }
    if let Some(reply) = node_device::answer(driver, &call).await {
        return reply;
    }
    if let Some(reply) = secret::answer(driver, &call).await {
        return reply;
    }
    if let Some(reply) = nwfilter::answer(driver, &call).await {
        return reply;
    }
    if let Some(reply) = migration::answer(driver, &call).await {
        return reply;
    }
    Err(Error::no_support(&api_of(call.procedure())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_replies_keep_nil_apart_from_empty() {
        use crate::auth::SaslStep;
        let ret = sasl_ret(SaslStep::Continue(Some(Vec::new())));
        assert_eq!((ret.complete, ret.nil, ret.data.0.len()), (0, 0, 0));
        let ret = sasl_ret(SaslStep::Done(None));
        assert_eq!((ret.complete, ret.nil, ret.data.0.len()), (1, 1, 0));
        let ret = sasl_ret(SaslStep::Done(Some(b"v=abc".to_vec())));
        assert_eq!(
            (ret.complete, ret.nil, ret.data.0.as_slice()),
            (1, 0, &b"v=abc"[..])
        );
    }

    #[test]
    fn errors_map_to_the_wire_unchanged() {
        let cases = [
            (Error::no_support("virDomainGetJobStats"), 3, 20),
            (Error::read_only("virDomainSuspend"), 29, 20),
            (not_open(), 1, 7),
            (rpc_error("authentication required"), 39, 7),
            (
                Error::with_detail(ErrorCode::NO_DOMAIN, ErrorDomain::TEST, ""),
                42,
                12,
            ),
            (
                Error::new(ErrorCode(4242), ErrorDomain(99), "from a newer peer"),
                4242,
                99,
            ),
        ];
        for (err, code, domain) in cases {
            let wire = error_to_wire(&err);
            assert_eq!(
                (wire.code, wire.domain, wire.level),
                (code, domain, ERROR_LEVEL)
            );
            assert_eq!(wire.message.as_deref(), Some(err.message.as_str()));
            assert_eq!((wire.int1, wire.int2), (-1, -1));
            assert!(wire.dom.is_none() && wire.str1.is_none() && wire.net.is_none());
            assert_eq!(wire.to_error(), err, "round trip");
            assert_eq!(RemoteError::from_bytes(&wire.to_bytes()), Ok(wire));
        }
        assert_eq!(
            rpc_error("unknown procedure: 444").message,
            "unknown procedure: 444"
        );
    }

    #[test]
    fn the_allow_list_reads_only() {
        for proc_ in [
            Procedure::DomainGetInfo,
            Procedure::ConnectListAllDomains,
            Procedure::DomainGetJobStats,
        ] {
            assert!(allowed_read_only(proc_), "{proc_}");
        }
        for proc_ in [
            Procedure::DomainSuspend,
            Procedure::DomainDefineXml,
            Procedure::SecretGetValue,
            Procedure::DomainGetTime,
            Procedure::DomainSetMemory,
            Procedure::NetworkDestroy,
            Procedure::Unknown(999),
        ] {
            assert!(!allowed_read_only(proc_), "{proc_}");
        }
    }
}
