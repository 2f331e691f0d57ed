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

/// Whether a network needs a dnsmasq: a managed bridge with at least one address, unless it has no DHCP and its
/// DNS is turned off (`<dns enable='no'>`), as in libvirt.
pub fn wanted(def: &NetworkDef) -> bool {
    if matches!(def.forward_mode.as_deref(), Some("bridge")) || def.ips.is_empty() {
        return false;
    }
    let dhcp = def
        .ips
        .iter()
        .any(|ip| !ip.dhcp_ranges.is_empty() || !ip.dhcp_hosts.is_empty());
    dhcp || def.dns.enable != Some(false)
}

/// Who dnsmasq runs as once started: `None` leaves it to dnsmasq's own default (it drops root for `nobody`, as
/// under libvirt, which writes no `user=`), which needs the files it re-reads on SIGHUP reachable by that user.
pub type RunAs = Option<&'static str>;

/// The reverse-lookup zone of a subnet (`virSocketAddrPTRDomain`): whole octets (IPv4) or nibbles (IPv6) only.
fn ptr_domain(address: &str, prefix: u32) -> Result<String> {
    let unsupported = |family: &str| {
        Error::with_detail(
            ErrorCode::CONFIG_UNSUPPORTED,
            ErrorDomain::NETWORK,
            format!(
                "PTR domain for {family} network with prefix {prefix} cannot be automatically created"
            ),
        )
    };
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            if prefix == 0 || !prefix.is_multiple_of(8) || prefix > 32 {
                return Err(unsupported("IPv4"));
            }
            let octets = v4.octets();
            let parts: Vec<String> = octets[..(prefix / 8) as usize]
                .iter()
                .rev()
                .map(u8::to_string)
                .collect();
            Ok(format!("{}.in-addr.arpa", parts.join(".")))
        }
        Ok(IpAddr::V6(v6)) => {
            if prefix == 0 || !prefix.is_multiple_of(4) || prefix > 128 {
                return Err(unsupported("IPv6"));
            }
            let nibbles: Vec<String> = v6
                .octets()
                .iter()
                .flat_map(|b| [b >> 4, b & 0xf])
                .take((prefix / 4) as usize)
                .map(|n| format!("{n:x}"))
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Ok(format!("{}.ip6.arpa", nibbles.join(".")))
        }
        Err(_) => Err(unsupported("IPv4")),
    }
}

/// The configuration file's text, line for line in the order libvirt writes it
/// (`networkDnsmasqConfContents`), with our lease file instead of libvirt's lease helper.
pub fn conf(def: &NetworkDef, bridge: &str, files: &Files, run_as: RunAs) -> Result<String> {
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
    if let Some(user) = run_as {
        text.push_str(&format!("user={user}\n"));
    }
    let dns = &def.dns;
    let want_dns = dns.enable != Some(false);
    if !want_dns {
        text.push_str("port=0\n");
    }
    if want_dns && !dns.forwarders.is_empty() {
        let mut no_resolv = false;
        for fwd in &dns.forwarders {
            text.push_str("server=");
            if let Some(domain) = &fwd.domain {
                text.push_str(&format!("/{domain}/"));
            }
            match &fwd.addr {
                Some(addr) => {
                    text.push_str(&format!("{addr}\n"));
                    no_resolv |= fwd.domain.is_none();
                }
                None => text.push_str("#\n"),
            }
        }
        if no_resolv {
            text.push_str("no-resolv\n");
        }
    }
    if let Some(domain) = &def.domain {
        if domain.local_only == Some(true) {
            text.push_str(&format!("local=/{}/\n", domain.name));
        }
        text.push_str(&format!("domain={}\nexpand-hosts\n", domain.name));
    }
    if want_dns {
        for ip in def.ips.iter().filter(|ip| ip.local_ptr == Some(true)) {
            let prefix = addr::prefix(ip).unwrap_or(0);
            text.push_str(&format!("local=/{}/\n", ptr_domain(&ip.address, prefix)?));
        }
        if dns.forward_plain_names == Some(false) {
            text.push_str("domain-needed\nlocal=//\n");
        }
    }
    text.push_str(&format!("pid-file={}\n", files.pid.display()));
    text.push_str("except-interface=lo\nbind-dynamic\n");
    text.push_str(&format!("interface={bridge}\n"));
    if def.forward_mode.is_none() {
        // Isolated: no default route for guests and nothing forwarded to the host's resolvers.
        text.push_str("dhcp-option=3\nno-resolv\nra-param=*,0,0\n");
    }
    if want_dns {
        for txt in &dns.txts {
            text.push_str(&format!("txt-record={},{}\n", txt.name, txt.value));
        }
        for srv in &dns.srvs {
            text.push_str(&format!("srv-host=_{}._{}", srv.service, srv.protocol));
            if let Some(domain) = &srv.domain {
                text.push_str(&format!(".{domain}"));
            }
            if let Some(target) = srv.target.as_deref().filter(|t| *t != ".") {
                text.push_str(&format!(",{target}"));
                let (port, priority, weight) = (
                    srv.port.unwrap_or(0),
                    srv.priority.unwrap_or(0),
                    srv.weight.unwrap_or(0),
                );
                if port != 0 || priority != 0 || weight != 0 {
                    text.push_str(&format!(",{}", if port == 0 { 1 } else { port }));
                }
                if priority != 0 || weight != 0 {
                    text.push_str(&format!(",{priority}"));
                }
                if weight != 0 {
                    text.push_str(&format!(",{weight}"));
                }
            }
            text.push('\n');
        }
    }
    let mut lease_max: u64 = 0;
    let mut dhcp = false;
    let mut v6_dhcp = false;
    for (v6, family) in [(false, "IPv4"), (true, "IPv6")] {
        let with_dhcp = def
            .ips
            .iter()
            .filter(|ip| {
                ip.address
                    .parse::<IpAddr>()
                    .is_ok_and(|a| a.is_ipv6() == v6)
                    && (!ip.dhcp_ranges.is_empty() || !ip.dhcp_hosts.is_empty())
            })
            .count();
        if with_dhcp > 1 {
            return Err(Error::with_detail(
                ErrorCode::CONFIG_UNSUPPORTED,
                ErrorDomain::NETWORK,
                format!("For {family}, multiple DHCP definitions cannot be specified."),
            ));
        }
    }
    let first = |v6: bool| {
        def.ips.iter().find(|ip| {
            ip.address
                .parse::<IpAddr>()
                .is_ok_and(|a| a.is_ipv6() == v6)
                && (!ip.dhcp_ranges.is_empty() || !ip.dhcp_hosts.is_empty())
        })
    };
    for (v6, ip) in [(false, first(false)), (true, first(true))] {
        let Some(ip) = ip else {
            continue;
        };
        let Some(prefix) = addr::prefix(ip) else {
            continue;
        };
        let tail = if v6 {
            format!("{prefix}")
        } else {
            addr::netmask_v4(prefix).to_string()
        };
        for (index, (start, end)) in ip.dhcp_ranges.iter().enumerate() {
            text.push_str(&format!("dhcp-range={start},{end},{tail}"));
            if let Some(lease) = ip.range_leases.get(index).and_then(Option::as_ref) {
                text.push_str(&format!(",{}", lease.dnsmasq()));
            }
            text.push('\n');
            lease_max += addr::range_size(start, end);
        }
        if ip.dhcp_ranges.is_empty() && !ip.dhcp_hosts.is_empty() {
            // Static leases only: dnsmasq needs a range of the subnet to answer from.
            text.push_str(&format!("dhcp-range={},static", ip.address));
            if v6 {
                text.push_str(&format!(",{prefix}"));
            }
            text.push('\n');
        }
        dhcp = true;
        v6_dhcp |= v6;
        if !v6 {
            text.push_str("dhcp-no-override\ndhcp-authoritative\n");
            if let Some(root) = &ip.tftp_root {
                text.push_str(&format!("enable-tftp\ntftp-root={root}\n"));
            }
            if let Some(file) = &ip.bootp_file {
                match &ip.bootp_server {
                    Some(server) => text.push_str(&format!("dhcp-boot={file},,{server}\n")),
                    None => text.push_str(&format!("dhcp-boot={file}\n")),
                }
            }
        }
    }
    if lease_max > 0 {
        text.push_str(&format!("dhcp-lease-max={lease_max}\n"));
    }
    if dhcp {
        text.push_str(&format!("dhcp-hostsfile={}\n", files.hosts.display()));
        text.push_str(&format!("dhcp-leasefile={}\n", files.leases.display()));
    }
    if want_dns {
        text.push_str(&format!("addn-hosts={}\n", files.addn_hosts.display()));
    }
    if let Some(mtu) = def.mtu {
        text.push_str(&format!("dhcp-option=option:mtu,{mtu}\n"));
    }
    if v6_dhcp {
        text.push_str("enable-ra\n");
    } else {
        for ip in &def.ips {
            if ip.address.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6()) {
                text.push_str(&format!("dhcp-range={},ra-only\n", ip.address));
            }
        }
    }
    for option in &def.dnsmasq_options {
        text.push_str(option);
        text.push('\n');
    }
    Ok(text)
}

/// The DHCP hosts file, one line per static host as libvirt writes it (`dnsmasqAddDhcpHost`): `mac,ip,name` for
/// IPv4 (fields that are absent left out), `id:DUID,name,[ip]` for IPv6, then the lease time if one is set.
pub fn hostsfile(def: &NetworkDef) -> String {
    let mut text = String::new();
    for ip in &def.ips {
        let v6 = ip.address.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6());
        for host in &ip.dhcp_hosts {
            let addr = host
                .ip
                .as_deref()
                .map(|a| if v6 { format!("[{a}]") } else { a.to_string() });
            let id = host.id.as_deref().map(|id| format!("id:{id}"));
            let fields: Vec<&str> = if v6 {
                [id.as_deref(), host.name.as_deref(), addr.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect()
            } else {
                [host.mac.as_deref(), addr.as_deref(), host.name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect()
            };
            text.push_str(&fields.join(","));
            if let Some(lease) = &host.lease {
                text.push(',');
                text.push_str(&lease.dnsmasq());
            }
            text.push('\n');
        }
    }
    text
}

/// The additional hosts file: the `<dns><host>` records, one `ip<TAB>name...` line each.
pub fn addn_hosts(def: &NetworkDef) -> String {
    let mut text = String::new();
    for host in &def.dns.hosts {
        text.push_str(&host.ip);
        for name in &host.hostnames {
            text.push('\t');
            text.push_str(name);
        }
        text.push('\n');
    }
    text
}

/// Lets dnsmasq, once it has dropped root, re-read the files in `dir`: the daemon's own directories from `dir` up
/// to `owned_top` get search permission for others (listing stays private: 0711, files stay 0600 but for the two
/// hosts files), provided every directory above `owned_top` is already searchable. False when it is not: dnsmasq
/// then has to stay root.
pub fn open_for_unprivileged(dir: &Path, owned_top: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let searchable =
        |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0);
    let above_ok = owned_top
        .ancestors()
        .skip(1)
        .all(|p| p.as_os_str().is_empty() || searchable(p));
    if !above_ok || !dir.starts_with(owned_top) {
        return false;
    }
    for owned in dir.ancestors().take_while(|p| p.starts_with(owned_top)) {
        let Ok(meta) = std::fs::metadata(owned) else {
            return false;
        };
        let mode = meta.permissions().mode() & 0o7777;
        let wanted = if owned == dir { 0o755 } else { mode | 0o011 };
        if mode != wanted
            && std::fs::set_permissions(owned, std::fs::Permissions::from_mode(wanted)).is_err()
        {
            return false;
        }
    }
    true
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
