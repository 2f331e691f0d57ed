//! The one support module of every integration test binary: our daemon spawned with its log captured
//! ([`daemon`]), the raw wire client ([`raw`]), in-process RPC servers ([`server`]), the peers (virsh, python3-libvirt,
//! pywbem, pywbemcli, wbemcli: [`virsh`], [`python`]), the WBEM daemon and HTTP client ([`wbem`]), test
//! certificates ([`pki`]), a stock libvirtd ([`libvirtd`]), the DMTF schema and MOF loaders ([`cim`]) and QEMU
//! guests ([`qemu`]). Each binary includes it whole, so some items are unused in some binaries.
#![allow(dead_code)]

pub mod agent_guest;
pub mod cim;
pub mod daemon;
pub mod libvirtd;
pub mod pki;
pub mod python;
pub mod qemu;
pub mod raw;
pub mod server;
pub mod virsh;
pub mod wbem;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The runtime an in-process server under test gets: 2 worker threads, as the daemon has on these machines.
pub fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Calls per second of `threads` threads, each calling the worker `make` gave it (a client with its
/// connection, say) until `duration` has passed, at least once: the load loop of the benchmarks.
pub fn calls_per_second<W: FnMut() + Send + 'static>(
    threads: usize,
    duration: Duration,
    make: impl Fn() -> W,
) -> f64 {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let mut work = make();
            let done = std::sync::Arc::clone(&done);
            std::thread::spawn(move || loop {
                work();
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if Instant::now() >= deadline {
                    break;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("load thread");
    }
    #[allow(clippy::cast_precision_loss)]
    let rate =
        done.load(std::sync::atomic::Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    rate
}

/// A TCP port on 127.0.0.1 nobody listens on right now (bound once, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

/// Polls `done` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `program arg` runs and succeeds (a peer is installed).
pub fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Whether `pid` is a live process (a zombie counts as gone).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `tests/`, such as `peers/cim_world.py`.
pub fn tests_file(relative: &str) -> PathBuf {
    repo_root().join("tests").join(relative)
}

/// The name libtest knows a test by, for re-running one test of this binary in a child process:
/// `test_path(module_path!(), "name")` (the module path without the crate's own name).
pub fn test_path(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_, inner)) => format!("{inner}::{name}"),
        None => name.to_string(),
    }
}
