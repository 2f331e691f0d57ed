//! A stock libvirtd 9.0 (Debian's libvirt-daemon) started by a test as a peer: only its built-in test driver, in a
//! private mount namespace (tmpfs over /run, /var/lib, /var/cache and /var/log, so a privileged daemon leaves
//! nothing on the host), with its config, sockets, pid file and log in a temp dir, listening on 127.0.0.1 only.
//! Only the pid started here is ever signalled.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const LIBVIRTD: &str = "/usr/sbin/libvirtd";

pub struct StockLibvirtd {
    /// The temp dir: `libvirtd.conf`, `libvirtd.log`, `run/` (sockets, pid file) and whatever the caller put there.
    pub dir: tempfile::TempDir,
    /// The TCP (or TLS) port it listens on.
    pub port: u16,
    child: Child,
}

impl StockLibvirtd {
    /// Whether a peer can run here (libvirtd installed, and root for the mount namespace); says why not on stderr.
    pub fn available() -> bool {
        if !Path::new(LIBVIRTD).exists() {
            eprintln!("libvirtd not installed, skipping");
            return false;
        }
        if !nix::unistd::geteuid().is_root() {
            eprintln!("the libvirtd peer needs root (private mount namespace), skipping");
            return false;
        }
        true
    }

    /// Starts libvirtd in `dir` (where the caller may have put files first, such as a sasldb), listening on
    /// `port`. `settings` are the listen/auth/TLS lines of `libvirtd.conf` (the socket dir and log output are
    /// added here); `env` is extra environment (such as `SASL_CONF_PATH`). Ready once the port accepts and the
    /// unix socket exists; `None`, with the reason on stderr, if it does not come up.
    pub fn start(
        dir: tempfile::TempDir,
        port: u16,
        settings: &str,
        env: &[(&str, &Path)],
    ) -> Option<Self> {
        if !Self::available() {
            return None;
        }
        let run = dir.path().join("run");
        let drivers = dir.path().join("emptydrivers");
        for made in [&run, &drivers] {
            std::fs::create_dir_all(made).expect("libvirtd dir");
        }
        let conf = dir.path().join("libvirtd.conf");
        let log = dir.path().join("libvirtd.log");
        std::fs::write(
            &conf,
            format!(
                "{settings}\nunix_sock_dir = \"{}\"\nlog_outputs = \"3:file:{}\"\n",
                run.display(),
                log.display()
            ),
        )
        .expect("libvirtd.conf");
        let script = format!(
            "mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/log && mount -t tmpfs tmpfs /var/cache && \
             mount -t tmpfs tmpfs /var/lib || exit 1\nexec {LIBVIRTD} -f {} --listen -p {}",
            conf.display(),
            run.join("libvirtd.pid").display()
        );
        let mut command = Command::new("unshare");
        command
            .args(["-m", "--propagation", "private", "bash", "-c", &script])
            .env("LIBVIRT_DRIVER_DIR", &drivers)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                eprintln!("cannot run unshare ({err}), skipping");
                return None;
            }
        };
        let mut peer = Self { dir, port, child };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && peer.socket().exists() {
                return Some(peer);
            }
            if let Ok(Some(status)) = peer.child.try_wait() {
                eprintln!(
                    "libvirtd exited early ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("libvirtd did not listen on {port} in time, skipping");
        None
    }

    /// Its read-write unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/libvirt-sock")
    }
}

impl Drop for StockLibvirtd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self.dir.path().join("libvirtd.log")).unwrap_or_default();
            eprintln!("---- stock libvirtd log ----\n{log}\n---- end of libvirtd log ----");
        }
        // unshare exec'd bash which exec'd libvirtd: the child's pid is libvirtd's.
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

/// A stock libvirtd serving only its built-in test driver on 127.0.0.1 (TCP, auth none); see [`StockLibvirtd`].
pub struct Libvirtd {
    pub tcp_uri: String,
    pub peer: StockLibvirtd,
}

impl Libvirtd {
    /// `None` (with a note on stderr) when libvirtd, unshare or root are missing.
    pub fn start() -> Option<Self> {
        let port = super::free_port();
        let settings = format!(
            "listen_tls = 0\nlisten_tcp = 1\nlisten_addr = \"127.0.0.1\"\ntcp_port = \"{port}\"\n\
             auth_tcp = \"none\"\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\""
        );
        let peer =
            StockLibvirtd::start(tempfile::tempdir().expect("tempdir"), port, &settings, &[])?;
        Some(Self {
            tcp_uri: format!("test+tcp://127.0.0.1:{port}/default"),
            peer,
        })
    }
}

/// A stock libvirtd 9.0 with its qemu driver, isolated by `tests/support/stock-libvirtd-qemu.sh` (its own network
/// namespace, private mounts, no cgroups, no security driver), on a unix socket in a temp dir. Dropping it
/// destroys what runs on it, stops that libvirtd by its pid and removes the namespace.
pub struct StockQemuLibvirtd {
    pub uri: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl StockQemuLibvirtd {
    /// `None` (with the reason on stderr) where libvirtd, its qemu driver, root or the namespaces are missing.
    pub fn start() -> Option<Self> {
        if !StockLibvirtd::available() {
            return None;
        }
        if !Path::new("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so")
            .exists()
        {
            eprintln!("libvirt's qemu driver is not installed, skipping");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let netns = dir.path().join("netns");
        std::fs::write(&netns, b"").expect("netns file");
        let bound = Command::new("unshare")
            .arg(format!("--net={}", netns.display()))
            .arg("true")
            .status();
        if !matches!(bound, Ok(status) if status.success()) {
            eprintln!("cannot make a network namespace ({bound:?}), skipping");
            return None;
        }
        let lv = dir.path().join("lv");
        std::fs::create_dir_all(&lv).expect("libvirtd dir");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/stock-libvirtd-qemu.sh");
        let child = Command::new("bash")
            .arg(script)
            .arg(&lv)
            .arg(&netns)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).expect("stderr file"))
            .spawn()
            .expect("bash");
        let socket = lv.join("sock/libvirt-sock");
        let mut peer = Self {
            uri: format!("qemu+unix:///system?socket={}", socket.display()),
            dir,
            child,
        };
        for _ in 0..600 {
            if socket.exists() {
                return Some(peer);
            }
            if let Ok(Some(status)) = peer.child.try_wait() {
                eprintln!("libvirtd exited early ({status}): {}", peer.log());
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("libvirtd's socket did not appear in time: {}", peer.log());
        None
    }

    fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr"), read("lv/libvirtd.log"))
    }
}

impl Drop for StockQemuLibvirtd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- stock libvirtd (qemu) log ----\n{}\n---- end ----",
                self.log()
            );
        }
        let virsh = |args: &[&str]| {
            Command::new("virsh")
                .args(["-q", "-c", &self.uri])
                .args(args)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
                .unwrap_or_default()
        };
        for name in virsh(&["list", "--name"])
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            virsh(&["destroy", name.trim()]);
        }
        let pidfile = self.dir.path().join("lv/libvirtd.pid");
        if let Some(pid) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        // The script exec'd down to the subreaper, which ends once libvirtd has and nothing is left below it.
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("umount")
            .arg(self.dir.path().join("netns"))
            .status();
    }
}
