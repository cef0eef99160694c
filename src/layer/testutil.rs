//! Test helpers for layer tests: tars built in memory (including headers no
//! well-behaved builder would write) and a scratch directory whose contents
//! are created, and removed, inside a user namespace like the store does.
//! Work done in the namespace reports its errors as text (they cross a
//! fork), so the helpers that run it are for this crate's tests only.

use super::unpack::{unpack, Owners, Skipped, UnpackOptions, UnpackReport};
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use crate::userns::run_in_userns;
use std::path::{Path, PathBuf};
use tar::{EntryType, Header};

/// A tar under construction.
pub struct TarBuf {
    b: tar::Builder<Vec<u8>>,
}

impl TarBuf {
    pub fn new() -> Self {
        TarBuf {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: EntryType, mode: u32, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    /// Append a header with `name` written raw into the name field (so `..`
    /// and absolute names get through), plus data.
    pub fn raw(&mut self, h: Header, name: &[u8], data: &[u8]) -> &mut Self {
        self.raw_link(h, name, None, data)
    }

    /// Like `raw` with a link target; names and targets over 100 bytes go
    /// into a PAX header first, as GNU tar and Go write them.
    fn raw_link(
        &mut self,
        mut h: Header,
        name: &[u8],
        link: Option<&[u8]>,
        data: &[u8],
    ) -> &mut Self {
        let mut records: Vec<(&str, &[u8])> = Vec::new();
        if name.len() > 100 {
            records.push(("path", name));
        }
        if let Some(link) = link.filter(|l| l.len() > 100) {
            records.push(("linkpath", link));
        }
        if !records.is_empty() {
            self.pax(&records);
        }
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        let n = name.len().min(100);
        field[..n].copy_from_slice(&name[..n]);
        if let Some(link) = link {
            let field = &mut h.as_old_mut().linkname;
            let n = link.len().min(100);
            field[..n].copy_from_slice(&link[..n]);
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.file_with(name, data, 0o644, (0, 0), 1_600_000_000)
    }

    pub fn file_with(
        &mut self,
        name: &str,
        data: &[u8],
        mode: u32,
        owner: (u64, u64),
        mtime: u64,
    ) -> &mut Self {
        let mut h = Self::header(EntryType::Regular, mode, data.len() as u64);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        h.set_mtime(mtime);
        self.raw(h, name.as_bytes(), data)
    }

    pub fn dir(&mut self, name: &str, mode: u32, mtime: u64) -> &mut Self {
        let mut h = Self::header(EntryType::Directory, mode, 0);
        h.set_mtime(mtime);
        self.raw(h, name.as_bytes(), b"")
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let h = Self::header(EntryType::Symlink, 0o777, 0);
        self.raw_link(h, name.as_bytes(), Some(target.as_bytes()), b"")
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let h = Self::header(EntryType::Link, 0o644, 0);
        self.raw_link(h, name.as_bytes(), Some(target.as_bytes()), b"")
    }

    pub fn node(&mut self, name: &str, kind: EntryType, major: u32, minor: u32) -> &mut Self {
        let mut h = Self::header(kind, 0o620, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.raw(h, name.as_bytes(), b"")
    }

    /// A PAX extended header applying to the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            data.extend_from_slice(&super::diff::pax_record(k.as_bytes(), v));
        }
        let h = Self::header(EntryType::XHeader, 0o644, data.len() as u64);
        self.raw(h, b"PaxHeader", &data)
    }

    pub fn bytes(&mut self) -> Vec<u8> {
        self.b.finish().unwrap();
        self.b.get_ref().clone()
    }
}

/// A temp dir with `dest/` to unpack into, cleaned up from inside the user
/// namespace (its files belong to ids the calling user cannot remove).
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub map: IdMapping,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dest")).unwrap();
        let map = IdMapping::detect(UsernsRequest::Auto, &IdSources::default()).unwrap();
        Scratch { dir, map }
    }

    pub fn dest(&self) -> PathBuf {
        self.dir.path().join("dest")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dest().join(rel)
    }

    /// Run `f` as root of a user namespace with this user's mapping.
    pub(crate) fn in_userns(&self, f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
        run_in_userns(&self.map, &IdSources::default(), f).map_err(|e| e.to_string())
    }

    /// Unpack `tar` into `dest` inside the user namespace; the report travels
    /// back through a file, since the child's memory is lost.
    pub(crate) fn unpack(&self, tar: &[u8], owners: Owners) -> Result<UnpackReport, String> {
        self.unpack_into(tar, &self.dest(), owners)
    }

    pub(crate) fn unpack_into(
        &self,
        tar: &[u8],
        dest: &Path,
        owners: Owners,
    ) -> Result<UnpackReport, String> {
        let report_file = self.dir.path().join("report");
        self.in_userns(|| {
            let r = unpack(tar, dest, &UnpackOptions { owners }).map_err(|e| e.to_string())?;
            let mut text = String::new();
            for s in &r.skipped {
                text.push_str(&format!("s {}\t{}\n", s.what, s.why));
            }
            for w in &r.warnings {
                text.push_str(&format!("w {w}\n"));
            }
            std::fs::write(&report_file, text).map_err(|e| e.to_string())
        })?;
        let text = std::fs::read_to_string(&report_file).unwrap();
        let mut r = UnpackReport::default();
        for line in text.lines() {
            match line.split_at(2) {
                ("s ", s) => {
                    let (what, why) = s.split_once('\t').unwrap_or((s, ""));
                    r.skipped.push(Skipped {
                        what: what.into(),
                        why: why.into(),
                    });
                }
                (_, w) => r.warnings.push(w.into()),
            }
        }
        Ok(r)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let dir = self.dir.path().to_path_buf();
        let _ = self.in_userns(|| {
            for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())? {
                let p = entry.map_err(|e| e.to_string())?.path();
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        });
    }
}

/// lstat that names the path when it fails.
pub fn lstat(p: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()))
}

/// The value of xattr `key` on the file or directory `p`, if set.
pub fn xattr(p: &Path, key: &str) -> Option<Vec<u8>> {
    xattrs(p)
        .into_iter()
        .find(|(k, _)| k.to_bytes() == key.as_bytes())
        .map(|(_, v)| v)
}

impl Scratch {
    /// Run `f` inside the user namespace and bring back the bytes it returns.
    pub(crate) fn eval(
        &self,
        f: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, String> {
        let out = self.dir.path().join("eval-out");
        self.in_userns(|| {
            let bytes = f()?;
            std::fs::write(&out, bytes).map_err(|e| e.to_string())
        })?;
        Ok(std::fs::read(&out).unwrap())
    }
}

/// A line per entry below `root`, sorted: type, mode, owner, mtime, content
/// (data, link target or device), user/security xattrs and, for a second
/// name of an inode, which name came first. Two trees with equal snapshots
/// hold the same layer content.
pub(crate) fn snapshot(root: &Path) -> Result<String, String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    fn walk(
        root: &Path,
        rel: &str,
        inodes: &mut std::collections::HashMap<u64, String>,
        out: &mut Vec<String>,
    ) -> Result<(), String> {
        let dir = root.join(rel);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        for name in names {
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let p = root.join(&rel);
            let m = std::fs::symlink_metadata(&p).map_err(|e| e.to_string())?;
            let ft = m.file_type();
            let what = if ft.is_dir() {
                "dir".to_string()
            } else if ft.is_symlink() {
                format!("symlink {:?}", std::fs::read_link(&p).unwrap())
            } else if ft.is_file() {
                format!(
                    "file {:?}",
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap())
                )
            } else if ft.is_char_device() {
                format!("char {}", m.rdev())
            } else if ft.is_fifo() {
                "fifo".to_string()
            } else {
                "other".to_string()
            };
            let link = if !ft.is_dir() && m.nlink() > 1 {
                match inodes.get(&m.ino()) {
                    Some(first) => format!(" link-of {first}"),
                    None => {
                        inodes.insert(m.ino(), rel.clone());
                        String::new()
                    }
                }
            } else {
                String::new()
            };
            let xattrs: Vec<String> = if ft.is_dir() || ft.is_file() {
                xattrs(&p)
                    .into_iter()
                    .map(|(k, v)| {
                        format!("{}={}", k.to_string_lossy(), String::from_utf8_lossy(&v))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            out.push(format!(
                "{rel}: {what} mode={:o} owner={}:{} mtime={} xattrs={xattrs:?}{link}",
                m.mode() & 0o7777,
                m.uid(),
                m.gid(),
                m.mtime()
            ));
            if ft.is_dir() {
                walk(root, &rel, inodes, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, "", &mut std::collections::HashMap::new(), &mut out)?;
    Ok(out.join("\n"))
}

/// All xattrs of the file or directory `p`.
fn xattrs(p: &Path) -> Vec<(std::ffi::CString, Vec<u8>)> {
    let f = std::fs::File::open(p).unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
    crate::sys::fsat::fxattrs(std::os::fd::AsFd::as_fd(&f)).unwrap()
}
