//! The host's storage driver: `dir`, `fs` and `logical` pools with their volumes, shared by every
//! `qemu:///` connection of a host as libvirt's storage driver is. Pool definitions live in `ROOT/storage/NAME.json`
//! (atomic; transient pools too while they run, so a restarted daemon finds them), volumes are whatever the
//! pool holds on the host, listed at start and refresh. Lifecycle and refresh events go to subscribers.

mod backend;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Mutex};
use uuid::Uuid;

use crate::driver::{
    flags, pool_event, pool_state, PoolEvent, PoolEventKind, PoolInfo, PoolRef, StorageDriver,
    VolumeInfo, VolumeRef,
};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{validate_name, PoolDef, VolumeDef};
use crate::persist;
use backend::Sizes;

/// Pool events buffered per subscriber.
const EVENT_QUEUE: usize = 256;

pub(super) fn sys(context: String, err: &std::io::Error) -> Error {
    Error::system(ErrorDomain::STORAGE, context, err)
}

pub(super) fn failed(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::OPERATION_FAILED, ErrorDomain::STORAGE, detail)
}

fn invalid(detail: impl AsRef<str>) -> Error {
    Error::operation_invalid(ErrorDomain::STORAGE, detail)
}

fn check_flags(given: u32, allowed: u32, api: &str) -> Result<()> {
    let unknown = given & !allowed;
    if unknown != 0 {
        return Err(Error::new(
            ErrorCode::INVALID_ARG,
            ErrorDomain::STORAGE,
            format!("unsupported flags (0x{unknown:x}) in function {api}"),
        ));
    }
    Ok(())
}

fn exclusive(given: u32, a: (u32, &str), b: (u32, &str)) -> Result<()> {
    if given & a.0 != 0 && given & b.0 != 0 {
        return Err(Error::invalid_arg(
            ErrorDomain::STORAGE,
            format!("Flags '{}' and '{}' are mutually exclusive", a.1, b.1),
        ));
    }
    Ok(())
}

fn no_vol(detail: String) -> Error {
    Error::with_detail(ErrorCode::NO_STORAGE_VOL, ErrorDomain::STORAGE, detail)
}

fn no_pool(detail: String) -> Error {
    Error::with_detail(ErrorCode::NO_STORAGE_POOL, ErrorDomain::STORAGE, detail)
}

/// One volume as last seen on the host.
#[derive(Clone, Debug)]
pub(super) struct Vol {
    pub name: String,
    pub key: String,
    pub path: String,
    /// A [`crate::driver::vol_type`] value.
    pub kind: i32,
    /// The image format of a file volume.
    pub format: Option<String>,
    pub capacity: u64,
    pub allocation: u64,
}

impl Vol {
    fn xml(&self) -> String {
        VolumeDef {
            vol_type: if self.kind == crate::driver::vol_type::BLOCK {
                "block".into()
            } else {
                "file".into()
            },
            name: self.name.clone(),
            key: Some(self.key.clone()),
            capacity: self.capacity,
            allocation: Some(self.allocation),
            path: Some(self.path.clone()),
            format: self.format.clone(),
        }
        .to_xml()
    }
}

struct PoolObj {
    def: PoolDef,
    active: bool,
    persistent: bool,
    autostart: bool,
    sizes: Sizes,
    volumes: BTreeMap<String, Vol>,
}

impl PoolObj {
    fn handle(&self) -> PoolRef {
        PoolRef {
            name: self.def.name.clone(),
            uuid: self.def.uuid,
        }
    }

    fn vol_handle(&self, vol: &Vol) -> VolumeRef {
        VolumeRef {
            pool: self.def.name.clone(),
            name: vol.name.clone(),
            key: vol.key.clone(),
        }
    }

    fn check_active(&self) -> Result<()> {
        if !self.active {
            return Err(invalid(format!(
                "storage pool '{}' is not active",
                self.def.name
            )));
        }
        Ok(())
    }

    fn check_inactive(&self, what: &str) -> Result<()> {
        if self.active {
            return Err(invalid(format!(
                "storage pool '{}' is {what}",
                self.def.name
            )));
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolFile {
    version: u32,
    xml: String,
    active: bool,
    #[serde(default = "yes")]
    persistent: bool,
    #[serde(default)]
    autostart: bool,
}

fn yes() -> bool {
    true
}

/// The host's storage driver (see the module documentation).
pub struct StorageHost {
    dir: PathBuf,
    pools: Mutex<BTreeMap<String, PoolObj>>,
    events: broadcast::Sender<PoolEvent>,
}

impl StorageHost {
    /// Opens the driver on `dir` (made if missing): loads the pools, finds the active ones again (refreshing
    /// their volumes) and starts the autostart ones.
    pub async fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            sys(
                format!("cannot create config directory {}", dir.display()),
                &e,
            )
        })?;
        let (events, _) = broadcast::channel(EVENT_QUEUE);
        let host = Self {
            dir: dir.to_path_buf(),
            pools: Mutex::new(BTreeMap::new()),
            events,
        };
        let mut pools = host.pools.lock().await;
        for (def, file) in host.load() {
            let mut obj = PoolObj {
                def,
                active: false,
                persistent: file.persistent,
                autostart: file.autostart,
                sizes: Sizes::default(),
                volumes: BTreeMap::new(),
            };
            if file.active && backend::still_started(&obj.def).await {
                obj.active = true;
            } else if obj.autostart && obj.persistent {
                match backend::start(&obj.def).await {
                    Ok(()) => obj.active = true,
                    Err(err) => {
                        tracing::warn!(pool = %obj.def.name, %err, "cannot autostart storage pool")
                    }
                }
            }
            if obj.active {
                if let Err(err) = Self::refresh_obj(&mut obj).await {
                    tracing::warn!(pool = %obj.def.name, %err, "storage pool cannot be refreshed; stopping it");
                    let _ = backend::stop(&obj.def).await;
                    obj.active = false;
                }
            }
            if !obj.active && !obj.persistent {
                let _ = persist::remove_durable(&host.dir, &format!("{}.json", obj.def.name));
                continue;
            }
            if obj.active != file.active {
                if let Err(err) = host.save(&obj) {
                    tracing::warn!(pool = %obj.def.name, %err, "cannot record storage pool state");
                }
            }
            pools.insert(obj.def.name.clone(), obj);
        }
        drop(pools);
        Ok(host)
    }

    fn load(&self) -> Vec<(PoolDef, PoolFile)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !name.ends_with(".json") || persist::is_temp_name(&name) {
                continue;
            }
            let loaded = std::fs::read(entry.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<PoolFile>(&b).ok())
                .and_then(|f| PoolDef::from_xml(&f.xml, false).ok().map(|d| (d, f)));
            match loaded {
                Some((def, file)) if format!("{}.json", def.name) == name => {
                    found.push((def, file))
                }
                _ => {
                    tracing::warn!(file = %entry.path().display(), "skipping unreadable storage pool file")
                }
            }
        }
        found
    }

    fn save(&self, obj: &PoolObj) -> Result<()> {
        let file = PoolFile {
            version: 1,
            xml: obj.def.to_xml(),
            active: obj.active,
            persistent: obj.persistent,
            autostart: obj.autostart,
        };
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| Error::internal(ErrorDomain::STORAGE, e.to_string()))?;
        let name = format!("{}.json", obj.def.name);
        persist::write_atomic(&self.dir, &name, &bytes).map_err(|e| {
            sys(
                format!("cannot save {}", self.dir.join(&name).display()),
                &e,
            )
        })
    }

    fn forget(&self, name: &str) -> Result<()> {
        let file = format!("{name}.json");
        persist::remove_durable(&self.dir, &file)
            .map_err(|e| sys(format!("cannot remove config for {name}"), &e))
    }

    fn emit(&self, pool: PoolRef, kind: PoolEventKind) {
        // No subscriber is fine.
        let _ = self.events.send(PoolEvent { pool, kind });
    }

    fn lifecycle(&self, obj: &PoolObj, event: i32) {
        self.emit(obj.handle(), PoolEventKind::Lifecycle { event, detail: 0 });
    }

    async fn refresh_obj(obj: &mut PoolObj) -> Result<()> {
        let (sizes, vols) = backend::refresh(&obj.def).await?;
        obj.sizes = sizes;
        obj.volumes = vols.into_iter().map(|v| (v.name.clone(), v)).collect();
        Ok(())
    }

    /// Pool sizes after a volume changed; a failure keeps the old figures.
    async fn update_sizes(obj: &mut PoolObj) {
        if let Ok(sizes) = backend::sizes(&obj.def).await {
            obj.sizes = sizes;
        }
    }

    fn find<'a>(pools: &'a BTreeMap<String, PoolObj>, pool: &PoolRef) -> Result<&'a PoolObj> {
        pools
            .values()
            .find(|p| p.def.uuid == pool.uuid)
            .ok_or_else(|| no_pool_uuid(pool))
    }

    fn find_mut<'a>(
        pools: &'a mut BTreeMap<String, PoolObj>,
        pool: &PoolRef,
    ) -> Result<&'a mut PoolObj> {
        pools
            .values_mut()
            .find(|p| p.def.uuid == pool.uuid)
            .ok_or_else(|| no_pool_uuid(pool))
    }

    /// The (active) pool of a volume handle and the volume's name in it.
    fn vol_pool<'a>(
        pools: &'a mut BTreeMap<String, PoolObj>,
        vol: &VolumeRef,
    ) -> Result<&'a mut PoolObj> {
        let obj = pools
            .get_mut(&vol.pool)
            .ok_or_else(|| no_pool(format!("no storage pool with matching name '{}'", vol.pool)))?;
        obj.check_active()?;
        if !obj.volumes.contains_key(&vol.name) {
            return Err(no_vol(format!(
                "no storage vol with matching name '{}'",
                vol.name
            )));
        }
        Ok(obj)
    }

    /// libvirt's duplicate checks: the same UUID under another name, the same name under another UUID, and
    /// another pool on the same target or source. `Some(true)` when the pool exists and is active.
    fn check_duplicate(pools: &BTreeMap<String, PoolObj>, def: &PoolDef) -> Result<Option<bool>> {
        let mut existing = None;
        for obj in pools.values() {
            if obj.def.uuid == def.uuid && obj.def.name != def.name {
                return Err(failed(format!(
                    "pool '{}' is already defined with uuid {}",
                    obj.def.name, def.uuid
                )));
            }
            if obj.def.name == def.name {
                if obj.def.uuid != def.uuid {
                    return Err(failed(format!(
                        "pool '{}' already exists with uuid {}",
                        def.name, obj.def.uuid
                    )));
                }
                existing = Some(obj.active);
                continue;
            }
            let same_target = obj.def.target_path.is_some()
                && trim(obj.def.target_path.as_deref()) == trim(def.target_path.as_deref());
            let same_device = def
                .source_devices
                .iter()
                .any(|d| obj.def.source_devices.contains(d));
            let same_vg = def.pool_type == "logical"
                && obj.def.pool_type == "logical"
                && obj.def.source_name == def.source_name;
            if same_target || same_device || same_vg {
                return Err(failed(format!(
                    "Storage source conflict with pool: '{}'",
                    obj.def.name
                )));
            }
        }
        Ok(existing)
    }

    fn check_def(def: &PoolDef) -> Result<()> {
        validate_name("pool", &def.name)?;
        let target = def.target_path.as_deref().unwrap_or("");
        if !Path::new(target).is_absolute() {
            return Err(Error::with_detail(
                ErrorCode::XML_ERROR,
                ErrorDomain::STORAGE,
                format!("storage pool target path '{target}' must be absolute"),
            ));
        }
        Ok(())
    }

    async fn start_obj(&self, obj: &mut PoolObj) -> Result<()> {
        backend::start(&obj.def).await?;
        if let Err(err) = Self::refresh_obj(obj).await {
            let _ = backend::stop(&obj.def).await;
            return Err(err);
        }
        obj.active = true;
        if let Err(err) = self.save(obj) {
            let _ = backend::stop(&obj.def).await;
            obj.active = false;
            return Err(err);
        }
        Ok(())
    }

    fn build_flags_of_create(create_flags: u32) -> Option<u32> {
        if create_flags == 0 {
            return None;
        }
        let mut build = 0;
        if create_flags & flags::POOL_CREATE_WITH_BUILD_OVERWRITE != 0 {
            build |= flags::POOL_BUILD_OVERWRITE;
        }
        if create_flags & flags::POOL_CREATE_WITH_BUILD_NO_OVERWRITE != 0 {
            build |= flags::POOL_BUILD_NO_OVERWRITE;
        }
        Some(build)
    }

    fn check_create_flags(create_flags: u32, api: &str) -> Result<()> {
        check_flags(
            create_flags,
            flags::POOL_CREATE_WITH_BUILD
                | flags::POOL_CREATE_WITH_BUILD_OVERWRITE
                | flags::POOL_CREATE_WITH_BUILD_NO_OVERWRITE,
            api,
        )?;
        exclusive(
            create_flags,
            (
                flags::POOL_CREATE_WITH_BUILD_OVERWRITE,
                "VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE",
            ),
            (
                flags::POOL_CREATE_WITH_BUILD_NO_OVERWRITE,
                "VIR_STORAGE_POOL_CREATE_WITH_BUILD_NO_OVERWRITE",
            ),
        )
    }
}

fn trim(path: Option<&str>) -> Option<&str> {
    path.map(|p| {
        let t = p.trim_end_matches('/');
        if t.is_empty() {
            "/"
        } else {
            t
        }
    })
}

#[async_trait]
impl StorageDriver for StorageHost {
    async fn list_all_storage_pools(&self, list_flags: u32) -> Result<Vec<PoolRef>> {
        let type_bits = ((1u32 << 14) - 1) * flags::LIST_POOLS_DIR;
        check_flags(
            list_flags,
            type_bits | (flags::LIST_POOLS_DIR - 1),
            "virConnectListAllStoragePools",
        )?;
        let want = |yes: u32, no: u32| match (list_flags & yes != 0, list_flags & no != 0) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        };
        let active = want(flags::LIST_POOLS_ACTIVE, flags::LIST_POOLS_INACTIVE);
        let persistent = want(flags::LIST_POOLS_PERSISTENT, flags::LIST_POOLS_TRANSIENT);
        let autostart = want(flags::LIST_POOLS_AUTOSTART, flags::LIST_POOLS_NO_AUTOSTART);
        let type_bit = |kind: &str| match kind {
            "dir" => flags::LIST_POOLS_DIR,
            "fs" => flags::LIST_POOLS_DIR << 1,
            "logical" => flags::LIST_POOLS_DIR << 3,
            _ => 0,
        };
        let pools = self.pools.lock().await;
        Ok(pools
            .values()
            .filter(|p| {
                active.is_none_or(|a| a == p.active)
                    && persistent.is_none_or(|a| a == p.persistent)
                    && autostart.is_none_or(|a| a == p.autostart)
                    && (list_flags & type_bits == 0 || list_flags & type_bit(&p.def.pool_type) != 0)
            })
            .map(PoolObj::handle)
            .collect())
    }

    async fn pool_lookup_by_name(&self, name: &str) -> Result<PoolRef> {
        let pools = self.pools.lock().await;
        pools
            .get(name)
            .map(PoolObj::handle)
            .ok_or_else(|| no_pool(format!("no storage pool with matching name '{name}'")))
    }

    async fn pool_lookup_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        let pools = self.pools.lock().await;
        pools
            .values()
            .find(|p| p.def.uuid == *uuid)
            .map(PoolObj::handle)
            .ok_or_else(|| no_pool(format!("no storage pool with matching uuid '{uuid}'")))
    }

    async fn pool_lookup_by_volume(&self, vol: &VolumeRef) -> Result<PoolRef> {
        let pools = self.pools.lock().await;
        pools
            .get(&vol.pool)
            .map(PoolObj::handle)
            .ok_or_else(|| no_pool(format!("no storage pool with matching name '{}'", vol.pool)))
    }

    async fn pool_lookup_by_target_path(&self, path: &str) -> Result<PoolRef> {
        let pools = self.pools.lock().await;
        let wanted = std::fs::canonicalize(path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.to_string());
        pools
            .values()
            .find(|p| {
                let target = trim(p.def.target_path.as_deref());
                p.active && (target == trim(Some(path)) || target == trim(Some(&wanted)))
            })
            .map(PoolObj::handle)
            .ok_or_else(|| {
                no_pool(format!(
                    "no storage pool with matching target path '{path}'"
                ))
            })
    }

    async fn pool_define_xml(&self, xml: &str, define_flags: u32) -> Result<PoolRef> {
        check_flags(define_flags, 1, "virStoragePoolDefineXML")?;
        let def = PoolDef::from_xml(xml, define_flags & 1 != 0)?;
        Self::check_def(&def)?;
        let mut pools = self.pools.lock().await;
        let existing = Self::check_duplicate(&pools, &def)?;
        let obj = match (existing, pools.get(&def.name)) {
            (Some(_), Some(old)) => PoolObj {
                def,
                active: old.active,
                persistent: true,
                autostart: old.autostart,
                sizes: old.sizes,
                volumes: old.volumes.clone(),
            },
            _ => PoolObj {
                def,
                active: false,
                persistent: true,
                autostart: false,
                sizes: Sizes::default(),
                volumes: BTreeMap::new(),
            },
        };
        self.save(&obj)?;
        self.lifecycle(&obj, pool_event::DEFINED);
        let handle = obj.handle();
        pools.insert(obj.def.name.clone(), obj);
        Ok(handle)
    }

    async fn pool_create_xml(&self, xml: &str, create_flags: u32) -> Result<PoolRef> {
        Self::check_create_flags(create_flags, "virStoragePoolCreateXML")?;
        let def = PoolDef::from_xml(xml, false)?;
        Self::check_def(&def)?;
        let mut pools = self.pools.lock().await;
        let existing = Self::check_duplicate(&pools, &def)?;
        if existing == Some(true) {
            return Err(invalid(format!("pool is already active as '{}'", def.name)));
        }
        // As libvirt: a defined, inactive pool of that name and UUID runs with the new definition and stays
        // persistent; its saved definition is the one kept on disk.
        let saved = existing
            .and_then(|_| pools.get(&def.name))
            .map(|old| (old.def.clone(), old.autostart));
        let mut obj = PoolObj {
            def,
            active: false,
            persistent: saved.is_some(),
            autostart: saved.as_ref().is_some_and(|(_, autostart)| *autostart),
            sizes: Sizes::default(),
            volumes: BTreeMap::new(),
        };
        if let Some(build_flags) = Self::build_flags_of_create(create_flags) {
            backend::build(&obj.def, build_flags).await?;
        }
        backend::start(&obj.def).await?;
        if let Err(err) = Self::refresh_obj(&mut obj).await {
            let _ = backend::stop(&obj.def).await;
            return Err(err);
        }
        obj.active = true;
        let record = PoolObj {
            def: saved.map_or_else(|| obj.def.clone(), |(def, _)| def),
            active: true,
            persistent: obj.persistent,
            autostart: obj.autostart,
            sizes: obj.sizes,
            volumes: BTreeMap::new(),
        };
        if let Err(err) = self.save(&record) {
            let _ = backend::stop(&obj.def).await;
            return Err(err);
        }
        self.lifecycle(&obj, pool_event::STARTED);
        let handle = obj.handle();
        pools.insert(obj.def.name.clone(), obj);
        Ok(handle)
    }

    async fn pool_build(&self, pool: &PoolRef, build_flags: u32) -> Result<()> {
        check_flags(
            build_flags,
            flags::POOL_BUILD_OVERWRITE | flags::POOL_BUILD_NO_OVERWRITE,
            "virStoragePoolBuild",
        )?;
        exclusive(
            build_flags,
            (
                flags::POOL_BUILD_OVERWRITE,
                "VIR_STORAGE_POOL_BUILD_OVERWRITE",
            ),
            (
                flags::POOL_BUILD_NO_OVERWRITE,
                "VIR_STORAGE_POOL_BUILD_NO_OVERWRITE",
            ),
        )?;
        let pools = self.pools.lock().await;
        let obj = Self::find(&pools, pool)?;
        obj.check_inactive("already active")?;
        backend::build(&obj.def, build_flags).await?;
        self.lifecycle(obj, pool_event::CREATED);
        Ok(())
    }

    async fn pool_create(&self, pool: &PoolRef, create_flags: u32) -> Result<()> {
        Self::check_create_flags(create_flags, "virStoragePoolCreate")?;
        let mut pools = self.pools.lock().await;
        let obj = Self::find_mut(&mut pools, pool)?;
        obj.check_inactive("already active")?;
        if let Some(build_flags) = Self::build_flags_of_create(create_flags) {
            backend::build(&obj.def, build_flags).await?;
        }
        self.start_obj(obj).await?;
        self.lifecycle(obj, pool_event::STARTED);
        Ok(())
    }

    async fn pool_destroy(&self, pool: &PoolRef) -> Result<()> {
        let mut pools = self.pools.lock().await;
        let obj = Self::find_mut(&mut pools, pool)?;
        obj.check_active()?;
        backend::stop(&obj.def).await?;
        obj.active = false;
        obj.volumes.clear();
        obj.sizes = Sizes::default();
        let name = obj.def.name.clone();
        self.lifecycle(obj, pool_event::STOPPED);
        if obj.persistent {
            self.save(obj)
        } else {
            pools.remove(&name);
            self.forget(&name)
        }
    }

    async fn pool_delete(&self, pool: &PoolRef, delete_flags: u32) -> Result<()> {
        check_flags(delete_flags, 0, "virStoragePoolDelete")?;
        let pools = self.pools.lock().await;
        let obj = Self::find(&pools, pool)?;
        obj.check_inactive("still active")?;
        backend::delete(&obj.def).await?;
        self.lifecycle(obj, pool_event::DELETED);
        Ok(())
    }

    async fn pool_undefine(&self, pool: &PoolRef) -> Result<()> {
        let mut pools = self.pools.lock().await;
        let obj = Self::find(&pools, pool)?;
        obj.check_inactive("still active")?;
        let name = obj.def.name.clone();
        self.forget(&name)?;
        self.lifecycle(obj, pool_event::UNDEFINED);
        pools.remove(&name);
        Ok(())
    }

    async fn pool_refresh(&self, pool: &PoolRef, refresh_flags: u32) -> Result<()> {
        check_flags(refresh_flags, 0, "virStoragePoolRefresh")?;
        let mut pools = self.pools.lock().await;
        let obj = Self::find_mut(&mut pools, pool)?;
        obj.check_active()?;
        if let Err(err) = Self::refresh_obj(obj).await {
            // As libvirt: a pool that cannot be refreshed is stopped.
            let _ = backend::stop(&obj.def).await;
            obj.active = false;
            obj.volumes.clear();
            let name = obj.def.name.clone();
            self.lifecycle(obj, pool_event::STOPPED);
            if obj.persistent {
                let _ = self.save(obj);
            } else {
                pools.remove(&name);
                let _ = self.forget(&name);
            }
            return Err(err);
        }
        self.emit(obj.handle(), PoolEventKind::Refresh);
        Ok(())
    }

    async fn pool_get_info(&self, pool: &PoolRef) -> Result<PoolInfo> {
        let pools = self.pools.lock().await;
        let obj = Self::find(&pools, pool)?;
        Ok(PoolInfo {
            state: if obj.active {
                pool_state::RUNNING
            } else {
                pool_state::INACTIVE
            },
            capacity: obj.sizes.capacity,
            allocation: obj.sizes.allocation,
            available: obj.sizes.available,
        })
    }

    async fn pool_get_xml_desc(&self, pool: &PoolRef, xml_flags: u32) -> Result<String> {
        check_flags(
            xml_flags,
            flags::STORAGE_XML_INACTIVE,
            "virStoragePoolGetXMLDesc",
        )?;
        let pools = self.pools.lock().await;
        let obj = Self::find(&pools, pool)?;
        let mut def = obj.def.clone();
        def.capacity = obj.sizes.capacity;
        def.allocation = obj.sizes.allocation;
        def.available = obj.sizes.available;
        Ok(def.to_xml())
    }

    async fn pool_get_autostart(&self, pool: &PoolRef) -> Result<bool> {
        let pools = self.pools.lock().await;
        Ok(Self::find(&pools, pool)?.autostart)
    }

    async fn pool_set_autostart(&self, pool: &PoolRef, autostart: bool) -> Result<()> {
        let mut pools = self.pools.lock().await;
        let obj = Self::find_mut(&mut pools, pool)?;
        if !obj.persistent {
            return Err(Error::invalid_arg(
                ErrorDomain::STORAGE,
                "cannot set autostart for transient pool",
            ));
        }
        if obj.autostart != autostart {
            obj.autostart = autostart;
            if let Err(err) = self.save(obj) {
                obj.autostart = !autostart;
                return Err(err);
            }
        }
        Ok(())
    }

    async fn pool_is_active(&self, pool: &PoolRef) -> Result<bool> {
        let pools = self.pools.lock().await;
        Ok(Self::find(&pools, pool)?.active)
    }

    async fn pool_is_persistent(&self, pool: &PoolRef) -> Result<bool> {
        let pools = self.pools.lock().await;
        Ok(Self::find(&pools, pool)?.persistent)
    }

    async fn pool_list_all_volumes(
        &self,
        pool: &PoolRef,
        list_flags: u32,
    ) -> Result<Vec<VolumeRef>> {
        check_flags(list_flags, 0, "virStoragePoolListAllVolumes")?;
        let pools = self.pools.lock().await;
        let obj = Self::find(&pools, pool)?;
        obj.check_active()?;
        Ok(obj.volumes.values().map(|v| obj.vol_handle(v)).collect())
    }

    async fn vol_lookup_by_name(&self, pool: &PoolRef, name: &str) -> Result<VolumeRef> {
        let pools = self.pools.lock().await;
        let obj = Self::find(&pools, pool)?;
        obj.check_active()?;
        obj.volumes
            .get(name)
            .map(|v| obj.vol_handle(v))
            .ok_or_else(|| no_vol(format!("no storage vol with matching name '{name}'")))
    }

    async fn vol_lookup_by_key(&self, key: &str) -> Result<VolumeRef> {
        let pools = self.pools.lock().await;
        pools
            .values()
            .filter(|p| p.active)
            .find_map(|p| {
                p.volumes
                    .values()
                    .find(|v| v.key == key)
                    .map(|v| p.vol_handle(v))
            })
            .ok_or_else(|| no_vol(format!("no storage vol with matching key {key}")))
    }

    async fn vol_lookup_by_path(&self, path: &str) -> Result<VolumeRef> {
        let canonical = std::fs::canonicalize(path)
            .map(|p| p.to_string_lossy().into_owned())
            .ok();
        let pools = self.pools.lock().await;
        pools
            .values()
            .filter(|p| p.active)
            .find_map(|p| {
                p.volumes
                    .values()
                    .find(|v| v.path == path || Some(&v.path) == canonical.as_ref())
                    .map(|v| p.vol_handle(v))
            })
            .ok_or_else(|| no_vol(format!("no storage vol with matching path '{path}'")))
    }

    async fn vol_create_xml(
        &self,
        pool: &PoolRef,
        xml: &str,
        create_flags: u32,
    ) -> Result<VolumeRef> {
        check_flags(
            create_flags,
            flags::VOL_CREATE_PREALLOC_METADATA | flags::VOL_CREATE_VALIDATE,
            "virStorageVolCreateXML",
        )?;
        let mut pools = self.pools.lock().await;
        let obj = Self::find_mut(&mut pools, pool)?;
        obj.check_active()?;
        let def = VolumeDef::from_xml(xml, create_flags & flags::VOL_CREATE_VALIDATE != 0)?;
        if obj.volumes.contains_key(&def.name) || obj_has_file(obj, &def.name) {
            return Err(Error::with_detail(
                ErrorCode::STORAGE_VOL_EXIST,
                ErrorDomain::STORAGE,
                format!("'{}'", def.name),
            ));
        }
        let vol = backend::create_volume(
            &obj.def,
            &def,
            create_flags & flags::VOL_CREATE_PREALLOC_METADATA != 0,
        )
        .await?;
        let handle = obj.vol_handle(&vol);
        obj.volumes.insert(vol.name.clone(), vol);
        Self::update_sizes(obj).await;
        Ok(handle)
    }

    async fn vol_create_xml_from(
        &self,
        pool: &PoolRef,
        xml: &str,
        source: &VolumeRef,
        create_flags: u32,
    ) -> Result<VolumeRef> {
        check_flags(
            create_flags,
            flags::VOL_CREATE_PREALLOC_METADATA | flags::VOL_CREATE_VALIDATE,
            "virStorageVolCreateXMLFrom",
        )?;
        let mut pools = self.pools.lock().await;
        let source_pool = pools.get(&source.pool).ok_or_else(|| {
            no_pool(format!(
                "no storage pool with matching name '{}'",
                source.pool
            ))
        })?;
        if !source_pool.active {
            return Err(invalid(format!(
                "storage pool '{}' is not active",
                source_pool.def.name
            )));
        }
        let original = source_pool
            .volumes
            .get(&source.name)
            .cloned()
            .ok_or_else(|| {
                no_vol(format!(
                    "no storage vol with matching name '{}'",
                    source.name
                ))
            })?;
        let obj = Self::find_mut(&mut pools, pool)?;
        obj.check_active()?;
        let (mut def, _) =
            VolumeDef::from_xml_for_copy(xml, create_flags & flags::VOL_CREATE_VALIDATE != 0)?;
        validate_name("volume", &def.name)?;
        if obj.volumes.contains_key(&def.name) || obj_has_file(obj, &def.name) {
            return Err(Error::with_detail(
                ErrorCode::STORAGE_VOL_EXIST,
                ErrorDomain::STORAGE,
                format!("storage volume name '{}' already in use.", def.name),
            ));
        }
        // As libvirt: never smaller than the original (a left-out capacity is the original's).
        def.capacity = def.capacity.max(original.capacity);
        let vol = backend::copy_volume(&obj.def, &def, &original).await?;
        let handle = obj.vol_handle(&vol);
        obj.volumes.insert(vol.name.clone(), vol);
        Self::update_sizes(obj).await;
        Ok(handle)
    }

    async fn vol_delete(&self, vol: &VolumeRef, delete_flags: u32) -> Result<()> {
        check_flags(
            delete_flags,
            flags::VOL_DELETE_ZEROED | flags::VOL_DELETE_WITH_SNAPSHOTS,
            "virStorageVolDelete",
        )?;
        let mut pools = self.pools.lock().await;
        let obj = Self::vol_pool(&mut pools, vol)?;
        let found = obj.volumes[&vol.name].clone();
        if delete_flags & flags::VOL_DELETE_ZEROED != 0 {
            backend::wipe_volume(&found, 0).await?;
        }
        backend::delete_volume(&obj.def, &found).await?;
        obj.volumes.remove(&vol.name);
        Self::update_sizes(obj).await;
        Ok(())
    }

    async fn vol_wipe(&self, vol: &VolumeRef, wipe_flags: u32) -> Result<()> {
        self.vol_wipe_pattern(vol, 0, wipe_flags).await
    }

    async fn vol_wipe_pattern(
        &self,
        vol: &VolumeRef,
        algorithm: u32,
        wipe_flags: u32,
    ) -> Result<()> {
        check_flags(wipe_flags, 0, "virStorageVolWipePattern")?;
        if algorithm >= 10 {
            return Err(Error::invalid_arg(
                ErrorDomain::STORAGE,
                format!("wiping algorithm {algorithm} not supported"),
            ));
        }
        let mut pools = self.pools.lock().await;
        let obj = Self::vol_pool(&mut pools, vol)?;
        let found = obj.volumes[&vol.name].clone();
        backend::wipe_volume(&found, algorithm).await?;
        if let Ok(now) = backend::refresh_volume(&obj.def, &found).await {
            obj.volumes.insert(now.name.clone(), now);
        }
        Ok(())
    }

    async fn vol_resize(&self, vol: &VolumeRef, capacity: u64, resize_flags: u32) -> Result<()> {
        check_flags(
            resize_flags,
            flags::VOL_RESIZE_ALLOCATE | flags::VOL_RESIZE_DELTA | flags::VOL_RESIZE_SHRINK,
            "virStorageVolResize",
        )?;
        let mut pools = self.pools.lock().await;
        let obj = Self::vol_pool(&mut pools, vol)?;
        let current = backend::refresh_volume(&obj.def, &obj.volumes[&vol.name]).await?;
        let wanted = if resize_flags & flags::VOL_RESIZE_DELTA != 0 {
            if resize_flags & flags::VOL_RESIZE_SHRINK != 0 {
                current.capacity - capacity.min(current.capacity)
            } else {
                current.capacity.saturating_add(capacity)
            }
        } else {
            capacity
        };
        if wanted < current.allocation {
            return Err(Error::invalid_arg(
                ErrorDomain::STORAGE,
                "can't shrink capacity below existing allocation",
            ));
        }
        if wanted < current.capacity && resize_flags & flags::VOL_RESIZE_SHRINK == 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::STORAGE,
                "Can't shrink capacity below current capacity unless shrink flag explicitly specified",
            ));
        }
        let allocate = resize_flags & flags::VOL_RESIZE_ALLOCATE != 0;
        if allocate && wanted.saturating_sub(current.allocation) > obj.sizes.available {
            return Err(failed("Not enough space left in storage pool"));
        }
        backend::resize_volume(&obj.def, &current, wanted, allocate).await?;
        let now = backend::refresh_volume(&obj.def, &current).await?;
        obj.volumes.insert(now.name.clone(), now);
        Self::update_sizes(obj).await;
        Ok(())
    }

    async fn vol_get_info(&self, vol: &VolumeRef) -> Result<VolumeInfo> {
        self.vol_get_info_flags(vol, 0).await
    }

    async fn vol_get_info_flags(&self, vol: &VolumeRef, info_flags: u32) -> Result<VolumeInfo> {
        // VIR_STORAGE_VOL_GET_PHYSICAL (1): the allocation reported is the file's size on the host.
        check_flags(info_flags, 1, "virStorageVolGetInfoFlags")?;
        let mut pools = self.pools.lock().await;
        let obj = Self::vol_pool(&mut pools, vol)?;
        let now = backend::refresh_volume(&obj.def, &obj.volumes[&vol.name]).await?;
        let allocation = if info_flags & 1 != 0 {
            std::fs::metadata(&now.path).map_or(now.allocation, |m| {
                if m.is_file() {
                    m.len()
                } else {
                    now.capacity
                }
            })
        } else {
            now.allocation
        };
        let info = VolumeInfo {
            kind: now.kind,
            capacity: now.capacity,
            allocation,
        };
        obj.volumes.insert(now.name.clone(), now);
        Ok(info)
    }

    async fn vol_get_path(&self, vol: &VolumeRef) -> Result<String> {
        let mut pools = self.pools.lock().await;
        let obj = Self::vol_pool(&mut pools, vol)?;
        Ok(obj.volumes[&vol.name].path.clone())
    }

    async fn vol_upload(
        &self,
        vol: &VolumeRef,
        offset: u64,
        length: u64,
        upload_flags: u32,
    ) -> Result<crate::driver::Stream> {
        check_flags(
            upload_flags,
            crate::driver::flags::VOL_UPLOAD_SPARSE_STREAM,
            "virStorageVolUpload",
        )?;
        let path = self.vol_get_path(vol).await?;
        crate::driver::volume_io::upload(Path::new(&path), offset, length, upload_flags)
    }

    async fn vol_download(
        &self,
        vol: &VolumeRef,
        offset: u64,
        length: u64,
        download_flags: u32,
    ) -> Result<crate::driver::Stream> {
        check_flags(
            download_flags,
            crate::driver::flags::VOL_DOWNLOAD_SPARSE_STREAM,
            "virStorageVolDownload",
        )?;
        let path = self.vol_get_path(vol).await?;
        crate::driver::volume_io::download(Path::new(&path), offset, length, download_flags)
    }

    async fn vol_get_xml_desc(&self, vol: &VolumeRef, xml_flags: u32) -> Result<String> {
        check_flags(xml_flags, 0, "virStorageVolGetXMLDesc")?;
        let mut pools = self.pools.lock().await;
        let obj = Self::vol_pool(&mut pools, vol)?;
        let now = backend::refresh_volume(&obj.def, &obj.volumes[&vol.name]).await?;
        let xml = now.xml();
        obj.volumes.insert(now.name.clone(), now);
        Ok(xml)
    }

    async fn storage_pool_event_subscribe(&self) -> Result<broadcast::Receiver<PoolEvent>> {
        Ok(self.events.subscribe())
    }
}

/// A file of that name already in a file pool's directory (made behind our back since the last refresh).
fn obj_has_file(obj: &PoolObj, name: &str) -> bool {
    obj.def.pool_type != "logical"
        && obj
            .def
            .target_path
            .as_deref()
            .is_some_and(|t| Path::new(t).join(name).exists())
}

/// libvirt's answer for a pool handle whose UUID no pool has (any more).
fn no_pool_uuid(pool: &PoolRef) -> Error {
    no_pool(format!(
        "no storage pool with matching uuid '{}' ({})",
        pool.uuid, pool.name
    ))
}
