//! The per-guest DMTF model (VSSD, RASDs, devices, SystemDevice / SettingsDefineState / VSSDComponent /
//! ElementSettingData) through an in-process WBEM server: pywbem (tests/peers/cim_guest.py), pywbemcli and
//! wbemcli over HTTP, and the enumeration cost with 1000 domains (measured and printed, not asserted).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use crate::support::python::run;
use crate::support::python::wbemcli;
use crate::support::wbem::{imethod_body, post, raw_exchange};
use virtcim::{
    builtin_repository, prelude::*, Config, Daemon, DaemonOptions, HttpLimits, Operations,
    TestDriver, WbemServer, TEST_URI,
};

const RICH: &str = "<domain type='test'><name>rich</name><uuid>11111111-2222-4333-8444-555555555555</uuid>\
  <memory unit='KiB'>1048576</memory><currentMemory unit='KiB'>524288</currentMemory>\
  <vcpu current='2'>4</vcpu><os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/><boot dev='cdrom'/></os>\
  <features><acpi/><apic/></features><clock offset='utc'/>\
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>restart</on_crash>\
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>\
  <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/default-pool/rich-disk.img'/>\
    <target dev='vda' bus='virtio'/></disk>\
  <disk type='block' device='disk'><source dev='/dev/sdz'/><target dev='vdb' bus='virtio'/></disk>\
  <disk type='file' device='cdrom'><source file='/isos/install.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>\
  <controller type='pci' index='0' model='pci-root'/><controller type='usb' index='0'/>\
  <controller type='ide' index='0'/><controller type='virtio-serial' index='0'/>\
  <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/><model type='virtio'/></interface>\
  <interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/><model type='e1000'/></interface>\
  <interface type='user'><mac address='52:54:00:00:00:03'/></interface>\
  <input type='mouse' bus='ps2'/><input type='tablet' bus='usb'/>\
  <graphics type='vnc' port='5905' autoport='no' listen='127.0.0.1'/>\
  <console type='pty'><target type='serial' port='0'/></console>\
  </devices></domain>";

const PLAIN: &str = "<domain type='test'><name>plain</name><uuid>11111111-2222-4333-8444-666666666666</uuid>\
  <memory unit='KiB'>262144</memory><vcpu current='1'>2</vcpu><os><type>hvm</type></os>\
  <devices><disk type='file' device='disk'><source file='/var/lib/plain.img'/><target dev='hda' bus='ide'/></disk>\
  </devices></domain>";

const VOLUME: &str =
    "<volume><name>rich-disk.img</name><capacity unit='bytes'>1048576</capacity></volume>";

/// Test driver state with `extra` plain domains, "rich" (running, 2 of 4 vCPUs), "plain" (shut off, 1 of 2 vCPUs)
/// and a volume for vda.
fn prepare(state: &Path, extra: usize) {
    crate::support::wbem::prepare_state(state, extra);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let driver = TestDriver::open(&state.join("test")).await.expect("open");
        let rich = driver
            .domain_define_xml(RICH, 0)
            .await
            .expect("define rich");
        driver
            .domain_define_xml(PLAIN, 0)
            .await
            .expect("define plain");
        let pool = driver
            .pool_lookup_by_name("default-pool")
            .await
            .expect("default-pool");
        driver
            .vol_create_xml(&pool, VOLUME, 0)
            .await
            .expect("create volume");
        driver.domain_create(&rich, 0).await.expect("start rich");
        driver.close().await.expect("close");
    });
}

/// An in-process daemon (test driver) with a WBEM HTTP listener; lives until the test process ends.
fn start(extra: usize) -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    prepare(&state, extra);
    let config = Config {
        state_dir: state,
        unix_sock_dir: dir.path().join("run"),
        ..Config::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        crate::support::server_runtime().block_on(async move {
            let mut daemon = Daemon::start(config, DaemonOptions::default())
                .await
                .expect("daemon");
            let driver = daemon.driver(TEST_URI).expect("test driver");
            let repo = Arc::new(builtin_repository().expect("built-in MOF"));
            let ops = Operations::new(repo, driver, "localhost");
            let server = Arc::new(WbemServer::new(Arc::new(ops), None, HttpLimits::default()));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            let shutdown = daemon.shutdown();
            daemon.spawn_service("wbem-http", server.serve_http(listener, shutdown));
            daemon.run_until(std::future::pending()).await;
        });
    });
    (rx.recv().expect("server address"), dir)
}

#[test]
fn pywbem_checks_the_whole_guest_model() {
    let (addr, _dir) = start(2);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cim_guest.py");
    let (ok, stdout, stderr) = run(Command::new(crate::support::python::venv_python())
        .arg(script)
        .arg(format!("http://{addr}")));
    assert!(ok, "cim_guest.py failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("OK "), "{stdout}");
    println!("pywbem: {}", stdout.trim());
}

#[test]
fn wbemcli_and_pywbemcli_read_the_guest_model() {
    let (addr, _dir) = start(0);
    let base = format!("http://{addr}/root/virt");
    let disks = wbemcli(&[
        "ei",
        &format!("{base}:KVM_DiskResourceAllocationSettingData"),
    ]);
    for want in [
        "rich/vda",
        "rich/vdb",
        "rich/hdc",
        "plain/hda",
        "DiskPool/default-pool",
    ] {
        assert!(
            disks.contains(want),
            "wbemcli ei disks lacks {want}:\n{disks}"
        );
    }
    let names = wbemcli(&["ein", &format!("{base}:KVM_NetworkPort")]);
    assert_eq!(names.matches("DeviceID=\"rich/").count(), 3, "{names}");
    let cs =
        format!(r#"{base}:KVM_ComputerSystem.CreationClassName="KVM_ComputerSystem",Name="rich""#);
    let parts = wbemcli(&["ain", "-ac", "KVM_SystemDevice", &cs]);
    assert!(
        parts.contains("KVM_Processor") && parts.contains("KVM_LogicalDisk"),
        "{parts}"
    );
    let vssd = wbemcli(&[
        "ai",
        "-ac",
        "KVM_SettingsDefineState",
        "-arc",
        "KVM_VirtualSystemSettingData",
        &cs,
    ]);
    assert!(vssd.contains("KVM:rich"), "{vssd}");
    let rasd = format!(r#"{base}:KVM_MemResourceAllocationSettingData.InstanceID="rich/mem""#);
    let mem = wbemcli(&["-nl", "gi", &rasd]);
    assert!(mem.contains("-VirtualQuantity=524288"), "{mem}");
    let refs = wbemcli(&[
        "rin",
        "-arc",
        "KVM_VirtualSystemSettingDataComponent",
        &rasd,
    ]);
    assert!(refs.contains("KVM:rich"), "{refs}");

    let (ok, stdout, stderr) = run(Command::new(crate::support::python::pywbemcli()).args([
        "-s",
        &format!("http://{addr}"),
        "-d",
        "root/virt",
        "instance",
        "associators",
        r#"KVM_VirtualSystemSettingData.InstanceID="KVM:rich""#,
        "--ac",
        "KVM_VirtualSystemSettingDataComponent",
        "--rc",
        "KVM_ControllerResourceAllocationSettingData",
        "--names-only",
    ]));
    assert!(ok, "pywbemcli failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.matches("controller:").count(), 4, "{stdout}");
}

/// Items in an IRETURNVALUE: instance or instance-name elements.
fn count_items(body: &str, tag: &str) -> usize {
    body.matches(tag).count()
}

/// EnumerateInstances of each guest class with 1000 domains (998 plain + rich + plain + the driver's own):
/// the time is printed, the item count asserted.
#[test]
fn thousand_domains_enumerate() {
    let (addr, _dir) = start(998);
    let mut report = Vec::new();
    let classes = [
        // The baseline: one state and one XML read per domain.
        ("KVM_ComputerSystem", 1001),
        ("KVM_VirtualSystemSettingData", 1001),
        ("KVM_MemResourceAllocationSettingData", 1001),
        ("KVM_DiskResourceAllocationSettingData", 5),
        ("KVM_Processor", 0),
        ("KVM_Memory", 1001),
        ("KVM_SystemDevice", 0),
        ("KVM_VirtualSystemSettingDataComponent", 0),
    ];
    for (class, expect) in classes {
        let body = imethod_body(
            "EnumerateInstances",
            &format!(r#"<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="{class}"/></IPARAMVALUE>"#),
        );
        let request = post("EnumerateInstances", &body, "");
        let started = Instant::now();
        let response =
            raw_exchange(addr, &request, std::time::Duration::from_secs(600)).expect("response");
        let elapsed = started.elapsed();
        let text = response.body;
        assert!(
            !text.contains("<ERROR"),
            "{class}: {}",
            &text[..text.len().min(2000)]
        );
        let items = count_items(&text, "<VALUE.NAMEDINSTANCE>");
        if expect > 0 {
            assert_eq!(items, expect, "{class}");
        } else {
            assert!(items > 1000, "{class}: {items}");
        }
        report.push(format!(
            "{class}: {items} instances in {:.0} ms",
            elapsed.as_secs_f64() * 1000.0
        ));
    }
    let cs = r#"<IPARAMVALUE NAME="ObjectName"><INSTANCENAME CLASSNAME="KVM_ComputerSystem"><KEYBINDING NAME="CreationClassName"><KEYVALUE VALUETYPE="string">KVM_ComputerSystem</KEYVALUE></KEYBINDING><KEYBINDING NAME="Name"><KEYVALUE VALUETYPE="string">rich</KEYVALUE></KEYBINDING></INSTANCENAME></IPARAMVALUE>"#;
    let assoc_class =
        r#"<IPARAMVALUE NAME="AssocClass"><CLASSNAME NAME="KVM_SystemDevice"/></IPARAMVALUE>"#;
    for (what, params) in [
        (
            "AssociatorNames(rich, KVM_SystemDevice)",
            format!("{cs}{assoc_class}"),
        ),
        ("AssociatorNames(rich, every association)", cs.to_owned()),
    ] {
        let request = post(
            "AssociatorNames",
            &imethod_body("AssociatorNames", &params),
            "",
        );
        let started = Instant::now();
        let response =
            raw_exchange(addr, &request, std::time::Duration::from_secs(600)).expect("response");
        let elapsed = started.elapsed();
        assert!(
            !response.body.contains("<ERROR"),
            "{what}: {}",
            response.body
        );
        let items = count_items(&response.body, "<OBJECTPATH>");
        assert!(items >= 19, "{what}: {items}\n{}", response.body);
        report.push(format!(
            "{what}: {items} in {:.0} ms",
            elapsed.as_secs_f64() * 1000.0
        ));
    }
    println!("1000 domains:\n  {}", report.join("\n  "));
}
