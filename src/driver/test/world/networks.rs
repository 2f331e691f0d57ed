//! Networks of the test world: lookups, define/create/start/destroy/undefine, autostart.

use super::*;

impl World {
    fn network(&self, net: &NetworkRef) -> Result<&NetworkObj> {
        self.networks.get(&net.uuid).ok_or_else(|| {
            no_network(format!(
                "no network with matching uuid '{}' ({})",
                net.uuid, net.name
            ))
        })
    }

    pub(in crate::driver::test) fn lookup_network_by_name(&self, name: &str) -> Result<NetworkRef> {
        self.networks
            .values()
            .find(|n| n.def.name == name)
            .map(NetworkObj::handle)
            .ok_or_else(|| no_network(format!("no network with matching name '{name}'")))
    }

    pub(in crate::driver::test) fn lookup_network_by_uuid(
        &self,
        uuid: &Uuid,
    ) -> Result<NetworkRef> {
        self.networks
            .get(uuid)
            .map(NetworkObj::handle)
            .ok_or_else(|| no_network(format!("no network with matching uuid '{uuid}'")))
    }

    pub(in crate::driver::test) fn list_networks(
        &self,
        list_flags: u32,
    ) -> Result<Vec<NetworkRef>> {
        check_flags(list_flags, (1 << 6) - 1, "virConnectListAllNetworks")?;
        let active = wanted(
            list_flags,
            flags::LIST_NETWORKS_ACTIVE,
            flags::LIST_NETWORKS_INACTIVE,
        );
        let persistent = wanted(
            list_flags,
            flags::LIST_NETWORKS_PERSISTENT,
            flags::LIST_NETWORKS_TRANSIENT,
        );
        let autostart = wanted(
            list_flags,
            flags::LIST_NETWORKS_AUTOSTART,
            flags::LIST_NETWORKS_NO_AUTOSTART,
        );
        let mut found: Vec<&NetworkObj> = self
            .networks
            .values()
            .filter(|n| {
                passes(active, n.active)
                    && passes(persistent, n.persistent)
                    && passes(autostart, n.autostart)
            })
            .collect();
        found.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        Ok(found.into_iter().map(NetworkObj::handle).collect())
    }

    fn network_clash(&self, def: &NetworkDef) -> Result<Option<&NetworkObj>> {
        if let Some(existing) = self.networks.get(&def.uuid) {
            if existing.def.name != def.name {
                return Err(op_failed(
                    ErrorDomain::NETWORK,
                    format!(
                        "network '{}' is already defined with uuid {}",
                        existing.def.name, def.uuid
                    ),
                ));
            }
            return Ok(Some(existing));
        }
        if let Some(existing) = self.networks.values().find(|n| n.def.name == def.name) {
            return Err(op_failed(
                ErrorDomain::NETWORK,
                format!(
                    "network '{}' already exists with uuid {}",
                    def.name, existing.def.uuid
                ),
            ));
        }
        Ok(None)
    }

    pub(in crate::driver::test) fn define_network(
        &mut self,
        store: &dyn Persist,
        def: NetworkDef,
    ) -> Result<NetworkRef> {
        validate_name("network", &def.name)?;
        let changed = match self.network_clash(&def)? {
            Some(existing) => NetworkObj {
                def,
                persistent: true,
                ..existing.clone()
            },
            None => NetworkObj {
                def,
                persistent: true,
                active: false,
                autostart: false,
            },
        };
        store.save_network(&changed)?;
        let handle = changed.handle();
        self.networks.insert(changed.def.uuid, changed);
        Ok(handle)
    }

    pub(in crate::driver::test) fn create_network_xml(
        &mut self,
        store: &dyn Persist,
        def: NetworkDef,
    ) -> Result<NetworkRef> {
        validate_name("network", &def.name)?;
        let changed = match self.network_clash(&def)? {
            Some(existing) if existing.active => {
                return Err(Error::operation_invalid(
                    ErrorDomain::NETWORK,
                    format!("network is already active as '{}'", def.name),
                ));
            }
            Some(existing) => NetworkObj {
                def,
                active: true,
                ..existing.clone()
            },
            None => NetworkObj {
                def,
                persistent: false,
                active: true,
                autostart: false,
            },
        };
        store.save_network(&changed)?;
        let handle = changed.handle();
        self.networks.insert(changed.def.uuid, changed);
        Ok(handle)
    }

    pub(in crate::driver::test) fn start_network(
        &mut self,
        store: &dyn Persist,
        net: &NetworkRef,
    ) -> Result<()> {
        let obj = self.network(net)?;
        if obj.active {
            return Err(op_invalid(format!(
                "Network '{}' is already running",
                obj.def.name
            )));
        }
        let changed = NetworkObj {
            active: true,
            ..obj.clone()
        };
        store.save_network(&changed)?;
        self.networks.insert(changed.def.uuid, changed);
        Ok(())
    }

    pub(in crate::driver::test) fn destroy_network(
        &mut self,
        store: &dyn Persist,
        net: &NetworkRef,
    ) -> Result<()> {
        let obj = self.network(net)?;
        if !obj.active {
            // libvirt's test driver accepts destroying an inactive network.
            return Ok(());
        }
        if obj.persistent {
            let changed = NetworkObj {
                active: false,
                ..obj.clone()
            };
            store.save_network(&changed)?;
            self.networks.insert(changed.def.uuid, changed);
        } else {
            let uuid = obj.def.uuid;
            store.remove_network(&uuid)?;
            self.networks.remove(&uuid);
        }
        Ok(())
    }

    pub(in crate::driver::test) fn undefine_network(
        &mut self,
        store: &dyn Persist,
        net: &NetworkRef,
    ) -> Result<()> {
        let obj = self.network(net)?;
        if obj.active {
            return Err(op_invalid(format!(
                "Network '{}' is still running",
                obj.def.name
            )));
        }
        let uuid = obj.def.uuid;
        store.remove_network(&uuid)?;
        self.networks.remove(&uuid);
        Ok(())
    }

    pub(in crate::driver::test) fn network_xml(
        &self,
        net: &NetworkRef,
        xml_flags: u32,
    ) -> Result<String> {
        check_flags(
            xml_flags,
            flags::NETWORK_XML_INACTIVE,
            "virNetworkGetXMLDesc",
        )?;
        Ok(self.network(net)?.def.to_xml())
    }

    pub(in crate::driver::test) fn network_bridge(&self, net: &NetworkRef) -> Result<String> {
        let obj = self.network(net)?;
        obj.def.bridge.clone().ok_or_else(|| {
            Error::internal(
                ErrorDomain::TEST,
                format!("network '{}' does not have a bridge name.", obj.def.name),
            )
        })
    }

    pub(in crate::driver::test) fn network_autostart(&self, net: &NetworkRef) -> Result<bool> {
        Ok(self.network(net)?.autostart)
    }

    pub(in crate::driver::test) fn network_is_active(&self, net: &NetworkRef) -> Result<bool> {
        Ok(self.network(net)?.active)
    }

    pub(in crate::driver::test) fn network_is_persistent(&self, net: &NetworkRef) -> Result<bool> {
        Ok(self.network(net)?.persistent)
    }

    pub(in crate::driver::test) fn set_network_autostart(
        &mut self,
        store: &dyn Persist,
        net: &NetworkRef,
        autostart: bool,
    ) -> Result<()> {
        let obj = self.network(net)?;
        if obj.autostart == autostart {
            return Ok(());
        }
        let changed = NetworkObj {
            autostart,
            ..obj.clone()
        };
        store.save_network(&changed)?;
        self.networks.insert(changed.def.uuid, changed);
        Ok(())
    }
}
