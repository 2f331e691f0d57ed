//! The host's storage driver behind `qemu:///system`, served by virtcimd and driven by stock virsh,
//! python3-libvirt and virt-clone: transient and persistent dir pools (build, delete, collisions, bad input),
//! volumes (copies between raw and qcow2, wipe, resize, lookups, files made behind the daemon's back), pool
//! events, an fs pool on a loop device the test formats and a logical pool on a loop device.
//!
//! Each test runs its own daemon on a temp dir. Loop devices, mounts and volume groups a test makes are removed
//! by Drop guards however the test ends; their names carry the test process's pid.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::daemon::{start_virtcimd, Logged};
use crate::support::virsh::have_virsh;
use crate::support::virsh::{fails_blocking as fails, ok_blocking as ok, run_blocking as virsh};

/// A virtcimd with state and sockets in a temp dir.
struct Host {
    process: Option<Logged>,
    config: PathBuf,
    state: PathBuf,
    socket: PathBuf,
}

impl Host {
    fn start(dir: &Path) -> Self {
        let state = dir.join("state");
        let run = dir.join("run");
        let config = dir.join("virtcimd.conf");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{}\"\nunix_sock_dir = \"{}\"\n",
                state.display(),
                run.display()
            ),
        )
        .expect("config");
        Self {
            process: Some(start_virtcimd(&config)),
            config,
            state,
            socket: run.join("libvirt-sock"),
        }
    }

    fn uri(&self) -> String {
        format!("qemu+unix:///system?socket={}", self.socket.display())
    }

    fn restart(&mut self) {
        if let Some(mut process) = self.process.take() {
            let status = process.signal_and_wait(nix::sys::signal::Signal::SIGTERM);
            assert!(
                status.success(),
                "virtcimd exit: {status:?}\n{}",
                process.log()
            );
        }
        self.process = Some(start_virtcimd(&self.config));
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }
}

fn peers_present() -> bool {
    let present = have_virsh() && crate::support::have("qemu-img", "--version");
    if !present {
        eprintln!("virsh or qemu-img not installed, skipping");
    }
    present
}

/// The volume names `virsh vol-list` prints (virsh 9.0 has no `--name` there).
fn vol_names(uri: &str, pool: &str) -> String {
    let table = ok(uri, &["vol-list", pool]);
    let names: Vec<&str> = table
        .lines()
        .skip_while(|line| !line.starts_with("---"))
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    names.join("\n")
}

fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .map(|rest| rest.trim_start_matches(':').trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

fn host_ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The image format and virtual size `qemu-img info` sees.
fn image_info(path: &Path) -> (String, u64) {
    let out = host_ok(
        "qemu-img",
        &["info", "--output=json", "-U", &path.to_string_lossy()],
    );
    let value: serde_json::Value = serde_json::from_str(&out).expect("qemu-img json");
    (
        value["format"].as_str().unwrap_or_default().to_string(),
        value["virtual-size"].as_u64().unwrap_or_default(),
    )
}

fn write_file(path: &Path, xml: &str) -> String {
    std::fs::write(path, xml).expect("write");
    path.to_string_lossy().into_owned()
}

/// A loop device over an image file this test made; detached on drop.
struct LoopDevice {
    device: String,
}

impl LoopDevice {
    fn attach(image: &Path, size_mib: u64) -> Option<Self> {
        let file = std::fs::File::create(image).ok()?;
        file.set_len(size_mib << 20).ok()?;
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(image)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!("losetup: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        let device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Some(Self { device })
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.device]).status();
    }
}

/// Unmounts a directory if something is still mounted there (a test failed before pool-destroy).
struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        if is_mounted(&self.0) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
}

fn is_mounted(path: &Path) -> bool {
    let table = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let wanted = path.to_string_lossy();
    table
        .lines()
        .any(|line| line.split(' ').nth(1) == Some(&*wanted))
}

/// Removes a volume group and the physical volume label if a test left them.
struct VolumeGroupGuard {
    name: String,
    device: String,
}

impl Drop for VolumeGroupGuard {
    fn drop(&mut self) {
        let quiet = |program: &str, args: &[&str]| {
            let _ = Command::new(program)
                .args(args)
                .env("LVM_SUPPRESS_FD_WARNINGS", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        if volume_group_exists(&self.name) {
            quiet("vgchange", &["-an", &self.name]);
            quiet("vgremove", &["-f", &self.name]);
        }
        quiet("pvremove", &["-ff", "-y", &self.device]);
    }
}

fn volume_group_exists(name: &str) -> bool {
    Command::new("vgs")
        .arg(name)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn virsh_dir_pools_transient_build_delete_and_bad_input() {
    if !peers_present() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut host = Host::start(tmp.path());
    let uri = host.uri();
    let target = tmp.path().join("transient");
    let target_text = target.to_string_lossy().into_owned();

    // pool-create-as: transient, built on the way (STORAGE_POOL_CREATE_XML with WITH_BUILD).
    ok(
        &uri,
        &[
            "pool-create-as",
            "scratch",
            "dir",
            "--target",
            &target_text,
            "--build",
        ],
    );
    assert!(target.is_dir());
    let info = ok(&uri, &["pool-info", "scratch"]);
    assert_eq!(field(&info, "State"), "running", "{info}");
    assert_eq!(field(&info, "Persistent"), "no", "{info}");
    let err = fails(&uri, &["pool-autostart", "scratch"]);
    assert!(err.contains("transient"), "{err}");
    assert_eq!(
        ok(&uri, &["pool-list", "--transient", "--name"]).trim(),
        "scratch"
    );
    // A transient pool that runs survives a daemon restart; a persistent one keeps its definition.
    let kept = tmp.path().join("kept");
    let kept_text = kept.to_string_lossy().into_owned();
    ok(
        &uri,
        &["pool-define-as", "kept", "dir", "--target", &kept_text],
    );
    host.restart();
    let info = ok(&uri, &["pool-info", "scratch"]);
    assert_eq!(field(&info, "State"), "running", "{info}");
    // Destroying a transient pool forgets it; its directory stays.
    ok(&uri, &["pool-destroy", "scratch"]);
    let err = fails(&uri, &["pool-info", "scratch"]);
    assert!(
        err.contains("no storage pool with matching name 'scratch'"),
        "{err}"
    );
    assert!(target.is_dir());

    // A persistent dir pool: build makes the directory, delete removes it (pool inactive, empty).
    let err = fails(&uri, &["pool-start", "kept"]);
    assert!(err.contains("cannot open directory"), "{err}");
    ok(&uri, &["pool-build", "kept"]);
    assert!(kept.is_dir());
    // pool-create of a defined, inactive pool's XML runs that pool; it stays persistent.
    let kept_xml = write_file(
        &tmp.path().join("kept.xml"),
        &ok(&uri, &["pool-dumpxml", "kept"]),
    );
    ok(&uri, &["pool-create", &kept_xml]);
    let info = ok(&uri, &["pool-info", "kept"]);
    assert_eq!(
        (field(&info, "State"), field(&info, "Persistent")),
        ("running".into(), "yes".into()),
        "{info}"
    );
    let err = fails(&uri, &["pool-create", &kept_xml]);
    assert!(err.contains("pool is already active as 'kept'"), "{err}");
    let err = fails(&uri, &["pool-delete", "kept"]);
    assert!(err.contains("storage pool 'kept' is still active"), "{err}");
    let err = fails(&uri, &["pool-build", "kept"]);
    assert!(
        err.contains("storage pool 'kept' is already active"),
        "{err}"
    );
    ok(&uri, &["pool-destroy", "kept"]);
    ok(&uri, &["pool-delete", "kept"]);
    assert!(!kept.exists(), "pool-delete removes the target directory");

    // Bad input: libvirt's errors, and nothing half made.
    let bad = write_file(
        &tmp.path().join("bad.xml"),
        "<pool type='dir'><name>half</name>",
    );
    let err = fails(&uri, &["pool-define", &bad]);
    assert!(err.to_lowercase().contains("xml"), "{err}");
    let err = fails(
        &uri,
        &["pool-define-as", "clash", "dir", "--target", &kept_text],
    );
    assert!(
        err.contains("Storage source conflict with pool: 'kept'"),
        "{err}"
    );
    let err = fails(
        &uri,
        &[
            "pool-create-as",
            "nowhere",
            "dir",
            "--target",
            "/proc/virtcim-no/such",
        ],
    );
    assert!(!err.is_empty());
    let names = ok(&uri, &["pool-list", "--all", "--name"]);
    assert_eq!(
        names.split_whitespace().collect::<Vec<_>>(),
        ["kept"],
        "{names}"
    );
    let files: Vec<String> = std::fs::read_dir(host.state.join("qemu/storage"))
        .expect("storage state dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["kept.json"], "only the defined pool is on disk");
    ok(&uri, &["pool-undefine", "kept"]);
}

#[test]
fn virsh_volumes_copy_wipe_resize_lookup_and_refresh() {
    if !peers_present() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let host = Host::start(tmp.path());
    let uri = host.uri();
    let dir = tmp.path().join("images");
    let dir_text = dir.to_string_lossy().into_owned();
    ok(
        &uri,
        &["pool-define-as", "images", "dir", "--target", &dir_text],
    );
    ok(&uri, &["pool-build", "images"]);
    ok(&uri, &["pool-start", "images"]);

    ok(
        &uri,
        &[
            "vol-create-as",
            "images",
            "data.raw",
            "4M",
            "--format",
            "raw",
        ],
    );
    ok(
        &uri,
        &[
            "vol-create-as",
            "images",
            "base.qcow2",
            "8M",
            "--format",
            "qcow2",
        ],
    );
    // Some data in the raw volume, so copies can be compared.
    {
        use std::io::{Seek, Write};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("data.raw"))
            .expect("open raw");
        file.seek(std::io::SeekFrom::Start(65536)).expect("seek");
        file.write_all(b"virtcim storage test data").expect("write");
    }
    let bad = write_file(
        &tmp.path().join("badvol.xml"),
        "<volume><name>nocap</name></volume>",
    );
    let err = fails(&uri, &["vol-create", "images", &bad]);
    assert!(err.contains("missing capacity element"), "{err}");
    assert!(!dir.join("nocap").exists());
    let err = fails(&uri, &["vol-create-as", "images", "data.raw", "1M"]);
    assert!(err.contains("'data.raw'"), "{err}");

    // vol-create-from between formats (STORAGE_VOL_CREATE_XML_FROM), and vol-clone keeping the format.
    let to_qcow2 = write_file(
        &tmp.path().join("to-qcow2.xml"),
        "<volume><name>data.qcow2</name><capacity unit='M'>4</capacity>\
         <target><format type='qcow2'/></target></volume>",
    );
    ok(
        &uri,
        &[
            "vol-create-from",
            "images",
            &to_qcow2,
            "--inputpool",
            "images",
            "data.raw",
        ],
    );
    let to_raw = write_file(
        &tmp.path().join("to-raw.xml"),
        "<volume><name>back.raw</name><capacity unit='M'>4</capacity>\
         <target><format type='raw'/></target></volume>",
    );
    ok(
        &uri,
        &[
            "vol-create-from",
            "images",
            &to_raw,
            "--inputpool",
            "images",
            "data.qcow2",
        ],
    );
    ok(
        &uri,
        &["vol-clone", "--pool", "images", "base.qcow2", "copy.qcow2"],
    );
    assert_eq!(
        image_info(&dir.join("data.qcow2")),
        ("qcow2".into(), 4 << 20)
    );
    assert_eq!(image_info(&dir.join("back.raw")), ("raw".into(), 4 << 20));
    assert_eq!(
        image_info(&dir.join("copy.qcow2")),
        ("qcow2".into(), 8 << 20)
    );
    host_ok(
        "qemu-img",
        &[
            "compare",
            "-q",
            &dir.join("data.raw").to_string_lossy(),
            &dir.join("data.qcow2").to_string_lossy(),
        ],
    );
    let back = std::fs::read(dir.join("back.raw")).expect("read back.raw");
    assert_eq!(&back[65536..65536 + 25], b"virtcim storage test data");
    let xml = ok(&uri, &["vol-dumpxml", "--pool", "images", "data.qcow2"]);
    assert!(xml.contains("<format type='qcow2'/>"), "{xml}");

    // Lookups: key and path of a file volume are its path; the pool of a volume.
    let path = dir.join("data.raw").to_string_lossy().into_owned();
    assert_eq!(
        ok(&uri, &["vol-key", "--pool", "images", "data.raw"]).trim(),
        path
    );
    assert_eq!(
        ok(&uri, &["vol-path", "--pool", "images", "data.raw"]).trim(),
        path
    );
    assert_eq!(ok(&uri, &["vol-name", &path]).trim(), "data.raw");
    assert_eq!(ok(&uri, &["vol-pool", &path]).trim(), "images");
    let err = fails(&uri, &["vol-name", "/nonexistent/virtcim.img"]);
    assert!(err.contains("no storage vol with matching"), "{err}");

    // vol-wipe: zeros; the other algorithms as libvirt answers them without scrub.
    ok(&uri, &["vol-wipe", "--pool", "images", "back.raw"]);
    let wiped = std::fs::read(dir.join("back.raw")).expect("read wiped");
    assert_eq!(wiped.len(), 4 << 20);
    assert!(wiped.iter().all(|b| *b == 0), "vol-wipe leaves zeros");
    let err = fails(
        &uri,
        &[
            "vol-wipe",
            "--pool",
            "images",
            "back.raw",
            "--algorithm",
            "trim",
        ],
    );
    assert!(err.contains("'trim' algorithm not supported"), "{err}");

    // vol-resize: growing, the shrink rule, --delta, --shrink.
    ok(
        &uri,
        &["vol-resize", "--pool", "images", "base.qcow2", "16M"],
    );
    let err = fails(
        &uri,
        &["vol-resize", "--pool", "images", "base.qcow2", "2M"],
    );
    assert!(
        err.contains(
            "Can't shrink capacity below current capacity unless shrink flag explicitly specified"
        ),
        "{err}"
    );
    ok(
        &uri,
        &[
            "vol-resize",
            "--pool",
            "images",
            "base.qcow2",
            "--delta",
            "1M",
        ],
    );
    assert_eq!(image_info(&dir.join("base.qcow2")).1, 17 << 20);
    ok(
        &uri,
        &[
            "vol-resize",
            "--pool",
            "images",
            "base.qcow2",
            "--shrink",
            "12M",
        ],
    );
    let info = ok(
        &uri,
        &["vol-info", "--pool", "images", "base.qcow2", "--bytes"],
    );
    assert_eq!(
        field(&info, "Capacity"),
        format!("{} bytes", 12 << 20),
        "{info}"
    );
    let info = ok(
        &uri,
        &[
            "vol-info",
            "--pool",
            "images",
            "base.qcow2",
            "--bytes",
            "--physical",
        ],
    );
    assert!(info.contains("Physical:"), "{info}");

    // Files made and removed behind the daemon's back show after pool-refresh.
    host_ok(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            &dir.join("behind.qcow2").to_string_lossy(),
            "3M",
        ],
    );
    std::fs::remove_file(dir.join("copy.qcow2")).expect("remove");
    let names = vol_names(&uri, "images");
    assert!(
        !names.contains("behind.qcow2") && names.contains("copy.qcow2"),
        "{names}"
    );
    ok(&uri, &["pool-refresh", "images"]);
    let names = vol_names(&uri, "images");
    assert!(
        names.contains("behind.qcow2") && !names.contains("copy.qcow2"),
        "{names}"
    );
    let xml = ok(&uri, &["vol-dumpxml", "--pool", "images", "behind.qcow2"]);
    assert!(
        xml.contains("<format type='qcow2'/>")
            && xml.contains("<capacity unit='bytes'>3145728</capacity>"),
        "{xml}"
    );

    for vol in [
        "data.raw",
        "base.qcow2",
        "data.qcow2",
        "back.raw",
        "behind.qcow2",
    ] {
        ok(&uri, &["vol-delete", "--pool", "images", vol]);
    }
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 0);
    ok(&uri, &["pool-destroy", "images"]);
    ok(&uri, &["pool-delete", "images"]);
    ok(&uri, &["pool-undefine", "images"]);
}

/// `virsh pool-event --loop` for one event family, until its timeout.
fn spawn_pool_event(uri: &str, event: &str) -> std::process::Child {
    Command::new("virsh")
        .args([
            "-c",
            uri,
            "pool-event",
            "--event",
            event,
            "--loop",
            "--timeout",
            "20",
        ])
        .env("LIBVIRT_AUTOSTART", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("virsh pool-event runs")
}

/// Reads a child's output until `lines` lines contain "event" or it exits; kills it (our own child) after.
fn event_lines(mut child: std::process::Child, lines: usize) -> Vec<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout");
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while seen.len() < lines {
        match receive.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.starts_with("event ") => seen.push(line),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

#[test]
fn virsh_and_python_see_pool_events() {
    if !peers_present() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let host = Host::start(tmp.path());
    let uri = host.uri();
    let lifecycle = spawn_pool_event(&uri, "lifecycle");
    let refresh = spawn_pool_event(&uri, "refresh");
    // Give both a moment to register before the first change.
    std::thread::sleep(Duration::from_millis(1500));
    let target = tmp.path().join("evpool").to_string_lossy().into_owned();
    ok(
        &uri,
        &["pool-define-as", "evpool", "dir", "--target", &target],
    );
    ok(&uri, &["pool-build", "evpool"]);
    ok(&uri, &["pool-start", "evpool"]);
    ok(&uri, &["pool-refresh", "evpool"]);
    ok(&uri, &["pool-destroy", "evpool"]);
    ok(&uri, &["pool-delete", "evpool"]);
    ok(&uri, &["pool-undefine", "evpool"]);
    let seen = event_lines(lifecycle, 6);
    assert_eq!(
        seen,
        [
            "event 'lifecycle' for storage pool evpool: Defined",
            "event 'lifecycle' for storage pool evpool: Created",
            "event 'lifecycle' for storage pool evpool: Started",
            "event 'lifecycle' for storage pool evpool: Stopped",
            "event 'lifecycle' for storage pool evpool: Deleted",
            "event 'lifecycle' for storage pool evpool: Undefined",
        ]
    );
    assert_eq!(
        event_lines(refresh, 1),
        ["event 'refresh' for storage pool evpool"]
    );

    let Some(python) = crate::support::python::libvirt_python() else {
        eprintln!("python3-libvirt not usable, skipping its part");
        return;
    };
    let target = tmp.path().join("pypool").to_string_lossy().into_owned();
    let script = format!(
        r#"
import libvirt, threading, time
libvirt.virEventRegisterDefaultImpl()
conn = libvirt.open("{uri}")
def lifecycle(c, pool, event, detail, opaque):
    print("event", pool.name(), event, detail, flush=True)
def refresh(c, pool, opaque):
    print("refresh", pool.name(), flush=True)
conn.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE, lifecycle, None)
conn.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH, refresh, None)
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
try:
    conn.storagePoolDefineXML("<pool type='dir'><name>broken</name>", 0)
except libvirt.libvirtError as e:
    print("bad xml", e.get_error_code() == libvirt.VIR_ERR_XML_DETAIL, flush=True)
pool = conn.storagePoolCreateXML("<pool type='dir'><name>pypool</name><target><path>{target}</path></target></pool>",
                                 libvirt.VIR_STORAGE_POOL_CREATE_WITH_BUILD)
vol = pool.createXML("<volume><name>v.qcow2</name><capacity unit='M'>2</capacity><target><format type='qcow2'/></target></volume>", 0)
print("by path", conn.storageVolLookupByPath(vol.path()).name(), flush=True)
print("by key", conn.storageVolLookupByKey(vol.key()).name(), flush=True)
print("pool of vol", vol.storagePoolLookupByVolume().name(), flush=True)
print("by target", conn.storagePoolLookupByTargetPath("{target}").name(), flush=True)
print("info", vol.info(), flush=True)
vol.wipePattern(libvirt.VIR_STORAGE_VOL_WIPE_ALG_ZERO, 0)
pool.refresh(0)
vol = pool.storageVolLookupByName("v.qcow2")
vol.delete(0)
pool.destroy()
time.sleep(1)
"#
    );
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    for expected in [
        "bad xml True",
        "by path v.qcow2",
        "by key v.qcow2",
        "pool of vol pypool",
        "by target pypool",
        "info [0, 2097152, ",
        "event pypool 2 0",
        "refresh pypool",
        "event pypool 3 0",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(expected)),
            "{expected}: {stdout}{stderr}"
        );
    }
}

#[test]
fn fs_pool_mounts_a_loop_device_it_formatted() {
    if !peers_present() || !running_as_root() || !crate::support::have("mkfs.ext4", "-V") {
        eprintln!("needs root, virsh and mkfs.ext4, skipping");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(device) = LoopDevice::attach(&tmp.path().join("fs.img"), 32) else {
        eprintln!("no loop device available, skipping");
        return;
    };
    let mount = tmp.path().join("mnt");
    let _unmount = MountGuard(mount.clone());
    let host = Host::start(tmp.path());
    let uri = host.uri();
    let xml = write_file(
        &tmp.path().join("fs.xml"),
        &format!(
            "<pool type='fs'><name>fspool</name><source><device path='{}'/><format type='ext4'/></source>\
             <target><path>{}</path></target></pool>",
            device.device,
            mount.display()
        ),
    );
    ok(&uri, &["pool-define", &xml]);
    let dumped = ok(&uri, &["pool-dumpxml", "fspool"]);
    assert!(
        dumped.contains(&format!("<device path='{}'/>", device.device))
            && dumped.contains("<format type='ext4'/>"),
        "{dumped}"
    );
    // Build with --overwrite makes the file system (mkfs); --no-overwrite then refuses to.
    ok(&uri, &["pool-build", "fspool", "--overwrite"]);
    let kind = host_ok(
        "blkid",
        &["-p", "-o", "value", "-s", "TYPE", &device.device],
    );
    assert_eq!(kind.trim(), "ext4");
    let err = fails(&uri, &["pool-build", "fspool", "--no-overwrite"]);
    assert!(err.contains("already formatted using 'ext4'"), "{err}");

    ok(&uri, &["pool-start", "fspool"]);
    assert!(is_mounted(&mount), "pool-start mounts the device");
    let info = ok(&uri, &["pool-info", "fspool", "--bytes"]);
    let capacity: u64 = field(&info, "Capacity")
        .trim_end_matches(" bytes")
        .parse()
        .expect("capacity");
    assert!(capacity > 16 << 20 && capacity <= 32 << 20, "{info}");
    ok(
        &uri,
        &[
            "vol-create-as",
            "fspool",
            "disk.qcow2",
            "4M",
            "--format",
            "qcow2",
        ],
    );
    assert_eq!(
        image_info(&mount.join("disk.qcow2")),
        ("qcow2".into(), 4 << 20)
    );
    let names = vol_names(&uri, "fspool");
    assert_eq!(
        names.split_whitespace().collect::<Vec<_>>(),
        ["disk.qcow2"],
        "lost+found is no volume"
    );

    ok(&uri, &["pool-destroy", "fspool"]);
    assert!(!is_mounted(&mount), "pool-destroy unmounts");
    assert!(!mount.join("disk.qcow2").exists());
    // Started again, the volume is found on the file system.
    ok(&uri, &["pool-start", "fspool"]);
    assert!(vol_names(&uri, "fspool").contains("disk.qcow2"));
    ok(&uri, &["pool-destroy", "fspool"]);
    ok(&uri, &["pool-delete", "fspool"]);
    assert!(!mount.exists());
    ok(&uri, &["pool-undefine", "fspool"]);
}

#[test]
fn logical_pool_builds_a_volume_group_on_a_loop_device() {
    if !peers_present() || !running_as_root() || !crate::support::have("vgcreate", "--version") {
        eprintln!("needs root, virsh and lvm2, skipping");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(device) = LoopDevice::attach(&tmp.path().join("pv.img"), 64) else {
        eprintln!("no loop device available, skipping");
        return;
    };
    let vg = format!("virtcimvg{}", std::process::id());
    let _vg_guard = VolumeGroupGuard {
        name: vg.clone(),
        device: device.device.clone(),
    };
    let host = Host::start(tmp.path());
    let uri = host.uri();
    let xml = write_file(
        &tmp.path().join("lvm.xml"),
        &format!(
            "<pool type='logical'><name>lvpool</name><source><device path='{}'/><name>{vg}</name>\
             <format type='lvm2'/></source></pool>",
            device.device
        ),
    );
    ok(&uri, &["pool-define", &xml]);
    let dumped = ok(&uri, &["pool-dumpxml", "lvpool"]);
    assert!(
        dumped.contains(&format!("<path>/dev/{vg}</path>")),
        "{dumped}"
    );
    ok(&uri, &["pool-build", "lvpool"]);
    assert!(
        volume_group_exists(&vg),
        "pool-build makes the volume group"
    );
    ok(&uri, &["pool-start", "lvpool"]);
    let info = ok(&uri, &["pool-info", "lvpool", "--bytes"]);
    let capacity: u64 = field(&info, "Capacity")
        .trim_end_matches(" bytes")
        .parse()
        .expect("capacity");
    assert!(capacity > 32 << 20 && capacity <= 64 << 20, "{info}");

    // Logical volumes need the kernel's device mapper; without it lvcreate fails and nothing is left.
    let device_mapper = std::fs::read_to_string("/proc/misc")
        .unwrap_or_default()
        .contains("device-mapper");
    let created = virsh(&uri, &["vol-create-as", "lvpool", "lv1", "8M"]);
    if device_mapper {
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        assert_eq!(vol_names(&uri, "lvpool").trim(), "lv1");
        assert_eq!(
            ok(&uri, &["vol-path", "--pool", "lvpool", "lv1"]).trim(),
            format!("/dev/{vg}/lv1")
        );
        ok(&uri, &["vol-delete", "--pool", "lvpool", "lv1"]);
    } else {
        let err = String::from_utf8_lossy(&created.stderr);
        assert!(
            !created.status.success() && err.contains("lvcreate"),
            "{err}"
        );
    }
    assert_eq!(vol_names(&uri, "lvpool").trim(), "");
    ok(&uri, &["pool-destroy", "lvpool"]);
    ok(&uri, &["pool-delete", "lvpool"]);
    assert!(
        !volume_group_exists(&vg),
        "pool-delete removes the volume group"
    );
    ok(&uri, &["pool-undefine", "lvpool"]);
}

#[test]
fn virt_clone_copies_a_guest_and_its_volume() {
    if !peers_present() || !crate::support::have("virt-clone", "--version") {
        eprintln!("virt-clone not installed, skipping");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let host = Host::start(tmp.path());
    let uri = host.uri();
    let dir = tmp.path().join("guests");
    ok(
        &uri,
        &[
            "pool-create-as",
            "guests",
            "dir",
            "--target",
            &dir.to_string_lossy(),
            "--build",
        ],
    );
    ok(
        &uri,
        &[
            "vol-create-as",
            "guests",
            "disk.qcow2",
            "8M",
            "--format",
            "qcow2",
        ],
    );
    let disk = dir.join("disk.qcow2");
    let xml = write_file(
        &tmp.path().join("guest.xml"),
        &format!(
            "<domain type='qemu'><name>orig</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>\
             <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/>\
             <target dev='hda' bus='ide'/></disk></devices></domain>",
            disk.display()
        ),
    );
    ok(&uri, &["define", &xml]);
    let out = Command::new("virt-clone")
        .args(["--connect", &uri, "--original", "orig", "--auto-clone"])
        .env("LIBVIRT_AUTOSTART", "0")
        .stdin(Stdio::null())
        .output()
        .expect("virt-clone runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let clone = dir.join("disk-clone.qcow2");
    assert_eq!(image_info(&clone), ("qcow2".into(), 8 << 20));
    let xml = ok(&uri, &["dumpxml", "orig-clone"]);
    assert!(
        xml.contains(&format!("<source file='{}'/>", clone.display())),
        "{xml}"
    );
    assert!(vol_names(&uri, "guests").contains("disk-clone.qcow2"));
    ok(&uri, &["undefine", "orig-clone"]);
    ok(&uri, &["undefine", "orig"]);
    ok(&uri, &["pool-destroy", "guests"]);
}
