//! The ssh transport through a real sshd the test starts on 127.0.0.1 (own host key, user key, config; nothing of
//! the system's changed): stock virsh and our client reach an RPC server in netcat mode and through
//! virtcim-ssh-helper (as `virt-ssh-helper` first in the session's PATH); the exact ssh argv; socket paths with
//! spaces and quotes; a missing socket reported with the far side's stderr.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use virtcim::{prelude::*, RemoteDriver, RemoteOptions, Uri};

use crate::support::free_port;
use crate::support::server::serve_unix;

const HELPER: &str = env!("CARGO_BIN_EXE_virtcim-ssh-helper");
const SSHD: &str = "/usr/sbin/sshd";

fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

fn executable(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
}

/// An sshd of our own on a free loopback port. Its sessions see `bin/` (holding `virt-ssh-helper` → our helper)
/// first in PATH and `VIRTCIM_SOCK_DIR` = `sockets/`. Only this sshd's pid is ended on drop.
struct Sshd {
    child: Child,
    port: u16,
    dir: PathBuf,
    /// The user's private key.
    key: PathBuf,
    /// `ssh` wrapper for `command=`: logs its argv, keeps known_hosts in the temp dir, ignores ~/.ssh/config.
    ssh_wrapper: PathBuf,
    argv_log: PathBuf,
    sockets: PathBuf,
}

impl Sshd {
    fn start(dir: &Path) -> Option<Self> {
        if !Path::new(SSHD).exists() || !nix::unistd::geteuid().is_root() {
            eprintln!("sshd or root missing, skipping");
            return None;
        }
        // sshd insists on its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let host_key = dir.join("host_key");
        let key = dir.join("user_key");
        keygen(&host_key);
        keygen(&key);
        let authorized = dir.join("authorized_keys");
        std::fs::copy(dir.join("user_key.pub"), &authorized).expect("authorized_keys");
        let bin = dir.join("bin");
        let sockets = dir.join("sockets");
        std::fs::create_dir_all(&bin).expect("bin");
        std::fs::create_dir_all(&sockets).expect("sockets");
        std::os::unix::fs::symlink(HELPER, bin.join("virt-ssh-helper")).expect("helper link");
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nAuthorizedKeysFile {}\n\
                 PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPrintMotd no\n\
                 SetEnv PATH={}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin VIRTCIM_SOCK_DIR={}\n",
                host_key.display(),
                authorized.display(),
                bin.display(),
                sockets.display()
            ),
        )
        .expect("sshd_config");
        let log = std::fs::File::create(dir.join("sshd.log")).expect("log");
        let child = Command::new(SSHD)
            .arg("-f")
            .arg(&config)
            .args(["-D", "-e"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .ok()?;
        let argv_log = dir.join("ssh-argv.log");
        let ssh_wrapper = dir.join("ssh-wrapper");
        executable(
            &ssh_wrapper,
            &format!(
                "printf '%s\\n' \"$@\" > {}\nexec ssh -F /dev/null -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null \"$@\"",
                quoted(&argv_log),
                quoted(&dir.join("known_hosts"))
            ),
        );
        let mut sshd = Self {
            child,
            port,
            dir: dir.to_path_buf(),
            key,
            ssh_wrapper,
            argv_log,
            sockets,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(sshd);
            }
            if let Ok(Some(status)) = sshd.child.try_wait() {
                eprintln!("sshd exited ({status}): {}", sshd.log());
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("sshd did not listen: {}", sshd.log());
        None
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// `test+ssh://root@127.0.0.1:PORT/default?keyfile=...&no_verify=1&command=WRAPPER` plus `extra` params.
    fn uri(&self, extra: &str) -> String {
        format!(
            "test+ssh://root@127.0.0.1:{}/default?keyfile={}&no_verify=1&no_tty=1&command={}{extra}",
            self.port,
            self.key.display(),
            self.ssh_wrapper.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(0));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URI's query value for a path: percent-encode what a URI cannot carry as is.
fn uri_value(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.display().to_string().bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

async fn open(uri: &str) -> virtcim::Result<Arc<RemoteDriver>> {
    let parsed = Uri::parse(uri).expect("uri");
    RemoteDriver::open(&parsed, uri, &RemoteOptions::default()).await
}

async fn names(driver: &Arc<RemoteDriver>) -> Vec<String> {
    driver
        .list_all_domains(0)
        .await
        .expect("list")
        .into_iter()
        .map(|dom| dom.name)
        .collect()
}

fn virsh(uri: &str) -> std::process::Output {
    Command::new("timeout")
        .args(["60", "virsh", "-c", uri, "list", "--all"])
        .stdin(Stdio::null())
        .output()
        .expect("virsh")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_in_netcat_and_helper_modes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(sshd) = Sshd::start(tmp.path()) else {
        return;
    };
    let state = tmp.path().join("state");
    // The helper's socket (found through VIRTCIM_SOCK_DIR) and one whose path needs quoting on the far side.
    serve_unix(&state, &sshd.sockets.join("libvirt-sock"));
    let odd_dir = tmp.path().join("it's a \"dir\" $HOME;");
    std::fs::create_dir_all(&odd_dir).expect("odd dir");
    let odd_socket = odd_dir.join("sock et");
    serve_unix(&tmp.path().join("state2"), &odd_socket);
    let plain_socket = sshd.sockets.join("libvirt-sock");

    // Our client, netcat mode: the argv is libvirt's, and the session works.
    let uri = sshd.uri(&format!("&socket={}", uri_value(&plain_socket)));
    let driver = open(&uri)
        .await
        .unwrap_or_else(|err| panic!("netcat mode: {err:?}\nsshd: {}", sshd.log()));
    assert_eq!(names(&driver).await, ["test"]);
    driver.close().await.expect("close");
    let argv = std::fs::read_to_string(&sshd.argv_log).expect("argv log");
    let argv: Vec<&str> = argv.lines().collect();
    let port = sshd.port.to_string();
    let key = sshd.key.display().to_string();
    let expected_command = format!(
        "sh -c 'if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'nc' $ARG -U {}'",
        plain_socket.display()
    );
    assert_eq!(
        argv,
        [
            "-p",
            &port,
            "-l",
            "root",
            "-i",
            &key,
            "-T",
            "-e",
            "none",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "--",
            "127.0.0.1",
            &expected_command
        ]
    );

    // A socket path with spaces, quotes, `$` and `;` reaches nc intact.
    let uri = sshd.uri(&format!("&socket={}", uri_value(&odd_socket)));
    let driver = open(&uri)
        .await
        .unwrap_or_else(|err| panic!("odd socket path: {err:?}"));
    assert_eq!(names(&driver).await, ["test"]);
    driver.close().await.expect("close");

    // Helper modes: native names virt-ssh-helper outright, auto finds it with `which`.
    for extra in ["&proxy=native", ""] {
        let driver = open(&sshd.uri(extra))
            .await
            .unwrap_or_else(|err| panic!("helper mode '{extra}': {err:?}"));
        assert_eq!(names(&driver).await, ["test"]);
        driver.close().await.expect("close");
    }
    let argv = std::fs::read_to_string(&sshd.argv_log).expect("argv log");
    assert!(argv.contains("virt-ssh-helper 'test:///default'"), "{argv}");

    // Failures carry the far side's words: nc with no socket there, the helper with none either.
    let missing = tmp.path().join("no-such-sock");
    let err = open(&sshd.uri(&format!("&socket={}", uri_value(&missing))))
        .await
        .err()
        .expect("missing socket");
    assert!(
        err.message.contains("nc") || err.message.contains("No such file"),
        "{}",
        err.message
    );
    std::fs::rename(
        sshd.sockets.join("libvirt-sock"),
        sshd.sockets.join("moved"),
    )
    .expect("move socket");
    let err = open(&sshd.uri("&proxy=native"))
        .await
        .err()
        .expect("helper, no socket");
    assert!(
        err.message
            .contains("virtcim-ssh-helper: cannot connect to '"),
        "{}",
        err.message
    );
    std::fs::rename(
        sshd.sockets.join("moved"),
        sshd.sockets.join("libvirt-sock"),
    )
    .expect("move back");

    // Stock virsh, netcat mode and helper mode.
    if Command::new("virsh").arg("--version").output().is_ok() {
        for extra in [
            format!("&socket={}", uri_value(&plain_socket)),
            "&proxy=native".to_string(),
        ] {
            let uri = sshd.uri(&extra);
            let out = tokio::task::spawn_blocking(move || virsh(&uri))
                .await
                .expect("virsh");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains(" test "),
                "virsh ({extra}): {}\n{stdout}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    drop(sshd);
}
