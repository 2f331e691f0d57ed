//! The `virtcimd` daemon binary: command line, logging, configuration, then the library's [`virtcim::Daemon`].

use std::io::IsTerminal;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use virtcim::{default_config_path, Config, Daemon, DaemonOptions};

const USAGE: &str = "\
Usage: virtcimd [OPTIONS]

Serves virtual machines over libvirt's native RPC and CIM-XML (WBEM).

Options:
  -f, --config FILE     configuration file (default: /etc/virtcim/virtcimd.conf for root,
                        else $XDG_CONFIG_HOME/virtcim/virtcimd.conf; built-in defaults if it is missing)
  -p, --pid-file FILE   write the daemon's pid to FILE while it runs
  -h, --help            show this help
  -V, --version         show the version

Logging goes to stderr; RUST_LOG selects the level (default: info).
SIGTERM or SIGINT stops the daemon cleanly (exit status 0). A bad configuration, an unusable
state directory, or one in use by another daemon ends it with exit status 1.
";

struct Args {
    config: Option<PathBuf>,
    pid_file: Option<PathBuf>,
}

enum Parsed {
    Run(Args),
    Exit(ExitCode),
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut out = Args {
        config: None,
        pid_file: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<PathBuf, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .ok_or_else(|| format!("option {what} needs a file name"))
        };
        match name.as_str() {
            "-f" | "--config" => out.config = Some(value("--config")?),
            "-p" | "--pid-file" => out.pid_file = Some(value("--pid-file")?),
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(Parsed::Exit(ExitCode::SUCCESS));
            }
            "-V" | "--version" => {
                println!("virtcimd {}", env!("CARGO_PKG_VERSION"));
                return Ok(Parsed::Exit(ExitCode::SUCCESS));
            }
            other => return Err(format!("unknown option '{other}' (try --help)")),
        }
    }
    Ok(Parsed::Run(out))
}

/// Standard error that never fails: a log reader that went away (a closed pipe, a restarted journal) must not
/// stop the daemon, and tracing-subscriber reports a failed write by printing to stderr again, which panics.
struct LossyStderr;

impl std::io::Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LossyStderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn load_config(explicit: Option<PathBuf>) -> Result<Config, String> {
    match explicit {
        Some(path) => Config::load(&path).map_err(|err| err.to_string()),
        None => {
            let path = default_config_path();
            if path.exists() {
                Config::load(&path).map_err(|err| err.to_string())
            } else {
                tracing::info!(path = %path.display(), "no configuration file; using built-in defaults");
                Ok(Config::default())
            }
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Exit(code)) => return code,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "virtcimd: {message}");
            return ExitCode::FAILURE;
        }
    };
    init_logging();
    let config = match load_config(args.config) {
        Ok(config) => config,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "virtcimd: {message}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = writeln!(
                std::io::stderr(),
                "virtcimd: cannot start the async runtime: {err}"
            );
            return ExitCode::FAILURE;
        }
    };
    let options = DaemonOptions {
        pid_file: args.pid_file,
    };
    let result = runtime.block_on(async move {
        let mut daemon = Daemon::start(config, options)
            .await
            .map_err(|err| err.to_string())?;
        // Both front ends start their listeners as the daemon's services.
        if let Err(err) = daemon.start_front_ends().await {
            daemon.stop().await;
            return Err(err.to_string());
        }
        daemon.run().await.map_err(|err| err.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "virtcimd: {message}");
            ExitCode::FAILURE
        }
    }
}
