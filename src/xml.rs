//! The crate's one capped XML reader (quick-xml based, pure): a whole document read into a small element tree,
//! with no DTD, no entity but the five predefined ones and character references, only XML 1.0 characters, and
//! caps on size, depth, elements, attributes and text checked while reading. libvirt definitions (`model`) and
//! CIM-XML requests (`wbem::cimxml`) both read through it, each with its own [`Caps`], so both get the same
//! well-formedness rules and each maps [`XmlError`] into its own wire error.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One element: its name, attributes in document order, child elements and its concatenated text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
    pub text: String,
}

impl Node {
    /// An attribute by its exact name (XML names are case-sensitive).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// An attribute whose name matches ignoring ASCII case.
    pub fn attr_ignore_case(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The first child with this name (libvirt reads `./name[1]`).
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|child| child.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |child| child.name == name)
    }

    /// The text of the first child with this name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|child| child.text.as_str())
    }
}

/// What a document may contain, checked while reading so that nothing large is built before a cap trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Bytes of the whole document.
    pub input_bytes: usize,
    /// Elements open at once.
    pub depth: usize,
    /// Elements in the document.
    pub elements: usize,
    /// Attributes of one element.
    pub attributes: usize,
    /// Bytes of one attribute value (after unescaping).
    pub attribute_bytes: usize,
    /// Bytes of character data in one element.
    pub element_text_bytes: usize,
    /// Bytes of character data in the whole document.
    pub text_bytes: usize,
    /// Whether CR LF and lone CR in text become LF (XML 1.0 section 2.11). libvirt's libxml2 does this, so
    /// definitions need it; CIM-XML values have always been taken as sent, and a string property keeps its CR.
    pub normalize_line_ends: bool,
}

/// Why a document was refused. The caps say which cap and its value; everything else is not well formed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("document larger than {0} bytes")]
    InputTooLarge(usize),
    #[error("elements nested deeper than {0}")]
    TooDeep(usize),
    #[error("more than {0} elements")]
    TooManyElements(usize),
    #[error("element '{0}' has too many attributes")]
    TooManyAttributes(String),
    #[error("attribute '{name}' longer than {max} bytes")]
    AttributeTooLong { name: String, max: usize },
    #[error("more than {0} bytes of text in one element")]
    ElementTextTooLong(usize),
    #[error("more than {0} bytes of text")]
    TextTooLong(usize),
    #[error("{0}")]
    Malformed(String),
}

/// An [`XmlError`] and the byte offset where reading stopped, for messages that point at the fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error} (near byte {position})")]
pub struct ParseError {
    pub error: XmlError,
    pub position: usize,
}

fn malformed(detail: impl Into<String>) -> XmlError {
    XmlError::Malformed(detail.into())
}

/// XML's white space (narrower than Unicode's).
pub fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// XML 1.0's legal characters: refusing the others keeps every parsed value writable again.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn check_chars(text: &str) -> Result<(), XmlError> {
    match text.chars().find(|c| !is_xml_char(*c)) {
        Some(bad) => Err(malformed(format!(
            "character U+{:04X} is not allowed in XML",
            u32::from(bad)
        ))),
        None => Ok(()),
    }
}

/// XML's Name production, simplified for non-ASCII: letters and digits of any script are accepted.
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let start_ok = |c: char| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (!c.is_ascii() && c.is_alphabetic())
    };
    start_ok(first)
        && chars.all(|c| {
            start_ok(c)
                || c.is_ascii_digit()
                || c == '-'
                || c == '.'
                || (!c.is_ascii() && c.is_alphanumeric())
        })
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

fn start_node(start: &BytesStart<'_>, caps: &Caps) -> Result<Node, XmlError> {
    let name = std::str::from_utf8(start.name().as_ref())
        .map_err(|_| malformed("element name is not UTF-8"))?
        .to_string();
    if !is_xml_name(&name) {
        return Err(malformed(format!("bad element name '{name}'")));
    }
    let mut node = Node {
        name,
        ..Node::default()
    };
    for attr in start.attributes().with_checks(true) {
        let attr = attr.map_err(|err| malformed(format!("in element '{}': {err}", node.name)))?;
        if node.attrs.len() >= caps.attributes {
            return Err(XmlError::TooManyAttributes(node.name));
        }
        let key = std::str::from_utf8(attr.key.as_ref())
            .map_err(|_| malformed("attribute name is not UTF-8"))?
            .to_string();
        if attr.value.contains(&b'<') {
            return Err(malformed(format!("unescaped '<' in attribute '{key}'")));
        }
        if !is_xml_name(&key) {
            return Err(malformed(format!(
                "bad attribute name '{key}' in element '{}'",
                node.name
            )));
        }
        let value = attr.unescape_value().map_err(|err| {
            malformed(format!(
                "attribute '{key}' of element '{}': {err}",
                node.name
            ))
        })?;
        if value.len() > caps.attribute_bytes {
            return Err(XmlError::AttributeTooLong {
                name: key,
                max: caps.attribute_bytes,
            });
        }
        check_chars(&value)?;
        node.attrs.push((key, value.into_owned()));
    }
    Ok(node)
}

/// Reads a whole document into a tree. Refuses DOCTYPE (so no entity can be declared or fetched), undefined
/// entities, characters XML 1.0 forbids, an XML declaration anywhere but at the very start or with another
/// version or encoding, several roots, text outside the root, and anything beyond `caps`.
pub fn parse(xml: &str, caps: &Caps) -> Result<Node, ParseError> {
    let mut position = 0;
    read_tree(xml, caps, &mut position).map_err(|error| ParseError { error, position })
}

fn read_tree(xml: &str, caps: &Caps, position: &mut usize) -> Result<Node, XmlError> {
    if xml.len() > caps.input_bytes {
        return Err(XmlError::InputTooLarge(caps.input_bytes));
    }
    // The raw document first: a forbidden character in a comment, a processing instruction or a name is
    // refused as surely as one in text (references are checked once resolved, below).
    if let Some((at, bad)) = xml.char_indices().find(|(_, c)| !is_xml_char(*c)) {
        *position = at;
        return Err(malformed(format!(
            "character U+{:04X} is not allowed in XML",
            u32::from(bad)
        )));
    }
    let mut reader = Reader::from_str(xml);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.allow_unmatched_ends = false;
    config.allow_dangling_amp = false;
    config.expand_empty_elements = false;

    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut elements = 0usize;
    let mut text_bytes = 0usize;
    let mut seen_event = false;

    loop {
        let event = reader.read_event().map_err(|err| {
            *position = usize::try_from(reader.error_position()).unwrap_or(usize::MAX);
            malformed(err.to_string())
        })?;
        *position = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let text_piece: Option<String> = match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                elements += 1;
                if elements > caps.elements {
                    return Err(XmlError::TooManyElements(caps.elements));
                }
                if stack.len() >= caps.depth {
                    return Err(XmlError::TooDeep(caps.depth));
                }
                if root.is_some() {
                    return Err(malformed("extra content at the end of the document"));
                }
                let node = start_node(start, caps)?;
                if matches!(event, Event::Start(_)) {
                    stack.push(node);
                } else {
                    attach(&mut stack, &mut root, node);
                }
                None
            }
            Event::End(_) => {
                // check_end_names already matched the name; an end without a start is a reader error.
                let node = stack
                    .pop()
                    .ok_or_else(|| malformed("closing tag without an opening tag"))?;
                attach(&mut stack, &mut root, node);
                None
            }
            Event::Text(text) => {
                let content = if caps.normalize_line_ends {
                    text.xml10_content()
                } else {
                    text.decode()
                }
                .map_err(|err| malformed(err.to_string()))?
                .into_owned();
                if content.contains("]]>") {
                    return Err(malformed("']]>' is not allowed in text"));
                }
                Some(content)
            }
            Event::CData(cdata) => Some(
                if caps.normalize_line_ends {
                    cdata.xml10_content()
                } else {
                    cdata.decode()
                }
                .map_err(|err| malformed(err.to_string()))?
                .into_owned(),
            ),
            Event::GeneralRef(reference) => {
                let name = reference
                    .decode()
                    .map_err(|err| malformed(err.to_string()))?;
                let resolved = if reference.is_char_ref() {
                    reference.resolve_char_ref().map_err(|err| {
                        malformed(format!("bad character reference '&{name};': {err}"))
                    })?
                } else {
                    predefined_entity(&name)
                };
                let c =
                    resolved.ok_or_else(|| malformed(format!("undefined entity '&{name};'")))?;
                Some(c.to_string())
            }
            Event::DocType(_) => {
                return Err(malformed("DOCTYPE and entity declarations are not allowed"));
            }
            Event::Decl(_) => {
                // Only at the very start, version 1.0, UTF-8 (the text already is a Rust string), well formed.
                if seen_event || !xml.starts_with("<?xml") {
                    return Err(malformed(
                        "XML declaration allowed only at the start of the document",
                    ));
                }
                let body = xml
                    .find("?>")
                    .map(|end| &xml["<?xml".len()..end])
                    .unwrap_or_default();
                check_declaration(body).map_err(malformed)?;
                None
            }
            Event::PI(pi) => {
                let target = std::str::from_utf8(pi.target()).unwrap_or_default();
                if !is_xml_name(target) || target.eq_ignore_ascii_case("xml") {
                    return Err(malformed(format!(
                        "bad processing instruction target '{target}'"
                    )));
                }
                None
            }
            Event::Comment(_) => None,
            Event::Eof => break,
        };
        seen_event = true;
        if let Some(piece) = text_piece {
            check_chars(&piece)?;
            text_bytes += piece.len();
            if text_bytes > caps.text_bytes {
                return Err(XmlError::TextTooLong(caps.text_bytes));
            }
            match stack.last_mut() {
                Some(open) => {
                    if open.text.len() + piece.len() > caps.element_text_bytes {
                        return Err(XmlError::ElementTextTooLong(caps.element_text_bytes));
                    }
                    open.text.push_str(&piece);
                }
                None if piece.trim_matches(is_xml_space).is_empty() => {}
                None => return Err(malformed("text outside the root element")),
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(malformed(format!(
            "premature end of data in tag {}",
            open.name
        )));
    }
    root.ok_or_else(|| malformed("no root element"))
}

/// Checks the pseudo-attributes of `<?xml ...?>`: `version='1.0'`, then optionally a UTF-8 `encoding`, then
/// optionally `standalone` yes/no, each after whitespace.
fn check_declaration(body: &str) -> Result<(), String> {
    let order = ["version", "encoding", "standalone"];
    let mut next = 0;
    let mut rest = body;
    loop {
        let trimmed = rest.trim_start_matches(is_xml_space);
        if trimmed.is_empty() {
            break;
        }
        if trimmed.len() == rest.len() {
            return Err("malformed XML declaration".into());
        }
        let (name, after) = trimmed.split_once('=').ok_or("malformed XML declaration")?;
        let name = name.trim_end_matches(is_xml_space);
        let after = after.trim_start_matches(is_xml_space);
        let quote = after
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')
            .ok_or("malformed XML declaration")?;
        let (value, remainder) = after[1..]
            .split_once(quote)
            .ok_or("malformed XML declaration")?;
        let position = order[next..]
            .iter()
            .position(|known| *known == name)
            .ok_or_else(|| format!("unexpected '{name}' in the XML declaration"))?;
        next += position + 1;
        let valid = match name {
            "version" => value == "1.0",
            "encoding" => value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8"),
            _ => value == "yes" || value == "no",
        };
        if !valid {
            return Err(format!(
                "unsupported {name} '{value}' in the XML declaration"
            ));
        }
        rest = remainder;
    }
    if body.trim_start_matches(is_xml_space).starts_with("version") {
        Ok(())
    } else {
        Err("the XML declaration lacks a version".into())
    }
}

fn attach(stack: &mut [Node], root: &mut Option<Node>, node: Node) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps {
        input_bytes: 4096,
        depth: 8,
        elements: 32,
        attributes: 4,
        attribute_bytes: 64,
        element_text_bytes: 64,
        text_bytes: 100,
        normalize_line_ends: true,
    };

    fn error(xml: &str, caps: &Caps) -> XmlError {
        parse(xml, caps).expect_err(xml).error
    }

    #[test]
    fn builds_a_tree_with_text_entities_and_references() {
        let root = parse(
            "<?xml version='1.0' encoding='UTF-8'?><!-- c --><a X='1&amp;2'><b>t&lt;&#65;&#x42;</b><b/><![CDATA[<r>]]></a>",
            &CAPS,
        )
        .unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.attr("X"), Some("1&2"));
        assert_eq!(root.attr("x"), None);
        assert_eq!(root.attr_ignore_case("x"), Some("1&2"));
        assert_eq!(root.child_text("b"), Some("t<AB"));
        assert_eq!(root.children_named("b").count(), 2);
        assert_eq!(root.text, "<r>");
    }

    #[test]
    fn each_cap_is_named_with_its_value() {
        let cases: Vec<(String, XmlError)> = vec![
            ("<a/>".repeat(2000), XmlError::InputTooLarge(4096)),
            ("<a>".repeat(9) + &"</a>".repeat(9), XmlError::TooDeep(8)),
            (
                format!("<a>{}</a>", "<b/>".repeat(32)),
                XmlError::TooManyElements(32),
            ),
            (
                "<a p='1' q='2' r='3' s='4' t='5'/>".into(),
                XmlError::TooManyAttributes("a".into()),
            ),
            (
                format!("<a p='{}'/>", "x".repeat(65)),
                XmlError::AttributeTooLong {
                    name: "p".into(),
                    max: 64,
                },
            ),
            (
                format!("<a>{}</a>", "x".repeat(65)),
                XmlError::ElementTextTooLong(64),
            ),
            (
                format!("<a><b>{0}</b><b>{0}</b></a>", "x".repeat(60)),
                XmlError::TextTooLong(100),
            ),
        ];
        for (xml, expected) in cases {
            assert_eq!(error(&xml, &CAPS), expected);
        }
    }

    #[test]
    fn refuses_what_is_not_well_formed() {
        for xml in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>",
            "<a>&x;</a>",
            "<a>&#1;</a>",
            "<a>\u{1}</a>",
            "<a x='\u{0}'/>",
            "<a>x]]>y</a>",
            "<a><!-- \u{0} --></a>",
            "<a><?pi \u{1}?></a>",
            "<a><![CDATA[\u{8}]]></a>",
            "<a>&#x1;</a>",
            "<a>&#0;</a>",
            "<a x='&#x1F;'/>",
            "<a>\u{FFFE}</a>",
            "<a>&#xFFFF;</a>",
            " <?xml version='1.0'?><a/>",
            "<?xml version='1.1'?><a/>",
            "\u{A0}<a/>",
        ] {
            let err = error(xml, &CAPS);
            assert!(matches!(err, XmlError::Malformed(_)), "{xml:?}: {err:?}");
        }
    }

    #[test]
    fn line_ends_are_normalised_only_when_asked() {
        let kept = Caps {
            normalize_line_ends: false,
            ..CAPS
        };
        assert_eq!(parse("<a>x\r\ny</a>", &CAPS).unwrap().text, "x\ny");
        assert_eq!(parse("<a>x\r\ny</a>", &kept).unwrap().text, "x\r\ny");
        assert_eq!(parse("<a>x&#13;\ny</a>", &CAPS).unwrap().text, "x\r\ny");
    }
}
