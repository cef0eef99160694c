#!/usr/bin/env bash
# Project environments, side by side in one hyperfine run on the same machine:
#   hutch shell -- true          warm entry: the environment is built and running
#   launcher true                the same through an exported-command launcher
#   hutch shell -- true (10k)    warm entry of a project whose build COPYs 10,000 files
#                                (its watcher vouches for them), and the same with
#                                its watcher killed (every input statted)
#   podman exec CTR true         into a running container of the same image
#   podman run --rm IMAGE true
# then a stopped entry (`hutch env stop` before each run) against a plain
# `hutch run --rm`. Run as an unprivileged user (as root: BENCH_USER=name).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then
  user=${BENCH_USER:?as root, set BENCH_USER to an unprivileged user}
  work=$(mktemp -u /tmp/hutch-bench.XXXXXX | tr A-Z a-z); mkdir -p "$work"
  cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
  cp -a "$here/../../shared/images/busybox-musl" "$work/busybox-musl"
  chown -R "$user" "$work"
  rc=0
  runuser -u "$user" -- env HOME="$(getent passwd "$user" | cut -d: -f6)" \
    HUTCH="$work/hutch" IMAGES="$work" BENCH_WORK="$work" bash "$here/env.sh" "$@" || rc=$?
  # Root removes what the containers' subordinate ids own too.
  rm -rf "$work"
  exit "$rc"
fi

hutch=${HUTCH:-$here/../target/release/hutch}
images=${IMAGES:-$here/../../shared/images}
work=${BENCH_WORK:-$(mktemp -u /tmp/hutch-bench.XXXXXX | tr A-Z a-z)}; mkdir -p "$work"
runs=${RUNS:-50}
export HUTCH_ROOT="$work/hutch-root"

"$hutch" load -i "$images/busybox-musl" >/dev/null
mkproject() {
  mkdir -p "$1"
  printf 'FROM busybox:1.38.0-musl\n%s\n' "$2" >"$1/Containerfile"
  printf '[run]\nnetwork = "none"\n[export]\ncommands = ["true"]\n' >"$1/hutch.toml"
}
small="$work/small"; mkproject "$small" 'RUN echo built > /built'
big="$work/big"; mkproject "$big" 'COPY tree /tree'
sh "$here/gen-tree.sh" "$big/tree" small
# The same project without its watcher (killed), for the full stat check.
nowatch="$work/nowatch"; mkproject "$nowatch" 'COPY tree /tree'
cp -a "$big/tree" "$nowatch/tree"
(cd "$nowatch" && "$hutch" shell -- true)
# The watcher starts a moment after the environment's pid 1: wait for it.
killed=
for _ in $(seq 100); do
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "^hutch env-watcher --dir $work/" &&
      kill "${p#/proc/}" && killed=1
  done
  [ -n "$killed" ] && break
  sleep 0.1
done
[ -n "$killed" ] || echo "no watcher to kill: the no-watcher row is not what it says" >&2
(cd "$small" && "$hutch" shell -- true && "$hutch" allow)
(cd "$big" && "$hutch" shell -- true)
launcher="$(cd "$small" && "$hutch" env path)/true"
# Its watcher vouches once it has watched and checked every input.
for _ in $(seq 100); do
  (cd "$big" && "$hutch" --verbose shell -- true 2>&1 | grep -q 'watcher vouches') && break
  sleep 0.1
done

cmds=("cd $small && $hutch shell -- true" "cd $small && $launcher"
  "cd $big && $hutch shell -- true" "cd $nowatch && $hutch shell -- true")
names=(hutch-shell hutch-launcher hutch-shell-10k-inputs hutch-shell-10k-no-watcher)
pod="podman --root $work/podman-root --runroot $work/podman-run --storage-driver overlay"
if $pod pull -q "oci:$images/busybox-musl" >/dev/null 2>&1 &&
  $pod tag "$($pod images -q | head -1)" bench-busybox >/dev/null 2>&1 &&
  $pod run -d --name bench-env --network none bench-busybox sleep 1000000 >/dev/null 2>&1; then
  cmds+=("$pod exec bench-env true" "$pod run --rm --network none bench-busybox true")
  names+=(podman-exec podman-run)
else
  echo "podman cannot run here; hutch only" >&2
fi
args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -S bash --warmup 5 --runs "$runs" --export-json "$work/env.json" "${args[@]}"

# The entry itself, with --project, not through `sh -c 'cd DIR && ...'`:
# the plain run beside it starts no shell either.
hyperfine -N --runs "${STOPPED_RUNS:-15}" --export-json "$work/env-stopped.json" \
  -n hutch-shell-stopped --prepare "sh -c 'cd $small && $hutch env stop'" \
  "$hutch shell --project $small -- true" \
  -n hutch-run-rm "$hutch run --rm --network none busybox:1.38.0-musl true"

for p in "$small" "$big" "$nowatch"; do (cd "$p" && "$hutch" env rm); done
$pod rm -f bench-env >/dev/null 2>&1 || true

python3 - "$work/env.json" "$work/env-stopped.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for f in sys.argv[1:] for x in json.load(open(f))["results"]}
h = r["hutch-shell"]
print(f"warm entry median {h*1000:.2f} ms (target <= 10 ms)")
print(f"launcher adds {(r['hutch-launcher']-h)*1000:.2f} ms (target <= 2 ms)")
print(f"10,000 recorded inputs add {(r['hutch-shell-10k-inputs']-h)*1000:.2f} ms (target <= 3 ms)")
print(f"  without the watcher they add {(r['hutch-shell-10k-no-watcher']-h)*1000:.2f} ms")
if "podman-exec" in r:
    print(f"podman exec {r['podman-exec']*1000:.1f} ms = {r['podman-exec']/h:.1f}x hutch (target >= 20x)")
    print(f"podman run --rm {r['podman-run']*1000:.1f} ms")
s = r["hutch-shell-stopped"]; run = r["hutch-run-rm"]
print(f"stopped entry {s*1000:.1f} ms = {s/run:.2f}x hutch run --rm {run*1000:.1f} ms (target <= 2x)")
PY
