//! CIM indications end to end: pywbem's WBEMSubscriptionManager and pywbemcli subscribe a WBEMListener, stock
//! virsh changes guests over the daemon's socket, and the listener receives the created, modified and deleted
//! indications; faults (malformed queries, non-indication classes, a closed port, a listener down for a while)
//! get clear errors and stall nothing; a permanent subscription outlives a daemon restart.

use std::process::Command;

use crate::support::daemon::start_virtcimd;
use crate::support::python::{run, venv_python};
use crate::support::virsh::have_virsh;
use crate::support::wbem::{Options, Wbem};

fn peer_script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_indications.py")
}

fn virsh_uri(wbem: &Wbem) -> String {
    format!(
        "test+unix:///default?socket={}",
        wbem.dir.path().join("run/libvirt-sock").display()
    )
}

fn peer(wbem: &Wbem, phase: &str) {
    let (ok, out, err) = run(Command::new(venv_python())
        .arg(peer_script())
        .arg(wbem.url())
        .arg(virsh_uri(wbem))
        .arg(phase));
    assert!(
        ok && out.contains("OK "),
        "cim_indications.py {phase}:\n{out}\n{err}"
    );
    eprintln!("cim_indications.py {phase}: {}", out.trim());
}

#[test]
fn pywbem_listener_gets_guest_indications_and_subscriptions_survive_a_restart() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let mut wbem = Wbem::start(Options {
        extra_domains: 0,
        extra_config: "wbem_indication_retry_attempts = 5\nwbem_indication_retry_interval = 1\n"
            .into(),
        ..Options::default()
    });
    peer(&wbem, "main");
    let log = wbem.process.log();
    assert!(
        log.contains("indication delivery failed for good; subscription disabled"),
        "the alert is logged:\n{log}"
    );
    // Restart on the same state dir: the permanent subscription is loaded again and delivers.
    wbem.process.kill();
    let conf = wbem.dir.path().join("virtcimd.conf");
    wbem.process = start_virtcimd(&conf);
    wbem.http = wbem
        .process
        .logged_addr("WBEM HTTP listening")
        .expect("WBEM listener after the restart");
    peer(&wbem, "after-restart");
    assert!(wbem.alive());
}
