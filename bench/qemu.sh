#!/bin/bash
# Issue 14's benchmark, not a test: QEMU guest start-to-running latency and CONNECT_GET_ALL_DOMAIN_STATS with 10
# running guests, virtcimd's qemu driver against a stock libvirtd 9.0's qemu driver side by side on one machine,
# alternating the two round by round. Prints medians and ratios (see BENCHMARKS.md).
#
# Usage: [THEN='command'] bench/qemu.sh [ROUNDS]      (default 10; about 2 minutes; as root)
# Needs: a built virtcimd (VIRTCIMD=path, default target/release/virtcimd), Debian's libvirt-daemon with its qemu
# driver, qemu-system-x86, python3-libvirt. Guests use KVM when /dev/kvm opens, TCG otherwise (the same on both).
#
# libvirtd runs isolated as research/libvirt-qemu/ describes: its own network namespace (no route out), a private
# mount namespace with /etc/libvirt, /run and /var/* from a temp dir, a fresh sysfs, no cgroups, no security
# driver, under a subreaper that reaps the QEMUs it daemonizes. Everything lives in one temp dir, removed at exit.
set -euo pipefail
ROUNDS=${1:-10}
cd "$(dirname "$0")/.."
VIRTCIMD=${VIRTCIMD:-$PWD/target/release/virtcimd}
[ -x "$VIRTCIMD" ] || { echo "build it first: cargo build --release --bin virtcimd" >&2; exit 2; }
W=$(mktemp -d /tmp/virtcim-qbench.XXXXXX)
PIDS=()
cleanup() {
    set +e
    [ -n "${PY_CLEAN:-}" ] && /usr/bin/python3 "$W/guests.py" destroy-all >/dev/null 2>&1
    [ -s "$W/libvirtd/libvirtd.pid" ] && kill "$(cat "$W/libvirtd/libvirtd.pid")" 2>/dev/null
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    sleep 1
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    umount "$W/netns" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then KIND=kvm; else KIND=qemu; fi
# A boot sector that halts with interrupts off: ten idle guests cost no CPU, so the figures measure the drivers.
# One disk per guest and daemon: QEMU locks the image it writes.
/usr/bin/python3 -c "
s = bytearray(4096); s[0:4] = b'\xfa\xf4\xeb\xfd'; s[510] = 0x55; s[511] = 0xaa
for daemon in ('virtcimd', 'libvirtd'):
    for i in range(10):
        open('$W/halt-%s-%d.img' % (daemon, i), 'wb').write(s)"

# virtcimd: its own state dir and unix sockets.
mkdir -p "$W/virtcimd"
cat > "$W/virtcimd/virtcimd.conf" <<EOF
state_dir = "$W/virtcimd/state"
unix_sock_dir = "$W/virtcimd/run"
EOF
RUST_LOG=warn "$VIRTCIMD" --config "$W/virtcimd/virtcimd.conf" 2>"$W/virtcimd.log" &
PIDS+=($!)

# libvirtd: isolated by the tests' script (network namespace kept in a file, private mounts, root QEMUs).
LV=$W/libvirtd
mkdir -p "$LV"
touch "$W/netns"
unshare --net="$W/netns" true
tests/support/stock-libvirtd-qemu.sh "$LV" "$W/netns" 2>"$LV/stderr" &
PIDS+=($!)

for sock in "$W/virtcimd/run/libvirt-sock" "$LV/sock/libvirt-sock"; do
    for _ in $(seq 300); do [ -S "$sock" ] && break; sleep 0.1; done
    [ -S "$sock" ] || { echo "no socket $sock" >&2; cat "$W/virtcimd.log" "$LV/stderr" >&2; exit 1; }
done

cat > "$W/guests.py" <<EOF
# Defines, starts, times and destroys the benchmark's guests on both daemons (python3-libvirt).
import statistics, subprocess, sys, time
import libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
URIS = {
    "virtcimd": "qemu+unix:///system?socket=$W/virtcimd/run/libvirt-sock",
    "libvirtd": "qemu+unix:///system?socket=$LV/sock/libvirt-sock",
}
NAMES = ["qbench%d" % i for i in range(10)]
XML = """<domain type='$KIND'><name>%s</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$W/halt-%s.img'/>
<target dev='hda' bus='ide'/></disk></devices></domain>"""

def med(xs):
    return statistics.median(xs)

def virsh(uri, *args):
    subprocess.run(["virsh", "-c", uri, *args], check=True, stdout=subprocess.DEVNULL)

def main(what, rounds):
    conns = {k: libvirt.open(u) for k, u in URIS.items()}
    if what == "destroy-all":
        for c in conns.values():
            for d in c.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                d.destroy()
        return
    for k, c in conns.items():
        for i, n in enumerate(NAMES):
            c.defineXML(XML % (n, "%s-%d" % (k, i)))
    # Warm up both (libvirtd probes QEMU on its first start; both open their monitors once).
    for c in conns.values():
        d = c.lookupByName(NAMES[0]); d.create(); d.destroy()
    order = list(conns)
    api_start = {k: [] for k in conns}; api_destroy = {k: [] for k in conns}; cli = {k: [] for k in conns}
    for r in range(rounds):
        for k in (order if r % 2 == 0 else order[::-1]):
            c = conns[k]; d = c.lookupByName(NAMES[0])
            t0 = time.perf_counter(); d.create(); t1 = time.perf_counter()
            assert d.state()[0] == libvirt.VIR_DOMAIN_RUNNING
            d.destroy(); t2 = time.perf_counter()
            api_start[k].append((t1 - t0) * 1e3); api_destroy[k].append((t2 - t1) * 1e3)
            t0 = time.perf_counter(); virsh(URIS[k], "start", NAMES[0]); t1 = time.perf_counter()
            virsh(URIS[k], "destroy", NAMES[0])
            cli[k].append((t1 - t0) * 1e3)
    print("# start-to-running, one guest, %d rounds, median ms (min-max)" % rounds)
    for label, table in (("API create()", api_start), ("API destroy()", api_destroy), ("virsh start (whole process)", cli)):
        row = "  ".join("%s %.1f (%.1f-%.1f)" % (k, med(v), min(v), max(v)) for k, v in table.items())
        print("%-28s %s  ratio libvirtd/virtcimd %.2f" % (label, row, med(table["libvirtd"]) / med(table["virtcimd"])))
    for c in conns.values():
        for n in NAMES:
            c.lookupByName(n).create()
    time.sleep(1)
    api = {k: [] for k in conns}; cli = {k: [] for k in conns}
    for r in range(rounds * 3):
        for k in (order if r % 2 == 0 else order[::-1]):
            t0 = time.perf_counter(); recs = conns[k].getAllDomainStats(); t1 = time.perf_counter()
            assert len(recs) == 10, (k, len(recs))
            api[k].append((t1 - t0) * 1e3)
            t0 = time.perf_counter(); virsh(URIS[k], "domstats"); t1 = time.perf_counter()
            cli[k].append((t1 - t0) * 1e3)
    print("# CONNECT_GET_ALL_DOMAIN_STATS, 10 running guests, all groups, %d rounds, median ms (min-max)" % (rounds * 3))
    for label, table in (("API getAllDomainStats()", api), ("virsh domstats (whole process)", cli)):
        row = "  ".join("%s %.1f (%.1f-%.1f)" % (k, med(v), min(v), max(v)) for k, v in table.items())
        print("%-28s %s  ratio libvirtd/virtcimd %.2f" % (label, row, med(table["libvirtd"]) / med(table["virtcimd"])))

main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
EOF
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); guests type=$KIND; rounds=$ROUNDS"
echo "# virtcimd $VIRTCIMD ($(git rev-parse --short HEAD)), libvirtd $(/usr/sbin/libvirtd --version | awk '{print $NF}')"
PY_CLEAN=1
/usr/bin/python3 "$W/guests.py" run "$ROUNDS"
# THEN: a command of yours run while the ten guests still run on both daemons (e.g. an outside timer of
# `virsh -c "$VIRTCIMD_URI" domstats` against the same on "$LIBVIRTD_URI").
if [ -n "${THEN:-}" ]; then
    VIRTCIMD_URI="qemu+unix:///system?socket=$W/virtcimd/run/libvirt-sock" \
        LIBVIRTD_URI="qemu+unix:///system?socket=$LV/sock/libvirt-sock" bash -c "$THEN"
fi
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
