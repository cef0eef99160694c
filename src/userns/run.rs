//! Running a piece of hutch itself as root of a fresh user namespace with a
//! given id mapping. Layer unpacking uses it so that files get the owners the
//! image says (subordinate ids) and whiteouts (char 0/0) can be created.

use super::error::{Error, Result};
use super::idmap::{IdMapping, IdSources};
use super::keeper::Keeper;
use crate::sys::process::{child_exit, fork, Forked};
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

/// Run `f` in a forked child that is root (or the mapped user) inside a new
/// user namespace with `map` installed. `f`'s error is text because it
/// crosses a process boundary; it comes back as [`Error::Inside`].
///
/// `f` runs in a copy of this process: anything it changes in memory is lost;
/// only its effects on the filesystem remain.
pub fn run_in_userns<F>(map: &IdMapping, src: &IdSources, f: F) -> Result<()>
where
    F: FnOnce() -> std::result::Result<(), String>,
{
    run_in_userns_watching(map, src, f, &|| {})
}

/// [`run_in_userns`], calling `meanwhile` in the parent when the child
/// starts and then about ten times a second while it works (to show how
/// far it got, from what it writes). The parent stays single-threaded, so
/// it may fork again.
pub fn run_in_userns_watching<F>(
    map: &IdMapping,
    src: &IdSources,
    f: F,
    meanwhile: &dyn Fn(),
) -> Result<()>
where
    F: FnOnce() -> std::result::Result<(), String>,
{
    run(map, src, || Ok(()), f, meanwhile)
}

/// [`run_in_userns`], with `first` run in the namespace before the child
/// becomes its root: still as the caller's own ids (keep-id maps them to
/// themselves) but with the namespace's capabilities. Paths walked there
/// are checked as the caller, who can reach a store under a private home
/// that keep-id's root (a subordinate id on the host) cannot traverse:
/// mounts made in a new mount namespace go there.
pub fn run_in_userns_as_caller_first<A, F>(
    map: &IdMapping,
    src: &IdSources,
    first: A,
    f: F,
) -> Result<()>
where
    A: FnOnce() -> std::result::Result<(), String>,
    F: FnOnce() -> std::result::Result<(), String>,
{
    run(map, src, first, f, &|| {})
}

fn run<A, F>(map: &IdMapping, src: &IdSources, first: A, f: F, meanwhile: &dyn Fn()) -> Result<()>
where
    A: FnOnce() -> std::result::Result<(), String>,
    F: FnOnce() -> std::result::Result<(), String>,
{
    // Joining a keeper's namespace spares the newuidmap/newgidmap round; a
    // missing keeper only costs that round.
    let entry = match map
        .needs_helpers()
        .then(|| super::keeper::acquire(map, src).ok())
    {
        Some(Some(k)) => Entry::Keeper(k),
        _ => Entry::Fresh {
            ready: pipe()?,
            go: pipe()?,
        },
    };
    let (err_r, err_w) = pipe()?;
    match fork()? {
        Forked::Child => {
            drop(err_r);
            let res = match entry {
                Entry::Keeper(k) => join_keeper(map, &k, first, f),
                Entry::Fresh {
                    ready: (ready_r, ready_w),
                    go: (go_r, go_w),
                } => {
                    // The parent's ends must close here: were `go`'s write
                    // end kept, a parent that failed to map (and so never
                    // writes) would leave this child waiting for ever, and
                    // the parent waiting for it.
                    drop((ready_r, go_w));
                    child_side(map, ready_w, go_r, first, f)
                }
            };
            let code = match res {
                Ok(()) => 0,
                Err(msg) => {
                    let mut w = std::fs::File::from(err_w);
                    let _ = w.write_all(msg.as_bytes());
                    1
                }
            };
            child_exit(code)
        }
        Forked::Parent(pid) => {
            drop(err_w);
            let mapped = match entry {
                Entry::Keeper(_) => Ok(()),
                Entry::Fresh {
                    ready: (ready_r, ready_w),
                    go: (go_r, go_w),
                } => {
                    drop((ready_w, go_r));
                    map_fresh(map, src, pid.as_raw(), ready_r, go_w)
                }
            };
            let err_r = std::fs::File::from(err_r);
            // The child closes its end when it ends: until then, wait in
            // short steps (`meanwhile` runs at least once, at the start).
            loop {
                meanwhile();
                if readable(&err_r, 100) {
                    break;
                }
            }
            let mut msg = String::new();
            let _ = (&err_r).read_to_string(&mut msg);
            let status = waitpid(pid, None)
                .map_err(|e| crate::sys::SysError::new(format!("waitpid({pid})"), e))?;
            mapped?;
            match status {
                WaitStatus::Exited(_, 0) => Ok(()),
                _ if !msg.is_empty() => Err(Error::Inside(msg)),
                other => Err(Error::HelperEnded(other)),
            }
        }
    }
}

/// Whether `f` has data or its writers are gone, within `ms` milliseconds
/// (also true when polling fails: the caller's read then blocks as before).
fn readable(f: &std::fs::File, ms: u16) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
    !matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(0))
}

/// How the forked child gets its mapped namespace.
enum Entry {
    /// It joins the keeper's.
    Keeper(Keeper),
    /// It unshares one, says so on `ready`, and waits on `go` for the parent
    /// to install the mapping (pipe ends: read, write).
    Fresh {
        ready: (OwnedFd, OwnedFd),
        go: (OwnedFd, OwnedFd),
    },
}

/// The parent's side of [`Entry::Fresh`]: wait for the child's namespace,
/// map it, release the child (only if the mapping took).
fn map_fresh(
    map: &IdMapping,
    src: &IdSources,
    pid: i32,
    ready: OwnedFd,
    go: OwnedFd,
) -> Result<()> {
    let mut b = [0u8; 1];
    let unshared = std::fs::File::from(ready)
        .read(&mut b)
        .map(|n| n == 1)
        .unwrap_or(false);
    if !unshared {
        // The child failed before unsharing; its error comes on err.
        return Ok(());
    }
    map.apply(pid, src)?;
    let _ = std::fs::File::from(go).write_all(b"g");
    Ok(())
}

/// The child's side with a keeper: its namespace has the mapping already.
fn join_keeper<A, F>(
    map: &IdMapping,
    keeper: &Keeper,
    first: A,
    f: F,
) -> std::result::Result<(), String>
where
    A: FnOnce() -> std::result::Result<(), String>,
    F: FnOnce() -> std::result::Result<(), String>,
{
    crate::sys::process::setns(
        &keeper.userns,
        CloneFlags::CLONE_NEWUSER,
        "<user namespace keeper>",
    )
    .map_err(|e| e.to_string())?;
    first()?;
    become_root_or_mapped(map)?;
    f()
}

/// Child side: errors are text, sent back to the parent over a pipe.
fn become_root_or_mapped(map: &IdMapping) -> std::result::Result<(), String> {
    let (uid, gid) = if map.has_root() {
        (0, 0)
    } else {
        (map.host_uid, map.host_gid)
    };
    become_ids(uid, gid)
}

fn child_side<A, F>(
    map: &IdMapping,
    ready: OwnedFd,
    go: OwnedFd,
    first: A,
    f: F,
) -> std::result::Result<(), String>
where
    A: FnOnce() -> std::result::Result<(), String>,
    F: FnOnce() -> std::result::Result<(), String>,
{
    crate::sys::cred::unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| {
        format!("unshare(CLONE_NEWUSER) => {e}: user namespaces are unavailable (see `hutch info`)")
    })?;
    std::fs::File::from(ready)
        .write_all(b"r")
        .map_err(|e| format!("cannot signal parent: {e}"))?;
    let mut b = [0u8; 1];
    let n = std::fs::File::from(go).read(&mut b).unwrap_or(0);
    if n != 1 {
        return Err("parent could not install the id mapping".into());
    }
    first()?;
    become_root_or_mapped(map)?;
    f()
}

/// Switch to uid/gid inside the namespace we are in.
fn become_ids(uid: u32, gid: u32) -> std::result::Result<(), String> {
    use crate::sys::cred::{setgroups, setresgid, setresuid};
    use nix::unistd::{Gid, Uid};
    let g = Gid::from_raw(gid);
    setresgid(g, g, g).map_err(|e| format!("setresgid({gid}) => {e}"))?;
    // setgroups is denied in single-id namespaces; an empty list is then implied.
    let _ = setgroups(&[]);
    let u = Uid::from_raw(uid);
    setresuid(u, u, u).map_err(|e| format!("setresuid({uid}) => {e}"))
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::Sys(crate::sys::SysError::new("pipe2(O_CLOEXEC)", e)))
}
