//! Issue 15's benchmark (ignored; not a timed test): EnumerateInstances of every class the server has a provider
//! for, EnumerateInstanceNames of the guests and Associators of the main associations, each against nginx serving
//! the very same response bytes as a static file, in the same run, from the same client (8 keep-alive
//! connections, every response compared byte for byte). In-process over the test driver with
//! `WBEM_BENCH_GUESTS` guests (default 1000): "cached" repeats the request; "uncached" makes a change through
//! the driver before each request (see [`Changer`]) against the same server with answer reuse off, so that no
//! answer is reused and every answer is computed whole; "one guest changed" changes one guest's definition before
//! each request against the same server reusing only what it wrote for unchanged guests ([`Reuse::Pieces`]: their
//! pieces of enumerations and association answers within one guest; no other answer is reused, the changed
//! guest's share and everything that depends on the host is computed again). The changes alone, without
//! requests, are timed first: they bound those two columns for small answers. Each case is also served by a bare hyper server (the same runtime and HTTP stack, no
//! CIM work: this server's ceiling). `WBEM_BENCH_COLUMNS` (default `uncached,one-guest,cached`) picks virtcim's
//! columns; `WBEM_BENCH_ONLY` keeps the cases whose label contains it. A row's columns are measured in turn, in
//! `WBEM_BENCH_ROUNDS` (default 4) slices each of `WBEM_BENCH_SECONDS` in all (see [`interleave`]). With `WBEM_BENCH_TARGET=host:port` it
//! measures an external virtcimd instead (the QEMU run of
//! `bench/wbem.sh`; QEMU answers are never reused, so only "uncached"). Run with `bench/wbem.sh`, or
//! `cargo test --release --test wbem -- bench_nginx --ignored --nocapture --test-threads=1` with nginx installed.
//!
//! nginx serves static files to GET only; a POST gets 405. Its config maps that to the file
//! (`error_page 405 =200 $uri`), so both servers receive the identical POST /cimom request bytes, body included
//! (nginx reads and discards the body, as virtcim reads and parses it), and answer with the identical bytes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::calls_per_second;
use crate::support::wbem::BareServer;

use virtcim::{
    builtin_repository, prelude::*, Config, Daemon, DaemonOptions, HttpLimits, Operations, Reuse,
    TestDriver, WbemServer, TEST_URI,
};

const CLIENTS: usize = 8;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned()
}

// ---------------------------------------------------------------------------------------------------------
// nginx

/// nginx on 127.0.0.1 with a private config in a temp dir, serving one file at /cimom; stopped on drop.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Nginx {
    fn start(workers: usize) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("cimom"), b"").unwrap();
        // A free port: taken and given back (nothing else here binds ephemeral ports on purpose).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display();
        // Debian's stock settings for static files (sendfile, tcp_nopush), keep-alive without a request cap (as
        // virtcim's 10 000 is never reached by one connection here), the CIM response header virtcim sends too.
        let conf = format!(
            "daemon off; master_process on; worker_processes {workers}; user root; pid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_timeout 65;\n\
             keepalive_requests 1000000; client_body_temp_path {d}/body; client_max_body_size 16m;\n\
             types {{ }} default_type 'application/xml; charset=\"utf-8\"';\n\
             server {{ listen 127.0.0.1:{port}; root {d}/www;\n\
             location / {{ error_page 405 =200 $uri; add_header CIMOperation MethodResponse; }} }} }}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .spawn()
            .expect("nginx (apt-get install nginx-light)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, dir, addr }
    }

    /// Serves `body` from now on (written aside and renamed: nginx opens the file per request).
    fn serve(&self, body: &[u8]) {
        let tmp = self.dir.path().join("www/.next");
        std::fs::write(&tmp, body).unwrap();
        std::fs::rename(&tmp, self.dir.path().join("www/cimom")).unwrap();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master we started: it stops its workers and exits.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------------------
// The client

/// One keep-alive HTTP/1.1 connection with reused buffers.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Where reads land (zeroed once): reading straight into `buf` would zero its spare capacity on every read.
    scratch: Box<[u8]>,
}

impl Client {
    fn open(addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(300)))
            .unwrap();
        stream
    }

    fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: Client::open(addr),
            buf: Vec::with_capacity(1 << 20),
            scratch: vec![0; 256 * 1024].into_boxed_slice(),
        }
    }

    fn fill(&mut self) {
        let n = self.stream.read(&mut self.scratch).expect("read");
        assert!(n > 0, "connection closed by the server");
        self.buf.extend_from_slice(&self.scratch[..n]);
    }

    /// Sends `req` and returns the status and body of the response (Content-Length or chunked).
    fn exchange(&mut self, req: &[u8], body: &mut Vec<u8>) -> u16 {
        self.stream.write_all(req).unwrap();
        body.clear();
        self.buf.clear();
        let head_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            self.fill();
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .unwrap()
            .to_owned();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
            while self.buf.len() < head_end + len {
                self.fill();
            }
            body.extend_from_slice(&self.buf[head_end..head_end + len]);
        } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            let mut at = head_end;
            loop {
                let line_end = loop {
                    if let Some(e) = find(&self.buf[at..], b"\r\n") {
                        break at + e;
                    }
                    self.fill();
                };
                let size_text = std::str::from_utf8(&self.buf[at..line_end]).unwrap();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
                let data = line_end + 2;
                while self.buf.len() < data + size + 2 {
                    self.fill();
                }
                body.extend_from_slice(&self.buf[data..data + size]);
                at = data + size + 2;
                if size == 0 {
                    break;
                }
                // Drop what was consumed, so a long body does not keep growing the buffer.
                if at > 4 << 20 {
                    self.buf.drain(..at);
                    at = 0;
                }
            }
        }
        // A server may end a keep-alive connection after some number of requests (virtcim's limit is 10 000):
        // the client opens another, as HTTP clients do.
        if header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) {
            let addr = self.stream.peer_addr().unwrap();
            self.stream = Client::open(addr);
        }
        status
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn body_for(method: &str, namespace: &str, params: &str) -> String {
    let ns: String = namespace
        .split('/')
        .map(|n| format!("<NAMESPACE NAME=\"{n}\"/>"))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"1\" \
         PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL NAME=\"{method}\"><LOCALNAMESPACEPATH>{ns}\
         </LOCALNAMESPACEPATH>{params}</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"
    )
}

fn post(method: &str, namespace: &str, params: &str) -> Vec<u8> {
    let body = body_for(method, namespace, params);
    format!(
        "POST /cimom HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml; charset=\"utf-8\"\r\n\
         CIMOperation: MethodCall\r\nCIMMethod: {method}\r\nCIMObject: {}\r\nContent-Length: {}\r\n\r\n{body}",
        namespace.replace('/', "%2F"),
        body.len()
    )
    .into_bytes()
}

/// One answer from `addr` (for the expected bytes and for instance names).
fn once(addr: SocketAddr, req: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    let status = Client::connect(addr).exchange(req, &mut body);
    assert_eq!(status, 200);
    body
}

/// The change made before each request of the "uncached" runs (against a server whose answer reuse is off, so
/// that concurrent clients cannot share one answer either): a refresh of the test driver's default storage
/// pool. Like every change it bumps the driver's generation, so no answer computed before is reused; it is made in
/// memory and leaves every answer's bytes as they were. The "one guest changed" runs change a guest instead
/// ([`Change::OneGuest`]).
#[derive(Clone)]
struct Changer {
    handle: tokio::runtime::Handle,
    driver: Connection,
    kind: Change,
    /// The guests, for [`Change::OneGuest`], and the next one to change.
    guests: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
}

#[derive(Clone, Copy)]
enum Change {
    /// A refresh of the default pool: a change of the host, not of any guest.
    Pool,
    /// A `<metadata>` element of one guest's definition set anew, the next guest each time: the guest's version
    /// changes (so what was written for it cannot be reused), the answers' bytes do not (the CIM model shows no
    /// metadata). Written to the state dir like every definition change (the bench keeps it in /dev/shm, so the
    /// fsyncs cost no disk wait).
    OneGuest,
}

impl Changer {
    fn change(&self) {
        let driver = self.driver.clone();
        match self.kind {
            Change::Pool => self.handle.block_on(async move {
                let pool = driver.pool_lookup_by_name("default-pool").await.unwrap();
                driver.pool_refresh(&pool, 0).await.unwrap();
            }),
            Change::OneGuest => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                let name = &self.guests[n % self.guests.len()];
                let meta = format!("<bench n='{n}'/>");
                self.handle.block_on(async move {
                    let dom = driver.domain_lookup_by_name(name).await.unwrap();
                    driver
                        .domain_set_metadata(
                            &dom,
                            2,
                            Some(&meta),
                            Some("bench"),
                            Some("http://virtcim.invalid/bench"),
                            0,
                        )
                        .await
                        .unwrap();
                });
            }
        }
    }

    fn with(&self, kind: Change) -> Changer {
        Changer {
            kind,
            ..self.clone()
        }
    }
}

/// Requests per second from `CLIENTS` keep-alive clients for `seconds` (each at least one request); every
/// response must be status 200 with exactly `expected`. With `changer`, each request follows a guest change.
fn measure(
    addr: SocketAddr,
    req: &[u8],
    expected: &Arc<Vec<u8>>,
    seconds: f64,
    changer: Option<&Changer>,
) -> f64 {
    calls_per_second(CLIENTS, Duration::from_secs_f64(seconds), || {
        let req = req.to_vec();
        let expected = Arc::clone(expected);
        let changer = changer.cloned();
        let mut client = Client::connect(addr);
        let mut body = Vec::with_capacity(expected.len());
        move || {
            if let Some(ch) = &changer {
                ch.change();
            }
            let status = client.exchange(&req, &mut body);
            assert_eq!(status, 200);
            assert!(
                body == *expected,
                "response differs ({} bytes, expected {})",
                body.len(),
                expected.len()
            );
        }
    })
}

/// One column of a row: how it is measured, and the rates of its slices.
struct Column<'a> {
    measure: Box<dyn Fn(f64) -> f64 + 'a>,
    rates: Vec<f64>,
}

impl<'a> Column<'a> {
    fn new(measure: impl Fn(f64) -> f64 + 'a) -> Self {
        Column {
            measure: Box::new(measure),
            rates: Vec::new(),
        }
    }

    /// The mean of the slices' rates (the slices are of equal length).
    fn rate(&self) -> f64 {
        self.rates.iter().sum::<f64>() / self.rates.len().max(1) as f64
    }
}

/// Measures every column for `seconds` in all, in `rounds` slices taken in turn, the order rotated each round:
/// the machine's speed drifts over seconds (this VM's by up to 2x), and measured one after the other the
/// columns of a row met different machines. Taken in turn, every column meets the same drift.
fn interleave(columns: &mut [Column<'_>], seconds: f64, rounds: usize) {
    let slice = seconds / rounds as f64;
    let n = columns.len();
    for round in 0..rounds {
        for k in 0..n {
            let column = &mut columns[(k + round) % n];
            let rate = (column.measure)(slice);
            column.rates.push(rate);
        }
    }
}

fn guest_name(n: usize) -> String {
    format!("guest{n:05}")
}

/// A guest as a management tool defines one: a disk, a NIC on the default network, a console, VNC.
fn guest_xml(n: usize) -> String {
    format!(
        "<domain type='test'><name>{}</name><uuid>00000000-0000-4000-8000-{n:012}</uuid>\
         <memory unit='KiB'>1048576</memory><currentMemory unit='KiB'>524288</currentMemory><vcpu>2</vcpu>\
         <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
         <source file='/var/lib/libvirt/images/g{n}.qcow2'/><target dev='vda' bus='virtio'/></disk>\
         <interface type='network'><mac address='52:54:00:{:02x}:{:02x}:{:02x}'/><source network='default'/>\
         <model type='virtio'/></interface><console type='pty'/><graphics type='vnc' port='-1'/>\
         </devices></domain>",
        guest_name(n),
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    )
}

/// The test driver's state with `count` guests (shut off), defined through the driver itself.
fn prepare_guests(state: &Path, count: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let driver = TestDriver::open(&state.join("test")).await.unwrap();
        for n in 0..count {
            driver.domain_define_xml(&guest_xml(n), 0).await.unwrap();
        }
        driver.close().await.unwrap();
    });
}

/// The server under test: where it listens, its operations (for the cache hit count) and, in-process, the
/// guest changer.
struct Server {
    addr: SocketAddr,
    /// The same server with answer reuse off (the external server: the same address).
    uncached: SocketAddr,
    /// The same server reusing only unchanged guests' pieces of enumerations (in-process only).
    pieces: Option<SocketAddr>,
    ops: Option<Arc<Operations>>,
    changer: Option<Changer>,
    classes: Vec<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn start_in_process(guests: usize) -> Server {
    // Memory-backed when the machine has /dev/shm: the one-guest change writes a definition (with fsyncs).
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let state = dir.path().join("state");
    let started = Instant::now();
    prepare_guests(&state, guests);
    println!(
        "BENCH {guests} guests defined in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let config = Config {
        state_dir: state,
        unix_sock_dir: dir.path().join("run"),
        ..Config::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = crate::support::server_runtime();
        let handle = runtime.handle().clone();
        runtime.block_on(async move {
            let mut daemon = Daemon::start(config, DaemonOptions::default())
                .await
                .unwrap();
            let driver = daemon.driver(TEST_URI).unwrap();
            let repo = Arc::new(builtin_repository().unwrap());
            // Two servers over the one driver: the daemon's (answers reused while nothing changed) and one
            // with reuse off for the uncached runs, so that no interleaving of the clients' changes and
            // requests lets one answer serve two requests.
            let mut addrs = Vec::new();
            let mut all_ops = Vec::new();
            for reuse in [Reuse::All, Reuse::Off, Reuse::Pieces] {
                let mut ops = Operations::new(Arc::clone(&repo), driver.clone(), "localhost");
                ops.set_reuse(reuse);
                let ops = Arc::new(ops);
                let server = Arc::new(WbemServer::new(
                    Arc::clone(&ops),
                    None,
                    HttpLimits::default(),
                ));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addrs.push(listener.local_addr().unwrap());
                let shutdown = daemon.shutdown();
                daemon.spawn_service("wbem-http", server.serve_http(listener, shutdown));
                all_ops.push(ops);
            }
            let classes = provided(&all_ops[0]);
            tx.send((addrs, all_ops.remove(0), driver, handle, classes))
                .unwrap();
            daemon.run_until(std::future::pending()).await;
        });
    });
    let (addrs, ops, driver, handle, classes) = rx.recv().unwrap();
    Server {
        addr: addrs[0],
        uncached: addrs[1],
        pieces: Some(addrs[2]),
        ops: Some(ops),
        changer: Some(Changer {
            handle,
            driver,
            kind: Change::Pool,
            guests: Arc::new((0..guests).map(guest_name).collect()),
            next: Arc::new(AtomicUsize::new(0)),
        }),
        classes,
        _dir: Some(dir),
    }
}

fn provided(ops: &Operations) -> Vec<(String, String)> {
    ops.provided_classes()
        .into_iter()
        .map(|(ns, c)| (ns.to_owned(), c.to_owned()))
        .collect()
}

/// The list of provided classes, from a throwaway in-process set of operations (for an external server).
fn provided_classes_offline() -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let driver = TestDriver::open(&dir.path().join("test")).await.unwrap();
        let ops = Operations::new(
            Arc::new(builtin_repository().unwrap()),
            driver.clone().connection(),
            "localhost",
        );
        let out = provided(&ops);
        driver.close().await.unwrap();
        out
    })
}

/// The `<INSTANCENAME ...>...</INSTANCENAME>` of `class` in an EnumerateInstanceNames answer whose text contains
/// `containing` (the first one when empty).
fn instance_name(addr: SocketAddr, class: &str, containing: &str) -> String {
    let req = post(
        "EnumerateInstanceNames",
        "root/virt",
        &format!("<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"{class}\"/></IPARAMVALUE>"),
    );
    let body = String::from_utf8(once(addr, &req)).unwrap();
    body.split("<INSTANCENAME ")
        .skip(1)
        .map(|s| {
            format!(
                "<INSTANCENAME {}",
                &s[..s.find("</INSTANCENAME>").unwrap() + 15]
            )
        })
        .find(|s| s.contains(containing))
        .unwrap_or_else(|| panic!("no {class} instance name containing {containing:?}"))
}

struct Case {
    label: String,
    namespace: String,
    method: &'static str,
    params: String,
}

fn cases(server: &Server, guest: &str) -> Vec<Case> {
    let class_param = |c: &str| {
        format!("<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"{c}\"/></IPARAMVALUE>")
    };
    let mut out = vec![Case {
        label: "EnumerateInstanceNames KVM_ComputerSystem".into(),
        namespace: "root/virt".into(),
        method: "EnumerateInstanceNames",
        params: class_param("KVM_ComputerSystem"),
    }];
    for (ns, class) in &server.classes {
        out.push(Case {
            label: format!("EnumerateInstances {class}"),
            namespace: ns.clone(),
            method: "EnumerateInstances",
            params: class_param(class),
        });
    }
    let cs = instance_name(server.addr, "KVM_ComputerSystem", &format!(">{guest}<"));
    let vssd = instance_name(
        server.addr,
        "KVM_VirtualSystemSettingData",
        &format!(":{guest}<"),
    );
    let host = instance_name(server.addr, "KVM_HostSystem", "");
    let assoc = |label: &str, object: &str, assoc_class: &str| Case {
        label: label.to_owned(),
        namespace: "root/virt".into(),
        method: "Associators",
        params: format!(
            "<IPARAMVALUE NAME=\"ObjectName\">{object}</IPARAMVALUE>\
             <IPARAMVALUE NAME=\"AssocClass\"><CLASSNAME NAME=\"{assoc_class}\"/></IPARAMVALUE>"
        ),
    };
    out.push(assoc(
        "Associators guest CS → VSSD (KVM_SettingsDefineState)",
        &cs,
        "KVM_SettingsDefineState",
    ));
    out.push(assoc(
        "Associators guest CS → devices (KVM_SystemDevice)",
        &cs,
        "KVM_SystemDevice",
    ));
    out.push(assoc(
        "Associators guest VSSD → RASDs (KVM_VirtualSystemSettingDataComponent)",
        &vssd,
        "KVM_VirtualSystemSettingDataComponent",
    ));
    out.push(assoc(
        "Associators host → guests (KVM_HostedDependency)",
        &host,
        "KVM_HostedDependency",
    ));
    out
}

fn count_items(body: &[u8]) -> usize {
    let text = String::from_utf8_lossy(body);
    [
        "<VALUE.NAMEDINSTANCE>",
        "<VALUE.OBJECTWITHPATH>",
        "<INSTANCENAME ",
    ]
    .iter()
    .map(|m| text.matches(m).count())
    .find(|n| *n > 0)
    .unwrap_or(0)
}

#[test]
#[ignore = "benchmark: run explicitly with --release --ignored --nocapture (bench/wbem.sh)"]
fn issue15_vs_nginx() {
    let seconds = env_num("WBEM_BENCH_SECONDS", 2) as f64;
    let external = std::env::var("WBEM_BENCH_TARGET").ok();
    let (server, guests, guest) = match &external {
        Some(target) => {
            let guest =
                std::env::var("WBEM_BENCH_GUEST").expect("WBEM_BENCH_GUEST with the target");
            let addr = target.parse().expect("WBEM_BENCH_TARGET host:port");
            let server = Server {
                addr,
                uncached: addr,
                pieces: None,
                ops: None,
                changer: None,
                classes: provided_classes_offline(),
                _dir: None,
            };
            (server, env_num("WBEM_BENCH_GUESTS", 0), guest)
        }
        None => {
            let guests = usize::try_from(env_num("WBEM_BENCH_GUESTS", 1000)).unwrap();
            (
                start_in_process(guests),
                guests as u64,
                guest_name(guests / 2),
            )
        }
    };
    let only = std::env::var("WBEM_BENCH_ONLY").ok();
    let rounds = usize::try_from(env_num("WBEM_BENCH_ROUNDS", 4))
        .unwrap()
        .max(1);
    // Which of virtcim's columns to measure (nginx and the bare hyper server always are): at 10 000 guests an
    // uncached request of the largest classes takes seconds, and only the cached column has a target there.
    let columns =
        std::env::var("WBEM_BENCH_COLUMNS").unwrap_or_else(|_| "uncached,one-guest,cached".into());
    let column = |name: &str| columns.split(',').any(|c| c.trim() == name);
    let nginx = Nginx::start(2);
    let bare = BareServer::start(bytes::Bytes::new());
    println!(
        "BENCH {} guests, {CLIENTS} keep-alive clients, {seconds} s per measurement, load {}",
        guests,
        loadavg()
    );
    if let Some(changer) = &server.changer {
        for (label, kind) in [
            ("pool refresh", Change::Pool),
            ("one guest", Change::OneGuest),
        ] {
            let changer = changer.with(kind);
            let rate = calls_per_second(CLIENTS, Duration::from_secs(1), || {
                let changer = changer.clone();
                move || changer.change()
            });
            println!("BENCH changes alone ({label}), {CLIENTS} threads: {rate:.0}/s");
        }
    }
    println!("| request | items | response | uncached req/s | one guest changed req/s | cached req/s | nginx req/s | uncached / nginx | one guest changed / nginx | cached / nginx | bare hyper req/s | cached / bare hyper | load |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for case in cases(&server, &guest) {
        if only
            .as_ref()
            .is_some_and(|o| !case.label.contains(o.as_str()))
        {
            continue;
        }
        let req = post(case.method, &case.namespace, &case.params);
        let expected = Arc::new(once(server.addr, &req));
        if String::from_utf8_lossy(&expected).contains("<ERROR") {
            println!(
                "| {} | error: {} |",
                case.label,
                String::from_utf8_lossy(&expected)
            );
            continue;
        }
        nginx.serve(&expected);
        bare.serve(&expected);
        let items = count_items(&expected);
        let hits = |s: &Server| s.ops.as_ref().map_or(0, |o| o.cache_hits());
        let one_guest_changer = server.changer.as_ref().map(|c| c.with(Change::OneGuest));
        let (req, expected, server, one_guest_changer) =
            (&req, &expected, &server, &one_guest_changer);
        // The columns of a row, each a measurement of `slice` seconds; the indices of virtcim's.
        let mut columns: Vec<Column> = Vec::new();
        let (mut uncached, mut one_guest, mut cached) = (None, None, None);
        if column("uncached") {
            uncached = Some(columns.len());
            columns.push(Column::new(move |slice| {
                measure(
                    server.uncached,
                    req,
                    expected,
                    slice,
                    server.changer.as_ref(),
                )
            }));
        }
        if let Some(addr) = server.pieces.filter(|_| column("one-guest")) {
            one_guest = Some(columns.len());
            columns.push(Column::new(move |slice| {
                measure(addr, req, expected, slice, one_guest_changer.as_ref())
            }));
        }
        if server.ops.is_some() && column("cached") {
            cached = Some(columns.len());
            columns.push(Column::new(move |slice| {
                // The other columns' changes came between its slices: one untimed request makes the answer
                // again, so that the slice measures reuse, what this column is for.
                once(server.addr, req);
                measure(server.addr, req, expected, slice, None)
            }));
        }
        columns.push(Column::new(move |slice| {
            measure(nginx.addr, req, expected, slice, None)
        }));
        columns.push(Column::new(move |slice| {
            measure(bare.addr, req, expected, slice, None)
        }));
        let before = hits(server);
        interleave(&mut columns, seconds, rounds);
        let rates: Vec<f64> = columns.iter().map(Column::rate).collect();
        let (theirs, hyper_rate) = (rates[rates.len() - 2], rates[rates.len() - 1]);
        let uncached = uncached.map(|i| rates[i]);
        let one_guest = one_guest.map(|i| rates[i]);
        let cached = cached.map(|i| (rates[i], hits(server) - before));
        let size = if expected.len() >= 1 << 20 {
            format!("{:.1} MB", expected.len() as f64 / 1e6)
        } else {
            format!("{:.1} KB", expected.len() as f64 / 1e3)
        };
        let (cached_text, cached_ratio, bare_ratio) = match cached {
            Some((rate, hit)) => (
                format!("{rate:.1} ({hit} reused)"),
                format!("{:.2}", rate / theirs),
                format!("{:.2}", rate / hyper_rate),
            ),
            None => ("–".into(), "–".into(), "–".into()),
        };
        println!(
            "| {} | {items} | {size} | {} | {} | {cached_text} | {theirs:.1} | {} | {} | {cached_ratio} | {hyper_rate:.1} | {bare_ratio} | {} |",
            case.label,
            uncached.map_or("–".into(), |r| format!("{r:.1}")),
            one_guest.map_or("–".into(), |r| format!("{r:.1}")),
            uncached.map_or("–".into(), |r| format!("{:.2}", r / theirs)),
            one_guest.map_or("–".into(), |r| format!("{:.2}", r / theirs)),
            loadavg()
        );
    }
    drop(nginx);
}
