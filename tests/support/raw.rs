//! Test support for the RPC tests that run the real `virtcimd` binary: a daemon on a temp dir (own sockets, a free
//! loopback port) and a blocking raw wire client built on the crate's own codec types.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use virtcim::rpc_wire::{ConnectOpenArgs, StringArgs, REMOTE_PROGRAM, REMOTE_VERSION};
use virtcim::{
    encode_frame, FrameDecoder, Header, Message, MessageType, Procedure, RemoteError, Status, Xdr,
};

pub const DAEMON: &str = env!("CARGO_BIN_EXE_virtcimd");
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a test waits for one reply before calling the daemon stuck.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A port nobody listens on right now (bound once, then released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// A `virtcimd` we started on `dir`, with its stderr lines collected. SIGTERMed (then killed) when dropped.
pub struct Daemon {
    pub child: Child,
    pub dir: PathBuf,
    pub port: u16,
    lines: Receiver<String>,
    pub seen: Vec<String>,
}

impl Daemon {
    /// The config every test daemon uses: state and sockets in `dir`, TCP auth none on a free loopback port.
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
        let port = free_port();
        let config = Self::config(dir, port, extra);
        let mut daemon = Self::spawn(dir, &config, port);
        daemon.wait_for("virtcimd ready");
        daemon
    }

    /// Spawns without waiting.
    pub fn spawn(dir: &Path, config: &Path, port: u16) -> Self {
        let mut child = Command::new(DAEMON)
            .arg("--config")
            .arg(config)
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
        Self {
            child,
            dir: dir.to_path_buf(),
            port,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `needle`; panics with everything seen on timeout or exit.
    pub fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "no line with {needle:?}; stderr so far:\n{}",
            self.seen.join("\n")
        );
    }

    /// Waits for the daemon to exit on its own; returns its exit code and everything it logged.
    pub fn wait_exit(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return (status.code(), self.seen.join("\n"));
            }
            assert!(Instant::now() < deadline, "daemon did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn rw_socket(&self) -> PathBuf {
        self.dir.join("run/libvirt-sock")
    }

    pub fn ro_socket(&self) -> PathBuf {
        self.dir.join("run/libvirt-sock-ro")
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid"))
    }

    /// VmRSS in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// SIGTERM and wait for a clean exit; returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        let _ = kill(self.pid(), Signal::SIGTERM);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "daemon did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(self.pid(), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a read from the daemon gave.
#[derive(Debug)]
pub enum Received {
    Frame(Message),
    /// The daemon closed the connection.
    Closed,
    /// Nothing within the timeout.
    Silent,
}

/// A blocking client speaking raw frames.
pub struct Raw {
    stream: Stream,
    decoder: FrameDecoder,
    serial: u32,
}

impl Raw {
    pub fn tcp(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect tcp");
        stream.set_nodelay(true).expect("nodelay");
        Self::new(Stream::Tcp(stream))
    }

    pub fn unix(path: &Path) -> Self {
        Self::new(Stream::Unix(
            UnixStream::connect(path).expect("connect unix"),
        ))
    }

    fn new(stream: Stream) -> Self {
        let mut raw = Self {
            stream,
            decoder: FrameDecoder::new(virtcim::rpc_wire::FRAME_MAX),
            serial: 0,
        };
        raw.set_timeout(REPLY_TIMEOUT);
        raw
    }

    /// A second handle on the socket, for writing from another thread (TCP only).
    pub fn try_clone_stream(&self) -> TcpStream {
        match &self.stream {
            Stream::Tcp(s) => s.try_clone().expect("clone"),
            Stream::Unix(_) => panic!("try_clone_stream is for TCP clients"),
        }
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        match &self.stream {
            Stream::Tcp(s) => s.set_read_timeout(Some(timeout)).expect("timeout"),
            Stream::Unix(s) => s.set_read_timeout(Some(timeout)).expect("timeout"),
        }
    }

    /// Writes raw bytes; false once the daemon has closed the socket.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// Sends a call with the next serial; returns the serial.
    pub fn send_call(&mut self, prog: u32, vers: u32, proc_: u32, payload: &[u8]) -> u32 {
        self.serial += 1;
        let header = Header::call(prog, vers, proc_, self.serial);
        assert!(
            self.send_bytes(&encode_frame(&header, payload)),
            "daemon closed the connection"
        );
        self.serial
    }

    /// The next frame, EOF, or silence within the read timeout.
    pub fn receive(&mut self) -> Received {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    return Received::Frame(Message::from_frame(&frame).expect("daemon frame"))
                }
                Ok(None) => {}
                Err(err) => panic!("daemon sent a bad frame: {err}"),
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return Received::Closed,
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(err)
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Received::Silent
                }
                Err(_) => return Received::Closed,
            }
        }
    }

    /// The next REPLY frame (skipping keepalive and event messages); panics on EOF or silence.
    pub fn reply(&mut self) -> Message {
        loop {
            match self.receive() {
                Received::Frame(message) if message.header.kind == MessageType::Reply => {
                    return message
                }
                Received::Frame(_) => continue,
                other => panic!("expected a reply, got {other:?}"),
            }
        }
    }

    /// One REMOTE call and its reply.
    pub fn call(&mut self, proc_: Procedure, payload: &[u8]) -> Message {
        let serial = self.send_call(REMOTE_PROGRAM, REMOTE_VERSION, proc_.number(), payload);
        let reply = self.reply();
        assert_eq!(reply.header.serial, serial, "reply to another call");
        reply
    }

    /// One call by number with its reply.
    pub fn call_number(&mut self, proc_: u32, payload: &[u8]) -> Message {
        let serial = self.send_call(REMOTE_PROGRAM, REMOTE_VERSION, proc_, payload);
        let reply = self.reply();
        assert_eq!(reply.header.serial, serial, "reply to another call");
        reply
    }

    /// CONNECT_OPEN `name`, expecting success.
    pub fn open(&mut self, name: &str) {
        let reply = self.try_open(name);
        assert_eq!(
            reply.header.status,
            Status::Ok,
            "open {name}: {:?}",
            error_of(&reply)
        );
    }

    pub fn try_open(&mut self, name: &str) -> Message {
        let args = ConnectOpenArgs {
            name: Some(name.to_string()),
            flags: 0,
        };
        self.call(Procedure::ConnectOpen, &args.to_bytes())
    }

    /// A cheap driver call proving the connection and the daemon still work: looks up `test`.
    pub fn canary(&mut self) {
        let args = StringArgs {
            value: "test".into(),
        };
        let reply = self.call(Procedure::DomainLookupByName, &args.to_bytes());
        assert_eq!(
            reply.header.status,
            Status::Ok,
            "canary lookup: {:?}",
            error_of(&reply)
        );
    }
}

/// The error a reply carries; panics if it is not an error reply.
pub fn error_of(reply: &Message) -> RemoteError {
    assert_eq!(
        reply.header.status,
        Status::Error,
        "expected an error reply"
    );
    RemoteError::from_bytes(&reply.payload).expect("error payload")
}
