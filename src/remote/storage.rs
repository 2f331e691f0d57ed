//! The remote driver's hand-written methods for storage pools and volumes: the calls whose wire form differs from the
//! driver API (plain procedures when no flags are given, fallbacks to old-style calls, conversions and caps).

use super::calls::imp;
use super::*;
use crate::driver::*;

impl imp::storage::Hand for RemoteDriver {
    // ---- volume transfers (streams) ----
    async fn vol_upload(
        &self,
        vol: &VolumeRef,
        offset: u64,
        length: u64,
        flags: u32,
    ) -> Result<Stream> {
        let args = VolTransferArgs {
            vol: vol.clone(),
            offset,
            length,
            flags,
        };
        let sparse = flags & flags::VOL_UPLOAD_SPARSE_STREAM != 0;
        Ok(self
            .call_opening_stream(P::StorageVolUpload, args, sparse)
            .await?
            .1)
    }
    async fn vol_download(
        &self,
        vol: &VolumeRef,
        offset: u64,
        length: u64,
        flags: u32,
    ) -> Result<Stream> {
        let args = VolTransferArgs {
            vol: vol.clone(),
            offset,
            length,
            flags,
        };
        let sparse = flags & flags::VOL_DOWNLOAD_SPARSE_STREAM != 0;
        Ok(self
            .call_opening_stream(P::StorageVolDownload, args, sparse)
            .await?
            .1)
    }
    // ---- storage pools ----
    async fn list_all_storage_pools(&self, flags: u32) -> Result<Vec<PoolRef>> {
        let args = ListAllArgs {
            need_results: 1,
            flags,
        };
        match self.call(P::ConnectListAllStoragePools, args).await {
            Ok(ret) => Ok(ret.pools.0),
            Err(err) if is_no_support(&err) => {
                match Self::old_style_scope(
                    flags,
                    flags::LIST_POOLS_ACTIVE,
                    flags::LIST_POOLS_INACTIVE,
                ) {
                    Some((active, inactive)) => self.list_pools_old_style(active, inactive).await,
                    None => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }
    async fn pool_define_xml(&self, xml: &str, flags: u32) -> Result<PoolRef> {
        let args = StringFlagsArgs {
            value: xml.to_string(),
            flags,
        };
        Ok(self.call(P::StoragePoolDefineXml, args).await?.pool)
    }
    async fn pool_create_xml(&self, xml: &str, flags: u32) -> Result<PoolRef> {
        let args = StringFlagsArgs {
            value: xml.to_string(),
            flags,
        };
        Ok(self.call(P::StoragePoolCreateXml, args).await?.pool)
    }
    async fn pool_list_all_volumes(&self, pool: &PoolRef, flags: u32) -> Result<Vec<VolumeRef>> {
        let args = PoolListAllArgs {
            pool: pool.clone(),
            need_results: 1,
            flags,
        };
        match self.call(P::StoragePoolListAllVolumes, args).await {
            Ok(ret) => Ok(ret.vols.0),
            Err(err) if is_no_support(&err) && flags == 0 => {
                self.list_volumes_old_style(pool).await
            }
            Err(err) => Err(err),
        }
    }
    // ---- storage volumes ----
    async fn vol_lookup_by_name(&self, pool: &PoolRef, name: &str) -> Result<VolumeRef> {
        let args = PoolStringArgs {
            pool: pool.clone(),
            value: name.to_string(),
        };
        Ok(self.call(P::StorageVolLookupByName, args).await?.vol)
    }
    async fn vol_create_xml(&self, pool: &PoolRef, xml: &str, flags: u32) -> Result<VolumeRef> {
        let args = PoolStringFlagsArgs {
            pool: pool.clone(),
            value: xml.to_string(),
            flags,
        };
        Ok(self.call(P::StorageVolCreateXml, args).await?.vol)
    }
    async fn vol_delete(&self, vol: &VolumeRef, flags: u32) -> Result<()> {
        let args = VolFlagsArgs {
            vol: vol.clone(),
            flags,
        };
        self.call(P::StorageVolDelete, args).await
    }
    async fn vol_resize(&self, vol: &VolumeRef, capacity: u64, flags: u32) -> Result<()> {
        let args = VolResizeArgs {
            vol: vol.clone(),
            capacity,
            flags,
        };
        self.call(P::StorageVolResize, args).await
    }
    /// Registers one lifecycle and one refresh callback for this subscriber; they are dropped on the server
    /// when the subscriber goes away (at its next event) or the connection ends.
    async fn storage_pool_event_subscribe(&self) -> Result<broadcast::Receiver<PoolEvent>> {
        // Listen before registering, so no event sent right after the registration is missed.
        let messages = self.client.subscribe();
        let mut ids = Vec::new();
        for event_id in [POOL_EVENT_ID_LIFECYCLE, POOL_EVENT_ID_REFRESH] {
            let args = PoolEventRegisterArgs {
                event_id,
                pool: None,
            };
            let ret: IntRet = self
                .call(P::ConnectStoragePoolEventRegisterAny, args)
                .await?;
            ids.push(ret.value);
        }
        let (sender, receiver) = broadcast::channel(EVENT_QUEUE);
        tokio::spawn(forward_pool_events(messages, sender, (ids[0], ids[1])));
        Ok(receiver)
    }
    async fn vol_get_xml_desc(&self, vol: &VolumeRef, flags: u32) -> Result<String> {
        let args = VolFlagsArgs {
            vol: vol.clone(),
            flags,
        };
        self.string(P::StorageVolGetXmlDesc, args).await
    }
}

/// `VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE` and `_REFRESH`.
const POOL_EVENT_ID_LIFECYCLE: i32 = 0;
const POOL_EVENT_ID_REFRESH: i32 = 1;

async fn forward_pool_events(
    mut messages: broadcast::Receiver<crate::rpc::Message>,
    sender: broadcast::Sender<PoolEvent>,
    (lifecycle_id, refresh_id): (i32, i32),
) {
    use crate::rpc::procedures::Procedure;
    loop {
        let message = match messages.recv().await {
            Ok(message) => message,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "remote driver missed pool event messages");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let number = message.header.proc_;
        let event = if number == Procedure::StoragePoolEventLifecycle.number() {
            match PoolLifecycleMsg::from_bytes(&message.payload) {
                Ok(body) if body.callback_id == lifecycle_id => PoolEvent {
                    pool: body.pool,
                    kind: PoolEventKind::Lifecycle {
                        event: body.event,
                        detail: body.detail,
                    },
                },
                _ => continue,
            }
        } else if number == Procedure::StoragePoolEventRefresh.number() {
            match PoolRefreshMsg::from_bytes(&message.payload) {
                Ok(body) if body.callback_id == refresh_id => PoolEvent {
                    pool: body.pool,
                    kind: PoolEventKind::Refresh,
                },
                _ => continue,
            }
        } else {
            continue;
        };
        if sender.send(event).is_err() {
            // The subscriber is gone.
            return;
        }
    }
}
