//! The WBEM tests' fixtures: a `virtcimd` with WBEM listeners on 127.0.0.1 (ephemeral ports), a prepared test
//! driver state, and a raw HTTP client. The peers (pywbem venv, wbemcli) are in [`super::python`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use virtcim::{prelude::*, CredentialStore, TestDriver};

use super::daemon::{start_virtcimd, Logged};

pub const USER: &str = "wbemuser";
pub const PASSWORD: &str = "horse-battery-9";

pub struct Options {
    pub basic_auth: bool,
    pub https: bool,
    /// Extra domains defined (shut off) before the daemon starts: `vm000`, `vm001`, ...
    pub extra_domains: usize,
    /// HTTPS with the server certificate, key and CA of this `Pki::server_dir` instead of a self-signed
    /// certificate (implies `https`).
    pub pki_server_dir: Option<PathBuf>,
    /// `wbem_auth` instead of what `basic_auth` picks.
    pub wbem_auth: Option<&'static str>,
    /// More configuration lines.
    pub extra_config: String,
    /// No plain HTTP listener (`wbem_auth = "cert"` alone refuses one); `Wbem::http` then has port 0.
    pub no_http: bool,
    /// Users of the credential store besides `USER` (when `basic_auth`): (name, password, read-only).
    pub users: Vec<(&'static str, &'static str, bool)>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            basic_auth: false,
            https: false,
            extra_domains: 3,
            pki_server_dir: None,
            wbem_auth: None,
            extra_config: String::new(),
            users: Vec::new(),
            no_http: false,
        }
    }
}

/// A daemon we started; stopped on drop (its log printed if the test failed).
pub struct Wbem {
    pub process: Logged,
    pub dir: tempfile::TempDir,
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
    /// What an HTTPS client trusts: the self-signed server certificate, or the PKI's CA.
    pub cert: Option<PathBuf>,
}

fn domain_xml(name: &str, n: usize) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>00000000-0000-4000-8000-{n:012}</uuid>\
         <memory unit='KiB'>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"
    )
}

/// Prepares the test driver's state dir with `count` extra domains.
pub fn prepare_state(state_dir: &Path, count: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let driver = TestDriver::open(&state_dir.join("test"))
            .await
            .expect("open test driver");
        for i in 0..count {
            driver
                .domain_define_xml(&domain_xml(&format!("vm{i:03}"), i + 1), 0)
                .await
                .expect("define domain");
        }
        driver.close().await.expect("close");
    });
}

impl Wbem {
    pub fn start(opts: Options) -> Wbem {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        prepare_state(&state, opts.extra_domains);
        let mut config = format!(
            "state_dir = \"{}\"\nunix_sock_dir = \"{}\"\nlisten_wbem_http = {}\nwbem_http_port = 0\n\
             wbem_listen_addr = \"127.0.0.1\"\n",
            state.display(),
            dir.path().join("run").display(),
            u8::from(!opts.no_http)
        );
        let creds = dir.path().join("credentials.json");
        config.push_str(&format!("credentials_file = \"{}\"\n", creds.display()));
        let mut store = CredentialStore::new();
        if opts.basic_auth {
            store.add_user(USER, PASSWORD, &[]).expect("add user");
        }
        for (name, password, read_only) in &opts.users {
            store.add_user(name, password, &[]).expect("add user");
            store
                .set_read_only(name, *read_only)
                .expect("read-only flag");
        }
        if opts.basic_auth || !opts.users.is_empty() {
            store.save(&creds).expect("save credentials");
        }
        let auth = match opts.wbem_auth {
            Some(auth) => auth,
            None if opts.basic_auth => "basic",
            None => "none",
        };
        config.push_str(&format!("wbem_auth = \"{auth}\"\n"));
        config.push_str(&opts.extra_config);
        let mut cert = None;
        let https = opts.https || opts.pki_server_dir.is_some();
        if let Some(server) = &opts.pki_server_dir {
            config.push_str(&format!(
                "listen_wbem_https = 1\nwbem_https_port = 0\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
                 ca_file = \"{}\"\n",
                server.join("servercert.pem").display(),
                server.join("serverkey.pem").display(),
                server.join("cacert.pem").display()
            ));
            cert = Some(server.join("cacert.pem"));
        } else if opts.https {
            let key = rcgen::KeyPair::generate().expect("key");
            let mut params =
                rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
            params
                .subject_alt_names
                .push(rcgen::SanType::IpAddress("127.0.0.1".parse().expect("ip")));
            let c = params.self_signed(&key).expect("self-signed");
            let cert_path = dir.path().join("server.pem");
            let key_path = dir.path().join("server-key.pem");
            std::fs::write(&cert_path, c.pem()).expect("write cert");
            std::fs::write(&key_path, key.serialize_pem()).expect("write key");
            config.push_str(&format!(
                "listen_wbem_https = 1\nwbem_https_port = 0\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
                 ca_file = \"{}\"\n",
                cert_path.display(),
                key_path.display(),
                cert_path.display()
            ));
            cert = Some(cert_path);
        }
        let conf = dir.path().join("virtcimd.conf");
        std::fs::write(&conf, config).expect("write config");
        let process = start_virtcimd(&conf);
        let http = if opts.no_http {
            SocketAddr::from(([127, 0, 0, 1], 0))
        } else {
            process
                .logged_addr("WBEM HTTP listening")
                .unwrap_or_else(|| panic!("no WBEM listener; stderr:\n{}", process.seen.join("\n")))
        };
        let https_addr = process.logged_addr("WBEM HTTPS listening");
        if https {
            assert!(
                https_addr.is_some(),
                "no HTTPS listener; stderr:\n{}",
                process.seen.join("\n")
            );
        }
        Wbem {
            process,
            dir,
            http,
            https: https_addr,
            cert,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Whether the daemon is still running.
    pub fn alive(&mut self) -> bool {
        self.process.alive()
    }
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends raw bytes and reads one response (the connection is closed by us after reading).
pub fn raw_exchange(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> Option<RawResponse> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(bytes).ok()?;
    read_response(&mut stream)
}

pub fn read_response(stream: &mut TcpStream) -> Option<RawResponse> {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).ok()?;
    let status: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = find("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    } else if find("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(RawResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// An intrinsic CIM-XML request body.
pub fn imethod_body(method: &str, params: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"1\" \
         PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL NAME=\"{method}\"><LOCALNAMESPACEPATH><NAMESPACE \
         NAME=\"root\"/><NAMESPACE NAME=\"virt\"/></LOCALNAMESPACEPATH>{params}</IMETHODCALL></SIMPLEREQ>\
         </MESSAGE></CIM>"
    )
}

/// A complete POST /cimom request for an intrinsic method, with optional extra header lines.
pub fn post(method: &str, body: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "POST /cimom HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml; charset=\"utf-8\"\r\n\
         CIMOperation: MethodCall\r\nCIMMethod: {method}\r\nCIMObject: root%2Fvirt\r\n{extra_headers}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn enum_names_request(extra_headers: &str) -> Vec<u8> {
    let body = imethod_body(
        "EnumerateInstanceNames",
        "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"KVM_ComputerSystem\"/></IPARAMVALUE>",
    );
    post("EnumerateInstanceNames", &body, extra_headers)
}

/// A bare hyper server on 127.0.0.1, the ceiling of this server's HTTP stack: the same runtime (2 workers) and
/// hyper, answering every request with the bytes it was last given ([`BareServer::serve`]) and the headers a
/// CIM answer carries, with no CIM work at all.
pub struct BareServer {
    pub addr: SocketAddr,
    body: std::sync::Arc<std::sync::RwLock<bytes::Bytes>>,
}

impl BareServer {
    pub fn start(body: bytes::Bytes) -> BareServer {
        let body = std::sync::Arc::new(std::sync::RwLock::new(body));
        let shared = std::sync::Arc::clone(&body);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            super::server_runtime().block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let body = std::sync::Arc::clone(&shared);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(
                            move |req: hyper::Request<hyper::body::Incoming>| {
                                let body = body.read().unwrap().clone();
                                async move {
                                    use http_body_util::BodyExt;
                                    let _ = req.into_body().collect().await;
                                    let mut resp =
                                        hyper::Response::new(http_body_util::Full::new(body));
                                    let headers = resp.headers_mut();
                                    headers.insert(
                                        "Content-Type",
                                        hyper::header::HeaderValue::from_static(
                                            "application/xml; charset=\"utf-8\"",
                                        ),
                                    );
                                    headers.insert(
                                        "CIMOperation",
                                        hyper::header::HeaderValue::from_static("MethodResponse"),
                                    );
                                    Ok::<_, std::convert::Infallible>(resp)
                                }
                            },
                        );
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        BareServer {
            addr: rx.recv().unwrap(),
            body,
        }
    }

    /// Answers `bytes` from now on.
    pub fn serve(&self, bytes: &[u8]) {
        *self.body.write().unwrap() = bytes::Bytes::copy_from_slice(bytes);
    }
}
