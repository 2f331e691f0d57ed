//! CIM-XML responses: the envelope, `IMETHODRESPONSE` for intrinsic operations (whole, or as a list written in
//! parts for streaming), `METHODRESPONSE` for extrinsic methods, and the classes, instances, values and paths
//! inside them, written straight into a `String`.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::cim::{
    Arrayness, CimStatus, CimType, Class, Instance, InstanceSlot, ObjectPath, Property, Qualifier,
    QualifierDecl, Scope, Template, TypeSpec, Value,
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
        Value::Uint8(v) => push_int(out, *v),
        Value::Sint8(v) => push_int(out, *v),
        Value::Uint16(v) => push_int(out, *v),
        Value::Sint16(v) => push_int(out, *v),
        Value::Uint32(v) => push_int(out, *v),
        Value::Sint32(v) => push_int(out, *v),
        Value::Uint64(v) => push_int(out, *v),
        Value::Sint64(v) => push_int(out, *v),
        Value::Boolean(true) => out.push_str("TRUE"),
        Value::Boolean(false) => out.push_str("FALSE"),
        other => {
            if let Some(text) = other.to_text() {
                push_esc(out, &text);
            }
        }
    }
}

/// Integers need no escaping (and no formatter: written in every instance, they are a share of the work).
fn push_int(out: &mut String, value: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(value));
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
    if !write_by_plan(out, inst, opts) {
        write_properties(out, inst, opts);
    }
    out.push_str("</INSTANCE>");
}

/// An instance's properties, one by one.
fn write_properties(out: &mut String, inst: &Instance, opts: WriteOptions) {
    // Taken out of the table once per instance: a value may be an embedded instance, written by this
    // function again.
    let template = inst.template().map(|t| {
        (
            t,
            NULL_FORMS.with(|forms| forms.borrow_mut().of_template(t)),
        )
    });
    for slot in inst.slots() {
        write_slot(
            out,
            &slot,
            template.as_ref().map(|(t, f)| (*t, &f[..])),
            opts,
        );
    }
}

/// One of an instance's properties; `template`: the instance's template and its forms.
fn write_slot(
    out: &mut String,
    slot: &InstanceSlot<'_>,
    template: Option<(&Template, &[PropertyForms])>,
    opts: WriteOptions,
) {
    let p = slot.prop;
    match (&p.value, slot.template_at, template, p.name.as_static()) {
        (Value::Null, Some(at), Some((_, forms)), _) => out.push_str(&forms[at].null),
        (Value::Null, _, _, Some(name)) => {
            NULL_FORMS.with(|forms| out.push_str(forms.borrow_mut().of(name, &p.ty)));
        }
        _ => {
            // A value of its declared type after the start tag written once per class.
            let known = slot.class_at.zip(template).and_then(|(at, (t, forms))| {
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

/// Writes an instance's properties by the [`Plan`] for its template and the positions set on it, made the
/// first time a worker writes an instance so set; false (nothing written) for an instance no plan can write.
fn write_by_plan(out: &mut String, inst: &Instance, opts: WriteOptions) -> bool {
    let Some(template) = inst.template() else {
        return false;
    };
    // Borrowed only to find or make the plan: a value may be an embedded instance, written by this function
    // again.
    let plan = PLANS.with(|plans| plans.borrow_mut().find(inst, template));
    let Some(plan) = plan else {
        return false;
    };
    let mut from = 0;
    for ((_, prop), (&cut, &known)) in inst.set_slots().zip(plan.cuts.iter().zip(&plan.known[..])) {
        out.push_str(&plan.text[from..cut]);
        if known {
            write_value(out, &prop.value);
        } else {
            write_property(out, &prop.name, &prop.ty, &prop.value, None, opts);
        }
        from = cut;
    }
    out.push_str(&plan.text[from..]);
    true
}

thread_local! {
    /// Each worker's [`Plans`].
    static PLANS: std::cell::RefCell<Plans> = std::cell::RefCell::default();
}

/// The instances of a class mostly have the same properties set: all they hold besides those values (start
/// and end tags, the properties left at their defaults) is the same text, written once per class and set of
/// positions and copied after, in runs between the values.
struct Plan {
    /// The text around the values.
    text: Box<str>,
    /// Where in `text` each set property goes, in order.
    cuts: Box<[usize]>,
    /// Whether each set property is a value of its declared type written between its tags in `text` (else it
    /// is written whole: a reference, or a value of another type).
    known: Box<[bool]>,
}

/// The plans whose keys share a hash, with their keys.
type PlanBucket = Vec<(Box<[u64]>, std::rc::Rc<Plan>)>;

/// Plans by template and set positions, with a buffer for the key looked up.
#[derive(Default)]
struct Plans {
    by_key: std::collections::HashMap<u64, PlanBucket, WordHash>,
    count: usize,
    key: Vec<u64>,
}

impl Plans {
    /// Plans kept per worker; past this many (instances set in ever new ways) they are dropped and made anew.
    const MAX: usize = 4096;

    /// The plan for `inst` (made from `template`), made when missing; `None` for an instance a plan cannot
    /// write: one with a property its class does not declare, or a property set to NULL.
    fn find(&mut self, inst: &Instance, template: &Template) -> Option<std::rc::Rc<Plan>> {
        let mut key = std::mem::take(&mut self.key);
        let plan = plan_key(&mut key, inst, template).then(|| self.find_key(&key, inst, template));
        self.key = key;
        plan
    }

    fn find_key(&mut self, key: &[u64], inst: &Instance, template: &Template) -> std::rc::Rc<Plan> {
        let hash = key.iter().fold(0u64, |h, &k| {
            (h.rotate_left(5) ^ k).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        });
        let found = self
            .by_key
            .get(&hash)
            .and_then(|plans| plans.iter().find(|(k, _)| **k == *key));
        if let Some((_, plan)) = found {
            return std::rc::Rc::clone(plan);
        }
        if self.count >= Self::MAX {
            self.by_key.clear();
            self.count = 0;
        }
        let plan = std::rc::Rc::new(make_plan(inst, template, &key[1..]));
        let entry = self.by_key.entry(hash).or_default();
        entry.push((key.into(), std::rc::Rc::clone(&plan)));
        self.count += 1;
        plan
    }
}

/// Fills `key` with the template's id and each set position (`position << 1 | known`); false when no plan
/// can write the instance.
fn plan_key(key: &mut Vec<u64>, inst: &Instance, template: &Template) -> bool {
    let declared = template.properties();
    key.clear();
    key.push(template.id());
    for (at, prop) in inst.set_slots() {
        let (Some(decl), Ok(position)) = (declared.get(at), u64::try_from(at)) else {
            return false;
        };
        if prop.value.is_null() {
            return false;
        }
        let known = decl.ty == prop.ty && !matches!(decl.ty.ty, CimType::Reference(_));
        key.push(position << 1 | u64::from(known));
    }
    true
}

/// The plan for instances of `template` set at the positions `set` says (each `position << 1 | known`).
fn make_plan(inst: &Instance, template: &Template, set: &[u64]) -> Plan {
    let forms = NULL_FORMS.with(|forms| forms.borrow_mut().of_template(template));
    let mut text = String::new();
    let mut cuts = Vec::with_capacity(set.len());
    let mut known = Vec::with_capacity(set.len());
    let mut set = set.iter().peekable();
    for slot in inst.slots() {
        let Some(at) = slot.class_at else { continue };
        match set.next_if(|&&k| (k >> 1) as usize == at && slot.template_at.is_none()) {
            Some(&k) if k & 1 == 1 => {
                text.push_str(&forms[at].open);
                cuts.push(text.len());
                known.push(true);
                text.push_str(forms[at].close);
            }
            Some(_) => {
                cuts.push(text.len());
                known.push(false);
            }
            // A property at its default: the same text in every instance (and no options apply to it).
            None => write_slot(
                &mut text,
                &slot,
                Some((template, &forms)),
                WriteOptions::default(),
            ),
        }
    }
    Plan {
        text: text.into(),
        cuts: cuts.into(),
        known: known.into(),
    }
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

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::cim::builtin_repository;

    /// A value of `ty` that differs with `n`.
    fn sample(ty: &TypeSpec, n: usize) -> Value {
        let scalar = match &ty.ty {
            CimType::Boolean => Value::Boolean(n.is_multiple_of(2)),
            CimType::Uint16 => Value::Uint16(u16::try_from(n).unwrap_or(u16::MAX)),
            CimType::Uint32 => Value::Uint32(u32::try_from(n).unwrap_or(u32::MAX)),
            CimType::Uint64 => Value::Uint64(u64::try_from(n).unwrap_or(u64::MAX)),
            CimType::Sint32 => Value::Sint32(-i32::try_from(n).unwrap_or(i32::MAX)),
            CimType::Reference(_) => Value::Reference(std::sync::Arc::new(ObjectPath::instance(
                Some("root/virt"),
                "KVM_ComputerSystem",
                &[("Name", &format!("vm<{n}>"))],
            ))),
            CimType::String | CimType::EmbeddedInstance(_) | CimType::EmbeddedObject => {
                Value::String(format!("text & {n} <b>"))
            }
            _ => Value::Null,
        };
        if ty.is_array() && !matches!(scalar, Value::Null) {
            let element = ty.ty.clone();
            return Value::Array(element, vec![scalar.clone(), Value::Null, scalar]);
        }
        scalar
    }

    /// Written by plan (made at the first instance, reused at the second) or property by property, an
    /// instance has the same bytes: for every class of the model, with every third, every other or every
    /// property set, a property set to NULL, a value of another type, an embedded instance and a property
    /// the class does not declare.
    #[test]
    fn instances_written_by_plan_equal_those_written_property_by_property() {
        let repo = builtin_repository().expect("repository");
        let ns = repo.namespace("root/virt").expect("namespace");
        let mut planned = 0;
        for class in ns.classes() {
            for (step, oddity) in [(3, 0), (2, 1), (1, 2), (2, 3), (3, 4), (1, 5)] {
                for n in 0..2 {
                    let mut inst = class.new_instance();
                    let props: Vec<_> = class.properties.iter().collect();
                    for (i, p) in props.iter().enumerate().filter(|(i, _)| i % step == 0) {
                        inst.set(&p.name, sample(&p.ty, i + n));
                    }
                    let first = props.first().map(|p| p.name.clone());
                    match (oddity, first) {
                        (1, Some(name)) => inst.set(&name, Value::Null),
                        (2, Some(name)) => inst.set(&name, Value::Real64(1.5)),
                        (3, _) => inst.set("NotDeclared", Value::Uint8(7)),
                        (4, Some(name)) => {
                            let mut inner = class.new_instance();
                            inner.set(&name, Value::String("inner".into()));
                            inst.set(&name, Value::Instance(Box::new(inner)));
                        }
                        _ => {}
                    }
                    let mut by_plan = String::new();
                    write_instance(&mut by_plan, &inst, WriteOptions::default());
                    let mut by_property = String::from("<INSTANCE");
                    push_attr(&mut by_property, "CLASSNAME", &inst.class_name);
                    by_property.push('>');
                    write_properties(&mut by_property, &inst, WriteOptions::default());
                    by_property.push_str("</INSTANCE>");
                    assert_eq!(
                        by_plan, by_property,
                        "{} step {step} oddity {oddity}",
                        class.name
                    );
                    let mut key = Vec::new();
                    let template = inst.template().expect("template");
                    planned += usize::from(plan_key(&mut key, &inst, template));
                }
            }
        }
        assert!(
            planned > 1000,
            "most instances are written by plan ({planned})"
        );
    }
}
