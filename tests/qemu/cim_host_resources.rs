//! The host resources of libvirt-CIM's pools on `qemu:///system`: the host's real processors as Linux_Processor
//! (as many as virsh nodeinfo counts) and the bridges of its active networks as Linux_EthernetPort, in root/cimv2,
//! tied to their pools by KVM_ConcreteComponent from both ends.

use std::process::Command;

use super::cim::Daemon;
use crate::support::have;
use crate::support::python::{run, venv_python};

const SCRIPT: &str = r#"
import re, subprocess, sys
import pywbem
url, uri = sys.argv[1], sys.argv[2]
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", timeout=120)
def virsh(*args):
    return subprocess.run(["virsh", "-q", "-c", uri] + list(args), capture_output=True, text=True, check=True).stdout
cpus = int(re.search(r"^CPU\(s\):\s+(\d+)", virsh("nodeinfo"), re.M).group(1))
procs = conn.EnumerateInstanceNames("Linux_Processor", namespace="root/cimv2")
assert len(procs) == cpus, (len(procs), cpus)
pool = pywbem.CIMInstanceName("KVM_ProcessorPool", {"InstanceID": "ProcessorPool/0"}, namespace="root/virt")
parts = conn.AssociatorNames(pool, AssocClass="KVM_ConcreteComponent", ResultClass="Linux_Processor")
assert sorted(p["DeviceID"] for p in parts) == sorted(str(n) for n in range(cpus)), parts
for p in procs:
    p.namespace = p.namespace or "root/cimv2"
    back = conn.AssociatorNames(p, AssocClass="KVM_ConcreteComponent", Role="PartComponent")
    assert [b["InstanceID"] for b in back] == ["ProcessorPool/0"], back
bridges = set()
for net in virsh("net-list", "--name").split():
    m = re.search(r"<bridge name='([^']+)'", virsh("net-dumpxml", net))
    if m:
        bridges.add(m.group(1))
ports = conn.EnumerateInstances("Linux_EthernetPort", namespace="root/cimv2")
assert {p["DeviceID"] for p in ports} == bridges, (ports, bridges)
print("OK", cpus, "processors", len(bridges), "bridges")
"#;

#[test]
fn host_processors_and_bridges_on_qemu_system() {
    if !have("virsh", "--version") {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start_with(tmp.path(), "qemu:///system", "");
    let (ok, out, err) = run(Command::new(venv_python())
        .args(["-c", SCRIPT])
        .arg(format!("http://{}", daemon.wbem))
        .arg(daemon.rpc_uri()));
    assert!(ok && out.contains("OK "), "{out}\n{err}");
}
