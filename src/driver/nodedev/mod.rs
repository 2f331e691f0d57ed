//! The host's node devices for `qemu:///system`, read from sysfs ([`sysfs`]) and kept until the host changes
//! ([`cache`]: kernel device events and the scanned directories' entries), as libvirt's udev backend keeps its list
//! current from udev events. Read-only: creating, defining and destroying devices (mediated devices, vHBAs) answer
//! "not supported".

mod cache;
mod ethtool;
mod sysfs;

use std::sync::Arc;

use async_trait::async_trait;

pub use sysfs::SysfsRoots;

use crate::driver::NodeDeviceDriver;
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::node_device::{
    cap_bit, DeviceCap, NodeDeviceDef, ScsiHostCap, CAP_FILTERS, LIST_ACTIVE, LIST_INACTIVE,
};

pub(crate) use sysfs::link_info;

/// libvirt's flag check, worded as its `virCheckFlags` words it.
pub(crate) fn check_flags(flags: u32, allowed: u32, function: &str) -> Result<()> {
    let unknown = flags & !allowed;
    if unknown != 0 {
        return Err(Error::new(
            ErrorCode::INVALID_ARG,
            ErrorDomain::NODEDEV,
            format!("unsupported flags (0x{unknown:x}) in function {function}"),
        ));
    }
    Ok(())
}

/// The host's devices, read from the sysfs tree under [`SysfsRoots`].
pub struct HostNodeDevices {
    roots: SysfsRoots,
    cache: cache::ScanCache,
}

impl HostNodeDevices {
    pub fn new(roots: SysfsRoots) -> Self {
        // Kernel events describe the host's own tree only.
        let listen = roots.sys == std::path::Path::new("/sys");
        Self {
            roots,
            cache: cache::ScanCache::new(listen),
        }
    }

    async fn scan(&self) -> Result<Arc<Vec<NodeDeviceDef>>> {
        let roots = self.roots.clone();
        Ok(self.cache.get(&self.roots, move || roots.scan()).await)
    }

    async fn find(&self, name: &str) -> Result<NodeDeviceDef> {
        self.scan()
            .await?
            .iter()
            .find(|d| d.name == name)
            .cloned()
            .ok_or_else(|| no_device(name))
    }

    async fn with_cap(&self, cap: Option<&str>) -> Result<Vec<String>> {
        let bit = match cap {
            None => CAP_FILTERS,
            Some(cap) => cap_bit(cap).unwrap_or(0),
        };
        Ok(self
            .scan()
            .await?
            .iter()
            .filter(|d| d.cap_bits() & bit != 0)
            .map(|d| d.name.clone())
            .collect())
    }
}

/// libvirt's answer for a name it does not know.
pub(crate) fn no_device(name: &str) -> Error {
    Error::with_detail(
        ErrorCode::NO_NODE_DEVICE,
        ErrorDomain::NODEDEV,
        format!("no node device with matching name '{name}'"),
    )
}

/// The capability names `virNodeDeviceListCaps` gives: the device's own and the nested ones it has.
pub(crate) fn cap_names(def: &NodeDeviceDef) -> Vec<String> {
    crate::model::node_device::CAP_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| def.cap_bits() & (1 << i) != 0)
        .map(|(_, name)| name.to_string())
        .collect()
}

#[async_trait]
impl NodeDeviceDriver for HostNodeDevices {
    async fn list_all_node_devices(&self, flags: u32) -> Result<Vec<String>> {
        check_flags(
            flags,
            CAP_FILTERS | LIST_ACTIVE | LIST_INACTIVE,
            "nodeConnectListAllNodeDevices",
        )?;
        // Every device found in sysfs is active; none is merely defined.
        let state = flags & (LIST_ACTIVE | LIST_INACTIVE);
        if state == LIST_INACTIVE {
            return Ok(Vec::new());
        }
        Ok(self
            .scan()
            .await?
            .iter()
            .filter(|d| d.matches(flags))
            .map(|d| d.name.clone())
            .collect())
    }
    async fn node_num_of_devices(&self, cap: Option<&str>, flags: u32) -> Result<i32> {
        check_flags(flags, 0, "nodeNumOfDevices")?;
        let count = self.with_cap(cap).await?.len();
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
    async fn node_list_devices(&self, cap: Option<&str>, flags: u32) -> Result<Vec<String>> {
        check_flags(flags, 0, "nodeListDevices")?;
        self.with_cap(cap).await
    }
    async fn node_device_lookup_by_name(&self, name: &str) -> Result<String> {
        Ok(self.find(name).await?.name)
    }
    async fn node_device_lookup_scsi_host_by_wwn(
        &self,
        wwnn: &str,
        wwpn: &str,
        flags: u32,
    ) -> Result<String> {
        check_flags(flags, 0, "nodeDeviceLookupSCSIHostByWWN")?;
        let devices = self.scan().await?;
        let found = devices.iter().find(|d| match &d.cap {
            DeviceCap::ScsiHost(ScsiHostCap {
                fc_host: Some(fc), ..
            }) => fc.wwnn == wwnn && fc.wwpn == wwpn,
            _ => false,
        });
        // libvirt returns no device and sets no error, which its daemon sends as this.
        found.map(|d| d.name.clone()).ok_or_else(|| {
            Error::new(
                ErrorCode::INTERNAL_ERROR,
                ErrorDomain::NONE,
                "An error occurred, but the cause is unknown",
            )
        })
    }
    async fn node_device_get_xml_desc(&self, name: &str, flags: u32) -> Result<String> {
        check_flags(flags, 0, "nodeDeviceGetXMLDesc")?;
        Ok(self.find(name).await?.to_xml())
    }
    async fn node_device_get_parent(&self, name: &str) -> Result<Option<String>> {
        Ok(self.find(name).await?.parent)
    }
    async fn node_device_num_of_caps(&self, name: &str) -> Result<i32> {
        let caps = cap_names(&self.find(name).await?);
        Ok(i32::try_from(caps.len()).unwrap_or(i32::MAX))
    }
    async fn node_device_list_caps(&self, name: &str) -> Result<Vec<String>> {
        Ok(cap_names(&self.find(name).await?))
    }
    async fn node_device_is_active(&self, name: &str) -> Result<bool> {
        self.find(name).await.map(|_| true)
    }
    async fn node_device_is_persistent(&self, name: &str) -> Result<bool> {
        self.find(name).await.map(|_| false)
    }
    async fn node_device_get_autostart(&self, name: &str) -> Result<bool> {
        self.find(name).await.map(|_| false)
    }
}
