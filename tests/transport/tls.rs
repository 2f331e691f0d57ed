//! The TLS transport against real peers and every refusal: stock virsh lists domains through virtcimd's TLS
//! listener, our client opens a stock libvirtd's TLS port, and bad client certificates (none, another CA, expired,
//! not yet valid, a CA certificate, a DN outside the allow-list), plain bytes and a stalled handshake never get an
//! RPC processed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::libvirtd::StockLibvirtd;
use crate::support::pki::{client_dn_parts, client_leaf, Ca, Leaf, Pki, CLIENT_DN};
use rcgen::DnType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use virtcim::{
    prelude::*, ConnectOptions, Registry, RemoteDriver, RemoteOptions, RpcServer, ServerConfig,
    TlsServer, TlsServerOptions, Uri,
};

const VIRSH_TIMEOUT: &str = "60";

/// A 28-byte AUTH_LIST call (program 0x20008086, version 1, procedure 66, serial 1): what a client would send first.
const AUTH_LIST_CALL: [u8; 28] = [
    0, 0, 0, 28, 0x20, 0x00, 0x80, 0x86, 0, 0, 0, 1, 0, 0, 0, 66, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0,
];

fn server_options(pki: &Pki) -> TlsServerOptions {
    TlsServerOptions {
        key: pki.server_dir.join("serverkey.pem"),
        cert: pki.server_dir.join("servercert.pem"),
        ca: pki.server_dir.join("cacert.pem"),
        crl: None,
        verify_client: true,
        allowed_dn_list: None,
        handshake_timeout: Duration::from_secs(5),
        max_handshakes: 20,
    }
}

/// An in-process RPC server (test driver in `state`) behind a TLS listener on a free loopback port.
async fn tls_server(options: TlsServerOptions, state: &Path) -> u16 {
    let tls = Arc::new(TlsServer::new(options).expect("tls server"));
    let opener = Registry::new(ConnectOptions {
        state_dir: Some(state.to_path_buf()),
        read_only: false,
    });
    let server = RpcServer::new(Arc::new(opener), ServerConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(server.serve_tls(tls, listener));
    port
}

fn tls_uri(port: u16, pkipath: &Path) -> String {
    format!(
        "test+tls://127.0.0.1:{port}/default?pkipath={}",
        pkipath.display()
    )
}

async fn open(uri: &str) -> virtcim::Result<Arc<RemoteDriver>> {
    let parsed = Uri::parse(uri).expect("uri");
    RemoteDriver::open(&parsed, uri, &RemoteOptions::default()).await
}

/// Handshakes with rustls directly (a client config the test builds, so certificates the library would refuse to
/// load can be presented), sends AUTH_LIST at once without waiting for the confirmation, and returns every byte
/// the server sent back in TLS (and whether it closed the session), or the error that ended the session.
async fn raw_session(port: u16, config: rustls::ClientConfig) -> Result<(Vec<u8>, bool), String> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    let mut tls = connector
        .connect(name, stream)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let _ = tls.write_all(&AUTH_LIST_CALL).await;
    let _ = tls.flush().await;
    // Everything until the server closes, or what came within a few seconds if it keeps the session open.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        match tokio::time::timeout_at(deadline, tls.read(&mut buf)).await {
            Err(_) => return Ok((got, false)),
            Ok(Ok(0)) => return Ok((got, true)),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(err)) if got.is_empty() => return Err(err.to_string()),
            Ok(Err(_)) => return Ok((got, true)),
        }
    }
}

fn roots(ca_pem: &str) -> Arc<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(cert.expect("ca pem")).expect("add root");
    }
    Arc::new(roots)
}

fn raw_client(pki: &Pki, cert_and_key: Option<(&str, &str)>) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots(&pki.ca.pem));
    match cert_and_key {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = rustls_pemfile::certs(&mut cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("cert pem");
            let key = rustls_pemfile::private_key(&mut key.as_bytes())
                .expect("key pem")
                .expect("a key");
            builder
                .with_client_auth_cert(certs, key)
                .expect("client auth")
        }
    }
}

/// A full RPC session over TLS must start with the confirmation byte and then carry the AUTH_LIST reply.
fn assert_served(result: &Result<(Vec<u8>, bool), String>) {
    let (bytes, closed) = result.as_ref().expect("session served");
    assert_eq!(bytes.first(), Some(&0x01), "confirmation byte first");
    // Then the AUTH_LIST reply frame: 4-byte length, program 0x20008086, procedure 66, type REPLY, status OK.
    assert_eq!(bytes.len(), 1 + 36, "{bytes:?}");
    assert_eq!(&bytes[1..5], &[0, 0, 0, 36]);
    assert_eq!(&bytes[5..9], &[0x20, 0x00, 0x80, 0x86]);
    assert!(!closed, "the session stays open");
}

/// Refused: the session ended (an alert, or EOF) and carried neither the confirmation nor any RPC reply.
fn assert_refused(what: &str, result: &Result<(Vec<u8>, bool), String>) {
    match result {
        Err(_) => {}
        Ok((bytes, closed)) => {
            assert!(bytes.is_empty(), "{what}: server sent {bytes:?}");
            assert!(closed, "{what}: session left open");
        }
    }
}

#[tokio::test]
async fn virsh_lists_domains_through_virtcimd_over_tls() {
    if Command::new("virsh").arg("--version").output().is_err() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(tmp.path());
    let tls_port = crate::support::free_port();
    let extra = format!(
        "listen_tls = 1\ntls_port = \"{tls_port}\"\n{}tls_allowed_dn_list = [\"C=GB,ST=London,L=London,O=Red Hat,CN=*\"]\n",
        pki.server_config()
    );
    let daemon = tokio::task::spawn_blocking({
        let dir = tmp.path().to_path_buf();
        move || crate::support::daemon::Daemon::start(&dir, &extra)
    })
    .await
    .expect("daemon");

    let uri = tls_uri(tls_port, &pki.client_dir);
    let out = tokio::task::spawn_blocking({
        let uri = uri.clone();
        move || {
            Command::new("timeout")
                .args([VIRSH_TIMEOUT, "virsh", "-c", &uri, "list", "--all"])
                .stdin(Stdio::null())
                .output()
                .expect("virsh")
        }
    })
    .await
    .expect("virsh thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "virsh failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|line| line.contains(" test ") && line.contains("running")),
        "{stdout}"
    );

    // Our own client over the same listener: encrypted, and the same domain.
    let driver = open(&uri).await.expect("our client over tls");
    assert!(driver.is_encrypted().await.expect("is_encrypted"));
    let names: Vec<String> = driver
        .list_all_domains(0)
        .await
        .expect("list")
        .into_iter()
        .map(|dom| dom.name)
        .collect();
    assert_eq!(names, ["test"]);
    driver.close().await.expect("close");
    drop(daemon);
}

/// A stock libvirtd with `listen_tls = 1` and our certificates; `None` when it cannot run here.
fn start_tls_libvirtd(server_config: &str) -> Option<StockLibvirtd> {
    let port = crate::support::free_port();
    let settings = format!(
        "listen_tls = 1\nlisten_tcp = 0\nlisten_addr = \"127.0.0.1\"\ntls_port = \"{port}\"\n\
         auth_tls = \"none\"\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\n{server_config}"
    );
    StockLibvirtd::start(tempfile::tempdir().expect("tempdir"), port, &settings, &[])
}

#[tokio::test]
async fn our_client_opens_a_stock_libvirtd_over_tls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(tmp.path());
    let server_config = pki.server_config();
    let Some(libvirtd) = tokio::task::spawn_blocking(move || start_tls_libvirtd(&server_config))
        .await
        .expect("start thread")
    else {
        return;
    };
    let uri = tls_uri(libvirtd.port, &pki.client_dir);
    let driver = open(&uri).await.expect("open stock libvirtd over tls");
    let names: Vec<String> = driver
        .list_all_domains(0)
        .await
        .expect("list")
        .into_iter()
        .map(|dom| dom.name)
        .collect();
    assert_eq!(names, ["test"]);
    assert!(driver.is_encrypted().await.expect("encrypted"));
    driver.close().await.expect("close");

    // A certificate from another CA is refused by libvirtd too, and our client says so.
    let other = Ca::new("other CA");
    let parts = client_dn_parts("client");
    let (cert, key) = other.leaf(client_leaf(&parts));
    let foreign = pki.client_set(&tmp.path().join("foreign"), &cert, &key);
    let err = match open(&tls_uri(libvirtd.port, &foreign)).await {
        Ok(_) => panic!("libvirtd accepted a foreign certificate"),
        Err(err) => err,
    };
    assert!(err.message.contains("TLS"), "{}", err.message);
    drop(libvirtd);
}

#[tokio::test]
async fn the_certificate_matrix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(tmp.path());
    let mut options = server_options(&pki);
    options.allowed_dn_list = Some(vec!["C=GB,ST=London,L=London,O=Red Hat,CN=cl*".into()]);
    let port = tls_server(options, tmp.path()).await;

    // The good client: confirmation, then the AUTH_LIST reply; and the library client opens and lists.
    let good_cert = std::fs::read_to_string(pki.client_dir.join("clientcert.pem")).expect("cert");
    let good_key = std::fs::read_to_string(pki.client_dir.join("clientkey.pem")).expect("key");
    let served = raw_session(port, raw_client(&pki, Some((&good_cert, &good_key)))).await;
    assert_served(&served);
    let driver = open(&tls_uri(port, &pki.client_dir))
        .await
        .expect("good client");
    assert_eq!(driver.list_all_domains(0).await.expect("list").len(), 1);

    let parts = client_dn_parts("client");
    let other_ca = Ca::new("other CA");
    let foreign = other_ca.leaf(client_leaf(&parts));
    let expired = pki.ca.leaf(Leaf {
        validity: Some(((2000, 1, 1), (2001, 1, 1))),
        ..client_leaf(&parts)
    });
    let future = pki.ca.leaf(Leaf {
        validity: Some(((2090, 1, 1), (2091, 1, 1))),
        ..client_leaf(&parts)
    });
    let ca_as_client = pki.ca.leaf(Leaf {
        ca: true,
        ..client_leaf(&parts)
    });
    let outsider_parts = client_dn_parts("mallory");
    let outsider = pki.ca.leaf(client_leaf(&outsider_parts));

    let no_cert = raw_session(port, raw_client(&pki, None)).await;
    assert_refused("no client certificate", &no_cert);
    for (what, (cert, key)) in [
        ("another CA", &foreign),
        ("expired", &expired),
        ("not yet valid", &future),
        ("CA:TRUE as client", &ca_as_client),
        ("DN outside the allow-list", &outsider),
    ] {
        let result = raw_session(port, raw_client(&pki, Some((cert, key)))).await;
        assert_refused(what, &result);
        // Through the library client: a clear error, no connection.
        let set = pki.client_set(&tmp.path().join(what.replace(' ', "_")), cert, key);
        match open(&tls_uri(port, &set)).await {
            Ok(_) => panic!("{what}: opened"),
            Err(err) => assert!(err.message.contains("TLS"), "{what}: {}", err.message),
        }
    }
    // The server keeps serving good clients after all that.
    assert_served(&raw_session(port, raw_client(&pki, Some((&good_cert, &good_key)))).await);
}

#[tokio::test]
async fn no_verify_certificate_lets_a_client_without_one_in() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(tmp.path());
    let mut options = server_options(&pki);
    options.verify_client = false;
    let port = tls_server(options, tmp.path()).await;
    assert_served(&raw_session(port, raw_client(&pki, None)).await);
}

#[tokio::test]
async fn plain_bytes_and_stalled_handshakes_are_closed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(tmp.path());
    let mut options = server_options(&pki);
    options.handshake_timeout = Duration::from_secs(1);
    let port = tls_server(options, tmp.path()).await;

    // An RPC call in the clear: closed at once, no reply frame.
    let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let started = Instant::now();
    plain.write_all(&AUTH_LIST_CALL).await.expect("write");
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut got))
        .await
        .expect("closed quickly");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    // At most a TLS alert record (content type 21), never an RPC frame.
    assert!(got.is_empty() || got[0] == 21, "{got:?}");

    // Silence: closed at the handshake deadline.
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let started = Instant::now();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), silent.read_to_end(&mut got))
        .await
        .expect("closed at the deadline");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    assert!(got.is_empty(), "{got:?}");
}

#[tokio::test]
async fn client_files_are_located_and_missing_ones_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(tmp.path());
    let files = virtcim::TlsClientFiles::locate(Some(&pki.client_dir)).expect("pkipath");
    assert_eq!(files.cert, pki.client_dir.join("clientcert.pem"));
    assert_eq!(files.crl, None);
    std::fs::remove_file(pki.client_dir.join("clientkey.pem")).expect("rm");
    let uri = tls_uri(1, &pki.client_dir);
    let err = match open(&uri).await {
        Ok(_) => panic!("opened without a key"),
        Err(err) => err,
    };
    assert!(err.message.contains("clientkey.pem"), "{}", err.message);
}

#[test]
fn client_dn_is_formatted_like_gnutls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(tmp.path());
    let pem = std::fs::read_to_string(pki.client_dir.join("clientcert.pem")).expect("cert");
    let der = rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .expect("one cert")
        .expect("pem");
    assert_eq!(virtcim::certificate_dn(&der).expect("dn"), CLIENT_DN);
    let parts = [(DnType::CommonName, "a,b+c")];
    let (odd, _) = pki.ca.leaf(client_leaf(&parts));
    let der = rustls_pemfile::certs(&mut odd.as_bytes())
        .next()
        .expect("one cert")
        .expect("pem");
    assert_eq!(virtcim::certificate_dn(&der).expect("dn"), "CN=a\\,b\\+c");
}

#[tokio::test]
async fn revoked_client_certificates_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(tmp.path());
    let parts = client_dn_parts("client");
    let revoked = pki.ca.leaf(Leaf {
        serial: Some(4242),
        ..client_leaf(&parts)
    });
    let crl = tmp.path().join("cacrl.pem");
    crate::support::pki::write(&crl, &pki.ca.crl(&[4242]));
    let mut options = server_options(&pki);
    options.crl = Some(crl);
    let port = tls_server(options, tmp.path()).await;
    assert_refused(
        "revoked",
        &raw_session(port, raw_client(&pki, Some((&revoked.0, &revoked.1)))).await,
    );
    let good_cert = std::fs::read_to_string(pki.client_dir.join("clientcert.pem")).expect("cert");
    let good_key = std::fs::read_to_string(pki.client_dir.join("clientkey.pem")).expect("key");
    assert_served(&raw_session(port, raw_client(&pki, Some((&good_cert, &good_key)))).await);
}

#[tokio::test]
async fn the_client_checks_the_server_name_unless_no_verify() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(tmp.path());
    // Replace the server certificate by one for another host.
    let (cert, key) = pki.ca.server_leaf(&["elsewhere.example"]);
    crate::support::pki::write(&pki.server_dir.join("servercert.pem"), &cert);
    crate::support::pki::write(&pki.server_dir.join("serverkey.pem"), &key);
    let port = tls_server(server_options(&pki), tmp.path()).await;
    let err = match open(&tls_uri(port, &pki.client_dir)).await {
        Ok(_) => panic!("a certificate for another host was accepted"),
        Err(err) => err,
    };
    assert!(
        err.message.contains("TLS handshake failed"),
        "{}",
        err.message
    );
    let uri = format!("{}&no_verify=1", tls_uri(port, &pki.client_dir));
    let driver = open(&uri).await.expect("no_verify=1 skips the check");
    assert_eq!(driver.list_all_domains(0).await.expect("list").len(), 1);

    // A certificate without any SAN is matched by its CN, as GnuTLS does; with a SAN the CN is ignored.
    let tmp2 = tempfile::tempdir().expect("tempdir");
    let pki2 = Pki::new(tmp2.path());
    let (cert, key) = pki2.ca.leaf(Leaf {
        dn: &[(DnType::CommonName, "127.0.0.1")],
        sans: &[],
        client: false,
        ca: false,
        validity: None,
        serial: None,
    });
    crate::support::pki::write(&pki2.server_dir.join("servercert.pem"), &cert);
    crate::support::pki::write(&pki2.server_dir.join("serverkey.pem"), &key);
    let port = tls_server(server_options(&pki2), tmp2.path()).await;
    let driver = open(&tls_uri(port, &pki2.client_dir))
        .await
        .expect("CN match");
    assert_eq!(driver.list_all_domains(0).await.expect("list").len(), 1);
    let (cert, key) = pki2.ca.leaf(Leaf {
        dn: &[(DnType::CommonName, "127.0.0.1")],
        sans: &["elsewhere.example"],
        client: false,
        ca: false,
        validity: None,
        serial: None,
    });
    crate::support::pki::write(&pki2.server_dir.join("servercert.pem"), &cert);
    crate::support::pki::write(&pki2.server_dir.join("serverkey.pem"), &key);
    let port = tls_server(server_options(&pki2), tmp2.path()).await;
    assert!(open(&tls_uri(port, &pki2.client_dir)).await.is_err());
}

#[test]
fn the_daemon_refuses_to_start_without_usable_tls_settings() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(tmp.path());
    let cases = [
        (
            format!("listen_tls = 1\ntls_port = \"{}\"\nauth_tls = \"sasl\"\ncredentials_file = \"/nonexistent\"\n{}", crate::support::free_port(), pki.server_config()),
            "auth_tls",
        ),
        (
            format!(
                "listen_tls = 1\ntls_port = \"{}\"\nkey_file = \"{}\"\ncert_file = \"{}\"\nca_file = \"{}\"\n",
                crate::support::free_port(),
                tmp.path().join("missing-key.pem").display(),
                pki.server_dir.join("servercert.pem").display(),
                pki.server_dir.join("cacert.pem").display()
            ),
            "missing-key.pem",
        ),
    ];
    for (i, (extra, needle)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("daemon{i}"));
        std::fs::create_dir_all(&dir).expect("dir");
        let port = crate::support::free_port();
        let config = crate::support::daemon::Daemon::config(&dir, port, extra);
        let daemon = crate::support::daemon::Daemon::spawn(&dir, &config, port);
        let (code, output) = daemon.wait_exit();
        assert_ne!(code, Some(0), "{output}");
        assert!(output.contains(needle), "{needle} not named: {output}");
    }
}
