//! Definitions of domains, networks, storage pools and volumes, and their XML: pure parse / format, no I/O.

mod domain;
mod domain_schema;
mod interface;
mod mac;
mod memballoon;
mod names;
mod network;
mod network_parts;
pub mod node_device;
mod nwfilter;
mod secret;
mod snapshot;
mod storage;
pub mod tunables;
mod units;
mod xml;

#[cfg(test)]
mod tests_xml;

pub use domain::*;
pub use interface::{BondMonitor, HostInterfaceDef, HostInterfaceKind, IfaceProtocol, BOND_MODES};
pub use mac::{format_mac, generate_mac, parse_mac};
pub use names::validate_name;
pub use network::*;
pub use nwfilter::*;
pub use secret::*;
pub use snapshot::SnapshotDef;
pub use storage::*;
pub use units::unit_bytes;
