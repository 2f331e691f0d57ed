//! Fuzz target: arbitrary frames through the dispatcher of an authenticated, opened connection on a driver that
//! supports nothing; every call must get exactly one well-formed reply and nothing may panic.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use virtcim::{ConnectionState, Dispatcher, Driver, DriverOpener, FrameDecoder, Message, MessageType, Result};

struct Nothing;
impl Driver for Nothing {}

struct Opener;
#[async_trait::async_trait]
impl DriverOpener for Opener {
    async fn open(&self, _name: Option<&str>, _read_only: bool) -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(Nothing))
    }
}

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(async {
        let dispatcher = Dispatcher::new(Arc::new(Opener));
        let mut state = ConnectionState::new(0, data.first().is_some_and(|b| b & 1 == 1));
        let mut decoder = FrameDecoder::default();
        decoder.push(data.get(1..).unwrap_or_default());
        while let Ok(Some(frame)) = decoder.next_frame() {
            let Ok(outcome) = dispatcher.handle_frame(&mut state, &frame).await else { return };
            if let Some(reply) = outcome.reply {
                let reply = Message::from_frame(&reply[4..]).expect("our reply frames");
                assert!(matches!(reply.header.kind, MessageType::Reply | MessageType::Message));
            }
            if outcome.close {
                return;
            }
        }
    });
});
