//! The tokio RPC server over real sockets on 127.0.0.1 and in a temp dir: pipelining, keepalive, the in-flight
//! cap, fatal framing, the read-only socket, and stock virsh as a client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use uuid::Uuid;
use virtcim::rpc_wire::{ConnectOpenArgs, StringRet, KEEPALIVE_PROGRAM, REMOTE_PROGRAM};
use virtcim::{
    prelude::*, DomainRef, DomainState, DriverOpener, Error, Header, Message, MessageType,
    RemoteError, Result, RpcServer, ServerConfig, Status, Xdr,
};

/// A driver with one running domain `test`; `get_hostname` waits a little and counts concurrent callers.
#[derive(Default)]
struct Slow {
    running: AtomicUsize,
    peak: AtomicUsize,
}

fn test_domain() -> DomainRef {
    DomainRef {
        name: "test".into(),
        uuid: Uuid::from_u128(0x6695eb01_f6a4_8304_79aa_97f2502e193f),
        id: 1,
    }
}

#[async_trait]
impl HypervisorDriver for Slow {
    async fn get_type(&self) -> Result<String> {
        Ok("TEST".into())
    }
    async fn get_hostname(&self) -> Result<String> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok("vm".into())
    }
    async fn list_all_domains(&self, _flags: u32) -> Result<Vec<DomainRef>> {
        Ok(vec![test_domain()])
    }
    async fn domain_lookup_by_name(&self, name: &str) -> Result<DomainRef> {
        match name {
            "test" => Ok(test_domain()),
            _ => Err(Error::with_detail(
                virtcim::ErrorCode::NO_DOMAIN,
                virtcim::ErrorDomain::TEST,
                "",
            )),
        }
    }
    async fn domain_get_state(&self, _dom: &DomainRef, _flags: u32) -> Result<(DomainState, i32)> {
        Ok((DomainState::Running, 1))
    }
    async fn domain_suspend(&self, _dom: &DomainRef) -> Result<()> {
        panic!("suspend must not reach the driver on a read-only socket");
    }
}

struct Opener(Arc<Slow>);

#[async_trait]
impl DriverOpener for Opener {
    async fn open(&self, _name: Option<&str>, _read_only: bool) -> Result<Connection> {
        Ok(virtcim::Connection::builder()
            .hypervisor(self.0.clone())
            .build())
    }
}

async fn start_tcp(driver: Arc<Slow>, config: ServerConfig) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = RpcServer::new(Arc::new(Opener(driver)), config);
    tokio::spawn(server.serve_tcp(listener));
    port
}

fn call(proc_: u32, serial: u32, payload: &[u8]) -> Vec<u8> {
    virtcim::encode_frame(&Header::call(REMOTE_PROGRAM, 1, proc_, serial), payload)
}

fn open_call(serial: u32) -> Vec<u8> {
    let args = ConnectOpenArgs {
        name: Some("test:///default".into()),
        flags: 0,
    };
    call(1, serial, &args.to_bytes())
}

async fn read_message<S: AsyncReadExt + Unpin>(stream: &mut S) -> Option<Message> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).await.ok()?;
    let mut rest = vec![0u8; u32::from_be_bytes(length) as usize - 4];
    stream.read_exact(&mut rest).await.ok()?;
    Some(Message::from_frame(&rest).unwrap())
}

#[tokio::test]
async fn pipelined_calls_and_keepalive_over_tcp() {
    let port = start_tcp(Arc::new(Slow::default()), ServerConfig::default()).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let ping = virtcim::encode_frame(
        &Header {
            prog: KEEPALIVE_PROGRAM,
            vers: 1,
            proc_: 1,
            kind: MessageType::Message,
            serial: 0,
            status: Status::Ok,
        },
        &[],
    );
    let mut batch = ping;
    batch.extend(call(66, 0, &[]));
    batch.extend(open_call(1));
    batch.extend(call(3, 2, &[]));
    stream.write_all(&batch).await.unwrap();
    let pong = read_message(&mut stream).await.unwrap();
    assert_eq!(
        (pong.header.prog, pong.header.proc_),
        (KEEPALIVE_PROGRAM, 2)
    );
    let mut serials = Vec::new();
    for _ in 0..3 {
        let reply = read_message(&mut stream).await.unwrap();
        assert_eq!(reply.header.status, Status::Ok);
        if reply.header.proc_ == 3 {
            assert_eq!(StringRet::from_bytes(&reply.payload).unwrap().value, "TEST");
        }
        serials.push(reply.header.serial);
    }
    serials.sort();
    assert_eq!(serials, [0, 1, 2]);
    stream.write_all(&call(2, 3, &[])).await.unwrap();
    let close = read_message(&mut stream).await.unwrap();
    assert_eq!((close.header.proc_, close.header.status), (2, Status::Ok));
    assert!(
        read_message(&mut stream).await.is_none(),
        "server closes after CONNECT_CLOSE"
    );
}

#[tokio::test]
async fn at_most_max_client_requests_calls_run_at_once() {
    let driver = Arc::new(Slow::default());
    let config = ServerConfig {
        max_client_requests: 3,
        ..ServerConfig::default()
    };
    let port = start_tcp(driver.clone(), config).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut batch = open_call(0);
    for serial in 1..=10 {
        batch.extend(call(59, serial, &[]));
    }
    stream.write_all(&batch).await.unwrap();
    for _ in 0..11 {
        let reply = read_message(&mut stream).await.unwrap();
        assert_eq!(reply.header.status, Status::Ok, "{:?}", reply.header);
    }
    let peak = driver.peak.load(Ordering::SeqCst);
    assert!((2..=3).contains(&peak), "peak {peak}");
}

#[tokio::test]
async fn a_bad_length_closes_without_a_reply_and_others_keep_working() {
    let port = start_tcp(Arc::new(Slow::default()), ServerConfig::default()).await;
    for length in [0u32, 27, 0x0200_0005] {
        let mut bad = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        bad.write_all(&length.to_be_bytes()).await.unwrap();
        assert!(read_message(&mut bad).await.is_none(), "length {length}");
    }
    let mut good = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    good.write_all(&call(66, 0, &[])).await.unwrap();
    assert_eq!(
        read_message(&mut good).await.unwrap().header.status,
        Status::Ok
    );
}

#[tokio::test]
async fn the_read_only_socket_denies_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libvirt-sock-ro");
    let listener = RpcServer::bind_unix(&path).unwrap();
    let server = RpcServer::new(
        Arc::new(Opener(Arc::new(Slow::default()))),
        ServerConfig::default(),
    );
    tokio::spawn(server.serve_unix(listener, true));
    let mut stream = UnixStream::connect(&path).await.unwrap();
    stream.write_all(&open_call(0)).await.unwrap();
    assert_eq!(
        read_message(&mut stream).await.unwrap().header.status,
        Status::Ok
    );
    stream
        .write_all(&call(34, 1, &test_domain().to_bytes()))
        .await
        .unwrap();
    let reply = read_message(&mut stream).await.unwrap();
    let err = RemoteError::from_bytes(&reply.payload).unwrap();
    assert_eq!(err.code, 29);
}

/// Stock virsh lists the domains of our server (skipped when virsh is not installed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_virsh_lists_domains() {
    if std::process::Command::new("virsh")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let port = start_tcp(Arc::new(Slow::default()), ServerConfig::default()).await;
    let uri = format!("test+tcp://127.0.0.1:{port}/default");
    let output = tokio::process::Command::new("virsh")
        .args(["-c", &uri, "list", "--all"])
        .env("LIBVIRT_AUTOSTART", "0")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "virsh failed: {stdout}{stderr}");
    let row: Vec<&str> = stdout
        .lines()
        .find(|line| line.contains("test"))
        .unwrap_or_else(|| panic!("no domain row in {stdout}"))
        .split_whitespace()
        .collect();
    assert_eq!(row, ["1", "test", "running"]);
    assert!(stderr.trim().is_empty(), "{stderr}");
}

#[tokio::test]
async fn a_stalled_frame_is_closed_at_the_deadline() {
    let config = ServerConfig {
        frame_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let port = start_tcp(Arc::new(Slow::default()), config).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // Half a frame, then silence.
    stream.write_all(&call(66, 0, &[])[..10]).await.unwrap();
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), read_message(&mut stream)).await;
    assert!(
        matches!(closed, Ok(None)),
        "connection closed, not answered"
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
    // A whole frame now and then keeps a connection alive past the frame deadline.
    let mut steady = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    for serial in 0..3 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        steady.write_all(&call(66, serial, &[])).await.unwrap();
        assert!(read_message(&mut steady).await.is_some());
    }
}

#[tokio::test]
async fn the_server_pings_a_silent_client_that_asked_for_keepalive() {
    let config = ServerConfig {
        keepalive_interval: Some(Duration::from_millis(100)),
        keepalive_count: 2,
        ..ServerConfig::default()
    };
    let port = start_tcp(Arc::new(Slow::default()), config).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let feature = virtcim::rpc_wire::IntArgs { value: 10 }.to_bytes();
    stream.write_all(&call(60, 0, &feature)).await.unwrap();
    assert_eq!(
        read_message(&mut stream).await.unwrap().header.status,
        Status::Ok
    );
    let mut pings = 0;
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_secs(3), read_message(&mut stream)).await
    {
        assert_eq!(
            (message.header.prog, message.header.proc_),
            (KEEPALIVE_PROGRAM, 1)
        );
        pings += 1;
    }
    assert_eq!(pings, 2, "count PINGs, then the silent client is dropped");
}

#[tokio::test]
async fn clients_beyond_max_clients_are_closed_on_accept() {
    let config = ServerConfig {
        max_clients: 2,
        ..ServerConfig::default()
    };
    let port = start_tcp(Arc::new(Slow::default()), config).await;
    let mut held = Vec::new();
    for serial in 0..2 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.write_all(&call(66, serial, &[])).await.unwrap();
        assert!(read_message(&mut stream).await.is_some());
        held.push(stream);
    }
    let mut refused = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let _ = refused.write_all(&call(66, 0, &[])).await;
    assert!(read_message(&mut refused).await.is_none());
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    again.write_all(&call(66, 0, &[])).await.unwrap();
    assert!(
        read_message(&mut again).await.is_some(),
        "slots return when clients leave"
    );
}
