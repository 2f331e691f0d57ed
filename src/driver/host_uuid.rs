//! The host's UUID, as libvirt's `virGetHostUUID` gives it: what capabilities show as `<host><uuid>` and what a
//! migration cookie's `<hostuuid>` carries, so a destination refuses a guest coming from its own host.
//!
//! libvirtd takes `host_uuid` from its config or else the SMBIOS / machine-id. Two of our daemons on one machine
//! must be two hosts to migration, so ours takes the config's, or else one made the first time a state dir is
//! used and kept in it (`<state_dir>/host-uuid`), stable across restarts.

use std::io;
use std::path::Path;
use std::sync::OnceLock;
use uuid::Uuid;

/// The file in the state dir that keeps the UUID.
const FILE: &str = "host-uuid";

static HOST_UUID: OnceLock<Uuid> = OnceLock::new();

/// Installs the process's host UUID (the daemon does, once, before opening drivers; the first call wins).
pub fn set_host_uuid(uuid: Uuid) {
    let _ = HOST_UUID.set(uuid);
}

/// The host UUID; a process that installed none (an embedded driver) gets one of its own for its lifetime.
pub fn host_uuid() -> Uuid {
    *HOST_UUID.get_or_init(Uuid::new_v4)
}

/// A configured `host_uuid`, checked as libvirt's `virSetHostUUIDStr` does: it must parse, and a UUID whose
/// hex digits are all one and the same (all zeros, all `f`s: what broken firmware reports) is refused.
pub fn parse_configured(text: &str) -> Result<Uuid, String> {
    let uuid = Uuid::parse_str(text.trim()).map_err(|_| format!("'{text}' is not a UUID"))?;
    let digits = uuid.simple().to_string();
    let first = digits.as_bytes()[0];
    if digits.bytes().all(|b| b == first) {
        return Err(format!(
            "'{text}' is not a valid host UUID (all its digits are the same)"
        ));
    }
    Ok(uuid)
}

/// The UUID kept in `state_dir`, made and written (atomically) the first time.
pub fn load_or_create(state_dir: &Path) -> io::Result<Uuid> {
    match std::fs::read_to_string(state_dir.join(FILE)) {
        Ok(text) => {
            if let Ok(uuid) = parse_configured(&text) {
                return Ok(uuid);
            }
            tracing::warn!(
                path = %state_dir.join(FILE).display(),
                "the kept host UUID does not parse; making a new one"
            );
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let uuid = Uuid::new_v4();
    crate::persist::write_atomic(state_dir, FILE, format!("{uuid}\n").as_bytes())?;
    Ok(uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_uuid_survives_and_differs_per_dir() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = load_or_create(a.path()).unwrap();
        assert_eq!(load_or_create(a.path()).unwrap(), first);
        assert_ne!(load_or_create(b.path()).unwrap(), first);
        std::fs::write(a.path().join(FILE), "garbage").unwrap();
        let remade = load_or_create(a.path()).unwrap();
        assert_eq!(load_or_create(a.path()).unwrap(), remade);
    }

    #[test]
    fn configured_uuids_are_checked_as_libvirt_does() {
        assert!(parse_configured("4c4c4544-0044-3210-8052-b4c04f4e4d32").is_ok());
        assert!(parse_configured("00000000-0000-0000-0000-000000000000").is_err());
        assert!(parse_configured("ffffffff-ffff-ffff-ffff-ffffffffffff").is_err());
        assert!(parse_configured("not-a-uuid").is_err());
    }
}
