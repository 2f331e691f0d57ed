//! The test driver's world and its state machine: domains, networks, pools and volumes, with libvirt's rules
//! for every transition and refusal.
//!
//! Every change follows one pattern: check, build the changed object as a copy, write it to disk, and only then
//! put it into memory and emit its events. A failed write therefore leaves memory as it was, and nothing is
//! acknowledged that a restart would not find.
//!
//! This file holds the objects, the shared helpers and loading; `domains`, `networks` and `storage` hold the
//! transitions of each kind.

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

mod domains;
mod guest;
pub(super) use guest::{free_pages, launch_security_info};
pub(super) mod host;
mod interfaces;
mod io_stats;
mod keys;
mod managed_save;
mod metadata;
mod networks;
pub(super) use interfaces::HostInterfaces;
mod rename;
mod save_image;
pub(super) use save_image::{save_image_define, save_image_xml};
mod screenshot;
pub(super) use screenshot::screenshot_png;
mod snapshots;

pub(super) use snapshots::Snapshots;
mod stats;
mod storage;
mod tunables;

pub(super) use io_stats::node_cpu_stats;

/// Capacity every pool of libvirt's test driver reports (100 GiB).
pub(super) const POOL_CAPACITY: u64 = 100 * 1024 * 1024 * 1024;

/// Where the world writes each change before the change takes effect: the driver's state directory. The world
/// names what it needs here and the store provides it, so the transitions do not depend on the file layout.
pub(in crate::driver::test) trait Persist {
    /// The state directory (host interface records keep their own files under it).
    fn root(&self) -> &std::path::Path;
    fn save_meta(&self, next_domain_id: i32) -> Result<()>;
    fn save_domain(&self, dom: &DomainObj) -> Result<()>;
    fn remove_domain(&self, uuid: &Uuid) -> Result<()>;
    fn save_network(&self, net: &NetworkObj) -> Result<()>;
    fn remove_network(&self, uuid: &Uuid) -> Result<()>;
    fn save_pool(&self, pool: &PoolObj) -> Result<()>;
    fn remove_pool(&self, uuid: &Uuid) -> Result<()>;
    fn save_volume(&self, vol: &VolumeObj) -> Result<()>;
    fn remove_volume(&self, file_id: &Uuid) -> Result<()>;
}

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
    /// The domain's snapshots.
    pub(super) snapshots: snapshots::Snapshots,
    /// A managed save image exists.
    pub(super) managed_save: bool,
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
            snapshots: snapshots::Snapshots::default(),
            managed_save: false,
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

pub(super) fn check_flags(flags: u32, allowed: u32, api: &str) -> Result<()> {
    let unknown = flags & !allowed;
    if unknown != 0 {
        // libvirt's flag check words it without the "invalid argument" prefix its code usually gets.
        return Err(Error::new(
            ErrorCode::INVALID_ARG,
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

/// A value that remembers being borrowed mutably: whether a change may have touched the host's networks, pools
/// or volumes, which the driver's host generation follows (see [`World::take_host_touched`]).
#[derive(Default)]
pub(super) struct Tracked<T> {
    value: T,
    touched: bool,
}

impl<T> std::ops::Deref for Tracked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for Tracked<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.touched = true;
        &mut self.value
    }
}

/// Everything the test driver knows, guarded by one mutex in the driver.
pub(super) struct World {
    pub(super) domains: domains::DomainTable,
    pub(super) networks: Tracked<BTreeMap<Uuid, NetworkObj>>,
    pub(super) pools: Tracked<BTreeMap<Uuid, PoolObj>>,
    /// Keyed by file id.
    pub(super) volumes: Tracked<BTreeMap<Uuid, VolumeObj>>,
    /// The id the next started domain gets; ids are never reused within a world.
    pub(super) next_domain_id: i32,
    /// Host interfaces and their change transaction.
    pub(super) interfaces: interfaces::HostInterfaces,
    /// Guest clocks set with `virDomainSetTime`, in memory only as in libvirt's test driver.
    pub(super) guest_times: BTreeMap<Uuid, (i64, u32)>,
    /// Which of each guest's two file systems (`/`, `/boot`) are frozen, in memory only as in libvirt's test
    /// driver.
    pub(super) frozen: BTreeMap<Uuid, [bool; 2]>,
    events: broadcast::Sender<DomainEvent>,
}

impl World {
    pub(super) fn new(events: broadcast::Sender<DomainEvent>) -> Self {
        Self {
            domains: domains::DomainTable::default(),
            networks: Tracked::default(),
            pools: Tracked::default(),
            volumes: Tracked::default(),
            next_domain_id: 1,
            interfaces: interfaces::HostInterfaces::default(),
            guest_times: BTreeMap::new(),
            frozen: BTreeMap::new(),
            events,
        }
    }

    /// Whether networks, pools or volumes may have changed since the last call (a mutable borrow counts).
    pub(in crate::driver::test) fn take_host_touched(&mut self) -> bool {
        let touched = self.networks.touched || self.pools.touched || self.volumes.touched;
        self.networks.touched = false;
        self.pools.touched = false;
        self.volumes.touched = false;
        touched
    }

    fn emit(&self, domain: DomainRef, kind: i32, detail: i32) {
        // No subscriber is not an error.
        let _ = self.events.send(DomainEvent {
            domain,
            event: kind,
            detail,
            metadata: None,
            device_removed: None,
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
        if self.domains.uuid_of(dom.name()).is_some() {
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
}
