//! CIM over QEMU: a virtcimd serving `qemu:///system` to WBEM (`wbem_connect_uri`) and RPC at once; a guest
//! defined with virsh is started, paused, resumed and destroyed through `KVM_ComputerSystem.RequestStateChange`
//! (pywbem), and after every step QEMU itself (process, vCPU time), `virsh domstate` and the CIM EnabledState
//! agree.
//!
//! The test SIGKILLs every QEMU its daemon started when it ends, however it ends.

use crate::support::alive;
use crate::support::qemu::{guest_executing, guest_xml_file};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::daemon::{start_virtcimd, Logged};
use crate::support::have;

const GUEST: &str = "cimguest";

/// Our daemon and the QEMUs it left status records for; all killed on drop.
pub(crate) struct Daemon {
    process: Logged,
    state: PathBuf,
    socket: PathBuf,
    pub(crate) wbem: SocketAddr,
}

impl Daemon {
    pub(crate) fn start(dir: &Path) -> Self {
        Self::start_with(dir, "qemu:///system", "")
    }

    /// A daemon whose WBEM front end serves `connect_uri`, plus `extra` config lines.
    pub(crate) fn start_with(dir: &Path, connect_uri: &str, extra: &str) -> Self {
        let state = dir.join("state");
        let run = dir.join("run");
        let config = dir.join("virtcimd.conf");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{}\"\nunix_sock_dir = \"{}\"\nlisten_wbem_http = 1\nwbem_http_port = 0\n\
                 wbem_listen_addr = \"127.0.0.1\"\nwbem_auth = \"none\"\n\
                 wbem_connect_uri = \"{connect_uri}\"\n{extra}",
                state.display(),
                run.display()
            ),
        )
        .expect("config");
        let process = start_virtcimd(&config);
        let wbem = process
            .logged_addr("WBEM HTTP listening")
            .unwrap_or_else(|| panic!("no WBEM listener; stderr:\n{}", process.seen.join("\n")));
        Self {
            process,
            state,
            socket: run.join("libvirt-sock"),
            wbem,
        }
    }

    pub(crate) fn rpc_uri(&self) -> String {
        format!("qemu+unix:///system?socket={}", self.socket.display())
    }

    pub(crate) fn qemu_pid(&self, name: &str) -> i32 {
        let path = self.state.join("qemu/run").join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let status: serde_json::Value = serde_json::from_str(&text).expect("status json");
        let pid = status["pid"].as_i64().expect("pid in status");
        i32::try_from(pid).expect("pid fits")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.process.kill();
        let Ok(records) = std::fs::read_dir(self.state.join("qemu/run")) else {
            return;
        };
        for record in records.map_while(Result::ok) {
            let pid = std::fs::read_to_string(record.path())
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .and_then(|status| status["pid"].as_i64())
                .and_then(|pid| i32::try_from(pid).ok());
            if let Some(pid) = pid.filter(|pid| *pid > 1) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// The QEMU pids the test saw, SIGKILLed at the end (the status record is gone once a guest stops).
pub(crate) struct QemuReaper(pub(crate) Vec<i32>);

impl Drop for QemuReaper {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
    }
}

pub(crate) fn virsh(uri: &str, args: &[&str]) -> String {
    let out = Command::new("virsh")
        .arg("-c")
        .arg(uri)
        .args(args)
        .output()
        .expect("virsh runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "virsh {args:?}: {stdout}{stderr}"
    );
    stdout
}

fn cim_step(python: &Path, daemon: &Daemon, requested: Option<u16>) -> (u16, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/qemu_cim.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg(format!("http://{}", daemon.wbem))
        .arg(GUEST);
    if let Some(state) = requested {
        cmd.arg(state.to_string());
    }
    let out = cmd.output().expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "RequestStateChange {requested:?}: {stdout}{stderr}"
    );
    let value = |key: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u16>().ok())
            .unwrap_or_else(|| panic!("no {key} in {stdout}{stderr}"))
    };
    if requested.is_some() {
        assert_eq!(value("return "), 0, "{stdout}");
    }
    (value("enabled "), value("requested "))
}

#[test]
fn cim_request_state_change_drives_a_qemu_guest() {
    if !(have("virsh", "--version") && have("qemu-system-x86_64", "--version")) {
        eprintln!("virsh or qemu-system-x86_64 not installed, skipping");
        return;
    }
    let _alone = crate::support::qemu::alone();
    let python = crate::support::python::venv_python();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let mut reaper = QemuReaper(Vec::new());
    let uri = daemon.rpc_uri();
    let xml = guest_xml_file(tmp.path(), GUEST);
    virsh(&uri, &["define", &xml.to_string_lossy()]);
    let domstate = || virsh(&uri, &["domstate", GUEST]).trim().to_string();

    // Defined, never requested: Disabled (3), RequestedState 0 (unknown).
    assert_eq!(cim_step(&python, &daemon, None), (3, 0));
    assert_eq!(domstate(), "shut off");

    // 2 = Enabled: QEMU starts and runs the guest.
    assert_eq!(cim_step(&python, &daemon, Some(2)), (2, 2));
    let pid = daemon.qemu_pid(GUEST);
    reaper.0.push(pid);
    assert!(alive(pid));
    assert_eq!(domstate(), "running");
    assert!(
        guest_executing(pid),
        "a CIM-started guest runs its boot sector"
    );

    // 9 = Quiesce: QEMU stops executing the guest, the process stays.
    assert_eq!(cim_step(&python, &daemon, Some(9)), (9, 9));
    assert_eq!(domstate(), "paused");
    assert!(alive(pid));
    assert!(!guest_executing(pid), "QEMU still runs a CIM-paused guest");

    // 2 on a paused guest resumes it (the same process).
    assert_eq!(cim_step(&python, &daemon, Some(2)), (2, 2));
    assert_eq!(domstate(), "running");
    assert_eq!(daemon.qemu_pid(GUEST), pid, "resume started a new QEMU");
    assert!(guest_executing(pid), "QEMU did not resume the guest");

    // 3 = Disabled: destroyed, QEMU exits.
    assert_eq!(cim_step(&python, &daemon, Some(3)), (3, 3));
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!alive(pid), "QEMU still runs after a CIM disable");
    assert_eq!(
        virsh(&uri, &["domstate", GUEST, "--reason"]).trim(),
        "shut off (destroyed)"
    );
    virsh(&uri, &["undefine", GUEST]);
}

/// Removes every network and storage pool of the test daemon's own state dir (its `qemu:///system` starts with
/// none), whether the test passed or not, so no bridge or dnsmasq outlives it.
struct HostObjectsGuard(String);

impl Drop for HostObjectsGuard {
    fn drop(&mut self) {
        let list = |args: &[&str]| -> Vec<String> {
            Command::new("virsh")
                .arg("-q")
                .arg("-c")
                .arg(&self.0)
                .args(args)
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .map(|l| l.trim().to_owned())
                        .filter(|l| !l.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        for net in list(&["net-list", "--all", "--name"]) {
            let _ = list(&["net-destroy", &net]);
            let _ = list(&["net-undefine", &net]);
        }
        for pool in list(&["pool-list", "--all", "--name"]) {
            let _ = list(&["pool-destroy", &pool]);
            let _ = list(&["pool-undefine", &pool]);
        }
    }
}

/// The pool configuration service over `qemu:///system`: a directory pool and an isolated network made,
/// inspected and removed through CIM on the real host drivers (virsh over RPC checking each step), volumes in the
/// pool made by qemu-img; and the snapshot service's job ending in Exception with the QEMU driver's own "not
/// supported", nothing made.
#[test]
fn cim_configures_host_pools_and_answers_for_snapshots() {
    if !(have("virsh", "--version") && have("qemu-img", "--version")) {
        eprintln!("virsh or qemu-img not installed, skipping");
        return;
    }
    let python = crate::support::python::venv_python();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let uri = daemon.rpc_uri();
    let _cleanup = HostObjectsGuard(uri.clone());
    let scratch = tmp.path().join("pools");
    std::fs::create_dir(&scratch).expect("scratch dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_pool_config.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(format!("http://{}", daemon.wbem))
        .arg(&uri)
        .arg(&scratch)
        .arg("qemu")
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("OK "),
        "cim_pool_config.py over qemu:///system: {stdout}{stderr}"
    );
    eprintln!("cim_pool_config.py (qemu:///system): {}", stdout.trim());

    let xml = guest_xml_file(tmp.path(), GUEST);
    virsh(&uri, &["define", &xml.to_string_lossy()]);
    let snapshot = r#"
import sys, time, pywbem
conn = pywbem.WBEMConnection(sys.argv[1], None, default_namespace="root/virt")
svc = conn.EnumerateInstanceNames("KVM_VirtualSystemSnapshotService")[0]
cs = pywbem.CIMInstanceName("KVM_ComputerSystem", {"CreationClassName": "KVM_ComputerSystem", "Name": sys.argv[2]},
                            namespace="root/virt")
try:
    rv, out = conn.InvokeMethod("CreateSnapshot", svc, AffectedSystem=cs)
    if rv == 4096:
        job = out["Job"]
        for _ in range(600):
            j = conn.GetInstance(job)
            if j["JobState"] in (7, 10):
                break
            time.sleep(0.1)
        print("job %d %s" % (j["JobState"], j["ErrorDescription"]))
    else:
        print("answered %d" % rv)
except pywbem.CIMError as e:
    print("error %d %s" % (e.status_code, e.status_description))
print("snapshots %d" % len(conn.EnumerateInstanceNames("KVM_SnapshotSettingData")))
"#;
    let out = Command::new(&python)
        .args(["-c", snapshot])
        .arg(format!("http://{}", daemon.wbem))
        .arg(GUEST)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("job 10 ")
            && stdout.contains("not supported")
            && stdout.contains("snapshots 0"),
        "CreateSnapshot on qemu:///system: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    virsh(&uri, &["undefine", GUEST]);
}

/// A disk RASD added to a running QEMU guest through AddResourceSettings is attached at once (QEMU opens the
/// image, virsh's live XML lists it) and kept in the configuration; RemoveResourceSettings detaches it live.
#[test]
fn cim_adds_and_removes_a_disk_of_a_running_guest_live() {
    if !(have("virsh", "--version") && have("qemu-system-x86_64", "--version")) {
        eprintln!("virsh or qemu-system-x86_64 not installed, skipping");
        return;
    }
    // Hotplug waits on QEMU's monitor, which slows past the driver's timeout when other guests load CI.
    let _alone = crate::support::qemu::alone();
    let python = crate::support::python::venv_python();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let mut reaper = QemuReaper(Vec::new());
    let uri = daemon.rpc_uri();
    let name = format!("cimlive-{}", std::process::id());
    // With ACPI, so the PCI bus takes the hotplugged SCSI controller.
    let xml = tmp.path().join("cimlive.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain type='qemu'><name>{name}</name><memory unit='MiB'>48</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\
             <features><acpi/></features><devices>\
             <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
             <target dev='hda' bus='ide'/></disk></devices></domain>",
            crate::support::qemu::spinning_disk(tmp.path()).display()
        ),
    )
    .expect("guest xml");
    virsh(&uri, &["define", &xml.to_string_lossy()]);
    virsh(&uri, &["start", &name]);
    let pid = daemon.qemu_pid(&name);
    reaper.0.push(pid);
    let image = tmp.path().join("extra.img");
    std::fs::write(&image, vec![0u8; 1 << 20]).expect("image");
    let holds = |path: &Path| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|entries| {
                entries
                    .map_while(Result::ok)
                    .filter_map(|e| std::fs::read_link(e.path()).ok())
                    .any(|p| p == path)
            })
            .unwrap_or(false)
    };
    let script = r#"
import sys, pywbem
url, dom, image, action = sys.argv[1:5]
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt")
svc = conn.EnumerateInstanceNames("KVM_VirtualSystemManagementService")[0]
if action == "add":
    vssd = pywbem.CIMInstanceName("KVM_VirtualSystemSettingData", {"InstanceID": "KVM:" + dom}, namespace="root/virt")
    rasd = pywbem.CIMInstance("KVM_DiskResourceAllocationSettingData", properties={
        "ResourceType": pywbem.Uint16(17), "VirtualDevice": "sdb", "Address": image, "BusType": "scsi",
        "DriverType": "raw"})
    rv, out = conn.InvokeMethod("AddResourceSettings", svc, AffectedConfiguration=vssd, ResourceSettings=[rasd])
    print("rv %d %s" % (rv, [p["InstanceID"] for p in out["ResultingResourceSettings"]]))
    r = conn.GetInstance(pywbem.CIMInstanceName("KVM_DiskResourceAllocationSettingData",
                                                {"InstanceID": dom + "/sdb"}, namespace="root/virt"))
    print("size %s %s" % (r["VirtualQuantity"], r["AllocationUnits"]))
else:
    ref = pywbem.CIMInstanceName("KVM_DiskResourceAllocationSettingData", {"InstanceID": dom + "/sdb"},
                                 namespace="root/virt")
    rv, _ = conn.InvokeMethod("RemoveResourceSettings", svc, ResourceSettings=[ref])
    print("rv %d" % rv)
"#;
    let call = |action: &str| {
        let out = Command::new(&python)
            .args(["-c", script])
            .arg(format!("http://{}", daemon.wbem))
            .arg(&name)
            .arg(&image)
            .arg(action)
            .output()
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && stdout.starts_with("rv 0"),
            "{action}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let out = call("add");
    assert!(out.contains(&format!("{name}/sdb")), "{out}");
    // A file outside any pool: its real size, in bytes (libvirt-CIM's VirtualQuantity for such a disk).
    assert!(out.contains("size 1048576 Bytes"), "{out}");
    assert!(holds(&image), "QEMU does not hold {} open", image.display());
    let list = virsh(&uri, &["domblklist", &name]);
    assert!(
        list.lines()
            .any(|l| l.contains("sdb") && l.contains(&*image.to_string_lossy())),
        "{list}"
    );
    let inactive = virsh(&uri, &["dumpxml", "--inactive", &name]);
    assert!(inactive.contains("dev='sdb'"), "{inactive}");

    call("remove");
    let deadline = Instant::now() + Duration::from_secs(10);
    while holds(&image) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!holds(&image), "QEMU still holds the removed disk");
    assert!(!virsh(&uri, &["domblklist", &name]).contains("sdb"));
    assert!(!virsh(&uri, &["dumpxml", "--inactive", &name]).contains("dev='sdb'"));
    virsh(&uri, &["destroy", &name]);
    virsh(&uri, &["undefine", &name]);
}
