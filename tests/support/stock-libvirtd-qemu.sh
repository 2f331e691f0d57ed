#!/bin/bash
# Runs a stock libvirtd 9.0 with its qemu driver isolated as research/libvirt-qemu/ describes, in the foreground
# (the caller backgrounds it): inside the network namespace NETNS (a file bound by `unshare --net=NETNS`), a private
# mount namespace with /etc/libvirt, /run and /var/* taken from DIR, a fresh sysfs, no cgroup controllers, no
# security driver, root as QEMU's user, and a subreaper that reaps what libvirt daemonizes (its QEMUs).
#
# Usage (as root): stock-libvirtd-qemu.sh DIR NETNS [HOST_UUID]
# Its read-write socket is DIR/sock/libvirt-sock (auth none), its pid file DIR/libvirtd.pid, its log
# DIR/libvirtd.log. Used by tests/qemu/migration_libvirtd.rs, bench/qemu.sh, bench/migration.sh and
# tests/data/qemu/defaults/capture.sh.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DIR NETNS [HOST_UUID]" >&2; exit 2; }
LV=$(cd "$1" && pwd)
NETNS=$2
UUID=${3:-}
mkdir -p "$LV"/{etc,lib,log,cache,sock,cgroup}
cat > "$LV/etc/libvirtd.conf" <<EOF
listen_tls = 0
listen_tcp = 0
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_dir = "$LV/sock"
unix_sock_rw_perms = "0777"
log_outputs = "3:file:$LV/libvirtd.log"
EOF
[ -n "$UUID" ] && echo "host_uuid = \"$UUID\"" >> "$LV/etc/libvirtd.conf"
cat > "$LV/etc/qemu.conf" <<EOF
user = "root"
group = "root"
security_driver = "none"
stdio_handler = "file"
cgroup_controllers = [ ]
EOF
cat > "$LV/subreaper.py" <<'EOF'
# Runs a command as the child of a subreaper that reaps every orphan below it (libvirt daemonizes QEMU).
import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
child = os.fork()
if child == 0:
    os.execv(sys.argv[1], sys.argv[1:])
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
EOF
exec nsenter --net="$NETNS" unshare -m --propagation private bash -c "
  set -e
  mount --rbind /sys/fs/cgroup $LV/cgroup
  mount -t sysfs sysfs /sys
  mount --rbind $LV/cgroup /sys/fs/cgroup
  mount --bind $LV/etc /etc/libvirt
  mount -t tmpfs tmpfs /run
  mount --bind $LV/lib /var/lib
  mount --bind $LV/log /var/log
  mount --bind $LV/cache /var/cache
  ip link set lo up
  exec /usr/bin/python3 $LV/subreaper.py /usr/sbin/libvirtd -f /etc/libvirt/libvirtd.conf -p $LV/libvirtd.pid
"
