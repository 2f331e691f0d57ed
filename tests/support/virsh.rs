//! Running stock virsh from the peer tests: whether it is installed, one command's outcome, and a command that must
//! succeed quietly. Our RPC server for virsh to talk to is [`super::server::serve`].

/// Whether stock virsh is installed.
pub fn have_virsh() -> bool {
    super::have("virsh", "--version")
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
