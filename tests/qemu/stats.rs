//! Statistics of a running QEMU guest served by virtcimd: stock virsh (`domstats` with every group,
//! `domblkstat`, `domifstat`, `dommemstat`, `cpu-stats`, `vcpuinfo`, `vcpucount`, `domjobinfo`, `schedinfo`,
//! `domblkinfo`, `domcapabilities`) and python3-libvirt (`getAllDomainStats`, `blockStats`, `maxVcpus`) read
//! real numbers (CPU time grows, the BIOS read the boot sector), and the bulk record agrees with the single calls.
//!
//! The guest's NIC sits on a bridge this test creates (unique per run) and deletes, with its QEMU, on any exit.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::daemon::{ok, run, Daemon, QemuReaper};
use crate::support::python::{self, libvirt_python};
use crate::support::qemu::{alongside, have_qemu, spinning_disk};
use crate::support::virsh::have_virsh;
use virtcim::{connect, ConnectOptions, TypedValue};

/// A bridge of this test's own, removed when the test ends however it ends.
struct Bridge(String);

impl Bridge {
    fn new() -> Option<Self> {
        if !nix::unistd::Uid::effective().is_root() || !Path::new("/dev/net/tun").exists() {
            return None;
        }
        let name = format!("vcst{}", std::process::id() % 100_000);
        let made = Command::new("ip")
            .args(["link", "add", &name, "type", "bridge"])
            .status()
            .is_ok_and(|s| s.success());
        made.then_some(Self(name))
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

fn guest_xml(dir: &Path, name: &str, bridge: Option<&str>) -> String {
    let disk = spinning_disk(dir);
    let nic = bridge
        .map(|b| {
            format!(
                "<interface type='bridge'><mac address='52:54:00:5a:01:02'/><source bridge='{b}'/>\
                 <model type='virtio'/></interface>"
            )
        })
        .unwrap_or_default();
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>2</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk>{nic}</devices></domain>",
        disk.display()
    );
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, xml).expect("xml");
    path.to_string_lossy().into_owned()
}

/// `domstats` output as one map per domain: `key=value` lines under `Domain: 'name'`.
fn domstats(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Domain: '") {
            let name = name.trim_end_matches('\'').to_string();
            out.insert(name.clone(), BTreeMap::new());
            current = Some(name);
        } else if let (Some((key, value)), Some(name)) = (line.trim().split_once('='), &current) {
            out.get_mut(name)
                .expect("domain")
                .insert(key.to_string(), value.to_string());
        }
    }
    out
}

fn num(map: &BTreeMap<String, String>, key: &str) -> u64 {
    map.get(key)
        .unwrap_or_else(|| panic!("no {key} in {map:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {map:?}"))
}

/// `name value` lines of domblkstat / domifstat / dommemstat.
fn pairs(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace().rev();
            let value = words.next()?.parse().ok()?;
            Some((words.next()?.to_string(), value))
        })
        .collect()
}

fn cpu_total_seconds(text: &str) -> f64 {
    // virsh ends "No per-CPU stats available" without a newline: "Total:" may share its line.
    let total = text.split("Total:").nth(1).unwrap_or_default();
    let line = total
        .lines()
        .find(|l| l.trim_start().starts_with("cpu_time"))
        .unwrap_or_else(|| panic!("no total cpu_time in {text}"));
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad cpu_time line {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_guests_statistics_are_real_and_agree_across_calls() {
    if !(have_virsh() && have_qemu()) {
        eprintln!("virsh or qemu-system-x86_64 not installed, skipping");
        return;
    }
    let _guests = alongside().await;
    let bridge = Bridge::new();
    if bridge.is_none() {
        eprintln!("no bridge (not root or no /dev/net/tun): interface statistics are not checked");
    }
    let tmp = tempfile::tempdir().unwrap();
    let reaper = QemuReaper::default();
    let daemon = Daemon::start(tmp.path());
    let uri = daemon.uri();
    let virsh = |args: &[&str]| ok("virsh", &uri, args);
    let name = "statsg";
    let xml = guest_xml(tmp.path(), name, bridge.as_ref().map(|b| b.0.as_str()));
    virsh(&["define", &xml]);
    let idle_xml = guest_xml(tmp.path(), "statsidle", None);
    virsh(&["define", &idle_xml]);
    virsh(&["start", name]);
    let pid = daemon.qemu_pid(name);
    reaper.watch(pid);
    // Let the BIOS read the boot sector and the guest spin for a while.
    std::thread::sleep(Duration::from_millis(1500));

    let all = domstats(&virsh(&["domstats"]));
    let stats = &all[name];
    assert_eq!(stats["state.state"], "1", "{stats:?}");
    assert!(num(stats, "cpu.time") > 0);
    assert_eq!(
        num(stats, "cpu.haltpoll.success.time"),
        0,
        "TCG does not halt-poll"
    );
    assert_eq!(num(stats, "balloon.current"), 32768);
    assert_eq!(num(stats, "balloon.maximum"), 32768);
    assert!(num(stats, "balloon.rss") > 1024);
    assert_eq!(num(stats, "vcpu.current"), 2);
    assert_eq!(num(stats, "vcpu.maximum"), 2);
    assert_eq!(stats["vcpu.0.state"], "1");
    assert!(num(stats, "vcpu.0.time") > 0, "vCPU 0 spins: {stats:?}");
    assert!(stats.contains_key("vcpu.1.time"));
    assert_eq!(num(stats, "block.count"), 1);
    assert_eq!(stats["block.0.name"], "hda");
    assert!(
        num(stats, "block.0.rd.reqs") > 0,
        "the BIOS read the boot sector"
    );
    assert!(num(stats, "block.0.rd.bytes") >= 512);
    assert_eq!(num(stats, "block.0.capacity"), 4096);
    assert_eq!(stats["dirtyrate.calc_status"], "0");
    if bridge.is_some() {
        assert_eq!(num(stats, "net.count"), 1);
        assert!(stats.contains_key("net.0.rx.bytes"), "{stats:?}");
    }
    // The defined, inactive guest: state, balloon, vCPU counts and disks, nothing that needs a process.
    let idle = &all["statsidle"];
    assert_eq!(idle["state.state"], "5");
    assert_eq!(num(idle, "balloon.maximum"), 32768);
    assert_eq!(num(idle, "vcpu.maximum"), 2);
    assert_eq!(num(idle, "block.0.capacity"), 4096);
    assert!(!idle
        .keys()
        .any(|k| k.starts_with("cpu.") || k.starts_with("net.")));

    // The list flags pick domains; a group flag picks groups.
    let inactive = domstats(&virsh(&["domstats", "--list-inactive", "--state"]));
    assert_eq!(inactive.keys().collect::<Vec<_>>(), ["statsidle"]);
    let running = domstats(&virsh(&["domstats", "--list-running", "--vcpu", name]));
    assert!(running[name].keys().all(|k| k.starts_with("vcpu.")));

    // Single calls give the bulk record's numbers.
    let blk = pairs(&virsh(&["domblkstat", name, "hda"]));
    assert_eq!(blk["rd_req"], num(stats, "block.0.rd.reqs"));
    assert_eq!(blk["rd_bytes"], num(stats, "block.0.rd.bytes"));
    assert_eq!(blk["flush_operations"], num(stats, "block.0.fl.reqs"));
    assert_eq!(blk["rd_total_times"], num(stats, "block.0.rd.times"));
    let mem = pairs(&virsh(&["dommemstat", name]));
    assert_eq!(mem["actual"], num(stats, "balloon.current"));
    assert!(mem["rss"] > 1024);
    // The guest runs no balloon driver: no guest statistics, only the balloon size, update time and RSS.
    assert_eq!(
        mem.keys().collect::<Vec<_>>(),
        ["actual", "last_update", "rss"],
        "{mem:?}"
    );
    assert!(!stats.contains_key("balloon.swap_in"), "{stats:?}");
    let info = virsh(&["domblkinfo", name, "hda"]);
    assert!(info.contains("Capacity:       4096"), "{info}");
    if let Some(bridge) = &bridge {
        let tap = &stats["net.0.name"];
        assert!(Path::new("/sys/class/net").join(tap).exists());
        let _ = bridge;
        let by_tap = pairs(&virsh(&["domifstat", name, tap]));
        let by_mac = pairs(&virsh(&["domifstat", name, "52:54:00:5a:01:02"]));
        assert_eq!(by_tap["rx_bytes"], by_mac["rx_bytes"]);
        // The guest's receive is the tap's transmit.
        let host_tx: u64 =
            std::fs::read_to_string(format!("/sys/class/net/{tap}/statistics/tx_bytes"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
        assert!(by_tap["rx_bytes"] <= host_tx);
    }

    // CPU time grows while the guest spins.
    let first = cpu_total_seconds(&virsh(&["cpu-stats", name, "--total"]));
    std::thread::sleep(Duration::from_millis(800));
    let second = cpu_total_seconds(&virsh(&["cpu-stats", name]));
    assert!(second > first, "cpu time {first} then {second}");

    let vcpus = virsh(&["vcpuinfo", name]);
    assert!(vcpus.contains("VCPU:           1"), "{vcpus}");
    assert!(vcpus.contains("State:          running"), "{vcpus}");
    assert!(vcpus.contains("CPU Affinity:"), "{vcpus}");
    let count = virsh(&["vcpucount", name]);
    assert!(count.contains("maximum      live           2"), "{count}");
    assert!(virsh(&["vcpupin", name]).contains(" 1 "));
    assert!(virsh(&["emulatorpin", name]).contains("*:"));
    let job = virsh(&["domjobinfo", name]);
    assert!(job.contains("Job type:         None"), "{job}");

    // No cgroup holds the guest: libvirt's answer without a CPU controller.
    let sched = run("virsh", &uri, &["schedinfo", name]);
    let text = String::from_utf8_lossy(&sched.stdout);
    let err = String::from_utf8_lossy(&sched.stderr);
    assert!(!sched.status.success());
    assert!(text.contains("Scheduler      : Unknown"), "{text}");
    assert!(
        err.contains("cgroup CPU controller is not mounted"),
        "{err}"
    );
    let idle_sched = virsh(&["schedinfo", "statsidle"]);
    assert!(
        idle_sched.contains("Scheduler      : posix"),
        "{idle_sched}"
    );
    assert!(idle_sched.contains("cpu_shares     : 0"), "{idle_sched}");
    // A stopped guest has no statistics.
    let stopped = run("virsh", &uri, &["dommemstat", "statsidle"]);
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("domain is not running"));

    domcapabilities(&uri, tmp.path());
    through_our_remote_driver(&uri, name).await;

    if let Some(py) = libvirt_python() {
        let script = format!(
            "import libvirt, json\n\
             c = libvirt.open('{uri}')\n\
             d = c.lookupByName('{name}')\n\
             recs = c.getAllDomainStats(0, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)\n\
             s = dict(recs[0][1])\n\
             assert [r[0].name() for r in recs] == ['{name}'], recs\n\
             b = d.blockStats('hda')\n\
             assert b[0] == s['block.0.rd.reqs'] and b[1] == s['block.0.rd.bytes'], (b, s)\n\
             assert d.maxVcpus() == 2\n\
             t = d.getCPUStats(True)[0]\n\
             assert t['cpu_time'] > 0 and t['cpu_time'] >= t['user_time'], t\n\
             print(json.dumps({{'vcpu0': s['vcpu.0.time'], 'state': s['state.state']}}))\n"
        );
        let (good, out, err) = python::run(Command::new(py).args(["-c", &script]));
        assert!(good, "python: {out}{err}");
        assert!(out.contains("\"state\": 1"), "{out}");
    } else {
        eprintln!("python3-libvirt not installed: its checks are skipped");
    }

    virsh(&["destroy", name]);
    virsh(&["undefine", name]);
    virsh(&["undefine", "statsidle"]);
}

/// `domcapabilities` describes the installed QEMU, validating against libvirt's schema when it is installed.
fn domcapabilities(uri: &str, dir: &Path) {
    let caps = ok("virsh", uri, &["domcapabilities"]);
    for part in [
        "<path>/usr/bin/qemu-system-x86_64</path>",
        "<arch>x86_64</arch>",
        "<vcpu max=",
        "<mode name='host-passthrough' supported='yes'>",
        "<enum name='diskDevice'>",
        ">qemu64</model>",
    ] {
        assert!(caps.contains(part), "no {part} in\n{caps}");
    }
    assert!(caps.contains("<domain>"), "{caps}");
    let schema = Path::new("/usr/share/libvirt/schemas/domaincaps.rng");
    let xmllint = Command::new("xmllint").arg("--version").output().is_ok();
    if schema.exists() && xmllint {
        let file = dir.join("domcaps.xml");
        std::fs::write(&file, &caps).unwrap();
        let out = Command::new("xmllint")
            .args(["--noout", "--relaxng"])
            .arg(schema)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{caps}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Our own remote driver carries the statistics procedures as virsh's libvirt does.
async fn through_our_remote_driver(uri: &str, name: &str) {
    let conn = connect(uri, &ConnectOptions::default())
        .await
        .expect("remote driver opens");
    let dom = conn.domain_lookup_by_name(name).await.unwrap();
    let records = conn
        .connect_get_all_domain_stats(std::slice::from_ref(&dom), 1 << 5, 0)
        .await
        .unwrap();
    let reqs = records[0]
        .params
        .iter()
        .find(|p| p.field == "block.0.rd.reqs")
        .map(|p| p.value.clone());
    let single = conn.domain_block_stats(&dom, "hda").await.unwrap();
    assert_eq!(
        reqs,
        Some(TypedValue::ULLong(u64::try_from(single.rd_req).unwrap()))
    );
    // Totals: how many, then the values; per host CPU: the count of CPUs, then none per CPU.
    let (_, count) = conn.domain_get_cpu_stats(&dom, 0, -1, 1, 0).await.unwrap();
    assert_eq!(count, 3);
    let (totals, _) = conn.domain_get_cpu_stats(&dom, 3, -1, 1, 0).await.unwrap();
    assert_eq!(totals[0].field, "cpu_time");
    let (_, cpus) = conn.domain_get_cpu_stats(&dom, 0, 0, 0, 0).await.unwrap();
    assert!(cpus >= 1);
    assert_eq!(conn.domain_get_job_info(&dom).await.unwrap().kind, 0);
    assert_eq!(
        conn.domain_get_job_stats(&dom, 0).await.unwrap(),
        (0, vec![])
    );
    let bad = conn
        .get_domain_capabilities(None, None, Some("nosuch".into()), None, 0)
        .await
        .unwrap_err();
    assert!(
        bad.to_string()
            .contains("the machine 'nosuch' is not supported by emulator"),
        "{bad}"
    );
    let caps = conn
        .get_domain_capabilities(None, None, Some("q35".into()), Some("qemu".into()), 0)
        .await
        .unwrap();
    assert!(
        caps.contains("<domain>qemu</domain>") && caps.contains("<machine>pc-q35-"),
        "{caps}"
    );
    assert!(
        caps.contains("<mode name='host-passthrough' supported='no'/>"),
        "{caps}"
    );
}
