//! Lifecycle events from the server, fanned out to the remote driver's subscribers.

use super::*;
use crate::rpc::procedures::Procedure;

pub(super) async fn forward_events(
    mut messages: broadcast::Receiver<crate::rpc::Message>,
    sender: broadcast::Sender<DomainEvent>,
    callback_id: Option<i32>,
) {
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
        let lifecycle = match callback_id {
            Some(id) if number == Procedure::DomainEventCallbackLifecycle.number() => {
                match CallbackLifecycleMsg::from_bytes(&message.payload) {
                    Ok(body) if body.callback_id == id => body.msg,
                    Ok(_) => continue,
                    Err(err) => {
                        tracing::warn!(%err, "undecodable lifecycle event");
                        continue;
                    }
                }
            }
            None if number == Procedure::DomainEventLifecycle.number() => {
                match LifecycleMsg::from_bytes(&message.payload) {
                    Ok(body) => body,
                    Err(err) => {
                        tracing::warn!(%err, "undecodable lifecycle event");
                        continue;
                    }
                }
            }
            _ => continue,
        };
        // No receiver left is fine: a later subscriber gets later events.
        let _ = sender.send(DomainEvent {
            domain: lifecycle.dom,
            event: lifecycle.event,
            detail: lifecycle.detail,
            metadata: None,
            device_removed: None,
        });
    }
}

/// Network lifecycle events of one server-side callback, fanned out to the remote driver's subscribers.
pub(super) async fn forward_network_events(
    mut messages: broadcast::Receiver<crate::rpc::Message>,
    sender: broadcast::Sender<NetworkEvent>,
    callback_id: i32,
) {
    loop {
        let message = match messages.recv().await {
            Ok(message) => message,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "remote driver missed event messages");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if message.header.proc_ != Procedure::NetworkEventLifecycle.number() {
            continue;
        }
        match NetworkEventLifecycleMsg::from_bytes(&message.payload) {
            Ok(body) if body.callback_id == callback_id => {
                let _ = sender.send(NetworkEvent {
                    network: body.net,
                    event: body.event,
                    detail: body.detail,
                });
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(%err, "undecodable network lifecycle event"),
        }
    }
}
