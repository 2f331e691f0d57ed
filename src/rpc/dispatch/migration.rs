//! The hand-written server side of migration: the version 3 phases with typed parameters and cookies, whose
//! wire form (opaque cookies, `int cancelled`, two-value replies) differs from the driver API.

use super::*;

/// Answers `call` if it is one of this file's; `None` passes it on.
pub(super) async fn answer(driver: &Connection, call: &Call) -> Option<Result<Reply>> {
    reply(driver, call).await.transpose()
}

async fn reply(driver: &Connection, call: &Call) -> Result<Option<Reply>> {
    use proto::*;
    Ok(Some(match call {
        Call::DomainMigrateBegin3Params(args) => {
            let (cookie, xml) = driver
                .domain_migrate_begin3_params(&args.dom, args.params.0.clone(), args.flags)
                .await?;
            Reply::DomainMigrateBegin3Params(MigrateBegin3ParamsRet {
                cookie_out: Opaque(cookie),
                xml,
            })
        }
        Call::DomainMigratePrepare3Params(args) => {
            let (cookie, uri_out) = driver
                .domain_migrate_prepare3_params(
                    args.params.0.clone(),
                    args.cookie_in.0.clone(),
                    args.flags,
                )
                .await?;
            Reply::DomainMigratePrepare3Params(MigratePrepare3ParamsRet {
                cookie_out: Opaque(cookie),
                uri_out,
            })
        }
        Call::DomainMigratePerform3Params(args) => {
            let cookie = driver
                .domain_migrate_perform3_params(
                    &args.dom,
                    args.dconnuri.clone(),
                    args.params.0.clone(),
                    args.cookie_in.0.clone(),
                    args.flags,
                )
                .await?;
            Reply::DomainMigratePerform3Params(MigrateCookieRet {
                cookie_out: Opaque(cookie),
            })
        }
        Call::DomainMigrateFinish3Params(args) => {
            let (dom, cookie) = driver
                .domain_migrate_finish3_params(
                    args.params.0.clone(),
                    args.cookie_in.0.clone(),
                    args.flags,
                    args.cancelled != 0,
                )
                .await?;
            Reply::DomainMigrateFinish3Params(MigrateFinish3ParamsRet {
                dom,
                cookie_out: Opaque(cookie),
            })
        }
        Call::DomainMigrateConfirm3Params(args) => {
            driver
                .domain_migrate_confirm3_params(
                    &args.dom,
                    args.params.0.clone(),
                    args.cookie_in.0.clone(),
                    args.flags,
                    args.cancelled != 0,
                )
                .await?;
            Reply::DomainMigrateConfirm3Params(())
        }
        _ => return Ok(None),
    }))
}
