#!/usr/bin/env bash
# What a Rust program pays at every exec before and around its `main`, on
# this machine: three empty programs, built here with rustc, run in turn by
# cgcpu.sh (CPU per exec with every process counted, against /bin/true):
#   std-main   fn main() {}: std's runtime set-up (standard fds, SIGPIPE,
#              the main thread's stack guard, which glibc finds by reading
#              and parsing /proc/self/maps, and a signal stack)
#   c-main     a C `main` of its own (#![no_main]), as src/main.rs has
#   c-main-lm  the same, needing libm.so.6 (a call to pow), as hutch did
#              before src/sys/math.rs
# (All three load libgcc_s.so.1 too, which hutch does not: the same cost in
# each row.)
# Usage, as root: BENCH_USER=name bench/entry.sh (ROUNDS, default 6, of
# RUNS, default 300, execs of each).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
user=${BENCH_USER:?set BENCH_USER to an unprivileged user}
[ "$(id -u)" = 0 ] || { echo "error: run as root (cgcpu.sh makes cgroups): BENCH_USER=name bench/entry.sh" >&2; exit 2; }
work=$(mktemp -d /tmp/hutch-entry.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat >"$work/std-main.rs" <<'RS'
fn main() {}
RS
cat >"$work/c-main.rs" <<'RS'
#![no_main]
#[no_mangle]
extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    0
}
RS
# One call of pow (on argc, so that the compiler cannot work it out).
cat >"$work/c-main-lm.rs" <<'RS'
#![no_main]
extern "C" {
    fn pow(x: f64, y: f64) -> f64;
}
#[no_mangle]
extern "C" fn main(argc: i32, _argv: *const *const u8) -> i32 {
    let v = unsafe { pow(0.5, f64::from(argc)) };
    i32::from(v == 0.125)
}
RS
for p in std-main c-main c-main-lm; do
  rustc -O -o "$work/$p" "$work/$p.rs"
done
if ! readelf -d "$work/c-main-lm" | grep -q 'libm\.so'; then
  echo "error: c-main-lm does not need libm.so.6 (this toolchain links math differently); its row would measure nothing" >&2
  exit 1
fi
chmod 755 "$work" "$work"/std-main "$work"/c-main "$work"/c-main-lm
printf '%s\t%s\n' std-main "$work/std-main" c-main "$work/c-main" c-main-lm "$work/c-main-lm" >"$work/commands"
bash "$here/cgcpu.sh" "$user" "$work/commands" "${ROUNDS:-6}" "${RUNS:-300}"
