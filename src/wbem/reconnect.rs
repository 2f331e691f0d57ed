//! The WBEM front's driver when `wbem_connect_uri` names a driver the daemon does not run itself (a remote
//! daemon, `test+tcp://host/default`): a connection that is opened lazily and opened again when it dies, so the
//! front starts before its remote host and survives the remote daemon's restart. Every driver call goes to the
//! current connection; a call finding it dead reconnects first (a call already sent on a dying connection fails
//! with the transport's error, and is not repeated: it may have been carried out).

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;
use tracing::{info, warn};
use uuid::Uuid;

use crate::connect::{connect, ConnectOptions};
use crate::driver::{
    DomainEvent, DomainInfo, DomainRef, DomainState, DomainSummary, Driver, InterfaceRef,
    MemoryStat, NetworkRef, NodeCpuMap, NodeInfo, PoolInfo, PoolRef, TypedParam, VcpuInfo,
    VolumeInfo, VolumeRef,
};
// stats lane
use crate::driver::{
    BlockInfo, BlockStats, DomainStatsRecord, FsInfo, GuestInterface, InterfaceStats, IothreadInfo,
    NodeCpuStat,
};
// lane: snapshots
use crate::driver::SnapshotRef;
use crate::error::Result;

/// A driver connection to `uri`, (re)opened on demand.
pub struct Reconnecting {
    uri: String,
    options: ConnectOptions,
    current: tokio::sync::Mutex<Option<Arc<dyn Driver>>>,
}

impl Reconnecting {
    /// Tries to connect once now; a failure is logged, not fatal (the next call tries again).
    pub async fn open(uri: &str, options: ConnectOptions) -> Reconnecting {
        let driver = Reconnecting {
            uri: uri.to_owned(),
            options,
            current: tokio::sync::Mutex::new(None),
        };
        if let Err(err) = driver.current().await {
            warn!(uri, error = %err, "wbem_connect_uri: not connected yet, will retry on the next request");
        }
        driver
    }

    /// The live connection, opening a new one when there is none or the last one died.
    async fn current(&self) -> Result<Arc<dyn Driver>> {
        let mut slot = self.current.lock().await;
        if let Some(driver) = slot.as_ref() {
            if driver.is_alive().await.unwrap_or(false) {
                return Ok(Arc::clone(driver));
            }
            info!(uri = %self.uri, "wbem_connect_uri: connection lost, reconnecting");
            *slot = None;
        }
        let driver = connect(&self.uri, &self.options).await?;
        info!(uri = %self.uri, "wbem_connect_uri: connected");
        *slot = Some(Arc::clone(&driver));
        Ok(driver)
    }
}

/// Implements every trait method by forwarding to the current connection (the list is the trait's, so no
/// method falls back to the "not supported" default by omission; a test compares the two lists).
macro_rules! forward_all {
    ($( fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> Result<$ret:ty>; )*) => {
        /// The trait methods this wrapper forwards, by name.
        #[cfg(test)]
        const FORWARDED: &[&str] = &[$(stringify!($name)),*];

        #[async_trait]
        impl Driver for Reconnecting {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                    self.current().await?.$name($($arg),*).await
                }
            )*

            async fn is_alive(&self) -> Result<bool> {
                match self.current().await {
                    Ok(driver) => driver.is_alive().await,
                    Err(_) => Ok(false),
                }
            }

            async fn close(&self) -> Result<()> {
                let driver = self.current.lock().await.take();
                match driver {
                    Some(driver) => driver.close().await,
                    None => Ok(()),
                }
            }
        }
    };
}

forward_all! {
    fn get_type(&self) -> Result<String>;
    fn get_version(&self) -> Result<u64>;
    fn get_lib_version(&self) -> Result<u64>;
    fn get_hostname(&self) -> Result<String>;
    fn get_uri(&self) -> Result<String>;
    fn node_get_info(&self) -> Result<NodeInfo>;
    fn node_get_cpu_map(&self, flags: u32) -> Result<NodeCpuMap>;
    fn node_get_free_memory(&self) -> Result<u64>;
    fn node_get_cells_free_memory(&self, start_cell: i32, max_cells: i32) -> Result<Vec<u64>>;
    fn get_max_vcpus(&self, kind: Option<&str>) -> Result<i32>;
    fn get_capabilities(&self) -> Result<String>;
    fn node_get_security_model(&self) -> Result<(String, String)>;
    fn is_encrypted(&self) -> Result<bool>;
    fn is_secure(&self) -> Result<bool>;
    fn list_all_domains(&self, flags: u32) -> Result<Vec<DomainRef>>;
    fn domain_summaries(&self) -> Result<Vec<DomainSummary>>;
    fn domain_lookup_by_name(&self, name: &str) -> Result<DomainRef>;
    fn domain_lookup_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef>;
    fn domain_lookup_by_id(&self, id: i32) -> Result<DomainRef>;
    fn domain_define_xml(&self, xml: &str, flags: u32) -> Result<DomainRef>;
    fn domain_undefine(&self, dom: &DomainRef, flags: u32) -> Result<()>;
    fn domain_create(&self, dom: &DomainRef, flags: u32) -> Result<DomainRef>;
    fn domain_create_xml(&self, xml: &str, flags: u32) -> Result<DomainRef>;
    fn domain_destroy(&self, dom: &DomainRef, flags: u32) -> Result<()>;
    fn domain_shutdown(&self, dom: &DomainRef, flags: u32) -> Result<()>;
    fn domain_reboot(&self, dom: &DomainRef, flags: u32) -> Result<()>;
    fn domain_suspend(&self, dom: &DomainRef) -> Result<()>;
    fn domain_resume(&self, dom: &DomainRef) -> Result<()>;
    fn domain_get_info(&self, dom: &DomainRef) -> Result<DomainInfo>;
    fn domain_get_state(&self, dom: &DomainRef, flags: u32) -> Result<(DomainState, i32)>;
    fn domain_get_xml_desc(&self, dom: &DomainRef, flags: u32) -> Result<String>;
    fn domain_get_os_type(&self, dom: &DomainRef) -> Result<String>;
    fn domain_get_autostart(&self, dom: &DomainRef) -> Result<bool>;
    fn domain_set_autostart(&self, dom: &DomainRef, autostart: bool) -> Result<()>;
    fn domain_is_active(&self, dom: &DomainRef) -> Result<bool>;
    fn domain_is_persistent(&self, dom: &DomainRef) -> Result<bool>;
    fn domain_is_updated(&self, dom: &DomainRef) -> Result<bool>;
    fn domain_has_managed_save_image(&self, dom: &DomainRef, flags: u32) -> Result<bool>;
    fn domain_get_security_label(&self, dom: &DomainRef) -> Result<(String, bool)>;
    fn domain_set_memory(&self, dom: &DomainRef, kib: u64, flags: u32) -> Result<()>;
    fn domain_get_max_memory(&self, dom: &DomainRef) -> Result<u64>;
    fn domain_set_vcpus(&self, dom: &DomainRef, count: u32, flags: u32) -> Result<()>;
    fn domain_get_vcpus(&self, dom: &DomainRef, flags: u32) -> Result<u32>;
    fn domain_get_max_vcpus(&self, dom: &DomainRef) -> Result<i32>;
    fn domain_get_vcpu_info(&self, dom: &DomainRef, max_info: u32, map_len: u32) -> Result<(Vec<VcpuInfo>, Vec<u8>)>;
    fn domain_get_vcpu_pin_info(&self, dom: &DomainRef, max_maps: u32, map_len: u32, flags: u32) -> Result<(u32, Vec<u8>)>;
    fn domain_get_scheduler_type(&self, dom: &DomainRef) -> Result<(String, i32)>;
    fn domain_get_scheduler_parameters(&self, dom: &DomainRef, flags: u32) -> Result<Vec<TypedParam>>;
    // tunables lane
    fn domain_get_tunables(&self, dom: &DomainRef, kind: crate::driver::TunableKind, nparams: u32, flags: u32) -> Result<Vec<TypedParam>>;
    fn domain_set_tunables(&self, dom: &DomainRef, kind: crate::driver::TunableKind, params: Vec<TypedParam>, flags: u32) -> Result<()>;
    fn domain_pin_vcpu(&self, dom: &DomainRef, vcpu: u32, cpumap: Vec<u8>, flags: u32) -> Result<()>;
    fn domain_get_emulator_pin_info(&self, dom: &DomainRef, map_len: u32, flags: u32) -> Result<Vec<u8>>;
    fn domain_pin_emulator(&self, dom: &DomainRef, cpumap: Vec<u8>, flags: u32) -> Result<()>;
    fn domain_get_time(&self, dom: &DomainRef, flags: u32) -> Result<(i64, u32)>;
    fn domain_get_block_io_tune(&self, dom: &DomainRef, disk: Option<String>, nparams: u32, flags: u32) -> Result<Vec<TypedParam>>;
    fn domain_set_block_io_tune(&self, dom: &DomainRef, disk: String, params: Vec<TypedParam>, flags: u32) -> Result<()>;
    fn domain_set_time(&self, dom: &DomainRef, seconds: i64, nseconds: u32, flags: u32) -> Result<()>;
    // domain snapshots (lane: snapshots)
    fn domain_snapshot_create_xml(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<SnapshotRef>;
    fn domain_snapshot_get_xml_desc(&self, snap: &SnapshotRef, flags: u32) -> Result<String>;
    fn domain_list_all_snapshots(&self, dom: &DomainRef, flags: u32) -> Result<Vec<SnapshotRef>>;
    fn domain_snapshot_list_all_children(&self, snap: &SnapshotRef, flags: u32) -> Result<Vec<SnapshotRef>>;
    fn domain_snapshot_lookup_by_name(&self, dom: &DomainRef, name: &str, flags: u32) -> Result<SnapshotRef>;
    fn domain_has_current_snapshot(&self, dom: &DomainRef, flags: u32) -> Result<bool>;
    fn domain_snapshot_current(&self, dom: &DomainRef, flags: u32) -> Result<SnapshotRef>;
    fn domain_snapshot_get_parent(&self, snap: &SnapshotRef, flags: u32) -> Result<SnapshotRef>;
    fn domain_snapshot_is_current(&self, snap: &SnapshotRef, flags: u32) -> Result<bool>;
    fn domain_snapshot_has_metadata(&self, snap: &SnapshotRef, flags: u32) -> Result<bool>;
    fn domain_revert_to_snapshot(&self, snap: &SnapshotRef, flags: u32) -> Result<()>;
    fn domain_snapshot_delete(&self, snap: &SnapshotRef, flags: u32) -> Result<()>;
    fn domain_managed_save(&self, dom: &DomainRef, flags: u32) -> Result<()>;
    fn domain_managed_save_remove(&self, dom: &DomainRef, flags: u32) -> Result<()>;
    fn domain_rename(&self, dom: &DomainRef, new_name: &str, flags: u32) -> Result<()>;
    fn domain_memory_stats(&self, dom: &DomainRef, max_stats: u32, flags: u32) -> Result<Vec<MemoryStat>>;
    // stats lane
    fn connect_get_all_domain_stats(&self, doms: &[DomainRef], stats: u32, flags: u32) -> Result<Vec<DomainStatsRecord>>;
    fn domain_block_stats(&self, dom: &DomainRef, disk: &str) -> Result<BlockStats>;
    fn domain_block_stats_flags(&self, dom: &DomainRef, disk: &str, flags: u32) -> Result<Vec<TypedParam>>;
    fn domain_interface_stats(&self, dom: &DomainRef, device: &str) -> Result<InterfaceStats>;
    fn domain_get_block_info(&self, dom: &DomainRef, disk: &str, flags: u32) -> Result<BlockInfo>;
    fn node_get_cpu_stats(&self, cpu_num: i32, flags: u32) -> Result<Vec<NodeCpuStat>>;
    fn domain_interface_addresses(&self, dom: &DomainRef, source: u32, flags: u32) -> Result<Vec<GuestInterface>>;
    fn domain_get_fsinfo(&self, dom: &DomainRef, flags: u32) -> Result<Vec<FsInfo>>;
    fn domain_get_hostname(&self, dom: &DomainRef, flags: u32) -> Result<String>;
    fn domain_get_iothread_info(&self, dom: &DomainRef, flags: u32) -> Result<Vec<IothreadInfo>>;
    fn domain_event_subscribe(&self) -> Result<broadcast::Receiver<DomainEvent>>;
    fn list_all_networks(&self, flags: u32) -> Result<Vec<NetworkRef>>;
    fn network_lookup_by_name(&self, name: &str) -> Result<NetworkRef>;
    fn network_lookup_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef>;
    fn network_define_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef>;
    fn network_create_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef>;
    fn network_create(&self, net: &NetworkRef) -> Result<()>;
    fn network_destroy(&self, net: &NetworkRef) -> Result<()>;
    fn network_undefine(&self, net: &NetworkRef) -> Result<()>;
    fn network_get_xml_desc(&self, net: &NetworkRef, flags: u32) -> Result<String>;
    fn network_get_bridge_name(&self, net: &NetworkRef) -> Result<String>;
    fn network_get_autostart(&self, net: &NetworkRef) -> Result<bool>;
    fn network_set_autostart(&self, net: &NetworkRef, autostart: bool) -> Result<()>;
    fn network_is_active(&self, net: &NetworkRef) -> Result<bool>;
    fn network_is_persistent(&self, net: &NetworkRef) -> Result<bool>;
    fn list_all_storage_pools(&self, flags: u32) -> Result<Vec<PoolRef>>;
    fn pool_lookup_by_name(&self, name: &str) -> Result<PoolRef>;
    fn pool_lookup_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef>;
    fn pool_lookup_by_volume(&self, vol: &VolumeRef) -> Result<PoolRef>;
    fn pool_define_xml(&self, xml: &str, flags: u32) -> Result<PoolRef>;
    fn pool_create_xml(&self, xml: &str, flags: u32) -> Result<PoolRef>;
    fn pool_build(&self, pool: &PoolRef, flags: u32) -> Result<()>;
    fn pool_create(&self, pool: &PoolRef, flags: u32) -> Result<()>;
    fn pool_destroy(&self, pool: &PoolRef) -> Result<()>;
    fn pool_undefine(&self, pool: &PoolRef) -> Result<()>;
    fn pool_refresh(&self, pool: &PoolRef, flags: u32) -> Result<()>;
    fn pool_get_info(&self, pool: &PoolRef) -> Result<PoolInfo>;
    fn pool_get_xml_desc(&self, pool: &PoolRef, flags: u32) -> Result<String>;
    fn pool_get_autostart(&self, pool: &PoolRef) -> Result<bool>;
    fn pool_set_autostart(&self, pool: &PoolRef, autostart: bool) -> Result<()>;
    fn pool_is_active(&self, pool: &PoolRef) -> Result<bool>;
    fn pool_is_persistent(&self, pool: &PoolRef) -> Result<bool>;
    fn pool_list_all_volumes(&self, pool: &PoolRef, flags: u32) -> Result<Vec<VolumeRef>>;
    fn vol_lookup_by_name(&self, pool: &PoolRef, name: &str) -> Result<VolumeRef>;
    fn vol_lookup_by_key(&self, key: &str) -> Result<VolumeRef>;
    fn vol_lookup_by_path(&self, path: &str) -> Result<VolumeRef>;
    fn vol_create_xml(&self, pool: &PoolRef, xml: &str, flags: u32) -> Result<VolumeRef>;
    fn vol_delete(&self, vol: &VolumeRef, flags: u32) -> Result<()>;
    fn vol_resize(&self, vol: &VolumeRef, capacity: u64, flags: u32) -> Result<()>;
    fn vol_get_info(&self, vol: &VolumeRef) -> Result<VolumeInfo>;
    fn vol_get_path(&self, vol: &VolumeRef) -> Result<String>;
    fn vol_get_xml_desc(&self, vol: &VolumeRef, flags: u32) -> Result<String>;
    // ifaces lane
    fn get_sysinfo(&self, flags: u32) -> Result<String>;
    fn get_cpu_model_names(&self, arch: &str, flags: u32) -> Result<Vec<String>>;
    fn list_all_interfaces(&self, flags: u32) -> Result<Vec<InterfaceRef>>;
    fn interface_lookup_by_name(&self, name: &str) -> Result<InterfaceRef>;
    fn interface_lookup_by_mac_string(&self, mac: &str) -> Result<InterfaceRef>;
    fn interface_get_xml_desc(&self, iface: &InterfaceRef, flags: u32) -> Result<String>;
    fn interface_define_xml(&self, xml: &str, flags: u32) -> Result<InterfaceRef>;
    fn interface_undefine(&self, iface: &InterfaceRef) -> Result<()>;
    fn interface_create(&self, iface: &InterfaceRef, flags: u32) -> Result<()>;
    fn interface_destroy(&self, iface: &InterfaceRef, flags: u32) -> Result<()>;
    fn interface_is_active(&self, iface: &InterfaceRef) -> Result<bool>;
    fn interface_change_begin(&self, flags: u32) -> Result<()>;
    fn interface_change_commit(&self, flags: u32) -> Result<()>;
    fn interface_change_rollback(&self, flags: u32) -> Result<()>;
    fn list_all_node_devices(&self, flags: u32) -> Result<Vec<String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method of the Driver trait is forwarded (is_alive and close are written out).
    #[test]
    fn every_trait_method_is_forwarded() {
        let trait_src = include_str!("../driver/mod.rs");
        let trait_body = trait_src
            .split("pub trait Driver")
            .nth(1)
            .and_then(|rest| rest.split("\n}\n").next())
            .expect("trait body");
        let mut missing = Vec::new();
        let mut seen = 0;
        for line in trait_body.lines() {
            let Some(rest) = line.trim().strip_prefix("async fn ") else {
                continue;
            };
            let name = rest.split('(').next().unwrap_or_default();
            seen += 1;
            if name != "is_alive" && name != "close" && !FORWARDED.contains(&name) {
                missing.push(name.to_owned());
            }
        }
        assert!(seen > 50, "only {seen} trait methods found");
        assert!(missing.is_empty(), "not forwarded: {missing:?}");
    }

    #[tokio::test]
    async fn an_unreachable_uri_is_retried_per_call() {
        let driver =
            Reconnecting::open("test+tcp://127.0.0.1:1/default", ConnectOptions::default()).await;
        assert!(!driver.is_alive().await.expect("is_alive"));
        let err = driver.list_all_domains(0).await.expect_err("no server");
        assert!(err.message.contains("127.0.0.1"), "{}", err.message);
    }
}
