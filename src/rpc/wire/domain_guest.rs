//! Payloads of the calls that act on a running guest or on its hypervisor's control: the balloon's statistics
//! period, the control state, messages, disk errors, file system freeze / thaw / trim, user passwords, process
//! signals, lifecycle actions, launch security, core dumps, and the host's free pages, as `remote_protocol.x`
//! lays them out, with its array caps.

use super::connect::NODE_MAX_CELLS;
use super::values::{ReplyValue, WrapReply};
use super::xdr::{xdr_struct, Array};
use crate::driver::{ControlInfo, DiskError, DomainRef, TypedParam};
use crate::error::Result;

/// Array caps from the protocol definition.
pub const DOMAIN_DISK_ERRORS_MAX: u32 = 256;
pub const DOMAIN_FSFREEZE_MOUNTPOINTS_MAX: u32 = 256;
pub const DOMAIN_LAUNCH_SECURITY_INFO_PARAMS_MAX: u32 = 64;
pub const DOMAIN_GUEST_INFO_PARAMS_MAX: u32 = 2048;
pub const DOMAIN_GUEST_VCPU_PARAMS_MAX: u32 = 64;

xdr_struct! {
    pub struct DomainSetMemoryStatsPeriodArgs { pub dom: DomainRef, pub period: i32, pub flags: u32 }
}
xdr_struct! { pub struct DomainControlInfoRet { pub state: u32, pub details: u32, pub state_time: u64 } }
xdr_struct! { pub struct DomainDiskErrorsArgs { pub dom: DomainRef, pub maxerrors: u32, pub flags: u32 } }
xdr_struct! { pub struct DomainDiskErrorWire { pub disk: String, pub error: i32 } }
xdr_struct! {
    pub struct DomainDiskErrorsRet { pub errors: Array<DomainDiskErrorWire, DOMAIN_DISK_ERRORS_MAX>, pub nerrors: i32 }
}
xdr_struct! {
    pub struct DomainFsFreezeArgs {
        pub dom: DomainRef,
        pub mountpoints: Array<String, DOMAIN_FSFREEZE_MOUNTPOINTS_MAX>,
        pub flags: u32,
    }
}
xdr_struct! {
    pub struct DomainFsTrimArgs { pub dom: DomainRef, pub mount_point: Option<String>, pub minimum: u64, pub flags: u32 }
}
xdr_struct! {
    pub struct DomainSetUserPasswordArgs {
        pub dom: DomainRef,
        pub user: Option<String>,
        pub password: Option<String>,
        pub flags: u32,
    }
}
xdr_struct! {
    pub struct DomainSendProcessSignalArgs { pub dom: DomainRef, pub pid_value: i64, pub signum: u32, pub flags: u32 }
}
xdr_struct! {
    pub struct DomainSetLifecycleActionArgs { pub dom: DomainRef, pub kind: u32, pub action: u32, pub flags: u32 }
}
xdr_struct! {
    pub struct LaunchSecurityInfoRet { pub params: Array<TypedParam, DOMAIN_LAUNCH_SECURITY_INFO_PARAMS_MAX> }
}
xdr_struct! { pub struct DomainCoreDumpArgs { pub dom: DomainRef, pub to: String, pub flags: u32 } }
xdr_struct! {
    pub struct DomainCoreDumpWithFormatArgs { pub dom: DomainRef, pub to: String, pub dumpformat: u32, pub flags: u32 }
}
xdr_struct! {
    pub struct NodeGetFreePagesArgs {
        pub pages: Array<u32, NODE_MAX_CELLS>,
        pub start_cell: i32,
        pub cell_count: u32,
        pub flags: u32,
    }
}
xdr_struct! { pub struct NodeGetFreePagesRet { pub counts: Array<u64, NODE_MAX_CELLS> } }
xdr_struct! { pub struct DomainGetGuestInfoArgs { pub dom: DomainRef, pub types: u32, pub flags: u32 } }
xdr_struct! { pub struct DomainGetGuestInfoRet { pub params: Array<TypedParam, DOMAIN_GUEST_INFO_PARAMS_MAX> } }
xdr_struct! { pub struct DomainGetGuestVcpusArgs { pub dom: DomainRef, pub flags: u32 } }
xdr_struct! { pub struct DomainGetGuestVcpusRet { pub params: Array<TypedParam, DOMAIN_GUEST_VCPU_PARAMS_MAX> } }
xdr_struct! {
    pub struct DomainSetGuestVcpusArgs { pub dom: DomainRef, pub cpumap: String, pub state: i32, pub flags: u32 }
}
xdr_struct! { pub struct DomainAgentSetResponseTimeoutArgs { pub dom: DomainRef, pub timeout: i32, pub flags: u32 } }

impl WrapReply<ControlInfo> for DomainControlInfoRet {
    fn wrap(info: ControlInfo) -> Self {
        DomainControlInfoRet {
            state: info.state,
            details: info.details,
            state_time: info.state_time_ms,
        }
    }
}

impl ReplyValue<ControlInfo> for DomainControlInfoRet {
    fn unwrap(self) -> Result<ControlInfo> {
        Ok(ControlInfo {
            state: self.state,
            details: self.details,
            state_time_ms: self.state_time,
        })
    }
}

/// The errors the caller has room for (`maxerrors`; none when it asks only how many there are) and the count
/// the call answers: every disk's when only counting, else the number sent.
impl WrapReply<(Vec<DiskError>, i32)> for DomainDiskErrorsRet {
    fn wrap((errors, nerrors): (Vec<DiskError>, i32)) -> Self {
        DomainDiskErrorsRet {
            errors: Array(
                errors
                    .into_iter()
                    .map(|e| DomainDiskErrorWire {
                        disk: e.disk,
                        error: e.error,
                    })
                    .collect(),
            ),
            nerrors,
        }
    }
}

impl ReplyValue<(Vec<DiskError>, i32)> for DomainDiskErrorsRet {
    fn unwrap(self) -> Result<(Vec<DiskError>, i32)> {
        let errors = self
            .errors
            .0
            .into_iter()
            .map(|e| DiskError {
                disk: e.disk,
                error: e.error,
            })
            .collect();
        Ok((errors, self.nerrors))
    }
}

impl WrapReply<Vec<TypedParam>> for LaunchSecurityInfoRet {
    fn wrap(params: Vec<TypedParam>) -> Self {
        LaunchSecurityInfoRet {
            params: Array(params),
        }
    }
}

impl ReplyValue<Vec<TypedParam>> for LaunchSecurityInfoRet {
    fn unwrap(self) -> Result<Vec<TypedParam>> {
        Ok(self.params.0)
    }
}

impl WrapReply<Vec<TypedParam>> for DomainGetGuestInfoRet {
    fn wrap(params: Vec<TypedParam>) -> Self {
        DomainGetGuestInfoRet {
            params: Array(params),
        }
    }
}

impl ReplyValue<Vec<TypedParam>> for DomainGetGuestInfoRet {
    fn unwrap(self) -> Result<Vec<TypedParam>> {
        Ok(self.params.0)
    }
}

impl WrapReply<Vec<TypedParam>> for DomainGetGuestVcpusRet {
    fn wrap(params: Vec<TypedParam>) -> Self {
        DomainGetGuestVcpusRet {
            params: Array(params),
        }
    }
}

impl ReplyValue<Vec<TypedParam>> for DomainGetGuestVcpusRet {
    fn unwrap(self) -> Result<Vec<TypedParam>> {
        Ok(self.params.0)
    }
}

impl WrapReply<Vec<u64>> for NodeGetFreePagesRet {
    fn wrap(counts: Vec<u64>) -> Self {
        NodeGetFreePagesRet {
            counts: Array(counts),
        }
    }
}

impl ReplyValue<Vec<u64>> for NodeGetFreePagesRet {
    fn unwrap(self) -> Result<Vec<u64>> {
        Ok(self.counts.0)
    }
}

impl WrapReply<Vec<String>> for super::domain::DomainMessagesRet {
    fn wrap(msgs: Vec<String>) -> Self {
        super::domain::DomainMessagesRet { msgs: Array(msgs) }
    }
}

impl ReplyValue<Vec<String>> for super::domain::DomainMessagesRet {
    fn unwrap(self) -> Result<Vec<String>> {
        Ok(self.msgs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::xdr::Xdr;

    #[test]
    fn control_info_is_two_words_and_a_hyper() {
        let ret = DomainControlInfoRet::wrap(ControlInfo {
            state: 3,
            details: 2,
            state_time_ms: 7,
        });
        assert_eq!(ret.to_bytes().len(), 16);
        assert_eq!(DomainControlInfoRet::from_bytes(&ret.to_bytes()), Ok(ret));
    }

    #[test]
    fn disk_errors_and_free_pages_refuse_counts_above_their_caps() {
        let mut too_many = crate::rpc::xdr::Writer::new();
        too_many.u32(DOMAIN_DISK_ERRORS_MAX + 1);
        assert!(DomainDiskErrorsRet::from_bytes(&too_many.into_bytes()).is_err());
        let mut too_many = crate::rpc::xdr::Writer::new();
        too_many.u32(NODE_MAX_CELLS + 1);
        assert!(NodeGetFreePagesRet::from_bytes(&too_many.into_bytes()).is_err());
    }
}
