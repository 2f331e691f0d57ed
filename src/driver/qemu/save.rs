//! Saving a running guest's memory and device state into a file and starting it again from one, as libvirt's
//! qemu driver does (`virsh save` / `restore`, `managedsave`, `save-image-dumpxml` / `-define`).
//!
//! A save image is a header of ours (magic, version, whether the guest was running, the length of the XML
//! region), the domain's definition (NUL-terminated, padded by 64 KiB so a later `save-image-define` can grow it
//! in place, as libvirt pads), then QEMU's migration stream. QEMU writes the stream into a descriptor of the file
//! passed with `getfd` (QEMU 7.2 has no `file:` migration); the image is written under a temp name, marked
//! complete only after `query-migrate` says so, fsynced and renamed into place, so a failed or interrupted save
//! leaves no image. A restore starts QEMU with `-incoming defer` and feeds it the stream the same way.

use super::{check_flags, no_domain, qmp_error, QemuDriver};
use crate::driver::{event, flags, reason, DomainRef, DomainState};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{DomainDef, DomainXmlOptions};
use crate::persist;
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::qmp::QmpClient;

/// A complete image starts with this; [`PARTIAL`] marks one still being written.
const MAGIC: &[u8; 16] = b"VirtcimQemuSave\n";
const PARTIAL: &[u8; 16] = b"VirtcimQemuPart\n";
const VERSION: u32 = 1;
/// magic, version, XML region length, was-running, five reserved words (all little-endian `u32`).
const HEADER_LEN: usize = 48;
/// Room left after the XML for a longer definition later (libvirt leaves the same).
const XML_PADDING: usize = 64 * 1024;
/// The longest XML region a header may announce; anything longer is not an image of ours.
const MAX_DATA_LEN: u32 = 16 << 20;
/// The name the stream's descriptor gets in QEMU (`getfd`).
const FD_NAME: &str = "virtcim-save";
/// Between two `query-migrate` polls.
const POLL: Duration = Duration::from_millis(100);
/// How long an incoming migration may report no state at all before it is taken as never started.
const INCOMING_START: Duration = Duration::from_secs(30);
/// Large enough to never throttle a save (QEMU's default would cap it at 128 MiB/s).
const MAX_BANDWIDTH: u64 = 1 << 40;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The fixed part of an image.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Header {
    pub complete: bool,
    pub data_len: u32,
    pub was_running: bool,
}

fn failed(message: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::OPERATION_FAILED, ErrorDomain::QEMU, message)
}

fn encode_header(header: &Header) -> [u8; HEADER_LEN] {
    let mut bytes = [0u8; HEADER_LEN];
    bytes[..16].copy_from_slice(if header.complete { MAGIC } else { PARTIAL });
    bytes[16..20].copy_from_slice(&VERSION.to_le_bytes());
    bytes[20..24].copy_from_slice(&header.data_len.to_le_bytes());
    bytes[24..28].copy_from_slice(&u32::from(header.was_running).to_le_bytes());
    bytes
}

/// Decodes a header strictly, with libvirt's messages for what is not a usable image.
fn decode_header(bytes: &[u8; HEADER_LEN]) -> Result<Header> {
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let complete = match &bytes[..16] {
        m if m == MAGIC => true,
        m if m == PARTIAL => return Err(failed("save image is incomplete")),
        _ => return Err(failed("image magic is incorrect")),
    };
    let version = word(16);
    if version != VERSION {
        return Err(failed(format!(
            "image version is not supported ({version} > {VERSION})"
        )));
    }
    let data_len = word(20);
    if data_len == 0 || data_len > MAX_DATA_LEN {
        return Err(failed(format!("invalid header data length: {data_len}")));
    }
    let was_running = match word(24) {
        0 => false,
        1 => true,
        other => {
            return Err(failed(format!(
                "invalid running flag in save image: {other}"
            )))
        }
    };
    if (28..HEADER_LEN).step_by(4).any(|at| word(at) != 0) {
        return Err(failed("unsupported save image header"));
    }
    Ok(Header {
        complete,
        data_len,
        was_running,
    })
}

/// The XML region: the definition, a NUL, zeros up to `data_len` (or the XML plus [`XML_PADDING`]).
fn encode_region(xml: &str, data_len: Option<u32>) -> Result<Vec<u8>> {
    let needed = xml.len() + 1;
    let len = match data_len {
        Some(len) if usize::try_from(len).unwrap_or(0) < needed => {
            return Err(failed("new xml too large to fit in file"))
        }
        Some(len) => usize::try_from(len).unwrap_or(needed),
        None => needed + XML_PADDING,
    };
    if u32::try_from(len).map_or(true, |len| len > MAX_DATA_LEN) {
        return Err(failed("domain XML too large for a save image"));
    }
    let mut region = Vec::with_capacity(len);
    region.extend_from_slice(xml.as_bytes());
    region.resize(len, 0);
    Ok(region)
}

fn decode_region(region: &[u8]) -> Result<String> {
    let end = region
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| failed("failed to read domain XML"))?;
    let xml =
        std::str::from_utf8(&region[..end]).map_err(|_| failed("failed to read domain XML"))?;
    if xml.trim().is_empty() {
        return Err(failed("failed to read domain XML"));
    }
    Ok(xml.to_string())
}

/// An opened image: its header, its definition, and the file positioned at QEMU's stream.
pub(super) struct Image {
    pub header: Header,
    pub xml: String,
    pub file: File,
}

fn open_error(path: &Path, err: &std::io::Error) -> Error {
    Error::system(
        ErrorDomain::QEMU,
        format!("Failed to open file '{}'", path.display()),
        err,
    )
}

/// Opens and checks an image (for writing too with `write`, to update its definition).
pub(super) fn open_image(path: &Path, write: bool) -> Result<Image> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(write)
        .open(path)
        .map_err(|e| open_error(path, &e))?;
    let mut head = [0u8; HEADER_LEN];
    file.read_exact(&mut head)
        .map_err(|_| failed("failed to read qemu header"))?;
    let header = decode_header(&head)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    // The length is checked against the file before anything that size is allocated.
    if size < (HEADER_LEN as u64) + u64::from(header.data_len) {
        return Err(failed("failed to read domain XML"));
    }
    let mut region = vec![0u8; usize::try_from(header.data_len).unwrap_or(0)];
    file.read_exact(&mut region)
        .map_err(|_| failed("failed to read domain XML"))?;
    let xml = decode_region(&region)?;
    Ok(Image { header, xml, file })
}

/// Whether the file at `path` is an image some save left unfinished.
fn is_partial(path: &Path) -> bool {
    let mut magic = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == PARTIAL)
}

/// The file paths clients give are absolute (libvirt's client library makes them so); a relative one would
/// name a file relative to the daemon.
fn absolute(path: &str) -> Result<PathBuf> {
    let path = PathBuf::from(path);
    if !path.is_absolute() || path.file_name().is_none() {
        return Err(Error::invalid_arg(
            ErrorDomain::QEMU,
            format!(
                "save file path '{}' is not an absolute file path",
                path.display()
            ),
        ));
    }
    Ok(path)
}

fn exclusive_states(given: u32) -> Result<()> {
    if given & flags::SAVE_RUNNING != 0 && given & flags::SAVE_PAUSED != 0 {
        return Err(Error::invalid_arg(
            ErrorDomain::QEMU,
            "flags 'running' and 'paused' are mutually exclusive",
        ));
    }
    Ok(())
}

/// The run state a restore ends in, from the image and the RUNNING / PAUSED flags.
fn wanted_running(given: u32, saved: bool) -> bool {
    if given & flags::SAVE_RUNNING != 0 {
        true
    } else if given & flags::SAVE_PAUSED != 0 {
        false
    } else {
        saved
    }
}

/// What a replacement definition must keep for the saved memory to fit it (libvirt's ABI stability check, for
/// what this driver's definitions hold).
fn abi_check(saved: &DomainDef, new: &DomainDef) -> Result<()> {
    let mismatch = |what: &str, new: String, old: String| {
        Err(Error::with_detail(
            ErrorCode::CONFIG_UNSUPPORTED,
            ErrorDomain::QEMU,
            format!("Target domain {what} {new} does not match source {old}"),
        ))
    };
    if saved.name != new.name {
        return mismatch(
            "name",
            format!("'{}'", new.name),
            format!("'{}'", saved.name),
        );
    }
    if saved.uuid != new.uuid {
        return mismatch("uuid", new.uuid.to_string(), saved.uuid.to_string());
    }
    if saved.memory_kib != new.memory_kib {
        return mismatch(
            "max memory",
            new.memory_kib.to_string(),
            saved.memory_kib.to_string(),
        );
    }
    if saved.vcpus != new.vcpus {
        return mismatch("vCPU max", new.vcpus.to_string(), saved.vcpus.to_string());
    }
    if saved.os.machine != new.os.machine {
        return mismatch(
            "machine type",
            new.os.machine.clone().unwrap_or_default(),
            saved.os.machine.clone().unwrap_or_default(),
        );
    }
    Ok(())
}

fn image_xml(def: &DomainDef) -> String {
    def.to_xml(&DomainXmlOptions {
        id: None,
        secure: true,
    })
}

/// Drops the file's pages from the page cache (what BYPASS_CACHE asks: the image does not evict the host's
/// cache). QEMU writes through a plain descriptor, as O_DIRECT would need aligned writes it does not make.
fn drop_cache(file: &File) {
    let _ = nix::fcntl::posix_fadvise(
        file,
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    );
}

/// Polls `query-migrate` until QEMU's migration (`job` names it in errors) completes or fails.
async fn wait_migration(qmp: &QmpClient, job: &str) -> Result<()> {
    let started = tokio::time::Instant::now();
    loop {
        let info = qmp
            .execute("query-migrate", None)
            .await
            .map_err(qmp_error)?;
        match info["status"].as_str() {
            Some("completed") => return Ok(()),
            Some("failed" | "cancelled") => {
                let desc = info["error-desc"].as_str().unwrap_or("unexpectedly failed");
                return Err(failed(format!("{job}: {desc}")));
            }
            None if started.elapsed() > INCOMING_START => {
                return Err(failed(format!("{job}: the migration never started")));
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

/// Migrates the (stopped) guest into `fd` and waits for QEMU to finish.
async fn migrate_out(qmp: &QmpClient, fd: OwnedFd) -> Result<()> {
    // Best effort: an older QEMU without the parameter saves at its default speed.
    let _ = qmp
        .execute(
            "migrate-set-parameters",
            Some(json!({ "max-bandwidth": MAX_BANDWIDTH })),
        )
        .await;
    qmp.execute_with_fd("getfd", Some(json!({ "fdname": FD_NAME })), fd)
        .await
        .map_err(qmp_error)?;
    if let Err(err) = qmp
        .execute("migrate", Some(json!({ "uri": format!("fd:{FD_NAME}") })))
        .await
    {
        let _ = qmp
            .execute("closefd", Some(json!({ "fdname": FD_NAME })))
            .await;
        return Err(qmp_error(err));
    }
    wait_migration(qmp, "domain save job").await
}

/// A restore's part of a start: the image's stream and the state to end in.
pub(super) struct Incoming {
    pub file: File,
    /// Resume once the state is loaded; otherwise stay paused and say so with `suspended_detail`.
    pub running: bool,
    pub suspended_detail: i32,
    pub bypass_cache: bool,
}

/// How a start brings up a guest: booting afresh, or loading a saved image.
pub(super) enum Boot {
    Fresh {
        paused: bool,
    },
    Restore(Incoming),
    /// An incoming migration: QEMU listens on this URI and stays paused until Finish.
    Migration(String),
}

/// Loads the image's stream into a QEMU started with `-incoming defer` and waits until it is in.
pub(super) async fn receive(qmp: &QmpClient, incoming: &Incoming) -> Result<()> {
    let theirs = incoming
        .file
        .try_clone()
        .map_err(|e| Error::system(ErrorDomain::QEMU, "cannot pass the save image to QEMU", &e))?;
    qmp.execute_with_fd(
        "getfd",
        Some(json!({ "fdname": FD_NAME })),
        OwnedFd::from(theirs),
    )
    .await
    .map_err(qmp_error)?;
    qmp.execute(
        "migrate-incoming",
        Some(json!({ "uri": format!("fd:{FD_NAME}") })),
    )
    .await
    .map_err(qmp_error)?;
    let result = wait_migration(qmp, "domain restore job").await;
    if incoming.bypass_cache {
        drop_cache(&incoming.file);
    }
    result
}

/// Writes an image of `xml` at `path`: header and definition, then QEMU's stream, then the complete mark; under a
/// temp name renamed into place only when everything is on disk. Nothing is left at `path` on failure.
async fn write_image(
    qmp: &QmpClient,
    path: &Path,
    xml: &str,
    was_running: bool,
    bypass_cache: bool,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("/"))
        .to_path_buf();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}{}{}.{}",
        persist::TEMP_MARK,
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| {
            Error::system(
                ErrorDomain::QEMU,
                format!("failed to create domain save file '{}'", path.display()),
                &e,
            )
        })?;
    let outcome = async {
        let region = encode_region(xml, None)?;
        let mut header = Header {
            complete: false,
            data_len: u32::try_from(region.len()).unwrap_or(MAX_DATA_LEN),
            was_running,
        };
        file.write_all(&encode_header(&header))
            .and_then(|()| file.write_all(&region))
            .map_err(|e| {
                Error::system(
                    ErrorDomain::QEMU,
                    format!(
                        "failed to write header to domain save file '{}'",
                        path.display()
                    ),
                    &e,
                )
            })?;
        // QEMU's copy shares the file offset, so its stream follows the region.
        let theirs = file.try_clone().map_err(|e| {
            Error::system(ErrorDomain::QEMU, "cannot pass the save file to QEMU", &e)
        })?;
        migrate_out(qmp, OwnedFd::from(theirs)).await?;
        header.complete = true;
        let finish = {
            let (file, temp, target, dir) = (
                file.try_clone(),
                temp.clone(),
                path.to_path_buf(),
                dir.clone(),
            );
            move || -> std::io::Result<()> {
                let file = file?;
                file.write_all_at(&encode_header(&header), 0)?;
                file.sync_all()?;
                if bypass_cache {
                    drop_cache(&file);
                }
                std::fs::rename(&temp, &target)?;
                persist::sync_dir(&dir)
            }
        };
        tokio::task::spawn_blocking(finish)
            .await
            .map_err(|e| Error::internal(ErrorDomain::QEMU, e.to_string()))?
            .map_err(|e| {
                Error::system(
                    ErrorDomain::QEMU,
                    format!("failed to complete domain save file '{}'", path.display()),
                    &e,
                )
            })
    }
    .await;
    drop(file);
    if outcome.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    outcome
}

impl QemuDriver {
    /// Where the managed save image of domain `name` lives.
    pub(super) fn managed_save_path(&self, name: &str) -> PathBuf {
        self.shared.files.save_dir().join(format!("{name}.save"))
    }

    pub(super) fn has_managed_save(&self, name: &str) -> bool {
        self.managed_save_path(name).is_file()
    }

    /// `virDomainSaveFlags` (to `path`) or `virDomainManagedSave` (`path` None): pauses the guest, migrates it
    /// into the image and ends its QEMU (shut off, reason saved). A failure leaves the guest as it was.
    pub(super) async fn save_domain(
        &self,
        dom: &DomainRef,
        path: Option<&str>,
        dxml: Option<&str>,
        save_flags: u32,
    ) -> Result<()> {
        let api = if path.is_some() {
            "virDomainSaveFlags"
        } else {
            "virDomainManagedSave"
        };
        check_flags(
            save_flags,
            flags::SAVE_BYPASS_CACHE | flags::SAVE_RUNNING | flags::SAVE_PAUSED,
            api,
        )?;
        exclusive_states(save_flags)?;
        let target = path.map(absolute).transpose()?;
        let _guard = self.shared.lifecycle.lock().await;
        let (handle, live, state, generation, qmp) = {
            let domains = self.domains();
            let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
            let run = obj
                .run
                .as_ref()
                .filter(|_| obj.state.is_active())
                .ok_or_else(|| {
                    Error::operation_invalid(ErrorDomain::QEMU, "domain is not running")
                })?;
            if target.is_none() && obj.persistent.is_none() {
                return Err(Error::operation_invalid(
                    ErrorDomain::QEMU,
                    "cannot do managed save for transient domain",
                ));
            }
            let qmp = run
                .qmp
                .clone()
                .ok_or_else(|| failed(format!("no QMP connection to domain '{}'", obj.name())))?;
            let live = obj.live.clone().ok_or_else(no_domain)?;
            (
                obj.handle(),
                live,
                (obj.state, obj.reason),
                run.generation,
                qmp,
            )
        };
        let target = target.unwrap_or_else(|| self.managed_save_path(&handle.name));
        let def = match dxml {
            Some(xml) => {
                let new = self.replacement(xml).await?;
                abi_check(&live, &new)?;
                new
            }
            None => live,
        };
        let xml = image_xml(&def);
        let was_running = state.0 == DomainState::Running;
        if was_running {
            // Recorded before `stop`, so QEMU's STOP event is not taken for a user's pause.
            self.set_run_state(
                &handle,
                generation,
                (DomainState::Paused, reason::PAUSED_SAVE),
                Some((event::SUSPENDED, event::SUSPENDED_PAUSED)),
            );
            if let Err(err) = qmp.execute("stop", None).await {
                self.set_run_state(&handle, generation, state, None);
                return Err(qmp_error(err));
            }
        }
        let running_after = wanted_running(save_flags, was_running);
        let bypass = save_flags & flags::SAVE_BYPASS_CACHE != 0;
        match write_image(&qmp, &target, &xml, running_after, bypass).await {
            Ok(()) => {
                tracing::info!(domain = %handle.name, image = %target.display(), "guest saved");
                self.kill_run(handle.uuid, generation, reason::SHUTOFF_SAVED)
                    .await;
                Ok(())
            }
            Err(err) => {
                tracing::warn!(domain = %handle.name, "save failed: {err}");
                if was_running {
                    match qmp.execute("cont", None).await {
                        Ok(_) => self.set_run_state(
                            &handle,
                            generation,
                            (DomainState::Running, reason::RUNNING_SAVE_CANCELED),
                            Some((event::RESUMED, event::RESUMED_UNPAUSED)),
                        ),
                        Err(cont) => {
                            tracing::warn!(domain = %handle.name, "cannot resume after a failed save: {cont}");
                            self.set_run_state(
                                &handle,
                                generation,
                                (DomainState::Paused, reason::PAUSED_API_ERROR),
                                Some((event::SUSPENDED, event::SUSPENDED_API_ERROR)),
                            );
                        }
                    }
                }
                Err(err)
            }
        }
    }

    /// Sets a running domain's state (if run `generation` still runs), saves its status and emits `event`.
    pub(super) fn set_run_state(
        &self,
        handle: &DomainRef,
        generation: u64,
        (state, state_reason): (DomainState, i32),
        emitted: Option<(i32, i32)>,
    ) {
        {
            let mut domains = self.domains();
            let Some(obj) = domains
                .get_mut(&handle.uuid)
                .filter(|o| o.run.as_ref().is_some_and(|r| r.generation == generation))
            else {
                return;
            };
            obj.state = state;
            obj.reason = state_reason;
            self.shared.save_status_locked(obj);
        }
        if let Some((kind, detail)) = emitted {
            self.shared.emit(handle, kind, detail);
        }
    }

    /// `virDomainRestoreFlags`: starts the domain saved in `from`, running or paused as saved (or as `flags` say).
    pub(super) async fn restore_domain(
        &self,
        from: &str,
        dxml: Option<&str>,
        restore_flags: u32,
    ) -> Result<()> {
        check_flags(
            restore_flags,
            flags::SAVE_BYPASS_CACHE | flags::SAVE_RUNNING | flags::SAVE_PAUSED,
            "virDomainRestoreFlags",
        )?;
        exclusive_states(restore_flags)?;
        let path = absolute(from)?;
        let image = open_image(&path, false)?;
        let mut def = DomainDef::from_xml(&image.xml, false)?;
        if let Some(xml) = dxml {
            let new = self.replacement(xml).await?;
            abi_check(&def, &new)?;
            def = new;
        }
        let _guard = self.shared.lifecycle.lock().await;
        self.clash(&def)?;
        let persistent = match self.domains().get(&def.uuid) {
            Some(obj) if obj.state.is_active() => {
                return Err(Error::operation_invalid(
                    ErrorDomain::QEMU,
                    format!("domain '{}' is already active", def.name),
                ))
            }
            Some(obj) => obj.persistent.is_some(),
            None => false,
        };
        let incoming = Incoming {
            file: image.file,
            running: wanted_running(restore_flags, image.header.was_running),
            suspended_detail: event::SUSPENDED_RESTORED,
            bypass_cache: restore_flags & flags::SAVE_BYPASS_CACHE != 0,
        };
        self.start(def, persistent, Boot::Restore(incoming))
            .await
            .map(|_| ())
    }

    /// Starts persistent `def` from its managed save image (the caller holds the lifecycle lock and saw the
    /// image); the image is removed once the guest runs. `None`: the image was left unfinished by a save that
    /// never completed, and is removed so the domain boots afresh (as libvirt does).
    pub(super) async fn start_from_managed(
        &self,
        def: &DomainDef,
        start_flags: u32,
    ) -> Result<Option<DomainRef>> {
        let path = self.managed_save_path(&def.name);
        if is_partial(&path) {
            tracing::warn!(domain = %def.name, "ignoring incomplete managed save image");
            let _ = persist::remove_durable(
                &self.shared.files.save_dir(),
                &format!("{}.save", def.name),
            );
            return Ok(None);
        }
        let image = open_image(&path, false)?;
        let saved = DomainDef::from_xml(&image.xml, false)?;
        if saved.name != def.name || saved.uuid != def.uuid {
            return Err(failed(format!(
                "cannot restore domain '{}' uuid {} from a file which belongs to domain '{}' uuid {}",
                def.name, def.uuid, saved.name, saved.uuid
            )));
        }
        let paused = start_flags & flags::START_PAUSED != 0;
        let incoming = Incoming {
            file: image.file,
            running: image.header.was_running && !paused,
            suspended_detail: if paused {
                event::SUSPENDED_PAUSED
            } else {
                event::SUSPENDED_RESTORED
            },
            bypass_cache: start_flags & flags::START_BYPASS_CACHE != 0,
        };
        let handle = self.start(saved, true, Boot::Restore(incoming)).await?;
        if let Err(err) =
            persist::remove_durable(&self.shared.files.save_dir(), &format!("{}.save", def.name))
        {
            tracing::warn!(domain = %def.name, "cannot remove the managed save image: {err}");
        }
        Ok(Some(handle))
    }

    /// `virDomainManagedSaveRemove`.
    pub(super) async fn managed_save_remove(
        &self,
        dom: &DomainRef,
        remove_flags: u32,
    ) -> Result<()> {
        check_flags(remove_flags, 0, "virDomainManagedSaveRemove")?;
        let _guard = self.shared.lifecycle.lock().await;
        let (handle, _, _) = self.find(dom)?;
        let path = self.managed_save_path(&handle.name);
        std::fs::remove_file(&path)
            .and_then(|()| persist::sync_dir(&self.shared.files.save_dir()))
            .map_err(|e| {
                Error::system(
                    ErrorDomain::QEMU,
                    format!("Failed to remove managed save file '{}'", path.display()),
                    &e,
                )
            })
    }

    /// The image path of a domain's managed save, which must exist.
    fn existing_managed_image(&self, dom: &DomainRef) -> Result<PathBuf> {
        let (handle, _, _) = self.find(dom)?;
        let path = self.managed_save_path(&handle.name);
        if !path.is_file() {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "domain does not have managed save image",
            ));
        }
        Ok(path)
    }

    /// `virDomainManagedSaveGetXMLDesc`.
    pub(super) fn managed_save_xml(&self, dom: &DomainRef, xml_flags: u32) -> Result<String> {
        check_flags(
            xml_flags,
            flags::SAVE_IMAGE_XML_SECURE,
            "virDomainManagedSaveGetXMLDesc",
        )?;
        image_definition(&self.existing_managed_image(dom)?, xml_flags)
    }

    /// `virDomainManagedSaveDefineXML`.
    pub(super) async fn managed_save_define(
        &self,
        dom: &DomainRef,
        dxml: Option<&str>,
        define_flags: u32,
    ) -> Result<()> {
        check_flags(
            define_flags,
            flags::SAVE_RUNNING | flags::SAVE_PAUSED,
            "virDomainManagedSaveDefineXML",
        )?;
        let dxml = dxml.ok_or_else(|| {
            Error::invalid_arg(
                ErrorDomain::QEMU,
                "dxml in virDomainManagedSaveDefineXML must not be NULL",
            )
        })?;
        let new = self.replacement(dxml).await?;
        let _guard = self.shared.lifecycle.lock().await;
        redefine_image(&self.existing_managed_image(dom)?, dxml, new, define_flags)
    }

    /// A replacement definition as a define would take it (libvirt's post-parse: the machine type canonical),
    /// so the ABI check compares like with like.
    async fn replacement(&self, dxml: &str) -> Result<DomainDef> {
        let mut new = DomainDef::from_xml(dxml, false)?;
        self.post_parse(&mut new).await?;
        Ok(new)
    }

    /// `virDomainSaveImageGetXMLDesc`.
    pub(super) fn save_image_xml(&self, file: &str, xml_flags: u32) -> Result<String> {
        check_flags(
            xml_flags,
            flags::SAVE_IMAGE_XML_SECURE,
            "virDomainSaveImageGetXMLDesc",
        )?;
        image_definition(&absolute(file)?, xml_flags)
    }

    /// `virDomainSaveImageDefineXML`.
    pub(super) async fn save_image_define(
        &self,
        file: &str,
        dxml: &str,
        define_flags: u32,
    ) -> Result<()> {
        check_flags(
            define_flags,
            flags::SAVE_RUNNING | flags::SAVE_PAUSED,
            "virDomainSaveImageDefineXML",
        )?;
        let path = absolute(file)?;
        let new = self.replacement(dxml).await?;
        let _guard = self.shared.lifecycle.lock().await;
        redefine_image(&path, dxml, new, define_flags)
    }
}

/// The definition an image holds, as XML (secrets only with `SAVE_IMAGE_XML_SECURE`).
fn image_definition(path: &Path, xml_flags: u32) -> Result<String> {
    let image = open_image(path, false)?;
    let def = DomainDef::from_xml(&image.xml, false)?;
    Ok(def.to_xml(&DomainXmlOptions {
        id: None,
        secure: xml_flags & flags::SAVE_IMAGE_XML_SECURE != 0,
    }))
}

/// Replaces the definition (and with RUNNING / PAUSED the state to restore into) kept in an image, in place
/// within its XML region.
fn redefine_image(path: &Path, dxml: &str, new: DomainDef, define_flags: u32) -> Result<()> {
    exclusive_states(define_flags)?;
    let image = open_image(path, true)?;
    let running = wanted_running(define_flags, image.header.was_running);
    if image.xml == dxml && running == image.header.was_running {
        return Ok(());
    }
    let saved = DomainDef::from_xml(&image.xml, false)?;
    abi_check(&saved, &new)?;
    let header = Header {
        was_running: running,
        ..image.header
    };
    let mut bytes = encode_header(&header).to_vec();
    bytes.extend(encode_region(&image_xml(&new), Some(header.data_len))?);
    image
        .file
        .write_all_at(&bytes, 0)
        .and_then(|()| image.file.sync_all())
        .map_err(|e| {
            Error::system(
                ErrorDomain::QEMU,
                format!("failed to write header data to '{}'", path.display()),
                &e,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(complete: bool, data_len: u32, was_running: bool) -> Header {
        Header {
            complete,
            data_len,
            was_running,
        }
    }

    #[test]
    fn headers_round_trip() {
        for h in [header(true, 70_000, true), header(true, 1, false)] {
            assert_eq!(decode_header(&encode_header(&h)).unwrap(), h);
        }
    }

    #[test]
    fn bad_headers_get_libvirts_messages() {
        let message = |bytes: [u8; HEADER_LEN]| decode_header(&bytes).unwrap_err().message;
        assert!(
            message(encode_header(&header(false, 10, true))).contains("save image is incomplete")
        );
        assert!(message([0u8; HEADER_LEN]).contains("image magic is incorrect"));
        let mut bytes = encode_header(&header(true, 10, true));
        bytes[16] = 9;
        assert!(message(bytes).contains("image version is not supported"));
        let mut bytes = encode_header(&header(true, 10, true));
        bytes[20..24].copy_from_slice(&(MAX_DATA_LEN + 1).to_le_bytes());
        assert!(message(bytes).contains("invalid header data length"));
        let mut bytes = encode_header(&header(true, 10, true));
        bytes[24] = 2;
        assert!(message(bytes).contains("running flag"));
        let mut bytes = encode_header(&header(true, 10, true));
        bytes[40] = 1;
        assert!(message(bytes).contains("unsupported save image header"));
    }

    #[test]
    fn regions_pad_and_refuse_what_does_not_fit() {
        let region = encode_region("<domain/>", None).unwrap();
        assert_eq!(region.len(), 10 + XML_PADDING);
        assert_eq!(decode_region(&region).unwrap(), "<domain/>");
        assert_eq!(encode_region("<domain/>", Some(10)).unwrap().len(), 10);
        let err = encode_region("<domain/>", Some(9)).unwrap_err();
        assert!(err.message.contains("new xml too large to fit in file"));
        assert!(decode_region(b"<domain/>").is_err());
        assert!(decode_region(&[0u8; 8]).is_err());
        assert!(decode_region(&[0xff, 0xfe, 0]).is_err());
    }

    #[test]
    fn opening_checks_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img");
        let mut bytes = encode_header(&header(true, 100, false)).to_vec();
        bytes.extend(encode_region("<domain/>", Some(100)).unwrap());
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(open_image(&path, false).is_err(), "truncated XML region");
        bytes.extend(b"stream");
        std::fs::write(&path, &bytes).unwrap();
        let mut image = open_image(&path, false).unwrap();
        assert_eq!(image.xml, "<domain/>");
        assert!(!image.header.was_running);
        let mut rest = String::new();
        image.file.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "stream", "the file is left at QEMU's stream");
        std::fs::write(&path, b"not an image").unwrap();
        let err = open_image(&path, false).err().unwrap();
        assert!(err.message.contains("failed to read qemu header"), "{err}");
        assert!(absolute("relative.save").is_err());
    }

    #[test]
    fn flags_pick_the_state() {
        assert!(wanted_running(flags::SAVE_RUNNING, false));
        assert!(!wanted_running(flags::SAVE_PAUSED, true));
        assert!(wanted_running(0, true));
        assert!(exclusive_states(flags::SAVE_RUNNING | flags::SAVE_PAUSED).is_err());
    }
}
