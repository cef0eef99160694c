//! Preparing a helper program's start (pasta, slirp4netns): which inherited
//! file descriptors it gets at which numbers, the signal it receives when
//! the thread that started it dies, and a process group of its own (the
//! terminal's signals, a detached run's hang-up above all, are not its).
//!
//! The setup runs in the forked child between fork and exec, so it makes only
//! async-signal-safe calls (prctl, getppid, sigprocmask, fcntl, dup2, setpgid). It decides nothing
//! about which helper runs or with what arguments: that is `net`'s job.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Descriptors are first moved up here so that placing one at its target
/// number can never overwrite another that is still to be placed.
const SCRATCH_FD_FLOOR: RawFd = 100;

/// More than slirp4netns's two pipes is never needed.
const MAX_FDS: usize = 8;

/// Arrange for `cmd`'s child to get SIGKILL when the thread that spawns it
/// exits (including when the whole process is SIGKILLed), and to find each
/// `(fd, number)` of `fds` open at `number`, without close-on-exec.
///
/// prctl(2) says the parent-death signal follows the *thread* that created the
/// child, so `cmd` must be spawned from a thread that lives as long as the
/// helper should. The descriptors stay open in the parent until `cmd` is
/// dropped; drop it right after spawning so that pipe ends are not held twice.
pub fn helper_child_setup(cmd: &mut Command, fds: Vec<(OwnedFd, RawFd)>) -> io::Result<()> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a helper can be given at most {MAX_FDS} descriptors"),
        ));
    }
    if let Some((_, n)) = fds.iter().find(|(_, n)| *n < 3 || *n >= SCRATCH_FD_FLOOR) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor number {n} for a helper must be between 3 and 99"),
        ));
    }
    // Out of the terminal's process group: a helper outlives a run that
    // detached from it, and the terminal's hang-up (sent to its foreground
    // process group) must not end it; it still dies with its parent.
    cmd.process_group(0);
    let parent = std::process::id() as libc::pid_t;
    let mut empty = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole set it is given.
    let empty = unsafe {
        libc::sigemptyset(empty.as_mut_ptr());
        empty.assume_init()
    };
    // SAFETY: the closure runs in the child after fork and before exec. It
    // calls only async-signal-safe functions (prctl, getppid, sigprocmask,
    // fcntl, dup2),
    // allocates nothing and takes no locks; the descriptors it reads are owned
    // by the closure and therefore open for as long as `cmd` exists.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // If the parent died before prctl took effect the signal will
            // never come (prctl(2)); refuse to start an unsupervised helper.
            if libc::getppid() != parent {
                return Err(io::Error::other("parent exited while starting a helper"));
            }
            // The mask survives exec, and the spawning thread blocks the
            // signals it forwards to a container: unblocked, SIGTERM ends the
            // helper and pasta's own SIGCHLD/SIGUSR1 use works.
            if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            // A fixed array: nothing may allocate between fork and exec.
            let mut scratch = [0 as RawFd; MAX_FDS];
            for (i, (fd, _)) in fds.iter().enumerate() {
                let r = libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, SCRATCH_FD_FLOOR);
                if r < 0 {
                    return Err(io::Error::last_os_error());
                }
                scratch[i] = r;
            }
            // dup2 leaves the new descriptor without FD_CLOEXEC, so the helper
            // keeps it across exec; the scratch copies close on exec.
            for (i, (_, target)) in fds.iter().enumerate() {
                if libc::dup2(scratch[i], *target) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    Ok(())
}

/// A command running this very binary (`/proc/self/exe`, which still works
/// when the file was replaced since) as `hutch SUBCOMMAND`, for hutch's own
/// helper processes: empty environment, working directory `/`, stdin from
/// /dev/null.
pub fn this_binary(subcommand: &str) -> Command {
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0("hutch")
        .arg(subcommand)
        .env_clear()
        .current_dir("/")
        .stdin(std::process::Stdio::null());
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};

    #[test]
    fn helper_starts_with_no_signal_blocked() {
        // Blocked in this thread only, as hutch blocks what it forwards.
        let mut term = SigSet::empty();
        term.add(Signal::SIGTERM);
        let mut old = SigSet::empty();
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&term), Some(&mut old))
            .unwrap();
        let mut cmd = Command::new("grep");
        cmd.args(["^SigBlk", "/proc/self/status"]);
        helper_child_setup(&mut cmd, Vec::new()).unwrap();
        let out = cmd.output();
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None).unwrap();
        let text = String::from_utf8(out.unwrap().stdout).unwrap();
        assert_eq!(text.trim(), "SigBlk:\t0000000000000000", "{text}");
    }
}
