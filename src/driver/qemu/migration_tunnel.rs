//! Tunnelled migration (`virsh migrate --p2p --tunnelled`): QEMU's migration data travels inside the connection
//! between the two daemons, as the stream the destination's PrepareTunnel opened, instead of a connection of its
//! own between the two QEMUs (libvirt passes QEMU a pipe; we give it a unix socket of the daemon's).
//!
//! Source: QEMU migrates to `unix:` a socket the daemon listens on; what it writes goes down the stream, and when
//! QEMU has sent everything the stream is finished, which the destination acknowledges once it has handed every
//! byte to its QEMU. Destination: the incoming QEMU listens on a unix socket; the daemon connects and writes
//! the stream's data into it. Either end going away drops the stream, which fails the migration on both sides.

use crate::driver::{Packet, Stream};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use uuid::Uuid;

/// Bytes per stream packet (the stream's own chunk: one packet, one wire message).
const STREAM_CHUNK: usize = 262_120;
/// How long the destination tries to reach its QEMU's socket (it listens once `migrate-incoming` ran).
const CONNECT_WAIT: Duration = Duration::from_secs(10);

fn failed(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::OPERATION_FAILED, ErrorDomain::QEMU, detail)
}

/// The socket of one tunnelled migration, in the driver's directory (short, for the 108-byte socket path limit).
pub(super) fn socket_path(root: &Path, uuid: &Uuid, direction: &str) -> PathBuf {
    let short = uuid.simple().to_string();
    root.join(format!("mig-{direction}-{}.sock", &short[..12]))
}

/// Destination: writes what the stream brings into the incoming QEMU's socket at `path`, until the source
/// finishes (answered Done once all is written) or the stream ends otherwise (the socket closes, QEMU fails the
/// incoming migration, Finish cleans up).
pub(super) async fn feed(path: PathBuf, mut stream: Stream) {
    let deadline = std::time::Instant::now() + CONNECT_WAIT;
    let mut socket = loop {
        match UnixStream::connect(&path).await {
            Ok(socket) => break socket,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => {
                let _ = std::fs::remove_file(&path);
                let _ = stream
                    .send(Packet::Error(failed(format!(
                        "cannot reach the incoming migration socket: {err}"
                    ))))
                    .await;
                return;
            }
        }
    };
    // Connected: the name is no longer needed.
    let _ = std::fs::remove_file(&path);
    while let Some(packet) = stream.recv().await {
        match packet {
            Packet::Data(bytes) => {
                if let Err(err) = socket.write_all(&bytes).await {
                    let _ = stream
                        .send(Packet::Error(failed(format!(
                            "cannot write migration data to QEMU: {err}"
                        ))))
                        .await;
                    return;
                }
            }
            Packet::Hole(len) => {
                let zeros = vec![0u8; STREAM_CHUNK];
                let mut left = len;
                while left > 0 {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(zeros.len());
                    if socket.write_all(&zeros[..n]).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
            }
            Packet::Eof => {}
            Packet::Finish => {
                let _ = socket.flush().await;
                let _ = socket.shutdown().await;
                let _ = stream.send(Packet::Done).await;
                return;
            }
            Packet::Abort | Packet::Done | Packet::Error(_) => return,
        }
    }
}

/// Source: the socket QEMU migrates to and the task moving its bytes into the stream.
pub(super) struct Outgoing {
    path: PathBuf,
    task: Option<tokio::task::JoinHandle<Result<Stream>>>,
}

impl Outgoing {
    /// Listens on `path` and forwards the one connection QEMU makes to `stream`.
    pub(super) fn listen(path: &Path, stream: Stream) -> Result<Self> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).map_err(|err| {
            Error::system(
                ErrorDomain::QEMU,
                format!("cannot listen on {}", path.display()),
                &err,
            )
        })?;
        let task = tokio::spawn(forward(listener, stream));
        Ok(Self {
            path: path.to_path_buf(),
            task: Some(task),
        })
    }

    /// After QEMU's side ended: when it succeeded (`sent`), finishes the stream and waits for the destination
    /// to confirm it has every byte; otherwise aborts the stream.
    pub(super) async fn finish(mut self, sent: bool) -> Result<()> {
        let _ = std::fs::remove_file(&self.path);
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        if !sent {
            task.abort();
            return Ok(());
        }
        let mut stream = match task.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => return Err(err),
            Err(_) => return Err(failed("the migration tunnel ended unexpectedly")),
        };
        stream.send(Packet::Finish).await.map_err(tunnel_lost)?;
        loop {
            match stream.recv().await {
                Some(Packet::Done) => return Ok(()),
                Some(Packet::Error(err)) => return Err(err),
                Some(_) => {}
                None => return Err(tunnel_lost(crate::driver::stream_closed())),
            }
        }
    }
}

impl Drop for Outgoing {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn tunnel_lost(err: Error) -> Error {
    failed(format!(
        "migration tunnel to the destination failed: {}",
        err.message
    ))
}

/// Moves QEMU's migration data into the stream until QEMU closes its end; answers the stream to be finished.
async fn forward(listener: UnixListener, stream: Stream) -> Result<Stream> {
    let (mut socket, _) = listener.accept().await.map_err(|err| {
        Error::system(
            ErrorDomain::QEMU,
            "cannot accept QEMU's migration connection",
            &err,
        )
    })?;
    let mut buf = vec![0u8; STREAM_CHUNK];
    loop {
        let n = socket.read(&mut buf).await.map_err(|err| {
            Error::system(ErrorDomain::QEMU, "cannot read QEMU's migration data", &err)
        })?;
        if n == 0 {
            return Ok(stream);
        }
        stream
            .send(Packet::Data(buf[..n].to_vec()))
            .await
            .map_err(tunnel_lost)?;
    }
}
