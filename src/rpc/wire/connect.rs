//! Payloads of the connection and node procedures: open, authentication, features, host facts, CPU maps.

use super::values::{bad_reply, ReplyValue, WrapReply};
use super::xdr::{xdr_struct, Array, CharArray, FixedChars, Opaque};
use crate::driver::NodeInfo;
use crate::error::Result;

pub const AUTH_TYPE_LIST_MAX: u32 = 20;
pub const AUTH_SASL_DATA_MAX: u32 = 65536;
pub const SECURITY_MODEL_MAX: u32 = 257;
pub const SECURITY_DOI_MAX: u32 = 257;
pub const NODE_MAX_CELLS: u32 = 1024;
pub const CPUMAP_MAX: u32 = 2048;

/// `remote_auth_type`.
pub mod auth_type {
    pub const NONE: i32 = 0;
    pub const SASL: i32 = 1;
    pub const POLKIT: i32 = 2;
}

/// `virDrvFeature` numbers clients ask CONNECT_SUPPORTS_FEATURE about.
pub mod feature {
    pub const FD_PASSING: i32 = 8;
    pub const TYPED_PARAM_STRING: i32 = 9;
    pub const PROGRAM_KEEPALIVE: i32 = 10;
    pub const REMOTE_EVENT_CALLBACK: i32 = 14;
    pub const REMOTE_CLOSE_CALLBACK: i32 = 15;
    /// `virNetworkUpdate` carries command and section in their documented order.
    pub const NETWORK_UPDATE_HAS_CORRECT_ORDER: i32 = 16;
}

xdr_struct! { pub struct ConnectOpenArgs { pub name: Option<String>, pub flags: u32 } }

xdr_struct! {
    /// `virNodeInfo`; `model` is a fixed `char[32]`, 128 bytes on the wire.
    pub struct NodeGetInfoRet {
        pub model: FixedChars<32>,
        pub memory: u64,
        pub cpus: i32,
        pub mhz: i32,
        pub nodes: i32,
        pub sockets: i32,
        pub cores: i32,
        pub threads: i32,
    }
}

xdr_struct! {
    pub struct SecurityModelRet { pub model: CharArray<SECURITY_MODEL_MAX>, pub doi: CharArray<SECURITY_DOI_MAX> }
}

xdr_struct! { pub struct AuthListRet { pub types: Array<i32, AUTH_TYPE_LIST_MAX> } }

xdr_struct! {
    pub struct AuthSaslStartArgs { pub mech: String, pub nil: i32, pub data: CharArray<AUTH_SASL_DATA_MAX> }
}

xdr_struct! { pub struct AuthSaslStepArgs { pub nil: i32, pub data: CharArray<AUTH_SASL_DATA_MAX> } }

xdr_struct! {
    pub struct AuthSaslRet { pub complete: i32, pub nil: i32, pub data: CharArray<AUTH_SASL_DATA_MAX> }
}

xdr_struct! { pub struct CpuMapArgs { pub need_map: i32, pub need_online: i32, pub flags: u32 } }

xdr_struct! { pub struct CpuMapRet { pub cpumap: Opaque<CPUMAP_MAX>, pub online: u32, pub ret: i32 } }

xdr_struct! { pub struct CellsFreeMemoryArgs { pub start_cell: i32, pub max_cells: i32 } }

xdr_struct! { pub struct CellsFreeMemoryRet { pub cells: Array<u64, NODE_MAX_CELLS> } }

xdr_struct! { pub struct MaxVcpusArgs { pub kind: Option<String> } }

fn clamp_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn to_u32(what: &str, value: i32) -> Result<u32> {
    u32::try_from(value).map_err(|_| bad_reply(what, i64::from(value)))
}

impl WrapReply<NodeInfo> for NodeGetInfoRet {
    fn wrap(info: NodeInfo) -> Self {
        NodeGetInfoRet {
            model: FixedChars::from_text(&info.model),
            memory: info.memory_kib,
            cpus: clamp_i32(info.cpus),
            mhz: clamp_i32(info.mhz),
            nodes: clamp_i32(info.nodes),
            sockets: clamp_i32(info.sockets),
            cores: clamp_i32(info.cores),
            threads: clamp_i32(info.threads),
        }
    }
}

impl ReplyValue<NodeInfo> for NodeGetInfoRet {
    fn unwrap(self) -> Result<NodeInfo> {
        Ok(NodeInfo {
            model: self.model.to_text(),
            memory_kib: self.memory,
            cpus: to_u32("cpus", self.cpus)?,
            mhz: to_u32("mhz", self.mhz)?,
            nodes: to_u32("nodes", self.nodes)?,
            sockets: to_u32("sockets", self.sockets)?,
            cores: to_u32("cores", self.cores)?,
            threads: to_u32("threads", self.threads)?,
        })
    }
}

/// (model, DOI), each a C string on the wire.
impl WrapReply<(String, String)> for SecurityModelRet {
    fn wrap((model, doi): (String, String)) -> Self {
        SecurityModelRet {
            model: CharArray::c_string(&model),
            doi: CharArray::c_string(&doi),
        }
    }
}

impl ReplyValue<(String, String)> for SecurityModelRet {
    fn unwrap(self) -> Result<(String, String)> {
        Ok((self.model.to_text(), self.doi.to_text()))
    }
}
