//! The native RPC client: calls over any byte stream, matched to replies by serial, plus keepalive, async event
//! messages and a clean close.
//!
//! One reader task owns the stream's read half (frames in: replies to waiting calls, PINGs answered, events fanned
//! out), one writer task owns the write half (frames out, in the order queued). Callers only queue a frame and wait
//! on a oneshot; several calls can be in flight at once. When the transport dies every waiting call fails with the
//! reason, and so does every later call.
//!
//! A security layer (SASL DIGEST-MD5 auth-conf) can be installed once authentication is done: from then on the
//! writer encodes every frame before it goes out and the reader decodes every byte before the frame decoder sees
//! it. The caller installs it between the final authentication reply and its next call; the server sends nothing
//! unasked in between, so no byte is ever read on the wrong side of the switch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error as ThisError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::packet::{
    encode_frame, FrameDecoder, Header, Message, MessageType, Status, KEEPALIVE_PING,
    KEEPALIVE_PONG, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, REMOTE_PROGRAM, REMOTE_VERSION,
};
use super::procedures::Procedure;
use super::proto::{Proc, RemoteError};
use super::qemu::{QemuProc, QEMU_PROGRAM, QEMU_VERSION};
use super::xdr::Xdr;
use crate::error::{Error, ErrorCode, ErrorDomain, Result};

/// Frames queued for the writer before callers wait for room.
const OUTGOING_QUEUE: usize = 64;
/// Event messages buffered per subscriber before the slowest one starts missing some.
const EVENT_QUEUE: usize = 256;
/// Stream messages queued for a stream's reader before the connection's reader waits (backpressure).
const STREAM_QUEUE: usize = 4;
/// How long [`RpcClient::close`] waits for the server to answer CONNECT_CLOSE and hang up.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the client's transport stopped.
#[derive(Debug, ThisError, Clone, PartialEq, Eq)]
pub enum ClientError {
    #[error("End of file while reading data: Input/output error")]
    Eof,
    #[error("Cannot {op} data: {message}")]
    Io { op: &'static str, message: String },
    #[error("{0}")]
    Protocol(String),
    #[error("connection closed due to keepalive timeout")]
    KeepaliveTimeout,
    #[error("client socket is closed")]
    Closed,
}

/// THE mapping of transport failures to the crate error, with libvirt's codes: I/O and EOF are system errors of
/// the RPC domain, a peer breaking the protocol is an RPC error, a dead or closed connection an internal error.
impl From<ClientError> for Error {
    fn from(err: ClientError) -> Self {
        let code = match &err {
            ClientError::Eof | ClientError::Io { .. } => ErrorCode::SYSTEM_ERROR,
            ClientError::Protocol(_) => ErrorCode::RPC,
            ClientError::KeepaliveTimeout | ClientError::Closed => ErrorCode::INTERNAL_ERROR,
        };
        let message = match code {
            ErrorCode::INTERNAL_ERROR => format!("internal error: {err}"),
            _ => err.to_string(),
        };
        Error::new(code, ErrorDomain::RPC, message)
    }
}

/// A security layer wrapping the byte stream both ways once authentication negotiated one.
pub trait SecurityLayer: Send {
    /// Plaintext (one or more whole frames) to the bytes to write.
    fn encode(&mut self, plain: &[u8]) -> std::result::Result<Vec<u8>, String>;
    /// Bytes as read (any split) to the plaintext completed so far.
    fn decode(&mut self, wire: &[u8]) -> std::result::Result<Vec<u8>, String>;
}

/// A call waiting for its reply.
struct Pending {
    prog: u32,
    vers: u32,
    proc_: u32,
    reply: oneshot::Sender<Result<Vec<u8>>>,
}

/// What the tasks and the handles share. `pending` and `dead` live under one lock so a call can never be
/// registered after the pending set was failed.
struct Calls {
    pending: HashMap<u32, Pending>,
    dead: Option<ClientError>,
    /// Open streams by the serial of the call that opened them: where their messages go.
    streams: HashMap<u32, mpsc::Sender<Message>>,
}

struct Shared {
    calls: Mutex<Calls>,
    next_serial: AtomicU32,
    outgoing: mpsc::Sender<Vec<u8>>,
    events: broadcast::Sender<Message>,
    last_heard: Mutex<Instant>,
    /// Set to true to tear the transport down.
    stop: watch::Sender<bool>,
    /// Becomes true once the reader has finished (EOF, error or stop).
    finished: watch::Sender<bool>,
    /// The security layer in effect, if any; reader and writer share it (one object keeps both directions).
    layer: Mutex<Option<Box<dyn SecurityLayer>>>,
    /// Set once a layer is installed, so connections without one never take the lock per read or write.
    layered: AtomicBool,
}

impl Shared {
    /// Marks the connection dead (the first reason wins) and fails every waiting call with it.
    fn die(&self, reason: ClientError) {
        let drained: Vec<Pending> = {
            let Ok(mut calls) = self.calls.lock() else {
                return;
            };
            if calls.dead.is_none() {
                calls.dead = Some(reason);
            }
            // Dropping the senders ends every stream's reader.
            calls.streams.clear();
            calls.pending.drain().map(|(_, pending)| pending).collect()
        };
        let reason = self.dead_reason();
        for pending in drained {
            let _ = pending.reply.send(Err(reason.clone().into()));
        }
        self.stop.send_replace(true);
    }

    fn dead_reason(&self) -> ClientError {
        self.calls
            .lock()
            .ok()
            .and_then(|calls| calls.dead.clone())
            .unwrap_or(ClientError::Closed)
    }

    fn is_dead(&self) -> bool {
        self.calls.lock().map(|c| c.dead.is_some()).unwrap_or(true)
    }

    /// Passes `bytes` through the security layer's `encode` (or `decode`); `None` when there is no layer (the
    /// bytes stay as they are, uncopied).
    fn through_layer(
        &self,
        bytes: &[u8],
        encode: bool,
    ) -> std::result::Result<Option<Vec<u8>>, ClientError> {
        if !self.layered.load(Ordering::Acquire) {
            return Ok(None);
        }
        let mut layer = self
            .layer
            .lock()
            .map_err(|_| ClientError::Protocol("security layer state poisoned".into()))?;
        let Some(layer) = layer.as_mut() else {
            return Ok(None);
        };
        let result = if encode {
            layer.encode(bytes)
        } else {
            layer.decode(bytes)
        };
        result.map(Some).map_err(|reason| {
            ClientError::Protocol(format!(
                "SASL security layer cannot {} data: {reason}",
                if encode { "encode" } else { "decode" }
            ))
        })
    }

    fn heard(&self) {
        if let Ok(mut last) = self.last_heard.lock() {
            *last = Instant::now();
        }
    }

    fn last_heard(&self) -> Instant {
        self.last_heard
            .lock()
            .map(|last| *last)
            .unwrap_or_else(|_| Instant::now())
    }

    /// Routes one received message.
    async fn receive(&self, message: Message) -> std::result::Result<(), ClientError> {
        let header = message.header;
        if header.prog == KEEPALIVE_PROGRAM {
            if header.proc_ == KEEPALIVE_PING && header.kind == MessageType::Message {
                let pong = keepalive_header(KEEPALIVE_PONG);
                // A full queue means the writer is stuck; the PONG is not worth waiting for.
                let _ = self.outgoing.try_send(encode_frame(&pong, &[]));
            }
            return Ok(());
        }
        match header.kind {
            MessageType::Message => {
                // No subscriber is not an error: events nobody asked for are dropped.
                let _ = self.events.send(message);
                Ok(())
            }
            MessageType::Reply | MessageType::ReplyWithFds => self.complete(message),
            MessageType::Stream | MessageType::StreamHole => {
                let target = self
                    .calls
                    .lock()
                    .ok()
                    .and_then(|calls| calls.streams.get(&header.serial).cloned());
                // Messages of a stream already closed are dropped, as libvirt's client drops them. A full queue
                // holds the reader back: the server then waits on the socket, which bounds what it sends.
                if let Some(target) = target {
                    let _ = target.send(message).await;
                }
                Ok(())
            }
            MessageType::Call | MessageType::CallWithFds => Err(ClientError::Protocol(format!(
                "unexpected call from the server (proc {}, serial {})",
                header.proc_, header.serial
            ))),
        }
    }

    /// Hands a reply to the call with its serial, after checking it answers that call.
    fn complete(&self, message: Message) -> std::result::Result<(), ClientError> {
        let header = message.header;
        let pending = self
            .calls
            .lock()
            .ok()
            .and_then(|mut calls| calls.pending.remove(&header.serial));
        let Some(pending) = pending else {
            return Err(ClientError::Protocol(format!(
                "no call waiting for reply serial {} (proc {})",
                header.serial, header.proc_
            )));
        };
        if (header.prog, header.vers, header.proc_) != (pending.prog, pending.vers, pending.proc_) {
            let err = ClientError::Protocol(format!(
                "reply to serial {} names program {:#x} version {} proc {}, the call was {:#x} {} {}",
                header.serial,
                header.prog,
                header.vers,
                header.proc_,
                pending.prog,
                pending.vers,
                pending.proc_
            ));
            let _ = pending.reply.send(Err(err.clone().into()));
            return Err(err);
        }
        let result = match header.status {
            Status::Ok => Ok(message.payload),
            Status::Error => Err(match RemoteError::from_bytes(&message.payload) {
                Ok(remote) => remote.to_error(),
                Err(err) => Error::from(ClientError::Protocol(format!(
                    "undecodable error reply: {err}"
                ))),
            }),
            Status::Continue => Err(Error::from(ClientError::Protocol(format!(
                "reply to serial {} has status CONTINUE",
                header.serial
            )))),
        };
        let _ = pending.reply.send(result);
        Ok(())
    }
}

fn keepalive_header(proc_: u32) -> Header {
    Header {
        prog: KEEPALIVE_PROGRAM,
        vers: KEEPALIVE_VERSION,
        proc_,
        kind: MessageType::Message,
        serial: 0,
        status: Status::Ok,
    }
}

/// A handle on one RPC connection. Dropping the last handle tears the transport down.
pub struct RpcClient {
    shared: Arc<Shared>,
}

impl RpcClient {
    /// Starts the reader and writer tasks on `stream`. Needs a tokio runtime.
    pub fn new<S>(stream: S) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (reader, writer) = tokio::io::split(stream);
        let (outgoing, queue) = mpsc::channel(OUTGOING_QUEUE);
        let (events, _) = broadcast::channel(EVENT_QUEUE);
        let (stop, stop_rx) = watch::channel(false);
        let (finished, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            calls: Mutex::new(Calls {
                pending: HashMap::new(),
                dead: None,
                streams: HashMap::new(),
            }),
            next_serial: AtomicU32::new(0),
            outgoing,
            events,
            last_heard: Mutex::new(Instant::now()),
            stop,
            finished,
            layer: Mutex::new(None),
            layered: AtomicBool::new(false),
        });
        tokio::spawn(write_loop(writer, queue, stop_rx.clone(), shared.clone()));
        tokio::spawn(read_loop(reader, stop_rx, shared.clone()));
        Self { shared }
    }

    /// Sends one call of `prog`/`vers` and waits for its reply payload; an ERROR reply becomes the peer's error,
    /// code, domain and message unchanged.
    pub async fn call_raw(
        &self,
        prog: u32,
        vers: u32,
        proc_: u32,
        payload: &[u8],
    ) -> Result<Vec<u8>> {
        self.call_with(prog, vers, proc_, payload, None).await.1
    }

    /// A call of the REMOTE program that opens a stream: the reply, and the stream's end on this side (its
    /// messages are routed to it from before the call goes out, so none is lost however fast the server is).
    pub async fn call_stream<P: Proc>(
        &self,
        _proc: P,
        args: &P::Args,
    ) -> Result<(P::Ret, ClientStream)> {
        let (sender, receiver) = mpsc::channel(STREAM_QUEUE);
        let proc_ = P::PROCEDURE;
        let (serial, result) = self
            .call_with(
                REMOTE_PROGRAM,
                REMOTE_VERSION,
                proc_.number(),
                &args.to_bytes(),
                Some(sender),
            )
            .await;
        let stream = ClientStream {
            shared: self.shared.clone(),
            header: Header {
                prog: REMOTE_PROGRAM,
                vers: REMOTE_VERSION,
                proc_: proc_.number(),
                kind: MessageType::Stream,
                serial,
                status: Status::Continue,
            },
            incoming: receiver,
        };
        let payload = result?; // dropping `stream` unregisters it
        let ret = P::Ret::from_bytes(&payload).map_err(|err| {
            Error::from(ClientError::Protocol(format!(
                "cannot decode the reply to {proc_}: {err}"
            )))
        })?;
        Ok((ret, stream))
    }

    async fn call_with(
        &self,
        prog: u32,
        vers: u32,
        proc_: u32,
        payload: &[u8],
        stream: Option<mpsc::Sender<Message>>,
    ) -> (u32, Result<Vec<u8>>) {
        let (reply, answer) = oneshot::channel();
        let serial = {
            let Ok(mut calls) = self.shared.calls.lock() else {
                return (0, Err(Error::from(ClientError::Closed)));
            };
            if let Some(reason) = &calls.dead {
                return (0, Err(reason.clone().into()));
            }
            let serial = self.shared.next_serial.fetch_add(1, Ordering::Relaxed);
            calls.pending.insert(
                serial,
                Pending {
                    prog,
                    vers,
                    proc_,
                    reply,
                },
            );
            if let Some(stream) = stream {
                calls.streams.insert(serial, stream);
            }
            serial
        };
        let frame = encode_frame(&Header::call(prog, vers, proc_, serial), payload);
        if self.shared.outgoing.send(frame).await.is_err() {
            if let Ok(mut calls) = self.shared.calls.lock() {
                calls.pending.remove(&serial);
            }
            return (serial, Err(self.shared.dead_reason().into()));
        }
        let result = match answer.await {
            Ok(result) => result,
            Err(_) => Err(self.shared.dead_reason().into()),
        };
        (serial, result)
    }

    /// A call of the REMOTE program: `proc_`'s declaration fixes both the argument and the reply type.
    pub async fn call<P: Proc>(&self, _proc: P, args: &P::Args) -> Result<P::Ret> {
        self.call_untyped(P::PROCEDURE, args).await
    }

    /// A call of the QEMU program (monitor and agent pass-through).
    pub async fn call_qemu<P: QemuProc>(&self, _proc: P, args: &P::Args) -> Result<P::Ret> {
        let proc_ = P::PROCEDURE;
        let payload = self
            .call_raw(QEMU_PROGRAM, QEMU_VERSION, proc_.number(), &args.to_bytes())
            .await?;
        P::Ret::from_bytes(&payload).map_err(|err| {
            ClientError::Protocol(format!("cannot decode the reply to {proc_}: {err}")).into()
        })
    }

    async fn call_untyped<A: Xdr, R: Xdr>(&self, proc_: Procedure, args: &A) -> Result<R> {
        let payload = self
            .call_raw(
                REMOTE_PROGRAM,
                REMOTE_VERSION,
                proc_.number(),
                &args.to_bytes(),
            )
            .await?;
        R::from_bytes(&payload).map_err(|err| {
            ClientError::Protocol(format!("cannot decode the reply to {proc_}: {err}")).into()
        })
    }

    /// Every MESSAGE the server sends from now on (events), header and payload as received.
    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.shared.events.subscribe()
    }

    /// Sends a PING after `interval` of silence from the server and drops the connection once `count` PINGs in a
    /// row went unanswered (about `interval × (count + 1)` after the last message heard).
    pub fn start_keepalive(&self, interval: Duration, count: u32) {
        let shared = Arc::downgrade(&self.shared);
        let mut stop = self.shared.stop.subscribe();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
            let mut unanswered = 0u32;
            let mut heard_before = None;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop.wait_for(|stopping| *stopping) => return,
                }
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let heard = shared.last_heard();
                if heard_before != Some(heard) {
                    heard_before = Some(heard);
                    unanswered = 0;
                }
                if heard.elapsed() < interval {
                    continue;
                }
                if unanswered >= count {
                    tracing::debug!("rpc server silent, dropping the connection");
                    shared.die(ClientError::KeepaliveTimeout);
                    return;
                }
                unanswered += 1;
                let ping = encode_frame(&keepalive_header(KEEPALIVE_PING), &[]);
                if shared.outgoing.try_send(ping).is_err() {
                    continue;
                }
            }
        });
    }

    /// Wraps every byte from now on in `layer`. Call it after the reply that completed authentication and before
    /// the next call; a second layer replaces the first.
    pub fn install_layer(&self, layer: Box<dyn SecurityLayer>) {
        if let Ok(mut slot) = self.shared.layer.lock() {
            *slot = Some(layer);
            self.shared.layered.store(true, Ordering::Release);
        }
    }

    /// Whether the transport still works.
    pub fn is_alive(&self) -> bool {
        !self.shared.is_dead()
    }

    /// Ends the connection as libvirt does: CONNECT_CLOSE, then wait for the server to hang up. Calls after this
    /// fail with "client socket is closed".
    pub async fn close(&self) -> Result<()> {
        if self.shared.is_dead() {
            return Ok(());
        }
        let result = self
            .call_untyped::<(), ()>(Procedure::ConnectClose, &())
            .await;
        let mut finished = self.shared.finished.subscribe();
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, finished.wait_for(|done| *done)).await;
        self.shared.die(ClientError::Closed);
        result
    }
}

/// This side's end of a stream a call opened: the server's stream messages in, ours out on the same serial.
pub struct ClientStream {
    shared: Arc<Shared>,
    /// The opening call's program, procedure and serial.
    header: Header,
    incoming: mpsc::Receiver<Message>,
}

impl ClientStream {
    /// The next stream message from the server; `None` once the connection is gone.
    pub async fn recv(&mut self) -> Option<Message> {
        self.incoming.recv().await
    }

    /// Sends one stream message (`kind` STREAM or STREAM_HOLE) on this stream's serial, waiting while the
    /// connection's outgoing queue is full.
    pub async fn send(&self, kind: MessageType, status: Status, payload: &[u8]) -> Result<()> {
        let header = Header {
            kind,
            status,
            ..self.header
        };
        self.shared
            .outgoing
            .send(encode_frame(&header, payload))
            .await
            .map_err(|_| self.shared.dead_reason().into())
    }
}

impl Drop for ClientStream {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.shared.calls.lock() {
            calls.streams.remove(&self.header.serial);
        }
    }
}

impl Drop for RpcClient {
    fn drop(&mut self) {
        self.shared.die(ClientError::Closed);
    }
}

async fn read_loop<R>(mut reader: R, mut stop: watch::Receiver<bool>, shared: Arc<Shared>)
where
    R: AsyncRead + Unpin,
{
    let mut decoder = FrameDecoder::default();
    let mut buf = vec![0u8; 64 * 1024];
    let reason = 'read: loop {
        let read = tokio::select! {
            read = reader.read(&mut buf) => read,
            _ = stop.wait_for(|stopping| *stopping) => break 'read ClientError::Closed,
        };
        let n = match read {
            Ok(0) => break ClientError::Eof,
            Ok(n) => n,
            Err(err) => {
                break ClientError::Io {
                    op: "recv",
                    message: crate::error::io_error_text(&err),
                }
            }
        };
        shared.heard();
        match shared.through_layer(&buf[..n], false) {
            Ok(Some(plain)) => decoder.push(&plain),
            Ok(None) => decoder.push(&buf[..n]),
            Err(err) => break 'read err,
        }
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(err) => break 'read ClientError::Protocol(err.to_string()),
            };
            let message = match Message::from_frame(&frame) {
                Ok(message) => message,
                Err(err) => break 'read ClientError::Protocol(err.to_string()),
            };
            if let Err(err) = shared.receive(message).await {
                break 'read err;
            }
        }
    };
    shared.die(reason);
    shared.finished.send_replace(true);
}

async fn write_loop<W>(
    mut writer: W,
    mut queue: mpsc::Receiver<Vec<u8>>,
    mut stop: watch::Receiver<bool>,
    shared: Arc<Shared>,
) where
    W: AsyncWrite + Unpin,
{
    loop {
        let frame = tokio::select! {
            frame = queue.recv() => frame,
            _ = stop.wait_for(|stopping| *stopping) => None,
        };
        let Some(frame) = frame else { break };
        let bytes = match shared.through_layer(&frame, true) {
            Ok(Some(wrapped)) => wrapped,
            Ok(None) => frame,
            Err(err) => {
                shared.die(err);
                break;
            }
        };
        if let Err(err) = writer.write_all(&bytes).await {
            shared.die(ClientError::Io {
                op: "write",
                message: crate::error::io_error_text(&err),
            });
            break;
        }
    }
    let _ = writer.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::proto::{procs, IntArgs, IntRet};
    use tokio::io::DuplexStream;

    /// Reads one frame from the fake server's end.
    async fn read_frame(server: &mut DuplexStream) -> Message {
        let mut len = [0u8; 4];
        server.read_exact(&mut len).await.unwrap();
        let mut rest = vec![0u8; u32::from_be_bytes(len) as usize - 4];
        server.read_exact(&mut rest).await.unwrap();
        Message::from_frame(&rest).unwrap()
    }

    #[tokio::test]
    async fn calls_are_numbered_from_zero_and_matched_out_of_order() {
        let (ours, mut server) = tokio::io::duplex(4096);
        let client = Arc::new(RpcClient::new(ours));
        let first = {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .call(procs::ConnectSupportsFeature, &IntArgs { value: 10 })
                    .await
            })
        };
        let call0 = read_frame(&mut server).await;
        let second = {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .call(procs::ConnectSupportsFeature, &IntArgs { value: 14 })
                    .await
            })
        };
        let call1 = read_frame(&mut server).await;
        assert_eq!((call0.header.serial, call1.header.serial), (0, 1));
        assert_eq!(call0.payload, [0, 0, 0, 10]);
        // Answer the second call first.
        let reply = |call: &Message, value: i32| {
            encode_frame(&call.header.reply(Status::Ok), &IntRet { value }.to_bytes())
        };
        server.write_all(&reply(&call1, 7)).await.unwrap();
        server.write_all(&reply(&call0, 3)).await.unwrap();
        assert_eq!(second.await.unwrap().unwrap().value, 7);
        assert_eq!(first.await.unwrap().unwrap().value, 3);
    }

    #[tokio::test]
    async fn error_replies_keep_code_domain_and_message() {
        let (ours, mut server) = tokio::io::duplex(4096);
        let client = RpcClient::new(ours);
        let call = tokio::spawn(async move { client.call(procs::ConnectGetHostname, &()).await });
        let message = read_frame(&mut server).await;
        let err = Error::new(ErrorCode::NO_DOMAIN, ErrorDomain::TEST, "Domain not found");
        let payload = crate::rpc::error_to_wire(&err).to_bytes();
        server
            .write_all(&encode_frame(
                &message.header.reply(Status::Error),
                &payload,
            ))
            .await
            .unwrap();
        assert_eq!(call.await.unwrap().unwrap_err(), err);
    }

    #[tokio::test]
    async fn pings_are_answered_and_events_delivered() {
        let (ours, mut server) = tokio::io::duplex(4096);
        let client = RpcClient::new(ours);
        let mut events = client.subscribe();
        server
            .write_all(&encode_frame(&keepalive_header(KEEPALIVE_PING), &[]))
            .await
            .unwrap();
        let pong = read_frame(&mut server).await;
        assert_eq!(
            (pong.header.prog, pong.header.proc_),
            (KEEPALIVE_PROGRAM, KEEPALIVE_PONG)
        );
        let event = Header {
            prog: REMOTE_PROGRAM,
            vers: REMOTE_VERSION,
            proc_: 318,
            kind: MessageType::Message,
            serial: 0,
            status: Status::Ok,
        };
        server
            .write_all(&encode_frame(&event, &[1, 2, 3, 4]))
            .await
            .unwrap();
        let got = events.recv().await.unwrap();
        assert_eq!((got.header.proc_, got.payload), (318, vec![1, 2, 3, 4]));
    }

    #[tokio::test]
    async fn a_dead_transport_fails_pending_and_later_calls() {
        let (ours, mut server) = tokio::io::duplex(4096);
        let client = Arc::new(RpcClient::new(ours));
        let pending = {
            let client = client.clone();
            tokio::spawn(async move { client.call(procs::ConnectGetType, &()).await })
        };
        read_frame(&mut server).await;
        drop(server);
        let err = pending.await.unwrap().unwrap_err();
        assert_eq!(err.code, ErrorCode::SYSTEM_ERROR);
        assert!(err.message.contains("End of file"), "{}", err.message);
        let later = client.call(procs::ConnectGetType, &()).await;
        assert_eq!(later.unwrap_err(), err);
        assert!(!client.is_alive());
    }

    #[tokio::test]
    async fn mismatched_replies_are_protocol_errors() {
        let (ours, mut server) = tokio::io::duplex(4096);
        let client = RpcClient::new(ours);
        let call = tokio::spawn(async move { client.call(procs::ConnectGetType, &()).await });
        let message = read_frame(&mut server).await;
        let mut wrong = message.header.reply(Status::Ok);
        wrong.proc_ = 4;
        server.write_all(&encode_frame(&wrong, &[])).await.unwrap();
        let err = call.await.unwrap().unwrap_err();
        assert_eq!(err.code, ErrorCode::RPC);
    }

    #[tokio::test]
    async fn keepalive_gives_up_after_count_unanswered_pings() {
        let (ours, mut server) = tokio::io::duplex(4096);
        let client = RpcClient::new(ours);
        client.start_keepalive(Duration::from_millis(50), 3);
        for _ in 0..3 {
            let ping = read_frame(&mut server).await;
            assert_eq!(ping.header.proc_, KEEPALIVE_PING);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        let err = client.call(procs::ConnectGetType, &()).await.unwrap_err();
        assert!(err.message.contains("keepalive timeout"), "{}", err.message);
    }

    /// A stand-in security layer: chunks of a 4-byte length + the bytes XORed with 0x5a.
    #[derive(Default)]
    struct XorLayer {
        pending: Vec<u8>,
    }

    impl SecurityLayer for XorLayer {
        fn encode(&mut self, plain: &[u8]) -> std::result::Result<Vec<u8>, String> {
            let mut out = u32::try_from(plain.len()).unwrap().to_be_bytes().to_vec();
            out.extend(plain.iter().map(|byte| byte ^ 0x5a));
            Ok(out)
        }
        fn decode(&mut self, wire: &[u8]) -> std::result::Result<Vec<u8>, String> {
            self.pending.extend_from_slice(wire);
            let mut out = Vec::new();
            while self.pending.len() >= 4 {
                let len = u32::from_be_bytes(self.pending[..4].try_into().unwrap()) as usize;
                if len == 0 {
                    return Err("empty chunk".into());
                }
                if self.pending.len() < 4 + len {
                    break;
                }
                out.extend(self.pending[4..4 + len].iter().map(|byte| byte ^ 0x5a));
                self.pending.drain(..4 + len);
            }
            Ok(out)
        }
    }

    #[tokio::test]
    async fn an_installed_layer_wraps_every_byte_both_ways() {
        let (ours, mut server) = tokio::io::duplex(4096);
        let client = Arc::new(RpcClient::new(ours));
        // Before the layer: plain frames.
        let plain = {
            let client = client.clone();
            tokio::spawn(async move { client.call(procs::ConnectRegisterCloseCallback, &()).await })
        };
        let first = read_frame(&mut server).await;
        server
            .write_all(&encode_frame(&first.header.reply(Status::Ok), &[]))
            .await
            .unwrap();
        plain.await.unwrap().unwrap();
        client.install_layer(Box::new(XorLayer::default()));

        let wrapped = {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .call(procs::ConnectSupportsFeature, &IntArgs { value: 10 })
                    .await
            })
        };
        let mut server_layer = XorLayer::default();
        let mut wire = Vec::new();
        let frame = loop {
            let mut chunk = [0u8; 256];
            let n = server.read(&mut chunk).await.unwrap();
            wire.extend_from_slice(&chunk[..n]);
            let plain = server_layer.decode(&chunk[..n]).unwrap();
            if !plain.is_empty() {
                break plain;
            }
        };
        // The wire carries the chunk, not the frame.
        assert_ne!(wire[4..], frame[..]);
        let call = Message::from_frame(&frame[4..]).unwrap();
        assert_eq!(call.payload, [0, 0, 0, 10]);
        let reply = encode_frame(
            &call.header.reply(Status::Ok),
            &IntRet { value: 1 }.to_bytes(),
        );
        // The reply arrives in two pieces that split the chunk header.
        let chunk = server_layer.encode(&reply).unwrap();
        server.write_all(&chunk[..2]).await.unwrap();
        tokio::task::yield_now().await;
        server.write_all(&chunk[2..]).await.unwrap();
        assert_eq!(wrapped.await.unwrap().unwrap().value, 1);

        // Undecodable input kills the connection with the layer's reason.
        server.write_all(&[0, 0, 0, 0]).await.unwrap();
        let err = client.call(procs::ConnectGetType, &()).await.unwrap_err();
        assert!(
            err.message
                .contains("SASL security layer cannot decode data: empty chunk"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn close_sends_connect_close_and_waits_for_eof() {
        let (ours, mut server) = tokio::io::duplex(4096);
        let client = Arc::new(RpcClient::new(ours));
        let closer = {
            let client = client.clone();
            tokio::spawn(async move { client.close().await })
        };
        let message = read_frame(&mut server).await;
        assert_eq!(message.header.proc_, Procedure::ConnectClose.number());
        server
            .write_all(&encode_frame(&message.header.reply(Status::Ok), &[]))
            .await
            .unwrap();
        drop(server);
        closer.await.unwrap().unwrap();
        let err = client.call(procs::ConnectGetType, &()).await.unwrap_err();
        assert!(err.message.contains("End of file") || err.message.contains("closed"));
    }
}
