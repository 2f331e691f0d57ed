//! `dir` storage pools on real directories: definitions in `STATE/qemu/storage/NAME.json` (atomic), sizes from
//! statvfs, volumes as files made, resized and described by `qemu-img` (raw, qcow2). A volume's key is its path.

use crate::driver::{flags, pool_state, vol_type, PoolInfo, PoolRef, VolumeInfo, VolumeRef};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{validate_name, PoolDef, VolumeDef};
use crate::persist;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use uuid::Uuid;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolFile {
    version: u32,
    xml: String,
    active: bool,
}

/// The pools of one driver, read from disk on each call (they are few and small).
pub struct Pools {
    dir: PathBuf,
}

fn no_pool() -> Error {
    Error::with_detail(
        ErrorCode::NO_STORAGE_POOL,
        ErrorDomain::STORAGE,
        "no storage pool with matching name or uuid",
    )
}

fn no_vol() -> Error {
    Error::with_detail(
        ErrorCode::NO_STORAGE_VOL,
        ErrorDomain::STORAGE,
        "no storage vol with matching key or path",
    )
}

fn sys(context: String, err: &std::io::Error) -> Error {
    Error::system(ErrorDomain::STORAGE, context, err)
}

fn failed(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::OPERATION_FAILED, ErrorDomain::STORAGE, detail)
}

async fn qemu_img(args: &[&str]) -> Result<Vec<u8>> {
    let output = tokio::process::Command::new("qemu-img")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| sys("cannot run qemu-img (install qemu-utils)".into(), &e))?;
    if !output.status.success() {
        return Err(failed(format!(
            "qemu-img {}: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(output.stdout)
}

/// (format, capacity, allocation) from `qemu-img info --output=json`.
async fn image_info(path: &Path) -> Result<(String, u64, u64)> {
    let path_text = path.to_string_lossy();
    let out = qemu_img(&["info", "--output=json", "-U", &path_text]).await?;
    let value: serde_json::Value =
        serde_json::from_slice(&out).map_err(|e| failed(format!("qemu-img info output: {e}")))?;
    Ok((
        value["format"].as_str().unwrap_or("raw").to_string(),
        value["virtual-size"].as_u64().unwrap_or(0),
        value["actual-size"].as_u64().unwrap_or(0),
    ))
}

impl Pools {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn all(&self) -> Vec<(PoolDef, bool)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut pools = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !name.ends_with(".json") || persist::is_temp_name(&name) {
                continue;
            }
            let loaded = std::fs::read(entry.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<PoolFile>(&b).ok())
                .and_then(|f| PoolDef::from_xml(&f.xml, false).ok().map(|d| (d, f.active)));
            match loaded {
                Some(pool) => pools.push(pool),
                None => {
                    tracing::warn!(file = %entry.path().display(), "skipping unreadable pool file")
                }
            }
        }
        pools.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        pools
    }

    fn get(&self, pool: &PoolRef) -> Result<(PoolDef, bool)> {
        self.all()
            .into_iter()
            .find(|(d, _)| d.uuid == pool.uuid)
            .ok_or_else(no_pool)
    }

    fn save(&self, def: &PoolDef, active: bool) -> Result<()> {
        let file = PoolFile {
            version: 1,
            xml: def.to_xml(),
            active,
        };
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| Error::internal(ErrorDomain::STORAGE, e.to_string()))?;
        let name = format!("{}.json", def.name);
        persist::write_atomic(&self.dir, &name, &bytes).map_err(|e| {
            sys(
                format!("cannot save {}", self.dir.join(&name).display()),
                &e,
            )
        })
    }

    fn target(def: &PoolDef) -> Result<PathBuf> {
        def.target_path
            .as_deref()
            .map(PathBuf::from)
            .ok_or_else(|| failed(format!("pool '{}' has no target path", def.name)))
    }

    fn handle(def: &PoolDef) -> PoolRef {
        PoolRef {
            name: def.name.clone(),
            uuid: def.uuid,
        }
    }

    pub fn list(&self, list_flags: u32) -> Result<Vec<PoolRef>> {
        let wants_active = list_flags & flags::LIST_POOLS_ACTIVE != 0;
        let wants_inactive = list_flags & flags::LIST_POOLS_INACTIVE != 0;
        Ok(self
            .all()
            .into_iter()
            .filter(|(_, active)| {
                (!wants_active && !wants_inactive)
                    || (wants_active && *active)
                    || (wants_inactive && !*active)
            })
            .filter(|_| {
                list_flags & flags::LIST_POOLS_TRANSIENT == 0
                    || list_flags & flags::LIST_POOLS_PERSISTENT != 0
            })
            .map(|(d, _)| Self::handle(&d))
            .collect())
    }

    pub fn lookup_by_name(&self, name: &str) -> Result<PoolRef> {
        self.all()
            .iter()
            .find(|(d, _)| d.name == name)
            .map(|(d, _)| Self::handle(d))
            .ok_or_else(no_pool)
    }

    pub fn lookup_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        self.all()
            .iter()
            .find(|(d, _)| d.uuid == *uuid)
            .map(|(d, _)| Self::handle(d))
            .ok_or_else(no_pool)
    }

    pub fn define(&self, xml: &str) -> Result<PoolRef> {
        let def = PoolDef::from_xml(xml, false)?;
        validate_name("pool", &def.name)?;
        if def.pool_type != "dir" {
            return Err(Error::with_detail(
                ErrorCode::NO_SUPPORT,
                ErrorDomain::STORAGE,
                format!("pool type '{}' is not supported (dir only)", def.pool_type),
            ));
        }
        let target = Self::target(&def)?;
        if !target.is_absolute() {
            return Err(failed("the pool target path must be absolute"));
        }
        let mut active = false;
        for (existing, was_active) in self.all() {
            if existing.uuid == def.uuid && existing.name != def.name {
                return Err(failed(format!(
                    "pool '{}' already has uuid {}",
                    existing.name, def.uuid
                )));
            }
            if existing.name == def.name {
                if existing.uuid != def.uuid {
                    return Err(failed(format!(
                        "pool '{}' already exists with uuid {}",
                        def.name, existing.uuid
                    )));
                }
                active = was_active;
            }
        }
        self.save(&def, active)?;
        Ok(Self::handle(&def))
    }

    pub fn build(&self, pool: &PoolRef) -> Result<()> {
        let (def, _) = self.get(pool)?;
        let target = Self::target(&def)?;
        std::fs::create_dir_all(&target)
            .map_err(|e| sys(format!("cannot create {}", target.display()), &e))
    }

    pub fn set_active(&self, pool: &PoolRef, active: bool) -> Result<()> {
        let (def, was_active) = self.get(pool)?;
        if was_active == active {
            return Err(Error::operation_invalid(
                ErrorDomain::STORAGE,
                format!(
                    "storage pool '{}' is {}",
                    def.name,
                    if active {
                        "already active"
                    } else {
                        "not active"
                    }
                ),
            ));
        }
        if active && !Self::target(&def)?.is_dir() {
            return Err(failed(format!(
                "cannot open directory '{}': it does not exist (build the pool first)",
                def.target_path.as_deref().unwrap_or_default()
            )));
        }
        self.save(&def, active)
    }

    pub fn undefine(&self, pool: &PoolRef) -> Result<()> {
        let (def, active) = self.get(pool)?;
        if active {
            return Err(Error::operation_invalid(
                ErrorDomain::STORAGE,
                format!("storage pool '{}' is still active", def.name),
            ));
        }
        let name = format!("{}.json", def.name);
        persist::remove_durable(&self.dir, &name)
            .map_err(|e| sys(format!("cannot remove {name}"), &e))
    }

    pub fn is_active(&self, pool: &PoolRef) -> Result<bool> {
        Ok(self.get(pool)?.1)
    }

    pub fn info(&self, pool: &PoolRef) -> Result<PoolInfo> {
        let (def, active) = self.get(pool)?;
        if !active {
            return Ok(PoolInfo {
                state: pool_state::INACTIVE,
                capacity: 0,
                allocation: 0,
                available: 0,
            });
        }
        let target = Self::target(&def)?;
        let stat = nix::sys::statvfs::statvfs(&target).map_err(|e| {
            sys(
                format!("cannot statvfs {}", target.display()),
                &std::io::Error::from(e),
            )
        })?;
        let frag = stat.fragment_size();
        let capacity = stat.blocks().saturating_mul(frag);
        let available = stat.blocks_available().saturating_mul(frag);
        Ok(PoolInfo {
            state: pool_state::RUNNING,
            capacity,
            allocation: capacity.saturating_sub(stat.blocks_free().saturating_mul(frag)),
            available,
        })
    }

    pub fn xml(&self, pool: &PoolRef) -> Result<String> {
        let (mut def, _) = self.get(pool)?;
        if let Ok(info) = self.info(pool) {
            def.capacity = info.capacity;
            def.allocation = info.allocation;
            def.available = info.available;
        }
        Ok(def.to_xml())
    }

    fn active_target(&self, pool: &PoolRef) -> Result<(PoolDef, PathBuf)> {
        let (def, active) = self.get(pool)?;
        if !active {
            return Err(Error::operation_invalid(
                ErrorDomain::STORAGE,
                format!("storage pool '{}' is not active", def.name),
            ));
        }
        let target = Self::target(&def)?;
        Ok((def, target))
    }

    pub fn volumes(&self, pool: &PoolRef) -> Result<Vec<VolumeRef>> {
        let (def, target) = self.active_target(pool)?;
        let entries = std::fs::read_dir(&target)
            .map_err(|e| sys(format!("cannot read {}", target.display()), &e))?;
        let mut vols: Vec<VolumeRef> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                Some(VolumeRef {
                    pool: def.name.clone(),
                    key: e.path().to_string_lossy().to_string(),
                    name,
                })
            })
            .collect();
        vols.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(vols)
    }

    pub fn volume_by_name(&self, pool: &PoolRef, name: &str) -> Result<VolumeRef> {
        validate_name("volume", name)?;
        let (def, target) = self.active_target(pool)?;
        let path = target.join(name);
        if !path.is_file() {
            return Err(no_vol());
        }
        Ok(VolumeRef {
            pool: def.name,
            name: name.into(),
            key: path.to_string_lossy().to_string(),
        })
    }

    pub fn volume_by_path(&self, path: &str) -> Result<VolumeRef> {
        let path = Path::new(path);
        let (parent, name) = match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
            (Some(parent), Some(name)) => (parent, name),
            _ => return Err(no_vol()),
        };
        for (def, active) in self.all() {
            if active && def.target_path.as_deref().map(Path::new) == Some(parent) && path.is_file()
            {
                return Ok(VolumeRef {
                    pool: def.name,
                    name: name.into(),
                    key: path.to_string_lossy().to_string(),
                });
            }
        }
        Err(no_vol())
    }

    /// The pool and path of a volume handle, checking the path is still inside its pool.
    fn locate(&self, vol: &VolumeRef) -> Result<PathBuf> {
        validate_name("volume", &vol.name)?;
        let pool = self.lookup_by_name(&vol.pool)?;
        let (_, target) = self.active_target(&pool)?;
        let path = target.join(&vol.name);
        if !path.is_file() {
            return Err(no_vol());
        }
        Ok(path)
    }

    pub async fn create_volume(&self, pool: &PoolRef, xml: &str) -> Result<VolumeRef> {
        let def = VolumeDef::from_xml(xml, false)?;
        validate_name("volume", &def.name)?;
        let (pool_def, target) = self.active_target(pool)?;
        let path = target.join(&def.name);
        if path.exists() {
            return Err(Error::with_detail(
                ErrorCode::STORAGE_VOL_EXIST,
                ErrorDomain::STORAGE,
                format!("storage volume '{}' exists already", def.name),
            ));
        }
        let format = def.format.as_deref().unwrap_or("raw");
        if format != "raw" && format != "qcow2" {
            return Err(Error::with_detail(
                ErrorCode::NO_SUPPORT,
                ErrorDomain::STORAGE,
                format!("volume format '{format}' is not supported (raw, qcow2)"),
            ));
        }
        let path_text = path.to_string_lossy().to_string();
        qemu_img(&[
            "create",
            "-q",
            "-f",
            format,
            &path_text,
            &def.capacity.to_string(),
        ])
        .await?;
        Ok(VolumeRef {
            pool: pool_def.name,
            name: def.name,
            key: path_text,
        })
    }

    pub fn delete_volume(&self, vol: &VolumeRef) -> Result<()> {
        let path = self.locate(vol)?;
        std::fs::remove_file(&path)
            .map_err(|e| sys(format!("cannot remove {}", path.display()), &e))
    }

    pub async fn resize_volume(
        &self,
        vol: &VolumeRef,
        capacity: u64,
        resize_flags: u32,
    ) -> Result<()> {
        let path = self.locate(vol)?;
        let (format, current, _) = image_info(&path).await?;
        let wanted = if resize_flags & flags::VOL_RESIZE_DELTA != 0 {
            current.saturating_add(capacity)
        } else {
            capacity
        };
        let shrink = wanted < current;
        if shrink && resize_flags & flags::VOL_RESIZE_SHRINK == 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::STORAGE,
                "can't shrink capacity below current capacity unless shrink flag explicitly specified",
            ));
        }
        let path_text = path.to_string_lossy().to_string();
        let size = wanted.to_string();
        let mut args = vec!["resize", "-q", "-f", &format];
        if shrink {
            args.push("--shrink");
        }
        args.extend([path_text.as_str(), size.as_str()]);
        qemu_img(&args).await.map(|_| ())
    }

    pub async fn volume_info(&self, vol: &VolumeRef) -> Result<VolumeInfo> {
        let path = self.locate(vol)?;
        let (_, capacity, allocation) = image_info(&path).await?;
        Ok(VolumeInfo {
            kind: vol_type::FILE,
            capacity,
            allocation,
        })
    }

    pub fn volume_path(&self, vol: &VolumeRef) -> Result<String> {
        Ok(self.locate(vol)?.to_string_lossy().to_string())
    }

    pub async fn volume_xml(&self, vol: &VolumeRef) -> Result<String> {
        let path = self.locate(vol)?;
        let (format, capacity, allocation) = image_info(&path).await?;
        let path_text = path.to_string_lossy().to_string();
        Ok(VolumeDef {
            vol_type: "file".into(),
            name: vol.name.clone(),
            key: Some(path_text.clone()),
            capacity,
            allocation: Some(allocation),
            path: Some(path_text),
            format: Some(format),
        }
        .to_xml())
    }
}
