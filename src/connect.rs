//! Opening a driver from a URI: which driver serves it, in this process or through the daemon.

use crate::driver::read_only::ReadOnly;
use crate::driver::test::TestDriver;
use crate::driver::Driver;
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use std::path::PathBuf;
use std::sync::Arc;

/// What a caller can tell `connect` besides the URI.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Where an in-process driver keeps its state; `None` is [`default_state_dir`].
    pub state_dir: Option<PathBuf>,
    /// Open read-only: every state-changing call is refused with code 29.
    pub read_only: bool,
}

/// The state directory of in-process drivers: `$VIRTCIM_STATE_DIR`, else `/var/lib/virtcim` for root, else
/// `$XDG_STATE_HOME/virtcim` (default `~/.local/state/virtcim`).
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIRTCIM_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/virtcim");
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("virtcim");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
    PathBuf::from(home).join(".local/state/virtcim")
}

/// Opens the driver that serves `uri`.
pub async fn connect(uri: &str, options: &ConnectOptions) -> Result<Arc<dyn Driver>> {
    match uri {
        "test:///default" => {
            let dir = options.state_dir.clone().unwrap_or_else(default_state_dir);
            let driver: Arc<dyn Driver> = TestDriver::open(&dir.join("test")).await?;
            Ok(if options.read_only {
                Arc::new(ReadOnly::new(driver))
            } else {
                driver
            })
        }
        other => Err(Error::with_detail(
            ErrorCode::NO_CONNECT,
            ErrorDomain::NONE,
            other,
        )),
    }
}
