#!/usr/bin/python3
"""Peer script: python3-libvirt registers for domain lifecycle events on virtcimd's qemu driver, then defines,
starts, suspends, resumes, destroys and undefines a QEMU guest through a second connection. Prints each event as
`event NAME EVENT DETAIL`, then `complete True|False`. Usage: qemu_events.py URI DOMAIN_XML_FILE"""
import sys
import threading

import libvirt

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
    uri, xml_file = sys.argv[1], sys.argv[2]
    with open(xml_file, encoding="utf-8") as f:
        xml = f.read()
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    listener = libvirt.open(uri)
    callback = listener.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_lifecycle, None)
    actor = libvirt.open(uri)
    dom = actor.defineXML(xml)
    dom.create()
    print(f"pid-state {dom.state()[0]}", flush=True)
    dom.suspend()
    dom.resume()
    dom.destroy()
    dom.undefine()
    actor.close()
    ok = done.wait(15)
    listener.domainEventDeregisterAny(callback)
    listener.close()
    print(f"complete {ok}", flush=True)


main()
