//! Fuzz target: arbitrary frames through the dispatcher of an opened connection; see
//! `virtcim::fuzzing::rpc_dispatch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| virtcim::fuzzing::rpc_dispatch(data));
