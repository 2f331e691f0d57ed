#!/bin/bash
# Host virtual networks (issue 13): virtcimd's network driver against a stock libvirtd 9.0's (its bridge driver,
# dnsmasq and firewall), each daemon isolated in a network namespace of its own with no route out (and libvirtd
# also in a private mount namespace over /etc/libvirt, /run, /var/lib, /var/log and /var/cache, as
# /work/shared/research/libvirt-qemu/README.md describes), both under a bash that reaps orphans (pid namespace).
# Timed with farm-bench, A/B pairs alternating:
#   1. net-start + net-destroy of a NAT network with DHCP (one virsh call each, run as one command);
#   2. net-list --all with 100 defined networks (10 of them running);
#   3. nodedev-list --tree (after the nodedev scan cache);
#   4. pool-refresh of a dir pool holding 10 000 volumes (the same directory for both daemons).
# Prints farm-bench's reports; BENCHMARKS.md records the medians and ratios. Not a test.
#
# Usage: bench/net.sh [RUNS]    (default 10). Needs root, libvirt-daemon, dnsmasq-base, nftables, farm-bench.
# VIRTCIMD=path picks the daemon binary (default: target/release/virtcimd, else target/debug/virtcimd).
set -euo pipefail
RUNS=${1:-10}
cd "$(dirname "$0")/.."
BIN=${VIRTCIMD:-$PWD/target/release/virtcimd}
[ -x "$BIN" ] || BIN=$PWD/target/debug/virtcimd
WORK=$(mktemp -d /tmp/vcnetbench.XXXXXX)
chmod 755 "$WORK"
NS_V=vcbv$$
NS_L=vcbl$$
# Ends a process and everything under it, children first (the daemons run under unshare and a bash, which a
# signal to the top alone leaves running).
killtree() {
    local child
    for child in $(pgrep -P "$1"); do killtree "$child"; done
    kill "$1" 2>/dev/null || true
}
cleanup() {
    for f in "$WORK"/*.pid; do [ -f "$f" ] && killtree "$(cat "$f")"; done
    sleep 1
    ip netns del "$NS_V" 2>/dev/null || true
    ip netns del "$NS_L" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
for ns in "$NS_V" "$NS_L"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done

# virtcimd, its state and sockets in WORK/v.
mkdir -p "$WORK/v"
printf 'state_dir = "%s/v/state"\nunix_sock_dir = "%s/v/run"\n' "$WORK" "$WORK" >"$WORK/v/virtcimd.conf"
ip netns exec "$NS_V" unshare --pid --fork --mount-proc --kill-child \
    bash -c "$BIN --config $WORK/v/virtcimd.conf & wait" >"$WORK/v/log" 2>&1 &
echo $! >"$WORK/virtcimd.pid"

# libvirtd with a private /etc/libvirt (no autostarted default network), /run, /var/lib, /var/log, /var/cache.
L=$WORK/l
mkdir -p "$L"/{etc,run,lib,log,cache,sock}
cp -a /etc/libvirt/. "$L/etc/"
rm -rf "$L/etc/qemu/networks/autostart" "$L/etc/qemu/networks/"*.xml
cat >"$L/etc/libvirtd.conf" <<EOF
listen_tls = 0
listen_tcp = 0
unix_sock_dir = "$L/sock"
unix_sock_rw_perms = "0777"
auth_unix_rw = "none"
auth_unix_ro = "none"
EOF
cat >"$L/etc/qemu.conf" <<EOF
user = "root"
group = "root"
security_driver = "none"
stdio_handler = "file"
cgroup_controllers = [ ]
EOF
ip netns exec "$NS_L" unshare -m --propagation private --pid --fork --mount-proc --kill-child bash -c "
    mount --bind $L/etc /etc/libvirt && mount --bind $L/run /run && mount --bind $L/lib /var/lib &&
    mount --bind $L/log /var/log && mount --bind $L/cache /var/cache &&
    /usr/sbin/libvirtd -f /etc/libvirt/libvirtd.conf & wait" >"$L/libvirtd.out" 2>&1 &
echo $! >"$WORK/libvirtd.pid"

V="qemu+unix:///system?socket=$WORK/v/run/libvirt-sock"
S="qemu+unix:///system?socket=$L/sock/libvirt-sock"
export LIBVIRT_AUTOSTART=0
for i in $(seq 1 300); do
    [ -S "$WORK/v/run/libvirt-sock" ] && [ -S "$L/sock/libvirt-sock" ] && break
    sleep 0.2
done
virsh -q -c "$V" version >/dev/null
virsh -q -c "$S" version >/dev/null

net_xml() { # NAME BRIDGE THIRD_OCTET
    cat <<EOF
<network><name>$1</name><forward mode='nat'/><bridge name='$2'/>
<ip address='10.216.$3.1' netmask='255.255.255.0'><dhcp><range start='10.216.$3.10' end='10.216.$3.200'/></dhcp></ip></network>
EOF
}
for uri in "$V" "$S"; do
    net_xml bench vcbench0 0 >"$WORK/bench.xml"
    virsh -q -c "$uri" net-define "$WORK/bench.xml" >/dev/null
done

echo "== net-start + net-destroy of a NAT network with DHCP (A: virtcimd, B: libvirtd)"
farm-bench -n "$RUNS" --timeout 600 \
    --vs "sh -c 'virsh -q -c \"$S\" net-start bench >/dev/null && virsh -q -c \"$S\" net-destroy bench >/dev/null'" \
    -- sh -c "virsh -q -c \"$V\" net-start bench >/dev/null && virsh -q -c \"$V\" net-destroy bench >/dev/null"

echo "== the cost of virsh itself: two 'version' calls (A: virtcimd, B: libvirtd)"
farm-bench -n "$RUNS" --vs "sh -c 'virsh -q -c \"$S\" version >/dev/null && virsh -q -c \"$S\" version >/dev/null'" \
    -- sh -c "virsh -q -c \"$V\" version >/dev/null && virsh -q -c \"$V\" version >/dev/null"

# 99 more networks (100 in all), the first ten of them running.
for uri in "$V" "$S"; do
    for i in $(seq 1 99); do
        net_xml "bench$i" "vcbench$i" "$i" >"$WORK/n.xml"
        virsh -q -c "$uri" net-define "$WORK/n.xml" >/dev/null
        if [ "$i" -le 10 ]; then virsh -q -c "$uri" net-start "bench$i" >/dev/null; fi
    done
done
[ "$(virsh -q -c "$V" net-list --all --name | grep -c .)" = 100 ] || { echo "virtcimd does not list 100 networks" >&2; exit 1; }
[ "$(virsh -q -c "$S" net-list --all --name | grep -c .)" = 100 ] || { echo "libvirtd does not list 100 networks" >&2; exit 1; }
echo "== net-list --all with 100 networks, 10 running (A: virtcimd, B: libvirtd)"
farm-bench -n "$RUNS" --vs "virsh -q -c $S net-list --all" -- virsh -q -c "$V" net-list --all

echo "== nodedev-list --tree (A: virtcimd, B: libvirtd), each in its own namespace's sysfs"
farm-bench -n "$RUNS" --vs "virsh -q -c $S nodedev-list --tree" -- virsh -q -c "$V" nodedev-list --tree

for uri in "$V" "$S"; do
    for i in $(seq 1 10); do virsh -q -c "$uri" net-destroy "bench$i" >/dev/null; done
done

# One directory of 10 000 small raw volumes, a dir pool over it in each daemon.
mkdir -p "$WORK/pool"
for i in $(seq 1 10000); do : >"$WORK/pool/vol$i.img"; done
for uri in "$V" "$S"; do
    virsh -q -c "$uri" pool-create-as benchpool dir --target "$WORK/pool" >/dev/null
done
[ "$(virsh -q -c "$V" vol-list benchpool | grep -c .)" = 10000 ] || { echo "virtcimd does not list 10000 volumes" >&2; exit 1; }
[ "$(virsh -q -c "$S" vol-list benchpool | grep -c .)" = 10000 ] || { echo "libvirtd does not list 10000 volumes" >&2; exit 1; }
echo "== pool-refresh of a dir pool with 10 000 volumes (A: virtcimd, B: libvirtd)"
farm-bench -n "$RUNS" --vs "virsh -q -c $S pool-refresh benchpool" -- virsh -q -c "$V" pool-refresh benchpool
for uri in "$V" "$S"; do virsh -q -c "$uri" pool-destroy benchpool >/dev/null; done
