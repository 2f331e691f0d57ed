//! The QEMU driver's state on disk, without booting QEMU: atomic definitions, corrupt files skipped at open,
//! refused names, racing defines, autostart markers.

use virtcim::{prelude::*, QemuDriver, QemuMode};

fn xml(name: &str, uuid: &str) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>32</memory>\
         <vcpu>1</vcpu><os><type>hvm</type></os></domain>"
    )
}

#[tokio::test]
async fn definitions_persist_and_bad_files_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("qemu");
    {
        let driver = QemuDriver::open(tmp.path(), QemuMode::System)
            .await
            .unwrap();
        driver
            .domain_define_xml(&xml("one", "5d2c6f4a-0000-4000-8000-000000000001"), 0)
            .await
            .unwrap();
        let two = driver
            .domain_define_xml(&xml("two", "5d2c6f4a-0000-4000-8000-000000000002"), 0)
            .await
            .unwrap();
        driver.domain_set_autostart(&two, true).await.unwrap();
        // Refusals: a name that is not a file name, a type QEMU cannot run, a clash of names.
        assert!(driver
            .domain_define_xml(&xml("a/b", "5d2c6f4a-0000-4000-8000-000000000003"), 0)
            .await
            .is_err());
        let test_type =
            xml("t", "5d2c6f4a-0000-4000-8000-000000000004").replace("type='qemu'", "type='test'");
        let err = driver.domain_define_xml(&test_type, 0).await.unwrap_err();
        assert!(
            err.message.contains("cannot run on the QEMU driver"),
            "{err}"
        );
        let err = driver
            .domain_define_xml(&xml("one", "5d2c6f4a-0000-4000-8000-000000000005"), 0)
            .await
            .unwrap_err();
        assert!(err.message.contains("already exists"), "{err}");
    }
    assert!(dir.join("one.xml").is_file() && dir.join("autostart/two").is_file());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("one.xml"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // A truncated definition, a renamed one, a corrupt status file and a temp file left by a crash.
    std::fs::write(dir.join("broken.xml"), "<domain type='qemu'><name>broken").unwrap();
    std::fs::copy(dir.join("one.xml"), dir.join("other-name.xml")).unwrap();
    std::fs::write(dir.join("run/ghost.json"), "{not json").unwrap();
    std::fs::write(dir.join(".one.xml.tmp.1.0"), "partial").unwrap();

    // Autostart starts "two" here (without qemu-system the failure is logged and the driver still opens).
    let driver = QemuDriver::open(tmp.path(), QemuMode::System)
        .await
        .unwrap();
    // Stop the autostarted guest before any assertion can fail and leave it running.
    let two = driver.domain_lookup_by_name("two").await.unwrap();
    if driver.domain_is_active(&two).await.unwrap() {
        driver.domain_destroy(&two, 0).await.unwrap();
    }
    let warnings = driver.load_warnings().join("\n");
    assert!(
        warnings.contains("broken.xml")
            && warnings.contains("other-name.xml")
            && warnings.contains("ghost.json"),
        "{warnings}"
    );
    assert!(!dir.join(".one.xml.tmp.1.0").exists());
    let one = driver.domain_lookup_by_name("one").await.unwrap();
    assert!(driver.domain_is_persistent(&one).await.unwrap());
    assert!(driver.domain_get_autostart(&two).await.unwrap());
    driver.domain_undefine(&two, 0).await.unwrap();
    assert!(!dir.join("two.xml").exists() && !dir.join("autostart/two").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_defines_of_one_name_have_one_winner() {
    let tmp = tempfile::tempdir().unwrap();
    let driver = QemuDriver::open(tmp.path(), QemuMode::System)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let driver = driver.clone();
            tokio::spawn(async move {
                driver
                    .domain_define_xml(
                        &xml("race", &format!("5d2c6f4a-0000-4000-8000-0000000001{i:02}")),
                        0,
                    )
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(driver.list_all_domains(0).await.unwrap().len(), 1);
}
