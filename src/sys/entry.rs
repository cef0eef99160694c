//! What the process needs before `cli::main` runs, set up by hutch's own
//! entry point (src/main.rs) in place of std's runtime. std's set-up also
//! finds the main thread's stack bounds for its stack-overflow message,
//! which glibc's `pthread_getattr_np` does by reading and parsing the whole
//! of /proc/self/maps, and maps an alternate signal stack: about 0.2 ms of
//! CPU at every exec where that was measured (bench/README.md), in a
//! command whose own work at start-up is a few milliseconds. The price is
//! that a stack overflow kills hutch with a bare SIGSEGV, without std's
//! one-line message.
//!
//! Only the parts of std's set-up that hutch relies on live here; this
//! runs at every exec of hutch, and must not grow.

use super::SysError;
use nix::sys::signal::{SigHandler, Signal};

/// Reopen on /dev/null each of fds 0-2 that is closed, so that no file
/// hutch opens later becomes its stdin, stdout or stderr; then ignore
/// SIGPIPE, so that writing to a closed pipe is an EPIPE error hutch
/// reports or ignores rather than its death (what std's runtime arranges
/// for every Rust program, and what processes hutch starts have undone:
/// `signal::reset_dispositions`, and std's `Command`).
pub fn prepare() -> Result<(), SysError> {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes the three entries of `fds` and no more
    // (it is given their number); a closed descriptor is reported in
    // `revents`, not touched.
    let closed = match unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } {
        // Out of memory or descriptors for poll itself: ask each.
        -1 => [0, 1, 2].map(|fd| nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_err()),
        _ => fds.map(|p| p.revents & libc::POLLNVAL != 0),
    };
    // In ascending order each open gets the lowest free descriptor, which
    // is the closed one being filled; it stays open for good.
    for fd in (0..3).filter(|&fd| closed[fd]) {
        nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDWR,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| SysError::new(format!("open(/dev/null) for closed fd {fd}"), e))?;
    }
    // SAFETY: SIG_IGN runs no code of ours in signal context.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) }
        .map_err(|e| SysError::new("signal(SIGPIPE, SIG_IGN)", e))?;
    Ok(())
}
