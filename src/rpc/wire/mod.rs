//! The wire layer of libvirt's remote protocol, pure of I/O: [`xdr`] (strict primitives), [`packet`] (length
//! word + 24-byte header, incremental frame splitting), [`procedures`] (all 443 procedure numbers and names),
//! [`proto`] (the one declaration of every implemented procedure, and the enums and markers it generates), [`qemu`]
//! (the same for libvirt's QEMU program), the payloads grouped by libvirt object, and [`values`] (driver API values to and from payload fields).

pub mod packet;
pub mod procedures;
pub mod proto;
pub mod qemu;
pub mod stream;
pub mod values;
pub mod xdr;

// Only the test that keeps schemas/remote.x equal to the declaration renders it.
#[cfg(test)]
mod schema;

mod common;
mod connect;
mod domain;
mod domain_guest;
mod domain_stats;
mod domain_tunables;
mod interface;
mod migration;
mod network;
mod node_device;
mod nwfilter;
mod secret;
mod snapshot;
mod storage;
