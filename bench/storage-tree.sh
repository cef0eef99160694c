#!/bin/sh
# The storage benchmark's lower layer in DIR: 20,000 small files (1-8 KiB,
# 200 directories), the same files as a tar for the untar workload, and one
# file of MB megabytes. Plain POSIX sh (busybox's): it runs in a container.
set -e
dir=$1
mb=$2
mkdir -p "$dir/small"
i=0
while [ $i -lt 200 ]; do
  mkdir -p "$dir/small/d$i"
  j=0
  while [ $j -lt 100 ]; do
    head -c $((1024 * (1 + (i + j) % 8))) /dev/urandom >"$dir/small/d$i/f$j"
    j=$((j + 1))
  done
  i=$((i + 1))
done
tar -cf "$dir/small.tar" -C "$dir" small
dd if=/dev/urandom of="$dir/large" bs=1M count="$mb" 2>/dev/null
