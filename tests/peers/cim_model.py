"""virtcim model walker: visits every class of root/virt, root/interop and root/cimv2 with the pywbem API and checks the model
is consistent, whatever classes the providers serve.

Usage: cim_model.py URL [MAX_PER_ASSOC]
For each namespace and each class: EnumerateInstances (direct instances of the class) and EnumerateInstanceNames
agree; each instance's path goes through GetInstance and comes back equal (same path, same properties). For each
association class with instances: from each end of (up to MAX_PER_ASSOC of) its instances, with its roles,
Associators finds the other end, AssociatorNames agrees with Associators, and References/ReferenceNames find the
association instance. References crossing namespaces are followed in the namespace they name (an association
served in two namespaces is then found in the source object's one).
Prints one JSON object: counts per class, the checks done and the failures (empty when all is well).
"""
import json
import sys

import pywbem

url = sys.argv[1]
max_per_assoc = int(sys.argv[2]) if len(sys.argv) > 2 else 12
conn = pywbem.WBEMConnection(url, None, no_verification=True, timeout=120)
NAMESPACES = ["root/virt", "root/interop", "root/cimv2"]

failures = []
checks = 0
counts = {}


def fail(what):
    failures.append(what)


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        fail(what)


def key(path):
    """A comparable form of an instance path: namespace, class, keybindings (nested paths by their key)."""
    def norm(v):
        if isinstance(v, pywbem.CIMInstanceName):
            return key(v)
        return str(v)
    return (
        (path.namespace or "").lower(),
        path.classname.lower(),
        tuple(sorted((k.lower(), norm(v)) for k, v in path.keybindings.items())),
    )


def with_ns(path, ns):
    p = path.copy()
    p.host = None
    if not p.namespace:
        p.namespace = ns
    return p


def props(inst):
    return {k.lower(): (v.value if not isinstance(v.value, pywbem.CIMInstanceName) else key(with_ns(v.value, "")))
            for k, v in inst.properties.items()}


for ns in NAMESPACES:
    classes = conn.EnumerateClasses(namespace=ns, DeepInheritance=True, LocalOnly=False,
                                    IncludeQualifiers=True)
    for cls in classes:
        name = cls.classname
        try:
            insts = conn.EnumerateInstances(name, namespace=ns, DeepInheritance=True)
            names = conn.EnumerateInstanceNames(name, namespace=ns)
        except pywbem.CIMError as e:
            fail("%s %s: enumerate: %s" % (ns, name, e))
            continue
        own = [i for i in insts if i.classname.lower() == name.lower()]
        if not own:
            continue
        counts["%s:%s" % (ns, name)] = len(own)
        inst_keys = sorted(key(with_ns(i.path, ns)) for i in insts)
        name_keys = sorted(key(with_ns(p, ns)) for p in names)
        check(inst_keys == name_keys, "%s %s: EnumerateInstances and EnumerateInstanceNames disagree" % (ns, name))
        for inst in own:
            path = with_ns(inst.path, ns)
            try:
                got = conn.GetInstance(path)
            except pywbem.CIMError as e:
                fail("%s: GetInstance failed: %s" % (path, e))
                continue
            check(key(with_ns(got.path, ns)) == key(path), "%s: GetInstance path differs" % path)
            check(props(got) == props(inst), "%s: GetInstance properties differ from EnumerateInstances" % path)
        is_assoc = bool(cls.qualifiers.get("Association") and cls.qualifiers["Association"].value)
        if not is_assoc:
            continue
        roles = [p for p, v in cls.properties.items() if v.type == "reference"]
        for inst in own[:max_per_assoc]:
            apath = with_ns(inst.path, ns)
            for role in roles:
                src = inst.properties[role].value
                if src is None:
                    fail("%s: NULL reference %s" % (apath, role))
                    continue
                src = with_ns(src, ns)
                src_ns = src.namespace
                for other in roles:
                    if other == role:
                        continue
                    dst = with_ns(inst.properties[other].value, ns)
                    try:
                        assoc = conn.Associators(src, AssocClass=name, Role=role, ResultRole=other)
                        assoc_names = conn.AssociatorNames(src, AssocClass=name, Role=role, ResultRole=other)
                    except pywbem.CIMError as e:
                        fail("%s: Associators from %s (%s): %s" % (apath, src, role, e))
                        continue
                    found = [key(with_ns(a.path, src_ns)) for a in assoc]
                    found_names = [key(with_ns(a, src_ns)) for a in assoc_names]
                    check(key(dst) in found,
                          "%s: Associators from %s role %s misses %s" % (name, src, role, dst))
                    check(sorted(found) == sorted(found_names),
                          "%s: AssociatorNames differs from Associators from %s" % (name, src))
                    # The wrong role finds nothing through this association.
                    try:
                        none = conn.AssociatorNames(src, AssocClass=name, Role=other, ResultRole=role)
                        if key(src) != key(dst):
                            check(key(dst) not in [key(with_ns(a, src_ns)) for a in none],
                                  "%s: AssociatorNames with swapped roles from %s found %s" % (name, src, dst))
                    except pywbem.CIMError as e:
                        fail("%s: AssociatorNames swapped roles from %s: %s" % (name, src, e))
                try:
                    refs = conn.References(src, ResultClass=name, Role=role)
                    ref_names = conn.ReferenceNames(src, ResultClass=name, Role=role)
                except pywbem.CIMError as e:
                    fail("%s: References from %s (%s): %s" % (apath, src, role, e))
                    continue
                # An association served in both namespaces (ElementConformsToProfile) is found in the namespace
                # of the object asked about: compare its keys, not its own namespace.
                ref_keys = [key(with_ns(r.path, src_ns))[1:] for r in refs]
                check(key(apath)[1:] in ref_keys,
                      "%s: References from %s role %s misses the association" % (name, src, role))
                check(sorted(ref_keys) == sorted(key(with_ns(r, src_ns))[1:] for r in ref_names),
                      "%s: ReferenceNames differs from References from %s" % (name, src))

print(json.dumps({"counts": counts, "checks": checks, "failures": failures}))
