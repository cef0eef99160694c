#!/usr/bin/env bash
# Commit throughput, hutch vs rootless podman: a container writes a ~200 MB
# change (10,000 small files + one 160 MB file, see
# gen-tree.sh), then `hutch commit` (gzip, and zstd) and `podman commit`
# turn it into an image. Reports the best wall time of RUNS (default 3) and
# MB/s of change committed.
# Run as an unprivileged user (as root: BENCH_USER=name bench/commit.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then
  user=${BENCH_USER:?as root, set BENCH_USER to an unprivileged user}
  work=$(mktemp -d /tmp/hutch-bench.XXXXXX)
  cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
  cp -a "$here/../../shared/images/busybox-musl" "$work/busybox-musl"
  cp "$here/gen-tree.sh" "$work/"
  chown -R "$user" "$work"
  rc=0
  runuser -u "$user" -- env HUTCH="$work/hutch" IMAGES="$work" BENCH_WORK="$work" \
    GEN="$work/gen-tree.sh" bash "$here/commit.sh" "$@" || rc=$?
  # Root removes what the containers' subordinate ids own too.
  rm -rf "$work"
  exit "$rc"
fi
hutch=${HUTCH:-$here/../target/release/hutch}
images=${IMAGES:-$here/../../shared/images}
work=${BENCH_WORK:-$(mktemp -d /tmp/hutch-bench.XXXXXX)}
runs=${RUNS:-3}
gen=$(cat "${GEN:-$here/gen-tree.sh}")
h="$hutch --root $work/h"
pod="podman --root $work/podman-root --runroot $work/podman-run --storage-driver overlay --cgroup-manager cgroupfs --events-backend file"

$h load -i "$images/busybox-musl" >/dev/null
$h run --name bc --network none busybox:1.38.0-musl sh -c "$gen" sh /data
# The same image for podman, by way of a docker-archive (podman would derive a
# name from the layout's path otherwise).
$h save -o "$work/busybox.tar" busybox:1.38.0-musl
$pod load -q -i "$work/busybox.tar" >/dev/null
$pod run --name pc --network none docker.io/library/busybox:1.38.0-musl sh -c "$gen" sh /data
change=$(du -sb "$work/h/containers"/*/upper 2>/dev/null | awk '{s+=$1} END {print s}')

now() { date +%s.%N; }
measure() { # best wall time of $runs runs of the command
  local best=
  for _ in $(seq "$runs"); do
    local t0 t; t0=$(now); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; t=$(python3 -c "print($(now)-$t0)")
    best=$(python3 -c "print(min([x for x in [$t, ${best:-$t}]]))")
  done
  echo "$best"
}
hg=$(measure $h commit bc bench/c:gzip)
hz=$(measure $h commit --compress zstd bc bench/c:zstd)
pc=$(measure $pod commit -q pc bench-committed)
python3 - "$change" "$hg" "$hz" "$pc" <<'PY'
import sys
change = int(sys.argv[1]); hg, hz, pc = map(float, sys.argv[2:5])
mb = change / 1e6
print(f"change: {mb:.0f} MB (10,000 small files + one large file)")
print(f"hutch commit (gzip): {hg:.2f} s, {mb/hg:.0f} MB/s")
print(f"hutch commit (zstd): {hz:.2f} s, {mb/hz:.0f} MB/s")
print(f"podman commit:       {pc:.2f} s, {mb/pc:.0f} MB/s; podman/hutch(gzip) = {pc/hg:.1f}x, podman/hutch(zstd) = {pc/hz:.1f}x")
PY
