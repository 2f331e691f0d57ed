//! The remote driver's hand-written methods for virtual networks: the calls whose wire form differs from the
//! driver API (plain procedures when no flags are given, fallbacks to old-style calls, conversions and caps).

use super::calls::imp;
use super::*;
use crate::driver::*;

impl imp::network::Hand for RemoteDriver {
    // ---- networks ----
    async fn list_all_networks(&self, flags: u32) -> Result<Vec<NetworkRef>> {
        let args = ListAllArgs {
            need_results: 1,
            flags,
        };
        match self.call(P::ConnectListAllNetworks, args).await {
            Ok(ret) => Ok(ret.nets.0),
            Err(err) if is_no_support(&err) => {
                match Self::old_style_scope(
                    flags,
                    flags::LIST_NETWORKS_ACTIVE,
                    flags::LIST_NETWORKS_INACTIVE,
                ) {
                    Some((active, inactive)) => {
                        self.list_networks_old_style(active, inactive).await
                    }
                    None => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }
    async fn network_define_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef> {
        let ret: NetworkRet = if flags == 0 {
            self.call(P::NetworkDefineXml, text(xml)).await?
        } else {
            let args = StringFlagsArgs {
                value: xml.to_string(),
                flags,
            };
            self.call(P::NetworkDefineXmlFlags, args).await?
        };
        Ok(ret.net)
    }
    async fn network_create_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef> {
        if flags != 0 {
            // NETWORK_CREATE_XML carries no flags; CREATE_XML_FLAGS is not in this client's table yet.
            return Err(Error::no_support("virNetworkCreateXMLFlags"));
        }
        Ok(self.call(P::NetworkCreateXml, text(xml)).await?.net)
    }
    async fn network_get_xml_desc(&self, net: &NetworkRef, flags: u32) -> Result<String> {
        let args = NetworkFlagsArgs {
            net: net.clone(),
            flags,
        };
        self.string(P::NetworkGetXmlDesc, args).await
    }
    async fn network_set_autostart(&self, net: &NetworkRef, autostart: bool) -> Result<()> {
        let args = NetworkIntArgs {
            net: net.clone(),
            value: i32::from(autostart),
        };
        self.call(P::NetworkSetAutostart, args).await
    }
    async fn network_get_dhcp_leases(
        &self,
        net: &NetworkRef,
        mac: Option<&str>,
        flags: u32,
    ) -> Result<Vec<NetworkDhcpLease>> {
        let args = NetworkGetDhcpLeasesArgs {
            net: net.clone(),
            mac: mac.map(str::to_string),
            need_results: 1,
            flags,
        };
        let ret: NetworkGetDhcpLeasesRet = self.call(P::NetworkGetDhcpLeases, args).await?;
        Ok(ret
            .leases
            .0
            .into_iter()
            .map(|l| NetworkDhcpLease {
                iface: l.iface,
                expiry_time: l.expirytime,
                addr_type: l.type_,
                mac: l.mac,
                iaid: l.iaid,
                ip: Some(l.ipaddr),
                prefix: l.prefix,
                hostname: l.hostname,
                client_id: l.clientid,
            })
            .collect())
    }
    async fn network_event_subscribe(&self) -> Result<broadcast::Receiver<NetworkEvent>> {
        let mut slot = self.network_events.lock().await;
        if let Some(sender) = slot.as_ref() {
            return Ok(sender.subscribe());
        }
        // Listen before registering, so no event sent right after the registration is missed.
        let messages = self.client.subscribe();
        let args = NetworkEventRegisterArgs {
            event_id: 0,
            net: None,
        };
        let ret: IntRet = self.call(P::ConnectNetworkEventRegisterAny, args).await?;
        let (sender, receiver) = broadcast::channel(EVENT_QUEUE);
        tokio::spawn(forward_network_events(messages, sender.clone(), ret.value));
        *slot = Some(sender);
        Ok(receiver)
    }
}
