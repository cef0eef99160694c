#!/usr/bin/env bash
# Writes link/start-symbols.txt: the functions of the hutch binary that
# `hutch run --rm --network none busybox true` executes, for build.rs to
# hand to the linker (lld's --symbol-ordering-file), which then places them
# side by side at the start of the text.
# Why: a start runs about 1 MB of hutch's 12 MB of code in three processes
# (the parent, the go-between and the container process before its exec),
# and each page fault on the text maps the 16 pages around it. Scattered
# over the binary, that code lay in over a hundred 64 KiB windows, and each
# process faulted on most of the windows it touched; side by side it is
# under twenty (bench/README.md, "The functions a start runs, side by side").
# The functions come from two sources, joined: callgrind, which follows
# forks and sees every function that runs, but stops at the parent's
# pidfd_open where valgrind does not know that call (3.19, Debian 12's);
# and perf's samples of 200 starts (`cpu-clock:u`, 20 kHz), which see the
# rest of a start (the container's mounts and exec, the parent's wait and
# removal) where a function runs long enough to be sampled. The functions
# sampled in the container process come first, then the others, so that
# the smallest process touches the fewest pages.
# A list made by another toolchain or a much older tree only orders fewer
# functions (names the binary no longer has are skipped); bench/startup.sh
# says how many of the names the binary it measures still has. Run this
# again after a toolchain update, a change of hutch's dependencies (each
# mangled name carries a hash of the crate's metadata, which its
# dependencies are part of: adding one left 248 of 927 names) or a large
# change of the start path, and commit the list.
# Usage, as root: BENCH_USER=name bench/start-symbols.sh (HUTCH= a release
# build, default target/release/hutch); needs valgrind and perf.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
user=${BENCH_USER:?set BENCH_USER to an unprivileged user with subordinate ids}
for tool in valgrind perf nm; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
work=$(mktemp -d /tmp/hutch-symbols.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
cp -a "$here/../../shared/images/busybox-musl" "$work/busybox-musl"
mkdir "$work/out"
chown -R "$user" "$work"
as_user=(setpriv --reuid="$user" --regid="$user" --clear-groups env HOME="$work")
start=("$work/hutch" --root "$work/root" run --rm --network none busybox:1.38.0-musl true)
"${as_user[@]}" "$work/hutch" --root "$work/root" load -i "$work/busybox-musl" >/dev/null
"${as_user[@]}" "${start[@]}"
# The start under valgrind fails where valgrind lacks pidfd_open; its
# profiles up to there are what is wanted, so its status is not.
"${as_user[@]}" valgrind -q --tool=callgrind --demangle=no --callgrind-out-file="$work/out/cg.%p" \
  "${start[@]}" >/dev/null 2>"$work/valgrind.log" || true
if ! ls "$work"/out/cg.* >/dev/null 2>&1; then
  echo "error: callgrind wrote no profile:" >&2
  tail -n 5 "$work/valgrind.log" >&2
  exit 1
fi
if ! perf record -q -o "$work/samples" -F 20000 -e cpu-clock:u -- \
  "${as_user[@]}" sh -c 'for i in $(seq 200); do "$@" || exit 1; done' sh "${start[@]}" >/dev/null 2>"$work/perf.log"; then
  echo "error: the sampled starts failed:" >&2
  tail -n 5 "$work/perf.log" >&2
  exit 1
fi
perf script -i "$work/samples" -F pid,comm,ip,sym,dso --no-demangle >"$work/samples.txt"
python3 - "$work/hutch" "$here/../link/start-symbols.txt" "$work/samples.txt" "$work"/out/cg.* <<'PY'
import re, subprocess, sys
binary, out, samples, profiles = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
defined = {line.split()[-1] for line in subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout.splitlines()}

def ran_in(path):
    """The functions of `binary` that ran in one process's callgrind profile."""
    names, objs, found, obj = {}, {}, set(), None
    for line in open(path, errors="replace"):
        m = re.match(r"(c?)(ob|fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        table = objs if m.group(2) == "ob" else names
        if m.group(4):
            table[m.group(3)] = m.group(4)
        if m.group(1):
            continue
        if m.group(2) == "ob":
            obj = objs.get(m.group(3))
        elif obj and obj.endswith("/hutch"):
            found.add(re.sub(r"'\d+$", "", names.get(m.group(3), "")))
    return found & defined

# A forked process's callgrind profile holds its parent's counts up to the
# fork too, so these say what ran, not where.
others = set().union(*(ran_in(p) for p in profiles))
container = set()
# perf: a process that execs `true` is a container process.
by_pid, exec_true = {}, set()
for line in open(samples, errors="replace"):
    m = re.match(r"\s*(\S+)\s+(\d+)\s+[0-9a-f]+ (\S+) \((.*)\)$", line.rstrip("\n"))
    if not m:
        continue
    comm, pid, sym, dso = m.groups()
    if comm == "true":
        exec_true.add(pid)
    if dso.endswith("/hutch") and sym in defined:
        by_pid.setdefault(pid, set()).add(sym)
for pid, syms in by_pid.items():
    (container if pid in exec_true else others).update(syms)
ordered = sorted(container) + sorted(others - container)
if len(ordered) < 100:
    sys.exit(f"error: only {len(ordered)} functions found; is {binary} a release build with symbols?")
with open(out, "w") as f:
    f.write("".join(name + "\n" for name in ordered))
print(f"{len(ordered)} functions ({len(container)} sampled in the container process) -> {out}")
PY
