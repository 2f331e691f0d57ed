//! Network definitions (`<network>` XML): model, parser, formatter.

use crate::error::{Error, Result};
use uuid::Uuid;

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NetworkDef {
    pub name: String,
    pub uuid: Uuid,
    /// `<forward mode=...>`: "nat", "route", "bridge", ...; `None` is an isolated network.
    pub forward_mode: Option<String>,
    pub forward_dev: Option<String>,
    /// `<bridge name=...>`.
    pub bridge: Option<String>,
    pub bridge_stp: Option<bool>,
    pub bridge_delay: Option<u32>,
    pub mac: Option<String>,
    pub ips: Vec<IpDef>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct IpDef {
    pub family: Option<String>,
    pub address: String,
    pub netmask: Option<String>,
    pub prefix: Option<u32>,
    /// `<dhcp><range start end/>`.
    pub dhcp_ranges: Vec<(String, String)>,
}

impl NetworkDef {
    pub fn from_xml(xml: &str, validate: bool) -> Result<Self> {
        let _ = (xml, validate);
        Err(Error::xml("network XML parsing is not implemented yet"))
    }

    pub fn to_xml(&self) -> String {
        String::new()
    }
}
