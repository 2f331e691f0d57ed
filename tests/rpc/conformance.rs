//! One conformance suite for the driver API, run against `test:///default` in process and through the remote
//! driver over a unix socket, TCP and TLS of an RPC server with its own state dir: every observation (values,
//! errors with code, domain and message, events) must be identical. It covers every object family: the
//! connection, domain lifecycle (with reset and NMI), lists, XML, tunables, statistics, snapshots, rename and
//! managed save, networks, storage, host interfaces, node devices and host facts. The lifecycle part also runs
//! against a stock libvirtd 9.0 serving its own test driver.

use std::fmt::Debug;
use std::time::Duration;

use virtcim::{
    connect, flags, prelude::*, ConnectOptions, DomainEvent, DomainRef, Result, TunableKind,
    TypedParam, TypedValue,
};

/// What a suite saw, line by line.
#[derive(Default)]
struct Transcript(Vec<String>);

impl Transcript {
    /// Records a result and hands back its value.
    fn rec<T: Debug>(&mut self, label: &str, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => {
                self.0.push(format!("{label}: ok {value:?}"));
                Some(value)
            }
            Err(err) => {
                self.0.push(format!(
                    "{label}: err code={} domain={} {}",
                    err.code.0, err.domain.0, err.message
                ));
                None
            }
        }
    }

    fn note(&mut self, line: String) {
        self.0.push(line);
    }
}

const DEMO_UUID: &str = "4a0b6fa2-65f1-4f3c-9b55-6fd0e8e1b0c1";

fn demo_xml(name: &str, uuid: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory unit='KiB'>131072</memory>\
         <currentMemory unit='KiB'>65536</currentMemory><vcpu>2</vcpu><os><type arch='i686'>hvm</type></os>\
         </domain>"
    )
}

fn names<T>(items: &Option<Vec<T>>, name: impl Fn(&T) -> &str) -> Vec<String> {
    items
        .iter()
        .flatten()
        .map(|item| name(item).to_string())
        .collect()
}

/// Waits for `count` lifecycle events (or a timeout) and records them.
async fn collect_events(
    t: &mut Transcript,
    events: &mut tokio::sync::broadcast::Receiver<DomainEvent>,
    count: usize,
) {
    for _ in 0..count {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(event)) => t.note(format!(
                "event {} {} {}",
                event.domain.name, event.event, event.detail
            )),
            other => {
                t.note(format!("event missing: {other:?}"));
                return;
            }
        }
    }
}

/// Records any event that arrives within a short quiet period: a target that sends more events than the others
/// shows up in the comparison.
async fn no_more_events(
    t: &mut Transcript,
    events: &mut tokio::sync::broadcast::Receiver<DomainEvent>,
) {
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await
    {
        t.note(format!(
            "event extra {} {} {}",
            event.domain.name, event.event, event.detail
        ));
    }
}

/// Metadata changes reach an event subscriber as metadata-change events (through the remote driver too, which
/// asks the server for that family besides lifecycle events).
async fn metadata_events(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    let dom = d.domain_lookup_by_name("test").await.expect("test");
    let mut events = d.domain_event_subscribe().await.expect("events");
    t.rec(
        "set description",
        d.domain_set_metadata(&dom, 0, Some("described"), None, None, 0)
            .await,
    );
    t.rec(
        "set element",
        d.domain_set_metadata(
            &dom,
            2,
            Some("<info kept='yes'/>"),
            Some("app"),
            Some("http://example.org/app"),
            0,
        )
        .await,
    );
    for kind in [0, 2] {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(event)) => {
                assert_eq!(
                    event.metadata.as_ref().map(|m| m.kind),
                    Some(kind),
                    "{event:?}"
                );
                t.note(format!(
                    "event {} {} {} {:?}",
                    event.domain.name, event.event, event.detail, event.metadata
                ))
            }
            other => panic!("no metadata-change event of kind {kind}: {other:?}"),
        }
    }
    no_more_events(&mut t, &mut events).await;
    t.rec(
        "clear element",
        d.domain_set_metadata(&dom, 2, None, None, Some("http://example.org/app"), 0)
            .await,
    );
    t
}

// ---------------------------------------------------------------------------------------------------------------
// The suite parts. Each asserts what must hold and records what it saw for the cross-target comparison.

async fn connection(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    assert_eq!(t.rec("type", d.get_type().await).as_deref(), Some("TEST"));
    t.rec("version", d.get_version().await);
    t.rec("lib version", d.get_lib_version().await);
    let host = t
        .rec("hostname", d.get_hostname().await)
        .unwrap_or_default();
    assert!(!host.is_empty());
    let node = t
        .rec("nodeinfo", d.node_get_info().await)
        .expect("node info");
    assert_eq!(node.cpus, 16);
    let caps = t
        .rec("capabilities", d.get_capabilities().await)
        .unwrap_or_default();
    assert!(caps.contains("<capabilities>"), "{caps}");
    t.rec("security model", d.node_get_security_model().await);
    t
}

async fn lifecycle(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    let all = t.rec("list all", d.list_all_domains(0).await);
    assert_eq!(names(&all, |d| &d.name), ["test"]);
    let mut events = d.domain_event_subscribe().await.expect("events");

    let dom = t
        .rec(
            "define",
            d.domain_define_xml(&demo_xml("demo", DEMO_UUID), 0).await,
        )
        .expect("define");
    assert_eq!((dom.name.as_str(), dom.id), ("demo", -1));
    assert_eq!(dom.uuid.to_string(), DEMO_UUID);
    t.rec("lookup name", d.domain_lookup_by_name("demo").await);
    t.rec("lookup uuid", d.domain_lookup_by_uuid(&dom.uuid).await);
    t.rec("state before start", d.domain_get_state(&dom, 0).await);
    t.rec("active before start", d.domain_is_active(&dom).await);
    t.rec("persistent", d.domain_is_persistent(&dom).await);

    let running = t
        .rec("start", d.domain_create(&dom, 0).await)
        .expect("start");
    assert!(running.id > 0, "started domain has an id: {running:?}");
    let info = d.domain_get_info(&running).await.expect("info");
    t.note(format!(
        "info state={:?} max={} mem={} vcpus={}",
        info.state, info.max_mem_kib, info.memory_kib, info.nr_virt_cpu
    ));
    assert_eq!(info.max_mem_kib, 131072);
    t.rec("lookup id", d.domain_lookup_by_id(running.id).await);
    t.rec("start again", d.domain_create(&running, 0).await);
    // DOMAIN_RESET and DOMAIN_INJECT_NMI: a running guest takes either at once, with no lifecycle event; flags
    // must be 0. (libvirt 9.0's own test driver implements both, so stock libvirtd shares these lines.)
    assert!(t.rec("reset", d.domain_reset(&running, 0).await).is_some());
    let err = t.rec("reset flags", d.domain_reset(&running, 1).await);
    assert!(err.is_none());
    assert!(t
        .rec("nmi", d.domain_inject_nmi(&running, 0).await)
        .is_some());
    let err = t.rec("nmi flags", d.domain_inject_nmi(&running, 1).await);
    assert!(err.is_none());
    t.rec("suspend", d.domain_suspend(&running).await);
    let state = t.rec("state paused", d.domain_get_state(&running, 0).await);
    assert_eq!(state.map(|s| s.0), Some(virtcim::DomainState::Paused));
    t.rec("reset paused", d.domain_reset(&running, 0).await);
    t.rec("nmi paused", d.domain_inject_nmi(&running, 0).await);
    t.rec("suspend again", d.domain_suspend(&running).await);
    t.rec("resume", d.domain_resume(&running).await);
    t.rec("state running", d.domain_get_state(&running, 0).await);
    t.rec("shutdown", d.domain_shutdown(&running, 0).await);
    let state = t.rec("state after shutdown", d.domain_get_state(&dom, 0).await);
    assert_eq!(state.map(|s| s.0), Some(virtcim::DomainState::Shutoff));
    t.rec("shutdown stopped", d.domain_shutdown(&dom, 0).await);
    for (label, result) in [
        ("reset stopped", d.domain_reset(&dom, 0).await),
        ("nmi stopped", d.domain_inject_nmi(&dom, 0).await),
    ] {
        assert!(t.rec(label, result).is_none());
        assert!(
            t.0.last()
                .is_some_and(|line| line.ends_with("domain is not running")),
            "{:?}",
            t.0.last()
        );
    }
    let running = t
        .rec("start 2", d.domain_create(&dom, 0).await)
        .expect("start 2");
    t.rec("destroy", d.domain_destroy(&running, 0).await);
    t.rec("state after destroy", d.domain_get_state(&dom, 0).await);
    t.rec("undefine", d.domain_undefine(&dom, 0).await);
    t.rec("lookup gone", d.domain_lookup_by_name("demo").await);
    t.rec("lookup nosuch", d.domain_lookup_by_name("nosuch").await);
    t.rec("lookup id 9999", d.domain_lookup_by_id(9999).await);
    t.rec(
        "define bad xml",
        d.domain_define_xml("<domain type='test'><name>x", 0).await,
    );
    collect_events(&mut t, &mut events, 9).await;
    t
}

async fn lists(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    let a = d
        .domain_define_xml(
            &demo_xml("alpha", "11111111-2222-3333-4444-555555555555"),
            0,
        )
        .await
        .expect("alpha");
    let b = d
        .domain_define_xml(&demo_xml("beta", "11111111-2222-3333-4444-666666666666"), 0)
        .await
        .expect("beta");
    let b = d.domain_create(&b, 0).await.expect("start beta");
    d.domain_suspend(&b).await.expect("pause beta");
    use flags::*;
    for (label, flag) in [
        ("none", 0),
        ("active", LIST_DOMAINS_ACTIVE),
        ("inactive", LIST_DOMAINS_INACTIVE),
        ("both", LIST_DOMAINS_ACTIVE | LIST_DOMAINS_INACTIVE),
        ("persistent", LIST_DOMAINS_PERSISTENT),
        ("transient", LIST_DOMAINS_TRANSIENT),
        ("running", LIST_DOMAINS_RUNNING),
        ("paused", LIST_DOMAINS_PAUSED),
        ("shutoff", LIST_DOMAINS_SHUTOFF),
    ] {
        let listed = d.list_all_domains(flag).await;
        let mut seen = names(&listed.map(Some).unwrap_or(None), |d| &d.name);
        seen.sort();
        t.note(format!("domains {label}: {seen:?}"));
    }
    d.domain_destroy(&b, 0).await.expect("destroy beta");
    d.domain_undefine(&a, 0).await.expect("undefine alpha");
    d.domain_undefine(&b, 0).await.expect("undefine beta");
    t.rec("after cleanup", d.list_all_domains(0).await);
    t
}

async fn xml(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    let dom = d.domain_lookup_by_name("test").await.expect("test");
    let live = t
        .rec("xml", d.domain_get_xml_desc(&dom, 0).await)
        .expect("xml");
    assert!(live.contains("<name>test</name>"));
    t.rec(
        "xml inactive",
        d.domain_get_xml_desc(&dom, flags::XML_INACTIVE).await,
    );
    t.rec("os type", d.domain_get_os_type(&dom).await);
    t.rec("autostart", d.domain_get_autostart(&dom).await);
    t.rec("max memory", d.domain_get_max_memory(&dom).await);
    t.rec("vcpus", d.domain_get_vcpus(&dom, 0).await);
    t.rec(
        "managed save",
        d.domain_has_managed_save_image(&dom, 0).await,
    );
    t.rec("security label", d.domain_get_security_label(&dom).await);
    let demo = d
        .domain_define_xml(&demo_xml("xmldemo", DEMO_UUID), 0)
        .await
        .expect("define");
    t.rec("defined xml", d.domain_get_xml_desc(&demo, 0).await);
    t.rec("set autostart", d.domain_set_autostart(&demo, true).await);
    t.rec("autostart after", d.domain_get_autostart(&demo).await);
    t.rec("undefine", d.domain_undefine(&demo, 0).await);
    t
}

async fn networks(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    for (label, flag) in [
        ("all", 0),
        ("active", flags::LIST_NETWORKS_ACTIVE),
        ("inactive", flags::LIST_NETWORKS_INACTIVE),
    ] {
        t.rec(label, d.list_all_networks(flag).await);
    }
    let net = t
        .rec("lookup", d.network_lookup_by_name("default").await)
        .expect("default network");
    t.rec("lookup uuid", d.network_lookup_by_uuid(&net.uuid).await);
    t.rec("xml", d.network_get_xml_desc(&net, 0).await);
    t.rec("bridge", d.network_get_bridge_name(&net).await);
    t.rec("autostart", d.network_get_autostart(&net).await);
    t.rec("active", d.network_is_active(&net).await);
    t.rec("persistent", d.network_is_persistent(&net).await);
    t.rec("lookup nosuch", d.network_lookup_by_name("nosuch").await);
    let xml = "<network><name>extra</name><uuid>0b8cbd9c-7e4c-4c5f-9a55-1f0d8b6f7a01</uuid>\
               <bridge name='virbr9'/><ip address='192.168.199.1' netmask='255.255.255.0'/></network>";
    let extra = t.rec("define", d.network_define_xml(xml, 0).await);
    if let Some(extra) = extra {
        t.rec("start", d.network_create(&extra).await);
        t.rec("active after start", d.network_is_active(&extra).await);
        t.rec("destroy", d.network_destroy(&extra).await);
        t.rec("undefine", d.network_undefine(&extra).await);
    }
    t.rec("all after", d.list_all_networks(0).await);
    t
}

async fn storage(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    t.rec("pools", d.list_all_storage_pools(0).await);
    let pool = t
        .rec("lookup", d.pool_lookup_by_name("default-pool").await)
        .expect("default-pool");
    t.rec("info", d.pool_get_info(&pool).await);
    t.rec("xml", d.pool_get_xml_desc(&pool, 0).await);
    t.rec("autostart", d.pool_get_autostart(&pool).await);
    t.rec("active", d.pool_is_active(&pool).await);
    t.rec("persistent", d.pool_is_persistent(&pool).await);
    t.rec("volumes", d.pool_list_all_volumes(&pool, 0).await);
    t.rec("lookup nosuch", d.pool_lookup_by_name("nosuch").await);
    let vol_xml = "<volume><name>disk1.img</name><capacity unit='MiB'>10</capacity>\
                   <allocation unit='MiB'>1</allocation></volume>";
    let vol = t.rec("vol create", d.vol_create_xml(&pool, vol_xml, 0).await);
    if let Some(vol) = vol {
        t.rec("vol lookup", d.vol_lookup_by_name(&pool, "disk1.img").await);
        t.rec("vol by key", d.vol_lookup_by_key(&vol.key).await);
        let path = t.rec("vol path", d.vol_get_path(&vol).await);
        if let Some(path) = path {
            t.rec("vol by path", d.vol_lookup_by_path(&path).await);
        }
        t.rec("vol info", d.vol_get_info(&vol).await);
        t.rec("vol xml", d.vol_get_xml_desc(&vol, 0).await);
        t.rec("pool of vol", d.pool_lookup_by_volume(&vol).await);
        t.rec("volumes with one", d.pool_list_all_volumes(&pool, 0).await);
        t.rec("vol delete", d.vol_delete(&vol, 0).await);
    }
    t.rec("vol nosuch", d.vol_lookup_by_name(&pool, "nosuch").await);
    t
}

async fn read_only(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    let dom = t
        .rec("lookup", d.domain_lookup_by_name("test").await)
        .expect("test");
    t.rec("list", d.list_all_domains(0).await);
    t.rec("suspend", d.domain_suspend(&dom).await);
    t.rec(
        "define",
        d.domain_define_xml(&demo_xml("ro", DEMO_UUID), 0).await,
    );
    t.rec("state", d.domain_get_state(&dom, 0).await);
    t
}

// ---------------------------------------------------------------------------------------------------------------
// The object families added to the suite: tunables, statistics, snapshots, rename and managed save, host
// interfaces with node devices and host facts, and NMI and reset beyond the lifecycle part.

/// A stopped, persistent domain with a disk and a NIC, so that per-disk and per-NIC calls have something to name.
fn devices_xml(name: &str, uuid: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory unit='KiB'>131072</memory>\
         <currentMemory unit='KiB'>65536</currentMemory><vcpu>2</vcpu><os><type arch='i686'>hvm</type></os>\
         <devices><disk type='file' device='disk'><source file='/guest/{name}.img'/>\
         <target dev='vda' bus='virtio'/></disk><interface type='network'><mac address='52:54:00:0a:0b:0c'/>\
         <source network='default'/></interface></devices></domain>"
    )
}

const TUNED_UUID: &str = "0c3b2a19-8d7e-4f6a-9b1c-2d3e4f5a6b7c";

fn param(field: &str, value: TypedValue) -> TypedParam {
    TypedParam {
        field: field.into(),
        value,
    }
}

/// Whether the last recorded line is an error whose message ends with `tail`.
fn last_err_ends_with(t: &Transcript, tail: &str) -> bool {
    t.0.last()
        .is_some_and(|line| line.contains(": err code=") && line.ends_with(tail))
}

/// Every tunables family read with `flags`. With `counts`, each read is preceded by a count query (`nparams`
/// 0), of which only the length is part of the API (its values are placeholders) and so of the transcript.
async fn read_tunables(
    t: &mut Transcript,
    d: &Connection,
    dom: &DomainRef,
    label: &str,
    flags: u32,
    counts: bool,
) {
    for kind in [
        TunableKind::Memory,
        TunableKind::Blkio,
        TunableKind::Numa,
        TunableKind::Perf,
    ] {
        let count = if counts {
            t.rec(
                &format!("{label} {kind:?} count flags={flags}"),
                d.domain_get_tunables(dom, kind, 0, flags)
                    .await
                    .map(|params| params.len()),
            )
        } else {
            None
        };
        let values = t.rec(
            &format!("{label} {kind:?} flags={flags}"),
            d.domain_get_tunables(dom, kind, 64, flags).await,
        );
        if let (Some(count), Some(values)) = (count, values) {
            assert_eq!(count, values.len(), "{label} {kind:?}: count and values");
        }
    }
    t.rec(
        &format!("{label} scheduler flags={flags}"),
        d.domain_get_scheduler_parameters(dom, flags).await,
    );
    t.rec(
        &format!("{label} vcpu pins flags={flags}"),
        d.domain_get_vcpu_pin_info(dom, 4, 1, flags).await,
    );
    t.rec(
        &format!("{label} emulator pin flags={flags}"),
        d.domain_get_emulator_pin_info(dom, 1, flags).await,
    );
    if counts {
        t.rec(
            &format!("{label} iotune count flags={flags}"),
            d.domain_get_block_io_tune(dom, Some("vda".into()), 0, flags)
                .await
                .map(|params| params.len()),
        );
    }
    t.rec(
        &format!("{label} iotune flags={flags}"),
        d.domain_get_block_io_tune(dom, Some("vda".into()), 32, flags)
            .await,
    );
}

async fn tunables(d: Connection) -> Transcript {
    use flags::{AFFECT_CONFIG, AFFECT_LIVE};
    let mut t = Transcript::default();
    let dom = d.domain_lookup_by_name("test").await.expect("test");

    // The running domain: every family from either definition, and both at once (refused).
    for flags in [0, AFFECT_LIVE, AFFECT_CONFIG] {
        read_tunables(&mut t, &d, &dom, "test", flags, true).await;
    }
    t.rec(
        "memtune live+config",
        d.domain_get_tunables(&dom, TunableKind::Memory, 64, AFFECT_LIVE | AFFECT_CONFIG)
            .await,
    );
    assert!(last_err_ends_with(&t, "are mutually exclusive"));
    t.rec("scheduler type", d.domain_get_scheduler_type(&dom).await);

    // memtune: set, the limits' order checked, a wrongly typed value refused.
    let set = |kind, params: Vec<TypedParam>, flags| {
        let (d, dom) = (d.clone(), dom.clone());
        async move { d.domain_set_tunables(&dom, kind, params, flags).await }
    };
    let mem = TunableKind::Memory;
    let ok = t.rec(
        "memtune set",
        set(
            mem,
            vec![
                param("hard_limit", TypedValue::ULLong(1_000_000)),
                param("soft_limit", TypedValue::ULLong(500_000)),
            ],
            0,
        )
        .await,
    );
    assert!(ok.is_some());
    t.rec(
        "memtune swap below hard",
        set(
            mem,
            vec![param("swap_hard_limit", TypedValue::ULLong(50))],
            0,
        )
        .await,
    );
    t.rec(
        "memtune config",
        set(
            mem,
            vec![param("swap_hard_limit", TypedValue::ULLong(2_000_000))],
            AFFECT_CONFIG,
        )
        .await,
    );
    t.rec(
        "memtune wrong type",
        set(mem, vec![param("soft_limit", TypedValue::UInt(1))], 0).await,
    );
    assert!(
        last_err_ends_with(&t, "expected 'ullong'"),
        "{:?}",
        t.0.last()
    );
    t.rec(
        "memtune unknown field",
        set(mem, vec![param("nosuch", TypedValue::ULLong(1))], 0).await,
    );
    let values = t.rec(
        "memtune after",
        d.domain_get_tunables(&dom, mem, 64, 0).await,
    );
    assert!(values
        .unwrap_or_default()
        .contains(&param("hard_limit", TypedValue::ULLong(1_000_000))));

    // blkiotune: the weight and string-typed per-device lists.
    let blkio = TunableKind::Blkio;
    t.rec(
        "blkiotune set",
        set(
            blkio,
            vec![
                param("weight", TypedValue::UInt(500)),
                param("device_weight", TypedValue::String("/dev/sda,300".into())),
                param(
                    "device_read_bytes_sec",
                    TypedValue::String("/dev/vda,4096".into()),
                ),
            ],
            0,
        )
        .await,
    );
    t.rec(
        "blkiotune bad device list",
        set(
            blkio,
            vec![param(
                "device_weight",
                TypedValue::String("/dev/sda".into()),
            )],
            0,
        )
        .await,
    );
    t.rec(
        "blkiotune config",
        set(
            blkio,
            vec![param("weight", TypedValue::UInt(300))],
            AFFECT_CONFIG,
        )
        .await,
    );
    let values = t.rec(
        "blkiotune after",
        d.domain_get_tunables(&dom, blkio, 64, 0).await,
    );
    assert!(values
        .unwrap_or_default()
        .contains(&param("weight", TypedValue::UInt(500))));

    // numatune: a running domain takes a nodeset but not a new mode.
    let numa = TunableKind::Numa;
    t.rec(
        "numatune nodeset",
        set(
            numa,
            vec![param("numa_nodeset", TypedValue::String("0-1".into()))],
            0,
        )
        .await,
    );
    t.rec(
        "numatune mode live",
        set(numa, vec![param("numa_mode", TypedValue::Int(2))], 0).await,
    );
    t.rec(
        "numatune bad nodeset",
        set(
            numa,
            vec![param("numa_nodeset", TypedValue::String("5-3".into()))],
            0,
        )
        .await,
    );
    t.rec(
        "numatune config",
        set(
            numa,
            vec![
                param("numa_mode", TypedValue::Int(1)),
                param("numa_nodeset", TypedValue::String("1".into())),
            ],
            AFFECT_CONFIG,
        )
        .await,
    );
    t.rec(
        "numatune after",
        d.domain_get_tunables(&dom, numa, 64, 0).await,
    );
    t.rec(
        "numatune after config",
        d.domain_get_tunables(&dom, numa, 64, AFFECT_CONFIG).await,
    );

    // The scheduler's parameters are checked and then ignored, as libvirt's test driver does.
    let sched = TunableKind::Scheduler;
    t.rec(
        "scheduler set",
        set(sched, vec![param("weight", TypedValue::UInt(77))], 0).await,
    );
    t.rec(
        "scheduler unknown",
        set(sched, vec![param("foo", TypedValue::UInt(1))], 0).await,
    );
    t.rec(
        "scheduler after",
        d.domain_get_scheduler_parameters(&dom, 0).await,
    );

    // perf: boolean events.
    let perf = TunableKind::Perf;
    t.rec(
        "perf enable",
        set(
            perf,
            vec![
                param("cmt", TypedValue::Boolean(true)),
                param("cpu_cycles", TypedValue::Boolean(true)),
            ],
            0,
        )
        .await,
    );
    t.rec(
        "perf config",
        set(
            perf,
            vec![param("page_faults", TypedValue::Boolean(true))],
            AFFECT_CONFIG,
        )
        .await,
    );
    t.rec(
        "perf unknown",
        set(perf, vec![param("foo", TypedValue::Boolean(true))], 0).await,
    );
    t.rec("perf after", d.domain_get_tunables(&dom, perf, 64, 0).await);
    t.rec(
        "perf after config",
        d.domain_get_tunables(&dom, perf, 64, AFFECT_CONFIG).await,
    );

    // vCPU and emulator pinning.
    // A map naming host CPU 99 (of 16) is taken as given: libvirt's test driver checks no host CPU either.
    t.rec(
        "vcpupin beyond the host's cpus",
        d.domain_pin_vcpu(&dom, 1, vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8], 0)
            .await,
    );
    t.rec(
        "vcpu pins beyond",
        d.domain_get_vcpu_pin_info(&dom, 2, 13, 0).await,
    );
    t.rec(
        "vcpupin",
        d.domain_pin_vcpu(&dom, 1, vec![0b0000_0110], 0).await,
    );
    t.rec(
        "vcpupin no such vcpu",
        d.domain_pin_vcpu(&dom, 5, vec![1], 0).await,
    );
    t.rec(
        "vcpupin config",
        d.domain_pin_vcpu(&dom, 0, vec![0b10], AFFECT_CONFIG).await,
    );
    let pins = t.rec(
        "vcpu pins after",
        d.domain_get_vcpu_pin_info(&dom, 2, 1, 0).await,
    );
    assert_eq!(pins, Some((2, vec![0xff, 0b0000_0110])));
    t.rec(
        "vcpu pins after config",
        d.domain_get_vcpu_pin_info(&dom, 2, 1, AFFECT_CONFIG).await,
    );
    t.rec(
        "vcpu info",
        d.domain_get_vcpu_info(&dom, 4, 1)
            .await
            .map(|(infos, maps)| {
                // cpu_time_ns follows the wall clock: only the rest compares.
                let infos: Vec<_> = infos.iter().map(|i| (i.number, i.state, i.cpu)).collect();
                (infos, maps)
            }),
    );
    t.rec(
        "emulatorpin",
        d.domain_pin_emulator(&dom, vec![0b1000_0001], 0).await,
    );
    t.rec(
        "emulatorpin empty",
        d.domain_pin_emulator(&dom, vec![0], 0).await,
    );
    t.rec(
        "emulatorpin config",
        d.domain_pin_emulator(&dom, vec![0b0110], AFFECT_CONFIG)
            .await,
    );
    let pin = t.rec(
        "emulator pin after",
        d.domain_get_emulator_pin_info(&dom, 1, 0).await,
    );
    assert_eq!(pin, Some(vec![0b1000_0001]));
    t.rec(
        "emulator pin after config",
        d.domain_get_emulator_pin_info(&dom, 1, AFFECT_CONFIG).await,
    );

    // Block I/O throttling of a disk, with libvirt's consistency checks.
    let iotune = |disk: &str, params: Vec<TypedParam>, flags| {
        let (d, dom, disk) = (d.clone(), dom.clone(), disk.to_string());
        async move { d.domain_set_block_io_tune(&dom, disk, params, flags).await }
    };
    let ok = t.rec(
        "iotune set",
        iotune(
            "vda",
            vec![
                param("total_bytes_sec", TypedValue::ULLong(1000)),
                param("total_bytes_sec_max", TypedValue::ULLong(2000)),
                param("group_name", TypedValue::String("grp".into())),
                param("read_iops_sec", TypedValue::ULLong(5)),
                param("read_iops_sec_max", TypedValue::ULLong(9)),
                param("size_iops_sec", TypedValue::ULLong(3)),
            ],
            0,
        )
        .await,
    );
    assert!(ok.is_some(), "{:?}", t.0.last());
    t.rec(
        "iotune total and read",
        iotune(
            "vda",
            vec![
                param("read_bytes_sec", TypedValue::ULLong(5)),
                param("total_bytes_sec", TypedValue::ULLong(6)),
            ],
            0,
        )
        .await,
    );
    t.rec(
        "iotune rate above its max",
        iotune(
            "vda",
            vec![param("read_iops_sec", TypedValue::ULLong(50))],
            0,
        )
        .await,
    );
    t.rec(
        "iotune no such disk",
        iotune(
            "vdb",
            vec![param("total_bytes_sec", TypedValue::ULLong(1))],
            0,
        )
        .await,
    );
    t.rec(
        "iotune config",
        iotune(
            "vda",
            vec![param("write_bytes_sec_max", TypedValue::ULLong(10))],
            AFFECT_CONFIG,
        )
        .await,
    );
    t.rec(
        "iotune after",
        d.domain_get_block_io_tune(&dom, Some("vda".into()), 32, 0)
            .await,
    );
    t.rec(
        "iotune by source",
        d.domain_get_block_io_tune(&dom, Some("/guest/diskimage1".into()), 32, AFFECT_CONFIG)
            .await,
    );
    t.rec(
        "iotune without disk",
        d.domain_get_block_io_tune(&dom, None, 32, 0).await,
    );

    // The guest clock libvirt's test driver fakes, settable while active.
    let time = t.rec("time", d.domain_get_time(&dom, 0).await);
    assert_eq!(time, Some((627_319_920, 0)));
    t.rec("set time", d.domain_set_time(&dom, -7, 9, 0).await);
    assert_eq!(
        t.rec("time after", d.domain_get_time(&dom, 0).await),
        Some((-7, 9))
    );
    t.rec(
        "sync time",
        d.domain_set_time(&dom, 0, 0, flags::TIME_SYNC).await,
    );
    t.rec("time after sync", d.domain_get_time(&dom, 0).await);
    t.rec("time flags", d.domain_get_time(&dom, 1).await);

    // Everything set shows in the definitions.
    t.rec("xml live", d.domain_get_xml_desc(&dom, 0).await);
    t.rec(
        "xml inactive",
        d.domain_get_xml_desc(&dom, flags::XML_INACTIVE).await,
    );

    // A defined, inactive domain: reads and changes go to its persistent definition; live ones are refused.
    let tuned = d
        .domain_define_xml(&devices_xml("tuned", TUNED_UUID), 0)
        .await
        .expect("define tuned");
    for flags in [0, AFFECT_LIVE, AFFECT_CONFIG] {
        // A count query answers without looking at the domain (libvirt's test driver does the same), so a live
        // count of an inactive domain succeeds in process. Through the remote driver the memory, blkio and NUMA
        // counts do too (`count_queries_look_at_no_domain_through_the_remote_driver`), but DOMAIN_GET_PERF_EVENTS
        // has no count mode on the wire: a remote perf count is a full read, refused live on an inactive domain.
        // Live counts are left out here for that reason.
        read_tunables(&mut t, &d, &tuned, "tuned", flags, flags & AFFECT_LIVE == 0).await;
    }
    let set = |kind, params: Vec<TypedParam>, flags| {
        let (d, dom) = (d.clone(), tuned.clone());
        async move { d.domain_set_tunables(&dom, kind, params, flags).await }
    };
    t.rec(
        "tuned memtune live",
        set(
            mem,
            vec![param("hard_limit", TypedValue::ULLong(9000))],
            AFFECT_LIVE,
        )
        .await,
    );
    assert!(
        last_err_ends_with(&t, "domain is not running"),
        "{:?}",
        t.0.last()
    );
    t.rec(
        "tuned memtune",
        set(mem, vec![param("hard_limit", TypedValue::ULLong(9000))], 0).await,
    );
    t.rec(
        "tuned blkiotune",
        set(blkio, vec![param("weight", TypedValue::UInt(10))], 0).await,
    );
    t.rec(
        "tuned numatune mode",
        set(numa, vec![param("numa_mode", TypedValue::Int(2))], 0).await,
    );
    t.rec(
        "tuned numatune",
        set(
            numa,
            vec![
                param("numa_mode", TypedValue::Int(2)),
                param("numa_nodeset", TypedValue::String("0".into())),
            ],
            0,
        )
        .await,
    );
    t.rec(
        "tuned perf",
        set(perf, vec![param("cmt", TypedValue::Boolean(true))], 0).await,
    );
    t.rec(
        "tuned scheduler",
        set(sched, vec![param("weight", TypedValue::UInt(5))], 0).await,
    );
    t.rec(
        "tuned vcpupin",
        d.domain_pin_vcpu(&tuned, 1, vec![0b1], 0).await,
    );
    t.rec(
        "tuned vcpupin live",
        d.domain_pin_vcpu(&tuned, 1, vec![0b1], AFFECT_LIVE).await,
    );
    t.rec(
        "tuned emulatorpin",
        d.domain_pin_emulator(&tuned, vec![0b100], 0).await,
    );
    t.rec(
        "tuned iotune",
        d.domain_set_block_io_tune(
            &tuned,
            "vda".into(),
            vec![
                param("read_iops_sec", TypedValue::ULLong(3)),
                param("read_iops_sec_max", TypedValue::ULLong(4)),
            ],
            0,
        )
        .await,
    );
    t.rec("tuned time", d.domain_get_time(&tuned, 0).await);
    assert!(
        last_err_ends_with(&t, "domain is not running"),
        "{:?}",
        t.0.last()
    );
    t.rec("tuned set time", d.domain_set_time(&tuned, 5, 0, 0).await);
    t.rec(
        "tuned vcpu info",
        d.domain_get_vcpu_info(&tuned, 4, 1)
            .await
            .map(|(i, m)| (i.len(), m)),
    );
    for flags in [0, AFFECT_CONFIG] {
        read_tunables(&mut t, &d, &tuned, "tuned after", flags, true).await;
    }
    t.rec("tuned xml", d.domain_get_xml_desc(&tuned, 0).await);
    t.rec("tuned undefine", d.domain_undefine(&tuned, 0).await);
    t.rec(
        "nosuch memtune",
        d.domain_get_tunables(&tuned, mem, 64, 0).await,
    );
    t
}

/// `VIR_DOMAIN_STATS_*` groups and `VIR_CONNECT_GET_ALL_DOMAINS_STATS_*` flags.
mod stats {
    pub const STATE: u32 = 1 << 0;
    pub const CPU_TOTAL: u32 = 1 << 1;
    pub const BALLOON: u32 = 1 << 2;
    pub const VCPU: u32 = 1 << 3;
    pub const INTERFACE: u32 = 1 << 4;
    pub const BLOCK: u32 = 1 << 5;
    pub const ACTIVE: u32 = 1 << 0;
    pub const INACTIVE: u32 = 1 << 1;
    pub const PERSISTENT: u32 = 1 << 2;
    pub const TRANSIENT: u32 = 1 << 3;
    pub const RUNNING: u32 = 1 << 4;
    pub const PAUSED: u32 = 1 << 5;
    pub const SHUTOFF: u32 = 1 << 6;
    pub const NOWAIT: u32 = 1 << 29;
    pub const BACKING: u32 = 1 << 30;
    pub const ENFORCE: u32 = 1 << 31;
}

/// Two reads of a clock-derived counter set: the transcript keeps only whether each read succeeded and whether
/// no counter went down between them.
fn counters_grow<T: Debug>(
    t: &mut Transcript,
    label: &str,
    first: Result<T>,
    second: Result<T>,
    fields: impl Fn(&T) -> Vec<i64>,
) {
    match (first, second) {
        (Ok(a), Ok(b)) => {
            let (a, b) = (fields(&a), fields(&b));
            let grow = a.iter().zip(&b).all(|(x, y)| x <= y);
            assert!(grow, "{label}: {a:?} then {b:?}");
            t.note(format!("{label}: ok {} counters, non-decreasing", a.len()));
        }
        (first, second) => {
            t.rec(label, first);
            t.rec(label, second);
        }
    }
}

async fn statistics(d: Connection) -> Transcript {
    use stats::*;
    let mut t = Transcript::default();
    let dom = d.domain_lookup_by_name("test").await.expect("test");
    let idle = d
        .domain_define_xml(&devices_xml("idle", TUNED_UUID), 0)
        .await
        .expect("define idle");

    // Bulk statistics: groups, domain filters and their refusals.
    for (label, groups, flags) in [
        ("all", 0, 0),
        ("state", STATE, 0),
        ("cpu", CPU_TOTAL, 0),
        (
            "many",
            STATE | CPU_TOTAL | BALLOON | VCPU | INTERFACE | BLOCK,
            0,
        ),
        ("active", 0, ACTIVE),
        ("inactive", STATE, INACTIVE),
        ("running", STATE, RUNNING),
        ("paused", STATE, PAUSED),
        ("shutoff", STATE, SHUTOFF),
        ("persistent+transient", 0, PERSISTENT | TRANSIENT),
        ("transient", 0, TRANSIENT),
        ("enforce state", STATE, ENFORCE),
        ("enforce cpu", CPU_TOTAL, ENFORCE),
        ("enforce vcpu+balloon", VCPU | BALLOON, ENFORCE),
        ("block backing nowait", BLOCK, BACKING | NOWAIT),
        ("bad flag", STATE, 1 << 20),
    ] {
        t.rec(
            &format!("stats {label}"),
            d.connect_get_all_domain_stats(&[], groups, flags).await,
        );
    }
    let listed = t.rec(
        "stats of test",
        d.connect_get_all_domain_stats(std::slice::from_ref(&dom), STATE, 0)
            .await,
    );
    assert_eq!(listed.map(|records| records.len()), Some(1));
    t.rec(
        "stats of both",
        d.connect_get_all_domain_stats(&[idle.clone(), dom.clone()], 0, 0)
            .await,
    );

    // Clock-derived counters: only that they are there and do not go down.
    for disk in ["vda", "/guest/diskimage1"] {
        let first = d.domain_block_stats(&dom, disk).await;
        let second = d.domain_block_stats(&dom, disk).await;
        counters_grow(&mut t, &format!("block stats {disk}"), first, second, |s| {
            vec![s.rd_req, s.rd_bytes, s.wr_req, s.wr_bytes, s.errs]
        });
    }
    for device in ["testnet0", "aa:bb:cc:dd:ee:ff", "AA:BB:CC:DD:EE:FF"] {
        let first = d.domain_interface_stats(&dom, device).await;
        let second = d.domain_interface_stats(&dom, device).await;
        counters_grow(
            &mut t,
            &format!("interface stats {device}"),
            first,
            second,
            |s| {
                vec![
                    s.rx_bytes,
                    s.rx_packets,
                    s.rx_errs,
                    s.rx_drop,
                    s.tx_bytes,
                    s.tx_packets,
                    s.tx_errs,
                    s.tx_drop,
                ]
            },
        );
    }
    t.rec("block stats vdb", d.domain_block_stats(&dom, "vdb").await);
    t.rec("block stats empty", d.domain_block_stats(&dom, "").await);
    t.rec(
        "block stats flags",
        d.domain_block_stats_flags(&dom, "vda", 0).await,
    );
    t.rec(
        "interface stats vnet0",
        d.domain_interface_stats(&dom, "vnet0").await,
    );

    // Fixed values.
    for disk in ["vda", "/guest/diskimage1", "vdb", ""] {
        t.rec(
            &format!("block info {disk:?}"),
            d.domain_get_block_info(&dom, disk, 0).await,
        );
    }
    t.rec(
        "block info flags",
        d.domain_get_block_info(&dom, "vda", 1).await,
    );
    for (cpu, flags) in [(-1, 0), (0, 0), (3, 0), (7, 0), (-2, 0), (0, 1)] {
        t.rec(
            &format!("node cpu stats {cpu} flags={flags}"),
            d.node_get_cpu_stats(cpu, flags).await,
        );
    }
    for (source, flags) in [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1)] {
        t.rec(
            &format!("interface addresses source={source} flags={flags}"),
            d.domain_interface_addresses(&dom, source, flags).await,
        );
    }
    let fs = t.rec("fsinfo", d.domain_get_fsinfo(&dom, 0).await);
    assert!(fs.is_some());
    t.rec("fsinfo flags", d.domain_get_fsinfo(&dom, 1).await);
    let host = t.rec("hostname", d.domain_get_hostname(&dom, 0).await);
    assert_eq!(host.as_deref(), Some("testhost"));
    t.rec("hostname flags", d.domain_get_hostname(&dom, 1).await);
    for flags in [0, flags::AFFECT_LIVE, flags::AFFECT_CONFIG, 4] {
        t.rec(
            &format!("iothreads flags={flags}"),
            d.domain_get_iothread_info(&dom, flags).await,
        );
    }

    // A paused domain still answers.
    d.domain_suspend(&dom).await.expect("suspend");
    t.rec(
        "paused stats",
        d.connect_get_all_domain_stats(&[], STATE, PAUSED).await,
    );
    t.rec("paused hostname", d.domain_get_hostname(&dom, 0).await);
    t.rec(
        "paused addresses",
        d.domain_interface_addresses(&dom, 0, 0).await,
    );
    d.domain_resume(&dom).await.expect("resume");

    // A stopped domain has no counters, addresses, file systems or host name; its disk sizes remain.
    t.rec("idle block stats", d.domain_block_stats(&idle, "vda").await);
    assert!(
        last_err_ends_with(&t, "domain is not running"),
        "{:?}",
        t.0.last()
    );
    t.rec(
        "idle interface stats",
        d.domain_interface_stats(&idle, "52:54:00:0a:0b:0c").await,
    );
    t.rec(
        "idle block info",
        d.domain_get_block_info(&idle, "vda", 0).await,
    );
    t.rec(
        "idle addresses",
        d.domain_interface_addresses(&idle, 0, 0).await,
    );
    t.rec("idle fsinfo", d.domain_get_fsinfo(&idle, 0).await);
    t.rec("idle hostname", d.domain_get_hostname(&idle, 0).await);
    t.rec("idle iothreads", d.domain_get_iothread_info(&idle, 0).await);
    d.domain_undefine(&idle, 0).await.expect("undefine idle");
    t.rec(
        "gone block info",
        d.domain_get_block_info(&idle, "vda", 0).await,
    );
    t
}

/// A snapshot's XML with its wall-clock creation time blanked (and checked to be a number).
fn without_creation_time(xml: String) -> String {
    const OPEN: &str = "<creationTime>";
    const CLOSE: &str = "</creationTime>";
    let Some(start) = xml.find(OPEN) else {
        return xml;
    };
    let Some(len) = xml[start..].find(CLOSE) else {
        return xml;
    };
    let value = &xml[start + OPEN.len()..start + len];
    assert!(value.parse::<u64>().is_ok(), "creationTime {value:?}");
    format!("{}{OPEN}N{}", &xml[..start], &xml[start + len..])
}

/// `VIR_DOMAIN_SNAPSHOT_*` flags of creation, listing, reverting and deleting.
mod snap {
    pub const CREATE_REDEFINE: u32 = 1 << 0;
    pub const CREATE_CURRENT: u32 = 1 << 1;
    pub const CREATE_NO_METADATA: u32 = 1 << 2;
    pub const CREATE_HALT: u32 = 1 << 3;
    pub const CREATE_DISK_ONLY: u32 = 1 << 4;
    pub const LIST_ROOTS: u32 = 1 << 0;
    pub const LIST_DESCENDANTS: u32 = 1 << 0;
    pub const LIST_METADATA: u32 = 1 << 1;
    pub const LIST_LEAVES: u32 = 1 << 2;
    pub const LIST_NO_LEAVES: u32 = 1 << 3;
    pub const LIST_NO_METADATA: u32 = 1 << 4;
    pub const LIST_INACTIVE: u32 = 1 << 5;
    pub const LIST_ACTIVE: u32 = 1 << 6;
    pub const LIST_DISK_ONLY: u32 = 1 << 7;
    pub const LIST_INTERNAL: u32 = 1 << 8;
    pub const LIST_EXTERNAL: u32 = 1 << 9;
    pub const LIST_TOPOLOGICAL: u32 = 1 << 10;
    pub const REVERT_RUNNING: u32 = 1 << 0;
    pub const REVERT_PAUSED: u32 = 1 << 1;
    pub const DELETE_CHILDREN: u32 = 1 << 0;
    pub const DELETE_METADATA_ONLY: u32 = 1 << 1;
    pub const DELETE_CHILDREN_ONLY: u32 = 1 << 2;
}

/// The names of a listing of snapshots (whose handle type the crate does not name publicly).
macro_rules! snap_names {
    ($listed:expr) => {
        $listed.map(|list| list.into_iter().map(|s| s.name).collect::<Vec<String>>())
    };
}

fn snapshot_xml(name: &str, description: &str) -> String {
    format!("<domainsnapshot><name>{name}</name><description>{description}</description></domainsnapshot>")
}

async fn snapshots(d: Connection) -> Transcript {
    use snap::*;
    let mut t = Transcript::default();
    let dom = d.domain_lookup_by_name("test").await.expect("test");
    let mut events = d.domain_event_subscribe().await.expect("events");
    let create = |xml: String, flags| {
        let (d, dom) = (d.clone(), dom.clone());
        async move { d.domain_snapshot_create_xml(&dom, &xml, flags).await }
    };

    assert_eq!(
        t.rec(
            "has current before",
            d.domain_has_current_snapshot(&dom, 0).await
        ),
        Some(false)
    );
    t.rec("current before", d.domain_snapshot_current(&dom, 0).await);
    let s1 = t
        .rec("create s1", create(snapshot_xml("s1", "first"), 0).await)
        .expect("s1");
    let s2 = t
        .rec(
            "create s2",
            create(snapshot_xml("s2", "a &lt;b&gt; &amp; c"), 0).await,
        )
        .expect("s2");
    let s3 = t
        .rec("create s3", create(snapshot_xml("s3", "third"), 0).await)
        .expect("s3");
    t.rec(
        "create s2 again",
        create(snapshot_xml("s2", "again"), 0).await,
    );
    t.rec(
        "create disk only",
        create(snapshot_xml("d1", ""), CREATE_DISK_ONLY).await,
    );
    t.rec(
        "create no metadata",
        create(snapshot_xml("x", ""), CREATE_NO_METADATA).await,
    );
    t.rec(
        "create bad xml",
        create("<domainsnapshot><name>".into(), 0).await,
    );
    let current = t.rec("current", d.domain_snapshot_current(&dom, 0).await);
    assert_eq!(current.as_ref(), Some(&s3));
    t.rec("has current", d.domain_has_current_snapshot(&dom, 0).await);
    t.rec("s3 is current", d.domain_snapshot_is_current(&s3, 0).await);
    t.rec("s1 is current", d.domain_snapshot_is_current(&s1, 0).await);
    t.rec(
        "s1 has metadata",
        d.domain_snapshot_has_metadata(&s1, 0).await,
    );
    t.rec("parent of s2", d.domain_snapshot_get_parent(&s2, 0).await);
    t.rec("parent of s1", d.domain_snapshot_get_parent(&s1, 0).await);
    t.rec(
        "lookup s2",
        d.domain_snapshot_lookup_by_name(&dom, "s2", 0).await,
    );
    t.rec(
        "lookup nosuch",
        d.domain_snapshot_lookup_by_name(&dom, "nosuch", 0).await,
    );
    for (snapshot, flags) in [(&s1, 0), (&s2, XML_SECURE_SNAPSHOT)] {
        let xml = d
            .domain_snapshot_get_xml_desc(snapshot, flags)
            .await
            .map(without_creation_time);
        t.rec(&format!("xml {} flags={flags}", snapshot.name), xml);
    }

    // Revert to s1 (running): stopped and started again; a new snapshot then hangs below s1.
    t.rec("revert s1", d.domain_revert_to_snapshot(&s1, 0).await);
    t.rec("state after revert", d.domain_get_state(&dom, 0).await);
    let dom = d
        .domain_lookup_by_name("test")
        .await
        .expect("test after revert");
    let s4 = t
        .rec(
            "create s4",
            d.domain_snapshot_create_xml(&dom, &snapshot_xml("s4", "fourth"), 0)
                .await,
        )
        .expect("s4");
    t.rec("parent of s4", d.domain_snapshot_get_parent(&s4, 0).await);
    for (label, flags) in [
        ("all", 0),
        ("roots", LIST_ROOTS),
        ("leaves", LIST_LEAVES),
        ("no leaves", LIST_NO_LEAVES),
        ("metadata", LIST_METADATA),
        ("no metadata", LIST_NO_METADATA),
        ("active", LIST_ACTIVE),
        ("inactive", LIST_INACTIVE),
        ("disk only", LIST_DISK_ONLY),
        ("internal", LIST_INTERNAL),
        ("external", LIST_EXTERNAL),
        ("topological", LIST_TOPOLOGICAL),
    ] {
        let listed = d.domain_list_all_snapshots(&dom, flags).await;
        t.rec(&format!("list {label}"), snap_names!(listed));
    }
    for (label, flags) in [
        ("children", 0),
        ("descendants", LIST_DESCENDANTS),
        ("leaf descendants", LIST_DESCENDANTS | LIST_LEAVES),
    ] {
        let listed = d.domain_snapshot_list_all_children(&s1, flags).await;
        t.rec(&format!("s1 {label}"), snap_names!(listed));
    }
    let mut all = snap_names!(d.domain_list_all_snapshots(&dom, 0).await).unwrap_or_default();
    all.sort();
    assert_eq!(all, ["s1", "s2", "s3", "s4"]);

    // Reverting into a paused state, and redefining s2 as current.
    t.rec(
        "revert s2 paused",
        d.domain_revert_to_snapshot(&s2, REVERT_PAUSED).await,
    );
    t.rec("state paused", d.domain_get_state(&dom, 0).await);
    t.rec(
        "revert s3 running",
        d.domain_revert_to_snapshot(&s3, REVERT_RUNNING).await,
    );
    t.rec("state running", d.domain_get_state(&dom, 0).await);
    // libvirt's public API refuses RUNNING with PAUSED as mutually exclusive (VIR_EXCLUSIVE_FLAGS_GOTO in
    // virDomainRevertToSnapshot, before any driver); ours takes it and runs. Recorded for the cross-target
    // comparison, not asserted.
    t.rec(
        "revert both",
        d.domain_revert_to_snapshot(&s3, REVERT_RUNNING | REVERT_PAUSED)
            .await,
    );
    if let Ok(xml) = d.domain_snapshot_get_xml_desc(&s1, 0).await {
        let dom = d.domain_lookup_by_name("test").await.expect("test");
        t.rec(
            "redefine s1 current",
            d.domain_snapshot_create_xml(&dom, &xml, CREATE_REDEFINE | CREATE_CURRENT)
                .await,
        );
    }
    t.rec(
        "current after redefine",
        d.domain_snapshot_current(&dom, 0).await.map(|s| s.name),
    );

    // Deleting: metadata only is refused, children only keeps s1, children takes the rest.
    t.rec(
        "delete s2 metadata only",
        d.domain_snapshot_delete(&s2, DELETE_METADATA_ONLY).await,
    );
    t.rec(
        "delete s1 children only",
        d.domain_snapshot_delete(&s1, DELETE_CHILDREN_ONLY).await,
    );
    let left = d.domain_list_all_snapshots(&dom, 0).await;
    t.rec("left", snap_names!(left));
    t.rec(
        "create s5",
        create(snapshot_xml("s5", ""), 0).await.map(|s| s.name),
    );
    t.rec(
        "delete s1 with children",
        d.domain_snapshot_delete(&s1, DELETE_CHILDREN).await,
    );
    t.rec("delete s1 again", d.domain_snapshot_delete(&s1, 0).await);
    t.rec(
        "has current after",
        d.domain_has_current_snapshot(&dom, 0).await,
    );
    let none = d.domain_list_all_snapshots(&dom, 0).await;
    assert_eq!(none.as_ref().map(Vec::len).ok(), Some(0));
    t.rec("none left", snap_names!(none));

    // Halting after the snapshot stops the domain.
    let dom = d.domain_lookup_by_name("test").await.expect("test");
    t.rec(
        "create halt",
        create(snapshot_xml("h1", ""), CREATE_HALT)
            .await
            .map(|s| s.name),
    );
    t.rec("state after halt", d.domain_get_state(&dom, 0).await);
    // Each revert of the running domain stops and starts it again (four reverts, the one to s2 pausing it as
    // well), and the halt stops it: ten lifecycle events.
    collect_events(&mut t, &mut events, 10).await;
    no_more_events(&mut t, &mut events).await;
    t
}

/// `VIR_DOMAIN_SNAPSHOT_XML_SECURE`.
const XML_SECURE_SNAPSHOT: u32 = 1;

async fn rename_and_managed_save(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    let mut events = d.domain_event_subscribe().await.expect("events");
    let dom = d.domain_lookup_by_name("test").await.expect("test");

    // Rename: only an inactive persistent domain, not onto itself, another domain's name or a name with '/'.
    t.rec("rename running", d.domain_rename(&dom, "x", 0).await);
    let other = d
        .domain_define_xml(&demo_xml("other", DEMO_UUID), 0)
        .await
        .expect("other");
    t.rec(
        "rename onto itself",
        d.domain_rename(&other, "other", 0).await,
    );
    t.rec("rename onto test", d.domain_rename(&other, "test", 0).await);
    t.rec("rename slash", d.domain_rename(&other, "a/b", 0).await);
    t.rec("rename flags", d.domain_rename(&other, "renamed", 1).await);
    t.rec(
        "snapshot before rename",
        d.domain_snapshot_create_xml(&other, &snapshot_xml("s", ""), 0)
            .await
            .map(|_| ()),
    );
    assert!(t
        .rec("rename", d.domain_rename(&other, "renamed", 0).await)
        .is_some());
    t.rec("lookup old name", d.domain_lookup_by_name("other").await);
    let renamed = t
        .rec("lookup new name", d.domain_lookup_by_name("renamed").await)
        .expect("renamed");
    assert_eq!(renamed.uuid.to_string(), DEMO_UUID);
    let kept = d.domain_list_all_snapshots(&renamed, 0).await;
    t.rec("snapshots kept", kept.map(|l| l.len()));
    t.rec("state renamed", d.domain_get_state(&renamed, 0).await);
    t.rec(
        "undefine renamed",
        d.domain_undefine(&renamed, 1 << 1).await,
    );
    let mut all = names(&d.list_all_domains(0).await.ok(), |d| &d.name);
    all.sort();
    t.note(format!("domains after rename: {all:?}"));

    // Managed save: the domain stops "saved", the image shows, blocks a plain undefine, goes with
    // managed_save_remove, and the next start boots afresh.
    assert!(t
        .rec("managed save", d.domain_managed_save(&dom, 0).await)
        .is_some());
    t.rec("state saved", d.domain_get_state(&dom, 0).await);
    assert_eq!(
        t.rec("has image", d.domain_has_managed_save_image(&dom, 0).await),
        Some(true)
    );
    t.rec("managed save stopped", d.domain_managed_save(&dom, 0).await);
    t.rec("undefine with image", d.domain_undefine(&dom, 0).await);
    t.rec("remove image", d.domain_managed_save_remove(&dom, 0).await);
    t.rec(
        "remove image again",
        d.domain_managed_save_remove(&dom, 0).await,
    );
    assert_eq!(
        t.rec(
            "has image after",
            d.domain_has_managed_save_image(&dom, 0).await
        ),
        Some(false)
    );
    t.rec("state after remove", d.domain_get_state(&dom, 0).await);
    let running = t
        .rec("start", d.domain_create(&dom, 0).await)
        .expect("start");
    t.rec("state started", d.domain_get_state(&running, 0).await);
    t.rec(
        "managed save flags",
        d.domain_managed_save(&running, 1 << 8).await,
    );
    t.rec(
        "managed save running flag",
        d.domain_managed_save(&running, 1 << 1).await,
    );
    t.rec("state after save", d.domain_get_state(&dom, 0).await);
    let restored = t.rec("start from image", d.domain_create(&dom, 0).await);
    t.rec("state restored", d.domain_get_state(&dom, 0).await);
    t.rec(
        "has image restored",
        d.domain_has_managed_save_image(&dom, 0).await,
    );
    if let Some(restored) = restored {
        t.rec(
            "managed save paused",
            d.domain_managed_save(&restored, 1 << 2).await,
        );
        t.rec("state after paused save", d.domain_get_state(&dom, 0).await);
        t.rec("start paused image", d.domain_create(&dom, 0).await);
        t.rec("state from paused image", d.domain_get_state(&dom, 0).await);
    }
    // Defined and undefined-renamed for "other", defined-renamed and undefined for "renamed", then three managed
    // saves and three starts of "test": ten lifecycle events.
    collect_events(&mut t, &mut events, 10).await;
    no_more_events(&mut t, &mut events).await;
    t
}

const BRIDGE_XML: &str = include_str!("../data/interface/bridge.in.xml");
const ETHERNET_XML: &str = include_str!("../data/interface/ethernet-ipv6.in.xml");

async fn host_interfaces(d: Connection) -> Transcript {
    use flags::{LIST_INTERFACES_ACTIVE, LIST_INTERFACES_INACTIVE};
    let mut t = Transcript::default();
    let list = |flags| {
        let d = d.clone();
        async move {
            d.list_all_interfaces(flags)
                .await
                .map(|l| l.into_iter().map(|i| i.name).collect::<Vec<_>>())
        }
    };
    for (label, flags) in [
        ("all", 0),
        ("active", LIST_INTERFACES_ACTIVE),
        ("inactive", LIST_INTERFACES_INACTIVE),
        ("both", LIST_INTERFACES_ACTIVE | LIST_INTERFACES_INACTIVE),
        ("bad flag", 4),
    ] {
        t.rec(&format!("list {label}"), list(flags).await);
    }
    let eth1 = t
        .rec("lookup eth1", d.interface_lookup_by_name("eth1").await)
        .expect("eth1");
    assert_eq!(eth1.mac, "aa:bb:cc:dd:ee:ff");
    t.rec("lookup nosuch", d.interface_lookup_by_name("nope").await);
    for mac in [
        "aa:bb:cc:dd:ee:ff",
        "AA:BB:CC:DD:EE:FF",
        "00:00:00:00:00:00",
    ] {
        t.rec(
            &format!("lookup mac {mac}"),
            d.interface_lookup_by_mac_string(mac).await,
        );
    }
    t.rec("xml eth1", d.interface_get_xml_desc(&eth1, 0).await);
    t.rec(
        "xml eth1 inactive",
        d.interface_get_xml_desc(&eth1, flags::INTERFACE_XML_INACTIVE)
            .await,
    );
    t.rec("eth1 active", d.interface_is_active(&eth1).await);

    // Define, start and stop, undefine.
    let br0 = t
        .rec(
            "define br0",
            d.interface_define_xml(BRIDGE_XML, flags::INTERFACE_DEFINE_VALIDATE)
                .await,
        )
        .expect("br0");
    let eth2 = t
        .rec("define eth2", d.interface_define_xml(ETHERNET_XML, 0).await)
        .expect("eth2");
    t.rec(
        "define bad xml",
        d.interface_define_xml("<interface type='ethernet'>", 0)
            .await,
    );
    t.rec("xml br0", d.interface_get_xml_desc(&br0, 0).await);
    t.rec("xml eth2", d.interface_get_xml_desc(&eth2, 0).await);
    t.rec("list after define", list(0).await);
    t.rec(
        "list inactive after define",
        list(LIST_INTERFACES_INACTIVE).await,
    );
    t.rec("start br0", d.interface_create(&br0, 0).await);
    t.rec("start br0 again", d.interface_create(&br0, 0).await);
    t.rec("start flags", d.interface_create(&eth2, 1).await);
    t.rec("br0 active", d.interface_is_active(&br0).await);
    t.rec(
        "list active after start",
        list(LIST_INTERFACES_ACTIVE).await,
    );

    // A transaction: changes inside it are undone by rollback and kept by commit.
    t.rec("commit without", d.interface_change_commit(0).await);
    t.rec("rollback without", d.interface_change_rollback(0).await);
    t.rec("begin", d.interface_change_begin(0).await);
    t.rec("begin again", d.interface_change_begin(0).await);
    t.rec("destroy eth1", d.interface_destroy(&eth1, 0).await);
    t.rec("undefine eth2", d.interface_undefine(&eth2).await);
    t.rec("list in transaction", list(0).await);
    t.rec(
        "list all in transaction",
        list(LIST_INTERFACES_ACTIVE | LIST_INTERFACES_INACTIVE).await,
    );
    t.rec("rollback", d.interface_change_rollback(0).await);
    t.rec(
        "list after rollback",
        list(LIST_INTERFACES_ACTIVE | LIST_INTERFACES_INACTIVE).await,
    );
    t.rec(
        "eth1 active after rollback",
        d.interface_is_active(&eth1).await,
    );
    t.rec("begin flags", d.interface_change_begin(1).await);
    t.rec("begin 2", d.interface_change_begin(0).await);
    t.rec("destroy br0", d.interface_destroy(&br0, 0).await);
    t.rec("destroy br0 again", d.interface_destroy(&br0, 0).await);
    t.rec("undefine br0", d.interface_undefine(&br0).await);
    t.rec("undefine br0 again", d.interface_undefine(&br0).await);
    t.rec("commit", d.interface_change_commit(0).await);
    t.rec("commit again", d.interface_change_commit(0).await);
    let after = t.rec(
        "list after commit",
        list(LIST_INTERFACES_ACTIVE | LIST_INTERFACES_INACTIVE).await,
    );
    assert_eq!(after, Some(vec!["eth1".to_string(), "eth2".to_string()]));
    t.rec(
        "lookup mac eth2",
        d.interface_lookup_by_mac_string("aa:bb:cc:dd:ee:01").await,
    );
    t.rec("xml br0 gone", d.interface_get_xml_desc(&br0, 0).await);

    // Node devices, sysinfo and CPU models: host facts of the test world.
    for (label, flags) in [
        ("all", 0),
        ("scsi_host", 1 << 5),
        ("net", 1 << 4),
        ("bad", 1 << 31),
    ] {
        t.rec(
            &format!("node devices {label}"),
            d.list_all_node_devices(flags).await,
        );
    }
    t.rec("nodedev count", d.node_num_of_devices(None, 0).await);
    t.rec(
        "nodedev count fc_host",
        d.node_num_of_devices(Some("fc_host"), 0).await,
    );
    t.rec(
        "nodedev names vports",
        d.node_list_devices(Some("vports"), 0).await,
    );
    t.rec("nodedev names flags", d.node_list_devices(None, 1).await);
    for name in ["computer", "scsi_host11", "nope"] {
        t.rec(
            &format!("nodedev lookup {name}"),
            d.node_device_lookup_by_name(name).await,
        );
        t.rec(
            &format!("nodedev xml {name}"),
            d.node_device_get_xml_desc(name, 0).await,
        );
        t.rec(
            &format!("nodedev parent {name}"),
            d.node_device_get_parent(name).await,
        );
        t.rec(
            &format!("nodedev caps {name}"),
            d.node_device_list_caps(name).await,
        );
        t.rec(
            &format!("nodedev caps count {name}"),
            d.node_device_num_of_caps(name).await,
        );
    }
    let sysinfo = t.rec("sysinfo", d.get_sysinfo(0).await).unwrap_or_default();
    assert!(sysinfo.contains("<sysinfo"), "{sysinfo}");
    t.rec("sysinfo flags", d.get_sysinfo(1).await);
    for arch in ["x86_64", "i686", "ppc64le", "aarch64", "foo"] {
        t.rec(
            &format!("cpu models {arch}"),
            d.get_cpu_model_names(arch, 0).await,
        );
    }
    t.rec("cpu models flags", d.get_cpu_model_names("x86_64", 1).await);
    t
}

/// DOMAIN_INJECT_NMI and DOMAIN_RESET beyond the lifecycle part: flags refused before the state is looked at,
/// domains that are gone, and no lifecycle event of their own.
async fn nmi_and_reset(d: Connection) -> Transcript {
    let mut t = Transcript::default();
    let dom = d.domain_lookup_by_name("test").await.expect("test");
    let mut events = d.domain_event_subscribe().await.expect("events");
    assert!(t
        .rec("nmi running", d.domain_inject_nmi(&dom, 0).await)
        .is_some());
    t.rec("nmi flags", d.domain_inject_nmi(&dom, 1).await);
    assert!(
        last_err_ends_with(&t, "testDomainInjectNMI"),
        "{:?}",
        t.0.last()
    );
    t.rec("state after nmi", d.domain_get_state(&dom, 0).await);
    d.domain_suspend(&dom).await.expect("suspend");
    t.rec("nmi paused", d.domain_inject_nmi(&dom, 0).await);
    d.domain_resume(&dom).await.expect("resume");
    t.rec("reset running", d.domain_reset(&dom, 0).await);
    let stopped = d
        .domain_define_xml(&demo_xml("nmi", DEMO_UUID), 0)
        .await
        .expect("define");
    t.rec("nmi stopped", d.domain_inject_nmi(&stopped, 0).await);
    assert!(
        last_err_ends_with(&t, "domain is not running"),
        "{:?}",
        t.0.last()
    );
    t.rec("nmi stopped flags", d.domain_inject_nmi(&stopped, 2).await);
    t.rec("reset stopped", d.domain_reset(&stopped, 0).await);
    t.rec("reset stopped flags", d.domain_reset(&stopped, 2).await);
    d.domain_undefine(&stopped, 0).await.expect("undefine");
    t.rec("nmi undefined", d.domain_inject_nmi(&stopped, 0).await);
    t.rec("reset undefined", d.domain_reset(&stopped, 0).await);
    // suspend, resume, define, undefine: NMI and reset add no lifecycle event of their own.
    collect_events(&mut t, &mut events, 4).await;
    no_more_events(&mut t, &mut events).await;
    t
}

// ---------------------------------------------------------------------------------------------------------------
// Targets.

async fn in_process(dir: &std::path::Path, read_only: bool) -> Connection {
    let options = ConnectOptions {
        state_dir: Some(dir.to_path_buf()),
        read_only,
    };
    connect("test:///default", &options)
        .await
        .expect("in-process")
}

async fn remote(uri: &str, read_only: bool) -> Connection {
    let options = ConnectOptions {
        state_dir: None,
        read_only,
    };
    connect(uri, &options)
        .await
        .unwrap_or_else(|err| panic!("{uri}: {err}"))
}

/// Fails with the lines that differ (not two whole transcripts) when a target saw something else than the
/// in-process driver.
fn assert_same(local: &[String], remote: &[String], target: &str) {
    let mut diff: Vec<String> = local
        .iter()
        .zip(remote)
        .filter(|(ours, theirs)| ours != theirs)
        .map(|(ours, theirs)| format!("in process: {ours}\n{target:>10}: {theirs}"))
        .collect();
    if local.len() != remote.len() {
        let longer = if local.len() > remote.len() {
            local
        } else {
            remote
        };
        let tail = &longer[local.len().min(remote.len())..];
        diff.push(format!(
            "lengths {} in process, {} over {target}; the longer goes on with {tail:#?}",
            local.len(),
            remote.len()
        ));
    }
    assert!(
        diff.is_empty(),
        "{target} transcript differs:\n{}",
        diff.join("\n")
    );
}

/// Runs `suite` on a fresh in-process driver, through unix, TCP and TLS (fresh servers each), and asserts the
/// transcripts are identical.
macro_rules! conformance {
    ($test:ident, $suite:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let dir = tempfile::tempdir().unwrap();
            let local = $suite(in_process(dir.path(), false).await).await.0;
            assert!(!local.is_empty());
            let unix_server = crate::support::server::Server::start().await;
            let unix = $suite(remote(&unix_server.unix_uri, false).await).await.0;
            assert_same(&local, &unix, "unix");
            let tcp_server = crate::support::server::Server::start().await;
            let driver = remote(&tcp_server.tcp_uri, false).await;
            let tcp = $suite(driver.clone()).await.0;
            assert_same(&local, &tcp, "tcp");
            driver.close().await.expect("clean close");
            assert!(!driver.is_alive().await.unwrap());
            let tls_server = crate::support::server::TlsRpcServer::start().await;
            let driver = remote(&tls_server.uri, false).await;
            assert!(driver.is_encrypted().await.unwrap(), "tls is encrypted");
            let tls = $suite(driver.clone()).await.0;
            assert_same(&local, &tls, "tls");
            driver.close().await.expect("clean close");
        }
    };
}

conformance!(connection_matches, connection);
conformance!(lifecycle_matches, lifecycle);
conformance!(lists_with_flags_match, lists);
conformance!(xml_and_domain_queries_match, xml);
conformance!(networks_match, networks);
conformance!(pools_and_volumes_match, storage);
conformance!(tunables_match, tunables);
conformance!(statistics_match, statistics);
conformance!(snapshots_match, snapshots);
conformance!(rename_and_managed_save_match, rename_and_managed_save);
conformance!(host_interfaces_and_node_facts_match, host_interfaces);
conformance!(nmi_and_reset_match, nmi_and_reset);
conformance!(metadata_events_match, metadata_events);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_matches_through_the_flag_and_the_ro_socket() {
    let dir = tempfile::tempdir().unwrap();
    let local = read_only(in_process(dir.path(), true).await).await.0;
    assert!(
        local
            .iter()
            .any(|l| l.contains("read only access prevents virDomainSuspend")),
        "{local:#?}"
    );
    let server = crate::support::server::Server::start().await;
    // RO flag in CONNECT_OPEN (and the local refusal libvirt's library gives).
    let flagged = read_only(remote(&server.tcp_uri, true).await).await.0;
    assert_eq!(local, flagged);
    // The read-only socket refuses on the server side with the same code and words.
    let socket = read_only(remote(&server.ro_uri, false).await).await.0;
    assert_eq!(local, socket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_every_subscriber_through_the_remote_driver() {
    let server = crate::support::server::Server::start().await;
    let driver = remote(&server.unix_uri, false).await;
    let mut first = driver.domain_event_subscribe().await.unwrap();
    let mut second = driver.domain_event_subscribe().await.unwrap();
    let other = remote(&server.tcp_uri, false).await;
    let dom = other.domain_lookup_by_name("test").await.expect("lookup");
    other.domain_suspend(&dom).await.unwrap();
    for events in [&mut first, &mut second] {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("event in time")
            .unwrap();
        assert_eq!(event.domain.name, "test");
        assert_eq!(event.event, virtcim::event::SUSPENDED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_calls_in_flight_on_one_connection() {
    let server = crate::support::server::Server::start().await;
    let driver = remote(&server.tcp_uri, false).await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let driver = driver.clone();
        calls.spawn(async move {
            let dom = driver.domain_lookup_by_name("test").await?;
            driver.domain_get_info(&dom).await
        });
    }
    while let Some(done) = calls.join_next().await {
        assert_eq!(done.unwrap().unwrap().nr_virt_cpu, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_against_stock_libvirtd() {
    let Some(libvirtd) = tokio::task::spawn_blocking(crate::support::libvirtd::Libvirtd::start)
        .await
        .unwrap()
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = lifecycle(in_process(dir.path(), false).await).await.0;
    let driver = remote(&libvirtd.tcp_uri, false).await;
    let real = lifecycle(driver.clone()).await.0;
    driver.close().await.expect("clean close");
    // Two known divergences of our test driver from libvirt's (not of the remote driver), left out here and reported
    // to the test-driver owners: the wording and code of XML syntax errors (libvirt: code 35 with libxml2's
    // message), and an extra SHUTDOWN (6) lifecycle event before STOPPED on shutdown.
    let comparable = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .filter(|line| !line.starts_with("define bad xml:"))
            .filter(|line| !(line.starts_with("event ") && line.split(' ').nth(2) == Some("6")))
            .filter(|line| !line.starts_with("event missing"))
            .collect()
    };
    let (local, real) = (comparable(local), comparable(real));
    let diff: Vec<String> = local
        .iter()
        .zip(real.iter())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("ours:     {a}\nlibvirtd: {b}"))
        .collect();
    assert!(
        diff.is_empty() && local.len() == real.len(),
        "differences from libvirtd:\n{}",
        diff.join("\n")
    );
    drop(libvirtd);
}

/// A server from before the LIST_ALL calls and event callbacks, without AUTH_LIST: code 3 for 66, 273, 281, 282 and
/// 283, feature 14 answered 0.
const OLD_SERVER_REFUSES: [u32; 5] = [66, 273, 281, 282, 283];

/// Which procedures the "old server" answered itself, one bit per index of [`OLD_SERVER_REFUSES`], bit 5 for
/// feature 14.
static OLD_SERVER_ANSWERED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn old_server(message: &virtcim::Message) -> Option<Vec<u8>> {
    let header = &message.header;
    let mark = |bit: usize| {
        OLD_SERVER_ANSWERED.fetch_or(1 << bit, std::sync::atomic::Ordering::Relaxed);
    };
    if let Some(index) = OLD_SERVER_REFUSES.iter().position(|&p| p == header.proc_) {
        mark(index);
        let err = virtcim::Error::no_support(&format!("procedure {}", header.proc_));
        return Some(virtcim::error_frame(header, &err));
    }
    if header.proc_ == 60 && message.payload == [0, 0, 0, 14] {
        mark(OLD_SERVER_REFUSES.len());
        return Some(virtcim::encode_frame(
            &header.reply(virtcim::Status::Ok),
            &[0, 0, 0, 0],
        ));
    }
    None
}

/// Runs `suite` in process and through the "old server" proxy; the transcripts must match.
macro_rules! through_old_server {
    ($suite:ident) => {{
        let dir = tempfile::tempdir().unwrap();
        let local = $suite(in_process(dir.path(), false).await).await.0;
        let server = crate::support::server::Server::start().await;
        let proxy = crate::support::server::FaultProxy::start(
            server.unix_path.clone(),
            server.dir.path().join("old-sock"),
            old_server,
        )
        .await;
        let uri = format!("test+unix:///default?socket={}", proxy.path.display());
        let old = $suite(remote(&uri, false).await).await.0;
        assert_eq!(local, old, "{} through an old server", stringify!($suite));
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallbacks_for_old_servers_give_the_same_results() {
    // No AUTH_LIST (assume no auth), old-style lists of domains, networks, pools and volumes, legacy events.
    through_old_server!(lifecycle);
    through_old_server!(networks);
    through_old_server!(storage);
    let answered = OLD_SERVER_ANSWERED.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(answered, 0b11_1111, "every fallback was exercised");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_answers_server_keepalive_pings() {
    let config = virtcim::ServerConfig {
        keepalive_interval: Some(Duration::from_millis(500)),
        keepalive_count: 1,
        ..virtcim::ServerConfig::default()
    };
    let server = crate::support::server::Server::start_with(config).await;
    let driver = remote(&server.unix_uri, false).await;
    // Silent for several server keepalive periods: the server would drop a client that did not PONG.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(driver.is_alive().await.unwrap());
    assert_eq!(driver.get_type().await.unwrap(), "TEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_fails_calls_clearly() {
    let server = crate::support::server::Server::start().await;
    let proxy_path = server.dir.path().join("dying-sock");
    // Answering CONNECT_GET_HOSTNAME with a truncated frame makes the stream unusable: the client must fail the
    // call and every later one, not hang.
    fn garbage(message: &virtcim::Message) -> Option<Vec<u8>> {
        (message.header.proc_ == 59).then(|| vec![0, 0, 0, 8, 0, 0, 0, 0])
    }
    let proxy =
        crate::support::server::FaultProxy::start(server.unix_path.clone(), proxy_path, garbage)
            .await;
    let uri = format!("test+unix:///default?socket={}", proxy.path.display());
    let driver = remote(&uri, false).await;
    let err = driver.get_hostname().await.unwrap_err();
    assert_eq!(err.code, virtcim::ErrorCode::RPC, "{err:?}");
    assert!(!driver.is_alive().await.unwrap());
    let later = driver.get_type().await.unwrap_err();
    assert_eq!(later, err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_never_dials_out_for_a_remote_name() {
    let server = crate::support::server::Server::start().await;
    // The name sent in CONNECT_OPEN is a URI with a transport: serving it would make the server a client of
    // itself. It is refused like any driver the server lacks.
    let uri = format!(
        "test+unix:///default?socket={}&name={}",
        server.unix_path.display(),
        server.tcp_uri.replace('?', "%3F")
    );
    let err = match connect(&uri, &ConnectOptions::default()).await {
        Ok(_) => panic!("opened"),
        Err(err) => err,
    };
    assert_eq!(err.code, virtcim::ErrorCode::NO_CONNECT, "{err:?}");
    assert!(
        err.message.contains("no connection driver available for"),
        "{}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keepalive_drops_a_silent_server() {
    let server = crate::support::server::Server::start().await;
    // The proxy swallows keepalive PINGs: the server never answers them, as a hung peer would not.
    fn swallow_pings(message: &virtcim::Message) -> Option<Vec<u8>> {
        (message.header.prog == virtcim::rpc_wire::KEEPALIVE_PROGRAM).then(Vec::new)
    }
    let proxy = crate::support::server::FaultProxy::start(
        server.unix_path.clone(),
        server.dir.path().join("silent-sock"),
        swallow_pings,
    )
    .await;
    let text = format!("test+unix:///default?socket={}", proxy.path.display());
    let uri = virtcim::Uri::parse(&text).unwrap();
    let options = virtcim::RemoteOptions {
        read_only: false,
        keepalive: Some((Duration::from_millis(200), 2)),
    };
    let driver = virtcim::RemoteDriver::open(&uri, &text, &options)
        .await
        .unwrap();
    assert_eq!(driver.get_type().await.unwrap(), "TEST");
    // interval × (count + 1) = 600 ms of silence, plus a tick of slack.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!driver.is_alive().await.unwrap());
    let err = driver.get_type().await.unwrap_err();
    assert!(err.message.contains("keepalive timeout"), "{}", err.message);
}

/// A count query (`nparams` 0) tells how many parameters a family has without looking at the domain, as the test
/// driver answers in process (and libvirt 9.0's test driver answers for memory and NUMA parameters); through the remote
/// driver it must answer the same. It does not yet: the remote driver's `domain_get_tunables` and
/// `domain_get_block_io_tune` (src/remote/hypervisor.rs) always send the protocol's maximum as `nparams`, so the
/// server runs the full read and refuses a live read of an inactive domain. The server side is right (it answers
/// `nparams` 0 with the count alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_queries_look_at_no_domain_through_the_remote_driver() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::support::server::Server::start().await;
    for (target, d) in [
        ("in process", in_process(dir.path(), false).await),
        ("unix", remote(&server.unix_uri, false).await),
    ] {
        let dom = d
            .domain_define_xml(&devices_xml("counted", TUNED_UUID), 0)
            .await
            .expect("define");
        for kind in [TunableKind::Memory, TunableKind::Blkio, TunableKind::Numa] {
            let count = d
                .domain_get_tunables(&dom, kind, 0, flags::AFFECT_LIVE)
                .await;
            assert!(count.is_ok(), "{target}: {kind:?} count: {count:?}");
        }
        let count = d
            .domain_get_block_io_tune(&dom, Some("vda".into()), 0, flags::AFFECT_LIVE)
            .await;
        assert!(count.is_ok(), "{target}: block I/O tune count: {count:?}");
    }
}
