//! The test world's I/O counters, bulk statistics and guest-side information (block and interface statistics,
//! disk sizes, `domstats`, host CPU times, guest addresses, file systems and host name), shaped like libvirt
//! 9.0's test driver answers them for the same world.
//!
//! Where libvirt's test driver derives counters from the wall clock (block and interface statistics), ours uses
//! the same derivation (fractions of the clock in microseconds), so the numbers grow over time as they do there;
//! every other value is fixed: host CPU times, disk sizes, one IPv4 address per NIC (by domain id and NIC index),
//! the `/` and `/boot` file systems on the first disk, and the host name `<domain>host`.
//!
//! Bulk statistics (`domstats`): libvirt 9.0's test driver fills the `state` group only; any other group asked
//! for yields an empty record, or an "unsupported" error with `--enforce`. Ours does the same, so that stock
//! virsh prints the same; further groups belong here once the reference grows them.

use super::*;
use crate::driver::{
    BlockInfo, BlockStats, DomainStatsRecord, FsInfo, GuestInterface, InterfaceStats, IothreadInfo,
    IpAddress, NodeCpuStat, TypedParam, TypedValue,
};

// virDomainBlockStatsFlags stays unsupported here, as in libvirt 9.0's test driver: virsh then falls back to
// virDomainBlockStats, and its output (errors included) matches the reference.

/// `VIR_DOMAIN_STATS_STATE`: the only statistics group libvirt 9.0's test driver fills.
pub(in crate::driver::test) const STATS_STATE: u32 = 1 << 0;

/// `virConnectGetAllDomainStatsFlags` beyond the domain filters.
const STATS_NOWAIT: u32 = 1 << 29;
const STATS_BACKING: u32 = 1 << 30;
const STATS_ENFORCE: u32 = 1 << 31;

/// The domain filters `virConnectGetAllDomainStats` takes (the first eight `virConnectListAllDomains` flags).
const STATS_FILTERS: u32 = flags::LIST_DOMAINS_ACTIVE
    | flags::LIST_DOMAINS_INACTIVE
    | flags::LIST_DOMAINS_PERSISTENT
    | flags::LIST_DOMAINS_TRANSIENT
    | flags::LIST_DOMAINS_RUNNING
    | flags::LIST_DOMAINS_PAUSED
    | flags::LIST_DOMAINS_SHUTOFF
    | flags::LIST_DOMAINS_OTHER;

/// Each disk's image as libvirt's test driver sizes it: 1 TiB allocated, a little less usable.
const DISK_PHYSICAL: u64 = 1 << 40;
const DISK_CAPACITY: u64 = 1_099_506_450_432;

/// The host CPU times (ns) libvirt's test driver reports for every CPU and for all of them together.
const NODE_CPU_TIMES: [(&str, u64); 4] = [
    ("user", 9_797_400_000),
    ("kernel", 34_678_723_400_000),
    ("idle", 87_264_900_000),
    ("iowait", 763_600_000),
];

/// `VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_*`: lease, agent and ARP all answer alike in the test driver.
const ADDRESS_SOURCES: u32 = 3;
/// `VIR_IP_ADDR_TYPE_IPV4`.
const IP_V4: i32 = 0;
/// Guest addresses come from 192.168.122.0/24, 20 per domain id, from .3 for the domain with id 1.
const GUEST_NET_BASE: u32 = u32::from_be_bytes([192, 168, 122, 0]);
const GUEST_NET_PREFIX: u32 = 24;

/// The wall clock in microseconds, from which block and interface counters derive.
fn clock_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The host name of a NIC without one in its definition, as libvirt's test driver names it when it starts.
fn nic_name(index: usize, target_dev: Option<&String>) -> String {
    target_dev
        .cloned()
        .unwrap_or_else(|| format!("testnet{index}"))
}

impl World {
    fn active_domain(&self, dom: &DomainRef) -> Result<&DomainObj> {
        let obj = self.domain(dom)?;
        if !obj.is_active() {
            return Err(not_running());
        }
        Ok(obj)
    }

    /// `virDomainBlockStats`: counters of a running domain's disk (by target or source), from the clock.
    pub(in crate::driver::test) fn domain_block_stats(
        &self,
        dom: &DomainRef,
        disk: &str,
    ) -> Result<BlockStats> {
        if disk.is_empty() {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_UNSUPPORTED,
                ErrorDomain::TEST,
                "summary statistics are not supported yet",
            ));
        }
        let obj = self.active_domain(dom)?;
        if !has_disk(obj, disk) {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                format!("invalid path: {disk}"),
            ));
        }
        let base = clock_us();
        Ok(BlockStats {
            rd_req: base / 10,
            rd_bytes: base / 20,
            wr_req: base / 30,
            wr_bytes: base / 40,
            errs: base / 2_000_000,
        })
    }

    /// `virDomainInterfaceStats`: counters of a running domain's NIC (by host device or MAC), from the clock.
    pub(in crate::driver::test) fn domain_interface_stats(
        &self,
        dom: &DomainRef,
        device: &str,
    ) -> Result<InterfaceStats> {
        let obj = self.active_domain(dom)?;
        let known = obj
            .def()
            .devices
            .interfaces
            .iter()
            .enumerate()
            .any(|(index, nic)| {
                nic_name(index, nic.target_dev.as_ref()) == device
                    || nic.mac.eq_ignore_ascii_case(device)
            });
        if !known {
            return Err(Error::invalid_arg(
                ErrorDomain::DOMAIN,
                format!("'{device}' is not a known interface"),
            ));
        }
        let base = clock_us();
        Ok(InterfaceStats {
            rx_bytes: base / 10,
            rx_packets: base / 100,
            rx_errs: base / 1_000_000,
            rx_drop: base / 2_000_000,
            tx_bytes: base / 20,
            tx_packets: base / 110,
            tx_errs: base / 3_000_000,
            tx_drop: base / 4_000_000,
        })
    }

    /// `virDomainGetBlockInfo`: every disk of the test world has the same fixed sizes, running or not.
    pub(in crate::driver::test) fn domain_block_info(
        &self,
        dom: &DomainRef,
        disk: &str,
        info_flags: u32,
    ) -> Result<BlockInfo> {
        if disk.is_empty() {
            return Err(Error::invalid_arg(
                ErrorDomain::DOMAIN,
                "string disk in virDomainGetBlockInfo must not be empty",
            ));
        }
        refuse_unknown_flags(info_flags, 0, "testDomainGetBlockInfo")?;
        let obj = self.domain(dom)?;
        if !has_disk(obj, disk) {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                format!("invalid path {disk} not assigned to domain"),
            ));
        }
        Ok(BlockInfo {
            capacity: DISK_CAPACITY,
            allocation: DISK_PHYSICAL,
            physical: DISK_PHYSICAL,
        })
    }

    /// `virConnectGetAllDomainStats` / `virDomainListGetStats`: the state group of each chosen domain (all
    /// when `doms` is empty; unknown ones are skipped), filtered by `stats_flags`.
    pub(in crate::driver::test) fn all_domain_stats(
        &self,
        doms: &[DomainRef],
        stats: u32,
        stats_flags: u32,
    ) -> Result<Vec<DomainStatsRecord>> {
        refuse_unknown_flags(
            stats_flags,
            STATS_FILTERS | STATS_NOWAIT | STATS_BACKING | STATS_ENFORCE,
            "testConnectGetAllDomainStats",
        )?;
        let unsupported = stats & !STATS_STATE;
        if stats_flags & STATS_ENFORCE != 0 && unsupported != 0 {
            return Err(Error::with_detail(
                ErrorCode::ARGUMENT_UNSUPPORTED,
                ErrorDomain::TEST,
                format!("Stats types bits 0x{unsupported:x} are not supported by this daemon"),
            ));
        }
        let want_state = stats == 0 || stats & STATS_STATE != 0;
        let chosen: Vec<&DomainObj> = if doms.is_empty() {
            let mut all = Vec::new();
            for handle in self.list_domains(0)? {
                all.push(self.domain(&handle)?);
            }
            all
        } else {
            doms.iter()
                .filter_map(|dom| self.domain(dom).ok())
                .collect()
        };
        Ok(chosen
            .into_iter()
            .filter(|obj| passes_stats_filters(obj, stats_flags))
            .map(|obj| {
                let params = if want_state {
                    vec![
                        TypedParam {
                            field: "state.state".into(),
                            value: TypedValue::Int(obj.state as i32),
                        },
                        TypedParam {
                            field: "state.reason".into(),
                            value: TypedValue::Int(obj.reason),
                        },
                    ]
                } else {
                    Vec::new()
                };
                DomainStatsRecord {
                    dom: obj.handle(),
                    params,
                }
            })
            .collect())
    }

    /// `virDomainInterfaceAddresses`: each NIC of a running domain has one IPv4 address, whatever the source.
    pub(in crate::driver::test) fn domain_interface_addresses(
        &self,
        dom: &DomainRef,
        source: u32,
        addr_flags: u32,
    ) -> Result<Vec<GuestInterface>> {
        refuse_unknown_flags(addr_flags, 0, "testDomainInterfaceAddresses")?;
        if source >= ADDRESS_SOURCES {
            return Err(Error::with_detail(
                ErrorCode::ARGUMENT_UNSUPPORTED,
                ErrorDomain::TEST,
                format!("Unknown IP address data source {source}"),
            ));
        }
        let obj = self.active_domain(dom)?;
        let first_host = 3 + 20 * u32::try_from(obj.id.saturating_sub(1)).unwrap_or(0);
        Ok(obj
            .def()
            .devices
            .interfaces
            .iter()
            .enumerate()
            .map(|(index, nic)| {
                let host = first_host.wrapping_add(u32::try_from(index).unwrap_or(u32::MAX));
                let addr = std::net::Ipv4Addr::from(GUEST_NET_BASE.wrapping_add(host));
                GuestInterface {
                    name: nic_name(index, nic.target_dev.as_ref()),
                    hwaddr: Some(nic.mac.clone()),
                    addrs: vec![IpAddress {
                        kind: IP_V4,
                        addr: addr.to_string(),
                        prefix: GUEST_NET_PREFIX,
                    }],
                }
            })
            .collect())
    }

    /// `virDomainGetFSInfo`: the guest's root and boot partitions on its first disk (CD-ROMs do not count).
    pub(in crate::driver::test) fn domain_fsinfo(
        &self,
        dom: &DomainRef,
        fs_flags: u32,
    ) -> Result<Vec<FsInfo>> {
        refuse_unknown_flags(fs_flags, 0, "testDomainGetFSInfo")?;
        let obj = self.active_domain(dom)?;
        let Some(disk) = obj.def().devices.disks.iter().find(|d| d.device == "disk") else {
            return Ok(Vec::new());
        };
        let dev = &disk.target_dev;
        Ok([("/", 1), ("/boot", 2)]
            .into_iter()
            .map(|(mountpoint, partition)| FsInfo {
                mountpoint: mountpoint.into(),
                name: format!("{dev}{partition}"),
                fstype: "ext4".into(),
                dev_aliases: vec![dev.clone()],
            })
            .collect())
    }

    /// `virDomainGetHostname`: the guest calls itself after its domain.
    pub(in crate::driver::test) fn domain_hostname(
        &self,
        dom: &DomainRef,
        name_flags: u32,
    ) -> Result<String> {
        refuse_unknown_flags(name_flags, 0, "testDomainGetHostname")?;
        let obj = self.active_domain(dom)?;
        Ok(format!("{}host", obj.name()))
    }

    /// `virDomainGetIOThreadInfo`: our domain model defines no I/O threads, so every domain has none.
    pub(in crate::driver::test) fn domain_iothreads(
        &self,
        dom: &DomainRef,
        thread_flags: u32,
    ) -> Result<Vec<IothreadInfo>> {
        refuse_unknown_flags(
            thread_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "testDomainGetIOThreadInfo",
        )?;
        self.domain(dom)?;
        Ok(Vec::new())
    }
}

/// `virNodeGetCPUStats`: the same fixed times for any CPU number and for all CPUs (−1).
pub(in crate::driver::test) fn node_cpu_stats(
    cpu_num: i32,
    cpu_flags: u32,
) -> Result<Vec<NodeCpuStat>> {
    if cpu_num < -1 {
        return Err(Error::invalid_arg(
            ErrorDomain::DOMAIN,
            "cpuNum in virNodeGetCPUStats only accepts -1 as a negative value",
        ));
    }
    refuse_unknown_flags(cpu_flags, 0, "testNodeGetCPUStats")?;
    Ok(NODE_CPU_TIMES
        .iter()
        .map(|(field, value)| NodeCpuStat {
            field: (*field).into(),
            value: *value,
        })
        .collect())
}

/// libvirt's flag check, worded as libvirt words it: code INVALID_ARG but no "invalid argument" prefix.
fn refuse_unknown_flags(given: u32, allowed: u32, api: &str) -> Result<()> {
    let unknown = given & !allowed;
    if unknown != 0 {
        return Err(Error::new(
            ErrorCode::INVALID_ARG,
            ErrorDomain::TEST,
            format!("unsupported flags (0x{unknown:x}) in function {api}"),
        ));
    }
    Ok(())
}

/// Whether the domain has a disk with this target name or source path.
fn has_disk(obj: &DomainObj, disk: &str) -> bool {
    obj.def()
        .devices
        .disks
        .iter()
        .any(|d| d.target_dev == disk || d.source.as_deref() == Some(disk))
}

/// The domain filters of `virConnectGetAllDomainStats`: each pair (or group of states) filters only when asked.
fn passes_stats_filters(obj: &DomainObj, stats_flags: u32) -> bool {
    let active = wanted(
        stats_flags,
        flags::LIST_DOMAINS_ACTIVE,
        flags::LIST_DOMAINS_INACTIVE,
    );
    let persistent = wanted(
        stats_flags,
        flags::LIST_DOMAINS_PERSISTENT,
        flags::LIST_DOMAINS_TRANSIENT,
    );
    let state_mask = stats_flags
        & (flags::LIST_DOMAINS_RUNNING
            | flags::LIST_DOMAINS_PAUSED
            | flags::LIST_DOMAINS_SHUTOFF
            | flags::LIST_DOMAINS_OTHER);
    let state_bit = match obj.state {
        DomainState::Running => flags::LIST_DOMAINS_RUNNING,
        DomainState::Paused => flags::LIST_DOMAINS_PAUSED,
        DomainState::Shutoff => flags::LIST_DOMAINS_SHUTOFF,
        _ => flags::LIST_DOMAINS_OTHER,
    };
    passes(active, obj.is_active())
        && passes(persistent, obj.is_persistent())
        && (state_mask == 0 || state_mask & state_bit != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_cpu_times_are_fixed_and_negative_cpus_other_than_all_are_refused() {
        let all = node_cpu_stats(-1, 0).unwrap();
        assert_eq!(all, node_cpu_stats(7, 0).unwrap());
        assert_eq!(all[1].field, "kernel");
        assert_eq!(all[1].value, 34_678_723_400_000);
        assert!(node_cpu_stats(-2, 0).is_err());
        assert!(node_cpu_stats(0, 1).is_err());
    }

    fn default_world() -> (World, DomainRef) {
        let (events, _) = tokio::sync::broadcast::channel(4);
        let mut world = World::new(events);
        let obj = crate::driver::test::defaults::test_domain();
        let handle = obj.handle();
        world.insert_loaded_domain(obj).unwrap();
        (world, handle)
    }

    #[test]
    fn bulk_statistics_hold_the_state_group_only_and_follow_the_filters() {
        let (world, dom) = default_world();
        let all = world.all_domain_stats(&[], 0, 0).unwrap();
        assert_eq!(all.len(), 1);
        let fields: Vec<&str> = all[0].params.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["state.state", "state.reason"]);
        // Groups we do not fill give an empty record, or an error when enforced.
        let other = world.all_domain_stats(&[], 1 << 1, 0).unwrap();
        assert!(other[0].params.is_empty());
        let err = world
            .all_domain_stats(&[], (1 << 1) | STATS_STATE, STATS_ENFORCE)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::ARGUMENT_UNSUPPORTED);
        assert!(err.message.contains("bits 0x2 "), "{}", err.message);
        // The running domain passes "running" and "active" filters, not "shutoff" or "transient".
        let filtered = |f: u32| world.all_domain_stats(&[], 0, f).unwrap().len();
        assert_eq!(filtered(flags::LIST_DOMAINS_RUNNING), 1);
        assert_eq!(filtered(flags::LIST_DOMAINS_ACTIVE), 1);
        assert_eq!(filtered(flags::LIST_DOMAINS_SHUTOFF), 0);
        assert_eq!(filtered(flags::LIST_DOMAINS_TRANSIENT), 0);
        // Listed domains that do not exist are skipped.
        let ghost = DomainRef {
            name: "ghost".into(),
            uuid: Uuid::nil(),
            id: -1,
        };
        assert_eq!(
            world.all_domain_stats(&[ghost, dom], 0, 0).unwrap().len(),
            1
        );
    }

    #[test]
    fn disks_are_found_by_target_or_source_and_sized_like_libvirts() {
        let (world, dom) = default_world();
        let by_target = world.domain_block_info(&dom, "vda", 0).unwrap();
        assert_eq!(
            world
                .domain_block_info(&dom, "/guest/diskimage1", 0)
                .unwrap(),
            by_target
        );
        assert_eq!(by_target.physical, 1_099_511_627_776);
        assert!(by_target.capacity < by_target.physical);
        assert!(world.domain_block_info(&dom, "vdb", 0).is_err());
        let stats = world.domain_block_stats(&dom, "vda").unwrap();
        assert_eq!(stats.rd_req / 2, stats.rd_bytes);
    }

    #[test]
    fn guest_addresses_step_by_twenty_per_domain_id() {
        let (mut world, dom) = default_world();
        let addrs = world.domain_interface_addresses(&dom, 0, 0).unwrap();
        assert_eq!(addrs[0].addrs[0].addr, "192.168.122.3");
        if let Some(mut obj) = world.domains.remove(&dom.uuid) {
            obj.id = 3;
            world.domains.insert(dom.uuid, obj);
        }
        let addrs = world.domain_interface_addresses(&dom, 2, 0).unwrap();
        assert_eq!(addrs[0].addrs[0].addr, "192.168.122.43");
        assert_eq!(addrs[0].name, "testnet0");
    }
}
