#!/usr/bin/env bash
# save/load throughput, hutch vs rootless podman, on the same image and disk:
# a ~200 MB image (busybox + 10,000 small files + one large file of binary
# data) written as a docker-archive and read back, each tool into a fresh
# private store. Reports seconds and MB/s (archive bytes / wall time), best
# of RUNS (default 3).
# Run as an unprivileged user (as root: BENCH_USER=name bench/save-load.sh).
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
    bash "$here/save-load.sh" "$@" || rc=$?
  # Root removes what the containers' subordinate ids own too.
  rm -rf "$work"
  exit "$rc"
fi
hutch=${HUTCH:-$here/../target/release/hutch}
images=${IMAGES:-$here/../../shared/images}
work=${BENCH_WORK:-$(mktemp -d /tmp/hutch-bench.XXXXXX)}
runs=${RUNS:-3}
gen=${GEN:-$here/gen-tree.sh}
pod="podman --root $work/podman-root --runroot $work/podman-run --storage-driver overlay --cgroup-manager cgroupfs --events-backend file"

# The test image: busybox's rootfs plus the generated tree, imported by both tools.
tree="$work/tree"
rm -rf "$tree" && mkdir -p "$tree"
sh "$here/busybox-rootfs.sh" "$images/busybox-musl" "$tree"
bash "$gen" "$tree/data"
tar -C "$tree" -cf "$work/rootfs.tar" .
"$hutch" --root "$work/h" import "$work/rootfs.tar" bench/big:1 >/dev/null
$pod import -q "$work/rootfs.tar" localhost/bench/big:1 >/dev/null

now() { date +%s.%N; }
best() { python3 -c "import sys; print(min(float(x) for x in sys.argv[1:]))" "$@"; }
measure() { # name, command...: best wall time of $runs
  local name=$1; shift; local times=()
  for _ in $(seq "$runs"); do
    local t0; t0=$(now); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; times+=("$(python3 -c "print($(now)-$t0)")")
  done
  best "${times[@]}"
}
hsave() { rm -f "$work/h.tar"; "$hutch" --root "$work/h" save -o "$work/h.tar" bench/big:1; }
hload() { rm -rf "$work/h2"; "$hutch" --root "$work/h2" load -i "$work/h.tar"; }
psave() { rm -f "$work/p.tar"; $pod save --format docker-archive -o "$work/p.tar" localhost/bench/big:1; }
pload() { $pod rmi -f localhost/bench/big:1 >/dev/null 2>&1 || true; $pod load -i "$work/p.tar"; }

hs=$(measure hutch-save hsave); hl=$(measure hutch-load hload)
ps=$(measure podman-save psave); pl=$(measure podman-load pload)
hsize=$(stat -c %s "$work/h.tar"); psize=$(stat -c %s "$work/p.tar")
python3 - "$hs" "$hl" "$ps" "$pl" "$hsize" "$psize" <<'PY'
import sys
hs, hl, ps, pl = map(float, sys.argv[1:5]); hsize, psize = int(sys.argv[5]), int(sys.argv[6])
mb = lambda n, t: n / 1e6 / t
print(f"archive: hutch {hsize/1e6:.0f} MB, podman {psize/1e6:.0f} MB (docker-archive)")
print(f"save: hutch {hs:.2f} s ({mb(hsize, hs):.0f} MB/s), podman {ps:.2f} s ({mb(psize, ps):.0f} MB/s), podman/hutch = {ps/hs:.1f}x")
print(f"load: hutch {hl:.2f} s ({mb(hsize, hl):.0f} MB/s), podman {pl:.2f} s ({mb(psize, pl):.0f} MB/s), podman/hutch = {pl/hl:.1f}x")
PY
