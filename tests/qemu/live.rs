//! Live changes to a running QEMU guest through stock virsh and python3-libvirt: `qemu-monitor-command` (QMP and
//! HMP, over libvirt's QEMU program; the domain tainted, read-only connections refused), the agent calls answered
//! as libvirt answers a guest without an agent channel, `dompmwakeup`, vCPU hot-plug with `setvcpus --live`, and
//! a NIC of a virtual network attached to a running guest.
//!
//! Each test runs its own daemon on a temp dir with guest, network and bridge names holding the pid; its Drop
//! guards kill only the QEMUs that daemon started and remove the bridge it made.

use crate::daemon::{ok, peers_present, run, Daemon, QemuReaper};
use crate::support::qemu::{alone_async, link_gone, link_index, spinning_disk};
use std::path::Path;
use std::process::Command;

/// virsh's stderr for a command that must fail.
fn fails(uri: &str, args: &[&str]) -> String {
    let out = run("virsh", uri, args);
    assert!(!out.status.success(), "virsh {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A guest with ACPI (the firmware's CPU hot-plug interface) and `current` of `max` vCPUs online.
fn define_guest(uri: &str, dir: &Path, name: &str, current: u32, max: u32) {
    let disk = spinning_disk(dir);
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>48</memory>\
         <vcpu current='{current}'>{max}</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\
         <features><acpi/></features><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk></devices></domain>",
        disk.display()
    );
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, xml).expect("xml");
    ok("virsh", uri, &["define", &path.to_string_lossy()]);
}

/// The vCPUs QEMU itself reports.
fn qemu_vcpus(uri: &str, name: &str) -> usize {
    let out = ok(
        "virsh",
        uri,
        &[
            "qemu-monitor-command",
            name,
            r#"{"execute":"query-cpus-fast"}"#,
        ],
    );
    let reply: serde_json::Value = serde_json::from_str(out.trim()).expect("QMP reply");
    reply["return"].as_array().expect("a list").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_commands_pass_through_and_taint_the_domain() {
    if !peers_present() {
        return;
    }
    let _guests = alone_async().await;
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let uri = daemon.uri();
    let name = format!("mon-{}", std::process::id());
    define_guest(&uri, tmp.path(), &name, 1, 1);

    // Not running yet: libvirt's error.
    let err = fails(
        &uri,
        &[
            "qemu-monitor-command",
            &name,
            r#"{"execute":"query-status"}"#,
        ],
    );
    assert!(err.contains("domain is not running"), "{err}");
    ok("virsh", &uri, &["start", &name]);
    reaper.watch(daemon.qemu_pid(&name));
    let before = ok("virsh", &uri, &["dumpxml", &name]);
    // The live XML names devices as libvirt does; the persistent one has no generated aliases.
    assert!(before.contains("<alias name='ide0-0-0'/>"), "{before}");
    let inactive = ok("virsh", &uri, &["dumpxml", &name, "--inactive"]);
    assert!(!inactive.contains("<alias"), "{inactive}");

    // QMP: QEMU's whole reply comes back, error replies included.
    let out = ok(
        "virsh",
        &uri,
        &[
            "qemu-monitor-command",
            &name,
            r#"{"execute":"query-status"}"#,
        ],
    );
    let reply: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(reply["return"]["status"], "running", "{out}");
    let out = ok(
        "virsh",
        &uri,
        &[
            "qemu-monitor-command",
            &name,
            r#"{"execute":"no-such-command"}"#,
        ],
    );
    assert!(out.contains("CommandNotFound"), "{out}");
    // virsh's --pretty reformats the same reply.
    let out = ok(
        "virsh",
        &uri,
        &[
            "qemu-monitor-command",
            &name,
            "--pretty",
            r#"{"execute":"query-name"}"#,
        ],
    );
    assert!(out.contains("\"return\""), "{out}");
    // HMP through human-monitor-command.
    let out = ok(
        "virsh",
        &uri,
        &["qemu-monitor-command", &name, "--hmp", "info status"],
    );
    assert!(out.contains("VM status: running"), "{out}");
    // HMP answers an unknown command with text, not an error.
    let out = ok(
        "virsh",
        &uri,
        &["qemu-monitor-command", &name, "--hmp", "no-such-hmp"],
    );
    assert!(out.contains("unknown command"), "{out}");
    // Bad input: refused, the domain keeps running (virsh turns text that is not JSON into a command of that
    // name, so unparsable JSON is sent from python below).
    let err = fails(
        &uri,
        &[
            "qemu-monitor-command",
            &name,
            r#"{"execute":"query-status","id":"mine"}"#,
        ],
    );
    assert!(err.contains("duplicate key 'id'"), "{err}");
    assert_eq!(ok("virsh", &uri, &["domstate", &name]).trim(), "running");

    // Tainted once, in the domain's log; the definition is unchanged.
    let log = daemon.domain_log(&name);
    assert_eq!(
        log.matches("is tainted: custom-monitor").count(),
        1,
        "{log}"
    );
    assert_eq!(ok("virsh", &uri, &["dumpxml", &name]), before);

    // The balloon's statistics period: set in QEMU through its monitor, and kept in the live and saved XML.
    ok(
        "virsh",
        &uri,
        &["dommemstat", &name, "--period", "3", "--live", "--config"],
    );
    let polling = ok(
        "virsh",
        &uri,
        &[
            "qemu-monitor-command",
            &name,
            r#"{"execute":"qom-get","arguments":{"path":"/machine/peripheral/balloon0","property":"guest-stats-polling-interval"}}"#,
        ],
    );
    assert!(polling.contains(r#""return":3"#), "{polling}");
    for xml in [
        ok("virsh", &uri, &["dumpxml", &name]),
        ok("virsh", &uri, &["dumpxml", &name, "--inactive"]),
    ] {
        assert!(xml.contains("<stats period='3'/>"), "{xml}");
    }
    assert_eq!(ok("virsh", &uri, &["domcontrol", &name]).trim(), "ok");

    // The agent is not there: libvirt's answers.
    for args in [
        vec!["dompmsuspend", name.as_str(), "mem"],
        vec!["domtime", name.as_str()],
        vec![
            "qemu-agent-command",
            name.as_str(),
            r#"{"execute":"guest-ping"}"#,
        ],
        vec!["setvcpus", name.as_str(), "1", "--guest"],
    ] {
        let err = fails(&uri, &args);
        assert!(
            err.contains("QEMU guest agent is not configured"),
            "{args:?}: {err}"
        );
    }
    let err = fails(&uri, &["dompmsuspend", &name, "mem", "--duration", "5"]);
    assert!(err.contains("Duration not supported"), "{err}");
    // system_wakeup reaches QEMU, which refuses it for a guest that is not suspended.
    let err = fails(&uri, &["dompmwakeup", &name]);
    assert!(err.contains("system_wakeup"), "{err}");

    // python3-libvirt: libvirt_qemu over the same program; a read-only connection is refused.
    if let Some(python) = crate::support::python::libvirt_python() {
        let ro = uri.replace("libvirt-sock", "libvirt-sock-ro");
        let script = r#"
import sys, libvirt, libvirt_qemu
conn = libvirt.open(sys.argv[1])
dom = conn.lookupByName(sys.argv[2])
print("qmp", libvirt_qemu.qemuMonitorCommand(dom, '{"execute":"query-status"}', 0))
print("hmp", libvirt_qemu.qemuMonitorCommand(dom, 'info name', 1).strip())
try:
    libvirt_qemu.qemuMonitorCommand(dom, '{not json', 0)
except libvirt.libvirtError as e:
    print("json", e.get_error_code(), e.get_error_message())
try:
    libvirt_qemu.qemuMonitorCommand(dom, 'info name', 2)
except libvirt.libvirtError as e:
    print("flags", e.get_error_code(), e.get_error_message())
ro = libvirt.openReadOnly(sys.argv[3])
try:
    libvirt_qemu.qemuMonitorCommand(ro.lookupByName(sys.argv[2]), 'info name', 1)
except libvirt.libvirtError as e:
    print("ro", e.get_error_code(), e.get_error_message())
try:
    libvirt_qemu.qemuAgentCommand(dom, '{"execute":"guest-ping"}', 5, 0)
except libvirt.libvirtError as e:
    print("agent", e.get_error_code(), e.get_error_message())
"#;
        let out = Command::new(python)
            .args(["-c", script, &uri, &name, &ro])
            .output()
            .expect("python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains(r#""status":"running""#), "{stdout}");
        assert!(stdout.contains(&format!("hmp {name}")), "{stdout}");
        assert!(stdout.contains("flags 8 "), "{stdout}");
        assert!(
            stdout.contains("json 1 internal error: cannot parse json {not json"),
            "{stdout}"
        );
        assert!(
            stdout.contains(
                "ro 29 operation forbidden: read only access prevents virDomainQemuMonitorCommand"
            ),
            "{stdout}"
        );
        assert!(stdout.contains("agent 74 "), "{stdout}");
    }
    // Our remote driver carries the QEMU program too.
    let conn = virtcim::connect(&uri, &virtcim::ConnectOptions::default())
        .await
        .expect("remote connection");
    let dom = conn.domain_lookup_by_name(&name).await.expect("domain");
    let reply = conn
        .domain_qemu_monitor_command(&dom, r#"{"execute":"query-name"}"#, 0)
        .await
        .expect("QMP");
    assert!(reply.contains(&format!(r#""name":"{name}""#)), "{reply}");
    let text = conn
        .domain_qemu_monitor_command(
            &dom,
            "info status",
            virtcim::flags::QEMU_MONITOR_COMMAND_HMP,
        )
        .await
        .expect("HMP");
    assert!(text.contains("running"), "{text}");
    let err = conn
        .domain_qemu_agent_command(&dom, r#"{"execute":"guest-ping"}"#, 5, 0)
        .await
        .unwrap_err();
    assert_eq!(err.code, virtcim::ErrorCode::ARGUMENT_UNSUPPORTED);
    let err = conn
        .read_only()
        .domain_qemu_monitor_command(&dom, "info status", 1)
        .await
        .unwrap_err();
    assert_eq!(err.code, virtcim::ErrorCode::OPERATION_DENIED);
    let _ = conn.close().await;

    ok("virsh", &uri, &["destroy", &name]);
    ok("virsh", &uri, &["undefine", &name]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setvcpus_live_plugs_vcpus_and_reports_a_refused_unplug() {
    if !peers_present() {
        return;
    }
    let _guests = alone_async().await;
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let uri = daemon.uri();
    let name = format!("cpus-{}", std::process::id());
    define_guest(&uri, tmp.path(), &name, 1, 3);
    ok("virsh", &uri, &["start", &name]);
    reaper.watch(daemon.qemu_pid(&name));
    assert_eq!(qemu_vcpus(&uri, &name), 1);

    // Errors as libvirt's.
    let err = fails(&uri, &["setvcpus", &name, "4", "--live"]);
    assert!(
        err.contains(
            "requested vcpus is greater than max allowable vcpus for the live domain: 4 > 3"
        ),
        "{err}"
    );
    let err = fails(
        &uri,
        &["setvcpus", &name, "3", "--maximum", "--live", "--config"],
    );
    assert!(
        err.contains("maximum vcpu count of a live domain can't be modified"),
        "{err}"
    );
    let err = fails(&uri, &["setvcpus", &name, "0", "--live"]);
    assert!(!err.is_empty());

    // Hot-add: QEMU gets the vCPUs, and vcpucount, dominfo and the live XML follow.
    ok("virsh", &uri, &["setvcpus", &name, "3", "--live"]);
    assert_eq!(qemu_vcpus(&uri, &name), 3);
    let count = ok("virsh", &uri, &["vcpucount", &name, "--live", "--active"]);
    assert_eq!(count.trim(), "3");
    let info = ok("virsh", &uri, &["dominfo", &name]);
    assert!(
        info.lines()
            .any(|l| l.starts_with("CPU(s):") && l.trim_end().ends_with(" 3")),
        "{info}"
    );
    let live = ok("virsh", &uri, &["dumpxml", &name]);
    assert!(
        live.contains(">3</vcpu>") && !live.contains("current="),
        "{live}"
    );
    // The persistent definition is untouched.
    let config = ok("virsh", &uri, &["dumpxml", &name, "--inactive"]);
    assert!(config.contains("current='1'"), "{config}");

    // Hot-unplug needs the guest's ACPI code, which this boot sector lacks: QEMU's CPU hot-plug interface stays
    // in its legacy mode, which refuses removals, and the refusal reaches the caller as libvirt words it.
    let err = fails(&uri, &["setvcpus", &name, "2", "--live"]);
    assert!(
        err.contains("unable to execute QEMU command 'device_del'")
            || err.contains("vcpu unplug request timed out"),
        "{err}"
    );
    assert_eq!(
        ok("virsh", &uri, &["vcpucount", &name, "--live", "--active"]).trim(),
        "3"
    );
    // vCPU 0 came with the machine: it cannot be unplugged.
    let err = fails(&uri, &["setvcpus", &name, "1", "--live"]);
    assert!(!err.is_empty());
    assert_eq!(ok("virsh", &uri, &["domstate", &name]).trim(), "running");

    // The config path still works on a running domain.
    ok("virsh", &uri, &["setvcpus", &name, "2", "--config"]);
    let config = ok("virsh", &uri, &["dumpxml", &name, "--inactive"]);
    assert!(config.contains("current='2'"), "{config}");
    ok("virsh", &uri, &["destroy", &name]);
    ok("virsh", &uri, &["undefine", &name]);
}

/// Deletes a bridge left behind (the network's, normally removed by `net-destroy`) when the test ends.
struct BridgeGuard(String);

impl Drop for BridgeGuard {
    fn drop(&mut self) {
        if Path::new(&format!("/sys/class/net/{}", self.0)).exists() {
            let _ = Command::new("ip").args(["link", "del", &self.0]).status();
        }
    }
}

/// The `<target dev>` of the interface with `mac` in a live XML.
fn tap_of(xml: &str, mac: &str) -> String {
    let at = xml.find(mac).unwrap_or_else(|| panic!("no {mac} in {xml}"));
    let rest = &xml[at..];
    let start = rest.find("<target dev='").expect("a tap in the live XML") + "<target dev='".len();
    rest[start..]
        .split('\'')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_nic_attached_live_gets_a_tap_on_the_networks_bridge() {
    if !peers_present() {
        return;
    }
    if !nix::unistd::Uid::effective().is_root() || !Path::new("/dev/net/tun").exists() {
        eprintln!("SKIPPED: not root or no /dev/net/tun (bridges and taps need CAP_NET_ADMIN)");
        return;
    }
    let _guests = alone_async().await;
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let uri = daemon.uri();
    let tag = std::process::id();
    // An isolated network without addresses: only a bridge, no dnsmasq, no firewall rules.
    let (network, bridge) = (format!("lnet{tag}"), format!("vcl{}", tag % 1_000_000));
    let _bridge = BridgeGuard(bridge.clone());
    let net_xml = tmp.path().join("net.xml");
    std::fs::write(
        &net_xml,
        format!("<network><name>{network}</name><bridge name='{bridge}'/></network>"),
    )
    .expect("net xml");
    let name = format!("lnic-{tag}");
    define_guest(&uri, tmp.path(), &name, 1, 1);
    ok("virsh", &uri, &["start", &name]);
    reaper.watch(daemon.qemu_pid(&name));

    let mac = "52:54:00:6c:0d:01";
    let attach = [
        "attach-interface",
        name.as_str(),
        "network",
        network.as_str(),
        "--mac",
        mac,
        "--live",
    ];
    // The network must exist and run first: libvirt's errors.
    let err = fails(&uri, &attach);
    assert!(err.contains("no network with matching name"), "{err}");
    ok("virsh", &uri, &["net-define", &net_xml.to_string_lossy()]);
    let err = fails(&uri, &attach);
    assert!(
        err.contains(&format!("network '{network}' is not active")),
        "{err}"
    );
    ok("virsh", &uri, &["net-start", &network]);

    ok("virsh", &uri, &attach);
    let xml = ok("virsh", &uri, &["dumpxml", &name]);
    assert!(xml.contains("<interface type='network'>"), "{xml}");
    assert!(xml.contains(&format!("network='{network}'")), "{xml}");
    let tap = tap_of(&xml, mac);
    let tap_index = link_index(&tap);
    let master =
        std::fs::read_link(format!("/sys/class/net/{tap}/master")).expect("tap has a master");
    assert!(master.ends_with(&bridge), "{tap} is on {master:?}");
    // QEMU has the NIC.
    let out = ok(
        "virsh",
        &uri,
        &["qemu-monitor-command", &name, "--hmp", "info network"],
    );
    assert!(out.contains(&tap), "{out}");
    let listed = ok("virsh", &uri, &["domiflist", &name]);
    assert!(
        listed.contains(mac) && listed.contains(&network),
        "{listed}"
    );
    // Its alias is its QEMU device id.
    let nic = &xml[xml.find(mac).expect("nic")..];
    let nic = &nic[..nic.find("</interface>").expect("end")];
    assert!(nic.contains("<alias name='net0'/>"), "{xml}");

    // attach-device of a network NIC with a user alias: kept in the live XML, and it names the NIC for
    // detach-device-alias.
    let user_mac = "52:54:00:6c:0d:02";
    let dev = tmp.path().join("nic.xml");
    std::fs::write(
        &dev,
        format!(
            "<interface type='network'><mac address='{user_mac}'/><source network='{network}'/>\
             <alias name='ua-second'/></interface>"
        ),
    )
    .expect("nic xml");
    ok(
        "virsh",
        &uri,
        &["attach-device", &name, &dev.to_string_lossy(), "--live"],
    );
    let xml = ok("virsh", &uri, &["dumpxml", &name]);
    assert!(xml.contains("<alias name='ua-second'/>"), "{xml}");
    let second = tap_of(&xml, user_mac);
    let second_index = link_index(&second);
    let master = std::fs::read_link(format!("/sys/class/net/{second}/master")).expect("master");
    assert!(master.ends_with(&bridge), "{second} is on {master:?}");
    ok(
        "virsh",
        &uri,
        &["detach-device-alias", &name, "ua-second", "--live"],
    );
    let err = fails(
        &uri,
        &["detach-device-alias", &name, "ua-nothing", "--live"],
    );
    assert!(
        err.contains("no device found with alias ua-nothing"),
        "{err}"
    );

    // Removal is asked of the guest (PCI unplug through ACPI, which this boot sector never grants); the tap goes
    // with the guest at the latest.
    ok(
        "virsh",
        &uri,
        &["detach-interface", &name, "network", "--mac", mac, "--live"],
    );
    ok("virsh", &uri, &["destroy", &name]);
    for (tap, was) in [(&tap, &tap_index), (&second, &second_index)] {
        assert!(was.is_some(), "tap {tap} had no index");
        assert!(link_gone(tap, was), "tap {tap} left behind");
    }
    ok("virsh", &uri, &["undefine", &name]);
    ok("virsh", &uri, &["net-destroy", &network]);
    ok("virsh", &uri, &["net-undefine", &network]);
    assert!(!Path::new(&format!("/sys/class/net/{bridge}")).exists());
}

/// A boot sector that asks the chipset for S3 (SLP_TYP 1 with SLP_EN into PIIX4's PM1a control register at the
/// firmware's 0x604), then spins.
fn sleeping_disk(dir: &Path) -> std::path::PathBuf {
    let code = [0xBA, 0x04, 0x06, 0xB8, 0x00, 0x24, 0xEF, 0xEB, 0xFE];
    let mut sector = vec![0u8; 4096];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    let path = dir.join("sleep.img");
    std::fs::write(&path, sector).expect("disk");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_suspends_itself_is_pmsuspended_and_dompmwakeup_wakes_it() {
    if !peers_present() {
        return;
    }
    let _guests = alone_async().await;
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let uri = daemon.uri();
    let name = format!("sleep-{}", std::process::id());
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>48</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\
         <features><acpi/></features><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk></devices></domain>",
        sleeping_disk(tmp.path()).display()
    );
    let path = tmp.path().join("sleep.xml");
    std::fs::write(&path, xml).expect("xml");
    ok("virsh", &uri, &["define", &path.to_string_lossy()]);
    ok("virsh", &uri, &["start", &name]);
    reaper.watch(daemon.qemu_pid(&name));
    let asleep = || ok("virsh", &uri, &["domstate", &name]).trim() == "pmsuspended";
    assert!(
        crate::support::wait_for(std::time::Duration::from_secs(20), asleep),
        "the guest never slept: {}",
        ok("virsh", &uri, &["domstate", &name, "--reason"])
    );
    let status = ok(
        "virsh",
        &uri,
        &[
            "qemu-monitor-command",
            &name,
            r#"{"execute":"query-status"}"#,
        ],
    );
    assert!(status.contains(r#""status":"suspended""#), "{status}");
    let info = ok("virsh", &uri, &["dominfo", &name]);
    assert!(info.contains("pmsuspended"), "{info}");
    // QEMU wakes it (it refuses a guest that is not asleep; and the firmware, finding no resume vector, boots it again, so it may sleep again).
    ok("virsh", &uri, &["dompmwakeup", &name]);
    let status = ok(
        "virsh",
        &uri,
        &[
            "qemu-monitor-command",
            &name,
            r#"{"execute":"query-status"}"#,
        ],
    );
    assert!(
        status.contains("running") || status.contains("suspended"),
        "{status}"
    );
    ok("virsh", &uri, &["destroy", &name]);
    ok("virsh", &uri, &["undefine", &name]);
}
