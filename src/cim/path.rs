//! CIM object paths: namespace, class and key bindings, with the canonical string form parsed and formatted.
//!
//! String form (DSP0004 object name, as wbemcli and pywbem print it):
//! `[//host/]root/virt:KVM_ComputerSystem.CreationClassName="KVM_ComputerSystem",Name="x"`.
//! String and reference keys are double-quoted with `\"` and `\\` escaped; numbers and booleans are bare;
//! a singleton class has `Class=@`.

use std::fmt;

use super::value::Value;

#[derive(Debug, Clone)]
pub struct ObjectPath {
    /// Host (and port) when the path is fully qualified, as in `VALUE.OBJECTWITHPATH`.
    pub host: Option<String>,
    /// Namespace such as `root/virt`; `None` for a local path.
    pub namespace: Option<String>,
    pub class_name: String,
    /// Key bindings in the order given; empty for a class path (or a singleton instance).
    pub keys: Vec<(String, Value)>,
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
            namespace: namespace.map(str::to_owned),
            class_name: class_name.to_owned(),
            keys: Vec::new(),
        }
    }

    /// An instance path with string keys (the common case in the virtualization model).
    pub fn instance(
        namespace: Option<&str>,
        class_name: &str,
        keys: &[(&str, &str)],
    ) -> ObjectPath {
        ObjectPath {
            host: None,
            namespace: namespace.map(str::to_owned),
            class_name: class_name.to_owned(),
            keys: keys
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
                .collect(),
        }
    }

    pub fn with_key(mut self, name: &str, value: Value) -> ObjectPath {
        self.keys.push((name.to_owned(), value));
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
    pub fn sorted_keys(&self) -> Vec<&(String, Value)> {
        let mut keys: Vec<&(String, Value)> = self.keys.iter().collect();
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
            host,
            namespace: namespace.filter(|ns| !ns.is_empty()),
            class_name: class_name.to_owned(),
            keys,
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

#[cfg(test)]
mod tests {
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
            .with_key("GroupComponent", Value::Reference(Box::new(inner.clone())))
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
