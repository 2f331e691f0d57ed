//! The host's object drivers (networks, interfaces, node devices, secrets, network filters) that every
//! hypervisor connection on this host shares, as libvirt shares its network, nodedev, secret and nwfilter drivers.
//!
//! Each slot holds the driver that serves one object family; a family not built yet is [`NoDriver`], which
//! answers libvirt's "not supported". The hypervisor driver opens this set before it finds its guests again, so
//! autostarted networks are up before autostarted guests, and plugs every slot into each connection it serves.

use std::path::Path;
use std::sync::Arc;

use crate::driver::iface::HostInterfaces;
use crate::driver::nodedev::{HostNodeDevices, SysfsRoots};
use crate::driver::{
    ConnectionBuilder, InterfaceDriver, NetworkDriver, NoDriver, NodeDeviceDriver, NwFilterDriver,
    SecretDriver,
};
use crate::error::Result;

/// Which of a host's driver sets: the privileged one (`/system`) or a user's own (`/session`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HostMode {
    System,
    Session,
}

/// One host's shared object drivers.
#[derive(Clone)]
pub struct HostDrivers {
    pub network: Arc<dyn NetworkDriver>,
    pub interface: Arc<dyn InterfaceDriver>,
    pub node_device: Arc<dyn NodeDeviceDriver>,
    pub secret: Arc<dyn SecretDriver>,
    pub nwfilter: Arc<dyn NwFilterDriver>,
}

impl HostDrivers {
    /// Every slot "not supported".
    pub fn none() -> Self {
        Self {
            network: Arc::new(NoDriver),
            interface: Arc::new(NoDriver),
            node_device: Arc::new(NoDriver),
            secret: Arc::new(NoDriver),
            nwfilter: Arc::new(NoDriver),
        }
    }

    /// Opens the host's drivers, keeping their state under `root` (the hypervisor driver's own directory).
    pub async fn open(root: &Path, mode: HostMode) -> Result<Self> {
        let _ = (root, mode);
        // Node devices and links are the host's, the same for every user (libvirt's session daemon lists them too).
        Ok(Self {
            interface: Arc::new(HostInterfaces::host()),
            node_device: Arc::new(HostNodeDevices::new(SysfsRoots::host())),
            ..Self::none()
        })
    }

    /// Plugs every slot into a connection being built.
    pub fn plug(&self, builder: ConnectionBuilder) -> ConnectionBuilder {
        builder
            .network(self.network.clone())
            .interface(self.interface.clone())
            .node_device(self.node_device.clone())
            .secret(self.secret.clone())
            .nwfilter(self.nwfilter.clone())
    }
}
