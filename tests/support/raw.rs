//! A blocking raw wire client for the RPC tests, built on the crate's own codec types: sends any bytes or calls
//! and reads whole frames, EOF or silence, so tests can hold a daemon to libvirt's protocol frame by frame.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use virtcim::rpc_wire::{ConnectOpenArgs, StringArgs, REMOTE_PROGRAM, REMOTE_VERSION};
use virtcim::{
    encode_frame, FrameDecoder, Header, Message, MessageType, Procedure, RemoteError, Status, Xdr,
};

/// How long a test waits for one reply before calling the daemon stuck.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

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
