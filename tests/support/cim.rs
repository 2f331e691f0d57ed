//! Shared helpers for the CIM tests: the DMTF CIM 2.49 schema unpacked once per test process, and loaders
//! that read MOF files from a directory for the (pure) MOF compiler.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use virtcim::{MofCompiler, MofError, MofStats, Repository};

/// The DMTF schema zip kept in the shared research tree (a copy of the one in pywbem's test data).
pub fn dmtf_zip() -> PathBuf {
    let from_env = std::env::var_os("VIRTCIM_DMTF_ZIP").map(PathBuf::from);
    from_env.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/research/cim/dmtf/cim_schema_2.49.0Final-MOFs.zip")
    })
}

/// Unpacks the DMTF zip under cargo's per-target temp dir (once; reused by later runs) and returns the
/// directory holding `cim_schema_2.49.0.mof`.
pub fn dmtf_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let zip = dmtf_zip();
        assert!(
            zip.exists(),
            "DMTF schema zip not found at {} (set VIRTCIM_DMTF_ZIP)",
            zip.display()
        );
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dmtf-cim-2.49.0");
        if dir.join("cim_schema_2.49.0.mof").exists() {
            return dir;
        }
        // Unpack beside the final name and rename, so an interrupted run never leaves a partial tree.
        let partial = dir.with_extension(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        let status = Command::new("unzip")
            .args(["-q", "-o"])
            .arg(&zip)
            .arg("-d")
            .arg(&partial)
            .status()
            .expect("run unzip (apt-get install unzip)");
        assert!(status.success(), "unzip failed");
        if std::fs::rename(&partial, &dir).is_err() {
            // Another process won the race; use its copy.
            let _ = std::fs::remove_dir_all(&partial);
        }
        dir
    })
    .as_path()
}

/// A loader that reads files relative to `root`.
pub fn dir_loader(root: &Path) -> impl FnMut(&str) -> Result<String, String> + '_ {
    move |name: &str| std::fs::read_to_string(root.join(name)).map_err(|e| e.to_string())
}

/// Compiles `file` (relative to `root`) into `repo` with `namespace` as the starting namespace.
pub fn compile_into(
    repo: &mut Repository,
    namespace: &str,
    root: &Path,
    file: &str,
) -> Result<MofStats, MofError> {
    let mut compiler = MofCompiler::new(repo, namespace, dir_loader(root));
    compiler.compile_file(file)
}

/// The whole DMTF schema compiled into namespace `root/cimv2` (once per process).
pub fn dmtf_repo() -> &'static Repository {
    static REPO: OnceLock<Repository> = OnceLock::new();
    REPO.get_or_init(|| {
        let mut repo = Repository::new();
        compile_into(&mut repo, "root/cimv2", dmtf_dir(), "cim_schema_2.49.0.mof")
            .expect("DMTF schema compiles");
        repo
    })
}

/// The `mof/` directory of this crate.
pub fn our_mof_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mof")
}

/// The venv with pywbem under target/ (created on first use).
pub fn pywbem_python() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/venv");
    let python = venv.join("bin/python");
    let has_pywbem = |py: &Path| {
        Command::new(py)
            .args(["-c", "import pywbem"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && has_pywbem(&python) {
        return python;
    }
    let status = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status()
        .expect("run python3 -m venv");
    assert!(
        status.success(),
        "python3 -m venv {} failed",
        venv.display()
    );
    let output = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "pywbem"])
        .output()
        .expect("run pip");
    assert!(
        output.status.success() && has_pywbem(&python),
        "could not install pywbem from PyPI into {} (is PyPI reachable?):\n{}",
        venv.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    python
}
