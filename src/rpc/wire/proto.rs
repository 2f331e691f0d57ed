//! The procedure declaration: the one table of every implemented procedure (its payloads and how the server
//! answers it), and what it generates for the wire: the [`Call`] and [`Reply`] enums with their decoders and a
//! marker type per procedure ([`procs`]) that pairs a client call with its reply type. The payload types,
//! grouped by libvirt object in the sibling files, are re-exported here.

pub use super::common::*;
pub use super::connect::*;
pub use super::domain::*;
pub use super::domain_guest::*;
pub use super::domain_stats::*;
pub use super::domain_tunables::*;
pub use super::interface::*;
pub use super::migration::*;
pub use super::network::*;
pub use super::node_device::*;
pub use super::nwfilter::*;
use super::procedures::Procedure;
pub use super::secret::*;
pub use super::snapshot::*;
pub use super::storage::*;
use super::xdr::{Xdr, XdrError};

/// Declares, for each implemented procedure, its argument and return types, and builds the [`Call`] and
/// [`Reply`] enums with their procedure-directed decoders.
macro_rules! remote_procedures {
    ($($variant:ident : $args:ty => $ret:ty [$($spec:tt)*];)*) => {
        /// The decoded arguments of a call (or the body of an event MESSAGE) of an implemented procedure.
        #[derive(Clone, PartialEq, Debug)]
        pub enum Call { $($variant($args)),* }

        /// The decoded return value of an implemented procedure.
        #[derive(Clone, PartialEq, Debug)]
        pub enum Reply { $($variant($ret)),* }

        impl Call {
            /// `None` when this crate has no codec for the procedure.
            pub fn decode(proc_: Procedure, payload: &[u8]) -> Option<Result<Self, XdrError>> {
                match proc_ {
                    $(Procedure::$variant => Some(<$args as Xdr>::from_bytes(payload).map(Self::$variant)),)*
                    _ => None,
                }
            }
            pub fn procedure(&self) -> Procedure {
                match self { $(Self::$variant(_) => Procedure::$variant),* }
            }
            pub fn encode(&self) -> Vec<u8> {
                match self { $(Self::$variant(value) => value.to_bytes()),* }
            }
        }

        impl Reply {
            pub fn decode(proc_: Procedure, payload: &[u8]) -> Option<Result<Self, XdrError>> {
                match proc_ {
                    $(Procedure::$variant => Some(<$ret as Xdr>::from_bytes(payload).map(Self::$variant)),)*
                    _ => None,
                }
            }
            pub fn procedure(&self) -> Procedure {
                match self { $(Self::$variant(_) => Procedure::$variant),* }
            }
            pub fn encode(&self) -> Vec<u8> {
                match self { $(Self::$variant(value) => value.to_bytes()),* }
            }
        }

        /// Whether this crate can decode the procedure's payloads.
        pub fn has_codec(proc_: Procedure) -> bool {
            matches!(proc_, $(Procedure::$variant)|*)
        }

        /// One marker type per implemented procedure, tying its number to its argument and reply types, so a
        /// client call can only pair a reply with its own call.
        pub mod procs {
            use super::*;
            $(
                #[derive(Clone, Copy, Debug)]
                pub struct $variant;
                impl Proc for $variant {
                    const PROCEDURE: Procedure = Procedure::$variant;
                    type Args = $args;
                    type Ret = $ret;
                }
            )*
        }
    };
}

/// A procedure with its payload types (see [`procs`]).
pub trait Proc: Copy + Send + Sync + 'static {
    const PROCEDURE: Procedure;
    type Args: Xdr + Send + Sync;
    type Ret: Xdr + Send;
}

/// Calls `$callback! { .. }` with the one declaration of every implemented procedure: its argument and reply
/// payloads, and how the server answers it:
/// - `[call |fields| method(args)]`: generated: the payload's fields in order, the driver method, its answer as
///   the reply's value; the read-only rule is the method's access class;
/// - `[hand method]`: written by hand in the dispatcher (the wire and the API differ: list-all with
///   `need_results`, typed parameters, CPU maps, caps on counts); the read-only rule is `method`'s;
/// - `[conn read]`: belongs to the connection (open, close, authentication, events, features);
/// - `[unsupported read]`: decoded, answered "not supported" (no driver has it yet);
/// - `[event]`: a message the server sends, never a call.
///
/// The procedure number comes from [`Procedure`] (the table of all 443, generated from libvirt's list).
macro_rules! remote_procedure_table {
    ($callback:ident) => {
        $callback! {
            ConnectOpen: ConnectOpenArgs => () [conn read];
            ConnectClose: () => () [conn read];
            ConnectGetType: () => StringRet [call || get_type()];
            ConnectGetVersion: () => U64Ret [call || get_version()];
            ConnectGetLibVersion: () => U64Ret [call || get_lib_version()];
            ConnectGetHostname: () => StringRet [call || get_hostname()];
            ConnectGetUri: () => StringRet [call || get_uri()];
            ConnectGetCapabilities: () => StringRet [call || get_capabilities()];
            ConnectSupportsFeature: IntArgs => IntRet [conn read];
            ConnectIsSecure: () => IntRet [call || is_secure()];
            ConnectRegisterCloseCallback: () => () [conn read];
            ConnectUnregisterCloseCallback: () => () [conn read];
            NodeGetInfo: () => NodeGetInfoRet [call || node_get_info()];
            NodeGetSecurityModel: () => SecurityModelRet [call || node_get_security_model()];
            NodeGetCpuMap: CpuMapArgs => CpuMapRet [hand node_get_cpu_map];
            NodeGetFreeMemory: () => U64Ret [call || node_get_free_memory()];
            NodeGetCellsFreeMemory: CellsFreeMemoryArgs => CellsFreeMemoryRet [hand node_get_cells_free_memory];
            ConnectGetMaxVcpus: MaxVcpusArgs => IntRet [call |kind| get_max_vcpus(kind.as_deref())];
            AuthList: () => AuthListRet [conn read];
            AuthSaslInit: () => StringRet [conn read];
            AuthSaslStart: AuthSaslStartArgs => AuthSaslRet [conn read];
            AuthSaslStep: AuthSaslStepArgs => AuthSaslRet [conn read];
            AuthPolkit: () => IntRet [conn read];

            ConnectListAllDomains: ListAllArgs => ListAllDomainsRet [hand list_all_domains];
            ConnectNumOfDomains: () => IntRet [hand list_all_domains];
            ConnectListDomains: IntArgs => DomainIdsRet [hand list_all_domains];
            ConnectNumOfDefinedDomains: () => IntRet [hand list_all_domains];
            ConnectListDefinedDomains: IntArgs => DomainNamesRet [hand list_all_domains];
            DomainLookupById: IntArgs => DomainRet [call |value| domain_lookup_by_id(value)];
            DomainLookupByName: StringArgs => DomainRet [call |value| domain_lookup_by_name(&value)];
            DomainLookupByUuid: UuidArgs => DomainRet [call |uuid| domain_lookup_by_uuid(&uuid)];
            DomainCreateXml: StringFlagsArgs => DomainRet [call |value, flags| domain_create_xml(&value, flags)];
            DomainDefineXml: StringArgs => DomainRet [call |value| domain_define_xml(&value, 0)];
            DomainDefineXmlFlags: StringFlagsArgs => DomainRet [call |value, flags| domain_define_xml(&value, flags)];
            DomainUndefine: DomainArgs => () [call |dom| domain_undefine(&dom, 0)];
            DomainUndefineFlags: DomainFlagsArgs => () [call |dom, flags| domain_undefine(&dom, flags)];
            DomainCreate: DomainArgs => () [call |dom| domain_create(&dom, 0)];
            DomainCreateWithFlags: DomainFlagsArgs => DomainRet [call |dom, flags| domain_create(&dom, flags)];
            DomainDestroy: DomainArgs => () [call |dom| domain_destroy(&dom, 0)];
            DomainDestroyFlags: DomainFlagsArgs => () [call |dom, flags| domain_destroy(&dom, flags)];
            DomainShutdown: DomainArgs => () [call |dom| domain_shutdown(&dom, 0)];
            DomainShutdownFlags: DomainFlagsArgs => () [call |dom, flags| domain_shutdown(&dom, flags)];
            DomainReboot: DomainFlagsArgs => () [call |dom, flags| domain_reboot(&dom, flags)];
            DomainSuspend: DomainArgs => () [call |dom| domain_suspend(&dom)];
            DomainResume: DomainArgs => () [call |dom| domain_resume(&dom)];
            DomainInjectNmi: DomainFlagsArgs => () [call |dom, flags| domain_inject_nmi(&dom, flags)];
            DomainReset: DomainFlagsArgs => () [call |dom, flags| domain_reset(&dom, flags)];
            DomainPmSuspendForDuration: DomainPmSuspendArgs => () [call |dom, target, duration, flags| domain_pm_suspend_for_duration(&dom, target, duration, flags)];
            DomainPmWakeup: DomainFlagsArgs => () [call |dom, flags| domain_pm_wakeup(&dom, flags)];
            DomainGetInfo: DomainArgs => DomainGetInfoRet [call |dom| domain_get_info(&dom)];
            DomainGetState: DomainFlagsArgs => DomainGetStateRet [call |dom, flags| domain_get_state(&dom, flags)];
            DomainGetXmlDesc: DomainFlagsArgs => StringRet [call |dom, flags| domain_get_xml_desc(&dom, flags)];
            DomainGetOsType: DomainArgs => StringRet [call |dom| domain_get_os_type(&dom)];
            DomainGetAutostart: DomainArgs => IntRet [call |dom| domain_get_autostart(&dom)];
            DomainSetAutostart: DomainIntArgs => () [call |dom, value| domain_set_autostart(&dom, value != 0)];
            DomainIsActive: DomainArgs => IntRet [call |dom| domain_is_active(&dom)];
            DomainIsPersistent: DomainArgs => IntRet [call |dom| domain_is_persistent(&dom)];
            DomainIsUpdated: DomainArgs => IntRet [call |dom| domain_is_updated(&dom)];
            DomainHasManagedSaveImage: DomainFlagsArgs => IntRet [call |dom, flags| domain_has_managed_save_image(&dom, flags)];
            DomainSnapshotNum: DomainFlagsArgs => IntRet [hand domain_list_all_snapshots];
            DomainGetSecurityLabel: DomainArgs => SecurityLabelRet [call |dom| domain_get_security_label(&dom)];
            DomainGetMessages: DomainFlagsArgs => DomainMessagesRet [call |dom, flags| domain_get_messages(&dom, flags)];
            DomainSetMemory: DomainU64Args => () [call |dom, value| domain_set_memory(&dom, value, crate::driver::flags::AFFECT_LIVE)];
            DomainSetMaxMemory: DomainU64Args => () [call |dom, value| domain_set_memory(&dom, value, crate::driver::flags::AFFECT_CURRENT | crate::driver::flags::MEM_MAXIMUM)];
            DomainSetMemoryFlags: DomainU64FlagsArgs => () [call |dom, value, flags| domain_set_memory(&dom, value, flags)];
            DomainGetMaxMemory: DomainArgs => U64Ret [call |dom| domain_get_max_memory(&dom)];
            DomainSetVcpus: DomainU32Args => () [call |dom, value| domain_set_vcpus(&dom, value, crate::driver::flags::AFFECT_LIVE)];
            DomainSetVcpusFlags: DomainU32FlagsArgs => () [call |dom, value, flags| domain_set_vcpus(&dom, value, flags)];
            DomainGetVcpusFlags: DomainFlagsArgs => IntRet [call |dom, flags| domain_get_vcpus(&dom, flags)];
            DomainGetMaxVcpus: DomainArgs => IntRet [call |dom| domain_get_max_vcpus(&dom)];
            DomainGetVcpus: DomainGetVcpusArgs => DomainGetVcpusRet [hand domain_get_vcpu_info];
            DomainGetVcpuPinInfo: VcpuPinInfoArgs => VcpuPinInfoRet [hand domain_get_vcpu_pin_info];
            DomainGetSchedulerType: DomainArgs => SchedulerTypeRet [call |dom| domain_get_scheduler_type(&dom)];
            DomainGetSchedulerParameters: SchedulerParamsArgs => SchedulerParamsRet [hand domain_get_scheduler_parameters];
            DomainGetSchedulerParametersFlags: SchedulerParamsFlagsArgs => SchedulerParamsRet [hand domain_get_scheduler_parameters];
            DomainMemoryStats: DomainMemoryStatsArgs => DomainMemoryStatsRet [hand domain_memory_stats];
            // statistics
            ConnectGetAllDomainStats: AllDomainStatsArgs => AllDomainStatsRet [hand connect_get_all_domain_stats];
            DomainBlockStats: DomainPathArgs => BlockStatsRet [call |dom, path| domain_block_stats(&dom, &path)];
            DomainBlockStatsFlags: BlockStatsFlagsArgs => BlockStatsFlagsRet [hand domain_block_stats_flags];
            DomainInterfaceStats: DomainPathArgs => InterfaceStatsRet [call |dom, path| domain_interface_stats(&dom, &path)];
            DomainGetBlockInfo: DomainPathFlagsArgs => BlockInfoRet [call |dom, path, flags| domain_get_block_info(&dom, &path, flags)];
            NodeGetCpuStats: NodeCpuStatsArgs => NodeCpuStatsRet [hand node_get_cpu_stats];
            DomainInterfaceAddresses: InterfaceAddressesArgs => InterfaceAddressesRet [hand domain_interface_addresses];
            DomainGetFsinfo: DomainFlagsArgs => FsInfoRet [hand domain_get_fsinfo];
            DomainGetHostname: DomainFlagsArgs => StringRet [call |dom, flags| domain_get_hostname(&dom, flags)];
            DomainGetIothreadInfo: DomainFlagsArgs => IothreadInfoRet [hand domain_get_iothread_info];
            DomainGetCpuStats: CpuStatsArgs => CpuStatsRet [hand domain_get_cpu_stats];
            DomainGetJobInfo: DomainArgs => JobInfoRet [hand domain_get_job_info];
            DomainGetJobStats: DomainFlagsArgs => JobStatsRet [hand domain_get_job_stats];
            ConnectGetDomainCapabilities: DomainCapabilitiesArgs => StringRet [hand get_domain_capabilities];
            // tunables
            DomainGetMemoryParameters: TunablesGetArgs => TunablesGetRet [hand domain_get_tunables];
            DomainSetMemoryParameters: TunablesSetArgs => () [hand domain_set_tunables];
            DomainGetBlkioParameters: TunablesGetArgs => TunablesGetRet [hand domain_get_tunables];
            DomainSetBlkioParameters: TunablesSetArgs => () [hand domain_set_tunables];
            DomainGetNumaParameters: TunablesGetArgs => TunablesGetRet [hand domain_get_tunables];
            DomainSetNumaParameters: TunablesSetArgs => () [hand domain_set_tunables];
            DomainSetSchedulerParameters: SchedulerSetArgs => () [hand domain_set_tunables];
            DomainSetSchedulerParametersFlags: TunablesSetArgs => () [hand domain_set_tunables];
            DomainPinVcpu: PinVcpuArgs => () [call |dom, vcpu, cpumap| domain_pin_vcpu(&dom, vcpu, cpumap.0, 0)];
            DomainPinVcpuFlags: PinVcpuFlagsArgs => () [call |dom, vcpu, cpumap, flags| domain_pin_vcpu(&dom, vcpu, cpumap.0, flags)];
            DomainGetEmulatorPinInfo: EmulatorPinInfoArgs => EmulatorPinInfoRet [hand domain_get_emulator_pin_info];
            DomainPinEmulator: PinEmulatorArgs => () [call |dom, cpumap, flags| domain_pin_emulator(&dom, cpumap.0, flags)];
            DomainGetPerfEvents: DomainFlagsArgs => PerfEventsRet [hand domain_get_tunables];
            DomainSetPerfEvents: PerfEventsSetArgs => () [hand domain_set_tunables];
            DomainGetTime: DomainFlagsArgs => DomainGetTimeRet [call |dom, flags| domain_get_time(&dom, flags)];
            DomainSetTime: DomainSetTimeArgs => () [call |dom, seconds, nseconds, flags| domain_set_time(&dom, seconds, nseconds, flags)];
            DomainGetBlockIoTune: BlockIoTuneGetArgs => BlockIoTuneGetRet [hand domain_get_block_io_tune];
            DomainSetBlockIoTune: BlockIoTuneSetArgs => () [call |dom, disk, params, flags| domain_set_block_io_tune(&dom, disk, params.0, flags)];
            ConnectDomainEventRegisterAny: IntArgs => () [conn read];
            ConnectDomainEventDeregisterAny: IntArgs => () [conn read];
            ConnectDomainEventCallbackRegisterAny: CallbackRegisterArgs => IntRet [conn read];
            ConnectDomainEventCallbackDeregisterAny: IntArgs => () [conn read];
            DomainEventLifecycle: LifecycleMsg => () [event];
            DomainEventCallbackLifecycle: CallbackLifecycleMsg => () [event];
            DomainEventCallbackMetadataChange: CallbackMetadataChangeMsg => () [event];
            DomainSetMetadata: DomainSetMetadataArgs => () [call |dom, kind, metadata, key, uri, flags| domain_set_metadata(&dom, kind, metadata.as_deref(), key.as_deref(), uri.as_deref(), flags)];
            DomainGetMetadata: DomainGetMetadataArgs => StringRet [call |dom, kind, uri, flags| domain_get_metadata(&dom, kind, uri.as_deref(), flags)];
            DomainEventDeviceRemoved: DeviceRemovedMsg => () [event];
            DomainEventCallbackDeviceRemoved: CallbackDeviceRemovedMsg => () [event];
            DomainEventCallbackAgentLifecycle: CallbackAgentLifecycleMsg => () [event];
            // domain snapshots
            DomainSnapshotCreateXml: SnapshotCreateXmlArgs => SnapshotRet [call |dom, xml_desc, flags| domain_snapshot_create_xml(&dom, &xml_desc, flags)];
            DomainSnapshotGetXmlDesc: SnapshotFlagsArgs => StringRet [call |snap, flags| domain_snapshot_get_xml_desc(&snap, flags)];
            DomainSnapshotListNames: SnapshotListNamesArgs => SnapshotNamesRet [hand domain_list_all_snapshots];
            DomainSnapshotLookupByName: SnapshotLookupByNameArgs => SnapshotRet [call |dom, name, flags| domain_snapshot_lookup_by_name(&dom, &name, flags)];
            DomainHasCurrentSnapshot: DomainFlagsArgs => IntRet [call |dom, flags| domain_has_current_snapshot(&dom, flags)];
            DomainSnapshotCurrent: DomainFlagsArgs => SnapshotRet [call |dom, flags| domain_snapshot_current(&dom, flags)];
            DomainRevertToSnapshot: SnapshotFlagsArgs => () [call |snap, flags| domain_revert_to_snapshot(&snap, flags)];
            DomainSnapshotDelete: SnapshotFlagsArgs => () [call |snap, flags| domain_snapshot_delete(&snap, flags)];
            DomainSnapshotGetParent: SnapshotFlagsArgs => SnapshotRet [call |snap, flags| domain_snapshot_get_parent(&snap, flags)];
            DomainSnapshotNumChildren: SnapshotFlagsArgs => IntRet [hand domain_snapshot_list_all_children];
            DomainSnapshotListChildrenNames: SnapshotListChildrenNamesArgs => SnapshotNamesRet [hand domain_snapshot_list_all_children];
            DomainListAllSnapshots: ListAllSnapshotsArgs => ListAllSnapshotsRet [hand domain_list_all_snapshots];
            DomainSnapshotListAllChildren: SnapshotListAllChildrenArgs => ListAllSnapshotsRet [hand domain_snapshot_list_all_children];
            DomainSnapshotIsCurrent: SnapshotFlagsArgs => IntRet [call |snap, flags| domain_snapshot_is_current(&snap, flags)];
            DomainSnapshotHasMetadata: SnapshotFlagsArgs => IntRet [call |snap, flags| domain_snapshot_has_metadata(&snap, flags)];
            DomainRename: DomainRenameArgs => IntRet [hand domain_rename];
            DomainManagedSave: DomainFlagsArgs => () [call |dom, flags| domain_managed_save(&dom, flags)];
            DomainManagedSaveRemove: DomainFlagsArgs => () [call |dom, flags| domain_managed_save_remove(&dom, flags)];
            DomainManagedSaveGetXmlDesc: DomainFlagsArgs => StringRet [call |dom, flags| domain_managed_save_get_xml_desc(&dom, flags)];
            DomainManagedSaveDefineXml: ManagedSaveDefineXmlArgs => () [call |dom, dxml, flags| domain_managed_save_define_xml(&dom, dxml.as_deref(), flags)];
            DomainSave: DomainPathArgs => () [call |dom, path| domain_save(&dom, &path, None, 0)];
            DomainSaveFlags: DomainSaveFlagsArgs => () [call |dom, to, dxml, flags| domain_save(&dom, &to, dxml.as_deref(), flags)];
            DomainRestore: StringArgs => () [call |value| domain_restore(&value, None, 0)];
            DomainRestoreFlags: DomainRestoreFlagsArgs => () [call |from, dxml, flags| domain_restore(&from, dxml.as_deref(), flags)];
            DomainSaveImageGetXmlDesc: StringFlagsArgs => StringRet [call |value, flags| domain_save_image_get_xml_desc(&value, flags)];
            DomainSaveImageDefineXml: SaveImageDefineXmlArgs => () [call |file, dxml, flags| domain_save_image_define_xml(&file, &dxml, flags)];
            // devices
            DomainAttachDevice: DomainDeviceArgs => () [call |dom, xml| domain_attach_device(&dom, &xml, crate::driver::flags::AFFECT_LIVE)];
            DomainAttachDeviceFlags: DomainDeviceFlagsArgs => () [call |dom, xml, flags| domain_attach_device(&dom, &xml, flags)];
            DomainDetachDevice: DomainDeviceArgs => () [call |dom, xml| domain_detach_device(&dom, &xml, crate::driver::flags::AFFECT_LIVE)];
            DomainDetachDeviceFlags: DomainDeviceFlagsArgs => () [call |dom, xml, flags| domain_detach_device(&dom, &xml, flags)];
            DomainUpdateDeviceFlags: DomainDeviceFlagsArgs => () [call |dom, xml, flags| domain_update_device(&dom, &xml, flags)];
            DomainDetachDeviceAlias: DomainDetachAliasArgs => () [call |dom, alias, flags| domain_detach_device_alias(&dom, &alias, flags)];
            DomainSendKey: DomainSendKeyArgs => () [call |dom, codeset, holdtime, keycodes, flags| domain_send_key(&dom, codeset, holdtime, keycodes.0, flags)];

            ConnectListAllNetworks: ListAllArgs => ListAllNetworksRet [hand list_all_networks];
            ConnectNumOfNetworks: () => IntRet [hand list_all_networks];
            ConnectListNetworks: IntArgs => NetworkNamesRet [hand list_all_networks];
            ConnectNumOfDefinedNetworks: () => IntRet [hand list_all_networks];
            ConnectListDefinedNetworks: IntArgs => NetworkNamesRet [hand list_all_networks];
            NetworkLookupByName: StringArgs => NetworkRet [call |value| network_lookup_by_name(&value)];
            NetworkLookupByUuid: UuidArgs => NetworkRet [call |uuid| network_lookup_by_uuid(&uuid)];
            NetworkCreateXml: StringArgs => NetworkRet [call |value| network_create_xml(&value, 0)];
            NetworkDefineXml: StringArgs => NetworkRet [call |value| network_define_xml(&value, 0)];
            NetworkDefineXmlFlags: StringFlagsArgs => NetworkRet [call |value, flags| network_define_xml(&value, flags)];
            NetworkCreate: NetworkArgs => () [call |net| network_create(&net)];
            NetworkDestroy: NetworkArgs => () [call |net| network_destroy(&net)];
            NetworkUndefine: NetworkArgs => () [call |net| network_undefine(&net)];
            NetworkGetXmlDesc: NetworkFlagsArgs => StringRet [call |net, flags| network_get_xml_desc(&net, flags)];
            NetworkGetBridgeName: NetworkArgs => StringRet [call |net| network_get_bridge_name(&net)];
            NetworkGetAutostart: NetworkArgs => IntRet [call |net| network_get_autostart(&net)];
            NetworkSetAutostart: NetworkIntArgs => () [call |net, value| network_set_autostart(&net, value != 0)];
            NetworkIsActive: NetworkArgs => IntRet [call |net| network_is_active(&net)];
            NetworkIsPersistent: NetworkArgs => IntRet [call |net| network_is_persistent(&net)];
            NetworkUpdate: NetworkUpdateArgs => () [call |net, command, section, parent_index, xml, flags| network_update(&net, command, section, parent_index, &xml, flags)];
            NetworkGetDhcpLeases: NetworkGetDhcpLeasesArgs => NetworkGetDhcpLeasesRet [hand network_get_dhcp_leases];
            ConnectNetworkEventRegisterAny: NetworkEventRegisterArgs => IntRet [conn read];
            ConnectNetworkEventDeregisterAny: IntArgs => () [conn read];
            NetworkEventLifecycle: NetworkEventLifecycleMsg => () [event];

            ConnectListAllStoragePools: ListAllArgs => ListAllPoolsRet [hand list_all_storage_pools];
            ConnectNumOfStoragePools: () => IntRet [hand list_all_storage_pools];
            ConnectListStoragePools: IntArgs => PoolNamesRet [hand list_all_storage_pools];
            ConnectNumOfDefinedStoragePools: () => IntRet [hand list_all_storage_pools];
            ConnectListDefinedStoragePools: IntArgs => PoolNamesRet [hand list_all_storage_pools];
            StoragePoolLookupByName: StringArgs => PoolRet [call |value| pool_lookup_by_name(&value)];
            StoragePoolLookupByUuid: UuidArgs => PoolRet [call |uuid| pool_lookup_by_uuid(&uuid)];
            StoragePoolLookupByVolume: VolArgs => PoolRet [call |vol| pool_lookup_by_volume(&vol)];
            StoragePoolCreateXml: StringFlagsArgs => PoolRet [call |value, flags| pool_create_xml(&value, flags)];
            StoragePoolDefineXml: StringFlagsArgs => PoolRet [call |value, flags| pool_define_xml(&value, flags)];
            StoragePoolBuild: PoolFlagsArgs => () [call |pool, flags| pool_build(&pool, flags)];
            StoragePoolCreate: PoolFlagsArgs => () [call |pool, flags| pool_create(&pool, flags)];
            StoragePoolDestroy: PoolArgs => () [call |pool| pool_destroy(&pool)];
            StoragePoolUndefine: PoolArgs => () [call |pool| pool_undefine(&pool)];
            StoragePoolRefresh: PoolFlagsArgs => () [call |pool, flags| pool_refresh(&pool, flags)];
            StoragePoolGetInfo: PoolArgs => PoolGetInfoRet [call |pool| pool_get_info(&pool)];
            StoragePoolGetXmlDesc: PoolFlagsArgs => StringRet [call |pool, flags| pool_get_xml_desc(&pool, flags)];
            StoragePoolGetAutostart: PoolArgs => IntRet [call |pool| pool_get_autostart(&pool)];
            StoragePoolSetAutostart: PoolIntArgs => () [call |pool, value| pool_set_autostart(&pool, value != 0)];
            StoragePoolIsActive: PoolArgs => IntRet [call |pool| pool_is_active(&pool)];
            StoragePoolIsPersistent: PoolArgs => IntRet [call |pool| pool_is_persistent(&pool)];
            StoragePoolNumOfVolumes: PoolArgs => IntRet [hand pool_list_all_volumes];
            StoragePoolListVolumes: PoolIntArgs => VolNamesRet [hand pool_list_all_volumes];
            StoragePoolListAllVolumes: PoolListAllArgs => ListAllVolumesRet [hand pool_list_all_volumes];

            StorageVolLookupByName: PoolStringArgs => VolRet [call |pool, value| vol_lookup_by_name(&pool, &value)];
            StorageVolLookupByKey: StringArgs => VolRet [call |value| vol_lookup_by_key(&value)];
            StorageVolLookupByPath: StringArgs => VolRet [call |value| vol_lookup_by_path(&value)];
            StorageVolCreateXml: PoolStringFlagsArgs => VolRet [call |pool, value, flags| vol_create_xml(&pool, &value, flags)];
            StorageVolDelete: VolFlagsArgs => () [call |vol, flags| vol_delete(&vol, flags)];
            StorageVolResize: VolResizeArgs => () [call |vol, capacity, flags| vol_resize(&vol, capacity, flags)];
            StorageVolGetInfo: VolArgs => VolGetInfoRet [call |vol| vol_get_info(&vol)];
            StorageVolGetPath: VolArgs => StringRet [call |vol| vol_get_path(&vol)];
            StorageVolGetXmlDesc: VolFlagsArgs => StringRet [call |vol, flags| vol_get_xml_desc(&vol, flags)];
            StoragePoolDelete: PoolFlagsArgs => () [call |pool, flags| pool_delete(&pool, flags)];
            StoragePoolLookupByTargetPath: StringArgs => PoolRet [call |value| pool_lookup_by_target_path(&value)];
            StorageVolCreateXmlFrom: VolCreateXmlFromArgs => VolRet [call |pool, xml, clonevol, flags| vol_create_xml_from(&pool, &xml, &clonevol, flags)];
            StorageVolWipe: VolFlagsArgs => () [call |vol, flags| vol_wipe(&vol, flags)];
            StorageVolWipePattern: VolWipePatternArgs => () [call |vol, algorithm, flags| vol_wipe_pattern(&vol, algorithm, flags)];
            StorageVolGetInfoFlags: VolFlagsArgs => VolGetInfoRet [call |vol, flags| vol_get_info_flags(&vol, flags)];
            ConnectStoragePoolEventRegisterAny: PoolEventRegisterArgs => IntRet [conn read];
            ConnectStoragePoolEventDeregisterAny: IntArgs => () [conn read];
            StoragePoolEventLifecycle: PoolLifecycleMsg => () [event];
            StoragePoolEventRefresh: PoolRefreshMsg => () [event];

            // host interfaces, sysinfo, CPU model names
            ConnectGetSysinfo: FlagsArgs => StringRet [call |flags| get_sysinfo(flags)];
            ConnectGetCpuModelNames: CpuModelNamesArgs => CpuModelNamesRet [hand get_cpu_model_names];
            ConnectListAllInterfaces: ListAllArgs => ListAllInterfacesRet [hand list_all_interfaces];
            ConnectNumOfInterfaces: () => IntRet [hand list_all_interfaces];
            ConnectListInterfaces: IntArgs => InterfaceNamesRet [hand list_all_interfaces];
            ConnectNumOfDefinedInterfaces: () => IntRet [hand list_all_interfaces];
            ConnectListDefinedInterfaces: IntArgs => InterfaceNamesRet [hand list_all_interfaces];
            InterfaceLookupByName: StringArgs => InterfaceRet [call |value| interface_lookup_by_name(&value)];
            InterfaceLookupByMacString: StringArgs => InterfaceRet [call |value| interface_lookup_by_mac_string(&value)];
            InterfaceGetXmlDesc: InterfaceFlagsArgs => StringRet [call |iface, flags| interface_get_xml_desc(&iface, flags)];
            InterfaceDefineXml: StringFlagsArgs => InterfaceRet [call |value, flags| interface_define_xml(&value, flags)];
            InterfaceUndefine: InterfaceArgs => () [call |iface| interface_undefine(&iface)];
            InterfaceCreate: InterfaceFlagsArgs => () [call |iface, flags| interface_create(&iface, flags)];
            InterfaceDestroy: InterfaceFlagsArgs => () [call |iface, flags| interface_destroy(&iface, flags)];
            InterfaceIsActive: InterfaceArgs => IntRet [call |iface| interface_is_active(&iface)];
            InterfaceChangeBegin: FlagsArgs => () [call |flags| interface_change_begin(flags)];
            InterfaceChangeCommit: FlagsArgs => () [call |flags| interface_change_commit(flags)];
            InterfaceChangeRollback: FlagsArgs => () [call |flags| interface_change_rollback(flags)];
            // node devices
            ConnectListAllNodeDevices: ListAllArgs => ListAllNodeDevicesRet [hand list_all_node_devices];
            NodeNumOfDevices: NodeNumOfDevicesArgs => IntRet [call |cap, flags| node_num_of_devices(cap.as_deref(), flags)];
            NodeListDevices: NodeListDevicesArgs => NodeDeviceNamesRet [hand node_list_devices];
            NodeDeviceLookupByName: StringArgs => StringRet [call |value| node_device_lookup_by_name(&value)];
            NodeDeviceLookupScsiHostByWwn: WwnArgs => StringRet [call |wwnn, wwpn, flags| node_device_lookup_scsi_host_by_wwn(&wwnn, &wwpn, flags)];
            NodeDeviceGetXmlDesc: StringFlagsArgs => StringRet [call |value, flags| node_device_get_xml_desc(&value, flags)];
            NodeDeviceGetParent: StringArgs => OptStringRet [call |value| node_device_get_parent(&value)];
            NodeDeviceNumOfCaps: StringArgs => IntRet [call |value| node_device_num_of_caps(&value)];
            NodeDeviceListCaps: NodeDeviceListCapsArgs => NodeDeviceCapsRet [hand node_device_list_caps];
            NodeDeviceIsActive: StringArgs => IntRet [call |value| node_device_is_active(&value)];
            NodeDeviceIsPersistent: StringArgs => IntRet [call |value| node_device_is_persistent(&value)];
            NodeDeviceGetAutostart: StringArgs => IntRet [call |value| node_device_get_autostart(&value)];

            // secrets
            ConnectListAllSecrets: ListAllArgs => ListAllSecretsRet [hand list_all_secrets];
            ConnectNumOfSecrets: () => IntRet [hand list_all_secrets];
            ConnectListSecrets: IntArgs => SecretUuidsRet [hand list_all_secrets];
            SecretLookupByUuid: UuidArgs => SecretRet [call |uuid| secret_lookup_by_uuid(&uuid)];
            SecretLookupByUsage: SecretLookupByUsageArgs => SecretRet [call |usage_type, usage_id| secret_lookup_by_usage(usage_type, &usage_id)];
            SecretDefineXml: StringFlagsArgs => SecretRet [call |value, flags| secret_define_xml(&value, flags)];
            SecretGetXmlDesc: SecretFlagsArgs => StringRet [call |secret, flags| secret_get_xml_desc(&secret, flags)];
            SecretSetValue: SecretSetValueArgs => () [call |secret, value, flags| secret_set_value(&secret, &value.0, flags)];
            SecretGetValue: SecretFlagsArgs => SecretGetValueRet [hand secret_get_value];
            SecretUndefine: SecretArgs => () [call |secret| secret_undefine(&secret)];
            ConnectSecretEventRegisterAny: SecretEventRegisterArgs => IntRet [conn read];
            ConnectSecretEventDeregisterAny: IntArgs => () [conn read];
            SecretEventLifecycle: SecretLifecycleMsg => () [event];
            SecretEventValueChanged: SecretValueChangedMsg => () [event];

            // network filters and their bindings
            ConnectListAllNwfilters: ListAllArgs => ListAllNwFiltersRet [hand list_all_nwfilters];
            ConnectNumOfNwfilters: () => IntRet [hand list_all_nwfilters];
            ConnectListNwfilters: IntArgs => NwFilterNamesRet [hand list_all_nwfilters];
            NwfilterLookupByName: StringArgs => NwFilterRet [call |value| nwfilter_lookup_by_name(&value)];
            NwfilterLookupByUuid: UuidArgs => NwFilterRet [call |uuid| nwfilter_lookup_by_uuid(&uuid)];
            NwfilterDefineXml: StringArgs => NwFilterRet [call |value| nwfilter_define_xml(&value, 0)];
            NwfilterDefineXmlFlags: StringFlagsArgs => NwFilterRet [call |value, flags| nwfilter_define_xml(&value, flags)];
            NwfilterUndefine: NwFilterArgs => () [call |nwfilter| nwfilter_undefine(&nwfilter)];
            NwfilterGetXmlDesc: NwFilterFlagsArgs => StringRet [call |nwfilter, flags| nwfilter_get_xml_desc(&nwfilter, flags)];
            ConnectListAllNwfilterBindings: ListAllArgs => ListAllNwFilterBindingsRet [hand list_all_nwfilter_bindings];
            NwfilterBindingLookupByPortDev: StringArgs => NwFilterBindingRet [call |value| nwfilter_binding_lookup_by_port_dev(&value)];
            NwfilterBindingCreateXml: StringFlagsArgs => NwFilterBindingRet [call |value, flags| nwfilter_binding_create_xml(&value, flags)];
            NwfilterBindingDelete: NwFilterBindingArgs => () [call |nwfilter| nwfilter_binding_delete(&nwfilter)];
            NwfilterBindingGetXmlDesc: NwFilterBindingFlagsArgs => StringRet [call |nwfilter, flags| nwfilter_binding_get_xml_desc(&nwfilter, flags)];
            // streams
            StorageVolUpload: VolTransferArgs => () [hand vol_upload];
            StorageVolDownload: VolTransferArgs => () [hand vol_download];
            DomainScreenshot: ScreenshotArgs => ScreenshotRet [hand domain_screenshot];
            DomainOpenConsole: OpenConsoleArgs => () [hand domain_open_console];
            // guest control: the balloon's period, control state, messages, disk errors, file systems, users,
            // signals, lifecycle actions, launch security, core dumps; the host's free pages
            DomainSetMemoryStatsPeriod: DomainSetMemoryStatsPeriodArgs => () [call |dom, period, flags| domain_set_memory_stats_period(&dom, period, flags)];
            DomainGetControlInfo: DomainFlagsArgs => DomainControlInfoRet [call |dom, flags| domain_get_control_info(&dom, flags)];
            DomainGetDiskErrors: DomainDiskErrorsArgs => DomainDiskErrorsRet [call |dom, maxerrors, flags| domain_get_disk_errors(&dom, maxerrors, flags)];
            DomainFsfreeze: DomainFsFreezeArgs => IntRet [call |dom, mountpoints, flags| domain_fs_freeze(&dom, mountpoints.0, flags)];
            DomainFsthaw: DomainFsFreezeArgs => IntRet [call |dom, mountpoints, flags| domain_fs_thaw(&dom, mountpoints.0, flags)];
            DomainFstrim: DomainFsTrimArgs => () [call |dom, mount_point, minimum, flags| domain_fs_trim(&dom, mount_point.as_deref(), minimum, flags)];
            DomainSetUserPassword: DomainSetUserPasswordArgs => () [call |dom, user, password, flags| domain_set_user_password(&dom, user.as_deref(), password.as_deref(), flags)];
            DomainSendProcessSignal: DomainSendProcessSignalArgs => () [call |dom, pid_value, signum, flags| domain_send_process_signal(&dom, pid_value, signum, flags)];
            DomainSetLifecycleAction: DomainSetLifecycleActionArgs => () [call |dom, kind, action, flags| domain_set_lifecycle_action(&dom, kind, action, flags)];
            DomainGetLaunchSecurityInfo: DomainFlagsArgs => LaunchSecurityInfoRet [call |dom, flags| domain_get_launch_security_info(&dom, flags)];
            DomainCoreDump: DomainCoreDumpArgs => () [call |dom, to, flags| domain_core_dump(&dom, &to, 0, flags)];
            DomainCoreDumpWithFormat: DomainCoreDumpWithFormatArgs => () [call |dom, to, dumpformat, flags| domain_core_dump(&dom, &to, dumpformat, flags)];
            NodeGetFreePages: NodeGetFreePagesArgs => NodeGetFreePagesRet [call |pages, start_cell, cell_count, flags| node_get_free_pages(pages.0, start_cell, cell_count, flags)];
            DomainGetGuestInfo: DomainGetGuestInfoArgs => DomainGetGuestInfoRet [call |dom, types, flags| domain_get_guest_info(&dom, types, flags)];
            DomainAgentSetResponseTimeout: DomainAgentSetResponseTimeoutArgs => IntRet [call |dom, timeout, flags| domain_agent_set_response_timeout(&dom, timeout, flags)];
            DomainGetGuestVcpus: DomainGetGuestVcpusArgs => DomainGetGuestVcpusRet [call |dom, flags| domain_get_guest_vcpus(&dom, flags)];
            DomainSetGuestVcpus: DomainSetGuestVcpusArgs => () [call |dom, cpumap, state, flags| domain_set_guest_vcpus(&dom, &cpumap, state, flags)];
            NetworkCreateXmlFlags: StringFlagsArgs => NetworkRet [call |value, flags| network_create_xml(&value, flags)];
            // migration
            DomainMigrateBegin3Params: MigrateBegin3ParamsArgs => MigrateBegin3ParamsRet [hand domain_migrate_begin3_params];
            DomainMigratePrepare3Params: MigratePrepare3ParamsArgs => MigratePrepare3ParamsRet [hand domain_migrate_prepare3_params];
            DomainMigratePerform3Params: MigratePerform3ParamsArgs => MigrateCookieRet [hand domain_migrate_perform3_params];
            DomainMigrateFinish3Params: MigrateFinish3ParamsArgs => MigrateFinish3ParamsRet [hand domain_migrate_finish3_params];
            DomainMigrateConfirm3Params: MigrateConfirm3ParamsArgs => () [hand domain_migrate_confirm3_params];
            DomainMigratePrepareTunnel3Params: MigratePrepareTunnel3ParamsArgs => MigrateCookieRet [hand domain_migrate_prepare_tunnel3_params];
            DomainAbortJob: DomainArgs => () [call |dom| domain_abort_job(&dom)];
            DomainMigrateSetMaxSpeed: DomainU64FlagsArgs => () [call |dom, value, flags| domain_migrate_set_max_speed(&dom, value, flags)];
            DomainMigrateGetMaxSpeed: DomainFlagsArgs => U64Ret [call |dom, flags| domain_migrate_get_max_speed(&dom, flags)];
            DomainMigrateSetMaxDowntime: DomainU64FlagsArgs => () [call |dom, value, flags| domain_migrate_set_max_downtime(&dom, value, flags)];
            DomainMigrateGetMaxDowntime: DomainFlagsArgs => U64Ret [call |dom, flags| domain_migrate_get_max_downtime(&dom, flags)];
        }
    };
}
pub(crate) use remote_procedure_table;

remote_procedure_table!(remote_procedures);

#[cfg(test)]
mod tests {
    use super::super::xdr::{Array, FixedChars, Opaque, Writer};
    use super::*;
    use crate::driver::{TypedParam, TypedValue, VcpuInfo};

    #[test]
    fn every_codec_names_a_known_procedure() {
        let known = (1..=Procedure::COUNT)
            .map(Procedure::from_number)
            .filter(|p| has_codec(*p))
            .count();
        assert_eq!(known, 311);
        assert!(!has_codec(Procedure::DomainGetBlockJobInfo));
        assert!(!has_codec(Procedure::Unknown(9999)));
    }

    #[test]
    fn typed_params_round_trip_every_type_and_refuse_unknown_ones() {
        let values = [
            TypedValue::Int(-5),
            TypedValue::UInt(50),
            TypedValue::LLong(-1 << 40),
            TypedValue::ULLong(1 << 40),
            TypedValue::Double(0.25),
            TypedValue::Boolean(true),
            TypedValue::String("fair".into()),
        ];
        let ret = SchedulerParamsRet {
            params: Array(
                values
                    .into_iter()
                    .map(|value| TypedParam {
                        field: "weight".into(),
                        value,
                    })
                    .collect(),
            ),
        };
        assert_eq!(SchedulerParamsRet::from_bytes(&ret.to_bytes()), Ok(ret));
        // "weight", UINT 50: name length, name padded to 8, type, value.
        let one = TypedParam {
            field: "weight".into(),
            value: TypedValue::UInt(50),
        };
        assert_eq!(one.to_bytes().len(), 4 + 8 + 4 + 4);
        let mut bad = one.to_bytes();
        bad[15] = 9;
        assert!(TypedParam::from_bytes(&bad).is_err());
    }

    #[test]
    fn vcpu_info_and_cpumaps_keep_their_layout_and_caps() {
        let ret = DomainGetVcpusRet {
            info: Array(vec![VcpuInfo {
                number: 0,
                state: 1,
                cpu_time_ns: 7,
                cpu: 15,
            }]),
            cpumaps: Opaque(vec![0xff, 0xff]),
        };
        // count + 20-byte info + count + 2 bytes padded to 4.
        assert_eq!(ret.to_bytes().len(), 4 + 20 + 4 + 4);
        assert_eq!(DomainGetVcpusRet::from_bytes(&ret.to_bytes()), Ok(ret));
        let mut too_many = Writer::new();
        too_many.u32(VCPUINFO_MAX + 1);
        assert!(DomainGetVcpusRet::from_bytes(&too_many.into_bytes()).is_err());
    }

    #[test]
    fn node_info_model_is_128_bytes() {
        let ret = NodeGetInfoRet {
            model: FixedChars::from_text("i686"),
            memory: 3_145_728,
            cpus: 16,
            mhz: 1400,
            nodes: 2,
            sockets: 2,
            cores: 2,
            threads: 2,
        };
        assert_eq!(ret.to_bytes().len(), 160);
        assert_eq!(NodeGetInfoRet::from_bytes(&ret.to_bytes()), Ok(ret));
    }
}
