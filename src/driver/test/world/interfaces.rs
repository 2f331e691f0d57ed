//! Host interfaces of the test world (libvirt's test driver starts with `eth1`): lookups, define/undefine,
//! start/stop, and the change transaction (begin saves a copy of the whole list, rollback restores it, every
//! interface inactive as libvirt's copy leaves them).
//!
//! All interfaces and the open transaction's copy live in one record, `interfaces.json`, replaced atomically on
//! every change: a rollback swaps the whole list, so one file keeps it one write.

use super::*;
use crate::driver::InterfaceRef;
use crate::model::HostInterfaceDef;
use serde::{Deserialize, Serialize};
use std::path::Path;

const FILE: &str = "interfaces.json";
const FORMAT_VERSION: u32 = 1;

/// libvirt's default test world's one host interface, as its test driver defines it.
const DEFAULT_ETH1: &str = "<interface type='ethernet' name='eth1'><start mode='onboot'/><mac address='aa:bb:cc:dd:ee:ff'/><mtu size='1492'/><protocol family='ipv4'><ip address='192.168.0.5' prefix='24'/><route gateway='192.168.0.1'/></protocol></interface>";

#[derive(Clone, Debug)]
pub(in crate::driver::test) struct IfaceObj {
    def: HostInterfaceDef,
    active: bool,
}

impl IfaceObj {
    fn handle(&self) -> InterfaceRef {
        InterfaceRef {
            name: self.def.name.clone(),
            mac: self.def.mac.clone().unwrap_or_default(),
        }
    }
}

type IfaceTable = BTreeMap<String, IfaceObj>;

/// Every host interface by name, and the copy an open change transaction will restore on rollback.
#[derive(Clone, Debug, Default)]
pub(in crate::driver::test) struct HostInterfaces {
    current: IfaceTable,
    snapshot: Option<IfaceTable>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IfaceRecord {
    xml: String,
    active: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InterfacesFile {
    version: u32,
    interfaces: Vec<IfaceRecord>,
    /// The list as it was when the open transaction began; absent when none is open.
    snapshot: Option<Vec<IfaceRecord>>,
}

fn records(table: &IfaceTable) -> Vec<IfaceRecord> {
    table
        .values()
        .map(|obj| IfaceRecord {
            xml: obj.def.to_xml(),
            active: obj.active,
        })
        .collect()
}

fn table(records: Vec<IfaceRecord>) -> std::result::Result<IfaceTable, String> {
    let mut out = IfaceTable::new();
    for record in records {
        let def = HostInterfaceDef::from_xml(&record.xml, false).map_err(|e| e.message)?;
        let name = def.name.clone();
        let obj = IfaceObj {
            def,
            active: record.active,
        };
        if out.insert(name.clone(), obj).is_some() {
            return Err(format!("a second interface named '{name}'"));
        }
    }
    Ok(out)
}

fn no_interface(detail: String) -> Error {
    Error::with_detail(ErrorCode::NO_INTERFACE, ErrorDomain::TEST, detail)
}

impl HostInterfaces {
    /// libvirt's default world: `eth1`, active.
    fn default_world() -> Self {
        let mut current = IfaceTable::new();
        if let Ok(def) = HostInterfaceDef::from_xml(DEFAULT_ETH1, false) {
            current.insert(def.name.clone(), IfaceObj { def, active: true });
        }
        Self {
            current,
            snapshot: None,
        }
    }

    /// Reads `interfaces.json` from the state dir; a dir without one (a new world, or state written before
    /// interfaces were kept) starts from libvirt's default. A corrupt record is reported and the default used.
    pub(in crate::driver::test) fn load(root: &Path) -> (Self, Option<String>) {
        let path = root.join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return (Self::default_world(), None)
            }
            Err(err) => {
                let why = crate::error::io_error_text(&err);
                return (
                    Self::default_world(),
                    Some(format!("{}: {why}", path.display())),
                );
            }
        };
        let parsed = serde_json::from_slice::<InterfacesFile>(&bytes)
            .map_err(|e| format!("not a valid record: {e}"))
            .and_then(|file| {
                Ok(Self {
                    current: table(file.interfaces)?,
                    snapshot: file.snapshot.map(table).transpose()?,
                })
            });
        match parsed {
            Ok(loaded) => (loaded, None),
            Err(why) => {
                tracing::warn!(file = %path.display(), "skipping unreadable state file: {why}");
                (
                    Self::default_world(),
                    Some(format!("{}: {why}", path.display())),
                )
            }
        }
    }

    fn save(&self, root: &Path) -> Result<()> {
        let file = InterfacesFile {
            version: FORMAT_VERSION,
            interfaces: records(&self.current),
            snapshot: self.snapshot.as_ref().map(records),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| {
            Error::internal(ErrorDomain::TEST, format!("cannot encode {FILE}: {e}"))
        })?;
        crate::persist::write_atomic(root, FILE, &bytes).map_err(|e| {
            Error::system(
                ErrorDomain::TEST,
                format!("cannot save {}", root.join(FILE).display()),
                &e,
            )
        })
    }

    fn get(&self, name: &str) -> Result<&IfaceObj> {
        self.current
            .get(name)
            .ok_or_else(|| no_interface(format!("no interface with matching name '{name}'")))
    }

    pub(in crate::driver::test) fn len(&self) -> usize {
        self.current.len()
    }
}

impl World {
    /// Writes the changed interface list, then makes it current.
    fn commit_interfaces(&mut self, store: &dyn Persist, next: HostInterfaces) -> Result<()> {
        next.save(store.root())?;
        self.interfaces = next;
        Ok(())
    }

    pub(in crate::driver::test) fn list_interfaces(
        &self,
        list_flags: u32,
    ) -> Result<Vec<InterfaceRef>> {
        check_flags(
            list_flags,
            flags::LIST_INTERFACES_ACTIVE | flags::LIST_INTERFACES_INACTIVE,
            "testConnectListAllInterfaces",
        )?;
        let active = wanted(
            list_flags,
            flags::LIST_INTERFACES_ACTIVE,
            flags::LIST_INTERFACES_INACTIVE,
        );
        Ok(self
            .interfaces
            .current
            .values()
            .filter(|obj| passes(active, obj.active))
            .map(IfaceObj::handle)
            .collect())
    }

    pub(in crate::driver::test) fn lookup_interface_by_name(
        &self,
        name: &str,
    ) -> Result<InterfaceRef> {
        self.interfaces.get(name).map(IfaceObj::handle)
    }

    /// MACs compare without regard to case, and the handle carries the MAC as asked, as libvirt's do. Unlike
    /// libvirt's test driver, an interface without a MAC matches no MAC.
    pub(in crate::driver::test) fn lookup_interface_by_mac(
        &self,
        mac: &str,
    ) -> Result<InterfaceRef> {
        let mut matching = self.interfaces.current.values().filter(|obj| {
            obj.def
                .mac
                .as_deref()
                .is_some_and(|own| own.eq_ignore_ascii_case(mac))
        });
        match (matching.next(), matching.next()) {
            (None, _) => Err(no_interface(format!(
                "no interface with matching mac '{mac}'"
            ))),
            (Some(obj), None) => Ok(InterfaceRef {
                name: obj.def.name.clone(),
                mac: mac.to_string(),
            }),
            (Some(_), Some(_)) => Err(Error::with_detail(
                ErrorCode::MULTIPLE_INTERFACES,
                ErrorDomain::TEST,
                "",
            )),
        }
    }

    pub(in crate::driver::test) fn interface_xml(
        &self,
        iface: &InterfaceRef,
        xml_flags: u32,
    ) -> Result<String> {
        check_flags(xml_flags, 0, "testInterfaceGetXMLDesc")?;
        Ok(self.interfaces.get(&iface.name)?.def.to_xml())
    }

    pub(in crate::driver::test) fn interface_is_active(
        &self,
        iface: &InterfaceRef,
    ) -> Result<bool> {
        Ok(self.interfaces.get(&iface.name)?.active)
    }

    /// Defines a new (inactive) interface, or replaces the definition of one with the same name, keeping its
    /// state.
    pub(in crate::driver::test) fn define_interface(
        &mut self,
        store: &dyn Persist,
        def: HostInterfaceDef,
    ) -> Result<InterfaceRef> {
        let mut next = self.interfaces.clone();
        let active = next
            .current
            .get(&def.name)
            .is_some_and(|existing| existing.active);
        let obj = IfaceObj { def, active };
        let handle = obj.handle();
        next.current.insert(handle.name.clone(), obj);
        self.commit_interfaces(store, next)?;
        Ok(handle)
    }

    /// Removes an interface, active or not, as libvirt's test driver does.
    pub(in crate::driver::test) fn undefine_interface(
        &mut self,
        store: &dyn Persist,
        iface: &InterfaceRef,
    ) -> Result<()> {
        self.interfaces.get(&iface.name)?;
        let mut next = self.interfaces.clone();
        next.current.remove(&iface.name);
        self.commit_interfaces(store, next)
    }

    /// Starts (`up`) or stops an interface; doing either twice is refused without detail, like libvirt's.
    pub(in crate::driver::test) fn set_interface_active(
        &mut self,
        store: &dyn Persist,
        iface: &InterfaceRef,
        up: bool,
        call_flags: u32,
    ) -> Result<()> {
        let api = if up {
            "testInterfaceCreate"
        } else {
            "testInterfaceDestroy"
        };
        check_flags(call_flags, 0, api)?;
        if self.interfaces.get(&iface.name)?.active == up {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_INVALID,
                ErrorDomain::TEST,
                "",
            ));
        }
        let mut next = self.interfaces.clone();
        if let Some(obj) = next.current.get_mut(&iface.name) {
            obj.active = up;
        }
        self.commit_interfaces(store, next)
    }

    pub(in crate::driver::test) fn interface_change_begin(
        &mut self,
        store: &dyn Persist,
        call_flags: u32,
    ) -> Result<()> {
        check_flags(call_flags, 0, "testInterfaceChangeBegin")?;
        if self.interfaces.snapshot.is_some() {
            return Err(op_invalid("there is another transaction running."));
        }
        // libvirt's copy holds the definitions only: whatever was up comes back down on rollback.
        let mut next = self.interfaces.clone();
        let mut saved = next.current.clone();
        for obj in saved.values_mut() {
            obj.active = false;
        }
        next.snapshot = Some(saved);
        self.commit_interfaces(store, next)
    }

    pub(in crate::driver::test) fn interface_change_commit(
        &mut self,
        store: &dyn Persist,
        call_flags: u32,
    ) -> Result<()> {
        check_flags(call_flags, 0, "testInterfaceChangeCommit")?;
        if self.interfaces.snapshot.is_none() {
            return Err(op_invalid(
                "no transaction running, nothing to be committed.",
            ));
        }
        let mut next = self.interfaces.clone();
        next.snapshot = None;
        self.commit_interfaces(store, next)
    }

    pub(in crate::driver::test) fn interface_change_rollback(
        &mut self,
        store: &dyn Persist,
        call_flags: u32,
    ) -> Result<()> {
        check_flags(call_flags, 0, "testInterfaceChangeRollback")?;
        let Some(saved) = self.interfaces.snapshot.clone() else {
            return Err(op_invalid("no transaction running, nothing to rollback."));
        };
        let next = HostInterfaces {
            current: saved,
            snapshot: None,
        };
        self.commit_interfaces(store, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_interface_parses_and_is_active() {
        let world = HostInterfaces::default_world();
        let eth1 = world.get("eth1").unwrap();
        assert!(eth1.active);
        assert_eq!(eth1.handle().mac, "aa:bb:cc:dd:ee:ff");
    }

    #[test]
    fn the_record_round_trips_with_an_open_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut world = HostInterfaces::default_world();
        world.snapshot = Some(world.current.clone());
        world.current.clear();
        world.save(dir.path()).unwrap();
        let (loaded, warning) = HostInterfaces::load(dir.path());
        assert!(warning.is_none());
        assert!(loaded.current.is_empty());
        assert_eq!(loaded.snapshot.map(|s| s.len()), Some(1));
        std::fs::write(dir.path().join(FILE), b"{").unwrap();
        let (fallback, warning) = HostInterfaces::load(dir.path());
        assert!(warning.is_some());
        assert_eq!(fallback.len(), 1);
    }
}
