//! Payloads of the virtual-network procedures that no other object shares.

use super::xdr::{xdr_struct, Array};
use crate::driver::NetworkRef;

pub const NETWORK_LIST_MAX: u32 = 16384;
/// `REMOTE_NETWORK_DHCP_LEASES_MAX`.
pub const NETWORK_DHCP_LEASES_MAX: u32 = 65536;

xdr_struct! { pub struct ListAllNetworksRet { pub nets: Array<NetworkRef, NETWORK_LIST_MAX>, pub ret: u32 } }

xdr_struct! { pub struct NetworkNamesRet { pub names: Array<String, NETWORK_LIST_MAX> } }

xdr_struct! {
    /// `remote_network_update_args`; command and section in the corrected order (the server says it supports
    /// `VIR_DRV_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER`).
    pub struct NetworkUpdateArgs {
        pub net: NetworkRef, pub command: u32, pub section: u32, pub parent_index: i32, pub xml: String,
        pub flags: u32,
    }
}

xdr_struct! {
    pub struct NetworkGetDhcpLeasesArgs { pub net: NetworkRef, pub mac: Option<String>, pub need_results: u32, pub flags: u32 }
}

xdr_struct! {
    /// `remote_network_dhcp_lease`.
    pub struct NetworkDhcpLeaseWire {
        pub iface: String, pub expirytime: i64, pub type_: i32, pub mac: Option<String>, pub iaid: Option<String>,
        pub ipaddr: String, pub prefix: u32, pub hostname: Option<String>, pub clientid: Option<String>,
    }
}

xdr_struct! {
    pub struct NetworkGetDhcpLeasesRet { pub leases: Array<NetworkDhcpLeaseWire, NETWORK_DHCP_LEASES_MAX>, pub ret: u32 }
}

xdr_struct! { pub struct NetworkEventRegisterArgs { pub event_id: i32, pub net: Option<NetworkRef> } }

xdr_struct! { pub struct NetworkEventLifecycleMsg { pub callback_id: i32, pub net: NetworkRef, pub event: i32, pub detail: i32 } }
