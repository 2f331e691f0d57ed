//! CIM indications (DSP1054): the guests' life cycle and resource changes, raised from the driver's event
//! stream (`source`), and the jobs' creation, progress and removal (`jobs`), matched against the subscriptions
//! clients create in root/interop (`providers` over the `hub`, kept across restarts by `store`), and delivered to
//! each listener as CIM-XML ExportIndication requests (`export`, sans I/O) over HTTP or HTTPS (`client`).

mod client;
mod export;
mod hub;
mod jobs;
mod providers;
mod source;
mod store;

use std::sync::Arc;

pub use hub::{Hub, IndicationSettings};

use crate::cim::Repository;
use crate::driver::Connection;
use crate::listener::Shutdown;
use crate::wbem::ops::Operations;
use crate::wbem::providers::Provider;

/// The providers of the subscription classes, over `hub`.
pub fn providers(hub: &Arc<Hub>) -> Vec<Arc<dyn Provider>> {
    let mut out: Vec<Arc<dyn Provider>> = vec![
        Arc::new(providers::FilterProvider(Arc::clone(hub))),
        Arc::new(providers::SubscriptionProvider(Arc::clone(hub))),
        Arc::new(providers::ServiceProvider(Arc::clone(hub))),
    ];
    for p in providers::DestinationProvider::both(hub) {
        out.push(Arc::new(p));
    }
    out
}

/// Raises the indications of the jobs of `table` through `hub`.
pub fn watch_jobs(hub: &Arc<Hub>, table: &crate::wbem::jobs::JobTable, repo: Arc<Repository>) {
    jobs::watch(Arc::clone(hub), table, repo);
}

/// Raises the guests' indications from `driver`'s events until `shutdown`.
pub async fn run_source(
    hub: Arc<Hub>,
    ops: Arc<Operations>,
    driver: Connection,
    repo: Arc<Repository>,
    shutdown: Shutdown,
) -> Result<(), String> {
    source::Source::new(hub, ops, driver, repo)
        .run(shutdown)
        .await
}
