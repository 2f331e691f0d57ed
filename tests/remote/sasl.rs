//! Our RPC client's SASL against real peers: a stock libvirtd with cyrus-sasl (its own SASL config and sasldb in a
//! temp dir) over the unix socket (SCRAM-SHA-256) and TCP (DIGEST-MD5 with the encrypted layer, checked on the
//! wire through a recording proxy), with credentials from an auth file named by `authfile=`; wrong passwords and
//! refused mechanisms. Then the same client against `virtcimd` (TLS with SCRAM, TCP with DIGEST-MD5 encrypted,
//! unix) and the `virtcim` CLI (auth file, or a prompt on a terminal). The stock-libvirtd tests are skipped with a
//! note when libvirtd, saslpasswd2 or root are missing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::free_port;
use crate::support::libvirtd::StockLibvirtd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use virtcim::{connect, prelude::*, ConnectOptions, ErrorCode};

const USER: &str = "alice";
const PASSWORD: &str = "wonderland";

/// The realms cyrus may announce: it takes the host name, possibly canonicalized; users are made in each.
fn server_realms() -> Vec<String> {
    let mut realms = Vec::new();
    if let Ok(name) = nix::unistd::gethostname() {
        realms.push(name.to_string_lossy().into_owned());
    }
    if let Ok(out) = std::process::Command::new("hostname").arg("-f").output() {
        let fqdn = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !fqdn.is_empty() && !realms.contains(&fqdn) {
            realms.push(fqdn);
        }
    }
    realms
}

/// Adds `user` with `password` to the sasldb at `db` in `realm` (password on stdin, as saslpasswd2 -p reads it).
fn saslpasswd(db: &Path, realm: &str, user: &str, password: &str) -> bool {
    use std::io::Write;
    let child = std::process::Command::new("saslpasswd2")
        .args(["-p", "-c", "-a", "libvirt", "-u", realm, "-f"])
        .arg(db)
        .arg(user)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(password.as_bytes());
    }
    child.wait().is_ok_and(|status| status.success())
}

/// A stock libvirtd with `auth_tcp = auth_unix_rw = auth_unix_ro = "sasl"`, cyrus configured by `SASL_CONF_PATH`
/// (mech_list digest-md5 scram-sha-256, a private sasldb).
fn start_sasl_libvirtd() -> Option<StockLibvirtd> {
    if !StockLibvirtd::available() {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let sasl = dir.path().join("sasl");
    std::fs::create_dir_all(&sasl).expect("sasl dir");
    let db = sasl.join("passwd.db");
    for realm in server_realms() {
        if !saslpasswd(&db, &realm, USER, PASSWORD) {
            eprintln!("saslpasswd2 (sasl2-bin) not usable, skipping");
            return None;
        }
    }
    std::fs::write(
        sasl.join("libvirt.conf"),
        format!(
            "mech_list: digest-md5 scram-sha-256\nsasldb_path: {}\n",
            db.display()
        ),
    )
    .expect("sasl conf");
    let port = free_port();
    let settings = format!(
        "listen_tls = 0\nlisten_tcp = 1\nlisten_addr = \"127.0.0.1\"\ntcp_port = \"{port}\"\n\
         auth_tcp = \"sasl\"\nauth_unix_rw = \"sasl\"\nauth_unix_ro = \"sasl\""
    );
    StockLibvirtd::start(dir, port, &settings, &[("SASL_CONF_PATH", &sasl)])
}

/// Writes an auth file giving `user`/`password` to every host; returns its path.
fn auth_file(dir: &Path, name: &str, user: &str, password: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[credentials-peer]\nauthname={user}\npassword={password}\n\n\
             [auth-libvirt-default]\ncredentials=peer\n"
        ),
    )
    .expect("auth file");
    path
}

/// Everything one TCP connection through a [`Recorder`] carried, and whether the server hung up.
#[derive(Default)]
struct Recording {
    to_server: Mutex<Vec<u8>>,
    to_client: Mutex<Vec<u8>>,
    server_closed: AtomicBool,
}

/// A loopback TCP proxy in front of `upstream` that records both directions of the connections it relays.
struct Recorder {
    port: u16,
    connections: Arc<Mutex<Vec<Arc<Recording>>>>,
}

impl Recorder {
    async fn start(upstream: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind recorder");
        let port = listener.local_addr().expect("addr").port();
        let connections: Arc<Mutex<Vec<Arc<Recording>>>> = Arc::default();
        let all = connections.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    continue;
                };
                let recording = Arc::new(Recording::default());
                all.lock().unwrap().push(recording.clone());
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let up = recording.clone();
                tokio::spawn(async move {
                    pump(client_read, server_write, &up.to_server).await;
                });
                tokio::spawn(async move {
                    pump(server_read, client_write, &recording.to_client).await;
                    recording.server_closed.store(true, Ordering::SeqCst);
                });
            }
        });
        Self { port, connections }
    }

    fn last(&self) -> Arc<Recording> {
        self.connections
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a connection went through the recorder")
    }
}

/// Copies `from` to `to`, appending every byte to `log`, until EOF or an error; then shuts `to` down.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    log: &Mutex<Vec<u8>>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                log.lock().unwrap().extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// ASCII text as the SASL data's XDR `char<>` array carries it: each character in a 4-byte word.
fn xdr_chars(text: &str) -> Vec<u8> {
    text.bytes().flat_map(|byte| [0, 0, 0, byte]).collect()
}

fn domain_xml(name: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><memory unit='KiB'>131072</memory>\
         <vcpu>1</vcpu><os><type>hvm</type></os></domain>"
    )
}

async fn open(uri: &str) -> virtcim::Result<Connection> {
    tokio::time::timeout(
        Duration::from_secs(30),
        connect(uri, &ConnectOptions::default()),
    )
    .await
    .expect("open finished in time")
}

async fn names(driver: &Connection) -> Vec<String> {
    let mut names: Vec<String> = driver
        .list_all_domains(0)
        .await
        .expect("list domains")
        .into_iter()
        .map(|dom| dom.name)
        .collect();
    names.sort();
    names
}

/// Lists, defines a domain named `guest`, lists again and undefines it over `driver`.
async fn list_and_define(driver: &Connection, guest: &str) {
    assert_eq!(names(driver).await, ["test"]);
    let dom = driver
        .domain_define_xml(&domain_xml(guest), 0)
        .await
        .expect("define");
    assert_eq!(dom.name, guest);
    let mut expected = vec![guest.to_string(), "test".to_string()];
    expected.sort();
    assert_eq!(names(driver).await, expected);
    driver.domain_undefine(&dom, 0).await.expect("undefine");
    assert_eq!(names(driver).await, ["test"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_libvirtd_over_unix_with_scram_sha_256() {
    let Some(libvirtd) = tokio::task::spawn_blocking(start_sasl_libvirtd)
        .await
        .unwrap()
    else {
        return;
    };
    let auth = auth_file(libvirtd.dir.path(), "auth.conf", USER, PASSWORD);
    let socket = libvirtd.socket();
    // The server offers SCRAM-SHA-256 and DIGEST-MD5 here; the client's own preference and a forced choice both
    // end in SCRAM.
    for extra in ["", "&auth=sasl.SCRAM-SHA-256"] {
        let uri = format!(
            "test+unix:///default?socket={}&authfile={}{extra}",
            socket.display(),
            auth.display()
        );
        let driver = open(&uri).await.expect("open over unix with SASL");
        list_and_define(&driver, "unixguest").await;
        driver.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_libvirtd_over_tcp_with_digest_md5_encrypted() {
    let Some(libvirtd) = tokio::task::spawn_blocking(start_sasl_libvirtd)
        .await
        .unwrap()
    else {
        return;
    };
    let auth = auth_file(libvirtd.dir.path(), "auth.conf", USER, PASSWORD);
    let recorder = Recorder::start(libvirtd.port).await;
    let uri = format!(
        "test+tcp://127.0.0.1:{}/default?authfile={}",
        recorder.port,
        auth.display()
    );
    let driver = open(&uri).await.expect("open over TCP with DIGEST-MD5");
    let guest = "tcpsecretguest";
    list_and_define(&driver, guest).await;
    driver.close().await.expect("close");

    let recording = recorder.last();
    let to_server = recording.to_server.lock().unwrap().clone();
    let to_client = recording.to_client.lock().unwrap().clone();
    // The exchange itself is plain: the mechanism name and the digest response with our user name.
    assert!(contains(&to_server, b"DIGEST-MD5"));
    assert!(contains(
        &to_server,
        &xdr_chars(&format!("username=\"{USER}\""))
    ));
    assert!(contains(&to_client, &xdr_chars("qop=\"auth-conf\"")));
    // After it, nothing readable crosses the wire: not the domain XML going out, not the names coming back.
    assert!(
        !contains(&to_server, guest.as_bytes()),
        "domain XML sent in clear"
    );
    assert!(
        !contains(&to_client, guest.as_bytes()),
        "domain names returned in clear"
    );
    assert!(
        !contains(&to_server, b"test:///default"),
        "CONNECT_OPEN sent in clear"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_libvirtd_refuses_a_wrong_password_and_hangs_up() {
    let Some(libvirtd) = tokio::task::spawn_blocking(start_sasl_libvirtd)
        .await
        .unwrap()
    else {
        return;
    };
    let wrong = auth_file(libvirtd.dir.path(), "wrong.conf", USER, "not-the-password");
    let recorder = Recorder::start(libvirtd.port).await;
    let uri = format!(
        "test+tcp://127.0.0.1:{}/default?authfile={}",
        recorder.port,
        wrong.display()
    );
    let err = open(&uri).await.expect_err("a wrong password must fail");
    assert_eq!(err.code, ErrorCode::AUTH_FAILED, "{}", err.message);
    assert_eq!(err.message, "authentication failed: authentication failed");
    let recording = recorder.last();
    for _ in 0..100 {
        if recording.server_closed.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recording.server_closed.load(Ordering::SeqCst),
        "the connection was closed"
    );

    // Over unix too, with SCRAM.
    let uri = format!(
        "test+unix:///default?socket={}&authfile={}",
        libvirtd.socket().display(),
        wrong.display()
    );
    let err = open(&uri).await.expect_err("a wrong password must fail");
    assert_eq!(err.code, ErrorCode::AUTH_FAILED, "{}", err.message);

    // SCRAM forced over plain TCP: the server never offers it there, so the client stops before START.
    let right = auth_file(libvirtd.dir.path(), "right.conf", USER, PASSWORD);
    let uri = format!(
        "test+tcp://127.0.0.1:{}/default?authfile={}&auth=sasl.SCRAM-SHA-256",
        libvirtd.port,
        right.display()
    );
    let err = open(&uri).await.expect_err("SCRAM over TCP must fail");
    assert_eq!(err.code, ErrorCode::AUTH_FAILED, "{}", err.message);

    // No credentials anywhere: a clear local error, nothing guessed.
    let empty = libvirtd.dir.path().join("empty.conf");
    std::fs::write(&empty, "").unwrap();
    let uri = format!(
        "test+tcp://127.0.0.1:{}/default?authfile={}",
        libvirtd.port,
        empty.display()
    );
    let err = open(&uri).await.expect_err("no credentials must fail");
    assert_eq!(err.code, ErrorCode::AUTH_FAILED, "{}", err.message);
    assert!(
        err.message.contains("Failed to collect auth credentials"),
        "{}",
        err.message
    );
}

// ---- the same client against our own daemon ------------------------------------------------------------------

const PASSWD: &str = env!("CARGO_BIN_EXE_virtcim-passwd");

fn add_user(users: &Path, name: &str, password: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new(PASSWD)
        .arg("-f")
        .arg(users)
        .arg(name)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("virtcim-passwd");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("password");
    assert!(child.wait().expect("virtcim-passwd").success());
}

/// `virtcimd` with SASL on TCP and the read-write unix socket (plus `extra` config lines), one user in its
/// credential store.
fn our_daemon(dir: &Path, extra: &str) -> crate::support::daemon::Daemon {
    let users = dir.join("users");
    add_user(&users, USER, PASSWORD);
    let port = free_port();
    let config = dir.join("virtcimd.conf");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"state\"\nunix_sock_dir = \"run\"\nlisten_tcp = 1\nlisten_addr = \"127.0.0.1\"\n\
             tcp_port = \"{port}\"\nauth_tcp = \"sasl\"\nauth_unix_rw = \"sasl\"\ncredentials_file = \"users\"\n{extra}"
        ),
    )
    .expect("config");
    let mut daemon = crate::support::daemon::Daemon::spawn(dir, &config, port);
    daemon.wait_for("virtcimd ready");
    daemon
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_daemon_over_tls_tcp_and_unix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let pki = crate::support::pki::Pki::new(tmp.path());
    let tls_port = free_port();
    let extra = format!(
        "listen_tls = 1\ntls_port = \"{tls_port}\"\nauth_tls = \"sasl\"\n{}",
        pki.server_config()
    );
    let daemon = tokio::task::spawn_blocking(move || our_daemon(&dir, &extra))
        .await
        .unwrap();
    let auth = auth_file(tmp.path(), "auth.conf", USER, PASSWORD);

    // TLS: SCRAM-SHA-256 inside the TLS session.
    let uri = format!(
        "test+tls://127.0.0.1:{tls_port}/default?pkipath={}&authfile={}",
        pki.client_dir.display(),
        auth.display()
    );
    let driver = open(&uri)
        .await
        .expect("open our daemon over TLS with SASL");
    list_and_define(&driver, "tlsguest").await;
    driver.close().await.expect("close");

    // TCP: DIGEST-MD5 with the confidentiality layer, checked on the wire.
    let recorder = Recorder::start(daemon.port).await;
    let uri = format!(
        "test+tcp://127.0.0.1:{}/default?authfile={}",
        recorder.port,
        auth.display()
    );
    let driver = open(&uri).await.expect("open our daemon over TCP");
    let guest = "oursecretguest";
    list_and_define(&driver, guest).await;
    driver.close().await.expect("close");
    let recording = recorder.last();
    let to_server = recording.to_server.lock().unwrap().clone();
    let to_client = recording.to_client.lock().unwrap().clone();
    assert!(contains(&to_server, b"DIGEST-MD5"));
    assert!(
        !contains(&to_server, guest.as_bytes()),
        "domain XML sent in clear"
    );
    assert!(
        !contains(&to_client, guest.as_bytes()),
        "domain names returned in clear"
    );

    // unix: SCRAM-SHA-256 by preference, DIGEST-MD5 (no layer there) when forced.
    for extra in ["", "&auth=sasl.DIGEST-MD5"] {
        let uri = format!(
            "test+unix:///default?socket={}&authfile={}{extra}",
            daemon.rw_socket().display(),
            auth.display()
        );
        let driver = open(&uri).await.expect("open our daemon over unix");
        list_and_define(&driver, "ourunixguest").await;
        driver.close().await.expect("close");
    }

    // A wrong password: libvirt's message, code 45, and the daemon hangs up.
    let wrong = auth_file(tmp.path(), "wrong.conf", USER, "not-the-password");
    let uri = format!(
        "test+tcp://127.0.0.1:{}/default?authfile={}",
        recorder.port,
        wrong.display()
    );
    let err = open(&uri).await.expect_err("a wrong password must fail");
    assert_eq!(err.code, ErrorCode::AUTH_FAILED, "{}", err.message);
    assert_eq!(err.message, "authentication failed: authentication failed");
    let recording = recorder.last();
    for _ in 0..200 {
        if recording.server_closed.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recording.server_closed.load(Ordering::SeqCst),
        "the connection was closed"
    );
    let uri = format!(
        "test+unix:///default?socket={}&authfile={}",
        daemon.rw_socket().display(),
        wrong.display()
    );
    let err = open(&uri).await.expect_err("a wrong password must fail");
    assert_eq!(err.code, ErrorCode::AUTH_FAILED, "{}", err.message);
}

const CLI: &str = env!("CARGO_BIN_EXE_virtcim");

fn have_script() -> bool {
    std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Reads `from` into `seen` until it contains `needle` (or 20 s pass).
async fn read_until(from: &mut tokio::process::ChildStdout, seen: &mut String, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 1024];
    while !seen.contains(needle) {
        let read = tokio::time::timeout_at(deadline, from.read(&mut buf)).await;
        match read {
            Ok(Ok(n)) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => panic!("no {needle:?} in the CLI's output:\n{seen}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_cli_reads_the_auth_file_or_prompts_on_a_terminal() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let daemon = tokio::task::spawn_blocking(move || our_daemon(&dir, ""))
        .await
        .unwrap();
    let uri = format!("test+tcp://127.0.0.1:{}/default", daemon.port);
    let no_config = tmp.path().join("no-config");

    // LIBVIRT_AUTH_FILE, as virsh reads it.
    let auth = auth_file(tmp.path(), "auth.conf", USER, PASSWORD);
    let out = tokio::process::Command::new(CLI)
        .args(["-c", &uri, "list", "--all"])
        .env("LIBVIRT_AUTH_FILE", &auth)
        .env("XDG_CONFIG_HOME", &no_config)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run virtcim");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" test "), "{stdout}");

    // No auth file and no terminal: a clear error, no prompt.
    let out = tokio::process::Command::new(CLI)
        .args(["-c", &uri, "list"])
        .env_remove("LIBVIRT_AUTH_FILE")
        .env("XDG_CONFIG_HOME", &no_config)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run virtcim");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("Failed to collect auth credentials"),
        "{stderr}"
    );

    // On a terminal (a pty from script(1)): the user name is asked with echo, the password without.
    if !have_script() {
        eprintln!("script(1) not installed, skipping the prompt check");
        return;
    }
    let command = format!("{CLI} -c {uri} list --all");
    let mut child = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("LIBVIRT_AUTH_FILE")
        .env("XDG_CONFIG_HOME", &no_config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run script");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = String::new();
    read_until(&mut stdout, &mut seen, "Enter username for 127.0.0.1: ").await;
    stdin
        .write_all(format!("{USER}\n").as_bytes())
        .await
        .unwrap();
    read_until(
        &mut stdout,
        &mut seen,
        &format!("Enter {USER}'s password for 127.0.0.1: "),
    )
    .await;
    stdin
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .await
        .unwrap();
    read_until(&mut stdout, &mut seen, "running").await;
    let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    assert!(
        seen.contains(&format!("127.0.0.1: {USER}")),
        "the user name is echoed:\n{seen}"
    );
    assert!(!seen.contains(PASSWORD), "the password was echoed:\n{seen}");
}
