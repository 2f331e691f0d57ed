//! Virtual networks of `qemu:///system` on the host, driven by stock virsh and python3-libvirt through virtcimd:
//! a real bridge, dnsmasq and nftables table per network, a DHCP lease taken by busybox udhcpc, `net-update` of
//! a static host, a QEMU guest whose tap joins the network's bridge, a daemon restart that finds the running
//! network again, transient networks, collisions and bad input, and the read-only socket.
//!
//! The daemon runs in a network namespace of its own with no route out, so its bridges, forwarding and NAT rules
//! exist only there; the DHCP client runs in a second namespace joined to the bridge by a veth pair. A guard
//! kills the dnsmasq and QEMU processes the daemon left and deletes both namespaces (which takes the bridges,
//! taps, veths and nftables tables with them), however the test ends.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::daemon::Logged;
use crate::support::qemu::{have_qemu, spinning_disk};
use crate::support::virsh::have_virsh;
use crate::support::{alive, have, wait_for};

const VIRTCIMD: &str = env!("CARGO_BIN_EXE_virtcimd");

pub(crate) fn unavailable() -> Option<&'static str> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not root (bridges, namespaces and nftables need CAP_NET_ADMIN)");
    }
    if !have_virsh() {
        return Some("virsh is not installed");
    }
    for (program, arg) in [
        ("dnsmasq", "--version"),
        ("nft", "--version"),
        ("busybox", "--help"),
    ] {
        assert!(
            have(program, arg),
            "{program} is not installed (tests/run installs dnsmasq-base, nftables and busybox)"
        );
    }
    None
}

pub(crate) fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

pub(crate) fn must(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The daemon's namespace, the client's namespace and the daemon's state; everything removed on drop.
pub(crate) struct Lab {
    pub(crate) ns: String,
    pub(crate) client: String,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) daemon: Option<Logged>,
}

impl Lab {
    pub(crate) fn new() -> Self {
        Self::named("")
    }

    /// A lab whose namespaces carry `suffix` too, for tests of this binary that run at the same time.
    pub(crate) fn named(suffix: &str) -> Self {
        let tag = format!("{}{suffix}", std::process::id());
        let lab = Self {
            ns: format!("vcnet{tag}"),
            client: format!("vccli{tag}"),
            dir: tempfile::tempdir().expect("tempdir"),
            daemon: None,
        };
        for ns in [&lab.ns, &lab.client] {
            must("ip", &["netns", "add", ns]);
            must("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        std::fs::write(
            lab.config(),
            format!(
                "state_dir = \"{}\"\nunix_sock_dir = \"{}\"\n",
                lab.state().display(),
                lab.dir.path().join("run").display()
            ),
        )
        .expect("config");
        lab
    }

    /// Adds lines to the daemon's configuration (before [`Self::start`]).
    pub(crate) fn add_config(&self, lines: &str) {
        let mut text = std::fs::read_to_string(self.config()).expect("config");
        text.push_str(lines);
        std::fs::write(self.config(), text).expect("config");
    }

    pub(crate) fn config(&self) -> PathBuf {
        self.dir.path().join("virtcimd.conf")
    }
    pub(crate) fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    pub(crate) fn net_dir(&self) -> PathBuf {
        self.state().join("qemu/network")
    }
    pub(crate) fn uri(&self) -> String {
        format!(
            "qemu+unix:///system?socket={}",
            self.dir.path().join("run/libvirt-sock").display()
        )
    }
    pub(crate) fn ro_uri(&self) -> String {
        format!(
            "qemu+unix:///system?socket={}",
            self.dir.path().join("run/libvirt-sock-ro").display()
        )
    }

    /// Starts virtcimd inside the lab's namespace (`ip netns exec` execs it: the pid is the daemon's).
    pub(crate) fn start(&mut self) {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns, VIRTCIMD, "--config"])
            .arg(self.config())
            .env("RUST_LOG", "info");
        let mut daemon = Logged::spawn(command, "virtcimd");
        daemon.wait_for("virtcimd ready");
        self.daemon = Some(daemon);
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            let status = daemon.signal_and_wait(Signal::SIGTERM);
            assert!(
                status.success(),
                "virtcimd exit: {status:?}\n{}",
                daemon.log()
            );
        }
    }

    pub(crate) fn virsh(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("virsh")
            .arg("-c")
            .arg(self.uri())
            .args(args)
            .env("LIBVIRT_AUTOSTART", "0")
            .output()
            .expect("virsh");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.virsh(args);
        assert!(ok && err.trim().is_empty(), "virsh {args:?}: {out}{err}");
        out
    }

    pub(crate) fn fails(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.virsh(args);
        assert!(!ok, "virsh {args:?} should fail: {out}");
        err
    }

    /// A command run inside the daemon's namespace.
    pub(crate) fn inside(&self, args: &[&str]) -> Output {
        let mut all = vec!["netns", "exec", self.ns.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    pub(crate) fn link_exists(&self, name: &str) -> bool {
        run("ip", &["-n", &self.ns, "link", "show", "dev", name])
            .status
            .success()
    }

    pub(crate) fn table_text(&self, uuid: &str) -> Option<String> {
        let table = format!("virtcim_{}", uuid.trim().replace('-', ""));
        let out = self.inside(&["nft", "list", "table", "inet", &table]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub(crate) fn dnsmasq_pid(&self, name: &str) -> Option<i32> {
        let text = std::fs::read_to_string(self.net_dir().join(format!("run/{name}.pid"))).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        alive(pid).then_some(pid)
    }

    /// The dnsmasq processes started with this network's configuration file.
    pub(crate) fn dnsmasqs(&self, name: &str) -> Vec<i32> {
        let conf = format!(
            "--conf-file={}",
            self.net_dir()
                .join(format!("dnsmasq/{name}.conf"))
                .display()
        );
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().map_while(Result::ok) {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if cmdline.split(|b| *b == 0).any(|a| a == conf.as_bytes()) {
                found.push(pid);
            }
        }
        found
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.kill();
        }
        // The processes the daemon started and left: dnsmasq (pid files) and QEMU (status records).
        let mut pids = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.net_dir().join("run")) {
            for entry in entries.map_while(Result::ok) {
                if entry.path().extension().is_some_and(|e| e == "pid") {
                    if let Ok(text) = std::fs::read_to_string(entry.path()) {
                        pids.extend(text.trim().parse::<i32>().ok());
                    }
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.state().join("qemu/run")) {
            for entry in entries.map_while(Result::ok) {
                let pid = std::fs::read_to_string(entry.path())
                    .ok()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .and_then(|s| s["pid"].as_i64())
                    .and_then(|p| i32::try_from(p).ok());
                pids.extend(pid);
            }
        }
        for pid in pids.into_iter().filter(|p| *p > 1) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        for ns in [&self.ns, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

pub(crate) fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .map(|rest| rest.trim_start_matches(':').trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

fn nat_xml(name: &str, bridge: &str) -> String {
    format!(
        "<network><name>{name}</name><forward mode='nat'/><bridge name='{bridge}'/>\
         <ip address='10.213.7.1' netmask='255.255.255.0'><dhcp>\
         <range start='10.213.7.100' end='10.213.7.120'/>\
         <host mac='52:54:00:6e:00:01' name='fixed1' ip='10.213.7.10'/></dhcp></ip></network>"
    )
}

fn guest_xml(dir: &Path, name: &str, network: &str) -> String {
    let disk = spinning_disk(dir);
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>\
         <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/>\
         <target dev='hda' bus='ide'/></disk>\
         <interface type='network'><mac address='52:54:00:6e:00:42'/><source network='{network}'/>\
         <model type='e1000'/></interface></devices></domain>",
        disk.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networks_on_the_host_through_virsh() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let _guests = crate::support::qemu::alongside().await;
    tokio::task::block_in_place(scenario);
}

fn scenario() {
    let mut lab = Lab::new();
    lab.start();
    let tag = std::process::id() % 100_000;
    let net = format!("vcnat{tag}");
    let bridge = format!("vcb{tag}");

    // Define: inactive, with a MAC and libvirt's bridge defaults filled in.
    let file = lab.write("nat.xml", &nat_xml(&net, &bridge));
    lab.ok(&["net-define", &file]);
    let listed = lab.ok(&["net-list", "--all"]);
    assert!(
        listed.contains(&net) && listed.contains("inactive"),
        "{listed}"
    );
    let xml = lab.ok(&["net-dumpxml", &net]);
    assert!(
        xml.contains(&format!("<bridge name='{bridge}' stp='on' delay='0'/>")),
        "{xml}"
    );
    assert!(xml.contains("<mac address='52:54:00:"), "{xml}");
    assert!(
        !lab.link_exists(&bridge),
        "a defined network has no bridge yet"
    );
    let uuid = lab.ok(&["net-uuid", &net]);
    assert_eq!(lab.ok(&["net-name", uuid.trim()]).trim(), net);

    // Start: bridge with the address, dnsmasq, the NAT table.
    lab.ok(&["net-start", &net]);
    let info = lab.ok(&["net-info", &net]);
    assert_eq!(field(&info, "Active"), "yes", "{info}");
    assert_eq!(field(&info, "Persistent"), "yes", "{info}");
    assert_eq!(field(&info, "Bridge"), bridge, "{info}");
    let addr = String::from_utf8_lossy(
        &lab.inside(&["ip", "-o", "addr", "show", "dev", &bridge])
            .stdout,
    )
    .into_owned();
    assert!(addr.contains("10.213.7.1/24"), "{addr}");
    let table = lab
        .table_text(&uuid)
        .expect("the network's nftables table is loaded");
    assert!(table.contains("masquerade"), "{table}");
    assert!(table.contains("ip saddr 10.213.7.0/24"), "{table}");
    let dnsmasq = lab.dnsmasq_pid(&net).expect("dnsmasq runs");
    assert_eq!(lab.dnsmasqs(&net), vec![dnsmasq]);
    let err = lab.fails(&["net-start", &net]);
    assert!(err.contains("network is already active"), "{err}");

    // A DHCP lease taken by a client in another namespace, on a veth joined to the bridge.
    let (host_end, client_end) = (format!("vcva{tag}"), format!("vcvb{tag}"));
    must(
        "ip",
        &[
            "-n",
            &lab.ns,
            "link",
            "add",
            &host_end,
            "type",
            "veth",
            "peer",
            "name",
            &client_end,
        ],
    );
    must(
        "ip",
        &[
            "-n",
            &lab.ns,
            "link",
            "set",
            &client_end,
            "netns",
            &lab.client,
        ],
    );
    must(
        "ip",
        &[
            "-n", &lab.ns, "link", "set", &host_end, "master", &bridge, "up",
        ],
    );
    must(
        "ip",
        &[
            "-n",
            &lab.client,
            "link",
            "set",
            &client_end,
            "address",
            "52:54:00:6e:00:77",
            "up",
        ],
    );
    let dhcp = run(
        "ip",
        &[
            "netns",
            "exec",
            &lab.client,
            "busybox",
            "udhcpc",
            "-f",
            "-q",
            "-n",
            "-t",
            "10",
            "-T",
            "1",
            "-i",
            &client_end,
            "-x",
            "hostname:vcclient",
            "-s",
            "/bin/true",
        ],
    );
    assert!(
        dhcp.status.success(),
        "udhcpc: {}",
        String::from_utf8_lossy(&dhcp.stderr)
    );
    let leases = lab.ok(&["net-dhcp-leases", &net]);
    assert!(leases.contains("52:54:00:6e:00:77"), "{leases}");
    assert!(
        leases.contains("10.213.7.1") && leases.contains("/24"),
        "{leases}"
    );
    assert!(leases.contains("vcclient"), "{leases}");
    let one = lab.ok(&["net-dhcp-leases", &net, "--mac", "52:54:00:6e:00:99"]);
    assert!(!one.contains("52:54:00:6e:00:77"), "{one}");

    // net-update: a static host, live and persistent; dnsmasq keeps running (SIGHUP, not a restart).
    lab.ok(&[
        "net-update",
        &net,
        "add",
        "ip-dhcp-host",
        "<host mac='52:54:00:6e:00:02' name='fixed2' ip='10.213.7.11'/>",
        "--live",
        "--config",
    ]);
    for flags in [&[][..], &["--inactive"][..]] {
        let mut args = vec!["net-dumpxml", net.as_str()];
        args.extend_from_slice(flags);
        let xml = lab.ok(&args);
        assert!(
            xml.contains("<host mac='52:54:00:6e:00:02' name='fixed2' ip='10.213.7.11'/>"),
            "{xml}"
        );
    }
    let hosts =
        std::fs::read_to_string(lab.net_dir().join(format!("dnsmasq/{net}.hostsfile"))).unwrap();
    assert!(
        hosts.contains("52:54:00:6e:00:02,10.213.7.11,fixed2"),
        "{hosts}"
    );
    assert_eq!(lab.dnsmasq_pid(&net), Some(dnsmasq));
    let err = lab.fails(&[
        "net-update",
        &net,
        "add",
        "ip-dhcp-host",
        "<host mac='52:54:00:6e:00:02' name='again' ip='10.213.7.12'/>",
        "--live",
    ]);
    assert!(
        err.contains("there is an existing dhcp host entry"),
        "{err}"
    );
    lab.ok(&[
        "net-update",
        &net,
        "delete",
        "ip-dhcp-host",
        "<host mac='52:54:00:6e:00:02'/>",
        "--live",
        "--config",
    ]);
    assert!(!lab.ok(&["net-dumpxml", &net]).contains("fixed2"));

    // python3-libvirt sees the same networks through the daemon.
    let python = crate::support::python::libvirt_python()
        .expect("python3-libvirt is not installed (tests/run installs it)");
    {
        let script = format!(
            "import libvirt\nc = libvirt.open('{}')\nprint(sorted((n.name(), n.isActive(), n.bridgeName()) for n in c.listAllNetworks()))\n",
            lab.uri()
        );
        let out = run(python.to_str().unwrap(), &["-c", &script]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "python: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(&format!("('{net}', 1, '{bridge}')")),
            "{text}"
        );
    }

    // The read-only socket refuses every change.
    for args in [
        vec!["net-destroy", net.as_str()],
        vec!["net-define", file.as_str()],
        vec![
            "net-update",
            net.as_str(),
            "delete",
            "ip-dhcp-host",
            "<host mac='52:54:00:6e:00:01'/>",
        ],
        vec!["net-autostart", net.as_str()],
    ] {
        let out = Command::new("virsh")
            .arg("-c")
            .arg(lab.ro_uri())
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("read only access prevents"),
            "{args:?}: {err}"
        );
    }

    // A guest on the network: its tap is a port of the network's bridge.
    if have_qemu() {
        let guest = format!("vcg{tag}");
        let gfile = lab.write("guest.xml", &guest_xml(lab.dir.path(), &guest, &net));
        lab.ok(&["define", &gfile]);
        lab.ok(&["start", &guest]);
        let live = lab.ok(&["dumpxml", &guest]);
        let tap = live
            .split("<interface")
            .nth(1)
            .and_then(|iface| iface.split("<target dev='").nth(1))
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("no tap in {live}"))
            .to_string();
        assert!(
            live.contains(&format!("<source network='{net}' bridge='{bridge}'/>")),
            "{live}"
        );
        let link = String::from_utf8_lossy(
            &lab.inside(&["ip", "-o", "link", "show", "dev", &tap])
                .stdout,
        )
        .into_owned();
        assert!(link.contains(&format!("master {bridge}")), "{link}");
        lab.ok(&["destroy", &guest]);
        assert!(
            wait_for(Duration::from_secs(5), || !lab.link_exists(&tap)),
            "tap left after destroy"
        );

        // On an inactive network, and on an unknown one, the guest does not start and leaves no tap.
        let idle = format!("vcidle{tag}");
        let idle_file = lab.write(
            "idle.xml",
            &format!("<network><name>{idle}</name><bridge name='vci{tag}'/><ip address='10.213.9.1' prefix='24'/></network>"),
        );
        lab.ok(&["net-define", &idle_file]);
        let g2 = format!("vcg2{tag}");
        let g2file = lab.write("guest2.xml", &guest_xml(lab.dir.path(), &g2, &idle));
        lab.ok(&["define", &g2file]);
        let err = lab.fails(&["start", &g2]);
        assert!(
            err.contains(&format!("network '{idle}' is not active.")),
            "{err}"
        );
        let g3 = format!("vcg3{tag}");
        let g3file = lab.write("guest3.xml", &guest_xml(lab.dir.path(), &g3, "vcnosuchnet"));
        lab.ok(&["define", &g3file]);
        let err = lab.fails(&["start", &g3]);
        assert!(
            err.contains("Network not found: no network with matching name 'vcnosuchnet'"),
            "{err}"
        );
        let links = String::from_utf8_lossy(&lab.inside(&["ip", "-o", "link"]).stdout).into_owned();
        assert!(
            !links.contains("vnet"),
            "a failed start left a tap: {links}"
        );
        for g in [&guest, &g2, &g3] {
            lab.ok(&["undefine", g]);
        }
        lab.ok(&["net-undefine", &idle]);
    }

    // An autostarted network comes up when the daemon starts.
    let auto_net = format!("vcauto{tag}");
    let afile = lab.write(
        "auto.xml",
        &format!("<network><name>{auto_net}</name><bridge name='vca{tag}'/><ip address='10.213.11.1' prefix='24'/></network>"),
    );
    lab.ok(&["net-define", &afile]);
    lab.ok(&["net-autostart", &auto_net]);
    assert!(lab
        .ok(&["net-list", "--autostart", "--all"])
        .contains(&auto_net));

    // A daemon restart finds the running network again: same dnsmasq, same bridge, same table.
    lab.stop();
    assert!(lab.link_exists(&bridge), "the bridge outlives the daemon");
    lab.start();
    let info = lab.ok(&["net-info", &net]);
    assert_eq!(field(&info, "Active"), "yes", "{info}");
    assert_eq!(
        lab.dnsmasq_pid(&net),
        Some(dnsmasq),
        "dnsmasq was not started again"
    );
    assert_eq!(lab.dnsmasqs(&net), vec![dnsmasq], "one dnsmasq");
    assert!(lab.table_text(&uuid).is_some());
    assert_eq!(field(&lab.ok(&["net-info", &auto_net]), "Active"), "yes");
    assert!(lab.link_exists(&format!("vca{tag}")));
    lab.ok(&["net-destroy", &auto_net]);
    lab.ok(&["net-undefine", &auto_net]);

    // A dnsmasq that died is started again when the daemon next starts (as libvirt refreshes its networks).
    kill(Pid::from_raw(dnsmasq), Signal::SIGKILL).unwrap();
    assert!(wait_for(Duration::from_secs(5), || !alive(dnsmasq)));
    lab.stop();
    lab.start();
    // The qemu driver (and with it the network driver) opens once the daemon is ready: ask it something first.
    assert_eq!(field(&lab.ok(&["net-info", &net]), "Active"), "yes");
    let dnsmasq = lab.dnsmasq_pid(&net).expect("dnsmasq started again");
    assert_eq!(lab.dnsmasqs(&net), vec![dnsmasq], "one dnsmasq");

    // Destroy: nothing left on the host.
    lab.ok(&["net-destroy", &net]);
    assert!(!lab.link_exists(&bridge), "bridge left after destroy");
    assert!(
        lab.table_text(&uuid).is_none(),
        "nftables table left after destroy"
    );
    assert!(
        wait_for(Duration::from_secs(5), || !alive(dnsmasq)),
        "dnsmasq left after destroy"
    );
    let err = lab.fails(&["net-destroy", &net]);
    assert!(
        err.contains(&format!("network '{net}' is not active")),
        "{err}"
    );
    lab.ok(&["net-undefine", &net]);
    assert!(!lab.ok(&["net-list", "--all"]).contains(&net));

    // Transient: created running with a bridge name of the driver's choosing; gone once destroyed.
    let transient = format!("vctr{tag}");
    let tfile = lab.write(
        "transient.xml",
        &format!(
            "<network><name>{transient}</name><ip address='10.213.8.1' prefix='24'/></network>"
        ),
    );
    let watcher = Command::new("virsh")
        .arg("-c")
        .arg(lab.uri())
        .args([
            "net-event",
            "--event",
            "lifecycle",
            "--loop",
            "--timeout",
            "6",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("virsh net-event");
    std::thread::sleep(Duration::from_millis(1500));
    lab.ok(&["net-create", &tfile]);
    let info = lab.ok(&["net-info", &transient]);
    assert_eq!(field(&info, "Persistent"), "no", "{info}");
    let auto = field(&info, "Bridge");
    assert!(auto.starts_with("vcnbr"), "{info}");
    assert!(lab.link_exists(&auto));
    // The first static host of a network without DHCP: dnsmasq gets the new configuration.
    lab.ok(&[
        "net-update",
        &transient,
        "add-last",
        "ip-dhcp-host",
        "<host mac='52:54:00:6e:00:05' ip='10.213.8.5'/>",
    ]);
    let conf =
        std::fs::read_to_string(lab.net_dir().join(format!("dnsmasq/{transient}.conf"))).unwrap();
    assert!(conf.contains("dhcp-range=10.213.8.1,static\n"), "{conf}");
    assert_eq!(
        lab.dnsmasqs(&transient).len(),
        1,
        "one dnsmasq after the update"
    );
    let err = lab.fails(&[
        "net-update",
        &transient,
        "add",
        "ip-dhcp-host",
        "<host mac='52:54:00:6e:00:06' ip='10.213.8.6'/>",
        "--config",
    ]);
    assert!(
        err.contains("cannot change persistent config of a transient network"),
        "{err}"
    );
    let isolated = lab
        .table_text(&lab.ok(&["net-uuid", &transient]))
        .expect("isolation rules");
    assert!(
        isolated.contains("reject") && !isolated.contains("masquerade"),
        "{isolated}"
    );
    lab.ok(&["net-destroy", &transient]);
    assert!(!lab.link_exists(&auto));
    assert!(!lab.ok(&["net-list", "--all"]).contains(&transient));
    let events = watcher.wait_with_output().expect("net-event ends");
    let events = String::from_utf8_lossy(&events.stdout);
    assert!(
        events.contains(&format!(
            "event 'lifecycle' for network {transient}: Started"
        )) && events.contains(&format!(
            "event 'lifecycle' for network {transient}: Stopped"
        )),
        "net-event printed: {events}"
    );

    // Bad input and collisions: libvirt's errors, nothing half made.
    let bad = lab.write(
        "bad.xml",
        "<network><name>x</name><ip address='10.1.1.x'/></network>",
    );
    let err = lab.fails(&["net-define", &bad]);
    assert!(err.contains("Invalid address"), "{err}");
    let dummy = format!("vcd{tag}");
    let peer = format!("vcdp{tag}");
    must(
        "ip",
        &[
            "-n", &lab.ns, "link", "add", &dummy, "type", "veth", "peer", "name", &peer,
        ],
    );
    must(
        "ip",
        &[
            "-n",
            &lab.ns,
            "addr",
            "add",
            "10.213.10.5/24",
            "dev",
            &dummy,
        ],
    );
    must("ip", &["-n", &lab.ns, "link", "set", &peer, "up"]);
    must("ip", &["-n", &lab.ns, "link", "set", &dummy, "up"]);
    let clash = format!("vcclash{tag}");
    let cfile = lab.write(
        "clash.xml",
        &format!("<network><name>{clash}</name><bridge name='vcc{tag}'/><ip address='10.213.10.1' prefix='24'/></network>"),
    );
    lab.ok(&["net-define", &cfile]);
    let err = lab.fails(&["net-start", &clash]);
    assert!(
        err.contains(&format!("Network is already in use by interface {dummy}")),
        "{err}"
    );
    assert!(
        !lab.link_exists(&format!("vcc{tag}")),
        "a refused start left its bridge"
    );
    assert!(lab.dnsmasqs(&clash).is_empty());
    let same = lab.write(
        "same.xml",
        &format!("<network><name>vcsame{tag}</name><bridge name='vcc{tag}'/></network>"),
    );
    let err = lab.fails(&["net-define", &same]);
    assert!(
        err.contains(&format!("bridge name 'vcc{tag}' already in use.")),
        "{err}"
    );
    lab.ok(&["net-undefine", &clash]);
    lab.stop();
}
