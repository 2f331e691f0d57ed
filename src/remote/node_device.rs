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
}
