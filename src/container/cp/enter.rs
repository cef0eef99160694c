//! Running a piece of `cp` with a container's root as "/" and as the root of
//! its user namespace: a forked child that joins a running container's user
//! and mount namespaces (after setns(2) of a mount namespace, "/" is the
//! container's root), or, for a stopped container, mounts its root
//! filesystem in a private mount namespace of a fresh user namespace with
//! the container's id mapping and chroots into it. Either way every path
//! the work opens, symbolic links included, resolves inside the container
//! (the CVE-2018-15664 class of escapes is closed by construction).
//!
//! The work's only way out is the descriptors it inherited (a temp file,
//! stdin, stdout); its errors come back as text, hutch's own typed.

use super::super::{launch, state, Containers, Record};
use crate::dirs::Dirs;
use crate::rootfs::{driver, Driver, DriverKind, Features, MountApi, Overlay};
use crate::sys::process::{child_exit, fork, setns, Forked};
use crate::userns::idmap::IdSources;
use nix::sched::CloneFlags;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

/// Why a container could not be entered, or what the work inside said.
#[derive(Debug, thiserror::Error)]
pub enum EnterError {
    #[error("it was removed meanwhile")]
    Removed,
    #[error("it is neither running nor stopped (starting or stopping); try again")]
    Busy,
    #[error(transparent)]
    Record(#[from] super::super::Error),
    #[error("cannot open the {ns} namespace of container {name}: {error}")]
    Namespace {
        ns: &'static str,
        name: String,
        error: std::io::Error,
    },
    #[error("container {0} exited while hutch was joining it")]
    Exited(String),
    #[error("pipe2: {0}")]
    Pipe(nix::Error),
    #[error("waitpid: {0}")]
    Wait(nix::Error),
    #[error(transparent)]
    Fork(#[from] crate::sys::SysError),
    #[error("the copy helper ended with {0:?}")]
    Helper(nix::sys::wait::WaitStatus),
    /// The work's error, or the helper's own, as it came back across the
    /// fork.
    #[error("{0}")]
    Inside(String),
    #[error(transparent)]
    Launch(#[from] launch::Error),
    /// Why the storage driver that reads its upper dir cannot be used.
    #[error(transparent)]
    NoOverlay(driver::Unusable),
    #[error(
        "container {name} is stopped and uses the fuse storage driver, whose upper dir \
         cp reads through native overlay ({why}): start it, then copy"
    )]
    StoppedFuse {
        name: String,
        #[source]
        why: driver::Unusable,
    },
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("cannot create the skeleton layer: {0}")]
    Skeleton(std::io::Error),
    #[error(transparent)]
    Userns(#[from] crate::userns::Error),
}

/// Run `work` inside container `rec`'s root; its error text, or why the
/// container could not be entered.
pub fn in_container(
    dirs: &Dirs,
    containers: &Containers,
    rec: &Record,
    work: impl FnOnce() -> Result<(), String>,
) -> Result<(), EnterError> {
    // A container between states (starting, or stopping with its exit not
    // yet recorded, or restarted by its policy) is waited for, briefly.
    for _ in 0..100 {
        let rec = containers.read(&rec.id).ok_or(EnterError::Removed)?;
        if let Some(pid) = running_pid(&rec) {
            match namespaces(&rec, pid) {
                Ok(ns) => return in_running(ns, work),
                // pid 1 ended while hutch looked (its namespaces go at its
                // exit, before its parent reaps it; a restart policy starts
                // another): look again.
                Err(EnterError::Exited(_)) => {}
                Err(EnterError::Namespace { error, .. })
                    if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            continue;
        }
        // Stopped: hold its lock so that no start mounts the same upper
        // dir meanwhile.
        let lock = containers.lock(&rec.id)?;
        let rec = containers.read(&rec.id).ok_or(EnterError::Removed)?;
        if !state::observe(&rec).is_running() {
            let done = in_stopped(dirs, containers, &rec, work);
            drop(lock);
            return done;
        }
        drop(lock);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(EnterError::Busy)
}

fn running_pid(rec: &Record) -> Option<i32> {
    let pid = rec.pid?;
    (state::observe(rec).is_running() && rec.init.is_some_and(|p| p.alive())).then_some(pid)
}

/// The user and mount namespaces of running container `rec` (pid 1 is
/// `pid`).
fn namespaces(rec: &Record, pid: i32) -> Result<(OwnedFd, OwnedFd), EnterError> {
    let open = |ns: &'static str| -> Result<OwnedFd, EnterError> {
        std::fs::File::open(format!("/proc/{pid}/ns/{ns}"))
            .map(OwnedFd::from)
            .map_err(|error| EnterError::Namespace {
                ns,
                name: rec.name.clone(),
                error,
            })
    };
    let user = open("user")?;
    let mnt = open("mnt")?;
    // The descriptors pin the namespaces: once pid 1 is still the
    // container's, they are the container's.
    if !rec.init.is_some_and(|p| p.alive()) {
        return Err(EnterError::Exited(rec.name.clone()));
    }
    Ok((user, mnt))
}

fn in_running(
    (user, mnt): (OwnedFd, OwnedFd),
    work: impl FnOnce() -> Result<(), String>,
) -> Result<(), EnterError> {
    in_child(move || {
        // Before joining: the container's root must not be able to ptrace a
        // process that holds host descriptors.
        crate::sys::process::set_cmdline("hutch-cp").map_err(|e| e.to_string())?;
        crate::sys::process::not_dumpable().map_err(|e| e.to_string())?;
        setns(
            &user,
            CloneFlags::CLONE_NEWUSER,
            "<container user namespace>",
        )
        .map_err(|e| e.to_string())?;
        setns(&mnt, CloneFlags::CLONE_NEWNS, "<container mount namespace>")
            .map_err(|e| e.to_string())?;
        drop((user, mnt));
        become_root();
        work()
    })
}

/// Root of the namespace when it is mapped (keep-id with a single id has
/// only the caller's id: the work then runs as that).
fn become_root() {
    use crate::sys::cred::{setgroups, setresgid, setresuid};
    use nix::unistd::{Gid, Uid};
    let g = Gid::from_raw(0);
    if setresgid(g, g, g).is_ok() {
        let _ = setgroups(&[]);
    }
    let u = Uid::from_raw(0);
    let _ = setresuid(u, u, u);
}

/// Fork, run `f` in the child, wait; the child's error text.
fn in_child(f: impl FnOnce() -> Result<(), String>) -> Result<(), EnterError> {
    let (err_r, err_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(EnterError::Pipe)?;
    match fork()? {
        Forked::Child => {
            drop(err_r);
            let code = match f() {
                Ok(()) => 0,
                Err(msg) => {
                    let _ = std::fs::File::from(err_w).write_all(msg.as_bytes());
                    1
                }
            };
            child_exit(code)
        }
        Forked::Parent(pid) => {
            drop(err_w);
            let mut msg = String::new();
            let _ = std::fs::File::from(err_r)
                .take(64 * 1024)
                .read_to_string(&mut msg);
            let status = nix::sys::wait::waitpid(pid, None).map_err(EnterError::Wait)?;
            match status {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                _ if !msg.is_empty() => Err(EnterError::Inside(msg)),
                other => Err(EnterError::Helper(other)),
            }
        }
    }
}

fn in_stopped(
    dirs: &Dirs,
    containers: &Containers,
    rec: &Record,
    work: impl FnOnce() -> Result<(), String>,
) -> Result<(), EnterError> {
    let (store, image, mapping) = launch::resolve(dirs, rec)?;
    let features = Features::load_or_probe(&dirs.state);
    let overlay_api = || match driver::unusable(DriverKind::Overlay, &features) {
        None => Ok(Driver::Overlay(
            features.overlay.unwrap_or(MountApi::Legacy),
        )),
        Some(why) => Err(why),
    };
    let driver = match rec.config.storage_driver.as_str() {
        "copy" => Driver::Copy,
        // A FUSE container's upper dir has overlayfs's format: native
        // overlayfs reads it the same way, where the kernel allows.
        "fuse" => overlay_api().map_err(|why| EnterError::StoppedFuse {
            name: rec.name.clone(),
            why,
        })?,
        _ => overlay_api().map_err(EnterError::NoOverlay)?,
    };
    let src = IdSources::default();
    let skeleton = crate::rootfs::skeleton::ensure(&dirs.state).map_err(EnterError::Skeleton)?;
    let mut lowers = vec![skeleton];
    lowers.extend(store.layer_dirs(&image, &mapping, &src, &crate::report::Silent)?);
    let dir = containers.dir(&rec.id);
    let overlay = Overlay {
        lowers,
        data: Vec::new(),
        upper: dir.join("upper"),
        work: dir.join("work"),
        volatile: false,
    };
    // Native overlay goes over the directory itself, as a start's root does
    // (see `launch`): the mount namespace below is this process's own, and
    // nothing after the mount reads the directory's entries (the binds'
    // sources are volumes and host paths). The copy driver binds a tree
    // of the directory, over the `rootfs/` it was created with.
    let root = match driver {
        Driver::Overlay(_) => dir.clone(),
        _ => dir.join(launch::ROOTFS_DIR),
    };
    let binds = volume_binds(dirs, rec);
    use crate::sys::mount::{enter_root, mount, Flags};
    // Mounted as the caller (see `run_in_userns_as_caller_first`): with
    // keep-id the namespace's root may not traverse the store's parents.
    let mounts = || {
        crate::sys::cred::unshare(CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
        mount(
            None,
            std::path::Path::new("/"),
            None,
            Flags::MS_REC | Flags::MS_PRIVATE,
            None,
        )
        .map_err(|e| e.to_string())?;
        overlay
            .mount(&root, &driver, &dir)
            .map_err(|e| e.to_string())?;
        // Its volumes and bind mounts, where a start would put them: a copy
        // under one of them lands in it, as Docker's does.
        for (source, target, read_only) in &binds {
            let t = crate::rootfs::resolve::resolve_in_root(&root, target)
                .map_err(|e| format!("{}: {e}", target.display()))?;
            std::fs::create_dir_all(&t).map_err(|e| format!("{}: {e}", target.display()))?;
            let s = source.to_string_lossy();
            mount(Some(&s), &t, None, Flags::MS_BIND | Flags::MS_REC, None)
                .map_err(|e| e.to_string())?;
            if *read_only {
                crate::sys::mount::setattr_recursive(&t, crate::sys::mount::MOUNT_ATTR_RDONLY)
                    .map_err(|e| e.to_string())?;
            }
        }
        // Entered here too: its root is then reached from the working dir.
        std::env::set_current_dir(&root).map_err(|e| format!("{}: {e}", root.display()))
    };
    crate::userns::run::run_in_userns_as_caller_first(&mapping, &src, mounts, || {
        enter_root(Path::new(".")).map_err(|e| e.to_string())?;
        work()
    })?;
    Ok(())
}

/// The directory mounts (volumes and binds) of a stopped container: host
/// source, container path (relative), read-only. Tmpfs mounts hold nothing
/// while it is stopped; sources gone since are left out.
fn volume_binds(dirs: &Dirs, rec: &Record) -> Vec<(std::path::PathBuf, std::path::PathBuf, bool)> {
    use crate::sandbox::MountSpec;
    let volumes = crate::volume::Volumes::new(&dirs.store);
    let dir = std::path::Path::new("/");
    let mut binds = super::super::mounts::of_record(rec)
        .iter()
        .enumerate()
        .filter_map(|(i, m)| super::super::mounts::to_spec(m, &volumes, dir, i).ok())
        .filter_map(|spec| match spec {
            MountSpec::Bind {
                source,
                target,
                read_only,
            }
            | MountSpec::Volume {
                source,
                target,
                read_only,
                ..
            } if source.is_dir() => {
                let rel = crate::sandbox::plan::container_path(&target).ok()?;
                Some((source, rel, read_only))
            }
            _ => None,
        })
        .collect::<Vec<_>>();
    // Parents before children, as a start mounts them.
    binds.sort_by_key(|b| b.1.components().count());
    binds
}
