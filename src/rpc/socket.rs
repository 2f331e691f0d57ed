//! A plain unix or TCP connection as the RPC server holds it: watched for read readiness only, and for write
//! readiness only while a reply does not fit in the socket buffer.
//!
//! Why: a socket registered for both directions (as tokio's own stream types are) is woken every time the client
//! takes a reply off it (space to write again), although the server has nothing to write; on loopback that is a
//! second thread wake-up per call. libvirtd likewise polls for output only while it has output queued.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A non-blocking connected socket of the standard library.
pub trait BareSocket: AsRawFd + Send + Sync + Sized + Unpin + 'static {
    fn read_now(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_now(&self, buf: &[u8]) -> io::Result<usize>;
    fn shutdown_write(&self) -> io::Result<()>;
    /// A second descriptor for the same socket, so that write readiness can be watched on its own.
    fn duplicate(&self) -> io::Result<Self>;
}

/// The standard library's connected sockets, whose `&Self` reads and writes.
macro_rules! bare_socket {
    ($($socket:ty),*) => {$(
        impl BareSocket for $socket {
            fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
                (&*self).read(buf)
            }
            fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
                (&*self).write(buf)
            }
            fn shutdown_write(&self) -> io::Result<()> {
                self.shutdown(Shutdown::Write)
            }
            fn duplicate(&self) -> io::Result<Self> {
                self.try_clone()
            }
        }
    )*};
}

bare_socket!(std::os::unix::net::UnixStream, std::net::TcpStream);

/// The connection: one registration for reading; a second, for writing, exists only while a write is blocked.
pub struct RpcSocket<S: BareSocket> {
    readable: AsyncFd<S>,
    writable: Option<AsyncFd<S>>,
}

impl<S: BareSocket> RpcSocket<S> {
    /// Registers `socket` (already non-blocking) with the current runtime for reading.
    pub fn new(socket: S) -> io::Result<Self> {
        Ok(Self {
            readable: register(socket, Interest::READABLE)?,
            writable: None,
        })
    }
}

/// Registers an owned socket with the current runtime for `interest`.
// tokio deprecated its safe constructor because a type's `as_raw_fd` might name a descriptor it does not own;
// a socket of the standard library owns its descriptor until it is dropped, which AsyncFd does last.
#[allow(deprecated)]
fn register<S: BareSocket>(socket: S, interest: Interest) -> io::Result<AsyncFd<S>> {
    AsyncFd::with_interest(socket, interest)
}

impl RpcSocket<std::os::unix::net::UnixStream> {
    /// Takes over a stream accepted by tokio (which registered it for both directions).
    pub fn from_tokio_unix(stream: tokio::net::UnixStream) -> io::Result<Self> {
        Self::new(stream.into_std()?)
    }
}

impl RpcSocket<std::net::TcpStream> {
    /// Takes over a stream accepted by tokio (which registered it for both directions).
    pub fn from_tokio_tcp(stream: tokio::net::TcpStream) -> io::Result<Self> {
        Self::new(stream.into_std()?)
    }
}

impl<S: BareSocket> AsyncRead for RpcSocket<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.readable.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let room = unfilled.len();
            match guard.try_io(|socket| socket.get_ref().read_now(unfilled)) {
                Ok(Ok(n)) => {
                    // A short read drained the socket (the registration is edge-triggered): the next read can
                    // wait for the next edge instead of first being told "would block" by the kernel.
                    if n > 0 && n < room {
                        guard.clear_ready();
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(err)) => return Poll::Ready(Err(err)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl<S: BareSocket> AsyncWrite for RpcSocket<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.writable.is_none() {
            match this.readable.get_ref().write_now(buf) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    let second = this.readable.get_ref().duplicate()?;
                    this.writable = Some(register(second, Interest::WRITABLE)?);
                }
                done => return Poll::Ready(done),
            }
        }
        let result = match &this.writable {
            Some(writable) => loop {
                let mut guard = ready!(writable.poll_write_ready(cx))?;
                if let Ok(result) = guard.try_io(|socket| socket.get_ref().write_now(buf)) {
                    break result;
                }
            },
            None => return Poll::Ready(this.readable.get_ref().write_now(buf)),
        };
        // The client reads again: back to one registration (and no wake-ups for write space).
        this.writable = None;
        Poll::Ready(result)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.readable.get_ref().shutdown_write())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_and_writes_both_ways() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut ours = RpcSocket::new(ours).unwrap();
        let mut theirs = tokio::net::UnixStream::from_std({
            theirs.set_nonblocking(true).unwrap();
            theirs
        })
        .unwrap();
        theirs.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        ours.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        ours.write_all(b"pong").await.unwrap();
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"pong");
        ours.shutdown().await.unwrap();
        assert_eq!(theirs.read(&mut got).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_blocked_write_waits_for_the_reader_and_loses_nothing() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut ours = RpcSocket::new(ours).unwrap();
        // Far more than a unix socket buffer holds: the writer must block and resume as the peer reads.
        let sent: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
        let expected = sent.clone();
        let reader = std::thread::spawn(move || {
            let mut theirs = theirs;
            std::thread::sleep(std::time::Duration::from_millis(50));
            let mut got = Vec::new();
            theirs.read_to_end(&mut got).unwrap();
            got
        });
        ours.write_all(&sent).await.unwrap();
        assert!(
            ours.writable.is_none(),
            "the write registration is dropped once writes go through"
        );
        drop(ours);
        assert_eq!(reader.join().unwrap(), expected);
    }

    #[tokio::test]
    async fn reads_see_the_peer_close() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut ours = RpcSocket::new(ours).unwrap();
        (&theirs).write_all(b"last words").unwrap();
        drop(theirs);
        let mut got = Vec::new();
        ours.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"last words");
    }
}
