//! In-process RPC servers on the test's tokio runtime: `test:///default` from its own state dir over TCP on
//! loopback, a unix socket and a read-only unix socket, or over TLS on loopback with fresh certificates; and a
//! proxy that answers chosen calls itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use virtcim::{ConnectOptions, Registry, RpcServer, ServerConfig, TlsServer, TlsServerOptions};

use super::pki::Pki;

/// The test driver with its state in `state_dir`, opened per connection as the daemon would.
pub fn test_opener(state_dir: &Path) -> Registry {
    let options = ConnectOptions {
        state_dir: Some(state_dir.to_path_buf()),
        read_only: false,
    };
    Registry::new(options)
}

/// Serves the test driver (state in `state_dir`) read-write on the unix socket `socket`.
pub fn serve_unix(state_dir: &Path, socket: &Path) {
    let server = RpcServer::new(Arc::new(test_opener(state_dir)), ServerConfig::default());
    let listener = RpcServer::bind_unix(socket).expect("bind unix");
    tokio::spawn(server.serve_unix(listener, false));
}

/// Starts our RPC server (test driver, state in `dir`) on a read-write and a read-only unix socket in `dir`;
/// returns their URIs.
pub fn serve(dir: &Path) -> (String, String) {
    let server = RpcServer::new(Arc::new(test_opener(dir)), ServerConfig::default());
    let rw_path = dir.join("libvirt-sock");
    let ro_path = dir.join("libvirt-sock-ro");
    tokio::spawn(
        server
            .clone()
            .serve_unix(RpcServer::bind_unix(&rw_path).expect("bind unix"), false),
    );
    tokio::spawn(server.serve_unix(RpcServer::bind_unix(&ro_path).expect("bind ro"), true));
    (
        format!("test+unix:///default?socket={}", rw_path.display()),
        format!("test+unix:///default?socket={}", ro_path.display()),
    )
}

/// One RPC server with its own state, listening on 127.0.0.1 and in a temp dir.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub tcp_uri: String,
    pub unix_uri: String,
    pub ro_uri: String,
    pub unix_path: PathBuf,
    pub ro_path: PathBuf,
    pub port: u16,
}

impl Server {
    /// Starts serving on the current tokio runtime; the listeners live as long as the runtime.
    pub async fn start() -> Self {
        Self::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let opener = test_opener(&dir.path().join("state"));
        let server = RpcServer::new(Arc::new(opener), config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind tcp");
        let port = listener.local_addr().expect("local addr").port();
        tokio::spawn(server.clone().serve_tcp(listener));
        let unix_path = dir.path().join("libvirt-sock");
        let ro_path = dir.path().join("libvirt-sock-ro");
        tokio::spawn(
            server
                .clone()
                .serve_unix(RpcServer::bind_unix(&unix_path).expect("bind unix"), false),
        );
        tokio::spawn(server.serve_unix(RpcServer::bind_unix(&ro_path).expect("bind ro"), true));
        Self {
            tcp_uri: format!("test+tcp://127.0.0.1:{port}/default"),
            unix_uri: format!("test+unix:///default?socket={}", unix_path.display()),
            ro_uri: format!("test+unix:///default?socket={}", ro_path.display()),
            unix_path,
            ro_path,
            port,
            dir,
        }
    }
}

/// One RPC server with its own state behind a TLS listener on 127.0.0.1 (a free port), with a fresh CA, server
/// and client certificates; clients verify the server and present their certificate (`pkipath=` in [`Self::uri`]).
pub struct TlsRpcServer {
    /// Holds the state (`state/`) and the certificates (`server/`, `client/`); removed when the server is dropped.
    pub dir: tempfile::TempDir,
    pub pki: Pki,
    /// `test+tls://127.0.0.1:PORT/default?pkipath=DIR`.
    pub uri: String,
    pub port: u16,
}

impl TlsRpcServer {
    /// Starts serving on the current tokio runtime; the listener lives as long as the runtime.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::new(dir.path());
        let options = TlsServerOptions {
            key: pki.server_dir.join("serverkey.pem"),
            cert: pki.server_dir.join("servercert.pem"),
            ca: pki.server_dir.join("cacert.pem"),
            crl: None,
            verify_client: true,
            allowed_dn_list: None,
            handshake_timeout: std::time::Duration::from_secs(5),
            max_handshakes: 20,
        };
        let tls = Arc::new(TlsServer::new(options).expect("tls server"));
        let opener = test_opener(&dir.path().join("state"));
        let server = RpcServer::new(Arc::new(opener), ServerConfig::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind tls");
        let port = listener.local_addr().expect("local addr").port();
        tokio::spawn(server.serve_tls(tls, listener));
        Self {
            uri: format!(
                "test+tls://127.0.0.1:{port}/default?pkipath={}",
                pki.client_dir.display()
            ),
            port,
            pki,
            dir,
        }
    }
}

/// What a [`FaultProxy`] does with one call from the client: forward it, or answer it itself with this frame.
pub type Inject = fn(&virtcim::Message) -> Option<Vec<u8>>;

/// A unix-socket proxy in front of a server that answers some calls itself (error injection, feature answers),
/// forwarding every other frame whole in both directions.
pub struct FaultProxy {
    pub path: PathBuf,
}

impl FaultProxy {
    pub async fn start(upstream: PathBuf, path: PathBuf, inject: Inject) -> Self {
        let listener = virtcim::RpcServer::bind_unix(&path).expect("bind proxy");
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(server) = tokio::net::UnixStream::connect(&upstream).await {
                        relay(client, server, inject).await;
                    }
                });
            }
        });
        Self { path }
    }
}

/// Reads whole frames from `from` and hands each to `each`; ends at EOF or a framing error.
async fn frames<R, F>(mut from: R, mut each: F)
where
    R: tokio::io::AsyncRead + Unpin,
    F: FnMut(Vec<u8>) -> bool,
{
    use tokio::io::AsyncReadExt;
    let mut decoder = virtcim::FrameDecoder::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        while let Ok(Some(frame)) = decoder.next_frame() {
            if !each(frame) {
                return;
            }
        }
    }
}

async fn relay(client: tokio::net::UnixStream, server: tokio::net::UnixStream, inject: Inject) {
    use tokio::io::AsyncWriteExt;
    let (client_read, mut client_write) = client.into_split();
    let (server_read, mut server_write) = server.into_split();
    let (to_client, mut client_queue) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let (to_server, mut server_queue) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let client_writer = tokio::spawn(async move {
        while let Some(frame) = client_queue.recv().await {
            if client_write.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    let server_writer = tokio::spawn(async move {
        while let Some(frame) = server_queue.recv().await {
            if server_write.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    });
    let downstream = to_client.clone();
    let from_server = tokio::spawn(frames(server_read, move |frame| {
        downstream.send(with_length(&frame)).is_ok()
    }));
    frames(client_read, move |frame| {
        let answer = virtcim::Message::from_frame(&frame)
            .ok()
            .and_then(|message| inject(&message));
        match answer {
            Some(reply) => to_client.send(reply).is_ok(),
            None => to_server.send(with_length(&frame)).is_ok(),
        }
    })
    .await;
    let _ = from_server.await;
    client_writer.abort();
    let _ = server_writer.await;
}

fn with_length(frame: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(frame.len() + 4)
        .unwrap_or(u32::MAX)
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(frame);
    out
}
