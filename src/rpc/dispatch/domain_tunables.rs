//! The hand-written server side of domain tunables: memory, blkio, NUMA, scheduler and perf parameters, pinning, block I/O tuning, the guest clock: the calls whose wire form differs from the driver API (caps,
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
        Call::DomainGetMemoryParameters(args) => {
            Reply::DomainGetMemoryParameters(tunables_get(driver, args, TunableKind::Memory).await?)
        }
        Call::DomainGetBlkioParameters(args) => {
            Reply::DomainGetBlkioParameters(tunables_get(driver, args, TunableKind::Blkio).await?)
        }
        Call::DomainGetNumaParameters(args) => {
            Reply::DomainGetNumaParameters(tunables_get(driver, args, TunableKind::Numa).await?)
        }
        Call::DomainSetMemoryParameters(args) => {
            let kind = TunableKind::Memory;
            driver
                .domain_set_tunables(&args.dom, kind, args.params.0.clone(), args.flags)
                .await?;
            Reply::DomainSetMemoryParameters(())
        }
        Call::DomainSetBlkioParameters(args) => {
            let kind = TunableKind::Blkio;
            driver
                .domain_set_tunables(&args.dom, kind, args.params.0.clone(), args.flags)
                .await?;
            Reply::DomainSetBlkioParameters(())
        }
        Call::DomainSetNumaParameters(args) => {
            let kind = TunableKind::Numa;
            driver
                .domain_set_tunables(&args.dom, kind, args.params.0.clone(), args.flags)
                .await?;
            Reply::DomainSetNumaParameters(())
        }
        Call::DomainSetSchedulerParameters(args) => {
            let kind = TunableKind::Scheduler;
            driver
                .domain_set_tunables(&args.dom, kind, args.params.0.clone(), 0)
                .await?;
            Reply::DomainSetSchedulerParameters(())
        }
        Call::DomainSetSchedulerParametersFlags(args) => {
            let kind = TunableKind::Scheduler;
            driver
                .domain_set_tunables(&args.dom, kind, args.params.0.clone(), args.flags)
                .await?;
            Reply::DomainSetSchedulerParametersFlags(())
        }
        Call::DomainGetEmulatorPinInfo(args) => {
            let map_len = u32::try_from(args.map_len)
                .ok()
                .filter(|len| *len <= proto::CPUMAPS_MAX)
                .ok_or_else(|| rpc_error("maplen > REMOTE_CPUMAPS_MAX"))?;
            let mut map = driver
                .domain_get_emulator_pin_info(&args.dom, map_len, args.flags)
                .await?;
            map.resize(map_len as usize, 0);
            Reply::DomainGetEmulatorPinInfo(proto::EmulatorPinInfoRet {
                cpumaps: Opaque(map),
                ret: 1,
            })
        }
        Call::DomainGetPerfEvents(args) => {
            let kind = TunableKind::Perf;
            let mut params = driver
                .domain_get_tunables(&args.dom, kind, proto::PERF_EVENTS_MAX, args.flags)
                .await?;
            params.truncate(proto::PERF_EVENTS_MAX as usize);
            Reply::DomainGetPerfEvents(proto::PerfEventsRet {
                params: Array(params),
            })
        }
        Call::DomainSetPerfEvents(args) => {
            let kind = TunableKind::Perf;
            driver
                .domain_set_tunables(&args.dom, kind, args.params.0.clone(), args.flags)
                .await?;
            Reply::DomainSetPerfEvents(())
        }
        Call::DomainGetBlockIoTune(args) => {
            let Ok(room) = u32::try_from(args.nparams) else {
                return Err(rpc_error("nparams must not be negative"));
            };
            if room > proto::BLOCK_IO_TUNE_PARAMETERS_MAX {
                return Err(rpc_error("nparams too large"));
            }
            let mut params = driver
                .domain_get_block_io_tune(&args.dom, args.disk.clone(), room, args.flags)
                .await?;
            let ret = if room == 0 {
                let nparams = clamp_i32(params.len());
                proto::BlockIoTuneGetRet {
                    params: Array(Vec::new()),
                    nparams,
                }
            } else {
                params.truncate(room as usize);
                if args.flags & f::TYPED_PARAM_STRING_OKAY == 0 {
                    params.retain(|p| !matches!(p.value, crate::driver::TypedValue::String(_)));
                }
                proto::BlockIoTuneGetRet {
                    params: Array(params),
                    nparams: 0,
                }
            };
            Reply::DomainGetBlockIoTune(ret)
        }
        Call::DomainMemoryStats(args) => {
            if args.max_stats > DOMAIN_MEMORY_STATS_MAX {
                return Err(rpc_error("maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX"));
            }
            let mut stats = driver
                .domain_memory_stats(&args.dom, args.max_stats, args.flags)
                .await?;
            stats.truncate(args.max_stats as usize);
            Reply::DomainMemoryStats(DomainMemoryStatsRet {
                stats: Array(stats),
            })
        }
        _ => return Ok(None),
    }))
}
