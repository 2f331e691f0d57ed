//! The daemon configuration on the shipped files and `tests/data/config`: every shipped file loads, unknown and bad keys are refused with their name and line.

use super::{AuthMode, Config, ConfigError, WbemAuth};
use std::path::{Path, PathBuf};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn refused(text: &str) -> ConfigError {
    match Config::from_str(text) {
        Ok(config) => panic!("accepted:\n{text}\n-> {config:?}"),
        Err(err) => err,
    }
}

#[test]
fn every_file_in_conf_loads() {
    let mut loaded = 0;
    for entry in std::fs::read_dir(manifest_dir().join("conf")).expect("conf/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("conf") {
            continue;
        }
        Config::load(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        loaded += 1;
    }
    assert!(loaded >= 2, "conf/ should hold virtcimd.conf and dev.conf");
}

#[test]
fn the_documented_file_lists_every_key_with_its_default() {
    let text = std::fs::read_to_string(manifest_dir().join("conf/virtcimd.conf")).expect("read");
    // Uncommenting every `#key = value` line must give a valid config equal to the defaults, except the lines
    // that show an example rather than the default.
    let examples = [
        "listen_addr",
        "wbem_listen_addr",
        "sasl_allowed_username_list",
        "tls_allowed_dn_list",
        "wbem_allowed_dn_list",
        "credentials_file",
        "wbem_connect_uri",
        "unix_sock_dir",
        "state_dir",
        "key_file",
        "cert_file",
        "ca_file",
        "crl_file",
        "wbem_indication_ca_file",
        "host_uuid",
    ];
    let mut uncommented = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        let Some(setting) = line.strip_prefix('#') else {
            continue;
        };
        let Some((key, _)) = setting.split_once(" = ") else {
            continue;
        };
        if key.contains(' ') {
            continue;
        }
        keys.push(key.to_string());
        if !examples.contains(&key) {
            uncommented.push_str(setting);
            uncommented.push('\n');
        }
    }
    let from_file =
        Config::from_str(&uncommented).unwrap_or_else(|err| panic!("{err}\n{uncommented}"));
    assert_eq!(from_file, Config::default());
    let expected = [
        "listen_tcp",
        "listen_tls",
        "listen_addr",
        "tcp_port",
        "tls_port",
        "unix_sock_dir",
        "unix_sock_rw_perms",
        "unix_sock_ro_perms",
        "auth_unix_rw",
        "auth_unix_ro",
        "auth_tcp",
        "auth_tls",
        "key_file",
        "cert_file",
        "ca_file",
        "crl_file",
        "tls_no_verify_certificate",
        "tls_allowed_dn_list",
        "sasl_allowed_username_list",
        "max_clients",
        "max_anonymous_clients",
        "max_client_requests",
        "keepalive_interval",
        "keepalive_count",
        "state_dir",
        "credentials_file",
        "wbem_listen_addr",
        "wbem_http_port",
        "wbem_https_port",
        "listen_wbem_http",
        "listen_wbem_https",
        "wbem_auth",
        "wbem_allowed_dn_list",
        "wbem_connect_uri",
        "wbem_indication_retry_attempts",
        "wbem_indication_retry_interval",
        "wbem_indication_queue_size",
        "wbem_indication_ca_file",
        "host_uuid",
    ];
    for key in expected {
        assert!(
            keys.iter().any(|k| k == key),
            "conf/virtcimd.conf does not document {key}"
        );
    }
    assert_eq!(keys.len(), expected.len(), "documented keys: {keys:?}");
}

#[test]
fn libvirt_defaults() {
    let config = Config::from_str("").expect("empty config");
    assert!(!config.listen_tcp && !config.listen_tls);
    assert_eq!((config.tcp_port, config.tls_port), (16509, 16514));
    assert_eq!(
        (config.unix_sock_rw_perms, config.unix_sock_ro_perms),
        (0o700, 0o777)
    );
    assert_eq!(config.auth_tcp, AuthMode::Sasl);
    assert_eq!(config.auth_tls, AuthMode::None);
    assert_eq!(config.auth_unix_rw, AuthMode::None);
    assert_eq!(
        (
            config.max_clients,
            config.max_anonymous_clients,
            config.max_client_requests
        ),
        (5000, 20, 5)
    );
    assert_eq!((config.keepalive_interval, config.keepalive_count), (5, 5));
    assert_eq!(
        (config.wbem_http_port, config.wbem_https_port),
        (5988, 5989)
    );
    assert_eq!(config.wbem_auth, WbemAuth::Basic);
    for (text, auth) in [
        ("none", WbemAuth::None),
        ("basic", WbemAuth::Basic),
        ("cert", WbemAuth::Cert),
        ("cert,basic", WbemAuth::CertOrBasic),
        ("basic, cert", WbemAuth::CertOrBasic),
    ] {
        let parsed = Config::from_str(&format!("wbem_auth = \"{text}\"")).expect(text);
        assert_eq!(parsed.wbem_auth, auth, "{text}");
    }
    assert!(!config.listen_wbem_http && !config.listen_wbem_https);
    assert_eq!(
        config.unix_sock_rw_path(),
        config.unix_sock_dir.join("libvirt-sock")
    );
    assert_eq!(
        config.unix_sock_ro_path(),
        config.unix_sock_dir.join("libvirt-sock-ro")
    );
}

#[test]
fn a_debian_style_libvirtd_conf_loads() {
    let path = manifest_dir().join("tests/data/config/debian-libvirtd.conf");
    let config = Config::load(&path).unwrap_or_else(|err| panic!("{err}"));
    assert!(config.listen_tcp);
    assert_eq!(config.listen_addr.as_deref(), Some("192.168.0.1"));
    assert_eq!(config.unix_sock_rw_perms, 0o770);
    assert!(config.tls_no_verify_certificate);
    assert_eq!(
        config.tls_allowed_dn_list,
        Some(vec!["DN1".to_string(), "DN2".to_string()])
    );
    assert_eq!(
        config
            .sasl_allowed_username_list
            .as_deref()
            .map(<[String]>::len),
        Some(2)
    );
    let tls = config.tls_files();
    assert_eq!(tls.key, Path::new("/etc/pki/libvirt/private/serverkey.pem"));
    assert_eq!(tls.crl.as_deref(), Some(Path::new("/etc/pki/CA/cacrl.pem")));
}

#[test]
fn value_spellings() {
    let config = Config::from_str(
        "listen_tcp = true\nlisten_tls = 0\ntcp_port = 16600\ntls_port = \"0\"\nunix_sock_rw_perms = \"770\"\n\
         auth_tcp = \"none\"\nkeepalive_interval = -1\nwbem_auth = \"none\"\nlisten_wbem_http = 1\n",
    )
    .expect("parse");
    assert!(config.listen_tcp && !config.listen_tls);
    assert_eq!((config.tcp_port, config.tls_port), (16600, 0));
    assert_eq!(config.unix_sock_rw_perms, 0o770);
    assert_eq!(config.keepalive_interval, -1);
}

#[test]
fn an_unknown_key_is_refused_with_its_name_and_line() {
    let err = refused("listen_tcp = 0\n\n# comment\nlisten_tpc = 1\n");
    assert_eq!(err.key(), Some("listen_tpc"));
    let text = err.to_string();
    assert!(
        text.contains(":4:") && text.contains("unknown key `listen_tpc`"),
        "{text}"
    );

    let err = refused("[section]\nx = 1\n");
    assert_eq!(err.key(), Some("section"));
}

#[test]
fn libvirtd_keys_we_do_not_implement_are_refused_with_a_hint() {
    let path = manifest_dir().join("tests/data/config/libvirtd-only-keys.conf");
    let err = Config::load(&path).expect_err("unix_sock_group is not supported");
    let text = err.to_string();
    assert!(text.contains("libvirtd-only-keys.conf:3:"), "{text}");
    assert!(
        text.contains(
            "unknown key `unix_sock_group`: a libvirtd.conf key virtcimd does not support"
        ),
        "{text}"
    );
    let err = refused("log_level = 1\n");
    assert!(err.to_string().contains("RUST_LOG"), "{err}");
}

#[test]
fn bad_values_are_refused_naming_the_key() {
    let cases: &[(&str, &str)] = &[
        ("listen_tcp = 2", "listen_tcp"),
        ("listen_tcp = \"yes\"", "listen_tcp"),
        ("tcp_port = 70000", "tcp_port"),
        ("tcp_port = \"libvirt\"", "tcp_port"),
        ("tls_port = -1", "tls_port"),
        ("unix_sock_rw_perms = \"0788\"", "unix_sock_rw_perms"),
        ("unix_sock_rw_perms = 777", "unix_sock_rw_perms"),
        ("unix_sock_ro_perms = \"0077\"", "unix_sock_ro_perms"),
        ("auth_tcp = \"polkit\"", "auth_tcp"),
        ("auth_unix_rw = \"kerberos\"", "auth_unix_rw"),
        ("wbem_auth = \"digest\"", "wbem_auth"),
        ("wbem_auth = \"cert,digest\"", "wbem_auth"),
        ("wbem_auth = \"cert,cert\"", "wbem_auth"),
        ("wbem_auth = \"\"", "wbem_auth"),
        ("wbem_auth = \"none,basic\"", "wbem_auth"),
        (
            "listen_wbem_http = 1\nwbem_auth = \"cert\"\ncredentials_file = \"/c\"",
            "wbem_auth",
        ),
        ("wbem_allowed_dn_list = \"CN=x\"", "wbem_allowed_dn_list"),
        (
            "listen_wbem_https = 1\nwbem_auth = \"cert\"",
            "credentials_file",
        ),
        ("max_clients = -5", "max_clients"),
        ("max_clients = 0", "max_clients"),
        ("max_client_requests = 0", "max_client_requests"),
        ("keepalive_interval = 0", "keepalive_interval"),
        ("keepalive_interval = -2", "keepalive_interval"),
        ("keepalive_count = -1", "keepalive_count"),
        ("key_file = \"/k.pem\"", "cert_file"),
        ("key_file = \"/k\"\ncert_file = \"/c\"", "ca_file"),
        ("tls_allowed_dn_list = \"DN1\"", "tls_allowed_dn_list"),
        ("listen_addr = \"\"", "listen_addr"),
        (
            "wbem_connect_uri = \"test+bogus:///default\"",
            "wbem_connect_uri",
        ),
        ("auth_unix_rw = \"sasl\"", "credentials_file"),
        ("listen_wbem_https = 1", "credentials_file"),
        ("listen_tcp = 1", "credentials_file"),
        ("listen_tcp = 0\nlisten_tcp = 1", "listen_tcp"),
    ];
    for (text, key) in cases {
        let err = refused(text);
        let message = err.to_string();
        let names_key = err.key() == Some(*key) || message.contains(key);
        assert!(names_key, "{text:?}: {message}");
    }
}

#[test]
fn syntax_errors_carry_the_line() {
    let err = refused("listen_tcp = 0\nlisten_tls = = 1\n");
    assert!(matches!(err, ConfigError::Syntax { line: 2, .. }), "{err}");
}

#[test]
fn relative_paths_follow_the_config_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("virtcimd.conf");
    std::fs::write(
        &path,
        "state_dir = \"state\"\nunix_sock_dir = \"/abs/run\"\ncredentials_file = \"../creds\"\n",
    )
    .expect("write");
    let config = Config::load(&path).expect("load");
    assert_eq!(config.state_dir, tmp.path().join("state"));
    assert_eq!(config.unix_sock_dir, Path::new("/abs/run"));
    assert_eq!(config.credentials_file, Some(tmp.path().join("../creds")));
}

#[test]
fn a_missing_file_is_a_read_error() {
    let err = Config::load(Path::new("/nonexistent/virtcimd.conf")).expect_err("missing");
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(
        err.to_string().contains("No such file or directory"),
        "{err}"
    );
}

#[test]
fn anonymous_clients_never_exceed_max_clients() {
    let config = Config::from_str("max_clients = 10").expect("parse");
    assert_eq!(config.effective_max_anonymous_clients(), 10);
}
