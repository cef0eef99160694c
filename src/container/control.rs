//! Acting on existing containers: signalling pid 1, resizing its terminal,
//! waiting for a container to end, and removing one. Every signal goes through a pidfd opened before
//! the process is checked against the record's pid + start time, so a pid
//! reused by an unrelated process is never signalled.
//!
//! It does not start containers (`launch` does).

use super::freeze;
use super::signals::Sig;
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

/// The file in a container's directory where [`resize`] leaves a window
/// size ("ROWS COLS") for its supervisor to take.
pub const WINDOW_SIZE_FILE: &str = "winsize";

/// Give the terminal of a container started with `-t` this size (its
/// processes get SIGWINCH), as Docker does when one attaches to it; false
/// when its supervisor cannot be told. The supervisor, which holds the
/// terminal's master end, sets it: the size is left in the container's
/// directory `dir` and the supervisor gets SIGWINCH. Nothing the container
/// controls is opened here (its descriptors may be served by a FUSE
/// server inside it, which could hang the caller), and nothing blocks.
pub fn resize(dir: &std::path::Path, rec: &Record, size: crate::sys::pty::WinSize) -> bool {
    let Some(fd) = rec.supervisor.and_then(open_checked) else {
        return false;
    };
    // Renamed into place, so the supervisor reads a whole size; not synced:
    // it is gone once read, and meaningless after a crash.
    let text = format!("{} {}\n", size.rows, size.cols);
    let written = tempfile::Builder::new()
        .prefix(".winsize.")
        .tempfile_in(dir)
        .and_then(|mut t| {
            std::io::Write::write_all(&mut t, text.as_bytes())?;
            t.persist(dir.join(WINDOW_SIZE_FILE)).map_err(|e| e.error)
        });
    written.is_ok() && pidfd_send_signal(fd.as_fd(), Signal::SIGWINCH as i32).is_ok()
}

/// Send `sig` to the container's pid 1; false when it is not running. A
/// paused container is resumed after the signal, so that it acts on it
/// (`stop` of a paused container stops it).
pub fn signal(rec: &Record, sig: impl Into<Sig>) -> Result<bool> {
    if !observe(rec).is_running() {
        return Ok(false);
    }
    let Some((init, fd)) = rec.init.and_then(|p| Some((p, open_checked(p)?))) else {
        return Ok(false);
    };
    pidfd_send_signal(fd.as_fd(), sig.into().number())?;
    if freeze::frozen(init) {
        // Gone meanwhile is what the signal was for.
        let _ = freeze::thaw(init);
    }
    Ok(true)
}

/// Note that the user stopped container `id` (`stop`, `kill`, `rm -f`), so
/// that its supervisor does not restart it whatever its restart policy;
/// done before the signal is sent.
pub fn mark_stopped(containers: &Containers, id: &str) -> Result<()> {
    containers
        .update(id, |r| r.stopped_by_user = true)
        .map(drop)
}

/// How a container's end was seen.
#[derive(Debug)]
pub enum Ended {
    /// Its exit is recorded (a lost supervisor's settled).
    Exited(Box<Record>),
    /// Its directory is gone (a `--rm` container, or a concurrent `rm`)
    /// and the supervisor that removed it has finished.
    Removed,
}

/// Wait until container `id` is no longer running, at most `timeout`; its
/// record then (lost supervisors settled), or None on timeout. A `--rm`
/// container that removed itself meanwhile gives its last record with the
/// exit code it left (see `exits`); NotFound when there is none.
pub fn wait(
    containers: &Containers,
    id: &str,
    timeout: Option<Duration>,
) -> Result<Option<Record>> {
    let rec = containers
        .read(id)
        .ok_or_else(|| Error::NotFound(id.to_string()))?;
    match end_after(containers, &rec, None, timeout)? {
        Some(Ended::Exited(r)) => Ok(Some(*r)),
        Some(Ended::Removed) => match super::exits::code(containers, id) {
            Some(code) => Ok(Some(Record {
                status: super::Status::Exited,
                exit_code: Some(code),
                ..rec
            })),
            None => Err(Error::NotFound(id.to_string())),
        },
        None => Ok(None),
    }
}

/// `wait --condition next-exit`: wait for the container's next exit, after
/// a start when it is not running now; its record then. NotFound when it is
/// removed meanwhile.
pub fn wait_next_exit(containers: &Containers, id: &str) -> Result<Record> {
    loop {
        let rec = containers
            .read(id)
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        if observe(&rec).is_running() {
            break;
        }
        std::thread::sleep(POLL);
    }
    wait(containers, id, None)?.ok_or_else(|| Error::NotFound(id.to_string()))
}

/// `wait --condition removed`: wait until the container's directory is
/// gone (removed by `rm`, or by itself with `--rm`), whatever starts and
/// stops happen meanwhile; its last recorded exit code (a `--rm`
/// container's from `exits`, None when that is gone too).
pub fn wait_removed(containers: &Containers, id: &str) -> Result<Option<i32>> {
    let mut last = containers
        .read(id)
        .ok_or_else(|| Error::NotFound(id.to_string()))?;
    loop {
        match end_after(containers, &last, None, None)? {
            Some(Ended::Exited(r)) => last = *r,
            Some(Ended::Removed) | None => {
                return Ok(last
                    .exit_code
                    .or_else(|| super::exits::code(containers, id)))
            }
        }
        // Ended but kept: until someone removes it, or it starts again.
        loop {
            std::thread::sleep(POLL);
            match containers.read(id) {
                None => return Ok(last.exit_code),
                Some(r) if observe(&r).is_running() => {
                    last = r;
                    break;
                }
                Some(_) => {}
            }
        }
    }
}

/// Docker's stop: `sig` to pid 1, SIGKILL once `grace` has passed, and
/// return when the container's end is recorded (or its directory is gone,
/// for `--rm`). A container still starting gets the signal as soon as its
/// pid 1 has exec'd; one that is not running is left alone.
pub fn stop(containers: &Containers, rec: &Record, sig: Sig, grace: Duration) -> Result<Ended> {
    if !rec.config.restart.is_empty() {
        match mark_stopped(containers, &rec.id) {
            // Gone already: a `--rm` container that ended.
            Ok(()) | Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(end) = end_after(containers, rec, Some(sig), Some(grace))? {
        return Ok(end);
    }
    let end = end_after(containers, rec, Some(Signal::SIGKILL.into()), None)?;
    end.ok_or_else(|| Error::Running(rec.name.clone()))
}

/// Send `sig` (if any) to the container's pid 1 once it has one, and wait
/// for its end, at most `timeout`; None on timeout.
///
/// Every state is read from the record as its supervisor writes it under
/// the container's lock: starting (no pid 1 yet), running, stopping (pid 1
/// gone, exit not yet written), exited; a record that vanishes belongs to a
/// container being removed, which has ended once the supervisor that last
/// owned it (the remover of a `--rm` container) is gone too.
fn end_after(
    containers: &Containers,
    seen: &Record,
    sig: Option<Sig>,
    timeout: Option<Duration>,
) -> Result<Option<Ended>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let mut supervisor = seen.supervisor;
    let mut sent = sig.is_none();
    loop {
        let Some(rec) = containers.read(&seen.id) else {
            if let Some(fd) = supervisor.and_then(open_checked) {
                if !pidfd_wait(fd.as_fd(), left())? {
                    return Ok(None);
                }
            }
            return Ok(Some(Ended::Removed));
        };
        if !observe(&rec).is_running() {
            return Ok(Some(Ended::Exited(Box::new(state::settle(
                containers, rec,
            )))));
        }
        supervisor = rec.supervisor;
        if let (false, Some(sig)) = (sent, sig) {
            // False while pid 1 is not there yet, or already gone.
            sent = signal(&rec, sig)?;
        }
        if left().is_some_and(|l| l.is_zero()) {
            return Ok(None);
        }
        match rec.supervisor.and_then(open_checked) {
            // Its supervisor writes the exit and then ends: its pidfd turning
            // readable is the moment to read the record again. Bounded, so
            // that a start (pid 1 appearing) or a restart is seen too.
            Some(fd) if rec.init.is_some() => {
                let step = left().map_or(STEP, |l| l.min(STEP));
                pidfd_wait(fd.as_fd(), Some(step))?;
            }
            _ => std::thread::sleep(POLL),
        }
    }
}

/// The longest wait on a supervisor before the record is read again.
const STEP: Duration = Duration::from_secs(1);
/// How often a record without a supervisor to wait on is read.
const POLL: Duration = Duration::from_millis(20);

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
    delete_locked(containers, &rec, lock)
}

/// `rm -f`: remove the container, killing it first if it is starting,
/// running or stopping. Whether it runs is decided under its lock, and
/// after the kill the lock is taken again, so a container that changes
/// state in between (a pid 1 that just exec'd, or just exited) is neither
/// refused nor left behind. A `--rm` container removes itself; that counts.
pub fn force_remove(containers: &Containers, seen: &Record) -> Result<()> {
    loop {
        let lock = match containers.lock(&seen.id) {
            Ok(l) => l,
            Err(Error::NotFound(_)) if seen.auto_remove => {
                return end_after(containers, seen, None, None).map(drop)
            }
            Err(e) => return Err(e),
        };
        // A `--rm` container's sandbox deletes its directory as pid 1 ends,
        // under this lock; one of an older hutch did without it, so its
        // record, or the temp file of the save below, can vanish while the
        // directory itself is still there. Gone, or going, is what `rm -f`
        // wanted; waiting for the remover to end makes sure nothing is left
        // behind.
        let Some(rec) = containers.read(&seen.id) else {
            if seen.auto_remove {
                drop(lock);
                return end_after(containers, seen, None, None).map(drop);
            }
            return Err(Error::NotFound(seen.id.clone()));
        };
        if !observe(&rec).is_running() {
            return delete_locked(containers, &rec, lock);
        }
        if !rec.stopped_by_user {
            match containers.save(&Record {
                stopped_by_user: true,
                ..rec.clone()
            }) {
                Ok(()) => {}
                Err(e) if rec.auto_remove && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        drop(lock);
        if let Some(Ended::Removed) =
            end_after(containers, &rec, Some(Signal::SIGKILL.into()), None)?
        {
            return Ok(());
        }
    }
}

/// Remove the directory of a container whose record cannot be read, found
/// and held by [`Containers::unreadable`] (`system check --repair`). Its
/// user namespace mode is unknown: the default mapping deletes what
/// subordinate ids own, as it does for most containers.
pub fn remove_unreadable(containers: &Containers, id: &str, lock: super::Locked) -> Result<()> {
    remove_dir(containers, id, UsernsRequest::default(), lock)
}

/// Delete what an interrupted removal left (see
/// [`Containers::interrupted_removals`]), under its flock (`system check
/// --repair`). As for an unreadable record, the mode its user namespace
/// had is unknown: the default mapping deletes what subordinate ids own.
pub fn finish_removal(dir: &std::path::Path, lock: crate::sys::flock::Held) -> Result<()> {
    let done = delete_tree(UsernsRequest::default(), dir);
    drop(lock);
    done
}

/// Rename the directory away under the held lock, then delete it.
fn delete_locked(containers: &Containers, rec: &Record, lock: super::Locked) -> Result<()> {
    let request: UsernsRequest = rec.config.userns.parse().unwrap_or_default();
    remove_dir(containers, &rec.id, request, lock)
}

/// The lock (the directory's flock) goes with the directory and is held
/// until the deletion ends: a process waiting for it finds the container
/// gone either way, and `system check` tells a removal under way from one
/// that was interrupted by it.
fn remove_dir(
    containers: &Containers,
    id: &str,
    request: UsernsRequest,
    lock: super::Locked,
) -> Result<()> {
    let doomed = super::removing(&containers.dir(id));
    fs_err::rename(containers.dir(id), &doomed)?;
    crate::fault::point("rm-renamed");
    crate::sandbox::cgroup::forget(id);
    let done = delete_tree(request, &doomed);
    drop(lock);
    done
}

fn delete_tree(request: UsernsRequest, dir: &std::path::Path) -> Result<()> {
    let src = IdSources::default();
    // Held open here: with keep-id the namespace's root may not traverse
    // the state dir's parents (see `userns::reach`).
    let at = crate::userns::Reach::new(dir)?;
    let via_userns = IdMapping::detect(request, &src).and_then(|m| {
        crate::userns::run_in_userns(&m, &src, || {
            std::fs::remove_dir_all(at.path())
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
