//! The store's locks.
//!
//! * `lock` (exclusive) serialises read-modify-write of index.json, so two
//!   concurrent `load`/`tag`/`rmi` never lose an update. Readers need no lock:
//!   index.json is replaced by rename.
//! * `gc.lock` keeps garbage collection away from blobs that are in use:
//!   writers (which put blobs in place before the index names them) and
//!   readers of blobs hold it shared; removal holds it exclusive.
//!
//! * `cache/locks/<key>` (exclusive) is held by the build running one step,
//!   from the cache lookup that missed until its result is pinned, so a
//!   second build of the same step waits and then finds it in the cache
//!   instead of running it again. A builder takes it while its writer holds
//!   `gc.lock` shared and holds one at a time.
//!
//! Always take `gc.lock` before `lock`, never the other way round, so that the
//! two cannot deadlock. This module only names the files and takes the locks.

use super::Result;
use crate::chain::WithContext;
use crate::sys::flock::{self, Held, Mode};
use std::path::{Path, PathBuf};

/// Exclusive hold on the index.
pub fn index(root: &Path) -> Result<Held> {
    flock::lock(&root.join("lock"), Mode::Exclusive)
        .context("cannot lock the image store")
        .map_err(Into::into)
}

/// Shared hold that keeps blobs and unpacked layers from being collected.
pub fn keep(root: &Path) -> Result<Held> {
    flock::lock(&root.join("gc.lock"), Mode::Shared)
        .context("cannot lock the image store")
        .map_err(Into::into)
}

/// Exclusive hold for garbage collection: waits until no writer is busy.
pub fn collect(root: &Path) -> Result<Held> {
    flock::lock(&root.join("gc.lock"), Mode::Exclusive)
        .context("cannot lock the image store")
        .map_err(Into::into)
}

/// A held build-step lock. Its file is unlinked on release (before the
/// lock goes, so a waiter notices and locks a fresh file); a killed holder
/// leaves the file, which the next holder removes. flock(2) dies with the
/// process, so a crash never leaves the step locked.
pub struct Step {
    path: PathBuf,
    _held: Held,
}

impl Drop for Step {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Exclusive hold on the build step whose cache key is `key` (64 hex
/// digits); `waited` is told first when another build holds it.
pub fn step(root: &Path, key: &str, waited: impl FnOnce()) -> Result<Step> {
    if !super::pins::valid_key(key) {
        return Err(crate::chain::Context::msg(format!("invalid cache key {key}")).into());
    }
    let dir = root.join("cache/locks");
    fs_err::create_dir_all(&dir).context("cannot create the build cache directory")?;
    let path = dir.join(key);
    let what = || format!("cannot lock build step {}", &key[..12]);
    // try_lock does not create the file; lock does.
    let held = match flock::try_lock(&path, Mode::Exclusive).with_context(what)? {
        Some(h) => h,
        None => {
            if path.exists() {
                waited();
            }
            flock::lock(&path, Mode::Exclusive).with_context(what)?
        }
    };
    Ok(Step { path, _held: held })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_lock_excludes_tells_the_waiter_and_leaves_no_file() {
        let d = tempfile::tempdir().unwrap();
        let key = "ab".repeat(32);
        let first = step(d.path(), &key, || panic!("nobody held it")).unwrap();
        let file = d.path().join("cache/locks").join(&key);
        assert!(file.exists());
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let root = d.path().to_path_buf();
            let key = key.clone();
            std::thread::spawn(move || {
                let _held = step(&root, &key, || tx.send(()).unwrap()).unwrap();
            })
        };
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the waiter is told it waits");
        assert!(!waiter.is_finished());
        drop(first);
        waiter.join().unwrap();
        assert!(!file.exists(), "released locks leave no file behind");
        assert!(step(d.path(), "../x", || ()).is_err());
    }
}
