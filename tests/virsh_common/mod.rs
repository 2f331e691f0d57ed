//! Running stock virsh from the peer tests: whether it is installed, one command's outcome, a command that must
//! succeed quietly, and our RPC server on unix sockets for virsh to talk to.
#![allow(dead_code)]

pub fn have_virsh() -> bool {
    std::process::Command::new("virsh")
        .arg("--version")
        .output()
        .is_ok()
}

/// How long one virsh run may take before it is called stuck.
const VIRSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `virsh -c URI ARGS...`: (success, stdout, stderr). Autostarting a local daemon is off. A run that hangs is
/// killed: against libvirt's embedded test driver (the reference, which now and then never returns from a job
/// such as `managedsave` under load) it is run once more; against our daemon a hang fails the test.
pub async fn virsh(uri: &str, args: &[&str]) -> (bool, String, String) {
    let run = || {
        tokio::process::Command::new("virsh")
            .arg("-c")
            .arg(uri)
            .args(args)
            .env("LIBVIRT_AUTOSTART", "0")
            .kill_on_drop(true)
            .output()
    };
    let output = match tokio::time::timeout(VIRSH_TIMEOUT, run()).await {
        Ok(output) => output,
        Err(_) if uri.starts_with("test:///") => {
            eprintln!(
                "virsh -c {uri} {args:?} hung in libvirt's embedded driver; running it again"
            );
            tokio::time::timeout(VIRSH_TIMEOUT, run())
                .await
                .unwrap_or_else(|_| panic!("virsh -c {uri} {args:?} hung twice"))
        }
        Err(_) => panic!("virsh -c {uri} {args:?} did not finish in {VIRSH_TIMEOUT:?}"),
    }
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

/// Starts our RPC server (test driver, state in `dir`) on a read-write and a read-only unix socket in `dir`;
/// returns their URIs.
pub fn serve(dir: &std::path::Path) -> (String, String) {
    use std::sync::Arc;
    use virtcim::{RpcServer, ServerConfig};
    let options = virtcim::ConnectOptions {
        state_dir: Some(dir.to_path_buf()),
        read_only: false,
    };
    let opener = virtcim::Registry::new(options);
    let server = RpcServer::new(Arc::new(opener), ServerConfig::default());
    let rw_path = dir.join("libvirt-sock");
    let ro_path = dir.join("libvirt-sock-ro");
    tokio::spawn(
        server
            .clone()
            .serve_unix(RpcServer::bind_unix(&rw_path).unwrap(), false),
    );
    tokio::spawn(server.serve_unix(RpcServer::bind_unix(&ro_path).unwrap(), true));
    (
        format!("test+unix:///default?socket={}", rw_path.display()),
        format!("test+unix:///default?socket={}", ro_path.display()),
    )
}
