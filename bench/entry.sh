#!/usr/bin/env bash
# What a Rust program pays at every exec before and around its `main`, on
# this machine: three empty programs, built here with rustc, run in turn by
# cgcpu.sh (CPU per exec with every process counted, against /bin/true):
#   std-main   fn main() {}: std's runtime set-up (standard fds, SIGPIPE,
#              the main thread's stack guard, which glibc finds by reading
#              and parsing /proc/self/maps, and a signal stack)
#   c-main     a C `main` of its own (#![no_main]), as src/main.rs has
#   c-main-stack  the same, asking glibc for the main thread's stack as
#              std's set-up does (pthread_getattr_np): that part alone
#   c-main-lm  the same, needing libm.so.6 (a call to pow), as hutch did
#              before src/sys/math.rs
# (All four load libgcc_s.so.1 too, which hutch does not: the same cost in
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
cat >"$work/c-main-stack.rs" <<'RS'
#![no_main]
// pthread_attr_t is 56 bytes on 64-bit glibc; 64 aligned ones hold it.
extern "C" {
    fn pthread_self() -> usize;
    fn pthread_getattr_np(thread: usize, attr: *mut [u64; 8]) -> i32;
    fn pthread_attr_destroy(attr: *mut [u64; 8]) -> i32;
}
#[no_mangle]
extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    let mut attr = [0u64; 8];
    unsafe {
        if pthread_getattr_np(pthread_self(), &mut attr) != 0 {
            return 1;
        }
        pthread_attr_destroy(&mut attr);
    }
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
for p in std-main c-main c-main-stack c-main-lm; do
  rustc -O -o "$work/$p" "$work/$p.rs"
done
if ! readelf -d "$work/c-main-lm" | grep -q 'libm\.so'; then
  echo "error: c-main-lm does not need libm.so.6 (this toolchain links math differently); its row would measure nothing" >&2
  exit 1
fi
chmod 755 "$work" "$work"/std-main "$work"/c-main "$work"/c-main-stack "$work"/c-main-lm
printf '%s\t%s\n' std-main "$work/std-main" c-main "$work/c-main" c-main-stack "$work/c-main-stack" \
  c-main-lm "$work/c-main-lm" >"$work/commands"
bash "$here/cgcpu.sh" "$user" "$work/commands" "${ROUNDS:-6}" "${RUNS:-300}"
