//! Durable files: atomic replace (temp file, fsync, rename, directory fsync, mode 0600) and the state-dir lock.
//!
//! A reader of the state dir only ever sees a whole old file or a whole new one: new content goes to a temp file
//! in the same directory (so the rename never crosses file systems), is fsynced, renamed over the target, and the
//! directory is fsynced so the rename itself survives a power cut. Temp files left by a crash start with `.` and
//! contain [`TEMP_MARK`]; [`remove_temp_files`] clears them at start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The part of a temp file's name that marks it as one (`.NAME.tmp.PID.N`).
pub(crate) const TEMP_MARK: &str = ".tmp.";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates `path` (and missing parents) with mode 0700; an existing directory is left as it is.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Replaces `dir/name` with `data` atomically and durably; the file gets mode 0600.
/// On error the old file (if any) is untouched and the temp file is removed.
pub(crate) fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(
        ".{name}{TEMP_MARK}{}.{counter}",
        std::process::id()
    ));
    let result = write_then_rename(&temp, &dir.join(name), data).and_then(|()| sync_dir(dir));
    if result.is_err() {
        // Best effort: the temp file may not exist, and the caller reports the first error.
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_then_rename(temp: &Path, target: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)?;
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, target)
}

/// Removes `dir/name` durably; a file that is already gone is not an error.
pub(crate) fn remove_durable(dir: &Path, name: &str) -> io::Result<()> {
    match fs::remove_file(dir.join(name)) {
        Ok(()) => sync_dir(dir),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// Flushes a directory's entries (creations, renames, removals) to disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Whether a directory entry is a temp file left by [`write_atomic`].
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(TEMP_MARK)
}

/// Deletes temp files a crash left in `dir`; returns how many were removed.
pub(crate) fn remove_temp_files(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_str().is_some_and(is_temp_name) {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Why the state dir could not be locked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LockError {
    #[error("state directory {} is in use by another process (pid {pid})", dir.display())]
    Busy { dir: PathBuf, pid: String },
    #[error("cannot lock state directory {}", dir.display())]
    Io {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// How long a lock held under this process's own pid is waited for, and how often it is tried meanwhile.
const OWN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
const OWN_LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// An exclusive lock on a state dir, held until dropped (or the process dies: the kernel releases it).
/// The lock file holds the owner's pid so a refused second owner can name it.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<Self, LockError> {
        let io_err = |source| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join("lock"))
            .map_err(io_err)?;
        // A lock held under this process's own pid is let go of soon: an owner in this process that was just
        // dropped, or a child another thread forked, which holds a copy of the lock's file description until it
        // execs (the descriptor is close-on-exec). Only that case is waited for, briefly.
        let own_pid = std::process::id().to_string();
        let mut waited = std::time::Duration::ZERO;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {
                    let mut pid = String::new();
                    // The owner may be rewriting its pid right now; an unreadable pid is still a refusal.
                    let _ = file.rewind().and_then(|()| file.read_to_string(&mut pid));
                    let pid = pid.trim().to_string();
                    if pid == own_pid && waited < OWN_LOCK_WAIT {
                        std::thread::sleep(OWN_LOCK_POLL);
                        waited += OWN_LOCK_POLL;
                        continue;
                    }
                    return Err(LockError::Busy {
                        dir: dir.to_path_buf(),
                        pid: if pid.is_empty() {
                            "unknown".into()
                        } else {
                            pid
                        },
                    });
                }
                Err(fs::TryLockError::Error(err)) => return Err(io_err(err)),
            }
        }
        file.set_len(0).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_replaces_content_with_mode_0600_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.json", b"one").unwrap();
        write_atomic(dir.path(), "a.json", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("a.json")).unwrap(), b"two");
        let mode = fs::metadata(dir.path().join("a.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
    }

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.json", b"old").unwrap();
        // A directory where the target is makes the rename fail after the temp file was written.
        fs::create_dir(dir.path().join("b.json")).unwrap();
        fs::write(dir.path().join("b.json/x"), b"").unwrap();
        assert!(write_atomic(dir.path(), "b.json", b"new").is_err());
        assert_eq!(fs::read(dir.path().join("a.json")).unwrap(), b"old");
        let temps = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| is_temp_name(e.as_ref().unwrap().file_name().to_str().unwrap()))
            .count();
        assert_eq!(temps, 0);
    }

    #[test]
    fn temp_files_are_cleaned_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".a.json.tmp.12.0"), b"partial").unwrap();
        fs::write(dir.path().join("a.json"), b"whole").unwrap();
        assert_eq!(remove_temp_files(dir.path()).unwrap(), 1);
        assert!(dir.path().join("a.json").exists());
        assert!(!dir.path().join(".a.json.tmp.12.0").exists());
    }

    #[test]
    fn remove_of_missing_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        remove_durable(dir.path(), "nothing.json").unwrap();
    }

    #[test]
    fn second_lock_is_refused_naming_the_owner_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("is in use by another process"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
