//! CIM-XML responses: the envelope, `IMETHODRESPONSE` for intrinsic operations (whole, or as a list written in
//! parts for streaming), `METHODRESPONSE` for extrinsic methods, and the classes, instances, values and paths
//! inside them, written straight into a `String`.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::cim::{
    Arrayness, CimStatus, CimType, Class, Instance, ObjectPath, Property, Qualifier, QualifierDecl,
    Scope, Template, TypeSpec, Value,
};

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
    if s.bytes().any(|b| NEEDS_LOOK[usize::from(b)]) {
        let mut out = String::with_capacity(s.len() + 8);
        push_esc(&mut out, s);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

/// What XML 1.0 cannot carry at all (C0 controls but tab, LF and CR; U+FFFE; U+FFFF) is written as this:
/// a driver's string may hold anything, and a response that a parser refuses would lose the whole answer.
pub const REPLACEMENT: &str = "\u{FFFD}";

/// The bytes [`push_esc`] must look at: the five XML specials, the C0 controls XML 1.0 forbids, and 0xEF,
/// the first byte of U+FFFE and U+FFFF. One table lookup per byte keeps the common case a tight loop.
const NEEDS_LOOK: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = !matches!(b, 0x09 | 0x0A | 0x0D);
        b += 1;
    }
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'&' as usize] = true;
    table[b'\'' as usize] = true;
    table[b'"' as usize] = true;
    table[0xEF] = true;
    table
};

/// Whether any of eight bytes may be one [`NEEDS_LOOK`] marks (a superset: tab, LF and CR too). Each test
/// finds the bytes of one value (or of values one bit apart) by the zero-byte test of a bit-twiddling word.
fn may_need_look(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH != 0;
    control
        || zero_byte((word | (ONES * 0x02)) ^ (ONES * b'>' as u64)) // '<' 0x3C, '>' 0x3E
        || zero_byte((word | ONES) ^ (ONES * b'\'' as u64)) // '&' 0x26, '\'' 0x27
        || zero_byte(word ^ (ONES * b'"' as u64))
        || zero_byte(word ^ (ONES * 0xEF))
}

/// Appends `text` with the five XML special characters replaced by the entities quick-xml's `escape` uses
/// and the characters XML 1.0 forbids by [`REPLACEMENT`], without an intermediate string (response writing is
/// the hot path of large enumerations).
fn push_esc(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time while none of them may need a look (most strings need none).
        if let Some(word) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
            if !may_need_look(word) {
                i += 8;
                continue;
            }
        }
        let byte = bytes[i];
        if !NEEDS_LOOK[usize::from(byte)] {
            i += 1;
            continue;
        }
        let (entity, len) = match byte {
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'&' => ("&amp;", 1),
            b'\'' => ("&apos;", 1),
            b'"' => ("&quot;", 1),
            0xEF => {
                // U+FFFE and U+FFFF are EF BF BE and EF BF BF; every other character starting EF is fine.
                if bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
                {
                    (REPLACEMENT, 3)
                } else {
                    i += 1;
                    continue;
                }
            }
            _ => (REPLACEMENT, 1),
        };
        out.push_str(&text[start..i]);
        out.push_str(entity);
        i += len;
        start = i;
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
    thread_local! {
        /// The last namespace written and its form: every reference of an answer names the same one or two.
        static LAST: std::cell::RefCell<Option<(String, String)>> = const {
            std::cell::RefCell::new(None)
        };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.as_ref().is_none_or(|(ns, _)| ns != namespace) {
            let mut form = String::from("<LOCALNAMESPACEPATH>");
            for part in namespace.split('/').filter(|p| !p.is_empty()) {
                form.push_str("<NAMESPACE");
                push_attr(&mut form, "NAME", part);
                form.push_str("/>");
            }
            form.push_str("</LOCALNAMESPACEPATH>");
            *last = Some((namespace.to_owned(), form));
        }
        if let Some((_, form)) = last.as_ref() {
            out.push_str(form);
        }
    });
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
    // The class of the instance a reference refers to when there is one (an instance's reference keeps its
    // declared type while its value changes), else the declared class.
    let referred = match value {
        Value::Reference(path) => Some(path.class_name.as_str()),
        _ => None,
    };
    let close = write_property_open(out, name, ty, referred, origin, propagated, opts);
    write_qualifiers(out, qualifiers, opts);
    write_value(out, value);
    out.push_str(close);
}

/// A property element's start tag, through its `>`; returns the matching end tag.
fn write_property_open(
    out: &mut String,
    name: &str,
    ty: &TypeSpec,
    referred: Option<&str>,
    origin: Option<&str>,
    propagated: bool,
    opts: WriteOptions,
) -> &'static str {
    let embedded = match &ty.ty {
        CimType::EmbeddedInstance(_) => " EmbeddedObject=\"instance\"",
        CimType::EmbeddedObject => " EmbeddedObject=\"object\"",
        _ => "",
    };
    match (&ty.ty, ty.array) {
        (CimType::Reference(declared), _) => {
            out.push_str("<PROPERTY.REFERENCE");
            push_attr(out, "NAME", name);
            if let Some(class) = referred.or(declared.as_deref()) {
                push_attr(out, "REFERENCECLASS", class);
            }
            origin_attrs(out, origin, propagated, opts);
            out.push('>');
            "</PROPERTY.REFERENCE>"
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
            "</PROPERTY>"
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
            "</PROPERTY.ARRAY>"
        }
    }
}

/// Writes an `INSTANCE` element.
pub fn write_instance(out: &mut String, inst: &Instance, opts: WriteOptions) {
    out.push_str("<INSTANCE");
    push_attr(out, "CLASSNAME", &inst.class_name);
    out.push('>');
    write_qualifiers(out, &inst.qualifiers, opts);
    // Taken out of the table once per instance: a value may be an embedded instance, written by this
    // function again.
    let template = inst.template().map(|t| {
        (
            t,
            NULL_FORMS.with(|forms| forms.borrow_mut().of_template(t)),
        )
    });
    for slot in inst.slots() {
        let p = slot.prop;
        match (&p.value, slot.template_at, &template, p.name.as_static()) {
            (Value::Null, Some(at), Some((_, forms)), _) => out.push_str(&forms[at].null),
            (Value::Null, _, _, Some(name)) => {
                NULL_FORMS.with(|forms| out.push_str(forms.borrow_mut().of(name, &p.ty)));
            }
            _ => {
                // A value of its declared type after the start tag written once per class.
                let known = slot
                    .class_at
                    .zip(template.as_ref())
                    .and_then(|(at, (t, forms))| {
                        let form = &forms[at];
                        (!form.open.is_empty() && t.properties()[at].ty == p.ty).then_some(form)
                    });
                match known {
                    Some(form) => {
                        out.push_str(&form.open);
                        write_value(out, &p.value);
                        out.push_str(form.close);
                    }
                    None => write_property(out, &p.name, &p.ty, &p.value, None, opts),
                }
            }
        }
    }
    out.push_str("</INSTANCE>");
}

thread_local! {
    /// Each worker's [`NullForms`].
    static NULL_FORMS: std::cell::RefCell<NullForms> = std::cell::RefCell::default();
}

/// The bytes of a null instance property, written once per schema property name and type (most of an
/// instance's properties are null, and the same ones in every instance of its class) and copied after. Only
/// interned names and class templates are kept, so the table is bounded by the schema.
#[derive(Default)]
struct NullForms {
    by_name: std::collections::HashMap<usize, Vec<(TypeSpec, Box<str>)>, WordHash>,
    /// Per class template, the forms of each of its properties by position.
    by_template: std::collections::HashMap<u64, std::rc::Rc<[PropertyForms]>, WordHash>,
}

/// A class property's element as an instance writes it: whole when null (empty where the default is not
/// null: that is written as any value), and the start and end tags around a value of the declared type
/// (empty for a reference, whose start tag names the class of the value).
struct PropertyForms {
    null: Box<str>,
    open: Box<str>,
    close: &'static str,
}

impl NullForms {
    fn of(&mut self, name: &'static str, ty: &TypeSpec) -> &str {
        let forms = self.by_name.entry(name.as_ptr() as usize).or_default();
        let at = match forms.iter().position(|(t, _)| t == ty) {
            Some(at) => at,
            None => {
                forms.push((ty.clone(), null_form(name, ty)));
                forms.len() - 1
            }
        };
        &forms[at].1
    }

    fn of_template(&mut self, template: &Template) -> std::rc::Rc<[PropertyForms]> {
        let forms = self.by_template.entry(template.id()).or_insert_with(|| {
            template
                .properties()
                .iter()
                .map(|p| {
                    let null = match p.value {
                        Value::Null => null_form(&p.name, &p.ty),
                        _ => Box::default(),
                    };
                    // An instance's property has no qualifiers or origin to write, whatever the options ask.
                    let mut open = String::new();
                    let close = write_property_open(
                        &mut open,
                        &p.name,
                        &p.ty,
                        None,
                        None,
                        false,
                        WriteOptions::default(),
                    );
                    if matches!(p.ty.ty, CimType::Reference(_)) {
                        open.clear();
                    }
                    PropertyForms {
                        null,
                        open: open.into(),
                        close,
                    }
                })
                .collect()
        });
        std::rc::Rc::clone(forms)
    }
}

fn null_form(name: &str, ty: &TypeSpec) -> Box<str> {
    // An instance's property has no qualifiers or origin to write, whatever the options ask.
    let mut form = String::new();
    write_property(
        &mut form,
        name,
        ty,
        &Value::Null,
        None,
        WriteOptions::default(),
    );
    form.into()
}

/// Hashes one word the process chose, never a client's value (an interned name's address, a template's id,
/// an already keyed hash): spread, not keyed again.
pub type WordHash = std::hash::BuildHasherDefault<WordHasher>;

#[derive(Default)]
pub struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    /// An address, a template's id (small numbers) or a keyed hash, spread the same way.
    fn write_u64(&mut self, n: u64) {
        // Multiplied, then the high half folded into the low: both ends of the hash (the table's index and
        // tag) depend on every bit of the address, whose low bits are always zero.
        let x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 32);
    }
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

#[cfg(test)]
mod tests {
    use super::{push_esc, REPLACEMENT};

    /// What [`push_esc`] must give, one character at a time.
    fn escaped_by_char(text: &str) -> String {
        text.chars()
            .map(|c| match c {
                '<' => "&lt;".to_owned(),
                '>' => "&gt;".to_owned(),
                '&' => "&amp;".to_owned(),
                '\'' => "&apos;".to_owned(),
                '"' => "&quot;".to_owned(),
                '\t' | '\n' | '\r' => c.to_string(),
                c if u32::from(c) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                    REPLACEMENT.to_owned()
                }
                c => c.to_string(),
            })
            .collect()
    }

    /// Every character that needs a look, and some that look alike, at every offset of strings longer and
    /// shorter than the eight bytes read at once.
    #[test]
    fn escaping_finds_every_special_at_every_offset() {
        let specials = [
            "<",
            ">",
            "&",
            "'",
            "\"",
            "\u{0}",
            "\u{1F}",
            "\t",
            "\n",
            "\r",
            "\u{FFFE}",
            "\u{FFFF}",
            "\u{FFFD}",
            "\u{EFBF}",
            "=",
            "?",
            "%",
            "!",
            "#",
            "\u{7F}",
            "é",
            "\u{10FFFF}",
        ];
        for special in specials {
            for len in 0..20 {
                for at in 0..=len {
                    let text = format!("{}{special}{}", "a".repeat(at), "b".repeat(len - at));
                    let mut out = String::new();
                    push_esc(&mut out, &text);
                    assert_eq!(out, escaped_by_char(&text), "{text:?}");
                }
            }
        }
    }
}
