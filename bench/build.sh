#!/usr/bin/env bash
# `hutch build` vs rootless `podman build` (overlay driver, private --root),
# side by side in one hyperfine run per case, on the same 10-instruction
# Dockerfile over the same base image (the Alpine 3.20 minirootfs, imported
# into each tool) with a COPY of 1000 small files and one RUN:
#   cached: a rebuild where every step is cached (targets: hutch >= 10x
#           faster than podman and < 100 ms median)
#   cold:   --no-cache
# Run as an unprivileged user (as root: BENCH_USER=name bench/build.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
alpine_tgz=alpine-3.20/alpine-minirootfs-3.20.3-x86_64.tar.gz
if [ "$(id -u)" = 0 ]; then
  user=${BENCH_USER:?as root, set BENCH_USER to an unprivileged user}
  work=$(mktemp -d /tmp/hutch-bench.XXXXXX)
  cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
  cp "$here/../../shared/images/$alpine_tgz" "$work/alpine.tar.gz"
  chown -R "$user" "$work"
  rc=0
  runuser -u "$user" -- env HUTCH="$work/hutch" ALPINE="$work/alpine.tar.gz" \
    BENCH_WORK="$work" bash "$here/build.sh" "$@" || rc=$?
  # Root removes what the containers' subordinate ids own too.
  rm -rf "$work"
  exit "$rc"
fi

hutch=${HUTCH:-$here/../target/release/hutch}
alpine=${ALPINE:-$here/../../shared/images/$alpine_tgz}
work=${BENCH_WORK:-$(mktemp -d /tmp/hutch-bench.XXXXXX)}
runs=${RUNS:-20}
cold_runs=${COLD_RUNS:-5}

ctx="$work/ctx"
mkdir -p "$ctx/files"
for i in $(seq 1 1000); do echo "file $i" >"$ctx/files/f$i.txt"; done
echo 'echo hello' >"$ctx/hello.sh"
cat >"$ctx/Dockerfile" <<'DF'
FROM bench-alpine
ENV APP=/app
WORKDIR /app
COPY files/ /app/files/
COPY hello.sh /usr/local/bin/hello
RUN chmod +x /usr/local/bin/hello && ls /app/files | wc -l > /app/count
LABEL bench=build
USER nobody
ENTRYPOINT ["/bin/sh"]
CMD ["/usr/local/bin/hello"]
DF

root="$work/hutch-root"
"$hutch" --root "$root" import "$alpine" bench-alpine >/dev/null
"$hutch" --root "$root" build -q -t bench "$ctx" >/dev/null

# RUN steps without network on both sides (hutch's default).
cached=("$hutch --root $root build -q -t bench $ctx")
cold=("$hutch --root $root build -q --no-cache -t bench $ctx")
names=(hutch)
pod="podman --root $work/podman-root --runroot $work/podman-run --storage-driver overlay"
if $pod import -q "$alpine" bench-alpine >/dev/null 2>&1 &&
  $pod build -q --network none -t bench "$ctx" >/dev/null 2>&1; then
  cached+=("$pod build -q --network none -t bench $ctx")
  cold+=("$pod build -q --network none --no-cache -t bench $ctx")
  names+=(podman)
else
  echo "podman cannot build here; timing hutch alone" >&2
fi

run() {
  local label=$1 n=$2; shift 2
  local cmds=("$@") args=()
  for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
  hyperfine -N --warmup 2 --runs "$n" --export-json "$work/$label.json" "${args[@]}"
}
run cached "$runs" "${cached[@]}"
run cold "$cold_runs" "${cold[@]}"

python3 - "$work/cached.json" "$work/cold.json" <<'PY'
import json, sys
for label, path in zip(["cached", "cold"], sys.argv[1:]):
    r = {x["command"]: x["median"] for x in json.load(open(path))["results"]}
    h = r["hutch"]
    line = f"{label}: hutch median {h*1000:.1f} ms"
    if "podman" in r:
        line += f"; podman {r['podman']*1000:.1f} ms; podman/hutch = {r['podman']/h:.1f}x"
    print(line)
PY
