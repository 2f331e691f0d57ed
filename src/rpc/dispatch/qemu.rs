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
    use super::super::{ConnectionState, Dispatcher, DriverOpener};
    use super::*;
    use crate::rpc::packet::Message;
    use crate::rpc::proto::{auth_type, RemoteError};
    use crate::rpc::xdr::Xdr;
    use std::sync::Arc;

    struct NoOpener;

    #[async_trait::async_trait]
    impl DriverOpener for NoOpener {
        async fn open(&self, _name: Option<&str>, _read_only: bool) -> Result<Connection> {
            Err(Error::no_driver("none"))
        }
    }

    /// The error a QEMU-program call gets from a connection on the test driver.
    async fn error_of(driver: Option<Connection>, proc_: u32, payload: &[u8]) -> RemoteError {
        let mut state = ConnectionState::new(auth_type::NONE, false);
        state.read_only = driver.as_ref().is_some_and(|d| d.is_read_only());
        state.driver = driver;
        let message = Message {
            header: Header::call(qemu::QEMU_PROGRAM, qemu::QEMU_VERSION, proc_, 9),
            payload: payload.to_vec(),
        };
        let outcome = Dispatcher::new(Arc::new(NoOpener))
            .handle(&mut state, &message)
            .await;
        let frame = outcome.reply.expect("a reply");
        let header = Header::decode(&frame[4..]).expect("header");
        assert_eq!(
            (header.prog, header.proc_, header.serial, header.status),
            (qemu::QEMU_PROGRAM, proc_, 9, Status::Error)
        );
        RemoteError::from_bytes(&frame[28..]).expect("remote_error")
    }

    #[tokio::test]
    async fn the_gates_answer_as_libvirtd() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::driver::test::TestDriver::open_connection(dir.path())
            .await
            .unwrap();
        let args = qemu::QemuMonitorCommandArgs {
            dom: conn.domain_lookup_by_name("test").await.unwrap(),
            cmd: r#"{"execute":"query-status"}"#.into(),
            flags: 0,
        }
        .to_bytes();
        let err = error_of(Some(conn.clone()), 1, &args).await;
        assert_eq!(err.code, 3);
        assert_eq!(
            err.message.as_deref(),
            Some("this function is not supported by the connection driver: virDomainQemuMonitorCommand")
        );
        let err = error_of(Some(conn.read_only()), 1, &args).await;
        assert_eq!(err.code, 29);
        assert!(err
            .message
            .unwrap()
            .ends_with("virDomainQemuMonitorCommand"));
        assert_eq!(error_of(Some(conn.clone()), 2, &[]).await.code, 3);
        let err = error_of(Some(conn.clone()), 99, &[]).await;
        assert_eq!(err.message.as_deref(), Some("unknown procedure: 99"));
        let err = error_of(Some(conn.clone()), 1, &args[..args.len() - 4]).await;
        assert_eq!(
            err.message.as_deref(),
            Some("Unable to decode message payload")
        );
        assert_eq!(error_of(None, 1, &args).await.code, 1);
    }

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
