#!/bin/bash
# Benchmark virtcimd against a stock libvirtd (test driver) and a bare echo server speaking the same framing, all
# over unix sockets in one temp dir, alternating targets round by round. Prints medians and ratios (see
# BENCHMARKS.md). Not a test: numbers depend on the machine and its load.
#
# Usage: bench/run.sh [ROUNDS] [SECS]     (default 3 rounds of 2 s per metric; about 3-4 minutes in all)
# Needs: root (libvirtd runs privileged in a private mount namespace), Debian's libvirt-daemon.
set -euo pipefail
ROUNDS=${1:-3}
SECS=${2:-2}
cd "$(dirname "$0")/.."
cargo build --release --bin virtcimd --bin virtcim-bench >&2
BIN=$PWD/target/release
WORK=$(mktemp -d /tmp/virtcim-bench.XXXXXX)
SHM=""
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$WORK/libvirtd.pid" ] && kill "$(cat "$WORK/libvirtd.pid")" 2>/dev/null || true
    sleep 0.5
    rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

# virtcimd: its own state and sockets, no TCP. The state dir is on tmpfs: the persistent test driver fsyncs every
# define (~13 ms each on this VM's disk), which would dominate setting up 10 000 domains; libvirtd's test driver
# keeps them in memory only.
mkdir -p "$WORK/virtcimd"
SHM=$(mktemp -d /dev/shm/virtcim-bench.XXXXXX)
cat > "$WORK/virtcimd/virtcimd.conf" <<EOF
state_dir = "$SHM/state"
unix_sock_dir = "run"
unix_sock_rw_perms = "0700"
keepalive_interval = 5
EOF
RUST_LOG=warn "$BIN/virtcimd" --config "$WORK/virtcimd/virtcimd.conf" 2>"$WORK/virtcimd.log" &
PIDS+=($!)
VIRTCIMD_PID=$!

# libvirtd: only the built-in test driver, private /run /var, sockets and pid file in the temp dir.
mkdir -p "$WORK/libvirtd/run" "$WORK/libvirtd/emptydrivers"
cat > "$WORK/libvirtd/libvirtd.conf" <<EOF
listen_tls = 0
listen_tcp = 0
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_dir = "$WORK/libvirtd/run"
unix_sock_rw_perms = "0700"
log_outputs = "3:file:$WORK/libvirtd.log"
EOF
unshare -m --propagation private bash -c "
  mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/log && mount -t tmpfs tmpfs /var/cache && mount -t tmpfs tmpfs /var/lib || exit 1
  export LIBVIRT_DRIVER_DIR=$WORK/libvirtd/emptydrivers
  exec /usr/sbin/libvirtd -f $WORK/libvirtd/libvirtd.conf -p $WORK/libvirtd.pid
" 2>"$WORK/libvirtd.stderr" &
PIDS+=($!)

# The echo server.
"$BIN/virtcim-bench" echo "$WORK/echo.sock" &
PIDS+=($!)

for sock in "$WORK/virtcimd/run/libvirt-sock" "$WORK/libvirtd/run/libvirt-sock" "$WORK/echo.sock"; do
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
    [ -S "$sock" ] || { echo "no socket $sock" >&2; cat "$WORK"/*.log "$WORK"/*.stderr >&2 || true; exit 1; }
done
for _ in $(seq 50); do [ -s "$WORK/libvirtd.pid" ] && break; sleep 0.1; done
LIBVIRTD_PID=$(cat "$WORK/libvirtd.pid")
sleep 1 # let both daemons settle before the idle RSS reading

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); rounds=$ROUNDS secs=$SECS"
echo "# libvirtd $(/usr/sbin/libvirtd --version | awk '{print $NF}'), virtcimd $(git rev-parse --short HEAD)"
"$BIN/virtcim-bench" suite "$ROUNDS" "$SECS" \
    "echo=$WORK/echo.sock" \
    "virtcimd=$WORK/virtcimd/run/libvirt-sock:$VIRTCIMD_PID" \
    "libvirtd=$WORK/libvirtd/run/libvirt-sock:$LIBVIRTD_PID"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
