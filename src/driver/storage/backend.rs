//! What each pool type does on the host: `dir` (a directory), `fs` (a file system mounted on the target
//! directory) and `logical` (an LVM volume group); volumes as files (probed by their headers, made and
//! converted by `qemu-img`) or logical volumes. Errors are worded as libvirt's storage backends word them.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{failed, sys, Vol};
use crate::driver::{flags, vol_type};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{PoolDef, VolumeDef};

/// libvirt's default modes for pool directories and volume files.
const POOL_DIR_MODE: u32 = 0o711;
const VOL_FILE_MODE: u32 = 0o600;

/// Sizes of a pool (bytes).
#[derive(Clone, Copy, Default, Debug)]
pub(super) struct Sizes {
    pub capacity: u64,
    pub allocation: u64,
    pub available: u64,
}

fn internal(detail: impl AsRef<str>) -> Error {
    Error::internal(ErrorDomain::STORAGE, detail)
}

fn target(def: &PoolDef) -> PathBuf {
    PathBuf::from(def.target_path.as_deref().unwrap_or("/"))
}

/// Runs a host command; a failure reads as libvirt's `virCommandRun` reports it.
pub(super) async fn run(program: &str, args: &[&str]) -> Result<String> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .env("LC_ALL", "C")
        // LVM complains about descriptors it inherits; it is harmless but noisy.
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .await
        .map_err(|e| {
            Error::system(
                ErrorDomain::STORAGE,
                format!("Cannot find '{program}' in path"),
                &e,
            )
        })?;
    if !output.status.success() {
        let mut line = program.to_string();
        for arg in args {
            line.push(' ');
            line.push_str(arg);
        }
        return Err(internal(format!(
            "Child process ({line}) unexpected exit status {}: {}",
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

// ------------------------------------------------------------------------------------------- pools

/// `virStoragePoolBuild`: the directory, and for `fs` pools with an overwrite flag a new file system; for
/// `logical` pools the physical volumes and the volume group.
pub(super) async fn build(def: &PoolDef, build_flags: u32) -> Result<()> {
    match def.pool_type.as_str() {
        "logical" => build_logical(def, build_flags).await,
        kind => {
            make_target_dir(def)?;
            if kind == "fs" && build_flags != 0 {
                make_file_system(def, build_flags).await?;
            }
            Ok(())
        }
    }
}

fn make_target_dir(def: &PoolDef) -> Result<()> {
    let path = target(def);
    std::fs::create_dir_all(&path)
        .map_err(|e| sys(format!("cannot create path '{}'", path.display()), &e))?;
    let mode = def
        .target_mode
        .as_deref()
        .and_then(|m| u32::from_str_radix(m, 8).ok())
        .unwrap_or(POOL_DIR_MODE);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| sys(format!("cannot set mode of '{}'", path.display()), &e))
}

/// The file system type blkid finds on a device, if any.
async fn probe_signature(device: &str) -> Option<String> {
    let out = run("blkid", &["-p", "-o", "value", "-s", "TYPE", device])
        .await
        .ok()?;
    let kind = out.trim();
    (!kind.is_empty()).then(|| kind.to_string())
}

/// Refuses to write over a device holding a signature unless overwriting was asked for.
async fn check_empty(device: &str, build_flags: u32) -> Result<()> {
    if build_flags & flags::POOL_BUILD_OVERWRITE != 0 {
        return Ok(());
    }
    if let Some(found) = probe_signature(device).await {
        return Err(Error::with_detail(
            ErrorCode::STORAGE_POOL_BUILT,
            ErrorDomain::STORAGE,
            format!("Device '{device}' already formatted using '{found}'"),
        ));
    }
    Ok(())
}

async fn make_file_system(def: &PoolDef, build_flags: u32) -> Result<()> {
    let device = def.source_devices.first().ok_or_else(|| {
        Error::operation_invalid(
            ErrorDomain::STORAGE,
            format!(
                "No source device specified when formatting pool '{}'",
                def.name
            ),
        )
    })?;
    let format = match def.source_format.as_deref() {
        None | Some("auto") => {
            return Err(Error::operation_invalid(
                ErrorDomain::STORAGE,
                format!(
                    "No source format specified when formatting pool '{}'",
                    def.name
                ),
            ))
        }
        Some(format) => format,
    };
    if !Path::new(device).exists() {
        return Err(Error::operation_invalid(
            ErrorDomain::STORAGE,
            format!(
                "Source device does not exist when formatting pool '{}'",
                def.name
            ),
        ));
    }
    check_empty(device, build_flags).await?;
    let mut args = vec!["-t", format];
    // mkfs.ext* and mkfs.xfs refuse to write over an existing file system (or onto an image file) unless forced;
    // the emptiness check above already decided.
    match format {
        "ext2" | "ext3" | "ext4" => args.push("-F"),
        "xfs" => args.push("-f"),
        _ => {}
    }
    args.push(device);
    run("mkfs", &args).await.map(|_| ())
}

async fn build_logical(def: &PoolDef, build_flags: u32) -> Result<()> {
    let vg = def.source_name.as_deref().unwrap_or(&def.name);
    if def.source_devices.is_empty() {
        return Err(Error::operation_invalid(
            ErrorDomain::STORAGE,
            format!(
                "No source device specified when building pool '{}'",
                def.name
            ),
        ));
    }
    for device in &def.source_devices {
        check_empty(device, build_flags).await?;
    }
    let mut made = Vec::new();
    let mut outcome = Ok(());
    for device in &def.source_devices {
        let mut args = vec![];
        if build_flags & flags::POOL_BUILD_OVERWRITE != 0 {
            args.extend(["-ff", "-y"]);
        }
        args.push(device.as_str());
        match run("pvcreate", &args).await {
            Ok(_) => made.push(device.clone()),
            Err(err) => {
                outcome = Err(err);
                break;
            }
        }
    }
    if outcome.is_ok() {
        let mut args = vec![vg];
        args.extend(def.source_devices.iter().map(String::as_str));
        outcome = run("vgcreate", &args).await.map(|_| ());
    }
    if outcome.is_err() {
        // Nothing half made: the physical volumes this call labelled lose their label again.
        for device in made {
            let _ = run("pvremove", &["-f", &device]).await;
        }
    }
    outcome
}

/// Starts a built pool: checks the directory, mounts the file system, or activates the volume group.
pub(super) async fn start(def: &PoolDef) -> Result<()> {
    match def.pool_type.as_str() {
        "fs" => {
            let path = target(def);
            if is_mounted(&path) {
                return Err(Error::operation_invalid(
                    ErrorDomain::STORAGE,
                    format!("Target '{}' is already mounted", path.display()),
                ));
            }
            let device = def.source_devices.first().map(String::as_str).unwrap_or("");
            if !Path::new(device).exists() {
                return Err(Error::operation_invalid(
                    ErrorDomain::STORAGE,
                    format!("Source path '{device}' does not exist"),
                ));
            }
            check_dir(&path)?;
            let path_text = path.to_string_lossy();
            let mut args = vec![];
            if let Some(format) = def.source_format.as_deref().filter(|f| *f != "auto") {
                args.extend(["-t", format]);
            }
            args.extend([device, &*path_text]);
            run("mount", &args).await.map(|_| ())
        }
        "logical" => {
            let vg = def.source_name.as_deref().unwrap_or(&def.name);
            if !volume_group_exists(vg).await {
                return Err(Error::operation_invalid(
                    ErrorDomain::STORAGE,
                    format!("cannot find logical volume group name '{vg}'"),
                ));
            }
            run("vgchange", &["-aly", vg]).await.map(|_| ())
        }
        _ => check_dir(&target(def)),
    }
}

fn check_dir(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(failed(format!("'{}' is not a directory", path.display()))),
        Err(e) => Err(sys(
            format!("cannot open directory '{}'", path.display()),
            &e,
        )),
    }
}

/// Stops a pool: unmounts an fs pool, deactivates a volume group.
pub(super) async fn stop(def: &PoolDef) -> Result<()> {
    match def.pool_type.as_str() {
        "fs" => {
            let path = target(def);
            if is_mounted(&path) {
                run("umount", &[&path.to_string_lossy()]).await?;
            }
            Ok(())
        }
        "logical" => {
            let vg = def.source_name.as_deref().unwrap_or(&def.name);
            run("vgchange", &["-aln", vg]).await.map(|_| ())
        }
        _ => Ok(()),
    }
}

/// Whether a pool found active in the state dir still is (after a daemon restart).
pub(super) async fn still_started(def: &PoolDef) -> bool {
    match def.pool_type.as_str() {
        "fs" => is_mounted(&target(def)),
        "logical" => volume_group_exists(def.source_name.as_deref().unwrap_or(&def.name)).await,
        _ => target(def).is_dir(),
    }
}

/// `virStoragePoolDelete`: removes the target directory, or the volume group and its physical volumes.
pub(super) async fn delete(def: &PoolDef) -> Result<()> {
    match def.pool_type.as_str() {
        "logical" => {
            let vg = def.source_name.as_deref().unwrap_or(&def.name);
            run("vgremove", &["-f", vg]).await?;
            for device in &def.source_devices {
                run("pvremove", &[device]).await?;
            }
            Ok(())
        }
        _ => {
            let path = target(def);
            std::fs::remove_dir(&path)
                .map_err(|e| sys(format!("failed to remove pool '{}'", path.display()), &e))
        }
    }
}

/// Whether `path` is a mount point (from the kernel's mount table).
fn is_mounted(path: &Path) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/self/mounts") else {
        return false;
    };
    let wanted = path.to_string_lossy();
    let wanted = wanted.trim_end_matches('/');
    table.lines().any(|line| {
        line.split(' ')
            .nth(1)
            .map(|point| point.replace("\\040", " "))
            .is_some_and(|point| point == wanted)
    })
}

async fn volume_group_exists(vg: &str) -> bool {
    run("vgs", &["--noheadings", "-o", "vg_name", vg])
        .await
        .is_ok()
}

// ---------------------------------------------------------------------------------------- refresh

/// The pool's sizes and volumes as they are on the host now.
pub(super) async fn refresh(def: &PoolDef) -> Result<(Sizes, Vec<Vol>)> {
    match def.pool_type.as_str() {
        "logical" => refresh_logical(def).await,
        _ => {
            let path = target(def);
            // Thousands of files are opened here: off the async workers.
            let (sizes, mut vols) = tokio::task::spawn_blocking(move || list_files(&path))
                .await
                .map_err(|e| internal(format!("refresh task failed: {e}")))??;
            // The few formats whose size is not in the first sector ask qemu-img.
            for vol in vols
                .iter_mut()
                .filter(|v| v.format.as_deref() == Some("vhdx"))
            {
                if let Ok((_, capacity)) = qemu_img_info(Path::new(&vol.path)).await {
                    vol.capacity = capacity;
                }
            }
            Ok((sizes, vols))
        }
    }
}

fn list_files(path: &Path) -> Result<(Sizes, Vec<Vol>)> {
    let sizes = fs_sizes(path)?;
    let entries = std::fs::read_dir(path)
        .map_err(|e| sys(format!("cannot open directory '{}'", path.display()), &e))?;
    let mut vols = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        // Only regular files are volumes here; directories (lost+found on a new file system) and special
        // files are left out.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if let Some(vol) = probe_header(&entry.path(), name) {
            vols.push(vol);
        }
    }
    Ok((sizes, vols))
}

/// The pool's sizes alone (no volume listing).
pub(super) async fn sizes(def: &PoolDef) -> Result<Sizes> {
    match def.pool_type.as_str() {
        "logical" => vg_sizes(def.source_name.as_deref().unwrap_or(&def.name)).await,
        _ => fs_sizes(&target(def)),
    }
}

fn fs_sizes(path: &Path) -> Result<Sizes> {
    let stat = nix::sys::statvfs::statvfs(path).map_err(|e| {
        sys(
            format!("cannot statvfs path '{}'", path.display()),
            &std::io::Error::from(e),
        )
    })?;
    let frag = stat.fragment_size();
    let capacity = stat.blocks().saturating_mul(frag);
    Ok(Sizes {
        capacity,
        allocation: capacity.saturating_sub(stat.blocks_free().saturating_mul(frag)),
        available: stat.blocks_available().saturating_mul(frag),
    })
}

/// A file's format and sizes from its header, as libvirt probes them; formats whose size needs more than the
/// header (vhdx) ask `qemu-img info`.
pub(super) async fn probe_file(path: &Path, name: String) -> Option<Vol> {
    let mut vol = probe_header(path, name)?;
    if vol.format.as_deref() == Some("vhdx") {
        vol.capacity = qemu_img_info(path).await.ok()?.1;
    }
    Some(vol)
}

/// [`probe_file`] from the first sector alone (a vhdx file's capacity is left 0).
fn probe_header(path: &Path, name: String) -> Option<Vol> {
    let meta = std::fs::metadata(path).ok()?;
    let mut header = [0u8; 512];
    let read = {
        use std::io::Read;
        let mut file = std::fs::File::open(path).ok()?;
        let mut total = 0;
        while total < header.len() {
            match file.read(&mut header[total..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        total
    };
    let head = &header[..read];
    let be64 = |at: usize| {
        head.get(at..at + 8)
            .map(|b| u64::from_be_bytes(b.try_into().unwrap_or_default()))
    };
    let le64 = |at: usize| {
        head.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    };
    let (format, capacity) = if head.starts_with(b"QFI\xfb") {
        let version = head
            .get(4..8)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap_or_default()));
        let format = if version.unwrap_or(0) >= 2 {
            "qcow2"
        } else {
            "qcow"
        };
        (format, be64(24)?)
    } else if head.starts_with(b"QED\0") {
        ("qed", le64(48)?)
    } else if head.starts_with(b"KDMV") {
        ("vmdk", le64(12)?.saturating_mul(512))
    } else if head.starts_with(b"conectix") {
        ("vpc", be64(48)?)
    } else if head.get(64..68) == Some(&[0x7f, 0x10, 0xda, 0xbe]) {
        ("vdi", le64(368)?)
    } else if head.starts_with(b"vhdxfile") {
        ("vhdx", 0)
    } else {
        ("raw", meta.len())
    };
    let path_text = path.to_string_lossy().into_owned();
    Some(Vol {
        name,
        key: path_text.clone(),
        path: path_text,
        kind: vol_type::FILE,
        format: Some(format.to_string()),
        capacity,
        allocation: meta.blocks().saturating_mul(512),
    })
}

/// (format, virtual size) from `qemu-img info`.
async fn qemu_img_info(path: &Path) -> Result<(String, u64)> {
    let out = run(
        "qemu-img",
        &["info", "--output=json", "-U", &path.to_string_lossy()],
    )
    .await?;
    let value: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| internal(format!("qemu-img info output: {e}")))?;
    Ok((
        value["format"].as_str().unwrap_or("raw").to_string(),
        value["virtual-size"].as_u64().unwrap_or(0),
    ))
}

async fn vg_sizes(vg: &str) -> Result<Sizes> {
    let out = run(
        "vgs",
        &[
            "--noheadings",
            "--units",
            "b",
            "--nosuffix",
            "--separator",
            "#",
            "-o",
            "vg_size,vg_free",
            vg,
        ],
    )
    .await?;
    let fields: Vec<u64> = out
        .trim()
        .split('#')
        .filter_map(|f| f.trim().parse().ok())
        .collect();
    let (size, free) = match fields[..] {
        [size, free] => (size, free),
        _ => {
            return Err(internal(format!(
                "cannot parse vgs output '{}'",
                out.trim()
            )))
        }
    };
    Ok(Sizes {
        capacity: size,
        allocation: size.saturating_sub(free),
        available: free,
    })
}

async fn refresh_logical(def: &PoolDef) -> Result<(Sizes, Vec<Vol>)> {
    let vg = def.source_name.as_deref().unwrap_or(&def.name);
    let sizes = vg_sizes(vg).await?;
    let out = run(
        "lvs",
        &[
            "--noheadings",
            "--units",
            "b",
            "--nosuffix",
            "--separator",
            "#",
            "-o",
            "lv_name,lv_uuid,lv_size",
            vg,
        ],
    )
    .await?;
    let base = target(def);
    let mut vols = Vec::new();
    for line in out.lines() {
        let fields: Vec<&str> = line.trim().split('#').collect();
        let [name, uuid, size] = fields[..] else {
            continue;
        };
        let Ok(size) = size.trim().parse::<u64>() else {
            continue;
        };
        vols.push(Vol {
            name: name.to_string(),
            key: uuid.to_string(),
            path: base.join(name).to_string_lossy().into_owned(),
            kind: vol_type::BLOCK,
            format: None,
            capacity: size,
            allocation: size,
        });
    }
    Ok((sizes, vols))
}

/// A volume's current sizes (and format, for files).
pub(super) async fn refresh_volume(def: &PoolDef, vol: &Vol) -> Result<Vol> {
    let gone = || {
        Error::with_detail(
            ErrorCode::NO_STORAGE_VOL,
            ErrorDomain::STORAGE,
            format!("no storage vol with matching name '{}'", vol.name),
        )
    };
    if def.pool_type == "logical" {
        let (_, vols) = refresh_logical(def).await?;
        return vols
            .into_iter()
            .find(|v| v.name == vol.name)
            .ok_or_else(gone);
    }
    probe_file(Path::new(&vol.path), vol.name.clone())
        .await
        .ok_or_else(gone)
}

// ---------------------------------------------------------------------------------------- volumes

fn check_file_format(format: &str) -> Result<()> {
    if crate::model::FILE_VOLUME_FORMATS.contains(&format) {
        Ok(())
    } else {
        Err(Error::with_detail(
            ErrorCode::NO_SUPPORT,
            ErrorDomain::STORAGE,
            format!("format of volume '{format}' is not supported"),
        ))
    }
}

/// Creates a new volume (`virStorageVolCreateXML`). `prealloc_metadata` is VOL_CREATE_PREALLOC_METADATA.
pub(super) async fn create_volume(
    def: &PoolDef,
    vol: &VolumeDef,
    prealloc_metadata: bool,
) -> Result<Vol> {
    if def.pool_type == "logical" {
        let vg = def.source_name.as_deref().unwrap_or(&def.name);
        // lvcreate sizes in KiB, rounded up as libvirt does; LVM rounds further up to whole extents.
        let size = format!("{}K", vol.capacity.div_ceil(1024).max(1));
        run("lvcreate", &["--yes", "--name", &vol.name, "-L", &size, vg]).await?;
        let made = Vol {
            name: vol.name.clone(),
            key: String::new(),
            path: target(def).join(&vol.name).to_string_lossy().into_owned(),
            kind: vol_type::BLOCK,
            format: None,
            capacity: vol.capacity,
            allocation: vol.capacity,
        };
        return refresh_volume(def, &made).await;
    }
    let format = vol.format.as_deref().unwrap_or("raw");
    check_file_format(format)?;
    if prealloc_metadata && format != "qcow2" {
        return Err(Error::with_detail(
            ErrorCode::OPERATION_UNSUPPORTED,
            ErrorDomain::STORAGE,
            "metadata preallocation only available with qcow2",
        ));
    }
    let path = target(def).join(&vol.name);
    if format == "raw" {
        create_raw(&path, vol.capacity, vol.allocation.unwrap_or(vol.capacity))?;
    } else {
        let path_text = path.to_string_lossy();
        let capacity = vol.capacity.to_string();
        let mut args = vec!["create", "-q", "-f", format];
        if prealloc_metadata {
            args.extend(["-o", "preallocation=metadata"]);
        }
        args.extend([&*path_text, capacity.as_str()]);
        if let Err(err) = run("qemu-img", &args).await {
            let _ = std::fs::remove_file(&path);
            return Err(err);
        }
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(VOL_FILE_MODE));
    }
    probe_file(&path, vol.name.clone()).await.ok_or_else(|| {
        failed(format!(
            "cannot read volume '{}' just created",
            path.display()
        ))
    })
}

/// A raw file of `capacity` bytes with `allocation` of them allocated, as libvirt makes raw volumes.
fn create_raw(path: &Path, capacity: u64, allocation: u64) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(VOL_FILE_MODE)
        .open(path)
        .map_err(|e| sys(format!("cannot create path '{}'", path.display()), &e))?;
    let sized = file.set_len(capacity).and_then(|()| {
        let allocation = allocation.min(capacity);
        if allocation == 0 {
            return Ok(());
        }
        let len = i64::try_from(allocation).unwrap_or(i64::MAX);
        nix::fcntl::posix_fallocate(&file, 0, len).map_err(std::io::Error::from)
    });
    if let Err(e) = sized {
        let _ = std::fs::remove_file(path);
        return Err(sys(
            format!(
                "cannot allocate {allocation} bytes in file '{}'",
                path.display()
            ),
            &e,
        ));
    }
    Ok(())
}

/// Creates `new` as a copy of `source` (`virStorageVolCreateXMLFrom`): `qemu-img convert` between any formats,
/// grown to the new capacity when that is larger.
pub(super) async fn copy_volume(def: &PoolDef, new: &VolumeDef, source: &Vol) -> Result<Vol> {
    let source_format = source.format.as_deref().unwrap_or("raw");
    if def.pool_type == "logical" {
        let made = create_volume(def, new, false).await?;
        let copied = run(
            "qemu-img",
            &[
                "convert",
                "-n",
                "-f",
                source_format,
                "-O",
                "raw",
                &source.path,
                &made.path,
            ],
        )
        .await;
        if let Err(err) = copied {
            let _ = delete_volume(def, &made).await;
            return Err(err);
        }
        return Ok(made);
    }
    let format = new.format.as_deref().unwrap_or("raw");
    check_file_format(format)?;
    let path = target(def).join(&new.name);
    let path_text = path.to_string_lossy().into_owned();
    let result = async {
        run(
            "qemu-img",
            &[
                "convert",
                "-f",
                source_format,
                "-O",
                format,
                &source.path,
                &path_text,
            ],
        )
        .await?;
        if new.capacity > source.capacity {
            let size = new.capacity.to_string();
            run(
                "qemu-img",
                &["resize", "-q", "-f", format, &path_text, &size],
            )
            .await?;
        }
        Ok(())
    }
    .await;
    if let Err(err) = result {
        let _ = std::fs::remove_file(&path);
        return Err(err);
    }
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(VOL_FILE_MODE));
    probe_file(&path, new.name.clone())
        .await
        .ok_or_else(|| failed(format!("cannot read volume '{path_text}' just created")))
}

pub(super) async fn delete_volume(def: &PoolDef, vol: &Vol) -> Result<()> {
    if def.pool_type == "logical" {
        let vg = def.source_name.as_deref().unwrap_or(&def.name);
        return run("lvremove", &["-f", &format!("{vg}/{}", vol.name)])
            .await
            .map(|_| ());
    }
    match std::fs::remove_file(&vol.path) {
        Ok(()) => Ok(()),
        // Removed behind our back: the volume is gone either way.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(sys(format!("cannot unlink file '{}'", vol.path), &e)),
    }
}

/// Resizes a file volume to `capacity` (already checked against libvirt's rules).
pub(super) async fn resize_volume(
    def: &PoolDef,
    vol: &Vol,
    capacity: u64,
    allocate: bool,
) -> Result<()> {
    if def.pool_type == "logical" {
        return Err(Error::with_detail(
            ErrorCode::NO_SUPPORT,
            ErrorDomain::STORAGE,
            "storage pool does not support changing of volume capacity",
        ));
    }
    let format = vol.format.as_deref().unwrap_or("raw");
    if format == "raw" {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&vol.path)
            .map_err(|e| sys(format!("Unable to open '{}'", vol.path), &e))?;
        let resized = if allocate && capacity > vol.capacity {
            let len = i64::try_from(capacity).unwrap_or(i64::MAX);
            nix::fcntl::posix_fallocate(&file, 0, len).map_err(std::io::Error::from)
        } else {
            file.set_len(capacity)
        };
        return resized.map_err(|e| sys(format!("Failed to truncate file '{}'", vol.path), &e));
    }
    if allocate {
        return Err(Error::with_detail(
            ErrorCode::OPERATION_UNSUPPORTED,
            ErrorDomain::STORAGE,
            "preallocate is only supported for raw type volume",
        ));
    }
    let size = capacity.to_string();
    let mut args = vec!["resize", "-q", "-f", format];
    if capacity < vol.capacity {
        args.push("--shrink");
    }
    args.extend([vol.path.as_str(), size.as_str()]);
    run("qemu-img", &args).await.map(|_| ())
}

/// `virStorageVolWipePattern`'s algorithms past ZERO, by scrub's names for them.
const SCRUB_PATTERNS: [&str; 8] = [
    "nnsa",
    "dod",
    "bsi",
    "gutmann",
    "schneier",
    "pfitzner7",
    "pfitzner33",
    "random",
];
/// VIR_STORAGE_VOL_WIPE_ALG_TRIM.
const WIPE_TRIM: u32 = 9;

/// Wipes a volume's data: zeros (a sparse file is emptied by truncation), or scrub's patterns.
pub(super) async fn wipe_volume(vol: &Vol, algorithm: u32) -> Result<()> {
    if algorithm == WIPE_TRIM {
        return Err(Error::with_detail(
            ErrorCode::ARGUMENT_UNSUPPORTED,
            ErrorDomain::STORAGE,
            "'trim' algorithm not supported",
        ));
    }
    if algorithm != 0 {
        let pattern = usize::try_from(algorithm - 1)
            .ok()
            .and_then(|i| SCRUB_PATTERNS.get(i))
            .ok_or_else(|| {
                Error::invalid_arg(
                    ErrorDomain::STORAGE,
                    format!("unsupported algorithm {algorithm}"),
                )
            })?;
        return run("scrub", &["-f", "-p", pattern, &vol.path])
            .await
            .map(|_| ());
    }
    let path = vol.path.clone();
    let allocation = vol.allocation;
    tokio::task::spawn_blocking(move || zero_file(&path, allocation))
        .await
        .map_err(|e| internal(format!("wipe task failed: {e}")))?
}

fn zero_file(path: &str, allocation: u64) -> Result<()> {
    use std::io::{Seek, Write};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| {
            sys(
                format!("Failed to open storage volume with path '{path}'"),
                &e,
            )
        })?;
    let meta = file.metadata().map_err(|e| {
        sys(
            format!("Failed to stat storage volume with path '{path}'"),
            &e,
        )
    })?;
    let size = meta.len();
    if meta.is_file() && meta.blocks() < size / 512 {
        // A sparse file: dropping its blocks zeroes it without writing.
        return file
            .set_len(0)
            .and_then(|()| file.set_len(size))
            .map_err(|e| sys(format!("Failed to truncate volume with path '{path}'"), &e));
    }
    let length = if meta.is_file() { size } else { allocation };
    let zeros = vec![0u8; 1 << 20];
    let mut left = length;
    let written = file.seek(std::io::SeekFrom::Start(0)).and_then(|_| {
        while left > 0 {
            let chunk = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
            file.write_all(&zeros[..chunk])?;
            left -= chunk as u64;
        }
        file.sync_all()
    });
    written.map_err(|e| {
        sys(
            format!("Failed to write to storage volume with path '{path}'"),
            &e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(magic: &[u8], fields: &[(usize, &[u8])]) -> Vec<u8> {
        let mut bytes = vec![0u8; 512];
        bytes[..magic.len()].copy_from_slice(magic);
        for (at, value) in fields {
            bytes[*at..*at + value.len()].copy_from_slice(value);
        }
        bytes
    }

    #[tokio::test]
    async fn files_are_probed_by_their_headers() {
        let dir = tempfile::tempdir().unwrap();
        let cases: Vec<(&str, Vec<u8>, &str, u64)> = vec![
            (
                "a.qcow2",
                header(
                    b"QFI\xfb",
                    &[(4, &3u32.to_be_bytes()), (24, &(5u64 << 20).to_be_bytes())],
                ),
                "qcow2",
                5 << 20,
            ),
            (
                "a.qed",
                header(b"QED\0", &[(48, &(7u64 << 20).to_le_bytes())]),
                "qed",
                7 << 20,
            ),
            (
                "a.vmdk",
                header(b"KDMV", &[(12, &2048u64.to_le_bytes())]),
                "vmdk",
                1 << 20,
            ),
            ("a.raw", b"just bytes".to_vec(), "raw", 10),
        ];
        for (name, bytes, format, capacity) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            let vol = probe_file(&path, name.into()).await.unwrap();
            assert_eq!(
                (vol.format.as_deref(), vol.capacity, vol.kind),
                (Some(format), capacity, vol_type::FILE),
                "{name}"
            );
            assert_eq!(vol.key, path.to_string_lossy());
        }
    }

    #[tokio::test]
    async fn zero_wipe_empties_sparse_and_dense_files() {
        let dir = tempfile::tempdir().unwrap();
        let dense = dir.path().join("dense");
        std::fs::write(&dense, vec![0xAAu8; 8192]).unwrap();
        let vol = probe_file(&dense, "dense".into()).await.unwrap();
        wipe_volume(&vol, 0).await.unwrap();
        let bytes = std::fs::read(&dense).unwrap();
        assert!(bytes.len() == 8192 && bytes.iter().all(|b| *b == 0));
        let err = wipe_volume(&vol, WIPE_TRIM).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::ARGUMENT_UNSUPPORTED);
    }
}
