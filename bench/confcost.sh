#!/usr/bin/env bash
# What the default confinement (seccomp filter + masked and read-only
# /proc and /sys paths) costs a start, measured so that a busy machine
# does not decide the answer:
#   hutch run --rm --network none busybox true, alternately with and
#   without --security-opt seccomp=unconfined --security-opt
#   systempaths=unconfined, one start of each in turn (PAIRS pairs), under
#   `perf record` of scheduler and system-call tracepoints.
# Per start it sums the CPU time of hutch and every process it started
# (sched_stat_runtime: user and system time, the container's included, the
# kernel's work on their behalf at exit included; setpriv and env, which
# exec hutch in the same process, count too) and compares each start
# with its neighbour: the mean of the paired differences with its standard
# error, and their median. Then, per system call, the time spent in it per
# start (enter to exit) with and without confinement, where the two
# differ: which calls the confinement adds and what each costs.
# Run as root (perf's tracepoints): BENCH_USER=name bench/confcost.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
user=${BENCH_USER:?set BENCH_USER to an unprivileged user with subordinate ids}
pairs=${PAIRS:-100}
work=$(mktemp -d /tmp/hutch-confcost.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
cp -a "$here/../../shared/images/busybox-musl" "$work/busybox-musl"
chown -R "$user" "$work"
as_user=(setpriv --reuid="$user" --regid="$user" --clear-groups env HOME="$work")
img=busybox:1.38.0-musl
"${as_user[@]}" "$work/hutch" --root "$work/root" load -i "$work/busybox-musl" >/dev/null 2>&1
run="$work/hutch --root $work/root run --rm --network none"
unconfined="--security-opt seccomp=unconfined --security-opt systempaths=unconfined"
# Warm the filter's cache and the page cache.
"${as_user[@]}" $run $img true
"${as_user[@]}" $run $unconfined $img true
cat >"$work/pairs.sh" <<EOF
for i in \$(seq $pairs); do
  ${as_user[*]} $run $img true
  ${as_user[*]} $run $unconfined $img true
done
EOF
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
perf record -q -o "$work/perf.data" \
  -e sched:sched_stat_runtime,sched:sched_process_exec,sched:sched_process_fork,sched:sched_process_exit \
  -e raw_syscalls:sys_enter,raw_syscalls:sys_exit -- bash "$work/pairs.sh"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
perf script --ns -i "$work/perf.data" -F comm,pid,tid,time,event,trace >"$work/events" 2>/dev/null
python3 - "$work/events" "$here" <<'PY'
import collections, statistics as st, sys

sys.path.insert(0, sys.argv[2])
import schedtrace

trace = schedtrace.Trace(sys.argv[1], {"/hutch": "hutch"})
pairs, skipped = trace.rounds(2)
print(f"{skipped} starts skipped (exit event lost, with their pairs)", file=sys.stderr)
starts = [s for r in pairs for _, s in r]  # default and unconfined in turn
cpu = [trace.cpu_ms(s) for s in starts]
conf, unc = cpu[0::2], cpu[1::2]
n = min(len(conf), len(unc))
d = [conf[k] - unc[k] for k in range(n)]
print(f"{n} pairs; CPU per start (hutch and all it started): default {st.mean(conf):.3f} ms "
      f"(median {st.median(conf):.3f}), unconfined {st.mean(unc):.3f} ms (median {st.median(unc):.3f})")
print(f"confinement: {st.mean(d):+.3f} ± {st.stdev(d) / n ** 0.5:.3f} ms CPU (mean of paired differences "
      f"± standard error), median {st.median(d):+.3f} ms")

names = schedtrace.syscall_names()
# open_tree_attr (Linux 6.15), which older kernel headers do not name.
names.setdefault(467, "open_tree_attr")
per = [collections.defaultdict(list), collections.defaultdict(list)]
for k, s in enumerate(starts[: 2 * n]):
    trace.calls(s, per[k % 2])
rows = []
for nr in set(per[0]) | set(per[1]):
    a, b = per[0].get(nr, []), per[1].get(nr, [])
    ca, cb = len(a) / n, len(b) / n
    ma = st.median(a) if a else 0.0
    mb = st.median(b) if b else 0.0
    # Only calls whose number differs, each added call costed at the
    # median of its kind: the others (wait4 and read above all, which
    # block) vary with the load, not with the confinement.
    if abs(ca - cb) >= 0.5:
        rows.append(((ca - cb) * ma, names.get(nr, str(nr)), ca, cb, ma, mb))
print("system calls whose number differs (per start: calls x median duration, default vs unconfined; added calls x median):")
for extra, name, ca, cb, ma, mb in sorted(rows, reverse=True):
    print(f"  {name:16s} {ca:6.1f} x {ma:7.1f} us vs {cb:6.1f} x {mb:7.1f} us  {extra:+8.1f} us")
print(f"  sum {sum(r[0] for r in rows):+.1f} us")
PY
