//! CIM-XML (DSP0201) codec, sans I/O: operation requests parsed from bytes into typed calls, and operation
//! responses written as XML text. The parser refuses DTDs and unknown entities and caps depth, element count,
//! attributes per element and text size before building anything large.

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::cim::{
    Arrayness, CimStatus, CimType, Class, Flavor, Instance, InstanceProperty, Method, ObjectPath,
    Parameter, Property, Qualifier, QualifierDecl, Scope, TypeSpec, Value, ValueError,
};

/// Why a request could not be decoded. Each maps to the DSP0200 `CIMError` header of the HTTP reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CimXmlError {
    #[error("request is not well-formed XML: {0}")]
    NotWellFormed(String),
    #[error("request exceeds the limit on {0}")]
    LimitExceeded(&'static str),
    #[error("request is not valid CIM-XML: {0}")]
    NotValid(String),
    #[error("multiple requests (MULTIREQ) are not supported")]
    MultipleRequests,
    #[error("unsupported CIM version {0:?}")]
    UnsupportedCimVersion(String),
    #[error("unsupported DTD version {0:?}")]
    UnsupportedDtdVersion(String),
    #[error("unsupported protocol version {0:?}")]
    UnsupportedProtocolVersion(String),
    /// Too many key bindings, properties or parameters: answered with a CIM error
    /// (CIM_ERR_SERVER_LIMITS_EXCEEDED) when the call is known, see [`CimXmlError::error_response`].
    #[error("request exceeds the server limit on {what}")]
    ServerLimit {
        what: &'static str,
        call: Option<CallId>,
    },
}

/// Enough of a request to answer it with a CIM error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallId {
    pub message_id: String,
    pub method: String,
    pub intrinsic: bool,
}

impl CimXmlError {
    /// The value of the `CIMError` HTTP header for this error (DSP0200 section 7.5).
    pub fn cim_error_header(&self) -> &'static str {
        match self {
            CimXmlError::NotWellFormed(_) | CimXmlError::LimitExceeded(_) => {
                "request-not-well-formed"
            }
            CimXmlError::NotValid(_) => "request-not-valid",
            CimXmlError::MultipleRequests => "multiple-requests-unsupported",
            CimXmlError::UnsupportedCimVersion(_) => "unsupported-cim-version",
            CimXmlError::UnsupportedDtdVersion(_) => "unsupported-dtd-version",
            CimXmlError::UnsupportedProtocolVersion(_) => "unsupported-protocol-version",
            CimXmlError::ServerLimit { .. } => "request-not-valid",
        }
    }

    /// For errors that DSP0200 answers inside a normal response (a CIM error in HTTP 200), that response.
    pub fn error_response(&self) -> Option<String> {
        let CimXmlError::ServerLimit {
            what,
            call: Some(call),
        } = self
        else {
            return None;
        };
        let err = CimError::new(
            CimStatus::ServerLimitsExceeded,
            format!("too many {what} in the request"),
        );
        Some(if call.intrinsic {
            write_imethod_response(
                &call.message_id,
                &call.method,
                &Err(err),
                WriteOptions::default(),
            )
        } else {
            write_method_response(&call.message_id, &call.method, &Err(err))
        })
    }
}

fn invalid(message: impl Into<String>) -> CimXmlError {
    CimXmlError::NotValid(message.into())
}

/// Caps applied while reading a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_depth: usize,
    pub max_elements: usize,
    pub max_attributes: usize,
    /// Bytes of character data in one element.
    pub max_text: usize,
    /// Nesting of embedded instances (an instance in a string in an instance...).
    pub max_embedding: usize,
    /// Key bindings in one instance name.
    pub max_keys: usize,
    /// Properties in one instance or class.
    pub max_properties: usize,
    /// Parameters of one call.
    pub max_params: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 64,
            max_elements: 100_000,
            max_attributes: 16,
            max_text: 1 << 20,
            max_embedding: 4,
            max_keys: 64,
            max_properties: 2048,
            max_params: 256,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// A small element tree, built under the limits.

#[derive(Debug, Clone, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn req_attr(&self, name: &str) -> Result<&str, CimXmlError> {
        self.attr(name)
            .ok_or_else(|| invalid(format!("<{}> lacks attribute {name}", self.name)))
    }

    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    fn req_child(&self, name: &str) -> Result<&Node, CimXmlError> {
        self.child(name)
            .ok_or_else(|| invalid(format!("<{}> lacks <{name}>", self.name)))
    }

    fn only_child(&self) -> Result<Option<&Node>, CimXmlError> {
        match self.children.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(invalid(format!(
                "<{}> has more than one child element",
                self.name
            ))),
        }
    }
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

fn not_well_formed(e: impl std::fmt::Display) -> CimXmlError {
    CimXmlError::NotWellFormed(e.to_string())
}

fn parse_tree(text: &str, limits: &Limits) -> Result<Node, CimXmlError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut elements = 0usize;

    let open = |e: &quick_xml::events::BytesStart<'_>,
                elements: &mut usize,
                depth: usize|
     -> Result<Node, CimXmlError> {
        *elements += 1;
        if *elements > limits.max_elements {
            return Err(CimXmlError::LimitExceeded("element count"));
        }
        if depth >= limits.max_depth {
            return Err(CimXmlError::LimitExceeded("nesting depth"));
        }
        let name = std::str::from_utf8(e.name().as_ref())
            .map_err(not_well_formed)?
            .to_owned();
        let mut attrs = Vec::new();
        for attr in e.attributes() {
            let attr = attr.map_err(not_well_formed)?;
            if attrs.len() >= limits.max_attributes {
                return Err(CimXmlError::LimitExceeded("attributes per element"));
            }
            let key = std::str::from_utf8(attr.key.as_ref())
                .map_err(not_well_formed)?
                .to_owned();
            let value = attr.unescape_value().map_err(not_well_formed)?.into_owned();
            if value.len() > limits.max_text {
                return Err(CimXmlError::LimitExceeded("attribute size"));
            }
            attrs.push((key, value));
        }
        Ok(Node {
            name,
            attrs,
            children: Vec::new(),
            text: String::new(),
        })
    };

    loop {
        let event = reader.read_event().map_err(not_well_formed)?;
        match event {
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => {
                return Err(CimXmlError::NotWellFormed(
                    "DTD / DOCTYPE is not accepted".into(),
                ))
            }
            Event::Start(e) => {
                if root.is_some() {
                    return Err(CimXmlError::NotWellFormed(
                        "content after the root element".into(),
                    ));
                }
                let node = open(&e, &mut elements, stack.len())?;
                stack.push(node);
            }
            Event::Empty(e) => {
                if root.is_some() {
                    return Err(CimXmlError::NotWellFormed(
                        "content after the root element".into(),
                    ));
                }
                let node = open(&e, &mut elements, stack.len())?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| CimXmlError::NotWellFormed("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                let decoded = t.decode().map_err(not_well_formed)?;
                push_text(&mut stack, &decoded, limits)?;
            }
            Event::CData(c) => {
                let decoded = c.decode().map_err(not_well_formed)?;
                push_text(&mut stack, &decoded, limits)?;
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref().map_err(not_well_formed)? {
                    Some(ch) => ch,
                    None => {
                        let name = r.decode().map_err(not_well_formed)?;
                        predefined_entity(&name).ok_or_else(|| {
                            CimXmlError::NotWellFormed(format!("undefined entity &{name};"))
                        })?
                    }
                };
                let mut buf = [0u8; 4];
                push_text(&mut stack, ch.encode_utf8(&mut buf), limits)?;
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(CimXmlError::NotWellFormed(
            "unclosed element at end of input".into(),
        ));
    }
    root.ok_or_else(|| CimXmlError::NotWellFormed("no root element".into()))
}

fn push_text(stack: &mut [Node], text: &str, limits: &Limits) -> Result<(), CimXmlError> {
    match stack.last_mut() {
        Some(node) => {
            if node.text.len() + text.len() > limits.max_text {
                return Err(CimXmlError::LimitExceeded("text size"));
            }
            node.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(CimXmlError::NotWellFormed(
            "text outside the root element".into(),
        )),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Requests

/// One decoded operation request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub message_id: String,
    pub protocol_version: String,
    pub call: Call,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// An intrinsic operation (GetClass, EnumerateInstances, ...) on a namespace.
    Intrinsic {
        name: String,
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
    pub fn name(&self) -> &str {
        match self {
            Call::Intrinsic { name, .. } | Call::Extrinsic { name, .. } => name,
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
                Value::Reference(Box::new(path.clone())).coerce(spec)
            }
            ParamValue::ReferenceArray(paths) => {
                let items = paths
                    .iter()
                    .map(|p| Value::Reference(Box::new(p.clone())))
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
            let method = simple.child(element)?.attr("NAME")?;
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

fn parse_call(simple: &Node, ctx: &Ctx<'_>) -> Result<Call, CimXmlError> {
    let call = if let Some(call) = simple.child("IMETHODCALL") {
        let name = call.req_attr("NAME")?.to_owned();
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
            path.namespace = Some(local_namespace(lip.req_child("LOCALNAMESPACEPATH")?)?);
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
    match node.attr(attr) {
        None => Ok(None),
        Some(t) => CimType::from_name(t)
            .map(Some)
            .ok_or_else(|| invalid(format!("unknown type {t:?} in <{}>", node.name))),
    }
}

fn bool_attr(node: &Node, attr: &str, default: bool) -> Result<bool, CimXmlError> {
    match node.attr(attr) {
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
            .attr("EmbeddedObject")
            .or_else(|| p.attr("EMBEDDEDOBJECT"))
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
        match kv.attr("VALUETYPE").unwrap_or("string") {
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
                            Value::Reference(Box::new(self.value_reference(vr)?))
                        }
                        _ => return Err(invalid("<KEYBINDING> needs KEYVALUE or VALUE.REFERENCE")),
                    };
                    path.keys.push((name.to_owned(), value));
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
                path.namespace = Some(local_namespace(child.req_child("LOCALNAMESPACEPATH")?)?);
                Ok(path)
            }
            "INSTANCEPATH" => {
                let mut path = self.instance_name(child.req_child("INSTANCENAME")?)?;
                let (host, ns) = namespace_path(child.req_child("NAMESPACEPATH")?)?;
                path.host = Some(host);
                path.namespace = Some(ns);
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
                path.host = Some(host);
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
            .attr("EmbeddedObject")
            .or_else(|| node.attr("EMBEDDEDOBJECT"))
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
                let array = match node.attr("ARRAYSIZE") {
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
                let class = node.attr("REFERENCECLASS").map(str::to_owned);
                let default = match node.child("VALUE.REFERENCE") {
                    Some(vr) => Value::Reference(Box::new(self.value_reference(vr)?)),
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
            class_origin: node.attr("CLASSORIGIN").map(str::to_owned),
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
                    inst.properties.len(),
                    self.limits.max_properties,
                    "properties",
                )?;
                let p = self.property(child)?;
                if inst.property(&p.name).is_some() {
                    return Err(invalid(format!("property {} given twice", p.name)));
                }
                inst.properties.push(InstanceProperty {
                    name: p.name,
                    ty: p.ty,
                    value: p.default,
                });
            }
        }
        Ok(inst)
    }

    fn class(&self, node: &Node) -> Result<Class, CimXmlError> {
        let mut class = Class::new(node.req_attr("NAME")?, node.attr("SUPERCLASS"));
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
                    p.attr("REFERENCECLASS").map(str::to_owned),
                )),
                "PARAMETER.REFARRAY" => TypeSpec::array(CimType::Reference(
                    p.attr("REFERENCECLASS").map(str::to_owned),
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
            class_origin: node.attr("CLASSORIGIN").map(str::to_owned),
            propagated: bool_attr(node, "PROPAGATED", false)?,
        })
    }

    fn qualifier_decl(&self, node: &Node) -> Result<QualifierDecl, CimXmlError> {
        let ty = type_attr(node, "TYPE")?.unwrap_or(CimType::String);
        let array = if bool_attr(node, "ISARRAY", false)? {
            match node.attr("ARRAYSIZE") {
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
        .attr("EmbeddedObject")
        .or_else(|| node.attr("EMBEDDEDOBJECT"))
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

// ---------------------------------------------------------------------------------------------------------
// Responses

/// A CIM error as the `ERROR` element carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CimError {
    pub status: CimStatus,
    pub description: String,
}

impl CimError {
    pub fn new(status: CimStatus, description: impl Into<String>) -> CimError {
        CimError {
            status,
            description: description.into(),
        }
    }
}

/// The result of an extrinsic method: its return value and OUT parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodReturn {
    pub value: Value,
    pub out_params: Vec<(String, Value)>,
}

/// What to include when writing classes and instances (the IncludeQualifiers / IncludeClassOrigin flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    pub include_qualifiers: bool,
    pub include_class_origin: bool,
}

/// The content of an `IRETURNVALUE`, per intrinsic operation.
#[derive(Debug, Clone, PartialEq)]
pub enum IReturn {
    /// ModifyInstance, DeleteInstance, ...: an empty `IMETHODRESPONSE`.
    Nothing,
    /// GetClass.
    Class(Class),
    /// EnumerateClasses.
    Classes(Vec<Class>),
    /// EnumerateClassNames.
    ClassNames(Vec<String>),
    /// GetInstance.
    Instance(Instance),
    /// EnumerateInstances: `VALUE.NAMEDINSTANCE`s (each instance must have its path).
    NamedInstances(Vec<Instance>),
    /// EnumerateInstanceNames, CreateInstance: `INSTANCENAME`s.
    InstanceNames(Vec<ObjectPath>),
    /// Associators / References on an instance: `VALUE.OBJECTWITHPATH` (path with host and namespace).
    ObjectsWithPath(Vec<Instance>),
    /// Associators / References on a class: `VALUE.OBJECTWITHPATH` with `CLASSPATH` + `CLASS`.
    ClassesWithPath(Vec<(ObjectPath, Class)>),
    /// AssociatorNames / ReferenceNames: `OBJECTPATH`s.
    ObjectPaths(Vec<ObjectPath>),
    /// GetProperty.
    Value(Value),
    /// GetQualifier / EnumerateQualifiers.
    QualifierDecls(Vec<QualifierDecl>),
    /// Open.../Pull... operations (DSP0200 1.4): instances with paths (`VALUE.INSTANCEWITHPATH`) or paths
    /// (`INSTANCEPATH`), followed by the EndOfSequence and EnumerationContext output parameters.
    Pull(PullResult),
}

/// One chunk of a pulled enumeration.
#[derive(Debug, Clone, PartialEq)]
pub struct PullResult {
    pub items: PullItems,
    /// The context to pass to the next Pull; ignored by clients once `end_of_sequence` is true.
    pub enumeration_context: String,
    pub end_of_sequence: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PullItems {
    /// Instances, each with its full path.
    Instances(Vec<Instance>),
    Paths(Vec<ObjectPath>),
    /// OpenQueryInstances / PullInstances: instances without paths; the Open response may add the
    /// QueryResultClass output parameter.
    Plain {
        instances: Vec<Instance>,
        result_class: Option<Class>,
    },
}

fn esc(s: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// Appends `text` with the five XML special characters replaced by the entities quick-xml's `escape` uses,
/// without an intermediate string (response writing is the hot path of large enumerations).
fn push_esc(out: &mut String, text: &str) {
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let entity = match byte {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'\'' => "&apos;",
            b'"' => "&quot;",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        out.push_str(entity);
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

/// Appends ` NAME="value"` (the value escaped).
fn push_attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    push_esc(out, value);
    out.push('"');
}

/// Appends the text form of a scalar (nothing for NULL or a non-scalar), escaped.
fn push_scalar(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => push_esc(out, s),
        Value::Uint8(v) => push_display(out, v),
        Value::Sint8(v) => push_display(out, v),
        Value::Uint16(v) => push_display(out, v),
        Value::Sint16(v) => push_display(out, v),
        Value::Uint32(v) => push_display(out, v),
        Value::Sint32(v) => push_display(out, v),
        Value::Uint64(v) => push_display(out, v),
        Value::Sint64(v) => push_display(out, v),
        Value::Boolean(true) => out.push_str("TRUE"),
        Value::Boolean(false) => out.push_str("FALSE"),
        other => {
            if let Some(text) = other.to_text() {
                push_esc(out, &text);
            }
        }
    }
}

/// Integers need no escaping.
fn push_display(out: &mut String, value: &impl std::fmt::Display) {
    let _ = write!(out, "{value}");
}

const XML_HEADER: &str = "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n";

/// What follows the operation response element in every response.
pub const ENVELOPE_CLOSE: &str = "</SIMPLERSP></MESSAGE></CIM>";

/// Writes the response envelope up to `SIMPLERSP` (the only part that depends on the request's message ID).
pub fn write_envelope_open(out: &mut String, message_id: &str) {
    out.push_str(XML_HEADER);
    out.push_str("<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE");
    push_attr(out, "ID", message_id);
    out.push_str(" PROTOCOLVERSION=\"1.0\"><SIMPLERSP>");
}

fn error_element(out: &mut String, err: &CimError) {
    out.push_str("<ERROR");
    push_attr(out, "CODE", &err.status.code().to_string());
    push_attr(out, "DESCRIPTION", &err.description);
    out.push_str("/>");
}

/// Writes the response to an intrinsic operation.
pub fn write_imethod_response(
    message_id: &str,
    method: &str,
    result: &Result<IReturn, CimError>,
    opts: WriteOptions,
) -> String {
    let mut out = String::with_capacity(1024);
    write_envelope_open(&mut out, message_id);
    write_imethod_element(&mut out, method, result, opts);
    out.push_str(ENVELOPE_CLOSE);
    out
}

/// Writes the `IMETHODRESPONSE` element of an intrinsic operation's response (no envelope).
pub fn write_imethod_element(
    out: &mut String,
    method: &str,
    result: &Result<IReturn, CimError>,
    opts: WriteOptions,
) {
    out.push_str("<IMETHODRESPONSE");
    push_attr(out, "NAME", method);
    out.push('>');
    match result {
        Err(err) => error_element(out, err),
        Ok(IReturn::Nothing) => {}
        Ok(IReturn::Pull(pull)) => {
            out.push_str("<IRETURNVALUE>");
            match &pull.items {
                PullItems::Instances(items) => {
                    for i in items {
                        out.push_str("<VALUE.INSTANCEWITHPATH>");
                        match &i.path {
                            Some(path) => write_instance_path(out, path),
                            None => {
                                write_instance_path(out, &ObjectPath::class(None, &i.class_name))
                            }
                        }
                        write_instance(out, i, opts);
                        out.push_str("</VALUE.INSTANCEWITHPATH>");
                    }
                }
                PullItems::Paths(paths) => paths.iter().for_each(|p| write_instance_path(out, p)),
                PullItems::Plain { instances, .. } => {
                    instances.iter().for_each(|i| write_instance(out, i, opts))
                }
            }
            out.push_str("</IRETURNVALUE>");
            if let PullItems::Plain {
                result_class: Some(class),
                ..
            } = &pull.items
            {
                out.push_str("<PARAMVALUE NAME=\"QueryResultClass\">");
                write_class(out, class, opts);
                out.push_str("</PARAMVALUE>");
            }
            let eos = if pull.end_of_sequence {
                "TRUE"
            } else {
                "FALSE"
            };
            out.push_str("<PARAMVALUE NAME=\"EndOfSequence\" PARAMTYPE=\"boolean\"><VALUE>");
            out.push_str(eos);
            out.push_str(
                "</VALUE></PARAMVALUE><PARAMVALUE NAME=\"EnumerationContext\" PARAMTYPE=\"string\"><VALUE>",
            );
            push_esc(out, &pull.enumeration_context);
            out.push_str("</VALUE></PARAMVALUE>");
        }
        Ok(ret) => {
            out.push_str("<IRETURNVALUE>");
            write_ireturn(out, ret, opts);
            out.push_str("</IRETURNVALUE>");
        }
    }
    out.push_str("</IMETHODRESPONSE>");
}

/// Opens the response element of a list result written piecewise with [`write_ireturn_items`].
pub fn write_imethod_list_open(out: &mut String, method: &str) {
    out.push_str("<IMETHODRESPONSE");
    push_attr(out, "NAME", method);
    out.push_str("><IRETURNVALUE>");
}

/// Closes what [`write_imethod_list_open`] opened.
pub const IMETHOD_LIST_CLOSE: &str = "</IRETURNVALUE></IMETHODRESPONSE>";

/// Writes the response to an extrinsic method: the return value (typed) and the OUT parameters.
pub fn write_method_response(
    message_id: &str,
    method: &str,
    result: &Result<MethodReturn, CimError>,
) -> String {
    let mut body = String::with_capacity(512);
    write_envelope_open(&mut body, message_id);
    body.push_str("<METHODRESPONSE");
    push_attr(&mut body, "NAME", method);
    body.push('>');
    match result {
        Err(err) => error_element(&mut body, err),
        Ok(MethodReturn {
            value: ret,
            out_params: outs,
        }) => {
            if !ret.is_null() {
                let ty = ret.cim_type().map_or("string", |t| t.name());
                let _ = write!(body, "<RETURNVALUE PARAMTYPE=\"{ty}\">");
                write_value(&mut body, ret);
                body.push_str("</RETURNVALUE>");
            }
            for (name, value) in outs {
                let ty = match value {
                    Value::Instance(_) | Value::Class(_) => "string",
                    Value::Array(CimType::EmbeddedInstance(_) | CimType::EmbeddedObject, _) => {
                        "string"
                    }
                    other => other.cim_type().map_or("string", |t| t.name()),
                };
                let embedded = match value {
                    Value::Instance(_) => " EmbeddedObject=\"instance\"",
                    Value::Class(_) => " EmbeddedObject=\"object\"",
                    Value::Array(_, items)
                        if items.iter().any(|i| matches!(i, Value::Instance(_))) =>
                    {
                        " EmbeddedObject=\"instance\""
                    }
                    _ => "",
                };
                let _ = write!(
                    body,
                    "<PARAMVALUE NAME=\"{}\" PARAMTYPE=\"{ty}\"{embedded}>",
                    esc(name)
                );
                write_value(&mut body, value);
                body.push_str("</PARAMVALUE>");
            }
        }
    }
    body.push_str("</METHODRESPONSE>");
    body.push_str(ENVELOPE_CLOSE);
    body
}

impl IReturn {
    /// How many items a list result holds (0 for the other forms).
    pub fn list_len(&self) -> usize {
        match self {
            IReturn::NamedInstances(v) | IReturn::ObjectsWithPath(v) => v.len(),
            IReturn::InstanceNames(v) | IReturn::ObjectPaths(v) => v.len(),
            IReturn::ClassesWithPath(v) => v.len(),
            IReturn::Classes(v) => v.len(),
            IReturn::ClassNames(v) => v.len(),
            _ => 0,
        }
    }
}

/// Writes the items `range` of a list result (the whole result for a non-list form when `range` starts at 0).
pub fn write_ireturn_items(
    out: &mut String,
    ret: &IReturn,
    range: std::ops::Range<usize>,
    opts: WriteOptions,
) {
    fn part<'a, T>(items: &'a [T], range: &std::ops::Range<usize>) -> &'a [T] {
        let end = range.end.min(items.len());
        items.get(range.start.min(end)..end).unwrap_or(&[])
    }
    match ret {
        IReturn::Classes(cs) => part(cs, &range)
            .iter()
            .for_each(|c| write_class(out, c, opts)),
        IReturn::ClassNames(names) => {
            for n in part(names, &range) {
                out.push_str("<CLASSNAME");
                push_attr(out, "NAME", n);
                out.push_str("/>");
            }
        }
        IReturn::NamedInstances(items) => {
            for i in part(items, &range) {
                out.push_str("<VALUE.NAMEDINSTANCE>");
                match &i.path {
                    Some(path) => write_instance_name(out, path),
                    None => write_instance_name(out, &ObjectPath::class(None, &i.class_name)),
                }
                write_instance(out, i, opts);
                out.push_str("</VALUE.NAMEDINSTANCE>");
            }
        }
        IReturn::InstanceNames(paths) => part(paths, &range)
            .iter()
            .for_each(|p| write_instance_name(out, p)),
        IReturn::ObjectsWithPath(items) => {
            for i in part(items, &range) {
                out.push_str("<VALUE.OBJECTWITHPATH>");
                match &i.path {
                    Some(path) => write_instance_path(out, path),
                    None => write_instance_path(out, &ObjectPath::class(None, &i.class_name)),
                }
                write_instance(out, i, opts);
                out.push_str("</VALUE.OBJECTWITHPATH>");
            }
        }
        IReturn::ClassesWithPath(items) => {
            for (path, class) in part(items, &range) {
                out.push_str("<VALUE.OBJECTWITHPATH><CLASSPATH>");
                write_namespace_path(out, path);
                out.push_str("<CLASSNAME");
                push_attr(out, "NAME", &path.class_name);
                out.push_str("/></CLASSPATH>");
                write_class(out, class, opts);
                out.push_str("</VALUE.OBJECTWITHPATH>");
            }
        }
        IReturn::ObjectPaths(paths) => {
            for p in part(paths, &range) {
                out.push_str("<OBJECTPATH>");
                if p.is_class_path() {
                    out.push_str("<CLASSPATH>");
                    write_namespace_path(out, p);
                    out.push_str("<CLASSNAME");
                    push_attr(out, "NAME", &p.class_name);
                    out.push_str("/></CLASSPATH>");
                } else {
                    write_instance_path(out, p);
                }
                out.push_str("</OBJECTPATH>");
            }
        }
        single if range.start == 0 => write_ireturn(out, single, opts),
        _ => {}
    }
}

fn write_ireturn(out: &mut String, ret: &IReturn, opts: WriteOptions) {
    match ret {
        IReturn::Nothing => {}
        IReturn::Class(c) => write_class(out, c, opts),
        IReturn::Instance(i) => write_instance(out, i, opts),
        IReturn::Value(v) => write_value(out, v),
        IReturn::QualifierDecls(decls) => decls.iter().for_each(|d| write_qualifier_decl(out, d)),
        // Written by write_imethod_element, which adds the output parameters after IRETURNVALUE.
        IReturn::Pull(_) => {}
        list => write_ireturn_items(out, list, 0..usize::MAX, opts),
    }
}

fn write_namespace_path(out: &mut String, path: &ObjectPath) {
    out.push_str("<NAMESPACEPATH><HOST>");
    push_esc(out, path.host.as_deref().unwrap_or("localhost"));
    out.push_str("</HOST>");
    write_local_namespace(out, path.namespace.as_deref().unwrap_or(""));
    out.push_str("</NAMESPACEPATH>");
}

fn write_local_namespace(out: &mut String, namespace: &str) {
    out.push_str("<LOCALNAMESPACEPATH>");
    for part in namespace.split('/').filter(|p| !p.is_empty()) {
        out.push_str("<NAMESPACE");
        push_attr(out, "NAME", part);
        out.push_str("/>");
    }
    out.push_str("</LOCALNAMESPACEPATH>");
}

fn write_instance_path(out: &mut String, path: &ObjectPath) {
    out.push_str("<INSTANCEPATH>");
    write_namespace_path(out, path);
    write_instance_name(out, path);
    out.push_str("</INSTANCEPATH>");
}

fn write_classname(out: &mut String, class_name: &str) {
    out.push_str("<CLASSNAME");
    push_attr(out, "NAME", class_name);
    out.push_str("/>");
}

/// A reference value: the most qualified form the path allows.
fn write_reference(out: &mut String, path: &ObjectPath) {
    out.push_str("<VALUE.REFERENCE>");
    match (&path.host, &path.namespace, path.is_class_path()) {
        (Some(_), Some(_), false) => write_instance_path(out, path),
        (None, Some(ns), false) => {
            out.push_str("<LOCALINSTANCEPATH>");
            write_local_namespace(out, ns);
            write_instance_name(out, path);
            out.push_str("</LOCALINSTANCEPATH>");
        }
        (_, _, false) => write_instance_name(out, path),
        (Some(_), Some(_), true) => {
            out.push_str("<CLASSPATH>");
            write_namespace_path(out, path);
            write_classname(out, &path.class_name);
            out.push_str("</CLASSPATH>");
        }
        (None, Some(ns), true) => {
            out.push_str("<LOCALCLASSPATH>");
            write_local_namespace(out, ns);
            write_classname(out, &path.class_name);
            out.push_str("</LOCALCLASSPATH>");
        }
        (_, None, true) => write_classname(out, &path.class_name),
    }
    out.push_str("</VALUE.REFERENCE>");
}

fn write_instance_name(out: &mut String, path: &ObjectPath) {
    out.push_str("<INSTANCENAME");
    push_attr(out, "CLASSNAME", &path.class_name);
    out.push('>');
    for (name, value) in &path.keys {
        out.push_str("<KEYBINDING");
        push_attr(out, "NAME", name);
        out.push('>');
        match value {
            Value::Reference(r) => write_reference(out, r),
            other => {
                let (value_type, ty) = match other {
                    Value::Boolean(_) => ("boolean", "boolean"),
                    Value::String(_) | Value::Null => ("string", "string"),
                    Value::DateTime(_) => ("string", "datetime"),
                    Value::Char16(_) => ("string", "char16"),
                    v => ("numeric", v.cim_type().map_or("string", |t| t.name())),
                };
                out.push_str("<KEYVALUE VALUETYPE=\"");
                out.push_str(value_type);
                out.push_str("\" TYPE=\"");
                out.push_str(ty);
                out.push_str("\">");
                push_scalar(out, other);
                out.push_str("</KEYVALUE>");
            }
        }
        out.push_str("</KEYBINDING>");
    }
    out.push_str("</INSTANCENAME>");
}

/// A scalar or array value (`VALUE`, `VALUE.ARRAY`, `VALUE.REFERENCE`, `VALUE.REFARRAY`); nothing for NULL.
fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::Reference(path) => write_reference(out, path),
        Value::Array(CimType::Reference(_), items) => {
            out.push_str("<VALUE.REFARRAY>");
            for item in items {
                match item {
                    Value::Reference(p) => write_reference(out, p),
                    _ => out.push_str("<VALUE.NULL/>"),
                }
            }
            out.push_str("</VALUE.REFARRAY>");
        }
        Value::Array(_, items) => {
            out.push_str("<VALUE.ARRAY>");
            for item in items {
                if item.is_null() {
                    out.push_str("<VALUE.NULL/>");
                } else {
                    write_value(out, item);
                }
            }
            out.push_str("</VALUE.ARRAY>");
        }
        Value::Instance(inst) => {
            let mut xml = String::new();
            write_instance(&mut xml, inst, WriteOptions::default());
            out.push_str("<VALUE>");
            push_esc(out, &xml);
            out.push_str("</VALUE>");
        }
        Value::Class(class) => {
            let mut xml = String::new();
            write_class(&mut xml, class, WriteOptions::default());
            out.push_str("<VALUE>");
            push_esc(out, &xml);
            out.push_str("</VALUE>");
        }
        scalar => {
            out.push_str("<VALUE>");
            push_scalar(out, scalar);
            out.push_str("</VALUE>");
        }
    }
}

fn write_qualifiers(out: &mut String, qualifiers: &[Qualifier], opts: WriteOptions) {
    if !opts.include_qualifiers {
        return;
    }
    for q in qualifiers {
        let ty = q.value.cim_type().map_or("string", |t| t.name());
        let _ = write!(out, "<QUALIFIER NAME=\"{}\" TYPE=\"{ty}\"", esc(&q.name));
        if q.propagated {
            out.push_str(" PROPAGATED=\"true\"");
        }
        if !q.flavor.overridable {
            out.push_str(" OVERRIDABLE=\"false\"");
        }
        if !q.flavor.to_subclass {
            out.push_str(" TOSUBCLASS=\"false\"");
        }
        if q.flavor.translatable {
            out.push_str(" TRANSLATABLE=\"true\"");
        }
        out.push('>');
        write_value(out, &q.value);
        out.push_str("</QUALIFIER>");
    }
}

fn origin_attrs(
    out: &mut String,
    class_origin: Option<&str>,
    propagated: bool,
    opts: WriteOptions,
) {
    if opts.include_class_origin {
        if let Some(origin) = class_origin {
            push_attr(out, "CLASSORIGIN", origin);
        }
    }
    if propagated {
        out.push_str(" PROPAGATED=\"true\"");
    }
}

fn write_property(
    out: &mut String,
    name: &str,
    ty: &TypeSpec,
    value: &Value,
    meta: Option<&Property>,
    opts: WriteOptions,
) {
    let (origin, propagated, qualifiers) = match meta {
        Some(p) => (
            p.class_origin.as_deref(),
            p.propagated,
            p.qualifiers.as_slice(),
        ),
        None => (None, false, &[][..]),
    };
    let embedded = match &ty.ty {
        CimType::EmbeddedInstance(_) => " EmbeddedObject=\"instance\"",
        CimType::EmbeddedObject => " EmbeddedObject=\"object\"",
        _ => "",
    };
    match (&ty.ty, ty.array) {
        (CimType::Reference(class), _) => {
            out.push_str("<PROPERTY.REFERENCE");
            push_attr(out, "NAME", name);
            if let Some(class) = class {
                push_attr(out, "REFERENCECLASS", class);
            }
            origin_attrs(out, origin, propagated, opts);
            out.push('>');
            write_qualifiers(out, qualifiers, opts);
            write_value(out, value);
            out.push_str("</PROPERTY.REFERENCE>");
        }
        (t, Arrayness::Scalar) => {
            out.push_str("<PROPERTY");
            push_attr(out, "NAME", name);
            out.push_str(" TYPE=\"");
            out.push_str(t.name());
            out.push('"');
            origin_attrs(out, origin, propagated, opts);
            out.push_str(embedded);
            out.push('>');
            write_qualifiers(out, qualifiers, opts);
            write_value(out, value);
            out.push_str("</PROPERTY>");
        }
        (t, array) => {
            out.push_str("<PROPERTY.ARRAY");
            push_attr(out, "NAME", name);
            out.push_str(" TYPE=\"");
            out.push_str(t.name());
            out.push('"');
            if let Arrayness::Fixed(n) = array {
                let _ = write!(out, " ARRAYSIZE=\"{n}\"");
            }
            origin_attrs(out, origin, propagated, opts);
            out.push_str(embedded);
            out.push('>');
            write_qualifiers(out, qualifiers, opts);
            write_value(out, value);
            out.push_str("</PROPERTY.ARRAY>");
        }
    }
}

/// Writes an `INSTANCE` element.
pub fn write_instance(out: &mut String, inst: &Instance, opts: WriteOptions) {
    out.push_str("<INSTANCE");
    push_attr(out, "CLASSNAME", &inst.class_name);
    out.push('>');
    write_qualifiers(out, &inst.qualifiers, opts);
    for p in &inst.properties {
        write_property(out, &p.name, &p.ty, &p.value, None, opts);
    }
    out.push_str("</INSTANCE>");
}

/// Writes a `CLASS` element.
pub fn write_class(out: &mut String, class: &Class, opts: WriteOptions) {
    let _ = write!(out, "<CLASS NAME=\"{}\"", esc(&class.name));
    if let Some(sup) = &class.superclass {
        let _ = write!(out, " SUPERCLASS=\"{}\"", esc(sup));
    }
    out.push('>');
    write_qualifiers(out, &class.qualifiers, opts);
    for p in &class.properties {
        write_property(out, &p.name, &p.ty, &p.default, Some(p), opts);
    }
    for m in &class.methods {
        let _ = write!(
            out,
            "<METHOD NAME=\"{}\" TYPE=\"{}\"",
            esc(&m.name),
            m.return_type.name()
        );
        origin_attrs(out, m.class_origin.as_deref(), m.propagated, opts);
        out.push('>');
        write_qualifiers(out, &m.qualifiers, opts);
        for p in &m.parameters {
            let (element, type_attr) = match (&p.ty.ty, p.ty.is_array()) {
                (CimType::Reference(c), false) => (
                    "PARAMETER.REFERENCE",
                    c.as_deref().map(|c| ("REFERENCECLASS", c)),
                ),
                (CimType::Reference(c), true) => (
                    "PARAMETER.REFARRAY",
                    c.as_deref().map(|c| ("REFERENCECLASS", c)),
                ),
                (t, false) => ("PARAMETER", Some(("TYPE", t.name()))),
                (t, true) => ("PARAMETER.ARRAY", Some(("TYPE", t.name()))),
            };
            let _ = write!(out, "<{element} NAME=\"{}\"", esc(&p.name));
            if let Some((attr, value)) = type_attr {
                let _ = write!(out, " {attr}=\"{}\"", esc(value));
            }
            if let Arrayness::Fixed(n) = p.ty.array {
                let _ = write!(out, " ARRAYSIZE=\"{n}\"");
            }
            out.push('>');
            write_qualifiers(out, &p.qualifiers, opts);
            let _ = write!(out, "</{element}>");
        }
        out.push_str("</METHOD>");
    }
    out.push_str("</CLASS>");
}

fn write_qualifier_decl(out: &mut String, d: &QualifierDecl) {
    let _ = write!(
        out,
        "<QUALIFIER.DECLARATION NAME=\"{}\" TYPE=\"{}\"",
        esc(&d.name),
        d.ty.ty.name()
    );
    if d.ty.is_array() {
        out.push_str(" ISARRAY=\"true\"");
        if let Arrayness::Fixed(n) = d.ty.array {
            let _ = write!(out, " ARRAYSIZE=\"{n}\"");
        }
    }
    let _ = write!(
        out,
        " OVERRIDABLE=\"{}\" TOSUBCLASS=\"{}\" TRANSLATABLE=\"{}\">",
        d.flavor.overridable, d.flavor.to_subclass, d.flavor.translatable
    );
    out.push_str("<SCOPE");
    for name in [
        "class",
        "association",
        "indication",
        "property",
        "reference",
        "method",
        "parameter",
    ] {
        let bit = Scope::from_name(name).unwrap_or_default();
        if d.scope.contains(bit) {
            let attr = name.to_ascii_uppercase();
            let _ = write!(out, " {attr}=\"true\"");
        }
    }
    out.push_str("/>");
    write_value(out, &d.default);
    out.push_str("</QUALIFIER.DECLARATION>");
}
