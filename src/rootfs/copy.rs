//! The last-resort storage driver: the container's root is a private copy
//! of the image's layers (whiteouts and opaque directories applied), made
//! on its first start and bind-mounted on later ones.
//!
//! Hard links into the shared layer cache would be cheap but are not safe:
//! a container writing to a linked file would change the image for every
//! other container, and nothing short of a copy-on-write filesystem can
//! stop that. So files are copied, with copy_file_range(2), which shares
//! extents on filesystems that can (XFS, btrfs) and copies elsewhere. Hard
//! links among one layer's files stay hard links in the copy (busybox's
//! hundreds of applet names are one file, not hundreds of copies).
//!
//! The copy has no upper dir of changes; `changes` makes one on demand
//! (commit, diff, build's RUN) by comparing the copy with the layers.
//!
//! It runs in the sandbox child (root in the container's user namespace,
//! so owners are kept as the layers have them). It never touches the layers.

mod changes;
pub use changes::changes;

use super::merge::{is_opaque, is_whiteout};
use crate::sys::fuse as sys;
use crate::sys::mount::{mount as sys_mount, Flags};
use crate::sys::SysError;
use nix::errno::Errno;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The first name each multiply-linked file of one layer got in the copy:
/// (device, inode) in the layer → (directory in the copy, name).
type Links = HashMap<(u64, u64), (Rc<OwnedFd>, CString)>;

/// Make `copy` from `lowers` (lowest first) unless it exists, and
/// bind-mount it on `target`.
pub fn mount(lowers: &[PathBuf], copy: &Path, target: &Path) -> Result<(), SysError> {
    if !copy.is_dir() {
        build(lowers, copy)?;
    }
    let src = copy.to_string_lossy();
    sys_mount(
        Some(&src),
        target,
        None,
        Flags::MS_BIND | Flags::MS_REC,
        None,
    )
}

/// Build the copy in a temporary directory and rename it into place, so a
/// start that dies half-way leaves no half copy behind to be used.
fn build(lowers: &[PathBuf], copy: &Path) -> Result<(), SysError> {
    let tmp = copy.with_file_name("copy.tmp");
    let at = |call: &str, p: &Path, e: Errno| SysError::new(format!("{call}({})", p.display()), e);
    let io = |call: &str, p: &Path, e: std::io::Error| {
        at(
            call,
            p,
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io("rmdir", &tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| io("mkdir", &tmp, e))?;
    let dst = sys::open_path(&tmp)?;
    for layer in lowers {
        let src = sys::open_path(layer)?;
        let mut links = Links::new();
        apply_dir(
            src.as_fd(),
            Rc::new(reopen_path(dst.as_fd()).map_err(|e| at("open", &tmp, e))?),
            &mut links,
        )
        .map_err(|e| at("copy", layer, e))?;
        // The root directory's own owner, mode and times come from the layer.
        let st = sys::stat_at(src.as_fd(), c"").map_err(|e| at("stat", layer, e))?;
        set_meta_fd(
            &reopen_dir(dst.as_fd()).map_err(|e| at("open", &tmp, e))?,
            &st,
        )
        .map_err(|e| at("chown", &tmp, e))?;
    }
    std::fs::rename(&tmp, copy).map_err(|e| io("rename", copy, e))
}

fn reopen_dir(dir: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    sys::open_at(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)
}

fn reopen_path(dir: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    sys::path_at(dir, c".")
}

/// Lay directory `src` (one layer's) over `dst` (the copy so far).
fn apply_dir(src: BorrowedFd<'_>, dst_dir: Rc<OwnedFd>, links: &mut Links) -> Result<(), Errno> {
    let dst = dst_dir.as_fd();
    for e in sys::read_dir(src)? {
        let name = e.name.as_c_str();
        let st = sys::stat_at(src, name)?;
        if is_whiteout(&st) {
            remove_all(dst, name)?;
            continue;
        }
        let existing = match sys::stat_at(dst, name) {
            Ok(s) => Some(s),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(e),
        };
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            let s = sys::open_at(src, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            let opaque = is_opaque(s.as_fd());
            let keep =
                existing.is_some_and(|x| x.st_mode & libc::S_IFMT == libc::S_IFDIR) && !opaque;
            if !keep {
                if existing.is_some() {
                    remove_all(dst, name)?;
                }
                sys::mkdir_at(dst, name, 0o700)?;
            }
            let d = sys::open_at(dst, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            apply_dir(s.as_fd(), Rc::new(reopen_path(d.as_fd())?), links)?;
            copy_xattrs(s.as_fd(), d.as_fd())?;
            set_meta_fd(&d, &st)?;
            continue;
        }
        if existing.is_some() {
            remove_all(dst, name)?;
        }
        let key = (st.st_dev, st.st_ino);
        if st.st_nlink > 1 && st.st_mode & libc::S_IFMT == libc::S_IFREG {
            if let Some((dir, first)) = links.get(&key) {
                sys::link_at(dir.as_fd(), first, dst, name)?;
                continue;
            }
            links.insert(key, (dst_dir.clone(), name.to_owned()));
        }
        copy_entry(src, dst, name, &st)?;
    }
    Ok(())
}

/// Copy one non-directory entry with its metadata.
fn copy_entry(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    name: &CStr,
    st: &sys::Stat,
) -> Result<(), Errno> {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {
            let from = sys::open_at(src, name, libc::O_RDONLY, 0)?;
            let to = sys::open_at(
                dst,
                name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                0o600,
            )?;
            sys::copy_all(from.as_fd(), to.as_fd(), st.st_size as u64)?;
            copy_xattrs(from.as_fd(), to.as_fd())?;
            set_meta_fd(&to, st)
        }
        libc::S_IFLNK => {
            let target = CString::new(sys::readlink_at(src, name)?).map_err(|_| Errno::EINVAL)?;
            sys::symlink_at(&target, dst, name)?;
            sys::chown_at(dst, name, st.st_uid, st.st_gid)?;
            sys::utimens_at(dst, name, atime(st), mtime(st))
        }
        kind => {
            sys::mknod_at(dst, name, kind | (st.st_mode & 0o7777), st.st_rdev)?;
            sys::chown_at(dst, name, st.st_uid, st.st_gid)?;
            sys::utimens_at(dst, name, atime(st), mtime(st))
        }
    }
}

fn atime(st: &sys::Stat) -> sys::Time {
    sys::Time::At(st.st_atime, st.st_atime_nsec)
}

fn mtime(st: &sys::Stat) -> sys::Time {
    sys::Time::At(st.st_mtime, st.st_mtime_nsec)
}

/// Owner, then mode (chown clears setuid bits), then times.
pub(super) fn set_meta_fd(fd: &OwnedFd, st: &sys::Stat) -> Result<(), Errno> {
    sys::chown_at(fd.as_fd(), c"", st.st_uid, st.st_gid)?;
    sys::fchmod(fd.as_fd(), st.st_mode & 0o7777)?;
    sys::futimens(fd.as_fd(), atime(st), mtime(st))
}

/// Copy the xattrs an image may carry, not overlayfs's bookkeeping.
pub(super) fn copy_xattrs(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    let list = match sys::flistxattr(from) {
        Ok(l) => l,
        Err(Errno::EOPNOTSUPP) => return Ok(()),
        Err(e) => return Err(e),
    };
    for key in list.split(|&b| b == 0).filter(|k| !k.is_empty()) {
        if crate::layer::whiteout::is_overlay_xattr(key) {
            continue;
        }
        let Ok(k) = CString::new(key) else { continue };
        let Ok(v) = sys::fgetxattr(from, &k) else {
            continue;
        };
        // Keys this namespace may not set (trusted.*, some security.*) are
        // left behind, as overlayfs's copy-up does.
        match sys::fsetxattr(to, &k, &v, 0) {
            Ok(()) | Err(Errno::EPERM) | Err(Errno::EOPNOTSUPP) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Remove `name` from `dir`, with everything below it.
fn remove_all(dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    let st = match sys::stat_at(dir, name) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let d = sys::path_at(dir, name)?;
        for e in sys::read_dir(d.as_fd())? {
            remove_all(d.as_fd(), &e.name)?;
        }
        sys::unlink_at(dir, name, true)
    } else {
        sys::unlink_at(dir, name, false)
    }
}
