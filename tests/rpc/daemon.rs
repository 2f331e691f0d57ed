//! The `virtcimd` binary as an RPC server: its listeners come from the configuration (unix rw/ro sockets with their
//! modes, TCP), CONNECT_OPEN names reach the daemon's own drivers, stale sockets are replaced, live ones
//! refused, and stock virsh talks to it.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::daemon::Daemon;
use crate::support::raw::{error_of, Raw};
use virtcim::rpc_wire::{ListAllArgs, ListAllDomainsRet, StringArgs};
use virtcim::{DomainRef, Procedure, Status, Xdr};

fn list_all(raw: &mut Raw) -> Vec<String> {
    let args = ListAllArgs {
        need_results: 1,
        flags: 0,
    };
    let reply = raw.call(Procedure::ConnectListAllDomains, &args.to_bytes());
    assert_eq!(reply.header.status, Status::Ok, "{:?}", error_of(&reply));
    let ret = ListAllDomainsRet::from_bytes(&reply.payload).expect("list reply");
    ret.domains.0.into_iter().map(|dom| dom.name).collect()
}

const MINIMAL_DOMAIN: &str = "<domain type='test'><name>wired</name><memory>8192</memory>\
    <os><type>hvm</type></os></domain>";

#[test]
fn every_listener_serves_the_daemons_test_driver() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(
        tmp.path(),
        "unix_sock_rw_perms = \"0770\"\nunix_sock_ro_perms = \"0666\"\n",
    );
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("socket")
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode(&daemon.rw_socket()), 0o770);
    assert_eq!(mode(&daemon.ro_socket()), 0o666);

    let mut rw = Raw::unix(&daemon.rw_socket());
    rw.open("test:///default");
    let mut tcp = Raw::tcp(daemon.port);
    tcp.open("test:///default");
    let mut ro = Raw::unix(&daemon.ro_socket());
    ro.open("test:///default");
    for raw in [&mut rw, &mut tcp, &mut ro] {
        assert_eq!(list_all(raw), ["test"]);
    }

    // One driver instance: a domain defined over the unix socket is seen over TCP, and stays after the
    // defining client closed its connection.
    let define = StringArgs {
        value: MINIMAL_DOMAIN.into(),
    };
    let reply = rw.call(Procedure::DomainDefineXml, &define.to_bytes());
    assert_eq!(reply.header.status, Status::Ok, "{:?}", error_of(&reply));
    let reply = rw.call(Procedure::ConnectClose, &[]);
    assert_eq!(reply.header.status, Status::Ok);
    assert_eq!(list_all(&mut tcp), ["test", "wired"]);

    // The read-only socket forces read-only whatever CONNECT_OPEN asked.
    let dom = DomainRef {
        name: "test".into(),
        uuid: uuid::Uuid::nil(),
        id: 1,
    };
    let reply = ro.call(Procedure::DomainSuspend, &dom.to_bytes());
    let err = error_of(&reply);
    assert_eq!((err.code, err.domain), (29, 20));
    assert_eq!(
        err.message.as_deref(),
        Some("operation forbidden: read only access prevents virDomainSuspend")
    );

    assert_eq!(daemon.stop(), Some(0));
    assert!(
        !tmp.path().join("run/libvirt-sock").exists(),
        "rw socket removed on stop"
    );
    assert!(
        !tmp.path().join("run/libvirt-sock-ro").exists(),
        "ro socket removed on stop"
    );
}

#[test]
fn open_names_resolve_to_own_drivers_or_libvirts_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path(), "");
    // qemu:///system and qemu:///session are served (tests/qemu/daemon.rs).
    for name in [
        "bogus:///x",
        "test:///tmp/some-file.xml",
        "test://otherhost/default",
    ] {
        let mut raw = Raw::tcp(daemon.port);
        let reply = raw.try_open(name);
        let err = error_of(&reply);
        assert_eq!((err.code, err.domain), (5, 0), "{name}");
        assert_eq!(
            err.message.as_deref(),
            Some(format!("no connection driver available for {name}").as_str())
        );
        // The connection stays usable: a second open with a good name works.
        raw.open("test:///default");
        raw.canary();
    }
    // No name at all: the daemon's default driver.
    let mut raw = Raw::tcp(daemon.port);
    let args = virtcim::rpc_wire::ConnectOpenArgs {
        name: None,
        flags: 0,
    };
    let reply = raw.call(Procedure::ConnectOpen, &args.to_bytes());
    assert_eq!(reply.header.status, Status::Ok);
    raw.canary();
}

#[test]
fn a_stale_socket_is_replaced_a_live_one_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = tmp.path().join("run");
    std::fs::create_dir_all(&run).expect("run dir");
    // A socket file whose listener is gone, as a killed daemon leaves it.
    drop(std::os::unix::net::UnixListener::bind(run.join("libvirt-sock")).expect("bind"));
    assert!(run.join("libvirt-sock").exists());
    let daemon = Daemon::start(tmp.path(), "");
    let mut raw = Raw::unix(&daemon.rw_socket());
    raw.open("test:///default");
    raw.canary();
    drop(raw);
    assert_eq!(daemon.stop(), Some(0));

    // A live listener on the ro socket path (another daemon with another state dir): refused, untouched.
    let other = std::os::unix::net::UnixListener::bind(run.join("libvirt-sock-ro")).expect("bind");
    let port = crate::support::free_port();
    let config = Daemon::config(tmp.path(), port, "");
    let (code, stderr) = Daemon::spawn(tmp.path(), &config, port).wait_exit();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("libvirt-sock-ro is in use by another running daemon"),
        "{stderr}"
    );
    assert!(run.join("libvirt-sock-ro").exists());
    std::os::unix::net::UnixStream::connect(run.join("libvirt-sock-ro"))
        .expect("the other listener still owns its socket");
    drop(other);
}

#[test]
fn a_taken_tcp_port_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let config = Daemon::config(tmp.path(), port, "");
    let (code, stderr) = Daemon::spawn(tmp.path(), &config, port).wait_exit();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on tcp 127.0.0.1:{port}")),
        "{stderr}"
    );
}

/// Stock virsh over both transports, when it is installed.
#[test]
fn virsh_lists_over_unix_and_tcp() {
    if Command::new("virsh").arg("--version").output().is_err() {
        eprintln!("virsh not installed; skipped");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(tmp.path(), "");
    let uris = [
        format!(
            "test+unix:///default?socket={}",
            daemon.rw_socket().display()
        ),
        format!("test+tcp://127.0.0.1:{}/default", daemon.port),
    ];
    for uri in uris {
        let out = Command::new("virsh")
            .args(["-c", &uri, "list", "--all"])
            .env("LIBVIRT_DEFAULT_URI", "")
            .output()
            .expect("virsh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{uri}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let row = stdout
            .lines()
            .find(|line| line.contains("test"))
            .unwrap_or_default();
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            ["1", "test", "running"],
            "{uri}: {stdout}"
        );
    }
}
