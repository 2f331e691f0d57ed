//! DIGEST-MD5 (RFC 2831) as a custom rsasl mechanism, server and client, with its security layer.

use rsasl::mechanism::{Authentication, MechanismData, MechanismErrorKind, SessionError, State};
use rsasl::prelude::{Mechanism, Mechname};
use rsasl::property::{Property, SizedProperty};
use rsasl::registry::{Matches, Named, Side};

/// Asked of the server callback: H(user:realm:password), 16 bytes, for the AuthId and Realm in the context.
pub struct DigestSecret;
impl Property<'_> for DigestSecret {
    type Value = [u8];
}

/// Asked of the callback: (minimum, maximum) SSF the transport wants.
pub struct LayerPolicy;
impl SizedProperty<'_> for LayerPolicy {
    type Value = (u32, u32);
}

/// Told to the callback once negotiated: the SSF of the layer (0 = none).
pub struct NegotiatedSsf;
impl SizedProperty<'_> for NegotiatedSsf {
    type Value = u32;
}

/// Hex H(A1-base) from the credential store as 16 bytes.
pub fn decode_hex_secret(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

pub static DIGEST_MD5: Mechanism = Mechanism::build(
    Mechname::const_new_unchecked(b"DIGEST-MD5"),
    200,
    Some(|| Ok(Box::new(Unimplemented))),
    Some(|_| Ok(Box::new(Unimplemented))),
    Side::Server,
    |_| Some(Matches::<Select>::name()),
    |_| true,
);

struct Select;
impl Named for Select {
    fn mech() -> &'static Mechanism {
        &DIGEST_MD5
    }
}

#[derive(Debug, thiserror::Error)]
#[error("DIGEST-MD5 is not implemented yet")]
struct NotYet;
impl rsasl::mechanism::MechanismError for NotYet {
    fn kind(&self) -> MechanismErrorKind {
        MechanismErrorKind::Protocol
    }
}

struct Unimplemented;
impl Authentication for Unimplemented {
    fn step(
        &mut self,
        _session: &mut MechanismData,
        _input: Option<&[u8]>,
        _writer: &mut dyn std::io::Write,
    ) -> Result<State, SessionError> {
        Err(NotYet.into())
    }
}
