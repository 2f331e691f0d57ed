//! Object name rules shared by every definition: what can be a file name in the state dir and a libvirt name.

use crate::error::{Error, ErrorDomain, Result};

/// Refuses names that are empty, over 255 bytes, contain `/`, a newline or NUL, or start with `.`.
/// `kind` is the object's word in the message ("domain", "network", "pool", "volume").
pub fn validate_name(kind: &str, name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        "must not be empty"
    } else if name.len() > 255 {
        "must be at most 255 bytes"
    } else if name.contains('/') {
        "must not contain '/'"
    } else if name.contains(['\n', '\r']) {
        "must not contain a newline"
    } else if name.contains('\0') {
        "must not contain NUL"
    } else if name.starts_with('.') {
        "must not start with '.'"
    } else {
        return Ok(());
    };
    Err(Error::with_detail(
        crate::error::ErrorCode::XML_ERROR,
        ErrorDomain::DOMAIN,
        format!("{kind} name '{}' {problem}", name.escape_debug()),
    ))
}
