"""virtcim GetInstance failures as libvirt-CIM answers them (its src/Virt_*.c get_*_by_ref and libcmpiutil's
cu_validate_ref): for each class, a missing key, a key naming nothing, a missing domain and a path whose other keys
differ get libvirt-CIM's CIM status and description; an unparsable embedded instance given to any method gets
libcmpiutil's answer. Also: extra keys in a RegisteredProfile path are ignored.

Usage: cim_lookup_errors.py WBEM_URL [USER PASSWORD]
Needs the test driver's "test" domain (disk "vda", network, processor); prints "OK <n> checks" or names the first
failed check and exits 1.
"""
import sys
import warnings

import pywbem
from peerlib import check, cim_error, passed

# pywbem warns about instance paths without keys, which these checks send on purpose.
warnings.simplefilter("ignore")
url = sys.argv[1]
creds = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else None
conn = pywbem.WBEMConnection(url, creds, default_namespace="root/virt", no_verification=True, timeout=120)
FAILED, NOT_FOUND = pywbem.CIM_ERR_FAILED, pywbem.CIM_ERR_NOT_FOUND
DOMAIN_MSG = cim_error(conn.GetInstance, pywbem.CIMInstanceName(
    "KVM_ComputerSystem", {"CreationClassName": "KVM_ComputerSystem", "Name": "nosuch"}))[1].split(": ", 1)[1]
host = conn.EnumerateInstanceNames("KVM_HostSystem")[0]["Name"]


def path(cls, **keys):
    return pywbem.CIMInstanceName(cls, keys, namespace="root/virt")


def dev(cls, device, system="test", **extra):
    keys = {"SystemCreationClassName": "KVM_ComputerSystem", "SystemName": system, "CreationClassName": cls}
    if device is not None:
        keys["DeviceID"] = device
    keys.update(extra)
    return path(cls, **keys)


DISK_RASD = "KVM_DiskResourceAllocationSettingData"
CASES = [
    # Virt_VSSD.c get_vssd_by_ref
    (path("KVM_VirtualSystemSettingData"), NOT_FOUND, "No such instance (InstanceID)"),
    (path("KVM_VirtualSystemSettingData", InstanceID="garbage"), NOT_FOUND, "No such instance (InstanceID)"),
    (path("KVM_VirtualSystemSettingData", InstanceID="KVM:nosuch"), NOT_FOUND,
     "No such instance (nosuch): " + DOMAIN_MSG),
    (path("KVM_VirtualSystemSettingData", InstanceID="Xen:test"), NOT_FOUND, "No such instance (InstanceID)"),
    # Virt_RASD.c get_rasd_by_ref
    (path(DISK_RASD), FAILED, "Missing InstanceID"),
    (path(DISK_RASD, InstanceID="garbage"), NOT_FOUND, "No such instance (garbage)"),
    (path(DISK_RASD, InstanceID="nosuch/vda"), NOT_FOUND, "No such instance (nosuch/vda): " + DOMAIN_MSG),
    (path(DISK_RASD, InstanceID="test/vdz"), NOT_FOUND, "No such instance (test/vdz)"),
    # Virt_Device.c get_device_by_ref
    (dev("KVM_LogicalDisk", None), FAILED, "No DeviceID specified"),
    (dev("KVM_LogicalDisk", "bad"), NOT_FOUND, "No such instance (bad id bad)"),
    (dev("KVM_LogicalDisk", "nosuch/vda", "nosuch"), NOT_FOUND,
     "No such instance (no domain for nosuch/vda): " + DOMAIN_MSG),
    (dev("KVM_LogicalDisk", "test/vdz"), NOT_FOUND, "No such instance (no device test/vdz)"),
    (dev("KVM_LogicalDisk", "test/vda", "other"), NOT_FOUND, "No such instance (SystemName)"),
    (dev("KVM_LogicalDisk", "test/vda", SystemCreationClassName="KVM_HostSystem"), NOT_FOUND,
     "No such instance (SystemCreationClassName)"),
    (dev("KVM_Processor", "test/0", CreationClassName="KVM_Memory"), NOT_FOUND,
     "No such instance (CreationClassName)"),
    # Virt_DevicePool.c get_pool_by_ref
    (path("KVM_DiskPool"), FAILED, "Missing InstanceID"),
    (path("KVM_DiskPool", InstanceID="NetworkPool/default"), NOT_FOUND,
     "No such instance (NetworkPool/default) - resource pool type mismatch"),
    (path("KVM_DiskPool", InstanceID="garbage"), NOT_FOUND, "No such instance (garbage) - resource pool type mismatch"),
    (path("KVM_DiskPool", InstanceID="DiskPool/nosuch"), NOT_FOUND, "No such instance (DiskPool/nosuch)"),
    (path("KVM_NetworkPool", InstanceID="NetworkPool/nosuch"), NOT_FOUND, "No such instance (NetworkPool/nosuch)"),
    # Virt_AllocationCapabilities.c
    (path("KVM_AllocationCapabilities"), FAILED, "No InstanceID specified"),
    (path("KVM_AllocationCapabilities", InstanceID="DiskPool/nosuch"), NOT_FOUND, "Instance not found."),
    # Virt_EnabledLogicalElementCapabilities.c get_elec_by_ref
    (path("KVM_EnabledLogicalElementCapabilities"), FAILED, "No InstanceID specified"),
    (path("KVM_EnabledLogicalElementCapabilities", InstanceID="nosuch"), NOT_FOUND,
     "No such instance (nosuch): " + DOMAIN_MSG),
    # Virt_HostSystem.c: cu_validate_ref
    (path("KVM_HostSystem", CreationClassName="KVM_HostSystem", Name="other-host"), NOT_FOUND,
     "No such instance (Name)"),
    # The host's singleton services and capabilities: cu_validate_ref names the first key that differs.
    (path("KVM_VirtualSystemManagementService", CreationClassName="KVM_VirtualSystemManagementService",
          Name="other", SystemCreationClassName="KVM_HostSystem", SystemName=host), NOT_FOUND, "No such instance (Name)"),
    (path("KVM_ConsoleRedirectionService", CreationClassName="KVM_ConsoleRedirectionService",
          Name="ConsoleRedirectionService", SystemCreationClassName="KVM_HostSystem", SystemName="other-host"),
     NOT_FOUND, "No such instance (SystemName)"),
    (path("KVM_VirtualSystemManagementCapabilities", InstanceID="x"), NOT_FOUND, "No such instance (InstanceID)"),
    (path("KVM_VirtualSystemManagementCapabilities"), NOT_FOUND, "No such instance (InstanceID)"),
    (path("KVM_ConsoleRedirectionServiceCapabilities", InstanceID="x"), NOT_FOUND, "No such instance (InstanceID)"),
    (path("KVM_ResourcePoolConfigurationCapabilities", InstanceID="x"), NOT_FOUND, "No such instance (InstanceID)"),
    (path("KVM_VirtualSystemSnapshotServiceCapabilities", InstanceID="x"), NOT_FOUND,
     "No such instance (InstanceID)"),
    # Virt_ComputerSystem.c (already libvirt-CIM's)
    (path("KVM_ComputerSystem", CreationClassName="KVM_ComputerSystem", Name="nosuch"), NOT_FOUND,
     "Referenced domain `nosuch' does not exist: " + DOMAIN_MSG),
    (path("KVM_ComputerSystem", CreationClassName="KVM_ComputerSystem"), FAILED, "No domain name specified"),
]
for p, code, desc in CASES:
    got = cim_error(conn.GetInstance, p)
    check(got == (code, desc), "GetInstance %s: %r, libvirt-CIM answers %r" % (p, got, (code, desc)))

# What exists still resolves, with extra keys ignored as cu_validate_ref does.
for p in [path(DISK_RASD, InstanceID="test/vda", Extra="x"), dev("KVM_LogicalDisk", "test/vda", Extra="x"),
          path("KVM_VirtualSystemSettingData", InstanceID="KVM:test"), path("KVM_DiskPool", InstanceID="DiskPool/0"),
          path("KVM_HostSystem", CreationClassName="KVM_HostSystem", Name=host, Extra="x"),
          path("KVM_EnabledLogicalElementCapabilities", InstanceID="test"),
          path("KVM_VirtualSystemManagementCapabilities", InstanceID="ManagementCapabilities", Extra="x"),
          conn.EnumerateInstanceNames("KVM_VirtualSystemManagementService")[0],
          conn.EnumerateInstanceNames("KVM_ResourcePoolConfigurationService")[0],
          conn.EnumerateInstanceNames("KVM_ConsoleRedirectionServiceCapabilities")[0]]:
    check(cim_error(conn.GetInstance, p) == (0, ""), "GetInstance %s resolves" % p)
# An embedded instance that does not parse, for every method taking one: libcmpiutil's std_invokemethod answers
# FAILED "Unable to parse embedded object" before the method runs (arguments checked in declared order).
UNPARSABLE = (FAILED, "Unable to parse embedded object")
vsms = conn.EnumerateInstanceNames("KVM_VirtualSystemManagementService")[0]
rpcs = conn.EnumerateInstanceNames("KVM_ResourcePoolConfigurationService")[0]
snap = conn.EnumerateInstanceNames("KVM_VirtualSystemSnapshotService")[0]
guest = path("KVM_ComputerSystem", CreationClassName="KVM_ComputerSystem", Name="test")
vssd = path("KVM_VirtualSystemSettingData", InstanceID="KVM:test")
for text in ["garbage{", "instance of KVM_DiskResourceAllocationSettingData { InstanceID = ", "<INSTANCE CLASSNAME="]:
    for target, method, kw in [
            (vsms, "DefineSystem", {"SystemSettings": text, "ResourceSettings": []}),
            (vsms, "AddResourceSettings", {"AffectedConfiguration": vssd, "ResourceSettings": [text]}),
            (vsms, "ModifyResourceSettings", {"ResourceSettings": [text]}),
            (vsms, "ModifySystemSettings", {"SystemSettings": text}),
            (rpcs, "CreateChildResourcePool", {"ElementName": "x", "Settings": [text]}),
            (snap, "CreateSnapshot", {"AffectedSystem": guest, "SnapshotSettings": text,
                                      "SnapshotType": pywbem.Uint16(9)})]:
        got = cim_error(conn.InvokeMethod, method, target, **kw)
        check(got == UNPARSABLE, "%s with %r: %r" % (method, text, got))

profile = pywbem.CIMInstanceName("KVM_RegisteredProfile", {"InstanceID": "CIM:DSP1057-VirtualSystem-1.0.0a",
                                                           "ExtraKey": "ignored"}, namespace="root/interop")
check(conn.GetInstance(profile)["RegisteredName"] == "Virtual System Profile", "RegisteredProfile with an extra key")

passed()
