//! The driver API: one object-safe trait that every hypervisor driver implements and every front end calls.
//!
//! It is shaped like libvirt's public API because the wire protocol is: object handles are (name, uuid, id)
//! values, definitions travel as XML text, and errors carry libvirt's code and domain. Every method has a default
//! body answering "not supported" (code 3) with the libvirt API name, so a driver grows one method at a time and
//! stock clients fall back exactly as they do against libvirtd.

pub mod qemu;
pub mod read_only;
pub mod remote;
pub mod test;
mod types;

pub use types::*;

use crate::error::{Error, Result};
use async_trait::async_trait;
use tokio::sync::broadcast;
use uuid::Uuid;

fn unsupported<T>(api: &str) -> Result<T> {
    Err(Error::no_support(api))
}

/// One domain as a front end that enumerates every domain needs it (see [`Driver::domain_summaries`]).
#[derive(Clone, Debug)]
pub struct DomainSummary {
    pub dom: DomainRef,
    pub state: DomainState,
    pub reason: i32,
    /// The definition that describes the domain now: the live one while it runs.
    pub def: crate::model::DomainDef,
}

/// One connection to a hypervisor driver. Implementations are shared (`Arc<dyn Driver>`) and must be safe to call
/// from many tasks at once.
#[async_trait]
pub trait Driver: Send + Sync {
    // ---- connection and node ----

    /// The driver's type name as `virConnectGetType` reports it ("TEST", "QEMU").
    async fn get_type(&self) -> Result<String> {
        unsupported("virConnectGetType")
    }
    /// Hypervisor version, major × 1 000 000 + minor × 1 000 + micro.
    async fn get_version(&self) -> Result<u64> {
        unsupported("virConnectGetVersion")
    }
    /// Library version in the same encoding; the libvirt API level this crate speaks.
    async fn get_lib_version(&self) -> Result<u64> {
        unsupported("virConnectGetLibVersion")
    }
    async fn get_hostname(&self) -> Result<String> {
        unsupported("virConnectGetHostname")
    }
    /// The canonical URI of this connection (`test:///default`).
    async fn get_uri(&self) -> Result<String> {
        unsupported("virConnectGetURI")
    }
    async fn node_get_info(&self) -> Result<NodeInfo> {
        unsupported("virNodeGetInfo")
    }
    async fn get_capabilities(&self) -> Result<String> {
        unsupported("virConnectGetCapabilities")
    }
    /// The security driver's (model, doi); an empty model means there is none.
    /// The host's present and online CPUs (`virNodeGetCPUMap`).
    async fn node_get_cpu_map(&self, flags: u32) -> Result<NodeCpuMap> {
        let _ = flags;
        unsupported("virNodeGetCPUMap")
    }
    /// Free memory of the whole host, in bytes (`virNodeGetFreeMemory`).
    async fn node_get_free_memory(&self) -> Result<u64> {
        unsupported("virNodeGetFreeMemory")
    }
    /// Free memory in bytes of up to `max_cells` NUMA cells starting at `start_cell`.
    async fn node_get_cells_free_memory(
        &self,
        start_cell: i32,
        max_cells: i32,
    ) -> Result<Vec<u64>> {
        let _ = (start_cell, max_cells);
        unsupported("virNodeGetCellsFreeMemory")
    }
    /// The most vCPUs one guest of hypervisor type `kind` (or the driver's default type) may have.
    async fn get_max_vcpus(&self, kind: Option<&str>) -> Result<i32> {
        let _ = kind;
        unsupported("virConnectGetMaxVcpus")
    }
    async fn node_get_security_model(&self) -> Result<(String, String)> {
        unsupported("virNodeGetSecurityModel")
    }
    /// Whether the connection is encrypted (`virConnectIsEncrypted`).
    async fn is_encrypted(&self) -> Result<bool> {
        Ok(false)
    }
    /// Whether the connection is secure against eavesdropping (`virConnectIsSecure`).
    async fn is_secure(&self) -> Result<bool> {
        Ok(true)
    }
    /// Whether the connection is still usable (`virConnectIsAlive`).
    async fn is_alive(&self) -> Result<bool> {
        Ok(true)
    }
    /// Ends this connection. Shared drivers treat this as a no-op; the remote driver closes its transport.
    async fn close(&self) -> Result<()> {
        Ok(())
    }

    // ---- domains ----

    /// `virConnectListAllDomains` with [`flags`]`::LIST_DOMAINS_*` filters, in a stable order.
    async fn list_all_domains(&self, flags: u32) -> Result<Vec<DomainRef>> {
        let _ = flags;
        unsupported("virConnectListAllDomains")
    }
    async fn domain_lookup_by_name(&self, name: &str) -> Result<DomainRef> {
        let _ = name;
        unsupported("virDomainLookupByName")
    }
    async fn domain_lookup_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        let _ = uuid;
        unsupported("virDomainLookupByUUID")
    }
    async fn domain_lookup_by_id(&self, id: i32) -> Result<DomainRef> {
        let _ = id;
        unsupported("virDomainLookupByID")
    }
    /// Defines (or redefines) a persistent domain; `flags` may hold `DEFINE_VALIDATE`.
    async fn domain_define_xml(&self, xml: &str, flags: u32) -> Result<DomainRef> {
        let _ = (xml, flags);
        unsupported("virDomainDefineXMLFlags")
    }
    async fn domain_undefine(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        let _ = (dom, flags);
        unsupported("virDomainUndefineFlags")
    }
    /// Starts a defined domain (`virDomainCreateWithFlags`); returns the handle with its new id.
    async fn domain_create(&self, dom: &DomainRef, flags: u32) -> Result<DomainRef> {
        let _ = (dom, flags);
        unsupported("virDomainCreateWithFlags")
    }
    /// Creates and starts a transient domain (`virDomainCreateXML`).
    async fn domain_create_xml(&self, xml: &str, flags: u32) -> Result<DomainRef> {
        let _ = (xml, flags);
        unsupported("virDomainCreateXML")
    }
    async fn domain_destroy(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        let _ = (dom, flags);
        unsupported("virDomainDestroyFlags")
    }
    async fn domain_shutdown(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        let _ = (dom, flags);
        unsupported("virDomainShutdownFlags")
    }
    async fn domain_reboot(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        let _ = (dom, flags);
        unsupported("virDomainReboot")
    }
    async fn domain_suspend(&self, dom: &DomainRef) -> Result<()> {
        let _ = dom;
        unsupported("virDomainSuspend")
    }
    async fn domain_resume(&self, dom: &DomainRef) -> Result<()> {
        let _ = dom;
        unsupported("virDomainResume")
    }
    async fn domain_get_info(&self, dom: &DomainRef) -> Result<DomainInfo> {
        let _ = dom;
        unsupported("virDomainGetInfo")
    }
    /// (state, reason) where the reason is numbered per state (see [`reason`]).
    async fn domain_get_state(&self, dom: &DomainRef, flags: u32) -> Result<(DomainState, i32)> {
        let _ = (dom, flags);
        unsupported("virDomainGetState")
    }
    /// The domain's XML; `flags` may hold `XML_SECURE`, `XML_INACTIVE`.
    async fn domain_get_xml_desc(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        let _ = (dom, flags);
        unsupported("virDomainGetXMLDesc")
    }
    async fn domain_get_os_type(&self, dom: &DomainRef) -> Result<String> {
        let _ = dom;
        unsupported("virDomainGetOSType")
    }
    async fn domain_get_autostart(&self, dom: &DomainRef) -> Result<bool> {
        let _ = dom;
        unsupported("virDomainGetAutostart")
    }
    async fn domain_set_autostart(&self, dom: &DomainRef, autostart: bool) -> Result<()> {
        let _ = (dom, autostart);
        unsupported("virDomainSetAutostart")
    }
    async fn domain_is_active(&self, dom: &DomainRef) -> Result<bool> {
        let _ = dom;
        unsupported("virDomainIsActive")
    }
    async fn domain_is_persistent(&self, dom: &DomainRef) -> Result<bool> {
        let _ = dom;
        unsupported("virDomainIsPersistent")
    }
    /// Whether the running domain's config differs from its persistent definition.
    async fn domain_is_updated(&self, dom: &DomainRef) -> Result<bool> {
        let _ = dom;
        unsupported("virDomainIsUpdated")
    }
    async fn domain_has_managed_save_image(&self, dom: &DomainRef, flags: u32) -> Result<bool> {
        let _ = (dom, flags);
        unsupported("virDomainHasManagedSaveImage")
    }
    /// (label, enforcing) of a domain's security label.
    async fn domain_get_security_label(&self, dom: &DomainRef) -> Result<(String, bool)> {
        let _ = dom;
        unsupported("virDomainGetSecurityLabel")
    }
    /// Sets current memory (KiB), or the maximum with `MEM_MAXIMUM`; `AFFECT_LIVE` / `AFFECT_CONFIG` choose
    /// which definition changes.
    async fn domain_set_memory(&self, dom: &DomainRef, kib: u64, flags: u32) -> Result<()> {
        let _ = (dom, kib, flags);
        unsupported("virDomainSetMemoryFlags")
    }
    async fn domain_get_max_memory(&self, dom: &DomainRef) -> Result<u64> {
        let _ = dom;
        unsupported("virDomainGetMaxMemory")
    }
    /// Sets the vCPU count, or the maximum with `VCPU_MAXIMUM`.
    async fn domain_set_vcpus(&self, dom: &DomainRef, count: u32, flags: u32) -> Result<()> {
        let _ = (dom, count, flags);
        unsupported("virDomainSetVcpusFlags")
    }
    async fn domain_get_vcpus(&self, dom: &DomainRef, flags: u32) -> Result<u32> {
        let _ = (dom, flags);
        unsupported("virDomainGetVcpusFlags")
    }
    /// The most vCPUs the running domain may be given (`virDomainGetMaxVcpus`).
    async fn domain_get_max_vcpus(&self, dom: &DomainRef) -> Result<i32> {
        let _ = dom;
        unsupported("virDomainGetMaxVcpus")
    }
    /// Up to `max_info` vCPUs of a running domain, with each one's affinity as `map_len` bytes of host-CPU
    /// bitmap (bit n = host CPU n), concatenated in vCPU order.
    async fn domain_get_vcpu_info(
        &self,
        dom: &DomainRef,
        max_info: u32,
        map_len: u32,
    ) -> Result<(Vec<VcpuInfo>, Vec<u8>)> {
        let _ = (dom, max_info, map_len);
        unsupported("virDomainGetVcpus")
    }
    /// The affinity of up to `max_maps` vCPUs of the live or persistent definition (`flags`), as `map_len`
    /// bytes of host-CPU bitmap each; also the number of maps filled.
    async fn domain_get_vcpu_pin_info(
        &self,
        dom: &DomainRef,
        max_maps: u32,
        map_len: u32,
        flags: u32,
    ) -> Result<(u32, Vec<u8>)> {
        let _ = (dom, max_maps, map_len, flags);
        unsupported("virDomainGetVcpuPinInfo")
    }
    /// The domain's scheduler name and how many parameters it has (`virDomainGetSchedulerType`).
    async fn domain_get_scheduler_type(&self, dom: &DomainRef) -> Result<(String, i32)> {
        let _ = dom;
        unsupported("virDomainGetSchedulerType")
    }
    /// The scheduler's parameters of the live or persistent definition (`flags`: `AFFECT_*`).
    async fn domain_get_scheduler_parameters(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        let _ = (dom, flags);
        unsupported("virDomainGetSchedulerParametersFlags")
    }
    // ---- tunables lane ----
    /// Every parameter of one tunables family for the live or persistent definition (`flags`: `AFFECT_*`,
    /// `TYPED_PARAM_STRING_OKAY`); the RPC layer trims the list to the `nparams` the caller has room for.
    /// `nparams` 0 asks only how many there are: then the answer's length counts, not its values.
    async fn domain_get_tunables(
        &self,
        dom: &DomainRef,
        kind: TunableKind,
        nparams: u32,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        let _ = (dom, nparams, flags);
        unsupported(match kind {
            TunableKind::Memory => "virDomainGetMemoryParameters",
            TunableKind::Blkio => "virDomainGetBlkioParameters",
            TunableKind::Numa => "virDomainGetNumaParameters",
            TunableKind::Scheduler => "virDomainGetSchedulerParametersFlags",
            TunableKind::Perf => "virDomainGetPerfEvents",
        })
    }
    /// Changes some parameters of one tunables family (`flags`: `AFFECT_*`).
    async fn domain_set_tunables(
        &self,
        dom: &DomainRef,
        kind: TunableKind,
        params: Vec<TypedParam>,
        flags: u32,
    ) -> Result<()> {
        let _ = (dom, params, flags);
        unsupported(match kind {
            TunableKind::Memory => "virDomainSetMemoryParameters",
            TunableKind::Blkio => "virDomainSetBlkioParameters",
            TunableKind::Numa => "virDomainSetNumaParameters",
            TunableKind::Scheduler => "virDomainSetSchedulerParametersFlags",
            TunableKind::Perf => "virDomainSetPerfEvents",
        })
    }
    /// Pins vCPU `vcpu` to the CPUs set in `cpumap` (`virDomainPinVcpuFlags`).
    async fn domain_pin_vcpu(
        &self,
        dom: &DomainRef,
        vcpu: u32,
        cpumap: Vec<u8>,
        flags: u32,
    ) -> Result<()> {
        let _ = (dom, vcpu, cpumap, flags);
        unsupported("virDomainPinVcpuFlags")
    }
    /// The emulator threads' CPU map, `map_len` bytes (`virDomainGetEmulatorPinInfo`).
    async fn domain_get_emulator_pin_info(
        &self,
        dom: &DomainRef,
        map_len: u32,
        flags: u32,
    ) -> Result<Vec<u8>> {
        let _ = (dom, map_len, flags);
        unsupported("virDomainGetEmulatorPinInfo")
    }
    /// Pins the emulator threads to the CPUs set in `cpumap` (`virDomainPinEmulator`).
    async fn domain_pin_emulator(
        &self,
        dom: &DomainRef,
        cpumap: Vec<u8>,
        flags: u32,
    ) -> Result<()> {
        let _ = (dom, cpumap, flags);
        unsupported("virDomainPinEmulator")
    }
    /// A disk's block I/O throttling (`virDomainGetBlockIoTune`); `nparams` as for `domain_get_tunables`.
    async fn domain_get_block_io_tune(
        &self,
        dom: &DomainRef,
        disk: Option<String>,
        nparams: u32,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        let _ = (dom, disk, nparams, flags);
        unsupported("virDomainGetBlockIoTune")
    }
    /// Changes a disk's block I/O throttling (`virDomainSetBlockIoTune`).
    async fn domain_set_block_io_tune(
        &self,
        dom: &DomainRef,
        disk: String,
        params: Vec<TypedParam>,
        flags: u32,
    ) -> Result<()> {
        let _ = (dom, disk, params, flags);
        unsupported("virDomainSetBlockIoTune")
    }
    /// The guest's clock: seconds since the epoch and nanoseconds (`virDomainGetTime`).
    async fn domain_get_time(&self, dom: &DomainRef, flags: u32) -> Result<(i64, u32)> {
        let _ = (dom, flags);
        unsupported("virDomainGetTime")
    }
    /// Sets the guest's clock (`flags`: `TIME_SYNC`) (`virDomainSetTime`).
    async fn domain_set_time(
        &self,
        dom: &DomainRef,
        seconds: i64,
        nseconds: u32,
        flags: u32,
    ) -> Result<()> {
        let _ = (dom, seconds, nseconds, flags);
        unsupported("virDomainSetTime")
    }
    // ---- domain snapshots (lane: snapshots) ----
    /// Takes a snapshot described by `xml` (or redefines one: `flags` REDEFINE). (`virDomainSnapshotCreateXML`)
    async fn domain_snapshot_create_xml(
        &self,
        dom: &DomainRef,
        xml: &str,
        flags: u32,
    ) -> Result<SnapshotRef> {
        let _ = (dom, xml, flags);
        unsupported("virDomainSnapshotCreateXML")
    }
    /// The snapshot's XML. (`virDomainSnapshotGetXMLDesc`)
    async fn domain_snapshot_get_xml_desc(&self, snap: &SnapshotRef, flags: u32) -> Result<String> {
        let _ = (snap, flags);
        unsupported("virDomainSnapshotGetXMLDesc")
    }
    /// The domain's snapshots passing the `VIR_DOMAIN_SNAPSHOT_LIST_*` filters (ROOTS: roots only). (`virDomainListAllSnapshots`)
    async fn domain_list_all_snapshots(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<SnapshotRef>> {
        let _ = (dom, flags);
        unsupported("virDomainListAllSnapshots")
    }
    /// A snapshot's children (all descendants with DESCENDANTS) passing the filters. (`virDomainSnapshotListAllChildren`)
    async fn domain_snapshot_list_all_children(
        &self,
        snap: &SnapshotRef,
        flags: u32,
    ) -> Result<Vec<SnapshotRef>> {
        let _ = (snap, flags);
        unsupported("virDomainSnapshotListAllChildren")
    }
    /// A snapshot by name. (`virDomainSnapshotLookupByName`)
    async fn domain_snapshot_lookup_by_name(
        &self,
        dom: &DomainRef,
        name: &str,
        flags: u32,
    ) -> Result<SnapshotRef> {
        let _ = (dom, name, flags);
        unsupported("virDomainSnapshotLookupByName")
    }
    /// Whether the domain has a current snapshot. (`virDomainHasCurrentSnapshot`)
    async fn domain_has_current_snapshot(&self, dom: &DomainRef, flags: u32) -> Result<bool> {
        let _ = (dom, flags);
        unsupported("virDomainHasCurrentSnapshot")
    }
    /// The domain's current snapshot. (`virDomainSnapshotCurrent`)
    async fn domain_snapshot_current(&self, dom: &DomainRef, flags: u32) -> Result<SnapshotRef> {
        let _ = (dom, flags);
        unsupported("virDomainSnapshotCurrent")
    }
    /// A snapshot's parent. (`virDomainSnapshotGetParent`)
    async fn domain_snapshot_get_parent(
        &self,
        snap: &SnapshotRef,
        flags: u32,
    ) -> Result<SnapshotRef> {
        let _ = (snap, flags);
        unsupported("virDomainSnapshotGetParent")
    }
    /// Whether this is its domain's current snapshot. (`virDomainSnapshotIsCurrent`)
    async fn domain_snapshot_is_current(&self, snap: &SnapshotRef, flags: u32) -> Result<bool> {
        let _ = (snap, flags);
        unsupported("virDomainSnapshotIsCurrent")
    }
    /// Whether the snapshot has libvirt metadata. (`virDomainSnapshotHasMetadata`)
    async fn domain_snapshot_has_metadata(&self, snap: &SnapshotRef, flags: u32) -> Result<bool> {
        let _ = (snap, flags);
        unsupported("virDomainSnapshotHasMetadata")
    }
    /// Brings the domain back to the snapshot's definition and state. (`virDomainRevertToSnapshot`)
    async fn domain_revert_to_snapshot(&self, snap: &SnapshotRef, flags: u32) -> Result<()> {
        let _ = (snap, flags);
        unsupported("virDomainRevertToSnapshot")
    }
    /// Deletes a snapshot (and its children with `flags` CHILDREN / CHILDREN_ONLY). (`virDomainSnapshotDelete`)
    async fn domain_snapshot_delete(&self, snap: &SnapshotRef, flags: u32) -> Result<()> {
        let _ = (snap, flags);
        unsupported("virDomainSnapshotDelete")
    }
    /// Saves a running domain's state into a managed image and stops it (`virDomainManagedSave`, lane: snapshots).
    async fn domain_managed_save(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        let _ = (dom, flags);
        unsupported("virDomainManagedSave")
    }
    /// Drops a domain's managed save image (`virDomainManagedSaveRemove`).
    async fn domain_managed_save_remove(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        let _ = (dom, flags);
        unsupported("virDomainManagedSaveRemove")
    }
    /// Renames an inactive persistent domain (`virDomainRename`, lane: snapshots).
    async fn domain_rename(&self, dom: &DomainRef, new_name: &str, flags: u32) -> Result<()> {
        let _ = (dom, new_name, flags);
        unsupported("virDomainRename")
    }
    /// Up to `max_stats` balloon/memory statistics of a running domain (`virDomainMemoryStats`).
    async fn domain_memory_stats(
        &self,
        dom: &DomainRef,
        max_stats: u32,
        flags: u32,
    ) -> Result<Vec<MemoryStat>> {
        let _ = (dom, max_stats, flags);
        unsupported("virDomainMemoryStats")
    }
    // ---- stats lane: I/O counters, bulk statistics, guest information ----
    /// Statistics records of `doms` (every domain when empty) for the `stats` groups (`VIR_DOMAIN_STATS_*`,
    /// 0 = all the driver knows); `flags` filter the domains and tighten the groups
    /// (`virConnectGetAllDomainStats`, `virDomainListGetStats`).
    async fn connect_get_all_domain_stats(
        &self,
        doms: &[DomainRef],
        stats: u32,
        flags: u32,
    ) -> Result<Vec<DomainStatsRecord>> {
        let _ = (doms, stats, flags);
        unsupported("virConnectGetAllDomainStats")
    }
    /// I/O counters of the disk named by target (`vda`) or source path (`virDomainBlockStats`).
    async fn domain_block_stats(&self, dom: &DomainRef, disk: &str) -> Result<BlockStats> {
        let _ = (dom, disk);
        unsupported("virDomainBlockStats")
    }
    /// The disk's I/O counters as typed parameters (`virDomainBlockStatsFlags`).
    async fn domain_block_stats_flags(
        &self,
        dom: &DomainRef,
        disk: &str,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        let _ = (dom, disk, flags);
        unsupported("virDomainBlockStatsFlags")
    }
    /// Traffic counters of the guest NIC named by host device or MAC (`virDomainInterfaceStats`).
    async fn domain_interface_stats(
        &self,
        dom: &DomainRef,
        device: &str,
    ) -> Result<InterfaceStats> {
        let _ = (dom, device);
        unsupported("virDomainInterfaceStats")
    }
    /// Sizes of the disk named by target or source path (`virDomainGetBlockInfo`).
    async fn domain_get_block_info(
        &self,
        dom: &DomainRef,
        disk: &str,
        flags: u32,
    ) -> Result<BlockInfo> {
        let _ = (dom, disk, flags);
        unsupported("virDomainGetBlockInfo")
    }
    /// Cumulative CPU times of the host, of all CPUs (`cpu_num` −1) or one (`virNodeGetCPUStats`).
    async fn node_get_cpu_stats(&self, cpu_num: i32, flags: u32) -> Result<Vec<NodeCpuStat>> {
        let _ = (cpu_num, flags);
        unsupported("virNodeGetCPUStats")
    }
    /// The guest's interfaces and their addresses, from the `source` asked for (`virDomainInterfaceAddresses`).
    async fn domain_interface_addresses(
        &self,
        dom: &DomainRef,
        source: u32,
        flags: u32,
    ) -> Result<Vec<GuestInterface>> {
        let _ = (dom, source, flags);
        unsupported("virDomainInterfaceAddresses")
    }
    /// The guest's mounted file systems (`virDomainGetFSInfo`).
    async fn domain_get_fsinfo(&self, dom: &DomainRef, flags: u32) -> Result<Vec<FsInfo>> {
        let _ = (dom, flags);
        unsupported("virDomainGetFSInfo")
    }
    /// The guest's host name (`virDomainGetHostname`).
    async fn domain_get_hostname(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        let _ = (dom, flags);
        unsupported("virDomainGetHostname")
    }
    /// The domain's I/O threads (`virDomainGetIOThreadInfo`; `flags`: `AFFECT_*`).
    async fn domain_get_iothread_info(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<IothreadInfo>> {
        let _ = (dom, flags);
        unsupported("virDomainGetIOThreadInfo")
    }
    /// Every domain with its state and current definition, in [`Driver::list_all_domains`] order (for front
    /// ends that enumerate all domains, such as WBEM). The default asks per domain and parses each XML; a driver
    /// holding its definitions in memory answers at once. A domain that vanishes meanwhile is left out.
    async fn domain_summaries(&self) -> Result<Vec<DomainSummary>> {
        let mut out = Vec::new();
        for dom in self.list_all_domains(0).await? {
            let gone = |e: &Error| e.code == crate::error::ErrorCode::NO_DOMAIN;
            let (state, reason) = match self.domain_get_state(&dom, 0).await {
                Err(e) if gone(&e) => continue,
                other => other?,
            };
            let xml = match self.domain_get_xml_desc(&dom, 0).await {
                Err(e) if gone(&e) => continue,
                other => other?,
            };
            let def = crate::model::DomainDef::from_xml(&xml, false)?;
            out.push(DomainSummary {
                dom,
                state,
                reason,
                def,
            });
        }
        Ok(out)
    }
    /// A number that changes whenever anything this driver reports may have changed (a definition, a state,
    /// an object appearing or going), so a front end may reuse an answer computed at the same number. `None`
    /// (the default) means the driver cannot promise that, and nothing may be reused.
    fn generation(&self) -> Option<u64> {
        None
    }
    /// The runtime this driver's background work lives on (monitor connections, child processes), if it has
    /// one: a front end serving on another thread runs the driver's calls there, so nothing the driver keeps
    /// is tied to a thread that may end first. `None` (the default): callable from any runtime.
    fn home_runtime(&self) -> Option<tokio::runtime::Handle> {
        None
    }
    /// Lifecycle events of every domain of this connection, from now on.
    async fn domain_event_subscribe(&self) -> Result<broadcast::Receiver<DomainEvent>> {
        unsupported("virConnectDomainEventRegisterAny")
    }

    // ---- networks ----

    async fn list_all_networks(&self, flags: u32) -> Result<Vec<NetworkRef>> {
        let _ = flags;
        unsupported("virConnectListAllNetworks")
    }
    async fn network_lookup_by_name(&self, name: &str) -> Result<NetworkRef> {
        let _ = name;
        unsupported("virNetworkLookupByName")
    }
    async fn network_lookup_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef> {
        let _ = uuid;
        unsupported("virNetworkLookupByUUID")
    }
    async fn network_define_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef> {
        let _ = (xml, flags);
        unsupported("virNetworkDefineXML")
    }
    async fn network_create_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef> {
        let _ = (xml, flags);
        unsupported("virNetworkCreateXML")
    }
    async fn network_create(&self, net: &NetworkRef) -> Result<()> {
        let _ = net;
        unsupported("virNetworkCreate")
    }
    async fn network_destroy(&self, net: &NetworkRef) -> Result<()> {
        let _ = net;
        unsupported("virNetworkDestroy")
    }
    async fn network_undefine(&self, net: &NetworkRef) -> Result<()> {
        let _ = net;
        unsupported("virNetworkUndefine")
    }
    async fn network_get_xml_desc(&self, net: &NetworkRef, flags: u32) -> Result<String> {
        let _ = (net, flags);
        unsupported("virNetworkGetXMLDesc")
    }
    async fn network_get_bridge_name(&self, net: &NetworkRef) -> Result<String> {
        let _ = net;
        unsupported("virNetworkGetBridgeName")
    }
    async fn network_get_autostart(&self, net: &NetworkRef) -> Result<bool> {
        let _ = net;
        unsupported("virNetworkGetAutostart")
    }
    async fn network_set_autostart(&self, net: &NetworkRef, autostart: bool) -> Result<()> {
        let _ = (net, autostart);
        unsupported("virNetworkSetAutostart")
    }
    async fn network_is_active(&self, net: &NetworkRef) -> Result<bool> {
        let _ = net;
        unsupported("virNetworkIsActive")
    }
    async fn network_is_persistent(&self, net: &NetworkRef) -> Result<bool> {
        let _ = net;
        unsupported("virNetworkIsPersistent")
    }

    // ---- host interfaces and host facts (ifaces lane) ----

    /// The host's SMBIOS description as XML (`virConnectGetSysinfo`).
    async fn get_sysinfo(&self, flags: u32) -> Result<String> {
        let _ = flags;
        unsupported("virConnectGetSysinfo")
    }
    /// The CPU model names the host knows for an architecture (`virConnectGetCPUModelNames`).
    async fn get_cpu_model_names(&self, arch: &str, flags: u32) -> Result<Vec<String>> {
        let _ = (arch, flags);
        unsupported("virConnectGetCPUModelNames")
    }
    /// `virConnectListAllInterfaces` with [`flags`]`::LIST_INTERFACES_*` filters, in a stable order.
    async fn list_all_interfaces(&self, flags: u32) -> Result<Vec<InterfaceRef>> {
        let _ = flags;
        unsupported("virConnectListAllInterfaces")
    }
    async fn interface_lookup_by_name(&self, name: &str) -> Result<InterfaceRef> {
        let _ = name;
        unsupported("virInterfaceLookupByName")
    }
    async fn interface_lookup_by_mac_string(&self, mac: &str) -> Result<InterfaceRef> {
        let _ = mac;
        unsupported("virInterfaceLookupByMACString")
    }
    async fn interface_get_xml_desc(&self, iface: &InterfaceRef, flags: u32) -> Result<String> {
        let _ = (iface, flags);
        unsupported("virInterfaceGetXMLDesc")
    }
    /// Defines (or redefines) a host interface; `flags` may hold `INTERFACE_DEFINE_VALIDATE`.
    async fn interface_define_xml(&self, xml: &str, flags: u32) -> Result<InterfaceRef> {
        let _ = (xml, flags);
        unsupported("virInterfaceDefineXML")
    }
    async fn interface_undefine(&self, iface: &InterfaceRef) -> Result<()> {
        let _ = iface;
        unsupported("virInterfaceUndefine")
    }
    /// Brings a defined interface up (`virInterfaceCreate`).
    async fn interface_create(&self, iface: &InterfaceRef, flags: u32) -> Result<()> {
        let _ = (iface, flags);
        unsupported("virInterfaceCreate")
    }
    async fn interface_destroy(&self, iface: &InterfaceRef, flags: u32) -> Result<()> {
        let _ = (iface, flags);
        unsupported("virInterfaceDestroy")
    }
    async fn interface_is_active(&self, iface: &InterfaceRef) -> Result<bool> {
        let _ = iface;
        unsupported("virInterfaceIsActive")
    }
    /// Snapshots the host's interface configuration so that a later rollback restores it.
    async fn interface_change_begin(&self, flags: u32) -> Result<()> {
        let _ = flags;
        unsupported("virInterfaceChangeBegin")
    }
    async fn interface_change_commit(&self, flags: u32) -> Result<()> {
        let _ = flags;
        unsupported("virInterfaceChangeCommit")
    }
    async fn interface_change_rollback(&self, flags: u32) -> Result<()> {
        let _ = flags;
        unsupported("virInterfaceChangeRollback")
    }
    /// The names of the host's devices, filtered by `LIST_NODE_DEVICES_CAP_*` (`virConnectListAllNodeDevices`).
    async fn list_all_node_devices(&self, flags: u32) -> Result<Vec<String>> {
        let _ = flags;
        unsupported("virConnectListAllNodeDevices")
    }

    // ---- storage pools ----

    async fn list_all_storage_pools(&self, flags: u32) -> Result<Vec<PoolRef>> {
        let _ = flags;
        unsupported("virConnectListAllStoragePools")
    }
    async fn pool_lookup_by_name(&self, name: &str) -> Result<PoolRef> {
        let _ = name;
        unsupported("virStoragePoolLookupByName")
    }
    async fn pool_lookup_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        let _ = uuid;
        unsupported("virStoragePoolLookupByUUID")
    }
    async fn pool_lookup_by_volume(&self, vol: &VolumeRef) -> Result<PoolRef> {
        let _ = vol;
        unsupported("virStoragePoolLookupByVolume")
    }
    async fn pool_define_xml(&self, xml: &str, flags: u32) -> Result<PoolRef> {
        let _ = (xml, flags);
        unsupported("virStoragePoolDefineXML")
    }
    async fn pool_create_xml(&self, xml: &str, flags: u32) -> Result<PoolRef> {
        let _ = (xml, flags);
        unsupported("virStoragePoolCreateXML")
    }
    async fn pool_build(&self, pool: &PoolRef, flags: u32) -> Result<()> {
        let _ = (pool, flags);
        unsupported("virStoragePoolBuild")
    }
    /// Starts a defined pool (`virStoragePoolCreate`).
    async fn pool_create(&self, pool: &PoolRef, flags: u32) -> Result<()> {
        let _ = (pool, flags);
        unsupported("virStoragePoolCreate")
    }
    async fn pool_destroy(&self, pool: &PoolRef) -> Result<()> {
        let _ = pool;
        unsupported("virStoragePoolDestroy")
    }
    async fn pool_undefine(&self, pool: &PoolRef) -> Result<()> {
        let _ = pool;
        unsupported("virStoragePoolUndefine")
    }
    async fn pool_refresh(&self, pool: &PoolRef, flags: u32) -> Result<()> {
        let _ = (pool, flags);
        unsupported("virStoragePoolRefresh")
    }
    async fn pool_get_info(&self, pool: &PoolRef) -> Result<PoolInfo> {
        let _ = pool;
        unsupported("virStoragePoolGetInfo")
    }
    async fn pool_get_xml_desc(&self, pool: &PoolRef, flags: u32) -> Result<String> {
        let _ = (pool, flags);
        unsupported("virStoragePoolGetXMLDesc")
    }
    async fn pool_get_autostart(&self, pool: &PoolRef) -> Result<bool> {
        let _ = pool;
        unsupported("virStoragePoolGetAutostart")
    }
    async fn pool_set_autostart(&self, pool: &PoolRef, autostart: bool) -> Result<()> {
        let _ = (pool, autostart);
        unsupported("virStoragePoolSetAutostart")
    }
    async fn pool_is_active(&self, pool: &PoolRef) -> Result<bool> {
        let _ = pool;
        unsupported("virStoragePoolIsActive")
    }
    async fn pool_is_persistent(&self, pool: &PoolRef) -> Result<bool> {
        let _ = pool;
        unsupported("virStoragePoolIsPersistent")
    }
    async fn pool_list_all_volumes(&self, pool: &PoolRef, flags: u32) -> Result<Vec<VolumeRef>> {
        let _ = (pool, flags);
        unsupported("virStoragePoolListAllVolumes")
    }

    // ---- storage volumes ----

    async fn vol_lookup_by_name(&self, pool: &PoolRef, name: &str) -> Result<VolumeRef> {
        let _ = (pool, name);
        unsupported("virStorageVolLookupByName")
    }
    async fn vol_lookup_by_key(&self, key: &str) -> Result<VolumeRef> {
        let _ = key;
        unsupported("virStorageVolLookupByKey")
    }
    async fn vol_lookup_by_path(&self, path: &str) -> Result<VolumeRef> {
        let _ = path;
        unsupported("virStorageVolLookupByPath")
    }
    async fn vol_create_xml(&self, pool: &PoolRef, xml: &str, flags: u32) -> Result<VolumeRef> {
        let _ = (pool, xml, flags);
        unsupported("virStorageVolCreateXML")
    }
    async fn vol_delete(&self, vol: &VolumeRef, flags: u32) -> Result<()> {
        let _ = (vol, flags);
        unsupported("virStorageVolDelete")
    }
    async fn vol_resize(&self, vol: &VolumeRef, capacity: u64, flags: u32) -> Result<()> {
        let _ = (vol, capacity, flags);
        unsupported("virStorageVolResize")
    }
    async fn vol_get_info(&self, vol: &VolumeRef) -> Result<VolumeInfo> {
        let _ = vol;
        unsupported("virStorageVolGetInfo")
    }
    async fn vol_get_path(&self, vol: &VolumeRef) -> Result<String> {
        let _ = vol;
        unsupported("virStorageVolGetPath")
    }
    async fn vol_get_xml_desc(&self, vol: &VolumeRef, flags: u32) -> Result<String> {
        let _ = (vol, flags);
        unsupported("virStorageVolGetXMLDesc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Bare;
    impl Driver for Bare {}

    #[tokio::test]
    async fn missing_methods_answer_not_supported_with_the_api_name() {
        let driver: std::sync::Arc<dyn Driver> = std::sync::Arc::new(Bare);
        let err = driver.domain_lookup_by_name("x").await.unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::NO_SUPPORT);
        assert_eq!(
            err.message,
            "this function is not supported by the connection driver: virDomainLookupByName"
        );
    }
}
