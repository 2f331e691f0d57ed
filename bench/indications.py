"""Indication latency: a guest state change (KVM_ComputerSystem.RequestStateChange pause/resume of the test
driver's running domain "test", through pywbem) to receipt at a pywbem WBEMListener, with 1 and with N
subscriptions (N filters on one listener destination: every change is delivered N times).

Usage: bench/indications.py VIRTCIMD [CHANGES] [SUBS...]      (run with the pywbem venv's python, as root or not)
Starts VIRTCIMD on a temp dir (test driver, WBEM on 127.0.0.1), prints one line per subscription count:
subs, changes, p50/p99 of the first copy's latency and of the last copy's (all N delivered), in ms.
"""
import os
import queue
import re
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

import pywbem

daemon_bin = sys.argv[1]
changes = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
counts = [int(a) for a in sys.argv[3:]] or [1, 100]

tmp = tempfile.mkdtemp(prefix="virtcim-bench-ind-")
conf = os.path.join(tmp, "virtcimd.conf")
with open(conf, "w") as f:
    f.write('state_dir = "%s/state"\nunix_sock_dir = "%s/run"\nlisten_wbem_http = 1\nwbem_http_port = 0\n'
            'wbem_listen_addr = "127.0.0.1"\nwbem_auth = "none"\nwbem_indication_queue_size = 100000\n'
            % (tmp, tmp))
proc = subprocess.Popen([daemon_bin, "--config", conf], stderr=subprocess.PIPE, text=True,
                        env=dict(os.environ, RUST_LOG="warn,virtcim=info"))
addr = None
for line in proc.stderr:
    m = re.search(r"WBEM HTTP listening.*addr=(\S+)", line)
    if m:
        addr = m.group(1)
        break
threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
url = "http://" + addr
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt")
server = pywbem.WBEMServer(conn)

# The listener's accept backlog (socketserver's default is 5) would drop connections of the N subscriptions'
# concurrent deliveries.
socketserver.TCPServer.request_queue_size = 1024
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
got = queue.Queue()
listener = pywbem.WBEMListener("127.0.0.1", http_port=port)
listener.add_callback(lambda ind, host: got.put((time.perf_counter(), ind["SourceInstance"]["EnabledState"])))
listener.start()

CS = "KVM_ComputerSystem"
path = pywbem.CIMInstanceName(CS, keybindings={"CreationClassName": CS, "Name": "test"}, namespace="root/virt")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))] * 1000.0


try:
    for n in counts:
        sm = pywbem.WBEMSubscriptionManager(subscription_manager_id="bench%d" % n)
        sid = sm.add_server(server)
        dest = sm.add_destination(sid, "http://127.0.0.1:%d" % port, destination_id="d")
        for i in range(n):
            f = sm.add_filter(sid, ["root/virt"],
                              "SELECT * FROM KVM_ComputerSystemModifiedIndication", "WQL", filter_id="f%d" % i)
            sm.add_subscriptions(sid, f.path, [dest.path])
        first, last = [], []
        for c in range(changes):
            want = 9 if c % 2 == 0 else 2
            start = time.perf_counter()
            conn.InvokeMethod("RequestStateChange", path, RequestedState=pywbem.Uint16(want))
            times = []
            while len(times) < n:
                t, state = got.get(timeout=60)
                if state == want:
                    times.append(t)
            first.append(times[0] - start)
            last.append(times[-1] - start)
        print("subs=%d changes=%d first_p50=%.1fms first_p99=%.1fms all_p50=%.1fms all_p99=%.1fms"
              % (n, changes, pct(first, 50), pct(first, 99), pct(last, 50), pct(last, 99)), flush=True)
        sm.remove_server(sid)
finally:
    listener.stop()
    proc.terminate()
    proc.wait(timeout=20)
