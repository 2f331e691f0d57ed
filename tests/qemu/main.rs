//! The QEMU driver with real guests: lifecycle, state, storage, bridged NICs, served by `virtcimd` and through CIM.
//!
//! One test binary (the former files are its modules); `tests/support` is the one shared harness.

#[path = "../support/mod.rs"]
mod support;

mod bridge;
mod cim;
mod daemon;
mod lifecycle;
mod state;
mod storage;
mod streams;
