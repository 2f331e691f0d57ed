//! The ext transport: `command=` runs with no arguments, its stdin/stdout carry the RPC stream, its environment is
//! reduced as libvirt's is, a program that dies at once fails the open clearly (with its stderr), and closing the
//! connection ends the program. Also virtcim-ssh-helper as the far end, and its missing-socket error.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use virtcim::{prelude::*, RemoteDriver, RemoteOptions, Uri};

use crate::support::alive;
use crate::support::server::serve_unix;

const HELPER: &str = env!("CARGO_BIN_EXE_virtcim-ssh-helper");

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// Single-quotes a path for the scripts the tests write.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

async fn open(uri: &str) -> virtcim::Result<Arc<RemoteDriver>> {
    let parsed = Uri::parse(uri).expect("uri");
    RemoteDriver::open(&parsed, uri, &RemoteOptions::default()).await
}

fn ext_uri(program: &Path) -> String {
    format!("test+ext:///default?command={}", program.display())
}

async fn domain_names(driver: &Arc<RemoteDriver>) -> Vec<String> {
    driver
        .list_all_domains(0)
        .await
        .expect("list")
        .into_iter()
        .map(|dom| dom.name)
        .collect()
}

#[tokio::test]
async fn ext_runs_the_command_over_nc_with_a_reduced_environment() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let socket = tmp.path().join("sock");
    serve_unix(&tmp.path().join("state"), &socket);
    let record = tmp.path().join("record");
    let program = script(
        tmp.path(),
        "via-nc",
        &format!(
            "echo \"args=$#\" > {rec}\necho \"pid=$$\" >> {rec}\nenv >> {rec}\nexec nc -U {sock}",
            rec = quoted(&record),
            sock = quoted(&socket)
        ),
    );
    let driver = open(&ext_uri(&program)).await.expect("ext open");
    assert_eq!(domain_names(&driver).await, ["test"]);
    assert!(!driver.is_encrypted().await.expect("encrypted"));

    let record = std::fs::read_to_string(&record).expect("record");
    let mut lines = record.lines();
    assert_eq!(lines.next(), Some("args=0"));
    let pid: i32 = lines
        .next()
        .and_then(|line| line.strip_prefix("pid="))
        .and_then(|pid| pid.parse().ok())
        .expect("pid line");
    let names: Vec<&str> = lines
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    assert!(record.contains("\nLC_ALL=C\n"), "{record}");
    assert!(names.contains(&"PATH"), "{record}");
    // What sh itself adds is fine; nothing else from our environment (cargo sets plenty) may leak through.
    let allowed = [
        "LC_ALL",
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "TMPDIR",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "PWD",
        "SHLVL",
        "_",
        "OLDPWD",
    ];
    for name in &names {
        assert!(allowed.contains(name), "{name} leaked: {record}");
    }

    // Closing our side ends the program (nc, which the script exec'd).
    assert!(alive(pid));
    driver.close().await.expect("close");
    drop(driver);
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(pid), "ext program {pid} outlived the connection");
}

#[tokio::test]
async fn ext_through_the_ssh_helper() {
    let tmp = tempfile::tempdir().expect("tempdir");
    serve_unix(&tmp.path().join("state"), &tmp.path().join("libvirt-sock"));
    let program = script(
        tmp.path(),
        "via-helper",
        &format!(
            "VIRTCIM_SOCK_DIR={} exec {} test:///default",
            quoted(tmp.path()),
            quoted(Path::new(HELPER))
        ),
    );
    let driver = open(&ext_uri(&program)).await.expect("ext via helper");
    assert_eq!(domain_names(&driver).await, ["test"]);
    driver.close().await.expect("close");
}

#[tokio::test]
async fn an_ext_program_that_exits_at_once_fails_clearly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let program = script(
        tmp.path(),
        "quitter",
        "echo 'quitter: no daemon here' >&2\nexit 3",
    );
    let started = Instant::now();
    let err = match tokio::time::timeout(Duration::from_secs(20), open(&ext_uri(&program)))
        .await
        .expect("no hang")
    {
        Ok(_) => panic!("opened"),
        Err(err) => err,
    };
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        err.message.contains("quitter: no daemon here"),
        "{}",
        err.message
    );

    // The helper with no daemon socket: its error reaches the message, as virt-ssh-helper's does.
    let program = script(
        tmp.path(),
        "helper-nosock",
        &format!(
            "VIRTCIM_SOCK_DIR={} exec {} test:///default",
            quoted(&tmp.path().join("nothing here")),
            quoted(Path::new(HELPER))
        ),
    );
    let err = match open(&ext_uri(&program)).await {
        Ok(_) => panic!("opened"),
        Err(err) => err,
    };
    assert!(
        err.message
            .contains("virtcim-ssh-helper: cannot connect to '")
            && err.message.contains("nothing here/libvirt-sock"),
        "{}",
        err.message
    );

    // No command, or one that cannot run.
    let err = open("test+ext:///default").await.err().expect("no command");
    assert!(err.message.contains("command"), "{}", err.message);
    let err = open("test+ext:///default?command=/nonexistent/prog")
        .await
        .err()
        .expect("bad command");
    assert!(err.message.contains("/nonexistent/prog"), "{}", err.message);
}

#[test]
fn the_helper_reports_a_missing_socket_and_exits_1() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(HELPER)
        .args(["-r", "test:///default"])
        .env("VIRTCIM_SOCK_DIR", tmp.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("helper");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot connect to '{}/libvirt-sock-ro'",
            tmp.path().display()
        )),
        "{stderr}"
    );
    let out = std::process::Command::new(HELPER).output().expect("helper");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}
