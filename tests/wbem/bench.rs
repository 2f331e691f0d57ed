//! Benchmark (ignored by default; not a timed test): EnumerateInstances and EnumerateInstanceNames of
//! KVM_ComputerSystem with 1000 domains, then EnumerateInstances of every KVM_ class the server has a provider
//! for; requests per second from 8 keep-alive clients against the server without and with its response cache,
//! each beside a bare hyper server returning the same bytes. Run:
//! `cargo test --release --test wbem -- bench:: --ignored --nocapture` (`WBEM_BENCH_CLASS_SECONDS` sets the
//! seconds per extra class, default 2).

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::wbem::{imethod_body, post, read_response, BareServer};
use virtcim::{
    builtin_repository, Config, Daemon, DaemonOptions, HttpLimits, Operations, WbemServer, TEST_URI,
};

const DOMAINS: usize = 999; // plus the test driver's own "test"
const CLIENTS: usize = 8;
const SECONDS: u64 = 5;

/// The WBEM server over one daemon's test driver, twice: without and with the response cache. Also returns
/// the classes the server has providers for.
struct Servers {
    uncached: SocketAddr,
    cached: SocketAddr,
    classes: Vec<String>,
}

fn start_wbem(dir: &std::path::Path) -> Servers {
    let state = dir.join("state");
    crate::support::wbem::prepare_state(&state, DOMAINS);
    let config = Config {
        state_dir: state,
        unix_sock_dir: dir.join("run"),
        ..Config::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        crate::support::server_runtime().block_on(async move {
            let mut daemon = Daemon::start(config, DaemonOptions::default())
                .await
                .unwrap();
            let driver = daemon.driver(TEST_URI).unwrap();
            let repo = Arc::new(builtin_repository().unwrap());
            let mut addrs = Vec::new();
            let mut classes = Vec::new();
            for cache in [false, true] {
                let mut ops = Operations::new(Arc::clone(&repo), driver.clone(), "localhost");
                ops.set_response_cache(cache);
                classes = ops
                    .provided_classes()
                    .into_iter()
                    .filter(|(ns, class)| *ns == "root/virt" && class.starts_with("KVM_"))
                    .map(|(_, class)| class.to_owned())
                    .collect();
                let server = Arc::new(WbemServer::new(Arc::new(ops), None, HttpLimits::default()));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addrs.push(listener.local_addr().unwrap());
                let shutdown = daemon.shutdown();
                daemon.spawn_service("wbem-http", server.serve_http(listener, shutdown));
            }
            tx.send(Servers {
                uncached: addrs[0],
                cached: addrs[1],
                classes,
            })
            .unwrap();
            daemon.run_until(std::future::pending()).await;
        });
    });
    rx.recv().unwrap()
}

fn request(method: &str, class: &str) -> Vec<u8> {
    let body = imethod_body(
        method,
        &format!("<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"{class}\"/></IPARAMVALUE>"),
    );
    post(method, &body, "")
}

/// Requests per second from `CLIENTS` keep-alive clients for `SECONDS`; checks every answer.
fn measure(addr: SocketAddr, req: &[u8], expect_items: usize, marker: &str, seconds: u64) -> f64 {
    crate::support::calls_per_second(CLIENTS, Duration::from_secs(seconds), || {
        let req = req.to_vec();
        let marker = marker.to_owned();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        move || {
            std::io::Write::write_all(&mut s, &req).unwrap();
            let resp = read_response(&mut s).expect("response");
            assert_eq!(resp.status, 200);
            assert_eq!(resp.body.matches(marker.as_str()).count(), expect_items);
        }
    })
}

/// One case: the uncached server, the cached one and a bare hyper server with the same bytes; prints a line.
fn compare(servers: &Servers, method: &str, class: &str, marker: &str, seconds: u64) {
    let req = request(method, class);
    let sample =
        crate::support::wbem::raw_exchange(servers.uncached, &req, Duration::from_secs(60))
            .unwrap();
    assert_eq!(sample.status, 200);
    assert!(!sample.body.contains("<ERROR"), "{class}: {}", sample.body);
    let items = sample.body.matches(marker).count();
    let bare = BareServer::start(bytes::Bytes::from(sample.body.clone())).addr;
    let uncached = measure(servers.uncached, &req, items, marker, seconds);
    let cached = measure(servers.cached, &req, items, marker, seconds);
    let theirs = measure(bare, &req, items, marker, seconds);
    println!(
        "BENCH {method} {class}: {items} items, {} bytes, {CLIENTS} keep-alive clients: virtcim uncached \
         {uncached:.1} req/s ({:.0}%), cached {cached:.1} req/s ({:.0}%), bare hyper (same bytes) {theirs:.1} req/s",
        sample.body.len(),
        100.0 * uncached / theirs,
        100.0 * cached / theirs,
    );
}

#[test]
#[ignore = "benchmark: run explicitly with --release --ignored --nocapture"]
fn enumerate_1000_domains_vs_bare_hyper() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start_wbem(dir.path());
    let cs = "KVM_ComputerSystem";
    let names = request("EnumerateInstanceNames", cs);
    let sample =
        crate::support::wbem::raw_exchange(servers.uncached, &names, Duration::from_secs(60))
            .unwrap();
    assert_eq!(sample.body.matches("<INSTANCENAME ").count(), DOMAINS + 1);
    compare(
        &servers,
        "EnumerateInstanceNames",
        cs,
        "<INSTANCENAME ",
        SECONDS,
    );
    compare(
        &servers,
        "EnumerateInstances",
        cs,
        "<VALUE.NAMEDINSTANCE>",
        SECONDS,
    );
    // Every KVM_ class the server has a provider for (the list grows as providers are added).
    let seconds = std::env::var("WBEM_BENCH_CLASS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    for class in servers.classes.iter().filter(|c| c.as_str() != cs) {
        compare(
            &servers,
            "EnumerateInstances",
            class,
            "<VALUE.NAMEDINSTANCE>",
            seconds,
        );
    }
}

/// The CIM layer alone (no HTTP): milliseconds per uncached EnumerateInstanceNames / EnumerateInstances of
/// KVM_ComputerSystem with 1000 domains, from one task.
#[test]
#[ignore = "benchmark: run explicitly with --release --ignored --nocapture"]
fn cim_layer_cost_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    crate::support::wbem::prepare_state(&state, DOMAINS);
    crate::support::server_runtime().block_on(async move {
        let driver: virtcim::Connection = virtcim::TestDriver::open(&state.join("test"))
            .await
            .unwrap().connection();
        let mut ops = Operations::new(Arc::new(builtin_repository().unwrap()), driver, "localhost");
        ops.set_response_cache(false);
        // WBEM_BENCH_CIM_CLASSES: EnumerateInstances of these classes too (comma-separated; for profiling).
        let extra = std::env::var("WBEM_BENCH_CIM_CLASSES").unwrap_or_default();
        let cases = [
            ("EnumerateInstanceNames", "KVM_ComputerSystem"),
            ("EnumerateInstances", "KVM_ComputerSystem"),
        ]
        .into_iter()
        .chain(
            extra
                .split(',')
                .filter(|c| !c.is_empty())
                .map(|c| ("EnumerateInstances", c)),
        );
        for (method, class) in cases {
            let body = imethod_body(
                method,
                &format!("<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"{class}\"/></IPARAMVALUE>"),
            );
            let req = virtcim::cimxml::parse_request(body.as_bytes(), &Default::default()).unwrap();
            let rounds = 50;
            let started = Instant::now();
            let mut bytes = 0;
            for _ in 0..rounds {
                bytes = ops.handle(&req).await.into_bytes().await.len();
            }
            #[allow(clippy::cast_precision_loss)]
            let ms = started.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
            println!("BENCH CIM layer {method} {class}: {bytes} bytes, {ms:.2} ms per request (uncached, no HTTP)");
        }
    });
}
