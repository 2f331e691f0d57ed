//! Scaled integers as libvirt writes them (`<memory unit='GiB'>2</memory>`): units to bytes or KiB.

use crate::error::{Error, Result};

/// The unit assumed when an element has no `unit` attribute.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ScaleDefault {
    Bytes,
    KiB,
}

/// Parses `value` with `unit` and returns it in the default's unit (bytes or KiB).
pub fn parse_scaled(value: &str, unit: Option<&str>, default: ScaleDefault) -> Result<u64> {
    let _ = (value, unit, default);
    Err(Error::xml("scaled values are not implemented yet"))
}
