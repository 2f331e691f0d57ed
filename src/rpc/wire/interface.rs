//! Payloads of the host-interface, sysinfo and CPU-model procedures, mirrored from libvirt's
//! `remote_protocol.x`: `remote_nonnull_interface` and the argument and return shapes no other procedure shares
//! (also the node-device list, whose errors virsh prints).

use super::xdr::{xdr_struct, Array, Reader, Writer, Xdr, XdrError};
use crate::driver::InterfaceRef;

/// `REMOTE_INTERFACE_LIST_MAX`.
pub const INTERFACE_LIST_MAX: u32 = 16384;
/// `REMOTE_NODE_DEVICE_LIST_MAX`.
pub const NODE_DEVICE_LIST_MAX: u32 = 16384;
/// `REMOTE_CONNECT_CPU_MODELS_MAX`.
pub const CPU_MODELS_MAX: u32 = 8192;

/// `remote_nonnull_interface`: name, then MAC as a string.
impl Xdr for InterfaceRef {
    const MIN_SIZE: usize = 8;
    fn encode(&self, w: &mut Writer) {
        self.name.encode(w);
        self.mac.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            name: String::decode(r)?,
            mac: String::decode(r)?,
        })
    }
}

xdr_struct! { pub struct FlagsArgs { pub flags: u32 } }
xdr_struct! { pub struct InterfaceArgs { pub iface: InterfaceRef } }
xdr_struct! { pub struct InterfaceFlagsArgs { pub iface: InterfaceRef, pub flags: u32 } }
xdr_struct! { pub struct InterfaceRet { pub iface: InterfaceRef } }
xdr_struct! { pub struct InterfaceNamesRet { pub names: Array<String, INTERFACE_LIST_MAX> } }
xdr_struct! {
    pub struct ListAllInterfacesRet { pub ifaces: Array<InterfaceRef, INTERFACE_LIST_MAX>, pub ret: u32 }
}
xdr_struct! {
    /// A `remote_nonnull_node_device` is its name alone, so the list is a list of strings on the wire.
    pub struct ListAllNodeDevicesRet { pub devices: Array<String, NODE_DEVICE_LIST_MAX>, pub ret: u32 }
}
xdr_struct! { pub struct CpuModelNamesArgs { pub arch: String, pub need_results: i32, pub flags: u32 } }
xdr_struct! { pub struct CpuModelNamesRet { pub models: Array<String, CPU_MODELS_MAX>, pub ret: i32 } }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interface_handle_is_two_strings() {
        let ret = InterfaceRet {
            iface: InterfaceRef {
                name: "eth1".into(),
                mac: "aa:bb:cc:dd:ee:ff".into(),
            },
        };
        let mut want = vec![0, 0, 0, 4];
        want.extend_from_slice(b"eth1");
        want.extend_from_slice(&[0, 0, 0, 17]);
        want.extend_from_slice(b"aa:bb:cc:dd:ee:ff\0\0\0");
        assert_eq!(ret.to_bytes(), want);
        assert_eq!(InterfaceRet::from_bytes(&want), Ok(ret));
    }

    #[test]
    fn lists_above_their_caps_are_refused_before_allocating() {
        let mut w = Writer::new();
        w.u32(INTERFACE_LIST_MAX + 1);
        assert!(InterfaceNamesRet::from_bytes(&w.into_bytes()).is_err());
        let mut w = Writer::new();
        w.u32(CPU_MODELS_MAX + 1);
        assert!(CpuModelNamesRet::from_bytes(&w.into_bytes()).is_err());
        let args = CpuModelNamesArgs {
            arch: "x86_64".into(),
            need_results: 1,
            flags: 0,
        };
        // "x86_64" is 6 bytes, padded to 8.
        assert_eq!(args.to_bytes().len(), 4 + 8 + 4 + 4);
        assert_eq!(CpuModelNamesArgs::from_bytes(&args.to_bytes()), Ok(args));
    }
}
