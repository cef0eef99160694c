#!/usr/bin/env bash
# CPU per run of each command in a commands file, every process of a run
# counted. Each command's runs go into a cgroup of its own (cgroup v2; its
# cpu.stat is there whether or not the cpu controller is enabled), and what
# that cgroup used, once the last process in it has exited, is divided by
# the runs. getrusage (and so hyperfine's user and system times) counts only
# the children a process waited for: bwrap's parent exits as soon as its pid
# 1 reports the command's status on an eventfd, without waiting for that pid
# 1, so the set-up it did (the mounts, the new root, /proc) and the
# namespaces' teardown never reach bwrap's rusage. A cgroup counts them.
# The runs are interleaved, one of each command in turn (the order reversed
# every other turn), in ROUNDS rounds of RUNS turns; each round's CPU per run
# is compared within the round, so that a drift of the machine (its load,
# this VM's ext4 getting slower at allocating inodes after many deletions)
# falls on every command alike. A run of /bin/true measured the same way is
# subtracted: the shell that moves itself into the cgroup and its exec.
# Usage, as root: cgcpu.sh USER COMMANDS_FILE ROUNDS RUNS
# COMMANDS_FILE: one "name<TAB>command" a line (the command split by sh).
set -euo pipefail
user=$1 commands=$2 rounds=$3 runs=$4
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  top=/sys/fs/cgroup
elif [ -f /sys/fs/cgroup/unified/cgroup.controllers ]; then
  top=/sys/fs/cgroup/unified
else
  echo "no cgroup v2 hierarchy: CPU per start with every process counted is not measured" >&2
  exit 0
fi
work=$(mktemp -d /tmp/hutch-cgcpu.XXXXXX)
bench="$top/hutch-cgcpu-$$"
cleanup() {
  for cg in "$bench"/*/; do
    [ -d "$cg" ] || continue
    # A process left behind (hutch's user-namespace keeper, if a run had
    # to start it) is moved out so that the cgroup can go.
    for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do echo "$pid" >"$top/cgroup.procs" || true; done
    rmdir "$cg" 2>/dev/null || true
  done
  rmdir "$bench" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"

# The user moves each run into its command's cgroup: delegated to it as
# cgroup v2 delegates (the cgroups and their cgroup.procs are the user's,
# and so is the common parent's cgroup.procs).
names=(true)
cmds=(/bin/true)
while IFS=$'\t' read -r name cmd; do
  case "$cmd" in *"'"*)
    echo "error: the command of $name has a single quote, which the run loop cannot carry" >&2
    exit 1 ;;
  esac
  names+=("$name")
  cmds+=("$cmd")
done <"$commands"
mkdir "$bench"
chown "$user" "$bench" "$bench/cgroup.procs"
for name in "${names[@]}"; do
  mkdir "$bench/$name"
  chown "$user" "$bench/$name" "$bench/$name/cgroup.procs"
done

{
  echo 'set -e'
  echo 'settle() { for cg in "$@"; do n=0; until grep -q "^populated 0" "$cg/cgroup.events" || [ $n -ge 100 ]; do sleep 0.05; n=$((n + 1)); done; done; }'
  echo "for r in \$(seq $rounds); do"
  echo "  for i in \$(seq $runs); do"
  echo '    if [ $((i % 2)) -eq 1 ]; then'
  for i in "${!names[@]}"; do
    printf "      sh -c 'echo \$\$ >\"\$0\" && exec %s' %s >/dev/null 2>&1 </dev/null\n" "${cmds[$i]}" "$bench/${names[$i]}/cgroup.procs"
  done
  echo '    else'
  for ((i = ${#names[@]} - 1; i >= 0; i--)); do
    printf "      sh -c 'echo \$\$ >\"\$0\" && exec %s' %s >/dev/null 2>&1 </dev/null\n" "${cmds[$i]}" "$bench/${names[$i]}/cgroup.procs"
  done
  echo '    fi'
  echo '  done'
  printf '  settle'; for name in "${names[@]}"; do printf ' %s' "$bench/$name"; done; echo
  for name in "${names[@]}"; do
    echo "  echo \"\$r $name \$(awk '\$1 == \"usage_usec\" || \$1 == \"user_usec\" || \$1 == \"system_usec\" { printf \"%s \", \$2 }' $bench/$name/cpu.stat)\""
  done
  echo 'done'
} >"$work/loop.sh"
sh -c 'echo $$ >"$1/cgroup.procs" && exec runuser -u "$2" -- sh "$3"' sh "$bench" "$user" "$work/loop.sh" >"$work/usage"

python3 - "$work/usage" "$rounds" "$runs" <<'PY'
import statistics, sys
path, rounds, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
total, per = {}, {}
for line in open(path):
    r, name, *v = line.split()
    v = [int(x) for x in v]
    prev = total.get(name, [0, 0, 0])
    per.setdefault(int(r), {})[name] = [(a - b) / runs / 1000 for a, b in zip(v, prev)]
    total[name] = v
rows = [{n: [a - b for a, b in zip(v, per[r]["true"])] for n, v in per[r].items() if n != "true"} for r in sorted(per)]
true = statistics.median(per[r]["true"][0] for r in per)
print(f"CPU per start, every process counted (a cgroup's cpu.stat; {rounds} rounds of {runs} interleaved runs of each command, "
      f"minus a run of /bin/true the same way: {true:.2f} ms; median over rounds):")
for name in rows[0]:
    print(f"  {name}: {statistics.median(x[name][0] for x in rows):.2f} ms")
def paired(a, b):
    d = [x[a][0] - x[b][0] for x in rows]
    se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else float("nan")
    return statistics.mean(d), se
def ratio(a, b):
    return statistics.median(x[a][0] / x[b][0] for x in rows)
if "bwrap" in rows[0]:
    print(f"  hutch/bwrap: {ratio('hutch', 'bwrap'):.2f}x (median of the rounds' ratios; target <= 1.5x)")
    for name in rows[0]:
        if name.startswith("hutch-"):
            print(f"  {name}/bwrap: {ratio(name, 'bwrap'):.2f}x")
for other, what in (("hutch-unconfined", "confinement (filter + masks)"), ("hutch-no-seccomp", "seccomp filter alone"), ("hutch-base", "hutch - hutch-base")):
    if other in rows[0]:
        d, se = paired("hutch", other)
        print(f"  {what}: {d:+.3f} ± {se:.3f} ms (mean over rounds ± standard error)")
PY
