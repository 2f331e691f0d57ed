//! Fuzz target: arbitrary bytes from a "QEMU" through QMP line framing and message decoding; see
//! `virtcim::fuzzing::qmp_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| virtcim::fuzzing::qmp_message(data));
