//! The parts of a `<network>` beyond its name, forward mode, bridge and addresses: `<dns>`, `<domain>`, `<mtu>`,
//! DHCP lease times, `<dnsmasq:options>`, and the elements kept whole as written (`<metadata>`, `<portgroup>`,
//! `<bandwidth>`, `<vlan>`, `<virtualport>`, `<route>`, `<port>`, `<forward>`'s children). Parsed with libvirt's
//! checks and messages (`network_conf.c`), formatted in libvirt's order by `network.rs`.

use crate::error::{Error, ErrorCode, Result};
use crate::model::xml::{is_xml_space, Attrs, Ctx, Node, XmlWriter};
use std::net::IpAddr;

/// libvirt's namespace for `<dnsmasq:options>`.
pub const DNSMASQ_NS: &str = "http://libvirt.org/schemas/network/dnsmasq/1.0";

/// `<dns>`: whether dnsmasq answers DNS at all, its forwarders and the records it serves.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DnsDef {
    pub enable: Option<bool>,
    pub forward_plain_names: Option<bool>,
    pub forwarders: Vec<DnsForwarder>,
    pub txts: Vec<DnsTxt>,
    pub srvs: Vec<DnsSrv>,
    pub hosts: Vec<DnsHost>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DnsForwarder {
    pub addr: Option<String>,
    pub domain: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DnsTxt {
    pub name: String,
    pub value: String,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DnsSrv {
    pub service: String,
    pub protocol: String,
    pub domain: Option<String>,
    pub target: Option<String>,
    pub port: Option<u32>,
    pub priority: Option<u32>,
    pub weight: Option<u32>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DnsHost {
    pub ip: String,
    pub hostnames: Vec<String>,
}

/// `<domain name='..' localOnly='..'/>`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DomainName {
    pub name: String,
    pub local_only: Option<bool>,
}

/// `<lease expiry='..' unit='..'/>` of a DHCP range or host; expiry 0 is "never".
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Lease {
    pub expiry: u64,
    pub unit: String,
}

impl Lease {
    /// dnsmasq's lease time: `infinite`, or the number and the unit's first letter (`s`, `m`, `h`).
    pub fn dnsmasq(&self) -> String {
        if self.expiry == 0 {
            "infinite".to_string()
        } else {
            format!("{}{}", self.expiry, &self.unit[..1])
        }
    }

    pub fn write(&self, w: &mut XmlWriter) {
        if self.expiry == 0 {
            w.empty("lease", Attrs::new().with("expiry", 0));
        } else {
            w.empty(
                "lease",
                Attrs::new()
                    .with("expiry", self.expiry)
                    .with("unit", &self.unit),
            );
        }
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

/// A fault in `<dns>`: with validation it is the schema's (libxml2 names the element holding `<dns>`), without it
/// libvirt's parser words it.
fn detail(cx: &Ctx, text: String) -> Error {
    if cx.validate {
        return cx.schema_error("Element network has extra content: dns".to_string());
    }
    Error::with_detail(ErrorCode::XML_DETAIL, cx.domain, text)
}

/// `<lease>` inside a `<range>` or `<host>` (`virNetworkDHCPLeaseTimeDefParseXML`).
pub fn parse_lease(cx: &Ctx, parent: &Node) -> Result<Option<Lease>> {
    let Some(node) = parent.child("lease") else {
        return Ok(None);
    };
    cx.check(node, &[], &["expiry", "unit"])?;
    let expiry = cx
        .u64_attr(node, "expiry")?
        .ok_or_else(|| cx.missing_attr("lease", "expiry"))?;
    let unit = cx
        .enum_attr(node, "unit", &["seconds", "minutes", "hours"])?
        .unwrap_or_else(|| "minutes".to_string());
    Ok(Some(Lease { expiry, unit }))
}

impl DnsDef {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Parses `<dns>` as `virNetworkDNSDefParseXML` does.
    pub fn parse(cx: &Ctx, node: &Node, network: &str) -> Result<Self> {
        cx.check(
            node,
            &["forwarder", "txt", "srv", "host"],
            &["enable", "forwardPlainNames"],
        )?;
        let mut dns = Self {
            enable: cx.bool_attr(node, "enable", ("yes", "no"))?,
            forward_plain_names: cx.bool_attr(node, "forwardPlainNames", ("yes", "no"))?,
            ..Self::default()
        };
        for fwd in node.children_named("forwarder") {
            cx.check(fwd, &[], &["addr", "domain"])?;
            let addr = fwd.attr("addr");
            if let Some(addr) = addr.filter(|a| a.parse::<IpAddr>().is_err()) {
                return Err(cx.xml_error(format!(
                    "Invalid forwarder IP address '{addr}' in network '{network}'"
                )));
            }
            let domain = fwd.attr("domain");
            if addr.is_none() && domain.is_none() {
                if cx.validate {
                    return Err(detail(cx, String::new()));
                }
                return Err(cx.xml_error(
                    "Invalid forwarder element, must contain at least one of addr or domain",
                ));
            }
            dns.forwarders.push(DnsForwarder {
                addr: addr.map(str::to_string),
                domain: domain.map(str::to_string),
            });
        }
        for host in node.children_named("host") {
            cx.check(host, &["hostname"], &["ip"])?;
            let mut hostnames = Vec::new();
            for name in host.children_named("hostname") {
                cx.check(name, &[], &[])?;
                if name.text.is_empty() {
                    return Err(detail(
                        cx,
                        format!("Missing hostname in network '{network}' DNS HOST record"),
                    ));
                }
                hostnames.push(name.text.clone());
            }
            if hostnames.is_empty() {
                return Err(detail(
                    cx,
                    format!("Missing hostname in network '{network}' DNS HOST record"),
                ));
            }
            let ip = match host.attr("ip") {
                Some(ip) if ip.parse::<IpAddr>().is_ok() => ip.to_string(),
                Some(_) => {
                    return Err(detail(
                        cx,
                        format!("Invalid IP address in network '{network}' DNS HOST record"),
                    ))
                }
                None => {
                    return Err(detail(
                        cx,
                        format!("Missing IP address in network '{network}' DNS HOST record"),
                    ))
                }
            };
            dns.hosts.push(DnsHost { ip, hostnames });
        }
        for srv in node.children_named("srv") {
            dns.srvs.push(parse_srv(cx, srv, network)?);
        }
        for txt in node.children_named("txt") {
            cx.check(txt, &[], &["name", "value"])?;
            let name = txt.attr("name").ok_or_else(|| {
                detail(
                    cx,
                    format!(
                        "missing required name attribute in DNS TXT record of network {network}"
                    ),
                )
            })?;
            if name.contains([' ', ',']) {
                return Err(detail(
                    cx,
                    format!(
                        "prohibited character in DNS TXT record name '{name}' of network {network}"
                    ),
                ));
            }
            let value = txt.attr("value").ok_or_else(|| {
                detail(
                    cx,
                    format!(
                        "missing required value attribute in DNS TXT record named '{name}' of network {network}"
                    ),
                )
            })?;
            dns.txts.push(DnsTxt {
                name: name.to_string(),
                value: value.to_string(),
            });
        }
        let records = dns.forwarders.len() + dns.hosts.len() + dns.srvs.len() + dns.txts.len();
        if dns.enable == Some(false) && records > 0 {
            return Err(cx.xml_error(format!("Extra data in disabled network '{network}'")));
        }
        Ok(dns)
    }

    /// Formats `<dns>` in libvirt's layout (`virNetworkDNSDefFormat`); nothing when empty.
    pub fn write(&self, w: &mut XmlWriter) {
        if self.is_empty() {
            return;
        }
        let attrs = Attrs::new()
            .opt("enable", self.enable.map(yes_no))
            .opt("forwardPlainNames", self.forward_plain_names.map(yes_no));
        let records = self.forwarders.len() + self.hosts.len() + self.srvs.len() + self.txts.len();
        if records == 0 {
            w.empty("dns", attrs);
            return;
        }
        w.open("dns", attrs);
        for fwd in &self.forwarders {
            w.empty(
                "forwarder",
                Attrs::new()
                    .opt("domain", fwd.domain.as_deref())
                    .opt("addr", fwd.addr.as_deref()),
            );
        }
        for txt in &self.txts {
            w.empty(
                "txt",
                Attrs::new()
                    .with("name", &txt.name)
                    .with("value", &txt.value),
            );
        }
        for srv in &self.srvs {
            w.empty(
                "srv",
                Attrs::new()
                    .with("service", &srv.service)
                    .with("protocol", &srv.protocol)
                    .opt("domain", srv.domain.as_deref())
                    .opt("target", srv.target.as_deref())
                    .opt("port", srv.port)
                    .opt("priority", srv.priority)
                    .opt("weight", srv.weight),
            );
        }
        for host in &self.hosts {
            w.open("host", Attrs::new().with("ip", &host.ip));
            for name in &host.hostnames {
                w.text("hostname", Attrs::new(), name);
            }
            w.close("host");
        }
        w.close("dns");
    }
}

const SERVICE_CHARS: &str = "_-+/*";
const PROTOCOL_CHARS: &str = "-+/";
/// libvirt's limit on an SRV service name (`DNS_RECORD_LENGTH_SRV`).
const SRV_SERVICE_MAX: usize = 512 - 30;

fn parse_srv(cx: &Ctx, node: &Node, network: &str) -> Result<DnsSrv> {
    cx.check(
        node,
        &[],
        &[
            "service", "protocol", "domain", "target", "port", "priority", "weight",
        ],
    )?;
    let service = node.attr("service").ok_or_else(|| {
        detail(
            cx,
            format!("missing required service attribute in DNS SRV record of network '{network}'"),
        )
    })?;
    if service.len() > SRV_SERVICE_MAX {
        return Err(detail(
            cx,
            format!(
                "service attribute '{service}' in network '{network}' is too long, limit is {SRV_SERVICE_MAX} bytes"
            ),
        ));
    }
    if !service
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || SERVICE_CHARS.contains(c))
    {
        return Err(detail(
            cx,
            format!(
                "invalid character in service attribute '{service}' in DNS SRV record of network '{network}'"
            ),
        ));
    }
    let protocol = node.attr("protocol").ok_or_else(|| {
        detail(
            cx,
            format!(
                "missing required protocol attribute in DNS SRV record '{service}' of network '{network}'"
            ),
        )
    })?;
    if !protocol
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || PROTOCOL_CHARS.contains(c))
    {
        return Err(detail(
            cx,
            format!(
                "invalid character in protocol attribute '{protocol}' in DNS SRV record of network '{network}'"
            ),
        ));
    }
    let target = node.attr("target").map(str::to_string);
    let number = |attr: &str, word: &str, min: u32| -> Result<Option<u32>> {
        let Some(text) = node.attr(attr) else {
            return Ok(None);
        };
        if target.is_none() {
            return Err(detail(
                cx,
                format!(
                    "DNS SRV {attr} attribute not permitted without target for service '{service}' in network '{network}'"
                ),
            ));
        }
        match crate::model::xml::parse_decimal::<u32>(text) {
            Some(value) if (min..=65535).contains(&value) => Ok(Some(value)),
            _ => Err(detail(
                cx,
                format!("{word} DNS SRV {attr} attribute for service '{service}' in network '{network}'"),
            )),
        }
    };
    Ok(DnsSrv {
        service: service.to_string(),
        protocol: protocol.to_string(),
        domain: node.attr("domain").map(str::to_string),
        port: number("port", "invalid", 1)?,
        priority: number("priority", "Invalid", 0)?,
        weight: number("weight", "invalid", 0)?,
        target,
    })
}

/// `<domain>` (`name` required, `localOnly` yes/no).
pub fn parse_domain(cx: &Ctx, node: &Node) -> Result<DomainName> {
    cx.check(node, &[], &["name", "localOnly"])?;
    let name = node
        .attr("name")
        .ok_or_else(|| cx.missing_attr("domain", "name"))?;
    Ok(DomainName {
        name: name.to_string(),
        local_only: cx.bool_attr(node, "localOnly", ("yes", "no"))?,
    })
}

pub fn write_domain(domain: &DomainName, w: &mut XmlWriter) {
    w.empty(
        "domain",
        Attrs::new()
            .with("name", &domain.name)
            .opt("localOnly", domain.local_only.map(yes_no)),
    );
}

/// `<mtu size='N'/>`.
pub fn parse_mtu(cx: &Ctx, node: &Node, network: &str) -> Result<u32> {
    cx.check(node, &[], &["size"])?;
    match cx.u32_attr(node, "size")? {
        Some(size) if size > 0 => Ok(size),
        _ => Err(cx.xml_error(format!("malformed mtu size in network '{network}'"))),
    }
}

/// The prefix the root declares for libvirt's dnsmasq namespace, if any.
pub fn dnsmasq_prefix(root: &Node) -> Option<&str> {
    root.attrs
        .iter()
        .find(|(key, value)| key.starts_with("xmlns:") && value == DNSMASQ_NS)
        .map(|(key, _)| &key["xmlns:".len()..])
}

/// The values of `<PREFIX:options><PREFIX:option value='..'/>...`.
pub fn parse_dnsmasq_options(cx: &Ctx, node: &Node, prefix: &str) -> Result<Vec<String>> {
    let option = format!("{prefix}:option");
    cx.check(node, &[option.as_str()], &[])?;
    let mut options = Vec::new();
    for child in node.children_named(&option) {
        cx.check(child, &[], &["value"])?;
        let value = child
            .attr("value")
            .ok_or_else(|| cx.xml_error("No dnsmasq options value specified"))?;
        if value.contains('\n') {
            return Err(cx.xml_error("dnsmasq option values may not hold a newline"));
        }
        options.push(value.to_string());
    }
    Ok(options)
}

pub fn write_dnsmasq_options(options: &[String], w: &mut XmlWriter) {
    if options.is_empty() {
        return;
    }
    w.open("dnsmasq:options", Attrs::new());
    for value in options {
        w.empty("dnsmasq:option", Attrs::new().with("value", value));
    }
    w.close("dnsmasq:options");
}

/// Elements of the schema this model keeps whole, as written (libvirt formats them with `'` quotes too).
pub fn write_kept(nodes: &[Node], w: &mut XmlWriter) {
    for node in nodes {
        w.node(node, '\'');
    }
}

/// A kept element without the white space that only indented it.
pub fn strip_blanks(node: &Node) -> Node {
    let mut node = node.clone();
    if !node.children.is_empty() || node.text.trim_matches(is_xml_space).is_empty() {
        node.text = node.text.trim_matches(is_xml_space).to_string();
    }
    node.children = node.children.iter().map(strip_blanks).collect();
    node
}
