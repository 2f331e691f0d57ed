//! The remote driver's hand-written methods for node devices: the calls whose wire form differs from the
//! driver API (plain procedures when no flags are given, fallbacks to old-style calls, conversions and caps).

use super::calls::imp;
use super::*;

impl imp::node_device::Hand for RemoteDriver {
    async fn list_all_node_devices(&self, flags: u32) -> Result<Vec<String>> {
        let args = ListAllArgs {
            need_results: 1,
            flags,
        };
        let ret: ListAllNodeDevicesRet = self.call(P::ConnectListAllNodeDevices, args).await?;
        Ok(ret.devices.0)
    }
    async fn node_list_devices(&self, cap: Option<&str>, flags: u32) -> Result<Vec<String>> {
        // The API wants every name: ask for as many as the protocol allows, in one call.
        let args = NodeListDevicesArgs {
            cap: cap.map(str::to_string),
            maxnames: i32::try_from(NODE_DEVICE_LIST_MAX).unwrap_or(i32::MAX),
            flags,
        };
        let ret: NodeDeviceNamesRet = self.call(P::NodeListDevices, args).await?;
        Ok(ret.names.0)
    }
    async fn node_device_list_caps(&self, name: &str) -> Result<Vec<String>> {
        let args = NodeDeviceListCapsArgs {
            name: name.to_string(),
            maxnames: i32::try_from(NODE_DEVICE_CAPS_LIST_MAX).unwrap_or(i32::MAX),
        };
        let ret: NodeDeviceCapsRet = self.call(P::NodeDeviceListCaps, args).await?;
        Ok(ret.names.0)
    }
}
