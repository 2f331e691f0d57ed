//! Payloads of the node-device procedures, mirrored from libvirt's `remote_protocol.x`. A
//! `remote_nonnull_node_device` is its name alone, so lookups reply with a plain string (see
//! [`super::interface`] for the list-all reply).

use super::interface::NODE_DEVICE_LIST_MAX;
use super::xdr::{xdr_struct, Array};

/// `REMOTE_NODE_DEVICE_CAPS_LIST_MAX`.
pub const NODE_DEVICE_CAPS_LIST_MAX: u32 = 65536;

xdr_struct! { pub struct NodeNumOfDevicesArgs { pub cap: Option<String>, pub flags: u32 } }
xdr_struct! { pub struct NodeListDevicesArgs { pub cap: Option<String>, pub maxnames: i32, pub flags: u32 } }
xdr_struct! { pub struct NodeDeviceNamesRet { pub names: Array<String, NODE_DEVICE_LIST_MAX> } }
xdr_struct! { pub struct WwnArgs { pub wwnn: String, pub wwpn: String, pub flags: u32 } }
xdr_struct! { pub struct NodeDeviceListCapsArgs { pub name: String, pub maxnames: i32 } }
xdr_struct! { pub struct NodeDeviceCapsRet { pub names: Array<String, NODE_DEVICE_CAPS_LIST_MAX> } }
xdr_struct! {
    /// `remote_node_device_get_parent_ret`: the root device has no parent.
    pub struct OptStringRet { pub value: Option<String> }
}

#[cfg(test)]
mod tests {
    use super::super::xdr::{Writer, Xdr};
    use super::*;

    #[test]
    fn a_missing_parent_is_an_empty_optional_and_caps_lists_are_capped() {
        let ret = OptStringRet { value: None };
        assert_eq!(ret.to_bytes(), [0, 0, 0, 0]);
        let some = OptStringRet {
            value: Some("computer".into()),
        };
        assert_eq!(OptStringRet::from_bytes(&some.to_bytes()), Ok(some));
        let mut w = Writer::new();
        w.u32(NODE_DEVICE_CAPS_LIST_MAX + 1);
        assert!(NodeDeviceCapsRet::from_bytes(&w.into_bytes()).is_err());
        let args = NodeListDevicesArgs {
            cap: Some("pci".into()),
            maxnames: 3,
            flags: 0,
        };
        assert_eq!(args.to_bytes().len(), 4 + 4 + 4 + 4 + 4);
    }
}
