//! Stream messages (types STREAM and STREAM_HOLE) to and from [`Packet`]s, pure: what each (type, status,
//! payload) means depends only on which side sent it, as `virnetclientstream.c` and `remote_daemon_stream.c`
//! read them.
//!
//! Server to client: CONTINUE with bytes is data, CONTINUE empty is the end of file, OK confirms the client's
//! finish (or abort), ERROR carries a `remote_error` and ends the stream. Client to server: CONTINUE is data,
//! OK asks to finish, ERROR aborts (its body is ignored). A STREAM_HOLE message (status CONTINUE) carries
//! `virNetStreamHole` either way, and is allowed only on a stream opened sparse.

use super::packet::{MessageType, Status};
use super::proto::RemoteError;
use super::xdr::{xdr_struct, Xdr};
use crate::driver::Packet;
use crate::error::{Error, ErrorCode, ErrorDomain};

xdr_struct! {
    /// `virNetStreamHole`.
    pub struct StreamHole { pub length: i64, pub flags: u32 }
}

/// Which side sent a stream message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sender {
    Server,
    Client,
}

fn rpc_error(message: &str) -> Error {
    Error::new(ErrorCode::RPC, ErrorDomain::RPC, message)
}

/// The packet one received stream message stands for; an error for a message the stream cannot take.
pub fn decode(
    from: Sender,
    kind: MessageType,
    status: Status,
    payload: &[u8],
    sparse: bool,
) -> Result<Packet, Error> {
    match (kind, status) {
        (MessageType::StreamHole, _) => {
            if !sparse {
                return Err(rpc_error("Unexpected stream hole"));
            }
            let hole = StreamHole::from_bytes(payload)
                .map_err(|_| rpc_error("Unable to decode message payload"))?;
            u64::try_from(hole.length)
                .map(Packet::Hole)
                .map_err(|_| rpc_error("stream hole length must not be negative"))
        }
        (MessageType::Stream, Status::Continue) if payload.is_empty() => Ok(Packet::Eof),
        (MessageType::Stream, Status::Continue) => Ok(Packet::Data(payload.to_vec())),
        (MessageType::Stream, Status::Ok) => Ok(match from {
            Sender::Server => Packet::Done,
            Sender::Client => Packet::Finish,
        }),
        (MessageType::Stream, Status::Error) => Ok(match from {
            Sender::Client => Packet::Abort,
            Sender::Server => Packet::Error(match RemoteError::from_bytes(payload) {
                Ok(remote) => remote.to_error(),
                Err(_) => rpc_error("stream aborted with an undecodable error"),
            }),
        }),
        _ => Err(rpc_error("not a stream message")),
    }
}

/// The (type, status, payload) a packet goes out as; `error_body` encodes an error for the wire.
pub fn encode(
    packet: &Packet,
    error_body: impl Fn(&Error) -> Vec<u8>,
) -> (MessageType, Status, Vec<u8>) {
    match packet {
        Packet::Data(bytes) => (MessageType::Stream, Status::Continue, bytes.clone()),
        Packet::Hole(len) => (
            MessageType::StreamHole,
            Status::Continue,
            StreamHole {
                length: i64::try_from(*len).unwrap_or(i64::MAX),
                flags: 0,
            }
            .to_bytes(),
        ),
        Packet::Eof => (MessageType::Stream, Status::Continue, Vec::new()),
        Packet::Finish | Packet::Done => (MessageType::Stream, Status::Ok, Vec::new()),
        Packet::Abort => (MessageType::Stream, Status::Error, Vec::new()),
        Packet::Error(err) => (MessageType::Stream, Status::Error, error_body(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(err: &Error) -> Vec<u8> {
        crate::rpc::dispatch::error_to_wire(err).to_bytes()
    }

    #[test]
    fn each_side_reads_ok_and_error_its_own_way() {
        use MessageType::Stream as S;
        let d = |from, status, payload: &[u8]| decode(from, S, status, payload, false).unwrap();
        assert_eq!(d(Sender::Client, Status::Ok, b""), Packet::Finish);
        assert_eq!(d(Sender::Server, Status::Ok, b""), Packet::Done);
        assert_eq!(d(Sender::Client, Status::Error, b""), Packet::Abort);
        assert_eq!(d(Sender::Server, Status::Continue, b""), Packet::Eof);
        assert_eq!(
            d(Sender::Client, Status::Continue, b"ab"),
            Packet::Data(b"ab".to_vec())
        );
        let err = Error::new(ErrorCode::OPERATION_FAILED, ErrorDomain::QEMU, "gone");
        assert_eq!(
            d(Sender::Server, Status::Error, &body(&err)),
            Packet::Error(err.clone())
        );
        for packet in [
            Packet::Data(b"xyz".to_vec()),
            Packet::Eof,
            Packet::Done,
            Packet::Error(err),
        ] {
            let (kind, status, payload) = encode(&packet, body);
            assert_eq!(
                decode(Sender::Server, kind, status, &payload, true),
                Ok(packet)
            );
        }
        let (kind, status, payload) = encode(&Packet::Finish, body);
        assert_eq!((kind, status, payload.len()), (S, Status::Ok, 0));
    }

    #[test]
    fn holes_need_a_sparse_stream_and_a_sane_length() {
        let (kind, status, payload) = encode(&Packet::Hole(1 << 33), body);
        assert_eq!(
            (kind, status, payload.len()),
            (MessageType::StreamHole, Status::Continue, 12)
        );
        assert_eq!(
            decode(Sender::Client, kind, status, &payload, true),
            Ok(Packet::Hole(1 << 33))
        );
        assert_eq!(
            decode(Sender::Client, kind, status, &payload, false)
                .unwrap_err()
                .message,
            "Unexpected stream hole"
        );
        let negative = StreamHole {
            length: -1,
            flags: 0,
        }
        .to_bytes();
        assert!(decode(Sender::Server, kind, status, &negative, true).is_err());
        assert!(decode(Sender::Server, kind, status, &payload[..8], true).is_err());
        assert!(decode(Sender::Server, MessageType::Reply, Status::Ok, b"", true).is_err());
    }
}
