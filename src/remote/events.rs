//! Events from the server (domain, network, ...), fanned out to the remote driver's subscribers.

use super::*;
use crate::rpc::procedures::Procedure;

/// The server-side callbacks one remote connection registered, one per domain event family.
#[derive(Default, Clone, Copy, Debug)]
pub(super) struct EventCallbacks {
    pub lifecycle: Option<i32>,
    pub device_removed: Option<i32>,
    pub agent: Option<i32>,
    pub metadata: Option<i32>,
}

/// Decodes an event message's body, or says why not.
fn decoded<T: Xdr>(payload: &[u8], what: &str) -> Option<T> {
    T::from_bytes(payload)
        .map_err(|err| tracing::warn!(%err, "undecodable {what} event"))
        .ok()
}

/// The driver event one message from the server carries, if it is one of this connection's.
fn domain_event(
    message: &crate::rpc::Message,
    callbacks: Option<EventCallbacks>,
) -> Option<DomainEvent> {
    let number = message.header.proc_;
    let payload = &message.payload[..];
    let Some(ids) = callbacks else {
        if number != Procedure::DomainEventLifecycle.number() {
            return None;
        }
        let body: LifecycleMsg = decoded(payload, "lifecycle")?;
        return Some(lifecycle(body));
    };
    let ours = |id: i32, slot: Option<i32>| Some(id) == slot;
    if number == Procedure::DomainEventCallbackLifecycle.number() {
        let body: CallbackLifecycleMsg = decoded(payload, "lifecycle")?;
        return ours(body.callback_id, ids.lifecycle).then(|| lifecycle(body.msg));
    }
    if number == Procedure::DomainEventCallbackDeviceRemoved.number() {
        let body: CallbackDeviceRemovedMsg = decoded(payload, "device-removed")?;
        return ours(body.callback_id, ids.device_removed).then_some(DomainEvent {
            domain: body.msg.dom,
            event: 0,
            detail: 0,
            metadata: None,
            device_removed: Some(body.msg.dev_alias),
        });
    }
    if number == Procedure::DomainEventCallbackMetadataChange.number() {
        let body: CallbackMetadataChangeMsg = decoded(payload, "metadata-change")?;
        return ours(body.callback_id, ids.metadata)
            .then(|| DomainEvent::metadata_change(body.dom, body.kind, body.nsuri));
    }
    if number == Procedure::DomainEventCallbackAgentLifecycle.number() {
        let body: CallbackAgentLifecycleMsg = decoded(payload, "agent-lifecycle")?;
        return ours(body.callback_id, ids.agent).then_some(DomainEvent {
            domain: body.dom,
            event: crate::driver::event::AGENT_LIFECYCLE,
            detail: body.state,
            metadata: None,
            device_removed: None,
        });
    }
    None
}

fn lifecycle(msg: LifecycleMsg) -> DomainEvent {
    DomainEvent {
        domain: msg.dom,
        event: msg.event,
        detail: msg.detail,
        metadata: None,
        device_removed: None,
    }
}

/// Domain events from the server (lifecycle, device removal, agent lifecycle, metadata changes), fanned out to
/// the remote driver's subscribers as the local drivers send them.
pub(super) async fn forward_events(
    mut messages: broadcast::Receiver<crate::rpc::Message>,
    sender: broadcast::Sender<DomainEvent>,
    callbacks: Option<EventCallbacks>,
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
        if let Some(event) = domain_event(&message, callbacks) {
            // No receiver left is fine: a later subscriber gets later events.
            let _ = sender.send(event);
        }
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
