//! Calls of libvirt's QEMU program (monitor and agent pass-through): the same gates as REMOTE calls (known
//! procedure, authentication, open connection, read-only rule), then the declared driver call, its reply held to
//! the protocol's string cap.

use super::{error_frame, not_open, rpc_error, DispatchOutcome, DriverJob, JobCall, Route};
use crate::driver::{Access, Connection};
use crate::error::{Error, Result};
use crate::rpc::packet::{encode_frame, Header, Status};
use crate::rpc::qemu::{self, QemuCall, QemuProcedure, QemuReply};
use crate::rpc::values::WrapReply;
use crate::rpc::xdr::{Parts, STRING_MAX};

/// The route of one CALL of the QEMU program (its program and version already matched).
pub(super) fn route(state: &super::ConnectionState, header: &Header, payload: &[u8]) -> Route {
    let fail = |err: Error| Route::Done(DispatchOutcome::reply(error_frame(header, &err)));
    let proc_ = QemuProcedure::from_number(header.proc_);
    let Some(api) = proc_.api_name() else {
        let number = i32::from_be_bytes(header.proc_.to_be_bytes());
        return fail(rpc_error(format!("unknown procedure: {number}")));
    };
    if !state.authenticated {
        return fail(rpc_error("authentication required"));
    }
    let decoded = match QemuCall::decode(proc_, payload) {
        Some(Err(_)) => return fail(rpc_error("Unable to decode message payload")),
        Some(Ok(call)) => Some(call),
        None => None,
    };
    let Some(driver) = state.driver.clone() else {
        return fail(not_open());
    };
    if state.read_only && declared_access(proc_) != Some(Access::Read) {
        return fail(Error::read_only(api));
    }
    match decoded {
        Some(call) => Route::Job(DriverJob {
            header: *header,
            driver,
            call: JobCall::Qemu(call),
        }),
        None => fail(Error::no_support(api)),
    }
}

/// The reply frame of a QEMU call: a reply that would not fit the protocol's caps is an error, as libvirtd
/// answers a payload it cannot encode.
pub(super) async fn answer(header: &Header, driver: &Connection, call: QemuCall) -> Vec<u8> {
    let result = call_driver(driver, call).await.and_then(|reply| {
        if fits(&reply) {
            Ok(reply)
        } else {
            Err(rpc_error("Unable to encode message payload"))
        }
    });
    match result {
        Ok(reply) => encode_frame(&header.reply(Status::Ok), &reply.encode()),
        Err(err) => error_frame(header, &err),
    }
}

fn fits(reply: &QemuReply) -> bool {
    let len = |text: &str| u32::try_from(text.len()).is_ok_and(|len| len <= STRING_MAX);
    match reply {
        QemuReply::DomainMonitorCommand(ret) | QemuReply::DomainMonitorCommandWithFiles(ret) => {
            len(&ret.result)
        }
        QemuReply::DomainAgentCommand(ret) => ret.result.as_deref().is_none_or(len),
    }
}

macro_rules! qemu_dispatch_table {
    ($($variant:ident : $args:ty => $ret:ty [call |$($field:ident),*| $method:ident($($arg:expr),*)];)*) => {
        /// Calls the driver for one decoded QEMU call.
        async fn call_driver(conn: &Connection, call: QemuCall) -> Result<QemuReply> {
            match call {
                $(QemuCall::$variant(args) => {
                    let ($($field,)*) = Parts::into_parts(args);
                    Ok(QemuReply::$variant(WrapReply::wrap(conn.$method($($arg),*).await?)))
                })*
            }
        }

        /// The read-only rule of each implemented QEMU procedure: its driver method's access class.
        fn declared_access(proc_: QemuProcedure) -> Option<Access> {
            match proc_ {
                $(QemuProcedure::$variant => Some(crate::driver::access::$method),)*
                _ => None,
            }
        }
    };
}

qemu::qemu_procedure_table!(qemu_dispatch_table);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_implemented_procedure_writes() {
        for proc_ in [
            QemuProcedure::DomainMonitorCommand,
            QemuProcedure::DomainMonitorCommandWithFiles,
            QemuProcedure::DomainAgentCommand,
        ] {
            assert_eq!(declared_access(proc_), Some(Access::Write), "{proc_}");
        }
        assert_eq!(declared_access(QemuProcedure::DomainAttach), None);
    }

    #[test]
    fn a_reply_over_the_string_cap_does_not_fit() {
        let big = QemuReply::DomainMonitorCommand(qemu::QemuMonitorCommandRet {
            result: "x".repeat(STRING_MAX as usize + 1),
        });
        assert!(!fits(&big));
        let small = QemuReply::DomainAgentCommand(qemu::QemuAgentCommandRet { result: None });
        assert!(fits(&small));
    }
}
