//! How driver API values map onto payload fields and replies, in both directions: the server's generated
//! dispatch arms wrap a driver's answer into the reply payload, the remote driver's generated methods turn its
//! arguments into payload fields and unwrap the reply. One conversion per pair, used by both sides.

use super::common::{DomainRet, IntRet, NetworkRet, PoolRet, StringRet, U64Ret, VolRet};
use super::interface::InterfaceRet;
use super::node_device::OptStringRet;
use super::nwfilter::{NwFilterBindingRet, NwFilterRet};
use super::secret::SecretRet;
use super::snapshot::SnapshotRet;
use crate::driver::{
    DomainRef, InterfaceRef, NetworkRef, NwFilterBindingRef, NwFilterRef, PoolRef, SecretRef,
    SnapshotRef, VolumeRef,
};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};

/// A driver argument as the payload field that carries it.
pub trait ToWire<W> {
    fn to_wire(&self) -> W;
}

impl<T: Clone> ToWire<T> for &T {
    fn to_wire(&self) -> T {
        (*self).clone()
    }
}

impl ToWire<String> for &str {
    fn to_wire(&self) -> String {
        (*self).to_owned()
    }
}

impl ToWire<Option<String>> for Option<&str> {
    fn to_wire(&self) -> Option<String> {
        self.map(str::to_owned)
    }
}

impl ToWire<i32> for bool {
    fn to_wire(&self) -> i32 {
        i32::from(*self)
    }
}

macro_rules! plain_to_wire {
    ($($ty:ty),*) => {
        $(impl ToWire<$ty> for $ty {
            fn to_wire(&self) -> $ty {
                *self
            }
        })*
    };
}
plain_to_wire!(u32, i32, u64, i64);

impl<T: Clone, const MAX: u32> ToWire<super::xdr::Array<T, MAX>> for Vec<T> {
    fn to_wire(&self) -> super::xdr::Array<T, MAX> {
        super::xdr::Array(self.clone())
    }
}

/// A reply payload made from the driver API value it carries (the server side).
pub trait WrapReply<T>: Sized {
    fn wrap(value: T) -> Self;
}

/// A reply payload turned back into the driver API value (the client side).
pub trait ReplyValue<T>: WrapReply<T> {
    /// Fails when the peer sent a value the API cannot hold.
    fn unwrap(self) -> Result<T>;
}

/// An empty reply: whatever the driver answered beyond success is not sent (DOMAIN_CREATE's new id).
impl<T> WrapReply<T> for () {
    fn wrap(_: T) -> Self {}
}

impl ReplyValue<()> for () {
    fn unwrap(self) -> Result<()> {
        Ok(())
    }
}

impl WrapReply<bool> for IntRet {
    fn wrap(value: bool) -> Self {
        IntRet {
            value: i32::from(value),
        }
    }
}

impl ReplyValue<bool> for IntRet {
    fn unwrap(self) -> Result<bool> {
        Ok(self.value != 0)
    }
}

impl WrapReply<i32> for IntRet {
    fn wrap(value: i32) -> Self {
        IntRet { value }
    }
}

impl ReplyValue<i32> for IntRet {
    fn unwrap(self) -> Result<i32> {
        Ok(self.value)
    }
}

impl WrapReply<u32> for IntRet {
    fn wrap(value: u32) -> Self {
        IntRet {
            value: i32::try_from(value).unwrap_or(i32::MAX),
        }
    }
}

impl ReplyValue<u32> for IntRet {
    fn unwrap(self) -> Result<u32> {
        u32::try_from(self.value).map_err(|_| bad_reply("count", i64::from(self.value)))
    }
}

/// A value from the peer that the API cannot represent.
pub fn bad_reply(what: &str, value: i64) -> Error {
    Error::new(
        ErrorCode::RPC,
        ErrorDomain::RPC,
        format!("server sent an out-of-range {what}: {value}"),
    )
}

macro_rules! one_field_reply {
    ($($ret:ident { $field:ident: $ty:ty }),* $(,)?) => {
        $(impl WrapReply<$ty> for $ret {
            fn wrap(value: $ty) -> Self {
                $ret { $field: value }
            }
        }

        impl ReplyValue<$ty> for $ret {
            fn unwrap(self) -> Result<$ty> {
                Ok(self.$field)
            }
        })*
    };
}

one_field_reply!(
    StringRet { value: String },
    OptStringRet {
        value: Option<String>
    },
    U64Ret { value: u64 },
    DomainRet { dom: DomainRef },
    NetworkRet { net: NetworkRef },
    PoolRet { pool: PoolRef },
    VolRet { vol: VolumeRef },
    InterfaceRet {
        iface: InterfaceRef
    },
    SnapshotRet { snap: SnapshotRef },
    SecretRet { secret: SecretRef },
    NwFilterRet {
        nwfilter: NwFilterRef
    },
    NwFilterBindingRet {
        nwfilter: NwFilterBindingRef
    },
);
