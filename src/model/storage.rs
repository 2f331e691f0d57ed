//! Storage pool (`<pool>`) and volume (`<volume>`) definitions: models, parsers, formatters.

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::names::validate_name;
use crate::model::units::ScaleDefault;
use crate::model::xml::{parse_document, Attrs, Ctx, Node, XmlWriter};
use uuid::Uuid;

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PoolDef {
    /// `<pool type=...>`: "dir".
    pub pool_type: String,
    pub name: String,
    pub uuid: Uuid,
    /// Bytes.
    pub capacity: u64,
    pub allocation: u64,
    pub available: u64,
    /// `<target><path>`.
    pub target_path: Option<String>,
    /// `<target><permissions><mode>`: octal text, normalised to four digits as libvirt writes it ("0755").
    pub target_mode: Option<String>,
    /// `<source><device path=...>` (fs: the device or image to mount; logical: the physical volumes).
    pub source_devices: Vec<String>,
    /// `<source><name>`: the volume group of a logical pool (the pool's name when absent).
    pub source_name: Option<String>,
    /// `<source><format type=...>`: the file system of an fs pool, `lvm2` for a logical one.
    pub source_format: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct VolumeDef {
    /// `<volume type=...>`: "file", "block", "dir".
    pub vol_type: String,
    pub name: String,
    pub key: Option<String>,
    /// Bytes.
    pub capacity: u64,
    pub allocation: Option<u64>,
    /// `<target><path>`.
    pub path: Option<String>,
    /// `<target><format type=...>`: "raw", "qcow2", ...
    pub format: Option<String>,
}

const POOL_SCHEMA: &str = "storagepool.rng";
const VOLUME_SCHEMA: &str = "storagevol.rng";

/// File systems an `fs` pool may hold (libvirt's `virStoragePoolFormatFileSystem`).
pub const FS_POOL_FORMATS: &[&str] = &[
    "auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf", "gfs", "gfs2", "vfat", "hfs+", "xfs",
    "ocfs2", "vmfs",
];

/// Volume formats of file-backed pools that `qemu-img` creates (a subset of `virStorageFileFormat`).
pub const FILE_VOLUME_FORMATS: &[&str] = &["raw", "qcow2", "qed", "vmdk", "vdi", "vpc", "vhdx"];

/// Pool types libvirt knows; `dir`, `fs` and `logical` are modelled here.
const LIBVIRT_POOL_TYPES: &[&str] = &[
    "dir",
    "fs",
    "netfs",
    "logical",
    "disk",
    "iscsi",
    "iscsi-direct",
    "scsi",
    "mpath",
    "rbd",
    "sheepdog",
    "gluster",
    "zfs",
    "vstorage",
];
const VOLUME_TYPES: &[&str] = &["file", "block", "dir", "network", "netdir", "ploop"];

fn storage_xml_error(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::XML_ERROR, ErrorDomain::STORAGE, detail)
}

/// A `<capacity>`-like element in bytes (bytes are the default unit in storage XML); absent is `None`.
fn scaled_bytes(cx: &Ctx, root: &Node, element: &str) -> Result<Option<u64>> {
    root.child(element)
        .map(|node| {
            cx.check(node, &[], &["unit"])?;
            cx.scaled(node, ScaleDefault::Bytes)
        })
        .transpose()
}

/// `<permissions><mode>`: one to four octal digits, returned as libvirt writes them (`755` becomes `0755`).
fn parse_mode(cx: &Ctx, target: &Node) -> Result<Option<String>> {
    let Some(permissions) = target.child("permissions") else {
        return Ok(None);
    };
    cx.check(permissions, &["mode"], &[])?;
    let Some(mode) = permissions.child("mode") else {
        return Ok(None);
    };
    cx.check(mode, &[], &[])?;
    let text = mode.text.trim_matches(crate::model::xml::is_xml_space);
    let digits_ok =
        (1..=4).contains(&text.len()) && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(text, 8) {
        Ok(mode) if digits_ok => Ok(Some(format!("{mode:04o}"))),
        _ => Err(storage_xml_error("malformed octal mode")),
    }
}

/// `<source>` of a pool: devices, name and format, with libvirt's defaults and errors per pool type.
fn parse_source(
    cx: &Ctx,
    root: &Node,
    pool_type: &str,
) -> Result<(Vec<String>, Option<String>, Option<String>)> {
    let Some(source) = root.child("source") else {
        return match pool_type {
            "fs" => Err(storage_xml_error("missing storage pool source device path")),
            _ => Ok((Vec::new(), None, None)),
        };
    };
    if pool_type == "dir" {
        // A dir pool has no source: what libvirt's schema allows there is ignored by its driver too.
        cx.check(source, &[], &[])?;
        return Ok((Vec::new(), None, None));
    }
    cx.check(source, &["device", "name", "format"], &[])?;
    let mut devices = Vec::new();
    for device in source.children_named("device") {
        cx.check(device, &["freeExtent"], &["path", "part_separator"])?;
        match device.attr("path") {
            Some(path) if !path.is_empty() => devices.push(path.to_string()),
            _ => return Err(storage_xml_error("missing storage pool source device path")),
        }
    }
    if pool_type == "fs" && devices.is_empty() {
        return Err(storage_xml_error("missing storage pool source device path"));
    }
    if pool_type == "fs" && devices.len() > 1 {
        return Err(storage_xml_error(
            "Expected exactly 1 device for the storage pool",
        ));
    }
    let name = match source.child("name") {
        Some(node) => {
            cx.check(node, &[], &[])?;
            let text = node.text.trim_matches(crate::model::xml::is_xml_space);
            if text.is_empty() || text.contains('/') {
                return Err(storage_xml_error(format!(
                    "invalid volume group name '{text}'"
                )));
            }
            Some(text.to_string())
        }
        None => None,
    };
    let allowed: &[&str] = match pool_type {
        "fs" => FS_POOL_FORMATS,
        _ => &["auto", "lvm2"],
    };
    let format = match source.child("format") {
        Some(node) => {
            cx.check(node, &[], &["type"])?;
            let kind = node
                .attr("type")
                .ok_or_else(|| cx.missing_attr("format", "type"))?;
            if !allowed.contains(&kind) {
                return Err(storage_xml_error(format!(
                    "unknown pool format type {kind}"
                )));
            }
            Some(kind.to_string())
        }
        None => None,
    };
    Ok((devices, name, format))
}

fn format_mode(w: &mut XmlWriter, mode: Option<&str>) {
    if let Some(mode) = mode {
        w.open("permissions", Attrs::new());
        w.text("mode", Attrs::new(), mode);
        w.close("permissions");
    }
}

impl PoolDef {
    /// Parses pool XML (type `dir`); unknown content is dropped, or refused with `validate`. A missing UUID is
    /// generated; sizes default to bytes.
    pub fn from_xml(xml: &str, validate: bool) -> Result<Self> {
        let cx = Ctx::new(ErrorDomain::STORAGE, POOL_SCHEMA, validate);
        let root = parse_document(xml, cx.domain, cx.document_name())?;
        cx.expect_root(&root, "pool")?;
        cx.check(
            &root,
            &[
                "name",
                "uuid",
                "capacity",
                "allocation",
                "available",
                "source",
                "target",
            ],
            &["type"],
        )?;
        for leaf in ["name", "uuid"] {
            for node in root.children_named(leaf) {
                cx.check(node, &[], &[])?;
            }
        }
        let pool_type = match root.attr("type") {
            None => return Err(cx.missing_attr("pool", "type")),
            Some(kind @ ("dir" | "fs" | "logical")) => kind.to_string(),
            Some(kind) if LIBVIRT_POOL_TYPES.contains(&kind) => {
                return Err(Error::with_detail(
                    ErrorCode::CONFIG_UNSUPPORTED,
                    cx.domain,
                    format!("storage pool type '{kind}' is not supported"),
                ))
            }
            Some(kind) => return Err(cx.invalid_attr("pool", "type", kind)),
        };
        let name = match root.child_text("name") {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => return Err(storage_xml_error("missing pool source name element")),
        };
        validate_name("pool", &name)?;
        let uuid = cx.uuid(&root)?;
        let capacity = scaled_bytes(&cx, &root, "capacity")?.unwrap_or(0);
        let allocation = scaled_bytes(&cx, &root, "allocation")?.unwrap_or(0);
        let available = scaled_bytes(&cx, &root, "available")?.unwrap_or(0);
        let (target_path, target_mode) = match root.child("target") {
            Some(target) => {
                cx.check(target, &["path", "permissions"], &[])?;
                if let Some(path) = target.child("path") {
                    cx.check(path, &[], &[])?;
                }
                let path = target.child_text("path").filter(|path| !path.is_empty());
                (path.map(str::to_string), parse_mode(&cx, target)?)
            }
            None => (None, None),
        };
        let (source_devices, source_name, source_format) = parse_source(&cx, &root, &pool_type)?;
        let source_name = match (pool_type.as_str(), source_name) {
            // As libvirt: a volume group named like its pool unless said otherwise.
            ("logical", None) => Some(name.clone()),
            (_, source_name) => source_name,
        };
        let target_path = match (pool_type.as_str(), target_path) {
            ("logical", None) => source_name.as_ref().map(|vg| format!("/dev/{vg}")),
            (_, path) => path,
        };
        if target_path.is_none() {
            return Err(storage_xml_error("missing storage pool target path"));
        }
        Ok(Self {
            pool_type,
            name,
            uuid,
            capacity,
            allocation,
            available,
            target_path,
            target_mode,
            source_devices,
            source_name,
            source_format,
        })
    }

    /// Formats the pool in libvirt's layout (sizes in bytes, the empty `<source>` libvirt writes); stable.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.open("pool", Attrs::new().with("type", &self.pool_type));
        w.text("name", Attrs::new(), &self.name);
        w.text("uuid", Attrs::new(), &self.uuid.hyphenated().to_string());
        let bytes = || Attrs::new().with("unit", "bytes");
        w.text("capacity", bytes(), &self.capacity.to_string());
        w.text("allocation", bytes(), &self.allocation.to_string());
        w.text("available", bytes(), &self.available.to_string());
        w.open("source", Attrs::new());
        for device in &self.source_devices {
            w.empty("device", Attrs::new().with("path", device));
        }
        w.opt_text("name", self.source_name.as_deref());
        if let Some(format) = &self.source_format {
            w.empty("format", Attrs::new().with("type", format));
        }
        w.close("source");
        w.open("target", Attrs::new());
        w.opt_text("path", self.target_path.as_deref());
        format_mode(&mut w, self.target_mode.as_deref());
        w.close("target");
        w.close("pool");
        w.finish()
    }
}

impl VolumeDef {
    /// Parses volume XML; unknown content is dropped, or refused with `validate`. Sizes default to bytes; a
    /// missing type is `file`.
    pub fn from_xml(xml: &str, validate: bool) -> Result<Self> {
        Self::parse(xml, validate, true).map(|(def, _)| def)
    }

    /// Parses the XML of a copy (`virStorageVolCreateXMLFrom`): the capacity may be left out, which the
    /// second value tells.
    pub fn from_xml_for_copy(xml: &str, validate: bool) -> Result<(Self, bool)> {
        Self::parse(xml, validate, false)
    }

    fn parse(xml: &str, validate: bool, need_capacity: bool) -> Result<(Self, bool)> {
        let cx = Ctx::new(ErrorDomain::STORAGE, VOLUME_SCHEMA, validate);
        let root = parse_document(xml, cx.domain, cx.document_name())?;
        cx.expect_root(&root, "volume")?;
        cx.check(
            &root,
            &["name", "key", "capacity", "allocation", "target"],
            &["type"],
        )?;
        for leaf in ["name", "key"] {
            for node in root.children_named(leaf) {
                cx.check(node, &[], &[])?;
            }
        }
        let vol_type = match root.attr("type") {
            None => "file".to_string(),
            Some(kind) if VOLUME_TYPES.contains(&kind) => kind.to_string(),
            Some(kind) => {
                return Err(Error::with_detail(
                    ErrorCode::CONFIG_UNSUPPORTED,
                    cx.domain,
                    format!("unknown volume type '{kind}'"),
                ))
            }
        };
        let name = match root.child_text("name") {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => return Err(storage_xml_error("missing volume name element")),
        };
        validate_name("volume", &name)?;
        let capacity = scaled_bytes(&cx, &root, "capacity")?;
        let has_capacity = capacity.is_some();
        if need_capacity && !has_capacity {
            return Err(storage_xml_error("missing capacity element"));
        }
        let capacity = capacity.unwrap_or(0);
        let allocation = scaled_bytes(&cx, &root, "allocation")?;
        let mut def = Self {
            vol_type,
            name,
            key: root.child_text("key").map(str::to_string),
            capacity,
            allocation,
            ..Self::default()
        };
        if let Some(target) = root.child("target") {
            cx.check(target, &["path", "format"], &[])?;
            if let Some(path) = target.child("path") {
                cx.check(path, &[], &[])?;
                def.path = Some(path.text.clone());
            }
            if let Some(format) = target.child("format") {
                cx.check(format, &[], &["type"])?;
                def.format = Some(
                    format
                        .attr("type")
                        .ok_or_else(|| cx.missing_attr("format", "type"))?
                        .to_string(),
                );
            }
        }
        Ok((def, has_capacity))
    }

    /// Formats the volume in libvirt's layout (sizes in bytes); stable.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.open("volume", Attrs::new().with("type", &self.vol_type));
        w.text("name", Attrs::new(), &self.name);
        w.opt_text("key", self.key.as_deref());
        w.text(
            "capacity",
            Attrs::new().with("unit", "bytes"),
            &self.capacity.to_string(),
        );
        if let Some(allocation) = self.allocation {
            w.text(
                "allocation",
                Attrs::new().with("unit", "bytes"),
                &allocation.to_string(),
            );
        }
        if self.path.is_some() || self.format.is_some() {
            w.open("target", Attrs::new());
            w.opt_text("path", self.path.as_deref());
            if let Some(format) = &self.format {
                w.empty("format", Attrs::new().with("type", format));
            }
            w.close("target");
        }
        w.close("volume");
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_POOL: &str = "<pool type='dir'>\n  <name>default-pool</name>\n  \
        <uuid>dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566</uuid>\n  <capacity unit='bytes'>107374182400</capacity>\n  \
        <allocation unit='bytes'>0</allocation>\n  <available unit='bytes'>107374182400</available>\n  \
        <source>\n  </source>\n  <target>\n    <path>/default-pool</path>\n  </target>\n</pool>\n";

    #[test]
    fn libvirts_default_pool_round_trips_byte_for_byte() {
        let def = PoolDef::from_xml(DEFAULT_POOL, true).unwrap();
        assert_eq!(def.capacity, 100 << 30);
        assert_eq!(def.target_path.as_deref(), Some("/default-pool"));
        assert_eq!(def.to_xml(), DEFAULT_POOL);
    }

    #[test]
    fn pool_units_and_permissions() {
        let def = PoolDef::from_xml(
            "<pool type='dir'><name>p</name><capacity unit='GiB'>10</capacity><allocation>5</allocation>\
             <target><path>/var/p</path><permissions><mode>0711</mode></permissions></target></pool>",
            true,
        )
        .unwrap();
        assert_eq!(
            (def.capacity, def.allocation, def.available),
            (10 << 30, 5, 0)
        );
        assert_eq!(def.target_mode.as_deref(), Some("0711"));
        let out = def.to_xml();
        assert!(
            out.contains("<permissions>\n      <mode>0711</mode>\n    </permissions>"),
            "{out}"
        );
        assert_eq!(PoolDef::from_xml(&out, true).unwrap(), def);
    }

    #[test]
    fn fs_and_logical_sources() {
        let def = PoolDef::from_xml(
            "<pool type='logical'><name>vg1</name><source><device path='/dev/loop7'/></source></pool>",
            true,
        )
        .unwrap();
        assert_eq!(def.source_name.as_deref(), Some("vg1"));
        assert_eq!(def.target_path.as_deref(), Some("/dev/vg1"));
        let out = def.to_xml();
        assert!(
            out.contains(
                "<source>\n    <device path='/dev/loop7'/>\n    <name>vg1</name>\n  </source>"
            ),
            "{out}"
        );
        assert_eq!(PoolDef::from_xml(&out, true).unwrap(), def);
        let def = PoolDef::from_xml(
            "<pool type='fs'><name>f</name><source><device path='/img'/><format type='ext4'/></source>\
             <target><path>/mnt/f</path></target></pool>",
            true,
        )
        .unwrap();
        assert_eq!(
            (def.source_devices.len(), def.source_format.as_deref()),
            (1, Some("ext4"))
        );
        assert_eq!(PoolDef::from_xml(&def.to_xml(), true).unwrap(), def);
    }

    #[test]
    fn pool_errors() {
        let cases: &[(&str, ErrorCode, &str)] = &[
            ("<pool><name>a</name><target><path>/a</path></target></pool>", ErrorCode::XML_ERROR, "Missing required attribute 'type' in element 'pool'"),
            ("<pool type='zz'><name>a</name></pool>", ErrorCode::XML_ERROR, "Invalid value for attribute 'type' in element 'pool': 'zz'."),
            ("<pool type='iscsi'><name>a</name></pool>", ErrorCode::CONFIG_UNSUPPORTED, "storage pool type 'iscsi' is not supported"),
            ("<pool type='fs'><name>a</name><target><path>/a</path></target></pool>", ErrorCode::XML_ERROR, "missing storage pool source device path"),
            ("<pool type='fs'><name>a</name><source><device path='/d'/><format type='zfsx'/></source><target><path>/a</path></target></pool>", ErrorCode::XML_ERROR, "unknown pool format type zfsx"),
            ("<pool type='dir'><target><path>/a</path></target></pool>", ErrorCode::XML_ERROR, "missing pool source name element"),
            ("<pool type='dir'><name>a</name></pool>", ErrorCode::XML_ERROR, "missing storage pool target path"),
            ("<pool type='dir'><name>a</name><target><path>/a</path><permissions><mode>999</mode></permissions></target></pool>", ErrorCode::XML_ERROR, "malformed octal mode"),
            ("<pool type='dir'><name>a</name><capacity>x</capacity><target><path>/a</path></target></pool>", ErrorCode::XML_ERROR, "Invalid value 'x' for element or attribute 'capacity'"),
            ("<pool type='dir'><name>a</name><uuid>zz</uuid><target><path>/a</path></target></pool>", ErrorCode::XML_ERROR, "malformed uuid element"),
            ("<pool type='dir'><name>..</name><target><path>/a</path></target></pool>", ErrorCode::XML_ERROR, "must not start with '.'"),
        ];
        for (xml, code, text) in cases {
            let err = PoolDef::from_xml(xml, false).expect_err(xml);
            assert_eq!(err.code, *code, "{xml}: {}", err.message);
            assert!(err.message.contains(text), "{xml}: {}", err.message);
        }
    }

    #[test]
    fn volumes_parse_and_format_like_libvirt() {
        let def = VolumeDef::from_xml(
            "<volume><name>v1.qcow2</name><capacity unit='G'>2</capacity><allocation unit='KiB'>1</allocation>\
             <target><format type='qcow2'/></target></volume>",
            true,
        )
        .unwrap();
        assert_eq!(def.vol_type, "file");
        assert_eq!((def.capacity, def.allocation), (2 << 30, Some(1024)));
        let def = VolumeDef {
            key: Some("/default-pool/v1.qcow2".into()),
            path: Some("/default-pool/v1.qcow2".into()),
            ..def
        };
        let out = def.to_xml();
        assert_eq!(
            out,
            "<volume type='file'>\n  <name>v1.qcow2</name>\n  <key>/default-pool/v1.qcow2</key>\n  \
             <capacity unit='bytes'>2147483648</capacity>\n  <allocation unit='bytes'>1024</allocation>\n  \
             <target>\n    <path>/default-pool/v1.qcow2</path>\n    <format type='qcow2'/>\n  </target>\n</volume>\n"
        );
        assert_eq!(VolumeDef::from_xml(&out, true).unwrap(), def);
    }

    #[test]
    fn volume_errors() {
        let cases: &[(&str, ErrorCode, &str)] = &[
            (
                "<volume><capacity>10</capacity></volume>",
                ErrorCode::XML_ERROR,
                "missing volume name element",
            ),
            (
                "<volume><name>a</name></volume>",
                ErrorCode::XML_ERROR,
                "missing capacity element",
            ),
            (
                "<volume type='zz'><name>a</name><capacity>1</capacity></volume>",
                ErrorCode::CONFIG_UNSUPPORTED,
                "unknown volume type 'zz'",
            ),
            (
                "<volume><name>a</name><capacity unit='zz'>10</capacity></volume>",
                ErrorCode::INVALID_ARG,
                "unknown suffix 'zz'",
            ),
            (
                "<volume><name>a/b</name><capacity>10</capacity></volume>",
                ErrorCode::XML_ERROR,
                "must not contain '/'",
            ),
            (
                "<vol><name>a</name></vol>",
                ErrorCode::XML_ERROR,
                "expecting root element of 'volume', not 'vol'",
            ),
        ];
        for (xml, code, text) in cases {
            let err = VolumeDef::from_xml(xml, false).expect_err(xml);
            assert_eq!(err.code, *code, "{xml}: {}", err.message);
            assert!(err.message.contains(text), "{xml}: {}", err.message);
        }
        let xml =
            "<volume><name>a</name><capacity>1</capacity><target><permissions/></target></volume>";
        assert!(VolumeDef::from_xml(xml, false).is_ok());
        assert_eq!(
            VolumeDef::from_xml(xml, true).unwrap_err().code,
            ErrorCode::XML_INVALID_SCHEMA
        );
    }
}
