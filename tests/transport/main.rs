//! Transports: TLS (ours and a stock libvirtd's), ssh and ext child-process transports.
//!
//! One test binary (the former files are its modules); `tests/support` is the one shared harness.

#[path = "../support/mod.rs"]
mod support;

mod ext;
mod ssh;
mod tls;
