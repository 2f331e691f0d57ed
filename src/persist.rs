//! Durable files: atomic replace (temp file, fsync, rename, directory fsync, mode 0600) and the state-dir lock.
