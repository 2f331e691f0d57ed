//! Where the guests' indications come from: the driver's domain event stream, whichever front end caused the
//! change (virsh over RPC, a CIM method, the CLI, or QEMU itself: a guest powering off or crashing). Nothing is
//! read while no subscription is delivered. After each
//! event the guest's `KVM_ComputerSystem` and RASDs are read again and compared with what was seen before:
//! a guest that appeared raises `KVM_ComputerSystemCreatedIndication` (and a created indication per RASD), one
//! that vanished `...DeletedIndication` (with its last known instance), and a change
//! `KVM_ComputerSystemModifiedIndication` / `KVM_ResourceAllocationSettingDataModifiedIndication` with
//! SourceInstance, PreviousInstance and ChangedPropertyNames. Events that change nothing raise nothing.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, warn};

use super::hub::{now_datetime, Hub};
use crate::cim::{CimStatus, CimType, Instance, Name, Repository, Value};
use crate::driver::{Connection, DomainEvent};
use crate::listener::Shutdown;
use crate::wbem::ops::Operations;
use crate::wbem::providers::computer_system_path;
use crate::wbem::providers::guest::{load_guest, LoadOptions};

const VIRT: &str = "root/virt";
const CS_PREFIX: &str = "KVM_ComputerSystem";
const RASD_PREFIX: &str = "KVM_ResourceAllocationSettingData";

/// What one guest looked like when last seen.
#[derive(Clone)]
struct Seen {
    system: Instance,
    /// RASDs by InstanceID.
    rasds: Vec<(String, Instance)>,
}

#[derive(Clone, Copy)]
enum Change {
    Created,
    Deleted,
    Modified,
}

impl Change {
    fn suffix(self) -> &'static str {
        match self {
            Change::Created => "CreatedIndication",
            Change::Deleted => "DeletedIndication",
            Change::Modified => "ModifiedIndication",
        }
    }
}

pub struct Source {
    hub: Arc<Hub>,
    ops: Arc<Operations>,
    driver: Connection,
    repo: Arc<Repository>,
    seen: HashMap<String, Seen>,
}

impl Source {
    pub fn new(
        hub: Arc<Hub>,
        ops: Arc<Operations>,
        driver: Connection,
        repo: Arc<Repository>,
    ) -> Source {
        Source {
            hub,
            ops,
            driver,
            repo,
            seen: HashMap::new(),
        }
    }

    /// Follows the driver's events until `shutdown`; a driver without events ends the source (logged). Guests
    /// are read only while some subscription is delivered: when the first one appears, every guest is read once
    /// (what later changes are compared with), and each event then reads its guest again; with none, events
    /// are let pass unread and what was seen is forgotten.
    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), String> {
        let mut events = loop {
            match self.driver.domain_event_subscribe().await {
                Ok(rx) => break rx,
                Err(err) => {
                    warn!(error = %err, "no domain events from the driver: guest indications wait for them");
                    tokio::select! {
                        () = shutdown.wait() => return Ok(()),
                        () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                    }
                }
            }
        };
        let mut demand = self.hub.attach_source();
        // The demand epoch the guests were read for; 0: nobody listens.
        let mut epoch = 0;
        loop {
            let now = *demand.borrow_and_update();
            if now.active && epoch != now.epoch {
                self.seen.clear();
                self.resync_all(false).await;
                epoch = now.epoch;
                self.hub.source_ready(epoch);
            } else if !now.active && epoch != 0 {
                self.seen.clear();
                epoch = 0;
            }
            let event = tokio::select! {
                () = shutdown.wait() => return Ok(()),
                changed = demand.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    continue;
                }
                event = events.recv() => event,
            };
            match event {
                Ok(_) | Err(RecvError::Lagged(_)) if epoch == 0 => {}
                Ok(event) => self.on_event(&event).await,
                Err(RecvError::Lagged(missed)) => {
                    warn!(missed, "domain events missed: comparing every guest");
                    self.resync_all(true).await;
                }
                Err(RecvError::Closed) => {
                    // The connection went away (a remote driver reconnecting): subscribe again.
                    match self.driver.domain_event_subscribe().await {
                        Ok(rx) => {
                            events = rx;
                            if epoch != 0 {
                                self.resync_all(true).await;
                            }
                        }
                        Err(_) => {
                            tokio::select! {
                                () = shutdown.wait() => return Ok(()),
                                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                            }
                        }
                    }
                }
            }
        }
    }

    async fn on_event(&mut self, event: &DomainEvent) {
        debug!(domain = %event.domain.name, event = event.event, detail = event.detail, "domain event");
        self.compare(&event.domain.name, true).await;
    }

    /// Reads every guest again; with `raise`, raises what changed since last seen.
    async fn resync_all(&mut self, raise: bool) {
        let mut names: Vec<String> = match self.driver.list_all_domains(0).await {
            Ok(domains) => domains.into_iter().map(|d| d.name).collect(),
            Err(err) => {
                warn!(error = %err, "cannot list the guests");
                return;
            }
        };
        for name in self.seen.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        for name in names {
            self.compare(&name, raise).await;
        }
    }

    /// The guest as it is now; `None` when it does not exist.
    async fn current(&self, name: &str) -> Result<Option<Seen>, String> {
        let system = match self
            .ops
            .instance_at(VIRT, &computer_system_path(name))
            .await
        {
            Ok(inst) => inst,
            Err(err) if err.status() == CimStatus::NotFound => return Ok(None),
            Err(err) => return Err(err.to_string()),
        };
        let options = LoadOptions {
            host_index: true,
            autostart: false,
        };
        let rasds = match load_guest(&self.driver, name, options).await {
            Ok(Some(model)) => model
                .rasds()
                .filter_map(|r| Some((r.get_str("InstanceID")?.to_owned(), r.clone())))
                .collect(),
            Ok(None) => return Ok(None),
            Err(err) if err.status() == CimStatus::NotFound => return Ok(None),
            Err(err) => return Err(err.to_string()),
        };
        Ok(Some(Seen { system, rasds }))
    }

    async fn compare(&mut self, name: &str, raise: bool) {
        let now = match self.current(name).await {
            Ok(now) => now,
            Err(err) => {
                warn!(domain = name, error = %err, "cannot read the guest for indications");
                return;
            }
        };
        let before = match &now {
            Some(now) => self.seen.insert(name.to_owned(), now.clone()),
            None => self.seen.remove(name),
        };
        if !raise {
            return;
        }
        match (before, now) {
            (None, Some(now)) => {
                self.raise(CS_PREFIX, Change::Created, &now.system, None);
                for (_, rasd) in &now.rasds {
                    self.raise(RASD_PREFIX, Change::Created, rasd, None);
                }
            }
            (Some(before), None) => {
                for (_, rasd) in &before.rasds {
                    self.raise(RASD_PREFIX, Change::Deleted, rasd, None);
                }
                self.raise(CS_PREFIX, Change::Deleted, &before.system, None);
            }
            (Some(before), Some(now)) => {
                if !before.system.properties().eq(now.system.properties()) {
                    self.raise(
                        CS_PREFIX,
                        Change::Modified,
                        &now.system,
                        Some(&before.system),
                    );
                }
                for (id, rasd) in &now.rasds {
                    match before.rasds.iter().find(|(b, _)| b == id) {
                        None => self.raise(RASD_PREFIX, Change::Created, rasd, None),
                        Some((_, old)) if !old.properties().eq(rasd.properties()) => {
                            self.raise(RASD_PREFIX, Change::Modified, rasd, Some(old));
                        }
                        Some(_) => {}
                    }
                }
                for (id, old) in &before.rasds {
                    if !now.rasds.iter().any(|(n, _)| n == id) {
                        self.raise(RASD_PREFIX, Change::Deleted, old, None);
                    }
                }
            }
            (None, None) => {}
        }
    }

    fn raise(&self, prefix: &str, change: Change, source: &Instance, previous: Option<&Instance>) {
        let class_name = format!("{prefix}{}", change.suffix());
        let Some(class) = self
            .repo
            .namespace(VIRT)
            .ok()
            .and_then(|ns| ns.class(&class_name))
        else {
            return;
        };
        let mut ind = class.new_instance();
        let s = |v: &str| Value::String(v.to_owned());
        ind.set("IndicationIdentifier", s(&self.hub.next_identifier()));
        ind.set("IndicationTime", now_datetime());
        let mut source_path = source.path.clone();
        if let Some(p) = &mut source_path {
            p.namespace = Some(Name::from_static(VIRT));
            p.host = Some(self.hub.host().into());
        }
        ind.set("SourceInstance", Value::Instance(Box::new(plain(source))));
        if let Some(p) = source_path {
            ind.set("SourceInstanceModelPath", s(&p.to_string()));
        }
        ind.set("SourceInstanceHost", s(self.hub.host()));
        if let Some(previous) = previous {
            ind.set(
                "PreviousInstance",
                Value::Instance(Box::new(plain(previous))),
            );
            let changed: Vec<Value> = source
                .properties()
                .filter(|p| previous.get(&p.name) != Some(&p.value))
                .map(|p| s(&p.name))
                .collect();
            ind.set(
                "ChangedPropertyNames",
                Value::Array(CimType::String, changed),
            );
        }
        debug!(class = %class_name, "indication raised");
        self.hub.raise(VIRT, ind);
    }
}

/// An instance as embedded in an indication: its properties (the path travels in SourceInstanceModelPath).
fn plain(inst: &Instance) -> Instance {
    let mut copy = inst.clone();
    copy.path = None;
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::test::TestDriver;
    use crate::listener::Services;
    use crate::wbem::indications::hub::IndicationSettings;
    use crate::wbem::indications::store::{
        DestinationRecord, FilterRecord, SubscriptionRecord, SystemKeys,
    };
    use std::time::Duration;

    fn keys(name: &str) -> SystemKeys {
        SystemKeys {
            system_creation_class_name: "KVM_HostSystem".into(),
            system_name: "host".into(),
            name: name.into(),
        }
    }

    fn subscription() -> SubscriptionRecord {
        SubscriptionRecord {
            filter: keys("f"),
            handler_class: "CIM_ListenerDestinationCIMXML".into(),
            handler: keys("d"),
            state: crate::wbem::indications::hub::STATE_ENABLED,
            start_time: String::new(),
            last_state_change: String::new(),
            on_fatal_error_policy: None,
            subscription_info: None,
        }
    }

    /// The source reads guests only once a subscription is delivered, and a new subscription is answered once
    /// it compares (each time subscriptions come back after none).
    #[tokio::test]
    async fn the_source_compares_only_while_someone_subscribes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let driver = TestDriver::open(&dir.path().join("test"))
            .await
            .expect("test driver")
            .connection();
        let repo = Arc::new(crate::cim::builtin_repository().expect("repository"));
        let hub =
            Hub::start(IndicationSettings::default(), Arc::clone(&repo), "host").expect("hub");
        let ops = Arc::new(Operations::new(Arc::clone(&repo), driver.clone(), "host"));
        let mut services = Services::new();
        let source = Source::new(Arc::clone(&hub), ops, driver, repo);
        services.spawn("source", source.run(services.shutdown()));
        assert!(!hub.is_watched());
        hub.create_filter(FilterRecord {
            keys: keys("f"),
            query: "SELECT * FROM CIM_InstIndication".into(),
            query_language: "WQL".into(),
            source_namespaces: Some(vec![VIRT.into()]),
            source_namespace: None,
            element_name: None,
        })
        .expect("filter");
        hub.create_destination(DestinationRecord {
            class_name: "CIM_ListenerDestinationCIMXML".into(),
            keys: keys("d"),
            destination: "http://127.0.0.1:9".into(),
            persistence_type: None,
            username: None,
            password: None,
            element_name: None,
        })
        .expect("destination");
        for round in 1..=2 {
            hub.create_subscription(subscription())
                .expect("subscription");
            assert!(hub.is_watched());
            // The source answers within moments (the wait itself gives up only after 30 s).
            tokio::time::timeout(Duration::from_secs(10), hub.wait_for_source())
                .await
                .unwrap_or_else(|_| panic!("round {round}: the source did not take its reading"));
            let id = crate::wbem::indications::hub::subscription_id(&subscription());
            hub.delete_subscription(&id).expect("delete");
            assert!(!hub.is_watched());
        }
        services.stop(Duration::from_secs(5)).await;
    }
}
