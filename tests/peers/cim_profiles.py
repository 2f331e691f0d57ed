"""virtcim profile registration check (DSP1033) through pywbem: every KVM_RegisteredProfile of root/interop has
its central (or scoping) class served, each of its ElementConformsToProfile instances resolves by GetInstance, and
so do both ends; each conformant element leads back to the profile from its own namespace; a profile path with
extra keys still names the profile.

Usage: cim_profiles.py URL
Prints one "profile <InstanceID> <n> conformant" line per profile and "OK <checks>", or "FAIL <why>" lines and
exits 1.
"""
import sys

import pywbem

# libvirt-CIM's src/profiles.h: each profile's central class, else its scoping class (prefix KVM_).
CENTRAL = {
    "CIM:DSP1042-SystemVirtualization-1.0.0": "HostSystem",
    "CIM:DSP1057-VirtualSystem-1.0.0a": "ComputerSystem",
    "CIM:DSP1059-GenericDeviceResourceVirtualization-1.0.0_d": "DiskPool",
    "CIM:DSP1059-GenericDeviceResourceVirtualization-1.0.0_n": "NetworkPool",
    "CIM:DSP1059-GenericDeviceResourceVirtualization-1.0.0_p": "ProcessorPool",
    "CIM:DSP1045-MemoryResourceVirtualization-1.0.0": "MemoryPool",
    "CIM:DSP1081-VirtualSystemMigration-0.8.1": "VirtualSystemMigrationService",
    "CIM:DSP1076-KVMRedirection-1.0.0": "ConsoleRedirectionService",
    "CIM:DSP1043-AllocationCapabilities-1.0.0a": "AllocationCapabilities",
    "CIM:DSP1041-ResourceAllocation-1.1.0c_d": "DiskPool",
    "CIM:DSP1041-ResourceAllocation-1.1.0c_n": "NetworkPool",
    "CIM:DSP1041-ResourceAllocation-1.1.0c_p": "ProcessorPool",
    "CIM:DSP1041-ResourceAllocation-1.1.0c_m": "MemoryPool",
    # DSP1054, which libvirt-CIM does not register: the indication service of root/interop.
    "CIM:DSP1054-Indications-1.1.0": "CIM_IndicationService",
}

conn = pywbem.WBEMConnection(sys.argv[1], None, default_namespace="root/interop", no_verification=True)
failures = []
checks = 0


def check(cond, why):
    global checks
    checks += 1
    if not cond:
        failures.append(why)
        print("FAIL %s" % why)


def key(path):
    return (path.classname.lower(), (path.namespace or "").lower(),
            tuple(sorted((k.lower(), str(v)) for k, v in path.keybindings.items())))


def get(path, what):
    try:
        return conn.GetInstance(path)
    except pywbem.CIMError as err:
        check(False, "%s: GetInstance %s: %d %s" % (what, path, err.status_code, err.status_description))
        return None


profiles = conn.EnumerateInstances("KVM_RegisteredProfile", namespace="root/interop")
check(len(profiles) > 0, "no registered profiles")
for profile in profiles:
    pid = profile["InstanceID"]
    path = profile.path.copy()
    path.namespace = "root/interop"
    # Extra key bindings are ignored (libvirt-CIM's cu_validate_ref compares only the class's own keys).
    extra = path.copy()
    extra.keybindings["ExtraKey"] = "ignored"
    again = get(extra, "%s with an extra key" % pid)
    check(again is None or again["InstanceID"] == pid, "%s: extra key named another profile" % pid)
    ectps = conn.References(path, ResultClass="KVM_ElementConformsToProfile")
    elements = []
    for ectp in ectps:
        ectp_path = ectp.path.copy()
        ectp_path.namespace = ectp_path.namespace or "root/interop"
        get(ectp_path, "%s: ElementConformsToProfile" % pid)
        std, elem = ectp["ConformantStandard"], ectp["ManagedElement"]
        check(std.keybindings["InstanceID"] == pid, "%s: ECTP names profile %s" % (pid, std))
        got = get(std, "%s: ConformantStandard" % pid)
        check(got is None or got["InstanceID"] == pid, "%s: ConformantStandard resolves to another" % pid)
        if get(elem, "%s: ManagedElement" % pid) is not None:
            elements.append(elem)
            # The way back, from the element in its own namespace (ElementConformsToProfile is served in
            # root/virt too): the element's profiles include this one.
            elem_path = elem.copy()
            elem_path.namespace = elem_path.namespace or "root/virt"
            back = conn.AssociatorNames(elem_path, AssocClass="KVM_ElementConformsToProfile",
                                        ResultClass="KVM_RegisteredProfile", Role="ManagedElement")
            check(any(b.keybindings.get("InstanceID") == pid for b in back),
                  "%s: %s does not lead back to its profile: %s" % (pid, elem_path, back))
    central = CENTRAL.get(pid)
    if central is None:
        check(len(elements) > 0, "%s: a profile libvirt-CIM does not register has no conformant element" % pid)
    else:
        cls = central if central.startswith("CIM_") else "KVM_" + central
        ns = "root/interop" if central.startswith("CIM_") else "root/virt"
        served = conn.EnumerateInstanceNames(cls, namespace=ns)
        if central != "ComputerSystem":
            # Every class but the guests has instances on any host.
            check(len(served) > 0, "%s: central class %s has no instances" % (pid, cls))
        conformant = {key(e) for e in elements}
        for inst in served:
            inst = inst.copy()
            inst.namespace = inst.namespace or ns
            check(key(inst) in conformant, "%s: %s does not conform" % (pid, inst))
    print("profile %s %d conformant" % (pid, len(elements)))

if failures:
    sys.exit(1)
print("OK %d" % checks)
