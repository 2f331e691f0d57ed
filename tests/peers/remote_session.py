#!/usr/bin/python3
"""Peer script: python3-libvirt drives a virtcim RPC server through one URI and prints what it saw, one
`key: value` line per observation, for tests/remote/peers.rs to check. Usage: remote_session.py URI [ro]"""
import sys

import libvirt

DEMO = ("<domain type='test'><name>pydemo</name><memory unit='KiB'>131072</memory>"
        "<vcpu>1</vcpu><os><type>hvm</type></os></domain>")
VOL = ("<volume><name>py.img</name><capacity unit='MiB'>4</capacity>"
       "<allocation unit='MiB'>1</allocation></volume>")

# libvirt prints errors to stderr by default; the script reports them itself.
libvirt.registerErrorHandler(lambda ctx, err: None, None)


def out(key, value):
    print(f"{key}: {value}", flush=True)


def attempt(key, action):
    try:
        value = action()
        out(key, "ok" if value is None or value == 0 else value)
        return value
    except libvirt.libvirtError as err:
        out(key, f"error {err.get_error_code()} {err.get_error_domain()} {err.get_error_message()}")
        return None


def main():
    uri = sys.argv[1]
    read_only = len(sys.argv) > 2 and sys.argv[2] == "ro"
    conn = libvirt.openReadOnly(uri) if read_only else libvirt.open(uri)
    out("type", conn.getType())
    out("hostname set", bool(conn.getHostname()))
    out("nodeinfo cpus", conn.getInfo()[2])
    out("domains", ",".join(sorted(d.name() for d in conn.listAllDomains(0))))
    test = conn.lookupByName("test")
    out("test state", test.state()[0])
    out("test info memory", test.info()[1])
    out("test uuid", test.UUIDString())
    attempt("lookup nosuch", lambda: conn.lookupByName("nosuch"))
    out("networks", ",".join(n.name() for n in conn.listAllNetworks(0)))
    net = conn.networkLookupByName("default")
    out("network bridge", net.bridgeName())
    out("network active", net.isActive())
    out("pools", ",".join(p.name() for p in conn.listAllStoragePools(0)))
    pool = conn.storagePoolLookupByName("default-pool")
    out("pool state", pool.info()[0])
    if read_only:
        attempt("suspend", lambda: test.suspend())
        attempt("define", lambda: conn.defineXML(DEMO))
        conn.close()
        return
    dom = conn.defineXML(DEMO)
    out("defined", dom.name())
    attempt("create", lambda: dom.create())
    out("running id positive", dom.ID() > 0)
    attempt("suspend", lambda: dom.suspend())
    out("paused state", dom.state()[0])
    attempt("resume", lambda: dom.resume())
    attempt("suspend twice", lambda: (dom.suspend(), dom.suspend()))
    attempt("resume", lambda: dom.resume())
    attempt("destroy", lambda: dom.destroy())
    out("stopped state", dom.state()[0])
    attempt("undefine", lambda: dom.undefine())
    vol = pool.createXML(VOL, 0)
    out("volume", vol.name())
    out("volume capacity", vol.info()[1])
    out("volumes", ",".join(v.name() for v in pool.listAllVolumes(0)))
    attempt("volume delete", lambda: vol.delete(0))
    # virConnectClose answers the references still held (domain, pool, ... objects), never an error.
    out("closed", "ok" if conn.close() >= 0 else "failed")


main()
