//! `virtcim-bench`: a load generator speaking libvirt's native RPC with the crate's own codec, and a bare echo
//! server using the same framing (the floor any server can reach on this machine). `bench/run.sh` drives it.
//!
//! Usage:
//!   virtcim-bench echo SOCKET                      answer every call with an empty OK reply, forever
//!   virtcim-bench suite ROUNDS SECS NAME=SOCKET[:PID] ...
//!                                                  alternate the targets round by round, print medians + ratios
//!   virtcim-bench metric open_close SOCKET SECS   one metric against one server: connections/s
//!   virtcim-bench metric list SOCKET DOMAINS CALLS define up to DOMAINS domains, then median list latency (ms)
//! Targets named `echo`, `virtcimd` and `libvirtd` get the ratio lines; the echo target skips the list and memory
//! measurements (it has no domains and its memory means nothing).

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use virtcim::rpc_wire::{
    ConnectOpenArgs, DomainRet, IntArgs, ListAllArgs, ListAllDomainsRet, StringArgs, FRAME_MAX,
    REMOTE_PROGRAM, REMOTE_VERSION,
};
use virtcim::{
    encode_frame, DomainRef, FrameDecoder, Header, Message, MessageType, Procedure, Status, Xdr,
};

type BenchResult<T> = Result<T, String>;

/// How long a client waits for a reply before it calls the server stuck.
const REPLY_TIMEOUT_MS: u16 = 30_000;

/// One blocking connection speaking raw frames.
struct Conn {
    stream: UnixStream,
    decoder: FrameDecoder,
    serial: u32,
    buf: Vec<u8>,
}

impl Conn {
    fn connect(path: &str) -> BenchResult<Self> {
        let stream = UnixStream::connect(path).map_err(|e| format!("connect {path}: {e}"))?;
        Ok(Self {
            stream,
            decoder: FrameDecoder::new(FRAME_MAX),
            serial: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    fn send(&mut self, proc_: Procedure, payload: &[u8]) -> BenchResult<u32> {
        self.serial = self.serial.wrapping_add(1);
        let header = Header::call(REMOTE_PROGRAM, REMOTE_VERSION, proc_.number(), self.serial);
        self.stream
            .write_all(&encode_frame(&header, payload))
            .map_err(|e| format!("write: {e}"))?;
        Ok(self.serial)
    }

    /// The next reply; errors on EOF, timeout, or an error reply.
    fn reply(&mut self) -> BenchResult<Message> {
        loop {
            if let Some(frame) = self.decoder.next_frame().map_err(|e| e.to_string())? {
                let message = Message::from_frame(&frame).map_err(|e| e.to_string())?;
                if message.header.kind != MessageType::Reply {
                    continue; // keepalive or events
                }
                if message.header.status != Status::Ok {
                    return Err(format!("error reply to procedure {}", message.header.proc_));
                }
                return Ok(message);
            }
            self.wait_readable()?;
            let n = self
                .stream
                .read(&mut self.buf)
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.decoder.push(&self.buf[..n]);
        }
    }

    /// Waits for input with poll(2), as libvirt's client does before it reads. A read blocked in the kernel
    /// instead would also be woken (needlessly) each time the server takes a request off the socket.
    fn wait_readable(&self) -> BenchResult<()> {
        let mut fds = [PollFd::new(self.stream.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(REPLY_TIMEOUT_MS)) {
            Ok(0) => Err("no reply in 30 s".into()),
            Ok(_) => Ok(()),
            Err(err) => Err(format!("poll: {err}")),
        }
    }

    fn call(&mut self, proc_: Procedure, payload: &[u8]) -> BenchResult<Message> {
        self.send(proc_, payload)?;
        self.reply()
    }

    /// What python-libvirt does to open: AUTH_LIST, CONNECT_OPEN, two SUPPORTS_FEATURE probes. Not feature 10
    /// (keepalive): these connections never answer PINGs, and the servers would drop idle ones.
    fn open(path: &str) -> BenchResult<Self> {
        let mut conn = Self::connect(path)?;
        conn.call(Procedure::AuthList, &[])?;
        let args = ConnectOpenArgs {
            name: Some("test:///default".into()),
            flags: 0,
        };
        conn.call(Procedure::ConnectOpen, &args.to_bytes())?;
        for feature in [14, 15] {
            conn.call(
                Procedure::ConnectSupportsFeature,
                &IntArgs { value: feature }.to_bytes(),
            )?;
        }
        Ok(conn)
    }

    fn close(mut self) -> BenchResult<()> {
        self.call(Procedure::ConnectClose, &[])?;
        Ok(())
    }

    /// LOOKUP_BY_NAME("test"); against the echo server (empty reply) a fixed reference.
    fn lookup_test(&mut self) -> BenchResult<DomainRef> {
        let args = StringArgs {
            value: "test".into(),
        };
        let reply = self.call(Procedure::DomainLookupByName, &args.to_bytes())?;
        Ok(DomainRet::from_bytes(&reply.payload)
            .map(|ret| ret.dom)
            .unwrap_or_else(|_| DomainRef {
                name: "test".into(),
                uuid: uuid::Uuid::nil(),
                id: 1,
            }))
    }
}

// ---- the echo server ----

fn echo(path: &str) -> BenchResult<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|e| format!("bind {path}: {e}"))?;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || echo_connection(stream));
    }
    Ok(())
}

fn echo_connection(mut stream: UnixStream) {
    let mut decoder = FrameDecoder::new(FRAME_MAX);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        out.clear();
        let mut close = false;
        while let Ok(Some(frame)) = decoder.next_frame() {
            let Ok(header) = Header::decode(&frame) else {
                return;
            };
            if header.kind == MessageType::Call {
                out.extend(encode_frame(&header.reply(Status::Ok), &[]));
                close |= header.prog == REMOTE_PROGRAM
                    && header.proc_ == Procedure::ConnectClose.number();
            }
        }
        if stream.write_all(&out).is_err() || close {
            return;
        }
    }
}

// ---- measurements ----

/// Sequential LOOKUP_BY_NAME + GET_INFO on one connection: RPC/s.
fn sequential(path: &str, secs: f64) -> BenchResult<f64> {
    let mut conn = Conn::open(path)?;
    let start = Instant::now();
    let mut rpcs = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        let dom = conn.lookup_test()?;
        conn.call(Procedure::DomainGetInfo, &dom.to_bytes())?;
        rpcs += 2;
    }
    let rate = rpcs as f64 / start.elapsed().as_secs_f64();
    conn.close()?;
    Ok(rate)
}

/// `depth` GET_INFO calls kept in flight on one connection: RPC/s.
fn in_flight(path: &str, secs: f64, depth: usize) -> BenchResult<f64> {
    let mut conn = Conn::open(path)?;
    let dom = conn.lookup_test()?.to_bytes();
    for _ in 0..depth {
        conn.send(Procedure::DomainGetInfo, &dom)?;
    }
    let start = Instant::now();
    let mut rpcs = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        conn.reply()?;
        rpcs += 1;
        conn.send(Procedure::DomainGetInfo, &dom)?;
    }
    let rate = rpcs as f64 / start.elapsed().as_secs_f64();
    for _ in 0..depth {
        conn.reply()?;
    }
    conn.close()?;
    Ok(rate)
}

/// `clients` connections, each sequential LOOKUP_BY_NAME + GET_INFO: aggregate RPC/s.
fn concurrent(path: &str, secs: f64, clients: usize) -> BenchResult<f64> {
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let path = path.to_string();
            std::thread::spawn(move || -> BenchResult<u64> {
                let mut conn = Conn::open(&path)?;
                let begin = Instant::now();
                let mut rpcs = 0u64;
                while begin.elapsed().as_secs_f64() < secs {
                    let dom = conn.lookup_test()?;
                    conn.call(Procedure::DomainGetInfo, &dom.to_bytes())?;
                    rpcs += 2;
                }
                conn.close()?;
                Ok(rpcs)
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.join().map_err(|_| "worker panicked".to_string())??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Calls per connection in [`open_close`]: the four of [`Conn::open`] and CONNECT_CLOSE.
const OPEN_CLOSE_CALLS: f64 = 5.0;

/// Connect + open (4 RPCs) + CONNECT_CLOSE, one after another: connections per second.
fn open_close(path: &str, secs: f64) -> BenchResult<f64> {
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        Conn::open(path)?.close()?;
        count += 1;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

/// Median latency of CONNECT_LIST_ALL_DOMAINS (ms) and the domain count it returned.
fn list_all(conn: &mut Conn, calls: usize) -> BenchResult<(f64, usize)> {
    let args = ListAllArgs {
        need_results: 1,
        flags: 0,
    }
    .to_bytes();
    let mut times = Vec::new();
    let mut count = 0;
    for _ in 0..calls {
        let start = Instant::now();
        let reply = conn.call(Procedure::ConnectListAllDomains, &args)?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        count = ListAllDomainsRet::from_bytes(&reply.payload)
            .map_err(|e| format!("list reply: {e}"))?
            .domains
            .0
            .len();
    }
    Ok((median(&mut times), count))
}

/// Defines `bench-N` domains until `total` exist beyond the initial one (pipelined, 5 in flight).
fn define_up_to(conn: &mut Conn, from: usize, to: usize) -> BenchResult<()> {
    let mut outstanding = 0;
    for n in from..to {
        let xml = format!(
            "<domain type='test'><name>bench-{n}</name><memory>8192</memory><os><type>hvm</type></os></domain>"
        );
        conn.send(
            Procedure::DomainDefineXml,
            &StringArgs { value: xml }.to_bytes(),
        )?;
        outstanding += 1;
        if outstanding == 5 {
            conn.reply()?;
            outstanding -= 1;
        }
    }
    for _ in 0..outstanding {
        conn.reply()?;
    }
    Ok(())
}

fn rss_kib(pid: u32) -> BenchResult<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS".to_string())
}

/// RSS with `count` idle opened connections minus RSS before, per connection (KiB).
fn idle_connections(path: &str, pid: u32, count: usize) -> BenchResult<(f64, f64)> {
    let before = rss_kib(pid)?;
    let conns = (0..count)
        .map(|_| Conn::open(path))
        .collect::<BenchResult<Vec<_>>>()?;
    std::thread::sleep(Duration::from_millis(500));
    let with = rss_kib(pid)?;
    drop(conns);
    Ok((with, (with - before) / count as f64))
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Target {
    name: String,
    path: String,
    pid: Option<u32>,
}

const RATE_METRICS: [&str; 4] = [
    "seq_rpc_s",
    "inflight5_rpc_s",
    "clients8_rpc_s",
    "open_close_s",
];

fn suite(rounds: usize, secs: f64, targets: &[Target]) -> BenchResult<()> {
    use std::collections::BTreeMap;
    let mut samples: BTreeMap<(String, &str), Vec<f64>> = BTreeMap::new();
    // Idle RSS first, before any load touched the daemons (each keeps one holder connection below).
    let mut holders = Vec::new();
    for target in targets {
        if let (Some(pid), true) = (target.pid, target.name != "echo") {
            samples
                .entry((target.name.clone(), "rss_idle_kib"))
                .or_default()
                .push(rss_kib(pid)?);
        }
        // libvirtd's test:///default lives only while a connection is open: hold one for the whole suite.
        holders.push(Conn::open(&target.path)?);
    }
    for round in 0..rounds {
        for target in targets {
            let path = &target.path;
            let results = [
                sequential(path, secs)?,
                in_flight(path, secs, 5)?,
                concurrent(path, secs, 8)?,
                open_close(path, secs)?,
            ];
            for (metric, value) in RATE_METRICS.iter().zip(results) {
                samples
                    .entry((target.name.clone(), metric))
                    .or_default()
                    .push(value);
            }
            eprintln!(
                "round {} {}: {:?}",
                round + 1,
                target.name,
                results.map(|v| v.round())
            );
        }
    }
    for target in targets.iter().filter(|t| t.name != "echo") {
        if let Some(pid) = target.pid {
            let (with, per) = idle_connections(&target.path, pid, 1000)
                .map_err(|e| format!("{}: 1000 idle connections: {e}", target.name))?;
            samples.insert((target.name.clone(), "rss_1000_idle_kib"), vec![with]);
            samples.insert((target.name.clone(), "per_idle_conn_kib"), vec![per]);
        }
    }
    for (size, calls) in [(1000usize, 20usize), (10000, 10)] {
        for (index, target) in targets.iter().enumerate().filter(|(_, t)| t.name != "echo") {
            let holder = &mut holders[index];
            let existing = list_all(holder, 1)
                .map_err(|e| format!("{}: list: {e}", target.name))?
                .1;
            let started = Instant::now();
            define_up_to(holder, existing.saturating_sub(1), size)
                .map_err(|e| format!("{}: define: {e}", target.name))?;
            eprintln!(
                "{}: defined up to {size} domains in {:.1} s",
                target.name,
                started.elapsed().as_secs_f64()
            );
            let (ms, count) = list_all(holder, calls)?;
            let metric = if size == 1000 {
                "list1000_ms"
            } else {
                "list10000_ms"
            };
            samples.insert((target.name.clone(), metric), vec![ms]);
            eprintln!("{}: {count} domains listed, median {ms:.2} ms", target.name);
        }
    }

    println!(
        "metric                   {:>12}",
        targets
            .iter()
            .map(|t| format!("{:>12}", t.name))
            .collect::<String>()
    );
    let metrics = [
        "seq_rpc_s",
        "inflight5_rpc_s",
        "clients8_rpc_s",
        "open_close_s",
        "list1000_ms",
        "list10000_ms",
        "rss_idle_kib",
        "rss_1000_idle_kib",
        "per_idle_conn_kib",
    ];
    let mut medians: BTreeMap<(String, &str), f64> = BTreeMap::new();
    for metric in metrics {
        let mut line = format!("{metric:<25}");
        for target in targets {
            let value = samples
                .get_mut(&(target.name.clone(), metric))
                .map(|values| median(values))
                .unwrap_or(f64::NAN);
            medians.insert((target.name.clone(), metric), value);
            line.push_str(&format!("{value:>12.1}"));
        }
        println!("{line}");
    }
    let get = |name: &str, metric: &str| {
        medians
            .get(&(name.to_string(), metric))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let ratio = |label: &str, value: f64, target: &str| {
        println!("{label:<44} {value:>8.2}   (target {target})");
    };
    println!();
    ratio(
        "sequential virtcimd / echo",
        get("virtcimd", "seq_rpc_s") / get("echo", "seq_rpc_s"),
        ">= 0.80",
    );
    for metric in ["inflight5_rpc_s", "clients8_rpc_s"] {
        ratio(
            &format!("{metric} virtcimd / libvirtd"),
            get("virtcimd", metric) / get("libvirtd", metric),
            ">= 5",
        );
        ratio(
            &format!("{metric} virtcimd / echo"),
            get("virtcimd", metric) / get("echo", metric),
            ">= 0.50",
        );
    }
    ratio(
        "open_close virtcimd / libvirtd",
        get("virtcimd", "open_close_s") / get("libvirtd", "open_close_s"),
        ">= 5",
    );
    // A connection here is five calls, each a full round trip: at the echo server's sequential round trip (with
    // connection set-up and teardown free) no server can open and close faster than this.
    let round_trip_ceiling = get("echo", "seq_rpc_s") / OPEN_CLOSE_CALLS;
    println!(
        "{:<44} {:>8.0}   (= {:.2} x libvirtd; 5 round trips at echo's sequential rate)",
        "open_close ceiling, connections/s",
        round_trip_ceiling,
        round_trip_ceiling / get("libvirtd", "open_close_s"),
    );
    ratio(
        "list10000 libvirtd ms / virtcimd ms",
        get("libvirtd", "list10000_ms") / get("virtcimd", "list10000_ms"),
        ">= 5",
    );
    ratio(
        "idle RSS virtcimd / libvirtd",
        get("virtcimd", "rss_idle_kib") / get("libvirtd", "rss_idle_kib"),
        "<= 0.50",
    );
    ratio(
        "KiB per idle connection, virtcimd",
        get("virtcimd", "per_idle_conn_kib"),
        "<= 40",
    );
    Ok(())
}

fn parse_target(spec: &str) -> BenchResult<Target> {
    let (name, rest) = spec
        .split_once('=')
        .ok_or_else(|| format!("target {spec:?} is not NAME=SOCKET[:PID]"))?;
    let (path, pid) = match rest.rsplit_once(':') {
        Some((path, pid)) => (
            path,
            Some(pid.parse().map_err(|_| format!("bad pid in {spec:?}"))?),
        ),
        None => (rest, None),
    };
    Ok(Target {
        name: name.to_string(),
        path: path.to_string(),
        pid,
    })
}

fn run(args: &[String]) -> BenchResult<()> {
    match args {
        [mode, path] if mode == "echo" => echo(path),
        [mode, rounds, secs, targets @ ..] if mode == "suite" && !targets.is_empty() => {
            let rounds = rounds.parse().map_err(|_| "ROUNDS is a number".to_string())?;
            let secs = secs.parse().map_err(|_| "SECS is a number".to_string())?;
            let targets = targets
                .iter()
                .map(|t| parse_target(t))
                .collect::<BenchResult<Vec<_>>>()?;
            suite(rounds, secs, &targets)
        }
        [mode, metric, path, secs] if mode == "metric" && metric == "open_close" => {
            let secs = secs.parse().map_err(|_| "SECS is a number".to_string())?;
            println!("{:.0}", open_close(path, secs)?);
            Ok(())
        }
        [mode, metric, path, size, calls] if mode == "metric" && metric == "list" => {
            let size: usize = size.parse().map_err(|_| "DOMAINS is a number".to_string())?;
            let calls = calls.parse().map_err(|_| "CALLS is a number".to_string())?;
            let mut conn = Conn::open(path)?;
            let existing = list_all(&mut conn, 1)?.1;
            define_up_to(&mut conn, existing.saturating_sub(1), size)?;
            let (ms, count) = list_all(&mut conn, calls)?;
            println!("{ms:.2} {count}");
            Ok(())
        }
        _ => Err("usage: virtcim-bench echo SOCKET | virtcim-bench suite ROUNDS SECS NAME=SOCKET[:PID] ... | \
                  virtcim-bench metric open_close SOCKET SECS | virtcim-bench metric list SOCKET DOMAINS CALLS"
            .into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("virtcim-bench: {message}");
            ExitCode::FAILURE
        }
    }
}
