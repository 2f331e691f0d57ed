//! The hand-written server side of domain statistics: bulk statistics, block and interface counters, guest information: the calls whose wire form differs from the driver API (caps,
//! `need_results`, old-style counts and names, typed parameters); the rest are generated from the declaration.

use super::*;

/// Answers `call` if it is one of this file's; `None` passes it on.
pub(super) async fn answer(driver: &Connection, call: &Call) -> Option<Result<Reply>> {
    reply(driver, call).await.transpose()
}

async fn reply(driver: &Connection, call: &Call) -> Result<Option<Reply>> {
    #[allow(unused_imports)]
    use flags as f;
    use proto::*;
    Ok(Some(match call {
        Call::ConnectGetAllDomainStats(args) => {
            let records = driver
                .connect_get_all_domain_stats(&args.doms.0, args.stats, args.flags)
                .await?;
            if records.len() > DOMAIN_LIST_MAX as usize
                || records
                    .iter()
                    .any(|r| r.params.len() > CONNECT_GET_ALL_DOMAIN_STATS_MAX as usize)
            {
                return Err(rpc_error("Too many stats to return"));
            }
            Reply::ConnectGetAllDomainStats(AllDomainStatsRet {
                records: Array(records),
            })
        }
        Call::DomainBlockStatsFlags(args) => {
            let room = typed_param_room(args.nparams, DOMAIN_BLOCK_STATS_PARAMETERS_MAX)?;
            let mut params = driver
                .domain_block_stats_flags(&args.dom, &args.path, args.flags)
                .await?;
            // nparams 0 asks how many there are; otherwise as many as fit are sent.
            let nparams = if room == 0 {
                let count = clamp_i32(params.len());
                params.clear();
                count
            } else {
                params.truncate(room);
                clamp_i32(params.len())
            };
            Reply::DomainBlockStatsFlags(BlockStatsFlagsRet {
                params: Array(params),
                nparams,
            })
        }
        Call::NodeGetCpuStats(args) => {
            let room = typed_param_room(args.nparams, NODE_CPU_STATS_MAX)?;
            let mut params = driver.node_get_cpu_stats(args.cpu_num, args.flags).await?;
            let nparams = if room == 0 {
                let count = clamp_i32(params.len());
                params.clear();
                count
            } else {
                params.truncate(room);
                clamp_i32(params.len())
            };
            Reply::NodeGetCpuStats(NodeCpuStatsRet {
                params: Array(params),
                nparams,
            })
        }
        Call::DomainInterfaceAddresses(args) => {
            let ifaces = driver
                .domain_interface_addresses(&args.dom, args.source, args.flags)
                .await?;
            if ifaces.len() > DOMAIN_INTERFACE_MAX as usize
                || ifaces
                    .iter()
                    .any(|i| i.addrs.len() > DOMAIN_IP_ADDR_MAX as usize)
            {
                return Err(rpc_error(
                    "Number of interfaces or addresses exceeds max limit",
                ));
            }
            Reply::DomainInterfaceAddresses(InterfaceAddressesRet {
                ifaces: Array(ifaces),
            })
        }
        Call::DomainGetFsinfo(args) => {
            let info = driver.domain_get_fsinfo(&args.dom, args.flags).await?;
            if info.len() > DOMAIN_FSINFO_MAX as usize
                || info
                    .iter()
                    .any(|fs| fs.dev_aliases.len() > DOMAIN_FSINFO_DISKS_MAX as usize)
            {
                return Err(rpc_error("Too many mountpoints in fsinfo"));
            }
            let ret = u32::try_from(info.len()).unwrap_or(u32::MAX);
            Reply::DomainGetFsinfo(FsInfoRet {
                info: Array(info),
                ret,
            })
        }
        Call::DomainGetIothreadInfo(args) => {
            let info = driver
                .domain_get_iothread_info(&args.dom, args.flags)
                .await?;
            if info.len() > IOTHREAD_INFO_MAX as usize
                || info.iter().any(|t| t.cpumap.len() > CPUMAP_MAX as usize)
            {
                return Err(rpc_error("Too many IOThreads in info"));
            }
            let ret = u32::try_from(info.len()).unwrap_or(u32::MAX);
            Reply::DomainGetIothreadInfo(IothreadInfoRet {
                info: Array(info),
                ret,
            })
        }
        Call::DomainGetCpuStats(args) => {
            if args.nparams > NODE_CPU_STATS_MAX {
                return Err(rpc_error("nparams too large"));
            }
            if args.ncpus > DOMAIN_GET_CPU_STATS_NCPUS_MAX {
                return Err(rpc_error("ncpus too large"));
            }
            // virDomainGetCPUStats' own argument checks, which libvirtd runs before its driver.
            if args.start_cpu < -1
                || (args.start_cpu == -1 && args.ncpus != 1)
                || (args.ncpus == 0 && args.nparams != 0)
            {
                return Err(Error::invalid_arg(
                    ErrorDomain::DOMAIN,
                    "Invalid arguments to virDomainGetCPUStats",
                ));
            }
            let (mut params, count) = driver
                .domain_get_cpu_stats(
                    &args.dom,
                    args.nparams,
                    args.start_cpu,
                    args.ncpus,
                    args.flags,
                )
                .await?;
            params.truncate((args.nparams * args.ncpus) as usize);
            Reply::DomainGetCpuStats(CpuStatsRet {
                params: Array(params),
                nparams: count,
            })
        }
        Call::DomainGetJobInfo(args) => {
            let job = driver.domain_get_job_info(&args.dom).await?;
            Reply::DomainGetJobInfo(JobInfoRet {
                kind: job.kind,
                time_elapsed: job.time_elapsed,
                time_remaining: job.time_remaining,
                data_total: job.data_total,
                data_processed: job.data_processed,
                data_remaining: job.data_remaining,
                mem_total: job.mem_total,
                mem_processed: job.mem_processed,
                mem_remaining: job.mem_remaining,
                file_total: job.file_total,
                file_processed: job.file_processed,
                file_remaining: job.file_remaining,
            })
        }
        Call::DomainGetJobStats(args) => {
            let (kind, params) = driver.domain_get_job_stats(&args.dom, args.flags).await?;
            if params.len() > DOMAIN_JOB_STATS_MAX as usize {
                return Err(rpc_error("Too many job stats to return"));
            }
            Reply::DomainGetJobStats(JobStatsRet {
                kind,
                params: Array(params),
            })
        }
        Call::ConnectGetDomainCapabilities(args) => {
            let xml = driver
                .get_domain_capabilities(
                    args.emulatorbin.clone(),
                    args.arch.clone(),
                    args.machine.clone(),
                    args.virttype.clone(),
                    args.flags,
                )
                .await?;
            Reply::ConnectGetDomainCapabilities(StringRet { value: xml })
        }
        _ => return Ok(None),
    }))
}
