//! KVM's own counters in `domstats`, as libvirt 9.0 adds them from QMP `query-stats`: the `vm` group
//! (`VIR_DOMAIN_STATS_VM`, `virsh domstats --vm`: `vm.<name>.<sum|cur|max>`) and `vcpu.<N>.<name>.<suffix>` in the
//! vcpu group, unsigned long longs and booleans typed by `query-stats-schemas`, read with stock virsh and
//! python3-libvirt from a KVM guest. Under TCG KVM has no counters and both stay empty (skipped without KVM).

use std::collections::BTreeMap;

use super::daemon::{ok, Daemon, QemuReaper};
use crate::support::python::{self, libvirt_python};
use crate::support::qemu::{alongside, guest_xml_file, have_qemu};
use crate::support::virsh::have_virsh;

fn kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// `field=value` lines of `virsh domstats` for one domain.
fn fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvm_counters_fill_the_vm_group_and_each_vcpu() {
    if !have_virsh() || !have_qemu() {
        panic!("virsh and qemu-system-x86_64 are needed (tests/run installs them)");
    }
    if !kvm_usable() {
        eprintln!("/dev/kvm does not open: KVM has no counters to show, skipping");
        return;
    }
    let _guests = alongside().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(tmp.path());
    let reaper = QemuReaper::default();
    let uri = daemon.uri();
    let name = format!("vmstats{}", std::process::id());
    let xml = guest_xml_file(tmp.path(), &name);
    let text = std::fs::read_to_string(&xml)
        .unwrap()
        .replace("<domain type='qemu'>", "<domain type='kvm'>");
    std::fs::write(&xml, text).unwrap();
    ok("virsh", &uri, &["define", &xml.to_string_lossy()]);
    ok("virsh", &uri, &["start", &name]);
    reaper.watch(daemon.qemu_pid(&name));

    let vm = fields(&ok("virsh", &uri, &["domstats", "--vm", &name]));
    let vm_fields: Vec<&String> = vm.keys().filter(|k| k.starts_with("vm.")).collect();
    assert!(vm_fields.len() >= 10, "{vm:?}");
    assert!(
        vm_fields
            .iter()
            .all(|k| k.ends_with(".sum") || k.ends_with(".cur") || k.ends_with(".max")),
        "{vm:?}"
    );
    assert!(vm.contains_key("vm.pages_4k.cur"), "{vm:?}");
    assert!(vm.contains_key("vm.remote_tlb_flush.sum"), "{vm:?}");
    assert!(
        !vm.keys().any(|k| k.starts_with("state.")),
        "only the vm group: {vm:?}"
    );

    let vcpu = fields(&ok("virsh", &uri, &["domstats", "--vcpu", &name]));
    let exits: u64 = vcpu["vcpu.0.exits.sum"].parse().unwrap();
    assert!(exits > 0, "a running guest exits: {vcpu:?}");
    assert!(
        matches!(
            vcpu.get("vcpu.0.guest_mode.cur").map(String::as_str),
            Some("yes" | "no")
        ),
        "a boolean: {vcpu:?}"
    );
    // The vCPU's usual fields come first.
    let text = ok("virsh", &uri, &["domstats", "--vcpu", &name]);
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().split_once('=').map(|(k, _)| k))
        .filter(|k| k.starts_with("vcpu.0."))
        .collect();
    assert_eq!(
        &order[..4],
        ["vcpu.0.state", "vcpu.0.time", "vcpu.0.wait", "vcpu.0.delay"]
    );

    // python3-libvirt: the VM flag alone, and the types.
    if let Some(py) = libvirt_python() {
        let script = format!(
            "import libvirt\n\
             c = libvirt.open('{uri}')\n\
             d = c.lookupByName('{name}')\n\
             [(dom, stats)] = c.domainListGetStats([d], libvirt.VIR_DOMAIN_STATS_VM)\n\
             assert all(k.startswith('vm.') for k in stats), stats\n\
             assert isinstance(stats['vm.pages_4k.cur'], int), stats\n\
             [(dom, stats)] = c.domainListGetStats([d], libvirt.VIR_DOMAIN_STATS_VCPU)\n\
             assert isinstance(stats['vcpu.0.guest_mode.cur'], bool), stats\n\
             print('ok', len(stats))\n"
        );
        let (good, out, err) = python::run(std::process::Command::new(py).args(["-c", &script]));
        assert!(good && out.starts_with("ok"), "python: {out}{err}");
    } else {
        eprintln!("python3-libvirt not installed: its checks are skipped");
    }
    ok("virsh", &uri, &["destroy", &name]);
    ok("virsh", &uri, &["undefine", &name]);
    daemon.stop();
}
