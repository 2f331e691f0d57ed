//! The remote driver's implementation of every driver trait: one RPC per call.
//!
//! Methods the API list marks `auto(PROCEDURE)` are generated: the arguments fill the procedure's payload in
//! declaration order and the reply's value is returned. The rest are written here by hand, where the wire and
//! the API differ: plain procedures for calls without flags (as libvirt's client sends them, so older servers
//! understand), fallbacks to old-style listings, typed parameters, CPU maps, events and statistics.

use async_trait::async_trait;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::*;
use crate::driver::api::driver_api;
use crate::driver::*;
use crate::error::Result;
use crate::rpc::proto::{procs, Proc};
use crate::rpc::values::{ReplyValue, ToWire};
use crate::rpc::xdr::Parts;

/// The trait that holds a method's remote body: generated (`auto`) or hand-written.
macro_rules! remote_path {
    (auto($proc:ident), $field:ident, $name:ident) => {
        <RemoteDriver as imp::RemoteAuto>::$name
    };
    (hand, $field:ident, $name:ident) => {
        <RemoteDriver as imp::$field::Hand>::$name
    };
}

/// One method's declaration in `RemoteAuto` or a `Hand` trait, or nothing when it belongs to the other.
macro_rules! remote_sig {
    ($want:ident, $remote:ident $(($proc:ident))?; fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> Result<$ret:ty>) => {
        remote_sig!(@ $want $remote; fn $name(&self $(, $arg: $ty)*) -> Result<$ret>);
    };
    (@ auto auto; fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> Result<$ret:ty>) => {
        fn $name(&self $(, $arg: $ty)*) -> impl std::future::Future<Output = Result<$ret>> + Send;
    };
    (@ hand hand; fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> Result<$ret:ty>) => {
        fn $name(&self $(, $arg: $ty)*) -> impl std::future::Future<Output = Result<$ret>> + Send;
    };
    (@ $want:ident $other:ident; $($rest:tt)*) => {};
}

/// A generated method: the procedure's payload from the arguments in order, the value from its reply.
macro_rules! remote_auto_fn {
    (auto($proc:ident); fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> Result<$ret:ty>) => {
        async fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
            let args = <<procs::$proc as Proc>::Args as Parts>::from_parts(($(ToWire::to_wire(&$arg),)*));
            let ret = self.client.call(procs::$proc, &args).await?;
            ReplyValue::unwrap(ret)
        }
    };
    (hand; $($rest:tt)*) => {};
}

macro_rules! remote_methods {
    ($(
        $(#[$tmeta:meta])*
        trait $trait:ident ($field:ident) {
            $(
                $(#[$meta:meta])*
                fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> Result<$ret:ty>
                    => $remote:ident $(($proc:ident))?, $access:ident, $api:expr
                    $(, guard $guard:block)? $(, default $default:block)?;
            )*
        }
    )*) => {
        $(
            #[async_trait]
            impl $trait for RemoteDriver {
                $(
                    async fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                        (remote_path!($remote $(($proc))?, $field, $name))(self $(, $arg)*).await
                    }
                )*
            }
        )*

        /// The remote bodies, out of scope of the hand-written ones (whose method calls would otherwise be
        /// ambiguous between these traits and the driver traits).
        pub(super) mod imp {
            use super::*;

            /// The methods that send one procedure with the API's arguments in order.
            pub(super) trait RemoteAuto {
                $($(remote_sig!(auto, $remote $(($proc))?; fn $name(&self $(, $arg: $ty)*) -> Result<$ret>);)*)*
            }

            impl RemoteAuto for RemoteDriver {
                $($(remote_auto_fn!($remote $(($proc))?; fn $name(&self $(, $arg: $ty)*) -> Result<$ret>);)*)*
            }

            $(
                /// The methods of this driver trait whose wire form differs from the API's, written by hand in
                /// the remote module's file of the same name.
                // A driver trait without methods yet (secrets, network filters) has an empty, unused `Hand`.
                #[allow(dead_code, unused_imports)]
                pub(in crate::remote) mod $field {
                    use super::*;

                    pub(in crate::remote) trait Hand {
                        $(remote_sig!(hand, $remote $(($proc))?; fn $name(&self $(, $arg: $ty)*) -> Result<$ret>);)*
                    }
                }
            )*
        }
    };
}

driver_api!(remote_methods);
