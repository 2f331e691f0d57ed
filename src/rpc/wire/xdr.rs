//! Strict XDR (RFC 4506) reading and writing: the primitives every protocol struct is built from.
//!
//! The reader refuses anything a careful peer would never send: counts above the declared maximum (checked, with
//! the bytes actually left, before any allocation), negative counts, non-zero padding, booleans and optional
//! discriminants other than 0/1, strings that are not UTF-8 or hold NUL, and trailing bytes after the value.

use thiserror::Error;

/// Longest string the protocol carries (`REMOTE_STRING_MAX`, 4 MiB).
pub const STRING_MAX: u32 = 4_194_304;

/// Why a payload did not decode.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum XdrError {
    #[error("payload ends early: {needed} more bytes needed at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("{count} elements exceed the maximum of {max}")]
    TooLong { count: u32, max: u32 },
    #[error("negative element count {0}")]
    NegativeCount(i32),
    #[error("non-zero padding at offset {0}")]
    Padding(usize),
    #[error("discriminant {0} is neither 0 nor 1")]
    Discriminant(u32),
    #[error("string is not valid UTF-8")]
    Utf8,
    #[error("string holds a NUL byte")]
    Nul,
    #[error("{0} bytes left over after the value")]
    Trailing(usize),
    #[error("{field} value {value} is out of range")]
    Range { field: &'static str, value: i64 },
}

/// A cursor over one payload.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), XdrError> {
        match self.remaining() {
            0 => Ok(()),
            left => Err(XdrError::Trailing(left)),
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], XdrError> {
        if self.remaining() < len {
            return Err(XdrError::Truncated {
                offset: self.pos,
                needed: len - self.remaining(),
            });
        }
        let bytes = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    fn word(&mut self) -> Result<[u8; 4], XdrError> {
        let bytes = self.take(4)?;
        Ok([bytes[0], bytes[1], bytes[2], bytes[3]])
    }

    pub fn u32(&mut self) -> Result<u32, XdrError> {
        self.word().map(u32::from_be_bytes)
    }

    pub fn i32(&mut self) -> Result<i32, XdrError> {
        self.word().map(i32::from_be_bytes)
    }

    pub fn u64(&mut self) -> Result<u64, XdrError> {
        let hi = u64::from(self.u32()?);
        let lo = u64::from(self.u32()?);
        Ok(hi << 32 | lo)
    }

    pub fn i64(&mut self) -> Result<i64, XdrError> {
        Ok(i64::from_be_bytes(self.u64()?.to_be_bytes()))
    }

    /// An XDR bool or an optional-data discriminant: exactly 0 or 1.
    pub fn bool(&mut self) -> Result<bool, XdrError> {
        match self.u32()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(XdrError::Discriminant(other)),
        }
    }

    /// An element count, checked against `max` and against the bytes left (`min_size` per element) before
    /// the caller allocates anything. A count with the top bit set is what a C peer sent as a negative int.
    pub fn count(&mut self, max: u32, min_size: usize) -> Result<usize, XdrError> {
        let raw = self.u32()?;
        if raw > i32::MAX as u32 {
            return Err(XdrError::NegativeCount(i32::from_be_bytes(
                raw.to_be_bytes(),
            )));
        }
        if raw > max {
            return Err(XdrError::TooLong { count: raw, max });
        }
        let count = raw as usize;
        if count.saturating_mul(min_size) > self.remaining() {
            return Err(XdrError::Truncated {
                offset: self.pos,
                needed: count.saturating_mul(min_size) - self.remaining(),
            });
        }
        Ok(count)
    }

    fn zero_padding(&mut self, len: usize) -> Result<(), XdrError> {
        let at = self.pos;
        if self.take(padding(len))?.iter().any(|&b| b != 0) {
            return Err(XdrError::Padding(at));
        }
        Ok(())
    }

    /// Fixed-length opaque data (`opaque x[N]`).
    pub fn opaque_fixed(&mut self, len: usize) -> Result<&'a [u8], XdrError> {
        let bytes = self.take(len)?;
        self.zero_padding(len)?;
        Ok(bytes)
    }

    /// Variable-length opaque data (`opaque x<max>`).
    pub fn opaque(&mut self, max: u32) -> Result<&'a [u8], XdrError> {
        let len = self.count(max, 1)?;
        self.opaque_fixed(len)
    }

    /// A string of at most `max` bytes, UTF-8 and NUL-free.
    pub fn string(&mut self, max: u32) -> Result<String, XdrError> {
        let bytes = self.opaque(max)?;
        if bytes.contains(&0) {
            return Err(XdrError::Nul);
        }
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| XdrError::Utf8)
    }
}

/// An output payload.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub fn i32(&mut self, value: i32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub fn u64(&mut self, value: u64) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub fn i64(&mut self, value: i64) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub fn bool(&mut self, value: bool) {
        self.u32(u32::from(value));
    }

    /// A count the caller already bounded by the protocol maximum; values past `u32::MAX` cannot occur there.
    pub fn count(&mut self, len: usize) {
        self.u32(u32::try_from(len).unwrap_or(u32::MAX));
    }

    pub fn opaque_fixed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.buf
            .extend(std::iter::repeat_n(0, padding(bytes.len())));
    }

    pub fn opaque(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        self.opaque_fixed(bytes);
    }

    pub fn string(&mut self, text: &str) {
        self.opaque(text.as_bytes());
    }
}

/// A value with an XDR form. `MIN_SIZE` is the fewest bytes one value occupies, used to bound array counts by the
/// bytes actually present before allocating.
pub trait Xdr: Sized {
    const MIN_SIZE: usize = 4;
    fn encode(&self, w: &mut Writer);
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError>;

    /// Encodes into a fresh payload.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes a whole payload, refusing trailing bytes.
    fn from_bytes(bytes: &[u8]) -> Result<Self, XdrError> {
        let mut r = Reader::new(bytes);
        let value = Self::decode(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

/// `void`.
impl Xdr for () {
    const MIN_SIZE: usize = 0;
    fn encode(&self, _: &mut Writer) {}
    fn decode(_: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(())
    }
}

impl Xdr for u32 {
    fn encode(&self, w: &mut Writer) {
        w.u32(*self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.u32()
    }
}

impl Xdr for i32 {
    fn encode(&self, w: &mut Writer) {
        w.i32(*self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.i32()
    }
}

impl Xdr for u64 {
    const MIN_SIZE: usize = 8;
    fn encode(&self, w: &mut Writer) {
        w.u64(*self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.u64()
    }
}

impl Xdr for i64 {
    const MIN_SIZE: usize = 8;
    fn encode(&self, w: &mut Writer) {
        w.i64(*self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.i64()
    }
}

/// `remote_nonnull_string`: at most [`STRING_MAX`] bytes.
impl Xdr for String {
    fn encode(&self, w: &mut Writer) {
        w.string(self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.string(STRING_MAX)
    }
}

/// `remote_uuid`: 16 raw bytes.
impl Xdr for uuid::Uuid {
    const MIN_SIZE: usize = 16;
    fn encode(&self, w: &mut Writer) {
        w.opaque_fixed(self.as_bytes())
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        let bytes = r.opaque_fixed(16)?;
        let mut raw = [0u8; 16];
        raw.copy_from_slice(bytes);
        Ok(uuid::Uuid::from_bytes(raw))
    }
}

/// Optional data (`T *`): a 0/1 discriminant, then the value when 1.
impl<T: Xdr> Xdr for Option<T> {
    fn encode(&self, w: &mut Writer) {
        w.bool(self.is_some());
        if let Some(value) = self {
            value.encode(w);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        if r.bool()? {
            T::decode(r).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// A variable-length array `T x<MAX>`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Array<T, const MAX: u32>(pub Vec<T>);

impl<T: Xdr, const MAX: u32> Xdr for Array<T, MAX> {
    fn encode(&self, w: &mut Writer) {
        w.count(self.0.len());
        for item in &self.0 {
            item.encode(w);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        let count = r.count(MAX, T::MIN_SIZE)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(T::decode(r)?);
        }
        Ok(Self(items))
    }
}

/// Variable-length opaque data `opaque x<MAX>`: raw bytes, padded to a multiple of 4.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Opaque<const MAX: u32>(pub Vec<u8>);

impl<const MAX: u32> Xdr for Opaque<MAX> {
    fn encode(&self, w: &mut Writer) {
        w.opaque(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        r.opaque(MAX).map(|bytes| Self(bytes.to_vec()))
    }
}

/// A `char x<MAX>` array: rpcgen widens each byte to a 4-byte int, so it is NOT opaque data. Bytes above 127
/// travel sign-extended, as C `char` does.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct CharArray<const MAX: u32>(pub Vec<u8>);

fn decode_char(r: &mut Reader<'_>) -> Result<u8, XdrError> {
    let value = r.i32()?;
    i8::try_from(value)
        .map(|c| c.to_be_bytes()[0])
        .map_err(|_| XdrError::Range {
            field: "char",
            value: i64::from(value),
        })
}

fn encode_char(w: &mut Writer, byte: u8) {
    w.i32(i32::from(i8::from_be_bytes([byte])));
}

impl<const MAX: u32> Xdr for CharArray<MAX> {
    fn encode(&self, w: &mut Writer) {
        w.count(self.0.len());
        for &byte in &self.0 {
            encode_char(w, byte);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        let count = r.count(MAX, 4)?;
        let mut bytes = Vec::with_capacity(count);
        for _ in 0..count {
            bytes.push(decode_char(r)?);
        }
        Ok(Self(bytes))
    }
}

impl<const MAX: u32> CharArray<MAX> {
    /// The C-string form libvirt sends for security model/doi/label: the text plus its NUL.
    pub fn c_string(text: &str) -> Self {
        let mut bytes: Vec<u8> = text.bytes().take(MAX as usize - 1).collect();
        bytes.push(0);
        Self(bytes)
    }

    /// The text up to the first NUL (lossy for non-UTF-8 bytes).
    pub fn to_text(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        String::from_utf8_lossy(&self.0[..end]).into_owned()
    }
}

/// A fixed `char x[N]` (NODE_GET_INFO's model): N 4-byte ints, NUL-padded.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FixedChars<const N: usize>(pub [u8; N]);

impl<const N: usize> Xdr for FixedChars<N> {
    const MIN_SIZE: usize = 4 * N;
    fn encode(&self, w: &mut Writer) {
        for &byte in &self.0 {
            encode_char(w, byte);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        let mut bytes = [0u8; N];
        for byte in bytes.iter_mut() {
            *byte = decode_char(r)?;
        }
        Ok(Self(bytes))
    }
}

impl<const N: usize> FixedChars<N> {
    /// The text truncated to N − 1 bytes and NUL-padded, as the C struct holds it.
    pub fn from_text(text: &str) -> Self {
        let mut bytes = [0u8; N];
        for (slot, byte) in bytes.iter_mut().zip(text.bytes().take(N.saturating_sub(1))) {
            *slot = byte;
        }
        Self(bytes)
    }

    pub fn to_text(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(N);
        String::from_utf8_lossy(&self.0[..end]).into_owned()
    }
}

/// Declares a struct whose XDR form is its fields in order, and records that declaration (`Declared`) for the
/// renderer of `schemas/remote.x`.
macro_rules! xdr_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Debug)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }

        impl $crate::rpc::xdr::Xdr for $name {
            const MIN_SIZE: usize = 0 $(+ <$ty as $crate::rpc::xdr::Xdr>::MIN_SIZE)*;
            fn encode(&self, _w: &mut $crate::rpc::xdr::Writer) {
                $(self.$field.encode(_w);)*
            }
            fn decode(_r: &mut $crate::rpc::xdr::Reader<'_>) -> Result<Self, $crate::rpc::xdr::XdrError> {
                Ok(Self { $($field: <$ty as $crate::rpc::xdr::Xdr>::decode(_r)?),* })
            }
        }

        #[cfg(test)]
        impl $crate::rpc::xdr::Declared for $name {
            const DECL: Option<$crate::rpc::xdr::StructDecl> = Some($crate::rpc::xdr::StructDecl {
                name: stringify!($name),
                fields: &[$($crate::rpc::xdr::FieldDecl { name: stringify!($field), ty: stringify!($ty) }),*],
            });
        }

        impl $crate::rpc::xdr::Parts for $name {
            type Tuple = ($($ty,)*);
            fn from_parts(($($field,)*): Self::Tuple) -> Self {
                Self { $($field),* }
            }
            fn into_parts(self) -> Self::Tuple {
                ($(self.$field,)*)
            }
        }
    };
}

/// A payload struct as the tuple of its fields in wire order: the generated dispatch arms and remote client
/// methods map driver arguments onto payloads through it, so a procedure whose arguments are the API's
/// arguments in order needs no hand-written code.
pub trait Parts: Sized {
    type Tuple;
    fn from_parts(parts: Self::Tuple) -> Self;
    fn into_parts(self) -> Self::Tuple;
}

impl Parts for () {
    type Tuple = ();
    fn from_parts(_: ()) -> Self {}
    fn into_parts(self) {}
}

/// One payload struct as `xdr_struct!` declared it: its Rust name and, per field in wire order, the field's name
/// and its Rust type as written (`Array<DomainRef, DOMAIN_LIST_MAX>`). Only the test that renders and checks
/// `schemas/remote.x` reads these, so they exist in test builds alone and the codec is untouched.
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
pub struct StructDecl {
    pub name: &'static str,
    pub fields: &'static [FieldDecl],
}

/// One field of a [`StructDecl`].
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
pub struct FieldDecl {
    pub name: &'static str,
    pub ty: &'static str,
}

/// A payload type's recorded declaration; `None` for `void` (`()`), which has no struct.
#[cfg(test)]
pub trait Declared {
    const DECL: Option<StructDecl>;
}

#[cfg(test)]
impl Declared for () {
    const DECL: Option<StructDecl> = None;
}
pub(crate) use xdr_struct;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_pad_to_four_bytes_with_zeros() {
        let bytes = "test".to_string().to_bytes();
        assert_eq!(bytes, [0, 0, 0, 4, b't', b'e', b's', b't']);
        let bytes = "abcde".to_string().to_bytes();
        assert_eq!(bytes.len(), 12);
        assert_eq!(String::from_bytes(&bytes).as_deref(), Ok("abcde"));
    }

    #[test]
    fn strict_rules_refuse_bad_input() {
        let cases: Vec<(Vec<u8>, XdrError)> = vec![
            (
                vec![0, 0, 0, 5, b'a', b'b', b'c', b'd', b'e', 0, 1, 0],
                XdrError::Padding(9),
            ),
            (vec![0, 0, 0, 1, b'a', 0, 0, 0, 9], XdrError::Trailing(1)),
            (vec![0, 0, 0, 2, 0, 0x41, 0, 0], XdrError::Nul),
            (vec![0, 0, 0, 2, 0xc3, 0x28, 0, 0], XdrError::Utf8),
            (vec![0xff, 0xff, 0xff, 0xff], XdrError::NegativeCount(-1)),
            (
                vec![0, 0x40, 0, 1],
                XdrError::TooLong {
                    count: 0x40_0001,
                    max: STRING_MAX,
                },
            ),
            (
                vec![0, 0, 1, 0, b'x'],
                XdrError::Truncated {
                    offset: 4,
                    needed: 255,
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(String::from_bytes(&bytes), Err(want), "{bytes:?}");
        }
        assert_eq!(
            Option::<i32>::from_bytes(&[0, 0, 0, 2]),
            Err(XdrError::Discriminant(2))
        );
    }

    #[test]
    fn array_counts_are_bounded_by_the_bytes_present_before_allocating() {
        type Ids = Array<i32, 16384>;
        // 16000 claimed elements, 4 bytes present: refused without reserving 64 KB.
        let err = Ids::from_bytes(&[0, 0, 0x3e, 0x80, 0, 0, 0, 1]).unwrap_err();
        assert!(matches!(err, XdrError::Truncated { .. }));
        let err = Ids::from_bytes(&[0, 0, 0x40, 0x01]).unwrap_err();
        assert_eq!(
            err,
            XdrError::TooLong {
                count: 16385,
                max: 16384
            }
        );
    }

    #[test]
    fn char_arrays_widen_each_byte_to_an_int() {
        let model = CharArray::<257>::c_string("testSecurity");
        let bytes = model.to_bytes();
        assert_eq!(bytes.len(), 4 + 13 * 4);
        assert_eq!(&bytes[..8], &[0, 0, 0, 13, 0, 0, 0, b't']);
        let back = CharArray::<257>::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_text(), "testSecurity");
        let high = CharArray::<4>(vec![0xe9]).to_bytes();
        assert_eq!(high, [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xe9]);
        assert_eq!(CharArray::<4>::from_bytes(&high).unwrap().0, vec![0xe9]);
        assert!(CharArray::<4>::from_bytes(&[0, 0, 0, 1, 0, 0, 1, 0]).is_err());
        let fixed = FixedChars::<32>::from_text("i686");
        assert_eq!(fixed.to_bytes().len(), 128);
        assert_eq!(fixed.to_text(), "i686");
    }
}
