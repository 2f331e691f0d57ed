//! The host's network filters (`virNWFilter*`) and their bindings to guest ports: definitions in
//! `DIR/filters/NAME.xml` (libvirt's stock filters written there when the directory is first made), bindings in
//! `DIR/bindings/PORT.xml`, enforced as one nftables table (see [`nft`]) that is rebuilt as a whole on every
//! change and again at start, so bindings survive a daemon restart and nothing stale is left.

pub mod nft;
mod stock;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use uuid::Uuid;

use crate::driver::{object_flags as f, NwFilterBindingRef, NwFilterDriver, NwFilterRef};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{
    format_nwfilter, format_nwfilter_binding, parse_nwfilter, parse_nwfilter_binding,
    NwFilterBindingDef, NwFilterDef,
};
use crate::persist;

/// What enforces the rules: `nft` on a host, a recorder in unit tests.
pub trait Firewall: Send + Sync {
    fn apply(&self, script: &str) -> Result<()>;
}

/// The host's nftables, through the `nft` command.
pub struct Nft;

impl Firewall for Nft {
    fn apply(&self, script: &str) -> Result<()> {
        nft::apply(script)
    }
}

/// The filters and bindings of one host driver set.
pub struct NwFilterStore {
    filters_dir: PathBuf,
    bindings_dir: PathBuf,
    /// Our nftables table (bridge family).
    table: String,
    firewall: Arc<dyn Firewall>,
    state: Mutex<State>,
}

struct State {
    filters: BTreeMap<String, NwFilterDef>,
    bindings: BTreeMap<String, NwFilterBindingDef>,
}

fn nwfilter_error(code: ErrorCode, detail: impl AsRef<str>) -> Error {
    Error::with_detail(code, ErrorDomain::NWFILTER, detail)
}

fn io_err(context: String, err: &std::io::Error) -> Error {
    Error::system(ErrorDomain::NWFILTER, context, err)
}

fn check_flags(given: u32, allowed: u32, api: &str) -> Result<()> {
    if given & !allowed != 0 {
        return Err(Error::invalid_arg(
            ErrorDomain::NWFILTER,
            format!(
                "unsupported flags (0x{:x}) in function {api}",
                given & !allowed
            ),
        ));
    }
    Ok(())
}

fn handle(def: &NwFilterDef) -> NwFilterRef {
    NwFilterRef {
        name: def.name.clone(),
        uuid: def.uuid,
    }
}

fn binding_handle(def: &NwFilterBindingDef) -> NwFilterBindingRef {
    NwFilterBindingRef {
        portdev: def.portdev.clone(),
        filtername: def.filter.filter.clone(),
    }
}

/// The table name for a state directory: stable for one daemon, distinct between daemons on one host.
pub fn table_name(root: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    format!(
        "virtcim_nwf_{:02x}{:02x}{:02x}{:02x}",
        digest[0], digest[1], digest[2], digest[3]
    )
}

/// Reads every `*.xml` of a directory with `parse`; what does not parse is skipped with a log line.
fn load_dir<T>(dir: &Path, what: &str, parse: impl Fn(&str, &str) -> Result<T>) -> Vec<T> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".xml") else {
            continue;
        };
        let path = entry.path();
        match std::fs::read_to_string(&path)
            .map_err(|e| io_err(format!("cannot read '{}'", path.display()), &e))
            .and_then(|xml| parse(&xml, stem))
        {
            Ok(item) => out.push(item),
            Err(err) => {
                tracing::warn!(file = %path.display(), err = %err.message, "unreadable {what} skipped");
            }
        }
    }
    out
}

impl NwFilterStore {
    /// Opens the filter and binding directories under `dir` (seeding the stock filters when the filter
    /// directory is new) and enforces the recorded bindings again.
    pub fn open(dir: &Path, table: String, firewall: Arc<dyn Firewall>) -> Result<Self> {
        let filters_dir = dir.join("filters");
        let bindings_dir = dir.join("bindings");
        let fresh = !filters_dir.exists();
        for sub in [&filters_dir, &bindings_dir] {
            persist::create_private_dir(sub).map_err(|e| {
                io_err(
                    format!("cannot create config directory '{}'", sub.display()),
                    &e,
                )
            })?;
            let _ = persist::remove_temp_files(sub);
        }
        if fresh {
            for (name, xml) in stock::STOCK_FILTERS {
                let mut def = parse_nwfilter(xml, false)?;
                def.uuid = stock::stock_uuid(name);
                persist::write_atomic(
                    &filters_dir,
                    &format!("{name}.xml"),
                    format_nwfilter(&def).as_bytes(),
                )
                .map_err(|e| io_err(format!("cannot write filter '{name}'"), &e))?;
            }
        }
        let filters = load_dir(&filters_dir, "network filter", |xml, stem| {
            let def = parse_nwfilter(xml, false)?;
            if def.name != stem {
                return Err(nwfilter_error(
                    ErrorCode::XML_ERROR,
                    format!(
                        "network filter config filename '{stem}.xml' does not match name '{}'",
                        def.name
                    ),
                ));
            }
            Ok(def)
        })
        .into_iter()
        .map(|def| (def.name.clone(), def))
        .collect();
        let bindings = load_dir(&bindings_dir, "network filter binding", |xml, stem| {
            let def = parse_nwfilter_binding(xml, false)?;
            if def.portdev != stem {
                return Err(nwfilter_error(
                    ErrorCode::XML_ERROR,
                    format!("binding file '{stem}.xml' is for port '{}'", def.portdev),
                ));
            }
            Ok(def)
        })
        .into_iter()
        .map(|def| (def.portdev.clone(), def))
        .collect();
        let store = Self {
            filters_dir,
            bindings_dir,
            table,
            firewall,
            state: Mutex::new(State { filters, bindings }),
        };
        {
            let state = store.lock();
            if !state.bindings.is_empty() {
                // A binding whose filters are gone cannot be enforced; the others still must be.
                if let Err(err) = store.enforce(&state.filters, &state.bindings) {
                    tracing::error!(err = %err.message, "network filter bindings could not be enforced at start");
                }
            }
        }
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the table with these bindings' rules.
    fn enforce(
        &self,
        filters: &BTreeMap<String, NwFilterDef>,
        bindings: &BTreeMap<String, NwFilterBindingDef>,
    ) -> Result<()> {
        let list: Vec<&NwFilterBindingDef> = bindings.values().collect();
        let script = nft::ruleset_script(&self.table, filters, &list)?;
        self.firewall.apply(&script)
    }

    fn find<'a>(state: &'a State, filter: &NwFilterRef) -> Result<&'a NwFilterDef> {
        state
            .filters
            .get(&filter.name)
            .filter(|def| def.uuid == filter.uuid)
            .ok_or_else(|| {
                nwfilter_error(
                    ErrorCode::NO_NWFILTER,
                    format!("no nwfilter with matching uuid '{}'", filter.uuid),
                )
            })
    }

    fn define(&self, xml: &str, flags: u32) -> Result<NwFilterRef> {
        check_flags(flags, f::NWFILTER_DEFINE_VALIDATE, "nwfilterDefineXMLFlags")?;
        let def = parse_nwfilter(xml, flags & f::NWFILTER_DEFINE_VALIDATE != 0)?;
        let mut state = self.lock();
        if let Some(same_uuid) = state.filters.values().find(|d| d.uuid == def.uuid) {
            if same_uuid.name != def.name {
                return Err(nwfilter_error(
                    ErrorCode::OPERATION_FAILED,
                    format!(
                        "filter with same UUID but different name ('{}') already exists",
                        same_uuid.name
                    ),
                ));
            }
        } else if let Some(same_name) = state.filters.get(&def.name) {
            return Err(nwfilter_error(
                ErrorCode::OPERATION_FAILED,
                format!(
                    "filter '{}' already exists with uuid {}",
                    def.name, same_name.uuid
                ),
            ));
        }
        if introduces_loop(&state.filters, &def) {
            return Err(nwfilter_error(
                ErrorCode::OPERATION_FAILED,
                "filter would introduce a loop",
            ));
        }
        let mut filters = state.filters.clone();
        filters.insert(def.name.clone(), def.clone());
        // Bindings that use the filter pick up the new rules now, or the definition is refused.
        if !state.bindings.is_empty() {
            self.enforce(&filters, &state.bindings)?;
        }
        if let Err(err) = persist::write_atomic(
            &self.filters_dir,
            &format!("{}.xml", def.name),
            format_nwfilter(&def).as_bytes(),
        ) {
            if !state.bindings.is_empty() {
                let _ = self.enforce(&state.filters, &state.bindings);
            }
            return Err(io_err(format!("cannot write filter '{}'", def.name), &err));
        }
        let handle = handle(&def);
        state.filters = filters;
        Ok(handle)
    }

    fn undefine(&self, filter: &NwFilterRef) -> Result<()> {
        let mut state = self.lock();
        Self::find(&state, filter)?;
        let mut filters = state.filters.clone();
        filters.remove(&filter.name);
        // libvirt's test: the bindings must still instantiate without it.
        let bindings: Vec<&NwFilterBindingDef> = state.bindings.values().collect();
        if nft::ruleset_script(&self.table, &filters, &bindings).is_err() {
            return Err(nwfilter_error(
                ErrorCode::OPERATION_INVALID,
                "nwfilter is in use",
            ));
        }
        persist::remove_durable(&self.filters_dir, &format!("{}.xml", filter.name)).map_err(
            |_| {
                nwfilter_error(
                    ErrorCode::INTERNAL_ERROR,
                    format!("cannot remove config for {}", filter.name),
                )
            },
        )?;
        state.filters = filters;
        Ok(())
    }

    fn create_binding(&self, xml: &str, flags: u32) -> Result<NwFilterBindingRef> {
        check_flags(
            flags,
            f::NWFILTER_BINDING_CREATE_VALIDATE,
            "nwfilterBindingCreateXML",
        )?;
        let def = parse_nwfilter_binding(xml, flags & f::NWFILTER_BINDING_CREATE_VALIDATE != 0)?;
        self.add_binding(def)
    }

    /// Binds the filters a starting guest's interfaces name (`<filterref>`) to their host ports; on an error
    /// the bindings made so far are removed again. Returns the ports bound.
    pub fn bind_guest(&self, def: &crate::model::DomainDef) -> Result<Vec<String>> {
        let mut bound = Vec::new();
        for iface in &def.devices.interfaces {
            let (Some(filter), Some(port)) = (&iface.filterref, &iface.target_dev) else {
                continue;
            };
            let binding = NwFilterBindingDef {
                owner_name: def.name.clone(),
                owner_uuid: def.uuid,
                portdev: port.clone(),
                linkdev: None,
                mac: iface.mac.clone(),
                filter: filter.clone(),
            };
            if let Err(err) = self.add_binding(binding) {
                self.unbind_ports(&bound);
                return Err(err);
            }
            bound.push(port.clone());
        }
        Ok(bound)
    }

    /// Removes the bindings of these ports (a guest stopped); a port without one is skipped, failures logged.
    pub fn unbind_ports(&self, ports: &[String]) {
        for port in ports {
            if !self.lock().bindings.contains_key(port) {
                continue;
            }
            let handle = NwFilterBindingRef {
                portdev: port.clone(),
                filtername: String::new(),
            };
            if let Err(err) = self.delete_binding(&handle) {
                tracing::error!(port = %port, err = %err.message, "network filter binding not removed");
            }
        }
    }

    fn add_binding(&self, def: NwFilterBindingDef) -> Result<NwFilterBindingRef> {
        if !nft::valid_port_name(&def.portdev) {
            return Err(nwfilter_error(
                ErrorCode::CONFIG_UNSUPPORTED,
                format!(
                    "port device name '{}' is not a usable interface name",
                    def.portdev
                ),
            ));
        }
        let mut state = self.lock();
        if state.bindings.contains_key(&def.portdev) {
            return Err(nwfilter_error(
                ErrorCode::OPERATION_FAILED,
                format!("filter binding for port {} already exists", def.portdev),
            ));
        }
        let mut bindings = state.bindings.clone();
        bindings.insert(def.portdev.clone(), def.clone());
        // Recorded first, so a crash between the two leaves a binding the next start enforces or reports.
        persist::write_atomic(
            &self.bindings_dir,
            &format!("{}.xml", def.portdev),
            format_nwfilter_binding(&def).as_bytes(),
        )
        .map_err(|e| io_err(format!("cannot write binding '{}'", def.portdev), &e))?;
        if let Err(err) = self.enforce(&state.filters, &bindings) {
            let _ = persist::remove_durable(&self.bindings_dir, &format!("{}.xml", def.portdev));
            return Err(err);
        }
        state.bindings = bindings;
        Ok(binding_handle(&def))
    }

    fn delete_binding(&self, binding: &NwFilterBindingRef) -> Result<()> {
        let mut state = self.lock();
        if !state.bindings.contains_key(&binding.portdev) {
            return Err(no_binding(&binding.portdev));
        }
        let mut bindings = state.bindings.clone();
        bindings.remove(&binding.portdev);
        self.enforce(&state.filters, &bindings)?;
        persist::remove_durable(&self.bindings_dir, &format!("{}.xml", binding.portdev))
            .map_err(|e| io_err(format!("cannot remove binding '{}'", binding.portdev), &e))?;
        state.bindings = bindings;
        Ok(())
    }
}

fn no_binding(portdev: &str) -> Error {
    nwfilter_error(
        ErrorCode::NO_NWFILTER_BINDING,
        format!("no nwfilter binding for port dev '{portdev}'"),
    )
}

/// Whether `def` reaches itself through the references of the defined filters (libvirt's loop check).
fn introduces_loop(filters: &BTreeMap<String, NwFilterDef>, def: &NwFilterDef) -> bool {
    let mut stack: Vec<&str> = def.references().collect();
    let mut seen: Vec<&str> = Vec::new();
    while let Some(name) = stack.pop() {
        if name == def.name {
            return true;
        }
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        if let Some(next) = filters.get(name) {
            stack.extend(next.references());
        }
    }
    false
}

#[async_trait]
impl NwFilterDriver for NwFilterStore {
    async fn list_all_nwfilters(&self, flags: u32) -> Result<Vec<NwFilterRef>> {
        check_flags(flags, 0, "nwfilterConnectListAllNWFilters")?;
        Ok(self.lock().filters.values().map(handle).collect())
    }

    async fn nwfilter_lookup_by_name(&self, name: &str) -> Result<NwFilterRef> {
        self.lock().filters.get(name).map(handle).ok_or_else(|| {
            nwfilter_error(
                ErrorCode::NO_NWFILTER,
                format!("no nwfilter with matching name '{name}'"),
            )
        })
    }

    async fn nwfilter_lookup_by_uuid(&self, uuid: &Uuid) -> Result<NwFilterRef> {
        self.lock()
            .filters
            .values()
            .find(|def| def.uuid == *uuid)
            .map(handle)
            .ok_or_else(|| {
                nwfilter_error(
                    ErrorCode::NO_NWFILTER,
                    format!("no nwfilter with matching uuid '{uuid}'"),
                )
            })
    }

    async fn nwfilter_define_xml(&self, xml: &str, flags: u32) -> Result<NwFilterRef> {
        self.define(xml, flags)
    }

    async fn nwfilter_undefine(&self, filter: &NwFilterRef) -> Result<()> {
        self.undefine(filter)
    }

    async fn nwfilter_get_xml_desc(&self, filter: &NwFilterRef, flags: u32) -> Result<String> {
        check_flags(flags, 0, "nwfilterGetXMLDesc")?;
        let state = self.lock();
        Ok(format_nwfilter(Self::find(&state, filter)?))
    }

    async fn list_all_nwfilter_bindings(&self, flags: u32) -> Result<Vec<NwFilterBindingRef>> {
        check_flags(flags, 0, "nwfilterConnectListAllNWFilterBindings")?;
        Ok(self.lock().bindings.values().map(binding_handle).collect())
    }

    async fn nwfilter_binding_lookup_by_port_dev(
        &self,
        portdev: &str,
    ) -> Result<NwFilterBindingRef> {
        self.lock()
            .bindings
            .get(portdev)
            .map(binding_handle)
            .ok_or_else(|| no_binding(portdev))
    }

    async fn nwfilter_binding_create_xml(
        &self,
        xml: &str,
        flags: u32,
    ) -> Result<NwFilterBindingRef> {
        self.create_binding(xml, flags)
    }

    async fn nwfilter_binding_delete(&self, binding: &NwFilterBindingRef) -> Result<()> {
        self.delete_binding(binding)
    }

    async fn nwfilter_binding_get_xml_desc(
        &self,
        binding: &NwFilterBindingRef,
        flags: u32,
    ) -> Result<String> {
        check_flags(flags, 0, "nwfilterBindingGetXMLDesc")?;
        let state = self.lock();
        let def = state
            .bindings
            .get(&binding.portdev)
            .ok_or_else(|| no_binding(&binding.portdev))?;
        Ok(format_nwfilter_binding(def))
    }
}

#[cfg(test)]
mod tests;
