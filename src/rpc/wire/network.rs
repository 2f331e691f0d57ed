//! Payloads of the virtual-network procedures that no other object shares.

use super::xdr::{xdr_struct, Array};
use crate::driver::NetworkRef;

pub const NETWORK_LIST_MAX: u32 = 16384;

xdr_struct! { pub struct ListAllNetworksRet { pub nets: Array<NetworkRef, NETWORK_LIST_MAX>, pub ret: u32 } }

xdr_struct! { pub struct NetworkNamesRet { pub names: Array<String, NETWORK_LIST_MAX> } }
