//! Fuzz target: arbitrary bytes as a CIM-XML request body through the DSP0201 request parser; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virtcim::cimxml::{parse_request, Limits};

fuzz_target!(|data: &[u8]| {
    let _ = parse_request(data, &Limits::default());
});
