"""virtcim peer test: indications from real QEMU guests at a pywbem WBEMListener.

Usage: qemu_indications.py WBEM_URL VIRSH_URI POWEROFF_XML TRANSIENT_XML
POWEROFF_XML defines guest "ind-bye", whose boot sector powers the machine off; TRANSIENT_XML is a spinning
guest "ind-spin" started with `virsh create`. Expects: ind-bye started (ModifiedIndication, EnabledState 3 -> 2),
then powered off by the guest itself (ModifiedIndication 2 -> 3); ind-spin created (CreatedIndication) and
destroyed by virsh (DeletedIndication: a transient guest is gone once stopped).
Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import os
import queue
import socket
import subprocess
import sys
import time

import pywbem
from peerlib import check, passed

url, virsh_uri, poweroff_xml, transient_xml = sys.argv[1:5]
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True)


def virsh(*args):
    out = subprocess.run(["virsh", "-q", "-c", virsh_uri] + list(args), capture_output=True, text=True)
    check(out.returncode == 0, "virsh %s: %s" % (args, out.stderr))


s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
got = queue.Queue()
listener = pywbem.WBEMListener("127.0.0.1", http_port=port)
listener.add_callback(lambda ind, host: got.put(ind))
listener.start()

server = pywbem.WBEMServer(conn)
sm = pywbem.WBEMSubscriptionManager(subscription_manager_id="qemutest")
sid = sm.add_server(server)
dest = sm.add_destination(sid, "http://127.0.0.1:%d" % port, destination_id="q")
flt = sm.add_filter(sid, ["root/virt"], "SELECT * FROM CIM_InstIndication", "WQL", filter_id="q")
sm.add_subscriptions(sid, flt.path, [dest.path])


def wait(pred, what, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            ind = got.get(timeout=0.5)
        except queue.Empty:
            continue
        if pred(ind):
            return ind
    check(False, "no indication: " + what)


def cs(ind, cls, name):
    return ind.classname == cls and ind["SourceInstance"] is not None and ind["SourceInstance"]["Name"] == name


try:
    virsh("define", poweroff_xml)
    wait(lambda i: cs(i, "KVM_ComputerSystemCreatedIndication", "ind-bye"), "ind-bye defined")
    virsh("start", "ind-bye")
    ind = wait(lambda i: cs(i, "KVM_ComputerSystemModifiedIndication", "ind-bye")
               and i["SourceInstance"]["EnabledState"] == 2, "ind-bye started")
    check(ind["PreviousInstance"]["EnabledState"] == 3, "previous state of the start: %s" % ind.tomof())
    # The guest powers itself off: QEMU reports it, nobody asked.
    ind = wait(lambda i: cs(i, "KVM_ComputerSystemModifiedIndication", "ind-bye")
               and i["SourceInstance"]["EnabledState"] == 3, "ind-bye powered itself off")
    check(ind["PreviousInstance"]["EnabledState"] in (2, 4), "previous state of the power-off: %s" % ind.tomof())
    check("EnabledState" in ind["ChangedPropertyNames"], "changed properties %s" % ind["ChangedPropertyNames"])

    virsh("create", transient_xml)
    wait(lambda i: cs(i, "KVM_ComputerSystemCreatedIndication", "ind-spin"), "ind-spin created")
    virsh("destroy", "ind-spin")
    ind = wait(lambda i: cs(i, "KVM_ComputerSystemDeletedIndication", "ind-spin"), "ind-spin destroyed")
    check("ind-spin" in ind["SourceInstanceModelPath"], "model path %s" % ind["SourceInstanceModelPath"])
    virsh("undefine", "ind-bye")
    wait(lambda i: cs(i, "KVM_ComputerSystemDeletedIndication", "ind-bye"), "ind-bye undefined")
finally:
    sm.remove_server(sid)
    listener.stop()
passed()
os._exit(0)
