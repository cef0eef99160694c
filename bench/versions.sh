#!/usr/bin/env bash
# Environment versions, on the same machine in one run:
#   hutch env snapshot   of a ~200 MB change (10,000 small files + one large
#                        file, see gen-tree.sh) made inside the environment,
#   podman commit        of the same change made in a podman container,
#   hutch env rollback   to the clean version (from a state with nothing
#                        changed since, after one warm-up that keeps the
#                        200 MB state as a version),
#   hutch env log        with 100 versions.
# Run as an unprivileged user (as root: BENCH_USER=name bench/versions.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then
  user=${BENCH_USER:?as root, set BENCH_USER to an unprivileged user}
  # Not mktemp -d's 0700: with keep-id, the environment's root inside is a
  # subordinate id, which must be able to reach the store.
  work=$(mktemp -u /tmp/hutch-bench.XXXXXX | tr A-Z a-z); mkdir -p -m 755 "$work"
  cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
  cp -a "$here/../../shared/images/busybox-musl" "$work/busybox-musl"
  cp "$here/gen-tree.sh" "$work/"
  chown -R "$user" "$work"
  rc=0
  runuser -u "$user" -- env HOME="$(getent passwd "$user" | cut -d: -f6)" \
    HUTCH="$work/hutch" IMAGES="$work" BENCH_WORK="$work" GEN="$work/gen-tree.sh" \
    bash "$here/versions.sh" "$@" || rc=$?
  # Root removes what the containers' subordinate ids own too.
  rm -rf "$work"
  exit "$rc"
fi
hutch=${HUTCH:-$here/../target/release/hutch}
images=${IMAGES:-$here/../../shared/images}
work=${BENCH_WORK:-$(mktemp -u /tmp/hutch-bench.XXXXXX | tr A-Z a-z)}; mkdir -p -m 755 "$work"
runs=${RUNS:-3}
gen=$(cat "${GEN:-$here/gen-tree.sh}")
export HUTCH_ROOT="$work/hutch-root"
pod="podman --root $work/podman-root --runroot $work/podman-run --storage-driver overlay --cgroup-manager cgroupfs --events-backend file"

"$hutch" load -i "$images/busybox-musl" >/dev/null
proj="$work/proj"; mkdir -p "$proj"
printf 'FROM busybox:1.38.0-musl\n' >"$proj/Containerfile"
printf '[run]\nnetwork = "none"\n' >"$proj/hutch.toml"
cd "$proj"
"$hutch" shell -- true
"$hutch" env snapshot -m clean >/dev/null
"$hutch" shell -u root -- sh -c "$gen" sh /data
change=$(du -sb "$HUTCH_ROOT"/containers/*/upper 2>/dev/null | awk '{s+=$1} END {print s}')

"$hutch" save -o "$work/busybox.tar" busybox:1.38.0-musl
# Each snapshot first gets a change of its own (one more file with new
# content), so that it writes a new 200 MB layer rather than finding the
# last one's blob already stored.
cmds=(--prepare "$hutch shell -u root -- sh -c 'head -c 16 /dev/urandom >/data/d0/stamp'" -n hutch-env-snapshot "$hutch env snapshot")
if $pod load -q -i "$work/busybox.tar" >/dev/null 2>&1 &&
  $pod run --name pc --network none docker.io/library/busybox:1.38.0-musl sh -c "$gen" sh /data >/dev/null 2>&1; then
  cmds+=(--prepare true -n podman-commit "$pod commit -q pc bench-committed")
else
  echo "podman cannot run here; hutch only" >&2
fi
echo "load before: $(uptime)"
hyperfine -N --runs "$runs" --export-json "$work/snapshot.json" "${cmds[@]}"
echo "load after: $(uptime)"

hyperfine -N --warmup 1 --runs "${ROLLBACK_RUNS:-10}" --export-json "$work/rollback.json" \
  -n hutch-env-rollback "$hutch env rollback --force 1"

n=$("$hutch" env log | tail -n +2 | wc -l)
while [ "$n" -lt 100 ]; do "$hutch" env snapshot >/dev/null; n=$((n + 1)); done
hyperfine -N --warmup 3 --runs "${LOG_RUNS:-30}" --export-json "$work/log.json" \
  -n hutch-env-log-100 "$hutch env log"

"$hutch" env rm
$pod rm -f pc >/dev/null 2>&1 || true

python3 - "$change" "$work/snapshot.json" "$work/rollback.json" "$work/log.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for f in sys.argv[2:] for x in json.load(open(f))["results"]}
mb = int(sys.argv[1]) / 1e6
s = r["hutch-env-snapshot"]
print(f"change: {mb:.0f} MB")
print(f"env snapshot median {s:.2f} s (target <= 0.5 s), {mb/s:.0f} MB/s")
if "podman-commit" in r:
    p = r["podman-commit"]
    print(f"podman commit median {p:.2f} s = {p/s:.1f}x hutch (target >= 3x)")
print(f"env rollback median {r['hutch-env-rollback']*1000:.0f} ms (target <= 200 ms)")
print(f"env log (100 versions) median {r['hutch-env-log-100']*1000:.1f} ms (target <= 20 ms)")
PY
