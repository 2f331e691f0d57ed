//! QEMU processes: finding the binary, probing KVM, spawning detached (own process group, stderr to the domain's
//! log), telling whether a pid is still our QEMU, signalling it, and reading its CPU time from `/proc`.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// The emulator the driver runs when a definition names none.
pub const DEFAULT_EMULATOR: &str = "qemu-system-x86_64";

/// Finds `name` in `PATH` (or takes it as is when it holds a `/`).
pub fn find_binary(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return path.is_file().then_some(path);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// QEMU's version as libvirt encodes it (major × 1 000 000 + minor × 1 000 + micro), from `--version`.
pub async fn emulator_version(emulator: &Path) -> Option<u64> {
    let output = tokio::process::Command::new(emulator)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split("version ").nth(1)?.split_whitespace().next()?;
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let micro = parts.next().flatten().unwrap_or(0);
    Some(major * 1_000_000 + minor * 1_000 + micro)
}

/// Whether KVM really works: `/dev/kvm` opens read-write and a QEMU with `accel=kvm` starts and reports KVM
/// enabled over QMP (a kernel module alone is not enough: nested or paravirtual hosts can refuse VM creation).
pub async fn probe_kvm(emulator: &Path) -> bool {
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return false;
    }
    let child = tokio::process::Command::new(emulator)
        .args([
            "-machine",
            "pc,accel=kvm",
            "-m",
            "16",
            "-S",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-qmp",
            "stdio",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else { return false };
    let script = b"{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-kvm\"}\n{\"execute\":\"quit\"}\n";
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(script).await;
    }
    match tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await {
        Ok(Ok(output)) => {
            output.status.success()
                && String::from_utf8_lossy(&output.stdout).contains("\"enabled\": true")
        }
        _ => false,
    }
}

/// The Linux bridges that exist (`/sys/class/net/*/bridge`).
pub fn host_bridges() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().join("bridge").is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

/// A free VNC port on 127.0.0.1 (5900 upwards), found by binding it.
pub fn free_vnc_port() -> Option<u16> {
    (super::command::VNC_BASE_PORT..super::command::VNC_BASE_PORT + 100)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
}

/// Spawns QEMU in its own process group (so the daemon's terminal signals and its exit leave it running), stdin
/// closed, stdout and stderr appended to `log`.
pub fn spawn(
    emulator: &Path,
    argv: &[String],
    log: &Path,
) -> std::io::Result<tokio::process::Child> {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let stdout = log_file.try_clone()?;
    tokio::process::Command::new(emulator)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log_file)
        .process_group(0)
        .kill_on_drop(false)
        .spawn()
}

/// Whether `pid` is a live (not zombie) process whose command line carries `marker` (the domain's UUID), so a
/// recycled pid is never mistaken for our guest.
pub fn is_our_process(pid: i32, marker: &str) -> bool {
    is_live(pid)
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|cmdline| {
                cmdline
                    .split(|b| *b == 0)
                    .any(|arg| arg == marker.as_bytes())
            })
            .unwrap_or(false)
}

/// Whether `pid` is a process on its way out: live, its command line already empty.
fn is_exiting(pid: i32) -> bool {
    is_live(pid)
        && std::fs::read(format!("/proc/{pid}/cmdline")).map_or(true, |cmdline| cmdline.is_empty())
}

/// Whether `pid` is a process that is neither a zombie nor gone.
fn is_live(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}

/// Sends `signal` to `pid` if it is still our process.
pub fn signal(pid: i32, marker: &str, signal: Signal) {
    if is_our_process(pid, marker) {
        // It may exit between the check and the signal; ESRCH is then the right outcome.
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// Waits until `pid` is no longer our process, up to `limit`; returns whether it is gone. A process still
/// exiting counts as there: the kernel empties its command line before it becomes a zombie, and a stop reported
/// in that window would name a QEMU that still runs.
pub async fn wait_gone(pid: i32, marker: &str, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if !is_our_process(pid, marker) && !is_exiting(pid) {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Ends a QEMU that did not leave by itself: SIGTERM, then SIGKILL after `grace`.
pub async fn terminate(pid: i32, marker: &str, grace: Duration) {
    signal(pid, marker, Signal::SIGTERM);
    if !wait_gone(pid, marker, grace).await {
        signal(pid, marker, Signal::SIGKILL);
        wait_gone(pid, marker, Duration::from_secs(5)).await;
    }
}

/// CPU time (user + system) used by `pid`, in nanoseconds; 0 when unreadable.
pub fn cpu_time_ns(pid: i32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    // After the command name: state is field 3; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let total = ticks(11).saturating_add(ticks(12));
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(100);
    total.saturating_mul(1_000_000_000 / hz)
}

/// The last `max` bytes of a log file, for error messages about a QEMU that would not start.
pub fn log_tail(log: &Path, max: usize) -> String {
    let Ok(bytes) = std::fs::read(log) else {
        return String::new();
    };
    let start = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_recognised_only_with_its_marker() {
        let pid = i32::try_from(std::process::id()).unwrap();
        let arg0 = std::env::args().next().unwrap();
        assert!(is_our_process(pid, &arg0));
        assert!(!is_our_process(pid, "no-such-argument-7f3a"));
        assert!(!is_our_process(0, &arg0));
        assert!(cpu_time_ns(pid) > 0 || cpu_time_ns(pid) == 0);
    }
}
