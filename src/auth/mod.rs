//! Authentication shared by the front ends: the credential store (users, SCRAM-SHA-256 verifiers, DIGEST-MD5
//! secrets) and SASL for the native RPC service.

pub mod auth_file;
pub mod credentials;
pub mod digest_md5;
pub mod sasl;

pub use credentials::{CredentialStore, DEFAULT_REALM};
pub use sasl::{SaslClient, SaslError, SaslLayer, SaslServer, SaslStep, SaslTransport};
