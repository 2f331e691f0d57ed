//! The daemon configuration: libvirtd.conf keys plus ours, strict (unknown keys refused), validated.
//!
//! The file is TOML, which libvirtd.conf's `key = value` lines already are: integers, "strings" and
//! `["lists", "of strings"]` read the same. Like libvirt, booleans are written 0 / 1 (TOML's true / false work too)
//! and ports may be strings ("16509") or integers. Every key is optional; an absent key takes the default listed in
//! `conf/virtcimd.conf`. Relative paths are taken relative to the directory holding the config file.

use crate::uri::Uri;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Which authentication a listener demands before any other call (`auth_unix_rw`, `auth_tcp`, ...).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    None,
    Sasl,
}

/// What the WBEM listeners demand (`wbem_auth`): `"none"`, `"basic"`, `"cert"`, or both methods as a comma list
/// (`"cert,basic"`, in any order), where either one lets a client in. A client certificate is checked against
/// `ca_file` and `wbem_allowed_dn_list`; its Common Name is the user (of `credentials_file`) it acts as.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WbemAuth {
    None,
    Basic,
    Cert,
    CertOrBasic,
}

impl WbemAuth {
    /// Whether Basic credentials let a client in.
    pub fn basic(self) -> bool {
        matches!(self, WbemAuth::Basic | WbemAuth::CertOrBasic)
    }

    /// Whether an HTTPS client certificate lets a client in.
    pub fn cert(self) -> bool {
        matches!(self, WbemAuth::Cert | WbemAuth::CertOrBasic)
    }

    fn parse(text: &str) -> Option<WbemAuth> {
        if text.trim() == "none" {
            return Some(WbemAuth::None);
        }
        let (mut basic, mut cert) = (false, false);
        for method in text.split(',') {
            let seen = match method.trim() {
                "basic" => &mut basic,
                "cert" => &mut cert,
                _ => return None,
            };
            if *seen {
                return None;
            }
            *seen = true;
        }
        Some(match (cert, basic) {
            (true, true) => WbemAuth::CertOrBasic,
            (true, false) => WbemAuth::Cert,
            _ => WbemAuth::Basic,
        })
    }
}

impl<'de> Deserialize<'de> for WbemAuth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        WbemAuth::parse(&text).ok_or_else(|| {
            de::Error::invalid_value(
                Unexpected::Str(&text),
                &"\"none\", \"basic\", \"cert\" or \"cert,basic\"",
            )
        })
    }
}

/// A config file that could not be used: the file, the line when known, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{origin}: cannot read the configuration: {}",
        crate::error::io_error_text(source)
    )]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}:{line}: unknown key `{key}`{hint}")]
    UnknownKey {
        origin: String,
        line: usize,
        key: String,
        hint: String,
    },
    #[error("{origin}:{line}: {}{message}", key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default())]
    Syntax {
        origin: String,
        line: usize,
        /// The key whose value is wrong, when the error lies in a `key = value` line.
        key: Option<String>,
        message: String,
    },
    #[error("{origin}: {key}: {message}")]
    Invalid {
        origin: String,
        key: &'static str,
        message: String,
    },
}

impl ConfigError {
    /// The key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::UnknownKey { key, .. } => Some(key),
            Self::Invalid { key, .. } => Some(key),
            Self::Syntax { key, .. } => key.as_deref(),
            Self::Read { .. } => None,
        }
    }
}

/// The daemon configuration. Field names are the config keys.
#[derive(Clone, PartialEq, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    // ---- native RPC listeners (libvirtd.conf) ----
    /// Listen for TLS connections on `tls_port`. libvirtd's default is 1 but only with its `--listen` flag;
    /// virtcimd has no such flag, so the default is 0 and a 1 here means what it says.
    #[serde(deserialize_with = "flag")]
    pub listen_tls: bool,
    /// Listen for plain TCP connections on `tcp_port`.
    #[serde(deserialize_with = "flag")]
    pub listen_tcp: bool,
    /// Address the TCP and TLS listeners bind; `None` = every address.
    pub listen_addr: Option<String>,
    #[serde(deserialize_with = "port")]
    pub tcp_port: u16,
    #[serde(deserialize_with = "port")]
    pub tls_port: u16,
    /// Directory of `libvirt-sock` and `libvirt-sock-ro`.
    pub unix_sock_dir: PathBuf,
    /// Mode of `libvirt-sock` (written as an octal string, "0700").
    #[serde(deserialize_with = "perms")]
    pub unix_sock_rw_perms: u32,
    /// Mode of `libvirt-sock-ro` ("0777").
    #[serde(deserialize_with = "perms")]
    pub unix_sock_ro_perms: u32,
    pub auth_unix_rw: AuthMode,
    pub auth_unix_ro: AuthMode,
    pub auth_tcp: AuthMode,
    pub auth_tls: AuthMode,
    /// Server private key; `None` = libvirt's default path (see [`Config::tls_files`]).
    pub key_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub crl_file: Option<PathBuf>,
    /// Accept TLS clients without a valid certificate.
    #[serde(deserialize_with = "flag")]
    pub tls_no_verify_certificate: bool,
    /// Client certificate DNs allowed (`*` wildcards); `None` = any.
    pub tls_allowed_dn_list: Option<Vec<String>>,
    /// SASL identities allowed (`*` wildcards); `None` = any.
    pub sasl_allowed_username_list: Option<Vec<String>>,
    pub max_clients: u32,
    pub max_anonymous_clients: u32,
    pub max_client_requests: u32,
    /// Seconds between keepalive PINGs to a silent client; -1 = never.
    pub keepalive_interval: i32,
    /// Unanswered PINGs before the client is dropped.
    pub keepalive_count: u32,

    // ---- ours ----
    /// Where the drivers keep their state (`<state_dir>/test`, ...). One process owns it at a time.
    pub state_dir: PathBuf,
    /// Users and passwords for SASL and WBEM Basic auth.
    pub credentials_file: Option<PathBuf>,
    /// Address the WBEM listeners bind; `None` = every address.
    pub wbem_listen_addr: Option<String>,
    #[serde(deserialize_with = "port")]
    pub wbem_http_port: u16,
    #[serde(deserialize_with = "port")]
    pub wbem_https_port: u16,
    #[serde(deserialize_with = "flag")]
    pub listen_wbem_http: bool,
    #[serde(deserialize_with = "flag")]
    pub listen_wbem_https: bool,
    pub wbem_auth: WbemAuth,
    /// Client certificate DNs the WBEM HTTPS listener lets in (`*` wildcards, as `tls_allowed_dn_list`);
    /// `None` = any the CA signed.
    pub wbem_allowed_dn_list: Option<Vec<String>>,
    /// The driver the CIM providers use; `None` = the daemon's own default driver (today `test:///default`).
    pub wbem_connect_uri: Option<String>,
    /// Retries of a failed indication delivery before the subscription is disabled (DSP1054's
    /// DeliveryRetryAttempts).
    pub wbem_indication_retry_attempts: u16,
    /// Seconds between two delivery attempts (DeliveryRetryInterval).
    pub wbem_indication_retry_interval: u32,
    /// Indications waiting per subscription; more are dropped and counted.
    pub wbem_indication_queue_size: u32,
    /// CA that HTTPS listeners' certificates are checked against; `None` = taken as they are.
    pub wbem_indication_ca_file: Option<PathBuf>,

    // ---- libvirtd.conf, host ----
    /// The host UUID capabilities and migration use (libvirtd's `host_uuid`); `None` = one kept in `state_dir`.
    pub host_uuid: Option<String>,
}

/// The TLS files the server uses: the configured ones, else libvirt's defaults.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TlsFiles {
    pub key: PathBuf,
    pub cert: PathBuf,
    pub ca: PathBuf,
    /// The CRL is optional: the configured one, else the default path only if that file exists.
    pub crl: Option<PathBuf>,
}

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn home_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into()))
}

/// libvirt's per-user runtime directory: `$XDG_RUNTIME_DIR`, else the user cache directory as glib falls back.
fn user_runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => home_dir().join(".cache"),
        },
    }
}

impl Default for Config {
    fn default() -> Self {
        let root = running_as_root();
        Self {
            listen_tls: false,
            listen_tcp: false,
            listen_addr: None,
            tcp_port: crate::uri::DEFAULT_TCP_PORT,
            tls_port: crate::uri::DEFAULT_TLS_PORT,
            unix_sock_dir: if root {
                PathBuf::from("/run/libvirt")
            } else {
                user_runtime_dir().join("libvirt")
            },
            unix_sock_rw_perms: 0o700,
            unix_sock_ro_perms: 0o777,
            auth_unix_rw: AuthMode::None,
            auth_unix_ro: AuthMode::None,
            auth_tcp: AuthMode::Sasl,
            auth_tls: AuthMode::None,
            key_file: None,
            cert_file: None,
            ca_file: None,
            crl_file: None,
            tls_no_verify_certificate: false,
            tls_allowed_dn_list: None,
            sasl_allowed_username_list: None,
            max_clients: 5000,
            max_anonymous_clients: 20,
            max_client_requests: 5,
            keepalive_interval: 5,
            keepalive_count: 5,
            state_dir: default_state_dir(),
            credentials_file: None,
            wbem_listen_addr: None,
            wbem_http_port: 5988,
            wbem_https_port: 5989,
            listen_wbem_http: false,
            listen_wbem_https: false,
            wbem_auth: WbemAuth::Basic,
            wbem_allowed_dn_list: None,
            wbem_connect_uri: None,
            wbem_indication_retry_attempts: 3,
            wbem_indication_retry_interval: 30,
            wbem_indication_queue_size: 1000,
            wbem_indication_ca_file: None,
            host_uuid: None,
        }
    }
}

impl Config {
    /// Reads, parses and validates `path`; relative paths inside are resolved against the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            origin: origin.clone(),
            source,
        })?;
        let mut config = Self::parse(&text, &origin)?;
        let base = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        config.resolve_relative_paths(&base);
        config.validate_as(&origin)?;
        Ok(config)
    }

    /// Parses and validates config text; relative paths stay relative (to the process's working directory).
    #[allow(clippy::should_implement_trait)] // returns ConfigError with line numbers, not a FromStr error
    pub fn from_str(text: &str) -> Result<Self, ConfigError> {
        let config = Self::parse(text, "<config>")?;
        config.validate_as("<config>")?;
        Ok(config)
    }

    fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str::<Self>(text).map_err(|err| {
            let line = err
                .span()
                .map(|span| line_of(text, span.start))
                .unwrap_or(1);
            let message = err.message().to_string();
            match unknown_field_name(&message) {
                Some(key) => ConfigError::UnknownKey {
                    origin: origin.to_string(),
                    line,
                    hint: unsupported_libvirtd_key_hint(&key),
                    key,
                },
                None => ConfigError::Syntax {
                    origin: origin.to_string(),
                    line,
                    key: err.span().and_then(|span| key_at(text, span.start)),
                    message,
                },
            }
        })
    }

    fn resolve_relative_paths(&mut self, base: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        resolve(&mut self.unix_sock_dir);
        resolve(&mut self.state_dir);
        for path in [
            &mut self.key_file,
            &mut self.cert_file,
            &mut self.ca_file,
            &mut self.crl_file,
            &mut self.credentials_file,
        ]
        .into_iter()
        .flatten()
        {
            resolve(path);
        }
    }

    /// Checks the values together: TLS files all-or-none, keepalive and client limits, listener needs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_as("<config>")
    }

    fn validate_as(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key,
            message,
        };
        let given = [
            ("key_file", self.key_file.is_some()),
            ("cert_file", self.cert_file.is_some()),
            ("ca_file", self.ca_file.is_some()),
        ];
        if given.iter().any(|(_, set)| *set) {
            if let Some((missing, _)) = given.iter().find(|(_, set)| !*set) {
                return Err(invalid(
                    missing,
                    "key_file, cert_file and ca_file must be set together (or none of them)".into(),
                ));
            }
        }
        if self.keepalive_interval == 0 || self.keepalive_interval < -1 {
            return Err(invalid(
                "keepalive_interval",
                format!(
                    "{} is not a number of seconds; use a positive number, or -1 to never send keepalive requests",
                    self.keepalive_interval
                ),
            ));
        }
        for (key, value) in [
            ("max_clients", self.max_clients),
            ("max_client_requests", self.max_client_requests),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        for (key, perms) in [
            ("unix_sock_rw_perms", self.unix_sock_rw_perms),
            ("unix_sock_ro_perms", self.unix_sock_ro_perms),
        ] {
            if perms & 0o600 != 0o600 {
                return Err(invalid(
                    key,
                    format!("{perms:04o} leaves the daemon's own user unable to use its socket"),
                ));
            }
        }
        for (key, addr) in [
            ("listen_addr", &self.listen_addr),
            ("wbem_listen_addr", &self.wbem_listen_addr),
        ] {
            if addr.as_deref().is_some_and(|a| a.trim().is_empty()) {
                return Err(invalid(
                    key,
                    "must not be empty (leave it out to listen on every address)".into(),
                ));
            }
        }
        if self.state_dir.as_os_str().is_empty() {
            return Err(invalid("state_dir", "must not be empty".into()));
        }
        if self.unix_sock_dir.as_os_str().is_empty() {
            return Err(invalid("unix_sock_dir", "must not be empty".into()));
        }
        if let Some(uuid) = &self.host_uuid {
            crate::driver::host_uuid::parse_configured(uuid)
                .map_err(|message| invalid("host_uuid", message))?;
        }
        if self.wbem_indication_retry_interval == 0 {
            return Err(invalid(
                "wbem_indication_retry_interval",
                "must be at least 1 (seconds)".into(),
            ));
        }
        if self.wbem_indication_queue_size == 0 {
            return Err(invalid(
                "wbem_indication_queue_size",
                "must be at least 1".into(),
            ));
        }
        if let Some(uri) = &self.wbem_connect_uri {
            if let Err(err) = Uri::parse(uri) {
                return Err(invalid("wbem_connect_uri", err.to_string()));
            }
        }
        let mut needs_credentials = Vec::new();
        for (key, auth, active) in [
            ("auth_unix_rw", self.auth_unix_rw, true),
            ("auth_unix_ro", self.auth_unix_ro, true),
            ("auth_tcp", self.auth_tcp, self.listen_tcp),
            ("auth_tls", self.auth_tls, self.listen_tls),
        ] {
            if active && auth == AuthMode::Sasl {
                needs_credentials.push(key);
            }
        }
        if self.wbem_auth.cert() && !self.wbem_auth.basic() && self.listen_wbem_http {
            return Err(invalid(
                "wbem_auth",
                "\"cert\" alone cannot admit anyone over plain HTTP (listen_wbem_http): turn that listener \
                 off, or accept Basic credentials too (\"cert,basic\")"
                    .into(),
            ));
        }
        if (self.listen_wbem_http || self.listen_wbem_https) && self.wbem_auth != WbemAuth::None {
            needs_credentials.push("wbem_auth");
        }
        if self.credentials_file.is_none() {
            if let Some(first) = needs_credentials.first() {
                return Err(invalid(
                    "credentials_file",
                    format!("is required: {first} asks for user names and passwords"),
                ));
            }
        }
        Ok(())
    }

    /// `libvirt-sock` in `unix_sock_dir`.
    pub fn unix_sock_rw_path(&self) -> PathBuf {
        self.unix_sock_dir.join("libvirt-sock")
    }

    /// `libvirt-sock-ro` in `unix_sock_dir`.
    pub fn unix_sock_ro_path(&self) -> PathBuf {
        self.unix_sock_dir.join("libvirt-sock-ro")
    }

    /// The anonymous-client cap in effect: libvirt never lets it exceed `max_clients`.
    pub fn effective_max_anonymous_clients(&self) -> u32 {
        self.max_anonymous_clients.min(self.max_clients)
    }

    /// The TLS files: configured, else libvirt's defaults (root: `/etc/pki/...`; others: `$HOME/.pki/libvirt/`).
    pub fn tls_files(&self) -> TlsFiles {
        let (key, cert, ca, crl) = if running_as_root() {
            (
                PathBuf::from("/etc/pki/libvirt/private/serverkey.pem"),
                PathBuf::from("/etc/pki/libvirt/servercert.pem"),
                PathBuf::from("/etc/pki/CA/cacert.pem"),
                PathBuf::from("/etc/pki/CA/cacrl.pem"),
            )
        } else {
            let dir = home_dir().join(".pki/libvirt");
            (
                dir.join("serverkey.pem"),
                dir.join("servercert.pem"),
                dir.join("cacert.pem"),
                dir.join("cacrl.pem"),
            )
        };
        TlsFiles {
            key: self.key_file.clone().unwrap_or(key),
            cert: self.cert_file.clone().unwrap_or(cert),
            ca: self.ca_file.clone().unwrap_or(ca),
            crl: self
                .crl_file
                .clone()
                .or_else(|| crl.exists().then_some(crl)),
        }
    }
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key of the `key = value` setting that holds byte `offset` (a value may span lines, as lists do).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let end = offset.min(text.len());
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    text[..line_end].lines().rev().find_map(setting_key)
}

/// `key` of a line reading `key = ...`.
fn setting_key(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let valid = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    valid.then(|| key.to_string())
}

/// serde's "unknown field `x`, expected ..." carries the key between the first pair of backticks.
fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let end = rest.find('`')?;
    Some(rest[..end].to_string())
}

/// libvirtd.conf keys virtcimd knows but does not implement. They are refused like any unknown key (a setting
/// silently ignored could weaken security, e.g. `access_drivers`), with a hint saying what to do instead.
const UNSUPPORTED_LIBVIRTD_KEYS: &[(&str, &str)] = &[
    (
        "log_level",
        "set RUST_LOG (for example RUST_LOG=debug) instead",
    ),
    (
        "log_filters",
        "set RUST_LOG (for example RUST_LOG=virtcim=debug) instead",
    ),
    (
        "log_outputs",
        "virtcimd logs to stderr; redirect it or run it under systemd",
    ),
    (
        "unix_sock_group",
        "set the socket directory's group and unix_sock_rw_perms instead",
    ),
    ("unix_sock_admin_perms", "virtcimd has no admin socket"),
    ("access_drivers", "virtcimd has no access control drivers"),
    ("tcp_min_ssf", ""),
    ("tls_no_sanity_certificate", ""),
    ("tls_priority", "the TLS library's defaults apply"),
    ("max_queued_clients", ""),
    ("min_workers", "virtcimd sizes its worker pool itself"),
    ("max_workers", "virtcimd sizes its worker pool itself"),
    ("prio_workers", "virtcimd sizes its worker pool itself"),
    ("admin_min_workers", "virtcimd has no admin socket"),
    ("admin_max_workers", "virtcimd has no admin socket"),
    ("admin_max_clients", "virtcimd has no admin socket"),
    ("admin_max_queued_clients", "virtcimd has no admin socket"),
    ("admin_max_client_requests", "virtcimd has no admin socket"),
    ("admin_keepalive_interval", "virtcimd has no admin socket"),
    ("admin_keepalive_count", "virtcimd has no admin socket"),
    ("keepalive_required", ""),
    ("admin_keepalive_required", "virtcimd has no admin socket"),
    ("audit_level", ""),
    ("audit_logging", ""),
    ("host_uuid_source", ""),
    ("ovs_timeout", ""),
    ("mdns_adv", ""),
    ("mdns_name", ""),
];

fn unsupported_libvirtd_key_hint(key: &str) -> String {
    match UNSUPPORTED_LIBVIRTD_KEYS
        .iter()
        .find(|(name, _)| *name == key)
    {
        Some((_, "")) => ": a libvirtd.conf key virtcimd does not support; remove it".to_string(),
        Some((_, hint)) => {
            format!(": a libvirtd.conf key virtcimd does not support; remove it ({hint})")
        }
        None => String::new(),
    }
}

// ---- value readers: libvirt's spellings ----

/// A boolean written 0 / 1 (libvirt) or false / true.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct FlagVisitor;
    impl Visitor<'_> for FlagVisitor {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("0 or 1")
        }
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
            Ok(value)
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<bool, E> {
            match value {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(E::invalid_value(Unexpected::Signed(value), &self)),
            }
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<bool, E> {
            match value {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(E::invalid_value(Unexpected::Unsigned(value), &self)),
            }
        }
    }
    deserializer.deserialize_any(FlagVisitor)
}

/// A TCP port written as an integer or a string of digits ("16509").
fn port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    struct PortVisitor;
    impl Visitor<'_> for PortVisitor {
        type Value = u16;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a port number from 0 to 65535 (0 picks a free port)")
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<u16, E> {
            u16::try_from(value).map_err(|_| E::invalid_value(Unexpected::Signed(value), &self))
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<u16, E> {
            u16::try_from(value).map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<u16, E> {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::invalid_value(Unexpected::Str(value), &self));
            }
            value
                .parse()
                .map_err(|_| E::invalid_value(Unexpected::Str(value), &self))
        }
    }
    deserializer.deserialize_any(PortVisitor)
}

/// File permissions as libvirt writes them: an octal string ("0770").
fn perms<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    struct PermsVisitor;
    impl Visitor<'_> for PermsVisitor {
        type Value = u32;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an octal mode in a string, such as \"0770\"")
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<u32, E> {
            let octal = !value.is_empty()
                && value.len() <= 4
                && value.bytes().all(|b| (b'0'..=b'7').contains(&b));
            if !octal {
                return Err(E::invalid_value(Unexpected::Str(value), &self));
            }
            u32::from_str_radix(value, 8)
                .map_err(|_| E::invalid_value(Unexpected::Str(value), &self))
        }
    }
    deserializer.deserialize_str(PermsVisitor)
}

/// The state directory of in-process drivers: `$VIRTCIM_STATE_DIR`, else `/var/lib/virtcim` for root, else
/// `$XDG_STATE_HOME/virtcim` (default `~/.local/state/virtcim`).
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIRTCIM_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/virtcim");
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("virtcim");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
    PathBuf::from(home).join(".local/state/virtcim")
}

#[cfg(test)]
mod tests_golden;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_uuid_is_taken_and_checked() {
        let ok =
            Config::from_str("host_uuid = \"4c4c4544-0044-3210-8052-b4c04f4e4d32\"\n").unwrap();
        assert_eq!(
            ok.host_uuid.as_deref(),
            Some("4c4c4544-0044-3210-8052-b4c04f4e4d32")
        );
        let err =
            Config::from_str("host_uuid = \"00000000-0000-0000-0000-000000000000\"\n").unwrap_err();
        assert_eq!(err.key(), Some("host_uuid"), "{err}");
    }

    #[test]
    fn lines_are_counted_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }

    #[test]
    fn unknown_field_names_are_extracted() {
        assert_eq!(
            unknown_field_name("unknown field `foo`, expected one of `a`").as_deref(),
            Some("foo")
        );
        assert_eq!(unknown_field_name("invalid type"), None);
    }
}
