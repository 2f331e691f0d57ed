//! One conformance suite for the driver API, run against `test:///default` in process and through the remote
//! driver over a unix socket and TCP of an RPC server with its own state dir: every observation (values, errors
//! with code, domain and message, events) must be identical. The lifecycle part also runs against a stock libvirtd
//! 9.0 serving its own test driver.

use std::fmt::Debug;
use std::time::Duration;

use virtcim::{connect, flags, prelude::*, ConnectOptions, DomainEvent, Result};

/// What a suite saw, line by line.
#[derive(Default)]
struct Transcript(Vec<String>);

impl Transcript {
    /// Records a result and hands back its value.
    fn rec<T: Debug>(&mut self, label: &str, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => {
                self.0.push(format!("{label}: ok {value:?}"));
                Some(value)
            }
            Err(err) => {
                self.0.push(format!(
                    "{label}: err code={} domain={} {}",
                    err.code.0, err.domain.0, err.message
                ));
                None
            }
        }
    }

    fn note(&mut self, line: String) {
        self.0.push(line);
    }
}

const DEMO_UUID: &str = "4a0b6fa2-65f1-4f3c-9b55-6fd0e8e1b0c1";

fn demo_xml(name: &str, uuid: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory unit='KiB'>131072</memory>\
         <currentMemory unit='KiB'>65536</currentMemory><vcpu>2</vcpu><os><type arch='i686'>hvm</type></os>\
         </domain>"
    )
}

fn names<T>(items: &Option<Vec<T>>, name: impl Fn(&T) -> &str) -> Vec<String> {
    items
        .iter()
        .flatten()
        .map(|item| name(item).to_string())
        .collect()
}

/// Waits for `count` lifecycle events (or a timeout) and records them.
async fn collect_events(
    t: &mut Transcript,
    events: &mut tokio::sync::broadcast::Receiver<DomainEvent>,
    count: usize,
) {
    for _ in 0..count {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(event)) => t.note(format!(
                "event {} {} {}",
                event.domain.name, event.event, event.detail
            )),
            other => {
                t.note(format!("event missing: {other:?}"));
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The suite parts. Each asserts what must hold and records what it saw for the cross-target comparison.

async fn connection(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    assert_eq!(t.rec("type", d.get_type().await).as_deref(), Some("TEST"));
    t.rec("version", d.get_version().await);
    t.rec("lib version", d.get_lib_version().await);
    let host = t
        .rec("hostname", d.get_hostname().await)
        .unwrap_or_default();
    assert!(!host.is_empty());
    let node = t
        .rec("nodeinfo", d.node_get_info().await)
        .expect("node info");
    assert_eq!(node.cpus, 16);
    let caps = t
        .rec("capabilities", d.get_capabilities().await)
        .unwrap_or_default();
    assert!(caps.contains("<capabilities>"), "{caps}");
    t.rec("security model", d.node_get_security_model().await);
    t
}

async fn lifecycle(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    let all = t.rec("list all", d.list_all_domains(0).await);
    assert_eq!(names(&all, |d| &d.name), ["test"]);
    let mut events = d.domain_event_subscribe().await.expect("events");

    let dom = t
        .rec(
            "define",
            d.domain_define_xml(&demo_xml("demo", DEMO_UUID), 0).await,
        )
        .expect("define");
    assert_eq!((dom.name.as_str(), dom.id), ("demo", -1));
    assert_eq!(dom.uuid.to_string(), DEMO_UUID);
    t.rec("lookup name", d.domain_lookup_by_name("demo").await);
    t.rec("lookup uuid", d.domain_lookup_by_uuid(&dom.uuid).await);
    t.rec("state before start", d.domain_get_state(&dom, 0).await);
    t.rec("active before start", d.domain_is_active(&dom).await);
    t.rec("persistent", d.domain_is_persistent(&dom).await);

    let running = t
        .rec("start", d.domain_create(&dom, 0).await)
        .expect("start");
    assert!(running.id > 0, "started domain has an id: {running:?}");
    let info = d.domain_get_info(&running).await.expect("info");
    t.note(format!(
        "info state={:?} max={} mem={} vcpus={}",
        info.state, info.max_mem_kib, info.memory_kib, info.nr_virt_cpu
    ));
    assert_eq!(info.max_mem_kib, 131072);
    t.rec("lookup id", d.domain_lookup_by_id(running.id).await);
    t.rec("start again", d.domain_create(&running, 0).await);
    t.rec("suspend", d.domain_suspend(&running).await);
    let state = t.rec("state paused", d.domain_get_state(&running, 0).await);
    assert_eq!(state.map(|s| s.0), Some(virtcim::DomainState::Paused));
    t.rec("suspend again", d.domain_suspend(&running).await);
    t.rec("resume", d.domain_resume(&running).await);
    t.rec("state running", d.domain_get_state(&running, 0).await);
    t.rec("shutdown", d.domain_shutdown(&running, 0).await);
    let state = t.rec("state after shutdown", d.domain_get_state(&dom, 0).await);
    assert_eq!(state.map(|s| s.0), Some(virtcim::DomainState::Shutoff));
    t.rec("shutdown stopped", d.domain_shutdown(&dom, 0).await);
    let running = t
        .rec("start 2", d.domain_create(&dom, 0).await)
        .expect("start 2");
    t.rec("destroy", d.domain_destroy(&running, 0).await);
    t.rec("state after destroy", d.domain_get_state(&dom, 0).await);
    t.rec("undefine", d.domain_undefine(&dom, 0).await);
    t.rec("lookup gone", d.domain_lookup_by_name("demo").await);
    t.rec("lookup nosuch", d.domain_lookup_by_name("nosuch").await);
    t.rec("lookup id 9999", d.domain_lookup_by_id(9999).await);
    t.rec(
        "define bad xml",
        d.domain_define_xml("<domain type='test'><name>x", 0).await,
    );
    collect_events(&mut t, &mut events, 9).await;
    t
}

async fn lists(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    let a = d
        .domain_define_xml(
            &demo_xml("alpha", "11111111-2222-3333-4444-555555555555"),
            0,
        )
        .await
        .expect("alpha");
    let b = d
        .domain_define_xml(&demo_xml("beta", "11111111-2222-3333-4444-666666666666"), 0)
        .await
        .expect("beta");
    let b = d.domain_create(&b, 0).await.expect("start beta");
    d.domain_suspend(&b).await.expect("pause beta");
    use flags::*;
    for (label, flag) in [
        ("none", 0),
        ("active", LIST_DOMAINS_ACTIVE),
        ("inactive", LIST_DOMAINS_INACTIVE),
        ("both", LIST_DOMAINS_ACTIVE | LIST_DOMAINS_INACTIVE),
        ("persistent", LIST_DOMAINS_PERSISTENT),
        ("transient", LIST_DOMAINS_TRANSIENT),
        ("running", LIST_DOMAINS_RUNNING),
        ("paused", LIST_DOMAINS_PAUSED),
        ("shutoff", LIST_DOMAINS_SHUTOFF),
    ] {
        let listed = d.list_all_domains(flag).await;
        let mut seen = names(&listed.map(Some).unwrap_or(None), |d| &d.name);
        seen.sort();
        t.note(format!("domains {label}: {seen:?}"));
    }
    d.domain_destroy(&b, 0).await.expect("destroy beta");
    d.domain_undefine(&a, 0).await.expect("undefine alpha");
    d.domain_undefine(&b, 0).await.expect("undefine beta");
    t.rec("after cleanup", d.list_all_domains(0).await);
    t
}

async fn xml(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    let dom = d.domain_lookup_by_name("test").await.expect("test");
    let live = t
        .rec("xml", d.domain_get_xml_desc(&dom, 0).await)
        .expect("xml");
    assert!(live.contains("<name>test</name>"));
    t.rec(
        "xml inactive",
        d.domain_get_xml_desc(&dom, flags::XML_INACTIVE).await,
    );
    t.rec("os type", d.domain_get_os_type(&dom).await);
    t.rec("autostart", d.domain_get_autostart(&dom).await);
    t.rec("max memory", d.domain_get_max_memory(&dom).await);
    t.rec("vcpus", d.domain_get_vcpus(&dom, 0).await);
    t.rec(
        "managed save",
        d.domain_has_managed_save_image(&dom, 0).await,
    );
    t.rec("security label", d.domain_get_security_label(&dom).await);
    let demo = d
        .domain_define_xml(&demo_xml("xmldemo", DEMO_UUID), 0)
        .await
        .expect("define");
    t.rec("defined xml", d.domain_get_xml_desc(&demo, 0).await);
    t.rec("set autostart", d.domain_set_autostart(&demo, true).await);
    t.rec("autostart after", d.domain_get_autostart(&demo).await);
    t.rec("undefine", d.domain_undefine(&demo, 0).await);
    t
}

async fn networks(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    for (label, flag) in [
        ("all", 0),
        ("active", flags::LIST_NETWORKS_ACTIVE),
        ("inactive", flags::LIST_NETWORKS_INACTIVE),
    ] {
        t.rec(label, d.list_all_networks(flag).await);
    }
    let net = t
        .rec("lookup", d.network_lookup_by_name("default").await)
        .expect("default network");
    t.rec("lookup uuid", d.network_lookup_by_uuid(&net.uuid).await);
    t.rec("xml", d.network_get_xml_desc(&net, 0).await);
    t.rec("bridge", d.network_get_bridge_name(&net).await);
    t.rec("autostart", d.network_get_autostart(&net).await);
    t.rec("active", d.network_is_active(&net).await);
    t.rec("persistent", d.network_is_persistent(&net).await);
    t.rec("lookup nosuch", d.network_lookup_by_name("nosuch").await);
    let xml = "<network><name>extra</name><uuid>0b8cbd9c-7e4c-4c5f-9a55-1f0d8b6f7a01</uuid>\
               <bridge name='virbr9'/><ip address='192.168.199.1' netmask='255.255.255.0'/></network>";
    let extra = t.rec("define", d.network_define_xml(xml, 0).await);
    if let Some(extra) = extra {
        t.rec("start", d.network_create(&extra).await);
        t.rec("active after start", d.network_is_active(&extra).await);
        t.rec("destroy", d.network_destroy(&extra).await);
        t.rec("undefine", d.network_undefine(&extra).await);
    }
    t.rec("all after", d.list_all_networks(0).await);
    t
}

async fn storage(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    t.rec("pools", d.list_all_storage_pools(0).await);
    let pool = t
        .rec("lookup", d.pool_lookup_by_name("default-pool").await)
        .expect("default-pool");
    t.rec("info", d.pool_get_info(&pool).await);
    t.rec("xml", d.pool_get_xml_desc(&pool, 0).await);
    t.rec("autostart", d.pool_get_autostart(&pool).await);
    t.rec("active", d.pool_is_active(&pool).await);
    t.rec("persistent", d.pool_is_persistent(&pool).await);
    t.rec("volumes", d.pool_list_all_volumes(&pool, 0).await);
    t.rec("lookup nosuch", d.pool_lookup_by_name("nosuch").await);
    let vol_xml = "<volume><name>disk1.img</name><capacity unit='MiB'>10</capacity>\
                   <allocation unit='MiB'>1</allocation></volume>";
    let vol = t.rec("vol create", d.vol_create_xml(&pool, vol_xml, 0).await);
    if let Some(vol) = vol {
        t.rec("vol lookup", d.vol_lookup_by_name(&pool, "disk1.img").await);
        t.rec("vol by key", d.vol_lookup_by_key(&vol.key).await);
        let path = t.rec("vol path", d.vol_get_path(&vol).await);
        if let Some(path) = path {
            t.rec("vol by path", d.vol_lookup_by_path(&path).await);
        }
        t.rec("vol info", d.vol_get_info(&vol).await);
        t.rec("vol xml", d.vol_get_xml_desc(&vol, 0).await);
        t.rec("pool of vol", d.pool_lookup_by_volume(&vol).await);
        t.rec("volumes with one", d.pool_list_all_volumes(&pool, 0).await);
        t.rec("vol delete", d.vol_delete(&vol, 0).await);
    }
    t.rec("vol nosuch", d.vol_lookup_by_name(&pool, "nosuch").await);
    t
}

async fn read_only(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    let dom = t
        .rec("lookup", d.domain_lookup_by_name("test").await)
        .expect("test");
    t.rec("list", d.list_all_domains(0).await);
    t.rec("suspend", d.domain_suspend(&dom).await);
    t.rec(
        "define",
        d.domain_define_xml(&demo_xml("ro", DEMO_UUID), 0).await,
    );
    t.rec("state", d.domain_get_state(&dom, 0).await);
    t
}

// ---------------------------------------------------------------------------------------------------------------
// Targets.

async fn in_process(dir: &std::path::Path, read_only: bool) -> Connection {
    let options = ConnectOptions {
        state_dir: Some(dir.to_path_buf()),
        read_only,
    };
    connect("test:///default", &options)
        .await
        .expect("in-process")
}

async fn remote(uri: &str, read_only: bool) -> Connection {
    let options = ConnectOptions {
        state_dir: None,
        read_only,
    };
    connect(uri, &options)
        .await
        .unwrap_or_else(|err| panic!("{uri}: {err}"))
}

/// Runs `suite` on a fresh in-process driver, through unix and through TCP (fresh servers each), and asserts the
/// transcripts are identical.
macro_rules! conformance {
    ($test:ident, $suite:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let dir = tempfile::tempdir().unwrap();
            let local = $suite(in_process(dir.path(), false).await).await.0;
            assert!(!local.is_empty());
            let unix_server = crate::support::server::Server::start().await;
            let unix = $suite(remote(&unix_server.unix_uri, false).await).await.0;
            assert_eq!(local, unix, "unix transcript differs");
            let tcp_server = crate::support::server::Server::start().await;
            let driver = remote(&tcp_server.tcp_uri, false).await;
            let tcp = $suite(driver.clone()).await.0;
            assert_eq!(local, tcp, "tcp transcript differs");
            driver.close().await.expect("clean close");
            assert!(!driver.is_alive().await.unwrap());
        }
    };
}

conformance!(connection_matches, connection);
conformance!(lifecycle_matches, lifecycle);
conformance!(lists_with_flags_match, lists);
conformance!(xml_and_domain_queries_match, xml);
conformance!(networks_match, networks);
conformance!(pools_and_volumes_match, storage);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_matches_through_the_flag_and_the_ro_socket() {
    let dir = tempfile::tempdir().unwrap();
    let local = read_only(in_process(dir.path(), true).await).await.0;
    assert!(
        local
            .iter()
            .any(|l| l.contains("read only access prevents virDomainSuspend")),
        "{local:#?}"
    );
    let server = crate::support::server::Server::start().await;
    // RO flag in CONNECT_OPEN (and the local refusal libvirt's library gives).
    let flagged = read_only(remote(&server.tcp_uri, true).await).await.0;
    assert_eq!(local, flagged);
    // The read-only socket refuses on the server side with the same code and words.
    let socket = read_only(remote(&server.ro_uri, false).await).await.0;
    assert_eq!(local, socket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_every_subscriber_through_the_remote_driver() {
    let server = crate::support::server::Server::start().await;
    let driver = remote(&server.unix_uri, false).await;
    let mut first = driver.domain_event_subscribe().await.unwrap();
    let mut second = driver.domain_event_subscribe().await.unwrap();
    let other = remote(&server.tcp_uri, false).await;
    let dom = other.domain_lookup_by_name("test").await.expect("lookup");
    other.domain_suspend(&dom).await.unwrap();
    for events in [&mut first, &mut second] {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("event in time")
            .unwrap();
        assert_eq!(event.domain.name, "test");
        assert_eq!(event.event, virtcim::event::SUSPENDED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_calls_in_flight_on_one_connection() {
    let server = crate::support::server::Server::start().await;
    let driver = remote(&server.tcp_uri, false).await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let driver = driver.clone();
        calls.spawn(async move {
            let dom = driver.domain_lookup_by_name("test").await?;
            driver.domain_get_info(&dom).await
        });
    }
    while let Some(done) = calls.join_next().await {
        assert_eq!(done.unwrap().unwrap().nr_virt_cpu, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_against_stock_libvirtd() {
    let Some(libvirtd) = tokio::task::spawn_blocking(crate::support::libvirtd::Libvirtd::start)
        .await
        .unwrap()
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = lifecycle(in_process(dir.path(), false).await).await.0;
    let driver = remote(&libvirtd.tcp_uri, false).await;
    let real = lifecycle(driver.clone()).await.0;
    driver.close().await.expect("clean close");
    // Two known divergences of our test driver from libvirt's (not of the remote driver), left out here and reported
    // to the test-driver owners: the wording and code of XML syntax errors (libvirt: code 35 with libxml2's
    // message), and an extra SHUTDOWN (6) lifecycle event before STOPPED on shutdown.
    let comparable = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .filter(|line| !line.starts_with("define bad xml:"))
            .filter(|line| !(line.starts_with("event ") && line.split(' ').nth(2) == Some("6")))
            .filter(|line| !line.starts_with("event missing"))
            .collect()
    };
    let (local, real) = (comparable(local), comparable(real));
    let diff: Vec<String> = local
        .iter()
        .zip(real.iter())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("ours:     {a}\nlibvirtd: {b}"))
        .collect();
    assert!(
        diff.is_empty() && local.len() == real.len(),
        "differences from libvirtd:\n{}",
        diff.join("\n")
    );
    drop(libvirtd);
}

/// A server from before the LIST_ALL calls and event callbacks, without AUTH_LIST: code 3 for 66, 273, 281, 282 and
/// 283, feature 14 answered 0.
const OLD_SERVER_REFUSES: [u32; 5] = [66, 273, 281, 282, 283];

/// Which procedures the "old server" answered itself, one bit per index of [`OLD_SERVER_REFUSES`], bit 5 for
/// feature 14.
static OLD_SERVER_ANSWERED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn old_server(message: &virtcim::Message) -> Option<Vec<u8>> {
    let header = &message.header;
    let mark = |bit: usize| {
        OLD_SERVER_ANSWERED.fetch_or(1 << bit, std::sync::atomic::Ordering::Relaxed);
    };
    if let Some(index) = OLD_SERVER_REFUSES.iter().position(|&p| p == header.proc_) {
        mark(index);
        let err = virtcim::Error::no_support(&format!("procedure {}", header.proc_));
        return Some(virtcim::error_frame(header, &err));
    }
    if header.proc_ == 60 && message.payload == [0, 0, 0, 14] {
        mark(OLD_SERVER_REFUSES.len());
        return Some(virtcim::encode_frame(
            &header.reply(virtcim::Status::Ok),
            &[0, 0, 0, 0],
        ));
    }
    None
}

/// Runs `suite` in process and through the "old server" proxy; the transcripts must match.
macro_rules! through_old_server {
    ($suite:ident) => {{
        let dir = tempfile::tempdir().unwrap();
        let local = $suite(in_process(dir.path(), false).await).await.0;
        let server = crate::support::server::Server::start().await;
        let proxy = crate::support::server::FaultProxy::start(
            server.unix_path.clone(),
            server.dir.path().join("old-sock"),
            old_server,
        )
        .await;
        let uri = format!("test+unix:///default?socket={}", proxy.path.display());
        let old = $suite(remote(&uri, false).await).await.0;
        assert_eq!(local, old, "{} through an old server", stringify!($suite));
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallbacks_for_old_servers_give_the_same_results() {
    // No AUTH_LIST (assume no auth), old-style lists of domains, networks, pools and volumes, legacy events.
    through_old_server!(lifecycle);
    through_old_server!(networks);
    through_old_server!(storage);
    let answered = OLD_SERVER_ANSWERED.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(answered, 0b11_1111, "every fallback was exercised");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_answers_server_keepalive_pings() {
    let config = virtcim::ServerConfig {
        keepalive_interval: Some(Duration::from_millis(500)),
        keepalive_count: 1,
        ..virtcim::ServerConfig::default()
    };
    let server = crate::support::server::Server::start_with(config).await;
    let driver = remote(&server.unix_uri, false).await;
    // Silent for several server keepalive periods: the server would drop a client that did not PONG.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(driver.is_alive().await.unwrap());
    assert_eq!(driver.get_type().await.unwrap(), "TEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_fails_calls_clearly() {
    let server = crate::support::server::Server::start().await;
    let proxy_path = server.dir.path().join("dying-sock");
    // Answering CONNECT_GET_HOSTNAME with a truncated frame makes the stream unusable: the client must fail the
    // call and every later one, not hang.
    fn garbage(message: &virtcim::Message) -> Option<Vec<u8>> {
        (message.header.proc_ == 59).then(|| vec![0, 0, 0, 8, 0, 0, 0, 0])
    }
    let proxy =
        crate::support::server::FaultProxy::start(server.unix_path.clone(), proxy_path, garbage)
            .await;
    let uri = format!("test+unix:///default?socket={}", proxy.path.display());
    let driver = remote(&uri, false).await;
    let err = driver.get_hostname().await.unwrap_err();
    assert_eq!(err.code, virtcim::ErrorCode::RPC, "{err:?}");
    assert!(!driver.is_alive().await.unwrap());
    let later = driver.get_type().await.unwrap_err();
    assert_eq!(later, err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_never_dials_out_for_a_remote_name() {
    let server = crate::support::server::Server::start().await;
    // The name sent in CONNECT_OPEN is a URI with a transport: serving it would make the server a client of
    // itself. It is refused like any driver the server lacks.
    let uri = format!(
        "test+unix:///default?socket={}&name={}",
        server.unix_path.display(),
        server.tcp_uri.replace('?', "%3F")
    );
    let err = match connect(&uri, &ConnectOptions::default()).await {
        Ok(_) => panic!("opened"),
        Err(err) => err,
    };
    assert_eq!(err.code, virtcim::ErrorCode::NO_CONNECT, "{err:?}");
    assert!(
        err.message.contains("no connection driver available for"),
        "{}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keepalive_drops_a_silent_server() {
    let server = crate::support::server::Server::start().await;
    // The proxy swallows keepalive PINGs: the server never answers them, as a hung peer would not.
    fn swallow_pings(message: &virtcim::Message) -> Option<Vec<u8>> {
        (message.header.prog == virtcim::rpc_wire::KEEPALIVE_PROGRAM).then(Vec::new)
    }
    let proxy = crate::support::server::FaultProxy::start(
        server.unix_path.clone(),
        server.dir.path().join("silent-sock"),
        swallow_pings,
    )
    .await;
    let text = format!("test+unix:///default?socket={}", proxy.path.display());
    let uri = virtcim::Uri::parse(&text).unwrap();
    let options = virtcim::RemoteOptions {
        read_only: false,
        keepalive: Some((Duration::from_millis(200), 2)),
    };
    let driver = virtcim::RemoteDriver::open(&uri, &text, &options)
        .await
        .unwrap();
    assert_eq!(driver.get_type().await.unwrap(), "TEST");
    // interval × (count + 1) = 600 ms of silence, plus a tick of slack.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!driver.is_alive().await.unwrap());
    let err = driver.get_type().await.unwrap_err();
    assert!(err.message.contains("keepalive timeout"), "{}", err.message);
}
