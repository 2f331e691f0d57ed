//! The `test:///default` driver through its public API: persistence across reopen, autostart at open, events,
//! list flags, racing defines, the state-dir lock, corrupt files and failed writes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use virtcim::{event, flags, prelude::*, reason, DomainState, ErrorCode, TestDriver};

fn domain_xml(name: &str, uuid: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory unit='KiB'>1048576</memory>\
         <vcpu>1</vcpu><os><type>hvm</type></os></domain>"
    )
}

fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

async fn open(dir: &Path) -> Arc<TestDriver> {
    TestDriver::open(dir).await.expect("open state dir")
}

#[tokio::test]
async fn a_reopened_driver_finds_the_same_world() {
    let dir = tempfile::tempdir().unwrap();
    let (running_id, paused_id) = {
        let d = open(dir.path()).await;
        let a = d
            .domain_define_xml(&domain_xml("a", &uuid(1)), 0)
            .await
            .unwrap();
        let b = d
            .domain_define_xml(&domain_xml("b", &uuid(2)), 0)
            .await
            .unwrap();
        d.domain_define_xml(&domain_xml("off", &uuid(3)), 0)
            .await
            .unwrap();
        let a = d.domain_create(&a, 0).await.unwrap();
        let b = d.domain_create(&b, 0).await.unwrap();
        d.domain_suspend(&b).await.unwrap();
        d.domain_create_xml(&domain_xml("transient", &uuid(4)), 0)
            .await
            .unwrap();
        let test = d.domain_lookup_by_name("test").await.unwrap();
        d.domain_set_memory(&test, 1_048_576, flags::AFFECT_LIVE)
            .await
            .unwrap();
        let net = d.network_lookup_by_name("default").await.unwrap();
        d.network_destroy(&net).await.unwrap();
        let pool = d.pool_lookup_by_name("default-pool").await.unwrap();
        d.vol_create_xml(
            &pool,
            "<volume><name>v1</name><capacity>1073741824</capacity></volume>",
            0,
        )
        .await
        .unwrap();
        (a.id, b.id)
    };
    let d = open(dir.path()).await;
    assert!(d.load_warnings().is_empty(), "{:?}", d.load_warnings());
    let a = d.domain_lookup_by_name("a").await.unwrap();
    assert_eq!(a.id, running_id);
    assert_eq!(
        d.domain_get_state(&a, 0).await.unwrap(),
        (DomainState::Running, reason::RUNNING_BOOTED)
    );
    let b = d.domain_lookup_by_id(paused_id).await.unwrap();
    assert_eq!(b.name, "b");
    assert_eq!(
        d.domain_get_state(&b, 0).await.unwrap(),
        (DomainState::Paused, reason::PAUSED_USER)
    );
    let off = d.domain_lookup_by_name("off").await.unwrap();
    assert_eq!(
        d.domain_get_state(&off, 0).await.unwrap().0,
        DomainState::Shutoff
    );
    let transient = d.domain_lookup_by_name("transient").await.unwrap();
    assert!(!d.domain_is_persistent(&transient).await.unwrap());
    assert!(d.domain_is_active(&transient).await.unwrap());
    let test = d.domain_lookup_by_name("test").await.unwrap();
    assert_eq!(test.id, 1);
    assert_eq!(
        d.domain_get_info(&test).await.unwrap().memory_kib,
        1_048_576
    );
    assert!(d.domain_is_updated(&test).await.unwrap());
    // The id counter survived too: the next start gets a fresh id.
    let started = d.domain_create(&off, 0).await.unwrap();
    assert!(
        started.id > transient.id,
        "{} <= {}",
        started.id,
        transient.id
    );

    let net = d.network_lookup_by_name("default").await.unwrap();
    assert!(!d.network_is_active(&net).await.unwrap());
    let pool = d.pool_lookup_by_name("default-pool").await.unwrap();
    assert_eq!(d.pool_get_info(&pool).await.unwrap().allocation, 1 << 30);
    let vol = d.vol_lookup_by_path("/default-pool/v1").await.unwrap();
    assert_eq!(d.vol_get_info(&vol).await.unwrap().capacity, 1 << 30);
}

#[tokio::test]
async fn an_emptied_world_is_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let d = open(dir.path()).await;
        let test = d.domain_lookup_by_name("test").await.unwrap();
        d.domain_destroy(&test, 0).await.unwrap();
        d.domain_undefine(&test, 0).await.unwrap();
    }
    let d = open(dir.path()).await;
    assert!(d.list_all_domains(0).await.unwrap().is_empty());
}

#[tokio::test]
async fn autostart_objects_start_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let d = open(dir.path()).await;
        let dom = d
            .domain_define_xml(&domain_xml("auto", &uuid(1)), 0)
            .await
            .unwrap();
        d.domain_set_autostart(&dom, true).await.unwrap();
        let net = d.network_lookup_by_name("default").await.unwrap();
        d.network_set_autostart(&net, true).await.unwrap();
        d.network_destroy(&net).await.unwrap();
        let pool = d.pool_lookup_by_name("default-pool").await.unwrap();
        d.pool_set_autostart(&pool, true).await.unwrap();
        d.pool_destroy(&pool).await.unwrap();
        assert_eq!(
            d.list_all_domains(flags::LIST_DOMAINS_ACTIVE)
                .await
                .unwrap()
                .len(),
            1
        );
    }
    let d = open(dir.path()).await;
    let dom = d.domain_lookup_by_name("auto").await.unwrap();
    assert!(dom.id >= 2, "{dom:?}");
    assert_eq!(
        d.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Running, reason::RUNNING_BOOTED)
    );
    let net = d.network_lookup_by_name("default").await.unwrap();
    assert!(d.network_is_active(&net).await.unwrap());
    let pool = d.pool_lookup_by_name("default-pool").await.unwrap();
    assert!(d.pool_is_active(&pool).await.unwrap());
    let autostarted = d
        .list_all_domains(flags::LIST_DOMAINS_AUTOSTART | flags::LIST_DOMAINS_RUNNING)
        .await
        .unwrap();
    assert_eq!(autostarted, vec![dom]);
}

#[tokio::test]
async fn subscribers_see_lifecycle_events_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path()).await;
    let mut rx = d.domain_event_subscribe().await.unwrap();
    let dom = d
        .domain_define_xml(&domain_xml("ev", &uuid(1)), 0)
        .await
        .unwrap();
    d.domain_create(&dom, 0).await.unwrap();
    d.domain_destroy(&dom, 0).await.unwrap();
    d.domain_undefine(&dom, 0).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let ev = rx.recv().await.unwrap();
        assert_eq!(ev.domain.name, "ev");
        seen.push((ev.event, ev.detail));
    }
    assert_eq!(
        seen,
        [
            (event::DEFINED, event::DEFINED_ADDED),
            (event::STARTED, event::STARTED_BOOTED),
            (event::STOPPED, event::STOPPED_DESTROYED),
            (event::UNDEFINED, event::UNDEFINED_REMOVED),
        ]
    );
}

#[tokio::test]
async fn list_flags_combine() {
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path()).await;
    d.domain_define_xml(&domain_xml("off", &uuid(1)), 0)
        .await
        .unwrap();
    d.domain_create_xml(&domain_xml("tmp", &uuid(2)), 0)
        .await
        .unwrap();
    let names = |l: Vec<virtcim::DomainRef>| l.into_iter().map(|d| d.name).collect::<Vec<_>>();
    let all = flags::LIST_DOMAINS_ACTIVE | flags::LIST_DOMAINS_INACTIVE;
    assert_eq!(
        names(d.list_all_domains(all).await.unwrap()),
        ["off", "test", "tmp"]
    );
    let active_persistent = flags::LIST_DOMAINS_ACTIVE | flags::LIST_DOMAINS_PERSISTENT;
    assert_eq!(
        names(d.list_all_domains(active_persistent).await.unwrap()),
        ["test"]
    );
    let inactive_transient = flags::LIST_DOMAINS_INACTIVE | flags::LIST_DOMAINS_TRANSIENT;
    assert!(d
        .list_all_domains(inactive_transient)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn racing_defines_of_one_uuid_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path()).await;
    let same_uuid = uuid(42);
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let d = Arc::clone(&d);
            let xml = domain_xml(&format!("racer{i}"), &same_uuid);
            tokio::spawn(async move { d.domain_define_xml(&xml, 0).await })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => winners += 1,
            Err(err) => {
                assert_eq!(err.code, ErrorCode::OPERATION_FAILED);
                assert!(
                    err.message.contains("is already defined with uuid"),
                    "{}",
                    err.message
                );
            }
        }
    }
    assert_eq!(winners, 1);
    let files = std::fs::read_dir(dir.path().join("domains"))
        .unwrap()
        .count();
    assert_eq!(files, 2, "one file for 'test', one for the winner");
}

#[tokio::test]
async fn a_second_owner_of_the_state_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path()).await;
    let err = TestDriver::open(dir.path())
        .await
        .err()
        .expect("second open must fail");
    let expected = format!(
        "state directory {} is in use by another process (pid {})",
        dir.path().display(),
        std::process::id()
    );
    assert!(err.message.contains(&expected), "{}", err.message);
    drop(first);
    open(dir.path()).await;
}

#[tokio::test]
async fn state_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let _d = open(&state).await;
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(state.clone()), 0o700);
    assert_eq!(mode(state.join("domains")), 0o700);
    for entry in std::fs::read_dir(state.join("domains")).unwrap() {
        assert_eq!(mode(entry.unwrap().path()), 0o600);
    }
}

#[tokio::test]
async fn corrupt_and_truncated_files_are_skipped_and_the_rest_loads() {
    let dir = tempfile::tempdir().unwrap();
    {
        let d = open(dir.path()).await;
        for i in 1..=3 {
            d.domain_define_xml(&domain_xml(&format!("d{i}"), &uuid(i)), 0)
                .await
                .unwrap();
        }
    }
    let domains = dir.path().join("domains");
    let truncated = domains.join(format!("{}.json", uuid(1)));
    let whole = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    std::fs::write(
        domains.join(format!("{}.json", uuid(2))),
        b"\x00\xffnot json",
    )
    .unwrap();
    std::fs::write(domains.join(format!(".{}.json.tmp.1.0", uuid(9))), b"{half").unwrap();

    let d = open(dir.path()).await;
    assert_eq!(d.load_warnings().len(), 2, "{:?}", d.load_warnings());
    assert!(d.load_warnings().iter().any(|w| w.contains(&uuid(1))));
    let names: Vec<_> = d
        .list_all_domains(0)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["d3", "test"]);
    let temps = std::fs::read_dir(&domains)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp.")
        })
        .count();
    assert_eq!(temps, 0, "temp files are cleaned at open");
}

#[tokio::test]
async fn a_failed_write_is_not_acknowledged_and_not_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let domains = dir.path().join("domains");
    let saved = dir.path().join("domains.saved");
    {
        let d = open(dir.path()).await;
        let test = d.domain_lookup_by_name("test").await.unwrap();
        // A file where the directory was makes every write fail, even for root.
        std::fs::rename(&domains, &saved).unwrap();
        std::fs::write(&domains, b"").unwrap();
        let err = d
            .domain_define_xml(&domain_xml("lost", &uuid(1)), 0)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::SYSTEM_ERROR);
        let err = d.domain_suspend(&test).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::SYSTEM_ERROR);
        assert!(d.domain_lookup_by_name("lost").await.is_err());
        assert_eq!(
            d.domain_get_state(&test, 0).await.unwrap().0,
            DomainState::Running
        );
        std::fs::remove_file(&domains).unwrap();
        std::fs::rename(&saved, &domains).unwrap();
    }
    let d = open(dir.path()).await;
    assert!(d.domain_lookup_by_name("lost").await.is_err());
    let test = d.domain_lookup_by_name("test").await.unwrap();
    assert_eq!(
        d.domain_get_state(&test, 0).await.unwrap().0,
        DomainState::Running
    );
}
