//! Host interface definitions (`<interface>` XML of `virInterfaceDefineXML`): model, parser, formatter.
//!
//! This is the host's network configuration (ethernet, bridge, bond, vlan), not a guest's NIC (see
//! [`crate::model::InterfaceDef`]). Values libvirt keeps as text (MAC, bridge delay, vlan tag, addresses) are kept
//! as written, so a definition formats back the way libvirt formats it.

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::xml::{parse_decimal, parse_document, parse_signed, Attrs, Ctx, Node, XmlWriter};

const SCHEMA: &str = "interface.rng";
/// The name libvirt gives the text in its parse errors.
const DOCUMENT: &str = "interface_definition";
/// libvirt refuses a larger MTU.
pub const MTU_MAX: u32 = 100_000;

/// The four kinds of host interface, with what each kind holds.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum HostInterfaceKind {
    Ethernet,
    Bridge {
        stp: Option<bool>,
        delay: Option<String>,
        members: Vec<HostInterfaceDef>,
    },
    Bond {
        /// One of [`BOND_MODES`]; `None` leaves the kernel's default.
        mode: Option<String>,
        monitor: Option<BondMonitor>,
        members: Vec<HostInterfaceDef>,
    },
    Vlan {
        tag: String,
        /// The underlying device's name.
        device: String,
    },
}

impl HostInterfaceKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Ethernet => "ethernet",
            Self::Bridge { .. } => "bridge",
            Self::Bond { .. } => "bond",
            Self::Vlan { .. } => "vlan",
        }
    }
}

/// How a bond watches its links.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum BondMonitor {
    Mii {
        freq: i32,
        downdelay: i32,
        updelay: i32,
        /// "ioctl" or "netif".
        carrier: Option<String>,
    },
    Arp {
        interval: i32,
        target: String,
        /// "active", "backup" or "all".
        validate: Option<String>,
    },
}

/// One `<protocol family=...>` block of a top-level interface.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct IfaceProtocol {
    /// "ipv4" or "ipv6".
    pub family: String,
    /// `<autoconf/>` (IPv6 only).
    pub autoconf: bool,
    /// `<dhcp>` present, with its `peerdns` yes/no when given.
    pub dhcp: Option<Option<bool>>,
    /// (address, prefix); a prefix of 0 is not written.
    pub ips: Vec<(String, i32)>,
    /// The first `<route gateway=...>`.
    pub gateway: Option<String>,
}

/// A host interface. `start_mode`, `mtu` and `protocols` belong to top-level interfaces only; members of a
/// bridge or bond never carry them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HostInterfaceDef {
    pub name: String,
    pub kind: HostInterfaceKind,
    /// "onboot", "hotplug" or "none".
    pub start_mode: Option<String>,
    pub mtu: Option<u32>,
    pub protocols: Vec<IfaceProtocol>,
    /// `<link speed=... state=...>` (not for bridges).
    pub link_speed: Option<u32>,
    pub link_state: Option<String>,
    /// Ethernet only, as written.
    pub mac: Option<String>,
}

pub const START_MODES: &[&str] = &["onboot", "hotplug", "none"];
pub const BOND_MODES: &[&str] = &[
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
];
const LINK_STATES: &[&str] = &[
    "unknown",
    "notpresent",
    "down",
    "lowerlayerdown",
    "testing",
    "dormant",
    "up",
];
const TYPES: &[&str] = &["ethernet", "bridge", "bond", "vlan"];

/// Where an `<interface>` element sits: which kinds it may be and what it may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parent {
    Top,
    Bridge,
    Bond,
}

impl HostInterfaceDef {
    /// Parses host interface XML; unknown content is dropped, or refused with `validate`.
    pub fn from_xml(xml: &str, validate: bool) -> Result<Self> {
        let cx = Ctx::new(ErrorDomain::INTERFACE, SCHEMA, validate);
        let root = parse_document(xml, cx.domain, DOCUMENT)?;
        cx.expect_root(&root, "interface")?;
        parse_interface(&cx, &root, Parent::Top)
    }

    /// Formats the definition in libvirt's layout; stable.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        format_interface(&mut w, self, Parent::Top);
        w.finish()
    }

    /// An ethernet interface with nothing but a name.
    pub fn ethernet(name: &str) -> Self {
        Self {
            name: name.to_string(),
            kind: HostInterfaceKind::Ethernet,
            start_mode: None,
            mtu: None,
            protocols: Vec::new(),
            link_speed: None,
            link_state: None,
            mac: None,
        }
    }
}

fn iface_error(cx: &Ctx, detail: impl AsRef<str>) -> Error {
    cx.xml_error(detail)
}

fn parse_interface(cx: &Ctx, node: &Node, parent: Parent) -> Result<HostInterfaceDef> {
    let type_name = node
        .attr("type")
        .ok_or_else(|| cx.missing_attr("interface", "type"))?;
    if !TYPES.contains(&type_name) {
        return Err(cx.invalid_attr("interface", "type", type_name));
    }
    let allowed = match parent {
        Parent::Top => true,
        Parent::Bridge => type_name != "bridge",
        Parent::Bond => type_name == "ethernet",
    };
    if !allowed {
        return Err(iface_error(
            cx,
            format!("interface has unsupported type '{type_name}'"),
        ));
    }
    let top_children: &[&str] = if parent == Parent::Top {
        &["start", "mtu", "protocol"]
    } else {
        &[]
    };
    let own_children: &[&str] = match type_name {
        "ethernet" => &["link", "mac"],
        "bridge" => &["bridge"],
        "bond" => &["link", "bond"],
        _ => &["link", "vlan"],
    };
    let children: Vec<&str> = top_children.iter().chain(own_children).copied().collect();
    cx.check(node, &children, &["type", "name"])?;
    let name = node
        .attr("name")
        .ok_or_else(|| iface_error(cx, "interface has no name"))?
        .to_string();
    let mut def = HostInterfaceDef::ethernet(&name);
    if parent == Parent::Top {
        if let Some(start) = node.child("start") {
            cx.check(start, &[], &["mode"])?;
            if let Some(mode) = start.attr("mode") {
                if !START_MODES.contains(&mode) {
                    return Err(iface_error(
                        cx,
                        format!("unknown interface startmode {mode}"),
                    ));
                }
                def.start_mode = Some(mode.to_string());
            }
        }
        if let Some(mtu) = node.child("mtu") {
            cx.check(mtu, &[], &["size"])?;
            if let Some(size) = mtu.attr("size") {
                let value: u32 = parse_decimal(size).ok_or_else(|| {
                    iface_error(
                        cx,
                        format!("Invalid value for attribute 'size' in element 'mtu': '{size}'"),
                    )
                })?;
                if value > MTU_MAX {
                    return Err(iface_error(
                        cx,
                        format!(
                            "value of the 'size' attribute of 'mtu' element must be at most {MTU_MAX}"
                        ),
                    ));
                }
                def.mtu = Some(value);
            }
        }
        for proto in node.children_named("protocol") {
            def.protocols.push(parse_protocol(cx, proto)?);
        }
    }
    if type_name != "bridge" {
        if let Some(link) = node.child("link") {
            cx.check(link, &[], &["speed", "state"])?;
            def.link_speed = cx.u32_attr(link, "speed")?;
            def.link_state = cx.enum_attr(link, "state", LINK_STATES)?;
        }
    }
    def.kind = match type_name {
        "ethernet" => {
            if let Some(mac) = node.child("mac") {
                cx.check(mac, &[], &["address"])?;
                def.mac = mac.attr("address").map(str::to_string);
            }
            HostInterfaceKind::Ethernet
        }
        "bridge" => {
            let bridge = node
                .child("bridge")
                .ok_or_else(|| iface_error(cx, "bridge interface misses the bridge element"))?;
            parse_bridge(cx, bridge)?
        }
        "bond" => {
            let bond = node
                .child("bond")
                .ok_or_else(|| iface_error(cx, "bond interface misses the bond element"))?;
            parse_bond(cx, bond)?
        }
        _ => {
            let vlan = node
                .child("vlan")
                .ok_or_else(|| iface_error(cx, "vlan interface misses the vlan element"))?;
            cx.check(vlan, &["interface"], &["tag"])?;
            let tag = vlan
                .attr("tag")
                .ok_or_else(|| iface_error(cx, "vlan interface misses the tag attribute"))?;
            let device = vlan
                .child("interface")
                .and_then(|dev| dev.attr("name"))
                .ok_or_else(|| iface_error(cx, "vlan interface misses name attribute"))?;
            HostInterfaceKind::Vlan {
                tag: tag.to_string(),
                device: device.to_string(),
            }
        }
    };
    Ok(def)
}

fn parse_protocol(cx: &Ctx, node: &Node) -> Result<IfaceProtocol> {
    cx.check(node, &["autoconf", "dhcp", "ip", "route"], &["family"])?;
    let family = node
        .attr("family")
        .ok_or_else(|| iface_error(cx, "protocol misses the family attribute"))?;
    if family != "ipv4" && family != "ipv6" {
        return Err(iface_error(
            cx,
            format!("unsupported protocol family '{family}'"),
        ));
    }
    let mut proto = IfaceProtocol {
        family: family.to_string(),
        autoconf: family == "ipv6" && node.child("autoconf").is_some(),
        gateway: node
            .child("route")
            .and_then(|route| route.attr("gateway"))
            .map(str::to_string),
        ..IfaceProtocol::default()
    };
    if let Some(dhcp) = node.child("dhcp") {
        cx.check(dhcp, &[], &["peerdns"])?;
        proto.dhcp = Some(cx.bool_attr(dhcp, "peerdns", ("yes", "no"))?);
    }
    for ip in node.children_named("ip") {
        cx.check(ip, &[], &["address", "prefix"])?;
        let Some(address) = ip.attr("address") else {
            continue;
        };
        let prefix = match ip.attr("prefix") {
            None => 0,
            Some(text) => parse_signed(text).ok_or_else(|| {
                Error::with_detail(
                    ErrorCode::XML_ERROR,
                    ErrorDomain::XML,
                    format!(
                        "Invalid value for attribute 'prefix' in element 'ip': '{text}'. Expected integer value"
                    ),
                )
            })?,
        };
        proto.ips.push((address.to_string(), prefix));
    }
    Ok(proto)
}

fn parse_members(cx: &Ctx, node: &Node, parent: Parent) -> Result<Vec<HostInterfaceDef>> {
    node.children_named("interface")
        .map(|member| parse_interface(cx, member, parent))
        .collect()
}

fn parse_bridge(cx: &Ctx, node: &Node) -> Result<HostInterfaceKind> {
    cx.check(node, &["interface"], &["stp", "delay"])?;
    let stp = match node.attr("stp") {
        None => None,
        Some("on") => Some(true),
        Some("off") => Some(false),
        Some(other) => {
            return Err(iface_error(
                cx,
                format!("bridge interface stp should be on or off got {other}"),
            ))
        }
    };
    Ok(HostInterfaceKind::Bridge {
        stp,
        delay: node.attr("delay").map(str::to_string),
        members: parse_members(cx, node, Parent::Bridge)?,
    })
}

/// An optional signed attribute of a bond monitor; `required` ones must be present.
fn monitor_int(cx: &Ctx, node: &Node, attr: &str, required: bool, complaint: &str) -> Result<i32> {
    match node.attr(attr) {
        None if required => Err(iface_error(cx, complaint)),
        None => Ok(0),
        Some(text) => parse_signed(text).ok_or_else(|| iface_error(cx, complaint)),
    }
}

fn parse_bond(cx: &Ctx, node: &Node) -> Result<HostInterfaceKind> {
    cx.check(node, &["interface", "miimon", "arpmon"], &["mode"])?;
    let mode = match node.attr("mode") {
        None => None,
        Some(mode) if BOND_MODES.contains(&mode) => Some(mode.to_string()),
        Some(other) => return Err(iface_error(cx, format!("unknown bonding mode {other}"))),
    };
    let members = parse_members(cx, node, Parent::Bond)?;
    let monitor = if let Some(mii) = node.child("miimon") {
        cx.check(mii, &[], &["freq", "downdelay", "updelay", "carrier"])?;
        let carrier = match mii.attr("carrier") {
            None => None,
            Some(c @ ("ioctl" | "netif")) => Some(c.to_string()),
            Some(other) => {
                return Err(iface_error(
                    cx,
                    format!("unknown mii bonding carrier {other}"),
                ))
            }
        };
        Some(BondMonitor::Mii {
            freq: monitor_int(
                cx,
                mii,
                "freq",
                true,
                "bond interface miimon freq missing or invalid",
            )?,
            downdelay: monitor_int(
                cx,
                mii,
                "downdelay",
                false,
                "bond interface miimon downdelay invalid",
            )?,
            updelay: monitor_int(
                cx,
                mii,
                "updelay",
                false,
                "bond interface miimon updelay invalid",
            )?,
            carrier,
        })
    } else if let Some(arp) = node.child("arpmon") {
        cx.check(arp, &[], &["interval", "target", "validate"])?;
        let interval = monitor_int(
            cx,
            arp,
            "interval",
            true,
            "bond interface arpmon interval missing or invalid",
        )?;
        let target = arp
            .attr("target")
            .ok_or_else(|| iface_error(cx, "bond interface arpmon target missing"))?;
        let validate = match arp.attr("validate") {
            None => None,
            Some(v @ ("active" | "backup" | "all")) => Some(v.to_string()),
            Some(other) => {
                return Err(iface_error(
                    cx,
                    format!("unknown arp bonding validate {other}"),
                ))
            }
        };
        Some(BondMonitor::Arp {
            interval,
            target: target.to_string(),
            validate,
        })
    } else {
        None
    };
    Ok(HostInterfaceKind::Bond {
        mode,
        monitor,
        members,
    })
}

fn format_interface(w: &mut XmlWriter, def: &HostInterfaceDef, parent: Parent) {
    w.open(
        "interface",
        Attrs::new()
            .with("type", def.kind.type_name())
            .with("name", &def.name),
    );
    if parent == Parent::Top {
        if let Some(mode) = &def.start_mode {
            w.empty("start", Attrs::new().with("mode", mode));
        }
        if let Some(mtu) = def.mtu.filter(|mtu| *mtu != 0) {
            w.empty("mtu", Attrs::new().with("size", mtu));
        }
        for proto in &def.protocols {
            format_protocol(w, proto);
        }
    }
    let is_bridge = matches!(def.kind, HostInterfaceKind::Bridge { .. });
    let speed = def.link_speed.filter(|speed| *speed != 0);
    if !is_bridge && (speed.is_some() || def.link_state.is_some()) {
        w.empty(
            "link",
            Attrs::new()
                .opt("speed", speed)
                .opt("state", def.link_state.as_deref()),
        );
    }
    match &def.kind {
        HostInterfaceKind::Ethernet => {
            if let Some(mac) = &def.mac {
                w.empty("mac", Attrs::new().with("address", mac));
            }
        }
        HostInterfaceKind::Bridge {
            stp,
            delay,
            members,
        } => {
            w.open(
                "bridge",
                Attrs::new()
                    .opt("stp", stp.map(|on| if on { "on" } else { "off" }))
                    .opt("delay", delay.as_deref()),
            );
            for member in members {
                format_interface(w, member, Parent::Bridge);
            }
            w.close("bridge");
        }
        HostInterfaceKind::Bond {
            mode,
            monitor,
            members,
        } => {
            w.open("bond", Attrs::new().opt("mode", mode.as_deref()));
            match monitor {
                Some(BondMonitor::Mii {
                    freq,
                    downdelay,
                    updelay,
                    carrier,
                }) => w.empty(
                    "miimon",
                    Attrs::new()
                        .with("freq", freq)
                        .opt("downdelay", Some(downdelay).filter(|d| **d > 0))
                        .opt("updelay", Some(updelay).filter(|u| **u > 0))
                        .opt("carrier", carrier.as_deref()),
                ),
                Some(BondMonitor::Arp {
                    interval,
                    target,
                    validate,
                }) => w.empty(
                    "arpmon",
                    Attrs::new()
                        .with("interval", interval)
                        .with("target", target)
                        .opt("validate", validate.as_deref()),
                ),
                None => {}
            }
            for member in members {
                format_interface(w, member, Parent::Bond);
            }
            w.close("bond");
        }
        HostInterfaceKind::Vlan { tag, device } => {
            w.open("vlan", Attrs::new().with("tag", tag));
            w.empty("interface", Attrs::new().with("name", device));
            w.close("vlan");
        }
    }
    w.close("interface");
}

fn format_protocol(w: &mut XmlWriter, proto: &IfaceProtocol) {
    w.open("protocol", Attrs::new().with("family", &proto.family));
    if proto.autoconf {
        w.empty("autoconf", Attrs::new());
    }
    if let Some(peerdns) = proto.dhcp {
        w.empty(
            "dhcp",
            Attrs::new().opt("peerdns", peerdns.map(|yes| if yes { "yes" } else { "no" })),
        );
    }
    for (address, prefix) in &proto.ips {
        w.empty(
            "ip",
            Attrs::new()
                .with("address", address)
                .opt("prefix", Some(prefix).filter(|p| **p != 0)),
        );
    }
    if let Some(gateway) = &proto.gateway {
        w.empty("route", Attrs::new().with("gateway", gateway));
    }
    w.close("protocol");
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETH1: &str = "<interface type='ethernet' name='eth1'>\n  <start mode='onboot'/>\n  <mtu size='1492'/>\n  <protocol family='ipv4'>\n    <ip address='192.168.0.5' prefix='24'/>\n    <route gateway='192.168.0.1'/>\n  </protocol>\n  <mac address='aa:bb:cc:dd:ee:ff'/>\n</interface>\n";

    #[test]
    fn libvirts_default_interface_formats_as_libvirt_does() {
        // libvirt's test driver writes <mac> before <mtu>; the formatter puts it last.
        let input = "<interface type=\"ethernet\" name=\"eth1\"><start mode=\"onboot\"/><mac address=\"aa:bb:cc:dd:ee:ff\"/><mtu size=\"1492\"/><protocol family=\"ipv4\"><ip address=\"192.168.0.5\" prefix=\"24\"/><route gateway=\"192.168.0.1\"/></protocol></interface>";
        let def = HostInterfaceDef::from_xml(input, false).unwrap();
        assert_eq!(def.to_xml(), ETH1);
        assert_eq!(HostInterfaceDef::from_xml(ETH1, true).unwrap(), def);
    }

    #[test]
    fn bridges_bonds_and_vlans_round_trip_through_golden_files() {
        for name in ["bridge", "bond", "vlan", "ethernet-ipv6"] {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/interface/");
            let input = std::fs::read_to_string(format!("{dir}{name}.in.xml")).unwrap();
            let want = std::fs::read_to_string(format!("{dir}{name}.out.xml")).unwrap();
            let def = HostInterfaceDef::from_xml(&input, false).unwrap();
            assert_eq!(def.to_xml(), want, "{name}");
            assert_eq!(
                HostInterfaceDef::from_xml(&want, true).unwrap(),
                def,
                "{name}"
            );
        }
    }

    #[test]
    fn bad_definitions_get_libvirts_messages() {
        let cases = [
            ("<iface/>", "XML error: expecting root element of 'interface', not 'iface'"),
            ("<interface name='x'/>", "XML error: Missing required attribute 'type' in element 'interface'"),
            ("<interface type='foo' name='x'/>", "XML error: Invalid value for attribute 'type' in element 'interface': 'foo'."),
            ("<interface type='ethernet'/>", "XML error: interface has no name"),
            ("<interface type='ethernet' name='x'><start mode='x'/></interface>", "XML error: unknown interface startmode x"),
            ("<interface type='ethernet' name='x'><mtu size='100001'/></interface>", "XML error: value of the 'size' attribute of 'mtu' element must be at most 100000"),
            ("<interface type='ethernet' name='x'><protocol/></interface>", "XML error: protocol misses the family attribute"),
            ("<interface type='ethernet' name='x'><protocol family='ipx'/></interface>", "XML error: unsupported protocol family 'ipx'"),
            ("<interface type='bridge' name='x'/>", "XML error: bridge interface misses the bridge element"),
            ("<interface type='vlan' name='x'><vlan/></interface>", "XML error: vlan interface misses the tag attribute"),
            ("<interface type='vlan' name='x'><vlan tag='4'/></interface>", "XML error: vlan interface misses name attribute"),
            ("<interface type='ethernet' name='x'><link state='bogus'/></interface>", "XML error: Invalid value for attribute 'state' in element 'link': 'bogus'."),
            ("<interface type='ethernet' name='x'><protocol family='ipv4'><ip address='1.2.3.4' prefix='x'/></protocol></interface>", "XML error: Invalid value for attribute 'prefix' in element 'ip': 'x'. Expected integer value"),
            ("<interface type='bond' name='b'><bond><interface type='bridge' name='x'/></bond></interface>", "XML error: interface has unsupported type 'bridge'"),
            ("<interface type='bond' name='b'><bond><miimon/></bond></interface>", "XML error: bond interface miimon freq missing or invalid"),
            ("<interface type='bond' name='b'><bond mode='fast'/></interface>", "XML error: unknown bonding mode fast"),
        ];
        for (xml, want) in cases {
            let err = HostInterfaceDef::from_xml(xml, false).unwrap_err();
            assert_eq!(err.message, want, "{xml}");
            assert_eq!(err.code, ErrorCode::XML_ERROR, "{xml}");
        }
        let err = HostInterfaceDef::from_xml("<interface", false).unwrap_err();
        assert_eq!(err.code, ErrorCode::XML_DETAIL);
        assert_eq!(err.domain, ErrorDomain::INTERFACE);
        assert!(
            err.message.starts_with("(interface_definition):1: "),
            "{}",
            err.message
        );
    }

    #[test]
    fn validation_refuses_what_the_schema_does_not_know() {
        let xml = "<interface type='ethernet' name='x'><bogus/></interface>";
        assert!(HostInterfaceDef::from_xml(xml, false).is_ok());
        let err = HostInterfaceDef::from_xml(xml, true).unwrap_err();
        assert_eq!(err.code, ErrorCode::XML_INVALID_SCHEMA);
    }
}
