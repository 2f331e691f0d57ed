//! A Redfish emulator built on libvirt (PyPI `sushy-tools`: `sushy-emulator` with its libvirt driver) pointed at
//! our daemon's `qemu:///system`: plain HTTP requests to the emulator list the systems, power a real QEMU guest on
//! and off (ComputerSystem.Reset On, ForceOff, GracefulShutdown, GracefulRestart, ForceRestart, Nmi), read its
//! state, set its boot device (Pxe, Cd, Hdd: the emulator rewrites per-device `<boot order>` and redefines the
//! domain) and insert and eject virtual media (the emulator downloads an image from an HTTP server this test runs
//! on 127.0.0.1, uploads it into the storage pool `default` through a volume upload stream and adds a CD-ROM).
//!
//! The emulator and the HTTP server listen on 127.0.0.1 only and are ended by pid; the guest's NIC sits on a
//! bridge of this test with no uplink.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::daemon::{ok, peers_present, Daemon, QemuReaper};
use crate::support::daemon::Logged;
use crate::support::python::{libvirt_module_dir, sushy_emulator};
use crate::support::qemu::{alone, guest_executing, HostBridge};
use crate::support::wbem::raw_exchange;
use crate::support::{alive, free_port, wait_for};

/// A boot sector that enables the ACPI power button (PIIX4 PM1_EN at 0x602), spins until the button was pressed
/// (PM1_STS at 0x600, bit 8), then powers the PC off (PM1_CNT at 0x604: SLP_EN): a guest that obeys a graceful
/// shutdown, and whose vCPU runs until then.
fn power_button_disk(dir: &Path) -> String {
    let code = [
        0xB8, 0x00, 0x01, // mov ax, 0x0100
        0xBA, 0x02, 0x06, // mov dx, 0x602
        0xEF, // out dx, ax
        0xBA, 0x00, 0x06, // poll: mov dx, 0x600
        0xED, // in ax, dx
        0xF6, 0xC4, 0x01, // test ah, 1
        0x74, 0xF7, // jz poll
        0xBA, 0x04, 0x06, // mov dx, 0x604
        0xB8, 0x00, 0x20, // mov ax, 0x2000
        0xEF, // out dx, ax
        0xF4, // halt: hlt
        0xEB, 0xFD, // jmp halt
    ];
    let mut sector = vec![0u8; 512];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector.resize(4096, 0);
    let path = dir.join("power-button.img");
    std::fs::write(&path, sector).expect("disk");
    path.to_string_lossy().into_owned()
}

/// The emulator's HTTP API on 127.0.0.1.
struct Redfish(SocketAddr);

impl Redfish {
    /// One request with an optional JSON body; returns the status and the JSON reply (Null when empty).
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        // Inserting media downloads and uploads an image: a slow step on a loaded machine.
        let reply = raw_exchange(self.0, request.as_bytes(), Duration::from_secs(180))
            .unwrap_or_else(|| panic!("no reply from the emulator to {method} {path}"));
        let value = if reply.body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&reply.body).unwrap_or(Value::String(reply.body.clone()))
        };
        (reply.status, value)
    }

    fn get(&self, path: &str) -> Value {
        let (status, value) = self.call("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {value}");
        value
    }

    /// A request that must answer 204 No Content.
    fn act(&self, method: &str, path: &str, body: Value) {
        let (status, value) = self.call(method, path, Some(body.clone()));
        assert_eq!(status, 204, "{method} {path} {body}: {value}");
    }
}

fn listening(addr: SocketAddr) -> bool {
    wait_for(Duration::from_secs(60), || TcpStream::connect(addr).is_ok())
}

#[test]
fn a_redfish_emulator_powers_boots_and_inserts_media_into_a_qemu_guest() {
    if !peers_present() {
        return;
    }
    let Some(emulator) = sushy_emulator() else {
        eprintln!("sushy-tools cannot be installed, skipping");
        return;
    };
    let Some(bridge) = HostBridge::new("vcrf") else {
        eprintln!("not root or no /dev/net/tun, skipping");
        return;
    };
    let _turn = alone();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let Some(libvirt_modules) = libvirt_module_dir(dir) else {
        eprintln!("python3-libvirt not installed, skipping");
        return;
    };
    let reaper = QemuReaper::default();
    let daemon = Daemon::start(dir);
    let uri = daemon.uri();

    // The pool the emulator uploads media into, and the guest.
    let pool_dir = dir.join("pool");
    std::fs::create_dir(&pool_dir).unwrap();
    ok(
        "virsh",
        &uri,
        &[
            "pool-define-as",
            "default",
            "dir",
            "--target",
            &pool_dir.to_string_lossy(),
        ],
    );
    ok("virsh", &uri, &["pool-start", "default"]);
    let name = "redfish1";
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><features><acpi/></features>\
         <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk>\
         <interface type='bridge'><mac address='52:54:00:5a:0f:01'/><source bridge='{}'/>\
         <model type='virtio'/></interface></devices></domain>",
        power_button_disk(dir),
        bridge.0
    );
    let xml_path = dir.join("guest.xml");
    std::fs::write(&xml_path, xml).unwrap();
    ok("virsh", &uri, &["define", &xml_path.to_string_lossy()]);
    let uuid = ok("virsh", &uri, &["domuuid", name]).trim().to_string();

    // The image the emulator downloads, served on 127.0.0.1.
    let media_dir = dir.join("media");
    std::fs::create_dir(&media_dir).unwrap();
    let image: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(media_dir.join("boot.iso"), &image).unwrap();
    let http_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut http = Command::new("python3");
    http.args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
        .arg(&media_dir)
        .arg(http_addr.port().to_string());
    let _http = Logged::spawn(http, "http.server");
    assert!(listening(http_addr), "the image server listens");

    // The emulator, on 127.0.0.1 only, talking to our daemon.
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = dir.join("sushy.conf");
    std::fs::write(
        &config,
        format!(
            "SUSHY_EMULATOR_LIBVIRT_URI = {uri:?}\nSUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n\
             SUSHY_EMULATOR_LISTEN_PORT = {}\nSUSHY_EMULATOR_STATE_DIR = {:?}\n\
             SUSHY_EMULATOR_STORAGE_POOL = 'default'\n",
            addr.port(),
            dir.join("sushy-state").display().to_string()
        ),
    )
    .unwrap();
    let mut command = Command::new(&emulator);
    command
        .arg("--config")
        .arg(&config)
        .env("PYTHONPATH", &libvirt_modules)
        .env("TMPDIR", dir);
    let mut sushy = Logged::spawn(command, "sushy-emulator");
    assert!(listening(addr), "the emulator listens: {}", sushy.log());
    let redfish = Redfish(addr);

    // The systems: our one guest, off.
    let systems = redfish.get("/redfish/v1/Systems");
    assert_eq!(systems["Members@odata.count"], 1, "{systems}");
    let system = systems["Members"][0]["@odata.id"]
        .as_str()
        .expect("a member")
        .to_string();
    assert_eq!(system, format!("/redfish/v1/Systems/{uuid}"));
    let info = redfish.get(&system);
    assert_eq!(info["Name"], name);
    assert_eq!(info["PowerState"], "Off");
    assert_eq!(info["ProcessorSummary"]["Count"], 1, "{info}");
    assert_eq!(info["Boot"]["BootSourceOverrideTarget"], "Hdd");
    // The emulator reads a domain in several calls (active? then its vCPUs): a guest that stops in between makes
    // one GET answer 500 with libvirt's "not running", as it would against libvirtd. Asked again, it settles.
    let power = || {
        for _ in 0..20 {
            let (status, value) = redfish.call("GET", &system, None);
            if status == 200 {
                return value["PowerState"].clone();
            }
            assert!(
                value.to_string().contains("domain is not running"),
                "GET {system}: {status} {value}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("GET {system} kept failing");
    };
    let reset_path = format!("{system}/Actions/ComputerSystem.Reset");
    let reset = |kind: &str| redfish.act("POST", &reset_path, json!({ "ResetType": kind }));
    let state = || {
        ok("virsh", &uri, &["domstate", "--reason", name])
            .trim()
            .to_string()
    };
    // The BIOS runs before the boot sector arms the power button, and a press before that is lost: the request
    // is repeated (every 5 s, for at most 2 minutes) until `done` holds. Only the first press must be accepted: a
    // later one may meet the guest on its way down.
    let press = |kind: &str, done: &dyn Fn() -> bool| {
        reset(kind);
        for _ in 0..24 {
            if wait_for(Duration::from_secs(5), done) {
                return true;
            }
            let _ = redfish.call("POST", &reset_path, Some(json!({ "ResetType": kind })));
        }
        false
    };

    // On: a QEMU runs the guest.
    reset("On");
    assert_eq!(power(), "On");
    assert_eq!(state(), "running (booted)");
    let first = daemon.qemu_pid(name);
    reaper.watch(first);
    assert!(guest_executing(first), "the guest runs its boot sector");

    // The boot device: per-device boot order in the persistent definition.
    let boot = |target: &str| {
        redfish.act(
            "PATCH",
            &system,
            json!({ "Boot": { "BootSourceOverrideTarget": target, "BootSourceOverrideEnabled": "Continuous" } }),
        );
        assert_eq!(
            redfish.get(&system)["Boot"]["BootSourceOverrideTarget"],
            target
        );
        ok("virsh", &uri, &["dumpxml", "--inactive", name])
    };
    let defined = boot("Pxe");
    let nic = section(&defined, "<interface", "</interface>");
    assert!(nic.contains("<boot order='1'/>"), "{defined}");
    assert!(
        section(&defined, "<disk", "</disk>").contains("<boot order='2'/>"),
        "the disk follows: {defined}"
    );
    assert!(!defined.contains("<boot dev="), "{defined}");
    let (status, _) = redfish.call(
        "PATCH",
        &system,
        Some(json!({ "Boot": { "BootSourceOverrideTarget": "Cd" } })),
    );
    assert_eq!(status, 500, "no CD-ROM yet: the emulator refuses");
    let defined = boot("Hdd");
    assert!(
        section(&defined, "<disk", "</disk>").contains("<boot order='1'/>"),
        "{defined}"
    );
    assert!(!section(&defined, "<interface", "</interface>").contains("<boot"));

    // Virtual media: downloaded, uploaded into the pool as a volume, attached as a CD-ROM.
    let cd = format!("{system}/VirtualMedia/Cd");
    let url = format!("http://{http_addr}/boot.iso");
    redfish.act(
        "POST",
        &format!("{cd}/Actions/VirtualMedia.InsertMedia"),
        json!({ "Image": url, "Inserted": true, "WriteProtected": true }),
    );
    let media = redfish.get(&cd);
    assert_eq!(media["Inserted"], true, "{media}");
    assert_eq!(media["Image"], url);
    let volume = format!("boot-iso-{uuid}.img");
    let volume_path = pool_dir.join(&volume);
    assert!(
        ok("virsh", &uri, &["vol-list", "default"]).contains(&volume),
        "the image is a volume of the pool"
    );
    assert_eq!(
        std::fs::read(&volume_path).expect("the uploaded volume"),
        image,
        "the volume holds the image's bytes"
    );
    let defined = ok("virsh", &uri, &["dumpxml", "--inactive", name]);
    let cdrom = section(&defined, "<disk type='file' device='cdrom'>", "</disk>");
    assert!(
        cdrom.contains(&format!("<source file='{}'/>", volume_path.display())),
        "{defined}"
    );
    assert!(cdrom.contains("<readonly/>"), "{cdrom}");

    // Boot from the CD, applied at the next start: ForceRestart is a new QEMU with the CD first.
    let defined = boot("Cd");
    assert!(
        section(&defined, "<disk type='file' device='cdrom'>", "</disk>")
            .contains("<boot order='1'/>"),
        "{defined}"
    );
    reset("ForceRestart");
    assert_eq!(power(), "On");
    let second = daemon.qemu_pid(name);
    reaper.watch(second);
    assert_ne!(first, second, "a forced restart is a new QEMU");
    assert!(!alive(first), "the old QEMU is gone");
    let cmdline = std::fs::read(format!("/proc/{second}/cmdline")).expect("cmdline");
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert!(
        args.iter()
            .any(|a| a.contains(&*volume_path.to_string_lossy())),
        "QEMU opens the CD image: {args:?}"
    );
    assert!(
        args.iter()
            .any(|a| a.starts_with("ide-cd") && a.contains("bootindex=1")),
        "the CD boots first: {args:?}"
    );
    assert!(
        section(
            &ok("virsh", &uri, &["dumpxml", name]),
            "device='cdrom'",
            "</disk>"
        )
        .contains(&volume),
        "the live definition has the CD"
    );

    // The CD holds no boot record: the BIOS goes on to the disk, whose guest obeys the power button.
    assert!(
        press("GracefulShutdown", &|| power() == "Off"),
        "the guest powers off on a graceful shutdown"
    );
    assert_eq!(state(), "shut off (shutdown)");

    // Ejected: the CD-ROM leaves the definition.
    redfish.act(
        "POST",
        &format!("{cd}/Actions/VirtualMedia.EjectMedia"),
        json!({}),
    );
    assert_eq!(redfish.get(&cd)["Inserted"], false);
    let defined = ok("virsh", &uri, &["dumpxml", "--inactive", name]);
    assert!(!defined.contains("device='cdrom'"), "{defined}");
    boot("Hdd");

    // NMI, then a graceful restart: the guest powers off on the ACPI button and the same QEMU is reset and resumed
    // (libvirt's reboot without a guest agent), which a lifecycle event tells; the guest then runs its boot sector
    // again and obeys the button once more.
    reset("On");
    let third = daemon.qemu_pid(name);
    reaper.watch(third);
    assert!(guest_executing(third), "the guest runs again");
    reset("Nmi");
    assert_eq!(power(), "On");
    let events_log = dir.join("events.txt");
    let mut watcher = Command::new("stdbuf")
        .args(["-oL", "virsh", "-c", &uri, "event", "--domain", name])
        .args(["--event", "lifecycle", "--loop"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&events_log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("virsh event");
    let events = || std::fs::read_to_string(&events_log).unwrap_or_default();
    let restarted = press("GracefulRestart", &|| events().contains("Resumed Unpaused"));
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert!(restarted, "the reboot completes: {}", events());
    assert!(
        !events().contains("Shutdown") && !events().contains("Stopped"),
        "no shutdown is told of a reboot: {}",
        events()
    );
    assert_eq!(
        daemon.qemu_pid(name),
        third,
        "a graceful restart keeps QEMU"
    );
    assert_eq!(state(), "running (booted)");
    assert!(
        press("GracefulShutdown", &|| power() == "Off"),
        "the restarted guest obeys the power button"
    );

    // ForceOff.
    reset("On");
    let fourth = daemon.qemu_pid(name);
    reaper.watch(fourth);
    reset("ForceOff");
    assert_eq!(power(), "Off");
    assert_eq!(state(), "shut off (destroyed)");
    assert!(!alive(fourth), "QEMU is gone after ForceOff");

    assert!(sushy.alive(), "the emulator still serves: {}", sushy.log());
}

/// The text from the first `start` through the next `end` (or to the text's end); panics when `start` is missing.
fn section<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let at = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {text}"));
    let rest = &text[at..];
    let stop = rest.find(end).map_or(rest.len(), |i| i + end.len());
    &rest[..stop]
}
