//! The WBEM HTTP layer against bad and slow clients: every framing fault of RELIABILITY.md gets its DSP0200
//! answer (never a 500, never a hang) while a keep-alive canary client keeps being served; Basic auth answers;
//! header, body and stall deadlines; large results streamed with chunked encoding.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::wbem::{enum_names_request, imethod_body, post, read_response, RawResponse};
use virtcim::{
    builtin_repository, BasicAuth, Config, CredentialStore, Daemon, DaemonOptions, HttpLimits,
    Operations, WbemServer, TEST_URI,
};

/// A WBEM server in-process (own runtime thread) over a daemon's test driver.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(limits: HttpLimits, basic_auth: bool, domains: usize) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    crate::support::wbem::prepare_state(&state, domains);
    let creds = dir.path().join("creds.json");
    let mut store = CredentialStore::new();
    store
        .add_user(
            crate::support::wbem::USER,
            crate::support::wbem::PASSWORD,
            &[],
        )
        .unwrap();
    store.save(&creds).unwrap();
    let config = Config {
        state_dir: state,
        unix_sock_dir: dir.path().join("run"),
        ..Config::default()
    };
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        crate::support::server_runtime().block_on(async move {
            let mut daemon = Daemon::start(config, DaemonOptions::default())
                .await
                .unwrap();
            let driver = daemon.driver(TEST_URI).unwrap();
            let ops = Operations::new(Arc::new(builtin_repository().unwrap()), driver, "localhost");
            let auth = basic_auth.then(|| BasicAuth::new(&creds).unwrap());
            let server = Arc::new(WbemServer::new(Arc::new(ops), auth, limits));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let shutdown = daemon.shutdown();
            daemon.spawn_service("wbem-http", server.serve_http(listener, shutdown));
            daemon
                .run_until(async {
                    let _ = stop_rx.await;
                })
                .await;
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    Server {
        addr,
        stop: Some(stop_tx),
        thread: Some(thread),
        _dir: dir,
    }
}

fn test_limits() -> HttpLimits {
    HttpLimits {
        max_body: 64 * 1024,
        header_timeout: Duration::from_secs(2),
        body_grace: Duration::from_secs(1),
        min_body_rate: 64 * 1024,
        stall_timeout: Duration::from_secs(30),
        ..HttpLimits::default()
    }
}

fn exchange(addr: SocketAddr, bytes: &[u8]) -> Option<RawResponse> {
    crate::support::wbem::raw_exchange(addr, bytes, Duration::from_secs(10))
}

/// A keep-alive client that must be served between every bad request.
struct Canary {
    stream: TcpStream,
    served: usize,
}

impl Canary {
    fn new(addr: SocketAddr) -> Canary {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Canary { stream, served: 0 }
    }

    fn check(&mut self, after: &str) {
        self.stream.write_all(&enum_names_request("")).unwrap();
        let resp = read_response(&mut self.stream)
            .unwrap_or_else(|| panic!("canary not served after {after}"));
        assert_eq!(resp.status, 200, "canary after {after}");
        assert!(
            resp.body.contains("INSTANCENAME"),
            "canary body after {after}"
        );
        self.served += 1;
    }
}

fn with_body(headers: &str, body: &str) -> Vec<u8> {
    format!("{headers}\r\n{body}").into_bytes()
}

#[test]
fn bad_requests_get_dsp0200_answers_and_the_canary_is_served() {
    let server = start(test_limits(), false, 2);
    let addr = server.addr;
    let mut canary = Canary::new(addr);
    canary.check("start");
    let names_body = imethod_body(
        "EnumerateInstanceNames",
        "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"KVM_ComputerSystem\"/></IPARAMVALUE>",
    );
    let hdr = |extra: &str, len: usize| {
        format!(
            "POST /cimom HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n{extra}Content-Length: {len}\r\n"
        )
    };
    let ok_headers =
        "CIMOperation: MethodCall\r\nCIMMethod: EnumerateInstanceNames\r\nCIMObject: root/virt\r\n";
    let many_headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let big_header = format!("X-Big: {}\r\n", "a".repeat(100_000));
    let dtd = "<?xml version=\"1.0\"?><!DOCTYPE CIM [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">&x;</CIM>";
    let multireq = names_body
        .replace("<SIMPLEREQ>", "<MULTIREQ><SIMPLEREQ>")
        .replace("</SIMPLEREQ>", "</SIMPLEREQ></MULTIREQ>");
    let cim3 = names_body.replace("CIMVERSION=\"2.0\"", "CIMVERSION=\"3.0\"");
    // (name, request bytes, expected status, expected CIMError header)
    let cases: Vec<(&str, Vec<u8>, u16, Option<&str>)> = vec![
        (
            "GET",
            b"GET /cimom HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            405,
            None,
        ),
        (
            "PUT",
            with_body(
                &hdr(ok_headers, names_body.len()).replace("POST", "PUT"),
                &names_body,
            ),
            405,
            None,
        ),
        (
            "wrong path",
            with_body(
                &hdr(ok_headers, names_body.len()).replace("/cimom", "/other"),
                &names_body,
            ),
            404,
            None,
        ),
        (
            "no CIMOperation",
            with_body(
                &hdr(
                    "CIMMethod: EnumerateInstanceNames\r\nCIMObject: root/virt\r\n",
                    names_body.len(),
                ),
                &names_body,
            ),
            400,
            Some("unsupported-operation"),
        ),
        (
            "CIMOperation MethodResponse",
            with_body(
                &hdr(
                    &ok_headers.replace("MethodCall", "MethodResponse"),
                    names_body.len(),
                ),
                &names_body,
            ),
            400,
            Some("unsupported-operation"),
        ),
        (
            "CIMMethod mismatch",
            with_body(
                &hdr(
                    &ok_headers.replace("CIMMethod: EnumerateInstanceNames", "CIMMethod: GetClass"),
                    names_body.len(),
                ),
                &names_body,
            ),
            400,
            Some("header-mismatch"),
        ),
        (
            "CIMObject mismatch",
            with_body(
                &hdr(
                    &ok_headers.replace("root/virt", "root%2Finterop"),
                    names_body.len(),
                ),
                &names_body,
            ),
            400,
            Some("header-mismatch"),
        ),
        (
            "no CIMMethod",
            with_body(
                &hdr(
                    "CIMOperation: MethodCall\r\nCIMObject: root/virt\r\n",
                    names_body.len(),
                ),
                &names_body,
            ),
            400,
            Some("header-mismatch"),
        ),
        (
            "protocol version 2.0",
            with_body(
                &hdr(
                    &format!("{ok_headers}CIMProtocolVersion: 2.0\r\n"),
                    names_body.len(),
                ),
                &names_body,
            ),
            501,
            Some("unsupported-protocol-version"),
        ),
        (
            "huge Content-Length",
            hdr(ok_headers, 1 << 30)
                .into_bytes()
                .into_iter()
                .chain(b"\r\n".iter().copied())
                .collect(),
            413,
            None,
        ),
        (
            "invalid Content-Length",
            with_body(
                &hdr(ok_headers, 0).replace("Content-Length: 0", "Content-Length: abc"),
                &names_body,
            ),
            400,
            None,
        ),
        (
            "duplicate Content-Length",
            with_body(
                &format!("{}Content-Length: 7\r\n", hdr(ok_headers, names_body.len())),
                &names_body,
            ),
            400,
            None,
        ),
        (
            "unknown Transfer-Encoding",
            with_body(
                &hdr(ok_headers, 0).replace("Content-Length: 0\r\n", "Transfer-Encoding: gzip\r\n"),
                &names_body,
            ),
            400,
            None,
        ),
        (
            "too many header fields",
            with_body(
                &hdr(&format!("{ok_headers}{many_headers}"), names_body.len()),
                &names_body,
            ),
            431,
            None,
        ),
        (
            "oversize header block",
            with_body(
                &hdr(&format!("{ok_headers}{big_header}"), names_body.len()),
                &names_body,
            ),
            431,
            None,
        ),
        (
            "empty body",
            with_body(&hdr(ok_headers, 0), ""),
            400,
            Some("request-not-well-formed"),
        ),
        (
            "not XML",
            with_body(&hdr(ok_headers, 9), "not xml<>"),
            400,
            Some("request-not-well-formed"),
        ),
        (
            "DTD with entity",
            with_body(&hdr(ok_headers, dtd.len()), dtd),
            400,
            Some("request-not-well-formed"),
        ),
        (
            "MULTIREQ",
            with_body(&hdr(ok_headers, multireq.len()), &multireq),
            501,
            Some("multiple-requests-unsupported"),
        ),
        (
            "CIM version 3",
            with_body(&hdr(ok_headers, cim3.len()), &cim3),
            501,
            Some("unsupported-cim-version"),
        ),
        (
            "body over the cap (chunked)",
            {
                let mut req = hdr(ok_headers, 0)
                    .replace("Content-Length: 0\r\n", "Transfer-Encoding: chunked\r\n")
                    .into_bytes();
                req.extend_from_slice(b"\r\n");
                for _ in 0..100 {
                    req.extend_from_slice(
                        format!("{:x}\r\n{}\r\n", 1024, "a".repeat(1024)).as_bytes(),
                    );
                }
                req.extend_from_slice(b"0\r\n\r\n");
                req
            },
            413,
            None,
        ),
    ];
    for (name, bytes, status, cim_error) in cases {
        let resp = exchange(addr, &bytes).unwrap_or_else(|| panic!("{name}: no response"));
        assert_eq!(resp.status, status, "{name}: {resp:?}");
        assert_eq!(resp.header("CIMError"), cim_error, "{name}: {resp:?}");
        canary.check(name);
    }
    // Content-Length together with chunked: served as chunked (RFC 9112) or refused, never a 500 or a hang.
    let mut req = hdr(ok_headers, 5)
        .replace(
            "Content-Length: 5\r\n",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        )
        .into_bytes();
    req.extend_from_slice(
        format!("\r\n{:x}\r\n{names_body}\r\n0\r\n\r\n", names_body.len()).as_bytes(),
    );
    let resp = exchange(addr, &req).expect("CL + chunked: a response");
    assert!(resp.status == 200 || resp.status == 400, "{resp:?}");
    canary.check("Content-Length with chunked");

    // M-POST with the Man extension header and prefixed CIM headers is served.
    let mpost = format!(
        "M-POST /cimom HTTP/1.1\r\nHost: x\r\nMan: http://www.dmtf.org/cim/mapping.http/v1.0 ; ns=73\r\n\
         73-CIMOperation: MethodCall\r\n73-CIMMethod: EnumerateInstanceNames\r\n73-CIMObject: root%2Fvirt\r\n\
         Content-Length: {}\r\n\r\n{names_body}",
        names_body.len()
    );
    let resp = exchange(addr, mpost.as_bytes()).expect("M-POST");
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.header("73-CIMOperation"), Some("MethodResponse"));
    assert!(resp.body.contains("INSTANCENAME"));

    // Too many key bindings: a CIM error (SERVER_LIMITS_EXCEEDED) inside HTTP 200, not an HTTP fault.
    let keys: String = (0..100)
        .map(|i| format!("<KEYBINDING NAME=\"K{i}\"><KEYVALUE>v</KEYVALUE></KEYBINDING>"))
        .collect();
    let body = imethod_body(
        "GetInstance",
        &format!(
            "<IPARAMVALUE NAME=\"InstanceName\"><INSTANCENAME CLASSNAME=\"KVM_ComputerSystem\">{keys}\
             </INSTANCENAME></IPARAMVALUE>"
        ),
    );
    let resp = exchange(addr, &post("GetInstance", &body, "")).unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert!(resp.body.contains("CODE=\"27\""), "{}", resp.body);
    canary.check("too many key bindings");

    // An operation we do not implement: a CIM error inside HTTP 200.
    let body = imethod_body("EnumerateQualifiers", "");
    let resp = exchange(addr, &post("EnumerateQualifiers", &body, "")).unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.body.contains("CODE=\"7\""), "{}", resp.body);
    canary.check("the end");
    assert!(canary.served > 20);
}

#[test]
fn slow_clients_hit_the_deadlines() {
    let limits = HttpLimits {
        stall_timeout: Duration::from_secs(2),
        ..test_limits()
    };
    let server = start(limits, false, 0);
    let addr = server.addr;
    let closed_within = |stream: &mut TcpStream, limit: Duration| {
        stream.set_read_timeout(Some(limit)).unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        // EOF (or a reset) must come before our read timeout.
        let result = stream.read_to_end(&mut buf);
        assert!(
            result.is_ok() || started.elapsed() < limit,
            "not closed within {limit:?}"
        );
        assert!(started.elapsed() < limit, "not closed within {limit:?}");
        String::from_utf8_lossy(&buf).into_owned()
    };
    // Header block never finished: closed after the header deadline (2 s) even though bytes keep trickling.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /cimom HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(500));
        let _ = s.write_all(b"X-Slow: 1\r\n");
    }
    let text = closed_within(&mut s, Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );

    // Body announced but not sent: 408 after the body deadline.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(
        b"POST /cimom HTTP/1.1\r\nHost: x\r\nCIMOperation: MethodCall\r\nCIMMethod: GetClass\r\n\
          CIMObject: root/virt\r\nContent-Length: 1000\r\n\r\n<?xml",
    )
    .unwrap();
    let text = closed_within(&mut s, Duration::from_secs(10));
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");

    // An idle keep-alive connection is closed after the stall timeout.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&enum_names_request("")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(read_response(&mut s).unwrap().status, 200);
    closed_within(&mut s, Duration::from_secs(10));

    // The server still answers.
    let resp = exchange(addr, &enum_names_request("")).unwrap();
    assert_eq!(resp.status, 200);
}

#[test]
fn large_results_are_streamed_chunked() {
    let server = start(test_limits(), false, 400);
    // A large result computed whole is streamed as it is written.
    let body = imethod_body(
        "EnumerateInstances",
        "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"KVM_ElementCapabilities\"/></IPARAMVALUE>",
    );
    let resp = exchange(server.addr, &post("EnumerateInstances", &body, "")).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Transfer-Encoding"), Some("chunked"));
    // One per guest and one per host-side element.
    assert!(resp.body.matches("<VALUE.NAMEDINSTANCE>").count() > 401);
    assert!(
        resp.body.ends_with("</CIM>"),
        "{}",
        &resp.body[resp.body.len() - 100..]
    );
    // One put together from the guests' written pieces is all in memory: it goes with its length.
    let body = imethod_body(
        "EnumerateInstances",
        "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"KVM_ComputerSystem\"/></IPARAMVALUE>",
    );
    let resp = exchange(server.addr, &post("EnumerateInstances", &body, "")).unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.header("Content-Length").is_some());
    assert_eq!(resp.body.matches("<VALUE.NAMEDINSTANCE>").count(), 401);
    assert!(resp.body.ends_with("</CIM>"));
    // Small results carry a Content-Length.
    let body = imethod_body(
        "GetClass",
        "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"KVM_ComputerSystem\"/></IPARAMVALUE>",
    );
    let resp = exchange(server.addr, &post("GetClass", &body, "")).unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.header("Content-Length").is_some());
}

#[test]
fn basic_auth_answers() {
    let server = start(test_limits(), true, 0);
    let addr = server.addr;
    let auth = |user: &str, password: &str| {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Authorization: Basic {token}\r\n")
    };
    let resp = exchange(addr, &enum_names_request("")).unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(
        resp.header("WWW-Authenticate"),
        Some("Basic realm=\"cimom\"")
    );
    let resp = exchange(
        addr,
        &enum_names_request(&auth(
            crate::support::wbem::USER,
            crate::support::wbem::PASSWORD,
        )),
    )
    .unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    let resp = exchange(
        addr,
        &enum_names_request("Authorization: Basic !!!notbase64\r\n"),
    )
    .unwrap();
    assert_eq!(resp.status, 400);
    let resp = exchange(
        addr,
        &enum_names_request("Authorization: Negotiate abc\r\n"),
    )
    .unwrap();
    assert_eq!(resp.status, 401);
    // Failures from one source are slowed down more and more.
    let mut times = Vec::new();
    for _ in 0..4 {
        let started = Instant::now();
        let resp = exchange(
            addr,
            &enum_names_request(&auth(crate::support::wbem::USER, "wrong")),
        )
        .unwrap();
        assert_eq!(resp.status, 401);
        times.push(started.elapsed());
    }
    assert!(
        times[3] > times[0] && times[3] >= Duration::from_millis(1500),
        "{times:?}"
    );
    let resp = exchange(addr, &enum_names_request(&auth("nobody", "x"))).unwrap();
    assert_eq!(resp.status, 401);
    // The right password still works (and resets the count).
    let resp = exchange(
        addr,
        &enum_names_request(&auth(
            crate::support::wbem::USER,
            crate::support::wbem::PASSWORD,
        )),
    )
    .unwrap();
    assert_eq!(resp.status, 200);
}

#[test]
fn keep_alive_connections_end_after_the_request_limit() {
    let limits = HttpLimits {
        max_requests_per_connection: 3,
        ..test_limits()
    };
    let server = start(limits, false, 0);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for i in 1..=3 {
        s.write_all(&enum_names_request("")).unwrap();
        let resp = read_response(&mut s).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.header("Connection") == Some("close"),
            i == 3,
            "request {i}"
        );
    }
    let mut rest = Vec::new();
    assert_eq!(
        s.read_to_end(&mut rest).unwrap_or(0),
        0,
        "closed after the limit"
    );
}

/// RELIABILITY.md: 10k WBEM requests from 200 keep-alive clients, zero errors.
#[test]
fn ten_thousand_requests_from_200_keep_alive_clients() {
    let server = start(test_limits(), false, 2);
    let addr = server.addr;
    let threads: Vec<_> = (0..200)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                let req = enum_names_request("");
                for _ in 0..50 {
                    s.write_all(&req).expect("write");
                    let resp = read_response(&mut s).expect("response");
                    assert_eq!(resp.status, 200);
                    assert_eq!(resp.body.matches("<INSTANCENAME ").count(), 3);
                }
            })
        })
        .collect();
    let mut failures = 0;
    for t in threads {
        if t.join().is_err() {
            failures += 1;
        }
    }
    assert_eq!(failures, 0, "clients with errors");
}

#[test]
fn get_property_and_class_level_method_calls() {
    let server = start(test_limits(), false, 0);
    let name = "<INSTANCENAME CLASSNAME=\"KVM_ComputerSystem\"><KEYBINDING NAME=\"CreationClassName\">\
                <KEYVALUE VALUETYPE=\"string\">KVM_ComputerSystem</KEYVALUE></KEYBINDING><KEYBINDING \
                NAME=\"Name\"><KEYVALUE VALUETYPE=\"string\">test</KEYVALUE></KEYBINDING></INSTANCENAME>";
    let body = imethod_body(
        "GetProperty",
        &format!(
            "<IPARAMVALUE NAME=\"InstanceName\">{name}</IPARAMVALUE>\
             <IPARAMVALUE NAME=\"PropertyName\"><VALUE>EnabledState</VALUE></IPARAMVALUE>"
        ),
    );
    let resp = exchange(server.addr, &post("GetProperty", &body, "")).unwrap();
    assert_eq!(resp.status, 200);
    assert!(
        resp.body
            .contains("<IRETURNVALUE><VALUE>2</VALUE></IRETURNVALUE>"),
        "{}",
        resp.body
    );
    let body = body.replace("EnabledState", "NoSuchProperty");
    let resp = exchange(server.addr, &post("GetProperty", &body, "")).unwrap();
    assert!(resp.body.contains("CODE=\"12\""), "{}", resp.body);

    // An extrinsic call on a class path (cimtest style) reaches the provider, which wants an instance.
    let call = "<?xml version=\"1.0\" encoding=\"utf-8\" ?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\
                <MESSAGE ID=\"7\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><METHODCALL NAME=\"RequestStateChange\">\
                <LOCALCLASSPATH><LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/><NAMESPACE NAME=\"virt\"/>\
                </LOCALNAMESPACEPATH><CLASSNAME NAME=\"KVM_ComputerSystem\"/></LOCALCLASSPATH>\
                <PARAMVALUE NAME=\"RequestedState\"><VALUE>2</VALUE></PARAMVALUE></METHODCALL></SIMPLEREQ>\
                </MESSAGE></CIM>";
    let req = format!(
        "POST /cimom HTTP/1.1\r\nHost: x\r\nCIMOperation: MethodCall\r\nCIMMethod: RequestStateChange\r\n\
         CIMObject: root%2Fvirt%3AKVM_ComputerSystem\r\nContent-Length: {}\r\n\r\n{call}",
        call.len()
    );
    let resp = exchange(server.addr, req.as_bytes()).unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert!(
        resp.body
            .contains("<METHODRESPONSE NAME=\"RequestStateChange\"><ERROR CODE=\"4\""),
        "{}",
        resp.body
    );
}

#[test]
fn a_keep_alive_connection_outlives_the_header_deadline_between_requests() {
    // The header deadline (2 s here) is for a head that has begun; a client that sends its next request on
    // the same connection later than that, but within the stall timeout, is answered there.
    let server = start(test_limits(), false, 0);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for round in 0..2 {
        s.write_all(&enum_names_request("")).unwrap();
        let resp = read_response(&mut s).unwrap_or_else(|| panic!("request {round}: no answer"));
        assert_eq!(resp.status, 200);
        std::thread::sleep(Duration::from_secs(3));
    }
}
