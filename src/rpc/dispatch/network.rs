//! The hand-written server side of virtual networks: listings in both styles: the calls whose wire form differs from the driver API (caps,
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
        Call::ConnectListAllNetworks(args) => {
            let nets = driver.list_all_networks(args.flags).await?;
            let ret = u32::try_from(nets.len()).unwrap_or(u32::MAX);
            let nets = if args.need_results != 0 {
                nets
            } else {
                Vec::new()
            };
            if nets.len() > NETWORK_LIST_MAX as usize {
                return Err(rpc_error(format!(
                    "too many networks '{}' for limit '{NETWORK_LIST_MAX}'",
                    nets.len()
                )));
            }
            Reply::ConnectListAllNetworks(ListAllNetworksRet {
                nets: Array(nets),
                ret,
            })
        }
        Call::ConnectNumOfNetworks(()) => Reply::ConnectNumOfNetworks(count(
            driver
                .list_all_networks(f::LIST_NETWORKS_ACTIVE)
                .await?
                .len(),
        )),
        Call::ConnectListNetworks(args) => {
            let limit = list_limit(args.value, NETWORK_LIST_MAX, "maxnames")?;
            let nets = driver.list_all_networks(f::LIST_NETWORKS_ACTIVE).await?;
            Reply::ConnectListNetworks(NetworkNamesRet {
                names: Array(names(nets, limit, |n| n.name)),
            })
        }
        Call::ConnectNumOfDefinedNetworks(()) => Reply::ConnectNumOfDefinedNetworks(count(
            driver
                .list_all_networks(f::LIST_NETWORKS_INACTIVE)
                .await?
                .len(),
        )),
        Call::ConnectListDefinedNetworks(args) => {
            let limit = list_limit(args.value, NETWORK_LIST_MAX, "maxnames")?;
            let nets = driver.list_all_networks(f::LIST_NETWORKS_INACTIVE).await?;
            Reply::ConnectListDefinedNetworks(NetworkNamesRet {
                names: Array(names(nets, limit, |n| n.name)),
            })
        }
        Call::NetworkGetDhcpLeases(args) => {
            let leases = driver
                .network_get_dhcp_leases(&args.net, args.mac.as_deref(), args.flags)
                .await?;
            if leases.len() > NETWORK_DHCP_LEASES_MAX as usize {
                return Err(rpc_error(format!(
                    "Number of leases is {}, which exceeds max limit: {NETWORK_DHCP_LEASES_MAX}",
                    leases.len()
                )));
            }
            let ret = u32::try_from(leases.len()).unwrap_or(u32::MAX);
            let leases = if args.need_results != 0 {
                leases
                    .into_iter()
                    .map(|l| NetworkDhcpLeaseWire {
                        iface: l.iface,
                        expirytime: l.expiry_time,
                        type_: l.addr_type,
                        mac: l.mac,
                        iaid: l.iaid,
                        ipaddr: l.ip.unwrap_or_default(),
                        prefix: l.prefix,
                        hostname: l.hostname,
                        clientid: l.client_id,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            Reply::NetworkGetDhcpLeases(NetworkGetDhcpLeasesRet {
                leases: Array(leases),
                ret,
            })
        }
        _ => return Ok(None),
    }))
}
