#!/usr/bin/env bash
# Start-up latency, side by side in one hyperfine run on the same machine:
#   hutch run --rm --network none busybox true
#   the same with --security-opt seccomp=unconfined --security-opt
#   systempaths=unconfined (no seccomp filter, no masked or read-only
#   paths; capabilities and everything else as by default): the cost of
#   confinement
#   the same with --security-opt seccomp=unconfined: the cost of the filter
#   alone (compiled once, then read from the state directory's cache)
#   the same with HUTCH_RM_LAYER=memory (the writable layer on a tmpfs
#   inside the container instead of on disk; through env(1))
#   bwrap over the same busybox root filesystem, unpacked
#   podman run --rm --network none busybox true (rootless, overlay driver)
# Run as an unprivileged user (as root: BENCH_USER=name bench/startup.sh).
# Prints hyperfine's table and the ratios the README asks for (wall time,
# and CPU time: user + system of the command and its children).
# hyperfine's CPU figures come from getrusage, which misses bwrap's pid 1 (its
# parent exits without waiting for it), so as root the script then measures
# CPU per start with every process counted, in cgroups (bench/cgcpu.sh;
# CG_ROUNDS rounds of CG_RUNS starts, default 4 and 50; CG_ROUNDS=0 skips it).
# HUTCH_BASE=/path/to/another/hutch adds that binary to the same run, for a
# before/after comparison side by side.
# STORE_FS (as root) puts hutch's stores and bwrap's unpacked root
# filesystem on a file system of their own (podman's store stays on the
# root file system, see below): STORE_FS=tmpfs a tmpfs, STORE_FS=ext4 an ext4
# with a journal (mkfs.ext4's defaults, as a laptop's) on a loop device
# over a sparse file in /var/tmp. An ext4 without a journal (this VM's
# root) skips, at every new inode, each inode of the block group freed in
# the last 60 s (360 s while its inode table block is dirty), so hutch's
# starts (12 inodes made and freed each) there cost more the more starts
# and other deletions came just before; bwrap makes no file. With a
# journal ext4 skips none.
# ROUNDS=N (and ROUND_RUNS, default 10) then measures again in N rounds, each
# a short hyperfine run of every command: hyperfine times each command's runs
# as one block, so on a busy machine a block can land in a slower minute than
# its neighbour; alternating short blocks and comparing the commands within
# each round gives the differences of tenths of a millisecond (confinement)
# as a mean over rounds with its standard error. Even rounds run the
# commands in reverse order.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then
  user=${BENCH_USER:?as root, set BENCH_USER to an unprivileged user}
  if [ -n "${STORE_TMPFS:-}" ]; then
    echo "error: STORE_TMPFS is now STORE_FS=tmpfs" >&2
    exit 2
  fi
  case "${STORE_FS:-}" in
    "" | tmpfs | ext4) ;;
    *)
      echo "error: STORE_FS=$STORE_FS: say tmpfs or ext4" >&2
      exit 2
      ;;
  esac
  work=$(mktemp -u /tmp/hutch-bench.XXXXXX | tr A-Z a-z); mkdir -p "$work" # lowercase: podman names images after the path
  # The binaries stay off STORE_FS: the user-namespace keeper a start
  # leaves running keeps its executable's file system busy. Root removes
  # what the containers' subordinate ids own too.
  bin=$work
  if [ -z "${STORE_FS:-}" ]; then
    trap 'rm -rf "$work"' EXIT
  else
    bin=$work-bin
    img=
    [ "$STORE_FS" = tmpfs ] || img=/var/tmp/$(basename "$work").img
    mkdir -p "$bin"
    # A file system still mounted (busy) is left whole, its image too.
    trap 'if mountpoint -q "$work" && ! umount "$work"; then echo "warning: $work is still mounted (busy): left as it is" >&2; rm -rf "$bin"; else rm -rf "$work" "$bin" ${img:+"$img"}; fi' EXIT
    if [ -z "$img" ]; then
      mount -t tmpfs -o size=1g,mode=0755 hutch-bench "$work"
    else
      truncate -s 2G "$img"
      # Inode tables and journal written now, not by a kernel thread
      # during the first measurements.
      mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 "$img"
      mount -o loop "$img" "$work"
      chmod 0755 "$work"
    fi
  fi
  cp "${HUTCH:-$here/../target/release/hutch}" "$bin/hutch"
  base_env=()
  if [ -n "${HUTCH_BASE:-}" ]; then
    cp "$HUTCH_BASE" "$bin/hutch-base"
    base_env=(HUTCH_BASE="$bin/hutch-base")
  fi
  cp -a "$here/../../shared/images/busybox-musl" "$work/busybox-musl"
  [ "$bin" = "$work" ] || cp -a "$here/../../shared/images/busybox-musl" "$bin/busybox-musl"
  chown -R "$user" "$work" "$bin"
  rc=0
  # podman's rootless pause process, once running, keeps the mount
  # namespace it started in, where a file system mounted since (STORE_FS's)
  # is not there: podman's store and image go beside the binaries.
  runuser -u "$user" -- env -u STORE_FS HUTCH="$bin/hutch" IMAGES="$work" BENCH_WORK="$work" PODMAN_WORK="$bin" "${base_env[@]}" \
    bash "$here/startup.sh" "$@" || rc=$?
  if [ "$rc" = 0 ] && [ "${CG_ROUNDS:-4}" -gt 0 ]; then
    bash "$here/cgcpu.sh" "$user" "$work/commands" "${CG_ROUNDS:-4}" "${CG_RUNS:-50}" || rc=$?
  fi
  exit "$rc"
fi
if [ -n "${STORE_FS:-}" ]; then
  echo "error: STORE_FS mounts a file system: run startup.sh as root with BENCH_USER=name" >&2
  exit 2
fi

hutch=${HUTCH:-$here/../target/release/hutch}
images=${IMAGES:-$here/../../shared/images}
work=${BENCH_WORK:-$(mktemp -u /tmp/hutch-bench.XXXXXX | tr A-Z a-z)}; mkdir -p "$work"
runs=${RUNS:-50}

# Every library the binary needs is loaded and relocated at each start. A
# release build needs glibc's libc and the loader, nothing else: build.rs
# links the unwinder in from libgcc_eh.a, so that no start pays for
# libgcc_s.so.1's constructor, the two math functions the linked code calls
# come from src/sys/math.rs, not libm.so.6, and the C code (SQLite, zstd) is
# compiled in. A binary that needs more (libgcc_s when build.rs found no
# libgcc_eh.a, libm when a dependency calls another math function, a
# dependency linking a system library) measures that instead.
if command -v readelf >/dev/null; then
  extra=$(readelf -d "$hutch" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
    grep -Ev '^(libc\.so\.6|ld-linux-[a-z0-9-]+\.so\.[0-9]+)$' || true)
  if [ -n "$extra" ]; then
    echo "error: $hutch needs $(echo $extra) besides libc and the loader: rebuild it before measuring start-up (a new math function: add it to src/sys/math.rs)" >&2
    exit 1
  fi
fi

# build.rs places the functions a start runs (link/start-symbols.txt) side
# by side. Where they lie in the measured binary: a list gone stale
# (another toolchain, functions renamed since) or a linker that did not
# take it leaves them spread over a hundred or more 64 KiB windows of the
# text, each a page fault per process.
list="$here/../link/start-symbols.txt"
if command -v nm >/dev/null && [ -f "$list" ]; then
  nm -S "$hutch" | python3 -c '
import sys
listed = set(open(sys.argv[1]).read().split())
pages = set()
found = set()
for line in sys.stdin:
    f = line.split()
    if len(f) == 4 and f[3] in listed:
        found.add(f[3])
        a, n = int(f[0], 16), int(f[1], 16)
        pages.update(range(a // 4096, (a + max(n, 1) - 1) // 4096 + 1))
windows = len({p // 16 for p in pages})
print(f"{len(found)} of the {len(listed)} functions in link/start-symbols.txt are in the binary, on {len(pages)} pages in {windows} 64 KiB windows" +
      (" (spread or missing: is the list stale, or the binary stripped? bench/start-symbols.sh writes the list anew)"
       if windows > 30 or 2 * len(found) < len(listed) else ""))
' "$list"
fi

root="$work/hutch-root"
"$hutch" --root "$root" load -i "$images/busybox-musl" >/dev/null
"$hutch" --root "$root" run --rm --network none busybox:1.38.0-musl true

# The same root filesystem, unpacked, for bwrap.
rootfs="$work/rootfs"
sh "$here/busybox-rootfs.sh" "$images/busybox-musl" "$rootfs"
bwrap_cmd="bwrap --unshare-user --uid 0 --gid 0 --unshare-pid --unshare-uts --unshare-ipc --unshare-net --bind $rootfs / --proc /proc --dev /dev --die-with-parent /bin/true"

cmds=("$hutch --root $root run --rm --network none busybox:1.38.0-musl true"
  "$hutch --root $root run --rm --network none --security-opt seccomp=unconfined --security-opt systempaths=unconfined busybox:1.38.0-musl true"
  "$hutch --root $root run --rm --network none --security-opt seccomp=unconfined busybox:1.38.0-musl true"
  "env HUTCH_RM_LAYER=memory $hutch --root $root run --rm --network none busybox:1.38.0-musl true"
  "$bwrap_cmd")
names=(hutch hutch-unconfined hutch-no-seccomp hutch-memory-layer bwrap)
if [ -n "${HUTCH_BASE:-}" ]; then
  "$HUTCH_BASE" --root "$root" run --rm --network none busybox:1.38.0-musl true
  cmds+=("$HUTCH_BASE --root $root run --rm --network none busybox:1.38.0-musl true")
  names+=(hutch-base)
fi
for i in "${!cmds[@]}"; do printf '%s\t%s\n' "${names[$i]}" "${cmds[$i]}"; done >"$work/commands"
if command -v podman >/dev/null; then
  pod_work=${PODMAN_WORK:-$work}
  pod="podman --root $pod_work/podman-root --runroot $pod_work/podman-run --storage-driver overlay"
  if $pod pull -q "oci:${PODMAN_WORK:-$images}/busybox-musl" >/dev/null 2>"$work/podman.err" &&
    $pod tag "$($pod images -q | head -1)" bench-busybox >/dev/null 2>"$work/podman.err" &&
    $pod run --rm --network none bench-busybox true >/dev/null 2>"$work/podman.err"; then
    cmds+=("$pod run --rm --network none bench-busybox true")
    names+=(podman)
  else
    echo "podman cannot run here ($(tail -n 1 "$work/podman.err")); comparing with bwrap only" >&2
  fi
  [ "$pod_work" = "$work" ] || echo "podman's store is in $pod_work, not on STORE_FS" >&2
fi

args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/startup.json" "${args[@]}"

python3 - "$work/startup.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
r = {x["command"]: x["median"] for x in res}
cpu = {x["command"]: x["user"] + x["system"] for x in res}
h = r["hutch"]
u = r["hutch-unconfined"]
print(f"confinement (seccomp filter + masks): {(h-u)*1000:+.2f} ms, CPU {(cpu['hutch']-cpu['hutch-unconfined'])*1000:+.2f} ms (hutch vs seccomp=unconfined + systempaths=unconfined; target <= 0.3 ms)")
n = r["hutch-no-seccomp"]
print(f"seccomp filter alone: {(h-n)*1000:+.2f} ms, CPU {(cpu['hutch']-cpu['hutch-no-seccomp'])*1000:+.2f} ms (hutch vs seccomp=unconfined; target <= 0.3 ms)")
print(f"hutch median {h*1000:.2f} ms; bwrap {r['bwrap']*1000:.2f} ms; hutch/bwrap = {h/r['bwrap']:.2f}x (target <= 1.5x)")
print(f"hutch CPU {cpu['hutch']*1000:.2f} ms; bwrap {cpu['bwrap']*1000:.2f} ms; hutch/bwrap = {cpu['hutch']/cpu['bwrap']:.2f}x (getrusage: without bwrap's pid 1, see the cgroup figures)")
m = r["hutch-memory-layer"]
print(f"hutch with rm_layer = memory (through env(1), whose exec it includes) median {m*1000:.2f} ms ({m/r['bwrap']:.2f}x bwrap), CPU {cpu['hutch-memory-layer']*1000:.2f} ms ({cpu['hutch-memory-layer']/cpu['bwrap']:.2f}x)")
if "hutch-base" in r:
    b = r["hutch-base"]
    print(f"hutch-base median {b*1000:.2f} ms ({b/r['bwrap']:.2f}x bwrap), CPU {cpu['hutch-base']*1000:.2f} ms ({cpu['hutch-base']/cpu['bwrap']:.2f}x)")
if "podman" in r:
    print(f"podman median {r['podman']*1000:.1f} ms; podman/hutch = {r['podman']/h:.1f}x (target >= 20x)")
PY

rounds=${ROUNDS:-0}
[ "$rounds" -gt 0 ] || exit 0
for i in $(seq "$rounds"); do
  # hyperfine runs the commands one after the other: even rounds take them
  # in reverse, so that a drift within a round (the machine's load, its
  # clock) does not always fall on the same side of a paired difference.
  order=("${!names[@]}")
  if [ $((i % 2)) -eq 0 ]; then
    order=()
    for ((j = ${#names[@]} - 1; j >= 0; j--)); do order+=("$j"); done
  fi
  args=()
  for j in "${order[@]}"; do
    [ "${names[$j]}" = podman ] || args+=(-n "${names[$j]}" "${cmds[$j]}")
  done
  hyperfine -N --style none --warmup 2 --runs "${ROUND_RUNS:-10}" \
    --export-json "$work/round-$i.json" "${args[@]}" >/dev/null
done
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, n = sys.argv[1], int(sys.argv[2])
rounds = []
for i in range(1, n + 1):
    res = json.load(open(f"{work}/round-{i}.json"))["results"]
    rounds.append({x["command"]: (x["median"], x["user"] + x["system"]) for x in res})
def paired(a, b, k):
    d = [(r[a][k] - r[b][k]) * 1000 for r in rounds]
    se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else float("nan")
    return statistics.mean(d), se
def ratio(a, b, k):
    q = [r[a][k] / r[b][k] for r in rounds]
    return statistics.median(q)
print(f"{n} interleaved rounds of {len(rounds[0])} commands (mean over rounds, ± standard error):")
for name in rounds[0]:
    w = statistics.mean(r[name][0] for r in rounds) * 1000
    c = statistics.mean(r[name][1] for r in rounds) * 1000
    print(f"  {name}: median {w:.2f} ms, CPU {c:.2f} ms")
for other, what in (("hutch-unconfined", "confinement (filter + masks)"), ("hutch-no-seccomp", "seccomp filter alone")):
    (dw, sw), (dc, sc) = paired("hutch", other, 0), paired("hutch", other, 1)
    print(f"  {what}: {dw:+.2f} ± {sw:.2f} ms wall, CPU {dc:+.2f} ± {sc:.2f} ms (target <= 0.3 ms)")
if "hutch-base" in rounds[0]:
    (dw, sw), (dc, sc) = paired("hutch", "hutch-base", 0), paired("hutch", "hutch-base", 1)
    print(f"  hutch - hutch-base: {dw:+.2f} ± {sw:.2f} ms wall, CPU {dc:+.2f} ± {sc:.2f} ms")
print(f"  hutch/bwrap: wall {ratio('hutch', 'bwrap', 0):.2f}x, CPU {ratio('hutch', 'bwrap', 1):.2f}x (medians of the rounds' ratios; target <= 1.5x; the CPU by getrusage, without bwrap's pid 1)")
print(f"  hutch with rm_layer = memory/bwrap: wall {ratio('hutch-memory-layer', 'bwrap', 0):.2f}x, CPU {ratio('hutch-memory-layer', 'bwrap', 1):.2f}x")
PY
