"""virtcim: the host's virtual networks of qemu:///system seen through CIM, as on the test driver: one
KVM_NetworkPool per active network (plus the primordial NetworkPool/0), each with its KVM_AllocationCapabilities
(KVM_ElementCapabilities), hosted by the host system, and the NIC RASD of a guest on a network allocated from
that network's pool.

Usage: cim_netpools.py WBEM_URL GUEST NIC_MAC ACTIVE_NETWORK=BRIDGE... -INACTIVE_NETWORK...
Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import sys

import pywbem
from peerlib import check, passed

url, guest, mac = sys.argv[1], sys.argv[2], sys.argv[3]
active = dict(arg.split("=", 1) for arg in sys.argv[4:] if not arg.startswith("-"))
inactive = [arg[1:] for arg in sys.argv[4:] if arg.startswith("-")]
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True, timeout=120)


pools = {p["InstanceID"]: p for p in conn.EnumerateInstances("KVM_NetworkPool")}
expected = {"NetworkPool/0"} | {"NetworkPool/" + n for n in active}
check(set(pools) == expected, "network pools %s != %s" % (sorted(pools), sorted(expected)))
for name in inactive:
    check("NetworkPool/" + name not in pools, "inactive network %s has no pool" % name)
for name, bridge in active.items():
    pool = pools["NetworkPool/" + name]
    check(pool["ResourceType"] == 10 and not pool["Primordial"], "NetworkPool/%s type" % name)
    check(pool["Caption"] == "Bridge: " + bridge, "NetworkPool/%s caption %s" % (name, pool["Caption"]))
    got = conn.GetInstance(pool.path)
    check(got["InstanceID"] == pool["InstanceID"], "GetInstance NetworkPool/%s" % name)
    caps = conn.AssociatorNames(pool.path, AssocClass="KVM_ElementCapabilities")
    check([c["InstanceID"] for c in caps] == ["NetworkPool/" + name], "capabilities of NetworkPool/%s" % name)
    host = conn.AssociatorNames(pool.path, AssocClass="KVM_HostedResourcePool")
    check([h.classname for h in host] == ["KVM_HostSystem"], "NetworkPool/%s hosted by the host" % name)
caps = {c["InstanceID"] for c in conn.EnumerateInstances("KVM_AllocationCapabilities")}
check(expected <= caps, "allocation capabilities for every network pool")
# The guest's NIC, allocated from its network's pool.
net_of_guest = [n for n in active][0]
rasds = conn.AssociatorNames(pools["NetworkPool/" + net_of_guest].path, AssocClass="KVM_ResourceAllocationFromPool")
ids = sorted(str(r["InstanceID"]) for r in rasds)
check("%s/%s" % (guest, mac) in ids, "NIC RASD from NetworkPool/%s: %s" % (net_of_guest, ids))
rasd = [r for r in rasds if r["InstanceID"] == "%s/%s" % (guest, mac)][0]
inst = conn.GetInstance(rasd)
check(inst.classname == "KVM_NetResourceAllocationSettingData", "NIC RASD class %s" % inst.classname)
check(inst["PoolID"] == "NetworkPool/" + net_of_guest, "NIC RASD PoolID %s" % inst["PoolID"])
passed()
