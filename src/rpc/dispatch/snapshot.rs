//! The server side of the domain snapshot procedures, DOMAIN_RENAME and the managed-save changes: caps from `remote_protocol.x`, then the [`Driver`] call.

use crate::driver::{Connection, SnapshotRef};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::rpc::proto::*;
use crate::rpc::proto::{Call, IntRet, Reply};
use crate::rpc::xdr::Array;

fn rpc_error(detail: String) -> Error {
    Error::with_detail(ErrorCode::RPC, ErrorDomain::RPC, detail)
}

/// `maxnames` as libvirtd checks it: not negative, at most the protocol's cap.
fn name_limit(maxnames: i32) -> Result<usize> {
    match usize::try_from(maxnames) {
        Ok(limit) if limit <= DOMAIN_SNAPSHOT_LIST_MAX as usize => Ok(limit),
        Ok(_) => Err(rpc_error(
            "maxnames > REMOTE_DOMAIN_SNAPSHOT_LIST_MAX".to_string(),
        )),
        Err(_) => Err(Error::invalid_arg(
            ErrorDomain::RPC,
            "maxnames must not be negative",
        )),
    }
}

fn count(snaps: &[SnapshotRef]) -> IntRet {
    IntRet {
        value: i32::try_from(snaps.len()).unwrap_or(i32::MAX),
    }
}

fn names(snaps: Vec<SnapshotRef>, limit: usize) -> SnapshotNamesRet {
    SnapshotNamesRet {
        names: Array(snaps.into_iter().take(limit).map(|s| s.name).collect()),
    }
}

fn list_all(snaps: Vec<SnapshotRef>, need_results: i32) -> Result<ListAllSnapshotsRet> {
    if snaps.len() > DOMAIN_SNAPSHOT_LIST_MAX as usize {
        return Err(rpc_error(format!(
            "Too many domain snapshots '{}' for limit '{DOMAIN_SNAPSHOT_LIST_MAX}'",
            snaps.len()
        )));
    }
    let ret = count(&snaps).value;
    let snapshots = if need_results != 0 { snaps } else { Vec::new() };
    Ok(ListAllSnapshotsRet {
        snapshots: Array(snapshots),
        ret,
    })
}

/// Answers `call` if it is a snapshot call (or rename or managed save); `None` passes it on.
pub(super) async fn answer(driver: &Connection, call: &Call) -> Option<Result<Reply>> {
    reply(driver, call).await.transpose()
}

async fn reply(driver: &Connection, call: &Call) -> Result<Option<Reply>> {
    Ok(Some(match call {
        Call::DomainSnapshotNum(a) => Reply::DomainSnapshotNum(count(
            &driver.domain_list_all_snapshots(&a.dom, a.flags).await?,
        )),
        Call::DomainSnapshotListNames(a) => {
            let limit = name_limit(a.maxnames)?;
            let snaps = driver.domain_list_all_snapshots(&a.dom, a.flags).await?;
            Reply::DomainSnapshotListNames(names(snaps, limit))
        }
        Call::DomainListAllSnapshots(a) => {
            let snaps = driver.domain_list_all_snapshots(&a.dom, a.flags).await?;
            Reply::DomainListAllSnapshots(list_all(snaps, a.need_results)?)
        }
        Call::DomainSnapshotNumChildren(a) => Reply::DomainSnapshotNumChildren(count(
            &driver
                .domain_snapshot_list_all_children(&a.snap, a.flags)
                .await?,
        )),
        Call::DomainSnapshotListChildrenNames(a) => {
            let limit = name_limit(a.maxnames)?;
            let snaps = driver
                .domain_snapshot_list_all_children(&a.snap, a.flags)
                .await?;
            Reply::DomainSnapshotListChildrenNames(names(snaps, limit))
        }
        Call::DomainSnapshotListAllChildren(a) => {
            let snaps = driver
                .domain_snapshot_list_all_children(&a.snap, a.flags)
                .await?;
            Reply::DomainSnapshotListAllChildren(list_all(snaps, a.need_results)?)
        }
        Call::DomainRename(a) => {
            let Some(new_name) = &a.new_name else {
                return Err(Error::invalid_arg(
                    ErrorDomain::RPC,
                    "new_name in virDomainRename must not be NULL",
                ));
            };
            driver.domain_rename(&a.dom, new_name, a.flags).await?;
            Reply::DomainRename(IntRet { value: 0 })
        }
        _ => return Ok(None),
    }))
}
