//! Peer test: `virsh save`, `restore` and the save-image XML commands on our test driver print what they print
//! against libvirt's own embedded test driver, and the image files are interchangeable.

use crate::support::server::serve;
use crate::support::virsh::{have_virsh, ok, virsh};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_and_restore_match_libvirts_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rw, ro) = serve(dir.path());
    let image = dir.path().join("test.save");
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not a save image at all").unwrap();
    let (image, junk) = (image.to_string_lossy(), junk.to_string_lossy());
    let missing = format!("{}/missing", dir.path().display());
    let script = format!(
        "save test {image}; domstate test --reason; list --all; save test {image}; \
         restore {image}; domstate test --reason; \
         restore {image}; restore {junk}; restore {missing}; save-image-dumpxml {junk}; \
         destroy test; domstate test --reason"
    );
    let reference = |uri: &'static str| {
        let script = script.clone();
        let image = image.to_string();
        async move {
            let _ = std::fs::remove_file(&image);
            let result = virsh(uri, &[&script]).await;
            let bytes = std::fs::read(&image).unwrap_or_default();
            (result, bytes)
        }
    };
    let ((want_ok, want_out, want_err), theirs) = reference("test:///default").await;
    let _ = std::fs::remove_file(&*image);
    let (got_ok, got_out, got_err) = virsh(&rw, &[&script]).await;
    let ours = std::fs::read(&*image).unwrap();
    assert_eq!(
        (got_ok, &got_out, &got_err),
        (want_ok, &want_out, &want_err)
    );
    assert!(got_out.contains("Domain 'test' saved to"), "{got_out}");
    assert!(got_out.contains("shut off (saved)"), "{got_out}");
    assert!(got_out.contains("running (restored)"), "{got_out}");
    assert!(got_err.contains("mismatched header magic"), "{got_err}");
    assert!(ours.starts_with(b"TestGuestMagic\0"));
    assert!(theirs.starts_with(b"TestGuestMagic\0"));

    // The image keeps the definition: ours is the domain as our dumpxml shows it; libvirt's test driver also
    // writes the PCI addresses and balloon it gives its default domain, which ours leaves out.
    let strip = |xml: &str| {
        xml.lines()
            .filter(|l| !l.contains("<address ") && !l.contains("memballoon"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let theirs_path = dir.path().join("theirs.save");
    std::fs::write(&theirs_path, &theirs).unwrap();
    let theirs_path = theirs_path.to_string_lossy();
    let reference_xml = ok("test:///default", &["save-image-dumpxml", &theirs_path]).await;
    let ours_xml = ok(&rw, &["save-image-dumpxml", &image]).await;
    assert_eq!(strip(&ours_xml), strip(&reference_xml));
    assert_eq!(
        ok(&rw, &["save-image-dumpxml", &theirs_path]).await,
        reference_xml,
        "our driver reads libvirt's image as libvirt does"
    );
    let edited = dir.path().join("edited.xml");
    std::fs::write(
        &edited,
        ours_xml.replace("<on_crash>destroy", "<on_crash>restart"),
    )
    .unwrap();
    ok(
        &rw,
        &["save-image-define", &image, &edited.to_string_lossy()],
    )
    .await;
    assert!(ok(&rw, &["save-image-dumpxml", &image])
        .await
        .contains("<on_crash>restart"));

    // An image libvirt's test driver wrote restores in ours.
    std::fs::write(&*image, &theirs).unwrap();
    let out = ok(&rw, &[&format!("restore {image}; domstate test --reason")]).await;
    assert!(out.contains("running (restored)"), "{out}");

    // Read-only connections may read an image's XML but neither save nor restore.
    for args in [&["save", "test", &image][..], &["restore", &image]] {
        let (ok_ro, _, err_ro) = virsh(&ro, args).await;
        assert!(!ok_ro, "{args:?} read-only");
        assert!(
            err_ro.contains("read only access prevents"),
            "{args:?}: {err_ro}"
        );
    }
}
