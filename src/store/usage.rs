//! Disk usage for `system df`: bytes a tree takes on disk, each inode counted
//! once (an unpacked busybox is hundreds of hard links to one file), and the
//! unpacked layers of the cache with the mapping each was unpacked for.
//!
//! It only reads. Parts the caller cannot read (directories of subordinate
//! ids) count as far as they could be seen.

use super::layers::mapping_dir_for_key;
use super::Store;
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Adds up allocated bytes, remembering every inode it has counted.
#[derive(Default)]
pub struct DiskUsage {
    seen: HashSet<(u64, u64)>,
}

impl DiskUsage {
    /// Bytes under `p` not counted before (symlinks are not followed).
    pub fn add(&mut self, p: &Path) -> u64 {
        let mut total = 0;
        // A loop, not recursion: trees from images may nest deeply.
        let mut todo = vec![p.to_path_buf()];
        while let Some(p) = todo.pop() {
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if !self.seen.insert((m.dev(), m.ino())) {
                continue;
            }
            total += m.blocks() * 512;
            if m.is_dir() {
                todo.extend(
                    std::fs::read_dir(&p)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.path()),
                );
            }
        }
        total
    }
}

/// One unpacked layer in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedLayer {
    pub dir: PathBuf,
    /// `ROOT/o/<mapping>`: which id mapping it was unpacked for.
    pub mapping_dir: PathBuf,
    /// Hex of its diff id.
    pub diff_hex: String,
}

impl Store {
    /// Every unpacked layer in the cache.
    pub fn cached_layers(&self) -> Vec<CachedLayer> {
        let mut out = Vec::new();
        for m in std::fs::read_dir(self.root.join("o"))
            .into_iter()
            .flatten()
            .flatten()
        {
            for l in std::fs::read_dir(m.path()).into_iter().flatten().flatten() {
                if l.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(CachedLayer {
                        dir: l.path(),
                        mapping_dir: m.path(),
                        diff_hex: l.file_name().to_string_lossy().into_owned(),
                    });
                }
            }
        }
        out
    }

    /// `ROOT/o/<mapping>` for a container record's mapping key.
    pub fn mapping_dir_for_key(&self, key: &str) -> PathBuf {
        mapping_dir_for_key(&self.root, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_links_count_once() {
        let d = tempfile::tempdir().unwrap();
        let data = vec![7u8; 1 << 20];
        std::fs::write(d.path().join("a"), &data).unwrap();
        for i in 0..50 {
            std::fs::hard_link(d.path().join("a"), d.path().join(format!("l{i}"))).unwrap();
        }
        let mut du = DiskUsage::default();
        let total = du.add(d.path());
        assert!(
            (1 << 20..2 << 20).contains(&total),
            "{total} bytes for one 1 MiB file with 50 links"
        );
        // Counted already: a second look adds nothing.
        assert_eq!(du.add(&d.path().join("l3")), 0);
        assert_eq!(DiskUsage::default().add(&d.path().join("missing")), 0);
    }
}
