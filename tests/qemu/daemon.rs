//! `qemu:///system` served by virtcimd: stock virsh, our `virtcim` CLI and python3-libvirt drive real QEMU guests
//! over the daemon's unix socket; a daemon restart finds a running guest again, and a QEMU killed from outside
//! leaves its domain shut off as crashed.
//!
//! Every test runs its own daemon on a temp dir, signals only the pid it started and SIGKILLs the QEMU processes
//! it saw at the end. The tests take turns (CI has 2 cores); each guest lives a few seconds.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use crate::support::alive;
use crate::support::daemon::{start_virtcimd, Logged};
use crate::support::qemu::{alone, guest_executing, guest_xml_file, have_qemu};
use crate::support::virsh::have_virsh;

const CLI: &str = env!("CARGO_BIN_EXE_virtcim");

pub(crate) fn peers_present() -> bool {
    let present = have_virsh() && have_qemu();
    if !present {
        eprintln!("virsh or qemu-system-x86_64 not installed, skipping");
    }
    present
}

/// The QEMU pids a test saw; all SIGKILLed when the test ends, however it ends.
#[derive(Default)]
pub(crate) struct QemuReaper(Mutex<Vec<i32>>);

impl QemuReaper {
    pub(crate) fn watch(&self, pid: i32) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
    }
}

impl Drop for QemuReaper {
    fn drop(&mut self) {
        for pid in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            // Only pids this test saw its daemon start; ESRCH when already gone is fine.
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
    }
}

/// A virtcimd on a temp dir: its config, state dir and sockets all live there.
pub(crate) struct Daemon {
    process: Option<Logged>,
    config: PathBuf,
    state: PathBuf,
    socket: PathBuf,
}

impl Daemon {
    pub(crate) fn start(dir: &Path) -> Self {
        Self::start_with(dir, "")
    }

    /// [`Daemon::start`] with more config lines (a TCP listener, for a peer-to-peer migration's destination).
    pub(crate) fn start_with(dir: &Path, extra: &str) -> Self {
        let state = dir.join("state");
        let run = dir.join("run");
        let config = dir.join("virtcimd.conf");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{}\"\nunix_sock_dir = \"{}\"\n{extra}",
                state.display(),
                run.display()
            ),
        )
        .expect("config");
        let mut daemon = Self {
            process: None,
            config,
            state,
            socket: run.join("libvirt-sock"),
        };
        daemon.spawn();
        daemon
    }

    fn spawn(&mut self) {
        self.process = Some(start_virtcimd(&self.config));
    }

    pub(crate) fn uri(&self) -> String {
        format!("qemu+unix:///system?socket={}", self.socket.display())
    }

    /// SIGTERM to our daemon and a bounded wait for its exit.
    pub(crate) fn stop(&mut self) {
        let Some(mut process) = self.process.take() else {
            return;
        };
        let status = process.signal_and_wait(Signal::SIGTERM);
        assert!(
            status.success(),
            "virtcimd exit: {status:?}\n{}",
            process.log()
        );
    }

    /// What the daemon logged so far.
    pub(crate) fn log(&mut self) -> String {
        self.process.as_mut().map(Logged::log).unwrap_or_default()
    }

    /// The daemon's state dir (the qemu driver's files are under `qemu/`).
    pub(crate) fn state_dir(&self) -> &Path {
        &self.state
    }

    /// The live status record of a running guest, as the daemon wrote it.
    fn status(&self, name: &str) -> serde_json::Value {
        let path = self.state.join("qemu/run").join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        serde_json::from_str(&text).expect("status json")
    }

    /// What the daemon wrote to a guest's log (QEMU's output and the driver's notes).
    pub(crate) fn domain_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.state.join("qemu/log").join(format!("{name}.log")))
            .unwrap_or_default()
    }

    pub(crate) fn qemu_pid(&self, name: &str) -> i32 {
        let pid = self.status(name)["pid"].as_i64().expect("pid in status");
        i32::try_from(pid).expect("pid fits")
    }
}

impl Drop for Daemon {
    /// Kills our daemon if still running, then any QEMU it left a status record for (a test failed half-way).
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
        let Ok(records) = std::fs::read_dir(self.state.join("qemu/run")) else {
            return;
        };
        for record in records.map_while(Result::ok) {
            let Some(status) = std::fs::read_to_string(record.path())
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            else {
                continue;
            };
            let pid = status["pid"]
                .as_i64()
                .and_then(|pid| i32::try_from(pid).ok());
            if let Some(pid) = pid.filter(|pid| *pid > 1) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            // The guest's taps outlive a killed daemon (they are persistent): remove the ones it recorded.
            for tap in recorded_taps(status["live_xml"].as_str().unwrap_or_default()) {
                if Path::new(&format!("/sys/class/net/{tap}/tun_flags")).exists() {
                    let _ = Command::new("ip").args(["link", "del", &tap]).status();
                }
            }
        }
    }
}

/// The `<target dev>` of every `<interface>` in a guest's live XML.
fn recorded_taps(xml: &str) -> Vec<String> {
    xml.split("<interface")
        .skip(1)
        .filter_map(|rest| {
            let iface = rest.split("</interface>").next()?;
            let after = iface.split("<target dev='").nth(1)?;
            after.split('\'').next().map(str::to_string)
        })
        .collect()
}

pub(crate) fn run(program: &str, uri: &str, args: &[&str]) -> Output {
    Command::new(program)
        .arg("-c")
        .arg(uri)
        .args(args)
        .env("LIBVIRT_AUTOSTART", "0")
        .output()
        .expect("runs")
}

/// Runs `program -c uri args`, asserting success and no stderr; returns stdout.
pub(crate) fn ok(program: &str, uri: &str, args: &[&str]) -> String {
    let out = run(program, uri, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{program} {args:?}: {stdout}{stderr}"
    );
    stdout
}

fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .map(|rest| rest.trim_start_matches(':').trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

fn wait_until(limit: Duration, what: &str, check: impl FnMut() -> bool) {
    assert!(
        crate::support::wait_for(limit, check),
        "timed out waiting for {what}"
    );
}

/// define, start, state, suspend (QEMU stops executing), resume, destroy, undefine with `program`.
fn lifecycle(program: &str, daemon: &Daemon, reaper: &QemuReaper, dir: &Path, name: &str) {
    let uri = daemon.uri();
    let xml = guest_xml_file(dir, name);
    ok(program, &uri, &["define", &xml.to_string_lossy()]);
    ok(program, &uri, &["start", name]);
    let pid = daemon.qemu_pid(name);
    reaper.watch(pid);
    assert!(alive(pid));
    let info = ok(program, &uri, &["dominfo", name]);
    assert_eq!(field(&info, "State"), "running", "{info}");
    assert_eq!(field(&info, "Max memory"), "32768 KiB", "{info}");
    assert_eq!(ok(program, &uri, &["domstate", name]).trim(), "running");
    assert!(guest_executing(pid), "a started guest runs its boot sector");

    ok(program, &uri, &["suspend", name]);
    assert_eq!(ok(program, &uri, &["domstate", name]).trim(), "paused");
    assert!(!guest_executing(pid), "QEMU still runs a suspended guest");
    ok(program, &uri, &["resume", name]);
    assert_eq!(ok(program, &uri, &["domstate", name]).trim(), "running");
    assert!(guest_executing(pid), "QEMU did not resume the guest");

    ok(program, &uri, &["destroy", name]);
    wait_until(Duration::from_secs(10), "qemu to exit", || !alive(pid));
    assert_eq!(
        ok(program, &uri, &["domstate", name, "--reason"]).trim(),
        "shut off (destroyed)"
    );
    ok(program, &uri, &["undefine", name]);
    assert!(!ok(program, &uri, &["list", "--all", "--name"]).contains(name));
}

/// Volumes on a dir pool defined over RPC.
fn dir_pool_volumes(program: &str, uri: &str, dir: &Path) {
    let target = dir.join(format!(
        "pool-{}",
        program.rsplit('/').next().unwrap_or("x")
    ));
    let target = target.to_string_lossy();
    if program == "virsh" {
        ok(
            program,
            uri,
            &["pool-define-as", "scratch", "dir", "--target", &target],
        );
    } else {
        // Our CLI has no pool-define-as: the same pool from XML.
        let xml = dir.join("scratch-pool.xml");
        std::fs::write(
            &xml,
            format!("<pool type='dir'><name>scratch</name><target><path>{target}</path></target></pool>"),
        )
        .expect("pool xml");
        ok(program, uri, &["pool-define", &xml.to_string_lossy()]);
    }
    ok(program, uri, &["pool-build", "scratch"]);
    ok(program, uri, &["pool-start", "scratch"]);
    ok(
        program,
        uri,
        &[
            "vol-create-as",
            "scratch",
            "disk.qcow2",
            "8M",
            "--format",
            "qcow2",
        ],
    );
    let list = ok(program, uri, &["vol-list", "scratch"]);
    assert!(
        list.lines()
            .any(|l| l.contains("disk.qcow2") && l.contains(&format!("{target}/disk.qcow2"))),
        "{list}"
    );
    let info = ok(
        program,
        uri,
        &["vol-info", "--pool", "scratch", "disk.qcow2"],
    );
    assert_eq!(field(&info, "Name"), "disk.qcow2", "{info}");
    assert_eq!(field(&info, "Type"), "file", "{info}");
    assert_eq!(field(&info, "Capacity"), "8.00 MiB", "{info}");
    // qemu-img made a real qcow2 file.
    let magic = std::fs::read(format!("{target}/disk.qcow2")).expect("volume file");
    assert_eq!(&magic[..4], b"QFI\xfb");
    ok(
        program,
        uri,
        &["vol-delete", "--pool", "scratch", "disk.qcow2"],
    );
    assert!(!Path::new(&format!("{target}/disk.qcow2")).exists());
    assert!(!ok(program, uri, &["vol-list", "scratch"]).contains("disk.qcow2"));
    ok(program, uri, &["pool-destroy", "scratch"]);
    ok(program, uri, &["pool-undefine", "scratch"]);
}

#[test]
fn virsh_drives_a_qemu_guest_and_dir_pool_volumes() {
    if !peers_present() {
        return;
    }
    let _turn = alone();
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    // qemu:///session is another world with its own definitions.
    let session = daemon.uri().replace("///system", "///session");
    let xml = guest_xml_file(tmp.path(), "sguest");
    ok("virsh", &session, &["define", &xml.to_string_lossy()]);
    assert!(ok("virsh", &session, &["list", "--all", "--name"]).contains("sguest"));
    assert!(!ok("virsh", &daemon.uri(), &["list", "--all", "--name"]).contains("sguest"));
    ok("virsh", &session, &["undefine", "sguest"]);
    lifecycle("virsh", &daemon, &reaper, tmp.path(), "vguest");
    dir_pool_volumes("virsh", &daemon.uri(), tmp.path());
}

#[test]
fn our_cli_drives_a_qemu_guest_and_dir_pool_volumes() {
    if !peers_present() {
        return;
    }
    let _turn = alone();
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    lifecycle(CLI, &daemon, &reaper, tmp.path(), "cguest");
    dir_pool_volumes(CLI, &daemon.uri(), tmp.path());
}

#[test]
fn a_daemon_restart_keeps_the_guest_and_an_outside_kill_is_a_crash() {
    if !peers_present() {
        return;
    }
    let _turn = alone();
    let reaper = QemuReaper::default();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut daemon = Daemon::start(tmp.path());
    let uri = daemon.uri();
    let xml = guest_xml_file(tmp.path(), "keeper");
    ok("virsh", &uri, &["define", &xml.to_string_lossy()]);
    ok("virsh", &uri, &["start", "keeper"]);
    let pid = daemon.qemu_pid("keeper");
    reaper.watch(pid);
    let id = ok("virsh", &uri, &["domid", "keeper"]).trim().to_string();

    daemon.stop();
    assert!(alive(pid), "stopping the daemon killed its guest");
    daemon.spawn();
    assert_eq!(ok("virsh", &uri, &["domstate", "keeper"]).trim(), "running");
    assert_eq!(ok("virsh", &uri, &["domid", "keeper"]).trim(), id);
    assert_eq!(daemon.qemu_pid("keeper"), pid, "the guest was restarted");
    assert!(guest_executing(pid), "the guest no longer runs");

    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill our guest's qemu");
    wait_until(Duration::from_secs(10), "the crash to be seen", || {
        ok("virsh", &uri, &["domstate", "keeper", "--reason"]).trim() == "shut off (crashed)"
    });
    assert_eq!(ok("virsh", &uri, &["domid", "keeper"]).trim(), "-");
    ok("virsh", &uri, &["undefine", "keeper"]);
    daemon.stop();
}

#[test]
fn python_libvirt_receives_qemu_lifecycle_events() {
    let Some(python) = crate::support::python::libvirt_python().filter(|_| peers_present()) else {
        eprintln!("python3-libvirt not usable, skipping");
        return;
    };
    let _turn = alone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path());
    let xml = guest_xml_file(tmp.path(), "pyguest");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/qemu_events.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(daemon.uri())
        .arg(&xml)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let events: Vec<&str> = stdout.lines().filter(|l| l.starts_with("event ")).collect();
    // DEFINED/ADDED, STARTED/BOOTED, SUSPENDED/PAUSED, RESUMED/UNPAUSED, STOPPED/DESTROYED, UNDEFINED/REMOVED.
    assert_eq!(
        events,
        [
            "event pyguest 0 0",
            "event pyguest 2 0",
            "event pyguest 3 0",
            "event pyguest 4 0",
            "event pyguest 5 1",
            "event pyguest 1 0",
        ],
        "{stdout}{stderr}"
    );
    assert!(stdout.contains("complete True"), "{stdout}{stderr}");
}
