//! Scaled integers as libvirt writes them (`<memory unit='GiB'>2</memory>`): units to bytes or KiB.

use crate::error::{Error, ErrorCode, ErrorDomain, Result};

/// The unit assumed when an element has no `unit` attribute.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ScaleDefault {
    Bytes,
    KiB,
}

impl ScaleDefault {
    fn bytes(self) -> u64 {
        match self {
            Self::Bytes => 1,
            Self::KiB => 1024,
        }
    }
}

/// How many bytes one `unit` is, with libvirt's rules: `b`/`byte`/`bytes`; a letter of `kmgtpe` alone or followed
/// by `iB` is a power of 1024; followed by `B` it is a power of 1000. Letters are case-insensitive.
pub fn unit_bytes(unit: &str) -> Option<u64> {
    let lower = unit.to_ascii_lowercase();
    if matches!(lower.as_str(), "b" | "byte" | "bytes") {
        return Some(1);
    }
    let mut chars = lower.chars();
    let exponent = match chars.next()? {
        'k' => 1,
        'm' => 2,
        'g' => 3,
        't' => 4,
        'p' => 5,
        'e' => 6,
        _ => return None,
    };
    let base: u64 = match chars.as_str() {
        "" | "ib" => 1024,
        "b" => 1000,
        _ => return None,
    };
    Some(base.pow(exponent))
}

/// Parses `value` with `unit` and returns it in the default's unit (bytes or KiB). A value that is not a whole
/// KiB rounds up, as libvirt rounds memory up. Only plain decimal digits are accepted, like libvirt.
pub fn parse_scaled(value: &str, unit: Option<&str>, default: ScaleDefault) -> Result<u64> {
    let scale = match unit {
        None | Some("") => default.bytes(),
        Some(unit) => unit_bytes(unit).ok_or_else(|| {
            Error::with_detail(
                ErrorCode::INVALID_ARG,
                ErrorDomain::NONE,
                format!("unknown suffix '{unit}'"),
            )
        })?,
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::xml(format!(
            "Invalid value '{value}' for element or attribute"
        )));
    }
    let too_large = || {
        Error::with_detail(
            ErrorCode::OVERFLOW,
            ErrorDomain::NONE,
            format!("{value}{}", unit.unwrap_or("")),
        )
    };
    let number: u64 = value.parse().map_err(|_| too_large())?;
    let bytes = number.checked_mul(scale).ok_or_else(too_large)?;
    Ok(match default {
        ScaleDefault::Bytes => bytes,
        ScaleDefault::KiB => bytes / 1024 + u64::from(bytes % 1024 != 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_follow_libvirt() {
        let cases = [
            ("b", 1),
            ("bytes", 1),
            ("byte", 1),
            ("k", 1024),
            ("KiB", 1024),
            ("KB", 1000),
            ("kb", 1000),
            ("M", 1 << 20),
            ("MiB", 1 << 20),
            ("MB", 1_000_000),
            ("G", 1 << 30),
            ("GiB", 1 << 30),
            ("GB", 1_000_000_000),
            ("T", 1 << 40),
            ("TiB", 1 << 40),
            ("TB", 1_000_000_000_000),
            ("PiB", 1 << 50),
            ("EiB", 1 << 60),
            ("EB", 1_000_000_000_000_000_000),
        ];
        for (unit, bytes) in cases {
            assert_eq!(unit_bytes(unit), Some(bytes), "{unit}");
        }
        for bad in ["", "x", "KiBB", "Kb2", "bits", "Z", "kxb"] {
            assert_eq!(unit_bytes(bad), None, "{bad}");
        }
    }

    #[test]
    fn scaled_values_convert_to_the_default_unit() {
        assert_eq!(parse_scaled("1024", None, ScaleDefault::KiB).unwrap(), 1024);
        assert_eq!(
            parse_scaled("2", Some("GiB"), ScaleDefault::KiB).unwrap(),
            2 * 1024 * 1024
        );
        // libvirt rounds up: 1000 MB is 976562.5 KiB.
        assert_eq!(
            parse_scaled("1000", Some("MB"), ScaleDefault::KiB).unwrap(),
            976_563
        );
        assert_eq!(
            parse_scaled("1025", Some("b"), ScaleDefault::KiB).unwrap(),
            2
        );
        assert_eq!(parse_scaled("0", Some("b"), ScaleDefault::KiB).unwrap(), 0);
        assert_eq!(parse_scaled("100", None, ScaleDefault::Bytes).unwrap(), 100);
        assert_eq!(
            parse_scaled("2", Some("K"), ScaleDefault::Bytes).unwrap(),
            2048
        );
    }

    #[test]
    fn bad_values_and_units_are_refused_with_libvirts_codes() {
        let err = parse_scaled("1", Some("foo"), ScaleDefault::KiB).unwrap_err();
        assert_eq!(err.code, ErrorCode::INVALID_ARG);
        assert_eq!(err.message, "invalid argument: unknown suffix 'foo'");
        for bad in ["", "-5", " 4", "4 ", "0x10", "1.5", "+3"] {
            let err = parse_scaled(bad, None, ScaleDefault::KiB).unwrap_err();
            assert_eq!(err.code, ErrorCode::XML_ERROR, "{bad:?}");
        }
        let err = parse_scaled("99999999999", Some("TiB"), ScaleDefault::KiB).unwrap_err();
        assert_eq!(err.code, ErrorCode::OVERFLOW);
        assert_eq!(err.message, "value too large: 99999999999TiB");
        let err = parse_scaled("99999999999999999999999", None, ScaleDefault::Bytes).unwrap_err();
        assert_eq!(err.code, ErrorCode::OVERFLOW);
    }
}
