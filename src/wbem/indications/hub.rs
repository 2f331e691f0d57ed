//! The indication hub: the filters, listener destinations and subscriptions (kept by [`super::store`]), the
//! matching of each raised indication against every enabled subscription's filter, and one delivery task per
//! subscription with its own bounded queue, so that deliveries of a subscription keep their order and a slow or
//! dead listener holds up nobody else. A delivery that keeps failing is retried `retry_attempts` times,
//! `retry_interval` apart (DSP1054's DeliveryRetryAttempts and DeliveryRetryInterval); then the subscription is
//! disabled, the failure logged, and a `CIM_AlertIndication` raised for whoever subscribed to alerts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::client::{ListenerClient, ListenerUrl};
use super::export::export_request;
use super::store::{
    subscription_path, DestinationRecord, FilterRecord, Saved, StoreDir, SubscriptionRecord,
    SystemKeys, INTEROP,
};
use crate::cim::{CimStatus, Instance, Repository, Value};
use crate::wbem::error::OpError;
use crate::wbem::query::{self, Query};

/// `SubscriptionState` values.
pub const STATE_ENABLED: u16 = 2;
pub const STATE_DEGRADED: u16 = 3;
pub const STATE_DISABLED: u16 = 4;

/// How the hub delivers (from the daemon's configuration).
#[derive(Clone, Debug)]
pub struct IndicationSettings {
    /// Where subscriptions are kept (`<state_dir>/indications`); `None`: in memory only.
    pub store_dir: Option<PathBuf>,
    /// Retries of a failed delivery before the subscription is disabled (`wbem_indication_retry_attempts`).
    pub retry_attempts: u16,
    /// Time between two attempts (`wbem_indication_retry_interval`, seconds in the configuration).
    pub retry_interval: Duration,
    /// Indications waiting per subscription; more are dropped and counted (`wbem_indication_queue_size`).
    pub queue_size: usize,
    /// CA that HTTPS listeners' certificates are checked against (`wbem_indication_ca_file`); without it they
    /// are taken as they are.
    pub ca_file: Option<PathBuf>,
}

impl Default for IndicationSettings {
    fn default() -> Self {
        IndicationSettings {
            store_dir: None,
            retry_attempts: 3,
            retry_interval: Duration::from_secs(30),
            queue_size: 1000,
            ca_file: None,
        }
    }
}

/// The query languages a filter may use: our WQL subset, which is also the subset of CQL it covers.
pub fn language_supported(language: &str) -> bool {
    ["WQL", "DMTF:CQL", "CQL"]
        .iter()
        .any(|l| l.eq_ignore_ascii_case(language.trim()))
}

/// What a delivery task shares with the hub.
#[derive(Default)]
pub struct DeliveryStatus {
    pub dropped: AtomicU64,
    pub delivered: AtomicU64,
    /// A delivery is failing and being retried.
    pub retrying: AtomicBool,
    pub last_error: Mutex<Option<String>>,
    pub last_identifier: Mutex<Option<String>>,
}

struct Worker {
    tx: mpsc::Sender<Instance>,
    status: Arc<DeliveryStatus>,
    context: String,
    sequence: i64,
    task: JoinHandle<()>,
}

struct Filter {
    record: FilterRecord,
    query: Query,
}

#[derive(Default)]
struct State {
    filters: Vec<Filter>,
    destinations: Vec<DestinationRecord>,
    subscriptions: Vec<SubscriptionRecord>,
    workers: HashMap<String, Worker>,
    /// Delivery counters of subscriptions by id, kept while the subscription exists (its worker may be gone).
    status: HashMap<String, Arc<DeliveryStatus>>,
}

impl State {
    fn saved(&self) -> Saved {
        Saved {
            filters: self.filters.iter().map(|f| f.record.clone()).collect(),
            destinations: self.destinations.clone(),
            subscriptions: self.subscriptions.clone(),
        }
    }
}

/// A subscription's identity in the hub.
pub fn subscription_id(sub: &SubscriptionRecord) -> String {
    subscription_path(sub).to_string()
}

/// The current time as a CIM datetime (UTC).
pub fn now_datetime() -> Value {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    crate::wbem::providers::snapshots::cim_time(secs).map_or(Value::Null, Value::DateTime)
}

fn now_text() -> String {
    match now_datetime() {
        Value::DateTime(d) => d.as_str().to_owned(),
        _ => String::new(),
    }
}

/// Whether anyone listens: `active` while some subscription is being delivered; `epoch` counts the times it
/// became so (the guests' source compares from a fresh reading each time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    pub epoch: u64,
    pub active: bool,
}

pub struct Hub {
    settings: IndicationSettings,
    demand: watch::Sender<Demand>,
    /// The demand epoch the guests' source has taken its reading for.
    source_ready: watch::Sender<u64>,
    /// A source follows the driver's events (the daemon runs one; a hub alone in a test has none).
    source_attached: AtomicBool,
    repo: Arc<Repository>,
    host: String,
    store: StoreDir,
    tls: Arc<rustls::ClientConfig>,
    state: Mutex<State>,
    next_identifier: AtomicU64,
    /// Identifies this run of the daemon in indication identifiers.
    run: String,
    me: Weak<Hub>,
}

fn failed(msg: impl Into<String>) -> OpError {
    OpError::cim(CimStatus::Failed, msg)
}

impl Hub {
    /// A hub with the subscriptions saved in the store; their delivery tasks start at once.
    pub fn start(
        settings: IndicationSettings,
        repo: Arc<Repository>,
        host: &str,
    ) -> Result<Arc<Hub>, String> {
        let tls = crate::transport::tls::listener_client_config(settings.ca_file.as_deref())
            .map_err(|e| format!("wbem_indication_ca_file: {e}"))?;
        let store = StoreDir(settings.store_dir.clone());
        let saved = store.load();
        let hub = Arc::new_cyclic(|me| Hub {
            settings,
            demand: watch::Sender::new(Demand::default()),
            source_ready: watch::Sender::new(0),
            source_attached: AtomicBool::new(false),
            repo,
            host: host.to_owned(),
            store,
            tls,
            state: Mutex::new(State::default()),
            next_identifier: AtomicU64::new(1),
            run: format!("{:08x}", rand::random::<u32>()),
            me: me.clone(),
        });
        {
            let mut state = hub.lock();
            for record in saved.filters {
                match hub.compile(&record) {
                    Ok(query) => state.filters.push(Filter { record, query }),
                    Err(err) => {
                        warn!(filter = %record.keys.name, error = %err.to_string(), "saved filter left out")
                    }
                }
            }
            state.destinations = saved.destinations;
            for sub in saved.subscriptions {
                let id = subscription_id(&sub);
                state.status.insert(id, Arc::default());
                if sub.state == STATE_ENABLED {
                    hub.start_worker(&mut state, &sub);
                }
                state.subscriptions.push(sub);
            }
            info!(
                filters = state.filters.len(),
                destinations = state.destinations.len(),
                subscriptions = state.subscriptions.len(),
                "indication subscriptions loaded"
            );
        }
        Ok(hub)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn settings(&self) -> &IndicationSettings {
        &self.settings
    }

    /// Whether any subscription is being delivered (raising anything is wasted work otherwise).
    pub fn is_watched(&self) -> bool {
        self.demand.borrow().active
    }

    /// Follows the demand; the caller (the guests' source) answers each epoch with [`Hub::source_ready`].
    pub fn attach_source(&self) -> watch::Receiver<Demand> {
        self.source_attached.store(true, Ordering::Release);
        self.demand.subscribe()
    }

    /// The source has read the guests for demand `epoch` and raises changes from there.
    pub fn source_ready(&self, epoch: u64) {
        self.source_ready.send_if_modified(|e| {
            let moved = *e < epoch;
            *e = (*e).max(epoch);
            moved
        });
    }

    /// Waits (briefly at most) until the source compares for the current demand, so a change made right after a
    /// subscription is answered raises its indication.
    pub async fn wait_for_source(&self) {
        if !self.source_attached.load(Ordering::Acquire) {
            return;
        }
        let wanted = *self.demand.borrow();
        if !wanted.active {
            return;
        }
        let mut ready = self.source_ready.subscribe();
        let _ = tokio::time::timeout(
            Duration::from_secs(30),
            ready.wait_for(|e| *e >= wanted.epoch),
        )
        .await;
    }

    /// Publishes whether subscriptions are delivered after a change of the delivery tasks.
    fn refresh_demand(&self, state: &State) {
        let active = !state.workers.is_empty();
        self.demand.send_if_modified(|d| {
            if d.active == active {
                return false;
            }
            d.active = active;
            if active {
                d.epoch += 1;
            }
            true
        });
    }

    /// Parses and checks a filter's query: a supported language, `SELECT ... FROM class [WHERE ...]`, and a
    /// class that exists in the filter's source namespaces and is an indication class.
    fn compile(&self, record: &FilterRecord) -> Result<Query, OpError> {
        if !language_supported(&record.query_language) {
            return Err(OpError::cim(
                CimStatus::QueryLanguageNotSupported,
                format!(
                    "query language {:?} is not supported (WQL and DMTF:CQL are)",
                    record.query_language
                ),
            ));
        }
        let query = query::parse(&record.query).map_err(|e| {
            OpError::cim(
                CimStatus::InvalidQuery,
                format!("Query {:?}: {}", record.query, e.0),
            )
        })?;
        let namespaces = self.source_namespaces(record);
        let mut found = false;
        for ns_name in &namespaces {
            let Ok(ns) = self.repo.namespace(ns_name) else {
                return Err(OpError::cim(
                    CimStatus::InvalidParameter,
                    format!("source namespace {ns_name} does not exist"),
                ));
            };
            if ns.class(&query.class_name).is_some() {
                found = true;
                if !ns.is_subclass_of(&query.class_name, "CIM_Indication") {
                    return Err(OpError::cim(
                        CimStatus::InvalidParameter,
                        format!(
                            "class {} is not an indication class: a filter selects indications \
                             (CIM_Indication and its subclasses)",
                            query.class_name
                        ),
                    ));
                }
            }
        }
        if !found {
            return Err(OpError::cim(
                CimStatus::InvalidParameter,
                format!(
                    "class {} does not exist in {}",
                    query.class_name,
                    namespaces.join(", ")
                ),
            ));
        }
        Ok(query)
    }

    /// The namespaces a filter watches: SourceNamespaces, else SourceNamespace, else every namespace served.
    fn source_namespaces(&self, record: &FilterRecord) -> Vec<String> {
        match (&record.source_namespaces, &record.source_namespace) {
            (Some(list), _) if !list.is_empty() => list.clone(),
            (_, Some(one)) if !one.is_empty() => vec![one.clone()],
            _ => self.repo.namespace_names().map(str::to_owned).collect(),
        }
    }

    fn persist(&self, state: &State) -> Result<(), OpError> {
        self.store.save(&state.saved()).map_err(|e| {
            failed(format!(
                "cannot save the indication subscriptions in {}: {e}",
                self.store
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ))
        })
    }

    // ---- filters ----

    pub fn filters(&self) -> Vec<FilterRecord> {
        self.lock()
            .filters
            .iter()
            .map(|f| f.record.clone())
            .collect()
    }

    pub fn create_filter(&self, record: FilterRecord) -> Result<(), OpError> {
        let query = self.compile(&record)?;
        let mut state = self.lock();
        if state.filters.iter().any(|f| f.record.keys == record.keys) {
            return Err(OpError::cim(
                CimStatus::AlreadyExists,
                format!("filter {:?} already exists", record.keys.name),
            ));
        }
        state.filters.push(Filter { record, query });
        if let Err(err) = self.persist(&state) {
            state.filters.pop();
            return Err(err);
        }
        Ok(())
    }

    pub fn delete_filter(&self, keys: &SystemKeys) -> Result<(), OpError> {
        let mut state = self.lock();
        let at = state
            .filters
            .iter()
            .position(|f| f.record.keys == *keys)
            .ok_or_else(|| {
                OpError::cim(CimStatus::NotFound, format!("no filter {:?}", keys.name))
            })?;
        if state.subscriptions.iter().any(|s| s.filter == *keys) {
            return Err(failed(format!(
                "filter {:?} is used by a subscription: delete the subscription first",
                keys.name
            )));
        }
        let removed = state.filters.remove(at);
        if let Err(err) = self.persist(&state) {
            state.filters.insert(at, removed);
            return Err(err);
        }
        Ok(())
    }

    // ---- destinations ----

    pub fn destinations(&self) -> Vec<DestinationRecord> {
        self.lock().destinations.clone()
    }

    pub fn create_destination(&self, record: DestinationRecord) -> Result<(), OpError> {
        ListenerUrl::parse(&record.destination)
            .map_err(|e| OpError::cim(CimStatus::InvalidParameter, format!("Destination: {e}")))?;
        let mut state = self.lock();
        if state.destinations.iter().any(|d| d.keys == record.keys) {
            return Err(OpError::cim(
                CimStatus::AlreadyExists,
                format!("listener destination {:?} already exists", record.keys.name),
            ));
        }
        state.destinations.push(record);
        if let Err(err) = self.persist(&state) {
            state.destinations.pop();
            return Err(err);
        }
        Ok(())
    }

    pub fn delete_destination(&self, keys: &SystemKeys) -> Result<(), OpError> {
        let mut state = self.lock();
        let at = state
            .destinations
            .iter()
            .position(|d| d.keys == *keys)
            .ok_or_else(|| {
                OpError::cim(
                    CimStatus::NotFound,
                    format!("no listener destination {:?}", keys.name),
                )
            })?;
        if state.subscriptions.iter().any(|s| s.handler == *keys) {
            return Err(failed(format!(
                "listener destination {:?} is used by a subscription: delete the subscription first",
                keys.name
            )));
        }
        let removed = state.destinations.remove(at);
        if let Err(err) = self.persist(&state) {
            state.destinations.insert(at, removed);
            return Err(err);
        }
        Ok(())
    }

    // ---- subscriptions ----

    /// Every subscription with its delivery counters.
    pub fn subscriptions(&self) -> Vec<(SubscriptionRecord, Arc<DeliveryStatus>)> {
        let state = self.lock();
        state
            .subscriptions
            .iter()
            .map(|s| {
                let status = state
                    .status
                    .get(&subscription_id(s))
                    .cloned()
                    .unwrap_or_default();
                (s.clone(), status)
            })
            .collect()
    }

    pub fn create_subscription(&self, record: SubscriptionRecord) -> Result<(), OpError> {
        let mut state = self.lock();
        if !state.filters.iter().any(|f| f.record.keys == record.filter) {
            return Err(OpError::cim(
                CimStatus::InvalidParameter,
                format!("Filter: no filter {:?}", record.filter.name),
            ));
        }
        if !state.destinations.iter().any(|d| {
            d.keys == record.handler && d.class_name.eq_ignore_ascii_case(&record.handler_class)
        }) {
            return Err(OpError::cim(
                CimStatus::InvalidParameter,
                format!("Handler: no listener destination {:?}", record.handler.name),
            ));
        }
        if state
            .subscriptions
            .iter()
            .any(|s| s.filter == record.filter && s.handler == record.handler)
        {
            return Err(OpError::cim(
                CimStatus::AlreadyExists,
                "a subscription of this filter to this destination already exists",
            ));
        }
        let id = subscription_id(&record);
        state.subscriptions.push(record.clone());
        if let Err(err) = self.persist(&state) {
            state.subscriptions.pop();
            return Err(err);
        }
        state.status.insert(id, Arc::default());
        if record.state == STATE_ENABLED {
            self.start_worker(&mut state, &record);
        }
        Ok(())
    }

    pub fn delete_subscription(&self, id: &str) -> Result<(), OpError> {
        let mut state = self.lock();
        let at = state
            .subscriptions
            .iter()
            .position(|s| subscription_id(s) == id)
            .ok_or_else(|| OpError::cim(CimStatus::NotFound, "no such subscription"))?;
        let removed = state.subscriptions.remove(at);
        if let Err(err) = self.persist(&state) {
            state.subscriptions.insert(at, removed);
            return Err(err);
        }
        if let Some(worker) = state.workers.remove(id) {
            worker.task.abort();
        }
        state.status.remove(id);
        self.refresh_demand(&state);
        Ok(())
    }

    /// Changes what a client may change of a subscription: SubscriptionState (2 enabled, 4 disabled) and
    /// SubscriptionInfo.
    pub fn modify_subscription(
        &self,
        id: &str,
        new_state: Option<u16>,
        info: Option<Option<String>>,
    ) -> Result<(), OpError> {
        if let Some(s) = new_state {
            if s != STATE_ENABLED && s != STATE_DISABLED {
                return Err(OpError::cim(
                    CimStatus::InvalidParameter,
                    format!("SubscriptionState {s}: only 2 (Enabled) and 4 (Disabled) can be set"),
                ));
            }
        }
        let mut state = self.lock();
        let at = state
            .subscriptions
            .iter()
            .position(|s| subscription_id(s) == id)
            .ok_or_else(|| OpError::cim(CimStatus::NotFound, "no such subscription"))?;
        let old = state.subscriptions[at].clone();
        let mut new = old.clone();
        if let Some(s) = new_state {
            if s != new.state {
                new.state = s;
                new.last_state_change = now_text();
            }
        }
        if let Some(info) = info {
            new.subscription_info = info;
        }
        state.subscriptions[at] = new.clone();
        if let Err(err) = self.persist(&state) {
            state.subscriptions[at] = old;
            return Err(err);
        }
        match (old.state == STATE_ENABLED, new.state == STATE_ENABLED) {
            (false, true) => {
                if let Some(status) = state.status.get(id) {
                    status.retrying.store(false, Ordering::Relaxed);
                }
                self.start_worker(&mut state, &new);
            }
            (true, false) => {
                if let Some(worker) = state.workers.remove(id) {
                    worker.task.abort();
                }
                self.refresh_demand(&state);
            }
            _ => {}
        }
        Ok(())
    }

    fn start_worker(&self, state: &mut State, sub: &SubscriptionRecord) {
        let id = subscription_id(sub);
        let Some(dest) = state
            .destinations
            .iter()
            .find(|d| d.keys == sub.handler)
            .cloned()
        else {
            return;
        };
        let url = match ListenerUrl::parse(&dest.destination) {
            Ok(url) => url,
            Err(err) => {
                warn!(subscription = %id, error = %err, "subscription not started");
                return;
            }
        };
        let status = Arc::clone(state.status.entry(id.clone()).or_default());
        let (tx, rx) = mpsc::channel(self.settings.queue_size.max(1));
        let credentials = dest.username.clone().zip(dest.password.clone());
        let client = ListenerClient::new(
            url,
            Some(Arc::clone(&self.tls)),
            credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        );
        let task = tokio::spawn(deliver(
            self.me.clone(),
            id.clone(),
            dest.destination.clone(),
            client,
            rx,
            Arc::clone(&status),
            self.settings.retry_attempts,
            self.settings.retry_interval,
        ));
        state.workers.insert(
            id,
            Worker {
                tx,
                status,
                context: format!("{}:{:08x}", self.run, rand::random::<u32>()),
                sequence: 0,
                task,
            },
        );
        self.refresh_demand(state);
    }

    /// Deliveries to a subscription failed for good: it is disabled (and saved so), what waits in its queue is
    /// counted as dropped, the failure is logged and an alert raised.
    fn delivery_failed(&self, id: &str, destination: &str, error: &str) {
        let alert = {
            let mut state = self.lock();
            let Some(at) = state
                .subscriptions
                .iter()
                .position(|s| subscription_id(s) == id)
            else {
                return;
            };
            state.subscriptions[at].state = STATE_DISABLED;
            state.subscriptions[at].last_state_change = now_text();
            if let Err(err) = self.persist(&state) {
                warn!(error = %err.to_string(), "cannot save the disabled subscription");
            }
            if let Some(worker) = state.workers.remove(id) {
                // The task is the caller: it returns by itself.
                drop(worker.tx);
            }
            self.refresh_demand(&state);
            let text = format!(
                "Indication delivery to {destination} failed {} times ({error}); the subscription {id} is disabled",
                u32::from(self.settings.retry_attempts) + 1
            );
            warn!(subscription = %id, destination, error, "indication delivery failed for good; subscription disabled");
            self.alert(&text, id)
        };
        if let Some(alert) = alert {
            self.raise(INTEROP, alert);
        }
    }

    fn alert(&self, text: &str, element: &str) -> Option<Instance> {
        let class = self
            .repo
            .namespace(INTEROP)
            .ok()?
            .class("CIM_AlertIndication")?;
        let mut alert = class.new_instance();
        let s = |v: &str| Value::String(v.to_owned());
        alert.set("IndicationIdentifier", s(&self.next_identifier()));
        alert.set("IndicationTime", now_datetime());
        alert.set("Description", s(text));
        alert.set("AlertingManagedElement", s(element));
        alert.set("AlertingElementFormat", Value::Uint16(2));
        // Communications Alert, Major, Communications Subsystem Failure.
        alert.set("AlertType", Value::Uint16(2));
        alert.set("PerceivedSeverity", Value::Uint16(5));
        alert.set("ProbableCause", Value::Uint16(7));
        alert.set("SystemCreationClassName", s("KVM_HostSystem"));
        alert.set("SystemName", s(&self.host));
        alert.set("ProviderName", s("virtcim"));
        alert.set("OwningEntity", s("virtcim"));
        alert.set("MessageID", s("VIRTCIM0001"));
        alert.set("Message", s(text));
        Some(alert)
    }

    /// A fresh IndicationIdentifier.
    pub fn next_identifier(&self) -> String {
        format!(
            "virtcim:{}:{}",
            self.run,
            self.next_identifier.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Queues `indication`, raised in `namespace`, for every enabled subscription whose filter selects it. A
    /// full queue drops the indication for that subscription and counts it.
    pub fn raise(&self, namespace: &str, indication: Instance) {
        let mut state = self.lock();
        if state.workers.is_empty() {
            return;
        }
        let State {
            filters,
            subscriptions,
            workers,
            ..
        } = &mut *state;
        for sub in subscriptions.iter().filter(|s| s.state == STATE_ENABLED) {
            let Some(filter) = filters.iter().find(|f| f.record.keys == sub.filter) else {
                continue;
            };
            if !self.selects(filter, namespace, &indication) {
                continue;
            }
            let id = subscription_id(sub);
            let Some(worker) = workers.get_mut(&id) else {
                continue;
            };
            let mut copy = indication.clone();
            if let Some(props) = &filter.query.properties {
                copy.filter_properties(props);
            }
            worker.sequence += 1;
            copy.set(
                "IndicationFilterName",
                Value::String(filter.record.keys.name.clone()),
            );
            copy.set("SequenceContext", Value::String(worker.context.clone()));
            copy.set("SequenceNumber", Value::Sint64(worker.sequence - 1));
            if worker.tx.try_send(copy).is_err() {
                let dropped = worker.status.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    warn!(subscription = %id, dropped, "indication queue full: indication dropped");
                }
            }
        }
    }

    fn selects(&self, filter: &Filter, namespace: &str, indication: &Instance) -> bool {
        let namespaces = self.source_namespaces(&filter.record);
        if !namespaces
            .iter()
            .any(|n| crate::cim::namespace_eq(n, namespace))
        {
            return false;
        }
        let Ok(ns) = self.repo.namespace(namespace) else {
            return false;
        };
        ns.is_subclass_of(&indication.class_name, &filter.query.class_name)
            && filter
                .query
                .matches_with(indication, &|sub, sup| ns.is_subclass_of(sub, sup))
    }
}

/// One subscription's deliveries, in order: each indication is posted until the listener acknowledges it or
/// the retries run out.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    hub: Weak<Hub>,
    id: String,
    destination: String,
    mut client: ListenerClient,
    mut rx: mpsc::Receiver<Instance>,
    status: Arc<DeliveryStatus>,
    retry_attempts: u16,
    retry_interval: Duration,
) {
    // A listener that accepts but never answers costs one deadline per attempt.
    let deadline = retry_interval.clamp(Duration::from_secs(2), Duration::from_secs(30));
    let mut message_id: u64 = 1000;
    while let Some(indication) = rx.recv().await {
        message_id += 1;
        let body = export_request(message_id, &indication);
        let mut failures: u32 = 0;
        loop {
            match client.post(body.clone(), deadline).await {
                Ok(()) => {
                    status.delivered.fetch_add(1, Ordering::Relaxed);
                    status.retrying.store(false, Ordering::Relaxed);
                    if let Ok(mut last) = status.last_identifier.lock() {
                        *last = indication
                            .get_str("IndicationIdentifier")
                            .map(str::to_owned);
                    }
                    break;
                }
                Err(err) => {
                    failures += 1;
                    if let Ok(mut last) = status.last_error.lock() {
                        *last = Some(err.clone());
                    }
                    if failures > u32::from(retry_attempts) {
                        // This indication and whatever waits behind it are lost.
                        status.dropped.fetch_add(1, Ordering::Relaxed);
                        rx.close();
                        while rx.try_recv().is_ok() {
                            status.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        status.retrying.store(false, Ordering::Relaxed);
                        if let Some(hub) = hub.upgrade() {
                            hub.delivery_failed(&id, &destination, &err);
                        }
                        return;
                    }
                    status.retrying.store(true, Ordering::Relaxed);
                    warn!(subscription = %id, destination = %destination, attempt = failures, error = %err, "indication delivery failed; retrying");
                    tokio::time::sleep(retry_interval).await;
                }
            }
        }
    }
}
