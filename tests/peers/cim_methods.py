"""virtcim peer test: the VSMS methods and RequestStateChange through the pywbem API, checked against the
daemon's own driver with stock virsh over the native RPC socket (one world).

Usage: cim_methods.py WBEM_URL VIRSH_URI
Expects the test driver's shut-off domains vm000.. (the default running domain "test" may exist).
Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import subprocess
import sys
import xml.etree.ElementTree as ET

import pywbem
from peerlib import check, cim_error, passed, virsh_on

url, virsh_uri = sys.argv[1], sys.argv[2]
virsh = virsh_on(virsh_uri)
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True)
NS = "root/virt"
VSMS = "KVM_VirtualSystemManagementService"
CS = "KVM_ComputerSystem"


def dom_xml(name, inactive=True):
    text = virsh("dumpxml", "--inactive", name) if inactive else virsh("dumpxml", name)
    return ET.fromstring(text) if text else None


def inst(classname, **props):
    return pywbem.CIMInstance(classname, properties=props)


def vssd(name, **extra):
    return inst("KVM_VirtualSystemSettingData", VirtualSystemIdentifier=name,
                VirtualSystemType="KVM", **extra)


def mem(mib, **extra):
    return inst("KVM_MemResourceAllocationSettingData", ResourceType=pywbem.Uint16(4),
                VirtualQuantity=pywbem.Uint64(mib), AllocationUnits="MegaBytes", **extra)


def proc(n, **extra):
    return inst("KVM_ProcResourceAllocationSettingData", ResourceType=pywbem.Uint16(3),
                VirtualQuantity=pywbem.Uint64(n), **extra)


def disk(dev, path, **extra):
    return inst("KVM_DiskResourceAllocationSettingData", ResourceType=pywbem.Uint16(17),
                VirtualDevice=dev, Address=path, **extra)


def nic(mac, **extra):
    return inst("KVM_NetResourceAllocationSettingData", ResourceType=pywbem.Uint16(10),
                Address=mac, NetworkType="network", PoolID="NetworkPool/default", **extra)


def cs_path(name):
    return pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS, "Name": name}, namespace=NS)


def rasd_ref(cls, iid):
    return pywbem.CIMInstanceName(cls, keybindings={"InstanceID": iid}, namespace=NS)


def state(name):
    i = conn.GetInstance(cs_path(name))
    return i["EnabledState"], i["RequestedState"]


# The service instance: one, keys per libvirt-CIM, a numeric Revision, round trip through GetInstance.
services = conn.EnumerateInstances(VSMS)
check(len(services) == 1, "one VSMS instance: %d" % len(services))
svc = services[0]
check(svc["Name"] == "Management Service" and svc["SystemCreationClassName"] == "KVM_HostSystem"
      and svc["CreationClassName"] == VSMS, "VSMS keys")
check(int(svc["Revision"]) >= 1312, "Revision numeric")
svc_path = conn.EnumerateInstanceNames(VSMS)[0]
svc_path.namespace = NS
check(conn.GetInstance(svc_path)["Name"] == "Management Service", "VSMS GetInstance")
hosts = conn.AssociatorNames(svc_path, AssocClass="KVM_HostedService")
check(len(hosts) == 1 and hosts[0].classname == "KVM_HostSystem"
      and hosts[0].keybindings["Name"] == svc["SystemName"], "the service is hosted by the host: %r" % hosts)
services = conn.AssociatorNames(hosts[0], AssocClass="KVM_HostedService")
check(any(p.classname == VSMS for p in services), "the host hosts the service")

# DefineSystem on the instance path, CIM-XML embedded instances.
MAC1 = "52:54:00:12:34:01"
rv, out = conn.InvokeMethod("DefineSystem", svc_path, SystemSettings=vssd("cimvm1", AutoStart=True),
                            ResourceSettings=[mem(256), proc(2), disk("vda", "/var/lib/images/cimvm1.img"),
                                              nic(MAC1, ResourceSubType="virtio"),
                                              inst("KVM_GraphicsResourceAllocationSettingData",
                                                   ResourceType=pywbem.Uint16(24), ResourceSubType="vnc",
                                                   Address="127.0.0.1:-1"),
                                              inst("KVM_InputResourceAllocationSettingData",
                                                   ResourceType=pywbem.Uint16(13), ResourceSubType="tablet",
                                                   BusType="usb")])
check(rv == 0, "DefineSystem rv %r" % rv)
check(out["ResultingSystem"].keybindings["Name"] == "cimvm1", "ResultingSystem %r" % out["ResultingSystem"])
x = dom_xml("cimvm1")
check(x is not None, "virsh sees the defined domain")
check(x.find("currentMemory").text == "262144" and x.find("vcpu").text == "2", "memory and vcpus in XML")
check(x.find("devices/disk/target").get("dev") == "vda"
      and x.find("devices/disk/source").get("file") == "/var/lib/images/cimvm1.img", "disk in XML")
check(x.find("devices/interface/mac").get("address") == MAC1
      and x.find("devices/interface/source").get("network") == "default"
      and x.find("devices/interface/model").get("type") == "virtio", "NIC in XML")
check(x.find("devices/graphics").get("type") == "vnc", "graphics in XML")
check(x.find("devices/input").get("type") == "tablet", "input in XML")
check("enable" in (virsh("dominfo", "cimvm1") or "").split("Autostart:")[1].split("\n")[0], "autostart set")
check(state("cimvm1") == (3, 0), "defined, not started: %r" % (state("cimvm1"),))

# cimtest's habits: a class-path call, a blank ReferenceConfiguration string, unknown properties ignored.
rv, out = conn.InvokeMethod("DefineSystem", VSMS, SystemSettings=vssd("cimvm2", isFullVirt=True),
                            ResourceSettings=[mem(128), proc(1)], ReferenceConfiguration=" ")
check(rv == 0 and out["ResultingSystem"].keybindings["Name"] == "cimvm2", "class-path DefineSystem")

# MOF-text embedded instances (what cimtest and wbemcli send), unknown properties ignored; the resulting
# RASDs are served by the guest model.
rv, out = conn.InvokeMethod("DefineSystem", VSMS,
                            SystemSettings='instance of KVM_VirtualSystemSettingData { VirtualSystemIdentifier = '
                                           '"cimvm3"; VirtualSystemType = "KVM"; isFullVirt = true; '
                                           'BootDevice = "hd"; };',
                            ResourceSettings=['instance of KVM_MemResourceAllocationSettingData { ResourceType = 4; '
                                              'VirtualQuantity = 128; AllocationUnits = "MegaBytes"; };',
                                              'instance of KVM_ProcResourceAllocationSettingData { ResourceType = 3; '
                                              'VirtualQuantity = 2; };',
                                              'instance of KVM_DiskResourceAllocationSettingData { ResourceType = 17; '
                                              'VirtualDevice = "hda"; Address = "/var/lib/images/cimvm3.img"; '
                                              'EmulatedType = 0; };'])
check(rv == 0 and out["ResultingSystem"].keybindings["Name"] == "cimvm3", "MOF-text DefineSystem")
m = conn.GetInstance(rasd_ref("KVM_MemResourceAllocationSettingData", "cimvm3/mem"))
check(m["VirtualQuantity"] == 131072 and m["AllocationUnits"] == "KiloBytes", "MOF-text memory %r" % m["VirtualQuantity"])
d = conn.GetInstance(rasd_ref("KVM_DiskResourceAllocationSettingData", "cimvm3/hda"))
check(d["Address"] == "/var/lib/images/cimvm3.img", "MOF-text disk")
v = conn.GetInstance(pywbem.CIMInstanceName("KVM_VirtualSystemSettingData",
                                            keybindings={"InstanceID": "KVM:cimvm3"}, namespace=NS))
check(v["VirtualSystemIdentifier"] == "cimvm3", "VSSD of the defined system")

# ReferenceConfiguration: a copy of cimvm3 with its own name.
rv, out = conn.InvokeMethod("DefineSystem", VSMS, SystemSettings=vssd("cimvm4"), ResourceSettings=[],
                            ReferenceConfiguration=pywbem.CIMInstanceName(
                                "KVM_VirtualSystemSettingData", keybindings={"InstanceID": "KVM:cimvm3"}, namespace=NS))
check(rv == 0, "DefineSystem from a reference configuration")
x = dom_xml("cimvm4")
check(x.find("devices/disk/source").get("file") == "/var/lib/images/cimvm3.img"
      and x.find("currentMemory").text == "131072", "reference configuration copied")
check(x.find("uuid").text != dom_xml("cimvm3").find("uuid").text, "the copy has its own UUID")

# DefineSystem bad input.
code, _ = cim_error(conn.InvokeMethod, "DefineSystem", svc_path, ResourceSettings=[mem(64)])
check(code == pywbem.CIM_ERR_INVALID_PARAMETER, "missing SystemSettings: %r" % code)
code, _ = cim_error(conn.InvokeMethod, "DefineSystem", svc_path, SystemSettings=vssd("x"))
check(code == pywbem.CIM_ERR_INVALID_PARAMETER, "missing ResourceSettings: %r" % code)
code, desc = cim_error(conn.InvokeMethod, "DefineSystem", svc_path, SystemSettings=vssd("cimvm1"),
                       ResourceSettings=[mem(64)])
check(code == pywbem.CIM_ERR_FAILED and "already defined" in desc, "name in use: %r %r" % (code, desc))
used_uuid = conn.GetInstance(cs_path("vm000"))["UUID"]
code, desc = cim_error(conn.InvokeMethod, "DefineSystem", svc_path, SystemSettings=vssd("other", UUID=used_uuid),
                       ResourceSettings=[mem(64)])
check(code == pywbem.CIM_ERR_FAILED and "already defined with UUID" in desc, "UUID in use: %r %r" % (code, desc))
check(virsh("dominfo", "other") is None, "nothing defined on failure")
code, _ = cim_error(conn.InvokeMethod, "DefineSystem", svc_path, SystemSettings=vssd("bad"),
                    ResourceSettings=[inst("KVM_MemResourceAllocationSettingData", ResourceType=pywbem.Uint16(4),
                                           VirtualQuantity=pywbem.Uint64(1), AllocationUnits="Parsecs")])
check(code == pywbem.CIM_ERR_INVALID_PARAMETER, "bad RASD: %r" % code)
code, desc = cim_error(conn.InvokeMethod, "DefineSystem", svc_path, SystemSettings="instance of {",
                       ResourceSettings=[mem(64)])
check((code, desc) == (pywbem.CIM_ERR_FAILED, "Unable to parse embedded object"),
      "undecodable SystemSettings (libcmpiutil's answer): %r %r" % (code, desc))

# RequestStateChange: transitions, return codes and errors; virsh sees each state.
vm = cs_path("cimvm1")


def rsc(n):
    return conn.InvokeMethod("RequestStateChange", vm, RequestedState=pywbem.Uint16(n))[0]


def rsc_error(n):
    return cim_error(conn.InvokeMethod, "RequestStateChange", vm, RequestedState=pywbem.Uint16(n))


def virsh_state(name):
    return (virsh("domstate", name) or "").strip()


for n in (4, 9, 10, 11, 3):
    code, desc = rsc_error(n)
    check(code == pywbem.CIM_ERR_FAILED, "state %d on a shut-off domain: %r %r" % (n, code, desc))
check(rsc(2) == 0 and state("cimvm1") == (2, 2) and virsh_state("cimvm1") == "running", "start")
code, desc = rsc_error(2)
check(code == pywbem.CIM_ERR_FAILED and desc == "Invalid state transition", "enable running: %r" % desc)
check(rsc(9) == 0 and state("cimvm1") == (9, 9) and virsh_state("cimvm1") == "paused", "pause")
code, desc = rsc_error(9)
check(code == pywbem.CIM_ERR_FAILED and desc == "Domain not running", "pause paused: %r" % desc)
code, desc = rsc_error(4)
check(code == pywbem.CIM_ERR_FAILED and desc == "Invalid state transition", "shutdown paused: %r" % desc)
code, desc = rsc_error(3)
check(code == pywbem.CIM_ERR_FAILED and desc == "Invalid state transition", "disable paused: %r" % desc)
check(rsc(2) == 0 and state("cimvm1") == (2, 2) and virsh_state("cimvm1") == "running", "resume")
check(rsc(10) == 0 and state("cimvm1") == (2, 10), "reboot")
check(rsc(11) == 0 and state("cimvm1") == (2, 11) and virsh_state("cimvm1") == "running", "reset")
check(rsc(4) == 0 and state("cimvm1") == (3, 4) and virsh_state("cimvm1") == "shut off", "shut down")
check(rsc(2) == 0 and rsc(3) == 0 and state("cimvm1") == (3, 3), "start then disable")
for n in (0, 1, 5, 6, 7, 8, 12, 32768):
    code, desc = rsc_error(n)
    check(code == pywbem.CIM_ERR_NOT_SUPPORTED and desc == "State not supported", "state %d: %r" % (n, code))
code, _ = cim_error(conn.InvokeMethod, "RequestStateChange", vm)
check(code == pywbem.CIM_ERR_INVALID_PARAMETER, "missing RequestedState: %r" % code)
# A string where a uint16 is declared: libcmpiutil's argument check answers a type mismatch.
code, _ = cim_error(conn.InvokeMethod, "RequestStateChange", vm, RequestedState="two")
check(code == pywbem.CIM_ERR_TYPE_MISMATCH, "RequestedState as a string: %r" % code)
# libvirt-CIM cannot build the guest's instance for an unknown name: a bad parameter.
code, desc = cim_error(conn.InvokeMethod, "RequestStateChange", cs_path("nosuchvm"),
                       RequestedState=pywbem.Uint16(2))
check(code == pywbem.CIM_ERR_INVALID_PARAMETER and desc == "Unable to get instance for guest 'nosuchvm'",
      "unknown domain: %r %r" % (code, desc))
# GetInstance as libvirt-CIM's cu_validate_ref: each key of the class must be there and match (NOT_FOUND naming
# the first that does not), keys the class does not have are ignored; no Name at all is FAILED.
code, desc = cim_error(conn.GetInstance, pywbem.CIMInstanceName(CS, keybindings={"Name": "cimvm1"}, namespace=NS))
check(code == pywbem.CIM_ERR_NOT_FOUND and desc == "No such instance (CreationClassName)",
      "GetInstance without CreationClassName: %r %r" % (code, desc))
code, desc = cim_error(conn.GetInstance, pywbem.CIMInstanceName(
    CS, keybindings={"CreationClassName": "KVM_Other", "Name": "cimvm1"}, namespace=NS))
check(code == pywbem.CIM_ERR_NOT_FOUND and desc == "No such instance (CreationClassName)",
      "GetInstance with another CreationClassName: %r %r" % (code, desc))
code, desc = cim_error(conn.GetInstance, pywbem.CIMInstanceName(
    CS, keybindings={"CreationClassName": CS}, namespace=NS))
check(code == pywbem.CIM_ERR_FAILED and desc == "No domain name specified",
      "GetInstance without Name: %r %r" % (code, desc))
extra = cs_path("cimvm1")
extra.keybindings["SystemName"] = "ignored"
check(conn.GetInstance(extra)["Name"] == "cimvm1", "an extra key is ignored")
code, desc = cim_error(conn.InvokeMethod, "RequestStateChange", pywbem.CIMInstanceName(
    CS, keybindings={"CreationClassName": CS}, namespace=NS), RequestedState=pywbem.Uint16(2))
check(code == pywbem.CIM_ERR_FAILED and desc == "Name key not specified",
      "RequestStateChange without Name: %r %r" % (code, desc))
# libvirt-CIM records every request it could read, refused or not (its infostore's "reqstate"): RequestedState is
# the last one asked for, as DSP1052 defines it.
check(state("cimvm1")[1] == 32768, "RequestedState after refused requests: %r" % (state("cimvm1"),))

# AddResourceSettings: a disk and a NIC, with their resulting RASD paths.
conf = pywbem.CIMInstanceName("KVM_VirtualSystemSettingData", keybindings={"InstanceID": "KVM:cimvm1"}, namespace=NS)
MAC2 = "52:54:00:12:34:02"
rv, out = conn.InvokeMethod("AddResourceSettings", svc_path, AffectedConfiguration=conf,
                            ResourceSettings=[disk("vdb", "/var/lib/images/data.img"), nic(MAC2)])
check(rv == 0, "AddResourceSettings rv")
ids = sorted(p.keybindings["InstanceID"] for p in out["ResultingResourceSettings"])
check(ids == ["cimvm1/52:54:00:12:34:02", "cimvm1/vdb"], "resulting RASDs %r" % ids)
for p in out["ResultingResourceSettings"]:
    p.namespace = NS
    check(conn.GetInstance(p)["InstanceID"] == p.keybindings["InstanceID"], "resulting RASD %s is served" % p)
x = dom_xml("cimvm1")
check(sorted(d.find("target").get("dev") for d in x.findall("devices/disk")) == ["vda", "vdb"], "disk added")
check(len(x.findall("devices/interface")) == 2, "NIC added")
code, _ = cim_error(conn.InvokeMethod, "AddResourceSettings", svc_path, AffectedConfiguration=conf,
                    ResourceSettings=[disk("vdb", "/tmp/again.img")])
check(code == pywbem.CIM_ERR_INVALID_PARAMETER, "duplicate disk target: %r" % code)
code, _ = cim_error(conn.InvokeMethod, "AddResourceSettings", svc_path, ResourceSettings=[disk("vdc", "/x")])
check(code == pywbem.CIM_ERR_INVALID_PARAMETER, "missing AffectedConfiguration: %r" % code)
code, _ = cim_error(conn.InvokeMethod, "AddResourceSettings", svc_path, AffectedConfiguration=conf)
check(code == pywbem.CIM_ERR_INVALID_PARAMETER, "missing ResourceSettings: %r" % code)
nowhere = pywbem.CIMInstanceName("KVM_VirtualSystemSettingData", keybindings={"InstanceID": "KVM:nowhere"},
                                 namespace=NS)
code, desc = cim_error(conn.InvokeMethod, "AddResourceSettings", svc_path, AffectedConfiguration=nowhere,
                       ResourceSettings=[disk("vdc", "/x")])
check(code == pywbem.CIM_ERR_NOT_FOUND and desc == "Referenced domain `nowhere' does not exist: Domain not found",
      "unknown domain: %r %r" % (code, desc))

# ModifyResourceSettings: memory, vCPUs, a disk's source, a NIC's model.
rv, out = conn.InvokeMethod("ModifyResourceSettings", svc_path, ResourceSettings=[
    mem(512, InstanceID="cimvm1/mem"), proc(3, InstanceID="cimvm1/proc"),
    disk("vdb", "/var/lib/images/other.img", InstanceID="cimvm1/vdb"),
    nic(MAC2, InstanceID="cimvm1/" + MAC2, ResourceSubType="e1000")])
check(rv == 0 and len(out["ResultingResourceSettings"]) == 4, "ModifyResourceSettings")
x = dom_xml("cimvm1")
check(x.find("currentMemory").text == "524288" and x.find("vcpu").text == "3", "memory/vcpus modified")
check([d.find("source").get("file") for d in x.findall("devices/disk")
       if d.find("target").get("dev") == "vdb"] == ["/var/lib/images/other.img"], "disk source modified")
check([i.find("model").get("type") for i in x.findall("devices/interface")
       if i.find("mac").get("address") == MAC2] == ["e1000"], "NIC model modified")
code, _ = cim_error(conn.InvokeMethod, "ModifyResourceSettings", svc_path,
                    ResourceSettings=[disk("vdz", "/x", InstanceID="cimvm1/vdz")])
check(code == pywbem.CIM_ERR_NOT_FOUND, "modify unknown device: %r" % code)
code, _ = cim_error(conn.InvokeMethod, "ModifyResourceSettings", svc_path,
                    ResourceSettings=[mem(64, InstanceID="nowhere/mem")])
check(code == pywbem.CIM_ERR_NOT_FOUND, "modify unknown domain: %r" % code)
code, _ = cim_error(conn.InvokeMethod, "ModifyResourceSettings", svc_path, ResourceSettings=[mem(64)])
check(code == pywbem.CIM_ERR_INVALID_PARAMETER, "modify without InstanceID: %r" % code)
code, _ = cim_error(conn.InvokeMethod, "ModifyResourceSettings", svc_path)
check(code == pywbem.CIM_ERR_INVALID_PARAMETER, "modify without settings: %r" % code)

# A RASD as the server shows it, changed and sent back whole (the usual client round trip).
m = conn.GetInstance(rasd_ref("KVM_MemResourceAllocationSettingData", "cimvm1/mem"))
m["VirtualQuantity"] = pywbem.Uint64(300 * 1024)
rv, out = conn.InvokeMethod("ModifyResourceSettings", svc_path, ResourceSettings=[m])
check(rv == 0 and conn.GetInstance(rasd_ref("KVM_MemResourceAllocationSettingData", "cimvm1/mem"))["VirtualQuantity"]
      == 300 * 1024, "round-tripped RASD")
n = conn.GetInstance(rasd_ref("KVM_NetResourceAllocationSettingData", "cimvm1/" + MAC2))
n["ResourceSubType"] = "rtl8139"
rv, out = conn.InvokeMethod("ModifyResourceSettings", svc_path, ResourceSettings=[n])
check(rv == 0 and conn.GetInstance(rasd_ref("KVM_NetResourceAllocationSettingData", "cimvm1/" + MAC2))
      ["ResourceSubType"] == "rtl8139", "round-tripped NIC RASD")

# Live changes of a running domain reach the live domain too.
check(rsc(2) == 0, "start for live changes")
rv, _ = conn.InvokeMethod("ModifyResourceSettings", svc_path,
                          ResourceSettings=[mem(384, InstanceID="cimvm1/mem")])
check(rv == 0, "live memory change")
check(dom_xml("cimvm1", inactive=False).find("currentMemory").text == "393216", "live memory seen by virsh")
check(dom_xml("cimvm1").find("currentMemory").text == "393216", "config memory seen by virsh")
check(rsc(3) == 0, "stop after live changes")

# RemoveResourceSettings by RASD references.
rv, _ = conn.InvokeMethod("RemoveResourceSettings", svc_path, ResourceSettings=[
    rasd_ref("KVM_DiskResourceAllocationSettingData", "cimvm1/vdb"),
    rasd_ref("KVM_NetResourceAllocationSettingData", "cimvm1/" + MAC2)])
check(rv == 0, "RemoveResourceSettings")
x = dom_xml("cimvm1")
check([d.find("target").get("dev") for d in x.findall("devices/disk")] == ["vda"], "disk removed")
check([i.find("mac").get("address") for i in x.findall("devices/interface")] == [MAC1], "NIC removed")
code, _ = cim_error(conn.InvokeMethod, "RemoveResourceSettings", svc_path,
                    ResourceSettings=[rasd_ref("KVM_DiskResourceAllocationSettingData", "cimvm1/vdb")])
check(code == pywbem.CIM_ERR_NOT_FOUND, "remove twice: %r" % code)
code, _ = cim_error(conn.InvokeMethod, "RemoveResourceSettings", svc_path,
                    ResourceSettings=[rasd_ref("KVM_MemResourceAllocationSettingData", "cimvm1/mem")])
check(code == pywbem.CIM_ERR_NOT_SUPPORTED, "remove memory: %r" % code)
code, _ = cim_error(conn.InvokeMethod, "RemoveResourceSettings", svc_path)
check(code == pywbem.CIM_ERR_INVALID_PARAMETER, "remove nothing: %r" % code)

# ModifySystemSettings.
rv, _ = conn.InvokeMethod("ModifySystemSettings", svc_path,
                          SystemSettings=vssd("cimvm1", AutomaticRecoveryAction=pywbem.Uint16(3),
                                              ClockOffset=pywbem.Uint16(1)))
check(rv == 0, "ModifySystemSettings")
x = dom_xml("cimvm1")
check(x.find("on_crash").text == "restart" and x.find("clock").get("offset") == "localtime", "system settings")
code, desc = cim_error(conn.InvokeMethod, "ModifySystemSettings", svc_path,
                       SystemSettings=vssd("cimvm1", UUID="00000000-0000-4000-8000-00000000beef"))
check(code == pywbem.CIM_ERR_FAILED and "cannot change UUID" in desc, "UUID change refused: %r" % desc)
code, _ = cim_error(conn.InvokeMethod, "ModifySystemSettings", svc_path, SystemSettings=vssd("nowhere"))
check(code == pywbem.CIM_ERR_NOT_FOUND, "modify unknown system: %r" % code)
code, _ = cim_error(conn.InvokeMethod, "ModifySystemSettings", svc_path)
check(code == pywbem.CIM_ERR_INVALID_PARAMETER, "missing SystemSettings: %r" % code)

# DestroySystem: a running domain is stopped and undefined.
check(rsc(2) == 0, "start before destroy")
rv, _ = conn.InvokeMethod("DestroySystem", svc_path, AffectedSystem=vm)
check(rv == 0 and virsh("dominfo", "cimvm1") is None, "DestroySystem")
code, desc = cim_error(conn.InvokeMethod, "DestroySystem", svc_path, AffectedSystem=vm)
check(code == pywbem.CIM_ERR_NOT_FOUND and desc == "Referenced domain `cimvm1' does not exist: Domain not found",
      "destroy twice: %r %r" % (code, desc))
code, _ = cim_error(conn.InvokeMethod, "DestroySystem", svc_path)
check(code == pywbem.CIM_ERR_INVALID_PARAMETER, "destroy nothing: %r" % code)
code, desc = cim_error(conn.InvokeMethod, "DestroySystem", svc_path,
                       AffectedSystem=pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS}, namespace=NS))
check(code == pywbem.CIM_ERR_NOT_FOUND and desc == "Unable to retrieve domain name",
      "DestroySystem without a name: %r %r" % (code, desc))
for name in ("cimvm2", "cimvm3", "cimvm4"):
    rv, _ = conn.InvokeMethod("DestroySystem", VSMS, AffectedSystem=cs_path(name))
    check(rv == 0 and virsh("dominfo", name) is None, "class-path DestroySystem " + name)
wrong = pywbem.CIMInstanceName(VSMS, keybindings={"CreationClassName": VSMS, "Name": "Other Service",
                                                  "SystemCreationClassName": "KVM_HostSystem",
                                                  "SystemName": svc["SystemName"]}, namespace=NS)
code, _ = cim_error(conn.InvokeMethod, "DestroySystem", wrong, AffectedSystem=cs_path("vm000"))
check(code == pywbem.CIM_ERR_NOT_FOUND, "method on a service that does not exist: %r" % code)
check(virsh("dominfo", "vm000") is not None, "vm000 untouched")

passed()
