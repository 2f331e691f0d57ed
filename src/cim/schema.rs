//! CIM schema elements: qualifier declarations and qualifiers (with flavors), properties, methods and
//! parameters, classes and instances.

use super::path::ObjectPath;
use super::value::{CimType, TypeSpec, Value};

/// Qualifier flavors (DSP0004 5.6.1.2). Defaults: EnableOverride, ToSubclass, not Translatable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flavor {
    /// EnableOverride (true) / DisableOverride (false).
    pub overridable: bool,
    /// ToSubclass (true) / Restricted (false).
    pub to_subclass: bool,
    pub translatable: bool,
}

impl Default for Flavor {
    fn default() -> Flavor {
        Flavor {
            overridable: true,
            to_subclass: true,
            translatable: false,
        }
    }
}

/// Where a qualifier may be used (the `Scope(...)` of its declaration), as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scope(pub u16);

impl Scope {
    pub const CLASS: Scope = Scope(1);
    pub const ASSOCIATION: Scope = Scope(2);
    pub const INDICATION: Scope = Scope(4);
    pub const PROPERTY: Scope = Scope(8);
    pub const REFERENCE: Scope = Scope(16);
    pub const METHOD: Scope = Scope(32);
    pub const PARAMETER: Scope = Scope(64);
    pub const ANY: Scope = Scope(127);

    pub fn from_name(name: &str) -> Option<Scope> {
        let scope = match name.to_ascii_lowercase().as_str() {
            "class" => Scope::CLASS,
            "association" => Scope::ASSOCIATION,
            "indication" => Scope::INDICATION,
            "property" => Scope::PROPERTY,
            "reference" => Scope::REFERENCE,
            "method" => Scope::METHOD,
            "parameter" => Scope::PARAMETER,
            "any" => Scope::ANY,
            _ => return None,
        };
        Some(scope)
    }

    pub fn contains(self, other: Scope) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Scope) -> Scope {
        Scope(self.0 | other.0)
    }

    /// The names of the set bits, `any` when all are set (for the `SCOPE` element and MOF output).
    pub fn names(self) -> Vec<&'static str> {
        if self == Scope::ANY {
            return vec!["any"];
        }
        [
            (Scope::CLASS, "class"),
            (Scope::ASSOCIATION, "association"),
            (Scope::INDICATION, "indication"),
            (Scope::PROPERTY, "property"),
            (Scope::REFERENCE, "reference"),
            (Scope::METHOD, "method"),
            (Scope::PARAMETER, "parameter"),
        ]
        .into_iter()
        .filter(|(bit, _)| self.contains(*bit))
        .map(|(_, name)| name)
        .collect()
    }
}

/// A qualifier type declaration (`Qualifier Key : boolean = false, Scope(property, reference), ...;`).
#[derive(Debug, Clone, PartialEq)]
pub struct QualifierDecl {
    pub name: String,
    pub ty: TypeSpec,
    pub default: Value,
    pub scope: Scope,
    pub flavor: Flavor,
}

/// A qualifier applied to a class, property, method or parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Qualifier {
    pub name: String,
    pub value: Value,
    pub flavor: Flavor,
    /// Inherited from a superclass (or the overridden element) rather than given here.
    pub propagated: bool,
}

impl Qualifier {
    pub fn new(name: &str, value: Value) -> Qualifier {
        Qualifier {
            name: name.to_owned(),
            value,
            flavor: Flavor::default(),
            propagated: false,
        }
    }
}

/// Case-insensitive lookups over a qualifier list.
pub trait QualifierList {
    fn qualifier(&self, name: &str) -> Option<&Qualifier>;

    /// A boolean qualifier that is present and not false (`[Key]` is `Key(true)`).
    fn has_true(&self, name: &str) -> bool {
        self.qualifier(name)
            .is_some_and(|q| q.value.as_bool() != Some(false))
    }

    fn qualifier_str(&self, name: &str) -> Option<&str> {
        self.qualifier(name).and_then(|q| q.value.as_str())
    }
}

impl QualifierList for [Qualifier] {
    fn qualifier(&self, name: &str) -> Option<&Qualifier> {
        self.iter().find(|q| q.name.eq_ignore_ascii_case(name))
    }
}

impl QualifierList for Vec<Qualifier> {
    fn qualifier(&self, name: &str) -> Option<&Qualifier> {
        self.as_slice().qualifier(name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub name: String,
    pub ty: TypeSpec,
    /// The default value (`Null` when none).
    pub default: Value,
    pub qualifiers: Vec<Qualifier>,
    /// The class that first declared (or last overrode) this property; set by the repository.
    pub class_origin: Option<String>,
    /// Inherited unchanged from the superclass.
    pub propagated: bool,
}

impl Property {
    pub fn new(name: &str, ty: TypeSpec) -> Property {
        Property {
            name: name.to_owned(),
            ty,
            default: Value::Null,
            qualifiers: Vec::new(),
            class_origin: None,
            propagated: false,
        }
    }

    pub fn is_key(&self) -> bool {
        self.qualifiers.has_true("Key")
    }

    pub fn is_reference(&self) -> bool {
        matches!(self.ty.ty, CimType::Reference(_))
    }

    /// The class a reference property points to.
    pub fn reference_class(&self) -> Option<&str> {
        match &self.ty.ty {
            CimType::Reference(class) => class.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub ty: TypeSpec,
    pub qualifiers: Vec<Qualifier>,
}

impl Parameter {
    /// IN unless declared `[In(false)]`.
    pub fn is_in(&self) -> bool {
        self.qualifiers
            .qualifier("In")
            .is_none_or(|q| q.value.as_bool() != Some(false))
    }

    pub fn is_out(&self) -> bool {
        self.qualifiers.has_true("Out")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    pub name: String,
    pub return_type: CimType,
    pub parameters: Vec<Parameter>,
    pub qualifiers: Vec<Qualifier>,
    pub class_origin: Option<String>,
    pub propagated: bool,
}

impl Method {
    pub fn parameter(&self, name: &str) -> Option<&Parameter> {
        self.parameters
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

/// A class. In the repository a class is stored resolved: inherited features are present with
/// `propagated = true` and their `class_origin`.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub name: String,
    pub superclass: Option<String>,
    pub qualifiers: Vec<Qualifier>,
    pub properties: Vec<Property>,
    pub methods: Vec<Method>,
}

impl Class {
    pub fn new(name: &str, superclass: Option<&str>) -> Class {
        Class {
            name: name.to_owned(),
            superclass: superclass.map(str::to_owned),
            qualifiers: Vec::new(),
            properties: Vec::new(),
            methods: Vec::new(),
        }
    }

    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    pub fn method(&self, name: &str) -> Option<&Method> {
        self.methods
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }

    pub fn is_association(&self) -> bool {
        self.qualifiers.has_true("Association")
    }

    pub fn is_indication(&self) -> bool {
        self.qualifiers.has_true("Indication")
    }

    pub fn is_abstract(&self) -> bool {
        self.qualifiers.has_true("Abstract")
    }

    /// Key properties, in declaration order.
    pub fn keys(&self) -> impl Iterator<Item = &Property> {
        self.properties.iter().filter(|p| p.is_key())
    }

    /// Reference properties (the roles of an association).
    pub fn references(&self) -> impl Iterator<Item = &Property> {
        self.properties.iter().filter(|p| p.is_reference())
    }

    /// The class as `LocalOnly` operations show it: only what this class declares or overrides.
    pub fn local_only(&self) -> Class {
        Class {
            name: self.name.clone(),
            superclass: self.superclass.clone(),
            qualifiers: self
                .qualifiers
                .iter()
                .filter(|q| !q.propagated)
                .cloned()
                .collect(),
            properties: self
                .properties
                .iter()
                .filter(|p| !p.propagated)
                .cloned()
                .collect(),
            methods: self
                .methods
                .iter()
                .filter(|m| !m.propagated)
                .cloned()
                .collect(),
        }
    }

    /// A fresh instance with every property at its default value.
    pub fn new_instance(&self) -> Instance {
        Instance {
            class_name: self.name.clone(),
            qualifiers: Vec::new(),
            properties: self
                .properties
                .iter()
                .map(|p| InstanceProperty {
                    name: p.name.clone(),
                    ty: p.ty.clone(),
                    value: p.default.clone(),
                })
                .collect(),
            path: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceProperty {
    pub name: String,
    pub ty: TypeSpec,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub class_name: String,
    pub qualifiers: Vec<Qualifier>,
    pub properties: Vec<InstanceProperty>,
    /// The instance's path when known (set by providers and by the CIM-XML decoder for named instances).
    pub path: Option<ObjectPath>,
}

impl Instance {
    pub fn new(class_name: &str) -> Instance {
        Instance {
            class_name: class_name.to_owned(),
            qualifiers: Vec::new(),
            properties: Vec::new(),
            path: None,
        }
    }

    pub fn property(&self, name: &str) -> Option<&InstanceProperty> {
        self.properties
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.property(name).map(|p| &p.value)
    }

    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// Sets a property, adding it when absent. The type is taken from a non-null value; a null keeps the
    /// type already there (or `string` for a new property).
    pub fn set(&mut self, name: &str, value: Value) {
        let ty = match (&value, value.cim_type()) {
            (Value::Array(ty, _), _) => Some(TypeSpec::array(ty.clone())),
            (_, Some(ty)) => Some(TypeSpec::scalar(ty)),
            (_, None) => None,
        };
        if let Some(existing) = self
            .properties
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            if let Some(ty) = ty {
                existing.ty = ty;
            }
            existing.value = value;
        } else {
            let ty = ty.unwrap_or(TypeSpec::scalar(CimType::String));
            self.properties.push(InstanceProperty {
                name: name.to_owned(),
                ty,
                value,
            });
        }
    }

    /// Builds the instance path from the class's key properties (namespace given by the caller).
    pub fn path_from_keys(&self, class: &Class, namespace: Option<&str>) -> ObjectPath {
        let mut path = ObjectPath::class(namespace, &self.class_name);
        for key in class.keys() {
            let value = self.get(&key.name).cloned().unwrap_or(Value::Null);
            path.keys.push((key.name.clone(), value));
        }
        path
    }

    /// Keeps only the named properties (a `PropertyList` filter; names case-insensitive).
    pub fn filter_properties(&mut self, names: &[String]) {
        self.properties
            .retain(|p| names.iter().any(|n| n.eq_ignore_ascii_case(&p.name)));
    }
}
