//! Fuzz entry points, one function per decoder: the cargo-fuzz targets in `fuzz/` call them on nightly, and the
//! tests beside them replay golden files, past crashes and seeded mutations through them on stable.
//!
//! Each function takes arbitrary bytes, must never panic, and asserts what the decoder promises beyond that
//! (re-encoding what decoded, one reply per call, formatted definitions reading back).

use std::sync::{Arc, OnceLock};

use crate::cim::mof::MofCompiler;
use crate::cim::{builtin_repository, Repository};
use crate::config::Config;
use crate::driver::qemu::qmp::{parse_message, LineReader, QmpError, MAX_LINE};
use crate::driver::Connection;
use crate::model::{
    DomainDef, DomainXmlOptions, HostInterfaceDef, NetworkDef, PoolDef, SnapshotDef, VolumeDef,
};
use crate::rpc::packet::PRE_AUTH_FRAME_MAX;
use crate::rpc::{
    Call, ConnectionState, Dispatcher, DriverOpener, FrameDecoder, Message, MessageType, Procedure,
    RemoteError, Reply, Xdr,
};
use crate::uri::Uri;
use crate::wbem::cimxml::{parse_request, Limits};

#[cfg(test)]
mod tests;

/// A fuzz target: the name cargo-fuzz knows it by and its entry point.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by its cargo-fuzz name; `fuzz/Cargo.toml` has one binary per entry.
pub const TARGETS: &[Target] = &[
    ("rpc_frame", rpc_frame),
    ("rpc_dispatch", rpc_dispatch),
    ("cimxml_request", cimxml_request),
    ("mof", mof),
    ("qmp_message", qmp_message),
    ("model_xml", model_xml),
    ("uri", uri),
    ("config", config),
];

/// Arbitrary bytes through the frame splitter, the header and every payload decoder; whatever decodes must
/// re-encode to the same bytes. The first byte chooses how the rest is chunked, so partial frames are exercised.
pub fn rpc_frame(data: &[u8]) {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::new(PRE_AUTH_FRAME_MAX);
    for piece in data.chunks(chunk) {
        decoder.push(piece);
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(_) => return,
            };
            let Ok(message) = Message::from_frame(&frame) else {
                continue;
            };
            assert_eq!(message.to_frame()[4..], frame[..]);
            let proc_ = Procedure::from_number(message.header.proc_);
            if let Some(Ok(call)) = Call::decode(proc_, &message.payload) {
                assert_eq!(call.encode(), message.payload);
            }
            if let Some(Ok(reply)) = Reply::decode(proc_, &message.payload) {
                assert_eq!(reply.encode(), message.payload);
            }
            if let Ok(err) = RemoteError::from_bytes(&message.payload) {
                assert_eq!(err.to_bytes(), message.payload);
            }
        }
    }
}

struct NothingOpener;
#[async_trait::async_trait]
impl DriverOpener for NothingOpener {
    async fn open(
        &self,
        _name: Option<&str>,
        _read_only: bool,
    ) -> crate::error::Result<Connection> {
        // No driver parts: every method answers libvirt's "not supported".
        Ok(Connection::builder().build())
    }
}

/// Arbitrary frames through the dispatcher of an authenticated connection on a driver that supports nothing,
/// on a current-thread runtime as a connection task runs; every call must get exactly one well-formed reply
/// echoing its program, version, procedure and serial. The first
/// byte's low bit picks the read-only socket.
pub fn rpc_dispatch(data: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let dispatcher = Dispatcher::new(Arc::new(NothingOpener));
        let mut state = ConnectionState::new(0, data.first().is_some_and(|b| b & 1 == 1));
        let mut decoder = FrameDecoder::default();
        decoder.push(data.get(1..).unwrap_or_default());
        while let Ok(Some(frame)) = decoder.next_frame() {
            let call = Message::from_frame(&frame)
                .ok()
                .map(|message| message.header)
                .filter(|header| header.kind == MessageType::Call);
            let Ok(outcome) = dispatcher.handle_frame(&mut state, &frame).await else {
                return;
            };
            if let Some(reply) = &outcome.reply {
                let reply = Message::from_frame(&reply[4..]).expect("our reply frames decode");
                assert!(matches!(
                    reply.header.kind,
                    MessageType::Reply | MessageType::Message
                ));
                if let Some(call) = call {
                    // A client matches replies to calls by these fields; anything else leaves it waiting.
                    let echoed = (
                        reply.header.prog,
                        reply.header.vers,
                        reply.header.proc_,
                        reply.header.serial,
                    );
                    assert_eq!(echoed, (call.prog, call.vers, call.proc_, call.serial));
                    assert_eq!(reply.header.kind, MessageType::Reply);
                }
            } else {
                assert!(call.is_none(), "no reply to the call {call:?}");
            }
            if outcome.close {
                return;
            }
        }
    });
}

/// Arbitrary bytes as a CIM-XML request body through the DSP0201 request parser.
pub fn cimxml_request(data: &[u8]) {
    let _ = parse_request(data, &Limits::default());
}

/// The built-in schema, compiled once: compiling it per input would cost more than the input itself.
fn builtin() -> Option<&'static Repository> {
    static BUILTIN: OnceLock<Option<Repository>> = OnceLock::new();
    BUILTIN.get_or_init(|| builtin_repository().ok()).as_ref()
}

/// Arbitrary text through the MOF compiler on top of our own schema; `#pragma include` of anything fails
/// cleanly.
pub fn mof(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(builtin) = builtin() else {
        return;
    };
    let mut repo = builtin.clone();
    let mut compiler = MofCompiler::new(&mut repo, "root/virt", |name: &str| {
        Err(format!("no include in fuzzing: {name}"))
    });
    let _ = compiler.compile_str("fuzz.mof", text);
}

/// Arbitrary bytes from a "QEMU" through QMP line framing and message decoding; no line over the cap is ever
/// buffered. The first byte's value is where the input is split, so lines cross chunk boundaries.
pub fn qmp_message(data: &[u8]) {
    let mut reader = LineReader::default();
    let cut = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    for chunk in [&data[..cut], &data[cut..]] {
        match reader.push(chunk) {
            Ok(lines) => {
                for line in lines {
                    assert!(line.len() <= MAX_LINE);
                    let _ = parse_message(&line);
                }
            }
            Err(err) => {
                assert_eq!(err, QmpError::LineTooLong);
                return;
            }
        }
    }
}

/// Arbitrary text through every definition parser (domain, network, pool, volume, host interface, snapshot),
/// strict and lenient. What parses must format to XML that parses again to the same XML: a definition that is
/// accepted but cannot be read back is lost at the next daemon start.
pub fn model_xml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    macro_rules! round_trip {
        ($kind:literal, $parse:expr, $format:expr) => {
            for validate in [false, true] {
                if let Ok(def) = $parse(text, validate) {
                    let xml = $format(&def);
                    let again = match $parse(&xml, false) {
                        Ok(again) => again,
                        Err(err) => panic!(
                            "formatted {} XML does not parse again ({err}):\n{xml}",
                            $kind
                        ),
                    };
                    assert_eq!(
                        $format(&again),
                        xml,
                        "formatted {} XML changes when read back",
                        $kind
                    );
                }
            }
        };
    }
    let secure = DomainXmlOptions {
        id: None,
        secure: true,
    };
    round_trip!("domain", DomainDef::from_xml, |d: &DomainDef| d
        .to_xml(&secure));
    round_trip!("network", NetworkDef::from_xml, NetworkDef::to_xml);
    round_trip!("pool", PoolDef::from_xml, PoolDef::to_xml);
    round_trip!("volume", VolumeDef::from_xml, VolumeDef::to_xml);
    round_trip!(
        "interface",
        HostInterfaceDef::from_xml,
        HostInterfaceDef::to_xml
    );
    // A snapshot's XML is read back with `redefine`, as `snapshot-create --redefine` does with a dump.
    for redefine in [false, true] {
        if let Ok(def) = SnapshotDef::from_xml(text, redefine) {
            let xml = def.to_xml(true);
            let again = match SnapshotDef::from_xml(&xml, true) {
                Ok(again) => again,
                Err(err) => panic!("formatted snapshot XML does not parse again ({err}):\n{xml}"),
            };
            assert_eq!(
                again.to_xml(true),
                xml,
                "formatted snapshot XML changes when read back"
            );
        }
    }
}

/// Arbitrary text as a connection URI; what parses must print as a URI that parses back to the same value, and
/// every derived view (transport, port, remote parameters, names sent to servers) must be computable.
pub fn uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = Uri::parse(text) else {
        return;
    };
    let _ = uri.transport();
    let _ = uri.effective_port();
    let _ = uri.effective_host();
    let _ = uri.remote_params();
    let _ = uri.open_name();
    let _ = uri.ssh_helper_name();
    let printed = uri.to_string();
    match Uri::parse(&printed) {
        Ok(again) => assert_eq!(
            again, uri,
            "{text:?} printed as {printed:?} reads back differently"
        ),
        Err(err) => panic!("{text:?} printed as {printed:?} does not parse again: {err}"),
    }
}

/// Arbitrary text as a daemon configuration file (parse, then validate).
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Config::from_str(text);
}
