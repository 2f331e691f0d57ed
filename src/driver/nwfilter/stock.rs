//! The filters libvirt ships (its `examples/nwfilter/`), so guests can reference `clean-traffic` and friends from
//! the start: the same names, chains, priorities and rules, written here as our own compact definitions. They are
//! written to the filter directory once, when it is first made; after that they are ordinary definitions.

use uuid::Uuid;

/// `(name, definition without a UUID)`.
pub const STOCK_FILTERS: &[(&str, &str)] = &[
    ("allow-arp", "<filter name='allow-arp' chain='arp'><rule direction='inout' action='accept'/></filter>"),
    (
        "allow-dhcp",
        "<filter name='allow-dhcp' chain='ipv4'>\
         <rule action='accept' direction='out' priority='100'>\
         <ip srcipaddr='0.0.0.0' dstipaddr='255.255.255.255' protocol='udp' srcportstart='68' dstportstart='67'/></rule>\
         <rule action='accept' direction='in' priority='100'>\
         <ip protocol='udp' srcportstart='67' dstportstart='68'/></rule></filter>",
    ),
    (
        "allow-dhcp-server",
        "<filter name='allow-dhcp-server' chain='ipv4'>\
         <rule action='accept' direction='out' priority='100'>\
         <ip srcipaddr='0.0.0.0' dstipaddr='255.255.255.255' protocol='udp' srcportstart='68' dstportstart='67'/></rule>\
         <rule action='accept' direction='in' priority='100'>\
         <ip srcipaddr='$DHCPSERVER' protocol='udp' srcportstart='67' dstportstart='68'/></rule></filter>",
    ),
    (
        "allow-dhcpv6",
        "<filter name='allow-dhcpv6' chain='ipv6'>\
         <rule action='accept' direction='out' priority='100'>\
         <ipv6 protocol='udp' srcipaddr='FE80::' srcipmask='10' dstipaddr='FF02::1:2' srcportstart='546' dstportstart='547'/></rule>\
         <rule action='accept' direction='in' priority='100'>\
         <ipv6 protocol='udp' srcportstart='547' dstportstart='546'/></rule></filter>",
    ),
    (
        "allow-dhcpv6-server",
        "<filter name='allow-dhcpv6-server' chain='ipv6'>\
         <rule action='accept' direction='out' priority='100'>\
         <ipv6 protocol='udp' srcipaddr='FE80::' srcipmask='10' dstipaddr='FF02::1:2' srcportstart='546' dstportstart='547'/></rule>\
         <rule action='accept' direction='in' priority='100'>\
         <ipv6 srcipaddr='$DHCPSERVER' protocol='udp' srcportstart='547' dstportstart='546'/></rule></filter>",
    ),
    ("allow-incoming-ipv4", "<filter name='allow-incoming-ipv4' chain='ipv4'><rule direction='in' action='accept'/></filter>"),
    ("allow-incoming-ipv6", "<filter name='allow-incoming-ipv6' chain='ipv6'><rule direction='in' action='accept'/></filter>"),
    ("allow-ipv4", "<filter name='allow-ipv4' chain='ipv4'><rule direction='inout' action='accept'/></filter>"),
    ("allow-ipv6", "<filter name='allow-ipv6' chain='ipv6'><rule direction='inout' action='accept'/></filter>"),
    (
        "clean-traffic",
        "<filter name='clean-traffic' chain='root'>\
         <filterref filter='no-mac-spoofing'/>\
         <filterref filter='no-ip-spoofing'/>\
         <rule direction='out' action='accept' priority='-650'><mac protocolid='ipv4'/></rule>\
         <filterref filter='allow-incoming-ipv4'/>\
         <filterref filter='no-arp-spoofing'/>\
         <rule action='accept' direction='inout' priority='-500'><mac protocolid='arp'/></rule>\
         <filterref filter='no-other-l2-traffic'/>\
         <filterref filter='qemu-announce-self'/></filter>",
    ),
    (
        "clean-traffic-gateway",
        "<filter name='clean-traffic-gateway'>\
         <filterref filter='no-mac-spoofing'/>\
         <filterref filter='no-ip-spoofing'/>\
         <filterref filter='no-arp-spoofing'/>\
         <rule action='accept' direction='inout' priority='-500'><mac protocolid='arp'/></rule>\
         <rule action='accept' direction='in'><mac match='yes' srcmacaddr='$GATEWAY_MAC'/></rule>\
         <rule action='accept' direction='out'><mac match='yes' dstmacaddr='$GATEWAY_MAC'/></rule>\
         <filterref filter='no-other-l2-traffic'/>\
         <filterref filter='qemu-announce-self'/></filter>",
    ),
    (
        "no-arp-ip-spoofing",
        "<filter name='no-arp-ip-spoofing' chain='arp-ip' priority='-510'>\
         <rule action='return' direction='out' priority='400'><arp match='yes' arpsrcipaddr='$IP'/></rule>\
         <rule action='drop' direction='out' priority='1000'/></filter>",
    ),
    (
        "no-arp-mac-spoofing",
        "<filter name='no-arp-mac-spoofing' chain='arp-mac' priority='-520'>\
         <rule action='return' direction='out' priority='350'><arp match='yes' arpsrcmacaddr='$MAC'/></rule>\
         <rule action='drop' direction='out' priority='1000'/></filter>",
    ),
    (
        "no-arp-spoofing",
        "<filter name='no-arp-spoofing' chain='root'>\
         <filterref filter='no-arp-mac-spoofing'/><filterref filter='no-arp-ip-spoofing'/></filter>",
    ),
    (
        "no-ip-multicast",
        "<filter name='no-ip-multicast' chain='ipv4'>\
         <rule action='drop' direction='out'><ip dstipaddr='224.0.0.0' dstipmask='4'/></rule></filter>",
    ),
    (
        "no-ip-spoofing",
        "<filter name='no-ip-spoofing' chain='ipv4-ip' priority='-710'>\
         <rule action='return' direction='out' priority='100'><ip srcipaddr='0.0.0.0' protocol='udp'/></rule>\
         <rule direction='out' action='return' priority='500'><ip srcipaddr='$IP'/></rule>\
         <rule direction='out' action='drop' priority='1000'/></filter>",
    ),
    (
        "no-ipv6-multicast",
        "<filter name='no-ipv6-multicast' chain='ipv6'>\
         <rule action='drop' direction='out'><ipv6 dstipaddr='FF00::' dstipmask='8'/></rule></filter>",
    ),
    (
        "no-ipv6-spoofing",
        "<filter name='no-ipv6-spoofing' chain='ipv6-ip' priority='-610'>\
         <rule action='return' direction='out' priority='100'><ipv6 srcipaddr='FE80::' srcipmask='10' protocol='udp'/></rule>\
         <rule direction='out' action='return' priority='500'><ipv6 srcipaddr='$IPV6'/></rule>\
         <rule direction='out' action='drop' priority='1000'/></filter>",
    ),
    (
        "no-mac-broadcast",
        "<filter name='no-mac-broadcast' chain='ipv4'>\
         <rule action='drop' direction='out'><mac dstmacaddr='ff:ff:ff:ff:ff:ff'/></rule></filter>",
    ),
    (
        "no-mac-spoofing",
        "<filter name='no-mac-spoofing' chain='mac' priority='-800'>\
         <rule direction='out' action='return'><mac srcmacaddr='$MAC'/></rule>\
         <rule direction='out' action='drop'><mac/></rule></filter>",
    ),
    (
        "no-other-l2-traffic",
        "<filter name='no-other-l2-traffic'><rule action='drop' direction='inout' priority='1000'/></filter>",
    ),
    (
        "no-other-rarp-traffic",
        "<filter name='no-other-rarp-traffic' chain='rarp'><rule action='drop' direction='inout' priority='1000'/></filter>",
    ),
    (
        "qemu-announce-self",
        "<filter name='qemu-announce-self' chain='root'>\
         <rule action='accept' direction='out'><mac protocolid='0x835'/></rule>\
         <filterref filter='qemu-announce-self-rarp'/>\
         <filterref filter='no-other-rarp-traffic'/></filter>",
    ),
    (
        "qemu-announce-self-rarp",
        "<filter name='qemu-announce-self-rarp' chain='rarp'>\
         <rule action='accept' direction='out' priority='500'>\
         <rarp opcode='Request_Reverse' srcmacaddr='$MAC' dstmacaddr='ff:ff:ff:ff:ff:ff' arpsrcmacaddr='$MAC' \
         arpdstmacaddr='$MAC' arpsrcipaddr='0.0.0.0' arpdstipaddr='0.0.0.0'/></rule>\
         <rule action='accept' direction='in' priority='500'>\
         <rarp opcode='Request_Reverse' dstmacaddr='ff:ff:ff:ff:ff:ff' arpsrcmacaddr='$MAC' arpdstmacaddr='$MAC' \
         arpsrcipaddr='0.0.0.0' arpdstipaddr='0.0.0.0'/></rule></filter>",
    ),
];

/// A stock filter's UUID: the same on every host for the same name, so re-seeding never makes a second one.
pub fn stock_uuid(name: &str) -> Uuid {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("virtcim stock nwfilter {name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
