//! Payloads of the storage pool and volume procedures that no other object shares.

use super::values::{bad_reply, ReplyValue, WrapReply};
use super::xdr::{xdr_struct, Array};
use crate::driver::{PoolInfo, VolumeInfo};
use crate::driver::{PoolRef, VolumeRef};
use crate::error::Result;

pub const STORAGE_POOL_LIST_MAX: u32 = 4096;
pub const STORAGE_VOL_LIST_MAX: u32 = 16384;

xdr_struct! { pub struct ListAllPoolsRet { pub pools: Array<PoolRef, STORAGE_POOL_LIST_MAX>, pub ret: u32 } }

xdr_struct! { pub struct ListAllVolumesRet { pub vols: Array<VolumeRef, STORAGE_VOL_LIST_MAX>, pub ret: u32 } }

xdr_struct! { pub struct PoolNamesRet { pub names: Array<String, STORAGE_POOL_LIST_MAX> } }

xdr_struct! { pub struct VolNamesRet { pub names: Array<String, STORAGE_VOL_LIST_MAX> } }

xdr_struct! {
    /// `state` is an `unsigned char`: 4 bytes.
    pub struct PoolGetInfoRet { pub state: u32, pub capacity: u64, pub allocation: u64, pub available: u64 }
}

xdr_struct! {
    /// `type` is a `char`: 4 bytes.
    pub struct VolGetInfoRet { pub kind: i32, pub capacity: u64, pub allocation: u64 }
}

xdr_struct! {
    /// `remote_storage_vol_create_xml_from_args`.
    pub struct VolCreateXmlFromArgs { pub pool: PoolRef, pub xml: String, pub clonevol: VolumeRef, pub flags: u32 }
}

xdr_struct! { pub struct VolWipePatternArgs { pub vol: VolumeRef, pub algorithm: u32, pub flags: u32 } }

xdr_struct! {
    /// `remote_connect_storage_pool_event_register_any_args`: an event family, optionally one pool.
    pub struct PoolEventRegisterArgs { pub event_id: i32, pub pool: Option<PoolRef> }
}

xdr_struct! {
    pub struct PoolLifecycleMsg { pub callback_id: i32, pub pool: PoolRef, pub event: i32, pub detail: i32 }
}

xdr_struct! { pub struct PoolRefreshMsg { pub callback_id: i32, pub pool: PoolRef } }

impl WrapReply<PoolInfo> for PoolGetInfoRet {
    fn wrap(info: PoolInfo) -> Self {
        PoolGetInfoRet {
            state: u32::try_from(info.state).unwrap_or(0),
            capacity: info.capacity,
            allocation: info.allocation,
            available: info.available,
        }
    }
}

impl ReplyValue<PoolInfo> for PoolGetInfoRet {
    fn unwrap(self) -> Result<PoolInfo> {
        Ok(PoolInfo {
            state: i32::try_from(self.state)
                .map_err(|_| bad_reply("pool state", i64::from(self.state)))?,
            capacity: self.capacity,
            allocation: self.allocation,
            available: self.available,
        })
    }
}

impl WrapReply<VolumeInfo> for VolGetInfoRet {
    fn wrap(info: VolumeInfo) -> Self {
        VolGetInfoRet {
            kind: info.kind,
            capacity: info.capacity,
            allocation: info.allocation,
        }
    }
}

impl ReplyValue<VolumeInfo> for VolGetInfoRet {
    fn unwrap(self) -> Result<VolumeInfo> {
        Ok(VolumeInfo {
            kind: self.kind,
            capacity: self.capacity,
            allocation: self.allocation,
        })
    }
}

xdr_struct! {
    /// `remote_storage_vol_upload_args` and `remote_storage_vol_download_args` (one layout).
    pub struct VolTransferArgs { pub vol: VolumeRef, pub offset: u64, pub length: u64, pub flags: u32 }
}
