//! The host's secrets (`virSecret*`): definitions in `DIR/UUID.xml`, values sealed at rest in `DIR/UUID.value`
//! (see [`vault`]), ephemeral secrets in memory only, with libvirt's secret driver rules: a usage belongs to one
//! secret, a private secret's value never leaves the daemon, a secret's private flag cannot be dropped.

mod vault;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use uuid::Uuid;

use tokio::sync::broadcast;

use crate::driver::{object_flags as f, SecretDriver, SecretEvent, SecretEventKind, SecretRef};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{format_secret, parse_secret, SecretDef};
use crate::persist;
use vault::{Vault, VaultError};

/// One secret: its definition and, once set, its value.
struct Entry {
    def: SecretDef,
    value: Option<Vec<u8>>,
}

impl Entry {
    fn handle(&self) -> SecretRef {
        let (usage_type, usage_id) = self.def.usage_key();
        SecretRef {
            uuid: self.def.uuid,
            usage_type,
            usage_id: usage_id.to_string(),
        }
    }
}

/// The secrets of one host driver set.
pub struct SecretStore {
    dir: PathBuf,
    state: Mutex<State>,
    events: broadcast::Sender<SecretEvent>,
}

struct State {
    secrets: BTreeMap<Uuid, Entry>,
    /// Made on first use: a host that never stores a value has no key file.
    vault: Option<Vault>,
}

fn no_secret_uuid(uuid: &Uuid) -> Error {
    Error::with_detail(
        ErrorCode::NO_SECRET,
        ErrorDomain::SECRET,
        format!("no secret with matching uuid '{uuid}'"),
    )
}

fn internal(detail: impl AsRef<str>) -> Error {
    Error::internal(ErrorDomain::SECRET, detail)
}

fn check_flags(given: u32, allowed: u32, api: &str) -> Result<()> {
    if given & !allowed != 0 {
        return Err(Error::invalid_arg(
            ErrorDomain::SECRET,
            format!(
                "unsupported flags (0x{:x}) in function {api}",
                given & !allowed
            ),
        ));
    }
    Ok(())
}

fn io_err(context: String, err: &std::io::Error) -> Error {
    Error::system(ErrorDomain::SECRET, context, err)
}

/// An error with its sources, as one line.
fn chain_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&crate::error::io_error_text(&std::io::Error::other(
            cause.to_string(),
        )));
        source = cause.source();
    }
    text
}

fn vault_err(err: &VaultError) -> Error {
    internal(chain_text(err))
}

/// Events buffered per subscriber before a slow one starts missing some.
const EVENT_QUEUE: usize = 256;
/// `VIR_SECRET_EVENT_DEFINED`, `VIR_SECRET_EVENT_UNDEFINED`.
const EVENT_DEFINED: i32 = 0;
const EVENT_UNDEFINED: i32 = 1;

fn config_name(uuid: &Uuid) -> String {
    format!("{uuid}.xml")
}

fn value_name(uuid: &Uuid) -> String {
    format!("{uuid}.value")
}

impl SecretStore {
    /// Opens (creating, 0700) the secrets directory and loads every persistent secret in it. A definition or
    /// value that cannot be read is skipped with a log line; the others load.
    pub fn open(dir: &Path) -> Result<Self> {
        persist::create_private_dir(dir).map_err(|e| {
            io_err(
                format!("cannot create config directory '{}'", dir.display()),
                &e,
            )
        })?;
        let _ = persist::remove_temp_files(dir);
        let vault = if dir.join(vault::KEY_FILE).exists() {
            match Vault::open_or_create(dir) {
                Ok(vault) => Some(vault),
                Err(err) => {
                    tracing::error!(err = %chain_text(&err), "secret values cannot be read");
                    None
                }
            }
        } else {
            None
        };
        let mut secrets = BTreeMap::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| io_err(format!("cannot read directory '{}'", dir.display()), &e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".xml") else {
                continue;
            };
            let path = entry.path();
            let def = match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|xml| parse_secret(&xml, false).map_err(|e| e.message))
            {
                Ok(def) if def.uuid.to_string() == stem && !def.ephemeral => def,
                Ok(_) => {
                    tracing::warn!(file = %path.display(), "secret file name does not match its definition, skipped");
                    continue;
                }
                Err(err) => {
                    tracing::warn!(file = %path.display(), %err, "unreadable secret definition skipped");
                    continue;
                }
            };
            let value = match std::fs::read(dir.join(value_name(&def.uuid))) {
                Ok(sealed) => match vault.as_ref().map(|v| v.open(&def.uuid, &sealed)) {
                    Some(Ok(value)) => Some(value),
                    Some(Err(err)) => {
                        tracing::warn!(uuid = %def.uuid, %err, "secret value cannot be opened, left unset");
                        None
                    }
                    None => {
                        tracing::warn!(uuid = %def.uuid, "secret value without a master key, left unset");
                        None
                    }
                },
                Err(_) => None,
            };
            secrets.insert(def.uuid, Entry { def, value });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            state: Mutex::new(State { secrets, vault }),
            events: broadcast::channel(EVENT_QUEUE).0,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn save_config(&self, def: &SecretDef) -> Result<()> {
        persist::write_atomic(
            &self.dir,
            &config_name(&def.uuid),
            format_secret(def).as_bytes(),
        )
        .map_err(|e| io_err(format!("cannot write secret definition '{}'", def.uuid), &e))
    }

    fn save_value(&self, state: &mut State, uuid: &Uuid, value: &[u8]) -> Result<()> {
        if state.vault.is_none() {
            state.vault = Some(Vault::open_or_create(&self.dir).map_err(|e| vault_err(&e))?);
        }
        let Some(vault) = state.vault.as_ref() else {
            return Err(internal("the secrets master key is not available"));
        };
        let sealed = vault.seal(uuid, value);
        persist::write_atomic(&self.dir, &value_name(uuid), &sealed)
            .map_err(|e| io_err(format!("cannot write secret value '{uuid}'"), &e))
    }

    fn delete_files(&self, uuid: &Uuid) -> Result<()> {
        persist::remove_durable(&self.dir, &config_name(uuid))
            .map_err(|e| io_err(format!("cannot delete secret definition '{uuid}'"), &e))?;
        // As libvirt, a value file that will not go is not worth failing for once the definition is gone.
        let _ = persist::remove_durable(&self.dir, &value_name(uuid));
        Ok(())
    }

    /// Checks that every secret a guest's disks name exists and has a value, as libvirt's QEMU driver does before
    /// it starts a guest (the daemon's own read: private secrets count too). The error is the lookup's.
    pub fn check_guest(&self, def: &crate::model::DomainDef) -> Result<()> {
        let state = self.lock();
        for disk in &def.devices.disks {
            let encryption = disk.encryption.iter().flat_map(|e| e.secrets.iter());
            let auth = disk.auth.iter().map(|a| &a.secret);
            for wanted in encryption.chain(auth) {
                let entry = match (&wanted.uuid, &wanted.usage) {
                    (Some(uuid), _) => state
                        .secrets
                        .get(uuid)
                        .ok_or_else(|| no_secret_uuid(uuid))?,
                    (None, Some(usage)) => {
                        let usage_type = match wanted.secret_type.as_deref() {
                            Some("ceph") => 2,
                            Some("iscsi") => 3,
                            Some("tls") => 4,
                            Some("vtpm") => 5,
                            _ => 1,
                        };
                        state
                            .secrets
                            .values()
                            .find(|e| e.def.usage_key() == (usage_type, usage.as_str()))
                            .ok_or_else(|| {
                                Error::with_detail(
                                    ErrorCode::NO_SECRET,
                                    ErrorDomain::SECRET,
                                    format!("no secret with matching usage '{usage}'"),
                                )
                            })?
                    }
                    (None, None) => continue,
                };
                if entry.value.is_none() {
                    return Err(Error::with_detail(
                        ErrorCode::NO_SECRET,
                        ErrorDomain::SECRET,
                        format!("secret '{}' does not have a value", entry.def.uuid),
                    ));
                }
            }
        }
        Ok(())
    }

    fn define(&self, xml: &str, flags: u32) -> Result<SecretRef> {
        check_flags(flags, f::SECRET_DEFINE_VALIDATE, "secretDefineXML")?;
        let def = parse_secret(xml, flags & f::SECRET_DEFINE_VALIDATE != 0)?;
        let mut state = self.lock();
        let new_id = def.usage.as_ref().map(|u| u.id().to_string());
        let old = match state.secrets.get(&def.uuid) {
            Some(old) => {
                let old_id = old.def.usage.as_ref().map(|u| u.id().to_string());
                if old_id != new_id {
                    return Err(internal(format!(
                        "a secret with UUID {} is already defined for use with {}",
                        def.uuid,
                        old_id.as_deref().unwrap_or("(null)")
                    )));
                }
                if old.def.private && !def.private {
                    return Err(internal("cannot change private flag on existing secret"));
                }
                Some(old.def.clone())
            }
            None => {
                if let Some(usage) = &def.usage {
                    let clash = state.secrets.values().find(|e| {
                        e.def.usage.as_ref().is_some_and(|u| {
                            u.type_number() == usage.type_number() && u.id() == usage.id()
                        })
                    });
                    if let Some(clash) = clash {
                        return Err(internal(format!(
                            "a secret with UUID {} already defined for use with {}",
                            clash.def.uuid,
                            usage.id()
                        )));
                    }
                }
                None
            }
        };
        let value = state.secrets.get(&def.uuid).and_then(|e| e.value.clone());
        if !def.ephemeral {
            // An ephemeral secret made persistent brings its value to disk first.
            let was_ephemeral = old.as_ref().is_some_and(|o| o.ephemeral);
            if was_ephemeral {
                if let Some(value) = &value {
                    self.save_value(&mut state, &def.uuid, value)?;
                }
            }
            if let Err(err) = self.save_config(&def) {
                if was_ephemeral {
                    let _ = persist::remove_durable(&self.dir, &value_name(&def.uuid));
                }
                return Err(err);
            }
        } else if old.as_ref().is_some_and(|o| !o.ephemeral) {
            // A persistent secret made ephemeral leaves the disk.
            self.delete_files(&def.uuid)?;
        }
        let entry = Entry { def, value };
        let handle = entry.handle();
        state.secrets.insert(entry.def.uuid, entry);
        self.emit(
            &handle,
            SecretEventKind::Lifecycle {
                event: EVENT_DEFINED,
                detail: 0,
            },
        );
        Ok(handle)
    }

    fn emit(&self, secret: &SecretRef, kind: SecretEventKind) {
        // No subscriber is not an error.
        let _ = self.events.send(SecretEvent {
            secret: secret.clone(),
            kind,
        });
    }

    fn find<'a>(state: &'a State, secret: &SecretRef) -> Result<&'a Entry> {
        state
            .secrets
            .get(&secret.uuid)
            .ok_or_else(|| no_secret_uuid(&secret.uuid))
    }
}

#[async_trait]
impl SecretDriver for SecretStore {
    async fn list_all_secrets(&self, flags: u32) -> Result<Vec<SecretRef>> {
        check_flags(flags, f::LIST_SECRETS_ALL, "secretConnectListAllSecrets")?;
        let keep = |on: bool, yes: u32, no: u32| {
            let (want_yes, want_no) = (flags & yes != 0, flags & no != 0);
            // Both or neither of a pair: no filter on that property.
            want_yes == want_no || (on && want_yes) || (!on && want_no)
        };
        Ok(self
            .lock()
            .secrets
            .values()
            .filter(|e| {
                keep(
                    e.def.ephemeral,
                    f::LIST_SECRETS_EPHEMERAL,
                    f::LIST_SECRETS_NO_EPHEMERAL,
                ) && keep(
                    e.def.private,
                    f::LIST_SECRETS_PRIVATE,
                    f::LIST_SECRETS_NO_PRIVATE,
                )
            })
            .map(Entry::handle)
            .collect())
    }

    async fn secret_lookup_by_uuid(&self, uuid: &Uuid) -> Result<SecretRef> {
        let state = self.lock();
        let entry = state
            .secrets
            .get(uuid)
            .ok_or_else(|| no_secret_uuid(uuid))?;
        Ok(entry.handle())
    }

    async fn secret_lookup_by_usage(&self, usage_type: i32, usage_id: &str) -> Result<SecretRef> {
        let state = self.lock();
        state
            .secrets
            .values()
            .find(|e| {
                e.def
                    .usage
                    .as_ref()
                    .is_some_and(|u| u.type_number() == usage_type && u.id() == usage_id)
            })
            .map(Entry::handle)
            .ok_or_else(|| {
                Error::with_detail(
                    ErrorCode::NO_SECRET,
                    ErrorDomain::SECRET,
                    format!("no secret with matching usage '{usage_id}'"),
                )
            })
    }

    async fn secret_define_xml(&self, xml: &str, flags: u32) -> Result<SecretRef> {
        self.define(xml, flags)
    }

    async fn secret_get_xml_desc(&self, secret: &SecretRef, flags: u32) -> Result<String> {
        check_flags(flags, 0, "secretGetXMLDesc")?;
        let state = self.lock();
        Ok(format_secret(&Self::find(&state, secret)?.def))
    }

    async fn secret_set_value(&self, secret: &SecretRef, value: &[u8], flags: u32) -> Result<()> {
        check_flags(flags, 0, "secretSetValue")?;
        let mut state = self.lock();
        let ephemeral = Self::find(&state, secret)?.def.ephemeral;
        if !ephemeral {
            self.save_value(&mut state, &secret.uuid, value)?;
        }
        if let Some(entry) = state.secrets.get_mut(&secret.uuid) {
            entry.value = Some(value.to_vec());
            let handle = entry.handle();
            self.emit(&handle, SecretEventKind::ValueChanged);
        }
        Ok(())
    }

    async fn secret_get_value(&self, secret: &SecretRef, flags: u32) -> Result<Vec<u8>> {
        check_flags(flags, 0, "secretGetValue")?;
        let state = self.lock();
        let entry = Self::find(&state, secret)?;
        if entry.def.private {
            return Err(Error::with_detail(
                ErrorCode::INVALID_SECRET,
                ErrorDomain::SECRET,
                "secret is private",
            ));
        }
        entry.value.clone().ok_or_else(|| {
            Error::with_detail(
                ErrorCode::NO_SECRET,
                ErrorDomain::SECRET,
                format!("secret '{}' does not have a value", secret.uuid),
            )
        })
    }

    async fn secret_undefine(&self, secret: &SecretRef) -> Result<()> {
        let mut state = self.lock();
        let entry = Self::find(&state, secret)?;
        let (ephemeral, handle) = (entry.def.ephemeral, entry.handle());
        if !ephemeral {
            self.delete_files(&secret.uuid)?;
        }
        state.secrets.remove(&secret.uuid);
        self.emit(
            &handle,
            SecretEventKind::Lifecycle {
                event: EVENT_UNDEFINED,
                detail: 0,
            },
        );
        Ok(())
    }

    async fn secret_event_subscribe(&self) -> Result<broadcast::Receiver<SecretEvent>> {
        Ok(self.events.subscribe())
    }
}

#[cfg(test)]
mod tests;
