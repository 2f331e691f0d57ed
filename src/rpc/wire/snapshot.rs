//! Payloads of the domain snapshot procedures (`remote_domain_snapshot_*` in `remote_protocol.x`).

use super::xdr::{xdr_struct, Array, Reader, Writer, Xdr, XdrError};
use crate::driver::{DomainRef, SnapshotRef};

/// `REMOTE_DOMAIN_SNAPSHOT_LIST_MAX`: names or handles in one snapshot listing.
pub const DOMAIN_SNAPSHOT_LIST_MAX: u32 = 1024;

/// `remote_nonnull_domain_snapshot`: the name, then the domain.
impl Xdr for SnapshotRef {
    const MIN_SIZE: usize = 4 + DomainRef::MIN_SIZE;
    fn encode(&self, w: &mut Writer) {
        self.name.encode(w);
        self.dom.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            name: String::decode(r)?,
            dom: DomainRef::decode(r)?,
        })
    }
}

xdr_struct! { pub struct SnapshotCreateXmlArgs { pub dom: DomainRef, pub xml_desc: String, pub flags: u32 } }
xdr_struct! { pub struct SnapshotLookupByNameArgs { pub dom: DomainRef, pub name: String, pub flags: u32 } }
xdr_struct! { pub struct SnapshotListNamesArgs { pub dom: DomainRef, pub maxnames: i32, pub flags: u32 } }
xdr_struct! { pub struct SnapshotListChildrenNamesArgs { pub snap: SnapshotRef, pub maxnames: i32, pub flags: u32 } }
xdr_struct! { pub struct SnapshotNamesRet { pub names: Array<String, DOMAIN_SNAPSHOT_LIST_MAX> } }
xdr_struct! { pub struct ListAllSnapshotsArgs { pub dom: DomainRef, pub need_results: i32, pub flags: u32 } }
xdr_struct! { pub struct SnapshotListAllChildrenArgs { pub snap: SnapshotRef, pub need_results: i32, pub flags: u32 } }
xdr_struct! { pub struct ListAllSnapshotsRet { pub snapshots: Array<SnapshotRef, DOMAIN_SNAPSHOT_LIST_MAX>, pub ret: i32 } }
// Arguments of every call on one snapshot that takes only flags.
xdr_struct! { pub struct SnapshotFlagsArgs { pub snap: SnapshotRef, pub flags: u32 } }
xdr_struct! { pub struct SnapshotRet { pub snap: SnapshotRef } }

// domrename: `remote_domain_rename_args` (the new name is a nullable string); the reply is `int retcode`.
xdr_struct! { pub struct DomainRenameArgs { pub dom: DomainRef, pub new_name: Option<String>, pub flags: u32 } }

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn snap() -> SnapshotRef {
        SnapshotRef {
            name: "s1".into(),
            dom: DomainRef {
                name: "test".into(),
                uuid: Uuid::from_bytes([7; 16]),
                id: 1,
            },
        }
    }

    #[test]
    fn a_snapshot_handle_is_its_name_then_its_domain() {
        let bytes = snap().to_bytes();
        let mut want = vec![0, 0, 0, 2, b's', b'1', 0, 0, 0, 0, 0, 4];
        want.extend_from_slice(b"test");
        want.extend_from_slice(&[7; 16]);
        want.extend_from_slice(&[0, 0, 0, 1]);
        assert_eq!(bytes, want);
        assert_eq!(SnapshotRef::from_bytes(&bytes), Ok(snap()));
    }

    #[test]
    fn listings_are_capped() {
        let ret = ListAllSnapshotsRet {
            snapshots: Array(vec![snap()]),
            ret: 1,
        };
        assert_eq!(ListAllSnapshotsRet::from_bytes(&ret.to_bytes()), Ok(ret));
        // A count beyond the cap is refused before anything is read.
        let mut too_many = (DOMAIN_SNAPSHOT_LIST_MAX + 1).to_be_bytes().to_vec();
        too_many.extend_from_slice(&[0; 8]);
        assert!(SnapshotNamesRet::from_bytes(&too_many).is_err());
    }
}
