//! Streams: the data channel some API calls open (volume upload and download, screenshots, consoles), libvirt's
//! `virStream` as two bounded queues between the party that called the API (the *user* end) and the driver
//! task that serves it (the *driver* end).
//!
//! A driver method that opens a stream returns the user end and keeps the driver end in a task of its own. The
//! RPC server bridges a user end to the wire; the remote driver bridges the wire to a driver end; an in-process
//! caller uses the user end directly. Either way the packets and their order are the same, so local and remote
//! results agree. Each queue holds [`STREAM_QUEUE`] packets of at most [`STREAM_CHUNK`] bytes: a producer
//! faster than its consumer waits, and memory stays bounded whatever the transfer size. Dropping an end is an
//! abort: the other end's `recv` sees `None` and its `send` fails, so a client that vanishes frees the driver's
//! file, pty or process at once.

use std::task::{Context, Poll};

use tokio::sync::mpsc;

use crate::error::{Error, ErrorCode, ErrorDomain, Result};

/// The largest data packet a producer should send (libvirt's `VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX`, so one packet
/// is one wire message).
pub const STREAM_CHUNK: usize = 262_120;

/// Packets each direction holds before its sender waits.
pub const STREAM_QUEUE: usize = 4;

/// What travels on a stream.
#[derive(Debug, PartialEq)]
pub enum Packet {
    /// Bytes (never empty).
    Data(Vec<u8>),
    /// A run of zeros this long that the receiver may leave unallocated (sparse streams only).
    Hole(u64),
    /// The sender has no more data (a download's end of file).
    Eof,
    /// User to driver: the transfer is complete; the driver commits it and answers [`Packet::Done`] or
    /// [`Packet::Error`].
    Finish,
    /// Driver to user: the finish succeeded; the stream is over.
    Done,
    /// User to driver: abandon the transfer.
    Abort,
    /// Either way: the stream failed; it is over.
    Error(Error),
}

/// One end of a stream.
#[derive(Debug)]
pub struct Stream {
    tx: mpsc::Sender<Packet>,
    rx: mpsc::Receiver<Packet>,
}

/// The error a stream reports once the other end went away without finishing.
pub fn stream_closed() -> Error {
    Error::new(
        ErrorCode::RPC,
        ErrorDomain::RPC,
        "stream had unexpected termination",
    )
}

impl Stream {
    /// A new stream: (user end, driver end).
    pub fn pair() -> (Stream, Stream) {
        let (to_driver, from_user) = mpsc::channel(STREAM_QUEUE);
        let (to_user, from_driver) = mpsc::channel(STREAM_QUEUE);
        (
            Stream {
                tx: to_driver,
                rx: from_driver,
            },
            Stream {
                tx: to_user,
                rx: from_user,
            },
        )
    }

    /// Queues a packet, waiting while the other end's queue is full; fails once that end is gone.
    pub async fn send(&self, packet: Packet) -> Result<()> {
        self.tx.send(packet).await.map_err(|_| stream_closed())
    }

    /// Queues bytes, cut into packets of at most [`STREAM_CHUNK`].
    pub async fn send_data(&self, bytes: &[u8]) -> Result<()> {
        for chunk in bytes.chunks(STREAM_CHUNK) {
            self.send(Packet::Data(chunk.to_vec())).await?;
        }
        Ok(())
    }

    /// The next packet; `None` once the other end is gone (an abort when it had not finished).
    pub async fn recv(&mut self) -> Option<Packet> {
        self.rx.recv().await
    }

    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Packet>> {
        self.rx.poll_recv(cx)
    }

    /// Waits for room for one packet (to forward one without holding it in a buffer of one's own).
    pub async fn reserve(&self) -> Result<mpsc::Permit<'_, Packet>> {
        self.tx.reserve().await.map_err(|_| stream_closed())
    }

    /// A second handle on this end's sending side, to wait for room while also receiving. The stream stays open
    /// for the other end until every handle is dropped.
    pub fn sender(&self) -> mpsc::Sender<Packet> {
        self.tx.clone()
    }

    /// Queues a packet only if there is room now (for a last word while dropping an end).
    pub fn try_send(&self, packet: Packet) -> bool {
        self.tx.try_send(packet).is_ok()
    }

    /// [`Stream::send`] from a blocking thread (file I/O loops run on one).
    pub fn blocking_send(&self, packet: Packet) -> Result<()> {
        self.tx.blocking_send(packet).map_err(|_| stream_closed())
    }

    /// [`Stream::recv`] from a blocking thread.
    pub fn blocking_recv(&mut self) -> Option<Packet> {
        self.rx.blocking_recv()
    }

    /// User end: reads everything the driver sends until its end of file, for small results (a screenshot);
    /// holes become zeros. At most `limit` bytes are accepted.
    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            match self.recv().await {
                Some(Packet::Data(bytes)) => out.extend_from_slice(&bytes),
                Some(Packet::Hole(len)) => {
                    let len = usize::try_from(len).unwrap_or(usize::MAX);
                    out.resize(out.len().saturating_add(len), 0);
                }
                Some(Packet::Eof) => return Ok(out),
                Some(Packet::Error(err)) => return Err(err),
                Some(Packet::Done | Packet::Finish | Packet::Abort) | None => {
                    return Err(stream_closed())
                }
            }
            if out.len() > limit {
                return Err(Error::internal(
                    ErrorDomain::RPC,
                    format!("stream data exceeds {limit} bytes"),
                ));
            }
        }
    }

    /// User end: ends the stream as libvirt's `virStreamFinish` does, waiting for the driver to commit (an
    /// upload's last write, a download's reader done). Data still queued towards the user is discarded.
    pub async fn finish(&mut self) -> Result<()> {
        // The driver may have ended the stream with an error before it saw the finish (an upload past its
        // length): that error, already queued, is the answer rather than "the stream closed".
        let sent = self.send(Packet::Finish).await;
        loop {
            match self.recv().await {
                Some(Packet::Done) => return sent,
                Some(Packet::Error(err)) => return Err(err),
                Some(_) => continue,
                None => return Err(sent.err().unwrap_or_else(stream_closed)),
            }
        }
    }

    /// User end: abandons the stream (`virStreamAbort`). The driver end sees the abort, or the end vanish.
    pub fn abort(self) {
        let _ = self.tx.try_send(Packet::Abort);
    }
}

/// Driver end helper: waits for the user's verdict once the driver has sent everything (a download after its
/// end of file): `Finish` is confirmed with `Done` and gives `true`; an abort or a vanished user gives `false`.
/// Data the user sends meanwhile is refused (such a stream carries nothing towards the driver).
pub async fn await_finish(end: &mut Stream) -> bool {
    match end.recv().await {
        Some(Packet::Finish) => {
            let _ = end.send(Packet::Done).await;
            true
        }
        Some(Packet::Abort) | Some(Packet::Error(_)) | None => false,
        Some(Packet::Data(_) | Packet::Hole(_) | Packet::Eof | Packet::Done) => {
            let _ = end
                .send(Packet::Error(Error::new(
                    ErrorCode::RPC,
                    ErrorDomain::RPC,
                    "stream does not accept data in this direction",
                )))
                .await;
            false
        }
    }
}

/// Driver end helper: serves a stream from bytes already in memory (a fixed image), then waits for the finish.
pub fn serve_bytes(bytes: Vec<u8>) -> Stream {
    let (user, mut driver) = Stream::pair();
    tokio::spawn(async move {
        if driver.send_data(&bytes).await.is_ok() && driver.send(Packet::Eof).await.is_ok() {
            await_finish(&mut driver).await;
        }
    });
    user
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_arrive_in_bounded_chunks_then_finish_is_confirmed() {
        let bytes: Vec<u8> = (0..STREAM_CHUNK * 2 + 5)
            .map(|i| (i % 251).to_le_bytes()[0])
            .collect();
        let mut user = serve_bytes(bytes.clone());
        let mut sizes = Vec::new();
        let mut got = Vec::new();
        loop {
            match user.recv().await.unwrap() {
                Packet::Data(chunk) => {
                    sizes.push(chunk.len());
                    got.extend(chunk);
                }
                Packet::Eof => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(sizes, vec![STREAM_CHUNK, STREAM_CHUNK, 5]);
        assert_eq!(got, bytes);
        user.finish().await.unwrap();
    }

    #[tokio::test]
    async fn a_full_queue_holds_the_producer_back() {
        let (user, driver) = Stream::pair();
        for _ in 0..STREAM_QUEUE {
            assert!(driver.try_send(Packet::Data(vec![1])));
        }
        assert!(!driver.try_send(Packet::Data(vec![1])), "queue is bounded");
        drop(user);
        assert_eq!(driver.send(Packet::Eof).await.unwrap_err(), stream_closed());
    }

    #[tokio::test]
    async fn dropping_the_user_end_is_an_abort_for_the_driver() {
        let (user, mut driver) = Stream::pair();
        user.abort();
        assert!(!await_finish(&mut driver).await);
        let (user, mut driver) = Stream::pair();
        drop(user);
        assert!(!await_finish(&mut driver).await);
        assert!(driver.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_driver_error_ends_finish_and_read_to_end() {
        let (mut user, driver) = Stream::pair();
        let err = Error::internal(ErrorDomain::STORAGE, "disk gone");
        driver.send(Packet::Error(err.clone())).await.unwrap();
        assert_eq!(user.read_to_end(1 << 20).await.unwrap_err(), err);
        let (mut user, mut driver) = Stream::pair();
        tokio::spawn(async move {
            assert_eq!(driver.recv().await, Some(Packet::Finish));
            driver
                .send(Packet::Error(Error::internal(ErrorDomain::STORAGE, "sync")))
                .await
                .unwrap();
        });
        assert!(user.finish().await.unwrap_err().message.contains("sync"));
    }

    #[tokio::test]
    async fn holes_read_as_zeros_and_the_limit_holds() {
        let (mut user, driver) = Stream::pair();
        tokio::spawn(async move {
            driver.send(Packet::Data(vec![7])).await.unwrap();
            driver.send(Packet::Hole(3)).await.unwrap();
            driver.send(Packet::Eof).await.unwrap();
        });
        assert_eq!(user.read_to_end(16).await.unwrap(), vec![7, 0, 0, 0]);
        let mut user = serve_bytes(vec![0; 100]);
        assert!(user.read_to_end(10).await.is_err());
    }
}
