//! Payloads of the domain procedures: lists, state, vCPUs, scheduler, memory statistics, lifecycle events.

use super::xdr::{xdr_struct, Array, CharArray, Opaque, Reader, Writer, Xdr, XdrError};
use crate::driver::{DomainRef, MemoryStat, TypedParam, VcpuInfo};

/// Array caps from the protocol definition.
pub const DOMAIN_LIST_MAX: u32 = 16384;
pub const DOMAIN_MESSAGES_MAX: u32 = 2048;
pub const SECURITY_LABEL_MAX: u32 = 4097;
pub const SCHEDULER_PARAMETERS_MAX: u32 = 16;
pub const VCPUINFO_MAX: u32 = 16384;
pub const CPUMAPS_MAX: u32 = 8_388_608;
pub const DOMAIN_MEMORY_STATS_MAX: u32 = 1024;

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

xdr_struct! { pub struct ListAllDomainsRet { pub domains: Array<DomainRef, DOMAIN_LIST_MAX>, pub ret: u32 } }

xdr_struct! { pub struct DomainIdsRet { pub ids: Array<i32, DOMAIN_LIST_MAX> } }

xdr_struct! { pub struct DomainNamesRet { pub names: Array<String, DOMAIN_LIST_MAX> } }

xdr_struct! { pub struct DomainMessagesRet { pub msgs: Array<String, DOMAIN_MESSAGES_MAX> } }

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

xdr_struct! { pub struct ScreenshotArgs { pub dom: DomainRef, pub screen: u32, pub flags: u32 } }

xdr_struct! { pub struct ScreenshotRet { pub mime: Option<String> } }

xdr_struct! { pub struct OpenConsoleArgs { pub dom: DomainRef, pub dev_name: Option<String>, pub flags: u32 } }
