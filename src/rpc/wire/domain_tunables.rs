//! Payloads of the tunables procedures (memory, blkio, NUMA and scheduler parameters; vCPU and emulator
//! pinning), mirroring libvirt's `remote_protocol.x`.

use super::connect::CPUMAP_MAX;
use super::domain::CPUMAPS_MAX;
use super::values::{ReplyValue, WrapReply};
use super::xdr::{xdr_struct, Array, Opaque};
use crate::driver::{DomainRef, TypedParam};
use crate::error::Result;

/// `REMOTE_DOMAIN_{MEMORY,BLKIO,NUMA,SCHEDULER}_PARAMETERS_MAX`: all four lists share this cap.
pub const TUNABLE_PARAMETERS_MAX: u32 = 16;

/// A tunables parameter list as it crosses the wire.
pub type TunableParams = Array<TypedParam, TUNABLE_PARAMETERS_MAX>;

xdr_struct! {
    /// `remote_domain_get_{memory,blkio,numa}_parameters_args`.
    pub struct TunablesGetArgs { pub dom: DomainRef, pub nparams: i32, pub flags: u32 }
}
xdr_struct! {
    /// `remote_domain_get_{memory,blkio,numa}_parameters_ret`: `nparams` is the full count when asked for 0.
    pub struct TunablesGetRet { pub params: TunableParams, pub nparams: i32 }
}
xdr_struct! {
    /// `remote_domain_set_{memory,blkio,numa}_parameters_args` and `..._scheduler_parameters_flags_args`.
    pub struct TunablesSetArgs { pub dom: DomainRef, pub params: TunableParams, pub flags: u32 }
}
/// `REMOTE_DOMAIN_BLOCK_IO_TUNE_PARAMETERS_MAX`.
pub const BLOCK_IO_TUNE_PARAMETERS_MAX: u32 = 32;

xdr_struct! {
    pub struct BlockIoTuneGetArgs { pub dom: DomainRef, pub disk: Option<String>, pub nparams: i32, pub flags: u32 }
}
xdr_struct! {
    pub struct BlockIoTuneGetRet { pub params: Array<TypedParam, BLOCK_IO_TUNE_PARAMETERS_MAX>, pub nparams: i32 }
}
xdr_struct! {
    pub struct BlockIoTuneSetArgs {
        pub dom: DomainRef,
        pub disk: String,
        pub params: Array<TypedParam, BLOCK_IO_TUNE_PARAMETERS_MAX>,
        pub flags: u32,
    }
}

/// `REMOTE_DOMAIN_PERF_EVENTS_MAX`.
pub const PERF_EVENTS_MAX: u32 = 64;

xdr_struct! {
    pub struct PerfEventsRet { pub params: Array<TypedParam, PERF_EVENTS_MAX> }
}
xdr_struct! {
    pub struct PerfEventsSetArgs { pub dom: DomainRef, pub params: Array<TypedParam, PERF_EVENTS_MAX>, pub flags: u32 }
}
xdr_struct! { pub struct DomainGetTimeRet { pub seconds: i64, pub nseconds: u32 } }
xdr_struct! {
    pub struct DomainSetTimeArgs { pub dom: DomainRef, pub seconds: i64, pub nseconds: u32, pub flags: u32 }
}
xdr_struct! { pub struct SchedulerSetArgs { pub dom: DomainRef, pub params: TunableParams } }
xdr_struct! { pub struct PinVcpuArgs { pub dom: DomainRef, pub vcpu: u32, pub cpumap: Opaque<CPUMAP_MAX> } }
xdr_struct! {
    pub struct PinVcpuFlagsArgs { pub dom: DomainRef, pub vcpu: u32, pub cpumap: Opaque<CPUMAP_MAX>, pub flags: u32 }
}
xdr_struct! { pub struct EmulatorPinInfoArgs { pub dom: DomainRef, pub map_len: i32, pub flags: u32 } }
xdr_struct! { pub struct EmulatorPinInfoRet { pub cpumaps: Opaque<CPUMAPS_MAX>, pub ret: i32 } }
xdr_struct! { pub struct PinEmulatorArgs { pub dom: DomainRef, pub cpumap: Opaque<CPUMAP_MAX>, pub flags: u32 } }

/// (seconds, nanoseconds) of the guest's clock.
impl WrapReply<(i64, u32)> for DomainGetTimeRet {
    fn wrap((seconds, nseconds): (i64, u32)) -> Self {
        DomainGetTimeRet { seconds, nseconds }
    }
}

impl ReplyValue<(i64, u32)> for DomainGetTimeRet {
    fn unwrap(self) -> Result<(i64, u32)> {
        Ok((self.seconds, self.nseconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::TypedValue;
    use crate::rpc::xdr::{Writer, Xdr};
    use uuid::Uuid;

    fn dom() -> DomainRef {
        DomainRef {
            name: "test".into(),
            uuid: Uuid::nil(),
            id: 1,
        }
    }

    #[test]
    fn string_params_cross_the_wire_with_their_golden_bytes() {
        let param = TypedParam {
            field: "device_weight".into(),
            value: TypedValue::String("/dev/sda,300".into()),
        };
        let bytes = param.to_bytes();
        let mut golden = Vec::new();
        golden.extend_from_slice(&13u32.to_be_bytes());
        golden.extend_from_slice(b"device_weight\0\0\0");
        golden.extend_from_slice(&7u32.to_be_bytes());
        golden.extend_from_slice(&12u32.to_be_bytes());
        golden.extend_from_slice(b"/dev/sda,300");
        assert_eq!(bytes, golden);
        let args = TunablesSetArgs {
            dom: dom(),
            params: Array(vec![param]),
            flags: 2,
        };
        assert_eq!(TunablesSetArgs::from_bytes(&args.to_bytes()), Ok(args));
    }

    #[test]
    fn parameter_lists_and_maps_keep_their_caps() {
        let mut too_many = Writer::new();
        too_many.u32(TUNABLE_PARAMETERS_MAX + 1);
        too_many.i32(0);
        assert!(TunablesGetRet::from_bytes(&too_many.into_bytes()).is_err());
        let pin = PinEmulatorArgs {
            dom: dom(),
            cpumap: Opaque(vec![0b101]),
            flags: 1,
        };
        assert_eq!(PinEmulatorArgs::from_bytes(&pin.to_bytes()), Ok(pin));
        let mut big_map = Writer::new();
        dom().encode(&mut big_map);
        big_map.u32(CPUMAP_MAX + 1);
        assert!(PinEmulatorArgs::from_bytes(&big_map.into_bytes()).is_err());
    }
}
