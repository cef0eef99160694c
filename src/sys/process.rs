//! Process creation: fork for short-lived helpers that must live in another
//! user namespace (layer unpacking, store cleanup).

use super::{Ctx, SysError};
use nix::unistd::{ForkResult, Pid};

/// Where a fork left us.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// fork(2).
///
/// Sound only while the process is single-threaded: the child gets a copy of
/// just the calling thread, so a lock held by another thread would stay locked
/// forever. hutch forks before it starts any thread (registry downloads finish
/// and join before anything forks), and the child only runs code that does not
/// depend on other threads. Callers must end the child with `child_exit`.
pub fn fork() -> Result<Forked, SysError> {
    // The unit-test harness runs each test on a thread of its own; the tests
    // that fork run a child that only does file system calls and `_exit`s,
    // never taking a lock another thread could hold.
    debug_assert!(
        cfg!(test) || single_threaded(),
        "fork() with more than one thread"
    );
    // SAFETY: see above; the process is single-threaded at every call site.
    match unsafe { nix::unistd::fork() }.ctx(|| "fork()".into())? {
        ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        ForkResult::Child => Ok(Forked::Child),
    }
}

/// End a forked child without running the parent's atexit handlers or flushing
/// stdio buffers it inherited (which would print the parent's output twice).
pub fn child_exit(code: i32) -> ! {
    // SAFETY: _exit only ends the process; it touches no Rust state.
    unsafe { libc::_exit(code) }
}

fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count() <= 1)
        .unwrap_or(true)
}
