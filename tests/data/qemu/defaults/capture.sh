#!/bin/bash
# Regenerates the `*.libvirt.xml` captures beside each guest `NAME.xml` here: what a stock libvirtd 9.0 with its
# qemu driver answers to `virsh dumpxml --inactive` after `virsh define NAME.xml` (tests/qemu/defaults.rs compares
# our daemon's answer with them after normalising uuid and MAC addresses).
#
# Usage (as root, Debian's libvirt-daemon + libvirt-daemon-driver-qemu + qemu-system-x86): tests/data/qemu/defaults/capture.sh
# libvirtd runs isolated by tests/support/stock-libvirtd-qemu.sh (as research/libvirt-qemu/ describes): its own network namespace,
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
mkdir -p "$LV"
touch "$W/netns"
unshare --net="$W/netns" true
"$HERE/../../../support/stock-libvirtd-qemu.sh" "$LV" "$W/netns" 2>"$W/stderr" &
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
