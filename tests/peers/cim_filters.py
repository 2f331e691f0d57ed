"""virtcim peer test: libvirt-CIM's network-filter model through the pywbem API: KVM_FilterList, the rule classes
(KVM_Hdr8021Filter, KVM_IPHeadersFilter, KVM_FilterEntry), KVM_EntriesInFilterList, KVM_HostedFilterList,
KVM_NestedFilterList and KVM_AppliedFilterList, enumerated, fetched and walked both ways; filter lists and nested
and applied lists created and deleted through CIM and checked with stock virsh over the daemon's RPC socket, and
virsh's changes seen through CIM.

Usage: cim_filters.py WBEM_URL VIRSH_URI test
       cim_filters.py WBEM_URL VIRSH_URI qemu TAG GUEST MAC TAP
"test": the test driver, which has no network filters (as libvirt's): no instances, changes "not supported".
"qemu": a qemu:///system daemon with GUEST running, its bridged NIC MAC on host port TAP; names carry TAG.
Prints "OK <n> checks" and exits 0, or names the first failed check and exits 1.
"""
import subprocess
import sys

import pywbem
from peerlib import check, cim_error, passed, virsh_on

url, virsh_uri, mode = sys.argv[1], sys.argv[2], sys.argv[3]
virsh = virsh_on(virsh_uri)
conn = pywbem.WBEMConnection(url, None, default_namespace="root/virt", no_verification=True)
NS = "root/virt"
CLASSES = ["KVM_FilterList", "KVM_Hdr8021Filter", "KVM_IPHeadersFilter", "KVM_FilterEntry",
           "KVM_EntriesInFilterList", "KVM_HostedFilterList", "KVM_NestedFilterList", "KVM_AppliedFilterList"]


host = conn.EnumerateInstanceNames("KVM_HostSystem")[0]
host_name = host["Name"]


def list_path(name):
    return pywbem.CIMInstanceName("KVM_FilterList", keybindings={
        "CreationClassName": "KVM_FilterList", "Name": name,
        "SystemCreationClassName": "KVM_HostSystem", "SystemName": host_name}, namespace=NS)


def port_path(guest, mac):
    return pywbem.CIMInstanceName("KVM_NetworkPort", keybindings={
        "CreationClassName": "KVM_NetworkPort", "DeviceID": "%s/%s" % (guest, mac),
        "SystemCreationClassName": "KVM_ComputerSystem", "SystemName": guest}, namespace=NS)


def new_list(name):
    inst = pywbem.CIMInstance("KVM_FilterList", properties={"Name": name}, path=list_path(name))
    return inst


def assoc_instance(cls, antecedent, dependent):
    inst = pywbem.CIMInstance(cls, properties={
        "Antecedent": pywbem.CIMProperty("Antecedent", antecedent, type="reference"),
        "Dependent": pywbem.CIMProperty("Dependent", dependent, type="reference")})
    inst.path = pywbem.CIMInstanceName(cls, namespace=NS)
    return inst


def names_of(paths):
    return sorted(p["Name"] for p in paths)


if mode == "test":
    # libvirt's test driver has no network filters: every class answers, with no instances.
    for cls in CLASSES:
        check(conn.EnumerateInstances(cls) == [], "%s has no instances on the test driver" % cls)
    code, _ = cim_error(conn.GetInstance, list_path("clean-traffic"))
    check(code == pywbem.CIM_ERR_NOT_FOUND, "GetInstance of a filter: NOT_FOUND (%d)" % code)
    code, desc = cim_error(conn.CreateInstance, new_list("cimf-test"))
    check(code == pywbem.CIM_ERR_NOT_SUPPORTED and "not supported" in desc,
          "CreateInstance KVM_FilterList: NOT_SUPPORTED (%d %s)" % (code, desc))
    check("cimf-test" not in (virsh("list", "--all", "--name") or ""), "nothing was made")
    ports = conn.EnumerateInstanceNames("KVM_NetworkPort")
    check(ports, "a guest has a network port")
    guest = ports[0]["SystemName"]
    check(conn.Associators(ports[0], AssocClass="KVM_AppliedFilterList") == [],
          "no filter applied to a test-driver NIC")
    code, desc = cim_error(conn.CreateInstance,
                           assoc_instance("KVM_AppliedFilterList", ports[0], list_path("clean-traffic")))
    check(code == pywbem.CIM_ERR_NOT_SUPPORTED, "applying a filter: NOT_SUPPORTED (%d %s)" % (code, desc))
    dumped = virsh("dumpxml", guest) or ""
    check("filterref" not in dumped, "the guest's definition is untouched")
    check(conn.Associators(host, AssocClass="KVM_HostedFilterList") == [], "the host hosts no filter")
    passed()
    sys.exit(0)

tag, guest, mac, tap = sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
A, B, C = "cimf-%s-a" % tag, "cimf-%s-b" % tag, "cimf-%s-c" % tag

# libvirt's stock filters are there, with their rules and references.
lists = names_of(conn.EnumerateInstanceNames("KVM_FilterList"))
check("clean-traffic" in lists and "no-mac-spoofing" in lists, "stock filters listed: %s" % lists)
clean = conn.GetInstance(list_path("clean-traffic"))
uuid = (virsh("nwfilter-dumpxml", "clean-traffic") or "").split("<uuid>")[1].split("</uuid>")[0]
check(clean["InstanceID"] == uuid, "InstanceID is the filter's UUID")
nested = names_of(conn.AssociatorNames(list_path("clean-traffic"), AssocClass="KVM_NestedFilterList",
                                       Role="Antecedent"))
check("no-mac-spoofing" in nested and "no-ip-spoofing" in nested, "clean-traffic's references: %s" % nested)

# A filter list made through CIM is a filter virsh sees.
path = conn.CreateInstance(new_list(B))
check(path["Name"] == B and path.classname == "KVM_FilterList", "CreateInstance returns the new path")
check(B in (virsh("nwfilter-list") or ""), "virsh nwfilter-list shows the CIM-made filter")
code, _ = cim_error(conn.CreateInstance, new_list(B))
check(code == pywbem.CIM_ERR_ALREADY_EXISTS, "a second CreateInstance: ALREADY_EXISTS (%d)" % code)

# A filter defined with virsh is seen through CIM with libvirt-CIM's property mapping of its rules.
xml = ("<filter name='%s' chain='root' priority='-300'>"
       "<rule action='accept' direction='out' priority='100'>"
       "<mac srcmacaddr='52:54:00:7c:00:01' srcmacmask='ff:ff:ff:ff:ff:00' protocolid='ipv4'/></rule>"
       "<rule action='drop' direction='in' priority='200'>"
       "<tcp srcipaddr='192.0.2.0' srcipmask='24' dstportstart='22' dstportend='23'/></rule>"
       "<rule action='reject' direction='inout'><icmp/></rule>"
       "<rule action='return' direction='in' priority='300'><stp/></rule>"
       "<filterref filter='%s'/></filter>") % (A, B)
xml_file = "/tmp/cim_filters_%s.xml" % tag
with open(xml_file, "w") as f:
    f.write(xml)
check(virsh("nwfilter-define", xml_file) is not None, "virsh nwfilter-define")
a = conn.GetInstance(list_path(A))
check(a["Priority"] == -300 and a["Name"] == A and a["SystemName"] == host_name, "filter list properties")
entries = conn.Associators(list_path(A), AssocClass="KVM_EntriesInFilterList")
by_name = {e["Name"]: e for e in entries}
check(sorted(by_name) == ["%s:%d" % (A, i) for i in range(4)], "four rules: %s" % sorted(by_name))
mac_rule = by_name["%s:0" % A]
check(mac_rule.classname == "KVM_Hdr8021Filter", "a mac rule is a KVM_Hdr8021Filter")
check((mac_rule["Action"], mac_rule["Direction"], mac_rule["Priority"]) == (1, 2, 100),
      "accept/out/100 -> 1/2/100: %s" % [mac_rule["Action"], mac_rule["Direction"], mac_rule["Priority"]])
check(list(mac_rule["HdrSrcMACAddr8021"]) == [0x52, 0x54, 0, 0x7c, 0, 1], "source MAC octets")
check(list(mac_rule["HdrSrcMACMask8021"]) == [255, 255, 255, 255, 255, 0], "source MAC mask octets")
check(mac_rule["HdrProtocolID8021"] == 0x0800, "protocolid ipv4 -> 0x0800")
tcp = by_name["%s:1" % A]
check(tcp.classname == "KVM_IPHeadersFilter", "a tcp rule is a KVM_IPHeadersFilter")
check((tcp["Action"], tcp["Direction"], tcp["Priority"]) == (2, 1, 200), "drop/in/200 -> 2/1/200")
check(tcp["HdrIPVersion"] == 4 and tcp["HdrProtocolID"] == 6, "IPv4, protocol 6")
check(list(tcp["HdrSrcAddress"]) == [192, 0, 2, 0] and list(tcp["HdrSrcMask"]) == [255, 255, 255, 0],
      "source address and mask from a prefix")
check((tcp["HdrDestPortStart"], tcp["HdrDestPortEnd"]) == (22, 23), "destination ports")
icmp = by_name["%s:2" % A]
check(icmp.classname == "KVM_IPHeadersFilter" and icmp["Action"] == 3 and icmp["Direction"] == 3
      and icmp["HdrProtocolID"] == 1, "reject/inout icmp")
stp = by_name["%s:3" % A]
check(stp.classname == "KVM_FilterEntry" and stp["Action"] == 4, "an stp rule is a KVM_FilterEntry")
got = conn.GetInstance(tcp.path)
check(got["HdrDestPortStart"] == 22, "GetInstance of a rule")
back = conn.AssociatorNames(tcp.path, AssocClass="KVM_EntriesInFilterList")
check(names_of(back) == [A], "a rule's filter list: %s" % names_of(back))
check(len([e for e in conn.EnumerateInstanceNames("KVM_IPHeadersFilter") if e["Name"].startswith(A + ":")]) == 2,
      "EnumerateInstanceNames KVM_IPHeadersFilter holds A's two IP rules")
refs = conn.References(list_path(A), ResultClass="KVM_EntriesInFilterList")
check(len(refs) == 4 and all(r["GroupComponent"]["Name"] == A for r in refs), "References of A's rules")

# Nesting: virsh's reference, and one made and removed through CIM.
check(names_of(conn.AssociatorNames(list_path(A), AssocClass="KVM_NestedFilterList", Role="Antecedent")) == [B],
      "A references B")
check(A in names_of(conn.AssociatorNames(list_path(B), AssocClass="KVM_NestedFilterList", Role="Dependent")),
      "B is referenced by A")
conn.CreateInstance(new_list(C))
conn.CreateInstance(assoc_instance("KVM_NestedFilterList", list_path(A), list_path(C)))
check("<filterref filter='%s'/>" % C in (virsh("nwfilter-dumpxml", A) or ""), "virsh sees A reference C")
check(len(conn.Associators(list_path(A), AssocClass="KVM_EntriesInFilterList")) == 4, "the rules stayed")
nest = [r for r in conn.EnumerateInstanceNames("KVM_NestedFilterList") if r["Antecedent"]["Name"] == A]
check(sorted(r["Dependent"]["Name"] for r in nest) == sorted([B, C]), "EnumerateInstanceNames NestedFilterList")
conn.DeleteInstance([r for r in nest if r["Dependent"]["Name"] == C][0])
check("filter='%s'" % C not in (virsh("nwfilter-dumpxml", A) or ""), "the reference to C is gone")
conn.DeleteInstance(list_path(C))
check(C not in (virsh("nwfilter-list") or ""), "DeleteInstance of C undefined it")
code, _ = cim_error(conn.DeleteInstance, list_path(C))
check(code == pywbem.CIM_ERR_NOT_FOUND, "deleting it again: NOT_FOUND (%d)" % code)

# The host hosts every filter.
hosted = names_of(conn.AssociatorNames(host, AssocClass="KVM_HostedFilterList"))
check(A in hosted and B in hosted and "clean-traffic" in hosted, "the host's filters")
check([p["Name"] for p in conn.AssociatorNames(list_path(A), AssocClass="KVM_HostedFilterList")] == [host_name],
      "A's host")

# Applying A to the running guest's NIC: its definition and live interface name it, and its tap is bound.
port = port_path(guest, mac)
check(conn.AssociatorNames(port, AssocClass="KVM_AppliedFilterList") == [], "nothing applied yet")
path = conn.CreateInstance(assoc_instance("KVM_AppliedFilterList", port, list_path(A)))
check(path["Antecedent"]["DeviceID"] == "%s/%s" % (guest, mac) and path["Dependent"]["Name"] == A,
      "the applied list's path")
check("<filterref filter='%s'/>" % A in (virsh("dumpxml", "--inactive", guest) or ""),
      "the definition names the filter")
check("<filterref filter='%s'/>" % A in (virsh("dumpxml", guest) or ""), "the live interface names the filter")
bindings = virsh("nwfilter-binding-list") or ""
check(any(tap in line and A in line for line in bindings.splitlines()), "the tap is bound to A: %s" % bindings)
check(names_of(conn.AssociatorNames(port, AssocClass="KVM_AppliedFilterList")) == [A], "the port's filter")
code, _ = cim_error(conn.CreateInstance, assoc_instance("KVM_AppliedFilterList", port, list_path(A)))
check(code == pywbem.CIM_ERR_ALREADY_EXISTS, "applying it again: ALREADY_EXISTS (%d)" % code)
ports = conn.AssociatorNames(list_path(A), AssocClass="KVM_AppliedFilterList")
check([p["DeviceID"] for p in ports] == ["%s/%s" % (guest, mac)], "A's ports")
applied = [r for r in conn.EnumerateInstanceNames("KVM_AppliedFilterList") if r["Dependent"]["Name"] == A]
check(len(applied) == 1, "one KVM_AppliedFilterList instance")
check(conn.GetInstance(applied[0])["Antecedent"]["DeviceID"] == "%s/%s" % (guest, mac), "GetInstance of it")
code, desc = cim_error(conn.DeleteInstance, list_path(A))
check(code != 0 and A in (virsh("nwfilter-list") or ""), "a filter in use is not deleted: %s" % desc)

# Removing it: gone from the definition, the live interface and the tap.
conn.DeleteInstance(applied[0])
check("filterref" not in (virsh("dumpxml", "--inactive", guest) or "x filterref"), "the definition is clean")
check("filterref" not in (virsh("dumpxml", guest) or "x filterref"), "the live interface is clean")
check(tap not in (virsh("nwfilter-binding-list") or ""), "the tap is unbound")
check(conn.AssociatorNames(port, AssocClass="KVM_AppliedFilterList") == [], "nothing applied any more")
code, _ = cim_error(conn.DeleteInstance, applied[0])
check(code == pywbem.CIM_ERR_NOT_FOUND, "deleting it again: NOT_FOUND (%d)" % code)
code, desc = cim_error(conn.CreateInstance, assoc_instance("KVM_AppliedFilterList", port, list_path(C)))
check(code == pywbem.CIM_ERR_FAILED and "does not exist" in desc, "applying a missing filter: %d %s" % (code, desc))

# virsh's undefine is seen through CIM.
check(virsh("nwfilter-undefine", A) is not None, "virsh nwfilter-undefine A")
code, _ = cim_error(conn.GetInstance, list_path(A))
check(code == pywbem.CIM_ERR_NOT_FOUND, "A is gone through CIM")
conn.DeleteInstance(list_path(B))
check(B not in (virsh("nwfilter-list") or ""), "B deleted through CIM")
passed()
