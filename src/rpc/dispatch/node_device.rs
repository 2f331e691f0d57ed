//! The hand-written server side of node devices: the list-all call: the calls whose wire form differs from the driver API (caps,
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
        Call::ConnectListAllNodeDevices(args) => {
            let devices = driver.list_all_node_devices(args.flags).await?;
            if devices.len() > NODE_DEVICE_LIST_MAX as usize {
                return Err(rpc_error(format!(
                    "too many node devices '{}' for limit '{NODE_DEVICE_LIST_MAX}'",
                    devices.len()
                )));
            }
            let ret = u32::try_from(devices.len()).unwrap_or(u32::MAX);
            let devices = if args.need_results != 0 {
                devices
            } else {
                Vec::new()
            };
            Reply::ConnectListAllNodeDevices(ListAllNodeDevicesRet {
                devices: Array(devices),
                ret,
            })
        }
        _ => return Ok(None),
    }))
}
