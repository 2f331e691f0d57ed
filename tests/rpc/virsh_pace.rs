//! Peer test: the test driver keeps pace with libvirt's for what the real hypervisor gained (issue 14): per-CPU and
//! total CPU statistics (`cpu-stats`), `send-key` with every keycode set, `setvcpus` / `vcpucount` flag variants,
//! job information, `domtime`, balloon statistics, `screenshot` of any domain, `domstats` groups,
//! `domcapabilities`, volume cloning (`vol-clone`, `vol-create-from`), wiping and transfers. Stock virsh prints
//! the same, errors included, from our daemon's `test:///default` as from libvirt's own embedded test driver, each
//! session starting from the default world. Skipped when virsh is not installed.

use crate::support::server::serve;
use crate::support::virsh::{have_virsh, reference_session, virsh};

/// Runs each session against a fresh world of ours and against libvirt's test driver; both must print the same
/// (exit status, standard output and error). `dir` holds files the sessions name.
async fn same_as_libvirt(dir: &std::path::Path, sessions: &[String]) {
    for (n, session) in sessions.iter().enumerate() {
        let state = dir.join(format!("world{n}"));
        std::fs::create_dir(&state).unwrap();
        let (rw, _) = serve(&state);
        let ours = virsh(&rw, &[session]).await;
        let want = reference_session(session).await;
        assert_eq!(ours, want, "virsh {session:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_stats_keys_vcpus_time_and_jobs_match_libvirts_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sessions = [
        // DOMAIN_GET_CPU_STATS: the totals and each host CPU's share, ranges past the host's CPUs refused.
        "cpu-stats test",
        "cpu-stats test --total",
        "cpu-stats test --start 1",
        "cpu-stats test --start 1 --count 1",
        "cpu-stats test --start 0 --count 5",
        "cpu-stats test --start 2",
        "suspend test; cpu-stats test --total",
        "destroy test; cpu-stats test",
        // DOMAIN_SEND_KEY: names and numbers of every keycode set, unknown keycodes refused per set.
        "send-key test KEY_A",
        "send-key test --holdtime 100 KEY_LEFTCTRL KEY_LEFTALT KEY_DELETE",
        "send-key test --codeset linux 0 30 0x20c",
        "send-key test --codeset linux 767",
        "send-key test --codeset xt 0x1e 0xe07d",
        "send-key test --codeset xt 200",
        "send-key test --codeset atset1 0x7e",
        "send-key test --codeset atset2 0x1c 0x83",
        "send-key test --codeset atset2 2",
        "send-key test --codeset atset3 0x1c",
        "send-key test --codeset atset3 1",
        "send-key test --codeset os_x 0xff",
        "send-key test --codeset os_x 52",
        "send-key test --codeset xt_kbd 0x17d",
        "send-key test --codeset usb 4 0xfb",
        "send-key test --codeset usb 3",
        "send-key test --codeset win32 1 2 4",
        "send-key test --codeset win32 3",
        "send-key test --codeset qnum 0xfd",
        "send-key test --codeset qnum 0xfe",
        "destroy test; send-key test 30",
        // DOMAIN_SET_VCPUS_FLAGS / GET_VCPUS_FLAGS: the flags libvirt's test driver takes, and those it refuses.
        "setvcpus test 1; vcpucount test; setvcpus test 3; setvcpus test 1 --config; vcpucount test",
        "setvcpus test 4 --maximum --config; vcpucount test --config --maximum; vcpucount test",
        "setvcpus test 1 --maximum",
        "setvcpus test 2 --guest",
        "setvcpus test 2 --hotpluggable",
        "vcpucount test --guest",
        "vcpucount test --live --maximum",
        // Jobs, the guest clock, balloon statistics, the screen, reset and NMI.
        "domjobinfo test; domjobinfo test --completed; domjobabort test",
        "domjobinfo test --anystats --rawstats",
        "domtime test; domtime test --pretty; domtime test --time 12345; domtime test",
        "destroy test; domtime test; domjobinfo test; dommemstat test",
        "setmem test 1000000; dommemstat test; domstats --balloon",
        "suspend test; dommemstat test; domstats --state --balloon",
        "screenshot test --screen 1 {dir}/shot1",
        "destroy test; screenshot test {dir}/shot2",
        "reset test; inject-nmi test; destroy test; reset test",
        // CONNECT_GET_ALL_DOMAIN_STATS groups, CONNECT_GET_DOMAIN_CAPABILITIES.
        "domstats --raw --cpu-total --state --balloon --vcpu --interface --block --perf",
        "domstats --iothread --memory --dirtyrate --vm",
        "domcapabilities",
        "domcapabilities --virttype test --arch i686",
        "domcapabilities --virttype kvm",
        "domcapabilities --machine pc",
    ]
    .map(|s| s.replace("{dir}", &dir.path().display().to_string()));
    same_as_libvirt(dir.path(), &sessions).await;
    // Both screenshots were saved: the test driver's image, whatever the domain's state.
    for shot in ["shot1", "shot2"] {
        let png = std::fs::read(dir.path().join(shot)).expect(shot);
        assert!(png.starts_with(b"\x89PNG"), "{shot} is a PNG");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_clone_wipe_and_transfers_match_libvirts_test_driver() {
    if !have_virsh() {
        eprintln!("virsh not installed, skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("new-volume.xml");
    std::fs::write(
        &from,
        "<volume><name>c.img</name><capacity>2048</capacity></volume>",
    )
    .unwrap();
    let upload = dir.path().join("upload.bin");
    std::fs::write(&upload, b"data").unwrap();
    let sessions = [
        // STORAGE_VOL_CREATE_XML_FROM: a new volume beside the one it clones, the pool's space accounted.
        "vol-create-as default-pool a.img 1M; vol-clone a.img b.img --pool default-pool; \
         vol-list default-pool --details; vol-dumpxml b.img --pool default-pool; pool-info default-pool",
        "vol-create-as default-pool a.img 1M; vol-create-from default-pool {from} a.img; \
         vol-list default-pool --details",
        "vol-create-as default-pool a.img 1M; vol-clone a.img b.img --pool default-pool --prealloc-metadata",
        "vol-create-as default-pool a.img 1M; vol-clone a.img b.img --pool default-pool --reflink",
        // Refused: a name taken (as for a plain create), a source that is not there, a pool too small.
        "vol-create-as default-pool a.img 1M; vol-clone a.img a.img --pool default-pool",
        "vol-create-as default-pool a.img 1M; vol-create-as default-pool a.img 1M",
        "vol-create-from default-pool {from} nosuch.img",
        "vol-create-as default-pool a.img 60G; vol-clone a.img b.img --pool default-pool",
        "vol-create-as default-pool a.img 1M; pool-destroy default-pool; \
         vol-create-from default-pool {from} a.img --inputpool default-pool",
        // STORAGE_VOL_WIPE(_PATTERN), STORAGE_VOL_UPLOAD / DOWNLOAD (libvirt's test driver has no streams).
        "vol-create-as default-pool a.img 1M; vol-wipe a.img --pool default-pool; \
         vol-wipe a.img --pool default-pool --algorithm zero; vol-wipe a.img --pool default-pool --algorithm nnsa",
        "vol-create-as default-pool a.img 1M; vol-upload a.img {upload} --pool default-pool",
        "vol-create-as default-pool a.img 1M; vol-download a.img {dir}/download.bin --pool default-pool",
    ]
    .map(|s| {
        s.replace("{from}", &from.display().to_string())
            .replace("{upload}", &upload.display().to_string())
            .replace("{dir}", &dir.path().display().to_string())
    });
    same_as_libvirt(dir.path(), &sessions).await;
}
