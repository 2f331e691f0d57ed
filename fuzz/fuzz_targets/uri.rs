//! Fuzz target: arbitrary text as a connection URI, printed URIs read back; see `virtcim::fuzzing::uri`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| virtcim::fuzzing::uri(data));
