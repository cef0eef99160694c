#!/usr/bin/env bash
# A start's CPU time, two hutch binaries side by side, measured so that a
# busy machine does not decide the answer (bench/confcost.sh's method):
#   HUTCH      run --rm --network none busybox true
#   HUTCH_BASE the same (another build: the before side)
#   bwrap over the same busybox root filesystem, unpacked
# one start of each in turn (ROUNDS rounds), under `perf record` of
# scheduler tracepoints. Per start it sums the CPU time of the command and
# every process it started (sched_stat_runtime: user and system time, the
# container's included, the kernel's work at their exit included; setpriv
# and env, which exec the command in the same process, count too) and
# compares each hutch start with the base start next to it: the mean of the
# paired differences with its standard error, and hutch's CPU over bwrap's;
# the same for wall time (the command's exec to its exit).
# Then, from 5 more rounds traced at every system call (which slows each
# call, so it is kept out of the CPU figures), the calls whose number per
# start differs between the two binaries, with their median durations.
# Run as root (perf's tracepoints): BENCH_USER=name bench/startpair.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
user=${BENCH_USER:?set BENCH_USER to an unprivileged user with subordinate ids}
rounds=${ROUNDS:-100}
work=$(mktemp -d /tmp/hutch-startpair.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
cp "${HUTCH_BASE:?set HUTCH_BASE to the hutch binary to compare with}" "$work/hutch-base"
cp -a "$here/../../shared/images/busybox-musl" "$work/busybox-musl"
chown -R "$user" "$work"
as_user=(setpriv --reuid="$user" --regid="$user" --clear-groups env HOME="$work")
img=busybox:1.38.0-musl
"${as_user[@]}" "$work/hutch" --root "$work/root" load -i "$work/busybox-musl" >/dev/null 2>&1
"${as_user[@]}" sh "$here/busybox-rootfs.sh" "$work/busybox-musl" "$work/rootfs"
new="$work/hutch --root $work/root run --rm --network none $img true"
base="$work/hutch-base --root $work/root run --rm --network none $img true"
bwrap="bwrap --unshare-user --uid 0 --gid 0 --unshare-pid --unshare-uts --unshare-ipc --unshare-net --bind $work/rootfs / --proc /proc --dev /dev --die-with-parent /bin/true"
# Warm the caches (seccomp program, kernel features, page cache).
for c in "$new" "$base" "$bwrap"; do "${as_user[@]}" $c; done
rounds_of() {
  echo "for i in \$(seq $1); do"
  for c in "$new" "$base" "$bwrap"; do echo "  ${as_user[*]} $c"; done
  echo "done"
}
rounds_of "$rounds" >"$work/rounds.sh"
rounds_of 5 >"$work/traced.sh"
sched=sched:sched_stat_runtime,sched:sched_process_exec,sched:sched_process_fork,sched:sched_process_exit
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
perf record -q -o "$work/cpu.data" -e "$sched" -- bash "$work/rounds.sh"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
perf record -q -o "$work/calls.data" -e "$sched" \
  -e raw_syscalls:sys_enter,raw_syscalls:sys_exit -- bash "$work/traced.sh"
for f in cpu calls; do
  perf script --ns -i "$work/$f.data" -F comm,pid,tid,time,event,trace >"$work/$f.events" 2>/dev/null
done
python3 - "$work/cpu.events" "$work/calls.events" "$here" <<'PY'
import collections, statistics as st, sys

sys.path.insert(0, sys.argv[3])
import schedtrace

kinds = {"/hutch": "hutch", "/hutch-base": "base", "/bwrap": "bwrap"}
trace = schedtrace.Trace(sys.argv[1], kinds)
cpu = collections.defaultdict(list)
wall = collections.defaultdict(list)
rounds, skipped = trace.rounds(len(kinds))
print(f"{skipped} starts skipped (exit event lost, with their rounds)", file=sys.stderr)
for k, s in (x for r in rounds for x in r):
    cpu[k].append(trace.cpu_ms(s))
    wall[k].append(trace.wall_ms(s))
n = min(len(cpu[k]) for k in ("hutch", "base", "bwrap"))
for what, m in (("CPU", cpu), ("wall", wall)):
    for k in ("hutch", "base", "bwrap"):
        v = m[k][:n]
        print(f"{k:6s} {what} per start {st.mean(v):.3f} ms (median {st.median(v):.3f}) over {n} starts")
    d = [m["hutch"][i] - m["base"][i] for i in range(n)]
    print(f"hutch - base: {st.mean(d):+.3f} ± {st.stdev(d) / n ** 0.5:.3f} ms {what} (mean of paired "
          f"differences ± standard error), median {st.median(d):+.3f} ms")
    for k in ("hutch", "base"):
        print(f"{k}/bwrap {what}: {st.mean(m[k][:n]) / st.mean(m['bwrap'][:n]):.2f}x (means), "
              f"{st.median(m[k][:n]) / st.median(m['bwrap'][:n]):.2f}x (medians); target <= 1.5x")

names = schedtrace.syscall_names()
traced = schedtrace.Trace(sys.argv[2], kinds)
rounds, skipped = traced.rounds(len(kinds))
print(f"{skipped} traced starts skipped (exit event lost, with their rounds)", file=sys.stderr)
starts = {k: [s for r in rounds for l, s in r if l == k] for k in ("hutch", "base")}
n = min(len(v) for v in starts.values())
per = {k: collections.defaultdict(list) for k in starts}
for k in per:
    for s in starts[k][:n]:
        traced.calls(s, per[k])
total = {k: sum(len(v) for v in per[k].values()) / n for k in per}
print(f"system calls per start ({n} traced starts each): hutch {total['hutch']:.0f}, base {total['base']:.0f}")
rows = []
for nr in set(per["hutch"]) | set(per["base"]):
    a, b = per["hutch"].get(nr, []), per["base"].get(nr, [])
    ca, cb = len(a) / n, len(b) / n
    ma = st.median(a) if a else 0.0
    mb = st.median(b) if b else 0.0
    if abs(ca - cb) >= 0.5:
        rows.append(((ca - cb) * (mb if b else ma), names.get(nr, str(nr)), ca, cb, ma, mb))
print("calls whose number differs (per start: calls x median duration, hutch vs base; difference x median):")
for extra, name, ca, cb, ma, mb in sorted(rows):
    print(f"  {name:16s} {ca:6.1f} x {ma:7.1f} us vs {cb:6.1f} x {mb:7.1f} us  {extra:+8.1f} us")
print(f"  sum {sum(r[0] for r in rows):+.1f} us (traced: each call slowed by the tracing)")
PY
