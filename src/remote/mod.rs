//! The remote driver: every driver call becomes one native RPC to a daemon (ours or a real libvirtd), opened with
//! libvirt's client sequence over a unix socket or TCP.
//!
//! Open sequence (REPORT §4): AUTH_LIST (NO_SUPPORT means "no auth"), SUPPORTS_FEATURE(keepalive) when keepalive is
//! wanted, CONNECT_OPEN with the URI's server-side name and the read-only flag, then SUPPORTS_FEATURE(event
//! callbacks) and SUPPORTS_FEATURE(close callbacks). Lifecycle events are registered once, on the first
//! subscriber, and fanned out to every subscriber.
//!
//! When AUTH_LIST asks for SASL (REPORT §9.2) the client runs AUTH_SASL_INIT / START / STEP with credentials from
//! libvirt's auth file or, when the process registered one ([`set_credential_prompt`], the CLI on a terminal),
//! from the user. A mechanism with a security layer (DIGEST-MD5 auth-conf over TCP) wraps every later byte.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast;

mod calls;
mod events;
mod hypervisor;
mod interface;
mod migration;
mod network;
mod node_device;
mod nwfilter;
mod sasl;
mod secret;
mod storage;
mod stream;

use events::{forward_events, forward_network_events, EventCallbacks};
use sasl::{authenticate_sasl, check_auth};
pub use sasl::{set_credential_prompt, CredentialRequest};

use crate::auth::auth_file::{file_credentials, FileCredentials};
use crate::auth::sasl::{SaslClient, SaslError, SaslLayer, SaslStep, SaslTransport};
use crate::driver::{
    flags, Connection, DomainEvent, DomainRef, HypervisorDriver, NetworkDriver, NetworkEvent,
    NetworkRef, PoolRef, SnapshotRef, StorageDriver, VolumeRef,
};
use crate::error::{io_error_text, Error, ErrorCode, ErrorDomain, Result};
use crate::rpc::client::RpcClient;
use crate::rpc::client::SecurityLayer;
use crate::rpc::proto::procs as P;
use crate::rpc::proto::Proc;
use crate::rpc::proto::*;
use crate::rpc::xdr::{Array, CharArray, Xdr};
use crate::transport::{command, ssh, tls};
use crate::uri::{AuthChoice, Transport, Uri};

/// CONNECT_OPEN flag bit: read-only connection.
const OPEN_READ_ONLY: u32 = 1;
/// `VIR_DOMAIN_EVENT_ID_LIFECYCLE`.
const EVENT_ID_LIFECYCLE: i32 = 0;
/// The other domain event families the driver API carries (`VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED`,
/// `..._AGENT_LIFECYCLE`, `..._METADATA_CHANGE`), asked for where the server takes callback registrations.
const EVENT_ID_DEVICE_REMOVED: i32 = 15;
const EVENT_ID_AGENT_LIFECYCLE: i32 = 18;
const EVENT_ID_METADATA_CHANGE: i32 = 23;
/// Lifecycle events buffered per subscriber.
const EVENT_QUEUE: usize = 256;

/// How a remote connection is opened, besides its URI.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// Send CONNECT_OPEN with the read-only flag.
    pub read_only: bool,
    /// (interval, count) of client keepalive; `None` skips the keepalive probe entirely (as a client without an
    /// event loop does). virsh uses (5 s, 6); libvirt's library default is (5 s, 5).
    pub keepalive: Option<(Duration, u32)>,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            read_only: false,
            keepalive: Some((Duration::from_secs(5), 5)),
        }
    }
}

/// A driver whose every call goes to a daemon over the native RPC.
pub struct RemoteDriver {
    client: RpcClient,
    /// The URI as the caller wrote it; `virConnectGetURI` answers it client-side, as libvirt does.
    uri: String,
    /// The server offers per-callback event registration (feature 14); otherwise the legacy one is used.
    event_callbacks: bool,
    /// The fan-out of lifecycle events, created by the first subscriber.
    events: tokio::sync::Mutex<Option<broadcast::Sender<DomainEvent>>>,
    /// The fan-out of network lifecycle events, created by the first subscriber.
    network_events: tokio::sync::Mutex<Option<broadcast::Sender<NetworkEvent>>>,
    /// The stream is TLS.
    encrypted: bool,
}

/// The unix socket libvirt's client picks when the URI names none: the per-user session daemon's for a non-root
/// user asking for a session-style URI (`/session`, or the `test` driver), otherwise the system daemon's
/// (`-ro` for read-only connections).
pub fn default_socket_path(uri: &Uri, read_only: bool) -> PathBuf {
    let root = nix::unistd::geteuid().is_root();
    let user = !root && (uri.path == "/session" || uri.driver == "test");
    if user {
        return user_runtime_dir().join("libvirt-sock");
    }
    PathBuf::from(if read_only {
        "/run/libvirt/libvirt-sock-ro"
    } else {
        "/run/libvirt/libvirt-sock"
    })
}

/// `$XDG_RUNTIME_DIR/libvirt`, else `$XDG_CACHE_HOME/libvirt` (default `~/.cache/libvirt`), as libvirt falls back.
fn user_runtime_dir() -> PathBuf {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = non_empty("XDG_RUNTIME_DIR") {
        return PathBuf::from(dir).join("libvirt");
    }
    if let Some(dir) = non_empty("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("libvirt");
    }
    PathBuf::from(non_empty("HOME").unwrap_or_else(|| "/".into())).join(".cache/libvirt")
}

fn transport_failure(what: String, err: &std::io::Error) -> Error {
    Error::new(
        ErrorCode::SYSTEM_ERROR,
        ErrorDomain::RPC,
        format!("{what}: {}", io_error_text(err)),
    )
}

/// How long the TLS handshake and the server's confirmation may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

fn tls_failure(err: tls::TlsError) -> Error {
    let code = match err {
        tls::TlsError::File { .. } | tls::TlsError::Empty { .. } => ErrorCode::SYSTEM_ERROR,
        tls::TlsError::Credentials(_) => ErrorCode::INVALID_ARG,
        _ => ErrorCode::AUTH_FAILED,
    };
    Error::new(code, ErrorDomain::RPC, err.to_string())
}

fn not_yet(transport: Transport) -> Error {
    Error::with_detail(
        ErrorCode::NO_SUPPORT,
        ErrorDomain::REMOTE,
        format!("the {transport} transport is not supported yet"),
    )
}

fn is_no_support(err: &Error) -> bool {
    err.code == ErrorCode::NO_SUPPORT
}

fn text(value: &str) -> StringArgs {
    StringArgs {
        value: value.to_string(),
    }
}

fn dom_args(dom: &DomainRef) -> DomainArgs {
    DomainArgs { dom: dom.clone() }
}

fn snap_flags(snap: &SnapshotRef, flags: u32) -> SnapshotFlagsArgs {
    SnapshotFlagsArgs {
        snap: snap.clone(),
        flags,
    }
}

fn dom_flags(dom: &DomainRef, flags: u32) -> DomainFlagsArgs {
    DomainFlagsArgs {
        dom: dom.clone(),
        flags,
    }
}

fn pool_args(pool: &PoolRef) -> PoolArgs {
    PoolArgs { pool: pool.clone() }
}

fn bad_reply(what: &str, value: i64) -> Error {
    Error::new(
        ErrorCode::RPC,
        ErrorDomain::RPC,
        format!("server sent an out-of-range {what}: {value}"),
    )
}

fn to_u32(what: &str, value: i32) -> Result<u32> {
    u32::try_from(value).map_err(|_| bad_reply(what, i64::from(value)))
}

impl RemoteDriver {
    /// A connection whose every part is this remote driver: each call one RPC to the daemon.
    pub fn connection(self: Arc<Self>) -> Connection {
        Connection::builder()
            .hypervisor(self.clone())
            .network(self.clone())
            .storage(self.clone())
            .interface(self.clone())
            .node_device(self.clone())
            .secret(self.clone())
            .nwfilter(self)
            .build()
    }

    /// Connects to the daemon `uri` names and opens the connection there.
    pub async fn open(uri: &Uri, text: &str, options: &RemoteOptions) -> Result<Arc<Self>> {
        let params = uri.remote_params()?;
        match uri.transport() {
            Transport::Unix => {
                let path = params
                    .socket
                    .clone()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| default_socket_path(uri, options.read_only));
                let stream = tokio::net::UnixStream::connect(&path)
                    .await
                    .map_err(|err| {
                        transport_failure(
                            format!("Failed to connect socket to '{}'", path.display()),
                            &err,
                        )
                    })?;
                Self::open_stream(stream, uri, text, options).await
            }
            Transport::Tcp => {
                let host = uri.effective_host().to_string();
                let port = uri.effective_port().unwrap_or(crate::uri::DEFAULT_TCP_PORT);
                let stream = tokio::net::TcpStream::connect((host.as_str(), port))
                    .await
                    .map_err(|err| {
                        transport_failure(
                            format!("unable to connect to server at '{host}:{port}'"),
                            &err,
                        )
                    })?;
                // Calls are small and latency-bound, as libvirt's client knows too.
                let _ = stream.set_nodelay(true);
                Self::open_stream(stream, uri, text, options).await
            }
            Transport::Tls => {
                let host = uri.effective_host().to_string();
                let port = uri.effective_port().unwrap_or(crate::uri::DEFAULT_TLS_PORT);
                let files = tls::TlsClientFiles::locate(params.pkipath.as_deref().map(Path::new))
                    .map_err(tls_failure)?;
                let config = tls::client_config(&files, params.no_verify).map_err(tls_failure)?;
                let stream = tokio::net::TcpStream::connect((host.as_str(), port))
                    .await
                    .map_err(|err| {
                        transport_failure(
                            format!("unable to connect to server at '{host}:{port}'"),
                            &err,
                        )
                    })?;
                let _ = stream.set_nodelay(true);
                let session = tls::connect(stream, &host, config, TLS_HANDSHAKE_TIMEOUT)
                    .await
                    .map_err(tls_failure)?;
                Self::open_stream(session, uri, text, options).await
            }
            Transport::Ssh => {
                let (program, args) = ssh::ssh_command(uri, options.read_only)?;
                Self::open_command(&program, &args, &command::ssh_env(), uri, text, options).await
            }
            Transport::Ext => {
                let Some(program) = params.command.clone() else {
                    return Err(Error::with_detail(
                        ErrorCode::INVALID_ARG,
                        ErrorDomain::REMOTE,
                        "remote: Missing command parameter for ext transport",
                    ));
                };
                Self::open_command(&program, &[], &command::ext_env(), uri, text, options).await
            }
            other => Err(not_yet(other)),
        }
    }

    /// Runs `program` as the transport (ssh, ext); a failed open carries what the program wrote on stderr.
    async fn open_command(
        program: &str,
        args: &[String],
        keep_env: &[&str],
        uri: &Uri,
        text: &str,
        options: &RemoteOptions,
    ) -> Result<Arc<Self>> {
        let stream = command::CommandStream::spawn(program, args, keep_env)
            .map_err(|err| transport_failure(format!("Cannot run '{program}'"), &err))?;
        let mut stderr = stream.stderr_tail();
        match Self::open_stream(stream, uri, text, options).await {
            Ok(driver) => Ok(driver),
            Err(mut err) => {
                let said = stderr.final_text().await;
                if !said.is_empty() {
                    err.message = format!("{}: {said}", err.message);
                }
                Err(err)
            }
        }
    }

    /// Runs the open sequence over an already connected byte stream (any transport).
    pub async fn open_stream<S>(
        stream: S,
        uri: &Uri,
        text: &str,
        options: &RemoteOptions,
    ) -> Result<Arc<Self>>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let params = uri.remote_params()?;
        let client = RpcClient::new(stream);

        match client.call(P::AuthList, &()).await {
            Ok(ret) => {
                if check_auth(&ret.types.0, params.auth.as_ref())? == auth_type::SASL {
                    let forced = match &params.auth {
                        Some(AuthChoice::Sasl { mechanism }) => mechanism.as_deref(),
                        _ => None,
                    };
                    authenticate_sasl(&client, uri, params.authfile.as_deref(), forced).await?;
                }
            }
            // A server without authentication support: libvirt assumes none is needed.
            Err(err) if is_no_support(&err) => {}
            Err(err) => return Err(err),
        }

        let supports = |feature: i32| {
            let client = &client;
            async move {
                matches!(
                    client
                        .call(P::ConnectSupportsFeature, &IntArgs { value: feature })
                        .await,
                    Ok(IntRet { value: 1 })
                )
            }
        };
        let keepalive = match options.keepalive {
            Some(setting) if supports(feature::PROGRAM_KEEPALIVE).await => Some(setting),
            _ => None,
        };

        let name = uri.open_name();
        let args = ConnectOpenArgs {
            name: (!name.is_empty()).then_some(name),
            flags: if options.read_only { OPEN_READ_ONLY } else { 0 },
        };
        client.call(P::ConnectOpen, &args).await?;

        let event_callbacks = supports(feature::REMOTE_EVENT_CALLBACK).await;
        // Asked like libvirt does; close callbacks are not used by this client.
        let _ = supports(feature::REMOTE_CLOSE_CALLBACK).await;
        if let Some((interval, count)) = keepalive {
            client.start_keepalive(interval, count);
        }
        Ok(Arc::new(Self {
            client,
            uri: text.to_string(),
            event_callbacks,
            events: tokio::sync::Mutex::new(None),
            network_events: tokio::sync::Mutex::new(None),
            encrypted: uri.transport() == Transport::Tls,
        }))
    }

    async fn call<Pr: Proc>(&self, proc_: Pr, args: Pr::Args) -> Result<Pr::Ret> {
        self.client.call(proc_, &args).await
    }

    async fn flag<Pr: Proc<Ret = IntRet>>(&self, proc_: Pr, args: Pr::Args) -> Result<bool> {
        Ok(self.call(proc_, args).await?.value != 0)
    }

    async fn string<Pr: Proc<Ret = StringRet>>(&self, proc_: Pr, args: Pr::Args) -> Result<String> {
        Ok(self.call(proc_, args).await?.value)
    }

    /// Names from an old-style NUM_OF_x / LIST_x pair: the count first, then that many names.
    async fn old_names<N, L>(
        &self,
        num: N,
        num_args: N::Args,
        list: L,
        list_args: impl FnOnce(i32) -> L::Args,
        names: impl FnOnce(L::Ret) -> Vec<String>,
    ) -> Result<Vec<String>>
    where
        N: Proc<Ret = IntRet>,
        L: Proc,
    {
        let count = self.call(num, num_args).await?.value;
        let ret = self.call(list, list_args(count)).await?;
        Ok(names(ret))
    }

    /// Which of (active, inactive) an old-style listing must cover for `flags`, or `None` when the flags ask for
    /// more than the old calls can tell.
    fn old_style_scope(flags: u32, active_bit: u32, inactive_bit: u32) -> Option<(bool, bool)> {
        let both = active_bit | inactive_bit;
        if flags & !both != 0 {
            return None;
        }
        let all = flags & both == 0;
        Some((
            all || flags & active_bit != 0,
            all || flags & inactive_bit != 0,
        ))
    }

    async fn list_networks_old_style(
        &self,
        active: bool,
        inactive: bool,
    ) -> Result<Vec<NetworkRef>> {
        let mut names = Vec::new();
        if active {
            names.extend(
                self.old_names(
                    P::ConnectNumOfNetworks,
                    (),
                    P::ConnectListNetworks,
                    |value| IntArgs { value },
                    |ret: NetworkNamesRet| ret.names.0,
                )
                .await?,
            );
        }
        if inactive {
            names.extend(
                self.old_names(
                    P::ConnectNumOfDefinedNetworks,
                    (),
                    P::ConnectListDefinedNetworks,
                    |value| IntArgs { value },
                    |ret: NetworkNamesRet| ret.names.0,
                )
                .await?,
            );
        }
        found(names, ErrorCode::NO_NETWORK, |name| async move {
            self.network_lookup_by_name(&name).await
        })
        .await
    }

    async fn list_pools_old_style(&self, active: bool, inactive: bool) -> Result<Vec<PoolRef>> {
        let mut names = Vec::new();
        if active {
            names.extend(
                self.old_names(
                    P::ConnectNumOfStoragePools,
                    (),
                    P::ConnectListStoragePools,
                    |value| IntArgs { value },
                    |ret: PoolNamesRet| ret.names.0,
                )
                .await?,
            );
        }
        if inactive {
            names.extend(
                self.old_names(
                    P::ConnectNumOfDefinedStoragePools,
                    (),
                    P::ConnectListDefinedStoragePools,
                    |value| IntArgs { value },
                    |ret: PoolNamesRet| ret.names.0,
                )
                .await?,
            );
        }
        found(names, ErrorCode::NO_STORAGE_POOL, |name| async move {
            self.pool_lookup_by_name(&name).await
        })
        .await
    }

    async fn list_volumes_old_style(&self, pool: &PoolRef) -> Result<Vec<VolumeRef>> {
        let names = self
            .old_names(
                P::StoragePoolNumOfVolumes,
                pool_args(pool),
                P::StoragePoolListVolumes,
                |value| PoolIntArgs {
                    pool: pool.clone(),
                    value,
                },
                |ret: VolNamesRet| ret.names.0,
            )
            .await?;
        found(names, ErrorCode::NO_STORAGE_VOL, |name| async move {
            self.vol_lookup_by_name(pool, &name).await
        })
        .await
    }

    /// `virConnectListAllDomains` emulated with the old calls, for servers older than it (only the
    /// active/inactive filters can be expressed that way).
    async fn list_domains_old_style(
        &self,
        want_active: bool,
        want_inactive: bool,
    ) -> Result<Vec<DomainRef>> {
        let mut out = Vec::new();
        if want_active {
            let count = self.call(P::ConnectNumOfDomains, ()).await?.value;
            let ids: DomainIdsRet = self
                .call(P::ConnectListDomains, IntArgs { value: count })
                .await?;
            out.extend(
                found(ids.ids.0, ErrorCode::NO_DOMAIN, |id| async move {
                    self.domain_lookup_by_id(id).await
                })
                .await?,
            );
        }
        if want_inactive {
            let count = self.call(P::ConnectNumOfDefinedDomains, ()).await?.value;
            let names: DomainNamesRet = self
                .call(P::ConnectListDefinedDomains, IntArgs { value: count })
                .await?;
            out.extend(
                found(names.names.0, ErrorCode::NO_DOMAIN, |name| async move {
                    self.domain_lookup_by_name(&name).await
                })
                .await?,
            );
        }
        Ok(out)
    }
}

/// Looks up each listed key, leaving out objects that went away between the listing and the lookup (`gone`), as
/// libvirt's client does when it emulates a list-all call with the old calls.
async fn found<K, T, F>(keys: Vec<K>, gone: ErrorCode, lookup: impl Fn(K) -> F) -> Result<Vec<T>>
where
    F: std::future::Future<Output = Result<T>>,
{
    let mut out = Vec::new();
    for key in keys {
        match lookup(key).await {
            Ok(obj) => out.push(obj),
            Err(err) if err.code == gone => {}
            Err(err) => return Err(err),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::sasl::*;
    use super::*;
    use crate::rpc::procedures::Procedure as P;

    #[test]
    fn auth_choice_follows_the_server_and_the_uri() {
        assert!(check_auth(&[auth_type::NONE], None).is_ok());
        assert!(check_auth(&[], None).is_ok());
        assert_eq!(
            check_auth(&[auth_type::SASL], None).unwrap(),
            auth_type::SASL
        );
        let err = check_auth(&[auth_type::POLKIT], None).unwrap_err();
        assert_eq!(err.code, ErrorCode::AUTH_UNAVAILABLE);
        let err = check_auth(&[auth_type::NONE], Some(&AuthChoice::Polkit)).unwrap_err();
        assert_eq!(err.code, ErrorCode::AUTH_FAILED);
        assert!(err.message.contains("polkit rejected"), "{}", err.message);
    }

    /// A fake daemon on `stream` answering AUTH_LIST with SASL and the SASL calls with a real [`SaslServer`] (user
    /// alice), everything else with success; returns each (procedure, nil flag) of START and STEP it received.
    async fn sasl_fake_daemon(mut stream: tokio::io::DuplexStream) -> Vec<(P, i32)> {
        use crate::auth::{CredentialStore, SaslServer};
        use crate::rpc::packet::{encode_frame, FrameDecoder, Message, Status};
        use crate::rpc::xdr::Array;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let mut store = CredentialStore::new();
        store.add_user("alice", "s3cret", &[]).unwrap();
        let mut server = SaslServer::new(Arc::new(store), "virtcim", SaslTransport::Unix);
        let mut seen = Vec::new();
        let mut decoder = FrameDecoder::default();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return seen,
                Ok(n) => n,
            };
            decoder.push(&buf[..n]);
            while let Ok(Some(frame)) = decoder.next_frame() {
                let call = Message::from_frame(&frame).unwrap();
                let number = call.header.proc_;
                // `None`: the exchange failed, answered with an error.
                let sasl_ret = |result: Result<SaslStep, SaslError>| {
                    let (complete, data) = match result.ok()? {
                        SaslStep::Continue(data) => (0, data),
                        SaslStep::Done(data) => (1, data),
                    };
                    let (nil, data) = sasl_data(data);
                    Some(
                        AuthSaslRet {
                            complete,
                            nil,
                            data,
                        }
                        .to_bytes(),
                    )
                };
                let payload = if number == P::AuthList.number() {
                    Some(
                        AuthListRet {
                            types: Array(vec![auth_type::SASL]),
                        }
                        .to_bytes(),
                    )
                } else if number == P::AuthSaslInit.number() {
                    Some(
                        StringRet {
                            value: server.mechanisms().join(","),
                        }
                        .to_bytes(),
                    )
                } else if number == P::AuthSaslStart.number() {
                    let args = AuthSaslStartArgs::from_bytes(&call.payload).unwrap();
                    seen.push((P::AuthSaslStart, args.nil));
                    let data = (args.nil == 0).then_some(args.data.0.as_slice());
                    sasl_ret(server.start(&args.mech, data))
                } else if number == P::AuthSaslStep.number() {
                    let args = AuthSaslStepArgs::from_bytes(&call.payload).unwrap();
                    seen.push((P::AuthSaslStep, args.nil));
                    let data = (args.nil == 0).then_some(args.data.0.as_slice());
                    sasl_ret(server.step(data))
                } else if number == P::ConnectSupportsFeature.number() {
                    Some(IntRet { value: 0 }.to_bytes())
                } else {
                    Some(Vec::new())
                };
                let reply = match payload {
                    Some(payload) => encode_frame(&call.header.reply(Status::Ok), &payload),
                    None => {
                        let err = Error::with_detail(
                            ErrorCode::AUTH_FAILED,
                            ErrorDomain::RPC,
                            "authentication failed",
                        );
                        let body = crate::rpc::error_to_wire(&err).to_bytes();
                        encode_frame(&call.header.reply(Status::Error), &body)
                    }
                };
                if stream.write_all(&reply).await.is_err() {
                    return seen;
                }
            }
        }
    }

    #[tokio::test]
    async fn sasl_sends_nil_or_data_as_the_mechanism_needs() {
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("auth.conf");
        std::fs::write(
            &good,
            "[credentials-a]\nauthname=alice\npassword=s3cret\n[auth-libvirt-localhost]\ncredentials=a\n",
        )
        .unwrap();
        let options = RemoteOptions {
            read_only: false,
            keepalive: None,
        };
        // SCRAM (the preference on unix) has an initial response; DIGEST-MD5 starts with nil and the server's
        // challenge, and its last step sends data the server answers with rspauth.
        let cases = [
            ("", vec![(P::AuthSaslStart, 0), (P::AuthSaslStep, 0)]),
            (
                "&auth=sasl.DIGEST-MD5",
                vec![(P::AuthSaslStart, 1), (P::AuthSaslStep, 0)],
            ),
        ];
        for (extra, expected) in cases {
            let text = format!("test+unix:///default?authfile={}{extra}", good.display());
            let uri = Uri::parse(&text).unwrap();
            let (ours, theirs) = tokio::io::duplex(65536);
            let daemon = tokio::spawn(sasl_fake_daemon(theirs));
            let driver = RemoteDriver::open_stream(ours, &uri, &text, &options)
                .await
                .unwrap_or_else(|err| panic!("{extra}: {}", err.message));
            drop(driver);
            assert_eq!(daemon.await.unwrap(), expected, "{extra}");
        }
        // A wrong password: the server's error comes back unchanged.
        let bad = tmp.path().join("bad.conf");
        std::fs::write(
            &bad,
            "[credentials-a]\nauthname=alice\npassword=nope\n[auth-libvirt-default]\ncredentials=a\n",
        )
        .unwrap();
        let text = format!("test+unix:///default?authfile={}", bad.display());
        let uri = Uri::parse(&text).unwrap();
        let (ours, theirs) = tokio::io::duplex(65536);
        tokio::spawn(sasl_fake_daemon(theirs));
        let err = match RemoteDriver::open_stream(ours, &uri, &text, &options).await {
            Ok(_) => panic!("a wrong password opened"),
            Err(err) => err,
        };
        assert_eq!(err.code, ErrorCode::AUTH_FAILED);
        assert_eq!(err.message, "authentication failed: authentication failed");
    }

    #[test]
    fn default_sockets_follow_libvirt() {
        let system = Uri::parse("qemu:///system").unwrap();
        if nix::unistd::geteuid().is_root() {
            assert_eq!(
                default_socket_path(&system, false),
                PathBuf::from("/run/libvirt/libvirt-sock")
            );
            assert_eq!(
                default_socket_path(&system, true),
                PathBuf::from("/run/libvirt/libvirt-sock-ro")
            );
            let test = Uri::parse("test+unix:///default").unwrap();
            assert_eq!(
                default_socket_path(&test, false),
                PathBuf::from("/run/libvirt/libvirt-sock")
            );
        } else {
            let session = Uri::parse("qemu:///session").unwrap();
            assert!(default_socket_path(&session, false).ends_with("libvirt/libvirt-sock"));
        }
    }

    #[tokio::test]
    async fn transports_not_built_yet_say_so() {
        for text in [
            "test+libssh://127.0.0.1/default",
            "test+libssh2://127.0.0.1/default",
        ] {
            let uri = Uri::parse(text).unwrap();
            let err = match RemoteDriver::open(&uri, text, &RemoteOptions::default()).await {
                Ok(_) => panic!("{text} opened"),
                Err(err) => err,
            };
            assert_eq!(err.code, ErrorCode::NO_SUPPORT, "{text}");
            assert!(err.message.contains("not supported yet"), "{}", err.message);
        }
    }
}
