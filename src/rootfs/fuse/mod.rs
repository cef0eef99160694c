//! hutch's own FUSE overlay: the root filesystem driver for kernels or
//! setups where native overlayfs cannot be mounted in a user namespace, and
//! for keep-id without a chown copy of the image (owners are translated on
//! the fly, see [`IdShift`]).
//!
//! [`start`] runs in the sandbox's parent, after the container's pid 1 is
//! cloned and mapped and before it is released. It forks the server, which
//! becomes non-dumpable and joins the container's user namespace only: it
//! stays in the host's mount and pid namespaces, so the container neither
//! sees it (`ps`, pid numbers) nor can reach it, and it reads the layers by
//! their host paths. A short-lived helper of the server joins the
//! container's mount namespace, opens `/dev/fuse` and mounts it on the root
//! mount point (no fusermount: the namespace's root may mount FUSE), hands
//! the descriptor back and exits. When the container ends its mount
//! namespace goes, the kernel aborts the FUSE connection, and the server
//! exits; the sandbox's parent reaps it ([`Server`]).
//!
//! It does not decide when FUSE is used (that is `rootfs::driver`).

pub mod fs;
pub mod ids;
mod node;

pub use ids::IdShift;

use crate::sys::fuse as sys;
use crate::sys::process::{child_exit, close_fds_except, fork, setns, Forked};
use crate::sys::SysError;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Worker threads: each waits on its own clone of the FUSE descriptor, so
/// independent requests (a `find` and a `cat`) are served at once.
const THREADS: usize = 4;

/// How long the server may take to exit once its container is gone (it
/// normally takes milliseconds) before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A running server. [`Server::finish`] reaps it once its container is
/// gone; dropping it without that (a start that failed) kills it.
#[derive(Debug)]
pub struct Server {
    pid: Option<Pid>,
}

impl Server {
    /// Wait for the server to end by itself, as it does once the container's
    /// mount namespace is gone; kill it if it does not within a grace period.
    pub fn finish(mut self) {
        let Some(pid) = self.pid.take() else { return };
        let until = Instant::now() + EXIT_GRACE;
        while let Ok(WaitStatus::StillAlive) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            if Instant::now() >= until {
                kill(pid);
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            kill(pid);
        }
    }
}

fn kill(pid: Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = waitpid(pid, None);
}

/// Mount the overlay of `lowers` (lowest layer first, as the store lists
/// them) over `upper` (with `work`, an empty directory beside it) on
/// `target` inside the namespaces of process `pid` (the container's pid 1,
/// mapped, not yet released), and serve it.
///
/// The caller must be single-threaded (it forks).
pub fn start(
    pid: i32,
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    shift: &IdShift,
) -> Result<Server, SysError> {
    let ns = |what: &str| -> Result<OwnedFd, SysError> {
        let p = format!("/proc/{pid}/ns/{what}");
        std::fs::File::open(&p).map(OwnedFd::from).map_err(|e| {
            SysError::new(
                format!("open({p})"),
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        })
    };
    let (userns, mntns) = (ns("user")?, ns("mnt")?);
    let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| SysError::new("pipe2(O_CLOEXEC)", e))?;
    match fork()? {
        Forked::Parent(server) => {
            drop(ready_w);
            let mut report = String::new();
            let _ = std::fs::File::from(ready_r).read_to_string(&mut report);
            let server = Server { pid: Some(server) };
            if report == "ok" {
                return Ok(server);
            }
            drop(server);
            let msg = if report.is_empty() {
                "the FUSE server died while starting".to_string()
            } else {
                report
            };
            Err(SysError::new(
                format!("starting the FUSE overlay on {}: {msg}", target.display()),
                Errno::EIO,
            ))
        }
        Forked::Child => {
            drop(ready_r);
            let mut ready = std::fs::File::from(ready_w);
            let keep = [userns.as_raw_fd(), mntns.as_raw_fd(), ready.as_raw_fd()];
            let dirs = (lowers, upper, work);
            let fs = match prepare(userns, mntns, &keep, dirs, target, shift) {
                Ok(fs) => fs,
                Err(e) => {
                    let _ = ready.write_all(e.as_bytes());
                    child_exit(1)
                }
            };
            // The report ends with the pipe: close it before serving.
            let _ = ready.write_all(b"ok");
            drop(ready);
            let (fs, dev) = fs;
            child_exit(if serve(fs, dev).is_ok() { 0 } else { 1 })
        }
    }
}

/// The server process before it serves: become part of the container's
/// user namespace, have the mount made, open the layers.
fn prepare(
    userns: OwnedFd,
    mntns: OwnedFd,
    keep: &[i32],
    (lowers, upper, work): (&[PathBuf], &Path, &Path),
    target: &Path,
    shift: &IdShift,
) -> Result<(fs::OverlayFs, OwnedFd), String> {
    let s = |e: SysError| e.to_string();
    crate::sys::signal::kill_with_parent().map_err(s)?;
    // Out of the terminal's process group: it serves a run that may detach
    // from the terminal, whose hang-up must not end it.
    crate::sys::process::leave_process_group().map_err(s)?;
    crate::sys::stdio::all_to_dev_null().map_err(s)?;
    close_fds_except(keep).map_err(s)?;
    // Root in the container's user namespace, yet in the host's mount
    // namespace: nothing in the container may ptrace it or read its memory.
    nix::sys::prctl::set_dumpable(false).map_err(|e| format!("prctl(PR_SET_DUMPABLE) => {e}"))?;
    match setns(
        &userns,
        CloneFlags::CLONE_NEWUSER,
        "<container user namespace>",
    ) {
        // Already there: a container joining another's user namespace.
        Err(e) if e.errno == Errno::EINVAL => {}
        r => r.map_err(s)?,
    }
    drop(userns);
    let dev = mount_in(mntns, target)?;
    let open = |p: &Path| sys::open_path(p).map_err(s);
    let layers = fs::Layers {
        upper: open(upper)?,
        lowers: lowers
            .iter()
            .rev()
            .map(|l| open(l))
            .collect::<Result<_, _>>()?,
        work: open(work)?,
        proc: open(Path::new("/proc"))?,
    };
    sys::raise_nofile_limit();
    // This process only serves: every file it makes below is given its
    // mode explicitly (copy-ups are chmodded after, whiteouts are 0).
    sys::clear_umask();
    let fs = fs::OverlayFs::new(layers, shift.clone()).map_err(|e| format!("{e}"))?;
    Ok((fs, dev))
}

/// Fork a helper that joins mount namespace `mntns`, mounts FUSE on
/// `target` and hands the /dev/fuse descriptor back. Only the helper
/// enters: a server inside the namespace would keep it, and so its own
/// mount, alive forever.
fn mount_in(mntns: OwnedFd, target: &Path) -> Result<OwnedFd, String> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let (mine, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| format!("socketpair => {e}"))?;
    match fork().map_err(|e| e.to_string())? {
        Forked::Child => {
            drop(mine);
            let r = setns(
                &mntns,
                CloneFlags::CLONE_NEWNS,
                "<container mount namespace>",
            )
            .and_then(|()| mount_here(target))
            .and_then(|dev| crate::sys::pty::send_fd(theirs.as_fd(), dev.as_fd()));
            child_exit(if r.is_ok() { 0 } else { 1 })
        }
        Forked::Parent(helper) => {
            drop(theirs);
            drop(mntns);
            let dev = crate::sys::pty::recv_fd(mine.as_fd()).map_err(|e| e.to_string());
            let _ = waitpid(helper, None);
            dev?.ok_or_else(|| {
                format!("cannot mount FUSE on {} in the container", target.display())
            })
        }
    }
}

/// Read a small config file (`path` inside `root`, with
/// [`crate::rootfs::read::config_file`]'s limits) from a container's FUSE
/// root as a member of its user namespace `userns`: the kernel lets only
/// that namespace and its children use a FUSE mount made in it (fuse(4),
/// `allow_other`), not the host. A forked, non-dumpable child joins and
/// reads; this process stays put.
pub fn read_as_member(userns: &OwnedFd, root: &Path, path: &str) -> std::io::Result<String> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    match fork().map_err(|e| std::io::Error::other(e.to_string()))? {
        Forked::Child => {
            drop(r);
            let ok = nix::sys::prctl::set_dumpable(false).is_ok()
                && setns(
                    userns,
                    CloneFlags::CLONE_NEWUSER,
                    "<container user namespace>",
                )
                .is_ok()
                && super::read::config_file(root, path)
                    .map_err(std::io::Error::other)
                    .and_then(|text| std::fs::File::from(w).write_all(text.as_bytes()))
                    .is_ok();
            child_exit(if ok { 0 } else { 1 })
        }
        Forked::Parent(child) => {
            drop(w);
            let mut out = String::new();
            let read = std::fs::File::from(r).read_to_string(&mut out);
            let status = waitpid(child, None);
            match (read, status) {
                (Ok(_), Ok(WaitStatus::Exited(_, 0))) => Ok(out),
                (Err(e), _) => Err(e),
                _ => Err(std::io::Error::other(format!(
                    "cannot read {path} in {}",
                    root.display()
                ))),
            }
        }
    }
}

/// Open /dev/fuse and mount it on `target` in this mount namespace.
fn mount_here(target: &Path) -> Result<OwnedFd, SysError> {
    let dev = sys::open_dev_fuse(Path::new("/dev/fuse"))?;
    sys::mount_fuse(
        dev.as_fd(),
        target,
        "hutch-overlay",
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
        "default_permissions,allow_other",
    )?;
    Ok(dev)
}

/// Answer requests on `dev` until the mount goes away.
fn serve(fs: fs::OverlayFs, dev: OwnedFd) -> std::io::Result<()> {
    let mut config = fuser::Config::default();
    config.acl = fuser::SessionACL::All;
    config.n_threads = Some(THREADS);
    config.clone_fd = true;
    fuser::Session::from_fd(fs, dev, fuser::SessionACL::All, config)?.run()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
    use crate::userns::run::run_in_userns;
    use std::ffi::CString;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn xattr(p: &Path, key: &str) -> Option<Vec<u8>> {
        let f = std::fs::File::open(p).ok()?;
        sys::fgetxattr(f.as_fd(), &CString::new(key).unwrap()).ok()
    }

    fn set_xattr(p: &Path, key: &str, v: &[u8]) -> Result<(), String> {
        let f = std::fs::File::open(p).map_err(|e| e.to_string())?;
        sys::fsetxattr(f.as_fd(), &CString::new(key).unwrap(), v, 0).map_err(|e| e.to_string())
    }

    /// Mounts the FUSE overlay of `lower` and `upper` (work dir `work`) on
    /// `mnt` in a new user and mount namespace, runs `check` there, then
    /// unmounts and ends the server. `before` runs in that namespace just
    /// before the server starts (it inherits what `before` sets).
    pub(super) fn with_mounted(
        (lower, upper, work, mnt): (&Path, &Path, &Path, &Path),
        before: impl FnOnce(),
        check: impl FnOnce() -> Result<(), String>,
    ) {
        let map = IdMapping::detect(UsernsRequest::Single, &IdSources::default()).unwrap();
        run_in_userns(&map, &IdSources::default(), || {
            crate::sys::cred::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                .map_err(|e| e.to_string())?;
            before();
            let me = std::process::id() as i32;
            let lowers = [lower.to_path_buf()];
            let server = start(me, &lowers, upper, work, mnt, &IdShift::default())
                .map_err(|e| e.to_string())?;
            let checked = check();
            let _ = crate::sys::mount::umount_detach(mnt);
            server.finish();
            checked
        })
        .unwrap();
    }

    #[test]
    fn xattrs_survive_copy_up_and_overlay_keys_stay_hidden() {
        let d = tempfile::tempdir().unwrap();
        let (lower, upper, mnt) = (d.path().join("l"), d.path().join("u"), d.path().join("m"));
        let work = d.path().join("w");
        for p in [&lower, &upper, &work, &mnt] {
            std::fs::create_dir(p).unwrap();
        }
        let f = lower.join("f");
        std::fs::write(&f, "data").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        set_xattr(&f, "user.kept", b"1").unwrap();
        std::fs::create_dir(lower.join("o")).unwrap();
        set_xattr(&lower.join("o"), "user.overlay.opaque", b"y").unwrap();
        let mtime = std::fs::metadata(&f).unwrap().mtime();
        let m = mnt.join("f");
        with_mounted(
            (&lower, &upper, &work, &mnt),
            || {},
            || {
                if xattr(&m, "user.kept").as_deref() != Some(b"1") {
                    return Err("lower xattr not seen".to_string());
                }
                if xattr(&mnt.join("o"), "user.overlay.opaque").is_some() {
                    return Err("overlay xattr shown".into());
                }
                set_xattr(&m, "user.new", b"2")?;
                if set_xattr(&m, "user.overlay.opaque", b"y").is_ok() {
                    return Err("overlay xattr settable".into());
                }
                Ok(())
            },
        );
        // The copy-up took data, mode, mtime and xattrs along.
        let up = upper.join("f");
        assert_eq!(std::fs::read_to_string(&up).unwrap(), "data");
        let m = std::fs::metadata(&up).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(m.mtime(), mtime);
        assert_eq!(xattr(&up, "user.kept").as_deref(), Some(&b"1"[..]));
        assert_eq!(xattr(&up, "user.new").as_deref(), Some(&b"2"[..]));
        assert_eq!(xattr(&f, "user.new"), None, "the lower file is untouched");
    }

    /// The container's umask reaches the server with each request and is
    /// applied there; the server's own, inherited from whoever ran hutch,
    /// must not strip the modes again.
    #[test]
    fn server_umask_does_not_apply_on_top_of_the_callers() {
        use nix::sys::stat::{umask, Mode};
        let d = tempfile::tempdir().unwrap();
        let p = |n: &str| {
            let p = d.path().join(n);
            std::fs::create_dir(&p).unwrap();
            p
        };
        let (lower, upper, work, mnt) = (p("l"), p("u"), p("w"), p("m"));
        // Only the forked child's umask changes: the server starts under 077,
        // the caller works under 022.
        let before = || {
            umask(Mode::from_bits_truncate(0o077));
        };
        with_mounted((&lower, &upper, &work, &mnt), before, || {
            umask(Mode::from_bits_truncate(0o022));
            let mode = |p: &Path| {
                std::fs::symlink_metadata(p)
                    .map(|m| m.mode() & 0o7777)
                    .map_err(|e| e.to_string())
            };
            std::fs::create_dir(mnt.join("d")).map_err(|e| e.to_string())?;
            std::fs::write(mnt.join("f"), "").map_err(|e| e.to_string())?;
            nix::unistd::mkfifo(&mnt.join("p"), Mode::from_bits_truncate(0o666))
                .map_err(|e| e.to_string())?;
            let got = [
                mode(&mnt.join("d"))?,
                mode(&mnt.join("f"))?,
                mode(&mnt.join("p"))?,
            ];
            if got != [0o755, 0o644, 0o644] {
                let [dir, file, fifo] = got;
                return Err(format!("modes under umask 022: {dir:o} {file:o} {fifo:o}"));
            }
            Ok(())
        });
    }
}
