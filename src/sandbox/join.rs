//! Joining a running container (`hutch exec`): open its pid 1's namespace
//! files first, then enter them in the order setns(2) requires — the user
//! namespace first (it grants the capabilities the others need), then mount,
//! uts, ipc, net, and pid last (a pid namespace applies only to children) —
//! and clone the process, which then takes the same last stretch as a new
//! container's pid 1 (`exec::start_target`: user, env, cwd, terminal,
//! capabilities, exec). nsenter(1) and runc's nsexec use this order.
//!
//! The calling process itself enters the namespaces (it only relays the
//! terminal or forwards signals afterwards), so no intermediate process is
//! needed to fork into the pid namespace.
//!
//! It does not look records up; the caller names the pid and checks that it
//! is still the container's.

use super::error::Error;
use super::exec::{self, ChildFds, Target};
use super::launch::{wait, Exit};
use super::sync;
use super::tty;
use crate::sys::process::{child_exit, clone_into_namespaces, setns, Cloned};
use crate::sys::signal;
use crate::sys::SysError;
use nix::sched::CloneFlags;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::wait::waitpid;
use std::os::fd::{AsFd, OwnedFd};

/// Open `/proc/<pid>/ns/<name>` for every namespace to join, in join order.
/// `still_same` is asked afterwards: the open descriptors pin the namespaces,
/// so once it confirms that `pid` is still the container's pid 1 nothing can
/// swap them. The calling process then moves into the container's own
/// cgroup, if it has one (`cgroup::join`), while host paths still resolve.
pub fn open_namespaces(
    pid: i32,
    private_net: bool,
    still_same: impl Fn() -> bool,
) -> Result<Vec<(OwnedFd, CloneFlags, &'static str)>, Error> {
    let mut list = vec![
        ("user", CloneFlags::CLONE_NEWUSER),
        ("mnt", CloneFlags::CLONE_NEWNS),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ];
    if private_net {
        list.push(("net", CloneFlags::CLONE_NEWNET));
    }
    list.push(("pid", CloneFlags::CLONE_NEWPID));
    let mut out = Vec::new();
    for (name, flag) in list {
        let p = format!("/proc/{pid}/ns/{name}");
        let f = std::fs::File::open(&p).map_err(|source| Error::Namespace { path: p, source })?;
        out.push((OwnedFd::from(f), flag, name));
    }
    if !still_same() {
        return Err(Error::ExitedWhileJoining);
    }
    super::cgroup::join(pid);
    Ok(out)
}

/// Run `target` inside the namespaces `ns` (from [`open_namespaces`]) and
/// wait for it; how it ended.
///
/// The calling process must be single-threaded (setns into a user namespace
/// and clone both require it); it stays in the container's namespaces.
pub fn exec_in(
    ns: Vec<(OwnedFd, CloneFlags, &'static str)>,
    target: &Target<'_>,
) -> Result<Exit, Error> {
    // Before joining anything: once in the container's user namespace its
    // root could otherwise ptrace this process, which still holds host
    // descriptors and memory. The command line, readable by all, loses
    // hutch's path and arguments (host paths) for the same reason.
    // (The command line first: a non-dumpable process's /proc/self/mem
    // belongs to root.)
    crate::sys::process::set_cmdline("hutch-exec")?;
    crate::sys::process::not_dumpable()?;
    for (fd, flag, name) in &ns {
        setns(fd, *flag, &format!("<container {name} namespace>"))?;
    }
    drop(ns);
    let (err_r, err_w) = sync::pipe()?;
    let socks = if target.process.tty {
        Some(
            socketpair(
                AddressFamily::Unix,
                SockType::Stream,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .map_err(|e| SysError::new("socketpair(AF_UNIX, SOCK_STREAM)", e))?,
        )
    } else {
        None
    };
    let saved_mask = signal::block(&signal::forwarded())?;
    let cloned = clone_into_namespaces(CloneFlags::empty());
    let (child, pidfd) = match cloned {
        Err(e) => {
            let _ = signal::set_mask(&saved_mask);
            return Err(Error::Sys(e));
        }
        Ok(Cloned::Child) => {
            drop(err_r);
            let (parent_sock, child_sock) =
                socks.map(|(a, b)| (Some(a), Some(b))).unwrap_or_default();
            drop(parent_sock);
            // Die with `hutch exec`, like a container's pid 1 with hutch, and
            // gain no privileges through exec, exactly as pid 1 did not.
            let nnp = || match target.security.no_new_privs {
                true => signal::no_new_privs(),
                false => Ok(()),
            };
            exec::container_umask();
            if signal::kill_with_parent().and_then(|()| nnp()).is_err() {
                child_exit(super::error::EXIT_SETUP);
            }
            let fds = ChildFds {
                err: err_w,
                tty_sock: child_sock,
                tty_size: target.process.tty.then(tty::host_size).flatten(),
            };
            exec::start_target(target, fds, &saved_mask)
        }
        Ok(Cloned::Parent { pid, pidfd }) => (pid, pidfd),
    };
    drop(err_w);
    let sock = socks.map(|(a, _b)| a);
    let result = (|| {
        let master = match &sock {
            Some(s) => crate::sys::pty::recv_fd(s.as_fd())?,
            None => None,
        };
        if let Some(e) = sync::read_error(err_r) {
            let _ = waitpid(child, None);
            return Err(Error::Child(e));
        }
        if sock.is_some() && master.is_none() {
            return Err(Error::NoTerminal("process"));
        }
        wait(child, pidfd.as_fd(), master, target.process, None, None)
    })();
    let _ = signal::set_mask(&saved_mask);
    result
}
