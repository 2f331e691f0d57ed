//! The host's network interfaces for `qemu:///system`, read-only as libvirt's udev interface backend
//! (`interface_backend_udev.c`, the one Debian builds) serves them: every link in sysfs except bridge ports and
//! tap devices, active when its operstate is `up`, described from sysfs ([`sysfs`]). Defining, undefining,
//! starting, stopping and change transactions answer "not supported", as that backend does.
//!
//! One addition: the live description (without `VIR_INTERFACE_XML_INACTIVE`) carries the link's addresses as
//! `<protocol>` blocks, as libvirt's netcf backend reports a running interface; the udev backend leaves them
//! out. They come from `ip -j addr` ([`addrs`]): iproute2 is on every host libvirt runs on, its JSON is stable,
//! and parsing it with serde keeps a netlink stack (and its unsafe socket code) out of this crate.

mod addrs;
mod sysfs;

use std::path::PathBuf;

use async_trait::async_trait;

pub use sysfs::IfaceRoots;

use crate::driver::{flags, InterfaceDriver, InterfaceRef};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};

/// The host's interfaces, read from the sysfs tree under [`IfaceRoots`].
pub struct HostInterfaces {
    roots: IfaceRoots,
    /// The `ip` program that lists addresses; `None` leaves addresses out.
    ip: Option<PathBuf>,
}

fn check_flags(flags: u32, allowed: u32, function: &str) -> Result<()> {
    let unknown = flags & !allowed;
    if unknown != 0 {
        return Err(Error::new(
            ErrorCode::INVALID_ARG,
            ErrorDomain::INTERFACE,
            format!("unsupported flags (0x{unknown:x}) in function {function}"),
        ));
    }
    Ok(())
}

/// What libvirt's udev backend answers for every change: it has no such method (its error domain is the
/// interface driver's, where the generic default names another).
fn read_only_backend(api: &str) -> Error {
    Error::with_detail(ErrorCode::NO_SUPPORT, ErrorDomain::INTERFACE, api)
}

fn no_interface(detail: String) -> Error {
    Error::with_detail(ErrorCode::NO_INTERFACE, ErrorDomain::INTERFACE, detail)
}

impl HostInterfaces {
    pub fn new(roots: IfaceRoots, ip: Option<PathBuf>) -> Self {
        Self { roots, ip }
    }

    /// The host's own: `/sys`, and `ip` from iproute2 where it is installed.
    pub fn host() -> Self {
        let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        Self::new(IfaceRoots::host(), ip)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce(IfaceRoots) -> T + Send + 'static,
    ) -> Result<T> {
        let roots = self.roots.clone();
        tokio::task::spawn_blocking(move || job(roots))
            .await
            .map_err(|e| {
                Error::internal(
                    ErrorDomain::INTERFACE,
                    format!("interface scan failed: {e}"),
                )
            })
    }

    async fn existing(&self, name: &str) -> Result<InterfaceRef> {
        let owned = name.to_string();
        self.blocking(move |roots| roots.handle(&owned))
            .await?
            .ok_or_else(|| no_interface(format!("couldn't find interface named '{name}'")))
    }
}

#[async_trait]
impl InterfaceDriver for HostInterfaces {
    async fn list_all_interfaces(&self, flags: u32) -> Result<Vec<InterfaceRef>> {
        check_flags(
            flags,
            flags::LIST_INTERFACES_ACTIVE | flags::LIST_INTERFACES_INACTIVE,
            "udevConnectListAllInterfaces",
        )?;
        let listed = self.blocking(|roots| roots.list()).await?;
        let want_active = flags & flags::LIST_INTERFACES_ACTIVE != 0;
        let want_inactive = flags & flags::LIST_INTERFACES_INACTIVE != 0;
        Ok(listed
            .into_iter()
            .filter(|(_, active)| {
                (!want_active && !want_inactive)
                    || (*active && want_active)
                    || (!*active && want_inactive)
            })
            .map(|(iface, _)| iface)
            .collect())
    }
    async fn interface_lookup_by_name(&self, name: &str) -> Result<InterfaceRef> {
        self.existing(name).await
    }
    async fn interface_lookup_by_mac_string(&self, mac: &str) -> Result<InterfaceRef> {
        let listed = self.blocking(|roots| roots.list()).await?;
        let mut matching = listed.into_iter().filter(|(i, _)| i.mac == mac);
        match (matching.next(), matching.next()) {
            (Some((iface, _)), None) => Ok(iface),
            (None, _) => Err(no_interface(format!(
                "couldn't find interface with MAC address '{mac}'"
            ))),
            (Some(_), Some(_)) => Err(Error::with_detail(
                ErrorCode::MULTIPLE_INTERFACES,
                ErrorDomain::INTERFACE,
                format!("the MAC address '{mac}' matches multiple interfaces"),
            )),
        }
    }
    async fn interface_get_xml_desc(&self, iface: &InterfaceRef, flags: u32) -> Result<String> {
        check_flags(
            flags,
            flags::INTERFACE_XML_INACTIVE,
            "udevInterfaceGetXMLDesc",
        )?;
        let name = iface.name.clone();
        let mut def = self
            .blocking(move |roots| roots.definition(&name))
            .await?
            .ok_or_else(|| {
                no_interface(format!("couldn't find interface named '{}'", iface.name))
            })?;
        if flags & flags::INTERFACE_XML_INACTIVE == 0 {
            if let Some(ip) = &self.ip {
                def.protocols = addrs::protocols(ip, &iface.name).await;
            }
        }
        Ok(def.to_xml())
    }
    async fn interface_define_xml(&self, _xml: &str, _flags: u32) -> Result<InterfaceRef> {
        Err(read_only_backend("virInterfaceDefineXML"))
    }
    async fn interface_undefine(&self, _iface: &InterfaceRef) -> Result<()> {
        Err(read_only_backend("virInterfaceUndefine"))
    }
    async fn interface_create(&self, _iface: &InterfaceRef, _flags: u32) -> Result<()> {
        Err(read_only_backend("virInterfaceCreate"))
    }
    async fn interface_destroy(&self, _iface: &InterfaceRef, _flags: u32) -> Result<()> {
        Err(read_only_backend("virInterfaceDestroy"))
    }
    async fn interface_change_begin(&self, _flags: u32) -> Result<()> {
        Err(read_only_backend("virInterfaceChangeBegin"))
    }
    async fn interface_change_commit(&self, _flags: u32) -> Result<()> {
        Err(read_only_backend("virInterfaceChangeCommit"))
    }
    async fn interface_change_rollback(&self, _flags: u32) -> Result<()> {
        Err(read_only_backend("virInterfaceChangeRollback"))
    }
    async fn interface_is_active(&self, iface: &InterfaceRef) -> Result<bool> {
        let name = iface.name.clone();
        self.blocking(move |roots| roots.is_active(&name))
            .await?
            .ok_or_else(|| no_interface(format!("couldn't find interface named '{}'", iface.name)))
    }
}
