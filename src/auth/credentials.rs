//! The credential store shared by WBEM Basic auth and (later) SASL: users with salted SCRAM-SHA-256 verifiers
//! and DIGEST-MD5 secrets per realm, never plain passwords; a JSON file written atomically with mode 0600.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The realm DIGEST-MD5 secrets are computed for when none is given.
pub const DEFAULT_REALM: &str = "virtcim";
/// PBKDF2 iterations for new SCRAM verifiers (RFC 7677's minimum).
pub const DEFAULT_ITERATIONS: u32 = 4096;
const SALT_LEN: usize = 16;
const FORMAT_VERSION: u32 = 1;
const MAX_NAME_LEN: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("credentials file {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("credentials file {}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error("no user {0:?}")]
    NoSuchUser(String),
    #[error("invalid user name {0:?}: 1 to 256 characters, no ':' and no control characters")]
    InvalidName(String),
}

/// SCRAM-SHA-256 verifier (RFC 5802 / 7677): enough to check a password or run a SCRAM exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScramVerifier {
    /// Base64 salt.
    pub salt: String,
    pub iterations: u32,
    /// Base64 SHA-256(HMAC(SaltedPassword, "Client Key")).
    pub stored_key: String,
    /// Base64 HMAC(SaltedPassword, "Server Key").
    pub server_key: String,
}

/// One user's secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    pub name: String,
    pub scram_sha_256: ScramVerifier,
    /// Realm -> hex MD5(user:realm:password), the DIGEST-MD5 "H(A1) base" secret.
    pub digest_md5: BTreeMap<String, String>,
    /// The user may read but not change anything through WBEM (`virtcim-passwd --read-only`). Left out of the
    /// file when false, so stores written before the flag existed read the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    version: u32,
    users: Vec<UserRecord>,
}

/// The users, by name. Load with [`CredentialStore::load`], change, then [`CredentialStore::save`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialStore {
    users: BTreeMap<String, UserRecord>,
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations.max(1), &mut out);
    out
}

/// StoredKey and ServerKey for a password.
fn scram_keys(password: &str, salt: &[u8], iterations: u32) -> ([u8; 32], [u8; 32]) {
    let salted = salted_password(password, salt, iterations);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    (stored_key, hmac(&salted, b"Server Key"))
}

/// Hex MD5(user:realm:password).
pub fn digest_md5_secret(user: &str, realm: &str, password: &str) -> String {
    let digest = Md5::digest(format!("{user}:{realm}:{password}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl ScramVerifier {
    pub fn new(password: &str, iterations: u32) -> ScramVerifier {
        let salt: [u8; SALT_LEN] = rand::random();
        let (stored, server) = scram_keys(password, &salt, iterations);
        ScramVerifier {
            salt: B64.encode(salt),
            iterations,
            stored_key: B64.encode(stored),
            server_key: B64.encode(server),
        }
    }

    /// Whether `password` produces this verifier's StoredKey (compared in constant time).
    pub fn verify(&self, password: &str) -> bool {
        let (Ok(salt), Ok(stored)) = (B64.decode(&self.salt), B64.decode(&self.stored_key)) else {
            return false;
        };
        let (computed, _) = scram_keys(password, &salt, self.iterations);
        computed.ct_eq(stored.as_slice()).into()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.contains(':')
        && !name.chars().any(char::is_control)
}

impl CredentialStore {
    pub fn new() -> CredentialStore {
        CredentialStore::default()
    }

    /// Reads a store; a missing file is an empty store.
    pub fn load(path: &Path) -> Result<CredentialStore, CredentialError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CredentialStore::new())
            }
            Err(err) => {
                return Err(CredentialError::Io {
                    path: path.to_path_buf(),
                    message: err.to_string(),
                })
            }
        };
        CredentialStore::from_json(&text).map_err(|message| CredentialError::Format {
            path: path.to_path_buf(),
            message,
        })
    }

    fn from_json(text: &str) -> Result<CredentialStore, String> {
        let file: FileFormat = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if file.version != FORMAT_VERSION {
            return Err(format!("unsupported version {}", file.version));
        }
        let mut users = BTreeMap::new();
        for user in file.users {
            if !valid_name(&user.name) {
                return Err(format!("invalid user name {:?}", user.name));
            }
            if users.insert(user.name.clone(), user).is_some() {
                return Err("a user is listed twice".into());
            }
        }
        Ok(CredentialStore { users })
    }

    /// Writes the store: a temp file in the same directory (mode 0600), fsynced, renamed over, directory fsynced.
    pub fn save(&self, path: &Path) -> Result<(), CredentialError> {
        let io = |err: std::io::Error| CredentialError::Io {
            path: path.to_path_buf(),
            message: err.to_string(),
        };
        let file = FileFormat {
            version: FORMAT_VERSION,
            users: self.users.values().cloned().collect(),
        };
        let mut text =
            serde_json::to_string_pretty(&file).map_err(|e| CredentialError::Format {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        text.push('\n');
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "credentials".into());
        let tmp = dir.join(format!(".{file_name}.tmp{}", std::process::id()));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            std::fs::File::open(&dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    /// Adds a user with secrets for the given realms (the default realm when empty).
    pub fn add_user(
        &mut self,
        name: &str,
        password: &str,
        realms: &[&str],
    ) -> Result<(), CredentialError> {
        if !valid_name(name) {
            return Err(CredentialError::InvalidName(name.into()));
        }
        if self.users.contains_key(name) {
            return Err(CredentialError::UserExists(name.into()));
        }
        self.users
            .insert(name.into(), Self::record(name, password, realms));
        Ok(())
    }

    /// Replaces a user's password, keeping the realms it had.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<(), CredentialError> {
        let user = self
            .users
            .get(name)
            .ok_or_else(|| CredentialError::NoSuchUser(name.into()))?;
        let realms: Vec<String> = user.digest_md5.keys().cloned().collect();
        let realms: Vec<&str> = realms.iter().map(String::as_str).collect();
        let mut record = Self::record(name, password, &realms);
        record.read_only = user.read_only;
        self.users.insert(name.into(), record);
        Ok(())
    }

    /// Makes a user read-only (or read-write again).
    pub fn set_read_only(&mut self, name: &str, read_only: bool) -> Result<(), CredentialError> {
        let user = self
            .users
            .get_mut(name)
            .ok_or_else(|| CredentialError::NoSuchUser(name.into()))?;
        user.read_only = read_only;
        Ok(())
    }

    pub fn remove_user(&mut self, name: &str) -> Result<(), CredentialError> {
        self.users
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| CredentialError::NoSuchUser(name.into()))
    }

    pub fn user_names(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    pub fn user(&self, name: &str) -> Option<&UserRecord> {
        self.users.get(name)
    }

    fn record(name: &str, password: &str, realms: &[&str]) -> UserRecord {
        let realms: Vec<&str> = if realms.is_empty() {
            vec![DEFAULT_REALM]
        } else {
            realms.to_vec()
        };
        UserRecord {
            name: name.into(),
            scram_sha_256: ScramVerifier::new(password, DEFAULT_ITERATIONS),
            digest_md5: realms
                .iter()
                .map(|r| ((*r).to_owned(), digest_md5_secret(name, r, password)))
                .collect(),
            read_only: false,
        }
    }

    /// Checks a user's password by recomputing the SCRAM StoredKey. An unknown user costs the same work, so
    /// timing does not reveal which names exist.
    pub fn verify_password(&self, name: &str, password: &str) -> bool {
        match self.users.get(name) {
            Some(user) => user.scram_sha_256.verify(password),
            None => {
                let _ = scram_keys(password, &[0u8; SALT_LEN], DEFAULT_ITERATIONS);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn scram_keys_match_rfc7677_vector() {
        // RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = salted_password("pencil", &salt, 4096);
        let server_key = hmac(&salted, b"Server Key");
        let client_key = hmac(&salted, b"Client Key");
        // ServerSignature for the RFC's AuthMessage must be 6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=.
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let signature = hmac(&server_key, auth_message.as_bytes());
        assert_eq!(
            B64.encode(signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let stored: [u8; 32] = Sha256::digest(client_key).into();
        let client_signature = hmac(&stored, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(client_signature.iter())
            .map(|(a, b)| a ^ b)
            .collect();
        assert_eq!(
            B64.encode(proof),
            "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
    }

    #[test]
    fn digest_md5_secret_is_md5_of_user_realm_password() {
        // md5("chris:elwood.innosoft.com:secret"), computed independently with Python hashlib.
        assert_eq!(
            digest_md5_secret("chris", "elwood.innosoft.com", "secret"),
            "eb5a750053e4d2c34aa84bbc9b0b6ee7"
        );
    }

    #[test]
    fn add_verify_change_delete_and_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds.json");
        let mut store = CredentialStore::load(&path).unwrap();
        assert_eq!(store.user_names().count(), 0);
        store.add_user("alice", "s3cret", &[]).unwrap();
        store.add_user("bob", "pw", &["virtcim", "other"]).unwrap();
        assert!(matches!(
            store.add_user("alice", "x", &[]),
            Err(CredentialError::UserExists(_))
        ));
        assert!(matches!(
            store.add_user("a:b", "x", &[]),
            Err(CredentialError::InvalidName(_))
        ));
        store.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("s3cret"), "no plain password on disk");

        let mut loaded = CredentialStore::load(&path).unwrap();
        assert_eq!(loaded, store);
        assert!(loaded.verify_password("alice", "s3cret"));
        assert!(!loaded.verify_password("alice", "wrong"));
        assert!(!loaded.verify_password("nobody", "s3cret"));
        assert_eq!(loaded.user("bob").unwrap().digest_md5.len(), 2);
        assert!(
            !text.contains("read_only"),
            "the flag is left out when false"
        );
        loaded.set_read_only("alice", true).unwrap();
        loaded.set_password("alice", "new").unwrap();
        assert!(loaded.verify_password("alice", "new"));
        assert!(
            loaded.user("alice").unwrap().read_only,
            "a new password keeps the flag"
        );
        assert!(matches!(
            loaded.set_read_only("nobody", true),
            Err(CredentialError::NoSuchUser(_))
        ));
        loaded.remove_user("bob").unwrap();
        assert!(matches!(
            loaded.remove_user("bob"),
            Err(CredentialError::NoSuchUser(_))
        ));
        loaded.save(&path).unwrap();
        let names: Vec<String> = CredentialStore::load(&path)
            .unwrap()
            .user_names()
            .map(str::to_owned)
            .collect();
        assert_eq!(names, ["alice"]);
        assert!(
            CredentialStore::load(&path)
                .unwrap()
                .user("alice")
                .unwrap()
                .read_only
        );
    }

    #[test]
    fn corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds.json");
        std::fs::write(&path, "{\"version\":1,\"users\":[{}]}").unwrap();
        assert!(matches!(
            CredentialStore::load(&path),
            Err(CredentialError::Format { .. })
        ));
    }
}
