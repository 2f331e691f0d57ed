//! The remote driver's streams: a call that opens a stream returns the user end of a [`Stream`]; a task carries
//! its packets to and from the server as STREAM messages on the call's serial (see [`crate::rpc::stream`]).

use super::*;
use crate::driver::{stream_closed, Packet, Stream};
use crate::rpc::client::ClientStream;
use crate::rpc::dispatch::error_to_wire;
use crate::rpc::packet::{MessageType, Status};
use crate::rpc::stream::{decode, encode, Sender};

impl RemoteDriver {
    /// Makes a call that opens a stream; the reply and the stream's user end.
    pub(super) async fn call_opening_stream<Pr: Proc>(
        &self,
        proc_: Pr,
        args: Pr::Args,
        sparse: bool,
    ) -> Result<(Pr::Ret, Stream)> {
        let (ret, wire) = self.client.call_stream(proc_, &args).await?;
        let (user, driver) = Stream::pair();
        tokio::spawn(carry(wire, driver, sparse));
        Ok((ret, user))
    }
}

/// Moves packets between the local stream and the wire until the stream ends on either side.
async fn carry(mut wire: ClientStream, mut local: Stream, sparse: bool) {
    loop {
        tokio::select! {
            from_user = local.recv() => {
                let Some(packet) = from_user else {
                    abort(&wire).await;
                    return;
                };
                let last = matches!(packet, Packet::Abort | Packet::Error(_));
                let (kind, status, payload) = encode(&packet, |err| error_to_wire(err).to_bytes());
                if wire.send(kind, status, &payload).await.is_err() {
                    let _ = local.send(Packet::Error(stream_closed())).await;
                    return;
                }
                if last {
                    return;
                }
            }
            from_server = wire.recv() => {
                let Some(message) = from_server else {
                    let _ = local.send(Packet::Error(stream_closed())).await;
                    return;
                };
                let header = message.header;
                match decode(Sender::Server, header.kind, header.status, &message.payload, sparse) {
                    Ok(packet) => {
                        let last = matches!(packet, Packet::Done | Packet::Error(_));
                        if local.send(packet).await.is_err() {
                            abort(&wire).await;
                            return;
                        }
                        if last {
                            return;
                        }
                    }
                    Err(err) => {
                        abort(&wire).await;
                        let _ = local.send(Packet::Error(err)).await;
                        return;
                    }
                }
            }
        }
    }
}

/// Tells the server the stream is abandoned. Its confirmation is not awaited: the stream is unregistered when
/// `wire` drops, and late messages of it are dropped.
async fn abort(wire: &ClientStream) {
    let _ = wire.send(MessageType::Stream, Status::Error, &[]).await;
}
