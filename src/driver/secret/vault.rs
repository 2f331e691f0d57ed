//! Secret values at rest: sealed with AES-256-GCM under a per-host master key kept in a 0600 file beside them,
//! so a value file alone (a backup, a copied directory) never shows the value.
//!
//! libvirt 9 encrypts `/var/lib/libvirt/secrets/*.base64` with a host key the same way; the key file is made on
//! first use, written atomically, and never leaves this directory. Each sealed value is bound to its secret's
//! UUID (the AEAD's associated data), so a value file renamed to another secret fails to open.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use uuid::Uuid;

use crate::persist;

/// The master key's file name in the secrets directory.
pub const KEY_FILE: &str = "secrets-encryption-key";
/// What a sealed value starts with: a format tag, so a future format can be told apart.
const MAGIC: &[u8; 4] = b"VCS1";
const KEY_LEN: usize = 32;

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("cannot use the secrets master key {}", path.display())]
    Key {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the secrets master key {} is not {KEY_LEN} bytes", path.display())]
    KeyLength { path: PathBuf },
    #[error("the sealed value is damaged or was sealed under another key")]
    Damaged,
}

/// The master key of one secrets directory.
pub struct Vault {
    key: LessSafeKey,
}

impl Vault {
    /// Loads `dir`'s master key, creating it (0600, atomically) when there is none yet.
    pub fn open_or_create(dir: &Path) -> Result<Self, VaultError> {
        let path = dir.join(KEY_FILE);
        let key_err = |source| VaultError::Key {
            path: path.clone(),
            source,
        };
        let bytes = match fs::read(&path) {
            Ok(bytes) => {
                // A key file others can read is no secret: tighten it rather than trust it as found.
                let mode = fs::metadata(&path).map_err(key_err)?.permissions().mode();
                if mode & 0o077 != 0 {
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                        .map_err(key_err)?;
                }
                bytes
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let mut bytes = vec![0u8; KEY_LEN];
                rand::rng().fill_bytes(&mut bytes);
                persist::write_atomic(dir, KEY_FILE, &bytes).map_err(key_err)?;
                bytes
            }
            Err(err) => return Err(key_err(err)),
        };
        Self::from_bytes(&bytes).ok_or(VaultError::KeyLength { path })
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).ok()?;
        Some(Self {
            key: LessSafeKey::new(key),
        })
    }

    /// `MAGIC`, a fresh random nonce, then the ciphertext and its tag.
    pub fn seal(&self, uuid: &Uuid, value: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut sealed = value.to_vec();
        // Sealing fails only for inputs beyond GCM's 64 GiB limit, far above the protocol's 64 KiB values.
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(uuid.as_bytes()),
                &mut sealed,
            )
            .expect("a secret value is far below AES-GCM's length limit");
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, uuid: &Uuid, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        let rest = sealed.strip_prefix(MAGIC).ok_or(VaultError::Damaged)?;
        if rest.len() < NONCE_LEN {
            return Err(VaultError::Damaged);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Damaged)?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(uuid.as_bytes()), &mut body)
            .map_err(|_| VaultError::Damaged)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_seal_and_open_only_under_their_key_and_uuid() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open_or_create(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let uuid = Uuid::new_v4();
        let sealed = vault.seal(&uuid, b"hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_ne!(
            vault.seal(&uuid, b"hunter2"),
            sealed,
            "fresh nonce each time"
        );
        assert_eq!(vault.open(&uuid, &sealed).unwrap(), b"hunter2");
        assert!(vault.open(&Uuid::new_v4(), &sealed).is_err());
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(vault.open(&uuid, &flipped).is_err());
        // The same directory gives the same key back; another directory another key.
        let again = Vault::open_or_create(dir.path()).unwrap();
        assert_eq!(again.open(&uuid, &sealed).unwrap(), b"hunter2");
        let other = tempfile::tempdir().unwrap();
        let stranger = Vault::open_or_create(other.path()).unwrap();
        assert!(stranger.open(&uuid, &sealed).is_err());
    }

    #[test]
    fn a_key_of_the_wrong_length_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        persist::write_atomic(dir.path(), KEY_FILE, b"short").unwrap();
        assert!(matches!(
            Vault::open_or_create(dir.path()),
            Err(VaultError::KeyLength { .. })
        ));
    }
}
