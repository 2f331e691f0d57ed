//! The WBEM operation error, [`OpError`], and [`cim_error`], the one map from it to the CIM status a client
//! sees. It sits below both the operations and the providers, which produce it, so neither imports the other
//! for it.

use crate::cim::{CimStatus, PathError, RepoError, ValueError};
use crate::error::{Error as DriverError, ErrorCode};
use crate::wbem::cimxml::CimError;
use crate::wbem::query::QueryError;

/// Why an operation failed. [`cim_error`] turns it into the status the client sees.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{message}")]
    Cim { status: CimStatus, message: String },
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("invalid parameter value: {0}")]
    Value(#[from] ValueError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Path(#[from] PathError),
}

impl OpError {
    pub fn cim(status: CimStatus, message: impl Into<String>) -> OpError {
        OpError::Cim {
            status,
            message: message.into(),
        }
    }

    pub fn status(&self) -> CimStatus {
        cim_error(self).status
    }
}

/// The one map from an operation error to the CIM error the client gets.
pub fn cim_error(err: &OpError) -> CimError {
    let status = match err {
        OpError::Cim { status, .. } => *status,
        OpError::Driver(e) => match e.code {
            ErrorCode::NO_DOMAIN
            | ErrorCode::NO_NETWORK
            | ErrorCode::NO_STORAGE_POOL
            | ErrorCode::NO_STORAGE_VOL => CimStatus::NotFound,
            ErrorCode::NO_SUPPORT
            | ErrorCode::OPERATION_UNSUPPORTED
            | ErrorCode::ARGUMENT_UNSUPPORTED
            | ErrorCode::CONFIG_UNSUPPORTED => CimStatus::NotSupported,
            ErrorCode::INVALID_ARG
            | ErrorCode::XML_ERROR
            | ErrorCode::XML_DETAIL
            | ErrorCode::XML_INVALID_SCHEMA
            | ErrorCode::INVALID_MAC => CimStatus::InvalidParameter,
            ErrorCode::DOM_EXIST | ErrorCode::NETWORK_EXIST | ErrorCode::STORAGE_VOL_EXIST => {
                CimStatus::AlreadyExists
            }
            ErrorCode::ACCESS_DENIED | ErrorCode::OPERATION_DENIED | ErrorCode::AUTH_FAILED => {
                CimStatus::AccessDenied
            }
            _ => CimStatus::Failed,
        },
        OpError::Repo(e) => e.status(),
        OpError::Value(_) | OpError::Path(_) => CimStatus::InvalidParameter,
        OpError::Query(_) => CimStatus::InvalidQuery,
    };
    let message = match err {
        OpError::Driver(e) => e.message.clone(),
        other => other.to_string(),
    };
    CimError::new(status, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorDomain;

    #[test]
    fn error_to_status_table() {
        let d = |code: ErrorCode| OpError::Driver(DriverError::new(code, ErrorDomain(0), "x"));
        // One row per arm of the map, and a code outside every list (the catch-all).
        let cases: Vec<(OpError, u32)> = vec![
            (OpError::cim(CimStatus::NotFound, "x"), 6),
            (OpError::cim(CimStatus::InvalidEnumerationContext, "x"), 21),
            (d(ErrorCode::NO_DOMAIN), 6),
            (d(ErrorCode::NO_NETWORK), 6),
            (d(ErrorCode::NO_STORAGE_POOL), 6),
            (d(ErrorCode::NO_STORAGE_VOL), 6),
            (d(ErrorCode::NO_SUPPORT), 7),
            (d(ErrorCode::OPERATION_UNSUPPORTED), 7),
            (d(ErrorCode::ARGUMENT_UNSUPPORTED), 7),
            (d(ErrorCode::CONFIG_UNSUPPORTED), 7),
            (d(ErrorCode::INVALID_ARG), 4),
            (d(ErrorCode::XML_ERROR), 4),
            (d(ErrorCode::XML_DETAIL), 4),
            (d(ErrorCode::XML_INVALID_SCHEMA), 4),
            (d(ErrorCode::INVALID_MAC), 4),
            (d(ErrorCode::DOM_EXIST), 11),
            (d(ErrorCode::NETWORK_EXIST), 11),
            (d(ErrorCode::STORAGE_VOL_EXIST), 11),
            (d(ErrorCode::ACCESS_DENIED), 2),
            (d(ErrorCode::OPERATION_DENIED), 2),
            (d(ErrorCode::AUTH_FAILED), 2),
            (d(ErrorCode::OPERATION_INVALID), 1),
            (d(ErrorCode::INTERNAL_ERROR), 1),
            (OpError::Repo(RepoError::InvalidNamespace("x".into())), 3),
            (OpError::Repo(RepoError::ClassNotFound("x".into())), 6),
            (
                OpError::Value(ValueError::Invalid {
                    ty: "uint16",
                    text: "x".into(),
                }),
                4,
            ),
            (
                OpError::Path(PathError {
                    text: "x".into(),
                    reason: "y",
                }),
                4,
            ),
            (OpError::Query(QueryError("x".into())), 15),
        ];
        for (err, code) in cases {
            assert_eq!(cim_error(&err).status.code(), code, "{err:?}");
        }
        // A driver error's message is passed on without the code's prefix; others as they display.
        let e = cim_error(&d(ErrorCode::NO_DOMAIN));
        assert_eq!(e.description, "x");
        let e = cim_error(&OpError::cim(CimStatus::Failed, "why"));
        assert_eq!(e.description, "why");
    }
}
