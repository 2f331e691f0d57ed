//! Streams served by virtcimd, driven by stock virsh and by our remote driver: volume upload and download of a
//! dir pool (bytes equal, sparse holes kept, bounded daemon memory on 64 MiB, a client killed mid-transfer),
//! screenshots (the test driver's PNG, a QEMU guest's PPM at its resolution) and the serial console of a guest
//! whose boot sector writes to COM1 (one reader, `--force` takes over).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use virtcim::{connect, flags, ConnectOptions, Packet};

use crate::support::daemon::Daemon;
use crate::support::qemu::{alone, have_qemu};
use crate::support::virsh::have_virsh;
use crate::support::virsh::ok_blocking as ok;
use crate::support::wait_for;

/// What the test guest's boot sector writes to COM1, over and over.
const MARKER: &str = "virtcim-console-ok";

/// The SHA-256 of the first `len` bytes of a file (by `sha256sum`: hashing in a debug build is slow).
fn sha256(path: &Path, len: u64) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("head -c {len} '{}' | sha256sum", path.display()))
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// `len` pseudo-random bytes (xorshift), so no test depends on a slow entropy source.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn vm_hwm_kib(pid: Pid) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat").blocks() * 512
}

/// Kills a child we started, if it still runs.
struct Reap(Option<Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn volumes_stream_both_ways_sparse_bounded_and_abortable() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let daemon = Daemon::start(dir, "");
    let uri = format!(
        "qemu+unix:///system?socket={}",
        daemon.rw_socket().display()
    );
    let pool_dir = dir.join("pool");
    ok(
        &uri,
        &[
            "pool-define-as",
            "streams",
            "dir",
            "--target",
            &pool_dir.to_string_lossy(),
        ],
    );
    ok(&uri, &["pool-build", "streams"]);
    ok(&uri, &["pool-start", "streams"]);
    ok(
        &uri,
        &["vol-create-as", "streams", "big", "80M", "--format", "raw"],
    );

    // 64 MiB up and down: equal bytes, and the daemon's peak memory stays far below the transfer.
    const BIG: usize = 64 << 20;
    let src = dir.join("src.bin");
    std::fs::write(&src, noise(BIG)).unwrap();
    let before = vm_hwm_kib(daemon.pid());
    ok(
        &uri,
        &[
            "vol-upload",
            "--pool",
            "streams",
            "big",
            &src.to_string_lossy(),
        ],
    );
    let vol = pool_dir.join("big");
    assert_eq!(sha256(&vol, BIG as u64), sha256(&src, BIG as u64));
    let down = dir.join("down.bin");
    ok(
        &uri,
        &[
            "vol-download",
            "--pool",
            "streams",
            "big",
            &down.to_string_lossy(),
        ],
    );
    assert_eq!(std::fs::metadata(&down).unwrap().len(), 80 << 20);
    assert_eq!(sha256(&down, 80 << 20), sha256(&vol, 80 << 20));
    let after = vm_hwm_kib(daemon.pid());
    // Again: what a transfer costs is a few queued packets and allocator slack, not its size, so a second one
    // barely moves the peak.
    ok(
        &uri,
        &[
            "vol-upload",
            "--pool",
            "streams",
            "big",
            &src.to_string_lossy(),
        ],
    );
    ok(
        &uri,
        &[
            "vol-download",
            "--pool",
            "streams",
            "big",
            &down.to_string_lossy(),
        ],
    );
    let again = vm_hwm_kib(daemon.pid());
    eprintln!("virtcimd VmHWM {before} KiB before, {after} KiB after 64 MiB up and 80 MiB down, {again} KiB after twice");
    assert!(
        after < before + 16 * 1024,
        "peak memory grew from {before} to {after} KiB over a 64 MiB transfer"
    );
    assert!(
        again < after + 4 * 1024,
        "peak memory grew again: {after} -> {again} KiB"
    );

    // Offset and length.
    let part = dir.join("part.bin");
    ok(
        &uri,
        &[
            "vol-download",
            "--pool",
            "streams",
            "big",
            &part.to_string_lossy(),
            "--offset",
            "1000",
            "--length",
            "24",
        ],
    );
    assert_eq!(std::fs::read(&part).unwrap(), noise(1024)[1000..1024]);

    // A sparse file keeps its holes both ways with --sparse.
    let sparse = dir.join("sparse.bin");
    let file = std::fs::File::create(&sparse).unwrap();
    file.set_len(64 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"hello", 0).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"world", 40 << 20).unwrap();
    drop(file);
    ok(
        &uri,
        &[
            "vol-create-as",
            "streams",
            "holes",
            "64M",
            "--format",
            "raw",
        ],
    );
    ok(
        &uri,
        &[
            "vol-upload",
            "--sparse",
            "--pool",
            "streams",
            "holes",
            &sparse.to_string_lossy(),
        ],
    );
    let holes = pool_dir.join("holes");
    assert_eq!(sha256(&holes, 64 << 20), sha256(&sparse, 64 << 20));
    assert!(
        allocated(&holes) < 1 << 20,
        "upload kept holes: {} bytes allocated",
        allocated(&holes)
    );
    let back = dir.join("back.bin");
    ok(
        &uri,
        &[
            "vol-download",
            "--sparse",
            "--pool",
            "streams",
            "holes",
            &back.to_string_lossy(),
        ],
    );
    assert_eq!(sha256(&back, 64 << 20), sha256(&sparse, 64 << 20));
    assert!(
        allocated(&back) < 1 << 20,
        "download kept holes: {} bytes allocated",
        allocated(&back)
    );

    // A client killed mid-download: the daemon keeps serving, the next download is whole.
    let fifo = dir.join("fifo");
    nix::unistd::mkfifo(
        &fifo,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .unwrap();
    let child = Command::new("virsh")
        .args(["-c", &uri, "vol-download", "--pool", "streams", "big"])
        .arg(&fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Reap(Some(child));
    let mut reader = std::fs::File::open(&fifo).unwrap();
    let mut first = vec![0u8; 1 << 20];
    std::io::Read::read_exact(&mut reader, &mut first).unwrap();
    assert_eq!(first, noise(1 << 20));
    if let Some(virsh) = child.0.as_mut() {
        let _ = virsh.kill();
        let _ = virsh.wait();
    }
    drop(reader);
    ok(
        &uri,
        &[
            "vol-download",
            "--pool",
            "streams",
            "big",
            &down.to_string_lossy(),
        ],
    );
    assert_eq!(sha256(&down, 80 << 20), sha256(&vol, 80 << 20));
    assert!(ok(&uri, &["pool-list"]).contains("streams"));

    // Our remote driver gives what virsh got.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let conn = connect(&uri, &ConnectOptions::default()).await.unwrap();
        let pool = conn.pool_lookup_by_name("streams").await.unwrap();
        let big = conn.vol_lookup_by_name(&pool, "big").await.unwrap();
        let mut stream = conn.vol_download(&big, 0, 0, 0).await.unwrap();
        let bytes = stream.read_to_end(usize::MAX).await.unwrap();
        stream.finish().await.unwrap();
        assert_eq!(
            bytes,
            std::fs::read(&vol).unwrap(),
            "the remote driver reads what virsh reads"
        );

        let holes_vol = conn.vol_lookup_by_name(&pool, "holes").await.unwrap();
        let mut stream = conn
            .vol_download(&holes_vol, 0, 0, flags::VOL_DOWNLOAD_SPARSE_STREAM)
            .await
            .unwrap();
        let mut packets = Vec::new();
        while let Some(packet) = stream.recv().await {
            if packet == Packet::Eof {
                break;
            }
            packets.push(packet);
        }
        stream.finish().await.unwrap();
        assert!(
            packets
                .iter()
                .any(|p| matches!(p, Packet::Hole(n) if *n > 16 << 20)),
            "holes arrive as holes"
        );

        let stream = conn.vol_upload(&big, 8, 0, 0).await.unwrap();
        stream.send(Packet::Data(b"remote".to_vec())).await.unwrap();
        let mut stream = stream;
        stream.finish().await.unwrap();
        assert_eq!(&std::fs::read(&vol).unwrap()[8..14], b"remote");

        let stream = conn.vol_upload(&big, 0, 0, 0).await.unwrap();
        stream.send(Packet::Hole(4)).await.unwrap();
        let mut stream = stream;
        let err = stream.finish().await.unwrap_err();
        assert_eq!(err.message, "Unexpected stream hole");
        let _ = conn.close().await;
    });
    drop(daemon);
}

#[test]
fn test_driver_screenshot_is_a_png_as_with_libvirt() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path(), "");
    let ours = format!(
        "test+unix:///default?socket={}",
        daemon.rw_socket().display()
    );
    for (uri, file) in [
        (ours.as_str(), "ours.png"),
        ("test:///default", "libvirt.png"),
    ] {
        let path = tmp.path().join(file);
        let text = ok(uri, &["screenshot", "test", &path.to_string_lossy()]);
        assert!(text.contains("with type of image/png"), "{uri}: {text}");
        assert_eq!(&std::fs::read(&path).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    }
    // The remote driver: the same image.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let conn = connect(&ours, &ConnectOptions::default()).await.unwrap();
        let dom = conn.domain_lookup_by_name("test").await.unwrap();
        let (mime, mut stream) = conn.domain_screenshot(&dom, 0, 0).await.unwrap();
        assert_eq!(mime, "image/png");
        let png = stream.read_to_end(1 << 20).await.unwrap();
        stream.finish().await.unwrap();
        assert_eq!(png, std::fs::read(tmp.path().join("ours.png")).unwrap());
        let _ = conn.close().await;
    });
}

/// A boot sector that writes `MARKER` and CR LF to COM1 (port 0x3f8), pauses, and starts over.
fn console_disk(dir: &Path) -> PathBuf {
    #[rustfmt::skip]
    let code: [u8; 32] = [
        0xFA,                   // cli
        0x31, 0xC0,             // xor ax, ax
        0x8E, 0xD8,             // mov ds, ax
        0xBE, 0x20, 0x7C,       // again: mov si, 0x7c20 (the message)
        0xAC,                   // next: lodsb
        0x84, 0xC0,             // test al, al
        0x74, 0x06,             // jz pause
        0xBA, 0xF8, 0x03,       // mov dx, 0x3f8
        0xEE,                   // out dx, al
        0xEB, 0xF5,             // jmp next
        0xBB, 0x40, 0x00,       // pause: mov bx, 0x40
        0xB9, 0xFF, 0xFF,       // outer: mov cx, 0xffff
        0xE2, 0xFE,             // loop $
        0x4B,                   // dec bx
        0x75, 0xF8,             // jnz outer
        0xEB, 0xE5,             // jmp again
    ];
    let mut sector = vec![0u8; 512];
    sector[..32].copy_from_slice(&code);
    let message = format!("{MARKER}\r\n\0");
    sector[32..32 + message.len()].copy_from_slice(message.as_bytes());
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector.resize(4096, 0);
    let path = dir.join("console.img");
    std::fs::write(&path, sector).unwrap();
    path
}

/// `virsh console` under a pseudo-terminal (`script`), for at most `seconds`; its output.
fn console(uri: &str, name: &str, extra: &str, seconds: u32) -> Command {
    let mut command = Command::new("timeout");
    command
        .arg(seconds.to_string())
        .args(["script", "-qc"])
        .arg(format!("virsh -c '{uri}' console {name} {extra}"))
        .arg("/dev/null")
        .stdin(Stdio::null());
    command
}

#[test]
fn guest_console_and_screenshot() {
    if !have_virsh() || !have_qemu() || !crate::support::have("script", "--version") {
        eprintln!("virsh, qemu or script not installed, skipping");
        return;
    }
    let _guests = alone();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let daemon = Daemon::start(dir, "");
    let uri = format!(
        "qemu+unix:///system?socket={}",
        daemon.rw_socket().display()
    );
    let name = format!("console-{}", std::process::id());
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk>\
         <serial type='pty'><target port='0'/></serial>\
         <console type='pty'><target type='serial' port='0'/></console>\
         <video><model type='vga'/></video></devices></domain>",
        console_disk(dir).display()
    );
    let xml_path = dir.join("console.xml");
    std::fs::write(&xml_path, xml).unwrap();
    ok(&uri, &["create", &xml_path.to_string_lossy()]);
    let status = std::fs::read_to_string(dir.join(format!("state/qemu/run/{name}.json"))).unwrap();
    let pid: i32 = serde_json::from_str::<serde_json::Value>(&status).unwrap()["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap();
    struct KillGuest(i32);
    impl Drop for KillGuest {
        fn drop(&mut self) {
            let _ = kill(Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }
    let _guest = KillGuest(pid);

    // The live XML names the pty, as libvirt's does.
    let live = ok(&uri, &["dumpxml", &name]);
    assert!(live.contains("<source path='/dev/pts/"), "{live}");
    // `virsh ttyconsole` reads the console's `tty` attribute.
    let tty = ok(&uri, &["ttyconsole", &name]);
    assert!(
        tty.trim().starts_with("/dev/pts/") && live.contains(&format!("tty='{}'", tty.trim())),
        "{tty} / {live}"
    );

    // Screenshot: a whole PPM of the display in whatever mode the firmware has it (720 x 400 text once SeaBIOS
    // set it, 640 x 480 before); the temp file is gone.
    let shot = dir.join("shot.ppm");
    let text = ok(&uri, &["screenshot", &name, &shot.to_string_lossy()]);
    assert!(text.contains("image/x-portable-pixmap"), "{text}");
    let image = std::fs::read(&shot).unwrap();
    let header: Vec<&[u8]> = image.splitn(5, |b| b.is_ascii_whitespace()).collect();
    let number = |at: usize| -> usize {
        std::str::from_utf8(header[at])
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        header.len() == 5 && header[0] == b"P6" && number(3) == 255,
        "{:?}",
        &image[..16.min(image.len())]
    );
    let (width, height) = (number(1), number(2));
    assert!(
        [(720, 400), (640, 480)].contains(&(width, height)),
        "{width} x {height}"
    );
    assert_eq!(header[4].len(), width * height * 3);
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("state/qemu/run"))
        .unwrap()
        .map_while(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("screendump"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The console shows what the guest writes to COM1.
    let out = console(&uri, &name, "", 4).output().unwrap();
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(seen.contains(MARKER), "{seen}");

    // One reader at a time; --force takes the console over and the first client's stream ends with an error.
    let first_log = dir.join("first.log");
    let first = console(&uri, &name, "", 30)
        .stdout(std::fs::File::create(&first_log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = Reap(Some(first));
    // Generous: on a loaded machine the client itself can take seconds to start (it lives 30 s).
    assert!(wait_for(Duration::from_secs(25), || {
        std::fs::read_to_string(&first_log).is_ok_and(|t| t.contains(MARKER))
    }));
    let out = console(&uri, &name, "", 4).output().unwrap();
    let busy = String::from_utf8_lossy(&out.stdout);
    assert!(
        busy.contains("Active console session exists for this domain"),
        "{busy}"
    );
    let out = console(&uri, &name, "--force", 4).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(MARKER));
    let child = first.0.as_mut().unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || child
            .try_wait()
            .ok()
            .flatten()
            .is_some()),
        "the first console ends once taken over"
    );
    let log = std::fs::read_to_string(&first_log).unwrap();
    assert!(log.contains("error:"), "{log}");

    // The remote driver: the console's bytes and the screenshot.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let conn = connect(&uri, &ConnectOptions::default()).await.unwrap();
        let dom = conn.domain_lookup_by_name(&name).await.unwrap();
        let mut stream = conn
            .domain_open_console(&dom, None, flags::CONSOLE_FORCE)
            .await
            .unwrap();
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains(MARKER) {
            match tokio::time::timeout(Duration::from_secs(10), stream.recv()).await {
                Ok(Some(Packet::Data(bytes))) => seen.extend(bytes),
                other => panic!("console ended: {other:?}"),
            }
        }
        stream.finish().await.unwrap();
        let (mime, mut stream) = conn.domain_screenshot(&dom, 0, 0).await.unwrap();
        assert_eq!(mime, "image/x-portable-pixmap");
        let image = stream.read_to_end(4 << 20).await.unwrap();
        stream.finish().await.unwrap();
        assert!(image.starts_with(b"P6\n720 400\n255\n"));
        let err = conn.domain_screenshot(&dom, 1, 0).await.unwrap_err();
        assert_eq!(err.message, "invalid argument: no screen with index 1");
        let _ = conn.close().await;
    });
    ok(&uri, &["destroy", &name]);
    drop(daemon);
}
