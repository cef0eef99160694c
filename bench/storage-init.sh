#!/usr/bin/env bash
# The FUSE overlay's start: from the fork of the server (right after the
# sandbox's parent opened the container's namespaces) until the server's INIT
# reply reaches the kernel, over RUNS `hutch run --rm --storage-driver fuse
# busybox true` (default 20). Measured with perf's scheduler and FUSE
# tracepoints (`sched_process_fork`, `fuse_request_send`, `fuse_request_end`),
# which cost a few microseconds, where strace -f stretched the same span 5-10x.
# Prints each start's fork -> INIT sent (the server's set-up, its child's
# mount) and INIT sent -> INIT answered, and their medians.
# Run as root with BENCH_USER=name (perf follows the starts and their children
# only: other FUSE mounts on the machine are not counted).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
user=${BENCH_USER:?set BENCH_USER to an unprivileged user}
[ "$(id -u)" = 0 ] || { echo "storage-init.sh: run as root (perf follows processes of another user)" >&2; exit 1; }
runs=${RUNS:-20}
work=$(mktemp -d /tmp/hutch-bench.XXXXXX)
# Root removes what the containers' subordinate ids own too.
trap 'rm -rf "$work"' EXIT
cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
cp -a "$here/../../shared/images/busybox-musl" "$work/busybox-musl"
chown -R "$user" "$work"
h="$work/hutch --root $work/h"
runuser -u "$user" -- $h load -i "$work/busybox-musl" >/dev/null
# One start first, so the image's layers are unpacked and cached.
runuser -u "$user" -- $h run --rm --network none --storage-driver fuse busybox:1.38.0-musl true
perf record -q -e sched:sched_process_fork -e fuse:fuse_request_send -e fuse:fuse_request_end \
  -o "$work/init.data" -- runuser -u "$user" -- sh -c "
    for i in \$(seq $runs); do
      $h run --rm --network none --storage-driver fuse busybox:1.38.0-musl true
    done"
perf script -i "$work/init.data" -F pid,time,trace 2>/dev/null | python3 -c '
import re, statistics, sys
fork, init, out = {}, {}, []
for line in sys.stdin:
    m = re.match(r"\s*(\d+)\s+([0-9.]+):\s+(.*)", line)
    if not m:
        continue
    pid, t, rest = int(m[1]), float(m[2]) * 1e3, m[3]
    if (f := re.search(r"child_pid=(\d+)", rest)):
        fork[int(f[1])] = t
    elif (f := re.match(r"connection (\d+) req (\d+) opcode 26 ", rest)):
        init[(f[1], f[2])] = t
    elif (f := re.match(r"connection (\d+) req (\d+) len", rest)) and (f[1], f[2]) in init:
        sent = init.pop((f[1], f[2]))
        if pid in fork:
            out.append((sent - fork[pid], t - sent))
for a, b in out:
    print(f"fork -> INIT sent {a:.2f} ms, INIT sent -> answered {b:.2f} ms, total {a + b:.2f} ms")
tot = [a + b for a, b in out]
print(f"{len(out)} starts: median {statistics.median(tot):.2f} ms "
      f"(set-up {statistics.median(a for a, _ in out):.2f} ms, "
      f"INIT {statistics.median(b for _, b in out):.2f} ms), "
      f"min {min(tot):.2f} ms, max {max(tot):.2f} ms")
'
