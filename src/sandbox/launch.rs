//! The parent's side of a container start, in bubblewrap's order: one clone
//! into new user, mount, pid, uts and ipc namespaces (plus network for a
//! private network), install the id mapping, attach the network helper,
//! release the child, collect a typed error or the news that it exec'd, then
//! relay the terminal or forward signals until pid 1 exits, and finally
//! remove the container's state from inside its user namespace if asked.
//!
//! The child's side is `setup` (mounts) and `exec` (process); this module is
//! the only one that clones.

use super::error::Error;
use super::exec::{self, ChildFds};
use super::plan::Plan;
use super::spec::Removal;
use super::sync;
use super::tty;
use crate::net::helper::{Helper, SpawnConfig, Target};
use crate::net::Network;
use crate::rootfs::Driver;
use crate::sys::flock;
use crate::sys::process::{
    child_exit, clone_into_namespaces, clone_sibling, fork, not_dumpable, pidfd_open, setns,
    Cloned, Forked,
};
use crate::sys::signal;
use crate::sys::SysError;
use crate::userns::idmap::IdMapping;
use crate::userns::keeper::Keeper;
use nix::sched::CloneFlags;
use nix::sys::signal::SigSet;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// How long a network helper may take to configure the namespace (it
/// normally needs tens of milliseconds).
const HELPER_READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// pid 1 exited with this code.
    Code(i32),
    /// pid 1 was killed by this signal.
    Signal(i32),
}

impl Exit {
    /// The shell's convention: the code, or 128+N for signal N.
    pub fn code(&self) -> i32 {
        match *self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// Hooks the caller gets while the container runs.
pub trait Observer {
    /// pid 1 of the container (as seen from the host) has exec'd the command.
    fn started(&mut self, pid: i32);
    /// pid 1 has exited and is reaped; called before the sandbox is taken
    /// down, which may need this process single-threaded again (it joins
    /// the container's user namespace to remove a `--rm` container's
    /// state).
    fn exited(&mut self) {}
    /// Whether [`Observer::step`] wants lines (`--log-level debug`);
    /// checked before a line is made, so tracing costs nothing when off.
    fn tracing(&self) -> bool {
        false
    }
    /// One step of the start, seen from this side, as it happens.
    fn step(&mut self, _line: &str) {}
    /// The key sequence that detaches from the terminal relayed on this
    /// process's stdin (`-it`); None: no detaching.
    fn detach_keys(&self) -> Option<Vec<u8>> {
        None
    }
    /// The detach keys were typed and the terminal is restored: point
    /// stdin, stdout and stderr elsewhere (the relay goes on between them
    /// and the container, which runs on).
    fn detached(&mut self) {}
    /// Where someone attaching to the container's terminal from elsewhere
    /// leaves its window size before sending this process SIGWINCH (see
    /// `tty::relay`); None: only this process's own terminal's size counts.
    fn window_size_file(&self) -> Option<std::path::PathBuf> {
        None
    }
}

impl Observer for () {
    fn started(&mut self, _pid: i32) {}
}

/// Tell `observer` about a step, making the line only when it listens.
fn step(observer: &mut dyn Observer, line: impl FnOnce() -> String) {
    if observer.tracing() {
        observer.step(&line());
    }
}

/// Start the container described by `plan`, wait for it, and return how it
/// ended. Errors before exec come back typed; see `Error::exit_code`.
///
/// The calling process must be single-threaded (it clones).
pub fn run(plan: &Plan, observer: &mut dyn Observer) -> Result<Exit, Error> {
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    // Docker's default on cgroup v2: a cgroup namespace of its own, so
    // /proc/self/cgroup shows `/`, not where the host put hutch. A
    // container with a cgroup of its own makes it once the parent has
    // moved it there (the namespace is rooted where it is made).
    if plan.cgroup.is_none() {
        flags |= CloneFlags::CLONE_NEWCGROUP;
    }
    // A keeper's namespace already maps the ids: the container's is nested
    // in it, mapped without newuidmap/newgidmap.
    let mut keeper = None;
    let mut joined = None;
    match &plan.network {
        // The child is cloned inside both namespaces (see `net::Joined` for
        // why the user namespace is entered instead of created).
        Network::Container(j) => joined = Some(j.as_ref()),
        n => {
            flags |= CloneFlags::CLONE_NEWUSER;
            if n.private_namespace() {
                flags |= CloneFlags::CLONE_NEWNET;
            }
            keeper = plan.keeper.as_deref();
        }
    }
    let (go_r, go_w) = sync::pipe()?;
    let (err_r, err_w) = sync::pipe()?;
    // With a network helper the child gets a second go, just before exec,
    // once the helper has configured its namespace.
    let (net_r, net_w) = match plan.network {
        Network::User(_) | Network::Bridge(_) => {
            let (r, w) = sync::pipe()?;
            (Some(r), Some(w))
        }
        _ => (None, None),
    };
    let socks = if plan.process.tty {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| SysError::new("socketpair(AF_UNIX, SOCK_STREAM)", e))?;
        Some((a, b))
    } else {
        None
    };
    // Block the forwarded signals before cloning so none is lost between the
    // clone and the wait loop; the child restores the mask before exec.
    let saved_mask = signal::block(&signal::forwarded())?;
    // Made last before the clone, so that no earlier failure leaves it.
    if let Some(c) = &plan.cgroup {
        if let Err(e) = c.create() {
            let _ = signal::set_mask(&saved_mask);
            return Err(e.into());
        }
    }
    let forked = match (keeper, joined) {
        (Some(k), _) => clone_inside(Inside::Keeper(k, &plan.mapping), flags),
        (None, Some(j)) => clone_inside(Inside::Joined(j), flags),
        (None, None) => clone_into_namespaces(flags).map_err(Error::Sys),
    };
    let child = match forked {
        Err(e) => {
            let _ = signal::set_mask(&saved_mask);
            if let Some(c) = &plan.cgroup {
                c.remove();
            }
            return Err(e);
        }
        Ok(Cloned::Child) => {
            drop(go_w);
            drop(err_r);
            drop(net_w);
            let (parent_sock, child_sock) =
                socks.map(|(a, b)| (Some(a), Some(b))).unwrap_or_default();
            drop(parent_sock);
            let fds = ChildFds {
                err: err_w,
                tty_sock: child_sock,
                tty_size: plan.process.tty.then(tty::host_size).flatten(),
            };
            child_main(plan, go_r, net_r, fds, &saved_mask)
        }
        Ok(Cloned::Parent { pid, pidfd }) => (pid, pidfd),
    };
    step(observer, || {
        format!(
            "cloned pid {} ({})",
            child.0,
            match (keeper, joined) {
                (Some(_), _) => "from inside the keeper's user namespace",
                (None, Some(_)) => "from inside the joined container's namespaces",
                (None, None) => "from hutch",
            }
        )
    });
    drop(go_r);
    drop(err_w);
    drop(net_r);
    let parent_sock = socks.map(|(a, _b)| a);
    let gates = Gates {
        go: go_w,
        net: net_w,
        // A joined user namespace has its mapping (the same one) already.
        mapped: keeper.is_some() || joined.is_some(),
    };
    let result = parent_main(plan, child, gates, err_r, parent_sock, observer);
    let _ = signal::set_mask(&saved_mask);
    result
}

fn child_main(
    plan: &Plan,
    go: OwnedFd,
    net: Option<OwnedFd>,
    fds: ChildFds,
    saved_mask: &SigSet,
) -> ! {
    // What the set-up makes (/etc/hosts and the like) gets it too.
    exec::container_umask();
    // Die with hutch (bubblewrap's --die-with-parent), then wait for the map.
    let early = signal::kill_with_parent();
    if !sync::wait_for_go(go) {
        child_exit(super::error::EXIT_SETUP);
    }
    let ready = early
        .and_then(|()| match plan.cgroup {
            Some(_) => crate::sys::cred::unshare(CloneFlags::CLONE_NEWCGROUP)
                .map_err(|e| SysError::new("unshare(CLONE_NEWCGROUP)", e)),
            None => Ok(()),
        })
        .and_then(|()| match plan.security.no_new_privs {
            true => signal::no_new_privs(),
            false => Ok(()),
        })
        .map_err(sync::ChildError::from)
        .and_then(|()| super::setup::run_plan(plan));
    if let Err(e) = ready {
        sync::send_error(&fds.err, &e);
        child_exit(super::error::EXIT_SETUP);
    }
    // The command may use the network at once: wait for the helper.
    if let Some(net) = net {
        if !sync::wait_for_go(net) {
            child_exit(super::error::EXIT_SETUP);
        }
    }
    exec::start(plan, fds, saved_mask)
}

/// The parent's ends of the release pipes.
struct Gates {
    /// Releases the child into its setup.
    go: OwnedFd,
    /// Releases it into exec once the network helper is ready.
    net: Option<OwnedFd>,
    /// Whether the child's user namespace has its id mapping already.
    mapped: bool,
}

/// Where a go-between clones the container.
enum Inside<'a> {
    /// In a user namespace nested in the keeper's, given this identity
    /// mapping.
    Keeper(&'a Keeper, &'a IdMapping),
    /// In another container's user and network namespaces (`--network
    /// container:`), whose mapping it shares.
    Joined(&'a crate::net::Joined),
}

/// Clone the container from inside other namespaces without this process
/// ever entering them (it must stay a plain host process: it may run
/// newuidmap, or build steps, afterwards, and a restarting supervisor plans
/// the next run from the host, maybe joining a container started again
/// since). A forked go-between enters them, clones the container as this
/// process's child (CLONE_PARENT), writes a keeper's nested mapping,
/// reports its pid and exits.
fn clone_inside(inside: Inside<'_>, flags: CloneFlags) -> Result<Cloned, Error> {
    let (report_r, report_w) = sync::pipe()?;
    match fork()? {
        Forked::Child => {
            drop(report_r);
            let entered = match &inside {
                Inside::Keeper(k, _) => setns(
                    &k.userns,
                    CloneFlags::CLONE_NEWUSER,
                    "<user namespace keeper>",
                ),
                // The joined container's root may ptrace whatever is in its
                // user namespace: this process is, while still in the host's
                // mount namespace, so it is non-dumpable. The child it clones
                // is made dumpable again at once, as any other start's is:
                // the FUSE driver's server opens its namespaces before its
                // exec, and with --init its pid 1 never execs (exec, health
                // checks and pause open its /proc files).
                Inside::Joined(j) => not_dumpable()
                    .and_then(|()| {
                        setns(
                            &j.user,
                            CloneFlags::CLONE_NEWUSER,
                            "<joined user namespace>",
                        )
                    })
                    .and_then(|()| {
                        setns(
                            &j.net,
                            CloneFlags::CLONE_NEWNET,
                            "<joined network namespace>",
                        )
                    }),
            };
            let report = match entered.and_then(|()| clone_sibling(flags)) {
                Ok(None) => {
                    // Dumpable before this copy of the report pipe closes:
                    // the parent reads the report to its end and then opens
                    // this process's /proc files (the FUSE driver's server
                    // joins its namespaces), which a non-dumpable process
                    // refuses with EACCES. Closed first, the parent raced
                    // this process's first instructions and lost under load.
                    if matches!(inside, Inside::Joined(_)) {
                        crate::sys::process::dumpable_again()?;
                    }
                    drop(report_w);
                    return Ok(Cloned::Child);
                }
                Ok(Some(pid)) => {
                    let mapped = match inside {
                        Inside::Keeper(_, mapping) => mapping.apply_nested(pid.as_raw()),
                        Inside::Joined(_) => Ok(()),
                    };
                    match mapped {
                        Ok(()) => pid.to_string(),
                        Err(e) => {
                            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                            format!("{pid} {e}")
                        }
                    }
                }
                Err(e) => format!("0 {e}"),
            };
            let _ = std::fs::File::from(report_w).write_all(report.as_bytes());
            child_exit(0)
        }
        Forked::Parent(go_between) => {
            drop(report_w);
            let mut report = String::new();
            let _ = std::fs::File::from(report_r).read_to_string(&mut report);
            let _ = waitpid(go_between, None);
            let (pid, msg) = report.split_once(' ').unwrap_or((&report, ""));
            let pid = match pid.parse::<i32>() {
                Ok(p) if p > 0 => Pid::from_raw(p),
                _ if !msg.is_empty() => {
                    return Err(Error::IdMap(crate::userns::Error::Inside(msg.to_string())))
                }
                _ => return Err(Error::GoBetweenDied),
            };
            if !msg.is_empty() {
                let _ = waitpid(pid, None);
                return Err(Error::IdMap(crate::userns::Error::Inside(msg.to_string())));
            }
            let pidfd = pidfd_open(pid.as_raw())?;
            Ok(Cloned::Parent { pid, pidfd })
        }
    }
}

fn parent_main(
    plan: &Plan,
    (child, pidfd): (Pid, OwnedFd),
    gates: Gates,
    err: OwnedFd,
    sock: Option<OwnedFd>,
    observer: &mut dyn Observer,
) -> Result<Exit, Error> {
    // Held so the state can be removed from inside the user namespace after
    // the container is gone (files there may belong to subordinate ids). A
    // joined container's is the one it joined, which the plan already holds.
    let removal = match &plan.remove_after {
        Some(removal) => Some((
            removal,
            match &plan.network {
                Network::Container(j) => j.user.try_clone().map_err(|e| {
                    Error::Sys(SysError::new(
                        "dup(<joined user namespace>)",
                        nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                    ))
                })?,
                _ => open_userns(child)?,
            },
        )),
        None => None,
    };
    let started = start_child(plan, child, gates, err, sock, observer);
    let outcome = match started {
        Ok(s) => {
            let keys = observer.detach_keys();
            let sizes = observer.window_size_file();
            let mut then = || observer.detached();
            let detach = keys.map(|keys| tty::Detach {
                keys,
                then: &mut then,
            });
            let exit = wait(
                child,
                pidfd.as_fd(),
                s.master,
                &plan.process,
                detach,
                sizes.as_deref(),
            );
            observer.exited();
            // The container is gone: its network helper goes too.
            if let Some(h) = s.helper {
                h.stop();
            }
            if let Some(a) = s.attached {
                a.stop();
            }
            if let Some(f) = s.fuse {
                f.finish();
            }
            exit
        }
        Err(e) => {
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(child, None);
            Err(e)
        }
    };
    if let Some(c) = &plan.cgroup {
        c.remove();
    }
    if let Some((removal, userns)) = removal {
        remove_in_userns(removal, &userns)?;
    }
    outcome
}

/// Map ids, attach the network, release the child; Ok once it has exec'd
/// (with the pty master for -t, and the running network helper).
fn start_child(
    plan: &Plan,
    child: Pid,
    gates: Gates,
    err: OwnedFd,
    sock: Option<OwnedFd>,
    observer: &mut dyn Observer,
) -> Result<Started, Error> {
    if let Some(c) = &plan.cgroup {
        c.enter(child.as_raw())?;
        step(observer, || {
            format!("moved pid {child} into {}", c.dir.display())
        });
    }
    if !gates.mapped {
        plan.mapping
            .apply(child.as_raw(), &plan.id_sources)
            .map_err(Error::IdMap)?;
        step(observer, || format!("wrote the id maps of pid {child}"));
    }
    // The helper joins /proc/<child>/ns/{user,net} once the mapping exists
    // and configures the namespace while the child mounts its root
    // filesystem; the child execs only after the second go.
    // The FUSE overlay is mounted and served from outside the container
    // before the child starts its setup over it.
    let fuse = match &plan.rootfs_driver {
        Driver::Fuse(shift) => Some(crate::rootfs::fuse::start(
            child.as_raw(),
            &plan.overlay.lowers,
            &plan.overlay.upper,
            &plan.overlay.work,
            &plan.rootfs_mountpoint,
            shift,
        )?),
        _ => None,
    };
    if fuse.is_some() {
        step(observer, || {
            "mounted the FUSE overlay, served from outside".into()
        });
    }
    let mut helper = match &plan.network {
        Network::None | Network::Host | Network::Container(_) | Network::Bridge(_) => None,
        Network::User(u) => Some(Helper::spawn(&SpawnConfig {
            helper: &u.plan.helper,
            target: Target::Pid(child.as_raw() as u32),
            ports: &u.plan.ports,
            run_dir: &u.run_dir,
            run_as: None,
        })?),
    };
    if helper.is_some() {
        step(observer, || format!("started {}", plan.network.mode()));
    }
    sync::send_go(gates.go)?;
    step(observer, || {
        "released the child into its setup (mounts, pivot_root, confinement)".into()
    });
    if let Some(h) = &mut helper {
        h.wait_ready(HELPER_READY_TIMEOUT)?;
        step(observer, || {
            format!("{} configured the network", plan.network.mode())
        });
    }
    // A user-defined network: the container's namespace is nested in the
    // keeper's (see `net::bridge`), which `Spec` guarantees.
    let attached = match (&plan.network, &plan.keeper) {
        (Network::Bridge(b), Some(k)) => Some(crate::net::bridge::attach(
            b,
            k.pid,
            &plan.mapping.key(),
            child.as_raw(),
            std::time::Instant::now() + HELPER_READY_TIMEOUT,
        )?),
        (Network::Bridge(_), None) => return Err(Error::NoKeeper),
        _ => None,
    };
    if let Some(net) = gates.net {
        // A child that already failed has closed its end; its error is read below.
        let _ = sync::send_go(net);
    }
    let master = match &sock {
        Some(s) => crate::sys::pty::recv_fd(s.as_fd())?,
        None => None,
    };
    if let Some(e) = sync::read_error(err) {
        let _ = waitpid(child, None);
        return Err(Error::Child(e));
    }
    if sock.is_some() && master.is_none() {
        return Err(Error::NoTerminal("container"));
    }
    step(observer, || format!("pid {child} exec'd the command"));
    observer.started(child.as_raw());
    Ok(Started {
        master,
        helper,
        attached,
        fuse,
    })
}

/// What runs beside a started container until it exits.
struct Started {
    /// The pty master for -t.
    master: Option<OwnedFd>,
    helper: Option<Helper>,
    /// A user-defined network's attachment (its port forwarder).
    attached: Option<crate::net::bridge::Attached>,
    /// Reaped when dropped, after the container is gone.
    fuse: Option<crate::rootfs::fuse::Server>,
}

/// Relay the terminal (with `master`) or forward signals until `child`
/// exits; how it ended. `join` uses it for `hutch exec` too. `detach`:
/// the terminal relay's detach keys, `sizes` its window size file (see
/// `tty::relay`).
pub(super) fn wait(
    child: Pid,
    pidfd: BorrowedFd<'_>,
    master: Option<OwnedFd>,
    process: &super::ProcessSpec,
    detach: Option<tty::Detach<'_>>,
    sizes: Option<&std::path::Path>,
) -> Result<Exit, Error> {
    let sfd = SignalFd::with_flags(&signal::forwarded(), SfdFlags::SFD_CLOEXEC)
        .map_err(|e| SysError::new("signalfd(<forwarded signals>)", e))?;
    let status = match master {
        Some(m) => tty::relay(m, child, pidfd, process.stdin, &sfd, detach, sizes)?,
        None => forward_until_exit(child, pidfd, &sfd, !process.no_sig_proxy)?,
    };
    match status {
        WaitStatus::Exited(_, c) => Ok(Exit::Code(c)),
        WaitStatus::Signaled(_, s, _) => Ok(Exit::Signal(s as i32)),
        other => Err(Error::WaitStatus(other)),
    }
}

/// Without a terminal: pass the signals hutch gets on to pid 1 (Docker's
/// sig-proxy; with `proxy` false they are read and dropped) until it exits.
fn forward_until_exit(
    child: Pid,
    pidfd: BorrowedFd<'_>,
    sfd: &SignalFd,
    proxy: bool,
) -> Result<WaitStatus, Error> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::Signal;
    loop {
        let mut fds = [
            PollFd::new(pidfd, PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(SysError::new("poll(<pidfd>, <signalfd>)", e).into()),
        }
        let exited = fds[0].revents().is_some_and(|r| !r.is_empty());
        let signalled = fds[1].revents().is_some_and(|r| !r.is_empty());
        if signalled {
            if let Ok(Some(info)) = sfd.read_signal() {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGWINCH) | Err(_) => {}
                    Ok(_) if !proxy => {}
                    Ok(sig) => {
                        let _ = nix::sys::signal::kill(child, sig);
                    }
                }
            }
        }
        if exited {
            return waitpid(child, None)
                .map_err(|e| SysError::new(format!("waitpid({child})"), e).into());
        }
    }
}

fn open_userns(child: Pid) -> Result<OwnedFd, Error> {
    let p = format!("/proc/{child}/ns/user");
    std::fs::File::open(&p).map(OwnedFd::from).map_err(|e| {
        Error::Sys(SysError::new(
            format!("open({p})"),
            nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        ))
    })
}

/// Rename the directory away, join the container's user namespace and
/// delete it. The directory's flock is held from before the rename until
/// the deletion ends, so that another command waiting for it finds the
/// directory gone and a listing of renamed directories can tell this
/// removal from an interrupted one; a directory already gone (an `rm -f`
/// got to it first) is left so. Joining makes this process root there,
/// with the right to remove files owned by any id the namespace maps;
/// nothing else runs in this process afterwards. The namespace is empty
/// once the container is gone, unless it is the one a `--network
/// container:` start joined, whose processes live on: so this process
/// becomes non-dumpable first, as anything must that enters a container's
/// user namespace from the host's mount namespace.
fn remove_in_userns(removal: &Removal, ns: &OwnedFd) -> Result<(), Error> {
    let failed = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| Error::Remove { path, source }
    };
    let Some(_held) = flock::lock_existing(&removal.dir, flock::Mode::Exclusive)? else {
        return Ok(());
    };
    std::fs::rename(&removal.dir, &removal.renamed).map_err(failed(&removal.dir))?;
    crate::fault::point("rm-renamed");
    not_dumpable()?;
    setns(ns, CloneFlags::CLONE_NEWUSER, "<container user namespace>")?;
    std::fs::remove_dir_all(&removal.renamed).map_err(failed(&removal.renamed))
}
