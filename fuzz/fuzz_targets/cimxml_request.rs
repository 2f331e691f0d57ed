//! Fuzz target: arbitrary bytes as a CIM-XML request body; see `virtcim::fuzzing::cimxml_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| virtcim::fuzzing::cimxml_request(data));
