//! The `virtcim` binary end to end: every invocation is a new process on a temp state dir, so these tests see
//! persistence too; and side by side with the real `virsh -c test:///default` on the same fresh world.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one process printed and how it exited.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn output(mut command: Command) -> Run {
    command
        .env("LC_ALL", "C")
        .env_remove("VIRTCIM_DEFAULT_URI")
        .env_remove("LIBVIRT_DEFAULT_URI");
    let out = command.output().expect("the program runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `virtcim ARGS` with its state in `state`.
fn virtcim(state: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_virtcim"));
    command.args(args).env("VIRTCIM_STATE_DIR", state);
    output(command)
}

/// `virsh -c test:///default ARGS`: libvirt's own test driver, in process, fresh at every start.
fn virsh(args: &[&str]) -> Run {
    let found = Command::new("virsh").arg("--version").output();
    assert!(
        found.is_ok(),
        "virsh is not installed: the comparison tests need it (apt-get install libvirt-clients)"
    );
    let mut command = Command::new("virsh");
    command.arg("-c").arg("test:///default").args(args);
    output(command)
}

/// Runs each command through both tools and lists every difference, so one run shows all of them.
fn compare_all(state: &Path, commands: &[&[&str]]) -> Vec<String> {
    let mut differences = Vec::new();
    for args in commands {
        let ours = virtcim(state, args);
        let theirs = virsh(args);
        if ours != theirs {
            differences.push(format!(
                "{args:?}\n  virtcim: {ours:?}\n  virsh:   {theirs:?}"
            ));
        }
    }
    differences
}

fn assert_no_differences(differences: &[String]) {
    assert!(
        differences.is_empty(),
        "virtcim differs from virsh:\n{}",
        differences.join("\n")
    );
}

fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Asserts success and returns stdout.
fn ok(run: Run) -> String {
    assert_eq!(run.code, 0, "failed: {run:?}");
    run.stdout
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cli")
        .join(name)
}

/// A domain definition with a fixed UUID, so both tools print the same thing.
fn write_demo(dir: &Path) -> PathBuf {
    let path = dir.join("demo.xml");
    std::fs::copy(data("demo.xml"), &path).expect("copy demo.xml");
    path
}

/// dominfo without the CPU time line, which is a clock reading.
fn without_cpu_time(text: &str) -> String {
    text.lines()
        .filter(|line| !line.starts_with("CPU time:"))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn lifecycle_persists_across_invocations() {
    let state = state_dir();
    let files = state_dir();
    let demo = write_demo(files.path());
    let demo_arg = demo.to_str().expect("utf-8 path");
    let s = state.path();

    assert_eq!(
        ok(virtcim(s, &["define", demo_arg])),
        format!("Domain 'demo' defined from {demo_arg}\n\n")
    );
    assert_eq!(
        ok(virtcim(s, &["list", "--all"])),
        " Id   Name   State\n-----------------------\n 1    test   running\n -    demo   shut off\n\n"
    );
    assert_eq!(ok(virtcim(s, &["domid", "demo"])), "-\n\n");
    assert_eq!(
        ok(virtcim(s, &["start", "demo"])),
        "Domain 'demo' started\n\n"
    );
    assert_eq!(ok(virtcim(s, &["domid", "demo"])), "2\n\n");
    assert_eq!(ok(virtcim(s, &["domstate", "demo"])), "running\n\n");
    assert_eq!(
        ok(virtcim(s, &["suspend", "demo"])),
        "Domain 'demo' suspended\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["domstate", "--reason", "demo"])),
        "paused (user)\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["resume", "--domain", "demo"])),
        "Domain 'demo' resumed\n\n"
    );
    assert_eq!(ok(virtcim(s, &["domstate", "demo"])), "running\n\n");
    assert_eq!(
        ok(virtcim(s, &["shutdown", "demo"])),
        "Domain 'demo' is being shutdown\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["domstate", "demo", "--reason"])),
        "shut off (shutdown)\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["start", "demo"])),
        "Domain 'demo' started\n\n"
    );
    let again = virtcim(s, &["start", "demo"]);
    assert_eq!(
        (again.code, again.stderr.as_str()),
        (1, "error: Domain is already active\n")
    );
    assert_eq!(
        ok(virtcim(s, &["destroy", "demo"])),
        "Domain 'demo' destroyed\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["domstate", "demo", "--reason"])),
        "shut off (destroyed)\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["undefine", "demo"])),
        "Domain 'demo' has been undefined\n\n"
    );
    let gone = virtcim(s, &["dominfo", "demo"]);
    assert_eq!(
        (gone.code, gone.stdout.as_str(), gone.stderr.as_str()),
        (1, "\n", "error: failed to get domain 'demo'\n")
    );
    assert_eq!(ok(virtcim(s, &["list", "--all", "--name"])), "test\n\n");
}

#[test]
fn create_makes_a_transient_domain() {
    let state = state_dir();
    let files = state_dir();
    let demo = write_demo(files.path());
    let demo_arg = demo.to_str().expect("utf-8 path");
    let s = state.path();
    assert_eq!(
        ok(virtcim(s, &["create", demo_arg])),
        format!("Domain 'demo' created from {demo_arg}\n\n")
    );
    let info = ok(virtcim(s, &["dominfo", "demo"]));
    assert!(info.contains("Persistent:     no\n"), "{info}");
    assert_eq!(
        ok(virtcim(s, &["destroy", "demo"])),
        "Domain 'demo' destroyed\n\n"
    );
    assert_eq!(ok(virtcim(s, &["list", "--all", "--name"])), "test\n\n");
}

#[test]
fn autostart_and_settings_persist() {
    let state = state_dir();
    let s = state.path();
    assert_eq!(
        ok(virtcim(s, &["autostart", "test"])),
        "Domain 'test' marked as autostarted\n\n"
    );
    assert!(ok(virtcim(s, &["dominfo", "test"])).contains("Autostart:      enable\n"));
    assert_eq!(
        ok(virtcim(s, &["list", "--autostart", "--name"])),
        "test\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["autostart", "--disable", "test"])),
        "Domain 'test' unmarked as autostarted\n\n"
    );
    assert!(ok(virtcim(s, &["dominfo", "test"])).contains("Autostart:      disable\n"));

    assert_eq!(ok(virtcim(s, &["setmem", "test", "1G"])), "\n");
    assert!(ok(virtcim(s, &["dominfo", "test"])).contains("Used memory:    1048576 KiB\n"));
    assert_eq!(
        ok(virtcim(s, &["setmem", "test", "524288", "--current"])),
        "\n"
    );
    assert!(ok(virtcim(s, &["dominfo", "test"])).contains("Used memory:    524288 KiB\n"));
    let both = virtcim(s, &["setmem", "test", "1000", "--live", "--current"]);
    assert_eq!(
        both.stderr,
        "error: Options --current and --live are mutually exclusive\n"
    );
    let bad = virtcim(s, &["setmem", "test", "abc"]);
    assert_eq!(
        bad.stderr,
        "error: Scaled numeric value 'abc' for <size> option is malformed or out of range\n"
    );
    let vcpus = virtcim(s, &["setvcpus", "test", "3", "--maximum"]);
    assert_eq!(
        vcpus.stderr,
        "error: Option --config is required by option --maximum\n"
    );

    assert_eq!(
        ok(virtcim(s, &["net-autostart", "default"])),
        "Network default marked as autostarted\n\n"
    );
    assert!(ok(virtcim(s, &["net-info", "default"])).contains("Autostart:      yes\n"));
    assert_eq!(
        ok(virtcim(s, &["pool-autostart", "default-pool"])),
        "Pool default-pool marked as autostarted\n\n"
    );
    assert!(ok(virtcim(s, &["pool-info", "default-pool"])).contains("Autostart:      yes\n"));
}

#[test]
fn networks_pools_and_volumes() {
    let state = state_dir();
    let files = state_dir();
    let s = state.path();
    let net = files.path().join("net.xml");
    std::fs::copy(data("net2.xml"), &net).expect("copy");
    let net = net.to_str().expect("utf-8");
    assert_eq!(
        ok(virtcim(s, &["net-define", net])),
        format!("Network net2 defined from {net}\n\n")
    );
    assert_eq!(
        ok(virtcim(s, &["net-list", "--all"])),
        " Name      State      Autostart   Persistent\n\
         ----------------------------------------------\n \
         default   active     no          yes\n \
         net2      inactive   no          yes\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["net-start", "net2"])),
        "Network net2 started\n\n"
    );
    assert!(ok(virtcim(s, &["net-info", "net2"])).contains("Active:         yes\n"));
    assert!(ok(virtcim(s, &["net-dumpxml", "net2"])).contains("<name>net2</name>"));
    assert_eq!(
        ok(virtcim(s, &["net-destroy", "net2"])),
        "Network net2 destroyed\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["net-undefine", "net2"])),
        "Network net2 has been undefined\n\n"
    );

    let pool = files.path().join("pool.xml");
    let pool_dir = files.path().join("pool2");
    std::fs::write(
        &pool,
        format!(
            "<pool type='dir'>\n  <name>pool2</name>\n  <target><path>{}</path></target>\n</pool>\n",
            pool_dir.display()
        ),
    )
    .expect("write pool xml");
    let pool = pool.to_str().expect("utf-8");
    assert_eq!(
        ok(virtcim(s, &["pool-define", pool])),
        format!("Pool pool2 defined from {pool}\n\n")
    );
    assert_eq!(
        ok(virtcim(s, &["pool-build", "pool2"])),
        "Pool pool2 built\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["pool-start", "pool2"])),
        "Pool pool2 started\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["pool-refresh", "pool2"])),
        "Pool pool2 refreshed\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["vol-create-as", "pool2", "v1", "1G"])),
        "Vol v1 created\n\n"
    );
    assert_eq!(
        ok(virtcim(
            s,
            &[
                "vol-create-as",
                "pool2",
                "disk.qcow2",
                "1500M",
                "--format",
                "qcow2",
                "--allocation",
                "10M"
            ]
        )),
        "Vol disk.qcow2 created\n\n"
    );
    let list = ok(virtcim(s, &["vol-list", "pool2", "--details"]));
    let header = list.lines().next().unwrap_or_default();
    assert!(header.starts_with(" Name         Path"), "{list}");
    assert!(
        header.ends_with("   Type   Capacity   Allocation"),
        "{list}"
    );
    let names: Vec<&str> = list
        .lines()
        .skip(2)
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(names, ["disk.qcow2", "v1"]);
    assert!(list.contains("1.46 GiB"), "{list}");
    assert!(list.contains("1.00 GiB"), "{list}");
    let info = ok(virtcim(s, &["vol-info", "v1", "--pool", "pool2"]));
    assert!(
        info.starts_with("Name:           v1\nType:           file\nCapacity:       1.00 GiB\n"),
        "{info}"
    );
    let path = ok(virtcim(s, &["vol-path", "--pool", "pool2", "v1"]));
    assert!(path.trim_end().ends_with("/v1"), "{path}");
    assert!(ok(virtcim(s, &["vol-dumpxml", "v1", "pool2"])).contains("<name>v1</name>"));
    assert_eq!(
        ok(virtcim(s, &["vol-delete", "v1", "pool2"])),
        "Vol v1 deleted\n\n"
    );
    let missing = virtcim(s, &["vol-info", "v1"]);
    assert_eq!(missing.code, 1);
    assert!(missing
        .stderr
        .starts_with("error: failed to get vol 'v1', specifying --pool might help\nerror: "));
    assert_eq!(
        ok(virtcim(s, &["vol-delete", "disk.qcow2", "pool2"])),
        "Vol disk.qcow2 deleted\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["pool-destroy", "pool2"])),
        "Pool pool2 destroyed\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["pool-undefine", "pool2"])),
        "Pool pool2 has been undefined\n\n"
    );
    assert_eq!(
        ok(virtcim(s, &["pool-list", "--all", "--name"])),
        "default-pool        \n\n"
    );
}

#[test]
fn read_only_refuses_changes() {
    let state = state_dir();
    let s = state.path();
    let run = virtcim(s, &["-r", "suspend", "test"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            1,
            "error: Failed to suspend domain 'test'\n\
             error: operation forbidden: read only access prevents virDomainSuspend\n"
        )
    );
    let run = virtcim(s, &["--readonly", "dumpxml", "test", "--security-info"]);
    assert_eq!(
        run.stderr,
        "error: operation forbidden: virDomainGetXMLDesc with secure flag\n"
    );
    let run = virtcim(s, &["-r", "net-destroy", "default"]);
    assert_eq!(
        run.stderr,
        "error: Failed to destroy network default\n\
         error: operation forbidden: read only access prevents virNetworkDestroy\n"
    );
    assert_eq!(ok(virtcim(s, &["-r", "domstate", "test"])), "running\n\n");
}

#[test]
fn uri_selection_and_usage_errors() {
    let state = state_dir();
    let s = state.path();
    assert_eq!(ok(virtcim(s, &["uri"])), "test:///default\n\n");
    assert_eq!(
        ok(virtcim(s, &["-c", "test:///default", "uri"])),
        "test:///default\n\n"
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_virtcim"));
    command.arg("list").env("VIRTCIM_STATE_DIR", s);
    command
        .env("LC_ALL", "C")
        .env("VIRTCIM_DEFAULT_URI", "bogus:///x");
    let out = command.output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: failed to connect to the hypervisor\nerror: "),
        "{stderr}"
    );

    let cases: &[(&[&str], &str)] = &[
        (&["foo"], "error: unknown command: 'foo'\n"),
        (
            &["list", "--bogus"],
            "error: command 'list' doesn't support option --bogus\n",
        ),
        (
            &["start"],
            "error: command 'start' requires <domain> option\n",
        ),
        (
            &["start", "--domain"],
            "error: expected syntax: --domain <string>\n",
        ),
        (&["domstate", "a", "b"], "error: unexpected data 'b'\n"),
        (
            &["--bogus", "list"],
            "error: unsupported option '--bogus'. See --help.\n",
        ),
    ];
    for (args, stderr) in cases {
        let run = virtcim(s, args);
        assert_eq!(
            (run.code, run.stdout.as_str(), run.stderr.as_str()),
            (1, "", *stderr),
            "{args:?}"
        );
    }
    assert_eq!(ok(virtcim(s, &["-q", "list"])), " 1   test   running\n");
    assert_eq!(ok(virtcim(s, &["-q", "autostart", "test"])), "");
    let help = ok(virtcim(s, &["help", "start"]));
    assert!(help.contains("  SYNOPSIS\n    start <domain>"), "{help}");
    assert!(ok(virtcim(s, &["dominfo", "--help"])).contains("dominfo <domain>"));
    assert!(ok(virtcim(s, &["help"])).contains("vol-create-as"));
}

/// Golden outputs recorded from `virsh -c test:///default` 9.0 on the fresh world.
#[test]
fn fresh_world_matches_golden_files() {
    let state = state_dir();
    let s = state.path();
    let cases: &[(&[&str], &str)] = &[
        (&["list", "--all"], "list-all.txt"),
        (&["nodeinfo"], "nodeinfo.txt"),
        (&["net-list", "--all"], "net-list-all.txt"),
        (
            &["pool-list", "--all", "--details"],
            "pool-list-details.txt",
        ),
        (&["net-info", "default"], "net-info.txt"),
        (&["pool-info", "default-pool"], "pool-info.txt"),
        (&["dominfo", "test"], "dominfo.txt"),
    ];
    for (args, file) in cases {
        let golden = std::fs::read_to_string(data(file)).expect("golden file");
        let ours = ok(virtcim(s, args));
        assert_eq!(without_cpu_time(&ours), golden, "{args:?}");
    }
}

/// The same commands through virsh and through virtcim on the same fresh world must print the same.
#[test]
fn same_output_as_virsh_on_the_fresh_world() {
    let state = state_dir();
    let s = state.path();
    let commands: &[&[&str]] = &[
        &["list"],
        &["list", "--all"],
        &["list", "--inactive"],
        &["list", "--name"],
        &["list", "--uuid", "--all"],
        &["nodeinfo"],
        &["domstate", "test"],
        &["domstate", "test", "--reason"],
        &["domstate", "1"],
        &["domid", "test"],
        &["domuuid", "test"],
        &["domname", "1"],
        &["domname", "6695eb01-f6a4-8304-79aa-97f2502e193f"],
        &["net-list"],
        &["net-list", "--all"],
        &["net-list", "--name"],
        &["net-info", "default"],
        &["pool-list"],
        &["pool-list", "--all"],
        &["pool-list", "--details"],
        &["pool-list", "--name"],
        &["pool-info", "default-pool"],
        &["pool-info", "--bytes", "default-pool"],
        &["vol-list", "default-pool"],
        &["vol-list", "default-pool", "--details"],
        &["uri"],
        // errors
        &["dominfo", "nosuch"],
        &["undefine", "nosuch"],
        &["shutdown", "nosuch"],
        &["domname", "test"],
        &["start", "test"],
        &["net-info", "nosuch"],
        &["pool-info", "nosuch"],
        &["vol-list", "nosuch"],
        &["foo"],
        &["list", "--bogus"],
        &["start"],
        &["start", "--domain"],
        &["domstate", "a", "b"],
        &["setmem", "test", "abc"],
        &["setvcpus", "test", "2", "--maximum"],
        &["shutdown", "test", "--mode", "foo"],
        &["domid", "6695eb01f6a4830479aa97f2502e193f"],
        &["dominfo", "99"],
        &["setmem", "test", "0"],
        &["setmaxmem", "test", "0"],
        &["setvcpus", "test", "0"],
        &["list", "--table", "--name"],
        &["net-list", "--name", "--uuid"],
        &["help", "nosuch"],
    ];
    let mut differences = compare_all(s, commands);
    for args in [
        &["dominfo", "test"][..],
        &["dominfo", "1"],
        &["dominfo", "6695eb01-f6a4-8304-79aa-97f2502e193f"],
    ] {
        let ours = virtcim(s, args);
        let theirs = virsh(args);
        if ours.code != theirs.code
            || without_cpu_time(&ours.stdout) != without_cpu_time(&theirs.stdout)
        {
            differences.push(format!(
                "{args:?}\n  virtcim: {ours:?}\n  virsh:   {theirs:?}"
            ));
        }
    }
    assert_no_differences(&differences);
}

/// Host facts and the network and pool documents of the fresh world print the same.
#[test]
fn same_documents_as_virsh() {
    let state = state_dir();
    let commands: &[&[&str]] = &[
        &["version"],
        &["hostname"],
        &["capabilities"],
        &["net-dumpxml", "default"],
        &["pool-dumpxml", "default-pool"],
    ];
    assert_no_differences(&compare_all(state.path(), commands));
}

/// Errors the driver raises (not virsh) must read the same too.
#[test]
fn same_driver_errors_as_virsh() {
    let state = state_dir();
    let s = state.path();
    let commands: &[&[&str]] = &[
        &["resume", "test"],
        &["net-start", "default"],
        &["pool-start", "default-pool"],
        &["pool-undefine", "default-pool"],
        &["net-undefine", "default"],
        &["vol-info", "x", "default-pool"],
        &["-r", "suspend", "test"],
        &["-r", "define", "/nonexistent.xml"],
        &["-r", "dumpxml", "test", "--security-info"],
        &["define", "/nonexistent.xml"],
    ];
    assert_no_differences(&compare_all(s, commands));
}

/// A whole session run by virsh as one `;`-separated command line equals the same commands run one process at a
/// time by virtcim (each virsh command's output is followed by a blank line, as ours is).
#[test]
fn same_lifecycle_as_virsh() {
    let state = state_dir();
    let files = state_dir();
    let demo = write_demo(files.path());
    let demo = demo.to_str().expect("utf-8");
    let steps: Vec<Vec<&str>> = vec![
        vec!["define", demo],
        vec!["list", "--all"],
        vec!["start", "demo"],
        vec!["list"],
        vec!["suspend", "demo"],
        vec!["domstate", "demo", "--reason"],
        vec!["resume", "demo"],
        vec!["domstate", "demo", "--reason"],
        vec!["shutdown", "demo"],
        vec!["domstate", "demo", "--reason"],
        vec!["start", "demo"],
        // Marked only while running: a new virtcim process starts autostart domains when it opens the state.
        vec!["autostart", "demo"],
        vec!["autostart", "demo", "--disable"],
        vec!["destroy", "demo"],
        vec!["domstate", "demo", "--reason"],
        vec!["undefine", "demo"],
        vec!["list", "--all"],
        vec!["vol-create-as", "default-pool", "v1", "1G"],
        vec![
            "vol-create-as",
            "default-pool",
            "big.img",
            "1500M",
            "--allocation",
            "10M",
        ],
        vec!["vol-list", "default-pool"],
        vec!["vol-list", "default-pool", "--details"],
        vec!["vol-info", "v1", "default-pool"],
        vec!["pool-list", "--details"],
        vec!["vol-delete", "v1", "default-pool"],
        vec!["vol-info", "/default-pool/big.img"],
        vec!["vol-path", "big.img", "--pool", "default-pool"],
        vec!["vol-delete", "/default-pool/big.img"],
        vec!["vol-list", "default-pool"],
        vec!["net-destroy", "default"],
        vec!["net-list", "--all"],
        vec!["net-start", "default"],
        vec!["net-list"],
    ];
    let mut ours = String::new();
    for step in &steps {
        ours.push_str(&ok(virtcim(state.path(), step)));
    }
    let line = steps
        .iter()
        .map(|step| step.join(" "))
        .collect::<Vec<_>>()
        .join(" ; ");
    let theirs = virsh(&[line.as_str()]);
    assert_eq!(theirs.code, 0, "{theirs:?}");
    assert_eq!(ours, theirs.stdout);

    // The same session as one command string in one virtcim process.
    let fresh = state_dir();
    let single = virtcim(fresh.path(), &[line.as_str()]);
    assert_eq!(single, theirs);
}
