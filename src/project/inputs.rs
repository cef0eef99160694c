//! The inputs of an environment's last build and the cheap check whether
//! any of them changed (devenv's evaluation cache, for Containerfiles):
//! the list holds what the build actually read — hutch.toml, the
//! definition, the ignore files, every context file, directory and symlink
//! its COPY/ADD steps used — with size and mtime, and a content hash for
//! files. A check stats only those paths and hashes only files whose stat
//! moved; a file that was merely touched counts as unchanged.
//!
//! It reads the files it names; it must not build or decide what to do
//! about a change.

use crate::build::context::{file_sha256, ReadKind, ReadPath};
use crate::sys::fsat::{self, Kind as FsKind, Stat};
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One recorded path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub path: PathBuf,
    pub kind: Kind,
    pub size: u64,
    pub mtime_ns: i64,
}

/// What the path was when recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Did not exist (an optional ignore file): appearing is a change.
    Absent,
    Dir,
    File {
        sha256: String,
    },
    Symlink {
        target: String,
    },
}

/// The result of a check.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Check {
    /// Paths whose content (or kind, or listing) differs.
    pub changed: Vec<PathBuf>,
    /// Inputs whose stat moved but whose content did not: the caller saves
    /// these new stamps so the next check is stat-only again.
    pub refreshed: Vec<Input>,
    /// What was done, for a verbose trace: how many paths were statted,
    /// which were hashed.
    pub statted: usize,
    pub hashed: Vec<PathBuf>,
}

fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.mtime() * 1_000_000_000 + m.mtime_nsec()
}

/// Record `path` as it is now (hashing it when it is a regular file).
pub fn record(path: &Path) -> std::io::Result<Input> {
    let meta = match path.symlink_metadata() {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Input {
                path: path.to_path_buf(),
                kind: Kind::Absent,
                size: 0,
                mtime_ns: 0,
            })
        }
        Err(e) => return Err(e),
    };
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink {
            target: std::fs::read_link(path)?.to_string_lossy().into_owned(),
        }
    } else {
        Kind::File {
            sha256: file_sha256(path)?,
        }
    };
    Ok(Input {
        path: path.to_path_buf(),
        kind,
        size: meta.len(),
        mtime_ns: mtime_ns(&meta),
    })
}

/// The inputs a build reported it read.
pub fn from_build(reads: Vec<ReadPath>) -> Vec<Input> {
    reads
        .into_iter()
        .map(|r| Input {
            path: r.path,
            kind: match r.kind {
                ReadKind::Dir => Kind::Dir,
                ReadKind::File { sha256 } => Kind::File { sha256 },
                ReadKind::Symlink { target } => Kind::Symlink { target },
            },
            size: r.size,
            mtime_ns: r.mtime_ns,
        })
        .collect()
}

/// Stat every input; hash only files whose size or mtime moved.
pub fn check(inputs: &[Input]) -> Check {
    let mut out = Check::default();
    let mut dir = DirCache::default();
    for input in inputs {
        out.statted += 1;
        let now = dir.lstat(&input.path);
        let mtime = |st: &Stat| st.mtime_sec * 1_000_000_000 + st.mtime_nsec;
        let same_stat = |st: &Stat| st.size == input.size && mtime(st) == input.mtime_ns;
        let changed = match (&input.kind, now) {
            (Kind::Absent, Ok(None)) => false,
            (Kind::Absent, _) | (_, Ok(None)) | (_, Err(())) => true,
            (Kind::Dir, Ok(Some(st))) => st.kind != FsKind::Dir || !same_stat(&st),
            (Kind::Symlink { target }, Ok(Some(st))) => {
                st.kind != FsKind::Symlink
                    || std::fs::read_link(&input.path)
                        .map_or(true, |t| t.to_string_lossy() != target.as_str())
            }
            (Kind::File { .. }, Ok(Some(st))) if st.kind != FsKind::File => true,
            (Kind::File { .. }, Ok(Some(st))) if same_stat(&st) => false,
            (Kind::File { sha256 }, Ok(Some(st))) => {
                out.hashed.push(input.path.clone());
                match file_sha256(&input.path) {
                    Ok(h) if &h == sha256 => {
                        out.refreshed.push(Input {
                            size: st.size,
                            mtime_ns: mtime(&st),
                            ..input.clone()
                        });
                        false
                    }
                    _ => true,
                }
            }
        };
        if changed {
            out.changed.push(input.path.clone());
        }
    }
    out
}

/// The directory of the previous input, kept open: the inputs come sorted,
/// so most stats are one fstatat(2) relative to it instead of a walk of the
/// whole path (a third of the cost on a project of 10,000 files).
#[derive(Default)]
struct DirCache {
    path: PathBuf,
    fd: Option<OwnedFd>,
}

impl DirCache {
    /// What `path` is now; None when it (or its directory) does not exist.
    fn lstat(&mut self, path: &Path) -> Result<Option<Stat>, ()> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(());
        };
        if self.path != parent || self.fd.is_none() {
            self.path = parent.to_path_buf();
            self.fd = fsat::open_dir(parent).ok();
        }
        let Some(fd) = &self.fd else {
            return match parent.symlink_metadata() {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                _ => Err(()),
            };
        };
        let name = CString::new(name.as_bytes()).map_err(|_| ())?;
        fsat::lstat_at(fd.as_fd(), &name).map_err(|_| ())
    }
}

/// `inputs` with the refreshed stamps of a check put in.
pub fn refresh(inputs: &mut [Input], refreshed: &[Input]) {
    for r in refreshed {
        if let Some(slot) = inputs.iter_mut().find(|i| i.path == r.path) {
            *slot = r.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_only_until_something_moves() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a");
        std::fs::write(&f, "one").unwrap();
        let ignore = d.path().join(".dockerignore");
        let mut inputs = vec![record(&f).unwrap(), record(&ignore).unwrap()];
        assert_eq!(inputs[1].kind, Kind::Absent);

        let c = check(&inputs);
        assert_eq!((c.statted, c.hashed.len()), (2, 0));
        assert!(c.changed.is_empty());

        // Same content, new mtime: hashed once, unchanged, refreshed.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let c = check(&inputs);
        assert_eq!(c.hashed, vec![f.clone()]);
        assert!(c.changed.is_empty());
        refresh(&mut inputs, &c.refreshed);
        assert!(check(&inputs).hashed.is_empty());

        std::fs::write(&f, "two").unwrap();
        assert_eq!(check(&inputs).changed, vec![f.clone()]);
        std::fs::write(&ignore, "x").unwrap();
        assert!(check(&inputs).changed.contains(&ignore));
    }
}
