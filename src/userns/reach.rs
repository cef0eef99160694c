//! Paths that the root of a user namespace can reach although a directory
//! above them is closed to it. With keep-id, that root is a subordinate id
//! on the host: it may not traverse the caller's private home (0700, or
//! 0750 with a group the namespace does not map) where the store lives.
//! The caller opens the parent directory before the fork; the child names
//! the entry through `/proc/self/fd/N/NAME`, which starts at that directory
//! and so checks only what lies below it (the openat rule).
//!
//! It opens directories and builds paths; it never runs anything in a
//! namespace.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// One entry of a directory held open by the caller.
pub struct Reach {
    dir: File,
    name: OsString,
    shown: PathBuf,
}

impl Reach {
    /// Hold `path`'s parent directory open (as the caller, who can reach
    /// it). `path` itself need not exist yet.
    pub fn new(path: &Path) -> std::io::Result<Reach> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} has no parent directory", path.display()),
            ));
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(parent)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", parent.display())))?;
        Ok(Reach {
            dir,
            name: name.to_os_string(),
            shown: path.to_path_buf(),
        })
    }

    /// The entry's path for this process and its forked children (valid
    /// while `self` lives).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.dir.as_raw_fd())).join(&self.name)
    }

    /// The path as the caller named it, for messages.
    pub fn shown(&self) -> &Path {
        &self.shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reach_names_its_entry_below_the_held_directory() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), "x").unwrap();
        let r = Reach::new(&t.path().join("f")).unwrap();
        assert!(r.path().starts_with("/proc/self/fd"));
        assert_eq!(std::fs::read_to_string(r.path()).unwrap(), "x");
        assert_eq!(r.shown(), t.path().join("f"));
    }
}
