//! Rough throughput of the remote driver (run with `cargo test --release --test remote -- bench:: --ignored
//! --nocapture`): sequential lookup+info round trips and the same with 8 tasks sharing one connection, against our
//! in-test server over unix and TCP and against a stock libvirtd's test driver over TCP. Numbers are printed, not
//! asserted: compare A/B on the same machine (REPORT §13 has libvirtd's own anchors).

use std::time::Instant;

use virtcim::{connect, prelude::*, ConnectOptions};

const ROUNDS: usize = 2000;

async fn sequential(driver: &Connection) -> f64 {
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let dom = driver.domain_lookup_by_name("test").await.expect("lookup");
        driver.domain_get_info(&dom).await.expect("info");
    }
    (2 * ROUNDS) as f64 / start.elapsed().as_secs_f64()
}

async fn shared(driver: &Connection) -> f64 {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let driver = driver.clone();
        tasks.spawn(async move {
            for _ in 0..ROUNDS / 8 {
                let dom = driver.domain_lookup_by_name("test").await.expect("lookup");
                driver.domain_get_info(&dom).await.expect("info");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    (2 * ROUNDS) as f64 / start.elapsed().as_secs_f64()
}

async fn measure(label: &str, uri: &str) {
    let start = Instant::now();
    for _ in 0..50 {
        let driver = connect(uri, &ConnectOptions::default())
            .await
            .expect("open");
        driver.close().await.expect("close");
    }
    let opens = 50.0 / start.elapsed().as_secs_f64();
    let driver = connect(uri, &ConnectOptions::default())
        .await
        .expect("open");
    let seq = sequential(&driver).await;
    let par = shared(&driver).await;
    println!("{label:<22} open+close {opens:>7.0}/s  sequential {seq:>7.0} RPC/s  8 tasks on 1 conn {par:>7.0} RPC/s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run explicitly"]
async fn remote_driver_throughput() {
    let server = crate::support::server::Server::start().await;
    measure("virtcim server, unix", &server.unix_uri).await;
    measure("virtcim server, tcp", &server.tcp_uri).await;
    if let Some(libvirtd) = tokio::task::spawn_blocking(crate::support::libvirtd::Libvirtd::start)
        .await
        .expect("start")
    {
        // Keep test:///default's state alive between the opens, as libvirtd drops it with its last client.
        let holder = connect(&libvirtd.tcp_uri, &ConnectOptions::default())
            .await
            .expect("holder");
        measure("libvirtd 9.0, tcp", &libvirtd.tcp_uri).await;
        holder.close().await.expect("close");
    }
}
