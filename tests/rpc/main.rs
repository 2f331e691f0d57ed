//! Native RPC: the dispatcher, the server in process and as `virtcimd`, hostile input, SASL, the conformance
//! transcript over every transport, and stock virsh / python3-libvirt against our server.
//!
//! One test binary (the former files are its modules); `tests/support` is the one shared harness.

#[path = "../support/mod.rs"]
mod support;

mod badinput;
mod conformance;
mod daemon;
mod dispatch;
mod sasl;
mod server;
mod virsh;
mod virsh_agent;
mod virsh_extras;
mod virsh_guest;
mod virsh_ifaces;
mod virsh_metadata;
mod virsh_pace;
mod virsh_save;
mod virsh_snapshots;
mod virsh_stats;
mod virsh_tunables;
mod virsh_xml;
