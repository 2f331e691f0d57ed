//! Migration between virtcimd and a stock libvirtd 9.0 qemu driver, driven by stock `virsh migrate`: a guest's
//! definition moves offline either way (client-driven and, from ours, peer to peer), and what arrives reads as what
//! left. libvirtd runs isolated in its own network namespace (see `tests/support/stock-libvirtd-qemu.sh`), so live
//! migration, whose QEMU stream would have to cross namespaces, is not tried here.

use crate::daemon::{ok, peers_present, run, Daemon};
use crate::migration::{guest_xml, names, state, sub};
use crate::support::libvirtd::StockQemuLibvirtd;

/// The parts of a definition both daemons must agree on after a move.
fn essentials(xml: &str) -> Vec<String> {
    [
        "<name>",
        "<uuid>",
        "<memory",
        "<source file=",
        "<target dev=",
        "<title>",
        "<description>",
        "<app:info",
    ]
    .iter()
    .filter_map(|tag| {
        xml.lines()
            .find(|l| l.contains(tag))
            .map(|l| l.trim().to_string())
    })
    .collect()
}

#[test]
fn a_definition_migrates_offline_to_and_from_a_stock_libvirtd() {
    if !peers_present() {
        return;
    }
    let Some(libvirtd) = StockQemuLibvirtd::start() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let ours = Daemon::start(&sub(tmp.path(), "ours"));
    let uo = ours.uri();
    let ul = libvirtd.uri.clone();
    let name = format!("mig-lv-{}", std::process::id());
    let xml = guest_xml(tmp.path(), &name, 32);
    ok("virsh", &uo, &["define", &xml.to_string_lossy()]);
    ok(
        "virsh",
        &uo,
        &["desc", &name, "--config", "--title", "moving house"],
    );
    ok(
        "virsh",
        &uo,
        &[
            "metadata",
            &name,
            "--config",
            "http://example.org/app",
            "--key",
            "app",
            "--set",
            "<info kept='yes'/>",
        ],
    );
    let before = essentials(&ok("virsh", &uo, &["dumpxml", "--inactive", &name]));

    // Ours to libvirtd, client-driven: libvirtd defines it, ours forgets it.
    ok(
        "virsh",
        &uo,
        &[
            "migrate",
            "--offline",
            "--persistent",
            "--undefinesource",
            &name,
            &ul,
        ],
    );
    assert!(!names(&uo).contains(&name), "the source still has it");
    assert_eq!(state(&ul, &name), "shut off (unknown)");
    let arrived = ok("virsh", &ul, &["dumpxml", "--inactive", &name]);
    assert_eq!(essentials(&arrived), before, "{arrived}");

    // Back, libvirtd as the source.
    ok(
        "virsh",
        &ul,
        &[
            "migrate",
            "--offline",
            "--persistent",
            "--undefinesource",
            &name,
            &uo,
        ],
    );
    assert!(!names(&ul).contains(&name), "libvirtd still has it");
    let back = ok("virsh", &uo, &["dumpxml", "--inactive", &name]);
    assert_eq!(essentials(&back), before, "{back}");

    // Peer to peer from ours: our daemon opens libvirtd itself, over its unix socket.
    ok(
        "virsh",
        &uo,
        &[
            "migrate",
            "--offline",
            "--persistent",
            "--p2p",
            "--undefinesource",
            &name,
            &ul,
        ],
    );
    assert!(!names(&uo).contains(&name));
    assert_eq!(
        essentials(&ok("virsh", &ul, &["dumpxml", "--inactive", &name])),
        before
    );

    let _ = run("virsh", &ul, &["undefine", &name]);
}
