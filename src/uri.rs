//! libvirt connection URIs, `driver[+transport]://[user@][host][:port]/path[?params]`: parsed and formatted, pure.
//!
//! The rules follow what libvirt 9.0's client does with a URI: libxml2's strict RFC 3986 grammar (so a space or a
//! bad `%` escape is refused), IPv6 hosts in brackets, query parameters split at `&` (or `;` when there is no `&`)
//! and percent-decoded, the transport taken from the scheme after `+`, and the name sent in CONNECT_OPEN computed
//! by dropping everything only the client side needs.

use crate::error::{Error, ErrorCode, ErrorDomain};
use std::fmt;

/// The remote driver's default TCP port (`tcp_port`).
pub const DEFAULT_TCP_PORT: u16 = 16509;
/// The remote driver's default TLS port (`tls_port`).
pub const DEFAULT_TLS_PORT: u16 = 16514;

/// Query parameters the client consumes itself; they never reach the server in CONNECT_OPEN.
const REMOTE_ONLY_PARAMS: &[&str] = &[
    "name",
    "command",
    "socket",
    "auth",
    "sshauth",
    "netcat",
    "keyfile",
    "pkipath",
    "known_hosts",
    "known_hosts_verify",
    "tls_priority",
    "mode",
    "proxy",
    "no_sanity",
    "no_verify",
    "no_tty",
    "authfile",
];

/// Remote-only parameters the ssh helper (`virt-ssh-helper URI`) still needs to pick the far socket.
const HELPER_KEPT_PARAMS: &[&str] = &["mode", "socket"];

/// Why a URI was refused. Each message reads as libvirt's; [`Error`] gets libvirt's code and domain.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum UriError {
    #[error("Unable to parse URI {0}")]
    Unparsable(String),
    #[error("no connection driver available for URI '{0}' does not include a driver name")]
    NoDriver(String),
    #[error("remote_open: transport in URL not recognised (should be tls|unix|ssh|ext|tcp|libssh2|libssh)")]
    UnknownTransport(String),
    #[error("using unix socket and remote server '{0}' is not supported.")]
    UnixWithHost(String),
    #[error("Failed to parse value of URI component {0}")]
    BadFlag(String),
    #[error("Unknown remote mode '{0}'")]
    UnknownMode(String),
    #[error("Unknown proxy type '{0}'")]
    UnknownProxy(String),
    #[error("Unknown known_hosts_verify value '{0}'")]
    UnknownKnownHostsVerify(String),
    #[error("remote_open: for 'ext' transport, command is required")]
    ExtWithoutCommand,
}

impl From<UriError> for Error {
    fn from(err: UriError) -> Self {
        let (code, domain) = match &err {
            UriError::Unparsable(_) => (ErrorCode::INTERNAL_ERROR, ErrorDomain::URI),
            UriError::NoDriver(_) => (ErrorCode::NO_CONNECT, ErrorDomain::NONE),
            _ => (ErrorCode::INVALID_ARG, ErrorDomain::REMOTE),
        };
        let message = match &err {
            UriError::Unparsable(_) => format!("internal error: {err}"),
            UriError::NoDriver(_) => err.to_string(),
            _ => format!("invalid argument: {err}"),
        };
        Error::new(code, domain, message)
    }
}

/// How the client reaches the server: the part of the scheme after `+`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Transport {
    Tls,
    Unix,
    Ssh,
    Libssh2,
    Ext,
    Tcp,
    Libssh,
}

impl Transport {
    pub const ALL: [Transport; 7] = [
        Self::Tls,
        Self::Unix,
        Self::Ssh,
        Self::Libssh2,
        Self::Ext,
        Self::Tcp,
        Self::Libssh,
    ];

    /// The name as written in a scheme (lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls => "tls",
            Self::Unix => "unix",
            Self::Ssh => "ssh",
            Self::Libssh2 => "libssh2",
            Self::Ext => "ext",
            Self::Tcp => "tcp",
            Self::Libssh => "libssh",
        }
    }

    /// Parses a transport name, ignoring case as libvirt does.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
    }

    /// The port used when the URI names none: `None` for transports without one (unix, ext) or whose program
    /// picks it (ssh's own default).
    pub fn default_port(self) -> Option<u16> {
        match self {
            Self::Tcp => Some(DEFAULT_TCP_PORT),
            Self::Tls => Some(DEFAULT_TLS_PORT),
            _ => None,
        }
    }

    /// Transports over ssh of any flavour.
    pub fn is_ssh(self) -> bool {
        matches!(self, Self::Ssh | Self::Libssh | Self::Libssh2)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One query parameter, decoded, in the order written.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UriParam {
    pub name: String,
    pub value: String,
}

/// `mode=`: which daemon socket a unix or ssh connection targets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RemoteMode {
    Auto,
    Legacy,
    Direct,
}

/// `proxy=`: what an ssh connection runs on the far side.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProxyMode {
    Auto,
    Netcat,
    Native,
}

/// `known_hosts_verify=` for the libssh transports.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KnownHostsVerify {
    Normal,
    Auto,
    Ignore,
}

/// `auth=`: which of the server's offered methods the client picks.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AuthChoice {
    /// `sasl` or `sasl.MECH`.
    Sasl {
        mechanism: Option<String>,
    },
    Polkit,
    /// Any other text; it only fails if the server offers nothing by that name.
    Other(String),
}

/// The remote driver's URI parameters, typed. Absent parameters are `None` / `false`; the last of repeated ones wins.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RemoteParams {
    /// A literal name for CONNECT_OPEN, replacing the computed one.
    pub name: Option<String>,
    /// ssh binary (ssh) or the program to run (ext).
    pub command: Option<String>,
    /// Unix socket path, local or on the far host.
    pub socket: Option<String>,
    /// nc binary name on the far host.
    pub netcat: Option<String>,
    pub keyfile: Option<String>,
    /// libssh auth method order, comma separated as written.
    pub sshauth: Option<String>,
    pub known_hosts: Option<String>,
    pub known_hosts_verify: Option<KnownHostsVerify>,
    /// ssh: `StrictHostKeyChecking=no`; tls: skip the server certificate check.
    pub no_verify: bool,
    /// ssh: `BatchMode=yes`.
    pub no_tty: bool,
    /// tls: skip the sanity checks of our own certificates.
    pub no_sanity: bool,
    /// tls: directory holding cacert.pem, cacrl.pem, clientcert.pem, clientkey.pem.
    pub pkipath: Option<String>,
    pub tls_priority: Option<String>,
    pub mode: Option<RemoteMode>,
    pub proxy: Option<ProxyMode>,
    pub auth: Option<AuthChoice>,
    /// Credentials file (as `LIBVIRT_AUTH_FILE`).
    pub authfile: Option<String>,
}

/// A parsed connection URI. Text fields are decoded; [`fmt::Display`] encodes them again.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Uri {
    /// The driver name: the scheme before `+` ("test", "qemu", "remote"), case kept.
    pub driver: String,
    /// The transport written after `+`, if any; see [`Uri::transport`] for the one in effect.
    pub explicit_transport: Option<Transport>,
    pub user: Option<String>,
    /// Host name or address, IPv6 without its brackets. `None` when empty.
    pub host: Option<String>,
    /// The port written in the URI; `None` when absent or 0.
    pub port: Option<u16>,
    /// The path ("/default", "/system"), possibly empty.
    pub path: String,
    pub params: Vec<UriParam>,
    pub fragment: Option<String>,
}

impl Uri {
    /// Parses `text` with libvirt's rules. Errors: unparsable text, no scheme, an unknown transport, `+unix` with a
    /// host.
    pub fn parse(text: &str) -> Result<Self, UriError> {
        let unparsable = || UriError::Unparsable(text.to_string());
        let Some(colon) = text.find(':') else {
            return Err(UriError::NoDriver(text.to_string()));
        };
        let scheme = &text[..colon];
        if !is_scheme(scheme) {
            // A name without a scheme (an alias such as "default" or a relative path) has no driver.
            if scheme.bytes().all(|b| b != b'/' && b != b'?' && b != b'#') && !scheme.is_empty() {
                return Err(unparsable());
            }
            return Err(UriError::NoDriver(text.to_string()));
        }
        let rest = &text[colon + 1..];
        let (rest, fragment) = match rest.split_once('#') {
            Some((before, frag)) => (before, Some(frag)),
            None => (rest, None),
        };
        let (hier, query) = match rest.split_once('?') {
            Some((before, q)) => (before, Some(q)),
            None => (rest, None),
        };
        let (authority, raw_path) = match hier.strip_prefix("//") {
            Some(after) => match after.find('/') {
                Some(slash) => (Some(&after[..slash]), &after[slash..]),
                None => (Some(after), ""),
            },
            None => (None, hier),
        };

        let mut uri = Uri::default();
        if let Some(authority) = authority {
            let (user, hostport) = match authority.rfind('@') {
                Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
                None => (None, authority),
            };
            if let Some(user) = user {
                check_chars(user, is_userinfo_char).ok_or_else(unparsable)?;
                uri.user = Some(decode(user).ok_or_else(unparsable)?);
            }
            let (host, port) = split_host_port(hostport).ok_or_else(unparsable)?;
            if !host.is_empty() {
                uri.host = Some(decode(host).ok_or_else(unparsable)?);
            }
            uri.port = port.filter(|&p| p != 0);
        }
        check_chars(raw_path, is_path_char).ok_or_else(unparsable)?;
        uri.path = decode(raw_path).ok_or_else(unparsable)?;
        if let Some(query) = query {
            check_chars(query, is_query_char).ok_or_else(unparsable)?;
            uri.params = parse_params(query).ok_or_else(unparsable)?;
        }
        if let Some(fragment) = fragment {
            check_chars(fragment, is_query_char).ok_or_else(unparsable)?;
            uri.fragment = Some(decode(fragment).ok_or_else(unparsable)?);
        }

        match scheme.split_once('+') {
            Some((driver, transport)) => {
                let transport = Transport::from_name(transport)
                    .ok_or_else(|| UriError::UnknownTransport(transport.to_string()))?;
                if transport == Transport::Unix {
                    if let Some(host) = &uri.host {
                        return Err(UriError::UnixWithHost(host.clone()));
                    }
                }
                uri.driver = driver.to_string();
                uri.explicit_transport = Some(transport);
            }
            None => uri.driver = scheme.to_string(),
        }
        Ok(uri)
    }

    /// The transport in effect: the explicit one, else TLS when a host is named, else the local unix socket.
    pub fn transport(&self) -> Transport {
        match (self.explicit_transport, &self.host) {
            (Some(transport), _) => transport,
            (None, Some(_)) => Transport::Tls,
            (None, None) => Transport::Unix,
        }
    }

    /// The port to dial: the written one, else the transport's default (`None` for unix, ext, and ssh's own).
    pub fn effective_port(&self) -> Option<u16> {
        self.port.or_else(|| self.transport().default_port())
    }

    /// The host to dial; libvirt uses "localhost" when the URI names none.
    pub fn effective_host(&self) -> &str {
        self.host.as_deref().unwrap_or("localhost")
    }

    /// The value of the last parameter called `name` (names compare without case, as libvirt's do).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
    }

    /// True when a client opens this URI inside its own process, as libvirt does: the `test` driver named without a
    /// transport or host. Everything else (`qemu:///system`, `test+unix:///default`, any host) goes through a daemon.
    pub fn is_local_in_process(&self) -> bool {
        self.driver == "test" && self.explicit_transport.is_none() && self.host.is_none()
    }

    /// The remote driver's parameters, typed. Errors are libvirt's: a flag that is not an integer, an unknown
    /// `mode`/`proxy`/`known_hosts_verify` value, ext without `command`.
    pub fn remote_params(&self) -> Result<RemoteParams, UriError> {
        let mut out = RemoteParams::default();
        for UriParam { name, value } in &self.params {
            let string = || Some(value.clone());
            match name.to_ascii_lowercase().as_str() {
                "name" => out.name = string(),
                "command" => out.command = string(),
                "socket" => out.socket = string(),
                "netcat" => out.netcat = string(),
                "keyfile" => out.keyfile = string(),
                "sshauth" => out.sshauth = string(),
                "known_hosts" => out.known_hosts = string(),
                "known_hosts_verify" => {
                    out.known_hosts_verify = Some(match value.as_str() {
                        "normal" => KnownHostsVerify::Normal,
                        "auto" => KnownHostsVerify::Auto,
                        "ignore" => KnownHostsVerify::Ignore,
                        _ => return Err(UriError::UnknownKnownHostsVerify(value.clone())),
                    })
                }
                "pkipath" => out.pkipath = string(),
                "tls_priority" => out.tls_priority = string(),
                "authfile" => out.authfile = string(),
                "no_verify" => out.no_verify = parse_flag(name, value)?,
                "no_tty" => out.no_tty = parse_flag(name, value)?,
                "no_sanity" => out.no_sanity = parse_flag(name, value)?,
                "mode" => {
                    out.mode = Some(match value.as_str() {
                        "auto" => RemoteMode::Auto,
                        "legacy" => RemoteMode::Legacy,
                        "direct" => RemoteMode::Direct,
                        _ => return Err(UriError::UnknownMode(value.clone())),
                    })
                }
                "proxy" => {
                    out.proxy = Some(match value.as_str() {
                        "auto" => ProxyMode::Auto,
                        "netcat" => ProxyMode::Netcat,
                        "native" => ProxyMode::Native,
                        _ => return Err(UriError::UnknownProxy(value.clone())),
                    })
                }
                "auth" => {
                    out.auth = Some(match value.as_str() {
                        "sasl" => AuthChoice::Sasl { mechanism: None },
                        "polkit" => AuthChoice::Polkit,
                        other => match other.strip_prefix("sasl.") {
                            Some(mech) => AuthChoice::Sasl {
                                mechanism: Some(mech.to_string()),
                            },
                            None => AuthChoice::Other(other.to_string()),
                        },
                    })
                }
                _ => {}
            }
        }
        if self.transport() == Transport::Ext && out.command.is_none() {
            return Err(UriError::ExtWithoutCommand);
        }
        Ok(out)
    }

    /// The name a client sends in CONNECT_OPEN, computed as libvirt's remote driver does: a `name=` parameter
    /// wins; the `remote` driver sends "" (the server picks); otherwise the driver, path, the parameters the server
    /// may need (unknown ones, in order) and the fragment, without transport, user, host and port.
    pub fn open_name(&self) -> String {
        if let Some(name) = self.param("name") {
            return name.to_string();
        }
        if self.driver == "remote" {
            return String::new();
        }
        self.format_for_server(&[])
    }

    /// The URI handed to `virt-ssh-helper` on the far side: like [`Uri::open_name`] but keeping `mode` and
    /// `socket`, which pick the socket there.
    pub fn ssh_helper_name(&self) -> String {
        if let Some(name) = self.param("name") {
            return name.to_string();
        }
        if self.driver == "remote" {
            return String::new();
        }
        self.format_for_server(HELPER_KEPT_PARAMS)
    }

    fn format_for_server(&self, keep: &[&str]) -> String {
        let mut out = format!("{}://", self.driver);
        encode_into(&mut out, &self.path, is_libxml_path_char);
        let passed = self.params.iter().filter(|p| {
            let remote_only = REMOTE_ONLY_PARAMS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&p.name));
            let kept = keep.iter().any(|k| k.eq_ignore_ascii_case(&p.name));
            !remote_only || kept
        });
        for (index, param) in passed.enumerate() {
            out.push(if index == 0 { '?' } else { '&' });
            // libvirt writes the name raw and escapes the value like g_uri_escape_string.
            out.push_str(&param.name);
            out.push('=');
            encode_into(&mut out, &param.value, is_unreserved);
        }
        if let Some(fragment) = &self.fragment {
            out.push('#');
            encode_into(&mut out, fragment, is_fragment_char);
        }
        out
    }
}

impl std::str::FromStr for Uri {
    type Err = UriError;
    fn from_str(text: &str) -> Result<Self, UriError> {
        Self::parse(text)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.driver.clone();
        if let Some(transport) = self.explicit_transport {
            out.push('+');
            out.push_str(transport.as_str());
        }
        let has_authority = self.user.is_some() || self.host.is_some() || self.port.is_some();
        if !has_authority && !self.path.is_empty() && !self.path.starts_with('/') {
            // "test:default": a path with no authority must not be read back as a host.
            out.push(':');
        } else {
            out.push_str("://");
        }
        if let Some(user) = &self.user {
            encode_into(&mut out, user, is_user_display_char);
            out.push('@');
        }
        if let Some(host) = &self.host {
            let ipv6 = host.contains(':')
                && host
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            if ipv6 {
                out.push('[');
                out.push_str(host);
                out.push(']');
            } else {
                encode_into(&mut out, host, is_host_display_char);
            }
        }
        if let Some(port) = self.port {
            out.push_str(&format!(":{port}"));
        }
        encode_into(&mut out, &self.path, is_libxml_path_char);
        for (index, param) in self.params.iter().enumerate() {
            out.push(if index == 0 { '?' } else { '&' });
            encode_into(&mut out, &param.name, is_param_display_char);
            out.push('=');
            encode_into(&mut out, &param.value, is_param_display_char);
        }
        if let Some(fragment) = &self.fragment {
            out.push('#');
            encode_into(&mut out, fragment, is_fragment_char);
        }
        f.write_str(&out)
    }
}

// ---- grammar helpers ----

fn is_scheme(text: &str) -> bool {
    let mut bytes = text.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

fn is_pchar(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || b == b':' || b == b'@'
}

fn is_userinfo_char(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || b == b':'
}

fn is_path_char(b: u8) -> bool {
    is_pchar(b) || b == b'/'
}

fn is_query_char(b: u8) -> bool {
    is_pchar(b) || b == b'/' || b == b'?'
}

/// What libxml2 writes unescaped in a path: its "unreserved" set (with `!*'()`) plus `/;@&=+$,`.
fn is_libxml_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')'
                | b'/'
                | b';'
                | b'@'
                | b'&'
                | b'='
                | b'+'
                | b'$'
                | b','
        )
}

/// What libxml2 writes unescaped in a fragment: unreserved and reserved characters.
fn is_fragment_char(b: u8) -> bool {
    is_libxml_path_char(b) || matches!(b, b'?' | b':' | b'[' | b']')
}

fn is_user_display_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':'
        )
}

fn is_host_display_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        )
}

/// Characters left as they are inside a parameter name or value when formatting; `&`, `;`, `=`, `#`, `%` and
/// anything outside ASCII are escaped so the text parses back to the same pairs.
fn is_param_display_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b':' | b'@' | b'/' | b'?'
        )
}

/// Every byte is either allowed or the start of a valid `%XX` escape.
fn check_chars(text: &str, allowed: fn(u8) -> bool) -> Option<()> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let valid = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !valid {
                return None;
            }
            i += 3;
        } else if allowed(bytes[i]) {
            i += 1;
        } else {
            return None;
        }
    }
    Some(())
}

/// Percent-decodes `text` (`+` stays `+`); `None` if the result is not UTF-8.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex_value(hi).zip(hex_value(lo)),
            _ => None,
        };
        match escaped {
            Some((hi, lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn encode_into(out: &mut String, text: &str, keep: fn(u8) -> bool) {
    for &b in text.as_bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Splits `host[:port]` / `[v6]:port`; `None` when the host or port is malformed.
fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    let (host, port_text) = if let Some(inner) = text.strip_prefix('[') {
        let close = inner.find(']')?;
        let host = &inner[..close];
        let after = &inner[close + 1..];
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match text.rfind(':') {
            Some(colon) => (&text[..colon], Some(&text[colon + 1..])),
            None => (text, None),
        }
    };
    if !text.starts_with('[') {
        check_chars(host, is_host_display_char)?;
    }
    let port = match port_text {
        None | Some("") => None,
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// Splits a query as libvirt does: at `&`, or at `;` only when no `&` is left; `name` alone means an empty value,
/// `=value` is dropped, empty sections are skipped.
fn parse_params(query: &str) -> Option<Vec<UriParam>> {
    let mut params = Vec::new();
    let mut rest = query;
    while !rest.is_empty() {
        let end = rest
            .find('&')
            .or_else(|| rest.find(';'))
            .unwrap_or(rest.len());
        let section = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        if section.is_empty() || section.starts_with('=') {
            continue;
        }
        let (name, value) = section.split_once('=').unwrap_or((section, ""));
        params.push(UriParam {
            name: decode(name)?,
            value: decode(value)?,
        });
    }
    Some(params)
}

fn parse_flag(name: &str, value: &str) -> Result<bool, UriError> {
    // virStrToLong_i: optional leading blanks and sign, decimal digits, nothing after.
    let trimmed = value.trim_start();
    let digits = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UriError::BadFlag(name.to_string()));
    }
    let number: i64 = trimmed
        .parse()
        .map_err(|_| UriError::BadFlag(name.to_string()))?;
    if i32::try_from(number).is_err() {
        return Err(UriError::BadFlag(name.to_string()));
    }
    Ok(number != 0)
}

#[cfg(test)]
mod tests_golden;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_keeps_plus_and_rejects_bad_utf8() {
        assert_eq!(decode("a+b%20c%2f").as_deref(), Some("a+b c/"));
        assert_eq!(decode("%ff"), None);
    }

    #[test]
    fn params_split_like_libvirt() {
        let names = |q: &str| -> Vec<(String, String)> {
            parse_params(q)
                .unwrap_or_default()
                .into_iter()
                .map(|p| (p.name, p.value))
                .collect()
        };
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(names("a=1&b=2"), vec![pair("a", "1"), pair("b", "2")]);
        assert_eq!(names("a=1;b=2"), vec![pair("a", "1"), pair("b", "2")]);
        // With an `&` left, libvirt does not split at `;`.
        assert_eq!(
            names("a=1;b=2&c=3"),
            vec![pair("a", "1;b=2"), pair("c", "3")]
        );
        assert_eq!(names("&&flag&=x&v="), vec![pair("flag", ""), pair("v", "")]);
    }

    #[test]
    fn flags_parse_as_integers() {
        assert_eq!(parse_flag("no_tty", "1"), Ok(true));
        assert_eq!(parse_flag("no_tty", "0"), Ok(false));
        assert_eq!(parse_flag("no_tty", " -2"), Ok(true));
        assert_eq!(
            parse_flag("no_tty", "yes"),
            Err(UriError::BadFlag("no_tty".into()))
        );
        assert_eq!(
            parse_flag("no_tty", ""),
            Err(UriError::BadFlag("no_tty".into()))
        );
    }
}
