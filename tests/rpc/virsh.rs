//! Peer test: stock virsh drives the real test driver through our RPC server (TCP, and the read-only unix socket).
//! Skipped when virsh is not installed.

use crate::support::virsh::{have_virsh, ok, virsh};

use std::sync::Arc;

use async_trait::async_trait;
use tokio::net::TcpListener;
use virtcim::{
    prelude::*, DriverOpener, Error, ErrorCode, ErrorDomain, Result, RpcServer, ServerConfig,
    TestDriver,
};

/// Serves `test:///default` from one shared test driver, as libvirtd shares its test connection.
struct Opener(Connection);

#[async_trait]
impl DriverOpener for Opener {
    async fn open(&self, name: Option<&str>, _read_only: bool) -> Result<Connection> {
        match name {
            Some("test:///default") => Ok(self.0.clone()),
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

fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .map(|rest| rest.trim_start_matches(':').trim())
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

const DEMO: &str = "<domain type='test'><name>demo</name><memory unit='KiB'>131072</memory>\
<vcpu>1</vcpu><os><type>hvm</type></os></domain>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virsh_session_against_the_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The daemon's opener: URIs resolved by `connect`, one shared driver per URI.
    let options = virtcim::ConnectOptions {
        state_dir: Some(dir.path().to_path_buf()),
        read_only: false,
    };
    let opener = virtcim::Registry::new(options);
    let server = RpcServer::new(Arc::new(opener), ServerConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!(
        "test+tcp://127.0.0.1:{}/default",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(server.clone().serve_tcp(listener));
    let ro_path = dir.path().join("libvirt-sock-ro");
    tokio::spawn(server.serve_unix(RpcServer::bind_unix(&ro_path).unwrap(), true));
    let ro_uri = format!("test+unix:///default?socket={}", ro_path.display());

    let version = ok(&uri, &["version"]).await;
    assert!(version.contains("Running hypervisor: TEST"), "{version}");
    let list = ok(&uri, &["list", "--all"]).await;
    assert!(
        list.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "test", "running"]),
        "{list}"
    );

    let info = ok(&uri, &["dominfo", "test"]).await;
    assert_eq!(field(&info, "State"), "running");
    assert_eq!(field(&info, "Persistent"), "yes");

    let xml_file = dir.path().join("demo.xml");
    std::fs::write(&xml_file, DEMO).unwrap();
    let defined = ok(&uri, &["define", xml_file.to_str().unwrap()]).await;
    assert!(defined.contains("Domain 'demo' defined"), "{defined}");
    ok(&uri, &["start", "demo"]).await;
    assert_eq!(ok(&uri, &["domstate", "demo"]).await.trim(), "running");
    ok(&uri, &["suspend", "demo"]).await;
    assert_eq!(ok(&uri, &["domstate", "demo"]).await.trim(), "paused");
    ok(&uri, &["resume", "demo"]).await;
    let xml = ok(&uri, &["dumpxml", "demo"]).await;
    assert!(xml.contains("<name>demo</name>"), "{xml}");

    // Read-only socket: reads work, changes are refused by the server with libvirt's words.
    let ro_list = ok(&ro_uri, &["list", "--all"]).await;
    assert!(ro_list.contains("demo"), "{ro_list}");
    let (success, _, stderr) = virsh(&ro_uri, &["destroy", "demo"]).await;
    assert!(!success);
    assert!(
        stderr.contains("read only access prevents virDomainDestroy"),
        "{stderr}"
    );

    ok(&uri, &["destroy", "demo"]).await;
    assert_eq!(ok(&uri, &["domstate", "demo"]).await.trim(), "shut off");
    let undefined = ok(&uri, &["undefine", "demo"]).await;
    assert!(
        undefined.contains("Domain 'demo' has been undefined"),
        "{undefined}"
    );
    let (success, _, stderr) = virsh(&uri, &["dominfo", "demo"]).await;
    assert!(
        !success && stderr.contains("failed to get domain 'demo'"),
        "{stderr}"
    );

    let nets = ok(&uri, &["net-list", "--all"]).await;
    assert!(nets.contains("default"), "{nets}");
    let pools = ok(&uri, &["pool-list", "--all"]).await;
    assert!(pools.contains("default-pool"), "{pools}");
    ok(&uri, &["vol-list", "default-pool"]).await;
    let jobinfo = virsh(&uri, &["domjobinfo", "test"]).await;
    assert!(
        jobinfo.2.contains("not supported") || jobinfo.0,
        "domjobinfo falls back on code 3: {jobinfo:?}"
    );
}

const EVENTS_SCRIPT: &str = r#"
import sys, threading, libvirt
libvirt.virEventRegisterDefaultImpl()
seen = []
def lifecycle(conn, dom, event, detail, opaque):
    seen.append((dom.name(), event, detail))
conn = libvirt.open(sys.argv[1])
cb = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle, None)
dom = conn.lookupByName("test")
dom.suspend()
dom.resume()
for _ in range(200):
    if len(seen) >= 2:
        break
    libvirt.virEventRunDefaultImpl()
conn.domainEventDeregisterAny(cb)
conn.close()
print(seen)
"#;

/// libvirt-python registers a lifecycle callback and receives the events of its own suspend/resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_receives_lifecycle_events() {
    let Some(python) = crate::support::python::libvirt_python() else {
        eprintln!("python3-libvirt not installed, skipping");
        return;
    };
    let python = python.as_path();
    let dir = tempfile::tempdir().unwrap();
    let driver: Connection = TestDriver::open(&dir.path().join("test"))
        .await
        .unwrap()
        .connection();
    let server = RpcServer::new(Arc::new(Opener(driver)), ServerConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!(
        "test+tcp://127.0.0.1:{}/default",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(server.serve_tcp(listener));
    let output = tokio::process::Command::new(python)
        .args(["-c", EVENTS_SCRIPT, &uri])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    // SUSPENDED (3) / PAUSED (0), then RESUMED (4) / UNPAUSED (0).
    assert_eq!(
        stdout.trim(),
        "[('test', 3, 0), ('test', 4, 0)]",
        "{stderr}"
    );
}

/// Not a check: runs the research benchmark (`bench.py`, path in `$VIRTCIM_BENCH_PY`) against our server and
/// prints its JSON lines. `cargo test --test rpc -- virsh::bench --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_python_against_the_test_driver() {
    let Some(bench) = std::env::var_os("VIRTCIM_BENCH_PY") else {
        eprintln!("set VIRTCIM_BENCH_PY to research/libvirt-wire/bench/bench.py");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let driver: Connection = TestDriver::open(&dir.path().join("test"))
        .await
        .unwrap()
        .connection();
    let server = RpcServer::new(Arc::new(Opener(driver)), ServerConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!(
        "test+tcp://127.0.0.1:{}/default",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(server.serve_tcp(listener));
    for args in [
        vec!["connect", &uri, "200"],
        vec!["calls", &uri, "5000"],
        vec!["parallel", &uri, "1000", "4"],
    ] {
        let output = tokio::process::Command::new("/usr/bin/python3")
            .arg(&bench)
            .args(&args)
            .output()
            .await
            .unwrap();
        println!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
