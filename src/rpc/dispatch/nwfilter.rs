//! The hand-written server side of network filters and their bindings: listings in both styles (caps,
//! `need_results`, old-style names); the rest are generated from the declaration.

use super::*;

/// Answers `call` if it is one of this file's; `None` passes it on.
pub(super) async fn answer(driver: &Connection, call: &Call) -> Option<Result<Reply>> {
    reply(driver, call).await.transpose()
}

/// Every filter for an old-style call; a driver without filters names the old API, as libvirt does.
async fn old_style(driver: &Connection, api: &str) -> Result<Vec<crate::driver::NwFilterRef>> {
    driver.list_all_nwfilters(0).await.map_err(|err| {
        if err.code == ErrorCode::NO_SUPPORT {
            Error::no_support(api)
        } else {
            err
        }
    })
}

async fn reply(driver: &Connection, call: &Call) -> Result<Option<Reply>> {
    use proto::*;
    Ok(Some(match call {
        Call::ConnectListAllNwfilters(args) => {
            let filters = driver.list_all_nwfilters(args.flags).await?;
            if filters.len() > NWFILTER_LIST_MAX as usize {
                return Err(rpc_error(format!(
                    "too many nwfilters '{}' for limit '{NWFILTER_LIST_MAX}'",
                    filters.len()
                )));
            }
            let ret = u32::try_from(filters.len()).unwrap_or(u32::MAX);
            let filters = if args.need_results != 0 {
                filters
            } else {
                Vec::new()
            };
            Reply::ConnectListAllNwfilters(ListAllNwFiltersRet {
                filters: Array(filters),
                ret,
            })
        }
        Call::ConnectNumOfNwfilters(()) => Reply::ConnectNumOfNwfilters(count(
            old_style(driver, "virConnectNumOfNWFilters").await?.len(),
        )),
        Call::ConnectListNwfilters(args) => {
            let limit = list_limit(args.value, NWFILTER_LIST_MAX, "maxnames")?;
            let filters = old_style(driver, "virConnectListNWFilters").await?;
            Reply::ConnectListNwfilters(NwFilterNamesRet {
                names: Array(names(filters, limit, |f| f.name)),
            })
        }
        Call::ConnectListAllNwfilterBindings(args) => {
            let bindings = driver.list_all_nwfilter_bindings(args.flags).await?;
            if bindings.len() > NWFILTER_BINDING_LIST_MAX as usize {
                return Err(rpc_error(format!(
                    "too many nwfilter bindings '{}' for limit '{NWFILTER_BINDING_LIST_MAX}'",
                    bindings.len()
                )));
            }
            let ret = u32::try_from(bindings.len()).unwrap_or(u32::MAX);
            let bindings = if args.need_results != 0 {
                bindings
            } else {
                Vec::new()
            };
            Reply::ConnectListAllNwfilterBindings(ListAllNwFilterBindingsRet {
                bindings: Array(bindings),
                ret,
            })
        }
        _ => return Ok(None),
    }))
}
