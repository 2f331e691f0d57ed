//! The WBEM front end: HTTP(S), caching, pull and filter operations, passwords, interop, stock pywbem / pywbemcli /
//! wbemcli, and the benchmark.
//!
//! One test binary (the former files are its modules); `tests/support` is the one shared harness.

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod bench;
mod bench_nginx;
mod cache;
mod client_certs;
mod http;
mod interop;
mod passwd;
mod peers;
mod pull_filter;
