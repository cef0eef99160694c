//! keep-id on native overlay without a chown copy of the image: one
//! metadata-only layer per image and id mapping. It is the image's merged
//! tree with the owners the container must see, in which every regular file
//! with data is an empty sparse file marked `user.overlay.metacopy` whose
//! `user.overlay.redirect` names the file in the layers unpacked once for
//! the default mapping. Those layers' common parent directory is mounted as
//! a data-only lower layer (`lowerdir=META::DATA`), which Linux 6.16+
//! follows in a user namespace with `userxattr`; overlayfs then reads the
//! data from there and copies it up on the first write, as for any lower
//! file. No file data is copied here.
//!
//! It runs as root of the container's user namespace (so owners are
//! written as the container sees them) and only reads the layers.

use super::copy::{copy_xattrs, set_meta_fd};
use super::fuse::IdShift;
use super::merge::{self, below, is_dir, merged, open_dir, LayerDir};
use crate::sys::fuse as sys;
use crate::sys::SysError;
use nix::errno::Errno;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

const METACOPY: &CStr = c"user.overlay.metacopy";
const REDIRECT: &CStr = c"user.overlay.redirect";

/// Write the metadata layer of `layers` (lowest first; every one holding a
/// file with data in one parent directory, which becomes the data-only
/// layer) into the new directory `out`, owners shown through `shift`.
pub fn build(layers: &[PathBuf], shift: &IdShift, out: &Path) -> Result<(), SysError> {
    let at = |p: &Path, e: Errno| SysError::new(format!("metadata layer({})", p.display()), e);
    let names = layers
        .iter()
        .map(|l| {
            l.file_name()
                .map(|n| n.as_bytes().to_vec())
                .ok_or_else(|| at(l, Errno::EINVAL))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let roots = merge::roots(layers).map_err(|(i, e)| at(&layers[i], e))?;
    std::fs::create_dir(out)
        .map_err(|e| at(out, Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
    let dst = merge::open_dir_path(out).map_err(|e| at(out, e))?;
    let mut w = Walk {
        shift,
        names: &names,
        links: HashMap::new(),
        path: Vec::new(),
    };
    w.dir(&roots, Rc::new(dst))
        .map_err(|e| at(&out.join(std::ffi::OsStr::from_bytes(&w.path)), e))
}

struct Walk<'a> {
    shift: &'a IdShift,
    /// Each layer's directory name: the first component of a redirect.
    names: &'a [Vec<u8>],
    /// The first name each multiply-linked data file got here.
    links: HashMap<(u64, u64), (Rc<OwnedFd>, CString)>,
    /// The directory being written, relative to the root.
    path: Vec<u8>,
}

impl Walk<'_> {
    fn owned(&self, st: &sys::Stat) -> sys::Stat {
        let mut s = *st;
        s.st_uid = self.shift.uid(st.st_uid);
        s.st_gid = self.shift.gid(st.st_gid);
        s
    }

    fn dir(&mut self, layers: &[LayerDir], dst: Rc<OwnedFd>) -> Result<(), Errno> {
        for (name, entry) in merged(layers)? {
            let Some((layer, st)) = entry else { continue };
            let src = layers
                .iter()
                .find(|d| d.layer == layer)
                .ok_or(Errno::EIO)?
                .fd
                .as_fd();
            let len = self.path.len();
            self.path.push(b'/');
            self.path.extend_from_slice(name.as_bytes());
            if is_dir(&st) {
                sys::mkdir_at(dst.as_fd(), &name, 0o700)?;
                let made = open_dir(dst.as_fd(), &name)?;
                let from = open_dir(src, &name)?;
                self.dir(
                    &below(layers, &name)?,
                    Rc::new(made.try_clone().map_err(|_| Errno::EMFILE)?),
                )?;
                copy_xattrs(from.as_fd(), made.as_fd())?;
                set_meta_fd(&made, &self.owned(&st))?;
            } else {
                self.file(src, layer, &dst, &name, &st)?;
            }
            self.path.truncate(len);
        }
        Ok(())
    }

    fn file(
        &mut self,
        src: BorrowedFd<'_>,
        layer: usize,
        dst: &Rc<OwnedFd>,
        name: &CStr,
        st: &sys::Stat,
    ) -> Result<(), Errno> {
        let owned = self.owned(st);
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some((dir, first)) = self.links.get(&key) {
                        return sys::link_at(dir.as_fd(), first, dst.as_fd(), name);
                    }
                    self.links.insert(key, (dst.clone(), name.to_owned()));
                }
                let to = sys::open_at(
                    dst.as_fd(),
                    name,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                    0o600,
                )?;
                if st.st_size > 0 {
                    // A sparse file of the right size: no data blocks.
                    sys::ftruncate(to.as_fd(), st.st_size as u64)?;
                    let mut redirect = vec![b'/'];
                    redirect.extend_from_slice(&self.names[layer]);
                    redirect.extend_from_slice(&self.path);
                    sys::fsetxattr(to.as_fd(), METACOPY, b"", 0)?;
                    sys::fsetxattr(to.as_fd(), REDIRECT, &redirect, 0)?;
                }
                let from = sys::open_at(src, name, libc::O_RDONLY | libc::O_NONBLOCK, 0)?;
                copy_xattrs(from.as_fd(), to.as_fd())?;
                set_meta_fd(&to, &owned)
            }
            libc::S_IFLNK => {
                let target =
                    CString::new(sys::readlink_at(src, name)?).map_err(|_| Errno::EINVAL)?;
                sys::symlink_at(&target, dst.as_fd(), name)?;
                sys::chown_at(dst.as_fd(), name, owned.st_uid, owned.st_gid)?;
                times_at(dst.as_fd(), name, st)
            }
            kind => {
                // Fifos and sockets; a device node fails here (EPERM in a
                // user namespace), and the caller falls back to a copy.
                sys::mknod_at(dst.as_fd(), name, kind | (st.st_mode & 0o7777), st.st_rdev)?;
                sys::chown_at(dst.as_fd(), name, owned.st_uid, owned.st_gid)?;
                times_at(dst.as_fd(), name, st)
            }
        }
    }
}

fn times_at(dir: BorrowedFd<'_>, name: &CStr, st: &sys::Stat) -> Result<(), Errno> {
    sys::utimens_at(
        dir,
        name,
        sys::Time::At(st.st_atime, st.st_atime_nsec),
        sys::Time::At(st.st_mtime, st.st_mtime_nsec),
    )
}
