//! The hand-written server side of host interfaces: listings in both styles: the calls whose wire form differs from the driver API (caps,
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
        Call::ConnectListAllInterfaces(args) => {
            let ifaces = driver.list_all_interfaces(args.flags).await?;
            if ifaces.len() > INTERFACE_LIST_MAX as usize {
                return Err(rpc_error(format!(
                    "too many interfaces '{}' for limit '{INTERFACE_LIST_MAX}'",
                    ifaces.len()
                )));
            }
            let ret = u32::try_from(ifaces.len()).unwrap_or(u32::MAX);
            let ifaces = if args.need_results != 0 {
                ifaces
            } else {
                Vec::new()
            };
            Reply::ConnectListAllInterfaces(ListAllInterfacesRet {
                ifaces: Array(ifaces),
                ret,
            })
        }
        Call::ConnectNumOfInterfaces(()) => Reply::ConnectNumOfInterfaces(count(
            driver
                .list_all_interfaces(f::LIST_INTERFACES_ACTIVE)
                .await?
                .len(),
        )),
        Call::ConnectListInterfaces(args) => {
            let limit = list_limit(args.value, INTERFACE_LIST_MAX, "maxnames")?;
            let ifaces = driver
                .list_all_interfaces(f::LIST_INTERFACES_ACTIVE)
                .await?;
            Reply::ConnectListInterfaces(InterfaceNamesRet {
                names: Array(names(ifaces, limit, |i| i.name)),
            })
        }
        Call::ConnectNumOfDefinedInterfaces(()) => Reply::ConnectNumOfDefinedInterfaces(count(
            driver
                .list_all_interfaces(f::LIST_INTERFACES_INACTIVE)
                .await?
                .len(),
        )),
        Call::ConnectListDefinedInterfaces(args) => {
            let limit = list_limit(args.value, INTERFACE_LIST_MAX, "maxnames")?;
            let ifaces = driver
                .list_all_interfaces(f::LIST_INTERFACES_INACTIVE)
                .await?;
            Reply::ConnectListDefinedInterfaces(InterfaceNamesRet {
                names: Array(names(ifaces, limit, |i| i.name)),
            })
        }
        _ => return Ok(None),
    }))
}
