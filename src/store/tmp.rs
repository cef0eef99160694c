//! Private scratch directories under `ROOT/tmp/`, one per operation.
//!
//! Each `tmp/<name>/` has a lock file `tmp/<name>.lock` that its owner holds
//! for as long as it lives; the lock is taken before the directory exists and
//! dies with the process, so a directory whose lock is free was left behind by
//! a process that was killed, and garbage collection may delete it. Nothing in
//! `tmp/` is ever visible as store content.

use super::Result;
use crate::chain::WithContext;
use crate::sys::flock::{self, Held, Mode};
use std::path::{Path, PathBuf};

/// The directory under `tmp/` that holds resumable downloads (`partial`),
/// which scratch-dir cleanup leaves alone.
pub const PARTIAL: &str = "partial";

/// A scratch directory that is removed when dropped.
#[derive(Debug)]
pub struct TmpDir {
    path: PathBuf,
    lock: PathBuf,
    _held: Held,
}

impl TmpDir {
    pub fn new(root: &Path) -> Result<TmpDir> {
        let base = root.join("tmp");
        fs_err::create_dir_all(&base)?;
        let name = format!("{:016x}", rand::random::<u64>());
        let lock = base.join(format!("{name}.lock"));
        let held = flock::lock(&lock, Mode::Exclusive)
            .with_context(|| format!("cannot lock {}", lock.display()))?;
        let path = base.join(name);
        fs_err::create_dir(&path)?;
        Ok(TmpDir {
            path,
            lock,
            _held: held,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        // Best effort: what cannot be removed here (files owned by
        // subordinate ids) is collected later as a stale directory.
        let _ = std::fs::remove_dir_all(&self.path);
        if !self.path.exists() {
            let _ = std::fs::remove_file(&self.lock);
        }
    }
}

/// A directory in `tmp/` whose owner is gone, held so nobody reuses it.
pub struct Stale {
    pub dir: PathBuf,
    pub lock: PathBuf,
    _held: Option<Held>,
}

/// Leftovers of killed processes: directories whose lock file is free or gone.
pub fn stale(root: &Path) -> Result<Vec<Stale>> {
    let base = root.join("tmp");
    let rd = match std::fs::read_dir(&base) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot list {}", base.display()))
                .map_err(Into::into)
        }
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.with_context(|| format!("cannot list {}", base.display()))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        // Resumable downloads outlive their process on purpose.
        if name == PARTIAL {
            continue;
        }
        if let Some(stem) = name.strip_suffix(".lock") {
            let lock = ent.path();
            if let Some(held) = flock::try_lock(&lock, Mode::Exclusive)? {
                out.push(Stale {
                    dir: base.join(stem),
                    lock,
                    _held: Some(held),
                });
            }
        } else if !base.join(format!("{name}.lock")).exists() {
            // Owners create the lock before the directory, so a directory
            // without one was abandoned after its lock was cleaned up.
            out.push(Stale {
                dir: ent.path(),
                lock: base.join(format!("{name}.lock")),
                _held: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_dirs_are_not_stale_and_drop_cleans_up() {
        let root = tempfile::tempdir().unwrap();
        let t = TmpDir::new(root.path()).unwrap();
        std::fs::write(t.path().join("f"), "x").unwrap();
        assert!(stale(root.path()).unwrap().is_empty());
        let p = t.path().to_path_buf();
        drop(t);
        assert!(!p.exists());
        assert_eq!(
            std::fs::read_dir(root.path().join("tmp")).unwrap().count(),
            0
        );
        // A directory left by a dead process: its lock file is free.
        std::fs::create_dir(root.path().join("tmp/dead")).unwrap();
        std::fs::write(root.path().join("tmp/dead.lock"), "").unwrap();
        let s = stale(root.path()).unwrap();
        assert_eq!(s.len(), 1);
        assert!(s[0].dir.ends_with("tmp/dead"));
    }
}
