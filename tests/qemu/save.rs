//! Save, restore and managed save of real QEMU guests: the in-process driver (session) with a guest whose RAM
//! counter proves the memory came back; stock virsh and python3-libvirt through virtcimd (system); and the bad
//! input: a shut-off domain, a file that is no image, a guest already running, a migration that fails on a full
//! file system (the guest keeps running, no file is left).

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::sync::broadcast;
use virtcim::{
    event, flags, prelude::*, reason, DomainEvent, DomainRef, DomainState, ErrorCode, QemuDriver,
    QemuMode,
};

use crate::daemon::{ok, peers_present, run, Daemon, QemuReaper};
use crate::support::alive;
use crate::support::qemu::guest_xml_file;

/// Where the counting guest keeps its counter (guest-physical).
const COUNTER_ADDR: u64 = 0x500;

/// A boot sector that counts forever: `xor ax,ax; mov ds,ax; l: inc dword [0x500]; jmp l`.
fn counting_disk(dir: &Path) -> PathBuf {
    let mut sector = vec![0u8; 512];
    let code = [
        0x31, 0xC0, 0x8E, 0xD8, 0x66, 0xFF, 0x06, 0x00, 0x05, 0xEB, 0xF9,
    ];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector.resize(4096, 0);
    let path = dir.join("count.img");
    std::fs::write(&path, sector).expect("disk");
    path
}

fn counting_xml(name: &str, uuid: &str, disk: &Path) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>32</memory>\
         <vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk></devices></domain>",
        disk.display()
    )
}

/// The guest's counter, read from its RAM with QMP `pmemsave`.
async fn counter(driver: &QemuDriver, dom: &DomainRef, dir: &Path) -> u32 {
    let dump = dir.join("counter.bin");
    driver
        .qmp_execute(
            dom,
            "pmemsave",
            Some(serde_json::json!({
                "val": COUNTER_ADDR, "size": 4, "filename": dump.to_string_lossy()
            })),
        )
        .await
        .expect("pmemsave");
    let bytes = std::fs::read(&dump).expect("memory dump");
    u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"))
}

async fn wait_counter_above(driver: &QemuDriver, dom: &DomainRef, dir: &Path, above: u32) -> u32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let value = counter(driver, dom, dir).await;
        if value > above {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the guest's counter stays at {value}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The next lifecycle event of `name`, as (kind, detail).
async fn next_event(events: &mut broadcast::Receiver<DomainEvent>, name: &str) -> (i32, i32) {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let ev = events.recv().await.expect("event channel");
            if ev.domain.name == name && ev.metadata.is_none() && ev.device_removed.is_none() {
                return (ev.event, ev.detail);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no event for {name}"))
}

/// Files in `dir` (names), to prove nothing was left behind.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map_while(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A small tmpfs mounted for one test and unmounted when it ends, however it ends.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(path: PathBuf, size: &str) -> Option<Self> {
        std::fs::create_dir_all(&path).ok()?;
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .status()
            .ok()?;
        status.success().then_some(Self(path))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Kills the QEMU of a domain the driver still runs when the test ends (pass or fail).
struct Guests<'a> {
    driver: &'a QemuDriver,
    pids: std::sync::Mutex<Vec<i32>>,
}

impl Guests<'_> {
    fn track(&self, dom: &DomainRef) {
        if let Ok(pid) = self.driver.pid(dom) {
            self.pids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(pid);
        }
    }
}

impl Drop for Guests<'_> {
    fn drop(&mut self) {
        for pid in self.pids.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            // Only QEMUs this test started; ESRCH when already gone is fine.
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_guest_has_its_memory_and_bad_saves_change_nothing() {
    if !crate::support::qemu::have_qemu() {
        eprintln!("qemu-system-x86_64 not installed, skipping");
        return;
    }
    let _guests = crate::support::qemu::alongside().await;
    let tmp = tempfile::tempdir().unwrap();
    let driver = QemuDriver::open(tmp.path(), QemuMode::Session)
        .await
        .unwrap();
    let guests = Guests {
        driver: &driver,
        pids: Default::default(),
    };
    let disk = counting_disk(tmp.path());
    let uuid = "7b1c2d3e-0000-4000-8000-00000000a5a5";
    let dom = driver
        .domain_define_xml(&counting_xml("counter", uuid, &disk), 0)
        .await
        .unwrap();
    let mut events = driver.domain_event_subscribe().await.unwrap();
    let image = tmp.path().join("counter.save");
    let image_str = image.to_string_lossy().into_owned();

    // A shut-off domain cannot be saved.
    let err = driver
        .domain_save(&dom, &image_str, None, 0)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::OPERATION_INVALID);
    assert!(err.message.contains("domain is not running"), "{err}");

    let dom = driver.domain_create(&dom, 0).await.unwrap();
    guests.track(&dom);
    assert_eq!(
        next_event(&mut events, "counter").await,
        (event::STARTED, event::STARTED_BOOTED)
    );
    wait_counter_above(&driver, &dom, tmp.path(), 1000).await;

    // Saved while paused: the image restores paused, with the very counter it had.
    driver.domain_suspend(&dom).await.unwrap();
    assert_eq!(next_event(&mut events, "counter").await.0, event::SUSPENDED);
    let before = counter(&driver, &dom, tmp.path()).await;
    let pid = driver.pid(&dom).unwrap();
    let clock = std::time::Instant::now();
    driver.domain_save(&dom, &image_str, None, 0).await.unwrap();
    let saved_in = clock.elapsed();
    assert_eq!(
        next_event(&mut events, "counter").await,
        (event::STOPPED, event::STOPPED_SAVED)
    );
    assert_eq!(
        driver.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Shutoff, reason::SHUTOFF_SAVED)
    );
    assert!(crate::support::wait_for(
        Duration::from_secs(10),
        || !alive(pid)
    ));
    assert_eq!(
        entries(tmp.path())
            .iter()
            .filter(|n| n.contains(".tmp."))
            .count(),
        0
    );
    let saved_xml = driver
        .domain_save_image_get_xml_desc(&image_str, 0)
        .await
        .unwrap();
    assert!(
        saved_xml.contains("<name>counter</name>") && saved_xml.contains(uuid),
        "{saved_xml}"
    );

    let clock = std::time::Instant::now();
    driver.domain_restore(&image_str, None, 0).await.unwrap();
    eprintln!(
        "image of {} bytes saved in {saved_in:?}, restored in {:?}",
        std::fs::metadata(&image).unwrap().len(),
        clock.elapsed()
    );
    let dom = driver.domain_lookup_by_name("counter").await.unwrap();
    guests.track(&dom);
    assert_eq!(
        next_event(&mut events, "counter").await,
        (event::STARTED, event::STARTED_RESTORED)
    );
    assert_eq!(
        next_event(&mut events, "counter").await,
        (event::SUSPENDED, event::SUSPENDED_RESTORED)
    );
    assert_eq!(
        driver.domain_get_state(&dom, 0).await.unwrap().0,
        DomainState::Paused
    );
    assert_eq!(driver.qmp_status(&dom).await.unwrap(), "paused");
    assert!(driver.domain_is_persistent(&dom).await.unwrap());
    let after = counter(&driver, &dom, tmp.path()).await;
    eprintln!("counter at save {before}, after restore {after}");
    assert_eq!(
        after, before,
        "the restored guest's RAM holds the counter it was saved with"
    );
    driver.domain_resume(&dom).await.unwrap();
    wait_counter_above(&driver, &dom, tmp.path(), before).await;

    // The same image again while the guest runs: refused, and the guest runs on.
    let err = driver
        .domain_restore(&image_str, None, 0)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::OPERATION_INVALID);
    assert!(err.message.contains("is already active"), "{err}");
    assert_eq!(driver.qmp_status(&dom).await.unwrap(), "running");

    // A file that is no image: a clear error, nothing started.
    let junk = tmp.path().join("junk.save");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let err = driver
        .domain_restore(&junk.to_string_lossy(), None, 0)
        .await
        .unwrap_err();
    assert!(err.message.contains("image magic is incorrect"), "{err}");
    assert_eq!(
        driver
            .list_all_domains(flags::LIST_DOMAINS_ACTIVE)
            .await
            .unwrap()
            .len(),
        1
    );

    // A migration that fails (the file system fills up): the guest keeps running, no file is left.
    let full = nix::unistd::geteuid()
        .is_root()
        .then(|| SmallFs::mount(tmp.path().join("full"), "128k"))
        .flatten();
    if full.is_none() {
        eprintln!(
            "cannot mount a small tmpfs here (not root?): the failed-migration case is skipped"
        );
    }
    if let Some(full) = full {
        let target = full.0.join("counter.save");
        let err = driver
            .domain_save(&dom, &target.to_string_lossy(), None, 0)
            .await
            .unwrap_err();
        eprintln!("failed save: {err}");
        assert_eq!(err.code, ErrorCode::OPERATION_FAILED, "{err}");
        assert!(
            entries(&full.0).is_empty(),
            "left behind: {:?}",
            entries(&full.0)
        );
        assert_eq!(
            driver.domain_get_state(&dom, 0).await.unwrap(),
            (DomainState::Running, reason::RUNNING_SAVE_CANCELED)
        );
        assert_eq!(driver.qmp_status(&dom).await.unwrap(), "running");
        let now = counter(&driver, &dom, tmp.path()).await;
        wait_counter_above(&driver, &dom, tmp.path(), now).await;
    }

    // Saved running with a new definition kept in the image; restored running.
    std::fs::remove_file(&image).unwrap();
    let new_xml = counting_xml("counter", uuid, &disk).replace(
        "</devices>",
        "<serial type='pty'><target port='0'/></serial></devices>",
    );
    driver
        .domain_save(&dom, &image_str, Some(&new_xml), 0)
        .await
        .unwrap();
    let kept = driver
        .domain_save_image_get_xml_desc(&image_str, 0)
        .await
        .unwrap();
    assert!(kept.contains("<serial"), "{kept}");
    // save-image-define: flip the image to restore paused, then back to running.
    driver
        .domain_save_image_define_xml(&image_str, &kept, flags::SAVE_PAUSED)
        .await
        .unwrap();
    driver
        .domain_save_image_define_xml(&image_str, &kept, flags::SAVE_RUNNING)
        .await
        .unwrap();
    let wrong = kept.replace("<name>counter</name>", "<name>other</name>");
    let err = driver
        .domain_save_image_define_xml(&image_str, &wrong, 0)
        .await
        .unwrap_err();
    assert!(err.message.contains("does not match source"), "{err}");
    driver.domain_restore(&image_str, None, 0).await.unwrap();
    let dom = driver.domain_lookup_by_name("counter").await.unwrap();
    guests.track(&dom);
    assert_eq!(
        driver.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Running, reason::RUNNING_RESTORED)
    );
    assert_eq!(driver.qmp_status(&dom).await.unwrap(), "running");
    wait_counter_above(&driver, &dom, tmp.path(), before).await;

    // A truncated image: QEMU cannot load it; the error says so and nothing is left running.
    driver.domain_save(&dom, &image_str, None, 0).await.unwrap();
    let whole = std::fs::read(&image).unwrap();
    let cut = tmp.path().join("cut.save");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let err = driver
        .domain_restore(&cut.to_string_lossy(), None, 0)
        .await
        .unwrap_err();
    eprintln!("truncated image: {err}");
    assert_eq!(err.code, ErrorCode::OPERATION_FAILED, "{err}");
    assert!(driver
        .list_all_domains(flags::LIST_DOMAINS_ACTIVE)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        driver.domain_get_state(&dom, 0).await.unwrap().0,
        DomainState::Shutoff
    );
    let run_dir = tmp.path().join("qemu/session/run");
    assert!(entries(&run_dir).is_empty(), "{:?}", entries(&run_dir));

    driver.domain_restore(&image_str, None, 0).await.unwrap();
    let dom = driver.domain_lookup_by_name("counter").await.unwrap();
    guests.track(&dom);
    driver.domain_destroy(&dom, 0).await.unwrap();
    driver.domain_undefine(&dom, 0).await.unwrap();
}

/// Stock virsh through virtcimd: save / restore, save-image-dumpxml, managedsave and a start that restores it,
/// managedsave-remove, undefine refused while an image exists; a shut-off domain and a non-image refused.
#[test]
fn virsh_saves_restores_and_manages_saves() {
    if !peers_present() {
        return;
    }
    let _turn = crate::support::qemu::alone();
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let uri = daemon.uri();
    let name = "vsave";
    let xml = guest_xml_file(tmp.path(), name);
    let image = tmp.path().join("vsave.save");
    let image = image.to_string_lossy();
    let virsh = |args: &[&str]| ok("virsh", &uri, args);
    let fails = |args: &[&str]| {
        let out = run("virsh", &uri, args);
        assert!(!out.status.success(), "virsh {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let state = |name: &str| virsh(&["domstate", name, "--reason"]).trim().to_string();

    virsh(&["define", &xml.to_string_lossy()]);
    assert!(fails(&["save", name, &image]).contains("domain is not running"));
    virsh(&["start", name]);
    reaper.watch(daemon.qemu_pid(name));

    let out = virsh(&["save", name, &image]);
    assert!(
        out.contains(&format!("Domain '{name}' saved to {image}")),
        "{out}"
    );
    assert_eq!(state(name), "shut off (saved)");
    assert!(virsh(&["save-image-dumpxml", &image]).contains(&format!("<name>{name}</name>")));
    let out = virsh(&["restore", &image]);
    assert!(
        out.contains(&format!("Domain restored from {image}")),
        "{out}"
    );
    reaper.watch(daemon.qemu_pid(name));
    assert_eq!(state(name), "running (restored)");
    assert!(fails(&["restore", &image]).contains("is already active"));
    std::fs::remove_file(tmp.path().join("vsave.save")).expect("image");

    // save --paused keeps the guest paused at restore.
    virsh(&["save", name, &image, "--paused"]);
    virsh(&["restore", &image]);
    reaper.watch(daemon.qemu_pid(name));
    assert_eq!(state(name), "paused (migrating)");
    virsh(&["resume", name]);
    std::fs::remove_file(tmp.path().join("vsave.save")).expect("image");

    // save-image-define changes the state to restore into; restore --xml must keep the guest's ABI.
    virsh(&["save", name, &image, "--bypass-cache"]);
    let kept = tmp.path().join("kept.xml");
    std::fs::write(
        &kept,
        virsh(&["save-image-dumpxml", &image, "--security-info"]),
    )
    .expect("xml");
    let kept = kept.to_string_lossy();
    virsh(&["save-image-define", &image, &kept, "--paused"]);
    let other = tmp.path().join("other.xml");
    let renamed = std::fs::read_to_string(&*kept)
        .expect("xml")
        .replace(&format!("<name>{name}</name>"), "<name>someone-else</name>");
    std::fs::write(&other, renamed).expect("xml");
    let err = fails(&["restore", &image, "--xml", &other.to_string_lossy()]);
    assert!(err.contains("does not match source"), "{err}");
    assert_eq!(state(name), "shut off (saved)");
    virsh(&["restore", &image, "--xml", &kept, "--bypass-cache"]);
    reaper.watch(daemon.qemu_pid(name));
    assert_eq!(state(name), "paused (migrating)");
    virsh(&["resume", name]);
    std::fs::remove_file(tmp.path().join("vsave.save")).expect("image");

    let out = virsh(&["managedsave", name]);
    assert!(
        out.contains(&format!("Domain '{name}' state saved by libvirt")),
        "{out}"
    );
    assert_eq!(state(name), "shut off (saved)");
    let managed = tmp.path().join(format!("state/qemu/save/{name}.save"));
    assert!(managed.is_file(), "managed image in the state dir");
    let info = virsh(&["dominfo", name]);
    assert!(
        info.lines()
            .any(|l| l.starts_with("Managed save:") && l.ends_with("yes")),
        "{info}"
    );
    let list = virsh(&["list", "--all", "--managed-save"]);
    assert!(
        list.lines()
            .any(|l| l.contains(name) && l.contains("saved")),
        "{list}"
    );
    assert!(virsh(&["list", "--all", "--name", "--with-managed-save"]).contains(name));
    assert!(!virsh(&["list", "--all", "--name", "--without-managed-save"]).contains(name));
    let managed_xml = virsh(&["managedsave-dumpxml", name, "--security-info"]);
    assert!(managed_xml.contains(&format!("<name>{name}</name>")));
    let managed_xml_file = tmp.path().join("managed.xml");
    std::fs::write(&managed_xml_file, managed_xml).expect("xml");
    virsh(&[
        "managedsave-define",
        name,
        &managed_xml_file.to_string_lossy(),
        "--running",
    ]);
    assert!(fails(&["undefine", name])
        .contains("Refusing to undefine while domain managed save image exists"));

    // start restores the managed image and drops it.
    virsh(&["start", name]);
    reaper.watch(daemon.qemu_pid(name));
    assert_eq!(state(name), "running (restored)");
    assert!(!managed.exists());
    assert!(virsh(&["dominfo", name])
        .lines()
        .any(|l| l.starts_with("Managed save:") && l.ends_with("no")));

    // managedsave-remove, then a start boots afresh.
    virsh(&["managedsave", name]);
    virsh(&["managedsave-remove", name]);
    assert!(!managed.exists());
    virsh(&["start", name]);
    reaper.watch(daemon.qemu_pid(name));
    assert_eq!(state(name), "running (booted)");

    // undefine --managed-save takes the image with it.
    virsh(&["managedsave", name]);
    virsh(&["undefine", name, "--managed-save"]);
    assert!(!managed.exists());
    assert!(!virsh(&["list", "--all", "--name"]).contains(name));

    // A file that is no save image.
    let junk = tmp.path().join("junk");
    std::fs::write(
        &junk,
        "not a save image at all, but long enough to hold a header",
    )
    .expect("junk");
    let err = fails(&["restore", &junk.to_string_lossy()]);
    assert!(err.contains("image magic is incorrect"), "{err}");
    assert!(virsh(&["list", "--name"]).trim().is_empty());
}

/// python3-libvirt through virtcimd: save / restore, managedSave / hasManagedSaveImage, create from the image.
#[test]
fn python_saves_restores_and_manages_saves() {
    let Some(python) = crate::support::python::libvirt_python().filter(|_| peers_present()) else {
        eprintln!("python3-libvirt not usable, skipping");
        return;
    };
    let _turn = crate::support::qemu::alone();
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let xml = guest_xml_file(tmp.path(), "pysave");
    let image = tmp.path().join("pysave.save");
    let script = r#"
import sys, threading, time, libvirt
uri, xml_path, image = sys.argv[1:4]
events = []
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
def on_lifecycle(conn, dom, event, detail, opaque):
    events.append(f"{event}/{detail}")
libvirt.virEventRegisterDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
listener = libvirt.open(uri)
callback = listener.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_lifecycle, None)
conn = libvirt.open(uri)
dom = conn.defineXML(open(xml_path).read())
dom.create()
print("pid-ready", flush=True)
dom.save(image)
print("state", dom.state()[0], dom.state()[1])
conn.restore(image)
dom = conn.lookupByName("pysave")
print("state", dom.state()[0], dom.state()[1])
print("has", dom.hasManagedSaveImage(0))
dom.managedSave(0)
print("has", dom.hasManagedSaveImage(0), "state", dom.state()[0], dom.state()[1])
dom.create()
print("has", dom.hasManagedSaveImage(0), "state", dom.state()[0], dom.state()[1])
try:
    conn.restore(image)
    print("restore-again ok")
except libvirt.libvirtError as e:
    print("restore-again", e.get_error_code())
dom.destroy()
dom.undefine()
deadline = time.time() + 20
while len(events) < 10 and time.time() < deadline:
    time.sleep(0.1)
print("events", " ".join(events))
listener.domainEventDeregisterAny(callback)
"#;
    let child = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(daemon.uri())
        .arg(&xml)
        .arg(&image)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    // Watch each QEMU the script's guest gets, so a failure half-way kills them.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let watcher = std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let status = tmp.path().join("state/qemu/run/pysave.json");
                if let Some(pid) = std::fs::read_to_string(status)
                    .ok()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .and_then(|v| v["pid"].as_i64())
                    .and_then(|p| i32::try_from(p).ok())
                {
                    reaper.watch(pid);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let out = child.wait_with_output().expect("python output");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = handle.join();
        out
    });
    let stdout = String::from_utf8_lossy(&watcher.stdout);
    let stderr = String::from_utf8_lossy(&watcher.stderr);
    assert!(watcher.status.success(), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "pid-ready",
            // shut off, saved
            "state 5 5",
            // running, restored
            "state 1 3",
            "has 0",
            "has 1 state 5 5",
            "has 0 state 1 3",
            // VIR_ERR_OPERATION_INVALID: the image's domain is running
            "restore-again 55",
            // defined; started booted; suspended, stopped saved; started restored; the same for the managed
            // save and the start from it; stopped destroyed; undefined.
            "events 0/0 2/0 3/0 5/4 2/2 3/0 5/4 2/2 5/1 1/0",
        ],
        "{stderr}"
    );
    let _ = std::fs::remove_file(&image);
}
