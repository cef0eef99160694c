//! Content-addressed blobs under `blobs/sha256/<hex>`.
//!
//! A blob is written to a scratch file first, hashed while it is copied, then
//! fsync'd; it is renamed into `blobs/` only once its digest is known (and
//! checked against what the source promised), so `blobs/` never holds a
//! partial or mislabelled file. This module does not decide which blobs an
//! image needs or when they may be deleted.

use super::Result;
use crate::chain::{bail, WithContext};
use crate::oci::digest::Hasher;
use oci_spec::image::Digest;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the blob with digest `d` lives.
pub fn path(root: &Path, d: &Digest) -> PathBuf {
    root.join("blobs")
        .join(d.algorithm().as_ref())
        .join(d.digest())
}

/// Read a whole (small) blob: manifests and configs.
pub fn read(root: &Path, d: &Digest) -> Result<Vec<u8>> {
    let p = path(root, d);
    std::fs::read(&p)
        .with_context(|| format!("blob {d} is missing from the store ({})", p.display()))
        .map_err(Into::into)
}

/// Copy `input` into a new file in `dir`, returning its path, digest and size.
/// With `expected`, a different digest is an error that names `what`, and the
/// file is removed.
pub fn stage(
    input: impl Read,
    dir: &Path,
    expected: Option<&Digest>,
    what: &str,
) -> Result<(PathBuf, Digest, u64)> {
    let mut tmp = tempfile::Builder::new()
        .prefix("blob.")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temp file in {}", dir.display()))?;
    let mut h = Hasher::new(input);
    std::io::copy(&mut h, tmp.as_file_mut()).with_context(|| format!("cannot read {what}"))?;
    let (digest, size) = h.finish().with_context(|| format!("cannot read {what}"))?;
    if let Some(want) = expected {
        if *want != digest {
            bail!(
                "{what} is corrupt: its digest should be {want} but its content hashes to {digest}; nothing was stored"
            );
        }
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("cannot write {what} to {}", dir.display()))?;
    let (_, p) = tmp
        .keep()
        .with_context(|| format!("cannot keep the temp file for {what}"))?;
    Ok((p, digest, size))
}

/// Move a staged, verified blob into place. Another writer may have put the
/// same content there first; either copy is correct.
pub fn publish(root: &Path, staged: &Path, d: &Digest) -> Result<()> {
    let dest = path(root, d);
    if let Some(parent) = dest.parent() {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::rename(staged, &dest)?;
    Ok(())
}
