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
    async fn secret_event_subscribe(&self) -> Result<broadcast::Receiver<SecretEvent>> {
        // Listen before registering, so no event sent right after the registration is missed.
        let messages = self.client.subscribe();
        let mut ids = Vec::new();
        for event_id in [EVENT_ID_LIFECYCLE, EVENT_ID_VALUE_CHANGED] {
            let args = SecretEventRegisterArgs {
                event_id,
                secret: None,
            };
            let ret: IntRet = self.call(P::ConnectSecretEventRegisterAny, args).await?;
            ids.push(ret.value);
        }
        let (sender, receiver) = broadcast::channel(EVENT_QUEUE);
        tokio::spawn(forward_secret_events(messages, sender, ids));
        Ok(receiver)
    }
}

/// `VIR_SECRET_EVENT_ID_LIFECYCLE`, `VIR_SECRET_EVENT_ID_VALUE_CHANGED`.
const EVENT_ID_LIFECYCLE: i32 = 0;
const EVENT_ID_VALUE_CHANGED: i32 = 1;
/// Secret events buffered per subscriber.
const EVENT_QUEUE: usize = 256;

/// The server's secret event messages for our callbacks, as driver events.
async fn forward_secret_events(
    mut messages: broadcast::Receiver<crate::rpc::Message>,
    sender: broadcast::Sender<SecretEvent>,
    ids: Vec<i32>,
) {
    use crate::rpc::procedures::Procedure;
    loop {
        let message = match messages.recv().await {
            Ok(message) => message,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "remote driver missed event messages");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let number = message.header.proc_;
        let event = if number == Procedure::SecretEventLifecycle.number() {
            match SecretLifecycleMsg::from_bytes(&message.payload) {
                Ok(msg) if ids.contains(&msg.callback_id) => SecretEvent {
                    secret: msg.secret,
                    kind: SecretEventKind::Lifecycle {
                        event: msg.event,
                        detail: msg.detail,
                    },
                },
                _ => continue,
            }
        } else if number == Procedure::SecretEventValueChanged.number() {
            match SecretValueChangedMsg::from_bytes(&message.payload) {
                Ok(msg) if ids.contains(&msg.callback_id) => SecretEvent {
                    secret: msg.secret,
                    kind: SecretEventKind::ValueChanged,
                },
                _ => continue,
            }
        } else {
            continue;
        };
        // No receiver left is fine: a later subscriber gets later events.
        let _ = sender.send(event);
    }
}
