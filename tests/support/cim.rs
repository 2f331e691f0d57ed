//! The CIM tests' helpers: the DMTF CIM 2.49 schema, fetched once from PyPI (pywbem's source distribution carries
//! it as test data) into `target/cim-schema/` and unpacked there, and loaders that read MOF files from a directory
//! for the (pure) MOF compiler.
//!
//! Every pywbem sdist from 1.0.0b3 to 1.9.1 holds the same `tests/schema/cim_schema_2.49.0Final-MOFs.zip` (0.17.x
//! and 1.0.0b1/b2 do not); the version is pinned and the zip checked by digest, so a new release cannot change
//! what the tests compile. `VIRTCIM_DMTF_ZIP` names a local copy instead (offline runs).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest, Sha256};
use virtcim::{MofCompiler, MofError, MofStats, Repository};

/// The pywbem release whose sdist the schema comes from.
const PYWBEM_VERSION: &str = "1.9.1";
/// The schema zip inside that sdist.
const ZIP_MEMBER: &str = "tests/schema/cim_schema_2.49.0Final-MOFs.zip";
const ZIP_NAME: &str = "cim_schema_2.49.0Final-MOFs.zip";
/// SHA-256 of the zip (the same in every pywbem release that has it).
const ZIP_SHA256: &str = "101bf198d7b760833c02a4a5aa49e2f8216669fbc83715c61c934c71e47ed09b";

/// `target/cim-schema/`, the cache shared by every test binary and run.
pub fn cache_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.parent().unwrap_or(tmp);
    let dir = target.join("cim-schema");
    std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
    dir
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Holds an exclusive lock on `target/cim-schema/.lock` while alive: one fetcher at a time across processes.
fn cache_lock(dir: &Path) -> Flock<File> {
    let file = File::create(dir.join(".lock")).expect("cim-schema lock file");
    Flock::lock(file, FlockArg::LockExclusive)
        .unwrap_or_else(|(_, err)| panic!("lock cim-schema: {err}"))
}

fn run_checked(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{what}: cannot run ({err})"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Downloads pywbem's sdist (its URL and digest from PyPI's JSON API) and extracts the schema zip to `dest`. Runs
/// under the cache lock, so leftovers of an interrupted fetch can go.
fn fetch_zip(dir: &Path, dest: &Path) {
    for entry in std::fs::read_dir(dir)
        .expect("read cim-schema")
        .map_while(Result::ok)
    {
        if entry.file_name().to_string_lossy().starts_with("fetch-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let work = dir.join(format!("fetch-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("fetch dir");
    let meta = work.join("project.json");
    // The project document (every release's files) is what mirrors serve too; per-version documents may be missing.
    let api = "https://pypi.org/pypi/pywbem/json";
    run_checked(
        Command::new("curl")
            .args(["-fsSL", "--retry", "3", "-o"])
            .arg(&meta)
            .arg(api),
        &format!("curl {api} (is PyPI reachable? or set VIRTCIM_DMTF_ZIP)"),
    );
    let project: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).expect("project.json")).expect("PyPI JSON");
    let sdist = project["releases"][PYWBEM_VERSION]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["packagetype"] == "sdist"))
        .unwrap_or_else(|| panic!("no sdist of pywbem {PYWBEM_VERSION} on PyPI"));
    let url = sdist["url"].as_str().expect("sdist url");
    let digest = sdist["digests"]["sha256"].as_str().expect("sdist sha256");
    let tarball = work.join("pywbem.tar.gz");
    run_checked(
        Command::new("curl")
            .args(["-fsSL", "--retry", "3", "-o"])
            .arg(&tarball)
            .arg(url),
        &format!("curl {url}"),
    );
    assert_eq!(
        sha256_hex(&tarball),
        digest,
        "{url}: digest differs from PyPI's"
    );
    let member = format!("pywbem-{PYWBEM_VERSION}/{ZIP_MEMBER}");
    run_checked(
        Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&work)
            .arg(&member),
        &format!("tar -xzf pywbem-{PYWBEM_VERSION}.tar.gz {member}"),
    );
    let zip = work.join(&member);
    assert_eq!(
        sha256_hex(&zip),
        ZIP_SHA256,
        "{member}: not the expected schema zip"
    );
    // A finished zip appears under its final name at once, never half-written.
    std::fs::rename(&zip, dest).expect("move the schema zip into the cache");
    let _ = std::fs::remove_dir_all(&work);
}

/// The DMTF CIM 2.49 schema zip: `VIRTCIM_DMTF_ZIP` if set, else the cached copy, fetched on first use.
pub fn dmtf_zip() -> PathBuf {
    if let Some(local) = std::env::var_os("VIRTCIM_DMTF_ZIP") {
        return PathBuf::from(local);
    }
    let dir = cache_dir();
    let zip = dir.join(ZIP_NAME);
    if zip.exists() {
        return zip;
    }
    let _lock = cache_lock(&dir);
    if !zip.exists() {
        fetch_zip(&dir, &zip);
    }
    zip
}

/// Unpacks the DMTF zip under `target/cim-schema/` (once; reused by later runs) and returns the directory holding
/// `cim_schema_2.49.0.mof`.
pub fn dmtf_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let zip = dmtf_zip();
        assert!(
            zip.exists(),
            "DMTF schema zip not found at {}",
            zip.display()
        );
        let cache = cache_dir();
        let dir = cache.join("cim-2.49.0");
        if dir.join("cim_schema_2.49.0.mof").exists() {
            return dir;
        }
        let _lock = cache_lock(&cache);
        if dir.join("cim_schema_2.49.0.mof").exists() {
            return dir;
        }
        // Unpack beside the final name and rename, so an interrupted run never leaves a partial tree.
        let partial = dir.with_extension(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        run_checked(
            Command::new("unzip")
                .args(["-q", "-o"])
                .arg(&zip)
                .arg("-d")
                .arg(&partial),
            "unzip the DMTF schema (apt-get install unzip)",
        );
        std::fs::rename(&partial, &dir).expect("move the unpacked schema into place");
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

/// The venv's Python with pywbem.
pub fn pywbem_python() -> PathBuf {
    super::python::venv_python()
}
