//! The remote driver (our RPC client) against our server and a stock libvirtd: peers, SASL, and the benchmark.
//!
//! One test binary (the former files are its modules); `tests/support` is the one shared harness.

#[path = "../support/mod.rs"]
mod support;

mod bench;
mod peers;
mod sasl;
