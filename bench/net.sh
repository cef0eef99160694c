#!/usr/bin/env bash
# Network throughput and start latency of the user-mode helpers, side by side
# on the same machine:
#   throughput (iperf3, one TCP stream): the host's loopback (server and
#   client both on 127.0.0.1) as the baseline; for pasta and slirp4netns, an
#   iperf3 server in a hutch container and in a rootless podman container
#   (same helper, overlay driver, private --root), published with
#   -p 127.0.0.1:PORT:5201, the client on the host: host->container, and
#   container->host (-R). slirp4netns twice: with the default port handler
#   (hutch: its own splice forwarder; podman: rootlessport) and with
#   port_handler=slirp4netns (slirp4netns's own forwarding, both). Also
#   pasta by itself with Podman 5's arguments around an iperf3 server, since
#   podman 4.3 (Debian 12) has no pasta.
#   start latency (hyperfine): hutch run --rm busybox true with the default
#   network (pasta), with --network slirp4netns and with --network none, and
#   pasta's own start: spawn to "namespace configured" on a fresh namespace.
# The iperf3 image is the busybox root filesystem plus the host's iperf3 and
# the libraries ldd lists, so nothing is downloaded.
# Run as an unprivileged user (as root: BENCH_USER=name bench/net.sh).
# RUNS (rounds; each round runs every case and direction once, medians are
# reported), SECS (seconds per iperf3 run), START_RUNS (hyperfine runs per
# command, over START_ROUNDS interleaved rounds) and PORT (first host port)
# tune it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then
  user=${BENCH_USER:?as root, set BENCH_USER to an unprivileged user}
  work=$(mktemp -u /tmp/hutch-bench.XXXXXX | tr A-Z a-z); mkdir -p "$work" # lowercase: podman names images after the path
  cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
  cp -a "$here/../../shared/images/busybox-musl" "$work/busybox-musl"
  chown -R "$user" "$work"
  rc=0
  runuser -u "$user" -- env HUTCH="$work/hutch" IMAGES="$work" BENCH_WORK="$work" \
    RUNS="${RUNS:-5}" SECS="${SECS:-5}" START_RUNS="${START_RUNS:-30}" START_ROUNDS="${START_ROUNDS:-3}" PORT="${PORT:-25201}" \
    bash "$here/net.sh" "$@" || rc=$?
  # Root removes what the containers' subordinate ids own too.
  rm -rf "$work"
  exit "$rc"
fi

hutch=${HUTCH:-$here/../target/release/hutch}
images=${IMAGES:-$here/../../shared/images}
work=${BENCH_WORK:-$(mktemp -u /tmp/hutch-bench.XXXXXX | tr A-Z a-z)}; mkdir -p "$work"
runs=${RUNS:-5}
secs=${SECS:-5}
start_runs=${START_RUNS:-30}
start_rounds=${START_ROUNDS:-3}
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
sh "$here/busybox-rootfs.sh" "$images/busybox-musl" "$img"
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

servers=()
cleanup() {
  for s in "${servers[@]}"; do eval "$s" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# Every server runs at once, each behind its own host port; the rounds then
# take the cases in turn, so a change in the machine's load between cases
# does not show as a difference between them.
names=()
ports=()
serve() { # NAME: the server just started listens on host port $port
  names+=("$1")
  ports+=("$port")
  port=$((port + 1))
}

echo "== $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
iperf3 -s -p "$port" >/dev/null 2>&1 &
servers+=("kill $!")
serve loopback

setsid pasta --config-net -t "127.0.0.1/$port:5201" $pasta_defaults -- "$iperf3" -s >/dev/null 2>&1 &
servers+=("kill -- -$!")
serve pasta-alone

# slirp4netns: hutch's default port handler (its own splice forwarder) and
# slirp4netns's own (port_handler=slirp4netns), as for podman below.
for net in pasta slirp4netns slirp4netns:port_handler=slirp4netns; do
  name="hutch-${net/:port_handler=slirp4netns/-own}"
  h run -d --name "$name" --network "$net" -p "127.0.0.1:$port:5201" bench-iperf3 iperf3 -s >/dev/null
  servers+=("h rm -f $name")
  serve "$name"
done

if [ -n "$podman_ok" ]; then
  # podman's default port handler for slirp4netns is rootlessport, a proxy of
  # its own, in the role of hutch's forwarder; port_handler=slirp4netns is
  # slirp4netns's own forwarding for both.
  for net in pasta slirp4netns:port_handler=slirp4netns slirp4netns; do
    name="podman-${net/:port_handler=slirp4netns/}"
    [ "$net" = slirp4netns ] && name=podman-slirp4netns-rootlessport
    if ! $pod run -d --name "net-$port" --network "$net" -p "127.0.0.1:$port:5201" \
      bench-iperf3 iperf3 -s >"$work/podman.out" 2>&1; then
      echo "$(podman --version) cannot run --network $net: $(tail -1 "$work/podman.out")"
      $pod rm -f "net-$port" >/dev/null 2>&1 || true
      port=$((port + 1))
      continue
    fi
    servers+=("$pod rm -f net-$port")
    serve "$name"
  done
fi

# The helpers' command lines, to compare hutch's with podman's.
ps -u "$(id -u)" -o stat=,args= |
  awk '$1 !~ /^Z/ && $2 ~ /(pasta|slirp4netns)$/ { $1 = ""; print "helper:" $0 }' | sort -u

# A published port accepts before the container's iperf3 listens: wait for
# a first successful run.
for i in "${!names[@]}"; do
  for try in $(seq 100); do
    iperf3 -c 127.0.0.1 -p "${ports[$i]}" -t 1 >/dev/null 2>&1 && break
    [ "$try" = 100 ] && { echo "${names[$i]}: no iperf3 server on 127.0.0.1:${ports[$i]}" >&2; exit 1; }
    sleep 0.1
  done
done

echo "== throughput: $runs rounds of ${secs}s iperf3 runs per case and direction"
results="$work/results.txt"
: >"$results"
for round in $(seq "$runs"); do
  for i in "${!names[@]}"; do
    for dir in in out; do
      flag=; [ $dir = out ] && flag=-R
      # -O 1: leave slow start out of the figure.
      iperf3 -c 127.0.0.1 -p "${ports[$i]}" -t "$secs" -O 1 $flag -J >"$work/iperf.json"
      python3 -c 'import json,sys; print(sys.argv[2], sys.argv[3], json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e9)' \
        "$work/iperf.json" "${names[$i]}" $dir >>"$results"
    done
  done
done
cleanup
servers=()

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
# In START_ROUNDS rounds of START_RUNS/START_ROUNDS runs per command, so a
# change in the machine's load shows in every command alike; the medians
# below are over all runs.
per_round=$(( (start_runs + start_rounds - 1) / start_rounds ))
echo "== start latency: hyperfine, $start_rounds rounds of $per_round runs each"
h run --rm busybox:1.38.0-musl true
for round in $(seq "$start_rounds"); do
  # One --prepare per command, in order: only pasta alone needs one.
  hyperfine -N --warmup 3 --runs "$per_round" --export-json "$work/start-$round.json" \
    --prepare true -n none "$hutch --root $root run --rm --network none busybox:1.38.0-musl true" \
    --prepare true -n pasta "$hutch --root $root run --rm busybox:1.38.0-musl true" \
    --prepare true -n slirp4netns "$hutch --root $root run --rm --network slirp4netns busybox:1.38.0-musl true" \
    --prepare "sh $work/fresh-ns.sh $ns" -n pasta-alone \
    "pasta --config-net -t none $pasta_defaults --pid $ns/helper.pid --userns $ns/user --netns $ns/net"
done

python3 - "$results" "$work"/start-*.json <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, d, v = line.split()
    runs[(name, d)].append(float(v))
g = {k: statistics.median(v) for k, v in runs.items()}
print()
print("== throughput, Gbit/s, median (min-max)   host->container       container->host")
names = ["loopback", "pasta-alone", "hutch-pasta", "podman-pasta", "hutch-slirp4netns",
         "podman-slirp4netns-rootlessport", "hutch-slirp4netns-own", "podman-slirp4netns"]
for name in names:
    cells = ["%21s" % (f"{g[(name, d)]:.2f} ({min(runs[(name, d)]):.1f}-{max(runs[(name, d)]):.1f})"
                       if (name, d) in g else "n/a") for d in ("in", "out")]
    print("%-36s %s %s" % (name, *cells))
print()
# (hutch case, podman case with the same helper and port handler, extra reference)
pairs = [("hutch-pasta", "podman-pasta", ("pasta alone", "pasta-alone")),
         ("hutch-slirp4netns", "podman-slirp4netns-rootlessport", None),
         ("hutch-slirp4netns-own", "podman-slirp4netns", None)]
for d, label in (("in", "host->container"), ("out", "container->host")):
    lo = g[("loopback", d)]
    for mine, podman, extra in pairs:
        hv = g.get((mine, d))
        if hv is None:
            continue
        line = f"{label} {mine}: /loopback {hv / lo:.2f}x (target >= 0.7x)"
        for ref, key in [("podman", podman)] + ([extra] if extra else []):
            if (key, d) in g:
                line += f"; /{key} {hv / g[(key, d)]:.2f}x"
        print(line + " (target >= 0.9x of podman with the same helper)")
times = collections.defaultdict(list)
for f in sys.argv[2:]:
    for x in json.load(open(f))["results"]:
        times[x["command"]] += x["times"]
ms = {k: statistics.median(v) * 1000 for k, v in times.items()}
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
