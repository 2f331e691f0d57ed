#!/bin/bash
# Issue 16's migration benchmark, not a test: live migration of an idle 256 MiB guest back and forth between two
# virtcimd daemons, and the same between two stock libvirtd 9.0 qemu drivers, on one machine, alternating the two
# pairs round by round. Prints the median wall time of `virsh migrate --live` and the guest's downtime as the
# destination reports it (`domjobinfo --completed`), then checks an offline migration from virtcimd to libvirtd.
# Then virtcimd alone: tunnelled (`--p2p --tunnelled`, the data inside the daemons' RPC connection over TCP on
# 127.0.0.1) and `--copy-storage-all` (a 256 MiB disk of random data per side, copied over NBD).
#
# Usage: bench/migration.sh [ROUNDS]      (default 6; as root)
# Needs: a built virtcimd (VIRTCIMD=path, default target/release/virtcimd), Debian's libvirt-daemon with its qemu
# driver, qemu-system-x86, virsh. Guests use KVM when /dev/kvm opens, TCG otherwise (the same for both pairs).
#
# The libvirtds run isolated as bench/qemu.sh runs one (research/libvirt-qemu/): one network namespace shared by
# both (their QEMUs migrate over its loopback), each its own private mounts, distinct host UUIDs, under a
# subreaper. virtcimd's QEMUs migrate over the host's 127.0.0.1. Everything lives in one temp dir, removed at exit.
set -euo pipefail
ROUNDS=${1:-6}
cd "$(dirname "$0")/.."
VIRTCIMD=${VIRTCIMD:-$PWD/target/release/virtcimd}
[ -x "$VIRTCIMD" ] || { echo "build it first: cargo build --release --bin virtcimd" >&2; exit 2; }
W=$(mktemp -d /tmp/virtcim-migbench.XXXXXX)
PIDS=()
cleanup() {
    set +e
    for d in v1 v2 l1 l2; do
        [ -n "${URI[$d]:-}" ] && virsh -c "${URI[$d]}" destroy migbench >/dev/null 2>&1
        [ -n "${URI[$d]:-}" ] && virsh -c "${URI[$d]}" destroy migdisk >/dev/null 2>&1
    done
    for d in l1 l2; do [ -s "$W/$d/libvirtd.pid" ] && kill "$(cat "$W/$d/libvirtd.pid")" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    sleep 1
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    umount "$W/netns" 2>/dev/null
    rm -rf "$W"
}
declare -A URI
trap cleanup EXIT

if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then KIND=kvm; else KIND=qemu; fi
# A boot sector that halts with interrupts off: an idle guest.
/usr/bin/python3 -c "
s = bytearray(4096); s[0:4] = b'\xfa\xf4\xeb\xfd'; s[510] = 0x55; s[511] = 0xaa
for pair in 'vl':
    open('$W/halt-%s.img' % pair, 'wb').write(s)"
# One disk per pair: QEMU locks the image a running guest writes.
for pair in v l; do
XML="<domain type='$KIND'><name>migbench</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw' cache='none'/><source file='$W/halt-$pair.img'/>
<target dev='hda' bus='ide'/></disk></devices></domain>"
echo "$XML" > "$W/guest-$pair.xml"
done

declare -A TCP
for d in v1 v2; do
    mkdir -p "$W/$d"
    TCP[$d]=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf 'state_dir = "%s"\nunix_sock_dir = "%s"\nlisten_tcp = 1\nlisten_addr = "127.0.0.1"\ntcp_port = "%s"\nauth_tcp = "none"\n' \
        "$W/$d/state" "$W/$d/run" "${TCP[$d]}" > "$W/$d/virtcimd.conf"
    RUST_LOG=warn "$VIRTCIMD" --config "$W/$d/virtcimd.conf" 2>"$W/$d.log" &
    PIDS+=($!)
    URI[$d]="qemu+unix:///system?socket=$W/$d/run/libvirt-sock"
done

touch "$W/netns"
unshare --net="$W/netns" true
nsenter --net="$W/netns" ip link set lo up
n=0
for d in l1 l2; do
    n=$((n + 1))
    mkdir -p "$W/$d"
    tests/support/stock-libvirtd-qemu.sh "$W/$d" "$W/netns" "00000000-0000-4000-8000-00000000000$n" 2>"$W/$d/stderr" &
    PIDS+=($!)
    URI[$d]="qemu+unix:///system?socket=$W/$d/sock/libvirt-sock"
done
for d in v1 v2 l1 l2; do
    sock=${URI[$d]#*socket=}
    for _ in $(seq 300); do [ -S "$sock" ] && break; sleep 0.1; done
    [ -S "$sock" ] || { echo "no socket $sock" >&2; cat "$W"/*.log "$W"/l?/stderr >&2; exit 1; }
done

virsh -c "${URI[v1]}" create "$W/guest-v.xml" >/dev/null
virsh -c "${URI[l1]}" create "$W/guest-l.xml" >/dev/null
sleep 2

# One migration: prints "wall_ms downtime_ms" (downtime from the destination's completed job).
migrate() {
    local from=$1 to=$2 extra=$3 t0 t1 down
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    virsh -c "${URI[$from]}" migrate --live migbench "${URI[$to]}" $extra >/dev/null
    t1=$(date +%s%N)
    down=$(virsh -c "${URI[$to]}" domjobinfo migbench --completed | awk -F: '/Total downtime/ {print $2+0}')
    echo "$(( (t1 - t0) / 1000000 )) ${down:-NA}"
}
declare -A WALL DOWN
VPORT=49300
for r in $(seq "$ROUNDS"); do
    for pair in v l; do
        if [ $((r % 2)) -eq 1 ]; then from=${pair}1 to=${pair}2; else from=${pair}2 to=${pair}1; fi
        if [ $pair = v ]; then extra="--migrateuri tcp://127.0.0.1"; else
            VPORT=$((VPORT + 1)); extra="--migrateuri tcp://127.0.0.1:$VPORT --unsafe"; fi
        read -r wall down < <(migrate "$from" "$to" "$extra")
        WALL[$pair]+="$wall "
        DOWN[$pair]+="$down "
    done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); guest type=$KIND 256 MiB idle; rounds=$ROUNDS"
echo "# virtcimd $VIRTCIMD ($(git rev-parse --short HEAD)), libvirtd $(/usr/sbin/libvirtd --version | awk '{print $NF}')"
for pair in v l; do
    name=$([ $pair = v ] && echo "virtcimd -> virtcimd" || echo "libvirtd -> libvirtd")
    echo "$name: virsh migrate --live wall ms median $(echo "${WALL[$pair]}" | med) (all: ${WALL[$pair]}); downtime ms median $(echo "${DOWN[$pair]}" | med) (all: ${DOWN[$pair]})"
done

# Offline, virtcimd as source, a stock libvirtd as destination.
virsh -c "${URI[v1]}" destroy migbench >/dev/null 2>&1 || virsh -c "${URI[v2]}" destroy migbench >/dev/null 2>&1 || true
virsh -c "${URI[v1]}" define "$W/guest-v.xml" >/dev/null
virsh -c "${URI[l2]}" destroy migbench >/dev/null 2>&1 || true
virsh -c "${URI[l1]}" destroy migbench >/dev/null 2>&1 || true
if virsh -c "${URI[v1]}" migrate --offline --persistent --undefinesource migbench "${URI[l2]}" >"$W/offline.out" 2>&1 \
    && virsh -c "${URI[l2]}" dominfo migbench >/dev/null 2>&1; then
    echo "offline virtcimd -> libvirtd: ok (defined on libvirtd, gone from virtcimd: $(virsh -c "${URI[v1]}" list --all --name | grep -c migbench || true) left)"
else
    echo "offline virtcimd -> libvirtd: failed: $(cat "$W/offline.out")"
fi

# virtcimd only: tunnelled, then copy-storage-all, back and forth.
virsh -c "${URI[v2]}" destroy migbench >/dev/null 2>&1 || true
virsh -c "${URI[v1]}" create "$W/guest-v.xml" >/dev/null
head -c 256M /dev/urandom > "$W/disk-v1.img"
for d in v1 v2; do
    sed -e "s|$W/halt-v.img|$W/disk-$d.img|" -e 's|<name>migbench</name>|<name>migdisk</name><uuid>5b0c7a2e-3d4f-4a1b-9c8d-7e6f5a4b3c2d</uuid>|' \
        -e "s|<memory unit='MiB'>256</memory>|<memory unit='MiB'>128</memory>|" "$W/guest-v.xml" > "$W/disk-$d.xml"
done
dd if="$W/halt-v.img" of="$W/disk-v1.img" conv=notrunc status=none
sleep 2
declare -A TWALL TDOWN
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then from=v1 to=v2; else from=v2 to=v1; fi
    t0=$(date +%s%N)
    virsh -c "${URI[$from]}" migrate --live --p2p --tunnelled migbench "qemu+tcp://127.0.0.1:${TCP[$to]}/system" >/dev/null
    t1=$(date +%s%N)
    TWALL[t]+="$(( (t1 - t0) / 1000000 )) "
    TDOWN[t]+="$(virsh -c "${URI[$to]}" domjobinfo migbench --completed | awk -F: '/Total downtime/ {print $2+0}') "
done
virsh -c "${URI[v1]}" destroy migbench >/dev/null 2>&1 || virsh -c "${URI[v2]}" destroy migbench >/dev/null 2>&1 || true
virsh -c "${URI[v1]}" create "$W/disk-v1.xml" >/dev/null
sleep 2
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then from=v1 to=v2; else from=v2 to=v1; fi
    t0=$(date +%s%N)
    virsh -c "${URI[$from]}" migrate --live --copy-storage-all migdisk "${URI[$to]}" --migrateuri tcp://127.0.0.1 \
        --xml "$W/disk-$to.xml" >/dev/null
    t1=$(date +%s%N)
    TWALL[s]+="$(( (t1 - t0) / 1000000 )) "
    TDOWN[s]+="$(virsh -c "${URI[$to]}" domjobinfo migdisk --completed | awk -F: '/Total downtime/ {print $2+0}') "
    cmp -s "$W/disk-$from.img" "$W/disk-$to.img" || echo "copy-storage-all round $r: the images differ" >&2
done
virsh -c "${URI[v1]}" destroy migdisk >/dev/null 2>&1 || virsh -c "${URI[v2]}" destroy migdisk >/dev/null 2>&1 || true
echo "virtcimd -> virtcimd --p2p --tunnelled (256 MiB idle): wall ms median $(echo "${TWALL[t]}" | med) (all: ${TWALL[t]}); downtime ms median $(echo "${TDOWN[t]}" | med) (all: ${TDOWN[t]})"
echo "virtcimd -> virtcimd --copy-storage-all (128 MiB idle, 256 MiB disk): wall ms median $(echo "${TWALL[s]}" | med) (all: ${TWALL[s]}); downtime ms median $(echo "${TDOWN[s]}" | med) (all: ${TDOWN[s]})"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
