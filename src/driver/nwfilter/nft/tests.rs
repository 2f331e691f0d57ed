//! The translation to nftables as a pure function, and (as root with nft) the kernel's own check of it.

use super::*;
use crate::model::{parse_nwfilter, parse_nwfilter_binding};

fn stock() -> BTreeMap<String, NwFilterDef> {
    super::super::stock::STOCK_FILTERS
        .iter()
        .map(|(name, xml)| (name.to_string(), parse_nwfilter(xml, false).unwrap()))
        .collect()
}

fn binding(port: &str, filter: &str, params: &str) -> NwFilterBindingDef {
    parse_nwfilter_binding(
        &format!(
            "<filterbinding><owner><name>g</name><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid></owner>\
             <portdev name='{port}'/><mac address='52:54:00:12:34:56'/>\
             <filterref filter='{filter}'>{params}</filterref></filterbinding>"
        ),
        false,
    )
    .unwrap()
}

#[test]
fn clean_traffic_becomes_per_port_chains_in_priority_order() {
    let filters = stock();
    let b = binding(
        "vnet7",
        "clean-traffic",
        "<parameter name='IP' value='10.1.2.3'/>",
    );
    let script = ruleset_script("t1", &filters, &[&b]).unwrap();
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(
        lines[..2],
        ["add table bridge t1", "delete table bridge t1"]
    );
    // MAC spoofing: only the guest's own source MAC returns, everything else is dropped.
    assert!(script.contains(
        "add rule bridge t1 o-vnet7-mac ether saddr == 52:54:00:12:34:56 return\n\
         add rule bridge t1 o-vnet7-mac drop\n"
    ));
    // IP spoofing through the IP parameter, DHCP from 0.0.0.0 first.
    assert!(script.contains(
        "add rule bridge t1 o-vnet7-ipv4-ip ether type ip ip saddr == 0.0.0.0 ip protocol == udp return\n\
         add rule bridge t1 o-vnet7-ipv4-ip ether type ip ip saddr == 10.1.2.3 return\n\
         add rule bridge t1 o-vnet7-ipv4-ip drop\n"
    ));
    // ARP: the sender MAC and IP must be the guest's.
    assert!(script
        .contains("o-vnet7-arp-mac ether type arp arp saddr ether == 52:54:00:12:34:56 return"));
    assert!(script.contains("o-vnet7-arp-ip ether type arp arp saddr ip == 10.1.2.3 return"));
    // The root chain: jumps at their chain priorities, rules at theirs, the final drop last.
    let root: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("add rule bridge t1 o-vnet7 "))
        .collect();
    assert_eq!(
        root,
        [
            "jump o-vnet7-mac",
            "ether type ip jump o-vnet7-ipv4-ip",
            "ether type ip jump o-vnet7-ipv4",
            "ether type == ip accept",
            "ether type arp jump o-vnet7-arp-mac",
            "ether type arp jump o-vnet7-arp-ip",
            "ether type == arp accept",
            "ether type 0x8035 jump o-vnet7-rarp",
            "ether type == 0x0835 accept",
            "drop",
        ]
    );
    // Traffic to the guest: incoming IPv4 allowed, no spoofing checks.
    assert!(script.contains("add rule bridge t1 i-vnet7-ipv4 accept"));
    assert!(!script.contains("i-vnet7-mac ether saddr"));
    assert!(script.contains("add element bridge t1 from_guest { \"vnet7\" : jump o-vnet7 }"));
    assert!(script.contains("add rule bridge t1 prerouting iifname vmap @from_guest"));
}

#[test]
fn list_variables_expand_and_missing_ones_skip_the_rule() {
    let filters = stock();
    let two = binding(
        "vnet8",
        "no-ip-spoofing",
        "<parameter name='IP' value='10.0.0.1'/><parameter name='IP' value='10.0.0.2'/>",
    );
    let script = ruleset_script("t2", &filters, &[&two]).unwrap();
    assert!(script.contains("ip saddr == 10.0.0.1 return"));
    assert!(script.contains("ip saddr == 10.0.0.2 return"));
    let none = binding("vnet9", "no-ip-spoofing", "");
    let script = ruleset_script("t2", &filters, &[&none]).unwrap();
    assert!(!script.contains("$IP"));
    assert!(script.contains("ip saddr == 0.0.0.0 ip protocol == udp return"));
}

#[test]
fn no_binding_removes_the_table_and_bad_input_is_refused() {
    let filters = stock();
    assert_eq!(
        ruleset_script("t3", &filters, &[]).unwrap(),
        "add table bridge t3\ndelete table bridge t3\n"
    );
    let missing = binding("vnet1", "nope", "");
    let err = ruleset_script("t3", &filters, &[&missing]).unwrap_err();
    assert_eq!(
        err.message,
        "internal error: referenced filter 'nope' is missing"
    );
    // A value that is not an address never reaches nft.
    let evil = binding(
        "vnet1",
        "no-ip-spoofing",
        "<parameter name='IP' value='1.2.3.4 accept'/>",
    );
    let err = ruleset_script("t3", &filters, &[&evil]).unwrap_err();
    assert_eq!(err.code, ErrorCode::BUILD_FIREWALL);
    assert!(
        !valid_port_name("a b") && !valid_port_name("0123456789abcdef") && valid_port_name("vnet0")
    );
}

#[test]
fn protocol_elements_translate_to_nft_matches() {
    let mut filters = BTreeMap::new();
    let def = parse_nwfilter(
        "<filter name='p' chain='root'>\
         <rule action='accept' direction='in' priority='1'><tcp dstportstart='22' dstportend='23' srcipaddr='192.168.0.0' srcipmask='255.255.0.0'/></rule>\
         <rule action='reject' direction='out' priority='2'><icmp type='8' code='0'/></rule>\
         <rule action='drop' direction='out' priority='3'><ipv6 srcipaddr='FE80::' srcipmask='10' protocol='udp'/></rule>\
         <rule action='drop' direction='out' priority='4'><mac match='no' srcmacaddr='52:54:00:00:00:00' srcmacmask='ff:ff:ff:00:00:00'/></rule>\
         <rule action='accept' direction='out' priority='5'><rarp opcode='Request_Reverse' arpsrcipaddr='0.0.0.0'/></rule>\
         <rule action='continue' direction='out' priority='6'><all-ipv6 comment='all v6'/></rule>\
         </filter>",
        false,
    )
    .unwrap();
    filters.insert("p".to_string(), def);
    let b = binding("tap1", "p", "");
    let script = ruleset_script("t4", &filters, &[&b]).unwrap();
    for want in [
        "i-tap1 ether type ip ip saddr == 192.168.0.0/16 ip protocol tcp th dport == 22-23 accept",
        "o-tap1 ether type ip ip protocol icmp icmp type == 8 icmp code == 0 drop",
        "o-tap1 ether type ip6 ip6 saddr == fe80::/10 ip6 nexthdr == udp drop",
        "o-tap1 ether saddr & ff:ff:ff:00:00:00 != 52:54:00:00:00:00 drop",
        "o-tap1 ether type 0x8035 @nh,48,16 == 3 @nh,112,32 & 0xffffffff == 0x00000000 accept",
        "o-tap1 ether type ip6 continue comment \"all v6\"",
    ] {
        assert!(script.contains(want), "{want}\n{script}");
    }
}

/// The kernel's own check of a generated ruleset (`nft -c`: nothing is applied), when nft and root are here.
#[test]
fn nft_accepts_the_generated_ruleset() {
    let usable = nix::unistd::geteuid().is_root()
        && std::process::Command::new("nft")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !usable {
        eprintln!("skipped: needs root and nft");
        return;
    }
    let filters = stock();
    let a = binding(
        "vnetc1",
        "clean-traffic",
        "<parameter name='IP' value='10.1.2.3'/>",
    );
    let b = binding(
        "vnetc2",
        "clean-traffic-gateway",
        "<parameter name='GATEWAY_MAC' value='52:54:00:00:00:01'/>",
    );
    let c = binding(
        "vnetc3",
        "allow-dhcpv6-server",
        "<parameter name='DHCPSERVER' value='fe80::1'/>",
    );
    let table = format!("virtcim_check_{}", std::process::id());
    let script = ruleset_script(&table, &filters, &[&a, &b, &c]).unwrap();
    let mut child = std::process::Command::new("nft")
        .args(["-c", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}
