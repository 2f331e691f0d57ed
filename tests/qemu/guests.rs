//! Guests that need more than a bare VM, defined and started by stock virsh through virtcimd on real QEMU:
//! VNC and SPICE with passwords (set through QMP, never in QEMU's argv nor in any log; `domdisplay`,
//! `vncdisplay`, the secure dumpxml, a live password change by `update-device`), UEFI from the installed OVMF
//! with a per-guest variable store (`undefine --nvram`), virtio consoles and a guest-agent channel on a
//! virtio-serial bus, SCSI and USB controllers and input devices, and the defaults libvirt writes on define
//! (canonical machine type, controllers, PCI addresses that QEMU is given).
//!
//! QEMU's side is read from `/proc/PID/cmdline` and `/proc/PID/fd`, its VNC server from an RFB handshake on
//! loopback, its channel from its unix socket. Every display listens on 127.0.0.1 only.

use crate::daemon::{ok, peers_present, run, Daemon, QemuReaper};
use crate::support::qemu::{alone_async, spinning_disk};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .expect("cmdline")
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn holds(pid: i32, path: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    entries
        .map_while(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .any(|p| p == path)
}

fn fails(uri: &str, args: &[&str]) -> String {
    let out = run("virsh", uri, args);
    assert!(!out.status.success(), "virsh {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn define(uri: &str, dir: &Path, name: &str, xml: &str) {
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, xml).expect("xml");
    ok("virsh", uri, &["define", &path.to_string_lossy()]);
}

fn guest(name: &str, os: &str, memory_mib: u32, devices: &str) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>{memory_mib}</memory><vcpu>1</vcpu>\
         {os}<devices>{devices}</devices></domain>"
    )
}

fn spin_disk(dir: &Path) -> String {
    format!(
        "<disk type='file' device='disk'><source file='{}'/><target dev='hda' bus='ide'/></disk>",
        spinning_disk(dir).display()
    )
}

const PC: &str = "<os><type arch='x86_64' machine='pc'>hvm</type></os>";

/// The security types a VNC server offers (RFB 3.8 handshake; 1 = none, 2 = VNC password).
fn vnc_security_types(port: u16) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to VNC");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut version = [0u8; 12];
    stream.read_exact(&mut version).expect("RFB version");
    assert!(version.starts_with(b"RFB "), "{version:?}");
    stream.write_all(b"RFB 003.008\n").unwrap();
    let mut count = [0u8; 1];
    stream.read_exact(&mut count).expect("security type count");
    let mut types = vec![0u8; usize::from(count[0])];
    stream.read_exact(&mut types).expect("security types");
    types
}

fn port_in(xml: &str, kind: &str) -> u16 {
    let at = xml
        .find(&format!("<graphics type='{kind}' port='"))
        .unwrap_or_else(|| panic!("no {kind} port in {xml}"));
    let rest = &xml[at + 24 + kind.len()..];
    rest[..rest.find('\'').unwrap()].parse().expect("port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn display_passwords_go_through_qmp_only_and_change_live() {
    if !peers_present() {
        return;
    }
    let _guests = alone_async().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut daemon = Daemon::start(tmp.path());
    let reaper = QemuReaper::default();
    let uri = daemon.uri();
    let pid_tag = std::process::id();
    let (vnc, spice) = (format!("vnc-{pid_tag}"), format!("spice-{pid_tag}"));
    let (first, second) = ("Vnc0ne!x", "Tw0Vnc#y");
    let spice_pw = "Sp1ce-pw-long-enough";
    let disk = spin_disk(tmp.path());
    // Each guest boots its own image: QEMU locks the ones it writes.
    let spice_dir = tmp.path().join("spice");
    std::fs::create_dir(&spice_dir).unwrap();
    let spice_disk = spin_disk(&spice_dir);
    define(
        &uri,
        tmp.path(),
        &vnc,
        &guest(
            &vnc,
            PC,
            32,
            &format!(
                "{disk}<graphics type='vnc' autoport='yes' listen='127.0.0.1' passwd='{first}'/>"
            ),
        ),
    );
    define(
        &uri,
        tmp.path(),
        &spice,
        &guest(
            &spice,
            PC,
            32,
            &format!(
                "{spice_disk}<graphics type='spice' autoport='yes' passwd='{spice_pw}' \
                 passwdValidTo='2099-01-01T00:00:00'><listen type='address' address='127.0.0.1'/></graphics>"
            ),
        ),
    );
    // Hidden without the secure flag, as libvirt hides it.
    let inactive = ok("virsh", &uri, &["dumpxml", &vnc]);
    assert!(!inactive.contains(first), "{inactive}");
    assert!(ok("virsh", &uri, &["dumpxml", "--security-info", &vnc])
        .contains(&format!("passwd='{first}'")));

    ok("virsh", &uri, &["start", &vnc]);
    let pid = daemon.qemu_pid(&vnc);
    reaper.watch(pid);
    let argv = cmdline(pid).join(" ");
    assert!(
        !argv.contains(first),
        "password on QEMU's command line: {argv}"
    );
    assert!(
        argv.contains("-vnc 127.0.0.1:") && argv.contains(",password=on"),
        "{argv}"
    );

    let live = ok("virsh", &uri, &["dumpxml", &vnc]);
    assert!(!live.contains(first), "{live}");
    let port = port_in(&live, "vnc");
    assert!(
        live.contains("<listen type='address' address='127.0.0.1'/>"),
        "{live}"
    );
    let display = port - 5900;
    assert_eq!(
        ok("virsh", &uri, &["vncdisplay", &vnc]).trim(),
        format!("127.0.0.1:{display}")
    );
    assert_eq!(
        ok("virsh", &uri, &["domdisplay", &vnc]).trim(),
        format!("vnc://127.0.0.1:{display}")
    );
    let with_pw = ok("virsh", &uri, &["domdisplay", "--include-password", &vnc]);
    assert!(
        with_pw.contains(&format!("{first}@127.0.0.1:{display}")),
        "{with_pw}"
    );
    // QEMU's VNC server asks for a password and offers no unauthenticated access.
    assert_eq!(vnc_security_types(port), vec![2]);

    // A new password, live, through set_password; the port cannot change.
    let update = tmp.path().join("graphics.xml");
    std::fs::write(
        &update,
        format!("<graphics type='vnc' autoport='yes' listen='127.0.0.1' passwd='{second}'/>"),
    )
    .unwrap();
    ok(
        "virsh",
        &uri,
        &["update-device", &vnc, &update.to_string_lossy(), "--live"],
    );
    let secure = ok("virsh", &uri, &["dumpxml", "--security-info", &vnc]);
    assert!(secure.contains(&format!("passwd='{second}'")), "{secure}");
    assert_eq!(vnc_security_types(port), vec![2]);
    let persistent = ok(
        "virsh",
        &uri,
        &["dumpxml", "--inactive", "--security-info", &vnc],
    );
    assert!(
        persistent.contains(&format!("passwd='{first}'")),
        "{persistent}"
    );
    std::fs::write(
        &update,
        "<graphics type='vnc' port='5999' autoport='no' passwd='x'/>",
    )
    .unwrap();
    let err = fails(
        &uri,
        &["update-device", &vnc, &update.to_string_lossy(), "--live"],
    );
    assert!(
        err.contains("cannot change port settings on vnc graphics"),
        "{err}"
    );

    // SPICE, when this QEMU has it: ticketing on, the password again only through QMP.
    let spice_ok = run("virsh", &uri, &["start", &spice]);
    if spice_ok.status.success() {
        let spid = daemon.qemu_pid(&spice);
        reaper.watch(spid);
        let argv = cmdline(spid).join(" ");
        assert!(!argv.contains(spice_pw), "{argv}");
        assert!(
            argv.contains("-spice port=") && !argv.contains("disable-ticketing"),
            "{argv}"
        );
        let live = ok("virsh", &uri, &["dumpxml", &spice]);
        let sport = port_in(&live, "spice");
        assert_eq!(
            ok("virsh", &uri, &["domdisplay", &spice]).trim(),
            format!("spice://127.0.0.1:{sport}")
        );
        assert!(std::net::TcpStream::connect(("127.0.0.1", sport)).is_ok());
        ok("virsh", &uri, &["destroy", &spice]);
    } else {
        let err = String::from_utf8_lossy(&spice_ok.stderr);
        assert!(err.contains("spice graphics are not supported"), "{err}");
    }
    ok("virsh", &uri, &["destroy", &vnc]);

    // Neither the daemon's log nor QEMU's logs carry a password.
    let mut logs = daemon.log();
    for name in [&vnc, &spice] {
        let file = daemon.state_dir().join(format!("qemu/log/{name}.log"));
        logs.push_str(&std::fs::read_to_string(&file).unwrap_or_default());
    }
    for secret in [first, second, spice_pw] {
        assert!(!logs.contains(secret), "a password reached a log");
    }
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uefi_guests_boot_ovmf_with_their_own_variable_store() {
    if !peers_present() {
        return;
    }
    if !Path::new("/usr/share/qemu/firmware/60-edk2-x86_64.json").exists() {
        eprintln!("ovmf not installed, skipping");
        return;
    }
    let _guests = alone_async().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut daemon = Daemon::start(tmp.path());
    let reaper = QemuReaper::default();
    let uri = daemon.uri();
    let name = format!("uefi-{}", std::process::id());
    define(
        &uri,
        tmp.path(),
        &name,
        &guest(
            &name,
            "<os firmware='efi'><type arch='x86_64' machine='pc'>hvm</type></os>",
            128,
            "",
        ),
    );
    ok("virsh", &uri, &["start", &name]);
    let pid = daemon.qemu_pid(&name);
    reaper.watch(pid);
    let nvram: PathBuf = daemon
        .state_dir()
        .join(format!("qemu/nvram/{name}_VARS.fd"));
    let argv = cmdline(pid).join(" ");
    assert!(argv.contains("pflash0=libvirt-pflash0-format"), "{argv}");
    assert!(argv.contains("pflash1=libvirt-pflash1-format"), "{argv}");
    // QEMU holds the firmware and the guest's own variable store, copied from the template.
    assert!(holds(pid, Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd")));
    assert!(holds(pid, &nvram), "QEMU does not hold {}", nvram.display());
    assert_eq!(
        std::fs::metadata(&nvram).unwrap().len(),
        std::fs::metadata("/usr/share/OVMF/OVMF_VARS_4M.fd")
            .unwrap()
            .len()
    );
    let live = ok("virsh", &uri, &["dumpxml", &name]);
    assert!(
        live.contains(
            "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
        ),
        "{live}"
    );
    assert!(
        live.contains(&format!(
            "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>{}</nvram>",
            nvram.display()
        )),
        "{live}"
    );
    crate::support::wait_for(Duration::from_secs(20), || {
        ok("virsh", &uri, &["domstate", &name]).trim() == "running"
    });
    assert_eq!(ok("virsh", &uri, &["domstate", &name]).trim(), "running");
    ok("virsh", &uri, &["destroy", &name]);

    // Kept across restarts: the store is not copied again.
    let marker = std::fs::metadata(&nvram).unwrap().modified().unwrap();
    ok("virsh", &uri, &["start", &name]);
    reaper.watch(daemon.qemu_pid(&name));
    assert_eq!(
        std::fs::metadata(&nvram).unwrap().modified().unwrap(),
        marker
    );
    ok("virsh", &uri, &["destroy", &name]);

    let err = fails(&uri, &["undefine", &name]);
    assert!(err.contains("cannot undefine domain with nvram"), "{err}");
    assert!(nvram.exists());
    ok("virsh", &uri, &["undefine", "--nvram", &name]);
    assert!(!nvram.exists());

    // An explicit flash loader gets its variable store path on define, as libvirt fills it in.
    let named = format!("uefi-named-{}", std::process::id());
    define(
        &uri,
        tmp.path(),
        &named,
        &guest(
            &named,
            "<os><type arch='x86_64' machine='pc'>hvm</type>\
             <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader></os>",
            128,
            "",
        ),
    );
    let xml = ok("virsh", &uri, &["dumpxml", &named]);
    assert!(xml.contains(&format!("{named}_VARS.fd</nvram>")), "{xml}");
    ok("virsh", &uri, &["undefine", "--nvram", &named]);
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consoles_channels_scsi_usb_and_inputs_reach_qemu() {
    if !peers_present() {
        return;
    }
    let _guests = alone_async().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut daemon = Daemon::start(tmp.path());
    let reaper = QemuReaper::default();
    let uri = daemon.uri();
    let name = format!("devices-{}", std::process::id());
    let scsi = tmp.path().join("scsi.img");
    std::fs::write(&scsi, vec![0u8; 1 << 20]).unwrap();
    let devices = format!(
        "{}<disk type='file' device='disk'><source file='{}'/><target dev='sda' bus='scsi'/></disk>\
         <controller type='scsi' index='0' model='virtio-scsi'/>\
         <controller type='usb' index='0' model='qemu-xhci'/>\
         <console type='pty'><target type='virtio'/></console>\
         <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>\
         <input type='tablet' bus='usb'/><input type='keyboard' bus='usb'/>",
        spin_disk(tmp.path()),
        scsi.display()
    );
    define(&uri, tmp.path(), &name, &guest(&name, PC, 48, &devices));
    let defined = ok("virsh", &uri, &["dumpxml", &name]);
    assert!(
        defined.contains("<controller type='virtio-serial' index='0'>"),
        "{defined}"
    );
    assert!(
        defined.contains("<address type='drive' controller='0' bus='0' target='0' unit='0'/>"),
        "{defined}"
    );

    ok("virsh", &uri, &["start", &name]);
    let pid = daemon.qemu_pid(&name);
    reaper.watch(pid);
    let argv = cmdline(pid);
    let has = |needle: &str| argv.iter().any(|a| a.starts_with(needle));
    for device in [
        "virtio-scsi-pci,id=scsi0",
        "qemu-xhci,id=usb",
        "virtio-serial-pci,id=virtio-serial0",
        "virtconsole,chardev=charconsole0,id=console0",
        "virtserialport,bus=virtio-serial0.0,nr=1,chardev=charchannel0,id=channel0,name=org.qemu.guest_agent.0",
        "usb-tablet,id=input0,bus=usb.0",
        "usb-kbd,id=input1,bus=usb.0",
        "scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0",
    ] {
        assert!(has(device), "no {device} in {argv:?}");
    }
    assert!(holds(pid, &scsi));

    // The channel socket libvirt-style generated under the run dir; QEMU listens on it.
    let live = ok("virsh", &uri, &["dumpxml", &name]);
    let at = live
        .find("<source mode='bind' path='")
        .expect("channel path")
        + 26;
    let socket = PathBuf::from(&live[at..at + live[at..].find('\'').unwrap()]);
    assert!(socket.ends_with("org.qemu.guest_agent.0"), "{live}");
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_ok());
    // The virtio console got its pty, named in `tty` too as libvirt's live XML does.
    assert!(
        live.contains("<console type='pty' tty='/dev/pts/"),
        "{live}"
    );
    // The agent's channel is configured, but nothing in the guest answers on it.
    let err = fails(&uri, &["domtime", &name]);
    assert!(
        err.contains("Guest agent is not responding: QEMU guest agent is not connected"),
        "{err}"
    );
    ok("virsh", &uri, &["destroy", &name]);
    assert!(!socket.exists(), "channel socket left behind");
    assert!(!socket.parent().unwrap().exists());
    ok("virsh", &uri, &["undefine", &name]);

    // What QEMU cannot build is refused at define, not dropped.
    let bad = format!("bad-{}", std::process::id());
    let path = tmp.path().join("bad.xml");
    std::fs::write(
        &path,
        guest(&bad, PC, 32, "<controller type='ccid' index='0'/>"),
    )
    .unwrap();
    let err = fails(&uri, &["define", &path.to_string_lossy()]);
    assert!(
        err.contains("controller type 'ccid' is not supported"),
        "{err}"
    );
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defined_guests_read_like_libvirts_and_qemu_gets_their_addresses() {
    if !peers_present() {
        return;
    }
    let _guests = alone_async().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut daemon = Daemon::start(tmp.path());
    let reaper = QemuReaper::default();
    let uri = daemon.uri();
    let name = format!("defaults-{}", std::process::id());
    let devices = format!(
        "{}<interface type='user'><model type='virtio'/></interface><graphics type='vnc'/>",
        spin_disk(tmp.path())
    );
    define(&uri, tmp.path(), &name, &guest(&name, PC, 32, &devices));
    let xml = ok("virsh", &uri, &["dumpxml", &name]);
    for want in [
        "machine='pc-i440fx-7.2'>hvm</type>",
        "<controller type='usb' index='0' model='piix3-uhci'>",
        "<controller type='pci' index='0' model='pci-root'/>",
        "<controller type='ide' index='0'>",
        "<input type='mouse' bus='ps2'/>",
        "<input type='keyboard' bus='ps2'/>",
        "<memballoon model='virtio'>",
        "<address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>",
        "<graphics type='vnc' port='-1' autoport='yes'>",
    ] {
        assert!(xml.contains(want), "missing {want} in\n{xml}");
    }
    // Stable: defining the output again changes nothing.
    let again = tmp.path().join("again.xml");
    std::fs::write(&again, &xml).unwrap();
    ok("virsh", &uri, &["define", &again.to_string_lossy()]);
    assert_eq!(ok("virsh", &uri, &["dumpxml", &name]), xml);

    ok("virsh", &uri, &["start", &name]);
    let pid = daemon.qemu_pid(&name);
    reaper.watch(pid);
    let argv = cmdline(pid);
    assert!(
        argv.iter()
            .any(|a| a.starts_with("virtio-net-pci,") && a.contains(",bus=pci.0,addr=0x3")),
        "{argv:?}"
    );
    assert!(
        argv.iter()
            .any(|a| a.starts_with("virtio-balloon-pci,id=balloon0,bus=pci.0,addr=0x")),
        "{argv:?}"
    );
    assert!(
        argv.iter().any(|a| a == "pc-i440fx-7.2,accel=tcg"),
        "{argv:?}"
    );
    ok("virsh", &uri, &["destroy", &name]);

    let q35 = format!("q35-{}", std::process::id());
    define(
        &uri,
        tmp.path(),
        &q35,
        &guest(
            &q35,
            "<os><type arch='x86_64' machine='q35'>hvm</type></os>",
            32,
            "",
        ),
    );
    let xml = ok("virsh", &uri, &["dumpxml", &q35]);
    assert!(xml.contains("machine='pc-q35-7.2'"), "{xml}");
    assert!(
        xml.contains("<controller type='pci' index='0' model='pcie-root'/>"),
        "{xml}"
    );
    assert!(
        xml.contains("<controller type='sata' index='0'>\n      <address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x2'/>"),
        "{xml}"
    );

    let bad = tmp.path().join("bad.xml");
    std::fs::write(
        &bad,
        guest(
            "badmachine",
            "<os><type arch='x86_64' machine='nosuch'>hvm</type></os>",
            32,
            "",
        ),
    )
    .unwrap();
    let err = fails(&uri, &["define", &bad.to_string_lossy()]);
    assert!(
        err.contains("does not support machine type 'nosuch'"),
        "{err}"
    );
    daemon.stop();
}
