//! Fuzz target: arbitrary text through every definition XML parser, with formatted definitions read back; see
//! `virtcim::fuzzing::model_xml`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| virtcim::fuzzing::model_xml(data));
