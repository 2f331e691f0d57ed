//! The REMOTE program's array caps (`schemas/remote.x`), below every payload file that checks a count against one.

/// Array caps from the protocol definition.
pub const DOMAIN_LIST_MAX: u32 = 16384;
pub const NETWORK_LIST_MAX: u32 = 16384;
pub const STORAGE_POOL_LIST_MAX: u32 = 4096;
pub const STORAGE_VOL_LIST_MAX: u32 = 16384;
pub const DOMAIN_MESSAGES_MAX: u32 = 2048;
pub const AUTH_TYPE_LIST_MAX: u32 = 20;
pub const AUTH_SASL_DATA_MAX: u32 = 65536;
pub const SECURITY_MODEL_MAX: u32 = 257;
pub const SECURITY_DOI_MAX: u32 = 257;
pub const SECURITY_LABEL_MAX: u32 = 4097;
pub const NODE_MAX_CELLS: u32 = 1024;
pub const CPUMAP_MAX: u32 = 2048;
pub const SCHEDULER_PARAMETERS_MAX: u32 = 16;
pub const VCPUINFO_MAX: u32 = 16384;
pub const CPUMAPS_MAX: u32 = 8_388_608;
pub const DOMAIN_MEMORY_STATS_MAX: u32 = 1024;
