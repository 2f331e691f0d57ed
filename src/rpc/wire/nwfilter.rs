//! Payloads of the network filter and filter binding procedures, mirrored from libvirt's `remote_protocol.x`:
//! `remote_nonnull_nwfilter`, `remote_nonnull_nwfilter_binding` and the shapes only they use.

use super::xdr::{xdr_struct, Array, Reader, Writer, Xdr, XdrError};
use crate::driver::{NwFilterBindingRef, NwFilterRef};

/// `REMOTE_NWFILTER_LIST_MAX`.
pub const NWFILTER_LIST_MAX: u32 = 16384;
/// `REMOTE_NWFILTER_BINDING_LIST_MAX`.
pub const NWFILTER_BINDING_LIST_MAX: u32 = 16384;

/// `remote_nonnull_nwfilter`: name, then UUID.
impl Xdr for NwFilterRef {
    const MIN_SIZE: usize = 20;
    fn encode(&self, w: &mut Writer) {
        self.name.encode(w);
        self.uuid.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            name: String::decode(r)?,
            uuid: uuid::Uuid::decode(r)?,
        })
    }
}

/// `remote_nonnull_nwfilter_binding`: port device, then filter name.
impl Xdr for NwFilterBindingRef {
    const MIN_SIZE: usize = 8;
    fn encode(&self, w: &mut Writer) {
        self.portdev.encode(w);
        self.filtername.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            portdev: String::decode(r)?,
            filtername: String::decode(r)?,
        })
    }
}

xdr_struct! { pub struct NwFilterArgs { pub nwfilter: NwFilterRef } }
xdr_struct! { pub struct NwFilterFlagsArgs { pub nwfilter: NwFilterRef, pub flags: u32 } }
xdr_struct! { pub struct NwFilterRet { pub nwfilter: NwFilterRef } }
xdr_struct! { pub struct NwFilterNamesRet { pub names: Array<String, NWFILTER_LIST_MAX> } }
xdr_struct! {
    pub struct ListAllNwFiltersRet { pub filters: Array<NwFilterRef, NWFILTER_LIST_MAX>, pub ret: u32 }
}
xdr_struct! { pub struct NwFilterBindingArgs { pub nwfilter: NwFilterBindingRef } }
xdr_struct! { pub struct NwFilterBindingFlagsArgs { pub nwfilter: NwFilterBindingRef, pub flags: u32 } }
xdr_struct! { pub struct NwFilterBindingRet { pub nwfilter: NwFilterBindingRef } }
xdr_struct! {
    pub struct ListAllNwFilterBindingsRet {
        pub bindings: Array<NwFilterBindingRef, NWFILTER_BINDING_LIST_MAX>,
        pub ret: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_and_binding_handles_keep_libvirts_layout() {
        let ret = NwFilterRet {
            nwfilter: NwFilterRef {
                name: "abc".into(),
                uuid: uuid::Uuid::from_bytes([1; 16]),
            },
        };
        let mut want = vec![0, 0, 0, 3, b'a', b'b', b'c', 0];
        want.extend_from_slice(&[1; 16]);
        assert_eq!(ret.to_bytes(), want);
        assert_eq!(NwFilterRet::from_bytes(&want), Ok(ret));
        let binding = NwFilterBindingRet {
            nwfilter: NwFilterBindingRef {
                portdev: "vnet0".into(),
                filtername: "clean-traffic".into(),
            },
        };
        assert_eq!(binding.to_bytes().len(), 4 + 8 + 4 + 16);
        assert_eq!(
            NwFilterBindingRet::from_bytes(&binding.to_bytes()),
            Ok(binding)
        );
        let mut w = Writer::new();
        w.u32(NWFILTER_LIST_MAX + 1);
        assert!(NwFilterNamesRet::from_bytes(&w.into_bytes()).is_err());
    }
}
