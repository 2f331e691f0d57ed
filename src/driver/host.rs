//! The host's object drivers (networks, storage, interfaces, node devices, secrets, network filters) that every
//! hypervisor connection on this host shares, as libvirt shares its network, nodedev, secret and nwfilter drivers.
//!
//! Each slot holds the driver that serves one object family; a family not built yet is [`NoDriver`], which
//! answers libvirt's "not supported". The hypervisor driver opens this set before it finds its guests again, so
//! autostarted networks are up before autostarted guests, and plugs every slot into each connection it serves.

use std::path::Path;
use std::sync::Arc;

use crate::driver::iface::HostInterfaces;
use crate::driver::network::HostNetworkDriver;
use crate::driver::nodedev::{HostNodeDevices, SysfsRoots};
use crate::driver::nwfilter::{self, NwFilterStore};
use crate::driver::secret::SecretStore;
use crate::driver::storage::StorageHost;
use crate::driver::{
    ConnectionBuilder, InterfaceDriver, NetworkDriver, NoDriver, NodeDeviceDriver, NwFilterDriver,
    SecretDriver, StorageDriver,
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
    pub storage: Arc<dyn StorageDriver>,
    pub interface: Arc<dyn InterfaceDriver>,
    pub node_device: Arc<dyn NodeDeviceDriver>,
    pub secret: Arc<dyn SecretDriver>,
    pub nwfilter: Arc<dyn NwFilterDriver>,
    /// The secret store behind `secret`, for the hypervisor's checks of the secrets its guests name.
    pub secrets: Option<Arc<SecretStore>>,
    /// The filter store behind `nwfilter`, for the hypervisor to bind its guests' `<filterref>`s.
    pub nwfilters: Option<Arc<NwFilterStore>>,
}

impl HostDrivers {
    /// Every slot "not supported".
    pub fn none() -> Self {
        Self {
            network: Arc::new(NoDriver),
            storage: Arc::new(NoDriver),
            interface: Arc::new(NoDriver),
            node_device: Arc::new(NoDriver),
            secret: Arc::new(NoDriver),
            nwfilter: Arc::new(NoDriver),
            secrets: None,
            nwfilters: None,
        }
    }

    /// Opens the host's drivers, keeping their state under `root` (the hypervisor driver's own directory).
    pub async fn open(root: &Path, mode: HostMode) -> Result<Self> {
        let mut drivers = Self::none();
        // Node devices and links are the host's, the same for every user (libvirt's session daemon lists them too).
        drivers.node_device = Arc::new(HostNodeDevices::new(SysfsRoots::host()));
        drivers.interface = Arc::new(HostInterfaces::host());
        // Storage keeps its pools in `ROOT/storage/`, where the QEMU driver kept its dir pools before.
        drivers.storage = Arc::new(StorageHost::open(&root.join("storage")).await?);
        // As in libvirt, a user's session has no network driver of its own (it has no privilege to make bridges).
        if mode == HostMode::System {
            drivers.network = Arc::new(HostNetworkDriver::open(root).await?);
        }
        let secrets = Arc::new(SecretStore::open(&root.join("secrets"))?);
        drivers.secret = secrets.clone();
        drivers.secrets = Some(secrets);
        // As libvirt, network filters belong to the privileged daemon only.
        if mode == HostMode::System {
            let store = Arc::new(NwFilterStore::open(
                &root.join("nwfilter"),
                nwfilter::table_name(root),
                Arc::new(nwfilter::Nft),
            )?);
            drivers.nwfilter = store.clone();
            drivers.nwfilters = Some(store);
        }
        Ok(drivers)
    }

    /// Refuses a guest whose disks name a secret that is not defined or has no value (libvirt's words).
    pub fn check_guest_secrets(&self, def: &crate::model::DomainDef) -> Result<()> {
        match &self.secrets {
            Some(store) => store.check_guest(def),
            None => Ok(()),
        }
    }

    /// Binds a starting guest's `<filterref>`s to its taps; the ports bound.
    pub fn bind_guest_filters(&self, def: &crate::model::DomainDef) -> Result<Vec<String>> {
        match &self.nwfilters {
            Some(store) => store.bind_guest(def),
            None => Ok(Vec::new()),
        }
    }

    /// Removes the filter bindings of a stopped guest's taps.
    pub fn unbind_guest_filters(&self, ports: &[String]) {
        if let Some(store) = &self.nwfilters {
            store.unbind_ports(ports);
        }
    }

    /// Plugs every slot into a connection being built.
    pub fn plug(&self, builder: ConnectionBuilder) -> ConnectionBuilder {
        builder
            .network(self.network.clone())
            .storage(self.storage.clone())
            .interface(self.interface.clone())
            .node_device(self.node_device.clone())
            .secret(self.secret.clone())
            .nwfilter(self.nwfilter.clone())
    }
}
