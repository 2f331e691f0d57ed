//! Fuzz target: arbitrary bytes through the RPC frame splitter, the header and every payload decoder; see
//! `virtcim::fuzzing::rpc_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| virtcim::fuzzing::rpc_frame(data));
