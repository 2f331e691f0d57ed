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
    try_virsh(uri, args)
        .await
        .unwrap_or_else(|| panic!("virsh -c {uri} {args:?} hung twice"))
}

/// Like [`virsh`], but `None` when libvirt's embedded test driver hung twice (see [`reference_session`]).
pub async fn try_virsh(uri: &str, args: &[&str]) -> Option<(bool, String, String)> {
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
            tokio::time::timeout(VIRSH_TIMEOUT, run()).await.ok()?
        }
        Err(_) => panic!("virsh -c {uri} {args:?} did not finish in {VIRSH_TIMEOUT:?}"),
    }
    .expect("virsh runs");
    Some((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// What stock virsh prints for one session (commands joined with `;`) against libvirt's embedded test driver.
///
/// libvirt 9.0's embedded test driver sometimes never returns from `managedsave` on a loaded machine (CI hit it;
/// the same command line run alone hangs there too). The peer stays the reference: its answer is run live and,
/// with `VIRTCIM_RECORD_VIRSH=1`, saved under `tests/data/virsh-reference/`; only when it hangs twice is the saved
/// answer of that same peer used instead, and a missing one fails the test.
pub async fn reference_session(script: &str) -> (bool, String, String) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/virsh-reference")
        .join(format!("{:016x}.txt", fnv1a(script.as_bytes())));
    if let Some((ok, out, err)) = try_virsh("test:///default", &[script]).await {
        if std::env::var_os("VIRTCIM_RECORD_VIRSH").is_some() {
            let text = format!("{script}\n{ok}\n{}\n{out}\u{0}{err}", out.len());
            std::fs::create_dir_all(file.parent().expect("dir")).expect("reference dir");
            std::fs::write(&file, text).expect("write reference");
        }
        return (ok, out, err);
    }
    let text = std::fs::read_to_string(&file).unwrap_or_else(|_| {
        panic!("libvirt's embedded test driver hung twice on {script:?} and no saved answer exists")
    });
    eprintln!(
        "using the saved answer of libvirt's embedded test driver: {}",
        file.display()
    );
    let mut lines = text.splitn(4, '\n');
    assert_eq!(
        lines.next(),
        Some(script),
        "{} is for another script",
        file.display()
    );
    let ok = lines.next() == Some("true");
    let _len = lines.next();
    let rest = lines.next().unwrap_or_default();
    let (out, err) = rest.split_once('\u{0}').unwrap_or((rest, ""));
    (ok, out.to_string(), err.to_string())
}

/// FNV-1a: a file name for a script that stays the same across Rust versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The stdout of a command that must succeed with nothing on stderr.
pub async fn ok(uri: &str, args: &[&str]) -> String {
    let (success, stdout, stderr) = virsh(uri, args).await;
    assert!(success, "virsh -c {uri} {args:?} failed: {stdout}{stderr}");
    assert!(stderr.trim().is_empty(), "virsh {args:?} stderr: {stderr}");
    stdout
}

/// `virsh -c URI ARGS...` from a synchronous test, waited for: its whole output. Autostarting a local daemon is
/// off.
pub fn run_blocking(uri: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("virsh")
        .arg("-c")
        .arg(uri)
        .args(args)
        .env("LIBVIRT_AUTOSTART", "0")
        .output()
        .expect("virsh runs")
}

/// [`run_blocking`], which must succeed; its stdout.
pub fn ok_blocking(uri: &str, args: &[&str]) -> String {
    let out = run_blocking(uri, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "virsh {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// [`run_blocking`], which must fail; its stderr.
pub fn fails_blocking(uri: &str, args: &[&str]) -> String {
    let out = run_blocking(uri, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "virsh {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}
