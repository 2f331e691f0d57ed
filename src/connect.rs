//! Opening a driver from a URI: which driver serves it, in this process or through the daemon.

use crate::driver::read_only::ReadOnly;
use crate::driver::remote::{RemoteDriver, RemoteOptions};
use crate::driver::test::TestDriver;
use crate::driver::Driver;
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::uri::Uri;
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
///
/// As in libvirt, `test:///default` is opened inside this process (its state under `options.state_dir`, else
/// [`default_state_dir`]). Every other URI belongs to a daemon (`qemu:///system` through its unix socket, anything
/// with a transport or host over the network) and is reached through the remote driver.
pub async fn connect(uri: &str, options: &ConnectOptions) -> Result<Arc<dyn Driver>> {
    let parsed = Uri::parse(uri)?;
    check_missing_slash(uri, &parsed)?;
    if parsed.is_local_in_process() {
        return match parsed.path.as_str() {
            "/default" => {
                let dir = options.state_dir.clone().unwrap_or_else(default_state_dir);
                let driver: Arc<dyn Driver> = TestDriver::open(&dir.join("test")).await?;
                Ok(if options.read_only { Arc::new(ReadOnly::new(driver)) } else { driver })
            }
            "" | "/" => Err(Error::invalid_arg(
                ErrorDomain::TEST,
                "testOpen: supply a path or use test:///default",
            )),
            path => Err(Error::with_detail(
                ErrorCode::NO_SUPPORT,
                ErrorDomain::TEST,
                format!(
                    "test driver configuration files are not supported ('{path}'); use test:///default"
                ),
            )),
        };
    }
    // Everything else lives in a daemon: the remote driver, with the read-only flag sent in CONNECT_OPEN and the
    // same local refusal an in-process read-only connection gives (libvirt's library refuses before any RPC).
    let remote_options = RemoteOptions {
        read_only: options.read_only,
        ..RemoteOptions::default()
    };
    let driver: Arc<dyn Driver> = RemoteDriver::open(&parsed, uri, &remote_options).await?;
    Ok(if options.read_only {
        Arc::new(ReadOnly::new(driver))
    } else {
        driver
    })
}

/// libvirt refuses `qemu://system` (a host called "system") with a hint, for drivers whose path is mandatory.
fn check_missing_slash(text: &str, uri: &Uri) -> Result<()> {
    let mandatory_path = matches!(uri.driver.as_str(), "qemu" | "vbox" | "vz");
    match uri.host.as_deref() {
        Some(host @ ("system" | "session")) if mandatory_path => Err(Error::internal(
            ErrorDomain::NONE,
            format!(
                "invalid URI {text} (maybe you want {}:///{host})",
                uri.driver
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open(uri: &str, dir: &std::path::Path) -> Result<Arc<dyn Driver>> {
        let options = ConnectOptions {
            state_dir: Some(dir.to_path_buf()),
            read_only: false,
        };
        connect(uri, &options).await
    }

    #[tokio::test]
    async fn test_default_opens_in_process() {
        let tmp = tempfile::tempdir().expect("tempdir");
        open("test:///default", tmp.path())
            .await
            .expect("test:///default");
    }

    #[tokio::test]
    async fn other_uris_get_libvirt_like_errors() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cases = [
            ("test:///", ErrorCode::INVALID_ARG, "supply a path"),
            (
                "test:///etc/custom.xml",
                ErrorCode::NO_SUPPORT,
                "test:///default",
            ),
            (
                "test+unix:///default?socket=/nonexistent/virtcim-sock",
                ErrorCode::SYSTEM_ERROR,
                "Failed to connect socket to '/nonexistent/virtcim-sock': No such file or directory",
            ),
            (
                "qemu+tcp://127.0.0.1:1/system",
                ErrorCode::SYSTEM_ERROR,
                "unable to connect to server at '127.0.0.1:1': Connection refused",
            ),
            (
                "qemu+tls://127.0.0.1/system?pkipath=/nonexistent",
                ErrorCode::SYSTEM_ERROR,
                "Cannot read CA certificate '/nonexistent/cacert.pem'",
            ),
            (
                "qemu://system",
                ErrorCode::INTERNAL_ERROR,
                "maybe you want qemu:///system",
            ),
            (
                "default",
                ErrorCode::NO_CONNECT,
                "does not include a driver name",
            ),
            (
                "test+bogus:///default",
                ErrorCode::INVALID_ARG,
                "transport in URL not recognised",
            ),
            (
                "qemu+ssh://h/system?no_tty=x",
                ErrorCode::INVALID_ARG,
                "URI component no_tty",
            ),
            (
                "test+tcp://h/a b",
                ErrorCode::INTERNAL_ERROR,
                "Unable to parse URI",
            ),
        ];
        for (uri, code, text) in cases {
            match open(uri, tmp.path()).await {
                Ok(_) => panic!("{uri} opened"),
                Err(err) => {
                    assert_eq!(err.code, code, "{uri}: {}", err.message);
                    assert!(err.message.contains(text), "{uri}: {}", err.message);
                }
            }
        }
    }
}
