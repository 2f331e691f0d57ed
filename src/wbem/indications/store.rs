//! The subscriptions' durable state: every filter, listener destination and subscription clients created, kept in
//! one JSON file under the state dir (`indications/subscriptions.json`), replaced atomically on each change, so
//! that they outlive a daemon restart as DSP1054 asks of permanent ones.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cim::{ObjectPath, Value};

pub const INTEROP: &str = "root/interop";
pub const FILTER_CLASS: &str = "CIM_IndicationFilter";
pub const DESTINATION_CLASS: &str = "CIM_ListenerDestinationCIMXML";
/// The older class of a CIM-XML destination (libvirt-CIM's test suite subscribes with it).
pub const HANDLER_CLASS: &str = "CIM_IndicationHandlerCIMXML";
pub const SUBSCRIPTION_CLASS: &str = "CIM_IndicationSubscription";

const FILE: &str = "subscriptions.json";

/// The keys every filter and destination has besides its class: the hosting system and the name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SystemKeys {
    pub system_creation_class_name: String,
    pub system_name: String,
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct FilterRecord {
    pub keys: SystemKeys,
    pub query: String,
    pub query_language: String,
    pub source_namespaces: Option<Vec<String>>,
    pub source_namespace: Option<String>,
    pub element_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct DestinationRecord {
    /// `CIM_ListenerDestinationCIMXML` or `CIM_IndicationHandlerCIMXML`.
    pub class_name: String,
    pub keys: SystemKeys,
    pub destination: String,
    pub persistence_type: Option<u16>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub element_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SubscriptionRecord {
    pub filter: SystemKeys,
    pub handler_class: String,
    pub handler: SystemKeys,
    /// `SubscriptionState`: 2 enabled, 4 disabled (by a client, or after deliveries failed for good).
    pub state: u16,
    /// CIM datetimes.
    pub start_time: String,
    pub last_state_change: String,
    pub on_fatal_error_policy: Option<u16>,
    pub subscription_info: Option<String>,
}

/// Everything the file holds.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Saved {
    pub filters: Vec<FilterRecord>,
    pub destinations: Vec<DestinationRecord>,
    pub subscriptions: Vec<SubscriptionRecord>,
}

/// Where the file lives; `None` keeps everything in memory (a server without a state dir, and unit tests).
#[derive(Clone, Debug)]
pub struct StoreDir(pub Option<PathBuf>);

impl StoreDir {
    /// Reads the saved state; a missing file is an empty state, a corrupt one is set aside (renamed with a
    /// `.corrupt` suffix) and logged, so that the daemon starts.
    pub fn load(&self) -> Saved {
        let Some(dir) = &self.0 else {
            return Saved::default();
        };
        let _ = crate::persist::remove_temp_files(dir);
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Saved::default(),
            Err(err) => {
                tracing::error!(path = %path.display(), error = %err, "cannot read the indication subscriptions");
                return Saved::default();
            }
        };
        match serde_json::from_str(&text) {
            Ok(saved) => saved,
            Err(err) => {
                let aside = dir.join(format!("{FILE}.corrupt"));
                let _ = std::fs::rename(&path, &aside);
                tracing::error!(path = %path.display(), error = %err, "indication subscriptions unreadable; set aside");
                Saved::default()
            }
        }
    }

    /// Replaces the file with `saved` (atomically and durably).
    pub fn save(&self, saved: &Saved) -> std::io::Result<()> {
        let Some(dir) = &self.0 else {
            return Ok(());
        };
        crate::persist::create_private_dir(dir)?;
        let text = serde_json::to_vec_pretty(saved).map_err(std::io::Error::other)?;
        crate::persist::write_atomic(dir, FILE, &text)
    }

    pub fn path(&self) -> Option<&Path> {
        self.0.as_deref()
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// The path of a filter (in root/interop, without host, as clients send it back in subscriptions).
pub fn filter_path(keys: &SystemKeys) -> ObjectPath {
    ObjectPath::instance(Some(INTEROP), FILTER_CLASS, &[])
        .with_key("CreationClassName", s(FILTER_CLASS))
        .with_key("Name", s(&keys.name))
        .with_key(
            "SystemCreationClassName",
            s(&keys.system_creation_class_name),
        )
        .with_key("SystemName", s(&keys.system_name))
}

pub fn destination_path(class_name: &str, keys: &SystemKeys) -> ObjectPath {
    ObjectPath::instance_named(Some(INTEROP), class_name, &[])
        .with_key("CreationClassName", s(class_name))
        .with_key("Name", s(&keys.name))
        .with_key(
            "SystemCreationClassName",
            s(&keys.system_creation_class_name),
        )
        .with_key("SystemName", s(&keys.system_name))
}

pub fn subscription_path(sub: &SubscriptionRecord) -> ObjectPath {
    ObjectPath::instance(Some(INTEROP), SUBSCRIPTION_CLASS, &[])
        .with_key(
            "Filter",
            Value::Reference(Arc::new(filter_path(&sub.filter))),
        )
        .with_key(
            "Handler",
            Value::Reference(Arc::new(destination_path(&sub.handler_class, &sub.handler))),
        )
}

/// The system keys and class a filter or destination path names, if it carries them all.
pub fn keys_of(path: &ObjectPath) -> Option<SystemKeys> {
    Some(SystemKeys {
        system_creation_class_name: path.key_str("SystemCreationClassName")?.to_owned(),
        system_name: path.key_str("SystemName")?.to_owned(),
        name: path.key_str("Name")?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_state_survives_a_round_trip_and_a_corrupt_file_is_set_aside() {
        let dir = tempfile::tempdir().expect("dir");
        let store = StoreDir(Some(dir.path().join("indications")));
        assert!(store.load().filters.is_empty());
        let keys = SystemKeys {
            system_creation_class_name: "CIM_ComputerSystem".into(),
            system_name: "h".into(),
            name: "f1".into(),
        };
        let saved = Saved {
            filters: vec![FilterRecord {
                keys: keys.clone(),
                query: "SELECT * FROM CIM_InstCreation".into(),
                query_language: "WQL".into(),
                source_namespaces: Some(vec!["root/virt".into()]),
                source_namespace: None,
                element_name: None,
            }],
            ..Saved::default()
        };
        store.save(&saved).expect("save");
        let back = store.load();
        assert_eq!(back.filters[0].keys, keys);
        std::fs::write(dir.path().join("indications").join(FILE), "{ not json").expect("write");
        assert!(store.load().filters.is_empty());
        assert!(dir
            .path()
            .join("indications")
            .join("subscriptions.json.corrupt")
            .exists());
    }

    #[test]
    fn subscription_paths_reference_filter_and_handler_in_interop() {
        let keys = SystemKeys {
            system_creation_class_name: "CIM_ComputerSystem".into(),
            system_name: "h".into(),
            name: "n".into(),
        };
        let sub = SubscriptionRecord {
            filter: keys.clone(),
            handler_class: DESTINATION_CLASS.into(),
            handler: keys,
            state: 2,
            start_time: String::new(),
            last_state_change: String::new(),
            on_fatal_error_policy: None,
            subscription_info: None,
        };
        let path = subscription_path(&sub);
        let Some(Value::Reference(filter)) = path.key("Filter") else {
            panic!("no Filter key");
        };
        assert_eq!(filter.namespace.as_deref(), Some(INTEROP));
        assert!(filter.host.is_none());
        assert_eq!(filter.key_str("Name"), Some("n"));
    }
}
