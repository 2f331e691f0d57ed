"""virtcim WBEM peer test: runs named operations through pywbem with a client certificate and/or Basic
credentials, and prints one line per operation: "NAME OK <result>", "NAME CIMError <status>",
"NAME HTTPError <status>" or "NAME ConnectionError" (the outcome is judged by the caller).

Usage: wbem_access.py URL CA_FILE CERT|- KEY|- USER|- PASSWORD|- OPERATION...
Operations: ein, ei (names and EnabledState), assoc (devices of vm000), pull (an open/pull enumeration),
start / stop (RequestStateChange vm000 to 2 / 3), define
(DefineSystem), modify (ModifyInstance of vm000), create (CreateInstance), delete (DeleteInstance of vm001).
"""
import sys

import pywbem

url, ca, cert, key, user, password = sys.argv[1:7]
operations = sys.argv[7:]
x509 = {"cert_file": cert, "key_file": key} if cert != "-" else None
creds = (user, password) if user != "-" else None
conn = pywbem.WBEMConnection(
    url, creds, default_namespace="root/virt", x509=x509, ca_certs=ca, timeout=30
)


def cs(name):
    return pywbem.CIMInstanceName(
        "KVM_ComputerSystem",
        keybindings={"CreationClassName": "KVM_ComputerSystem", "Name": name},
        namespace="root/virt",
    )


def run(op):
    if op == "ein":
        return len(conn.EnumerateInstanceNames("KVM_ComputerSystem"))
    if op == "ei":
        insts = conn.EnumerateInstances("KVM_ComputerSystem")
        return ",".join(
            "%s=%s" % (i["Name"], i["EnabledState"]) for i in sorted(insts, key=lambda i: i["Name"])
        )
    if op == "assoc":
        return len(conn.Associators(cs("vm000"), AssocClass="KVM_SystemDevice"))
    if op == "pull":
        result = conn.OpenEnumerateInstances("KVM_ComputerSystem", MaxObjectCount=2)
        count = len(result.instances)
        while not result.eos:
            result = conn.PullInstancesWithPath(result.context, MaxObjectCount=2)
            count += len(result.instances)
        return count
    if op == "start":
        ret, _ = conn.InvokeMethod("RequestStateChange", cs("vm000"), RequestedState=pywbem.Uint16(2))
        return ret
    if op == "stop":
        ret, _ = conn.InvokeMethod("RequestStateChange", cs("vm000"), RequestedState=pywbem.Uint16(3))
        return ret
    if op == "define":
        vssd = pywbem.CIMInstance(
            "KVM_VirtualSystemSettingData",
            properties={"VirtualSystemIdentifier": "denied-guest", "VirtualSystemType": "test"},
        )
        services = conn.EnumerateInstanceNames("KVM_VirtualSystemManagementService")
        ret, _ = conn.InvokeMethod(
            "DefineSystem", services[0], SystemSettings=vssd.tomof(), ResourceSettings=[]
        )
        return ret
    if op == "modify":
        inst = conn.GetInstance(cs("vm000"))
        conn.ModifyInstance(inst)
        return "modified"
    if op == "create":
        conn.CreateInstance(
            pywbem.CIMInstance(
                "KVM_ComputerSystem",
                properties={"CreationClassName": "KVM_ComputerSystem", "Name": "new"},
            )
        )
        return "created"
    if op == "delete":
        conn.DeleteInstance(cs("vm001"))
        return "deleted"
    raise ValueError("unknown operation " + op)


for op in operations:
    try:
        print(op, "OK", run(op))
    except pywbem.CIMError as err:
        print(op, "CIMError", err.status_code)
    except pywbem.HTTPError as err:
        print(op, "HTTPError", err.status)
    except pywbem.ConnectionError as err:
        print(op, "ConnectionError", str(err).replace("\n", " ")[:300])
    except Exception as err:  # noqa: BLE001 - reported to the caller, which fails the test
        print(op, type(err).__name__, str(err).replace("\n", " ")[:300])
    sys.stdout.flush()
