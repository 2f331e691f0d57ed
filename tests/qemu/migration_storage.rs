//! Migration of guests whose disks are not shared: two virtcimd daemons with separate disk directories, stock
//! `virsh migrate --copy-storage-all` (the destination creates the missing image and exports it over NBD, the
//! source mirrors into it), python3-libvirt's `migrate3` with `migrate_disks`, and `domjobabort` during the copy,
//! which leaves the guest running on the source and no image behind on the destination.
//!
//! Every stream (memory and NBD) goes over 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::daemon::{ok, peers_present, run, Daemon, QemuReaper};
use crate::migration::{filling_disk, names, peek, state, sub, tcp_listener, wait_filled, COUNTER};
use crate::support::qemu::alone;
use crate::support::{free_port, wait_for};

/// A disk of `mib` MiB: the guest's boot sector, then bytes no two runs or offsets confuse.
fn patterned_disk(dir: &Path, mib: usize) -> PathBuf {
    let boot = filling_disk(dir);
    let mut bytes = std::fs::read(&boot).expect("boot sector");
    let mut x: u32 = std::process::id() | 1;
    bytes.resize(mib << 20, 0);
    for chunk in bytes[4096..].chunks_mut(4) {
        // xorshift: incompressible, so neither side can skip it as zeroes.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let path = dir.join("disk.img");
    std::fs::write(&path, bytes).expect("disk");
    std::fs::remove_file(boot).expect("boot sector file");
    path
}

fn xml_with_disk(name: &str, disk: &Path) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{}</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk></devices></domain>",
        uuid_for(name),
        disk.display()
    )
}

/// A stable UUID per name, so the source and destination definitions agree.
fn uuid_for(name: &str) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in name.bytes() {
        h = (h ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
    }
    format!("{:032x}", h)
        .char_indices()
        .flat_map(|(i, c)| {
            let dash = matches!(i, 8 | 12 | 16 | 20);
            dash.then_some('-').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

/// Source and destination of one guest: its definition on each side, the source image and where the copy goes.
struct Setup {
    source_xml: PathBuf,
    dest_xml: PathBuf,
    source_disk: PathBuf,
    dest_disk: PathBuf,
}

fn setup(tmp: &Path, name: &str, mib: usize) -> Setup {
    let (da, db) = (sub(tmp, "disks-a"), sub(tmp, "disks-b"));
    let source_disk = patterned_disk(&da, mib);
    let dest_disk = db.join("disk.img");
    let source_xml = tmp.join(format!("{name}-a.xml"));
    let dest_xml = tmp.join(format!("{name}-b.xml"));
    std::fs::write(&source_xml, xml_with_disk(name, &source_disk)).expect("xml");
    std::fs::write(&dest_xml, xml_with_disk(name, &dest_disk)).expect("xml");
    Setup {
        source_xml,
        dest_xml,
        source_disk,
        dest_disk,
    }
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    std::fs::read(a).expect("source image") == std::fs::read(b).expect("copied image")
}

#[test]
fn copy_storage_all_moves_the_disk_byte_for_byte() {
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
    let name = format!("mig-disk-{}", std::process::id());
    let s = setup(tmp.path(), &name, 16);
    ok("virsh", &ua, &["create", &s.source_xml.to_string_lossy()]);
    reaper.watch(a.qemu_pid(&name));
    wait_filled(&ua, &name);
    assert!(!s.dest_disk.exists());

    // Selecting a disk without copying storage is refused before anything starts.
    let out = run(
        "virsh",
        &ua,
        &["migrate", "--live", &name, &ub, "--migrate-disks", "hda"],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("VIR_MIGRATE_NON_SHARED_DISK"),
        "{out:?}"
    );

    let disks_port = free_port().to_string();
    ok(
        "virsh",
        &ua,
        &[
            "migrate",
            "--live",
            "--copy-storage-all",
            &name,
            &ub,
            "--migrateuri",
            "tcp://127.0.0.1",
            "--xml",
            &s.dest_xml.to_string_lossy(),
            "--disks-port",
            &disks_port,
        ],
    );
    reaper.watch(b.qemu_pid(&name));
    assert_eq!(state(&ub, &name), "running (migrated)");
    assert!(!names(&ua).contains(&name), "the source guest is gone");
    assert!(same_bytes(&s.source_disk, &s.dest_disk));
    let counted = peek(&ub, &name, COUNTER);
    assert!(wait_for(Duration::from_secs(10), || peek(
        &ub, &name, COUNTER
    ) > counted));
    let dumped = ok("virsh", &ub, &["dumpxml", &name]);
    assert!(dumped.contains(&*s.dest_disk.to_string_lossy()), "{dumped}");

    // And back peer to peer, onto the image a still has (the copy overwrites it).
    std::fs::write(&s.source_disk, vec![0u8; 16 << 20]).expect("stale image");
    ok(
        "virsh",
        &ub,
        &[
            "migrate",
            "--live",
            "--p2p",
            "--copy-storage-all",
            &name,
            &format!("qemu+tcp://127.0.0.1:{port_a}/system"),
            "--migrateuri",
            "tcp://127.0.0.1",
            "--xml",
            &s.source_xml.to_string_lossy(),
        ],
    );
    reaper.watch(a.qemu_pid(&name));
    assert_eq!(state(&ua, &name), "running (migrated)");
    assert!(!names(&ub).contains(&name));
    ok("virsh", &ua, &["destroy", &name]);
    assert!(same_bytes(&s.source_disk, &s.dest_disk));
    assert!(std::fs::read(&s.source_disk).unwrap()[4096..8192]
        .iter()
        .any(|b| *b != 0));
}

#[test]
fn python_migrate3_copies_the_disks_it_names() {
    let Some(python) = crate::support::python::libvirt_python().filter(|_| peers_present()) else {
        return;
    };
    let _alone = alone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = Daemon::start(&sub(tmp.path(), "a"));
    let b = Daemon::start(&sub(tmp.path(), "b"));
    let reaper = QemuReaper::default();
    let (ua, ub) = (a.uri(), b.uri());
    let name = format!("mig-py-{}", std::process::id());
    let s = setup(tmp.path(), &name, 8);
    ok("virsh", &ua, &["create", &s.source_xml.to_string_lossy()]);
    reaper.watch(a.qemu_pid(&name));
    let script = r#"
import sys, libvirt
src, dst, name, xml = sys.argv[1:5]
s, d = libvirt.open(src), libvirt.open(dst)
dom = s.lookupByName(name)
params = {
    libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS: ["hda"],
    libvirt.VIR_MIGRATE_PARAM_URI: "tcp://127.0.0.1",
    libvirt.VIR_MIGRATE_PARAM_DEST_XML: open(xml).read(),
}
try:
    params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = ["vdz"]
    dom.migrate3(d, params, libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_NON_SHARED_DISK)
    print("unknown disk accepted")
except libvirt.libvirtError as e:
    print("refused:", e.get_error_code(), e.get_error_message())
params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = ["hda"]
moved = dom.migrate3(d, params, libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_NON_SHARED_DISK)
print("moved", moved.name(), moved.isActive())
"#;
    let out = Command::new(&python)
        .args(["-c", script, &ua, &ub, &name])
        .arg(&s.dest_xml)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // VIR_ERR_INVALID_ARG (8).
    assert!(
        stdout.contains("refused: 8") && stdout.contains("disk target vdz not found"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("moved {name} 1")), "{stdout}");
    reaper.watch(b.qemu_pid(&name));
    assert!(same_bytes(&s.source_disk, &s.dest_disk));
    ok("virsh", &ub, &["destroy", &name]);
}

#[test]
fn an_aborted_disk_copy_leaves_the_source_running_and_the_destination_clean() {
    if !peers_present() {
        return;
    }
    let _alone = alone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = Daemon::start(&sub(tmp.path(), "a"));
    let b = Daemon::start(&sub(tmp.path(), "b"));
    let reaper = QemuReaper::default();
    let (ua, ub) = (a.uri(), b.uri());
    let name = format!("mig-disk-abort-{}", std::process::id());
    // 64 MiB at 1 MiB/s: time to look at the copy and abort it.
    let s = setup(tmp.path(), &name, 64);
    ok("virsh", &ua, &["create", &s.source_xml.to_string_lossy()]);
    reaper.watch(a.qemu_pid(&name));
    ok("virsh", &ua, &["migrate-setspeed", &name, "1"]);
    let migrate = {
        let (ua, ub, name) = (ua.clone(), ub.clone(), name.clone());
        let dest_xml = s.dest_xml.to_string_lossy().to_string();
        std::thread::spawn(move || {
            run(
                "virsh",
                &ua,
                &[
                    "migrate",
                    "--live",
                    "--copy-storage-all",
                    &name,
                    &ub,
                    "--migrateuri",
                    "tcp://127.0.0.1",
                    "--xml",
                    &dest_xml,
                ],
            )
        })
    };
    assert!(wait_for(Duration::from_secs(30), || {
        ok("virsh", &ua, &["domjobinfo", &name]).contains("File total")
    }));
    let job = ok("virsh", &ua, &["domjobinfo", &name]);
    assert!(job.contains("Outgoing migration"), "{job}");
    assert!(job.contains("File processed"), "{job}");
    assert!(s.dest_disk.exists(), "the destination made the image");
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
    assert!(wait_for(Duration::from_secs(10), || !names(&ub).contains(&name)));
    assert!(
        wait_for(Duration::from_secs(10), || !s.dest_disk.exists()),
        "the image the destination created is removed"
    );
    let counted = peek(&ua, &name, COUNTER);
    assert!(wait_for(Duration::from_secs(10), || peek(
        &ua, &name, COUNTER
    ) > counted));
    // The source's disk is its own again: a second migration, unlimited, goes through.
    ok("virsh", &ua, &["migrate-setspeed", &name, "1000"]);
    ok(
        "virsh",
        &ua,
        &[
            "migrate",
            "--live",
            "--copy-storage-all",
            &name,
            &ub,
            "--migrateuri",
            "tcp://127.0.0.1",
            "--xml",
            &s.dest_xml.to_string_lossy(),
        ],
    );
    reaper.watch(b.qemu_pid(&name));
    assert!(same_bytes(&s.source_disk, &s.dest_disk));
    ok("virsh", &ub, &["destroy", &name]);
}

#[test]
fn copy_storage_inc_copies_the_top_image_onto_the_destinations_backing() {
    if !peers_present() {
        return;
    }
    let _alone = alone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = Daemon::start(&sub(tmp.path(), "a"));
    let b = Daemon::start(&sub(tmp.path(), "b"));
    let reaper = QemuReaper::default();
    let (ua, ub) = (a.uri(), b.uri());
    let name = format!("mig-inc-{}", std::process::id());
    // A base both hosts have (the boot sector and the pattern), and on each an overlay over it; the source's
    // overlay holds data of its own, the destination's is empty.
    let base = patterned_disk(&sub(tmp.path(), "base"), 8);
    let (da, db) = (sub(tmp.path(), "disks-a"), sub(tmp.path(), "disks-b"));
    let (top_a, top_b) = (da.join("top.qcow2"), db.join("top.qcow2"));
    for top in [&top_a, &top_b] {
        let made = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(&base)
            .arg(top)
            .status()
            .expect("qemu-img");
        assert!(made.success());
    }
    let wrote = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0x5a 1M 2M"])
        .arg(&top_a)
        .output()
        .expect("qemu-io");
    assert!(wrote.status.success(), "{wrote:?}");
    let xml = |top: &Path| xml_with_disk(&name, top).replace("type='raw'", "type='qcow2'");
    let (xml_a, xml_b) = (tmp.path().join("inc-a.xml"), tmp.path().join("inc-b.xml"));
    std::fs::write(&xml_a, xml(&top_a)).expect("xml");
    std::fs::write(&xml_b, xml(&top_b)).expect("xml");
    ok("virsh", &ua, &["create", &xml_a.to_string_lossy()]);
    reaper.watch(a.qemu_pid(&name));
    ok(
        "virsh",
        &ua,
        &[
            "migrate",
            "--live",
            "--copy-storage-inc",
            &name,
            &ub,
            "--migrateuri",
            "tcp://127.0.0.1",
            "--xml",
            &xml_b.to_string_lossy(),
        ],
    );
    reaper.watch(b.qemu_pid(&name));
    assert_eq!(state(&ub, &name), "running (migrated)");
    ok("virsh", &ub, &["destroy", &name]);
    // What a guest sees is the same on both sides, and the destination kept its backing file.
    let compared = Command::new("qemu-img")
        .args(["compare", "-f", "qcow2", "-F", "qcow2"])
        .arg(&top_a)
        .arg(&top_b)
        .output()
        .expect("qemu-img compare");
    assert!(compared.status.success(), "{compared:?}");
    let info = Command::new("qemu-img")
        .args(["info", "-U"])
        .arg(&top_b)
        .output()
        .expect("qemu-img info");
    assert!(
        String::from_utf8_lossy(&info.stdout).contains(&*base.to_string_lossy()),
        "{info:?}"
    );
}
