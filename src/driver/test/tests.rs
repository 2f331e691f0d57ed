//! Unit tests of the test driver: libvirt's initial world, every transition and every refusal with its code.

use super::*;
use crate::driver::{event, flags, pool_state, reason};

const UUID_A: &str = "11111111-2222-3333-4444-555555555555";
const UUID_B: &str = "11111111-2222-3333-4444-666666666666";

fn domain_xml(name: &str, uuid: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory unit='KiB'>1048576</memory>\
         <currentMemory unit='KiB'>524288</currentMemory><vcpu current='1'>2</vcpu>\
         <os><type arch='i686'>hvm</type></os></domain>"
    )
}

fn network_xml(name: &str, uuid: &str) -> String {
    format!(
        "<network><name>{name}</name><uuid>{uuid}</uuid><bridge name='br-{name}'/>\
         <ip address='10.1.0.1' netmask='255.255.255.0'/></network>"
    )
}

fn pool_xml(name: &str, uuid: &str) -> String {
    format!("<pool type='dir'><name>{name}</name><uuid>{uuid}</uuid><target><path>/p/{name}</path></target></pool>")
}

fn volume_xml(name: &str, capacity: u64, allocation: Option<u64>) -> String {
    let alloc = allocation
        .map(|a| format!("<allocation unit='bytes'>{a}</allocation>"))
        .unwrap_or_default();
    format!(
        "<volume><name>{name}</name><capacity unit='bytes'>{capacity}</capacity>{alloc}</volume>"
    )
}

async fn fresh() -> (tempfile::TempDir, Arc<TestDriver>) {
    let dir = tempfile::tempdir().unwrap();
    let driver = TestDriver::open(dir.path()).await.unwrap();
    (dir, driver)
}

#[track_caller]
fn assert_err<T: std::fmt::Debug>(result: Result<T>, code: ErrorCode, message: &str) {
    let err = result.unwrap_err();
    assert_eq!(err.code, code, "{}", err.message);
    assert_eq!(err.message, message);
}

fn drain(rx: &mut broadcast::Receiver<DomainEvent>) -> Vec<(String, i32, i32)> {
    let mut seen = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        seen.push((ev.domain.name, ev.event, ev.detail));
    }
    seen
}

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/testdrv")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn first_open_creates_libvirts_test_world() {
    let (_dir, d) = fresh().await;
    assert_eq!(d.get_type().await.unwrap(), "TEST");
    assert_eq!(d.get_version().await.unwrap(), 2);
    assert_eq!(d.get_uri().await.unwrap(), "test:///default");
    assert!(!d.get_hostname().await.unwrap().is_empty());
    let node = d.node_get_info().await.unwrap();
    assert_eq!(
        (
            node.model.as_str(),
            node.cpus,
            node.mhz,
            node.nodes,
            node.sockets,
            node.cores,
            node.threads
        ),
        ("i686", 16, 1400, 2, 2, 2, 2)
    );
    assert_eq!(node.memory_kib, 3_145_728);
    assert_eq!(
        d.get_capabilities().await.unwrap(),
        golden("capabilities.xml")
    );
    assert_eq!(
        d.node_get_security_model().await.unwrap(),
        ("testSecurity".to_string(), String::new())
    );

    let doms = d.list_all_domains(0).await.unwrap();
    assert_eq!(doms.len(), 1);
    let test = &doms[0];
    assert_eq!((test.name.as_str(), test.id), ("test", 1));
    assert_eq!(
        test.uuid.to_string(),
        "6695eb01-f6a4-8304-79aa-97f2502e193f"
    );
    let info = d.domain_get_info(test).await.unwrap();
    assert_eq!(
        (
            info.state,
            info.max_mem_kib,
            info.memory_kib,
            info.nr_virt_cpu
        ),
        (DomainState::Running, 8_388_608, 2_097_152, 2)
    );
    assert_eq!(
        d.domain_get_state(test, 0).await.unwrap(),
        (DomainState::Running, reason::RUNNING_UNKNOWN)
    );
    assert_eq!(d.domain_get_os_type(test).await.unwrap(), "linux");
    assert!(d.domain_is_persistent(test).await.unwrap());
    assert!(!d.domain_get_autostart(test).await.unwrap());
    assert!(!d.domain_has_managed_save_image(test, 0).await.unwrap());
    assert_eq!(
        d.domain_get_security_label(test).await.unwrap(),
        ("libvirt-test".to_string(), true)
    );
    let xml = d.domain_get_xml_desc(test, 0).await.unwrap();
    assert!(xml.starts_with("<domain type='test' id='1'>"), "{xml}");
    for line in [
        "<source file='/guest/diskimage1'/>",
        "<mac address='aa:bb:cc:dd:ee:ff'/>",
        "<target dev='testnet0'/>",
    ] {
        assert!(xml.contains(line), "{line} missing in {xml}");
    }
    let inactive = d
        .domain_get_xml_desc(test, flags::XML_INACTIVE)
        .await
        .unwrap();
    assert!(inactive.starts_with("<domain type='test'>"), "{inactive}");

    let nets = d.list_all_networks(0).await.unwrap();
    assert_eq!(nets.len(), 1);
    assert_eq!(
        d.network_get_xml_desc(&nets[0], 0).await.unwrap(),
        golden("25-net-dumpxml.xml")
    );
    assert_eq!(d.network_get_bridge_name(&nets[0]).await.unwrap(), "virbr0");
    assert!(d.network_is_active(&nets[0]).await.unwrap());
    assert!(d.network_is_persistent(&nets[0]).await.unwrap());
    assert!(!d.network_get_autostart(&nets[0]).await.unwrap());

    let pools = d.list_all_storage_pools(0).await.unwrap();
    assert_eq!(pools.len(), 1);
    assert_eq!(
        d.pool_get_xml_desc(&pools[0], 0).await.unwrap(),
        golden("28-pool-dumpxml.xml")
    );
    let info = d.pool_get_info(&pools[0]).await.unwrap();
    assert_eq!(
        (info.state, info.capacity, info.allocation, info.available),
        (pool_state::RUNNING, 107_374_182_400, 0, 107_374_182_400)
    );
    assert!(d
        .pool_list_all_volumes(&pools[0], 0)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn lookups_answer_libvirts_not_found_errors() {
    let (_dir, d) = fresh().await;
    let test = d.domain_lookup_by_name("test").await.unwrap();
    assert_eq!(d.domain_lookup_by_id(1).await.unwrap(), test);
    assert_eq!(d.domain_lookup_by_uuid(&test.uuid).await.unwrap(), test);
    assert_err(
        d.domain_lookup_by_name("nosuch").await,
        ErrorCode::NO_DOMAIN,
        "Domain not found",
    );
    let err = d.domain_lookup_by_name("nosuch").await.unwrap_err();
    assert_eq!(err.domain, ErrorDomain::TEST);
    assert_err(
        d.domain_lookup_by_id(7).await,
        ErrorCode::NO_DOMAIN,
        "Domain not found",
    );
    assert_err(
        d.domain_lookup_by_uuid(&Uuid::nil()).await,
        ErrorCode::NO_DOMAIN,
        "Domain not found",
    );
    let gone = DomainRef {
        name: "ghost".into(),
        uuid: Uuid::nil(),
        id: -1,
    };
    assert_eq!(
        d.domain_get_info(&gone).await.unwrap_err().code,
        ErrorCode::NO_DOMAIN
    );
    assert_err(
        d.network_lookup_by_name("x").await,
        ErrorCode::NO_NETWORK,
        "Network not found: no network with matching name 'x'",
    );
    assert_eq!(
        d.network_lookup_by_uuid(&Uuid::nil())
            .await
            .unwrap_err()
            .code,
        ErrorCode::NO_NETWORK
    );
    assert_err(
        d.pool_lookup_by_name("x").await,
        ErrorCode::NO_STORAGE_POOL,
        "Storage pool not found: no storage pool with matching name 'x'",
    );
    assert_eq!(
        d.pool_lookup_by_uuid(&Uuid::nil()).await.unwrap_err().code,
        ErrorCode::NO_STORAGE_POOL
    );
    assert_err(
        d.vol_lookup_by_path("/default-pool/x").await,
        ErrorCode::NO_STORAGE_VOL,
        "Storage volume not found: no storage vol with matching path '/default-pool/x'",
    );
    assert_eq!(
        d.vol_lookup_by_key("k").await.unwrap_err().code,
        ErrorCode::NO_STORAGE_VOL
    );
}

#[tokio::test]
async fn define_start_stop_undefine_follow_libvirt() {
    let (_dir, d) = fresh().await;
    let mut rx = d.domain_event_subscribe().await.unwrap();

    let dom = d
        .domain_define_xml(&domain_xml("demo", UUID_A), 0)
        .await
        .unwrap();
    assert_eq!(dom.id, -1);
    assert_eq!(
        d.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Shutoff, reason::SHUTOFF_UNKNOWN)
    );
    assert!(d.domain_is_persistent(&dom).await.unwrap());
    assert!(!d.domain_is_active(&dom).await.unwrap());
    // Redefining with the same name and UUID updates it.
    d.domain_define_xml(&domain_xml("demo", UUID_A), 0)
        .await
        .unwrap();
    assert_err(
        d.domain_define_xml(&domain_xml("demo", UUID_B), 0).await,
        ErrorCode::OPERATION_FAILED,
        &format!("operation failed: domain 'demo' already exists with uuid {UUID_A}"),
    );
    assert_err(
        d.domain_define_xml(&domain_xml("other", UUID_A), 0).await,
        ErrorCode::OPERATION_FAILED,
        &format!("operation failed: domain 'demo' is already defined with uuid {UUID_A}"),
    );

    assert_err(
        d.domain_destroy(&dom, 0).await,
        ErrorCode::OPERATION_INVALID,
        "Requested operation is not valid: domain is not running",
    );
    // libvirtd 9.0's test driver words these as internal errors naming the domain (measured).
    assert_err(
        d.domain_shutdown(&dom, 0).await,
        ErrorCode::INTERNAL_ERROR,
        "internal error: domain 'demo' not running",
    );
    assert_err(
        d.domain_suspend(&dom).await,
        ErrorCode::INTERNAL_ERROR,
        "internal error: domain 'demo' not running",
    );
    assert_err(
        d.domain_resume(&dom).await,
        ErrorCode::INTERNAL_ERROR,
        "internal error: domain 'demo' not paused",
    );
    assert_eq!(
        d.domain_reboot(&dom, 0).await.unwrap_err().code,
        ErrorCode::OPERATION_INVALID
    );

    let started = d.domain_create(&dom, 0).await.unwrap();
    assert_eq!(started.id, 2);
    assert_eq!(d.domain_lookup_by_id(2).await.unwrap().name, "demo");
    assert_eq!(
        d.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Running, reason::RUNNING_BOOTED)
    );
    assert_err(
        d.domain_create(&dom, 0).await,
        ErrorCode::INTERNAL_ERROR,
        "internal error: Domain 'demo' is already running",
    );
    assert_err(
        d.domain_resume(&dom).await,
        ErrorCode::INTERNAL_ERROR,
        "internal error: domain 'demo' not paused",
    );
    d.domain_suspend(&dom).await.unwrap();
    assert_eq!(
        d.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Paused, reason::PAUSED_USER)
    );
    assert_err(
        d.domain_suspend(&dom).await,
        ErrorCode::INTERNAL_ERROR,
        "internal error: domain 'demo' not running",
    );
    d.domain_resume(&dom).await.unwrap();
    assert_eq!(
        d.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Running, reason::RUNNING_UNPAUSED)
    );
    d.domain_shutdown(&dom, 0).await.unwrap();
    assert_eq!(
        d.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Shutoff, reason::SHUTOFF_SHUTDOWN)
    );
    // Ids are never reused.
    assert_eq!(d.domain_create(&dom, 0).await.unwrap().id, 3);
    d.domain_reboot(&dom, 0).await.unwrap();
    assert_eq!(
        d.domain_get_state(&dom, 0).await.unwrap().0,
        DomainState::Running
    );
    d.domain_destroy(&dom, 0).await.unwrap();
    assert_eq!(
        d.domain_get_state(&dom, 0).await.unwrap(),
        (DomainState::Shutoff, reason::SHUTOFF_DESTROYED)
    );
    d.domain_undefine(&dom, 0).await.unwrap();
    assert_eq!(
        d.domain_lookup_by_name("demo").await.unwrap_err().code,
        ErrorCode::NO_DOMAIN
    );

    let demo = |e, det| ("demo".to_string(), e, det);
    assert_eq!(
        drain(&mut rx),
        vec![
            demo(event::DEFINED, event::DEFINED_ADDED),
            demo(event::DEFINED, event::DEFINED_UPDATED),
            demo(event::STARTED, event::STARTED_BOOTED),
            demo(event::SUSPENDED, event::SUSPENDED_PAUSED),
            demo(event::RESUMED, event::RESUMED_UNPAUSED),
            demo(event::STOPPED, event::STOPPED_SHUTDOWN),
            demo(event::STARTED, event::STARTED_BOOTED),
            demo(event::STOPPED, event::STOPPED_DESTROYED),
            demo(event::UNDEFINED, event::UNDEFINED_REMOVED),
        ]
    );
}

#[tokio::test]
async fn transient_domains_vanish_when_stopped() {
    let (_dir, d) = fresh().await;
    let dom = d
        .domain_create_xml(&domain_xml("tmp", UUID_A), 0)
        .await
        .unwrap();
    assert_eq!(dom.id, 2);
    assert!(!d.domain_is_persistent(&dom).await.unwrap());
    assert_err(
        d.domain_set_autostart(&dom, true).await,
        ErrorCode::OPERATION_INVALID,
        "Requested operation is not valid: cannot set autostart for transient domain",
    );
    // Undefining a running transient domain is accepted, as by libvirt's test driver: it stays as it was.
    d.domain_undefine(&dom, 0).await.unwrap();
    assert!(d.domain_is_active(&dom).await.unwrap());
    assert!(!d.domain_is_persistent(&dom).await.unwrap());
    assert_err(
        d.domain_create_xml(&domain_xml("tmp", UUID_A), 0).await,
        ErrorCode::OPERATION_INVALID,
        "Requested operation is not valid: domain 'tmp' is already active",
    );
    d.domain_destroy(&dom, 0).await.unwrap();
    assert_eq!(
        d.domain_lookup_by_name("tmp").await.unwrap_err().code,
        ErrorCode::NO_DOMAIN
    );

    let dom = d
        .domain_create_xml(&domain_xml("tmp", UUID_A), flags::START_PAUSED)
        .await
        .unwrap();
    assert_eq!(dom.id, 3);
    assert_eq!(
        d.domain_get_state(&dom, 0).await.unwrap().0,
        DomainState::Paused
    );
    d.domain_shutdown(&dom, 0).await.unwrap();
    assert!(d
        .list_all_domains(0)
        .await
        .unwrap()
        .iter()
        .all(|x| x.name != "tmp"));

    // Defining a running transient domain makes it persistent (an added definition).
    let mut rx = d.domain_event_subscribe().await.unwrap();
    let dom = d
        .domain_create_xml(&domain_xml("tmp", UUID_A), 0)
        .await
        .unwrap();
    d.domain_define_xml(&domain_xml("tmp", UUID_A), 0)
        .await
        .unwrap();
    assert!(d.domain_is_persistent(&dom).await.unwrap());
    let seen = drain(&mut rx);
    assert_eq!(
        seen[1],
        ("tmp".to_string(), event::DEFINED, event::DEFINED_ADDED)
    );
}

#[tokio::test]
async fn undefining_a_running_domain_makes_it_transient() {
    let (_dir, d) = fresh().await;
    let test = d.domain_lookup_by_name("test").await.unwrap();
    d.domain_undefine(&test, 0).await.unwrap();
    assert!(!d.domain_is_persistent(&test).await.unwrap());
    assert!(d.domain_is_active(&test).await.unwrap());
    d.domain_destroy(&test, 0).await.unwrap();
    assert!(d.list_all_domains(0).await.unwrap().is_empty());
}

#[tokio::test]
async fn list_flags_filter_like_libvirt() {
    let (_dir, d) = fresh().await;
    let off = d
        .domain_define_xml(&domain_xml("off", UUID_A), 0)
        .await
        .unwrap();
    d.domain_set_autostart(&off, true).await.unwrap();
    let paused = d
        .domain_create_xml(&domain_xml("paused", UUID_B), flags::START_PAUSED)
        .await
        .unwrap();
    let _ = paused;
    let names = |list: Vec<DomainRef>| list.into_iter().map(|d| d.name).collect::<Vec<_>>();
    let cases: &[(u32, &[&str])] = &[
        (0, &["off", "paused", "test"]),
        (flags::LIST_DOMAINS_ACTIVE, &["paused", "test"]),
        (flags::LIST_DOMAINS_INACTIVE, &["off"]),
        (
            flags::LIST_DOMAINS_ACTIVE | flags::LIST_DOMAINS_INACTIVE,
            &["off", "paused", "test"],
        ),
        (flags::LIST_DOMAINS_PERSISTENT, &["off", "test"]),
        (flags::LIST_DOMAINS_TRANSIENT, &["paused"]),
        (flags::LIST_DOMAINS_RUNNING, &["test"]),
        (flags::LIST_DOMAINS_PAUSED, &["paused"]),
        (flags::LIST_DOMAINS_SHUTOFF, &["off"]),
        (
            flags::LIST_DOMAINS_RUNNING | flags::LIST_DOMAINS_SHUTOFF,
            &["off", "test"],
        ),
        (flags::LIST_DOMAINS_OTHER, &[]),
        (flags::LIST_DOMAINS_AUTOSTART, &["off"]),
        (flags::LIST_DOMAINS_NO_AUTOSTART, &["paused", "test"]),
        (flags::LIST_DOMAINS_MANAGEDSAVE, &[]),
        (
            flags::LIST_DOMAINS_NO_MANAGEDSAVE,
            &["off", "paused", "test"],
        ),
        (flags::LIST_DOMAINS_HAS_SNAPSHOT, &[]),
        (
            flags::LIST_DOMAINS_NO_SNAPSHOT | flags::LIST_DOMAINS_ACTIVE,
            &["paused", "test"],
        ),
        (flags::LIST_DOMAINS_HAS_CHECKPOINT, &[]),
        (
            flags::LIST_DOMAINS_NO_CHECKPOINT | flags::LIST_DOMAINS_PERSISTENT,
            &["off", "test"],
        ),
    ];
    for (list_flags, want) in cases {
        assert_eq!(
            names(d.list_all_domains(*list_flags).await.unwrap()),
            *want,
            "flags {list_flags:#x}"
        );
    }
    assert_eq!(
        d.list_all_domains(1 << 20).await.unwrap_err().code,
        ErrorCode::INVALID_ARG
    );
    // A snapshot moves its domain from one side of the snapshot filter to the other (`virsh list
    // --with-snapshot`).
    d.domain_snapshot_create_xml(&off, "<domainsnapshot><name>s1</name></domainsnapshot>", 0)
        .await
        .unwrap();
    let with = d
        .list_all_domains(flags::LIST_DOMAINS_HAS_SNAPSHOT)
        .await
        .unwrap();
    assert_eq!(names(with), ["off"]);
    let without = d
        .list_all_domains(flags::LIST_DOMAINS_NO_SNAPSHOT)
        .await
        .unwrap();
    assert_eq!(names(without), ["paused", "test"]);
}

#[tokio::test]
async fn memory_and_vcpus_respect_limits_and_impact_flags() {
    let (_dir, d) = fresh().await;
    let test = d.domain_lookup_by_name("test").await.unwrap();
    assert_err(
        d.domain_set_memory(&test, 9_000_000, 0).await,
        ErrorCode::INVALID_ARG,
        "invalid argument: cannot set memory higher than max memory",
    );
    assert_eq!(
        d.domain_set_memory(&test, 4_000_000, flags::MEM_MAXIMUM)
            .await
            .unwrap_err()
            .code,
        ErrorCode::OPERATION_INVALID
    );
    // Live only: the running definition changes, the persistent one does not.
    d.domain_set_memory(&test, 1_048_576, flags::AFFECT_LIVE)
        .await
        .unwrap();
    assert_eq!(
        d.domain_get_info(&test).await.unwrap().memory_kib,
        1_048_576
    );
    assert!(d.domain_is_updated(&test).await.unwrap());
    let inactive = d
        .domain_get_xml_desc(&test, flags::XML_INACTIVE)
        .await
        .unwrap();
    assert!(
        inactive.contains("<currentMemory unit='KiB'>2097152</currentMemory>"),
        "{inactive}"
    );
    // Config maximum below the current memory pulls the current memory down with it.
    d.domain_set_memory(&test, 1_000_000, flags::MEM_MAXIMUM | flags::AFFECT_CONFIG)
        .await
        .unwrap();
    let inactive = d
        .domain_get_xml_desc(&test, flags::XML_INACTIVE)
        .await
        .unwrap();
    assert!(
        inactive.contains("<memory unit='KiB'>1000000</memory>"),
        "{inactive}"
    );
    assert!(
        inactive.contains("<currentMemory unit='KiB'>1000000</currentMemory>"),
        "{inactive}"
    );
    assert_eq!(d.domain_get_max_memory(&test).await.unwrap(), 8_388_608);

    let off = d
        .domain_define_xml(&domain_xml("off", UUID_A), 0)
        .await
        .unwrap();
    assert_err(
        d.domain_set_memory(&off, 1000, flags::AFFECT_LIVE).await,
        ErrorCode::OPERATION_INVALID,
        "Requested operation is not valid: domain is not running",
    );
    d.domain_set_memory(&off, 2_097_152, flags::MEM_MAXIMUM)
        .await
        .unwrap();
    assert_eq!(d.domain_get_max_memory(&off).await.unwrap(), 2_097_152);

    assert_eq!(d.domain_get_vcpus(&off, 0).await.unwrap(), 1);
    assert_eq!(
        d.domain_get_vcpus(&off, flags::VCPU_MAXIMUM).await.unwrap(),
        2
    );
    assert_err(
        d.domain_set_vcpus(&off, 3, 0).await,
        ErrorCode::INVALID_ARG,
        "invalid argument: requested cpu amount exceeds maximum (3 > 2)",
    );
    assert_eq!(
        d.domain_set_vcpus(&off, 0, 0).await.unwrap_err().code,
        ErrorCode::INVALID_ARG
    );
    assert_err(
        d.domain_set_vcpus(&off, 4, flags::VCPU_MAXIMUM).await,
        ErrorCode::INVALID_ARG,
        "Flag 'VIR_DOMAIN_AFFECT_CONFIG' is required by flag 'VIR_DOMAIN_VCPU_MAXIMUM'",
    );
    d.domain_set_vcpus(&off, 4, flags::VCPU_MAXIMUM | flags::AFFECT_CONFIG)
        .await
        .unwrap();
    d.domain_set_vcpus(&off, 3, 0).await.unwrap();
    assert_eq!(d.domain_get_vcpus(&off, 0).await.unwrap(), 3);
    assert_eq!(d.domain_get_info(&off).await.unwrap().nr_virt_cpu, 3);
    assert_eq!(
        d.domain_set_vcpus(&test, 4, flags::VCPU_MAXIMUM | flags::AFFECT_LIVE)
            .await
            .unwrap_err()
            .code,
        ErrorCode::INVALID_ARG
    );
    d.domain_set_vcpus(&test, 1, flags::AFFECT_LIVE | flags::AFFECT_CONFIG)
        .await
        .unwrap();
    assert_eq!(
        d.domain_get_vcpus(&test, flags::AFFECT_CONFIG)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        d.domain_get_vcpus(&test, flags::AFFECT_CONFIG | flags::AFFECT_LIVE)
            .await
            .unwrap_err()
            .code,
        ErrorCode::INVALID_ARG
    );
    let tmp = d
        .domain_create_xml(&domain_xml("tmp", UUID_B), 0)
        .await
        .unwrap();
    assert_err(
        d.domain_set_memory(&tmp, 1000, flags::AFFECT_CONFIG).await,
        ErrorCode::OPERATION_INVALID,
        "Requested operation is not valid: transient domains do not have any persistent config",
    );
}

#[tokio::test]
async fn cpu_time_grows_only_while_running() {
    let (_dir, d) = fresh().await;
    let test = d.domain_lookup_by_name("test").await.unwrap();
    let first = d.domain_get_info(&test).await.unwrap().cpu_time_ns;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second = d.domain_get_info(&test).await.unwrap().cpu_time_ns;
    assert!(second > first, "{first} -> {second}");
    d.domain_suspend(&test).await.unwrap();
    let paused = d.domain_get_info(&test).await.unwrap().cpu_time_ns;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(d.domain_get_info(&test).await.unwrap().cpu_time_ns, paused);
}

#[tokio::test]
async fn concurrent_defines_of_one_name_have_one_winner() {
    let (_dir, d) = fresh().await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let d = Arc::clone(&d);
            tokio::spawn(async move {
                let uuid = format!("00000000-0000-0000-0000-{i:012}");
                d.domain_define_xml(&domain_xml("race", &uuid), 0).await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(err) => {
                assert_eq!(err.code, ErrorCode::OPERATION_FAILED);
                assert!(
                    err.message
                        .contains("domain 'race' already exists with uuid"),
                    "{}",
                    err.message
                );
            }
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn invalid_names_are_refused_before_anything_is_written() {
    let (dir, d) = fresh().await;
    for bad in ["../x", ".hidden"] {
        let xml = domain_xml(&bad.replace('<', ""), UUID_A);
        assert!(d.domain_define_xml(&xml, 0).await.is_err(), "{bad}");
    }
    let files = std::fs::read_dir(dir.path().join("domains"))
        .unwrap()
        .count();
    assert_eq!(files, 1);
}

/// Replaces a state sub-directory with a plain file, so every write into it fails (even for root).
fn break_dir(dir: &Path, sub: &str) -> PathBuf {
    let moved = dir.join(format!("{sub}.saved"));
    std::fs::rename(dir.join(sub), &moved).unwrap();
    std::fs::write(dir.join(sub), b"").unwrap();
    moved
}

fn repair_dir(dir: &Path, sub: &str, moved: &Path) {
    std::fs::remove_file(dir.join(sub)).unwrap();
    std::fs::rename(moved, dir.join(sub)).unwrap();
}

#[tokio::test]
async fn a_failed_write_changes_nothing_and_reports_a_system_error() {
    let (dir, d) = fresh().await;
    let test = d.domain_lookup_by_name("test").await.unwrap();
    let mut rx = d.domain_event_subscribe().await.unwrap();
    let moved = break_dir(dir.path(), "domains");
    let err = d
        .domain_define_xml(&domain_xml("demo", UUID_A), 0)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::SYSTEM_ERROR, "{}", err.message);
    assert!(err.message.starts_with("cannot save "), "{}", err.message);
    assert_eq!(
        d.domain_suspend(&test).await.unwrap_err().code,
        ErrorCode::SYSTEM_ERROR
    );
    assert_eq!(
        d.domain_destroy(&test, 0).await.unwrap_err().code,
        ErrorCode::SYSTEM_ERROR
    );
    assert_eq!(
        d.domain_undefine(&test, 0).await.unwrap_err().code,
        ErrorCode::SYSTEM_ERROR
    );
    assert_eq!(
        d.domain_lookup_by_name("demo").await.unwrap_err().code,
        ErrorCode::NO_DOMAIN
    );
    assert_eq!(
        d.domain_get_state(&test, 0).await.unwrap(),
        (DomainState::Running, reason::RUNNING_UNKNOWN)
    );
    assert!(d.domain_is_persistent(&test).await.unwrap());
    assert!(drain(&mut rx).is_empty());
    repair_dir(dir.path(), "domains", &moved);
    d.domain_define_xml(&domain_xml("demo", UUID_A), 0)
        .await
        .unwrap();

    let moved = break_dir(dir.path(), "volumes");
    let pool = d.pool_lookup_by_name("default-pool").await.unwrap();
    assert_eq!(
        d.vol_create_xml(&pool, &volume_xml("v", 1000, None), 0)
            .await
            .unwrap_err()
            .code,
        ErrorCode::SYSTEM_ERROR
    );
    assert_eq!(d.pool_get_info(&pool).await.unwrap().allocation, 0);
    assert!(d.pool_list_all_volumes(&pool, 0).await.unwrap().is_empty());
    repair_dir(dir.path(), "volumes", &moved);
}

#[tokio::test]
async fn networks_follow_libvirt() {
    let (_dir, d) = fresh().await;
    let net = d
        .network_define_xml(&network_xml("lab", UUID_A), 0)
        .await
        .unwrap();
    assert!(!d.network_is_active(&net).await.unwrap());
    assert!(d.network_is_persistent(&net).await.unwrap());
    assert_eq!(d.network_get_bridge_name(&net).await.unwrap(), "br-lab");
    assert_eq!(
        d.network_define_xml(&network_xml("lab", UUID_B), 0)
            .await
            .unwrap_err()
            .code,
        ErrorCode::OPERATION_FAILED
    );
    assert_eq!(
        d.network_define_xml(&network_xml("lab2", UUID_A), 0)
            .await
            .unwrap_err()
            .code,
        ErrorCode::OPERATION_FAILED
    );
    // Destroying an inactive network is accepted by libvirt's test driver.
    d.network_destroy(&net).await.unwrap();
    d.network_create(&net).await.unwrap();
    assert_err(
        d.network_create(&net).await,
        ErrorCode::OPERATION_INVALID,
        "Requested operation is not valid: Network 'lab' is already running",
    );
    assert_err(
        d.network_undefine(&net).await,
        ErrorCode::OPERATION_INVALID,
        "Requested operation is not valid: Network 'lab' is still running",
    );
    d.network_set_autostart(&net, true).await.unwrap();
    assert!(d.network_get_autostart(&net).await.unwrap());
    let names = |l: Vec<NetworkRef>| l.into_iter().map(|n| n.name).collect::<Vec<_>>();
    assert_eq!(
        names(
            d.list_all_networks(flags::LIST_NETWORKS_AUTOSTART)
                .await
                .unwrap()
        ),
        ["lab"]
    );
    assert_eq!(
        names(
            d.list_all_networks(flags::LIST_NETWORKS_NO_AUTOSTART)
                .await
                .unwrap()
        ),
        ["default"]
    );
    d.network_destroy(&net).await.unwrap();
    assert_eq!(
        names(
            d.list_all_networks(flags::LIST_NETWORKS_INACTIVE)
                .await
                .unwrap()
        ),
        ["lab"]
    );
    assert_eq!(
        names(
            d.list_all_networks(flags::LIST_NETWORKS_ACTIVE)
                .await
                .unwrap()
        ),
        ["default"]
    );
    d.network_undefine(&net).await.unwrap();
    assert_eq!(
        d.network_lookup_by_name("lab").await.unwrap_err().code,
        ErrorCode::NO_NETWORK
    );

    let tmp = d
        .network_create_xml(&network_xml("tmp", UUID_B), 0)
        .await
        .unwrap();
    assert!(!d.network_is_persistent(&tmp).await.unwrap());
    assert_eq!(
        names(
            d.list_all_networks(flags::LIST_NETWORKS_TRANSIENT)
                .await
                .unwrap()
        ),
        ["tmp"]
    );
    assert_err(
        d.network_create_xml(&network_xml("tmp", UUID_B), 0).await,
        ErrorCode::OPERATION_INVALID,
        "Requested operation is not valid: network is already active as 'tmp'",
    );
    d.network_destroy(&tmp).await.unwrap();
    assert_eq!(
        d.network_lookup_by_uuid(&tmp.uuid).await.unwrap_err().code,
        ErrorCode::NO_NETWORK
    );
}

#[tokio::test]
async fn pools_and_volumes_account_capacity() {
    let (_dir, d) = fresh().await;
    let pool = d.pool_lookup_by_name("default-pool").await.unwrap();
    let vol = d
        .vol_create_xml(&pool, &volume_xml("disk1", 10 << 30, None), 0)
        .await
        .unwrap();
    assert_eq!(vol.key, "/default-pool/disk1");
    assert_eq!(d.vol_get_path(&vol).await.unwrap(), "/default-pool/disk1");
    let info = d.vol_get_info(&vol).await.unwrap();
    assert_eq!((info.capacity, info.allocation), (10 << 30, 10 << 30));
    let pinfo = d.pool_get_info(&pool).await.unwrap();
    assert_eq!((pinfo.allocation, pinfo.available), (10 << 30, 90 << 30));
    assert_err(
        d.vol_create_xml(&pool, &volume_xml("disk1", 1, None), 0)
            .await,
        ErrorCode::OPERATION_FAILED,
        "operation failed: storage vol already exists",
    );
    assert_eq!(
        d.vol_create_xml(&pool, &volume_xml("huge", 200 << 30, None), 0)
            .await
            .unwrap_err()
            .code,
        ErrorCode::INTERNAL_ERROR
    );
    let sparse = d
        .vol_create_xml(&pool, &volume_xml("sparse", 50 << 30, Some(0)), 0)
        .await
        .unwrap();
    assert_eq!(
        d.vol_lookup_by_path("/default-pool/sparse").await.unwrap(),
        sparse
    );
    assert_eq!(
        d.vol_lookup_by_key("/default-pool/disk1").await.unwrap(),
        vol
    );
    assert_eq!(d.vol_lookup_by_name(&pool, "sparse").await.unwrap(), sparse);
    assert_eq!(d.pool_lookup_by_volume(&sparse).await.unwrap(), pool);
    let names: Vec<_> = d
        .pool_list_all_volumes(&pool, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["disk1", "sparse"]);
    let xml = d.vol_get_xml_desc(&vol, 0).await.unwrap();
    assert!(xml.contains("<path>/default-pool/disk1</path>"), "{xml}");

    assert_eq!(
        d.vol_resize(&vol, 1 << 30, 0).await.unwrap_err().code,
        ErrorCode::INVALID_ARG
    );
    d.vol_resize(&vol, 20 << 30, 0).await.unwrap();
    assert_eq!(d.vol_get_info(&vol).await.unwrap().capacity, 20 << 30);
    d.vol_resize(
        &vol,
        5 << 30,
        flags::VOL_RESIZE_DELTA | flags::VOL_RESIZE_ALLOCATE,
    )
    .await
    .unwrap();
    assert_eq!(d.vol_get_info(&vol).await.unwrap().allocation, 25 << 30);
    assert_eq!(d.pool_get_info(&pool).await.unwrap().allocation, 25 << 30);
    d.vol_delete(&vol, 0).await.unwrap();
    assert_eq!(d.pool_get_info(&pool).await.unwrap().allocation, 0);
    assert_eq!(
        d.vol_get_info(&vol).await.unwrap_err().code,
        ErrorCode::NO_STORAGE_VOL
    );

    // Lifecycle of a defined pool.
    let p = d.pool_define_xml(&pool_xml("p1", UUID_A), 0).await.unwrap();
    assert!(!d.pool_is_active(&p).await.unwrap());
    assert_eq!(
        d.pool_get_info(&p).await.unwrap().state,
        pool_state::INACTIVE
    );
    assert_err(
        d.pool_list_all_volumes(&p, 0).await,
        ErrorCode::OPERATION_INVALID,
        "Requested operation is not valid: storage pool is not active",
    );
    d.pool_build(&p, 0).await.unwrap();
    d.pool_create(&p, 0).await.unwrap();
    assert_eq!(
        d.pool_build(&p, 0).await.unwrap_err().code,
        ErrorCode::OPERATION_INVALID
    );
    assert_eq!(
        d.pool_create(&p, 0).await.unwrap_err().code,
        ErrorCode::OPERATION_INVALID
    );
    assert_eq!(
        d.pool_undefine(&p).await.unwrap_err().code,
        ErrorCode::OPERATION_INVALID
    );
    d.pool_refresh(&p, 0).await.unwrap();
    let v = d
        .vol_create_xml(&p, &volume_xml("a", 1 << 20, None), 0)
        .await
        .unwrap();
    assert_eq!(v.key, "/p/p1/a");
    d.pool_set_autostart(&p, true).await.unwrap();
    let names = |l: Vec<PoolRef>| l.into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(
        names(
            d.list_all_storage_pools(flags::LIST_POOLS_AUTOSTART)
                .await
                .unwrap()
        ),
        ["p1"]
    );
    assert_eq!(
        names(
            d.list_all_storage_pools(flags::LIST_POOLS_DIR)
                .await
                .unwrap()
        ),
        ["default-pool", "p1"]
    );
    assert!(d
        .list_all_storage_pools(flags::LIST_POOLS_DIR << 1)
        .await
        .unwrap()
        .is_empty());
    d.pool_destroy(&p).await.unwrap();
    assert_eq!(
        d.pool_destroy(&p).await.unwrap_err().code,
        ErrorCode::OPERATION_INVALID
    );
    assert_eq!(
        d.pool_refresh(&p, 0).await.unwrap_err().code,
        ErrorCode::OPERATION_INVALID
    );
    assert_eq!(
        names(
            d.list_all_storage_pools(flags::LIST_POOLS_INACTIVE)
                .await
                .unwrap()
        ),
        ["p1"]
    );
    d.pool_undefine(&p).await.unwrap();
    assert_eq!(
        d.pool_lookup_by_uuid(&p.uuid).await.unwrap_err().code,
        ErrorCode::NO_STORAGE_POOL
    );

    let t = d.pool_create_xml(&pool_xml("t", UUID_B), 0).await.unwrap();
    assert!(!d.pool_is_persistent(&t).await.unwrap());
    assert_eq!(
        d.pool_set_autostart(&t, true).await.unwrap_err().code,
        ErrorCode::INVALID_ARG
    );
    d.pool_destroy(&t).await.unwrap();
    assert_eq!(
        d.pool_lookup_by_name("t").await.unwrap_err().code,
        ErrorCode::NO_STORAGE_POOL
    );
}

#[tokio::test]
async fn test_domain_xml_matches_libvirtd_with_its_addresses_and_balloon() {
    let (_dir, d) = fresh().await;
    let test = d.domain_lookup_by_name("test").await.unwrap();
    let live = d.domain_get_xml_desc(&test, 0).await.unwrap();
    assert_eq!(live.trim_end(), golden("09-dumpxml.xml").trim_end());
    let inactive = d
        .domain_get_xml_desc(&test, flags::XML_INACTIVE)
        .await
        .unwrap();
    assert_eq!(
        inactive.trim_end(),
        golden("36-dumpxml-inactive.xml").trim_end()
    );
}

#[tokio::test]
async fn reset_and_nmi_reach_running_domains_only() {
    let (_dir, d) = fresh().await;
    let test = d.domain_lookup_by_name("test").await.unwrap();
    d.domain_reset(&test, 0).await.unwrap();
    d.domain_inject_nmi(&test, 0).await.unwrap();
    assert_eq!(
        d.domain_get_state(&test, 0).await.unwrap().0,
        DomainState::Running
    );
    assert_err(
        d.domain_reset(&test, 1).await,
        ErrorCode::INVALID_ARG,
        "unsupported flags (0x1) in function testDomainReset",
    );
    assert_err(
        d.domain_inject_nmi(&test, 4).await,
        ErrorCode::INVALID_ARG,
        "unsupported flags (0x4) in function testDomainInjectNMI",
    );
    let off = d
        .domain_define_xml(&domain_xml("off", UUID_A), 0)
        .await
        .unwrap();
    for result in [
        d.domain_reset(&off, 0).await,
        d.domain_inject_nmi(&off, 0).await,
    ] {
        assert_err(
            result,
            ErrorCode::OPERATION_INVALID,
            "Requested operation is not valid: domain is not running",
        );
    }
}

#[tokio::test]
async fn network_lifecycle_events_as_libvirts_test_driver_queues_them() {
    use crate::driver::network_event as ne;
    let (_dir, d) = fresh().await;
    let mut rx = d.network_event_subscribe().await.unwrap();
    let net = d
        .network_define_xml(&network_xml("evnet", UUID_A), 0)
        .await
        .unwrap();
    d.network_create(&net).await.unwrap();
    d.network_destroy(&net).await.unwrap();
    // Destroying an inactive network is accepted and queues nothing.
    d.network_destroy(&net).await.unwrap();
    d.network_undefine(&net).await.unwrap();
    let mut seen = Vec::new();
    while let Ok(e) = rx.try_recv() {
        assert_eq!(e.network.name, "evnet");
        seen.push(e.event);
    }
    assert_eq!(seen, [ne::DEFINED, ne::STARTED, ne::STOPPED, ne::UNDEFINED]);
}

#[tokio::test]
async fn pool_changes_send_lifecycle_and_refresh_events() {
    use crate::driver::{pool_event, PoolEventKind};
    let (_dir, d) = fresh().await;
    let mut rx = d.storage_pool_event_subscribe().await.unwrap();
    let pool = d
        .pool_define_xml(&pool_xml("evp", UUID_A), 0)
        .await
        .unwrap();
    d.pool_build(&pool, 0).await.unwrap();
    d.pool_create(&pool, 0).await.unwrap();
    assert_err(
        d.pool_delete(&pool, 0).await,
        ErrorCode::OPERATION_INVALID,
        "Requested operation is not valid: storage pool 'evp' is active",
    );
    d.pool_refresh(&pool, 0).await.unwrap();
    d.pool_destroy(&pool).await.unwrap();
    d.pool_delete(&pool, 0).await.unwrap();
    d.pool_undefine(&pool).await.unwrap();
    let mut seen = Vec::new();
    while let Ok(event) = rx.try_recv() {
        assert_eq!(event.pool.name, "evp");
        seen.push(event.kind);
    }
    let life = |event| PoolEventKind::Lifecycle { event, detail: 0 };
    assert_eq!(
        seen,
        [
            life(pool_event::DEFINED),
            life(pool_event::CREATED),
            life(pool_event::STARTED),
            PoolEventKind::Refresh,
            life(pool_event::STOPPED),
            life(pool_event::DELETED),
            life(pool_event::UNDEFINED),
        ]
    );
}

#[tokio::test]
async fn one_domains_summary_is_its_entry_of_all_summaries_and_follows_changes() {
    let (_dir, d) = fresh().await;
    let all = d
        .domain_summaries(&crate::driver::every_domain)
        .await
        .unwrap();
    let listed = all.iter().find(|s| s.dom.name == "test").unwrap();
    let one = d.domain_summary("test").await.unwrap();
    assert_eq!(one.dom, listed.dom);
    assert_eq!((one.state, one.reason), (listed.state, listed.reason));
    assert!(
        Arc::ptr_eq(&one.def, &listed.def),
        "the held definition, not a copy"
    );
    assert_eq!(one.version, listed.version);
    // Asked call by call (the remote driver's way), the same domain and definition.
    let by_calls = crate::driver::summary_by_calls(&*d, "test").await.unwrap();
    assert_eq!(by_calls.dom, one.dom);
    assert_eq!(by_calls.state, one.state);
    assert_eq!(by_calls.def.name, one.def.name);
    assert_eq!(by_calls.def.memory_kib, one.def.memory_kib);
    assert_eq!(by_calls.version, None);
    assert_err(
        d.domain_summary("nosuch").await,
        ErrorCode::NO_DOMAIN,
        "Domain not found",
    );
    // A change gives the domain a new version and the summary the new definition.
    d.domain_set_autostart(&one.dom, true).await.unwrap();
    d.domain_set_memory(&one.dom, 262_144, flags::AFFECT_LIVE)
        .await
        .unwrap();
    let after = d.domain_summary("test").await.unwrap();
    assert_ne!(after.version, one.version);
    assert_eq!(after.def.current_memory_kib, 262_144);
}

#[tokio::test]
async fn summaries_leave_out_the_domains_a_filter_refuses_whichever_way_they_are_asked() {
    let (_dir, d) = fresh().await;
    let xml = "<domain type='test'><name>bare</name><memory>8192</memory><os><type>hvm</type></os>\
               <devices><input type='tablet' bus='usb'/></devices></domain>";
    d.domain_define_xml(xml, 0).await.unwrap();
    let names = |summaries: Vec<DomainSummary>| -> Vec<String> {
        summaries.into_iter().map(|s| s.dom.name).collect()
    };
    let all = names(
        d.domain_summaries(&crate::driver::every_domain)
            .await
            .unwrap(),
    );
    assert_eq!(all, ["bare", "test"]);
    let with_inputs = |def: &DomainDef| !def.devices.inputs.is_empty();
    let in_memory = names(d.domain_summaries(&with_inputs).await.unwrap());
    let by_calls = names(
        crate::driver::summaries_by_calls(&*d, &with_inputs)
            .await
            .unwrap(),
    );
    assert_eq!(in_memory, ["bare"]);
    assert_eq!(by_calls, in_memory);
    let none = d.domain_summaries(&|_: &DomainDef| false).await.unwrap();
    assert!(none.is_empty());
}
