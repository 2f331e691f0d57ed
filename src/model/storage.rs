//! Storage pool (`<pool>`) and volume (`<volume>`) definitions: models, parsers, formatters.

use crate::error::{Error, Result};
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
    /// `<target><permissions><mode>` (octal text as written).
    pub target_mode: Option<String>,
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

impl PoolDef {
    pub fn from_xml(xml: &str, validate: bool) -> Result<Self> {
        let _ = (xml, validate);
        Err(Error::xml("pool XML parsing is not implemented yet"))
    }

    pub fn to_xml(&self) -> String {
        String::new()
    }
}

impl VolumeDef {
    pub fn from_xml(xml: &str, validate: bool) -> Result<Self> {
        let _ = (xml, validate);
        Err(Error::xml("volume XML parsing is not implemented yet"))
    }

    pub fn to_xml(&self) -> String {
        String::new()
    }
}
