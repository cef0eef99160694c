#!/usr/bin/env bash
# Storage drivers side by side, inside a container, on the FUSE-NOTES
# workloads: `cat` of 20,000 small files and `du -s` (cold: first pass after
# the mount, warm: second pass), `find -type f`, untar of 20,000 small files,
# `touch` of 1000 lower files (copy-up), a sequential write and a warm read of
# a large lower file. Sides: hutch on native overlay, hutch's FUSE overlay,
# rootless podman with fuse-overlayfs 1.10 (Debian's C program) as its
# `mount_program`, podman with fuse-overlayfs 2.x (the Rust rewrite from
# crates.io) as its `mount_program`, and the plain host directory as the
# baseline (the same busybox, the same workload). fuse-overlayfs 2.x takes
# 1.10's command line (-o lowerdir=,upperdir=,workdir=,uidmapping=,
# gidmapping=), so podman runs it as it runs 1.10.
#
# fuse-overlayfs 2.x is built for the benchmark only, with `cargo install
# --locked` into the invoking user's cache (FUSE_OVERLAYFS2_CACHE, default
# ~/.cache/hutch-bench/fuse-overlayfs-2), never into the repository; or
# FUSE_OVERLAYFS2=path names a binary. Without cargo, or if the build fails,
# the script stops: no column is dropped.
#
# Each side is RUNS fresh containers (default 3), interleaved; the table gives
# medians, the ratio to the host directory and each fuse-overlayfs against
# hutch's FUSE overlay. LARGE_MB is the large file's size (default 1024).
# "cold" is cold for the mount (the kernel's FUSE/overlay caches are new), not
# for the disk: the host's page cache holds the layer files on every side
# alike.
#
# Run as an unprivileged user (as root: BENCH_USER=name bench/storage.sh;
# BENCH_KEEP=1 keeps the work directory with the raw results).
# As root, COUNT_REQUESTS=1 also records every FUSE request
# (`perf record -e fuse:fuse_request_send -a`) and prints the requests of each
# FUSE side per workload and opcode, medians over the runs: the measurement
# that holds when the machine's load makes the wall times doubtful.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

fuse_overlayfs2() {
  if [ -n "${FUSE_OVERLAYFS2:-}" ]; then
    echo "$FUSE_OVERLAYFS2"
    return
  fi
  if ! command -v cargo >/dev/null; then
    echo "storage.sh: cargo is needed to build fuse-overlayfs 2.x for its column" \
      "(or set FUSE_OVERLAYFS2 to a built binary)" >&2
    return 1
  fi
  local cache=${FUSE_OVERLAYFS2_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hutch-bench/fuse-overlayfs-2}
  if ! cargo install --quiet --locked 'fuse-overlayfs@^2' --root "$cache" >&2; then
    echo "storage.sh: building fuse-overlayfs 2.x (cargo install fuse-overlayfs@^2) failed" >&2
    return 1
  fi
  echo "$cache/bin/fuse-overlayfs"
}

if [ "$(id -u)" = 0 ]; then
  user=${BENCH_USER:?as root, set BENCH_USER to an unprivileged user}
  fo2=$(fuse_overlayfs2)
  work=$(mktemp -d /tmp/hutch-bench.XXXXXX)
  cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
  cp "$fo2" "$work/fuse-overlayfs-2"
  cp -a "$here/../../shared/images/busybox-musl" "$work/busybox-musl"
  cp "$here/storage-workload.sh" "$here/storage-tree.sh" "$work/"
  chown -R "$user" "$work"
  if [ -n "${COUNT_REQUESTS:-}" ]; then
    perf record -q -e fuse:fuse_request_send -a -k monotonic -o "$work/fuse.data" &
    perf_pid=$!
  fi
  rc=0
  runuser -u "$user" -- env HUTCH="$work/hutch" IMAGES="$work" BENCH_WORK="$work" \
    FUSE_OVERLAYFS2="$work/fuse-overlayfs-2" SCRIPTS="$work" RUNS="${RUNS:-3}" \
    LARGE_MB="${LARGE_MB:-1024}" bash "$here/storage.sh" "$@" || rc=$?
  if [ -n "${COUNT_REQUESTS:-}" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
  fi
  if [ -n "${COUNT_REQUESTS:-}" ] && [ "$rc" = 0 ]; then
    perf script -i "$work/fuse.data" -F time,trace >"$work/fuse.txt" 2>/dev/null
    python3 - "$work/results.txt" "$work/fuse.txt" <<'PY'
import bisect, re, statistics, sys, time
from collections import Counter, defaultdict
# perf's clock is CLOCK_MONOTONIC, the workload's /proc/uptime CLOCK_BOOTTIME.
off = time.clock_gettime(time.CLOCK_BOOTTIME) - time.clock_gettime(time.CLOCK_MONOTONIC)
ev = []
pat = re.compile(r"\s*([0-9.]+): connection (\d+) req \d+ opcode \d+ \(FUSE_(\w+)\)")
for line in open(sys.argv[2]):
    m = pat.match(line)
    if m:
        ev.append((int((float(m[1]) + off) * 1e6), m[2], m[3]))
ev.sort()
ts = [e[0] for e in ev]
def window(a, b):
    return ev[bisect.bisect_left(ts, a):bisect.bisect_left(ts, b)]
# Consecutive lines of one side are one container's run of the workloads.
groups = []
for line in open(sys.argv[1]):
    side, name, us, start = line.split()
    if not groups or groups[-1][0] != side:
        groups.append((side, []))
    groups[-1][1].append((name, int(us), int(start)))
fuse = ["hutch-fuse", "fuse-overlayfs-1", "fuse-overlayfs-2"]
counts = defaultdict(list)
names = []
for side, steps in groups:
    if side not in fuse:
        continue
    end = steps[-1][2] + steps[-1][1] + 10000
    # Other FUSE mounts on the machine have their own connection: the
    # container's is the one with most requests while it ran.
    conn = Counter(e[1] for e in window(steps[0][2], end)).most_common(1)
    conn = conn[0][0] if conn else None
    for i, (name, us, start) in enumerate(steps):
        # Up to the workload's end (10 ms steps): what runs between two
        # workloads (sizing and warming the large file) is no workload's.
        stop = start + us + 10000
        if i + 1 < len(steps):
            stop = min(stop, steps[i + 1][2])
        counts[(side, name)].append(Counter(e[2] for e in window(start, stop) if e[1] == conn))
        if name not in names:
            names.append(name)
print("\nFUSE requests per workload (median over the runs; the largest opcodes):")
print("| workload | hutch-fuse | fuse-overlayfs 1.10 | fuse-overlayfs 2.x |")
print("|---|---|---|---|")
def cell(runs):
    ops = sorted({op for c in runs for op in c})
    med = {op: int(statistics.median(c[op] for c in runs)) for op in ops}
    top = sorted(med.items(), key=lambda kv: -kv[1])[:4]
    total = int(statistics.median(sum(c.values()) for c in runs))
    return f"{total} (" + ", ".join(f"{op} {n}" for op, n in top if n) + ")"
for n in names:
    print(f"| {n} | " + " | ".join(cell(counts[(s, n)]) for s in fuse) + " |")
PY
  fi
  if [ -n "${BENCH_KEEP:-}" ]; then
    echo "storage.sh: kept $work" >&2
  else
    # Root removes what the containers' subordinate ids own too.
    rm -rf "$work"
  fi
  exit "$rc"
fi
fo1=/usr/bin/fuse-overlayfs
fo2=$(fuse_overlayfs2)
case $("$fo1" --version 2>&1) in *"version 1."*) ;; *)
  echo "storage.sh: $fo1 is missing or not fuse-overlayfs 1.x (Debian's fuse-overlayfs)" >&2
  exit 1 ;; esac
case $("$fo2" --version 2>&1) in *"version 2."*) ;; *)
  echo "storage.sh: $fo2 does not run as fuse-overlayfs 2.x" >&2
  exit 1 ;; esac
hutch=${HUTCH:-$here/../target/release/hutch}
images=${IMAGES:-$here/../../shared/images}
work=${BENCH_WORK:-$(mktemp -d /tmp/hutch-bench.XXXXXX)}
scripts=${SCRIPTS:-$here}
runs=${RUNS:-3}
large_mb=${LARGE_MB:-1024}
workload=$(cat "$scripts/storage-workload.sh")
tree=$(cat "$scripts/storage-tree.sh")
h="$hutch --root $work/h"
# One podman store per fuse-overlayfs, so neither sees the other's mounts.
podman_with() { # store mount_program
  echo "podman --root $work/$1-root --runroot $work/$1-run --storage-driver overlay \
    --storage-opt overlay.mount_program=$2 --cgroup-manager cgroupfs --events-backend file"
}
pod1=$(podman_with podman-fo1 "$fo1")
pod2=$(podman_with podman-fo2 "$fo2")

# One image holding the tree as a lower layer, for every side.
$h load -i "$images/busybox-musl" >/dev/null
$h run --name gen --network none busybox:1.38.0-musl sh -c "$tree" sh /data "$large_mb"
$h commit -q gen bench/tree:1 >/dev/null
$h rm gen >/dev/null
$h save -o "$work/tree.tar" bench/tree:1
$pod1 load -q -i "$work/tree.tar" >/dev/null
$pod2 load -q -i "$work/tree.tar" >/dev/null
rm "$work/tree.tar"
mkdir -p "$work/host"
busybox sh -c "$tree" sh "$work/host/data" "$large_mb"

# Each line: side, workload, microseconds, start (/proc/uptime, microseconds).
out="$work/results.txt"
: >"$out"
for i in $(seq "$runs"); do
  $h run --rm --network none --storage-driver overlay bench/tree:1 sh -c "$workload" sh /data /tmp |
    sed 's/^/overlay /' >>"$out"
  $h run --rm --network none --storage-driver fuse bench/tree:1 sh -c "$workload" sh /data /tmp |
    sed 's/^/hutch-fuse /' >>"$out"
  $pod1 run --rm --network none docker.io/bench/tree:1 sh -c "$workload" sh /data /tmp |
    sed 's/^/fuse-overlayfs-1 /' >>"$out"
  $pod2 run --rm --network none docker.io/bench/tree:1 sh -c "$workload" sh /data /tmp |
    sed 's/^/fuse-overlayfs-2 /' >>"$out"
  rm -rf "$work/host/tmp" && mkdir -p "$work/host/tmp"
  busybox sh -c "$workload" sh "$work/host/data" "$work/host/tmp" | sed 's/^/host /' >>"$out"
  echo "run $i of $runs done" >&2
done

python3 - "$out" <<'PY'
import sys, statistics
from collections import defaultdict
r = defaultdict(list)
for line in open(sys.argv[1]):
    side, name, us, _ = line.split()
    r[(side, name)].append(int(us) / 1e6)
sides = ["host", "overlay", "hutch-fuse", "fuse-overlayfs-1", "fuse-overlayfs-2"]
names = []
for (_, n) in r:
    if n not in names:
        names.append(n)
print("| workload | host | overlay | hutch-fuse | fuse-overlayfs 1.10 | fuse-overlayfs 2.x "
      "| hutch-fuse/host | fo 1.10/hutch-fuse | fo 2.x/hutch-fuse |")
print("|---" * 9 + "|")
def ratio(a, b):
    return f"{a / b:.2f}x" if b else "-"
for n in names:
    m = {s: statistics.median(r[(s, n)]) for s in sides}
    cells = [f"{m[s]:.3f} s" for s in sides]
    h = m["hutch-fuse"]
    print(f"| {n} | " + " | ".join(cells) + f" | {ratio(h, m['host'])} | "
          f"{ratio(m['fuse-overlayfs-1'], h)} | {ratio(m['fuse-overlayfs-2'], h)} |")
PY
