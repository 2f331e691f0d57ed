//! The QEMU driver with real guests: lifecycle, state, storage, bridged NICs, secrets and network filters, served by
//! `virtcimd` and through CIM.
//!
//! One test binary (the former files are its modules); `tests/support` is the one shared harness.

#[path = "../support/mod.rs"]
mod support;

mod agent;
mod bridge;
mod cim;
mod cim_console;
mod cim_filters;
mod cim_host_resources;
mod cim_migration;
mod cim_state;
mod daemon;
mod defaults;
mod fronts;
mod guests;
mod hostdev;
mod hotplug;
mod indications;
mod lifecycle;
mod live;
mod metadata;
mod migration;
mod migration_libvirtd;
mod migration_storage;
mod migration_tunnel;
mod netapps;
mod netdns;
mod network;
mod objects;
mod pools;
mod redfish;
mod save;
mod state;
mod stats;
mod storage;
mod streams;
mod taint;
mod vmstats;
