//! The native RPC front end's own threads: each runs a single-threaded tokio runtime that accepts and serves its
//! share of the unix and TCP clients, apart from the daemon's main runtime (WBEM, TLS handshakes, services).
//!
//! Why: a connection lives its whole life on one thread, so a call and its reply never cost a wake-up of a second
//! runtime thread (on loopback, most of what a small call costs), and a WBEM request that builds a large answer on
//! the main runtime does not hold up RPC clients.

use std::future::Future;
use std::io;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The RPC threads; dropping them (or [`RpcThreads::stop`]) ends every connection they serve.
pub struct RpcThreads {
    threads: Vec<RpcThread>,
}

struct RpcThread {
    handle: Handle,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl RpcThreads {
    /// How many threads serve RPC on this machine: half its CPUs (the clients, the drivers' blocking work and
    /// the main runtime need the rest), at least one, at most eight (each accepts on the same listening sockets).
    pub fn default_count() -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        (cpus / 2).clamp(1, 8)
    }

    /// Starts `count` threads (at least one).
    pub fn start(count: usize) -> io::Result<Self> {
        let threads = (0..count.max(1))
            .map(RpcThread::start)
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self { threads })
    }

    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// Runs `future` on thread `index` (modulo the count). What its body registers with a reactor (a listening
    /// socket made with `from_std`) belongs to that thread: create such sockets inside the future, not before.
    /// The handle resolves when the future ends, or with a cancelled error if the threads were stopped first.
    pub fn spawn_on<F>(&self, index: usize, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.threads[index % self.threads.len()]
            .handle
            .spawn(future)
    }

    /// Ends every thread's runtime (their connections close) and waits for the threads to finish.
    pub async fn stop(self) {
        for thread in self.threads {
            let _ = thread.stop.send(());
            let _ = tokio::task::spawn_blocking(move || thread.thread.join()).await;
        }
    }
}

impl RpcThread {
    fn start(index: usize) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(format!("virtcimd-rpc-{index}-blocking"))
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("virtcimd-rpc-{index}"))
            .spawn(move || {
                // Tasks spawned through the handle run while this thread is inside block_on.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // Dropping the runtime here, outside any async context, cancels the connections left.
                drop(runtime);
            })?;
        Ok(Self {
            handle,
            stop,
            thread,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_thread_runs_its_own_futures_and_stop_ends_the_rest() {
        let threads = RpcThreads::start(2).unwrap();
        assert_eq!(threads.len(), 2);
        let mut names = Vec::new();
        for index in 0..2 {
            let name = threads
                .spawn_on(index, async {
                    std::thread::current().name().map(str::to_owned)
                })
                .await
                .unwrap();
            names.push(name.unwrap_or_default());
        }
        assert_eq!(names, ["virtcimd-rpc-0", "virtcimd-rpc-1"]);

        // A socket made inside the future belongs to that thread's reactor and works there.
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let echoed = threads.spawn_on(1, async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::UnixStream::from_std(ours)?;
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await?;
            stream.write_all(&byte).await?;
            std::io::Result::Ok(byte[0])
        });
        let mut theirs = theirs;
        std::io::Write::write_all(&mut theirs, b"x").unwrap();
        assert_eq!(echoed.await.unwrap().unwrap(), b'x');

        let forever = threads.spawn_on(0, std::future::pending::<()>());
        threads.stop().await;
        assert!(forever.await.unwrap_err().is_cancelled());
    }

    #[test]
    fn the_default_count_leaves_cpus_to_the_rest() {
        let count = RpcThreads::default_count();
        assert!((1..=8).contains(&count));
    }
}
