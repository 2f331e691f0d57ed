//! The server's SASL gate for the native RPC service: the credential store (re-read when its file changes),
//! `sasl_allowed_username_list`, the per-client-address slow-down after failures, and each connection's
//! exchange state (AUTH_SASL_INIT / START / STEP, REPORT §9.2).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::auth::{CredentialStore, SaslError, SaslLayer, SaslServer, SaslStep, SaslTransport};
use crate::error::{Error, ErrorCode, ErrorDomain};

/// The delay before the second failure's reply from one address; it doubles per further failure.
const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Failures are forgotten after this long without another one.
const FAILURE_MEMORY: Duration = Duration::from_secs(600);
const MAX_FAILURE_SOURCES: usize = 4096;

/// The error every SASL failure answers with (libvirtd's words), so a client learns nothing about why.
pub fn auth_failed() -> Error {
    Error::with_detail(
        ErrorCode::AUTH_FAILED,
        ErrorDomain::RPC,
        "authentication failed",
    )
}

/// What every SASL listener of one daemon shares.
pub struct SaslSettings {
    path: Option<PathBuf>,
    store: Mutex<(Option<SystemTime>, Arc<CredentialStore>)>,
    realm: String,
    allowed_usernames: Option<Vec<String>>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl std::fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslSettings")
            .field("path", &self.path)
            .field("realm", &self.realm)
            .field("allowed_usernames", &self.allowed_usernames)
            .finish_non_exhaustive()
    }
}

impl SaslSettings {
    /// Loads the credentials file (a missing file is an empty store; a corrupt one is an error).
    pub fn from_file(
        path: &Path,
        realm: &str,
        allowed_usernames: Option<Vec<String>>,
    ) -> Result<SaslSettings, String> {
        let store = CredentialStore::load(path).map_err(|e| e.to_string())?;
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Ok(SaslSettings {
            path: Some(path.to_path_buf()),
            store: Mutex::new((mtime, Arc::new(store))),
            realm: realm.to_owned(),
            allowed_usernames,
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// A fixed store (tests, embedding).
    pub fn from_store(
        store: CredentialStore,
        realm: &str,
        allowed_usernames: Option<Vec<String>>,
    ) -> SaslSettings {
        SaslSettings {
            path: None,
            store: Mutex::new((None, Arc::new(store))),
            realm: realm.to_owned(),
            allowed_usernames,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The store, re-read first when its file changed (a broken file keeps the previous store).
    fn current_store(&self) -> Arc<CredentialStore> {
        let mut guard = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(path) = &self.path {
            let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if guard.0 != mtime {
                match CredentialStore::load(path) {
                    Ok(store) => {
                        *guard = (mtime, Arc::new(store));
                        tracing::info!(path = %path.display(), "rpc sasl credentials reloaded");
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "credentials file unreadable; keeping the previous one")
                    }
                }
            }
        }
        Arc::clone(&guard.1)
    }

    /// `sasl_allowed_username_list` with libvirt's glob matching; no list allows everyone.
    pub fn username_allowed(&self, name: &str) -> bool {
        match &self.allowed_usernames {
            None => true,
            Some(patterns) => patterns
                .iter()
                .any(|p| crate::transport::tls::glob_matches(p, name)),
        }
    }

    /// Records a failure from `peer` and returns how long to hold its error reply: nothing the first time, then
    /// a doubling delay up to a cap.
    pub fn failure_delay(&self, peer: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if failures.len() >= MAX_FAILURE_SOURCES {
            failures.retain(|_, (_, last)| now.duration_since(*last) < FAILURE_MEMORY);
        }
        let entry = failures.entry(peer.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= FAILURE_MEMORY {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        match entry.0 {
            1 => Duration::ZERO,
            n => FIRST_DELAY
                .saturating_mul(1u32 << (n - 2).min(16))
                .min(MAX_DELAY),
        }
    }

    fn forget_failures(&self, peer: &str) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(peer);
    }
}

/// One connection's SASL exchange.
pub struct SaslConnection {
    settings: Arc<SaslSettings>,
    transport: SaslTransport,
    /// The client's address ("unix uid N" for local sockets): the key of the failure slow-down.
    peer: String,
    server: Option<SaslServer>,
    /// Set once the exchange succeeded: the authenticated name.
    pub username: Option<String>,
    /// The security layer to switch to after the final STEP reply went out (taken by the server loop).
    pub pending_layer: Option<SaslLayer>,
}

impl SaslConnection {
    pub fn new(settings: Arc<SaslSettings>, transport: SaslTransport, peer: String) -> Self {
        Self {
            settings,
            transport,
            peer,
            server: None,
            username: None,
            pending_layer: None,
        }
    }

    /// AUTH_SASL_INIT: a fresh exchange; the comma-separated mechanism list.
    pub fn init(&mut self) -> Result<String, SaslError> {
        if self.username.is_some() {
            return Err(SaslError::Sequence("already authenticated"));
        }
        let store = self.settings.current_store();
        let server = SaslServer::new(store, &self.settings.realm, self.transport);
        let list = server.mechanisms().join(",");
        if list.is_empty() {
            return Err(SaslError::NoCommonMechanism(String::new()));
        }
        self.server = Some(server);
        Ok(list)
    }

    /// AUTH_SASL_START.
    pub fn start(&mut self, mech: &str, data: Option<&[u8]>) -> Result<SaslStep, SaslError> {
        let server = self
            .server
            .as_mut()
            .ok_or(SaslError::Sequence("AUTH_SASL_START before AUTH_SASL_INIT"))?;
        let step = server.start(mech, data)?;
        self.finish_if_done(step)
    }

    /// AUTH_SASL_STEP.
    pub fn step(&mut self, data: Option<&[u8]>) -> Result<SaslStep, SaslError> {
        let server = self
            .server
            .as_mut()
            .ok_or(SaslError::Sequence("AUTH_SASL_STEP before AUTH_SASL_START"))?;
        let step = server.step(data)?;
        self.finish_if_done(step)
    }

    fn finish_if_done(&mut self, step: SaslStep) -> Result<SaslStep, SaslError> {
        if let SaslStep::Done(_) = step {
            let server = self
                .server
                .take()
                .ok_or(SaslError::Sequence("exchange state lost"))?;
            let name = server
                .username()
                .ok_or_else(|| SaslError::Failed("no identity".into()))?
                .to_owned();
            if !self.settings.username_allowed(&name) {
                return Err(SaslError::Failed(format!(
                    "user {name:?} is not in sasl_allowed_username_list"
                )));
            }
            self.pending_layer = server.into_layer();
            self.settings.forget_failures(&self.peer);
            tracing::info!(user = %name, peer = %self.peer, "rpc client authenticated with SASL");
            self.username = Some(name);
        }
        Ok(step)
    }

    /// After a failure: the delay to hold the error reply. The exchange cannot go on.
    pub fn fail(&mut self, reason: &SaslError) -> Duration {
        self.server = None;
        tracing::warn!(peer = %self.peer, %reason, "rpc SASL authentication failed");
        self.settings.failure_delay(&self.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_per_address_and_are_capped() {
        let settings = SaslSettings::from_store(CredentialStore::new(), "virtcim", None);
        assert_eq!(settings.failure_delay("10.0.0.1"), Duration::ZERO);
        let second = settings.failure_delay("10.0.0.1");
        let third = settings.failure_delay("10.0.0.1");
        assert!(second > Duration::ZERO && third > second);
        for _ in 0..40 {
            assert!(settings.failure_delay("10.0.0.1") <= MAX_DELAY);
        }
        // Another client is not slowed.
        assert_eq!(settings.failure_delay("10.0.0.2"), Duration::ZERO);
        settings.forget_failures("10.0.0.1");
        assert_eq!(settings.failure_delay("10.0.0.1"), Duration::ZERO);
    }

    #[test]
    fn allowed_usernames_use_globs() {
        let settings = SaslSettings::from_store(
            CredentialStore::new(),
            "virtcim",
            Some(vec!["admin".into(), "ops-*".into()]),
        );
        assert!(settings.username_allowed("admin"));
        assert!(settings.username_allowed("ops-alice"));
        assert!(!settings.username_allowed("bob"));
        let open = SaslSettings::from_store(CredentialStore::new(), "virtcim", None);
        assert!(open.username_allowed("anyone"));
    }

    #[test]
    fn connection_exchange_checks_the_allow_list() {
        let mut store = CredentialStore::new();
        store.add_user("alice", "pw", &[]).unwrap();
        store.add_user("bob", "pw", &[]).unwrap();
        let settings = Arc::new(SaslSettings::from_store(
            store,
            "virtcim",
            Some(vec!["alice".into()]),
        ));
        for (user, ok) in [("alice", true), ("bob", false)] {
            let mut conn = SaslConnection::new(settings.clone(), SaslTransport::Tls, "x".into());
            assert_eq!(conn.init().unwrap(), "SCRAM-SHA-256,DIGEST-MD5,PLAIN");
            let initial = format!("\0{user}\0pw");
            let result = conn.start("PLAIN", Some(initial.as_bytes()));
            assert_eq!(result.is_ok(), ok, "{user}");
            assert_eq!(conn.username.is_some(), ok);
        }
    }
}
