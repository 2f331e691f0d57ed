"""virtcim WBEM peer test: drives a running virtcimd with the pywbem API and checks the results.

Usage: wbem_pywbem.py URL [USER PASSWORD]
Expects the test driver's default domain "test" (running) and shut-off domains vm000, vm001, vm002.
Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import sys
import time

import pywbem
from peerlib import check, passed

url = sys.argv[1]
creds = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else None
conn = pywbem.WBEMConnection(url, creds, default_namespace="root/virt", no_verification=True)


def cim_error(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except pywbem.CIMError as e:
        return e.status_code
    return 0


CS = "KVM_ComputerSystem"

# Classes
cls = conn.GetClass(CS, LocalOnly=False)
check(cls.classname == CS and "EnabledState" in cls.properties, "GetClass")
check(cls.superclass == "CIM_ComputerSystem", "GetClass superclass")
names = conn.EnumerateClassNames(DeepInheritance=True)
check(CS in names and "CIM_ManagedElement" in names, "EnumerateClassNames deep")
top = conn.EnumerateClassNames()
check("CIM_ManagedElement" in top and CS not in top, "EnumerateClassNames top")
sub = conn.EnumerateClasses(ClassName="CIM_ComputerSystem")
check(sorted(c.classname for c in sub) == ["KVM_ComputerSystem", "KVM_HostSystem"], "EnumerateClasses")
check(cim_error(conn.GetClass, "NoSuchClass") == pywbem.CIM_ERR_NOT_FOUND, "GetClass missing")

# Instances
paths = conn.EnumerateInstanceNames(CS)
got = sorted(p.keybindings["Name"] for p in paths)
check(got == ["test", "vm000", "vm001", "vm002"], "EnumerateInstanceNames: %r" % got)
insts = conn.EnumerateInstances(CS)
by_name = {i["Name"]: i for i in insts}
check(set(by_name) == set(got), "EnumerateInstances")
t = by_name["test"]
check(t["EnabledState"] == 2 and t["HealthState"] == 5 and list(t["OperationalStatus"]) == [2], "running state")
check(by_name["vm000"]["EnabledState"] == 3, "shut off state")
check(t["CreationClassName"] == CS and t["ElementName"] == "test", "keys and ElementName")
check(t["Caption"].startswith("Virtual System (") and t["Description"] == "Virtual System", "Caption")
check(by_name["vm000"]["Caption"] == "Virtual System (No console)", "Caption without graphics")
check(t["UUID"] and t["OtherIdentifyingInfo"][2] == t["UUID"], "UUID")
deep = conn.EnumerateInstances("CIM_ComputerSystem")
check(sorted(i.classname for i in deep).count(CS) == 4 and any(i.classname == "KVM_HostSystem" for i in deep),
      "EnumerateInstances of the superclass (deep)")
pl = conn.EnumerateInstances(CS, PropertyList=["Name", "EnabledState"])
check(all(set(i.keys()) == {"Name", "EnabledState"} for i in pl), "PropertyList")
path = pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS, "Name": "test"}, namespace="root/virt")
inst = conn.GetInstance(path)
check(inst["Name"] == "test" and inst["EnabledState"] == 2, "GetInstance")
missing = pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS, "Name": "nope"}, namespace="root/virt")
check(cim_error(conn.GetInstance, missing) == pywbem.CIM_ERR_NOT_FOUND, "GetInstance missing")
check(cim_error(conn.EnumerateInstances, "NoSuchClass") == pywbem.CIM_ERR_INVALID_CLASS, "bad class")
check(cim_error(conn.EnumerateInstances, CS, namespace="root/nowhere") == pywbem.CIM_ERR_INVALID_NAMESPACE,
      "bad namespace")

# Associations
host = conn.EnumerateInstanceNames("KVM_HostSystem")
check(len(host) == 1, "one host")
an = conn.AssociatorNames(path, AssocClass="KVM_HostedDependency")
check(len(an) == 1 and an[0].classname == "KVM_HostSystem", "AssociatorNames")
ai = conn.Associators(path, ResultClass="CIM_ComputerSystem")
check(len(ai) == 1 and ai[0].classname == "KVM_HostSystem", "Associators")
check(conn.Associators(path, ResultClass=CS) == [], "Associators ResultClass filter")
check(conn.Associators(path, Role="Antecedent") == [], "Associators Role filter")
guests = conn.AssociatorNames(host[0], AssocClass="KVM_HostedDependency", ResultRole="Dependent")
check(len(guests) == 4, "host's guests")
rn = conn.ReferenceNames(path)
# The guest's own associations (SystemDevice, SettingsDefineState) name it too.
check(len([r for r in rn if r.classname == "KVM_HostedDependency"]) == 1, "ReferenceNames")
check({"KVM_SystemDevice", "KVM_SettingsDefineState"} <= {r.classname for r in rn}, "ReferenceNames per-guest")
refs = conn.References(path, ResultClass="CIM_Dependency")
check(len(refs) == 1 and refs[0]["Dependent"].keybindings["Name"] == "test", "References")
check(conn.References(path, Role="Antecedent") == [], "References Role filter")
cls_assoc = conn.AssociatorNames(CS)
check(any(p.classname == "KVM_HostSystem" for p in cls_assoc), "class-level AssociatorNames")

# Methods
vm = pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS, "Name": "vm000"}, namespace="root/virt")
rv, out = conn.InvokeMethod("RequestStateChange", vm, RequestedState=pywbem.Uint16(2))
check(rv == 0, "RequestStateChange start")
after = conn.GetInstance(vm)
check(after["EnabledState"] == 2 and after["RequestedState"] == 2, "started: %r" % after["EnabledState"])
rv, out = conn.InvokeMethod("RequestStateChange", vm, RequestedState=pywbem.Uint16(9))
check(rv == 0 and conn.GetInstance(vm)["EnabledState"] == 9, "paused")
# As libvirt-CIM: Disabled only from a running guest, so a paused one is resumed first.
check(cim_error(conn.InvokeMethod, "RequestStateChange", vm, RequestedState=pywbem.Uint16(3))
      == pywbem.CIM_ERR_FAILED, "disable paused refused")
rv, out = conn.InvokeMethod("RequestStateChange", vm, RequestedState=pywbem.Uint16(2))
check(rv == 0 and conn.GetInstance(vm)["EnabledState"] == 2, "resumed")
rv, out = conn.InvokeMethod("RequestStateChange", vm, RequestedState=pywbem.Uint16(3))
check(rv == 0 and conn.GetInstance(vm)["EnabledState"] == 3, "destroyed")
check(cim_error(conn.InvokeMethod, "RequestStateChange", vm, RequestedState=pywbem.Uint16(7))
      == pywbem.CIM_ERR_NOT_SUPPORTED, "unsupported RequestedState")
check(cim_error(conn.InvokeMethod, "NoSuchMethod", vm) == pywbem.CIM_ERR_METHOD_NOT_FOUND, "no such method")
# libvirt-CIM answers a guest it cannot find as a bad parameter of RequestStateChange.
check(cim_error(conn.InvokeMethod, "RequestStateChange", missing, RequestedState=pywbem.Uint16(2))
      == pywbem.CIM_ERR_INVALID_PARAMETER, "method on missing instance")

# Query
q = conn.ExecQuery("WQL", "SELECT Name FROM KVM_ComputerSystem WHERE EnabledState = 2 OR Name = 'vm001'")
check(sorted(i["Name"] for i in q) == ["test", "vm001"], "ExecQuery")
check(cim_error(conn.ExecQuery, "WQL", "SELECT FROM") == pywbem.CIM_ERR_INVALID_QUERY, "bad query")
check(cim_error(conn.ExecQuery, "CQL", "SELECT * FROM x") == pywbem.CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED, "CQL")

# Pull operations
r = conn.OpenEnumerateInstances(CS, MaxObjectCount=1)
seen = [i["Name"] for i in r.instances]
check(len(seen) == 1 and not r.eos, "OpenEnumerateInstances MaxObjectCount=1")
ctx = r.context
while not r.eos:
    r = conn.PullInstancesWithPath(r.context, MaxObjectCount=2)
    check(len(r.instances) <= 2, "PullInstancesWithPath MaxObjectCount")
    seen += [i["Name"] for i in r.instances]
check(sorted(seen) == ["test", "vm000", "vm001", "vm002"], "pulled all: %r" % seen)
r = conn.OpenEnumerateInstancePaths(CS, MaxObjectCount=0)
check(len(r.paths) == 0 and not r.eos, "OpenEnumerateInstancePaths 0")
r2 = conn.PullInstancePaths(r.context, MaxObjectCount=100)
check(len(r2.paths) == 4 and r2.eos, "PullInstancePaths")
check(cim_error(conn.PullInstancePaths, r.context, MaxObjectCount=1) == pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT,
      "finished context is gone")
r = conn.OpenEnumerateInstancePaths(CS, MaxObjectCount=1)
conn.CloseEnumeration(r.context)
check(cim_error(conn.PullInstancePaths, r.context, MaxObjectCount=1) == pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT,
      "closed context is gone")
r = conn.OpenEnumerateInstancePaths(CS, MaxObjectCount=1, OperationTimeout=1)
time.sleep(2.5)
check(cim_error(conn.PullInstancePaths, r.context, MaxObjectCount=1) == pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT,
      "expired context is gone")
check(cim_error(conn.OpenEnumerateInstancePaths, CS, OperationTimeout=100000) == pywbem.CIM_ERR_INVALID_OPERATION_TIMEOUT,
      "OperationTimeout too large")
check(cim_error(conn.OpenEnumerateInstances, CS, ContinueOnError=True) == pywbem.CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED,
      "ContinueOnError")
r = conn.OpenAssociatorInstancePaths(path, AssocClass="KVM_HostedDependency", MaxObjectCount=10)
check(len(r.paths) == 1 and r.eos, "OpenAssociatorInstancePaths")
r = conn.OpenAssociatorInstances(path, AssocClass="KVM_HostedDependency", MaxObjectCount=10)
check(len(r.instances) == 1 and r.instances[0].classname == "KVM_HostSystem", "OpenAssociatorInstances")
r = conn.OpenReferenceInstancePaths(path, ResultClass="KVM_HostedDependency", MaxObjectCount=10)
check(len(r.paths) == 1 and r.paths[0].classname == "KVM_HostedDependency", "OpenReferenceInstancePaths")
r = conn.OpenReferenceInstances(path, ResultClass="KVM_HostedDependency", MaxObjectCount=10)
check(len(r.instances) == 1, "OpenReferenceInstances")
all_inst = list(conn.IterEnumerateInstances(CS, MaxObjectCount=1))
check(len(all_inst) == 4, "IterEnumerateInstances")
check(len(list(conn.IterQueryInstances("WQL", "SELECT * FROM KVM_ComputerSystem WHERE EnabledState = 3")
               .generator)) >= 1, "IterQueryInstances")

# Changes go to providers, which do not support them here
check(cim_error(conn.DeleteInstance, path) == pywbem.CIM_ERR_NOT_SUPPORTED, "DeleteInstance")
check(cim_error(conn.CreateInstance, pywbem.CIMInstance(CS, properties={"Name": "x"})) == pywbem.CIM_ERR_NOT_SUPPORTED,
      "CreateInstance")
check(cim_error(conn.EnumerateQualifiers) == pywbem.CIM_ERR_NOT_SUPPORTED, "unsupported operation")

passed()
