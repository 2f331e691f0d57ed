//! libvirt's native RPC: framing, the XDR payloads of the REMOTE program, and dispatch to a [`Driver`].
//!
//! Layers, each pure of I/O: [`xdr`] (strict primitives), [`packet`] (length word + 24-byte header, incremental
//! frame splitting), [`procedures`] (all 443 procedure numbers and names), [`proto`] (typed payloads of the
//! procedures we implement), [`dispatch`] (a call in, a reply out, per-connection state); [`server`] is the one
//! tokio loop around them, and [`listeners`] starts it as a daemon's front end.
//!
//! Why hand-written XDR instead of xdrgen + xdr-codec: the payloads must be decoded *strictly* (array caps checked
//! against the bytes present before allocating, non-zero padding, 0/1 discriminants, no trailing bytes, `char<>`
//! arrays as 4-byte ints), and generated xdr-codec code does not enforce all of that nor widen `char` arrays the
//! way rpcgen does. The primitives are ~300 lines; a `xdr_struct!` macro turns each struct of `schemas/*.x` into
//! a type with both directions, so each protocol struct costs one line and the rules live in one place.
//!
//! [`Driver`]: crate::driver::Driver

pub mod auth;
pub mod client;
pub mod dispatch;
pub mod listeners;
pub mod server;
pub mod socket;
pub mod threads;
pub mod wire;

pub use wire::{packet, procedures, proto, values, xdr};

#[cfg(test)]
mod tests_codec;

pub use dispatch::{
    allowed_read_only, error_frame, error_to_wire, ConnectionState, DispatchOutcome, Dispatcher,
    DriverJob, DriverOpener, EventCallback, Route,
};
pub use packet::{encode_frame, FrameDecoder, FrameError, Header, Message, MessageType, Status};
pub use procedures::Procedure;
pub use proto::{Call, RemoteError, Reply};
pub use server::{ListenerKind, RpcServer, ServerConfig};
pub use xdr::{Xdr, XdrError};
