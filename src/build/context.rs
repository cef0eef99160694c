//! The build context: the directory COPY and ADD read from, seen through its
//! ignore file, and content hashes of the sources a step uses.
//!
//! Sources are resolved lazily, per step: a pattern (with `*`, `?`, `[..]`
//! wildcards per path element, as Go's `filepath.Match`) becomes the list of
//! matching context paths, and a directory becomes the files under it that
//! the ignore file keeps. Hashing a file reads it only when its
//! (size, mtime, ctime, inode) differ from what `ROOT/cache/context-hashes`
//! remembers for its path, so a fully cached rebuild reads no file contents.
//!
//! It owns reading the context directory; it must not build layers or
//! decide cache keys (see `steps` and `cache`).

use super::glob::{glob_match, has_wildcards};
use super::ignore::{self, IgnoreMatcher};
use super::imagefs::resolve_in_root;
use crate::build::error::FileError;
use crate::build::Result;
use crate::chain::WithContext as _;
use crate::report::Report;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What one context entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink(String),
}

/// One file, directory or symlink of the context.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path relative to the matched source (`""` for the source itself).
    pub rel: String,
    pub abs: PathBuf,
    pub kind: Kind,
    /// Permission bits (and setuid/setgid/sticky).
    pub mode: u32,
    pub size: u64,
    pub mtime: i64,
    /// For a regular file with several names: the same key for all of them,
    /// so that COPY keeps them hard links.
    pub inode: Option<String>,
    /// What the hash cache compares (taken from the walk's lstat, so
    /// hashing does not stat again).
    stamp: Stamp,
}

/// One match of a source pattern: its base name and everything under it.
#[derive(Debug, Clone)]
pub struct Matched {
    /// Path relative to the context root.
    pub path: String,
    /// The matched entry first (`rel == ""`), then its contents, sorted.
    pub entries: Vec<Entry>,
}

impl Matched {
    pub fn is_dir(&self) -> bool {
        self.entries.first().is_some_and(|e| e.kind == Kind::Dir)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    ino: u64,
    sha256: String,
}

impl Stamp {
    /// ctime is included because it changes on every write even when a
    /// tool restores the mtime afterwards.
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            size: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            ino: meta.ino(),
            sha256: String::new(),
        }
    }
}

/// One path of the context a build read, as it was when read: what a
/// caller that wants to know cheaply whether a rebuild could differ (a
/// project environment) stats again later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPath {
    pub path: PathBuf,
    pub kind: ReadKind,
    pub size: u64,
    pub mtime_ns: i64,
}

/// What a read path was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadKind {
    /// A directory whose listing was used (a COPY of it, or a wildcard
    /// matched in it): entries added or removed change its mtime.
    Dir,
    File {
        sha256: String,
    },
    Symlink {
        target: String,
    },
}

/// A build context directory (or none, for a Dockerfile read from stdin).
pub struct BuildContext {
    root: Option<PathBuf>,
    ignore: IgnoreMatcher,
    hash_file: PathBuf,
    stamps: BTreeMap<String, Stamp>,
    dirty: bool,
    /// Everything `hash` and wildcard matching read, by path.
    read: RefCell<BTreeMap<PathBuf, ReadPath>>,
}

impl BuildContext {
    /// Open `root` with the ignore file that applies to `dockerfile`;
    /// remembered file hashes live in `hash_file`.
    pub fn open(
        root: Option<&Path>,
        dockerfile: Option<&Path>,
        hash_file: PathBuf,
    ) -> Result<BuildContext> {
        let (root, ignore) = match root {
            Some(r) => {
                let r = fs_err::canonicalize(r).context("cannot open the build context")?;
                crate::chain::ensure!(
                    r.is_dir(),
                    "the build context {} is not a directory",
                    r.display()
                );
                let df = dockerfile
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| r.join("Dockerfile"));
                (Some(r.clone()), ignore::load(&r, &df)?)
            }
            None => (None, IgnoreMatcher::default()),
        };
        // A damaged or foreign hash file only costs re-reading the files.
        let stamps = std::fs::read(&hash_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(BuildContext {
            root,
            ignore,
            hash_file,
            stamps,
            dirty: false,
            read: RefCell::default(),
        })
    }

    /// The context-relative paths a COPY/ADD source names: the cleaned path
    /// itself, or every match of its wildcards. Ignored paths do not exist.
    /// A symlink named as a source (or matched by a wildcard) is followed,
    /// as BuildKit does: the copy has the target's content under the link's
    /// name. Symlinks inside a copied directory stay symlinks.
    pub fn resolve(&self, source: &str) -> Result<Vec<Matched>, FileError> {
        let Some(root) = &self.root else {
            return Err(FileError::NoContext(source.to_string()));
        };
        let cleaned = ignore::clean(&format!("/{source}"));
        // `../x` is cleaned away against the root; a source that tried to go
        // there is refused rather than silently re-rooted, as Docker does.
        if ignore::clean(source).starts_with("..") {
            return Err(FileError::OutsideContext(source.to_string()));
        }
        let rel = cleaned.trim_start_matches('/').to_string();
        let paths = if has_wildcards(&rel) {
            let found = self.glob(root, &rel)?;
            if found.is_empty() {
                return Err(FileError::NoMatch(source.to_string()));
            }
            found
        } else {
            vec![rel]
        };
        paths
            .into_iter()
            .map(|p| {
                let real = self.follow(root, &p, source)?;
                let mut entries = Vec::new();
                self.walk(root, &real, "", &mut entries)?;
                Ok(Matched { path: p, entries })
            })
            .collect()
    }

    /// `path` with its symlinks resolved inside the context (a link cannot
    /// lead out of it: an absolute target starts at the context root, as
    /// BuildKit scopes it). Missing and ignored paths are not found.
    fn follow(&self, root: &Path, path: &str, source: &str) -> Result<String, FileError> {
        let real = resolve_in_root(path, true, |p| link_in(root, p))
            .ok_or_else(|| FileError::Loops(source.to_string()))?;
        let excluded = |p: &str| !p.is_empty() && self.ignore.excluded(p);
        let missing = !real.is_empty() && root.join(&real).symlink_metadata().is_err();
        if excluded(path) || excluded(&real) || missing {
            return Err(FileError::NotInContext(source.to_string()));
        }
        Ok(real)
    }

    /// Matches of a wildcard pattern, one path element at a time.
    fn glob(&self, root: &Path, pattern: &str) -> Result<Vec<String>, FileError> {
        let mut found = vec![String::new()];
        for part in pattern.split('/') {
            let mut next = Vec::new();
            for base in &found {
                let Some(real) = resolve_in_root(base, true, |p| link_in(root, p)) else {
                    continue;
                };
                let dir = root.join(real);
                if !has_wildcards(part) {
                    let p = join(base, part);
                    if dir.join(part).symlink_metadata().is_ok() && !self.ignore.excluded(&p) {
                        next.push(p);
                    }
                    continue;
                }
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                self.note_dir(&dir);
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                for n in names {
                    let p = join(base, &n);
                    if glob_match(part, &n)? && !self.ignore.excluded(&p) {
                        next.push(p);
                    }
                }
            }
            found = next;
        }
        Ok(found)
    }

    fn walk(
        &self,
        root: &Path,
        path: &str,
        rel: &str,
        out: &mut Vec<Entry>,
    ) -> Result<(), FileError> {
        let abs = root.join(path);
        let unreadable = |error| FileError::Read {
            path: abs.clone(),
            error,
        };
        let meta = abs.symlink_metadata().map_err(unreadable)?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&abs).map_err(unreadable)?;
            Kind::Symlink(t.to_string_lossy().into_owned())
        } else if ft.is_file() {
            Kind::File
        } else {
            // Sockets and devices are not build context content (Docker skips them too).
            return Ok(());
        };
        let excluded = !path.is_empty() && self.ignore.excluded(path);
        if !excluded {
            out.push(Entry {
                rel: rel.to_string(),
                abs: abs.clone(),
                kind: kind.clone(),
                mode: meta.mode() & 0o7777,
                size: meta.len(),
                mtime: meta.mtime(),
                inode: (kind == Kind::File && meta.nlink() > 1)
                    .then(|| format!("{}:{}", meta.dev(), meta.ino())),
                stamp: Stamp::of(&meta),
            });
        }
        if kind == Kind::Dir && (!excluded || self.ignore.descend(path)) {
            let mut names: Vec<String> = std::fs::read_dir(&abs)
                .map_err(unreadable)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for n in names {
                self.walk(root, &join(path, &n), &join(rel, &n), out)?;
            }
        }
        Ok(())
    }

    /// A hash of everything about `matched` that the copied files depend
    /// on: relative paths, kinds, permission bits, file contents and symlink
    /// targets. Owners are left out because COPY gives files root (or the
    /// `--chown` owner) whoever owns them in the context; mtimes are left out
    /// as buildkit does, so touching a file does not invalidate the cache.
    /// `report` sees the bytes of the files read so far.
    pub fn hash(&mut self, matched: &[Matched], report: &dyn Report) -> Result<String> {
        let total = matched
            .iter()
            .flat_map(|m| &m.entries)
            .filter(|e| matches!(e.kind, Kind::File))
            .map(|e| e.stamp.size)
            .sum();
        let mut done = 0;
        let hashed = self.hash_counted(matched, &mut |n| {
            done += n;
            report.working("reading the build context", done, Some(total));
        });
        report.worked();
        hashed
    }

    fn hash_counted(&mut self, matched: &[Matched], read: &mut dyn FnMut(u64)) -> Result<String> {
        let mut h = Sha256::new();
        for m in matched {
            h.update(format!("match {}\0", m.path));
            for e in &m.entries {
                let (what, read) = match &e.kind {
                    Kind::Dir => ("dir".to_string(), ReadKind::Dir),
                    Kind::Symlink(t) => (
                        format!("symlink {t}"),
                        ReadKind::Symlink { target: t.clone() },
                    ),
                    Kind::File => {
                        let sha256 = self.file_hash(&e.abs, &e.stamp)?;
                        read(e.stamp.size);
                        (format!("file {sha256}"), ReadKind::File { sha256 })
                    }
                };
                h.update(format!("{}\0{:o}\0{what}\0", e.rel, e.mode));
                self.read.get_mut().insert(
                    e.abs.clone(),
                    ReadPath {
                        path: e.abs.clone(),
                        kind: read,
                        size: e.stamp.size,
                        mtime_ns: e.stamp.mtime_ns,
                    },
                );
            }
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Every context path this build read so far (files, the directories
    /// copied or searched by wildcards, symlinks), sorted by path.
    pub fn reads(&self) -> Vec<ReadPath> {
        self.read.borrow().values().cloned().collect()
    }

    fn note_dir(&self, dir: &Path) {
        if let Ok(meta) = dir.symlink_metadata() {
            let stamp = Stamp::of(&meta);
            self.read.borrow_mut().insert(
                dir.to_path_buf(),
                ReadPath {
                    path: dir.to_path_buf(),
                    kind: ReadKind::Dir,
                    size: stamp.size,
                    mtime_ns: stamp.mtime_ns,
                },
            );
        }
    }

    fn file_hash(&mut self, abs: &Path, stamp: &Stamp) -> Result<String> {
        let key = abs.to_string_lossy().into_owned();
        let stamp = stamp.clone();
        if let Some(known) = self.stamps.get(&key) {
            let unchanged = Stamp {
                sha256: String::new(),
                ..known.clone()
            } == stamp;
            if unchanged {
                return Ok(known.sha256.clone());
            }
        }
        let sum = file_sha256(abs)?;
        self.stamps.insert(
            key,
            Stamp {
                sha256: sum.clone(),
                ..stamp
            },
        );
        self.dirty = true;
        Ok(sum)
    }

    /// Remember the hashes computed in this build (best effort: losing the
    /// file only means reading the files again next time).
    pub fn save(&self) {
        if !self.dirty {
            return;
        }
        let Some(dir) = self.hash_file.parent() else {
            return;
        };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer(std::io::BufWriter::new(tmp.as_file_mut()), &self.stamps)?;
            // Readers see the old file or the new one, never a torn write.
            tmp.persist(&self.hash_file)?;
            Ok(())
        };
        let _ = write();
    }
}

/// The sha256 of a file's contents, hex, read in 64 KiB pieces.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = fs_err::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The target of `p` under `root` if it is a symlink.
fn link_in(root: &Path, p: &str) -> Option<String> {
    std::fs::read_link(root.join(p))
        .ok()
        .map(|t| t.to_string_lossy().into_owned())
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_ignore_and_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ctx");
        std::fs::create_dir_all(root.join("src/sub")).unwrap();
        std::fs::write(root.join("src/a.txt"), "a").unwrap();
        std::fs::write(root.join("src/sub/b.txt"), "b").unwrap();
        std::fs::write(root.join("src/skip.log"), "x").unwrap();
        std::fs::write(root.join(".dockerignore"), "**/*.log\n").unwrap();
        let hashes = dir.path().join("hashes");
        let mut ctx = BuildContext::open(Some(&root), None, hashes.clone()).unwrap();
        let m = ctx.resolve("src").unwrap();
        let rels: Vec<&str> = m[0].entries.iter().map(|e| e.rel.as_str()).collect();
        assert_eq!(rels, ["", "a.txt", "sub", "sub/b.txt"]);
        assert!(ctx
            .resolve("src/skip.log")
            .unwrap_err()
            .to_string()
            .contains("not found"));
        assert!(ctx
            .resolve("../x")
            .unwrap_err()
            .to_string()
            .contains("outside"));
        let g = ctx.resolve("src/*.txt").unwrap();
        assert_eq!(g.len(), 1);
        let h1 = ctx.hash(&m, &crate::report::Silent).unwrap();
        ctx.save();
        assert!(hashes.exists());
        std::fs::write(root.join("src/skip.log"), "changed").unwrap();
        let mut again = BuildContext::open(Some(&root), None, hashes.clone()).unwrap();
        assert_eq!(
            again
                .hash(&again.resolve("src").unwrap(), &crate::report::Silent)
                .unwrap(),
            h1
        );
        std::fs::write(root.join("src/a.txt"), "A").unwrap();
        assert_ne!(
            again
                .hash(&again.resolve("src").unwrap(), &crate::report::Silent)
                .unwrap(),
            h1
        );
    }
}
