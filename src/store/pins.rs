//! Pins: images kept in the store without a name, looked up by a key. The
//! build cache uses them to remember the result of each step; environment
//! versions use them so that no gc or prune drops a version (only
//! `hutch env prune` unpins one).
//!
//! Format: `ROOT/cache/steps/<key>` (build cache) and `ROOT/pins/versions/<key>`
//! (environment versions) are one-line files holding the manifest
//! digest (`sha256:<hex>`) of the pinned image; `<key>` is 64 lowercase hex
//! digits chosen by the caller. A pin's manifest, config and layer blobs
//! are published by a writer (which holds `gc.lock` shared) before the pin
//! file is renamed into place, and garbage collection keeps every blob a pin
//! names, so a pin never points at a missing blob. Pins are not listed in
//! index.json: `images` does not show them and OCI tools ignore them.
//!
//! This module reads and writes pin files and lists them for `gc`; it does
//! not compute keys (see `build::cache`).

use super::index;
use super::Result;
use crate::chain::WithContext;
use oci_spec::image::Digest;
use std::path::{Path, PathBuf};

/// The directory holding the build cache's pin files.
pub fn dir(root: &Path) -> PathBuf {
    root.join("cache/steps")
}

/// The directory holding the pins of environment versions.
pub fn versions_dir(root: &Path) -> PathBuf {
    root.join("pins/versions")
}

pub(super) fn valid_key(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The manifest a pin names, if the pin exists and reads back.
pub fn get(root: &Path, key: &str) -> Option<Digest> {
    get_in(&dir(root), key)
}

/// The manifest the pin `key` in pin directory `d` names, if it reads back.
fn get_in(d: &Path, key: &str) -> Option<Digest> {
    if !valid_key(key) {
        return None;
    }
    let text = std::fs::read_to_string(d.join(key)).ok()?;
    crate::oci::digest::parse(text.trim()).ok()
}

/// Write the pin `key` in pin directory `d` (`what` names the kind of
/// pin in errors).
fn put_in(d: &Path, key: &str, manifest: &Digest, what: &str) -> Result<()> {
    crate::chain::ensure!(valid_key(key), "invalid {what} key {key}");
    fs_err::create_dir_all(d).with_context(|| format!("cannot create the {what} pin directory"))?;
    index::write_atomic(d, key, format!("{manifest}\n").as_bytes())
}

/// Point the pin `key` at `manifest` (atomically replacing an older pin).
pub fn put(root: &Path, key: &str, manifest: &Digest) -> Result<()> {
    put_in(&dir(root), key, manifest, "cache")
}

/// Pin an environment version: `key` names it, `manifest` is kept until
/// [`unpin_version`].
pub fn put_version(root: &Path, key: &str, manifest: &Digest) -> Result<()> {
    put_in(&versions_dir(root), key, manifest, "version")
}

/// Drop a version's pin (its blobs go at the next collection unless an
/// image or another pin names them).
pub fn unpin_version(root: &Path, key: &str) -> Result<()> {
    crate::chain::ensure!(valid_key(key), "invalid version key {key}");
    match fs_err::remove_file(versions_dir(root).join(key)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The manifest a version pin names.
pub fn get_version(root: &Path, key: &str) -> Option<Digest> {
    get_in(&versions_dir(root), key)
}

/// Every pinned manifest (build cache and versions), for garbage
/// collection. Unreadable pin files are skipped: they name nothing.
pub fn all(root: &Path) -> Result<Vec<Digest>> {
    let mut out = listed(root, &dir(root), get)?;
    out.extend(listed(root, &versions_dir(root), get_version)?);
    Ok(out)
}

fn listed(root: &Path, d: &Path, get: fn(&Path, &str) -> Option<Digest>) -> Result<Vec<Digest>> {
    let rd = match std::fs::read_dir(d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot list {}", d.display()))
                .map_err(Into::into)
        }
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.with_context(|| format!("cannot list {}", d.display()))?;
        if let Some(m) = get(root, &ent.file_name().to_string_lossy()) {
            out.push(m);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_list() {
        let root = tempfile::tempdir().unwrap();
        let key = "ab".repeat(32);
        assert!(get(root.path(), &key).is_none());
        let m = crate::oci::digest::of_bytes(b"manifest");
        put(root.path(), &key, &m).unwrap();
        assert_eq!(get(root.path(), &key), Some(m.clone()));
        assert_eq!(all(root.path()).unwrap(), vec![m.clone()]);
        assert!(put(root.path(), "../escape", &m).is_err());
        assert!(get(root.path(), "../escape").is_none());

        let v = crate::oci::digest::of_bytes(b"version");
        put_version(root.path(), &"cd".repeat(32), &v).unwrap();
        assert_eq!(get_version(root.path(), &"cd".repeat(32)), Some(v.clone()));
        assert_eq!(all(root.path()).unwrap(), vec![m.clone(), v]);
        unpin_version(root.path(), &"cd".repeat(32)).unwrap();
        assert_eq!(all(root.path()).unwrap(), vec![m]);
    }
}
