#!/usr/bin/python3
"""Peer script: python3-libvirt with its default event loop registers for domain lifecycle events on a virtcim
RPC server, changes a domain through a second connection, and prints every event received as
`event NAME EVENT DETAIL`. Usage: remote_events.py URI"""
import sys
import threading
import time

import libvirt

DEMO = ("<domain type='test'><name>evdemo</name><memory unit='KiB'>131072</memory>"
        "<vcpu>1</vcpu><os><type>hvm</type></os></domain>")
WANTED = 6  # defined, started, suspended, resumed, stopped, undefined

received = []
done = threading.Event()


def loop():
    while True:
        libvirt.virEventRunDefaultImpl()


def on_lifecycle(conn, dom, event, detail, opaque):
    received.append((dom.name(), event, detail))
    print(f"event {dom.name()} {event} {detail}", flush=True)
    if len(received) >= WANTED:
        done.set()


def main():
    uri = sys.argv[1]
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    listener = libvirt.open(uri)
    listener.setKeepAlive(2, 3)
    callback = listener.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_lifecycle, None)
    actor = libvirt.open(uri)
    dom = actor.defineXML(DEMO)
    dom.create()
    dom.suspend()
    dom.resume()
    dom.destroy()
    dom.undefine()
    actor.close()
    ok = done.wait(10)
    listener.domainEventDeregisterAny(callback)
    listener.close()
    print(f"complete {ok}", flush=True)


main()
time.sleep(0)
