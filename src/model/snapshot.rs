//! Domain snapshot XML (`<domainsnapshot>`): the parts libvirt's test driver reads and writes, parse and format.

use crate::error::{Error, ErrorDomain, Result};
use crate::model::xml::{escape_attr, escape_text, parse_document, Attrs, Node, XmlWriter};
use crate::model::{DomainDef, DomainXmlOptions};

/// One snapshot's definition. `state`, `creation_time`, `parent` and `domain` are only read from XML when a
/// snapshot is redefined (or loaded back from disk); a new snapshot gets them from its domain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SnapshotDef {
    pub name: String,
    pub description: Option<String>,
    /// libvirt's snapshot state word: "running", "paused", "shutoff", "disk-snapshot".
    pub state: String,
    /// Seconds since the epoch.
    pub creation_time: i64,
    pub parent: Option<String>,
    /// `<memory snapshot=...>`: "internal", "external" or "no"; empty when the XML said nothing.
    pub memory: String,
    /// `(disk target, snapshot kind)` per `<disk>`.
    pub disks: Vec<(String, String)>,
    pub domain: Option<DomainDef>,
}

fn snapshot_xml_error(detail: impl AsRef<str>) -> Error {
    Error::xml(detail)
}

/// Writes a parsed element back out as XML text (used to hand the embedded `<domain>` to its own parser).
fn node_to_xml(node: &Node, out: &mut String) {
    out.push('<');
    out.push_str(&node.name);
    for (key, value) in &node.attrs {
        out.push_str(&format!(" {key}='{}'", escape_attr(value)));
    }
    out.push('>');
    out.push_str(&escape_text(&node.text));
    for child in &node.children {
        node_to_xml(child, out);
    }
    out.push_str(&format!("</{}>", node.name));
}

impl SnapshotDef {
    /// Parses `<domainsnapshot>`. `redefine` keeps state, creation time, parent and the embedded domain; a
    /// missing name is left empty for the caller to fill (libvirt names it after the creation time).
    pub fn from_xml(xml: &str, redefine: bool) -> Result<Self> {
        let root = parse_document(xml, ErrorDomain::DOMAIN, "domainsnapshot")?;
        if root.name != "domainsnapshot" {
            return Err(snapshot_xml_error("domainsnapshot"));
        }
        let text = |name: &str| root.child_text(name).map(|t| t.trim().to_string());
        let mut def = SnapshotDef {
            name: text("name").unwrap_or_default(),
            description: root.child_text("description").map(str::to_string),
            memory: root
                .child("memory")
                .and_then(|m| m.attr("snapshot"))
                .unwrap_or_default()
                .to_string(),
            ..Default::default()
        };
        if let Some(disks) = root.child("disks") {
            for disk in disks.children_named("disk") {
                let Some(name) = disk.attr("name") else {
                    return Err(snapshot_xml_error(
                        "missing name from disk snapshot element",
                    ));
                };
                let kind = disk.attr("snapshot").unwrap_or("internal");
                def.disks.push((name.to_string(), kind.to_string()));
            }
        }
        if !redefine {
            return Ok(def);
        }
        def.state = text("state")
            .ok_or_else(|| snapshot_xml_error("missing state from existing snapshot"))?;
        if !matches!(
            def.state.as_str(),
            "running" | "paused" | "shutoff" | "disk-snapshot" | "blocked" | "shutdown" | "crashed"
        ) {
            return Err(snapshot_xml_error(format!(
                "Invalid state '{}' in domain snapshot XML",
                def.state
            )));
        }
        let created = text("creationTime")
            .ok_or_else(|| snapshot_xml_error("missing creationTime from existing snapshot"))?;
        def.creation_time = created
            .parse()
            .map_err(|_| snapshot_xml_error("missing creationTime from existing snapshot"))?;
        def.parent = root
            .child("parent")
            .and_then(|p| p.child_text("name"))
            .map(|n| n.trim().to_string());
        if let Some(domain) = root.child("domain") {
            let mut inner = String::new();
            node_to_xml(domain, &mut inner);
            def.domain = Some(DomainDef::from_xml(&inner, false)?);
        }
        Ok(def)
    }

    /// The XML `virDomainSnapshotGetXMLDesc` returns; `secure` keeps secrets in the embedded domain.
    pub fn to_xml(&self, secure: bool) -> String {
        let mut w = XmlWriter::new();
        w.open("domainsnapshot", Attrs::new());
        w.text("name", Attrs::new(), &self.name);
        w.opt_text("description", self.description.as_deref());
        w.text("state", Attrs::new(), &self.state);
        if let Some(parent) = &self.parent {
            w.open("parent", Attrs::new());
            w.text("name", Attrs::new(), parent);
            w.close("parent");
        }
        w.text(
            "creationTime",
            Attrs::new(),
            &self.creation_time.to_string(),
        );
        if !self.memory.is_empty() {
            w.empty("memory", Attrs::new().with("snapshot", &self.memory));
        }
        if !self.disks.is_empty() {
            w.open("disks", Attrs::new());
            for (name, kind) in &self.disks {
                w.empty(
                    "disk",
                    Attrs::new().with("name", name).with("snapshot", kind),
                );
            }
            w.close("disks");
        }
        let mut out = w.finish();
        if let Some(domain) = &self.domain {
            let options = DomainXmlOptions { id: None, secure };
            for line in domain.to_xml(&options).lines() {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push_str("</domainsnapshot>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN: &str =
        "<domain type='test'><name>t</name><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>\
        <memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>";

    #[test]
    fn a_new_snapshot_keeps_only_what_the_user_may_set() {
        let def = SnapshotDef::from_xml(
            "<domainsnapshot><name>s1</name><description>d &amp; e</description><state>paused</state>\
             </domainsnapshot>",
            false,
        )
        .unwrap();
        assert_eq!(def.name, "s1");
        assert_eq!(def.description.as_deref(), Some("d & e"));
        assert_eq!(def.state, "");
    }

    #[test]
    fn redefined_xml_round_trips() {
        let xml = format!(
            "<domainsnapshot><name>s2</name><state>shutoff</state><parent><name>s1</name></parent>\
             <creationTime>17</creationTime><memory snapshot='no'/><disks><disk name='vda' snapshot='internal'/>\
             </disks>{DOMAIN}</domainsnapshot>"
        );
        let def = SnapshotDef::from_xml(&xml, true).unwrap();
        assert_eq!(def.parent.as_deref(), Some("s1"));
        assert_eq!(def.creation_time, 17);
        let again = SnapshotDef::from_xml(&def.to_xml(true), true).unwrap();
        assert_eq!(again, def);
        let text = def.to_xml(true);
        assert!(text.starts_with(
            "<domainsnapshot>\n  <name>s2</name>\n  <state>shutoff</state>\n  <parent>\n"
        ));
        assert!(text.contains("\n  <domain type='test'>\n    <name>t</name>\n"));
    }

    #[test]
    fn redefine_needs_state_and_time() {
        let err = SnapshotDef::from_xml("<domainsnapshot><name>x</name></domainsnapshot>", true);
        assert!(err.is_err());
        assert!(SnapshotDef::from_xml("<domain/>", false).is_err());
    }
}
