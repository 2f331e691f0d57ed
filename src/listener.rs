//! Accepting connections, the same way for every front end: one accept loop with one policy for accept errors,
//! admission under connection caps, and the shutdown signal and service set that listeners run under.
//!
//! Why one helper: each front end used to carry its own loop, and they disagreed on which accept errors are
//! worth retrying and how soon (one spun on a broken listener, one gave up on a client's reset). The policy here:
//! - errors that concern one client (it reset or aborted before we took it, a signal, a network error the kernel
//!   reports on accept) are retried at once: the next client must not wait;
//! - running out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) leaves the client in the
//!   backlog, so retrying at once would spin: the loop sleeps, doubling from 10 ms to 1 s while the shortage lasts,
//!   logs the first failure of a streak as a warning and the recovery as info;
//! - anything else means the listening socket itself is unusable: the loop ends with that error.
//!
//! What a listener does with an accepted connection stays its own (RPC sockets on their thread, TLS handshakes,
//! hyper), as does what it admits: the loop asks an `admit` function, and [`Limit`] is the usual one.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// The first pause after a resource shortage on accept; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A handle services wait on; it fires once when the process stops its services.
#[derive(Clone, Debug)]
pub struct Shutdown(Option<watch::Receiver<bool>>);

impl Shutdown {
    /// A handle that never fires (a listener that runs until its socket fails or its runtime ends).
    pub fn never() -> Self {
        Self(None)
    }

    /// Resolves when the services are stopping (at once if they already are).
    pub async fn wait(&mut self) {
        match &mut self.0 {
            // An error means the sender is gone, which is a shutdown too.
            Some(receiver) => {
                let _ = receiver.wait_for(|stopping| *stopping).await;
            }
            None => std::future::pending().await,
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.0.as_ref().is_some_and(|receiver| *receiver.borrow())
    }
}

/// The services of a process (each listener is one): started by name, told to stop together, awaited together.
pub struct Services {
    running: JoinSet<(&'static str, Result<(), String>)>,
    stopping: watch::Sender<bool>,
}

impl Default for Services {
    fn default() -> Self {
        Self::new()
    }
}

impl Services {
    pub fn new() -> Self {
        Self {
            running: JoinSet::new(),
            stopping: watch::channel(false).0,
        }
    }

    /// A handle that fires when [`Services::stop`] is called; every service holds one.
    pub fn shutdown(&self) -> Shutdown {
        Shutdown(Some(self.stopping.subscribe()))
    }

    /// Runs `service` until it ends on its own or after its [`Shutdown`] fires. An `Err` is logged when the
    /// services stop; a service that ends early does not stop the others.
    pub fn spawn<F>(&mut self, name: &'static str, service: F)
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        tracing::info!(service = name, "service starting");
        self.running.spawn(async move { (name, service.await) });
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Fires every [`Shutdown`] and waits for the services (at most `timeout`), logging how each ended.
    pub async fn stop(&mut self, timeout: Duration) {
        let _ = self.stopping.send(true);
        let running = std::mem::take(&mut self.running);
        if !running.is_empty() {
            tracing::info!(count = running.len(), "waiting for services to finish");
        }
        match tokio::time::timeout(timeout, running.join_all()).await {
            Ok(results) => {
                for (name, result) in results {
                    match result {
                        Ok(()) => tracing::info!(service = name, "service stopped"),
                        Err(message) => {
                            tracing::warn!(service = name, error = %message, "service ended with an error")
                        }
                    }
                }
            }
            Err(_) => tracing::warn!(
                timeout_secs = timeout.as_secs(),
                "services did not stop in time; abandoning them"
            ),
        }
    }
}

/// A cap on connections held at once (`max_clients`, handshakes in progress, ...): a slot is taken on accept
/// and given back when its holder drops it.
#[derive(Clone, Debug)]
pub struct Limit {
    slots: Arc<Semaphore>,
    /// What the cap is called where an operator sets it, for the log line when it is reached.
    name: &'static str,
}

/// One held slot of a [`Limit`].
pub type Slot = OwnedSemaphorePermit;

impl Limit {
    /// At least one slot, whatever `max` says (a cap of zero would refuse everyone silently).
    pub fn new(name: &'static str, max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
            name,
        }
    }

    /// A slot, or `None` (logged) when all are taken; never waits.
    pub fn try_take(&self) -> Option<Slot> {
        match self.slots.clone().try_acquire_owned() {
            Ok(slot) => Some(slot),
            Err(_) => {
                tracing::warn!(
                    limit = self.name,
                    "connection limit reached, refusing a client"
                );
                None
            }
        }
    }
}

/// A listening socket the accept loop takes connections from.
pub trait Listener: Send {
    type Stream: Send + 'static;
    type Peer: Send + 'static;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Self::Peer)>> + Send;
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    type Peer = std::net::SocketAddr;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Self::Peer)>> + Send {
        tokio::net::TcpListener::accept(self)
    }
}

impl Listener for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    type Peer = tokio::net::unix::SocketAddr;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Self::Peer)>> + Send {
        tokio::net::UnixListener::accept(self)
    }
}

/// What an accept error means for the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptError {
    /// It concerns one client (or a signal): accept the next one at once.
    Client,
    /// A shortage of descriptors or memory: wait before trying again.
    Resources,
    /// The listening socket is unusable.
    Fatal,
}

/// Sorts an accept error (Linux `accept(2)`: the network errors it lists are to be treated like `EAGAIN`).
pub fn classify_accept_error(err: &io::Error) -> AcceptError {
    use io::ErrorKind;
    if let Some(code) = err.raw_os_error() {
        return match code {
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => AcceptError::Resources,
            libc::ECONNABORTED
            | libc::ECONNRESET
            | libc::EINTR
            | libc::EAGAIN
            | libc::EPROTO
            | libc::EPERM
            | libc::ETIMEDOUT
            | libc::ENETDOWN
            | libc::ENETUNREACH
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::ENONET
            | libc::EOPNOTSUPP => AcceptError::Client,
            _ => AcceptError::Fatal,
        };
    }
    match err.kind() {
        ErrorKind::ConnectionAborted
        | ErrorKind::ConnectionReset
        | ErrorKind::Interrupted
        | ErrorKind::WouldBlock
        | ErrorKind::TimedOut => AcceptError::Client,
        ErrorKind::OutOfMemory => AcceptError::Resources,
        _ => AcceptError::Fatal,
    }
}

/// Accepts on `listener` until `shutdown` fires (`Ok`) or the listener fails (`Err`). Each connection is offered
/// to `admit` (a `None` closes it at once) and then handed to `serve` with what `admit` returned; `serve` must
/// not block (spawn the connection's work). `name` goes into the log lines.
pub async fn accept_loop<L, A, T, F>(
    listener: L,
    name: &'static str,
    mut shutdown: Shutdown,
    mut admit: A,
    mut serve: F,
) -> io::Result<()>
where
    L: Listener,
    A: FnMut(&L::Peer) -> Option<T>,
    F: FnMut(L::Stream, L::Peer, T),
{
    let accepting = async {
        let mut backoff = Backoff::default();
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => {
                    backoff.recovered(name);
                    accepted
                }
                Err(err) => match classify_accept_error(&err) {
                    AcceptError::Client => {
                        tracing::debug!(listener = name, error = %err, "accept failed for one client");
                        // Other tasks of this thread still run if a burst of these comes.
                        tokio::task::yield_now().await;
                        continue;
                    }
                    AcceptError::Resources => {
                        backoff.wait(name, &err).await;
                        continue;
                    }
                    AcceptError::Fatal => {
                        tracing::error!(listener = name, error = %err, "accept failed; listener stops");
                        return Err(err);
                    }
                },
            };
            if let Some(admitted) = admit(&peer) {
                serve(stream, peer, admitted);
            }
        }
    };
    tokio::select! {
        result = accepting => result,
        () = shutdown.wait() => Ok(()),
    }
}

/// The pause after resource shortages on accept, and the log lines that go with it.
#[derive(Default)]
struct Backoff {
    failures: u64,
    delay: Duration,
}

impl Backoff {
    async fn wait(&mut self, name: &'static str, err: &io::Error) {
        self.delay = if self.failures == 0 {
            MIN_BACKOFF
        } else {
            (self.delay * 2).min(MAX_BACKOFF)
        };
        self.failures += 1;
        // At most a second: the cast cannot truncate.
        let retry_ms = u64::try_from(self.delay.as_millis()).unwrap_or(u64::MAX);
        if self.failures == 1 {
            tracing::warn!(listener = name, error = %err, retry_ms,
                "accept failed for lack of resources; retrying with backoff");
        } else {
            tracing::debug!(listener = name, error = %err, retry_ms,
                "accept failed again for lack of resources");
        }
        tokio::time::sleep(self.delay).await;
    }

    fn recovered(&mut self, name: &'static str) {
        if self.failures > 0 {
            tracing::info!(
                listener = name,
                failures = self.failures,
                "accepting again after a resource shortage"
            );
            self.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn accept_errors_are_sorted_by_whom_they_concern() {
        for code in [
            libc::ECONNABORTED,
            libc::ECONNRESET,
            libc::EINTR,
            libc::EPROTO,
            libc::EPERM,
        ] {
            assert_eq!(
                classify_accept_error(&os(code)),
                AcceptError::Client,
                "{code}"
            );
        }
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert_eq!(
                classify_accept_error(&os(code)),
                AcceptError::Resources,
                "{code}"
            );
        }
        for code in [libc::EBADF, libc::EINVAL, libc::ENOTSOCK] {
            assert_eq!(
                classify_accept_error(&os(code)),
                AcceptError::Fatal,
                "{code}"
            );
        }
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(classify_accept_error(&reset), AcceptError::Client);
    }

    /// A listener whose accepts return a scripted sequence of errors, then pend.
    struct Scripted(std::sync::Mutex<Vec<io::Result<((), ())>>>);

    impl Listener for Scripted {
        type Stream = ();
        type Peer = ();
        fn accept(&self) -> impl Future<Output = io::Result<((), ())>> + Send {
            let next = self.0.lock().unwrap().pop();
            async move {
                match next {
                    Some(result) => result,
                    None => std::future::pending().await,
                }
            }
        }
    }

    #[tokio::test]
    async fn shortages_back_off_clients_errors_do_not_and_a_broken_listener_ends() {
        // Popped from the end: two shortages, a client's reset, one connection, then a fatal error.
        let script = vec![
            Err(os(libc::EBADF)),
            Ok(((), ())),
            Err(os(libc::ECONNRESET)),
            Err(os(libc::EMFILE)),
            Err(os(libc::EMFILE)),
        ];
        let started = std::time::Instant::now();
        let mut served = 0;
        let result = accept_loop(
            Scripted(std::sync::Mutex::new(script)),
            "test",
            Shutdown::never(),
            |_| Some(()),
            |(), (), ()| served += 1,
        )
        .await;
        assert_eq!(result.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(served, 1);
        // 10 ms, then 20 ms: the shortages waited.
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn shutdown_ends_the_loop_and_limits_refuse_past_their_cap() {
        let mut services = Services::new();
        let shutdown = services.shutdown();
        assert!(!shutdown.is_stopping());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        services.spawn("accept", async move {
            accept_loop(listener, "test", shutdown, |_| Some(()), |_, _, ()| {})
                .await
                .map_err(|err| err.to_string())
        });
        services.stop(Duration::from_secs(5)).await;
        assert!(services.is_empty());

        let limit = Limit::new("max_clients", 1);
        let slot = limit.try_take().expect("a first slot");
        assert!(limit.try_take().is_none());
        drop(slot);
        assert!(limit.try_take().is_some());
        assert!(Limit::new("zero", 0).try_take().is_some());
    }
}
