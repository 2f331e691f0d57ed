//! Filtered pull enumerations (FilterQueryLanguage `DMTF:FQL`) and OpenQueryInstances / PullInstances (WQL),
//! driven by pywbem against a running daemon.

use std::process::Command;

use crate::support::python::{run, venv_python};
use crate::support::wbem::{Options, Wbem};

const SCRIPT: &str = r#"
import sys, pywbem
conn = pywbem.WBEMConnection(sys.argv[1], default_namespace='root/virt', use_pull_operations=True)
CS = 'KVM_ComputerSystem'
failures = []
def check(ok, what):
    print(('ok   ' if ok else 'FAIL ') + what)
    if not ok:
        failures.append(what)
def cim_error(f, *args, **kw):
    try:
        f(*args, **kw)
    except pywbem.CIMError as e:
        return e.status_code
    return None

r = conn.OpenEnumerateInstances(CS, FilterQueryLanguage='DMTF:FQL', FilterQuery="Name = 'vm001'",
                                MaxObjectCount=10)
check([i['Name'] for i in r.instances] == ['vm001'] and r.eos, "FQL filter on instances")
r = conn.OpenEnumerateInstancePaths(CS, FilterQueryLanguage='DMTF:FQL', FilterQuery='EnabledState = 3',
                                    MaxObjectCount=1)
paths = list(r.paths)
while not r.eos:
    r = conn.PullInstancePaths(r.context, MaxObjectCount=1)
    paths.extend(r.paths)
check(sorted(p.keybindings['Name'] for p in paths) == ['vm000', 'vm001', 'vm002'], "FQL filter on paths")
check(all(p.host and p.namespace == 'root/virt' for p in paths), "filtered paths are full paths")
insts = list(conn.IterEnumerateInstances(CS, FilterQueryLanguage='DMTF:FQL',
                                         FilterQuery="EnabledState = 2 OR Name = 'vm002'"))
check(sorted(i['Name'] for i in insts) == ['test', 'vm002'], "IterEnumerateInstances with a filter")
check(cim_error(conn.OpenEnumerateInstances, CS, FilterQueryLanguage='WQL', FilterQuery='Name = 1')
      == pywbem.CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED, "unknown filter language")
check(cim_error(conn.OpenEnumerateInstances, CS, FilterQueryLanguage='DMTF:FQL', FilterQuery='Name =')
      == pywbem.CIM_ERR_INVALID_QUERY, "bad filter")

r = conn.OpenQueryInstances('WQL', 'SELECT Name FROM KVM_ComputerSystem WHERE EnabledState = 2',
                            ReturnQueryResultClass=True, MaxObjectCount=0)
check(len(r.instances) == 0 and not r.eos, "OpenQueryInstances MaxObjectCount=0")
check(r.query_result_class is not None and r.query_result_class.classname == CS
      and list(r.query_result_class.properties) == ['Name'], "QueryResultClass")
p = conn.PullInstances(r.context, MaxObjectCount=10)
check([i['Name'] for i in p.instances] == ['test'] and p.eos, "PullInstances")
check(all(i.path is None and list(i.properties) == ['Name'] for i in p.instances), "query instances have no path")
check(cim_error(conn.OpenQueryInstances, 'CQL', 'SELECT * FROM KVM_ComputerSystem')
      == pywbem.CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED, "OpenQueryInstances language")
insts = list(conn.IterQueryInstances('WQL', "SELECT * FROM KVM_ComputerSystem WHERE Name = 'vm000'").generator)
check([i['Name'] for i in insts] == ['vm000'], "IterQueryInstances")
sys.exit(1 if failures else 0)
"#;

#[test]
fn pywbem_filtered_and_query_pulls() {
    let wbem = Wbem::start(Options::default());
    let (ok, out, err) = run(Command::new(venv_python()).args(["-c", SCRIPT, &wbem.url()]));
    assert!(ok, "{out}\n{err}");
}
