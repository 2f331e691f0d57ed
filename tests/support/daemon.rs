//! Our own `virtcimd` started by a test: one spawner for every integration test, its stderr collected line by
//! line so a test can wait for a log line, and printed when a test fails while the daemon runs.
//!
//! Only the pid started here is ever signalled.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The daemon binary cargo built for these tests.
pub const VIRTCIMD: &str = env!("CARGO_BIN_EXE_virtcimd");
/// How long a daemon may take to log a line a test waits for (CI has 2 busy cores).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a daemon gets to stop on SIGTERM when a test drops it.
const DROP_GRACE: Duration = Duration::from_secs(5);

/// A child process whose stderr is read line by line on a thread; killed (SIGTERM, then SIGKILL) on drop. When
/// it is dropped during a panic, everything it logged goes to the test's stderr.
pub struct Logged {
    child: Option<Child>,
    name: String,
    lines: Receiver<String>,
    /// Every stderr line read so far.
    pub seen: Vec<String>,
}

impl Logged {
    /// Spawns `command` with stdin closed, stdout discarded and stderr captured.
    pub fn spawn(mut command: Command, name: &str) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {name}: {err}"));
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            // Reads as long as someone listens: the receiver lives as long as this value, unless a test closes
            // the pipe on purpose (`close_stderr`).
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child: Some(child),
            name: name.to_string(),
            lines,
            seen: Vec::new(),
        }
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child is still ours")
    }

    /// Its pid.
    pub fn pid(&self) -> Pid {
        let child = self.child.as_ref().expect("the child is still ours");
        Pid::from_raw(i32::try_from(child.id()).expect("pid fits"))
    }

    /// Waits up to `timeout` for a stderr line containing `needle`; returns it, or `None` on timeout or exit.
    pub fn try_wait_for(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line.clone());
                    if found {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        None
    }

    /// Waits for a stderr line containing `needle` and returns it; panics with everything seen on timeout or exit.
    pub fn wait_for(&mut self, needle: &str) -> String {
        match self.try_wait_for(needle, STARTUP_TIMEOUT) {
            Some(line) => line,
            // Dropping `self` while panicking prints everything it logged.
            None => panic!("{}: no line with {needle:?} in time", self.name),
        }
    }

    /// The address logged on the first line seen containing `what` (`... addr=127.0.0.1:4321 ...`).
    pub fn logged_addr(&self, what: &str) -> Option<SocketAddr> {
        self.seen
            .iter()
            .filter(|line| line.contains(what))
            .find_map(|line| {
                line.split_once("addr=")?
                    .1
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
    }

    /// Everything logged so far (lines not yet read included), one string.
    pub fn log(&mut self) -> String {
        self.seen.extend(self.lines.try_iter());
        self.seen.join("\n")
    }

    /// Stops reading the child's stderr: the pipe's read end closes at the next line, so later writes to stderr
    /// fail with EPIPE.
    pub fn close_stderr(&mut self) {
        self.seen.extend(self.lines.try_iter());
        self.lines = channel().1;
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits up to `timeout` for the process to exit by itself; panics (after killing it) if it does not. Reads its
    /// remaining stderr.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child().try_wait().expect("try_wait") {
                // The reader thread ends at EOF: collect up to there.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child().kill();
                let _ = self.child().wait();
                panic!("{} did not exit within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` and waits (bounded) for the exit.
    pub fn signal_and_wait(&mut self, signal: Signal) -> ExitStatus {
        kill(self.pid(), signal).expect("signal our child");
        self.wait_exit(STARTUP_TIMEOUT)
    }

    /// SIGKILL and reap, if still running.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Gives up ownership of the process without stopping it.
    pub fn into_child(mut self) -> Child {
        self.child.take().expect("the child is still ours")
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + DROP_GRACE;
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            eprintln!(
                "---- {} (pid {}) stderr ----\n{log}\n---- end of {} ----",
                self.name,
                child.id(),
                self.name
            );
        }
    }
}

/// `virtcimd --config CONFIG ARGS...` with `RUST_LOG=info`, not yet waited for.
pub fn spawn_virtcimd(config: &Path, args: &[&str]) -> Logged {
    let mut command = Command::new(VIRTCIMD);
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "info");
    Logged::spawn(command, "virtcimd")
}

/// `virtcimd --config CONFIG`, once it logged "virtcimd ready".
pub fn start_virtcimd(config: &Path) -> Logged {
    let mut daemon = spawn_virtcimd(config, &[]);
    daemon.wait_for("virtcimd ready");
    daemon
}

/// A `virtcimd` on a temp dir with state and sockets there and TCP (auth none) on a free loopback port.
pub struct Daemon {
    pub process: Logged,
    pub dir: PathBuf,
    pub port: u16,
}

impl Daemon {
    /// The config every such daemon uses: state and sockets in `dir`, TCP auth none on `port`, plus `extra`.
    pub fn config(dir: &Path, port: u16, extra: &str) -> PathBuf {
        let path = dir.join("virtcimd.conf");
        let body = format!(
            "state_dir = \"state\"\nunix_sock_dir = \"run\"\nlisten_tcp = 1\nlisten_addr = \"127.0.0.1\"\n\
             tcp_port = \"{port}\"\nauth_tcp = \"none\"\n{extra}"
        );
        std::fs::write(&path, body).expect("write config");
        path
    }

    /// Starts a daemon with [`Daemon::config`] plus `extra` lines and waits until it is ready.
    pub fn start(dir: &Path, extra: &str) -> Self {
        let port = super::free_port();
        let config = Self::config(dir, port, extra);
        let mut daemon = Self::spawn(dir, &config, port);
        daemon.wait_for("virtcimd ready");
        daemon
    }

    /// Spawns without waiting.
    pub fn spawn(dir: &Path, config: &Path, port: u16) -> Self {
        Self {
            process: spawn_virtcimd(config, &[]),
            dir: dir.to_path_buf(),
            port,
        }
    }

    /// Waits for a stderr line containing `needle`; panics with everything seen on timeout or exit.
    pub fn wait_for(&mut self, needle: &str) -> String {
        self.process.wait_for(needle)
    }

    /// Waits for the daemon to exit on its own; returns its exit code and everything it logged.
    pub fn wait_exit(mut self) -> (Option<i32>, String) {
        let status = self.process.wait_exit(STARTUP_TIMEOUT);
        (status.code(), self.process.log())
    }

    pub fn rw_socket(&self) -> PathBuf {
        self.dir.join("run/libvirt-sock")
    }

    pub fn ro_socket(&self) -> PathBuf {
        self.dir.join("run/libvirt-sock-ro")
    }

    pub fn pid(&self) -> Pid {
        self.process.pid()
    }

    /// VmRSS in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.process.alive()
    }

    /// SIGTERM and wait for a clean exit; returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        self.process.signal_and_wait(Signal::SIGTERM).code()
    }
}
