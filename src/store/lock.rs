//! The store's two locks.
//!
//! * `lock` (exclusive) serialises read-modify-write of index.json, so two
//!   concurrent `load`/`tag`/`rmi` never lose an update. Readers need no lock:
//!   index.json is replaced by rename.
//! * `gc.lock` keeps garbage collection away from blobs that are in use:
//!   writers (which put blobs in place before the index names them) and
//!   readers of blobs hold it shared; removal holds it exclusive.
//!
//! Always take `gc.lock` before `lock`, never the other way round, so that the
//! two cannot deadlock. This module only names the files and takes the locks.

use super::Result;
use crate::chain::WithContext;
use crate::sys::flock::{self, Held, Mode};
use std::path::Path;

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
