//! The crate error: a libvirt error code and domain plus a message, so every front end can forward it unchanged.
//!
//! Codes and domains are open newtypes rather than closed enums: a code received from a peer that this crate
//! does not name is kept as it is, so logs and the wire show the real number.

use std::fmt;

/// libvirt's `virErrorNumber`; unknown values are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ErrorCode(pub i32);

impl ErrorCode {
    pub const INTERNAL_ERROR: Self = Self(1);
    pub const NO_MEMORY: Self = Self(2);
    pub const NO_SUPPORT: Self = Self(3);
    pub const NO_CONNECT: Self = Self(5);
    pub const INVALID_CONN: Self = Self(6);
    pub const INVALID_DOMAIN: Self = Self(7);
    pub const INVALID_ARG: Self = Self(8);
    pub const OPERATION_FAILED: Self = Self(9);
    pub const OS_TYPE: Self = Self(16);
    pub const NO_NAME: Self = Self(21);
    pub const XML_ERROR: Self = Self(27);
    pub const DOM_EXIST: Self = Self(28);
    pub const OPERATION_DENIED: Self = Self(29);
    pub const OPEN_FAILED: Self = Self(30);
    pub const READ_FAILED: Self = Self(31);
    pub const PARSE_FAILED: Self = Self(32);
    pub const CONF_SYNTAX: Self = Self(33);
    pub const WRITE_FAILED: Self = Self(34);
    pub const XML_DETAIL: Self = Self(35);
    pub const INVALID_NETWORK: Self = Self(36);
    pub const NETWORK_EXIST: Self = Self(37);
    pub const SYSTEM_ERROR: Self = Self(38);
    pub const RPC: Self = Self(39);
    pub const NO_DOMAIN: Self = Self(42);
    pub const NO_NETWORK: Self = Self(43);
    pub const INVALID_MAC: Self = Self(44);
    pub const AUTH_FAILED: Self = Self(45);
    pub const INVALID_STORAGE_POOL: Self = Self(46);
    pub const INVALID_STORAGE_VOL: Self = Self(47);
    pub const NO_STORAGE_POOL: Self = Self(49);
    pub const NO_STORAGE_VOL: Self = Self(50);
    pub const NO_NODE_DEVICE: Self = Self(53);
    pub const NO_SECURITY_MODEL: Self = Self(54);
    pub const OPERATION_INVALID: Self = Self(55);
    // host interfaces
    pub const NO_INTERFACE: Self = Self(57);
    pub const INVALID_INTERFACE: Self = Self(58);
    pub const MULTIPLE_INTERFACES: Self = Self(59);
    pub const INVALID_NWFILTER: Self = Self(61);
    pub const NO_NWFILTER: Self = Self(62);
    pub const BUILD_FIREWALL: Self = Self(63);
    pub const INVALID_SECRET: Self = Self(65);
    pub const NO_SECRET: Self = Self(66);
    pub const CONFIG_UNSUPPORTED: Self = Self(67);
    pub const OPERATION_TIMEOUT: Self = Self(68);
    pub const ARGUMENT_UNSUPPORTED: Self = Self(74);
    pub const STORAGE_POOL_BUILT: Self = Self(76);
    pub const NO_DOMAIN_METADATA: Self = Self(80);
    pub const OVERFLOW: Self = Self(82);
    pub const OPERATION_UNSUPPORTED: Self = Self(84);
    pub const AGENT_UNRESPONSIVE: Self = Self(86);
    pub const RESOURCE_BUSY: Self = Self(87);
    pub const ACCESS_DENIED: Self = Self(88);
    pub const STORAGE_VOL_EXIST: Self = Self(90);
    pub const XML_INVALID_SCHEMA: Self = Self(92);
    pub const AUTH_UNAVAILABLE: Self = Self(94);
    pub const DEVICE_MISSING: Self = Self(99);
    pub const INVALID_NWFILTER_BINDING: Self = Self(100);
    pub const NO_NWFILTER_BINDING: Self = Self(101);

    /// The text libvirt puts before the detail of an error with this code (`virErrorMsg`), so messages read the
    /// same as libvirtd's. `None` means the detail stands alone.
    pub fn prefix(self) -> Option<&'static str> {
        Some(match self {
            Self::INTERNAL_ERROR => "internal error",
            Self::NO_SUPPORT => "this function is not supported by the connection driver",
            Self::INVALID_ARG => "invalid argument",
            Self::OPERATION_FAILED => "operation failed",
            Self::OS_TYPE => "unknown OS type",
            Self::XML_ERROR => "XML error",
            Self::DOM_EXIST => "domain exists",
            Self::OPERATION_DENIED => "operation forbidden",
            Self::CONF_SYNTAX => "configuration file syntax error",
            Self::XML_DETAIL => "XML description is invalid or not well formed",
            Self::NETWORK_EXIST => "network exists",
            Self::RPC => "RPC error",
            Self::NO_DOMAIN => "Domain not found",
            Self::NO_NETWORK => "Network not found",
            Self::INVALID_MAC => "invalid MAC address",
            Self::AUTH_FAILED => "authentication failed",
            Self::NO_STORAGE_POOL => "Storage pool not found",
            Self::NO_STORAGE_VOL => "Storage volume not found",
            Self::NO_NODE_DEVICE => "Node device not found",
            Self::OPERATION_INVALID => "Requested operation is not valid",
            Self::NO_INTERFACE => "Interface not found",
            Self::INVALID_INTERFACE => "invalid interface pointer in",
            Self::MULTIPLE_INTERFACES => "multiple matching interfaces found",
            Self::INVALID_NWFILTER => "Invalid network filter",
            Self::NO_NWFILTER => "Network filter not found",
            Self::BUILD_FIREWALL => "Error while building firewall",
            Self::INVALID_SECRET => "Invalid secret",
            Self::NO_SECRET => "Secret not found",
            Self::CONFIG_UNSUPPORTED => "unsupported configuration",
            Self::OPERATION_TIMEOUT => "Timed out during operation",
            Self::ARGUMENT_UNSUPPORTED => "argument unsupported",
            Self::STORAGE_POOL_BUILT => "storage pool already built",
            Self::NO_DOMAIN_METADATA => "metadata not found",
            Self::OVERFLOW => "value too large",
            Self::OPERATION_UNSUPPORTED => "Operation not supported",
            Self::AGENT_UNRESPONSIVE => "Guest agent is not responding",
            Self::RESOURCE_BUSY => "resource busy",
            Self::ACCESS_DENIED => "access denied",
            Self::STORAGE_VOL_EXIST => "storage volume already exists",
            Self::XML_INVALID_SCHEMA => "XML document failed to validate against schema",
            Self::DEVICE_MISSING => "device not found",
            Self::INVALID_NWFILTER_BINDING => "Invalid network filter binding",
            Self::NO_NWFILTER_BINDING => "Network filter binding not found",
            _ => return None,
        })
    }
}

/// libvirt's `virErrorDomain`: which part raised the error; unknown values are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ErrorDomain(pub i32);

impl ErrorDomain {
    pub const NONE: Self = Self(0);
    pub const XML: Self = Self(5);
    pub const RPC: Self = Self(7);
    pub const CONF: Self = Self(9);
    pub const QEMU: Self = Self(10);
    pub const TEST: Self = Self(12);
    pub const REMOTE: Self = Self(13);
    pub const STORAGE: Self = Self(18);
    pub const NETWORK: Self = Self(19);
    pub const DOMAIN: Self = Self(20);
    pub const NODEDEV: Self = Self(22);
    pub const INTERFACE: Self = Self(26);
    pub const SECRET: Self = Self(30);
    pub const CPU: Self = Self(31);
    pub const NWFILTER: Self = Self(33);
    pub const SECURITY: Self = Self(24);
    pub const URI: Self = Self(45);
    pub const AUTH: Self = Self(46);
    pub const SSH: Self = Self(50);
}

/// One error as libvirt reports it: what happened (code), where (domain), and the full message text.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Error {
    pub code: ErrorCode,
    pub domain: ErrorDomain,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error whose message is taken as is (for example one received from a peer).
    pub fn new(code: ErrorCode, domain: ErrorDomain, message: impl Into<String>) -> Self {
        Self {
            code,
            domain,
            message: message.into(),
        }
    }

    /// An error whose message is the code's libvirt prefix followed by `detail`, as libvirt formats it.
    pub fn with_detail(code: ErrorCode, domain: ErrorDomain, detail: impl AsRef<str>) -> Self {
        let detail = detail.as_ref();
        let message = match (code.prefix(), detail.is_empty()) {
            (Some(prefix), true) => prefix.to_string(),
            (Some(prefix), false) => format!("{prefix}: {detail}"),
            (None, _) => detail.to_string(),
        };
        Self::new(code, domain, message)
    }

    /// "this function is not supported by the connection driver: virXxx", the answer for any API a driver lacks.
    pub fn no_support(api: &str) -> Self {
        Self::with_detail(ErrorCode::NO_SUPPORT, ErrorDomain::DOMAIN, api)
    }

    /// "no connection driver available for NAME": libvirt's words when no driver accepts a URI (no colon).
    pub fn no_driver(name: &str) -> Self {
        Self::new(
            ErrorCode::NO_CONNECT,
            ErrorDomain::NONE,
            format!("no connection driver available for {name}"),
        )
    }

    /// "operation forbidden: read only access prevents virXxx".
    pub fn read_only(api: &str) -> Self {
        Self::with_detail(
            ErrorCode::OPERATION_DENIED,
            ErrorDomain::DOMAIN,
            format!("read only access prevents {api}"),
        )
    }

    pub fn internal(domain: ErrorDomain, detail: impl AsRef<str>) -> Self {
        Self::with_detail(ErrorCode::INTERNAL_ERROR, domain, detail)
    }

    pub fn invalid_arg(domain: ErrorDomain, detail: impl AsRef<str>) -> Self {
        Self::with_detail(ErrorCode::INVALID_ARG, domain, detail)
    }

    pub fn operation_invalid(domain: ErrorDomain, detail: impl AsRef<str>) -> Self {
        Self::with_detail(ErrorCode::OPERATION_INVALID, domain, detail)
    }

    pub fn xml(detail: impl AsRef<str>) -> Self {
        Self::with_detail(ErrorCode::XML_ERROR, ErrorDomain::DOMAIN, detail)
    }

    /// A failed system call, worded as libvirt words them: "CONTEXT: strerror".
    pub fn system(domain: ErrorDomain, context: impl AsRef<str>, err: &std::io::Error) -> Self {
        Self::new(
            ErrorCode::SYSTEM_ERROR,
            domain,
            format!("{}: {}", context.as_ref(), io_error_text(err)),
        )
    }
}

/// The C library's wording for an I/O error ("No such file or directory"), without Rust's " (os error 2)".
pub fn io_error_text(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_libvirts_prefixes() {
        let cases = [
            (
                Error::no_support("virDomainGetJobStats"),
                "this function is not supported by the connection driver: virDomainGetJobStats",
            ),
            (
                Error::read_only("virDomainSuspend"),
                "operation forbidden: read only access prevents virDomainSuspend",
            ),
            (
                Error::with_detail(ErrorCode::NO_DOMAIN, ErrorDomain::TEST, ""),
                "Domain not found",
            ),
            (
                Error::operation_invalid(ErrorDomain::DOMAIN, "domain is not running"),
                "Requested operation is not valid: domain is not running",
            ),
            (
                Error::no_driver("foo:///bar"),
                "no connection driver available for foo:///bar",
            ),
            (
                Error::with_detail(ErrorCode::SYSTEM_ERROR, ErrorDomain::NONE, "plain"),
                "plain",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.message, text);
        }
    }

    #[test]
    fn unknown_codes_are_kept() {
        let err = Error::new(ErrorCode(4242), ErrorDomain(99), "from a newer peer");
        assert_eq!(err.code.0, 4242);
        assert_eq!(err.domain.0, 99);
        assert_eq!(err.code.prefix(), None);
    }

    #[test]
    fn io_errors_read_like_strerror() {
        let err = std::io::Error::from_raw_os_error(2);
        assert_eq!(io_error_text(&err), "No such file or directory");
    }
}
