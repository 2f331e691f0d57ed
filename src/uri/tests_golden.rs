//! Connection URIs on the golden files under `tests/data/uri`: parsing, the transport and port in effect, the CONNECT_OPEN name, formatting back.

use super::{
    AuthChoice, KnownHostsVerify, ProxyMode, RemoteMode, Transport, Uri, UriError, UriParam,
};
use crate::error::{Error, ErrorCode};

fn data(name: &str) -> Vec<(String, String)> {
    let path = format!("{}/tests/data/uri/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (uri, expected) = line.split_once('\t').unwrap_or((line, ""));
            (uri.to_string(), expected.to_string())
        })
        .collect()
}

#[test]
fn open_names_match_libvirt() {
    let cases = data("open-names.tsv");
    assert!(cases.len() >= 20);
    for (text, expected) in cases {
        let uri = Uri::parse(&text).unwrap_or_else(|err| panic!("{text}: {err}"));
        assert_eq!(uri.open_name(), expected, "open name of {text}");
    }
}

#[test]
fn invalid_uris_get_libvirts_messages() {
    for (text, expected) in data("invalid.tsv") {
        match Uri::parse(&text) {
            Ok(uri) => panic!("{text} parsed as {uri:?}"),
            Err(err) => assert_eq!(err.to_string(), expected, "error for {text}"),
        }
    }
}

struct Case {
    uri: &'static str,
    driver: &'static str,
    transport: Transport,
    user: Option<&'static str>,
    host: Option<&'static str>,
    port: Option<u16>,
    path: &'static str,
    in_process: bool,
}

#[test]
fn components_and_effective_transport() {
    let cases = [
        Case {
            uri: "test:///default",
            driver: "test",
            transport: Transport::Unix,
            user: None,
            host: None,
            port: None,
            path: "/default",
            in_process: true,
        },
        Case {
            uri: "qemu:///system",
            driver: "qemu",
            transport: Transport::Unix,
            user: None,
            host: None,
            port: None,
            path: "/system",
            in_process: false,
        },
        Case {
            uri: "test+unix:///default",
            driver: "test",
            transport: Transport::Unix,
            user: None,
            host: None,
            port: None,
            path: "/default",
            in_process: false,
        },
        Case {
            uri: "qemu://host.example/system",
            driver: "qemu",
            transport: Transport::Tls,
            user: None,
            host: Some("host.example"),
            port: Some(16514),
            path: "/system",
            in_process: false,
        },
        Case {
            uri: "test://host/default",
            driver: "test",
            transport: Transport::Tls,
            user: None,
            host: Some("host"),
            port: Some(16514),
            path: "/default",
            in_process: false,
        },
        Case {
            uri: "qemu+tcp://10.0.0.1/system",
            driver: "qemu",
            transport: Transport::Tcp,
            user: None,
            host: Some("10.0.0.1"),
            port: Some(16509),
            path: "/system",
            in_process: false,
        },
        Case {
            uri: "qemu+TCP://10.0.0.1:16600/system",
            driver: "qemu",
            transport: Transport::Tcp,
            user: None,
            host: Some("10.0.0.1"),
            port: Some(16600),
            path: "/system",
            in_process: false,
        },
        Case {
            uri: "qemu+ssh://root@[::1]:2222/system",
            driver: "qemu",
            transport: Transport::Ssh,
            user: Some("root"),
            host: Some("::1"),
            port: Some(2222),
            path: "/system",
            in_process: false,
        },
        Case {
            uri: "qemu+ssh://host/system",
            driver: "qemu",
            transport: Transport::Ssh,
            user: None,
            host: Some("host"),
            port: None,
            path: "/system",
            in_process: false,
        },
        Case {
            uri: "qemu+LibSSH2://us%65r@h/system",
            driver: "qemu",
            transport: Transport::Libssh2,
            user: Some("user"),
            host: Some("h"),
            port: None,
            path: "/system",
            in_process: false,
        },
        Case {
            uri: "qemu+libssh://h/system",
            driver: "qemu",
            transport: Transport::Libssh,
            user: None,
            host: Some("h"),
            port: None,
            path: "/system",
            in_process: false,
        },
        Case {
            uri: "test+ext:///default?command=/bin/true",
            driver: "test",
            transport: Transport::Ext,
            user: None,
            host: None,
            port: None,
            path: "/default",
            in_process: false,
        },
        Case {
            uri: "test+tls:///default",
            driver: "test",
            transport: Transport::Tls,
            user: None,
            host: None,
            port: Some(16514),
            path: "/default",
            in_process: false,
        },
        Case {
            uri: "remote://h:0/",
            driver: "remote",
            transport: Transport::Tls,
            user: None,
            host: Some("h"),
            port: Some(16514),
            path: "/",
            in_process: false,
        },
        Case {
            uri: "test:///path%20with%20space.xml",
            driver: "test",
            transport: Transport::Unix,
            user: None,
            host: None,
            port: None,
            path: "/path with space.xml",
            in_process: true,
        },
    ];
    for case in cases {
        let uri = Uri::parse(case.uri).unwrap_or_else(|err| panic!("{}: {err}", case.uri));
        assert_eq!(uri.driver, case.driver, "{}", case.uri);
        assert_eq!(uri.transport(), case.transport, "{}", case.uri);
        assert_eq!(uri.user.as_deref(), case.user, "{}", case.uri);
        assert_eq!(uri.host.as_deref(), case.host, "{}", case.uri);
        assert_eq!(uri.effective_port(), case.port, "{}", case.uri);
        assert_eq!(uri.path, case.path, "{}", case.uri);
        assert_eq!(uri.is_local_in_process(), case.in_process, "{}", case.uri);
    }
}

#[test]
fn remote_params_are_typed() {
    let uri = Uri::parse(
        "qemu+libssh://h/system?name=qemu:///session&command=/usr/bin/ssh&socket=/run/s&netcat=ncat\
         &keyfile=/k&sshauth=privkey,agent&known_hosts=/kh&known_hosts_verify=auto&no_verify=1&no_tty=0\
         &no_sanity=2&pkipath=/pki&tls_priority=NORMAL&mode=legacy&proxy=netcat&auth=sasl.DIGEST-MD5&authfile=/a\
         &other=kept",
    )
    .expect("parse");
    let params = uri.remote_params().expect("remote params");
    assert_eq!(params.name.as_deref(), Some("qemu:///session"));
    assert_eq!(params.command.as_deref(), Some("/usr/bin/ssh"));
    assert_eq!(params.socket.as_deref(), Some("/run/s"));
    assert_eq!(params.netcat.as_deref(), Some("ncat"));
    assert_eq!(params.keyfile.as_deref(), Some("/k"));
    assert_eq!(params.sshauth.as_deref(), Some("privkey,agent"));
    assert_eq!(params.known_hosts.as_deref(), Some("/kh"));
    assert_eq!(params.known_hosts_verify, Some(KnownHostsVerify::Auto));
    assert!(params.no_verify);
    assert!(!params.no_tty);
    assert!(params.no_sanity);
    assert_eq!(params.pkipath.as_deref(), Some("/pki"));
    assert_eq!(params.tls_priority.as_deref(), Some("NORMAL"));
    assert_eq!(params.mode, Some(RemoteMode::Legacy));
    assert_eq!(params.proxy, Some(ProxyMode::Netcat));
    assert_eq!(
        params.auth,
        Some(AuthChoice::Sasl {
            mechanism: Some("DIGEST-MD5".into())
        })
    );
    assert_eq!(params.authfile.as_deref(), Some("/a"));
    assert_eq!(uri.param("OTHER"), Some("kept"));
    assert_eq!(uri.open_name(), "qemu:///session");
    assert_eq!(uri.ssh_helper_name(), "qemu:///session");

    let plain =
        Uri::parse("qemu+ssh://h/system?socket=/run/s&mode=direct&keyfile=/k&x=1").expect("parse");
    assert_eq!(plain.open_name(), "qemu:///system?x=1");
    assert_eq!(
        plain.ssh_helper_name(),
        "qemu:///system?socket=%2Frun%2Fs&mode=direct&x=1"
    );
}

#[test]
fn remote_param_errors_are_libvirts() {
    let cases = [
        (
            "qemu+ssh://h/system?no_tty=yes",
            UriError::BadFlag("no_tty".into()),
        ),
        (
            "qemu+tls://h/system?no_verify",
            UriError::BadFlag("no_verify".into()),
        ),
        (
            "qemu:///system?mode=fast",
            UriError::UnknownMode("fast".into()),
        ),
        (
            "qemu+ssh://h/system?proxy=socks",
            UriError::UnknownProxy("socks".into()),
        ),
        (
            "qemu+libssh://h/system?known_hosts_verify=maybe",
            UriError::UnknownKnownHostsVerify("maybe".into()),
        ),
        ("test+ext:///default", UriError::ExtWithoutCommand),
    ];
    for (text, expected) in cases {
        let uri = Uri::parse(text).expect("parse");
        assert_eq!(uri.remote_params(), Err(expected), "{text}");
    }
    let err: Error = UriError::BadFlag("no_tty".into()).into();
    assert_eq!(err.code, ErrorCode::INVALID_ARG);
    assert_eq!(
        err.message,
        "invalid argument: Failed to parse value of URI component no_tty"
    );
    let err: Error = UriError::NoDriver("x".into()).into();
    assert_eq!(err.code, ErrorCode::NO_CONNECT);
}

#[test]
fn auth_choices() {
    let auth = |value: &str| {
        Uri::parse(&format!("qemu+tcp://h/system?auth={value}"))
            .and_then(|u| u.remote_params())
            .expect("parse")
            .auth
    };
    assert_eq!(auth("sasl"), Some(AuthChoice::Sasl { mechanism: None }));
    assert_eq!(auth("polkit"), Some(AuthChoice::Polkit));
    assert_eq!(auth("kerberos"), Some(AuthChoice::Other("kerberos".into())));
}

#[test]
fn formatting_round_trips() {
    let canonical = [
        "test:///default",
        "qemu:///system",
        "qemu+tcp://10.0.0.1:16600/system",
        "qemu+ssh://root@[::1]:2222/system?keyfile=/root/.ssh/id&no_tty=1",
        "qemu+ssh://root@[fe80::1]/system",
        "test+ext:///default?command=/usr/bin/nc%20-U&x=a%26b%3Dc%3Bd",
        "test+tls://host/default#part",
        "remote://h/",
        "test+tcp://h",
        "test:///dir/file%20name.xml",
        "test:///caf%C3%A9",
    ];
    for text in canonical {
        let uri = Uri::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
        assert_eq!(uri.to_string(), text, "formatting {text}");
    }
    // Non-canonical spellings format differently but parse back to the same value.
    let others = [
        "qemu+TLS://h/system",
        "test:///default?a=1;b=2",
        "test:///default?flag&&x=%41",
        "test:/default",
        "test:default",
        "test://h:0/default",
        "test+tcp://u%3Aser@h/a%3Fb?q=%23#f%20g",
    ];
    for text in canonical.into_iter().chain(others) {
        let uri = Uri::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
        let again =
            Uri::parse(&uri.to_string()).unwrap_or_else(|err| panic!("{text} -> {uri}: {err}"));
        assert_eq!(again, uri, "round trip of {text} via {uri}");
    }
    // Built by hand, with characters that need escaping everywhere.
    let built = Uri {
        driver: "test".into(),
        explicit_transport: Some(Transport::Tcp),
        user: Some("a b@c".into()),
        host: Some("example.org".into()),
        port: Some(1),
        path: "/p?#%".into(),
        params: vec![UriParam {
            name: "k&=;".into(),
            value: "v &=;#%+é".into(),
        }],
        fragment: Some("f #".into()),
    };
    assert_eq!(Uri::parse(&built.to_string()), Ok(built));
}

#[test]
fn transport_names_ignore_case() {
    for transport in Transport::ALL {
        let upper = transport.as_str().to_ascii_uppercase();
        assert_eq!(Transport::from_name(&upper), Some(transport));
        let uri = Uri::parse(&format!("qemu+{upper}:///system?command=x")).expect("parse");
        assert_eq!(uri.explicit_transport, Some(transport));
    }
    assert_eq!(Transport::from_name("sshcmd"), None);
}

#[test]
fn mangled_input_never_panics_and_what_parses_round_trips() {
    let samples = [
        "qemu+ssh://root@[::1]:2222/system?keyfile=/k&no_tty=1#f",
        "test:///default?a=%41;b&c=",
        "remote+tcp://u%3Ap@h:1/x/y?name=z",
    ];
    let extra = [
        '%', '[', ']', '@', ':', '/', '?', '#', '&', ';', '=', '+', ' ', 'é', '\0',
    ];
    for sample in samples {
        let chars: Vec<char> = sample.chars().collect();
        let mut inputs = Vec::new();
        for cut in 0..=chars.len() {
            inputs.push(chars[..cut].iter().collect::<String>());
            for c in extra {
                let mut changed = chars.clone();
                if cut < changed.len() {
                    changed[cut] = c;
                } else {
                    changed.push(c);
                }
                inputs.push(changed.into_iter().collect());
            }
        }
        for input in inputs {
            if let Ok(uri) = Uri::parse(&input) {
                let _ = uri.remote_params();
                let _ = uri.open_name();
                let again = Uri::parse(&uri.to_string())
                    .unwrap_or_else(|err| panic!("{input:?} -> {uri}: {err}"));
                assert_eq!(again, uri, "round trip of {input:?}");
            }
        }
    }
}
