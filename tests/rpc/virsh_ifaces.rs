//! Peer test: stock virsh's host interface commands (iface-list, iface-dumpxml, iface-define, iface-undefine,
//! iface-start, iface-destroy, iface-mac, iface-name, iface-edit, iface-begin/commit/rollback), sysinfo and
//! cpu-models over our unix sockets print what `virsh -c test:///default` prints against libvirt's own embedded
//! test driver; python3-libvirt and our own remote driver read the same. Skipped when virsh is not installed.

use crate::support::server::serve;
use crate::support::virsh::{have_virsh, ok, virsh};

use virtcim::prelude::*;

const REFERENCE: &str = "test:///default";

const BRIDGE_XML: &str = include_str!("../data/interface/bridge.in.xml");
const ETHERNET_XML: &str = include_str!("../data/interface/ethernet-ipv6.in.xml");

/// stdout and stderr together, and whether virsh succeeded.
async fn outcome(uri: &str, args: &[&str]) -> (bool, String) {
    let (success, stdout, stderr) = virsh(uri, args).await;
    (success, format!("{stdout}{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interface_reads_and_host_facts_match_libvirts_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rw, ro) = serve(dir.path());

    // Deterministic in libvirt's test driver: byte for byte, on both sockets (all of these are reads).
    for args in [
        &["iface-list"][..],
        &["iface-list", "--all"],
        &["iface-list", "--inactive"],
        &["iface-dumpxml", "eth1"],
        &["iface-mac", "eth1"],
        &["iface-name", "aa:bb:cc:dd:ee:ff"],
        &["iface-name", "AA:BB:CC:DD:EE:FF"],
        &["sysinfo"],
        &["cpu-models", "x86_64"],
        &["cpu-models", "i686"],
        &["cpu-models", "ppc64le"],
        &["cpu-models", "aarch64"],
    ] {
        let want = ok(REFERENCE, args).await;
        assert_eq!(ok(&rw, args).await, want, "virsh {args:?}");
        assert_eq!(ok(&ro, args).await, want, "virsh {args:?} (read-only)");
    }

    // The usual misuse fails with libvirt's words; so do the host queries libvirt's test driver lacks.
    for args in [
        &["iface-dumpxml", "nope"][..],
        &["iface-dumpxml", "--inactive", "eth1"],
        &["iface-mac", "nope"],
        &["iface-name", "00:00:00:00:00:00"],
        &["iface-start", "eth1"],
        &["cpu-models", "foo"],
        &["nodememstats"],
        &["nodedev-list"],
        &["nodedev-list", "--cap", "scsi_host"],
        &["secret-list"],
        &["nwfilter-list"],
        &["nwfilter-binding-list"],
    ] {
        let (success, want) = outcome(REFERENCE, args).await;
        assert!(!success, "reference virsh {args:?}");
        let (success, got) = outcome(&rw, args).await;
        assert!(!success, "virsh {args:?}");
        assert_eq!(got, want, "virsh {args:?}");
    }

    // Changes are refused read-only with libvirt's message.
    let file = dir.path().join("br0.xml");
    std::fs::write(&file, BRIDGE_XML).unwrap();
    let file = file.to_str().unwrap();
    for (args, api) in [
        (&["iface-define", file][..], "virInterfaceDefineXML"),
        (&["iface-undefine", "eth1"], "virInterfaceUndefine"),
        (&["iface-destroy", "eth1"], "virInterfaceDestroy"),
        (&["iface-begin"], "virInterfaceChangeBegin"),
        (&["iface-commit"], "virInterfaceChangeCommit"),
        (&["iface-rollback"], "virInterfaceChangeRollback"),
    ] {
        let (success, _, stderr) = virsh(&ro, args).await;
        assert!(!success, "virsh {args:?} (read-only)");
        assert!(
            stderr.contains(&format!(
                "operation forbidden: read only access prevents {api}"
            )),
            "{stderr}"
        );
    }
    assert_eq!(
        ok(&rw, &["iface-list", "--all"]).await,
        ok(REFERENCE, &["iface-list", "--all"]).await
    );
}

/// One virsh session of changes: libvirt's embedded driver forgets them when virsh exits, so the whole story
/// runs as one command list in each, and both must print the same. (MAC lookups run only once no interface
/// without a MAC is left: libvirt's test driver counts those as matching any MAC, which ours does not.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interface_changes_and_transactions_match_libvirts_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rw, _ro) = serve(dir.path());
    let bridge = dir.path().join("br0.xml");
    let ethernet = dir.path().join("eth2.xml");
    std::fs::write(&bridge, BRIDGE_XML).unwrap();
    std::fs::write(&ethernet, ETHERNET_XML).unwrap();
    let script = format!(
        "iface-define {bridge}; iface-define {ethernet}; iface-list --all; iface-list --inactive; \
         iface-dumpxml br0; iface-dumpxml eth2; iface-mac br0; \
         iface-start br0; iface-start br0; iface-list; \
         iface-begin; iface-destroy eth1; iface-undefine eth2; iface-list --all; iface-rollback; \
         iface-list --all; iface-begin; iface-begin; iface-start eth1; iface-commit; iface-commit; \
         iface-rollback; iface-list --all; iface-destroy eth1; iface-destroy eth1; iface-undefine br0; \
         iface-undefine br0; iface-list --all; iface-name AA:bb:CC:dd:EE:01",
        bridge = bridge.display(),
        ethernet = ethernet.display(),
    );
    let (want_success, want) = outcome(REFERENCE, &[&script]).await;
    let (success, got) = outcome(&rw, &[&script]).await;
    assert_eq!(got, want);
    assert_eq!(success, want_success);

    // What the session left is kept by our daemon: a second virsh sees it.
    let listed = ok(&rw, &["iface-list", "--all"]).await;
    assert!(
        listed.contains(" eth1 ") && listed.contains(" eth2 "),
        "{listed}"
    );
    assert!(!listed.contains(" br0 "), "{listed}");
}

/// iface-edit fetches the XML with the INACTIVE flag, which libvirt's test driver refuses (it takes no flag):
/// virsh stops there, before running the editor, against both drivers alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iface_edit_fails_as_in_libvirts_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rw, _ro) = serve(dir.path());
    let edit = |uri: String| async move {
        let output = tokio::process::Command::new("virsh")
            .arg("-c")
            .arg(uri)
            .arg("iface-edit eth1; iface-dumpxml eth1")
            .env("LIBVIRT_AUTOSTART", "0")
            .env("EDITOR", "sed -i s/1492/9000/")
            .env("VISUAL", "sed -i s/1492/9000/")
            .output()
            .await
            .unwrap();
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let want = edit(REFERENCE.to_string()).await;
    assert!(
        want.1
            .contains("unsupported flags (0x1) in function testInterfaceGetXMLDesc"),
        "{want:?}"
    );
    assert_eq!(edit(rw).await, want);
}

const PYTHON_SCRIPT: &str = r#"
import sys, libvirt
conn = libvirt.open(sys.argv[1])
print(sorted(i.name() for i in conn.listAllInterfaces(0)))
print(conn.listInterfaces(), conn.listDefinedInterfaces(), conn.numOfInterfaces(), conn.numOfDefinedInterfaces())
eth1 = conn.interfaceLookupByMACString('AA:BB:CC:DD:EE:FF')
print(eth1.name(), eth1.MACString(), eth1.isActive())
conn.changeBegin()
eth1.destroy()
eth1.undefine()
print(conn.listDefinedInterfaces(), conn.numOfInterfaces())
conn.changeRollback()
print(conn.listDefinedInterfaces())
try:
    conn.changeCommit()
except libvirt.libvirtError as e:
    print(e.get_error_code(), e.get_error_domain(), e.get_error_message())
try:
    conn.interfaceLookupByName('nope')
except libvirt.libvirtError as e:
    print(e.get_error_code(), e.get_error_domain(), e.get_error_message())
print(len(conn.getCPUModelNames('x86_64')), conn.getSysinfo(0).splitlines()[0])
print(sorted(d.name() for d in conn.listAllDevices(0)), sorted(d.name() for d in conn.listAllDevices(1 << 10)))
"#;

/// libvirt-python's interface calls over our socket answer as against libvirt's embedded test driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sees_the_same_interfaces() {
    let Some(python) = crate::support::python::libvirt_python() else {
        eprintln!("python3-libvirt not installed, skipping");
        return;
    };
    let python = python.as_path();
    let dir = tempfile::tempdir().unwrap();
    let (rw, _ro) = serve(dir.path());
    let run = |uri: String| async move {
        let output = tokio::process::Command::new(python)
            .args(["-c", PYTHON_SCRIPT, &uri])
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let want = run(REFERENCE.to_string()).await;
    assert_eq!(run(rw).await, want);
}

/// Our remote driver speaks every interface procedure, and the state it changes survives a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_driver_manages_interfaces_and_they_persist() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let (rw, ro) = serve(&served);
    let remote = virtcim::connect(&rw, &virtcim::ConnectOptions::default())
        .await
        .unwrap();
    let eth1 = remote.interface_lookup_by_name("eth1").await.unwrap();
    assert_eq!(eth1.mac, "aa:bb:cc:dd:ee:ff");
    assert!(remote.interface_is_active(&eth1).await.unwrap());
    let xml = remote.interface_get_xml_desc(&eth1, 0).await.unwrap();
    assert!(xml.contains("<mtu size='1492'/>"), "{xml}");
    let br0 = remote.interface_define_xml(BRIDGE_XML, 1).await.unwrap();
    assert_eq!((br0.name.as_str(), br0.mac.as_str()), ("br0", ""));
    remote.interface_create(&br0, 0).await.unwrap();
    let err = remote.interface_create(&br0, 0).await.unwrap_err();
    assert_eq!(err.message, "Requested operation is not valid");
    let names = |list: Vec<virtcim::InterfaceRef>| -> Vec<String> {
        list.into_iter().map(|i| i.name).collect()
    };
    assert_eq!(
        names(remote.list_all_interfaces(0).await.unwrap()),
        ["br0", "eth1"]
    );
    remote.interface_change_begin(0).await.unwrap();
    remote.interface_undefine(&eth1).await.unwrap();
    assert_eq!(names(remote.list_all_interfaces(0).await.unwrap()), ["br0"]);
    remote.interface_change_rollback(0).await.unwrap();
    assert_eq!(
        names(remote.list_all_interfaces(2).await.unwrap()),
        Vec::<String>::new()
    );
    remote.interface_destroy(&br0, 0).await.err();
    let found = remote
        .interface_lookup_by_mac_string("AA:BB:CC:DD:EE:FF")
        .await
        .unwrap();
    assert_eq!(found.name, "eth1");
    let err = remote.list_all_interfaces(4).await.unwrap_err();
    assert_eq!(
        err.message,
        "unsupported flags (0x4) in function testConnectListAllInterfaces"
    );
    assert_eq!(
        remote.get_cpu_model_names("x86_64", 0).await.unwrap().len(),
        58
    );
    assert!(remote
        .get_sysinfo(0)
        .await
        .unwrap()
        .contains("<entry name='vendor'>LENOVO</entry>"));
    assert_eq!(
        remote.list_all_node_devices(1 << 5).await.unwrap(),
        ["scsi_host1", "scsi_host11", "scsi_host2"]
    );
    remote.interface_change_begin(0).await.unwrap();

    // Read-only: reads pass, changes are refused.
    let reader = virtcim::connect(&ro, &virtcim::ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(reader.list_all_interfaces(0).await.unwrap().len(), 2);
    let err = reader.interface_change_commit(0).await.unwrap_err();
    assert_eq!(err.code, virtcim::ErrorCode::OPERATION_DENIED);
    drop(remote);
    drop(reader);

    // A driver opened on a copy of the state sees the same interfaces and the open transaction.
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    // The daemon keeps the test driver's state under `test/` of its state dir.
    std::fs::copy(
        served.join("test").join("interfaces.json"),
        copy.join("interfaces.json"),
    )
    .unwrap();
    let reopened = virtcim::TestDriver::open(&copy).await.unwrap();
    assert_eq!(
        names(reopened.list_all_interfaces(0).await.unwrap()),
        ["br0", "eth1"]
    );
    reopened.interface_change_rollback(0).await.unwrap();
    let err = reopened.interface_change_commit(0).await.unwrap_err();
    assert_eq!(
        err.message,
        "Requested operation is not valid: no transaction running, nothing to be committed."
    );
}

/// Our CLI's iface-list and iface-dumpxml print what virsh prints against libvirt's test driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_and_dumps_interfaces_like_virsh() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["iface-list"][..],
        &["iface-list", "--all"],
        &["iface-list", "--inactive"],
        &["iface-dumpxml", "eth1"],
        &["iface-dumpxml", "aa:bb:cc:dd:ee:ff"],
        &["iface-dumpxml", "nope"],
        &["iface-dumpxml", "--inactive", "eth1"],
    ] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_virtcim"))
            .args(args)
            .env("VIRTCIM_STATE_DIR", dir.path())
            .output()
            .await
            .unwrap();
        let got = (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        );
        assert_eq!(got, virsh(REFERENCE, args).await, "virtcim {args:?}");
    }
}
