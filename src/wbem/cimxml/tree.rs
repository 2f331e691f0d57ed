//! The element tree CIM-XML is decoded from: the crate's one capped XML reader ([`crate::xml`]) under the
//! [`Limits`], its faults turned into [`CimXmlError`]s, and the lookups CIM-XML decoding needs.

use super::error::{invalid, CimXmlError, Limits};
use crate::xml::{Caps, XmlError};

pub(super) use crate::xml::Node;

impl Limits {
    /// The reader's caps for a request or an embedded object. The whole body is already capped by the HTTP
    /// layer, so the document and its total text are not capped again here; CIM-XML values keep their line ends
    /// as sent.
    fn caps(&self) -> Caps {
        Caps {
            input_bytes: usize::MAX,
            depth: self.max_depth,
            elements: self.max_elements,
            attributes: self.max_attributes,
            attribute_bytes: self.max_text,
            element_text_bytes: self.max_text,
            text_bytes: usize::MAX,
            normalize_line_ends: false,
        }
    }
}

/// The decode error for a reader fault: a cap is named by what it limits (tests and logs rely on these names);
/// anything else is not well formed. Both are answered `request-not-well-formed`.
fn decode_error(error: XmlError) -> CimXmlError {
    match error {
        XmlError::TooDeep(_) => CimXmlError::LimitExceeded("nesting depth"),
        XmlError::TooManyElements(_) => CimXmlError::LimitExceeded("element count"),
        XmlError::TooManyAttributes(_) => CimXmlError::LimitExceeded("attributes per element"),
        XmlError::AttributeTooLong { .. } => CimXmlError::LimitExceeded("attribute size"),
        XmlError::ElementTextTooLong(_) | XmlError::TextTooLong(_) => {
            CimXmlError::LimitExceeded("text size")
        }
        XmlError::InputTooLarge(_) => CimXmlError::LimitExceeded("document size"),
        XmlError::Malformed(detail) => CimXmlError::NotWellFormed(detail),
    }
}

/// Reads a document (a request, or an embedded object's text) into a tree under the limits.
pub(super) fn parse_tree(text: &str, limits: &Limits) -> Result<Node, CimXmlError> {
    crate::xml::parse(text, &limits.caps()).map_err(|e| decode_error(e.error))
}

/// Lookups with the CIM-XML decoder's error for what is missing.
pub(super) trait CimNode {
    /// An attribute; CIM-XML attribute names are matched ignoring ASCII case, as they always have been here.
    fn cim_attr(&self, name: &str) -> Option<&str>;
    fn req_attr(&self, name: &str) -> Result<&str, CimXmlError>;
    fn req_child(&self, name: &str) -> Result<&Node, CimXmlError>;
    /// The one child element, if any; more than one is invalid.
    fn only_child(&self) -> Result<Option<&Node>, CimXmlError>;
}

impl CimNode for Node {
    fn cim_attr(&self, name: &str) -> Option<&str> {
        self.attr_ignore_case(name)
    }

    fn req_attr(&self, name: &str) -> Result<&str, CimXmlError> {
        self.cim_attr(name)
            .ok_or_else(|| invalid(format!("<{}> lacks attribute {name}", self.name)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_faults_map_to_decode_errors() {
        let cases = [
            (
                XmlError::TooDeep(1),
                "request-not-well-formed",
                "nesting depth",
            ),
            (
                XmlError::TooManyElements(1),
                "request-not-well-formed",
                "element count",
            ),
            (
                XmlError::TooManyAttributes("a".into()),
                "request-not-well-formed",
                "attributes per element",
            ),
            (
                XmlError::AttributeTooLong {
                    name: "a".into(),
                    max: 1,
                },
                "request-not-well-formed",
                "attribute size",
            ),
            (
                XmlError::ElementTextTooLong(1),
                "request-not-well-formed",
                "text size",
            ),
            (
                XmlError::TextTooLong(1),
                "request-not-well-formed",
                "text size",
            ),
            (
                XmlError::InputTooLarge(1),
                "request-not-well-formed",
                "document size",
            ),
        ];
        for (error, header, what) in cases {
            let decoded = decode_error(error);
            assert_eq!(decoded.cim_error_header(), header);
            assert_eq!(decoded, CimXmlError::LimitExceeded(what));
        }
        let decoded = decode_error(XmlError::Malformed("x".into()));
        assert_eq!(decoded, CimXmlError::NotWellFormed("x".into()));
        assert_eq!(decoded.cim_error_header(), "request-not-well-formed");
    }

    #[test]
    fn attributes_match_ignoring_case() {
        let node = parse_tree("<A Name='x'/>", &Limits::default()).unwrap();
        assert_eq!(node.cim_attr("NAME"), Some("x"));
        assert_eq!(node.req_attr("name"), Ok("x"));
        assert!(node.req_attr("CLASSNAME").is_err());
    }
}
