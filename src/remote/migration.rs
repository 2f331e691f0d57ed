//! The remote driver's migration calls: the version 3 phases with typed parameters, each one RPC, and the
//! feature probe a migration makes first.

use super::*;
use crate::driver::TypedParam;
use crate::rpc::xdr::Opaque;

impl RemoteDriver {
    pub(super) async fn remote_supports_feature(&self, feature: i32) -> Result<bool> {
        let ret: IntRet = self
            .call(P::ConnectSupportsFeature, IntArgs { value: feature })
            .await?;
        Ok(ret.value != 0)
    }

    pub(super) async fn remote_migrate_begin3(
        &self,
        dom: &DomainRef,
        params: Vec<TypedParam>,
        flags: u32,
    ) -> Result<(Vec<u8>, String)> {
        let args = MigrateBegin3ParamsArgs {
            dom: dom.clone(),
            params: Array(params),
            flags,
        };
        let ret = self.call(P::DomainMigrateBegin3Params, args).await?;
        Ok((ret.cookie_out.0, ret.xml))
    }

    pub(super) async fn remote_migrate_prepare3(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        flags: u32,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let args = MigratePrepare3ParamsArgs {
            params: Array(params),
            cookie_in: Opaque(cookie_in),
            flags,
        };
        let ret = self.call(P::DomainMigratePrepare3Params, args).await?;
        Ok((ret.cookie_out.0, ret.uri_out))
    }

    /// The destination's Prepare of a tunnelled migration: its reply opens the stream the data goes down.
    pub(super) async fn remote_migrate_prepare_tunnel3(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        flags: u32,
    ) -> Result<(Vec<u8>, crate::driver::Stream)> {
        let args = MigratePrepareTunnel3ParamsArgs {
            params: Array(params),
            cookie_in: Opaque(cookie_in),
            flags,
        };
        let (ret, stream) = self
            .call_opening_stream(P::DomainMigratePrepareTunnel3Params, args, false)
            .await?;
        Ok((ret.cookie_out.0, stream))
    }

    pub(super) async fn remote_migrate_perform3(
        &self,
        dom: &DomainRef,
        dconnuri: Option<String>,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        flags: u32,
    ) -> Result<Vec<u8>> {
        let args = MigratePerform3ParamsArgs {
            dom: dom.clone(),
            dconnuri,
            params: Array(params),
            cookie_in: Opaque(cookie_in),
            flags,
        };
        let ret = self.call(P::DomainMigratePerform3Params, args).await?;
        Ok(ret.cookie_out.0)
    }

    pub(super) async fn remote_migrate_finish3(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        flags: u32,
        cancelled: bool,
    ) -> Result<(DomainRef, Vec<u8>)> {
        let args = MigrateFinish3ParamsArgs {
            params: Array(params),
            cookie_in: Opaque(cookie_in),
            flags,
            cancelled: i32::from(cancelled),
        };
        let ret = self.call(P::DomainMigrateFinish3Params, args).await?;
        Ok((ret.dom, ret.cookie_out.0))
    }

    pub(super) async fn remote_migrate_confirm3(
        &self,
        dom: &DomainRef,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        flags: u32,
        cancelled: bool,
    ) -> Result<()> {
        let args = MigrateConfirm3ParamsArgs {
            dom: dom.clone(),
            params: Array(params),
            cookie_in: Opaque(cookie_in),
            flags,
            cancelled: i32::from(cancelled),
        };
        self.call(P::DomainMigrateConfirm3Params, args).await
    }
}
