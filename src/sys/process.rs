//! Process creation: fork for short-lived helpers that must live in another
//! user namespace (layer unpacking, store cleanup).

use super::{Ctx, SysError};
use nix::errno::Errno;
use nix::unistd::{ForkResult, Pid};

/// Where a fork left us.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// fork(2).
///
/// The child gets a copy of just the calling thread, so a lock held by
/// another thread would stay locked forever in it. hutch forks before it
/// starts any thread (registry downloads finish and join before anything
/// forks). Library tests that fork run alone in a process of their own, where
/// the only other thread is libtest's main thread, parked until the test
/// ends. Callers must end the child with `child_exit`.
pub fn fork() -> Result<Forked, SysError> {
    check_single_threaded("fork()")?;
    // SAFETY: see above; no other thread holds a lock the child needs.
    match unsafe { nix::unistd::fork() }.ctx(|| "fork()".into())? {
        ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        ForkResult::Child => Ok(Forked::Child),
    }
}

/// End a forked child without running the parent's atexit handlers or flushing
/// stdio buffers it inherited (which would print the parent's output twice).
pub fn child_exit(code: i32) -> ! {
    // SAFETY: _exit only ends the process; it touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Where a namespace clone left us.
pub enum Cloned {
    /// In the parent: the child's pid and a pidfd for it (pidfd_open(2)
    /// semantics: readable once the child has exited).
    Parent {
        pid: Pid,
        pidfd: std::os::fd::OwnedFd,
    },
    Child,
}

/// clone(2) without a new stack, so the child continues here like after fork,
/// entering the namespaces named in `flags` (CLONE_NEW*). The child's exit is
/// reported with SIGCHLD as for fork, and through a pidfd (CLONE_PIDFD), which
/// does not depend on which thread a process-directed SIGCHLD reaches.
///
/// Sound under the same condition as [`fork`]: the child gets a copy of only
/// the calling thread, so no other thread may hold a lock the child needs
/// (the allocator's, stdio's). The `hutch` binary clones before it starts any
/// thread; library tests that clone run alone in a process of their own, where
/// the only other thread is libtest's main thread, parked until the test ends
/// (a second test thread could hold the allocator's lock). glibc's fork handlers do not
/// run, which is fine because hutch registers none and glibc (since 2.25) no
/// longer caches the pid. bubblewrap creates its sandbox the same way
/// (`raw_clone` in bubblewrap.c).
pub fn clone_into_namespaces(flags: nix::sched::CloneFlags) -> Result<Cloned, SysError> {
    check_single_threaded("clone()")?;
    const CLONE_PIDFD: libc::c_ulong = 0x1000;
    let raw = flags.bits() as libc::c_ulong | CLONE_PIDFD | libc::SIGCHLD as libc::c_ulong;
    let mut pidfd: libc::c_int = -1;
    // SAFETY: see above. With a NULL stack pointer the child runs on a copy of
    // the parent's stack (the fork(2) model). With CLONE_PIDFD the kernel
    // stores the new pidfd through the parent_tid argument, which points at a
    // live c_int; child_tid and tls are unused without CLONE_*TID/CLONE_SETTLS.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            raw,
            0usize,
            &mut pidfd as *mut libc::c_int,
            0usize,
            0usize,
        )
    };
    match r {
        -1 => Err(SysError::new(
            format!("clone({flags:?} | CLONE_PIDFD)"),
            nix::errno::Errno::last(),
        )),
        0 => Ok(Cloned::Child),
        pid => Ok(Cloned::Parent {
            pid: Pid::from_raw(pid as i32),
            // SAFETY: the kernel just created this descriptor for us.
            pidfd: unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(pidfd) },
        }),
    }
}

/// clone(2) like [`clone_into_namespaces`], but the child becomes a child of
/// this process's parent (CLONE_PARENT), not of this process: a short-lived
/// go-between can create a namespace-owning process for its parent from a
/// user namespace the parent itself never enters. `None` in the child.
///
/// Sound under the same condition as [`fork`] and for the same reasons as
/// [`clone_into_namespaces`]; the go-between is a forked, single-threaded copy.
pub fn clone_sibling(flags: nix::sched::CloneFlags) -> Result<Option<Pid>, SysError> {
    const CLONE_PARENT: libc::c_ulong = 0x8000;
    let raw = flags.bits() as libc::c_ulong | CLONE_PARENT | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: as in clone_into_namespaces: a NULL stack runs the child on a
    // copy of this stack; no pointer arguments are used without CLONE_*TID,
    // CLONE_PIDFD or CLONE_SETTLS.
    let r = unsafe { libc::syscall(libc::SYS_clone, raw, 0usize, 0usize, 0usize, 0usize) };
    match r {
        -1 => Err(SysError::new(
            format!("clone({flags:?} | CLONE_PARENT)"),
            nix::errno::Errno::last(),
        )),
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

/// setns(2) into the namespace behind `fd`.
pub fn setns(
    fd: &std::os::fd::OwnedFd,
    what: nix::sched::CloneFlags,
    name: &str,
) -> Result<(), SysError> {
    nix::sched::setns(fd, what).ctx(|| format!("setns({name}, {what:?})"))
}

/// Enter the user namespace at `userns`, then the network namespace at
/// `netns` (setns(2) wants that order: joining a network namespace takes
/// CAP_SYS_ADMIN in the user namespace that owns it), becoming
/// non-dumpable before: a process that lives in a container's user namespace
/// but still in the host's mount namespace must not be open to ptrace or
/// /proc/PID/mem from that namespace's root. The caller must be
/// single-threaded.
pub fn enter_network(userns: &std::path::Path, netns: &std::path::Path) -> Result<(), SysError> {
    let open = |p: &std::path::Path| {
        nix::fcntl::open(
            p,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ctx(|| format!("open({})", p.display()))
        // SAFETY: open just returned this descriptor; nothing else owns it.
        .map(|fd| unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
    };
    let (user, net) = (open(userns)?, open(netns)?);
    not_dumpable()?;
    setns(
        &user,
        nix::sched::CloneFlags::CLONE_NEWUSER,
        &userns.display().to_string(),
    )?;
    setns(
        &net,
        nix::sched::CloneFlags::CLONE_NEWNET,
        &netns.display().to_string(),
    )
}

/// _IO(0xb7, 0x2) from <linux/nsfs.h>: the namespace a user or pid
/// namespace was created in.
const NS_GET_PARENT: libc::c_ulong = 0xb702;

/// Whether the user namespace of process `pid` was created directly in
/// `parent` (a path such as `/proc/KEEPER/ns/user`): NS_GET_PARENT on it
/// names the same namespace (device and inode) as `parent`.
pub fn userns_parent_is(pid: i32, parent: &std::path::Path) -> Result<bool, SysError> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::MetadataExt;
    let path = format!("/proc/{pid}/ns/user");
    let ns = std::fs::File::open(&path)
        .map_err(|e| SysError::new(format!("open({path})"), io_errno(&e)))?;
    // SAFETY: the descriptor is open for the call; NS_GET_PARENT takes no
    // argument and returns a new descriptor or -1.
    let fd = unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_PARENT as _) };
    if fd < 0 {
        return Err(SysError::new(
            format!("ioctl({path}, NS_GET_PARENT)"),
            Errno::last(),
        ));
    }
    // SAFETY: the ioctl just returned this descriptor; nothing else owns it.
    let up = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let (a, b) = (
        up.metadata()
            .map_err(|e| SysError::new(format!("fstat(<parent of {path}>)"), io_errno(&e)))?,
        std::fs::metadata(parent)
            .map_err(|e| SysError::new(format!("stat({})", parent.display()), io_errno(&e)))?,
    );
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

/// Whether the pid namespace of process `pid` is the one whose nsfs file
/// has device and inode `ns` (as `/proc/INIT/ns/pid` has) or one nested in
/// it at any depth: going up with NS_GET_PARENT from it meets `ns` before it
/// leaves what the caller may see (EPERM above the caller's own pid
/// namespace).
pub fn pidns_within(pid: i32, ns: (u64, u64)) -> Result<bool, SysError> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::MetadataExt;
    // The kernel nests pid namespaces at most 32 deep.
    const MAX_DEPTH: usize = 33;
    let path = format!("/proc/{pid}/ns/pid");
    let mut cur = std::fs::File::open(&path)
        .map_err(|e| SysError::new(format!("open({path})"), io_errno(&e)))?;
    for _ in 0..MAX_DEPTH {
        let m = cur
            .metadata()
            .map_err(|e| SysError::new(format!("fstat(<a parent of {path}>)"), io_errno(&e)))?;
        if (m.dev(), m.ino()) == ns {
            return Ok(true);
        }
        // SAFETY: the descriptor is open for the call; NS_GET_PARENT takes no
        // argument and returns a new descriptor or -1.
        let fd = unsafe { libc::ioctl(cur.as_raw_fd(), NS_GET_PARENT as _) };
        if fd < 0 {
            return match Errno::last() {
                Errno::EPERM => Ok(false),
                e => Err(SysError::new(format!("ioctl({path}, NS_GET_PARENT)"), e)),
            };
        }
        // SAFETY: the ioctl just returned this descriptor; nothing else owns it.
        cur = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    Ok(false)
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Mark every descriptor from 3 up close-on-exec (close_range(2),
/// CLOSE_RANGE_CLOEXEC), so a container starts with only stdin/out/err and
/// whatever hutch passed on purpose.
pub fn cloexec_from_3() -> Result<(), SysError> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: no pointers; the kernel only sets FD_CLOEXEC on open descriptors.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if r < 0 {
        return Err(SysError::new(
            "close_range(3, ~0, CLOSE_RANGE_CLOEXEC)",
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// setsid(2): a session and process group of its own, with no controlling
/// terminal, so signals the caller's terminal sends (Ctrl-C, hang-up) no
/// longer reach this process. Here, beside the other calls that change what
/// a process is attached to, so every caller gets the call named in its
/// error.
pub fn new_session() -> Result<(), SysError> {
    nix::unistd::setsid().ctx(|| "setsid()".into()).map(drop)
}

/// setpgid(0, 0): a process group of its own inside the caller's session.
/// The terminal's signals (Ctrl-C, and the hang-up when it closes) go to
/// the foreground process group only: a forked helper that must finish (or
/// undo) its work, or outlive a run that detaches from the terminal (the
/// FUSE server, the network helpers), calls it so that they do not kill it
/// half-way; it ends with what it serves, not with the terminal.
pub fn leave_process_group() -> Result<(), SysError> {
    nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0)).ctx(|| "setpgid(0, 0)".into())
}

/// The start of a user-namespace keeper's life: a session of its own (no
/// terminal signals from the caller's), no inherited descriptors beyond
/// stdin/out/err (it lives on, and must not keep its caller's pipes or locks
/// open), and a fresh user namespace for its parent to map. Called first
/// thing in the keeper process, before anything owns a descriptor.
pub fn become_keeper() -> Result<(), SysError> {
    new_session()?;
    close_fds_except(&[])?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
        .ctx(|| "unshare(CLONE_NEWUSER)".into())
}

/// The start of a shared network namespace's keeper: like [`become_keeper`]
/// (own session, no inherited descriptors), then into the user namespace at
/// `userns` (a user-namespace keeper's, where it is root) and a fresh
/// network namespace owned by it. It stays dumpable: pasta, run by the
/// same user, opens its /proc/PID/ns/net, which a non-dumpable process
/// would refuse (its memory belongs to the host's user namespace, where
/// nobody is privileged); no container can name its pid.
pub fn become_netns_keeper(userns: &std::path::Path) -> Result<(), SysError> {
    new_session()?;
    close_fds_except(&[])?;
    let f = std::fs::File::open(userns).map_err(|e| {
        SysError::new(
            format!("open({})", userns.display()),
            nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })?;
    setns(
        &std::os::fd::OwnedFd::from(f),
        nix::sched::CloneFlags::CLONE_NEWUSER,
        &userns.display().to_string(),
    )?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).ctx(|| "unshare(CLONE_NEWNET)".into())
}

/// Refuse to fork or clone while another thread runs (see [`fork`]): in
/// every build, because the failure it prevents is a rare, silent deadlock
/// of the child. Library tests are exempt: see [`fork`] for how they keep
/// other threads out.
fn check_single_threaded(call: &str) -> Result<(), SysError> {
    if cfg!(test) {
        return Ok(());
    }
    match std::fs::read_dir("/proc/self/task").map(|d| d.count()) {
        Ok(n) if n > 1 => Err(SysError::new(
            format!("{call} while {n} threads run (hutch forks only single-threaded)"),
            nix::errno::Errno::EDEADLK,
        )),
        _ => Ok(()),
    }
}

/// Close every descriptor from 3 up except those in `keep` (a detached
/// process must not hold its caller's pipes and lock files open). Objects
/// that owned the closed descriptors must not be used or dropped afterwards:
/// call this only in a forked child that ends with `child_exit`.
pub fn close_fds_except(keep: &[std::os::fd::RawFd]) -> Result<(), SysError> {
    let mut from: libc::c_uint = 3;
    let mut sorted: Vec<libc::c_uint> = keep
        .iter()
        .filter(|&&fd| fd >= 3)
        .map(|&fd| fd as libc::c_uint)
        .collect();
    sorted.sort_unstable();
    sorted.push(libc::c_uint::MAX);
    for k in sorted {
        if from < k {
            // SAFETY: no pointers; closing descriptors is memory-safe, and the
            // caller's contract above covers the objects that owned them.
            let r = unsafe { libc::syscall(libc::SYS_close_range, from, k - 1, 0u32) };
            if r < 0 {
                return Err(SysError::new(
                    format!("close_range({from}, {})", k - 1),
                    nix::errno::Errno::last(),
                ));
            }
        }
        from = k.saturating_add(1);
    }
    Ok(())
}

/// pidfd_open(2): a descriptor that names this very process (never a later
/// one with a reused pid) and becomes readable when it exits, whether or not
/// it is our child.
pub fn pidfd_open(pid: i32) -> Result<std::os::fd::OwnedFd, SysError> {
    // SAFETY: no pointers; returns a new descriptor or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    if r < 0 {
        return Err(SysError::new(
            format!("pidfd_open({pid})"),
            nix::errno::Errno::last(),
        ));
    }
    // SAFETY: the kernel just created this descriptor for us.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(r as i32) })
}

/// pidfd_send_signal(2): send signal number `sig` (any from 1 to SIGRTMAX,
/// real-time ones included) to the process behind `pidfd`.
pub fn pidfd_send_signal(pidfd: std::os::fd::BorrowedFd<'_>, sig: i32) -> Result<(), SysError> {
    use std::os::fd::AsRawFd;
    // SAFETY: a NULL siginfo asks for the kill(2)-like default; no other pointers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if r < 0 {
        return Err(SysError::new(
            format!("pidfd_send_signal(<pidfd>, {sig})"),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// Wait until the process behind `pidfd` exits, at most `timeout`; true if
/// it has exited.
pub fn pidfd_wait(
    pidfd: std::os::fd::BorrowedFd<'_>,
    timeout: Option<std::time::Duration>,
) -> Result<bool, SysError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let left = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let ms = d
                    .saturating_duration_since(std::time::Instant::now())
                    .as_millis();
                PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(pidfd, PollFlags::POLLIN)];
        match poll(&mut fds, left) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(SysError::new("poll(<pidfd>)", e)),
        }
    }
}

/// This process's hard limit on `resource` (a `libc::RLIMIT_*`), from
/// getrlimit(2).
pub fn hard_rlimit(resource: libc::__rlimit_resource_t) -> Result<u64, SysError> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: the kernel writes one rlimit into `lim`, which lives for the
    // call; an unknown resource number is refused with EINVAL.
    let r = unsafe { libc::getrlimit(resource, &mut lim) };
    if r < 0 {
        return Err(SysError::new(
            format!("getrlimit({resource})"),
            Errno::last(),
        ));
    }
    Ok(lim.rlim_max)
}

/// setrlimit(2) for resource number `resource` (a `libc::RLIMIT_*`).
pub fn set_rlimit(resource: i32, soft: u64, hard: u64) -> Result<(), SysError> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit the kernel only reads; an unknown
    // resource number is refused with EINVAL.
    let r = unsafe { libc::setrlimit(resource as libc::__rlimit_resource_t, &lim) };
    if r < 0 {
        return Err(SysError::new(
            format!("setrlimit({resource}, {soft}, {hard})"),
            Errno::last(),
        ));
    }
    Ok(())
}

/// setpriority(2) of process `pid`: its nice value becomes `nice`.
pub fn set_nice(pid: i32, nice: i32) -> Result<(), SysError> {
    // SAFETY: no memory is passed; an unknown pid is refused with ESRCH.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, pid as libc::id_t, nice) };
    if r < 0 {
        return Err(SysError::new(
            format!("setpriority(PRIO_PROCESS, {pid}, {nice})"),
            Errno::last(),
        ));
    }
    Ok(())
}

/// prctl(PR_SET_DUMPABLE, 0): no ptrace, /proc/PID/mem, fd, environ or exe
/// of this process for anyone without CAP_SYS_PTRACE over the user
/// namespace it was started in (the host's). An exec resets it.
pub fn not_dumpable() -> Result<(), SysError> {
    nix::sys::prctl::set_dumpable(false).ctx(|| "prctl(PR_SET_DUMPABLE, 0)".into())
}

/// prctl(PR_SET_DUMPABLE, 1): undo [`not_dumpable`] once a process holds
/// nothing worth protecting, so that it may write its own
/// /proc/self/{uid_map,gid_map,setgroups} (a non-dumpable process's /proc
/// files belong to the host's root).
pub fn dumpable_again() -> Result<(), SysError> {
    nix::sys::prctl::set_dumpable(true).ctx(|| "prctl(PR_SET_DUMPABLE, 1)".into())
}

/// Overwrite this process's argument strings (what /proc/PID/cmdline shows
/// to everyone, dumpable or not) with `title`, padded with NULs, as
/// setproctitle(3) does. Written through /proc/self/mem, which a process
/// may always do to itself: no pointer is formed, so nothing Rust holds is
/// invalidated; std only reads argv when `std::env::args` is called, and
/// callers must not call it afterwards.
pub fn set_cmdline(title: &str) -> Result<(), SysError> {
    use std::os::unix::fs::FileExt;
    let io = |what: &str, e: std::io::Error| {
        SysError::new(
            what.to_string(),
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    };
    let stat =
        std::fs::read_to_string("/proc/self/stat").map_err(|e| io("read(/proc/self/stat)", e))?;
    // Fields after the command name in parentheses; arg_start and arg_end
    // are fields 48 and 49 of proc(5), the 46th and 47th after it.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let field = |n: usize| {
        rest.split_whitespace()
            .nth(n)
            .and_then(|v| v.parse::<u64>().ok())
    };
    let (Some(start), Some(end)) = (field(45), field(46)) else {
        return Err(SysError::new("parse(/proc/self/stat)", Errno::EINVAL));
    };
    let len = end.saturating_sub(start) as usize;
    let mut buf = vec![0u8; len];
    let t = title.as_bytes();
    let n = t.len().min(len.saturating_sub(1));
    buf[..n].copy_from_slice(&t[..n]);
    let mem = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")
        .map_err(|e| io("open(/proc/self/mem)", e))?;
    mem.write_all_at(&buf, start)
        .map_err(|e| io("pwrite(/proc/self/mem, <argv>)", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_helper_leaves_its_parents_process_group_but_not_its_session() {
        // The child allocates nothing on the success path: other libtest
        // threads may hold the allocator's lock in the parent.
        match fork().unwrap() {
            Forked::Child => {
                let ok = leave_process_group().is_ok()
                    && nix::unistd::getpgrp() == nix::unistd::getpid()
                    && nix::unistd::getsid(None).ok() != Some(nix::unistd::getpid());
                child_exit(if ok { 0 } else { 1 })
            }
            Forked::Parent(child) => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
