//! libvirt's native RPC over a [`Connection`](crate::driver::Connection): the wire layer and the client and
//! server above it.
//!
//! - [`wire`] (pure of I/O, no tokio): strict XDR primitives, framing, the 443 procedure numbers, the one
//!   declaration of every implemented procedure (`wire::proto::remote_procedure_table!`) and the payloads
//!   grouped by libvirt object;
//! - [`dispatch`]: a call in, a reply out, per-connection state: the gates (authentication, the read-only rule
//!   derived from the driver methods' access classes), the arms generated from the declaration, the
//!   hand-written arms by object, and the one error-to-wire map;
//! - [`server`], [`socket`], [`threads`]: the tokio loops around it, and [`listeners`], which starts them as a
//!   daemon's front end; [`client`]: typed calls for the remote driver; [`auth`]: SASL on the server side.
//!
//! Why our own XDR code instead of xdrgen + xdr-codec: payloads must be decoded *strictly* (array caps checked
//! against the bytes present before allocating, non-zero padding, 0/1 discriminants, no trailing bytes, `char<>`
//! arrays as 4-byte ints), which generated xdr-codec code does not enforce. A `xdr_struct!` line declares each
//! payload in both directions; `schemas/remote.x` is rendered from the declaration and checked by a test.

pub mod auth;
pub mod client;
pub mod dispatch;
pub mod listeners;
pub mod server;
pub mod socket;
mod streams;
pub mod threads;
pub mod wire;

pub use wire::{packet, procedures, proto, qemu, stream, values, xdr};

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
