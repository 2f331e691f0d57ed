//! The rest of libvirt's network XML on the host, through stock virsh and virtcimd: `<dns>` hosts, TXT and SRV
//! records, `<domain>`, `<mtu>` and `<dnsmasq:options>` kept by dumpxml and written into dnsmasq's configuration;
//! a DNS name of `<dns><host>` answered by the network's dnsmasq to `busybox nslookup` run in a namespace on the
//! bridge; dnsmasq running unprivileged as under libvirt; a dnsmasq killed behind the daemon's back noticed,
//! logged and restarted; the cached node device list following links as they come and go; colliding bridges and subnets refused with libvirt's messages; elements the host cannot
//! apply refused, not dropped.
//!
//! Everything runs in the namespaces of a [`Lab`] (see `network.rs`), removed however the test ends.

use super::network::{must, run, unavailable, Lab};
use crate::support::{alive, wait_for};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

fn dns_xml(name: &str, bridge: &str) -> String {
    format!(
        "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>\
         <name>{name}</name><bridge name='{bridge}'/><mtu size='1400'/>\
         <domain name='vclab.test' localOnly='yes'/>\
         <dns><txt name='motd' value='hello from virtcim'/>\
         <srv service='ldap' protocol='tcp' target='seven.vclab.test' port='389'/>\
         <host ip='10.214.9.7'><hostname>seven</hostname><hostname>lucky</hostname></host></dns>\
         <ip address='10.214.9.1' netmask='255.255.255.0'><dhcp>\
         <range start='10.214.9.100' end='10.214.9.110'><lease expiry='1' unit='hours'/></range></dhcp></ip>\
         <dnsmasq:options><dnsmasq:option value='cache-size=0'/></dnsmasq:options></network>"
    )
}

/// `busybox nslookup NAME SERVER` run in the client namespace; its output.
fn lookup(lab: &Lab, name: &str) -> String {
    let out = run(
        "ip",
        &[
            "netns",
            "exec",
            &lab.client,
            "busybox",
            "nslookup",
            name,
            "10.214.9.1",
        ],
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_dns_records_and_bad_input_on_the_host() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    tokio::task::block_in_place(scenario);
}

fn scenario() {
    let mut lab = Lab::named("d");
    // A state directory others may traverse, as /var/lib is: dnsmasq then drops root as it does under libvirt.
    std::fs::set_permissions(lab.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    lab.start();
    let tag = std::process::id() % 100_000;
    let net = format!("vcdns{tag}");
    let bridge = format!("vcdb{tag}");
    let path = lab.write("dns.xml", &dns_xml(&net, &bridge));
    lab.ok(&["net-define", &path]);

    // Kept: dumpxml gives every element back.
    let xml = lab.ok(&["net-dumpxml", &net]);
    for part in [
        "xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'",
        "<mtu size='1400'/>",
        "<domain name='vclab.test' localOnly='yes'/>",
        "<txt name='motd' value='hello from virtcim'/>",
        "<srv service='ldap' protocol='tcp' target='seven.vclab.test' port='389'/>",
        "<hostname>lucky</hostname>",
        "<lease expiry='1' unit='hours'/>",
        "<dnsmasq:option value='cache-size=0'/>",
    ] {
        assert!(xml.contains(part), "{part} missing from\n{xml}");
    }

    // Used: dnsmasq's configuration and hosts file carry them, the bridge has the MTU.
    lab.ok(&["net-start", &net]);
    let conf = std::fs::read_to_string(lab.net_dir().join(format!("dnsmasq/{net}.conf"))).unwrap();
    for line in [
        "local=/vclab.test/\n",
        "domain=vclab.test\nexpand-hosts\n",
        "txt-record=motd,hello from virtcim\n",
        "srv-host=_ldap._tcp,seven.vclab.test,389\n",
        "dhcp-range=10.214.9.100,10.214.9.110,255.255.255.0,1h\n",
        "dhcp-option=option:mtu,1400\n",
        "cache-size=0\n",
    ] {
        assert!(conf.contains(line), "{line:?} missing from\n{conf}");
    }
    assert!(
        !conf.contains("user="),
        "dnsmasq should drop root itself:\n{conf}"
    );
    let addn =
        std::fs::read_to_string(lab.net_dir().join(format!("dnsmasq/{net}.addnhosts"))).unwrap();
    assert_eq!(addn, "10.214.9.7\tseven\tlucky\n");
    let link =
        String::from_utf8_lossy(&lab.inside(&["ip", "link", "show", &bridge]).stdout).into_owned();
    assert!(link.contains("mtu 1400"), "{link}");

    // dnsmasq runs unprivileged, as libvirt's does (dnsmasq's own default user).
    let pid = lab.dnsmasq_pid(&net).expect("dnsmasq runs");
    let user = must("ps", &["-o", "user=", "-p", &pid.to_string()]);
    assert_eq!(user.trim(), "nobody", "dnsmasq runs as {user}");

    // A client on the bridge asks the network's dnsmasq for a <dns><host> name.
    let (host_end, client_end) = (format!("vcda{tag}"), format!("vcdc{tag}"));
    // The node device list is cached between calls, yet shows a new link at the next call.
    let before = lab.ok(&["nodedev-list", "--cap", "net"]);
    assert!(before.contains("net_lo_"), "{before}");
    assert!(!before.contains(&format!("net_{host_end}_")), "{before}");
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
    let after = lab.ok(&["nodedev-list", "--cap", "net"]);
    assert!(after.contains(&format!("net_{host_end}_")), "{after}");
    assert!(after.contains(&format!("net_{client_end}_")), "{after}");
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
    let moved = lab.ok(&["nodedev-list", "--cap", "net"]);
    assert!(!moved.contains(&format!("net_{client_end}_")), "{moved}");
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
            "addr",
            "add",
            "10.214.9.50/24",
            "dev",
            &client_end,
        ],
    );
    must("ip", &["-n", &lab.client, "link", "set", &client_end, "up"]);
    let mut answer = String::new();
    let answered = wait_for(Duration::from_secs(20), || {
        answer = lookup(&lab, "seven");
        answer.contains("10.214.9.7")
    });
    assert!(answered, "no answer for 'seven':\n{answer}");
    // The network's domain is appended to plain names (expand-hosts) and served locally.
    let answer = lookup(&lab, "lucky.vclab.test");
    assert!(answer.contains("10.214.9.7"), "{answer}");

    // A dnsmasq killed behind the daemon's back is noticed, logged and started again.
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let mut restarted = None;
    let back = wait_for(Duration::from_secs(20), || {
        restarted = lab.dnsmasq_pid(&net).filter(|p| *p != pid);
        restarted.is_some()
    });
    assert!(back, "dnsmasq was not restarted after it died");
    let log = lab
        .daemon
        .as_mut()
        .unwrap()
        .wait_for("died; starting it again");
    assert!(log.contains(&net), "{log}");
    assert!(!alive(pid) || pid != restarted.unwrap());
    let answer = lookup(&lab, "seven");
    assert!(answer.contains("10.214.9.7"), "{answer}");
    let info = lab.ok(&["net-info", &net]);
    assert!(info.contains("Active:         yes"), "{info}");

    // Collisions, refused as libvirt refuses them.
    let same_bridge = format!(
        "<network><name>{net}b</name><bridge name='{bridge}'/>\
         <ip address='10.214.19.1' prefix='24'/></network>"
    );
    let err = lab.fails(&["net-define", &lab.write("b.xml", &same_bridge)]);
    assert!(
        err.contains(&format!("bridge name '{bridge}' already in use.")),
        "{err}"
    );
    let same_subnet = format!(
        "<network><name>{net}s</name><bridge name='vcds{tag}'/>\
         <ip address='10.214.9.254' prefix='24'/></network>"
    );
    let err = lab.fails(&["net-create", &lab.write("s.xml", &same_subnet)]);
    assert!(
        err.contains(&format!("Network is already in use by interface {bridge}")),
        "{err}"
    );
    // A host interface's route (not a network's) collides the same way.
    must(
        "ip",
        &[
            "-n",
            &lab.ns,
            "link",
            "add",
            &format!("vcdu{tag}"),
            "type",
            "veth",
            "peer",
            "name",
            &format!("vcdv{tag}"),
        ],
    );
    must(
        "ip",
        &[
            "-n",
            &lab.ns,
            "addr",
            "add",
            "10.214.29.1/24",
            "dev",
            &format!("vcdu{tag}"),
        ],
    );
    for end in [format!("vcdu{tag}"), format!("vcdv{tag}")] {
        must("ip", &["-n", &lab.ns, "link", "set", &end, "up"]);
    }
    let host_subnet =
        format!("<network><name>{net}h</name><ip address='10.214.29.7' prefix='24'/></network>");
    let err = lab.fails(&["net-create", &lab.write("h.xml", &host_subnet)]);
    assert!(
        err.contains(&format!("Network is already in use by interface vcdu{tag}")),
        "{err}"
    );
    assert!(!lab.link_exists(&format!("vcds{tag}")));

    // What the host cannot apply is refused, never kept and ignored.
    let bandwidth = format!(
        "<network><name>{net}w</name><bandwidth><inbound average='1000'/></bandwidth>\
         <ip address='10.214.39.1' prefix='24'/></network>"
    );
    let err = lab.fails(&["net-define", &lab.write("w.xml", &bandwidth)]);
    assert!(
        err.contains("unsupported configuration") && err.contains("<bandwidth>"),
        "{err}"
    );
    let bad_dns = format!(
        "<network><name>{net}x</name><dns enable='no'><host ip='10.0.0.1'><hostname>a</hostname></host></dns></network>"
    );
    let err = lab.fails(&["net-define", &lab.write("x.xml", &bad_dns)]);
    assert!(err.contains("Extra data in disabled network"), "{err}");
    let list = lab.ok(&["net-list", "--all", "--name"]);
    assert_eq!(list.split_whitespace().collect::<Vec<_>>(), [net.as_str()]);

    // Stopped: nothing left.
    let last = restarted.unwrap();
    lab.ok(&["net-destroy", &net]);
    assert!(wait_for(Duration::from_secs(10), || !alive(last)));
    assert!(!lab.link_exists(&bridge));
    lab.ok(&["net-undefine", &net]);
    lab.stop();
}
