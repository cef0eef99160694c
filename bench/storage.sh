#!/usr/bin/env bash
# Storage drivers side by side, inside a container, on the FUSE-NOTES
# workloads: `cat` of 20,000 small files and `du -s` (cold: first pass after
# the mount, warm: second pass), `find -type f`, untar of 20,000 small files,
# `touch` of 1000 lower files (copy-up), a sequential write and a warm read of
# a large lower file. Drivers: hutch on native overlay, hutch's FUSE overlay,
# podman with fuse-overlayfs (Debian's C program, `mount_program`), and the
# plain host directory as the baseline (the same busybox, the same workload).
# Each is RUNS fresh containers (default 3); the table gives medians and the
# ratio to the host directory. "cold" is cold for the mount (the kernel's
# FUSE/overlay caches are new), not for the disk: the host's page cache
# holds the layer files on every side alike.
# Run as an unprivileged user (as root: BENCH_USER=name bench/storage.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then
  user=${BENCH_USER:?as root, set BENCH_USER to an unprivileged user}
  work=$(mktemp -d /tmp/hutch-bench.XXXXXX)
  cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
  cp -a "$here/../../shared/images/busybox-musl" "$work/busybox-musl"
  cp "$here/storage-workload.sh" "$here/storage-tree.sh" "$work/"
  chown -R "$user" "$work"
  rc=0
  runuser -u "$user" -- env HUTCH="$work/hutch" IMAGES="$work" BENCH_WORK="$work" \
    SCRIPTS="$work" RUNS="${RUNS:-3}" LARGE_MB="${LARGE_MB:-256}" bash "$here/storage.sh" "$@" || rc=$?
  # Root removes what the containers' subordinate ids own too.
  rm -rf "$work"
  exit "$rc"
fi
hutch=${HUTCH:-$here/../target/release/hutch}
images=${IMAGES:-$here/../../shared/images}
work=${BENCH_WORK:-$(mktemp -d /tmp/hutch-bench.XXXXXX)}
scripts=${SCRIPTS:-$here}
runs=${RUNS:-3}
large_mb=${LARGE_MB:-256}
workload=$(cat "$scripts/storage-workload.sh")
tree=$(cat "$scripts/storage-tree.sh")
h="$hutch --root $work/h"
pod="podman --root $work/podman-root --runroot $work/podman-run --storage-driver overlay \
  --storage-opt overlay.mount_program=/usr/bin/fuse-overlayfs --cgroup-manager cgroupfs --events-backend file"

# One image holding the tree as a lower layer, for every side.
$h load -i "$images/busybox-musl" >/dev/null
$h run --name gen --network none busybox:1.38.0-musl sh -c "$tree" sh /data "$large_mb"
$h commit -q gen bench/tree:1 >/dev/null
$h save -o "$work/tree.tar" bench/tree:1
$pod load -q -i "$work/tree.tar" >/dev/null
mkdir -p "$work/host"
busybox sh -c "$tree" sh "$work/host/data" "$large_mb"

out="$work/results.txt"
: >"$out"
for i in $(seq "$runs"); do
  $h run --rm --network none --storage-driver overlay bench/tree:1 sh -c "$workload" sh /data /tmp |
    sed 's/^/overlay /' >>"$out"
  $h run --rm --network none --storage-driver fuse bench/tree:1 sh -c "$workload" sh /data /tmp |
    sed 's/^/hutch-fuse /' >>"$out"
  $pod run --rm --network none docker.io/bench/tree:1 sh -c "$workload" sh /data /tmp |
    sed 's/^/fuse-overlayfs /' >>"$out"
  rm -rf "$work/host/tmp" && mkdir -p "$work/host/tmp"
  busybox sh -c "$workload" sh "$work/host/data" "$work/host/tmp" | sed 's/^/host /' >>"$out"
done

python3 - "$out" <<'PY'
import sys, statistics
from collections import defaultdict
r = defaultdict(list)
for line in open(sys.argv[1]):
    side, name, us = line.split()
    r[(side, name)].append(int(us) / 1e6)
sides = ["host", "overlay", "hutch-fuse", "fuse-overlayfs"]
names = []
for (_, n) in r:
    if n not in names:
        names.append(n)
print("| workload | " + " | ".join(sides) + " | hutch-fuse/host | fuse-overlayfs/hutch-fuse |")
print("|---" * (len(sides) + 3) + "|")
for n in names:
    m = {s: statistics.median(r[(s, n)]) for s in sides if r[(s, n)]}
    cells = [f"{m[s]:.3f} s" if s in m else "-" for s in sides]
    rh = m["hutch-fuse"] / m["host"] if m.get("host") else float("nan")
    rf = m["fuse-overlayfs"] / m["hutch-fuse"] if "fuse-overlayfs" in m else float("nan")
    print(f"| {n} | " + " | ".join(cells) + f" | {rh:.2f}x | {rf:.2f}x |")
PY
