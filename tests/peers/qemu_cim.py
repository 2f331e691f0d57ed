"""virtcim CIM-over-QEMU peer step: one KVM_ComputerSystem.RequestStateChange through pywbem, then the instance.

Usage: qemu_cim.py URL NAME [REQUESTED_STATE]
Prints "return <ReturnValue>" when a state was requested, then "enabled <EnabledState>" and
"requested <RequestedState>" read back with GetInstance. Exits 1 with "cim-error <status>" on a CIMError.
"""
import sys

import pywbem

url, name = sys.argv[1], sys.argv[2]
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True)
CS = "KVM_ComputerSystem"
path = pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS, "Name": name}, namespace="root/virt")
try:
    if len(sys.argv) > 3:
        rv, _ = conn.InvokeMethod("RequestStateChange", path, RequestedState=pywbem.Uint16(int(sys.argv[3])))
        print("return %d" % rv)
    inst = conn.GetInstance(path)
except pywbem.CIMError as err:
    print("cim-error %d %s" % (err.status_code, err.status_description))
    sys.exit(1)
print("enabled %d" % inst["EnabledState"])
print("requested %d" % inst["RequestedState"])
