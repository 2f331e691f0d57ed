//! The hand-written server side of node devices: the listings whose wire form differs from the driver API
//! (`need_results`, `maxnames` caps); the rest are generated from the declaration.

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
        Call::NodeListDevices(args) => {
            let limit = list_limit(args.maxnames, NODE_DEVICE_LIST_MAX, "maxnames")?;
            let devices = driver
                .node_list_devices(args.cap.as_deref(), args.flags)
                .await?;
            Reply::NodeListDevices(NodeDeviceNamesRet {
                names: Array(devices.into_iter().take(limit).collect()),
            })
        }
        Call::NodeDeviceListCaps(args) => {
            let limit = list_limit(args.maxnames, NODE_DEVICE_CAPS_LIST_MAX, "maxnames")?;
            let caps = driver.node_device_list_caps(&args.name).await?;
            Reply::NodeDeviceListCaps(NodeDeviceCapsRet {
                names: Array(caps.into_iter().take(limit).collect()),
            })
        }
        _ => return Ok(None),
    }))
}
