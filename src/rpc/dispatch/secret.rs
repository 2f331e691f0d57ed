//! The hand-written server side of secrets: listings in both styles (caps, `need_results`, old-style UUID
//! lists) and the value read, whose reply is opaque bytes; the rest are generated from the declaration.

use super::*;

/// Answers `call` if it is one of this file's; `None` passes it on.
pub(super) async fn answer(driver: &Connection, call: &Call) -> Option<Result<Reply>> {
    reply(driver, call).await.transpose()
}

/// Every secret for an old-style call; a driver without secrets names the old API, as libvirt does.
async fn old_style(driver: &Connection, api: &str) -> Result<Vec<crate::driver::SecretRef>> {
    driver.list_all_secrets(0).await.map_err(|err| {
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
        Call::ConnectListAllSecrets(args) => {
            let secrets = driver.list_all_secrets(args.flags).await?;
            if secrets.len() > SECRET_LIST_MAX as usize {
                return Err(rpc_error(format!(
                    "too many secrets '{}' for limit '{SECRET_LIST_MAX}'",
                    secrets.len()
                )));
            }
            let ret = u32::try_from(secrets.len()).unwrap_or(u32::MAX);
            let secrets = if args.need_results != 0 {
                secrets
            } else {
                Vec::new()
            };
            Reply::ConnectListAllSecrets(ListAllSecretsRet {
                secrets: Array(secrets),
                ret,
            })
        }
        Call::ConnectNumOfSecrets(()) => Reply::ConnectNumOfSecrets(count(
            old_style(driver, "virConnectNumOfSecrets").await?.len(),
        )),
        Call::ConnectListSecrets(args) => {
            let limit = list_limit(args.value, SECRET_LIST_MAX, "maxuuids")?;
            let secrets = old_style(driver, "virConnectListSecrets").await?;
            Reply::ConnectListSecrets(SecretUuidsRet {
                uuids: Array(names(secrets, limit, |s| s.uuid.to_string())),
            })
        }
        Call::SecretGetValue(args) => {
            let value = driver.secret_get_value(&args.secret, args.flags).await?;
            Reply::SecretGetValue(SecretGetValueRet {
                value: Opaque(value),
            })
        }
        _ => return Ok(None),
    }))
}
