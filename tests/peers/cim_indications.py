"""virtcim peer test: CIM indications (DSP1054) delivered to pywbem's WBEMListener, subscribed through
pywbem's WBEMSubscriptionManager and pywbemcli, with guests changed by stock virsh over the native RPC socket.

Usage: cim_indications.py WBEM_URL VIRSH_URI PHASE
PHASE "main": subscriptions, delivery, faults, a listener that is down and comes back; leaves one permanent
subscription (filter "keep-filter", destination "keep-dest") for the daemon restart.
PHASE "after-restart": the permanent subscription is still there and still delivers.
Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid

import pywbem
from peerlib import check, cim_error, passed

url, virsh_uri, phase = sys.argv[1], sys.argv[2], sys.argv[3]
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True)
INTEROP = "root/interop"


def virsh(*args):
    out = subprocess.run(["virsh", "-q", "-c", virsh_uri] + list(args), capture_output=True, text=True)
    check(out.returncode == 0, "virsh %s: %s" % (args, out.stderr))
    return out.stdout


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Listener:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.got = queue.Queue()
        self.listener = pywbem.WBEMListener("127.0.0.1", http_port=self.port)
        self.listener.add_callback(lambda ind, host: self.got.put(ind))
        self.listener.start()

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.listener.stop()

    def wait(self, pred, what, timeout=60):
        """The first indication satisfying pred (others received meanwhile are kept in `seen`)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                ind = self.got.get(timeout=0.5)
            except queue.Empty:
                continue
            if pred(ind):
                return ind
        check(False, "no indication: " + what)

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.got.get_nowait())
            except queue.Empty:
                return out


def source_name(ind):
    src = ind.properties.get("SourceInstance")
    if src is None or src.value is None:
        return None
    value = src.value
    return value["Name"] if "Name" in value else value.get("InstanceID")


def domain_xml(name, kib):
    return ("<domain type='test'><name>%s</name><uuid>%s</uuid><memory unit='KiB'>%d</memory><vcpu>1</vcpu>"
            "<os><type>hvm</type></os></domain>" % (name, uuid.uuid5(uuid.NAMESPACE_URL, name), kib))


def define(name, kib=262144):
    path = "/tmp/virtcim-ind-%s-%d.xml" % (name, os.getpid())
    with open(path, "w") as f:
        f.write(domain_xml(name, kib))
    virsh("define", path)
    os.unlink(path)


server = pywbem.WBEMServer(conn)
check(server.interop_ns.lower() == INTEROP, "interop namespace %s" % server.interop_ns)

if phase == "main":
    # ---- faults: clear CIM errors ----
    def filt(query, lang="WQL", name="bad-filter", ns=None):
        inst = pywbem.CIMInstance("CIM_IndicationFilter", properties={
            "Name": name, "Query": query, "QueryLanguage": lang,
            "SourceNamespaces": ns or ["root/virt"]})
        return conn.CreateInstance(inst, namespace=INTEROP)

    code, desc = cim_error(filt, "SELECT * FROM KVM_ComputerSystemCreatedIndication WHERE (Name = 'x'")
    check(code == pywbem.CIM_ERR_INVALID_QUERY and "expected ')'" in desc, "malformed query: %s %s" % (code, desc))
    code, desc = cim_error(filt, "SELEKT * FROM CIM_InstCreation")
    check(code == pywbem.CIM_ERR_INVALID_QUERY, "not a SELECT: %s %s" % (code, desc))
    code, desc = cim_error(filt, "SELECT * FROM KVM_ComputerSystem")
    check(code == pywbem.CIM_ERR_INVALID_PARAMETER and "not an indication class" in desc,
          "no indication class: %s %s" % (code, desc))
    code, desc = cim_error(filt, "SELECT * FROM KVM_NoSuchIndication")
    check(code == pywbem.CIM_ERR_INVALID_PARAMETER and "does not exist" in desc, "unknown class: %s" % desc)
    code, desc = cim_error(filt, "SELECT * FROM CIM_InstCreation", lang="XPath")
    check(code == pywbem.CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED, "language: %s %s" % (code, desc))
    code, desc = cim_error(conn.CreateInstance, pywbem.CIMInstance(
        "CIM_ListenerDestinationCIMXML", properties={"Name": "bad", "Destination": "ftp://x"}),
        namespace=INTEROP)
    check(code == pywbem.CIM_ERR_INVALID_PARAMETER and "http" in desc, "bad destination: %s" % desc)
    check(conn.EnumerateInstances("CIM_IndicationFilter", namespace=INTEROP) == [],
          "refused filters left nothing behind")
    svc = conn.EnumerateInstances("CIM_IndicationService", namespace=INTEROP)
    check(len(svc) == 1 and svc[0]["DeliveryRetryAttempts"] == 5 and svc[0]["DeliveryRetryInterval"] == 1,
          "indication service: %s" % [str(s) for s in svc])

    # ---- pywbem's subscription manager: owned destination, filters and subscriptions ----
    main = Listener()
    sm = pywbem.WBEMSubscriptionManager(subscription_manager_id="virtcimtest")
    sid = sm.add_server(server)
    dest = sm.add_destination(sid, main.url(), destination_id="main")
    f_all = sm.add_filter(sid, ["root/virt"], "SELECT * FROM CIM_InstIndication", "DMTF:CQL",
                          filter_id="all")
    f_mod = sm.add_filter(sid, ["root/virt"],
                          "SELECT * FROM KVM_ComputerSystemModifiedIndication WHERE IndicationIdentifier IS NOT NULL",
                          "WQL", filter_id="mod")
    subs = sm.add_subscriptions(sid, f_all.path, [dest.path])
    check(len(subs) == 1 and subs[0]["SubscriptionState"] == 2, "subscription enabled")
    check(len(sm.get_owned_subscriptions(sid)) == 1, "owned subscription")
    dup = cim_error(conn.CreateInstance, pywbem.CIMInstance(
        "CIM_IndicationSubscription", properties={"Filter": f_all.path, "Handler": dest.path}), namespace=INTEROP)
    check(dup[0] == pywbem.CIM_ERR_ALREADY_EXISTS, "duplicate subscription: %s" % (dup,))
    inuse = cim_error(conn.DeleteInstance, f_all.path)
    check(inuse[0] == pywbem.CIM_ERR_FAILED and "used by a subscription" in inuse[1], "filter in use: %s" % (inuse,))

    # A second subscription to a closed port: it retries and then is disabled; nothing else waits for it.
    dead_port = free_port()
    dead = sm.add_destination(sid, "http://127.0.0.1:%d" % dead_port, destination_id="dead")
    sm.add_subscriptions(sid, f_mod.path, [dead.path])

    # A third to a hostile listener that accepts connections and never reads: each attempt ends at its deadline.
    hostile = socket.socket()
    hostile.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hostile.bind(("127.0.0.1", 0))
    hostile.listen(16)
    held = []
    threading.Thread(target=lambda: [held.append(hostile.accept()) for _ in range(64)], daemon=True).start()
    mute = sm.add_destination(sid, "http://127.0.0.1:%d" % hostile.getsockname()[1], destination_id="mute")
    sm.add_subscriptions(sid, f_all.path, [mute.path])

    # ---- guests changed with virsh: created, modified (state), RASD, deleted ----
    define("ind1")
    ind = main.wait(lambda i: i.classname == "KVM_ComputerSystemCreatedIndication" and source_name(i) == "ind1",
                    "ComputerSystemCreated for ind1")
    check(ind["SourceInstanceModelPath"] and "ind1" in ind["SourceInstanceModelPath"], "model path")
    check(ind["IndicationFilterName"] == f_all["Name"], "filter name %s" % ind["IndicationFilterName"])
    rasd = main.wait(lambda i: i.classname == "KVM_ResourceAllocationSettingDataCreatedIndication"
                     and (source_name(i) or "").startswith("ind1/"), "RASD created for ind1")
    # A new definition of a shut-off guest changes its memory RASD.
    define("ind1", 131072)
    ind = main.wait(lambda i: i.classname == "KVM_ResourceAllocationSettingDataModifiedIndication"
                    and source_name(i) == "ind1/mem", "memory RASD modified")
    check(ind["PreviousInstance"] is not None and ind["PreviousInstance"]["VirtualQuantity"]
          != ind["SourceInstance"]["VirtualQuantity"], "memory before and after: %s" % ind.tomof())
    virsh("start", "ind1")
    ind = main.wait(lambda i: i.classname == "KVM_ComputerSystemModifiedIndication" and source_name(i) == "ind1",
                    "ComputerSystemModified for ind1 started")
    check(ind["SourceInstance"]["EnabledState"] == 2 and ind["PreviousInstance"]["EnabledState"] == 3,
          "state change 3 -> 2: %s" % ind.tomof())
    check("EnabledState" in ind["ChangedPropertyNames"], "ChangedPropertyNames %s" % ind["ChangedPropertyNames"])
    # The listener on the closed port did not stop this subscription; the dead one retries meanwhile.
    virsh("destroy", "ind1")
    main.wait(lambda i: i.classname == "KVM_ComputerSystemModifiedIndication" and source_name(i) == "ind1"
              and i["SourceInstance"]["EnabledState"] == 3, "destroyed: modified to 3")
    virsh("undefine", "ind1")
    main.wait(lambda i: i.classname == "KVM_ComputerSystemDeletedIndication" and source_name(i) == "ind1",
              "ComputerSystemDeleted for ind1")
    # In order: sequence numbers of one subscription only grow.
    seqs = [i["SequenceNumber"] for i in main.drain() if i["SequenceNumber"] is not None]
    check(seqs == sorted(seqs), "sequence numbers in order: %s" % seqs)

    # The dead destination's subscription ends disabled (5 retries, 1 s apart), with a clear reason.
    deadline = time.time() + 60
    state = None
    while time.time() < deadline:
        for s in conn.EnumerateInstances("CIM_IndicationSubscription", namespace=INTEROP):
            if s["Handler"] == dead.path:
                state = (s["SubscriptionState"], s["OtherSubscriptionState"])
        if state and state[0] == 4:
            break
        time.sleep(0.5)
    check(state and state[0] == 4 and "connect" in (state[1] or ""), "dead listener disabled: %s" % (state,))

    # The hostile listener's subscription ends disabled too, its attempts having timed out.
    deadline = time.time() + 90
    state = None
    while time.time() < deadline:
        for s in conn.EnumerateInstances("CIM_IndicationSubscription", namespace=INTEROP):
            if s["Handler"] == mute.path:
                state = (s["SubscriptionState"], s["OtherSubscriptionState"])
        if state and state[0] == 4:
            break
        time.sleep(0.5)
    check(state and state[0] == 4 and "no answer within" in (state[1] or ""),
          "never-reading listener disabled: %s" % (state,))
    check(len(held) >= 1, "the hostile listener was connected to")

    # ---- a listener that is down and comes back within the retry window ----
    flaky = Listener()
    flaky_dest = sm.add_destination(sid, flaky.url(), destination_id="flaky")
    sm.add_subscriptions(sid, f_all.path, [flaky_dest.path])
    port = flaky.port
    flaky.stop()
    define("ind2")
    time.sleep(2)  # at least one failed attempt
    degraded = [s["SubscriptionState"] for s in conn.EnumerateInstances("CIM_IndicationSubscription",
                namespace=INTEROP) if s["Handler"] == flaky_dest.path]
    check(degraded in ([3], [2]), "flaky subscription state %s" % degraded)
    back = Listener(port)
    back.wait(lambda i: i.classname == "KVM_ComputerSystemCreatedIndication" and source_name(i) == "ind2",
              "ind2 created delivered after the listener came back")
    virsh("undefine", "ind2")
    back.wait(lambda i: i.classname == "KVM_ComputerSystemDeletedIndication" and source_name(i) == "ind2",
              "ind2 deleted")
    back.stop()

    # ---- pywbemcli: a permanent destination, filter and subscription that outlive the daemon ----
    main.stop()
    keep = Listener()
    cli = [sys.executable.replace("python", "pywbemcli"), "-s", url, "--no-verify"]

    def pywbemcli(*args):
        out = subprocess.run(cli + list(args), capture_output=True, text=True)
        check(out.returncode == 0, "pywbemcli %s: %s %s" % (args, out.stdout, out.stderr))
        return out.stdout

    pywbemcli("subscription", "add-destination", "keep-dest", "-l", keep.url(), "--permanent")
    pywbemcli("subscription", "add-filter", "keep-filter", "--permanent", "--source-namespaces", "root/virt",
              "-q", "SELECT * FROM KVM_ComputerSystemCreatedIndication")
    pywbemcli("subscription", "add-subscription", "keep-dest", "keep-filter", "--permanent")
    listing = pywbemcli("subscription", "list-subscriptions", "--summary")
    check("keep" in listing or "1" in listing, "pywbemcli lists the subscription: %s" % listing)
    define("ind3")
    keep.wait(lambda i: i.classname == "KVM_ComputerSystemCreatedIndication" and source_name(i) == "ind3",
              "pywbemcli's subscription delivers")
    keep.stop()
    # The owned ones are removed with the manager; the permanent ones stay.
    sm.remove_server(sid)
    left = conn.EnumerateInstances("CIM_IndicationSubscription", namespace=INTEROP)
    check(len(left) == 1 and "keep-filter" in str(left[0]["Filter"]), "only the permanent subscription is left: %s"
          % [str(s.path) for s in left])
elif phase == "after-restart":
    subs = conn.EnumerateInstances("CIM_IndicationSubscription", namespace=INTEROP)
    check(len(subs) == 1 and subs[0]["SubscriptionState"] == 2, "subscription kept: %s" % [s.tomof() for s in subs])
    filters = conn.EnumerateInstances("CIM_IndicationFilter", namespace=INTEROP)
    check([f["Name"] for f in filters] == ["keep-filter"], "filter kept")
    dests = conn.EnumerateInstances("CIM_ListenerDestinationCIMXML", namespace=INTEROP)
    check(len(dests) == 1 and dests[0]["Name"] == "keep-dest", "destination kept")
    port = int(dests[0]["Destination"].rsplit(":", 1)[1])
    keep = Listener(port)
    virsh("undefine", "ind3")
    define("ind4")
    keep.wait(lambda i: i.classname == "KVM_ComputerSystemCreatedIndication" and source_name(i) == "ind4",
              "delivery after restart")
    keep.stop()
    virsh("undefine", "ind4")
passed()
os._exit(0)
