//! Fuzz target: arbitrary text through the MOF compiler on top of our own schema; see `virtcim::fuzzing::mof`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| virtcim::fuzzing::mof(data));
