//! Fuzz target: arbitrary text as a daemon configuration file; see `virtcim::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| virtcim::fuzzing::config(data));
