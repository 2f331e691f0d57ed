//! Network filters as libvirt-CIM modelled them, on the driver's nwfilter API: `KVM_FilterList` (one per
//! nwfilter), its rules as `KVM_Hdr8021Filter` (mac, arp, rarp), `KVM_IPHeadersFilter` (ip, ipv6 and the layer-4
//! protocols) or `KVM_FilterEntry` (anything else), and the associations `KVM_EntriesInFilterList` (filter ->
//! rule), `KVM_HostedFilterList` (host -> filter), `KVM_NestedFilterList` (filter -> filter it references) and
//! `KVM_AppliedFilterList` (guest NIC -> the filter its `<filterref>` names).
//!
//! Changes go through the driver like any client's: CreateInstance/DeleteInstance of a filter list defines and
//! undefines a filter, of a nested list redefines the referencing filter, and of an applied list rewrites the
//! interface's `<filterref>` in the guest's definition and, for a running guest, updates its live interface
//! (`virDomainUpdateDeviceFlags`, so the host port is rebound now). A driver without nwfilters (libvirt's test
//! driver) has no instances and answers "not supported" to changes.

use std::net::IpAddr;

use async_trait::async_trait;

use super::guest::{device_path, split_fq_devid, ResourceKind};
use super::pools::{host_name, host_path, HOST_CLASS, NAMESPACE};
use super::rasd_parse::device_xml;
use super::{
    assoc_instance, get_from_enumeration, not_found, paths_of, put, Provider, ProviderCtx,
};
use crate::cim::{CimStatus, CimType, Instance, ObjectPath, Value};
use crate::driver::{flags, Connection, DomainRef, NwFilterRef};
use crate::error::ErrorCode;
use crate::model::{
    format_nwfilter, parse_nwfilter, DomainDef, FilterEntry, FilterRef, FilterRule, NwFilterDef,
};
use crate::wbem::error::OpError;

pub const FILTER_LIST_CLASS: &str = "KVM_FilterList";
pub const HDR8021_CLASS: &str = "KVM_Hdr8021Filter";
pub const IP_HEADERS_CLASS: &str = "KVM_IPHeadersFilter";
pub const FILTER_ENTRY_CLASS: &str = "KVM_FilterEntry";
pub const ENTRIES_CLASS: &str = "KVM_EntriesInFilterList";
pub const HOSTED_CLASS: &str = "KVM_HostedFilterList";
pub const NESTED_CLASS: &str = "KVM_NestedFilterList";
pub const APPLIED_CLASS: &str = "KVM_AppliedFilterList";

/// The providers of this file.
pub fn filter_providers() -> Vec<std::sync::Arc<dyn Provider>> {
    let mut out: Vec<std::sync::Arc<dyn Provider>> = vec![std::sync::Arc::new(FilterListProvider)];
    for kind in EntryKind::ALL {
        out.push(std::sync::Arc::new(FilterEntryProvider { kind }));
    }
    for assoc in FilterAssoc::ALL {
        out.push(std::sync::Arc::new(FilterAssocProvider { assoc }));
    }
    out
}

/// Every filter of the host with its definition, read once per request; none when the driver has no nwfilters.
async fn read_filters(driver: &Connection) -> Result<Vec<NwFilterDef>, OpError> {
    let refs = match driver.list_all_nwfilters(0).await {
        Ok(refs) => refs,
        Err(e) if e.code == ErrorCode::NO_SUPPORT => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for filter in refs {
        match filter_def(driver, &filter).await {
            Ok(def) => out.push(def),
            // Undefined meanwhile.
            Err(OpError::Driver(e)) if e.code == ErrorCode::NO_NWFILTER => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

async fn filter_def(driver: &Connection, filter: &NwFilterRef) -> Result<NwFilterDef, OpError> {
    let xml = driver.nwfilter_get_xml_desc(filter, 0).await?;
    Ok(parse_nwfilter(&xml, false)?)
}

/// One filter by name: `None` when there is none (or the driver has no nwfilters).
async fn lookup_filter(
    driver: &Connection,
    name: &str,
) -> Result<Option<(NwFilterRef, NwFilterDef)>, OpError> {
    match driver.nwfilter_lookup_by_name(name).await {
        Ok(filter) => {
            let def = filter_def(driver, &filter).await?;
            Ok(Some((filter, def)))
        }
        Err(e) if e.code == ErrorCode::NO_NWFILTER => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn filter_list_path(host: &str, name: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        FILTER_LIST_CLASS,
        &[
            ("CreationClassName", FILTER_LIST_CLASS),
            ("Name", name),
            ("SystemCreationClassName", HOST_CLASS),
            ("SystemName", host),
        ],
    )
}

fn entry_path(kind: EntryKind, host: &str, name: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        kind.class_name(),
        &[
            ("CreationClassName", kind.class_name()),
            ("Name", name),
            ("SystemCreationClassName", HOST_CLASS),
            ("SystemName", host),
        ],
    )
}

/// libvirt-CIM's rule name: `<filter>:<index of the rule among the filter's rules>`.
fn rule_name(filter: &str, index: usize) -> String {
    format!("{filter}:{index}")
}

/// A rule name split into filter and index (a filter name may itself hold ':'; the index follows the last).
fn split_rule_name(name: &str) -> Option<(&str, usize)> {
    let (filter, index) = name.rsplit_once(':')?;
    Some((filter, index.parse().ok()?))
}

/// The rules of a filter, in order, with their names.
fn rules(def: &NwFilterDef) -> impl Iterator<Item = (String, &FilterRule)> {
    def.entries
        .iter()
        .filter_map(|entry| match entry {
            FilterEntry::Rule(rule) => Some(rule),
            FilterEntry::Ref(_) => None,
        })
        .enumerate()
        .map(|(index, rule)| (rule_name(&def.name, index), rule))
}

fn key_str<'a>(path: &'a ObjectPath, name: &str) -> Result<&'a str, OpError> {
    path.key_str(name).ok_or_else(|| {
        OpError::cim(
            CimStatus::NotFound,
            format!("Unable to get {name} from reference"),
        )
    })
}

// ---------------------------------------------------------------------------------------------------------
// KVM_FilterList

pub struct FilterListProvider;

fn filter_list_instance(ctx: &ProviderCtx<'_>, host: &str, def: &NwFilterDef) -> Instance {
    let class = ctx.class;
    let mut inst = ctx.new_instance();
    let s = |v: &str| Value::String(v.to_owned());
    put(&mut inst, class, "SystemCreationClassName", s(HOST_CLASS));
    put(&mut inst, class, "SystemName", s(host));
    put(&mut inst, class, "CreationClassName", s(FILTER_LIST_CLASS));
    put(&mut inst, class, "Name", s(&def.name));
    put(&mut inst, class, "ElementName", s(&def.name));
    put(&mut inst, class, "InstanceID", s(&def.uuid.to_string()));
    put(&mut inst, class, "Direction", Value::Uint16(0));
    put(
        &mut inst,
        class,
        "Priority",
        Value::Sint16(clamp_priority(def.priority)),
    );
    ctx.with_path(inst)
}

fn clamp_priority(priority: i32) -> i16 {
    i16::try_from(priority.clamp(-1000, 1000)).unwrap_or_default()
}

fn escape_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The XML of a new, empty filter (what libvirt-CIM defined): its name and, when given, its chain priority.
fn new_filter_xml(name: &str, priority: Option<i128>) -> String {
    let name = escape_attr(name);
    match priority {
        Some(p) => format!("<filter name='{name}' chain='root' priority='{p}'/>"),
        None => format!("<filter name='{name}' chain='root'/>"),
    }
}

#[async_trait]
impl Provider for FilterListProvider {
    fn class_name(&self) -> &'static str {
        FILTER_LIST_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let host = host_name(ctx.driver).await;
        let defs = read_filters(ctx.driver).await?;
        Ok(defs
            .iter()
            .map(|def| filter_list_instance(ctx, &host, def))
            .collect())
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let name = key_str(path, "Name")?;
        match lookup_filter(ctx.driver, name).await {
            Ok(Some((_, def))) => Ok(filter_list_instance(
                ctx,
                &host_name(ctx.driver).await,
                &def,
            )),
            Ok(None) => Err(not_found(path)),
            Err(OpError::Driver(e)) if e.code == ErrorCode::NO_SUPPORT => Err(not_found(path)),
            Err(e) => Err(e),
        }
    }

    /// Defines a new, empty filter named by the instance's Name (libvirt-CIM takes the keys from the instance).
    async fn create(&self, ctx: &ProviderCtx<'_>, inst: Instance) -> Result<ObjectPath, OpError> {
        let name = inst
            .get_str("Name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                OpError::cim(CimStatus::InvalidParameter, "Unable to get Name property")
            })?
            .to_owned();
        if lookup_filter(ctx.driver, &name).await?.is_some() {
            return Err(OpError::cim(
                CimStatus::AlreadyExists,
                format!("Instance already exists: filter '{name}'"),
            ));
        }
        let priority = inst.get("Priority").and_then(Value::as_i128);
        ctx.driver
            .nwfilter_define_xml(&new_filter_xml(&name, priority), 0)
            .await?;
        Ok(filter_list_path(&host_name(ctx.driver).await, &name))
    }

    async fn delete(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<(), OpError> {
        let name = key_str(path, "Name")?;
        let Some((filter, _)) = lookup_filter(ctx.driver, name).await? else {
            return Err(not_found(path));
        };
        Ok(ctx.driver.nwfilter_undefine(&filter).await?)
    }
}

// ---------------------------------------------------------------------------------------------------------
// KVM_Hdr8021Filter, KVM_IPHeadersFilter, KVM_FilterEntry

/// The class a rule is served as, by its protocol element (libvirt-CIM's split).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EntryKind {
    Hdr8021,
    IpHeaders,
    Other,
}

impl EntryKind {
    pub const ALL: [EntryKind; 3] = [EntryKind::Hdr8021, EntryKind::IpHeaders, EntryKind::Other];

    pub fn class_name(self) -> &'static str {
        match self {
            EntryKind::Hdr8021 => HDR8021_CLASS,
            EntryKind::IpHeaders => IP_HEADERS_CLASS,
            EntryKind::Other => FILTER_ENTRY_CLASS,
        }
    }

    fn of(rule: &FilterRule) -> EntryKind {
        match rule.protocol.as_ref().map(|p| p.element.as_str()) {
            Some("mac" | "arp" | "rarp") => EntryKind::Hdr8021,
            Some(element) if ip_protocol(element).is_some() => EntryKind::IpHeaders,
            _ => EntryKind::Other,
        }
    }
}

/// For the IP-level protocol elements: whether they are IPv6 and the IP protocol number they imply (`None`
/// for `ip`, `ipv6` and `all`, which match any).
fn ip_protocol(element: &str) -> Option<(bool, Option<u8>)> {
    let (base, v6) = match element {
        "ipv6" => ("ip", true),
        "icmpv6" => ("icmpv6", true),
        other => match other.strip_suffix("-ipv6") {
            Some(base) => (base, true),
            None => (other, false),
        },
    };
    let number = match base {
        "ip" | "all" => None,
        "tcp" => Some(6),
        "udp" => Some(17),
        "sctp" => Some(132),
        "icmp" => Some(1),
        "icmpv6" => Some(58),
        "igmp" => Some(2),
        "esp" => Some(50),
        "ah" => Some(51),
        "udplite" => Some(136),
        _ => return None,
    };
    Some((v6, number))
}

/// The IP protocol an `<ip protocol=...>` names, by name or number.
fn named_ip_protocol(text: &str) -> Option<u8> {
    match text {
        "tcp" => Some(6),
        "udp" => Some(17),
        "udplite" => Some(136),
        "esp" => Some(50),
        "ah" => Some(51),
        "icmp" => Some(1),
        "icmpv6" => Some(58),
        "igmp" => Some(2),
        "sctp" => Some(132),
        other => parse_int(other).and_then(|n| u8::try_from(n).ok()),
    }
}

/// A decimal or `0x` hexadecimal number as libvirt's filter attributes take them.
fn parse_int(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// libvirt-CIM's action values: 1 accept (Permit), 2 drop (Deny), 3 reject, 4 return, 5 continue.
fn action_value(action: &str) -> u16 {
    match action {
        "accept" => 1,
        "drop" => 2,
        "reject" => 3,
        "return" => 4,
        "continue" => 5,
        _ => 0,
    }
}

/// 1 in, 2 out, 3 inout.
fn direction_value(direction: &str) -> u16 {
    match direction {
        "in" => 1,
        "out" => 2,
        "inout" => 3,
        _ => 0,
    }
}

fn octets(bytes: Vec<u8>) -> Value {
    Value::Array(
        CimType::Uint8,
        bytes.into_iter().map(Value::Uint8).collect(),
    )
}

/// A literal MAC address or mask as 6 octets (a `$VARIABLE` has no value here).
fn mac_octets(text: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    parts
        .iter()
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect()
}

fn ip_octets(text: &str) -> Option<Vec<u8>> {
    match text.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(a.octets().to_vec()),
        IpAddr::V6(a) => Some(a.octets().to_vec()),
    }
}

/// A mask given as an address or as a prefix length (libvirt takes both), as 4 or 16 octets.
fn mask_octets(text: &str, v6: bool) -> Option<Vec<u8>> {
    if text.contains('.') || text.contains(':') {
        return ip_octets(text);
    }
    let prefix: u32 = text.parse().ok()?;
    let len: u32 = if v6 { 16 } else { 4 };
    if prefix > len * 8 {
        return None;
    }
    Some(
        (0..len)
            .map(|i| {
                let bits = prefix.saturating_sub(i * 8).min(8);
                // bits is at most 8: the shifted value fits a byte.
                u8::try_from((0xff00_u32 >> bits) & 0xff).unwrap_or(0)
            })
            .collect(),
    )
}

fn entry_instance(
    ctx: &ProviderCtx<'_>,
    kind: EntryKind,
    host: &str,
    name: &str,
    rule: &FilterRule,
) -> Instance {
    let class = ctx.class;
    let mut inst = ctx.new_instance();
    let s = |v: &str| Value::String(v.to_owned());
    put(&mut inst, class, "SystemCreationClassName", s(HOST_CLASS));
    put(&mut inst, class, "SystemName", s(host));
    put(&mut inst, class, "CreationClassName", s(kind.class_name()));
    put(&mut inst, class, "Name", s(name));
    put(&mut inst, class, "ElementName", s(name));
    put(
        &mut inst,
        class,
        "Action",
        Value::Uint16(action_value(&rule.action)),
    );
    put(
        &mut inst,
        class,
        "Direction",
        Value::Uint16(direction_value(&rule.direction)),
    );
    put(
        &mut inst,
        class,
        "Priority",
        Value::Sint16(clamp_priority(rule.priority)),
    );
    let protocol = rule.protocol.as_ref();
    put(
        &mut inst,
        class,
        "IsNegated",
        Value::Boolean(protocol.is_some_and(|p| p.negated())),
    );
    let Some(protocol) = protocol else {
        return ctx.with_path(inst);
    };
    let attr = |name: &str| protocol.attr(name);
    match kind {
        EntryKind::Hdr8021 => {
            for (attr_name, prop) in [
                ("srcmacaddr", "HdrSrcMACAddr8021"),
                ("srcmacmask", "HdrSrcMACMask8021"),
                ("dstmacaddr", "HdrDestMACAddr8021"),
                ("dstmacmask", "HdrDestMACMask8021"),
            ] {
                if let Some(bytes) = attr(attr_name).and_then(mac_octets) {
                    put(&mut inst, class, prop, octets(bytes));
                }
            }
            let ethertype = match protocol.element.as_str() {
                "arp" => Some(0x0806),
                "rarp" => Some(0x8035),
                _ => attr("protocolid").and_then(|id| match id {
                    "ipv4" => Some(0x0800),
                    "arp" => Some(0x0806),
                    "rarp" => Some(0x8035),
                    "ipv6" => Some(0x86dd),
                    other => parse_int(other).and_then(|n| u16::try_from(n).ok()),
                }),
            };
            if let Some(ethertype) = ethertype {
                put(
                    &mut inst,
                    class,
                    "HdrProtocolID8021",
                    Value::Uint16(ethertype),
                );
            }
        }
        EntryKind::IpHeaders => {
            let (v6, number) = ip_protocol(&protocol.element).unwrap_or((false, None));
            put(
                &mut inst,
                class,
                "HdrIPVersion",
                Value::Uint8(if v6 { 6 } else { 4 }),
            );
            let number = number.or_else(|| attr("protocol").and_then(named_ip_protocol));
            if let Some(number) = number {
                put(&mut inst, class, "HdrProtocolID", Value::Uint8(number));
            }
            for (side, addr_prop, end_prop, mask_prop) in [
                (
                    "src",
                    "HdrSrcAddress",
                    "HdrSrcAddressEndOfRange",
                    "HdrSrcMask",
                ),
                (
                    "dst",
                    "HdrDestAddress",
                    "HdrDestAddressEndOfRange",
                    "HdrDestMask",
                ),
            ] {
                let from = attr(&format!("{side}ipfrom")).and_then(ip_octets);
                let to = attr(&format!("{side}ipto")).and_then(ip_octets);
                if let (Some(from), Some(to)) = (from, to) {
                    put(&mut inst, class, addr_prop, octets(from));
                    put(&mut inst, class, end_prop, octets(to));
                    continue;
                }
                if let Some(addr) = attr(&format!("{side}ipaddr")).and_then(ip_octets) {
                    put(&mut inst, class, addr_prop, octets(addr));
                }
                if let Some(mask) = attr(&format!("{side}ipmask")).and_then(|m| mask_octets(m, v6))
                {
                    put(&mut inst, class, mask_prop, octets(mask));
                }
            }
            for (attr_name, prop) in [
                ("srcportstart", "HdrSrcPortStart"),
                ("srcportend", "HdrSrcPortEnd"),
                ("dstportstart", "HdrDestPortStart"),
                ("dstportend", "HdrDestPortEnd"),
            ] {
                if let Some(port) = attr(attr_name)
                    .and_then(parse_int)
                    .and_then(|n| u16::try_from(n).ok())
                {
                    put(&mut inst, class, prop, Value::Uint16(port));
                }
            }
            if let Some(dscp) = attr("dscp")
                .and_then(parse_int)
                .and_then(|n| u8::try_from(n).ok())
            {
                put(&mut inst, class, "HdrDSCP", octets(vec![dscp]));
            }
        }
        EntryKind::Other => {}
    }
    ctx.with_path(inst)
}

/// One provider per entry class; each serves the rules of its kind.
pub struct FilterEntryProvider {
    pub kind: EntryKind,
}

#[async_trait]
impl Provider for FilterEntryProvider {
    fn class_name(&self) -> &'static str {
        self.kind.class_name()
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let host = host_name(ctx.driver).await;
        let mut out = Vec::new();
        for def in read_filters(ctx.driver).await? {
            for (name, rule) in rules(&def) {
                if EntryKind::of(rule) == self.kind {
                    out.push(entry_instance(ctx, self.kind, &host, &name, rule));
                }
            }
        }
        Ok(out)
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let name = key_str(path, "Name")?;
        let (filter, _) = split_rule_name(name).ok_or_else(|| not_found(path))?;
        let def = match lookup_filter(ctx.driver, filter).await {
            Ok(Some((_, def))) => def,
            Ok(None) => return Err(not_found(path)),
            Err(OpError::Driver(e)) if e.code == ErrorCode::NO_SUPPORT => {
                return Err(not_found(path))
            }
            Err(e) => return Err(e),
        };
        let host = host_name(ctx.driver).await;
        let found = rules(&def)
            .find(|(rule, r)| rule == name && EntryKind::of(r) == self.kind)
            .map(|(rule, r)| entry_instance(ctx, self.kind, &host, &rule, r));
        found.ok_or_else(|| not_found(path))
    }
}

// ---------------------------------------------------------------------------------------------------------
// The associations

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FilterAssoc {
    Entries,
    Hosted,
    Nested,
    Applied,
}

impl FilterAssoc {
    pub const ALL: [FilterAssoc; 4] = [
        FilterAssoc::Entries,
        FilterAssoc::Hosted,
        FilterAssoc::Nested,
        FilterAssoc::Applied,
    ];

    pub fn class_name(self) -> &'static str {
        match self {
            FilterAssoc::Entries => ENTRIES_CLASS,
            FilterAssoc::Hosted => HOSTED_CLASS,
            FilterAssoc::Nested => NESTED_CLASS,
            FilterAssoc::Applied => APPLIED_CLASS,
        }
    }
}

pub struct FilterAssocProvider {
    pub assoc: FilterAssoc,
}

type Pair = [(&'static str, ObjectPath); 2];

/// A guest's NIC with a `<filterref>`: the domain, the NIC's MAC and the filter it names.
struct AppliedNic {
    domain: String,
    mac: String,
    filter: String,
}

/// The `<filterref>`s of every guest's NICs, from the definitions the guests boot from (as libvirt-CIM read
/// them), a transient guest's from its live one.
async fn applied_nics(driver: &Connection) -> Result<Vec<AppliedNic>, OpError> {
    let mut out = Vec::new();
    for dom in driver.list_all_domains(0).await? {
        let xml = match driver.domain_get_xml_desc(&dom, flags::XML_INACTIVE).await {
            Ok(xml) => xml,
            Err(e) if e.code == ErrorCode::NO_DOMAIN => continue,
            Err(e) => return Err(e.into()),
        };
        let Ok(def) = DomainDef::from_xml(&xml, false) else {
            continue;
        };
        for iface in &def.devices.interfaces {
            if let Some(filter) = &iface.filterref {
                out.push(AppliedNic {
                    domain: def.name.clone(),
                    mac: iface.mac.clone(),
                    filter: filter.filter.clone(),
                });
            }
        }
    }
    Ok(out)
}

impl FilterAssocProvider {
    async fn pairs(&self, driver: &Connection) -> Result<Vec<Pair>, OpError> {
        let host = host_name(driver).await;
        let defs = read_filters(driver).await?;
        let list = |name: &str| filter_list_path(&host, name);
        let mut out = Vec::new();
        match self.assoc {
            FilterAssoc::Hosted => {
                for def in &defs {
                    out.push([
                        ("Antecedent", host_path(&host)),
                        ("Dependent", list(&def.name)),
                    ]);
                }
            }
            FilterAssoc::Entries => {
                for def in &defs {
                    for (name, rule) in rules(def) {
                        out.push([
                            ("GroupComponent", list(&def.name)),
                            (
                                "PartComponent",
                                entry_path(EntryKind::of(rule), &host, &name),
                            ),
                        ]);
                    }
                }
            }
            FilterAssoc::Nested => {
                for def in &defs {
                    let mut seen: Vec<&str> = Vec::new();
                    for child in def.references() {
                        // Only references to filters that exist (libvirt-CIM looked each one up), once each.
                        if seen.contains(&child) || !defs.iter().any(|d| d.name == child) {
                            continue;
                        }
                        seen.push(child);
                        out.push([("Antecedent", list(&def.name)), ("Dependent", list(child))]);
                    }
                }
            }
            FilterAssoc::Applied => {
                if defs.is_empty() {
                    return Ok(out);
                }
                for nic in applied_nics(driver).await? {
                    if !defs.iter().any(|d| d.name == nic.filter) {
                        continue;
                    }
                    out.push([
                        (
                            "Antecedent",
                            device_path(ResourceKind::Network, &nic.domain, &nic.mac),
                        ),
                        ("Dependent", list(&nic.filter)),
                    ]);
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Provider for FilterAssocProvider {
    fn class_name(&self) -> &'static str {
        self.assoc.class_name()
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        Ok(self
            .pairs(ctx.driver)
            .await?
            .iter()
            .map(|refs| assoc_instance(ctx, refs))
            .collect())
    }

    async fn create(&self, ctx: &ProviderCtx<'_>, inst: Instance) -> Result<ObjectPath, OpError> {
        let antecedent = reference(inst.get("Antecedent"), "Antecedent")?;
        let dependent = reference(inst.get("Dependent"), "Dependent")?;
        match self.assoc {
            FilterAssoc::Nested => {
                set_nested(ctx.driver, &antecedent, &dependent, true).await?;
            }
            FilterAssoc::Applied => {
                set_applied(ctx.driver, &antecedent, &dependent, true).await?;
            }
            _ => return Err(super::not_supported("CreateInstance")),
        }
        let inst = assoc_instance(ctx, &[("Antecedent", antecedent), ("Dependent", dependent)]);
        inst.path
            .ok_or_else(|| OpError::cim(CimStatus::Failed, "no path for the new instance"))
    }

    async fn delete(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<(), OpError> {
        let antecedent = reference(path.key("Antecedent"), "Antecedent")?;
        let dependent = reference(path.key("Dependent"), "Dependent")?;
        match self.assoc {
            FilterAssoc::Nested => set_nested(ctx.driver, &antecedent, &dependent, false).await,
            FilterAssoc::Applied => set_applied(ctx.driver, &antecedent, &dependent, false).await,
            _ => Err(super::not_supported("DeleteInstance")),
        }
    }
}

fn reference(value: Option<&Value>, role: &str) -> Result<ObjectPath, OpError> {
    match value {
        Some(Value::Reference(path)) => Ok((**path).clone()),
        _ => Err(OpError::cim(
            CimStatus::InvalidParameter,
            format!("Unable to get {role} property"),
        )),
    }
}

fn ref_key<'a>(path: &'a ObjectPath, role: &str, key: &str) -> Result<&'a str, OpError> {
    path.key_str(key).ok_or_else(|| {
        OpError::cim(
            CimStatus::InvalidParameter,
            format!("Unable to get {role}.{key} property"),
        )
    })
}

/// A filter a new association names: it must exist (CIM_ERR_FAILED as libvirt-CIM otherwise).
async fn existing_filter(
    driver: &Connection,
    name: &str,
    role: &str,
) -> Result<(NwFilterRef, NwFilterDef), OpError> {
    lookup_filter(driver, name).await?.ok_or_else(|| {
        OpError::cim(
            CimStatus::Failed,
            format!("{role}.Name object does not exist: no filter '{name}'"),
        )
    })
}

/// Adds (`on`) or removes a `<filterref>` of the Antecedent filter to the Dependent one, by redefining it.
async fn set_nested(
    driver: &Connection,
    antecedent: &ObjectPath,
    dependent: &ObjectPath,
    on: bool,
) -> Result<(), OpError> {
    let parent = ref_key(antecedent, "Antecedent", "Name")?;
    let child = ref_key(dependent, "Dependent", "Name")?;
    let (_, mut def) = existing_filter(driver, parent, "Antecedent").await?;
    existing_filter(driver, child, "Dependent").await?;
    let present = def.references().any(|r| r == child);
    if on {
        if present {
            return Err(OpError::cim(
                CimStatus::AlreadyExists,
                format!("filter '{parent}' already references filter '{child}'"),
            ));
        }
        def.entries.push(FilterEntry::Ref(FilterRef {
            filter: child.to_owned(),
            params: Vec::new(),
        }));
    } else {
        if !present {
            return Err(OpError::cim(
                CimStatus::NotFound,
                format!("filter '{parent}' does not reference filter '{child}'"),
            ));
        }
        def.entries
            .retain(|e| !matches!(e, FilterEntry::Ref(r) if r.filter == child));
    }
    driver
        .nwfilter_define_xml(&format_nwfilter(&def), 0)
        .await?;
    Ok(())
}

/// Sets (`on`) or clears the `<filterref>` of the Antecedent guest NIC to the Dependent filter: in the guest's
/// definition (what libvirt-CIM did) and, when the guest runs, on its live interface first, so the host port is
/// bound or unbound now. A driver that cannot update a live interface ("not supported") gets the change in the
/// definition only, effective at the next start, as libvirt-CIM did.
async fn set_applied(
    driver: &Connection,
    antecedent: &ObjectPath,
    dependent: &ObjectPath,
    on: bool,
) -> Result<(), OpError> {
    let device_id = ref_key(antecedent, "Antecedent", "DeviceID")?;
    let filter = ref_key(dependent, "Dependent", "Name")?;
    existing_filter(driver, filter, "Dependent").await?;
    let no_device = || {
        OpError::cim(
            CimStatus::NotFound,
            format!("Antecedent.DeviceID object does not exist: no network port '{device_id}'"),
        )
    };
    let (domain, mac) = split_fq_devid(device_id).ok_or_else(no_device)?;
    let dom = match driver.domain_lookup_by_name(domain).await {
        Ok(dom) => dom,
        Err(e) if e.code == ErrorCode::NO_DOMAIN => return Err(no_device()),
        Err(e) => return Err(e.into()),
    };
    let xml = driver
        .domain_get_xml_desc(&dom, flags::XML_INACTIVE | flags::XML_SECURE)
        .await?;
    let mut config = DomainDef::from_xml(&xml, false)?;
    let current = config
        .devices
        .interfaces
        .iter()
        .find(|i| i.mac.eq_ignore_ascii_case(mac))
        .and_then(|i| i.filterref.as_ref())
        .map(|f| f.filter.as_str());
    if on && current == Some(filter) {
        return Err(OpError::cim(
            CimStatus::AlreadyExists,
            format!("filter '{filter}' is already applied to network port '{device_id}'"),
        ));
    }
    let changed = change_filterref(&mut config, mac, filter, on).ok_or_else(no_device)?;
    if !changed {
        return Err(OpError::cim(
            CimStatus::NotFound,
            format!("network port '{device_id}' has no filter '{filter}'"),
        ));
    }
    if driver.domain_is_active(&dom).await? {
        update_live(driver, &dom, mac, filter, on).await?;
    }
    if driver.domain_is_persistent(&dom).await? {
        let xml = config.to_xml(&crate::model::DomainXmlOptions {
            id: None,
            secure: true,
        });
        driver.domain_define_xml(&xml, 0).await?;
    }
    Ok(())
}

/// Sets or clears the filterref of the NIC with this MAC: `None` when there is no such NIC, `Some(false)` when
/// there is nothing to clear.
fn change_filterref(def: &mut DomainDef, mac: &str, filter: &str, on: bool) -> Option<bool> {
    let iface = def
        .devices
        .interfaces
        .iter_mut()
        .find(|i| i.mac.eq_ignore_ascii_case(mac))?;
    if on {
        // The parameters stay when the same filter is applied again; another filter starts without them.
        let params = match &iface.filterref {
            Some(old) if old.filter == filter => old.params.clone(),
            _ => Vec::new(),
        };
        iface.filterref = Some(FilterRef {
            filter: filter.to_owned(),
            params,
        });
        Some(true)
    } else if iface.filterref.as_ref().is_some_and(|f| f.filter == filter) {
        iface.filterref = None;
        Some(true)
    } else {
        Some(false)
    }
}

async fn update_live(
    driver: &Connection,
    dom: &DomainRef,
    mac: &str,
    filter: &str,
    on: bool,
) -> Result<(), OpError> {
    let xml = driver.domain_get_xml_desc(dom, flags::XML_SECURE).await?;
    let mut live = DomainDef::from_xml(&xml, false)?;
    match change_filterref(&mut live, mac, filter, on) {
        Some(true) => {}
        // A NIC only in the definition, or live without this filter: nothing to change now.
        _ => return Ok(()),
    }
    let Some(mac_of_live) = live
        .devices
        .interfaces
        .iter()
        .find(|i| i.mac.eq_ignore_ascii_case(mac))
        .map(|i| i.mac.clone())
    else {
        return Ok(());
    };
    let Some((_, device)) = device_xml(&live, &mac_of_live) else {
        return Ok(());
    };
    match driver
        .domain_update_device(dom, &device, flags::AFFECT_LIVE)
        .await
    {
        Err(e) if e.code == ErrorCode::NO_SUPPORT => {
            tracing::info!(domain = %dom.name, "live interface update not supported: filter change applies at the next start");
            Ok(())
        }
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_from_prefixes_and_addresses() {
        assert_eq!(mask_octets("24", false), Some(vec![255, 255, 255, 0]));
        assert_eq!(mask_octets("0", false), Some(vec![0, 0, 0, 0]));
        assert_eq!(mask_octets("20", false), Some(vec![255, 255, 240, 0]));
        assert_eq!(
            mask_octets("255.255.0.0", false),
            Some(vec![255, 255, 0, 0])
        );
        assert_eq!(mask_octets("33", false), None);
        let v6 = mask_octets("64", true).unwrap();
        assert_eq!(v6.len(), 16);
        assert_eq!(&v6[..9], &[255, 255, 255, 255, 255, 255, 255, 255, 0]);
    }

    #[test]
    fn rule_names_split_at_the_last_colon() {
        assert_eq!(
            split_rule_name("clean-traffic:0"),
            Some(("clean-traffic", 0))
        );
        assert_eq!(split_rule_name("a:b:12"), Some(("a:b", 12)));
        assert_eq!(split_rule_name("nocolon"), None);
        assert_eq!(split_rule_name("x:y"), None);
    }

    #[test]
    fn rules_are_classed_by_protocol_element() {
        let def = parse_nwfilter(
            "<filter name='t' chain='root'>\
             <rule action='drop' direction='out' priority='-10'><mac srcmacaddr='52:54:00:00:00:01' protocolid='0x0800'/></rule>\
             <rule action='accept' direction='in'><tcp srcipaddr='192.0.2.0' srcipmask='24' dstportstart='22' dstportend='23'/></rule>\
             <filterref filter='other'/>\
             <rule action='reject' direction='inout'><icmpv6/></rule>\
             <rule action='return' direction='in'><stp/></rule>\
             <rule action='continue' direction='out'><arp/></rule>\
             </filter>",
            false,
        )
        .unwrap();
        let kinds: Vec<(String, EntryKind)> =
            rules(&def).map(|(n, r)| (n, EntryKind::of(r))).collect();
        assert_eq!(
            kinds,
            [
                ("t:0".to_string(), EntryKind::Hdr8021),
                ("t:1".to_string(), EntryKind::IpHeaders),
                ("t:2".to_string(), EntryKind::IpHeaders),
                ("t:3".to_string(), EntryKind::Other),
                ("t:4".to_string(), EntryKind::Hdr8021),
            ]
        );
        assert_eq!(ip_protocol("icmpv6"), Some((true, Some(58))));
        assert_eq!(ip_protocol("tcp-ipv6"), Some((true, Some(6))));
        assert_eq!(ip_protocol("all"), Some((false, None)));
        assert_eq!(ip_protocol("stp"), None);
        assert_eq!(
            mac_octets("52:54:00:00:00:01"),
            Some(vec![0x52, 0x54, 0, 0, 0, 1])
        );
        assert_eq!(mac_octets("$MAC"), None);
    }

    #[test]
    fn a_new_filter_is_an_escaped_empty_root_filter() {
        assert_eq!(
            new_filter_xml("a'b", Some(-100)),
            "<filter name='a&apos;b' chain='root' priority='-100'/>"
        );
        let def = parse_nwfilter(&new_filter_xml("plain", None), false).unwrap();
        assert_eq!(def.name, "plain");
        assert!(def.entries.is_empty());
    }
}
