//! An overlay upper directory back into an OCI layer tar (`hutch commit`,
//! `hutch build` RUN steps).
//!
//! Overlay whiteouts (char device 0/0) become `.wh.<name>` entries and
//! directories marked `user.overlay.opaque=y` (or `trusted.overlay.opaque=y`)
//! get a `.wh..wh..opq` entry, as containers/storage's overlay driver does.
//!
//! The output is a pure function of the directory's contents: entries walk
//! the tree depth first with each directory's entries sorted by name, headers
//! are GNU with empty user/group names, no atime/ctime and the mtime in whole
//! seconds, long names use GNU long-name records, and a second name for an
//! inode becomes a hardlink entry. The same changes therefore give the same
//! bytes and the same `diff_id`.
//!
//! `flatten` walks a stack of such directories (an upper dir over unpacked
//! lower layers, top first) as overlayfs would show them merged: the topmost
//! entry of a name wins, whiteouts hide the name below, an opaque directory
//! hides the layers under it; the result is a root filesystem tar
//! (`hutch export`) with no whiteouts or markers in it.
//!
//! It reads the tree through directory fds and never follows symlinks. It does
//! not compress (see `codec::Compressor`) nor store anything.

use super::digest::HashingWriter;
use super::error::{DiffError, ReadError};
use super::whiteout::{self, OPAQUE_MARKER};
use super::{Error, Result};
use crate::sys::fsat::{self, Kind, Stat};
use crate::userns::idmap::IdMapping;
use nix::errno::Errno;
use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::io::{BufWriter, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tar::{EntryType, Header};

/// How to produce the layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiffOptions<'a> {
    /// Translate owners from host ids to the ids seen inside the user
    /// namespace, for a diff taken from the host side. `None` keeps the ids
    /// `lstat` reports, which is right when the diff itself runs inside the
    /// namespace (the kernel has translated them already). Ids the mapping
    /// does not cover become 0 with a warning.
    pub ids: Option<&'a IdMapping>,
}

/// The layer that was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffReport {
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    /// Size of the uncompressed tar in bytes.
    pub size: u64,
    /// What could not be kept exactly (unmapped owners, sockets).
    pub warnings: Vec<String>,
}

const BLOCK: usize = 512;

/// Write the layer tar for `upper` to `out`.
pub fn diff(upper: &Path, out: impl Write, opts: &DiffOptions<'_>) -> Result<DiffReport> {
    write_tar(&[upper], false, out, opts).map_err(|why| Error::Diff {
        upper: upper.to_path_buf(),
        why,
    })
}

/// Write the merged view of `layers` (topmost first) to `out` as one
/// root filesystem tar, whiteouts and opaque directories applied.
pub fn flatten(layers: &[&Path], out: impl Write, opts: &DiffOptions<'_>) -> Result<DiffReport> {
    if layers.is_empty() {
        return Err(Error::NothingToFlatten);
    }
    write_tar(layers, true, out, opts).map_err(|why| Error::Diff {
        upper: layers[0].to_path_buf(),
        why,
    })
}

fn write_tar(
    layers: &[&Path],
    merge: bool,
    out: impl Write,
    opts: &DiffOptions<'_>,
) -> Result<DiffReport, DiffError> {
    let upper = layers[0];
    let mut roots = Vec::with_capacity(layers.len());
    for l in layers {
        roots.push(fsat::open_dir(l).map_err(|source| DiffError::Open {
            dir: l.to_path_buf(),
            source,
        })?);
    }
    let mut d = Differ {
        upper,
        merge,
        out: HashingWriter::new(BufWriter::with_capacity(256 * 1024, out)),
        ids: opts.ids,
        links: HashMap::new(),
        unmapped: BTreeMap::new(),
        warnings: Vec::new(),
        changed: 0,
        first_changed: None,
        buf: vec![0u8; 256 * 1024],
    };
    let fds: Vec<BorrowedFd<'_>> = roots.iter().map(|r| r.as_fd()).collect();
    d.walk(&fds, b"")?;
    // End of archive: two zero blocks.
    d.write(&[0u8; 2 * BLOCK])?;
    let (buf, diff_id, size) = d.out.finish();
    buf.into_inner()
        .map_err(|e| DiffError::Write(e.into_error()))?;
    let mut warnings = d.warnings;
    if let Some(first) = d.first_changed {
        warnings.push(format!(
            "{} entr{} (first /{first}) changed while being read and were left out",
            d.changed,
            if d.changed == 1 { "y" } else { "ies" }
        ));
    }
    for ((uid, gid), (n, first)) in d.unmapped {
        warnings.push(format!(
            "{n} entr{} owned by host {uid}:{gid} (first /{first}) written as 0:0: the id mapping does not cover them",
            if n == 1 { "y" } else { "ies" }
        ));
    }
    Ok(DiffReport {
        diff_id,
        size,
        warnings,
    })
}

struct Differ<'a, W: Write> {
    upper: &'a Path,
    /// Flattening a stack: apply whiteouts and opaque markers, emit neither.
    merge: bool,
    out: HashingWriter<BufWriter<W>>,
    ids: Option<&'a IdMapping>,
    /// (dev, ino) → first path written, for inodes with several names.
    links: HashMap<(u64, u64), Vec<u8>>,
    /// host (uid, gid) → (entries, first path) written as 0:0.
    unmapped: BTreeMap<(u32, u32), (usize, String)>,
    warnings: Vec<String>,
    /// Entries that vanished or changed kind between listing and reading
    /// (a running container's files): left out, as tar leaves them out.
    changed: usize,
    first_changed: Option<String>,
    buf: Vec<u8>,
}

/// One directory entry, with the name it gets in the tar.
struct Item {
    /// Which directory of the stack it comes from (0 = top).
    layer: usize,
    tar_name: Vec<u8>,
    name: CString,
    st: Stat,
}

fn is_whiteout(st: &Stat) -> bool {
    st.kind == Kind::Char && st.rdev_major == 0 && st.rdev_minor == 0
}

impl<W: Write> Differ<'_, W> {
    fn err(&self, path: &[u8], e: impl Into<ReadError>) -> DiffError {
        DiffError::Entry {
            upper: self.upper.to_path_buf(),
            path: String::from_utf8_lossy(path).into_owned(),
            source: e.into(),
        }
    }

    /// Note an entry that changed between being listed and being read.
    fn changed_under_us(&mut self, path: &[u8]) {
        self.changed += 1;
        if self.first_changed.is_none() {
            self.first_changed = Some(show(path));
        }
    }

    fn left_out(&mut self, path: &[u8]) -> Result<(), DiffError> {
        self.changed_under_us(path);
        Ok(())
    }

    /// Whether `e` says the entry was removed or replaced since its lstat
    /// (a symlink or a directory where a file was, or the other way round).
    fn replaced(e: &crate::sys::SysError) -> bool {
        matches!(
            e.errno,
            Errno::ENOENT
                | Errno::ELOOP
                | Errno::ENOTDIR
                | Errno::EISDIR
                | Errno::EINVAL
                | Errno::ENXIO
        )
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DiffError> {
        self.out.write_all(bytes).map_err(DiffError::Write)
    }

    /// One directory level: the entries of every directory in `dirs` (top
    /// first), a name taken from the topmost directory that has it.
    fn walk(&mut self, dirs: &[BorrowedFd<'_>], prefix: &[u8]) -> Result<(), DiffError> {
        let mut items = Vec::new();
        let mut seen: std::collections::HashSet<CString> = std::collections::HashSet::new();
        for (layer, dir) in dirs.iter().enumerate() {
            let names = fsat::read_dir_names(*dir).map_err(|e| self.err(prefix, e))?;
            for name in names {
                if !seen.insert(name.clone()) {
                    continue;
                }
                let path = join(prefix, name.to_bytes());
                let Some(st) = fsat::lstat_at(*dir, &name).map_err(|e| self.err(&path, e))? else {
                    self.changed_under_us(&path);
                    continue;
                };
                let tar_name = if is_whiteout(&st) {
                    if self.merge {
                        // Deleted: hides the name in the layers below, shows nothing.
                        continue;
                    }
                    join(prefix, &whiteout::whiteout_name(name.to_bytes()))
                } else {
                    path
                };
                items.push(Item {
                    layer,
                    tar_name,
                    name,
                    st,
                });
            }
        }
        items.sort_by(|a, b| a.tar_name.cmp(&b.tar_name));
        for item in items {
            self.item(dirs, &item)?;
        }
        Ok(())
    }

    fn item(&mut self, dirs: &[BorrowedFd<'_>], it: &Item) -> Result<(), DiffError> {
        let dir = dirs[it.layer];
        let st = &it.st;
        let path = &it.tar_name;
        if is_whiteout(st) {
            // As containers/storage writes them: an empty regular file, mode 0,
            // the whiteout's owner and mtime.
            let h = self.header(EntryType::Regular, st, path, 0);
            return self.entry(h, path, None, &[], None);
        }
        let kind = match st.kind {
            Kind::Dir => return self.dir(dirs, it),
            Kind::Socket => {
                // A socket is a live endpoint, not content; tar has no type for it.
                self.warnings.push(format!(
                    "skipped /{}: sockets cannot be stored in a layer",
                    show(path)
                ));
                return Ok(());
            }
            Kind::File => EntryType::Regular,
            Kind::Symlink => EntryType::Symlink,
            Kind::Char => EntryType::Char,
            Kind::Block => EntryType::Block,
            Kind::Fifo => EntryType::Fifo,
        };
        if st.nlink > 1 {
            if let Some(first) = self.links.get(&(st.dev, st.ino)) {
                let first = first.clone();
                let h = self.header(EntryType::Link, st, path, st.mode);
                return self.entry(h, path, Some(&first), &[], None);
            }
            self.links.insert((st.dev, st.ino), path.clone());
        }
        let mut h = self.header(kind, st, path, st.mode);
        match st.kind {
            Kind::File => {
                h.set_size(st.size);
                let f = match fsat::open_file_at(dir, &it.name) {
                    Ok(f) => f,
                    Err(e) if Self::replaced(&e) => return self.left_out(path),
                    Err(e) => return Err(self.err(path, e)),
                };
                // Another file of that name since the lstat (a FIFO, a device):
                // never read what was not listed.
                let now = f.metadata().map_err(|e| self.err(path, e))?;
                if !now.is_file() || now.ino() != st.ino {
                    return self.left_out(path);
                }
                let xattrs = self.xattrs(f.as_fd(), path, false)?;
                self.entry(h, path, None, &xattrs.keep, Some((f, st.size)))
            }
            Kind::Symlink => {
                let target = match fsat::readlink_at(dir, &it.name) {
                    Ok(t) => t,
                    Err(e) if Self::replaced(&e) => return self.left_out(path),
                    Err(e) => return Err(self.err(path, e)),
                };
                self.entry(h, path, Some(&target), &[], None)
            }
            Kind::Char | Kind::Block => {
                let set = h
                    .set_device_major(st.rdev_major)
                    .and_then(|_| h.set_device_minor(st.rdev_minor));
                set.map_err(|e| self.err(path, e))?;
                self.entry(h, path, None, &[], None)
            }
            _ => self.entry(h, path, None, &[], None),
        }
    }

    /// A directory entry, its opaque marker if any, then its contents (when
    /// merging, those of the same directory in the layers it does not hide).
    fn dir(&mut self, dirs: &[BorrowedFd<'_>], it: &Item) -> Result<(), DiffError> {
        let (st, path) = (&it.st, &it.tar_name);
        let sub = match fsat::open_dir_at(dirs[it.layer], &it.name) {
            Ok(d) => d,
            Err(e) if Self::replaced(&e) => return self.left_out(path),
            Err(e) => return Err(self.err(path, e)),
        };
        let xattrs = self.xattrs(sub.as_fd(), path, true)?;
        let h = self.header(EntryType::Directory, st, path, st.mode);
        let mut name = path.clone();
        name.push(b'/');
        self.entry(h, &name, None, &xattrs.keep, None)?;
        if xattrs.opaque && !self.merge {
            let h = self.header(EntryType::Regular, st, path, st.mode & 0o777);
            self.entry(h, &join(path, OPAQUE_MARKER), None, &[], None)?;
        }
        let mut subs = vec![sub];
        if self.merge && !xattrs.opaque {
            for lower in &dirs[it.layer + 1..] {
                match fsat::lstat_at(*lower, &it.name).map_err(|e| self.err(path, e))? {
                    None => continue,
                    Some(s) if s.kind == Kind::Dir => {
                        let fd =
                            fsat::open_dir_at(*lower, &it.name).map_err(|e| self.err(path, e))?;
                        let opaque = self.xattrs(fd.as_fd(), path, true)?.opaque;
                        subs.push(fd);
                        if opaque {
                            break;
                        }
                    }
                    // A file or whiteout below a directory ends the stack here.
                    Some(_) => break,
                }
            }
        }
        let fds: Vec<BorrowedFd<'_>> = subs.iter().map(|f| f.as_fd()).collect();
        self.walk(&fds, path)
    }

    /// A GNU header with owner, mode and mtime filled in; name and checksum
    /// are set by `entry`.
    fn header(&mut self, kind: EntryType, st: &Stat, path: &[u8], mode: u32) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode & 0o7777);
        let (uid, gid) = self.owner(st, path);
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        // Times before 1970 cannot be written in a tar header.
        h.set_mtime(st.mtime_sec.max(0) as u64);
        h.set_size(0);
        h
    }

    fn owner(&mut self, st: &Stat, path: &[u8]) -> (u32, u32) {
        let Some(map) = self.ids else {
            return (st.uid, st.gid);
        };
        match (map.inside_uid_of(st.uid), map.inside_gid_of(st.gid)) {
            (Some(u), Some(g)) => (u, g),
            (u, g) => {
                let slot = self
                    .unmapped
                    .entry((st.uid, st.gid))
                    .or_insert((0, show(path)));
                slot.0 += 1;
                (u.unwrap_or(0), g.unwrap_or(0))
            }
        }
    }

    /// The xattrs that belong in the layer, and whether the directory is opaque.
    ///
    /// Only `user.*` (overlay's own excepted) and `security.capability` are
    /// kept, like containers/storage: SELinux labels, ACLs and trusted.* describe
    /// the host, not the image.
    ///
    /// Only regular files and directories are asked: they are the only inodes
    /// that can carry `user.*` xattrs (xattr(7)), and capabilities only mean
    /// something on files.
    fn xattrs(&self, fd: BorrowedFd<'_>, path: &[u8], is_dir: bool) -> Result<Xattrs, DiffError> {
        let mut out = Xattrs::default();
        let all = match fsat::fxattrs(fd) {
            Ok(all) => all,
            Err(e) if e.errno == Errno::ENOTSUP => return Ok(out),
            Err(e) => return Err(self.err(path, e)),
        };
        for (key, value) in all {
            let k = key.to_bytes();
            if k == whiteout::OPAQUE_XATTR.as_bytes()
                || k == whiteout::OPAQUE_XATTR_TRUSTED.as_bytes()
            {
                out.opaque |= is_dir && value == b"y";
            } else if whiteout::is_overlay_xattr(k) {
                continue;
            } else if k.starts_with(b"user.") {
                out.keep.push((key, value));
            } else if k == b"security.capability" {
                out.keep.push((key, portable_caps(value)));
            }
        }
        Ok(out)
    }

    /// Write one entry: optional PAX xattr header, GNU long name/link records
    /// when needed, the header, then exactly `data.1` bytes of data.
    fn entry(
        &mut self,
        mut h: Header,
        name: &[u8],
        link: Option<&[u8]>,
        xattrs: &[(CString, Vec<u8>)],
        data: Option<(std::fs::File, u64)>,
    ) -> Result<(), DiffError> {
        if !xattrs.is_empty() {
            let mut records = Vec::new();
            for (k, v) in xattrs {
                let mut key = b"SCHILY.xattr.".to_vec();
                key.extend_from_slice(k.to_bytes());
                records.extend_from_slice(&pax_record(&key, v));
            }
            self.extension(EntryType::XHeader, b"PaxHeader", &records)?;
        }
        if let Some(link) = link {
            if link.len() > 100 {
                self.long(EntryType::GNULongLink, link)?;
            }
            let field = &mut h.as_old_mut().linkname;
            let n = link.len().min(field.len());
            field[..n].copy_from_slice(&link[..n]);
        }
        if name.len() > 100 {
            self.long(EntryType::GNULongName, name)?;
        }
        let field = &mut h.as_old_mut().name;
        let n = name.len().min(field.len());
        field[..n].copy_from_slice(&name[..n]);
        h.set_cksum();
        self.write(h.as_bytes())?;
        if let Some((mut f, size)) = data {
            self.copy(&mut f, size, name)?;
            self.pad(size)?;
        }
        Ok(())
    }

    /// Copy exactly `size` bytes, the size the header gave: a file that
    /// shrinks mid-diff is padded with zeros and one that grows is cut, as
    /// GNU tar does, and both are reported as changed.
    fn copy(&mut self, f: &mut std::fs::File, size: u64, name: &[u8]) -> Result<(), DiffError> {
        let mut left = size;
        while left > 0 {
            let want = self.buf.len().min(left as usize);
            let n = f
                .read(&mut self.buf[..want])
                .map_err(|e| self.err(name, e))?;
            if n == 0 {
                self.changed_under_us(name);
                self.buf.fill(0);
                while left > 0 {
                    let n = self.buf.len().min(left as usize);
                    self.out
                        .write_all(&self.buf[..n])
                        .map_err(DiffError::Write)?;
                    left -= n as u64;
                }
                return Ok(());
            }
            self.out
                .write_all(&self.buf[..n])
                .map_err(DiffError::Write)?;
            left -= n as u64;
        }
        if f.read(&mut self.buf[..1]).map_err(|e| self.err(name, e))? != 0 {
            self.changed_under_us(name);
        }
        Ok(())
    }

    fn pad(&mut self, size: u64) -> Result<(), DiffError> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.write(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// A GNU long name or long link record: the full name, NUL-terminated.
    fn long(&mut self, kind: EntryType, value: &[u8]) -> Result<(), DiffError> {
        let mut data = value.to_vec();
        data.push(0);
        self.extension(kind, b"././@LongLink", &data)
    }

    fn extension(&mut self, kind: EntryType, name: &[u8], data: &[u8]) -> Result<(), DiffError> {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        self.write(h.as_bytes())?;
        self.write(data)?;
        self.pad(data.len() as u64)
    }
}

#[derive(Default)]
struct Xattrs {
    keep: Vec<(CString, Vec<u8>)>,
    opaque: bool,
}

/// `security.capability` read outside the namespace that set it comes as
/// revision 3, carrying the host uid of that namespace's root; a layer must
/// hold the namespace-independent revision 2 (same layout minus the root id).
fn portable_caps(mut v: Vec<u8>) -> Vec<u8> {
    const REVISION_MASK: u32 = 0xff00_0000;
    const REVISION_2: u32 = 0x0200_0000;
    const REVISION_3: u32 = 0x0300_0000;
    if v.len() == 24 {
        let magic = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
        if magic & REVISION_MASK == REVISION_3 {
            let magic = (magic & !REVISION_MASK) | REVISION_2;
            v[..4].copy_from_slice(&magic.to_le_bytes());
            v.truncate(20);
        }
    }
    v
}

/// One PAX record: `<len> <key>=<value>\n`, where `len` counts itself.
pub(crate) fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + 1;
    while len.to_string().len() + body != len {
        len += 1;
    }
    let mut v = format!("{len} ").into_bytes();
    v.extend_from_slice(key);
    v.push(b'=');
    v.extend_from_slice(value);
    v.push(b'\n');
    v
}

fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(prefix.len() + 1 + name.len());
    if !prefix.is_empty() {
        v.extend_from_slice(prefix);
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::testutil::{snapshot, Scratch, TarBuf};
    use crate::layer::unpack::Owners;
    use crate::userns::idmap::{IdRange, MapMode};
    use std::io::Read;

    fn long(n: usize) -> String {
        "x".repeat(n)
    }

    /// A layer using every feature a diff has to reproduce.
    fn rich_layer() -> Vec<u8> {
        let deep = format!("deep/{}/{}", long(60), long(70));
        TarBuf::new()
            .dir("etc/", 0o755, 1_000)
            .file("etc/passwd", b"root:x:0:0")
            .file_with("etc/shadow", b"secret", 0o600, (0, 42), 2_000)
            .file_with("usr/bin/su", b"su", 0o4755, (0, 0), 3_000)
            .hardlink("usr/bin/su2", "usr/bin/su")
            .symlink("usr/lib64", "lib")
            .symlink("usr/far", &format!("/{}", long(150)))
            .file("var/.wh.gone", b"")
            .file("opt/.wh..wh..opq", b"")
            .file("opt/keep", b"kept")
            .node("run/fifo", tar::EntryType::Fifo, 0, 0)
            .file(&deep, b"long name")
            .pax(&[("SCHILY.xattr.user.origin", b"test")])
            .file("etc/tagged", b"t")
            .dir("tmp/", 0o1777, 4_000)
            .bytes()
    }

    fn tar_names(tar: &[u8]) -> Vec<(String, tar::EntryType)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                    e.header().entry_type(),
                )
            })
            .collect()
    }

    #[test]
    fn round_trip_reproduces_the_tree_and_the_bytes() {
        let s = Scratch::new();
        s.unpack(&rich_layer(), Owners::FromTar).unwrap();
        let dest = s.dest();
        let layer = s
            .eval(|| {
                let mut out = Vec::new();
                diff(&dest, &mut out, &DiffOptions::default()).map_err(|e| e.to_string())?;
                Ok(out)
            })
            .unwrap();

        let names = tar_names(&layer);
        let has = |n: &str, t: tar::EntryType| names.contains(&(n.to_string(), t));
        assert!(has("var/.wh.gone", tar::EntryType::Regular), "{names:?}");
        assert!(
            has("opt/.wh..wh..opq", tar::EntryType::Regular),
            "{names:?}"
        );
        assert!(has("usr/bin/su2", tar::EntryType::Link), "{names:?}");
        assert!(has("run/fifo", tar::EntryType::Fifo), "{names:?}");
        let opq = names
            .iter()
            .position(|n| n.0 == "opt/.wh..wh..opq")
            .unwrap();
        assert_eq!(names[opq - 1].0, "opt/", "marker follows its directory");

        let dest2 = s.dir.path().join("dest2");
        std::fs::create_dir(&dest2).unwrap();
        s.unpack_into(&layer, &dest2, Owners::FromTar).unwrap();
        let again = s
            .eval(|| {
                let a = snapshot(&dest)?;
                let b = snapshot(&dest2)?;
                if a != b {
                    return Err(format!("trees differ:\n{a}\n---\n{b}"));
                }
                let mut out = Vec::new();
                diff(&dest2, &mut out, &DiffOptions::default()).map_err(|e| e.to_string())?;
                Ok(out)
            })
            .unwrap();
        assert!(again == layer, "the re-unpacked tree diffs to other bytes");
    }

    #[test]
    fn diffs_are_deterministic_and_digested() {
        let s = Scratch::new();
        s.unpack(&rich_layer(), Owners::FromTar).unwrap();
        let dest = s.dest();
        let both = s
            .eval(|| {
                let mut a = Vec::new();
                let ra = diff(&dest, &mut a, &DiffOptions::default()).map_err(|e| e.to_string())?;
                let mut b = Vec::new();
                diff(&dest, &mut b, &DiffOptions::default()).map_err(|e| e.to_string())?;
                if a != b {
                    return Err("two diffs differ".into());
                }
                let mut h = HashingWriter::new(std::io::sink());
                h.write_all(&a).unwrap();
                let (_, digest, size) = h.finish();
                if (digest, size) != (ra.diff_id.clone(), ra.size) || size != a.len() as u64 {
                    return Err(format!("report {ra:?} does not describe the bytes"));
                }
                Ok(a)
            })
            .unwrap();
        // Depth first, each directory's entries sorted by name.
        let names: Vec<String> = tar_names(&both).into_iter().map(|n| n.0).collect();
        let top: Vec<&String> = names
            .iter()
            .filter(|n| !n.trim_end_matches('/').contains('/'))
            .collect();
        assert_eq!(
            top,
            ["deep/", "etc/", "opt/", "run/", "tmp/", "usr/", "var/"]
        );
        let mut a = tar::Archive::new(&both[..]);
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            assert_eq!(e.header().username_bytes(), Some(&b""[..]));
            let gnu = e.header().as_gnu().unwrap();
            assert!(gnu.atime.iter().chain(&gnu.ctime).all(|b| *b == 0));
        }
    }

    #[test]
    fn owners_are_translated_to_inside_ids() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), b"x").unwrap();
        let me = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        let map = |inside: u32| IdMapping {
            mode: MapMode::SubIds,
            uids: vec![IdRange {
                inside,
                outside: me.0,
                count: 1,
            }],
            gids: vec![IdRange {
                inside,
                outside: me.1,
                count: 1,
            }],
            host_uid: me.0,
            host_gid: me.1,
            reason: String::new(),
        };
        let owner = |opts: &DiffOptions<'_>| {
            let mut out = Vec::new();
            let r = diff(d.path(), &mut out, opts).unwrap();
            let mut a = tar::Archive::new(&out[..]);
            let e = a.entries().unwrap().next().unwrap().unwrap();
            (
                (e.header().uid().unwrap(), e.header().gid().unwrap()),
                r.warnings,
            )
        };
        let m = map(1000);
        assert_eq!(
            owner(&DiffOptions { ids: Some(&m) }),
            ((1000, 1000), vec![])
        );
        assert_eq!(owner(&DiffOptions::default()).0, (me.0.into(), me.1.into()));
        let mut unrelated = map(0);
        unrelated.uids[0].outside = me.0.wrapping_add(7);
        unrelated.gids[0].outside = me.1.wrapping_add(7);
        let (ids, warnings) = owner(&DiffOptions {
            ids: Some(&unrelated),
        });
        assert_eq!(ids, (0, 0));
        assert!(warnings[0].starts_with(&format!(
            "1 entry owned by host {}:{} (first /f)",
            me.0, me.1
        )));
    }

    #[test]
    fn long_names_and_big_files_frame_correctly() {
        let d = tempfile::tempdir().unwrap();
        let name = long(180);
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(d.path().join(&name), &data).unwrap();
        std::os::unix::fs::symlink(long(200), d.path().join("l")).unwrap();
        let mut out = Vec::new();
        diff(d.path(), &mut out, &DiffOptions::default()).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let mut seen = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            if path == name {
                let mut back = Vec::new();
                e.read_to_end(&mut back).unwrap();
                assert!(back == data);
            } else {
                assert_eq!(e.link_name_bytes().unwrap().len(), 200);
            }
            seen.push(path);
        }
        assert_eq!(seen, ["l".to_string(), name]);
    }

    #[test]
    fn flatten_merges_a_stack_like_overlayfs() {
        let s = Scratch::new();
        let lower = TarBuf::new()
            .dir("etc/", 0o755, 1_000)
            .file("etc/passwd", b"old")
            .file("etc/group", b"g")
            .dir("opt/", 0o755, 1_000)
            .file("opt/a", b"a")
            .file("var/x", b"x")
            .file("usr/bin/su", b"su")
            .hardlink("usr/bin/su2", "usr/bin/su")
            .bytes();
        let upper = TarBuf::new()
            .dir("etc/", 0o700, 2_000)
            .file("etc/.wh.group", b"")
            .file("etc/passwd", b"new")
            .dir("opt/", 0o755, 2_000)
            .file("opt/.wh..wh..opq", b"")
            .file("opt/b", b"b")
            .file(".wh.usr", b"")
            .bytes();
        s.unpack(&lower, Owners::FromTar).unwrap();
        let up = s.dir.path().join("dest2");
        std::fs::create_dir(&up).unwrap();
        s.unpack_into(&upper, &up, Owners::FromTar).unwrap();
        let dest = s.dest();
        let tar = s
            .eval(|| {
                let mut out = Vec::new();
                flatten(&[&up, &dest], &mut out, &DiffOptions::default())
                    .map_err(|e| e.to_string())?;
                Ok(out)
            })
            .unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let mut got = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut data = String::new();
            e.read_to_string(&mut data).unwrap();
            let mode = e.header().mode().unwrap();
            got.push(format!(
                "{} {mode:o} {data}",
                String::from_utf8_lossy(&e.path_bytes())
            ));
        }
        assert_eq!(
            got,
            [
                "etc/ 700 ",
                "etc/passwd 644 new",
                "opt/ 755 ",
                "opt/b 644 b",
                "var/ 755 ",
                "var/x 644 x"
            ]
        );
        assert!(flatten(&[], Vec::new(), &DiffOptions::default()).is_err());
    }

    #[test]
    fn v3_capabilities_lose_their_root_id() {
        let mut v3 = 0x0300_0001u32.to_le_bytes().to_vec();
        v3.extend_from_slice(&[1; 16]);
        v3.extend_from_slice(&100_000u32.to_le_bytes());
        let v2 = portable_caps(v3);
        assert_eq!(v2.len(), 20);
        assert_eq!(
            u32::from_le_bytes([v2[0], v2[1], v2[2], v2[3]]),
            0x0200_0001
        );
        assert_eq!(portable_caps(v2.clone()), v2);
    }
}

#[cfg(test)]
mod overlay_tests {
    use super::*;
    use crate::layer::testutil::{lstat, xattr, Scratch, TarBuf};
    use crate::layer::unpack::Owners;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    /// Changes made through a real overlayfs mount (userxattr, as hutch runs
    /// containers) come out of the upper dir as OCI whiteouts, and unpack
    /// turns them back into what overlay wrote.
    #[test]
    fn overlay_upper_dir_diffs_to_oci_whiteouts() {
        let s = Scratch::new();
        let lower = TarBuf::new()
            .file("etc/passwd", b"root")
            .file("etc/group", b"root")
            .file("opt/old", b"old")
            .bytes();
        s.unpack(&lower, Owners::FromTar).unwrap();
        let base = s.dir.path();
        for d in ["upper", "work", "merged"] {
            std::fs::create_dir(base.join(d)).unwrap();
        }
        let (l, u, w, m) = (
            s.dest(),
            base.join("upper"),
            base.join("work"),
            base.join("merged"),
        );
        let script = format!(
            "mount -t overlay overlay -o userxattr,lowerdir={l},upperdir={u},workdir={w} {m} || exit 42
             rm {m}/etc/passwd && rm -r {m}/opt && mkdir {m}/opt && echo new > {m}/opt/n &&
             echo hi > {m}/newfile && ln {m}/newfile {m}/newlink && umount {m}",
            l = l.display(),
            u = u.display(),
            w = w.display(),
            m = m.display()
        );
        let upper = u.clone();
        let res = s.eval(|| {
            let st = std::process::Command::new("unshare")
                .args(["-m", "sh", "-c", &script])
                .status()
                .map_err(|e| format!("cannot run unshare: {e}"))?;
            match st.code() {
                Some(0) => {}
                Some(42) => return Err("SKIP overlay mount refused".into()),
                _ => return Err(format!("overlay script failed: {st}")),
            }
            let mut out = Vec::new();
            diff(&upper, &mut out, &DiffOptions::default()).map_err(|e| e.to_string())?;
            Ok(out)
        });
        let layer = match res {
            Err(e) if e.starts_with("SKIP") => {
                crate::testing::skip(&e);
                return;
            }
            other => other.unwrap(),
        };
        let mut a = tar::Archive::new(&layer[..]);
        let names: Vec<(String, tar::EntryType)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let n = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                (n, e.header().entry_type())
            })
            .collect();
        let want = [
            ("etc/", tar::EntryType::Directory),
            ("etc/.wh.passwd", tar::EntryType::Regular),
            ("newfile", tar::EntryType::Regular),
            ("newlink", tar::EntryType::Link),
            ("opt/", tar::EntryType::Directory),
            ("opt/.wh..wh..opq", tar::EntryType::Regular),
            ("opt/n", tar::EntryType::Regular),
        ];
        let want: Vec<(String, tar::EntryType)> =
            want.iter().map(|(n, t)| (n.to_string(), *t)).collect();
        assert_eq!(names, want);

        let back = base.join("back");
        std::fs::create_dir(&back).unwrap();
        s.unpack_into(&layer, &back, Owners::FromTar).unwrap();
        let wh = lstat(&back.join("etc/passwd"));
        assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
        assert_eq!(
            xattr(&back.join("opt"), "user.overlay.opaque").as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(std::fs::read(back.join("opt/n")).unwrap(), b"new\n");
    }
}
