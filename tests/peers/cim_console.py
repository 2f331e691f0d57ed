"""virtcim console redirection test (DSP1076 as libvirt-CIM serves it) and the other service classes, through the
pywbem API, with guests set up and started through virsh over the native RPC of the same daemon.

Usage: cim_console.py WBEM_URL LIBVIRT_URI [USER PASSWORD]
Defines "console1" (VNC on port 5910, SPICE on 5911, a PS/2 mouse, a USB tablet, a USB controller; started) and
"console2" (VNC on port 5912; shut off, then started and destroyed), "console3" (a pty and a tcp serial and a
console: text redirection SAPs, shut off, started and destroyed). Checks the redirection service, its
capabilities, the SAPs (keys, protocol, EnabledState following the guest), every association both ways,
GetInstance of missing keys, the KVM Redirection profile in root/interop and the switch service. Prints
"OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import os
import subprocess
import sys
import tempfile

import pywbem
from peerlib import check, passed

url, uri = sys.argv[1], sys.argv[2]
creds = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else None
conn = pywbem.WBEMConnection(url, creds, default_namespace="root/virt", no_verification=True, timeout=120)


def virsh(*args):
    out = subprocess.run(["virsh", "-q", "-c", uri] + list(args), capture_output=True, text=True)
    if out.returncode != 0:
        print("FAILED: virsh %s: %s" % (" ".join(args), out.stderr))
        sys.exit(1)
    return out.stdout


def define(xml):
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        f.write(xml)
    try:
        virsh("define", f.name)
    finally:
        os.unlink(f.name)


def status_of(call):
    try:
        call()
    except pywbem.CIMError as err:
        return err.status_code
    return 0


NOT_FOUND = pywbem.CIM_ERR_NOT_FOUND

define("""<domain type='test'><name>console1</name><memory unit='KiB'>524288</memory><vcpu>1</vcpu>
<os><type>hvm</type></os><devices>
<controller type='usb' index='0'/>
<input type='mouse' bus='ps2'/><input type='tablet' bus='usb'/>
<graphics type='vnc' port='5910' listen='127.0.0.1'/>
<graphics type='spice' port='5911' listen='127.0.0.1'/>
</devices></domain>""")
define("""<domain type='test'><name>console2</name><memory unit='KiB'>524288</memory><vcpu>1</vcpu>
<os><type>hvm</type></os><devices><graphics type='vnc' port='5912'/></devices></domain>""")
define("""<domain type='test'><name>console3</name><uuid>4dea22b3-1d52-d8f3-2516-782e98a23fa0</uuid>
<memory unit='KiB'>524288</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>
<serial type='pty'><target port='0'/></serial>
<serial type='tcp'><source mode='bind' host='127.0.0.1' service='4555'/><protocol type='raw'/><target port='1'/></serial>
<console type='pty'><target type='serial' port='0'/></console>
</devices></domain>""")
virsh("start", "console1")

host = conn.EnumerateInstanceNames("KVM_HostSystem")[0]

# --- the class list: every class of the group is served ---
classes = conn.EnumerateClassNames(DeepInheritance=True)
for c in ("KVM_ConsoleRedirectionService", "KVM_ConsoleRedirectionServiceCapabilities", "KVM_KVMRedirectionSAP",
          "KVM_HostedAccessPoint", "KVM_ServiceAccessBySAP", "KVM_SAPAvailableForElement",
          "KVM_ServiceAffectsElement", "KVM_SwitchService", "KVM_TextRedirectionSAP"):
    check(c in classes, "class %s in root/virt" % c)
sap_class = conn.GetClass("KVM_KVMRedirectionSAP", LocalOnly=False)
check(sap_class.superclass == "CIM_KVMRedirectionSAP"
      and sorted(n for n, p in sap_class.properties.items() if p.qualifiers.get("Key"))
      == ["CreationClassName", "Name", "SystemCreationClassName", "SystemName"], "SAP class keys")

# --- the service and its capabilities ---
services = conn.EnumerateInstances("KVM_ConsoleRedirectionService")
check(len(services) == 1, "one console redirection service")
crs = services[0]
check(crs["Name"] == "ConsoleRedirectionService" and crs["ElementName"] == "ConsoleRedirectionService"
      and crs["SystemCreationClassName"] == "KVM_HostSystem" and crs["SystemName"] == host["Name"]
      and crs["CreationClassName"] == "KVM_ConsoleRedirectionService", "service keys %s" % crs.path)
check(list(crs["RedirectionServiceType"]) == [3] and crs["MaxCurrentEnabledSAPs"] == 65535
      and crs["SharingMode"] == 3 and crs["EnabledState"] == 2 and crs["RequestedState"] == 12,
      "service properties")
crs_path = conn.EnumerateInstanceNames("KVM_ConsoleRedirectionService")[0]
check(conn.GetInstance(crs_path)["Name"] == "ConsoleRedirectionService", "service GetInstance")
partial = crs_path.copy()
del partial.keybindings["Name"]
check(status_of(lambda: conn.GetInstance(partial)) == NOT_FOUND, "service without Name: NOT_FOUND")
caps = conn.EnumerateInstances("KVM_ConsoleRedirectionServiceCapabilities")
check(len(caps) == 1 and caps[0]["InstanceID"] == "ConsoleRedirectionCapabilities"
      and caps[0]["ElementName"] == "ConsoleRedirectionCapabilities"
      and list(caps[0]["SharingModeSupported"]) == [3] and caps[0]["ElementNameEditSupported"] is False,
      "capabilities instance")
caps_path = conn.EnumerateInstanceNames("KVM_ConsoleRedirectionServiceCapabilities")[0]
check(conn.GetInstance(caps_path)["InstanceID"] == "ConsoleRedirectionCapabilities", "capabilities GetInstance")
wrong = pywbem.CIMInstanceName("KVM_ConsoleRedirectionServiceCapabilities", {"InstanceID": "x"}, namespace="root/virt")
check(status_of(lambda: conn.GetInstance(wrong)) == NOT_FOUND, "capabilities of another id: NOT_FOUND")
got = conn.AssociatorNames(crs_path, AssocClass="KVM_ElementCapabilities")
check([p["InstanceID"] for p in got] == ["ConsoleRedirectionCapabilities"], "service -> its capabilities")
got = conn.AssociatorNames(caps_path, AssocClass="KVM_ElementCapabilities")
check(sorted(p.classname for p in got) == ["KVM_ConsoleRedirectionService", "KVM_HostSystem"],
      "capabilities -> service and host: %s" % got)
got = conn.AssociatorNames(crs_path, AssocClass="KVM_HostedService")
check(len(got) == 1 and got[0]["Name"] == host["Name"], "service -> its host")
got = conn.References(host, ResultClass="KVM_HostedService")
check(any(r["Dependent"]["Name"] == "ConsoleRedirectionService" for r in got), "host -> HostedService reference")

# --- the access points ---
def saps():
    return {(i["SystemName"], i["Name"]): i for i in conn.EnumerateInstances("KVM_KVMRedirectionSAP")}


found = saps()
check(sorted(found) == [("console1", "5910:0"), ("console1", "5911:0"), ("console2", "5912:-1")],
      "SAPs: %s" % sorted(found))
vnc, spice, off = found[("console1", "5910:0")], found[("console1", "5911:0")], found[("console2", "5912:-1")]
check(vnc["KVMProtocol"] == 4 and vnc["OtherKVMProtocol"] is None and vnc["EnabledState"] == 6
      and vnc["ElementName"] == "5910:0" and vnc["SystemCreationClassName"] == "KVM_ComputerSystem"
      and vnc["CreationClassName"] == "KVM_KVMRedirectionSAP", "VNC SAP of a running guest")
check(spice["KVMProtocol"] == 1 and spice["OtherKVMProtocol"] == "SPICE" and spice["EnabledState"] == 6,
      "SPICE SAP")
check(off["KVMProtocol"] == 4 and off["EnabledState"] == 3, "SAP of a shut-off guest")
names = conn.EnumerateInstanceNames("KVM_KVMRedirectionSAP")
check(sorted((n["SystemName"], n["Name"]) for n in names) == sorted(found), "EnumerateInstanceNames")
for n in names:
    check(conn.GetInstance(n)["EnabledState"] == found[(n["SystemName"], n["Name"])]["EnabledState"],
          "GetInstance %s" % n)
vnc_path = vnc.path
for key in ("SystemName", "Name"):
    p = vnc_path.copy()
    del p.keybindings[key]
    check(status_of(lambda: conn.GetInstance(p)) == NOT_FOUND, "SAP without %s: NOT_FOUND" % key)
p = vnc_path.copy()
p.keybindings["Name"] = "5910:4242"
check(status_of(lambda: conn.GetInstance(p)) == NOT_FOUND, "SAP of a session that does not exist: NOT_FOUND")
p = vnc_path.copy()
p.keybindings["SystemName"] = "nosuchguest"
check(status_of(lambda: conn.GetInstance(p)) == NOT_FOUND, "SAP of an unknown guest: NOT_FOUND")

# EnabledState follows the guest.
virsh("start", "console2")
found = saps()
check(("console2", "5912:0") in found and found[("console2", "5912:0")]["EnabledState"] == 6
      and ("console2", "5912:-1") not in found, "started guest: its SAP is available")
virsh("destroy", "console2")
found = saps()
check(found.get(("console2", "5912:-1")) is not None and found[("console2", "5912:-1")]["EnabledState"] == 3,
      "destroyed guest: its SAP is disabled")
sap_paths = sorted(conn.EnumerateInstanceNames("KVM_KVMRedirectionSAP"), key=str)

# --- the serial consoles: text redirection SAPs ---
text_class = conn.GetClass("KVM_TextRedirectionSAP", LocalOnly=False)
check(text_class.superclass == "CIM_TextRedirectionSAP"
      and sorted(n for n, p in text_class.properties.items() if p.qualifiers.get("Key"))
      == ["CreationClassName", "Name", "SystemCreationClassName", "SystemName"]
      and conn.GetClass("CIM_TextRedirectionSAP").superclass == "CIM_ServiceAccessPoint", "text SAP class")
UUID3 = "4dea22b3-1d52-d8f3-2516-782e98a23fa0"


def text_saps():
    return {(i["SystemName"], i["Name"]): i for i in conn.EnumerateInstances("KVM_TextRedirectionSAP")}


found = text_saps()
check(sorted(k for k in found if k[0] == "console3")
      == [("console3", UUID3 + ":console0"), ("console3", UUID3 + ":serial0"), ("console3", UUID3 + ":serial1")],
      "text SAPs: %s" % sorted(found))
check(not any(k[0] in ("console1", "console2") for k in found), "guests without serials have no text SAP")
pty, tcp = found[("console3", UUID3 + ":serial0")], found[("console3", UUID3 + ":serial1")]
check(pty["CreationClassName"] == "KVM_TextRedirectionSAP" and pty["SystemCreationClassName"] == "KVM_ComputerSystem"
      and pty["ElementName"] == "serial0" and pty["DeviceName"] == "serial0" and pty["CharDeviceType"] == "pty"
      and pty["TextFlowType"] == 2 and pty["SessionTerminateSequence"] == "^]"
      and pty["EnabledState"] == 3 and pty["RequestedState"] == 12, "pty serial SAP of a shut-off guest: %s" % pty)
check(tcp["CharDeviceType"] == "tcp" and tcp["ConsoleAddress"] == "127.0.0.1:4555" and tcp["EnabledState"] == 3,
      "tcp serial SAP: %s" % tcp)
check(found[("console3", UUID3 + ":console0")]["ElementName"] == "console0", "console SAP")
text_names = conn.EnumerateInstanceNames("KVM_TextRedirectionSAP")
check(sorted((n["SystemName"], n["Name"]) for n in text_names) == sorted(found), "text EnumerateInstanceNames")
got = conn.GetInstance(tcp.path)
check(got["ConsoleAddress"] == "127.0.0.1:4555" and got["Name"] == UUID3 + ":serial1", "text SAP GetInstance")
for bad in ({"Name": UUID3 + ":serial9"}, {"SystemName": "console1"}, {"SystemName": "nosuchguest"}):
    p = tcp.path.copy()
    p.keybindings.update(bad)
    check(status_of(lambda: conn.GetInstance(p)) == NOT_FOUND, "text SAP %s: NOT_FOUND" % bad)
virsh("start", "console3")
found = text_saps()
check(all(i["EnabledState"] == 2 for k, i in found.items() if k[0] == "console3"), "started guest: text SAPs enabled")
check(conn.GetInstance(tcp.path)["EnabledState"] == 2, "started guest: text SAP GetInstance enabled")
guest3 = pywbem.CIMInstanceName("KVM_ComputerSystem", {"CreationClassName": "KVM_ComputerSystem",
                                                       "Name": "console3"}, namespace="root/virt")
got = conn.AssociatorNames(guest3, AssocClass="KVM_SAPAvailableForElement")
check(sorted(p["Name"] for p in got) == sorted(k[1] for k in found if k[0] == "console3")
      and all(p.classname == "KVM_TextRedirectionSAP" for p in got), "guest -> its text SAPs: %s" % got)
got = conn.Associators(tcp.path, AssocClass="KVM_SAPAvailableForElement")
check([g["Name"] for g in got] == ["console3"] and got[0]["EnabledState"] == 2, "text SAP -> its guest")
got = conn.AssociatorNames(tcp.path, AssocClass="KVM_HostedAccessPoint")
check([g["Name"] for g in got] == [host["Name"]] and got[0].classname == "KVM_HostSystem", "text SAP -> host")
got = conn.AssociatorNames(tcp.path, AssocClass="KVM_ServiceAccessBySAP")
check([g["Name"] for g in got] == ["ConsoleRedirectionService"], "text SAP -> service")
got = conn.AssociatorNames(host, AssocClass="KVM_HostedAccessPoint", ResultClass="KVM_TextRedirectionSAP")
check(sorted(map(lambda p: (p["SystemName"], p["Name"]), got)) == sorted(found), "host -> its text SAPs")
virsh("destroy", "console3")
check(all(i["EnabledState"] == 3 for k, i in text_saps().items() if k[0] == "console3"),
      "destroyed guest: text SAPs disabled")
sap_paths = sorted(sap_paths + text_names, key=str)

# --- the associations, both ways ---
def key(p):
    return (p["SystemName"], p["Name"])


got = conn.AssociatorNames(host, AssocClass="KVM_HostedAccessPoint")
check(sorted(map(key, got)) == sorted(map(key, sap_paths)), "host -> every SAP")
got = conn.Associators(vnc_path, AssocClass="KVM_HostedAccessPoint")
check(len(got) == 1 and got[0].classname == "KVM_HostSystem" and got[0]["Name"] == host["Name"], "SAP -> host")
refs = conn.References(vnc_path, ResultClass="KVM_HostedAccessPoint")
check(len(refs) == 1 and refs[0]["Antecedent"]["Name"] == host["Name"] and key(refs[0]["Dependent"]) == key(vnc_path),
      "SAP -> HostedAccessPoint reference")
refs = conn.ReferenceNames(host, ResultClass="KVM_HostedAccessPoint", Role="Antecedent")
check(len(refs) == len(sap_paths), "host -> HostedAccessPoint references")
got = conn.AssociatorNames(crs_path, AssocClass="KVM_ServiceAccessBySAP")
check(sorted(map(key, got)) == sorted(map(key, sap_paths)), "service -> every SAP")
got = conn.AssociatorNames(vnc_path, AssocClass="KVM_ServiceAccessBySAP", ResultRole="Antecedent")
check(len(got) == 1 and got[0]["Name"] == "ConsoleRedirectionService", "SAP -> service")
refs = conn.References(crs_path, ResultClass="KVM_ServiceAccessBySAP")
check(len(refs) == len(sap_paths), "service -> ServiceAccessBySAP references")
guest1 = pywbem.CIMInstanceName("KVM_ComputerSystem", {"CreationClassName": "KVM_ComputerSystem",
                                                       "Name": "console1"}, namespace="root/virt")
got = conn.AssociatorNames(guest1, AssocClass="KVM_SAPAvailableForElement")
check(sorted(p["Name"] for p in got) == ["5910:0", "5911:0"], "guest -> its SAPs: %s" % got)
got = conn.Associators(vnc_path, AssocClass="KVM_SAPAvailableForElement")
check([g["Name"] for g in got] == ["console1"] and got[0]["EnabledState"] == 2, "SAP -> its guest")
refs = conn.ReferenceNames(vnc_path, ResultClass="KVM_SAPAvailableForElement")
check(len(refs) == 1 and refs[0]["ManagedElement"]["Name"] == "console1", "SAP -> SAPAvailableForElement")
test_guest = pywbem.CIMInstanceName("KVM_ComputerSystem", {"CreationClassName": "KVM_ComputerSystem",
                                                           "Name": "test"}, namespace="root/virt")
check(conn.AssociatorNames(test_guest, AssocClass="KVM_SAPAvailableForElement") == [],
      "a guest without graphics has no SAP")
check(len(conn.EnumerateInstanceNames("KVM_HostedAccessPoint")) == len(sap_paths)
      and len(conn.EnumerateInstanceNames("KVM_ServiceAccessBySAP")) == len(sap_paths)
      and len(conn.EnumerateInstances("KVM_SAPAvailableForElement")) == len(sap_paths),
      "one instance of each SAP association per SAP")

affected = conn.AssociatorNames(crs_path, AssocClass="KVM_ServiceAffectsElement")
guests = sorted(line.strip() for line in virsh("list", "--all", "--name").splitlines() if line.strip())
check(sorted(p["Name"] for p in affected if p.classname == "KVM_ComputerSystem") == guests,
      "service -> every guest")
devices = sorted(p["DeviceID"] for p in affected if p.classname != "KVM_ComputerSystem")
for dev in ("console1/mouse:ps2", "console1/tablet:usb", "console1/vnc", "console1/spice:5911",
            "console2/vnc"):
    check(dev in devices, "service -> device %s: %s" % (dev, devices))
check(any(d.startswith("console1/controller:usb") for d in devices), "service -> USB controller: %s" % devices)
mouse = [p for p in affected if p.classname == "KVM_PointingDevice" and p["DeviceID"] == "console1/mouse:ps2"][0]
got = conn.Associators(mouse, AssocClass="KVM_ServiceAffectsElement")
check([s["Name"] for s in got] == ["ConsoleRedirectionService"], "pointing device -> service")
got = conn.AssociatorNames(guest1, AssocClass="KVM_ServiceAffectsElement", Role="AffectedElement")
check([s["Name"] for s in got] == ["ConsoleRedirectionService"], "guest -> service")
refs = conn.References(guest1, ResultClass="KVM_ServiceAffectsElement")
check(len(refs) == 1 and refs[0]["AffectingElement"]["Name"] == "ConsoleRedirectionService",
      "guest -> ServiceAffectsElement reference")
memory = [p for p in conn.EnumerateInstanceNames("KVM_Memory") if p["SystemName"] == "console1"][0]
check(conn.AssociatorNames(memory, AssocClass="KVM_ServiceAffectsElement") == [], "memory is not affected")
inst = conn.GetInstance(refs[0].path)
check(inst["AffectedElement"]["Name"] == "console1", "ServiceAffectsElement GetInstance")

# --- the profile ---
profile = pywbem.CIMInstanceName("KVM_RegisteredProfile", {"InstanceID": "CIM:DSP1076-KVMRedirection-1.0.0"},
                                 namespace="root/interop")
p = conn.GetInstance(profile)
check(p["RegisteredName"] == "KVM Redirection" and p["RegisteredVersion"] == "1.0.0"
      and p["RegisteredOrganization"] == 2 and list(p["AdvertiseTypes"]) == [3], "KVM Redirection profile")
central = conn.Associators(profile, AssocClass="KVM_ElementConformsToProfile",
                          ResultClass="KVM_ConsoleRedirectionService")
check(len(central) == 1 and central[0].path.namespace == "root/virt"
      and central[0]["Name"] == "ConsoleRedirectionService", "profile -> the service in root/virt")
scoping = conn.AssociatorNames(profile, AssocClass="KVM_ElementConformsToProfile", ResultClass="KVM_HostSystem")
check(len(scoping) == 1 and scoping[0]["Name"] == host["Name"], "profile -> the host")
back = conn.AssociatorNames(crs_path, AssocClass="KVM_ElementConformsToProfile")
check([b["InstanceID"] for b in back] == ["CIM:DSP1076-KVMRedirection-1.0.0"], "service -> its profile")
scope = conn.AssociatorNames(profile, AssocClass="KVM_ReferencedProfile", Role="Dependent")
check([s["InstanceID"] for s in scope] == ["CIM:DSP1042-SystemVirtualization-1.0.0"],
      "scoped by System Virtualization")
server = pywbem.WBEMServer(conn)
found = server.get_selected_profiles(registered_org="DMTF", registered_name="KVM Redirection")
check(len(found) == 1, "WBEMServer finds the KVM Redirection profile")
insts = server.get_central_instances(found[0].path, central_class="KVM_ConsoleRedirectionService")
# ElementConformsToProfile names the scoping host too, as libvirt-CIM's does.
check(sorted(i.classname for i in insts) == ["KVM_ConsoleRedirectionService", "KVM_HostSystem"]
      and [i["Name"] for i in insts if i.classname == "KVM_ConsoleRedirectionService"]
      == ["ConsoleRedirectionService"], "WBEMServer central instances %s" % insts)

# --- the switch service ---
switch = conn.EnumerateInstances("KVM_SwitchService")
check(len(switch) == 1 and switch[0]["Name"] == "Switch Virtualization Capabilities"
      and switch[0]["SystemName"] == host["Name"] and switch[0]["SystemCreationClassName"] == "KVM_HostSystem"
      and switch[0]["IsVSISupported"] is None, "switch service %s" % switch)
check(conn.GetInstance(switch[0].path)["Name"] == "Switch Virtualization Capabilities", "switch GetInstance")
p = switch[0].path.copy()
del p.keybindings["SystemName"]
check(status_of(lambda: conn.GetInstance(p)) == NOT_FOUND, "switch service without SystemName: NOT_FOUND")

virsh("destroy", "console1")
virsh("undefine", "console1")
virsh("undefine", "console2")
virsh("undefine", "console3")
check(conn.EnumerateInstanceNames("KVM_KVMRedirectionSAP") == [], "no SAP once the guests are gone")
check(not any(p["SystemName"].startswith("console") for p in conn.EnumerateInstanceNames("KVM_TextRedirectionSAP")),
      "no text SAP once the guests are gone")
passed()
