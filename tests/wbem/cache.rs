//! The WBEM server reuses answers only while nothing changed: a change made through the driver, through a CIM
//! method, or through stock virsh over RPC in the same daemon is visible in the very next CIM request.

use std::sync::Arc;
use std::time::Duration;

use crate::support::wbem::{imethod_body, post, raw_exchange, Options, Wbem};
use virtcim::cimxml::{parse_request, Limits};
use virtcim::{builtin_repository, prelude::*, Operations, Reuse, TestDriver};

const CS: &str = "KVM_ComputerSystem";

fn class_param() -> String {
    format!("<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"{CS}\"/></IPARAMVALUE>")
}

fn name_only_list() -> &'static str {
    "<IPARAMVALUE NAME=\"PropertyList\"><VALUE.ARRAY><VALUE>Name</VALUE></VALUE.ARRAY></IPARAMVALUE>"
}

fn request_state_change(domain: &str, state: u16) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"7\" \
         PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><METHODCALL NAME=\"RequestStateChange\"><LOCALINSTANCEPATH>\
         <LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/><NAMESPACE NAME=\"virt\"/></LOCALNAMESPACEPATH>\
         <INSTANCENAME CLASSNAME=\"{CS}\"><KEYBINDING NAME=\"CreationClassName\"><KEYVALUE>{CS}</KEYVALUE>\
         </KEYBINDING><KEYBINDING NAME=\"Name\"><KEYVALUE>{domain}</KEYVALUE></KEYBINDING></INSTANCENAME>\
         </LOCALINSTANCEPATH><PARAMVALUE NAME=\"RequestedState\" PARAMTYPE=\"uint16\"><VALUE>{state}</VALUE>\
         </PARAMVALUE></METHODCALL></SIMPLEREQ></MESSAGE></CIM>"
    )
}

/// The text of property `prop` in the instance of domain `name` in an EnumerateInstances answer.
fn property_of(body: &str, name: &str, prop: &str) -> Option<String> {
    let key = format!(">{name}</KEYVALUE>");
    let instance = body
        .split("<VALUE.NAMEDINSTANCE>")
        .find(|seg| seg.contains(&key))?;
    let open = format!("<PROPERTY NAME=\"{prop}\"");
    let at = instance.find(&open)?;
    let rest = &instance[at..];
    let end = rest.find("</PROPERTY>")?;
    let rest = &rest[..end];
    Some(match rest.find("<VALUE>") {
        Some(v) => rest[v + 7..].split('<').next().unwrap_or("").to_owned(),
        None => String::new(),
    })
}

fn domain_xml(name: &str, n: usize) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>00000000-0000-4000-8000-{n:012}</uuid>\
         <memory unit='KiB'>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"
    )
}

struct InProcess {
    ops: Operations,
    driver: Arc<TestDriver>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    async fn start() -> InProcess {
        InProcess::with_domains(3).await
    }

    async fn with_domains(count: usize) -> InProcess {
        let dir = tempfile::tempdir().unwrap();
        let driver = TestDriver::open(&dir.path().join("test")).await.unwrap();
        for i in 0..count {
            driver
                .domain_define_xml(&domain_xml(&format!("vm{i:03}"), i + 1), 0)
                .await
                .unwrap();
        }
        let as_driver: Connection = driver.clone().connection();
        let ops = Operations::new(
            Arc::new(builtin_repository().unwrap()),
            as_driver,
            "localhost",
        );
        InProcess {
            ops,
            driver,
            _dir: dir,
        }
    }

    async fn call(&self, body: &str) -> String {
        let request = parse_request(body.as_bytes(), &Limits::default()).unwrap();
        let bytes = self.ops.handle(&request).await.into_bytes().await;
        String::from_utf8(bytes).unwrap()
    }

    async fn enumerate(&self) -> String {
        self.call(&imethod_body("EnumerateInstances", &class_param()))
            .await
    }

    async fn names(&self) -> String {
        self.call(&imethod_body("EnumerateInstanceNames", &class_param()))
            .await
    }
}

#[tokio::test]
async fn changes_through_the_driver_and_cim_methods_show_at_once() {
    let t = InProcess::start().await;
    let first = t.enumerate().await;
    assert_eq!(
        property_of(&first, "vm000", "EnabledState").as_deref(),
        Some("3")
    );
    let hits = t.ops.cache_hits();
    let again = t.enumerate().await;
    assert_eq!(again, first);
    assert_eq!(
        t.ops.cache_hits(),
        hits + 1,
        "an unchanged world reuses the answer"
    );

    // A different PropertyList is a different question.
    let narrow = t
        .call(&imethod_body(
            "EnumerateInstances",
            &format!("{}{}", class_param(), name_only_list()),
        ))
        .await;
    assert!(narrow.contains("<PROPERTY NAME=\"Name\""));
    assert!(!narrow.contains("EnabledState"));
    assert_eq!(t.enumerate().await, first);

    // Started through the driver: the next request sees it.
    let dom = t.driver.domain_lookup_by_name("vm000").await.unwrap();
    t.driver.domain_create(&dom, 0).await.unwrap();
    let after = t.enumerate().await;
    assert_eq!(
        property_of(&after, "vm000", "EnabledState").as_deref(),
        Some("2")
    );

    // A new domain appears in names, instances and GetInstance at once; an undefined one goes.
    t.driver
        .domain_define_xml(&domain_xml("fresh", 77), 0)
        .await
        .unwrap();
    assert!(t.names().await.contains(">fresh</KEYVALUE>"));
    assert!(property_of(&t.enumerate().await, "fresh", "Name").is_some());
    let fresh = t.driver.domain_lookup_by_name("fresh").await.unwrap();
    t.driver.domain_undefine(&fresh, 0).await.unwrap();
    assert!(!t.names().await.contains(">fresh</KEYVALUE>"));

    // A CIM method changes provider state (RequestedState) as well as the domain.
    let reply = t.call(&request_state_change("vm000", 9)).await;
    assert!(reply.contains("<RETURNVALUE"), "{reply}");
    let paused = t.enumerate().await;
    assert_eq!(
        property_of(&paused, "vm000", "EnabledState").as_deref(),
        Some("9")
    );
    assert_eq!(
        property_of(&paused, "vm000", "RequestedState").as_deref(),
        Some("9")
    );
    let hits = t.ops.cache_hits();
    assert_eq!(t.enumerate().await, paused);
    assert_eq!(t.ops.cache_hits(), hits + 1);
}

#[tokio::test]
async fn concurrent_readers_never_see_an_answer_older_than_the_last_change() {
    let t = Arc::new(InProcess::start().await);
    let dom = t.driver.domain_lookup_by_name("vm001").await.unwrap();
    for round in 0..20 {
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let t = Arc::clone(&t);
                tokio::spawn(async move { t.enumerate().await })
            })
            .collect();
        if round % 2 == 0 {
            t.driver.domain_create(&dom, 0).await.unwrap();
        } else {
            t.driver.domain_destroy(&dom, 0).await.unwrap();
        }
        for r in readers {
            r.await.unwrap();
        }
        let want = if round % 2 == 0 { "2" } else { "3" };
        let body = t.enumerate().await;
        assert_eq!(
            property_of(&body, "vm001", "EnabledState").as_deref(),
            Some(want),
            "round {round}"
        );
    }
}

fn virsh(uri: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("virsh")
        .arg("-c")
        .arg(uri)
        .args(args)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "virsh {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn virsh_changes_over_rpc_show_in_the_next_cim_request() {
    if std::process::Command::new("virsh")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("virsh not installed; skipped");
        return;
    }
    let wbem = Wbem::start(Options::default());
    let uri = format!(
        "test+unix:///default?socket={}",
        wbem.dir.path().join("run/libvirt-sock").display()
    );
    let enumerate = || {
        let req = post(
            "EnumerateInstances",
            &imethod_body("EnumerateInstances", &class_param()),
            "",
        );
        let resp = raw_exchange(wbem.http, &req, Duration::from_secs(30)).expect("response");
        assert_eq!(resp.status, 200);
        resp.body
    };
    let before = enumerate();
    assert_eq!(
        property_of(&before, "vm000", "EnabledState").as_deref(),
        Some("3")
    );
    assert_eq!(enumerate(), before);

    virsh(&uri, &["start", "vm000"]);
    let started = enumerate();
    assert_eq!(
        property_of(&started, "vm000", "EnabledState").as_deref(),
        Some("2")
    );

    virsh(&uri, &["suspend", "vm000"]);
    assert_eq!(
        property_of(&enumerate(), "vm000", "EnabledState").as_deref(),
        Some("9")
    );

    virsh(&uri, &["destroy", "vm000"]);
    assert_eq!(
        property_of(&enumerate(), "vm000", "EnabledState").as_deref(),
        Some("3")
    );

    let xml = wbem.dir.path().join("fresh.xml");
    std::fs::write(&xml, domain_xml("fresh", 91)).unwrap();
    virsh(&uri, &["define", xml.to_str().unwrap()]);
    assert!(property_of(&enumerate(), "fresh", "Name").is_some());
    virsh(&uri, &["undefine", "fresh"]);
    assert!(property_of(&enumerate(), "fresh", "Name").is_none());
}

#[tokio::test]
async fn a_streamed_answer_is_reused_byte_for_byte() {
    let t = InProcess::with_domains(400).await;
    let first = t.enumerate().await;
    assert_eq!(first.matches("<VALUE.NAMEDINSTANCE>").count(), 401);
    assert!(
        first.len() > 1_000_000,
        "long enough to be streamed in several chunks"
    );
    let hits = t.ops.cache_hits();
    let again = t.enumerate().await;
    assert_eq!(t.ops.cache_hits(), hits + 1);
    assert_eq!(again, first);
    let names = t.names().await;
    assert_eq!(t.names().await, names);
    assert_eq!(names.matches("<INSTANCENAME ").count(), 401);
}

/// Associators of the host (`host`: its INSTANCENAME element): every guest's KVM_ComputerSystem through
/// KVM_HostedDependency.
fn host_associators(host: &str) -> String {
    imethod_body(
        "Associators",
        &format!(
            "<IPARAMVALUE NAME=\"ObjectName\">{host}</IPARAMVALUE><IPARAMVALUE NAME=\"AssocClass\">\
             <CLASSNAME NAME=\"KVM_HostedDependency\"/></IPARAMVALUE>"
        ),
    )
}

#[tokio::test]
async fn associator_answers_are_reused_and_follow_changes() {
    // More guests than the server resolves one by one: the host's guests come from one enumeration.
    let t = InProcess::with_domains(40).await;
    let names = t
        .call(&imethod_body(
            "EnumerateInstanceNames",
            "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"KVM_HostSystem\"/></IPARAMVALUE>",
        ))
        .await;
    let at = names.find("<INSTANCENAME ").expect("host name");
    let end = names[at..].find("</INSTANCENAME>").expect("host name end") + at + 15;
    let host = names[at..end].to_owned();
    let first = t.call(&host_associators(&host)).await;
    assert_eq!(
        first.matches("<VALUE.OBJECTWITHPATH>").count(),
        41,
        "{first}"
    );
    // Each guest's instance is the one EnumerateInstances gives.
    let all = t.enumerate().await;
    assert_eq!(
        property_of(
            &first.replace("VALUE.OBJECTWITHPATH", "VALUE.NAMEDINSTANCE"),
            "vm007",
            "EnabledState"
        ),
        property_of(&all, "vm007", "EnabledState")
    );
    let hits = t.ops.cache_hits();
    assert_eq!(t.call(&host_associators(&host)).await, first);
    assert_eq!(
        t.ops.cache_hits(),
        hits + 1,
        "an unchanged world reuses the answer"
    );

    // A change through the driver shows in the very next answer.
    let dom = t.driver.domain_lookup_by_name("vm007").await.unwrap();
    t.driver.domain_create(&dom, 0).await.unwrap();
    let after = t.call(&host_associators(&host)).await;
    assert_eq!(
        property_of(
            &after.replace("VALUE.OBJECTWITHPATH", "VALUE.NAMEDINSTANCE"),
            "vm007",
            "EnabledState"
        )
        .as_deref(),
        Some("2")
    );
    t.driver
        .domain_define_xml(&domain_xml("fresh", 77), 0)
        .await
        .unwrap();
    let more = t.call(&host_associators(&host)).await;
    assert_eq!(more.matches("<VALUE.OBJECTWITHPATH>").count(), 42);
}

fn rich_domain_xml(name: &str, n: usize) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>00000000-0000-4000-8000-{n:012}</uuid>\
         <memory unit='KiB'>1048576</memory><vcpu>2</vcpu><os><type>hvm</type></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
         <source file='/var/lib/libvirt/images/{name}.qcow2'/><target dev='vda' bus='virtio'/></disk>\
         <interface type='network'><mac address='52:54:00:00:{:02x}:{:02x}'/><source network='default'/></interface>\
         <graphics type='vnc' port='-1' autoport='yes'/><console type='pty'/><input type='tablet' bus='usb'/>\
         </devices></domain>",
        n / 256,
        n % 256
    )
}

async fn ask(ops: &Operations, body: String) -> String {
    let request = parse_request(body.as_bytes(), &Limits::default()).unwrap();
    String::from_utf8(ops.handle(&request).await.into_bytes().await).unwrap()
}

/// Each guest's share of an enumeration is written once and reused while the guest is unchanged: the answers
/// are byte for byte those of a server that reuses nothing, for every class, flag and property list, before and
/// after a change of one guest (which alone is written again), a new guest, a removed one and a CIM method.
#[tokio::test]
async fn pieces_of_unchanged_guests_are_reused_and_answers_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    let driver = TestDriver::open(&dir.path().join("test")).await.unwrap();
    for i in 0..4 {
        driver
            .domain_define_xml(&rich_domain_xml(&format!("vm{i:03}"), i + 1), 0)
            .await
            .unwrap();
    }
    let conn: Connection = driver.clone().connection();
    let repo = Arc::new(builtin_repository().unwrap());
    let server = |reuse| {
        let mut ops = Operations::new(Arc::clone(&repo), conn.clone(), "localhost");
        ops.set_reuse(reuse);
        ops
    };
    let (plain, pieces) = (server(Reuse::Off), server(Reuse::Pieces));
    let classes: Vec<&str> = plain
        .provided_classes()
        .into_iter()
        .filter(|(ns, _)| *ns == "root/virt")
        .map(|(_, c)| c)
        .chain([
            "CIM_ManagedElement",
            "CIM_ResourceAllocationSettingData",
            "CIM_LogicalDevice",
        ])
        .collect();
    let variants = [
        "",
        "<IPARAMVALUE NAME=\"DeepInheritance\"><VALUE>FALSE</VALUE></IPARAMVALUE>",
        "<IPARAMVALUE NAME=\"PropertyList\"><VALUE.ARRAY><VALUE>InstanceID</VALUE><VALUE>Name</VALUE>\
         <VALUE>DeviceID</VALUE></VALUE.ARRAY></IPARAMVALUE>\
         <IPARAMVALUE NAME=\"IncludeQualifiers\"><VALUE>TRUE</VALUE></IPARAMVALUE>",
    ];
    let compare = |round: &'static str, skip: &'static [&'static str]| {
        let (classes, plain, pieces) = (&classes, &plain, &pieces);
        async move {
            for class in classes.iter().filter(|c| !skip.contains(c)) {
                for variant in variants {
                    let body = imethod_body(
                        "EnumerateInstances",
                        &format!(
                            "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"{class}\"/></IPARAMVALUE>{variant}"
                        ),
                    );
                    let want = ask(plain, body.clone()).await;
                    let got = ask(pieces, body).await;
                    assert_eq!(got, want, "{round}: {class} {variant}");
                }
            }
        }
    };
    compare("first", &[]).await;
    assert_eq!(pieces.pieces_reused(), 0, "nothing was held before");
    compare("again", &[]).await;
    let all_reused = pieces.pieces_reused();
    assert!(all_reused > 0, "unchanged guests' pieces are reused");

    // One guest changed: its pieces alone are written again (per-guest classes hold 4 pieces each).
    let dom = driver.domain_lookup_by_name("vm002").await.unwrap();
    driver
        .domain_set_memory(&dom, 524_288, virtcim::flags::AFFECT_CONFIG)
        .await
        .unwrap();
    compare("one guest changed", &[]).await;
    assert!(pieces.pieces_reused() > all_reused);
    let cs_body = || imethod_body("EnumerateInstances", &class_param());
    driver
        .domain_set_memory(&dom, 262_144, virtcim::flags::AFFECT_CONFIG)
        .await
        .unwrap();
    let before = pieces.pieces_reused();
    assert_eq!(ask(&pieces, cs_body()).await, ask(&plain, cs_body()).await);
    assert_eq!(
        pieces.pieces_reused() - before,
        4,
        "the four unchanged guests (the driver's own `test` too) are reused, the changed one written again"
    );

    // A new guest, a removed one, a started one and a CIM method: still exact.
    driver
        .domain_define_xml(&rich_domain_xml("vm100", 100), 0)
        .await
        .unwrap();
    let gone = driver.domain_lookup_by_name("vm000").await.unwrap();
    driver.domain_undefine(&gone, 0).await.unwrap();
    let started = driver.domain_lookup_by_name("vm001").await.unwrap();
    driver.domain_create(&started, 0).await.unwrap();
    compare("guests added, removed, started", &[]).await;

    // A pool holding a guest's disk: the disk's RASD (which depends on the host) changes with it.
    let disk_rasd = || {
        imethod_body(
            "EnumerateInstances",
            "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"KVM_DiskResourceAllocationSettingData\"/>\
             </IPARAMVALUE>",
        )
    };
    let before = ask(&pieces, disk_rasd()).await;
    let pool = driver
        .pool_create_xml(
            "<pool type='dir'><name>images</name><target><path>/var/lib/libvirt/images</path></target></pool>",
            0,
        )
        .await
        .unwrap();
    driver
        .vol_create_xml(
            &pool,
            "<volume><name>vm003.qcow2</name><capacity unit='G'>3</capacity></volume>",
            0,
        )
        .await
        .unwrap();
    let after = ask(&pieces, disk_rasd()).await;
    assert_eq!(after, ask(&plain, disk_rasd()).await);
    assert_ne!(after, before, "the new pool shows in the disk's RASD");
    assert!(after.contains("DiskPool/images"), "{after}");
    compare("a pool and a volume added", &[]).await;
    let reply = ask(&pieces, request_state_change("vm003", 2)).await;
    assert!(reply.contains("<RETURNVALUE"), "{reply}");
    let answer = ask(&pieces, cs_body()).await;
    assert_eq!(
        property_of(&answer, "vm003", "RequestedState").as_deref(),
        Some("2"),
        "provider state a CIM method changed is not served from an older piece"
    );
    // Each server keeps the RequestedState of its own CIM methods: the other classes must still agree.
    compare("after a CIM method", &[CS, "CIM_ManagedElement"]).await;
}

/// Over HTTP, a request that differs from an earlier one only in its message ID is answered from the earlier
/// request's answer without being decoded again: each answer carries its own request's ID (escaped where the
/// ID needs it), any other difference is another question, and a change made between two requests shows in
/// the second.
#[test]
fn requests_differing_only_in_their_message_id_share_an_answer_and_see_changes() {
    let wbem = Wbem::start(Options::default());
    let send = |req: Vec<u8>| {
        let resp = raw_exchange(wbem.http, &req, Duration::from_secs(30)).expect("response");
        assert_eq!(resp.status, 200, "{}", resp.body);
        resp.body
    };
    let ask = |body: &str| send(post("EnumerateInstances", body, ""));
    let with_id = |body: String, id: &str| {
        body.replacen("MESSAGE ID=\"1\"", &format!("MESSAGE ID=\"{id}\""), 1)
    };
    let enumerate = || imethod_body("EnumerateInstances", &class_param());
    let first = ask(&with_id(enumerate(), "100"));
    assert!(first.contains("<MESSAGE ID=\"100\""));
    assert_eq!(
        property_of(&first, "vm000", "EnabledState").as_deref(),
        Some("3")
    );
    for id in ["101", "a-b:c_d.e", "102"] {
        let again = ask(&with_id(enumerate(), id));
        assert_eq!(
            again,
            first.replace("<MESSAGE ID=\"100\"", &format!("<MESSAGE ID=\"{id}\"")),
            "{id}"
        );
    }
    // An ID written with a reference is decoded, and escaped again in the answer.
    let escaped = ask(&with_id(enumerate(), "x&amp;y"));
    assert!(escaped.contains("<MESSAGE ID=\"x&amp;y\""), "{escaped}");
    assert_eq!(
        escaped.replace("<MESSAGE ID=\"x&amp;y\"", "<MESSAGE ID=\"100\""),
        first
    );
    // Another parameter is another question.
    let narrow = ask(&with_id(
        imethod_body(
            "EnumerateInstances",
            &format!("{}{}", class_param(), name_only_list()),
        ),
        "103",
    ));
    assert!(!narrow.contains("EnabledState"));
    // A change between two requests shows in the second.
    let body = request_state_change("vm000", 2);
    let reply = send(
        format!(
            "POST /cimom HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml; charset=\"utf-8\"\r\n\
             CIMOperation: MethodCall\r\nCIMMethod: RequestStateChange\r\nCIMObject: \
             root/virt:{CS}.CreationClassName=\"{CS}\",Name=\"vm000\"\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    );
    assert!(reply.contains("<RETURNVALUE"), "{reply}");
    let after = ask(&with_id(enumerate(), "104"));
    assert!(after.contains("<MESSAGE ID=\"104\""));
    assert_eq!(
        property_of(&after, "vm000", "EnabledState").as_deref(),
        Some("2")
    );
    assert_eq!(
        ask(&with_id(enumerate(), "105")),
        after.replace("\"104\"", "\"105\"")
    );
}

/// Associators of one guest's computer system through an association that links only that guest's objects.
fn guest_associators(domain: &str, assoc: &str) -> String {
    imethod_body(
        "Associators",
        &format!(
            "<IPARAMVALUE NAME=\"ObjectName\"><INSTANCENAME CLASSNAME=\"{CS}\"><KEYBINDING \
             NAME=\"CreationClassName\"><KEYVALUE>{CS}</KEYVALUE></KEYBINDING><KEYBINDING NAME=\"Name\">\
             <KEYVALUE>{domain}</KEYVALUE></KEYBINDING></INSTANCENAME></IPARAMVALUE><IPARAMVALUE \
             NAME=\"AssocClass\"><CLASSNAME NAME=\"{assoc}\"/></IPARAMVALUE>"
        ),
    )
}

/// An association answer that stays within one guest's model (its devices through KVM_SystemDevice) follows
/// that guest alone: another guest's change leaves it reused, its own change shows in the next answer; an
/// answer through a superclass other associations share follows every change.
#[tokio::test]
async fn an_answer_within_one_guest_outlives_other_guests_changes() {
    let t = InProcess::with_domains(3).await;
    let devices = guest_associators("vm001", "KVM_SystemDevice");
    let ask_devices = || t.call(&devices);
    let first = ask_devices().await;
    assert!(first.contains("KVM_Processor"), "{first}");
    let vssd = t
        .call(&guest_associators("vm001", "KVM_SettingsDefineState"))
        .await;
    assert!(vssd.contains("KVM_VirtualSystemSettingData"), "{vssd}");
    let hits = t.ops.cache_hits();

    // Another guest started and redefined: vm001's answers are reused.
    let other = t.driver.domain_lookup_by_name("vm002").await.unwrap();
    t.driver.domain_create(&other, 0).await.unwrap();
    t.driver
        .domain_define_xml(&domain_xml("vm000", 1), 0)
        .await
        .unwrap();
    assert_eq!(ask_devices().await, first);
    assert_eq!(
        t.call(&guest_associators("vm001", "KVM_SettingsDefineState"))
            .await,
        vssd
    );
    assert_eq!(
        t.ops.cache_hits(),
        hits + 2,
        "reused after other guests' changes"
    );

    // Through a superclass that other associations share, the answer follows every change.
    let wide = guest_associators("vm001", "CIM_Dependency");
    t.call(&wide).await;
    let hits = t.ops.cache_hits();
    t.driver.domain_destroy(&other, 0).await.unwrap();
    t.call(&wide).await;
    assert_eq!(
        t.ops.cache_hits(),
        hits,
        "an answer that spans guests follows every change"
    );

    // Its own change: the processors it was given show at once.
    let two_vcpus = domain_xml("vm001", 2).replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>");
    t.driver.domain_define_xml(&two_vcpus, 0).await.unwrap();
    let changed = ask_devices().await;
    assert_ne!(changed, first);
    let repeated = ask_devices().await;
    assert_eq!(repeated, changed);
    // A server that reuses only what was written for unchanged guests reuses these answers too, and no other.
    let connection: Connection = t.driver.clone().connection();
    let mut pieces = Operations::new(
        Arc::new(builtin_repository().unwrap()),
        connection,
        "localhost",
    );
    pieces.set_reuse(Reuse::Pieces);
    assert_eq!(ask(&pieces, devices.clone()).await, changed);
    assert_eq!(ask(&pieces, devices.clone()).await, changed);
    assert_eq!(pieces.cache_hits(), 1);
    ask(&pieces, wide.clone()).await;
    ask(&pieces, wide.clone()).await;
    assert_eq!(
        pieces.cache_hits(),
        1,
        "an answer that spans guests is not reused"
    );
    // Undefined: the object is gone.
    let gone = t.driver.domain_lookup_by_name("vm001").await.unwrap();
    t.driver.domain_undefine(&gone, 0).await.unwrap();
    let missing = ask_devices().await;
    assert!(
        missing.contains("CIM_ERR_NOT_FOUND") || missing.contains("CODE=\"6\""),
        "{missing}"
    );
}
