//! The nftables rules of one virtual network, as libvirt's nftables backend installs them (forwarding out of and
//! into the bridge, traffic between guests, masquerading for NAT), kept in one table per network so that
//! stopping the network is deleting that table. The ruleset is built by a pure function and loaded with
//! `nft -f -` in one transaction: either all of it is in place or none.

use super::addr::Subnet;
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::NetworkDef;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// The table that holds a network's rules (family `inet`: one table covers IPv4 and IPv6).
pub fn table_name(uuid: &Uuid) -> String {
    format!("virtcim_{}", uuid.simple())
}

/// Whether a network of this forward mode gets firewall rules: isolated, NAT and routed ones do; `open` and
/// `bridge` (and the device-pool modes) do not, as in libvirt.
pub fn has_rules(def: &NetworkDef) -> bool {
    matches!(
        def.forward_mode.as_deref(),
        None | Some("nat") | Some("route")
    )
}

/// The whole table for `def` on `bridge`, in `nft -f` syntax; `None` when the mode has no rules.
pub fn ruleset(def: &NetworkDef, bridge: &str) -> Option<String> {
    if !has_rules(def) {
        return None;
    }
    let table = table_name(&def.uuid);
    let br = quote(bridge);
    let out_dev = def
        .forward_dev
        .as_deref()
        .map(|dev| format!(" oifname {}", quote(dev)))
        .unwrap_or_default();
    let in_dev = def
        .forward_dev
        .as_deref()
        .map(|dev| format!(" iifname {}", quote(dev)))
        .unwrap_or_default();
    let subnets: Vec<Subnet> = def.ips.iter().filter_map(Subnet::of).collect();
    let mode = def.forward_mode.as_deref();
    let mut forward = Vec::new();
    // libvirt's order: guest_cross, then guest_input, then guest_output.
    forward.push(format!("iifname {br} oifname {br} counter accept"));
    for net in &subnets {
        match mode {
            Some("nat") if net.family == "ip" => forward.push(format!(
                "oifname {br}{in_dev} ip daddr {} ct state related,established counter accept",
                net.cidr
            )),
            Some("nat") | Some("route") => forward.push(format!(
                "oifname {br}{in_dev} {} daddr {} counter accept",
                net.family, net.cidr
            )),
            _ => {}
        }
    }
    forward.push(format!("oifname {br} counter reject"));
    if mode.is_some() {
        for net in &subnets {
            forward.push(format!(
                "iifname {br}{out_dev} {} saddr {} counter accept",
                net.family, net.cidr
            ));
        }
    }
    forward.push(format!("iifname {br} counter reject"));
    let mut nat = Vec::new();
    if mode == Some("nat") {
        for net in subnets.iter().filter(|n| n.family == "ip") {
            let c = &net.cidr;
            nat.push(format!(
                "ip saddr {c} ip daddr 224.0.0.0/24{out_dev} counter return"
            ));
            nat.push(format!(
                "ip saddr {c} ip daddr 255.255.255.255/32{out_dev} counter return"
            ));
            for proto in ["tcp", "udp"] {
                nat.push(format!(
                    "meta l4proto {proto} ip saddr {c} ip daddr != {c}{out_dev} counter masquerade to :1024-65535"
                ));
            }
            nat.push(format!(
                "ip saddr {c} ip daddr != {c}{out_dev} counter masquerade"
            ));
        }
    }
    let mut text = format!("table inet {table} {{\n");
    text.push_str(
        "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n",
    );
    for rule in &forward {
        text.push_str(&format!("\t\t{rule}\n"));
    }
    text.push_str("\t}\n");
    if !nat.is_empty() {
        text.push_str(
            "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n",
        );
        for rule in &nat {
            text.push_str(&format!("\t\t{rule}\n"));
        }
        text.push_str("\t}\n");
    }
    text.push_str("}\n");
    Some(text)
}

/// An interface name as an nft string.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace(['"', '\\'], ""))
}

fn failed(detail: String) -> Error {
    Error::with_detail(ErrorCode::OPERATION_FAILED, ErrorDomain::NETWORK, detail)
}

async fn nft(args: &[&str], input: Option<&str>) -> Result<String> {
    let mut child = tokio::process::Command::new("nft")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::system(
                ErrorDomain::NETWORK,
                "cannot run 'nft' (install nftables) to set up firewall rules",
                &e,
            )
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| Error::system(ErrorDomain::NETWORK, "cannot write to 'nft'", &e))?;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| Error::system(ErrorDomain::NETWORK, "cannot run 'nft'", &e))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(failed(format!(
        "'nft {}' failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// Loads the network's table; nothing when its mode has no rules.
pub async fn add(def: &NetworkDef, bridge: &str) -> Result<()> {
    match ruleset(def, bridge) {
        Some(text) => nft(&["-f", "-"], Some(&text)).await.map(|_| ()),
        None => Ok(()),
    }
}

/// Whether the network's table is loaded.
pub async fn exists(uuid: &Uuid) -> bool {
    nft(&["list", "table", "inet", &table_name(uuid)], None)
        .await
        .is_ok()
}

/// Deletes the network's table if it is there; a failure is logged.
pub async fn remove(uuid: &Uuid) {
    if !exists(uuid).await {
        return;
    }
    if let Err(err) = nft(&["delete", "table", "inet", &table_name(uuid)], None).await {
        tracing::warn!(table = %table_name(uuid), "cannot delete nftables table: {}", err.message);
    }
}
