//! Detaching from a foreground `run -it` (or `start -ai`) on a terminal,
//! as Docker's detach keys do, without a daemon to hand the container to.
//!
//! The process the shell waits on forks before the container starts
//! ([`split`]): the parent only waits, passing on the signals it gets
//! (the terminal's included: window size, hang-up), until the child either
//! exits (the parent exits with its code) or says it detached (the parent
//! exits 0). Until the keys are typed the child stays in the parent's
//! session and process group, so job control works on the run as on any
//! command: a backgrounded run is stopped (SIGTTOU) when it would put the
//! terminal in raw mode, and ctrl-z stops both. The helpers that must
//! outlive a hang-up once the user has detached (the network helper, the
//! FUSE server, the health monitor, the port forwarder, the container's
//! init) leave the terminal's process group themselves. The child dies
//! with the parent (PR_SET_PDEATHSIG), taking the container with it, and
//! the parent puts the terminal's modes back whenever the child exits, so
//! a SIGKILL of either leaves no raw terminal and no container writing to
//! it. It runs the container as a foreground run does; when the detach
//! keys are typed, it becomes what a detached supervisor is
//! ([`Tell::become_supervisor`]): a session of its own, stdin from the
//! container's FIFO, stdout and stderr through a logger into the
//! container's log. It is already the supervisor the record names.
//!
//! It does not run containers or parse keys; `launch` and `sandbox::tty`
//! do.

use super::logger::{Logger, SpawnError};
use super::logs;
use crate::sys::process::{fork, pidfd_open, Forked};
use crate::sys::stdio;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
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

/// The byte that says "detaching": the child has a session of its own and
/// no longer wants the signals the parent gets (a hang-up that follows the
/// keys is the terminal's, not the container's).
const DETACHING: u8 = b'D';

/// The byte that says "detached": the attached run's output is all out.
const DETACHED: u8 = b'd';

/// Fork the process that runs the container; the parent returns only once
/// the child has exited or detached. Must be called while single-threaded.
pub fn split() -> Result<Split, SpawnError> {
    let (said_r, said_w) = super::logger::pipe()?;
    // Blocked before the fork, so no signal meant for the child is lost
    // (or kills the parent) before it waits; the child unblocks them.
    let set = crate::sys::signal::forwarded();
    let saved = crate::sys::signal::block(&set)?;
    // Read before the child can make the terminal raw: what the parent puts
    // back should the child die without doing so.
    let modes = termios::tcgetattr(std::io::stdin()).ok();
    let parent = nix::unistd::getpid();
    match fork()? {
        Forked::Child => {
            drop(said_r);
            crate::sys::signal::set_mask(&saved)?;
            // The container must not outlive the run the shell waits on
            // unless the user detached; the check closes the race with a
            // parent that died before the prctl.
            crate::sys::signal::kill_with_parent()?;
            if nix::unistd::getppid() != parent {
                crate::sys::process::child_exit(crate::sandbox::error::EXIT_SETUP);
            }
            Ok(Split::Child(Tell(said_w)))
        }
        Forked::Parent(child) => {
            drop(said_w);
            let ended = wait(child, said_r, &set);
            if let (Ended::Exited(_), Some(modes)) = (ended, modes) {
                restore(&modes);
            }
            Ok(Split::Parent(ended))
        }
    }
}

/// Put the terminal's modes from before the run back if they changed (a
/// child killed in raw mode): compared first, so a run that ended while in
/// the background, its modes already restored, does not touch the terminal
/// (and is not stopped for it) while another job has it.
fn restore(modes: &Termios) {
    let stdin = std::io::stdin();
    let same = |now: &Termios| {
        now.input_flags == modes.input_flags
            && now.output_flags == modes.output_flags
            && now.control_flags == modes.control_flags
            && now.local_flags == modes.local_flags
            && now.control_chars == modes.control_chars
    };
    if termios::tcgetattr(&stdin).is_ok_and(|now| !same(&now)) {
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, modes);
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
        let _ = crate::sys::signal::unblock(set);
        return exited(waitpid(child, None));
    };
    let mut said_open = true;
    let mut forwarding = true;
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
                Ok(1) if b[0] == DETACHING => forwarding = false,
                _ => said_open = false,
            }
        }
        if gone {
            return exited(waitpid(child, None));
        }
        if signalled {
            if let Ok(Some(info)) = signals.read_signal() {
                let sig = Signal::try_from(info.ssi_signo as i32);
                if let (Ok(sig), true) = (
                    sig,
                    forwarding && !crate::sys::signal::sent_by_kernel(&info),
                ) {
                    let _ = nix::sys::signal::kill(child, sig);
                }
            }
        }
    }
}

impl Tell {
    /// The detach keys were typed (the terminal is restored): let go of the
    /// terminal and become the container's detached supervisor: a session
    /// of its own first (this process is not a group leader, the parent
    /// is), so nothing the terminal sends reaches it any more, and no
    /// death signal from the parent, which is told it may stop passing
    /// signals on. The new session has no controlling terminal and never
    /// gets one: nothing here opens a terminal. `logger`,
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
        let _ = crate::sys::process::new_session();
        let _ = crate::sys::signal::live_on_without_parent();
        let _ = nix::unistd::write(&self.0, &[DETACHING]);
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
            .map(AsFd::as_fd)
            .or(null.as_ref().map(AsFd::as_fd))
        {
            let _ = stdio::point(fd, 0);
        }
        if let Some(n) = &null {
            for fd in [1, 2] {
                let _ = stdio::point(n.as_fd(), fd);
            }
        }
        // As a supervisor does; every path hutch passes on is absolute.
        let _ = stdio::leave_directory();
        let logger = log.and_then(|(path, config)| Logger::start(Some(path), config, None).ok());
        let _ = nix::unistd::write(&self.0, &[DETACHED]);
        logger
    }
}
