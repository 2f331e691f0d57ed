//! Bridged guest NICs on a real Linux bridge: the driver creates a tap (`vnetN`, MAC fe:..., enslaved, up),
//! hands it to QEMU, shows it in the live XML and deletes it at destroy, after a crash noticed at a driver restart,
//! and after a failed start. Needs root and /dev/net/tun (skipped otherwise, with a message); each test makes and
//! removes its own bridge and kills by pid every QEMU it started.

use crate::support::alive;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::time::{Duration, Instant};
use virtcim::{prelude::*, DomainDef, DomainRef, QemuDriver, QemuMode};

/// Why these tests cannot run here, if they cannot.
fn unavailable() -> Option<&'static str> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not root (creating bridges and tap devices needs CAP_NET_ADMIN)");
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing");
    }
    let found = |name: &str| {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
            .unwrap_or(false)
    };
    assert!(
        found("qemu-system-x86_64"),
        "qemu-system-x86_64 is not installed (tests/run installs qemu-system-x86)"
    );
    assert!(
        found("ip"),
        "ip is not installed (tests/run installs iproute2)"
    );
    None
}

macro_rules! require_bridging {
    () => {
        if let Some(why) = unavailable() {
            eprintln!("SKIPPED: {why}");
            return;
        }
        let _guests = crate::support::qemu::alongside().await;
    };
}

fn ip(args: &[&str]) {
    let status = std::process::Command::new("ip")
        .args(args)
        .status()
        .expect("run ip");
    assert!(status.success(), "ip {args:?} failed");
}

/// A bridge of the test's own, deleted when the test ends; also kills the QEMUs it was told about.
struct TestBridge {
    name: String,
    pids: std::sync::Mutex<Vec<i32>>,
}

impl TestBridge {
    fn new(tag: u32) -> Self {
        let name = format!("vcbr{}{tag}", std::process::id() % 100_000);
        ip(&["link", "add", &name, "type", "bridge"]);
        Self {
            name,
            pids: Default::default(),
        }
    }
    fn track(&self, pid: i32) {
        self.pids.lock().unwrap().push(pid);
    }
}

impl Drop for TestBridge {
    fn drop(&mut self) {
        for pid in self.pids.lock().unwrap().iter() {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.name])
            .status();
    }
}

fn guest_xml(name: &str, uuid: &str, bridge: &str, target: &str) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>48</memory>\
         <vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\
         <interface type='bridge'><mac address='52:54:00:7a:01:02'/><source bridge='{bridge}'/>{target}\
         <model type='virtio'/></interface></devices></domain>"
    )
}

fn net(tap: &str, attr: &str) -> Option<String> {
    std::fs::read_to_string(Path::new("/sys/class/net").join(tap).join(attr))
        .ok()
        .map(|s| s.trim().to_string())
}

fn interfaces() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

async fn live_tap(driver: &QemuDriver, dom: &DomainRef) -> String {
    let xml = driver.domain_get_xml_desc(dom, 0).await.unwrap();
    let def = DomainDef::from_xml(&xml, false).unwrap();
    def.devices.interfaces[0]
        .target_dev
        .clone()
        .unwrap_or_else(|| panic!("the live XML names no tap:\n{xml}"))
}

/// Waits until the link `name` that had `index` is gone (its name may be taken again by another test's guest).
fn wait_gone(name: &str, index: &Option<String>) -> bool {
    let start = Instant::now();
    while !crate::support::qemu::link_gone(name, index) {
        if start.elapsed() > Duration::from_secs(5) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridged_guest_gets_a_tap_on_the_bridge_until_it_stops() {
    require_bridging!();
    let bridge = TestBridge::new(1);
    let tmp = tempfile::tempdir().unwrap();
    let driver = QemuDriver::open(tmp.path(), QemuMode::System)
        .await
        .unwrap();
    let dom = driver
        .domain_define_xml(
            &guest_xml(
                "bridged",
                "7b1d6c2e-0000-4000-8000-000000000001",
                &bridge.name,
                "",
            ),
            0,
        )
        .await
        .unwrap();
    let dom = driver.domain_create(&dom, 0).await.unwrap();
    bridge.track(driver.pid(&dom).unwrap());

    let tap = live_tap(&driver, &dom).await;
    let tap_index = crate::support::qemu::link_index(&tap);
    assert!(tap.starts_with("vnet"), "automatic tap name: {tap}");
    let master = std::fs::read_link(format!("/sys/class/net/{tap}/master"))
        .expect("the tap is enslaved to a bridge");
    assert_eq!(
        master.file_name().unwrap().to_str().unwrap(),
        bridge.name,
        "the tap is on the guest's bridge"
    );
    let flags = net(&tap, "flags").unwrap();
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "the tap is up (IFF_UP)");
    assert_eq!(
        net(&tap, "address").as_deref(),
        Some("fe:54:00:7a:01:02"),
        "host side MAC = guest MAC with first byte 0xFE"
    );
    // QEMU itself holds the tap: its netdev names it.
    let info = driver
        .qmp_execute(
            &dom,
            "human-monitor-command",
            Some(serde_json::json!({ "command-line": "info network" })),
        )
        .await
        .unwrap();
    let info = info.as_str().unwrap_or_default();
    assert!(
        info.contains(&format!("ifname={tap}")),
        "QEMU's netdev uses the tap: {info}"
    );
    // The persistent definition keeps no automatic name.
    let inactive = driver
        .domain_get_xml_desc(&dom, virtcim::flags::XML_INACTIVE)
        .await
        .unwrap();
    assert!(!inactive.contains("<target dev="), "{inactive}");

    driver.domain_destroy(&dom, 0).await.unwrap();
    assert!(wait_gone(&tap, &tap_index), "destroy deletes the tap");

    // A name from <target dev>: used as is, and deleted when QEMU dies from outside.
    let named = driver
        .domain_create_xml(
            &guest_xml(
                "named",
                "7b1d6c2e-0000-4000-8000-000000000002",
                &bridge.name,
                "<target dev='vctap-named'/>",
            ),
            0,
        )
        .await
        .unwrap();
    let pid = driver.pid(&named).unwrap();
    bridge.track(pid);
    assert_eq!(live_tap(&driver, &named).await, "vctap-named");
    assert!(Path::new("/sys/class/net/vctap-named/master").exists());
    let named_index = crate::support::qemu::link_index("vctap-named");
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    assert!(
        wait_gone("vctap-named", &named_index),
        "a crashed guest's tap is deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_left_by_a_guest_that_died_during_a_restart_is_deleted() {
    require_bridging!();
    let bridge = TestBridge::new(2);
    let tmp = tempfile::tempdir().unwrap();
    let (tap, pid) = {
        let driver = QemuDriver::open(tmp.path(), QemuMode::System)
            .await
            .unwrap();
        let dom = driver
            .domain_create_xml(
                &guest_xml(
                    "restarted",
                    "7b1d6c2e-0000-4000-8000-000000000003",
                    &bridge.name,
                    "",
                ),
                0,
            )
            .await
            .unwrap();
        let pid = driver.pid(&dom).unwrap();
        bridge.track(pid);
        (live_tap(&driver, &dom).await, pid)
        // The driver goes away as at a daemon stop; the guest keeps running.
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(alive(pid));
    let tap_index = crate::support::qemu::link_index(&tap);
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let start = Instant::now();
    while alive(pid) && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        Path::new(&format!("/sys/class/net/{tap}")).exists(),
        "nobody deleted the tap while no driver ran"
    );
    let _driver = QemuDriver::open(tmp.path(), QemuMode::System)
        .await
        .unwrap();
    assert!(
        crate::support::qemu::link_gone(&tap, &tap_index),
        "the reopened driver deletes the dead guest's tap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bridge_is_a_clear_error_and_leaves_no_tap() {
    require_bridging!();
    let tmp = tempfile::tempdir().unwrap();
    let driver = QemuDriver::open(tmp.path(), QemuMode::System)
        .await
        .unwrap();
    let missing = format!("vcnone{}", std::process::id() % 100_000);
    let before = interfaces();
    let err = driver
        .domain_create_xml(
            &guest_xml(
                "nobridge",
                "7b1d6c2e-0000-4000-8000-000000000004",
                &missing,
                "",
            ),
            0,
        )
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains(&format!("bridge '{missing}' does not exist")),
        "{err}"
    );
    // A tap this failed start left behind would stay on no bridge (its bridge does not exist). Links other tests'
    // guests make meanwhile are not this test's: bridges, and taps, which are on their bridge (or gone) moments
    // after they are made, so only a link that stays unattached, the same link throughout, counts.
    let stray = || -> Vec<(String, Option<String>)> {
        interfaces()
            .into_iter()
            .filter(|n| !before.contains(n))
            .filter(|n| {
                let sys = Path::new("/sys/class/net").join(n);
                !sys.join("master").exists() && !sys.join("bridge").exists()
            })
            .map(|n| {
                let index = crate::support::qemu::link_index(&n);
                (n, index)
            })
            .collect()
    };
    let mut lasting = stray();
    let start = Instant::now();
    while !lasting.is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        let now = stray();
        lasting.retain(|link| now.contains(link));
    }
    assert!(lasting.is_empty(), "no tap is left behind: {lasting:?}");

    // A <target dev> naming an interface that exists (here the bridge itself) is refused; nothing is touched.
    let bridge = TestBridge::new(4);
    let err = driver
        .domain_create_xml(
            &guest_xml(
                "clash",
                "7b1d6c2e-0000-4000-8000-000000000005",
                &bridge.name,
                &format!("<target dev='{}'/>", bridge.name),
            ),
            0,
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("exists"), "{err}");
    assert!(Path::new(&format!("/sys/class/net/{}/bridge", bridge.name)).exists());
    assert!(driver.list_all_domains(0).await.unwrap().is_empty());
}
