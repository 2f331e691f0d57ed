//! Peer tests of the RPC service through every local transport: stock virsh and python3-libvirt (scripts in
//! `tests/peers/`) against an in-test server over the unix socket, the read-only unix socket and TCP; plus our own
//! CLI through the remote driver. Each peer is skipped with a note when it is not installed.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::support::python::libvirt_python;
use crate::support::virsh::have_virsh;

fn peer_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

async fn run(command: &mut Command) -> Output {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        command.env("LIBVIRT_AUTOSTART", "0").output(),
    )
    .await
    .expect("peer finished in time")
    .expect("peer runs");
    Output {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn virsh(uri: &str, args: &[&str]) -> Output {
    run(Command::new("virsh").arg("-c").arg(uri).args(args)).await
}

/// virsh must succeed with nothing on stderr; returns stdout.
async fn virsh_ok(uri: &str, args: &[&str]) -> String {
    let out = virsh(uri, args).await;
    assert!(
        out.success,
        "virsh -c {uri} {args:?} failed:\n{}{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr.trim().is_empty(),
        "virsh {args:?}: {}",
        out.stderr
    );
    out.stdout
}

/// The value of `Key:   value` in virsh's two-column output.
fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim_start().strip_prefix(':'))
        .map(|value| value.trim().to_string())
        .unwrap_or_else(|| panic!("no '{key}' in:\n{text}"))
}

/// Rows of a virsh table, split on whitespace, without the header and rule.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(2)
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn demo_xml(name: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><memory unit='KiB'>131072</memory>\
         <vcpu>1</vcpu><os><type>hvm</type></os></domain>"
    )
}

/// The read-write virsh session every transport must carry identically.
async fn virsh_session(uri: &str, dir: &std::path::Path) {
    let version = virsh_ok(uri, &["version"]).await;
    assert!(version.contains("Running hypervisor: TEST"), "{version}");
    assert!(!virsh_ok(uri, &["hostname"]).await.trim().is_empty());
    let node = virsh_ok(uri, &["nodeinfo"]).await;
    assert_eq!(field(&node, "CPU(s)"), "16");
    assert!(virsh_ok(uri, &["capabilities"])
        .await
        .contains("<capabilities>"));
    assert_eq!(
        rows(&virsh_ok(uri, &["list", "--all"]).await),
        [["1", "test", "running"]]
    );
    let info = virsh_ok(uri, &["dominfo", "test"]).await;
    assert_eq!(field(&info, "State"), "running");
    assert_eq!(field(&info, "Security model"), "testSecurity");

    let xml = dir.join("demo.xml");
    std::fs::write(&xml, demo_xml("demo")).unwrap();
    let xml = xml.to_str().unwrap();
    assert!(virsh_ok(uri, &["define", xml])
        .await
        .contains("Domain 'demo' defined"));
    assert!(virsh_ok(uri, &["start", "demo"])
        .await
        .contains("Domain 'demo' started"));
    let id = virsh_ok(uri, &["domid", "demo"]).await;
    assert!(id.trim().parse::<i32>().unwrap() > 1, "{id}");
    virsh_ok(uri, &["suspend", "demo"]).await;
    assert_eq!(virsh_ok(uri, &["domstate", "demo"]).await.trim(), "paused");
    virsh_ok(uri, &["resume", "demo"]).await;
    virsh_ok(uri, &["shutdown", "demo"]).await;
    assert_eq!(
        virsh_ok(uri, &["domstate", "demo"]).await.trim(),
        "shut off"
    );
    virsh_ok(uri, &["start", "demo"]).await;
    virsh_ok(uri, &["destroy", "demo"]).await;
    assert!(virsh_ok(uri, &["dumpxml", "demo"])
        .await
        .contains("<name>demo</name>"));
    assert!(virsh_ok(uri, &["undefine", "demo"])
        .await
        .contains("Domain 'demo' has been undefined"));
    let missing = virsh(uri, &["dominfo", "demo"]).await;
    assert!(!missing.success);
    assert!(
        missing.stderr.contains("failed to get domain 'demo'"),
        "{}",
        missing.stderr
    );

    assert_eq!(
        rows(&virsh_ok(uri, &["net-list", "--all"]).await),
        [["default", "active", "no", "yes"]]
    );
    let net = virsh_ok(uri, &["net-info", "default"]).await;
    assert_eq!(field(&net, "Bridge"), "virbr0");
    assert!(virsh_ok(uri, &["net-dumpxml", "default"])
        .await
        .contains("<name>default</name>"));
    let net_xml = dir.join("net.xml");
    std::fs::write(
        &net_xml,
        "<network><name>peer</name><bridge name='virbr7'/>\
         <ip address='192.168.177.1' netmask='255.255.255.0'/></network>",
    )
    .unwrap();
    virsh_ok(uri, &["net-define", net_xml.to_str().unwrap()]).await;
    virsh_ok(uri, &["net-start", "peer"]).await;
    virsh_ok(uri, &["net-destroy", "peer"]).await;
    virsh_ok(uri, &["net-undefine", "peer"]).await;

    let pools = rows(&virsh_ok(uri, &["pool-list", "--all"]).await);
    assert_eq!(pools, [["default-pool", "active", "no"]]);
    let pool = virsh_ok(uri, &["pool-info", "default-pool"]).await;
    assert_eq!(field(&pool, "State"), "running");
    assert!(virsh_ok(uri, &["pool-dumpxml", "default-pool"])
        .await
        .contains("<name>default-pool</name>"));
    virsh_ok(uri, &["vol-create-as", "default-pool", "peer.img", "2M"]).await;
    let vols = rows(&virsh_ok(uri, &["vol-list", "default-pool"]).await);
    assert!(vols.iter().any(|row| row[0] == "peer.img"), "{vols:?}");
    let vol = virsh_ok(uri, &["vol-info", "--pool", "default-pool", "peer.img"]).await;
    assert_eq!(field(&vol, "Capacity"), "2.00 MiB");
    virsh_ok(uri, &["vol-delete", "--pool", "default-pool", "peer.img"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virsh_over_unix_tcp_and_the_read_only_socket() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let unix = crate::support::server::Server::start().await;
    virsh_session(&unix.unix_uri, unix.dir.path()).await;
    let tcp = crate::support::server::Server::start().await;
    virsh_session(&tcp.tcp_uri, tcp.dir.path()).await;

    // Read-only socket: reads pass, changes are refused by the server in libvirt's words.
    let ro = &unix.ro_uri;
    assert_eq!(
        rows(&virsh_ok(ro, &["list", "--all"]).await),
        [["1", "test", "running"]]
    );
    assert_eq!(
        field(&virsh_ok(ro, &["dominfo", "test"]).await, "State"),
        "running"
    );
    let refused = virsh(ro, &["suspend", "test"]).await;
    assert!(!refused.success);
    assert!(
        refused
            .stderr
            .contains("operation forbidden: read only access prevents virDomainSuspend"),
        "{}",
        refused.stderr
    );
    // `virsh -r` refuses locally, before any RPC, with the same words.
    let local = virsh(&unix.unix_uri, &["-r", "suspend", "test"]).await;
    assert!(!local.success);
    assert!(
        local
            .stderr
            .contains("read only access prevents virDomainSuspend"),
        "{}",
        local.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virsh_event_loop_receives_lifecycle_events() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let server = crate::support::server::Server::start().await;
    let listener = Command::new("virsh")
        .args([
            "-c",
            &server.tcp_uri,
            "event",
            "--event",
            "lifecycle",
            "--loop",
            "--timeout",
            "6",
        ])
        .env("LIBVIRT_AUTOSTART", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("virsh event");
    // virsh prints nothing until an event arrives; give it time to register.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let options = virtcim::ConnectOptions::default();
    let driver = virtcim::connect(&server.unix_uri, &options).await.unwrap();
    let dom = driver.domain_lookup_by_name("test").await.unwrap();
    driver.domain_suspend(&dom).await.unwrap();
    driver.domain_resume(&dom).await.unwrap();
    let output = tokio::time::timeout(Duration::from_secs(20), listener.wait_with_output())
        .await
        .expect("virsh event ends at its timeout")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("event 'lifecycle' for domain 'test': Suspended Paused"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("event 'lifecycle' for domain 'test': Resumed Unpaused"),
        "{stdout}"
    );
}

/// `key: value` lines printed by a peer script.
fn lines(stdout: &str) -> std::collections::BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_libvirt_over_unix_tcp_and_the_read_only_socket() {
    let Some(python) = libvirt_python() else {
        eprintln!("python3-libvirt not installed, skipping");
        return;
    };
    let script = peer_script("remote_session.py");
    let unix = crate::support::server::Server::start().await;
    let tcp = crate::support::server::Server::start().await;
    for uri in [&unix.unix_uri, &tcp.tcp_uri] {
        let out = run(Command::new(&python).arg(&script).arg(uri)).await;
        assert!(out.success, "{uri}:\n{}{}", out.stdout, out.stderr);
        let seen = lines(&out.stdout);
        let expect = [
            ("type", "TEST"),
            ("hostname set", "True"),
            ("nodeinfo cpus", "16"),
            ("domains", "test"),
            ("test state", "1"),
            ("test info memory", "8388608"),
            ("test uuid", "6695eb01-f6a4-8304-79aa-97f2502e193f"),
            ("lookup nosuch", "error 42 12 Domain not found"),
            ("networks", "default"),
            ("network bridge", "virbr0"),
            ("network active", "1"),
            ("pools", "default-pool"),
            ("pool state", "2"),
            ("defined", "pydemo"),
            ("create", "ok"),
            ("running id positive", "True"),
            ("paused state", "3"),
            (
                "suspend twice",
                "error 1 12 internal error: domain 'pydemo' not running",
            ),
            ("stopped state", "5"),
            ("undefine", "ok"),
            ("volume", "py.img"),
            ("volume capacity", "4194304"),
            ("volumes", "py.img"),
            ("volume delete", "ok"),
            ("closed", "ok"),
        ];
        for (key, value) in expect {
            assert_eq!(
                seen.get(key).map(String::as_str),
                Some(value),
                "{uri} {key}:\n{}",
                out.stdout
            );
        }
    }
    let out = run(Command::new(&python)
        .arg(&script)
        .arg(&unix.ro_uri)
        .arg("ro"))
    .await;
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    let seen = lines(&out.stdout);
    assert_eq!(seen.get("domains").map(String::as_str), Some("test"));
    assert_eq!(
        seen.get("suspend").map(String::as_str),
        Some("error 29 20 operation forbidden: read only access prevents virDomainSuspend")
    );
    assert_eq!(
        seen.get("define").map(String::as_str),
        Some("error 29 20 operation forbidden: read only access prevents virDomainDefineXML")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_libvirt_receives_lifecycle_events() {
    let Some(python) = libvirt_python() else {
        eprintln!("python3-libvirt not installed, skipping");
        return;
    };
    let server = crate::support::server::Server::start().await;
    for uri in [&server.unix_uri, &server.tcp_uri] {
        let out = run(Command::new(&python)
            .arg(peer_script("remote_events.py"))
            .arg(uri))
        .await;
        assert!(out.success, "{uri}:\n{}{}", out.stdout, out.stderr);
        let events: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("event "))
            .collect();
        // defined/added, started/booted, suspended/paused, resumed/unpaused, stopped/destroyed, undefined/removed
        assert_eq!(
            events,
            [
                "event evdemo 0 0",
                "event evdemo 2 0",
                "event evdemo 3 0",
                "event evdemo 4 0",
                "event evdemo 5 1",
                "event evdemo 1 0"
            ],
            "{uri}:\n{}{}",
            out.stdout,
            out.stderr
        );
        assert!(out.stdout.contains("complete True"), "{}", out.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_cli_through_the_remote_driver_matches_virsh() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let server = crate::support::server::Server::start().await;
    for uri in [&server.unix_uri, &server.tcp_uri] {
        for args in [
            &["list", "--all"][..],
            &["dominfo", "test"],
            &["net-list", "--all"],
            &["pool-list", "--all"],
            &["domstate", "test"],
        ] {
            let ours = run(Command::new(env!("CARGO_BIN_EXE_virtcim"))
                .arg("-c")
                .arg(uri)
                .args(args))
            .await;
            let theirs = virsh(uri, args).await;
            assert!(
                ours.success,
                "virtcim {args:?}: {}{}",
                ours.stdout, ours.stderr
            );
            // CPU time advances between the two runs.
            let stable = |text: &str| {
                text.lines()
                    .filter(|line| !line.starts_with("CPU time:"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(
                stable(&ours.stdout),
                stable(&theirs.stdout),
                "{uri} {args:?}"
            );
        }
    }
}
