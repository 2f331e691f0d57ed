//! A connection to another daemon that is opened lazily and opened again when it dies, so a front end (the WBEM
//! server with a remote `wbem_connect_uri`) starts before its remote host and survives the remote daemon's
//! restart. Every call goes to the current connection; a call finding it dead reconnects first (a call already
//! sent on a dying connection fails with the transport's error and is not repeated: it may have been carried
//! out). It forwards every driver method through [`Forward`], so no method can be missed.

use tracing::{info, warn};

use super::{ConnectOptions, Registry};
use crate::driver::{Connection, Forward};
use crate::error::Result;

/// A connection to `uri`, (re)opened on demand.
pub struct Reconnecting {
    uri: String,
    options: ConnectOptions,
    current: tokio::sync::Mutex<Option<Connection>>,
}

impl Reconnecting {
    /// Tries to connect once now; a failure is logged, not fatal (the next call tries again).
    pub async fn open(uri: &str, options: ConnectOptions) -> Reconnecting {
        let conn = Reconnecting {
            uri: uri.to_owned(),
            options,
            current: tokio::sync::Mutex::new(None),
        };
        if let Err(err) = conn.current().await {
            warn!(uri, error = %err, "wbem_connect_uri: not connected yet, will retry on the next request");
        }
        conn
    }

    /// The live connection, opening a new one when there is none or the last one died.
    async fn current(&self) -> Result<Connection> {
        let mut slot = self.current.lock().await;
        if let Some(conn) = slot.as_ref() {
            if conn.is_alive().await.unwrap_or(false) {
                return Ok(conn.clone());
            }
            info!(uri = %self.uri, "wbem_connect_uri: connection lost, reconnecting");
            *slot = None;
        }
        let conn = Registry::new(self.options.clone())
            .open(&self.uri, self.options.read_only)
            .await?;
        info!(uri = %self.uri, "wbem_connect_uri: connected");
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

impl Forward for Reconnecting {
    fn read_only(&self) -> bool {
        false
    }
    async fn target(&self) -> Result<Connection> {
        self.current().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_uri_is_retried_per_call() {
        let conn = Connection::forwarding(
            Reconnecting::open("test+tcp://127.0.0.1:1/default", ConnectOptions::default()).await,
        );
        assert!(!conn.is_alive().await.unwrap_or(false));
        for _ in 0..2 {
            let err = conn.list_all_domains(0).await.expect_err("no server");
            assert!(err.message.contains("127.0.0.1"), "{}", err.message);
        }
    }
}
