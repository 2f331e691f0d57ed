//! Hostile and broken RPC clients against the real `virtcimd` binary (and, for listeners the daemon cannot start
//! yet, an in-process server): framing faults, bad counts, calls out of order, unknown programs and procedures,
//! the read-only socket walked over every procedure number, floods, clients that never read, silent peers, and
//! the client caps. Every case gets its documented answer while a canary client keeps being served.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::daemon::Daemon;
use crate::support::raw::{error_of, Raw, Received};
use virtcim::rpc_wire::{
    ConnectOpenArgs, DomainGetInfoRet, DomainRet, IntArgs, ListAllArgs, ListAllDomainsRet,
    PoolIntArgs, PoolListAllArgs, StringArgs, Writer, DOMAIN_LIST_MAX, KEEPALIVE_PING,
    KEEPALIVE_PONG, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, NETWORK_LIST_MAX, REMOTE_PROGRAM,
    REMOTE_VERSION, STORAGE_POOL_LIST_MAX, STORAGE_VOL_LIST_MAX,
};
use virtcim::{
    allowed_read_only, DomainRef, Header, MessageType, Procedure, Status, TestDriver, Xdr,
};

fn open_tcp(daemon: &Daemon) -> Raw {
    let mut raw = Raw::tcp(daemon.port);
    raw.open("test:///default");
    raw
}

fn test_domain(raw: &mut Raw) -> DomainRef {
    let args = StringArgs {
        value: "test".into(),
    };
    let reply = raw.call(Procedure::DomainLookupByName, &args.to_bytes());
    DomainRet::from_bytes(&reply.payload).expect("lookup").dom
}

/// The documented error for one call: `(code, domain)` and the message.
fn expect_error(raw: &mut Raw, proc_: Procedure, payload: &[u8], code: i32, message: &str) {
    let reply = raw.call(proc_, payload);
    let err = error_of(&reply);
    assert_eq!(err.code, code, "{proc_:?}: {err:?}");
    assert_eq!(err.message.as_deref(), Some(message), "{proc_:?}");
}

#[test]
fn framing_faults_close_or_answer_and_others_keep_working() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path(), "");
    let mut canary = open_tcp(&daemon);

    // Lengths outside 28 ..= 32 MiB + 4: closed without a reply.
    for length in [0u32, 4, 27, 0x0200_0005, u32::MAX] {
        let mut raw = open_tcp(&daemon);
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 24]);
        raw.send_bytes(&bytes);
        assert!(matches!(raw.receive(), Received::Closed), "length {length}");
        canary.canary();
    }

    let mut raw = open_tcp(&daemon);
    // A message type no client sends: an error on that serial, the connection stays.
    let mut frame = Header::call(REMOTE_PROGRAM, REMOTE_VERSION, 23, 77);
    frame.kind = MessageType::Call;
    let mut bytes = virtcim::encode_frame(&frame, &[]);
    bytes[4 + 12..4 + 16].copy_from_slice(&9u32.to_be_bytes());
    raw.send_bytes(&bytes);
    let reply = raw.reply();
    assert_eq!(reply.header.serial, 77);
    assert_eq!(error_of(&reply).code, 39);

    // Payloads that do not decode: code 39 "Unable to decode message payload", connection usable.
    let decode_error = "Unable to decode message payload";
    let mut huge_string = Writer::new();
    huge_string.u32(u32::MAX);
    let mut short_string = Writer::new();
    short_string.u32(100);
    short_string.u32(0x7465_7374);
    let mut trailing = StringArgs {
        value: "test".into(),
    }
    .to_bytes();
    trailing.extend_from_slice(&[0, 0, 0, 0]);
    let mut bad_padding = Writer::new();
    bad_padding.u32(1);
    bad_padding.u32(0x7400_0001);
    let mut bad_option = Writer::new();
    bad_option.u32(0);
    bad_option.u32(2);
    let cases: [(Procedure, Vec<u8>); 6] = [
        (Procedure::DomainLookupByName, huge_string.into_bytes()),
        (Procedure::DomainLookupByName, short_string.into_bytes()),
        (Procedure::DomainLookupByName, trailing),
        (Procedure::DomainLookupByName, bad_padding.into_bytes()),
        (
            Procedure::ConnectDomainEventCallbackRegisterAny,
            bad_option.into_bytes(),
        ),
        (Procedure::DomainGetInfo, vec![0, 0, 0]),
    ];
    for (proc_, payload) in cases {
        expect_error(&mut raw, proc_, &payload, 39, decode_error);
        raw.canary();
    }

    // A frame that starts and never ends is closed at the stall deadline (covered with a short deadline in
    // rpc_server.rs); here: the daemon keeps serving others while it waits.
    let mut stalled = open_tcp(&daemon);
    stalled.send_bytes(&1000u32.to_be_bytes());
    canary.canary();
    drop(stalled);
    canary.canary();
}

/// Builds a call's payload around one int value.
type PayloadOf<'a> = Box<dyn Fn(i32) -> Vec<u8> + 'a>;

/// Every `int` count a call carries: negative and above-cap values are refused, the connection stays usable.
#[test]
fn every_count_argument_is_checked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path(), "");
    let mut raw = open_tcp(&daemon);
    let pool = {
        let reply = raw.call(
            Procedure::StoragePoolLookupByName,
            &StringArgs {
                value: "default-pool".into(),
            }
            .to_bytes(),
        );
        virtcim::rpc_wire::PoolRet::from_bytes(&reply.payload)
            .expect("default-pool")
            .pool
    };
    let int_calls: [(Procedure, u32, &str); 6] = [
        (Procedure::ConnectListDomains, DOMAIN_LIST_MAX, "maxids"),
        (
            Procedure::ConnectListDefinedDomains,
            DOMAIN_LIST_MAX,
            "maxnames",
        ),
        (Procedure::ConnectListNetworks, NETWORK_LIST_MAX, "maxnames"),
        (
            Procedure::ConnectListDefinedNetworks,
            NETWORK_LIST_MAX,
            "maxnames",
        ),
        (
            Procedure::ConnectListStoragePools,
            STORAGE_POOL_LIST_MAX,
            "maxnames",
        ),
        (
            Procedure::ConnectListDefinedStoragePools,
            STORAGE_POOL_LIST_MAX,
            "maxnames",
        ),
    ];
    let pool_payload = |value: i32| {
        PoolIntArgs {
            pool: pool.clone(),
            value,
        }
        .to_bytes()
    };
    let mut cases: Vec<(Procedure, u32, PayloadOf)> = int_calls
        .iter()
        .map(|&(proc_, cap, _)| {
            let payload: Box<dyn Fn(i32) -> Vec<u8>> =
                Box::new(|value| IntArgs { value }.to_bytes());
            (proc_, cap, payload)
        })
        .collect();
    cases.push((
        Procedure::StoragePoolListVolumes,
        STORAGE_VOL_LIST_MAX,
        Box::new(pool_payload),
    ));
    for (proc_, cap, payload) in &cases {
        let cap = i32::try_from(*cap).expect("cap");
        for bad in [-1, i32::MIN, cap + 1, i32::MAX] {
            let reply = raw.call(*proc_, &payload(bad));
            let err = error_of(&reply);
            let expected = if bad < 0 { 8 } else { 39 };
            assert_eq!(err.code, expected, "{proc_:?}({bad}): {err:?}");
            raw.canary();
        }
        for good in [0, 1, cap] {
            let reply = raw.call(*proc_, &payload(good));
            assert_eq!(reply.header.status, Status::Ok, "{proc_:?}({good})");
        }
    }

    // need_results is a yes/no flag in libvirt (any non-zero value asks for the list): never a length.
    for need_results in [i32::MIN, -1, 1, i32::MAX] {
        let reply = raw.call(
            Procedure::ConnectListAllDomains,
            &ListAllArgs {
                need_results,
                flags: 0,
            }
            .to_bytes(),
        );
        let ret = ListAllDomainsRet::from_bytes(&reply.payload).expect("list");
        assert_eq!((ret.domains.0.len(), ret.ret), (1, 1));
        for proc_ in [
            Procedure::ConnectListAllNetworks,
            Procedure::ConnectListAllStoragePools,
        ] {
            let args = ListAllArgs {
                need_results,
                flags: 0,
            };
            assert_eq!(raw.call(proc_, &args.to_bytes()).header.status, Status::Ok);
        }
        let args = PoolListAllArgs {
            pool: pool.clone(),
            need_results,
            flags: 0,
        };
        let reply = raw.call(Procedure::StoragePoolListAllVolumes, &args.to_bytes());
        assert_eq!(reply.header.status, Status::Ok);
    }

    // Other ints: ids, event ids, callback ids, feature numbers at their edges.
    for value in [i32::MIN, -1, 0, i32::MAX] {
        let reply = raw.call(Procedure::DomainLookupById, &IntArgs { value }.to_bytes());
        assert_eq!(error_of(&reply).code, 42, "lookup id {value}");
        let reply = raw.call(
            Procedure::ConnectDomainEventCallbackDeregisterAny,
            &IntArgs { value }.to_bytes(),
        );
        assert_eq!(error_of(&reply).code, 8, "deregister {value}");
        let reply = raw.call(
            Procedure::ConnectSupportsFeature,
            &IntArgs { value }.to_bytes(),
        );
        assert_eq!(reply.header.status, Status::Ok, "feature {value}");
    }
    let dom = test_domain(&mut raw);
    let reply = raw.call(Procedure::DomainGetInfo, &dom.to_bytes());
    let info = DomainGetInfoRet::from_bytes(&reply.payload).expect("info");
    assert_eq!(info.state, 1, "still running after all that");
}

#[test]
fn calls_out_of_order_and_unknown_targets_get_libvirts_answers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path(), "");
    let mut canary = open_tcp(&daemon);

    // Driver calls before CONNECT_OPEN.
    let mut raw = Raw::tcp(daemon.port);
    for proc_ in [
        Procedure::ConnectGetHostname,
        Procedure::ConnectListAllDomains,
    ] {
        let payload = match proc_ {
            Procedure::ConnectListAllDomains => ListAllArgs {
                need_results: 1,
                flags: 0,
            }
            .to_bytes(),
            _ => Vec::new(),
        };
        expect_error(
            &mut raw,
            proc_,
            &payload,
            1,
            "internal error: hypervisor connection not open",
        );
    }
    // Keepalive is answered before open, even as the very first frame.
    let mut ping = Header::call(KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, KEEPALIVE_PING, 0);
    ping.kind = MessageType::Message;
    assert!(raw.send_bytes(&virtcim::encode_frame(&ping, &[])));
    match raw.receive() {
        Received::Frame(pong) => assert_eq!(pong.header.proc_, KEEPALIVE_PONG),
        other => panic!("no PONG: {other:?}"),
    }
    raw.open("test:///default");
    // A second open: refused, the first stays usable.
    let reply = raw.try_open("test:///default");
    assert_eq!(error_of(&reply).code, 1);

    // Unknown programs and versions: echoed back with code 39.
    for (prog, vers) in [
        (0x1234_5678, 1),
        (REMOTE_PROGRAM, 2),
        (REMOTE_PROGRAM, 0),
        (u32::MAX, u32::MAX),
    ] {
        let serial = raw.send_call(prog, vers, 1, &[]);
        let reply = raw.reply();
        assert_eq!(
            (
                reply.header.prog,
                reply.header.vers,
                reply.header.proc_,
                reply.header.serial
            ),
            (prog, vers, 1, serial)
        );
        let err = error_of(&reply);
        assert_eq!(err.code, 39);
        assert_eq!(
            err.message.as_deref(),
            Some(format!("Cannot find program {} version {vers}", prog as i32).as_str())
        );
    }
    // Unknown procedures and event numbers sent as calls.
    for proc_ in [
        0u32,
        444,
        1000,
        9999,
        0x7fff_ffff,
        0x8000_0000,
        u32::MAX,
        107,
    ] {
        let reply = raw.call_number(proc_, &[]);
        let err = error_of(&reply);
        assert_eq!(err.code, 39, "{proc_}");
        assert_eq!(
            err.message.as_deref(),
            Some(format!("unknown procedure: {}", proc_ as i32).as_str())
        );
    }
    // Unknown keepalive procedures are ignored (no reply): the next call's reply comes next.
    let mut unknown = Header::call(KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, 99, 0);
    unknown.kind = MessageType::Message;
    assert!(raw.send_bytes(&virtcim::encode_frame(&unknown, &[])));
    raw.canary();
    canary.canary();
}

/// Before authentication only AUTH_LIST and the SASL steps run; unauthenticated clients are capped by
/// `max_anonymous_clients` while clients of a no-auth listener are never turned away. The daemon cannot start a
/// SASL listener yet, so this runs the same server in process.
#[test]
fn anonymous_clients_are_capped_without_blocking_authenticated_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sasl_path = tmp.path().join("sasl-sock");
    let open_path = tmp.path().join("open-sock");
    let (sasl_c, open_c, state) = (
        sasl_path.clone(),
        open_path.clone(),
        tmp.path().join("state"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let stop_server = stop.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server_thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async move {
            let driver = TestDriver::open(&state).await.expect("test driver");
            let opener = Arc::new(FixedOpener(driver));
            let config = virtcim::ServerConfig {
                max_anonymous_clients: 2,
                ..virtcim::ServerConfig::default()
            };
            let server = virtcim::RpcServer::new(opener, config);
            let sasl = virtcim::RpcServer::bind_unix(&sasl_c).expect("bind");
            let open = virtcim::RpcServer::bind_unix(&open_c).expect("bind");
            let sasl_kind = virtcim::ListenerKind {
                auth: 1,
                read_only: false,
            };
            tokio::spawn(server.clone().serve_unix_as(sasl, sasl_kind));
            tokio::spawn(server.serve_unix_as(open, virtcim::ListenerKind::READ_WRITE));
            let _ = ready_tx.send(());
            while !stop_server.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    });
    ready_rx.recv().expect("server ready");

    let mut canary = Raw::unix(&open_path);
    canary.open("test:///default");
    let mut first = Raw::unix(&sasl_path);
    // Gated calls before authentication, CONNECT_OPEN included.
    for proc_ in [
        Procedure::ConnectOpen,
        Procedure::ConnectGetHostname,
        Procedure::ConnectSupportsFeature,
    ] {
        let payload = match proc_ {
            Procedure::ConnectOpen => ConnectOpenArgs {
                name: Some("test:///default".into()),
                flags: 0,
            }
            .to_bytes(),
            Procedure::ConnectSupportsFeature => IntArgs { value: 10 }.to_bytes(),
            _ => Vec::new(),
        };
        expect_error(&mut first, proc_, &payload, 39, "authentication required");
    }
    let reply = first.call(Procedure::AuthList, &[]);
    assert_eq!(reply.header.status, Status::Ok);
    assert_eq!(
        reply.payload,
        [0, 0, 0, 1, 0, 0, 0, 1],
        "AUTH_LIST = [sasl]"
    );

    let mut second = Raw::unix(&sasl_path);
    assert_eq!(
        second.call(Procedure::AuthList, &[]).header.status,
        Status::Ok
    );
    // The third unauthenticated client is closed at once.
    let mut third = Raw::unix(&sasl_path);
    third.set_timeout(Duration::from_secs(5));
    third.send_call(
        REMOTE_PROGRAM,
        REMOTE_VERSION,
        Procedure::AuthList.number(),
        &[],
    );
    assert!(matches!(third.receive(), Received::Closed));
    // Clients needing no authentication are never turned away by the anonymous cap.
    let mut others: Vec<Raw> = (0..10)
        .map(|_| {
            let mut raw = Raw::unix(&open_path);
            raw.open("test:///default");
            raw.canary();
            raw
        })
        .collect();
    canary.canary();
    // A slot frees when an anonymous client leaves.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = Raw::unix(&sasl_path);
        again.set_timeout(Duration::from_secs(2));
        again.send_call(
            REMOTE_PROGRAM,
            REMOTE_VERSION,
            Procedure::AuthList.number(),
            &[],
        );
        if matches!(again.receive(), Received::Frame(_)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the freed anonymous slot was not reused"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    others.iter_mut().for_each(Raw::canary);
    stop.store(true, Ordering::SeqCst);
    server_thread.join().expect("server thread");
}

struct FixedOpener(Arc<TestDriver>);

#[async_trait::async_trait]
impl virtcim::DriverOpener for FixedOpener {
    async fn open(
        &self,
        _name: Option<&str>,
        _read_only: bool,
    ) -> virtcim::Result<virtcim::Connection> {
        Ok(self.0.clone().connection())
    }
    async fn release(&self, _driver: virtcim::Connection) {}
}

/// Payload shapes tried for every procedure on the read-only socket, so that denied calls are reached past
/// decoding wherever one of them matches.
fn payload_shapes(dom: &DomainRef) -> Vec<Vec<u8>> {
    let dom_bytes = dom.to_bytes();
    let string = StringArgs {
        value: "test".into(),
    }
    .to_bytes();
    let mut shapes = vec![Vec::new(), vec![0; 4], vec![0; 8], string.clone()];
    let mut with = |base: &[u8], extra_words: usize| {
        let mut bytes = base.to_vec();
        bytes.extend(std::iter::repeat_n(0u8, 4 * extra_words));
        shapes.push(bytes);
    };
    for words in 0..=4 {
        with(&dom_bytes, words);
    }
    with(&string, 1);
    with(&string, 2);
    shapes
}

/// Every procedure number 0..=450 and edge values over the read-only socket: a procedure outside the read
/// allow-list never succeeds and changes nothing; the daemon and a canary stay fine.
#[test]
fn the_read_only_socket_walk_over_every_procedure() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path(), "");
    let mut canary = open_tcp(&daemon);
    let dom = test_domain(&mut canary);
    let before = list_names(&mut canary);
    let connect_ro = || {
        let mut raw = Raw::unix(&daemon.ro_socket());
        raw.open("test:///default");
        raw
    };
    let mut ro = connect_ro();
    let shapes = payload_shapes(&dom);
    let numbers = (0u32..=450).chain([451, 1000, 0x7fff_ffff, 0x8000_0000, u32::MAX]);
    let (mut denied, mut ok) = (0, 0);
    for number in numbers {
        let proc_ = Procedure::from_number(number);
        if matches!(proc_, Procedure::ConnectClose | Procedure::ConnectOpen) {
            continue; // state changes of the connection itself, tested elsewhere
        }
        for payload in &shapes {
            let reply = ro.call_number(number, payload);
            let allowed = allowed_read_only(proc_);
            match reply.header.status {
                Status::Ok => {
                    assert!(allowed, "{proc_:?} ({number}) succeeded read-only");
                    ok += 1;
                }
                _ => {
                    let err = error_of(&reply);
                    if err.code == 29 {
                        denied += 1;
                        if allowed {
                            // Only the secure/migratable XML flags deny an allowed read.
                            assert!(
                                matches!(
                                    proc_,
                                    Procedure::DomainGetXmlDesc
                                        | Procedure::DomainManagedSaveGetXmlDesc
                                        | Procedure::DomainSaveImageGetXmlDesc
                                ),
                                "{proc_:?}: {err:?}"
                            );
                        }
                    }
                }
            }
        }
        if number % 50 == 0 {
            canary.canary();
        }
    }
    assert!(denied > 100 && ok > 20, "denied {denied}, ok {ok}");
    assert_eq!(list_names(&mut canary), before, "nothing changed");
    let reply = canary.call(Procedure::DomainGetInfo, &dom.to_bytes());
    let info = DomainGetInfoRet::from_bytes(&reply.payload).expect("info");
    assert_eq!(info.state, 1, "the test domain still runs");
    ro.canary();
    let mut fresh = connect_ro();
    fresh.canary();
}

fn list_names(raw: &mut Raw) -> Vec<String> {
    let args = ListAllArgs {
        need_results: 1,
        flags: 0,
    };
    let reply = raw.call(Procedure::ConnectListAllDomains, &args.to_bytes());
    let ret = ListAllDomainsRet::from_bytes(&reply.payload).expect("list");
    ret.domains.0.into_iter().map(|d| d.name).collect()
}

/// A client pipelining far more than `max_client_requests` calls is slowed (the daemon stops reading it), not
/// failed: every call is answered, and others are served meanwhile.
#[test]
fn a_flooding_client_gets_backpressure_and_all_its_answers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path(), "max_client_requests = 2\n");
    let mut canary = open_tcp(&daemon);
    let mut flood = open_tcp(&daemon);
    let dom = test_domain(&mut flood);
    const CALLS: usize = 3000;
    let mut batch = Vec::new();
    for serial in 1000..1000 + CALLS {
        let header = Header::call(
            REMOTE_PROGRAM,
            REMOTE_VERSION,
            Procedure::DomainGetInfo.number(),
            u32::try_from(serial).expect("serial"),
        );
        batch.extend(virtcim::encode_frame(&header, &dom.to_bytes()));
    }
    // One thread writes the whole batch at once; this thread reads the answers and serves the canary in between.
    let mut write_side = flood.try_clone_stream();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        write_side.write_all(&batch).is_ok()
    });
    let mut answered = 0;
    let mut canary_calls = 0;
    while answered < CALLS {
        match flood.receive() {
            Received::Frame(reply) if reply.header.kind == MessageType::Reply => {
                assert_eq!(reply.header.status, Status::Ok);
                answered += 1;
            }
            Received::Frame(_) => {}
            other => panic!("flood connection: {other:?} after {answered}"),
        }
        if answered % 500 == 0 {
            canary.canary();
            canary_calls += 1;
        }
    }
    assert!(writer.join().expect("writer"), "flood write failed");
    assert!(canary_calls > 0);
    canary.canary();
}

/// A client that sends calls but never reads a reply is dropped once its queue is full; the daemon's memory stays
/// bounded and others are served throughout.
#[test]
fn a_client_that_never_reads_is_dropped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut daemon = Daemon::start(tmp.path(), "");
    let mut canary = open_tcp(&daemon);
    let rss_before = daemon.rss_kib();
    let mut deaf = Raw::unix(&daemon.rw_socket());
    deaf.open("test:///default");
    let dom = test_domain(&mut deaf);
    // GET_XML_DESC: a call of ~60 bytes, a reply of a few KiB.
    let mut payload = dom.to_bytes();
    payload.extend_from_slice(&0u32.to_be_bytes());
    let mut chunk = Vec::new();
    for serial in 0..100u32 {
        let header = Header::call(
            REMOTE_PROGRAM,
            REMOTE_VERSION,
            Procedure::DomainGetXmlDesc.number(),
            serial,
        );
        chunk.extend(virtcim::encode_frame(&header, &payload));
    }
    let started = Instant::now();
    let mut dropped = false;
    for round in 0..2000 {
        if !deaf.send_bytes(&chunk) {
            dropped = true;
            break;
        }
        if round % 20 == 0 {
            canary.canary();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never dropped");
    }
    assert!(dropped, "the daemon kept a client that never reads");
    canary.canary();
    let rss_after = daemon.rss_kib();
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    assert!(daemon.alive());
}

/// A client that asked for keepalive and then stays silent is dropped after interval × (count + 1).
#[test]
fn a_silent_keepalive_peer_is_dropped_in_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path(), "keepalive_interval = 1\nkeepalive_count = 2\n");
    let mut canary = open_tcp(&daemon);
    let mut silent = open_tcp(&daemon);
    let reply = silent.call(
        Procedure::ConnectSupportsFeature,
        &IntArgs { value: 10 }.to_bytes(),
    );
    assert_eq!(reply.payload, [0, 0, 0, 1]);
    let started = Instant::now();
    let mut pings = 0;
    silent.set_timeout(Duration::from_millis(200));
    loop {
        match silent.receive() {
            Received::Frame(message) => {
                assert_eq!(
                    (message.header.prog, message.header.proc_),
                    (KEEPALIVE_PROGRAM, KEEPALIVE_PING)
                );
                pings += 1;
            }
            Received::Closed => break,
            Received::Silent => canary.canary(),
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never dropped");
    }
    let after = started.elapsed();
    assert_eq!(pings, 2);
    assert!(
        after >= Duration::from_millis(2500) && after < Duration::from_secs(6),
        "dropped after {after:?}"
    );
    // The canary never asked for keepalive: never pinged, never dropped, although silent between calls.
    std::thread::sleep(Duration::from_millis(3500));
    canary.canary();
}

#[test]
fn clients_beyond_max_clients_are_closed_and_the_slot_comes_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path(), "max_clients = 3\nmax_anonymous_clients = 3\n");
    let mut canary = open_tcp(&daemon);
    let second = open_tcp(&daemon);
    let mut third = Raw::unix(&daemon.ro_socket());
    third.open("test:///default");
    for _ in 0..3 {
        let mut extra = Raw::tcp(daemon.port);
        extra.set_timeout(Duration::from_secs(5));
        let _ = extra.send_bytes(&[0, 0, 0, 28]);
        assert!(matches!(extra.receive(), Received::Closed));
        canary.canary();
    }
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = Raw::tcp(daemon.port);
        again.set_timeout(Duration::from_secs(2));
        let args = ConnectOpenArgs {
            name: Some("test:///default".into()),
            flags: 0,
        };
        again.send_call(REMOTE_PROGRAM, REMOTE_VERSION, 1, &args.to_bytes());
        if matches!(again.receive(), Received::Frame(_)) {
            again.canary();
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was not reused");
        std::thread::sleep(Duration::from_millis(50));
    }
    third.canary();
    canary.canary();
}
