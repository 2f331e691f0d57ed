//! virtcim: virtual machine management behind one driver API, served as libvirt's native RPC and as CIM-XML.
//!
//! The map of the crate:
//! - [`error`]: the one error type, libvirt's code + domain + message, carried unchanged across every layer.
//! - `driver`: the [`Driver`] trait (the API every front end calls) and its implementations: `test` (embedded,
//!   persistent), `remote` (the native RPC client to a daemon), later `qemu`.
//! - `model`: domain, network, pool and volume definitions and their XML (pure).
//! - `uri`: libvirt connection URIs (pure).
//! - `config`: the daemon configuration (libvirtd.conf keys, strict).
//! - `daemon`: the daemon's life: state dir lock, drivers, both front ends started from the configuration,
//!   signals, clean stop.
//! - `listener`: what every front end accepts connections with: one accept loop (admission, accept errors with
//!   backoff), connection caps, the shutdown signal and the service set.
//! - `rpc`: libvirt's native RPC: XDR framing and payloads (sans I/O), dispatch to a driver, the tokio server
//!   and its listeners (unix, TCP, TLS), and the client.
//! - `transport`: TLS (server and client, libvirt's files and DN list) and the child-process transports (ssh,
//!   ext) of the client; streams only, no RPC and no daemon configuration.
//! - `cim`: the CIM object model, class repository and MOF compiler; `wbem`: the CIM-XML codec.
//! - `cli`: the `virtcim` command-line client, virsh-compatible.
//!
//! Modules stay private; the public surface is the `pub use` block below.
#![forbid(unsafe_code)]

mod auth;
mod cim;
mod cli;
mod config;
mod connect;
mod daemon;
mod driver;
pub mod error;
mod listener;
mod model;
#[cfg(test)]
mod module_graph;
mod persist;
mod remote;
mod rpc;
mod transport;
mod uri;
mod wbem;

// The public surface.
pub use auth::{
    CredentialError, CredentialStore, SaslClient, SaslError, SaslLayer, SaslServer, SaslStep,
    SaslTransport, UserRecord, DEFAULT_REALM,
};
pub use cim::builtin::MOF_FILES as BUILTIN_MOF_FILES;
pub use cim::mof::{
    compile_files as compile_mof_files, parse_instance_mof, MofCompiler, MofError, MofStats,
};
pub use cim::{
    builtin_repository, namespace_eq, Arrayness, CimStatus, CimType, Class, DateTime, DateTimeKind,
    Flavor, Instance, InstanceProperty, Method, Namespace, ObjectPath, Parameter, PathError,
    Property, Qualifier, QualifierDecl, QualifierList, RepoError, Repository, Scope, TypeSpec,
    Value, ValueError,
};
pub use cli::run as cli_main;
pub use config::{AuthMode, Config, ConfigError, TlsFiles, WbemAuth};
pub use connect::{connect, default_state_dir, ConnectOptions, Registry};
pub use daemon::{default_config_path, Daemon, DaemonError, DaemonOptions, Shutdown, TEST_URI};
/// The QEMU driver, its pure command-line builder (`build_argv`, golden-tested) and its QMP codec and client.
pub use driver::qemu::{command as qemu_command, qmp as qemu_qmp, QemuDriver, QemuMode};
pub use driver::test::TestDriver;
pub use driver::TunableKind;
pub use driver::{
    event, flags, pool_state, reason, vol_type, Connection, DomainEvent, DomainInfo, DomainRef,
    DomainState, HypervisorDriver, InterfaceDriver, InterfaceRef, MemoryStat, NetworkDriver,
    NetworkRef, NodeCpuMap, NodeDeviceDriver, NodeInfo, PoolInfo, PoolRef, StorageDriver,
    TypedParam, TypedValue, VcpuInfo, VolumeInfo, VolumeRef,
};
pub use remote::{default_socket_path, RemoteDriver, RemoteOptions};
// stats lane
pub use driver::{
    BlockInfo, BlockStats, DomainStatsRecord, FsInfo, GuestInterface, InterfaceStats, IothreadInfo,
    IpAddress, NodeCpuStat,
};
// domain snapshots (lane: snapshots)
pub use driver::SnapshotRef;
pub use error::{Error, ErrorCode, ErrorDomain, Result};
pub use model::SnapshotDef;
/// Definition helpers beyond the core model types (units, MAC addresses, the nested definition parts).
pub use model::{
    generate_mac, parse_mac, parse_scaled, unit_bytes, CharDevDef, Devices, Features, IpDef, OsDef,
    ScaleDefault, VideoDef,
};
pub use model::{
    validate_name, ControllerDef, DiskDef, DomainDef, DomainXmlOptions, GraphicsDef, InputDef,
    InterfaceDef, NetworkDef, PoolDef, VolumeDef,
};
/// Host interfaces (ifaces lane).
pub use model::{BondMonitor, HostInterfaceDef, HostInterfaceKind, IfaceProtocol};
pub use rpc::client::{ClientError, RpcClient};
pub use rpc::ListenerKind;
pub use rpc::{
    allowed_read_only, encode_frame, error_frame, error_to_wire, Call, ConnectionState,
    DispatchOutcome, Dispatcher, DriverJob, DriverOpener, EventCallback, FrameDecoder, FrameError,
    Header, Message, MessageType, Procedure, RemoteError, Reply, Route, RpcServer, ServerConfig,
    Status, Xdr, XdrError,
};
pub use transport::command::CommandStream;
pub use transport::tls::{
    certificate_dn, glob_matches, TlsClientFiles, TlsError, TlsServer, TlsServerOptions,
};
pub use uri::{
    AuthChoice, KnownHostsVerify, ProxyMode, RemoteMode, RemoteParams, Transport, Uri, UriError,
    UriParam, DEFAULT_TCP_PORT, DEFAULT_TLS_PORT,
};
/// The CIM-XML codec: `parse_request`, `write_imethod_response`, `write_method_response`, ...
pub use wbem::cimxml;
/// Wire constants and payload types of the native RPC, for servers, clients and tests.
pub mod rpc_wire {
    pub use crate::rpc::packet::*;
    pub use crate::rpc::proto::*;
    pub use crate::rpc::xdr::{Array, CharArray, FixedChars, Reader, Writer};
}
/// The per-guest DMTF model (VSSD, RASDs, devices, key formats, pool ids) built from a domain definition.
pub use wbem::providers::guest as cim_guest;
/// The WBEM server: listeners started from a daemon's configuration, the HTTP service, the operations.
pub use wbem::{
    http::BasicAuth, http::HttpLimits, http::WbemServer, ops::Operations, WbemListeners,
};
