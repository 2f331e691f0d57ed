//! Text console redirection (DMTF DSP1024's `CIM_TextRedirectionSAP`): one `KVM_TextRedirectionSAP` per
//! `<serial>` and `<console>` device of each guest, read from the guest's XML through the driver API, so served
//! alike on the test driver, `qemu:///system` and remote URIs. The associations are those of the graphical SAPs
//! ([`super::redirection`]): the host's `KVM_HostedAccessPoint`, the console redirection service's
//! `KVM_ServiceAccessBySAP` and `KVM_SAPAvailableForElement` to the guest.
//!
//! No DSP1024 profile is registered: its Text Redirection Service and capabilities are not modelled apart from
//! the host's one console redirection service.

use async_trait::async_trait;

use super::guest::CS_CLASS;
use super::pools::NAMESPACE;
use super::{
    not_found, put, summaries_in_memory, summary_pieces, HeldPieces, Pieces, Provider, ProviderCtx,
};
use crate::cim::{Instance, ObjectPath, Value};
use crate::driver::{every_domain, Connection, DomainRef};
use crate::error::ErrorCode;
use crate::model::{CharDevDef, DomainDef};
use crate::wbem::error::OpError;

pub const TEXT_SAP_CLASS: &str = "KVM_TextRedirectionSAP";

/// TextFlowType 2: Character Stream (the bytes are relayed as they are; the guest's terminal interprets them).
const FLOW_CHARACTER_STREAM: u16 = 2;
/// `virsh console`'s escape: Ctrl+] ends the session.
pub const TERMINATE_SEQUENCE: &str = "^]";
/// EnabledState: a running guest's console, a stopped guest's.
const SAP_ENABLED: u16 = 2;
const SAP_DISABLED: u16 = 3;
/// RequestedState 12: Not Applicable (the SAP has no RequestStateChange; it follows its guest).
const REQUESTED_NOT_APPLICABLE: u16 = 12;

/// One serial or console device of a guest.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TextSap {
    pub domain: String,
    pub uuid: String,
    /// "serialN" or "consoleN": the device's index among its kind, as `virsh console --devname` names it.
    pub device: String,
    pub dev_type: String,
    /// The pty path, host:port or socket path; `None` where the device has none (yet).
    pub address: Option<String>,
    pub active: bool,
}

impl TextSap {
    pub fn name(&self) -> String {
        format!("{}:{}", self.uuid, self.device)
    }

    pub fn enabled_state(&self) -> u16 {
        if self.active {
            SAP_ENABLED
        } else {
            SAP_DISABLED
        }
    }

    pub fn path(&self) -> ObjectPath {
        text_sap_path(&self.domain, &self.name())
    }
}

pub fn text_sap_path(domain: &str, name: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        TEXT_SAP_CLASS,
        &[
            ("CreationClassName", TEXT_SAP_CLASS),
            ("Name", name),
            ("SystemCreationClassName", CS_CLASS),
            ("SystemName", domain),
        ],
    )
}

/// Where a client reaches a character device: the pty's path, a TCP `host:port` or a UNIX socket's path.
fn address(dev: &CharDevDef) -> Option<String> {
    let source = dev.extra.of("source");
    let attr = |name: &str| {
        source.and_then(|s| {
            s.attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    };
    match dev.dev_type.as_str() {
        "pty" | "unix" => dev.source_path.clone(),
        "tcp" => {
            let port = attr("service")?;
            let host = attr("host").unwrap_or_else(|| "localhost".into());
            // An IPv6 literal needs brackets before the port.
            Some(if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            })
        }
        _ => None,
    }
}

/// The text SAPs of one guest, serials first, each kind numbered from 0 in document order.
pub fn guest_text_saps(def: &DomainDef, active: bool) -> Vec<TextSap> {
    let kinds = [
        ("serial", &def.devices.serials),
        ("console", &def.devices.consoles),
    ];
    kinds
        .into_iter()
        .flat_map(|(kind, devs)| {
            devs.iter().enumerate().map(move |(i, dev)| TextSap {
                domain: def.name.clone(),
                uuid: def.uuid.to_string(),
                device: format!("{kind}{i}"),
                dev_type: dev.dev_type.clone(),
                address: address(dev),
                active,
            })
        })
        .collect()
}

fn vanished(err: &crate::error::Error) -> bool {
    err.code == ErrorCode::NO_DOMAIN
}

/// The text SAPs of the given domain (every defined one when `only` is `None`).
pub async fn read_text_saps(
    driver: &Connection,
    only: Option<&str>,
) -> Result<Vec<TextSap>, OpError> {
    let mut out = Vec::new();
    if let Some(summaries) = summaries_in_memory(driver, only, &every_domain).await? {
        // No XML round trip per domain.
        for summary in summaries {
            out.extend(guest_text_saps(&summary.def, summary.dom.id >= 0));
        }
        return Ok(out);
    }
    let doms: Vec<DomainRef> = match only {
        Some(name) => match driver.domain_lookup_by_name(name).await {
            Ok(dom) => vec![dom],
            Err(err) if vanished(&err) => return Ok(Vec::new()),
            Err(err) => return Err(err.into()),
        },
        None => driver.list_all_domains(0).await?,
    };
    for dom in doms {
        let xml = match driver.domain_get_xml_desc(&dom, 0).await {
            Ok(xml) => xml,
            Err(err) if vanished(&err) => continue,
            Err(err) => return Err(err.into()),
        };
        match DomainDef::from_xml(&xml, false) {
            Ok(def) => out.extend(guest_text_saps(&def, dom.id >= 0)),
            Err(err) => {
                tracing::warn!(domain = %dom.name, error = %err, "domain left out of the CIM model");
            }
        }
    }
    Ok(out)
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn text_sap_instance(ctx: &ProviderCtx<'_>, sap: &TextSap) -> Instance {
    let class = ctx.class;
    let mut inst = ctx.new_instance();
    put(&mut inst, class, "CreationClassName", s(&class.name));
    put(&mut inst, class, "Name", s(&sap.name()));
    put(&mut inst, class, "SystemCreationClassName", s(CS_CLASS));
    put(&mut inst, class, "SystemName", s(&sap.domain));
    put(&mut inst, class, "ElementName", s(&sap.device));
    put(&mut inst, class, "DeviceName", s(&sap.device));
    put(&mut inst, class, "CharDeviceType", s(&sap.dev_type));
    if let Some(address) = &sap.address {
        put(&mut inst, class, "ConsoleAddress", s(address));
    }
    put(
        &mut inst,
        class,
        "TextFlowType",
        Value::Uint16(FLOW_CHARACTER_STREAM),
    );
    put(
        &mut inst,
        class,
        "SessionTerminateSequence",
        s(TERMINATE_SEQUENCE),
    );
    put(
        &mut inst,
        class,
        "EnabledState",
        Value::Uint16(sap.enabled_state()),
    );
    put(
        &mut inst,
        class,
        "RequestedState",
        Value::Uint16(REQUESTED_NOT_APPLICABLE),
    );
    ctx.with_path(inst)
}

/// `KVM_TextRedirectionSAP`.
pub struct TextRedirectionSapProvider;

#[async_trait]
impl Provider for TextRedirectionSapProvider {
    fn class_name(&self) -> &'static str {
        TEXT_SAP_CLASS
    }

    /// The SAPs follow the guests' definitions and states alone.
    fn answers_are_reusable(&self) -> bool {
        true
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(read_text_saps(ctx.driver, None)
            .await?
            .iter()
            .map(TextSap::path)
            .collect())
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let domain = path.key_str("SystemName").ok_or_else(|| not_found(path))?;
        read_text_saps(ctx.driver, Some(domain))
            .await?
            .iter()
            .find(|sap| sap.path().same_object(path))
            .map(|sap| text_sap_instance(ctx, sap))
            .ok_or_else(|| not_found(path))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        Ok(read_text_saps(ctx.driver, None)
            .await?
            .iter()
            .map(|sap| text_sap_instance(ctx, sap))
            .collect())
    }

    fn splits_per_guest(&self) -> bool {
        true
    }

    async fn enumerate_pieces<'a>(
        &'a self,
        ctx: &'a ProviderCtx<'a>,
        have: &dyn HeldPieces,
    ) -> Result<Option<Pieces<'a>>, OpError> {
        summary_pieces(ctx, have, |s| {
            guest_text_saps(&s.def, s.dom.id >= 0)
                .iter()
                .map(|sap| text_sap_instance(ctx, sap))
                .collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = "<domain type='test'><name>t1</name>\
        <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid><memory>1024</memory>\
        <os><type>hvm</type></os><devices>\
        <serial type='pty'><source path='/dev/pts/7'/><target port='0'/></serial>\
        <serial type='tcp'><source mode='bind' host='127.0.0.1' service='4555'/>\
        <protocol type='raw'/><target port='1'/></serial>\
        <serial type='file'><source path='/tmp/x.log'/><target port='2'/></serial>\
        <console type='pty'><source path='/dev/pts/7'/><target type='serial' port='0'/></console>\
        </devices></domain>";

    #[test]
    fn serials_and_consoles_named_and_addressed() {
        let def = DomainDef::from_xml(XML, false).expect("parses");
        let saps = guest_text_saps(&def, true);
        let got: Vec<(String, String, Option<String>, u16)> = saps
            .iter()
            .map(|s| {
                (
                    s.name(),
                    s.dev_type.clone(),
                    s.address.clone(),
                    s.enabled_state(),
                )
            })
            .collect();
        let uuid = "6695eb01-f6a4-8304-79aa-97f2502e193f";
        assert_eq!(
            got,
            vec![
                (
                    format!("{uuid}:serial0"),
                    "pty".into(),
                    Some("/dev/pts/7".into()),
                    2
                ),
                (
                    format!("{uuid}:serial1"),
                    "tcp".into(),
                    Some("127.0.0.1:4555".into()),
                    2
                ),
                (format!("{uuid}:serial2"), "file".into(), None, 2),
                (
                    format!("{uuid}:console0"),
                    "pty".into(),
                    Some("/dev/pts/7".into()),
                    2
                ),
            ]
        );
        assert!(guest_text_saps(&def, false)
            .iter()
            .all(|s| s.enabled_state() == 3));
    }
}
