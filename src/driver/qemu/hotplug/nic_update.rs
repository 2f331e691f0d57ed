//! `virDomainUpdateDeviceFlags` with an `<interface>`: the definition's NIC is replaced (as libvirt's config
//! update does), and a running guest's NIC may change its `<filterref>`, which rebinds the network filter on its
//! host port now (libvirt's `qemuDomainChangeNet` tears the old filter down and instantiates the new one). Other
//! live changes of a NIC are refused.

use super::*;
use crate::model::Extra;

/// The NIC a live update asks for, with what it leaves out taken from the running one (libvirt fills the target,
/// alias and address the same way); `None` when it changes more than the filter.
fn live_change(old: &InterfaceDef, new: &InterfaceDef) -> Option<InterfaceDef> {
    let mut wanted = new.clone();
    if wanted.target_dev.is_none() {
        wanted.target_dev.clone_from(&old.target_dev);
    }
    if wanted.model.is_none() {
        wanted.model.clone_from(&old.model);
    }
    if wanted.source_bridge.is_none() {
        wanted.source_bridge.clone_from(&old.source_bridge);
    }
    if wanted.boot_order.is_none() {
        wanted.boot_order = old.boot_order;
    }
    if wanted.extra == Extra::default() {
        wanted.extra.clone_from(&old.extra);
    }
    // The alias and PCI address QEMU was given stay when the new XML leaves them out.
    for name in ["alias", "address"] {
        if !wanted.extra.children.iter().any(|c| c.name == name) {
            if let Some(child) = old.extra.children.iter().find(|c| c.name == name) {
                wanted.extra.children.push(child.clone());
            }
        }
    }
    let mut same = wanted.clone();
    same.filterref.clone_from(&old.filterref);
    same.extra = canonical(&same.extra);
    let mut before = old.clone();
    before.extra = canonical(&before.extra);
    (same == before).then_some(wanted)
}

/// An element's extra content in a fixed order (the order of an interface's children carries no meaning).
fn canonical(extra: &Extra) -> Extra {
    let mut out = extra.clone();
    out.attrs.sort();
    out.children.sort_by_cached_key(|c| format!("{c:?}"));
    out.nested.sort_by_cached_key(|n| format!("{n:?}"));
    out
}

impl QemuDriver {
    pub(super) fn update_interface(
        &self,
        impact: &Impact,
        new: InterfaceDef,
        mac_given: bool,
    ) -> Result<()> {
        let config = if impact.config {
            let mut def = self.persistent_def(&impact.handle)?;
            let index = find_nic(&def, &new, mac_given)?;
            let mut replaced = new.clone();
            if !mac_given {
                replaced.mac.clone_from(&def.devices.interfaces[index].mac);
            }
            def.devices.interfaces[index] = replaced;
            self.check_definable(&def)?;
            Some(def)
        } else {
            None
        };
        if let Some(generation) = impact.live {
            let live = self.live_def(&impact.handle)?;
            let old = &live.devices.interfaces[find_nic(&live, &new, mac_given)?];
            let Some(mut wanted) = live_change(old, &new) else {
                return Err(unsupported(format!(
                    "cannot modify network device '{}' settings other than its filter on a running domain",
                    old.mac
                )));
            };
            wanted.mac.clone_from(&old.mac);
            if wanted.filterref != old.filterref {
                self.rebind_filter(&live, old, &wanted)?;
                let mac = old.mac.clone();
                let filterref = wanted.filterref.clone();
                self.shared
                    .edit_live(impact.handle.uuid, generation, |live| {
                        if let Some(nic) = live
                            .devices
                            .interfaces
                            .iter_mut()
                            .find(|nic| nic.mac.eq_ignore_ascii_case(&mac))
                        {
                            nic.filterref = filterref;
                        }
                    });
                tracing::info!(domain = %impact.handle.name, %mac, filter = ?wanted.filterref.as_ref().map(|f| &f.filter), "interface filter changed");
            }
        }
        if let Some(def) = config {
            self.commit_config(&impact.handle, def)?;
        }
        Ok(())
    }

    /// Moves a running NIC's host port from its old filter binding to the new one; when the new one cannot be
    /// made, the old one is restored.
    fn rebind_filter(
        &self,
        live: &DomainDef,
        old: &InterfaceDef,
        new: &InterfaceDef,
    ) -> Result<()> {
        let Some(port) = command::bridge_name(old).and(old.target_dev.clone()) else {
            // No host port of ours (user networking): nothing is bound, the filter is only recorded.
            return Ok(());
        };
        let with = |nic: &InterfaceDef| {
            let mut one = live.clone();
            one.devices.interfaces = vec![nic.clone()];
            one
        };
        let host = &self.shared.host;
        if old.filterref.is_some() {
            host.unbind_guest_filters(std::slice::from_ref(&port));
        }
        if new.filterref.is_some() {
            if let Err(err) = host.bind_guest_filters(&with(new)) {
                if old.filterref.is_some() {
                    if let Err(again) = host.bind_guest_filters(&with(old)) {
                        tracing::error!(%port, err = %again.message, "the previous network filter could not be restored");
                    }
                }
                return Err(err);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(filter: Option<&str>) -> InterfaceDef {
        InterfaceDef {
            iface_type: "bridge".into(),
            mac: "52:54:00:00:00:01".into(),
            source: Some("br0".into()),
            model: Some("virtio".into()),
            target_dev: Some("vnet0".into()),
            filterref: filter.map(|f| crate::model::FilterRef {
                filter: f.into(),
                params: Vec::new(),
            }),
            ..InterfaceDef::default()
        }
    }

    #[test]
    fn only_the_filter_of_a_live_nic_may_change() {
        let old = nic(Some("a"));
        let mut new = nic(Some("b"));
        new.target_dev = None;
        let wanted = live_change(&old, &new).expect("a filter change");
        assert_eq!(wanted.target_dev.as_deref(), Some("vnet0"));
        assert_eq!(wanted.filterref.unwrap().filter, "b");
        assert!(live_change(&old, &nic(None)).is_some());
        let mut reordered = nic(Some("c"));
        let alias = crate::xml::Node {
            name: "alias".into(),
            attrs: vec![("name".into(), "net0".into())],
            children: Vec::new(),
            text: String::new(),
        };
        let mut address = alias.clone();
        address.name = "address".into();
        address.attrs = vec![("type".into(), "pci".into())];
        let mut with_both = old.clone();
        with_both.extra.children = vec![address.clone(), alias.clone()];
        reordered.extra.children = vec![alias, address];
        assert!(live_change(&with_both, &reordered).is_some());
        assert!(live_change(&with_both, &nic(None)).is_some());
        let mut other = nic(Some("a"));
        other.source = Some("br1".into());
        assert!(live_change(&old, &other).is_none());
    }
}
