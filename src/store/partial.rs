//! Resumable downloads: `ROOT/tmp/partial/<hex>`, one file per blob digest,
//! appended to while a blob arrives and kept when the process is killed, so a
//! later pull continues where the last one stopped (with an HTTP `Range`
//! request) instead of starting over.
//!
//! One process at a time appends to a partial file (flock on the file itself;
//! a waiter re-checks that the path still names the file it locked, since the
//! winner moves it away when done). The content is hashed as it is written
//! and checked against the digest and size before a writer may adopt it, so a
//! partial file is never visible as store content. This module does not talk
//! to registries and does not decide what to download.

use super::tmp::{TmpDir, PARTIAL as DIR};
use super::Result;
use crate::chain::{bail, WithContext};
use crate::oci::digest;
use crate::sys::flock::{self, Held, Mode};
use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A blob being downloaded, locked for this process.
pub struct Partial {
    path: PathBuf,
    file: std::fs::File,
    sha: Sha256,
    len: u64,
    digest: Digest,
    _held: Held,
}

/// A complete download whose digest and size were checked.
#[derive(Debug)]
pub struct Verified {
    pub(super) path: PathBuf,
    pub(super) digest: Digest,
    pub(super) size: u64,
    // Held until the writer has moved the file into its scratch dir.
    pub(super) _held: Held,
}

impl Verified {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
}

/// Open (or continue) the partial download of `d` under `root`.
pub fn open(root: &Path, d: &Digest) -> Result<Partial> {
    let dir = root.join("tmp").join(DIR);
    fs_err::create_dir_all(&dir)?;
    let path = dir.join(d.digest());
    loop {
        let held = flock::lock(&path, Mode::Exclusive)
            .with_context(|| format!("cannot lock {}", path.display()))?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        // The previous holder may have moved the file away (download done)
        // between our open and our lock: then we locked an orphan; retry.
        let same = match (file.metadata(), std::fs::metadata(&path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        };
        if !same {
            continue;
        }
        let mut p = Partial {
            path,
            file,
            sha: Sha256::new(),
            len: 0,
            digest: d.clone(),
            _held: held,
        };
        p.rehash()
            .with_context(|| format!("cannot read the partial download {}", p.path.display()))?;
        return Ok(p);
    }
}

impl Partial {
    /// Bytes already downloaded: where a `Range` request should start.
    pub fn offset(&self) -> u64 {
        self.len
    }

    /// Start over (the server ignored the range, or the data is bad).
    pub fn restart(&mut self) -> Result<()> {
        self.file
            .set_len(0)
            .with_context(|| format!("cannot truncate {}", self.path.display()))?;
        self.sha = Sha256::new();
        self.len = 0;
        Ok(())
    }

    fn rehash(&mut self) -> std::io::Result<()> {
        let mut f = &self.file;
        f.seek(SeekFrom::Start(0))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            self.sha.update(&buf[..n]);
            self.len += n as u64;
        }
        Ok(())
    }

    /// Check the whole download against its digest and `size`; a mismatch
    /// deletes the partial file (it can never become right) and names the digest.
    pub fn finish(mut self, size: u64, what: &str) -> Result<Verified> {
        self.file
            .flush()
            .and_then(|_| self.file.sync_all())
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        let got = digest::parse(&format!("sha256:{}", hex::encode(self.sha.finalize())))
            .map_err(crate::chain::Context::msg)?;
        if got != self.digest || self.len != size {
            let _ = std::fs::remove_file(&self.path);
            bail!(
                "{what} is corrupt: the registry sent {} bytes hashing to {got}, but the manifest promises {size} bytes with digest {}; nothing was stored",
                self.len,
                self.digest
            );
        }
        Ok(Verified {
            path: self.path,
            digest: self.digest,
            size,
            _held: self._held,
        })
    }
}

impl Write for Partial {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.sha.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Delete partial downloads untouched for `age` (pulls that were given up),
/// leaving alone any that a running pull holds.
pub fn sweep(root: &Path, age: std::time::Duration) -> Result<()> {
    let dir = root.join("tmp").join(DIR);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|el| el > age);
        if old {
            if let Some(_held) = flock::try_lock(&e.path(), Mode::Exclusive)? {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// Move a verified download into a writer's scratch dir; returns its new path.
pub(super) fn adopt(v: Verified, tmp: &TmpDir) -> Result<PathBuf> {
    let dest = tmp.path().join(format!("blob.{}", v.digest.digest()));
    fs_err::rename(&v.path, &dest)?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_verifies_and_rejects_bad_content() {
        let root = tempfile::tempdir().unwrap();
        let data = b"hello partial world";
        let d = digest::of_bytes(data);
        let mut p = open(root.path(), &d).unwrap();
        p.write_all(&data[..5]).unwrap();
        drop(p);
        // A second open continues after the bytes already there.
        let mut p = open(root.path(), &d).unwrap();
        assert_eq!(p.offset(), 5);
        p.write_all(&data[5..]).unwrap();
        let v = p.finish(data.len() as u64, "blob x").unwrap();
        assert_eq!(v.digest(), &d);
        drop(v);
        // Wrong content: an error naming the digest, and the file is gone.
        let mut p = open(root.path(), &d).unwrap();
        p.restart().unwrap();
        p.write_all(b"something else entirely").unwrap();
        let e = p
            .finish(data.len() as u64, "blob x")
            .unwrap_err()
            .to_string();
        assert!(e.contains(&d.to_string()) && e.contains("corrupt"), "{e}");
        assert!(!root.path().join("tmp/partial").join(d.digest()).exists());
        // Sweeping keeps fresh and held files, removes old ones.
        let mut p = open(root.path(), &d).unwrap();
        p.write_all(b"x").unwrap();
        sweep(root.path(), std::time::Duration::ZERO).unwrap();
        assert!(root.path().join("tmp/partial").join(d.digest()).exists());
        drop(p);
        sweep(root.path(), std::time::Duration::from_secs(3600)).unwrap();
        assert!(root.path().join("tmp/partial").join(d.digest()).exists());
        sweep(root.path(), std::time::Duration::ZERO).unwrap();
        assert!(!root.path().join("tmp/partial").join(d.digest()).exists());
    }
}
