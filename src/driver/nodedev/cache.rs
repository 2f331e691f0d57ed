//! The last sysfs scan, kept until the host changes, as libvirt's udev backend keeps its device list between
//! events. A scan is redone when the kernel announces a device event (a `NETLINK_KOBJECT_UEVENT` socket, read by a
//! thread that only raises a flag) or when the entries of the directories the scan walks differ from those of the
//! last scan (which catches what happens in a network namespace whose events this socket does not see). Reading
//! those few directories costs microseconds; a full scan reads every PCI device's config space.

use super::SysfsRoots;
use crate::model::node_device::NodeDeviceDef;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The names in each directory a scan walks, in order.
type Fingerprint = Vec<Vec<OsString>>;

pub struct ScanCache {
    last: Mutex<Option<(Fingerprint, Arc<Vec<NodeDeviceDef>>)>>,
    /// Raised by the uevent thread: some device was added, removed or changed.
    dirty: Arc<AtomicBool>,
}

impl ScanCache {
    /// A cache for `roots`; `listen` starts the uevent thread (the host's own tree only).
    pub fn new(listen: bool) -> Self {
        let dirty = Arc::new(AtomicBool::new(true));
        if listen {
            listen_for_uevents(dirty.clone());
        }
        Self {
            last: Mutex::new(None),
            dirty,
        }
    }

    /// The cached scan if nothing changed since, else a fresh one (run by `scan`, off the async threads).
    pub async fn get<F>(&self, roots: &SysfsRoots, scan: F) -> Arc<Vec<NodeDeviceDef>>
    where
        F: FnOnce() -> Vec<NodeDeviceDef> + Send + 'static,
    {
        let print = fingerprint(roots);
        let event = self.dirty.swap(false, Ordering::AcqRel);
        if !event {
            if let Ok(last) = self.last.lock() {
                if let Some((seen, devices)) = last.as_ref() {
                    if *seen == print {
                        return devices.clone();
                    }
                }
            }
        }
        let devices = Arc::new(tokio::task::spawn_blocking(scan).await.unwrap_or_default());
        if let Ok(mut last) = self.last.lock() {
            *last = Some((print, devices.clone()));
        }
        devices
    }
}

fn fingerprint(roots: &SysfsRoots) -> Fingerprint {
    super::sysfs::SOURCES
        .iter()
        .map(|source| {
            let mut names: Vec<OsString> = std::fs::read_dir(roots.sys.join(source))
                .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            names.sort();
            names
        })
        .collect()
}

/// Raises `dirty` at every kernel device event, for the life of the process. Without the socket (no privilege,
/// no netlink), the fingerprint alone decides.
fn listen_for_uevents(dirty: Arc<AtomicBool>) {
    use nix::sys::socket::{
        bind, recv, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
    };
    use std::os::fd::AsRawFd;
    let Ok(fd) = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkKObjectUEvent,
    ) else {
        return;
    };
    // Group 1: the kernel's own broadcasts.
    if bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 1)).is_err() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("uevents".into())
        .spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                    Ok(_) => dirty.store(true, Ordering::Release),
                    Err(nix::errno::Errno::EINTR | nix::errno::Errno::ENOBUFS) => {
                        dirty.store(true, Ordering::Release)
                    }
                    Err(_) => return,
                }
            }
        });
    if spawned.is_err() {
        tracing::warn!(
            "cannot start the device event thread; node devices are rescanned on change only"
        );
    }
}
