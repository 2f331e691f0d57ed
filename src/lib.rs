//! virtcim: virtual machine management behind one driver API, served as libvirt's native RPC and as CIM-XML.
//!
//! The map of the crate, lower layers first (imports point down; a unit test fails on a module cycle):
//! - `error`: the one error type, libvirt's code + domain + message, carried unchanged across every layer.
//! - `xml`, `uri`, `model`, `config`: pure codecs: the capped XML reader, connection URIs, domain/network/pool/
//!   volume/interface definitions, the daemon configuration (libvirtd.conf keys, strict).
//! - `driver`: the driver API, declared once (`driver/api.rs`): per-object traits (hypervisor, network,
//!   storage, interface, node device, secret, nwfilter) composed into a [`Connection`], with the read-only and
//!   forwarding wrappers generated from the same list; the `test` driver (persistent, every part) and the
//!   `qemu` hypervisor driver (QMP) with its host storage.
//! - `rpc`: libvirt's remote protocol: the pure wire layer (`rpc/wire`: XDR, framing, the one procedure
//!   declaration, payloads by object), the dispatcher (generated and by-object hand-written arms, the read-only
//!   gate), the tokio server and its listeners (unix, TCP, TLS), and the typed client.
//! - `listener`: what every front end accepts connections with: one accept loop (admission, accept errors with
//!   backoff), connection caps, the shutdown signal and the service set.
//! - `transport`: TLS (rustls, libvirt's files and DN list) and the ssh/ext child processes as byte streams;
//!   no RPC and no daemon configuration.
//! - `remote`: the remote driver: every driver trait as RPC over any transport (opening, SASL, events, calls).
//! - `connect`: the one registry from a URI to a connection (owned drivers, in-process test, remote,
//!   reconnecting), used by the daemon, the WBEM front end, the CLI and the tests.
//! - `auth`: credentials and SASL mechanisms; `cim`: the CIM object model, repository and MOF compiler.
//! - `wbem`: CIM-XML (sans I/O), operations, providers over a connection, the HTTP(S) front end.
//! - `daemon`: the daemon's life: state dir lock, drivers, both front ends started the same way (settings from
//!   the configuration, a connection, the daemon's services), signals; `cli`: the `virtcim` client.
//! - `fuzzing` (hidden): one function per fuzz target, shared by cargo-fuzz and the stable replay test.
//!
//! Modules stay private; the public surface is the `pub use` block below.
#![forbid(unsafe_code)]

/// Every program built on this crate (the daemon, the CLI, the tests and benches) allocates with jemalloc: CIM
/// answers are built from many short-lived allocations. Fuzz builds keep the system allocator, which their
/// sanitizer watches.
#[cfg(not(fuzzing))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod auth;
mod cim;
mod cli;
mod config;
mod connect;
mod daemon;
mod driver;
pub mod error;
/// Entry points of the fuzz targets in `fuzz/` and of their stable replay tests; not an API.
#[doc(hidden)]
pub mod fuzzing;
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
mod xml;

// The public surface: what the binaries (src/bin), the fuzz targets and the integration tests use.
pub use auth::{CredentialStore, SaslClient, SaslLayer, SaslStep, SaslTransport};
pub use cim::mof::{MofCompiler, MofError, MofStats};
pub use cim::{builtin_repository, CimType, Class, QualifierList, Repository};
pub use cli::run as cli_main;
pub use config::Config;
pub use connect::{connect, ConnectOptions, Registry};
pub use daemon::{default_config_path, Daemon, DaemonOptions, TEST_URI};
/// The QEMU driver and its QMP codec and client.
pub use driver::qemu::{qmp as qemu_qmp, QemuDriver, QemuMode};
pub use driver::test::TestDriver;
pub use driver::TunableKind;
pub use driver::{
    event, flags, pool_event, pool_state, reason, vol_type, Connection, DomainEvent, DomainInfo,
    DomainRef, DomainState, InterfaceRef, NetworkRef, NodeInfo, PoolEvent, PoolEventKind, PoolInfo,
    PoolRef, TypedParam, TypedValue, VolumeRef,
};
/// Streams that API calls open (volume transfers, screenshots, consoles).
pub use driver::{Packet, Stream};
/// The driver traits and the connection, for code that calls driver methods on a driver value directly.
pub mod prelude {
    pub use crate::driver::{
        Connection, HypervisorDriver, InterfaceDriver, NetworkDriver, NodeDeviceDriver,
        NwFilterDriver, SecretDriver, StorageDriver,
    };
}
pub use error::{Error, ErrorCode, ErrorDomain, Result};
pub use model::{DomainDef, NetworkDef, PoolDef, VolumeDef};
pub use remote::{RemoteDriver, RemoteOptions};
pub use rpc::ListenerKind;
pub use rpc::{
    allowed_read_only, encode_frame, error_frame, Call, ConnectionState, DispatchOutcome,
    Dispatcher, DriverOpener, FrameDecoder, Header, Message, MessageType, Procedure, RemoteError,
    Reply, RpcServer, ServerConfig, Status, Xdr,
};
pub use transport::tls::{certificate_dn, TlsClientFiles, TlsServer, TlsServerOptions};
pub use uri::Uri;
/// The CIM-XML codec: `parse_request`, `write_imethod_response`, `write_method_response`, ...
pub use wbem::cimxml;
// Used by no binary, fuzz target or test, but unexported they would leave unused re-exports in `rpc` and dead
// code in `transport::command` and `wbem::providers::guest` (warnings, errors in CI): public until those modules
// drop what only the public surface used.
pub use rpc::{error_to_wire, DriverJob, EventCallback, FrameError, Route, XdrError};
pub use transport::command::CommandStream;
pub use wbem::providers::guest as cim_guest;
/// Wire constants and payload types of the native RPC, for servers, clients and tests.
pub mod rpc_wire {
    pub use crate::rpc::packet::*;
    pub use crate::rpc::proto::*;
    pub use crate::rpc::xdr::{Array, CharArray, FixedChars, Reader, Writer};
}
/// The WBEM server: listeners started from a daemon's configuration, the HTTP service, the operations.
pub use wbem::{
    http::BasicAuth, http::HttpLimits, http::WbemServer, ops::Operations, ops::Reuse, WbemListeners,
};
