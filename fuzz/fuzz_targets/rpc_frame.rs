//! Fuzz target: arbitrary bytes through the frame splitter, the header and every payload decoder; whatever decodes
//! must re-encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virtcim::{Call, FrameDecoder, Message, Procedure, RemoteError, Reply, Xdr};

fuzz_target!(|data: &[u8]| {
    // The first byte chooses how the input is chunked, so partial frames are exercised too.
    let Some((&chunk, data)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::new(virtcim::rpc_wire::PRE_AUTH_FRAME_MAX);
    for piece in data.chunks(chunk) {
        decoder.push(piece);
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(_) => return,
            };
            let Ok(message) = Message::from_frame(&frame) else { continue };
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
});
