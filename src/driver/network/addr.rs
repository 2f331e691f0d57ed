//! Address arithmetic of a network's `<ip>` elements: prefixes, subnets, netmasks and DHCP range sizes.

use crate::model::IpDef;
use std::net::{IpAddr, Ipv4Addr};

/// The prefix length of an `<ip>`: its `prefix`, its `netmask`, or the address class's default (IPv4) / 64.
pub fn prefix(ip: &IpDef) -> Option<u32> {
    let addr: IpAddr = ip.address.parse().ok()?;
    if let Some(prefix) = ip.prefix {
        return Some(prefix);
    }
    if let Some(mask) = &ip.netmask {
        return Some(u32::from(mask.parse::<Ipv4Addr>().ok()?).leading_ones());
    }
    Some(match addr {
        IpAddr::V4(v4) => match v4.octets()[0] {
            0..=127 => 8,
            128..=191 => 16,
            _ => 24,
        },
        IpAddr::V6(_) => 64,
    })
}

/// An `<ip>`'s subnet as nftables names it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Subnet {
    /// `ip` or `ip6`.
    pub family: &'static str,
    /// `192.168.100.0/24`.
    pub cidr: String,
}

impl Subnet {
    pub fn of(ip: &IpDef) -> Option<Self> {
        let bits = prefix(ip)?;
        match ip.address.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => {
                let mask = mask_v4(bits);
                let net = Ipv4Addr::from(u32::from(v4) & mask);
                Some(Self {
                    family: "ip",
                    cidr: format!("{net}/{bits}"),
                })
            }
            IpAddr::V6(v6) => {
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits.min(128))
                };
                let net = std::net::Ipv6Addr::from(u128::from(v6) & mask);
                Some(Self {
                    family: "ip6",
                    cidr: format!("{net}/{bits}"),
                })
            }
        }
    }
}

pub fn mask_v4(bits: u32) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits.min(32))
    }
}

/// The dotted netmask of an IPv4 prefix.
pub fn netmask_v4(bits: u32) -> Ipv4Addr {
    Ipv4Addr::from(mask_v4(bits))
}

/// How many addresses an inclusive range holds (0 when it is backwards or mixes families).
pub fn range_size(start: &str, end: &str) -> u64 {
    match (start.parse::<IpAddr>(), end.parse::<IpAddr>()) {
        (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(b))) => {
            u64::from(u32::from(b)).saturating_sub(u64::from(u32::from(a))) + u64::from(a <= b)
        }
        (Ok(IpAddr::V6(a)), Ok(IpAddr::V6(b))) if a <= b => {
            u64::try_from(u128::from(b) - u128::from(a) + 1).unwrap_or(u64::MAX)
        }
        _ => 0,
    }
}

/// Whether `addr` lies in the subnet of `ip`.
pub fn contains(ip: &IpDef, addr: &str) -> bool {
    let (Some(bits), Ok(base), Ok(addr)) = (
        prefix(ip),
        ip.address.parse::<IpAddr>(),
        addr.parse::<IpAddr>(),
    ) else {
        return false;
    };
    match (base, addr) {
        (IpAddr::V4(base), IpAddr::V4(addr)) => {
            let mask = mask_v4(bits);
            u32::from(base) & mask == u32::from(addr) & mask
        }
        (IpAddr::V6(base), IpAddr::V6(addr)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits.min(128))
            };
            u128::from(base) & mask == u128::from(addr) & mask
        }
        _ => false,
    }
}
