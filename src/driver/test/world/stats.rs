//! Read-only statistics of the test world that libvirt's test driver fakes: vCPU placement, balloon
//! statistics, NUMA free memory. The numbers follow libvirt's test driver for the same world.

use super::*;
use crate::driver::{MemoryStat, TypedParam, TypedValue, VcpuInfo};

/// `VIR_DOMAIN_MEMORY_STAT_*` tags, in the order libvirt's test driver reports them.
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

/// The guest clock libvirt's test driver starts every domain at (seconds since the epoch), reported as the
/// balloon's last update.
const GUEST_CLOCK_SECONDS: u64 = 627_319_920;

/// The CPU time libvirt's test driver reports for every running domain, in ns; per host CPU it is split evenly.
const TOTAL_CPU_TIME_NS: u64 = 48_772_617_035;
const USER_TIME_NS: u64 = 5_540_000_000;
const SYSTEM_TIME_NS: u64 = 6_460_000_000;
/// How much less of each host CPU's time the test driver counts as the guest's vCPUs'.
const VCPU_TIME_SHORTFALL_NS: u64 = 1_234_567_890;

fn ullong(field: &str, value: u64) -> TypedParam {
    TypedParam {
        field: field.into(),
        value: TypedValue::ULLong(value),
    }
}

/// `VIR_VCPU_RUNNING`.
const VCPU_RUNNING: i32 = 1;

impl World {
    fn running_domain(&self, dom: &DomainRef) -> Result<&DomainObj> {
        let obj = self.domain(dom)?;
        if !obj.is_active() {
            return Err(not_running());
        }
        Ok(obj)
    }

    /// `virDomainGetMaxVcpus`: the live maximum of a running domain.
    pub(in crate::driver::test) fn domain_max_vcpus(&self, dom: &DomainRef) -> Result<i32> {
        let obj = self.running_domain(dom)?;
        Ok(i32::try_from(obj.def().vcpus).unwrap_or(i32::MAX))
    }

    /// `virDomainGetVcpus`: every online vCPU runs, pinned to all host CPUs, so each reports the highest host
    /// CPU; its time is a fake that grows with the wall clock, as libvirt's test driver makes it.
    pub(in crate::driver::test) fn domain_vcpu_info(
        &self,
        dom: &DomainRef,
        max_info: u32,
        map_len: u32,
        host_cpus: u32,
    ) -> Result<(Vec<VcpuInfo>, Vec<u8>)> {
        let obj = self.domain(dom)?;
        if !obj.is_active() {
            return Err(op_invalid("cannot list vcpus for an inactive domain"));
        }
        let count = max_info.min(obj.def().current_vcpus);
        let wall_us = now_ms().saturating_mul(1000);
        // Each vCPU reports the highest CPU it may run on.
        let def = obj.def();
        let infos = (0..count)
            .map(|number| VcpuInfo {
                number,
                state: VCPU_RUNNING,
                cpu_time_ns: wall_us / 10,
                cpu: tunables::vcpu_cpus(def, number, host_cpus)
                    .last()
                    .and_then(|cpu| i32::try_from(*cpu).ok())
                    .unwrap_or(-1),
            })
            .collect();
        let maps = (0..count)
            .flat_map(|vcpu| tunables::vcpu_map(def, vcpu, host_cpus, map_len))
            .collect();
        Ok((infos, maps))
    }

    /// `virDomainGetVcpuPinInfo`: no vCPU of the test world is pinned, so each of the definition's vCPUs (up to
    /// `max_maps`) may run on every host CPU.
    pub(in crate::driver::test) fn domain_vcpu_pin_info(
        &self,
        dom: &DomainRef,
        max_maps: u32,
        map_len: u32,
        impact_flags: u32,
        host_cpus: u32,
    ) -> Result<(u32, Vec<u8>)> {
        let obj = self.domain(dom)?;
        let impact = domains::impact(obj, impact_flags, true)?;
        let def = if impact.live {
            obj.live_def.as_ref()
        } else {
            obj.persistent_def.as_ref()
        };
        let def = def.unwrap_or_else(|| obj.def());
        let count = max_maps.min(def.vcpus);
        let maps = (0..count)
            .flat_map(|vcpu| tunables::vcpu_map(def, vcpu, host_cpus, map_len))
            .collect();
        Ok((count, maps))
    }

    /// `virDomainMemoryStats` of a running domain, derived from its current balloon size.
    pub(in crate::driver::test) fn domain_memory_stats(
        &self,
        dom: &DomainRef,
        max_stats: u32,
    ) -> Result<Vec<MemoryStat>> {
        let obj = self.running_domain(dom)?;
        let current = obj.def().current_memory_kib;
        let stats = [
            (tag::ACTUAL_BALLOON, current),
            (tag::SWAP_IN, 0),
            (tag::SWAP_OUT, 0),
            (tag::MAJOR_FAULT, 0),
            (tag::MINOR_FAULT, 0),
            (tag::UNUSED, current / 2),
            (tag::AVAILABLE, current),
            (tag::USABLE, current / 2),
            (tag::LAST_UPDATE, GUEST_CLOCK_SECONDS),
            (tag::DISK_CACHES, current / 8),
            (tag::HUGETLB_PGALLOC, 0),
            (tag::HUGETLB_PGFAIL, 0),
            (tag::RSS, current / 2),
        ];
        Ok(stats
            .into_iter()
            .take(max_stats as usize)
            .map(|(tag, value)| MemoryStat { tag, value })
            .collect())
    }

    /// `virDomainGetCPUStats` of a running domain, the fixed figures of libvirt's test driver: the totals
    /// (`start_cpu` -1: cpu, user and system time) or, per host CPU from `start_cpu`, its share of the total and
    /// that less the hypervisor's part as vCPU time. Returns the parameters, per CPU one after another, and how
    /// many each has; with no room asked for, how many there are (parameters, or host CPUs when `ncpus` is 0).
    pub(in crate::driver::test) fn domain_cpu_stats(
        &self,
        dom: &DomainRef,
        (nparams, start_cpu, ncpus): (u32, i32, u32),
        stats_flags: u32,
        host_cpus: u32,
    ) -> Result<(Vec<TypedParam>, i32)> {
        check_flags(
            stats_flags,
            flags::TYPED_PARAM_STRING_OKAY,
            "testDomainGetCPUStats",
        )?;
        self.running_domain(dom)?;
        if start_cpu == -1 {
            if nparams == 0 {
                return Ok((Vec::new(), 3));
            }
            let totals = [
                ullong("cpu_time", TOTAL_CPU_TIME_NS),
                ullong("user_time", USER_TIME_NS),
                ullong("system_time", SYSTEM_TIME_NS),
            ];
            let params: Vec<TypedParam> = totals.into_iter().take(nparams as usize).collect();
            let count = i32::try_from(params.len()).unwrap_or(3);
            return Ok((params, count));
        }
        if nparams == 0 && ncpus != 0 {
            return Ok((Vec::new(), 2));
        }
        if ncpus == 0 {
            return Ok((Vec::new(), i32::try_from(host_cpus).unwrap_or(i32::MAX)));
        }
        let start = u32::try_from(start_cpu).unwrap_or(u32::MAX);
        if start >= host_cpus {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                format!(
                    "start_cpu {start_cpu} larger than maximum of {}",
                    host_cpus.saturating_sub(1)
                ),
            ));
        }
        let share = TOTAL_CPU_TIME_NS / u64::from(host_cpus);
        let end = host_cpus.min(start.saturating_add(ncpus));
        let mut params = Vec::new();
        for cpu in start..end {
            let own = share + u64::from(cpu);
            params.push(ullong("cpu_time", own));
            if nparams > 1 {
                params.push(ullong("vcpu_time", own - VCPU_TIME_SHORTFALL_NS));
            }
        }
        Ok((params, if nparams > 1 { 2 } else { 1 }))
    }
}
