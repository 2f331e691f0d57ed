//! The host resources that libvirt-CIM's pools are made of (its `Virt_ConcreteComponent.c`): in root/cimv2, under
//! sblim-cmpi-base's class names, `Linux_Processor` (one per host CPU) and `Linux_EthernetPort` (the bridge of
//! each active virtual network); and `KVM_ConcreteComponent`, served in root/virt and root/cimv2 alike, from the
//! `KVM_ProcessorPool` to each processor and from each `KVM_NetworkPool` to its network's bridge.
//!
//! libvirt-CIM read these parts from sblim-cmpi-base, which this server does not have beside it, so they are
//! computed from the same driver (node info, the networks' definitions) over any URI. Their scoping system is the
//! host, `KVM_HostSystem`. The port-to-pool direction looks the network up by its bridge (libvirt-CIM took the
//! port's name for the network's, which only found networks named like their bridge).

use async_trait::async_trait;

use super::computer_system::{host_name, HOST_CLASS};
use super::pools::{PoolId, PoolKind};
use super::{
    assoc_instance, get_from_enumeration, not_found, paths_of, put, Provider, ProviderCtx,
};
use crate::cim::{CimType, Instance, ObjectPath, Value};
use crate::driver::{flags, Connection};
use crate::error::ErrorCode;
use crate::model::NetworkDef;
use crate::wbem::error::OpError;

pub const CIMV2_NAMESPACE: &str = "root/cimv2";
pub const VIRT_NAMESPACE: &str = "root/virt";
pub const PROCESSOR_CLASS: &str = "Linux_Processor";
pub const ETHERNET_PORT_CLASS: &str = "Linux_EthernetPort";
pub const CONCRETE_COMPONENT_CLASS: &str = "KVM_ConcreteComponent";

/// EnabledState 2: Enabled; LinkTechnology 2: Ethernet.
const ENABLED: u16 = 2;
const ETHERNET: u16 = 2;

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// The path of a host device of `class` (keys as sblim-cmpi-base, scoped by the host system).
fn host_device_path(class: &'static str, host: &str, device: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(CIMV2_NAMESPACE),
        class,
        &[
            ("CreationClassName", class),
            ("DeviceID", device),
            ("SystemCreationClassName", HOST_CLASS),
            ("SystemName", host),
        ],
    )
}

pub fn processor_path(host: &str, number: u32) -> ObjectPath {
    host_device_path(PROCESSOR_CLASS, host, &number.to_string())
}

pub fn ethernet_port_path(host: &str, bridge: &str) -> ObjectPath {
    host_device_path(ETHERNET_PORT_CLASS, host, bridge)
}

/// The device a path names on this host: its DeviceID when the path's class and host keys are this host's.
fn device_of<'a>(path: &'a ObjectPath, class: &'static str, host: &str) -> Option<&'a str> {
    let device = path.key_str("DeviceID")?;
    host_device_path(class, host, device)
        .same_object(path)
        .then_some(device)
}

/// The host's processor count (node info).
async fn cpu_count(driver: &Connection) -> Result<u32, OpError> {
    Ok(driver.node_get_info().await?.cpus)
}

/// The active networks that have a bridge: (network name, bridge, the bridge's MAC if defined).
async fn bridged_networks(
    driver: &Connection,
) -> Result<Vec<(String, String, Option<String>)>, OpError> {
    let networks = match driver.list_all_networks(flags::LIST_NETWORKS_ACTIVE).await {
        Ok(networks) => networks,
        Err(e) if e.code == ErrorCode::NO_SUPPORT => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for net in networks {
        // A network that vanished or does not parse is simply not a pool now.
        let Ok(xml) = driver.network_get_xml_desc(&net, 0).await else {
            continue;
        };
        let Ok(def) = NetworkDef::from_xml(&xml, false) else {
            continue;
        };
        if let Some(bridge) = def.bridge.filter(|b| !b.is_empty()) {
            out.push((def.name, bridge, def.mac));
        }
    }
    Ok(out)
}

// ---- Linux_Processor ---------------------------------------------------------------------------------------

/// `Linux_Processor` (root/cimv2): DeviceID "0" .. "<cpus - 1>".
pub struct ProcessorProvider;

impl ProcessorProvider {
    fn instance(ctx: &ProviderCtx<'_>, host: &str, number: u32) -> Instance {
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        let id = number.to_string();
        put(&mut inst, class, "CreationClassName", s(&class.name));
        put(&mut inst, class, "DeviceID", s(&id));
        put(&mut inst, class, "SystemCreationClassName", s(HOST_CLASS));
        put(&mut inst, class, "SystemName", s(host));
        put(
            &mut inst,
            class,
            "ElementName",
            s(&format!("Processor {id}")),
        );
        put(&mut inst, class, "Role", s("Central Processor"));
        put(&mut inst, class, "EnabledState", Value::Uint16(ENABLED));
        ctx.with_path(inst)
    }
}

#[async_trait]
impl Provider for ProcessorProvider {
    fn class_name(&self) -> &'static str {
        PROCESSOR_CLASS
    }

    fn namespace(&self) -> &'static str {
        CIMV2_NAMESPACE
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let host = host_name(ctx.driver).await;
        // Only the canonical number names a processor ("1", not "01" or "+1").
        let number = device_of(path, PROCESSOR_CLASS, &host)
            .and_then(|d| d.parse::<u32>().ok().filter(|n| n.to_string() == d))
            .ok_or_else(|| not_found(path))?;
        if number >= cpu_count(ctx.driver).await? {
            return Err(not_found(path));
        }
        Ok(Self::instance(ctx, &host, number))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let host = host_name(ctx.driver).await;
        let cpus = cpu_count(ctx.driver).await?;
        Ok((0..cpus).map(|n| Self::instance(ctx, &host, n)).collect())
    }
}

// ---- Linux_EthernetPort ------------------------------------------------------------------------------------

/// `Linux_EthernetPort` (root/cimv2): one per bridge of an active network.
pub struct EthernetPortProvider;

impl EthernetPortProvider {
    fn instance(ctx: &ProviderCtx<'_>, host: &str, bridge: &str, mac: Option<&str>) -> Instance {
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        put(&mut inst, class, "CreationClassName", s(&class.name));
        put(&mut inst, class, "DeviceID", s(bridge));
        put(&mut inst, class, "SystemCreationClassName", s(HOST_CLASS));
        put(&mut inst, class, "SystemName", s(host));
        put(&mut inst, class, "Name", s(bridge));
        put(&mut inst, class, "ElementName", s(bridge));
        put(&mut inst, class, "EnabledState", Value::Uint16(ENABLED));
        put(&mut inst, class, "LinkTechnology", Value::Uint16(ETHERNET));
        if let Some(mac) = mac {
            // CIM_NetworkPort's format: twelve hexadecimal digits.
            let digits: String = mac
                .chars()
                .filter(char::is_ascii_hexdigit)
                .map(|c| c.to_ascii_uppercase())
                .collect();
            put(&mut inst, class, "PermanentAddress", s(&digits));
            put(
                &mut inst,
                class,
                "NetworkAddresses",
                Value::Array(CimType::String, vec![s(&digits)]),
            );
        }
        ctx.with_path(inst)
    }
}

#[async_trait]
impl Provider for EthernetPortProvider {
    fn class_name(&self) -> &'static str {
        ETHERNET_PORT_CLASS
    }

    fn namespace(&self) -> &'static str {
        CIMV2_NAMESPACE
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let host = host_name(ctx.driver).await;
        let mut out: Vec<Instance> = Vec::new();
        for (_, bridge, mac) in bridged_networks(ctx.driver).await? {
            // Two networks on one host bridge (forward mode "bridge") share the port.
            let path = ethernet_port_path(&host, &bridge);
            if out
                .iter()
                .any(|i| i.path.as_ref().is_some_and(|p| p.same_object(&path)))
            {
                continue;
            }
            out.push(Self::instance(ctx, &host, &bridge, mac.as_deref()));
        }
        Ok(out)
    }
}

// ---- KVM_ConcreteComponent ---------------------------------------------------------------------------------

/// `KVM_ConcreteComponent`, one provider per namespace (root/virt, where libvirt-CIM registered it, and
/// root/cimv2, where its parts live): the same pairs in both.
pub struct ConcreteComponentProvider {
    pub namespace: &'static str,
}

/// Which pairs an association request needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Processors,
    Ports,
}

impl ConcreteComponentProvider {
    pub fn both() -> [ConcreteComponentProvider; 2] {
        [
            ConcreteComponentProvider {
                namespace: VIRT_NAMESPACE,
            },
            ConcreteComponentProvider {
                namespace: CIMV2_NAMESPACE,
            },
        ]
    }

    async fn pairs(
        &self,
        ctx: &ProviderCtx<'_>,
        which: &[Parts],
    ) -> Result<Vec<Instance>, OpError> {
        let host = host_name(ctx.driver).await;
        let mut out = Vec::new();
        if which.contains(&Parts::Processors) {
            let pool = PoolId::primordial(PoolKind::Processor).path();
            for n in 0..cpu_count(ctx.driver).await? {
                out.push(assoc_instance(
                    ctx,
                    &[
                        ("GroupComponent", pool.clone()),
                        ("PartComponent", processor_path(&host, n)),
                    ],
                ));
            }
        }
        if which.contains(&Parts::Ports) {
            for (network, bridge, _) in bridged_networks(ctx.driver).await? {
                out.push(assoc_instance(
                    ctx,
                    &[
                        (
                            "GroupComponent",
                            PoolId::new(PoolKind::Network, &network).path(),
                        ),
                        ("PartComponent", ethernet_port_path(&host, &bridge)),
                    ],
                ));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Provider for ConcreteComponentProvider {
    fn class_name(&self) -> &'static str {
        CONCRETE_COMPONENT_CLASS
    }

    fn namespace(&self) -> &'static str {
        self.namespace
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        self.pairs(ctx, &[Parts::Processors, Parts::Ports]).await
    }

    /// Processors and the processor pool need no network listing, ports and network pools no node info; other
    /// classes are no end of this association.
    async fn references_to(
        &self,
        ctx: &ProviderCtx<'_>,
        object: &ObjectPath,
    ) -> Result<Option<Vec<Instance>>, OpError> {
        let is = |c: &str| object.class_name.eq_ignore_ascii_case(c);
        let which = if is(PROCESSOR_CLASS) || is(PoolKind::Processor.class_name()) {
            Parts::Processors
        } else if is(ETHERNET_PORT_CLASS) || is(PoolKind::Network.class_name()) {
            Parts::Ports
        } else {
            return Ok(Some(Vec::new()));
        };
        Ok(Some(self.pairs(ctx, &[which]).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_paths_name_this_host_only() {
        let path = processor_path("h1", 3);
        assert_eq!(path.namespace.as_deref(), Some(CIMV2_NAMESPACE));
        assert_eq!(device_of(&path, PROCESSOR_CLASS, "h1"), Some("3"));
        assert_eq!(device_of(&path, PROCESSOR_CLASS, "h2"), None);
        assert_eq!(device_of(&path, ETHERNET_PORT_CLASS, "h1"), None);
        let port = ethernet_port_path("h1", "virbr0");
        assert_eq!(device_of(&port, ETHERNET_PORT_CLASS, "h1"), Some("virbr0"));
    }
}
