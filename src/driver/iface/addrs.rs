//! A link's addresses as `<protocol>` blocks, from iproute2's JSON (`ip -j addr show dev NAME`).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::model::IfaceProtocol;

#[derive(Deserialize)]
struct Link {
    #[serde(default)]
    addr_info: Vec<Addr>,
}

#[derive(Deserialize)]
struct Addr {
    family: String,
    local: Option<String>,
    prefixlen: Option<i32>,
}

/// The IPv4 then IPv6 addresses of the one link in `json`, in the kernel's order; a family without addresses
/// has no block. Text that is not `ip -j` output gives none.
pub(super) fn parse(json: &str) -> Vec<IfaceProtocol> {
    let links: Vec<Link> = serde_json::from_str(json).unwrap_or_default();
    let mut out = Vec::new();
    for (family, name) in [("inet", "ipv4"), ("inet6", "ipv6")] {
        let ips: Vec<(String, i32)> = links
            .iter()
            .flat_map(|link| &link.addr_info)
            .filter(|addr| addr.family == family)
            .filter_map(|addr| Some((addr.local.clone()?, addr.prefixlen.unwrap_or(0))))
            .collect();
        if !ips.is_empty() {
            out.push(IfaceProtocol {
                family: name.to_string(),
                ips,
                ..IfaceProtocol::default()
            });
        }
    }
    out
}

/// Asks `ip` for the link's addresses; a failing or slow `ip` leaves them out rather than failing the call.
pub(super) async fn protocols(ip: &Path, name: &str) -> Vec<IfaceProtocol> {
    let output = tokio::process::Command::new(ip)
        .args(["-j", "addr", "show", "dev", name])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(5), output).await {
        Ok(Ok(out)) if out.status.success() => parse(&String::from_utf8_lossy(&out.stdout)),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_json_becomes_one_block_per_family() {
        let json = r#"[{"ifindex":61,"ifname":"br0","mtu":1500,"operstate":"UP","address":"b6:f0:ad:e5:ba:6c",
            "addr_info":[{"family":"inet","local":"198.51.100.77","prefixlen":24,"scope":"global","label":"br0"},
            {"family":"inet6","local":"fe80::b4f0:adff:fee5:ba6c","prefixlen":64,"scope":"link"},
            {"family":"inet","local":"198.51.100.78","prefixlen":32,"scope":"global"}]}]"#;
        let protocols = parse(json);
        assert_eq!(protocols.len(), 2);
        assert_eq!(protocols[0].family, "ipv4");
        assert_eq!(
            protocols[0].ips,
            [
                ("198.51.100.77".to_string(), 24),
                ("198.51.100.78".to_string(), 32)
            ]
        );
        assert_eq!(protocols[1].family, "ipv6");
        assert_eq!(protocols[1].ips[0].1, 64);
        assert!(parse(r#"[{"ifindex":1,"ifname":"x","addr_info":[]}]"#).is_empty());
        assert!(parse("not json").is_empty());
    }
}
