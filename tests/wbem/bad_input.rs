//! Hostile input seen in an attack: characters XML 1.0 forbids in a request (raw or as references) are refused
//! as `request-not-well-formed`; a driver string holding one never reaches a response as is; a body framed by
//! both Transfer-Encoding and Content-Length is refused with 400, never served, and the connection closed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::support::python::{run, venv_python};
use crate::support::virsh::{have_virsh, ok_blocking};
use crate::support::wbem::{imethod_body, post, raw_exchange, read_response, Options, Wbem};

const TIMEOUT: Duration = Duration::from_secs(30);

fn enum_instances(class: &str) -> Vec<u8> {
    post(
        "EnumerateInstances",
        &imethod_body(
            "EnumerateInstances",
            &format!("<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"{class}\"/></IPARAMVALUE>"),
        ),
        "",
    )
}

/// The first character XML 1.0 forbids in `text`, if any.
fn forbidden(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    })
}

#[test]
fn forbidden_characters_in_a_request_are_not_well_formed() {
    let mut wbem = Wbem::start(Options::default());
    let cases = [
        ("raw NUL in a name", "KVM_Computer\u{0}System".to_string()),
        ("raw U+0001", "KVM_\u{1}".to_string()),
        ("&#0;", "KVM_&#0;".to_string()),
        ("&#x1;", "KVM_&#x1;".to_string()),
        ("&#x1B;", "KVM_&#x1B;".to_string()),
        ("&#xFFFE;", "KVM_&#xFFFE;".to_string()),
    ];
    for (what, class) in cases {
        let resp = raw_exchange(wbem.http, &enum_instances(&class), TIMEOUT)
            .unwrap_or_else(|| panic!("{what}: no response"));
        assert_eq!(resp.status, 400, "{what}: {resp:?}");
        assert_eq!(
            resp.header("CIMError"),
            Some("request-not-well-formed"),
            "{what}: {resp:?}"
        );
    }
    // In a comment, where no value is read: refused all the same.
    let body = imethod_body(
        "EnumerateInstances",
        "<!-- \u{0} --><IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"KVM_ComputerSystem\"/></IPARAMVALUE>",
    );
    let resp =
        raw_exchange(wbem.http, &post("EnumerateInstances", &body, ""), TIMEOUT).expect("response");
    assert_eq!(
        (resp.status, resp.header("CIMError")),
        (400, Some("request-not-well-formed"))
    );
    // The server serves on.
    let resp =
        raw_exchange(wbem.http, &enum_instances("KVM_ComputerSystem"), TIMEOUT).expect("response");
    assert_eq!(resp.status, 200);
    assert!(wbem.alive());
}

#[test]
fn a_driver_string_with_control_characters_is_cleaned_in_responses() {
    if !have_virsh() {
        eprintln!("virsh not installed; skipped");
        return;
    }
    let wbem = Wbem::start(Options::default());
    let uri = format!(
        "test+unix:///default?socket={}",
        wbem.dir.path().join("run/libvirt-sock").display()
    );
    // The test driver, like libvirt's, takes any new name but '/': one with a NUL-free control sequence.
    let odd = "odd\u{1}name\u{1b}[31m\u{7}";
    ok_blocking(&uri, &["domrename", "vm002", odd]);
    let listed = ok_blocking(&uri, &["list", "--all", "--name"]);
    assert!(listed.contains(odd), "{listed:?}");

    let resp =
        raw_exchange(wbem.http, &enum_instances("KVM_ComputerSystem"), TIMEOUT).expect("response");
    assert_eq!(resp.status, 200);
    assert_eq!(forbidden(&resp.body), None, "{:?}", resp.body);
    let cleaned = "odd\u{FFFD}name\u{FFFD}[31m\u{FFFD}";
    assert!(resp.body.contains(cleaned), "{}", resp.body);
    // Settings and associations of that guest echo its name too: the classes read from the definition's XML
    // get it without the control characters (the XML writer drops them, as libvirt's does), the others with
    // them replaced; never raw.
    for class in [
        "KVM_VirtualSystemSettingData",
        "KVM_SettingsDefineState",
        "KVM_HostedDependency",
        "KVM_Processor",
    ] {
        let resp = raw_exchange(wbem.http, &enum_instances(class), TIMEOUT).expect("response");
        assert_eq!(resp.status, 200, "{class}");
        assert_eq!(forbidden(&resp.body), None, "{class}: {:?}", resp.body);
        assert!(
            resp.body.contains(cleaned) || resp.body.contains("oddname[31m"),
            "{class}: {}",
            resp.body
        );
    }
    // pywbem's parser accepts the answer and sees the replacement characters.
    let script = "import pywbem, sys\n\
                  c = pywbem.WBEMConnection(sys.argv[1], default_namespace='root/virt')\n\
                  names = sorted(i['Name'] for i in c.EnumerateInstances('KVM_ComputerSystem'))\n\
                  print(ascii(names))\n";
    let (ok, out, err) = run(Command::new(venv_python())
        .args(["-c", script])
        .arg(wbem.url()));
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("odd\\ufffdname\\ufffd[31m\\ufffd"), "{out}");
}

/// The EnabledState of the guest `name` in an EnumerateInstances KVM_ComputerSystem answer.
fn enabled_state(body: &str, name: &str) -> String {
    let inst = body
        .split("<VALUE.NAMEDINSTANCE>")
        .find(|i| i.contains(&format!("<VALUE>{name}</VALUE>")))
        .unwrap_or_else(|| panic!("{name} not listed: {body}"));
    let after = &inst[inst.find("NAME=\"EnabledState\"").expect("EnabledState")..];
    let value = &after[after.find("<VALUE>").expect("value") + "<VALUE>".len()..];
    value[..value.find('<').expect("end")].to_string()
}

/// Sends `head` + `body` on a fresh connection, then a valid request on the same connection; returns the
/// first response and whether the connection was closed after it (the second request never answered).
fn exchange_then_pipelined(wbem: &Wbem, head: &str, body: &[u8]) -> (u16, bool) {
    let mut stream = TcpStream::connect(wbem.http).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut bytes = head.as_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(&enum_instances("KVM_ComputerSystem"));
    stream.write_all(&bytes).expect("send");
    let first = read_response(&mut stream).expect("first response");
    let mut rest = Vec::new();
    let closed = match stream.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty() || !String::from_utf8_lossy(&rest).contains("HTTP/1.1 200"),
        Err(_) => false,
    };
    (first.status, closed)
}

#[test]
fn transfer_encoding_with_content_length_is_refused_and_never_served() {
    let wbem = Wbem::start(Options::default());
    // A method call that would start vm000, framed both ways.
    let call = "<?xml version=\"1.0\" encoding=\"utf-8\" ?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE \
        ID=\"1\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><METHODCALL NAME=\"RequestStateChange\"><LOCALINSTANCEPATH>\
        <LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/><NAMESPACE NAME=\"virt\"/></LOCALNAMESPACEPATH>\
        <INSTANCENAME CLASSNAME=\"KVM_ComputerSystem\"><KEYBINDING NAME=\"CreationClassName\"><KEYVALUE>\
        KVM_ComputerSystem</KEYVALUE></KEYBINDING><KEYBINDING NAME=\"Name\"><KEYVALUE>vm000</KEYVALUE>\
        </KEYBINDING></INSTANCENAME></LOCALINSTANCEPATH><PARAMVALUE NAME=\"RequestedState\" \
        PARAMTYPE=\"uint16\"><VALUE>2</VALUE></PARAMVALUE></METHODCALL></SIMPLEREQ></MESSAGE></CIM>";
    let chunked = format!("{:x}\r\n{call}\r\n0\r\n\r\n", call.len());
    let headers = |framing: &str| {
        format!(
            "POST /cimom HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml; charset=\"utf-8\"\r\n\
             CIMOperation: MethodCall\r\nCIMMethod: RequestStateChange\r\nCIMObject: root%2Fvirt%3A\
             KVM_ComputerSystem.CreationClassName%3D%22KVM_ComputerSystem%22%2CName%3D%22vm000%22\r\n\
             {framing}\r\n"
        )
    };
    let cases = [
        (
            "chunked, then Content-Length",
            format!(
                "Transfer-Encoding: chunked\r\nContent-Length: {}\r\n",
                chunked.len()
            ),
            400,
        ),
        (
            "Content-Length, then chunked",
            format!(
                "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
                chunked.len()
            ),
            400,
        ),
        (
            "Content-Length 0 and chunked",
            "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n".to_string(),
            400,
        ),
        (
            "gzip, chunked",
            "Transfer-Encoding: gzip, chunked\r\n".to_string(),
            501,
        ),
    ];
    for (what, framing, status) in cases {
        let (got, closed) = exchange_then_pipelined(&wbem, &headers(&framing), chunked.as_bytes());
        assert_eq!(got, status, "{what}");
        assert!(
            closed,
            "{what}: the connection stayed open and served the next request"
        );
    }
    // None of them was served: vm000 is still shut off (EnabledState 3).
    let resp =
        raw_exchange(wbem.http, &enum_instances("KVM_ComputerSystem"), TIMEOUT).expect("response");
    assert_eq!(resp.status, 200);
    assert_eq!(enabled_state(&resp.body, "vm000"), "3");
    // The same call framed one way only is served (the refusals were about framing alone).
    let (got, _) = exchange_then_pipelined(
        &wbem,
        &headers("Transfer-Encoding: chunked\r\n"),
        chunked.as_bytes(),
    );
    assert_eq!(got, 200);
    let resp =
        raw_exchange(wbem.http, &enum_instances("KVM_ComputerSystem"), TIMEOUT).expect("response");
    assert_eq!(enabled_state(&resp.body, "vm000"), "2");
}
