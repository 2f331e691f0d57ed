//! Payloads of the storage pool and volume procedures that no other object shares.

use super::xdr::{xdr_struct, Array};
use crate::driver::{PoolRef, VolumeRef};

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
    /// `remote_storage_vol_upload_args` and `remote_storage_vol_download_args` (one layout).
    pub struct VolTransferArgs { pub vol: VolumeRef, pub offset: u64, pub length: u64, pub flags: u32 }
}
