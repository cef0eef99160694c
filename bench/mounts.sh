#!/usr/bin/env bash
# What each kind of mount behind the container's masks and read-only paths
# costs on this machine, teardown included (bench/mounts.c says how).
# Run as an unprivileged user (as root: BENCH_USER=name bench/mounts.sh).
# RUNS children a round (default 500), ROUNDS rounds (default 10).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/hutch-mounts.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/mounts" "$here/mounts.c" -lm
mkdir "$work/proc"
chmod 755 "$work" "$work/mounts" "$work/proc"
cmd=(unshare -rpf "$work/mounts" "$work/proc" "${RUNS:-500}" "${ROUNDS:-10}" - f t b r o a)
if [ "$(id -u)" = 0 ]; then
  runuser -u "${BENCH_USER:?as root, set BENCH_USER to an unprivileged user}" -- "${cmd[@]}"
else
  "${cmd[@]}"
fi
