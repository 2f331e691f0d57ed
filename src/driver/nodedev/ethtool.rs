//! A link's offload features as libvirt lists them (`<feature name='rx'/>` ...), asked from the kernel's ethtool
//! netlink family (`ETHTOOL_MSG_FEATURES_GET`), the successor of the ioctls libvirt's `virNetDevGetFeatures`
//! uses. Each libvirt name stands for the kernel feature bits its ioctl reads. The message codec is pure and
//! tested on bytes; [`features`] does the one socket exchange, and any failure (no such family, a kernel
//! without ethtool netlink, a link gone) gives no features rather than an error, as libvirt skips what it
//! cannot read.

use std::os::fd::AsRawFd;

use nix::sys::socket::{
    bind, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

/// libvirt's feature names in its order, each with the kernel features (ethtool's names) that set it.
const FEATURES: &[(&str, &[&str])] = &[
    ("rx", &["rx-checksum"]),
    (
        "tx",
        &[
            "tx-checksum-ipv4",
            "tx-checksum-ip-generic",
            "tx-checksum-ipv6",
            "tx-checksum-fcoe-crc",
            "tx-checksum-sctp",
        ],
    ),
    ("sg", &["tx-scatter-gather"]),
    (
        "tso",
        &[
            "tx-tcp-segmentation",
            "tx-tcp-ecn-segmentation",
            "tx-tcp-mangleid-segmentation",
            "tx-tcp6-segmentation",
        ],
    ),
    ("gso", &["tx-generic-segmentation"]),
    ("gro", &["rx-gro"]),
    ("lro", &["rx-lro"]),
    ("rxvlan", &["rx-vlan-hw-parse"]),
    ("txvlan", &["tx-vlan-hw-insert"]),
    ("ntuple", &["rx-ntuple-filter"]),
    ("rxhash", &["rx-hashing"]),
    ("txudptnl", &["tx-udp_tnl-segmentation"]),
];

const NLM_F_REQUEST: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const ETHTOOL_MSG_FEATURES_GET: u8 = 11;
const ETHTOOL_A_FEATURES_HEADER: u16 = 1;
const ETHTOOL_A_FEATURES_ACTIVE: u16 = 4;
const ETHTOOL_A_HEADER_DEV_NAME: u16 = 2;
const ETHTOOL_A_BITSET_NOMASK: u16 = 1;
const ETHTOOL_A_BITSET_BITS: u16 = 3;
const ETHTOOL_A_BITSET_BITS_BIT: u16 = 1;
const ETHTOOL_A_BITSET_BIT_NAME: u16 = 2;
const ETHTOOL_A_BITSET_BIT_VALUE: u16 = 3;

fn attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = u16::try_from(4 + payload.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn nul_terminated(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

/// One generic netlink request: netlink header, genl header (command, version 1), attributes.
fn request(kind: u16, seq: u32, cmd: u8, attrs: &[u8]) -> Vec<u8> {
    let len = u32::try_from(16 + 4 + attrs.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(len as usize);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[cmd, 1, 0, 0]);
    out.extend_from_slice(attrs);
    out
}

/// The attributes of a buffer, as (type without flags, payload); stops at the first malformed one.
fn attrs(mut buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & !NLA_F_NESTED & !0x4000;
        if len < 4 || len > buf.len() {
            break;
        }
        out.push((kind, &buf[4..len]));
        let padded = (len + 3) & !3;
        buf = buf.get(padded..).unwrap_or(&[]);
    }
    out
}

/// The attributes of the first generic netlink message of a reply; `None` for an error reply.
fn reply_attrs(buf: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    let len = usize::try_from(u32::from_ne_bytes(buf.get(0..4)?.try_into().ok()?)).ok()?;
    let kind = u16::from_ne_bytes(buf.get(4..6)?.try_into().ok()?);
    if kind == NLMSG_ERROR || len < 20 || len > buf.len() {
        return None;
    }
    Some(attrs(&buf[20..len]))
}

/// The generic netlink family id of `ethtool` from a CTRL_CMD_GETFAMILY reply.
fn family_id(reply: &[u8]) -> Option<u16> {
    reply_attrs(reply)?
        .into_iter()
        .find(|(kind, _)| *kind == CTRL_ATTR_FAMILY_ID)
        .and_then(|(_, value)| Some(u16::from_ne_bytes(value.get(0..2)?.try_into().ok()?)))
}

/// The names of the active kernel features in an ETHTOOL_MSG_FEATURES_GET reply (verbose bit sets).
fn active_names(reply: &[u8]) -> Vec<String> {
    let Some(top) = reply_attrs(reply) else {
        return Vec::new();
    };
    let Some((_, active)) = top
        .into_iter()
        .find(|(k, _)| *k == ETHTOOL_A_FEATURES_ACTIVE)
    else {
        return Vec::new();
    };
    let set = attrs(active);
    // Without a mask the kernel lists only the bits that are set.
    let nomask = set.iter().any(|(k, _)| *k == ETHTOOL_A_BITSET_NOMASK);
    let mut names = Vec::new();
    for (_, bits) in set.iter().filter(|(k, _)| *k == ETHTOOL_A_BITSET_BITS) {
        for (_, bit) in attrs(bits)
            .into_iter()
            .filter(|(k, _)| *k == ETHTOOL_A_BITSET_BITS_BIT)
        {
            let fields = attrs(bit);
            let on = nomask || fields.iter().any(|(k, _)| *k == ETHTOOL_A_BITSET_BIT_VALUE);
            let name = fields
                .iter()
                .find(|(k, _)| *k == ETHTOOL_A_BITSET_BIT_NAME)
                .map(|(_, v)| {
                    String::from_utf8_lossy(v)
                        .trim_end_matches('\0')
                        .to_string()
                });
            if let (true, Some(name)) = (on, name) {
                names.push(name);
            }
        }
    }
    names
}

/// libvirt's names for a link's active kernel features, in libvirt's order.
fn libvirt_names(active: &[String]) -> Vec<String> {
    FEATURES
        .iter()
        .filter(|(_, kernel)| kernel.iter().any(|k| active.iter().any(|a| a == k)))
        .map(|(name, _)| name.to_string())
        .collect()
}

fn exchange(fd: &impl AsRawFd, message: &[u8], buf: &mut [u8]) -> Option<usize> {
    send(fd.as_raw_fd(), message, MsgFlags::empty()).ok()?;
    recv(fd.as_raw_fd(), buf, MsgFlags::empty()).ok()
}

/// The link's features as libvirt names them; empty when the kernel does not say.
pub(super) fn features(ifname: &str) -> Vec<String> {
    let Ok(fd) = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkGeneric,
    ) else {
        return Vec::new();
    };
    if bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).is_err() {
        return Vec::new();
    }
    let timeout = TimeVal::new(1, 0);
    let _ = setsockopt(&fd, sockopt::ReceiveTimeout, &timeout);
    let mut buf = vec![0u8; 65536];
    let mut family = Vec::new();
    attr(
        &mut family,
        CTRL_ATTR_FAMILY_NAME,
        &nul_terminated("ethtool"),
    );
    let Some(n) = exchange(
        &fd,
        &request(GENL_ID_CTRL, 1, CTRL_CMD_GETFAMILY, &family),
        &mut buf,
    ) else {
        return Vec::new();
    };
    let Some(id) = family_id(&buf[..n]) else {
        return Vec::new();
    };
    let mut header = Vec::new();
    attr(
        &mut header,
        ETHTOOL_A_HEADER_DEV_NAME,
        &nul_terminated(ifname),
    );
    let mut get = Vec::new();
    attr(&mut get, ETHTOOL_A_FEATURES_HEADER | NLA_F_NESTED, &header);
    let Some(n) = exchange(
        &fd,
        &request(id, 2, ETHTOOL_MSG_FEATURES_GET, &get),
        &mut buf,
    ) else {
        return Vec::new();
    };
    libvirt_names(&active_names(&buf[..n]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut out = request(kind, 1, 11, body);
        out[6..8].copy_from_slice(&0u16.to_ne_bytes());
        out
    }

    fn bit(name: &str, value: bool) -> Vec<u8> {
        let mut fields = Vec::new();
        attr(&mut fields, 1, &7u32.to_ne_bytes());
        attr(
            &mut fields,
            ETHTOOL_A_BITSET_BIT_NAME,
            &nul_terminated(name),
        );
        if value {
            attr(&mut fields, ETHTOOL_A_BITSET_BIT_VALUE, &[]);
        }
        let mut out = Vec::new();
        attr(&mut out, ETHTOOL_A_BITSET_BITS_BIT | NLA_F_NESTED, &fields);
        out
    }

    #[test]
    fn requests_are_laid_out_as_generic_netlink_wants() {
        let mut family = Vec::new();
        attr(
            &mut family,
            CTRL_ATTR_FAMILY_NAME,
            &nul_terminated("ethtool"),
        );
        let msg = request(GENL_ID_CTRL, 1, CTRL_CMD_GETFAMILY, &family);
        // 16 header + 4 genl + 4 attr header + "ethtool\0".
        assert_eq!(msg.len(), 32);
        assert_eq!(u32::from_ne_bytes(msg[0..4].try_into().unwrap()), 32);
        assert_eq!(&msg[16..20], &[3, 1, 0, 0]);
        assert_eq!(&msg[24..32], b"ethtool\0");
    }

    #[test]
    fn active_bits_map_to_libvirts_names_in_its_order() {
        let mut bits = Vec::new();
        for (name, on) in [
            ("tx-generic-segmentation", true),
            ("rx-checksum", true),
            ("tx-checksum-ipv6", true),
            ("rx-gro", false),
            ("tx-udp_tnl-segmentation", true),
        ] {
            bits.extend(bit(name, on));
        }
        let mut set = Vec::new();
        attr(&mut set, 2, &64u32.to_ne_bytes());
        attr(&mut set, ETHTOOL_A_BITSET_BITS | NLA_F_NESTED, &bits);
        let mut body = Vec::new();
        attr(&mut body, ETHTOOL_A_FEATURES_ACTIVE | NLA_F_NESTED, &set);
        let names = active_names(&reply(30, &body));
        assert_eq!(names.len(), 4);
        assert_eq!(libvirt_names(&names), ["rx", "tx", "gso", "txudptnl"]);

        // A value-only set lists just the bits that are on.
        let mut set = Vec::new();
        attr(&mut set, ETHTOOL_A_BITSET_NOMASK, &[]);
        attr(
            &mut set,
            ETHTOOL_A_BITSET_BITS | NLA_F_NESTED,
            &bit("rx-gro", false),
        );
        let mut body = Vec::new();
        attr(&mut body, ETHTOOL_A_FEATURES_ACTIVE | NLA_F_NESTED, &set);
        assert_eq!(libvirt_names(&active_names(&reply(30, &body))), ["gro"]);

        assert!(active_names(&reply(NLMSG_ERROR, &[])).is_empty());
        assert!(active_names(&[1, 2]).is_empty());
    }

    #[test]
    fn the_family_id_is_read_from_the_controller_reply() {
        let mut body = Vec::new();
        attr(&mut body, CTRL_ATTR_FAMILY_NAME, &nul_terminated("ethtool"));
        attr(&mut body, CTRL_ATTR_FAMILY_ID, &0x1bu16.to_ne_bytes());
        assert_eq!(family_id(&reply(GENL_ID_CTRL, &body)), Some(0x1b));
    }
}
