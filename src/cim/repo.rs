//! The class repository: namespaces holding qualifier declarations, classes resolved against their
//! superclasses (inherited features with class origin, overrides, propagated qualifiers), subclass queries,
//! and static instances declared in MOF (registered profiles and the like).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::object::ObjectPath;
use super::object::{Class, Instance, Method, Property, Qualifier, QualifierDecl, QualifierList};
use super::types::{CimType, ValueError};
use super::CimStatus;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RepoError {
    #[error("namespace {0} does not exist")]
    InvalidNamespace(String),
    #[error("class {0} does not exist")]
    ClassNotFound(String),
    #[error("class {0} already exists")]
    ClassExists(String),
    #[error("superclass {superclass} of class {class} does not exist")]
    InvalidSuperclass { class: String, superclass: String },
    #[error("qualifier {qualifier} used in class {class} is not declared")]
    UndeclaredQualifier { class: String, qualifier: String },
    #[error("class {class}: qualifier {qualifier} may not be overridden")]
    QualifierNotOverridable { class: String, qualifier: String },
    #[error("class {class}: {kind} {name} is already defined in a superclass; use Override")]
    RedefinedWithoutOverride {
        class: String,
        kind: &'static str,
        name: String,
    },
    #[error("class {class}: Override({name}) names no {kind} of a superclass")]
    OverrideTargetMissing {
        class: String,
        kind: &'static str,
        name: String,
    },
    #[error("class {class}: override of {name} changes its type")]
    OverrideTypeChange { class: String, name: String },
    #[error("class {class}: {kind} {name} declared twice")]
    Duplicate {
        class: String,
        kind: &'static str,
        name: String,
    },
    #[error("class {class}: reference {name} outside an association class")]
    ReferenceOutsideAssociation { class: String, name: String },
    #[error("class {class} is abstract: it has no instances")]
    AbstractInstance { class: String },
    #[error("instance of {class}: no property {property}")]
    NoSuchProperty { class: String, property: String },
    #[error("instance of {class}: property {property}: {source}")]
    BadPropertyValue {
        class: String,
        property: String,
        #[source]
        source: ValueError,
    },
    #[error("instance {0} already exists")]
    InstanceExists(String),
}

impl RepoError {
    /// The CIM status a client gets for this error.
    pub fn status(&self) -> CimStatus {
        match self {
            RepoError::InvalidNamespace(_) => CimStatus::InvalidNamespace,
            RepoError::ClassNotFound(_) => CimStatus::NotFound,
            RepoError::ClassExists(_) | RepoError::InstanceExists(_) => CimStatus::AlreadyExists,
            RepoError::InvalidSuperclass { .. } => CimStatus::InvalidSuperclass,
            RepoError::NoSuchProperty { .. } => CimStatus::NoSuchProperty,
            RepoError::BadPropertyValue { .. } => CimStatus::TypeMismatch,
            _ => CimStatus::InvalidParameter,
        }
    }
}

/// One namespace's contents.
#[derive(Debug, Clone, Default)]
pub struct Namespace {
    name: String,
    qualifier_decls: BTreeMap<String, QualifierDecl>,
    classes: HashMap<String, Arc<Class>>,
    /// Class names in the order they were added (superclasses always come first).
    class_order: Vec<String>,
    /// Direct subclasses by lower-cased superclass name.
    children: HashMap<String, Vec<String>>,
    instances: Vec<Instance>,
}

impl Namespace {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn class(&self, name: &str) -> Option<&Arc<Class>> {
        // Lowercased on the stack: class lookups are many per request.
        let mut buf = [0u8; 128];
        match buf.get_mut(..name.len()) {
            Some(lower) => {
                lower.copy_from_slice(name.as_bytes());
                lower.make_ascii_lowercase();
                self.classes.get(std::str::from_utf8(lower).ok()?)
            }
            None => self.classes.get(&name.to_ascii_lowercase()),
        }
    }

    pub fn qualifier_decl(&self, name: &str) -> Option<&QualifierDecl> {
        self.qualifier_decls.get(&name.to_ascii_lowercase())
    }

    pub fn qualifier_decls(&self) -> impl Iterator<Item = &QualifierDecl> {
        self.qualifier_decls.values()
    }

    /// All classes, superclasses before subclasses.
    pub fn classes(&self) -> impl Iterator<Item = &Arc<Class>> {
        self.class_order
            .iter()
            .filter_map(|n| self.classes.get(&n.to_ascii_lowercase()))
    }

    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Subclass names of `parent` (or the root classes when `None`): direct ones, or all descendants
    /// when `deep` (DSP0200 EnumerateClassNames semantics), superclasses listed before their subclasses.
    pub fn subclass_names(&self, parent: Option<&str>, deep: bool) -> Vec<String> {
        let direct: Vec<String> = match parent {
            Some(parent) => self
                .children
                .get(&parent.to_ascii_lowercase())
                .cloned()
                .unwrap_or_default(),
            None => self
                .class_order
                .iter()
                .filter(|n| self.class(n).is_some_and(|c| c.superclass.is_none()))
                .cloned()
                .collect(),
        };
        if !deep {
            return direct;
        }
        let mut out = Vec::new();
        let mut stack: Vec<String> = direct.into_iter().rev().collect();
        while let Some(name) = stack.pop() {
            if let Some(kids) = self.children.get(&name.to_ascii_lowercase()) {
                stack.extend(kids.iter().rev().cloned());
            }
            out.push(name);
        }
        out
    }

    /// The superclass chain of a class, nearest first (excluding the class itself).
    pub fn superclass_chain(&self, name: &str) -> Vec<String> {
        let mut chain = Vec::new();
        let mut current = self.class(name).and_then(|c| c.superclass.clone());
        while let Some(sup) = current {
            current = self.class(&sup).and_then(|c| c.superclass.clone());
            chain.push(sup);
            if chain.len() > 64 {
                break; // a cycle cannot be built through add_class, but never loop forever
            }
        }
        chain
    }

    /// Whether `name` is `ancestor` or one of its subclasses.
    pub fn is_subclass_of(&self, name: &str, ancestor: &str) -> bool {
        if name.eq_ignore_ascii_case(ancestor) {
            return true;
        }
        let mut current = self.class(name).and_then(|c| c.superclass.as_deref());
        // A cycle cannot be built through add_class, but never loop forever.
        for _ in 0..=64 {
            let Some(sup) = current else {
                return false;
            };
            if sup.eq_ignore_ascii_case(ancestor) {
                return true;
            }
            current = self.class(sup).and_then(|c| c.superclass.as_deref());
        }
        false
    }

    /// Association classes whose references can point at `class_name` (or its superclasses).
    pub fn associations_for(&self, class_name: &str) -> Vec<Arc<Class>> {
        self.classes()
            .filter(|c| c.is_association())
            .filter(|c| {
                c.references().any(|r| match r.reference_class() {
                    Some(target) => {
                        self.is_subclass_of(class_name, target)
                            || self.is_subclass_of(target, class_name)
                    }
                    None => true,
                })
            })
            .cloned()
            .collect()
    }
}

/// All namespaces of the server.
#[derive(Debug, Clone, Default)]
pub struct Repository {
    namespaces: BTreeMap<String, Namespace>,
}

fn key(name: &str) -> String {
    name.trim_matches('/').to_ascii_lowercase()
}

impl Repository {
    pub fn new() -> Repository {
        Repository::default()
    }

    /// Creates a namespace if it does not exist yet.
    pub fn add_namespace(&mut self, name: &str) -> &mut Namespace {
        let name = name.trim_matches('/');
        self.namespaces
            .entry(key(name))
            .or_insert_with(|| Namespace {
                name: name.to_owned(),
                ..Namespace::default()
            })
    }

    pub fn namespace(&self, name: &str) -> Result<&Namespace, RepoError> {
        self.namespaces
            .get(&key(name))
            .ok_or_else(|| RepoError::InvalidNamespace(name.to_owned()))
    }

    fn namespace_mut(&mut self, name: &str) -> Result<&mut Namespace, RepoError> {
        self.namespaces
            .get_mut(&key(name))
            .ok_or_else(|| RepoError::InvalidNamespace(name.to_owned()))
    }

    pub fn namespace_names(&self) -> impl Iterator<Item = &str> {
        self.namespaces.values().map(|ns| ns.name.as_str())
    }

    pub fn get_class(&self, namespace: &str, class: &str) -> Result<&Arc<Class>, RepoError> {
        self.namespace(namespace)?
            .class(class)
            .ok_or_else(|| RepoError::ClassNotFound(class.to_owned()))
    }

    /// Adds or replaces a qualifier declaration.
    pub fn add_qualifier_decl(
        &mut self,
        namespace: &str,
        decl: QualifierDecl,
    ) -> Result<(), RepoError> {
        let ns = self.namespace_mut(namespace)?;
        ns.qualifier_decls
            .insert(decl.name.to_ascii_lowercase(), decl);
        Ok(())
    }

    /// Adds a class as declared (local features only), resolving it against its superclass.
    pub fn add_class(&mut self, namespace: &str, class: Class) -> Result<(), RepoError> {
        let ns = self.namespace_mut(namespace)?;
        let lower = class.name.to_ascii_lowercase();
        if ns.classes.contains_key(&lower) {
            return Err(RepoError::ClassExists(class.name));
        }
        let superclass = match &class.superclass {
            Some(sup) => {
                Some(
                    ns.class(sup)
                        .cloned()
                        .ok_or_else(|| RepoError::InvalidSuperclass {
                            class: class.name.clone(),
                            superclass: sup.clone(),
                        })?,
                )
            }
            None => None,
        };
        check_qualifiers_declared(ns, &class)?;
        let resolved = resolve(&class, superclass.as_deref())?;
        if let Some(sup) = &superclass {
            ns.children
                .entry(sup.name.to_ascii_lowercase())
                .or_default()
                .push(resolved.name.clone());
        }
        ns.class_order.push(resolved.name.clone());
        ns.classes.insert(lower, Arc::new(resolved));
        Ok(())
    }

    /// Adds a static instance: properties are checked against the class and coerced to their declared types;
    /// properties not given take the class default. Its path is built from the key properties.
    pub fn add_instance(
        &mut self,
        namespace: &str,
        instance: Instance,
    ) -> Result<ObjectPath, RepoError> {
        let ns = self.namespace_mut(namespace)?;
        let class = ns
            .class(&instance.class_name)
            .cloned()
            .ok_or_else(|| RepoError::ClassNotFound(instance.class_name.to_string()))?;
        if class.is_abstract() {
            return Err(RepoError::AbstractInstance {
                class: class.name.clone(),
            });
        }
        let mut full = class.new_instance();
        for given in instance.into_properties() {
            let declared =
                class
                    .property(&given.name)
                    .ok_or_else(|| RepoError::NoSuchProperty {
                        class: class.name.clone(),
                        property: given.name.to_string(),
                    })?;
            let value =
                given
                    .value
                    .coerce(&declared.ty)
                    .map_err(|source| RepoError::BadPropertyValue {
                        class: class.name.clone(),
                        property: declared.name.clone(),
                        source,
                    })?;
            full.set_typed(&declared.name, declared.ty.clone(), value);
        }
        let path = full.path_from_keys(&class, Some(ns.name.as_str().into()));
        if ns
            .instances
            .iter()
            .any(|i| i.path.as_ref().is_some_and(|p| p.same_object(&path)))
        {
            return Err(RepoError::InstanceExists(path.to_string()));
        }
        full.path = Some(path.clone());
        ns.instances.push(full);
        Ok(path)
    }
}

fn check_qualifiers_declared(ns: &Namespace, class: &Class) -> Result<(), RepoError> {
    let mut all: Vec<&Qualifier> = class.qualifiers.iter().collect();
    for p in &class.properties {
        all.extend(&p.qualifiers);
    }
    for m in &class.methods {
        all.extend(&m.qualifiers);
        for param in &m.parameters {
            all.extend(&param.qualifiers);
        }
    }
    for q in all {
        if ns.qualifier_decl(&q.name).is_none() {
            return Err(RepoError::UndeclaredQualifier {
                class: class.name.clone(),
                qualifier: q.name.clone(),
            });
        }
    }
    Ok(())
}

/// Inherited qualifiers that propagate (ToSubclass), marked propagated.
fn propagating(qualifiers: &[Qualifier]) -> Vec<Qualifier> {
    qualifiers
        .iter()
        .filter(|q| q.flavor.to_subclass)
        .map(|q| Qualifier {
            propagated: true,
            ..q.clone()
        })
        .collect()
}

/// Local qualifiers laid over inherited ones; a DisableOverride qualifier may only be restated unchanged.
fn merge_qualifiers(
    class: &str,
    inherited: Vec<Qualifier>,
    local: &[Qualifier],
) -> Result<Vec<Qualifier>, RepoError> {
    let mut merged = inherited;
    for q in local {
        if let Some(existing) = merged
            .iter_mut()
            .find(|e| e.name.eq_ignore_ascii_case(&q.name))
        {
            if !existing.flavor.overridable && existing.value != q.value {
                return Err(RepoError::QualifierNotOverridable {
                    class: class.to_owned(),
                    qualifier: q.name.clone(),
                });
            }
            *existing = Qualifier {
                propagated: false,
                ..q.clone()
            };
        } else {
            merged.push(Qualifier {
                propagated: false,
                ..q.clone()
            });
        }
    }
    Ok(merged)
}

fn override_target<'a>(qualifiers: &'a [Qualifier], own_name: &'a str) -> Option<&'a str> {
    qualifiers.qualifier("Override").map(|q| {
        q.value
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or(own_name)
    })
}

fn resolve(class: &Class, superclass: Option<&Class>) -> Result<Class, RepoError> {
    let name = class.name.as_str();
    let inherited_qualifiers = superclass
        .map(|s| propagating(&s.qualifiers))
        .unwrap_or_default();
    let qualifiers = merge_qualifiers(name, inherited_qualifiers, &class.qualifiers)?;

    let mut properties: Vec<Property> = superclass
        .map(|s| {
            s.properties
                .iter()
                .map(|p| Property {
                    propagated: true,
                    qualifiers: propagating(&p.qualifiers),
                    ..p.clone()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut seen_local: Vec<String> = Vec::new();
    for local in &class.properties {
        let lower = local.name.to_ascii_lowercase();
        if seen_local.contains(&lower) {
            return Err(RepoError::Duplicate {
                class: name.into(),
                kind: "property",
                name: local.name.clone(),
            });
        }
        seen_local.push(lower);
        let target = override_target(&local.qualifiers, &local.name);
        let existing = properties
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(&local.name));
        match (target, existing) {
            (None, Some(_)) => {
                return Err(RepoError::RedefinedWithoutOverride {
                    class: name.into(),
                    kind: "property",
                    name: local.name.clone(),
                })
            }
            (Some(target), _)
                if !properties
                    .iter()
                    .any(|p| p.name.eq_ignore_ascii_case(target)) =>
            {
                return Err(RepoError::OverrideTargetMissing {
                    class: name.into(),
                    kind: "property",
                    name: target.to_owned(),
                })
            }
            (Some(_), Some(index)) => {
                let base = &properties[index];
                if !base.ty.ty.same_kind(&local.ty.ty) || base.ty.is_array() != local.ty.is_array()
                {
                    return Err(RepoError::OverrideTypeChange {
                        class: name.into(),
                        name: local.name.clone(),
                    });
                }
                let merged = merge_qualifiers(name, base.qualifiers.clone(), &local.qualifiers)?;
                let default = if local.default.is_null() {
                    base.default.clone()
                } else {
                    local.default.clone()
                };
                properties[index] = Property {
                    qualifiers: merged,
                    default,
                    class_origin: Some(name.to_owned()),
                    propagated: false,
                    ..local.clone()
                };
            }
            (_, None) => properties.push(Property {
                class_origin: Some(name.to_owned()),
                propagated: false,
                ..local.clone()
            }),
        }
    }

    let mut methods: Vec<Method> = superclass
        .map(|s| {
            s.methods
                .iter()
                .map(|m| Method {
                    propagated: true,
                    qualifiers: propagating(&m.qualifiers),
                    ..m.clone()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut seen_methods: Vec<String> = Vec::new();
    for local in &class.methods {
        let lower = local.name.to_ascii_lowercase();
        if seen_methods.contains(&lower) {
            return Err(RepoError::Duplicate {
                class: name.into(),
                kind: "method",
                name: local.name.clone(),
            });
        }
        seen_methods.push(lower);
        let target = override_target(&local.qualifiers, &local.name);
        let existing = methods
            .iter()
            .position(|m| m.name.eq_ignore_ascii_case(&local.name));
        match (target, existing) {
            (None, Some(_)) => {
                return Err(RepoError::RedefinedWithoutOverride {
                    class: name.into(),
                    kind: "method",
                    name: local.name.clone(),
                })
            }
            (Some(target), _) if !methods.iter().any(|m| m.name.eq_ignore_ascii_case(target)) => {
                return Err(RepoError::OverrideTargetMissing {
                    class: name.into(),
                    kind: "method",
                    name: target.to_owned(),
                })
            }
            (Some(_), Some(index)) => {
                let merged =
                    merge_qualifiers(name, methods[index].qualifiers.clone(), &local.qualifiers)?;
                methods[index] = Method {
                    qualifiers: merged,
                    class_origin: Some(name.to_owned()),
                    propagated: false,
                    ..local.clone()
                };
            }
            (_, None) => methods.push(Method {
                class_origin: Some(name.to_owned()),
                propagated: false,
                ..local.clone()
            }),
        }
    }

    let resolved = Class {
        name: name.to_owned(),
        superclass: class.superclass.clone(),
        qualifiers,
        properties,
        methods,
        template: Default::default(),
    };
    if !resolved.is_association() {
        if let Some(reference) = resolved
            .properties
            .iter()
            .find(|p| matches!(p.ty.ty, CimType::Reference(_)))
        {
            return Err(RepoError::ReferenceOutsideAssociation {
                class: name.into(),
                name: reference.name.clone(),
            });
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cim::object::{Flavor, Scope};
    use crate::cim::{TypeSpec, Value};

    fn decl(name: &str, ty: CimType, flavor: Flavor) -> QualifierDecl {
        QualifierDecl {
            name: name.into(),
            ty: TypeSpec::scalar(ty),
            default: Value::Null,
            scope: Scope::ANY,
            flavor,
        }
    }

    fn q(name: &str, value: Value, flavor: Flavor) -> Qualifier {
        Qualifier {
            name: name.into(),
            value,
            flavor,
            propagated: false,
        }
    }

    fn repo() -> Repository {
        let mut repo = Repository::new();
        repo.add_namespace("root/virt");
        let fixed = Flavor {
            overridable: false,
            to_subclass: true,
            translatable: false,
        };
        let restricted = Flavor {
            overridable: true,
            to_subclass: false,
            translatable: false,
        };
        for d in [
            decl("Key", CimType::Boolean, fixed),
            decl("Association", CimType::Boolean, fixed),
            decl("Abstract", CimType::Boolean, restricted),
            decl("Override", CimType::String, restricted),
            decl("Description", CimType::String, Flavor::default()),
        ] {
            repo.add_qualifier_decl("root/virt", d).expect("decl");
        }
        repo
    }

    #[test]
    fn inheritance_override_and_queries() {
        let mut repo = repo();
        let fixed = Flavor {
            overridable: false,
            to_subclass: true,
            translatable: false,
        };
        let restricted = Flavor {
            overridable: true,
            to_subclass: false,
            translatable: false,
        };
        let mut base = Class::new("CIM_Base", None);
        base.qualifiers
            .push(q("Abstract", Value::Boolean(true), restricted));
        base.qualifiers.push(q(
            "Description",
            Value::String("base".into()),
            Flavor::default(),
        ));
        let mut name = Property::new("Name", TypeSpec::scalar(CimType::String));
        name.qualifiers.push(q("Key", Value::Boolean(true), fixed));
        base.properties.push(name);
        base.properties
            .push(Property::new("Caption", TypeSpec::scalar(CimType::String)));
        repo.add_class("root/virt", base).expect("base");

        let mut derived = Class::new("KVM_Derived", Some("CIM_Base"));
        let mut caption = Property::new("Caption", TypeSpec::scalar(CimType::String));
        caption
            .qualifiers
            .push(q("Override", Value::String("Caption".into()), restricted));
        caption.default = Value::String("x".into());
        derived.properties.push(caption);
        derived
            .properties
            .push(Property::new("Extra", TypeSpec::scalar(CimType::Uint16)));
        repo.add_class("ROOT/VIRT", derived).expect("derived");

        let ns = repo.namespace("root/virt").expect("ns");
        let class = ns.class("kvm_derived").expect("class");
        assert!(!class.is_abstract(), "Abstract is restricted");
        assert_eq!(class.qualifier_str_desc(), Some("base"));
        assert_eq!(
            class.keys().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["Name"]
        );
        let name = class.property("Name").expect("Name");
        assert!(name.propagated && name.class_origin.as_deref() == Some("CIM_Base"));
        let caption = class.property("Caption").expect("Caption");
        assert!(!caption.propagated && caption.class_origin.as_deref() == Some("KVM_Derived"));
        assert_eq!(class.local_only().properties.len(), 2);
        assert_eq!(ns.subclass_names(None, false), ["CIM_Base"]);
        assert_eq!(ns.subclass_names(None, true), ["CIM_Base", "KVM_Derived"]);
        assert_eq!(ns.subclass_names(Some("CIM_Base"), false), ["KVM_Derived"]);
        assert!(ns.is_subclass_of("KVM_Derived", "cim_base"));
        assert_eq!(ns.superclass_chain("KVM_Derived"), ["CIM_Base"]);

        // Errors: redefinition without Override, unknown superclass, duplicate, reference outside association.
        let mut bad = Class::new("KVM_Bad", Some("CIM_Base"));
        bad.properties
            .push(Property::new("Caption", TypeSpec::scalar(CimType::String)));
        assert!(matches!(
            repo.add_class("root/virt", bad),
            Err(RepoError::RedefinedWithoutOverride { .. })
        ));
        assert!(matches!(
            repo.add_class("root/virt", Class::new("KVM_X", Some("CIM_Nope"))),
            Err(RepoError::InvalidSuperclass { .. })
        ));
        assert!(matches!(
            repo.add_class("root/virt", Class::new("cim_base", None)),
            Err(RepoError::ClassExists(_))
        ));
        let mut refs = Class::new("KVM_Refs", None);
        refs.properties.push(Property::new(
            "A",
            TypeSpec::scalar(CimType::Reference(Some("CIM_Base".into()))),
        ));
        assert!(matches!(
            repo.add_class("root/virt", refs.clone()),
            Err(RepoError::ReferenceOutsideAssociation { .. })
        ));
        refs.qualifiers
            .push(q("Association", Value::Boolean(true), fixed));
        repo.add_class("root/virt", refs).expect("association");
        let ns = repo.namespace("root/virt").expect("ns");
        assert_eq!(ns.associations_for("KVM_Derived").len(), 1);
        assert!(matches!(
            repo.namespace("root/nope"),
            Err(RepoError::InvalidNamespace(_))
        ));
    }

    #[test]
    fn instances_are_typed_and_keyed() {
        let mut repo = repo();
        let mut class = Class::new("KVM_Profile", None);
        let mut id = Property::new("InstanceID", TypeSpec::scalar(CimType::String));
        id.qualifiers
            .push(q("Key", Value::Boolean(true), Flavor::default()));
        class.properties.push(id);
        class
            .properties
            .push(Property::new("Org", TypeSpec::scalar(CimType::Uint16)));
        repo.add_class("root/virt", class).expect("class");
        let mut inst = Instance::new("KVM_Profile");
        inst.set("InstanceID", Value::String("p1".into()));
        inst.set("Org", Value::Sint64(2));
        let path = repo
            .add_instance("root/virt", inst.clone())
            .expect("instance");
        assert_eq!(path.to_string(), r#"root/virt:KVM_Profile.InstanceID="p1""#);
        let stored = &repo.namespace("root/virt").expect("ns").instances()[0];
        assert_eq!(stored.get("Org"), Some(&Value::Uint16(2)));
        assert!(matches!(
            repo.add_instance("root/virt", inst.clone()),
            Err(RepoError::InstanceExists(_))
        ));
        inst.set("Nope", Value::Boolean(true));
        assert!(matches!(
            repo.add_instance("root/virt", inst),
            Err(RepoError::NoSuchProperty { .. })
        ));
    }

    trait DescOf {
        fn qualifier_str_desc(&self) -> Option<&str>;
    }
    impl DescOf for Class {
        fn qualifier_str_desc(&self) -> Option<&str> {
            self.qualifiers.qualifier_str("Description")
        }
    }
}
