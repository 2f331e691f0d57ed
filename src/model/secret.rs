//! Secret definitions (`<secret>` XML of `virSecretDefineXML`): model, parser and formatter, with libvirt's usage
//! types and error wording. The value is not part of the definition.

use uuid::Uuid;

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::xml::{parse_document, Attrs, Ctx, XmlWriter};

/// The name libvirt gives the text in its parse errors.
const DOCUMENT: &str = "definition_of_secret";

/// What a secret is for (`VIR_SECRET_USAGE_TYPE_*`), with the usage's id.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SecretUsage {
    /// An encrypted volume's path.
    Volume(String),
    /// A Ceph user name.
    Ceph(String),
    /// An iSCSI target.
    Iscsi(String),
    /// A TLS key's name.
    Tls(String),
    /// A vTPM's name.
    Vtpm(String),
}

impl SecretUsage {
    /// The `VIR_SECRET_USAGE_TYPE_*` number.
    pub fn type_number(&self) -> i32 {
        match self {
            Self::Volume(_) => 1,
            Self::Ceph(_) => 2,
            Self::Iscsi(_) => 3,
            Self::Tls(_) => 4,
            Self::Vtpm(_) => 5,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Volume(_) => "volume",
            Self::Ceph(_) => "ceph",
            Self::Iscsi(_) => "iscsi",
            Self::Tls(_) => "tls",
            Self::Vtpm(_) => "vtpm",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::Volume(id)
            | Self::Ceph(id)
            | Self::Iscsi(id)
            | Self::Tls(id)
            | Self::Vtpm(id) => id,
        }
    }

    /// The element that holds the id.
    fn element(&self) -> &'static str {
        match self {
            Self::Volume(_) => "volume",
            Self::Iscsi(_) => "target",
            Self::Ceph(_) | Self::Tls(_) | Self::Vtpm(_) => "name",
        }
    }
}

/// A secret's definition.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SecretDef {
    pub uuid: Uuid,
    /// Kept in memory only, never written to disk.
    pub ephemeral: bool,
    /// The value is never handed out over the API.
    pub private: bool,
    pub description: Option<String>,
    /// `None` is libvirt's usage type "none".
    pub usage: Option<SecretUsage>,
}

impl SecretDef {
    /// `(usage type number, usage id)` as the secret's handle carries them.
    pub fn usage_key(&self) -> (i32, &str) {
        self.usage
            .as_ref()
            .map_or((0, ""), |usage| (usage.type_number(), usage.id()))
    }
}

fn xml_error(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::XML_ERROR, ErrorDomain::SECRET, detail)
}

fn internal(detail: impl AsRef<str>) -> Error {
    Error::internal(ErrorDomain::SECRET, detail)
}

fn yes_no(value: &str, what: &str) -> Result<bool> {
    match value {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(xml_error(format!("invalid value of '{what}'"))),
    }
}

/// Parses a `<secret>` definition; a missing UUID is generated, as libvirt does. With `validate`
/// (`VIR_SECRET_DEFINE_VALIDATE`) content the schema does not allow is refused instead of dropped.
pub fn parse_secret(xml: &str, validate: bool) -> Result<SecretDef> {
    let root = parse_document(xml, ErrorDomain::SECRET, DOCUMENT)?;
    if root.name != "secret" {
        return Err(xml_error(format!(
            "unexpected root element <{}>, expecting <secret>",
            root.name
        )));
    }
    if validate {
        let cx = Ctx::new(ErrorDomain::SECRET, "secret.rng", true);
        cx.check(
            &root,
            &["uuid", "description", "usage"],
            &["ephemeral", "private"],
        )?;
        if let Some(usage) = root.child("usage") {
            cx.check(usage, &["volume", "name", "target"], &["type"])?;
        }
    }
    let ephemeral = match root.attr("ephemeral") {
        Some(value) => yes_no(value, "ephemeral")?,
        None => false,
    };
    let private = match root.attr("private") {
        Some(value) => yes_no(value, "private")?,
        None => false,
    };
    let uuid = match root.child_text("uuid") {
        None => Uuid::new_v4(),
        Some(text) => {
            Uuid::parse_str(text.trim()).map_err(|_| internal("malformed uuid element"))?
        }
    };
    let description = root.child_text("description").map(str::to_string);
    let usage = match root.child("usage") {
        None => None,
        Some(node) => {
            let Some(kind) = node.attr("type") else {
                return Err(xml_error("unknown secret usage type"));
            };
            let id = |element: &str, missing: &str| {
                node.child_text(element)
                    .map(str::to_string)
                    .ok_or_else(|| internal(missing))
            };
            match kind {
                "none" => None,
                "volume" => Some(SecretUsage::Volume(id(
                    "volume",
                    "volume usage specified, but volume path is missing",
                )?)),
                "ceph" => Some(SecretUsage::Ceph(id(
                    "name",
                    "Ceph usage specified, but name is missing",
                )?)),
                "iscsi" => Some(SecretUsage::Iscsi(id(
                    "target",
                    "iSCSI usage specified, but target is missing",
                )?)),
                "tls" => Some(SecretUsage::Tls(id(
                    "name",
                    "TLS usage specified, but name is missing",
                )?)),
                "vtpm" => Some(SecretUsage::Vtpm(id(
                    "name",
                    "vTPM usage specified, but name is missing",
                )?)),
                other => {
                    return Err(Error::with_detail(
                        ErrorCode::CONFIG_UNSUPPORTED,
                        ErrorDomain::SECRET,
                        format!("unknown secret usage type {other}"),
                    ))
                }
            }
        }
    };
    Ok(SecretDef {
        uuid,
        ephemeral,
        private,
        description,
        usage,
    })
}

/// Formats a definition as libvirt does (`virSecretDefFormat`).
pub fn format_secret(def: &SecretDef) -> String {
    let yes_no = |flag: bool| if flag { "yes" } else { "no" };
    let mut w = XmlWriter::new();
    w.open(
        "secret",
        Attrs::new()
            .with("ephemeral", yes_no(def.ephemeral))
            .with("private", yes_no(def.private)),
    );
    w.text("uuid", Attrs::new(), &def.uuid.to_string());
    w.opt_text("description", def.description.as_deref());
    if let Some(usage) = &def.usage {
        w.open("usage", Attrs::new().with("type", usage.type_name()));
        w.text(usage.element(), Attrs::new(), usage.id());
        w.close("usage");
    }
    w.close("secret");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_usage_type_round_trips() {
        for (kind, element, number) in [
            ("volume", "volume", 1),
            ("ceph", "name", 2),
            ("iscsi", "target", 3),
            ("tls", "name", 4),
            ("vtpm", "name", 5),
        ] {
            let xml = format!(
                "<secret ephemeral='no' private='yes'>\n  <uuid>0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f</uuid>\n  \
                 <description>a &amp; b</description>\n  <usage type='{kind}'>\n    \
                 <{element}>id-{kind}</{element}>\n  </usage>\n</secret>\n"
            );
            let def = parse_secret(&xml, true).unwrap();
            assert_eq!(def.usage_key(), (number, format!("id-{kind}").as_str()));
            assert!(def.private && !def.ephemeral);
            assert_eq!(def.description.as_deref(), Some("a & b"));
            assert_eq!(format_secret(&def), xml);
        }
    }

    #[test]
    fn defaults_generate_a_uuid_and_format_no_usage() {
        let def = parse_secret("<secret><usage type='none'/></secret>", false).unwrap();
        assert_eq!(def.usage_key(), (0, ""));
        let text = format_secret(&def);
        assert!(text.starts_with("<secret ephemeral='no' private='no'>\n  <uuid>"));
        assert!(!text.contains("usage"));
    }

    #[test]
    fn bad_definitions_get_libvirts_codes_and_words() {
        let cases = [
            (
                "<volume/>",
                27,
                "XML error: unexpected root element <volume>, expecting <secret>",
            ),
            (
                "<secret ephemeral='maybe'/>",
                27,
                "XML error: invalid value of 'ephemeral'",
            ),
            (
                "<secret private='1'/>",
                27,
                "XML error: invalid value of 'private'",
            ),
            (
                "<secret><uuid>nope</uuid></secret>",
                1,
                "internal error: malformed uuid element",
            ),
            (
                "<secret><usage/></secret>",
                27,
                "XML error: unknown secret usage type",
            ),
            (
                "<secret><usage type='disk'/></secret>",
                67,
                "unsupported configuration: unknown secret usage type disk",
            ),
            (
                "<secret><usage type='ceph'/></secret>",
                1,
                "internal error: Ceph usage specified, but name is missing",
            ),
            (
                "<secret><usage type='volume'><name>x</name></usage></secret>",
                1,
                "internal error: volume usage specified, but volume path is missing",
            ),
        ];
        for (xml, code, message) in cases {
            let err = parse_secret(xml, false).unwrap_err();
            assert_eq!((err.code.0, err.message.as_str()), (code, message), "{xml}");
            assert_eq!(err.domain, ErrorDomain::SECRET);
        }
        let err = parse_secret("<secret>", false).unwrap_err();
        assert_eq!(err.code, ErrorCode::XML_DETAIL);
        assert!(err.message.starts_with("(definition_of_secret):"));
        // Unknown content is dropped, or refused with VALIDATE.
        let extra = "<secret><bogus/></secret>";
        assert!(parse_secret(extra, false).is_ok());
        assert_eq!(
            parse_secret(extra, true).unwrap_err().code,
            ErrorCode::XML_INVALID_SCHEMA
        );
    }
}

#[cfg(test)]
mod disk_tests {
    use crate::model::DomainDef;

    #[test]
    fn disks_name_their_secrets_and_nics_their_filters_on_a_round_trip() {
        let xml = "<domain type='kvm'><name>g</name><uuid>0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f</uuid>\
            <memory>1024</memory><os><type>hvm</type></os><devices>\
            <disk type='file' device='disk'><source file='/x.img'/><target dev='vda' bus='virtio'/>\
            <encryption format='luks'><secret type='passphrase' uuid='11111111-2222-3333-4444-555555555555'/></encryption></disk>\
            <disk type='file' device='disk'><auth username='admin'><secret type='iscsi' usage='libvirtiscsi'/></auth>\
            <source file='/y.img'/><target dev='vdb' bus='virtio'/></disk>\
            <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/>\
            <filterref filter='clean-traffic'><parameter name='IP' value='10.0.0.1'/></filterref></interface>\
            </devices></domain>";
        let def = DomainDef::from_xml(xml, true).unwrap();
        let disk = &def.devices.disks[0];
        let encryption = disk.encryption.as_ref().unwrap();
        assert_eq!(encryption.format, "luks");
        assert_eq!(
            encryption.secrets[0].uuid.unwrap().to_string(),
            "11111111-2222-3333-4444-555555555555"
        );
        let auth = def.devices.disks[1].auth.as_ref().unwrap();
        assert_eq!(
            (auth.username.as_str(), auth.secret.usage.as_deref()),
            ("admin", Some("libvirtiscsi"))
        );
        let filterref = def.devices.interfaces[0].filterref.as_ref().unwrap();
        assert_eq!(filterref.filter, "clean-traffic");
        let again = DomainDef::from_xml(&def.to_xml(&Default::default()), true).unwrap();
        assert_eq!(again.devices, def.devices);
        let both = xml.replace(
            "type='passphrase' uuid=",
            "type='passphrase' usage='u' uuid=",
        );
        assert!(DomainDef::from_xml(&both, false).is_err());
    }
}
