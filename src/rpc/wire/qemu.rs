//! libvirt's QEMU program (0x20008087, `qemu_protocol.x`), which travels on the same connection as the REMOTE
//! program: its procedure numbers and names, the one declaration of the procedures implemented (payloads and
//! the driver call each makes), and the [`QemuCall`] / [`QemuReply`] enums and markers generated from it.

use super::values::{ReplyValue, WrapReply};
use super::xdr::{xdr_struct, Xdr, XdrError};
use crate::driver::DomainRef;
use crate::error::Result;

/// `QEMU_PROGRAM` and `QEMU_PROTOCOL_VERSION`.
pub const QEMU_PROGRAM: u32 = 0x2000_8087;
pub const QEMU_VERSION: u32 = 1;

/// Every procedure of the QEMU program, implemented or not; unknown numbers are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum QemuProcedure {
    DomainMonitorCommand,
    DomainAttach,
    DomainAgentCommand,
    ConnectDomainMonitorEventRegister,
    ConnectDomainMonitorEventDeregister,
    DomainMonitorEvent,
    DomainMonitorCommandWithFiles,
    Unknown(u32),
}

/// (procedure, number, libvirt API; `None` for the event message, which is never a call).
const QEMU_PROCEDURES: [(QemuProcedure, u32, Option<&str>); 7] = [
    (
        QemuProcedure::DomainMonitorCommand,
        1,
        Some("virDomainQemuMonitorCommand"),
    ),
    (QemuProcedure::DomainAttach, 2, Some("virDomainQemuAttach")),
    (
        QemuProcedure::DomainAgentCommand,
        3,
        Some("virDomainQemuAgentCommand"),
    ),
    (
        QemuProcedure::ConnectDomainMonitorEventRegister,
        4,
        Some("virConnectDomainQemuMonitorEventRegister"),
    ),
    (
        QemuProcedure::ConnectDomainMonitorEventDeregister,
        5,
        Some("virConnectDomainQemuMonitorEventDeregister"),
    ),
    (QemuProcedure::DomainMonitorEvent, 6, None),
    (
        QemuProcedure::DomainMonitorCommandWithFiles,
        7,
        Some("virDomainQemuMonitorCommandWithFiles"),
    ),
];

impl QemuProcedure {
    pub fn from_number(number: u32) -> Self {
        QEMU_PROCEDURES
            .iter()
            .find(|(_, n, _)| *n == number)
            .map_or(Self::Unknown(number), |(p, _, _)| *p)
    }

    pub fn number(self) -> u32 {
        match self {
            Self::Unknown(number) => number,
            known => QEMU_PROCEDURES
                .iter()
                .find(|(p, _, _)| *p == known)
                .map_or(0, |(_, n, _)| *n),
        }
    }

    /// The libvirt API a call of this procedure stands for; `None` for unknown numbers and the event.
    pub fn api_name(self) -> Option<&'static str> {
        QEMU_PROCEDURES
            .iter()
            .find(|(p, _, _)| *p == self)
            .and_then(|(_, _, api)| *api)
    }
}

impl std::fmt::Display for QemuProcedure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(number) => write!(f, "QEMU_PROC_{number}"),
            known => write!(f, "QEMU_PROC_{known:?}"),
        }
    }
}

xdr_struct! { pub struct QemuMonitorCommandArgs { pub dom: DomainRef, pub cmd: String, pub flags: u32 } }
xdr_struct! { pub struct QemuMonitorCommandRet { pub result: String } }
xdr_struct! {
    pub struct QemuAgentCommandArgs { pub dom: DomainRef, pub cmd: String, pub timeout: i32, pub flags: u32 }
}
xdr_struct! { pub struct QemuAgentCommandRet { pub result: Option<String> } }

impl WrapReply<String> for QemuMonitorCommandRet {
    fn wrap(result: String) -> Self {
        Self { result }
    }
}

impl ReplyValue<String> for QemuMonitorCommandRet {
    fn unwrap(self) -> Result<String> {
        Ok(self.result)
    }
}

impl WrapReply<Option<String>> for QemuAgentCommandRet {
    fn wrap(result: Option<String>) -> Self {
        Self { result }
    }
}

impl ReplyValue<Option<String>> for QemuAgentCommandRet {
    fn unwrap(self) -> Result<Option<String>> {
        Ok(self.result)
    }
}

/// Calls `$callback! { .. }` with the one declaration of every implemented procedure of the QEMU program, in
/// the form of the REMOTE table (`[call |fields| method(args)]`; the read-only rule is the method's).
macro_rules! qemu_procedure_table {
    ($callback:ident) => {
        $callback! {
            DomainMonitorCommand: QemuMonitorCommandArgs => QemuMonitorCommandRet
                [call |dom, cmd, flags| domain_qemu_monitor_command(&dom, &cmd, flags)];
            // Without descriptors attached it is the plain command (a call that carries some is refused earlier).
            DomainMonitorCommandWithFiles: QemuMonitorCommandArgs => QemuMonitorCommandRet
                [call |dom, cmd, flags| domain_qemu_monitor_command(&dom, &cmd, flags)];
            DomainAgentCommand: QemuAgentCommandArgs => QemuAgentCommandRet
                [call |dom, cmd, timeout, flags| domain_qemu_agent_command(&dom, &cmd, timeout, flags)];
        }
    };
}
pub(crate) use qemu_procedure_table;

/// A procedure of the QEMU program with its payload types, tying a client call to its reply.
pub trait QemuProc: Copy + Send + Sync + 'static {
    const PROCEDURE: QemuProcedure;
    type Args: Xdr + Send + Sync;
    type Ret: Xdr + Send;
}

macro_rules! qemu_procedures {
    ($($variant:ident : $args:ty => $ret:ty [$($spec:tt)*];)*) => {
        /// The decoded arguments of a call of an implemented QEMU procedure (named as `qemu_protocol.x` names
        /// them, `QEMU_PROC_DOMAIN_*`).
        #[allow(clippy::enum_variant_names)]
        #[derive(Clone, PartialEq, Debug)]
        pub enum QemuCall { $($variant($args)),* }

        /// The return value of an implemented QEMU procedure.
        #[allow(clippy::enum_variant_names)]
        #[derive(Clone, PartialEq, Debug)]
        pub enum QemuReply { $($variant($ret)),* }

        impl QemuCall {
            /// `None` when this crate has no codec for the procedure.
            pub fn decode(proc_: QemuProcedure, payload: &[u8]) -> Option<std::result::Result<Self, XdrError>> {
                match proc_ {
                    $(QemuProcedure::$variant => Some(<$args as Xdr>::from_bytes(payload).map(Self::$variant)),)*
                    _ => None,
                }
            }
        }

        impl QemuReply {
            pub fn encode(&self) -> Vec<u8> {
                match self { $(Self::$variant(value) => value.to_bytes()),* }
            }
        }

        /// One marker type per implemented QEMU procedure (the client sends some of them only).
        pub mod qemu_procs {
            use super::*;
            $(
                #[allow(dead_code)]
                #[derive(Clone, Copy, Debug)]
                pub struct $variant;
                impl QemuProc for $variant {
                    const PROCEDURE: QemuProcedure = QemuProcedure::$variant;
                    type Args = $args;
                    type Ret = $ret;
                }
            )*
        }
    };
}

qemu_procedure_table!(qemu_procedures);

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn numbers_follow_qemu_protocol_x() {
        for (proc_, number, _) in QEMU_PROCEDURES {
            assert_eq!(QemuProcedure::from_number(number), proc_);
            assert_eq!(proc_.number(), number);
        }
        assert_eq!(QemuProcedure::from_number(8), QemuProcedure::Unknown(8));
        assert_eq!(QemuProcedure::Unknown(8).number(), 8);
        assert_eq!(QemuProcedure::DomainMonitorEvent.api_name(), None);
    }

    #[test]
    fn monitor_command_round_trips_and_refuses_trailing_bytes() {
        let args = QemuMonitorCommandArgs {
            dom: DomainRef {
                name: "vm".into(),
                uuid: Uuid::nil(),
                id: 3,
            },
            cmd: r#"{"execute":"query-status"}"#.into(),
            flags: crate::driver::flags::QEMU_MONITOR_COMMAND_HMP,
        };
        let bytes = args.to_bytes();
        let Some(Ok(QemuCall::DomainMonitorCommand(back))) =
            QemuCall::decode(QemuProcedure::DomainMonitorCommand, &bytes)
        else {
            panic!("decodes");
        };
        assert_eq!(back, args);
        let mut long = bytes;
        long.extend_from_slice(&[0, 0, 0, 0]);
        assert!(matches!(
            QemuCall::decode(QemuProcedure::DomainMonitorCommand, &long),
            Some(Err(_))
        ));
        assert!(QemuCall::decode(QemuProcedure::DomainAttach, &[]).is_none());
        let ret = QemuAgentCommandRet { result: None };
        assert_eq!(ret.to_bytes(), [0, 0, 0, 0]);
    }
}
