//! Host interface commands: iface-list and iface-dumpxml, worded and laid out as virsh's.

use super::spec::Parsed;
use super::{CmdResult, Failure, Session};
use crate::driver::{flags, InterfaceRef};

/// Resolves an interface argument as virsh does: by name, then by MAC address.
async fn interface_arg(s: &Session, p: &Parsed) -> Result<InterfaceRef, Failure> {
    let text = p.required("interface");
    let by_name = s.driver.interface_lookup_by_name(text).await;
    let found = match by_name {
        Ok(iface) => Ok(iface),
        Err(by_name_err) => s
            .driver
            .interface_lookup_by_mac_string(text)
            .await
            .map_err(|_| by_name_err),
    };
    found.map_err(|e| Failure::context(format!("failed to get interface '{text}'"), &e))
}

pub(super) async fn list(s: &mut Session, p: &Parsed) -> CmdResult {
    let filter = if p.flag("all") {
        flags::LIST_INTERFACES_ACTIVE | flags::LIST_INTERFACES_INACTIVE
    } else if p.flag("inactive") {
        flags::LIST_INTERFACES_INACTIVE
    } else {
        flags::LIST_INTERFACES_ACTIVE
    };
    let mut ifaces = s
        .driver
        .list_all_interfaces(filter)
        .await
        .map_err(|e| Failure::context("Failed to list interfaces", &e))?;
    ifaces.sort_by(|a, b| a.name.cmp(&b.name));
    let mut rows = Vec::with_capacity(ifaces.len());
    for iface in &ifaces {
        let active = s.driver.interface_is_active(iface).await.unwrap_or(false);
        rows.push(vec![
            iface.name.clone(),
            if active { "active" } else { "inactive" }.to_string(),
            iface.mac.clone(),
        ]);
    }
    s.table(&["Name", "State", "MAC Address"], &rows);
    Ok(())
}

pub(super) async fn dumpxml(s: &mut Session, p: &Parsed) -> CmdResult {
    let iface = interface_arg(s, p).await?;
    let bits = if p.flag("inactive") {
        flags::INTERFACE_XML_INACTIVE
    } else {
        0
    };
    let xml = s
        .driver
        .interface_get_xml_desc(&iface, bits)
        .await
        .map_err(Failure::from)?;
    s.xml(&xml);
    Ok(())
}
