//! A copy-driver container's changes as an overlayfs upper dir: the copy
//! compared with the layers it was made from, so commit, diff, export and
//! build's RUN read it exactly like the upper dir of the overlay drivers.
//!
//! An entry counts as changed by Docker's rule for drivers without an upper
//! dir (its naive diff): type, mode, owner or device differ, or, for
//! anything but a directory, size or modification time. A changed or new
//! entry is hard-linked into the result (no data is copied; hard links of
//! the copy stay hard links there), a name the layers have and the copy
//! lacks becomes a whiteout, and the directories above a change are made
//! with the copy's metadata, as overlayfs's copy-up makes them.
//!
//! It runs as root of the container's user namespace and never writes to
//! the copy or the layers.

use super::super::merge::{self, below, is_dir, merged, open_dir, open_dir_path, LayerDir};
use super::{copy_xattrs, set_meta_fd};
use crate::layer::whiteout::OPAQUE_XATTR;
use crate::sys::fuse as sys;
use crate::sys::SysError;
use nix::errno::Errno;
use std::cell::OnceCell;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Write the changes of `copy` against `lowers` (lowest first) into the new
/// directory `out`, on the copy's filesystem.
pub fn changes(lowers: &[PathBuf], copy: &Path, out: &Path) -> Result<(), SysError> {
    fn at(p: &Path) -> impl FnOnce(Errno) -> SysError + '_ {
        move |e| SysError::new(format!("diff({})", p.display()), e)
    }
    let layers = merge::roots(lowers).map_err(|(i, e)| at(&lowers[i])(e))?;
    let copy_fd = open_dir_path(copy).map_err(at(copy))?;
    std::fs::create_dir(out).map_err(|e| {
        SysError::new(
            format!("mkdir({})", out.display()),
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })?;
    let root = Out {
        parent: None,
        name: CString::default(),
        fd: OnceCell::from(open_dir_path(out).map_err(at(out))?),
    };
    walk(&layers, copy_fd.as_fd(), &root).map_err(at(copy))
}

/// A directory of the result, made only when something below it changed.
struct Out<'p> {
    parent: Option<&'p Out<'p>>,
    name: CString,
    fd: OnceCell<OwnedFd>,
}

impl Out<'_> {
    fn fd(&self) -> Result<BorrowedFd<'_>, Errno> {
        if let Some(fd) = self.fd.get() {
            return Ok(fd.as_fd());
        }
        let parent = self.parent.ok_or(Errno::EINVAL)?.fd()?;
        sys::mkdir_at(parent, &self.name, 0o700)?;
        let fd = open_dir(parent, &self.name)?;
        Ok(self.fd.get_or_init(|| fd).as_fd())
    }
}

/// Docker's naive-diff rule: the same entry, as far as stat can tell.
fn same(copy: &sys::Stat, lower: &sys::Stat) -> bool {
    copy.st_mode == lower.st_mode
        && copy.st_uid == lower.st_uid
        && copy.st_gid == lower.st_gid
        && copy.st_rdev == lower.st_rdev
        && (is_dir(copy)
            || (copy.st_size == lower.st_size
                && copy.st_mtime == lower.st_mtime
                && copy.st_mtime_nsec == lower.st_mtime_nsec))
}

/// Compare the copy's directory `copy` with the layers' `layers`, writing
/// what differs below `out`.
fn walk(layers: &[LayerDir], copy: BorrowedFd<'_>, out: &Out<'_>) -> Result<(), Errno> {
    let mut lower = merged(layers)?;
    let mut kept = false;
    for e in sys::read_dir(copy)? {
        let name = e.name.as_c_str();
        let Some(st) = still_there(sys::stat_at(copy, name))? else {
            continue;
        };
        let was = lower.remove(name).flatten().map(|(_, st)| st);
        kept |= was.is_some();
        let compared = match was {
            Some(l) if is_dir(&st) && is_dir(&l) => {
                let child = Out {
                    parent: Some(out),
                    name: name.to_owned(),
                    fd: OnceCell::new(),
                };
                walk_dir(layers, copy, name, &st, &l, &child)
            }
            Some(l) if same(&st, &l) => Ok(()),
            _ => out.fd().and_then(|o| add(copy, o, name, &st)),
        };
        skip_if_replaced(compared, copy, name, &st)?;
    }
    let gone: Vec<CString> = lower
        .into_iter()
        .filter_map(|(name, st)| st.map(|_| name))
        .collect();
    if gone.is_empty() {
        return Ok(());
    }
    // Nothing of the layers' directory is left (`rm -rf d; mkdir d`): one
    // opaque directory, as overlayfs writes it, instead of a whiteout each.
    if !kept && out.parent.is_some() {
        let key = CString::new(OPAQUE_XATTR).map_err(|_| Errno::EINVAL)?;
        return sys::fsetxattr(out.fd()?, &key, b"y", 0);
    }
    for name in gone {
        sys::mknod_at(out.fd()?, &name, libc::S_IFCHR, 0)?;
    }
    Ok(())
}

/// The changed directory `name` of `copy`, whose layers' entry `l` is a
/// directory too, below `child`.
fn walk_dir(
    layers: &[LayerDir],
    copy: BorrowedFd<'_>,
    name: &CStr,
    st: &sys::Stat,
    l: &sys::Stat,
    child: &Out<'_>,
) -> Result<(), Errno> {
    let from = open_dir(copy, name)?;
    if !same(st, l) {
        child.fd()?;
    }
    walk(&below(layers, name)?, from.as_fd(), child)?;
    if let Some(made) = child.fd.get() {
        copy_meta(from.as_fd(), made, st)?;
    }
    Ok(())
}

/// Put the copy's `name` (and all below it) into `out`.
fn add(
    copy: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    name: &CStr,
    st: &sys::Stat,
) -> Result<(), Errno> {
    if !is_dir(st) {
        return sys::link_at(copy, name, out, name);
    }
    let from = open_dir(copy, name)?;
    sys::mkdir_at(out, name, 0o700)?;
    let to = open_dir(out, name)?;
    for e in sys::read_dir(from.as_fd())? {
        let Some(child) = still_there(sys::stat_at(from.as_fd(), &e.name))? else {
            continue;
        };
        let added = add(from.as_fd(), to.as_fd(), &e.name, &child);
        skip_if_replaced(added, from.as_fd(), &e.name, &child)?;
    }
    copy_meta(from.as_fd(), &to, st)
}

/// A running container may remove a name between the listing and its
/// `stat`: it is left out, as if listed a moment later.
fn still_there(st: Result<sys::Stat, Errno>) -> Result<Option<sys::Stat>, Errno> {
    match st {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A step on `name` that failed because a running container removed or
/// replaced it since its `stat` (`st`) is left out, as the tar writer
/// leaves out what changes under it; any other failure stands.
fn skip_if_replaced(
    step: Result<(), Errno>,
    dir: BorrowedFd<'_>,
    name: &CStr,
    st: &sys::Stat,
) -> Result<(), Errno> {
    let Err(e) = step else {
        return Ok(());
    };
    match sys::stat_at(dir, name) {
        Err(Errno::ENOENT) => Ok(()),
        Ok(now)
            if now.st_ino != st.st_ino
                || now.st_mode & libc::S_IFMT != st.st_mode & libc::S_IFMT =>
        {
            Ok(())
        }
        _ => Err(e),
    }
}

fn copy_meta(from: BorrowedFd<'_>, to: &OwnedFd, st: &sys::Stat) -> Result<(), Errno> {
    copy_xattrs(from, to.as_fd())?;
    set_meta_fd(to, st)
}
