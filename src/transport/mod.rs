//! Byte-stream transports for the native RPC besides unix and TCP: TLS (server and client), and the client's
//! child-process transports (ssh and ext), whose stdin/stdout carry the RPC stream.

pub mod command;
pub mod ssh;
pub mod tls;
