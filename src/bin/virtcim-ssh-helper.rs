//! `virtcim-ssh-helper [-r] URI`: the far end of the ssh transport (a `virt-ssh-helper` stand-in). Relays its
//! stdin/stdout to virtcimd's unix socket: `libvirt-sock`, or `libvirt-sock-ro` with `-r`, in `/run/libvirt` (root)
//! or `$XDG_RUNTIME_DIR/libvirt`; `VIRTCIM_SOCK_DIR` overrides the directory, a `socket=` URI parameter the path.
//! EOF on either side ends the relay.

use std::path::PathBuf;
use std::process::ExitCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NAME: &str = "virtcim-ssh-helper";

fn usage() -> ExitCode {
    eprintln!("usage: {NAME} [-r|--readonly] URI");
    ExitCode::from(1)
}

fn socket_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIRTCIM_SOCK_DIR").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/libvirt");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("libvirt"),
        None => PathBuf::from("/run/libvirt"),
    }
}

fn main() -> ExitCode {
    let mut read_only = false;
    let mut uri = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-r" | "--readonly" => read_only = true,
            "-h" | "--help" => return usage(),
            _ if uri.is_none() => uri = Some(arg),
            _ => return usage(),
        }
    }
    let Some(uri) = uri else {
        return usage();
    };
    let uri = match virtcim::Uri::parse(&uri) {
        Ok(uri) => uri,
        Err(err) => {
            eprintln!("{NAME}: invalid URI '{uri}': {err}");
            return ExitCode::from(1);
        }
    };
    let path = match uri.param("socket") {
        Some(socket) => PathBuf::from(socket),
        None => socket_dir().join(if read_only {
            "libvirt-sock-ro"
        } else {
            "libvirt-sock"
        }),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{NAME}: cannot start: {err}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(relay(path));
    // stdin is read on a blocking thread that cannot be interrupted; leave without waiting for it.
    runtime.shutdown_background();
    code
}

async fn relay(path: PathBuf) -> ExitCode {
    let socket = match tokio::net::UnixStream::connect(&path).await {
        Ok(socket) => socket,
        Err(err) => {
            eprintln!(
                "{NAME}: cannot connect to '{}': {}",
                path.display(),
                virtcim::error::io_error_text(&err)
            );
            return ExitCode::from(1);
        }
    };
    let (mut from_daemon, mut to_daemon) = socket.into_split();
    let upstream = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 65536];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if to_daemon.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let downstream = async {
        let mut stdout = tokio::io::stdout();
        let mut buf = vec![0u8; 65536];
        loop {
            match from_daemon.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if stdout.write_all(&buf[..n]).await.is_err() || stdout.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    // Whichever side ends first ends the relay: the daemon hung up, or the client (ssh) went away.
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
    ExitCode::SUCCESS
}
