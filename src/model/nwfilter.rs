//! Network filter definitions (`<filter>` XML of `virNWFilterDefineXML`) and filter bindings (`<filterbinding>`
//! of `virNWFilterBindingCreateXML`): model, parser and formatter with libvirt's error wording.
//!
//! A rule's protocol element (`<mac>`, `<ip>`, `<arp>`, `<tcp>`, ...) is kept as written: its attributes, values
//! and `$VARIABLE` references in document order, so a definition formats back with everything it said. As
//! libvirt does, content it does not model (unknown elements, attributes a protocol lacks) is dropped, or refused
//! with the VALIDATE flag.

use uuid::Uuid;

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::mac::{format_mac, parse_mac};
use crate::model::validate_name;
use crate::model::xml::{parse_document, Attrs, Node, XmlWriter};

/// Chain name prefixes libvirt accepts, in its order; `root` only as a whole name.
pub const CHAIN_PREFIXES: [&str; 8] = ["root", "mac", "vlan", "stp", "arp", "rarp", "ipv4", "ipv6"];
/// libvirt's `MAX_CHAIN_SUFFIX_SIZE`.
const MAX_CHAIN_NAME: usize = 24;
const VALID_CHAIN_CHARS: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-";
pub const RULE_ACTIONS: [&str; 5] = ["drop", "accept", "reject", "return", "continue"];
pub const RULE_DIRECTIONS: [&str; 3] = ["in", "out", "inout"];
/// A rule's priority when it gives none (libvirt's `MAX_RULE_PRIORITY / 2`).
pub const DEFAULT_RULE_PRIORITY: i32 = 500;

const ARP_ATTRS: &[&str] = &[
    "srcmacaddr",
    "srcmacmask",
    "dstmacaddr",
    "dstmacmask",
    "hwtype",
    "protocoltype",
    "opcode",
    "arpsrcmacaddr",
    "arpdstmacaddr",
    "arpsrcipaddr",
    "arpsrcipmask",
    "arpdstipaddr",
    "arpdstipmask",
    "gratuitous",
    "comment",
];
const IP_ATTRS: &[&str] = &[
    "srcmacaddr",
    "srcmacmask",
    "dstmacaddr",
    "dstmacmask",
    "srcipaddr",
    "srcipmask",
    "dstipaddr",
    "dstipmask",
    "protocol",
    "srcportstart",
    "srcportend",
    "dstportstart",
    "dstportend",
    "dscp",
    "comment",
];
const IPV6_ATTRS: &[&str] = &[
    "srcmacaddr",
    "srcmacmask",
    "dstmacaddr",
    "dstmacmask",
    "srcipaddr",
    "srcipmask",
    "dstipaddr",
    "dstipmask",
    "protocol",
    "srcportstart",
    "srcportend",
    "dstportstart",
    "dstportend",
    "type",
    "typeend",
    "code",
    "codeend",
    "comment",
];
/// Attributes of the layer-4 elements over IPv4 or IPv6 (`tcp`, `udp`, `icmp`, `all`, ...).
const L4_ATTRS: &[&str] = &[
    "srcmacaddr",
    "srcipaddr",
    "srcipmask",
    "dstipaddr",
    "dstipmask",
    "srcipfrom",
    "srcipto",
    "dstipfrom",
    "dstipto",
    "srcportstart",
    "srcportend",
    "dstportstart",
    "dstportend",
    "type",
    "code",
    "dscp",
    "comment",
    "state",
    "flags",
    "ipset",
    "ipsetflags",
    "connlimit-above",
];

/// The protocol elements a rule may hold, with the attributes each has (libvirt's `virAttr` table).
pub fn protocol_attrs(element: &str) -> Option<&'static [&'static str]> {
    Some(match element {
        "mac" => &[
            "srcmacaddr",
            "srcmacmask",
            "dstmacaddr",
            "dstmacmask",
            "protocolid",
            "comment",
        ],
        "vlan" => &[
            "srcmacaddr",
            "srcmacmask",
            "dstmacaddr",
            "dstmacmask",
            "vlanid",
            "encap-protocol",
            "comment",
        ],
        "stp" => &[
            "srcmacaddr",
            "srcmacmask",
            "type",
            "flags",
            "root-priority",
            "root-priority-hi",
            "root-address",
            "root-address-mask",
            "root-cost",
            "root-cost-hi",
            "sender-priority",
            "sender-priority-hi",
            "sender-address",
            "sender-address-mask",
            "port",
            "port-hi",
            "msg-age",
            "msg-age-hi",
            "max-age",
            "max-age-hi",
            "hello-time",
            "hello-time-hi",
            "forward-delay",
            "forward-delay-hi",
            "comment",
        ],
        "arp" | "rarp" => ARP_ATTRS,
        "ip" => IP_ATTRS,
        "ipv6" => IPV6_ATTRS,
        "tcp" | "udp" | "udplite" | "esp" | "ah" | "sctp" | "icmp" | "igmp" | "all"
        | "tcp-ipv6" | "udp-ipv6" | "udplite-ipv6" | "esp-ipv6" | "ah-ipv6" | "sctp-ipv6"
        | "icmpv6" | "all-ipv6" => L4_ATTRS,
        _ => return None,
    })
}

/// What a rule matches: one protocol element, its attributes as written (`match` included).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProtocolMatch {
    pub element: String,
    pub attrs: Vec<(String, String)>,
}

impl ProtocolMatch {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// `match='no'`: every condition is negated.
    pub fn negated(&self) -> bool {
        self.attr("match") == Some("no")
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FilterRule {
    pub action: String,
    pub direction: String,
    pub priority: i32,
    /// `statematch='false'`.
    pub no_statematch: bool,
    pub protocol: Option<ProtocolMatch>,
}

/// A reference to another filter, with the parameters it passes (a name may repeat: a list of values).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct FilterRef {
    pub filter: String,
    pub params: Vec<(String, String)>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FilterEntry {
    Rule(FilterRule),
    Ref(FilterRef),
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NwFilterDef {
    pub name: String,
    pub uuid: Uuid,
    /// The chain the filter's rules go into: `root` or a name with one of [`CHAIN_PREFIXES`].
    pub chain: String,
    /// The chain's priority; 0 is not formatted.
    pub priority: i32,
    pub entries: Vec<FilterEntry>,
}

impl NwFilterDef {
    /// The filters this one references, in order.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|entry| match entry {
            FilterEntry::Ref(reference) => Some(reference.filter.as_str()),
            FilterEntry::Rule(_) => None,
        })
    }

    /// The prefix of [`CHAIN_PREFIXES`] the chain name starts with.
    pub fn chain_prefix(&self) -> &'static str {
        chain_prefix(&self.chain).unwrap_or("root")
    }
}

fn nwfilter_error(code: ErrorCode, detail: impl AsRef<str>) -> Error {
    Error::with_detail(code, ErrorDomain::NWFILTER, detail)
}

fn internal(detail: impl AsRef<str>) -> Error {
    nwfilter_error(ErrorCode::INTERNAL_ERROR, detail)
}

fn chain_prefix(chain: &str) -> Option<&'static str> {
    if chain == "root" {
        return Some("root");
    }
    if chain.starts_with("root") {
        return None;
    }
    CHAIN_PREFIXES[1..]
        .iter()
        .find(|prefix| chain.starts_with(*prefix))
        .copied()
}

/// The default priority of a chain by its prefix (libvirt's `chain_priorities`).
fn default_chain_priority(prefix: &str) -> i32 {
    match prefix {
        "stp" => -810,
        "mac" => -800,
        "vlan" => -750,
        "ipv4" => -700,
        "ipv6" => -600,
        "arp" => -500,
        "rarp" => -400,
        _ => 0,
    }
}

fn check_chain(chain: &str) -> Result<()> {
    let invalid_arg = |detail: String| nwfilter_error(ErrorCode::INVALID_ARG, detail);
    if chain.len() > MAX_CHAIN_NAME {
        return Err(invalid_arg(format!(
            "Name of chain is longer than {MAX_CHAIN_NAME} characters"
        )));
    }
    if !chain.chars().all(|c| VALID_CHAIN_CHARS.contains(c)) {
        return Err(invalid_arg("Chain name contains invalid characters".into()));
    }
    if chain_prefix(chain).is_none() {
        return Err(invalid_arg(format!(
            "Invalid chain name '{chain}'. Please use a chain name called 'root' or any of the following \
             prefixes: {}",
            CHAIN_PREFIXES[1..].join(", ")
        )));
    }
    Ok(())
}

/// With VALIDATE, content the schema does not allow is refused (code 92) instead of dropped.
fn schema_error(detail: impl AsRef<str>) -> Error {
    nwfilter_error(ErrorCode::XML_INVALID_SCHEMA, detail)
}

fn parse_params(node: &Node, validate: bool) -> Result<Vec<(String, String)>> {
    let mut params = Vec::new();
    for child in &node.children {
        if child.name != "parameter" {
            if validate {
                return Err(schema_error(format!(
                    "Element filterref has extra content: {}",
                    child.name
                )));
            }
            continue;
        }
        let (Some(name), Some(value)) = (child.attr("name"), child.attr("value")) else {
            return Err(internal("missing name or value of a filter parameter"));
        };
        if !is_var_name(name) {
            return Err(internal(format!("invalid variable name '{name}'")));
        }
        params.push((name.to_string(), value.to_string()));
    }
    Ok(params)
}

/// Variable names as libvirt allows them: letters, digits and `_`, starting with a letter or `_`.
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_rule(node: &Node, validate: bool) -> Result<FilterRule> {
    let Some(action) = node.attr("action") else {
        return Err(internal("rule node requires action attribute"));
    };
    if !RULE_ACTIONS.contains(&action) {
        return Err(nwfilter_error(
            ErrorCode::CONFIG_UNSUPPORTED,
            "unknown rule action attribute value",
        ));
    }
    let Some(direction) = node.attr("direction") else {
        return Err(internal("rule node requires direction attribute"));
    };
    if !RULE_DIRECTIONS.contains(&direction) {
        return Err(nwfilter_error(
            ErrorCode::CONFIG_UNSUPPORTED,
            "unknown rule direction attribute value",
        ));
    }
    // As libvirt, a priority that does not parse or lies outside [-1000, 1000] leaves the default.
    let priority = node
        .attr("priority")
        .and_then(|text| text.trim().parse::<i32>().ok())
        .filter(|p| (-1000..=1000).contains(p))
        .unwrap_or(DEFAULT_RULE_PRIORITY);
    let no_statematch = node
        .attr("statematch")
        .is_some_and(|s| s == "0" || s.eq_ignore_ascii_case("false"));
    let mut protocol: Option<ProtocolMatch> = None;
    for child in &node.children {
        let Some(known) = protocol_attrs(&child.name) else {
            if validate {
                return Err(schema_error(format!(
                    "Element rule has extra content: {}",
                    child.name
                )));
            }
            continue;
        };
        // libvirt reads the first protocol element and later ones of the same kind; others are ignored.
        if protocol.as_ref().is_some_and(|p| p.element != child.name) {
            continue;
        }
        let mut attrs = protocol.take().map(|p| p.attrs).unwrap_or_default();
        for (key, value) in &child.attrs {
            if key == "match" {
                if value != "yes" && value != "no" {
                    return Err(internal(format!(
                        "Invalid value for 'match' attribute: {value}"
                    )));
                }
            } else if !known.contains(&key.as_str()) {
                if validate {
                    return Err(schema_error(format!(
                        "Invalid attribute {key} for element {}",
                        child.name
                    )));
                }
                continue;
            }
            check_value(&child.name, key, value)?;
            attrs.retain(|(k, _)| k != key);
            attrs.push((key.clone(), value.clone()));
        }
        protocol = Some(ProtocolMatch {
            element: child.name.clone(),
            attrs,
        });
    }
    if let Some(p) = &protocol {
        check_ports(p)?;
    }
    Ok(FilterRule {
        action: action.to_string(),
        direction: direction.to_string(),
        priority,
        no_statematch,
        protocol,
    })
}

/// Refuses values that cannot be what the attribute holds (libvirt's "Illegal value in attribute").
fn check_value(element: &str, key: &str, value: &str) -> Result<()> {
    let illegal = || internal(format!("{element} has illegal value {value}"));
    if let Some(var) = value.strip_prefix('$') {
        let name = var.split('[').next().unwrap_or("");
        return if is_var_name(name) {
            Ok(())
        } else {
            Err(illegal())
        };
    }
    let ok = match key {
        "srcmacaddr" | "dstmacaddr" | "arpsrcmacaddr" | "arpdstmacaddr" | "srcmacmask"
        | "dstmacmask" => parse_mac(value).is_some(),
        "srcipaddr" | "dstipaddr" | "arpsrcipaddr" | "arpdstipaddr" | "srcipfrom" | "srcipto"
        | "dstipfrom" | "dstipto" => value.parse::<std::net::IpAddr>().is_ok(),
        "srcipmask" | "dstipmask" | "arpsrcipmask" | "arpdstipmask" => {
            value.parse::<u8>().is_ok_and(|bits| bits <= 128)
                || value.parse::<std::net::IpAddr>().is_ok()
        }
        "srcportstart" | "srcportend" | "dstportstart" | "dstportend" => {
            parse_number(value).is_some_and(|n| n <= u32::from(u16::MAX))
        }
        "comment" => value.len() <= 256 && !value.contains(['\n', '"']),
        "match" => true,
        _ => value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:/,".contains(c)),
    };
    if ok {
        Ok(())
    } else {
        Err(illegal())
    }
}

/// A decimal or `0x` hexadecimal number.
pub fn parse_number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// libvirt's rule validation: ports on `ip`/`ipv6` need a port-carrying protocol.
fn check_ports(p: &ProtocolMatch) -> Result<()> {
    let label = match p.element.as_str() {
        "ip" => "IP",
        "ipv6" => "IPv6",
        _ => return Ok(()),
    };
    let has_ports = ["srcportstart", "srcportend", "dstportstart", "dstportend"]
        .iter()
        .any(|key| p.attr(key).is_some());
    if !has_ports {
        return Ok(());
    }
    let proto_ok = p.attr("protocol").is_some_and(|proto| {
        matches!(proto, "tcp" | "udp" | "dccp" | "sctp")
            || matches!(parse_number(proto), Some(6 | 17 | 33 | 132))
    });
    if proto_ok {
        Ok(())
    } else {
        Err(internal(format!(
            "{label} rule with port specification requires protocol specification with protocol to be \
             either one of tcp(6), udp(17), dccp(33), or sctp(132)"
        )))
    }
}

/// Parses a `<filter>` definition; `validate` is `VIR_NWFILTER_DEFINE_VALIDATE`.
pub fn parse_nwfilter(xml: &str, validate: bool) -> Result<NwFilterDef> {
    let root = parse_document(xml, ErrorDomain::NWFILTER, "nwfilter_definition")?;
    if root.name != "filter" {
        return Err(nwfilter_error(
            ErrorCode::XML_ERROR,
            "unknown root element for nw filter",
        ));
    }
    let Some(name) = root.attr("name") else {
        return Err(internal("filter has no name"));
    };
    validate_name("filter", name).map_err(|err| Error {
        domain: ErrorDomain::NWFILTER,
        ..err
    })?;
    let priority = match root.attr("priority") {
        None => None,
        Some(text) => {
            let value: i32 = text.parse().map_err(|_| {
                nwfilter_error(
                    ErrorCode::INVALID_ARG,
                    format!("Could not parse chain priority '{text}'"),
                )
            })?;
            if !(-1000..=1000).contains(&value) {
                return Err(nwfilter_error(
                    ErrorCode::INVALID_ARG,
                    format!("Priority '{value}' is outside valid range of [-1000,1000]"),
                ));
            }
            Some(value)
        }
    };
    let (chain, priority) = match root.attr("chain") {
        Some(chain) => {
            check_chain(chain)?;
            let prefix = chain_prefix(chain).unwrap_or("root");
            (
                chain.to_string(),
                priority.unwrap_or_else(|| default_chain_priority(prefix)),
            )
        }
        // Without a chain, libvirt keeps no priority either.
        None => ("root".to_string(), 0),
    };
    let uuid = match root.child_text("uuid") {
        None => Uuid::new_v4(),
        Some(text) => Uuid::parse_str(text.trim())
            .map_err(|_| nwfilter_error(ErrorCode::XML_ERROR, "malformed uuid element"))?,
    };
    let mut entries = Vec::new();
    for child in &root.children {
        match child.name.as_str() {
            "rule" => entries.push(FilterEntry::Rule(parse_rule(child, validate)?)),
            "filterref" => {
                let Some(filter) = child.attr("filter") else {
                    // libvirt's words for a reference without a filter name.
                    return Err(internal("rule node requires action attribute"));
                };
                entries.push(FilterEntry::Ref(FilterRef {
                    filter: filter.to_string(),
                    params: parse_params(child, validate)?,
                }));
            }
            "uuid" => {}
            other if validate => {
                return Err(schema_error(format!(
                    "Element filter has extra content: {other}"
                )))
            }
            _ => {}
        }
    }
    Ok(NwFilterDef {
        name: name.to_string(),
        uuid,
        chain,
        priority,
        entries,
    })
}

fn format_filterref(w: &mut XmlWriter, reference: &FilterRef) {
    let attrs = Attrs::new().with("filter", &reference.filter);
    if reference.params.is_empty() {
        w.empty("filterref", attrs);
        return;
    }
    w.open("filterref", attrs);
    // libvirt formats parameters sorted by name, values of one name in their order.
    let mut params: Vec<&(String, String)> = reference.params.iter().collect();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in params {
        w.empty(
            "parameter",
            Attrs::new().with("name", name).with("value", value),
        );
    }
    w.close("filterref");
}

/// Formats a definition as libvirt lays it out (`virNWFilterDefFormat`); protocol attributes as written.
pub fn format_nwfilter(def: &NwFilterDef) -> String {
    let mut head = format!(
        "<filter name='{}' chain='{}'",
        crate::model::xml::escape_attr(&def.name),
        def.chain
    );
    if def.priority != 0 {
        head.push_str(&format!(" priority='{}'", def.priority));
    }
    head.push_str(">\n");
    let mut w = XmlWriter::new();
    w.text("uuid", Attrs::new(), &def.uuid.to_string());
    for entry in &def.entries {
        match entry {
            FilterEntry::Ref(reference) => format_filterref(&mut w, reference),
            FilterEntry::Rule(rule) => {
                let attrs = Attrs::new()
                    .with("action", &rule.action)
                    .with("direction", &rule.direction)
                    .with("priority", rule.priority)
                    .opt("statematch", rule.no_statematch.then_some("false"));
                match &rule.protocol {
                    None => w.empty("rule", attrs),
                    Some(p) => {
                        w.open("rule", attrs);
                        w.raw_empty(&p.element, &p.attrs);
                        w.close("rule");
                    }
                }
            }
        }
    }
    let body = w.finish();
    let mut out = head;
    for line in body.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("</filter>\n");
    out
}

/// A binding of a filter to a host port (`<filterbinding>`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NwFilterBindingDef {
    pub owner_name: String,
    pub owner_uuid: Uuid,
    pub portdev: String,
    pub linkdev: Option<String>,
    /// Lower case, colon separated.
    pub mac: String,
    pub filter: FilterRef,
}

/// Parses a `<filterbinding>` (`validate`: `VIR_NWFILTER_BINDING_CREATE_VALIDATE`).
pub fn parse_nwfilter_binding(xml: &str, validate: bool) -> Result<NwFilterBindingDef> {
    let root = parse_document(xml, ErrorDomain::NWFILTER, "nwfilterbinding_definition")?;
    if root.name != "filterbinding" {
        return Err(nwfilter_error(
            ErrorCode::XML_ERROR,
            "unknown root element for nwfilter binding",
        ));
    }
    if validate {
        for child in &root.children {
            if !["owner", "portdev", "linkdev", "mac", "filterref"].contains(&child.name.as_str()) {
                return Err(schema_error(format!(
                    "Element filterbinding has extra content: {}",
                    child.name
                )));
            }
        }
    }
    let portdev = root
        .child("portdev")
        .and_then(|n| n.attr("name"))
        .ok_or_else(|| internal("filter binding has no port dev name"))?;
    let linkdev = match root.child("linkdev") {
        None => None,
        Some(node) => Some(
            node.attr("name")
                .ok_or_else(|| internal("filter binding has no link dev name"))?
                .to_string(),
        ),
    };
    let owner = root.child("owner");
    let owner_name = owner
        .and_then(|o| o.child_text("name"))
        .ok_or_else(|| internal("filter binding has no owner name"))?;
    let uuid_text = owner
        .and_then(|o| o.child_text("uuid"))
        .ok_or_else(|| internal("filter binding has no owner UUID"))?;
    let owner_uuid = Uuid::parse_str(uuid_text.trim())
        .map_err(|_| internal(format!("Unable to parse UUID '{uuid_text}'")))?;
    let mac_text = root
        .child("mac")
        .and_then(|n| n.attr("address"))
        .ok_or_else(|| internal("filter binding has no MAC address"))?;
    let mac =
        parse_mac(mac_text).ok_or_else(|| internal(format!("Unable to parse MAC '{mac_text}'")))?;
    let filterref = root
        .child("filterref")
        .ok_or_else(|| internal("filter binding has no filter reference"))?;
    let filter = filterref
        .attr("filter")
        .ok_or_else(|| internal("filter binding has no filter reference"))?;
    Ok(NwFilterBindingDef {
        owner_name: owner_name.to_string(),
        owner_uuid,
        portdev: portdev.to_string(),
        linkdev,
        mac: format_mac(&mac),
        filter: FilterRef {
            filter: filter.to_string(),
            params: parse_params(filterref, validate)?,
        },
    })
}

/// Formats a binding as libvirt does (`virNWFilterBindingDefFormatBuf`).
pub fn format_nwfilter_binding(def: &NwFilterBindingDef) -> String {
    let mut w = XmlWriter::new();
    w.open("filterbinding", Attrs::new());
    w.open("owner", Attrs::new());
    w.text("name", Attrs::new(), &def.owner_name);
    w.text("uuid", Attrs::new(), &def.owner_uuid.to_string());
    w.close("owner");
    w.empty("portdev", Attrs::new().with("name", &def.portdev));
    if let Some(linkdev) = &def.linkdev {
        w.empty("linkdev", Attrs::new().with("name", linkdev));
    }
    w.empty("mac", Attrs::new().with("address", &def.mac));
    format_filterref(&mut w, &def.filter);
    w.close("filterbinding");
    w.finish()
}

#[cfg(test)]
mod tests;
