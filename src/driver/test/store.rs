//! The test driver's files: one JSON record per object under the state dir, written through `persist`, and the
//! loader that rebuilds the world from them, skipping (and reporting) what does not parse.
//!
//! Layout: `meta.json` (next domain id), `domains/<uuid>.json`, `networks/<uuid>.json`, `pools/<uuid>.json`,
//! `volumes/<file id>.json` (a volume names its pool by UUID). Definitions are kept as XML, the form every other
//! tool reads, next to the live state.

use super::world::{DomainObj, NetworkObj, Persist, PoolObj, VolumeObj, World};
use crate::driver::DomainState;
use crate::error::{Error, ErrorDomain, Result};
use crate::model::{DomainDef, DomainXmlOptions, NetworkDef, PoolDef, VolumeDef};
use crate::persist;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use uuid::Uuid;

const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaFile {
    version: u32,
    next_domain_id: i32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainFile {
    version: u32,
    /// The definition used at the next start; absent for a transient domain.
    persistent_xml: Option<String>,
    /// The running definition; present exactly while the domain is active.
    live_xml: Option<String>,
    state: i32,
    reason: i32,
    id: i32,
    autostart: bool,
    /// CPU time used up to `running_since_ms` (or in total when not running).
    cpu_time_ns: u64,
    /// Wall-clock ms since the epoch when the domain last began running; absent unless running.
    running_since_ms: Option<u64>,
    /// The domain's snapshots as `<domainsnapshot>` XML, parents first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    snapshots: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current_snapshot: Option<String>,
    /// A managed save image exists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    managed_save: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    version: u32,
    xml: String,
    persistent: bool,
    active: bool,
    autostart: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolFile {
    version: u32,
    xml: String,
    persistent: bool,
    active: bool,
    autostart: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VolumeFile {
    version: u32,
    pool: Uuid,
    xml: String,
}

/// Where each kind of record lives, and the writes and removals of single records.
pub(super) struct Store {
    root: PathBuf,
}

const DOMAINS: &str = "domains";
const NETWORKS: &str = "networks";
const POOLS: &str = "pools";
const VOLUMES: &str = "volumes";
const META: &str = "meta.json";

/// Definitions are written with secrets included: the file is private (0600) and must restore everything.
const FULL_XML: DomainXmlOptions = DomainXmlOptions {
    id: None,
    secure: true,
};

fn write_error(path: &Path, err: &std::io::Error) -> Error {
    Error::system(
        ErrorDomain::TEST,
        format!("cannot save {}", path.display()),
        err,
    )
}

fn remove_error(path: &Path, err: &std::io::Error) -> Error {
    Error::system(
        ErrorDomain::TEST,
        format!("cannot remove {}", path.display()),
        err,
    )
}

impl Store {
    pub(super) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// Creates the sub-directories (0700) and removes temp files left by a crash.
    pub(super) fn prepare(&self) -> Result<()> {
        for sub in [DOMAINS, NETWORKS, POOLS, VOLUMES] {
            let dir = self.root.join(sub);
            persist::create_private_dir(&dir).map_err(|e| write_error(&dir, &e))?;
        }
        for dir in [
            self.root.clone(),
            self.root.join(DOMAINS),
            self.root.join(NETWORKS),
            self.root.join(POOLS),
            self.root.join(VOLUMES),
        ] {
            let removed = persist::remove_temp_files(&dir).map_err(|e| remove_error(&dir, &e))?;
            if removed > 0 {
                tracing::info!(dir = %dir.display(), removed, "removed temp files left by an interrupted write");
            }
        }
        Ok(())
    }

    fn write_json(&self, sub: Option<&str>, name: &str, value: &impl Serialize) -> Result<()> {
        let dir = match sub {
            Some(sub) => self.root.join(sub),
            None => self.root.clone(),
        };
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| {
            Error::internal(ErrorDomain::TEST, format!("cannot encode {name}: {e}"))
        })?;
        persist::write_atomic(&dir, name, &bytes).map_err(|e| write_error(&dir.join(name), &e))
    }

    fn remove(&self, sub: &str, name: &str) -> Result<()> {
        let dir = self.root.join(sub);
        persist::remove_durable(&dir, name).map_err(|e| remove_error(&dir.join(name), &e))
    }

    /// Whether the state dir has never held a world (no meta file, no records): then the default world is made.
    pub(super) fn is_empty(&self) -> bool {
        if self.root.join(META).exists() {
            return false;
        }
        [DOMAINS, NETWORKS, POOLS, VOLUMES].iter().all(|sub| {
            std::fs::read_dir(self.root.join(sub))
                .map(|mut entries| entries.next().is_none())
                .unwrap_or(true)
        })
    }

    /// Reads every record into `world`. A file that cannot be read or parsed is skipped with a warning (also
    /// returned, for callers that report it); the others load.
    pub(super) fn load(&self, world: &mut World) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut warn = |path: &Path, why: String| {
            tracing::warn!(file = %path.display(), "skipping unreadable state file: {why}");
            warnings.push(format!("{}: {why}", path.display()));
        };

        let meta_path = self.root.join(META);
        let mut next_id = 1;
        if meta_path.exists() {
            match read_json::<MetaFile>(&meta_path) {
                Ok(meta) => next_id = meta.next_domain_id.max(1),
                Err(why) => warn(&meta_path, why),
            }
        }

        for path in self.record_files(DOMAINS, &mut warn) {
            match read_json::<DomainFile>(&path).and_then(domain_from_file) {
                Ok(dom) => {
                    if let Err(why) = world.insert_loaded_domain(dom) {
                        warn(&path, why);
                    }
                }
                Err(why) => warn(&path, why),
            }
        }
        // Ids are never reused, even if the meta file lags behind a domain record.
        world.next_domain_id = next_id.max(world.max_domain_id().saturating_add(1));

        for path in self.record_files(NETWORKS, &mut warn) {
            let loaded = read_json::<NetworkFile>(&path).and_then(|file| {
                let def = NetworkDef::from_xml(&file.xml, false).map_err(|e| e.message)?;
                Ok(NetworkObj {
                    def,
                    persistent: file.persistent,
                    active: file.active || !file.persistent,
                    autostart: file.autostart && file.persistent,
                })
            });
            match loaded.and_then(|net| world.insert_loaded_network(net)) {
                Ok(()) => {}
                Err(why) => warn(&path, why),
            }
        }

        for path in self.record_files(POOLS, &mut warn) {
            let loaded = read_json::<PoolFile>(&path).and_then(|file| {
                let def = PoolDef::from_xml(&file.xml, false).map_err(|e| e.message)?;
                Ok(PoolObj {
                    def,
                    persistent: file.persistent,
                    active: file.active || !file.persistent,
                    autostart: file.autostart && file.persistent,
                })
            });
            match loaded.and_then(|pool| world.insert_loaded_pool(pool)) {
                Ok(()) => {}
                Err(why) => warn(&path, why),
            }
        }

        for path in self.record_files(VOLUMES, &mut warn) {
            let file_id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| Uuid::parse_str(s).ok());
            let loaded = read_json::<VolumeFile>(&path).and_then(|file| {
                let def = VolumeDef::from_xml(&file.xml, false).map_err(|e| e.message)?;
                let file_id = file_id.ok_or_else(|| "file name is not a UUID".to_string())?;
                Ok(VolumeObj {
                    pool: file.pool,
                    def,
                    file_id,
                })
            });
            match loaded.and_then(|vol| world.insert_loaded_volume(vol)) {
                Ok(()) => {}
                Err(why) => warn(&path, why),
            }
        }
        world.recompute_pool_allocations();
        warnings
    }

    /// The `*.json` files of a sub-directory, in name order (temp files were removed already).
    fn record_files(&self, sub: &str, warn: &mut impl FnMut(&Path, String)) -> Vec<PathBuf> {
        let dir = self.root.join(sub);
        let mut files = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let path = entry.path();
                    let is_record = path.extension().is_some_and(|e| e == "json")
                        && entry
                            .file_name()
                            .to_str()
                            .is_some_and(|n| !persist::is_temp_name(n));
                    if is_record {
                        files.push(path);
                    }
                }
            }
            Err(err) => warn(&dir, crate::error::io_error_text(&err)),
        }
        files.sort();
        files
    }
}

impl Persist for Store {
    fn root(&self) -> &Path {
        &self.root
    }

    fn save_meta(&self, next_domain_id: i32) -> Result<()> {
        let meta = MetaFile {
            version: FORMAT_VERSION,
            next_domain_id,
        };
        self.write_json(None, META, &meta)
    }

    fn save_domain(&self, dom: &DomainObj) -> Result<()> {
        let file = DomainFile {
            version: FORMAT_VERSION,
            persistent_xml: dom.persistent_def.as_ref().map(|d| d.to_xml(&FULL_XML)),
            live_xml: dom.live_def.as_ref().map(|d| d.to_xml(&FULL_XML)),
            state: dom.state as i32,
            reason: dom.reason,
            id: dom.id,
            autostart: dom.autostart,
            cpu_time_ns: dom.cpu_time_ns,
            running_since_ms: dom.running_since_ms,
            snapshots: dom.snapshots.list.iter().map(|s| s.to_xml(true)).collect(),
            current_snapshot: dom.snapshots.current.clone(),
            managed_save: dom.managed_save,
        };
        self.write_json(Some(DOMAINS), &format!("{}.json", dom.uuid()), &file)
    }

    fn remove_domain(&self, uuid: &Uuid) -> Result<()> {
        self.remove(DOMAINS, &format!("{uuid}.json"))
    }

    fn save_network(&self, net: &NetworkObj) -> Result<()> {
        let file = NetworkFile {
            version: FORMAT_VERSION,
            xml: net.def.to_xml(),
            persistent: net.persistent,
            active: net.active,
            autostart: net.autostart,
        };
        self.write_json(Some(NETWORKS), &format!("{}.json", net.def.uuid), &file)
    }

    fn remove_network(&self, uuid: &Uuid) -> Result<()> {
        self.remove(NETWORKS, &format!("{uuid}.json"))
    }

    fn save_pool(&self, pool: &PoolObj) -> Result<()> {
        let file = PoolFile {
            version: FORMAT_VERSION,
            xml: pool.def.to_xml(),
            persistent: pool.persistent,
            active: pool.active,
            autostart: pool.autostart,
        };
        self.write_json(Some(POOLS), &format!("{}.json", pool.def.uuid), &file)
    }

    fn remove_pool(&self, uuid: &Uuid) -> Result<()> {
        self.remove(POOLS, &format!("{uuid}.json"))
    }

    fn save_volume(&self, vol: &VolumeObj) -> Result<()> {
        let file = VolumeFile {
            version: FORMAT_VERSION,
            pool: vol.pool,
            xml: vol.def.to_xml(),
        };
        self.write_json(Some(VOLUMES), &format!("{}.json", vol.file_id), &file)
    }

    fn remove_volume(&self, file_id: &Uuid) -> Result<()> {
        self.remove(VOLUMES, &format!("{file_id}.json"))
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> std::result::Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| crate::error::io_error_text(&e))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not a valid record: {e}"))
}

fn domain_from_file(file: DomainFile) -> std::result::Result<DomainObj, String> {
    let parse = |xml: &Option<String>| -> std::result::Result<Option<DomainDef>, String> {
        xml.as_deref()
            .map(|x| DomainDef::from_xml(x, false).map_err(|e| e.message))
            .transpose()
    };
    let persistent_def = parse(&file.persistent_xml)?;
    let live_def = parse(&file.live_xml)?;
    let state =
        DomainState::from_i32(file.state).ok_or_else(|| format!("unknown state {}", file.state))?;
    if persistent_def.is_none() && live_def.is_none() {
        return Err("record holds no definition".into());
    }
    if state.is_active() != live_def.is_some() || (state.is_active() && file.id < 1) {
        return Err("live state and definitions disagree".into());
    }
    if let (Some(p), Some(l)) = (&persistent_def, &live_def) {
        if p.uuid != l.uuid {
            return Err("live and persistent definitions have different UUIDs".into());
        }
    }
    let mut snapshots = super::world::Snapshots {
        current: file.current_snapshot,
        ..Default::default()
    };
    for xml in &file.snapshots {
        let snap = crate::model::SnapshotDef::from_xml(xml, true)
            .map_err(|e| format!("bad snapshot: {}", e.message))?;
        snapshots.list.push(snap);
    }
    Ok(DomainObj {
        snapshots,
        managed_save: file.managed_save && !state.is_active(),
        persistent_def,
        live_def,
        state,
        reason: file.reason,
        id: if state.is_active() { file.id } else { -1 },
        autostart: file.autostart,
        cpu_time_ns: file.cpu_time_ns,
        running_since_ms: file
            .running_since_ms
            .filter(|_| state == DomainState::Running),
    })
}
