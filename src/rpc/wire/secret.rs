//! Payloads of the secret procedures, mirrored from libvirt's `remote_protocol.x`: `remote_nonnull_secret` and
//! the argument and return shapes only secrets use (values travel as opaque bytes).

use super::xdr::{xdr_struct, Array, Opaque, Reader, Writer, Xdr, XdrError};
use crate::driver::SecretRef;

/// `REMOTE_SECRET_LIST_MAX`.
pub const SECRET_LIST_MAX: u32 = 16384;
/// `REMOTE_SECRET_VALUE_MAX`.
pub const SECRET_VALUE_MAX: u32 = 65536;

/// `remote_nonnull_secret`: UUID, usage type, usage id.
impl Xdr for SecretRef {
    const MIN_SIZE: usize = 24;
    fn encode(&self, w: &mut Writer) {
        self.uuid.encode(w);
        self.usage_type.encode(w);
        self.usage_id.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            uuid: uuid::Uuid::decode(r)?,
            usage_type: i32::decode(r)?,
            usage_id: String::decode(r)?,
        })
    }
}

xdr_struct! { pub struct SecretArgs { pub secret: SecretRef } }
xdr_struct! { pub struct SecretFlagsArgs { pub secret: SecretRef, pub flags: u32 } }
xdr_struct! { pub struct SecretRet { pub secret: SecretRef } }
xdr_struct! { pub struct SecretUuidsRet { pub uuids: Array<String, SECRET_LIST_MAX> } }
xdr_struct! {
    pub struct ListAllSecretsRet { pub secrets: Array<SecretRef, SECRET_LIST_MAX>, pub ret: u32 }
}
xdr_struct! { pub struct SecretLookupByUsageArgs { pub usage_type: i32, pub usage_id: String } }
xdr_struct! {
    pub struct SecretSetValueArgs { pub secret: SecretRef, pub value: Opaque<SECRET_VALUE_MAX>, pub flags: u32 }
}
xdr_struct! { pub struct SecretGetValueRet { pub value: Opaque<SECRET_VALUE_MAX> } }
xdr_struct! { pub struct SecretEventRegisterArgs { pub event_id: i32, pub secret: Option<SecretRef> } }
xdr_struct! {
    pub struct SecretLifecycleMsg { pub callback_id: i32, pub secret: SecretRef, pub event: i32, pub detail: i32 }
}
xdr_struct! { pub struct SecretValueChangedMsg { pub callback_id: i32, pub secret: SecretRef } }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_handle_is_uuid_usage_type_and_id() {
        let ret = SecretRet {
            secret: SecretRef {
                uuid: uuid::Uuid::from_bytes([7; 16]),
                usage_type: 2,
                usage_id: "ceph".into(),
            },
        };
        let mut want = vec![7; 16];
        want.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 4]);
        want.extend_from_slice(b"ceph");
        assert_eq!(ret.to_bytes(), want);
        assert_eq!(SecretRet::from_bytes(&want), Ok(ret));
    }

    #[test]
    fn values_above_the_cap_are_refused_before_allocating() {
        let mut w = Writer::new();
        w.u32(SECRET_VALUE_MAX + 1);
        assert!(SecretGetValueRet::from_bytes(&w.into_bytes()).is_err());
        let mut w = Writer::new();
        w.u32(SECRET_LIST_MAX + 1);
        assert!(SecretUuidsRet::from_bytes(&w.into_bytes()).is_err());
    }
}
