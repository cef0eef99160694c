//! `--init`: pid 1 stays hutch (forked, not re-executed) and does what an init
//! must in a pid namespace: reap every orphan that is reparented to it and
//! forward the signals it gets to the command, then exit with the command's
//! status (128+N when the command was killed by signal N).
//!
//! Without it the command itself is pid 1, and — as in Docker — signals it
//! has no handler for are ignored (pid_namespaces(7)).

use crate::sys::process::child_exit;
use crate::sys::signal::forwarded;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Run the init loop for the command `main`; never returns.
///
/// The forwarded signals and SIGCHLD must already be blocked (see
/// [`signals`]), so nothing is lost between fork and the first sigwait(3).
pub fn reap(main: Pid) -> ! {
    let set = signals();
    loop {
        match set.wait() {
            Ok(Signal::SIGCHLD) => loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == main => child_exit(code),
                    Ok(WaitStatus::Signaled(pid, sig, _)) if pid == main => {
                        child_exit(128 + sig as i32)
                    }
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => {}
                }
            },
            // The terminal signals the foreground process group itself.
            Ok(Signal::SIGWINCH) => {}
            Ok(sig) => {
                let _ = nix::sys::signal::kill(main, sig);
            }
            Err(_) => {}
        }
    }
}

/// Show up as `hutch-init` in ps and /proc/1/comm.
pub fn name_self() {
    let _ = nix::sys::prctl::set_name(c"hutch-init");
}

/// What the init waits for: the forwarded signals and SIGCHLD.
pub fn signals() -> SigSet {
    let mut set = forwarded();
    set.add(Signal::SIGCHLD);
    set
}
