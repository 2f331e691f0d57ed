//! The values that cross the driver API: object handles, info records, states, lifecycle events and libvirt's flag
//! bits, numbered exactly as libvirt numbers them so the RPC layer can put them on the wire unchanged.

use uuid::Uuid;

/// A domain handle as libvirt passes it around (`remote_nonnull_domain`): name, UUID and id (−1 when inactive).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct DomainRef {
    pub name: String,
    pub uuid: Uuid,
    pub id: i32,
}

/// A domain snapshot handle (`remote_nonnull_domain_snapshot`): its name and its domain.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct SnapshotRef {
    pub name: String,
    pub dom: DomainRef,
}

/// A network handle (`remote_nonnull_network`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct NetworkRef {
    pub name: String,
    pub uuid: Uuid,
}

/// A storage pool handle (`remote_nonnull_storage_pool`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PoolRef {
    pub name: String,
    pub uuid: Uuid,
}

/// A storage volume handle (`remote_nonnull_storage_vol`): its pool's name, its name and its key.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct VolumeRef {
    pub pool: String,
    pub name: String,
    pub key: String,
}

/// `virNodeInfo`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NodeInfo {
    /// CPU model, at most 31 bytes on the wire.
    pub model: String,
    pub memory_kib: u64,
    pub cpus: u32,
    pub mhz: u32,
    pub nodes: u32,
    pub sockets: u32,
    pub cores: u32,
    pub threads: u32,
}

/// One vCPU as `virDomainGetVcpus` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuInfo {
    pub number: u32,
    /// `virVcpuState`: 0 offline, 1 running, 2 blocked.
    pub state: i32,
    pub cpu_time_ns: u64,
    /// The host CPU it runs on, -1 when offline.
    pub cpu: i32,
}

/// One `virDomainMemoryStat`: a `VIR_DOMAIN_MEMORY_STAT_*` tag and its value (KiB, or a count or time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryStat {
    pub tag: i32,
    pub value: u64,
}

/// The host's CPUs as `virNodeGetCPUMap` reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCpuMap {
    /// CPUs present (the bitmap's width).
    pub cpus: u32,
    /// Bit n set when CPU n is online.
    pub map: Vec<u8>,
    pub online: u32,
}

/// A host interface handle (`remote_nonnull_interface`): its name and MAC address as the driver reports them
/// (empty when the interface has none).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct InterfaceRef {
    pub name: String,
    pub mac: String,
}

/// One `virTypedParameter`: a named, typed value.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedParam {
    pub field: String,
    pub value: TypedValue,
}

/// A typed parameter's value, one variant per `VIR_TYPED_PARAM_*` type.
#[derive(Clone, Debug, PartialEq)]
pub enum TypedValue {
    Int(i32),
    UInt(u32),
    LLong(i64),
    ULLong(u64),
    Double(f64),
    Boolean(bool),
    String(String),
}

/// Which typed-parameter family a tunables get/set addresses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TunableKind {
    /// `virDomain{Get,Set}MemoryParameters`: `<memtune>`.
    Memory,
    /// `virDomain{Get,Set}BlkioParameters`: `<blkiotune>`.
    Blkio,
    /// `virDomain{Get,Set}NumaParameters`: `<numatune>`.
    Numa,
    /// `virDomainSetSchedulerParametersFlags` (reads stay on `domain_get_scheduler_parameters`).
    Scheduler,
    /// `virDomain{Get,Set}PerfEvents`: `<perf>`.
    Perf,
}

/// `virDomainState`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[repr(i32)]
pub enum DomainState {
    NoState = 0,
    Running = 1,
    Blocked = 2,
    Paused = 3,
    Shutdown = 4,
    Shutoff = 5,
    Crashed = 6,
    PmSuspended = 7,
}

impl DomainState {
    pub fn from_i32(value: i32) -> Option<Self> {
        Some(match value {
            0 => Self::NoState,
            1 => Self::Running,
            2 => Self::Blocked,
            3 => Self::Paused,
            4 => Self::Shutdown,
            5 => Self::Shutoff,
            6 => Self::Crashed,
            7 => Self::PmSuspended,
            _ => return None,
        })
    }

    /// The word virsh prints for the state (`virshDomainStateToString`).
    pub fn virsh_name(self) -> &'static str {
        match self {
            Self::NoState => "no state",
            Self::Running => "running",
            Self::Blocked => "idle",
            Self::Paused => "paused",
            Self::Shutdown => "in shutdown",
            Self::Shutoff => "shut off",
            Self::Crashed => "crashed",
            Self::PmSuspended => "pmsuspended",
        }
    }

    /// Whether a domain in this state is active (has an id).
    pub fn is_active(self) -> bool {
        !matches!(self, Self::Shutoff | Self::NoState)
    }
}

/// State reasons (`virDomainRunningReason`, `virDomainPausedReason`, ...), numbered per state as libvirt does.
pub mod reason {
    pub const RUNNING_UNKNOWN: i32 = 0;
    pub const RUNNING_BOOTED: i32 = 1;
    pub const RUNNING_RESTORED: i32 = 3;
    pub const RUNNING_UNPAUSED: i32 = 5;
    pub const RUNNING_SAVE_CANCELED: i32 = 7;
    pub const RUNNING_WAKEUP: i32 = 8;
    pub const RUNNING_CRASHED: i32 = 9;
    pub const PAUSED_UNKNOWN: i32 = 0;
    pub const PAUSED_USER: i32 = 1;
    pub const PAUSED_MIGRATION: i32 = 2;
    pub const PAUSED_SAVE: i32 = 3;
    pub const PAUSED_IOERROR: i32 = 5;
    pub const PAUSED_SHUTTING_DOWN: i32 = 8;
    pub const PAUSED_CRASHED: i32 = 10;
    pub const PAUSED_STARTING_UP: i32 = 11;
    pub const PAUSED_API_ERROR: i32 = 14;
    pub const SHUTDOWN_UNKNOWN: i32 = 0;
    pub const SHUTDOWN_USER: i32 = 1;
    pub const SHUTOFF_UNKNOWN: i32 = 0;
    pub const SHUTOFF_SHUTDOWN: i32 = 1;
    pub const SHUTOFF_DESTROYED: i32 = 2;
    pub const SHUTOFF_CRASHED: i32 = 3;
    pub const SHUTOFF_SAVED: i32 = 5;
    pub const SHUTOFF_FAILED: i32 = 6;
    pub const SHUTOFF_DAEMON: i32 = 8;
    pub const CRASHED_UNKNOWN: i32 = 0;
    pub const CRASHED_PANICKED: i32 = 1;
}

/// `virDomainInfo`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DomainInfo {
    pub state: DomainState,
    pub max_mem_kib: u64,
    pub memory_kib: u64,
    pub nr_virt_cpu: u32,
    pub cpu_time_ns: u64,
}

/// `virStoragePoolState`.
pub mod pool_state {
    pub const INACTIVE: i32 = 0;
    pub const BUILDING: i32 = 1;
    pub const RUNNING: i32 = 2;
    pub const DEGRADED: i32 = 3;
    pub const INACCESSIBLE: i32 = 4;
}

/// `virStoragePoolInfo` (state from [`pool_state`], sizes in bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PoolInfo {
    pub state: i32,
    pub capacity: u64,
    pub allocation: u64,
    pub available: u64,
}

/// `virStorageVolType`.
pub mod vol_type {
    pub const FILE: i32 = 0;
    pub const BLOCK: i32 = 1;
    pub const DIR: i32 = 2;
    pub const NETWORK: i32 = 3;
    pub const NETDIR: i32 = 4;
    pub const PLOOP: i32 = 5;
}

/// `virStorageVolInfo` (type from [`vol_type`], sizes in bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VolumeInfo {
    pub kind: i32,
    pub capacity: u64,
    pub allocation: u64,
}

/// `virDomainEventType` with its detail enums, numbered as libvirt does.
pub mod event {
    pub const DEFINED: i32 = 0;
    pub const UNDEFINED: i32 = 1;
    pub const STARTED: i32 = 2;
    pub const SUSPENDED: i32 = 3;
    pub const RESUMED: i32 = 4;
    pub const STOPPED: i32 = 5;
    pub const SHUTDOWN: i32 = 6;
    pub const PMSUSPENDED: i32 = 7;
    pub const CRASHED: i32 = 8;
    /// Not a lifecycle kind: marks a metadata-change [`super::DomainEvent`], so lifecycle listeners never
    /// mistake one for theirs.
    pub const METADATA_CHANGE: i32 = -1;
    /// Not a lifecycle kind either: marks a guest agent lifecycle [`super::DomainEvent`]
    /// (`VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE`) whose `detail` is the agent's state (1 connected, 2 disconnected),
    /// learnt from its channel (reason `CHANNEL`).
    pub const AGENT_LIFECYCLE: i32 = -2;

    pub const DEFINED_ADDED: i32 = 0;
    pub const DEFINED_UPDATED: i32 = 1;
    pub const UNDEFINED_REMOVED: i32 = 0;
    pub const STARTED_BOOTED: i32 = 0;
    pub const STARTED_RESTORED: i32 = 2;
    pub const STARTED_WAKEUP: i32 = 4;
    pub const SUSPENDED_PAUSED: i32 = 0;
    pub const SUSPENDED_IOERROR: i32 = 2;
    pub const SUSPENDED_RESTORED: i32 = 4;
    pub const SUSPENDED_API_ERROR: i32 = 6;
    pub const RESUMED_UNPAUSED: i32 = 0;
    pub const STOPPED_SHUTDOWN: i32 = 0;
    pub const STOPPED_DESTROYED: i32 = 1;
    pub const STOPPED_CRASHED: i32 = 2;
    pub const STOPPED_SAVED: i32 = 4;
    pub const STOPPED_FAILED: i32 = 5;
    pub const SHUTDOWN_FINISHED: i32 = 0;
    pub const SHUTDOWN_GUEST: i32 = 1;
    pub const SHUTDOWN_HOST: i32 = 2;
    pub const CRASHED_PANICKED: i32 = 0;
}

/// One domain event: which domain, what happened ([`event`] kind) and the detail number for that kind; or, when
/// `metadata` is set, a change of the domain's metadata (`VIR_DOMAIN_EVENT_ID_METADATA_CHANGE`), with `event`
/// [`event::METADATA_CHANGE`] and `detail` the metadata type.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DomainEvent {
    pub domain: DomainRef,
    pub event: i32,
    pub detail: i32,
    /// Set on a device-removed event (`VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED`): the removed device's alias; `event`
    /// and `detail` are then 0 and the event is no lifecycle change.
    pub device_removed: Option<String>,
    pub metadata: Option<MetadataChange>,
}

/// What a metadata-change event says: the metadata type (`virDomainMetadataType`) and, for elements, the
/// namespace changed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MetadataChange {
    pub kind: i32,
    pub nsuri: Option<String>,
}

impl DomainEvent {
    /// A metadata-change event.
    pub fn metadata_change(domain: DomainRef, kind: i32, nsuri: Option<String>) -> Self {
        Self {
            domain,
            event: event::METADATA_CHANGE,
            detail: kind,
            metadata: Some(MetadataChange { kind, nsuri }),
            device_removed: None,
        }
    }
}

/// Network lifecycle event kinds (`virNetworkEventLifecycleType`).
pub mod network_event {
    pub const DEFINED: i32 = 0;
    pub const UNDEFINED: i32 = 1;
    pub const STARTED: i32 = 2;
    pub const STOPPED: i32 = 3;
}

/// One network lifecycle event: which network and what happened ([`network_event`] kind).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NetworkEvent {
    pub network: NetworkRef,
    pub event: i32,
    pub detail: i32,
}

/// One DHCP lease of a network (`virNetworkDHCPLease`).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NetworkDhcpLease {
    /// The network's bridge.
    pub iface: String,
    /// Seconds since the epoch when the lease ends (0: never).
    pub expiry_time: i64,
    /// `VIR_IP_ADDR_TYPE_IPV4` (0) or `_IPV6` (1).
    pub addr_type: i32,
    pub mac: Option<String>,
    pub iaid: Option<String>,
    pub ip: Option<String>,
    pub prefix: u32,
    pub hostname: Option<String>,
    pub client_id: Option<String>,
}

/// `virNetworkUpdate` commands, sections and flags.
pub mod network_update {
    pub const COMMAND_MODIFY: u32 = 1;
    pub const COMMAND_DELETE: u32 = 2;
    pub const COMMAND_ADD_LAST: u32 = 3;
    pub const COMMAND_ADD_FIRST: u32 = 4;
    pub const SECTION_IP_DHCP_HOST: u32 = 4;
    pub const AFFECT_LIVE: u32 = 1 << 0;
    pub const AFFECT_CONFIG: u32 = 1 << 1;
}

/// `virStoragePoolEventLifecycleType`.
pub mod pool_event {
    pub const DEFINED: i32 = 0;
    pub const UNDEFINED: i32 = 1;
    pub const STARTED: i32 = 2;
    pub const STOPPED: i32 = 3;
    pub const CREATED: i32 = 4;
    pub const DELETED: i32 = 5;
}

/// What happened to a storage pool: a lifecycle change ([`pool_event`] kind and detail) or a refresh.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PoolEventKind {
    Lifecycle { event: i32, detail: i32 },
    Refresh,
}

/// One storage pool event (`VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE` or `_REFRESH`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PoolEvent {
    pub pool: PoolRef,
    pub kind: PoolEventKind,
}

/// Flag bits of the driver API, with libvirt's values.
pub mod flags {
    // virDomainConsoleFlags
    pub const CONSOLE_FORCE: u32 = 1 << 0;
    pub const CONSOLE_SAFE: u32 = 1 << 1;
    // virStorageVolUploadFlags / virStorageVolDownloadFlags
    pub const VOL_UPLOAD_SPARSE_STREAM: u32 = 1 << 0;
    pub const VOL_DOWNLOAD_SPARSE_STREAM: u32 = 1 << 0;
    // virConnectListAllDomainsFlags
    pub const LIST_DOMAINS_ACTIVE: u32 = 1 << 0;
    pub const LIST_DOMAINS_INACTIVE: u32 = 1 << 1;
    pub const LIST_DOMAINS_PERSISTENT: u32 = 1 << 2;
    pub const LIST_DOMAINS_TRANSIENT: u32 = 1 << 3;
    pub const LIST_DOMAINS_RUNNING: u32 = 1 << 4;
    pub const LIST_DOMAINS_PAUSED: u32 = 1 << 5;
    pub const LIST_DOMAINS_SHUTOFF: u32 = 1 << 6;
    pub const LIST_DOMAINS_OTHER: u32 = 1 << 7;
    pub const LIST_DOMAINS_MANAGEDSAVE: u32 = 1 << 8;
    pub const LIST_DOMAINS_NO_MANAGEDSAVE: u32 = 1 << 9;
    pub const LIST_DOMAINS_AUTOSTART: u32 = 1 << 10;
    pub const LIST_DOMAINS_NO_AUTOSTART: u32 = 1 << 11;
    pub const LIST_DOMAINS_HAS_SNAPSHOT: u32 = 1 << 12;
    pub const LIST_DOMAINS_NO_SNAPSHOT: u32 = 1 << 13;
    pub const LIST_DOMAINS_HAS_CHECKPOINT: u32 = 1 << 14;
    pub const LIST_DOMAINS_NO_CHECKPOINT: u32 = 1 << 15;

    // virConnectListAllNetworksFlags
    pub const LIST_NETWORKS_INACTIVE: u32 = 1 << 0;
    pub const LIST_NETWORKS_ACTIVE: u32 = 1 << 1;
    pub const LIST_NETWORKS_PERSISTENT: u32 = 1 << 2;
    pub const LIST_NETWORKS_TRANSIENT: u32 = 1 << 3;
    pub const LIST_NETWORKS_AUTOSTART: u32 = 1 << 4;
    pub const LIST_NETWORKS_NO_AUTOSTART: u32 = 1 << 5;
    // virConnectListAllInterfacesFlags, virInterfaceDefineFlags, virInterfaceXMLFlags
    pub const LIST_INTERFACES_INACTIVE: u32 = 1 << 0;
    pub const LIST_INTERFACES_ACTIVE: u32 = 1 << 1;
    pub const INTERFACE_DEFINE_VALIDATE: u32 = 1 << 0;
    pub const INTERFACE_XML_INACTIVE: u32 = 1 << 0;

    // virConnectListAllStoragePoolsFlags (pool type bits start at 1 << 6: DIR)
    pub const LIST_POOLS_INACTIVE: u32 = 1 << 0;
    pub const LIST_POOLS_ACTIVE: u32 = 1 << 1;
    pub const LIST_POOLS_PERSISTENT: u32 = 1 << 2;
    pub const LIST_POOLS_TRANSIENT: u32 = 1 << 3;
    pub const LIST_POOLS_AUTOSTART: u32 = 1 << 4;
    pub const LIST_POOLS_NO_AUTOSTART: u32 = 1 << 5;
    pub const LIST_POOLS_DIR: u32 = 1 << 6;

    // virDomainXMLFlags
    pub const XML_SECURE: u32 = 1 << 0;
    pub const XML_INACTIVE: u32 = 1 << 1;
    pub const XML_UPDATE_CPU: u32 = 1 << 2;
    pub const XML_MIGRATABLE: u32 = 1 << 3;

    // virDomainDefineFlags
    pub const DEFINE_VALIDATE: u32 = 1 << 0;

    // virDomainCreateFlags
    pub const START_PAUSED: u32 = 1 << 0;
    pub const START_AUTODESTROY: u32 = 1 << 1;
    pub const START_BYPASS_CACHE: u32 = 1 << 2;
    pub const START_FORCE_BOOT: u32 = 1 << 3;
    pub const START_VALIDATE: u32 = 1 << 4;

    // virDomainSaveRestoreFlags, virDomainSaveImageXMLFlags
    pub const SAVE_BYPASS_CACHE: u32 = 1 << 0;
    pub const SAVE_RUNNING: u32 = 1 << 1;
    pub const SAVE_PAUSED: u32 = 1 << 2;
    pub const SAVE_RESET_NVRAM: u32 = 1 << 3;
    pub const SAVE_IMAGE_XML_SECURE: u32 = 1 << 0;

    // virDomainUndefineFlagsValues
    pub const UNDEFINE_MANAGED_SAVE: u32 = 1 << 0;
    pub const UNDEFINE_SNAPSHOTS_METADATA: u32 = 1 << 1;
    pub const UNDEFINE_NVRAM: u32 = 1 << 2;
    pub const UNDEFINE_KEEP_NVRAM: u32 = 1 << 3;
    pub const UNDEFINE_CHECKPOINTS_METADATA: u32 = 1 << 4;

    // virDomainModificationImpact, virDomainMemoryModFlags, virDomainVcpuFlags
    pub const AFFECT_CURRENT: u32 = 0;
    pub const AFFECT_LIVE: u32 = 1 << 0;
    pub const AFFECT_CONFIG: u32 = 1 << 1;
    pub const MEM_MAXIMUM: u32 = 1 << 2;
    pub const VCPU_MAXIMUM: u32 = 1 << 2;
    pub const VCPU_GUEST: u32 = 1 << 3;
    pub const VCPU_HOTPLUGGABLE: u32 = 1 << 4;
    /// `VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP`: the command is a human monitor line, not QMP JSON.
    pub const QEMU_MONITOR_COMMAND_HMP: u32 = 1;
    /// `VIR_TYPED_PARAM_STRING_OKAY`: the caller can take string-typed parameters back.
    pub const TYPED_PARAM_STRING_OKAY: u32 = 1 << 2;
    /// `VIR_DOMAIN_TIME_SYNC`: set the guest clock from its RTC.
    pub const TIME_SYNC: u32 = 1 << 0;

    // virStoragePoolBuildFlags
    pub const POOL_BUILD_NEW: u32 = 0;
    pub const POOL_BUILD_REPAIR: u32 = 1 << 0;
    pub const POOL_BUILD_RESIZE: u32 = 1 << 1;
    pub const POOL_BUILD_NO_OVERWRITE: u32 = 1 << 2;
    pub const POOL_BUILD_OVERWRITE: u32 = 1 << 3;

    // virStoragePoolCreateFlags
    pub const POOL_CREATE_WITH_BUILD: u32 = 1 << 0;
    pub const POOL_CREATE_WITH_BUILD_OVERWRITE: u32 = 1 << 1;
    pub const POOL_CREATE_WITH_BUILD_NO_OVERWRITE: u32 = 1 << 2;

    // virStorageVolDeleteFlags
    pub const VOL_DELETE_ZEROED: u32 = 1 << 0;
    pub const VOL_DELETE_WITH_SNAPSHOTS: u32 = 1 << 1;

    // virStorageVolCreateFlags
    pub const VOL_CREATE_PREALLOC_METADATA: u32 = 1 << 0;
    pub const VOL_CREATE_VALIDATE: u32 = 1 << 2;

    // virStorageVolResizeFlags
    pub const VOL_RESIZE_ALLOCATE: u32 = 1 << 0;
    pub const VOL_RESIZE_DELTA: u32 = 1 << 1;
    pub const VOL_RESIZE_SHRINK: u32 = 1 << 2;

    // virNetworkXMLFlags
    pub const NETWORK_XML_INACTIVE: u32 = 1 << 0;

    // virStorageXMLFlags
    pub const STORAGE_XML_INACTIVE: u32 = 1 << 0;
}

// ---- statistics: I/O counters, bulk statistics and guest-side information ----

/// `virDomainBlockStatsStruct`: a disk's I/O counters (−1 where a counter is unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockStats {
    pub rd_req: i64,
    pub rd_bytes: i64,
    pub wr_req: i64,
    pub wr_bytes: i64,
    pub errs: i64,
}

/// `virDomainInterfaceStatsStruct`: a guest NIC's traffic counters (−1 where a counter is unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceStats {
    pub rx_bytes: i64,
    pub rx_packets: i64,
    pub rx_errs: i64,
    pub rx_drop: i64,
    pub tx_bytes: i64,
    pub tx_packets: i64,
    pub tx_errs: i64,
    pub tx_drop: i64,
}

/// `virDomainBlockInfo`: sizes of a disk's image, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockInfo {
    pub capacity: u64,
    pub allocation: u64,
    pub physical: u64,
}

/// One `virNodeCPUStats` entry: a named cumulative CPU time in nanoseconds (`user`, `kernel`, `idle`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCpuStat {
    pub field: String,
    pub value: u64,
}

/// One domain's record of `virConnectGetAllDomainStats`: the domain and its statistics as typed parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainStatsRecord {
    pub dom: DomainRef,
    pub params: Vec<TypedParam>,
}

/// One address of a guest interface (`virDomainIPAddress`); `kind` is `VIR_IP_ADDR_TYPE_*` (0 IPv4, 1 IPv6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpAddress {
    pub kind: i32,
    pub addr: String,
    pub prefix: u32,
}

/// One guest interface with its addresses (`virDomainInterface`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestInterface {
    pub name: String,
    pub hwaddr: Option<String>,
    pub addrs: Vec<IpAddress>,
}

/// One mounted guest file system (`virDomainFSInfo`): where, which device, what type, on which disks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsInfo {
    pub mountpoint: String,
    pub name: String,
    pub fstype: String,
    pub dev_aliases: Vec<String>,
}

/// One I/O thread of a domain (`virDomainIOThreadInfo`): its id and the host CPUs it may run on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IothreadInfo {
    pub iothread_id: u32,
    pub cpumap: Vec<u8>,
}

/// `virDomainJobInfo`: a background job's type (`VIR_DOMAIN_JOB_*`, 0 none) and progress (ms and bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobInfo {
    pub kind: i32,
    pub time_elapsed: u64,
    pub time_remaining: u64,
    pub data_total: u64,
    pub data_processed: u64,
    pub data_remaining: u64,
    pub mem_total: u64,
    pub mem_processed: u64,
    pub mem_remaining: u64,
    pub file_total: u64,
    pub file_processed: u64,
    pub file_remaining: u64,
}

/// A secret handle (`remote_nonnull_secret`): its UUID and what it is for (a `VIR_SECRET_USAGE_TYPE_*` and the
/// usage's id: a volume path, a Ceph or TLS name, an iSCSI target; empty for none).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct SecretRef {
    pub uuid: Uuid,
    pub usage_type: i32,
    pub usage_id: String,
}

/// A network filter handle (`remote_nonnull_nwfilter`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct NwFilterRef {
    pub name: String,
    pub uuid: Uuid,
}

/// A network filter binding handle (`remote_nonnull_nwfilter_binding`): the host port and its top filter.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct NwFilterBindingRef {
    pub portdev: String,
    pub filtername: String,
}

/// A secret event (`VIR_SECRET_EVENT_ID_*`): its lifecycle (defined, undefined) or a new value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SecretEvent {
    pub secret: SecretRef,
    pub kind: SecretEventKind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SecretEventKind {
    /// `VIR_SECRET_EVENT_ID_LIFECYCLE`: `event` is `VIR_SECRET_EVENT_DEFINED` (0) or `UNDEFINED` (1).
    Lifecycle { event: i32, detail: i32 },
    /// `VIR_SECRET_EVENT_ID_VALUE_CHANGED`.
    ValueChanged,
}

/// Flag bits of the secret and network filter APIs, with libvirt's values.
pub mod object_flags {
    // virConnectListAllSecretsFlags
    pub const LIST_SECRETS_EPHEMERAL: u32 = 1 << 0;
    pub const LIST_SECRETS_NO_EPHEMERAL: u32 = 1 << 1;
    pub const LIST_SECRETS_PRIVATE: u32 = 1 << 2;
    pub const LIST_SECRETS_NO_PRIVATE: u32 = 1 << 3;
    pub const LIST_SECRETS_ALL: u32 = 0b1111;
    // virSecretDefineFlags
    pub const SECRET_DEFINE_VALIDATE: u32 = 1 << 0;
    // virNWFilterDefineFlags
    pub const NWFILTER_DEFINE_VALIDATE: u32 = 1 << 0;
    // virNWFilterBindingCreateFlags
    pub const NWFILTER_BINDING_CREATE_VALIDATE: u32 = 1 << 0;
}

/// `virDomainControlInfo`: how the hypervisor's control of a running domain stands. `state` is a
/// `VIR_DOMAIN_CONTROL_*` value (0 ok, 1 job, 2 occupied, 3 error), `details` its reason
/// (`VIR_DOMAIN_CONTROL_ERROR_REASON_*` for errors), `state_time_ms` how long it has been so.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlInfo {
    pub state: u32,
    pub details: u32,
    pub state_time_ms: u64,
}

/// One disk's I/O error (`virDomainDiskError`): its target and a `VIR_DOMAIN_DISK_ERROR_*` code
/// (1 unspecified, 2 no space).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskError {
    pub disk: String,
    pub error: i32,
}
