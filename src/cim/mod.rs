//! The CIM object model (DSP0004): types and values, qualifiers, classes, instances, object paths, the
//! class repository per namespace, and the MOF compiler (DSP0221 subset) that fills it. Pure: no I/O.

pub mod builtin;
pub mod mof;
pub mod object;
pub mod repo;
pub mod types;

pub use builtin::builtin_repository;
pub use object::Value;
pub use object::{namespace_eq, ObjectPath, PathError};
pub use object::{
    Class, Flavor, Instance, InstanceProperty, InstanceSlot, Method, Parameter, Property,
    Qualifier, QualifierDecl, QualifierList, Scope, Template,
};
pub use repo::{Namespace, RepoError, Repository};
pub use types::{Arrayness, CimType, Name, TypeSpec, ValueError};

/// CIM status codes (DSP0200 table 4): what a CIM-XML `ERROR` element carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CimStatus {
    Failed,
    AccessDenied,
    InvalidNamespace,
    InvalidParameter,
    InvalidClass,
    NotFound,
    NotSupported,
    ClassHasChildren,
    ClassHasInstances,
    InvalidSuperclass,
    AlreadyExists,
    NoSuchProperty,
    TypeMismatch,
    QueryLanguageNotSupported,
    InvalidQuery,
    MethodNotAvailable,
    MethodNotFound,
    NamespaceNotEmpty,
    InvalidEnumerationContext,
    InvalidOperationTimeout,
    PullHasBeenAbandoned,
    PullCannotBeAbandoned,
    FilteredEnumerationNotSupported,
    ContinuationOnErrorNotSupported,
    ServerLimitsExceeded,
    ServerIsShuttingDown,
    /// A code this table does not name, kept as received.
    Other(u32),
}

const STATUS_TABLE: [(CimStatus, u32, &str); 26] = [
    (CimStatus::Failed, 1, "CIM_ERR_FAILED"),
    (CimStatus::AccessDenied, 2, "CIM_ERR_ACCESS_DENIED"),
    (CimStatus::InvalidNamespace, 3, "CIM_ERR_INVALID_NAMESPACE"),
    (CimStatus::InvalidParameter, 4, "CIM_ERR_INVALID_PARAMETER"),
    (CimStatus::InvalidClass, 5, "CIM_ERR_INVALID_CLASS"),
    (CimStatus::NotFound, 6, "CIM_ERR_NOT_FOUND"),
    (CimStatus::NotSupported, 7, "CIM_ERR_NOT_SUPPORTED"),
    (CimStatus::ClassHasChildren, 8, "CIM_ERR_CLASS_HAS_CHILDREN"),
    (
        CimStatus::ClassHasInstances,
        9,
        "CIM_ERR_CLASS_HAS_INSTANCES",
    ),
    (
        CimStatus::InvalidSuperclass,
        10,
        "CIM_ERR_INVALID_SUPERCLASS",
    ),
    (CimStatus::AlreadyExists, 11, "CIM_ERR_ALREADY_EXISTS"),
    (CimStatus::NoSuchProperty, 12, "CIM_ERR_NO_SUCH_PROPERTY"),
    (CimStatus::TypeMismatch, 13, "CIM_ERR_TYPE_MISMATCH"),
    (
        CimStatus::QueryLanguageNotSupported,
        14,
        "CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED",
    ),
    (CimStatus::InvalidQuery, 15, "CIM_ERR_INVALID_QUERY"),
    (
        CimStatus::MethodNotAvailable,
        16,
        "CIM_ERR_METHOD_NOT_AVAILABLE",
    ),
    (CimStatus::MethodNotFound, 17, "CIM_ERR_METHOD_NOT_FOUND"),
    (
        CimStatus::NamespaceNotEmpty,
        20,
        "CIM_ERR_NAMESPACE_NOT_EMPTY",
    ),
    (
        CimStatus::InvalidEnumerationContext,
        21,
        "CIM_ERR_INVALID_ENUMERATION_CONTEXT",
    ),
    (
        CimStatus::InvalidOperationTimeout,
        22,
        "CIM_ERR_INVALID_OPERATION_TIMEOUT",
    ),
    (
        CimStatus::PullHasBeenAbandoned,
        23,
        "CIM_ERR_PULL_HAS_BEEN_ABANDONED",
    ),
    (
        CimStatus::PullCannotBeAbandoned,
        24,
        "CIM_ERR_PULL_CANNOT_BE_ABANDONED",
    ),
    (
        CimStatus::FilteredEnumerationNotSupported,
        25,
        "CIM_ERR_FILTERED_ENUMERATION_NOT_SUPPORTED",
    ),
    (
        CimStatus::ContinuationOnErrorNotSupported,
        26,
        "CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED",
    ),
    (
        CimStatus::ServerLimitsExceeded,
        27,
        "CIM_ERR_SERVER_LIMITS_EXCEEDED",
    ),
    (
        CimStatus::ServerIsShuttingDown,
        28,
        "CIM_ERR_SERVER_IS_SHUTTING_DOWN",
    ),
];

impl CimStatus {
    pub fn code(self) -> u32 {
        match self {
            CimStatus::Other(code) => code,
            known => STATUS_TABLE
                .iter()
                .find(|(s, _, _)| *s == known)
                .map_or(1, |(_, c, _)| *c),
        }
    }

    pub fn from_code(code: u32) -> CimStatus {
        STATUS_TABLE
            .iter()
            .find(|(_, c, _)| *c == code)
            .map_or(CimStatus::Other(code), |(s, _, _)| *s)
    }

    /// The symbolic name (`CIM_ERR_NOT_FOUND`), as pywbem prints it.
    pub fn name(self) -> &'static str {
        STATUS_TABLE
            .iter()
            .find(|(s, _, _)| *s == self)
            .map_or("CIM_ERR_UNKNOWN", |(_, _, n)| *n)
    }
}

#[cfg(test)]
mod tests_mof;

#[cfg(test)]
mod tests {
    use super::CimStatus;

    #[test]
    fn status_codes_round_trip() {
        for code in 1..=28 {
            assert_eq!(CimStatus::from_code(code).code(), code);
        }
        assert_eq!(CimStatus::NotFound.code(), 6);
        assert_eq!(CimStatus::from_code(7), CimStatus::NotSupported);
        assert_eq!(CimStatus::from_code(19), CimStatus::Other(19));
        assert_eq!(
            CimStatus::ServerIsShuttingDown.name(),
            "CIM_ERR_SERVER_IS_SHUTTING_DOWN"
        );
    }
}
