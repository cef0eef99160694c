#!/bin/sh
# The storage benchmark's workloads over DATA (the lower layer) writing into
# TMP; prints "name microseconds start" per workload (start: /proc/uptime in
# microseconds, to find a workload's FUSE requests in a trace). Plain POSIX sh
# (busybox's, whose date has no %N: times come from /proc/uptime, in 10 ms
# steps).
set -e
data=$1
tmp=$2
now() { read -r up _ </proc/uptime; echo "${up%.*}${up#*.}0000000"; }
step() { # name command...
  name=$1; shift
  a=$(now); "$@" >/dev/null 2>&1; b=$(now)
  echo "$name $(( (b - a) / 1000 )) $(( a / 1000 ))"
}
catall() { find "$data/small" -type f | xargs cat; }
step cat-cold catall
step cat-warm catall
# On FUSE the first warm pass still asks for every file's attributes once
# (one GETATTR per file, no READ: the pages stayed cached): the kernel marks
# atime stale after each READ of a writable FUSE mount and find(1) stats
# every file. No FUSE flag turns that off (the protocol has no noatime).
step cat-warm-again catall
step du-cold du -s "$data/small"
step du-warm du -s "$data/small"
step find-warm find "$data/small" -type f
mkdir -p "$tmp/u"
step untar-20k tar -xf "$data/small.tar" -C "$tmp/u"
touch1000() { find "$data/small" -type f | head -1000 | xargs touch; }
step touch-1000-lower touch1000
mb=$(( $(wc -c <"$data/large") / 1048576 ))
write() { dd if=/dev/zero of="$tmp/big" bs=1M count="$mb" conv=fsync; }
step seq-write write
cat "$data/large" >/dev/null
step seq-read-warm cat "$data/large"
