//! The Python peers: python3-libvirt under Debian's python, and pywbem / pywbemcli in a venv under `target/`
//! (`VIRTCIM_VENV`, made by `tests/run`; created here on first use otherwise), plus a runner that keeps TLS settings
//! from the environment out of a peer's way.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The python with python3-libvirt (`VIRTCIM_SYSTEM_PYTHON`, default `/usr/bin/python3`), if `import libvirt`
/// works there.
pub fn libvirt_python() -> Option<PathBuf> {
    let python = std::env::var_os("VIRTCIM_SYSTEM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"));
    let works = Command::new(&python)
        .args(["-c", "import libvirt"])
        .output()
        .is_ok_and(|out| out.status.success());
    works.then_some(python)
}

/// The venv holding pywbem and pywbemtools.
pub fn venv_dir() -> PathBuf {
    std::env::var_os("VIRTCIM_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::repo_root().join("target/venv"))
}

/// The Python of the venv holding pywbem and pywbemtools (installed on first use; one installer at a time in
/// this process, so parallel tests do not run pip over each other).
pub fn venv_python() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = venv_dir();
    let python = venv.join("bin/python");
    let ready = |py: &Path| {
        py.exists()
            && venv.join("bin/pywbemcli").exists()
            && Command::new(py)
                .args(["-c", "import pywbem"])
                .status()
                .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return python;
    }
    if !python.exists() {
        let system = std::env::var_os("VIRTCIM_SYSTEM_PYTHON").unwrap_or_else(|| "python3".into());
        let status = Command::new(system)
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(
            status.success(),
            "python3 -m venv {} failed",
            venv.display()
        );
    }
    let out = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "pywbem", "pywbemtools"])
        .output()
        .expect("pip");
    assert!(
        ready(&python),
        "could not install pywbem/pywbemtools into {} (is PyPI reachable?): {}",
        venv.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    python
}

/// pywbemcli of the venv.
pub fn pywbemcli() -> PathBuf {
    venv_python().parent().expect("venv bin").join("pywbemcli")
}

/// Runs a command; returns (success, stdout, stderr).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    // TLS verification settings must come from the command line alone.
    cmd.env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .env_remove("SSL_CERT_FILE")
        .stdin(Stdio::null());
    let out = cmd.output().expect("run peer");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether sblim's wbemcli is installed.
pub fn have_wbemcli() -> bool {
    Command::new("wbemcli").arg("-h").output().is_ok()
}

/// `wbemcli ARGS...`, which must succeed; returns stdout.
pub fn wbemcli(args: &[&str]) -> String {
    let (ok, out, err) = run(Command::new("wbemcli").args(args));
    assert!(ok, "wbemcli {args:?} failed:\n{out}\n{err}");
    out
}

/// The Redfish emulator the QEMU tests drive, pinned as in `PIP_REQUIREMENTS` of `tests/run`.
pub const SUSHY_TOOLS: &str = "sushy-tools==2.2.0";

/// `sushy-emulator` of the venv (installed there on first use), or None when it cannot be had.
pub fn sushy_emulator() -> Option<PathBuf> {
    static INSTALL: Mutex<()> = Mutex::new(());
    let python = venv_python();
    let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let bin = python.parent()?.join("sushy-emulator");
    let ready = || {
        bin.exists()
            && Command::new(&python)
                .args(["-c", "import sushy_tools"])
                .status()
                .is_ok_and(|s| s.success())
    };
    if !ready() {
        let out = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", SUSHY_TOOLS])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        if !ready() {
            eprintln!(
                "could not install {SUSHY_TOOLS}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
    }
    Some(bin)
}

/// A directory holding only python3-libvirt's modules (links to Debian's `libvirt.py` and `libvirtmod`), for
/// `PYTHONPATH` of a venv program that uses libvirt without seeing the rest of Debian's packages.
pub fn libvirt_module_dir(under: &Path) -> Option<PathBuf> {
    let python = libvirt_python()?;
    let out = Command::new(python)
        .args([
            "-c",
            "import libvirt, libvirtmod; print(libvirt.__file__); print(libvirtmod.__file__)",
        ])
        .output()
        .ok()?;
    let dir = under.join("python-libvirt");
    std::fs::create_dir_all(&dir).ok()?;
    for file in String::from_utf8_lossy(&out.stdout).lines() {
        let file = Path::new(file.trim());
        std::os::unix::fs::symlink(file, dir.join(file.file_name()?)).ok()?;
    }
    Some(dir)
}
