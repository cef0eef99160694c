//! `pause` / `unpause`. A container with a cgroup of its own (where one is
//! delegated to the user) is frozen with the cgroup v2 freezer, as Docker
//! does, which nothing inside can see. Without one (its processes share the
//! cgroup of the user who started them) every process of the container's
//! pid namespace, and of the pid namespaces the container made inside it
//! (`unshare -p` with CAP_SYS_ADMIN, at any depth: NS_GET_PARENT leads up
//! to the container's), gets SIGSTOP, and SIGCONT to resume. That is
//! visible inside, unlike the freezer: a parent waiting with WUNTRACED sees
//! its children stop, and unpausing also continues a process that
//! something in the container had stopped itself.
//!
//! Pid 1 is stopped too: SIGSTOP from an ancestor namespace reaches a
//! namespace's init, the container's and those nested in it. A container
//! is paused exactly while its pid 1 is stopped, so the state needs no
//! record field that could go stale. Every signal goes through a pidfd
//! opened before the process's namespace was checked, so a pid reused
//! meanwhile (by a host process of the user, say) is never signalled.
//!
//! It does not decide whether a container runs (`state` does).

use super::ProcId;
use crate::sandbox::cgroup;
use crate::sys::process::{pidfd_open, pidfd_send_signal, pidns_within};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

/// Why a container could not be paused.
#[derive(Debug, thiserror::Error)]
pub enum FreezeError {
    #[error("cannot read the pid namespace of process {0}: {1}")]
    Namespace(i32, std::io::Error),
    #[error("cannot list /proc: {0}")]
    Proc(std::io::Error),
    #[error("cannot stop process {0}: {1}")]
    Signal(i32, nix::Error),
    #[error("process {0}, the container's pid 1, is gone")]
    Gone(i32),
    #[error("the container keeps starting processes; cannot pause it")]
    Busy,
    #[error("process {0} shares hutch's own pid namespace: it is not a container's pid 1")]
    NotIsolated(i32),
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupError),
}

/// How many passes over /proc catch the processes forked meanwhile.
const PASSES: usize = 16;

/// A container's pid 1, held: a pidfd for it and its pid namespace's
/// (device, inode), both taken while it was still the process `init` names.
struct Held {
    init: OwnedFd,
    pidns: (u64, u64),
}

/// Hold the container whose pid 1 is `init`; refused for a pid 1 that is
/// gone (its pid may name another process by now) or that shares hutch's
/// own pid namespace (stopping that would stop hutch's caller too).
fn hold(init: ProcId) -> Result<Held, FreezeError> {
    let fd = pidfd_open(init.pid).map_err(|e| match e.errno {
        nix::Error::ESRCH => FreezeError::Gone(init.pid),
        errno => FreezeError::Signal(init.pid, errno),
    })?;
    let ns = std::fs::metadata(format!("/proc/{}/ns/pid", init.pid))
        .map_err(|e| FreezeError::Namespace(init.pid, e))?;
    // Checked after both were opened: a pid reused before is caught.
    if !init.alive() {
        return Err(FreezeError::Gone(init.pid));
    }
    let own = std::fs::metadata("/proc/self/ns/pid")
        .map_err(|e| FreezeError::Namespace(std::process::id() as i32, e))?;
    if (own.dev(), own.ino()) == (ns.dev(), ns.ino()) {
        return Err(FreezeError::NotIsolated(init.pid));
    }
    Ok(Held {
        init: fd,
        pidns: (ns.dev(), ns.ino()),
    })
}

/// The processes in the held pid namespace or one nested in it, except
/// those in `seen`, each with a pidfd opened before its namespace was
/// checked.
fn others(held: &Held, seen: &[Pid]) -> Result<Vec<(Pid, OwnedFd)>, FreezeError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc")
        .map_err(FreezeError::Proc)?
        .flatten()
    {
        let Some(n) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let pid = Pid::from_raw(n);
        if seen.contains(&pid) {
            continue;
        }
        // A process gone meanwhile, or one hutch may not look at (another
        // user's), is not the container's.
        let Ok(fd) = pidfd_open(n) else { continue };
        if pidns_within(n, held.pidns).unwrap_or(false) {
            out.push((pid, fd));
        }
    }
    Ok(out)
}

/// Freeze the container whose pid 1 is `init`: its cgroup when it has one,
/// else its processes one by one.
pub fn freeze(init: ProcId) -> Result<(), FreezeError> {
    match own_cgroup(init) {
        Some(dir) => cgroup::freeze(&dir, true).map_err(FreezeError::from),
        None => stop_all(init),
    }
}

/// The container's own cgroup, for a live `init` only (a reused pid's
/// cgroup is never touched).
fn own_cgroup(init: ProcId) -> Option<std::path::PathBuf> {
    cgroup::of_container(init.pid).filter(|_| init.alive())
}

/// Stop every process in the pid namespace of `init`, pid 1 first (so it
/// forks no more), then passes over /proc until one finds nothing new. On
/// failure what was stopped is continued again.
fn stop_all(init: ProcId) -> Result<(), FreezeError> {
    let held = hold(init)?;
    let first = Pid::from_raw(init.pid);
    // Checked before anything is stopped.
    others(&held, &[first])?;
    pidfd_send_signal(held.init.as_fd(), Signal::SIGSTOP as i32)
        .map_err(|e| FreezeError::Signal(init.pid, e.errno))?;
    let mut seen = vec![first];
    let mut stopped: Vec<OwnedFd> = Vec::new();
    for _ in 0..PASSES {
        let new = match others(&held, &seen) {
            Ok(n) => n,
            Err(e) => {
                thaw_fds(&stopped);
                continue_fd(&held.init);
                return Err(e);
            }
        };
        if new.is_empty() {
            return Ok(());
        }
        for (pid, fd) in new {
            seen.push(pid);
            // Gone meanwhile: nothing to stop.
            if pidfd_send_signal(fd.as_fd(), Signal::SIGSTOP as i32).is_ok() {
                stopped.push(fd);
            }
        }
    }
    thaw_fds(&stopped);
    continue_fd(&held.init);
    Err(FreezeError::Busy)
}

/// Continue every process in the pid namespace of `init` (whoever stopped
/// them: a later `hutch exec` may have added some), pid 1 last, so that it
/// finds its children running.
pub fn thaw(init: ProcId) -> Result<(), FreezeError> {
    if let Some(dir) = own_cgroup(init) {
        cgroup::freeze(&dir, false)?;
    }
    let held = hold(init)?;
    let all: Vec<OwnedFd> = others(&held, &[Pid::from_raw(init.pid)])?
        .into_iter()
        .map(|(_, fd)| fd)
        .collect();
    thaw_fds(&all);
    continue_fd(&held.init);
    Ok(())
}

/// SIGCONT through `fds`, the last first (the reverse of the order they
/// were stopped in).
fn thaw_fds(fds: &[OwnedFd]) {
    for fd in fds.iter().rev() {
        continue_fd(fd);
    }
}

fn continue_fd(fd: &OwnedFd) {
    let _ = pidfd_send_signal(fd.as_fd(), Signal::SIGCONT as i32);
}

/// Whether the container whose pid 1 is `init` is paused.
pub fn frozen(init: ProcId) -> bool {
    match own_cgroup(init) {
        Some(dir) => {
            std::fs::read_to_string(dir.join("cgroup.freeze")).is_ok_and(|t| t.trim() == "1")
        }
        None => init.stopped(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_in_hutchs_own_pid_namespace_is_never_frozen() {
        let me = ProcId::current().unwrap();
        assert!(matches!(freeze(me), Err(FreezeError::NotIsolated(_))));
        assert!(matches!(thaw(me), Err(FreezeError::NotIsolated(_))));
        assert!(!frozen(me));
    }

    #[test]
    fn a_pid_1_that_is_gone_is_never_signalled() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = ProcId::of(child.id() as i32).unwrap();
        child.wait().unwrap();
        assert!(matches!(freeze(gone), Err(FreezeError::Gone(_))));
        assert!(matches!(thaw(gone), Err(FreezeError::Gone(_))));
    }
}
