//! Filter and binding XML: round trips and libvirt's refusals.

use super::*;

const FILTER: &str = "<filter name='demo' chain='ipv4-ip' priority='-710'>
  <uuid>5c6d49af-b071-6127-b4ec-6f8ed4b55335</uuid>
  <filterref filter='no-mac-spoofing'/>
  <rule action='return' direction='out' priority='100'>
    <ip srcipaddr='0.0.0.0' protocol='udp' srcportstart='68' dstportstart='67'/>
  </rule>
  <rule action='accept' direction='in' priority='500' statematch='false'>
    <mac match='no' srcmacaddr='$MAC' protocolid='0x835'/>
  </rule>
  <rule action='drop' direction='inout' priority='1000'/>
  <filterref filter='allow-dhcp-server'>
    <parameter name='DHCPSERVER' value='10.0.0.1'/>
    <parameter name='DHCPSERVER' value='10.0.0.2'/>
    <parameter name='A' value='x'/>
  </filterref>
</filter>
";

#[test]
fn a_filter_round_trips_whole() {
    let def = parse_nwfilter(FILTER, false).unwrap();
    assert_eq!((def.chain.as_str(), def.priority), ("ipv4-ip", -710));
    assert_eq!(def.chain_prefix(), "ipv4");
    assert_eq!(def.entries.len(), 5);
    assert_eq!(
        def.references().collect::<Vec<_>>(),
        ["no-mac-spoofing", "allow-dhcp-server"]
    );
    let text = format_nwfilter(&def);
    // Parameters are sorted by name as libvirt sorts them; everything else as written.
    let sorted = FILTER.replace(
        "    <parameter name='DHCPSERVER' value='10.0.0.1'/>\n    <parameter name='DHCPSERVER' value='10.0.0.2'/>\n    <parameter name='A' value='x'/>\n",
        "    <parameter name='A' value='x'/>\n    <parameter name='DHCPSERVER' value='10.0.0.1'/>\n    <parameter name='DHCPSERVER' value='10.0.0.2'/>\n",
    );
    assert_eq!(text, sorted);
    assert_eq!(format_nwfilter(&parse_nwfilter(&text, true).unwrap()), text);
}

#[test]
fn defaults_follow_libvirt() {
    let def = parse_nwfilter(
        "<filter name='x'><rule action='drop' direction='in' priority='5000'/></filter>",
        false,
    )
    .unwrap();
    assert_eq!((def.chain.as_str(), def.priority), ("root", 0));
    let FilterEntry::Rule(rule) = &def.entries[0] else {
        panic!()
    };
    assert_eq!(rule.priority, DEFAULT_RULE_PRIORITY);
    assert!(format_nwfilter(&def).starts_with("<filter name='x' chain='root'>\n  <uuid>"));
    let def = parse_nwfilter("<filter name='x' chain='arp-mac'/>", false).unwrap();
    assert_eq!(def.priority, -500);
    // Unknown content is dropped, or refused with VALIDATE.
    let xml = "<filter name='x'><bogus/><rule action='drop' direction='in'><ip srcipaddr='1.2.3.4' nope='1'/><tcp/></rule></filter>";
    let def = parse_nwfilter(xml, false).unwrap();
    let FilterEntry::Rule(rule) = &def.entries[0] else {
        panic!()
    };
    let p = rule.protocol.as_ref().unwrap();
    assert_eq!((p.element.as_str(), p.attrs.len()), ("ip", 1));
    assert_eq!(
        parse_nwfilter(xml, true).unwrap_err().code,
        ErrorCode::XML_INVALID_SCHEMA
    );
}

#[test]
fn bad_filters_get_libvirts_codes_and_words() {
    let cases = [
        ("<rule/>", 27, "XML error: unknown root element for nw filter"),
        ("<filter/>", 1, "internal error: filter has no name"),
        ("<filter name='x' priority='a'/>", 8, "invalid argument: Could not parse chain priority 'a'"),
        (
            "<filter name='x' priority='2000' chain='mac'/>",
            8,
            "invalid argument: Priority '2000' is outside valid range of [-1000,1000]",
        ),
        (
            "<filter name='x' chain='bogus'/>",
            8,
            "invalid argument: Invalid chain name 'bogus'. Please use a chain name called 'root' or any of the \
             following prefixes: mac, vlan, stp, arp, rarp, ipv4, ipv6",
        ),
        ("<filter name='x' chain='rootx'/>", 8, "invalid argument: Invalid chain name 'rootx'. Please use a chain name called 'root' or any of the following prefixes: mac, vlan, stp, arp, rarp, ipv4, ipv6"),
        ("<filter name='x' chain='mac$'/>", 8, "invalid argument: Chain name contains invalid characters"),
        ("<filter name='x'><uuid>zz</uuid></filter>", 27, "XML error: malformed uuid element"),
        ("<filter name='x'><rule direction='in'/></filter>", 1, "internal error: rule node requires action attribute"),
        (
            "<filter name='x'><rule action='allow' direction='in'/></filter>",
            67,
            "unsupported configuration: unknown rule action attribute value",
        ),
        ("<filter name='x'><rule action='drop'/></filter>", 1, "internal error: rule node requires direction attribute"),
        (
            "<filter name='x'><rule action='drop' direction='up'/></filter>",
            67,
            "unsupported configuration: unknown rule direction attribute value",
        ),
        (
            "<filter name='x'><rule action='drop' direction='in'><ip dstportstart='80'/></rule></filter>",
            1,
            "internal error: IP rule with port specification requires protocol specification with protocol to be \
             either one of tcp(6), udp(17), dccp(33), or sctp(132)",
        ),
        (
            "<filter name='x'><rule action='drop' direction='in'><mac srcmacaddr='zz'/></rule></filter>",
            1,
            "internal error: mac has illegal value zz",
        ),
        ("<filter name='x'><filterref/></filter>", 1, "internal error: rule node requires action attribute"),
    ];
    for (xml, code, message) in cases {
        let err = parse_nwfilter(xml, false).unwrap_err();
        assert_eq!((err.code.0, err.message.as_str()), (code, message), "{xml}");
        assert_eq!(err.domain, ErrorDomain::NWFILTER);
    }
    let err = parse_nwfilter("<filter name='../x'/>", false).unwrap_err();
    assert_eq!(err.code, ErrorCode::XML_ERROR);
    let err = parse_nwfilter("<filter", false).unwrap_err();
    assert!(err.message.starts_with("(nwfilter_definition):"));
}

const BINDING: &str = "<filterbinding>
  <owner>
    <name>guest</name>
    <uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>
  </owner>
  <portdev name='vnet0'/>
  <mac address='52:54:00:aa:bb:cc'/>
  <filterref filter='clean-traffic'>
    <parameter name='IP' value='10.0.0.5'/>
  </filterref>
</filterbinding>
";

#[test]
fn a_binding_round_trips_and_bad_ones_are_refused() {
    let def = parse_nwfilter_binding(BINDING, true).unwrap();
    assert_eq!(def.portdev, "vnet0");
    assert_eq!(format_nwfilter_binding(&def), BINDING);
    let upper = BINDING.replace("52:54:00:aa:bb:cc", "52:54:00:AA:BB:CC");
    assert_eq!(
        parse_nwfilter_binding(&upper, false).unwrap().mac,
        "52:54:00:aa:bb:cc"
    );
    let cases = [
        ("<filter/>", "XML error: unknown root element for nwfilter binding"),
        ("<filterbinding/>", "internal error: filter binding has no port dev name"),
        (
            "<filterbinding><portdev name='v'/></filterbinding>",
            "internal error: filter binding has no owner name",
        ),
        (
            "<filterbinding><portdev name='v'/><owner><name>n</name></owner></filterbinding>",
            "internal error: filter binding has no owner UUID",
        ),
        (
            "<filterbinding><portdev name='v'/><owner><name>n</name><uuid>q</uuid></owner></filterbinding>",
            "internal error: Unable to parse UUID 'q'",
        ),
        (
            "<filterbinding><portdev name='v'/><owner><name>n</name><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid></owner></filterbinding>",
            "internal error: filter binding has no MAC address",
        ),
        (
            "<filterbinding><portdev name='v'/><owner><name>n</name><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid></owner><mac address='x'/></filterbinding>",
            "internal error: Unable to parse MAC 'x'",
        ),
        (
            "<filterbinding><portdev name='v'/><owner><name>n</name><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid></owner><mac address='52:54:00:aa:bb:cc'/></filterbinding>",
            "internal error: filter binding has no filter reference",
        ),
    ];
    for (xml, message) in cases {
        assert_eq!(
            parse_nwfilter_binding(xml, false).unwrap_err().message,
            message,
            "{xml}"
        );
    }
}
