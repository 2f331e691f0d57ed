//! The `virtcimd` and `virtcim` binaries and the test driver: daemon life, crash safety, the CLI against virsh.
//!
//! One test binary (the former files are its modules); `tests/support` is the one shared harness.

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod crash;
mod lifecycle;
mod test_driver;
