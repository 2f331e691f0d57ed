//! CIM-XML requests: the `SIMPLEREQ` envelope, an intrinsic call (its operation typed as [`IntrinsicOp`]) or an
//! extrinsic method call, and the parameter values, instances, classes and paths they carry.

use std::sync::Arc;

use super::error::{invalid, CallId, CimXmlError, Limits};
use super::tree::{parse_tree, CimNode, Node};
use crate::cim::{
    Arrayness, CimType, Class, Flavor, Instance, InstanceProperty, Method, ObjectPath, Parameter,
    Property, Qualifier, QualifierDecl, Scope, TypeSpec, Value, ValueError,
};

/// One decoded operation request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub message_id: String,
    pub protocol_version: String,
    pub call: Call,
}

/// Declares [`IntrinsicOp`] with its wire names and whether it only reads, so each is stated once.
macro_rules! intrinsic_ops {
    (@reads read) => { true };
    (@reads write) => { false };
    ($($(#[$doc:meta])* $op:ident: $kind:ident,)*) => {
        /// The intrinsic operations of DSP0200, decoded from the `IMETHODCALL` NAME. A name outside the list is
        /// kept as sent, so the error that refuses it can name it.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum IntrinsicOp {
            $($(#[$doc])* $op,)*
            Unknown(String),
        }

        impl IntrinsicOp {
            /// Every known operation, in DSP0200 order.
            pub const ALL: &'static [IntrinsicOp] = &[$(IntrinsicOp::$op,)*];

            /// The operation a wire name denotes; names are case-sensitive, as DSP0200 spells them.
            pub fn parse(name: &str) -> IntrinsicOp {
                match name {
                    $(stringify!($op) => IntrinsicOp::$op,)*
                    other => IntrinsicOp::Unknown(other.to_owned()),
                }
            }

            /// Whether the operation only reads (what a read-only user may call). An unknown one does not.
            pub fn reads_only(&self) -> bool {
                match self {
                    $(IntrinsicOp::$op => intrinsic_ops!(@reads $kind),)*
                    IntrinsicOp::Unknown(_) => false,
                }
            }

            /// The wire name (for an unknown operation, the name the client sent).
            pub fn as_str(&self) -> &str {
                match self {
                    $(IntrinsicOp::$op => stringify!($op),)*
                    IntrinsicOp::Unknown(name) => name,
                }
            }
        }
    };
}

intrinsic_ops! {
    GetClass: read,
    EnumerateClasses: read,
    EnumerateClassNames: read,
    GetInstance: read,
    EnumerateInstances: read,
    EnumerateInstanceNames: read,
    GetProperty: read,
    SetProperty: write,
    CreateInstance: write,
    ModifyInstance: write,
    DeleteInstance: write,
    CreateClass: write,
    ModifyClass: write,
    DeleteClass: write,
    Associators: read,
    AssociatorNames: read,
    References: read,
    ReferenceNames: read,
    ExecQuery: read,
    GetQualifier: read,
    SetQualifier: write,
    DeleteQualifier: write,
    EnumerateQualifiers: read,
    OpenEnumerateInstances: read,
    OpenEnumerateInstancePaths: read,
    OpenAssociatorInstances: read,
    OpenAssociatorInstancePaths: read,
    OpenReferenceInstances: read,
    OpenReferenceInstancePaths: read,
    OpenQueryInstances: read,
    PullInstancesWithPath: read,
    PullInstancePaths: read,
    PullInstances: read,
    EnumerationCount: read,
    CloseEnumeration: read,
}

impl std::fmt::Display for IntrinsicOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// An intrinsic operation (GetClass, EnumerateInstances, ...) on a namespace.
    Intrinsic {
        /// The operation the `IMETHODCALL` names, decoded once here.
        name: IntrinsicOp,
        namespace: String,
        params: Vec<(String, ParamValue)>,
    },
    /// An extrinsic method on an instance path or (for static-like calls) a class path; the target carries
    /// the namespace.
    Extrinsic {
        name: String,
        target: ObjectPath,
        params: Vec<(String, ParamValue)>,
    },
}

impl Call {
    /// The operation or method name as the request spelled it.
    pub fn name(&self) -> &str {
        match self {
            Call::Intrinsic { name, .. } => name.as_str(),
            Call::Extrinsic { name, .. } => name,
        }
    }

    /// Whether the call only reads: a read intrinsic operation; never an extrinsic method, which may do anything.
    pub fn reads_only(&self) -> bool {
        match self {
            Call::Intrinsic { name, .. } => name.reads_only(),
            Call::Extrinsic { .. } => false,
        }
    }

    pub fn params(&self) -> &[(String, ParamValue)] {
        match self {
            Call::Intrinsic { params, .. } | Call::Extrinsic { params, .. } => params,
        }
    }

    /// A parameter by name (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&ParamValue> {
        self.params()
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// A boolean intrinsic parameter (`<VALUE>TRUE</VALUE>`), `None` when absent or NULL.
    pub fn bool_param(&self, name: &str) -> Result<Option<bool>, ValueError> {
        match self.param(name) {
            None | Some(ParamValue::Null) => Ok(None),
            Some(p) => p
                .to_value(&TypeSpec::scalar(CimType::Boolean))
                .map(|v| v.as_bool()),
        }
    }

    /// A string intrinsic parameter (Role, ResultRole, QueryLanguage...).
    pub fn string_param(&self, name: &str) -> Result<Option<String>, ValueError> {
        match self.param(name) {
            None | Some(ParamValue::Null) => Ok(None),
            Some(p) => match p.to_value(&TypeSpec::scalar(CimType::String))? {
                Value::String(s) => Ok(Some(s)),
                _ => Ok(None),
            },
        }
    }

    /// A class-name parameter (`<CLASSNAME NAME=.../>`, or a string value).
    pub fn class_name_param(&self, name: &str) -> Option<&str> {
        match self.param(name)? {
            ParamValue::ClassName(c) => Some(c),
            ParamValue::Text(t) => Some(t),
            _ => None,
        }
    }

    /// PropertyList: `None` when absent or NULL (all properties), else the names.
    pub fn property_list(&self) -> Result<Option<Vec<String>>, ValueError> {
        match self.param("PropertyList") {
            None | Some(ParamValue::Null) => Ok(None),
            Some(p) => match p.to_value(&TypeSpec::array(CimType::String))? {
                Value::Array(_, items) => Ok(Some(
                    items
                        .into_iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                )),
                _ => Ok(None),
            },
        }
    }
}

/// The value of an `IPARAMVALUE` or `PARAMVALUE`, as sent.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// No child element: the parameter is NULL.
    Null,
    /// A `VALUE` without a type (intrinsic parameters, wbemcli's untyped method parameters).
    Text(String),
    /// A `VALUE.ARRAY` without a type; `None` for `VALUE.NULL` elements.
    TextArray(Vec<Option<String>>),
    /// A value typed by `PARAMTYPE` (or an embedded instance / class decoded from its XML text).
    Typed(Value),
    Reference(ObjectPath),
    ReferenceArray(Vec<ObjectPath>),
    ClassName(String),
    InstanceName(ObjectPath),
    /// An `INSTANCE`, or a `VALUE.NAMEDINSTANCE` (then `path` is set).
    Instance(Instance),
    Class(Class),
    QualifierDecl(QualifierDecl),
}

impl ParamValue {
    /// The parameter as a value of the declared type, converting untyped text the way SFCB and Pegasus do
    /// (wbemcli sends every method parameter as an untyped string).
    pub fn to_value(&self, spec: &TypeSpec) -> Result<Value, ValueError> {
        let mismatch = |found: &'static str| ValueError::TypeMismatch {
            expected: spec.ty.name().into(),
            found,
        };
        match self {
            ParamValue::Null => Ok(Value::Null),
            ParamValue::Text(text) => {
                if spec.is_array() {
                    Value::Array(CimType::String, vec![Value::String(text.clone())]).coerce(spec)
                } else {
                    Value::String(text.clone()).coerce(spec)
                }
            }
            ParamValue::TextArray(items) => {
                let items = items
                    .iter()
                    .map(|i| i.clone().map_or(Value::Null, Value::String))
                    .collect();
                Value::Array(CimType::String, items).coerce(spec)
            }
            ParamValue::Typed(value) => value.clone().coerce(spec),
            ParamValue::Reference(path) | ParamValue::InstanceName(path) => {
                Value::Reference(Arc::new(path.clone())).coerce(spec)
            }
            ParamValue::ReferenceArray(paths) => {
                let items = paths
                    .iter()
                    .map(|p| Value::Reference(Arc::new(p.clone())))
                    .collect();
                Value::Array(CimType::Reference(None), items).coerce(spec)
            }
            ParamValue::Instance(inst) => Value::Instance(Box::new(inst.clone())).coerce(spec),
            ParamValue::Class(class) => Value::Class(Box::new(class.clone())).coerce(spec),
            ParamValue::ClassName(name) => match spec.ty {
                CimType::String => Ok(Value::String(name.clone())),
                _ => Err(mismatch("class name")),
            },
            ParamValue::QualifierDecl(_) => Err(mismatch("qualifier declaration")),
        }
    }
}

/// Decodes a CIM-XML operation request (`CIM/MESSAGE/SIMPLEREQ`).
pub fn parse_request(bytes: &[u8], limits: &Limits) -> Result<Request, CimXmlError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| CimXmlError::NotWellFormed(format!("invalid UTF-8: {e}")))?;
    // Clients sometimes send whitespace before the XML declaration; tolerate it.
    let root = parse_tree(text.trim_start(), limits)?;
    if root.name != "CIM" {
        return Err(invalid(format!(
            "root element is <{}>, not <CIM>",
            root.name
        )));
    }
    let cim_version = root.req_attr("CIMVERSION")?;
    if !cim_version.starts_with("2.") {
        return Err(CimXmlError::UnsupportedCimVersion(cim_version.into()));
    }
    let dtd_version = root.req_attr("DTDVERSION")?;
    if !dtd_version.starts_with("2.") {
        return Err(CimXmlError::UnsupportedDtdVersion(dtd_version.into()));
    }
    let message = root.req_child("MESSAGE")?;
    let message_id = message.req_attr("ID")?.to_owned();
    let protocol_version = message.req_attr("PROTOCOLVERSION")?.to_owned();
    if !protocol_version.starts_with("1.") {
        return Err(CimXmlError::UnsupportedProtocolVersion(protocol_version));
    }
    if message.child("MULTIREQ").is_some() {
        return Err(CimXmlError::MultipleRequests);
    }
    let simple = message.req_child("SIMPLEREQ")?;
    let call_id = [("IMETHODCALL", true), ("METHODCALL", false)]
        .iter()
        .find_map(|(element, intrinsic)| {
            let method = simple.child(element)?.cim_attr("NAME")?;
            Some(CallId {
                message_id: message_id.clone(),
                method: method.to_owned(),
                intrinsic: *intrinsic,
            })
        });
    let ctx = Ctx {
        limits,
        embedding: 0,
    };
    let call = parse_call(simple, &ctx).map_err(|e| match e {
        CimXmlError::ServerLimit { what, .. } => CimXmlError::ServerLimit {
            what,
            call: call_id,
        },
        other => other,
    })?;
    Ok(Request {
        message_id,
        protocol_version,
        call,
    })
}

/// Where the message ID's value lies in a request's bytes, found without decoding them: two requests whose bytes
/// differ only there ask the same thing, so an answer may be reused for the second without decoding it. `None`
/// unless the `MESSAGE` start tag is plainly the first element inside `CIM` (nothing but the XML declaration
/// and `<CIM ...>` before it: no comment, processing instruction or DOCTYPE could hide another) and the value is
/// plain (1 to 64 letters, digits, `.`, `_`, `:` or `-`: it reads the same raw as decoded and is written back
/// unescaped).
pub fn message_id_span(bytes: &[u8]) -> Option<std::ops::Range<usize>> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = bytes
        .windows(9)
        .position(|w| w.starts_with(b"<MESSAGE") && is_space(w[8]))?;
    for (at, _) in bytes[..start]
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'<')
    {
        let rest = &bytes[at..start];
        let plain = (rest.starts_with(b"<?xml") && rest.get(5).is_some_and(|b| is_space(*b)))
            || (rest.starts_with(b"<CIM")
                && rest.get(4).is_some_and(|b| is_space(*b) || *b == b'>'));
        if !plain {
            return None;
        }
    }
    // The start tag's attributes, one by one.
    let mut i = start + 8;
    let mut found = None;
    loop {
        while bytes.get(i).is_some_and(|b| is_space(*b)) {
            i += 1;
        }
        match bytes.get(i)? {
            b'>' | b'/' => return found,
            _ => {}
        }
        let name_start = i;
        while bytes
            .get(i)
            .is_some_and(|b| !is_space(*b) && !matches!(b, b'=' | b'>' | b'/'))
        {
            i += 1;
        }
        let name = &bytes[name_start..i];
        while bytes.get(i).is_some_and(|b| is_space(*b)) {
            i += 1;
        }
        if *bytes.get(i)? != b'=' {
            return None;
        }
        i += 1;
        while bytes.get(i).is_some_and(|b| is_space(*b)) {
            i += 1;
        }
        let quote = *bytes.get(i)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let value_start = i + 1;
        let len = bytes[value_start..].iter().position(|b| *b == quote)?;
        let value = &bytes[value_start..value_start + len];
        if value.contains(&b'<') {
            return None;
        }
        if name == b"ID" {
            let plain = (1..=64).contains(&value.len())
                && value
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
            if !plain || found.is_some() {
                return None;
            }
            found = Some(value_start..value_start + len);
        }
        i = value_start + len + 1;
    }
}

fn parse_call(simple: &Node, ctx: &Ctx<'_>) -> Result<Call, CimXmlError> {
    let call = if let Some(call) = simple.child("IMETHODCALL") {
        let name = IntrinsicOp::parse(call.req_attr("NAME")?);
        let namespace = local_namespace(call.req_child("LOCALNAMESPACEPATH")?)?;
        let mut params = Vec::new();
        for p in call.children.iter().filter(|c| c.name == "IPARAMVALUE") {
            ctx.count(params.len(), ctx.limits.max_params, "parameters")?;
            params.push((p.req_attr("NAME")?.to_owned(), ctx.param_value(p)?));
        }
        Call::Intrinsic {
            name,
            namespace,
            params,
        }
    } else if let Some(call) = simple.child("METHODCALL") {
        let name = call.req_attr("NAME")?.to_owned();
        let target = if let Some(lip) = call.child("LOCALINSTANCEPATH") {
            let mut path = ctx.instance_name(lip.req_child("INSTANCENAME")?)?;
            path.namespace = Some(local_namespace(lip.req_child("LOCALNAMESPACEPATH")?)?.into());
            path
        } else if let Some(lcp) = call.child("LOCALCLASSPATH") {
            let namespace = local_namespace(lcp.req_child("LOCALNAMESPACEPATH")?)?;
            ObjectPath::class(
                Some(&namespace),
                lcp.req_child("CLASSNAME")?.req_attr("NAME")?,
            )
        } else {
            return Err(invalid(
                "<METHODCALL> lacks LOCALINSTANCEPATH or LOCALCLASSPATH",
            ));
        };
        let mut params = Vec::new();
        for p in call.children.iter().filter(|c| c.name == "PARAMVALUE") {
            ctx.count(params.len(), ctx.limits.max_params, "parameters")?;
            params.push((p.req_attr("NAME")?.to_owned(), ctx.param_value(p)?));
        }
        Call::Extrinsic {
            name,
            target,
            params,
        }
    } else {
        return Err(invalid(
            "<SIMPLEREQ> holds neither IMETHODCALL nor METHODCALL",
        ));
    };
    Ok(call)
}

/// Decodes an embedded object sent as CIM-XML text (`<INSTANCE ...>` or `<CLASS ...>`), as in a
/// `PARAMVALUE EmbeddedObject="instance"` or a string parameter whose text starts with `<`.
pub fn parse_embedded_object(text: &str, limits: &Limits) -> Result<Value, CimXmlError> {
    Ctx {
        limits,
        embedding: 1,
    }
    .embedded(text)
}

fn local_namespace(node: &Node) -> Result<String, CimXmlError> {
    let parts: Result<Vec<&str>, CimXmlError> = node
        .children
        .iter()
        .filter(|c| c.name == "NAMESPACE")
        .map(|c| c.req_attr("NAME"))
        .collect();
    let parts = parts?;
    if parts.is_empty() {
        return Err(invalid("<LOCALNAMESPACEPATH> has no NAMESPACE"));
    }
    Ok(parts.join("/"))
}

fn type_attr(node: &Node, attr: &str) -> Result<Option<CimType>, CimXmlError> {
    match node.cim_attr(attr) {
        None => Ok(None),
        Some(t) => CimType::from_name(t)
            .map(Some)
            .ok_or_else(|| invalid(format!("unknown type {t:?} in <{}>", node.name))),
    }
}

fn bool_attr(node: &Node, attr: &str, default: bool) -> Result<bool, CimXmlError> {
    match node.cim_attr(attr) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(invalid(format!("{attr}={v:?} is not a boolean"))),
    }
}

fn value_error(e: ValueError) -> CimXmlError {
    invalid(e.to_string())
}

struct Ctx<'l> {
    limits: &'l Limits,
    embedding: usize,
}

impl Ctx<'_> {
    fn count(&self, have: usize, max: usize, what: &'static str) -> Result<(), CimXmlError> {
        if have >= max {
            Err(CimXmlError::ServerLimit { what, call: None })
        } else {
            Ok(())
        }
    }

    fn param_value(&self, p: &Node) -> Result<ParamValue, CimXmlError> {
        let declared = type_attr(p, "PARAMTYPE")?;
        let embedded = p
            .cim_attr("EmbeddedObject")
            .or_else(|| p.cim_attr("EMBEDDEDOBJECT"))
            .is_some();
        let Some(child) = p.only_child()? else {
            return Ok(ParamValue::Null);
        };
        let value = match child.name.as_str() {
            "VALUE" if embedded => ParamValue::Typed(self.embedded(&child.text)?),
            "VALUE" => match &declared {
                Some(ty) if *ty != CimType::String => {
                    ParamValue::Typed(Value::parse_scalar(ty, &child.text).map_err(value_error)?)
                }
                Some(_) => ParamValue::Typed(Value::String(child.text.clone())),
                None => ParamValue::Text(child.text.clone()),
            },
            "VALUE.ARRAY" => {
                let items: Vec<Option<String>> = child
                    .children
                    .iter()
                    .map(|v| {
                        if v.name == "VALUE.NULL" {
                            None
                        } else {
                            Some(v.text.clone())
                        }
                    })
                    .collect();
                match &declared {
                    _ if embedded => {
                        let values: Result<Vec<Value>, CimXmlError> = items
                            .iter()
                            .map(|i| i.as_deref().map_or(Ok(Value::Null), |t| self.embedded(t)))
                            .collect();
                        ParamValue::Typed(Value::Array(CimType::EmbeddedInstance(None), values?))
                    }
                    Some(ty) => {
                        let values: Result<Vec<Value>, ValueError> = items
                            .iter()
                            .map(|i| {
                                i.as_deref()
                                    .map_or(Ok(Value::Null), |t| Value::parse_scalar(ty, t))
                            })
                            .collect();
                        ParamValue::Typed(Value::Array(ty.clone(), values.map_err(value_error)?))
                    }
                    None => ParamValue::TextArray(items),
                }
            }
            "VALUE.REFERENCE" => ParamValue::Reference(self.value_reference(child)?),
            "VALUE.REFARRAY" => {
                let refs: Result<Vec<ObjectPath>, CimXmlError> = child
                    .children
                    .iter()
                    .filter(|c| c.name == "VALUE.REFERENCE")
                    .map(|c| self.value_reference(c))
                    .collect();
                ParamValue::ReferenceArray(refs?)
            }
            "CLASSNAME" => ParamValue::ClassName(child.req_attr("NAME")?.to_owned()),
            "INSTANCENAME" => ParamValue::InstanceName(self.instance_name(child)?),
            "INSTANCE" => ParamValue::Instance(self.instance(child)?),
            "VALUE.NAMEDINSTANCE" => {
                let path = self.instance_name(child.req_child("INSTANCENAME")?)?;
                let mut inst = self.instance(child.req_child("INSTANCE")?)?;
                inst.path = Some(path);
                ParamValue::Instance(inst)
            }
            "CLASS" => ParamValue::Class(self.class(child)?),
            "QUALIFIER.DECLARATION" => ParamValue::QualifierDecl(self.qualifier_decl(child)?),
            other => return Err(invalid(format!("unexpected <{other}> in <{}>", p.name))),
        };
        Ok(value)
    }

    fn embedded(&self, text: &str) -> Result<Value, CimXmlError> {
        let trimmed = text.trim();
        if !trimmed.starts_with('<') {
            // MOF text (`instance of X { ... };`) needs the class repository: the operation layer decodes it.
            return Ok(Value::String(text.to_owned()));
        }
        if self.embedding >= self.limits.max_embedding {
            return Err(CimXmlError::LimitExceeded("embedded object nesting"));
        }
        let node = parse_tree(trimmed, self.limits)?;
        let inner = Ctx {
            limits: self.limits,
            embedding: self.embedding + 1,
        };
        match node.name.as_str() {
            "INSTANCE" => Ok(Value::Instance(Box::new(inner.instance(&node)?))),
            "CLASS" => Ok(Value::Class(Box::new(inner.class(&node)?))),
            other => Err(invalid(format!(
                "embedded object is <{other}>, not INSTANCE or CLASS"
            ))),
        }
    }

    fn key_value(&self, kv: &Node) -> Result<Value, CimXmlError> {
        if let Some(ty) = type_attr(kv, "TYPE")? {
            return Value::parse_scalar(&ty, &kv.text).map_err(value_error);
        }
        let text = kv.text.as_str();
        match kv.cim_attr("VALUETYPE").unwrap_or("string") {
            "string" => Ok(Value::String(text.to_owned())),
            "boolean" => Value::parse_scalar(&CimType::Boolean, text).map_err(value_error),
            "numeric" => {
                let t = text.trim();
                if let Ok(n) = t.parse::<i64>() {
                    Ok(Value::Sint64(n))
                } else if let Ok(n) = t.parse::<u64>() {
                    Ok(Value::Uint64(n))
                } else {
                    Value::parse_scalar(&CimType::Real64, t).map_err(value_error)
                }
            }
            other => Err(invalid(format!("KEYVALUE VALUETYPE={other:?}"))),
        }
    }

    fn instance_name(&self, node: &Node) -> Result<ObjectPath, CimXmlError> {
        if node.name != "INSTANCENAME" {
            return Err(invalid(format!(
                "expected <INSTANCENAME>, found <{}>",
                node.name
            )));
        }
        let mut path = ObjectPath::class(None, node.req_attr("CLASSNAME")?);
        for child in &node.children {
            match child.name.as_str() {
                "KEYBINDING" => {
                    self.count(path.keys.len(), self.limits.max_keys, "key bindings")?;
                    let name = child.req_attr("NAME")?;
                    let value = match child.only_child()? {
                        Some(kv) if kv.name == "KEYVALUE" => self.key_value(kv)?,
                        Some(vr) if vr.name == "VALUE.REFERENCE" => {
                            Value::Reference(Arc::new(self.value_reference(vr)?))
                        }
                        _ => return Err(invalid("<KEYBINDING> needs KEYVALUE or VALUE.REFERENCE")),
                    };
                    path.keys.push((name.into(), value));
                }
                // A single unnamed key (DSP0201 allows it) gets no name we could bind: refuse it clearly.
                "KEYVALUE" | "VALUE.REFERENCE" => {
                    return Err(invalid("unnamed key values are not supported"))
                }
                other => return Err(invalid(format!("unexpected <{other}> in <INSTANCENAME>"))),
            }
        }
        Ok(path)
    }

    fn value_reference(&self, node: &Node) -> Result<ObjectPath, CimXmlError> {
        let child = node
            .only_child()?
            .ok_or_else(|| invalid("empty <VALUE.REFERENCE>"))?;
        match child.name.as_str() {
            "INSTANCENAME" => self.instance_name(child),
            "LOCALINSTANCEPATH" => {
                let mut path = self.instance_name(child.req_child("INSTANCENAME")?)?;
                path.namespace =
                    Some(local_namespace(child.req_child("LOCALNAMESPACEPATH")?)?.into());
                Ok(path)
            }
            "INSTANCEPATH" => {
                let mut path = self.instance_name(child.req_child("INSTANCENAME")?)?;
                let (host, ns) = namespace_path(child.req_child("NAMESPACEPATH")?)?;
                path.host = Some(host.into());
                path.namespace = Some(ns.into());
                Ok(path)
            }
            "CLASSNAME" => Ok(ObjectPath::class(None, child.req_attr("NAME")?)),
            "LOCALCLASSPATH" => {
                let ns = local_namespace(child.req_child("LOCALNAMESPACEPATH")?)?;
                Ok(ObjectPath::class(
                    Some(&ns),
                    child.req_child("CLASSNAME")?.req_attr("NAME")?,
                ))
            }
            "CLASSPATH" => {
                let (host, ns) = namespace_path(child.req_child("NAMESPACEPATH")?)?;
                let mut path =
                    ObjectPath::class(Some(&ns), child.req_child("CLASSNAME")?.req_attr("NAME")?);
                path.host = Some(host.into());
                Ok(path)
            }
            other => Err(invalid(format!(
                "unexpected <{other}> in <VALUE.REFERENCE>"
            ))),
        }
    }

    fn qualifier(&self, node: &Node) -> Result<Qualifier, CimXmlError> {
        let name = node.req_attr("NAME")?;
        let ty = type_attr(node, "TYPE")?.unwrap_or(CimType::String);
        let value = self.plain_value(node, &ty)?;
        let flavor = Flavor {
            overridable: bool_attr(node, "OVERRIDABLE", true)?,
            to_subclass: bool_attr(node, "TOSUBCLASS", true)?,
            translatable: bool_attr(node, "TRANSLATABLE", false)?,
        };
        Ok(Qualifier {
            name: name.to_owned(),
            value,
            flavor,
            propagated: bool_attr(node, "PROPAGATED", false)?,
        })
    }

    /// The `VALUE` / `VALUE.ARRAY` child of a qualifier or property, parsed as `ty`.
    fn plain_value(&self, node: &Node, ty: &CimType) -> Result<Value, CimXmlError> {
        let embedded = node
            .cim_attr("EmbeddedObject")
            .or_else(|| node.cim_attr("EMBEDDEDOBJECT"))
            .is_some();
        if let Some(v) = node.child("VALUE") {
            if embedded {
                return self.embedded(&v.text);
            }
            return Value::parse_scalar(ty, &v.text).map_err(value_error);
        }
        if let Some(arr) = node.child("VALUE.ARRAY") {
            let mut items = Vec::with_capacity(arr.children.len());
            for v in &arr.children {
                items.push(match v.name.as_str() {
                    "VALUE.NULL" => Value::Null,
                    _ if embedded => self.embedded(&v.text)?,
                    _ => Value::parse_scalar(ty, &v.text).map_err(value_error)?,
                });
            }
            return Ok(Value::Array(ty.clone(), items));
        }
        Ok(Value::Null)
    }

    fn qualifiers(&self, node: &Node) -> Result<Vec<Qualifier>, CimXmlError> {
        node.children
            .iter()
            .filter(|c| c.name == "QUALIFIER")
            .map(|c| self.qualifier(c))
            .collect()
    }

    fn property(&self, node: &Node) -> Result<Property, CimXmlError> {
        let name = node.req_attr("NAME")?.to_owned();
        let qualifiers = self.qualifiers(node)?;
        let (ty, default) = match node.name.as_str() {
            "PROPERTY" => {
                let ty = type_attr(node, "TYPE")?.unwrap_or(CimType::String);
                let default = self.plain_value(node, &ty)?;
                let ty = embedded_kind(node, ty);
                (TypeSpec::scalar(ty), default)
            }
            "PROPERTY.ARRAY" => {
                let ty = type_attr(node, "TYPE")?.unwrap_or(CimType::String);
                let default = self.plain_value(node, &ty)?;
                let array = match node.cim_attr("ARRAYSIZE") {
                    Some(n) => Arrayness::Fixed(n.parse().map_err(|_| invalid("bad ARRAYSIZE"))?),
                    None => Arrayness::Variable,
                };
                (
                    TypeSpec {
                        ty: embedded_kind(node, ty),
                        array,
                    },
                    default,
                )
            }
            "PROPERTY.REFERENCE" => {
                let class = node.cim_attr("REFERENCECLASS").map(Into::into);
                let default = match node.child("VALUE.REFERENCE") {
                    Some(vr) => Value::Reference(Arc::new(self.value_reference(vr)?)),
                    None => Value::Null,
                };
                (TypeSpec::scalar(CimType::Reference(class)), default)
            }
            other => return Err(invalid(format!("<{other}> is not a property"))),
        };
        Ok(Property {
            name,
            ty,
            default,
            qualifiers,
            class_origin: node.cim_attr("CLASSORIGIN").map(str::to_owned),
            propagated: bool_attr(node, "PROPAGATED", false)?,
        })
    }

    fn instance(&self, node: &Node) -> Result<Instance, CimXmlError> {
        let mut inst = Instance::new(node.req_attr("CLASSNAME")?);
        inst.qualifiers = self.qualifiers(node)?;
        for child in &node.children {
            if matches!(
                child.name.as_str(),
                "PROPERTY" | "PROPERTY.ARRAY" | "PROPERTY.REFERENCE"
            ) {
                self.count(
                    inst.property_count(),
                    self.limits.max_properties,
                    "properties",
                )?;
                let p = self.property(child)?;
                if inst.property(&p.name).is_some() {
                    return Err(invalid(format!("property {} given twice", p.name)));
                }
                inst.push_property(InstanceProperty {
                    name: p.name.into(),
                    ty: p.ty,
                    value: p.default,
                });
            }
        }
        Ok(inst)
    }

    fn class(&self, node: &Node) -> Result<Class, CimXmlError> {
        let mut class = Class::new(node.req_attr("NAME")?, node.cim_attr("SUPERCLASS"));
        class.qualifiers = self.qualifiers(node)?;
        for child in &node.children {
            match child.name.as_str() {
                "PROPERTY" | "PROPERTY.ARRAY" | "PROPERTY.REFERENCE" => {
                    self.count(
                        class.properties.len(),
                        self.limits.max_properties,
                        "properties",
                    )?;
                    class.properties.push(self.property(child)?)
                }
                "METHOD" => class.methods.push(self.method(child)?),
                _ => {}
            }
        }
        Ok(class)
    }

    fn method(&self, node: &Node) -> Result<Method, CimXmlError> {
        let mut parameters = Vec::new();
        for p in &node.children {
            let ty = match p.name.as_str() {
                "PARAMETER" => TypeSpec::scalar(type_attr(p, "TYPE")?.unwrap_or(CimType::String)),
                "PARAMETER.ARRAY" => {
                    TypeSpec::array(type_attr(p, "TYPE")?.unwrap_or(CimType::String))
                }
                "PARAMETER.REFERENCE" => TypeSpec::scalar(CimType::Reference(
                    p.cim_attr("REFERENCECLASS").map(Into::into),
                )),
                "PARAMETER.REFARRAY" => TypeSpec::array(CimType::Reference(
                    p.cim_attr("REFERENCECLASS").map(Into::into),
                )),
                _ => continue,
            };
            parameters.push(Parameter {
                name: p.req_attr("NAME")?.to_owned(),
                ty,
                qualifiers: self.qualifiers(p)?,
            });
        }
        Ok(Method {
            name: node.req_attr("NAME")?.to_owned(),
            return_type: type_attr(node, "TYPE")?.unwrap_or(CimType::Uint32),
            parameters,
            qualifiers: self.qualifiers(node)?,
            class_origin: node.cim_attr("CLASSORIGIN").map(str::to_owned),
            propagated: bool_attr(node, "PROPAGATED", false)?,
        })
    }

    fn qualifier_decl(&self, node: &Node) -> Result<QualifierDecl, CimXmlError> {
        let ty = type_attr(node, "TYPE")?.unwrap_or(CimType::String);
        let array = if bool_attr(node, "ISARRAY", false)? {
            match node.cim_attr("ARRAYSIZE") {
                Some(n) => Arrayness::Fixed(n.parse().map_err(|_| invalid("bad ARRAYSIZE"))?),
                None => Arrayness::Variable,
            }
        } else {
            Arrayness::Scalar
        };
        let mut scope = Scope::default();
        if let Some(s) = node.child("SCOPE") {
            for (name, _) in s
                .attrs
                .iter()
                .filter(|(_, v)| v.eq_ignore_ascii_case("true"))
            {
                scope = scope.union(
                    Scope::from_name(name)
                        .ok_or_else(|| invalid(format!("unknown scope {name}")))?,
                );
            }
        }
        Ok(QualifierDecl {
            name: node.req_attr("NAME")?.to_owned(),
            default: self.plain_value(node, &ty)?,
            ty: TypeSpec { ty, array },
            scope,
            flavor: Flavor {
                overridable: bool_attr(node, "OVERRIDABLE", true)?,
                to_subclass: bool_attr(node, "TOSUBCLASS", true)?,
                translatable: bool_attr(node, "TRANSLATABLE", false)?,
            },
        })
    }
}

fn embedded_kind(node: &Node, ty: CimType) -> CimType {
    match node
        .cim_attr("EmbeddedObject")
        .or_else(|| node.cim_attr("EMBEDDEDOBJECT"))
    {
        Some(kind) if kind.eq_ignore_ascii_case("instance") => CimType::EmbeddedInstance(None),
        Some(_) => CimType::EmbeddedObject,
        None => ty,
    }
}

fn namespace_path(node: &Node) -> Result<(String, String), CimXmlError> {
    let host = node.req_child("HOST")?.text.trim().to_owned();
    Ok((
        host,
        local_namespace(node.req_child("LOCALNAMESPACEPATH")?)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_id_is_found_raw_only_where_it_is_plain() {
        let body = |head: &str, id: &str| {
            format!(
                "{head}<MESSAGE ID=\"{id}\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ/></MESSAGE></CIM>"
            )
        };
        let head = "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">";
        let text = body(head, "1001-a:b_c.d");
        let span = message_id_span(text.as_bytes()).unwrap();
        assert_eq!(&text[span], "1001-a:b_c.d");
        let single =
            "<CIM CIMVERSION='2.0' DTDVERSION='2.0'><MESSAGE PROTOCOLVERSION='1.0'\n  ID = '7'>";
        assert_eq!(&single[message_id_span(single.as_bytes()).unwrap()], "7");
        // Escaped, empty, too long, or after something that could hide another MESSAGE: no raw span.
        for (head, id) in [
            (head, "a&amp;b"),
            (head, ""),
            (head, &"9".repeat(65)),
            (head, "a b"),
            ("<!-- x --><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">", "1"),
            (
                "<?pi <MESSAGE ID='2' ?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">",
                "1",
            ),
            (
                "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><!DOCTYPE x>",
                "1",
            ),
        ] {
            assert_eq!(
                message_id_span(body(head, id).as_bytes()),
                None,
                "{head} {id}"
            );
        }
        assert_eq!(message_id_span(b"<CIM><MESSAGE ID=\"1\" ID=\"2\">"), None);
        assert_eq!(message_id_span(b"<CIM><MESSAGES ID=\"1\">"), None);
        assert_eq!(message_id_span(b"<CIM><MESSAGE ID=\"1"), None);
    }

    #[test]
    fn intrinsic_names_round_trip_and_unknown_ones_are_kept() {
        for op in IntrinsicOp::ALL {
            assert_eq!(&IntrinsicOp::parse(op.as_str()), op);
        }
        assert_eq!(IntrinsicOp::ALL.len(), 35);
        let unknown = IntrinsicOp::parse("EnumerateEverything");
        assert_eq!(unknown, IntrinsicOp::Unknown("EnumerateEverything".into()));
        assert_eq!(unknown.to_string(), "EnumerateEverything");
        // DSP0200 names are case-sensitive, as the string match before the enum was.
        assert!(matches!(
            IntrinsicOp::parse("getclass"),
            IntrinsicOp::Unknown(_)
        ));
    }

    /// RELIABILITY: characters XML 1.0 forbids, raw or as references, make a request not well formed (400).
    #[test]
    fn forbidden_characters_are_not_well_formed() {
        let request = |value: &str| {
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\" ?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\
                 <MESSAGE ID=\"1\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL NAME=\"GetClass\">\
                 <LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/></LOCALNAMESPACEPATH>\
                 <IPARAMVALUE NAME=\"ClassName\"><VALUE>{value}</VALUE></IPARAMVALUE>\
                 </IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"
            )
        };
        let limits = Limits::default();
        let ok = parse_request(request("C\r\nD").as_bytes(), &limits).expect("plain request");
        // CIM-XML values keep their line ends as sent.
        assert_eq!(ok.call.string_param("ClassName"), Ok(Some("C\r\nD".into())));
        assert_eq!(ok.call.name(), "GetClass");
        for bad in ["\u{1}", "\u{0}", "&#1;", "&#0;", "&#xFFFE;", "\u{FFFF}"] {
            let err = parse_request(request(bad).as_bytes(), &limits).expect_err(bad);
            assert_eq!(err.cim_error_header(), "request-not-well-formed", "{bad:?}");
        }
    }
}
