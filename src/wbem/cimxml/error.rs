//! What CIM-XML decoding can fail with ([`CimXmlError`], each mapped to its DSP0200 `CIMError` header) and the
//! caps ([`Limits`]) a request is read under.

use super::response::{write_imethod_response, write_method_response, CimError, WriteOptions};
use crate::cim::CimStatus;

/// Why a request could not be decoded. Each maps to the DSP0200 `CIMError` header of the HTTP reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CimXmlError {
    #[error("request is not well-formed XML: {0}")]
    NotWellFormed(String),
    #[error("request exceeds the limit on {0}")]
    LimitExceeded(&'static str),
    #[error("request is not valid CIM-XML: {0}")]
    NotValid(String),
    #[error("multiple requests (MULTIREQ) are not supported")]
    MultipleRequests,
    #[error("unsupported CIM version {0:?}")]
    UnsupportedCimVersion(String),
    #[error("unsupported DTD version {0:?}")]
    UnsupportedDtdVersion(String),
    #[error("unsupported protocol version {0:?}")]
    UnsupportedProtocolVersion(String),
    /// Too many key bindings, properties or parameters: answered with a CIM error
    /// (CIM_ERR_SERVER_LIMITS_EXCEEDED) when the call is known, see [`CimXmlError::error_response`].
    #[error("request exceeds the server limit on {what}")]
    ServerLimit {
        what: &'static str,
        call: Option<CallId>,
    },
}

/// Enough of a request to answer it with a CIM error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallId {
    pub message_id: String,
    pub method: String,
    pub intrinsic: bool,
}

impl CimXmlError {
    /// The value of the `CIMError` HTTP header for this error (DSP0200 section 7.5).
    pub fn cim_error_header(&self) -> &'static str {
        match self {
            CimXmlError::NotWellFormed(_) | CimXmlError::LimitExceeded(_) => {
                "request-not-well-formed"
            }
            CimXmlError::NotValid(_) => "request-not-valid",
            CimXmlError::MultipleRequests => "multiple-requests-unsupported",
            CimXmlError::UnsupportedCimVersion(_) => "unsupported-cim-version",
            CimXmlError::UnsupportedDtdVersion(_) => "unsupported-dtd-version",
            CimXmlError::UnsupportedProtocolVersion(_) => "unsupported-protocol-version",
            CimXmlError::ServerLimit { .. } => "request-not-valid",
        }
    }

    /// For errors that DSP0200 answers inside a normal response (a CIM error in HTTP 200), that response.
    pub fn error_response(&self) -> Option<String> {
        let CimXmlError::ServerLimit {
            what,
            call: Some(call),
        } = self
        else {
            return None;
        };
        let err = CimError::new(
            CimStatus::ServerLimitsExceeded,
            format!("too many {what} in the request"),
        );
        Some(if call.intrinsic {
            write_imethod_response(
                &call.message_id,
                &call.method,
                &Err(err),
                WriteOptions::default(),
            )
        } else {
            write_method_response(&call.message_id, &call.method, &Err(err))
        })
    }
}

pub(super) fn invalid(message: impl Into<String>) -> CimXmlError {
    CimXmlError::NotValid(message.into())
}

/// Caps applied while reading a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_depth: usize,
    pub max_elements: usize,
    pub max_attributes: usize,
    /// Bytes of character data in one element.
    pub max_text: usize,
    /// Nesting of embedded instances (an instance in a string in an instance...).
    pub max_embedding: usize,
    /// Key bindings in one instance name.
    pub max_keys: usize,
    /// Properties in one instance or class.
    pub max_properties: usize,
    /// Parameters of one call.
    pub max_params: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 64,
            max_elements: 100_000,
            max_attributes: 16,
            max_text: 1 << 20,
            max_embedding: 4,
            max_keys: 64,
            max_properties: 2048,
            max_params: 256,
        }
    }
}
