//! Network definitions (`<network>` XML): model, parser, formatter.

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::mac;
use crate::model::names::validate_name;
use crate::model::network_parts::{
    dnsmasq_prefix, parse_dnsmasq_options, parse_domain, parse_lease, parse_mtu, strip_blanks,
    write_dnsmasq_options, write_domain, write_kept, DnsDef, DomainName, Lease, DNSMASQ_NS,
};
use crate::model::xml::{parse_document, Attrs, Ctx, Node, XmlWriter};
use std::net::{IpAddr, Ipv4Addr};
use uuid::Uuid;

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NetworkDef {
    pub name: String,
    pub uuid: Uuid,
    /// `<forward mode=...>`: "nat", "route", "bridge", ...; `None` is an isolated network.
    pub forward_mode: Option<String>,
    pub forward_dev: Option<String>,
    /// `<bridge name=...>`.
    pub bridge: Option<String>,
    pub bridge_stp: Option<bool>,
    pub bridge_delay: Option<u32>,
    pub mac: Option<String>,
    pub ips: Vec<IpDef>,
    /// `<network ipv6='yes'>`: guests may talk IPv6 to each other though the network has no IPv6 address.
    pub ipv6: Option<bool>,
    pub trust_guest_rx_filters: Option<bool>,
    /// `<metadata>`, kept whole.
    pub metadata: Option<Node>,
    /// `<forward managed=..>` and the children of `<forward>` (`<nat>`, `<interface>`, `<pf>`, `<address>`,
    /// `<driver>`), kept whole.
    pub forward_managed: Option<bool>,
    pub forward_children: Vec<Node>,
    /// `<bridge zone=.. macTableManager=..>`.
    pub bridge_zone: Option<String>,
    pub mac_table_manager: Option<String>,
    pub mtu: Option<u32>,
    pub domain: Option<DomainName>,
    pub dns: DnsDef,
    /// `<vlan>`, `<bandwidth>`, `<port>`, `<route>`s, `<virtualport>` and `<portgroup>`s, kept whole.
    pub vlan: Option<Node>,
    pub bandwidth: Option<Node>,
    pub port: Option<Node>,
    pub routes: Vec<Node>,
    pub virtualport: Option<Node>,
    pub portgroups: Vec<Node>,
    /// `<dnsmasq:options>`: lines added to dnsmasq's configuration as given.
    pub dnsmasq_options: Vec<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct IpDef {
    pub family: Option<String>,
    pub address: String,
    pub netmask: Option<String>,
    pub prefix: Option<u32>,
    /// `<dhcp><range start end/>`.
    pub dhcp_ranges: Vec<(String, String)>,
    /// `<dhcp><host mac name ip/>`: static leases.
    pub dhcp_hosts: Vec<DhcpHost>,
    /// The `<lease>` of each range, by the range's index (shorter when the last ranges have none).
    pub range_leases: Vec<Option<Lease>>,
    /// `<ip localPtr='yes'>`: dnsmasq answers reverse lookups of the subnet itself.
    pub local_ptr: Option<bool>,
    /// `<tftp root=..>`.
    pub tftp_root: Option<String>,
    /// `<dhcp><bootp file=.. server=..>`.
    pub bootp_file: Option<String>,
    pub bootp_server: Option<String>,
}

/// A static DHCP host (`<host mac='..' name='..' ip='..'/>` inside `<dhcp>`).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DhcpHost {
    pub mac: Option<String>,
    /// The DHCPv6 client's DUID.
    pub id: Option<String>,
    pub name: Option<String>,
    pub ip: Option<String>,
    pub lease: Option<Lease>,
}

impl DhcpHost {
    /// Parses one `<host>` element as `virsh net-update ... ip-dhcp-host` sends it.
    pub fn from_xml(xml: &str, network: &str) -> Result<Self> {
        let cx = Ctx::new(ErrorDomain::NETWORK, SCHEMA, false);
        let root = parse_document(xml, cx.domain, cx.document_name())?;
        if root.name != "host" {
            return Err(cx.xml_error(format!(
                "unexpected element <{}>, expecting <host>, while updating network '{network}'",
                root.name
            )));
        }
        parse_host(&cx, &root, network, None)
    }

    fn to_attrs(&self) -> Attrs {
        Attrs::new()
            .opt("mac", self.mac.as_deref())
            .opt("id", self.id.as_deref())
            .opt("name", self.name.as_deref())
            .opt("ip", self.ip.as_deref())
    }
}

const SCHEMA: &str = "network.rng";

/// libvirt's forward modes; a `<forward>` without a mode is NAT.
const FORWARD_MODES: &[&str] = &[
    "nat",
    "route",
    "open",
    "bridge",
    "private",
    "vepa",
    "passthrough",
    "hostdev",
];

impl NetworkDef {
    /// Parses network XML; unknown content is dropped, or refused with `validate`. A missing UUID is generated.
    pub fn from_xml(xml: &str, validate: bool) -> Result<Self> {
        let cx = Ctx::new(ErrorDomain::NETWORK, SCHEMA, validate);
        let root = parse_document(xml, cx.domain, cx.document_name())?;
        cx.expect_root(&root, "network")?;
        let ns_prefix = dnsmasq_prefix(&root).map(str::to_string);
        let options_name = ns_prefix.as_deref().map(|p| format!("{p}:options"));
        let mut allowed = vec![
            "name",
            "uuid",
            "metadata",
            "forward",
            "bridge",
            "mtu",
            "mac",
            "domain",
            "dns",
            "vlan",
            "bandwidth",
            "port",
            "ip",
            "route",
            "virtualport",
            "portgroup",
        ];
        allowed.extend(options_name.as_deref());
        cx.check(
            &root,
            &allowed,
            &["connections", "ipv6", "trustGuestRxFilters"],
        )?;
        for leaf in ["name", "uuid"] {
            for node in root.children_named(leaf) {
                cx.check(node, &[], &[])?;
            }
        }
        let name = match root.child_text("name") {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => {
                return Err(Error::new(
                    ErrorCode::NO_NAME,
                    ErrorDomain::NETWORK,
                    "missing name information",
                ))
            }
        };
        validate_name("network", &name)?;
        let uuid = cx.uuid(&root)?;
        let mut def = Self {
            name,
            uuid,
            ..Self::default()
        };
        def.ipv6 = cx.bool_attr(&root, "ipv6", ("yes", "no"))?;
        def.trust_guest_rx_filters = cx.bool_attr(&root, "trustGuestRxFilters", ("yes", "no"))?;
        def.metadata = root.child("metadata").map(strip_blanks);
        if let Some(forward) = root.child("forward") {
            cx.check(
                forward,
                &["nat", "interface", "pf", "address", "driver"],
                &["mode", "dev", "managed"],
            )?;
            def.forward_managed = cx.bool_attr(forward, "managed", ("yes", "no"))?;
            // libvirt folds an `<interface>` naming the `dev` itself into `dev`.
            def.forward_children = forward
                .children
                .iter()
                .filter(|c| {
                    !(c.name == "interface"
                        && forward.attr("dev").is_some()
                        && c.attr("dev") == forward.attr("dev"))
                })
                .map(strip_blanks)
                .collect();
            if forward.child("nat").is_some() && !matches!(forward.attr("mode"), None | Some("nat"))
            {
                return Err(cx.xml_error(format!(
                    "The <nat> element can only be used when <forward> 'mode' is 'nat' in network {}",
                    def.name
                )));
            }
            let mode = forward.attr("mode").unwrap_or("nat");
            if !FORWARD_MODES.contains(&mode) {
                return Err(Error::with_detail(
                    ErrorCode::CONFIG_UNSUPPORTED,
                    cx.domain,
                    format!("unknown forwarding type '{mode}'"),
                ));
            }
            def.forward_mode = Some(mode.to_string());
            def.forward_dev = forward.attr("dev").map(str::to_string);
        }
        if let Some(bridge) = root.child("bridge") {
            cx.check(
                bridge,
                &[],
                &["name", "zone", "stp", "delay", "macTableManager"],
            )?;
            def.bridge = bridge.attr("name").map(str::to_string);
            def.bridge_zone = bridge.attr("zone").map(str::to_string);
            def.mac_table_manager =
                cx.enum_attr(bridge, "macTableManager", &["kernel", "libvirt"])?;
            def.bridge_stp = cx.bool_attr(bridge, "stp", ("on", "off"))?;
            def.bridge_delay = cx.u32_attr(bridge, "delay").map_err(|_| {
                cx.xml_error(format!("Invalid delay value in network '{}'", def.name))
            })?;
        }
        if let Some(mac_node) = root.child("mac") {
            cx.check(mac_node, &[], &["address"])?;
            let text = mac_node
                .attr("address")
                .ok_or_else(|| cx.missing_attr("mac", "address"))?;
            let octets = mac::parse_mac(text).ok_or_else(|| {
                cx.xml_error(format!(
                    "Invalid bridge mac address '{text}' in network '{}'",
                    def.name
                ))
            })?;
            if mac::is_multicast(&octets) {
                return Err(cx.xml_error(format!(
                    "Invalid multicast bridge mac address '{text}' in network '{}'",
                    def.name
                )));
            }
            def.mac = Some(mac::format_mac(&octets));
        }
        for ip in root.children_named("ip") {
            def.ips.push(parse_ip(&cx, ip, &def.name)?);
        }
        if let Some(node) = root.child("mtu") {
            def.mtu = Some(parse_mtu(&cx, node, &def.name)?);
        }
        if let Some(node) = root.child("domain") {
            def.domain = Some(parse_domain(&cx, node)?);
        }
        if let Some(node) = root.child("dns") {
            def.dns = DnsDef::parse(&cx, node, &def.name)?;
        }
        if let (Some(prefix), Some(name)) = (ns_prefix.as_deref(), options_name.as_deref()) {
            for node in root.children_named(name) {
                def.dnsmasq_options
                    .extend(parse_dnsmasq_options(&cx, node, prefix)?);
            }
        }
        def.vlan = root.child("vlan").map(strip_blanks);
        def.bandwidth = root.child("bandwidth").map(strip_blanks);
        def.port = root.child("port").map(strip_blanks);
        def.routes = root.children_named("route").map(strip_blanks).collect();
        def.virtualport = root.child("virtualport").map(strip_blanks);
        def.portgroups = root.children_named("portgroup").map(strip_blanks).collect();
        for group in &def.portgroups {
            if group.attr("name").is_none() {
                return Err(cx.xml_error("Missing required name attribute in portgroup"));
            }
        }
        Ok(def)
    }

    /// Formats the definition in libvirt's layout; stable.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        let yes_no = |v: bool| if v { "yes" } else { "no" };
        w.open(
            "network",
            Attrs::new()
                .opt(
                    "xmlns:dnsmasq",
                    (!self.dnsmasq_options.is_empty()).then_some(DNSMASQ_NS),
                )
                .opt("ipv6", self.ipv6.filter(|v| *v).map(yes_no))
                .opt(
                    "trustGuestRxFilters",
                    self.trust_guest_rx_filters.map(yes_no),
                ),
        );
        w.text("name", Attrs::new(), &self.name);
        w.text("uuid", Attrs::new(), &self.uuid.hyphenated().to_string());
        if let Some(metadata) = &self.metadata {
            w.node(metadata, '"');
        }
        if self.forward_mode.is_some() {
            let attrs = Attrs::new()
                .opt("dev", self.forward_dev.as_deref())
                .opt("mode", self.forward_mode.as_deref())
                .opt("managed", self.forward_managed.map(yes_no));
            if self.forward_children.is_empty() {
                w.empty("forward", attrs);
            } else {
                w.open("forward", attrs);
                write_kept(&self.forward_children, &mut w);
                w.close("forward");
            }
        }
        let bridge = Attrs::new()
            .opt("name", self.bridge.as_deref())
            .opt("zone", self.bridge_zone.as_deref())
            .opt(
                "stp",
                self.bridge_stp.map(|on| if on { "on" } else { "off" }),
            )
            .opt("delay", self.bridge_delay)
            .opt("macTableManager", self.mac_table_manager.as_deref());
        if !bridge.is_empty() {
            w.empty("bridge", bridge);
        }
        if let Some(mtu) = self.mtu {
            w.empty("mtu", Attrs::new().with("size", mtu));
        }
        if let Some(mac) = &self.mac {
            w.empty("mac", Attrs::new().with("address", mac));
        }
        if let Some(domain) = &self.domain {
            write_domain(domain, &mut w);
        }
        self.dns.write(&mut w);
        for kept in [&self.vlan, &self.bandwidth, &self.port]
            .into_iter()
            .flatten()
        {
            w.node(kept, '\'');
        }
        for ip in &self.ips {
            // libvirt always writes <ip> open and closed, even when nothing is inside.
            w.open(
                "ip",
                Attrs::new()
                    .opt("family", ip.family.as_deref())
                    .with("address", &ip.address)
                    .opt("netmask", ip.netmask.as_deref())
                    .opt("prefix", ip.prefix)
                    .opt("localPtr", ip.local_ptr.map(yes_no)),
            );
            if let Some(root) = &ip.tftp_root {
                w.empty("tftp", Attrs::new().with("root", root));
            }
            if !ip.dhcp_ranges.is_empty() || !ip.dhcp_hosts.is_empty() {
                w.open("dhcp", Attrs::new());
                for (index, (start, end)) in ip.dhcp_ranges.iter().enumerate() {
                    let attrs = Attrs::new().with("start", start).with("end", end);
                    match ip.range_leases.get(index).and_then(Option::as_ref) {
                        Some(lease) => {
                            w.open("range", attrs);
                            lease.write(&mut w);
                            w.close("range");
                        }
                        None => w.empty("range", attrs),
                    }
                }
                for host in &ip.dhcp_hosts {
                    match &host.lease {
                        Some(lease) => {
                            w.open("host", host.to_attrs());
                            lease.write(&mut w);
                            w.close("host");
                        }
                        None => w.empty("host", host.to_attrs()),
                    }
                }
                if let Some(file) = &ip.bootp_file {
                    w.empty(
                        "bootp",
                        Attrs::new()
                            .with("file", file)
                            .opt("server", ip.bootp_server.as_deref()),
                    );
                }
                w.close("dhcp");
            }
            w.close("ip");
        }
        write_kept(&self.routes, &mut w);
        if let Some(virtualport) = &self.virtualport {
            w.node(virtualport, '\'');
        }
        write_kept(&self.portgroups, &mut w);
        write_dnsmasq_options(&self.dnsmasq_options, &mut w);
        w.close("network");
        w.finish()
    }
}

fn parse_ip(cx: &Ctx, node: &Node, network: &str) -> Result<IpDef> {
    cx.check(
        node,
        &["dhcp", "tftp"],
        &["family", "address", "netmask", "prefix", "localPtr"],
    )?;
    let family = cx.enum_attr(node, "family", &["ipv4", "ipv6"])?;
    let address = node.attr("address").ok_or_else(|| {
        cx.xml_error(format!(
            "Missing required address attribute in network '{network}'"
        ))
    })?;
    let parsed: IpAddr = address.parse().map_err(|_| {
        cx.xml_error(format!(
            "Invalid address '{address}' in network '{network}'"
        ))
    })?;
    let is_v6 = parsed.is_ipv6();
    if family.as_deref() == Some(if is_v6 { "ipv4" } else { "ipv6" }) {
        return Err(cx.xml_error(format!(
            "family '{}' does not match address '{address}' in network '{network}'",
            family.as_deref().unwrap_or_default()
        )));
    }
    let netmask = match node.attr("netmask") {
        None => None,
        Some(mask) => {
            let valid = mask.parse::<Ipv4Addr>().is_ok_and(|mask| {
                let bits = u32::from(mask);
                bits.leading_ones() + bits.trailing_zeros() == 32
            });
            if !valid || is_v6 {
                return Err(
                    cx.xml_error(format!("Invalid netmask '{mask}' in network '{network}'"))
                );
            }
            Some(mask.to_string())
        }
    };
    let prefix = cx.u32_attr(node, "prefix")?;
    let (limit, family_word) = if is_v6 { (128, "IPv6") } else { (32, "IPv4") };
    if let Some(prefix) = prefix.filter(|prefix| *prefix > limit) {
        return Err(Error::with_detail(
            ErrorCode::CONFIG_UNSUPPORTED,
            cx.domain,
            format!("Invalid {family_word} prefix '{prefix}' in network '{network}'"),
        ));
    }
    if netmask.is_some() && prefix.is_some() {
        return Err(cx.xml_error(format!(
            "Network '{network}' IP address cannot have both a prefix and a netmask"
        )));
    }
    let local_ptr = cx.bool_attr(node, "localPtr", ("yes", "no"))?;
    let mut tftp_root = None;
    if let Some(tftp) = node.child("tftp") {
        cx.check(tftp, &[], &["root"])?;
        if is_v6 {
            return Err(Error::with_detail(
                ErrorCode::CONFIG_UNSUPPORTED,
                cx.domain,
                format!("Unsupported <tftp> element in an IPv6 element in network '{network}'"),
            ));
        }
        tftp_root = tftp.attr("root").map(str::to_string);
    }
    let mut dhcp_ranges = Vec::new();
    let mut range_leases = Vec::new();
    let mut dhcp_hosts = Vec::new();
    let (mut bootp_file, mut bootp_server) = (None, None);
    if let Some(dhcp) = node.child("dhcp") {
        cx.check(dhcp, &["range", "host", "bootp"], &[])?;
        if let Some(bootp) = dhcp.child("bootp").filter(|_| !is_v6) {
            cx.check(bootp, &[], &["file", "server"])?;
            let file = bootp
                .attr("file")
                .ok_or_else(|| cx.missing_attr("bootp", "file"))?;
            if let Some(server) = bootp.attr("server") {
                if server.parse::<IpAddr>().is_err() {
                    return Err(cx.xml_error(format!(
                        "Invalid bootp server address '{server}' in network '{network}'"
                    )));
                }
                bootp_server = Some(server.to_string());
            }
            bootp_file = Some(file.to_string());
        }
        for host in dhcp.children_named("host") {
            dhcp_hosts.push(parse_host(cx, host, network, Some(is_v6))?);
        }
        for range in dhcp.children_named("range") {
            cx.check(range, &["lease"], &["start", "end"])?;
            range_leases.push(parse_lease(cx, range)?);
            let bound = |attr: &str| -> Result<String> {
                let text = range.attr(attr).ok_or_else(|| {
                    cx.xml_error(format!(
                        "Missing '{attr}' attribute in dhcp range for network '{network}'"
                    ))
                })?;
                match text.parse::<IpAddr>() {
                    Ok(ip) if ip.is_ipv6() == is_v6 => Ok(text.to_string()),
                    _ => Err(cx.xml_error(format!(
                        "Invalid dhcp range '{attr}' address '{text}' in network '{network}'"
                    ))),
                }
            };
            dhcp_ranges.push((bound("start")?, bound("end")?));
        }
        while range_leases.last().is_some_and(Option::is_none) {
            range_leases.pop();
        }
    }
    Ok(IpDef {
        family,
        address: address.to_string(),
        netmask,
        prefix,
        dhcp_ranges,
        dhcp_hosts,
        range_leases,
        local_ptr,
        tftp_root,
        bootp_file,
        bootp_server,
    })
}

/// One `<host>` of `<dhcp>`, checked as libvirt checks it (`virNetworkDHCPHostDefParseXML`); `v6` is the
/// family of the enclosing `<ip>` when known.
fn parse_host(cx: &Ctx, node: &Node, network: &str, v6: Option<bool>) -> Result<DhcpHost> {
    cx.check(node, &["lease"], &["mac", "name", "ip", "id"])?;
    let mac = match node.attr("mac") {
        None => None,
        Some(text) => {
            let octets = mac::parse_mac(text).ok_or_else(|| {
                Error::internal(
                    cx.domain,
                    format!("Cannot parse MAC address '{text}' in network '{network}'"),
                )
            })?;
            if mac::is_multicast(&octets) {
                return Err(cx.xml_error(format!(
                    "expected unicast mac address, found multicast '{text}' in network '{network}'"
                )));
            }
            Some(mac::format_mac(&octets))
        }
    };
    let name = node.attr("name").map(str::to_string);
    if let Some(bad) = name.as_deref().filter(|n| !valid_hostname(n)) {
        return Err(Error::internal(
            cx.domain,
            format!("Invalid hostname '{bad}' in network '{network}'"),
        ));
    }
    let ip = match node.attr("ip") {
        None => None,
        Some(text) => match text.parse::<IpAddr>() {
            Ok(addr) if v6.is_none_or(|v6| v6 == addr.is_ipv6()) => Some(text.to_string()),
            _ => {
                return Err(Error::internal(
                    cx.domain,
                    format!("Invalid IP address in static host definition for network '{network}'"),
                ))
            }
        },
    };
    if mac.is_none() && name.is_none() {
        return Err(cx.xml_error(format!(
            "Static host definition in IPv4 network '{network}' must have mac or name attribute"
        )));
    }
    Ok(DhcpHost {
        mac,
        id: node.attr("id").map(str::to_string),
        name,
        ip,
        lease: parse_lease(cx, node)?,
    })
}

/// A host name dnsmasq takes: letters, digits, '-', '.', '_', not starting with '-' or '.'.
fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "<network>\n  <name>default</name>\n  <uuid>dd8fe884-6c02-601e-7551-cca97df1c5df</uuid>\n  \
        <forward mode='nat'/>\n  <bridge name='virbr0' stp='on' delay='0'/>\n  \
        <ip address='192.168.122.1' netmask='255.255.255.0'>\n    <dhcp>\n      \
        <range start='192.168.122.2' end='192.168.122.254'/>\n    </dhcp>\n  </ip>\n</network>\n";

    #[test]
    fn libvirts_default_network_round_trips_byte_for_byte() {
        let def = NetworkDef::from_xml(DEFAULT, true).unwrap();
        assert_eq!(def.forward_mode.as_deref(), Some("nat"));
        assert_eq!(def.bridge.as_deref(), Some("virbr0"));
        assert_eq!((def.bridge_stp, def.bridge_delay), (Some(true), Some(0)));
        assert_eq!(
            def.ips[0].dhcp_ranges,
            vec![("192.168.122.2".into(), "192.168.122.254".into())]
        );
        assert_eq!(def.to_xml(), DEFAULT);
    }

    #[test]
    fn defaults_and_normalisation() {
        let def = NetworkDef::from_xml(
            "<network><name>n</name><forward dev='eth0'/><mac address='52:54:00:AA:0:1'/>\
             <ip family='ipv6' address='fd00::1' prefix='64'/></network>",
            true,
        )
        .unwrap();
        assert_eq!(def.uuid.get_version_num(), 4);
        assert_eq!(def.forward_mode.as_deref(), Some("nat"));
        assert_eq!(def.mac.as_deref(), Some("52:54:00:aa:00:01"));
        let out = def.to_xml();
        assert!(out.contains("<forward dev='eth0' mode='nat'/>"), "{out}");
        assert!(
            out.contains("<ip family='ipv6' address='fd00::1' prefix='64'>\n  </ip>"),
            "{out}"
        );
        assert_eq!(NetworkDef::from_xml(&out, true).unwrap(), def);
    }

    #[test]
    fn libvirt_errors() {
        let cases: &[(&str, ErrorCode, &str)] = &[
            ("<network><bridge name='x'/></network>", ErrorCode::NO_NAME, "missing name information"),
            ("<net><name>a</name></net>", ErrorCode::XML_ERROR, "expecting root element of 'network', not 'net'"),
            ("<network><name>a/b</name></network>", ErrorCode::XML_ERROR, "must not contain '/'"),
            ("<network><name>a</name><uuid>zz</uuid></network>", ErrorCode::XML_ERROR, "malformed uuid element"),
            ("<network><name>a</name><mac address='zz'/></network>", ErrorCode::XML_ERROR, "Invalid bridge mac address 'zz' in network 'a'"),
            ("<network><name>a</name><mac address='01:00:00:00:00:00'/></network>", ErrorCode::XML_ERROR, "Invalid multicast bridge mac address"),
            ("<network><name>a</name><ip address='1.2.3.x' prefix='24'/></network>", ErrorCode::XML_ERROR, "Invalid address '1.2.3.x' in network 'a'"),
            ("<network><name>a</name><ip address='1.2.3.4' prefix='40'/></network>", ErrorCode::CONFIG_UNSUPPORTED, "Invalid IPv4 prefix '40' in network 'a'"),
            ("<network><name>a</name><ip address='1.2.3.4' netmask='255.0.255.0'/></network>", ErrorCode::XML_ERROR, "Invalid netmask"),
            ("<network><name>a</name><ip prefix='24'/></network>", ErrorCode::XML_ERROR, "Missing required address attribute in network 'a'"),
            ("<network><name>a</name><forward mode='zz'/></network>", ErrorCode::CONFIG_UNSUPPORTED, "unknown forwarding type 'zz'"),
            ("<network><name>a</name><bridge name='b' stp='maybe'/></network>", ErrorCode::XML_ERROR, "'stp' in element 'bridge'"),
            ("<network><name>a</name><bridge name='b' delay='x'/></network>", ErrorCode::XML_ERROR, "Invalid delay value in network 'a'"),
            ("<network><name>a</name><ip address='1.2.3.1' prefix='24'><dhcp><range start='1.2.3.4'/></dhcp></ip></network>", ErrorCode::XML_ERROR, "Missing 'end' attribute in dhcp range for network 'a'"),
            ("<network><name>a</name><ip address='1.2.3.1' prefix='24'><dhcp><range start='::1' end='1.2.3.9'/></dhcp></ip></network>", ErrorCode::XML_ERROR, "Invalid dhcp range 'start' address"),
        ];
        for (xml, code, text) in cases {
            let err = NetworkDef::from_xml(xml, false).expect_err(xml);
            assert_eq!(err.code, *code, "{xml}: {}", err.message);
            assert!(err.message.contains(text), "{xml}: {}", err.message);
        }
        let err = NetworkDef::from_xml("<network><name>a</name><bogus name='x'/></network>", true)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::XML_INVALID_SCHEMA);
        assert!(
            err.message.contains("extra content: bogus"),
            "{}",
            err.message
        );
        assert!(
            NetworkDef::from_xml("<network><name>a</name><bogus name='x'/></network>", false)
                .is_ok()
        );
    }
}
