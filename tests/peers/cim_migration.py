"""virtcim peer test: virtual system migration (DSP1081) through pywbem. The migration service, its capabilities
and settings and their associations; CheckVirtualSystemIsMigratableToHost/ToSystem; MigrateVirtualSystemToHost
answering 4096 with a KVM_MigrationJob followed to Completed; the guest seen by stock virsh on the destination
and gone from the source; bad input (a missing guest, an unreachable destination, an unparsable
MigrationSettingData); in mode "offline" also the job indications a pywbem WBEMListener receives
(KVM_ComputerSystemMigrationJob*Indication, CIM_InstCreation for another job).

Usage: cim_migration.py MODE WBEM_URL VIRSH_SOURCE VIRSH_DEST DEST_SOCKET GUEST
MODE "offline": GUEST is defined and shut off on the source (test driver); MigrationType 1 (offline).
MODE "live": GUEST runs on the source (QEMU); MigrationType 2 (live).
The destination is named by DEST_SOCKET, the destination daemon's socket, with TransportType 32768 (Unix).
Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import os
import queue
import socket
import sys
import time
import traceback

import pywbem
from peerlib import check, cim_error, passed, virsh_on

# An unexpected exception ends the script at once (the listener's threads would keep it alive otherwise).
sys.excepthook = lambda *exc: (traceback.print_exception(*exc), sys.stdout.flush(), os._exit(1))

mode, url, virsh_src_uri, virsh_dst_uri, dest_socket, guest = sys.argv[1:7]
virsh_src, virsh_dst = virsh_on(virsh_src_uri), virsh_on(virsh_dst_uri)
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True)
NS = "root/virt"
INTEROP = "root/interop"
CS = "KVM_ComputerSystem"
UNIX = 32768


def cs_path(name):
    return pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS, "Name": name}, namespace=NS)


def msd(migration_type, transport=UNIX):
    return pywbem.CIMInstance("KVM_VirtualSystemMigrationSettingData", properties={
        "InstanceID": "MigrationSettingData",
        "MigrationType": pywbem.Uint16(migration_type),
        "TransportType": pywbem.Uint16(transport)})


def migratable(out):
    """IsMigratable as sent: pywbem 1.9 turns a boolean output parameter's text into bool(text), so "FALSE"
    reads True; the raw reply tells."""
    raw = conn.last_raw_reply
    raw = raw.decode() if isinstance(raw, bytes) else raw
    if '<PARAMVALUE NAME="IsMigratable" PARAMTYPE="boolean"><VALUE>TRUE</VALUE>' in raw:
        return True
    if '<PARAMVALUE NAME="IsMigratable" PARAMTYPE="boolean"><VALUE>FALSE</VALUE>' in raw:
        return False
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


svc_names = conn.EnumerateInstanceNames("KVM_VirtualSystemMigrationService")
check(len(svc_names) == 1, "one migration service: %s" % svc_names)
svc = svc_names[0]
MIGRATION_TYPE = 1 if mode == "offline" else 2

# ---- the model: service, capabilities, settings, associations, profile ----
inst = conn.GetInstance(svc)
check(inst["Name"] == "MigrationService" and inst["SystemCreationClassName"] == "KVM_HostSystem",
      "service keys as libvirt-CIM: %s" % inst.path)
caps = conn.EnumerateInstances("KVM_VirtualSystemMigrationCapabilities")
check(len(caps) == 1 and caps[0]["InstanceID"] == "MigrationCapabilities"
      and list(caps[0]["AsynchronousMethodsSupported"]) == [2, 3]
      and list(caps[0]["SynchronousMethodsSupported"]) == [4, 5]
      and list(caps[0]["DestinationHostFormatsSupported"]) == [2, 3, 4], "capabilities: %s" % caps)
sd = conn.EnumerateInstances("KVM_VirtualSystemMigrationSettingData")
check(len(sd) == 1 and sd[0]["InstanceID"] == "MigrationSettingData" and sd[0]["MigrationType"] == 2
      and sd[0]["TransportType"] == 2, "default settings live over ssh: %s" % sd)
host = conn.EnumerateInstanceNames("KVM_HostSystem")[0]
hosted = conn.AssociatorNames(host, AssocClass="KVM_HostedService", ResultClass="KVM_VirtualSystemMigrationService")
check(len(hosted) == 1 and hosted[0]["Name"] == "MigrationService", "host -> migration service: %s" % hosted)
svc_caps = conn.AssociatorNames(svc, AssocClass="KVM_ElementCapabilities")
check([c["InstanceID"] for c in svc_caps] == ["MigrationCapabilities"], "service -> capabilities: %s" % svc_caps)
defaults = conn.AssociatorNames(caps[0].path, AssocClass="KVM_SettingsDefineCapabilities")
check([d["InstanceID"] for d in defaults] == ["MigrationSettingData"], "capabilities -> settings: %s" % defaults)
profile = pywbem.CIMInstanceName("KVM_RegisteredProfile",
                                 keybindings={"InstanceID": "CIM:DSP1081-VirtualSystemMigration-0.8.1"},
                                 namespace=INTEROP)
p = conn.GetInstance(profile)
check(p["RegisteredName"] == "Virtual System Migration" and p["RegisteredVersion"] == "0.8.1", "DSP1081 profile")
central = conn.Associators(profile, AssocClass="KVM_ElementConformsToProfile")
check([c["Name"] for c in central] == ["MigrationService"], "profile -> the service: %s" % central)
ind_profile = pywbem.CIMInstanceName("KVM_RegisteredProfile",
                                     keybindings={"InstanceID": "CIM:DSP1054-Indications-1.1.0"},
                                     namespace=INTEROP)
check(conn.GetInstance(ind_profile)["RegisteredName"] == "Indications", "DSP1054 profile")
ind_central = conn.Associators(ind_profile, AssocClass="KVM_ElementConformsToProfile")
check([c.classname for c in ind_central] == ["CIM_IndicationService"], "Indications -> the indication service")

# ---- indications: a listener subscribed to every instance indication of root/virt ----
got = queue.Queue()
listener = None
if mode == "offline":
    port = free_port()
    listener = pywbem.WBEMListener("127.0.0.1", http_port=port)
    listener.add_callback(lambda ind, host: got.put(ind))
    listener.start()
    sm = pywbem.WBEMSubscriptionManager(subscription_manager_id="virtcimmig")
    sid = sm.add_server(pywbem.WBEMServer(conn))
    dest = sm.add_destination(sid, "http://127.0.0.1:%d" % port, destination_id="mig")
    f_all = sm.add_filter(sid, [NS], "SELECT * FROM CIM_InstIndication", "WQL", filter_id="jobs")
    sm.add_subscriptions(sid, f_all.path, [dest.path])
    # What DSP1054/DSP1103 consoles subscribe to for jobs: modifications whose SourceInstance is a job.
    f_isa = sm.add_filter(sid, [NS], "SELECT * FROM CIM_InstModification WHERE SourceInstance ISA CIM_ConcreteJob",
                          "WQL", filter_id="isa")
    sm.add_subscriptions(sid, f_isa.path, [dest.path])
    ISA_FILTER = f_isa.path["Name"]


seen = []


def wait_ind(pred, what, timeout=60):
    """The first indication received so far or within `timeout` that satisfies pred (each subscription
    delivers on its own, so copies selected by two filters arrive in either order)."""
    deadline = time.time() + timeout
    while True:
        for ind in seen:
            if pred(ind):
                return ind
        if time.time() > deadline:
            check(False, "no indication: " + what)
        try:
            seen.append(got.get(timeout=0.5))
        except queue.Empty:
            pass


def source_of(ind):
    src = ind.properties.get("SourceInstance")
    return None if src is None else src.value


# ---- bad input ----
code, desc = cim_error(conn.InvokeMethod, "CheckVirtualSystemIsMigratableToHost", svc,
                       ComputerSystem=cs_path("no-such-guest"), DestinationHost=dest_socket,
                       MigrationSettingData=msd(MIGRATION_TYPE))
check(code == pywbem.CIM_ERR_NOT_FOUND and desc.startswith("No such domain"), "missing guest: %s %s" % (code, desc))
rv, out = conn.InvokeMethod("CheckVirtualSystemIsMigratableToHost", svc, ComputerSystem=cs_path(guest),
                            DestinationHost="/nonexistent/virtcim-sock", MigrationSettingData=msd(MIGRATION_TYPE))
check(rv == 0 and migratable(out) is False and "Failed to connect to remote host" in out["Reason"],
      "unreachable destination: %r %r" % (rv, out))
for bad in ("garbage", "<INSTANCE CLASSNAME='KVM_VirtualSystemMigrationSettingData'>"):
    code, desc = cim_error(conn.InvokeMethod, "MigrateVirtualSystemToHost", svc, ComputerSystem=cs_path(guest),
                           DestinationHost=dest_socket, MigrationSettingData=bad)
    # libvirt-CIM's method dispatch answers every unparsable embedded instance this way.
    check(code == pywbem.CIM_ERR_FAILED and desc == "Unable to parse embedded object",
          "unparsable settings %r: %s %s" % (bad, code, desc))
code, desc = cim_error(conn.InvokeMethod, "MigrateVirtualSystemToHost", svc, ComputerSystem=cs_path(guest),
                       DestinationHost="/nonexistent/virtcim-sock", MigrationSettingData=msd(MIGRATION_TYPE))
check(code == pywbem.CIM_ERR_FAILED and "Failed to connect to remote host" in desc, "migrate unreachable: %s" % desc)
check(conn.EnumerateInstanceNames("KVM_MigrationJob") == [], "refused migrations started no job")
wrong_type = 2 if mode == "offline" else 1
rv, out = conn.InvokeMethod("CheckVirtualSystemIsMigratableToHost", svc, ComputerSystem=cs_path(guest),
                            DestinationHost=dest_socket, MigrationSettingData=msd(wrong_type))
check(rv == 0 and migratable(out) is False and "Domain must be" in out["Reason"],
      "type unsuited to the guest's state: %r" % (out,))

# ---- the check passes, to the host and to the system ----
rv, out = conn.InvokeMethod("CheckVirtualSystemIsMigratableToHost", svc, ComputerSystem=cs_path(guest),
                            DestinationHost=dest_socket, MigrationSettingData=msd(MIGRATION_TYPE))
check(rv == 0 and migratable(out) is True, "migratable to host: %r" % (out,))
dsys = pywbem.CIMInstanceName("KVM_HostSystem", keybindings={"CreationClassName": "KVM_HostSystem",
                                                               "Name": dest_socket}, namespace=NS)
rv, out = conn.InvokeMethod("CheckVirtualSystemIsMigratableToSystem", svc, ComputerSystem=cs_path(guest),
                            DestinationSystem=dsys, MigrationSettingData=msd(MIGRATION_TYPE))
check(rv == 0 and migratable(out) is True, "migratable to system: %r" % (out,))

# ---- live: a slow migration shows its progress and is cancelled by RequestStateChange(Terminate) ----
if mode == "live":
    check(virsh_src("migrate-setspeed", guest, "1") is not None, "migration bandwidth 1 MiB/s")
    rv, out = conn.InvokeMethod("MigrateVirtualSystemToHost", svc, ComputerSystem=cs_path(guest),
                                DestinationHost=dest_socket, MigrationSettingData=msd(MIGRATION_TYPE))
    slow = out.get("Job")
    check(rv == 4096 and slow is not None, "slow migration started: %r %r" % (rv, out))
    deadline = time.time() + 120
    while True:
        state = conn.GetInstance(slow)
        if state["PercentComplete"] > 0 or state["JobState"] != 4:
            break
        check(time.time() < deadline, "the slow migration reports progress")
        time.sleep(0.2)
    check(state["JobState"] == 4 and 0 < state["PercentComplete"] < 100,
          "progress from the driver's job statistics: %s %s" % (state["JobState"], state["PercentComplete"]))
    print("slow migration at %d%%" % state["PercentComplete"])
    rv, _ = conn.InvokeMethod("RequestStateChange", slow, RequestedState=pywbem.Uint16(4))
    check(rv == 0, "Terminate answers 0: %r" % rv)
    state = conn.GetInstance(slow)
    check(state["JobState"] == 8, "the job is Terminated: %s %s" % (state["JobState"], state["JobStatus"]))
    check((virsh_src("domstate", guest) or "").strip() == "running", "the guest still runs on the source")
    check(virsh_dst("domstate", guest) is None, "nothing arrived on the destination")
    check(virsh_src("migrate-setspeed", guest, "8796093022207") is not None, "bandwidth unlimited again")
    conn.DeleteInstance(slow)

# ---- the migration ----
started = time.time()
rv, out = conn.InvokeMethod("MigrateVirtualSystemToHost", svc, ComputerSystem=cs_path(guest),
                            DestinationHost=dest_socket, MigrationSettingData=msd(MIGRATION_TYPE))
job = out.get("Job")
check(rv == 4096 and job is not None and job.classname == "KVM_MigrationJob", "4096 and a job: %r %r" % (rv, out))
first = conn.GetInstance(job)
check(first["Name"] == "Migration" and first["JobState"] in (4, 7), "job instance: %s" % first.tomof())
check(job in conn.EnumerateInstanceNames("CIM_ConcreteJob") or
      any(j["InstanceID"] == job["InstanceID"] for j in conn.EnumerateInstanceNames("CIM_ConcreteJob")),
      "a CIM_ConcreteJob enumeration lists it")
affected = conn.AssociatorNames(job, AssocClass="KVM_AffectedJobElement")
check([a["Name"] for a in affected] == [guest], "job -> the guest: %s" % affected)
percents = set()
deadline = time.time() + 600
while True:
    state = conn.GetInstance(job)
    percents.add(state["PercentComplete"])
    if state["JobState"] not in (2, 3, 4):
        break
    check(time.time() < deadline, "the migration job ends")
    time.sleep(0.2)
check(state["JobState"] == 7 and state["PercentComplete"] == 100,
      "job Completed: %s %s %s" % (state["JobState"], state["JobStatus"], state["ErrorDescription"]))
print("migration job completed in %.2f s (polled every 0.2 s); percents seen: %s"
      % (time.time() - started, sorted(int(p) for p in percents)))

# The guest is on the destination and gone from the source, as stock virsh sees it.
check(virsh_src("domstate", guest) is None, "the guest left the source")
dst_state = virsh_dst("domstate", guest)
want = "shut off" if mode == "offline" else "running"
check(dst_state is not None and dst_state.strip().startswith(want), "destination state %r" % dst_state)
check("yes" in (virsh_dst("dominfo", guest) or "").split("Persistent:")[1].split("\n")[0],
      "persistent on the destination")

if mode == "offline":
    jid = job["InstanceID"]
    is_job = lambda ind, cls: ind.classname == cls and (source_of(ind) or {}).get("InstanceID") == jid
    created = wait_ind(lambda i: is_job(i, "KVM_ComputerSystemMigrationJobCreatedIndication"), "job created")
    check(source_of(created).classname == "KVM_MigrationJob", "created: SourceInstance is the job")
    done = wait_ind(lambda i: is_job(i, "KVM_ComputerSystemMigrationJobModifiedIndication")
                    and source_of(i)["JobState"] == 7, "job completed")
    prev = done.properties.get("PreviousInstance")
    check(prev is not None and prev.value["JobState"] == 4 and "JobState" in done["ChangedPropertyNames"],
          "modified: PreviousInstance running, JobState changed")
    check(done["SourceInstanceModelPath"] and "KVM_MigrationJob" in done["SourceInstanceModelPath"],
          "SourceInstanceModelPath %s" % done["SourceInstanceModelPath"])
    wait_ind(lambda i: is_job(i, "KVM_ComputerSystemMigrationJobModifiedIndication")
             and i["IndicationFilterName"] == ISA_FILTER and source_of(i)["JobState"] == 7,
             "the ISA filter selects the job's modification")
    conn.DeleteInstance(job)
    wait_ind(lambda i: is_job(i, "KVM_ComputerSystemMigrationJobDeletedIndication"), "job deleted")
    # A migration the driver refuses (the test driver moves definitions offline only): the job ends in Exception
    # with the driver's error, GetError tells it, and the guest stays on the source. The destination has a guest
    # "test" too: NewSystemSettingData's ElementName names the guest there.
    code, desc = cim_error(conn.InvokeMethod, "MigrateVirtualSystemToHost", svc, ComputerSystem=cs_path("test"),
                           DestinationHost=dest_socket, MigrationSettingData=msd(3))
    check(code == pywbem.CIM_ERR_FAILED and "Remote already has domain `test'" in desc, "name taken: %s" % desc)
    renamed = pywbem.CIMInstance("KVM_VirtualSystemSettingData", properties={"ElementName": "test-elsewhere"})
    rv, out = conn.InvokeMethod("MigrateVirtualSystemToHost", svc, ComputerSystem=cs_path("test"),
                                DestinationHost=dest_socket, MigrationSettingData=msd(3),
                                NewSystemSettingData=renamed)
    check(rv == 4096, "resume migration started: %r" % rv)
    failed_job = out["Job"]
    deadline = time.time() + 60
    while conn.GetInstance(failed_job)["JobState"] == 4:
        check(time.time() < deadline, "the refused migration ends")
        time.sleep(0.1)
    end = conn.GetInstance(failed_job)
    check(end["JobState"] == 10 and "offline only" in (end["ErrorDescription"] or ""),
          "Exception with the driver's error: %s %s" % (end["JobState"], end["ErrorDescription"]))
    rv, out = conn.InvokeMethod("GetError", failed_job)
    check(rv == 0 and out["Error"] is not None and "offline only" in (out["Error"]["Message"] or ""),
          "GetError: %r" % out)
    check((virsh_src("domstate", "test") or "").strip() == "running", "the guest stays on the source")
    wait_ind(lambda i: i.classname == "KVM_ComputerSystemMigrationJobModifiedIndication"
             and source_of(i)["InstanceID"] == failed_job["InstanceID"] and source_of(i)["JobState"] == 10,
             "the failed job's indication")
    check(cim_error(conn.GetInstance, job)[0] == pywbem.CIM_ERR_NOT_FOUND, "the job is gone")
    # Another job (a snapshot of the source's "test" guest) raises DSP1054's plain CIM_InstCreation.
    vsss = conn.EnumerateInstanceNames("KVM_VirtualSystemSnapshotService")[0]
    rv, out = conn.InvokeMethod("CreateSnapshot", vsss, AffectedSystem=cs_path("test"),
                                SnapshotSettings=pywbem.CIMInstance("CIM_SettingData",
                                                                    properties={"ElementName": "migsnap"}),
                                SnapshotType=pywbem.Uint16(2))
    check(rv == 4096, "snapshot job: %r" % rv)
    sid_ = out["Job"]["InstanceID"]
    made = wait_ind(lambda i: i.classname == "CIM_InstCreation"
                    and (source_of(i) or {}).get("InstanceID") == sid_, "CIM_InstCreation of a KVM_ConcreteJob")
    check(source_of(made).classname == "KVM_ConcreteJob", "SourceInstance a KVM_ConcreteJob")
    wait_ind(lambda i: i.classname == "CIM_InstModification" and (source_of(i) or {}).get("InstanceID") == sid_
             and source_of(i)["JobState"] == 7, "CIM_InstModification of the finished snapshot job")
    time.sleep(1)
    for ind in seen + [got.get_nowait() for _ in range(got.qsize())]:
        if ind["IndicationFilterName"] == ISA_FILTER:
            check(source_of(ind).classname in ("KVM_MigrationJob", "KVM_ConcreteJob"),
                  "the ISA filter let %s through" % ind.classname)
    sm.remove_server(sid)
    listener.stop()

passed()
