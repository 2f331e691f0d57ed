"""python3-libvirt against virtcimd's qemu:///system with a guest running qemu-ga: the agent lifecycle event
(connected, by its channel), getTime, guestInfo and a raw agent command. Args: URI XML-FILE."""
import sys
import threading
import time

import libvirt

uri, xml_file = sys.argv[1], sys.argv[2]
libvirt.virEventRegisterDefaultImpl()


def loop():
    while True:
        libvirt.virEventRunDefaultImpl()


threading.Thread(target=loop, daemon=True).start()
conn = libvirt.open(uri)
seen = []


def on_agent(_conn, dom, state, reason, _opaque):
    seen.append((dom.name(), state, reason))
    print("agent", dom.name(), state, reason, flush=True)


conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, on_agent, None)
with open(xml_file) as f:
    dom = conn.defineXML(f.read())
dom.create()
deadline = time.time() + 300
while time.time() < deadline and not any(s[1] == libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED for s in seen):
    time.sleep(0.2)
t = dom.getTime()
print("time", t["seconds"] - int(time.time()), flush=True)
info = dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME | libvirt.VIR_DOMAIN_GUEST_INFO_OS)
print("hostname", info.get("hostname"), flush=True)
print("kernel", info.get("os.kernel-release"), flush=True)
import libvirt_qemu  # noqa: E402

print("ping", libvirt_qemu.qemuAgentCommand(dom, '{"execute":"guest-ping"}', 10, 0), flush=True)
dom.agentSetResponseTimeout(libvirt.VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_DEFAULT)
try:
    dom.agentSetResponseTimeout(-3)
except libvirt.libvirtError as e:
    print("timeout error", e.get_error_code(), e.get_error_message(), flush=True)
print("xml-connected", "state='connected'" in dom.XMLDesc(0), flush=True)
dom.destroy()
dom.undefine()
print("complete", True, flush=True)
