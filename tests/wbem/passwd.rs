//! `virtcim-passwd` manages the credential store the WBEM server reads: add, passwd, delete, list.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use virtcim::CredentialStore;

const TOOL: &str = env!("CARGO_BIN_EXE_virtcim-passwd");

fn tool(file: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(TOOL)
        .arg("-f")
        .arg(file)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn virtcim-passwd");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn add_change_list_delete() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials.json");
    assert!(tool(&file, &["add", "alice"], "pw1\n").0);
    assert!(tool(&file, &["add", "bob", "virtcim", "example.org"], "pw2\n").0);
    let (ok, _, err) = tool(&file, &["add", "alice"], "x\n");
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = tool(&file, &["add", "carol"], "\n");
    assert!(!ok && err.contains("empty password"), "{err}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!std::fs::read_to_string(&file).unwrap().contains("pw1"));
    let store = CredentialStore::load(&file).unwrap();
    assert!(store.verify_password("alice", "pw1"));
    assert_eq!(store.user("bob").unwrap().digest_md5.len(), 2);
    assert!(tool(&file, &["passwd", "alice"], "pw3\n").0);
    assert!(CredentialStore::load(&file)
        .unwrap()
        .verify_password("alice", "pw3"));
    let (ok, out, _) = tool(&file, &["list"], "");
    assert!(ok);
    assert_eq!(out, "alice\nbob\n");
    assert!(tool(&file, &["delete", "bob"], "").0);
    let (ok, _, err) = tool(&file, &["delete", "bob"], "");
    assert!(!ok && err.contains("no user"), "{err}");
    let (ok, _, err) = tool(&file, &["frobnicate", "x"], "");
    assert!(!ok && err.contains("--help"), "{err}");
    let (ok, _, err) = tool(&file, &["--frobnicate"], "");
    assert!(!ok && err.contains("unknown option"), "{err}");
}

#[test]
fn issue_interface_user_then_dash_d_and_dash_l() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nested/credentials");
    assert!(tool(&file, &["alice"], "pw1\n").0);
    assert!(tool(&file, &["-r", "vm", "bob"], "pw2\n").0);
    // A second `USER` changes the password rather than failing.
    assert!(tool(&file, &["alice"], "pw3\n").0);
    let store = CredentialStore::load(&file).unwrap();
    assert!(store.verify_password("alice", "pw3"));
    assert!(!store.verify_password("alice", "pw1"));
    assert!(store.user("bob").unwrap().digest_md5.contains_key("vm"));
    let (ok, out, _) = tool(&file, &["-l"], "");
    assert!(ok);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["alice", "bob"]);
    assert!(tool(&file, &["-d", "alice"], "").0);
    let (ok, _, err) = tool(&file, &["-d", "alice"], "");
    assert!(!ok && err.contains("alice"), "{err}");
    let (ok, out, _) = tool(&file, &["-l"], "");
    assert!(ok);
    assert_eq!(out.trim(), "bob");
    let (ok, _, err) = tool(&file, &["-d", "-l"], "");
    assert!(!ok && err.contains("--help"), "{err}");
}

#[test]
fn read_only_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials.json");
    // A new user with the flag: added (password read) and read-only.
    assert!(tool(&file, &["--read-only", "reader"], "pw1\n").0);
    assert!(tool(&file, &["writer"], "pw2\n").0);
    let store = CredentialStore::load(&file).unwrap();
    assert!(store.user("reader").unwrap().read_only);
    assert!(!store.user("writer").unwrap().read_only);
    assert!(store.verify_password("reader", "pw1"));
    let (ok, out, _) = tool(&file, &["-l"], "");
    assert!(ok);
    assert_eq!(out, "reader (read-only)\nwriter\n");
    // On an existing user only the flag changes; no password is read.
    assert!(tool(&file, &["--read-only", "writer"], "").0);
    assert!(tool(&file, &["--read-write", "reader"], "").0);
    let store = CredentialStore::load(&file).unwrap();
    assert!(store.user("writer").unwrap().read_only);
    assert!(!store.user("reader").unwrap().read_only);
    assert!(store.verify_password("writer", "pw2"));
    // A password change keeps the flag.
    assert!(tool(&file, &["passwd", "writer"], "pw3\n").0);
    let store = CredentialStore::load(&file).unwrap();
    assert!(store.user("writer").unwrap().read_only);
    assert!(store.verify_password("writer", "pw3"));
    for args in [
        &["--read-only", "--read-write", "x"][..],
        &["--read-only", "-l"],
        &["--read-only", "-d", "writer"],
    ] {
        let (ok, _, err) = tool(&file, args, "");
        assert!(!ok && err.contains("--"), "{args:?}: {err}");
    }
}
