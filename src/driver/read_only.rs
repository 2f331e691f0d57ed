//! The read-only view of a driver: every query passes through, every state change is refused with code 29.
//!
//! libvirt refuses these calls in its public API entry points when the connection is read-only, naming the API
//! ("operation forbidden: read only access prevents virDomainSuspend"); this wrapper does the same for any driver.
//! A method the wrapper does not list falls back to the trait's "not supported" default, so a method added to the
//! trait later is never forwarded by accident.

use super::InterfaceRef;
use super::{
    DomainEvent, DomainInfo, DomainRef, DomainState, Driver, NetworkRef, NodeInfo, PoolInfo,
    PoolRef,
};
use super::{MemoryStat, NodeCpuMap, SnapshotRef, TypedParam, VcpuInfo, VolumeInfo, VolumeRef};
// stats lane
use super::{
    BlockInfo, BlockStats, DomainStatsRecord, FsInfo, GuestInterface, InterfaceStats, IothreadInfo,
    NodeCpuStat,
};
use crate::driver::flags;
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Wraps a driver so that only reads reach it.
pub struct ReadOnly {
    inner: Arc<dyn Driver>,
}

impl ReadOnly {
    pub fn new(inner: Arc<dyn Driver>) -> Self {
        Self { inner }
    }
}

fn refuse<T>(api: &str) -> Result<T> {
    Err(Error::read_only(api))
}

/// The API name libvirt reports: the plain call when no flags are given, the `...Flags` variant otherwise.
fn api(flags: u32, plain: &'static str, with_flags: &'static str) -> &'static str {
    if flags == 0 {
        plain
    } else {
        with_flags
    }
}

#[async_trait]
impl Driver for ReadOnly {
    fn home_runtime(&self) -> Option<tokio::runtime::Handle> {
        self.inner.home_runtime()
    }

    // ---- connection and node: all reads ----

    async fn get_type(&self) -> Result<String> {
        self.inner.get_type().await
    }
    async fn get_version(&self) -> Result<u64> {
        self.inner.get_version().await
    }
    async fn get_lib_version(&self) -> Result<u64> {
        self.inner.get_lib_version().await
    }
    async fn get_hostname(&self) -> Result<String> {
        self.inner.get_hostname().await
    }
    async fn get_uri(&self) -> Result<String> {
        self.inner.get_uri().await
    }
    async fn node_get_info(&self) -> Result<NodeInfo> {
        self.inner.node_get_info().await
    }
    async fn node_get_cpu_map(&self, flags: u32) -> Result<NodeCpuMap> {
        self.inner.node_get_cpu_map(flags).await
    }
    async fn node_get_free_memory(&self) -> Result<u64> {
        self.inner.node_get_free_memory().await
    }
    async fn node_get_cells_free_memory(
        &self,
        start_cell: i32,
        max_cells: i32,
    ) -> Result<Vec<u64>> {
        self.inner
            .node_get_cells_free_memory(start_cell, max_cells)
            .await
    }
    async fn get_max_vcpus(&self, kind: Option<&str>) -> Result<i32> {
        self.inner.get_max_vcpus(kind).await
    }
    async fn get_capabilities(&self) -> Result<String> {
        self.inner.get_capabilities().await
    }
    async fn node_get_security_model(&self) -> Result<(String, String)> {
        self.inner.node_get_security_model().await
    }
    async fn is_encrypted(&self) -> Result<bool> {
        self.inner.is_encrypted().await
    }
    async fn is_secure(&self) -> Result<bool> {
        self.inner.is_secure().await
    }
    async fn is_alive(&self) -> Result<bool> {
        self.inner.is_alive().await
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }

    // ---- domains ----

    async fn list_all_domains(&self, flags: u32) -> Result<Vec<DomainRef>> {
        self.inner.list_all_domains(flags).await
    }
    async fn domain_lookup_by_name(&self, name: &str) -> Result<DomainRef> {
        self.inner.domain_lookup_by_name(name).await
    }
    async fn domain_lookup_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        self.inner.domain_lookup_by_uuid(uuid).await
    }
    async fn domain_lookup_by_id(&self, id: i32) -> Result<DomainRef> {
        self.inner.domain_lookup_by_id(id).await
    }
    async fn domain_define_xml(&self, _xml: &str, flags: u32) -> Result<DomainRef> {
        refuse(api(flags, "virDomainDefineXML", "virDomainDefineXMLFlags"))
    }
    async fn domain_undefine(&self, _dom: &DomainRef, _flags: u32) -> Result<()> {
        refuse("virDomainUndefineFlags")
    }
    async fn domain_create(&self, _dom: &DomainRef, flags: u32) -> Result<DomainRef> {
        refuse(api(flags, "virDomainCreate", "virDomainCreateWithFlags"))
    }
    async fn domain_create_xml(&self, _xml: &str, _flags: u32) -> Result<DomainRef> {
        refuse("virDomainCreateXML")
    }
    async fn domain_destroy(&self, _dom: &DomainRef, flags: u32) -> Result<()> {
        refuse(api(flags, "virDomainDestroy", "virDomainDestroyFlags"))
    }
    async fn domain_shutdown(&self, _dom: &DomainRef, flags: u32) -> Result<()> {
        refuse(api(flags, "virDomainShutdown", "virDomainShutdownFlags"))
    }
    async fn domain_reboot(&self, _dom: &DomainRef, _flags: u32) -> Result<()> {
        refuse("virDomainReboot")
    }
    async fn domain_suspend(&self, _dom: &DomainRef) -> Result<()> {
        refuse("virDomainSuspend")
    }
    async fn domain_resume(&self, _dom: &DomainRef) -> Result<()> {
        refuse("virDomainResume")
    }
    async fn domain_get_info(&self, dom: &DomainRef) -> Result<DomainInfo> {
        self.inner.domain_get_info(dom).await
    }
    async fn domain_get_state(&self, dom: &DomainRef, flags: u32) -> Result<(DomainState, i32)> {
        self.inner.domain_get_state(dom, flags).await
    }
    async fn domain_get_xml_desc(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        // Secure details (passwords) and migratable XML are not for read-only clients.
        if flags & (flags::XML_SECURE | flags::XML_MIGRATABLE) != 0 {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_DENIED,
                ErrorDomain::DOMAIN,
                "virDomainGetXMLDesc with secure flag",
            ));
        }
        self.inner.domain_get_xml_desc(dom, flags).await
    }
    async fn domain_get_os_type(&self, dom: &DomainRef) -> Result<String> {
        self.inner.domain_get_os_type(dom).await
    }
    async fn domain_get_autostart(&self, dom: &DomainRef) -> Result<bool> {
        self.inner.domain_get_autostart(dom).await
    }
    async fn domain_set_autostart(&self, _dom: &DomainRef, _autostart: bool) -> Result<()> {
        refuse("virDomainSetAutostart")
    }
    async fn domain_is_active(&self, dom: &DomainRef) -> Result<bool> {
        self.inner.domain_is_active(dom).await
    }
    async fn domain_is_persistent(&self, dom: &DomainRef) -> Result<bool> {
        self.inner.domain_is_persistent(dom).await
    }
    async fn domain_is_updated(&self, dom: &DomainRef) -> Result<bool> {
        self.inner.domain_is_updated(dom).await
    }
    async fn domain_has_managed_save_image(&self, dom: &DomainRef, flags: u32) -> Result<bool> {
        self.inner.domain_has_managed_save_image(dom, flags).await
    }
    async fn domain_get_security_label(&self, dom: &DomainRef) -> Result<(String, bool)> {
        self.inner.domain_get_security_label(dom).await
    }
    async fn domain_set_memory(&self, _dom: &DomainRef, _kib: u64, flags: u32) -> Result<()> {
        refuse(if flags == flags::MEM_MAXIMUM {
            "virDomainSetMaxMemory"
        } else {
            "virDomainSetMemoryFlags"
        })
    }
    async fn domain_get_max_memory(&self, dom: &DomainRef) -> Result<u64> {
        self.inner.domain_get_max_memory(dom).await
    }
    async fn domain_set_vcpus(&self, _dom: &DomainRef, _count: u32, flags: u32) -> Result<()> {
        refuse(api(flags, "virDomainSetVcpus", "virDomainSetVcpusFlags"))
    }
    async fn domain_get_vcpus(&self, dom: &DomainRef, flags: u32) -> Result<u32> {
        self.inner.domain_get_vcpus(dom, flags).await
    }
    async fn domain_get_max_vcpus(&self, dom: &DomainRef) -> Result<i32> {
        self.inner.domain_get_max_vcpus(dom).await
    }
    async fn domain_get_vcpu_info(
        &self,
        dom: &DomainRef,
        max_info: u32,
        map_len: u32,
    ) -> Result<(Vec<VcpuInfo>, Vec<u8>)> {
        self.inner
            .domain_get_vcpu_info(dom, max_info, map_len)
            .await
    }
    async fn domain_get_vcpu_pin_info(
        &self,
        dom: &DomainRef,
        max_maps: u32,
        map_len: u32,
        flags: u32,
    ) -> Result<(u32, Vec<u8>)> {
        self.inner
            .domain_get_vcpu_pin_info(dom, max_maps, map_len, flags)
            .await
    }
    async fn domain_get_scheduler_type(&self, dom: &DomainRef) -> Result<(String, i32)> {
        self.inner.domain_get_scheduler_type(dom).await
    }
    async fn domain_get_scheduler_parameters(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        self.inner.domain_get_scheduler_parameters(dom, flags).await
    }
    // tunables lane: reads pass, changes are refused.
    async fn domain_get_tunables(
        &self,
        dom: &DomainRef,
        kind: super::TunableKind,
        nparams: u32,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        self.inner
            .domain_get_tunables(dom, kind, nparams, flags)
            .await
    }
    async fn domain_set_tunables(
        &self,
        _dom: &DomainRef,
        kind: super::TunableKind,
        _params: Vec<TypedParam>,
        _flags: u32,
    ) -> Result<()> {
        refuse(match kind {
            super::TunableKind::Memory => "virDomainSetMemoryParameters",
            super::TunableKind::Blkio => "virDomainSetBlkioParameters",
            super::TunableKind::Numa => "virDomainSetNumaParameters",
            super::TunableKind::Scheduler => "virDomainSetSchedulerParametersFlags",
            super::TunableKind::Perf => "virDomainSetPerfEvents",
        })
    }
    async fn domain_pin_vcpu(&self, _: &DomainRef, _: u32, _: Vec<u8>, _: u32) -> Result<()> {
        refuse("virDomainPinVcpuFlags")
    }
    async fn domain_get_emulator_pin_info(
        &self,
        dom: &DomainRef,
        map_len: u32,
        flags: u32,
    ) -> Result<Vec<u8>> {
        self.inner
            .domain_get_emulator_pin_info(dom, map_len, flags)
            .await
    }
    async fn domain_pin_emulator(&self, _: &DomainRef, _: Vec<u8>, _: u32) -> Result<()> {
        refuse("virDomainPinEmulator")
    }
    async fn domain_get_block_io_tune(
        &self,
        dom: &DomainRef,
        disk: Option<String>,
        nparams: u32,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        self.inner
            .domain_get_block_io_tune(dom, disk, nparams, flags)
            .await
    }
    async fn domain_set_block_io_tune(
        &self,
        _: &DomainRef,
        _: String,
        _: Vec<TypedParam>,
        _: u32,
    ) -> Result<()> {
        refuse("virDomainSetBlockIoTune")
    }
    // Reading the guest clock needs a read-write connection in libvirt too.
    async fn domain_get_time(&self, _: &DomainRef, _: u32) -> Result<(i64, u32)> {
        refuse("virDomainGetTime")
    }
    async fn domain_set_time(&self, _: &DomainRef, _: i64, _: u32, _: u32) -> Result<()> {
        refuse("virDomainSetTime")
    }
    // ---- domain snapshots (lane: snapshots) ----
    async fn domain_snapshot_create_xml(
        &self,
        _dom: &DomainRef,
        _xml: &str,
        _flags: u32,
    ) -> Result<SnapshotRef> {
        refuse("virDomainSnapshotCreateXML")
    }
    async fn domain_snapshot_get_xml_desc(&self, snap: &SnapshotRef, flags: u32) -> Result<String> {
        self.inner.domain_snapshot_get_xml_desc(snap, flags).await
    }
    async fn domain_list_all_snapshots(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<SnapshotRef>> {
        self.inner.domain_list_all_snapshots(dom, flags).await
    }
    async fn domain_snapshot_list_all_children(
        &self,
        snap: &SnapshotRef,
        flags: u32,
    ) -> Result<Vec<SnapshotRef>> {
        self.inner
            .domain_snapshot_list_all_children(snap, flags)
            .await
    }
    async fn domain_snapshot_lookup_by_name(
        &self,
        dom: &DomainRef,
        name: &str,
        flags: u32,
    ) -> Result<SnapshotRef> {
        self.inner
            .domain_snapshot_lookup_by_name(dom, name, flags)
            .await
    }
    async fn domain_has_current_snapshot(&self, dom: &DomainRef, flags: u32) -> Result<bool> {
        self.inner.domain_has_current_snapshot(dom, flags).await
    }
    async fn domain_snapshot_current(&self, dom: &DomainRef, flags: u32) -> Result<SnapshotRef> {
        self.inner.domain_snapshot_current(dom, flags).await
    }
    async fn domain_snapshot_get_parent(
        &self,
        snap: &SnapshotRef,
        flags: u32,
    ) -> Result<SnapshotRef> {
        self.inner.domain_snapshot_get_parent(snap, flags).await
    }
    async fn domain_snapshot_is_current(&self, snap: &SnapshotRef, flags: u32) -> Result<bool> {
        self.inner.domain_snapshot_is_current(snap, flags).await
    }
    async fn domain_snapshot_has_metadata(&self, snap: &SnapshotRef, flags: u32) -> Result<bool> {
        self.inner.domain_snapshot_has_metadata(snap, flags).await
    }
    async fn domain_revert_to_snapshot(&self, _snap: &SnapshotRef, _flags: u32) -> Result<()> {
        refuse("virDomainRevertToSnapshot")
    }
    async fn domain_snapshot_delete(&self, _snap: &SnapshotRef, _flags: u32) -> Result<()> {
        refuse("virDomainSnapshotDelete")
    }
    async fn domain_managed_save(&self, _dom: &DomainRef, _flags: u32) -> Result<()> {
        refuse("virDomainManagedSave")
    }
    async fn domain_managed_save_remove(&self, _dom: &DomainRef, _flags: u32) -> Result<()> {
        refuse("virDomainManagedSaveRemove")
    }
    async fn domain_rename(&self, _dom: &DomainRef, _new_name: &str, _flags: u32) -> Result<()> {
        refuse("virDomainRename")
    }
    async fn domain_memory_stats(
        &self,
        dom: &DomainRef,
        max_stats: u32,
        flags: u32,
    ) -> Result<Vec<MemoryStat>> {
        self.inner.domain_memory_stats(dom, max_stats, flags).await
    }
    async fn domain_event_subscribe(&self) -> Result<broadcast::Receiver<DomainEvent>> {
        self.inner.domain_event_subscribe().await
    }
    // ---- stats lane: every one of these is a read ----
    async fn connect_get_all_domain_stats(
        &self,
        doms: &[DomainRef],
        stats: u32,
        flags: u32,
    ) -> Result<Vec<DomainStatsRecord>> {
        self.inner
            .connect_get_all_domain_stats(doms, stats, flags)
            .await
    }
    async fn domain_block_stats(&self, dom: &DomainRef, disk: &str) -> Result<BlockStats> {
        self.inner.domain_block_stats(dom, disk).await
    }
    async fn domain_block_stats_flags(
        &self,
        dom: &DomainRef,
        disk: &str,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        self.inner.domain_block_stats_flags(dom, disk, flags).await
    }
    async fn domain_interface_stats(
        &self,
        dom: &DomainRef,
        device: &str,
    ) -> Result<InterfaceStats> {
        self.inner.domain_interface_stats(dom, device).await
    }
    async fn domain_get_block_info(
        &self,
        dom: &DomainRef,
        disk: &str,
        flags: u32,
    ) -> Result<BlockInfo> {
        self.inner.domain_get_block_info(dom, disk, flags).await
    }
    async fn node_get_cpu_stats(&self, cpu_num: i32, flags: u32) -> Result<Vec<NodeCpuStat>> {
        self.inner.node_get_cpu_stats(cpu_num, flags).await
    }
    async fn domain_interface_addresses(
        &self,
        dom: &DomainRef,
        source: u32,
        flags: u32,
    ) -> Result<Vec<GuestInterface>> {
        self.inner
            .domain_interface_addresses(dom, source, flags)
            .await
    }
    async fn domain_get_fsinfo(&self, dom: &DomainRef, flags: u32) -> Result<Vec<FsInfo>> {
        self.inner.domain_get_fsinfo(dom, flags).await
    }
    async fn domain_get_hostname(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        self.inner.domain_get_hostname(dom, flags).await
    }
    async fn domain_get_iothread_info(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<IothreadInfo>> {
        self.inner.domain_get_iothread_info(dom, flags).await
    }

    // ---- networks ----

    async fn list_all_networks(&self, flags: u32) -> Result<Vec<NetworkRef>> {
        self.inner.list_all_networks(flags).await
    }
    async fn network_lookup_by_name(&self, name: &str) -> Result<NetworkRef> {
        self.inner.network_lookup_by_name(name).await
    }
    async fn network_lookup_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef> {
        self.inner.network_lookup_by_uuid(uuid).await
    }
    async fn network_define_xml(&self, _xml: &str, flags: u32) -> Result<NetworkRef> {
        refuse(api(
            flags,
            "virNetworkDefineXML",
            "virNetworkDefineXMLFlags",
        ))
    }
    async fn network_create_xml(&self, _xml: &str, flags: u32) -> Result<NetworkRef> {
        refuse(api(
            flags,
            "virNetworkCreateXML",
            "virNetworkCreateXMLFlags",
        ))
    }
    async fn network_create(&self, _net: &NetworkRef) -> Result<()> {
        refuse("virNetworkCreate")
    }
    async fn network_destroy(&self, _net: &NetworkRef) -> Result<()> {
        refuse("virNetworkDestroy")
    }
    async fn network_undefine(&self, _net: &NetworkRef) -> Result<()> {
        refuse("virNetworkUndefine")
    }
    async fn network_get_xml_desc(&self, net: &NetworkRef, flags: u32) -> Result<String> {
        self.inner.network_get_xml_desc(net, flags).await
    }
    async fn network_get_bridge_name(&self, net: &NetworkRef) -> Result<String> {
        self.inner.network_get_bridge_name(net).await
    }
    async fn network_get_autostart(&self, net: &NetworkRef) -> Result<bool> {
        self.inner.network_get_autostart(net).await
    }
    async fn network_set_autostart(&self, _net: &NetworkRef, _autostart: bool) -> Result<()> {
        refuse("virNetworkSetAutostart")
    }
    async fn network_is_active(&self, net: &NetworkRef) -> Result<bool> {
        self.inner.network_is_active(net).await
    }
    async fn network_is_persistent(&self, net: &NetworkRef) -> Result<bool> {
        self.inner.network_is_persistent(net).await
    }

    // ---- host interfaces and host facts (ifaces lane) ----

    async fn get_sysinfo(&self, flags: u32) -> Result<String> {
        self.inner.get_sysinfo(flags).await
    }
    async fn get_cpu_model_names(&self, arch: &str, flags: u32) -> Result<Vec<String>> {
        self.inner.get_cpu_model_names(arch, flags).await
    }
    async fn list_all_interfaces(&self, flags: u32) -> Result<Vec<InterfaceRef>> {
        self.inner.list_all_interfaces(flags).await
    }
    async fn interface_lookup_by_name(&self, name: &str) -> Result<InterfaceRef> {
        self.inner.interface_lookup_by_name(name).await
    }
    async fn interface_lookup_by_mac_string(&self, mac: &str) -> Result<InterfaceRef> {
        self.inner.interface_lookup_by_mac_string(mac).await
    }
    async fn interface_get_xml_desc(&self, iface: &InterfaceRef, flags: u32) -> Result<String> {
        self.inner.interface_get_xml_desc(iface, flags).await
    }
    async fn interface_is_active(&self, iface: &InterfaceRef) -> Result<bool> {
        self.inner.interface_is_active(iface).await
    }
    async fn list_all_node_devices(&self, flags: u32) -> Result<Vec<String>> {
        self.inner.list_all_node_devices(flags).await
    }
    async fn interface_define_xml(&self, _xml: &str, _flags: u32) -> Result<InterfaceRef> {
        refuse("virInterfaceDefineXML")
    }
    async fn interface_undefine(&self, _iface: &InterfaceRef) -> Result<()> {
        refuse("virInterfaceUndefine")
    }
    async fn interface_create(&self, _iface: &InterfaceRef, _flags: u32) -> Result<()> {
        refuse("virInterfaceCreate")
    }
    async fn interface_destroy(&self, _iface: &InterfaceRef, _flags: u32) -> Result<()> {
        refuse("virInterfaceDestroy")
    }
    async fn interface_change_begin(&self, _flags: u32) -> Result<()> {
        refuse("virInterfaceChangeBegin")
    }
    async fn interface_change_commit(&self, _flags: u32) -> Result<()> {
        refuse("virInterfaceChangeCommit")
    }
    async fn interface_change_rollback(&self, _flags: u32) -> Result<()> {
        refuse("virInterfaceChangeRollback")
    }

    // ---- storage pools ----

    async fn list_all_storage_pools(&self, flags: u32) -> Result<Vec<PoolRef>> {
        self.inner.list_all_storage_pools(flags).await
    }
    async fn pool_lookup_by_name(&self, name: &str) -> Result<PoolRef> {
        self.inner.pool_lookup_by_name(name).await
    }
    async fn pool_lookup_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        self.inner.pool_lookup_by_uuid(uuid).await
    }
    async fn pool_lookup_by_volume(&self, vol: &VolumeRef) -> Result<PoolRef> {
        self.inner.pool_lookup_by_volume(vol).await
    }
    async fn pool_define_xml(&self, _xml: &str, _flags: u32) -> Result<PoolRef> {
        refuse("virStoragePoolDefineXML")
    }
    async fn pool_create_xml(&self, _xml: &str, _flags: u32) -> Result<PoolRef> {
        refuse("virStoragePoolCreateXML")
    }
    async fn pool_build(&self, _pool: &PoolRef, _flags: u32) -> Result<()> {
        refuse("virStoragePoolBuild")
    }
    async fn pool_create(&self, _pool: &PoolRef, _flags: u32) -> Result<()> {
        refuse("virStoragePoolCreate")
    }
    async fn pool_destroy(&self, _pool: &PoolRef) -> Result<()> {
        refuse("virStoragePoolDestroy")
    }
    async fn pool_undefine(&self, _pool: &PoolRef) -> Result<()> {
        refuse("virStoragePoolUndefine")
    }
    async fn pool_refresh(&self, _pool: &PoolRef, _flags: u32) -> Result<()> {
        refuse("virStoragePoolRefresh")
    }
    async fn pool_get_info(&self, pool: &PoolRef) -> Result<PoolInfo> {
        self.inner.pool_get_info(pool).await
    }
    async fn pool_get_xml_desc(&self, pool: &PoolRef, flags: u32) -> Result<String> {
        self.inner.pool_get_xml_desc(pool, flags).await
    }
    async fn pool_get_autostart(&self, pool: &PoolRef) -> Result<bool> {
        self.inner.pool_get_autostart(pool).await
    }
    async fn pool_set_autostart(&self, _pool: &PoolRef, _autostart: bool) -> Result<()> {
        refuse("virStoragePoolSetAutostart")
    }
    async fn pool_is_active(&self, pool: &PoolRef) -> Result<bool> {
        self.inner.pool_is_active(pool).await
    }
    async fn pool_is_persistent(&self, pool: &PoolRef) -> Result<bool> {
        self.inner.pool_is_persistent(pool).await
    }
    async fn pool_list_all_volumes(&self, pool: &PoolRef, flags: u32) -> Result<Vec<VolumeRef>> {
        self.inner.pool_list_all_volumes(pool, flags).await
    }

    // ---- storage volumes ----

    async fn vol_lookup_by_name(&self, pool: &PoolRef, name: &str) -> Result<VolumeRef> {
        self.inner.vol_lookup_by_name(pool, name).await
    }
    async fn vol_lookup_by_key(&self, key: &str) -> Result<VolumeRef> {
        self.inner.vol_lookup_by_key(key).await
    }
    async fn vol_lookup_by_path(&self, path: &str) -> Result<VolumeRef> {
        self.inner.vol_lookup_by_path(path).await
    }
    async fn vol_create_xml(&self, _pool: &PoolRef, _xml: &str, _flags: u32) -> Result<VolumeRef> {
        refuse("virStorageVolCreateXML")
    }
    async fn vol_delete(&self, _vol: &VolumeRef, _flags: u32) -> Result<()> {
        refuse("virStorageVolDelete")
    }
    async fn vol_resize(&self, _vol: &VolumeRef, _capacity: u64, _flags: u32) -> Result<()> {
        refuse("virStorageVolResize")
    }
    async fn vol_get_info(&self, vol: &VolumeRef) -> Result<VolumeInfo> {
        self.inner.vol_get_info(vol).await
    }
    async fn vol_get_path(&self, vol: &VolumeRef) -> Result<String> {
        self.inner.vol_get_path(vol).await
    }
    async fn vol_get_xml_desc(&self, vol: &VolumeRef, flags: u32) -> Result<String> {
        self.inner.vol_get_xml_desc(vol, flags).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A driver that answers every query and would accept every change.
    struct Open;

    #[async_trait]
    impl Driver for Open {
        async fn domain_lookup_by_name(&self, name: &str) -> Result<DomainRef> {
            Ok(DomainRef {
                name: name.to_string(),
                uuid: Uuid::nil(),
                id: 1,
            })
        }
        async fn domain_suspend(&self, _dom: &DomainRef) -> Result<()> {
            Ok(())
        }
        async fn domain_define_xml(&self, _xml: &str, _flags: u32) -> Result<DomainRef> {
            self.domain_lookup_by_name("x").await
        }
        async fn domain_get_xml_desc(&self, _dom: &DomainRef, _flags: u32) -> Result<String> {
            Ok("<domain/>".to_string())
        }
        async fn pool_destroy(&self, _pool: &PoolRef) -> Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn reads_pass_and_changes_are_refused() {
        let ro = ReadOnly::new(Arc::new(Open));
        let dom = ro
            .domain_lookup_by_name("test")
            .await
            .expect("lookup passes");
        assert_eq!(dom.name, "test");
        assert_eq!(
            ro.domain_get_xml_desc(&dom, flags::XML_INACTIVE)
                .await
                .expect("xml"),
            "<domain/>"
        );

        let err = ro.domain_suspend(&dom).await.expect_err("refused");
        assert_eq!(err.code, ErrorCode::OPERATION_DENIED);
        assert_eq!(
            err.message,
            "operation forbidden: read only access prevents virDomainSuspend"
        );
        let err = ro
            .domain_define_xml("<domain/>", 0)
            .await
            .expect_err("refused");
        assert_eq!(
            err.message,
            "operation forbidden: read only access prevents virDomainDefineXML"
        );
        let pool = PoolRef {
            name: "p".to_string(),
            uuid: Uuid::nil(),
        };
        let err = ro.pool_destroy(&pool).await.expect_err("refused");
        assert_eq!(
            err.message,
            "operation forbidden: read only access prevents virStoragePoolDestroy"
        );
    }

    #[tokio::test]
    async fn secure_xml_is_refused() {
        let ro = ReadOnly::new(Arc::new(Open));
        let dom = ro
            .domain_lookup_by_name("test")
            .await
            .expect("lookup passes");
        let err = ro
            .domain_get_xml_desc(&dom, flags::XML_SECURE)
            .await
            .expect_err("refused");
        assert_eq!(err.code, ErrorCode::OPERATION_DENIED);
        assert_eq!(
            err.message,
            "operation forbidden: virDomainGetXMLDesc with secure flag"
        );
    }
}
