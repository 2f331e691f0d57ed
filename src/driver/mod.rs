//! The driver API, cut the way libvirt cuts it: a [`Connection`] holds a hypervisor driver (connection, node,
//! domains, snapshots, statistics) plus the host-wide object drivers (networks, storage, interfaces, node devices,
//! secrets, network filters), each its own trait.
//!
//! The API is shaped like libvirt's public API because the wire protocol is: object handles are (name, uuid, id)
//! values, definitions travel as XML text, and errors carry libvirt's code and domain. Every method is declared
//! once in [`api`] and defaults to "not supported" (code 3) with the libvirt API name, so a driver grows one
//! method at a time and stock clients fall back exactly as they do against libvirtd.

pub(crate) mod api;
mod connection;
pub mod host;
pub mod host_uuid;
pub mod iface;
pub mod migration;
pub mod network;
pub mod nodedev;
pub mod nwfilter;
pub mod qemu;
pub mod secret;
pub mod storage;
mod stream;
pub mod test;
mod types;
pub mod volume_io;

pub use connection::*;
pub use stream::{await_finish, serve_bytes, stream_closed, Packet, Stream};
pub use types::*;

/// Which domains [`HypervisorDriver::domain_summaries`] gives, judged on each one's current definition.
pub type KeepDomain = dyn Fn(&crate::model::DomainDef) -> bool + Send + Sync;

/// Every domain (a [`KeepDomain`] that keeps all).
pub fn every_domain(_: &crate::model::DomainDef) -> bool {
    true
}

/// One domain as a front end that enumerates every domain needs it (see
/// [`HypervisorDriver::domain_summaries`]).
#[derive(Clone, Debug)]
pub struct DomainSummary {
    pub dom: DomainRef,
    pub state: DomainState,
    pub reason: i32,
    /// The definition that describes the domain now: the live one while it runs (shared, not copied, by a
    /// driver that holds it in memory).
    pub def: std::sync::Arc<crate::model::DomainDef>,
    /// A number that changes whenever anything the driver reports about this domain changes (definitions,
    /// state, autostart, ...), never taken twice in one process: a front end may reuse what it computed from
    /// this domain at the same number. `None`: the driver cannot promise that.
    pub version: Option<u64>,
    /// Whether the domain starts with the host, when the driver holds it at hand (`None`: ask
    /// `domain_get_autostart`).
    pub autostart: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Bare;
    impl HypervisorDriver for Bare {}

    #[tokio::test]
    async fn missing_methods_answer_not_supported_with_the_api_name() {
        let conn = Connection::builder().hypervisor(Arc::new(Bare)).build();
        let err = conn.domain_lookup_by_name("x").await.unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::NO_SUPPORT);
        assert_eq!(
            err.message,
            "this function is not supported by the connection driver: virDomainLookupByName"
        );
        let err = conn.list_all_networks(0).await.unwrap_err();
        assert_eq!(
            err.message,
            "this function is not supported by the connection driver: virConnectListAllNetworks"
        );
    }
}
