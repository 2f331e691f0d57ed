"""virtcim CIM state step: one KVM_ComputerSystem.RequestStateChange through pywbem, then the instance re-read.

Usage: cim_state.py URL NAME [REQUESTED_STATE]
Prints "return <ReturnValue>" or "error <CIM status> <description>" for the request, then
"state <EnabledState> <RequestedState>" read back with GetInstance.
"""
import sys

import pywbem

url, name = sys.argv[1], sys.argv[2]
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True)
CS = "KVM_ComputerSystem"
path = pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS, "Name": name}, namespace="root/virt")
if len(sys.argv) > 3:
    try:
        rv, _ = conn.InvokeMethod("RequestStateChange", path, RequestedState=pywbem.Uint16(int(sys.argv[3])))
        print("return %d" % rv)
    except pywbem.CIMError as err:
        print("error %d %s" % (err.status_code, err.status_description))
inst = conn.GetInstance(path)
print("state %d %d" % (inst["EnabledState"], inst["RequestedState"]))
