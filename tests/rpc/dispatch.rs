//! Dispatch tests: captured virsh sessions replayed against a small fake driver must get libvirtd's replies, and
//! the server-side rules (auth gate, open gate, unknown procedures, bad payloads, read-only) answer as libvirtd.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::broadcast;
use uuid::Uuid;
use virtcim::rpc_wire::{
    AuthListRet, CallbackRegisterArgs, ConnectOpenArgs, IntArgs, IntRet, KEEPALIVE_PROGRAM,
    REMOTE_PROGRAM,
};
use virtcim::{
    event, prelude::*, Call, ConnectionState, DispatchOutcome, Dispatcher, DomainEvent, DomainInfo,
    DomainRef, DomainState, DriverOpener, Error, ErrorCode, ErrorDomain, Header, Message,
    MessageType, NetworkRef, NodeInfo, PoolInfo, PoolRef, Procedure, RemoteError, Result, Status,
    Xdr,
};

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn uuid(hex: &str) -> Uuid {
    Uuid::from_slice(&unhex(hex)).expect("uuid")
}

/// A driver holding what libvirt's test driver holds in the captured sessions, recording every state change.
struct Fake {
    changes: Mutex<Vec<&'static str>>,
    events: broadcast::Sender<DomainEvent>,
}

impl Fake {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            changes: Mutex::new(Vec::new()),
            events: broadcast::channel(16).0,
        })
    }
    fn test_domain() -> DomainRef {
        DomainRef {
            name: "test".into(),
            uuid: uuid("6695eb01f6a4830479aa97f2502e193f"),
            id: 1,
        }
    }
    fn change(&self, what: &'static str) -> Result<()> {
        self.changes.lock().unwrap().push(what);
        Ok(())
    }
    fn lookup(&self, dom: &DomainRef) -> Result<DomainRef> {
        if dom.uuid == Self::test_domain().uuid {
            Ok(Self::test_domain())
        } else {
            Err(Error::with_detail(
                ErrorCode::NO_DOMAIN,
                ErrorDomain::TEST,
                "",
            ))
        }
    }
}

#[async_trait]
impl HypervisorDriver for Fake {
    async fn get_type(&self) -> Result<String> {
        Ok("TEST".into())
    }
    async fn get_version(&self) -> Result<u64> {
        Ok(2)
    }
    async fn get_hostname(&self) -> Result<String> {
        Ok("vm".into())
    }
    async fn node_get_info(&self) -> Result<NodeInfo> {
        Ok(NodeInfo {
            model: "i686".into(),
            memory_kib: 3_145_728,
            cpus: 16,
            mhz: 1400,
            nodes: 2,
            sockets: 2,
            cores: 2,
            threads: 2,
        })
    }
    async fn node_get_security_model(&self) -> Result<(String, String)> {
        Ok(("testSecurity".into(), String::new()))
    }
    async fn list_all_domains(&self, flags: u32) -> Result<Vec<DomainRef>> {
        let inactive_only = flags & virtcim::flags::LIST_DOMAINS_ACTIVE == 0
            && flags & virtcim::flags::LIST_DOMAINS_INACTIVE != 0;
        Ok(if inactive_only {
            vec![]
        } else {
            vec![Self::test_domain()]
        })
    }
    async fn domain_lookup_by_name(&self, name: &str) -> Result<DomainRef> {
        match name {
            "test" => Ok(Self::test_domain()),
            _ => Err(Error::with_detail(
                ErrorCode::NO_DOMAIN,
                ErrorDomain::TEST,
                "",
            )),
        }
    }
    async fn domain_lookup_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        self.lookup(&DomainRef {
            name: String::new(),
            uuid: *uuid,
            id: -1,
        })
    }
    async fn domain_get_info(&self, dom: &DomainRef) -> Result<DomainInfo> {
        self.lookup(dom)?;
        Ok(DomainInfo {
            state: DomainState::Running,
            max_mem_kib: 0x80_0000,
            memory_kib: 0x20_0000,
            nr_virt_cpu: 2,
            cpu_time_ns: 0x18ea_587c_beb3_94a8,
        })
    }
    async fn domain_get_state(&self, dom: &DomainRef, _flags: u32) -> Result<(DomainState, i32)> {
        self.lookup(dom)?;
        Ok((DomainState::Running, 0))
    }
    async fn domain_get_os_type(&self, _dom: &DomainRef) -> Result<String> {
        Ok("linux".into())
    }
    async fn domain_is_persistent(&self, _dom: &DomainRef) -> Result<bool> {
        Ok(true)
    }
    async fn domain_get_autostart(&self, _dom: &DomainRef) -> Result<bool> {
        Ok(false)
    }
    async fn domain_has_managed_save_image(&self, _dom: &DomainRef, _flags: u32) -> Result<bool> {
        Ok(false)
    }
    async fn domain_get_security_label(&self, _dom: &DomainRef) -> Result<(String, bool)> {
        Ok(("libvirt-test".into(), true))
    }
    async fn domain_get_xml_desc(&self, _dom: &DomainRef, _flags: u32) -> Result<String> {
        Ok("<domain/>".into())
    }
    async fn domain_suspend(&self, _dom: &DomainRef) -> Result<()> {
        self.change("suspend")
    }
    async fn domain_define_xml(&self, _xml: &str, _flags: u32) -> Result<DomainRef> {
        self.change("define")?;
        Ok(Self::test_domain())
    }
    async fn domain_undefine(&self, _dom: &DomainRef, _flags: u32) -> Result<()> {
        self.change("undefine")
    }
    async fn domain_create(&self, _dom: &DomainRef, _flags: u32) -> Result<DomainRef> {
        self.change("create")?;
        Ok(Self::test_domain())
    }
    async fn domain_destroy(&self, _dom: &DomainRef, _flags: u32) -> Result<()> {
        self.change("destroy")
    }
    async fn domain_set_memory(&self, _dom: &DomainRef, _kib: u64, _flags: u32) -> Result<()> {
        self.change("set_memory")
    }
    async fn domain_set_autostart(&self, _dom: &DomainRef, _autostart: bool) -> Result<()> {
        self.change("set_autostart")
    }
    async fn domain_event_subscribe(&self) -> Result<broadcast::Receiver<DomainEvent>> {
        Ok(self.events.subscribe())
    }
}

#[async_trait]
impl NetworkDriver for Fake {
    async fn list_all_networks(&self, _flags: u32) -> Result<Vec<NetworkRef>> {
        Ok(vec![NetworkRef {
            name: "default".into(),
            uuid: uuid("dd8fe8846c02601e7551cca97df1c5df"),
        }])
    }
    async fn network_get_autostart(&self, _net: &NetworkRef) -> Result<bool> {
        Ok(false)
    }
    async fn network_is_persistent(&self, _net: &NetworkRef) -> Result<bool> {
        Ok(true)
    }
    async fn network_is_active(&self, _net: &NetworkRef) -> Result<bool> {
        Ok(true)
    }
    async fn network_destroy(&self, _net: &NetworkRef) -> Result<()> {
        self.change("network_destroy")
    }
}

#[async_trait]
impl StorageDriver for Fake {
    async fn list_all_storage_pools(&self, _flags: u32) -> Result<Vec<PoolRef>> {
        Ok(vec![PoolRef {
            name: "default-pool".into(),
            uuid: uuid("dfe224cb28fb8dd0c4b264eb3f0f4566"),
        }])
    }
    async fn pool_get_autostart(&self, _pool: &PoolRef) -> Result<bool> {
        Ok(false)
    }
    async fn pool_get_info(&self, _pool: &PoolRef) -> Result<PoolInfo> {
        Ok(PoolInfo {
            state: virtcim::pool_state::RUNNING,
            capacity: 107_374_182_400,
            allocation: 0,
            available: 107_374_182_400,
        })
    }
    async fn pool_is_active(&self, _pool: &PoolRef) -> Result<bool> {
        Ok(true)
    }
    async fn pool_destroy(&self, _pool: &PoolRef) -> Result<()> {
        self.change("pool_destroy")
    }
}

struct Opener(Arc<Fake>);

#[async_trait]
impl DriverOpener for Opener {
    async fn open(&self, name: Option<&str>, _read_only: bool) -> Result<Connection> {
        match name {
            Some("test:///default") => Ok(Connection::builder()
                .hypervisor(self.0.clone())
                .network(self.0.clone())
                .storage(self.0.clone())
                .build()),
            other => Err(Error::new(
                ErrorCode::NO_CONNECT,
                ErrorDomain::NONE,
                format!(
                    "no connection driver available for {}",
                    other.unwrap_or("<null>")
                ),
            )),
        }
    }
}

fn setup() -> (Arc<Fake>, Dispatcher) {
    let fake = Fake::new();
    let dispatcher = Dispatcher::new(Arc::new(Opener(fake.clone())));
    (fake, dispatcher)
}

fn call(proc_: u32, serial: u32, payload: Vec<u8>) -> Message {
    Message {
        header: Header::call(REMOTE_PROGRAM, 1, proc_, serial),
        payload,
    }
}

/// The reply of one outcome, split into header and payload.
fn reply(outcome: &DispatchOutcome) -> Message {
    let frame = outcome.reply.as_ref().expect("a reply");
    Message::from_frame(&frame[4..]).expect("reply frame")
}

fn error_of(outcome: &DispatchOutcome) -> RemoteError {
    let message = reply(outcome);
    assert_eq!(
        message.header.status,
        Status::Error,
        "expected an error reply"
    );
    RemoteError::from_bytes(&message.payload).expect("remote_error")
}

async fn open(dispatcher: &Dispatcher, state: &mut ConnectionState, flags: u32) {
    let args = ConnectOpenArgs {
        name: Some("test:///default".into()),
        flags,
    };
    let outcome = dispatcher.handle(state, &call(1, 1, args.to_bytes())).await;
    assert_eq!(reply(&outcome).header.status, Status::Ok);
}

fn trace(name: &str) -> Vec<(bool, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/rpc")
        .join(name);
    std::fs::read_to_string(path)
        .expect("trace")
        .lines()
        .filter_map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).ok()?;
            Some((record["dir"] == "C>S", unhex(record.get("hex")?.as_str()?)))
        })
        .collect()
}

/// Replays the client side of captured sessions: every reply equals libvirtd's byte for byte, or for errors in
/// code, domain and message (libvirtd also fills the format-string fields).
#[tokio::test]
async fn captured_virsh_sessions_get_libvirtds_replies() {
    let sessions = [
        "01-version.jsonl",
        "02-hostname.jsonl",
        "04-nodeinfo.jsonl",
        "06-list-all.jsonl",
        "07-dominfo.jsonl",
        "08-domstate.jsonl",
        "09-dumpxml.jsonl",
        "20-net-list.jsonl",
        "21-pool-list.jsonl",
        "23-list.jsonl",
        "31-list-all-readonly.jsonl",
        "35-undefine-missing.jsonl",
    ];
    let mut compared = 0;
    for session in sessions {
        let (_fake, dispatcher) = setup();
        let mut state = ConnectionState::new(0, false);
        let frames = trace(session);
        for (from_client, bytes) in &frames {
            if !from_client {
                continue;
            }
            let message = Message::from_frame(&bytes[4..]).expect("frame");
            let outcome = dispatcher.handle(&mut state, &message).await;
            let ours = outcome.reply.expect("a reply to every call");
            let theirs = frames
                .iter()
                .find(|(from_client, other)| {
                    !from_client && other[4..8] == bytes[4..8] && other[20..24] == bytes[20..24]
                })
                .map(|(_, other)| other.clone())
                .expect("libvirtd replied");
            let proc_ = Procedure::from_number(message.header.proc_);
            // The fake driver has no domain messages (code 3, which virsh ignores); the XML is the fake's.
            if matches!(
                proc_,
                Procedure::DomainGetMessages | Procedure::DomainGetXmlDesc
            ) {
                continue;
            }
            let theirs_msg = Message::from_frame(&theirs[4..]).expect("their reply");
            if theirs_msg.header.status == Status::Error {
                let ours_err = RemoteError::from_bytes(&ours[28..]).expect("our error");
                let theirs_err = RemoteError::from_bytes(&theirs_msg.payload).expect("their error");
                assert_eq!(
                    (ours_err.code, ours_err.domain, &ours_err.message),
                    (theirs_err.code, theirs_err.domain, &theirs_err.message),
                    "{session} {proc_}"
                );
            } else {
                assert_eq!(ours, theirs, "{session} {proc_}");
            }
            compared += 1;
            if message.header.proc_ == 2 {
                assert!(outcome.close);
            }
        }
    }
    assert!(compared > 100, "{compared}");
}

#[tokio::test]
async fn before_authentication_only_auth_procedures_and_keepalive_run() {
    let (_fake, dispatcher) = setup();
    let mut state = ConnectionState::new(virtcim::rpc_wire::auth_type::SASL, false);
    let ping = Message {
        header: Header {
            prog: KEEPALIVE_PROGRAM,
            vers: 1,
            proc_: 1,
            kind: MessageType::Message,
            serial: 0,
            status: Status::Ok,
        },
        payload: vec![],
    };
    let pong = reply(&dispatcher.handle(&mut state, &ping).await);
    assert_eq!(
        (pong.header.prog, pong.header.proc_, pong.header.kind),
        (KEEPALIVE_PROGRAM, 2, MessageType::Message)
    );

    let auth = reply(&dispatcher.handle(&mut state, &call(66, 0, vec![])).await);
    assert_eq!(
        AuthListRet::from_bytes(&auth.payload).unwrap().types.0,
        vec![1]
    );

    for proc_ in [1, 60, 59, 273, 2] {
        let args = if proc_ == 60 {
            IntArgs { value: 10 }.to_bytes()
        } else {
            vec![]
        };
        let err = error_of(&dispatcher.handle(&mut state, &call(proc_, 5, args)).await);
        assert_eq!((err.code, err.domain), (39, 7), "{proc_}");
        assert_eq!(err.message.as_deref(), Some("authentication required"));
    }
    assert!(state.driver.is_none());
}

#[tokio::test]
async fn rpc_rules_answer_as_libvirtd() {
    let (_fake, dispatcher) = setup();
    let mut state = ConnectionState::new(0, false);
    let not_open = "internal error: hypervisor connection not open";
    let unknown_prog = Message {
        header: Header::call(0x1234_5678, 1, 3, 41),
        payload: vec![],
    };
    let wrong_vers = Message {
        header: Header::call(REMOTE_PROGRAM, 2, 3, 42),
        payload: vec![],
    };
    // (message, expected code, domain, text)
    let cases: Vec<(Message, i32, i32, &str)> = vec![
        (call(59, 7, vec![]), 1, 7, not_open),
        (
            call(60, 8, IntArgs { value: 14 }.to_bytes()),
            1,
            7,
            not_open,
        ),
        (call(238, 9, vec![]), 1, 7, not_open),
        (call(444, 10, vec![]), 39, 7, "unknown procedure: 444"),
        (call(9999, 11, vec![]), 39, 7, "unknown procedure: 9999"),
        (call(0, 12, vec![]), 39, 7, "unknown procedure: 0"),
        (
            unknown_prog,
            39,
            7,
            "Cannot find program 305419896 version 1",
        ),
        (wrong_vers, 39, 7, "Cannot find program 536903814 version 2"),
        (
            call(1, 13, vec![0, 0, 0, 3]),
            39,
            7,
            "Unable to decode message payload",
        ),
        (
            call(1, 14, vec![]),
            39,
            7,
            "Unable to decode message payload",
        ),
    ];
    for (message, code, domain, text) in cases {
        let outcome = dispatcher.handle(&mut state, &message).await;
        let header = reply(&outcome).header;
        let want = message.header;
        assert_eq!(
            (
                header.prog,
                header.vers,
                header.proc_,
                header.serial,
                header.kind
            ),
            (
                want.prog,
                want.vers,
                want.proc_,
                want.serial,
                MessageType::Reply
            ),
            "reply echoes the call"
        );
        let err = error_of(&outcome);
        assert_eq!(
            (err.code, err.domain, err.message.as_deref()),
            (code, domain, Some(text))
        );
    }

    // Keepalive feature works before open, and the connection still opens after the errors above.
    let feature = reply(
        &dispatcher
            .handle(&mut state, &call(60, 15, IntArgs { value: 10 }.to_bytes()))
            .await,
    );
    assert_eq!(IntRet::from_bytes(&feature.payload).unwrap().value, 1);
    assert!(state.keepalive);
    open(&dispatcher, &mut state, 0).await;

    let again = ConnectOpenArgs {
        name: Some("test:///default".into()),
        flags: 0,
    };
    let err = error_of(
        &dispatcher
            .handle(&mut state, &call(1, 16, again.to_bytes()))
            .await,
    );
    assert_eq!(
        (err.code, err.message.as_deref()),
        (1, Some("internal error: connection already open"))
    );

    let err = error_of(&dispatcher.handle(&mut state, &call(238, 17, vec![])).await);
    assert_eq!((err.code, err.domain), (3, 20));
    assert_eq!(
        err.message.as_deref(),
        Some("this function is not supported by the connection driver: virDomainGetBlockJobInfo")
    );
    // A body that does not decode after open: error on that serial, the connection goes on.
    let err = error_of(
        &dispatcher
            .handle(&mut state, &call(23, 18, vec![0, 0, 0, 9, 1]))
            .await,
    );
    assert_eq!(
        err.message.as_deref(),
        Some("Unable to decode message payload")
    );
    let ok = reply(&dispatcher.handle(&mut state, &call(3, 19, vec![])).await);
    assert_eq!(ok.header.status, Status::Ok);

    let close = dispatcher.handle(&mut state, &call(2, 20, vec![])).await;
    assert!(close.close);
    assert!(state.driver.is_none());
}

#[tokio::test]
async fn unknown_open_names_get_the_openers_error() {
    let (_fake, dispatcher) = setup();
    let mut state = ConnectionState::new(0, false);
    let args = ConnectOpenArgs {
        name: None,
        flags: 0,
    };
    let err = error_of(
        &dispatcher
            .handle(&mut state, &call(1, 1, args.to_bytes()))
            .await,
    );
    assert_eq!((err.code, err.domain), (5, 0));
    assert_eq!(
        err.message.as_deref(),
        Some("no connection driver available for <null>")
    );
}

/// Candidate argument payloads; the first one a procedure's codec accepts is used.
fn candidate_args() -> Vec<Vec<u8>> {
    let dom = Fake::test_domain().to_bytes();
    let net = NetworkRef {
        name: "default".into(),
        uuid: Uuid::nil(),
    }
    .to_bytes();
    let pool = PoolRef {
        name: "default-pool".into(),
        uuid: Uuid::nil(),
    }
    .to_bytes();
    let vol = virtcim::VolumeRef {
        pool: "p".into(),
        name: "v".into(),
        key: "k".into(),
    }
    .to_bytes();
    let text = "x".to_string().to_bytes();
    let word = 0u32.to_be_bytes().to_vec();
    let hyper = 0u64.to_be_bytes().to_vec();
    let cat = |parts: &[&[u8]]| parts.concat();
    let mut out = vec![vec![]];
    for handle in [&dom, &net, &pool, &vol, &text] {
        out.push(handle.clone());
        out.push(cat(&[handle, &word]));
        out.push(cat(&[handle, &word, &word]));
        out.push(cat(&[handle, &hyper]));
        out.push(cat(&[handle, &hyper, &word]));
        out.push(cat(&[handle, &text]));
        out.push(cat(&[handle, &text, &word]));
        // tunables: PIN_VCPU_FLAGS, SET_BLOCK_IO_TUNE, SET_TIME.
        out.push(cat(&[handle, &word, &word, &word]));
        out.push(cat(&[handle, &text, &word, &word]));
        out.push(cat(&[handle, &hyper, &word, &word]));
        // SET_METADATA: type, three absent strings, flags.
        out.push(cat(&[handle, &word, &word, &word, &word, &word]));
    }
    // STORAGE_VOL_CREATE_XML_FROM: pool, XML, source volume, flags.
    out.push(cat(&[&pool, &text, &vol, &word]));
    out.push(word.clone());
    out.push(cat(&[&word, &word]));
    out.push(vec![0; 16]);
    out.push(cat(&[&word, &word, &word]));
    out
}

/// Walks every procedure number over a read-only connection: nothing that changes state reaches the driver, and
/// every procedure outside the allow-list gets code 29.
#[tokio::test]
async fn read_only_connections_change_nothing() {
    let (fake, dispatcher) = setup();
    let mut state = ConnectionState::new(0, true);
    open(&dispatcher, &mut state, 0).await;
    assert!(state.read_only);
    let candidates = candidate_args();
    let mut denied = 0;
    for number in (0..=450).chain([u32::MAX, i32::MAX as u32, 0x8000_0000]) {
        let proc_ = Procedure::from_number(number);
        if matches!(proc_, Procedure::ConnectClose | Procedure::ConnectOpen) {
            continue;
        }
        let args = candidates
            .iter()
            .find(|args| Call::decode(proc_, args).is_none_or(|r| r.is_ok()))
            .cloned()
            .unwrap_or_default();
        let outcome = dispatcher
            .handle(&mut state, &call(number, number, args))
            .await;
        let message = reply(&outcome);
        if message.header.status == Status::Error {
            let err = RemoteError::from_bytes(&message.payload).unwrap();
            if proc_.api_name().is_none() && !(66..=70).contains(&number) {
                assert_eq!(err.code, 39, "{proc_}: not a client call");
            } else if !virtcim::allowed_read_only(proc_) {
                assert_eq!(err.code, 29, "{proc_}: {:?}", err.message);
                denied += 1;
            }
        } else {
            assert!(
                virtcim::allowed_read_only(proc_),
                "{proc_} succeeded read-only"
            );
        }
    }
    assert!(
        fake.changes.lock().unwrap().is_empty(),
        "{:?}",
        fake.changes.lock().unwrap()
    );
    // Every write procedure is denied; reads leave this set as they are implemented (199 of 450 numbers now).
    assert!(denied > 150, "{denied}");

    // Read-only also refuses the secure XML and names the API.
    let dom = Fake::test_domain().to_bytes();
    let secure = [dom.clone(), 1u32.to_be_bytes().to_vec()].concat();
    let err = error_of(&dispatcher.handle(&mut state, &call(14, 500, secure)).await);
    assert_eq!(
        err.message.as_deref(),
        Some("operation forbidden: virDomainGetXMLDesc with secure flag")
    );
    let err = error_of(
        &dispatcher
            .handle(&mut state, &call(34, 501, dom.clone()))
            .await,
    );
    assert_eq!((err.code, err.domain), (29, 20));
    assert_eq!(
        err.message.as_deref(),
        Some("operation forbidden: read only access prevents virDomainSuspend")
    );
    let plain = [dom, 0u32.to_be_bytes().to_vec()].concat();
    let ok = reply(&dispatcher.handle(&mut state, &call(14, 502, plain)).await);
    assert_eq!(ok.header.status, Status::Ok);
}

#[tokio::test]
async fn open_with_the_read_only_flag_is_read_only() {
    let (fake, dispatcher) = setup();
    let mut state = ConnectionState::new(0, false);
    open(&dispatcher, &mut state, 1).await;
    let define = "<domain/>".to_string().to_bytes();
    let err = error_of(&dispatcher.handle(&mut state, &call(11, 3, define)).await);
    assert_eq!(
        err.message.as_deref(),
        Some("operation forbidden: read only access prevents virDomainDefineXML")
    );
    assert!(fake.changes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn lifecycle_callbacks_turn_driver_events_into_messages() {
    let (fake, dispatcher) = setup();
    let mut state = ConnectionState::new(0, false);
    open(&dispatcher, &mut state, 0).await;
    let args = CallbackRegisterArgs {
        event_id: 0,
        dom: None,
    };
    let mut outcome = dispatcher
        .handle(&mut state, &call(316, 3, args.to_bytes()))
        .await;
    let id = IntRet::from_bytes(&reply(&outcome).payload).unwrap().value;
    let mut events = outcome
        .subscribe
        .take()
        .expect("first registration subscribes");

    let other = CallbackRegisterArgs {
        event_id: 1,
        dom: None,
    };
    let err = error_of(
        &dispatcher
            .handle(&mut state, &call(316, 4, other.to_bytes()))
            .await,
    );
    assert_eq!(err.code, 3);

    fake.events
        .send(DomainEvent {
            domain: Fake::test_domain(),
            event: event::SUSPENDED,
            detail: 0,
            metadata: None,
            device_removed: None,
        })
        .unwrap();
    let received = events.recv().await.unwrap();
    let frames = state.event_frames(&received);
    assert_eq!(frames.len(), 1);
    let message = Message::from_frame(&frames[0][4..]).unwrap();
    assert_eq!(
        (
            message.header.proc_,
            message.header.kind,
            message.header.serial
        ),
        (318, MessageType::Message, 0)
    );
    match Call::decode(Procedure::DomainEventCallbackLifecycle, &message.payload) {
        Some(Ok(Call::DomainEventCallbackLifecycle(msg))) => {
            assert_eq!(
                (msg.callback_id, msg.msg.event, msg.msg.dom.name.as_str()),
                (id, 3, "test")
            );
        }
        other => panic!("{other:?}"),
    }

    let ok = reply(
        &dispatcher
            .handle(&mut state, &call(317, 5, IntArgs { value: id }.to_bytes()))
            .await,
    );
    assert_eq!(ok.header.status, Status::Ok);
    assert!(state.event_frames(&received).is_empty());
    let err = error_of(
        &dispatcher
            .handle(&mut state, &call(317, 6, IntArgs { value: id }.to_bytes()))
            .await,
    );
    assert_eq!(err.code, 8);
}

/// A deterministic stand-in for the fuzz targets on stable: captured client frames with bytes flipped, cut or
/// extended go through framing and dispatch; nothing panics, every well-framed call gets one reply echoing it.
#[tokio::test]
#[allow(clippy::cast_possible_truncation)] // truncating random numbers is the point
async fn mutated_captured_frames_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut replies = 0;
    for session in [
        "07-dominfo.jsonl",
        "10-define.jsonl",
        "17-undefine.jsonl",
        "22-vol-list.jsonl",
    ] {
        for (from_client, bytes) in trace(session) {
            if !from_client {
                continue;
            }
            for round in 0..40 {
                let mut frame = bytes[4..].to_vec();
                let at = (next() as usize) % frame.len();
                match round % 4 {
                    0 => frame[at] ^= 1 << (next() % 8),
                    1 => frame[at] = next() as u8,
                    2 => frame.truncate(at.max(24)),
                    _ => frame.extend(std::iter::repeat_n(next() as u8, at % 9)),
                }
                let (_fake, dispatcher) = setup();
                let mut state = ConnectionState::new(0, round % 3 == 0);
                open(&dispatcher, &mut state, 0).await;
                let Ok(outcome) = dispatcher.handle_frame(&mut state, &frame).await else {
                    continue;
                };
                let Ok(message) = Message::from_frame(&frame) else {
                    continue;
                };
                if message.header.kind == MessageType::Call {
                    let answer = reply(&outcome);
                    assert_eq!(answer.header.serial, message.header.serial);
                    assert_eq!(answer.header.proc_, message.header.proc_);
                    replies += 1;
                }
            }
        }
    }
    assert!(replies > 1000, "{replies}");
}

#[tokio::test]
async fn legacy_registration_gets_plain_lifecycle_messages() {
    let (_fake, dispatcher) = setup();
    let mut state = ConnectionState::new(0, false);
    open(&dispatcher, &mut state, 0).await;
    let register = IntArgs { value: 0 }.to_bytes();
    let outcome = dispatcher
        .handle(&mut state, &call(167, 3, register.clone()))
        .await;
    assert_eq!(reply(&outcome).header.status, Status::Ok);
    assert!(outcome.subscribe.is_some());
    let event = DomainEvent {
        domain: Fake::test_domain(),
        event: event::STOPPED,
        detail: event::STOPPED_DESTROYED,
        metadata: None,
        device_removed: None,
    };
    let frames = state.event_frames(&event);
    assert_eq!(frames.len(), 1);
    let message = Message::from_frame(&frames[0][4..]).unwrap();
    assert_eq!(message.header.proc_, 107);
    let body = virtcim::rpc_wire::LifecycleMsg::from_bytes(&message.payload).unwrap();
    assert_eq!((body.event, body.detail), (5, 1));
    let outcome = dispatcher.handle(&mut state, &call(168, 4, register)).await;
    assert_eq!(reply(&outcome).header.status, Status::Ok);
    assert!(state.event_frames(&event).is_empty());
}

#[tokio::test]
async fn metadata_change_callbacks_get_only_metadata_events() {
    let (_fake, dispatcher) = setup();
    let mut state = ConnectionState::new(0, false);
    open(&dispatcher, &mut state, 0).await;
    let register = |event_id| {
        CallbackRegisterArgs {
            event_id,
            dom: None,
        }
        .to_bytes()
    };
    let outcome = dispatcher
        .handle(&mut state, &call(316, 3, register(23)))
        .await;
    let metadata_id = IntRet::from_bytes(&reply(&outcome).payload).unwrap().value;
    assert!(outcome.subscribe.is_some(), "first registration subscribes");
    let outcome = dispatcher
        .handle(&mut state, &call(316, 4, register(0)))
        .await;
    assert_eq!(reply(&outcome).header.status, Status::Ok);
    // The legacy registration has no metadata message: not supported, as libvirtd answers.
    let err = error_of(
        &dispatcher
            .handle(&mut state, &call(167, 5, IntArgs { value: 23 }.to_bytes()))
            .await,
    );
    assert_eq!(err.code, 3);

    let change =
        DomainEvent::metadata_change(Fake::test_domain(), 2, Some("http://app.example/".into()));
    let frames = state.event_frames(&change);
    assert_eq!(frames.len(), 1, "only the metadata callback hears it");
    let message = Message::from_frame(&frames[0][4..]).unwrap();
    assert_eq!(message.header.proc_, 379);
    let body = virtcim::rpc_wire::CallbackMetadataChangeMsg::from_bytes(&message.payload).unwrap();
    assert_eq!(body.callback_id, metadata_id);
    assert_eq!(body.dom, Fake::test_domain());
    assert_eq!(
        (body.kind, body.nsuri.as_deref()),
        (2, Some("http://app.example/"))
    );
    let lifecycle = DomainEvent {
        domain: Fake::test_domain(),
        event: event::STARTED,
        detail: 0,
        metadata: None,
        device_removed: None,
    };
    let frames = state.event_frames(&lifecycle);
    assert_eq!(frames.len(), 1, "only the lifecycle callback hears it");
    assert_eq!(
        Message::from_frame(&frames[0][4..]).unwrap().header.proc_,
        318
    );
}
