//! The WBEM server describing itself in root/interop: `CIM_ObjectManager` (the server, ElementName "virtcim"),
//! one `CIM_Namespace` per namespace the repository serves, and `CIM_NamespaceInManager` between them. pywbem's
//! `WBEMServer` (and so `pywbemcli server ...`) finds the interop namespace, the namespace list and the brand and
//! version from these.

use async_trait::async_trait;

use super::paths_of;
use super::pools::{host_name, HOST_CLASS};
use super::profiles::INTEROP_NAMESPACE;
use super::{assoc_instance, get_from_enumeration, put, Provider, ProviderCtx};
use crate::cim::builtin::NAMESPACES;
use crate::cim::{CimStatus, CimType, Instance, ObjectPath, Value};
use crate::wbem::error::OpError;

pub const OBJECT_MANAGER_CLASS: &str = "CIM_ObjectManager";
pub const NAMESPACE_CLASS: &str = "CIM_Namespace";
pub const NAMESPACE_IN_MANAGER_CLASS: &str = "CIM_NamespaceInManager";

/// The object manager's Name and ElementName; pywbem reports ElementName as the server's brand.
pub const SERVER_NAME: &str = "virtcim";

/// The object manager's Description. pywbem takes the word after "version" as the server's version.
pub fn server_description() -> String {
    format!(
        "{SERVER_NAME} CIM server version {}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The DMTF schema version our classes follow.
const SCHEMA_VERSION: &str = "2.49.0";

/// The path of the one object manager, scoped by the host system.
pub fn object_manager_path(host: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(INTEROP_NAMESPACE),
        OBJECT_MANAGER_CLASS,
        &[
            ("SystemCreationClassName", HOST_CLASS),
            ("SystemName", host),
            ("CreationClassName", OBJECT_MANAGER_CLASS),
            ("Name", SERVER_NAME),
        ],
    )
}

/// The path of the `CIM_Namespace` standing for `namespace`.
pub fn namespace_path(host: &str, namespace: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(INTEROP_NAMESPACE),
        NAMESPACE_CLASS,
        &[
            ("SystemCreationClassName", HOST_CLASS),
            ("SystemName", host),
            ("ObjectManagerCreationClassName", OBJECT_MANAGER_CLASS),
            ("ObjectManagerName", SERVER_NAME),
            ("CreationClassName", NAMESPACE_CLASS),
            ("Name", namespace),
        ],
    )
}

/// The namespaces the repository serves, in the order they are compiled.
fn served_namespaces() -> impl Iterator<Item = &'static str> {
    NAMESPACES.iter().map(|(name, _)| *name)
}

fn string(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// `CIM_ObjectManager`: exactly one instance, the running server.
pub struct ObjectManagerProvider;

impl ObjectManagerProvider {
    fn instance(ctx: &ProviderCtx<'_>, host: &str) -> Instance {
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        put(
            &mut inst,
            class,
            "SystemCreationClassName",
            string(HOST_CLASS),
        );
        put(&mut inst, class, "SystemName", string(host));
        put(
            &mut inst,
            class,
            "CreationClassName",
            string(OBJECT_MANAGER_CLASS),
        );
        put(&mut inst, class, "Name", string(SERVER_NAME));
        put(&mut inst, class, "ElementName", string(SERVER_NAME));
        put(
            &mut inst,
            class,
            "Description",
            string(&server_description()),
        );
        put(&mut inst, class, "Caption", string("virtcim WBEM server"));
        // The server answers this very request: it is running, enabled (2) and OK (2).
        put(&mut inst, class, "Started", Value::Boolean(true));
        put(&mut inst, class, "EnabledState", Value::Uint16(2));
        put(
            &mut inst,
            class,
            "OperationalStatus",
            Value::Array(CimType::Uint16, vec![Value::Uint16(2)]),
        );
        // We keep no operation statistics.
        put(
            &mut inst,
            class,
            "GatherStatisticalData",
            Value::Boolean(false),
        );
        ctx.with_path(inst)
    }
}

#[async_trait]
impl Provider for ObjectManagerProvider {
    fn class_name(&self) -> &'static str {
        OBJECT_MANAGER_CLASS
    }

    fn namespace(&self) -> &'static str {
        INTEROP_NAMESPACE
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        let host = host_name(ctx.driver).await;
        Ok(vec![object_manager_path(&host)])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let host = host_name(ctx.driver).await;
        Ok(vec![Self::instance(ctx, &host)])
    }
}

/// `CIM_Namespace`: one instance per namespace the repository serves.
pub struct NamespaceProvider;

impl NamespaceProvider {
    fn instance(ctx: &ProviderCtx<'_>, host: &str, namespace: &str) -> Instance {
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        put(
            &mut inst,
            class,
            "SystemCreationClassName",
            string(HOST_CLASS),
        );
        put(&mut inst, class, "SystemName", string(host));
        put(
            &mut inst,
            class,
            "ObjectManagerCreationClassName",
            string(OBJECT_MANAGER_CLASS),
        );
        put(&mut inst, class, "ObjectManagerName", string(SERVER_NAME));
        put(
            &mut inst,
            class,
            "CreationClassName",
            string(NAMESPACE_CLASS),
        );
        put(&mut inst, class, "Name", string(namespace));
        put(&mut inst, class, "ElementName", string(namespace));
        // ClassInfo lists CIM versions only up to 2.8, so 2.49 is "Other" (1) with the version spelled out;
        // ClassType 2 is "CIM".
        put(&mut inst, class, "ClassInfo", Value::Uint16(1));
        put(
            &mut inst,
            class,
            "DescriptionOfClassInfo",
            string(&format!("CIM {SCHEMA_VERSION}")),
        );
        put(&mut inst, class, "ClassType", Value::Uint16(2));
        put(&mut inst, class, "ClassTypeVersion", string(SCHEMA_VERSION));
        ctx.with_path(inst)
    }
}

#[async_trait]
impl Provider for NamespaceProvider {
    fn class_name(&self) -> &'static str {
        NAMESPACE_CLASS
    }

    fn namespace(&self) -> &'static str {
        INTEROP_NAMESPACE
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        let host = host_name(ctx.driver).await;
        Ok(served_namespaces()
            .map(|ns| namespace_path(&host, ns))
            .collect())
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let host = host_name(ctx.driver).await;
        served_namespaces()
            .find(|ns| namespace_path(&host, ns).same_object(path))
            .map(|ns| Self::instance(ctx, &host, ns))
            .ok_or_else(|| OpError::cim(CimStatus::NotFound, format!("no instance {path}")))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let host = host_name(ctx.driver).await;
        Ok(served_namespaces()
            .map(|ns| Self::instance(ctx, &host, ns))
            .collect())
    }
}

/// `CIM_NamespaceInManager`: Antecedent = the object manager, Dependent = each of its namespaces.
pub struct NamespaceInManagerProvider;

#[async_trait]
impl Provider for NamespaceInManagerProvider {
    fn class_name(&self) -> &'static str {
        NAMESPACE_IN_MANAGER_CLASS
    }

    fn namespace(&self) -> &'static str {
        INTEROP_NAMESPACE
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let host = host_name(ctx.driver).await;
        let manager = object_manager_path(&host);
        Ok(served_namespaces()
            .map(|ns| {
                assoc_instance(
                    ctx,
                    &[
                        ("Antecedent", manager.clone()),
                        ("Dependent", namespace_path(&host, ns)),
                    ],
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_carries_the_crate_version_after_the_word_version() {
        let description = server_description();
        let (_, version) = description
            .rsplit_once(" version ")
            .expect("the word version");
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn namespace_paths_are_keyed_by_host_manager_and_name() {
        let path = namespace_path("host1", "root/virt");
        assert_eq!(path.namespace.as_deref(), Some(INTEROP_NAMESPACE));
        assert_eq!(path.key_str("Name"), Some("root/virt"));
        assert_eq!(path.key_str("SystemName"), Some("host1"));
        assert_eq!(path.key_str("ObjectManagerName"), Some(SERVER_NAME));
        assert!(served_namespaces().any(|ns| ns == INTEROP_NAMESPACE));
    }
}
