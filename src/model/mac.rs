//! MAC addresses as libvirt reads and writes them: six hex octets separated by `:`, written lowercase.

/// The prefix libvirt uses for addresses it generates for QEMU/KVM guests.
pub const GENERATED_MAC_PREFIX: [u8; 3] = [0x52, 0x54, 0x00];

/// Parses `aa:bb:cc:dd:ee:ff` (one or two hex digits per octet, any case) into its six octets.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut octets = [0u8; 6];
    let mut parts = text.split(':');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *octet = u8::from_str_radix(part, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(octets)
}

pub fn format_mac(octets: &[u8; 6]) -> String {
    octets
        .iter()
        .map(|octet| format!("{octet:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Multicast addresses (low bit of the first octet) cannot be a NIC's own address.
pub fn is_multicast(octets: &[u8; 6]) -> bool {
    octets[0] & 1 == 1
}

/// A fresh `52:54:00:xx:xx:xx` address.
pub fn generate_mac() -> String {
    let tail: [u8; 3] = rand::random();
    let [a, b, c] = GENERATED_MAC_PREFIX;
    format_mac(&[a, b, c, tail[0], tail[1], tail[2]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_like_libvirt() {
        assert_eq!(
            parse_mac("52:54:00:AA:bb:0c"),
            Some([0x52, 0x54, 0, 0xaa, 0xbb, 0x0c])
        );
        assert_eq!(
            format_mac(&parse_mac("52:54:0:a:b:c").unwrap()),
            "52:54:00:0a:0b:0c"
        );
        for bad in [
            "",
            "zz",
            "52:54:00:aa:bb",
            "52:54:00:aa:bb:cc:dd",
            "52:54:00:aa:bb:",
            "152:54:00:aa:bb:cc",
            "52-54-00-aa-bb-cc",
            "+1:54:00:aa:bb:cc",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        assert!(is_multicast(&parse_mac("01:00:5e:00:00:01").unwrap()));
        assert!(!is_multicast(&parse_mac("52:54:00:00:00:01").unwrap()));
    }

    #[test]
    fn generated_addresses_carry_the_prefix() {
        let mac = generate_mac();
        assert!(mac.starts_with("52:54:00:"), "{mac}");
        assert!(parse_mac(&mac).is_some());
    }
}
