"""virtcim peer test: CIM jobs through the pywbem API on the test driver. CreateSnapshot, ApplySnapshot and
CreateResourceInPool of a large volume answer 4096 with a KVM_ConcreteJob reference; each job is polled to
Completed (7) or Exception (10, with ErrorCode/ErrorDescription and GetError/GetErrors' embedded CIM_Error);
KVM_AffectedJobElement both ways; RequestStateChange on finished jobs; ModifyInstance of TimeBeforeRemoval and
DeleteOnCompletion (the job goes away, or stays until DeleteInstance). Results are checked with stock virsh.

Usage: cim_jobs.py WBEM_URL VIRSH_URI
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
JOB = "KVM_ConcreteJob"
AJE = "KVM_AffectedJobElement"
CS = "KVM_ComputerSystem"
SVR = "KVM_StorageVolumeResourceAllocationSettingData"


def cs_path(name):
    return pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS, "Name": name}, namespace=NS)


def pool_path(name):
    return pywbem.CIMInstanceName("KVM_DiskPool", keybindings={"InstanceID": "DiskPool/" + name}, namespace=NS)


def job_of(rv, out, what):
    check(rv == 4096 and out.get("Job") is not None and out["Job"].classname == JOB,
          "%s answers 4096 and a job: %r %r" % (what, rv, out))
    return out["Job"]


def wait_end(job, what):
    for _ in range(600):
        inst = conn.GetInstance(job)
        if inst["JobState"] not in (2, 3, 4):
            return inst
        time.sleep(0.05)
    check(False, "%s: the job ends" % what)


def gone(job):
    return cim_error(conn.GetInstance, job)[0] == 6


vsss = conn.EnumerateInstanceNames("KVM_VirtualSystemSnapshotService")[0]
rpcs = conn.EnumerateInstanceNames("KVM_ResourcePoolConfigurationService")[0]
check(conn.EnumerateInstanceNames(JOB) == [], "no jobs at first")

# --- a snapshot job, polled to Completed ---
settings = pywbem.CIMInstance("CIM_SettingData", properties={"ElementName": "j1"})
rv, out = conn.InvokeMethod("CreateSnapshot", vsss, AffectedSystem=cs_path("test"), SnapshotSettings=settings,
                            SnapshotType=pywbem.Uint16(2))
snap_job = job_of(rv, out, "CreateSnapshot")
check(out["ResultingSnapshot"]["InstanceID"] == "KVM:test/j1", "ResultingSnapshot %r" % out)
done = wait_end(snap_job, "CreateSnapshot")
check(done["JobState"] == 7 and done["PercentComplete"] == 100 and done["JobStatus"] == "Completed"
      and done["ErrorCode"] is None and done["DeleteOnCompletion"] is True
      and done["TimeBeforeRemoval"] == pywbem.CIMDateTime("00000000000500.000000:000")
      and done["TimeSubmitted"] is not None and done["TimeOfLastStateChange"] is not None
      and done["ElapsedTime"] is not None and "test" in done["Description"],
      "completed job %r" % dict(done.items()))
check("j1" in (virsh("snapshot-list", "test", "--name") or ""), "virsh sees the snapshot")
check([p["InstanceID"] for p in conn.EnumerateInstanceNames("CIM_ConcreteJob")] == [snap_job["InstanceID"]],
      "the job is a CIM_ConcreteJob")
rv, out = conn.InvokeMethod("GetError", snap_job)
check(rv == 0 and out["Error"] is None, "no error for a completed job %r" % out)

# --- AffectedJobElement both ways ---
to = conn.AssociatorNames(snap_job, AssocClass=AJE)
check([(p.classname, p["Name"]) for p in to] == [(CS, "test")], "job -> the system %r" % to)
back = conn.AssociatorNames(cs_path("test"), AssocClass=AJE)
check([p["InstanceID"] for p in back] == [snap_job["InstanceID"]], "system -> its job %r" % back)
refs = conn.References(cs_path("test"), ResultClass="CIM_AffectedJobElement")
check(len(refs) == 1 and refs[0]["AffectingElement"]["InstanceID"] == snap_job["InstanceID"]
      and list(refs[0]["ElementEffects"]) == [1], "the association instance %r" % refs)
check(conn.Associators(cs_path("test"), AssocClass=AJE, ResultClass="CIM_Job")[0]["JobState"] == 7,
      "system -> job instance")

# --- state changes of a finished job ---
rv, _ = conn.InvokeMethod("RequestStateChange", snap_job, RequestedState=pywbem.Uint16(4))
check(rv == 4097, "Terminate of a finished job: invalid state transition (%r)" % rv)
rv, _ = conn.InvokeMethod("RequestStateChange", snap_job, RequestedState=pywbem.Uint16(5),
                          TimeoutPeriod=pywbem.CIMDateTime("00000000000010.000000:000"))
check(rv == 4098, "TimeoutPeriod is not supported (%r)" % rv)
rv, _ = conn.InvokeMethod("RequestStateChange", snap_job, RequestedState=pywbem.Uint16(3))
check(rv == 1, "Suspend is not supported (%r)" % rv)

# --- apply: a job that affects the system and the snapshot ---
j1 = pywbem.CIMInstanceName("KVM_SnapshotSettingData", keybindings={"InstanceID": "KVM:test/j1"}, namespace=NS)
rv, out = conn.InvokeMethod("ApplySnapshot", vsss, Snapshot=j1)
apply_job = job_of(rv, out, "ApplySnapshot")
check(wait_end(apply_job, "ApplySnapshot")["JobState"] == 7, "ApplySnapshot completed")
affected = sorted(p.classname for p in conn.AssociatorNames(apply_job, AssocClass=AJE))
check(affected == [CS, "KVM_SnapshotSettingData"], "apply affects the system and the snapshot %r" % affected)

# --- a failing job: Exception, its error through GetError and GetErrors ---
rv, out = conn.InvokeMethod("CreateSnapshot", vsss, AffectedSystem=cs_path("test"), SnapshotType=pywbem.Uint16(3))
bad = job_of(rv, out, "disk-only CreateSnapshot")
failed = wait_end(bad, "disk-only CreateSnapshot")
check(failed["JobState"] == 10 and failed["JobStatus"] == "Failed" and failed["ErrorCode"] is not None
      and "unsupported flags (0x10)" in failed["ErrorDescription"], "Exception %r" % dict(failed.items()))
rv, out = conn.InvokeMethod("GetError", bad)
err = out["Error"]
check(rv == 0 and isinstance(err, pywbem.CIMInstance) and err.classname == "CIM_Error"
      and "unsupported flags (0x10)" in err["Message"] and err["CIMStatusCode"] == 4
      and err["ErrorType"] == 4 and err["ErrorSourceFormat"] == 2 and bad["InstanceID"] in err["ErrorSource"],
      "GetError's CIM_Error %r" % (err,))
rv, out = conn.InvokeMethod("GetErrors", bad)
check(rv == 0 and len(out["Errors"]) == 1 and out["Errors"][0]["Message"] == err["Message"], "GetErrors %r" % out)

# --- volumes: a small one is made at once, a large one by a job ---
small = pywbem.CIMInstance(SVR, properties=dict(VolumeName="small.img", FormatType=pywbem.Uint16(1),
                                                Capacity=pywbem.Uint16(1), AllocationUnits="M"))
rv, out = conn.InvokeMethod("CreateResourceInPool", rpcs, Settings=small.tomof(), Pool=pool_path("default-pool"))
check(rv == 0 and out["Resource"] is not None and out.get("Job") is None, "a small volume at once %r" % out)
large = pywbem.CIMInstance(SVR, properties=dict(VolumeName="large.img", FormatType=pywbem.Uint16(1),
                                                Capacity=pywbem.Uint16(2), AllocationUnits="G"))
rv, out = conn.InvokeMethod("CreateResourceInPool", rpcs, Settings=large.tomof(), Pool=pool_path("default-pool"))
vol_job = job_of(rv, out, "CreateResourceInPool of 2 GiB")
vdone = wait_end(vol_job, "CreateResourceInPool")
check(vdone["JobState"] == 7 and vdone["Name"] == "CreateResourceInPool", "volume job %r" % dict(vdone.items()))
check("large.img" in (virsh("vol-list", "default-pool") or ""), "virsh sees the large volume")
aff = conn.AssociatorNames(vol_job, AssocClass=AJE)
check(sorted(p.classname for p in aff) == ["KVM_DiskPool", SVR]
      and [p for p in aff if p.classname == SVR][0]["InstanceID"].endswith("/large.img"),
      "the volume job affects the pool and the new volume %r" % aff)
check([p["InstanceID"] for p in conn.AssociatorNames(pool_path("default-pool"), AssocClass=AJE)]
      == [vol_job["InstanceID"]], "pool -> the job")
# The same name again: the job fails with the driver's error, and the first volume stays.
rv, out = conn.InvokeMethod("CreateResourceInPool", rpcs, Settings=large.tomof(), Pool=pool_path("default-pool"))
dup = wait_end(job_of(rv, out, "duplicate volume"), "duplicate volume")
# libvirt's test driver: VIR_ERR_OPERATION_FAILED, "storage vol already exists".
check(dup["JobState"] == 10 and dup["ErrorCode"] == 9 and "already exists" in dup["ErrorDescription"],
      "duplicate volume: Exception %r" % dict(dup.items()))
check("large.img" in (virsh("vol-list", "default-pool") or ""), "the first volume is still there")

# --- removal: TimeBeforeRemoval, DeleteOnCompletion, DeleteInstance ---
jobs = conn.EnumerateInstances(JOB)
check(len(jobs) == 5, "five jobs listed %r" % [j["InstanceID"] for j in jobs])
short = conn.GetInstance(snap_job)
short["TimeBeforeRemoval"] = pywbem.CIMDateTime("00000000000001.000000:000")
conn.ModifyInstance(short, PropertyList=["TimeBeforeRemoval"])
kept = conn.GetInstance(apply_job)
kept["DeleteOnCompletion"] = False
kept["TimeBeforeRemoval"] = pywbem.CIMDateTime("00000000000000.000000:000")
conn.ModifyInstance(kept)
check(conn.GetInstance(apply_job)["DeleteOnCompletion"] is False, "DeleteOnCompletion written")
for _ in range(100):
    if gone(snap_job):
        break
    time.sleep(0.1)
check(gone(snap_job), "the job is removed after its TimeBeforeRemoval")
ids = [p["InstanceID"] for p in conn.AssociatorNames(cs_path("test"), AssocClass=AJE, ResultClass=JOB)]
check(snap_job["InstanceID"] not in ids and apply_job["InstanceID"] in ids, "its association went with it %r" % ids)
check(not gone(apply_job), "a job without DeleteOnCompletion stays")
conn.DeleteInstance(apply_job)
check(gone(apply_job), "DeleteInstance removes a finished job")
check(cim_error(conn.DeleteInstance, apply_job)[0] == 6, "deleting it again: not found")
check(cim_error(conn.InvokeMethod, "GetError", apply_job)[0] == 6, "methods of a removed job: not found")
check(len(conn.EnumerateInstanceNames(JOB)) == 3, "three jobs left")
passed()
