//! Peer test: stock virsh's `metadata`, `desc` and `desc --title` over our unix socket print what
//! `virsh -c test:///default` prints against libvirt 9.0's embedded test driver, errors included, and a
//! definition with `<metadata>` (several namespaces) and per-device `<boot order>` comes back from `dumpxml` as
//! libvirt's does. Also the metadata-change event, through python3-libvirt. Skipped when virsh is not installed.

use crate::support::server::serve;
use crate::support::virsh::{have_virsh, reference_session, virsh};

/// Our test driver's default domain has no device addresses nor balloon (libvirt's adds them): those lines are
/// dropped from both sides before comparing.
fn without_device_extras(text: &str) -> String {
    let mut in_balloon = false;
    text.lines()
        .filter(|line| {
            let trimmed = line.trim();
            if trimmed.starts_with("<memballoon") {
                in_balloon = !trimmed.ends_with("/>");
                return false;
            }
            if in_balloon {
                in_balloon = trimmed != "</memballoon>";
                return false;
            }
            !trimmed.starts_with("<address ")
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

async fn differs_from_libvirt(rw: &str, script: &str) -> Option<String> {
    let (success, stdout, stderr) = reference_session(script).await;
    let theirs = (success, without_device_extras(&stdout), stderr);
    let (success, stdout, stderr) = virsh(rw, &[script]).await;
    let ours = (success, without_device_extras(&stdout), stderr);
    (ours != theirs).then(|| format!("{script:?}\n--- ours:\n{ours:?}\n--- libvirt's:\n{theirs:?}"))
}

const GUEST: &str = "<domain type='test'>
  <name>metaguest</name>
  <uuid>2f4c6f0e-1b7a-4c52-9d3e-7a1b2c3d4e5f</uuid>
  <title>A title</title>
  <description>Some words</description>
  <metadata>
    <app1:foo xmlns:app1='http://app1.example/'>
      <app1:bar k='v'>text</app1:bar>
    </app1:foo>
    <app2:thing xmlns:app2='http://app2.example/'>two</app2:thing>
  </metadata>
  <memory unit='KiB'>1024</memory>
  <os><type arch='i686'>hvm</type></os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/x.img'/>
      <target dev='vda' bus='virtio'/>
      <serial>SERIAL1</serial>
      <boot order='2'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default'/>
      <target dev='testnet0'/>
      <boot order='1'/>
    </interface>
  </devices>
</domain>
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_desc_match_libvirts_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let guest = dir.path().join("guest.xml");
    std::fs::write(&guest, GUEST).unwrap();
    let bad_boot = dir.path().join("badboot.xml");
    std::fs::write(
        &bad_boot,
        GUEST
            .replace("<boot order='1'/>", "<boot order='2'/>")
            .replace("metaguest", "badboot"),
    )
    .unwrap();
    let both_boot = dir.path().join("bothboot.xml");
    std::fs::write(
        &both_boot,
        GUEST
            .replace("<type>hvm</type>", "<type>hvm</type><boot dev='hd'/>")
            .replace("metaguest", "bothboot"),
    )
    .unwrap();
    let guest = guest.display().to_string();
    let bad_boot = bad_boot.display().to_string();
    let both_boot = both_boot.display().to_string();

    let mut differences = Vec::new();
    let scripts = [
        "metadata test http://app.example/".to_string(),
        "desc test; desc test --title; desc test --config; desc test --title --live".into(),
        "metadata test http://app.example/ --key app --set '<foo a=\"1\"><b>x</b><c/></foo>'; \
         metadata test http://app.example/; dumpxml test"
            .into(),
        "metadata test http://app.example/ --set '<x/>'".into(),
        "metadata test http://a.example/ --key a --set '<one/>'; metadata test http://b.example/ --key b \
         --set '<two>2</two>'; metadata test http://a.example/ --key z --set '<three/>'; dumpxml test; \
         metadata test http://a.example/ --remove; metadata test http://a.example/; dumpxml test"
            .into(),
        "desc test --new-desc 'hello world'; desc test --title --new-desc 'T1'; desc test; desc test --title; \
         list --title; dumpxml test"
            .into(),
        "desc test --new-desc 'x' --config; desc test --config; desc test; dumpxml test --inactive".into(),
        "desc test --title --new-desc 'two\nlines'".into(),
        "desc test --new-desc ''; desc test".into(),
        "desc test --live --config".into(),
        format!(
            "define {guest}; dumpxml metaguest; metadata metaguest http://app1.example/; \
             metadata metaguest http://app2.example/; desc metaguest; desc metaguest --title; \
             desc metaguest --live; metadata metaguest http://app1.example/ --key q --set '<n/>' --live"
        ),
        format!(
            "define {guest}; start metaguest; metadata metaguest http://app1.example/ --key q --set '<live/>' \
             --live; metadata metaguest http://app1.example/; metadata metaguest http://app1.example/ --config; \
             destroy metaguest; metadata metaguest http://app1.example/"
        ),
        format!("define {bad_boot}"),
        format!("define {both_boot}"),
    ];
    for script in &scripts {
        // A fresh daemon per script: libvirt's embedded driver starts fresh in each session too.
        let state = tempfile::tempdir().unwrap();
        let (rw, _) = serve(state.path());
        if let Some(difference) = differs_from_libvirt(&rw, script).await {
            differences.push(difference);
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}
