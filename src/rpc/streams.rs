//! The streams one server connection carries: each opened by a call, keyed by that call's serial, bridging the
//! driver's [`Stream`] to STREAM / STREAM_HOLE messages (see [`super::stream`] for what each message means).
//!
//! Flow control is the queues': data from the client is forwarded only when the driver's queue has room (the
//! server stops reading the socket meanwhile), and data towards the client is taken from the driver only while
//! the connection's unsent bytes stay under [`OUTBOX_ROOM`]. A connection that ends drops its streams, which
//! the drivers see as an abort.

use std::collections::HashMap;
use std::future::poll_fn;
use std::task::Poll;

use super::dispatch::{error_to_wire, OpenedStream};
use super::packet::{encode_frame, Header, Message, STREAM_CHUNK_MAX};
use super::stream::{decode, encode, Sender};
use super::xdr::Xdr;
use crate::driver::{stream_closed, Packet, Stream};

/// Unsent bytes a connection may hold before its streams stop producing.
pub const OUTBOX_ROOM: usize = 1024 * 1024;

struct Open {
    /// The opening call's header: stream messages reuse its program, procedure and serial.
    call: Header,
    stream: Stream,
    sparse: bool,
}

/// What to do with a message the client sent on a stream.
pub enum Inbound {
    /// Not a message of any open stream: dropped, as libvirtd drops them.
    Unknown,
    /// Send these frames back (an abort's confirmation, a bad message's error); the stream is gone.
    Answer(Vec<u8>),
    /// Forward this packet to the stream of `serial` once it has room.
    Forward(u32, Packet),
}

#[derive(Default)]
pub struct ServerStreams {
    open: HashMap<u32, Open>,
}

fn frame(call: &Header, packet: &Packet) -> Vec<u8> {
    let (kind, status, payload) = encode(packet, |err| error_to_wire(err).to_bytes());
    let header = Header {
        kind,
        status,
        ..*call
    };
    encode_frame(&header, &payload)
}

impl ServerStreams {
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Registers a stream a call opened (its reply is already queued).
    pub fn add(&mut self, call: Header, opened: OpenedStream) {
        self.open.insert(
            call.serial,
            Open {
                call,
                stream: opened.stream,
                sparse: opened.sparse,
            },
        );
    }

    /// Reads one STREAM / STREAM_HOLE message from the client.
    pub fn inbound(&mut self, message: &Message) -> Inbound {
        let header = &message.header;
        let Some(open) = self.open.get(&header.serial) else {
            return Inbound::Unknown;
        };
        if (open.call.prog, open.call.vers, open.call.proc_)
            != (header.prog, header.vers, header.proc_)
        {
            return Inbound::Unknown;
        }
        let call = open.call;
        match decode(
            Sender::Client,
            header.kind,
            header.status,
            &message.payload,
            open.sparse,
        ) {
            Ok(Packet::Abort) => {
                if let Some(open) = self.open.remove(&header.serial) {
                    open.stream.abort();
                }
                Inbound::Answer(frame(&call, &Packet::Done))
            }
            Ok(packet) => Inbound::Forward(header.serial, packet),
            Err(err) => {
                self.open.remove(&header.serial);
                Inbound::Answer(frame(&call, &Packet::Error(err)))
            }
        }
    }

    /// The stream of `serial`, to forward a packet to.
    pub fn stream(&self, serial: u32) -> Option<&Stream> {
        self.open.get(&serial).map(|open| &open.stream)
    }

    /// Waits for the next packet any stream's driver sends and returns the frames it becomes; a stream that
    /// finished, failed or vanished is removed.
    pub async fn next_frames(&mut self) -> Vec<Vec<u8>> {
        let (serial, packet) = poll_fn(|cx| {
            for (serial, open) in self.open.iter_mut() {
                if let Poll::Ready(packet) = open.stream.poll_recv(cx) {
                    return Poll::Ready((*serial, packet));
                }
            }
            Poll::Pending
        })
        .await;
        let Some(open) = self.open.get(&serial) else {
            return Vec::new();
        };
        let call = open.call;
        match packet {
            Some(Packet::Data(bytes)) => bytes
                .chunks(STREAM_CHUNK_MAX)
                .map(|chunk| frame(&call, &Packet::Data(chunk.to_vec())))
                .collect(),
            Some(Packet::Hole(len)) if open.sparse => vec![frame(&call, &Packet::Hole(len))],
            Some(Packet::Hole(_)) => {
                self.open.remove(&serial);
                vec![frame(&call, &Packet::Error(stream_closed()))]
            }
            Some(Packet::Eof) => vec![frame(&call, &Packet::Eof)],
            Some(packet @ (Packet::Done | Packet::Error(_))) => {
                self.open.remove(&serial);
                vec![frame(&call, &packet)]
            }
            Some(Packet::Finish | Packet::Abort) | None => {
                self.open.remove(&serial);
                vec![frame(&call, &Packet::Error(stream_closed()))]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::packet::{MessageType, Status, REMOTE_PROGRAM, REMOTE_VERSION};

    fn call() -> Header {
        Header::call(REMOTE_PROGRAM, REMOTE_VERSION, 209, 7)
    }

    fn message(kind: MessageType, status: Status, serial: u32, payload: &[u8]) -> Message {
        let frame = encode_frame(
            &Header {
                kind,
                status,
                serial,
                ..call()
            },
            payload,
        );
        Message::from_frame(&frame[4..]).unwrap()
    }

    fn header_of(frame: &[u8]) -> Header {
        Message::from_frame(&frame[4..]).unwrap().header
    }

    #[tokio::test]
    async fn client_messages_reach_their_stream_only() {
        let mut streams = ServerStreams::default();
        let (user, mut driver) = Stream::pair();
        streams.add(
            call(),
            OpenedStream {
                stream: user,
                sparse: false,
            },
        );
        let data = message(MessageType::Stream, Status::Continue, 7, b"abc");
        assert!(
            matches!(streams.inbound(&data), Inbound::Forward(7, Packet::Data(ref d)) if d == b"abc")
        );
        let other = message(MessageType::Stream, Status::Continue, 8, b"abc");
        assert!(matches!(streams.inbound(&other), Inbound::Unknown));
        // A hole on a stream not opened sparse: an error on the stream, which is gone.
        let hole = message(MessageType::StreamHole, Status::Continue, 7, &[0; 12]);
        let Inbound::Answer(frame) = streams.inbound(&hole) else {
            panic!("a bad hole is answered");
        };
        let header = header_of(&frame);
        assert_eq!(
            (header.kind, header.status, header.serial),
            (MessageType::Stream, Status::Error, 7)
        );
        assert!(streams.is_empty());
        assert!(
            driver.recv().await.is_none(),
            "the driver sees the stream end"
        );
    }

    #[tokio::test]
    async fn an_abort_is_confirmed_and_driver_output_is_framed() {
        let mut streams = ServerStreams::default();
        let (user, driver) = Stream::pair();
        streams.add(
            call(),
            OpenedStream {
                stream: user,
                sparse: true,
            },
        );
        driver
            .send(Packet::Data(vec![1; STREAM_CHUNK_MAX + 1]))
            .await
            .unwrap();
        let frames = streams.next_frames().await;
        assert_eq!(frames.len(), 2, "one packet too big for a message is split");
        driver.send(Packet::Hole(1 << 20)).await.unwrap();
        assert_eq!(
            header_of(&streams.next_frames().await[0]).kind,
            MessageType::StreamHole
        );
        driver.send(Packet::Eof).await.unwrap();
        let eof = streams.next_frames().await;
        assert_eq!(
            (header_of(&eof[0]).status, eof[0].len()),
            (Status::Continue, 28)
        );
        let abort = message(MessageType::Stream, Status::Error, 7, b"");
        let Inbound::Answer(frame) = streams.inbound(&abort) else {
            panic!("an abort is confirmed");
        };
        assert_eq!(header_of(&frame).status, Status::Ok);
        assert!(streams.is_empty());
        // A driver that vanishes mid-stream ends it with an error.
        let (user, driver) = Stream::pair();
        streams.add(
            call(),
            OpenedStream {
                stream: user,
                sparse: false,
            },
        );
        drop(driver);
        let frames = streams.next_frames().await;
        assert_eq!(header_of(&frames[0]).status, Status::Error);
        assert!(streams.is_empty());
    }
}
