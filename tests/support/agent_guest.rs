//! A tiny Linux guest that runs the QEMU guest agent: Debian's kernel (downloaded as a package, unpacked, never
//! installed) booted straight into an initramfs holding busybox, `qemu-ga` and the virtio modules the agent's
//! port needs. Built once per content under the test target dir and reused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The kernel and initramfs of the agent guest.
#[derive(Clone, Debug)]
pub struct AgentGuest {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// Modules for `/dev/vport*`, in load order (Debian builds virtio and its PCI transport as modules).
const MODULES: &[&str] = &[
    "virtio/virtio_ring",
    "virtio/virtio",
    "virtio/virtio_pci_legacy_dev",
    "virtio/virtio_pci_modern_dev",
    "virtio/virtio_pci",
    "char/virtio_console",
];

/// The guest's `/init`: mounts, loads the modules, brings `lo` up, finds the agent's port by its name and runs
/// the agent in the foreground (`AGENT=0` on the command line boots without it: a channel nobody answers).
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /run /tmp /var/run
for m in $(cat /modules/order); do insmod /modules/$m.ko; done
ip link set lo up
hostname agentguest
echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd
echo 'root::0:0:99999:7:::' > /etc/shadow
grep -q 'AGENT=0' /proc/cmdline && { echo 'no agent'; while true; do sleep 3600; done; }
PORT=
for i in $(seq 1 60); do
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat $p/name 2>/dev/null)" = org.qemu.guest_agent.0 ] && PORT=/dev/$(basename $p)
  done
  [ -n "$PORT" ] && [ -e "$PORT" ] && break
  sleep 1
done
echo "agent port: $PORT"
while true; do
  qemu-ga -m virtio-serial -p "$PORT" -f /run/qemu-ga.pid -t /run
  sleep 1
done
"#;

/// `/sbin/shutdown` as qemu-ga calls it for `guest-shutdown` (busybox has none): power off or reboot at once.
const SHUTDOWN: &str =
    "#!/bin/sh\ncase \"$*\" in *-r*) exec reboot -f ;; *) exec poweroff -f ;; esac\n";

/// `chpasswd` as qemu-ga calls it for `guest-set-user-password` (busybox has none): `user:password` on stdin,
/// hashed (or already hashed with `-e`) into /etc/shadow.
const CHPASSWD: &str = "#!/bin/sh\nread -r line\nuser=${line%%:*}\npw=${line#*:}\n\
case \"$1\" in -e) hash=\"$pw\" ;; *) hash=$(mkpasswd -m sha512 \"$pw\") ;; esac\n\
sed -i \"s|^$user:[^:]*:|$user:$hash:|\" /etc/shadow\n";

static BUILT: Mutex<Option<Result<AgentGuest, String>>> = Mutex::new(None);

/// The agent guest's files, built on first use; `Err` says why they cannot be had (no kernel package
/// reachable, no qemu-ga installed).
pub fn agent_guest() -> Result<AgentGuest, String> {
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(result) = built.as_ref() {
        return result.clone();
    }
    let result = build();
    *built = Some(result.clone());
    result
}

fn output(program: &str, args: &[&str], cwd: Option<&Path>) -> Result<String, String> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let out = cmd
        .output()
        .map_err(|err| format!("{program} {args:?}: {err}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The versioned kernel package `linux-image-amd64` depends on.
fn kernel_package() -> Result<String, String> {
    let deps = output("apt-cache", &["depends", "linux-image-amd64"], None)?;
    deps.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-"))
        .map(str::to_string)
        .ok_or_else(|| format!("no linux-image dependency in: {deps}"))
}

/// Shared libraries a binary needs, as `ldd` lists them.
fn libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let listing = output("ldd", &[&binary.to_string_lossy()], None)?;
    Ok(listing
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect())
}

fn copy_into(root: &Path, file: &Path) -> Result<(), String> {
    let dest = root.join(file.strip_prefix("/").unwrap_or(file));
    std::fs::create_dir_all(dest.parent().unwrap()).map_err(|e| e.to_string())?;
    std::fs::copy(file, &dest).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(())
}

fn build() -> Result<AgentGuest, String> {
    let qga = Path::new("/usr/sbin/qemu-ga");
    let busybox = Path::new("/usr/bin/busybox");
    for needed in [qga, busybox] {
        if !needed.exists() {
            return Err(format!(
                "{} is missing (tests/run installs it)",
                needed.display()
            ));
        }
    }
    let package = kernel_package()?;
    // The cache key: the kernel package, the two binaries and the init script.
    let mut key = package.clone();
    for file in [qga, busybox] {
        let meta = std::fs::metadata(file).map_err(|e| e.to_string())?;
        key.push_str(&format!(
            ":{}:{:?}",
            meta.len(),
            meta.modified().map_err(|e| e.to_string())?
        ));
    }
    key.push_str(INIT);
    key.push_str(SHUTDOWN);
    key.push_str(CHPASSWD);
    let digest = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        h.finish()
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("agent-guest-{digest:016x}"));
    let guest = AgentGuest {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.cpio"),
    };
    if guest.kernel.exists() && guest.initrd.exists() {
        return Ok(guest);
    }
    // Built aside and renamed into place, so a concurrent test binary never sees half a guest.
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).map_err(|e| e.to_string())?;
    let download = work.path().join("download");
    std::fs::create_dir_all(&download).map_err(|e| e.to_string())?;
    output("apt-get", &["download", &package], Some(&download))
        .map_err(|err| format!("the kernel package {package} cannot be downloaded: {err}"))?;
    let deb = std::fs::read_dir(&download)
        .map_err(|e| e.to_string())?
        .map_while(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("apt-get download left no .deb")?;
    let unpacked = work.path().join("unpacked");
    output(
        "dpkg-deb",
        &["-x", &deb.to_string_lossy(), &unpacked.to_string_lossy()],
        None,
    )?;
    let boot = unpacked.join("boot");
    let vmlinuz = std::fs::read_dir(&boot)
        .map_err(|e| e.to_string())?
        .map_while(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .ok_or("no vmlinuz in the kernel package")?;
    let release = vmlinuz
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("vmlinuz-")
        .to_string();
    let drivers = unpacked.join(format!("lib/modules/{release}/kernel/drivers"));

    let root = work.path().join("root");
    for sub in [
        "bin", "sbin", "proc", "sys", "dev", "run", "tmp", "etc", "modules",
    ] {
        std::fs::create_dir_all(root.join(sub)).map_err(|e| e.to_string())?;
    }
    std::fs::copy(busybox, root.join("bin/busybox")).map_err(|e| e.to_string())?;
    std::fs::copy(qga, root.join("bin/qemu-ga")).map_err(|e| e.to_string())?;
    let mut libs = libraries(busybox)?;
    libs.extend(libraries(qga)?);
    libs.sort();
    libs.dedup();
    for lib in &libs {
        copy_into(&root, lib)?;
    }
    let mut order = String::new();
    for module in MODULES {
        let name = module.rsplit('/').next().unwrap();
        let plain = drivers.join(format!("{module}.ko"));
        let dest = root.join(format!("modules/{name}.ko"));
        if plain.exists() {
            std::fs::copy(&plain, &dest).map_err(|e| e.to_string())?;
        } else {
            // Newer kernels ship compressed modules, which busybox's insmod cannot read.
            let xz = drivers.join(format!("{module}.ko.xz"));
            let text = Command::new("xz")
                .args(["-dc", &xz.to_string_lossy()])
                .output()
                .map_err(|e| e.to_string())?;
            if !text.status.success() {
                return Err(format!("module {module} not in the kernel package"));
            }
            std::fs::write(&dest, text.stdout).map_err(|e| e.to_string())?;
        }
        order.push_str(name);
        order.push('\n');
    }
    std::fs::write(root.join("modules/order"), order).map_err(|e| e.to_string())?;
    for (file, text) in [
        ("init", INIT),
        ("sbin/shutdown", SHUTDOWN),
        ("sbin/chpasswd", CHPASSWD),
    ] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(root.join(file), text).map_err(|e| e.to_string())?;
        std::fs::set_permissions(root.join(file), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
    }
    let archive = work.path().join("initrd.cpio");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find . | cpio -o -H newc --quiet > '{}'",
            archive.display()
        ))
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cpio: {e}"))?;
    if !status.success() {
        return Err("cpio failed (tests/run installs it)".into());
    }
    let staged = work.path().join("guest");
    std::fs::create_dir_all(&staged).map_err(|e| e.to_string())?;
    std::fs::rename(&vmlinuz, staged.join("vmlinuz")).map_err(|e| e.to_string())?;
    std::fs::rename(&archive, staged.join("initrd.cpio")).map_err(|e| e.to_string())?;
    if std::fs::rename(&staged, &dir).is_err() && !guest.initrd.exists() {
        return Err(format!("cannot place the guest in {}", dir.display()));
    }
    Ok(guest)
}

/// A domain XML booting the agent guest, with the agent's channel (`channel`) and the agent running in it
/// (`agent`). TCG always: this kernel's decompressor crawls under the nested KVM some hosts give.
pub fn agent_guest_xml(guest: &AgentGuest, name: &str, channel: bool, agent: bool) -> String {
    let chan = if channel {
        "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
    } else {
        ""
    };
    let agent_arg = if agent { "" } else { " AGENT=0" };
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{}</kernel><initrd>{}</initrd>\
         <cmdline>console=ttyS0 panic=-1{agent_arg}</cmdline></os><features><acpi/></features>\
         <pm><suspend-to-mem enabled='yes'/><suspend-to-disk enabled='no'/></pm>\
         <devices>{chan}</devices></domain>",
        guest.kernel.display(),
        guest.initrd.display()
    )
}
