"""virtcim peer test: KVM_VirtualSystemSnapshotService through the pywbem API on the test driver: CreateSnapshot
(full; disk-only ends in the driver's own error) and ApplySnapshot as jobs (4096 and a KVM_ConcreteJob polled to
its end), DestroySnapshot, the snapshots as
KVM_SnapshotSettingData and their associations to the domain, each checked with stock virsh over the daemon's
native RPC socket, and virsh's snapshots seen through CIM.

Usage: cim_snapshots.py WBEM_URL VIRSH_URI
Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import subprocess
import sys
import time

import pywbem
from peerlib import check, cim_error, passed, virsh_on

url, virsh_uri = sys.argv[1], sys.argv[2]
virsh = virsh_on(virsh_uri)
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True)
NS = "root/virt"
VSSS = "KVM_VirtualSystemSnapshotService"
SNAP = "KVM_SnapshotSettingData"
CS = "KVM_ComputerSystem"


def wait_job(rv, out, what):
    """The job a method answered 4096 with, polled until it ends; returns its last instance."""
    check(rv == 4096 and out.get("Job") is not None and out["Job"].classname == "KVM_ConcreteJob",
          "%s answers 4096 and a job: %r %r" % (what, rv, out))
    for _ in range(600):
        job = conn.GetInstance(out["Job"])
        if job["JobState"] not in (2, 3, 4):
            return job
        time.sleep(0.05)
    check(False, "%s: the job ends" % what)


def snapshots(dom):
    return sorted(l.strip() for l in (virsh("snapshot-list", dom, "--name") or "").splitlines() if l.strip())


def cs_path(name):
    return pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS, "Name": name}, namespace=NS)


def snap_path(dom, name):
    return pywbem.CIMInstanceName(SNAP, keybindings={"InstanceID": "KVM:%s/%s" % (dom, name)}, namespace=NS)


# --- the service and its capabilities ---
svcs = conn.EnumerateInstances(VSSS)
check(len(svcs) == 1 and svcs[0]["Name"] == "SnapshotService", "one snapshot service")
svc = svcs[0].path
svc.namespace = NS
caps = conn.Associators(svc, AssocClass="KVM_ElementCapabilities")
check(len(caps) == 1 and caps[0]["InstanceID"] == "SnapshotCapabilities"
      and list(caps[0]["SnapshotTypesSupported"]) == [2, 3]
      and list(caps[0]["SynchronousMethodsSupported"]) == [3]
      and list(caps[0]["AynchronousMethodsSupported"]) == [2, 4], "service -> capabilities %r" % caps)
check([h.classname for h in conn.AssociatorNames(svc, AssocClass="KVM_HostedService")] == ["KVM_HostSystem"],
      "hosted by the host")
check(conn.EnumerateInstanceNames(SNAP) == [], "no snapshots at first")

# --- a full snapshot of the running guest "test" ---
settings = pywbem.CIMInstance("CIM_SettingData", properties={"ElementName": "s1", "Description": "first <one>"})
rv, out = conn.InvokeMethod("CreateSnapshot", svc, AffectedSystem=cs_path("test"),
                            SnapshotSettings=settings, SnapshotType=pywbem.Uint16(2))
check(out["ResultingSnapshot"]["InstanceID"] == "KVM:test/s1", "CreateSnapshot %r" % (out,))
job = wait_job(rv, out, "CreateSnapshot")
check(job["JobState"] == 7 and job["PercentComplete"] == 100 and job["Name"] == "Snapshot"
      and job["ErrorCode"] is None, "the snapshot job completed %r" % dict(job.items()))
check(snapshots("test") == ["s1"], "virsh sees s1")
desc = virsh("snapshot-dumpxml", "test", "s1")
check("first &lt;one&gt;" in desc and "<state>running</state>" in desc, "description and state for virsh")
s1 = conn.GetInstance(out["ResultingSnapshot"])
check(s1["ElementName"] == "s1" and s1["VirtualSystemIdentifier"] == "test" and s1["Description"] == "first <one>"
      and s1["SnapshotState"] == "running" and s1["DiskOnly"] is False and s1["CreationTime"] is not None,
      "the snapshot instance %r" % dict(s1.items()))

# virsh's snapshot through CIM; the current one is the last taken.
check(virsh("snapshot-create-as", "test", "s2") is not None, "virsh snapshot-create-as")
names = sorted(p["InstanceID"] for p in conn.EnumerateInstanceNames(SNAP))
check(names == ["KVM:test/s1", "KVM:test/s2"], "CIM lists both %r" % names)
of = conn.AssociatorNames(cs_path("test"), AssocClass="KVM_SnapshotOfVirtualSystem")
check(sorted(p["InstanceID"] for p in of) == names, "guest -> its snapshots")
back = conn.AssociatorNames(snap_path("test", "s1"), AssocClass="KVM_SnapshotOfVirtualSystem")
check([p["Name"] for p in back] == ["test"], "snapshot -> its guest")
check(conn.Associators(snap_path("test", "s2"), AssocClass="KVM_SnapshotOfVirtualSystem",
                       ResultClass="CIM_ComputerSystem")[0]["Name"] == "test", "snapshot -> guest instance")
cur = conn.AssociatorNames(cs_path("test"), AssocClass="KVM_LastAppliedSnapshot")
check([p["InstanceID"] for p in cur] == ["KVM:test/s2"], "current snapshot s2 %r" % cur)
check(s1["Parent"] is None and conn.GetInstance(snap_path("test", "s2"))["Parent"] == "s1", "parents")
check(len(conn.EnumerateInstances("CIM_VirtualSystemSettingData")) > len(conn.EnumerateInstances(
    "KVM_VirtualSystemSettingData")), "snapshots are virtual system settings, apart from the guests' VSSDs")

# --- apply: the domain goes back, and s1 becomes current ---
check(virsh("suspend", "test") is not None, "virsh suspend")
rv, out = conn.InvokeMethod("ApplySnapshot", svc, Snapshot=snap_path("test", "s1"))
check(wait_job(rv, out, "ApplySnapshot")["JobState"] == 7, "ApplySnapshot completed")
check((virsh("snapshot-current", "--name", "test") or "").strip() == "s1", "virsh: s1 is current")
check("running" in virsh("domstate", "test"), "running again, as in s1")
cur = conn.AssociatorNames(cs_path("test"), AssocClass="KVM_LastAppliedSnapshot")
check([p["InstanceID"] for p in cur] == ["KVM:test/s1"], "LastAppliedSnapshot follows")

# --- disk-only: the test driver refuses it, with its own message, and nothing is made ---
rv, out = conn.InvokeMethod("CreateSnapshot", svc, AffectedSystem=cs_path("test"), SnapshotType=pywbem.Uint16(3))
job = wait_job(rv, out, "disk-only CreateSnapshot")
check(job["JobState"] == 10 and job["ErrorCode"] is not None and "unsupported flags (0x10)" in job["ErrorDescription"]
      and snapshots("test") == ["s1", "s2"], "disk-only on the test driver: %r" % dict(job.items()))
rv, out = conn.InvokeMethod("GetError", out["Job"])
err = out["Error"]
check(rv == 0 and err.classname == "CIM_Error" and "unsupported flags (0x10)" in err["Message"]
      and err["CIMStatusCode"] == 4 and err["ErrorSourceFormat"] == 2 and "KVM_ConcreteJob" in err["ErrorSource"],
      "GetError: %r" % (err,))

# --- bad input ---
code, desc = cim_error(conn.InvokeMethod, "CreateSnapshot", svc, AffectedSystem=cs_path("nosuch"))
check(code == 6 and "Referenced domain `nosuch' does not exist" in desc, "missing domain: %r" % ((code, desc),))
code, desc = cim_error(conn.InvokeMethod, "CreateSnapshot", svc, AffectedSystem=cs_path("test"),
                       SnapshotType=pywbem.Uint16(7))
check(code == 7, "unknown SnapshotType: %r" % ((code, desc),))
code, desc = cim_error(conn.InvokeMethod, "CreateSnapshot", svc)
check(code == 4 and "AffectedSystem" in desc, "no AffectedSystem: %r" % ((code, desc),))
code, desc = cim_error(conn.InvokeMethod, "DestroySnapshot", svc, AffectedSnapshot=snap_path("test", "nope"))
check(code == 6, "missing snapshot: %r" % ((code, desc),))
code, _ = cim_error(conn.GetInstance, snap_path("test", "nope"))
check(code == 6, "GetInstance of a missing snapshot")

# --- a snapshot named by the driver, then destroy ---
rv, out = conn.InvokeMethod("CreateSnapshot", VSSS, AffectedSystem=cs_path("test"))
auto = out["ResultingSnapshot"]["InstanceID"].split("/", 1)[1]
check(wait_job(rv, out, "unnamed CreateSnapshot")["JobState"] == 7 and auto in snapshots("test"), "class-path CreateSnapshot, named by its creation time: %s" % auto)
for name in ["s2", auto]:
    rv, _ = conn.InvokeMethod("DestroySnapshot", svc, AffectedSnapshot=snap_path("test", name))
    check(rv == 0 and name not in snapshots("test"), "DestroySnapshot %s" % name)
check(snapshots("test") == ["s1"], "one left for virsh")
check([p["InstanceID"] for p in conn.EnumerateInstanceNames(SNAP)] == ["KVM:test/s1"], "one left for CIM")
passed()
