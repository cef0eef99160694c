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
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// How much of a spooled blob is written before it is started on its way
/// to the disk: large enough for few calls, small enough that the disk
/// works while the producer still compresses.
const WRITEBACK_WINDOW: u64 = 8 << 20;

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

/// A new blob's scratch file, for a producer that hashes what it writes
/// (a compressor's digest of its output), so the store need not read it
/// again (see `Writer::add_spooled`). Each full window is started on its
/// way to the disk while the next is written: the fsync that publishes the
/// blob then has little left to wait for.
pub struct Spool {
    file: std::fs::File,
    written: u64,
    started: u64,
}

impl Spool {
    pub(super) fn create(path: &Path) -> Result<Spool> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Spool {
            file,
            written: 0,
            started: 0,
        })
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_WINDOW {
            // Only a head start: a failure here (a filesystem without
            // it) leaves the work, and the error, to the fsync.
            let _ = crate::sys::fsat::start_writeback(
                self.file.as_fd(),
                self.started,
                self.written - self.started,
            );
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
