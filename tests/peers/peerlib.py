"""What the virtcim peer scripts share: counted checks that stop at the first failure, CIM errors as values, and
stock virsh against the daemon under test.

A script does `from peerlib import check, cim_error, passed` and ends with `passed()`, which prints
"OK <n> checks"; a failed check prints "FAILED: <what>" and exits 1 at once (listener threads included).
"""
import os
import subprocess

import pywbem

_checks = 0


def check(cond, what):
    global _checks
    if not cond:
        print("FAILED: " + what, flush=True)
        os._exit(1)
    _checks += 1


def checks():
    """How many checks have passed so far."""
    return _checks


def passed():
    print("OK %d checks" % _checks, flush=True)


def cim_error(fn, *args, **kw):
    """(status code, description) of the CIMError `fn` raises, or (0, "") when it succeeds."""
    try:
        fn(*args, **kw)
    except pywbem.CIMError as e:
        return (e.status_code, e.status_description)
    return (0, "")


def virsh_on(uri):
    """A `virsh(*args)` against `uri`: its quiet stdout, or None when virsh fails."""
    def virsh(*args):
        out = subprocess.run(["virsh", "-q", "-c", uri] + list(args), capture_output=True, text=True)
        return out.stdout if out.returncode == 0 else None
    return virsh
