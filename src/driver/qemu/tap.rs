//! Tap devices for bridged guest NICs, managed as libvirt does: created before QEMU starts (named from
//! `<target dev>` or the first free `vnetN`), given the guest MAC with its first byte set to 0xFE, enslaved to the
//! bridge and brought up; deleted when the guest stops. The kernel work is done by iproute2's `ip` (no unsafe
//! ioctls in the crate).

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use std::path::Path;
use std::process::Stdio;

/// The prefix of automatically named tap devices; names with it in a definition are not kept (as in libvirt).
pub const AUTO_PREFIX: &str = "vnet";

/// The longest Linux interface name (IFNAMSIZ - 1).
const MAX_NAME: usize = 15;

/// The MAC the host side of a guest NIC gets: the guest's with its first byte 0xFE, so the bridge never takes
/// the tap's address as its own (a bridge uses the lowest MAC of its ports) and host and guest never clash.
pub fn host_mac(guest_mac: &str) -> Option<String> {
    let octets = crate::model::parse_mac(guest_mac)?;
    let mut host = octets;
    host[0] = 0xFE;
    Some(
        host.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// Whether a network interface named `name` exists on the host.
pub fn exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The first `vnetN` that neither exists on the host nor is in `reserved`.
pub fn free_name(reserved: &[String]) -> String {
    (0u32..)
        .map(|n| format!("{AUTO_PREFIX}{n}"))
        .find(|name| !reserved.contains(name) && !exists(name))
        .unwrap_or_else(|| format!("{AUTO_PREFIX}0"))
}

/// Whether a name may be given to a tap device (Linux's rules for interface names).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
}

/// Whether QEMU can use in-kernel virtio-net acceleration: `/dev/vhost-net` opens read-write.
pub fn vhost_net_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/vhost-net")
        .is_ok()
}

fn failed(detail: String) -> Error {
    Error::with_detail(ErrorCode::OPERATION_FAILED, ErrorDomain::QEMU, detail)
}

/// Runs `ip ARGS`; a failure carries what `ip` said.
async fn ip(args: &[&str]) -> Result<()> {
    let output = tokio::process::Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            Error::system(
                ErrorDomain::QEMU,
                "cannot run 'ip' (install iproute2) to manage tap devices",
                &e,
            )
        })?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr).trim().to_string();
    Err(failed(format!("'ip {}' failed: {said}", args.join(" "))))
}

/// Creates tap `name` with the host side of `guest_mac`, enslaves it to `bridge` and brings it up. On failure
/// nothing is left behind.
pub async fn create(name: &str, guest_mac: &str, bridge: &str) -> Result<()> {
    if !valid_name(name) {
        return Err(failed(format!(
            "'{name}' is not a valid network interface name"
        )));
    }
    if exists(name) {
        return Err(failed(format!(
            "cannot create tap device '{name}': a network interface with that name exists"
        )));
    }
    let mac = host_mac(guest_mac)
        .ok_or_else(|| failed(format!("MAC address '{guest_mac}' is not valid")))?;
    // vnet_hdr: QEMU asks for virtio headers when it attaches; the device is created able to give them.
    ip(&["tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr"]).await?;
    let configured = async {
        ip(&["link", "set", "dev", name, "address", &mac]).await?;
        ip(&["link", "set", "dev", name, "master", bridge])
            .await
            .map_err(|e| {
                failed(format!(
                    "cannot attach tap device '{name}' to bridge '{bridge}': {}",
                    e.message
                ))
            })?;
        ip(&["link", "set", "dev", name, "up"]).await
    }
    .await;
    if configured.is_err() {
        delete(name);
    }
    configured
}

/// Deletes tap `name` if it exists; a failure is logged (a stopped guest stays stopped).
pub fn delete(name: &str) {
    if !exists(name) {
        return;
    }
    match std::process::Command::new("ip")
        .args(["link", "del", "dev", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
    {
        Ok(output) if output.status.success() => {
            tracing::debug!(tap = name, "tap device deleted");
        }
        Ok(output) => tracing::warn!(
            tap = name,
            "cannot delete tap device: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(err) => tracing::warn!(tap = name, "cannot run 'ip' to delete tap device: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_mac_sets_the_first_byte_to_fe() {
        assert_eq!(
            host_mac("52:54:00:ab:cd:ef").as_deref(),
            Some("fe:54:00:ab:cd:ef")
        );
        assert_eq!(host_mac("nonsense"), None);
    }

    #[test]
    fn interface_names_follow_linux_rules() {
        assert!(valid_name("vnet0"));
        assert!(valid_name("tap-guest.1"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("sixteen-chars-xx"));
        assert!(!valid_name("has space"));
    }

    #[test]
    fn free_names_skip_reserved_ones() {
        let first = free_name(&[]);
        assert!(first.starts_with(AUTO_PREFIX));
        let second = free_name(std::slice::from_ref(&first));
        assert_ne!(first, second);
    }
}
