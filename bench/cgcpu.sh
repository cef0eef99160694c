#!/usr/bin/env bash
# CPU per run of each command in a commands file, every process of a run
# counted. Each command's runs go into a cgroup of its own (cgroup v2; its
# cpu.stat is there whether or not the cpu controller is enabled), and what
# that cgroup used, once the last process in it has exited, is divided by
# the runs. getrusage (and so hyperfine's user and system times) counts only
# the children a process waited for: bwrap's parent exits as soon as its pid
# 1 reports the command's status on an eventfd, without waiting for that pid
# 1, so the set-up it did (the mounts, the new root, /proc) and what it does
# as it exits never reach bwrap's rusage. A cgroup counts them. Neither
# counts work the kernel hands to its own threads (the network namespace's
# cleanup runs in a kernel worker), on either side.
# The runs are interleaved, one of each command in turn (the order reversed
# every other turn), in ROUNDS rounds of RUNS turns; each round's CPU per run
# is compared within the round, so that a drift of the machine (its load,
# this VM's ext4 getting slower at allocating inodes after many deletions)
# falls on every command alike. A turn of every command runs first outside
# the measured cgroups (it starts hutch's user-namespace keeper if there is
# none, and warms the caches). A run of /bin/true measured the same way is
# subtracted: the shell that moves itself into the cgroup, and its exec.
# Usage, as root: cgcpu.sh USER COMMANDS_FILE ROUNDS RUNS
# COMMANDS_FILE: one "name<TAB>command" a line (the command split by sh;
# names of lowercase letters, digits and dashes).
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: cgcpu.sh USER COMMANDS_FILE ROUNDS RUNS" >&2; exit 2; }
user=$1 commands=$2 rounds=$3 runs=$4
case "$rounds$runs" in *[!0-9]*) echo "error: ROUNDS and RUNS must be numbers" >&2; exit 2 ;; esac
[ "$rounds" -ge 1 ] && [ "$runs" -ge 1 ] || { echo "error: ROUNDS and RUNS must be at least 1" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "error: cgcpu.sh makes cgroups and runs the commands as USER: run it as root" >&2; exit 2; }
id -u "$user" >/dev/null 2>&1 || { echo "error: no user $user" >&2; exit 2; }
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  top=/sys/fs/cgroup
elif [ -f /sys/fs/cgroup/unified/cgroup.controllers ]; then
  top=/sys/fs/cgroup/unified
else
  echo "no cgroup v2 hierarchy: CPU per start with every process counted is not measured" >&2
  exit 0
fi

names=(true)
cmds=(/bin/true)
while IFS=$'\t' read -r name cmd || [ -n "$name" ]; do
  [ -n "$name$cmd" ] || continue
  if ! [[ $name =~ ^[a-z0-9][a-z0-9-]*$ ]] || [ "$name" = true ] || [ -z "$cmd" ]; then
    echo "error: $commands: \"$name\" is not a name and a command (name<TAB>command; lowercase letters, digits and dashes; not \"true\")" >&2
    exit 2
  fi
  if [[ " ${names[*]} " == *" $name "* ]]; then
    echo "error: $commands names $name twice" >&2
    exit 2
  fi
  case "$cmd" in *"'"*)
    echo "error: the command of $name has a single quote, which the run loop cannot carry" >&2
    exit 2 ;;
  esac
  names+=("$name")
  cmds+=("$cmd")
done <"$commands"
[ ${#names[@]} -gt 1 ] || { echo "error: $commands names no command" >&2; exit 2; }

work=$(mktemp -d /tmp/hutch-cgcpu.XXXXXX)
bench="$top/hutch-cgcpu-$$"
loop=
cleanup() {
  if [ -n "$loop" ]; then
    kill "$loop" 2>/dev/null || true
    wait "$loop" 2>/dev/null || true
  fi
  # What is left in the cgroups (a run cut short, a process a command
  # left behind, cgroups a command made below its own) is moved out, so
  # that they can go.
  if [ -d "$bench" ]; then
    find "$bench" -name cgroup.procs | while read -r procs; do
      for pid in $(cat "$procs" 2>/dev/null); do echo "$pid" >"$top/cgroup.procs" 2>/dev/null || true; done
    done
    find "$bench" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [ ! -d "$bench" ] || echo "warning: $bench could not be removed" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 755 "$work"

# The user moves each run into its command's cgroup: delegated to it as
# cgroup v2 delegates (the cgroups and their cgroup.procs are the user's,
# and so is the common parent's cgroup.procs).
if ! why=$(mkdir "$bench" 2>&1); then
  if findmnt -no OPTIONS -T "$top" | grep -qE '(^|,)ro(,|$)'; then
    echo "$top is read-only: CPU per start with every process counted is not measured" >&2
    exit 0
  fi
  echo "error: $why" >&2
  exit 1
fi
chown "$user" "$bench" "$bench/cgroup.procs"
for name in "${names[@]}"; do
  mkdir "$bench/$name"
  chown "$user" "$bench/$name" "$bench/$name/cgroup.procs"
  touch "$work/$name.err"
  chown "$user" "$work/$name.err"
done

# One run of command $i: into its cgroup, or (warm-up) where the loop is.
run_line() {
  local i=$1 into=$2
  printf "      sh -c '%s exec %s' %s >/dev/null 2>>%s </dev/null 3>&- || { echo \"%s \$r\" >&3; exit 1; }\n" \
    "${into:+echo \$\$ >\"\$0\" &&}" "${cmds[$i]}" "$bench/${names[$i]}/cgroup.procs" "$work/${names[$i]}.err" "${names[$i]}"
}
{
  echo 'r=0'
  for i in "${!names[@]}"; do run_line "$i" ""; done
  echo 'settle() { for cg in "$@"; do n=0; until grep -q "^populated 0" "$cg/cgroup.events" || [ $n -ge 100 ]; do sleep 0.05; n=$((n + 1)); done; done; }'
  echo "for r in \$(seq $rounds); do"
  echo "  for i in \$(seq $runs); do"
  echo '    if [ $((i % 2)) -eq 1 ]; then'
  for i in "${!names[@]}"; do run_line "$i" into; done
  echo '    else'
  for ((i = ${#names[@]} - 1; i >= 0; i--)); do run_line "$i" into; done
  echo '    fi'
  echo '  done'
  printf '  settle'; for name in "${names[@]}"; do printf ' %s' "$bench/$name"; done; echo
  for name in "${names[@]}"; do
    echo "  grep -q '^populated 0' $bench/$name/cgroup.events || { echo \"$name \$r left: \$(cat $bench/$name/cgroup.procs | tr '\\n' ' ')\" >&3; exit 1; }"
    echo "  echo \"\$r $name \$(awk '\$1 == \"usage_usec\" { print \$2 }' $bench/$name/cpu.stat)\""
  done
  echo 'done'
} >"$work/loop.sh"

# In the background (so that a TERM or Ctrl-C reaches the traps at once),
# where bash starts commands with SIGINT and SIGQUIT ignored: env puts them
# back, so that every measured start begins as it would from a shell.
sh -c 'echo $$ >"$1/cgroup.procs" && exec env --default-signal=INT,QUIT runuser -u "$2" -- sh "$3" 3>"$4"' \
  sh "$bench" "$user" "$work/loop.sh" "$work/failed" >"$work/usage" &
loop=$!
if ! wait "$loop"; then
  loop=
  read -r what <"$work/failed" || what=
  name=${what%% *}
  case "$what" in
  *" left: "*) echo "error: processes of ${name} outlived its runs by 5 s (pids ${what#* left: }): this measure cannot count them" >&2 ;;
  ?*)
    said=$(tail -n 3 "$work/$name.err" | tr '\n' ' ')
    echo "error: ${name} failed in round ${what#* } (0 is the warm-up turn)${said:+: $said}" >&2 ;;
  *) echo "error: the run loop stopped" >&2 ;;
  esac
  exit 1
fi
loop=

python3 - "$work/usage" "$rounds" "$runs" <<'PY'
import statistics, sys
path, rounds, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
total, per = {}, {}
for line in open(path):
    r, name, usage = line.split()
    per.setdefault(int(r), {})[name] = (int(usage) - total.get(name, 0)) / runs / 1000
    total[name] = int(usage)
rows = [{n: v - per[r]["true"] for n, v in per[r].items() if n != "true"} for r in sorted(per)]
true = statistics.median(per[r]["true"] for r in per)
print(f"CPU per start, every process counted (a cgroup's cpu.stat; {rounds} rounds of {runs} interleaved runs of each command, "
      f"minus a run of /bin/true the same way: {true:.2f} ms; median over rounds):")
for name in rows[0]:
    print(f"  {name}: {statistics.median(x[name] for x in rows):.2f} ms")
def paired(a, b):
    d = [x[a] - x[b] for x in rows]
    se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else float("nan")
    return statistics.mean(d), se
def ratio(a, b):
    return statistics.median(x[a] / x[b] for x in rows)
if "bwrap" in rows[0]:
    for name in rows[0]:
        if name.startswith("hutch"):
            target = " (median of the rounds' ratios; target <= 1.5x)" if name == "hutch" else ""
            print(f"  {name}/bwrap: {ratio(name, 'bwrap'):.2f}x{target}")
for other, what in (("hutch-unconfined", "confinement (filter + masks)"), ("hutch-no-seccomp", "seccomp filter alone"), ("hutch-base", "hutch - hutch-base")):
    if "hutch" in rows[0] and other in rows[0]:
        d, se = paired("hutch", other)
        print(f"  {what}: {d:+.3f} ± {se:.3f} ms (mean of the rounds' differences ± standard error)")
PY
