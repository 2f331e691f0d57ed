//! Pure parts of the host network driver: the dnsmasq configuration and hosts file, the nftables ruleset, lease
//! parsing, route collisions and `ip-dhcp-host` updates.

use super::*;
use std::path::Path;

fn def(xml: &str) -> NetworkDef {
    NetworkDef::from_xml(xml, true).unwrap()
}

const NAT: &str = "<network><name>n1</name><uuid>11111111-2222-4333-8444-555555555555</uuid>\
    <forward mode='nat'/><bridge name='vctest0' stp='on' delay='0'/>\
    <ip address='10.77.1.1' netmask='255.255.255.0'><dhcp><range start='10.77.1.10' end='10.77.1.19'/>\
    <host mac='52:54:00:00:00:01' name='one' ip='10.77.1.5'/></dhcp></ip></network>";

#[test]
fn dnsmasq_conf_is_libvirts_layout_with_our_files() {
    let files = dnsmasq::Files::new(Path::new("/s"), Path::new("/r"), "n1");
    let text = dnsmasq::conf(&def(NAT), "vctest0", &files);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        [
            "strict-order",
            "user=root",
            "pid-file=/r/n1.pid",
            "except-interface=lo",
            "bind-dynamic",
            "interface=vctest0",
            "dhcp-range=10.77.1.10,10.77.1.19,255.255.255.0",
            "dhcp-no-override",
            "dhcp-authoritative",
            "dhcp-lease-max=10",
            "dhcp-hostsfile=/s/n1.hostsfile",
            "dhcp-leasefile=/s/n1.leases",
            "addn-hosts=/s/n1.addnhosts",
        ]
    );
    assert_eq!(
        dnsmasq::hostsfile(&def(NAT)),
        "52:54:00:00:00:01,10.77.1.5,one\n"
    );
    // Without DHCP, dnsmasq only serves DNS.
    let plain = def("<network><name>p</name><ip address='10.78.0.1' prefix='16'/></network>");
    let text = dnsmasq::conf(&plain, "b", &files);
    assert!(!text.contains("dhcp"), "{text}");
    // Static hosts only: a static range of the subnet.
    let hosts = def(
        "<network><name>h</name><ip address='10.79.0.1' prefix='24'><dhcp>\
        <host mac='52:54:00:00:00:02' ip='10.79.0.9'/></dhcp></ip></network>",
    );
    assert!(
        dnsmasq::conf(&hosts, "b", &files).contains("dhcp-range=10.79.0.0,static,255.255.255.0\n")
    );
    assert!(dnsmasq::wanted(&plain));
    assert!(!dnsmasq::wanted(&def(
        "<network><name>b</name><forward mode='bridge'/><bridge name='br0'/></network>"
    )));
}

#[test]
fn nat_ruleset_follows_libvirts_nftables_rules() {
    let text = firewall::ruleset(&def(NAT), "vctest0").unwrap();
    let expected = "table inet virtcim_111111112222433384445555555555555 {\n";
    assert!(
        text.starts_with(&expected.replace("5555555555555", "555555555555")),
        "{text}"
    );
    let rules: Vec<&str> = text.lines().map(str::trim).collect();
    for rule in [
        "type filter hook forward priority filter; policy accept;",
        "iifname \"vctest0\" oifname \"vctest0\" counter accept",
        "oifname \"vctest0\" ip daddr 10.77.1.0/24 ct state related,established counter accept",
        "oifname \"vctest0\" counter reject",
        "iifname \"vctest0\" ip saddr 10.77.1.0/24 counter accept",
        "iifname \"vctest0\" counter reject",
        "type nat hook postrouting priority srcnat; policy accept;",
        "ip saddr 10.77.1.0/24 ip daddr 224.0.0.0/24 counter return",
        "ip saddr 10.77.1.0/24 ip daddr 255.255.255.255/32 counter return",
        "meta l4proto tcp ip saddr 10.77.1.0/24 ip daddr != 10.77.1.0/24 counter masquerade to :1024-65535",
        "meta l4proto udp ip saddr 10.77.1.0/24 ip daddr != 10.77.1.0/24 counter masquerade to :1024-65535",
        "ip saddr 10.77.1.0/24 ip daddr != 10.77.1.0/24 counter masquerade",
    ] {
        assert!(rules.contains(&rule), "missing {rule}:\n{text}");
    }
    let pos = |r: &str| rules.iter().position(|l| *l == r).unwrap();
    assert!(pos("oifname \"vctest0\" counter reject") > pos("oifname \"vctest0\" ip daddr 10.77.1.0/24 ct state related,established counter accept"));
    assert!(
        pos("ip saddr 10.77.1.0/24 ip daddr != 10.77.1.0/24 counter masquerade")
            > pos("ip saddr 10.77.1.0/24 ip daddr 224.0.0.0/24 counter return")
    );
}

#[test]
fn route_isolated_and_open_rulesets() {
    let routed = def(
        "<network><name>r</name><forward mode='route' dev='eth9'/><bridge name='b1'/>\
        <ip address='10.80.0.1' prefix='24'/></network>",
    );
    let text = firewall::ruleset(&routed, "b1").unwrap();
    assert!(
        text.contains("oifname \"b1\" iifname \"eth9\" ip daddr 10.80.0.0/24 counter accept"),
        "{text}"
    );
    assert!(
        text.contains("iifname \"b1\" oifname \"eth9\" ip saddr 10.80.0.0/24 counter accept"),
        "{text}"
    );
    assert!(
        !text.contains("masquerade") && !text.contains("postrouting"),
        "{text}"
    );
    let isolated = def(
        "<network><name>i</name><bridge name='b2'/><ip address='10.81.0.1' prefix='24'/></network>",
    );
    let text = firewall::ruleset(&isolated, "b2").unwrap();
    let rules: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("counter"))
        .collect();
    assert_eq!(
        rules,
        [
            "iifname \"b2\" oifname \"b2\" counter accept",
            "oifname \"b2\" counter reject",
            "iifname \"b2\" counter reject",
        ]
    );
    let open = def("<network><name>o</name><forward mode='open'/><bridge name='b3'/><ip address='10.82.0.1' prefix='24'/></network>");
    assert_eq!(firewall::ruleset(&open, "b3"), None);
}

#[test]
fn leases_come_from_dnsmasqs_lease_file() {
    let text = "1900000000 52:54:00:AA:BB:CC 10.77.1.12 guest1 01:52:54:00:aa:bb:cc\n\
                0 52:54:00:00:00:01 10.77.1.5 * *\n\
                duid 00:01:00:01\n";
    let leases = dnsmasq::parse_leases(text, &def(NAT), "vctest0", None);
    assert_eq!(leases.len(), 2);
    assert_eq!(leases[0].mac.as_deref(), Some("52:54:00:aa:bb:cc"));
    assert_eq!(leases[0].ip.as_deref(), Some("10.77.1.12"));
    assert_eq!(leases[0].prefix, 24);
    assert_eq!(leases[0].hostname.as_deref(), Some("guest1"));
    assert_eq!(leases[0].iface, "vctest0");
    assert_eq!(leases[1].hostname, None);
    let one = dnsmasq::parse_leases(text, &def(NAT), "vctest0", Some("52:54:00:00:00:01"));
    assert_eq!(one.len(), 1);
}

#[test]
fn a_host_route_on_the_subnet_is_a_collision() {
    // 10.77.1.0/24 on eth0, as /proc/net/route prints it on a little-endian host.
    let dest = u32::from_ne_bytes([10, 77, 1, 0]);
    let mask = u32::from_ne_bytes([255, 255, 255, 0]);
    let routes = format!(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
         eth0\t{dest:08X}\t00000000\t0001\t0\t0\t0\t{mask:08X}\t0\t0\t0\n"
    );
    let err = bridge::route_collision(&def(NAT), &routes).unwrap_err();
    assert_eq!(err.code, ErrorCode::INTERNAL_ERROR);
    assert_eq!(
        err.message,
        "internal error: Network is already in use by interface eth0"
    );
    let other = routes.replace(
        &format!("{dest:08X}"),
        &format!("{:08X}", u32::from_ne_bytes([10, 99, 1, 0])),
    );
    assert!(bridge::route_collision(&def(NAT), &other).is_ok());
}

#[test]
fn dhcp_host_updates_add_modify_delete() {
    let mut d = def(NAT);
    let host = |xml: &str| DhcpHost::from_xml(xml, "n1").unwrap();
    update_dhcp_host(
        &mut d,
        nu::COMMAND_ADD_LAST,
        -1,
        &host("<host mac='52:54:00:00:00:02' name='two' ip='10.77.1.6'/>"),
    )
    .unwrap();
    assert_eq!(d.ips[0].dhcp_hosts.len(), 2);
    let err = update_dhcp_host(
        &mut d,
        nu::COMMAND_ADD_LAST,
        -1,
        &host("<host mac='52:54:00:00:00:02' ip='10.77.1.7'/>"),
    )
    .unwrap_err();
    assert!(
        err.message.contains("there is an existing dhcp host entry"),
        "{}",
        err.message
    );
    update_dhcp_host(
        &mut d,
        nu::COMMAND_MODIFY,
        -1,
        &host("<host mac='52:54:00:00:00:02' name='deux' ip='10.77.1.8'/>"),
    )
    .unwrap();
    assert_eq!(d.ips[0].dhcp_hosts[1].name.as_deref(), Some("deux"));
    update_dhcp_host(
        &mut d,
        nu::COMMAND_DELETE,
        -1,
        &host("<host mac='52:54:00:00:00:02'/>"),
    )
    .unwrap();
    assert_eq!(d.ips[0].dhcp_hosts.len(), 1);
    let err = update_dhcp_host(
        &mut d,
        nu::COMMAND_DELETE,
        -1,
        &host("<host mac='52:54:00:00:00:09'/>"),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::OPERATION_INVALID);
    assert!(DhcpHost::from_xml("<host ip='10.77.1.9'/>", "n1").is_err());
    assert!(DhcpHost::from_xml("<nothost/>", "n1").is_err());
    assert!(d
        .to_xml()
        .contains("<host mac='52:54:00:00:00:01' name='one' ip='10.77.1.5'/>"));
}
