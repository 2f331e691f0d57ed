#!/usr/bin/env python3
"""virtcim: parse CIM-XML responses with pywbem's own response parser (what pywbem clients run on our replies)
and print a one-line summary per file, so a Rust test can check that pywbem reads what we meant.
Usage: cim_pywbem_parse.py FILE... ; exits 1 when pywbem rejects a file."""
import sys

from pywbem._tupleparse import TupleParser
from pywbem._tupletree import xml_to_tupletree_sax


def describe(obj):
    name = type(obj).__name__
    if name == "CIMInstance":
        props = ",".join(f"{k}={v.value!r}:{v.type}" for k, v in obj.properties.items())
        path = f" path={obj.path}" if obj.path is not None else ""
        return f"CIMInstance({obj.classname}{path}; {props})"
    if name == "CIMInstanceName":
        return f"CIMInstanceName({obj})"
    if name == "CIMClass":
        props = ",".join(f"{k}:{v.type}:{v.class_origin}" for k, v in obj.properties.items())
        quals = ",".join(f"{k}={v.value!r}" for k, v in obj.qualifiers.items())
        return f"CIMClass({obj.classname}:{obj.superclass}; {props}; {quals})"
    if isinstance(obj, tuple):
        parts = [describe(o) for o in obj if o is not None and (not isinstance(o, dict) or "CODE" in o)]
        return "(" + " ".join(parts) + ")"
    if isinstance(obj, dict):
        return "{" + ",".join(f"{k}={v}" for k, v in sorted(obj.items())) + "}"
    if isinstance(obj, list):
        return "[" + " ".join(describe(o) for o in obj) + "]"
    return repr(obj)


def main():
    failed = False
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            xml = f.read()
        try:
            tree = xml_to_tupletree_sax(xml, "CIM-XML response")
            parsed = TupleParser().parse_cim(tree)
        except Exception as exc:  # pywbem raises several error types; any is a failure here
            print(f"FAIL {path}: {type(exc).__name__}: {exc}")
            failed = True
            continue
        print(f"OK {path.rsplit('/', 1)[-1]} {describe(parsed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
