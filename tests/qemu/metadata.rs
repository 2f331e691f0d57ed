//! Real QEMU (TCG): a guest defined with `<metadata>` in two namespaces and per-device `<boot order>` starts with
//! `bootindex=` on its devices (read from /proc/PID/cmdline), its live and persistent XML keep both, and
//! `virDomainSetMetadata` on the running guest changes the live definition only and emits the metadata-change
//! event. The QEMU started here is killed by pid when the test ends.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::Duration;
use virtcim::{flags, prelude::*, QemuDriver, QemuMode};

/// Kills the guest's QEMU by pid if the test ends before destroying it.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Only the pid this test started; ESRCH when already gone is fine.
        let _ = kill(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_boot_order_reach_qemu_and_dumpxml() {
    assert!(
        crate::support::qemu::have_qemu(),
        "qemu-system-x86_64 is not installed: these tests boot real QEMU (tests/run installs qemu-system-x86)"
    );
    let _guests = crate::support::qemu::alongside().await;
    let tmp = tempfile::tempdir().unwrap();
    let disk = crate::support::qemu::spinning_disk(tmp.path());
    let driver = QemuDriver::open(tmp.path(), QemuMode::Session)
        .await
        .unwrap();
    let xml = format!(
        "<domain type='qemu'><name>meta</name><uuid>6a7e0c1e-0000-4000-8000-0000000000aa</uuid>\
         <title>Boot order guest</title><description>metadata end to end</description>\
         <metadata><app1:info xmlns:app1='http://app1.example/'><app1:owner>ops</app1:owner></app1:info>\
         <app2:tag xmlns:app2='http://app2.example/' v='1'/></metadata>\
         <memory unit='MiB'>32</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>\
         <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='vda' bus='virtio'/><boot order='2'/></disk>\
         <interface type='user'><mac address='52:54:00:00:00:aa'/><model type='virtio'/><boot order='1'/>\
         </interface><memballoon model='virtio'/></devices></domain>",
        disk.display()
    );
    let dom = driver
        .domain_define_xml(&xml, flags::DEFINE_VALIDATE)
        .await
        .unwrap();
    let mut events = driver.domain_event_subscribe().await.unwrap();
    let dom = driver.domain_create(&dom, 0).await.unwrap();
    let pid = driver.pid(&dom).unwrap();
    let _kill = KillOnDrop(pid);

    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let device = |prefix: &str| {
        args.iter()
            .find(|a| a.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {args:?}"))
            .clone()
    };
    assert!(
        device("virtio-net-pci,").ends_with(",bootindex=1"),
        "{args:?}"
    );
    assert!(
        device("virtio-blk-pci,").ends_with(",bootindex=2"),
        "{args:?}"
    );
    assert!(!args.iter().any(|a| a == "-boot"), "{args:?}");

    for xml_flags in [0, flags::XML_INACTIVE] {
        let out = driver.domain_get_xml_desc(&dom, xml_flags).await.unwrap();
        for kept in [
            "<title>Boot order guest</title>",
            "<app1:info xmlns:app1=\"http://app1.example/\">",
            "<app1:owner>ops</app1:owner>",
            "<app2:tag xmlns:app2=\"http://app2.example/\" v=\"1\"/>",
            "<boot order='2'/>",
            "<boot order='1'/>",
            // With the PCI address libvirt gives it on define.
            "<memballoon model='virtio'>",
        ] {
            assert!(out.contains(kept), "{kept} missing from\n{out}");
        }
    }
    assert_eq!(
        driver
            .domain_get_metadata(&dom, 2, Some("http://app1.example/"), 0)
            .await
            .unwrap(),
        "<info>\n  <owner>ops</owner>\n</info>"
    );

    // A live change touches the running definition only, and says so with an event.
    driver
        .domain_set_metadata(
            &dom,
            2,
            Some("<info><owner>dev</owner></info>"),
            Some("a"),
            Some("http://app1.example/"),
            flags::AFFECT_LIVE,
        )
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let ev = events.recv().await.unwrap();
            if ev.metadata.is_some() {
                return ev;
            }
        }
    })
    .await
    .expect("metadata-change event");
    assert_eq!(event.domain.name, "meta");
    let change = event.metadata.unwrap();
    assert_eq!(
        (change.kind, change.nsuri.as_deref()),
        (2, Some("http://app1.example/"))
    );
    let live = driver.domain_get_xml_desc(&dom, 0).await.unwrap();
    assert!(live.contains("<a:owner>dev</a:owner>"), "{live}");
    let inactive = driver
        .domain_get_xml_desc(&dom, flags::XML_INACTIVE)
        .await
        .unwrap();
    assert!(
        inactive.contains("<app1:owner>ops</app1:owner>"),
        "{inactive}"
    );
    let err = driver
        .domain_get_metadata(&dom, 2, Some("http://none.example/"), 0)
        .await
        .unwrap_err();
    assert_eq!(err.code.0, 80, "{}", err.message);

    driver.domain_destroy(&dom, 0).await.unwrap();
    // After the stop the persistent definition answers, with its own metadata.
    assert_eq!(
        driver
            .domain_get_metadata(&dom, 2, Some("http://app1.example/"), 0)
            .await
            .unwrap(),
        "<info>\n  <owner>ops</owner>\n</info>"
    );
    driver.domain_undefine(&dom, 0).await.unwrap();
}
