//! The QEMU driver's streams on a running guest: screenshots (QMP `screendump` to a temp file that is streamed and
//! removed) and the serial console (the pty QEMU made for a `<serial type='pty'>`, found with `query-chardev`,
//! one client at a time, `--force` takes it over).

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{LazyLock, Mutex};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use serde_json::json;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

use super::*;
use crate::driver::volume_io::download_file;
use crate::driver::{stream_closed, Packet, Stream};
use crate::model::{CharDevDef, DomainDef};

/// What `virDomainScreenshot` answers for QEMU's `screendump` format (PPM), as libvirt 9.0 does.
const SCREENSHOT_MIME: &str = "image/x-portable-pixmap";

/// Bytes read from a console pty at a time.
const CONSOLE_READ: usize = 4096;

/// The console sessions of all guests, by pty path: one reader per console, host-wide, like libvirt's chardev
/// locks (a pty belongs to one guest, so its path is a unique key across connections and driver instances).
static SESSIONS: LazyLock<Mutex<HashMap<String, Session>>> = LazyLock::new(Default::default);

struct Session {
    id: u64,
    /// Ends the session when a forced open takes the console over.
    kick: oneshot::Sender<()>,
}

fn sessions() -> std::sync::MutexGuard<'static, HashMap<String, Session>> {
    SESSIONS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether the guest has a display device a screenshot can be taken from (what `command::graphics_args` gives it).
fn has_screen(def: &DomainDef) -> bool {
    let model = def.devices.videos.first().map(|v| v.model_type.as_str());
    match model {
        Some("none") => false,
        Some(_) => true,
        None => !def.devices.graphics.is_empty(),
    }
}

/// Records in a live definition the pty QEMU gave each `pty` serial port (`query-chardev` names them
/// `charserialN`, their filename `pty:/dev/pts/M`), and on the console that shows the first serial port.
pub(super) async fn record_ptys(client: &QmpClient, def: &mut DomainDef) {
    let wants_pty = |c: &CharDevDef| c.dev_type == "pty";
    if !def
        .devices
        .serials
        .iter()
        .chain(&def.devices.consoles)
        .any(wants_pty)
    {
        return;
    }
    let Ok(value) = client.execute("query-chardev", None).await else {
        return;
    };
    let ptys: HashMap<String, String> = value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let label = c["label"].as_str()?;
            let path = c["filename"].as_str()?.strip_prefix("pty:")?;
            Some((label.to_string(), path.to_string()))
        })
        .collect();
    let mut first = None;
    for (index, serial) in def.devices.serials.iter_mut().enumerate() {
        let port = serial
            .target_port
            .unwrap_or(u32::try_from(index).unwrap_or(u32::MAX));
        if wants_pty(serial) {
            serial.source_path = ptys.get(&format!("charserial{port}")).cloned();
        }
        if index == 0 {
            first = serial.source_path.clone();
        }
    }
    if def.devices.serials.is_empty() {
        first = ptys.get("charserial0").cloned();
    }
    for (index, console) in def.devices.consoles.iter_mut().enumerate() {
        if !wants_pty(console) {
            continue;
        }
        match console.target_type.as_deref() {
            None | Some("serial") if index == 0 => console.source_path = first.clone(),
            // A virtio console's chardev is `charconsoleN` (see `devices::virtio_serial_args`).
            Some("virtio") => {
                console.source_path = ptys.get(&format!("charconsole{index}")).cloned()
            }
            _ => {}
        }
    }
}

/// The character device `dev_name` names (`serialN`, `consoleN`; none: the first console, else the first
/// serial port) and its alias.
fn find_chardev<'a>(
    def: &'a DomainDef,
    dev_name: Option<&str>,
) -> Option<(String, &'a CharDevDef)> {
    let serials = def.devices.serials.iter().enumerate().map(|(i, c)| {
        let port = c
            .target_port
            .unwrap_or(u32::try_from(i).unwrap_or(u32::MAX));
        (format!("serial{port}"), c)
    });
    let consoles =
        (def.devices.consoles.iter().enumerate()).map(|(i, c)| (format!("console{i}"), c));
    match dev_name {
        Some(name) => consoles.chain(serials).find(|(alias, _)| alias == name),
        None => consoles.chain(serials).next(),
    }
}

impl QemuDriver {
    /// `virDomainScreenshot`: QEMU writes the screen to a temp file, which is opened, removed and streamed.
    pub(super) async fn screenshot(
        &self,
        dom: &DomainRef,
        screen: u32,
        shot_flags: u32,
    ) -> Result<(String, Stream)> {
        check_flags(shot_flags, 0, "virDomainScreenshot")?;
        let def = {
            let domains = self.domains();
            let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
            if !obj.state.is_active() {
                return Err(Error::operation_invalid(
                    ErrorDomain::QEMU,
                    "domain is not running",
                ));
            }
            obj.def().clone()
        };
        if !has_screen(&def) {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_FAILED,
                ErrorDomain::QEMU,
                "no screens to take screenshot from",
            ));
        }
        if screen != 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!("no screen with index {screen}"),
            ));
        }
        let qmp = self.monitor(dom)?;
        let path = self
            .shared
            .files
            .run_dir()
            .join(format!("qemu.screendump.{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            qmp.execute(
                "screendump",
                Some(json!({ "filename": path.to_string_lossy() })),
            )
            .await
            .map_err(qmp_error)?;
            std::fs::File::open(&path).map_err(|err| {
                Error::system(
                    ErrorDomain::QEMU,
                    format!("unable to open {}", path.display()),
                    &err,
                )
            })
        }
        .await;
        // The open file keeps the image; the name goes at once, whatever happened.
        let _ = std::fs::remove_file(&path);
        let file = result?;
        let stream = download_file(file, "screenshot".into(), 0, 0, false);
        Ok((SCREENSHOT_MIME.to_string(), stream))
    }

    /// `virDomainOpenConsole`: a two-way stream on the guest's console pty.
    pub(super) async fn open_console(
        &self,
        dom: &DomainRef,
        dev_name: Option<&str>,
        console_flags: u32,
    ) -> Result<Stream> {
        check_flags(
            console_flags,
            flags::CONSOLE_FORCE | flags::CONSOLE_SAFE,
            "virDomainOpenConsole",
        )?;
        let def = {
            let domains = self.domains();
            let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
            if !obj.state.is_active() {
                return Err(Error::operation_invalid(
                    ErrorDomain::QEMU,
                    "domain is not running",
                ));
            }
            obj.def().clone()
        };
        let shown = dev_name.unwrap_or("(null)");
        let Some((alias, chr)) = find_chardev(&def, dev_name) else {
            return Err(Error::internal(
                ErrorDomain::QEMU,
                format!("cannot find character device {shown}"),
            ));
        };
        let not_pty = || {
            Error::internal(
                ErrorDomain::QEMU,
                format!(
                    "character device {} is not using a PTY",
                    dev_name.unwrap_or(&alias)
                ),
            )
        };
        if chr.dev_type != "pty" {
            return Err(not_pty());
        }
        let path = chr.source_path.clone().ok_or_else(not_pty)?;
        let force = console_flags & flags::CONSOLE_FORCE != 0;
        let (kick, kicked) = oneshot::channel();
        let id = {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut all = sessions();
            if let Some(old) = all.remove(&path) {
                if !force && !old.kick.is_closed() {
                    all.insert(path.clone(), old);
                    return Err(Error::with_detail(
                        ErrorCode::OPERATION_FAILED,
                        ErrorDomain::QEMU,
                        "Active console session exists for this domain",
                    ));
                }
                let _ = old.kick.send(());
            }
            all.insert(path.clone(), Session { id, kick });
            id
        };
        let pty = match open_pty(&path) {
            Ok(pty) => pty,
            Err(err) => {
                release(&path, id);
                return Err(err);
            }
        };
        let (user, driver) = Stream::pair();
        tokio::spawn(async move {
            serve_console(pty, driver, kicked).await;
            release(&path, id);
        });
        Ok(user)
    }
}

fn release(path: &str, id: u64) {
    let mut all = sessions();
    if all.get(path).is_some_and(|s| s.id == id) {
        all.remove(path);
    }
}

/// The pty is an owned descriptor that the AsyncFd owns and drops last, which is what the sound constructor
/// requires (it is `unsafe` only because it cannot check that; this crate forbids `unsafe`).
#[allow(deprecated)]
fn watch(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    AsyncFd::new(fd)
}

/// Opens the pty side QEMU leaves to us, in raw mode so that no byte is echoed or translated.
fn open_pty(path: &str) -> Result<AsyncFd<OwnedFd>> {
    let fail = |errno: Errno| {
        Error::system(
            ErrorDomain::QEMU,
            format!("Unable to open stream for '{path}'"),
            &std::io::Error::from_raw_os_error(errno as i32),
        )
    };
    let fd = open(
        path,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail)?;
    let mut termios = tcgetattr(&fd).map_err(fail)?;
    cfmakeraw(&mut termios);
    tcsetattr(&fd, SetArg::TCSANOW, &termios).map_err(fail)?;
    watch(fd)
        .map_err(|err| Error::system(ErrorDomain::QEMU, format!("Unable to watch '{path}'"), &err))
}

/// Moves bytes both ways between the pty and the stream until the client finishes or aborts, QEMU hangs up, or
/// another client takes the console over. Neither direction waits on the other: guest output is read only while
/// the client's queue has room, and client input is always taken.
async fn serve_console(
    pty: AsyncFd<OwnedFd>,
    mut driver: Stream,
    mut kicked: oneshot::Receiver<()>,
) {
    let mut pending: Option<Vec<u8>> = None;
    let mut buf = vec![0u8; CONSOLE_READ];
    let output = driver.sender();
    loop {
        tokio::select! {
            _ = &mut kicked => {
                let _ = driver.try_send(Packet::Error(stream_closed()));
                return;
            }
            permit = output.reserve(), if pending.is_some() => {
                match (permit, pending.take()) {
                    (Ok(permit), Some(bytes)) => permit.send(Packet::Data(bytes)),
                    _ => return,
                }
            }
            ready = pty.readable(), if pending.is_none() => {
                let Ok(mut guard) = ready else { return };
                match guard.try_io(|fd| nix::unistd::read(fd.get_ref(), &mut buf).map_err(std::io::Error::from)) {
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        // QEMU closed its side: the client sees the end of file, then finishes.
                        if driver.send(Packet::Eof).await.is_ok() {
                            crate::driver::await_finish(&mut driver).await;
                        }
                        return;
                    }
                    Ok(Ok(n)) => pending = Some(buf[..n].to_vec()),
                    Err(_would_block) => {}
                }
            }
            packet = driver.recv() => match packet {
                Some(Packet::Data(bytes)) => {
                    if write_all(&pty, &bytes).await.is_err() {
                        let _ = driver.try_send(Packet::Error(stream_closed()));
                        return;
                    }
                }
                Some(Packet::Hole(_) | Packet::Eof) => {}
                Some(Packet::Finish) => {
                    let _ = driver.send(Packet::Done).await;
                    return;
                }
                Some(Packet::Abort | Packet::Error(_) | Packet::Done) | None => return,
            },
        }
    }
}

async fn write_all(pty: &AsyncFd<OwnedFd>, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let mut guard = pty.writable().await?;
        match guard
            .try_io(|fd| nix::unistd::write(fd.get_ref(), bytes).map_err(std::io::Error::from))
        {
            Ok(Ok(n)) => bytes = &bytes[n..],
            Ok(Err(err)) => return Err(err),
            Err(_would_block) => {}
        }
    }
    Ok(())
}
