//! Definitions of domains, networks, storage pools and volumes, and their XML: pure parse / format, no I/O.

mod domain;
mod mac;
mod names;
mod network;
mod snapshot;
mod storage;
mod units;
mod xml;

pub use domain::*;
pub use mac::{generate_mac, parse_mac};
pub use names::validate_name;
pub use network::*;
pub use snapshot::SnapshotDef;
pub use storage::*;
pub use units::{parse_scaled, unit_bytes, ScaleDefault};
