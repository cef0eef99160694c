//! Detaching from a foreground `run -it` (or `start -ai`) on a terminal,
//! as Docker's detach keys do, without a daemon to hand the container to.
//!
//! The process the shell waits on forks before the container starts
//! ([`split`]): the parent only waits, passing on the signals it gets
//! (the terminal's included: window size, hang-up), until the child either
//! exits (the parent exits with its code) or says it detached (the parent
//! exits 0). The child starts a session of its own at once, so that
//! nothing it starts (the network helper, the logger) is in the terminal's
//! session and gets its hang-up once the user has detached; it uses the
//! terminal through the descriptors it inherited, which needs no
//! controlling terminal. It runs the container as a foreground run does;
//! when the detach keys are typed, it becomes what a detached supervisor
//! is ([`Tell::become_supervisor`]): stdin from the container's FIFO,
//! stdout and stderr through a logger into the container's log. It is
//! already the supervisor the record names.
//!
//! It does not run containers or parse keys; `launch` and `sandbox::tty`
//! do.

use super::logger::{Logger, SpawnError};
use super::logs;
use crate::sys::process::{fork, pidfd_open, Forked};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

/// How the run ended for the process the shell waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The run ended with this exit code.
    Exited(i32),
    /// The user detached; the container runs on.
    Detached,
}

/// Which side of [`split`] this is.
pub enum Split {
    /// The waiting parent, once the child has exited or detached.
    Parent(Ended),
    /// The child, which runs the container.
    Child(Tell),
}

/// The child's line to its waiting parent.
pub struct Tell(OwnedFd);

/// The byte that says "detached".
const DETACHED: u8 = b'd';

/// Fork the process that runs the container; the parent returns only once
/// the child has exited or detached. Must be called while single-threaded.
pub fn split() -> Result<Split, SpawnError> {
    let (said_r, said_w) = super::logger::pipe()?;
    // Blocked before the fork, so no signal meant for the child is lost
    // (or kills the parent) before it waits; the child unblocks them.
    let set = crate::sys::signal::forwarded();
    let saved = crate::sys::signal::block(&set)?;
    match fork()? {
        Forked::Child => {
            drop(said_r);
            crate::sys::signal::set_mask(&saved)?;
            crate::sys::process::new_session()?;
            Ok(Split::Child(Tell(said_w)))
        }
        Forked::Parent(child) => {
            drop(said_w);
            Ok(Split::Parent(wait(child, said_r, &set)))
        }
    }
}

/// The parent's wait: the child's word or its exit, whichever comes first.
fn wait(child: Pid, said: OwnedFd, set: &nix::sys::signal::SigSet) -> Ended {
    let exited = |status| match status {
        Ok(WaitStatus::Exited(_, code)) => Ended::Exited(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Ended::Exited(128 + sig as i32),
        _ => Ended::Exited(crate::sandbox::error::EXIT_SETUP),
    };
    let (Ok(pidfd), Ok(signals)) = (
        pidfd_open(child.as_raw()),
        SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC),
    ) else {
        // Without them only the child's end is left to wait for.
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(set), None);
        return exited(waitpid(child, None));
    };
    let mut said_open = true;
    loop {
        let mut fds = vec![
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
        ];
        if said_open {
            fds.push(PollFd::new(said.as_fd(), PollFlags::POLLIN));
        }
        if let Err(e) = poll(&mut fds, PollTimeout::NONE) {
            if e == nix::errno::Errno::EINTR {
                continue;
            }
            return exited(waitpid(child, None));
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (gone, signalled, spoke) = (ready(0), ready(1), ready(2));
        drop(fds);
        if spoke {
            let mut b = [0u8; 1];
            match nix::unistd::read(said.as_raw_fd(), &mut b) {
                Ok(1) if b[0] == DETACHED => return Ended::Detached,
                _ => said_open = false,
            }
        }
        if gone {
            return exited(waitpid(child, None));
        }
        if signalled {
            if let Ok(Some(info)) = signals.read_signal() {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    let _ = nix::sys::signal::kill(child, sig);
                }
            }
        }
    }
}

impl Tell {
    /// The detach keys were typed (the terminal is restored): let go of the
    /// terminal and become the container's detached supervisor. `logger`,
    /// the foreground run's (which also relays to the terminal), is
    /// finished first; the new one writes `log` (None: the output is
    /// dropped) and is returned for the caller to finish once the
    /// container has exited. The container's stdin is its FIFO in `dir`.
    /// The parent is told last, so the shell prompt comes back after the
    /// last output of the attached run.
    ///
    /// Must be called while single-threaded (the new logger is forked).
    pub fn become_supervisor(
        self,
        logger: Option<Logger>,
        dir: &Path,
        log: Option<(&Path, &logs::Config)>,
    ) -> Option<Logger> {
        if let Some(l) = logger {
            l.finish();
        }
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .ok();
        let stdin = super::stdin::open_for_container(dir).ok();
        if let Some(fd) = stdin
            .as_ref()
            .map(AsRawFd::as_raw_fd)
            .or(null.as_ref().map(AsRawFd::as_raw_fd))
        {
            let _ = nix::unistd::dup2(fd, 0);
        }
        if let Some(n) = &null {
            for fd in [1, 2] {
                let _ = nix::unistd::dup2(n.as_raw_fd(), fd);
            }
        }
        // As a supervisor does: the caller's directory (a mount) is not
        // kept busy; every path hutch passes on is absolute.
        let _ = nix::unistd::chdir("/");
        let logger = log.and_then(|(path, config)| Logger::start(Some(path), config, None).ok());
        let _ = nix::unistd::write(&self.0, &[DETACHED]);
        logger
    }
}
