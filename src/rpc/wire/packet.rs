//! Framing of the native RPC byte stream and its 24-byte message header, sans I/O.
//!
//! A frame is a big-endian length word that counts itself, the header, then the payload. [`FrameDecoder`] is fed
//! whatever bytes arrive and hands out whole frames; it buffers only bytes that actually arrived, so a peer that
//! declares 32 MiB and sends 10 bytes costs 10 bytes.

use thiserror::Error;

/// Program numbers (`virNetMessageHeader.prog`).
pub const REMOTE_PROGRAM: u32 = 0x2000_8086;
pub const REMOTE_VERSION: u32 = 1;
pub const KEEPALIVE_PROGRAM: u32 = 0x6b65_6570;
pub const KEEPALIVE_VERSION: u32 = 1;
pub const KEEPALIVE_PING: u32 = 1;
pub const KEEPALIVE_PONG: u32 = 2;

/// Largest message without its length word (`VIR_NET_MESSAGE_MAX`, 32 MiB).
pub const MESSAGE_MAX: usize = 33_554_432;
pub const LENGTH_SIZE: usize = 4;
pub const HEADER_SIZE: usize = 24;
/// Smallest frame: length word plus header, no payload.
pub const FRAME_MIN: usize = LENGTH_SIZE + HEADER_SIZE;
/// Largest frame including its length word.
pub const FRAME_MAX: usize = MESSAGE_MAX + LENGTH_SIZE;
/// Frame cap before authentication completes (SASL tokens fit easily).
pub const PRE_AUTH_FRAME_MAX: usize = 65_536;
/// Largest raw stream chunk (`VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX`).
pub const STREAM_CHUNK_MAX: usize = 262_120;

/// `virNetMessageType`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MessageType {
    Call = 0,
    Reply = 1,
    Message = 2,
    Stream = 3,
    CallWithFds = 4,
    ReplyWithFds = 5,
    StreamHole = 6,
}

impl MessageType {
    pub fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            0 => Self::Call,
            1 => Self::Reply,
            2 => Self::Message,
            3 => Self::Stream,
            4 => Self::CallWithFds,
            5 => Self::ReplyWithFds,
            6 => Self::StreamHole,
            _ => return None,
        })
    }
}

/// `virNetMessageStatus`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Status {
    Ok = 0,
    Error = 1,
    Continue = 2,
}

impl Status {
    pub fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            0 => Self::Ok,
            1 => Self::Error,
            2 => Self::Continue,
            _ => return None,
        })
    }
}

/// `virNetMessageHeader`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header {
    pub prog: u32,
    pub vers: u32,
    pub proc_: u32,
    pub kind: MessageType,
    pub serial: u32,
    pub status: Status,
}

/// What is wrong with a frame or its header.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Fatal: the stream cannot be resynchronised; close without a reply.
    #[error("frame length {length} outside {min}..={max}")]
    Length { length: u32, min: usize, max: usize },
    /// The header names a message type libvirt does not define; prog/vers/proc/serial are kept for a reply.
    #[error("unknown message type {kind} (proc {proc_}, serial {serial})")]
    UnknownType {
        prog: u32,
        vers: u32,
        proc_: u32,
        kind: u32,
        serial: u32,
    },
    #[error("unknown message status {status} (proc {proc_}, serial {serial})")]
    UnknownStatus {
        prog: u32,
        vers: u32,
        proc_: u32,
        status: u32,
        serial: u32,
    },
    #[error("frame shorter than a header")]
    Short,
}

impl Header {
    pub fn call(prog: u32, vers: u32, proc_: u32, serial: u32) -> Self {
        Self {
            prog,
            vers,
            proc_,
            kind: MessageType::Call,
            serial,
            status: Status::Ok,
        }
    }

    /// The header of the reply to this call: same prog, vers, proc and serial.
    pub fn reply(&self, status: Status) -> Self {
        Self {
            kind: MessageType::Reply,
            status,
            ..*self
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        for word in [
            self.prog,
            self.vers,
            self.proc_,
            self.kind as u32,
            self.serial,
            self.status as u32,
        ] {
            out.extend_from_slice(&word.to_be_bytes());
        }
    }

    /// Decodes the first 24 bytes of `bytes` (the frame without its length word).
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        if bytes.len() < HEADER_SIZE {
            return Err(FrameError::Short);
        }
        let word = |i: usize| {
            u32::from_be_bytes([
                bytes[i * 4],
                bytes[i * 4 + 1],
                bytes[i * 4 + 2],
                bytes[i * 4 + 3],
            ])
        };
        let (prog, vers, proc_, kind, serial, status) =
            (word(0), word(1), word(2), word(3), word(4), word(5));
        let kind = MessageType::from_u32(kind).ok_or(FrameError::UnknownType {
            prog,
            vers,
            proc_,
            kind,
            serial,
        })?;
        let status = Status::from_u32(status).ok_or(FrameError::UnknownStatus {
            prog,
            vers,
            proc_,
            status,
            serial,
        })?;
        Ok(Self {
            prog,
            vers,
            proc_,
            kind,
            serial,
            status,
        })
    }
}

/// One framed message: its header and the payload bytes after it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Message {
    pub header: Header,
    pub payload: Vec<u8>,
}

impl Message {
    /// Splits a frame as [`FrameDecoder`] returns it (length word already removed).
    pub fn from_frame(frame: &[u8]) -> Result<Self, FrameError> {
        let header = Header::decode(frame)?;
        Ok(Self {
            header,
            payload: frame[HEADER_SIZE..].to_vec(),
        })
    }

    /// The full wire form, length word included.
    pub fn to_frame(&self) -> Vec<u8> {
        encode_frame(&self.header, &self.payload)
    }
}

/// Builds a frame: length word, header, payload.
pub fn encode_frame(header: &Header, payload: &[u8]) -> Vec<u8> {
    let total = FRAME_MIN + payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
    header.encode(&mut out);
    out.extend_from_slice(payload);
    out
}

/// Incremental frame splitter. Feed it bytes with [`FrameDecoder::push`], take frames with
/// [`FrameDecoder::next_frame`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    limit: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(FRAME_MAX)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames longer than `limit` bytes (length word included; clamped to [`FRAME_MAX`]).
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            limit: limit.clamp(FRAME_MIN, FRAME_MAX),
        }
    }

    /// Changes the cap, e.g. from [`PRE_AUTH_FRAME_MAX`] to [`FRAME_MAX`] once the client authenticated.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.clamp(FRAME_MIN, FRAME_MAX);
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held that do not yet form a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame without its length word, `Ok(None)` when more bytes are needed, or a fatal error
    /// as soon as the length word is known to be out of range.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let pending = &self.buf[self.start..];
        if pending.len() < LENGTH_SIZE {
            return Ok(None);
        }
        let length = u32::from_be_bytes([pending[0], pending[1], pending[2], pending[3]]);
        let size = length as usize;
        if size < FRAME_MIN || size > self.limit {
            return Err(FrameError::Length {
                length,
                min: FRAME_MIN,
                max: self.limit,
            });
        }
        if pending.len() < size {
            return Ok(None);
        }
        let frame = pending[LENGTH_SIZE..size].to_vec();
        self.start += size;
        // Compact once the consumed prefix dominates, so the buffer does not grow without bound.
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping() -> Vec<u8> {
        let header = Header {
            prog: KEEPALIVE_PROGRAM,
            vers: 1,
            proc_: KEEPALIVE_PING,
            kind: MessageType::Message,
            serial: 0,
            status: Status::Ok,
        };
        encode_frame(&header, &[])
    }

    #[test]
    fn frames_split_across_and_within_pushes() {
        let mut stream = ping();
        stream.extend(encode_frame(
            &Header::call(REMOTE_PROGRAM, 1, 3, 7),
            &[0, 0, 0, 1],
        ));
        let mut decoder = FrameDecoder::default();
        let mut frames = Vec::new();
        for byte in &stream {
            decoder.push(std::slice::from_ref(byte));
            while let Some(frame) = decoder.next_frame().unwrap() {
                frames.push(Message::from_frame(&frame).unwrap());
            }
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].header.prog, KEEPALIVE_PROGRAM);
        assert_eq!(frames[1].header.serial, 7);
        assert_eq!(frames[1].payload, [0, 0, 0, 1]);
        assert_eq!(decoder.buffered(), 0);
        assert_eq!(frames[1].to_frame(), stream[28..]);
    }

    #[test]
    fn bad_lengths_are_fatal_as_soon_as_the_length_word_arrives() {
        for length in [0u32, 4, 27, 0x0200_0005, u32::MAX] {
            let mut decoder = FrameDecoder::default();
            decoder.push(&length.to_be_bytes());
            assert!(
                matches!(decoder.next_frame(), Err(FrameError::Length { .. })),
                "{length}"
            );
        }
        let mut decoder = FrameDecoder::default();
        decoder.push(&0x0200_0004u32.to_be_bytes());
        assert_eq!(decoder.next_frame(), Ok(None));
        assert!(
            decoder.buffered() < 16,
            "nothing reserved for the declared length"
        );
        let mut decoder = FrameDecoder::new(PRE_AUTH_FRAME_MAX);
        decoder.push(&65_537u32.to_be_bytes());
        assert!(decoder.next_frame().is_err());
    }

    #[test]
    fn unknown_types_and_statuses_keep_the_header_fields() {
        let mut frame = ping();
        frame[4 + 12..4 + 16].copy_from_slice(&9u32.to_be_bytes());
        assert_eq!(
            Message::from_frame(&frame[4..]),
            Err(FrameError::UnknownType {
                prog: KEEPALIVE_PROGRAM,
                vers: 1,
                proc_: 1,
                kind: 9,
                serial: 0
            })
        );
        let mut frame = ping();
        frame[4 + 20..4 + 24].copy_from_slice(&3u32.to_be_bytes());
        assert!(matches!(
            Message::from_frame(&frame[4..]),
            Err(FrameError::UnknownStatus { status: 3, .. })
        ));
    }
}
