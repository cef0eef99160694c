//! The merged view of read-only layer directories, as overlayfs shows it:
//! which entry a name shows (the topmost layer's, unless whited out), and
//! which layers' directories merge below it (down to an opaque one).
//!
//! It reads layers by descriptor, never following a symlink; it writes
//! nothing.

use crate::layer::whiteout::OPAQUE_XATTR;
use crate::sys::fuse as sys;
use nix::errno::Errno;
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// One layer's copy of a directory of the merged view.
pub struct LayerDir {
    pub fd: OwnedFd,
    /// Which layer, as an index into the list the walk started from.
    pub layer: usize,
}

/// A visible entry: its stat and the layer it comes from.
pub type Entry = (usize, sys::Stat);

/// A char device 0/0: overlayfs's whiteout.
pub fn is_whiteout(st: &sys::Stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

pub fn is_dir(st: &sys::Stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Whether the directory `dir` (opened for reading) hides the layers below.
pub fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    let key = CString::new(OPAQUE_XATTR).unwrap_or_default();
    sys::fgetxattr(dir, &key).is_ok_and(|v| v == b"y")
}

pub fn open_dir(dir: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, Errno> {
    sys::open_at(dir, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)
}

pub fn open_dir_path(p: &Path) -> Result<OwnedFd, Errno> {
    let fd = sys::open_path(p).map_err(|e| e.errno)?;
    open_dir(fd.as_fd(), c".")
}

/// The root directories of `layers` (lowest first), top first, down to the
/// first opaque one.
pub fn roots(layers: &[impl AsRef<Path>]) -> Result<Vec<LayerDir>, (usize, Errno)> {
    let mut out = Vec::new();
    for (i, l) in layers.iter().enumerate().rev() {
        let fd = open_dir_path(l.as_ref()).map_err(|e| (i, e))?;
        let opaque = is_opaque(fd.as_fd());
        out.push(LayerDir { fd, layer: i });
        if opaque {
            break;
        }
    }
    Ok(out)
}

/// The names the layers show in one directory (`dirs` top first): the
/// visible entry, or None when whited out.
pub fn merged(dirs: &[LayerDir]) -> Result<BTreeMap<CString, Option<Entry>>, Errno> {
    let mut names = BTreeMap::new();
    for d in dirs {
        for e in sys::read_dir(d.fd.as_fd())? {
            if names.contains_key(&e.name) {
                continue;
            }
            let st = sys::stat_at(d.fd.as_fd(), &e.name)?;
            names.insert(e.name, (!is_whiteout(&st)).then_some((d.layer, st)));
        }
    }
    Ok(names)
}

/// The layers' directories named `name` below `dirs`, top first, down to
/// the first that is opaque or covers the rest with something else.
pub fn below(dirs: &[LayerDir], name: &CStr) -> Result<Vec<LayerDir>, Errno> {
    let mut out = Vec::new();
    for d in dirs {
        let st = match sys::stat_at(d.fd.as_fd(), name) {
            Ok(st) => st,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        if !is_dir(&st) {
            break;
        }
        let fd = open_dir(d.fd.as_fd(), name)?;
        let opaque = is_opaque(fd.as_fd());
        out.push(LayerDir { fd, layer: d.layer });
        if opaque {
            break;
        }
    }
    Ok(out)
}
