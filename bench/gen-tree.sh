#!/bin/sh
# Fill DIR with the benchmark change: 10,000 small files (4 KiB each, 40 MB in
# 100 directories) and one 160 MB file. The content is base64 of random bytes:
# it compresses (to about 75%) but has no long repeats a compressor could
# shortcut. Plain POSIX sh (busybox's) so it also runs inside a container.
# `gen-tree.sh DIR small` leaves out the large file.
set -e
dir=$1
mkdir -p "$dir"
i=0
while [ $i -lt 100 ]; do
  mkdir -p "$dir/d$i"
  j=0
  while [ $j -lt 100 ]; do
    head -c 3072 /dev/urandom | base64 >"$dir/d$i/f$j"
    j=$((j + 1))
  done
  i=$((i + 1))
done
[ "${2:-}" = small ] || head -c 120000000 /dev/urandom | base64 >"$dir/large"
