//! One world, and a remote host behind the WBEM front (issue 6 items 4 and 5). `virtcimd` runs the test
//! driver with its unix socket and WBEM HTTP on loopback; stock virsh and pywbem change the same domains and
//! each sees the other's changes at once. Then two daemons: the second listens on TCP (auth none), the first
//! serves it through `wbem_connect_uri = "test+tcp://..."`, and CIM calls on the first are checked with virsh
//! against the second.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use crate::support::daemon::{start_virtcimd, Logged};
use crate::support::python::{run, venv_python};
use crate::support::virsh::have_virsh;
use crate::support::wbem::{prepare_state, Options, Wbem};

fn world_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_world.py")
}

fn unix_uri(dir: &Path) -> String {
    format!(
        "test+unix:///default?socket={}",
        dir.join("run/libvirt-sock").display()
    )
}

#[test]
fn virsh_and_cim_see_each_others_changes() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let python = venv_python();
    let wbem = Wbem::start(Options::default());
    let (ok, out, err) = run(Command::new(python)
        .arg(world_script())
        .arg("world")
        .arg(wbem.url())
        .arg(unix_uri(wbem.dir.path())));
    assert!(
        ok && out.contains("OK "),
        "cim_world.py world:\n{out}\n{err}"
    );
    eprintln!("cim_world.py world: {}", out.trim());
}

/// Labels a command result in assertion messages.
trait Tap {
    fn tap(self, what: &str) -> Self;
}

impl Tap for (bool, String, String) {
    fn tap(self, what: &str) -> Self {
        let (ok, out, err) = self;
        (ok, out, format!("{err}\n(wbemcli ein {what})"))
    }
}

/// A daemon started with extra configuration lines; stopped on drop.
struct Daemon {
    _process: Logged,
    dir: tempfile::TempDir,
    wbem: Option<SocketAddr>,
}

impl Daemon {
    fn start(extra_config: &str, domains: usize) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        prepare_state(&state, domains);
        let config = format!(
            "state_dir = \"{}\"\nunix_sock_dir = \"{}\"\n{extra_config}",
            state.display(),
            dir.path().join("run").display()
        );
        let conf = dir.path().join("virtcimd.conf");
        std::fs::write(&conf, config).expect("write config");
        let process = start_virtcimd(&conf);
        let wbem = process.logged_addr("WBEM HTTP listening");
        Daemon {
            _process: process,
            dir,
            wbem,
        }
    }
}

#[test]
fn the_wbem_front_serves_a_remote_daemons_domains() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let python = venv_python();
    let port = crate::support::free_port();
    let remote_config = format!(
        "listen_tcp = 1\nlisten_tls = 0\nlisten_addr = \"127.0.0.1\"\ntcp_port = {port}\nauth_tcp = \"none\"\n"
    );
    let remote_uri = format!("test+tcp://127.0.0.1:{port}/default");
    // The front starts before its remote host: it serves, and answers CIM_ERR_FAILED until the host is up.
    let front = Daemon::start(
        &format!(
            "listen_wbem_http = 1\nwbem_http_port = 0\nwbem_listen_addr = \"127.0.0.1\"\nwbem_auth = \"none\"\n\
             wbem_connect_uri = \"{remote_uri}\"\n"
        ),
        1,
    );
    let wbem = front.wbem.expect("the front listens for WBEM");
    let ein = |what: &str| {
        run(Command::new("wbemcli")
            .arg("ein")
            .arg(format!("http://{wbem}/root/virt:KVM_ComputerSystem")))
        .tap(what)
    };
    let (ok, out, err) = ein("before the remote host is up");
    assert!(!ok && err.contains("CIM_ERR_FAILED"), "{out}{err}");
    let remote = Daemon::start(&remote_config, 5);
    let (ok, out, err) = run(Command::new(python)
        .arg(world_script())
        .arg("remote")
        .arg(format!("http://{wbem}"))
        .arg(&remote_uri)
        .arg(unix_uri(front.dir.path())));
    assert!(
        ok && out.contains("OK "),
        "cim_world.py remote:\n{out}\n{err}"
    );
    eprintln!("cim_world.py remote: {}", out.trim());
    // The remote daemon restarts (a new one on the same port): the front reconnects by itself.
    drop(remote);
    let (ok, out, err) = ein("while the remote host is down");
    assert!(!ok && err.contains("CIM_ERR_FAILED"), "{out}{err}");
    let _remote = Daemon::start(&remote_config, 2);
    let (ok, out, err) = ein("after the remote host restarted");
    assert!(ok, "{out}{err}");
    let mut names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.rsplit("Name=\"").next())
        .map(|n| n.trim_end_matches('"'))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["test", "vm000", "vm001"], "{out}");
}
