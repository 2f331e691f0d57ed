//! Watches the dnsmasq of every running network: one that dies (killed, crashed, out of memory) is noticed within
//! a second, logged with its pid and the last words of its log, and started again with the network's files, as
//! libvirt's refresh of its networks' daemons does at start. The network stays active: its bridge and guests never
//! depended on the process.

use super::{dnsmasq, start_dnsmasq, Dirs, NetObj};
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;

/// How often the processes are checked.
const PERIOD: Duration = Duration::from_secs(1);

/// Starts the watcher; it ends when the driver (the owner of `nets`) is dropped.
pub(super) fn spawn(
    nets: Weak<Mutex<BTreeMap<Uuid, NetObj>>>,
    dirs: Arc<Dirs>,
    run_as: dnsmasq::RunAs,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut known: BTreeMap<Uuid, i32> = BTreeMap::new();
        loop {
            tokio::time::sleep(PERIOD).await;
            let Some(nets) = nets.upgrade() else {
                return;
            };
            let nets = nets.lock().await;
            known.retain(|uuid, _| nets.get(uuid).is_some_and(|n| n.live.is_some()));
            for (uuid, obj) in nets.iter() {
                let Some(def) = obj.live.as_ref().filter(|d| dnsmasq::wanted(d)) else {
                    continue;
                };
                let files = dirs.dnsmasq_files(&def.name);
                if let Some(pid) = dnsmasq::running_pid(&files) {
                    known.insert(*uuid, pid);
                    continue;
                }
                let last_words = std::fs::read_to_string(&files.log).unwrap_or_default();
                let last_words = last_words.lines().last().unwrap_or("").trim().to_string();
                let pid = known
                    .get(uuid)
                    .map_or_else(|| "unknown".to_string(), i32::to_string);
                tracing::warn!(
                    network = %def.name,
                    pid,
                    log = %last_words,
                    "dnsmasq of network '{}' died; starting it again",
                    def.name
                );
                let Some(bridge) = def.bridge.as_deref() else {
                    continue;
                };
                match start_dnsmasq(&dirs, run_as, def, bridge).await {
                    Ok(new_pid) => {
                        tracing::info!(network = %def.name, pid = new_pid, "dnsmasq restarted");
                        known.insert(*uuid, new_pid);
                    }
                    Err(err) => tracing::error!(
                        network = %def.name,
                        "cannot restart dnsmasq: {}",
                        err.message
                    ),
                }
            }
        }
    });
}
