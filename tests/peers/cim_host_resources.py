"""virtcim host resources test (libvirt-CIM's Virt_ConcreteComponent): the host's processors and its networks'
bridges in root/cimv2 (Linux_Processor, Linux_EthernetPort, sblim-cmpi-base's names), and KVM_ConcreteComponent
from the processor pool to each processor and from each network pool to its bridge, served in root/virt and
root/cimv2. Every association is walked both ways, with and without AssocClass/ResultClass/Role/ResultRole, and
a network started and destroyed through virsh over the native RPC of the same daemon shows up and goes.

Usage: cim_host_resources.py WBEM_URL LIBVIRT_URI [USER PASSWORD]
Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import os
import sys
import tempfile

import pywbem
from peerlib import check, cim_error, passed, virsh_on

url, uri = sys.argv[1], sys.argv[2]
creds = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else None
conn = pywbem.WBEMConnection(url, creds, default_namespace="root/virt", no_verification=True, timeout=120)
virsh = virsh_on(uri)
VIRT, CIMV2 = "root/virt", "root/cimv2"
CC = "KVM_ConcreteComponent"
NOT_FOUND = pywbem.CIM_ERR_NOT_FOUND


def ident(path):
    """A path's identity: class, namespace (defaulting to `ns`), keys."""
    return (path.classname.lower(), (path.namespace or "").lower(),
            tuple(sorted((k.lower(), str(v)) for k, v in path.keybindings.items())))


def idents(paths):
    return sorted(ident(p) for p in paths)


def in_ns(path, ns):
    p = path.copy()
    p.host = None
    p.namespace = p.namespace or ns
    return p


host = conn.EnumerateInstanceNames("KVM_HostSystem")[0]["Name"]

# ---- processors ----------------------------------------------------------------------------------------------
pool = conn.GetInstance(pywbem.CIMInstanceName("KVM_ProcessorPool", {"InstanceID": "ProcessorPool/0"}, namespace=VIRT))
cpus = conn.EnumerateInstances("Linux_Processor", namespace=CIMV2)
check(len(cpus) == pool["Capacity"] > 0, "one Linux_Processor per host CPU: %d vs pool capacity %s"
      % (len(cpus), pool["Capacity"]))
check(sorted(int(c["DeviceID"]) for c in cpus) == list(range(len(cpus))), "processors numbered from 0")
for c in cpus:
    check(c["SystemCreationClassName"] == "KVM_HostSystem" and c["SystemName"] == host
          and c["CreationClassName"] == "Linux_Processor", "processor keys: %s" % c.path)
    check(c["Role"] == "Central Processor" and c["EnabledState"] == 2, "processor properties: %s" % c.path)
    got = conn.GetInstance(in_ns(c.path, CIMV2))
    check(ident(in_ns(got.path, CIMV2)) == ident(in_ns(c.path, CIMV2)), "GetInstance processor %s" % c.path)
# Names only: the same set; a class that is only declared in root/virt has no instances there.
check(idents(in_ns(p, CIMV2) for p in conn.EnumerateInstanceNames("Linux_Processor", namespace=CIMV2))
      == idents(in_ns(c.path, CIMV2) for c in cpus), "EnumerateInstanceNames Linux_Processor")
check(conn.EnumerateInstanceNames("Linux_Processor", namespace=VIRT) == [], "no Linux_Processor in root/virt")
# The parent class finds them too.
check(len(conn.EnumerateInstanceNames("CIM_Processor", namespace=CIMV2)) == len(cpus), "CIM_Processor in root/cimv2")


def cpu_path(device, **keys):
    kb = {"CreationClassName": "Linux_Processor", "DeviceID": device, "SystemCreationClassName": "KVM_HostSystem",
          "SystemName": host}
    kb.update(keys)
    return pywbem.CIMInstanceName("Linux_Processor", {k: v for k, v in kb.items() if v is not None}, namespace=CIMV2)


for bad in [cpu_path(str(len(cpus))), cpu_path("01"), cpu_path("x"), cpu_path("0", SystemName="other-host"),
            cpu_path("0", SystemCreationClassName="KVM_ComputerSystem"), cpu_path("0", SystemName=None)]:
    check(cim_error(conn.GetInstance, bad)[0] == NOT_FOUND, "GetInstance %s: NOT_FOUND" % bad)

pool_path = in_ns(pool.path, VIRT)
cpu_ids = idents(in_ns(c.path, CIMV2) for c in cpus)
for kw in [{}, {"AssocClass": CC}, {"AssocClass": "CIM_Component"}, {"ResultClass": "Linux_Processor"},
           {"ResultClass": "CIM_Processor"}, {"Role": "GroupComponent"}, {"ResultRole": "PartComponent"},
           {"AssocClass": CC, "ResultClass": "Linux_Processor", "Role": "GroupComponent",
            "ResultRole": "PartComponent"}]:
    got = [p for p in conn.AssociatorNames(pool_path, **kw) if p.classname == "Linux_Processor"]
    check(idents(in_ns(p, CIMV2) for p in got) == cpu_ids, "pool -> processors %s: %d" % (kw, len(got)))
for kw in [{"Role": "PartComponent", "AssocClass": CC}, {"ResultRole": "GroupComponent", "AssocClass": CC},
           {"ResultClass": "Linux_EthernetPort"}]:
    check(conn.AssociatorNames(pool_path, **kw) == [], "pool -> nothing with %s" % kw)
insts = conn.Associators(pool_path, AssocClass=CC)
check(sorted(i["DeviceID"] for i in insts) == sorted(c["DeviceID"] for c in cpus), "Associators instances")
refs = conn.References(pool_path, ResultClass=CC)
check(len(refs) == len(cpus), "pool References: %d" % len(refs))
for r in refs:
    check(ident(in_ns(r["GroupComponent"], VIRT)) == ident(pool_path), "reference GroupComponent")
    check(r["PartComponent"].namespace == CIMV2, "the part is in root/cimv2: %s" % r["PartComponent"])
    got = conn.GetInstance(in_ns(r.path, VIRT))
    check(ident(in_ns(got["PartComponent"], CIMV2)) == ident(in_ns(r["PartComponent"], CIMV2)),
          "GetInstance ConcreteComponent")
check(len(conn.ReferenceNames(pool_path, ResultClass=CC, Role="GroupComponent")) == len(cpus), "ReferenceNames Role")
check(conn.ReferenceNames(pool_path, ResultClass=CC, Role="PartComponent") == [], "ReferenceNames wrong role")

# From a processor, in root/cimv2, back to the pool in root/virt.
one = in_ns(cpus[0].path, CIMV2)
for kw in [{}, {"AssocClass": CC}, {"ResultClass": "KVM_ProcessorPool"}, {"ResultClass": "CIM_ResourcePool"},
           {"Role": "PartComponent", "ResultRole": "GroupComponent"}]:
    got = conn.AssociatorNames(one, **kw)
    check(idents(in_ns(p, VIRT) for p in got) == [ident(pool_path)], "processor -> pool %s: %s" % (kw, got))
check(conn.AssociatorNames(one, Role="GroupComponent") == [], "processor is no GroupComponent")
check(conn.AssociatorNames(one, ResultClass="KVM_NetworkPool") == [], "processor -> no network pool")
back = conn.Associators(one)
check(len(back) == 1 and back[0]["Capacity"] == len(cpus), "processor -> pool instance")
refs = conn.References(one, ResultClass=CC, Role="PartComponent")
check(len(refs) == 1 and ident(in_ns(refs[0]["GroupComponent"], VIRT)) == ident(pool_path), "processor References")
# Both namespaces serve the same association instances.
both = [idents(in_ns(p, ns) for p in conn.EnumerateInstanceNames(CC, namespace=ns)) for ns in (VIRT, CIMV2)]
check(len(both[0]) == len(both[1]) and len(both[0]) >= len(cpus), "KVM_ConcreteComponent in both namespaces")
# Other pools have no parts; a missing processor has no associations (the object must exist).
check(conn.AssociatorNames(pywbem.CIMInstanceName("KVM_MemoryPool", {"InstanceID": "MemoryPool/0"}, namespace=VIRT),
                           AssocClass=CC) == [], "memory pool: no parts")
check(cim_error(conn.AssociatorNames, cpu_path(str(len(cpus))))[0] == NOT_FOUND, "missing processor: NOT_FOUND")

# ---- network pools and their bridges ---------------------------------------------------------------------------


def net_pools():
    """{network name: bridge} from the network pools' captions ("Bridge: virbr0")."""
    out = {}
    for p in conn.EnumerateInstances("KVM_NetworkPool", namespace=VIRT):
        name = p["InstanceID"].split("/", 1)[1]
        if name != "0":
            out[name] = (p["Caption"] or "").replace("Bridge: ", "")
    return out


def check_networks():
    pools = net_pools()
    ports = {p["DeviceID"]: p for p in conn.EnumerateInstances("Linux_EthernetPort", namespace=CIMV2)}
    check(set(ports) == {b for b in pools.values() if b}, "one port per bridge: %s vs %s" % (sorted(ports), pools))
    for name, bridge in pools.items():
        path = pywbem.CIMInstanceName("KVM_NetworkPool", {"InstanceID": "NetworkPool/" + name}, namespace=VIRT)
        for kw in [{}, {"AssocClass": CC}, {"ResultClass": "Linux_EthernetPort"}, {"ResultClass": "CIM_EthernetPort"},
                   {"Role": "GroupComponent", "ResultRole": "PartComponent", "AssocClass": CC}]:
            got = [p for p in conn.AssociatorNames(path, **kw) if p.classname == "Linux_EthernetPort"]
            check([p["DeviceID"] for p in got] == [bridge], "pool %s -> port %s: %s" % (name, kw, got))
            check(all(p.namespace == CIMV2 for p in got), "port paths name root/cimv2")
        check([p for p in conn.AssociatorNames(path, ResultClass="Linux_Processor")] == [], "net pool: no CPUs")
        port = in_ns(ports[bridge].path, CIMV2)
        check(ports[bridge]["SystemName"] == host and ports[bridge]["LinkTechnology"] == 2, "port properties")
        got = conn.GetInstance(port)
        check(got["Name"] == bridge and got["ElementName"] == bridge, "GetInstance port")
        for kw in [{}, {"AssocClass": CC}, {"ResultClass": "KVM_NetworkPool"}, {"Role": "PartComponent"},
                   {"ResultRole": "GroupComponent"}]:
            got = [p for p in conn.AssociatorNames(port, **kw) if p.classname == "KVM_NetworkPool"]
            check(sorted(p["InstanceID"] for p in got) ==
                  sorted("NetworkPool/" + n for n, b in pools.items() if b == bridge), "port -> pool %s" % kw)
        check(conn.AssociatorNames(port, Role="GroupComponent") == [], "port is no GroupComponent")
        refs = conn.References(port, ResultClass=CC)
        check(len(refs) >= 1 and all(r["PartComponent"]["DeviceID"] == bridge for r in refs), "port References")
        for r in conn.ReferenceNames(path, ResultClass=CC, Role="GroupComponent"):
            check(conn.GetInstance(in_ns(r, VIRT))["PartComponent"]["DeviceID"] == bridge, "GetInstance ref")
    return pools, ports


pools, ports = check_networks()
check(len(pools) >= 1, "the test driver's default network is a pool")
missing = pywbem.CIMInstanceName("Linux_EthernetPort", {"CreationClassName": "Linux_EthernetPort",
                                                        "DeviceID": "nosuchbr0", "SystemCreationClassName":
                                                        "KVM_HostSystem", "SystemName": host}, namespace=CIMV2)
check(cim_error(conn.GetInstance, missing)[0] == NOT_FOUND, "missing port: NOT_FOUND")

# A network started through virsh appears with its bridge; destroyed, it goes.
net = "cimres%d" % os.getpid()
bridge = "vbr%d" % (os.getpid() % 100000)
with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
    f.write("<network><name>%s</name><bridge name='%s'/><mac address='52:54:00:12:34:56'/>"
            "<ip address='192.168.231.1' netmask='255.255.255.0'/></network>" % (net, bridge))
try:
    check(virsh("net-create", f.name) is not None, "virsh net-create")
finally:
    os.unlink(f.name)
try:
    pools, ports = check_networks()
    check(pools.get(net) == bridge and bridge in ports, "the new network's bridge is a port")
    check(ports[bridge]["PermanentAddress"] == "525400123456", "PermanentAddress: %s" % ports[bridge]["PermanentAddress"])
finally:
    virsh("net-destroy", net)
pools, ports = check_networks()
check(net not in pools and bridge not in ports, "the destroyed network's port is gone")

passed()
