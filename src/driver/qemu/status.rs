//! The qemu driver's files: definitions (`NAME.xml`), autostart markers (`autostart/NAME`) and the live status
//! of running domains (`run/NAME.json`), all written atomically through `persist`.

use crate::driver::DomainState;
use crate::error::{Error, ErrorDomain, Result};
use crate::model::{DomainDef, DomainXmlOptions};
use crate::persist;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use uuid::Uuid;

const FORMAT_VERSION: u32 = 1;
const FULL_XML: DomainXmlOptions = DomainXmlOptions {
    id: None,
    secure: true,
};

/// What a running domain's status file records: enough to find the guest again after a daemon restart.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RunStatus {
    pub version: u32,
    pub uuid: Uuid,
    pub id: i32,
    pub pid: i32,
    pub qmp_socket: PathBuf,
    pub state: i32,
    pub reason: i32,
    /// Wall-clock ms since the epoch when QEMU was started.
    pub started_ms: u64,
    /// The running definition (a transient domain has no other).
    pub live_xml: String,
    pub persistent: bool,
    /// libvirt's taint names the run has been marked with (`custom-monitor`, ...), kept across a daemon restart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<String>,
}

/// Where a running QEMU is: its pid, QMP socket and start time.
pub struct ProcessInfo<'a> {
    pub pid: i32,
    pub qmp_socket: &'a Path,
    pub started_ms: u64,
}

impl RunStatus {
    pub fn new(
        def: &DomainDef,
        id: i32,
        (state, reason): (DomainState, i32),
        process: &ProcessInfo<'_>,
        persistent: bool,
    ) -> Self {
        Self {
            version: FORMAT_VERSION,
            uuid: def.uuid,
            id,
            pid: process.pid,
            qmp_socket: process.qmp_socket.to_path_buf(),
            state: state as i32,
            reason,
            started_ms: process.started_ms,
            live_xml: def.to_xml(&FULL_XML),
            persistent,
            taints: Vec::new(),
        }
    }
}

/// The driver's directories.
pub struct Files {
    pub root: PathBuf,
}

fn io_err(what: &str, path: &Path, err: &std::io::Error) -> Error {
    Error::system(
        ErrorDomain::QEMU,
        format!("cannot {what} {}", path.display()),
        err,
    )
}

impl Files {
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }
    pub fn autostart_dir(&self) -> PathBuf {
        self.root.join("autostart")
    }
    pub fn storage_dir(&self) -> PathBuf {
        self.root.join("storage")
    }
    /// Where managed save images live (`save/NAME.save`, as libvirt's `qemu/save/`).
    pub fn save_dir(&self) -> PathBuf {
        self.root.join("save")
    }

    /// Creates the directories (0700) and removes temp files of interrupted writes.
    pub fn prepare(&self) -> Result<()> {
        for dir in [
            self.root.clone(),
            self.run_dir(),
            self.log_dir(),
            self.autostart_dir(),
            self.storage_dir(),
            self.save_dir(),
        ] {
            persist::create_private_dir(&dir).map_err(|e| io_err("create", &dir, &e))?;
            persist::remove_temp_files(&dir).map_err(|e| io_err("clean", &dir, &e))?;
        }
        Ok(())
    }

    pub fn save_definition(&self, def: &DomainDef) -> Result<()> {
        let name = format!("{}.xml", def.name);
        persist::write_atomic(&self.root, &name, def.to_xml(&FULL_XML).as_bytes())
            .map_err(|e| io_err("save", &self.root.join(&name), &e))
    }

    pub fn remove_definition(&self, name: &str) -> Result<()> {
        let file = format!("{name}.xml");
        persist::remove_durable(&self.root, &file)
            .map_err(|e| io_err("remove", &self.root.join(&file), &e))?;
        self.set_autostart(name, false)
    }

    pub fn set_autostart(&self, name: &str, on: bool) -> Result<()> {
        let dir = self.autostart_dir();
        let result = if on {
            persist::write_atomic(&dir, name, b"")
        } else {
            persist::remove_durable(&dir, name)
        };
        result.map_err(|e| io_err("update", &dir.join(name), &e))
    }

    pub fn autostart(&self, name: &str) -> bool {
        self.autostart_dir().join(name).is_file()
    }

    pub fn save_status(&self, name: &str, status: &RunStatus) -> Result<()> {
        let dir = self.run_dir();
        let file = format!("{name}.json");
        let bytes = serde_json::to_vec_pretty(status).map_err(|e| {
            Error::internal(ErrorDomain::QEMU, format!("cannot encode status: {e}"))
        })?;
        persist::write_atomic(&dir, &file, &bytes).map_err(|e| io_err("save", &dir.join(&file), &e))
    }

    pub fn remove_status(&self, name: &str) -> Result<()> {
        let dir = self.run_dir();
        let file = format!("{name}.json");
        persist::remove_durable(&dir, &file).map_err(|e| io_err("remove", &dir.join(&file), &e))
    }

    /// Every definition that parses and whose file name matches its name; the others are skipped with a warning.
    pub fn load_definitions(&self, warnings: &mut Vec<String>) -> Vec<DomainDef> {
        let mut defs = Vec::new();
        for path in files_with_extension(&self.root, "xml") {
            let loaded = std::fs::read_to_string(&path)
                .map_err(|e| crate::error::io_error_text(&e))
                .and_then(|xml| DomainDef::from_xml(&xml, false).map_err(|e| e.message))
                .and_then(|def| {
                    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                    if stem == def.name {
                        Ok(def)
                    } else {
                        Err(format!(
                            "file name does not match domain name '{}'",
                            def.name
                        ))
                    }
                });
            match loaded {
                Ok(def) => defs.push(def),
                Err(why) => {
                    tracing::warn!(file = %path.display(), "skipping domain definition: {why}");
                    warnings.push(format!("{}: {why}", path.display()));
                }
            }
        }
        defs
    }

    /// Every status file that parses, with the name it was saved under.
    pub fn load_statuses(&self, warnings: &mut Vec<String>) -> Vec<(String, RunStatus)> {
        let mut found = Vec::new();
        for path in files_with_extension(&self.run_dir(), "json") {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            let loaded = std::fs::read(&path)
                .map_err(|e| crate::error::io_error_text(&e))
                .and_then(|b| {
                    serde_json::from_slice::<RunStatus>(&b)
                        .map_err(|e| format!("not a status record: {e}"))
                });
            match loaded {
                Ok(status) => found.push((name, status)),
                Err(why) => {
                    tracing::warn!(file = %path.display(), "skipping status file: {why}");
                    warnings.push(format!("{}: {why}", path.display()));
                }
            }
        }
        found
    }
}

fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|e| e == ext)
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| !n.starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
