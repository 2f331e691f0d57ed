//! CIM's scalar typing (DSP0004): the intrinsic types, array-ness, datetimes, and why text is not a value of a
//! type. Below the object model: nothing here holds a value, a path or a class.

use std::fmt;

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
    Reference(Option<Box<str>>),
    /// An embedded class or instance (`EmbeddedObject` qualifier).
    EmbeddedObject,
    /// An embedded instance, of the named class when the `EmbeddedInstance` qualifier names one.
    EmbeddedInstance(Option<Box<str>>),
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

pub(super) fn parse_int_text(text: &str) -> Option<i128> {
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

pub(super) fn parse_real_text<T: std::str::FromStr>(text: &str) -> Option<T> {
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

pub(super) fn format_real(v: f64) -> String {
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
    /// Always a valid DSP0004 form (checked by [`DateTime::parse`]); its fields are read from it when asked
    /// for, so that a value in an instance costs a pointer, not the fields.
    text: Box<str>,
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
        read_kind(text)?;
        Ok(DateTime { text: text.into() })
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
        })
    }

    pub fn kind(&self) -> DateTimeKind {
        // The text was checked when the value was made, so this reads it again without failing; a wildcard
        // interval stands in should it ever not.
        read_kind(&self.text).unwrap_or(DateTimeKind::Interval {
            days: None,
            hours: None,
            minutes: None,
            seconds: None,
            microseconds: None,
        })
    }

    pub fn is_interval(&self) -> bool {
        self.text.as_bytes().get(21) == Some(&b':')
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The fields of a DSP0004 datetime `text`, checked.
fn read_kind(text: &str) -> Result<DateTimeKind, ValueError> {
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
    Ok(kind)
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A name an instance or an object path holds (a property, a class, a namespace, a key): a schema's names
/// are interned once and the code's own are static (a class's instances and paths then copy a pointer, with no
/// allocation and no reference count that every core's instance building would contend on); names from
/// elsewhere (a client's request) are shared strings, never interned, so no request can grow the interned set.
#[derive(Clone)]
pub struct Name(NameRepr);

#[derive(Clone)]
enum NameRepr {
    Static(&'static str),
    Shared(std::sync::Arc<str>),
}

impl Name {
    /// The interned copy of a schema's name (made once per distinct name and kept for the process's life).
    pub fn interned(name: &str) -> Name {
        use std::collections::HashSet;
        use std::sync::{Mutex, OnceLock};
        static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
        let mut names = NAMES
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = match names.get(name) {
            Some(kept) => *kept,
            None => {
                let kept: &'static str = Box::leak(name.into());
                names.insert(kept);
                kept
            }
        };
        Name(NameRepr::Static(kept))
    }

    /// A name the program holds for its whole life (a class, namespace or key name of the code's own).
    pub const fn from_static(name: &'static str) -> Name {
        Name(NameRepr::Static(name))
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            NameRepr::Static(s) => s,
            NameRepr::Shared(s) => s,
        }
    }

    /// The text when it lives as long as the process (a schema's interned name, or a static one), else
    /// `None`. Its address stays valid and its text the same for the process's life, so it may key a table.
    pub fn as_static(&self) -> Option<&'static str> {
        match self.0 {
            NameRepr::Static(s) => Some(s),
            NameRepr::Shared(_) => None,
        }
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Name {
        Name(NameRepr::Shared(name.into()))
    }
}

impl From<String> for Name {
    fn from(name: String) -> Name {
        Name(NameRepr::Shared(name.into()))
    }
}

impl From<&String> for Name {
    fn from(name: &String) -> Name {
        Name(NameRepr::Shared(name.as_str().into()))
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
