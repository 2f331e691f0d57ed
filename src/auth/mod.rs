//! Authentication shared by the front ends: the credential store (users, SCRAM-SHA-256 verifiers, DIGEST-MD5
//! secrets).

pub mod auth_file;
pub mod credentials;

pub use credentials::{CredentialError, CredentialStore, UserRecord, DEFAULT_REALM};
