"""virtcim peer test: one world. What stock virsh changes over the native RPC is seen at once through CIM
(pywbem), and what CIM changes is seen at once by virsh.

Usage: cim_world.py world WBEM_URL VIRSH_URI
       cim_world.py remote WBEM_URL REMOTE_VIRSH_URI LOCAL_VIRSH_URI
'world': the WBEM front and the RPC socket belong to one daemon. 'remote': the WBEM front serves the domains
of another daemon (wbem_connect_uri), checked with virsh against that daemon; the front's own driver stays
untouched.
Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import pywbem
from peerlib import check, passed

mode, url, virsh_uri = sys.argv[1], sys.argv[2], sys.argv[3]
local_uri = sys.argv[4] if mode == "remote" else None
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True)
NS = "root/virt"
CS = "KVM_ComputerSystem"
VSMS = "KVM_VirtualSystemManagementService"


def virsh(*args, uri=None):
    out = subprocess.run(["virsh", "-q", "-c", uri or virsh_uri] + list(args), capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return out.stdout


def must(*args):
    out = virsh(*args)
    check(out is not None, "virsh %s" % " ".join(args))
    return out


def cim_error(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except pywbem.CIMError as e:
        return e.status_code
    return 0


def cs_path(name):
    return pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS, "Name": name}, namespace=NS)


def rasd_path(cls, iid):
    return pywbem.CIMInstanceName(cls, keybindings={"InstanceID": iid}, namespace=NS)


def enabled(name):
    return conn.GetInstance(cs_path(name))["EnabledState"]


def rasd(cls, iid):
    try:
        return conn.GetInstance(rasd_path(cls, iid))
    except pywbem.CIMError as e:
        if e.status_code == pywbem.CIM_ERR_NOT_FOUND:
            return None
        raise


def redefine(name, change):
    """virsh dumpxml --inactive, change the tree, virsh define: how virsh users edit a configuration."""
    root = ET.fromstring(must("dumpxml", "--inactive", name))
    change(root)
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        f.write(ET.tostring(root, encoding="unicode"))
    try:
        must("define", f.name)
    finally:
        os.unlink(f.name)


def invoke(method, **params):
    rv, out = conn.InvokeMethod(method, VSMS, **params)
    check(rv == 0, "%s returned %r" % (method, rv))
    return out


def rsc(name, state):
    rv, _ = conn.InvokeMethod("RequestStateChange", cs_path(name), RequestedState=pywbem.Uint16(state))
    check(rv == 0, "RequestStateChange(%d) on %s" % (state, name))


def domstate(name):
    return (virsh("domstate", name) or "").strip()


if mode == "world":
    # ---- virsh -> CIM ----
    xml = ("<domain type='test'><name>w1</name><uuid>5f0c7a9e-0000-4000-8000-00000000aa01</uuid>"
           "<memory unit='KiB'>524288</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>"
           "<disk type='file' device='disk'><source file='/var/lib/images/w1.img'/><target dev='vda' bus='virtio'/>"
           "</disk><interface type='network'><mac address='52:54:00:77:00:01'/><source network='default'/>"
           "</interface></devices></domain>")
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        f.write(xml)
    must("define", f.name)
    os.unlink(f.name)
    check(enabled("w1") == 3, "virsh define -> CIM sees a defined, stopped system")
    check(conn.GetInstance(cs_path("w1"))["UUID"] == "5f0c7a9e-0000-4000-8000-00000000aa01", "UUID")
    m = rasd("KVM_MemResourceAllocationSettingData", "w1/mem")
    check(m is not None and m["VirtualQuantity"] == 524288, "memory RASD")
    check(rasd("KVM_DiskResourceAllocationSettingData", "w1/vda")["Address"] == "/var/lib/images/w1.img", "disk RASD")
    check(rasd("KVM_NetResourceAllocationSettingData", "w1/52:54:00:77:00:01") is not None, "NIC RASD")
    must("start", "w1")
    check(enabled("w1") == 2, "virsh start -> EnabledState 2")
    must("suspend", "w1")
    check(enabled("w1") == 9, "virsh suspend -> EnabledState 9")
    must("resume", "w1")
    check(enabled("w1") == 2, "virsh resume -> EnabledState 2")
    must("setmem", "w1", "262144", "--live")
    check(rasd("KVM_MemResourceAllocationSettingData", "w1/mem")["VirtualQuantity"] == 262144,
          "virsh setmem -> memory RASD")
    must("shutdown", "w1")
    check(enabled("w1") == 3, "virsh shutdown -> EnabledState 3")
    must("start", "w1")
    must("destroy", "w1")
    check(enabled("w1") == 3, "virsh destroy -> EnabledState 3")
    must("setvcpus", "w1", "3", "--config", "--maximum")
    must("setvcpus", "w1", "3", "--config")
    check(rasd("KVM_ProcResourceAllocationSettingData", "w1/proc")["VirtualQuantity"] == 3,
          "virsh setvcpus -> processor RASD")
    check(len(conn.AssociatorNames(cs_path("w1"), AssocClass="KVM_SystemDevice", ResultClass="KVM_Processor")) == 3,
          "three processor devices")

    def add_devices(root):
        devices = root.find("devices")
        disk = ET.SubElement(devices, "disk", type="file", device="disk")
        ET.SubElement(disk, "source", file="/var/lib/images/w1-data.img")
        ET.SubElement(disk, "target", dev="vdb", bus="virtio")
        nic = ET.SubElement(devices, "interface", type="network")
        ET.SubElement(nic, "mac", address="52:54:00:77:00:02")
        ET.SubElement(nic, "source", network="default")

    redefine("w1", add_devices)
    check(rasd("KVM_DiskResourceAllocationSettingData", "w1/vdb") is not None, "virsh disk add -> disk RASD")
    check(rasd("KVM_NetResourceAllocationSettingData", "w1/52:54:00:77:00:02") is not None, "virsh NIC add -> RASD")

    def remove_devices(root):
        devices = root.find("devices")
        for disk in devices.findall("disk"):
            if disk.find("target").get("dev") == "vdb":
                devices.remove(disk)
        for nic in devices.findall("interface"):
            if nic.find("mac").get("address") == "52:54:00:77:00:02":
                devices.remove(nic)

    redefine("w1", remove_devices)
    check(rasd("KVM_DiskResourceAllocationSettingData", "w1/vdb") is None, "virsh disk remove -> RASD gone")
    check(rasd("KVM_NetResourceAllocationSettingData", "w1/52:54:00:77:00:02") is None, "virsh NIC remove -> gone")
    must("undefine", "w1")
    check(cim_error(conn.GetInstance, cs_path("w1")) == pywbem.CIM_ERR_NOT_FOUND, "virsh undefine -> gone from CIM")

# ---- CIM -> virsh (both modes) ----
VSSD = pywbem.CIMInstance("KVM_VirtualSystemSettingData", properties={"VirtualSystemIdentifier": "c1"})
MEM = pywbem.CIMInstance("KVM_MemResourceAllocationSettingData",
                         properties={"ResourceType": pywbem.Uint16(4), "VirtualQuantity": pywbem.Uint64(512),
                                     "AllocationUnits": "MegaBytes"})
PROC = pywbem.CIMInstance("KVM_ProcResourceAllocationSettingData",
                          properties={"ResourceType": pywbem.Uint16(3), "VirtualQuantity": pywbem.Uint64(2)})
names_before = {p.keybindings["Name"] for p in conn.EnumerateInstanceNames(CS)}
remote_names = set((virsh("list", "--all", "--name") or "").split())
check(names_before == remote_names, "CIM enumerates the domains virsh lists: %r vs %r" % (names_before, remote_names))
out = invoke("DefineSystem", SystemSettings=VSSD, ResourceSettings=[MEM, PROC])
check(out["ResultingSystem"].keybindings["Name"] == "c1", "ResultingSystem")
check("c1" in (virsh("list", "--all", "--name") or "").split(), "CIM define -> virsh lists it")
if local_uri:
    check("c1" not in (virsh("list", "--all", "--name", uri=local_uri) or "").split(),
          "the front's own driver is untouched")
rsc("c1", 2)
check(domstate("c1") == "running", "CIM start -> virsh running")
rsc("c1", 9)
check(domstate("c1") == "paused", "CIM pause -> virsh paused")
rsc("c1", 2)
check(domstate("c1") == "running", "CIM resume -> virsh running")
invoke("ModifyResourceSettings", ResourceSettings=[
    pywbem.CIMInstance("KVM_MemResourceAllocationSettingData",
                       properties={"InstanceID": "c1/mem", "ResourceType": pywbem.Uint16(4),
                                   "VirtualQuantity": pywbem.Uint64(256), "AllocationUnits": "MegaBytes"})])
check(ET.fromstring(must("dumpxml", "c1")).find("currentMemory").text == "262144", "CIM memory -> virsh (live)")
invoke("ModifyResourceSettings", ResourceSettings=[
    pywbem.CIMInstance("KVM_ProcResourceAllocationSettingData",
                       properties={"InstanceID": "c1/proc", "ResourceType": pywbem.Uint16(3),
                                   "VirtualQuantity": pywbem.Uint64(1)})])
check(must("vcpucount", "c1", "--live", "--current").strip() == "1", "CIM vcpus -> virsh (live)")
check(ET.fromstring(must("dumpxml", "--inactive", "c1")).find("vcpu").text == "1", "CIM vcpus -> virsh (config)")
rsc("c1", 4)
check(domstate("c1") == "shut off", "CIM shutdown -> virsh shut off")
conf = pywbem.CIMInstanceName("KVM_VirtualSystemSettingData", keybindings={"InstanceID": "KVM:c1"}, namespace=NS)
invoke("AddResourceSettings", AffectedConfiguration=conf, ResourceSettings=[
    pywbem.CIMInstance("KVM_DiskResourceAllocationSettingData",
                       properties={"ResourceType": pywbem.Uint16(17), "VirtualDevice": "vdc",
                                   "Address": "/var/lib/images/c1.img"}),
    pywbem.CIMInstance("KVM_NetResourceAllocationSettingData",
                       properties={"ResourceType": pywbem.Uint16(10), "Address": "52:54:00:77:00:09",
                                   "NetworkType": "network", "PoolID": "NetworkPool/default"})])
x = ET.fromstring(must("dumpxml", "--inactive", "c1"))
check([d.find("target").get("dev") for d in x.findall("devices/disk")] == ["vdc"], "CIM disk add -> virsh")
check([i.find("mac").get("address") for i in x.findall("devices/interface")] == ["52:54:00:77:00:09"],
      "CIM NIC add -> virsh")
invoke("RemoveResourceSettings", ResourceSettings=[
    rasd_path("KVM_DiskResourceAllocationSettingData", "c1/vdc"),
    rasd_path("KVM_NetResourceAllocationSettingData", "c1/52:54:00:77:00:09")])
x = ET.fromstring(must("dumpxml", "--inactive", "c1"))
check(x.findall("devices/disk") == [] and x.findall("devices/interface") == [], "CIM remove -> virsh")
rsc("c1", 2)
invoke("DestroySystem", AffectedSystem=cs_path("c1"))
check("c1" not in (virsh("list", "--all", "--name") or "").split(), "CIM destroy -> virsh no longer lists it")

passed()
