//! virtcim: virtual machine management behind one driver API, served as libvirt's native RPC and as CIM-XML.
//!
//! The map of the crate:
//! - [`error`]: the one error type, libvirt's code + domain + message, carried unchanged across every layer.
//! - `driver`: the [`Driver`] trait (the API every front end calls) and its implementations: `test` (embedded,
//!   persistent), later `qemu` and `remote`.
//! - `model`: domain, network, pool and volume definitions and their XML (pure).
//! - `uri`: libvirt connection URIs (pure).
//! - `config`: the daemon configuration (libvirtd.conf keys, strict).
//! - `cli`: the `virtcim` command-line client, virsh-compatible.
//!
//! Modules stay private; the public surface is the `pub use` block below.
#![forbid(unsafe_code)]

mod cli;
mod config;
mod connect;
mod driver;
pub mod error;
mod model;
mod persist;
mod uri;

// The public surface.
pub use cli::run as cli_main;
pub use config::Config;
pub use connect::{connect, default_state_dir, ConnectOptions};
pub use driver::test::TestDriver;
pub use driver::{
    event, flags, pool_state, reason, vol_type, DomainEvent, DomainInfo, DomainRef, DomainState,
    Driver, NetworkRef, NodeInfo, PoolInfo, PoolRef, VolumeInfo, VolumeRef,
};
pub use error::{Error, ErrorCode, ErrorDomain, Result};
/// Definition helpers beyond the core model types (units, MAC addresses, the nested definition parts).
pub use model::{
    generate_mac, parse_mac, parse_scaled, unit_bytes, CharDevDef, Devices, Features, IpDef, OsDef,
    ScaleDefault, VideoDef,
};
pub use model::{
    validate_name, ControllerDef, DiskDef, DomainDef, DomainXmlOptions, GraphicsDef, InputDef,
    InterfaceDef, NetworkDef, PoolDef, VolumeDef,
};
pub use uri::Uri;
