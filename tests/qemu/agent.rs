//! The QEMU guest agent on `qemu:///system`: a real guest running qemu-ga (tests/support/agent_guest.rs), driven by
//! stock virsh and python3-libvirt through our daemon: time, interfaces, file systems, raw commands (and their
//! taint), S3 suspend and wake-up, shutdown through the agent; and libvirt's errors for a guest without the
//! agent's channel and for one whose agent never opens it.

use super::daemon::{ok, run, Daemon, QemuReaper};
use crate::support::agent_guest::{agent_guest, agent_guest_xml, AgentGuest};
use crate::support::qemu::have_qemu;
use crate::support::virsh::have_virsh;
use crate::support::wait_for;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The guest files, or why the test cannot run (said loudly; the peers themselves are required).
fn guest_or_skip() -> Option<AgentGuest> {
    assert!(
        have_virsh() && have_qemu(),
        "virsh and qemu-system-x86_64 are needed (tests/run installs them)"
    );
    match agent_guest() {
        Ok(guest) => Some(guest),
        Err(why) => {
            eprintln!("SKIPPED: the guest-agent guest cannot be built here: {why}");
            None
        }
    }
}

fn define_and_start(
    daemon: &Daemon,
    reaper: &QemuReaper,
    dir: &Path,
    name: &str,
    xml: &str,
) -> String {
    let uri = daemon.uri();
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, xml).unwrap();
    ok("virsh", &uri, &["define", &path.to_string_lossy()]);
    ok("virsh", &uri, &["start", name]);
    reaper.watch(daemon.qemu_pid(name));
    uri
}

fn host_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `virsh domtime NAME` ("Time: SECONDS").
fn guest_time(uri: &str, name: &str) -> i64 {
    let out = ok("virsh", uri, &["domtime", name]);
    out.trim()
        .trim_start_matches("Time:")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("domtime: {out}"))
}

fn state(uri: &str, name: &str) -> String {
    let out = run("virsh", uri, &["domstate", name]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn wait_until(limit: Duration, what: &str, check: impl FnMut() -> bool) {
    assert!(wait_for(limit, check), "timed out waiting for {what}");
}

fn stderr_of(uri: &str, args: &[&str]) -> String {
    let out = run("virsh", uri, args);
    assert!(!out.status.success(), "virsh {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn virsh_drives_a_guest_through_its_agent() {
    let Some(guest) = guest_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let reaper = QemuReaper::default();
    let name = format!("agent{}", std::process::id());
    let uri = define_and_start(
        &daemon,
        &reaper,
        tmp.path(),
        &name,
        &agent_guest_xml(&guest, &name, true, true),
    );
    // The guest boots (TCG) and its agent opens the port.
    wait_until(Duration::from_secs(300), "the agent to answer", || {
        run("virsh", &uri, &["domtime", &name]).status.success()
    });

    // The agent opened its port: the live XML says so.
    let live = ok("virsh", &uri, &["dumpxml", &name]);
    assert!(
        live.contains("name='org.qemu.guest_agent.0' state='connected'"),
        "{live}"
    );
    // The guest's clock is the host's (its RTC starts from the host's time).
    let delta = (guest_time(&uri, &name) - host_now()).abs();
    assert!(delta < 600, "guest and host clocks differ by {delta} s");
    ok("virsh", &uri, &["domtime", &name, "--time", "1000000000"]);
    let set = guest_time(&uri, &name);
    assert!((1_000_000_000..1_000_000_600).contains(&set), "{set}");
    ok("virsh", &uri, &["domtime", &name, "--now"]);
    assert!((guest_time(&uri, &name) - host_now()).abs() < 600);
    // --sync: the guest reads its hardware clock (which the agent wrote on the last set).
    ok("virsh", &uri, &["domtime", &name, "--sync"]);
    assert!((guest_time(&uri, &name) - host_now()).abs() < 600);

    let addrs = ok("virsh", &uri, &["domifaddr", &name, "--source", "agent"]);
    assert!(
        addrs
            .lines()
            .any(|l| l.contains("lo") && l.contains("127.0.0.1/8")),
        "{addrs}"
    );
    ok("virsh", &uri, &["domfsinfo", &name]);
    let frozen = ok("virsh", &uri, &["domfsfreeze", &name]);
    assert!(frozen.contains("Froze 0 filesystem(s)"), "{frozen}");
    let thawed = ok("virsh", &uri, &["domfsthaw", &name]);
    assert!(thawed.contains("Thawed 0 filesystem(s)"), "{thawed}");
    ok(
        "virsh",
        &uri,
        &["set-user-password", &name, "root", "s3cret"],
    );
    let info = ok("virsh", &uri, &["guestinfo", &name, "--os", "--hostname"]);
    assert!(
        info.contains("hostname") && info.contains("agentguest"),
        "{info}"
    );
    assert!(info.contains("os.kernel-release"), "{info}");

    // The guest's one vCPU: known and online, and the guest does not let it go offline.
    let vcpus = ok("virsh", &uri, &["guestvcpus", &name]);
    let field = |key: &str| {
        vcpus
            .lines()
            .find(|l| l.split(':').next().map(str::trim) == Some(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    assert_eq!(field("vcpus").as_deref(), Some("0"), "{vcpus}");
    assert_eq!(field("online").as_deref(), Some("0"), "{vcpus}");
    let offline = stderr_of(&uri, &["guestvcpus", &name, "--cpulist", "0", "--disable"]);
    assert!(offline.contains("vCPU '0' is not offlinable"), "{offline}");
    let missing = stderr_of(&uri, &["guestvcpus", &name, "--cpulist", "3-4", "--enable"]);
    assert!(
        missing.contains("guest is missing vCPUs '3-4'"),
        "{missing}"
    );
    ok(
        "virsh",
        &uri,
        &["guestvcpus", &name, "--cpulist", "0", "--enable"],
    );

    // A raw command comes back whole and taints the domain.
    let ping = ok(
        "virsh",
        &uri,
        &["qemu-agent-command", &name, r#"{"execute":"guest-ping"}"#],
    );
    assert_eq!(ping.trim(), r#"{"return":{}}"#);
    let log = daemon.domain_log(&name);
    assert!(log.contains("is tainted: custom-ga-command"), "{log}");
    let bad = stderr_of(
        &uri,
        &[
            "qemu-agent-command",
            &name,
            r#"{"execute":"guest-no-such"}"#,
        ],
    );
    assert!(
        bad.contains("unable to execute QEMU agent command 'guest-no-such'"),
        "{bad}"
    );

    // S3: the agent suspends the guest, QEMU reports it, a lifecycle event tells; system_wakeup resumes.
    let mut events = Command::new("virsh")
        .args([
            "-c",
            &uri,
            "event",
            "--domain",
            &name,
            "--event",
            "lifecycle",
        ])
        .args(["--loop", "--timeout", "240"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("virsh event");
    std::thread::sleep(Duration::from_secs(1));
    ok("virsh", &uri, &["dompmsuspend", &name, "mem"]);
    wait_until(Duration::from_secs(60), "pmsuspended", || {
        state(&uri, &name) == "pmsuspended"
    });
    ok("virsh", &uri, &["dompmwakeup", &name]);
    wait_until(Duration::from_secs(60), "running again", || {
        state(&uri, &name) == "running"
    });
    let disk = stderr_of(&uri, &["dompmsuspend", &name, "disk"]);
    assert!(
        disk.contains("S4 state is disabled for this domain"),
        "{disk}"
    );
    // The agent is back after the wake-up.
    wait_until(Duration::from_secs(120), "the agent after wake-up", || {
        run("virsh", &uri, &["domtime", &name]).status.success()
    });

    // Shutdown through the agent: the guest powers itself off.
    ok("virsh", &uri, &["shutdown", &name, "--mode", "agent"]);
    wait_until(Duration::from_secs(120), "shut off", || {
        state(&uri, &name) == "shut off"
    });
    let _ = events.kill();
    let _ = events.wait();
    let mut seen = String::new();
    events
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut seen)
        .unwrap();
    assert!(seen.contains("PMSuspended"), "{seen}");
    assert!(seen.contains("Started Event wakeup"), "{seen}");
    assert!(seen.contains("Stopped Shutdown"), "{seen}");
    ok("virsh", &uri, &["undefine", &name]);
}

#[test]
fn agent_errors_follow_libvirt() {
    let Some(guest) = guest_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let reaper = QemuReaper::default();
    let pid = std::process::id();
    // No channel: not configured.
    let bare = format!("noagentchan{pid}");
    let uri = define_and_start(
        &daemon,
        &reaper,
        tmp.path(),
        &bare,
        &agent_guest_xml(&guest, &bare, false, false),
    );
    let err = stderr_of(&uri, &["domtime", &bare]);
    assert!(
        err.contains("argument unsupported: QEMU guest agent is not configured"),
        "{err}"
    );
    let err = stderr_of(&uri, &["domifaddr", &bare, "--source", "agent"]);
    assert!(err.contains("QEMU guest agent is not configured"), "{err}");
    // A channel nobody opens: not connected, at once.
    let silent = format!("silentagent{pid}");
    define_and_start(
        &daemon,
        &reaper,
        tmp.path(),
        &silent,
        &agent_guest_xml(&guest, &silent, true, false),
    );
    for args in [
        vec!["domtime", silent.as_str()],
        vec![
            "qemu-agent-command",
            silent.as_str(),
            r#"{"execute":"guest-ping"}"#,
        ],
        vec!["dompmsuspend", silent.as_str(), "mem"],
        vec!["shutdown", silent.as_str(), "--mode", "agent"],
    ] {
        let err = stderr_of(&uri, &args);
        assert!(
            err.contains("Guest agent is not responding: QEMU guest agent is not connected"),
            "{args:?}: {err}"
        );
    }
    let live = ok("virsh", &uri, &["dumpxml", &silent]);
    assert!(live.contains("state='disconnected'"), "{live}");
    // Paused: the agent is not asked.
    ok("virsh", &uri, &["suspend", &silent]);
    let err = stderr_of(&uri, &["domtime", &silent]);
    assert!(err.contains("domain is not running"), "{err}");
    for name in [&bare, &silent] {
        ok("virsh", &uri, &["destroy", name]);
        ok("virsh", &uri, &["undefine", name]);
    }
}

#[test]
fn python_libvirt_sees_the_agent_connect_and_asks_it() {
    let Some(guest) = guest_or_skip() else {
        return;
    };
    let Some(python) = crate::support::python::libvirt_python() else {
        panic!("python3-libvirt is needed (tests/run installs it)");
    };
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(tmp.path());
    let _reaper = QemuReaper::default();
    let name = format!("pyagent{}", std::process::id());
    let xml = tmp.path().join("pyagent.xml");
    std::fs::write(&xml, agent_guest_xml(&guest, &name, true, true)).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/qemu_agent.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(daemon.uri())
        .arg(&xml)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    // Connected (1), told by the channel (2).
    assert!(stdout.contains(&format!("agent {name} 1 2")), "{stdout}");
    let delta: i64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("time "))
        .and_then(|d| d.trim().parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(delta.abs() < 600, "{stdout}");
    assert!(stdout.contains("hostname agentguest"), "{stdout}");
    assert!(stdout.contains("kernel 6."), "{stdout}");
    assert!(stdout.contains(r#"ping {"return":{}}"#), "{stdout}");
    assert!(
        stdout.contains("timeout error 8 invalid argument: guest agent timeout '-3' is less than the minimum '-2'"),
        "{stdout}"
    );
    assert!(stdout.contains("xml-connected True"), "{stdout}");
    assert!(stdout.contains("complete True"), "{stdout}");
}
