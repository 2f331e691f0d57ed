//! Running stock virsh from the peer tests: whether it is installed, one command's outcome, and a command that
//! must succeed quietly.
#![allow(dead_code)]

pub fn have_virsh() -> bool {
    std::process::Command::new("virsh")
        .arg("--version")
        .output()
        .is_ok()
}

/// `virsh -c URI ARGS...`: (success, stdout, stderr). Autostarting a local daemon is off.
pub async fn virsh(uri: &str, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new("virsh")
        .arg("-c")
        .arg(uri)
        .args(args)
        .env("LIBVIRT_AUTOSTART", "0")
        .output()
        .await
        .expect("virsh runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The stdout of a command that must succeed with nothing on stderr.
pub async fn ok(uri: &str, args: &[&str]) -> String {
    let (success, stdout, stderr) = virsh(uri, args).await;
    assert!(success, "virsh -c {uri} {args:?} failed: {stdout}{stderr}");
    assert!(stderr.trim().is_empty(), "virsh {args:?} stderr: {stderr}");
    stdout
}
