//! A child process as the RPC byte stream (the ssh and ext transports): its stdin and stdout are one end of a
//! socketpair, its stderr is collected for error messages, and its environment is reduced the way libvirt does.

use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

/// The variables every child keeps (libvirt's common pass-through list), `LC_ALL=C` added.
pub const COMMON_ENV: &[&str] = &[
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
];
/// What ssh keeps besides [`COMMON_ENV`]: agent, Kerberos, askpass and X11 settings.
pub const SSH_EXTRA_ENV: &[&str] = &[
    "XDG_RUNTIME_DIR",
    "KRB5CCNAME",
    "SSH_AUTH_SOCK",
    "SSH_ASKPASS",
    "OPENSSL_CONF",
    "DISPLAY",
    "XAUTHORITY",
];
/// Bytes of the child's stderr kept for error messages.
const STDERR_KEPT: usize = 8192;
/// How long a failed open waits for the child's last words on stderr.
const STDERR_GRACE: Duration = Duration::from_millis(1500);

/// A running child whose stdin/stdout carry the stream. Dropping it closes our end (the child sees EOF) and kills
/// the child if it is still running; a child that exits closes its end (we see EOF).
pub struct CommandStream {
    socket: UnixStream,
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_done: tokio::sync::watch::Receiver<bool>,
    program: String,
}

impl CommandStream {
    /// Starts `program` with `args`, stdin+stdout on a socketpair, stderr collected, and only `LC_ALL=C` plus the
    /// variables named in `keep_env` (when set in our environment) in its environment.
    pub fn spawn(program: &str, args: &[String], keep_env: &[&str]) -> std::io::Result<Self> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let theirs_out: OwnedFd = theirs.try_clone()?.into();
        let theirs_in: OwnedFd = theirs.into();
        ours.set_nonblocking(true)?;
        let socket = UnixStream::from_std(ours)?;

        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("LC_ALL", "C")
            .stdin(Stdio::from(theirs_in))
            .stdout(Stdio::from(theirs_out))
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for name in keep_env {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        let mut child = command.spawn()?;
        // The child's copies of its socket end were moved into `command`; dropping it closes ours of theirs, so a
        // child that exits gives us EOF.
        drop(command);

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, stderr_done) = tokio::sync::watch::channel(false);
        if let Some(mut pipe) = child.stderr.take() {
            let kept = stderr.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                loop {
                    match pipe.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if let Ok(mut kept) = kept.lock() {
                                let room = STDERR_KEPT.saturating_sub(kept.len());
                                kept.extend_from_slice(&buf[..n.min(room)]);
                            }
                        }
                    }
                }
                let _ = done_tx.send(true);
            });
        }
        Ok(Self {
            socket,
            child,
            stderr,
            stderr_done,
            program: program.to_string(),
        })
    }

    /// The program's name as started.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The child's process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// A handle on the child's stderr that outlives the stream (which the RPC client takes).
    pub fn stderr_tail(&self) -> StderrTail {
        StderrTail {
            kept: self.stderr.clone(),
            done: self.stderr_done.clone(),
        }
    }
}

/// The child's stderr as collected so far; see [`CommandStream::stderr_tail`].
#[derive(Clone)]
pub struct StderrTail {
    kept: Arc<Mutex<Vec<u8>>>,
    done: tokio::sync::watch::Receiver<bool>,
}

impl StderrTail {
    /// The text so far, trimmed.
    pub fn text(&self) -> String {
        let bytes = self
            .kept
            .lock()
            .map(|kept| kept.clone())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).trim().to_string()
    }

    /// After the stream failed: waits briefly for the child to close its stderr (it usually exits and says why),
    /// then returns the text.
    pub async fn final_text(&mut self) -> String {
        let _ = tokio::time::timeout(STDERR_GRACE, self.done.wait_for(|done| *done)).await;
        self.text()
    }
}

impl AsyncRead for CommandStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for CommandStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }
}

/// `keep_env` for an ext program.
pub fn ext_env() -> Vec<&'static str> {
    COMMON_ENV.to_vec()
}

/// `keep_env` for ssh.
pub fn ssh_env() -> Vec<&'static str> {
    COMMON_ENV.iter().chain(SSH_EXTRA_ENV).copied().collect()
}
