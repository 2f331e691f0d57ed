//! XML helpers shared by the definition parsers and formatters: definitions read through the crate's one capped
//! reader ([`crate::xml`]) with libvirt's caps and error wording, the checks behind the `validate` flag, common
//! value parsers, and a writer that produces libvirt's layout (2-space indentation, single-quoted attributes).

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::units::{parse_scaled, ScaleDefault};
use crate::xml::{is_xml_char, Caps};
pub use crate::xml::{is_xml_space, Node};
use uuid::Uuid;

/// Caps on what a definition may contain; anything larger is not a definition but an attack or an accident.
pub const MAX_INPUT_BYTES: usize = 4 << 20;
pub const MAX_DEPTH: usize = 64;
pub const MAX_ELEMENTS: usize = 20_000;
pub const MAX_ATTRIBUTES: usize = 64;
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// The caps of a definition, read by the crate's one XML reader. libvirt's libxml2 normalizes line ends.
const CAPS: Caps = Caps {
    input_bytes: MAX_INPUT_BYTES,
    depth: MAX_DEPTH,
    elements: MAX_ELEMENTS,
    attributes: MAX_ATTRIBUTES,
    attribute_bytes: MAX_TEXT_BYTES,
    element_text_bytes: MAX_TEXT_BYTES,
    text_bytes: MAX_TEXT_BYTES,
    normalize_line_ends: true,
};

/// Reads a whole document into a tree (see [`crate::xml::parse`] for what is refused). `domain` is the error
/// domain, `document` the name libvirt gives the text in its messages (`domain_definition`,
/// `network_definition` ...).
///
/// A document that is not well formed is libvirt's code 35 (XML_DETAIL), worded as libvirt words it:
/// `(NAME):LINE: WHAT`, then the offending line and a `---^` pointer under the column.
pub fn parse_document(xml: &str, domain: ErrorDomain, document: &str) -> Result<Node> {
    // A UTF-8 byte order mark carries no meaning in a Rust string.
    let xml = xml.strip_prefix('\u{FEFF}').unwrap_or(xml);
    crate::xml::parse(xml, &CAPS).map_err(|err| {
        Error::new(
            ErrorCode::XML_DETAIL,
            domain,
            pointed_message(xml, err.position, document, &err.error.to_string()),
        )
    })
}

/// `(document):LINE: what` and, as libxml2 prints it, the line itself and a pointer to the column.
fn pointed_message(xml: &str, position: usize, document: &str, what: &str) -> String {
    let mut position = position.min(xml.len());
    while !xml.is_char_boundary(position) {
        position -= 1;
    }
    let line_start = xml[..position].rfind('\n').map_or(0, |at| at + 1);
    let line_end = xml[position..]
        .find('\n')
        .map_or(xml.len(), |at| position + at);
    let line_number = xml[..position].matches('\n').count() + 1;
    let column = xml[line_start..position].chars().count();
    format!(
        "({document}):{line_number}: {what}\n{}\n{}^",
        &xml[line_start..line_end],
        "-".repeat(column)
    )
}

/// Elements that may appear more than once where they are allowed (the same in all four schemas).
pub const REPEATABLE: &[&str] = &[
    "boot",
    "disk",
    "controller",
    "interface",
    "serial",
    "console",
    "input",
    "graphics",
    "video",
    "listen",
    "ip",
    "range",
    "parameter",
    "host",
    "hostname",
    "txt",
    "srv",
    "forwarder",
    "route",
    "portgroup",
    "dnsmasq:option",
];

/// Elements whose content is text (the same in all four schemas); any other element holds only whitespace.
pub const TEXT_ELEMENTS: &[&str] = &[
    "name",
    "uuid",
    "title",
    "description",
    "memory",
    "currentMemory",
    "vcpu",
    "type",
    "kernel",
    "initrd",
    "cmdline",
    "on_poweroff",
    "on_reboot",
    "on_crash",
    "emulator",
    "capacity",
    "allocation",
    "available",
    "path",
    "mode",
    "key",
    "hostname",
];

/// How a parser reports: its error domain, its schema's file name, and whether unknown content is an error.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    pub domain: ErrorDomain,
    pub schema: &'static str,
    pub validate: bool,
}

impl Ctx {
    pub fn new(domain: ErrorDomain, schema: &'static str, validate: bool) -> Self {
        Self {
            domain,
            schema,
            validate,
        }
    }

    /// The name libvirt's parse errors give the document, from the schema it is checked against.
    pub fn document_name(&self) -> &'static str {
        match self.schema {
            "domain.rng" => "domain_definition",
            "network.rng" => "network_definition",
            "storagepool.rng" => "storage_pool_definition",
            "storagevol.rng" => "storage_volume_definition",
            _ => "document",
        }
    }

    /// With `validate`, refuses any child element or attribute not in the lists (libvirt's code 92); without it,
    /// they are silently dropped as libvirt drops what it does not model.
    /// Elements may not repeat unless named in [`REPEATABLE`], and only [`TEXT_ELEMENTS`] may hold text, as the
    /// schemas say.
    pub fn check(&self, node: &Node, children: &[&str], attrs: &[&str]) -> Result<()> {
        if !self.validate {
            return Ok(());
        }
        if !TEXT_ELEMENTS.contains(&node.name.as_str())
            && !node.text.trim_matches(is_xml_space).is_empty()
        {
            return Err(self.schema_error(format!("Element {} has extra content: text", node.name)));
        }
        let repeated = node.children.iter().enumerate().find(|(index, child)| {
            !REPEATABLE.contains(&child.name.as_str())
                && node.children[..*index]
                    .iter()
                    .any(|earlier| earlier.name == child.name)
        });
        if let Some((_, child)) = repeated {
            return Err(self.schema_error(format!("Extra element {} in interleave", child.name)));
        }
        if let Some(child) = node
            .children
            .iter()
            .find(|child| !children.contains(&child.name.as_str()))
        {
            return Err(self.schema_error(format!(
                "Element {} has extra content: {}",
                node.name, child.name
            )));
        }
        if let Some((key, _)) = node
            .attrs
            .iter()
            // Namespace declarations are not attributes (RelaxNG ignores them too).
            .find(|(key, _)| {
                !attrs.contains(&key.as_str()) && key != "xmlns" && !key.starts_with("xmlns:")
            })
        {
            return Err(
                self.schema_error(format!("Invalid attribute {key} for element {}", node.name))
            );
        }
        Ok(())
    }

    /// libvirt's code 92 for a document its schema refuses, `detail` as libxml2 words the fault.
    pub fn schema_error(&self, detail: String) -> Error {
        Error::with_detail(
            ErrorCode::XML_INVALID_SCHEMA,
            ErrorDomain::XML,
            format!("Unable to validate doc against {}\n{detail}", self.schema),
        )
    }

    pub fn xml_error(&self, detail: impl AsRef<str>) -> Error {
        Error::with_detail(ErrorCode::XML_ERROR, self.domain, detail)
    }

    /// libvirt's wording for an attribute whose value is not one it knows.
    pub fn invalid_attr(&self, element: &str, attr: &str, value: &str) -> Error {
        Error::with_detail(
            ErrorCode::XML_ERROR,
            ErrorDomain::XML,
            format!("Invalid value for attribute '{attr}' in element '{element}': '{value}'."),
        )
    }

    pub fn missing_attr(&self, element: &str, attr: &str) -> Error {
        Error::with_detail(
            ErrorCode::XML_ERROR,
            ErrorDomain::XML,
            format!("Missing required attribute '{attr}' in element '{element}'"),
        )
    }

    /// Checks that the root element is `expected`.
    pub fn expect_root(&self, root: &Node, expected: &str) -> Result<()> {
        if root.name == expected {
            Ok(())
        } else {
            Err(Error::with_detail(
                ErrorCode::XML_ERROR,
                ErrorDomain::XML,
                format!(
                    "expecting root element of '{expected}', not '{}'",
                    root.name
                ),
            ))
        }
    }

    /// An optional attribute that must be one of `allowed`.
    pub fn enum_attr(&self, node: &Node, attr: &str, allowed: &[&str]) -> Result<Option<String>> {
        match node.attr(attr) {
            None => Ok(None),
            Some(value) if allowed.contains(&value) => Ok(Some(value.to_string())),
            Some(value) => Err(self.invalid_attr(&node.name, attr, value)),
        }
    }

    /// An optional unsigned attribute, plain decimal digits.
    pub fn u32_attr(&self, node: &Node, attr: &str) -> Result<Option<u32>> {
        node.attr(attr)
            .map(|value| {
                parse_decimal(value).ok_or_else(|| self.invalid_attr(&node.name, attr, value))
            })
            .transpose()
    }

    pub fn u64_attr(&self, node: &Node, attr: &str) -> Result<Option<u64>> {
        node.attr(attr)
            .map(|value| {
                parse_decimal(value).ok_or_else(|| self.invalid_attr(&node.name, attr, value))
            })
            .transpose()
    }

    /// An optional `yes`/`no` (or `on`/`off` with the other pair) attribute.
    pub fn bool_attr(&self, node: &Node, attr: &str, words: (&str, &str)) -> Result<Option<bool>> {
        match node.attr(attr) {
            None => Ok(None),
            Some(value) if value == words.0 => Ok(Some(true)),
            Some(value) if value == words.1 => Ok(Some(false)),
            Some(value) => Err(self.invalid_attr(&node.name, attr, value)),
        }
    }

    /// `<uuid>`: absent means a fresh random (v4) one; present must parse.
    pub fn uuid(&self, root: &Node) -> Result<Uuid> {
        match root.child_text("uuid") {
            None => Ok(Uuid::new_v4()),
            Some(text) => {
                // Only the hyphenated and the plain 32-digit forms, as the schemas say.
                let trimmed = text.trim_matches(is_xml_space);
                [32, 36]
                    .contains(&trimmed.len())
                    .then(|| Uuid::parse_str(trimmed).ok())
                    .flatten()
                    .ok_or_else(|| self.xml_error(format!("malformed uuid element '{text}'")))
            }
        }
    }

    /// A scaled element (`<memory unit='GiB'>2</memory>`) in the default's unit, errors in this parser's domain.
    pub fn scaled(&self, node: &Node, default: ScaleDefault) -> Result<u64> {
        parse_scaled(&node.text, node.attr("unit"), default).map_err(|err| {
            if err.code == ErrorCode::XML_ERROR {
                Error::with_detail(
                    ErrorCode::XML_ERROR,
                    ErrorDomain::XML,
                    format!(
                        "Invalid value '{}' for element or attribute '{}'",
                        node.text, node.name
                    ),
                )
            } else {
                err
            }
        })
    }
}

/// Plain decimal digits only (no sign, no spaces), as libvirt's integer attributes are.
pub fn parse_decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A signed decimal: an optional `-` then digits.
pub fn parse_signed<T: std::str::FromStr>(text: &str) -> Option<T> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Escapes text content: markup characters and quotes as libvirt does; CR as a reference so it survives
/// end-of-line normalisation; characters XML cannot carry are dropped.
pub fn escape_text(text: &str) -> String {
    escape(text, false)
}

/// Escapes an attribute value for single quotes; tabs and newlines as references so they survive normalisation.
pub fn escape_attr(text: &str) -> String {
    escape(text, true)
}

fn escape(text: &str, in_attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\n' if in_attribute => out.push_str("&#10;"),
            '\t' if in_attribute => out.push_str("&#9;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// Attributes to write, in order; `None` values are left out.
#[derive(Default)]
pub struct Attrs(Vec<(std::borrow::Cow<'static, str>, String)>);

impl Attrs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, key: &'static str, value: impl ToString) -> Self {
        self.0.push((key.into(), value.to_string()));
        self
    }

    pub fn opt<V: ToString>(mut self, key: &'static str, value: Option<V>) -> Self {
        if let Some(value) = value {
            self.0.push((key.into(), value.to_string()));
        }
        self
    }

    /// Appends attributes whose names come from a parsed document (kept parts of a definition).
    pub fn extend<'a>(mut self, attrs: impl IntoIterator<Item = &'a (String, String)>) -> Self {
        for (key, value) in attrs {
            self.0.push((key.clone().into(), value.clone()));
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Builds libvirt-shaped XML: 2-space indentation, single-quoted attributes, a newline after every line.
#[derive(Default)]
pub struct XmlWriter {
    out: String,
    depth: usize,
}

impl XmlWriter {
    pub fn new() -> Self {
        Self::default()
    }

    fn start_tag(&mut self, name: &str, attrs: &Attrs) {
        self.start_tag_quoted(name, attrs, '\'');
    }

    fn start_tag_quoted(&mut self, name: &str, attrs: &Attrs, quote: char) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in &attrs.0 {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push('=');
            self.out.push(quote);
            self.out.push_str(&escape_attr(value));
            self.out.push(quote);
        }
    }

    /// A parsed element written back whole, its attributes in `quote`s: libvirt writes the parts of a definition
    /// it keeps without modelling (`<metadata>` content) through libxml2, which quotes with `"`. Text around
    /// child elements is kept only when it is more than white space.
    pub fn node(&mut self, node: &Node, quote: char) {
        let attrs = Attrs::new().extend(&node.attrs);
        self.start_tag_quoted(&node.name, &attrs, quote);
        let text = node.text.trim_matches(is_xml_space);
        if node.children.is_empty() {
            if node.text.is_empty() {
                self.out.push_str("/>\n");
            } else {
                self.out.push('>');
                self.out.push_str(&escape_text(&node.text));
                self.out.push_str("</");
                self.out.push_str(&node.name);
                self.out.push_str(">\n");
            }
            return;
        }
        self.out.push_str(">\n");
        self.depth += 1;
        if !text.is_empty() {
            for _ in 0..self.depth {
                self.out.push_str("  ");
            }
            self.out.push_str(&escape_text(text));
            self.out.push('\n');
        }
        for child in &node.children {
            self.node(child, quote);
        }
        self.close(&node.name);
    }

    /// `<name attrs>` then a newline; children follow one level deeper until [`Self::close`].
    pub fn open(&mut self, name: &str, attrs: Attrs) {
        self.start_tag(name, &attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    pub fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// `<name attrs/>`.
    pub fn empty(&mut self, name: &str, attrs: Attrs) {
        self.start_tag(name, &attrs);
        self.out.push_str("/>\n");
    }

    /// `<name attrs>text</name>`.
    pub fn text(&mut self, name: &str, attrs: Attrs, text: &str) {
        self.start_tag(name, &attrs);
        self.out.push('>');
        self.out.push_str(&escape_text(text));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// `<name attrs/>` with attribute names not known in advance (kept as a definition wrote them).
    pub fn raw_empty(&mut self, name: &str, attrs: &[(String, String)]) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("='");
            self.out.push_str(&escape_attr(value));
            self.out.push('\'');
        }
        self.out.push_str("/>\n");
    }

    /// `<name>text</name>` when there is a value.
    pub fn opt_text(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.text(name, Attrs::new(), text);
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: ErrorDomain = ErrorDomain::DOMAIN;

    #[test]
    fn builds_a_tree_with_text_and_entities() {
        let root = parse_document(
            "<?xml version = \"1.0\" encoding='utf-8' standalone='no' ?><!-- c --><a x='1&amp;2'><b>t&lt;&#65;&#x42;</b><b/><![CDATA[<raw>]]></a>",
            D,
            "doc",
        )
        .unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.attr("x"), Some("1&2"));
        assert_eq!(root.children.len(), 2);
        assert_eq!(root.child_text("b"), Some("t<AB"));
        assert_eq!(root.text, "<raw>");
    }

    #[test]
    fn refuses_bad_documents() {
        let cases = [
            "",
            "<a>",
            "<a></b>",
            "</a>",
            "<a/><b/>",
            "text<a/>",
            "<a/>text",
            "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>",
            "<!DOCTYPE a SYSTEM 'file:///etc/passwd'><a/>",
            "<a>&x;</a>",
            "<a>&#0;</a>",
            "<a>&#1;</a>",
            "<a x='1' x='2'/>",
            "<a x=1/>",
            "<a>\u{1}</a>",
            "<a>&amp</a>",
            "<a x='&#xFFFE;'/>",
            "<?xml version='1.0' encoding='UTF<x>-8'?><a/>",
            "<?xml version='1.0' encoding='ISO-8859-1'?><a/>",
            "<?xml version='1.1'?><a/>",
            " <?xml version='1.0'?><a/>",
            "<a/><?xml version='1.0'?>",
            "\u{A0}<a/>",
            "<?xm]]>l version='1.0'?><a/>",
            "<a><?xml?></a>",
            "<a>x]]>y</a>",
            "<1a/>",
            "<a b='<'/>",
            "<a 1b='x'/>",
            "<?xml version=\"1.0\" enco<!--ding=\"UTF-8\"?><a/>",
            "<?xml encoding='UTF-8'?><a/>",
            "<?xml version='1.0' standalone='yes' encoding='UTF-8'?><a/>",
            "<?xml version='1.0'encoding='UTF-8'?><a/>",
        ];
        for xml in cases {
            let err = parse_document(xml, D, "doc").unwrap_err();
            assert_eq!(err.code, ErrorCode::XML_DETAIL, "{xml:?}");
            assert!(err.message.starts_with("(doc):"), "{}", err.message);
        }
    }

    #[test]
    fn accepts_a_byte_order_mark() {
        assert_eq!(
            parse_document("\u{FEFF}<?xml version='1.0'?>\n<a/>\n", D, "doc")
                .unwrap()
                .name,
            "a"
        );
    }

    #[test]
    fn accepts_the_names_xml_allows() {
        let xml = "<a-b c.d='1' _e:f='2' \u{e9}t\u{e9}='3'><?xml-stylesheet x?><?pi data?></a-b>";
        let root = parse_document(xml, D, "doc").unwrap();
        assert_eq!(root.name, "a-b");
        assert_eq!(root.attrs.len(), 3);
    }

    #[test]
    fn caps_depth_elements_and_text() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse_document(&deep, D, "doc")
            .unwrap_err()
            .message
            .contains("nested"));
        let ok_depth = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse_document(&ok_depth, D, "doc").is_ok());
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert!(parse_document(&many, D, "doc")
            .unwrap_err()
            .message
            .contains("elements"));
        let big = format!("<a>{}</a>", "x".repeat(MAX_TEXT_BYTES + 1));
        assert!(parse_document(&big, D, "doc")
            .unwrap_err()
            .message
            .contains("text"));
        let attrs: String = (0..=MAX_ATTRIBUTES).map(|i| format!(" a{i}='1'")).collect();
        assert!(parse_document(&format!("<a{attrs}/>"), D, "doc").is_err());
    }

    #[test]
    fn validation_names_the_unknown_element_or_attribute() {
        let root = parse_document("<a k='1'><b/><zz/></a>", D, "doc").unwrap();
        let lax = Ctx::new(D, "a.rng", false);
        assert!(lax.check(&root, &["b"], &[]).is_ok());
        let strict = Ctx::new(D, "a.rng", true);
        let err = strict.check(&root, &["b"], &["k"]).unwrap_err();
        assert_eq!(err.code, ErrorCode::XML_INVALID_SCHEMA);
        assert!(err.message.contains("extra content: zz"), "{}", err.message);
        let err = strict.check(&root, &["b", "zz"], &[]).unwrap_err();
        assert!(
            err.message.contains("Invalid attribute k for element a"),
            "{}",
            err.message
        );
    }

    #[test]
    fn validation_refuses_repeats_and_stray_text() {
        let strict = Ctx::new(D, "a.rng", true);
        let root = parse_document("<a><name>x</name><name>y</name></a>", D, "doc").unwrap();
        let err = strict.check(&root, &["name"], &[]).unwrap_err();
        assert!(
            err.message.contains("Extra element name in interleave"),
            "{}",
            err.message
        );
        let root = parse_document("<a><disk/><disk/></a>", D, "doc").unwrap();
        assert!(strict.check(&root, &["disk"], &[]).is_ok());
        let root = parse_document("<a>\n  stray\n</a>", D, "doc").unwrap();
        let err = strict.check(&root, &[], &[]).unwrap_err();
        assert!(
            err.message.contains("Element a has extra content: text"),
            "{}",
            err.message
        );
        let root = parse_document("<a>\n \t\r\n</a>", D, "doc").unwrap();
        assert!(strict.check(&root, &[], &[]).is_ok());
        let root = parse_document("<a xmlns='urn:x' xmlns:q='urn:q'/>", D, "doc").unwrap();
        assert!(strict.check(&root, &[], &[]).is_ok());
    }

    #[test]
    fn writer_escapes_and_indents() {
        let mut w = XmlWriter::new();
        w.open(
            "a",
            Attrs::new()
                .with("x", "it's <&>\"\n\t")
                .opt::<u32>("none", None),
        );
        w.text("b", Attrs::new(), "a<b>&'\"\r\n\u{1}");
        w.empty("c", Attrs::new().with("n", 5));
        w.close("a");
        let out = w.finish();
        assert_eq!(
            out,
            "<a x='it&apos;s &lt;&amp;&gt;&quot;&#10;&#9;'>\n  <b>a&lt;b&gt;&amp;&apos;&quot;&#13;\n</b>\n  <c n='5'/>\n</a>\n"
        );
        let back = parse_document(&out, D, "doc").unwrap();
        assert_eq!(back.attr("x"), Some("it's <&>\"\n\t"));
        assert_eq!(back.child_text("b"), Some("a<b>&'\"\r\n"));
    }
}
