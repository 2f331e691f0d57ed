//! Filter bindings as nftables rules, a pure translation: every binding's filter tree, flattened as libvirt
//! flattens it (filter references followed with their parameters, rules grouped into chains by the filter's
//! `chain`, entries ordered by priority), becomes one `bridge` family table of our own. Applying it is one
//! `nft -f` transaction that replaces the whole table, so a change is all or nothing and nothing stale stays.
//!
//! Layout: base chains on the bridge `prerouting` (traffic from a guest, matched by `iifname`) and
//! `postrouting` (traffic to a guest, `oifname`) hooks jump through two verdict maps to each port's root chain
//! `o-PORT` / `i-PORT`; a filter chain other than `root` becomes `o-PORT-CHAIN`, entered from the root chain for
//! its protocol (`arp`, `ipv4`, ...) at the chain's priority, and left by a `return` rule.
//!
//! As in libvirt's ebtables layer, rule attributes describe the packet as it is on the wire (no swap of
//! source and destination by direction), `reject` drops (layer 2 has no reject), and a rule whose `$VARIABLE` has
//! no value is not instantiated (libvirt would wait to learn a guest's IP address; here the address must be
//! given, so until it is, only what needs no address passes). A variable with several values instantiates the
//! rule once per value.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{
    parse_mac, parse_number, FilterEntry, FilterRule, NwFilterBindingDef, NwFilterDef,
    ProtocolMatch,
};

/// How deep filter references may nest (libvirt refuses loops at define time; this bounds the walk anyway).
const MAX_DEPTH: usize = 64;
/// Rule instances one rule may expand to through list variables.
const MAX_INSTANCES: usize = 1024;

fn build_error(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::BUILD_FIREWALL, ErrorDomain::NWFILTER, detail)
}

fn missing_filter(name: &str) -> Error {
    Error::internal(
        ErrorDomain::NWFILTER,
        format!("referenced filter '{name}' is missing"),
    )
}

/// Whether `name` may be a port device we put into rules: an interface name of at most 15 safe characters.
pub fn valid_port_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Variables in scope: name to its values.
type Vars = BTreeMap<String, Vec<String>>;

/// A rule reached from a binding, with the chain it lands in and the variables in scope there.
struct Placed<'a> {
    chain: &'a str,
    chain_prefix: &'static str,
    chain_priority: i32,
    rule: &'a FilterRule,
    vars: Vars,
}

/// Walks a binding's filter tree in document order.
fn flatten<'a>(
    filters: &'a BTreeMap<String, NwFilterDef>,
    name: &str,
    vars: &Vars,
    depth: usize,
    out: &mut Vec<Placed<'a>>,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(build_error(format!(
            "filter references nest deeper than {MAX_DEPTH} levels at '{name}'"
        )));
    }
    let def = filters.get(name).ok_or_else(|| missing_filter(name))?;
    for entry in &def.entries {
        match entry {
            FilterEntry::Rule(rule) => out.push(Placed {
                chain: &def.chain,
                chain_prefix: def.chain_prefix(),
                chain_priority: def.priority,
                rule,
                vars: vars.clone(),
            }),
            FilterEntry::Ref(reference) => {
                let mut inner = vars.clone();
                let mut given: Vars = BTreeMap::new();
                for (key, value) in &reference.params {
                    given.entry(key.clone()).or_default().push(value.clone());
                }
                inner.extend(given);
                flatten(filters, &reference.filter, &inner, depth + 1, out)?;
            }
        }
    }
    Ok(())
}

/// The variables a binding starts with: its parameters, and `MAC` from its MAC address unless given.
fn binding_vars(binding: &NwFilterBindingDef) -> Vars {
    let mut vars: Vars = BTreeMap::new();
    for (key, value) in &binding.filter.params {
        vars.entry(key.clone()).or_default().push(value.clone());
    }
    vars.entry("MAC".into())
        .or_insert_with(|| vec![binding.mac.clone()]);
    vars
}

/// `$NAME` or `$NAME[index]` (also libvirt's `$NAME[@iterator]`, taken as every value).
fn var_ref(value: &str) -> Option<(&str, Option<usize>)> {
    let body = value.strip_prefix('$')?;
    match body.split_once('[') {
        None => Some((body, None)),
        Some((name, rest)) => {
            let index = rest.strip_suffix(']')?;
            if index.starts_with('@') {
                Some((name, None))
            } else {
                Some((name, Some(index.parse().ok()?)))
            }
        }
    }
}

/// Every assignment of values to the variables a protocol element references; empty when one has no value.
fn instances(p: &ProtocolMatch, vars: &Vars) -> Result<Vec<BTreeMap<String, String>>> {
    let mut result = vec![BTreeMap::new()];
    let mut seen: Vec<&str> = Vec::new();
    for (_, value) in &p.attrs {
        let Some((name, index)) = var_ref(value) else {
            continue;
        };
        let Some(values) = vars.get(name) else {
            return Ok(Vec::new());
        };
        let choices: Vec<&String> = match index {
            Some(i) => values.get(i).into_iter().collect(),
            None => values.iter().collect(),
        };
        if choices.is_empty() {
            return Ok(Vec::new());
        }
        // An indexed reference names one value; plain references to one name iterate together.
        let key = value.to_string();
        if seen.contains(&key.as_str()) {
            continue;
        }
        seen.push(value);
        let mut next = Vec::new();
        for partial in &result {
            for choice in &choices {
                let mut assignment: BTreeMap<String, String> = partial.clone();
                assignment.insert(key.clone(), (*choice).clone());
                next.push(assignment);
            }
        }
        if next.len() > MAX_INSTANCES {
            return Err(build_error(format!(
                "rule with variables expands to more than {MAX_INSTANCES} rules"
            )));
        }
        result = next;
    }
    Ok(result)
}

/// The 16-bit Ethernet type nft spells for a libvirt protocol id.
fn ether_type(value: &str) -> Result<String> {
    Ok(match value {
        "ipv4" => "ip".into(),
        "ipv6" => "ip6".into(),
        "arp" => "arp".into(),
        "rarp" => "0x8035".into(),
        "vlan" => "vlan".into(),
        other => match parse_number(other) {
            Some(n) if n <= 0xffff => format!("0x{n:04x}"),
            _ => return Err(build_error(format!("unknown protocol id '{other}'"))),
        },
    })
}

fn mac(value: &str) -> Result<String> {
    parse_mac(value)
        .map(|octets| crate::model::format_mac(&octets))
        .ok_or_else(|| build_error(format!("'{value}' is not a MAC address")))
}

fn ip(value: &str) -> Result<IpAddr> {
    value
        .parse()
        .map_err(|_| build_error(format!("'{value}' is not an IP address")))
}

/// A mask as a prefix length: a number of bits, or a dotted mask.
fn prefix_len(mask: &str, max: u8) -> Result<u8> {
    if let Ok(bits) = mask.parse::<u8>() {
        if bits <= max {
            return Ok(bits);
        }
    }
    match mask.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let bits = u32::from(v4);
            if bits.leading_ones() + bits.trailing_zeros() == 32 {
                return Ok(u8::try_from(bits.leading_ones()).unwrap_or(32));
            }
        }
        Ok(IpAddr::V6(v6)) => {
            let bits = u128::from(v6);
            if bits.leading_ones() + bits.trailing_zeros() == 128 {
                return Ok(u8::try_from(bits.leading_ones()).unwrap_or(128));
            }
        }
        Err(_) => {}
    }
    Err(build_error(format!("'{mask}' is not a network mask")))
}

fn number(value: &str, max: u32) -> Result<u32> {
    parse_number(value)
        .filter(|n| *n <= max)
        .ok_or_else(|| build_error(format!("'{value}' is not a number up to {max}")))
}

fn l4_name(value: &str) -> Result<String> {
    Ok(match value {
        "tcp" | "udp" | "udplite" | "esp" | "ah" | "icmp" | "igmp" | "sctp" | "dccp" => {
            value.to_string()
        }
        "icmpv6" | "ipv6-icmp" => "icmpv6".into(),
        other => number(other, 255)?.to_string(),
    })
}

const ARP_OPCODES: [(&str, u32); 9] = [
    ("Request", 1),
    ("Reply", 2),
    ("Request_Reverse", 3),
    ("Reply_Reverse", 4),
    ("DRARP_Request", 5),
    ("DRARP_Reply", 6),
    ("DRARP_Error", 7),
    ("InARP_Request", 8),
    ("ARP_NAK", 10),
];

/// The match expressions of one protocol element with its variables resolved.
struct Matcher<'a> {
    p: &'a ProtocolMatch,
    values: &'a BTreeMap<String, String>,
    op: &'static str,
    out: Vec<String>,
}

impl Matcher<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let raw = self.p.attr(key)?;
        Some(self.values.get(raw).map_or(raw, String::as_str))
    }

    fn push(&mut self, expr: String) {
        self.out.push(expr);
    }

    fn mac_pair(&mut self, addr: &str, mask: &str, field: &str) -> Result<()> {
        if let Some(value) = self.get(addr) {
            let value = mac(value)?;
            let op = self.op;
            match self.get(mask) {
                Some(m) => {
                    let m = mac(m)?;
                    self.push(format!("{field} & {m} {op} {value}"));
                }
                None => self.push(format!("{field} {op} {value}")),
            }
        }
        Ok(())
    }

    fn ip_pair(&mut self, addr: &str, mask: &str, field: &str, v6: bool) -> Result<()> {
        if let Some(value) = self.get(addr) {
            let address = ip(value)?;
            if address.is_ipv6() != v6 {
                return Err(build_error(format!(
                    "'{value}' is not an {} address",
                    if v6 { "IPv6" } else { "IPv4" }
                )));
            }
            let max = if v6 { 128 } else { 32 };
            let op = self.op;
            match self.get(mask) {
                Some(m) => {
                    let bits = prefix_len(m, max)?;
                    self.push(format!("{field} {op} {address}/{bits}"));
                }
                None => self.push(format!("{field} {op} {address}")),
            }
        }
        Ok(())
    }

    fn ip_range(&mut self, from: &str, to: &str, field: &str) -> Result<()> {
        if let (Some(a), Some(b)) = (self.get(from), self.get(to)) {
            let (a, b) = (ip(a)?, ip(b)?);
            let op = self.op;
            self.push(format!("{field} {op} {a}-{b}"));
        }
        Ok(())
    }

    fn range(&mut self, start: &str, end: &str, field: &str, max: u32) -> Result<()> {
        if let Some(a) = self.get(start) {
            let a = number(a, max)?;
            let op = self.op;
            match self.get(end) {
                Some(b) => {
                    let b = number(b, max)?;
                    self.push(format!("{field} {op} {a}-{b}"));
                }
                None => self.push(format!("{field} {op} {a}")),
            }
        }
        Ok(())
    }

    fn unsupported(&self, keys: &[&str]) -> Result<()> {
        for key in keys {
            if self.p.attr(key).is_some() {
                return Err(build_error(format!(
                    "attribute '{key}' of <{}> is not supported by this firewall backend",
                    self.p.element
                )));
            }
        }
        Ok(())
    }

    fn translate(mut self) -> Result<Vec<String>> {
        let element = self.p.element.clone();
        let (v6, l4) = match element.as_str() {
            "mac" | "vlan" | "stp" | "arp" | "rarp" => (false, None),
            "ip" => (false, None),
            "ipv6" => (true, None),
            "icmpv6" => (true, Some("icmpv6")),
            "all" => (false, Some("")),
            "all-ipv6" => (true, Some("")),
            other => match other.strip_suffix("-ipv6") {
                Some(proto) => (true, Some(proto)),
                None => (false, Some(other)),
            },
        };
        self.unsupported(&[
            "state",
            "flags",
            "ipset",
            "ipsetflags",
            "connlimit-above",
            "gratuitous",
        ])?;
        match element.as_str() {
            "mac" => {
                self.mac_pair("srcmacaddr", "srcmacmask", "ether saddr")?;
                self.mac_pair("dstmacaddr", "dstmacmask", "ether daddr")?;
                if let Some(id) = self.get("protocolid") {
                    let t = ether_type(id)?;
                    let op = self.op;
                    self.push(format!("ether type {op} {t}"));
                }
            }
            "vlan" => {
                self.unsupported(&["encap-protocol"])?;
                self.push("ether type vlan".into());
                self.mac_pair("srcmacaddr", "srcmacmask", "ether saddr")?;
                self.mac_pair("dstmacaddr", "dstmacmask", "ether daddr")?;
                if let Some(id) = self.get("vlanid") {
                    let id = number(id, 4095)?;
                    let op = self.op;
                    self.push(format!("vlan id {op} {id}"));
                }
            }
            "stp" => {
                self.unsupported(&[
                    "type",
                    "flags",
                    "root-priority",
                    "root-address",
                    "root-cost",
                    "sender-priority",
                    "sender-address",
                    "port",
                    "msg-age",
                    "max-age",
                    "hello-time",
                    "forward-delay",
                ])?;
                self.push("ether daddr 01:80:c2:00:00:00".into());
                self.mac_pair("srcmacaddr", "srcmacmask", "ether saddr")?;
            }
            "arp" | "rarp" => self.arp(element == "rarp")?,
            _ => {
                self.push(format!("ether type {}", if v6 { "ip6" } else { "ip" }));
                let (family, proto_field) = if v6 {
                    ("ip6", "ip6 nexthdr")
                } else {
                    ("ip", "ip protocol")
                };
                self.mac_pair("srcmacaddr", "srcmacmask", "ether saddr")?;
                self.mac_pair("dstmacaddr", "dstmacmask", "ether daddr")?;
                self.ip_pair("srcipaddr", "srcipmask", &format!("{family} saddr"), v6)?;
                self.ip_pair("dstipaddr", "dstipmask", &format!("{family} daddr"), v6)?;
                self.ip_range("srcipfrom", "srcipto", &format!("{family} saddr"))?;
                self.ip_range("dstipfrom", "dstipto", &format!("{family} daddr"))?;
                match l4 {
                    // `ip`/`ipv6`: the protocol is an attribute.
                    None => {
                        if let Some(proto) = self.get("protocol") {
                            let name = l4_name(proto)?;
                            let op = self.op;
                            self.push(format!("{proto_field} {op} {name}"));
                        }
                    }
                    Some("") => {}
                    Some(proto) => {
                        let name = l4_name(proto)?;
                        self.push(format!("{proto_field} {name}"));
                    }
                }
                self.range("srcportstart", "srcportend", "th sport", 65535)?;
                self.range("dstportstart", "dstportend", "th dport", 65535)?;
                if let Some(dscp) = self.get("dscp") {
                    let dscp = number(dscp, 63)?;
                    let op = self.op;
                    self.push(format!("{family} dscp {op} {dscp}"));
                }
                let icmp = match l4 {
                    Some("icmp") => Some("icmp"),
                    Some("icmpv6") => Some("icmpv6"),
                    None if v6 => Some("icmpv6"),
                    _ => None,
                };
                if let Some(icmp) = icmp {
                    self.range("type", "typeend", &format!("{icmp} type"), 255)?;
                    self.range("code", "codeend", &format!("{icmp} code"), 255)?;
                }
            }
        }
        Ok(self.out)
    }

    /// ARP and RARP headers (RARP through raw offsets: nft's `arp` expressions imply the ARP Ethernet type).
    fn arp(&mut self, rarp: bool) -> Result<()> {
        let op = self.op;
        self.push(if rarp {
            "ether type 0x8035".into()
        } else {
            "ether type arp".into()
        });
        self.mac_pair("srcmacaddr", "srcmacmask", "ether saddr")?;
        self.mac_pair("dstmacaddr", "dstmacmask", "ether daddr")?;
        let field = |named: &str, raw: &str| {
            if rarp {
                raw.to_string()
            } else {
                named.to_string()
            }
        };
        if let Some(v) = self.get("hwtype") {
            let v = number(v, 0xffff)?;
            self.push(format!("{} {op} {v}", field("arp htype", "@nh,0,16")));
        }
        if let Some(v) = self.get("protocoltype") {
            let v = number(v, 0xffff)?;
            self.push(format!("{} {op} {v}", field("arp ptype", "@nh,16,16")));
        }
        if let Some(v) = self.get("opcode") {
            let code = ARP_OPCODES
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(v))
                .map(|(_, code)| *code)
                .map_or_else(|| number(v, 0xffff), Ok)?;
            self.push(format!(
                "{} {op} {code}",
                field("arp operation", "@nh,48,16")
            ));
        }
        for (key, named, raw) in [
            ("arpsrcmacaddr", "arp saddr ether", "@nh,64,48"),
            ("arpdstmacaddr", "arp daddr ether", "@nh,144,48"),
        ] {
            if let Some(v) = self.get(key) {
                let m = mac(v)?;
                let value = if rarp {
                    format!("0x{}", m.replace(':', ""))
                } else {
                    m
                };
                self.push(format!("{} {op} {value}", field(named, raw)));
            }
        }
        for (key, mask_key, named, raw) in [
            ("arpsrcipaddr", "arpsrcipmask", "arp saddr ip", "@nh,112,32"),
            ("arpdstipaddr", "arpdstipmask", "arp daddr ip", "@nh,192,32"),
        ] {
            if let Some(v) = self.get(key) {
                let IpAddr::V4(addr) = ip(v)? else {
                    return Err(build_error(format!("'{v}' is not an IPv4 address")));
                };
                let bits = match self.get(mask_key) {
                    Some(m) => prefix_len(m, 32)?,
                    None => 32,
                };
                if rarp {
                    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                    self.push(format!(
                        "{raw} & 0x{mask:08x} {op} 0x{:08x}",
                        u32::from(addr) & mask
                    ));
                } else if bits == 32 {
                    self.push(format!("{named} {op} {addr}"));
                } else {
                    self.push(format!("{named} {op} {addr}/{bits}"));
                }
            }
        }
        Ok(())
    }
}

/// The nft statements of one rule (possibly several instances), without the `add rule` prefix.
fn rule_lines(rule: &FilterRule, vars: &Vars) -> Result<Vec<String>> {
    let verdict = match rule.action.as_str() {
        "accept" => "accept",
        // Layer 2 has no reject; libvirt's ebtables layer drops too.
        "drop" | "reject" => "drop",
        "return" => "return",
        "continue" => "continue",
        other => return Err(build_error(format!("unknown rule action '{other}'"))),
    };
    let Some(p) = &rule.protocol else {
        return Ok(vec![verdict.to_string()]);
    };
    let mut lines = Vec::new();
    for values in instances(p, vars)? {
        let matcher = Matcher {
            p,
            values: &values,
            op: if p.negated() { "!=" } else { "==" },
            out: Vec::new(),
        };
        let mut parts = matcher.translate()?;
        parts.push(verdict.to_string());
        if let Some(comment) = p.attr("comment") {
            parts.push(format!(
                "comment \"{}\"",
                comment.replace(['"', '\\', '\n'], "_")
            ));
        }
        lines.push(parts.join(" "));
    }
    Ok(lines)
}

/// A filter chain name as part of an nft chain name (nft names take no ':').
fn chain_ident(chain: &str) -> String {
    chain.replace(':', "_")
}

/// The Ethernet type a filter chain's prefix takes its packets by (`None`: every packet).
fn chain_match(prefix: &str) -> Option<&'static str> {
    match prefix {
        "arp" => Some("ether type arp"),
        "rarp" => Some("ether type 0x8035"),
        "ipv4" => Some("ether type ip"),
        "ipv6" => Some("ether type ip6"),
        "vlan" => Some("ether type vlan"),
        "stp" => Some("ether daddr 01:80:c2:00:00:00"),
        _ => None,
    }
}

/// One port's chains in one direction: the root chain's entries and each sub-chain's rules, by priority.
fn port_chains(
    table: &str,
    port_chain: &str,
    placed: &[Placed<'_>],
    wanted: &str,
    script: &mut String,
) -> Result<()> {
    // (priority, order, line) of the root chain; sub-chains by name with their rules.
    let mut root: Vec<(i32, usize, String)> = Vec::new();
    let mut subs: BTreeMap<&str, Vec<(i32, usize, String)>> = BTreeMap::new();
    for (order, item) in placed.iter().enumerate() {
        let applies = item.rule.direction == wanted || item.rule.direction == "inout";
        if item.chain != "root" && !subs.contains_key(item.chain) {
            subs.insert(item.chain, Vec::new());
            let jump = format!("jump {port_chain}-{}", chain_ident(item.chain));
            let line = match chain_match(item.chain_prefix) {
                Some(matcher) => format!("{matcher} {jump}"),
                None => jump,
            };
            root.push((item.chain_priority, order, line));
        }
        if !applies {
            continue;
        }
        let lines = rule_lines(item.rule, &item.vars)?;
        let target = if item.chain == "root" {
            &mut root
        } else {
            subs.get_mut(item.chain).expect("inserted above")
        };
        target.extend(
            lines
                .into_iter()
                .map(|line| (item.rule.priority, order, line)),
        );
    }
    writeln!(script, "add chain bridge {table} {port_chain}").ok();
    for name in subs.keys() {
        writeln!(
            script,
            "add chain bridge {table} {port_chain}-{}",
            chain_ident(name)
        )
        .ok();
    }
    root.sort_by_key(|(priority, order, _)| (*priority, *order));
    for (_, _, line) in &root {
        writeln!(script, "add rule bridge {table} {port_chain} {line}").ok();
    }
    for (name, mut rules) in subs {
        rules.sort_by_key(|(priority, order, _)| (*priority, *order));
        let name = chain_ident(name);
        for (_, _, line) in &rules {
            writeln!(script, "add rule bridge {table} {port_chain}-{name} {line}").ok();
        }
    }
    Ok(())
}

/// The whole table for these bindings as one `nft -f` script that replaces what was there; with no binding, it
/// only removes the table.
pub fn ruleset_script(
    table: &str,
    filters: &BTreeMap<String, NwFilterDef>,
    bindings: &[&NwFilterBindingDef],
) -> Result<String> {
    let mut script = String::new();
    // `add` first so the `delete` never fails on a missing table: one transaction either way.
    writeln!(script, "add table bridge {table}").ok();
    writeln!(script, "delete table bridge {table}").ok();
    if bindings.is_empty() {
        return Ok(script);
    }
    writeln!(script, "add table bridge {table}").ok();
    writeln!(
        script,
        "add map bridge {table} from_guest {{ type ifname : verdict ; }}"
    )
    .ok();
    writeln!(
        script,
        "add map bridge {table} to_guest {{ type ifname : verdict ; }}"
    )
    .ok();
    for binding in bindings {
        let port = &binding.portdev;
        if !valid_port_name(port) {
            return Err(build_error(format!(
                "'{port}' is not a usable port device name"
            )));
        }
        let mut placed = Vec::new();
        flatten(
            filters,
            &binding.filter.filter,
            &binding_vars(binding),
            0,
            &mut placed,
        )?;
        // "out" is what the guest sends: it enters the bridge from the port.
        port_chains(table, &format!("o-{port}"), &placed, "out", &mut script)?;
        port_chains(table, &format!("i-{port}"), &placed, "in", &mut script)?;
        writeln!(
            script,
            "add element bridge {table} from_guest {{ \"{port}\" : jump o-{port} }}"
        )
        .ok();
        writeln!(
            script,
            "add element bridge {table} to_guest {{ \"{port}\" : jump i-{port} }}"
        )
        .ok();
    }
    writeln!(
        script,
        "add chain bridge {table} prerouting {{ type filter hook prerouting priority -300 ; policy accept ; }}"
    )
    .ok();
    writeln!(
        script,
        "add chain bridge {table} postrouting {{ type filter hook postrouting priority -300 ; policy accept ; }}"
    )
    .ok();
    writeln!(
        script,
        "add rule bridge {table} prerouting iifname vmap @from_guest"
    )
    .ok();
    writeln!(
        script,
        "add rule bridge {table} postrouting oifname vmap @to_guest"
    )
    .ok();
    Ok(script)
}

/// Runs an `nft -f -` script as one transaction.
pub fn apply(script: &str) -> Result<()> {
    use std::io::Write;
    let mut child = std::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::system(ErrorDomain::NWFILTER, "cannot run nft", &e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| Error::system(ErrorDomain::NWFILTER, "cannot feed nft", &e))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Error::system(ErrorDomain::NWFILTER, "nft did not finish", &e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(build_error(format!(
            "nft refused the rules: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests;
