//! Acting on existing containers: signalling pid 1, waiting for a container
//! to end, and removing one. Every signal goes through a pidfd opened before
//! the process is checked against the record's pid + start time, so a pid
//! reused by an unrelated process is never signalled.
//!
//! It does not start containers (`cli::launch` does).

use super::state::{self, observe};
use super::{Containers, Error, ProcId, Record, Result};
use crate::sys::process::{pidfd_open, pidfd_send_signal, pidfd_wait};
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use nix::sys::signal::Signal;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// A pidfd for `p` if it is still that very process.
fn open_checked(p: ProcId) -> Option<OwnedFd> {
    let fd = pidfd_open(p.pid).ok()?;
    // Checked after opening: the pidfd pins the process we then compare.
    p.alive().then_some(fd)
}

/// Send `sig` to the container's pid 1; false when it is not running.
pub fn signal(rec: &Record, sig: Signal) -> Result<bool> {
    if !observe(rec).is_running() {
        return Ok(false);
    }
    let Some(fd) = rec.init.and_then(open_checked) else {
        return Ok(false);
    };
    pidfd_send_signal(fd.as_fd(), sig)?;
    Ok(true)
}

/// Wait until container `id` is no longer running, at most `timeout`; its
/// record then (lost supervisors settled), or None on timeout.
pub fn wait(
    containers: &Containers,
    id: &str,
    timeout: Option<Duration>,
) -> Result<Option<Record>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let rec = containers
            .read(id)
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        if !observe(&rec).is_running() {
            return Ok(Some(state::settle(containers, rec)));
        }
        let left = match deadline {
            Some(d) if Instant::now() >= d => return Ok(None),
            Some(d) => Some(d - Instant::now()),
            None => None,
        };
        // The supervisor writes the exit and then ends: its pidfd turning
        // readable is the moment to read the record again.
        match rec.supervisor.and_then(open_checked) {
            Some(fd) => {
                // Bounded, so a record changed by a restart is seen too.
                let step = left.map_or(Duration::from_secs(1), |l| l.min(Duration::from_secs(1)));
                pidfd_wait(fd.as_fd(), Some(step))?;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Remove a container that is not running: under its lock the directory is
/// renamed away (so it vanishes from listings at once), then deleted from
/// inside a user namespace with the container's mapping, where files owned
/// by subordinate ids can be deleted too.
pub fn remove(containers: &Containers, id: &str) -> Result<()> {
    let lock = containers.lock(id)?;
    let rec = containers
        .read(id)
        .ok_or_else(|| Error::NotFound(id.to_string()))?;
    if observe(&rec).is_running() {
        return Err(Error::Running(rec.name));
    }
    let doomed = containers.root.join(format!(".removing-{id}"));
    fs_err::rename(containers.dir(id), &doomed)?;
    drop(lock);
    delete_tree(&rec, &doomed)
}

fn delete_tree(rec: &Record, dir: &std::path::Path) -> Result<()> {
    let request: UsernsRequest = rec.config.userns.parse().unwrap_or_default();
    let src = IdSources::default();
    let via_userns = IdMapping::detect(request, &src).and_then(|m| {
        crate::userns::run_in_userns(&m, &src, || {
            std::fs::remove_dir_all(dir)
                .map_err(|e| format!("cannot remove {}: {e}", dir.display()))
        })
    });
    match via_userns {
        Ok(()) => Ok(()),
        // Without a usable mapping, whatever this user owns can still go.
        Err(msg) => std::fs::remove_dir_all(dir)
            .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("{msg}; {e}")))),
    }
}

/// A signal by name (`TERM`, `SIGTERM`, any case) or number.
pub fn parse_signal(s: &str) -> std::result::Result<Signal, String> {
    let bad = || format!("invalid signal '{s}': use a name such as TERM or KILL, or a number");
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let full = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    full.parse::<Signal>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("TERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("2"), Ok(Signal::SIGINT));
        assert!(parse_signal("NOPE").unwrap_err().contains("NOPE"));
        assert!(parse_signal("999").is_err());
    }
}
