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
    let text = dnsmasq::conf(&def(NAT), "vctest0", &files, Some("root")).unwrap();
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
    let text = dnsmasq::conf(&plain, "b", &files, None).unwrap();
    assert!(!text.contains("dhcp-range"), "{text}");
    assert!(!text.contains("user="), "{text}");
    // Isolated: no default route handed out, nothing forwarded to the host's resolvers.
    assert!(text.contains("dhcp-option=3\nno-resolv\n"), "{text}");
    // Static hosts only: a static range of the subnet.
    let hosts = def(
        "<network><name>h</name><ip address='10.79.0.1' prefix='24'><dhcp>\
        <host mac='52:54:00:00:00:02' ip='10.79.0.9'/></dhcp></ip></network>",
    );
    assert!(dnsmasq::conf(&hosts, "b", &files, None)
        .unwrap()
        .contains("dhcp-range=10.79.0.1,static\n"));
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

const DNS: &str = "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>\
    <name>d1</name><forward mode='nat'/><bridge name='vcd0'/><mtu size='1400'/>\
    <domain name='lab.example' localOnly='yes'/>\
    <dns forwardPlainNames='no'><forwarder domain='corp.example' addr='10.1.1.1'/><forwarder domain='nowhere.example'/>\
    <txt name='info' value='hello world'/>\
    <srv service='ldap' protocol='tcp' domain='lab.example' target='ldap.lab.example' port='389' priority='10' weight='5'/>\
    <srv service='www' protocol='tcp' target='.'/>\
    <host ip='10.80.0.7'><hostname>seven</hostname><hostname>seven.lab.example</hostname></host></dns>\
    <ip address='10.80.0.1' prefix='24' localPtr='yes'><tftp root='/srv/tftp'/><dhcp>\
    <range start='10.80.0.10' end='10.80.0.19'><lease expiry='2' unit='hours'/></range>\
    <host mac='52:54:00:00:00:03' name='three' ip='10.80.0.3'><lease expiry='0'/></host>\
    <bootp file='pxelinux.0' server='10.80.0.1'/></dhcp></ip>\
    <dnsmasq:options><dnsmasq:option value='log-queries'/></dnsmasq:options></network>";

#[test]
fn dns_domain_tftp_bootp_mtu_and_options_reach_dnsmasq_as_libvirt_writes_them() {
    let files = dnsmasq::Files::new(Path::new("/s"), Path::new("/r"), "d1");
    let net = def(DNS);
    let text = dnsmasq::conf(&net, "vcd0", &files, None).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        [
            "strict-order",
            "server=/corp.example/10.1.1.1",
            "server=/nowhere.example/#",
            "local=/lab.example/",
            "domain=lab.example",
            "expand-hosts",
            "local=/0.80.10.in-addr.arpa/",
            "domain-needed",
            "local=//",
            "pid-file=/r/d1.pid",
            "except-interface=lo",
            "bind-dynamic",
            "interface=vcd0",
            "txt-record=info,hello world",
            "srv-host=_ldap._tcp.lab.example,ldap.lab.example,389,10,5",
            "srv-host=_www._tcp",
            "dhcp-range=10.80.0.10,10.80.0.19,255.255.255.0,2h",
            "dhcp-no-override",
            "dhcp-authoritative",
            "enable-tftp",
            "tftp-root=/srv/tftp",
            "dhcp-boot=pxelinux.0,,10.80.0.1",
            "dhcp-lease-max=10",
            "dhcp-hostsfile=/s/d1.hostsfile",
            "dhcp-leasefile=/s/d1.leases",
            "addn-hosts=/s/d1.addnhosts",
            "dhcp-option=option:mtu,1400",
            "log-queries",
        ]
    );
    assert_eq!(
        dnsmasq::hostsfile(&net),
        "52:54:00:00:00:03,10.80.0.3,three,infinite\n"
    );
    assert_eq!(
        dnsmasq::addn_hosts(&net),
        "10.80.0.7\tseven\tseven.lab.example\n"
    );
    // Round trip through the formatter, namespace included.
    let xml = net.to_xml();
    assert!(
        xml.contains("<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"),
        "{xml}"
    );
    assert_eq!(NetworkDef::from_xml(&xml, true).unwrap(), net);
    // DNS off: port 0, no addn-hosts, and no dnsmasq at all without DHCP.
    let off = def(
        "<network><name>o</name><dns enable='no'/><ip address='10.81.0.1' prefix='24'/></network>",
    );
    assert!(!dnsmasq::wanted(&off));
    let off_dhcp = def(
        "<network><name>o</name><dns enable='no'/><ip address='10.81.0.1' prefix='24'>\
        <dhcp><range start='10.81.0.5' end='10.81.0.6'/></dhcp></ip></network>",
    );
    let text = dnsmasq::conf(&off_dhcp, "b", &files, None).unwrap();
    assert!(
        text.contains("port=0\n") && !text.contains("addn-hosts"),
        "{text}"
    );
    // A PTR zone needs whole octets.
    let odd = def(
        "<network><name>p</name><ip address='10.82.0.1' prefix='20' localPtr='yes'/></network>",
    );
    let err = dnsmasq::conf(&odd, "b", &files, None).unwrap_err();
    assert_eq!(err.code, ErrorCode::CONFIG_UNSUPPORTED);
}

#[test]
fn what_the_host_cannot_apply_is_refused_not_dropped() {
    for (xml, text) in [
        (
            "<bandwidth><inbound average='1000'/></bandwidth>",
            "<bandwidth>",
        ),
        ("<vlan><tag id='42'/></vlan>", "vlan"),
        ("<virtualport type='openvswitch'/>", "virtualport"),
        ("<port isolated='yes'/>", "isolated"),
        (
            "<portgroup name='g'><bandwidth><inbound average='1'/></bandwidth></portgroup>",
            "portgroup 'g'",
        ),
    ] {
        let net = def(&format!(
            "<network><name>x</name>{xml}<ip address='10.83.0.1' prefix='24'/></network>"
        ));
        let err = extras::refuse_unapplied(&net).unwrap_err();
        assert_eq!(err.code, ErrorCode::CONFIG_UNSUPPORTED, "{xml}");
        assert!(err.message.contains(text), "{xml}: {}", err.message);
    }
    let snat = def("<network><name>x</name><forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward></network>");
    assert!(extras::refuse_unapplied(&snat).is_err());
    let fine = def("<network trustGuestRxFilters='no'><name>x</name><metadata><m:a xmlns:m='urn:x'>1</m:a></metadata>\
        <forward mode='nat'><nat/></forward><portgroup name='plain' default='yes'/>\
        <route address='10.90.0.0' prefix='24' gateway='10.83.0.2'/><ip address='10.83.0.1' prefix='24'/></network>");
    extras::refuse_unapplied(&fine).unwrap();
    let xml = fine.to_xml();
    for part in [
        "<metadata>",
        "<portgroup name='plain' default='yes'/>",
        "<route address='10.90.0.0' prefix='24' gateway='10.83.0.2'/>",
        "<nat/>",
    ] {
        assert!(xml.contains(part), "{part}: {xml}");
    }
}
