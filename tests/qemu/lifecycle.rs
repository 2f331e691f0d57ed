//! Real QEMU (TCG) driven through the `Driver` API of an in-process `QemuDriver`: lifecycle with events and QMP
//! state, a simulated daemon restart that finds running guests again, guests killed from outside, autostart.
//! Guests have no OS and live a few seconds; every QEMU started here is killed by pid when a test ends.

use crate::support::alive;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use virtcim::{
    event, flags, prelude::*, reason, DomainEvent, DomainRef, DomainState, QemuDriver, QemuMode,
};

/// Fails when QEMU is missing; the guard lets this test's guests run alongside other tests' (not a measuring one).
async fn require_qemu() -> tokio::sync::RwLockReadGuard<'static, ()> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("qemu-system-x86_64").is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "qemu-system-x86_64 is not installed: these tests boot real QEMU (tests/run installs qemu-system-x86)"
    );
    crate::support::qemu::alongside().await
}

/// Kills, by pid, every QEMU a test started that is still around when the test ends (pass or fail).
#[derive(Default)]
struct QemuReaper {
    pids: std::sync::Mutex<Vec<i32>>,
}

impl QemuReaper {
    fn track(&self, pid: i32) {
        self.pids.lock().unwrap().push(pid);
    }
}

impl Drop for QemuReaper {
    fn drop(&mut self) {
        for pid in self.pids.lock().unwrap().iter() {
            // Only pids this test started; ESRCH when already gone is fine.
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
    }
}

fn domain_xml(name: &str, uuid: &str, extra_devices: &str) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>48</memory>\
         <vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\
         <features><acpi/></features><devices>{extra_devices}</devices></domain>"
    )
}

async fn wait_for_state(
    driver: &QemuDriver,
    dom: &DomainRef,
    want: DomainState,
    limit: Duration,
) -> (DomainState, i32) {
    let start = Instant::now();
    loop {
        let (state, why) = match driver.domain_get_state(dom, 0).await {
            Ok(s) => s,
            // A transient domain disappears when it stops.
            Err(_) => (DomainState::Shutoff, -1),
        };
        if state == want || start.elapsed() > limit {
            return (state, why);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn next_event(
    events: &mut broadcast::Receiver<DomainEvent>,
    name: &str,
    kind: i32,
) -> DomainEvent {
    let deadline = Duration::from_secs(20);
    tokio::time::timeout(deadline, async {
        loop {
            let ev = events.recv().await.expect("event channel closed");
            if ev.domain.name == name && ev.event == kind {
                return ev;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no event {kind} for {name}"))
}

fn make_image(dir: &Path, name: &str, format: &str) -> String {
    let path = dir.join(name);
    let status = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", format])
        .arg(&path)
        .arg("8M")
        .status()
        .expect("qemu-img is not installed (tests/run installs qemu-utils)");
    assert!(status.success());
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_follows_qmp_and_emits_events() {
    let _guests = require_qemu().await;
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().unwrap();
    let driver = QemuDriver::open(tmp.path(), QemuMode::Session)
        .await
        .unwrap();
    // The system driver owns STATE/qemu, the session driver STATE/qemu/session: both open at once.
    let system = QemuDriver::open(tmp.path(), QemuMode::System)
        .await
        .unwrap();
    assert_eq!(system.get_uri().await.unwrap(), "qemu:///system");
    assert_eq!(driver.get_uri().await.unwrap(), "qemu:///session");
    assert!(
        QemuDriver::open(tmp.path(), QemuMode::Session)
            .await
            .is_err(),
        "one owner per directory"
    );
    assert_eq!(driver.get_type().await.unwrap(), "QEMU");
    let caps = driver.get_capabilities().await.unwrap();
    assert!(
        caps.contains("<domain type='qemu'/>") && caps.contains("qemu-system-x86_64"),
        "{caps}"
    );
    assert!(driver.get_version().await.unwrap() >= 7_000_000);
    let image = make_image(tmp.path(), "root.qcow2", "qcow2");
    let serial = tmp.path().join("serial.log");
    let devices = format!(
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{image}'/>\
         <target dev='vda' bus='virtio'/></disk>\
         <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>\
         <interface type='user'><mac address='52:54:00:00:00:11'/><model type='e1000'/></interface>\
         <serial type='file'><source path='{}'/><target port='0'/></serial>\
         <graphics type='vnc' autoport='yes'/>",
        serial.display()
    );
    let xml = domain_xml("life", "6a7e0c1e-0000-4000-8000-000000000001", &devices);
    let mut events = driver.domain_event_subscribe().await.unwrap();
    let dom = driver.domain_define_xml(&xml, 0).await.unwrap();
    assert_eq!(
        next_event(&mut events, "life", event::DEFINED).await.detail,
        event::DEFINED_ADDED
    );
    assert!(tmp.path().join("qemu/session/life.xml").is_file());

    let dom = driver.domain_create(&dom, 0).await.unwrap();
    let pid = driver.pid(&dom).unwrap();
    reaper.track(pid);
    assert!(dom.id > 0);
    assert_eq!(
        next_event(&mut events, "life", event::STARTED).await.detail,
        event::STARTED_BOOTED
    );
    assert_eq!(
        driver.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Running, reason::RUNNING_BOOTED)
    );
    assert_eq!(driver.qmp_status(&dom).await.unwrap(), "running");
    assert!(tmp.path().join("qemu/session/run/life.json").is_file());
    assert!(tmp.path().join("qemu/session/log/life.log").is_file());
    assert_eq!(
        driver.domain_lookup_by_id(dom.id).await.unwrap().name,
        "life"
    );
    assert!(
        driver.domain_create(&dom, 0).await.is_err(),
        "a running domain cannot start twice"
    );

    driver.domain_suspend(&dom).await.unwrap();
    assert_eq!(
        next_event(&mut events, "life", event::SUSPENDED)
            .await
            .detail,
        event::SUSPENDED_PAUSED
    );
    assert_eq!(driver.qmp_status(&dom).await.unwrap(), "paused");
    assert_eq!(
        driver.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Paused, reason::PAUSED_USER)
    );
    assert_eq!(
        driver.domain_get_info(&dom).await.unwrap().state,
        DomainState::Paused
    );
    driver.domain_resume(&dom).await.unwrap();
    assert_eq!(
        next_event(&mut events, "life", event::RESUMED).await.detail,
        event::RESUMED_UNPAUSED
    );
    assert_eq!(driver.qmp_status(&dom).await.unwrap(), "running");

    // DOMAIN_RESET and DOMAIN_INJECT_NMI go to QEMU (system_reset, inject-nmi): the same process keeps running.
    driver.domain_reset(&dom, 0).await.unwrap();
    driver.domain_inject_nmi(&dom, 0).await.unwrap();
    assert_eq!(driver.pid(&dom).unwrap(), pid);
    assert_eq!(driver.qmp_status(&dom).await.unwrap(), "running");
    let err = driver.domain_reset(&dom, 1).await.unwrap_err();
    assert!(
        err.message.contains("unsupported flags (0x1)"),
        "{}",
        err.message
    );

    driver.domain_reboot(&dom, 0).await.unwrap();
    driver.domain_set_memory(&dom, 32 * 1024, 0).await.unwrap();
    let info = driver.domain_get_info(&dom).await.unwrap();
    assert_eq!(
        (
            info.state,
            info.max_mem_kib,
            info.memory_kib,
            info.nr_virt_cpu
        ),
        (DomainState::Running, 48 * 1024, 32 * 1024, 1)
    );
    assert!(
        driver.domain_set_memory(&dom, 64 * 1024, 0).await.is_err(),
        "above the maximum"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(driver.domain_get_info(&dom).await.unwrap().cpu_time_ns > 0);
    let live_xml = driver.domain_get_xml_desc(&dom, 0).await.unwrap();
    assert!(live_xml.contains(&format!("id='{}'", dom.id)), "{live_xml}");
    assert!(
        live_xml.contains("port='59"),
        "the live XML shows the VNC port picked: {live_xml}"
    );

    // No OS answers the ACPI button: the request is accepted and the guest keeps running.
    driver.domain_shutdown(&dom, 0).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        driver.domain_get_state(&dom, 0).await.unwrap().0,
        DomainState::Running
    );

    driver.domain_destroy(&dom, 0).await.unwrap();
    assert_eq!(
        next_event(&mut events, "life", event::STOPPED).await.detail,
        event::STOPPED_DESTROYED
    );
    assert_eq!(
        driver.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Shutoff, reason::SHUTOFF_DESTROYED)
    );
    assert!(!alive(pid), "QEMU must be gone after destroy");
    assert!(!tmp.path().join("qemu/session/run/life.json").exists());
    assert!(
        driver.domain_destroy(&dom, 0).await.is_err(),
        "destroying a shut-off domain is refused"
    );
    for err in [
        driver.domain_reset(&dom, 0).await.unwrap_err(),
        driver.domain_inject_nmi(&dom, 0).await.unwrap_err(),
    ] {
        assert_eq!(
            err.code,
            virtcim::ErrorCode::OPERATION_INVALID,
            "{}",
            err.message
        );
    }

    driver.domain_undefine(&dom, 0).await.unwrap();
    assert!(!tmp.path().join("qemu/session/life.xml").exists());
    assert!(driver.domain_lookup_by_name("life").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_survive_a_driver_restart_and_deaths_are_noticed() {
    let _guests = require_qemu().await;
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().unwrap();
    let state_dir = tmp.path().to_path_buf();

    let (a, b, c, pids) = {
        let driver = QemuDriver::open(&state_dir, QemuMode::System)
            .await
            .unwrap();
        let a = driver
            .domain_define_xml(
                &domain_xml("alpha", "6a7e0c1e-0000-4000-8000-00000000000a", ""),
                0,
            )
            .await
            .unwrap();
        let c = driver
            .domain_define_xml(
                &domain_xml("gamma", "6a7e0c1e-0000-4000-8000-00000000000c", ""),
                0,
            )
            .await
            .unwrap();
        let a = driver.domain_create(&a, 0).await.unwrap();
        reaper.track(driver.pid(&a).unwrap());
        let c = driver.domain_create(&c, 0).await.unwrap();
        reaper.track(driver.pid(&c).unwrap());
        let b = driver
            .domain_create_xml(
                &domain_xml("beta", "6a7e0c1e-0000-4000-8000-00000000000b", ""),
                0,
            )
            .await
            .unwrap();
        reaper.track(driver.pid(&b).unwrap());
        assert!(!driver.domain_is_persistent(&b).await.unwrap());
        let pids = [
            driver.pid(&a).unwrap(),
            driver.pid(&b).unwrap(),
            driver.pid(&c).unwrap(),
        ];
        (a, b, c, pids)
        // The driver is dropped here, as when the daemon stops: guests keep running.
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        pids.iter().all(|p| alive(*p)),
        "guests must outlive the driver"
    );
    // gamma dies while no driver watches it.
    kill(Pid::from_raw(pids[2]), Signal::SIGKILL).unwrap();
    let start = Instant::now();
    while alive(pids[2]) && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let driver: Arc<QemuDriver> = QemuDriver::open(&state_dir, QemuMode::System)
        .await
        .unwrap();
    assert_eq!(driver.get_uri().await.unwrap(), "qemu:///system");
    for (dom, pid) in [(&a, pids[0]), (&b, pids[1])] {
        let found = driver.domain_lookup_by_name(&dom.name).await.unwrap();
        assert_eq!(found.id, dom.id, "{} keeps its id", dom.name);
        assert_eq!(
            driver.pid(&found).unwrap(),
            pid,
            "{} is the same process",
            dom.name
        );
        assert_eq!(
            driver.domain_get_state(&found, 0).await.unwrap().0,
            DomainState::Running
        );
        assert_eq!(driver.qmp_status(&found).await.unwrap(), "running");
    }
    assert!(!driver.domain_is_persistent(&b).await.unwrap());
    assert_eq!(
        driver.domain_get_state(&c, 0).await.unwrap(),
        (DomainState::Shutoff, reason::SHUTOFF_UNKNOWN),
        "a guest gone during the restart is shut off"
    );
    let mut events = driver.domain_event_subscribe().await.unwrap();

    // alpha is killed from outside while watched.
    kill(Pid::from_raw(pids[0]), Signal::SIGKILL).unwrap();
    assert_eq!(
        next_event(&mut events, "alpha", event::STOPPED)
            .await
            .detail,
        event::STOPPED_CRASHED
    );
    assert_eq!(
        wait_for_state(&driver, &a, DomainState::Shutoff, Duration::from_secs(10)).await,
        (DomainState::Shutoff, reason::SHUTOFF_CRASHED)
    );
    assert!(!state_dir.join("qemu/run/alpha.json").exists());

    // beta (transient) disappears when destroyed.
    driver.domain_destroy(&b, 0).await.unwrap();
    assert!(driver.domain_lookup_by_name("beta").await.is_err());
    assert!(!alive(pids[1]));

    // Autostart: gamma is started when the driver opens.
    driver.domain_set_autostart(&c, true).await.unwrap();
    drop(events);
    drop(driver);
    let driver = QemuDriver::open(&state_dir, QemuMode::System)
        .await
        .unwrap();
    let c = driver.domain_lookup_by_name("gamma").await.unwrap();
    reaper.track(driver.pid(&c).unwrap());
    assert!(c.id > 0);
    assert_eq!(
        driver.domain_get_state(&c, 0).await.unwrap().0,
        DomainState::Running
    );
    assert!(driver.domain_get_autostart(&c).await.unwrap());
    driver.domain_destroy(&c, 0).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_qemu_is_ended_and_marked_crashed() {
    let _guests = require_qemu().await;
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().unwrap();
    let driver =
        QemuDriver::open_with_timeout(tmp.path(), QemuMode::Session, Duration::from_secs(1))
            .await
            .unwrap();
    let dom = driver
        .domain_create_xml(
            &domain_xml("frozen", "6a7e0c1e-0000-4000-8000-0000000000f0", ""),
            0,
        )
        .await
        .unwrap();
    let pid = driver.pid(&dom).unwrap();
    reaper.track(pid);
    let mut events = driver.domain_event_subscribe().await.unwrap();
    // SIGSTOP: the process lives but its monitor never answers.
    kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
    let started = Instant::now();
    let err = driver.qmp_status(&dom).await.unwrap_err();
    assert!(err.message.contains("did not answer"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the caller is not blocked past the timeout"
    );
    // Other calls keep working meanwhile.
    assert_eq!(driver.list_all_domains(0).await.unwrap().len(), 1);
    assert_eq!(
        next_event(&mut events, "frozen", event::STOPPED)
            .await
            .detail,
        event::STOPPED_CRASHED
    );
    assert!(!alive(pid), "a hung QEMU is ended");
    assert!(
        driver.domain_lookup_by_name("frozen").await.is_err(),
        "a stopped transient domain is gone"
    );
}

/// A 512-byte boot sector that powers the PC off through the PIIX4 ACPI PM control port (0x604: SLP_EN), then
/// halts: the smallest guest that shuts itself down.
fn poweroff_disk(dir: &Path) -> String {
    let code = [0xBA, 0x04, 0x06, 0xB8, 0x00, 0x20, 0xEF, 0xF4, 0xEB, 0xFE];
    let mut sector = vec![0u8; 512];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector.resize(4096, 0);
    let path = dir.join("poweroff.img");
    std::fs::write(&path, sector).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_shutting_down_and_guests_that_cannot_start() {
    let _guests = require_qemu().await;
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().unwrap();
    let driver = QemuDriver::open(tmp.path(), QemuMode::Session)
        .await
        .unwrap();
    let mut events = driver.domain_event_subscribe().await.unwrap();

    let disk = poweroff_disk(tmp.path());
    let devices = format!(
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{disk}'/>\
         <target dev='hda' bus='ide'/></disk>"
    );
    let dom = driver
        .domain_define_xml(
            &domain_xml("bye", "6a7e0c1e-0000-4000-8000-0000000000b0", &devices),
            0,
        )
        .await
        .unwrap();
    let dom = driver.domain_create(&dom, 0).await.unwrap();
    reaper.track(driver.pid(&dom).unwrap());
    assert_eq!(
        next_event(&mut events, "bye", event::SHUTDOWN).await.detail,
        event::SHUTDOWN_GUEST,
        "the guest powered off by itself"
    );
    assert_eq!(
        next_event(&mut events, "bye", event::STOPPED).await.detail,
        event::STOPPED_SHUTDOWN
    );
    assert_eq!(
        wait_for_state(&driver, &dom, DomainState::Shutoff, Duration::from_secs(10)).await,
        (DomainState::Shutoff, reason::SHUTOFF_SHUTDOWN)
    );

    // QEMU refuses a disk that does not exist: the error carries its words; nothing is left behind.
    let missing = "<disk type='file' device='disk'><source file='/nonexistent/virtcim-test.img'/>\
                   <target dev='vda' bus='virtio'/></disk>";
    let broken = driver
        .domain_define_xml(
            &domain_xml("broken", "6a7e0c1e-0000-4000-8000-0000000000b1", missing),
            0,
        )
        .await
        .unwrap();
    let err = driver.domain_create(&broken, 0).await.unwrap_err();
    assert!(
        err.message.contains("did not start") && err.message.contains("virtcim-test.img"),
        "{err}"
    );
    assert_eq!(
        driver.domain_get_state(&broken, 0).await.unwrap().0,
        DomainState::Shutoff
    );
    assert!(!tmp.path().join("qemu/session/run/broken.json").exists());

    // A bridge that does not exist is refused before any process starts.
    let bridged = "<interface type='bridge'><mac address='52:54:00:00:00:99'/>\
                   <source bridge='virtcimnobr0'/></interface>";
    let err = driver
        .domain_create_xml(
            &domain_xml("bridged", "6a7e0c1e-0000-4000-8000-0000000000b2", bridged),
            0,
        )
        .await
        .unwrap_err();
    assert!(
        err.message.contains("bridge 'virtcimnobr0' does not exist"),
        "{err}"
    );
    assert!(driver.domain_lookup_by_name("bridged").await.is_err());
    assert!(driver
        .list_all_domains(flags::LIST_DOMAINS_ACTIVE)
        .await
        .unwrap()
        .is_empty());
}

/// Set in a child run of this test binary: the state dir where the "first daemon" starts a guest and exits.
const FIRST_DAEMON_ENV: &str = "VIRTCIM_QEMU_TEST_FIRST_DAEMON";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_survive_the_daemon_process_exiting() {
    let _guests = require_qemu().await;
    if let Some(dir) = std::env::var_os(FIRST_DAEMON_ENV) {
        // The child: start a guest, report its pid, and exit without stopping anything.
        let driver = QemuDriver::open(Path::new(&dir), QemuMode::System)
            .await
            .unwrap();
        let dom = driver
            .domain_define_xml(
                &domain_xml("lasting", "6a7e0c1e-0000-4000-8000-0000000000c0", ""),
                0,
            )
            .await
            .unwrap();
        let dom = driver.domain_create(&dom, 0).await.unwrap();
        println!("QEMU_PID={} ID={}", driver.pid(&dom).unwrap(), dom.id);
        std::process::exit(0);
    }
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .arg(crate::support::test_path(
            module_path!(),
            "guests_survive_the_daemon_process_exiting",
        ))
        .args(["--exact", "--nocapture", "--test-threads=1"])
        .env(FIRST_DAEMON_ENV, tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("QEMU_PID=").map(|(_, rest)| rest))
        .unwrap_or_else(|| {
            panic!(
                "first daemon failed: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let (pid, id) = line.split_once(" ID=").unwrap();
    let (pid, id): (i32, i32) = (pid.parse().unwrap(), id.parse().unwrap());
    reaper.track(pid);
    assert!(
        alive(pid),
        "the guest outlives the daemon process that started it"
    );

    let driver = QemuDriver::open(tmp.path(), QemuMode::System)
        .await
        .unwrap();
    let dom = driver.domain_lookup_by_name("lasting").await.unwrap();
    assert_eq!((dom.id, driver.pid(&dom).unwrap()), (id, pid));
    assert_eq!(driver.qmp_status(&dom).await.unwrap(), "running");
    driver.domain_suspend(&dom).await.unwrap();
    assert_eq!(driver.qmp_status(&dom).await.unwrap(), "paused");
    driver.domain_destroy(&dom, 0).await.unwrap();
    assert_eq!(
        driver.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Shutoff, reason::SHUTOFF_DESTROYED)
    );
    assert!(!alive(pid));
}
