#!/usr/bin/env python3
"""virtcim: compile our MOF with pywbem's MOF compiler (a strict, independent implementation) to prove it is
valid MOF. Usage: cim_pywbem_compile.py MOFDIR FILE:NAMESPACE... ; prints one line per file, exits 1 on error."""
import sys

import pywbem
from pywbem import MOFCompiler, MOFWBEMConnection


def main():
    mof_dir = sys.argv[1]
    failed = False
    for spec in sys.argv[2:]:
        file_name, namespace = spec.split(":", 1)
        repo = MOFWBEMConnection()
        compiler = MOFCompiler(repo, search_paths=[mof_dir], verbose=False, log_func=lambda msg: None)
        try:
            compiler.compile_file(f"{mof_dir}/{file_name}", namespace)
        except pywbem.Error as exc:
            print(f"FAIL {file_name}: {exc}")
            failed = True
            continue
        classes = sorted(repo.classes.get(namespace, {}).keys()) if hasattr(repo, "classes") else []
        qualifiers = repo.qualifiers.get(namespace, {}) if hasattr(repo, "qualifiers") else {}
        print(f"OK {file_name} {namespace} classes={len(classes)} qualifiers={len(qualifiers)} {' '.join(classes)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
