#!/bin/bash
# Regenerates the `*.libvirt.xml` captures beside each guest `NAME.xml` here: what a stock libvirtd 9.0 with its
# qemu driver answers to `virsh dumpxml --inactive` after `virsh define NAME.xml` (tests/qemu/defaults.rs compares
# our daemon's answer with them after normalising uuid and MAC addresses).
#
# Usage (as root, Debian's libvirt-daemon + libvirt-daemon-driver-qemu + qemu-system-x86): tests/data/qemu/defaults/capture.sh
# libvirtd runs isolated as research/libvirt-qemu/ describes (and bench/qemu.sh does): its own network namespace,
# a private mount namespace with /etc/libvirt, /run and /var/* from a temp dir, no cgroups, no security driver.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/virtcim-capture.XXXXXX)
PID=
cleanup() {
    set +e
    [ -s "$W/lv/libvirtd.pid" ] && kill "$(cat "$W/lv/libvirtd.pid")" 2>/dev/null
    [ -n "$PID" ] && { sleep 1; kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
    umount "$W/netns" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
LV=$W/lv
mkdir -p "$LV"/{etc,lib,log,cache,sock,cgroup}
touch "$W/netns"
unshare --net="$W/netns" true
cat > "$LV/etc/libvirtd.conf" <<EOF
listen_tls = 0
listen_tcp = 0
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_dir = "$LV/sock"
unix_sock_rw_perms = "0777"
log_outputs = "3:file:$LV/libvirtd.log"
EOF
cat > "$LV/etc/qemu.conf" <<EOF
user = "root"
group = "root"
security_driver = "none"
stdio_handler = "file"
cgroup_controllers = [ ]
EOF
nsenter --net="$W/netns" unshare -m --propagation private bash -c "
  set -e
  mount --rbind /sys/fs/cgroup $LV/cgroup
  mount -t sysfs sysfs /sys
  mount --rbind $LV/cgroup /sys/fs/cgroup
  mount --bind $LV/etc /etc/libvirt
  mount -t tmpfs tmpfs /run
  mount --bind $LV/lib /var/lib
  mount --bind $LV/log /var/log
  mount --bind $LV/cache /var/cache
  exec /usr/sbin/libvirtd -f /etc/libvirt/libvirtd.conf -p $LV/libvirtd.pid
" 2>"$LV/stderr" &
PID=$!
URI="qemu+unix:///system?socket=$LV/sock/libvirt-sock"
for _ in $(seq 300); do [ -S "$LV/sock/libvirt-sock" ] && break; sleep 0.1; done
for input in "$HERE"/*.xml; do
    case $input in *.libvirt.xml) continue ;; esac
    name=$(basename "$input" .xml)
    virsh -q -c "$URI" define "$input" >/dev/null
    virsh -c "$URI" dumpxml --inactive "$name" > "$HERE/$name.libvirt.xml"
    virsh -q -c "$URI" undefine --nvram "$name" >/dev/null
    echo "captured $name"
done
