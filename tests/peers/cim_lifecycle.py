"""virtcim CIM guest lifecycle steps through pywbem: the calls a CIM console makes to define, start, change and
destroy a guest. Each run prints what CIM answered, so two servers (one on qemu:///system, one a gateway over
qemu+tls://) can be compared line by line.

Usage: cim_lifecycle.py URL ACTION NAME [ARGS]
  define NAME DISK MAC     DefineSystem: 64 MiB, 1 vCPU, an IDE disk on DISK, a user-mode NIC MAC, AutoStart 1
  state NAME N             RequestStateChange N, then EnabledState and RequestedState
  memory NAME KIB          ModifyResourceSettings of the memory setting (the balloon target)
  addnic NAME MAC          AddResourceSettings of a user-mode NIC
  autostart NAME 0|1       ModifySystemSettings with the VSSD read back and AutoStart changed
  show NAME                the VSSD's AutoStart, the state, memory and the NICs as CIM serves them
  destroy NAME             DestroySystem, then what GetInstance answers
"""
import sys

import pywbem

NS = "root/virt"
url, action, name = sys.argv[1], sys.argv[2], sys.argv[3]
args = sys.argv[4:]
conn = pywbem.WBEMConnection(url, None, default_namespace=NS, no_verification=True)
svc = conn.EnumerateInstanceNames("KVM_VirtualSystemManagementService")[0]
CS = "KVM_ComputerSystem"
cs = pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS, "Name": name}, namespace=NS)
vssd_path = pywbem.CIMInstanceName("KVM_VirtualSystemSettingData", {"InstanceID": "KVM:" + name}, namespace=NS)


def inst(cls, **props):
    return pywbem.CIMInstance(cls, properties=props)


def nic(mac):
    return inst("KVM_NetResourceAllocationSettingData", ResourceType=pywbem.Uint16(10), NetworkType="user",
                Address=mac)


def call(method, **params):
    try:
        rv, out = conn.InvokeMethod(method, svc, **params)
        print("%s return %d" % (method, rv))
        return out
    except pywbem.CIMError as err:
        print("%s error %d %s" % (method, err.status_code, err.status_description))
        return None


def rasds(cls):
    found = [r for r in conn.EnumerateInstances(cls) if r["InstanceID"].startswith(name + "/")]
    return sorted(found, key=lambda r: r["InstanceID"])


if action == "define":
    disk, mac = args
    vssd = inst("KVM_VirtualSystemSettingData", VirtualSystemIdentifier=name, VirtualSystemType="KVM",
                AutoStart=pywbem.Uint16(1))
    out = call("DefineSystem", SystemSettings=vssd, ResourceSettings=[
        inst("KVM_MemResourceAllocationSettingData", ResourceType=pywbem.Uint16(4),
             VirtualQuantity=pywbem.Uint64(64 * 1024), AllocationUnits="KiloBytes"),
        inst("KVM_ProcResourceAllocationSettingData", ResourceType=pywbem.Uint16(3),
             VirtualQuantity=pywbem.Uint64(1)),
        inst("KVM_DiskResourceAllocationSettingData", ResourceType=pywbem.Uint16(17), Address=disk,
             VirtualDevice="hda", BusType="ide"),
        nic(mac)])
    if out is not None:
        print("system %s" % out["ResultingSystem"].keybindings["Name"])
    for d in rasds("KVM_DiskResourceAllocationSettingData"):
        print("disk %s %s %s %s" % (d["InstanceID"], d["VirtualQuantity"], d["AllocationUnits"], d["DriverType"]))
elif action == "state":
    try:
        rv, _ = conn.InvokeMethod("RequestStateChange", cs, RequestedState=pywbem.Uint16(int(args[0])))
        print("RequestStateChange return %d" % rv)
    except pywbem.CIMError as err:
        print("RequestStateChange error %d %s" % (err.status_code, err.status_description))
    i = conn.GetInstance(cs)
    print("state %d %d" % (i["EnabledState"], i["RequestedState"]))
elif action == "memory":
    mem = inst("KVM_MemResourceAllocationSettingData", InstanceID=name + "/mem", ResourceType=pywbem.Uint16(4),
               VirtualQuantity=pywbem.Uint64(int(args[0])), AllocationUnits="KiloBytes")
    call("ModifyResourceSettings", ResourceSettings=[mem])
elif action == "addnic":
    vssd = pywbem.CIMInstanceName("KVM_VirtualSystemSettingData", {"InstanceID": "KVM:" + name}, namespace=NS)
    out = call("AddResourceSettings", AffectedConfiguration=vssd, ResourceSettings=[nic(args[0])])
    if out is not None:
        print("added %s" % [p["InstanceID"] for p in out["ResultingResourceSettings"]])
elif action == "autostart":
    vssd = conn.GetInstance(vssd_path)
    vssd["AutoStart"] = pywbem.Uint16(int(args[0]))
    call("ModifySystemSettings", SystemSettings=vssd)
elif action == "show":
    vssd = conn.GetInstance(vssd_path)
    i = conn.GetInstance(cs)
    print("autostart %d" % vssd["AutoStart"])
    print("state %d %d" % (i["EnabledState"], i["RequestedState"]))
    for m in rasds("KVM_MemResourceAllocationSettingData"):
        print("memory %s %s %s" % (m["VirtualQuantity"], m["Limit"], m["AllocationUnits"]))
    for n in rasds("KVM_NetResourceAllocationSettingData"):
        print("nic %s %s %s" % (n["InstanceID"], n["NetworkType"], n["ResourceSubType"]))
elif action == "destroy":
    call("DestroySystem", AffectedSystem=cs)
    try:
        conn.GetInstance(cs)
        print("still there")
    except pywbem.CIMError as err:
        print("GetInstance error %d" % err.status_code)
else:
    sys.exit("unknown action %s" % action)
