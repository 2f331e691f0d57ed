//! The hand-written server side of domains: listings in both styles, state and information, vCPUs, the scheduler, memory statistics: the calls whose wire form differs from the driver API (caps,
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
        Call::ConnectListAllDomains(args) => {
            let domains = driver.list_all_domains(args.flags).await?;
            let ret = u32::try_from(domains.len()).unwrap_or(u32::MAX);
            let domains = if args.need_results != 0 {
                domains
            } else {
                Vec::new()
            };
            if domains.len() > DOMAIN_LIST_MAX as usize {
                return Err(rpc_error(format!(
                    "too many domains '{}' for limit '{DOMAIN_LIST_MAX}'",
                    domains.len()
                )));
            }
            Reply::ConnectListAllDomains(ListAllDomainsRet {
                domains: Array(domains),
                ret,
            })
        }
        Call::ConnectNumOfDomains(()) => Reply::ConnectNumOfDomains(count(
            driver.list_all_domains(f::LIST_DOMAINS_ACTIVE).await?.len(),
        )),
        Call::ConnectListDomains(args) => {
            let limit = list_limit(args.value, DOMAIN_LIST_MAX, "maxids")?;
            let domains = driver.list_all_domains(f::LIST_DOMAINS_ACTIVE).await?;
            let ids = domains.into_iter().take(limit).map(|dom| dom.id).collect();
            Reply::ConnectListDomains(DomainIdsRet { ids: Array(ids) })
        }
        Call::ConnectNumOfDefinedDomains(()) => Reply::ConnectNumOfDefinedDomains(count(
            driver
                .list_all_domains(f::LIST_DOMAINS_INACTIVE)
                .await?
                .len(),
        )),
        Call::ConnectListDefinedDomains(args) => {
            let limit = list_limit(args.value, DOMAIN_LIST_MAX, "maxnames")?;
            let domains = driver.list_all_domains(f::LIST_DOMAINS_INACTIVE).await?;
            Reply::ConnectListDefinedDomains(DomainNamesRet {
                names: Array(names(domains, limit, |d| d.name)),
            })
        }
        Call::DomainGetVcpus(args) => {
            let (max_info, map_len) = vcpu_map_bounds(args.max_info, args.map_len, "maxinfo")?;
            let (info, maps) = driver
                .domain_get_vcpu_info(&args.dom, max_info, map_len)
                .await?;
            if info.len() > max_info as usize || maps.len() > info.len() * map_len as usize {
                return Err(rpc_error("the driver answered more vCPUs than asked for"));
            }
            Reply::DomainGetVcpus(DomainGetVcpusRet {
                info: Array(info),
                cpumaps: Opaque(maps),
            })
        }
        Call::DomainGetVcpuPinInfo(args) => {
            let (max_maps, map_len) = vcpu_map_bounds(args.max_maps, args.map_len, "ncpumaps")?;
            let (num, maps) = driver
                .domain_get_vcpu_pin_info(&args.dom, max_maps, map_len, args.flags)
                .await?;
            if num > max_maps || maps.len() > num as usize * map_len as usize {
                return Err(rpc_error("the driver answered more vCPUs than asked for"));
            }
            Reply::DomainGetVcpuPinInfo(VcpuPinInfoRet {
                cpumaps: Opaque(maps),
                num: clamp_i32(num),
            })
        }
        Call::DomainGetSchedulerParameters(args) => {
            let params =
                scheduler_parameters(driver, &args.dom, args.nparams, f::AFFECT_CURRENT).await?;
            Reply::DomainGetSchedulerParameters(SchedulerParamsRet { params })
        }
        Call::DomainGetSchedulerParametersFlags(args) => {
            let params = scheduler_parameters(driver, &args.dom, args.nparams, args.flags).await?;
            Reply::DomainGetSchedulerParametersFlags(SchedulerParamsRet { params })
        }
        _ => return Ok(None),
    }))
}
