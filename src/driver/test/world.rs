//! The test driver's world and its state machine: domains, networks, pools and volumes, with libvirt's rules
//! for every transition and refusal.
//!
//! Every change follows one pattern: check, build the changed object as a copy, write it to disk, and only then
//! put it into memory and emit its events. A failed write therefore leaves memory as it was, and nothing is
//! acknowledged that a restart would not find.

use super::store::Store;
use crate::driver::{
    event, flags, pool_state, reason, vol_type, DomainEvent, DomainInfo, DomainRef, DomainState,
    NetworkRef, PoolInfo, PoolRef, VolumeInfo, VolumeRef,
};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{validate_name, DomainDef, DomainXmlOptions, NetworkDef, PoolDef, VolumeDef};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;
use uuid::Uuid;

/// Capacity every pool of libvirt's test driver reports (100 GiB).
pub(super) const POOL_CAPACITY: u64 = 100 * 1024 * 1024 * 1024;

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One domain: its definitions and live state.
#[derive(Clone, Debug)]
pub(super) struct DomainObj {
    /// The definition used at the next start; `None` for a transient domain.
    pub(super) persistent_def: Option<DomainDef>,
    /// The running definition; `Some` exactly while the domain is active.
    pub(super) live_def: Option<DomainDef>,
    pub(super) state: DomainState,
    pub(super) reason: i32,
    /// −1 while inactive.
    pub(super) id: i32,
    pub(super) autostart: bool,
    /// CPU time used before `running_since_ms`.
    pub(super) cpu_time_ns: u64,
    /// When the domain last began running (wall clock, ms); `None` unless running.
    pub(super) running_since_ms: Option<u64>,
}

impl DomainObj {
    fn defined(def: DomainDef) -> Self {
        Self {
            persistent_def: Some(def),
            live_def: None,
            state: DomainState::Shutoff,
            reason: reason::SHUTOFF_UNKNOWN,
            id: -1,
            autostart: false,
            cpu_time_ns: 0,
            running_since_ms: None,
        }
    }

    /// The definition that describes the domain now: the live one while active.
    pub(super) fn def(&self) -> &DomainDef {
        match (&self.live_def, &self.persistent_def) {
            (Some(live), _) => live,
            (None, Some(persistent)) => persistent,
            // Unreachable by construction (loader and transitions keep one); a default keeps this total.
            (None, None) => empty_def(),
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.def().name
    }

    pub(super) fn uuid(&self) -> Uuid {
        self.def().uuid
    }

    pub(super) fn is_active(&self) -> bool {
        self.state.is_active()
    }

    pub(super) fn is_persistent(&self) -> bool {
        self.persistent_def.is_some()
    }

    pub(super) fn handle(&self) -> DomainRef {
        DomainRef {
            name: self.name().to_string(),
            uuid: self.uuid(),
            id: self.id,
        }
    }

    fn cpu_time_at(&self, now_ms: u64) -> u64 {
        let running = self
            .running_since_ms
            .map(|since| now_ms.saturating_sub(since).saturating_mul(1_000_000))
            .unwrap_or(0);
        self.cpu_time_ns.saturating_add(running)
    }

    /// Folds the time run so far into `cpu_time_ns` (before pausing or stopping).
    fn settle_cpu_time(&mut self) {
        self.cpu_time_ns = self.cpu_time_at(now_ms());
        self.running_since_ms = None;
    }

    fn stop(&mut self, shutoff_reason: i32) {
        self.settle_cpu_time();
        self.live_def = None;
        self.state = DomainState::Shutoff;
        self.reason = shutoff_reason;
        self.id = -1;
    }
}

fn empty_def() -> &'static DomainDef {
    static EMPTY: std::sync::OnceLock<DomainDef> = std::sync::OnceLock::new();
    EMPTY.get_or_init(DomainDef::default)
}

#[derive(Clone, Debug)]
pub(super) struct NetworkObj {
    pub(super) def: NetworkDef,
    pub(super) persistent: bool,
    pub(super) active: bool,
    pub(super) autostart: bool,
}

impl NetworkObj {
    pub(super) fn handle(&self) -> NetworkRef {
        NetworkRef {
            name: self.def.name.clone(),
            uuid: self.def.uuid,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct PoolObj {
    /// Capacity, allocation and available are kept current from the pool's volumes.
    pub(super) def: PoolDef,
    pub(super) persistent: bool,
    pub(super) active: bool,
    pub(super) autostart: bool,
}

impl PoolObj {
    pub(super) fn handle(&self) -> PoolRef {
        PoolRef {
            name: self.def.name.clone(),
            uuid: self.def.uuid,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct VolumeObj {
    /// The pool's UUID.
    pub(super) pool: Uuid,
    /// Key, path and allocation are always set.
    pub(super) def: VolumeDef,
    /// Names the volume's file; volume names can be too long to be file names.
    pub(super) file_id: Uuid,
}

impl VolumeObj {
    fn allocation(&self) -> u64 {
        self.def.allocation.unwrap_or(self.def.capacity)
    }
}

/// Which definitions a modification touches (`virDomainModificationImpact`).
#[derive(Clone, Copy)]
struct Impact {
    live: bool,
    config: bool,
}

fn check_flags(flags: u32, allowed: u32, api: &str) -> Result<()> {
    let unknown = flags & !allowed;
    if unknown != 0 {
        return Err(Error::invalid_arg(
            ErrorDomain::TEST,
            format!("unsupported flags (0x{unknown:x}) in function {api}"),
        ));
    }
    Ok(())
}

fn no_domain() -> Error {
    Error::with_detail(ErrorCode::NO_DOMAIN, ErrorDomain::TEST, "")
}

fn op_invalid(detail: impl AsRef<str>) -> Error {
    Error::operation_invalid(ErrorDomain::TEST, detail)
}

/// "domain is not running", as libvirt's shared domain code words (and places) it.
fn not_running() -> Error {
    Error::operation_invalid(ErrorDomain::DOMAIN, "domain is not running")
}

/// The test driver's own wording for state errors: an internal error naming the domain.
fn test_state_error(detail: String) -> Error {
    Error::internal(ErrorDomain::TEST, detail)
}

fn op_failed(domain: ErrorDomain, detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::OPERATION_FAILED, domain, detail)
}

fn no_network(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::NO_NETWORK, ErrorDomain::TEST, detail)
}

fn no_pool(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::NO_STORAGE_POOL, ErrorDomain::TEST, detail)
}

fn no_volume(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::NO_STORAGE_VOL, ErrorDomain::TEST, detail)
}

/// "Which of two filter flags is asked for": `None` when neither or both (no filtering).
fn wanted(flags: u32, yes: u32, no: u32) -> Option<bool> {
    match (flags & yes != 0, flags & no != 0) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

fn passes(filter: Option<bool>, value: bool) -> bool {
    filter.is_none_or(|want| want == value)
}

/// Pool type bits of `virConnectListAllStoragePoolsFlags`, from `LIST_POOLS_DIR` upwards.
const POOL_TYPES: [&str; 14] = [
    "dir",
    "fs",
    "netfs",
    "logical",
    "disk",
    "iscsi",
    "scsi",
    "mpath",
    "rbd",
    "sheepdog",
    "gluster",
    "zfs",
    "vstorage",
    "iscsi-direct",
];

fn pool_type_bit(pool_type: &str) -> u32 {
    POOL_TYPES
        .iter()
        .position(|t| *t == pool_type)
        .map(|i| flags::LIST_POOLS_DIR << i)
        .unwrap_or(0)
}

/// Everything the test driver knows, guarded by one mutex in the driver.
pub(super) struct World {
    pub(super) domains: BTreeMap<Uuid, DomainObj>,
    pub(super) networks: BTreeMap<Uuid, NetworkObj>,
    pub(super) pools: BTreeMap<Uuid, PoolObj>,
    /// Keyed by file id.
    pub(super) volumes: BTreeMap<Uuid, VolumeObj>,
    /// The id the next started domain gets; ids are never reused within a world.
    pub(super) next_domain_id: i32,
    events: broadcast::Sender<DomainEvent>,
}

impl World {
    pub(super) fn new(events: broadcast::Sender<DomainEvent>) -> Self {
        Self {
            domains: BTreeMap::new(),
            networks: BTreeMap::new(),
            pools: BTreeMap::new(),
            volumes: BTreeMap::new(),
            next_domain_id: 1,
            events,
        }
    }

    fn emit(&self, domain: DomainRef, kind: i32, detail: i32) {
        // No subscriber is not an error.
        let _ = self.events.send(DomainEvent {
            domain,
            event: kind,
            detail,
        });
    }

    // ---------------------------------------------------------------- loading

    pub(super) fn insert_loaded_domain(
        &mut self,
        dom: DomainObj,
    ) -> std::result::Result<(), String> {
        let uuid = dom.uuid();
        if self.domains.contains_key(&uuid) {
            return Err(format!("a second record for domain UUID {uuid}"));
        }
        if self.domains.values().any(|d| d.name() == dom.name()) {
            return Err(format!("a second domain named '{}'", dom.name()));
        }
        if dom.is_active() && self.domains.values().any(|d| d.id == dom.id) {
            return Err(format!("a second running domain with id {}", dom.id));
        }
        self.domains.insert(uuid, dom);
        Ok(())
    }

    pub(super) fn max_domain_id(&self) -> i32 {
        self.domains.values().map(|d| d.id).max().unwrap_or(0)
    }

    pub(super) fn insert_loaded_network(
        &mut self,
        net: NetworkObj,
    ) -> std::result::Result<(), String> {
        if self.networks.contains_key(&net.def.uuid)
            || self.networks.values().any(|n| n.def.name == net.def.name)
        {
            return Err(format!(
                "a second network named '{}' or with its UUID",
                net.def.name
            ));
        }
        self.networks.insert(net.def.uuid, net);
        Ok(())
    }

    pub(super) fn insert_loaded_pool(&mut self, pool: PoolObj) -> std::result::Result<(), String> {
        if self.pools.contains_key(&pool.def.uuid)
            || self.pools.values().any(|p| p.def.name == pool.def.name)
        {
            return Err(format!(
                "a second pool named '{}' or with its UUID",
                pool.def.name
            ));
        }
        self.pools.insert(pool.def.uuid, pool);
        Ok(())
    }

    pub(super) fn insert_loaded_volume(
        &mut self,
        vol: VolumeObj,
    ) -> std::result::Result<(), String> {
        if !self.pools.contains_key(&vol.pool) {
            return Err(format!(
                "volume '{}' belongs to no known pool ({})",
                vol.def.name, vol.pool
            ));
        }
        if self
            .volumes
            .values()
            .any(|v| v.pool == vol.pool && v.def.name == vol.def.name)
        {
            return Err(format!(
                "a second volume named '{}' in its pool",
                vol.def.name
            ));
        }
        self.volumes.insert(vol.file_id, vol);
        Ok(())
    }

    /// Sets every pool's allocation and available space from its volumes.
    pub(super) fn recompute_pool_allocations(&mut self) {
        for (uuid, pool) in self.pools.iter_mut() {
            let used: u64 = self
                .volumes
                .values()
                .filter(|v| v.pool == *uuid)
                .fold(0u64, |sum, v| sum.saturating_add(v.allocation()));
            pool.def.allocation = used;
            pool.def.available = pool.def.capacity.saturating_sub(used);
        }
    }

    // ---------------------------------------------------------------- domains: lookups

    fn domain(&self, dom: &DomainRef) -> Result<&DomainObj> {
        self.domains.get(&dom.uuid).ok_or_else(|| {
            Error::with_detail(
                ErrorCode::NO_DOMAIN,
                ErrorDomain::TEST,
                format!("no domain with matching uuid '{}' ({})", dom.uuid, dom.name),
            )
        })
    }

    pub(super) fn lookup_domain_by_name(&self, name: &str) -> Result<DomainRef> {
        self.domains
            .values()
            .find(|d| d.name() == name)
            .map(DomainObj::handle)
            .ok_or_else(no_domain)
    }

    pub(super) fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        self.domains
            .get(uuid)
            .map(DomainObj::handle)
            .ok_or_else(no_domain)
    }

    pub(super) fn lookup_domain_by_id(&self, id: i32) -> Result<DomainRef> {
        self.domains
            .values()
            .find(|d| d.is_active() && d.id == id)
            .map(DomainObj::handle)
            .ok_or_else(no_domain)
    }

    pub(super) fn list_domains(&self, list_flags: u32) -> Result<Vec<DomainRef>> {
        check_flags(list_flags, (1 << 16) - 1, "virConnectListAllDomains")?;
        let active = wanted(
            list_flags,
            flags::LIST_DOMAINS_ACTIVE,
            flags::LIST_DOMAINS_INACTIVE,
        );
        let persistent = wanted(
            list_flags,
            flags::LIST_DOMAINS_PERSISTENT,
            flags::LIST_DOMAINS_TRANSIENT,
        );
        let autostart = wanted(
            list_flags,
            flags::LIST_DOMAINS_AUTOSTART,
            flags::LIST_DOMAINS_NO_AUTOSTART,
        );
        // No domain of the test driver has a managed save image, a snapshot or a checkpoint.
        let managed_save = wanted(
            list_flags,
            flags::LIST_DOMAINS_MANAGEDSAVE,
            flags::LIST_DOMAINS_NO_MANAGEDSAVE,
        );
        let snapshot = wanted(
            list_flags,
            flags::LIST_DOMAINS_HAS_SNAPSHOT,
            flags::LIST_DOMAINS_NO_SNAPSHOT,
        );
        let checkpoint = wanted(
            list_flags,
            flags::LIST_DOMAINS_HAS_CHECKPOINT,
            flags::LIST_DOMAINS_NO_CHECKPOINT,
        );
        let state_bits = flags::LIST_DOMAINS_RUNNING
            | flags::LIST_DOMAINS_PAUSED
            | flags::LIST_DOMAINS_SHUTOFF
            | flags::LIST_DOMAINS_OTHER;
        let mut found: Vec<&DomainObj> = self
            .domains
            .values()
            .filter(|d| {
                let state_ok = list_flags & state_bits == 0
                    || match d.state {
                        DomainState::Running => list_flags & flags::LIST_DOMAINS_RUNNING != 0,
                        DomainState::Paused => list_flags & flags::LIST_DOMAINS_PAUSED != 0,
                        DomainState::Shutoff => list_flags & flags::LIST_DOMAINS_SHUTOFF != 0,
                        _ => list_flags & flags::LIST_DOMAINS_OTHER != 0,
                    };
                state_ok
                    && passes(active, d.is_active())
                    && passes(persistent, d.is_persistent())
                    && passes(autostart, d.autostart)
                    && passes(managed_save, false)
                    && passes(snapshot, false)
                    && passes(checkpoint, false)
            })
            .collect();
        found.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(found.into_iter().map(DomainObj::handle).collect())
    }

    // ---------------------------------------------------------------- domains: reads

    pub(super) fn domain_info(&self, dom: &DomainRef) -> Result<DomainInfo> {
        let obj = self.domain(dom)?;
        let def = obj.def();
        Ok(DomainInfo {
            state: obj.state,
            max_mem_kib: def.memory_kib,
            memory_kib: def.current_memory_kib,
            nr_virt_cpu: def.current_vcpus,
            cpu_time_ns: obj.cpu_time_at(now_ms()),
        })
    }

    pub(super) fn domain_state(
        &self,
        dom: &DomainRef,
        state_flags: u32,
    ) -> Result<(DomainState, i32)> {
        check_flags(state_flags, 0, "virDomainGetState")?;
        let obj = self.domain(dom)?;
        Ok((obj.state, obj.reason))
    }

    pub(super) fn domain_xml(&self, dom: &DomainRef, xml_flags: u32) -> Result<String> {
        check_flags(
            xml_flags,
            flags::XML_SECURE | flags::XML_INACTIVE | flags::XML_UPDATE_CPU | flags::XML_MIGRATABLE,
            "virDomainGetXMLDesc",
        )?;
        let obj = self.domain(dom)?;
        let secure = xml_flags & flags::XML_SECURE != 0;
        let (def, id) = match (&obj.persistent_def, &obj.live_def) {
            (Some(persistent), _) if xml_flags & flags::XML_INACTIVE != 0 => (persistent, None),
            (_, Some(live)) if xml_flags & flags::XML_INACTIVE != 0 => (live, None),
            (_, Some(live)) => (live, Some(obj.id)),
            _ => (obj.def(), None),
        };
        Ok(def.to_xml(&DomainXmlOptions { id, secure }))
    }

    pub(super) fn domain_autostart(&self, dom: &DomainRef) -> Result<bool> {
        Ok(self.domain(dom)?.autostart)
    }

    pub(super) fn domain_is_active(&self, dom: &DomainRef) -> Result<bool> {
        Ok(self.domain(dom)?.is_active())
    }

    pub(super) fn domain_is_persistent(&self, dom: &DomainRef) -> Result<bool> {
        Ok(self.domain(dom)?.is_persistent())
    }

    pub(super) fn domain_is_updated(&self, dom: &DomainRef) -> Result<bool> {
        let obj = self.domain(dom)?;
        Ok(match (&obj.live_def, &obj.persistent_def) {
            (Some(live), Some(persistent)) => live != persistent,
            _ => false,
        })
    }

    pub(super) fn domain_max_memory(&self, dom: &DomainRef) -> Result<u64> {
        Ok(self.domain(dom)?.def().memory_kib)
    }

    /// Checks that a domain exists (for calls whose answer does not depend on it).
    pub(super) fn domain_exists(&self, dom: &DomainRef) -> Result<()> {
        self.domain(dom).map(|_| ())
    }

    pub(super) fn domain_vcpus(&self, dom: &DomainRef, vcpu_flags: u32) -> Result<u32> {
        check_flags(
            vcpu_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::VCPU_MAXIMUM | flags::VCPU_GUEST,
            "virDomainGetVcpusFlags",
        )?;
        let obj = self.domain(dom)?;
        if vcpu_flags & flags::VCPU_GUEST != 0 {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_UNSUPPORTED,
                ErrorDomain::TEST,
                "the test driver has no guest agent",
            ));
        }
        let impact = impact(obj, vcpu_flags, true)?;
        let def = if impact.live {
            obj.live_def.as_ref()
        } else {
            obj.persistent_def.as_ref()
        };
        let def = def.unwrap_or_else(|| obj.def());
        Ok(if vcpu_flags & flags::VCPU_MAXIMUM != 0 {
            def.vcpus
        } else {
            def.current_vcpus
        })
    }

    // ---------------------------------------------------------------- domains: changes

    /// Refuses a definition whose name or UUID belongs to another domain; returns the UUID's domain, if any.
    fn domain_clash(&self, def: &DomainDef) -> Result<Option<&DomainObj>> {
        if let Some(existing) = self.domains.get(&def.uuid) {
            if existing.name() != def.name {
                return Err(op_failed(
                    ErrorDomain::DOMAIN,
                    format!(
                        "domain '{}' is already defined with uuid {}",
                        existing.name(),
                        def.uuid
                    ),
                ));
            }
            return Ok(Some(existing));
        }
        if let Some(existing) = self.domains.values().find(|d| d.name() == def.name) {
            return Err(op_failed(
                ErrorDomain::DOMAIN,
                format!(
                    "domain '{}' already exists with uuid {}",
                    def.name,
                    existing.uuid()
                ),
            ));
        }
        Ok(None)
    }

    pub(super) fn define_domain(&mut self, store: &Store, def: DomainDef) -> Result<DomainRef> {
        validate_name("domain", &def.name)?;
        let (changed, detail) = match self.domain_clash(&def)? {
            Some(existing) => {
                let mut changed = existing.clone();
                let detail = if changed.is_persistent() {
                    event::DEFINED_UPDATED
                } else {
                    event::DEFINED_ADDED
                };
                changed.persistent_def = Some(def);
                (changed, detail)
            }
            None => (DomainObj::defined(def), event::DEFINED_ADDED),
        };
        store.save_domain(&changed)?;
        let handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        self.emit(handle.clone(), event::DEFINED, detail);
        Ok(handle)
    }

    /// Gives `obj` the next id and marks it running (or paused); the id counter is saved first so an id is
    /// never handed out twice, even across a crash.
    fn begin_run(&mut self, store: &Store, obj: &mut DomainObj, paused: bool) -> Result<()> {
        let id = self.next_domain_id;
        let next = id
            .checked_add(1)
            .ok_or_else(|| Error::internal(ErrorDomain::TEST, "domain ids are exhausted"))?;
        store.save_meta(next)?;
        self.next_domain_id = next;
        obj.id = id;
        obj.cpu_time_ns = 0;
        if paused {
            obj.state = DomainState::Paused;
            obj.reason = reason::PAUSED_USER;
            obj.running_since_ms = None;
        } else {
            obj.state = DomainState::Running;
            obj.reason = reason::RUNNING_BOOTED;
            obj.running_since_ms = Some(now_ms());
        }
        Ok(())
    }

    fn emit_started(&self, handle: &DomainRef, paused: bool) {
        self.emit(handle.clone(), event::STARTED, event::STARTED_BOOTED);
        if paused {
            self.emit(handle.clone(), event::SUSPENDED, event::SUSPENDED_PAUSED);
        }
    }

    pub(super) fn create_domain(
        &mut self,
        store: &Store,
        dom: &DomainRef,
        start_flags: u32,
    ) -> Result<DomainRef> {
        check_flags(
            start_flags,
            flags::START_PAUSED
                | flags::START_BYPASS_CACHE
                | flags::START_FORCE_BOOT
                | flags::START_VALIDATE,
            "virDomainCreateWithFlags",
        )?;
        let mut changed = self.domain(dom)?.clone();
        if changed.is_active() {
            return Err(test_state_error(format!(
                "Domain '{}' is already running",
                changed.name()
            )));
        }
        changed.live_def = changed.persistent_def.clone();
        let paused = start_flags & flags::START_PAUSED != 0;
        self.begin_run(store, &mut changed, paused)?;
        store.save_domain(&changed)?;
        let handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        self.emit_started(&handle, paused);
        Ok(handle)
    }

    pub(super) fn create_domain_xml(
        &mut self,
        store: &Store,
        def: DomainDef,
        start_flags: u32,
    ) -> Result<DomainRef> {
        check_flags(
            start_flags,
            flags::START_PAUSED
                | flags::START_BYPASS_CACHE
                | flags::START_FORCE_BOOT
                | flags::START_VALIDATE,
            "virDomainCreateXML",
        )?;
        validate_name("domain", &def.name)?;
        let mut changed = match self.domain_clash(&def)? {
            Some(existing) if existing.is_active() => {
                return Err(Error::operation_invalid(
                    ErrorDomain::DOMAIN,
                    format!("domain '{}' is already active", def.name),
                ));
            }
            Some(existing) => {
                let mut changed = existing.clone();
                changed.live_def = Some(def);
                changed
            }
            None => DomainObj {
                persistent_def: None,
                live_def: Some(def),
                ..DomainObj::defined(DomainDef::default())
            },
        };
        let paused = start_flags & flags::START_PAUSED != 0;
        self.begin_run(store, &mut changed, paused)?;
        store.save_domain(&changed)?;
        let handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        self.emit_started(&handle, paused);
        Ok(handle)
    }

    /// Saves a domain that stopped, or forgets it when it was transient.
    /// (`uuid` is passed in: a stopped transient domain has no definition left to name it.)
    fn commit_stopped(&mut self, store: &Store, uuid: Uuid, stopped: DomainObj) -> Result<()> {
        if stopped.is_persistent() {
            store.save_domain(&stopped)?;
            self.domains.insert(uuid, stopped);
        } else {
            store.remove_domain(&uuid)?;
            self.domains.remove(&uuid);
        }
        Ok(())
    }

    pub(super) fn destroy_domain(
        &mut self,
        store: &Store,
        dom: &DomainRef,
        destroy_flags: u32,
    ) -> Result<()> {
        // VIR_DOMAIN_DESTROY_GRACEFUL (1) and _REMOVE_LOGS (2) mean nothing for a simulated guest.
        check_flags(destroy_flags, 0b11, "virDomainDestroyFlags")?;
        let mut changed = self.domain(dom)?.clone();
        if !changed.is_active() {
            return Err(not_running());
        }
        let handle = changed.handle();
        changed.stop(reason::SHUTOFF_DESTROYED);
        self.commit_stopped(store, handle.uuid, changed)?;
        self.emit(handle, event::STOPPED, event::STOPPED_DESTROYED);
        Ok(())
    }

    pub(super) fn shutdown_domain(
        &mut self,
        store: &Store,
        dom: &DomainRef,
        shutdown_flags: u32,
    ) -> Result<()> {
        // Shutdown modes (ACPI, agent, initctl, signal, paravirt) all end the same way here.
        check_flags(shutdown_flags, 0b1_1111, "virDomainShutdownFlags")?;
        let mut changed = self.domain(dom)?.clone();
        if !changed.is_active() {
            return Err(test_state_error(format!(
                "domain '{}' not running",
                changed.name()
            )));
        }
        let handle = changed.handle();
        changed.stop(reason::SHUTOFF_SHUTDOWN);
        self.commit_stopped(store, handle.uuid, changed)?;
        self.emit(handle.clone(), event::SHUTDOWN, event::SHUTDOWN_FINISHED);
        self.emit(handle, event::STOPPED, event::STOPPED_SHUTDOWN);
        Ok(())
    }

    pub(super) fn reboot_domain(
        &mut self,
        store: &Store,
        dom: &DomainRef,
        reboot_flags: u32,
    ) -> Result<()> {
        check_flags(reboot_flags, 0b1_1111, "virDomainReboot")?;
        let mut changed = self.domain(dom)?.clone();
        if !changed.is_active() {
            return Err(not_running());
        }
        let handle = changed.handle();
        if changed.def().on_reboot.as_deref() == Some("destroy") {
            changed.stop(reason::SHUTOFF_SHUTDOWN);
            self.commit_stopped(store, handle.uuid, changed)?;
            self.emit(handle, event::STOPPED, event::STOPPED_SHUTDOWN);
            return Ok(());
        }
        let was_paused = changed.state == DomainState::Paused;
        changed.settle_cpu_time();
        changed.state = DomainState::Running;
        changed.reason = reason::RUNNING_BOOTED;
        changed.running_since_ms = Some(now_ms());
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        if was_paused {
            self.emit(handle, event::RESUMED, event::RESUMED_UNPAUSED);
        }
        Ok(())
    }

    pub(super) fn suspend_domain(&mut self, store: &Store, dom: &DomainRef) -> Result<()> {
        let mut changed = self.domain(dom)?.clone();
        // libvirt's test driver refuses both cases with one message.
        if changed.state != DomainState::Running {
            return Err(test_state_error(format!(
                "domain '{}' not running",
                changed.name()
            )));
        }
        changed.settle_cpu_time();
        changed.state = DomainState::Paused;
        changed.reason = reason::PAUSED_USER;
        store.save_domain(&changed)?;
        let handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        self.emit(handle, event::SUSPENDED, event::SUSPENDED_PAUSED);
        Ok(())
    }

    pub(super) fn resume_domain(&mut self, store: &Store, dom: &DomainRef) -> Result<()> {
        let mut changed = self.domain(dom)?.clone();
        if changed.state != DomainState::Paused {
            return Err(test_state_error(format!(
                "domain '{}' not paused",
                changed.name()
            )));
        }
        changed.state = DomainState::Running;
        changed.reason = reason::RUNNING_UNPAUSED;
        changed.running_since_ms = Some(now_ms());
        store.save_domain(&changed)?;
        let handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        self.emit(handle, event::RESUMED, event::RESUMED_UNPAUSED);
        Ok(())
    }

    pub(super) fn undefine_domain(
        &mut self,
        store: &Store,
        dom: &DomainRef,
        undefine_flags: u32,
    ) -> Result<()> {
        // Nothing here has managed save images, snapshots, checkpoints or NVRAM: those flags are no-ops.
        check_flags(undefine_flags, 0b1_1111, "virDomainUndefineFlags")?;
        let mut changed = self.domain(dom)?.clone();
        // Undefining a running transient domain is accepted (libvirt's test driver does): it stays transient.
        let handle = changed.handle();
        if changed.is_active() {
            // A running domain lives on as a transient one until it stops.
            changed.persistent_def = None;
            changed.autostart = false;
            store.save_domain(&changed)?;
            self.domains.insert(changed.uuid(), changed);
        } else {
            store.remove_domain(&changed.uuid())?;
            self.domains.remove(&changed.uuid());
        }
        self.emit(handle, event::UNDEFINED, event::UNDEFINED_REMOVED);
        Ok(())
    }

    pub(super) fn set_domain_autostart(
        &mut self,
        store: &Store,
        dom: &DomainRef,
        autostart: bool,
    ) -> Result<()> {
        let obj = self.domain(dom)?;
        if !obj.is_persistent() {
            return Err(op_invalid("cannot set autostart for transient domain"));
        }
        if obj.autostart == autostart {
            return Ok(());
        }
        let mut changed = obj.clone();
        changed.autostart = autostart;
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    pub(super) fn set_domain_memory(
        &mut self,
        store: &Store,
        dom: &DomainRef,
        kib: u64,
        mem_flags: u32,
    ) -> Result<()> {
        check_flags(
            mem_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::MEM_MAXIMUM,
            "virDomainSetMemoryFlags",
        )?;
        let mut changed = self.domain(dom)?.clone();
        let impact = impact(&changed, mem_flags, false)?;
        if mem_flags & flags::MEM_MAXIMUM != 0 {
            if impact.live {
                return Err(op_invalid(
                    "cannot resize the maximum memory on an active domain",
                ));
            }
            if kib == 0 {
                return Err(Error::invalid_arg(
                    ErrorDomain::TEST,
                    "maximum memory must be greater than zero",
                ));
            }
            if let Some(def) = changed.persistent_def.as_mut() {
                def.memory_kib = kib;
                def.current_memory_kib = def.current_memory_kib.min(kib);
            }
        } else {
            let targets = [
                (impact.live, changed.live_def.as_mut()),
                (impact.config, changed.persistent_def.as_mut()),
            ];
            for (chosen, def) in targets {
                if let (true, Some(def)) = (chosen, def) {
                    if kib > def.memory_kib {
                        return Err(Error::invalid_arg(
                            ErrorDomain::TEST,
                            "cannot set memory higher than max memory",
                        ));
                    }
                    def.current_memory_kib = kib;
                }
            }
        }
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    pub(super) fn set_domain_vcpus(
        &mut self,
        store: &Store,
        dom: &DomainRef,
        count: u32,
        vcpu_flags: u32,
    ) -> Result<()> {
        check_flags(
            vcpu_flags,
            flags::AFFECT_LIVE
                | flags::AFFECT_CONFIG
                | flags::VCPU_MAXIMUM
                | flags::VCPU_GUEST
                | flags::VCPU_HOTPLUGGABLE,
            "virDomainSetVcpusFlags",
        )?;
        let mut changed = self.domain(dom)?.clone();
        if vcpu_flags & flags::VCPU_GUEST != 0 {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_UNSUPPORTED,
                ErrorDomain::TEST,
                "the test driver has no guest agent",
            ));
        }
        if count == 0 {
            return Err(Error::new(
                ErrorCode::INVALID_ARG,
                ErrorDomain::DOMAIN,
                "nvcpus in virDomainSetVcpusFlags must not be zero",
            ));
        }
        let maximum = vcpu_flags & flags::VCPU_MAXIMUM != 0;
        // libvirt's API entry point requires the config flag with the maximum flag.
        if maximum && vcpu_flags & flags::AFFECT_CONFIG == 0 {
            return Err(Error::new(
                ErrorCode::INVALID_ARG,
                ErrorDomain::DOMAIN,
                "Flag 'VIR_DOMAIN_AFFECT_CONFIG' is required by flag 'VIR_DOMAIN_VCPU_MAXIMUM'",
            ));
        }
        let impact = impact(&changed, vcpu_flags, false)?;
        let targets = [
            (impact.live, changed.live_def.as_mut()),
            (impact.config, changed.persistent_def.as_mut()),
        ];
        for (chosen, def) in targets {
            if let (true, Some(def)) = (chosen, def) {
                if maximum {
                    def.vcpus = count;
                    def.current_vcpus = def.current_vcpus.min(count);
                } else if count > def.vcpus {
                    return Err(Error::invalid_arg(
                        ErrorDomain::TEST,
                        format!(
                            "requested cpu amount exceeds maximum ({count} > {})",
                            def.vcpus
                        ),
                    ));
                } else {
                    def.current_vcpus = count;
                }
            }
        }
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    /// Starts every autostart domain that is shut off; a failure is logged and the others still start.
    pub(super) fn autostart_all(&mut self, store: &Store) {
        let due: Vec<DomainRef> = self
            .domains
            .values()
            .filter(|d| d.autostart && !d.is_active() && d.is_persistent())
            .map(DomainObj::handle)
            .collect();
        for dom in due {
            if let Err(err) = self.create_domain(store, &dom, 0) {
                tracing::warn!(domain = %dom.name, "autostart failed: {err}");
            }
        }
        let nets: Vec<NetworkRef> = self
            .networks
            .values()
            .filter(|n| n.autostart && !n.active)
            .map(NetworkObj::handle)
            .collect();
        for net in nets {
            if let Err(err) = self.start_network(store, &net) {
                tracing::warn!(network = %net.name, "autostart failed: {err}");
            }
        }
        let pools: Vec<PoolRef> = self
            .pools
            .values()
            .filter(|p| p.autostart && !p.active)
            .map(PoolObj::handle)
            .collect();
        for pool in pools {
            if let Err(err) = self.start_pool(store, &pool, 0) {
                tracing::warn!(pool = %pool.name, "autostart failed: {err}");
            }
        }
    }

    // ---------------------------------------------------------------- networks

    fn network(&self, net: &NetworkRef) -> Result<&NetworkObj> {
        self.networks.get(&net.uuid).ok_or_else(|| {
            no_network(format!(
                "no network with matching uuid '{}' ({})",
                net.uuid, net.name
            ))
        })
    }

    pub(super) fn lookup_network_by_name(&self, name: &str) -> Result<NetworkRef> {
        self.networks
            .values()
            .find(|n| n.def.name == name)
            .map(NetworkObj::handle)
            .ok_or_else(|| no_network(format!("no network with matching name '{name}'")))
    }

    pub(super) fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef> {
        self.networks
            .get(uuid)
            .map(NetworkObj::handle)
            .ok_or_else(|| no_network(format!("no network with matching uuid '{uuid}'")))
    }

    pub(super) fn list_networks(&self, list_flags: u32) -> Result<Vec<NetworkRef>> {
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

    pub(super) fn define_network(&mut self, store: &Store, def: NetworkDef) -> Result<NetworkRef> {
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

    pub(super) fn create_network_xml(
        &mut self,
        store: &Store,
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

    pub(super) fn start_network(&mut self, store: &Store, net: &NetworkRef) -> Result<()> {
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

    pub(super) fn destroy_network(&mut self, store: &Store, net: &NetworkRef) -> Result<()> {
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

    pub(super) fn undefine_network(&mut self, store: &Store, net: &NetworkRef) -> Result<()> {
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

    pub(super) fn network_xml(&self, net: &NetworkRef, xml_flags: u32) -> Result<String> {
        check_flags(
            xml_flags,
            flags::NETWORK_XML_INACTIVE,
            "virNetworkGetXMLDesc",
        )?;
        Ok(self.network(net)?.def.to_xml())
    }

    pub(super) fn network_bridge(&self, net: &NetworkRef) -> Result<String> {
        let obj = self.network(net)?;
        obj.def.bridge.clone().ok_or_else(|| {
            Error::internal(
                ErrorDomain::TEST,
                format!("network '{}' does not have a bridge name.", obj.def.name),
            )
        })
    }

    pub(super) fn network_autostart(&self, net: &NetworkRef) -> Result<bool> {
        Ok(self.network(net)?.autostart)
    }

    pub(super) fn network_is_active(&self, net: &NetworkRef) -> Result<bool> {
        Ok(self.network(net)?.active)
    }

    pub(super) fn network_is_persistent(&self, net: &NetworkRef) -> Result<bool> {
        Ok(self.network(net)?.persistent)
    }

    pub(super) fn set_network_autostart(
        &mut self,
        store: &Store,
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

    // ---------------------------------------------------------------- pools

    fn pool(&self, pool: &PoolRef) -> Result<&PoolObj> {
        self.pools.get(&pool.uuid).ok_or_else(|| {
            no_pool(format!(
                "no storage pool with matching uuid '{}' ({})",
                pool.uuid, pool.name
            ))
        })
    }

    fn active_pool(&self, pool: &PoolRef) -> Result<&PoolObj> {
        let obj = self.pool(pool)?;
        if !obj.active {
            return Err(op_invalid(format!(
                "storage pool '{}' is not active",
                obj.def.name
            )));
        }
        Ok(obj)
    }

    pub(super) fn lookup_pool_by_name(&self, name: &str) -> Result<PoolRef> {
        self.pools
            .values()
            .find(|p| p.def.name == name)
            .map(PoolObj::handle)
            .ok_or_else(|| no_pool(format!("no storage pool with matching name '{name}'")))
    }

    pub(super) fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        self.pools
            .get(uuid)
            .map(PoolObj::handle)
            .ok_or_else(|| no_pool(format!("no storage pool with matching uuid '{uuid}'")))
    }

    pub(super) fn lookup_pool_by_volume(&self, vol: &VolumeRef) -> Result<PoolRef> {
        self.lookup_pool_by_name(&vol.pool)
    }

    pub(super) fn list_pools(&self, list_flags: u32) -> Result<Vec<PoolRef>> {
        let type_bits = ((1u32 << POOL_TYPES.len()) - 1) * flags::LIST_POOLS_DIR;
        check_flags(
            list_flags,
            type_bits | (flags::LIST_POOLS_DIR - 1),
            "virConnectListAllStoragePools",
        )?;
        let active = wanted(
            list_flags,
            flags::LIST_POOLS_ACTIVE,
            flags::LIST_POOLS_INACTIVE,
        );
        let persistent = wanted(
            list_flags,
            flags::LIST_POOLS_PERSISTENT,
            flags::LIST_POOLS_TRANSIENT,
        );
        let autostart = wanted(
            list_flags,
            flags::LIST_POOLS_AUTOSTART,
            flags::LIST_POOLS_NO_AUTOSTART,
        );
        let mut found: Vec<&PoolObj> = self
            .pools
            .values()
            .filter(|p| {
                (list_flags & type_bits == 0 || list_flags & pool_type_bit(&p.def.pool_type) != 0)
                    && passes(active, p.active)
                    && passes(persistent, p.persistent)
                    && passes(autostart, p.autostart)
            })
            .collect();
        found.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        Ok(found.into_iter().map(PoolObj::handle).collect())
    }

    fn pool_clash(&self, def: &PoolDef) -> Result<Option<&PoolObj>> {
        if let Some(existing) = self.pools.get(&def.uuid) {
            if existing.def.name != def.name {
                return Err(op_failed(
                    ErrorDomain::STORAGE,
                    format!(
                        "pool '{}' is already defined with uuid {}",
                        existing.def.name, def.uuid
                    ),
                ));
            }
            return Ok(Some(existing));
        }
        if let Some(existing) = self.pools.values().find(|p| p.def.name == def.name) {
            return Err(op_failed(
                ErrorDomain::STORAGE,
                format!(
                    "pool '{}' already exists with uuid {}",
                    def.name, existing.def.uuid
                ),
            ));
        }
        Ok(None)
    }

    /// libvirt's test driver gives every pool the same simulated size; allocation follows its volumes.
    fn with_sizes(&self, mut def: PoolDef) -> PoolDef {
        let used = self
            .volumes
            .values()
            .filter(|v| v.pool == def.uuid)
            .fold(0u64, |sum, v| sum.saturating_add(v.allocation()));
        def.capacity = POOL_CAPACITY;
        def.allocation = used;
        def.available = POOL_CAPACITY.saturating_sub(used);
        def
    }

    pub(super) fn define_pool(&mut self, store: &Store, def: PoolDef) -> Result<PoolRef> {
        validate_name("pool", &def.name)?;
        let def = self.with_sizes(def);
        let changed = match self.pool_clash(&def)? {
            Some(existing) => PoolObj {
                def,
                persistent: true,
                ..existing.clone()
            },
            None => PoolObj {
                def,
                persistent: true,
                active: false,
                autostart: false,
            },
        };
        store.save_pool(&changed)?;
        let handle = changed.handle();
        self.pools.insert(changed.def.uuid, changed);
        Ok(handle)
    }

    pub(super) fn create_pool_xml(
        &mut self,
        store: &Store,
        def: PoolDef,
        create_flags: u32,
    ) -> Result<PoolRef> {
        check_flags(create_flags, 0b111, "virStoragePoolCreateXML")?;
        validate_name("pool", &def.name)?;
        let def = self.with_sizes(def);
        let changed = match self.pool_clash(&def)? {
            Some(existing) if existing.active => {
                return Err(op_invalid(format!("storage pool '{}' is active", def.name)));
            }
            Some(existing) => PoolObj {
                def,
                active: true,
                ..existing.clone()
            },
            None => PoolObj {
                def,
                persistent: false,
                active: true,
                autostart: false,
            },
        };
        store.save_pool(&changed)?;
        let handle = changed.handle();
        self.pools.insert(changed.def.uuid, changed);
        Ok(handle)
    }

    pub(super) fn build_pool(&self, pool: &PoolRef, build_flags: u32) -> Result<()> {
        check_flags(build_flags, 0b1111, "virStoragePoolBuild")?;
        let obj = self.pool(pool)?;
        if obj.active {
            return Err(op_invalid(format!(
                "storage pool '{}' is active",
                obj.def.name
            )));
        }
        // Nothing to build: the test driver's pools are simulated.
        Ok(())
    }

    pub(super) fn start_pool(
        &mut self,
        store: &Store,
        pool: &PoolRef,
        create_flags: u32,
    ) -> Result<()> {
        check_flags(create_flags, 0b111, "virStoragePoolCreate")?;
        let obj = self.pool(pool)?;
        if obj.active {
            return Err(op_invalid(format!(
                "storage pool '{}' is active",
                obj.def.name
            )));
        }
        let changed = PoolObj {
            active: true,
            ..obj.clone()
        };
        store.save_pool(&changed)?;
        self.pools.insert(changed.def.uuid, changed);
        Ok(())
    }

    /// Removes a pool and its volumes: the pool file first, so a crash leaves only orphan volumes, which the
    /// loader reports and skips.
    fn forget_pool(&mut self, store: &Store, uuid: Uuid) -> Result<()> {
        store.remove_pool(&uuid)?;
        self.pools.remove(&uuid);
        let owned: Vec<Uuid> = self
            .volumes
            .values()
            .filter(|v| v.pool == uuid)
            .map(|v| v.file_id)
            .collect();
        for file_id in owned {
            if let Err(err) = store.remove_volume(&file_id) {
                tracing::warn!("volume file of a removed pool stays behind: {err}");
            }
            self.volumes.remove(&file_id);
        }
        Ok(())
    }

    pub(super) fn destroy_pool(&mut self, store: &Store, pool: &PoolRef) -> Result<()> {
        let obj = self.active_pool(pool)?;
        if obj.persistent {
            let changed = PoolObj {
                active: false,
                ..obj.clone()
            };
            store.save_pool(&changed)?;
            self.pools.insert(changed.def.uuid, changed);
            Ok(())
        } else {
            let uuid = obj.def.uuid;
            self.forget_pool(store, uuid)
        }
    }

    pub(super) fn undefine_pool(&mut self, store: &Store, pool: &PoolRef) -> Result<()> {
        let obj = self.pool(pool)?;
        if obj.active {
            return Err(op_invalid(format!(
                "storage pool '{}' is active",
                obj.def.name
            )));
        }
        let uuid = obj.def.uuid;
        self.forget_pool(store, uuid)
    }

    pub(super) fn refresh_pool(&mut self, pool: &PoolRef, refresh_flags: u32) -> Result<()> {
        check_flags(refresh_flags, 0, "virStoragePoolRefresh")?;
        self.active_pool(pool)?;
        self.recompute_pool_allocations();
        Ok(())
    }

    pub(super) fn pool_info(&self, pool: &PoolRef) -> Result<PoolInfo> {
        let obj = self.pool(pool)?;
        Ok(PoolInfo {
            state: if obj.active {
                pool_state::RUNNING
            } else {
                pool_state::INACTIVE
            },
            capacity: obj.def.capacity,
            allocation: obj.def.allocation,
            available: obj.def.available,
        })
    }

    pub(super) fn pool_xml(&self, pool: &PoolRef, xml_flags: u32) -> Result<String> {
        check_flags(
            xml_flags,
            flags::STORAGE_XML_INACTIVE,
            "virStoragePoolGetXMLDesc",
        )?;
        Ok(self.pool(pool)?.def.to_xml())
    }

    pub(super) fn pool_autostart(&self, pool: &PoolRef) -> Result<bool> {
        Ok(self.pool(pool)?.autostart)
    }

    pub(super) fn pool_is_active(&self, pool: &PoolRef) -> Result<bool> {
        Ok(self.pool(pool)?.active)
    }

    pub(super) fn pool_is_persistent(&self, pool: &PoolRef) -> Result<bool> {
        Ok(self.pool(pool)?.persistent)
    }

    pub(super) fn set_pool_autostart(
        &mut self,
        store: &Store,
        pool: &PoolRef,
        autostart: bool,
    ) -> Result<()> {
        let obj = self.pool(pool)?;
        if !obj.persistent {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                "pool has no config file",
            ));
        }
        if obj.autostart == autostart {
            return Ok(());
        }
        let changed = PoolObj {
            autostart,
            ..obj.clone()
        };
        store.save_pool(&changed)?;
        self.pools.insert(changed.def.uuid, changed);
        Ok(())
    }

    pub(super) fn list_volumes(&self, pool: &PoolRef, list_flags: u32) -> Result<Vec<VolumeRef>> {
        check_flags(list_flags, 0, "virStoragePoolListAllVolumes")?;
        let obj = self.pool(pool)?;
        if !obj.active {
            return Err(op_invalid("storage pool is not active"));
        }
        let mut found: Vec<&VolumeObj> = self
            .volumes
            .values()
            .filter(|v| v.pool == obj.def.uuid)
            .collect();
        found.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        Ok(found
            .into_iter()
            .map(|v| self.volume_handle(obj, v))
            .collect())
    }

    // ---------------------------------------------------------------- volumes

    fn volume_handle(&self, pool: &PoolObj, vol: &VolumeObj) -> VolumeRef {
        VolumeRef {
            pool: pool.def.name.clone(),
            name: vol.def.name.clone(),
            key: vol.def.key.clone().unwrap_or_default(),
        }
    }

    /// The volume a handle names, with its (active) pool.
    fn volume(&self, vol: &VolumeRef) -> Result<(&PoolObj, &VolumeObj)> {
        let pool_ref = self.lookup_pool_by_name(&vol.pool)?;
        let pool = self.active_pool(&pool_ref)?;
        let found = self
            .volumes
            .values()
            .find(|v| v.pool == pool.def.uuid && v.def.name == vol.name)
            .ok_or_else(|| {
                no_volume(format!("no storage vol with matching name '{}'", vol.name))
            })?;
        Ok((pool, found))
    }

    pub(super) fn lookup_volume_by_name(&self, pool: &PoolRef, name: &str) -> Result<VolumeRef> {
        let obj = self.active_pool(pool)?;
        self.volumes
            .values()
            .find(|v| v.pool == obj.def.uuid && v.def.name == name)
            .map(|v| self.volume_handle(obj, v))
            .ok_or_else(|| no_volume(format!("no storage vol with matching name '{name}'")))
    }

    fn find_volume_in_active_pools(
        &self,
        matches: impl Fn(&VolumeObj) -> bool,
    ) -> Option<VolumeRef> {
        self.volumes.values().find_map(|v| {
            let pool = self.pools.get(&v.pool).filter(|p| p.active)?;
            matches(v).then(|| self.volume_handle(pool, v))
        })
    }

    pub(super) fn lookup_volume_by_key(&self, key: &str) -> Result<VolumeRef> {
        self.find_volume_in_active_pools(|v| v.def.key.as_deref() == Some(key))
            .ok_or_else(|| no_volume(format!("no storage vol with matching key '{key}'")))
    }

    pub(super) fn lookup_volume_by_path(&self, path: &str) -> Result<VolumeRef> {
        self.find_volume_in_active_pools(|v| v.def.path.as_deref() == Some(path))
            .ok_or_else(|| no_volume(format!("no storage vol with matching path '{path}'")))
    }

    pub(super) fn create_volume(
        &mut self,
        store: &Store,
        pool: &PoolRef,
        mut def: VolumeDef,
    ) -> Result<VolumeRef> {
        validate_name("volume", &def.name)?;
        let obj = self.active_pool(pool)?;
        if self
            .volumes
            .values()
            .any(|v| v.pool == obj.def.uuid && v.def.name == def.name)
        {
            return Err(Error::with_detail(
                ErrorCode::STORAGE_VOL_EXIST,
                ErrorDomain::TEST,
                format!("'{}'", def.name),
            ));
        }
        let allocation = *def.allocation.get_or_insert(def.capacity);
        if obj.def.allocation.saturating_add(allocation) > obj.def.capacity {
            return Err(Error::internal(
                ErrorDomain::TEST,
                format!("Not enough free space in pool for volume '{}'", def.name),
            ));
        }
        let path = format!(
            "{}/{}",
            obj.def
                .target_path
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('/'),
            def.name
        );
        def.key = Some(path.clone());
        def.path = Some(path);
        if def.vol_type.is_empty() {
            def.vol_type = "file".into();
        }
        // A dir pool's volumes are raw files unless the definition says otherwise (as libvirt reports them).
        if def.format.is_none() {
            def.format = Some("raw".into());
        }
        let vol = VolumeObj {
            pool: obj.def.uuid,
            def,
            file_id: Uuid::new_v4(),
        };
        store.save_volume(&vol)?;
        let handle = self.volume_handle(obj, &vol);
        self.volumes.insert(vol.file_id, vol);
        self.recompute_pool_allocations();
        Ok(handle)
    }

    pub(super) fn delete_volume(
        &mut self,
        store: &Store,
        vol: &VolumeRef,
        delete_flags: u32,
    ) -> Result<()> {
        // ZEROED (1), WITH_SNAPSHOTS (2): nothing to wipe in a simulated volume.
        check_flags(delete_flags, 0b11, "virStorageVolDelete")?;
        let (_, obj) = self.volume(vol)?;
        let file_id = obj.file_id;
        store.remove_volume(&file_id)?;
        self.volumes.remove(&file_id);
        self.recompute_pool_allocations();
        Ok(())
    }

    pub(super) fn resize_volume(
        &mut self,
        store: &Store,
        vol: &VolumeRef,
        capacity: u64,
        resize_flags: u32,
    ) -> Result<()> {
        check_flags(
            resize_flags,
            flags::VOL_RESIZE_ALLOCATE | flags::VOL_RESIZE_DELTA | flags::VOL_RESIZE_SHRINK,
            "virStorageVolResize",
        )?;
        let (pool, obj) = self.volume(vol)?;
        let current = obj.def.capacity;
        let new_capacity = if resize_flags & flags::VOL_RESIZE_DELTA != 0 {
            if resize_flags & flags::VOL_RESIZE_SHRINK != 0 {
                current.checked_sub(capacity)
            } else {
                current.checked_add(capacity)
            }
            .ok_or_else(|| Error::invalid_arg(ErrorDomain::TEST, "capacity out of range"))?
        } else {
            capacity
        };
        if new_capacity < current && resize_flags & flags::VOL_RESIZE_SHRINK == 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                "Can't shrink capacity below current capacity unless shrink flag explicitly specified",
            ));
        }
        let allocation = obj.allocation();
        if new_capacity < allocation {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                "Can't shrink capacity below current allocation",
            ));
        }
        let mut changed = obj.clone();
        changed.def.capacity = new_capacity;
        if resize_flags & flags::VOL_RESIZE_ALLOCATE != 0 {
            let extra = new_capacity - allocation;
            if extra > pool.def.available {
                return Err(op_failed(
                    ErrorDomain::TEST,
                    "Not enough space left in storage pool",
                ));
            }
            changed.def.allocation = Some(new_capacity);
        }
        store.save_volume(&changed)?;
        self.volumes.insert(changed.file_id, changed);
        self.recompute_pool_allocations();
        Ok(())
    }

    pub(super) fn volume_info(&self, vol: &VolumeRef) -> Result<VolumeInfo> {
        let (_, obj) = self.volume(vol)?;
        let kind = match obj.def.vol_type.as_str() {
            "block" => vol_type::BLOCK,
            "dir" => vol_type::DIR,
            "network" => vol_type::NETWORK,
            "netdir" => vol_type::NETDIR,
            "ploop" => vol_type::PLOOP,
            _ => vol_type::FILE,
        };
        Ok(VolumeInfo {
            kind,
            capacity: obj.def.capacity,
            allocation: obj.allocation(),
        })
    }

    pub(super) fn volume_path(&self, vol: &VolumeRef) -> Result<String> {
        let (_, obj) = self.volume(vol)?;
        Ok(obj.def.path.clone().unwrap_or_default())
    }

    pub(super) fn volume_xml(&self, vol: &VolumeRef, xml_flags: u32) -> Result<String> {
        check_flags(xml_flags, 0, "virStorageVolGetXMLDesc")?;
        let (_, obj) = self.volume(vol)?;
        Ok(obj.def.to_xml())
    }
}

/// Resolves `AFFECT_CURRENT` / `AFFECT_LIVE` / `AFFECT_CONFIG` against the domain's state, refusing what cannot
/// apply. `exactly_one` is for reads, which answer about one definition.
fn impact(obj: &DomainObj, impact_flags: u32, exactly_one: bool) -> Result<Impact> {
    let mut live = impact_flags & flags::AFFECT_LIVE != 0;
    let mut config = impact_flags & flags::AFFECT_CONFIG != 0;
    if exactly_one && live && config {
        return Err(Error::new(
            ErrorCode::INVALID_ARG,
            ErrorDomain::DOMAIN,
            "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive",
        ));
    }
    if !live && !config {
        if obj.is_active() {
            live = true;
        } else {
            config = true;
        }
    }
    if live && !obj.is_active() {
        return Err(not_running());
    }
    if config && !obj.is_persistent() {
        return Err(Error::operation_invalid(
            ErrorDomain::DOMAIN,
            "transient domains do not have any persistent config",
        ));
    }
    Ok(Impact { live, config })
}
