//! `pause` / `unpause`. A container with a cgroup of its own (where one is
//! delegated to the user) is frozen with the cgroup v2 freezer, as Docker
//! does. Without one (its processes share the cgroup of the user who
//! started them) every process of the container's pid namespace, and of
//! the pid namespaces the container made inside it (`unshare -p` with
//! CAP_SYS_ADMIN, at any depth: NS_GET_PARENT leads up to the
//! container's), gets SIGSTOP, and SIGCONT to resume. Unlike the cgroup
//! freezer that is visible inside (a parent waiting with WUNTRACED sees its
//! children stop, and unpausing also continues a process that something in
//! the container had stopped itself).
//!
//! Pid 1 is stopped too: SIGSTOP from an ancestor namespace reaches a
//! namespace's init, the container's and those nested in it. A container
//! is paused exactly while its pid 1 is stopped, so the state needs no
//! record field that could go stale.
//!
//! It does not decide whether a container runs (`state` does).

use super::ProcId;
use crate::sandbox::cgroup;
use crate::sys::process::{pidfd_open, pidfd_send_signal, pidns_within};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::fd::AsFd;
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
    #[error("the container keeps starting processes; cannot pause it")]
    Busy,
    #[error("process {0} shares hutch's own pid namespace: it is not a container's pid 1")]
    NotIsolated(i32),
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupError),
}

/// How many passes over /proc catch the processes forked meanwhile.
const PASSES: usize = 16;

/// The host pids in the pid namespace of `init` or one nested in it,
/// except those in `seen`.
fn others(init: ProcId, seen: &[Pid]) -> Result<Vec<Pid>, FreezeError> {
    let target = std::path::PathBuf::from(format!("/proc/{}/ns/pid", init.pid));
    let target_meta =
        std::fs::metadata(&target).map_err(|e| FreezeError::Namespace(init.pid, e))?;
    let own = std::fs::metadata("/proc/self/ns/pid")
        .map_err(|e| FreezeError::Namespace(std::process::id() as i32, e))?;
    // Every process of this namespace would be stopped, hutch's caller too.
    if (own.dev(), own.ino()) == (target_meta.dev(), target_meta.ino()) {
        return Err(FreezeError::NotIsolated(init.pid));
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc")
        .map_err(FreezeError::Proc)?
        .flatten()
    {
        let Some(n) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let pid = Pid::from_raw(n);
        // A process gone meanwhile, or one hutch may not look at (another
        // user's), is not the container's.
        if !seen.contains(&pid) && pidns_within(n, &target).unwrap_or(false) {
            out.push(pid);
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
/// forks no more), then passes over /proc until one finds nothing new. The
/// On failure what was stopped is continued again.
fn stop_all(init: ProcId) -> Result<(), FreezeError> {
    let mut stopped: Vec<Pid> = Vec::new();
    let first = Pid::from_raw(init.pid);
    let gone = |e: crate::sys::SysError| FreezeError::Signal(init.pid, e.errno);
    // The pidfd pins pid 1, checked after opening: never a reused pid.
    let fd = pidfd_open(init.pid).map_err(gone)?;
    if !init.alive() {
        return Err(FreezeError::Signal(init.pid, nix::Error::ESRCH));
    }
    // Checked before anything is stopped.
    others(init, &[first])?;
    pidfd_send_signal(fd.as_fd(), Signal::SIGSTOP as i32).map_err(gone)?;
    stopped.push(first);
    for _ in 0..PASSES {
        let new = match others(init, &stopped) {
            Ok(n) => n,
            Err(e) => {
                thaw_pids(&stopped);
                return Err(e);
            }
        };
        if new.is_empty() {
            return Ok(());
        }
        for pid in new {
            // Gone meanwhile: nothing to stop.
            if kill(pid, Signal::SIGSTOP).is_ok() {
                stopped.push(pid);
            }
        }
    }
    thaw_pids(&stopped);
    Err(FreezeError::Busy)
}

/// Continue every process in the pid namespace of `init` (whoever stopped
/// them: a later `hutch exec` may have added some).
pub fn thaw(init: ProcId) -> Result<(), FreezeError> {
    if let Some(dir) = own_cgroup(init) {
        cgroup::freeze(&dir, false)?;
    }
    let all = others(init, &[])?;
    thaw_pids(&all);
    Ok(())
}

/// SIGCONT to `pids`, pid 1 last, so that it finds its children running.
fn thaw_pids(pids: &[Pid]) {
    for pid in pids.iter().rev() {
        let _ = kill(*pid, Signal::SIGCONT);
    }
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
}
