//! The logger process of a container: this process's stdout and stderr are
//! pointed at pipes, and a forked process copies what arrives into the
//! container's log ([`super::logs::record`]) until every writer has closed
//! them. A detached supervisor logs only; a foreground `run`/`start -a`
//! also relays everything on to where stdout and stderr pointed before (the
//! terminal), as Docker keeps the log of an attached container too.
//!
//! It does not start containers; whoever does calls [`Logger::start`]
//! before and [`Logger::finish`] after.

use super::logs;
use crate::sys::process::{child_exit, close_fds_except, fork, Forked};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Why the logger or the detached supervisor could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// A system call, as `pipe2()` or `dup2(<log pipe>, 1)`.
    #[error("{call} => {err}")]
    Syscall {
        call: String,
        err: nix::errno::Errno,
    },
    #[error("cannot duplicate stdout/stderr: {0}")]
    Dup(std::io::Error),
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
}

/// A close-on-exec pipe.
pub(super) fn pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|err| SpawnError::Syscall {
        call: "pipe2()".into(),
        err,
    })
}

/// Which of stdout and stderr a foreground logger relays on (Docker's
/// `-a`); the log gets both either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relay {
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for Relay {
    fn default() -> Relay {
        Relay {
            stdout: true,
            stderr: true,
        }
    }
}

/// A running logger; fds 1 and 2 of this process point at its pipes.
pub struct Logger {
    pid: Pid,
    /// The stdout and stderr it relays to, restored by `finish`.
    saved: Option<(OwnedFd, OwnedFd)>,
}

impl Logger {
    /// Point fds 1 and 2 at pipes read by a new logger process writing
    /// `log` (if any) as `config` says; with `relay`, it also copies the
    /// streams it names to what fds 1 and 2 pointed at before.
    ///
    /// Must be called while single-threaded (it forks).
    pub fn start(
        log: Option<&Path>,
        config: &logs::Config,
        relay: Option<Relay>,
    ) -> Result<Logger, SpawnError> {
        let ((out_r, out_w), (err_r, err_w)) = (pipe()?, pipe()?);
        let saved = match relay {
            Some(_) => {
                let dup = |fd: BorrowedFd<'_>| fd.try_clone_to_owned().map_err(SpawnError::Dup);
                Some((
                    dup(std::io::stdout().as_fd())?,
                    dup(std::io::stderr().as_fd())?,
                ))
            }
            None => None,
        };
        match fork()? {
            Forked::Child => {
                drop((out_w, err_w));
                let mut keep = vec![out_r.as_raw_fd(), err_r.as_raw_fd()];
                if let Some((o, e)) = &saved {
                    keep.extend([o.as_raw_fd(), e.as_raw_fd()]);
                }
                // Ctrl-C and friends reach the whole foreground process
                // group: the logger outlives them to copy the last output.
                // Blocked SIGPIPE turns a closed reader into EPIPE.
                let mut hold = crate::sys::signal::forwarded();
                hold.add(nix::sys::signal::Signal::SIGPIPE);
                if close_fds_except(&keep).is_ok() && crate::sys::signal::block(&hold).is_ok() {
                    let r = relay.unwrap_or_default();
                    let targets = match saved {
                        Some((o, e)) => [r.stdout.then_some(o), r.stderr.then_some(e)],
                        None => [None, None],
                    };
                    let _ = logs::record(out_r, err_r, log, config, targets);
                }
                child_exit(0)
            }
            Forked::Parent(pid) => {
                drop((out_r, err_r));
                for (from, to) in [(&out_w, 1), (&err_w, 2)] {
                    nix::unistd::dup2(from.as_raw_fd(), to).map_err(|err| SpawnError::Syscall {
                        call: format!("dup2(<log pipe>, {to})"),
                        err,
                    })?;
                }
                Ok(Logger { pid, saved })
            }
        }
    }

    /// Stop writing to the log (fds 1 and 2 go back to what they were, or
    /// to /dev/null) and wait until the logger has written everything, so
    /// that a reader who sees the exit recorded sees all output.
    pub fn finish(self) {
        match &self.saved {
            Some((o, e)) => {
                let _ = nix::unistd::dup2(o.as_raw_fd(), 1);
                let _ = nix::unistd::dup2(e.as_raw_fd(), 2);
            }
            None => {
                if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
                    let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
                    let _ = nix::unistd::dup2(null.as_raw_fd(), 2);
                }
            }
        }
        let _ = waitpid(self.pid, None);
    }
}
