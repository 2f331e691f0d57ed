"""virtcim host-side model test: pools, capabilities, host associations and profile registration through the
pywbem API, cross-checked against what virsh reports over the native RPC of the same daemon.

Usage: cim_host.py WBEM_URL LIBVIRT_URI
Sets up with virsh: a second storage pool "images", a volume in the test driver's pool, a network "lan" on
bridge virbr9, and a guest "poolguest" whose disk is that volume and whose NICs use the network "default" and
the bridge virbr9. Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import os
import subprocess
import sys
import tempfile

import pywbem
from peerlib import check, passed

url, uri = sys.argv[1], sys.argv[2]
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True, timeout=120)


def virsh(*args, stdin=None):
    out = subprocess.run(["virsh", "-q", "-c", uri] + list(args), input=stdin, capture_output=True, text=True)
    if out.returncode != 0:
        print("FAILED: virsh %s: %s" % (" ".join(args), out.stderr))
        sys.exit(1)
    return out.stdout


def names(text):
    return sorted(line.strip() for line in text.splitlines() if line.strip())


# --- setup through the native RPC ---
pool_dir = tempfile.mkdtemp(prefix="virtcim-images-")
virsh("pool-create-as", "images", "dir", "--target", pool_dir)
virsh("vol-create-as", "default-pool", "poolguest.img", "1G")
vol_path = virsh("vol-path", "--pool", "default-pool", "poolguest.img").strip()
with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
    f.write("<network><name>lan</name><bridge name='virbr9'/></network>")
    net_xml = f.name
virsh("net-create", net_xml)
with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
    f.write("""<domain type='test'><name>poolguest</name><memory unit='KiB'>524288</memory><vcpu>3</vcpu>
<os><type>hvm</type></os><devices>
<disk type='file' device='disk'><source file='%s'/><target dev='vda' bus='virtio'/></disk>
<interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/></interface>
<interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='virbr9'/></interface>
<input type='mouse' bus='ps2'/><graphics type='vnc' port='5901'/>
</devices></domain>""" % vol_path)
    dom_xml = f.name
virsh("define", dom_xml)
virsh("start", "poolguest")
for path in (net_xml, dom_xml):
    os.unlink(path)

# --- what virsh says ---
node = {}
for line in virsh("nodeinfo").splitlines():
    k, _, v = line.partition(":")
    node[k.strip()] = v.strip()
cpus = int(node["CPU(s)"])
memory_kib = int(node["Memory size"].split()[0])
active_pools = names(virsh("pool-list", "--name"))
active_nets = names(virsh("net-list", "--name"))
running = names(virsh("list", "--name"))
all_domains = names(virsh("list", "--all", "--name"))
running_mem = 0
for dom in running:
    for line in virsh("dominfo", dom).splitlines():
        if line.startswith("Used memory:"):
            running_mem += int(line.split(":")[1].split()[0])

# --- pools ---
pools = conn.EnumerateInstances("CIM_ResourcePool")
by_id = {p["InstanceID"]: p for p in pools}
expected = {"MemoryPool/0", "ProcessorPool/0", "GraphicsPool/0", "InputPool/0", "ControllerPool/0", "DiskPool/0",
            "NetworkPool/0"}
expected |= {"DiskPool/" + n for n in active_pools} | {"NetworkPool/" + n for n in active_nets}
check(set(by_id) == expected, "pool ids %s != %s" % (sorted(by_id), sorted(expected)))
for p in pools:
    check(p["PoolID"] == p["InstanceID"], "PoolID of %s" % p["InstanceID"])
    check(p["Primordial"] == p["InstanceID"].endswith("/0"), "Primordial of %s" % p["InstanceID"])
    check(p.path.classname == "KVM_" + p["InstanceID"].split("/")[0], "class of %s" % p["InstanceID"])
types = {"MemoryPool": 4, "ProcessorPool": 3, "DiskPool": 17, "NetworkPool": 10, "GraphicsPool": 24,
         "InputPool": 13, "ControllerPool": 32771}
for p in pools:
    check(p["ResourceType"] == types[p["InstanceID"].split("/")[0]], "ResourceType of %s" % p["InstanceID"])
mem = by_id["MemoryPool/0"]
check(mem["Capacity"] == memory_kib, "memory pool capacity %s vs virsh %s" % (mem["Capacity"], memory_kib))
check(mem["Reserved"] == running_mem, "memory pool reserved %s vs running guests %s" % (mem["Reserved"], running_mem))
check(mem["AllocationUnits"] == "byte*2^10", "memory pool units")
proc = by_id["ProcessorPool/0"]
check(proc["Capacity"] == cpus and proc["AllocationUnits"] == "Processors", "processor pool")
for name in active_pools:
    info = {}
    for line in virsh("pool-info", "--bytes", name).splitlines():
        k, _, v = line.partition(":")
        info[k.strip()] = v.strip()
    disk = by_id["DiskPool/" + name]
    check(disk["Capacity"] == int(info["Capacity"]) >> 20, "DiskPool/%s capacity" % name)
    check(disk["Reserved"] == int(info["Allocation"]) >> 20, "DiskPool/%s reserved" % name)
    check(disk["AllocationUnits"] == "Megabytes" and disk["OtherResourceType"] == "dir", "DiskPool/%s units" % name)
check(by_id["DiskPool/images"]["Path"] == pool_dir, "DiskPool/images Path")
check(by_id["NetworkPool/lan"]["Caption"] == "Bridge: virbr9", "NetworkPool/lan caption")
got = conn.GetInstance(by_id["DiskPool/images"].path)
check(got["Capacity"] == by_id["DiskPool/images"]["Capacity"], "GetInstance DiskPool/images")
try:
    conn.GetInstance(pywbem.CIMInstanceName("KVM_DiskPool", {"InstanceID": "DiskPool/nosuch"}))
    check(False, "GetInstance of a missing pool")
except pywbem.CIMError as e:
    check(e.status_code == pywbem.CIM_ERR_NOT_FOUND, "missing pool: NOT_FOUND")

# --- host associations ---
host = conn.EnumerateInstanceNames("KVM_HostSystem")[0]
hosted = conn.AssociatorNames(host, AssocClass="KVM_HostedResourcePool", ResultRole="PartComponent")
check(sorted(p["InstanceID"] for p in hosted) == sorted(expected), "HostedResourcePool from the host")
back = conn.AssociatorNames(by_id["NetworkPool/lan"].path, AssocClass="KVM_HostedResourcePool")
check([p.classname for p in back] == ["KVM_HostSystem"], "HostedResourcePool from a pool")
svc = conn.AssociatorNames(host, AssocClass="KVM_HostedService")
check(sorted(p["Name"] for p in svc) == ["ConsoleRedirectionService", "Management Service", "MigrationService",
                                         "RPCS", "SnapshotService"]
      and all(p["SystemName"] == host["Name"] for p in svc),
      "HostedService -> VSMS, RPCS, the snapshot, console redirection and migration services %s" % svc)

# --- capabilities ---
caps = conn.EnumerateInstances("KVM_AllocationCapabilities")
check(sorted(c["InstanceID"] for c in caps) == sorted(expected), "one AllocationCapabilities per pool")
for c in caps:
    check(c["ResourceType"] == by_id[c["InstanceID"]]["ResourceType"], "AC ResourceType %s" % c["InstanceID"])
for pool_id in ("MemoryPool/0", "DiskPool/images", "NetworkPool/default"):
    ac = conn.AssociatorNames(by_id[pool_id].path, AssocClass="KVM_ElementCapabilities")
    check([a["InstanceID"] for a in ac] == [pool_id], "ElementCapabilities pool %s -> %s" % (pool_id, ac))
vsmc = conn.EnumerateInstances("KVM_VirtualSystemManagementCapabilities")
check(len(vsmc) == 1 and vsmc[0]["InstanceID"] == "ManagementCapabilities", "VSMC instance")
check(list(vsmc[0]["VirtualSystemTypesSupported"]) == ["KVM"], "VSMC system types")
check(sorted(vsmc[0]["SynchronousMethodsSupported"]) == [2, 3, 5, 6, 7, 10], "VSMC synchronous methods")
host_caps = conn.AssociatorNames(host, AssocClass="KVM_ElementCapabilities")
check(sorted(c["InstanceID"] for c in host_caps) == ["ConsoleRedirectionCapabilities", "ManagementCapabilities",
                                                    "MigrationCapabilities"],
      "host -> VSMC, the console redirection and the migration capabilities")
elec = conn.EnumerateInstances("KVM_EnabledLogicalElementCapabilities")
check(sorted(e["InstanceID"] for e in elec) == all_domains, "one ELEC per guest")
for e in elec:
    check(list(e["RequestedStatesSupported"]) == [2, 3, 4, 9, 10, 11] and e["ElementNameEditSupported"] is False,
          "ELEC %s" % e["InstanceID"])
guest = pywbem.CIMInstanceName("KVM_ComputerSystem", {"CreationClassName": "KVM_ComputerSystem",
                                                       "Name": "poolguest"}, namespace="root/virt")
g_caps = conn.Associators(guest, AssocClass="KVM_ElementCapabilities")
check([c["InstanceID"] for c in g_caps] == ["poolguest"], "guest -> its ELEC")

# --- templates ---
mem_ac = [c for c in caps if c["InstanceID"] == "MemoryPool/0"][0].path
sdc = conn.References(mem_ac, ResultClass="KVM_SettingsDefineCapabilities")
roles = sorted((r["PartComponent"]["InstanceID"], r["ValueRole"], r["ValueRange"], r["PropertyPolicy"]) for r in sdc)
check(roles == [("Default", 0, 0, 0), ("Increment", 3, 3, 0), ("Maximum", 3, 2, 0), ("Minimum", 3, 1, 0)],
      "memory SettingsDefineCapabilities %s" % roles)
templates = {t["InstanceID"]: t for t in conn.Associators(mem_ac, AssocClass="KVM_SettingsDefineCapabilities")}
check(sorted(templates) == ["Default", "Increment", "Maximum", "Minimum"], "memory templates %s" % sorted(templates))
check(templates["Default"]["VirtualQuantity"] == 262144 and templates["Default"]["AllocationUnits"] == "KiloBytes",
      "memory Default template")
check(templates["Maximum"]["VirtualQuantity"] == memory_kib, "memory Maximum template = host memory")
proc_ac = [c for c in caps if c["InstanceID"] == "ProcessorPool/0"][0].path
ptempl = {t["InstanceID"]: t for t in conn.Associators(proc_ac, AssocClass="KVM_SettingsDefineCapabilities")}
check(ptempl["Maximum"]["VirtualQuantity"] == cpus and ptempl["Default"]["Weight"] == 1024, "processor templates")
ctl_ac = [c for c in caps if c["InstanceID"] == "ControllerPool/0"][0].path
check(conn.AssociatorNames(ctl_ac, AssocClass="KVM_SettingsDefineCapabilities") == [], "no controller templates")

# --- allocations from pools ---
def alloc(pool_id, assoc):
    return sorted(str(p.keybindings.get("DeviceID") or p["InstanceID"])
                  for p in conn.AssociatorNames(by_id[pool_id].path, AssocClass=assoc, ResultRole="Dependent")
                  if p.keybindings.get("SystemName", "poolguest") == "poolguest"
                  and str(p.keybindings.get("DeviceID") or p["InstanceID"]).startswith("poolguest/"))


check(alloc("ProcessorPool/0", "KVM_ElementAllocatedFromPool") == ["poolguest/0", "poolguest/1", "poolguest/2"],
      "processor devices from ProcessorPool/0: %s" % alloc("ProcessorPool/0", "KVM_ElementAllocatedFromPool"))
check(alloc("MemoryPool/0", "KVM_ElementAllocatedFromPool") == ["poolguest/mem"], "memory device")
check(alloc("DiskPool/default-pool", "KVM_ElementAllocatedFromPool") == ["poolguest/vda"],
      "disk in its storage pool: %s" % alloc("DiskPool/default-pool", "KVM_ElementAllocatedFromPool"))
check(alloc("NetworkPool/default", "KVM_ElementAllocatedFromPool") == ["poolguest/52:54:00:00:00:01"], "NIC on default")
check(alloc("NetworkPool/lan", "KVM_ElementAllocatedFromPool") == ["poolguest/52:54:00:00:00:02"],
      "bridged NIC in the network owning the bridge")
check(alloc("InputPool/0", "KVM_ElementAllocatedFromPool") == ["poolguest/mouse:ps2"], "input device")
check(alloc("GraphicsPool/0", "KVM_ElementAllocatedFromPool") == ["poolguest/vnc"], "graphics device")
check(alloc("DiskPool/default-pool", "KVM_ResourceAllocationFromPool") == ["poolguest/vda"], "disk RASD from pool")
check(alloc("MemoryPool/0", "KVM_ResourceAllocationFromPool") == ["poolguest/mem"], "memory RASD from pool")
children = conn.AssociatorNames(by_id["DiskPool/0"].path, AssocClass="KVM_ElementAllocatedFromPool",
                                Role="Antecedent")
check(sorted(p["InstanceID"] for p in children) == sorted("DiskPool/" + n for n in active_pools),
      "child disk pools of DiskPool/0")
rasd = pywbem.CIMInstanceName("KVM_DiskResourceAllocationSettingData", {"InstanceID": "poolguest/vda"},
                              namespace="root/virt")
from_pool = conn.Associators(rasd, AssocClass="KVM_ResourceAllocationFromPool")
check([p["InstanceID"] for p in from_pool] == ["DiskPool/default-pool"], "RASD -> its pool")

# --- profiles, root/interop and back ---
profiles = conn.EnumerateInstances("CIM_RegisteredProfile", namespace="root/interop")
check(len(profiles) == 14, "14 registered profiles (libvirt-CIM's 13 and Indications)")
for p in profiles:
    check(p["RegisteredOrganization"] == 2 and list(p["AdvertiseTypes"]) == [3], "profile %s org/advertise"
          % p["InstanceID"])
ids = {p["InstanceID"]: p for p in profiles}
sv = ids["CIM:DSP1042-SystemVirtualization-1.0.0"]
check(sv["RegisteredName"] == "System Virtualization" and sv["RegisteredVersion"] == "1.0.0", "DSP1042 row")
vs = ids["CIM:DSP1057-VirtualSystem-1.0.0a"]
check(vs["RegisteredName"] == "Virtual System Profile" and vs["RegisteredVersion"] == "1.0.0a", "DSP1057 row")
extra = pywbem.CIMInstanceName("KVM_RegisteredProfile", keybindings={
    "InstanceID": "CIM:DSP1042-SystemVirtualization-1.0.0", "RegisteredName": "System Virtualization"},
    namespace="root/interop")
check(conn.GetInstance(extra)["RegisteredVersion"] == "1.0.0", "extra keys in a profile path are ignored")
# A console starting from root/interop reaches the host and the guests through ElementConformsToProfile.
hosts = conn.Associators(sv.path, AssocClass="CIM_ElementConformsToProfile", ResultClass="KVM_HostSystem")
check(len(hosts) == 1 and hosts[0].path.namespace == "root/virt" and hosts[0]["Name"] == host["Name"],
      "System Virtualization -> host in root/virt")
guests = conn.Associators(vs.path, AssocClass="CIM_ElementConformsToProfile")
check(sorted(g["Name"] for g in guests) == all_domains, "Virtual System -> every guest")
back = conn.AssociatorNames(guest, AssocClass="KVM_ElementConformsToProfile")
check(all(p.namespace == "root/interop" for p in back), "guest -> profiles in root/interop")
check("CIM:DSP1057-VirtualSystem-1.0.0a" in [p["InstanceID"] for p in back], "guest conforms to DSP1057")
back_inst = conn.Associators(host, AssocClass="KVM_ElementConformsToProfile")
check(sorted(p["InstanceID"] for p in back_inst) == ["CIM:DSP1042-SystemVirtualization-1.0.0",
                                                     "CIM:DSP1076-KVMRedirection-1.0.0"],
      "host -> its profiles (instances fetched across namespaces)")
scoped = conn.AssociatorNames(sv.path, AssocClass="KVM_ReferencedProfile", Role="Antecedent")
check(len(scoped) == 11, "System Virtualization scopes 11 profiles, got %d" % len(scoped))
scoping = conn.AssociatorNames(sv.path, AssocClass="KVM_ReferencedProfile", Role="Dependent")
check([p["InstanceID"] for p in scoping] == ["CIM:DSP1057-VirtualSystem-1.0.0a"], "DSP1042 is scoped by DSP1057")

# Every registered profile is implemented: each has conforming elements, and every ElementConformsToProfile
# reference resolves to an existing instance.
ectps = conn.EnumerateInstances("KVM_ElementConformsToProfile", namespace="root/interop")
for p in profiles:
    check(any(e["ConformantStandard"]["InstanceID"] == p["InstanceID"] for e in ectps),
          "profile %s has conforming elements" % p["InstanceID"])
seen = set()
for e in ectps:
    for role in ("ConformantStandard", "ManagedElement"):
        ref = e[role]
        key = str(ref)
        if key in seen:
            continue
        seen.add(key)
        check(conn.GetInstance(ref).path.classname.lower() == ref.classname.lower(), "%s resolves" % ref)

# pywbem's WBEMServer finds the interop namespace and the profiles, and the central instances by ECTP.
server = pywbem.WBEMServer(conn)
check(server.interop_ns == "root/interop", "interop namespace %s" % server.interop_ns)
found = server.get_selected_profiles(registered_org="DMTF", registered_name="System Virtualization")
check(len(found) == 1, "WBEMServer.get_selected_profiles")
central = server.get_central_instances(found[0].path, central_class="KVM_HostSystem")
check([c["Name"] for c in central] == [host["Name"]], "WBEMServer.get_central_instances -> host %s" % central)

try:
    os.rmdir(pool_dir)
except OSError:
    pass
passed()
