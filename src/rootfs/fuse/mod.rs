//! hutch's own FUSE overlay: the root filesystem driver for kernels or
//! setups where native overlayfs cannot be mounted in a user namespace, and
//! for keep-id without a chown copy of the image (owners are translated on
//! the fly, see [`IdShift`]).
//!
//! [`mount`] runs in the sandbox child, inside the container's user and mount
//! namespaces and before pivot_root: it opens `/dev/fuse`, mounts it itself
//! (no fusermount: the namespace's root may mount FUSE) and forks the server.
//! The server is a child of the container's pid 1, so when pid 1 exits the
//! kernel kills it with the rest of the pid namespace, and the mount goes
//! with the mount namespace: nothing is left behind.
//!
//! It does not decide when FUSE is used (that is `rootfs::driver`).

pub mod fs;
pub mod ids;
mod node;

pub use ids::IdShift;

use crate::sys::fuse as sys;
use crate::sys::process::{child_exit, close_fds_except, fork, Forked};
use crate::sys::SysError;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Worker threads: each waits on its own clone of the FUSE descriptor, so
/// independent requests (a `find` and a `cat`) are served at once.
const THREADS: usize = 4;

/// Mount the overlay of `lowers` (lowest layer first, as the store lists
/// them) over `upper` on `target`, and start its server.
///
/// Call only in a single-threaded process inside the user and mount
/// namespaces that will use the mount, while `upper`, the lowers and `/proc`
/// are still reachable by path (before pivot_root).
pub fn mount(
    lowers: &[PathBuf],
    upper: &Path,
    target: &Path,
    shift: &IdShift,
) -> Result<(), SysError> {
    let dev = sys::open_dev_fuse(Path::new("/dev/fuse"))?;
    let open = |p: &Path| sys::open_path(p);
    let upper_fd = open(upper)?;
    let lower_fds = lowers
        .iter()
        .rev()
        .map(|l| open(l))
        .collect::<Result<Vec<_>, _>>()?;
    let proc = open(Path::new("/proc"))?;
    sys::mount_fuse(
        dev.as_fd(),
        target,
        "hutch-overlay",
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
        "default_permissions,allow_other",
    )?;
    match fork()? {
        Forked::Parent(_) => Ok(()),
        Forked::Child => {
            let mut keep: Vec<i32> = vec![dev.as_raw_fd(), upper_fd.as_raw_fd(), proc.as_raw_fd()];
            keep.extend(lower_fds.iter().map(|f| f.as_raw_fd()));
            // The container's pipes and terminal must not be held open by
            // the server (a reader would wait for it), nor anything else.
            let ready = crate::sys::stdio::all_to_dev_null().and_then(|()| close_fds_except(&keep));
            if ready.is_err() {
                child_exit(1);
            }
            sys::raise_nofile_limit();
            let layers = fs::Layers {
                upper: upper_fd,
                lowers: lower_fds,
                proc,
            };
            child_exit(match serve(dev, layers, shift.clone()) {
                Ok(()) => 0,
                Err(_) => 1,
            })
        }
    }
}

/// Answer requests on `dev` until the mount goes away.
fn serve(dev: OwnedFd, layers: fs::Layers, shift: IdShift) -> std::io::Result<()> {
    let fs = fs::OverlayFs::new(layers, shift).map_err(std::io::Error::from)?;
    let mut config = fuser::Config::default();
    config.acl = fuser::SessionACL::All;
    config.n_threads = Some(THREADS);
    config.clone_fd = true;
    fuser::Session::from_fd(fs, dev, fuser::SessionACL::All, config)?.run()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::idmap::{IdMapping, IdSources, UsernsRequest};
    use crate::sandbox::userns::run_in_userns;
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

    #[test]
    fn xattrs_survive_copy_up_and_overlay_keys_stay_hidden() {
        let d = tempfile::tempdir().unwrap();
        let (lower, upper, mnt) = (d.path().join("l"), d.path().join("u"), d.path().join("m"));
        for p in [&lower, &upper, &mnt] {
            std::fs::create_dir(p).unwrap();
        }
        let f = lower.join("f");
        std::fs::write(&f, "data").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        set_xattr(&f, "user.kept", b"1").unwrap();
        std::fs::create_dir(lower.join("o")).unwrap();
        set_xattr(&lower.join("o"), "user.overlay.opaque", b"y").unwrap();
        let mtime = std::fs::metadata(&f).unwrap().mtime();
        let map = IdMapping::detect(UsernsRequest::Single, &IdSources::default()).unwrap();
        let r = run_in_userns(&map, &IdSources::default(), || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| e.to_string())?;
            mount(
                std::slice::from_ref(&lower),
                &upper,
                &mnt,
                &IdShift::default(),
            )
            .map_err(|e| e.to_string())?;
            let m = mnt.join("f");
            let check = (|| {
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
            })();
            let _ = crate::sys::mount::umount_detach(&mnt);
            check
        });
        r.unwrap();
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
}
