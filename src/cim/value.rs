//! CIM intrinsic types (DSP0004), typed values, datetime parsing and text conversion of values.

use std::fmt;

use super::path::ObjectPath;
use super::schema::{Class, Instance};

/// The intrinsic CIM data types, plus the reference type and embedded objects / instances.
///
/// An embedded object or instance is a `string` on the wire with an `EmbeddedObject` / `EmbeddedInstance`
/// qualifier; in the model it is its own type so providers handle the instance, not its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CimType {
    Uint8,
    Sint8,
    Uint16,
    Sint16,
    Uint32,
    Sint32,
    Uint64,
    Sint64,
    Real32,
    Real64,
    Boolean,
    String,
    Char16,
    DateTime,
    /// A reference, with the class it points to when declared (`CIM_System REF Antecedent`).
    Reference(Option<String>),
    /// An embedded class or instance (`EmbeddedObject` qualifier).
    EmbeddedObject,
    /// An embedded instance, of the named class when the `EmbeddedInstance` qualifier names one.
    EmbeddedInstance(Option<String>),
}

impl CimType {
    /// The type's DSP0004 / DSP0201 name (`uint16`, `datetime`, `reference`, ...). Embedded objects are strings.
    pub fn name(&self) -> &'static str {
        match self {
            CimType::Uint8 => "uint8",
            CimType::Sint8 => "sint8",
            CimType::Uint16 => "uint16",
            CimType::Sint16 => "sint16",
            CimType::Uint32 => "uint32",
            CimType::Sint32 => "sint32",
            CimType::Uint64 => "uint64",
            CimType::Sint64 => "sint64",
            CimType::Real32 => "real32",
            CimType::Real64 => "real64",
            CimType::Boolean => "boolean",
            CimType::String | CimType::EmbeddedObject | CimType::EmbeddedInstance(_) => "string",
            CimType::Char16 => "char16",
            CimType::DateTime => "datetime",
            CimType::Reference(_) => "reference",
        }
    }

    /// Parses a type name as written in MOF or in a CIM-XML `TYPE` / `PARAMTYPE` attribute (case-insensitive).
    pub fn from_name(name: &str) -> Option<CimType> {
        let ty = match name.to_ascii_lowercase().as_str() {
            "uint8" => CimType::Uint8,
            "sint8" => CimType::Sint8,
            "uint16" => CimType::Uint16,
            "sint16" => CimType::Sint16,
            "uint32" => CimType::Uint32,
            "sint32" => CimType::Sint32,
            "uint64" => CimType::Uint64,
            "sint64" => CimType::Sint64,
            "real32" => CimType::Real32,
            "real64" => CimType::Real64,
            "boolean" => CimType::Boolean,
            "string" => CimType::String,
            "char16" => CimType::Char16,
            "datetime" => CimType::DateTime,
            "reference" | "ref" => CimType::Reference(None),
            _ => return None,
        };
        Some(ty)
    }

    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            CimType::Uint8
                | CimType::Sint8
                | CimType::Uint16
                | CimType::Sint16
                | CimType::Uint32
                | CimType::Sint32
                | CimType::Uint64
                | CimType::Sint64
        )
    }

    /// Whether values of the two types are interchangeable (reference classes and embedded classes aside).
    pub fn same_kind(&self, other: &CimType) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl fmt::Display for CimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CimType::Reference(Some(class)) => write!(f, "{class} REF"),
            other => f.write_str(other.name()),
        }
    }
}

/// Whether a property / parameter / qualifier holds one value or an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrayness {
    Scalar,
    /// `name[]`
    Variable,
    /// `name[N]`
    Fixed(u32),
}

impl Arrayness {
    pub fn is_array(self) -> bool {
        !matches!(self, Arrayness::Scalar)
    }
}

/// A declared type: element type and arrayness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeSpec {
    pub ty: CimType,
    pub array: Arrayness,
}

impl TypeSpec {
    pub fn scalar(ty: CimType) -> TypeSpec {
        TypeSpec {
            ty,
            array: Arrayness::Scalar,
        }
    }

    pub fn array(ty: CimType) -> TypeSpec {
        TypeSpec {
            ty,
            array: Arrayness::Variable,
        }
    }

    pub fn is_array(&self) -> bool {
        self.array.is_array()
    }
}

/// A typed CIM value. `Null` is the absence of a value of any type; array elements may be `Null`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Uint8(u8),
    Sint8(i8),
    Uint16(u16),
    Sint16(i16),
    Uint32(u32),
    Sint32(i32),
    Uint64(u64),
    Sint64(i64),
    Real32(f32),
    Real64(f64),
    Boolean(bool),
    String(String),
    Char16(char),
    DateTime(DateTime),
    Reference(Box<ObjectPath>),
    /// An embedded instance (a property or parameter with `EmbeddedInstance` / `EmbeddedObject`).
    Instance(Box<Instance>),
    /// An embedded class (`EmbeddedObject` may carry a class).
    Class(Box<Class>),
    /// An array of the given element type; elements are scalars or `Null`.
    Array(CimType, Vec<Value>),
}

/// Why text could not become a value of a type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("{text:?} is not a valid {ty} value")]
    Invalid { ty: &'static str, text: String },
    #[error("{text:?} is out of range for {ty}")]
    OutOfRange { ty: &'static str, text: String },
    #[error("invalid datetime {text:?}: {reason}")]
    DateTime { text: String, reason: &'static str },
    #[error("a {found} value does not fit type {expected}")]
    TypeMismatch {
        expected: String,
        found: &'static str,
    },
}

impl Value {
    /// The type of a non-null value (`None` for `Null`).
    pub fn cim_type(&self) -> Option<CimType> {
        let ty = match self {
            Value::Null => return None,
            Value::Uint8(_) => CimType::Uint8,
            Value::Sint8(_) => CimType::Sint8,
            Value::Uint16(_) => CimType::Uint16,
            Value::Sint16(_) => CimType::Sint16,
            Value::Uint32(_) => CimType::Uint32,
            Value::Sint32(_) => CimType::Sint32,
            Value::Uint64(_) => CimType::Uint64,
            Value::Sint64(_) => CimType::Sint64,
            Value::Real32(_) => CimType::Real32,
            Value::Real64(_) => CimType::Real64,
            Value::Boolean(_) => CimType::Boolean,
            Value::String(_) => CimType::String,
            Value::Char16(_) => CimType::Char16,
            Value::DateTime(_) => CimType::DateTime,
            Value::Reference(path) => CimType::Reference(Some(path.class_name.clone())),
            Value::Instance(inst) => CimType::EmbeddedInstance(Some(inst.class_name.clone())),
            Value::Class(_) => CimType::EmbeddedObject,
            Value::Array(ty, _) => ty.clone(),
        };
        Some(ty)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(..))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// Any integer value widened to i128 (so both u64 and i64 fit).
    pub fn as_i128(&self) -> Option<i128> {
        match *self {
            Value::Uint8(v) => Some(v.into()),
            Value::Sint8(v) => Some(v.into()),
            Value::Uint16(v) => Some(v.into()),
            Value::Sint16(v) => Some(v.into()),
            Value::Uint32(v) => Some(v.into()),
            Value::Sint32(v) => Some(v.into()),
            Value::Uint64(v) => Some(v.into()),
            Value::Sint64(v) => Some(v.into()),
            _ => None,
        }
    }

    /// An integer of type `ty` from a wide integer, range-checked.
    pub fn from_integer(ty: &CimType, n: i128) -> Result<Value, ValueError> {
        let out_of_range = || ValueError::OutOfRange {
            ty: ty.name(),
            text: n.to_string(),
        };
        let value = match ty {
            CimType::Uint8 => Value::Uint8(u8::try_from(n).map_err(|_| out_of_range())?),
            CimType::Sint8 => Value::Sint8(i8::try_from(n).map_err(|_| out_of_range())?),
            CimType::Uint16 => Value::Uint16(u16::try_from(n).map_err(|_| out_of_range())?),
            CimType::Sint16 => Value::Sint16(i16::try_from(n).map_err(|_| out_of_range())?),
            CimType::Uint32 => Value::Uint32(u32::try_from(n).map_err(|_| out_of_range())?),
            CimType::Sint32 => Value::Sint32(i32::try_from(n).map_err(|_| out_of_range())?),
            CimType::Uint64 => Value::Uint64(u64::try_from(n).map_err(|_| out_of_range())?),
            CimType::Sint64 => Value::Sint64(i64::try_from(n).map_err(|_| out_of_range())?),
            // MOF allows integer literals for reals.
            #[allow(clippy::cast_precision_loss)]
            CimType::Real32 => Value::Real32(n as f32),
            #[allow(clippy::cast_precision_loss)]
            CimType::Real64 => Value::Real64(n as f64),
            other => {
                return Err(ValueError::TypeMismatch {
                    expected: other.name().into(),
                    found: "integer",
                })
            }
        };
        Ok(value)
    }

    /// Parses the text form of a scalar (a CIM-XML `VALUE` or `KEYVALUE`, a wbemcli argument) as type `ty`.
    /// Integers accept decimal and (DSP0201 permits) `0x` hex; booleans are case-insensitive TRUE/FALSE.
    /// References and embedded objects are not text at this level: the codec parses them.
    pub fn parse_scalar(ty: &CimType, text: &str) -> Result<Value, ValueError> {
        let invalid = || ValueError::Invalid {
            ty: ty.name(),
            text: text.to_owned(),
        };
        let trimmed = text.trim();
        match ty {
            t if t.is_integer() => {
                let n = parse_int_text(trimmed).ok_or_else(invalid)?;
                Value::from_integer(t, n).map_err(|_| ValueError::OutOfRange {
                    ty: t.name(),
                    text: text.into(),
                })
            }
            CimType::Real32 => {
                let v: f32 = parse_real_text(trimmed).ok_or_else(invalid)?;
                Ok(Value::Real32(v))
            }
            CimType::Real64 => Ok(Value::Real64(parse_real_text(trimmed).ok_or_else(invalid)?)),
            CimType::Boolean => {
                if trimmed.eq_ignore_ascii_case("true") {
                    Ok(Value::Boolean(true))
                } else if trimmed.eq_ignore_ascii_case("false") {
                    Ok(Value::Boolean(false))
                } else {
                    Err(invalid())
                }
            }
            CimType::String => Ok(Value::String(text.to_owned())),
            CimType::Char16 => {
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if u32::from(c) <= 0xFFFF => Ok(Value::Char16(c)),
                    _ => Err(invalid()),
                }
            }
            CimType::DateTime => Ok(Value::DateTime(DateTime::parse(trimmed)?)),
            CimType::Reference(_) => {
                let path = ObjectPath::parse(trimmed).map_err(|_| invalid())?;
                Ok(Value::Reference(Box::new(path)))
            }
            CimType::EmbeddedObject | CimType::EmbeddedInstance(_) => {
                Ok(Value::String(text.to_owned()))
            }
            _ => Err(invalid()),
        }
    }

    /// The text form of a scalar as CIM-XML writes it inside `VALUE` (booleans `TRUE`/`FALSE`).
    /// `None` for null, arrays, references and embedded objects, which are not plain text.
    pub fn to_text(&self) -> Option<String> {
        let text = match self {
            Value::Uint8(v) => v.to_string(),
            Value::Sint8(v) => v.to_string(),
            Value::Uint16(v) => v.to_string(),
            Value::Sint16(v) => v.to_string(),
            Value::Uint32(v) => v.to_string(),
            Value::Sint32(v) => v.to_string(),
            Value::Uint64(v) => v.to_string(),
            Value::Sint64(v) => v.to_string(),
            Value::Real32(v) => format_real(f64::from(*v)),
            Value::Real64(v) => format_real(*v),
            Value::Boolean(true) => "TRUE".into(),
            Value::Boolean(false) => "FALSE".into(),
            Value::String(s) => s.clone(),
            Value::Char16(c) => c.to_string(),
            Value::DateTime(d) => d.to_string(),
            _ => return None,
        };
        Some(text)
    }

    /// Converts a value to another declared type where CIM allows it (integer widening / narrowing with a
    /// range check, integer to real, string to datetime / char16 / embedded). Used when a client sends a value
    /// typed differently from the declaration (wbemcli sends everything untyped as strings).
    pub fn coerce(self, spec: &TypeSpec) -> Result<Value, ValueError> {
        if self.is_null() {
            return Ok(Value::Null);
        }
        if spec.is_array() {
            return match self {
                Value::Array(_, items) => {
                    let items: Result<Vec<Value>, ValueError> = items
                        .into_iter()
                        .map(|item| item.coerce(&TypeSpec::scalar(spec.ty.clone())))
                        .collect();
                    Ok(Value::Array(spec.ty.clone(), items?))
                }
                other => Err(ValueError::TypeMismatch {
                    expected: format!("{}[]", spec.ty.name()),
                    found: other.kind_name(),
                }),
            };
        }
        let ty = &spec.ty;
        match self {
            Value::Array(..) => Err(ValueError::TypeMismatch {
                expected: ty.name().into(),
                found: "array",
            }),
            Value::String(s) => match ty {
                CimType::String => Ok(Value::String(s)),
                _ => Value::parse_scalar(ty, &s),
            },
            v @ Value::Reference(_) if matches!(ty, CimType::Reference(_)) => Ok(v),
            v @ (Value::Instance(_) | Value::Class(_))
                if matches!(
                    ty,
                    CimType::EmbeddedObject | CimType::EmbeddedInstance(_) | CimType::String
                ) =>
            {
                Ok(v)
            }
            v if v.as_i128().is_some() => {
                let n = v.as_i128().unwrap_or_default();
                if ty.is_integer() || matches!(ty, CimType::Real32 | CimType::Real64) {
                    Value::from_integer(ty, n)
                } else {
                    Err(ValueError::TypeMismatch {
                        expected: ty.name().into(),
                        found: v.kind_name(),
                    })
                }
            }
            Value::Real32(r) if *ty == CimType::Real64 => Ok(Value::Real64(f64::from(r))),
            #[allow(clippy::cast_possible_truncation)]
            Value::Real64(r) if *ty == CimType::Real32 => Ok(Value::Real32(r as f32)),
            v => {
                let found = v.cim_type();
                match found {
                    Some(found) if found.same_kind(ty) => Ok(v),
                    _ => Err(ValueError::TypeMismatch {
                        expected: ty.name().into(),
                        found: v.kind_name(),
                    }),
                }
            }
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Value::Array(..) => "array",
            Value::Instance(_) => "instance",
            Value::Class(_) => "class",
            Value::Null => "null",
            other => other.cim_type().map_or("null", |t| t.name()),
        }
    }
}

fn parse_int_text(text: &str) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i128::from_str_radix(hex, 16).ok()?
    } else {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<i128>().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn parse_real_text<T: std::str::FromStr>(text: &str) -> Option<T> {
    // Rust accepts "inf"/"nan" spellings that CIM does not define; only digits, sign, dot and exponent pass.
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    text.parse().ok()
}

fn format_real(v: f64) -> String {
    // Debug formatting is the shortest text that parses back to the same value ("1.5", "3.0", "1e20"),
    // all of which are valid DSP0201 real literals.
    format!("{v:?}")
}

/// A CIM datetime: either a timestamp `yyyymmddhhmmss.mmmmmmsutc` or an interval `ddddddddhhmmss.mmmmmm:000`.
///
/// Fields may be wildcarded with `*` (DSP0004 precision rule: only trailing digits); wildcarded fields are
/// `None`. The text is validated on parse and kept so formatting reproduces it exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateTime {
    text: String,
    kind: DateTimeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeKind {
    Timestamp {
        year: Option<u32>,
        month: Option<u32>,
        day: Option<u32>,
        hour: Option<u32>,
        minute: Option<u32>,
        second: Option<u32>,
        microsecond: Option<u32>,
        /// UTC offset in minutes (sign included).
        utc_offset_minutes: i32,
    },
    Interval {
        days: Option<u32>,
        hours: Option<u32>,
        minutes: Option<u32>,
        seconds: Option<u32>,
        microseconds: Option<u32>,
    },
}

impl DateTime {
    /// Parses and validates the 25-character DSP0004 form.
    pub fn parse(text: &str) -> Result<DateTime, ValueError> {
        let err = |reason| ValueError::DateTime {
            text: text.to_owned(),
            reason,
        };
        let bytes = text.as_bytes();
        if bytes.len() != 25 || !text.is_ascii() {
            return Err(err("must be 25 ASCII characters"));
        }
        if bytes[14] != b'.' {
            return Err(err("character 15 must be '.'"));
        }
        // Wildcards: once a '*' appears in the digits, every later digit must be '*' too.
        let digit_positions = (0..14).chain(15..21);
        let mut seen_star = false;
        for i in digit_positions {
            match bytes[i] {
                b'*' => seen_star = true,
                b'0'..=b'9' if !seen_star => {}
                b'0'..=b'9' => return Err(err("digits after a '*' wildcard")),
                _ => return Err(err("expected a digit or '*'")),
            }
        }
        let field = |range: std::ops::Range<usize>| -> Option<u32> {
            let s = &text[range];
            if s.contains('*') {
                None
            } else {
                s.parse().ok()
            }
        };
        let kind = match bytes[21] {
            b':' => {
                if &text[22..] != "000" {
                    return Err(err("an interval must end in ':000'"));
                }
                let kind = DateTimeKind::Interval {
                    days: field(0..8),
                    hours: field(8..10),
                    minutes: field(10..12),
                    seconds: field(12..14),
                    microseconds: field(15..21),
                };
                if let DateTimeKind::Interval {
                    hours,
                    minutes,
                    seconds,
                    ..
                } = kind
                {
                    if hours.is_some_and(|h| h > 23)
                        || minutes.is_some_and(|m| m > 59)
                        || seconds.is_some_and(|s| s > 59)
                    {
                        return Err(err("interval field out of range"));
                    }
                }
                kind
            }
            sign @ (b'+' | b'-') => {
                let offset_text = &text[22..];
                if !offset_text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("UTC offset must be 3 digits"));
                }
                let offset: i32 = offset_text
                    .parse()
                    .map_err(|_| err("UTC offset must be 3 digits"))?;
                let kind = DateTimeKind::Timestamp {
                    year: field(0..4),
                    month: field(4..6),
                    day: field(6..8),
                    hour: field(8..10),
                    minute: field(10..12),
                    second: field(12..14),
                    microsecond: field(15..21),
                    utc_offset_minutes: if sign == b'-' { -offset } else { offset },
                };
                if let DateTimeKind::Timestamp {
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    ..
                } = kind
                {
                    if month.is_some_and(|m| !(1..=12).contains(&m))
                        || day.is_some_and(|d| !(1..=31).contains(&d))
                        || hour.is_some_and(|h| h > 23)
                        || minute.is_some_and(|m| m > 59)
                        || second.is_some_and(|s| s > 60)
                    {
                        return Err(err("timestamp field out of range"));
                    }
                }
                kind
            }
            _ => return Err(err("character 22 must be '+', '-' or ':'")),
        };
        Ok(DateTime {
            text: text.to_owned(),
            kind,
        })
    }

    /// An interval of whole microseconds (for durations the server reports).
    pub fn interval_from_micros(total: u64) -> DateTime {
        let micros = total % 1_000_000;
        let secs = total / 1_000_000;
        let days = (secs / 86_400).min(99_999_999);
        let text = format!(
            "{days:08}{:02}{:02}{:02}.{micros:06}:000",
            (secs / 3600) % 24,
            (secs / 60) % 60,
            secs % 60
        );
        // The format above is always valid, so parsing it cannot fail; fall back to a zero interval anyway.
        DateTime::parse(&text).unwrap_or_else(|_| DateTime {
            text: "00000000000000.000000:000".into(),
            kind: DateTimeKind::Interval {
                days: Some(0),
                hours: Some(0),
                minutes: Some(0),
                seconds: Some(0),
                microseconds: Some(0),
            },
        })
    }

    pub fn kind(&self) -> DateTimeKind {
        self.kind
    }

    pub fn is_interval(&self) -> bool {
        matches!(self.kind, DateTimeKind::Interval { .. })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_forms() {
        let ts = DateTime::parse("20261123140512.123456+060").expect("timestamp");
        assert!(matches!(
            ts.kind(),
            DateTimeKind::Timestamp {
                year: Some(2026),
                utc_offset_minutes: 60,
                ..
            }
        ));
        let iv = DateTime::parse("00000001020304.000005:000").expect("interval");
        assert!(matches!(
            iv.kind(),
            DateTimeKind::Interval {
                days: Some(1),
                hours: Some(2),
                microseconds: Some(5),
                ..
            }
        ));
        let wild = DateTime::parse("2026112314****.******+000").expect("wildcards");
        assert!(matches!(
            wild.kind(),
            DateTimeKind::Timestamp {
                minute: None,
                hour: Some(14),
                ..
            }
        ));
        for bad in [
            "2026112314051.123456+060",
            "20261323140512.123456+060",
            "20261123140512,123456+060",
            "20261123140512.123456*060",
            "00000001020304.000005:001",
            "2026112314*512.123456+000",
            "00000001250304.000005:000",
        ] {
            assert!(DateTime::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            DateTime::interval_from_micros(90_061_000_001).as_str(),
            "00000001010101.000001:000"
        );
    }

    #[test]
    fn scalar_text_round_trip() {
        assert_eq!(
            Value::parse_scalar(&CimType::Uint16, "9"),
            Ok(Value::Uint16(9))
        );
        assert_eq!(
            Value::parse_scalar(&CimType::Sint8, "-128"),
            Ok(Value::Sint8(-128))
        );
        assert!(Value::parse_scalar(&CimType::Uint8, "256").is_err());
        assert!(Value::parse_scalar(&CimType::Uint8, "-1").is_err());
        assert_eq!(
            Value::parse_scalar(&CimType::Uint32, "0x10"),
            Ok(Value::Uint32(16))
        );
        assert_eq!(
            Value::parse_scalar(&CimType::Boolean, "true"),
            Ok(Value::Boolean(true))
        );
        assert!(Value::parse_scalar(&CimType::Real64, "inf").is_err());
        assert_eq!(Value::Boolean(false).to_text().as_deref(), Some("FALSE"));
        assert_eq!(Value::Real64(1.5).to_text().as_deref(), Some("1.5"));
    }

    #[test]
    fn coercion() {
        let v = Value::String("2".into()).coerce(&TypeSpec::scalar(CimType::Uint16));
        assert_eq!(v, Ok(Value::Uint16(2)));
        let arr = Value::Array(
            CimType::String,
            vec![Value::String("1".into()), Value::Null],
        );
        assert_eq!(
            arr.coerce(&TypeSpec::array(CimType::Uint8)),
            Ok(Value::Array(
                CimType::Uint8,
                vec![Value::Uint8(1), Value::Null]
            ))
        );
        assert!(Value::Uint32(70000)
            .coerce(&TypeSpec::scalar(CimType::Uint16))
            .is_err());
        assert!(Value::Boolean(true)
            .coerce(&TypeSpec::scalar(CimType::Uint16))
            .is_err());
    }
}
