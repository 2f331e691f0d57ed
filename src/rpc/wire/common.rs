//! Payload pieces many procedures share: the object handles, typed parameters, the error payload, and the
//! argument and reply shapes that differ only by the handle they carry.

use super::xdr::{xdr_struct, Reader, Writer, Xdr, XdrError};
use crate::driver::{DomainRef, NetworkRef, PoolRef, TypedParam, TypedValue, VolumeRef};

/// `remote_nonnull_domain`.
impl Xdr for DomainRef {
    const MIN_SIZE: usize = 24;
    fn encode(&self, w: &mut Writer) {
        self.name.encode(w);
        self.uuid.encode(w);
        self.id.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            name: String::decode(r)?,
            uuid: uuid::Uuid::decode(r)?,
            id: i32::decode(r)?,
        })
    }
}

/// `remote_nonnull_network`.
impl Xdr for NetworkRef {
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

/// `remote_nonnull_storage_pool`.
impl Xdr for PoolRef {
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

/// `remote_nonnull_storage_vol`.
impl Xdr for VolumeRef {
    const MIN_SIZE: usize = 12;
    fn encode(&self, w: &mut Writer) {
        self.pool.encode(w);
        self.name.encode(w);
        self.key.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            pool: String::decode(r)?,
            name: String::decode(r)?,
            key: String::decode(r)?,
        })
    }
}

/// `remote_typed_param`: the field name, then the value as a union discriminated by `VIR_TYPED_PARAM_*`.
impl Xdr for TypedParam {
    const MIN_SIZE: usize = 12;
    fn encode(&self, w: &mut Writer) {
        self.field.encode(w);
        match &self.value {
            TypedValue::Int(v) => {
                w.i32(1);
                w.i32(*v);
            }
            TypedValue::UInt(v) => {
                w.i32(2);
                w.u32(*v);
            }
            TypedValue::LLong(v) => {
                w.i32(3);
                w.i64(*v);
            }
            TypedValue::ULLong(v) => {
                w.i32(4);
                w.u64(*v);
            }
            TypedValue::Double(v) => {
                w.i32(5);
                w.u64(v.to_bits());
            }
            TypedValue::Boolean(v) => {
                w.i32(6);
                w.i32(i32::from(*v));
            }
            TypedValue::String(v) => {
                w.i32(7);
                v.encode(w);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        let field = String::decode(r)?;
        let value = match r.i32()? {
            1 => TypedValue::Int(r.i32()?),
            2 => TypedValue::UInt(r.u32()?),
            3 => TypedValue::LLong(r.i64()?),
            4 => TypedValue::ULLong(r.u64()?),
            5 => TypedValue::Double(f64::from_bits(r.u64()?)),
            6 => TypedValue::Boolean(r.i32()? != 0),
            7 => TypedValue::String(String::decode(r)?),
            other => {
                return Err(XdrError::Discriminant(u32::from_be_bytes(
                    other.to_be_bytes(),
                )))
            }
        };
        Ok(Self { field, value })
    }
}

xdr_struct! {
    /// `remote_error`: the payload of every REPLY with status ERROR.
    pub struct RemoteError {
        pub code: i32,
        pub domain: i32,
        pub message: Option<String>,
        pub level: i32,
        pub dom: Option<DomainRef>,
        pub str1: Option<String>,
        pub str2: Option<String>,
        pub str3: Option<String>,
        pub int1: i32,
        pub int2: i32,
        pub net: Option<NetworkRef>,
    }
}

xdr_struct! { pub struct IntArgs { pub value: i32 } }

xdr_struct! { pub struct IntRet { pub value: i32 } }

xdr_struct! { pub struct U64Ret { pub value: u64 } }

xdr_struct! { pub struct StringArgs { pub value: String } }

xdr_struct! { pub struct StringRet { pub value: String } }

xdr_struct! { pub struct StringFlagsArgs { pub value: String, pub flags: u32 } }

xdr_struct! { pub struct UuidArgs { pub uuid: uuid::Uuid } }

xdr_struct! { pub struct DomainArgs { pub dom: DomainRef } }

xdr_struct! { pub struct DomainFlagsArgs { pub dom: DomainRef, pub flags: u32 } }

xdr_struct! { pub struct DomainIntArgs { pub dom: DomainRef, pub value: i32 } }

xdr_struct! { pub struct DomainU32Args { pub dom: DomainRef, pub value: u32 } }

xdr_struct! { pub struct DomainU32FlagsArgs { pub dom: DomainRef, pub value: u32, pub flags: u32 } }

xdr_struct! { pub struct DomainU64Args { pub dom: DomainRef, pub value: u64 } }

xdr_struct! { pub struct DomainU64FlagsArgs { pub dom: DomainRef, pub value: u64, pub flags: u32 } }

xdr_struct! { pub struct DomainRet { pub dom: DomainRef } }

xdr_struct! { pub struct NetworkArgs { pub net: NetworkRef } }

xdr_struct! { pub struct NetworkFlagsArgs { pub net: NetworkRef, pub flags: u32 } }

xdr_struct! { pub struct NetworkIntArgs { pub net: NetworkRef, pub value: i32 } }

xdr_struct! { pub struct NetworkRet { pub net: NetworkRef } }

xdr_struct! { pub struct PoolArgs { pub pool: PoolRef } }

xdr_struct! { pub struct PoolFlagsArgs { pub pool: PoolRef, pub flags: u32 } }

xdr_struct! { pub struct PoolIntArgs { pub pool: PoolRef, pub value: i32 } }

xdr_struct! { pub struct PoolStringArgs { pub pool: PoolRef, pub value: String } }

xdr_struct! { pub struct PoolStringFlagsArgs { pub pool: PoolRef, pub value: String, pub flags: u32 } }

xdr_struct! { pub struct PoolRet { pub pool: PoolRef } }

xdr_struct! { pub struct VolArgs { pub vol: VolumeRef } }

xdr_struct! { pub struct VolFlagsArgs { pub vol: VolumeRef, pub flags: u32 } }

xdr_struct! { pub struct VolResizeArgs { pub vol: VolumeRef, pub capacity: u64, pub flags: u32 } }

xdr_struct! { pub struct VolRet { pub vol: VolumeRef } }

xdr_struct! { pub struct ListAllArgs { pub need_results: i32, pub flags: u32 } }

xdr_struct! { pub struct PoolListAllArgs { pub pool: PoolRef, pub need_results: i32, pub flags: u32 } }
