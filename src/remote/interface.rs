//! The remote driver's hand-written methods for host interfaces: the calls whose wire form differs from the
//! driver API (plain procedures when no flags are given, fallbacks to old-style calls, conversions and caps).

use super::calls::imp;
use super::*;
use crate::driver::*;

impl imp::interface::Hand for RemoteDriver {
    async fn list_all_interfaces(&self, flags: u32) -> Result<Vec<InterfaceRef>> {
        let args = ListAllArgs {
            need_results: 1,
            flags,
        };
        let ret: ListAllInterfacesRet = self.call(P::ConnectListAllInterfaces, args).await?;
        Ok(ret.ifaces.0)
    }
    async fn interface_lookup_by_name(&self, name: &str) -> Result<InterfaceRef> {
        let args = StringArgs {
            value: name.to_string(),
        };
        let ret: InterfaceRet = self.call(P::InterfaceLookupByName, args).await?;
        Ok(ret.iface)
    }
    async fn interface_lookup_by_mac_string(&self, mac: &str) -> Result<InterfaceRef> {
        let args = StringArgs {
            value: mac.to_string(),
        };
        let ret: InterfaceRet = self.call(P::InterfaceLookupByMacString, args).await?;
        Ok(ret.iface)
    }
    async fn interface_get_xml_desc(&self, iface: &InterfaceRef, flags: u32) -> Result<String> {
        let args = InterfaceFlagsArgs {
            iface: iface.clone(),
            flags,
        };
        let ret: StringRet = self.call(P::InterfaceGetXmlDesc, args).await?;
        Ok(ret.value)
    }
    async fn interface_define_xml(&self, xml: &str, flags: u32) -> Result<InterfaceRef> {
        let args = StringFlagsArgs {
            value: xml.to_string(),
            flags,
        };
        let ret: InterfaceRet = self.call(P::InterfaceDefineXml, args).await?;
        Ok(ret.iface)
    }
    async fn interface_undefine(&self, iface: &InterfaceRef) -> Result<()> {
        let args = InterfaceArgs {
            iface: iface.clone(),
        };
        self.call(P::InterfaceUndefine, args).await
    }
    async fn interface_create(&self, iface: &InterfaceRef, flags: u32) -> Result<()> {
        let args = InterfaceFlagsArgs {
            iface: iface.clone(),
            flags,
        };
        self.call(P::InterfaceCreate, args).await
    }
    async fn interface_destroy(&self, iface: &InterfaceRef, flags: u32) -> Result<()> {
        let args = InterfaceFlagsArgs {
            iface: iface.clone(),
            flags,
        };
        self.call(P::InterfaceDestroy, args).await
    }
    async fn interface_is_active(&self, iface: &InterfaceRef) -> Result<bool> {
        let args = InterfaceArgs {
            iface: iface.clone(),
        };
        self.flag(P::InterfaceIsActive, args).await
    }
}
