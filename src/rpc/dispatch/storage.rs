//! The hand-written server side of storage pools and volumes: listings in both styles, pool and volume information: the calls whose wire form differs from the driver API (caps,
//! `need_results`, old-style counts and names, typed parameters); the rest are generated from the declaration.

use super::*;

/// Answers `call` if it is one of this file's; `None` passes it on.
pub(super) async fn answer(driver: &Connection, call: &Call) -> Option<Result<Reply>> {
    reply(driver, call).await.transpose()
}

async fn reply(driver: &Connection, call: &Call) -> Result<Option<Reply>> {
    #[allow(unused_imports)]
    use flags as f;
    use proto::*;
    Ok(Some(match call {
        Call::ConnectListAllStoragePools(args) => {
            let pools = driver.list_all_storage_pools(args.flags).await?;
            let ret = u32::try_from(pools.len()).unwrap_or(u32::MAX);
            let pools = if args.need_results != 0 {
                pools
            } else {
                Vec::new()
            };
            if pools.len() > STORAGE_POOL_LIST_MAX as usize {
                return Err(rpc_error(format!(
                    "too many storage pools '{}' for limit '{STORAGE_POOL_LIST_MAX}'",
                    pools.len()
                )));
            }
            Reply::ConnectListAllStoragePools(ListAllPoolsRet {
                pools: Array(pools),
                ret,
            })
        }
        Call::ConnectNumOfStoragePools(()) => Reply::ConnectNumOfStoragePools(count(
            driver
                .list_all_storage_pools(f::LIST_POOLS_ACTIVE)
                .await?
                .len(),
        )),
        Call::ConnectListStoragePools(args) => {
            let limit = list_limit(args.value, STORAGE_POOL_LIST_MAX, "maxnames")?;
            let pools = driver.list_all_storage_pools(f::LIST_POOLS_ACTIVE).await?;
            Reply::ConnectListStoragePools(PoolNamesRet {
                names: Array(names(pools, limit, |p| p.name)),
            })
        }
        Call::ConnectNumOfDefinedStoragePools(()) => Reply::ConnectNumOfDefinedStoragePools(count(
            driver
                .list_all_storage_pools(f::LIST_POOLS_INACTIVE)
                .await?
                .len(),
        )),
        Call::ConnectListDefinedStoragePools(args) => {
            let limit = list_limit(args.value, STORAGE_POOL_LIST_MAX, "maxnames")?;
            let pools = driver
                .list_all_storage_pools(f::LIST_POOLS_INACTIVE)
                .await?;
            Reply::ConnectListDefinedStoragePools(PoolNamesRet {
                names: Array(names(pools, limit, |p| p.name)),
            })
        }
        Call::StoragePoolGetInfo(args) => {
            let info = driver.pool_get_info(&args.pool).await?;
            Reply::StoragePoolGetInfo(PoolGetInfoRet {
                state: u32::try_from(info.state).unwrap_or(0),
                capacity: info.capacity,
                allocation: info.allocation,
                available: info.available,
            })
        }
        Call::StoragePoolNumOfVolumes(args) => Reply::StoragePoolNumOfVolumes(count(
            driver.pool_list_all_volumes(&args.pool, 0).await?.len(),
        )),
        Call::StoragePoolListVolumes(args) => {
            let limit = list_limit(args.value, STORAGE_VOL_LIST_MAX, "maxnames")?;
            let vols = driver.pool_list_all_volumes(&args.pool, 0).await?;
            Reply::StoragePoolListVolumes(VolNamesRet {
                names: Array(names(vols, limit, |v| v.name)),
            })
        }
        Call::StoragePoolListAllVolumes(args) => {
            let vols = driver.pool_list_all_volumes(&args.pool, args.flags).await?;
            let ret = u32::try_from(vols.len()).unwrap_or(u32::MAX);
            let vols = if args.need_results != 0 {
                vols
            } else {
                Vec::new()
            };
            if vols.len() > STORAGE_VOL_LIST_MAX as usize {
                return Err(rpc_error(format!(
                    "too many storage volumes '{}' for limit '{STORAGE_VOL_LIST_MAX}'",
                    vols.len()
                )));
            }
            Reply::StoragePoolListAllVolumes(ListAllVolumesRet {
                vols: Array(vols),
                ret,
            })
        }

        Call::StorageVolGetInfoFlags(args) => {
            let info = driver.vol_get_info_flags(&args.vol, args.flags).await?;
            Reply::StorageVolGetInfoFlags(VolGetInfoRet {
                kind: info.kind,
                capacity: info.capacity,
                allocation: info.allocation,
            })
        }
        Call::StorageVolGetInfo(args) => {
            let info = driver.vol_get_info(&args.vol).await?;
            Reply::StorageVolGetInfo(VolGetInfoRet {
                kind: info.kind,
                capacity: info.capacity,
                allocation: info.allocation,
            })
        }
        _ => return Ok(None),
    }))
}
