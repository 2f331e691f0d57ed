//! Shared by the WBEM tests: a `virtcimd` with WBEM listeners on 127.0.0.1 (ephemeral ports), a prepared test
//! driver state, a raw HTTP client, and the peers (pywbem venv, wbemcli).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use virtcim::{prelude::*, CredentialStore, TestDriver};

const DAEMON: &str = env!("CARGO_BIN_EXE_virtcimd");
pub const USER: &str = "wbemuser";
pub const PASSWORD: &str = "horse-battery-9";

pub struct Options {
    pub basic_auth: bool,
    pub https: bool,
    /// Extra domains defined (shut off) before the daemon starts: `vm000`, `vm001`, ...
    pub extra_domains: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            basic_auth: false,
            https: false,
            extra_domains: 3,
        }
    }
}

/// A daemon we started; killed on drop.
pub struct Wbem {
    child: Child,
    pub dir: tempfile::TempDir,
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
    pub cert: Option<PathBuf>,
    lines: Receiver<String>,
}

impl Drop for Wbem {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
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

fn listening_addr(line: &str, what: &str) -> Option<SocketAddr> {
    if !line.contains(what) {
        return None;
    }
    let at = line.find("addr=")? + 5;
    line[at..].split_whitespace().next()?.parse().ok()
}

impl Wbem {
    pub fn start(opts: Options) -> Wbem {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        prepare_state(&state, opts.extra_domains);
        let mut config = format!(
            "state_dir = \"{}\"\nunix_sock_dir = \"{}\"\nlisten_wbem_http = 1\nwbem_http_port = 0\n\
             wbem_listen_addr = \"127.0.0.1\"\n",
            state.display(),
            dir.path().join("run").display()
        );
        let creds = dir.path().join("credentials.json");
        config.push_str(&format!("credentials_file = \"{}\"\n", creds.display()));
        if opts.basic_auth {
            let mut store = CredentialStore::new();
            store.add_user(USER, PASSWORD, &[]).expect("add user");
            store.save(&creds).expect("save credentials");
            config.push_str("wbem_auth = \"basic\"\n");
        } else {
            config.push_str("wbem_auth = \"none\"\n");
        }
        let mut cert = None;
        if opts.https {
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
        let mut child = Command::new(DAEMON)
            .arg("--config")
            .arg(&conf)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn virtcimd");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let (mut http, mut https) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
                http = http.or_else(|| listening_addr(&line, "WBEM HTTP listening"));
                https = https.or_else(|| listening_addr(&line, "WBEM HTTPS listening"));
                let ready = line.contains("virtcimd ready");
                seen.push(line);
                if ready {
                    break;
                }
            }
        }
        let http = http.unwrap_or_else(|| panic!("no WBEM listener; stderr:\n{}", seen.join("\n")));
        if opts.https {
            assert!(
                https.is_some(),
                "no HTTPS listener; stderr:\n{}",
                seen.join("\n")
            );
        }
        Wbem {
            child,
            dir,
            http,
            https,
            cert,
            lines,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Whether the daemon is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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

/// The Python of the venv holding pywbem and pywbemtools (installed on first use).
pub fn venv_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("VIRTCIM_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/venv"));
    let python = venv.join("bin/python");
    let ready = |py: &Path| {
        py.exists()
            && venv.join("bin/pywbemcli").exists()
            && Command::new(py)
                .args(["-c", "import pywbem"])
                .status()
                .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return python;
    }
    if !python.exists() {
        let status = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(status.success(), "python3 -m venv failed");
    }
    let out = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "pywbem", "pywbemtools"])
        .output()
        .expect("pip");
    assert!(
        ready(&python),
        "could not install pywbem/pywbemtools: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    python
}

pub fn pywbemcli() -> PathBuf {
    venv_python().parent().expect("venv bin").join("pywbemcli")
}

/// Runs a command; returns (success, stdout, stderr).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    // TLS verification settings must come from the command line alone.
    cmd.env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .env_remove("SSL_CERT_FILE")
        .stdin(Stdio::null());
    let out = cmd.output().expect("run peer");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
