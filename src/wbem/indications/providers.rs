//! The subscription classes of root/interop (DSP1054) as providers over the [`Hub`]: `CIM_IndicationFilter`,
//! `CIM_ListenerDestinationCIMXML` (and the older `CIM_IndicationHandlerCIMXML`), `CIM_IndicationSubscription`
//! (CreateInstance, DeleteInstance, EnumerateInstances, GetInstance; ModifyInstance of a subscription's state),
//! and the one `CIM_IndicationService` describing delivery.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;

use super::hub::{subscription_id, Hub, STATE_DEGRADED, STATE_DISABLED, STATE_ENABLED};
use super::store::{
    destination_path, filter_path, keys_of, subscription_path, DestinationRecord, FilterRecord,
    SubscriptionRecord, SystemKeys, DESTINATION_CLASS, FILTER_CLASS, HANDLER_CLASS, INTEROP,
    SUBSCRIPTION_CLASS,
};
use crate::cim::{CimStatus, CimType, Instance, ObjectPath, Value};
use crate::wbem::error::OpError;
use crate::wbem::providers::{get_from_enumeration, not_found, put, Provider, ProviderCtx};

pub const SERVICE_CLASS: &str = "CIM_IndicationService";
/// The hosting system of the object manager and everything it hosts in root/interop.
const SYSTEM_CLASS: &str = "KVM_HostSystem";
const SERVICE_NAME: &str = "virtcim:IndicationService";

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn invalid(msg: impl Into<String>) -> OpError {
    OpError::cim(CimStatus::InvalidParameter, msg)
}

fn text(inst: &Instance, name: &str) -> Option<String> {
    match inst.get(name)? {
        Value::Null => None,
        v => v.to_text(),
    }
}

fn strings(inst: &Instance, name: &str) -> Option<Vec<String>> {
    match inst.get(name)? {
        Value::Array(_, items) => Some(items.iter().filter_map(Value::to_text).collect()),
        Value::Null => None,
        v => v.to_text().map(|t| vec![t]),
    }
}

fn uint16(inst: &Instance, name: &str) -> Result<Option<u16>, OpError> {
    match inst.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i128()
            .or_else(|| v.to_text().and_then(|t| t.trim().parse().ok()))
            .and_then(|n| u16::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid(format!("{name} must be a uint16"))),
    }
}

/// The hosting system's keys from a new instance: CreationClassName must be the class created (or absent),
/// the system defaults to this host, a missing Name is made up.
fn new_keys(hub: &Hub, inst: &Instance, class: &str, what: &str) -> Result<SystemKeys, OpError> {
    if let Some(ccn) = text(inst, "CreationClassName") {
        if !ccn.eq_ignore_ascii_case(class) {
            return Err(invalid(format!(
                "CreationClassName {ccn:?} is not the class created ({class})"
            )));
        }
    }
    let name = text(inst, "Name")
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("virtcim:{what}:{}", uuid::Uuid::new_v4()));
    Ok(SystemKeys {
        system_creation_class_name: text(inst, "SystemCreationClassName")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| SYSTEM_CLASS.to_owned()),
        system_name: text(inst, "SystemName")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| hub.host().to_owned()),
        name,
    })
}

fn put_keys(ctx: &ProviderCtx<'_>, inst: &mut Instance, class: &str, keys: &SystemKeys) {
    put(inst, ctx.class, "CreationClassName", s(class));
    put(
        inst,
        ctx.class,
        "SystemCreationClassName",
        s(&keys.system_creation_class_name),
    );
    put(inst, ctx.class, "SystemName", s(&keys.system_name));
    put(inst, ctx.class, "Name", s(&keys.name));
}

fn strings_value(items: &[String]) -> Value {
    Value::Array(CimType::String, items.iter().map(|i| s(i)).collect())
}

/// `CIM_IndicationFilter`.
pub struct FilterProvider(pub Arc<Hub>);

impl FilterProvider {
    fn instance(ctx: &ProviderCtx<'_>, f: &FilterRecord) -> Instance {
        let mut inst = ctx.new_instance();
        put_keys(ctx, &mut inst, FILTER_CLASS, &f.keys);
        put(&mut inst, ctx.class, "Query", s(&f.query));
        put(&mut inst, ctx.class, "QueryLanguage", s(&f.query_language));
        if let Some(list) = &f.source_namespaces {
            put(
                &mut inst,
                ctx.class,
                "SourceNamespaces",
                strings_value(list),
            );
        }
        if let Some(ns) = &f.source_namespace {
            put(&mut inst, ctx.class, "SourceNamespace", s(ns));
        }
        if let Some(name) = &f.element_name {
            put(&mut inst, ctx.class, "ElementName", s(name));
        }
        put(
            &mut inst,
            ctx.class,
            "IndividualSubscriptionSupported",
            Value::Boolean(true),
        );
        inst.path = Some(filter_path(&f.keys));
        inst
    }
}

#[async_trait]
impl Provider for FilterProvider {
    fn class_name(&self) -> &'static str {
        FILTER_CLASS
    }

    fn namespace(&self) -> &'static str {
        INTEROP
    }

    fn answers_are_reusable(&self) -> bool {
        false
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(crate::wbem::providers::paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        Ok(self
            .0
            .filters()
            .iter()
            .map(|f| Self::instance(ctx, f))
            .collect())
    }

    async fn create(&self, _ctx: &ProviderCtx<'_>, inst: Instance) -> Result<ObjectPath, OpError> {
        let keys = new_keys(&self.0, &inst, FILTER_CLASS, "filter")?;
        let query = text(&inst, "Query")
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| invalid("Query is required"))?;
        let query_language = text(&inst, "QueryLanguage")
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| invalid("QueryLanguage is required"))?;
        let record = FilterRecord {
            keys,
            query,
            query_language,
            source_namespaces: strings(&inst, "SourceNamespaces"),
            source_namespace: text(&inst, "SourceNamespace"),
            element_name: text(&inst, "ElementName"),
        };
        let path = filter_path(&record.keys);
        self.0.create_filter(record)?;
        Ok(path)
    }

    async fn delete(&self, _ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<(), OpError> {
        let keys = keys_of(path).ok_or_else(|| not_found(path))?;
        self.0.delete_filter(&keys)
    }
}

/// `CIM_ListenerDestinationCIMXML` or `CIM_IndicationHandlerCIMXML`.
pub struct DestinationProvider {
    pub hub: Arc<Hub>,
    pub class: &'static str,
}

impl DestinationProvider {
    pub fn both(hub: &Arc<Hub>) -> [DestinationProvider; 2] {
        [DESTINATION_CLASS, HANDLER_CLASS].map(|class| DestinationProvider {
            hub: Arc::clone(hub),
            class,
        })
    }

    fn instance(ctx: &ProviderCtx<'_>, d: &DestinationRecord) -> Instance {
        let mut inst = ctx.new_instance();
        put_keys(ctx, &mut inst, &d.class_name, &d.keys);
        put(&mut inst, ctx.class, "Destination", s(&d.destination));
        put(
            &mut inst,
            ctx.class,
            "PersistenceType",
            Value::Uint16(d.persistence_type.unwrap_or(2)),
        );
        put(&mut inst, ctx.class, "Protocol", Value::Uint16(2));
        if let Some(user) = &d.username {
            put(&mut inst, ctx.class, "username", s(user));
        }
        if let Some(name) = &d.element_name {
            put(&mut inst, ctx.class, "ElementName", s(name));
        }
        // The password is never read back (Read(false)).
        inst.retain_properties(|p| !p.name.eq_ignore_ascii_case("password"));
        inst.path = Some(destination_path(&d.class_name, &d.keys));
        inst
    }
}

#[async_trait]
impl Provider for DestinationProvider {
    fn class_name(&self) -> &'static str {
        self.class
    }

    fn namespace(&self) -> &'static str {
        INTEROP
    }

    fn answers_are_reusable(&self) -> bool {
        false
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(crate::wbem::providers::paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        Ok(self
            .hub
            .destinations()
            .iter()
            .filter(|d| d.class_name.eq_ignore_ascii_case(self.class))
            .map(|d| Self::instance(ctx, d))
            .collect())
    }

    async fn create(&self, _ctx: &ProviderCtx<'_>, inst: Instance) -> Result<ObjectPath, OpError> {
        let keys = new_keys(&self.hub, &inst, self.class, "destination")?;
        let destination = text(&inst, "Destination")
            .filter(|d| !d.trim().is_empty())
            .ok_or_else(|| invalid("Destination is required"))?;
        if let Some(protocol) = uint16(&inst, "Protocol")? {
            if protocol != 2 {
                return Err(OpError::cim(
                    CimStatus::NotSupported,
                    format!("Protocol {protocol}: only CIM-XML (2) is supported"),
                ));
            }
        }
        let persistence_type = uint16(&inst, "PersistenceType")?;
        if let Some(p) = persistence_type {
            if !(1..=3).contains(&p) {
                return Err(invalid(format!("PersistenceType {p} is not 1, 2 or 3")));
            }
        }
        let record = DestinationRecord {
            class_name: self.class.to_owned(),
            keys,
            destination: destination.trim().to_owned(),
            persistence_type,
            username: text(&inst, "username"),
            password: text(&inst, "password"),
            element_name: text(&inst, "ElementName"),
        };
        let path = destination_path(self.class, &record.keys);
        self.hub.create_destination(record)?;
        Ok(path)
    }

    async fn delete(&self, _ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<(), OpError> {
        let keys = keys_of(path).ok_or_else(|| not_found(path))?;
        self.hub.delete_destination(&keys)
    }
}

/// `CIM_IndicationSubscription`.
pub struct SubscriptionProvider(pub Arc<Hub>);

fn reference(inst: &Instance, name: &str) -> Option<ObjectPath> {
    match inst.get(name)? {
        Value::Reference(p) => Some((**p).clone()),
        Value::String(t) => ObjectPath::parse(t).ok(),
        _ => None,
    }
}

impl SubscriptionProvider {
    fn instance(
        &self,
        ctx: &ProviderCtx<'_>,
        sub: &SubscriptionRecord,
        status: &super::hub::DeliveryStatus,
    ) -> Instance {
        let mut inst = ctx.new_instance();
        let path = subscription_path(sub);
        for key in ["Filter", "Handler"] {
            if let Some(v) = path.key(key) {
                put(&mut inst, ctx.class, key, v.clone());
            }
        }
        let state = if sub.state == STATE_ENABLED && status.retrying.load(Ordering::Relaxed) {
            STATE_DEGRADED
        } else {
            sub.state
        };
        put(
            &mut inst,
            ctx.class,
            "SubscriptionState",
            Value::Uint16(state),
        );
        let dropped = status.dropped.load(Ordering::Relaxed);
        let last_error = status.last_error.lock().ok().and_then(|e| e.clone());
        let mut notes = Vec::new();
        if dropped > 0 {
            notes.push(format!("{dropped} indications dropped"));
        }
        if let (Some(err), true) = (last_error, state != STATE_ENABLED) {
            notes.push(format!("last delivery error: {err}"));
        }
        if !notes.is_empty() {
            put(
                &mut inst,
                ctx.class,
                "OtherSubscriptionState",
                s(&notes.join("; ")),
            );
        }
        put(
            &mut inst,
            ctx.class,
            "OnFatalErrorPolicy",
            Value::Uint16(sub.on_fatal_error_policy.unwrap_or(3)),
        );
        let settings = self.0.settings();
        put(
            &mut inst,
            ctx.class,
            "FailureTriggerTimeInterval",
            Value::Uint64(u64::from(settings.retry_attempts) * settings.retry_interval.as_secs()),
        );
        put(
            &mut inst,
            ctx.class,
            "RepeatNotificationPolicy",
            Value::Uint16(2),
        );
        for (name, value) in [
            ("SubscriptionStartTime", &sub.start_time),
            ("TimeOfLastStateChange", &sub.last_state_change),
        ] {
            if let Ok(dt) = crate::cim::types::DateTime::parse(value) {
                put(&mut inst, ctx.class, name, Value::DateTime(dt));
            }
        }
        if let Some(info) = &sub.subscription_info {
            put(&mut inst, ctx.class, "SubscriptionInfo", s(info));
        }
        if let Some(last) = status.last_identifier.lock().ok().and_then(|l| l.clone()) {
            put(&mut inst, ctx.class, "LastIndicationIdentifier", s(&last));
        }
        inst.path = Some(path);
        inst
    }

    fn id_of(path: &ObjectPath) -> Result<String, OpError> {
        let filter = match path.key("Filter") {
            Some(Value::Reference(p)) => keys_of(p),
            _ => None,
        };
        let handler = match path.key("Handler") {
            Some(Value::Reference(p)) => keys_of(p).map(|k| (p.class_name.to_string(), k)),
            _ => None,
        };
        match (filter, handler) {
            (Some(filter), Some((handler_class, handler))) => {
                Ok(subscription_id(&SubscriptionRecord {
                    filter,
                    handler_class,
                    handler,
                    state: 0,
                    start_time: String::new(),
                    last_state_change: String::new(),
                    on_fatal_error_policy: None,
                    subscription_info: None,
                }))
            }
            _ => Err(not_found(path)),
        }
    }

    /// The id of the stored subscription a client's path names (its class names may be spelled differently).
    fn find(&self, path: &ObjectPath) -> Result<String, OpError> {
        let wanted = Self::id_of(path)?;
        self.0
            .subscriptions()
            .iter()
            .map(|(s, _)| subscription_id(s))
            .find(|id| id.eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| not_found(path))
    }
}

#[async_trait]
impl Provider for SubscriptionProvider {
    fn class_name(&self) -> &'static str {
        SUBSCRIPTION_CLASS
    }

    fn namespace(&self) -> &'static str {
        INTEROP
    }

    fn answers_are_reusable(&self) -> bool {
        false
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(crate::wbem::providers::paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let id = self.find(path)?;
        self.0
            .subscriptions()
            .iter()
            .find(|(s, _)| subscription_id(s) == id)
            .map(|(s, status)| self.instance(ctx, s, status))
            .ok_or_else(|| not_found(path))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        Ok(self
            .0
            .subscriptions()
            .iter()
            .map(|(s, status)| self.instance(ctx, s, status))
            .collect())
    }

    async fn create(&self, _ctx: &ProviderCtx<'_>, inst: Instance) -> Result<ObjectPath, OpError> {
        let filter = reference(&inst, "Filter").ok_or_else(|| invalid("Filter is required"))?;
        let handler = reference(&inst, "Handler").ok_or_else(|| invalid("Handler is required"))?;
        if !filter.class_name.eq_ignore_ascii_case(FILTER_CLASS) {
            return Err(invalid(format!(
                "Filter names a {}, not a {FILTER_CLASS}",
                filter.class_name
            )));
        }
        let handler_class = [DESTINATION_CLASS, HANDLER_CLASS]
            .into_iter()
            .find(|c| c.eq_ignore_ascii_case(&handler.class_name))
            .ok_or_else(|| {
                invalid(format!(
                    "Handler names a {}: only {DESTINATION_CLASS} (CIM-XML) destinations are supported",
                    handler.class_name
                ))
            })?;
        let filter_keys = keys_of(&filter).ok_or_else(|| invalid("Filter lacks keys"))?;
        let handler_keys = keys_of(&handler).ok_or_else(|| invalid("Handler lacks keys"))?;
        let state = uint16(&inst, "SubscriptionState")?.unwrap_or(STATE_ENABLED);
        if state != STATE_ENABLED && state != STATE_DISABLED {
            return Err(invalid(format!(
                "SubscriptionState {state}: a subscription is created enabled (2) or disabled (4)"
            )));
        }
        match inst.get("SubscriptionDuration") {
            None | Some(Value::Null) => {}
            Some(_) => {
                return Err(OpError::cim(
                    CimStatus::NotSupported,
                    "SubscriptionDuration is not supported: subscriptions last until deleted",
                ))
            }
        }
        if let Some(policy) = uint16(&inst, "RepeatNotificationPolicy")? {
            if policy != 2 {
                return Err(OpError::cim(
                    CimStatus::NotSupported,
                    format!("RepeatNotificationPolicy {policy}: only None (2) is supported"),
                ));
            }
        }
        let policy = uint16(&inst, "OnFatalErrorPolicy")?;
        if let Some(p) = policy {
            if p != 3 {
                return Err(OpError::cim(
                    CimStatus::NotSupported,
                    format!("OnFatalErrorPolicy {p}: only Disable (3) is supported"),
                ));
            }
        }
        let now = match super::hub::now_datetime() {
            Value::DateTime(d) => d.as_str().to_owned(),
            _ => String::new(),
        };
        let record = SubscriptionRecord {
            filter: filter_keys,
            handler_class: handler_class.to_owned(),
            handler: handler_keys,
            state,
            start_time: now.clone(),
            last_state_change: now,
            on_fatal_error_policy: policy,
            subscription_info: text(&inst, "SubscriptionInfo"),
        };
        let path = subscription_path(&record);
        self.0.create_subscription(record)?;
        // What happens after this answer must raise indications: the source has compared from now on.
        self.0.wait_for_source().await;
        Ok(path)
    }

    async fn modify(
        &self,
        _ctx: &ProviderCtx<'_>,
        inst: Instance,
        property_list: Option<Vec<String>>,
    ) -> Result<(), OpError> {
        let path = inst
            .path
            .clone()
            .ok_or_else(|| invalid("no instance path"))?;
        let id = self.find(&path)?;
        let wanted = |name: &str| {
            property_list
                .as_ref()
                .is_none_or(|l| l.iter().any(|n| n.eq_ignore_ascii_case(name)))
                && inst.property(name).is_some()
        };
        let state = if wanted("SubscriptionState") {
            uint16(&inst, "SubscriptionState")?
        } else {
            None
        };
        let info = wanted("SubscriptionInfo").then(|| text(&inst, "SubscriptionInfo"));
        self.0.modify_subscription(&id, state, info)?;
        self.0.wait_for_source().await;
        Ok(())
    }

    async fn delete(&self, _ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<(), OpError> {
        let id = self.find(path)?;
        self.0.delete_subscription(&id)
    }
}

/// `CIM_IndicationService`: the one indication service and its delivery settings.
pub struct ServiceProvider(pub Arc<Hub>);

#[async_trait]
impl Provider for ServiceProvider {
    fn class_name(&self) -> &'static str {
        SERVICE_CLASS
    }

    fn namespace(&self) -> &'static str {
        INTEROP
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(crate::wbem::providers::paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let settings = self.0.settings();
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        put(&mut inst, class, "SystemCreationClassName", s(SYSTEM_CLASS));
        put(&mut inst, class, "SystemName", s(self.0.host()));
        put(&mut inst, class, "CreationClassName", s(SERVICE_CLASS));
        put(&mut inst, class, "Name", s(SERVICE_NAME));
        put(
            &mut inst,
            class,
            "ElementName",
            s("virtcim indication service"),
        );
        put(
            &mut inst,
            class,
            "FilterCreationEnabled",
            Value::Boolean(true),
        );
        put(
            &mut inst,
            class,
            "DeliveryRetryAttempts",
            Value::Uint16(settings.retry_attempts),
        );
        put(
            &mut inst,
            class,
            "DeliveryRetryInterval",
            Value::Uint32(u32::try_from(settings.retry_interval.as_secs()).unwrap_or(u32::MAX)),
        );
        // Disable (3), once the retries are spent.
        put(
            &mut inst,
            class,
            "SubscriptionRemovalAction",
            Value::Uint16(3),
        );
        put(
            &mut inst,
            class,
            "SubscriptionRemovalTimeInterval",
            Value::Uint32(
                u32::try_from(
                    u64::from(settings.retry_attempts) * settings.retry_interval.as_secs(),
                )
                .unwrap_or(u32::MAX),
            ),
        );
        put(&mut inst, class, "Started", Value::Boolean(true));
        put(&mut inst, class, "EnabledState", Value::Uint16(2));
        Ok(vec![ctx.with_path(inst)])
    }
}
