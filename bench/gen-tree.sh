#!/bin/sh
# Fill DIR with the benchmark change: 10,000 small files (4 KiB each, 40 MB in
# 100 directories) and one 160 MB file made of copies of BINARY (compresses
# like real binaries do). Plain POSIX sh so it also runs inside busybox.
set -e
dir=$1
bin=${2:-/bin/busybox}
mkdir -p "$dir"
i=0
while [ $i -lt 100 ]; do
  mkdir -p "$dir/d$i"
  j=0
  while [ $j -lt 100 ]; do
    head -c 4096 "$bin" >"$dir/d$i/f$j"
    j=$((j + 1))
  done
  i=$((i + 1))
done
: >"$dir/large"
size=0
while [ "$size" -lt 160000000 ]; do
  cat "$bin" >>"$dir/large"
  size=$(wc -c <"$dir/large")
done
