"""virtcim peer test: KVM_ResourcePoolConfigurationService and its capabilities through the pywbem API: the pool
setting templates, CreateChildResourcePool (disk pools of type dir, fs and logical; isolated and NAT networks),
DeleteResourcePool, CreateResourceInPool / DeleteResourceInPool (storage volumes), each change checked with stock
virsh over the daemon's native RPC socket, and virsh's changes seen through CIM.

Usage: cim_pool_config.py WBEM_URL VIRSH_URI SCRATCH_DIR [qemu]
With "qemu" the server is a qemu:///system daemon: only dir pools and isolated networks are made (no devices,
volume groups or NAT on the host), with names unique to this run.
Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pywbem
from peerlib import check, cim_error, passed, virsh_on

url, virsh_uri, scratch = sys.argv[1], sys.argv[2], sys.argv[3]
virsh = virsh_on(virsh_uri)
real_host = len(sys.argv) > 4 and sys.argv[4] == "qemu"
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True)
NS = "root/virt"
RPCS = "KVM_ResourcePoolConfigurationService"
DPR = "KVM_DiskPoolResourceAllocationSettingData"
NPR = "KVM_NetPoolResourceAllocationSettingData"
SVR = "KVM_StorageVolumeResourceAllocationSettingData"
tag = "cim%d" % os.getpid()


def names(*args):
    return [line.split()[0] for line in (virsh(*args) or "").splitlines() if line.strip()]


def pool_path(kind, name):
    cls = "KVM_DiskPool" if kind == "DiskPool" else "KVM_NetworkPool"
    return pywbem.CIMInstanceName(cls, keybindings={"InstanceID": "%s/%s" % (kind, name)}, namespace=NS)


def caps_path(iid):
    return pywbem.CIMInstanceName("KVM_AllocationCapabilities", keybindings={"InstanceID": iid}, namespace=NS)


# --- the service, its capabilities and where they hang ---
svcs = conn.EnumerateInstances(RPCS)
check(len(svcs) == 1 and svcs[0]["Name"] == "RPCS" and svcs[0]["SystemCreationClassName"] == "KVM_HostSystem",
      "one RPCS instance %r" % [s.path for s in svcs])
svc = svcs[0].path
svc.namespace = NS
check(conn.GetInstance(svc)["EnabledState"] == 2, "RPCS GetInstance")
hosts = conn.AssociatorNames(svc, AssocClass="KVM_HostedService")
check([h.classname for h in hosts] == ["KVM_HostSystem"], "RPCS hosted by the host")
caps = conn.Associators(svc, AssocClass="KVM_ElementCapabilities")
check(len(caps) == 1 and caps[0]["InstanceID"] == "RPCC"
      and sorted(caps[0]["SynchronousMethodsSupported"]) == [3, 4], "RPCS -> RPCC %r" % caps)
check(conn.GetInstance(caps[0].path)["InstanceID"] == "RPCC", "RPCC GetInstance")

# --- the templates of the primordial pools ---
sdc = conn.References(caps_path("DiskPool/0"), ResultClass="KVM_SettingsDefineCapabilities")
disk_t = conn.Associators(caps_path("DiskPool/0"), AssocClass="KVM_SettingsDefineCapabilities")
check(all(t.classname == DPR for t in disk_t) and len(disk_t) == 28, "28 disk pool templates %r"
      % sorted(t["InstanceID"] for t in disk_t))
check(sorted({t["Type"] for t in disk_t}) == [1, 2, 3, 4, 5, 6, 7], "every pool type offered")
by_id = {t["InstanceID"]: t for t in disk_t}
check(by_id["Default/netfs"]["Host"] and by_id["Default/netfs"]["SourceDirectory"], "netfs template has source")
check(list(by_id["Default/fs"]["DevicePaths"]) == ["/dev/sda100"] and by_id["Default/fs"]["Path"],
      "fs template has a device and a path")
roles = {(r["PartComponent"]["InstanceID"], r["ValueRole"], r["ValueRange"]) for r in sdc}
check(("Default/dir", 0, 0) in roles and ("Minimum/logical", 3, 1) in roles, "template roles %r" % roles)
check(conn.GetInstance(by_id["Maximum/scsi"].path)["AdapterName"] == "host0", "a template by GetInstance")
net_t = conn.Associators(caps_path("NetworkPool/0"), AssocClass="KVM_SettingsDefineCapabilities")
check(all(t.classname == NPR for t in net_t) and len(net_t) == 20, "20 network pool templates %d" % len(net_t))
check(sorted({t["ForwardMode"] for t in net_t}) == [0, 1, 2], "every forward mode offered")
check(any(t["ForwardDevice"] for t in net_t) and all(t["IPRangeStart"] and t["Netmask"] for t in net_t),
      "network templates carry forward device, netmask and range")
check(conn.EnumerateInstanceNames(DPR) == [], "templates are not enumerated (as libvirt-CIM)")

# --- disk pools from disk pool settings ---
def disk_pool_rasd(ptype, path, **extra):
    t = by_id["Default/" + {1: "dir", 2: "fs", 6: "logical"}[ptype]].copy()
    del t.properties["InstanceID"]
    t["Path"] = path
    for k, v in extra.items():
        t.properties[k] = pywbem.CIMProperty(k, v, type="string", is_array=True)
    return t


made_pools = []
kinds = [(1, "dir")] if real_host else [(1, "dir"), (2, "fs"), (6, "logical")]
for ptype, word in kinds:
    name = "%s-%s" % (tag, word)
    path = os.path.join(scratch, name)
    extra = {}
    if word == "fs":
        extra["DevicePaths"] = ["/dev/loop%s" % tag]
    if word == "logical":
        extra["DevicePaths"] = []
    rv, out = conn.InvokeMethod("CreateChildResourcePool", svc, ElementName=name,
                                Settings=[disk_pool_rasd(ptype, path, **extra).tomof()])
    check(rv == 0 and out["Pool"]["InstanceID"] == "DiskPool/" + name, "CreateChildResourcePool %s: %r"
          % (word, out))
    made_pools.append(name)
    x = ET.fromstring(virsh("pool-dumpxml", name))
    check(x.get("type") == word and x.find("target/path").text == path, "virsh sees the %s pool" % word)
    check(name in names("pool-list", "--name"), "the %s pool is running" % word)
    if word == "fs":
        check(x.find("source/device").get("path") == "/dev/loop%s" % tag, "fs device kept")
    p = conn.GetInstance(out["Pool"])
    check(p["InstanceID"] == "DiskPool/" + name, "the new pool is a KVM_DiskPool")
    parents = conn.AssociatorNames(out["Pool"], AssocClass="KVM_ElementAllocatedFromPool", Role="Dependent")
    check([q["InstanceID"] for q in parents] == ["DiskPool/0"], "child of DiskPool/0")
check(os.path.isdir(os.path.join(scratch, "%s-dir" % tag)) or not real_host, "dir pool's directory built")

# Bad input: libvirt-CIM's codes and descriptions.
code, desc = cim_error(conn.InvokeMethod, "CreateChildResourcePool", svc, ElementName=made_pools[0],
                       Settings=[disk_pool_rasd(1, os.path.join(scratch, "again")).tomof()])
check(code == 1 and "already exists" in desc, "duplicate pool name: %r" % ((code, desc),))
code, desc = cim_error(conn.InvokeMethod, "CreateChildResourcePool", svc, ElementName=tag + "-bad",
                       Settings=[pywbem.CIMInstance(DPR, properties={"Type": pywbem.Uint16(9), "Path": "/x"}).tomof()])
check(code == 1 and "Storage pool type not supported" in desc, "bad pool type: %r" % ((code, desc),))
code, desc = cim_error(conn.InvokeMethod, "CreateChildResourcePool", svc, ElementName=tag + "-bad",
                       Settings=[pywbem.CIMInstance(DPR, properties={"Type": pywbem.Uint16(1)}).tomof()])
check(code == 1 and "Missing `Path'" in desc, "no path: %r" % ((code, desc),))
code, desc = cim_error(conn.InvokeMethod, "CreateChildResourcePool", svc, ElementName=tag + "-bad",
                       Settings=["instance of KVM_DiskPoolResourceAllocationSettingData { Type = "])
# libcmpiutil's answer for every method: FAILED "Unable to parse embedded object".
check((code, desc) == (1, "Unable to parse embedded object"), "unparsable embedded instance: %r" % ((code, desc),))
code, desc = cim_error(conn.InvokeMethod, "DeleteResourcePool", svc)
check(code == 4 and "Missing argument `Pool'" in desc, "DeleteResourcePool without a pool: %r" % ((code, desc),))
code, desc = cim_error(conn.InvokeMethod, "DeleteResourcePool", svc, Pool=pool_path("DiskPool", tag + "-none"))
check(code == 1 and "does not exist" in desc, "DeleteResourcePool of a missing pool: %r" % ((code, desc),))
if not real_host:
    # A pool type the driver does not model: the driver's own answer.
    code, desc = cim_error(conn.InvokeMethod, "CreateChildResourcePool", svc, ElementName=tag + "-nfs",
                           Settings=[pywbem.CIMInstance(DPR, properties=dict(
                               Type=pywbem.Uint16(3), Path=scratch, Host="h.example", SourceDirectory="/e")).tomof()])
    check(code != 0 and "netfs" in desc and tag + "-nfs" not in names("pool-list", "--all", "--name"),
          "netfs answers the driver's error and leaves nothing: %r" % ((code, desc),))

# --- volumes in a disk pool ---
dpool = made_pools[0]
vcaps = caps_path("DiskPool/" + dpool)
vol_t = [t for t in conn.Associators(vcaps, AssocClass="KVM_SettingsDefineCapabilities") if t.classname == SVR]
check(len(vol_t) == 4, "four new volume templates %r" % [t["InstanceID"] for t in vol_t])
vdef = [t for t in vol_t if t["InstanceID"].startswith("New Storage Volume Default")][0]
check(vdef["PoolID"] == "DiskPool/" + dpool and vdef["FormatType"] == 1 and vdef["AllocationUnits"] == "G",
      "volume template %r" % dict(vdef.items()))
check(conn.GetInstance(vdef.path)["VolumeName"] == "tmp.img", "volume template by GetInstance")
vol = pywbem.CIMInstance(SVR, properties=dict(VolumeName="v1.img", FormatType=pywbem.Uint16(2),
                                              Capacity=pywbem.Uint16(1), AllocationQuantity=pywbem.Uint16(0),
                                              AllocationUnits="M", Path=vdef["Path"]))
rv, out = conn.InvokeMethod("CreateResourceInPool", svc, Settings=vol.tomof(), Pool=pool_path("DiskPool", dpool))
check(rv == 0, "CreateResourceInPool rv %r" % rv)
res = out["Resource"]
check(res.classname == SVR and res["InstanceID"].endswith("/v1.img"), "Resource %r" % res)
vx = ET.fromstring(virsh("vol-dumpxml", "--pool", dpool, "v1.img"))
check(vx.find("capacity").text == str(1 << 20) and vx.find("target/format").get("type") == "qcow2",
      "virsh sees the volume: %s" % ET.tostring(vx))
got = conn.GetInstance(res)
check(got["VolumeName"] == "v1.img" and got["FormatType"] == 2 and got["VirtualQuantity"] == 1 << 20,
      "the volume by GetInstance %r" % dict(got.items()))
code, desc = cim_error(conn.InvokeMethod, "CreateResourceInPool", svc, Settings=vol.tomof(),
                       Pool=pool_path("DiskPool", dpool))
check(code != 0, "a second volume of the same name is refused: %r" % ((code, desc),))
code, desc = cim_error(conn.InvokeMethod, "CreateResourceInPool", svc,
                       Settings=pywbem.CIMInstance(SVR, properties=dict(VolumeName="v2.img")).tomof(),
                       Pool=pool_path("DiskPool", dpool))
check(code == 1 and "FormatType" in desc, "no format: %r" % ((code, desc),))
# A volume virsh makes is served too, and deleted through CIM by a disk RASD's Address (libvirt-CIM's way).
check(virsh("vol-create-as", dpool, "v3.img", "1M", "--format", "raw") is not None, "virsh vol-create-as")
v3 = virsh("vol-path", "--pool", dpool, "v3.img").strip()
check(conn.GetInstance(pywbem.CIMInstanceName(SVR, keybindings={"InstanceID": v3}, namespace=NS))["FormatType"] == 1,
      "virsh's volume through CIM")
for resource in [pywbem.CIMInstance("KVM_DiskResourceAllocationSettingData", properties=dict(Address=v3)),
                 got]:
    rv, _ = conn.InvokeMethod("DeleteResourceInPool", svc, Resource=resource.tomof(),
                              Pool=pool_path("DiskPool", dpool))
    check(rv == 0, "DeleteResourceInPool")
check(names("vol-list", dpool) == [], "volumes gone for virsh")
code, desc = cim_error(conn.InvokeMethod, "DeleteResourceInPool", svc, Resource=got.tomof(),
                       Pool=pool_path("DiskPool", dpool))
check(code != 0, "deleting a missing volume fails: %r" % ((code, desc),))
rv, _ = conn.InvokeMethod("RefreshResourcesInPool", svc, Pool=pool_path("DiskPool", dpool))
check(rv == 0, "RefreshResourcesInPool")

# --- network pools from network pool settings ---
modes = [(0, None)] if real_host else [(0, None), (1, "nat")]
for mode, word in modes:
    name = "%s-n%d" % (tag, mode)
    third = 100 + (os.getpid() % 50) + mode
    t = {"Address": "10.%d.%d.1" % (third, mode), "Netmask": "255.255.255.0",
         "IPRangeStart": "10.%d.%d.10" % (third, mode), "IPRangeEnd": "10.%d.%d.20" % (third, mode),
         "ForwardMode": pywbem.Uint16(mode), "ResourceType": pywbem.Uint16(10)}
    rv, out = conn.InvokeMethod("CreateChildResourcePool", svc, ElementName=name,
                                Settings=[pywbem.CIMInstance(NPR, properties=t)])
    check(rv == 0 and out["Pool"]["InstanceID"] == "NetworkPool/" + name, "network pool %s: %r" % (name, out))
    x = ET.fromstring(virsh("net-dumpxml", name))
    fwd = x.find("forward")
    check((fwd is None and word is None) or (fwd is not None and fwd.get("mode") == word),
          "forward mode for virsh: %s" % ET.tostring(x))
    rng = x.find("ip/dhcp/range")
    check(x.find("ip").get("address") == t["Address"] and rng.get("start") == t["IPRangeStart"]
          and rng.get("end") == t["IPRangeEnd"], "address and range for virsh")
    check(name in names("net-list", "--name"), "the network is running")
    check(conn.GetInstance(out["Pool"])["InstanceID"] == "NetworkPool/" + name, "the new KVM_NetworkPool")
    rv, _ = conn.InvokeMethod("DeleteResourcePool", svc, Pool=out["Pool"])
    check(rv == 0 and name not in names("net-list", "--all", "--name"), "network pool deleted for virsh")

# --- virsh's pools through CIM, and CIM deleting them ---
vname = tag + "-virsh"
vdir = os.path.join(scratch, vname)
check(virsh("pool-define-as", vname, "dir", "--target", vdir) is not None, "virsh pool-define-as")
check(virsh("pool-build", vname) is not None and virsh("pool-start", vname) is not None, "virsh pool-start")
check(conn.GetInstance(pool_path("DiskPool", vname))["InstanceID"] == "DiskPool/" + vname, "virsh's pool in CIM")
made_pools.append(vname)
for name in made_pools:
    rv, _ = conn.InvokeMethod("DeleteResourcePool", svc, Pool=pool_path("DiskPool", name))
    check(rv == 0, "DeleteResourcePool %s" % name)
    check(name not in names("pool-list", "--all", "--name"), "%s gone for virsh" % name)
    code, _ = cim_error(conn.GetInstance, pool_path("DiskPool", name))
    check(code == 6, "%s gone for CIM" % name)

# The methods CIM_ResourcePoolConfigurationService declares but libvirt-CIM never did: not supported.
code, _ = cim_error(conn.InvokeMethod, "CreateResourcePool", svc, ElementName="x")
check(code == 7, "CreateResourcePool not supported: %r" % code)
passed()
