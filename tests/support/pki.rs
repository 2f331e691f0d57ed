//! Throwaway certificates for the transport tests (rcgen, generated per test, never committed): a CA, server and
//! client certificates in libvirt's file layout, and the odd ones the failure tests need.

use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// The client DN of libvirt's documentation example.
pub const CLIENT_DN: &str = "C=GB,ST=London,L=London,O=Red Hat,CN=client";

/// A certificate authority that signs the others.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

fn dn(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    for (kind, value) in parts {
        name.push(kind.clone(), *value);
    }
    name
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.distinguished_name = dn(&[
            (DnType::OrganizationName, "virtcim tests"),
            (DnType::CommonName, name),
        ]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate and its key (PEM): `sans` as subject alternative names (IP addresses recognised),
    /// `client` picks the TLS purpose.
    pub fn leaf(&self, leaf: Leaf<'_>) -> (String, String) {
        let mut params =
            CertificateParams::new(leaf.sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        params.distinguished_name = dn(leaf.dn);
        params.is_ca = if leaf.ca {
            IsCa::Ca(BasicConstraints::Unconstrained)
        } else {
            IsCa::ExplicitNoCa
        };
        params.key_usages = if leaf.ca {
            vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ]
        } else {
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ]
        };
        params.extended_key_usages = vec![if leaf.client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if let Some((from, to)) = leaf.validity {
            params.not_before = date_time_ymd(from.0, from.1, from.2);
            params.not_after = date_time_ymd(to.0, to.1, to.2);
        }
        params.serial_number = leaf.serial.map(rcgen::SerialNumber::from);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        (cert.pem(), key.serialize_pem())
    }
}

/// A calendar day: (year, month, day).
pub type Day = (i32, u8, u8);

impl Ca {
    /// A CRL (PEM) revoking the certificates with these serial numbers.
    pub fn crl(&self, serials: &[u64]) -> String {
        let params = rcgen::CertificateRevocationListParams {
            this_update: date_time_ymd(2020, 1, 1),
            next_update: date_time_ymd(2090, 1, 1),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from(*serial),
                    revocation_time: date_time_ymd(2021, 1, 1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.issuer)
            .expect("crl")
            .pem()
            .expect("crl pem")
    }

    /// A server certificate and key carrying only these names.
    pub fn server_leaf(&self, sans: &[&str]) -> (String, String) {
        self.leaf(Leaf {
            dn: &[(DnType::CommonName, "elsewhere")],
            sans,
            client: false,
            ca: false,
            validity: None,
            serial: None,
        })
    }
}

/// What a leaf certificate looks like.
pub struct Leaf<'a> {
    pub dn: &'a [(DnType, &'a str)],
    pub sans: &'a [&'a str],
    pub client: bool,
    pub ca: bool,
    /// (not before, not after) as (year, month, day).
    pub validity: Option<(Day, Day)>,
    pub serial: Option<u64>,
}

pub fn client_dn_parts(cn: &str) -> Vec<(DnType, &str)> {
    vec![
        (DnType::CountryName, "GB"),
        (DnType::StateOrProvinceName, "London"),
        (DnType::LocalityName, "London"),
        (DnType::OrganizationName, "Red Hat"),
        (DnType::CommonName, cn),
    ]
}

pub fn client_leaf<'a>(parts: &'a [(DnType, &'a str)]) -> Leaf<'a> {
    Leaf {
        dn: parts,
        sans: &[],
        client: true,
        ca: false,
        validity: None,
        serial: None,
    }
}

/// A server and client set under `dir`: `server/{cacert,servercert,serverkey}.pem` and
/// `client/{cacert,clientcert,clientkey}.pem` (the `pkipath=` layout).
pub struct Pki {
    pub ca: Ca,
    pub server_dir: PathBuf,
    pub client_dir: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Self {
        let ca = Ca::new("virtcim test CA");
        let server_dir = dir.join("server");
        let client_dir = dir.join("client");
        std::fs::create_dir_all(&server_dir).expect("server dir");
        std::fs::create_dir_all(&client_dir).expect("client dir");
        let (cert, key) = ca.leaf(Leaf {
            dn: &[
                (DnType::OrganizationName, "virtcim tests"),
                (DnType::CommonName, "localhost"),
            ],
            sans: &["localhost", "127.0.0.1"],
            client: false,
            ca: false,
            validity: None,
            serial: None,
        });
        write(&server_dir.join("cacert.pem"), &ca.pem);
        write(&server_dir.join("servercert.pem"), &cert);
        write(&server_dir.join("serverkey.pem"), &key);
        let parts = client_dn_parts("client");
        let (cert, key) = ca.leaf(client_leaf(&parts));
        write(&client_dir.join("cacert.pem"), &ca.pem);
        write(&client_dir.join("clientcert.pem"), &cert);
        write(&client_dir.join("clientkey.pem"), &key);
        Self {
            ca,
            server_dir,
            client_dir,
        }
    }

    /// The server's files as daemon config lines.
    pub fn server_config(&self) -> String {
        format!(
            "key_file = \"{}\"\ncert_file = \"{}\"\nca_file = \"{}\"\n",
            self.server_dir.join("serverkey.pem").display(),
            self.server_dir.join("servercert.pem").display(),
            self.server_dir.join("cacert.pem").display()
        )
    }

    /// A `pkipath` directory holding our CA and the given client certificate and key.
    pub fn client_set(&self, dir: &Path, cert: &str, key: &str) -> PathBuf {
        std::fs::create_dir_all(dir).expect("client set dir");
        write(&dir.join("cacert.pem"), &self.ca.pem);
        write(&dir.join("clientcert.pem"), cert);
        write(&dir.join("clientkey.pem"), key);
        dir.to_path_buf()
    }
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
}
