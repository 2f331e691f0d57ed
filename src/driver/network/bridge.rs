//! The Linux bridge of a virtual network: created with the network's MAC, STP and forward delay, given its
//! addresses and brought up; deleted when the network stops. Also the checks libvirt makes before it creates
//! one: no host route already covers the network's IPv4 subnets. The kernel work is done by iproute2's `ip`.

use super::addr;
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::NetworkDef;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Stdio;

/// The prefix of bridge names this driver chooses itself (libvirt's own daemon uses `virbr`).
pub const AUTO_PREFIX: &str = "vcnbr";

/// Whether a network interface named `name` exists on the host.
pub fn exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The first `vcnbrN` that neither exists on the host nor is in `taken`.
pub fn free_name(taken: &[String]) -> String {
    (0u32..)
        .map(|n| format!("{AUTO_PREFIX}{n}"))
        .find(|name| !taken.contains(name) && !exists(name))
        .unwrap_or_else(|| format!("{AUTO_PREFIX}0"))
}

/// Whether a name may be given to an interface (Linux's rules).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == b'%' || b.is_ascii_whitespace())
}

async fn ip(args: &[&str]) -> Result<()> {
    let output = tokio::process::Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            Error::system(
                ErrorDomain::NETWORK,
                "cannot run 'ip' (install iproute2) to manage bridges",
                &e,
            )
        })?;
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

/// libvirt's refusal when a host route already serves one of the network's IPv4 subnets
/// (`networkCheckRouteCollision`), from the text of `/proc/net/route`.
pub fn route_collision(def: &NetworkDef, routes: &str) -> Result<()> {
    if !routes.starts_with("Iface") {
        return Ok(());
    }
    for line in routes.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            continue;
        }
        let (Ok(dest), Ok(mask)) = (
            u32::from_str_radix(fields[1], 16),
            u32::from_str_radix(fields[7], 16),
        ) else {
            continue;
        };
        // The kernel prints each address's bytes in memory order as one native integer.
        let mask = u32::from_be_bytes(mask.to_ne_bytes());
        let dest = u32::from_be_bytes(dest.to_ne_bytes()) & mask;
        for ip in &def.ips {
            let (Ok(IpAddr::V4(address)), Some(prefix)) =
                (ip.address.parse::<IpAddr>(), addr::prefix(ip))
            else {
                continue;
            };
            let ours = addr::mask_v4(prefix);
            if u32::from(address) & ours == dest && ours == mask {
                return Err(Error::internal(
                    ErrorDomain::NETWORK,
                    format!("Network is already in use by interface {}", fields[0]),
                ));
            }
        }
    }
    Ok(())
}

/// Creates the bridge of `def` (named `name`), with its MAC, STP, delay and addresses, and brings it up. On a
/// failure nothing is left.
pub async fn create(def: &NetworkDef, name: &str) -> Result<()> {
    if !valid_name(name) {
        return Err(Error::internal(
            ErrorDomain::NETWORK,
            format!("'{name}' is not a valid bridge name"),
        ));
    }
    if exists(name) {
        return Err(Error::new(
            ErrorCode::SYSTEM_ERROR,
            ErrorDomain::NETWORK,
            format!("error creating bridge interface {name}: File exists"),
        ));
    }
    // Delay first, STP after it: the kernel refuses a short delay on a bridge that already runs STP.
    let delay = (def.bridge_delay.unwrap_or(0) * 100).to_string();
    let stp = if def.bridge_stp.unwrap_or(true) {
        "1"
    } else {
        "0"
    };
    ip(&[
        "link",
        "add",
        name,
        "type",
        "bridge",
        "forward_delay",
        &delay,
        "stp_state",
        stp,
    ])
    .await?;
    let configured = async {
        if let Some(mac) = &def.mac {
            ip(&["link", "set", "dev", name, "address", mac]).await?;
        }
        for ipdef in &def.ips {
            let Some(prefix) = addr::prefix(ipdef) else {
                continue;
            };
            let cidr = format!("{}/{prefix}", ipdef.address);
            let v4 = ipdef.address.parse::<Ipv4Addr>().is_ok();
            if v4 {
                let bits = addr::mask_v4(prefix);
                let base = ipdef
                    .address
                    .parse::<Ipv4Addr>()
                    .map(u32::from)
                    .unwrap_or(0);
                let broadcast = Ipv4Addr::from(base | !bits).to_string();
                ip(&["addr", "add", &cidr, "broadcast", &broadcast, "dev", name]).await?;
            } else {
                ip(&["addr", "add", &cidr, "dev", name, "nodad"]).await?;
            }
        }
        ip(&["link", "set", "dev", name, "up"]).await
    }
    .await;
    if configured.is_err() {
        delete(name).await;
    }
    configured
}

/// Deletes the bridge if it exists; a failure is logged.
pub async fn delete(name: &str) {
    if !exists(name) {
        return;
    }
    if let Err(err) = ip(&["link", "del", "dev", name]).await {
        tracing::warn!(bridge = name, "cannot delete bridge: {}", err.message);
    }
}

/// Turns on IPv4 (and IPv6) forwarding, which NAT and routed networks need (libvirt does the same).
pub fn enable_forwarding(v6: bool) -> Result<()> {
    let mut paths = vec!["/proc/sys/net/ipv4/ip_forward"];
    if v6 {
        paths.push("/proc/sys/net/ipv6/conf/all/forwarding");
    }
    for path in paths {
        std::fs::write(path, "1\n").map_err(|e| {
            Error::system(ErrorDomain::NETWORK, format!("cannot enable {path}"), &e)
        })?;
    }
    Ok(())
}
