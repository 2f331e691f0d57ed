//! Secrets and network filters behind `qemu:///system`, driven by stock virsh and python3-libvirt over
//! virtcimd's sockets: secret values sealed at rest and kept from read-only clients, private secrets never read
//! back, libvirt's stock filters present from the start, and filter bindings enforced as nftables rules that a
//! daemon restart keeps and a delete removes.
//!
//! Each test runs its own daemon on a temp dir; names carry the test process's pid. Every nftables table a test's
//! daemon made is removed at the end, however the test ends.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::daemon::Daemon;
use crate::support::python::libvirt_python;
use crate::support::virsh::have_virsh;
use crate::support::virsh::{fails_blocking as fails, ok_blocking as ok};

fn uri(socket: &Path) -> String {
    format!("qemu+unix:///system?socket={}", socket.display())
}

fn python(script: &str, args: &[&str]) -> String {
    let python = libvirt_python().expect("python3-libvirt");
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn peers_present() -> bool {
    let present = have_virsh() && libvirt_python().is_some();
    if !present {
        eprintln!("virsh or python3-libvirt not installed, skipping");
    }
    present
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        }
    }
    None
}

#[test]
fn secrets_through_virsh_and_python() {
    if !peers_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "");
    let rw = uri(&daemon.rw_socket());
    let ro = uri(&daemon.ro_socket());
    let usage = format!("client.virtcim-{}", std::process::id());
    let xml = dir.path().join("secret.xml");
    std::fs::write(
        &xml,
        format!("<secret ephemeral='no' private='no'><description>test</description><usage type='ceph'><name>{usage}</name></usage></secret>"),
    )
    .unwrap();
    let out = ok(&rw, &["secret-define", &xml.to_string_lossy()]);
    let uuid = out
        .split_whitespace()
        .find(|word| uuid::Uuid::parse_str(word).is_ok())
        .unwrap_or_else(|| panic!("no UUID in {out}"))
        .to_string();
    // The same usage under another UUID is refused with libvirt's words.
    let other = dir.path().join("other.xml");
    std::fs::write(
        &other,
        format!(
            "<secret><uuid>{}</uuid><usage type='ceph'><name>{usage}</name></usage></secret>",
            uuid::Uuid::new_v4()
        ),
    )
    .unwrap();
    let err = fails(&rw, &["secret-define", &other.to_string_lossy()]);
    assert!(
        err.contains(&format!(
            "a secret with UUID {uuid} already defined for use with {usage}"
        )),
        "{err}"
    );

    let plain = "correct horse battery staple";
    let b64 = base64_encode(plain.as_bytes());
    ok(&rw, &["secret-set-value", &uuid, "--base64", &b64]);
    assert_eq!(ok(&rw, &["secret-get-value", &uuid]).trim(), b64);
    let list = ok(&rw, &["secret-list"]);
    assert!(
        list.contains(&uuid) && list.contains(&format!("ceph {usage}")),
        "{list}"
    );
    let dump = ok(&rw, &["secret-dumpxml", &uuid]);
    assert!(
        dump.contains("<secret ephemeral='no' private='no'>") && dump.contains(&usage),
        "{dump}"
    );

    // At rest: the value file holds no plain text, the key file is 0600.
    let state = dir.path().join("state");
    let value_file = find_file(&state, &format!("{uuid}.value")).expect("value file");
    let sealed = std::fs::read(&value_file).unwrap();
    assert!(!sealed.windows(plain.len()).any(|w| w == plain.as_bytes()));
    assert!(!String::from_utf8_lossy(&sealed).contains(&b64));
    let key = value_file.with_file_name("secrets-encryption-key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Read-only: listing works, reading the value or changing anything does not.
    assert!(ok(&ro, &["-r", "secret-list"]).contains(&uuid));
    let err = fails(&ro, &["-r", "secret-get-value", &uuid]);
    assert!(
        err.contains("read only access prevents virSecretGetValue"),
        "{err}"
    );
    let err = fails(&ro, &["-r", "secret-define", &other.to_string_lossy()]);
    assert!(
        err.contains("read only access prevents virSecretDefineXML"),
        "{err}"
    );
    let err = fails(&ro, &["-r", "secret-undefine", &uuid]);
    assert!(
        err.contains("read only access prevents virSecretUndefine"),
        "{err}"
    );

    // A private secret takes a value but never gives it back.
    let private = dir.path().join("private.xml");
    std::fs::write(
        &private,
        format!("<secret private='yes'><usage type='tls'><name>{usage}</name></usage></secret>"),
    )
    .unwrap();
    let out = ok(&rw, &["secret-define", &private.to_string_lossy()]);
    let private_uuid = out
        .split_whitespace()
        .find(|word| uuid::Uuid::parse_str(word).is_ok())
        .unwrap()
        .to_string();
    ok(&rw, &["secret-set-value", &private_uuid, "--base64", &b64]);
    let err = fails(&rw, &["secret-get-value", &private_uuid]);
    assert!(err.contains("Invalid secret: secret is private"), "{err}");

    // python3-libvirt: lookups, filters, value and undefine.
    let script = r#"
import sys, libvirt
conn = libvirt.open(sys.argv[1])
s = conn.secretLookupByUUIDString(sys.argv[2])
assert s.usageType() == libvirt.VIR_SECRET_USAGE_TYPE_CEPH, s.usageType()
assert s.usageID() == sys.argv[4]
assert conn.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_CEPH, sys.argv[4]).UUIDString() == sys.argv[2]
print(s.value().decode())
private = [x.UUIDString() for x in conn.listAllSecrets(libvirt.VIR_CONNECT_LIST_SECRETS_PRIVATE)]
public = [x.UUIDString() for x in conn.listAllSecrets(libvirt.VIR_CONNECT_LIST_SECRETS_NO_PRIVATE)]
assert private == [sys.argv[3]], private
assert public == [sys.argv[2]], public
assert conn.numOfSecrets() == 2
try:
    conn.secretLookupByUUIDString(sys.argv[3]).value()
    raise SystemExit("private value was read")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_INVALID_SECRET, e.get_error_code()
conn.secretLookupByUUIDString(sys.argv[3]).undefine()
"#;
    let out = python(script, &[&rw, &uuid, &private_uuid, &usage]);
    assert_eq!(out.trim(), plain);

    // Secret events through python3-libvirt's event loop: defined, value changed, undefined.
    let script = r#"
import sys, threading, libvirt
libvirt.virEventRegisterDefaultImpl()
conn = libvirt.open(sys.argv[1])
seen = []
done = threading.Event()
def lifecycle(conn, secret, event, detail, opaque):
    seen.append(("lifecycle", secret.usageID(), event))
    if event == libvirt.VIR_SECRET_EVENT_UNDEFINED:
        done.set()
def changed(conn, secret, opaque):
    seen.append(("value", secret.usageID()))
ids = [conn.secretEventRegisterAny(None, libvirt.VIR_SECRET_EVENT_ID_LIFECYCLE, lifecycle, None),
       conn.secretEventRegisterAny(None, libvirt.VIR_SECRET_EVENT_ID_VALUE_CHANGED, changed, None)]
def loop():
    while not done.is_set():
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
s = conn.secretDefineXML("<secret ephemeral='yes'><usage type='tls'><name>%s</name></usage></secret>" % sys.argv[2])
s.setValue(b"abc")
s.undefine()
assert done.wait(10), seen
for i in ids:
    conn.secretEventDeregisterAny(i)
print(seen)
"#;
    let events_usage = format!("events-{usage}");
    let out = python(script, &[&rw, &events_usage]);
    assert_eq!(
        out.trim(),
        format!("[('lifecycle', '{events_usage}', 0), ('value', '{events_usage}'), ('lifecycle', '{events_usage}', 1)]")
    );

    ok(&rw, &["secret-undefine", &uuid]);
    assert!(!ok(&rw, &["secret-list"]).contains(&uuid));
    assert!(!value_file.exists(), "the value leaves with the secret");
    let err = fails(&rw, &["secret-get-value", &uuid]);
    assert!(
        err.contains(&format!("no secret with matching uuid '{uuid}'")),
        "{err}"
    );
    daemon.stop();
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Removes, at the end of a test, every nftables table of ours that holds this test's port chains.
pub(crate) struct NftGuard {
    pub(crate) port: String,
}

impl NftGuard {
    pub(crate) fn tables_with_port(&self) -> Vec<String> {
        let Ok(out) = Command::new("nft").args(["list", "tables"]).output() else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("table bridge "))
            .filter(|name| name.starts_with("virtcim_nwf_"))
            .filter(|name| {
                Command::new("nft")
                    .args(["list", "table", "bridge", name])
                    .output()
                    .is_ok_and(|o| {
                        String::from_utf8_lossy(&o.stdout).contains(&format!("o-{}", self.port))
                    })
            })
            .map(str::to_string)
            .collect()
    }
}

impl Drop for NftGuard {
    fn drop(&mut self) {
        for table in self.tables_with_port() {
            let _ = Command::new("nft")
                .args(["delete", "table", "bridge", &table])
                .status();
        }
    }
}

pub(crate) fn nft_usable() -> bool {
    nix::unistd::geteuid().is_root()
        && Command::new("nft")
            .args(["list", "tables"])
            .output()
            .is_ok_and(|o| o.status.success())
}

#[test]
fn nwfilters_and_bindings_through_virsh_and_python() {
    if !peers_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Some(Daemon::start(dir.path(), ""));
    let rw = uri(&daemon.as_ref().unwrap().rw_socket());
    let ro = uri(&daemon.as_ref().unwrap().ro_socket());

    let list = ok(&rw, &["nwfilter-list"]);
    for name in [
        "clean-traffic",
        "no-mac-spoofing",
        "no-ip-spoofing",
        "no-arp-spoofing",
        "allow-dhcp",
        "allow-dhcp-server",
        "allow-arp",
        "allow-ipv4",
        "no-other-l2-traffic",
    ] {
        assert!(
            list.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(name)),
            "{name}: {list}"
        );
    }

    // A filter of our own: define, dump, read-only refusal, undefine.
    let name = format!("virtcim-test-{}", std::process::id());
    let xml = dir.path().join("filter.xml");
    std::fs::write(
        &xml,
        format!(
            "<filter name='{name}' chain='ipv4' priority='-650'>\
             <filterref filter='no-mac-spoofing'/>\
             <rule action='accept' direction='in' priority='400'>\
             <tcp dstportstart='22' srcipaddr='$TRUSTED'/></rule></filter>"
        ),
    )
    .unwrap();
    ok(&rw, &["nwfilter-define", &xml.to_string_lossy()]);
    let dump = ok(&rw, &["nwfilter-dumpxml", &name]);
    assert!(
        dump.starts_with(&format!(
            "<filter name='{name}' chain='ipv4' priority='-650'>"
        )),
        "{dump}"
    );
    assert!(
        dump.contains("<rule action='accept' direction='in' priority='400'>")
            && dump.contains("<tcp dstportstart='22' srcipaddr='$TRUSTED'/>")
            && dump.contains("<filterref filter='no-mac-spoofing'/>"),
        "{dump}"
    );
    let err = fails(&ro, &["-r", "nwfilter-undefine", &name]);
    assert!(
        err.contains("read only access prevents virNWFilterUndefine"),
        "{err}"
    );
    ok(&rw, &["nwfilter-undefine", &name]);
    let err = fails(&rw, &["nwfilter-dumpxml", &name]);
    assert!(err.contains("Network filter not found"), "{err}");

    if !nft_usable() {
        eprintln!("bindings skipped: needs root and nft");
        return;
    }
    // Port names are at most 15 bytes: unique per test process.
    let port = format!("vct{}", std::process::id() % 1_000_000_000);
    let guard = NftGuard { port: port.clone() };
    let binding = dir.path().join("binding.xml");
    std::fs::write(
        &binding,
        format!(
            "<filterbinding><owner><name>guest</name><uuid>{}</uuid></owner>\
             <portdev name='{port}'/><mac address='52:54:00:7a:00:01'/>\
             <filterref filter='clean-traffic'><parameter name='IP' value='192.0.2.7'/></filterref>\
             </filterbinding>",
            uuid::Uuid::new_v4()
        ),
    )
    .unwrap();
    ok(
        &rw,
        &["nwfilter-binding-create", &binding.to_string_lossy()],
    );
    let list = ok(&rw, &["nwfilter-binding-list"]);
    assert!(
        list.contains(&port) && list.contains("clean-traffic"),
        "{list}"
    );
    let tables = guard.tables_with_port();
    assert_eq!(tables.len(), 1, "one table of ours holds the port's chains");
    let ruleset = String::from_utf8_lossy(
        &Command::new("nft")
            .args(["list", "table", "bridge", &tables[0]])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    for want in [
        format!("\"{port}\" : jump o-{port}"),
        "ether saddr 52:54:00:7a:00:01 return".to_string(),
        "ip saddr 192.0.2.7 return".to_string(),
        "arp saddr ip 192.0.2.7 return".to_string(),
    ] {
        assert!(ruleset.contains(&want), "{want}\n{ruleset}");
    }
    let err = fails(&rw, &["nwfilter-undefine", "clean-traffic"]);
    assert!(err.contains("nwfilter is in use"), "{err}");
    let err = fails(&ro, &["-r", "nwfilter-binding-delete", &port]);
    assert!(
        err.contains("read only access prevents virNWFilterBindingDelete"),
        "{err}"
    );

    // A restart keeps the binding and its rules.
    daemon.take().unwrap().stop();
    assert_eq!(guard.tables_with_port().len(), 1);
    let daemon = Daemon::start(dir.path(), "");
    let script = r#"
import sys, libvirt
conn = libvirt.open(sys.argv[1])
names = [f.name() for f in conn.listAllNWFilters()]
assert "clean-traffic" in names, names
f = conn.nwfilterLookupByName("clean-traffic")
assert conn.nwfilterLookupByUUIDString(f.UUIDString()).name() == "clean-traffic"
assert "<filterref filter='no-mac-spoofing'/>" in f.XMLDesc()
b = conn.nwfilterBindingLookupByPortDev(sys.argv[2])
assert b.filterName() == "clean-traffic"
assert "<parameter name='IP' value='192.0.2.7'/>" in b.XMLDesc()
assert [x.portDev() for x in conn.listAllNWFilterBindings()] == [sys.argv[2]]
b.delete()
print("ok")
"#;
    assert_eq!(python(script, &[&rw, &port]).trim(), "ok");
    assert!(
        guard.tables_with_port().is_empty(),
        "the rules left with the binding"
    );
    assert!(!ok(&rw, &["nwfilter-binding-list"]).contains(&port));
    daemon.stop();
}

/// A bridge of the test's own, deleted at the end however the test ends.
pub(crate) struct OwnBridge(pub(crate) String);

impl Drop for OwnBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

#[test]
fn guests_need_their_disk_secrets_and_get_their_nic_filters() {
    if !peers_present() || !crate::support::qemu::have_qemu() {
        return;
    }
    if !nft_usable() || !Path::new("/dev/net/tun").exists() {
        eprintln!("skipped: needs root, nft and /dev/net/tun");
        return;
    }
    let _alone = crate::support::qemu::alone();
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "");
    let rw = uri(&daemon.rw_socket());
    let tag = std::process::id() % 100_000;
    let bridge = OwnBridge(format!("vcob{tag}"));
    assert!(Command::new("ip")
        .args(["link", "add", &bridge.0, "type", "bridge"])
        .status()
        .unwrap()
        .success());
    let tap = format!("vcot{tag}");
    let guard = NftGuard { port: tap.clone() };
    let disk = crate::support::qemu::spinning_disk(dir.path());
    let secret_uuid = uuid::Uuid::new_v4();
    let name = format!("objs-guest-{tag}");
    let xml = dir.path().join("guest.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>\
             <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
             <target dev='hda' bus='ide'/>\
             <encryption format='luks'><secret type='passphrase' uuid='{secret_uuid}'/></encryption></disk>\
             <interface type='bridge'><mac address='52:54:00:7b:00:02'/><source bridge='{}'/>\
             <target dev='{tap}'/><model type='virtio'/>\
             <filterref filter='clean-traffic'><parameter name='IP' value='192.0.2.9'/></filterref>\
             </interface></devices></domain>",
            disk.display(),
            bridge.0
        ),
    )
    .unwrap();
    ok(&rw, &["define", &xml.to_string_lossy()]);
    let dumped = ok(&rw, &["dumpxml", &name]);
    assert!(
        dumped.contains(&format!("<secret type='passphrase' uuid='{secret_uuid}'/>"))
            && dumped.contains("<filterref filter='clean-traffic'>"),
        "{dumped}"
    );
    // The secret the disk names does not exist: refused before anything is made.
    let err = fails(&rw, &["start", &name]);
    assert!(
        err.contains(&format!(
            "Secret not found: no secret with matching uuid '{secret_uuid}'"
        )),
        "{err}"
    );
    assert!(!Path::new("/sys/class/net").join(&tap).exists());
    let secret_xml = dir.path().join("luks.xml");
    std::fs::write(
        &secret_xml,
        format!("<secret><uuid>{secret_uuid}</uuid><usage type='volume'><volume>{}</volume></usage></secret>", disk.display()),
    )
    .unwrap();
    ok(&rw, &["secret-define", &secret_xml.to_string_lossy()]);
    let err = fails(&rw, &["start", &name]);
    assert!(err.contains("does not have a value"), "{err}");
    ok(
        &rw,
        &[
            "secret-set-value",
            &secret_uuid.to_string(),
            "--base64",
            "c2VjcmV0",
        ],
    );

    ok(&rw, &["start", &name]);
    let bindings = ok(&rw, &["nwfilter-binding-list"]);
    assert!(
        bindings.contains(&tap) && bindings.contains("clean-traffic"),
        "{bindings}"
    );
    let binding_xml = ok(&rw, &["nwfilter-binding-dumpxml", &tap]);
    assert!(
        binding_xml.contains(&format!("<name>{name}</name>"))
            && binding_xml.contains("<mac address='52:54:00:7b:00:02'/>"),
        "{binding_xml}"
    );
    assert_eq!(
        guard.tables_with_port().len(),
        1,
        "the guest's port has its chains"
    );
    ok(&rw, &["destroy", &name]);
    assert!(!ok(&rw, &["nwfilter-binding-list"]).contains(&tap));
    assert!(
        guard.tables_with_port().is_empty(),
        "the rules left with the guest"
    );
    ok(&rw, &["undefine", &name]);
    daemon.stop();
}

/// Our remote driver against our daemon: the secret and filter calls and secret events round-trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_driver_carries_secrets_filters_and_secret_events() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "");
    let options = virtcim::ConnectOptions::default();
    let conn = virtcim::connect(&uri(&daemon.rw_socket()), &options)
        .await
        .unwrap();
    let mut events = conn.secret_event_subscribe().await.unwrap();
    let usage = format!("remote-{}", std::process::id());
    let secret = conn
        .secret_define_xml(
            &format!("<secret><usage type='iscsi'><target>{usage}</target></usage></secret>"),
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        (secret.usage_type, secret.usage_id.as_str()),
        (3, usage.as_str())
    );
    conn.secret_set_value(&secret, b"\x00binary\xff", 0)
        .await
        .unwrap();
    assert_eq!(
        conn.secret_get_value(&secret, 0).await.unwrap(),
        b"\x00binary\xff"
    );
    assert_eq!(
        conn.secret_lookup_by_usage(3, &usage).await.unwrap(),
        secret
    );
    assert_eq!(
        conn.list_all_secrets(0).await.unwrap(),
        vec![secret.clone()]
    );
    conn.secret_undefine(&secret).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), events.recv())
            .await
            .expect("secret event in time")
            .unwrap();
        assert_eq!(event.secret, secret);
        seen.push(format!("{:?}", event.kind));
    }
    assert_eq!(
        seen,
        [
            "Lifecycle { event: 0, detail: 0 }",
            "ValueChanged",
            "Lifecycle { event: 1, detail: 0 }"
        ]
    );

    let filters = conn.list_all_nwfilters(0).await.unwrap();
    let clean = conn.nwfilter_lookup_by_name("clean-traffic").await.unwrap();
    assert!(filters.contains(&clean));
    assert_eq!(
        conn.nwfilter_lookup_by_uuid(&clean.uuid).await.unwrap(),
        clean
    );
    let name = format!("remote-filter-{}", std::process::id());
    let mine = conn
        .nwfilter_define_xml(&format!("<filter name='{name}' chain='arp'/>"), 1)
        .await
        .unwrap();
    assert!(conn
        .nwfilter_get_xml_desc(&mine, 0)
        .await
        .unwrap()
        .starts_with(&format!(
            "<filter name='{name}' chain='arp' priority='-500'>"
        )));
    conn.nwfilter_undefine(&mine).await.unwrap();
    assert!(conn.list_all_nwfilter_bindings(0).await.unwrap().is_empty());
    let err = conn
        .nwfilter_binding_lookup_by_port_dev("nope0")
        .await
        .unwrap_err();
    assert_eq!(err.code, virtcim::ErrorCode(101));
    drop(conn);
    daemon.stop();
}
