//! The QEMU tests' helpers: a tiny spinning guest, reading QEMU's own view of it from /proc, and a lock that
//! keeps a test that measures a guest apart from other guests.

use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Who may run QEMU guests now. A test that measures a guest's vCPU time runs alone ([`alone`]); other tests'
/// guests may run together ([`alongside`]). CI has 2 cores, and these tests used to be separate binaries run one
/// after another. A tokio lock, since the async tests hold it across awaits.
static GUESTS: RwLock<()> = RwLock::const_new(());

/// Held by a (synchronous) test whose guests must have the machine to themselves.
pub fn alone() -> RwLockWriteGuard<'static, ()> {
    GUESTS.blocking_write()
}

/// Held by an async test whose guests must have the machine to themselves: QEMU's monitor answers in time even
/// when CI's two cores are busy with other tests' guests.
pub async fn alone_async() -> RwLockWriteGuard<'static, ()> {
    GUESTS.write().await
}

/// Held by an async test whose guests may share the machine with other such tests.
pub async fn alongside() -> RwLockReadGuard<'static, ()> {
    GUESTS.read().await
}

/// Whether qemu-system-x86_64 is installed.
pub fn have_qemu() -> bool {
    super::have("qemu-system-x86_64", "--version")
}

/// A boot sector that spins (`jmp $`): the vCPU thread burns CPU exactly while QEMU runs the guest.
pub fn spinning_disk(dir: &Path) -> PathBuf {
    let mut sector = vec![0u8; 512];
    sector[0] = 0xEB;
    sector[1] = 0xFE;
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector.resize(4096, 0);
    let path = dir.join("spin.img");
    std::fs::write(&path, sector).expect("disk");
    path
}

pub fn guest_xml_file(dir: &Path, name: &str) -> PathBuf {
    let disk = spinning_disk(dir);
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk></devices></domain>",
        disk.display()
    );
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, xml).expect("xml");
    path
}

/// CPU ticks (user + system) of QEMU's vCPU thread ("CPU 0/TCG", named through debug-threads=on).
pub fn vcpu_ticks(pid: i32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("qemu tasks");
    for task in tasks.map_while(Result::ok) {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("CPU 0/") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        // After the command name: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
        if let (Some(user), Some(system)) = (tick(14), tick(15)) {
            return user + system;
        }
    }
    panic!("no vCPU thread in qemu {pid}");
}

/// Whether QEMU executes the guest: its vCPU thread gains CPU time over 600 ms.
pub fn guest_executing(pid: i32) -> bool {
    let before = vcpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(600));
    vcpu_ticks(pid) > before + 2
}

/// A Linux bridge of a test's own with no uplink (guests' NICs on it reach nothing), named `PREFIX<pid>` so
/// concurrent test runs do not collide; deleted when dropped, however the test ends. None when not root or
/// without /dev/net/tun.
pub struct HostBridge(pub String);

impl HostBridge {
    pub fn new(prefix: &str) -> Option<Self> {
        if !nix::unistd::Uid::effective().is_root() || !Path::new("/dev/net/tun").exists() {
            return None;
        }
        let name = format!("{prefix}{}", std::process::id() % 100_000);
        let made = std::process::Command::new("ip")
            .args(["link", "add", &name, "type", "bridge"])
            .status()
            .is_ok_and(|s| s.success());
        made.then_some(Self(name))
    }
}

impl Drop for HostBridge {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .status();
    }
}

/// A network link's interface index, which tells a link from a later one given the same name: tap names such as
/// `vnetN` are taken again at once by other tests' guests.
pub fn link_index(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex")).ok()
}

/// Whether the link `name`, which had `index`, is gone (absent, or its name now another link's).
pub fn link_gone(name: &str, index: &Option<String>) -> bool {
    link_index(name) != *index
}
