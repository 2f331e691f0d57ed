//! The dnsmasq of one virtual network, run as libvirt runs it: a configuration file of its own (interface, DHCP
//! ranges, static hosts file, lease limit, pid file), started as a daemon, found again by its pid file and its
//! command line, told to re-read its hosts file with SIGHUP and stopped with SIGTERM. Leases are kept in
//! dnsmasq's own lease file, which [`parse_leases`] reads for `virNetworkGetDHCPLeases`.

use super::addr;
use crate::driver::NetworkDhcpLease;
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::NetworkDef;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The installed dnsmasq (Debian's dnsmasq-base).
const PROGRAM: &str = "dnsmasq";

/// Where one network's dnsmasq files live.
#[derive(Clone, Debug)]
pub struct Files {
    pub conf: PathBuf,
    pub pid: PathBuf,
    pub leases: PathBuf,
    pub hosts: PathBuf,
    pub addn_hosts: PathBuf,
    pub log: PathBuf,
}

impl Files {
    /// `state` keeps the configuration and leases, `run` the pid file.
    pub fn new(state: &Path, run: &Path, network: &str) -> Self {
        Self {
            conf: state.join(format!("{network}.conf")),
            pid: run.join(format!("{network}.pid")),
            leases: state.join(format!("{network}.leases")),
            hosts: state.join(format!("{network}.hostsfile")),
            addn_hosts: state.join(format!("{network}.addnhosts")),
            log: run.join(format!("{network}.dnsmasq.log")),
        }
    }
}

/// Whether a network needs a dnsmasq: a managed bridge with at least one address (for DNS, and DHCP when ranges
/// or hosts are given), as in libvirt.
pub fn wanted(def: &NetworkDef) -> bool {
    !matches!(def.forward_mode.as_deref(), Some("bridge")) && !def.ips.is_empty()
}

/// The configuration file's text.
pub fn conf(def: &NetworkDef, bridge: &str, files: &Files) -> String {
    let mut text = String::new();
    text.push_str(&format!(
        "##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n\
         ##OVERWRITTEN AND LOST.  Changes to this configuration should be made using:\n\
         ##    virsh net-edit {}\n\
         ## or other application using the libvirt API.\n\
         ##\n## dnsmasq conf file created by virtcimd\n",
        def.name
    ));
    text.push_str("strict-order\n");
    // Kept as root: the hosts file is re-read on SIGHUP from the daemon's private state directory.
    text.push_str("user=root\n");
    text.push_str(&format!("pid-file={}\n", files.pid.display()));
    text.push_str("except-interface=lo\nbind-dynamic\n");
    text.push_str(&format!("interface={bridge}\n"));
    let mut lease_max: u64 = 0;
    let mut dhcp = false;
    let mut v6_dhcp = false;
    for ip in &def.ips {
        let Some(prefix) = addr::prefix(ip) else {
            continue;
        };
        let v6 = ip.address.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6());
        let tail = if v6 {
            format!("{prefix}")
        } else {
            addr::netmask_v4(prefix).to_string()
        };
        for (start, end) in &ip.dhcp_ranges {
            text.push_str(&format!("dhcp-range={start},{end},{tail}\n"));
            lease_max += addr::range_size(start, end);
            dhcp = true;
            v6_dhcp |= v6;
        }
        if ip.dhcp_ranges.is_empty() && !ip.dhcp_hosts.is_empty() {
            // Static leases only: dnsmasq needs a range of the subnet to answer from.
            if let Some(subnet) = addr::Subnet::of(ip) {
                let network = subnet
                    .cidr
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                text.push_str(&format!("dhcp-range={network},static,{tail}\n"));
                dhcp = true;
                v6_dhcp |= v6;
            }
        }
    }
    if dhcp {
        text.push_str("dhcp-no-override\ndhcp-authoritative\n");
        if lease_max > 0 {
            text.push_str(&format!("dhcp-lease-max={lease_max}\n"));
        }
        text.push_str(&format!("dhcp-hostsfile={}\n", files.hosts.display()));
        text.push_str(&format!("dhcp-leasefile={}\n", files.leases.display()));
    }
    if v6_dhcp {
        text.push_str("enable-ra\n");
    }
    text.push_str(&format!("addn-hosts={}\n", files.addn_hosts.display()));
    text
}

/// The DHCP hosts file: one `mac,ip,name` line per static host (fields that are absent left out), as libvirt
/// writes it.
pub fn hostsfile(def: &NetworkDef) -> String {
    let mut text = String::new();
    for ip in &def.ips {
        let v6 = ip.address.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6());
        for host in &ip.dhcp_hosts {
            let addr = host
                .ip
                .as_deref()
                .map(|a| if v6 { format!("[{a}]") } else { a.to_string() });
            let fields: Vec<&str> = [host.mac.as_deref(), addr.as_deref(), host.name.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            text.push_str(&fields.join(","));
            text.push('\n');
        }
    }
    text
}

/// The leases in dnsmasq's lease file (`expiry mac ip hostname client-id` per line, `*` for none; `duid` lines
/// and IPv6 entries' IAIDs as dnsmasq writes them), only those of `mac` when given.
pub fn parse_leases(
    text: &str,
    def: &NetworkDef,
    bridge: &str,
    mac: Option<&str>,
) -> Vec<NetworkDhcpLease> {
    let opt = |field: Option<&str>| field.filter(|f| *f != "*").map(str::to_string);
    let wanted = mac.map(str::to_ascii_lowercase);
    let mut leases = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 || fields[0] == "duid" {
            continue;
        }
        let Ok(expiry) = fields[0].parse::<i64>() else {
            continue;
        };
        let Ok(ip) = fields[2].parse::<IpAddr>() else {
            continue;
        };
        // IPv4 lines carry the MAC; IPv6 lines carry the IAID in that place.
        let (lease_mac, iaid) = if ip.is_ipv6() {
            (None, Some(fields[1].to_string()))
        } else {
            (Some(fields[1].to_ascii_lowercase()), None)
        };
        if let Some(want) = &wanted {
            if lease_mac.as_deref() != Some(want.as_str()) {
                continue;
            }
        }
        let prefix = def
            .ips
            .iter()
            .find(|i| addr::contains(i, fields[2]))
            .and_then(addr::prefix)
            .unwrap_or(0);
        leases.push(NetworkDhcpLease {
            iface: bridge.to_string(),
            expiry_time: expiry,
            addr_type: i32::from(ip.is_ipv6()),
            mac: lease_mac,
            iaid,
            ip: Some(fields[2].to_string()),
            prefix,
            hostname: opt(fields.get(3).copied()),
            client_id: opt(fields.get(4).copied()),
        });
    }
    leases
}

/// Whether `pid` is a dnsmasq started with `files.conf`.
fn is_ours(pid: i32, files: &Files) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let wanted = format!("--conf-file={}", files.conf.display());
    cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == wanted.as_bytes())
}

/// The pid of the network's dnsmasq if it runs: its pid file names a live dnsmasq started with our file.
pub fn running_pid(files: &Files) -> Option<i32> {
    let text = std::fs::read_to_string(&files.pid).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    (pid > 0 && is_ours(pid, files)).then_some(pid)
}

fn failed(detail: String) -> Error {
    Error::with_detail(ErrorCode::OPERATION_FAILED, ErrorDomain::NETWORK, detail)
}

/// Starts dnsmasq with the files already written; returns its pid once its pid file names it.
pub async fn start(files: &Files) -> Result<i32> {
    let _ = std::fs::remove_file(&files.pid);
    let log = std::fs::File::create(&files.log)
        .map_err(|e| Error::system(ErrorDomain::NETWORK, "cannot create dnsmasq log", &e))?;
    let status = tokio::process::Command::new(PROGRAM)
        .arg(format!("--conf-file={}", files.conf.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .status()
        .await
        .map_err(|e| {
            Error::system(
                ErrorDomain::NETWORK,
                "cannot run 'dnsmasq' (install dnsmasq-base)",
                &e,
            )
        })?;
    if !status.success() {
        let said = std::fs::read_to_string(&files.log).unwrap_or_default();
        return Err(failed(format!("dnsmasq failed to start: {}", said.trim())));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(pid) = running_pid(files) {
            return Ok(pid);
        }
        if Instant::now() > deadline {
            return Err(failed(
                "dnsmasq started but wrote no pid file in time".to_string(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Tells a running dnsmasq to re-read its hosts files.
pub fn reload(pid: i32) -> Result<()> {
    kill(Pid::from_raw(pid), Signal::SIGHUP)
        .map_err(|e| failed(format!("cannot signal dnsmasq {pid}: {e}")))
}

/// Stops the network's dnsmasq if it runs (SIGTERM, then SIGKILL after 3 s) and removes its pid file.
pub async fn stop(files: &Files) {
    if let Some(pid) = running_pid(files) {
        let target = Pid::from_raw(pid);
        let _ = kill(target, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut killed = false;
        // Waits for the exit itself, not for the command line to vanish: an exiting process loses its memory
        // (and so its /proc command line) before it closes its sockets, and a new dnsmasq started in that window
        // cannot bind the network's address.
        while exiting_or_running(pid) {
            if !killed && Instant::now() > deadline {
                let _ = kill(target, Signal::SIGKILL);
                killed = true;
            }
            if Instant::now() > deadline + Duration::from_secs(2) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let _ = std::fs::remove_file(&files.pid);
}

/// Whether `pid` still exists and has not yet become a zombie (a zombie has closed its files).
fn exiting_or_running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state is the first field after the command name, which is in parentheses and may hold spaces.
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}
