//! Payloads of the domain procedures: lists, state, vCPUs, scheduler, memory statistics, lifecycle events.

use super::values::{bad_reply, ReplyValue, WrapReply};
use super::xdr::{xdr_struct, Array, CharArray, Opaque, Reader, Writer, Xdr, XdrError};
use crate::driver::{DomainInfo, DomainState};
use crate::driver::{DomainRef, MemoryStat, TypedParam, VcpuInfo};
use crate::error::Result;

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

/// `REMOTE_DOMAIN_SEND_KEY_MAX`.
pub const DOMAIN_SEND_KEY_MAX: u32 = 16;

xdr_struct! { pub struct DomainDeviceArgs { pub dom: DomainRef, pub xml: String } }

xdr_struct! { pub struct DomainDeviceFlagsArgs { pub dom: DomainRef, pub xml: String, pub flags: u32 } }

xdr_struct! { pub struct DomainDetachAliasArgs { pub dom: DomainRef, pub alias: String, pub flags: u32 } }

xdr_struct! {
    pub struct DomainSendKeyArgs {
        pub dom: DomainRef,
        pub codeset: u32,
        pub holdtime: u32,
        pub keycodes: Array<u32, DOMAIN_SEND_KEY_MAX>,
        pub flags: u32,
    }
}

xdr_struct! { pub struct CallbackRegisterArgs { pub event_id: i32, pub dom: Option<DomainRef> } }

xdr_struct! { pub struct LifecycleMsg { pub dom: DomainRef, pub event: i32, pub detail: i32 } }

xdr_struct! { pub struct CallbackLifecycleMsg { pub callback_id: i32, pub msg: LifecycleMsg } }

xdr_struct! { pub struct DeviceRemovedMsg { pub dom: DomainRef, pub dev_alias: String } }

xdr_struct! { pub struct CallbackDeviceRemovedMsg { pub callback_id: i32, pub msg: DeviceRemovedMsg } }

impl WrapReply<DomainInfo> for DomainGetInfoRet {
    fn wrap(info: DomainInfo) -> Self {
        DomainGetInfoRet {
            state: info.state as u32,
            max_mem: info.max_mem_kib,
            memory: info.memory_kib,
            nr_virt_cpu: info.nr_virt_cpu,
            cpu_time: info.cpu_time_ns,
        }
    }
}

impl ReplyValue<DomainInfo> for DomainGetInfoRet {
    fn unwrap(self) -> Result<DomainInfo> {
        let state = i32::try_from(self.state)
            .ok()
            .and_then(DomainState::from_i32)
            .ok_or_else(|| bad_reply("domain state", i64::from(self.state)))?;
        Ok(DomainInfo {
            state,
            max_mem_kib: self.max_mem,
            memory_kib: self.memory,
            nr_virt_cpu: self.nr_virt_cpu,
            cpu_time_ns: self.cpu_time,
        })
    }
}

/// (state, reason).
impl WrapReply<(DomainState, i32)> for DomainGetStateRet {
    fn wrap((state, reason): (DomainState, i32)) -> Self {
        DomainGetStateRet {
            state: state as i32,
            reason,
        }
    }
}

impl ReplyValue<(DomainState, i32)> for DomainGetStateRet {
    fn unwrap(self) -> Result<(DomainState, i32)> {
        let state = DomainState::from_i32(self.state)
            .ok_or_else(|| bad_reply("domain state", i64::from(self.state)))?;
        Ok((state, self.reason))
    }
}

/// (label, enforcing).
impl WrapReply<(String, bool)> for SecurityLabelRet {
    fn wrap((label, enforcing): (String, bool)) -> Self {
        SecurityLabelRet {
            label: CharArray::c_string(&label),
            enforcing: i32::from(enforcing),
        }
    }
}

impl ReplyValue<(String, bool)> for SecurityLabelRet {
    fn unwrap(self) -> Result<(String, bool)> {
        Ok((self.label.to_text(), self.enforcing != 0))
    }
}

/// (scheduler name, number of its parameters).
impl WrapReply<(String, i32)> for SchedulerTypeRet {
    fn wrap((kind, nparams): (String, i32)) -> Self {
        SchedulerTypeRet { kind, nparams }
    }
}

impl ReplyValue<(String, i32)> for SchedulerTypeRet {
    fn unwrap(self) -> Result<(String, i32)> {
        Ok((self.kind, self.nparams))
    }
}

xdr_struct! {
    /// `remote_domain_set_metadata_args`: `kind` is `type` (`virDomainMetadataType`).
    pub struct DomainSetMetadataArgs {
        pub dom: DomainRef,
        pub kind: i32,
        pub metadata: Option<String>,
        pub key: Option<String>,
        pub uri: Option<String>,
        pub flags: u32,
    }
}

xdr_struct! {
    pub struct DomainGetMetadataArgs { pub dom: DomainRef, pub kind: i32, pub uri: Option<String>, pub flags: u32 }
}

xdr_struct! {
    /// `remote_domain_event_callback_metadata_change_msg`.
    pub struct CallbackMetadataChangeMsg {
        pub callback_id: i32,
        pub dom: DomainRef,
        pub kind: i32,
        pub nsuri: Option<String>,
    }
}

xdr_struct! {
    /// `remote_domain_event_callback_agent_lifecycle_msg`.
    pub struct CallbackAgentLifecycleMsg {
        pub callback_id: i32,
        pub dom: DomainRef,
        pub state: i32,
        pub reason: i32,
    }
}

xdr_struct! { pub struct ScreenshotArgs { pub dom: DomainRef, pub screen: u32, pub flags: u32 } }

xdr_struct! { pub struct ScreenshotRet { pub mime: Option<String> } }

xdr_struct! { pub struct OpenConsoleArgs { pub dom: DomainRef, pub dev_name: Option<String>, pub flags: u32 } }

xdr_struct! {
    /// `remote_domain_save_flags_args`.
    pub struct DomainSaveFlagsArgs { pub dom: DomainRef, pub to: String, pub dxml: Option<String>, pub flags: u32 }
}

xdr_struct! {
    /// `remote_domain_restore_flags_args`.
    pub struct DomainRestoreFlagsArgs { pub from: String, pub dxml: Option<String>, pub flags: u32 }
}

xdr_struct! {
    /// `remote_domain_save_image_define_xml_args`.
    pub struct SaveImageDefineXmlArgs { pub file: String, pub dxml: String, pub flags: u32 }
}

xdr_struct! {
    /// `remote_domain_managed_save_define_xml_args`.
    pub struct ManagedSaveDefineXmlArgs { pub dom: DomainRef, pub dxml: Option<String>, pub flags: u32 }
}

xdr_struct! {
    /// `remote_domain_pm_suspend_for_duration_args`: `target` is a `VIR_NODE_SUSPEND_TARGET_*`.
    pub struct DomainPmSuspendArgs { pub dom: DomainRef, pub target: u32, pub duration: u64, pub flags: u32 }
}
