//! The `virtcimd` binary: starts, reports ready, stops cleanly on SIGTERM, refuses bad configs and a busy state dir.
//!
//! Every test runs its own daemon on a temp dir and signals only the pid it started.

use nix::sys::signal::{kill, Signal};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::{spawn_virtcimd, Logged, STARTUP_TIMEOUT, VIRTCIMD};

/// Sends `signal` to our daemon and waits for it to exit; returns its status and all of its stderr.
fn stop_with(mut daemon: Logged, signal: Signal) -> (ExitStatus, String) {
    let status = daemon.signal_and_wait(signal);
    (status, daemon.log())
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("virtcimd did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the daemon to completion (it must exit by itself) and returns (status, stderr).
fn run_to_exit(args: &[&std::ffi::OsStr]) -> (ExitStatus, String) {
    let mut child = Command::new(VIRTCIMD)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn virtcimd");
    let status = wait_timeout(&mut child, STARTUP_TIMEOUT);
    let output = child.wait_with_output().expect("output");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (status, text)
}

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("virtcimd.conf");
    std::fs::write(&path, body).expect("write config");
    path
}

fn local_config(dir: &Path) -> std::path::PathBuf {
    write_config(dir, "state_dir = \"state\"\nunix_sock_dir = \"run\"\n")
}

#[test]
fn starts_and_stops_cleanly_on_sigterm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = local_config(tmp.path());
    let pid_file = tmp.path().join("virtcimd.pid");
    let mut daemon = spawn_virtcimd(
        &config,
        &["--pid-file", pid_file.to_str().expect("utf-8 path")],
    );
    daemon.wait_for("virtcimd ready");
    let recorded = std::fs::read_to_string(&pid_file).expect("pid file");
    assert_eq!(recorded.trim(), daemon.pid().to_string());
    assert!(tmp.path().join("state/virtcimd.lock").exists());

    let (status, stderr) = stop_with(daemon, Signal::SIGTERM);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert!(stderr.contains("virtcimd stopped"), "{stderr}");
    assert!(!pid_file.exists(), "pid file removed at exit");
}

#[test]
fn sigint_stops_too_and_sighup_does_not() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut daemon = spawn_virtcimd(&local_config(tmp.path()), &[]);
    daemon.wait_for("virtcimd ready");
    kill(daemon.pid(), Signal::SIGHUP).expect("SIGHUP");
    daemon.wait_for("SIGHUP received");
    assert!(daemon.alive(), "still running after SIGHUP");
    let (status, stderr) = stop_with(daemon, Signal::SIGINT);
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn state_survives_a_restart_on_the_same_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = local_config(tmp.path());
    for _ in 0..2 {
        let mut daemon = spawn_virtcimd(&config, &[]);
        daemon.wait_for("virtcimd ready");
        let (status, stderr) = stop_with(daemon, Signal::SIGTERM);
        assert_eq!(status.code(), Some(0), "{stderr}");
    }
}

#[test]
fn a_second_daemon_on_the_same_state_dir_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = local_config(tmp.path());
    let mut first = spawn_virtcimd(&config, &[]);
    first.wait_for("virtcimd ready");

    let (status, stderr) = run_to_exit(&["--config".as_ref(), config.as_os_str()]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("in use by another process"), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", first.pid())), "{stderr}");

    let (status, stderr) = stop_with(first, Signal::SIGTERM);
    assert_eq!(
        status.code(),
        Some(0),
        "the first daemon is unaffected: {stderr}"
    );
}

#[test]
fn a_bad_config_exits_1_naming_the_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("state_dir = \"state\"\nlisten_tpc = 1\n", "listen_tpc"),
        ("state_dir = \"state\"\ntcp_port = 99999\n", "tcp_port"),
        ("state_dir = \"state\"\nlog_level = 1\n", "log_level"),
    ];
    for (body, key) in cases {
        let config = write_config(tmp.path(), body);
        let (status, stderr) = run_to_exit(&["-f".as_ref(), config.as_os_str()]);
        assert_eq!(status.code(), Some(1), "{body}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains("virtcimd.conf:2"),
            "{body}: {stderr}"
        );
    }
    let (status, stderr) =
        run_to_exit(&["-f".as_ref(), tmp.path().join("missing.conf").as_os_str()]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No such file or directory"), "{stderr}");
}

#[test]
fn an_unusable_state_dir_exits_1() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("state"), b"a file, not a directory").expect("write");
    let config = local_config(tmp.path());
    let (status, stderr) = run_to_exit(&["--config".as_ref(), config.as_os_str()]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("state directory"), "{stderr}");
}

#[test]
fn help_version_and_bad_options() {
    let (status, out) = run_to_exit(&["--help".as_ref()]);
    assert_eq!(status.code(), Some(0));
    assert!(
        out.contains("--config FILE") && out.contains("SIGTERM"),
        "{out}"
    );
    let (status, out) = run_to_exit(&["--version".as_ref()]);
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        out.trim(),
        format!("virtcimd {}", env!("CARGO_PKG_VERSION"))
    );
    let (status, out) = run_to_exit(&["--listen".as_ref()]);
    assert_eq!(status.code(), Some(1));
    assert!(out.contains("unknown option '--listen'"), "{out}");
    let (status, out) = run_to_exit(&["--config".as_ref()]);
    assert_eq!(status.code(), Some(1));
    assert!(out.contains("needs a file name"), "{out}");
}

#[test]
fn a_log_reader_that_goes_away_does_not_stop_the_daemon() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = local_config(tmp.path());
    let mut daemon = spawn_virtcimd(&config, &[]);
    daemon.wait_for("virtcimd ready");
    // Close the read end of the daemon's stderr: every later log line now meets EPIPE.
    daemon.close_stderr();
    let socket = tmp.path().join("run/libvirt-sock");
    let uri = format!("test+unix:///default?socket={}", socket.display());
    // Each client connection logs; the daemon must keep serving through the failed writes.
    for _ in 0..3 {
        let out = Command::new(env!("CARGO_BIN_EXE_virtcim"))
            .args(["-c", &uri, "domstate", "test"])
            .output()
            .expect("run virtcim");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "running");
    }
    assert!(daemon.alive(), "daemon still running");
    let status = daemon.signal_and_wait(Signal::SIGTERM);
    assert_eq!(status.code(), Some(0));
}
