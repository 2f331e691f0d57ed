#!/bin/bash
# Issue 15's benchmark, not a test: the WBEM server's EnumerateInstances of every class, EnumerateInstanceNames and
# Associators against nginx serving the very same response bytes in the same run (tests/wbem/bench_nginx.rs):
# in-process over the test driver with 1000 and 10000 guests (uncached: a guest change before each request;
# cached), then a release virtcimd with 50 real QEMU guests on qemu:///system (never cached). See BENCHMARKS.md.
#
# Usage: [GUESTS="1000 10000"] [QEMU_GUESTS=50] [BENCH_SECONDS=2] [BENCH_BIN=...] bench/wbem.sh
#        (as root; GUESTS="" or QEMU_GUESTS=0 skips a part; WBEM_BENCH_COLUMNS=cached measures only the cached
#        column of the test-driver runs, WBEM_BENCH_ONLY=TEXT only the cases whose label contains TEXT)
# Needs: nginx (nginx-light is installed when missing), qemu-system-x86, python3-libvirt. Guests use KVM when
# /dev/kvm opens, TCG otherwise. Everything it starts listens on 127.0.0.1 or a unix socket in one temp dir,
# removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
GUESTS=${GUESTS-1000 10000}
QEMU_GUESTS=${QEMU_GUESTS-50}
SECONDS_PER=${BENCH_SECONDS:-2}

if ! command -v nginx >/dev/null; then
    # Debian starts a newly installed service unless policy-rc.d says no: nginx must not listen on port 80.
    added_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null
    [ -n "$added_policy" ] && rm -f /usr/sbin/policy-rc.d
fi

# BENCH_BIN: an already built release test binary (target/release/deps/wbem-*) to run instead of building.
if [ -z "${BENCH_BIN:-}" ]; then
    cargo build --release --bin virtcimd
    cargo test --release --test wbem --no-run
fi
bench() {
    if [ -n "${BENCH_BIN:-}" ]; then
        "$BENCH_BIN" bench_nginx --ignored --nocapture --test-threads=1
    else
        cargo test -q --release --test wbem -- bench_nginx --ignored --nocapture --test-threads=1
    fi | grep -E '^(BENCH|\|)'
}

for n in $GUESTS; do
    echo "== test driver, $n guests"
    WBEM_BENCH_GUESTS=$n WBEM_BENCH_SECONDS=$SECONDS_PER bench
done

[ "$QEMU_GUESTS" -gt 0 ] || exit 0
echo "== qemu:///system, $QEMU_GUESTS guests (virtcimd release)"
W=$(mktemp -d /tmp/virtcim-wbench.XXXXXX)
VPID=
cleanup() {
    set +e
    [ -n "$VPID" ] && /usr/bin/python3 "$W/guests.py" destroy >/dev/null 2>&1
    [ -n "$VPID" ] && kill "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then KIND=kvm; else KIND=qemu; fi
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$W/virtcimd.conf" <<EOF
state_dir = "$W/state"
unix_sock_dir = "$W/run"
listen_wbem_http = 1
wbem_http_port = $PORT
wbem_listen_addr = "127.0.0.1"
wbem_auth = "none"
wbem_connect_uri = "qemu:///system"
EOF
RUST_LOG=warn target/release/virtcimd --config "$W/virtcimd.conf" 2>"$W/virtcimd.log" &
VPID=$!
for _ in $(seq 300); do [ -S "$W/run/libvirt-sock" ] && break; sleep 0.1; done
[ -S "$W/run/libvirt-sock" ] || { cat "$W/virtcimd.log" >&2; exit 1; }
# A boot sector that halts with interrupts off (as bench/qemu.sh): idle guests cost no CPU.
cat > "$W/guests.py" <<EOF
import sys, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
c = libvirt.open("qemu+unix:///system?socket=$W/run/libvirt-sock")
if sys.argv[1] == "destroy":
    for d in c.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        d.destroy()
    sys.exit(0)
s = bytearray(4096); s[0:4] = b'\xfa\xf4\xeb\xfd'; s[510] = 0x55; s[511] = 0xaa
for i in range($QEMU_GUESTS):
    img = "$W/halt-%d.img" % i
    open(img, "wb").write(s)
    d = c.defineXML("""<domain type='$KIND'><name>wguest%02d</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/><target dev='hda' bus='ide'/></disk>
</devices></domain>""" % (i, img))
    d.create()
print(len(c.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)), "guests running")
EOF
/usr/bin/python3 "$W/guests.py" start
# Measured only once the guests' start has settled (the host's CPUs 90 % idle over 5 s, at most two minutes):
# right after 50 QEMUs start, their boot takes the CPUs for a minute or more, and the first rows measured that.
for _ in $(seq 24); do
    a=$(awk 'NR==1{print $5+$6}' /proc/stat); sleep 5; b=$(awk 'NR==1{print $5+$6}' /proc/stat)
    [ $((b - a)) -ge $(( $(nproc) * 5 * $(getconf CLK_TCK) * 9 / 10 )) ] && break
done
WBEM_BENCH_TARGET=127.0.0.1:$PORT WBEM_BENCH_GUEST=wguest25 WBEM_BENCH_GUESTS=$QEMU_GUESTS \
    WBEM_BENCH_SECONDS=$SECONDS_PER bench
