//! The CIM-XML codec on real client requests (captured from pywbem 1.9 and wbemcli 1.6.3), golden responses,
//! and hostile input. That pywbem reads our golden responses as meant is an integration test (`tests/cim/xml.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cimxml::{
    parse_request, write_imethod_response, write_method_response, Call, CimError, CimXmlError,
    IReturn, Limits, MethodReturn, ParamValue, PullItems, PullResult, WriteOptions,
};
use crate::cim::{
    CimStatus, CimType, Class, Instance, ObjectPath, Property, Qualifier, TypeSpec, Value,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cim")
        .join(name)
}

fn request(name: &str) -> super::cimxml::Request {
    let bytes = std::fs::read(data(name)).expect("read request");
    parse_request(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Compares with a golden file; `VIRTCIM_BLESS=1` rewrites it.
fn golden(name: &str, actual: &str) {
    let path = data(name);
    if std::env::var_os("VIRTCIM_BLESS").is_some() {
        std::fs::write(&path, actual).expect("write golden");
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden {name} (VIRTCIM_BLESS=1)"));
    assert_eq!(actual, expected, "{name}");
}

fn cs_path(name: &str) -> ObjectPath {
    ObjectPath::instance(
        Some("root/virt"),
        "KVM_ComputerSystem",
        &[("CreationClassName", "KVM_ComputerSystem"), ("Name", name)],
    )
}

#[test]
fn pywbem_enumerate_requests() {
    let req = request("req_ein_pywbem.xml");
    assert_eq!(
        (req.message_id.as_str(), req.protocol_version.as_str()),
        ("1001", "1.0")
    );
    match &req.call {
        Call::Intrinsic {
            name, namespace, ..
        } => assert_eq!(
            (name.as_str(), namespace.as_str()),
            ("EnumerateInstanceNames", "root/virt")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        req.call.class_name_param("classname"),
        Some("KVM_HostSystem")
    );

    let req = request("req_ei_pywbem.xml");
    assert_eq!(req.call.name(), "EnumerateInstances");
    assert_eq!(
        req.call.class_name_param("ClassName"),
        Some("KVM_ComputerSystem")
    );
    assert_eq!(req.call.bool_param("DeepInheritance"), Ok(Some(false)));
    assert_eq!(req.call.bool_param("LocalOnly"), Ok(Some(false)));
    assert_eq!(req.call.bool_param("Missing"), Ok(None));
    assert_eq!(req.call.property_list(), Ok(None));
}

#[test]
fn method_calls_typed_and_untyped() {
    for file in ["req_rsc_pywbem.xml", "req_rsc_wbemcli.xml"] {
        let req = request(file);
        let Call::Extrinsic {
            name,
            target,
            params,
        } = &req.call
        else {
            panic!("{file}: not a method call")
        };
        assert_eq!(name, "RequestStateChange");
        assert!(target.same_object(&cs_path("demo1")), "{file}: {target}");
        assert_eq!(target.namespace.as_deref(), Some("root/virt"));
        assert_eq!(params.len(), 1);
        // Typed (pywbem) or untyped (wbemcli): both coerce to the declared uint16.
        let value = params[0]
            .1
            .to_value(&TypeSpec::scalar(CimType::Uint16))
            .expect("coerce");
        assert!(matches!(value, Value::Uint16(2 | 9)), "{file}: {value:?}");
    }
    assert!(
        matches!(request("req_rsc_wbemcli.xml").call.params()[0].1, ParamValue::Text(ref t) if t == "2")
    );
}

#[test]
fn get_instance_with_entities_and_property_list() {
    let req = request("req_gi_wbemcli.xml");
    let Some(ParamValue::InstanceName(path)) = req.call.param("InstanceName") else {
        panic!("no InstanceName")
    };
    assert_eq!(path.key_str("Name"), Some("demo & <1> \u{e9}"));
    assert_eq!(req.call.bool_param("IncludeClassOrigin"), Ok(Some(true)));
    assert_eq!(
        req.call.property_list(),
        Ok(Some(vec![
            "EnabledState".to_owned(),
            "RequestedState".to_owned()
        ]))
    );
}

#[test]
fn define_system_class_path_embedded_instances_and_refs() {
    let req = request("req_define_system.xml");
    let Call::Extrinsic { target, .. } = &req.call else {
        panic!("not a method call")
    };
    assert!(target.is_class_path());
    assert_eq!(target.class_name, "KVM_VirtualSystemManagementService");
    // MOF text stays a string for the operation layer, which has the classes to type it.
    let Some(ParamValue::Typed(Value::String(mof))) = req.call.param("SystemSettings") else {
        panic!("SystemSettings")
    };
    assert!(mof.starts_with(
        "instance of KVM_VirtualSystemSettingData { VirtualSystemIdentifier = \"vm4\";"
    ));
    let Some(ParamValue::Typed(Value::Array(_, items))) = req.call.param("ResourceSettings") else {
        panic!("ResourceSettings")
    };
    let Value::Instance(mem) = &items[0] else {
        panic!("embedded instance not decoded: {items:?}")
    };
    assert_eq!(mem.class_name, "KVM_MemResourceAllocationSettingData");
    assert_eq!(mem.get("VirtualQuantity"), Some(&Value::Uint64(256)));
    let Some(ParamValue::Reference(r)) = req.call.param("ReferenceConfiguration") else {
        panic!("reference")
    };
    assert_eq!(r.key_str("InstanceID"), Some("KVM:template"));
}

fn sample_instance(name: &str, state: u16) -> Instance {
    let mut inst = Instance::new("KVM_ComputerSystem");
    inst.set(
        "CreationClassName",
        Value::String("KVM_ComputerSystem".into()),
    );
    inst.set("Name", Value::String(name.into()));
    inst.set("EnabledState", Value::Uint16(state));
    inst.set(
        "OperationalStatus",
        Value::Array(CimType::Uint16, vec![Value::Uint16(2)]),
    );
    inst.set("Caption", Value::Null);
    inst.set("Description", Value::String("Virtual System <\"&'>".into()));
    inst.path = Some(cs_path(name));
    inst
}

#[test]
fn golden_responses() {
    let opts = WriteOptions::default();
    let names = IReturn::InstanceNames(vec![cs_path("demo1").local(), cs_path("demo2").local()]);
    golden(
        "resp_ein.xml",
        &write_imethod_response("1001", "EnumerateInstanceNames", &Ok(names), opts),
    );

    let insts = IReturn::NamedInstances(vec![
        sample_instance("demo1", 2),
        sample_instance("demo2", 3),
    ]);
    golden(
        "resp_ei.xml",
        &write_imethod_response("1001", "EnumerateInstances", &Ok(insts), opts),
    );

    let mut host_path = cs_path("demo1");
    host_path.host = Some("host.example".into());
    let mut assoc = sample_instance("demo1", 2);
    assoc.path = Some(host_path.clone());
    golden(
        "resp_assoc.xml",
        &write_imethod_response(
            "7",
            "Associators",
            &Ok(IReturn::ObjectsWithPath(vec![assoc])),
            opts,
        ),
    );
    golden(
        "resp_assoc_names.xml",
        &write_imethod_response(
            "8",
            "AssociatorNames",
            &Ok(IReturn::ObjectPaths(vec![host_path])),
            opts,
        ),
    );

    let err = CimError::new(CimStatus::NotFound, "Referenced domain `x' does not exist");
    golden(
        "resp_error.xml",
        &write_imethod_response("1004", "GetInstance", &Err(err), opts),
    );

    let job = ObjectPath::instance(
        Some("root/virt"),
        "CIM_ConcreteJob",
        &[("InstanceID", "j1")],
    );
    let outs = vec![("Job".to_owned(), Value::Reference(Arc::new(job)))];
    golden(
        "resp_rsc.xml",
        &write_method_response(
            "1002",
            "RequestStateChange",
            &Ok(MethodReturn {
                value: Value::Uint32(4096),
                out_params: outs,
            }),
        ),
    );

    let mut pulled = sample_instance("demo1", 2);
    pulled.path = Some(ObjectPath {
        host: Some("host.example".into()),
        ..cs_path("demo1")
    });
    let pull = PullResult {
        items: PullItems::Instances(vec![pulled]),
        enumeration_context: "ctx-1".into(),
        end_of_sequence: false,
    };
    golden(
        "resp_pull.xml",
        &write_imethod_response(
            "10",
            "OpenEnumerateInstances",
            &Ok(IReturn::Pull(pull)),
            opts,
        ),
    );

    let mut class = Class::new("KVM_ComputerSystem", Some("CIM_ComputerSystem"));
    class.qualifiers.push(Qualifier::new(
        "Description",
        Value::String("A virtual machine".into()),
    ));
    let mut uuid = Property::new("UUID", TypeSpec::scalar(CimType::String));
    uuid.class_origin = Some("KVM_ComputerSystem".into());
    class.properties.push(uuid);
    let opts = WriteOptions {
        include_qualifiers: true,
        include_class_origin: true,
    };
    golden(
        "resp_getclass.xml",
        &write_imethod_response("9", "GetClass", &Ok(IReturn::Class(class)), opts),
    );
}

#[test]
fn responses_parse_back() {
    // Our writer and parser agree on instances, references and embedded instances.
    let inst = sample_instance("round & trip", 9);
    let mut xml = String::new();
    super::cimxml::write_instance(&mut xml, &inst, WriteOptions::default());
    let back = super::cimxml::parse_embedded_object(&xml, &Limits::default()).expect("parse");
    let Value::Instance(back) = back else {
        panic!("not an instance")
    };
    assert_eq!(back.get("EnabledState"), Some(&Value::Uint16(9)));
    assert_eq!(back.get("Name"), inst.get("Name"));
    assert_eq!(back.get("OperationalStatus"), inst.get("OperationalStatus"));
    assert_eq!(back.get("Caption"), Some(&Value::Null));
}

#[test]
fn null_properties_of_schema_classes_are_written_as_any_others() {
    // An instance of a class (interned names: its null properties are written from each worker's table) and
    // the same instance with names from elsewhere (written property by property) give the same bytes, on the
    // first write and on later ones, for every kind of property a class declares.
    let mut class = Class::new("KVM_Probe", None);
    let declared = [
        ("Name", TypeSpec::scalar(CimType::String)),
        ("Caption", TypeSpec::scalar(CimType::String)),
        ("State", TypeSpec::scalar(CimType::Uint16)),
        ("Status", TypeSpec::array(CimType::Uint16)),
        (
            "Owner",
            TypeSpec::scalar(CimType::Reference(Some("CIM_System".into()))),
        ),
        (
            "Setting",
            TypeSpec::scalar(CimType::EmbeddedInstance(Some("CIM_X".into()))),
        ),
        ("Blob", TypeSpec::scalar(CimType::EmbeddedObject)),
        ("When", TypeSpec::scalar(CimType::DateTime)),
    ];
    for (name, ty) in &declared {
        class.properties.push(Property::new(name, ty.clone()));
    }
    let mut from_class = class.new_instance();
    from_class.set("Name", Value::String("a < b".into()));
    let mut by_hand = Instance::new("KVM_Probe");
    for (name, ty) in &declared {
        by_hand.set_typed(name, ty.clone(), Value::Null);
    }
    by_hand.set("Name", Value::String("a < b".into()));
    assert!(from_class
        .properties()
        .all(|p| p.name.as_static().is_some()));
    assert!(by_hand.properties().all(|p| p.name.as_static().is_none()));
    let write = |inst: &Instance| {
        let mut xml = String::new();
        super::cimxml::write_instance(&mut xml, inst, WriteOptions::default());
        xml
    };
    let expected = write(&by_hand);
    assert!(expected.contains(r#"<PROPERTY NAME="Caption" TYPE="string"></PROPERTY>"#));
    assert!(expected.contains(
        r#"<PROPERTY.REFERENCE NAME="Owner" REFERENCECLASS="CIM_System"></PROPERTY.REFERENCE>"#
    ));
    assert_eq!(write(&from_class), expected);
    assert_eq!(write(&from_class), expected, "from the table");
    // A property that changed type keeps its own form.
    from_class.set_typed("State", TypeSpec::scalar(CimType::Uint32), Value::Null);
    by_hand.set_typed("State", TypeSpec::scalar(CimType::Uint32), Value::Null);
    assert_eq!(write(&from_class), write(&by_hand));
    assert!(write(&from_class).contains(r#"<PROPERTY NAME="State" TYPE="uint32"></PROPERTY>"#));
}

fn wrap(call: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"1\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ>{call}</SIMPLEREQ></MESSAGE></CIM>"
    )
}

const EIN: &str = "<IMETHODCALL NAME=\"EnumerateInstanceNames\"><LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/></LOCALNAMESPACEPATH><IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"X\"/></IPARAMVALUE></IMETHODCALL>";

#[test]
fn hostile_and_broken_input() {
    let limits = Limits::default();
    let parse = |text: &str| parse_request(text.as_bytes(), &limits);
    assert!(parse(&wrap(EIN)).is_ok());
    let header = |r: Result<_, CimXmlError>| r.map(|_| ()).map_err(|e| e.cim_error_header());

    let doctype = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE CIM [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        &wrap(EIN)[21..]
    );
    assert_eq!(header(parse(&doctype)), Err("request-not-well-formed"));
    let entity = wrap(&EIN.replace("NAME=\"X\"", "NAME=\"&x;\""));
    assert_eq!(header(parse(&entity)), Err("request-not-well-formed"));
    let text_entity = wrap(&EIN.replace("<CLASSNAME NAME=\"X\"/>", "<VALUE>&ouml;</VALUE>"));
    assert_eq!(header(parse(&text_entity)), Err("request-not-well-formed"));
    assert_eq!(
        header(parse_request(b"<CIM \xff/>", &limits)),
        Err("request-not-well-formed")
    );
    assert_eq!(
        header(parse(&format!("{}<CIM/>", wrap(EIN)))),
        Err("request-not-well-formed")
    );
    assert_eq!(
        header(parse(&wrap(EIN).replace("</SIMPLEREQ>", "</SIMPLEREQX>"))),
        Err("request-not-well-formed")
    );
    assert_eq!(
        header(parse(&wrap(EIN).replace("</CIM>", ""))),
        Err("request-not-well-formed")
    );
    assert_eq!(header(parse("")), Err("request-not-well-formed"));

    let deep = format!("{}{}", "<A>".repeat(100), "</A>".repeat(100));
    assert_eq!(
        parse(&deep),
        Err(CimXmlError::LimitExceeded("nesting depth"))
    );
    let many_attrs: String = (0..40).map(|i| format!(" a{i}=\"1\"")).collect();
    assert_eq!(
        parse(&format!("<CIM{many_attrs}/>")),
        Err(CimXmlError::LimitExceeded("attributes per element"))
    );
    let tight = Limits {
        max_elements: 50,
        max_text: 100,
        ..Limits::default()
    };
    let many_elements = wrap(&EIN.replace(
        "</IMETHODCALL>",
        &format!("{}</IMETHODCALL>", "<IPARAMVALUE NAME=\"a\"/>".repeat(60)),
    ));
    assert_eq!(
        parse_request(many_elements.as_bytes(), &tight),
        Err(CimXmlError::LimitExceeded("element count"))
    );
    let big_text = wrap(&EIN.replace(
        "<CLASSNAME NAME=\"X\"/>",
        &format!("<VALUE>{}</VALUE>", "x".repeat(200)),
    ));
    assert_eq!(
        parse_request(big_text.as_bytes(), &tight),
        Err(CimXmlError::LimitExceeded("text size"))
    );

    assert_eq!(
        parse(&wrap("<MULTIREQ/>").replace("<SIMPLEREQ><MULTIREQ/></SIMPLEREQ>", "<MULTIREQ/>")),
        Err(CimXmlError::MultipleRequests)
    );
    assert_eq!(
        header(parse(
            &wrap(EIN).replace("CIMVERSION=\"2.0\"", "CIMVERSION=\"3.0\"")
        )),
        Err("unsupported-cim-version")
    );
    assert_eq!(
        header(parse(
            &wrap(EIN).replace("DTDVERSION=\"2.0\"", "DTDVERSION=\"1.1\"")
        )),
        Err("unsupported-dtd-version")
    );
    assert_eq!(
        header(parse(
            &wrap(EIN).replace("PROTOCOLVERSION=\"1.0\"", "PROTOCOLVERSION=\"2.0\"")
        )),
        Err("unsupported-protocol-version")
    );
    assert_eq!(header(parse(&wrap("<FOO/>"))), Err("request-not-valid"));
    assert_eq!(
        header(parse(&wrap(
            &EIN.replace(" NAME=\"EnumerateInstanceNames\"", "")
        ))),
        Err("request-not-valid")
    );
    let bad_type = wrap("<METHODCALL NAME=\"M\"><LOCALCLASSPATH><LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/></LOCALNAMESPACEPATH><CLASSNAME NAME=\"C\"/></LOCALCLASSPATH><PARAMVALUE NAME=\"P\" PARAMTYPE=\"uint8\"><VALUE>300</VALUE></PARAMVALUE></METHODCALL>");
    assert_eq!(header(parse(&bad_type)), Err("request-not-valid"));
    // Embedded instances nested past the limit.
    let mut nested = String::from("<INSTANCE CLASSNAME=\"C\"/>");
    for _ in 0..6 {
        nested = format!(
            "<INSTANCE CLASSNAME=\"C\"><PROPERTY NAME=\"E\" TYPE=\"string\" EmbeddedObject=\"instance\"><VALUE>{}</VALUE></PROPERTY></INSTANCE>",
            quick_escape(&nested)
        );
    }
    assert_eq!(
        super::cimxml::parse_embedded_object(&nested, &limits),
        Err(CimXmlError::LimitExceeded("embedded object nesting"))
    );
    // Too many key bindings or parameters: a CIM error in a normal response, echoing the message ID and method.
    let keys: String = (0..70)
        .map(|i| format!("<KEYBINDING NAME=\"K{i}\"><KEYVALUE>v</KEYVALUE></KEYBINDING>"))
        .collect();
    let many_keys = wrap(&EIN.replace(
        "<CLASSNAME NAME=\"X\"/>",
        &format!("<INSTANCENAME CLASSNAME=\"X\">{keys}</INSTANCENAME>"),
    ));
    let err = parse(&many_keys).expect_err("too many keys");
    assert!(
        matches!(
            err,
            CimXmlError::ServerLimit {
                what: "key bindings",
                ..
            }
        ),
        "{err:?}"
    );
    let reply = err.error_response().expect("answered as a CIM error");
    assert!(
        reply.contains("<MESSAGE ID=\"1\"")
            && reply
                .contains("<IMETHODRESPONSE NAME=\"EnumerateInstanceNames\"><ERROR CODE=\"27\""),
        "{reply}"
    );
    let params: String = (0..300)
        .map(|i| format!("<PARAMVALUE NAME=\"P{i}\"/>"))
        .collect();
    let many_params = wrap(&format!("<METHODCALL NAME=\"M\"><LOCALCLASSPATH><LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/></LOCALNAMESPACEPATH><CLASSNAME NAME=\"C\"/></LOCALCLASSPATH>{params}</METHODCALL>"));
    let err = parse(&many_params).expect_err("too many params");
    assert!(err
        .error_response()
        .is_some_and(|r| r.contains("<METHODRESPONSE NAME=\"M\"><ERROR CODE=\"27\"")));
    assert_eq!(CimXmlError::NotValid("x".into()).error_response(), None);

    // Leading whitespace before the declaration is tolerated (seen from some clients).
    assert!(parse(&format!("\n  {}", wrap(EIN))).is_ok());
}

fn quick_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Characters XML 1.0 forbids, raw or as references, anywhere in a request: `request-not-well-formed`.
#[test]
fn forbidden_characters_in_requests() {
    let limits = Limits::default();
    let refused = [
        EIN.replace("NAME=\"X\"", "NAME=\"X\u{0}\""),
        EIN.replace("NAME=\"X\"", "NAME=\"X&#0;\""),
        EIN.replace("NAME=\"X\"", "NAME=\"X&#x1;\""),
        EIN.replace("NAME=\"X\"", "NAME=\"X&#31;\""),
        EIN.replace("<CLASSNAME", "<!-- \u{1} --><CLASSNAME"),
        EIN.replace("<CLASSNAME", "<?pi \u{8}?><CLASSNAME"),
        EIN.replace("NAME=\"X\"", "NAME=\"X\u{FFFE}\""),
        EIN.replace("NAME=\"X\"", "NAME=\"X&#xFFFF;\""),
        EIN.replace("<CLASSNAME NAME=\"X\"/>", "<VALUE>a&#x1B;[31m</VALUE>"),
    ];
    for call in refused {
        let err = parse_request(wrap(&call).as_bytes(), &limits).expect_err(&call);
        assert_eq!(
            err.cim_error_header(),
            "request-not-well-formed",
            "{call:?}"
        );
    }
}

/// Whatever a driver's strings hold, the response is XML 1.0 a parser accepts: forbidden characters become
/// U+FFFD in values, key values, names and error descriptions; tab, LF and CR stay.
#[test]
fn forbidden_characters_never_reach_a_response() {
    let bad = "a\u{0}b\u{1}c\u{1F}d\u{FFFE}e\u{FFFF}f\tg\u{FFFD}h\u{EFBF}i";
    let clean = "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{FFFD}f\tg\u{FFFD}h\u{EFBF}i";
    let mut inst = sample_instance(bad, 2);
    inst.set("Description", Value::String(format!("<{bad}>")));
    let forbidden = |text: &str| {
        text.chars()
            .find(|c| !crate::xml::is_xml_char(*c))
            .map(|c| format!("U+{:04X}", u32::from(c)))
    };
    let responses = [
        write_imethod_response(
            "1",
            "EnumerateInstances",
            &Ok(IReturn::NamedInstances(vec![inst.clone()])),
            WriteOptions::default(),
        ),
        write_imethod_response(
            "1",
            "GetInstance",
            &Err(CimError::new(
                CimStatus::NotFound,
                format!("Referenced domain `{bad}' does not exist"),
            )),
            WriteOptions::default(),
        ),
        write_method_response(
            "1",
            "DefineSystem",
            &Ok(MethodReturn {
                value: Value::Uint32(0),
                out_params: vec![
                    (
                        "ResultingSystem".into(),
                        Value::Reference(Arc::new(cs_path(bad))),
                    ),
                    ("Embedded".into(), Value::Instance(Box::new(inst.clone()))),
                ],
            }),
        ),
        write_method_response(
            "1",
            "RequestStateChange",
            &Err(CimError::new(CimStatus::Failed, bad)),
        ),
    ];
    let caps = crate::xml::Caps {
        input_bytes: usize::MAX,
        depth: 64,
        elements: 10_000,
        attributes: 16,
        attribute_bytes: 1 << 20,
        element_text_bytes: 1 << 20,
        text_bytes: usize::MAX,
        normalize_line_ends: false,
    };
    for response in &responses {
        assert_eq!(forbidden(response), None, "{response}");
        crate::xml::parse(response, &caps).unwrap_or_else(|e| panic!("{e}: {response}"));
    }
    assert!(responses[0].contains(&format!("<VALUE>{clean}</VALUE>")));
    assert!(responses[1].contains(&format!("Referenced domain `{clean}&apos; does not exist")));
    assert!(responses[3].contains(&format!("DESCRIPTION=\"{clean}\"")));
}
