//! Walking a directory tree by open directory fds, one component at a time,
//! never following a symlink: the guarantee that unpacking cannot write
//! outside its root even when earlier entries planted symlinks (`a -> /etc`
//! then `a/passwd`), and the cache that makes that cheap.
//!
//! It opens, creates and removes; it does not decide what an entry means.

use super::names::EntryPath;
use crate::sys::fsat::{self, Kind};
use crate::sys::SysError;
use nix::errno::Errno;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Why the directory of a tar entry cannot be opened below the root.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("entry {entry}: {shown} is a symlink; refusing to follow it while unpacking")]
    Symlink { entry: String, shown: String },
    #[error("entry {entry}: {shown} is not a directory")]
    NotDirectory { entry: String, shown: String },
    #[error("entry {entry}: {err}")]
    Sys { entry: String, err: SysError },
}

/// An open root plus the chain of directories opened below it last time.
///
/// Tar entries come grouped by directory, so keeping the last chain open means
/// most entries cost no lookup at all. The chain stays valid because entries
/// only ever remove children of the directory they are in, never a directory
/// on the chain itself.
pub struct Tree {
    root: OwnedFd,
    chain: Vec<(CString, OwnedFd)>,
}

impl Tree {
    /// Open `root` (an existing directory the caller owns).
    pub fn open(root: &Path) -> Result<Tree, super::Error> {
        let root = fsat::open_dir(root).map_err(|error| super::Error::Open {
            path: root.to_path_buf(),
            error,
        })?;
        Ok(Tree {
            root,
            chain: Vec::new(),
        })
    }

    /// The root directory.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// Open the directory `dirs` (components below the root), creating missing
    /// ones with mode 0755 as Docker does for parents a tar leaves out. Any
    /// component that is a symlink or not a directory is an error naming
    /// `entry`.
    pub fn dir_for(
        &mut self,
        dirs: &[CString],
        entry: &EntryPath,
    ) -> Result<BorrowedFd<'_>, StepError> {
        let keep = self
            .chain
            .iter()
            .zip(dirs)
            .take_while(|((have, _), want)| have == *want)
            .count();
        self.chain.truncate(keep);
        for (i, comp) in dirs.iter().enumerate().skip(keep) {
            let parent = match self.chain.last() {
                Some((_, fd)) => fd.as_fd(),
                None => self.root.as_fd(),
            };
            let fd = open_or_create(parent, comp).map_err(|e| step_error(entry, &dirs[..=i], e))?;
            self.chain.push((comp.clone(), fd));
        }
        Ok(match self.chain.last() {
            Some((_, fd)) => fd.as_fd(),
            None => self.root.as_fd(),
        })
    }

    /// Open an existing directory below the root without creating anything
    /// (hardlink targets, the final pass over directory metadata).
    pub fn existing_dir(&self, dirs: &[CString]) -> Result<OwnedFd, (usize, SysError)> {
        let mut cur = self
            .root
            .try_clone()
            .map_err(|e| (0, SysError::new("dup(root)", errno_of(&e))))?;
        for (i, comp) in dirs.iter().enumerate() {
            cur = open_dir(cur.as_fd(), comp).map_err(|e| (i, e))?;
        }
        Ok(cur)
    }
}

fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Open a directory without following a symlink; a symlink is reported as
/// `ELOOP` (the kernel says `ENOTDIR` when `O_DIRECTORY` meets one).
fn open_dir(parent: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, SysError> {
    fsat::open_dir_at(parent, name).map_err(|e| {
        let symlink = e.errno == Errno::ENOTDIR
            && matches!(fsat::lstat_at(parent, name), Ok(Some(st)) if st.kind == Kind::Symlink);
        if symlink {
            SysError::new(e.call, Errno::ELOOP)
        } else {
            e
        }
    })
}

fn open_or_create(parent: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, SysError> {
    match open_dir(parent, name) {
        Err(e) if e.errno == Errno::ENOENT => {
            fsat::mkdir_at(parent, name, 0o755)?;
            let fd = fsat::open_dir_at(parent, name)?;
            // mkdir honours the umask; parents must not depend on who unpacks.
            fsat::fchmod(fd.as_fd(), 0o755)?;
            Ok(fd)
        }
        other => other,
    }
}

/// Explain a failed step: which prefix of which entry, and why that is refused.
pub fn step_error(entry: &EntryPath, prefix: &[CString], err: SysError) -> StepError {
    let shown = EntryPath::parse(&join(prefix))
        .map(|p| p.display())
        .unwrap_or_default();
    let entry = entry.display();
    match err.errno {
        Errno::ELOOP => StepError::Symlink { entry, shown },
        Errno::ENOTDIR => StepError::NotDirectory { entry, shown },
        _ => StepError::Sys { entry, err },
    }
}

fn join(parts: &[CString]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.push(b'/');
        v.extend_from_slice(p.to_bytes());
    }
    v
}

/// Remove `name` in `dir` whatever it is, a whole directory tree included,
/// without following symlinks anywhere.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &CStr, kind: Kind) -> Result<(), SysError> {
    if kind == Kind::Dir {
        let sub = fsat::open_dir_at(dir, name)?;
        for child in fsat::read_dir_names(sub.as_fd())? {
            if let Some(st) = fsat::lstat_at(sub.as_fd(), &child)? {
                remove_all_at(sub.as_fd(), &child, st.kind)?;
            }
        }
        fsat::unlink_at(dir, name, true)
    } else {
        fsat::unlink_at(dir, name, false)
    }
}
