//! The remote driver's hand-written methods for secrets: the listing and the value calls, whose wire form
//! (opaque bytes, `need_results`) differs from the driver API.

use super::calls::imp;
use super::*;
use crate::driver::*;
use crate::rpc::xdr::Opaque;

impl imp::secret::Hand for RemoteDriver {
    async fn list_all_secrets(&self, flags: u32) -> Result<Vec<SecretRef>> {
        let args = ListAllArgs {
            need_results: 1,
            flags,
        };
        let ret: ListAllSecretsRet = self.call(P::ConnectListAllSecrets, args).await?;
        Ok(ret.secrets.0)
    }
    async fn secret_set_value(&self, secret: &SecretRef, value: &[u8], flags: u32) -> Result<()> {
        let args = SecretSetValueArgs {
            secret: secret.clone(),
            value: Opaque(value.to_vec()),
            flags,
        };
        self.call(P::SecretSetValue, args).await
    }
    async fn secret_get_value(&self, secret: &SecretRef, flags: u32) -> Result<Vec<u8>> {
        let args = SecretFlagsArgs {
            secret: secret.clone(),
            flags,
        };
        let ret: SecretGetValueRet = self.call(P::SecretGetValue, args).await?;
        Ok(ret.value.0)
    }
}
