//! The parts of a network definition beyond bridge, addresses and DHCP, on this host: the MTU and static routes
//! are applied to the bridge; what this driver cannot honour (network-wide bandwidth, VLANs, virtual ports,
//! port isolation, a firewalld zone, libvirt's MAC table management, SNAT address or port ranges, interface pools,
//! portgroups carrying settings) is refused at define and create with libvirt's CONFIG_UNSUPPORTED, never
//! accepted and then ignored.

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::NetworkDef;
use std::process::Stdio;

fn unsupported(detail: String) -> Error {
    Error::with_detail(ErrorCode::CONFIG_UNSUPPORTED, ErrorDomain::NETWORK, detail)
}

/// Refuses a definition carrying what this driver would otherwise keep but not apply. Networks of modes this
/// driver does not start are only stored, so they are let through (they fail at start).
pub fn refuse_unapplied(def: &NetworkDef) -> Result<()> {
    let name = &def.name;
    let mode = def.forward_mode.as_deref().unwrap_or("none");
    if !matches!(mode, "none" | "nat" | "route" | "open" | "bridge") {
        return Ok(());
    }
    // libvirt's own refusals for bridge-backed networks (networkValidate).
    if def.virtualport.is_some() {
        return Err(unsupported(format!(
            "<virtualport> element unsupported for network '{name}' with forward mode='{mode}'"
        )));
    }
    if def.vlan.is_some() {
        return Err(unsupported(format!(
            "<vlan> element specified for network {name}, whose type doesn't support vlan configuration"
        )));
    }
    if mode == "bridge" && def.bandwidth.is_some() {
        return Err(unsupported(format!(
            "Unsupported network-wide <bandwidth> element in network {name} with forward mode='{mode}'"
        )));
    }
    // What libvirt does here and this driver does not (yet) do.
    let ours = |what: &str| {
        unsupported(format!(
            "{what} in network '{name}' is not supported by this host's network driver"
        ))
    };
    if def.bandwidth.is_some() {
        return Err(ours("network-wide <bandwidth>"));
    }
    if def.port.as_ref().and_then(|p| p.attr("isolated")) == Some("yes") {
        return Err(ours("<port isolated='yes'>"));
    }
    if let Some(zone) = &def.bridge_zone {
        return Err(unsupported(format!(
            "zone {zone} requested for network {name} but firewalld is not active"
        )));
    }
    if def.mac_table_manager.as_deref() == Some("libvirt") {
        return Err(ours("<bridge macTableManager='libvirt'>"));
    }
    for child in &def.forward_children {
        let plain_nat = child.name == "nat" && child.children.is_empty() && child.attrs.is_empty();
        if !plain_nat {
            return Err(ours(&format!("<forward> sub-element <{}>", child.name)));
        }
    }
    for group in &def.portgroups {
        if let Some(setting) = group.children.first() {
            return Err(ours(&format!(
                "<{}> in portgroup '{}'",
                setting.name,
                group.attr("name").unwrap_or_default()
            )));
        }
    }
    for route in &def.routes {
        if route.attr("address").is_none() || route.attr("gateway").is_none() {
            return Err(Error::with_detail(
                ErrorCode::XML_ERROR,
                ErrorDomain::NETWORK,
                format!("network '{name}': a <route> needs an address and a gateway"),
            ));
        }
    }
    if mode == "bridge" && (def.mtu.is_some() || !def.routes.is_empty()) {
        return Err(ours("<mtu> or <route> with forward mode='bridge'"));
    }
    Ok(())
}

async fn ip(args: &[String]) -> Result<()> {
    let output = tokio::process::Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| Error::system(ErrorDomain::NETWORK, "cannot run 'ip'", &e))?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::with_detail(
        ErrorCode::OPERATION_FAILED,
        ErrorDomain::NETWORK,
        format!(
            "'ip {}' failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    ))
}

/// Sets the bridge's MTU (guests learn it through DHCP option 26) and adds the static routes through it, once the
/// bridge is up with its addresses. The routes go with the bridge when it is deleted.
pub async fn apply(def: &NetworkDef, bridge: &str) -> Result<()> {
    if let Some(mtu) = def.mtu {
        ip(&[
            "link".into(),
            "set".into(),
            "dev".into(),
            bridge.into(),
            "mtu".into(),
            mtu.to_string(),
        ])
        .await?;
    }
    for route in &def.routes {
        let (Some(address), Some(gateway)) = (route.attr("address"), route.attr("gateway")) else {
            continue;
        };
        let prefix = match (route.attr("prefix"), route.attr("netmask")) {
            (Some(prefix), _) => prefix.to_string(),
            (None, Some(mask)) => mask
                .parse::<std::net::Ipv4Addr>()
                .map(|m| u32::from(m).count_ones().to_string())
                .unwrap_or_else(|_| "32".into()),
            (None, None) if address.contains(':') => "128".into(),
            (None, None) => "32".into(),
        };
        let mut args: Vec<String> = vec![
            "route".into(),
            "add".into(),
            format!("{address}/{prefix}"),
            "via".into(),
            gateway.into(),
            "dev".into(),
            bridge.into(),
        ];
        if let Some(metric) = route.attr("metric") {
            args.extend(["metric".into(), metric.into()]);
        }
        ip(&args).await?;
    }
    Ok(())
}
