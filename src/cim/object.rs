//! The CIM object model (DSP0004): typed values, object paths, and the schema elements (qualifiers, properties,
//! methods, classes, instances). One module because the three are one recursive type: a reference value holds a
//! path, whose keys are values; an embedded object holds a class or instance, whose properties hold values.
//!
//! Path string form (DSP0004 object name, as wbemcli and pywbem print it):
//! `[//host/]root/virt:KVM_ComputerSystem.CreationClassName="KVM_ComputerSystem",Name="x"`.
//! String and reference keys are double-quoted with `\"` and `\\` escaped; numbers and booleans are bare;
//! a singleton class has `Class=@`.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};

use super::types::{
    format_real, parse_int_text, parse_real_text, Arrayness, CimType, DateTime, Name, TypeSpec,
    ValueError,
};

// ---- values ----

/// A typed CIM value. `Null` is the absence of a value of any type; array elements may be `Null`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Uint8(u8),
    Sint8(i8),
    Uint16(u16),
    Sint16(i16),
    Uint32(u32),
    Sint32(i32),
    Uint64(u64),
    Sint64(i64),
    Real32(f32),
    Real64(f64),
    Boolean(bool),
    String(String),
    Char16(char),
    DateTime(DateTime),
    Reference(Arc<ObjectPath>),
    /// An embedded instance (a property or parameter with `EmbeddedInstance` / `EmbeddedObject`).
    Instance(Box<Instance>),
    /// An embedded class (`EmbeddedObject` may carry a class).
    Class(Box<Class>),
    /// An array of the given element type; elements are scalars or `Null`.
    Array(CimType, Vec<Value>),
}

impl Value {
    /// The type of a non-null value (`None` for `Null`).
    pub fn cim_type(&self) -> Option<CimType> {
        let ty = match self {
            Value::Null => return None,
            Value::Uint8(_) => CimType::Uint8,
            Value::Sint8(_) => CimType::Sint8,
            Value::Uint16(_) => CimType::Uint16,
            Value::Sint16(_) => CimType::Sint16,
            Value::Uint32(_) => CimType::Uint32,
            Value::Sint32(_) => CimType::Sint32,
            Value::Uint64(_) => CimType::Uint64,
            Value::Sint64(_) => CimType::Sint64,
            Value::Real32(_) => CimType::Real32,
            Value::Real64(_) => CimType::Real64,
            Value::Boolean(_) => CimType::Boolean,
            Value::String(_) => CimType::String,
            Value::Char16(_) => CimType::Char16,
            Value::DateTime(_) => CimType::DateTime,
            Value::Reference(path) => CimType::Reference(Some(path.class_name.as_str().into())),
            Value::Instance(inst) => {
                CimType::EmbeddedInstance(Some(inst.class_name.as_str().into()))
            }
            Value::Class(_) => CimType::EmbeddedObject,
            Value::Array(ty, _) => ty.clone(),
        };
        Some(ty)
    }

    /// Whether `coerce` to `spec` would give this very value back (checked cheaply, for the common cases
    /// only: `false` means "coerce to find out").
    pub fn fits(&self, spec: &TypeSpec) -> bool {
        fn scalar(value: &Value, ty: &CimType) -> bool {
            matches!(
                (value, ty),
                (Value::Null, _)
                    | (Value::String(_), CimType::String)
                    | (Value::Boolean(_), CimType::Boolean)
                    | (Value::Uint8(_), CimType::Uint8)
                    | (Value::Sint8(_), CimType::Sint8)
                    | (Value::Uint16(_), CimType::Uint16)
                    | (Value::Sint16(_), CimType::Sint16)
                    | (Value::Uint32(_), CimType::Uint32)
                    | (Value::Sint32(_), CimType::Sint32)
                    | (Value::Uint64(_), CimType::Uint64)
                    | (Value::Sint64(_), CimType::Sint64)
                    | (Value::Reference(_), CimType::Reference(_))
            )
        }
        match self {
            Value::Null => true,
            Value::Array(ty, items) => {
                spec.is_array() && *ty == spec.ty && items.iter().all(|i| scalar(i, &spec.ty))
            }
            value => !spec.is_array() && scalar(value, &spec.ty),
        }
    }

    /// The property type a non-null value gives the property it is set to (`None` for `Null`).
    pub fn type_spec(&self) -> Option<TypeSpec> {
        match self {
            Value::Array(ty, _) => Some(TypeSpec::array(ty.clone())),
            value => value.cim_type().map(TypeSpec::scalar),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(..))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// Any integer value widened to i128 (so both u64 and i64 fit).
    pub fn as_i128(&self) -> Option<i128> {
        match *self {
            Value::Uint8(v) => Some(v.into()),
            Value::Sint8(v) => Some(v.into()),
            Value::Uint16(v) => Some(v.into()),
            Value::Sint16(v) => Some(v.into()),
            Value::Uint32(v) => Some(v.into()),
            Value::Sint32(v) => Some(v.into()),
            Value::Uint64(v) => Some(v.into()),
            Value::Sint64(v) => Some(v.into()),
            _ => None,
        }
    }

    /// An integer of type `ty` from a wide integer, range-checked.
    pub fn from_integer(ty: &CimType, n: i128) -> Result<Value, ValueError> {
        let out_of_range = || ValueError::OutOfRange {
            ty: ty.name(),
            text: n.to_string(),
        };
        let value = match ty {
            CimType::Uint8 => Value::Uint8(u8::try_from(n).map_err(|_| out_of_range())?),
            CimType::Sint8 => Value::Sint8(i8::try_from(n).map_err(|_| out_of_range())?),
            CimType::Uint16 => Value::Uint16(u16::try_from(n).map_err(|_| out_of_range())?),
            CimType::Sint16 => Value::Sint16(i16::try_from(n).map_err(|_| out_of_range())?),
            CimType::Uint32 => Value::Uint32(u32::try_from(n).map_err(|_| out_of_range())?),
            CimType::Sint32 => Value::Sint32(i32::try_from(n).map_err(|_| out_of_range())?),
            CimType::Uint64 => Value::Uint64(u64::try_from(n).map_err(|_| out_of_range())?),
            CimType::Sint64 => Value::Sint64(i64::try_from(n).map_err(|_| out_of_range())?),
            // MOF allows integer literals for reals.
            #[allow(clippy::cast_precision_loss)]
            CimType::Real32 => Value::Real32(n as f32),
            #[allow(clippy::cast_precision_loss)]
            CimType::Real64 => Value::Real64(n as f64),
            other => {
                return Err(ValueError::TypeMismatch {
                    expected: other.name().into(),
                    found: "integer",
                })
            }
        };
        Ok(value)
    }

    /// Parses the text form of a scalar (a CIM-XML `VALUE` or `KEYVALUE`, a wbemcli argument) as type `ty`.
    /// Integers accept decimal and (DSP0201 permits) `0x` hex; booleans are case-insensitive TRUE/FALSE.
    /// References and embedded objects are not text at this level: the codec parses them.
    pub fn parse_scalar(ty: &CimType, text: &str) -> Result<Value, ValueError> {
        let invalid = || ValueError::Invalid {
            ty: ty.name(),
            text: text.to_owned(),
        };
        let trimmed = text.trim();
        match ty {
            t if t.is_integer() => {
                let n = parse_int_text(trimmed).ok_or_else(invalid)?;
                Value::from_integer(t, n).map_err(|_| ValueError::OutOfRange {
                    ty: t.name(),
                    text: text.into(),
                })
            }
            CimType::Real32 => {
                let v: f32 = parse_real_text(trimmed).ok_or_else(invalid)?;
                Ok(Value::Real32(v))
            }
            CimType::Real64 => Ok(Value::Real64(parse_real_text(trimmed).ok_or_else(invalid)?)),
            CimType::Boolean => {
                if trimmed.eq_ignore_ascii_case("true") {
                    Ok(Value::Boolean(true))
                } else if trimmed.eq_ignore_ascii_case("false") {
                    Ok(Value::Boolean(false))
                } else {
                    Err(invalid())
                }
            }
            CimType::String => Ok(Value::String(text.to_owned())),
            CimType::Char16 => {
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if u32::from(c) <= 0xFFFF => Ok(Value::Char16(c)),
                    _ => Err(invalid()),
                }
            }
            CimType::DateTime => Ok(Value::DateTime(DateTime::parse(trimmed)?)),
            CimType::Reference(_) => {
                let path = ObjectPath::parse(trimmed).map_err(|_| invalid())?;
                Ok(Value::Reference(Arc::new(path)))
            }
            CimType::EmbeddedObject | CimType::EmbeddedInstance(_) => {
                Ok(Value::String(text.to_owned()))
            }
            _ => Err(invalid()),
        }
    }

    /// The text form of a scalar as CIM-XML writes it inside `VALUE` (booleans `TRUE`/`FALSE`).
    /// `None` for null, arrays, references and embedded objects, which are not plain text.
    pub fn to_text(&self) -> Option<String> {
        let text = match self {
            Value::Uint8(v) => v.to_string(),
            Value::Sint8(v) => v.to_string(),
            Value::Uint16(v) => v.to_string(),
            Value::Sint16(v) => v.to_string(),
            Value::Uint32(v) => v.to_string(),
            Value::Sint32(v) => v.to_string(),
            Value::Uint64(v) => v.to_string(),
            Value::Sint64(v) => v.to_string(),
            Value::Real32(v) => format_real(f64::from(*v)),
            Value::Real64(v) => format_real(*v),
            Value::Boolean(true) => "TRUE".into(),
            Value::Boolean(false) => "FALSE".into(),
            Value::String(s) => s.clone(),
            Value::Char16(c) => c.to_string(),
            Value::DateTime(d) => d.to_string(),
            _ => return None,
        };
        Some(text)
    }

    /// Converts a value to another declared type where CIM allows it (integer widening / narrowing with a
    /// range check, integer to real, string to datetime / char16 / embedded). Used when a client sends a value
    /// typed differently from the declaration (wbemcli sends everything untyped as strings).
    pub fn coerce(self, spec: &TypeSpec) -> Result<Value, ValueError> {
        if self.is_null() {
            return Ok(Value::Null);
        }
        if spec.is_array() {
            return match self {
                Value::Array(_, items) => {
                    let items: Result<Vec<Value>, ValueError> = items
                        .into_iter()
                        .map(|item| item.coerce(&TypeSpec::scalar(spec.ty.clone())))
                        .collect();
                    Ok(Value::Array(spec.ty.clone(), items?))
                }
                other => Err(ValueError::TypeMismatch {
                    expected: format!("{}[]", spec.ty.name()),
                    found: other.kind_name(),
                }),
            };
        }
        let ty = &spec.ty;
        match self {
            Value::Array(..) => Err(ValueError::TypeMismatch {
                expected: ty.name().into(),
                found: "array",
            }),
            Value::String(s) => match ty {
                CimType::String => Ok(Value::String(s)),
                _ => Value::parse_scalar(ty, &s),
            },
            v @ Value::Reference(_) if matches!(ty, CimType::Reference(_)) => Ok(v),
            v @ (Value::Instance(_) | Value::Class(_))
                if matches!(
                    ty,
                    CimType::EmbeddedObject | CimType::EmbeddedInstance(_) | CimType::String
                ) =>
            {
                Ok(v)
            }
            v if v.as_i128().is_some() => {
                let n = v.as_i128().unwrap_or_default();
                if ty.is_integer() || matches!(ty, CimType::Real32 | CimType::Real64) {
                    Value::from_integer(ty, n)
                } else {
                    Err(ValueError::TypeMismatch {
                        expected: ty.name().into(),
                        found: v.kind_name(),
                    })
                }
            }
            Value::Real32(r) if *ty == CimType::Real64 => Ok(Value::Real64(f64::from(r))),
            #[allow(clippy::cast_possible_truncation)]
            Value::Real64(r) if *ty == CimType::Real32 => Ok(Value::Real32(r as f32)),
            v => {
                let found = v.cim_type();
                match found {
                    Some(found) if found.same_kind(ty) => Ok(v),
                    _ => Err(ValueError::TypeMismatch {
                        expected: ty.name().into(),
                        found: v.kind_name(),
                    }),
                }
            }
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Value::Array(..) => "array",
            Value::Instance(_) => "instance",
            Value::Class(_) => "class",
            Value::Null => "null",
            other => other.cim_type().map_or("null", |t| t.name()),
        }
    }
}

// ---- object paths ----

#[derive(Debug, Clone)]
pub struct ObjectPath {
    /// Host (and port) when the path is fully qualified, as in `VALUE.OBJECTWITHPATH`.
    pub host: Option<Name>,
    /// Namespace such as `root/virt`; `None` for a local path.
    pub namespace: Option<Name>,
    pub class_name: Name,
    /// Key bindings in the order given; empty for a class path (or a singleton instance).
    pub keys: Vec<(Name, Value)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid object path {text:?}: {reason}")]
pub struct PathError {
    pub text: String,
    pub reason: &'static str,
}

impl ObjectPath {
    /// A class path (no keys).
    pub fn class(namespace: Option<&str>, class_name: &str) -> ObjectPath {
        ObjectPath {
            host: None,
            namespace: namespace.map(Name::from),
            class_name: class_name.into(),
            keys: Vec::new(),
        }
    }

    /// An instance path with string keys (the common case in the virtualization model), whose namespace,
    /// class and key names are the program's own (so the path copies none of them).
    pub fn instance(
        namespace: Option<&'static str>,
        class_name: &'static str,
        keys: &[(&'static str, &str)],
    ) -> ObjectPath {
        let keys = keys.iter().map(|(k, v)| (Name::from_static(k), *v));
        ObjectPath::with_string_keys(
            namespace.map(Name::from_static),
            Name::from_static(class_name),
            keys,
        )
    }

    /// As [`ObjectPath::instance`] for names that are not the program's own (a client's, a job's).
    pub fn instance_named(
        namespace: Option<&str>,
        class_name: &str,
        keys: &[(&str, &str)],
    ) -> ObjectPath {
        let keys = keys.iter().map(|(k, v)| (Name::from(*k), *v));
        ObjectPath::with_string_keys(namespace.map(Name::from), class_name.into(), keys)
    }

    fn with_string_keys<'v>(
        namespace: Option<Name>,
        class_name: Name,
        keys: impl ExactSizeIterator<Item = (Name, &'v str)>,
    ) -> ObjectPath {
        ObjectPath {
            host: None,
            namespace,
            class_name,
            keys: keys
                .map(|(k, v)| (k, Value::String(v.to_owned())))
                .collect(),
        }
    }

    pub fn with_key(mut self, name: &'static str, value: Value) -> ObjectPath {
        self.keys.push((Name::from_static(name), value));
        self
    }

    /// The value of a key binding (key names are case-insensitive).
    pub fn key(&self, name: &str) -> Option<&Value> {
        self.keys
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// A string key's value.
    pub fn key_str(&self, name: &str) -> Option<&str> {
        self.key(name).and_then(Value::as_str)
    }

    pub fn is_class_path(&self) -> bool {
        self.keys.is_empty()
    }

    /// The same path without host and namespace (a local instance or class name).
    pub fn local(&self) -> ObjectPath {
        ObjectPath {
            host: None,
            namespace: None,
            ..self.clone()
        }
    }

    /// Keys sorted by name (case-insensitive), the canonical order for comparison and display.
    pub fn sorted_keys(&self) -> Vec<&(Name, Value)> {
        let mut keys: Vec<&(Name, Value)> = self.keys.iter().collect();
        keys.sort_by_key(|(name, _)| name.to_ascii_lowercase());
        keys
    }

    /// Whether two paths name the same object: class, namespace (when both have one) and key names compare
    /// case-insensitively, key values by value (integers of different widths compare by number); host ignored.
    pub fn same_object(&self, other: &ObjectPath) -> bool {
        if !self.class_name.eq_ignore_ascii_case(&other.class_name)
            || self.keys.len() != other.keys.len()
        {
            return false;
        }
        if let (Some(a), Some(b)) = (&self.namespace, &other.namespace) {
            if !namespace_eq(a, b) {
                return false;
            }
        }
        self.keys.iter().all(|(name, value)| {
            other
                .key(name)
                .is_some_and(|theirs| key_value_eq(value, theirs))
        })
    }

    /// Parses the string form. Number keys become `Sint64` / `Uint64`, `TRUE`/`FALSE` booleans, quoted values
    /// strings (a quoted value that is itself an object path stays a string: only the class declaration says
    /// whether a key is a reference).
    pub fn parse(text: &str) -> Result<ObjectPath, PathError> {
        let err = |reason| PathError {
            text: text.to_owned(),
            reason,
        };
        let mut rest = text.trim();
        let mut host = None;
        if let Some(after) = rest.strip_prefix("//") {
            let slash = after
                .find('/')
                .ok_or_else(|| err("host without a namespace"))?;
            host = Some(after[..slash].to_owned());
            rest = &after[slash + 1..];
        }
        let (head, keys_text) = match rest.find('.') {
            Some(dot) => (&rest[..dot], Some(&rest[dot + 1..])),
            None => (rest, None),
        };
        let (namespace, class_name) = match head.rfind(':') {
            Some(colon) => (
                Some(head[..colon].trim_matches('/').to_owned()),
                &head[colon + 1..],
            ),
            None => (None, head),
        };
        // `Class=@` (singleton) has no dot: the class part then ends in "=@".
        let (class_name, singleton) = match class_name.strip_suffix("=@") {
            Some(name) => (name, true),
            None => (class_name, false),
        };
        if !is_identifier(class_name) {
            return Err(err("bad class name"));
        }
        let mut keys = Vec::new();
        if let Some(keys_text) = keys_text {
            if singleton {
                return Err(err("a singleton path has no keys"));
            }
            keys = parse_keys(keys_text).map_err(err)?;
        }
        Ok(ObjectPath {
            host: host.map(Name::from),
            namespace: namespace.filter(|ns| !ns.is_empty()).map(Name::from),
            class_name: class_name.into(),
            keys: keys.into_iter().map(|(k, v)| (Name::from(k), v)).collect(),
        })
    }
}

impl PartialEq for ObjectPath {
    fn eq(&self, other: &ObjectPath) -> bool {
        let ns_eq = match (&self.namespace, &other.namespace) {
            (Some(a), Some(b)) => namespace_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        ns_eq && self.same_object(other)
    }
}

/// Namespace names compare case-insensitively and ignore leading / trailing slashes.
pub fn namespace_eq(a: &str, b: &str) -> bool {
    a.trim_matches('/')
        .eq_ignore_ascii_case(b.trim_matches('/'))
}

fn key_value_eq(a: &Value, b: &Value) -> bool {
    match (a.as_i128(), b.as_i128()) {
        (Some(x), Some(y)) => x == y,
        _ => match (a, b) {
            (Value::Reference(x), Value::Reference(y)) => x.same_object(y),
            // A reference key may arrive as its string form.
            (Value::Reference(x), Value::String(s)) | (Value::String(s), Value::Reference(x)) => {
                ObjectPath::parse(s).is_ok_and(|p| p.same_object(x))
            }
            _ => a == b,
        },
    }
}

pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

fn parse_keys(text: &str) -> Result<Vec<(String, Value)>, &'static str> {
    let mut keys = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        // Key name up to '='.
        let start = chars.peek().map(|(i, _)| *i).ok_or("empty key binding")?;
        let mut eq = None;
        for (i, c) in chars.by_ref() {
            if c == '=' {
                eq = Some(i);
                break;
            }
        }
        let eq = eq.ok_or("key binding without '='")?;
        let name = text[start..eq].trim();
        if !is_identifier(name) {
            return Err("bad key name");
        }
        let value = if chars.peek().is_some_and(|(_, c)| *c == '"') {
            chars.next();
            let mut s = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, escaped)) => s.push(escaped),
                        None => return Err("backslash at end of path"),
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    other => s.push(other),
                }
            }
            if !closed {
                return Err("unterminated quoted key value");
            }
            Value::String(s)
        } else {
            let vstart = chars.peek().map(|(i, _)| *i).unwrap_or(text.len());
            let mut vend = text.len();
            while let Some((i, c)) = chars.peek().copied() {
                if c == ',' {
                    vend = i;
                    break;
                }
                chars.next();
            }
            let raw = text[vstart..vend].trim();
            if raw.eq_ignore_ascii_case("true") {
                Value::Boolean(true)
            } else if raw.eq_ignore_ascii_case("false") {
                Value::Boolean(false)
            } else if let Ok(n) = raw.parse::<i64>() {
                Value::Sint64(n)
            } else if let Ok(n) = raw.parse::<u64>() {
                Value::Uint64(n)
            } else if let Ok(r) = raw.parse::<f64>() {
                Value::Real64(r)
            } else {
                return Err("unquoted key value is not a number or boolean");
            }
        };
        keys.push((name.to_owned(), value));
        match chars.next() {
            None => return Ok(keys),
            Some((_, ',')) => continue,
            Some(_) => return Err("expected ',' between key bindings"),
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(host) = &self.host {
            write!(f, "//{host}/")?;
        }
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}:")?;
        }
        f.write_str(&self.class_name)?;
        for (i, (name, value)) in self.keys.iter().enumerate() {
            f.write_str(if i == 0 { "." } else { "," })?;
            write!(f, "{name}=")?;
            match value {
                Value::String(s) => write_quoted(f, s)?,
                Value::Reference(path) => write_quoted(f, &path.to_string())?,
                Value::DateTime(d) => write_quoted(f, d.as_str())?,
                Value::Char16(c) => write_quoted(f, &c.to_string())?,
                other => f.write_str(&other.to_text().unwrap_or_default())?,
            }
        }
        Ok(())
    }
}

// ---- schema elements ----

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
    /// The properties of a fresh instance, made on first use (see [`Class::new_instance`]).
    pub template: InstanceTemplate,
}

/// A class's properties as a fresh instance has them, made once per class: an instance of the class holds
/// only the properties set on it and reads the others here (instance building is the bulk of an enumeration,
/// and most of a class's properties stay at their defaults). Not part of the class's value: equal always, and
/// a copy of the class (which may then be changed) starts without one.
#[derive(Default)]
pub struct InstanceTemplate(OnceLock<Arc<Template>>);

/// See [`InstanceTemplate`].
pub struct Template {
    /// The class's name, as every instance made from the template holds it.
    class_name: Name,
    properties: Vec<InstanceProperty>,
    /// The positions of the key properties.
    keys: Vec<usize>,
    /// Each property's name length and position, in that order (see [`Class::property_position`]).
    by_len: Vec<(usize, usize)>,
    /// Where the class's properties were, and how many, when the template was made: while they are still
    /// there the class was not changed (the repository adds and removes properties, never renames one).
    made_from: (usize, usize),
    /// Distinct per template made in this process, never reused: a writer may keep what it derives from a
    /// template's properties under it.
    id: u64,
    /// The most properties set on one of its instances so far: a new instance makes room for that many at
    /// once instead of growing step by step.
    most_set: std::sync::atomic::AtomicUsize,
}

impl Template {
    /// The class's properties at their defaults, in the class's order.
    pub fn properties(&self) -> &[InstanceProperty] {
        &self.properties
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// The position of a property (names compared without case), looked for among the names of its length.
    fn position(&self, name: &str) -> Option<usize> {
        let from = self.by_len.partition_point(|&(len, _)| len < name.len());
        self.by_len[from..]
            .iter()
            .take_while(|&&(len, _)| len == name.len())
            .map(|&(_, at)| at)
            .find(|&at| same_name(&self.properties[at].name, name))
    }
}

fn same_name(declared: &str, name: &str) -> bool {
    declared == name || declared.eq_ignore_ascii_case(name)
}

impl Clone for InstanceTemplate {
    fn clone(&self) -> InstanceTemplate {
        InstanceTemplate::default()
    }
}

impl PartialEq for InstanceTemplate {
    fn eq(&self, _: &InstanceTemplate) -> bool {
        true
    }
}

impl fmt::Debug for InstanceTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InstanceTemplate")
    }
}

impl Class {
    pub fn new(name: &str, superclass: Option<&str>) -> Class {
        Class {
            name: name.to_owned(),
            superclass: superclass.map(str::to_owned),
            qualifiers: Vec::new(),
            properties: Vec::new(),
            methods: Vec::new(),
            template: InstanceTemplate::default(),
        }
    }

    pub fn property(&self, name: &str) -> Option<&Property> {
        self.property_position(name).map(|at| &self.properties[at])
    }

    /// The position of a property (names compared without case). A class has up to about 70 properties, and
    /// providers look one up for each value they set: only the names of the same length are compared.
    pub fn property_position(&self, name: &str) -> Option<usize> {
        match self.template() {
            Some(template) => template.position(name),
            None => (self.properties.iter()).position(|p| same_name(&p.name, name)),
        }
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
            template: InstanceTemplate::default(),
        }
    }

    /// A fresh instance with every property at its default value.
    pub fn new_instance(&self) -> Instance {
        match self.template() {
            Some(template) => Instance {
                class_name: template.class_name.clone(),
                qualifiers: Vec::new(),
                set: Vec::with_capacity(template.most_set.load(Relaxed)),
                template: Some(Arc::clone(template)),
                path: None,
            },
            None => {
                let mut inst = Instance::new(&self.name);
                for p in &self.properties {
                    inst.push_property(InstanceProperty {
                        name: Name::from(p.name.as_str()),
                        ty: p.ty.clone(),
                        value: p.default.clone(),
                    });
                }
                inst
            }
        }
    }

    /// The class's instance template, made on first use; `None` when the class was changed in place after it
    /// was made (the repository only changes classes while it builds them).
    fn template(&self) -> Option<&Arc<Template>> {
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let template = self.template.0.get_or_init(|| {
            Arc::new(Template {
                class_name: Name::interned(&self.name),
                properties: self
                    .properties
                    .iter()
                    .map(|p| InstanceProperty {
                        name: Name::interned(&p.name),
                        ty: p.ty.clone(),
                        value: p.default.clone(),
                    })
                    .collect(),
                keys: (0..self.properties.len())
                    .filter(|&i| self.properties[i].is_key())
                    .collect(),
                by_len: {
                    let mut by_len: Vec<(usize, usize)> = (self.properties.iter().enumerate())
                        .map(|(at, p)| (p.name.len(), at))
                        .collect();
                    by_len.sort_unstable();
                    by_len
                },
                made_from: (self.properties.as_ptr() as usize, self.properties.len()),
                id: IDS.fetch_add(1, Relaxed),
                most_set: std::sync::atomic::AtomicUsize::new(0),
            })
        });
        let here = (self.properties.as_ptr() as usize, self.properties.len());
        let current = template.made_from == here
            || template.properties.len() == self.properties.len()
                && template
                    .properties
                    .iter()
                    .zip(&self.properties)
                    .all(|(t, p)| *t.name == *p.name);
        current.then_some(template)
    }
}

/// Whether a property of type `ty` already has the type that setting `value` would give it (see
/// [`Instance::set`]), found without building that type. A reference keeps its declared class: the class a
/// reference value points to is the value's own, which the writer takes from the value.
fn type_holds(ty: &TypeSpec, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(element, _) => ty.array == Arrayness::Variable && ty.ty == *element,
        Value::Reference(_) => {
            ty.array == Arrayness::Scalar && matches!(ty.ty, CimType::Reference(_))
        }
        Value::Instance(inst) => {
            ty.array == Arrayness::Scalar
                && matches!(&ty.ty, CimType::EmbeddedInstance(Some(c)) if **c == *inst.class_name)
        }
        scalar => ty.array == Arrayness::Scalar && scalar.cim_type().as_ref() == Some(&ty.ty),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceProperty {
    /// Interned for a class's properties (see [`InstanceTemplate`]).
    pub name: Name,
    pub ty: TypeSpec,
    pub value: Value,
}

/// An instance. Made from a class ([`Class::new_instance`]) it holds only the properties set on it and reads
/// the rest from the class's [`Template`]; its properties are always read in the class's order, then those
/// the class does not declare in the order they were added.
#[derive(Clone)]
pub struct Instance {
    pub class_name: Name,
    pub qualifiers: Vec<Qualifier>,
    /// The properties set, ordered by position: below the template's length a position is the template's
    /// property it replaces; above it, a property the template lacks.
    set: Vec<Slot>,
    template: Option<Arc<Template>>,
    /// The instance's path when known (set by providers and by the CIM-XML decoder for named instances).
    pub path: Option<ObjectPath>,
}

#[derive(Clone)]
struct Slot {
    at: usize,
    prop: InstanceProperty,
}

/// One of an instance's properties as [`Instance::slots`] reads it.
pub struct InstanceSlot<'a> {
    pub prop: &'a InstanceProperty,
    /// Its position in the instance's template when it is the template's own, not set on the instance.
    pub template_at: Option<usize>,
    /// Its position in the instance's template when the template declares it, set or not.
    pub class_at: Option<usize>,
}

/// An instance's properties in order (see [`Instance::properties`]).
pub struct Slots<'a> {
    template: &'a [InstanceProperty],
    set: std::iter::Peekable<std::slice::Iter<'a, Slot>>,
    next_at: usize,
}

impl<'a> Iterator for Slots<'a> {
    type Item = InstanceSlot<'a>;

    fn next(&mut self) -> Option<InstanceSlot<'a>> {
        let at = self.next_at;
        if at < self.template.len() {
            self.next_at += 1;
            if let Some(slot) = self.set.next_if(|s| s.at == at) {
                return Some(InstanceSlot {
                    prop: &slot.prop,
                    template_at: None,
                    class_at: Some(at),
                });
            }
            return Some(InstanceSlot {
                prop: &self.template[at],
                template_at: Some(at),
                class_at: Some(at),
            });
        }
        self.set.next().map(|slot| InstanceSlot {
            prop: &slot.prop,
            template_at: None,
            class_at: None,
        })
    }
}

impl PartialEq for Instance {
    fn eq(&self, other: &Instance) -> bool {
        self.class_name == other.class_name
            && self.qualifiers == other.qualifiers
            && self.path == other.path
            && self.properties().eq(other.properties())
    }
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("class_name", &self.class_name)
            .field("qualifiers", &self.qualifiers)
            .field("properties", &self.properties().collect::<Vec<_>>())
            .field("path", &self.path)
            .finish()
    }
}

impl Instance {
    pub fn new(class_name: impl Into<Name>) -> Instance {
        Instance {
            class_name: class_name.into(),
            qualifiers: Vec::new(),
            set: Vec::new(),
            template: None,
            path: None,
        }
    }

    fn template_properties(&self) -> &[InstanceProperty] {
        self.template.as_deref().map_or(&[], Template::properties)
    }

    /// The template the instance reads its unset properties from, when it was made from one.
    pub fn template(&self) -> Option<&Template> {
        self.template.as_deref()
    }

    /// Every property, in order, each with where it is read from.
    pub fn slots(&self) -> Slots<'_> {
        Slots {
            template: self.template_properties(),
            set: self.set.iter().peekable(),
            next_at: 0,
        }
    }

    /// Every property: the class's in its order (at their defaults when not set), then the others.
    pub fn properties(&self) -> impl Iterator<Item = &InstanceProperty> + '_ {
        self.slots().map(|s| s.prop)
    }

    /// The properties set on the instance, each with its position (see [`Instance::slots`]), in order.
    pub fn set_slots(&self) -> impl Iterator<Item = (usize, &InstanceProperty)> + '_ {
        self.set.iter().map(|s| (s.at, &s.prop))
    }

    /// How many properties [`Instance::properties`] reads.
    pub fn property_count(&self) -> usize {
        let template = self.template_properties().len();
        template + self.set.iter().filter(|s| s.at >= template).count()
    }

    /// The properties, owned and in order.
    pub fn into_properties(self) -> Vec<InstanceProperty> {
        let mut inst = self;
        inst.detach();
        inst.set.into_iter().map(|s| s.prop).collect()
    }

    /// Adds a property the instance does not have yet, after all the others (a decoder's instance, whose
    /// properties come in the order they are written).
    pub fn push_property(&mut self, prop: InstanceProperty) {
        let at = self.next_extra();
        self.set.push(Slot { at, prop });
    }

    fn next_extra(&self) -> usize {
        let template = self.template_properties().len();
        self.set
            .last()
            .map_or(template, |s| (s.at + 1).max(template))
    }

    /// Copies the template's unset properties in, so that every property is held (before a change other than
    /// setting one).
    fn detach(&mut self) {
        let Some(template) = self.template.take() else {
            return;
        };
        let set = std::mem::take(&mut self.set);
        let mut set = set.into_iter().peekable();
        let mut all = Vec::with_capacity(template.properties.len() + set.len());
        for (at, default) in template.properties.iter().enumerate() {
            let prop = match set.next_if(|s| s.at == at) {
                Some(slot) => slot.prop,
                None => default.clone(),
            };
            all.push(Slot {
                at: all.len(),
                prop,
            });
        }
        for slot in set {
            all.push(Slot {
                at: all.len(),
                prop: slot.prop,
            });
        }
        self.set = all;
    }

    /// Keeps the properties `keep` accepts.
    pub fn retain_properties(&mut self, mut keep: impl FnMut(&InstanceProperty) -> bool) {
        self.detach();
        self.set.retain(|s| keep(&s.prop));
        // Positions stay ordered; without a template they only order the properties.
    }

    pub fn property(&self, name: &str) -> Option<&InstanceProperty> {
        if let Some(slot) = self
            .set
            .iter()
            .find(|s| s.prop.name.eq_ignore_ascii_case(name))
        {
            return Some(&slot.prop);
        }
        self.template_properties()
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
        let ty = value.type_spec();
        if let Some(slot) = self
            .set
            .iter_mut()
            .find(|s| s.prop.name.eq_ignore_ascii_case(name))
        {
            if let Some(ty) = ty {
                slot.prop.ty = ty;
            }
            slot.prop.value = value;
            return;
        }
        if let Some((at, template)) = self
            .template
            .as_deref()
            .and_then(|t| Some((t.position(name)?, t)))
        {
            let declared = &template.properties[at];
            let prop = InstanceProperty {
                name: declared.name.clone(),
                ty: ty.unwrap_or_else(|| declared.ty.clone()),
                value,
            };
            self.insert(at, prop);
            return;
        }
        let prop = InstanceProperty {
            name: Name::from(name),
            ty: ty.unwrap_or(TypeSpec::scalar(CimType::String)),
            value,
        };
        self.push_property(prop);
    }

    /// Sets a property and gives it the type `ty` (a value checked against its declaration).
    pub fn set_typed(&mut self, name: &str, ty: TypeSpec, value: Value) {
        self.set(name, value);
        if let Some(slot) = self
            .set
            .iter_mut()
            .find(|s| s.prop.name.eq_ignore_ascii_case(name))
        {
            slot.prop.ty = ty;
        }
    }

    /// Places a template property's new value at its position (kept ordered).
    fn insert(&mut self, at: usize, prop: InstanceProperty) {
        // Most properties are set in the class's order: appended without a search.
        let found = match self.set.last() {
            Some(last) if last.at < at => Err(self.set.len()),
            _ => self.set.binary_search_by_key(&at, |s| s.at),
        };
        match found {
            Ok(i) => self.set[i].prop = prop,
            Err(i) => {
                self.set.insert(i, Slot { at, prop });
                // Read before written: a shared line that every worker writes would bounce between them.
                let most = self.template.as_ref().map(|t| &t.most_set);
                if let Some(most) = most.filter(|m| m.load(Relaxed) < self.set.len()) {
                    most.fetch_max(self.set.len(), Relaxed);
                }
            }
        }
    }

    /// `set` of a property expected at position `at` of the instance's class (as `Class::new_instance` made
    /// it): no search by name when it is there.
    pub fn set_at(&mut self, at: usize, name: &str, value: Value) {
        let Some(declared) = self
            .template_properties()
            .get(at)
            .filter(|p| *p.name == *name)
        else {
            return self.set(name, value);
        };
        let ty = if type_holds(&declared.ty, &value) {
            declared.ty.clone()
        } else {
            value.type_spec().unwrap_or_else(|| declared.ty.clone())
        };
        let prop = InstanceProperty {
            name: declared.name.clone(),
            ty,
            value,
        };
        self.insert(at, prop);
    }

    /// Builds the instance path from the class's key properties (namespace given by the caller).
    pub fn path_from_keys(&self, class: &Class, namespace: Option<Name>) -> ObjectPath {
        let mut path = ObjectPath {
            host: None,
            namespace,
            class_name: self.class_name.clone(),
            keys: Vec::new(),
        };
        let of_class = class.template();
        let template = self
            .template
            .as_ref()
            .filter(|t| of_class.is_some_and(|c| Arc::ptr_eq(c, t)));
        if let Some(template) = template {
            // The class's key positions, known once per class (no qualifier search per instance).
            for &at in &template.keys {
                let value = match self.set.binary_search_by_key(&at, |s| s.at) {
                    Ok(i) => self.set[i].prop.value.clone(),
                    Err(_) => template.properties[at].value.clone(),
                };
                path.keys
                    .push((template.properties[at].name.clone(), value));
            }
            return path;
        }
        for key in class.keys() {
            let value = self.get(&key.name).cloned().unwrap_or(Value::Null);
            path.keys.push((key.name.as_str().into(), value));
        }
        path
    }

    /// Keeps only the named properties (a `PropertyList` filter; names case-insensitive).
    pub fn filter_properties(&mut self, names: &[String]) {
        self.retain_properties(|p| names.iter().any(|n| n.eq_ignore_ascii_case(&p.name)));
    }
}

#[cfg(test)]
mod instance_tests {
    use super::*;

    fn probe_class() -> Class {
        let mut class = Class::new("KVM_Probe", None);
        let mut key = Property::new("Name", TypeSpec::scalar(CimType::String));
        key.qualifiers
            .push(Qualifier::new("Key", Value::Boolean(true)));
        class.properties.push(key);
        class
            .properties
            .push(Property::new("Caption", TypeSpec::scalar(CimType::String)));
        let mut state = Property::new("State", TypeSpec::scalar(CimType::Uint16));
        state.default = Value::Uint16(2);
        class.properties.push(state);
        class
    }

    fn names(inst: &Instance) -> Vec<String> {
        inst.properties().map(|p| p.name.to_string()).collect()
    }

    /// An instance made from its class holds only what was set on it, and reads as if it held every property:
    /// the class's in the class's order at their defaults unless set, then those the class lacks.
    #[test]
    fn an_instance_of_a_class_reads_as_every_property_in_order() {
        let class = probe_class();
        let mut inst = class.new_instance();
        assert!(inst.template().is_some());
        inst.set("Extra", Value::Uint8(1));
        inst.set("caption", Value::String("c".into()));
        inst.set_at(0, "Name", Value::String("n".into()));
        assert_eq!(names(&inst), ["Name", "Caption", "State", "Extra"]);
        assert_eq!(inst.property_count(), 4);
        assert_eq!(inst.get("State"), Some(&Value::Uint16(2)));
        assert_eq!(inst.get_str("CAPTION"), Some("c"));
        assert_eq!(inst.get("Missing"), None);

        // The same properties held one by one compare equal and write their keys the same.
        let mut dense = Instance::new("KVM_Probe");
        for p in inst.properties() {
            dense.push_property(p.clone());
        }
        assert_eq!(inst, dense);
        assert_eq!(
            inst.path_from_keys(&class, Some("root/virt".into())),
            dense.path_from_keys(&class, Some("root/virt".into()))
        );
        assert_eq!(inst.path_from_keys(&class, None).key_str("Name"), Some("n"));
        assert_eq!(inst.clone().into_properties(), dense.into_properties());

        // Set again: replaced in place, its type following the value.
        inst.set("State", Value::Uint32(7));
        assert_eq!(names(&inst), ["Name", "Caption", "State", "Extra"]);
        assert_eq!(
            inst.property("State").map(|p| p.ty.clone()),
            Some(TypeSpec::scalar(CimType::Uint32))
        );

        // A filter keeps the order of what it keeps, defaults included.
        let mut filtered = class.new_instance();
        filtered.set("Extra", Value::Uint8(1));
        filtered.filter_properties(&["extra".into(), "state".into()]);
        assert_eq!(names(&filtered), ["State", "Extra"]);
        assert_eq!(filtered.get("State"), Some(&Value::Uint16(2)));
        filtered.set("Name", Value::String("later".into()));
        assert_eq!(names(&filtered), ["State", "Extra", "Name"]);
    }
}

#[cfg(test)]
mod value_tests {
    use super::*;
    use crate::cim::types::DateTimeKind;

    /// Every instance copies its class's properties, one of these each (45 for a RASD, a thousand guests per
    /// enumeration): a variant that grows them (an inline datetime, an owned class name) shows here first.
    #[test]
    fn an_instance_property_stays_thirteen_words() {
        let word = std::mem::size_of::<usize>();
        assert!(std::mem::size_of::<InstanceProperty>() <= 13 * word);
        assert!(std::mem::size_of::<Value>() <= 6 * word);
    }

    #[test]
    fn datetime_forms() {
        let ts = DateTime::parse("20261123140512.123456+060").expect("timestamp");
        assert!(matches!(
            ts.kind(),
            DateTimeKind::Timestamp {
                year: Some(2026),
                utc_offset_minutes: 60,
                ..
            }
        ));
        let iv = DateTime::parse("00000001020304.000005:000").expect("interval");
        assert!(matches!(
            iv.kind(),
            DateTimeKind::Interval {
                days: Some(1),
                hours: Some(2),
                microseconds: Some(5),
                ..
            }
        ));
        let wild = DateTime::parse("2026112314****.******+000").expect("wildcards");
        assert!(matches!(
            wild.kind(),
            DateTimeKind::Timestamp {
                minute: None,
                hour: Some(14),
                ..
            }
        ));
        for bad in [
            "2026112314051.123456+060",
            "20261323140512.123456+060",
            "20261123140512,123456+060",
            "20261123140512.123456*060",
            "00000001020304.000005:001",
            "2026112314*512.123456+000",
            "00000001250304.000005:000",
        ] {
            assert!(DateTime::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            DateTime::interval_from_micros(90_061_000_001).as_str(),
            "00000001010101.000001:000"
        );
    }

    #[test]
    fn scalar_text_round_trip() {
        assert_eq!(
            Value::parse_scalar(&CimType::Uint16, "9"),
            Ok(Value::Uint16(9))
        );
        assert_eq!(
            Value::parse_scalar(&CimType::Sint8, "-128"),
            Ok(Value::Sint8(-128))
        );
        assert!(Value::parse_scalar(&CimType::Uint8, "256").is_err());
        assert!(Value::parse_scalar(&CimType::Uint8, "-1").is_err());
        assert_eq!(
            Value::parse_scalar(&CimType::Uint32, "0x10"),
            Ok(Value::Uint32(16))
        );
        assert_eq!(
            Value::parse_scalar(&CimType::Boolean, "true"),
            Ok(Value::Boolean(true))
        );
        assert!(Value::parse_scalar(&CimType::Real64, "inf").is_err());
        assert_eq!(Value::Boolean(false).to_text().as_deref(), Some("FALSE"));
        assert_eq!(Value::Real64(1.5).to_text().as_deref(), Some("1.5"));
    }

    #[test]
    fn coercion() {
        let v = Value::String("2".into()).coerce(&TypeSpec::scalar(CimType::Uint16));
        assert_eq!(v, Ok(Value::Uint16(2)));
        let arr = Value::Array(
            CimType::String,
            vec![Value::String("1".into()), Value::Null],
        );
        assert_eq!(
            arr.coerce(&TypeSpec::array(CimType::Uint8)),
            Ok(Value::Array(
                CimType::Uint8,
                vec![Value::Uint8(1), Value::Null]
            ))
        );
        assert!(Value::Uint32(70000)
            .coerce(&TypeSpec::scalar(CimType::Uint16))
            .is_err());
        assert!(Value::Boolean(true)
            .coerce(&TypeSpec::scalar(CimType::Uint16))
            .is_err());
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn canonical_form_round_trip() {
        let text =
            r#"root/virt:KVM_ComputerSystem.CreationClassName="KVM_ComputerSystem",Name="x""#;
        let path = ObjectPath::parse(text).expect("parse");
        assert_eq!(path.namespace.as_deref(), Some("root/virt"));
        assert_eq!(path.class_name, "KVM_ComputerSystem");
        assert_eq!(path.key_str("name"), Some("x"));
        assert_eq!(path.to_string(), text);
        assert_eq!(
            path,
            ObjectPath::instance(
                Some("root/virt"),
                "KVM_ComputerSystem",
                &[("CreationClassName", "KVM_ComputerSystem"), ("Name", "x")]
            )
        );
    }

    #[test]
    fn escapes_numbers_refs_host() {
        let inner = ObjectPath::instance(
            Some("root/virt"),
            "KVM_ComputerSystem",
            &[("Name", "a\"b\\c,d")],
        );
        let outer = ObjectPath::class(Some("root/virt"), "KVM_SystemDevice")
            .with_key("GroupComponent", Value::Reference(Arc::new(inner.clone())))
            .with_key("Count", Value::Uint16(3))
            .with_key("Flag", Value::Boolean(true));
        let text = outer.to_string();
        let back = ObjectPath::parse(&text).expect("parse");
        let group = back
            .key_str("GroupComponent")
            .expect("string form of the reference");
        assert_eq!(ObjectPath::parse(group).expect("inner"), inner);
        assert!(back.same_object(&outer));
        let hosted = ObjectPath::parse(r#"//host.example:5988/root/virt:C.K="v""#).expect("host");
        assert_eq!(hosted.host.as_deref(), Some("host.example:5988"));
        assert_eq!(
            hosted.to_string(),
            r#"//host.example:5988/root/virt:C.K="v""#
        );
        let single = ObjectPath::parse("root/interop:CIM_ObjectManager=@").expect("singleton");
        assert!(single.keys.is_empty());
        for bad in [
            "",
            "root/virt:",
            "C.K",
            "C.K=\"unterminated",
            "C.K=abc",
            "C.K=\"a\"x",
            "9C.K=1",
        ] {
            assert!(ObjectPath::parse(bad).is_err(), "{bad}");
        }
    }
}
