//! The CIM model served over WBEM (host, guests, methods, one world with virsh), the DMTF schema through our MOF
//! compiler, and robustness.
//!
//! One test binary (the former files are its modules); `tests/support` is the one shared harness.

#[path = "../support/mod.rs"]
mod support;

mod console;
mod dmtf_schema;
mod filters;
mod guest;
mod host;
mod host_resources;
mod indications;
mod jobs;
mod lookup_errors;
mod methods;
mod migration;
mod model;
mod mof;
mod pool_config;
mod profiles;
mod world;
mod xml;
