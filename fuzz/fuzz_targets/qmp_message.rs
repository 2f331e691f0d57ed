//! Fuzz target: arbitrary bytes from a "QEMU" through QMP line framing and message decoding; nothing may panic,
//! and no line over the cap is ever buffered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virtcim::qemu_qmp::{parse_message, LineReader, QmpError, MAX_LINE};

fuzz_target!(|data: &[u8]| {
    let mut reader = LineReader::default();
    // Split the input at the first byte's value so lines cross chunk boundaries.
    let cut = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    for chunk in [&data[..cut], &data[cut..]] {
        match reader.push(chunk) {
            Ok(lines) => {
                for line in lines {
                    assert!(line.len() <= MAX_LINE);
                    let _ = parse_message(&line);
                }
            }
            Err(err) => {
                assert_eq!(err, QmpError::LineTooLong);
                return;
            }
        }
    }
});
