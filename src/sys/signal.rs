//! Signal masks and dispositions around the sandbox: which signals the parent
//! holds back to forward, and resetting everything before exec.
//!
//! It does not decide what to forward; `sandbox` does.

use super::{Ctx, SysError};
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal};

/// The signals a container launcher forwards to its container (Docker's
/// sig-proxy set), plus SIGWINCH, which it handles itself with a terminal.
pub fn forwarded() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        s.add(sig);
    }
    s
}

/// Block `set`, returning the previous mask.
pub fn block(set: &SigSet) -> Result<SigSet, SysError> {
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(set), Some(&mut old))
        .ctx(|| "sigprocmask(SIG_BLOCK)".into())?;
    Ok(old)
}

/// Unblock `set`.
pub fn unblock(set: &SigSet) -> Result<(), SysError> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(set), None)
        .ctx(|| "sigprocmask(SIG_UNBLOCK)".into())
}

/// Install `mask` as the signal mask.
pub fn set_mask(mask: &SigSet) -> Result<(), SysError> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(mask), None)
        .ctx(|| "sigprocmask(SIG_SETMASK)".into())
}

/// SIGINT, SIGTERM and SIGHUP held back while this lives, for a change
/// that must not stop half-way; dropping it puts the mask back, and a
/// signal that came meanwhile is delivered then.
pub struct Deferred(SigSet);

/// Hold back SIGINT, SIGTERM and SIGHUP (see [`Deferred`]). The process
/// must be single-threaded: the mask is the calling thread's.
pub fn defer_termination() -> Result<Deferred, SysError> {
    let mut set = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(sig);
    }
    block(&set).map(Deferred)
}

impl Drop for Deferred {
    fn drop(&mut self) {
        let _ = set_mask(&self.0);
    }
}

/// Put every catchable signal back to SIG_DFL before exec.
///
/// execve(2) resets handled signals but keeps ignored ones ignored; hutch
/// ignores SIGPIPE (`entry::prepare`), and a container must not inherit that.
pub fn reset_dispositions() -> Result<(), SysError> {
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing SIG_DFL runs no code of ours in signal context.
        unsafe { nix::sys::signal::signal(sig, SigHandler::SigDfl) }
            .ctx(|| format!("signal({sig}, SIG_DFL)"))?;
    }
    Ok(())
}

/// Ask for SIGKILL when the parent dies (prctl(2), PR_SET_PDEATHSIG).
pub fn kill_with_parent() -> Result<(), SysError> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .ctx(|| "prctl(PR_SET_PDEATHSIG, SIGKILL)".into())
}

/// Clear the parent-death signal (prctl(2), PR_SET_PDEATHSIG, 0): a process
/// that was to die with its parent lives on alone from now.
pub fn live_on_without_parent() -> Result<(), SysError> {
    nix::sys::prctl::set_pdeathsig(None::<Signal>).ctx(|| "prctl(PR_SET_PDEATHSIG, 0)".into())
}

/// prctl(PR_SET_NO_NEW_PRIVS, 1): execve can no longer grant privileges
/// (setuid bits, file capabilities). bubblewrap sets it unconditionally.
pub fn no_new_privs() -> Result<(), SysError> {
    nix::sys::prctl::set_no_new_privs().ctx(|| "prctl(PR_SET_NO_NEW_PRIVS, 1)".into())
}

/// Whether the kernel sent this signal (siginfo.h's SI_KERNEL), as a
/// terminal's are (window size, Ctrl-C, hang-up): they go to its whole
/// foreground process group, so a process that forwards signals must not
/// pass them on a second time.
pub fn sent_by_kernel(info: &nix::libc::signalfd_siginfo) -> bool {
    info.ssi_code == 0x80
}
