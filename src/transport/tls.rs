//! TLS for the native RPC (libvirt's `+tls` transport): rustls configurations from libvirt's PEM files, the client
//! DN allow-list (GnuTLS-style DN text, `*`/`?` globs), and the one byte `0x01` the server sends inside TLS once it
//! accepted the client's certificate, which the client waits for before its first call.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::listener::{Limit, Slot};

/// The byte the server writes inside TLS after accepting the client's certificate ("go ahead").
pub const CONFIRMATION: u8 = 0x01;
/// How long a client may take for the TLS handshake before the server closes the connection.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes in progress at once; more are closed right away (libvirt's `max_anonymous_clients` default).
pub const DEFAULT_MAX_HANDSHAKES: usize = 20;

/// What goes wrong setting up or running a TLS session.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("Cannot read {what} '{path}': {reason}")]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{what} '{path}' holds no {expected}")]
    Empty {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
    #[error("invalid TLS credentials: {0}")]
    Credentials(String),
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    #[error("TLS handshake did not finish within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("Client's Distinguished Name is not on the list of allowed clients (tls_allowed_dn_list): '{0}'")]
    DnNotAllowed(String),
    #[error("the client sent no certificate")]
    NoClientCertificate,
    #[error("cannot parse the client certificate: {0}")]
    BadCertificate(String),
    #[error("server did not confirm the TLS session: {0}")]
    NoConfirmation(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|err| TlsError::File {
        what,
        path: path.to_path_buf(),
        reason: crate::error::io_error_text(&err),
    })
}

fn bad_pem(what: &'static str, path: &Path, err: &std::io::Error) -> TlsError {
    TlsError::File {
        what,
        path: path.to_path_buf(),
        reason: format!("invalid PEM: {err}"),
    }
}

/// Every certificate in a PEM file (at least one).
pub fn load_certificates(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(what, path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad_pem(what, path, &err))?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_path_buf(),
            expected: "certificate",
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_private_key(
    what: &'static str,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_pem(what, path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|err| bad_pem(what, path, &err))?
        .ok_or_else(|| TlsError::Empty {
            what,
            path: path.to_path_buf(),
            expected: "private key",
        })
}

/// Every CRL in a PEM file (possibly none).
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let what = "certificate revocation list";
    let pem = read_pem(what, path)?;
    rustls_pemfile::crls(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad_pem(what, path, &err))
}

fn root_store(ca: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certificates("CA certificate", ca)? {
        roots.add(cert).map_err(|err| {
            TlsError::Credentials(format!("CA certificate {}: {err}", ca.display()))
        })?;
    }
    Ok(Arc::new(roots))
}

// ---------------------------------------------------------------------------------------------------------------
// Server

/// The check of client certificates both TLS front ends use (the RPC listener and WBEM's HTTPS): signed by a CA
/// of `ca`, valid now, client purpose, and not revoked by `crl` when one is given (an unknown status passes, as
/// GnuTLS lets it for libvirt). `required` = false lets a client without a certificate finish the handshake
/// (the front end then asks for something else); one that sends a certificate must still pass.
pub fn client_verifier(
    ca: &Path,
    crl: Option<&Path>,
    required: bool,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut verifier = WebPkiClientVerifier::builder_with_provider(root_store(ca)?, provider());
    if let Some(crl) = crl {
        verifier = verifier
            .with_crls(load_crls(crl)?)
            .allow_unknown_revocation_status();
    }
    if !required {
        verifier = verifier.allow_unauthenticated();
    }
    verifier
        .build()
        .map_err(|err| TlsError::Credentials(err.to_string()))
}

/// The server side's files and checks, as `libvirtd.conf` states them.
#[derive(Clone, Debug)]
pub struct TlsServerOptions {
    pub key: PathBuf,
    pub cert: PathBuf,
    pub ca: PathBuf,
    pub crl: Option<PathBuf>,
    /// `tls_no_verify_certificate = 0`: clients must present a certificate the CA signed.
    pub verify_client: bool,
    /// `tls_allowed_dn_list`; `None` lets every verified client in, an empty list none.
    pub allowed_dn_list: Option<Vec<String>>,
    pub handshake_timeout: Duration,
    pub max_handshakes: usize,
}

/// Accepts TLS clients: handshake under a deadline, certificate and DN checks, then the confirmation byte.
/// What runs inside the session is the caller's (the RPC server's TLS listener).
pub struct TlsServer {
    acceptor: tokio_rustls::TlsAcceptor,
    options: TlsServerOptions,
    /// Handshakes in progress: unauthenticated peers, capped so a flood of stalled handshakes cannot starve the
    /// daemon.
    handshakes: Limit,
}

impl TlsServer {
    /// Loads the files; every problem (missing file, key not matching the certificate, bad CA) is reported here.
    pub fn new(options: TlsServerOptions) -> Result<Self, TlsError> {
        let certs = load_certificates("server certificate", &options.cert)?;
        let key = load_private_key("server private key", &options.key)?;
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|err| TlsError::Credentials(err.to_string()))?;
        let builder = if options.verify_client {
            let verifier = client_verifier(&options.ca, options.crl.as_deref(), true)?;
            builder.with_client_cert_verifier(verifier)
        } else {
            // libvirt skips every client certificate check then, the DN list included; the CA file must still
            // be readable, as libvirt loads it anyway.
            root_store(&options.ca)?;
            builder.with_no_client_auth()
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|err| TlsError::Credentials(format!("server certificate/key: {err}")))?;
        // No TLS 1.3 session tickets: libvirt's client reads the confirmation byte once the socket turns readable
        // after the handshake, and a ticket arriving alone then makes it fail ("Unable to read TLS confirmation").
        // Sessions are long-lived, so resumption buys nothing anyway.
        config.send_tls13_tickets = 0;
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            handshakes: Limit::new("max_anonymous_clients", options.max_handshakes),
            options,
        })
    }

    /// A slot for one more handshake, or `None` (logged) when `max_handshakes` are already under way; held until
    /// the handshake ends.
    pub fn handshake_slot(&self) -> Option<Slot> {
        self.handshakes.try_take()
    }

    /// Runs the server side of a session on `stream`: handshake (within the deadline), DN check, confirmation byte.
    pub async fn accept<S>(&self, stream: S) -> Result<tokio_rustls::server::TlsStream<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.accept_with_dn(stream).await.map(|(tls, _)| tls)
    }

    /// Like [`TlsServer::accept`], also giving the client certificate's DN when client certificates are checked.
    pub async fn accept_with_dn<S>(
        &self,
        stream: S,
    ) -> Result<(tokio_rustls::server::TlsStream<S>, Option<String>), TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let timeout = self.options.handshake_timeout;
        let mut tls = tokio::time::timeout(timeout, self.acceptor.accept(stream))
            .await
            .map_err(|_| TlsError::HandshakeTimeout(timeout))?
            .map_err(|err| TlsError::Handshake(err.to_string()))?;
        let mut client_dn = None;
        if self.options.verify_client {
            let dn = {
                let (_, session) = tls.get_ref();
                let cert = session
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .ok_or(TlsError::NoClientCertificate)?;
                certificate_dn(cert)?
            };
            if !dn_allowed(self.options.allowed_dn_list.as_deref(), &dn) {
                return Err(TlsError::DnNotAllowed(dn));
            }
            client_dn = Some(dn);
        }
        let confirm = async {
            tls.write_all(&[CONFIRMATION]).await?;
            tls.flush().await
        };
        tokio::time::timeout(timeout, confirm)
            .await
            .map_err(|_| TlsError::HandshakeTimeout(timeout))?
            .map_err(|err| TlsError::Handshake(err.to_string()))?;
        Ok((tls, client_dn))
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Distinguished names

/// The subject DN of a DER certificate as GnuTLS prints it for libvirt: RDNs in certificate order, joined by `,`,
/// multi-valued RDNs by `+`, e.g. `C=GB,ST=London,L=London,O=Red Hat,CN=client`.
pub fn certificate_dn(der: &[u8]) -> Result<String, TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|err| TlsError::BadCertificate(err.to_string()))?;
    let mut out = String::new();
    for (i, rdn) in cert.subject().iter_rdn().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attr.attr_type().to_id_string();
            match (attribute_name(&oid), attr.as_str()) {
                (Some(name), Ok(value)) => {
                    out.push_str(name);
                    out.push('=');
                    escape_dn_value(value, &mut out);
                }
                _ => {
                    out.push_str(&oid);
                    out.push_str("=#");
                    for byte in attr.attr_value().data {
                        out.push_str(&format!("{byte:02X}"));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The first Common Name (CN) of a DER certificate's subject, if it has one that is a string.
pub fn certificate_common_name(der: &[u8]) -> Result<Option<String>, TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|err| TlsError::BadCertificate(err.to_string()))?;
    let cn = cert.subject().iter_common_name().next();
    Ok(cn.and_then(|attr| attr.as_str().ok()).map(str::to_owned))
}

/// Whether `dn` is on an allow-list of `*`/`?` patterns (`tls_allowed_dn_list`, `wbem_allowed_dn_list`); no list
/// lets every DN in, an empty one none.
pub fn dn_allowed(patterns: Option<&[String]>, dn: &str) -> bool {
    patterns.is_none_or(|patterns| patterns.iter().any(|pattern| glob_matches(pattern, dn)))
}

fn attribute_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "1.2.840.113549.1.9.1" => "EMAIL",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        _ => return None,
    })
}

/// RFC 4514 escaping, as GnuTLS applies it to attribute values.
fn escape_dn_value(value: &str, out: &mut String) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
}

/// GLib's `g_pattern_match_simple`, which libvirt uses for `tls_allowed_dn_list`: `*` matches any run of
/// characters, `?` any one character, everything else itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // The last `*` seen and the text position it currently stands for, to backtrack to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

// ---------------------------------------------------------------------------------------------------------------
// Client

/// The client's files: CA (required), CRL (optional), certificate and key (required).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsClientFiles {
    pub ca: PathBuf,
    pub crl: Option<PathBuf>,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsClientFiles {
    /// libvirt's lookup: `pkipath=DIR` → `DIR/{cacert,cacrl,clientcert,clientkey}.pem`; root → `/etc/pki/...`;
    /// others → `$HOME/.pki/libvirt/...` file by file, falling back to the global file when the personal one is
    /// missing. A required file that does not exist is an error naming it.
    pub fn locate(pkipath: Option<&Path>) -> Result<Self, TlsError> {
        let global = (
            PathBuf::from("/etc/pki/CA/cacert.pem"),
            PathBuf::from("/etc/pki/CA/cacrl.pem"),
            PathBuf::from("/etc/pki/libvirt/clientcert.pem"),
            PathBuf::from("/etc/pki/libvirt/private/clientkey.pem"),
        );
        let (ca, crl, cert, key) = if let Some(dir) = pkipath {
            (
                dir.join("cacert.pem"),
                dir.join("cacrl.pem"),
                dir.join("clientcert.pem"),
                dir.join("clientkey.pem"),
            )
        } else if nix::unistd::geteuid().is_root() {
            global
        } else {
            let home = std::env::var_os("HOME")
                .filter(|home| !home.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/"));
            let dir = home.join(".pki/libvirt");
            let personal = |name: &str, fallback: PathBuf| {
                let path = dir.join(name);
                if path.exists() {
                    path
                } else {
                    fallback
                }
            };
            (
                personal("cacert.pem", global.0),
                personal("cacrl.pem", global.1),
                personal("clientcert.pem", global.2),
                personal("clientkey.pem", global.3),
            )
        };
        for (what, path) in [
            ("CA certificate", &ca),
            ("client certificate", &cert),
            ("client private key", &key),
        ] {
            if !path.exists() {
                return Err(TlsError::File {
                    what,
                    path: path.clone(),
                    reason: "No such file or directory".into(),
                });
            }
        }
        Ok(Self {
            crl: crl.exists().then_some(crl),
            ca,
            cert,
            key,
        })
    }
}

/// A client configuration: our certificate, and the server's checked against the CA (and CRL) unless
/// `no_verify` (the URI's `no_verify=1`).
pub fn client_config(
    files: &TlsClientFiles,
    no_verify: bool,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let certs = load_certificates("client certificate", &files.cert)?;
    let key = load_private_key("client private key", &files.key)?;
    let roots = root_store(&files.ca)?;
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsError::Credentials(err.to_string()))?;
    let builder = if no_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider())))
    } else {
        let mut verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider());
        if let Some(crl) = &files.crl {
            verifier = verifier
                .with_crls(load_crls(crl)?)
                .allow_unknown_revocation_status();
        }
        let verifier = verifier
            .build()
            .map_err(|err| TlsError::Credentials(err.to_string()))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CommonNameFallback(verifier)))
    };
    let config = builder
        .with_client_auth_cert(certs, key)
        .map_err(|err| TlsError::Credentials(format!("client certificate/key: {err}")))?;
    Ok(Arc::new(config))
}

/// The configuration for delivering indications to an HTTPS listener (no client certificate): the listener's
/// certificate is checked against `ca` (CA, validity, host name) when one is given, else taken as it is, as CIM
/// servers do for listeners with self-signed certificates (signatures are still checked).
pub fn listener_client_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsError::Credentials(err.to_string()))?;
    let builder = match ca {
        Some(ca) => {
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                root_store(ca)?,
                provider(),
            )
            .build()
            .map_err(|err| TlsError::Credentials(err.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(CommonNameFallback(verifier)))
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider()))),
    };
    Ok(Arc::new(builder.with_no_client_auth()))
}

/// Runs the client side of a session: handshake with `host` as the name the server certificate must carry (an IP
/// address is matched against IP SANs), then waits for the server's confirmation byte.
pub async fn connect<S>(
    stream: S,
    host: &str,
    config: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<tokio_rustls::client::TlsStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(host.to_string())
        .map_err(|err| TlsError::Handshake(format!("invalid server name '{host}': {err}")))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut tls = tokio::time::timeout(timeout, connector.connect(name, stream))
        .await
        .map_err(|_| TlsError::HandshakeTimeout(timeout))?
        .map_err(|err| TlsError::Handshake(err.to_string()))?;
    let mut byte = [0u8; 1];
    match tokio::time::timeout(timeout, tls.read(&mut byte)).await {
        Err(_) => return Err(TlsError::NoConfirmation("timed out".into())),
        Ok(Err(err)) => return Err(TlsError::NoConfirmation(err.to_string())),
        Ok(Ok(0)) => {
            return Err(TlsError::NoConfirmation(
                "the server closed the connection (our certificate was refused?)".into(),
            ))
        }
        Ok(Ok(_)) if byte[0] != CONFIRMATION => {
            return Err(TlsError::NoConfirmation(format!(
                "unexpected byte {:#04x}",
                byte[0]
            )))
        }
        Ok(Ok(_)) => {}
    }
    Ok(tls)
}

/// The CA, validity and CRL checks of webpki, with GnuTLS's host name rule on top: a certificate carrying no
/// subject alternative names at all is matched by its CN (many libvirt deployments still have such certificates).
#[derive(Debug)]
struct CommonNameFallback(Arc<rustls::client::WebPkiServerVerifier>);

/// The certificate has no DNS or IP SANs and its CN equals `host` (ignoring case).
fn common_name_matches(der: &[u8], host: &str) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    let has_names = matches!(
        cert.subject_alternative_name(),
        Ok(Some(san)) if san.value.general_names.iter().any(|name| matches!(
            name,
            x509_parser::extensions::GeneralName::DNSName(_)
                | x509_parser::extensions::GeneralName::IPAddress(_)
        ))
    );
    !has_names
        && cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .any(|cn| cn.eq_ignore_ascii_case(host))
}

impl ServerCertVerifier for CommonNameFallback {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // webpki checks the name last, so the chain, dates and revocation have passed here.
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if common_name_matches(end_entity, &server_name.to_str()) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `no_verify=1`: any server certificate is taken; signatures are still checked so the handshake stays sound.
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_glib() {
        assert!(glob_matches(
            "C=GB,ST=London,L=London,O=Red Hat,CN=*",
            "C=GB,ST=London,L=London,O=Red Hat,CN=client"
        ));
        assert!(glob_matches("*CN=client", "O=x,CN=client"));
        assert!(!glob_matches("*CN=client", "O=x,CN=client2"));
        assert!(glob_matches("CN=c?ient", "CN=client"));
        assert!(!glob_matches("CN=c?ient", "CN=cient"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*b*c", "aXXbYYbc"));
        assert!(!glob_matches("a*b*c", "aXXbYYb"));
        assert!(!glob_matches("", "x"));
    }

    #[test]
    fn dn_values_are_escaped() {
        let mut out = String::new();
        escape_dn_value("#Red, Hat ", &mut out);
        assert_eq!(out, "\\#Red\\, Hat\\ ");
    }
}
