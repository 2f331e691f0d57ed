"""virtcim per-guest model check with pywbem: VSSD, RASDs, devices and their associations.

Usage: cim_guest.py URL
Expects the domain "rich" (running; disks vda file in default-pool, vdb block, hdc cdrom; NICs network, bridge,
user; vnc graphics; mouse+tablet inputs; a pty console; pci/usb/ide/virtio-serial controllers) besides others.
Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import sys

import pywbem
from peerlib import check, passed

url = sys.argv[1]
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True)


RASDS = {
    "KVM_ProcResourceAllocationSettingData": 3,
    "KVM_MemResourceAllocationSettingData": 4,
    "KVM_DiskResourceAllocationSettingData": 17,
    "KVM_NetResourceAllocationSettingData": 10,
    "KVM_GraphicsResourceAllocationSettingData": 24,
    "KVM_InputResourceAllocationSettingData": 13,
    "KVM_ConsoleResourceAllocationSettingData": 1,
    "KVM_ControllerResourceAllocationSettingData": 1,
}
DEVICES = ["KVM_Processor", "KVM_Memory", "KVM_LogicalDisk", "KVM_NetworkPort", "KVM_DisplayController",
           "KVM_ConsoleDisplayController", "KVM_PointingDevice", "KVM_Controller"]
ASSOCS = ["KVM_SystemDevice", "KVM_SettingsDefineState", "KVM_VirtualSystemSettingDataComponent",
          "KVM_ElementSettingData"]
DOM = "rich"
CS = pywbem.CIMInstanceName("KVM_ComputerSystem", {"CreationClassName": "KVM_ComputerSystem", "Name": DOM},
                            namespace="root/virt")
VSSD = pywbem.CIMInstanceName("KVM_VirtualSystemSettingData", {"InstanceID": "KVM:" + DOM}, namespace="root/virt")


def rich(insts, key):
    return {i[key]: i for i in insts if str(i[key]).startswith(DOM + "/")}


# Every class enumerates; every path round-trips through GetInstance.
all_instances = {}
for cls in ["KVM_VirtualSystemSettingData"] + list(RASDS) + DEVICES + ASSOCS:
    insts = conn.EnumerateInstances(cls)
    names = conn.EnumerateInstanceNames(cls)
    check(len(insts) > 0, cls + " enumerates")
    check(len(insts) == len(names), cls + " names match instances")
    check(all(i.classname == cls for i in insts), cls + " classname")
    for inst in insts:
        got = conn.GetInstance(inst.path)
        check(got.path == inst.path or got.path.keybindings == inst.path.keybindings, cls + " path round-trip")
        check(dict(got.items()) == dict(inst.items()), cls + " GetInstance equals EnumerateInstances " + str(inst.path))
    all_instances[cls] = insts

# VSSD values
vssd = conn.GetInstance(VSSD)
check(vssd["VirtualSystemIdentifier"] == DOM and vssd["VirtualSystemType"] == "KVM", "VSSD identity")
check(vssd["ElementName"] == DOM and len(vssd["UUID"]) == 36, "VSSD name/uuid")
check(vssd["Caption"] == "Virtual System", "VSSD caption")

# RASD values
for cls, rtype in RASDS.items():
    check(all(i["ResourceType"] == rtype for i in all_instances[cls]), cls + " ResourceType")
disks = rich(all_instances["KVM_DiskResourceAllocationSettingData"], "InstanceID")
check(set(disks) == {"rich/vda", "rich/vdb", "rich/hdc"}, "disk RASDs " + str(sorted(disks)))
check(disks["rich/vda"]["Address"] == "/default-pool/rich-disk.img", "vda Address")
check(disks["rich/vda"]["PoolID"] == "DiskPool/default-pool", "vda PoolID")
check(disks["rich/vda"]["VirtualQuantity"] == 1048576 and disks["rich/vda"]["AllocationUnits"] == "Bytes", "vda size")
check(disks["rich/vda"]["EmulatedType"] == 0 and disks["rich/hdc"]["EmulatedType"] == 1, "EmulatedType")
check(disks["rich/hdc"]["readonly"] is True and disks["rich/hdc"]["BusType"] == "ide", "cdrom")
check(disks["rich/vdb"]["Address"] == "/dev/sdz" and disks["rich/vdb"]["VirtualDevice"] == "vdb", "block disk")
nets = rich(all_instances["KVM_NetResourceAllocationSettingData"], "InstanceID")
check(len(nets) == 3, "three NIC RASDs")
by_type = {n["NetworkType"]: n for n in nets.values()}
check(set(by_type) == {"network", "bridge", "user"}, "NIC types")
check(by_type["network"]["PoolID"] == "NetworkPool/default" and by_type["network"]["NetworkName"] == "default",
      "network NIC pool")
check(by_type["bridge"]["NetworkName"] == "br0" and by_type["bridge"]["ResourceSubType"] == "e1000", "bridge NIC")
check(all(n["InstanceID"] == "rich/" + n["Address"] for n in nets.values()), "NIC InstanceID is the MAC")
mem = conn.GetInstance(pywbem.CIMInstanceName("KVM_MemResourceAllocationSettingData", {"InstanceID": "rich/mem"}))
check(mem["AllocationUnits"] == "KiloBytes" and mem["VirtualQuantity"] == 524288 and mem["Limit"] == 1048576,
      "memory RASD")
proc = conn.GetInstance(pywbem.CIMInstanceName("KVM_ProcResourceAllocationSettingData", {"InstanceID": "rich/proc"}))
check(proc["VirtualQuantity"] == 2, "proc RASD VirtualQuantity (current vCPUs of a running domain)")
plain_proc = conn.GetInstance(pywbem.CIMInstanceName("KVM_ProcResourceAllocationSettingData",
                                                    {"InstanceID": "plain/proc"}))
check(plain_proc["VirtualQuantity"] == 2, "proc RASD VirtualQuantity (configured vCPUs of a shut-off domain)")
gfx = rich(all_instances["KVM_GraphicsResourceAllocationSettingData"], "InstanceID")
check(set(gfx) == {"rich/vnc"} and gfx["rich/vnc"]["ResourceSubType"] == "vnc", "graphics RASD")
check(gfx["rich/vnc"]["Address"] == "127.0.0.1:5905", "graphics Address")
inputs = rich(all_instances["KVM_InputResourceAllocationSettingData"], "InstanceID")
check({"rich/mouse:ps2", "rich/tablet:usb"} <= set(inputs), "input RASDs " + str(sorted(inputs)))
check(inputs["rich/tablet:usb"]["Caption"] == "USB Tablet", "input caption")
consoles = rich(all_instances["KVM_ConsoleResourceAllocationSettingData"], "InstanceID")
check("rich/charconsole:0" in consoles, "console RASD " + str(sorted(consoles)))
check(consoles["rich/charconsole:0"]["OtherResourceType"] == "console" and
      consoles["rich/charconsole:0"]["SourceType"] == 2, "console values")
ctrls = rich(all_instances["KVM_ControllerResourceAllocationSettingData"], "InstanceID")
check({"rich/controller:pci:0", "rich/controller:usb:0", "rich/controller:ide:0",
       "rich/controller:virtio-serial:0"} <= set(ctrls), "controller RASDs " + str(sorted(ctrls)))

# Devices
procs = rich(all_instances["KVM_Processor"], "DeviceID")
check(set(procs) == {"rich/0", "rich/1", "rich/2", "rich/3"}, "one KVM_Processor per vCPU")
check(all(p["SystemName"] == DOM and p["SystemCreationClassName"] == "KVM_ComputerSystem" and
          p["CreationClassName"] == "KVM_Processor" for p in procs.values()), "device keys")
memdev = rich(all_instances["KVM_Memory"], "DeviceID")["rich/mem"]
check(memdev["BlockSize"] == 4096 and memdev["NumberOfBlocks"] == 262144 and memdev["ConsumableBlocks"] == 131072,
      "memory device blocks")
ports = rich(all_instances["KVM_NetworkPort"], "DeviceID")
check(len(ports) == 3 and all(p["NetworkAddresses"] == [p["DeviceID"][5:]] for p in ports.values()), "ports")
ctl = rich(all_instances["KVM_Controller"], "DeviceID")
check(ctl["rich/controller:usb:0"]["ProtocolSupported"] == 16 and
      ctl["rich/controller:virtio-serial:0"]["ProtocolSupported"] == 32769, "controller protocol")
check(rich(all_instances["KVM_LogicalDisk"], "DeviceID")["rich/vda"]["Name"] == "vda", "logical disk name")

# Devices of a domain that is not running exist too (as libvirt-CIM).
check(any(d["SystemName"] == "plain" for d in all_instances["KVM_Memory"]), "inactive domain devices")

# Associations, both ends, with roles and result classes.
parts = conn.AssociatorNames(CS, AssocClass="KVM_SystemDevice", Role="GroupComponent",
                             ResultRole="PartComponent")
rich_devices = sum(len(rich(all_instances[c], "DeviceID")) for c in DEVICES)
check(len(parts) == rich_devices, "SystemDevice parts %d of %d" % (len(parts), rich_devices))
check({p.classname for p in parts} == set(DEVICES), "SystemDevice part classes " + str({p.classname for p in parts}))
disks_only = conn.AssociatorNames(CS, AssocClass="KVM_SystemDevice", ResultClass="CIM_LogicalDisk")
check(len(disks_only) == 3, "SystemDevice ResultClass filter")
none = conn.AssociatorNames(CS, AssocClass="KVM_SystemDevice", Role="PartComponent")
check(len(none) == 0, "SystemDevice wrong role")
vda = [p for p in parts if p["DeviceID"] == "rich/vda"][0]
back = conn.AssociatorNames(vda, AssocClass="KVM_SystemDevice", Role="PartComponent", ResultRole="GroupComponent")
check([b["Name"] for b in back] == [DOM], "SystemDevice from the device")
refs = conn.References(vda, ResultClass="KVM_SystemDevice")
check(len(refs) == 1 and refs[0]["GroupComponent"]["Name"] == DOM, "SystemDevice References")

state = conn.Associators(CS, AssocClass="KVM_SettingsDefineState", ResultClass="KVM_VirtualSystemSettingData")
check([s["InstanceID"] for s in state] == ["KVM:" + DOM], "SettingsDefineState CS -> VSSD")
cs_back = conn.AssociatorNames(VSSD, AssocClass="KVM_SettingsDefineState", Role="SettingData")
check([c["Name"] for c in cs_back] == [DOM], "SettingsDefineState VSSD -> CS")
rasd_of_vda = conn.Associators(vda, AssocClass="KVM_SettingsDefineState", ResultRole="SettingData")
check([r["InstanceID"] for r in rasd_of_vda] == ["rich/vda"], "SettingsDefineState device -> RASD")
proc_rasd = pywbem.CIMInstanceName("KVM_ProcResourceAllocationSettingData", {"InstanceID": "rich/proc"},
                                   namespace="root/virt")
proc_devs = conn.AssociatorNames(proc_rasd, AssocClass="KVM_SettingsDefineState", Role="SettingData")
check(sorted(p["DeviceID"] for p in proc_devs) == ["rich/0", "rich/1", "rich/2", "rich/3"],
      "SettingsDefineState proc RASD -> processors")

comps = conn.AssociatorNames(VSSD, AssocClass="KVM_VirtualSystemSettingDataComponent", Role="GroupComponent")
rasd_ids = sorted(c["InstanceID"] for c in comps)
all_rich_rasds = sorted(i for cls in RASDS for i in rich(all_instances[cls], "InstanceID"))
check(rasd_ids == all_rich_rasds, "VSSDComponent VSSD -> every RASD")
vda_rasd = pywbem.CIMInstanceName("KVM_DiskResourceAllocationSettingData", {"InstanceID": "rich/vda"},
                                  namespace="root/virt")
owner = conn.AssociatorNames(vda_rasd, AssocClass="KVM_VirtualSystemSettingDataComponent", ResultClass="CIM_VirtualSystemSettingData")
check([o["InstanceID"] for o in owner] == ["KVM:" + DOM], "VSSDComponent RASD -> VSSD")

esd = conn.References(VSSD, ResultClass="KVM_ElementSettingData")
check(len(esd) == 1 and esd[0]["ManagedElement"] == esd[0]["SettingData"], "ElementSettingData VSSD self")
check(esd[0]["IsDefault"] == 1 and esd[0]["IsNext"] == 1, "ElementSettingData IsDefault/IsNext")
esd_r = conn.AssociatorNames(proc_rasd, AssocClass="KVM_ElementSettingData", Role="SettingData")
check([e["InstanceID"] for e in esd_r] == ["rich/proc"], "ElementSettingData RASD self")

# GetInstance of something that does not exist: NOT_FOUND.
for path in [pywbem.CIMInstanceName("KVM_DiskResourceAllocationSettingData", {"InstanceID": "rich/vdz"}),
             pywbem.CIMInstanceName("KVM_VirtualSystemSettingData", {"InstanceID": "KVM:nosuch"}),
             pywbem.CIMInstanceName("KVM_LogicalDisk", {"SystemCreationClassName": "KVM_ComputerSystem",
                                                        "SystemName": "plain", "CreationClassName": "KVM_LogicalDisk",
                                                        "DeviceID": "rich/vda"})]:
    try:
        conn.GetInstance(path)
        check(False, "GetInstance %s should fail" % path)
    except pywbem.CIMError as e:
        check(e.status_code == pywbem.CIM_ERR_NOT_FOUND, "NOT_FOUND for %s: %s" % (path, e))

# A missing guest and a guest path without a name: libvirt-CIM's codes and descriptions.
try:
    conn.GetInstance(pywbem.CIMInstanceName("KVM_ComputerSystem", {"CreationClassName": "KVM_ComputerSystem",
                                                                   "Name": "nosuch"}))
    check(False, "GetInstance of a missing guest should fail")
except pywbem.CIMError as e:
    check(e.status_code == pywbem.CIM_ERR_NOT_FOUND
          and e.status_description == "Referenced domain `nosuch' does not exist: Domain not found",
          "missing guest: %s" % e)
try:
    conn.GetInstance(pywbem.CIMInstanceName("KVM_ComputerSystem", {"CreationClassName": "KVM_ComputerSystem"}))
    check(False, "GetInstance without a Name should fail")
except pywbem.CIMError as e:
    check(e.status_code == pywbem.CIM_ERR_FAILED and e.status_description == "No domain name specified",
          "guest path without Name: %s" % e)

# Polymorphic enumeration from the CIM superclasses.
base = conn.EnumerateInstanceNames("CIM_ResourceAllocationSettingData")
check(len(base) == sum(len(all_instances[c]) for c in RASDS), "CIM_ResourceAllocationSettingData covers all RASDs")
logical = conn.EnumerateInstanceNames("CIM_LogicalDevice")
check(len(logical) >= sum(len(all_instances[c]) for c in DEVICES), "CIM_LogicalDevice covers all devices")

passed()
