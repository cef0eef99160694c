#!/usr/bin/env bash
# Network throughput and start latency of the user-mode helpers, side by side
# on the same machine:
#   throughput (iperf3, TCP): the host's loopback (server and client both on
#   127.0.0.1) as the baseline; for pasta and slirp4netns, an iperf3 server in
#   a hutch container and in a rootless podman container (same helper,
#   overlay driver, private --root), published with -p 127.0.0.1:PORT:5201,
#   the client on the host: host->container, and container->host (-R);
#   pasta by itself with Podman 5's arguments around an iperf3 server, for
#   when podman has no pasta (podman 4.3 on Debian 12 has none);
#   start latency (hyperfine): hutch run --rm busybox true with the default
#   network (pasta), with --network slirp4netns and with --network none, and
#   pasta's own start: spawn to "namespace configured" on a fresh namespace.
# The iperf3 image is the busybox root filesystem plus the host's iperf3 and
# the libraries ldd lists, so nothing is downloaded.
# Run as an unprivileged user (as root: BENCH_USER=name bench/net.sh).
# RUNS (iperf3 runs per case, median reported), SECS (seconds per iperf3
# run), START_RUNS (hyperfine runs) and PORT (first host port) tune it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then
  user=${BENCH_USER:?as root, set BENCH_USER to an unprivileged user}
  work=$(mktemp -u /tmp/hutch-bench.XXXXXX | tr A-Z a-z); mkdir -p "$work" # lowercase: podman names images after the path
  cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
  cp -a "$here/../../shared/images/busybox-musl" "$work/busybox-musl"
  chown -R "$user" "$work"
  exec runuser -u "$user" -- env HUTCH="$work/hutch" IMAGES="$work" BENCH_WORK="$work" \
    RUNS="${RUNS:-5}" SECS="${SECS:-5}" START_RUNS="${START_RUNS:-30}" PORT="${PORT:-25201}" \
    bash "$here/net.sh" "$@"
fi

hutch=${HUTCH:-$here/../target/release/hutch}
images=${IMAGES:-$here/../../shared/images}
work=${BENCH_WORK:-$(mktemp -u /tmp/hutch-bench.XXXXXX | tr A-Z a-z)}; mkdir -p "$work"
runs=${RUNS:-5}
secs=${SECS:-5}
start_runs=${START_RUNS:-30}
port=${PORT:-25201}

if ! [ -r /dev/net/tun ] || ! [ -w /dev/net/tun ]; then
  echo "pasta and slirp4netns need /dev/net/tun read-write for $(id -un) (as root: chmod 0666 /dev/net/tun)" >&2
  exit 1
fi

root="$work/hutch-root"
h() { "$hutch" --root "$root" "$@"; }
pod="podman --root $work/podman-root --runroot $work/podman-run --storage-driver overlay"
pasta_defaults="-u none -T none -U none --no-map-gw --dns-forward 169.254.1.1 --quiet"

# The busybox root filesystem with the host's iperf3 (glibc) beside it.
img="$work/iperf3-rootfs"
mkdir -p "$img"
layer=$(python3 - "$images/busybox-musl" <<'PY'
import json, sys, os
d = sys.argv[1]
idx = json.load(open(os.path.join(d, "index.json")))
m = idx["manifests"][0]["digest"].split(":")[1]
man = json.load(open(os.path.join(d, "blobs/sha256", m)))
print(os.path.join(d, "blobs/sha256", man["layers"][0]["digest"].split(":")[1]))
PY
)
tar -xzf "$layer" -C "$img" 2>/dev/null || true
iperf3=$(command -v iperf3)
for f in "$iperf3" $(ldd "$iperf3" | awk '/=> \// {print $3} /^\t\// {print $1}'); do
  mkdir -p "$img$(dirname "$f")"
  cp -L "$f" "$img$f"
done
tar -C "$img" -cf "$work/iperf3.tar" .
h load -i "$images/busybox-musl" >/dev/null
h import "$work/iperf3.tar" bench-iperf3 >/dev/null

podman_ok=
if command -v podman >/dev/null && $pod import -q "$work/iperf3.tar" bench-iperf3 >/dev/null 2>&1 &&
  $pod run --rm --network none bench-iperf3 true >/dev/null 2>&1; then
  podman_ok=1
else
  echo "podman cannot run here; comparing with the host's loopback only" >&2
fi

results="$work/results.txt"
: >"$results"
servers=()
cleanup() {
  for s in "${servers[@]}"; do eval "$s" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# Measure case NAME against a server on 127.0.0.1:$1 in both directions;
# appends "NAME DIRECTION GBITS" lines (medians of $runs runs).
measure() {
  local p=$1 name=$2 i
  # The first connections also wait for the server to listen: a published
  # port accepts before the container's iperf3 is up.
  for i in $(seq 100); do
    iperf3 -c 127.0.0.1 -p "$p" -t 1 >/dev/null 2>&1 && break
    [ "$i" = 100 ] && { echo "$name: no iperf3 server on 127.0.0.1:$p" >&2; return 1; }
    sleep 0.1
  done
  for dir in in out; do
    local flag=; [ $dir = out ] && flag=-R
    for i in $(seq "$runs"); do
      # -O 1: leave slow start out of the figure.
      iperf3 -c 127.0.0.1 -p "$p" -t "$secs" -O 1 $flag -J >"$work/iperf.json"
      python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e9)' "$work/iperf.json"
    done | python3 -c 'import sys,statistics; v=[float(x) for x in sys.stdin]; print(sys.argv[1], sys.argv[2], "%.2f" % statistics.median(v), " ".join("%.2f" % x for x in v))' "$name" $dir >>"$results"
  done
  tail -2 "$results" | sed 's/^/  /'
}

# The helper's command line while a case runs, to compare with podman's.
show_helper() {
  ps -u "$(id -u)" -o stat=,args= |
    awk '$1 !~ /^Z/ && $2 ~ /(pasta|slirp4netns)$/ { $1 = ""; print "  helper:" $0 }' | sort -u
}

echo "== $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== throughput: $runs x ${secs}s iperf3 runs per case and direction, median Gbit/s"
echo "loopback: iperf3 server and client on the host's 127.0.0.1"
iperf3 -s -p "$port" >/dev/null 2>&1 &
servers+=("kill $!")
measure "$port" loopback
port=$((port + 1))

echo "pasta alone (Podman 5's arguments) around an iperf3 server"
setsid pasta --config-net -t "127.0.0.1/$port:5201" $pasta_defaults -- "$iperf3" -s >/dev/null 2>&1 &
servers+=("kill -- -$!")
show_helper
measure "$port" pasta-alone
eval "${servers[-1]}" 2>/dev/null || true
port=$((port + 1))

for helper in pasta slirp4netns; do
  echo "hutch --network $helper"
  h run -d --name "net-$helper" --network "$helper" -p "127.0.0.1:$port:5201" bench-iperf3 iperf3 -s >/dev/null
  servers+=("h rm -f net-$helper")
  show_helper
  measure "$port" "hutch-$helper"
  h rm -f "net-$helper" >/dev/null
  port=$((port + 1))
done

if [ -n "$podman_ok" ]; then
  # podman's default port handler for slirp4netns is rootlessport, a proxy of
  # its own; port_handler=slirp4netns is the same helper path hutch uses.
  for net in pasta slirp4netns:port_handler=slirp4netns slirp4netns; do
    name="podman-${net/:port_handler=slirp4netns/}"
    [ "$net" = slirp4netns ] && name=podman-slirp4netns-rootlessport
    echo "podman --network $net"
    if ! $pod run -d --name "net-$port" --network "$net" -p "127.0.0.1:$port:5201" \
      bench-iperf3 iperf3 -s >"$work/podman.out" 2>&1; then
      echo "  $(podman --version) cannot: $(tail -1 "$work/podman.out")"
      echo "$name in none" >>"$results"
      $pod rm -f "net-$port" >/dev/null 2>&1 || true
      port=$((port + 1))
      continue
    fi
    servers+=("$pod rm -f net-$port")
    show_helper
    measure "$port" "$name"
    $pod rm -f "net-$port" >/dev/null
    port=$((port + 1))
  done
fi

# Start latency. pasta's own start: on a fresh user and network namespace
# (made by --prepare, not timed), pasta with hutch's arguments minus
# --foreground, so it returns once the namespace is configured (it writes the
# pid file and daemonizes only then).
ns="$work/ns"
mkdir -p "$ns"
cat >"$work/fresh-ns.sh" <<'SH'
d=$1
for f in holder helper; do [ -f "$d/$f.pid" ] && kill "$(cat "$d/$f.pid")" 2>/dev/null; done
rm -f "$d/holder.pid" "$d/helper.pid" "$d/user" "$d/net"
unshare -Urn sleep 600 </dev/null >/dev/null 2>&1 &
pid=$!
# unshare execs sleep once the namespaces and the id map exist.
until [ "$(readlink /proc/$pid/exe)" = "$(command -v sleep)" ]; do :; done
echo $pid >"$d/holder.pid"
ln -s /proc/$pid/ns/user "$d/user"
ln -s /proc/$pid/ns/net "$d/net"
SH
servers+=("sh -c 'kill \$(cat $ns/holder.pid $ns/helper.pid)'")

echo
echo "== start latency: hyperfine, $start_runs runs each"
h run --rm busybox:1.38.0-musl true
# One --prepare per command, in order: only pasta alone needs one.
hyperfine -N --warmup 3 --runs "$start_runs" --export-json "$work/start.json" \
  --prepare true -n none "$hutch --root $root run --rm --network none busybox:1.38.0-musl true" \
  --prepare true -n pasta "$hutch --root $root run --rm busybox:1.38.0-musl true" \
  --prepare true -n slirp4netns "$hutch --root $root run --rm --network slirp4netns busybox:1.38.0-musl true" \
  --prepare "sh $work/fresh-ns.sh $ns" -n pasta-alone \
  "pasta --config-net -t none $pasta_defaults --pid $ns/helper.pid --userns $ns/user --netns $ns/net"

python3 - "$results" "$work/start.json" <<'PY'
import json, sys
g = {}
for line in open(sys.argv[1]):
    f = line.split()
    g[(f[0], f[1])] = None if f[2] == "none" else float(f[2])
def get(name, d):
    return g.get((name, d))
print()
print("== throughput, Gbit/s (median)        host->container  container->host")
for name in ["loopback", "pasta-alone", "hutch-pasta", "podman-pasta", "hutch-slirp4netns",
             "podman-slirp4netns", "podman-slirp4netns-rootlessport"]:
    if (name, "in") not in g:
        continue
    cells = ["%16s" % ("n/a" if get(name, d) is None else "%.2f" % get(name, d)) for d in ("in", "out")]
    print("%-36s %s %s" % (name, *cells))
lo = get("loopback", "in")
print()
for d, label in (("in", "host->container"), ("out", "container->host")):
    for helper in ("pasta", "slirp4netns"):
        hv, pv = get("hutch-" + helper, d), get("podman-" + helper, d)
        ref = "podman"
        if pv is None and helper == "pasta":
            pv, ref = get("pasta-alone", d), "pasta alone"
        if hv is None:
            continue
        line = f"{label} {helper}: hutch/loopback {hv / lo:.2f}x"
        if helper == "pasta":
            line += " (target >= 0.7x)"
        if pv:
            line += f"; hutch/{ref} {hv / pv:.2f}x (target >= 0.9x)"
        print(line)
r = {x["command"]: x for x in json.load(open(sys.argv[2]))["results"]}
ms = {k: v["median"] * 1000 for k, v in r.items()}
print()
print("== start, median ms: " + ", ".join(f"{k} {v:.1f}" for k, v in ms.items()))
added, own = ms["pasta"] - ms["none"], ms["pasta-alone"]
verdict = lambda ok: "met" if ok else "NOT met"
print(f"the default network (pasta) adds {added:.1f} ms over --network none, pasta's own start is "
      f"{own:.1f} ms: added <= own + 5 ms {verdict(added <= own + 5)}")
print(f"hutch run with pasta {ms['pasta']:.1f} ms vs pasta's own start + 5 ms = {own + 5:.1f} ms: "
      f"{verdict(ms['pasta'] <= own + 5)}")
print(f"slirp4netns adds {ms['slirp4netns'] - ms['none']:.1f} ms over --network none")
PY
