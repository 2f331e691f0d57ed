//! The `test` driver (`test:///default`): libvirt's test world, kept on disk so it survives restarts.
//!
//! One mutex guards the whole world; a change writes its file while holding it (on a blocking thread), so two
//! racing defines of one name or UUID are ordered and exactly one wins. Reads take the mutex briefly and never
//! touch the disk.

mod defaults;
mod store;
mod world;

use crate::driver::network_event;
use crate::driver::{
    pool_event, BlockInfo, BlockStats, Connection, ControlInfo, DiskError, DomainEvent, DomainInfo,
    DomainRef, DomainState, DomainStatsRecord, DomainSummary, FsInfo, Generation, GuestInterface,
    HypervisorDriver, InterfaceDriver, InterfaceRef, InterfaceStats, IothreadInfo, KeepDomain,
    MemoryStat, NetworkDriver, NetworkEvent, NetworkRef, NodeCpuMap, NodeCpuStat, NodeDeviceDriver,
    NodeInfo, PoolEvent, PoolEventKind, PoolInfo, PoolRef, SnapshotRef, StorageDriver, TypedParam,
    VcpuInfo, VolumeInfo, VolumeRef,
};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{DomainDef, NetworkDef, PoolDef, VolumeDef};
use crate::persist::{self, DirLock, LockError};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use store::Store;
use tokio::sync::broadcast;
use uuid::Uuid;
use world::{Persist, World};

/// How many lifecycle events a slow subscriber may fall behind before it starts losing the oldest.
const EVENT_BACKLOG: usize = 1024;

struct Shared {
    world: RwLock<World>,
    store: Store,
    events: broadcast::Sender<DomainEvent>,
    /// Network lifecycle events, as libvirt's test driver queues them.
    network_events: broadcast::Sender<NetworkEvent>,
    pool_events: broadcast::Sender<PoolEvent>,
    hostname: String,
    load_warnings: Vec<String>,
    /// Bumped after every change of the world (see [`Driver::generation`]).
    generation: AtomicU64,
    /// Bumped after every change that may have touched networks, pools or volumes (see
    /// [`Generation::host_generation`]).
    host_generation: AtomicU64,
    /// Held for the driver's lifetime: one process owns a state dir.
    _lock: DirLock,
}

/// The embedded, persistent test driver. One process owns a state dir at a time.
pub struct TestDriver {
    shared: Arc<Shared>,
}

fn lock_error(err: LockError) -> Error {
    match &err {
        LockError::Busy { .. } => Error::with_detail(
            ErrorCode::OPERATION_FAILED,
            ErrorDomain::TEST,
            err.to_string(),
        ),
        LockError::Io { source, .. } => Error::system(ErrorDomain::TEST, err.to_string(), source),
    }
}

impl TestDriver {
    /// Opens (locking) or initialises the driver's state dir and starts autostart domains, networks and pools.
    ///
    /// An empty dir gets libvirt's test world; otherwise every record is loaded, a corrupt one skipped with a
    /// warning (see [`TestDriver::load_warnings`]), and temp files of interrupted writes removed.
    pub async fn open(state_dir: &Path) -> Result<Arc<Self>> {
        Self::open_driver(state_dir).await
    }

    /// Opens the driver (as [`TestDriver::open`]) and serves every part of a connection from its one world.
    pub async fn open_connection(state_dir: &Path) -> Result<Connection> {
        Ok(Self::open_driver(state_dir).await?.connection())
    }

    /// A connection whose every part is this driver's world.
    pub fn connection(self: Arc<Self>) -> Connection {
        Connection::builder()
            .hypervisor(self.clone())
            .network(self.clone())
            .storage(self.clone())
            .interface(self.clone())
            .node_device(self.clone())
            .generation(self)
            .definitions_in_memory()
            .build()
    }

    async fn open_driver(state_dir: &Path) -> Result<Arc<Self>> {
        let dir = state_dir.to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&dir))
            .await
            .map_err(|e| Error::internal(ErrorDomain::TEST, format!("state loader stopped: {e}")))?
    }

    fn open_blocking(dir: &Path) -> Result<Arc<Self>> {
        persist::create_private_dir(dir).map_err(|e| {
            Error::system(
                ErrorDomain::TEST,
                format!("cannot create {}", dir.display()),
                &e,
            )
        })?;
        let lock = DirLock::acquire(dir).map_err(lock_error)?;
        let store = Store::new(dir);
        store.prepare()?;
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let mut world = World::new(events.clone());
        let mut load_warnings = if store.is_empty() {
            Self::create_default_world(&store, &mut world)?;
            Vec::new()
        } else {
            store.load(&mut world)
        };
        let (interfaces, warning) = world::HostInterfaces::load(store.root());
        world.interfaces = interfaces;
        load_warnings.extend(warning);
        world.autostart_all(&store);
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        tracing::info!(
            dir = %store.root().display(),
            domains = world.domains.len(),
            networks = world.networks.len(),
            pools = world.pools.len(),
            volumes = world.volumes.len(),
            interfaces = world.interfaces.len(),
            skipped = load_warnings.len(),
            "test driver state loaded"
        );
        Ok(Arc::new(Self {
            shared: Arc::new(Shared {
                world: RwLock::new(world),
                store,
                events,
                network_events: broadcast::channel(EVENT_BACKLOG).0,
                pool_events: broadcast::channel(EVENT_BACKLOG).0,
                hostname,
                load_warnings,
                generation: AtomicU64::new(0),
                host_generation: AtomicU64::new(0),
                _lock: lock,
            }),
        }))
    }

    /// Queues a network lifecycle event for the subscribers (none listening is fine).
    fn network_event(&self, net: &NetworkRef, event: i32) {
        let _ = self.shared.network_events.send(NetworkEvent {
            network: net.clone(),
            event,
            detail: 0,
        });
    }

    /// Writes libvirt's initial test world; the meta file goes last, so an interrupted first start starts over.
    fn create_default_world(store: &Store, world: &mut World) -> Result<()> {
        let domain = defaults::test_domain();
        let network = defaults::default_network();
        let pool = defaults::default_pool();
        store.save_domain(&domain)?;
        store.save_network(&network)?;
        store.save_pool(&pool)?;
        world.next_domain_id = domain.id + 1;
        store.save_meta(world.next_domain_id)?;
        world.domains.insert(domain.uuid(), domain);
        world.networks.insert(network.def.uuid, network);
        world.pools.insert(pool.def.uuid, pool);
        Ok(())
    }

    /// The state files skipped at open (unreadable or corrupt), one line each; empty when all loaded.
    pub fn load_warnings(&self) -> &[String] {
        &self.shared.load_warnings
    }

    /// The state dir this driver owns.
    pub fn state_dir(&self) -> PathBuf {
        self.shared.store.root().to_path_buf()
    }

    fn world(&self) -> RwLockReadGuard<'_, World> {
        // A panic while holding the lock cannot leave a half-applied change: changes are committed in one insert.
        // Reads share the lock (many clients list and look up at once); changes take it alone.
        self.shared
            .world
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a read against the world.
    /// A storage pool lifecycle event, as libvirt's test driver queues one after each pool change.
    fn pool_lifecycle(&self, pool: &PoolRef, event: i32) {
        // No subscriber is fine.
        let _ = self.shared.pool_events.send(PoolEvent {
            pool: pool.clone(),
            kind: PoolEventKind::Lifecycle { event, detail: 0 },
        });
    }

    fn read<T>(&self, op: impl FnOnce(&World) -> Result<T>) -> Result<T> {
        op(&self.world())
    }

    /// Runs a change on a blocking thread (it writes files), holding the world's lock alone throughout.
    async fn change<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut World, &Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let mut world = shared
                .world
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let result = op(&mut world, &shared.store);
            // Bumped before the lock is released (failed changes too: cheap and always safe), so a reader that
            // sees the old number cannot have seen the new world and then have its answer reused.
            shared.bump(&mut world);
            result
        })
        .await
        .map_err(|e| Error::internal(ErrorDomain::TEST, format!("state change stopped: {e}")))?
    }
}

fn parse_domain(xml: &str, validate: bool) -> Result<DomainDef> {
    DomainDef::from_xml(xml, validate)
}

impl TestDriver {
    fn offline(&self) -> crate::driver::migration::Offline<'_> {
        crate::driver::migration::Offline {
            driver: self,
            domain: ErrorDomain::TEST,
        }
    }
}

impl Shared {
    /// After a change, with the world still locked: the generations a reader may have seen move on.
    fn bump(&self, world: &mut World) {
        if world.take_host_touched() {
            self.host_generation.fetch_add(1, Ordering::AcqRel);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl Generation for TestDriver {
    fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    fn host_generation(&self) -> u64 {
        self.shared.host_generation.load(Ordering::Acquire)
    }

    fn domain_version(&self, name: &str) -> Option<u64> {
        self.world().domains.version_of(name)
    }
}

#[async_trait]
impl HypervisorDriver for TestDriver {
    // ---- connection and node ----
    async fn get_type(&self) -> Result<String> {
        Ok(defaults::DRIVER_TYPE.into())
    }
    async fn get_version(&self) -> Result<u64> {
        Ok(defaults::HV_VERSION)
    }
    async fn get_lib_version(&self) -> Result<u64> {
        Ok(defaults::LIB_VERSION)
    }
    async fn get_hostname(&self) -> Result<String> {
        Ok(self.shared.hostname.clone())
    }
    // ---- migration: offline only (crate::driver::migration::Offline) ----
    async fn supports_feature(&self, feature: i32) -> Result<bool> {
        use crate::driver::migration::feature as f;
        Ok(matches!(
            feature,
            f::MIGRATION_V3 | f::MIGRATION_P2P | f::MIGRATION_PARAMS | f::MIGRATION_OFFLINE
        ))
    }
    async fn domain_migrate_begin3_params(
        &self,
        dom: &DomainRef,
        params: Vec<TypedParam>,
        flags: u32,
    ) -> Result<(Vec<u8>, String)> {
        self.offline().begin(dom, params, flags).await
    }
    async fn domain_migrate_prepare3_params(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        flags: u32,
    ) -> Result<(Vec<u8>, Option<String>)> {
        self.offline().prepare(params, cookie_in, flags).await
    }
    async fn domain_migrate_perform3_params(
        &self,
        dom: &DomainRef,
        dconnuri: Option<String>,
        params: Vec<TypedParam>,
        _cookie_in: Vec<u8>,
        flags: u32,
    ) -> Result<Vec<u8>> {
        self.offline().perform(dom, dconnuri, params, flags).await
    }
    async fn domain_migrate_finish3_params(
        &self,
        params: Vec<TypedParam>,
        _cookie_in: Vec<u8>,
        flags: u32,
        cancelled: bool,
    ) -> Result<(DomainRef, Vec<u8>)> {
        self.offline().finish(params, flags, cancelled).await
    }
    async fn domain_migrate_confirm3_params(
        &self,
        dom: &DomainRef,
        params: Vec<TypedParam>,
        _cookie_in: Vec<u8>,
        flags: u32,
        cancelled: bool,
    ) -> Result<()> {
        self.offline().confirm(dom, params, flags, cancelled).await
    }
    async fn get_uri(&self) -> Result<String> {
        Ok(defaults::URI.into())
    }
    async fn node_get_info(&self) -> Result<NodeInfo> {
        Ok(defaults::node_info())
    }
    async fn node_get_cpu_map(&self, flags: u32) -> Result<NodeCpuMap> {
        if flags != 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                format!("unsupported flags (0x{flags:x}) in function virNodeGetCPUMap"),
            ));
        }
        let (cpus, map) = defaults::CPU_MAP;
        Ok(NodeCpuMap {
            cpus,
            map: vec![map],
            online: map.count_ones(),
        })
    }
    async fn node_get_free_memory(&self) -> Result<u64> {
        Ok(defaults::NUMA_CELLS.iter().map(|(_, free)| free).sum())
    }
    async fn node_get_cells_free_memory(
        &self,
        start_cell: i32,
        max_cells: i32,
    ) -> Result<Vec<u64>> {
        let cells = defaults::NUMA_CELLS.len();
        let start = usize::try_from(start_cell).ok().filter(|&s| s < cells);
        let (Some(start), Ok(max)) = (start, usize::try_from(max_cells)) else {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                "Range exceeds available cells",
            ));
        };
        // libvirt's test driver answers each cell's size here, not its free part (virsh shows the same).
        Ok(defaults::NUMA_CELLS[start..]
            .iter()
            .take(max)
            .map(|(size, _)| *size)
            .collect())
    }
    async fn get_max_vcpus(&self, _kind: Option<&str>) -> Result<i32> {
        Ok(defaults::MAX_VCPUS)
    }
    async fn get_capabilities(&self) -> Result<String> {
        Ok(defaults::capabilities())
    }
    async fn node_get_security_model(&self) -> Result<(String, String)> {
        Ok((
            defaults::SECURITY_MODEL.into(),
            defaults::SECURITY_DOI.into(),
        ))
    }
    // ---- domains ----
    async fn list_all_domains(&self, flags: u32) -> Result<Vec<DomainRef>> {
        self.read(|w| w.list_domains(flags))
    }
    async fn domain_lookup_by_name(&self, name: &str) -> Result<DomainRef> {
        self.read(|w| w.lookup_domain_by_name(name))
    }
    async fn domain_lookup_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        self.read(|w| w.lookup_domain_by_uuid(uuid))
    }
    async fn domain_lookup_by_id(&self, id: i32) -> Result<DomainRef> {
        self.read(|w| w.lookup_domain_by_id(id))
    }
    async fn domain_define_xml(&self, xml: &str, flags: u32) -> Result<DomainRef> {
        if flags & !crate::driver::flags::DEFINE_VALIDATE != 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                format!("unsupported flags (0x{flags:x}) in function virDomainDefineXMLFlags"),
            ));
        }
        let def = parse_domain(xml, flags & crate::driver::flags::DEFINE_VALIDATE != 0)?;
        self.change(move |w, s| w.define_domain(s, def)).await
    }
    async fn domain_undefine(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.undefine_domain(s, &dom, flags))
            .await
    }
    async fn domain_create(&self, dom: &DomainRef, flags: u32) -> Result<DomainRef> {
        let dom = dom.clone();
        self.change(move |w, s| w.create_domain(s, &dom, flags))
            .await
    }
    async fn domain_create_xml(&self, xml: &str, flags: u32) -> Result<DomainRef> {
        let def = parse_domain(xml, flags & crate::driver::flags::START_VALIDATE != 0)?;
        self.change(move |w, s| w.create_domain_xml(s, def, flags))
            .await
    }
    async fn domain_destroy(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.destroy_domain(s, &dom, flags))
            .await
    }
    async fn domain_shutdown(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.shutdown_domain(s, &dom, flags))
            .await
    }
    async fn domain_reboot(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.reboot_domain(s, &dom, flags))
            .await
    }
    async fn domain_suspend(&self, dom: &DomainRef) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.suspend_domain(s, &dom)).await
    }
    async fn domain_resume(&self, dom: &DomainRef) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.resume_domain(s, &dom)).await
    }
    async fn domain_inject_nmi(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        self.read(|w| w.poke_running(dom, flags, "testDomainInjectNMI"))
    }
    async fn domain_reset(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        self.read(|w| w.poke_running(dom, flags, "testDomainReset"))
    }
    async fn domain_send_key(
        &self,
        dom: &DomainRef,
        codeset: u32,
        _holdtime: u32,
        keycodes: Vec<u32>,
        flags: u32,
    ) -> Result<()> {
        self.read(|w| w.send_key(dom, codeset, &keycodes, flags))
    }
    async fn domain_get_cpu_stats(
        &self,
        dom: &DomainRef,
        nparams: u32,
        start_cpu: i32,
        ncpus: u32,
        flags: u32,
    ) -> Result<(Vec<TypedParam>, i32)> {
        // libvirt's test driver counts the host's cores (of its one node info) as its CPUs here.
        let cores = defaults::node_info().cores;
        self.read(|w| w.domain_cpu_stats(dom, (nparams, start_cpu, ncpus), flags, cores))
    }
    async fn domain_get_info(&self, dom: &DomainRef) -> Result<DomainInfo> {
        self.read(|w| w.domain_info(dom))
    }
    async fn domain_get_state(&self, dom: &DomainRef, flags: u32) -> Result<(DomainState, i32)> {
        self.read(|w| w.domain_state(dom, flags))
    }
    async fn domain_get_xml_desc(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        self.read(|w| w.domain_xml(dom, flags))
    }
    async fn domain_get_os_type(&self, dom: &DomainRef) -> Result<String> {
        self.read(|w| w.domain_exists(dom))?;
        Ok(defaults::OS_TYPE.into())
    }
    async fn domain_get_autostart(&self, dom: &DomainRef) -> Result<bool> {
        self.read(|w| w.domain_autostart(dom))
    }
    async fn domain_set_autostart(&self, dom: &DomainRef, autostart: bool) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.set_domain_autostart(s, &dom, autostart))
            .await
    }
    async fn domain_is_active(&self, dom: &DomainRef) -> Result<bool> {
        self.read(|w| w.domain_is_active(dom))
    }
    async fn domain_is_persistent(&self, dom: &DomainRef) -> Result<bool> {
        self.read(|w| w.domain_is_persistent(dom))
    }
    async fn domain_is_updated(&self, dom: &DomainRef) -> Result<bool> {
        self.read(|w| w.domain_is_updated(dom))
    }
    async fn domain_has_managed_save_image(&self, dom: &DomainRef, flags: u32) -> Result<bool> {
        self.read(|w| w.has_managed_save(dom, flags))
    }
    async fn domain_managed_save(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.managed_save(s, &dom, flags))
            .await
    }
    async fn domain_save(
        &self,
        dom: &DomainRef,
        to: &str,
        dxml: Option<&str>,
        flags: u32,
    ) -> Result<()> {
        let (dom, to, dxml) = (dom.clone(), to.to_string(), dxml.map(str::to_string));
        self.change(move |w, s| w.save_domain_image(s, &dom, &to, dxml.as_deref(), flags))
            .await
    }
    async fn domain_restore(&self, from: &str, dxml: Option<&str>, flags: u32) -> Result<()> {
        let (from, dxml) = (from.to_string(), dxml.map(str::to_string));
        self.change(move |w, s| w.restore_domain_image(s, &from, dxml.as_deref(), flags))
            .await
            .map(drop)
    }
    async fn domain_save_image_get_xml_desc(&self, file: &str, flags: u32) -> Result<String> {
        let file = file.to_string();
        tokio::task::spawn_blocking(move || world::save_image_xml(&file, flags))
            .await
            .map_err(|e| Error::internal(ErrorDomain::TEST, e.to_string()))?
    }
    async fn domain_save_image_define_xml(&self, file: &str, dxml: &str, flags: u32) -> Result<()> {
        let (file, dxml) = (file.to_string(), dxml.to_string());
        tokio::task::spawn_blocking(move || world::save_image_define(&file, &dxml, flags))
            .await
            .map_err(|e| Error::internal(ErrorDomain::TEST, e.to_string()))?
    }
    async fn domain_managed_save_remove(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.managed_save_remove(s, &dom, flags))
            .await
    }
    async fn domain_get_security_label(&self, dom: &DomainRef) -> Result<(String, bool)> {
        self.read(|w| w.domain_exists(dom))?;
        Ok((defaults::SECURITY_LABEL.into(), true))
    }
    async fn domain_set_memory(&self, dom: &DomainRef, kib: u64, flags: u32) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.set_domain_memory(s, &dom, kib, flags))
            .await
    }
    async fn domain_get_max_memory(&self, dom: &DomainRef) -> Result<u64> {
        self.read(|w| w.domain_max_memory(dom))
    }
    async fn domain_set_vcpus(&self, dom: &DomainRef, count: u32, flags: u32) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.set_domain_vcpus(s, &dom, count, flags))
            .await
    }
    async fn domain_get_vcpus(&self, dom: &DomainRef, flags: u32) -> Result<u32> {
        self.read(|w| w.domain_vcpus(dom, flags))
    }
    async fn domain_get_max_vcpus(&self, dom: &DomainRef) -> Result<i32> {
        self.read(|w| w.domain_max_vcpus(dom))
    }
    async fn domain_get_vcpu_info(
        &self,
        dom: &DomainRef,
        max_info: u32,
        map_len: u32,
    ) -> Result<(Vec<VcpuInfo>, Vec<u8>)> {
        let node = defaults::node_info();
        let host_cpus = node.nodes * node.sockets * node.cores * node.threads;
        self.read(|w| w.domain_vcpu_info(dom, max_info, map_len, host_cpus))
    }
    async fn domain_get_vcpu_pin_info(
        &self,
        dom: &DomainRef,
        max_maps: u32,
        map_len: u32,
        flags: u32,
    ) -> Result<(u32, Vec<u8>)> {
        let node = defaults::node_info();
        let host_cpus = node.nodes * node.sockets * node.cores * node.threads;
        self.read(|w| w.domain_vcpu_pin_info(dom, max_maps, map_len, flags, host_cpus))
    }
    async fn domain_get_scheduler_type(&self, dom: &DomainRef) -> Result<(String, i32)> {
        self.read(|w| w.domain_exists(dom))?;
        Ok((defaults::SCHEDULER.into(), 1))
    }
    async fn domain_get_scheduler_parameters(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        // Like libvirt's test driver, which has one set of parameters and takes no AFFECT_* flag.
        let kind = crate::driver::TunableKind::Scheduler;
        self.read(|w| w.domain_tunables(dom, kind, 1, flags))
    }
    // ---- tunables ----
    async fn domain_get_tunables(
        &self,
        dom: &DomainRef,
        kind: crate::driver::TunableKind,
        nparams: u32,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        self.read(|w| w.domain_tunables(dom, kind, nparams, flags))
    }
    async fn domain_set_tunables(
        &self,
        dom: &DomainRef,
        kind: crate::driver::TunableKind,
        params: Vec<TypedParam>,
        flags: u32,
    ) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.set_domain_tunables(s, &dom, kind, &params, flags))
            .await
    }
    async fn domain_pin_vcpu(
        &self,
        dom: &DomainRef,
        vcpu: u32,
        cpumap: Vec<u8>,
        flags: u32,
    ) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.pin_domain_vcpu(s, &dom, vcpu, &cpumap, flags))
            .await
    }
    async fn domain_get_emulator_pin_info(
        &self,
        dom: &DomainRef,
        map_len: u32,
        flags: u32,
    ) -> Result<Vec<u8>> {
        let node = defaults::node_info();
        let host_cpus = node.nodes * node.sockets * node.cores * node.threads;
        self.read(|w| w.domain_emulator_pin_info(dom, map_len, flags, host_cpus))
    }
    async fn domain_pin_emulator(
        &self,
        dom: &DomainRef,
        cpumap: Vec<u8>,
        flags: u32,
    ) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.pin_domain_emulator(s, &dom, &cpumap, flags))
            .await
    }
    async fn domain_get_block_io_tune(
        &self,
        dom: &DomainRef,
        disk: Option<String>,
        nparams: u32,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        self.read(|w| w.domain_block_io_tune(dom, disk.as_deref(), nparams, flags))
    }
    async fn domain_set_block_io_tune(
        &self,
        dom: &DomainRef,
        disk: String,
        params: Vec<TypedParam>,
        flags: u32,
    ) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.set_domain_block_io_tune(s, &dom, &disk, &params, flags))
            .await
    }
    async fn domain_get_time(&self, dom: &DomainRef, flags: u32) -> Result<(i64, u32)> {
        self.read(|w| w.domain_time(dom, flags))
    }
    async fn domain_set_time(
        &self,
        dom: &DomainRef,
        seconds: i64,
        nseconds: u32,
        flags: u32,
    ) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, _| w.set_domain_time(&dom, seconds, nseconds, flags))
            .await
    }
    // ---- statistics (world/io_stats.rs) ----
    async fn connect_get_all_domain_stats(
        &self,
        doms: &[DomainRef],
        stats: u32,
        flags: u32,
    ) -> Result<Vec<DomainStatsRecord>> {
        self.read(|w| w.all_domain_stats(doms, stats, flags))
    }
    async fn domain_block_stats(&self, dom: &DomainRef, disk: &str) -> Result<BlockStats> {
        self.read(|w| w.domain_block_stats(dom, disk))
    }
    async fn domain_interface_stats(
        &self,
        dom: &DomainRef,
        device: &str,
    ) -> Result<InterfaceStats> {
        self.read(|w| w.domain_interface_stats(dom, device))
    }
    async fn domain_get_block_info(
        &self,
        dom: &DomainRef,
        disk: &str,
        flags: u32,
    ) -> Result<BlockInfo> {
        self.read(|w| w.domain_block_info(dom, disk, flags))
    }
    async fn node_get_cpu_stats(&self, cpu_num: i32, flags: u32) -> Result<Vec<NodeCpuStat>> {
        world::node_cpu_stats(cpu_num, flags)
    }
    async fn domain_interface_addresses(
        &self,
        dom: &DomainRef,
        source: u32,
        flags: u32,
    ) -> Result<Vec<GuestInterface>> {
        self.read(|w| w.domain_interface_addresses(dom, source, flags))
    }
    async fn domain_get_fsinfo(&self, dom: &DomainRef, flags: u32) -> Result<Vec<FsInfo>> {
        self.read(|w| w.domain_fsinfo(dom, flags))
    }
    async fn domain_get_hostname(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        self.read(|w| w.domain_hostname(dom, flags))
    }
    async fn domain_get_iothread_info(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<IothreadInfo>> {
        self.read(|w| w.domain_iothreads(dom, flags))
    }
    // ---- domain snapshots ----
    async fn domain_snapshot_create_xml(
        &self,
        dom: &DomainRef,
        xml: &str,
        flags: u32,
    ) -> Result<SnapshotRef> {
        let (dom, xml) = (dom.clone(), xml.to_string());
        self.change(move |w, s| w.snapshot_create(s, &dom, &xml, flags))
            .await
    }
    async fn domain_snapshot_get_xml_desc(&self, snap: &SnapshotRef, flags: u32) -> Result<String> {
        self.read(|w| w.snapshot_xml(snap, flags))
    }
    async fn domain_list_all_snapshots(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<SnapshotRef>> {
        self.read(|w| w.snapshot_list(dom, None, flags))
    }
    async fn domain_snapshot_list_all_children(
        &self,
        snap: &SnapshotRef,
        flags: u32,
    ) -> Result<Vec<SnapshotRef>> {
        self.read(|w| w.snapshot_list(&snap.dom, Some(&snap.name), flags))
    }
    async fn domain_snapshot_lookup_by_name(
        &self,
        dom: &DomainRef,
        name: &str,
        flags: u32,
    ) -> Result<SnapshotRef> {
        self.read(|w| w.snapshot_lookup(dom, name, flags))
    }
    async fn domain_has_current_snapshot(&self, dom: &DomainRef, flags: u32) -> Result<bool> {
        self.read(|w| w.snapshot_current(dom, flags, "testDomainHasCurrentSnapshot"))
            .map(|current| current.is_some())
    }
    async fn domain_snapshot_current(&self, dom: &DomainRef, flags: u32) -> Result<SnapshotRef> {
        self.read(|w| w.snapshot_current(dom, flags, "testDomainSnapshotCurrent"))?
            .ok_or_else(|| {
                Error::new(
                    ErrorCode(72),
                    ErrorDomain::TEST,
                    "Domain snapshot not found: the domain does not have a current snapshot",
                )
            })
    }
    async fn domain_snapshot_get_parent(
        &self,
        snap: &SnapshotRef,
        flags: u32,
    ) -> Result<SnapshotRef> {
        self.read(|w| w.snapshot_parent(snap, flags))
    }
    async fn domain_snapshot_is_current(&self, snap: &SnapshotRef, flags: u32) -> Result<bool> {
        self.read(|w| w.snapshot_is_current(snap, flags))
    }
    async fn domain_snapshot_has_metadata(&self, snap: &SnapshotRef, flags: u32) -> Result<bool> {
        self.read(|w| w.snapshot_has_metadata(snap, flags))
    }
    async fn domain_revert_to_snapshot(&self, snap: &SnapshotRef, flags: u32) -> Result<()> {
        let snap = snap.clone();
        self.change(move |w, s| w.snapshot_revert(s, &snap, flags))
            .await
    }
    async fn domain_snapshot_delete(&self, snap: &SnapshotRef, flags: u32) -> Result<()> {
        let snap = snap.clone();
        self.change(move |w, s| w.snapshot_delete(s, &snap, flags))
            .await
    }
    async fn domain_rename(&self, dom: &DomainRef, new_name: &str, flags: u32) -> Result<()> {
        let (dom, new_name) = (dom.clone(), new_name.to_string());
        self.change(move |w, s| w.rename_domain(s, &dom, &new_name, flags))
            .await
            .map(|_| ())
    }
    async fn domain_memory_stats(
        &self,
        dom: &DomainRef,
        max_stats: u32,
        flags: u32,
    ) -> Result<Vec<MemoryStat>> {
        if flags != 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                format!("unsupported flags (0x{flags:x}) in function testDomainMemoryStats"),
            ));
        }
        self.read(|w| w.domain_memory_stats(dom, max_stats))
    }
    async fn domain_summaries(&self, keep: &KeepDomain) -> Result<Vec<DomainSummary>> {
        // Name order, as list_all_domains; definitions are shared, not copied.
        Ok(self
            .world()
            .domains
            .with_shared(|shared| keep(&shared.def))
            .map(|(obj, shared)| obj.summary(shared))
            .collect())
    }
    async fn domain_summary(&self, name: &str) -> Result<DomainSummary> {
        self.read(|w| {
            let dom = w.lookup_domain_by_name(name)?;
            let (obj, shared) = w.domain_shared(&dom)?;
            Ok(obj.summary(shared))
        })
    }
    async fn domain_get_metadata(
        &self,
        dom: &DomainRef,
        kind: i32,
        uri: Option<&str>,
        meta_flags: u32,
    ) -> Result<String> {
        self.read(|w| w.domain_metadata(dom, kind, uri, meta_flags))
    }
    async fn domain_set_metadata(
        &self,
        dom: &DomainRef,
        kind: i32,
        metadata: Option<&str>,
        key: Option<&str>,
        uri: Option<&str>,
        meta_flags: u32,
    ) -> Result<()> {
        let dom = dom.clone();
        let (metadata, key, uri) = (
            metadata.map(str::to_string),
            key.map(str::to_string),
            uri.map(str::to_string),
        );
        self.change(move |w, s| {
            w.set_domain_metadata(
                s,
                &dom,
                kind,
                metadata.as_deref(),
                key.as_deref(),
                uri.as_deref(),
                meta_flags,
            )
        })
        .await
    }
    async fn domain_event_subscribe(&self) -> Result<broadcast::Receiver<DomainEvent>> {
        Ok(self.shared.events.subscribe())
    }
    // ---- host interfaces and host facts ----
    async fn get_sysinfo(&self, flags: u32) -> Result<String> {
        world::host::sysinfo(flags)
    }
    async fn get_cpu_model_names(&self, arch: &str, flags: u32) -> Result<Vec<String>> {
        world::host::cpu_model_names(arch, flags)
    }
    async fn domain_screenshot(
        &self,
        dom: &DomainRef,
        _screen: u32,
        flags: u32,
    ) -> Result<(String, crate::driver::Stream)> {
        self.read(|w| w.screenshot_check(dom, flags))?;
        Ok((
            "image/png".into(),
            crate::driver::serve_bytes(world::screenshot_png()),
        ))
    }
    // ---- guest control (world/guest.rs) ----
    async fn domain_set_memory_stats_period(
        &self,
        dom: &DomainRef,
        period: i32,
        flags: u32,
    ) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.set_memory_stats_period(s, &dom, period, flags))
            .await
    }
    async fn domain_get_control_info(&self, dom: &DomainRef, flags: u32) -> Result<ControlInfo> {
        self.read(|w| w.control_info(dom, flags))
    }
    async fn domain_get_messages(&self, dom: &DomainRef, flags: u32) -> Result<Vec<String>> {
        self.read(|w| w.domain_messages(dom, flags))
    }
    async fn domain_get_disk_errors(
        &self,
        dom: &DomainRef,
        max_errors: u32,
        flags: u32,
    ) -> Result<(Vec<DiskError>, i32)> {
        self.read(|w| w.disk_errors(dom, max_errors, flags))
    }
    async fn domain_fs_freeze(
        &self,
        dom: &DomainRef,
        mountpoints: Vec<String>,
        flags: u32,
    ) -> Result<i32> {
        let dom = dom.clone();
        self.change(move |w, _| w.freeze_fs(&dom, &mountpoints, flags, true))
            .await
    }
    async fn domain_fs_thaw(
        &self,
        dom: &DomainRef,
        mountpoints: Vec<String>,
        flags: u32,
    ) -> Result<i32> {
        let dom = dom.clone();
        self.change(move |w, _| w.freeze_fs(&dom, &mountpoints, flags, false))
            .await
    }
    async fn domain_fs_trim(
        &self,
        dom: &DomainRef,
        mount_point: Option<&str>,
        _minimum: u64,
        flags: u32,
    ) -> Result<()> {
        self.read(|w| w.trim_fs(dom, mount_point, flags))
    }
    async fn domain_set_user_password(
        &self,
        dom: &DomainRef,
        _user: Option<&str>,
        _password: Option<&str>,
        flags: u32,
    ) -> Result<()> {
        self.read(|w| w.set_user_password(dom, flags))
    }
    async fn domain_send_process_signal(
        &self,
        dom: &DomainRef,
        pid: i64,
        signum: u32,
        flags: u32,
    ) -> Result<()> {
        self.read(|w| w.send_process_signal(dom, pid, signum, flags))
    }
    async fn domain_set_lifecycle_action(
        &self,
        dom: &DomainRef,
        kind: u32,
        action: u32,
        flags: u32,
    ) -> Result<()> {
        let dom = dom.clone();
        self.change(move |w, s| w.set_lifecycle_action(s, &dom, kind, action, flags))
            .await
    }
    async fn domain_get_launch_security_info(
        &self,
        _dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        world::launch_security_info(flags)
    }
    async fn domain_core_dump(
        &self,
        dom: &DomainRef,
        to: &str,
        format: u32,
        flags: u32,
    ) -> Result<()> {
        let (dom, to) = (dom.clone(), to.to_string());
        self.change(move |w, s| w.core_dump(s, &dom, &to, format, flags))
            .await
    }
    async fn node_get_free_pages(
        &self,
        pages: Vec<u32>,
        _start_cell: i32,
        cell_count: u32,
        flags: u32,
    ) -> Result<Vec<u64>> {
        world::free_pages(&pages, cell_count, flags)
    }
}

#[async_trait]
impl NetworkDriver for TestDriver {
    // ---- networks ----
    async fn list_all_networks(&self, flags: u32) -> Result<Vec<NetworkRef>> {
        self.read(|w| w.list_networks(flags))
    }
    async fn network_lookup_by_name(&self, name: &str) -> Result<NetworkRef> {
        self.read(|w| w.lookup_network_by_name(name))
    }
    async fn network_lookup_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef> {
        self.read(|w| w.lookup_network_by_uuid(uuid))
    }
    async fn network_define_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef> {
        let def = NetworkDef::from_xml(xml, flags & 1 != 0)?;
        let net = self.change(move |w, s| w.define_network(s, def)).await?;
        self.network_event(&net, network_event::DEFINED);
        Ok(net)
    }
    async fn network_create_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef> {
        let def = NetworkDef::from_xml(xml, flags & 1 != 0)?;
        let net = self
            .change(move |w, s| w.create_network_xml(s, def))
            .await?;
        self.network_event(&net, network_event::STARTED);
        Ok(net)
    }
    async fn network_create(&self, net: &NetworkRef) -> Result<()> {
        let handle = net.clone();
        self.change(move |w, s| w.start_network(s, &handle)).await?;
        self.network_event(net, network_event::STARTED);
        Ok(())
    }
    async fn network_destroy(&self, net: &NetworkRef) -> Result<()> {
        let was_active = self.read(|w| w.network_is_active(net))?;
        let handle = net.clone();
        self.change(move |w, s| w.destroy_network(s, &handle))
            .await?;
        if was_active {
            self.network_event(net, network_event::STOPPED);
        }
        Ok(())
    }
    async fn network_undefine(&self, net: &NetworkRef) -> Result<()> {
        let handle = net.clone();
        self.change(move |w, s| w.undefine_network(s, &handle))
            .await?;
        self.network_event(net, network_event::UNDEFINED);
        Ok(())
    }
    async fn network_event_subscribe(&self) -> Result<broadcast::Receiver<NetworkEvent>> {
        Ok(self.shared.network_events.subscribe())
    }
    async fn network_get_xml_desc(&self, net: &NetworkRef, flags: u32) -> Result<String> {
        self.read(|w| w.network_xml(net, flags))
    }
    async fn network_get_bridge_name(&self, net: &NetworkRef) -> Result<String> {
        self.read(|w| w.network_bridge(net))
    }
    async fn network_get_autostart(&self, net: &NetworkRef) -> Result<bool> {
        self.read(|w| w.network_autostart(net))
    }
    async fn network_set_autostart(&self, net: &NetworkRef, autostart: bool) -> Result<()> {
        let net = net.clone();
        self.change(move |w, s| w.set_network_autostart(s, &net, autostart))
            .await
    }
    async fn network_is_active(&self, net: &NetworkRef) -> Result<bool> {
        self.read(|w| w.network_is_active(net))
    }
    async fn network_is_persistent(&self, net: &NetworkRef) -> Result<bool> {
        self.read(|w| w.network_is_persistent(net))
    }
}

#[async_trait]
impl InterfaceDriver for TestDriver {
    async fn list_all_interfaces(&self, flags: u32) -> Result<Vec<InterfaceRef>> {
        self.read(|w| w.list_interfaces(flags))
    }
    async fn interface_lookup_by_name(&self, name: &str) -> Result<InterfaceRef> {
        self.read(|w| w.lookup_interface_by_name(name))
    }
    async fn interface_lookup_by_mac_string(&self, mac: &str) -> Result<InterfaceRef> {
        self.read(|w| w.lookup_interface_by_mac(mac))
    }
    async fn interface_get_xml_desc(&self, iface: &InterfaceRef, flags: u32) -> Result<String> {
        self.read(|w| w.interface_xml(iface, flags))
    }
    async fn interface_define_xml(&self, xml: &str, flags: u32) -> Result<InterfaceRef> {
        let allowed = crate::driver::flags::INTERFACE_DEFINE_VALIDATE;
        world::check_flags(flags, allowed, "testInterfaceDefineXML")?;
        let def = crate::model::HostInterfaceDef::from_xml(xml, flags & allowed != 0)?;
        self.change(move |w, s| w.define_interface(s, def)).await
    }
    async fn interface_undefine(&self, iface: &InterfaceRef) -> Result<()> {
        let iface = iface.clone();
        self.change(move |w, s| w.undefine_interface(s, &iface))
            .await
    }
    async fn interface_create(&self, iface: &InterfaceRef, flags: u32) -> Result<()> {
        let iface = iface.clone();
        self.change(move |w, s| w.set_interface_active(s, &iface, true, flags))
            .await
    }
    async fn interface_destroy(&self, iface: &InterfaceRef, flags: u32) -> Result<()> {
        let iface = iface.clone();
        self.change(move |w, s| w.set_interface_active(s, &iface, false, flags))
            .await
    }
    async fn interface_is_active(&self, iface: &InterfaceRef) -> Result<bool> {
        self.read(|w| w.interface_is_active(iface))
    }
    async fn interface_change_begin(&self, flags: u32) -> Result<()> {
        self.change(move |w, s| w.interface_change_begin(s, flags))
            .await
    }
    async fn interface_change_commit(&self, flags: u32) -> Result<()> {
        self.change(move |w, s| w.interface_change_commit(s, flags))
            .await
    }
    async fn interface_change_rollback(&self, flags: u32) -> Result<()> {
        self.change(move |w, s| w.interface_change_rollback(s, flags))
            .await
    }
}

#[async_trait]
impl NodeDeviceDriver for TestDriver {
    async fn list_all_node_devices(&self, flags: u32) -> Result<Vec<String>> {
        world::host::node_devices(flags)
    }
    async fn node_num_of_devices(&self, cap: Option<&str>, flags: u32) -> Result<i32> {
        let devices = world::host::node_devices_with_cap(cap, flags, "testNodeNumOfDevices")?;
        Ok(i32::try_from(devices.len()).unwrap_or(i32::MAX))
    }
    async fn node_list_devices(&self, cap: Option<&str>, flags: u32) -> Result<Vec<String>> {
        world::host::node_devices_with_cap(cap, flags, "testNodeListDevices")
    }
    async fn node_device_lookup_by_name(&self, name: &str) -> Result<String> {
        world::host::node_device_lookup(name)
    }
    async fn node_device_get_xml_desc(&self, name: &str, flags: u32) -> Result<String> {
        world::host::node_device_xml(name, flags)
    }
    async fn node_device_get_parent(&self, name: &str) -> Result<Option<String>> {
        world::host::node_device_parent(name)
    }
    async fn node_device_num_of_caps(&self, name: &str) -> Result<i32> {
        let caps = world::host::node_device_caps(name)?;
        Ok(i32::try_from(caps.len()).unwrap_or(i32::MAX))
    }
    async fn node_device_list_caps(&self, name: &str) -> Result<Vec<String>> {
        world::host::node_device_caps(name)
    }
}

#[async_trait]
impl StorageDriver for TestDriver {
    // ---- storage pools ----
    async fn list_all_storage_pools(&self, flags: u32) -> Result<Vec<PoolRef>> {
        self.read(|w| w.list_pools(flags))
    }
    async fn pool_lookup_by_name(&self, name: &str) -> Result<PoolRef> {
        self.read(|w| w.lookup_pool_by_name(name))
    }
    async fn pool_lookup_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        self.read(|w| w.lookup_pool_by_uuid(uuid))
    }
    async fn pool_lookup_by_volume(&self, vol: &VolumeRef) -> Result<PoolRef> {
        self.read(|w| w.lookup_pool_by_volume(vol))
    }
    async fn pool_define_xml(&self, xml: &str, flags: u32) -> Result<PoolRef> {
        let def = PoolDef::from_xml(xml, flags & 1 != 0)?;
        let pool = self.change(move |w, s| w.define_pool(s, def)).await?;
        self.pool_lifecycle(&pool, pool_event::DEFINED);
        Ok(pool)
    }
    async fn pool_create_xml(&self, xml: &str, flags: u32) -> Result<PoolRef> {
        let def = PoolDef::from_xml(xml, false)?;
        let pool = self
            .change(move |w, s| w.create_pool_xml(s, def, flags))
            .await?;
        self.pool_lifecycle(&pool, pool_event::STARTED);
        Ok(pool)
    }
    async fn pool_build(&self, pool: &PoolRef, flags: u32) -> Result<()> {
        self.read(|w| w.build_pool(pool, flags))?;
        self.pool_lifecycle(pool, pool_event::CREATED);
        Ok(())
    }
    async fn pool_create(&self, pool: &PoolRef, flags: u32) -> Result<()> {
        let handle = pool.clone();
        self.change(move |w, s| w.start_pool(s, &handle, flags))
            .await?;
        self.pool_lifecycle(pool, pool_event::STARTED);
        Ok(())
    }
    async fn pool_destroy(&self, pool: &PoolRef) -> Result<()> {
        let handle = pool.clone();
        self.change(move |w, s| w.destroy_pool(s, &handle)).await?;
        self.pool_lifecycle(pool, pool_event::STOPPED);
        Ok(())
    }
    async fn pool_delete(&self, pool: &PoolRef, flags: u32) -> Result<()> {
        self.read(|w| w.delete_pool(pool, flags))?;
        self.pool_lifecycle(pool, pool_event::DELETED);
        Ok(())
    }
    async fn pool_undefine(&self, pool: &PoolRef) -> Result<()> {
        let handle = pool.clone();
        self.change(move |w, s| w.undefine_pool(s, &handle)).await?;
        self.pool_lifecycle(pool, pool_event::UNDEFINED);
        Ok(())
    }
    async fn pool_refresh(&self, pool: &PoolRef, flags: u32) -> Result<()> {
        // Memory only (no file changes), so no blocking thread is needed.
        let result = {
            let mut world = self
                .shared
                .world
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let result = world.refresh_pool(pool, flags);
            self.shared.bump(&mut world);
            result
        };
        if result.is_ok() {
            let _ = self.shared.pool_events.send(PoolEvent {
                pool: pool.clone(),
                kind: PoolEventKind::Refresh,
            });
        }
        result
    }
    async fn storage_pool_event_subscribe(&self) -> Result<broadcast::Receiver<PoolEvent>> {
        Ok(self.shared.pool_events.subscribe())
    }
    async fn pool_get_info(&self, pool: &PoolRef) -> Result<PoolInfo> {
        self.read(|w| w.pool_info(pool))
    }
    async fn pool_get_xml_desc(&self, pool: &PoolRef, flags: u32) -> Result<String> {
        self.read(|w| w.pool_xml(pool, flags))
    }
    async fn pool_get_autostart(&self, pool: &PoolRef) -> Result<bool> {
        self.read(|w| w.pool_autostart(pool))
    }
    async fn pool_set_autostart(&self, pool: &PoolRef, autostart: bool) -> Result<()> {
        let pool = pool.clone();
        self.change(move |w, s| w.set_pool_autostart(s, &pool, autostart))
            .await
    }
    async fn pool_is_active(&self, pool: &PoolRef) -> Result<bool> {
        self.read(|w| w.pool_is_active(pool))
    }
    async fn pool_is_persistent(&self, pool: &PoolRef) -> Result<bool> {
        self.read(|w| w.pool_is_persistent(pool))
    }
    async fn pool_list_all_volumes(&self, pool: &PoolRef, flags: u32) -> Result<Vec<VolumeRef>> {
        self.read(|w| w.list_volumes(pool, flags))
    }
    // ---- storage volumes ----
    async fn vol_lookup_by_name(&self, pool: &PoolRef, name: &str) -> Result<VolumeRef> {
        self.read(|w| w.lookup_volume_by_name(pool, name))
    }
    async fn vol_lookup_by_key(&self, key: &str) -> Result<VolumeRef> {
        self.read(|w| w.lookup_volume_by_key(key))
    }
    async fn vol_lookup_by_path(&self, path: &str) -> Result<VolumeRef> {
        self.read(|w| w.lookup_volume_by_path(path))
    }
    async fn vol_create_xml(&self, pool: &PoolRef, xml: &str, flags: u32) -> Result<VolumeRef> {
        if flags
            & !(crate::driver::flags::VOL_CREATE_PREALLOC_METADATA
                | crate::driver::flags::VOL_CREATE_VALIDATE)
            != 0
        {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                format!("unsupported flags (0x{flags:x}) in function virStorageVolCreateXML"),
            ));
        }
        let def = VolumeDef::from_xml(xml, flags & crate::driver::flags::VOL_CREATE_VALIDATE != 0)?;
        let pool = pool.clone();
        self.change(move |w, s| w.create_volume(s, &pool, def))
            .await
    }
    async fn vol_create_xml_from(
        &self,
        pool: &PoolRef,
        xml: &str,
        source: &VolumeRef,
        flags: u32,
    ) -> Result<VolumeRef> {
        if flags != 0 {
            return Err(Error::new(
                ErrorCode::INVALID_ARG,
                ErrorDomain::TEST,
                format!("unsupported flags (0x{flags:x}) in function testStorageVolCreateXMLFrom"),
            ));
        }
        let def = VolumeDef::from_xml(xml, false)?;
        let (pool, source) = (pool.clone(), source.clone());
        self.change(move |w, s| w.clone_volume(s, &pool, def, &source))
            .await
    }
    async fn vol_delete(&self, vol: &VolumeRef, flags: u32) -> Result<()> {
        let vol = vol.clone();
        self.change(move |w, s| w.delete_volume(s, &vol, flags))
            .await
    }
    async fn vol_resize(&self, vol: &VolumeRef, capacity: u64, flags: u32) -> Result<()> {
        let vol = vol.clone();
        self.change(move |w, s| w.resize_volume(s, &vol, capacity, flags))
            .await
    }
    async fn vol_get_info(&self, vol: &VolumeRef) -> Result<VolumeInfo> {
        self.read(|w| w.volume_info(vol))
    }
    async fn vol_get_path(&self, vol: &VolumeRef) -> Result<String> {
        self.read(|w| w.volume_path(vol))
    }
    async fn vol_get_xml_desc(&self, vol: &VolumeRef, flags: u32) -> Result<String> {
        self.read(|w| w.volume_xml(vol, flags))
    }
}

#[cfg(test)]
mod tests;
