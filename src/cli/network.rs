//! Network commands: net-list, net-info, net-dumpxml and the network lifecycle.

use super::domain::parse_uuid;
use super::format::{field, yes_no};
use super::spec::Parsed;
use super::{read_file, CmdResult, Failure, Session};
use crate::driver::{flags, NetworkRef};

/// Resolves a network argument as virsh does: a UUID first, then a name; the driver's message follows.
async fn network_arg(s: &Session, p: &Parsed) -> Result<NetworkRef, Failure> {
    let text = p.required("network");
    if let Some(uuid) = parse_uuid(text) {
        if let Ok(net) = s.driver.network_lookup_by_uuid(&uuid).await {
            return Ok(net);
        }
    }
    s.driver
        .network_lookup_by_name(text)
        .await
        .map_err(|e| Failure::context(format!("failed to get network '{text}'"), &e))
}

pub(super) async fn list(s: &mut Session, p: &Parsed) -> CmdResult {
    let mut filter = if p.flag("all") {
        flags::LIST_NETWORKS_ACTIVE | flags::LIST_NETWORKS_INACTIVE
    } else if p.flag("inactive") {
        flags::LIST_NETWORKS_INACTIVE
    } else {
        flags::LIST_NETWORKS_ACTIVE
    };
    for (name, bit) in [
        ("persistent", flags::LIST_NETWORKS_PERSISTENT),
        ("transient", flags::LIST_NETWORKS_TRANSIENT),
        ("autostart", flags::LIST_NETWORKS_AUTOSTART),
        ("no-autostart", flags::LIST_NETWORKS_NO_AUTOSTART),
    ] {
        if p.flag(name) {
            filter |= bit;
        }
    }
    let chosen = ["table", "name", "uuid"]
        .iter()
        .filter(|f| p.flag(f))
        .count();
    if chosen > 1 {
        return Err(Failure::msg(
            "Only one argument from --table, --name and --uuid may be specified.",
        ));
    }
    let mut nets = s
        .driver
        .list_all_networks(filter)
        .await
        .map_err(|e| Failure::context("Failed to list networks", &e))?;
    nets.sort_by_key(|n| n.name.to_lowercase());
    if p.flag("name") || p.flag("uuid") {
        for net in &nets {
            let text = if p.flag("name") {
                net.name.clone()
            } else {
                net.uuid.to_string()
            };
            s.line(text);
        }
        return Ok(());
    }
    let mut rows = Vec::with_capacity(nets.len());
    for net in &nets {
        let autostart = match s.driver.network_get_autostart(net).await {
            Ok(value) => yes_no(value),
            Err(_) => "no autostart",
        };
        let persistent = s
            .driver
            .network_is_persistent(net)
            .await
            .map(yes_no)
            .unwrap_or("unknown");
        let active = s.driver.network_is_active(net).await.unwrap_or(false);
        rows.push(vec![
            net.name.clone(),
            if active { "active" } else { "inactive" }.to_string(),
            autostart.to_string(),
            persistent.to_string(),
        ]);
    }
    s.table(&["Name", "State", "Autostart", "Persistent"], &rows);
    Ok(())
}

pub(super) async fn info(s: &mut Session, p: &Parsed) -> CmdResult {
    let net = network_arg(s, p).await?;
    let d = s.driver.clone();
    let mut text = String::new();
    text += &field("Name:", 15, &net.name);
    text += &field("UUID:", 15, net.uuid);
    if let Ok(active) = d.network_is_active(&net).await {
        text += &field("Active:", 15, yes_no(active));
    }
    if let Ok(persistent) = d.network_is_persistent(&net).await {
        text += &field("Persistent:", 15, yes_no(persistent));
    }
    let autostart = match d.network_get_autostart(&net).await {
        Ok(value) => yes_no(value),
        Err(_) => "no autostart",
    };
    text += &field("Autostart:", 15, autostart);
    if let Ok(bridge) = d.network_get_bridge_name(&net).await {
        text += &field("Bridge:", 15, bridge);
    }
    s.print(&text);
    Ok(())
}

pub(super) async fn dumpxml(s: &mut Session, p: &Parsed) -> CmdResult {
    let net = network_arg(s, p).await?;
    let bits = if p.flag("inactive") {
        flags::NETWORK_XML_INACTIVE
    } else {
        0
    };
    let xml = s
        .driver
        .network_get_xml_desc(&net, bits)
        .await
        .map_err(Failure::from)?;
    s.xml(&xml);
    Ok(())
}

pub(super) async fn define(s: &mut Session, p: &Parsed) -> CmdResult {
    let file = p.required("file");
    let xml = read_file(file)?;
    // virNetworkDefineXMLFlags' VALIDATE bit.
    let bits = u32::from(p.flag("validate"));
    let net = s
        .driver
        .network_define_xml(&xml, bits)
        .await
        .map_err(|e| Failure::context(format!("Failed to define network from {file}"), &e))?;
    s.notice(format!("Network {} defined from {file}", net.name));
    Ok(())
}

pub(super) async fn start(s: &mut Session, p: &Parsed) -> CmdResult {
    let net = network_arg(s, p).await?;
    s.driver
        .network_create(&net)
        .await
        .map_err(|e| Failure::context(format!("Failed to start network {}", net.name), &e))?;
    s.notice(format!("Network {} started", net.name));
    Ok(())
}

pub(super) async fn destroy(s: &mut Session, p: &Parsed) -> CmdResult {
    let net = network_arg(s, p).await?;
    s.driver
        .network_destroy(&net)
        .await
        .map_err(|e| Failure::context(format!("Failed to destroy network {}", net.name), &e))?;
    s.notice(format!("Network {} destroyed", net.name));
    Ok(())
}

pub(super) async fn undefine(s: &mut Session, p: &Parsed) -> CmdResult {
    let net = network_arg(s, p).await?;
    s.driver
        .network_undefine(&net)
        .await
        .map_err(|e| Failure::context(format!("Failed to undefine network {}", net.name), &e))?;
    s.notice(format!("Network {} has been undefined", net.name));
    Ok(())
}

pub(super) async fn autostart(s: &mut Session, p: &Parsed) -> CmdResult {
    let net = network_arg(s, p).await?;
    let enable = !p.flag("disable");
    let verb = if enable { "mark" } else { "unmark" };
    s.driver
        .network_set_autostart(&net, enable)
        .await
        .map_err(|e| {
            Failure::context(
                format!("failed to {verb} network {} as autostarted", net.name),
                &e,
            )
        })?;
    s.notice(format!("Network {} {verb}ed as autostarted", net.name));
    Ok(())
}
