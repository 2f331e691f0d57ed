//! Statistics and information of QEMU guests, read as libvirt 9.0's qemu driver reads them: counters from QMP
//! (`query-blockstats`, `query-block`, `query-balloon`, the balloon's `guest-stats`, `query-cpus-fast`,
//! `query-dirty-rate`), CPU times, placement and affinity from `/proc/<pid>` and its vCPU threads' tasks, traffic
//! of bridged NICs from their taps in `/sys/class/net`.
//!
//! KVM's halt-polling times come from `query-stats`, as libvirt 9.0 takes them when QEMU has it.
//!
//! The driver puts no guest in a cgroup, so what libvirt reads from cgroups answers as libvirt does without
//! them (scheduler parameters of a running guest: "cgroup CPU controller is not mounted"), except the domain's
//! CPU totals, which come from `/proc` (as libvirt's bulk statistics take them there too).

use super::*;
use crate::driver::{
    BlockInfo, BlockStats, DomainStatsRecord, InterfaceStats, JobInfo, MemoryStat, TypedParam,
    TypedValue, VcpuInfo,
};
use crate::model::tunables::{map_of_cpus, parse_cpu_list};
use serde_json::Value;

/// `virDomainStatsTypes`, in the order libvirt fills a record.
mod group {
    pub const STATE: u32 = 1 << 0;
    pub const CPU_TOTAL: u32 = 1 << 1;
    pub const BALLOON: u32 = 1 << 2;
    pub const VCPU: u32 = 1 << 3;
    pub const INTERFACE: u32 = 1 << 4;
    pub const BLOCK: u32 = 1 << 5;
    pub const PERF: u32 = 1 << 6;
    pub const IOTHREAD: u32 = 1 << 7;
    pub const MEMORY: u32 = 1 << 8;
    pub const DIRTYRATE: u32 = 1 << 9;
    pub const VM: u32 = 1 << 10;
    pub const ALL: u32 = (1 << 11) - 1;
}

/// `virConnectGetAllDomainStatsFlags` beyond the domain filters.
const STATS_NOWAIT: u32 = 1 << 29;
const STATS_BACKING: u32 = 1 << 30;
const STATS_ENFORCE: u32 = 1 << 31;
const STATS_FILTERS: u32 = flags::LIST_DOMAINS_ACTIVE
    | flags::LIST_DOMAINS_INACTIVE
    | flags::LIST_DOMAINS_PERSISTENT
    | flags::LIST_DOMAINS_TRANSIENT
    | flags::LIST_DOMAINS_RUNNING
    | flags::LIST_DOMAINS_PAUSED
    | flags::LIST_DOMAINS_SHUTOFF
    | flags::LIST_DOMAINS_OTHER;

/// `VIR_DOMAIN_MEMORY_STAT_*` tags.
mod tag {
    pub const SWAP_IN: i32 = 0;
    pub const SWAP_OUT: i32 = 1;
    pub const MAJOR_FAULT: i32 = 2;
    pub const MINOR_FAULT: i32 = 3;
    pub const UNUSED: i32 = 4;
    pub const AVAILABLE: i32 = 5;
    pub const ACTUAL_BALLOON: i32 = 6;
    pub const RSS: i32 = 7;
    pub const USABLE: i32 = 8;
    pub const LAST_UPDATE: i32 = 9;
    pub const DISK_CACHES: i32 = 10;
    pub const HUGETLB_PGALLOC: i32 = 11;
    pub const HUGETLB_PGFAIL: i32 = 12;
}

/// The balloon's guest statistics in libvirt's order: (object, QEMU name, tag, divisor to KiB or counts).
const BALLOON_STATS: [(bool, &str, i32, u64); 11] = [
    (true, "stat-swap-in", tag::SWAP_IN, 1024),
    (true, "stat-swap-out", tag::SWAP_OUT, 1024),
    (true, "stat-major-faults", tag::MAJOR_FAULT, 1),
    (true, "stat-minor-faults", tag::MINOR_FAULT, 1),
    (true, "stat-free-memory", tag::UNUSED, 1024),
    (true, "stat-total-memory", tag::AVAILABLE, 1024),
    (true, "stat-available-memory", tag::USABLE, 1024),
    (false, "last-update", tag::LAST_UPDATE, 1),
    (true, "stat-disk-caches", tag::DISK_CACHES, 1024),
    (true, "stat-htlb-pgalloc", tag::HUGETLB_PGALLOC, 1),
    (true, "stat-htlb-pgfail", tag::HUGETLB_PGFAIL, 1),
];

/// `balloon.*` names of the memory statistics in the bulk record (the actual balloon is `balloon.current`).
fn balloon_field(tag: i32) -> Option<&'static str> {
    Some(match tag {
        tag::SWAP_IN => "swap_in",
        tag::SWAP_OUT => "swap_out",
        tag::MAJOR_FAULT => "major_fault",
        tag::MINOR_FAULT => "minor_fault",
        tag::UNUSED => "unused",
        tag::AVAILABLE => "available",
        tag::RSS => "rss",
        tag::LAST_UPDATE => "last-update",
        tag::USABLE => "usable",
        tag::DISK_CACHES => "disk_caches",
        tag::HUGETLB_PGALLOC => "hugetlb_pgalloc",
        tag::HUGETLB_PGFAIL => "hugetlb_pgfail",
        _ => return None,
    })
}

/// `VIR_VCPU_RUNNING`.
const VCPU_RUNNING: i32 = 1;
/// `VIR_DOMAIN_JOB_STATS_COMPLETED`, `VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED`.
const JOB_STATS_COMPLETED: u32 = 1 << 0;
const JOB_STATS_KEEP_COMPLETED: u32 = 1 << 1;
/// The balloon device the command line always adds (`virtio-balloon-pci,id=balloon0`).
const BALLOON_PATH: &str = "/machine/peripheral/balloon0";
/// The scheduler parameters libvirt's qemu driver reports, in its order, with their types (true: signed).
const SCHED_PARAMS: [(&str, bool); 9] = [
    ("cpu_shares", false),
    ("vcpu_period", false),
    ("vcpu_quota", true),
    ("emulator_period", false),
    ("emulator_quota", true),
    ("global_period", false),
    ("global_quota", true),
    ("iothread_period", false),
    ("iothread_quota", true),
];

// ---- /proc and /sys, parsed by pure functions ----

/// The fields of a `/proc/<pid>[/task/<tid>]/stat` line libvirt reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct TaskStat {
    utime: u64,
    stime: u64,
    rss_pages: u64,
    processor: i32,
}

/// Parses a stat line: after the parenthesised command name, state is field 3, utime 14, stime 15, rss 24 and
/// the CPU it last ran on 39.
fn parse_stat(text: &str) -> Option<TaskStat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied();
    Some(TaskStat {
        utime: field(14)?.parse().ok()?,
        stime: field(15)?.parse().ok()?,
        rss_pages: field(24)?.parse().ok()?,
        processor: field(39).and_then(|f| f.parse().ok()).unwrap_or(-1),
    })
}

fn task_dir(pid: i32, tid: Option<i32>) -> String {
    match tid {
        Some(tid) => format!("/proc/{pid}/task/{tid}"),
        None => format!("/proc/{pid}"),
    }
}

fn read_stat(pid: i32, tid: Option<i32>) -> Option<TaskStat> {
    parse_stat(&std::fs::read_to_string(format!("{}/stat", task_dir(pid, tid))).ok()?)
}

fn clock_ticks_ns(ticks: u64) -> u64 {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(100);
    ticks.saturating_mul(1_000_000_000 / hz)
}

fn page_kib() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .map(|bytes| bytes / 1024)
        .filter(|kib| *kib > 0)
        .unwrap_or(4)
}

/// The CPUs a task may run on, from `Cpus_allowed_list` of its status (what `sched_getaffinity` answers).
fn parse_affinity(status: &str) -> Option<Vec<u32>> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
    parse_cpu_list(line.trim()).ok()
}

fn affinity(pid: i32, tid: Option<i32>) -> Option<Vec<u32>> {
    parse_affinity(&std::fs::read_to_string(format!("{}/status", task_dir(pid, tid))).ok()?)
}

/// Time spent waiting on a run queue (ns): the second field of `schedstat`.
fn parse_schedstat_delay(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
}

/// `wait_sum` of a task's `sched` file (milliseconds with a fraction; nonzero only with schedstats on), in ns.
fn parse_sched_wait(text: &str) -> Option<u64> {
    let value = text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let key = key.trim();
        (key == "wait_sum" || key == "se.statistics.wait_sum").then_some(value.trim())
    })?;
    let (ms, frac) = value.split_once('.').unwrap_or((value, "0"));
    let ms: u64 = ms.parse().ok()?;
    let mut digits: String = frac.chars().take(6).collect();
    while digits.len() < 6 {
        digits.push('0');
    }
    let ns_part: u64 = digits.parse().ok()?;
    Some(ms.saturating_mul(1_000_000).saturating_add(ns_part))
}

/// The host's CPUs as libvirt counts them (`/sys/devices/system/cpu/present`: highest number + 1).
fn host_cpus() -> u32 {
    std::fs::read_to_string("/sys/devices/system/cpu/present")
        .ok()
        .and_then(|text| parse_cpu_list(text.trim()).ok())
        .and_then(|cpus| cpus.last().map(|c| c + 1))
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| u32::try_from(n.get()).unwrap_or(1))
                .unwrap_or(1)
        })
}

fn all_cpus() -> Vec<u32> {
    (0..host_cpus()).collect()
}

/// A tap's counters seen from the guest: the host's transmit is the guest's receive, so libvirt swaps them.
fn tap_stats(ifname: &str) -> Option<InterfaceStats> {
    if ifname.is_empty() || ifname.contains('/') || ifname.starts_with('.') {
        return None;
    }
    let dir = format!("/sys/class/net/{ifname}/statistics");
    let read = |name: &str| -> Option<i64> {
        std::fs::read_to_string(format!("{dir}/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some(InterfaceStats {
        rx_bytes: read("tx_bytes")?,
        rx_packets: read("tx_packets")?,
        rx_errs: read("tx_errors")?,
        rx_drop: read("tx_dropped")?,
        tx_bytes: read("rx_bytes")?,
        tx_packets: read("rx_packets")?,
        tx_errs: read("rx_errors")?,
        tx_drop: read("rx_dropped")?,
    })
}

/// Sizes of an image file not opened by QEMU: (capacity, allocation, physical). A qcow2 image's capacity is
/// the virtual size in its header; a raw one's is its length.
fn image_sizes(path: &str, format: Option<&str>) -> Option<(u64, u64, u64)> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let physical = if meta.file_type().is_file() {
        meta.len()
    } else {
        // A block device: its size is where a seek to the end lands.
        use std::io::Seek;
        std::fs::File::open(path)
            .ok()?
            .seek(std::io::SeekFrom::End(0))
            .ok()?
    };
    let allocation = if meta.file_type().is_file() {
        meta.blocks().saturating_mul(512)
    } else {
        physical
    };
    let mut capacity = physical;
    if format == Some("qcow2") {
        let mut header = [0u8; 32];
        std::fs::File::open(path)
            .ok()?
            .read_exact(&mut header)
            .ok()?;
        if &header[..4] == b"QFI\xfb" {
            capacity = u64::from_be_bytes(header[24..32].try_into().ok()?);
        }
    }
    Some((capacity, allocation, physical))
}

fn not_active() -> Error {
    Error::operation_invalid(ErrorDomain::QEMU, "domain is not running")
}

fn typed(field: impl Into<String>, value: TypedValue) -> TypedParam {
    TypedParam {
        field: field.into(),
        value,
    }
}

fn ull(field: impl Into<String>, value: u64) -> TypedParam {
    typed(field, TypedValue::ULLong(value))
}

fn clamp_i32(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn clamp_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn json_i64(value: &Value, key: &str) -> i64 {
    value.get(key).and_then(Value::as_i64).unwrap_or(0)
}

// ---- what QEMU reports, per disk ----

/// One disk's counters and sizes as QEMU reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct DiskCounters {
    rd_reqs: i64,
    rd_bytes: i64,
    rd_times: i64,
    wr_reqs: i64,
    wr_bytes: i64,
    wr_times: i64,
    fl_reqs: i64,
    fl_times: i64,
    wr_highest_offset: Option<u64>,
    /// `virtual-size` and `actual-size` of the image QEMU has open.
    capacity: Option<u64>,
    physical: Option<u64>,
}

/// The disk target a QMP block entry belongs to: the device it is attached to (`qdev`, the disk's alias as QEMU
/// id, or a QOM path under `/machine/peripheral/<id>/`); guests started by an older daemon named their nodes
/// `drive-<target>` and devices `disk-<target>`.
pub(super) fn entry_target(def: &DomainDef, entry: &Value) -> Option<String> {
    let qdev = entry
        .get("qdev")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let id = match qdev.split_once("/machine/peripheral/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or_default(),
        None => qdev,
    };
    if let Some(target) = super::alias::disk_target(def, id) {
        return Some(target);
    }
    let node = entry
        .get("node-name")
        .or_else(|| entry.get("inserted").and_then(|i| i.get("node-name")))
        .and_then(Value::as_str)
        .and_then(|n| n.strip_prefix("drive-"));
    let legacy = qdev
        .rsplit('/')
        .find(|part| part.starts_with("disk-"))
        .and_then(|q| q.strip_prefix("disk-"));
    node.or(legacy).map(str::to_string)
}

/// Merges `query-blockstats` and `query-block` answers into counters per disk target.
fn disk_counters(
    def: &DomainDef,
    blockstats: &Value,
    block: &Value,
) -> BTreeMap<String, DiskCounters> {
    let mut out: BTreeMap<String, DiskCounters> = BTreeMap::new();
    for entry in blockstats.as_array().into_iter().flatten() {
        let (Some(target), Some(stats)) = (entry_target(def, entry), entry.get("stats")) else {
            continue;
        };
        let c = out.entry(target).or_default();
        c.rd_reqs = json_i64(stats, "rd_operations");
        c.rd_bytes = json_i64(stats, "rd_bytes");
        c.rd_times = json_i64(stats, "rd_total_time_ns");
        c.wr_reqs = json_i64(stats, "wr_operations");
        c.wr_bytes = json_i64(stats, "wr_bytes");
        c.wr_times = json_i64(stats, "wr_total_time_ns");
        c.fl_reqs = json_i64(stats, "flush_operations");
        c.fl_times = json_i64(stats, "flush_total_time_ns");
        c.wr_highest_offset = stats.get("wr_highest_offset").and_then(Value::as_u64);
    }
    for entry in block.as_array().into_iter().flatten() {
        let Some(target) = entry_target(def, entry) else {
            continue;
        };
        let Some(image) = entry.get("inserted").and_then(|i| i.get("image")) else {
            continue;
        };
        let c = out.entry(target).or_default();
        c.capacity = image.get("virtual-size").and_then(Value::as_u64);
        c.physical = image.get("actual-size").and_then(Value::as_u64);
    }
    out
}

/// The disk a path names: its target (`vda`) or its source, as libvirt's `virDomainDiskByName` finds it.
fn find_disk<'a>(def: &'a DomainDef, path: &str) -> Option<&'a crate::model::DiskDef> {
    def.devices
        .disks
        .iter()
        .find(|d| d.target_dev == path)
        .or_else(|| {
            def.devices
                .disks
                .iter()
                .find(|d| d.source.as_deref() == Some(path))
        })
}

fn invalid_path(path: &str) -> Error {
    Error::invalid_arg(ErrorDomain::QEMU, format!("invalid path: {path}"))
}

/// The balloon and RSS statistics in libvirt's order, from `query-balloon`, the balloon's `guest-stats` and the
/// process's resident set.
fn memory_stats_from(
    balloon: Option<&Value>,
    guest: Option<&Value>,
    rss_kib: Option<u64>,
) -> Vec<MemoryStat> {
    let mut stats = Vec::new();
    if let Some(actual) = balloon
        .and_then(|b| b.get("actual"))
        .and_then(Value::as_u64)
    {
        stats.push(MemoryStat {
            tag: tag::ACTUAL_BALLOON,
            value: actual / 1024,
        });
    }
    if let Some(inner) = guest.and_then(|g| g.get("stats")) {
        for (in_stats, name, tag, divisor) in BALLOON_STATS {
            let object = if in_stats { Some(inner) } else { guest };
            // A counter the guest never reported reads -1 (all bits set as QEMU prints it): skipped, as libvirt
            // skips it.
            let value = object
                .and_then(|o| o.get(name))
                .and_then(Value::as_u64)
                .filter(|v| *v != u64::MAX);
            if let Some(value) = value {
                stats.push(MemoryStat {
                    tag,
                    value: value / divisor,
                });
            }
        }
    }
    if let Some(rss) = rss_kib {
        stats.push(MemoryStat {
            tag: tag::RSS,
            value: rss,
        });
    }
    stats
}

/// What one running guest is, copied out of the domain table so no lock is held across QMP calls.
struct Live {
    def: DomainDef,
    pid: i32,
    qmp: Arc<QmpClient>,
}

/// One vCPU: its index and the host thread that runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct VcpuThread {
    index: u32,
    tid: i32,
}

fn parse_vcpu_threads(value: &Value) -> Vec<VcpuThread> {
    let mut threads: Vec<VcpuThread> = value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|cpu| {
            Some(VcpuThread {
                index: u32::try_from(cpu.get("cpu-index")?.as_u64()?).ok()?,
                tid: i32::try_from(cpu.get("thread-id")?.as_i64()?).ok()?,
            })
        })
        .collect();
    threads.sort_by_key(|t| t.index);
    threads
}

/// Which definition a `AFFECT_*` read addresses: (definition, live).
enum Impact {
    Live(Box<Live>),
    Config(Box<DomainDef>),
}

impl QemuDriver {
    /// The running guest behind `dom`, or libvirt's "domain is not running".
    fn live(&self, dom: &DomainRef) -> Result<Live> {
        let domains = self.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        let run = obj.run.as_ref().ok_or_else(not_active)?;
        let def = obj.live.clone().ok_or_else(not_active)?;
        let qmp = run.qmp.clone().ok_or_else(|| {
            Error::with_detail(
                ErrorCode::OPERATION_FAILED,
                ErrorDomain::QEMU,
                format!("no QMP connection to domain '{}'", obj.name()),
            )
        })?;
        Ok(Live {
            def,
            pid: run.pid,
            qmp,
        })
    }

    /// The live or persistent definition an `AFFECT_*` read means, with libvirt's errors.
    fn impact(&self, dom: &DomainRef, affect: u32) -> Result<Impact> {
        let live_flag = affect & flags::AFFECT_LIVE != 0;
        let config_flag = affect & flags::AFFECT_CONFIG != 0;
        if live_flag && config_flag {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                "flags 'affect live' and 'affect config' are mutually exclusive",
            ));
        }
        let (running, persistent) = {
            let domains = self.domains();
            let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
            (obj.run.is_some(), obj.persistent.clone())
        };
        let live = live_flag || (!config_flag && running);
        if live {
            return Ok(Impact::Live(Box::new(self.live(dom)?)));
        }
        match persistent {
            Some(def) => Ok(Impact::Config(Box::new(def))),
            None => Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "transient domains do not have any persistent config",
            )),
        }
    }

    async fn query(&self, live: &Live, command: &str, args: Option<Value>) -> Result<Value> {
        live.qmp.execute(command, args).await.map_err(qmp_error)
    }

    async fn vcpu_threads(&self, live: &Live) -> Result<Vec<VcpuThread>> {
        Ok(parse_vcpu_threads(
            &self.query(live, "query-cpus-fast", None).await?,
        ))
    }

    async fn disk_counters(&self, live: &Live) -> Result<BTreeMap<String, DiskCounters>> {
        let blockstats = self.query(live, "query-blockstats", None).await?;
        let block = self.query(live, "query-block", None).await?;
        Ok(disk_counters(&live.def, &blockstats, &block))
    }

    async fn memory_stats_of(&self, live: &Live) -> Vec<MemoryStat> {
        // No balloon (or one QEMU refuses to report) leaves its statistics out, as in libvirt.
        let balloon = self.query(live, "query-balloon", None).await.ok();
        let guest = self
            .query(
                live,
                "qom-get",
                Some(json!({ "path": BALLOON_PATH, "property": "guest-stats" })),
            )
            .await
            .ok();
        let rss = read_stat(live.pid, None).map(|s| s.rss_pages.saturating_mul(page_kib()));
        memory_stats_from(balloon.as_ref(), guest.as_ref(), rss)
    }

    pub(super) async fn stats_block_stats(
        &self,
        dom: &DomainRef,
        path: &str,
    ) -> Result<BlockStats> {
        let live = self.live(dom)?;
        let counters = self.disk_counters(&live).await?;
        let pick = |c: &DiskCounters| BlockStats {
            rd_req: c.rd_reqs,
            rd_bytes: c.rd_bytes,
            wr_req: c.wr_reqs,
            wr_bytes: c.wr_bytes,
            errs: -1,
        };
        if path.is_empty() {
            // No path: the sum over every disk, as libvirt answers it.
            let mut sum = BlockStats {
                errs: -1,
                ..BlockStats::default()
            };
            for c in counters.values() {
                let one = pick(c);
                sum.rd_req += one.rd_req;
                sum.rd_bytes += one.rd_bytes;
                sum.wr_req += one.wr_req;
                sum.wr_bytes += one.wr_bytes;
            }
            return Ok(sum);
        }
        let disk = find_disk(&live.def, path).ok_or_else(|| invalid_path(path))?;
        counters
            .get(&disk.target_dev)
            .map(pick)
            .ok_or_else(|| no_stats(&disk.target_dev))
    }

    pub(super) async fn stats_block_stats_flags(
        &self,
        dom: &DomainRef,
        path: &str,
        stat_flags: u32,
    ) -> Result<Vec<TypedParam>> {
        check_flags(
            stat_flags,
            flags::TYPED_PARAM_STRING_OKAY,
            "virDomainBlockStatsFlags",
        )?;
        let live = self.live(dom)?;
        let counters = self.disk_counters(&live).await?;
        let c = if path.is_empty() {
            counters
                .values()
                .fold(DiskCounters::default(), |a, c| DiskCounters {
                    rd_reqs: a.rd_reqs + c.rd_reqs,
                    rd_bytes: a.rd_bytes + c.rd_bytes,
                    rd_times: a.rd_times + c.rd_times,
                    wr_reqs: a.wr_reqs + c.wr_reqs,
                    wr_bytes: a.wr_bytes + c.wr_bytes,
                    wr_times: a.wr_times + c.wr_times,
                    fl_reqs: a.fl_reqs + c.fl_reqs,
                    fl_times: a.fl_times + c.fl_times,
                    ..DiskCounters::default()
                })
        } else {
            let disk = find_disk(&live.def, path).ok_or_else(|| invalid_path(path))?;
            *counters
                .get(&disk.target_dev)
                .ok_or_else(|| no_stats(&disk.target_dev))?
        };
        // libvirt's order (virsh prints them in its own).
        Ok([
            ("wr_bytes", c.wr_bytes),
            ("wr_operations", c.wr_reqs),
            ("rd_bytes", c.rd_bytes),
            ("rd_operations", c.rd_reqs),
            ("flush_operations", c.fl_reqs),
            ("wr_total_times", c.wr_times),
            ("rd_total_times", c.rd_times),
            ("flush_total_times", c.fl_times),
        ]
        .into_iter()
        .map(|(name, value)| typed(name, TypedValue::LLong(value)))
        .collect())
    }

    pub(super) async fn stats_block_info(
        &self,
        dom: &DomainRef,
        path: &str,
        info_flags: u32,
    ) -> Result<BlockInfo> {
        check_flags(info_flags, 0, "virDomainGetBlockInfo")?;
        let (def, running) = {
            let domains = self.domains();
            let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
            (obj.def().clone(), obj.run.is_some())
        };
        let disk = find_disk(&def, path).ok_or_else(|| invalid_path(path))?;
        let source = disk.source.clone().ok_or_else(|| {
            Error::operation_invalid(
                ErrorDomain::QEMU,
                format!("disk '{}' does not currently have a source assigned", path),
            )
        })?;
        let on_disk = image_sizes(&source, disk.driver_type.as_deref());
        if !running {
            let (capacity, allocation, physical) = on_disk.ok_or_else(|| {
                Error::with_detail(
                    ErrorCode::SYSTEM_ERROR,
                    ErrorDomain::QEMU,
                    format!("cannot stat file '{source}'"),
                )
            })?;
            return Ok(BlockInfo {
                capacity,
                allocation,
                physical,
            });
        }
        let live = self.live(dom)?;
        let counters = self.disk_counters(&live).await?;
        let c = counters
            .get(&disk.target_dev)
            .ok_or_else(|| no_stats(&disk.target_dev))?;
        let actual = c.physical.unwrap_or(0);
        let qcow2 = disk.driver_type.as_deref() == Some("qcow2");
        let mut allocation = match c.wr_highest_offset {
            Some(offset) if !qcow2 => offset,
            _ => actual,
        };
        // As libvirt: a zero or equal allocation means a sparse image; then allocation is what QEMU says is in
        // use and physical the file's size.
        let physical = if actual == 0 || allocation == 0 || allocation == actual {
            if allocation == 0 {
                allocation = actual;
            }
            on_disk.map(|(_, _, physical)| physical).unwrap_or(actual)
        } else {
            actual
        };
        Ok(BlockInfo {
            capacity: c.capacity.unwrap_or(0),
            allocation,
            physical,
        })
    }

    pub(super) async fn stats_interface_stats(
        &self,
        dom: &DomainRef,
        device: &str,
    ) -> Result<InterfaceStats> {
        let live = self.live(dom)?;
        let nic = live.def.devices.interfaces.iter().find(|nic| {
            nic.target_dev.as_deref() == Some(device) || nic.mac.eq_ignore_ascii_case(device)
        });
        let unknown = || {
            Error::invalid_arg(
                ErrorDomain::QEMU,
                format!("'{device}' is not a known interface"),
            )
        };
        let ifname = nic.and_then(|n| n.target_dev.clone()).ok_or_else(unknown)?;
        tap_stats(&ifname).ok_or_else(|| {
            Error::with_detail(
                ErrorCode::SYSTEM_ERROR,
                ErrorDomain::QEMU,
                format!("cannot read the statistics of interface '{ifname}'"),
            )
        })
    }

    pub(super) async fn stats_memory_stats(
        &self,
        dom: &DomainRef,
        max_stats: u32,
        stat_flags: u32,
    ) -> Result<Vec<MemoryStat>> {
        check_flags(stat_flags, 0, "virDomainMemoryStats")?;
        let live = self.live(dom)?;
        let mut stats = self.memory_stats_of(&live).await;
        stats.truncate(max_stats as usize);
        Ok(stats)
    }

    pub(super) async fn stats_vcpu_info(
        &self,
        dom: &DomainRef,
        max_info: u32,
        map_len: u32,
    ) -> Result<(Vec<VcpuInfo>, Vec<u8>)> {
        let live = self.live(dom).map_err(|_| {
            Error::operation_invalid(
                ErrorDomain::QEMU,
                "cannot retrieve vcpu information for inactive domain",
            )
        })?;
        let threads = self.vcpu_threads(&live).await?;
        let mut infos = Vec::new();
        let mut maps = Vec::new();
        for thread in threads.iter().take(max_info as usize) {
            let stat = read_stat(live.pid, Some(thread.tid)).unwrap_or_default();
            infos.push(VcpuInfo {
                number: thread.index,
                state: VCPU_RUNNING,
                cpu_time_ns: clock_ticks_ns(stat.utime + stat.stime),
                cpu: stat.processor,
            });
            let cpus = affinity(live.pid, Some(thread.tid)).unwrap_or_else(all_cpus);
            maps.extend(map_of_cpus(&cpus, map_len as usize));
        }
        Ok((infos, maps))
    }

    pub(super) async fn stats_max_vcpus(&self, dom: &DomainRef) -> Result<i32> {
        let live = self.live(dom)?;
        Ok(i32::try_from(live.def.vcpus).unwrap_or(i32::MAX))
    }

    pub(super) async fn stats_vcpu_pin_info(
        &self,
        dom: &DomainRef,
        max_maps: u32,
        map_len: u32,
        pin_flags: u32,
    ) -> Result<(u32, Vec<u8>)> {
        check_flags(
            pin_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "virDomainGetVcpuPinInfo",
        )?;
        let (def, threads, pid) = match self.impact(dom, pin_flags)? {
            Impact::Live(live) => {
                let threads = self.vcpu_threads(&live).await?;
                (live.def, threads, Some(live.pid))
            }
            Impact::Config(def) => (*def, Vec::new(), None),
        };
        let count = max_maps.min(def.vcpus);
        let mut maps = Vec::new();
        for vcpu in 0..count {
            // A running vCPU's thread says where it may run; otherwise its pin, or every host CPU.
            let live_cpus = pid.and_then(|pid| {
                let thread = threads.iter().find(|t| t.index == vcpu)?;
                affinity(pid, Some(thread.tid))
            });
            let cpus = live_cpus
                .or_else(|| {
                    def.tunables
                        .vcpu_pins
                        .iter()
                        .find(|(n, _)| *n == vcpu)
                        .map(|(_, cpus)| cpus.clone())
                })
                .unwrap_or_else(all_cpus);
            maps.extend(map_of_cpus(&cpus, map_len as usize));
        }
        Ok((count, maps))
    }

    pub(super) async fn stats_emulator_pin_info(
        &self,
        dom: &DomainRef,
        map_len: u32,
        pin_flags: u32,
    ) -> Result<Vec<u8>> {
        check_flags(
            pin_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "virDomainGetEmulatorPinInfo",
        )?;
        let cpus = match self.impact(dom, pin_flags)? {
            Impact::Live(live) => affinity(live.pid, None),
            Impact::Config(def) => def.tunables.emulator_pin.clone(),
        }
        .unwrap_or_else(all_cpus);
        Ok(map_of_cpus(&cpus, map_len as usize))
    }

    pub(super) async fn stats_scheduler_type(&self, dom: &DomainRef) -> Result<(String, i32)> {
        let running = {
            let domains = self.domains();
            domains.get(&dom.uuid).ok_or_else(no_domain)?.run.is_some()
        };
        if running {
            return Err(no_cpu_controller());
        }
        Ok(("posix".into(), clamp_i32(SCHED_PARAMS.len())))
    }

    pub(super) async fn stats_scheduler_parameters(
        &self,
        dom: &DomainRef,
        sched_flags: u32,
    ) -> Result<Vec<TypedParam>> {
        check_flags(
            sched_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::TYPED_PARAM_STRING_OKAY,
            "virDomainGetSchedulerParametersFlags",
        )?;
        match self.impact(dom, sched_flags & !flags::TYPED_PARAM_STRING_OKAY)? {
            Impact::Live(_) => Err(no_cpu_controller()),
            // The definition holds no <cputune> shares, periods or quotas: each reads 0, libvirt's "unset".
            Impact::Config(_) => Ok(SCHED_PARAMS
                .iter()
                .map(|(name, signed)| {
                    typed(
                        *name,
                        if *signed {
                            TypedValue::LLong(0)
                        } else {
                            TypedValue::ULLong(0)
                        },
                    )
                })
                .collect()),
        }
    }

    pub(super) async fn stats_job_info(&self, dom: &DomainRef) -> Result<JobInfo> {
        self.live(dom)?;
        // The driver runs no background job (migration, dump, save): there is never one to report.
        Ok(JobInfo::default())
    }

    pub(super) async fn stats_job_stats(
        &self,
        dom: &DomainRef,
        job_flags: u32,
    ) -> Result<(i32, Vec<TypedParam>)> {
        check_flags(
            job_flags,
            JOB_STATS_COMPLETED | JOB_STATS_KEEP_COMPLETED,
            "virDomainGetJobStats",
        )?;
        if job_flags & JOB_STATS_COMPLETED == 0 {
            self.live(dom)?;
        } else {
            self.find(dom)?;
        }
        Ok((0, Vec::new()))
    }

    pub(super) async fn stats_cpu_stats(
        &self,
        dom: &DomainRef,
        nparams: u32,
        start_cpu: i32,
        ncpus: u32,
        cpu_flags: u32,
    ) -> Result<(Vec<TypedParam>, i32)> {
        check_flags(
            cpu_flags,
            flags::TYPED_PARAM_STRING_OKAY,
            "virDomainGetCPUStats",
        )?;
        let live = self.live(dom)?;
        if start_cpu == -1 {
            let total = self.cpu_totals(&live);
            let params: Vec<TypedParam> =
                total.into_iter().take(nparams as usize).collect::<Vec<_>>();
            let count = if nparams == 0 {
                3
            } else {
                clamp_i32(params.len())
            };
            return Ok((params, count));
        }
        let host = host_cpus();
        if ncpus == 0 {
            return Ok((Vec::new(), i32::try_from(host).unwrap_or(i32::MAX)));
        }
        if u32::try_from(start_cpu).unwrap_or(u32::MAX) >= host {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!(
                    "start_cpu {start_cpu} larger than maximum of {}",
                    host.saturating_sub(1)
                ),
            ));
        }
        // Time per host CPU needs a cpuacct cgroup, and the driver puts guests in none: no per-CPU statistics
        // (virsh then says so and prints the totals).
        Ok((Vec::new(), 0))
    }

    /// `cpu_time`, `user_time`, `system_time` of the whole QEMU process, in ns.
    fn cpu_totals(&self, live: &Live) -> [TypedParam; 3] {
        let stat = read_stat(live.pid, None).unwrap_or_default();
        let user = clock_ticks_ns(stat.utime);
        let system = clock_ticks_ns(stat.stime);
        [
            ull("cpu_time", user + system),
            ull("user_time", user),
            ull("system_time", system),
        ]
    }

    pub(super) async fn stats_all_domains(
        &self,
        doms: &[DomainRef],
        stats: u32,
        stat_flags: u32,
    ) -> Result<Vec<DomainStatsRecord>> {
        check_flags(
            stat_flags,
            STATS_FILTERS | STATS_NOWAIT | STATS_BACKING | STATS_ENFORCE,
            "virConnectGetAllDomainStats",
        )?;
        let unsupported = stats & !group::ALL;
        if unsupported != 0 && stat_flags & STATS_ENFORCE != 0 {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_UNSUPPORTED,
                ErrorDomain::QEMU,
                format!("Stats types bits 0x{unsupported:x} are not supported by this daemon"),
            ));
        }
        let groups = if stats == 0 {
            group::ALL
        } else {
            stats & group::ALL
        };
        let filters = stat_flags & STATS_FILTERS;
        let picked: Vec<DomainRef> = if doms.is_empty() {
            self.list_all_domains(filters).await?
        } else {
            let allowed = self.list_all_domains(filters).await?;
            doms.iter()
                .filter_map(|d| allowed.iter().find(|a| a.uuid == d.uuid).cloned())
                .collect()
        };
        // Guests answer their monitors independently: ask them all at once, keep the listing's order.
        let mut tasks = tokio::task::JoinSet::new();
        for (index, dom) in picked.into_iter().enumerate() {
            let driver = QemuDriver {
                shared: self.shared.clone(),
            };
            tasks.spawn(async move {
                let params = driver.stats_record(&dom, groups).await;
                (
                    index,
                    params.map(|params| DomainStatsRecord { dom, params }),
                )
            });
        }
        let mut records = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((index, Some(record))) = joined {
                records.push((index, record));
            }
        }
        records.sort_by_key(|(index, _)| *index);
        Ok(records.into_iter().map(|(_, record)| record).collect())
    }

    /// One domain's bulk record; `None` when it vanished meanwhile. A group whose source fails is left out, as
    /// libvirt leaves out what a busy or dying guest cannot answer.
    async fn stats_record(&self, dom: &DomainRef, groups: u32) -> Option<Vec<TypedParam>> {
        let (def, state, reason, persistent_running) = {
            let domains = self.domains();
            let obj = domains.get(&dom.uuid)?;
            (obj.def().clone(), obj.state, obj.reason, obj.run.is_some())
        };
        let live = if persistent_running {
            self.live(dom).ok()
        } else {
            None
        };
        let mut params = Vec::new();
        if groups & group::STATE != 0 {
            params.push(typed("state.state", TypedValue::Int(state as i32)));
            params.push(typed("state.reason", TypedValue::Int(reason)));
        }
        if groups & group::CPU_TOTAL != 0 {
            if let Some(live) = &live {
                let [time, user, system] = self.cpu_totals(live);
                params.push(typed("cpu.time", time.value));
                params.push(typed("cpu.user", user.value));
                params.push(typed("cpu.system", system.value));
                params.push(typed("cpu.cache.monitor.count", TypedValue::UInt(0)));
                if let Some((success, fail)) = self.halt_poll(live).await {
                    params.push(ull("cpu.haltpoll.success.time", success));
                    params.push(ull("cpu.haltpoll.fail.time", fail));
                }
            }
        }
        if groups & group::BALLOON != 0 {
            self.balloon_group(&def, live.as_ref(), &mut params).await;
        }
        if groups & group::VCPU != 0 {
            self.vcpu_group(&def, live.as_ref(), &mut params).await;
        }
        if groups & group::INTERFACE != 0 {
            if let Some(live) = &live {
                interface_group(&live.def, &mut params);
            }
        }
        if groups & group::BLOCK != 0 {
            self.block_group(&def, live.as_ref(), &mut params).await;
        }
        // perf: no perf event is ever enabled for a guest of this driver, and libvirt lists only enabled ones;
        // iothread: guests have no I/O threads; memory: no memory bandwidth monitors. All three stay empty, as
        // libvirt leaves them for such a guest.
        let _ = (group::PERF, group::IOTHREAD, group::MEMORY);
        if groups & group::DIRTYRATE != 0 {
            if let Some(live) = &live {
                self.dirtyrate_group(live, &mut params).await;
            }
        }
        if groups & group::VM != 0 {
            if let Some(live) = &live {
                self.vm_group(live, &mut params).await;
            }
        }
        Some(params)
    }

    /// KVM's halt-polling time over every vCPU (QMP `query-stats`; none under TCG, so 0), or `None` from a
    /// QEMU without that command.
    async fn halt_poll(&self, live: &Live) -> Option<(u64, u64)> {
        let args = json!({
            "target": "vcpu",
            "providers": [{ "provider": "kvm", "names": ["halt_poll_success_ns", "halt_poll_fail_ns"] }]
        });
        let answer = self.query(live, "query-stats", Some(args)).await.ok()?;
        Some(halt_poll_sums(&answer))
    }

    async fn balloon_group(&self, def: &DomainDef, live: Option<&Live>, out: &mut Vec<TypedParam>) {
        let stats = match live {
            Some(live) => self.memory_stats_of(live).await,
            None => Vec::new(),
        };
        let current = stats
            .iter()
            .find(|s| s.tag == tag::ACTUAL_BALLOON)
            .map(|s| s.value)
            .unwrap_or(def.current_memory_kib);
        out.push(ull("balloon.current", current));
        out.push(ull("balloon.maximum", def.memory_kib));
        for stat in &stats {
            if let Some(name) = balloon_field(stat.tag) {
                out.push(ull(format!("balloon.{name}"), stat.value));
            }
        }
    }

    /// KVM's counters of a target (`vm` or `vcpu`) from QMP `query-stats`, with the schema that types them;
    /// `None` from a QEMU without these commands (or under TCG, where KVM has nothing to say).
    async fn kvm_stats(&self, live: &Live, target: &str) -> Option<(Value, StatsSchema)> {
        let providers = json!([{ "provider": "kvm" }]);
        let schema = self
            .query(
                live,
                "query-stats-schemas",
                Some(json!({ "provider": "kvm" })),
            )
            .await
            .ok()?;
        let stats = self
            .query(
                live,
                "query-stats",
                Some(json!({ "target": target, "providers": providers })),
            )
            .await
            .ok()?;
        Some((stats, stats_schema(&schema)))
    }

    /// The `vm` group (`VIR_DOMAIN_STATS_VM`): KVM's whole-VM counters, `vm.<name>.<sum|cur|max>`.
    async fn vm_group(&self, live: &Live, out: &mut Vec<TypedParam>) {
        let Some((stats, schema)) = self.kvm_stats(live, "vm").await else {
            return;
        };
        for entry in stats.as_array().into_iter().flatten() {
            if entry["provider"] == "kvm" {
                kvm_params("vm", &entry["stats"], &schema, out);
            }
        }
    }

    async fn vcpu_group(&self, def: &DomainDef, live: Option<&Live>, out: &mut Vec<TypedParam>) {
        out.push(typed("vcpu.current", TypedValue::UInt(def.current_vcpus)));
        out.push(typed("vcpu.maximum", TypedValue::UInt(def.vcpus)));
        let Some(live) = live else { return };
        let Ok(cpus) = self.query(live, "query-cpus-fast", None).await else {
            return;
        };
        let threads = parse_vcpu_threads(&cpus);
        // KVM's per-vCPU counters, found by the vCPU's QOM path.
        let kvm = self.kvm_stats(live, "vcpu").await;
        let kvm_of = |index: u32| -> Option<&Value> {
            let (stats, _) = kvm.as_ref()?;
            let path = cpus.as_array()?.iter().find_map(|cpu| {
                (cpu.get("cpu-index")?.as_u64()? == u64::from(index))
                    .then(|| cpu.get("qom-path")?.as_str())
                    .flatten()
            })?;
            stats.as_array()?.iter().find_map(|entry| {
                (entry["provider"] == "kvm" && entry["qom-path"] == path).then(|| &entry["stats"])
            })
        };
        for thread in threads {
            let (pid, tid) = (live.pid, Some(thread.tid));
            let stat = read_stat(pid, tid).unwrap_or_default();
            let dir = task_dir(pid, tid);
            let wait = std::fs::read_to_string(format!("{dir}/sched"))
                .ok()
                .and_then(|t| parse_sched_wait(&t))
                .unwrap_or(0);
            let delay = std::fs::read_to_string(format!("{dir}/schedstat"))
                .ok()
                .and_then(|t| parse_schedstat_delay(&t))
                .unwrap_or(0);
            let n = thread.index;
            out.push(typed(
                format!("vcpu.{n}.state"),
                TypedValue::Int(VCPU_RUNNING),
            ));
            out.push(ull(
                format!("vcpu.{n}.time"),
                clock_ticks_ns(stat.utime + stat.stime),
            ));
            out.push(ull(format!("vcpu.{n}.wait"), wait));
            out.push(ull(format!("vcpu.{n}.delay"), delay));
            if let (Some(stats), Some((_, schema))) = (kvm_of(n), kvm.as_ref()) {
                kvm_params(&format!("vcpu.{n}"), stats, schema, out);
            }
        }
    }

    async fn block_group(&self, def: &DomainDef, live: Option<&Live>, out: &mut Vec<TypedParam>) {
        let counters = match live {
            Some(live) => self.disk_counters(live).await.unwrap_or_default(),
            None => BTreeMap::new(),
        };
        let disks = &def.devices.disks;
        out.push(typed(
            "block.count",
            TypedValue::UInt(clamp_u32(disks.len())),
        ));
        for (i, disk) in disks.iter().enumerate() {
            let p = |name: &str| format!("block.{i}.{name}");
            out.push(typed(
                p("name"),
                TypedValue::String(disk.target_dev.clone()),
            ));
            let Some(source) = &disk.source else { continue };
            out.push(typed(p("path"), TypedValue::String(source.clone())));
            if live.is_none() {
                if let Some((capacity, allocation, physical)) =
                    image_sizes(source, disk.driver_type.as_deref())
                {
                    out.push(ull(p("allocation"), allocation));
                    out.push(ull(p("capacity"), capacity));
                    out.push(ull(p("physical"), physical));
                }
                continue;
            }
            let Some(c) = counters.get(&disk.target_dev) else {
                continue;
            };
            // The top image of the chain, index 1 in the live XML's terms.
            out.push(typed(p("backingIndex"), TypedValue::UInt(1)));
            for (name, value) in [
                ("rd.reqs", c.rd_reqs),
                ("rd.bytes", c.rd_bytes),
                ("rd.times", c.rd_times),
                ("wr.reqs", c.wr_reqs),
                ("wr.bytes", c.wr_bytes),
                ("wr.times", c.wr_times),
                ("fl.reqs", c.fl_reqs),
                ("fl.times", c.fl_times),
            ] {
                out.push(ull(p(name), u64::try_from(value).unwrap_or(0)));
            }
            if let Some(offset) = c.wr_highest_offset {
                out.push(ull(p("allocation"), offset));
            }
            if let Some(capacity) = c.capacity {
                out.push(ull(p("capacity"), capacity));
            }
            if let Some(physical) = c.physical {
                out.push(ull(p("physical"), physical));
            }
        }
    }

    async fn dirtyrate_group(&self, live: &Live, out: &mut Vec<TypedParam>) {
        let Ok(rate) = self.query(live, "query-dirty-rate", None).await else {
            return;
        };
        let status = match rate.get("status").and_then(Value::as_str) {
            Some("measuring") => 1,
            Some("measured") => 2,
            _ => 0,
        };
        out.push(typed("dirtyrate.calc_status", TypedValue::Int(status)));
        out.push(typed(
            "dirtyrate.calc_start_time",
            TypedValue::LLong(json_i64(&rate, "start-time")),
        ));
        out.push(typed(
            "dirtyrate.calc_period",
            TypedValue::Int(i32::try_from(json_i64(&rate, "calc-time")).unwrap_or(0)),
        ));
        if let Some(mode) = rate.get("mode").and_then(Value::as_str) {
            out.push(typed(
                "dirtyrate.calc_mode",
                TypedValue::String(mode.to_string()),
            ));
        }
        if status == 2 {
            if let Some(rate_mb) = rate.get("dirty-rate").and_then(Value::as_i64) {
                out.push(typed(
                    "dirtyrate.megabytes_per_second",
                    TypedValue::LLong(rate_mb),
                ));
            }
            for vcpu in rate
                .get("vcpu-dirty-rate")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = json_i64(vcpu, "id");
                out.push(typed(
                    format!("dirtyrate.vcpu.{id}.megabytes_per_second"),
                    TypedValue::LLong(json_i64(vcpu, "dirty-rate")),
                ));
            }
        }
    }
}

/// From QMP `query-stats-schemas`: each statistic's field suffix as libvirt names it (`sum` for cumulative,
/// `cur` for instant, `max` for peak values; histograms are left out) and whether it is a boolean.
type StatsSchema = BTreeMap<String, (&'static str, bool)>;

fn stats_schema(answer: &Value) -> StatsSchema {
    let mut schema = BTreeMap::new();
    for entry in answer.as_array().into_iter().flatten() {
        for stat in entry["stats"].as_array().into_iter().flatten() {
            let Some(name) = stat["name"].as_str() else {
                continue;
            };
            if stat.get("bucket-size").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            let suffix = match stat["type"].as_str() {
                Some("cumulative") => "sum",
                Some("instant") => "cur",
                Some("peak") => "max",
                _ => continue,
            };
            let boolean = stat["unit"].as_str() == Some("boolean");
            schema.insert(name.to_string(), (suffix, boolean));
        }
    }
    schema
}

/// `PREFIX.<name>.<suffix>` for each statistic of a `query-stats` entry that the schema types: booleans as
/// booleans, numbers as unsigned long longs (libvirt's `qemuDomainAddStatsFromHashTable`).
fn kvm_params(prefix: &str, stats: &Value, schema: &StatsSchema, out: &mut Vec<TypedParam>) {
    for stat in stats.as_array().into_iter().flatten() {
        let Some(name) = stat["name"].as_str() else {
            continue;
        };
        let Some((suffix, boolean)) = schema.get(name) else {
            continue;
        };
        let field = format!("{prefix}.{name}.{suffix}");
        let value = &stat["value"];
        if *boolean {
            if let Some(on) = value.as_bool() {
                out.push(typed(field, TypedValue::Boolean(on)));
            }
        } else if let Some(number) = value.as_u64() {
            out.push(ull(field, number));
        }
    }
}

fn halt_poll_sums(answer: &Value) -> (u64, u64) {
    let mut sums = (0u64, 0u64);
    for vcpu in answer.as_array().into_iter().flatten() {
        for stat in vcpu
            .get("stats")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let value = stat.get("value").and_then(Value::as_u64).unwrap_or(0);
            match stat.get("name").and_then(Value::as_str) {
                Some("halt_poll_success_ns") => sums.0 = sums.0.saturating_add(value),
                Some("halt_poll_fail_ns") => sums.1 = sums.1.saturating_add(value),
                _ => {}
            }
        }
    }
    sums
}

/// `net.*` of a running guest: its NICs with a host device, counters from the taps.
fn interface_group(def: &DomainDef, out: &mut Vec<TypedParam>) {
    let nics = &def.devices.interfaces;
    out.push(typed("net.count", TypedValue::UInt(clamp_u32(nics.len()))));
    for (i, nic) in nics.iter().enumerate() {
        let Some(ifname) = &nic.target_dev else {
            continue;
        };
        out.push(typed(
            format!("net.{i}.name"),
            TypedValue::String(ifname.clone()),
        ));
        let Some(s) = tap_stats(ifname) else { continue };
        for (name, value) in [
            ("rx.bytes", s.rx_bytes),
            ("rx.pkts", s.rx_packets),
            ("rx.errs", s.rx_errs),
            ("rx.drop", s.rx_drop),
            ("tx.bytes", s.tx_bytes),
            ("tx.pkts", s.tx_packets),
            ("tx.errs", s.tx_errs),
            ("tx.drop", s.tx_drop),
        ] {
            if let Ok(value) = u64::try_from(value) {
                out.push(ull(format!("net.{i}.{name}"), value));
            }
        }
    }
}

fn no_stats(target: &str) -> Error {
    Error::internal(
        ErrorDomain::QEMU,
        format!("cannot find statistics for device '{target}'"),
    )
}

fn no_cpu_controller() -> Error {
    Error::operation_invalid(ErrorDomain::QEMU, "cgroup CPU controller is not mounted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_times_rss_and_the_last_cpu() {
        // A command name with spaces and parentheses, then fields 3.. as the kernel writes them.
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[14 - 3] = "250".into();
        fields[15 - 3] = "40".into();
        fields[24 - 3] = "9000".into();
        fields[39 - 3] = "1".into();
        let line = format!("4242 (CPU 0/TCG) x) {}", fields.join(" "));
        assert_eq!(
            parse_stat(&line),
            Some(TaskStat {
                utime: 250,
                stime: 40,
                rss_pages: 9000,
                processor: 1
            })
        );
        assert_eq!(parse_stat("4242 no parenthesis"), None);
    }

    #[test]
    fn affinity_wait_and_delay_come_from_their_proc_files() {
        let status = "Name:\tqemu\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1,3\n";
        assert_eq!(parse_affinity(status), Some(vec![0, 1, 3]));
        assert_eq!(
            parse_schedstat_delay("3100000000 996764516 412\n"),
            Some(996_764_516)
        );
        let sched = "CPU 0/TCG (7, #threads: 5)\n---\nse.exec_start : 1.0\nwait_sum : 12.345678\n";
        assert_eq!(parse_sched_wait(sched), Some(12_345_678));
        assert_eq!(parse_sched_wait("wait_sum : 0.000000\n"), Some(0));
    }

    #[test]
    fn balloon_statistics_keep_libvirts_order_and_skip_unreported_ones() {
        let balloon = json!({ "actual": 33_554_432u64 });
        let guest = json!({
            "stats": { "stat-swap-in": -1, "stat-free-memory": 1_048_576, "stat-major-faults": 7,
                       "stat-htlb-pgfail": u64::MAX, "stat-swap-out": u64::MAX },
            "last-update": 0
        });
        let stats = memory_stats_from(Some(&balloon), Some(&guest), Some(39_732));
        let got: Vec<(i32, u64)> = stats.iter().map(|s| (s.tag, s.value)).collect();
        assert_eq!(
            got,
            vec![
                (tag::ACTUAL_BALLOON, 32_768),
                (tag::MAJOR_FAULT, 7),
                (tag::UNUSED, 1024),
                (tag::LAST_UPDATE, 0),
                (tag::RSS, 39_732),
            ]
        );
        // No balloon answer and no guest statistics: RSS alone.
        assert_eq!(memory_stats_from(None, None, Some(5)).len(), 1);
    }

    #[test]
    fn qmp_block_entries_are_matched_to_disk_targets() {
        let blockstats = json!([
            { "device": "", "node-name": "drive-hda", "qdev": "disk-hda",
              "stats": { "rd_operations": 3, "rd_bytes": 1536, "rd_total_time_ns": 900, "wr_operations": 1,
                         "wr_bytes": 512, "wr_total_time_ns": 80, "flush_operations": 2,
                         "flush_total_time_ns": 10, "wr_highest_offset": 4096 } },
            { "device": "", "qdev": "/machine/peripheral/disk-vdb/virtio-backend",
              "stats": { "rd_operations": 9 } }
        ]);
        let block = json!([
            { "device": "", "qdev": "disk-hda",
              "inserted": { "node-name": "drive-hda", "image": { "virtual-size": 4096, "actual-size": 8192 } } }
        ]);
        let counters = disk_counters(&DomainDef::default(), &blockstats, &block);
        let hda = counters["hda"];
        assert_eq!(
            (
                hda.rd_reqs,
                hda.rd_bytes,
                hda.wr_reqs,
                hda.fl_reqs,
                hda.fl_times
            ),
            (3, 1536, 1, 2, 10)
        );
        assert_eq!(
            (hda.wr_highest_offset, hda.capacity, hda.physical),
            (Some(4096), Some(4096), Some(8192))
        );
        assert_eq!(counters["vdb"].rd_reqs, 9);
    }

    #[test]
    fn halt_polling_is_summed_over_vcpus() {
        let answer = json!([
            { "provider": "kvm", "stats": [{ "name": "halt_poll_fail_ns", "value": 5 },
                                           { "name": "halt_poll_success_ns", "value": 100 }] },
            { "provider": "kvm", "stats": [{ "name": "halt_poll_success_ns", "value": 20 }] }
        ]);
        assert_eq!(halt_poll_sums(&answer), (120, 5));
        assert_eq!(halt_poll_sums(&json!([])), (0, 0));
    }

    #[test]
    fn vcpu_threads_are_ordered_by_index() {
        let cpus = json!([
            { "cpu-index": 1, "thread-id": 502, "qom-path": "/machine/unattached/device[1]" },
            { "cpu-index": 0, "thread-id": 501 }
        ]);
        assert_eq!(
            parse_vcpu_threads(&cpus),
            vec![
                VcpuThread { index: 0, tid: 501 },
                VcpuThread { index: 1, tid: 502 }
            ]
        );
    }

    #[test]
    fn image_sizes_read_a_qcow2_header_and_a_raw_length() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("a.img");
        std::fs::write(&raw, vec![1u8; 4096]).unwrap();
        let (capacity, _, physical) = image_sizes(raw.to_str().unwrap(), None).unwrap();
        assert_eq!((capacity, physical), (4096, 4096));
        let qcow = dir.path().join("b.qcow2");
        let mut header = b"QFI\xfb\0\0\0\x03".to_vec();
        header.resize(24, 0);
        header.extend_from_slice(&(1u64 << 30).to_be_bytes());
        header.resize(512, 0);
        std::fs::write(&qcow, &header).unwrap();
        let (capacity, _, physical) = image_sizes(qcow.to_str().unwrap(), Some("qcow2")).unwrap();
        assert_eq!((capacity, physical), (1 << 30, 512));
    }

    #[test]
    fn kvm_counters_are_named_and_typed_by_their_schema() {
        let schema = stats_schema(&json!([{ "provider": "kvm", "target": "vcpu", "stats": [
            { "name": "exits", "type": "cumulative", "unit": "cycles", "base": 10, "exponent": 0 },
            { "name": "pages_4k", "type": "instant", "base": 10, "exponent": 0 },
            { "name": "max_mmu_rmap_size", "type": "peak", "base": 10, "exponent": 0 },
            { "name": "guest_mode", "type": "instant", "unit": "boolean", "base": 10, "exponent": 0 },
            { "name": "halt_wait_hist", "type": "log2-histogram", "unit": "seconds", "base": 10, "exponent": -9 },
            { "name": "halt_poll_hist", "type": "linear-histogram", "bucket-size": 32, "base": 10, "exponent": 0 }
        ]}]));
        let mut out = Vec::new();
        kvm_params(
            "vcpu.0",
            &json!([
                { "name": "exits", "value": 10767 },
                { "name": "pages_4k", "value": 3 },
                { "name": "max_mmu_rmap_size", "value": 0 },
                { "name": "guest_mode", "value": false },
                { "name": "halt_wait_hist", "value": [1, 2] },
                { "name": "halt_poll_hist", "value": [1, 2] },
                { "name": "unknown", "value": 1 }
            ]),
            &schema,
            &mut out,
        );
        let got: Vec<(String, TypedValue)> = out.into_iter().map(|p| (p.field, p.value)).collect();
        assert_eq!(
            got,
            [
                ("vcpu.0.exits.sum".to_string(), TypedValue::ULLong(10767)),
                ("vcpu.0.pages_4k.cur".into(), TypedValue::ULLong(3)),
                ("vcpu.0.max_mmu_rmap_size.max".into(), TypedValue::ULLong(0)),
                ("vcpu.0.guest_mode.cur".into(), TypedValue::Boolean(false)),
            ]
        );
    }
}
