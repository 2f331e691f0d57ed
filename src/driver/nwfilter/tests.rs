//! The filter store's rules, with a firewall that records what it is told.

use super::*;

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Firewall for Recorder {
    fn apply(&self, script: &str) -> Result<()> {
        self.0.lock().unwrap().push(script.to_string());
        Ok(())
    }
}

fn open(dir: &Path) -> (NwFilterStore, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let store = NwFilterStore::open(dir, "tt".into(), recorder.clone()).unwrap();
    (store, recorder)
}

const BINDING: &str = "<filterbinding><owner><name>g</name><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid></owner>\
    <portdev name='vnet3'/><mac address='52:54:00:12:34:56'/>\
    <filterref filter='clean-traffic'><parameter name='IP' value='10.0.0.9'/></filterref></filterbinding>";

#[tokio::test]
async fn stock_filters_are_there_from_the_start_and_stay_editable() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let names: Vec<String> = store
        .list_all_nwfilters(0)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    for name in [
        "clean-traffic",
        "no-mac-spoofing",
        "no-ip-spoofing",
        "no-arp-spoofing",
        "allow-dhcp",
        "allow-arp",
    ] {
        assert!(names.iter().any(|n| n == name), "{name}");
    }
    let clean = store
        .nwfilter_lookup_by_name("clean-traffic")
        .await
        .unwrap();
    assert_eq!(clean.uuid, stock::stock_uuid("clean-traffic"));
    let xml = store.nwfilter_get_xml_desc(&clean, 0).await.unwrap();
    assert!(xml.starts_with("<filter name='clean-traffic' chain='root'>\n"));
    store.nwfilter_undefine(&clean).await.unwrap();
    drop(store);
    // Undefined stays undefined: the stock set is written only into a new directory.
    let (store, _) = open(dir.path());
    assert!(store
        .nwfilter_lookup_by_name("clean-traffic")
        .await
        .is_err());
    assert_eq!(
        store.list_all_nwfilters(0).await.unwrap().len(),
        names.len() - 1
    );
}

#[tokio::test]
async fn define_follows_libvirts_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let a = store
        .nwfilter_define_xml(
            "<filter name='loop-a'><filterref filter='loop-b'/></filter>",
            0,
        )
        .await
        .unwrap();
    let b = store
        .nwfilter_define_xml(
            "<filter name='loop-b'><filterref filter='no-mac-spoofing'/></filter>",
            0,
        )
        .await
        .unwrap();
    let err = store
        .nwfilter_define_xml(
            &format!(
                "<filter name='loop-b'><uuid>{}</uuid><filterref filter='loop-a'/></filter>",
                b.uuid
            ),
            0,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (
            ErrorCode::OPERATION_FAILED,
            "operation failed: filter would introduce a loop"
        )
    );
    let err = store
        .nwfilter_define_xml(
            &format!("<filter name='other'><uuid>{}</uuid></filter>", a.uuid),
            0,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "operation failed: filter with same UUID but different name ('loop-a') already exists"
    );
    let err = store
        .nwfilter_define_xml(
            "<filter name='loop-a'><uuid>11111111-2222-3333-4444-555555555555</uuid></filter>",
            0,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        format!(
            "operation failed: filter 'loop-a' already exists with uuid {}",
            a.uuid
        )
    );
    // Redefining with the same UUID replaces it (without one, a new UUID is generated: another filter).
    let again = store
        .nwfilter_define_xml(
            &format!("<filter name='loop-a'><uuid>{}</uuid></filter>", a.uuid),
            0,
        )
        .await
        .unwrap();
    assert_eq!(again, a);
    let err = store
        .nwfilter_define_xml("<filter name='x'/>", 2)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::INVALID_ARG);
    let err = store.nwfilter_lookup_by_name("zz").await.unwrap_err();
    assert_eq!(
        err.message,
        "Network filter not found: no nwfilter with matching name 'zz'"
    );
    drop(store);
    let (store, _) = open(dir.path());
    assert_eq!(store.nwfilter_lookup_by_uuid(&a.uuid).await.unwrap(), a);
}

#[tokio::test]
async fn bindings_are_enforced_recorded_and_keep_their_filters_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let (store, recorder) = open(dir.path());
    assert!(
        recorder.0.lock().unwrap().is_empty(),
        "no table before a binding"
    );
    let binding = store.nwfilter_binding_create_xml(BINDING, 0).await.unwrap();
    assert_eq!(
        binding,
        NwFilterBindingRef {
            portdev: "vnet3".into(),
            filtername: "clean-traffic".into()
        }
    );
    assert!(recorder.0.lock().unwrap()[0].contains("ip saddr == 10.0.0.9 return"));
    let err = store
        .nwfilter_binding_create_xml(BINDING, 0)
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "operation failed: filter binding for port vnet3 already exists"
    );
    assert_eq!(
        store
            .nwfilter_binding_get_xml_desc(&binding, 0)
            .await
            .unwrap(),
        format_nwfilter_binding(&parse_nwfilter_binding(BINDING, false).unwrap())
    );
    // A filter reached from a binding cannot go; one no binding reaches can.
    for name in ["clean-traffic", "no-arp-ip-spoofing"] {
        let filter = store.nwfilter_lookup_by_name(name).await.unwrap();
        let err = store.nwfilter_undefine(&filter).await.unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                ErrorCode::OPERATION_INVALID,
                "Requested operation is not valid: nwfilter is in use"
            )
        );
    }
    let unused = store
        .nwfilter_lookup_by_name("no-ipv6-spoofing")
        .await
        .unwrap();
    store.nwfilter_undefine(&unused).await.unwrap();
    // Redefining a filter in use rebuilds the rules.
    let before = recorder.0.lock().unwrap().len();
    store
        .nwfilter_define_xml(
            &format!(
                "<filter name='allow-incoming-ipv4' chain='ipv4'><uuid>{}</uuid><rule direction='in' action='drop'/></filter>",
                stock::stock_uuid("allow-incoming-ipv4")
            ),
            0,
        )
        .await
        .unwrap();
    assert_eq!(recorder.0.lock().unwrap().len(), before + 1);
    drop(store);
    // After a restart the binding is there and enforced again.
    let (store, recorder) = open(dir.path());
    assert_eq!(
        store.list_all_nwfilter_bindings(0).await.unwrap(),
        std::slice::from_ref(&binding)
    );
    assert_eq!(recorder.0.lock().unwrap().len(), 1);
    store.nwfilter_binding_delete(&binding).await.unwrap();
    assert_eq!(
        recorder.0.lock().unwrap().last().unwrap(),
        "add table bridge tt\ndelete table bridge tt\n"
    );
    let err = store
        .nwfilter_binding_lookup_by_port_dev("vnet3")
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (
            ErrorCode::NO_NWFILTER_BINDING,
            "Network filter binding not found: no nwfilter binding for port dev 'vnet3'"
        )
    );
    let missing = BINDING.replace("clean-traffic", "nope");
    let err = store
        .nwfilter_binding_create_xml(&missing, 0)
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "internal error: referenced filter 'nope' is missing"
    );
    assert!(store
        .list_all_nwfilter_bindings(0)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path().join("bindings"))
            .unwrap()
            .count(),
        0
    );
}
