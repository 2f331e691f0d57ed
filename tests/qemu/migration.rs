//! Migration between two virtcimd daemons on one machine (two state dirs, two socket dirs), driven by stock
//! `virsh migrate`: live with the guest's memory intact (a guest that fills its RAM with known words and counts in
//! a loop), peer to peer over TCP on 127.0.0.1, offline for the qemu and test drivers, `domjobinfo`,
//! `domjobabort`, speed and downtime, and a destination that dies half-way; with the lifecycle events of both ends.
//!
//! QEMU's own stream goes over 127.0.0.1 (`--migrateuri tcp://127.0.0.1`); nothing leaves the machine.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::daemon::{ok, peers_present, run, Daemon, QemuReaper};
use crate::support::qemu::alone;
use crate::support::{free_port, wait_for};

/// Where the guest's loop counts (a dword, physical address).
const COUNTER: u64 = 0x7e00;
/// The guest writes each dword's own address from 1 MiB up to here.
const FILL_END: u32 = 48 << 20;

/// A boot sector that switches to "unreal" mode (4 GiB data segment), writes every dword from 1 MiB to
/// [`FILL_END`] with its own address (so no page is zero and each is recognisable), then increments the dword at
/// [`COUNTER`] forever.
fn filling_disk(dir: &Path) -> PathBuf {
    let mut c: Vec<u8> = Vec::new();
    c.extend([0xFA, 0x31, 0xC0, 0x8E, 0xD8]); // cli; xor ax,ax; mov ds,ax
    let lgdt_at = c.len();
    c.extend([0x0F, 0x01, 0x16, 0, 0]); // lgdt [desc]
    c.extend([0x0F, 0x20, 0xC0, 0x0C, 0x01, 0x0F, 0x22, 0xC0]); // cr0.PE = 1
    c.extend([0xBB, 0x08, 0x00, 0x8E, 0xDB]); // ds = flat 4 GiB descriptor
    c.extend([0x24, 0xFE, 0x0F, 0x22, 0xC0]); // cr0.PE = 0
    c.extend([0x31, 0xC0, 0x8E, 0xD8]); // ds = 0, its 4 GiB limit kept
    c.extend([0x66, 0xBE]);
    c.extend((1u32 << 20).to_le_bytes()); // mov esi, 1 MiB
    let fill = c.len();
    c.extend([0x66, 0x67, 0x89, 0x36]); // mov [esi], esi
    c.extend([0x66, 0x83, 0xC6, 0x04]); // add esi, 4
    c.extend([0x66, 0x81, 0xFE]);
    c.extend(FILL_END.to_le_bytes()); // cmp esi, FILL_END
    c.extend([0x72, rel8(fill, c.len())]); // jb fill
    let count = c.len();
    c.extend([0x66, 0xFF, 0x06, 0x00, 0x7E]); // inc dword [0x7e00]
    c.extend([0xEB, rel8(count, c.len())]); // jmp count
    while !c.len().is_multiple_of(8) {
        c.push(0x90);
    }
    let gdt = c.len();
    c.extend([0; 8]);
    c.extend([0xFF, 0xFF, 0x00, 0x00, 0x00, 0x92, 0xCF, 0x00]);
    let desc = c.len();
    c.extend(15u16.to_le_bytes());
    let at = |offset: usize| 0x7c00u16 + u16::try_from(offset).expect("in the sector");
    c.extend(u32::from(at(gdt)).to_le_bytes());
    let desc_addr = at(desc).to_le_bytes();
    c[lgdt_at + 3] = desc_addr[0];
    c[lgdt_at + 4] = desc_addr[1];
    let mut sector = vec![0u8; 4096];
    sector[..c.len()].copy_from_slice(&c);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    let path = dir.join("fill.img");
    std::fs::write(&path, sector).expect("disk");
    path
}

/// The byte of a short jump at `from` (its opcode's offset) back to `target`.
fn rel8(target: usize, from: usize) -> u8 {
    let back = i8::try_from(i64::try_from(target).unwrap() - i64::try_from(from + 2).unwrap())
        .expect("a short jump");
    back.to_le_bytes()[0]
}

pub(crate) fn guest_xml(dir: &Path, name: &str, mib: u32) -> PathBuf {
    let disk = filling_disk(dir);
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>{mib}</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk></devices></domain>",
        disk.display()
    );
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, xml).expect("xml");
    path
}

/// A dword of guest RAM, read through `virsh qemu-monitor-command --hmp xp`.
fn peek(uri: &str, name: &str, addr: u64) -> u64 {
    let out = ok(
        "virsh",
        uri,
        &[
            "qemu-monitor-command",
            name,
            "--hmp",
            &format!("xp /1wx {addr:#x}"),
        ],
    );
    let word = out
        .split(':')
        .nth(1)
        .map(str::trim)
        .and_then(|w| w.strip_prefix("0x"))
        .unwrap_or_else(|| panic!("xp answer: {out}"));
    u64::from_str_radix(word, 16).expect("hex word")
}

fn state(uri: &str, name: &str) -> String {
    ok("virsh", uri, &["domstate", name, "--reason"])
        .trim()
        .to_string()
}

fn names(uri: &str) -> String {
    ok("virsh", uri, &["list", "--all", "--name"])
}

/// Waits until the guest has filled its RAM (the last word written holds its address).
pub(crate) fn wait_filled(uri: &str, name: &str) {
    let last = u64::from(FILL_END - 4);
    assert!(
        wait_for(Duration::from_secs(60), || peek(uri, name, last) == last),
        "the guest never filled its memory"
    );
}

/// `virsh event --all --loop` on one daemon, collecting what it prints until dropped.
struct Events(Option<Child>);

impl Events {
    fn watch(uri: &str) -> Self {
        let child = Command::new("virsh")
            .args(["-c", uri, "event", "--all", "--loop"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("virsh event");
        // Registered before the caller acts.
        std::thread::sleep(Duration::from_millis(700));
        Self(Some(child))
    }

    /// Ends the watcher (a process this test started) and returns what it printed.
    fn finish(mut self) -> String {
        let mut child = self.0.take().expect("watcher");
        std::thread::sleep(Duration::from_millis(500));
        let _ = kill(
            Pid::from_raw(i32::try_from(child.id()).expect("pid")),
            Signal::SIGTERM,
        );
        let mut text = String::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_string(&mut text);
        }
        let _ = child.wait();
        text
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A daemon's own directory under the test's temp dir.
fn sub(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).expect("daemon dir");
    path
}

fn tcp_listener(port: u16) -> String {
    format!(
        "listen_tcp = 1\nlisten_addr = \"127.0.0.1\"\ntcp_port = \"{port}\"\nauth_tcp = \"none\"\n"
    )
}

#[test]
fn live_migration_moves_the_guest_with_its_memory_and_events() {
    if !peers_present() {
        return;
    }
    let _alone = alone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let port_a = free_port();
    let a = Daemon::start_with(&sub(tmp.path(), "a"), &tcp_listener(port_a));
    let b = Daemon::start(&sub(tmp.path(), "b"));
    let reaper = QemuReaper::default();
    let (ua, ub) = (a.uri(), b.uri());
    let name = format!("mig-live-{}", std::process::id());
    let xml = guest_xml(tmp.path(), &name, 64);
    ok("virsh", &ua, &["define", &xml.to_string_lossy()]);
    ok("virsh", &ua, &["start", &name]);
    reaper.watch(a.qemu_pid(&name));
    wait_filled(&ua, &name);

    // A paused guest arrives paused, its memory word for word: the counter stood still in between.
    ok("virsh", &ua, &["suspend", &name]);
    let counted = peek(&ua, &name, COUNTER);
    assert!(counted > 0);
    let (events_a, events_b) = (Events::watch(&ua), Events::watch(&ub));
    ok(
        "virsh",
        &ua,
        &[
            "migrate",
            "--live",
            &name,
            &ub,
            "--migrateuri",
            "tcp://127.0.0.1",
        ],
    );
    reaper.watch(b.qemu_pid(&name));
    assert_eq!(state(&ub, &name), "paused (user)");
    assert_eq!(peek(&ub, &name, COUNTER), counted);
    assert_eq!(peek(&ub, &name, 0x200_0000), 0x200_0000);
    assert_eq!(state(&ua, &name), "shut off (migrated)");
    ok("virsh", &ub, &["resume", &name]);
    assert!(wait_for(Duration::from_secs(10), || peek(
        &ub, &name, COUNTER
    ) > counted));
    let (seen_a, seen_b) = (events_a.finish(), events_b.finish());
    assert!(seen_a.contains("Stopped Migrated"), "{seen_a}");
    assert!(seen_b.contains("Started Migrated"), "{seen_b}");

    // Running, live, and back peer to peer over TCP: the source daemon drives our remote driver.
    let events_b = Events::watch(&ub);
    let before = peek(&ub, &name, COUNTER);
    let dest = format!("qemu+tcp://127.0.0.1:{port_a}/system");
    ok(
        "virsh",
        &ub,
        &[
            "migrate",
            "--live",
            "--p2p",
            &name,
            &dest,
            "--migrateuri",
            "tcp://127.0.0.1",
        ],
    );
    reaper.watch(a.qemu_pid(&name));
    assert_eq!(state(&ua, &name), "running (migrated)");
    assert!(peek(&ua, &name, COUNTER) >= before);
    assert_eq!(peek(&ua, &name, 0x100_0000), 0x100_0000);
    assert!(
        !names(&ub).contains(&name),
        "the transient guest left the source"
    );
    let seen_b = events_b.finish();
    assert!(seen_b.contains("Suspended Migrated"), "{seen_b}");
    assert!(seen_b.contains("Stopped Migrated"), "{seen_b}");
    let completed = ok("virsh", &ua, &["domjobinfo", &name, "--completed"]);
    assert!(completed.contains("Total downtime"), "{completed}");
    ok("virsh", &ua, &["destroy", &name]);
}

#[test]
fn offline_migration_moves_the_definition_for_both_drivers() {
    if !peers_present() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = Daemon::start(&sub(tmp.path(), "a"));
    let b = Daemon::start(&sub(tmp.path(), "b"));
    let (ua, ub) = (a.uri(), b.uri());
    let name = format!("mig-off-{}", std::process::id());
    let xml = guest_xml(tmp.path(), &name, 32);
    ok("virsh", &ua, &["define", &xml.to_string_lossy()]);
    let out = run("virsh", &ua, &["migrate", "--offline", &name, &ub]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("persistent flag"),
        "{out:?}"
    );
    ok(
        "virsh",
        &ua,
        &[
            "migrate",
            "--offline",
            "--persistent",
            "--undefinesource",
            &name,
            &ub,
        ],
    );
    assert!(!names(&ua).contains(&name));
    assert_eq!(state(&ub, &name), "shut off (unknown)");
    let dumped = ok("virsh", &ub, &["dumpxml", &name]);
    assert!(dumped.contains("fill.img"), "{dumped}");

    // The test driver of each daemon, over its own socket.
    let test_uri = |d: &Daemon| {
        d.uri()
            .replace("qemu+unix:///system", "test+unix:///default")
    };
    let (ta, tb) = (test_uri(&a), test_uri(&b));
    let test_xml = tmp.path().join("test-guest.xml");
    std::fs::write(
        &test_xml,
        "<domain type='test'><name>traveller</name><memory>8192</memory><os><type>hvm</type></os></domain>",
    )
    .expect("xml");
    ok("virsh", &ta, &["define", &test_xml.to_string_lossy()]);
    let moving = [
        "migrate",
        "--offline",
        "--persistent",
        "traveller",
        &tb,
        "--dname",
        "moved",
    ];
    ok("virsh", &ta, &moving);
    assert!(names(&tb).contains("moved"));
    assert!(
        names(&ta).contains("traveller"),
        "the source keeps its definition"
    );
    let out = run("virsh", &ta, &["migrate", "--live", "test", &tb]);
    assert!(!out.status.success(), "{out:?}");
}

#[test]
fn an_aborted_or_failed_migration_leaves_the_guest_running_on_the_source() {
    if !peers_present() {
        return;
    }
    let _alone = alone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = Daemon::start(&sub(tmp.path(), "a"));
    let port_b = free_port();
    let mut b = Daemon::start_with(&sub(tmp.path(), "b"), &tcp_listener(port_b));
    let reaper = QemuReaper::default();
    let (ua, ub) = (a.uri(), b.uri());
    let name = format!("mig-abort-{}", std::process::id());
    let xml = guest_xml(tmp.path(), &name, 64);
    ok("virsh", &ua, &["create", &xml.to_string_lossy()]);
    reaper.watch(a.qemu_pid(&name));
    wait_filled(&ua, &name);
    ok("virsh", &ua, &["migrate-setmaxdowntime", &name, "100"]);
    assert_eq!(
        ok("virsh", &ua, &["migrate-getmaxdowntime", &name]).trim(),
        "100"
    );
    ok("virsh", &ua, &["migrate-setspeed", &name, "1"]);
    assert_eq!(ok("virsh", &ua, &["migrate-getspeed", &name]).trim(), "1");

    // 48 MiB at 1 MiB/s: time to look at the job and abort it.
    let migrate = {
        let (ua, ub, name) = (ua.clone(), ub.clone(), name.clone());
        std::thread::spawn(move || {
            run(
                "virsh",
                &ua,
                &[
                    "migrate",
                    "--live",
                    &name,
                    &ub,
                    "--migrateuri",
                    "tcp://127.0.0.1",
                ],
            )
        })
    };
    assert!(wait_for(Duration::from_secs(20), || {
        ok("virsh", &ua, &["domjobinfo", &name]).contains("Unbounded")
    }));
    let job = ok("virsh", &ua, &["domjobinfo", &name]);
    assert!(job.contains("Outgoing migration"), "{job}");
    // domcontrol sees the same job, with its age.
    let control = ok("virsh", &ua, &["domcontrol", &name]);
    assert!(control.trim().starts_with("background job ("), "{control}");
    assert_eq!(state(&ub, &name), "paused (migrating)");
    reaper.watch(b.qemu_pid(&name));
    ok("virsh", &ua, &["domjobabort", &name]);
    let out = migrate.join().expect("migrate thread");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("operation aborted"),
        "{out:?}"
    );
    assert_eq!(state(&ua, &name), "running (migration canceled)");
    assert_eq!(ok("virsh", &ua, &["domcontrol", &name]).trim(), "ok");
    assert!(wait_for(Duration::from_secs(10), || !names(&ub).contains(&name)));
    let counted = peek(&ua, &name, COUNTER);
    assert!(wait_for(Duration::from_secs(10), || peek(
        &ua, &name, COUNTER
    ) > counted));

    // Peer to peer, and the destination daemon dies half-way (its QEMU with it).
    let dest = format!("qemu+tcp://127.0.0.1:{port_b}/system");
    let migrate = {
        let (ua, name) = (ua.clone(), name.clone());
        std::thread::spawn(move || {
            run(
                "virsh",
                &ua,
                &[
                    "migrate",
                    "--live",
                    "--p2p",
                    &name,
                    &dest,
                    "--migrateuri",
                    "tcp://127.0.0.1",
                ],
            )
        })
    };
    assert!(wait_for(Duration::from_secs(20), || {
        ok("virsh", &ua, &["domjobinfo", &name]).contains("Unbounded")
    }));
    let incoming = b.qemu_pid(&name);
    reaper.watch(incoming);
    b.stop();
    let _ = kill(Pid::from_raw(incoming), Signal::SIGKILL);
    let out = migrate.join().expect("migrate thread");
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(state(&ua, &name), "running (migration canceled)");
    let counted = peek(&ua, &name, COUNTER);
    assert!(wait_for(Duration::from_secs(10), || peek(
        &ua, &name, COUNTER
    ) > counted));
    ok("virsh", &ua, &["destroy", &name]);
}
