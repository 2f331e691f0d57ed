//! DIGEST-MD5 (RFC 2831) as a custom rsasl mechanism, server and client, sans-IO: the challenge/response
//! exchange (md5-sess, utf-8, digest-uri "libvirt/HOST", mutual rspauth), the server's secret taken from the
//! credential store's H(user:realm:password), and the security layer (integrity with HMAC-MD5 and sequence
//! numbers; confidentiality with rc4-40, rc4-56, rc4, des, 3des) including the 4-byte length framing.

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cbc::cipher::generic_array::GenericArray;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyInit, KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use rsasl::mechanism::{
    Authentication, Demand, DemandReply, EmptyProvider, MechanismData, MechanismError,
    MechanismErrorKind, Provider, SessionError, State,
};
use rsasl::prelude::{Mechanism, Mechname};
use rsasl::property::{AuthId, AuthzId, Hostname, Password, Property, Realm, SizedProperty};
use rsasl::registry::{Matches, Named, Side};
use subtle::ConstantTimeEq;

/// Asked of the server callback: H(user:realm:password), 16 bytes, for the AuthId and Realm in the context.
pub struct DigestSecret;
impl Property<'_> for DigestSecret {
    type Value = [u8];
}

/// Asked of the callback: the (minimum, maximum) SSF the transport wants.
pub struct LayerPolicy;
impl SizedProperty<'_> for LayerPolicy {
    type Value = (u32, u32);
}

/// Told to the callback once the exchange succeeded: the SSF of the layer (0 = none).
pub struct NegotiatedSsf;
impl SizedProperty<'_> for NegotiatedSsf {
    type Value = u32;
}

/// The SASL service name libvirt uses (digest-uri "libvirt/HOST").
pub const SERVICE: &str = "libvirt";
/// The largest security-layer token we accept, and the maxbuf we announce (libvirt's value).
pub const MAX_BUFFER: u32 = 65536;
/// Bytes a sealed token adds to its plaintext at most: 10 MAC + 2 type + 4 seq + 8 padding.
const TOKEN_OVERHEAD: usize = 24;
const NONCE_BYTES: usize = 32;

/// Hex H(user:realm:password) from the credential store as 16 bytes.
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
    Some(|| Ok(Box::new(DigestClient::default()))),
    Some(|_| Ok(Box::new(DigestServer::default()))),
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
pub enum DigestError {
    #[error("DIGEST-MD5: malformed message: {0}")]
    Parse(String),
    #[error("DIGEST-MD5: {0}")]
    Protocol(String),
    #[error("DIGEST-MD5: authentication failed: {0}")]
    Outcome(&'static str),
    #[error("DIGEST-MD5 security layer: {0}")]
    Layer(&'static str),
}

impl MechanismError for DigestError {
    fn kind(&self) -> MechanismErrorKind {
        match self {
            DigestError::Parse(_) => MechanismErrorKind::Parse,
            DigestError::Protocol(_) | DigestError::Layer(_) => MechanismErrorKind::Protocol,
            DigestError::Outcome(_) => MechanismErrorKind::Outcome,
        }
    }
}

fn protocol(text: impl Into<String>) -> DigestError {
    DigestError::Protocol(text.into())
}

// ---------------------------------------------------------------------------------------------------------
// Directive lists: `name=token` or `name="quoted \" string"`, comma separated, optional white space.

fn parse_directives(input: &[u8]) -> Result<Vec<(String, String)>, DigestError> {
    let text = std::str::from_utf8(input).map_err(|_| DigestError::Parse("not UTF-8".into()))?;
    let bytes = text.as_bytes();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut pos = 0;
    let skip_space = |pos: &mut usize| {
        while *pos < bytes.len() && matches!(bytes[*pos], b' ' | b'\t' | b'\r' | b'\n') {
            *pos += 1;
        }
    };
    loop {
        skip_space(&mut pos);
        while pos < bytes.len() && bytes[pos] == b',' {
            pos += 1;
            skip_space(&mut pos);
        }
        if pos >= bytes.len() {
            return Ok(out);
        }
        let start = pos;
        while pos < bytes.len() && bytes[pos] != b'=' && bytes[pos] != b',' {
            pos += 1;
        }
        let name = text[start..pos].trim().to_ascii_lowercase();
        if name.is_empty() || pos >= bytes.len() || bytes[pos] != b'=' {
            return Err(DigestError::Parse(format!(
                "directive without value near byte {start}"
            )));
        }
        pos += 1;
        skip_space(&mut pos);
        let value = if pos < bytes.len() && bytes[pos] == b'"' {
            pos += 1;
            let mut value = String::new();
            loop {
                let Some(&c) = bytes.get(pos) else {
                    return Err(DigestError::Parse(format!("unterminated quote in {name}")));
                };
                match c {
                    b'"' => {
                        pos += 1;
                        break;
                    }
                    b'\\' => {
                        let Some(&escaped) = bytes.get(pos + 1) else {
                            return Err(DigestError::Parse(format!("dangling escape in {name}")));
                        };
                        value.push(char::from(escaped));
                        pos += 2;
                    }
                    _ => {
                        // Copy a whole UTF-8 sequence at once.
                        let run_end = text[pos..]
                            .find(['"', '\\'])
                            .map_or(bytes.len(), |i| pos + i);
                        value.push_str(&text[pos..run_end]);
                        pos = run_end;
                    }
                }
            }
            value
        } else {
            let start = pos;
            while pos < bytes.len() && bytes[pos] != b',' {
                pos += 1;
            }
            text[start..pos].trim_end().to_owned()
        };
        skip_space(&mut pos);
        if pos < bytes.len() && bytes[pos] != b',' {
            return Err(DigestError::Parse(format!("garbage after {name}")));
        }
        out.push((name, value));
    }
}

/// Directives by name; names that may appear once are checked for duplicates.
struct Directives(Vec<(String, String)>);

impl Directives {
    fn parse(input: &[u8], repeatable: &[&str]) -> Result<Directives, DigestError> {
        let list = parse_directives(input)?;
        for (i, (name, _)) in list.iter().enumerate() {
            if !repeatable.contains(&name.as_str()) && list[..i].iter().any(|(n, _)| n == name) {
                return Err(DigestError::Parse(format!("{name} given twice")));
            }
        }
        Ok(Directives(list))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[cfg(test)]
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn require(&self, name: &str) -> Result<&str, DigestError> {
        self.get(name)
            .ok_or_else(|| protocol(format!("{name} missing")))
    }
}

fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn list_values(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|v| !v.is_empty())
}

fn parse_maxbuf(value: Option<&str>) -> Result<u32, DigestError> {
    match value {
        None => Ok(MAX_BUFFER),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (64..=0x00ff_ffff).contains(&n) => Ok(n),
            _ => Err(protocol(format!("bad maxbuf {v:?}"))),
        },
    }
}

// ---------------------------------------------------------------------------------------------------------
// The digest computations.

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn hmac_md5(key: &[u8], seq: u32, msg: &[u8]) -> [u8; 16] {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(&seq.to_be_bytes());
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// H(A1) of md5-sess: MD5(secret ":" nonce ":" cnonce [":" authzid]), where secret = H(user:realm:password).
fn session_key(secret: &[u8], nonce: &str, cnonce: &str, authzid: Option<&str>) -> [u8; 16] {
    match authzid {
        Some(a) => md5(&[
            secret,
            b":",
            nonce.as_bytes(),
            b":",
            cnonce.as_bytes(),
            b":",
            a.as_bytes(),
        ]),
        None => md5(&[secret, b":", nonce.as_bytes(), b":", cnonce.as_bytes()]),
    }
}

/// The `response` value (client proof, `initial` = true) or the `rspauth` value (server proof).
struct DigestInput<'a> {
    nonce: &'a str,
    cnonce: &'a str,
    nc: &'a str,
    qop: Qop,
    digest_uri: &'a str,
}

fn digest_value(ha1: &[u8; 16], input: &DigestInput, initial: bool) -> String {
    let method: &[u8] = if initial { b"AUTHENTICATE:" } else { b":" };
    let a2_tail: &[u8] = match input.qop {
        Qop::Auth => b"",
        Qop::AuthInt | Qop::AuthConf => b":00000000000000000000000000000000",
    };
    let ha2 = hex(&md5(&[method, input.digest_uri.as_bytes(), a2_tail]));
    hex(&md5(&[
        hex(ha1).as_bytes(),
        b":",
        input.nonce.as_bytes(),
        b":",
        input.nc.as_bytes(),
        b":",
        input.cnonce.as_bytes(),
        b":",
        input.qop.name().as_bytes(),
        b":",
        ha2.as_bytes(),
    ]))
}

fn random_nonce() -> String {
    let bytes: [u8; NONCE_BYTES] = rand::random();
    B64.encode(bytes)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Qop {
    Auth,
    AuthInt,
    AuthConf,
}

impl Qop {
    fn name(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
            Qop::AuthConf => "auth-conf",
        }
    }

    fn from_name(name: &str) -> Option<Qop> {
        [Qop::Auth, Qop::AuthInt, Qop::AuthConf]
            .into_iter()
            .find(|q| q.name().eq_ignore_ascii_case(name))
    }
}

/// The confidentiality ciphers of RFC 2831, with cyrus's strength values (des counts as 55).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    Rc4_40,
    Rc4_56,
    Rc4,
    Des,
    TripleDes,
}

impl Cipher {
    /// In the order they are listed in a challenge.
    pub const ALL: [Cipher; 5] = [
        Cipher::Rc4_40,
        Cipher::Rc4_56,
        Cipher::Rc4,
        Cipher::Des,
        Cipher::TripleDes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cipher::Rc4_40 => "rc4-40",
            Cipher::Rc4_56 => "rc4-56",
            Cipher::Rc4 => "rc4",
            Cipher::Des => "des",
            Cipher::TripleDes => "3des",
        }
    }

    pub fn ssf(self) -> u32 {
        match self {
            Cipher::Rc4_40 => 40,
            Cipher::Rc4_56 => 56,
            Cipher::Rc4 => 128,
            Cipher::Des => 55,
            Cipher::TripleDes => 112,
        }
    }

    fn from_name(name: &str) -> Option<Cipher> {
        Cipher::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// How many bytes of H(A1) go into the sealing key (RFC 2831 2.4).
    fn key_material_len(self) -> usize {
        match self {
            Cipher::Rc4_40 => 5,
            Cipher::Rc4_56 => 7,
            _ => 16,
        }
    }
}

/// What a side may negotiate: the qop and cipher within the transport's SSF range.
fn qop_allowed(qop: Qop, cipher: Option<Cipher>, (min, max): (u32, u32)) -> bool {
    let ssf = match (qop, cipher) {
        (Qop::Auth, _) => 0,
        (Qop::AuthInt, _) => 1,
        (Qop::AuthConf, Some(c)) => c.ssf(),
        (Qop::AuthConf, None) => return false,
    };
    (min..=max).contains(&ssf)
}

// ---------------------------------------------------------------------------------------------------------
// The security layer.

/// A DES key from 7 bytes of key material: each output byte takes the next 7 bits (parity bits unused).
fn des_key(material: &[u8]) -> [u8; 8] {
    let m = |i: usize| material.get(i).copied().unwrap_or(0);
    [
        m(0),
        (m(0) << 7) | (m(1) >> 1),
        (m(1) << 6) | (m(2) >> 2),
        (m(2) << 5) | (m(3) >> 3),
        (m(3) << 4) | (m(4) >> 4),
        (m(4) << 3) | (m(5) >> 5),
        (m(5) << 2) | (m(6) >> 6),
        m(6) << 1,
    ]
}

type Rc4_128 = rc4::Rc4<rc4::consts::U16>;

enum CipherState {
    Rc4(Box<Rc4_128>),
    DesEnc(Box<cbc::Encryptor<des::Des>>),
    DesDec(Box<cbc::Decryptor<des::Des>>),
    TdesEnc(Box<cbc::Encryptor<des::TdesEde2>>),
    TdesDec(Box<cbc::Decryptor<des::TdesEde2>>),
}

impl CipherState {
    fn new(cipher: Cipher, key: &[u8; 16], encrypt: bool) -> Result<CipherState, DigestError> {
        let bad = |_| DigestError::Layer("cipher key setup failed");
        let iv = &key[8..16];
        Ok(match cipher {
            Cipher::Rc4 | Cipher::Rc4_40 | Cipher::Rc4_56 => {
                CipherState::Rc4(Box::new(Rc4_128::new_from_slice(key).map_err(bad)?))
            }
            Cipher::Des => {
                let k = des_key(&key[..7]);
                if encrypt {
                    CipherState::DesEnc(Box::new(
                        cbc::Encryptor::new_from_slices(&k, iv)
                            .map_err(|_| DigestError::Layer("des key"))?,
                    ))
                } else {
                    CipherState::DesDec(Box::new(
                        cbc::Decryptor::new_from_slices(&k, iv)
                            .map_err(|_| DigestError::Layer("des key"))?,
                    ))
                }
            }
            Cipher::TripleDes => {
                let mut k = [0u8; 16];
                k[..8].copy_from_slice(&des_key(&key[..7]));
                k[8..].copy_from_slice(&des_key(&key[7..14]));
                if encrypt {
                    CipherState::TdesEnc(Box::new(
                        cbc::Encryptor::new_from_slices(&k, iv)
                            .map_err(|_| DigestError::Layer("3des key"))?,
                    ))
                } else {
                    CipherState::TdesDec(Box::new(
                        cbc::Decryptor::new_from_slices(&k, iv)
                            .map_err(|_| DigestError::Layer("3des key"))?,
                    ))
                }
            }
        })
    }

    fn is_block(&self) -> bool {
        !matches!(self, CipherState::Rc4(_))
    }

    /// Transforms in place; block ciphers need a multiple of 8 bytes. The chain carries over between
    /// messages, as cyrus does.
    fn apply(&mut self, data: &mut [u8]) -> Result<(), DigestError> {
        if self.is_block() && !data.len().is_multiple_of(8) {
            return Err(DigestError::Layer(
                "ciphertext is not a whole number of blocks",
            ));
        }
        match self {
            CipherState::Rc4(c) => c.apply_keystream(data),
            CipherState::DesEnc(c) => data
                .chunks_exact_mut(8)
                .for_each(|b| c.encrypt_block_mut(GenericArray::from_mut_slice(b))),
            CipherState::DesDec(c) => data
                .chunks_exact_mut(8)
                .for_each(|b| c.decrypt_block_mut(GenericArray::from_mut_slice(b))),
            CipherState::TdesEnc(c) => data
                .chunks_exact_mut(8)
                .for_each(|b| c.encrypt_block_mut(GenericArray::from_mut_slice(b))),
            CipherState::TdesDec(c) => data
                .chunks_exact_mut(8)
                .for_each(|b| c.decrypt_block_mut(GenericArray::from_mut_slice(b))),
        }
        Ok(())
    }
}

/// One direction's keys and sequence number.
struct Direction {
    mac_key: [u8; 16],
    cipher: Option<CipherState>,
    seq: u32,
}

/// The negotiated security layer of one side.
pub struct Layer {
    send: Direction,
    receive: Direction,
    /// Largest plaintext piece per sent token (from the peer's maxbuf).
    send_piece: usize,
    /// Largest token accepted (our maxbuf).
    receive_max: usize,
    inbuf: Vec<u8>,
}

const MSG_TYPE: [u8; 2] = [0, 1];

impl Layer {
    /// Keys from H(A1) per RFC 2831 2.3/2.4. `client` = this is the client side.
    fn new(
        ha1: &[u8; 16],
        qop: Qop,
        cipher: Option<Cipher>,
        client: bool,
        peer_maxbuf: u32,
    ) -> Result<Layer, DigestError> {
        let kic = md5(&[
            ha1,
            b"Digest session key to client-to-server signing key magic constant",
        ]);
        let kis = md5(&[
            ha1,
            b"Digest session key to server-to-client signing key magic constant",
        ]);
        let (kcc, kcs, ciphers) = match (qop, cipher) {
            (Qop::AuthConf, Some(c)) => {
                let n = c.key_material_len();
                let kcc = md5(&[
                    &ha1[..n],
                    b"Digest H(A1) to client-to-server sealing key magic constant",
                ]);
                let kcs = md5(&[
                    &ha1[..n],
                    b"Digest H(A1) to server-to-client sealing key magic constant",
                ]);
                (kcc, kcs, Some(c))
            }
            (Qop::AuthConf, None) => return Err(DigestError::Layer("auth-conf without a cipher")),
            _ => ([0; 16], [0; 16], None),
        };
        let direction =
            |mac_key: [u8; 16], key: &[u8; 16], encrypt: bool| -> Result<Direction, DigestError> {
                Ok(Direction {
                    mac_key,
                    cipher: ciphers
                        .map(|c| CipherState::new(c, key, encrypt))
                        .transpose()?,
                    seq: 0,
                })
            };
        let (send, receive) = if client {
            (direction(kic, &kcc, true)?, direction(kis, &kcs, false)?)
        } else {
            (direction(kis, &kcs, true)?, direction(kic, &kcc, false)?)
        };
        let peer_maxbuf = usize::try_from(peer_maxbuf).unwrap_or(usize::MAX);
        Ok(Layer {
            send,
            receive,
            send_piece: peer_maxbuf.saturating_sub(TOKEN_OVERHEAD + 8).max(16),
            receive_max: MAX_BUFFER as usize,
            inbuf: Vec::new(),
        })
    }

    fn seal(&mut self, msg: &[u8], out: &mut Vec<u8>) -> Result<(), DigestError> {
        let seq = self.send.seq;
        let mac = hmac_md5(&self.send.mac_key, seq, msg);
        let mut token = Vec::with_capacity(msg.len() + TOKEN_OVERHEAD);
        token.extend_from_slice(msg);
        match &mut self.send.cipher {
            None => token.extend_from_slice(&mac[..10]),
            Some(cipher) => {
                if cipher.is_block() {
                    let pad = 8 - (msg.len() + 10) % 8;
                    // pad is 1..=8, fits a byte.
                    token.extend(std::iter::repeat_n(u8::try_from(pad).unwrap_or(8), pad));
                }
                token.extend_from_slice(&mac[..10]);
                cipher.apply(&mut token)?;
            }
        }
        token.extend_from_slice(&MSG_TYPE);
        token.extend_from_slice(&seq.to_be_bytes());
        let len = u32::try_from(token.len()).map_err(|_| DigestError::Layer("token too large"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&token);
        self.send.seq = seq.wrapping_add(1);
        Ok(())
    }

    fn unseal(&mut self, token: &[u8], out: &mut Vec<u8>) -> Result<(), DigestError> {
        if token.len() < 16 {
            return Err(DigestError::Layer("token too short"));
        }
        let (body, trailer) = token.split_at(token.len() - 6);
        if trailer[..2] != MSG_TYPE {
            return Err(DigestError::Layer("bad message type"));
        }
        let seq = self.receive.seq;
        if trailer[2..] != seq.to_be_bytes() {
            return Err(DigestError::Layer(
                "sequence number mismatch (replayed or lost token)",
            ));
        }
        let mut body = body.to_vec();
        let msg_len = match &mut self.receive.cipher {
            None => body.len() - 10,
            Some(cipher) => {
                let block = cipher.is_block();
                cipher.apply(&mut body)?;
                let without_mac = body.len() - 10;
                if block {
                    if without_mac == 0 {
                        return Err(DigestError::Layer("token too short"));
                    }
                    let pad = usize::from(body[without_mac - 1]);
                    if !(1..=8).contains(&pad)
                        || pad > without_mac
                        || body[without_mac - pad..without_mac]
                            .iter()
                            .any(|&b| usize::from(b) != pad)
                    {
                        return Err(DigestError::Layer("bad padding"));
                    }
                    without_mac - pad
                } else {
                    without_mac
                }
            }
        };
        let mac_start = body.len() - 10;
        let expected = hmac_md5(&self.receive.mac_key, seq, &body[..msg_len]);
        if !bool::from(expected[..10].ct_eq(&body[mac_start..])) {
            return Err(DigestError::Layer("integrity check failed"));
        }
        out.extend_from_slice(&body[..msg_len]);
        self.receive.seq = seq.wrapping_add(1);
        Ok(())
    }

    /// Plaintext to complete wire chunks (4-byte length + token each).
    pub fn encode(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), DigestError> {
        for piece in plain.chunks(self.send_piece) {
            self.seal(piece, out)?;
        }
        Ok(())
    }

    /// Wire bytes in any split; appends the plaintext of every chunk completed so far.
    pub fn decode(&mut self, wire: &[u8], out: &mut Vec<u8>) -> Result<(), DigestError> {
        self.inbuf.extend_from_slice(wire);
        let mut consumed = 0;
        let result = loop {
            let rest = &self.inbuf[consumed..];
            if rest.len() < 4 {
                break Ok(());
            }
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if len > self.receive_max || len < 16 {
                break Err(DigestError::Layer("token length out of range"));
            }
            if rest.len() < 4 + len {
                break Ok(());
            }
            let token = rest[4..4 + len].to_vec();
            consumed += 4 + len;
            if let Err(e) = self.unseal(&token, out) {
                break Err(e);
            }
        };
        self.inbuf.drain(..consumed);
        result
    }
}

// ---------------------------------------------------------------------------------------------------------
// The server.

struct UserProvider<'a> {
    user: &'a str,
    realm: &'a str,
    authzid: Option<&'a str>,
}

impl<'a> Provider<'a> for UserProvider<'a> {
    fn provide(&self, req: &mut Demand<'a>) -> DemandReply<()> {
        req.provide_ref::<AuthId>(self.user)?
            .provide_ref::<Realm>(self.realm)?;
        if let Some(authzid) = self.authzid {
            req.provide_ref::<AuthzId>(authzid)?;
        }
        req.done()
    }
}

fn policy(session: &MechanismData) -> Result<(u32, u32), SessionError> {
    Ok(session
        .maybe_need_with::<LayerPolicy, _, _>(&EmptyProvider, |p| Ok(*p))?
        .unwrap_or((0, 0)))
}

#[derive(Default)]
enum ServerState {
    #[default]
    Initial,
    Challenged {
        nonce: String,
        realm: String,
        policy: (u32, u32),
    },
    Done(Option<Box<Layer>>),
}

#[derive(Default)]
pub struct DigestServer {
    state: ServerState,
}

impl DigestServer {
    fn challenge(
        &mut self,
        session: &mut MechanismData,
        writer: &mut dyn std::io::Write,
    ) -> Result<State, SessionError> {
        let policy = policy(session)?;
        let realm = session
            .maybe_need_with::<Realm, _, _>(&EmptyProvider, |r| Ok(r.to_owned()))?
            .unwrap_or_else(|| super::credentials::DEFAULT_REALM.to_owned());
        let nonce = random_nonce();
        let qops: Vec<&str> = [Qop::Auth, Qop::AuthInt, Qop::AuthConf]
            .into_iter()
            .filter(|&q| match q {
                Qop::AuthConf => Cipher::ALL.iter().any(|&c| qop_allowed(q, Some(c), policy)),
                _ => qop_allowed(q, None, policy),
            })
            .map(Qop::name)
            .collect();
        if qops.is_empty() {
            return Err(protocol("no protection level fits the transport").into());
        }
        let mut challenge = format!(
            "nonce={},realm={},qop={}",
            quote(&nonce),
            quote(&realm),
            quote(&qops.join(","))
        );
        let ciphers: Vec<&str> = Cipher::ALL
            .into_iter()
            .filter(|&c| qop_allowed(Qop::AuthConf, Some(c), policy))
            .map(Cipher::name)
            .collect();
        if !ciphers.is_empty() {
            let _ = write!(challenge, ",cipher={}", quote(&ciphers.join(",")));
        }
        let _ = write!(
            challenge,
            ",maxbuf={MAX_BUFFER},charset=utf-8,algorithm=md5-sess"
        );
        writer.write_all(challenge.as_bytes())?;
        self.state = ServerState::Challenged {
            nonce,
            realm,
            policy,
        };
        Ok(State::Running)
    }

    fn verify(
        &mut self,
        session: &mut MechanismData,
        response: &[u8],
        writer: &mut dyn std::io::Write,
    ) -> Result<State, SessionError> {
        let ServerState::Challenged {
            nonce,
            realm,
            policy,
        } = std::mem::take(&mut self.state)
        else {
            return Err(SessionError::MechanismDone);
        };
        let d = Directives::parse(response, &[])?;
        let username = d.require("username")?;
        if d.get("realm").is_some_and(|r| r != realm) {
            return Err(protocol("realm differs from the one offered").into());
        }
        if d.require("nonce")? != nonce {
            return Err(protocol("nonce differs from the one issued").into());
        }
        let cnonce = d.require("cnonce")?;
        if cnonce.is_empty() {
            return Err(protocol("empty cnonce").into());
        }
        if d.require("nc")? != "00000001" {
            return Err(protocol("nc must be 00000001").into());
        }
        let qop = match d.get("qop") {
            None => Qop::Auth,
            Some(q) => Qop::from_name(q).ok_or_else(|| protocol(format!("unknown qop {q:?}")))?,
        };
        let cipher = match (qop, d.get("cipher")) {
            (Qop::AuthConf, Some(c)) => Some(
                Cipher::from_name(c).ok_or_else(|| protocol(format!("unknown cipher {c:?}")))?,
            ),
            (Qop::AuthConf, None) => return Err(protocol("auth-conf without cipher").into()),
            _ => None,
        };
        if !qop_allowed(qop, cipher, policy) {
            return Err(protocol("protection level not offered").into());
        }
        if d.get("charset")
            .is_some_and(|c| !c.eq_ignore_ascii_case("utf-8"))
        {
            return Err(protocol("charset must be utf-8").into());
        }
        let digest_uri = d.require("digest-uri")?;
        match digest_uri.split_once('/') {
            Some((service, host)) if service == SERVICE && !host.is_empty() => {}
            _ => return Err(protocol(format!("digest-uri must be {SERVICE}/HOST")).into()),
        }
        let client_maxbuf = parse_maxbuf(d.get("maxbuf"))?;
        let authzid = d.get("authzid");
        let provided = d.require("response")?;

        let provider = UserProvider {
            user: username,
            realm: &realm,
            authzid,
        };
        let secret = session
            .maybe_need_with::<DigestSecret, _, _>(&provider, |s| Ok(s.to_vec()))?
            .ok_or(DigestError::Outcome("unknown user"))?;
        let ha1 = session_key(&secret, &nonce, cnonce, authzid);
        let input = DigestInput {
            nonce: &nonce,
            cnonce,
            nc: "00000001",
            qop,
            digest_uri,
        };
        let expected = digest_value(&ha1, &input, true);
        if !bool::from(
            expected
                .as_bytes()
                .ct_eq(provided.to_ascii_lowercase().as_bytes()),
        ) {
            return Err(DigestError::Outcome("wrong password").into());
        }
        session.validate(&provider)?;
        writer.write_all(format!("rspauth={}", digest_value(&ha1, &input, false)).as_bytes())?;
        let layer = match qop {
            Qop::Auth => None,
            _ => Some(Box::new(Layer::new(
                &ha1,
                qop,
                cipher,
                false,
                client_maxbuf,
            )?)),
        };
        let ssf = match qop {
            Qop::Auth => 0,
            Qop::AuthInt => 1,
            Qop::AuthConf => cipher.map_or(0, Cipher::ssf),
        };
        // A callback that does not care about the SSF is fine.
        let _ = session.action::<NegotiatedSsf>(&EmptyProvider, &ssf);
        self.state = ServerState::Done(layer);
        Ok(State::Finished(rsasl::prelude::MessageSent::Yes))
    }
}

/// rsasl's `encode` for either side: the whole input is taken; no layer negotiated is an error.
fn encode_through(
    layer: Option<&mut Layer>,
    input: &[u8],
    writer: &mut dyn std::io::Write,
) -> Result<usize, SessionError> {
    let layer = layer.ok_or(SessionError::NoSecurityLayer)?;
    let mut out = Vec::new();
    layer.encode(input, &mut out)?;
    writer.write_all(&out)?;
    Ok(input.len())
}

/// rsasl's `decode` for either side: returns how much plaintext was written.
fn decode_through(
    layer: Option<&mut Layer>,
    input: &[u8],
    writer: &mut dyn std::io::Write,
) -> Result<usize, SessionError> {
    let layer = layer.ok_or(SessionError::NoSecurityLayer)?;
    let mut out = Vec::new();
    layer.decode(input, &mut out)?;
    writer.write_all(&out)?;
    Ok(out.len())
}

fn layer_of(state: &mut ServerState) -> Option<&mut Layer> {
    match state {
        ServerState::Done(Some(layer)) => Some(layer),
        _ => None,
    }
}

impl Authentication for DigestServer {
    fn step(
        &mut self,
        session: &mut MechanismData,
        input: Option<&[u8]>,
        writer: &mut dyn std::io::Write,
    ) -> Result<State, SessionError> {
        match (&self.state, input) {
            (ServerState::Initial, None | Some([])) => self.challenge(session, writer),
            (ServerState::Initial, Some(_)) => {
                Err(protocol("subsequent authentication is not supported").into())
            }
            (ServerState::Challenged { .. }, Some(response)) => {
                self.verify(session, response, writer)
            }
            (ServerState::Challenged { .. }, None) => Err(SessionError::InputDataRequired),
            (ServerState::Done(_), _) => Err(SessionError::MechanismDone),
        }
    }

    fn encode(
        &mut self,
        input: &[u8],
        writer: &mut dyn std::io::Write,
    ) -> Result<usize, SessionError> {
        encode_through(layer_of(&mut self.state), input, writer)
    }

    fn decode(
        &mut self,
        input: &[u8],
        writer: &mut dyn std::io::Write,
    ) -> Result<usize, SessionError> {
        decode_through(layer_of(&mut self.state), input, writer)
    }

    fn has_security_layer(&self) -> bool {
        matches!(self.state, ServerState::Done(Some(_)))
    }
}

// ---------------------------------------------------------------------------------------------------------
// The client.

#[derive(Default)]
enum ClientState {
    #[default]
    Initial,
    Responded {
        expected_rspauth: String,
        layer: Option<Box<Layer>>,
        ssf: u32,
    },
    Done(Option<Box<Layer>>),
}

#[derive(Default)]
pub struct DigestClient {
    state: ClientState,
}

/// The client's choice within the transport's SSF range: the strongest protection the server offers.
fn choose_protection(
    qops: &[Qop],
    ciphers: &[Cipher],
    policy: (u32, u32),
) -> Option<(Qop, Option<Cipher>)> {
    if qops.contains(&Qop::AuthConf) {
        let best = ciphers
            .iter()
            .copied()
            .filter(|&c| qop_allowed(Qop::AuthConf, Some(c), policy))
            .max_by_key(|c| c.ssf());
        if let Some(c) = best {
            return Some((Qop::AuthConf, Some(c)));
        }
    }
    [Qop::AuthInt, Qop::Auth]
        .into_iter()
        .find(|&q| qops.contains(&q) && qop_allowed(q, None, policy))
        .map(|q| (q, None))
}

impl DigestClient {
    fn respond(
        &mut self,
        session: &mut MechanismData,
        challenge: &[u8],
        writer: &mut dyn std::io::Write,
    ) -> Result<State, SessionError> {
        let d = Directives::parse(challenge, &["realm"])?;
        let nonce = d.require("nonce")?.to_owned();
        if !d.require("algorithm")?.eq_ignore_ascii_case("md5-sess") {
            return Err(protocol("algorithm must be md5-sess").into());
        }
        if d.get("charset")
            .is_some_and(|c| !c.eq_ignore_ascii_case("utf-8"))
        {
            return Err(protocol("unsupported charset").into());
        }
        let qops: Vec<Qop> = list_values(d.get("qop").unwrap_or("auth"))
            .filter_map(Qop::from_name)
            .collect();
        let ciphers: Vec<Cipher> = list_values(d.get("cipher").unwrap_or(""))
            .filter_map(Cipher::from_name)
            .collect();
        let server_maxbuf = parse_maxbuf(d.get("maxbuf"))?;
        let policy = policy(session)?;
        let (qop, cipher) = choose_protection(&qops, &ciphers, policy).ok_or_else(|| {
            protocol("the server offers no protection level this transport accepts")
        })?;

        let user = session.need_with::<AuthId, _, _>(&EmptyProvider, |u| Ok(u.to_owned()))?;
        let password = session.need_with::<Password, _, _>(&EmptyProvider, |p| Ok(p.to_vec()))?;
        let host = session.need_with::<Hostname, _, _>(&EmptyProvider, |h| Ok(h.to_owned()))?;
        let realm = d.get("realm").unwrap_or(&host).to_owned();
        let cnonce = random_nonce();
        let digest_uri = format!("{SERVICE}/{host}");
        let secret = md5(&[user.as_bytes(), b":", realm.as_bytes(), b":", &password]);
        let ha1 = session_key(&secret, &nonce, &cnonce, None);
        let input = DigestInput {
            nonce: &nonce,
            cnonce: &cnonce,
            nc: "00000001",
            qop,
            digest_uri: &digest_uri,
        };
        let mut response = format!(
            "username={},realm={},nonce={},cnonce={},nc=00000001,qop={}",
            quote(&user),
            quote(&realm),
            quote(&nonce),
            quote(&cnonce),
            qop.name()
        );
        if let Some(c) = cipher {
            let _ = write!(response, ",cipher={}", c.name());
        }
        if qop != Qop::Auth {
            let _ = write!(response, ",maxbuf={MAX_BUFFER}");
        }
        let _ = write!(
            response,
            ",digest-uri={},response={}",
            quote(&digest_uri),
            digest_value(&ha1, &input, true)
        );
        if d.get("charset").is_some() {
            response.push_str(",charset=utf-8");
        }
        writer.write_all(response.as_bytes())?;
        let layer = match qop {
            Qop::Auth => None,
            _ => Some(Box::new(Layer::new(
                &ha1,
                qop,
                cipher,
                true,
                server_maxbuf,
            )?)),
        };
        let ssf = match qop {
            Qop::Auth => 0,
            Qop::AuthInt => 1,
            Qop::AuthConf => cipher.map_or(0, Cipher::ssf),
        };
        self.state = ClientState::Responded {
            expected_rspauth: digest_value(&ha1, &input, false),
            layer,
            ssf,
        };
        Ok(State::Running)
    }

    fn check_rspauth(
        &mut self,
        session: &mut MechanismData,
        input: &[u8],
    ) -> Result<State, SessionError> {
        let ClientState::Responded {
            expected_rspauth,
            layer,
            ssf,
        } = std::mem::take(&mut self.state)
        else {
            return Err(SessionError::MechanismDone);
        };
        let d = Directives::parse(input, &[])?;
        let rspauth = d.require("rspauth")?;
        if !bool::from(
            expected_rspauth
                .as_bytes()
                .ct_eq(rspauth.to_ascii_lowercase().as_bytes()),
        ) {
            return Err(DigestError::Outcome("the server's rspauth is wrong").into());
        }
        let _ = session.action::<NegotiatedSsf>(&EmptyProvider, &ssf);
        self.state = ClientState::Done(layer);
        Ok(State::Finished(rsasl::prelude::MessageSent::No))
    }
}

fn client_layer(state: &mut ClientState) -> Option<&mut Layer> {
    match state {
        ClientState::Done(Some(layer)) => Some(layer),
        _ => None,
    }
}

impl Authentication for DigestClient {
    fn step(
        &mut self,
        session: &mut MechanismData,
        input: Option<&[u8]>,
        writer: &mut dyn std::io::Write,
    ) -> Result<State, SessionError> {
        let input = input
            .filter(|i| !i.is_empty())
            .ok_or(SessionError::InputDataRequired)?;
        match self.state {
            ClientState::Initial => self.respond(session, input, writer),
            ClientState::Responded { .. } => self.check_rspauth(session, input),
            ClientState::Done(_) => Err(SessionError::MechanismDone),
        }
    }

    fn encode(
        &mut self,
        input: &[u8],
        writer: &mut dyn std::io::Write,
    ) -> Result<usize, SessionError> {
        encode_through(client_layer(&mut self.state), input, writer)
    }

    fn decode(
        &mut self,
        input: &[u8],
        writer: &mut dyn std::io::Write,
    ) -> Result<usize, SessionError> {
        decode_through(client_layer(&mut self.state), input, writer)
    }

    fn has_security_layer(&self) -> bool {
        matches!(self.state, ClientState::Done(Some(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2831_example_response_and_rspauth() {
        // RFC 2831 section 4: chris / elwood.innosoft.com / secret, qop auth, imap.
        let secret = md5(&[b"chris:elwood.innosoft.com:secret"]);
        let ha1 = session_key(&secret, "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk", None);
        let input = DigestInput {
            nonce: "OA6MG9tEQGm2hh",
            cnonce: "OA6MHXh6VqTrRk",
            nc: "00000001",
            qop: Qop::Auth,
            digest_uri: "imap/elwood.innosoft.com",
        };
        assert_eq!(
            digest_value(&ha1, &input, true),
            "d388dad90d4bbd760a152321f2143af7"
        );
        assert_eq!(
            digest_value(&ha1, &input, false),
            "ea40f60335c427b5527b84dbabcdfffd"
        );
    }

    /// The exchange captured between stock virsh and libvirtd (cyrus on both ends), REPORT §9.2,
    /// traces/sasl-tcp.jsonl: alice / vm / secret123, auth-conf with rc4.
    fn captured_ha1() -> ([u8; 16], DigestInput<'static>) {
        let secret = md5(&[b"alice:vm:secret123"]);
        let nonce = "wnON2b5ItBgE8rEUfrd7ngWDk3aTGQrLoV3dzX4T8/s=";
        let cnonce = "ScjMcHMX/kvD23RS1Kt8rJIZh0jCAAvJfSScccPS7Os=";
        let input = DigestInput {
            nonce,
            cnonce,
            nc: "00000001",
            qop: Qop::AuthConf,
            digest_uri: "libvirt/127.0.0.1",
        };
        (session_key(&secret, nonce, cnonce, None), input)
    }

    #[test]
    fn captured_cyrus_exchange_matches() {
        let (ha1, input) = captured_ha1();
        assert_eq!(
            digest_value(&ha1, &input, true),
            "4e430a211c41754e5230b103f7b1ea49"
        );
        assert_eq!(
            digest_value(&ha1, &input, false),
            "e823080b30dee52e332f4a3ce22c45ea"
        );
    }

    #[test]
    fn captured_cyrus_rc4_layer_first_bytes_match() {
        // After the exchange both sides sent a 32-byte frame (length word 0x00000020 first) as a 48-byte
        // token; the capture kept the first 4 ciphertext bytes of each.
        let (ha1, _) = captured_ha1();
        for (client, first_cipher_bytes) in [
            (true, [0xe7, 0x26, 0x3e, 0xa0]),
            (false, [0x5f, 0xf5, 0x5e, 0x77]),
        ] {
            let mut layer =
                Layer::new(&ha1, Qop::AuthConf, Some(Cipher::Rc4), client, 65536).unwrap();
            let mut frame = vec![0u8; 32];
            frame[3] = 0x20;
            let mut wire = Vec::new();
            layer.encode(&frame, &mut wire).unwrap();
            assert_eq!(wire[..4], 48u32.to_be_bytes());
            assert_eq!(wire[4..8], first_cipher_bytes, "client side: {client}");
        }
    }

    fn pair(qop: Qop, cipher: Option<Cipher>) -> (Layer, Layer) {
        let ha1 = md5(&[b"some session key"]);
        (
            Layer::new(&ha1, qop, cipher, true, 65536).unwrap(),
            Layer::new(&ha1, qop, cipher, false, 65536).unwrap(),
        )
    }

    #[test]
    fn layer_round_trips_every_cipher_both_ways_in_any_split() {
        let protections = Cipher::ALL
            .into_iter()
            .map(|c| (Qop::AuthConf, Some(c)))
            .chain([(Qop::AuthInt, None)]);
        for (qop, cipher) in protections {
            let (mut client, mut server) = pair(qop, cipher);
            for round in 0..4usize {
                let message: Vec<u8> = (0..(round * 37 + 8))
                    .map(|i| u8::try_from((i * 7 + round) % 256).unwrap())
                    .collect();
                let mut wire = Vec::new();
                client.encode(&message, &mut wire).unwrap();
                if cipher.is_some() {
                    assert_ne!(wire[4..12], message[..8]);
                }
                let mut plain = Vec::new();
                for byte in &wire {
                    server
                        .decode(std::slice::from_ref(byte), &mut plain)
                        .unwrap();
                }
                assert_eq!(plain, message, "{cipher:?} client->server round {round}");
                let mut back = Vec::new();
                server.encode(&message, &mut back).unwrap();
                let mut plain = Vec::new();
                client.decode(&back, &mut plain).unwrap();
                assert_eq!(plain, message, "{cipher:?} server->client round {round}");
            }
        }
    }

    #[test]
    fn large_plaintext_is_cut_to_the_peer_maxbuf() {
        let ha1 = md5(&[b"k"]);
        let mut client =
            Layer::new(&ha1, Qop::AuthConf, Some(Cipher::TripleDes), true, 1024).unwrap();
        let mut server =
            Layer::new(&ha1, Qop::AuthConf, Some(Cipher::TripleDes), false, 65536).unwrap();
        let message = vec![0x5a; 5000];
        let mut wire = Vec::new();
        client.encode(&message, &mut wire).unwrap();
        let mut pos = 0;
        let mut chunks = 0;
        while pos < wire.len() {
            let len = u32::from_be_bytes(wire[pos..pos + 4].try_into().unwrap()) as usize;
            assert!(len <= 1024);
            pos += 4 + len;
            chunks += 1;
        }
        assert!(chunks >= 5);
        let mut plain = Vec::new();
        server.decode(&wire, &mut plain).unwrap();
        assert_eq!(plain, message);
    }

    #[test]
    fn tampered_replayed_and_reordered_tokens_are_refused() {
        for cipher in [Cipher::Rc4, Cipher::TripleDes] {
            let (mut client, server) = pair(Qop::AuthConf, Some(cipher));
            let mut first = Vec::new();
            client.encode(b"first message", &mut first).unwrap();
            let mut second = Vec::new();
            client.encode(b"second message", &mut second).unwrap();

            let mut tampered = first.clone();
            tampered[6] ^= 1;
            let (_, mut fresh) = pair(Qop::AuthConf, Some(cipher));
            assert!(
                fresh.decode(&tampered, &mut Vec::new()).is_err(),
                "{cipher:?} tampered"
            );

            let mut receiver = server;
            let mut out = Vec::new();
            receiver.decode(&first, &mut out).unwrap();
            assert!(
                receiver.decode(&first, &mut out).is_err(),
                "{cipher:?} replayed"
            );

            let (_, mut fresh) = pair(Qop::AuthConf, Some(cipher));
            assert!(
                fresh.decode(&second, &mut Vec::new()).is_err(),
                "{cipher:?} reordered"
            );
        }
        let (mut client, mut server) = pair(Qop::AuthInt, None);
        let mut wire = Vec::new();
        client.encode(b"integrity only", &mut wire).unwrap();
        wire[5] ^= 0x80;
        assert!(server.decode(&wire, &mut Vec::new()).is_err());
    }

    #[test]
    fn directive_parsing_handles_quotes_escapes_and_duplicates() {
        let d = Directives::parse(
            br#"nonce="a\"b,c" , realm="x",realm="y",qop="auth,auth-conf",,maxbuf=1024"#,
            &["realm"],
        )
        .unwrap();
        assert_eq!(d.get("nonce"), Some("a\"b,c"));
        assert_eq!(d.all("realm").collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(
            list_values(d.get("qop").unwrap()).collect::<Vec<_>>(),
            ["auth", "auth-conf"]
        );
        assert_eq!(d.get("maxbuf"), Some("1024"));
        assert!(Directives::parse(b"nonce=a,nonce=b", &[]).is_err());
        assert!(Directives::parse(b"nonce=\"open", &[]).is_err());
        assert!(Directives::parse(b"nonce", &[]).is_err());
        let round = format!("x={}", quote("q\"\\z"));
        assert_eq!(
            Directives::parse(round.as_bytes(), &[]).unwrap().get("x"),
            Some("q\"\\z")
        );
    }

    #[test]
    fn des_key_spreads_seven_bytes_over_eight() {
        assert_eq!(
            des_key(&[0xff; 7]),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]
        );
        assert_eq!(
            des_key(&[0x80, 0, 0, 0, 0, 0, 0x01]),
            [0x80, 0, 0, 0, 0, 0, 0, 0x02]
        );
    }

    #[test]
    fn protection_choice_follows_the_policy() {
        let all = Cipher::ALL;
        let qops = [Qop::Auth, Qop::AuthInt, Qop::AuthConf];
        assert_eq!(
            choose_protection(&qops, &all, (0, 0)),
            Some((Qop::Auth, None))
        );
        assert_eq!(
            choose_protection(&qops, &all, (56, 100_000)),
            Some((Qop::AuthConf, Some(Cipher::Rc4)))
        );
        assert_eq!(
            choose_protection(
                &[Qop::AuthConf],
                &[Cipher::Rc4_40, Cipher::Des],
                (56, 100_000)
            ),
            None
        );
        assert_eq!(choose_protection(&[Qop::AuthConf], &all, (0, 0)), None);
    }
}
