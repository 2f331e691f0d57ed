# Probe of lifecycle events of libvirt 9.0 test:///default: (name, event, detail) per call.
import libvirt, threading, time
libvirt.virEventRegisterDefaultImpl()
libvirt.registerErrorHandler(lambda *a: None, None)
c = libvirt.open('test:///default')
seen=[]
c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lambda conn, dom, ev, det, o: seen.append((dom.name(), ev, det)), None)
def pump():
    for _ in range(20): libvirt.virEventRunDefaultImpl() if False else None
X = lambda n,u: f"<domain type='test'><name>{n}</name><uuid>{u}</uuid><memory unit='KiB'>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"
def run():
    while True: libvirt.virEventRunDefaultImpl()
threading.Thread(target=run, daemon=True).start()
def step(label, f):
    n=len(seen)
    try: f()
    except libvirt.libvirtError as e: print(label, 'ERR', e.get_error_message()); return
    time.sleep(0.2); print(label, seen[n:])
A='11111111-2222-3333-4444-555555555555'; B='11111111-2222-3333-4444-666666666666'
step('define', lambda: c.defineXML(X('demo',A)))
step('redefine', lambda: c.defineXML(X('demo',A)))
d=c.lookupByName('demo')
step('start', lambda: d.create())
step('suspend', lambda: d.suspend())
step('resume', lambda: d.resume())
step('reboot', lambda: d.reboot())
step('shutdown', lambda: d.shutdown())
step('start paused', lambda: d.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED))
step('state', lambda: print(d.state()))
step('destroy', lambda: d.destroy())
step('undefine', lambda: d.undefine())
step('createXML', lambda: c.createXML(X('tmp',B),0))
t=c.lookupByName('tmp')
step('define transient', lambda: c.defineXML(X('tmp',B)))
step('undefine running', lambda: t.undefine())
step('undefine transient again', lambda: t.undefine())
step('destroy transient', lambda: t.destroy())
