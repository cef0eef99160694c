//! The per-container supervisor of a detached container (`hutch run -d`,
//! `hutch start`), in conmon's shape but without a daemon: the caller forks,
//! the child calls setsid(2) and forks again (so the supervisor is nobody's
//! child and has no terminal), and the grandchild becomes the supervisor. It
//! points stdin at /dev/null (a body may put the container's stdin FIFO
//! there, see [`super::stdin`]), hands stdout and stderr to a logger process
//! ([`super::logger`]) that writes [`super::logs`], closes every descriptor it
//! inherited but those the caller names, and runs the caller's body, which
//! starts the sandbox (whose pid 1 is the supervisor's child) and records
//! the exit.
//!
//! The caller waits only until the body says the container started (or
//! why it did not), so `run -d` reports start failures like `run` does and
//! then returns at once.
//!
//! This module does not build sandboxes or write records; the body does.

use super::logger::{Logger, SpawnError};
use crate::sys::process::{child_exit, close_fds_except, fork, Forked};
use nix::sys::wait::waitpid;
use std::io::{BufRead, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// What the detached body reported to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// pid 1 runs.
    Started,
    /// It could not start: exit code and message.
    Failed(i32, String),
}

/// The supervisor's side: tell the caller how the start went, and close the
/// log before the exit is recorded.
pub struct Supervision {
    ready: Option<OwnedFd>,
    logger: Option<Logger>,
}

impl Supervision {
    /// pid 1 runs: the caller may return.
    pub fn started(&mut self) {
        self.send("started\n");
    }

    /// The container did not start.
    pub fn failed(&mut self, code: i32, message: &str) {
        let one_line = message.replace('\n', " ");
        self.send(&format!("failed {code} {one_line}\n"));
    }

    fn send(&mut self, msg: &str) {
        if let Some(fd) = self.ready.take() {
            let mut f = std::fs::File::from(fd);
            // The caller may have been killed; the container runs anyway.
            let _ = f.write_all(msg.as_bytes());
        }
    }

    /// Stop writing to the log and wait until the logger has written
    /// everything, so that a reader who sees the exit recorded sees all output.
    pub fn close_log(&mut self) {
        if let Some(logger) = self.logger.take() {
            logger.finish();
        }
    }
}

/// Run `body` in a new detached supervisor that logs to `log` (with its
/// log driver; None: output is dropped); return once
/// the body has called `started` or `failed` (or ended without either).
/// `keep` are descriptors the body uses (a joined container's namespaces),
/// as numbers, so that the body may own (and close) what holds them; every
/// other inherited one is closed.
///
/// Must be called while single-threaded (it forks).
pub fn detach(
    log: Option<(&Path, &super::logs::Config)>,
    keep: &[RawFd],
    body: impl FnOnce(&mut Supervision),
) -> Result<Outcome, SpawnError> {
    let (ready_r, ready_w) = super::logger::pipe()?;
    match fork()? {
        Forked::Child => {
            drop(ready_r);
            // The intermediate child only makes the supervisor an orphan in
            // a session of its own, then exits.
            if crate::sys::process::new_session().is_err() {
                child_exit(1);
            }
            match fork() {
                Ok(Forked::Child) => {}
                _ => child_exit(0),
            }
            supervise(log, ready_w, keep, body);
            child_exit(0)
        }
        Forked::Parent(mid) => {
            drop(ready_w);
            let _ = waitpid(mid, None);
            let mut line = String::new();
            let _ = std::io::BufReader::new(std::fs::File::from(ready_r)).read_line(&mut line);
            Ok(parse_outcome(&line))
        }
    }
}

fn parse_outcome(line: &str) -> Outcome {
    let line = line.trim_end();
    if line == "started" {
        return Outcome::Started;
    }
    let failed = line.strip_prefix("failed ").and_then(|rest| {
        let (code, msg) = rest.split_once(' ').unwrap_or((rest, ""));
        Some(Outcome::Failed(code.parse().ok()?, msg.to_string()))
    });
    failed.unwrap_or_else(|| {
        Outcome::Failed(
            crate::sandbox::error::EXIT_SETUP,
            "the container's supervisor ended before the container started (see its log with `hutch logs`)"
                .into(),
        )
    })
}

/// The grandchild: stdio, logger, then the body.
fn supervise(
    log: Option<(&Path, &super::logs::Config)>,
    ready: OwnedFd,
    keep: &[RawFd],
    body: impl FnOnce(&mut Supervision),
) {
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    for fd in 0..3 {
        let _ = crate::sys::stdio::point(null.as_fd(), fd);
    }
    drop(null);
    // Like any daemon. Every path hutch passes on is absolute.
    let _ = crate::sys::stdio::leave_directory();
    let logger = match log {
        Some((path, config)) => match Logger::start(Some(path), config, None) {
            Ok(l) => Some(l),
            Err(_) => return,
        },
        None => None,
    };
    let mut keep = keep.to_vec();
    keep.push(ready.as_raw_fd());
    if close_fds_except(&keep).is_err() {
        return;
    }
    let mut s = Supervision {
        ready: Some(ready),
        logger,
    };
    body(&mut s);
    s.close_log();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_parse() {
        assert_eq!(parse_outcome("started\n"), Outcome::Started);
        assert_eq!(
            parse_outcome("failed 127 exec: not found\n"),
            Outcome::Failed(127, "exec: not found".into())
        );
        assert!(matches!(parse_outcome(""), Outcome::Failed(125, _)));
    }
}
