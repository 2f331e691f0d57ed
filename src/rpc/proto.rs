//! The REMOTE program's payloads as typed structs (a hand mirror of `schemas/remote.x` and `schemas/virnet.x`),
//! and the table tying each implemented procedure to its argument and return types.

use super::procedures::Procedure;
pub use super::proto_ifaces::*;
use super::proto_snapshots::*;
use super::proto_tunables::*;
use super::xdr::{xdr_struct, Array, CharArray, FixedChars, Opaque, Reader, Writer, Xdr, XdrError};
use crate::driver::{
    DomainRef, MemoryStat, NetworkRef, PoolRef, TypedParam, TypedValue, VcpuInfo, VolumeRef,
};
// stats lane: its payloads live in proto_stats.rs
pub use super::proto_stats::*;

// The array caps live below every payload file, which all use them.
pub use super::proto_consts::*;

/// `remote_auth_type`.
pub mod auth_type {
    pub const NONE: i32 = 0;
    pub const SASL: i32 = 1;
    pub const POLKIT: i32 = 2;
}

/// `virDrvFeature` numbers clients ask CONNECT_SUPPORTS_FEATURE about.
pub mod feature {
    pub const FD_PASSING: i32 = 8;
    pub const TYPED_PARAM_STRING: i32 = 9;
    pub const PROGRAM_KEEPALIVE: i32 = 10;
    pub const REMOTE_EVENT_CALLBACK: i32 = 14;
    pub const REMOTE_CLOSE_CALLBACK: i32 = 15;
}

/// `remote_nonnull_domain`.
impl Xdr for DomainRef {
    const MIN_SIZE: usize = 24;
    fn encode(&self, w: &mut Writer) {
        self.name.encode(w);
        self.uuid.encode(w);
        self.id.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            name: String::decode(r)?,
            uuid: uuid::Uuid::decode(r)?,
            id: i32::decode(r)?,
        })
    }
}

/// `remote_nonnull_network`.
impl Xdr for NetworkRef {
    const MIN_SIZE: usize = 20;
    fn encode(&self, w: &mut Writer) {
        self.name.encode(w);
        self.uuid.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            name: String::decode(r)?,
            uuid: uuid::Uuid::decode(r)?,
        })
    }
}

/// `remote_nonnull_storage_pool`.
impl Xdr for PoolRef {
    const MIN_SIZE: usize = 20;
    fn encode(&self, w: &mut Writer) {
        self.name.encode(w);
        self.uuid.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            name: String::decode(r)?,
            uuid: uuid::Uuid::decode(r)?,
        })
    }
}

/// `remote_nonnull_storage_vol`.
impl Xdr for VolumeRef {
    const MIN_SIZE: usize = 12;
    fn encode(&self, w: &mut Writer) {
        self.pool.encode(w);
        self.name.encode(w);
        self.key.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            pool: String::decode(r)?,
            name: String::decode(r)?,
            key: String::decode(r)?,
        })
    }
}

/// `remote_vcpu_info`.
impl Xdr for VcpuInfo {
    const MIN_SIZE: usize = 20;
    fn encode(&self, w: &mut Writer) {
        self.number.encode(w);
        self.state.encode(w);
        self.cpu_time_ns.encode(w);
        self.cpu.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            number: u32::decode(r)?,
            state: i32::decode(r)?,
            cpu_time_ns: u64::decode(r)?,
            cpu: i32::decode(r)?,
        })
    }
}

/// `remote_typed_param`: the field name, then the value as a union discriminated by `VIR_TYPED_PARAM_*`.
impl Xdr for TypedParam {
    const MIN_SIZE: usize = 12;
    fn encode(&self, w: &mut Writer) {
        self.field.encode(w);
        match &self.value {
            TypedValue::Int(v) => {
                w.i32(1);
                w.i32(*v);
            }
            TypedValue::UInt(v) => {
                w.i32(2);
                w.u32(*v);
            }
            TypedValue::LLong(v) => {
                w.i32(3);
                w.i64(*v);
            }
            TypedValue::ULLong(v) => {
                w.i32(4);
                w.u64(*v);
            }
            TypedValue::Double(v) => {
                w.i32(5);
                w.u64(v.to_bits());
            }
            TypedValue::Boolean(v) => {
                w.i32(6);
                w.i32(i32::from(*v));
            }
            TypedValue::String(v) => {
                w.i32(7);
                v.encode(w);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        let field = String::decode(r)?;
        let value = match r.i32()? {
            1 => TypedValue::Int(r.i32()?),
            2 => TypedValue::UInt(r.u32()?),
            3 => TypedValue::LLong(r.i64()?),
            4 => TypedValue::ULLong(r.u64()?),
            5 => TypedValue::Double(f64::from_bits(r.u64()?)),
            6 => TypedValue::Boolean(r.i32()? != 0),
            7 => TypedValue::String(String::decode(r)?),
            other => {
                return Err(XdrError::Discriminant(u32::from_be_bytes(
                    other.to_be_bytes(),
                )))
            }
        };
        Ok(Self { field, value })
    }
}

/// `remote_domain_memory_stat`.
impl Xdr for MemoryStat {
    const MIN_SIZE: usize = 12;
    fn encode(&self, w: &mut Writer) {
        self.tag.encode(w);
        self.value.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            tag: i32::decode(r)?,
            value: u64::decode(r)?,
        })
    }
}

xdr_struct! {
    /// `remote_error`: the payload of every REPLY with status ERROR.
    pub struct RemoteError {
        pub code: i32,
        pub domain: i32,
        pub message: Option<String>,
        pub level: i32,
        pub dom: Option<DomainRef>,
        pub str1: Option<String>,
        pub str2: Option<String>,
        pub str3: Option<String>,
        pub int1: i32,
        pub int2: i32,
        pub net: Option<NetworkRef>,
    }
}

// ---- shapes shared by many procedures ----

xdr_struct! { pub struct IntArgs { pub value: i32 } }
xdr_struct! { pub struct IntRet { pub value: i32 } }
xdr_struct! { pub struct U64Ret { pub value: u64 } }
xdr_struct! { pub struct StringArgs { pub value: String } }
xdr_struct! { pub struct StringRet { pub value: String } }
xdr_struct! { pub struct StringFlagsArgs { pub value: String, pub flags: u32 } }
xdr_struct! { pub struct UuidArgs { pub uuid: uuid::Uuid } }
xdr_struct! { pub struct DomainArgs { pub dom: DomainRef } }
xdr_struct! { pub struct DomainFlagsArgs { pub dom: DomainRef, pub flags: u32 } }
xdr_struct! { pub struct DomainIntArgs { pub dom: DomainRef, pub value: i32 } }
xdr_struct! { pub struct DomainU32Args { pub dom: DomainRef, pub value: u32 } }
xdr_struct! { pub struct DomainU32FlagsArgs { pub dom: DomainRef, pub value: u32, pub flags: u32 } }
xdr_struct! { pub struct DomainU64Args { pub dom: DomainRef, pub value: u64 } }
xdr_struct! { pub struct DomainU64FlagsArgs { pub dom: DomainRef, pub value: u64, pub flags: u32 } }
xdr_struct! { pub struct DomainRet { pub dom: DomainRef } }
xdr_struct! { pub struct NetworkArgs { pub net: NetworkRef } }
xdr_struct! { pub struct NetworkFlagsArgs { pub net: NetworkRef, pub flags: u32 } }
xdr_struct! { pub struct NetworkIntArgs { pub net: NetworkRef, pub value: i32 } }
xdr_struct! { pub struct NetworkRet { pub net: NetworkRef } }
xdr_struct! { pub struct PoolArgs { pub pool: PoolRef } }
xdr_struct! { pub struct PoolFlagsArgs { pub pool: PoolRef, pub flags: u32 } }
xdr_struct! { pub struct PoolIntArgs { pub pool: PoolRef, pub value: i32 } }
xdr_struct! { pub struct PoolStringArgs { pub pool: PoolRef, pub value: String } }
xdr_struct! { pub struct PoolStringFlagsArgs { pub pool: PoolRef, pub value: String, pub flags: u32 } }
xdr_struct! { pub struct PoolRet { pub pool: PoolRef } }
xdr_struct! { pub struct VolArgs { pub vol: VolumeRef } }
xdr_struct! { pub struct VolFlagsArgs { pub vol: VolumeRef, pub flags: u32 } }
xdr_struct! { pub struct VolResizeArgs { pub vol: VolumeRef, pub capacity: u64, pub flags: u32 } }
xdr_struct! { pub struct VolRet { pub vol: VolumeRef } }
xdr_struct! { pub struct ListAllArgs { pub need_results: i32, pub flags: u32 } }
xdr_struct! { pub struct PoolListAllArgs { pub pool: PoolRef, pub need_results: i32, pub flags: u32 } }

// ---- procedure-specific shapes ----

xdr_struct! { pub struct ConnectOpenArgs { pub name: Option<String>, pub flags: u32 } }
xdr_struct! {
    /// `virNodeInfo`; `model` is a fixed `char[32]`, 128 bytes on the wire.
    pub struct NodeGetInfoRet {
        pub model: FixedChars<32>,
        pub memory: u64,
        pub cpus: i32,
        pub mhz: i32,
        pub nodes: i32,
        pub sockets: i32,
        pub cores: i32,
        pub threads: i32,
    }
}
xdr_struct! {
    /// `state` is an `unsigned char` and `nr_virt_cpu` an `unsigned short`: 4 bytes each.
    pub struct DomainGetInfoRet {
        pub state: u32,
        pub max_mem: u64,
        pub memory: u64,
        pub nr_virt_cpu: u32,
        pub cpu_time: u64,
    }
}
xdr_struct! { pub struct DomainGetStateRet { pub state: i32, pub reason: i32 } }
xdr_struct! {
    pub struct SecurityLabelRet { pub label: CharArray<SECURITY_LABEL_MAX>, pub enforcing: i32 }
}
xdr_struct! {
    pub struct SecurityModelRet { pub model: CharArray<SECURITY_MODEL_MAX>, pub doi: CharArray<SECURITY_DOI_MAX> }
}
xdr_struct! { pub struct ListAllDomainsRet { pub domains: Array<DomainRef, DOMAIN_LIST_MAX>, pub ret: u32 } }
xdr_struct! { pub struct ListAllNetworksRet { pub nets: Array<NetworkRef, NETWORK_LIST_MAX>, pub ret: u32 } }
xdr_struct! { pub struct ListAllPoolsRet { pub pools: Array<PoolRef, STORAGE_POOL_LIST_MAX>, pub ret: u32 } }
xdr_struct! { pub struct ListAllVolumesRet { pub vols: Array<VolumeRef, STORAGE_VOL_LIST_MAX>, pub ret: u32 } }
xdr_struct! { pub struct DomainIdsRet { pub ids: Array<i32, DOMAIN_LIST_MAX> } }
xdr_struct! { pub struct DomainNamesRet { pub names: Array<String, DOMAIN_LIST_MAX> } }
xdr_struct! { pub struct NetworkNamesRet { pub names: Array<String, NETWORK_LIST_MAX> } }
xdr_struct! { pub struct PoolNamesRet { pub names: Array<String, STORAGE_POOL_LIST_MAX> } }
xdr_struct! { pub struct VolNamesRet { pub names: Array<String, STORAGE_VOL_LIST_MAX> } }
xdr_struct! {
    /// `state` is an `unsigned char`: 4 bytes.
    pub struct PoolGetInfoRet { pub state: u32, pub capacity: u64, pub allocation: u64, pub available: u64 }
}
xdr_struct! {
    /// `type` is a `char`: 4 bytes.
    pub struct VolGetInfoRet { pub kind: i32, pub capacity: u64, pub allocation: u64 }
}
xdr_struct! { pub struct DomainMessagesRet { pub msgs: Array<String, DOMAIN_MESSAGES_MAX> } }
xdr_struct! { pub struct AuthListRet { pub types: Array<i32, AUTH_TYPE_LIST_MAX> } }
xdr_struct! {
    pub struct AuthSaslStartArgs { pub mech: String, pub nil: i32, pub data: CharArray<AUTH_SASL_DATA_MAX> }
}
xdr_struct! { pub struct AuthSaslStepArgs { pub nil: i32, pub data: CharArray<AUTH_SASL_DATA_MAX> } }
xdr_struct! {
    pub struct AuthSaslRet { pub complete: i32, pub nil: i32, pub data: CharArray<AUTH_SASL_DATA_MAX> }
}
xdr_struct! { pub struct CpuMapArgs { pub need_map: i32, pub need_online: i32, pub flags: u32 } }
xdr_struct! { pub struct CpuMapRet { pub cpumap: Opaque<CPUMAP_MAX>, pub online: u32, pub ret: i32 } }
xdr_struct! { pub struct CellsFreeMemoryArgs { pub start_cell: i32, pub max_cells: i32 } }
xdr_struct! { pub struct CellsFreeMemoryRet { pub cells: Array<u64, NODE_MAX_CELLS> } }
xdr_struct! { pub struct MaxVcpusArgs { pub kind: Option<String> } }
xdr_struct! { pub struct DomainGetVcpusArgs { pub dom: DomainRef, pub max_info: i32, pub map_len: i32 } }
xdr_struct! {
    pub struct DomainGetVcpusRet { pub info: Array<VcpuInfo, VCPUINFO_MAX>, pub cpumaps: Opaque<CPUMAPS_MAX> }
}
xdr_struct! {
    pub struct VcpuPinInfoArgs { pub dom: DomainRef, pub max_maps: i32, pub map_len: i32, pub flags: u32 }
}
xdr_struct! { pub struct VcpuPinInfoRet { pub cpumaps: Opaque<CPUMAPS_MAX>, pub num: i32 } }
xdr_struct! { pub struct SchedulerTypeRet { pub kind: String, pub nparams: i32 } }
xdr_struct! { pub struct SchedulerParamsArgs { pub dom: DomainRef, pub nparams: i32 } }
xdr_struct! { pub struct SchedulerParamsFlagsArgs { pub dom: DomainRef, pub nparams: i32, pub flags: u32 } }
xdr_struct! { pub struct SchedulerParamsRet { pub params: Array<TypedParam, SCHEDULER_PARAMETERS_MAX> } }
xdr_struct! { pub struct DomainMemoryStatsArgs { pub dom: DomainRef, pub max_stats: u32, pub flags: u32 } }
xdr_struct! { pub struct DomainMemoryStatsRet { pub stats: Array<MemoryStat, DOMAIN_MEMORY_STATS_MAX> } }
xdr_struct! { pub struct CallbackRegisterArgs { pub event_id: i32, pub dom: Option<DomainRef> } }
xdr_struct! { pub struct LifecycleMsg { pub dom: DomainRef, pub event: i32, pub detail: i32 } }
xdr_struct! { pub struct CallbackLifecycleMsg { pub callback_id: i32, pub msg: LifecycleMsg } }

/// Declares, for each implemented procedure, its argument and return types, and builds the [`Call`] and
/// [`Reply`] enums with their procedure-directed decoders.
macro_rules! remote_procedures {
    ($($variant:ident : $args:ty => $ret:ty;)*) => {
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
    };
}

remote_procedures! {
    ConnectOpen: ConnectOpenArgs => ();
    ConnectClose: () => ();
    ConnectGetType: () => StringRet;
    ConnectGetVersion: () => U64Ret;
    ConnectGetLibVersion: () => U64Ret;
    ConnectGetHostname: () => StringRet;
    ConnectGetUri: () => StringRet;
    ConnectGetCapabilities: () => StringRet;
    ConnectSupportsFeature: IntArgs => IntRet;
    ConnectIsSecure: () => IntRet;
    ConnectRegisterCloseCallback: () => ();
    ConnectUnregisterCloseCallback: () => ();
    NodeGetInfo: () => NodeGetInfoRet;
    NodeGetSecurityModel: () => SecurityModelRet;
    NodeGetCpuMap: CpuMapArgs => CpuMapRet;
    NodeGetFreeMemory: () => U64Ret;
    NodeGetCellsFreeMemory: CellsFreeMemoryArgs => CellsFreeMemoryRet;
    ConnectGetMaxVcpus: MaxVcpusArgs => IntRet;
    AuthList: () => AuthListRet;
    AuthSaslInit: () => StringRet;
    AuthSaslStart: AuthSaslStartArgs => AuthSaslRet;
    AuthSaslStep: AuthSaslStepArgs => AuthSaslRet;
    AuthPolkit: () => IntRet;

    ConnectListAllDomains: ListAllArgs => ListAllDomainsRet;
    ConnectNumOfDomains: () => IntRet;
    ConnectListDomains: IntArgs => DomainIdsRet;
    ConnectNumOfDefinedDomains: () => IntRet;
    ConnectListDefinedDomains: IntArgs => DomainNamesRet;
    DomainLookupById: IntArgs => DomainRet;
    DomainLookupByName: StringArgs => DomainRet;
    DomainLookupByUuid: UuidArgs => DomainRet;
    DomainCreateXml: StringFlagsArgs => DomainRet;
    DomainDefineXml: StringArgs => DomainRet;
    DomainDefineXmlFlags: StringFlagsArgs => DomainRet;
    DomainUndefine: DomainArgs => ();
    DomainUndefineFlags: DomainFlagsArgs => ();
    DomainCreate: DomainArgs => ();
    DomainCreateWithFlags: DomainFlagsArgs => DomainRet;
    DomainDestroy: DomainArgs => ();
    DomainDestroyFlags: DomainFlagsArgs => ();
    DomainShutdown: DomainArgs => ();
    DomainShutdownFlags: DomainFlagsArgs => ();
    DomainReboot: DomainFlagsArgs => ();
    DomainSuspend: DomainArgs => ();
    DomainResume: DomainArgs => ();
    DomainGetInfo: DomainArgs => DomainGetInfoRet;
    DomainGetState: DomainFlagsArgs => DomainGetStateRet;
    DomainGetXmlDesc: DomainFlagsArgs => StringRet;
    DomainGetOsType: DomainArgs => StringRet;
    DomainGetAutostart: DomainArgs => IntRet;
    DomainSetAutostart: DomainIntArgs => ();
    DomainIsActive: DomainArgs => IntRet;
    DomainIsPersistent: DomainArgs => IntRet;
    DomainIsUpdated: DomainArgs => IntRet;
    DomainHasManagedSaveImage: DomainFlagsArgs => IntRet;
    DomainSnapshotNum: DomainFlagsArgs => IntRet;
    DomainGetSecurityLabel: DomainArgs => SecurityLabelRet;
    DomainGetMessages: DomainFlagsArgs => DomainMessagesRet;
    DomainSetMemory: DomainU64Args => ();
    DomainSetMaxMemory: DomainU64Args => ();
    DomainSetMemoryFlags: DomainU64FlagsArgs => ();
    DomainGetMaxMemory: DomainArgs => U64Ret;
    DomainSetVcpus: DomainU32Args => ();
    DomainSetVcpusFlags: DomainU32FlagsArgs => ();
    DomainGetVcpusFlags: DomainFlagsArgs => IntRet;
    DomainGetMaxVcpus: DomainArgs => IntRet;
    DomainGetVcpus: DomainGetVcpusArgs => DomainGetVcpusRet;
    DomainGetVcpuPinInfo: VcpuPinInfoArgs => VcpuPinInfoRet;
    DomainGetSchedulerType: DomainArgs => SchedulerTypeRet;
    DomainGetSchedulerParameters: SchedulerParamsArgs => SchedulerParamsRet;
    DomainGetSchedulerParametersFlags: SchedulerParamsFlagsArgs => SchedulerParamsRet;
    DomainMemoryStats: DomainMemoryStatsArgs => DomainMemoryStatsRet;
    // stats lane
    ConnectGetAllDomainStats: AllDomainStatsArgs => AllDomainStatsRet;
    DomainBlockStats: DomainPathArgs => BlockStatsRet;
    DomainBlockStatsFlags: BlockStatsFlagsArgs => BlockStatsFlagsRet;
    DomainInterfaceStats: DomainPathArgs => InterfaceStatsRet;
    DomainGetBlockInfo: DomainPathFlagsArgs => BlockInfoRet;
    NodeGetCpuStats: NodeCpuStatsArgs => NodeCpuStatsRet;
    DomainInterfaceAddresses: InterfaceAddressesArgs => InterfaceAddressesRet;
    DomainGetFsinfo: DomainFlagsArgs => FsInfoRet;
    DomainGetHostname: DomainFlagsArgs => StringRet;
    DomainGetIothreadInfo: DomainFlagsArgs => IothreadInfoRet;
    // tunables lane
    DomainGetMemoryParameters: TunablesGetArgs => TunablesGetRet;
    DomainSetMemoryParameters: TunablesSetArgs => ();
    DomainGetBlkioParameters: TunablesGetArgs => TunablesGetRet;
    DomainSetBlkioParameters: TunablesSetArgs => ();
    DomainGetNumaParameters: TunablesGetArgs => TunablesGetRet;
    DomainSetNumaParameters: TunablesSetArgs => ();
    DomainSetSchedulerParameters: SchedulerSetArgs => ();
    DomainSetSchedulerParametersFlags: TunablesSetArgs => ();
    DomainPinVcpu: PinVcpuArgs => ();
    DomainPinVcpuFlags: PinVcpuFlagsArgs => ();
    DomainGetEmulatorPinInfo: EmulatorPinInfoArgs => EmulatorPinInfoRet;
    DomainPinEmulator: PinEmulatorArgs => ();
    DomainGetPerfEvents: DomainFlagsArgs => PerfEventsRet;
    DomainSetPerfEvents: PerfEventsSetArgs => ();
    DomainGetTime: DomainFlagsArgs => DomainGetTimeRet;
    DomainSetTime: DomainSetTimeArgs => ();
    DomainGetBlockIoTune: BlockIoTuneGetArgs => BlockIoTuneGetRet;
    DomainSetBlockIoTune: BlockIoTuneSetArgs => ();
    ConnectDomainEventRegisterAny: IntArgs => ();
    ConnectDomainEventDeregisterAny: IntArgs => ();
    ConnectDomainEventCallbackRegisterAny: CallbackRegisterArgs => IntRet;
    ConnectDomainEventCallbackDeregisterAny: IntArgs => ();
    DomainEventLifecycle: LifecycleMsg => ();
    DomainEventCallbackLifecycle: CallbackLifecycleMsg => ();
    // domain snapshots (lane: snapshots)
    DomainSnapshotCreateXml: SnapshotCreateXmlArgs => SnapshotRet;
    DomainSnapshotGetXmlDesc: SnapshotFlagsArgs => StringRet;
    DomainSnapshotListNames: SnapshotListNamesArgs => SnapshotNamesRet;
    DomainSnapshotLookupByName: SnapshotLookupByNameArgs => SnapshotRet;
    DomainHasCurrentSnapshot: DomainFlagsArgs => IntRet;
    DomainSnapshotCurrent: DomainFlagsArgs => SnapshotRet;
    DomainRevertToSnapshot: SnapshotFlagsArgs => ();
    DomainSnapshotDelete: SnapshotFlagsArgs => ();
    DomainSnapshotGetParent: SnapshotFlagsArgs => SnapshotRet;
    DomainSnapshotNumChildren: SnapshotFlagsArgs => IntRet;
    DomainSnapshotListChildrenNames: SnapshotListChildrenNamesArgs => SnapshotNamesRet;
    DomainListAllSnapshots: ListAllSnapshotsArgs => ListAllSnapshotsRet;
    DomainSnapshotListAllChildren: SnapshotListAllChildrenArgs => ListAllSnapshotsRet;
    DomainSnapshotIsCurrent: SnapshotFlagsArgs => IntRet;
    DomainSnapshotHasMetadata: SnapshotFlagsArgs => IntRet;
    DomainRename: DomainRenameArgs => IntRet;
    DomainManagedSave: DomainFlagsArgs => ();
    DomainManagedSaveRemove: DomainFlagsArgs => ();

    ConnectListAllNetworks: ListAllArgs => ListAllNetworksRet;
    ConnectNumOfNetworks: () => IntRet;
    ConnectListNetworks: IntArgs => NetworkNamesRet;
    ConnectNumOfDefinedNetworks: () => IntRet;
    ConnectListDefinedNetworks: IntArgs => NetworkNamesRet;
    NetworkLookupByName: StringArgs => NetworkRet;
    NetworkLookupByUuid: UuidArgs => NetworkRet;
    NetworkCreateXml: StringArgs => NetworkRet;
    NetworkDefineXml: StringArgs => NetworkRet;
    NetworkDefineXmlFlags: StringFlagsArgs => NetworkRet;
    NetworkCreate: NetworkArgs => ();
    NetworkDestroy: NetworkArgs => ();
    NetworkUndefine: NetworkArgs => ();
    NetworkGetXmlDesc: NetworkFlagsArgs => StringRet;
    NetworkGetBridgeName: NetworkArgs => StringRet;
    NetworkGetAutostart: NetworkArgs => IntRet;
    NetworkSetAutostart: NetworkIntArgs => ();
    NetworkIsActive: NetworkArgs => IntRet;
    NetworkIsPersistent: NetworkArgs => IntRet;

    ConnectListAllStoragePools: ListAllArgs => ListAllPoolsRet;
    ConnectNumOfStoragePools: () => IntRet;
    ConnectListStoragePools: IntArgs => PoolNamesRet;
    ConnectNumOfDefinedStoragePools: () => IntRet;
    ConnectListDefinedStoragePools: IntArgs => PoolNamesRet;
    StoragePoolLookupByName: StringArgs => PoolRet;
    StoragePoolLookupByUuid: UuidArgs => PoolRet;
    StoragePoolLookupByVolume: VolArgs => PoolRet;
    StoragePoolCreateXml: StringFlagsArgs => PoolRet;
    StoragePoolDefineXml: StringFlagsArgs => PoolRet;
    StoragePoolBuild: PoolFlagsArgs => ();
    StoragePoolCreate: PoolFlagsArgs => ();
    StoragePoolDestroy: PoolArgs => ();
    StoragePoolUndefine: PoolArgs => ();
    StoragePoolRefresh: PoolFlagsArgs => ();
    StoragePoolGetInfo: PoolArgs => PoolGetInfoRet;
    StoragePoolGetXmlDesc: PoolFlagsArgs => StringRet;
    StoragePoolGetAutostart: PoolArgs => IntRet;
    StoragePoolSetAutostart: PoolIntArgs => ();
    StoragePoolIsActive: PoolArgs => IntRet;
    StoragePoolIsPersistent: PoolArgs => IntRet;
    StoragePoolNumOfVolumes: PoolArgs => IntRet;
    StoragePoolListVolumes: PoolIntArgs => VolNamesRet;
    StoragePoolListAllVolumes: PoolListAllArgs => ListAllVolumesRet;

    StorageVolLookupByName: PoolStringArgs => VolRet;
    StorageVolLookupByKey: StringArgs => VolRet;
    StorageVolLookupByPath: StringArgs => VolRet;
    StorageVolCreateXml: PoolStringFlagsArgs => VolRet;
    StorageVolDelete: VolFlagsArgs => ();
    StorageVolResize: VolResizeArgs => ();
    StorageVolGetInfo: VolArgs => VolGetInfoRet;
    StorageVolGetPath: VolArgs => StringRet;
    StorageVolGetXmlDesc: VolFlagsArgs => StringRet;

    // ifaces lane: host interfaces, sysinfo, CPU model names.
    ConnectGetSysinfo: FlagsArgs => StringRet;
    ConnectGetCpuModelNames: CpuModelNamesArgs => CpuModelNamesRet;
    ConnectListAllInterfaces: ListAllArgs => ListAllInterfacesRet;
    ConnectNumOfInterfaces: () => IntRet;
    ConnectListInterfaces: IntArgs => InterfaceNamesRet;
    ConnectNumOfDefinedInterfaces: () => IntRet;
    ConnectListDefinedInterfaces: IntArgs => InterfaceNamesRet;
    InterfaceLookupByName: StringArgs => InterfaceRet;
    InterfaceLookupByMacString: StringArgs => InterfaceRet;
    InterfaceGetXmlDesc: InterfaceFlagsArgs => StringRet;
    InterfaceDefineXml: StringFlagsArgs => InterfaceRet;
    InterfaceUndefine: InterfaceArgs => ();
    InterfaceCreate: InterfaceFlagsArgs => ();
    InterfaceDestroy: InterfaceFlagsArgs => ();
    InterfaceIsActive: InterfaceArgs => IntRet;
    InterfaceChangeBegin: FlagsArgs => ();
    InterfaceChangeCommit: FlagsArgs => ();
    InterfaceChangeRollback: FlagsArgs => ();
    ConnectListAllNodeDevices: ListAllArgs => ListAllNodeDevicesRet;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_names_a_known_procedure() {
        let known = (1..=Procedure::COUNT)
            .map(Procedure::from_number)
            .filter(|p| has_codec(*p))
            .count();
        assert_eq!(known, 195);
        assert!(!has_codec(Procedure::DomainGetJobStats));
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
