//! The host's object drivers behind `qemu:///system` through every front end of one daemon: stock virsh over the
//! unix socket, TCP and TLS sees the same networks, pools, secrets, filters, node devices and interfaces, and the
//! read-only socket reads them all but refuses every change.

use crate::support::daemon::Daemon;
use crate::support::pki::Pki;
use crate::support::virsh::{have_virsh, run_blocking};

fn out(uri: &str, args: &[&str]) -> (bool, String) {
    let output = run_blocking(uri, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn ok(uri: &str, args: &[&str]) -> String {
    let (success, text) = out(uri, args);
    assert!(success, "virsh -c {uri} {args:?}: {text}");
    text
}

#[test]
fn host_objects_through_unix_tcp_tls_and_the_read_only_socket() {
    if !have_virsh() {
        eprintln!("SKIPPED: virsh not installed");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(&tmp.path().join("pki"));
    let tls_port = crate::support::free_port();
    let daemon = Daemon::start(
        tmp.path(),
        &format!(
            "listen_tls = 1\ntls_port = \"{tls_port}\"\n{}",
            pki.server_config()
        ),
    );
    let unix = format!(
        "qemu+unix:///system?socket={}",
        daemon.rw_socket().display()
    );
    let ro = format!(
        "qemu+unix:///system?socket={}",
        daemon.ro_socket().display()
    );
    let tcp = format!("qemu+tcp://127.0.0.1:{}/system", daemon.port);
    let tls = format!(
        "qemu+tls://127.0.0.1:{tls_port}/system?pkipath={}",
        pki.client_dir.display()
    );

    // Objects made through the unix socket: an inactive isolated network, a dir pool, a secret.
    let tag = std::process::id();
    let net = format!("fronts{tag}");
    let net_xml = tmp.path().join("net.xml");
    std::fs::write(
        &net_xml,
        format!(
            "<network><name>{net}</name><bridge name='vcf{}'/>\
             <ip address='10.219.{}.1' netmask='255.255.255.0'/></network>",
            tag % 100_000,
            tag % 200 + 1
        ),
    )
    .unwrap();
    ok(&unix, &["net-define", &net_xml.to_string_lossy()]);
    let pool = format!("frontpool{tag}");
    let pool_dir = tmp.path().join("pool");
    ok(
        &unix,
        &[
            "pool-define-as",
            &pool,
            "dir",
            "--target",
            &pool_dir.to_string_lossy(),
        ],
    );
    let secret_xml = tmp.path().join("secret.xml");
    std::fs::write(
        &secret_xml,
        "<secret ephemeral='no' private='no'><uuid>5d1c4a8e-6f0b-4c3e-9a7d-2b8e0f1a3c55</uuid>\
         <usage type='volume'><volume>/var/lib/fronts.img</volume></usage></secret>",
    )
    .unwrap();
    ok(&unix, &["secret-define", &secret_xml.to_string_lossy()]);

    // Every front end reads the same host objects.
    for uri in [&unix, &ro, &tcp, &tls] {
        assert!(
            ok(uri, &["net-list", "--all", "--name"]).contains(&net),
            "{uri}"
        );
        assert!(
            ok(uri, &["pool-list", "--all", "--name"]).contains(&pool),
            "{uri}"
        );
        assert!(
            ok(uri, &["secret-list"]).contains("5d1c4a8e-6f0b-4c3e-9a7d-2b8e0f1a3c55"),
            "{uri}"
        );
        assert!(
            ok(uri, &["nwfilter-list"]).contains("clean-traffic"),
            "{uri}"
        );
        assert!(ok(uri, &["nodedev-list"]).contains("computer"), "{uri}");
        assert!(ok(uri, &["iface-list", "--all"]).contains("lo"), "{uri}");
        assert!(ok(uri, &["net-dumpxml", &net]).contains("<name>"), "{uri}");
    }

    // The read-only socket refuses every change, and nothing changes.
    for args in [
        &["net-start", net.as_str()][..],
        &["net-undefine", &net],
        &["pool-build", &pool],
        &["pool-undefine", &pool],
        &["secret-undefine", "5d1c4a8e-6f0b-4c3e-9a7d-2b8e0f1a3c55"],
        &[
            "secret-set-value",
            "5d1c4a8e-6f0b-4c3e-9a7d-2b8e0f1a3c55",
            "--base64",
            "c2VjcmV0",
        ],
        &["nwfilter-undefine", "clean-traffic"],
        &["net-define", &net_xml.to_string_lossy()],
    ] {
        let (success, text) = out(&ro, args);
        assert!(!success, "{args:?} succeeded read-only: {text}");
        assert!(
            text.contains("read only access prevents"),
            "{args:?}: {text}"
        );
    }
    assert!(!pool_dir.exists(), "a refused pool-build built the pool");
    assert!(ok(&tls, &["net-list", "--all", "--name"]).contains(&net));

    // Changes through TLS and TCP are seen on the unix socket.
    ok(
        &tls,
        &["secret-undefine", "5d1c4a8e-6f0b-4c3e-9a7d-2b8e0f1a3c55"],
    );
    assert!(!ok(&unix, &["secret-list"]).contains("5d1c4a8e"));
    ok(&tcp, &["pool-undefine", &pool]);
    ok(&tls, &["net-undefine", &net]);
    let left =
        ok(&unix, &["net-list", "--all", "--name"]) + &ok(&unix, &["pool-list", "--all", "--name"]);
    assert!(!left.contains(&net) && !left.contains(&pool), "{left}");
    daemon.stop();
}
