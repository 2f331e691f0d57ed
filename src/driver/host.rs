//! The host's object drivers (networks, interfaces, node devices, secrets, network filters) that every
//! hypervisor connection on this host shares, as libvirt shares its network, nodedev, secret and nwfilter drivers.
//!
//! Each slot holds the driver that serves one object family; a family not built yet is [`NoDriver`], which
//! answers libvirt's "not supported". The hypervisor driver opens this set before it finds its guests again, so
//! autostarted networks are up before autostarted guests, and plugs every slot into each connection it serves.

use std::path::Path;
use std::sync::Arc;

use crate::driver::nwfilter::{self, NwFilterStore};
use crate::driver::secret::SecretStore;
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
        let secrets = Arc::new(SecretStore::open(&root.join("secrets"))?);
        // As libvirt, network filters belong to the privileged daemon only.
        let nwfilters = match mode {
            HostMode::System => Some(Arc::new(NwFilterStore::open(
                &root.join("nwfilter"),
                nwfilter::table_name(root),
                Arc::new(nwfilter::Nft),
            )?)),
            HostMode::Session => None,
        };
        let nwfilter: Arc<dyn NwFilterDriver> = match &nwfilters {
            Some(store) => store.clone(),
            None => Arc::new(NoDriver),
        };
        Ok(Self {
            secret: secrets.clone(),
            secrets: Some(secrets),
            nwfilter,
            nwfilters,
            ..Self::none()
        })
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
            .interface(self.interface.clone())
            .node_device(self.node_device.clone())
            .secret(self.secret.clone())
            .nwfilter(self.nwfilter.clone())
    }
}
