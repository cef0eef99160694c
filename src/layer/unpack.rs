//! Unpack one layer tar (plain, gzip or zstd, detected by magic) into a directory.
//!
//! OCI whiteouts become overlay whiteouts (`.wh.x` → char device 0/0 `x`,
//! `.wh..wh..opq` → `user.overlay.opaque=y` on the directory), so the result
//! can serve directly as an overlayfs lower layer mounted with `userxattr`.
//!
//! Safety rules, because layers come from anywhere:
//! - names are cleaned lexically; a `..` that climbs above the root is an
//!   error, a leading `/` is dropped (absolute names land inside the root, as
//!   with Docker and containers/storage);
//! - every parent directory is opened component by component with
//!   `O_NOFOLLOW|O_DIRECTORY` (see `tree`), so a symlink planted by an earlier
//!   entry is never followed: an entry below it is an error;
//! - hardlinks must name an entry already unpacked, reached the same way;
//! - overlayfs's own xattrs are never taken from a tar.
//!
//! It must not decide ownership policy (the caller picks `Owners`) nor fork or
//! enter namespaces: the store runs it inside a user-namespace helper.

use super::codec;
use super::error::{EntryError, UnpackError};
use super::names::{show, EntryPath};
use super::tree::{remove_all_at, step_error, Tree};
use super::whiteout::{self, OciName};
use crate::sys::fsat::{self, Kind};
use crate::sys::SysError;
use nix::errno::Errno;
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use tar::EntryType;

/// How ownership is treated while unpacking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    /// chown entries to the uid/gid in the tar (we are root of a user
    /// namespace holding the image's ids); ids that are not mapped fall back to 0.
    FromTar,
    /// Leave everything owned by the unpacking user (single-id namespaces).
    Caller,
}

/// Options for one unpack.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    pub owners: Owners,
}

/// One entry or attribute left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The entry (`/dev/console`) or attribute (`xattr user.x on /f`).
    pub what: String,
    pub why: String,
}

/// What happened, for warnings.
#[derive(Debug, Default)]
pub struct UnpackReport {
    /// Entries or attributes skipped, with why (device nodes that cannot be
    /// created rootless, xattrs the kernel refused).
    pub skipped: Vec<Skipped>,
    /// Ownership that could not be kept (ids the user namespace does not map),
    /// one line per distinct uid:gid pair.
    pub warnings: Vec<String>,
}

/// Entries named in one summary line before the rest is only counted.
const SHOWN: usize = 3;

impl UnpackReport {
    /// One line per reason, with how many entries it hit: a root filesystem
    /// from debootstrap has a dozen device nodes, which is one fact.
    pub fn skipped_summary(&self) -> Vec<String> {
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for s in &self.skipped {
            match groups.iter_mut().find(|(why, _)| *why == s.why) {
                Some((_, whats)) => whats.push(&s.what),
                None => groups.push((&s.why, vec![&s.what])),
            }
        }
        groups
            .into_iter()
            .map(|(why, whats)| match whats.as_slice() {
                [one] => format!("skipped {one}: {why}"),
                all => {
                    let mut named = all[..all.len().min(SHOWN)].join(", ");
                    if all.len() > SHOWN {
                        named.push_str(", ...");
                    }
                    format!("skipped {} entries ({named}): {why}", all.len())
                }
            })
            .collect()
    }
}

/// Unpack `input` into `dest` (an existing, empty directory).
pub fn unpack(
    input: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackReport, super::Error> {
    unpack_into(input, dest, opts).map_err(|why| super::Error::Unpack {
        dest: dest.to_path_buf(),
        why: Box::new(why),
    })
}

fn unpack_into(
    input: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackReport, UnpackError> {
    let (_, stream) = codec::decompressed(input)?;
    let mut archive = tar::Archive::new(stream);
    let mut u = Unpacker {
        tree: Tree::open(dest)?,
        st: State {
            owners: opts.owners,
            me: (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            ),
            dirs: BTreeMap::new(),
            report: UnpackReport::default(),
            unmapped: BTreeMap::new(),
            buf: vec![0u8; 256 * 1024],
        },
    };
    let entries = archive.entries().map_err(UnpackError::Tar)?;
    let mut last = String::from("the start");
    for entry in entries {
        let mut entry = entry.map_err(|source| UnpackError::TarAfter {
            after: last.clone(),
            source,
        })?;
        let head = Head::read(&mut entry)?;
        u.entry(&head, &mut entry)?;
        last = head.path.display();
    }
    // Read past the end-of-archive blocks to the end of the stream: only
    // then do gzip and zstd check their trailing checksums.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(UnpackError::Trailer)?;
    u.finish()
}

/// What one tar header says, PAX records applied.
struct Head {
    kind: EntryType,
    path: EntryPath,
    link: Option<Vec<u8>>,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    dev: (u32, u32),
    xattrs: Vec<(CString, Vec<u8>)>,
}

impl Head {
    fn read<R: Read>(e: &mut tar::Entry<'_, R>) -> Result<Head, UnpackError> {
        let raw = e.path_bytes().into_owned();
        let path = EntryPath::parse(&raw)?;
        let wrong = |why| UnpackError::Entry {
            entry: show(&raw),
            why,
        };
        let bad = |what, source| wrong(EntryError::Field { what, source });
        let h = e.header();
        let kind = h.entry_type();
        let mode = h.mode().map_err(|x| bad("mode", x))? & 0o7777;
        let id = |value: u64, what| {
            u32::try_from(value).map_err(|_| wrong(EntryError::OutOfRange { what, value }))
        };
        let uid = id(h.uid().map_err(|x| bad("uid", x))?, "uid")?;
        let gid = id(h.gid().map_err(|x| bad("gid", x))?, "gid")?;
        let mut mtime = (
            i64::try_from(h.mtime().map_err(|x| bad("mtime", x))?).unwrap_or(i64::MAX),
            0,
        );
        let dev = match kind {
            EntryType::Char | EntryType::Block => (
                h.device_major()
                    .map_err(|x| bad("device major", x))?
                    .unwrap_or(0),
                h.device_minor()
                    .map_err(|x| bad("device minor", x))?
                    .unwrap_or(0),
            ),
            _ => (0, 0),
        };
        let link = e.link_name_bytes().map(|l| l.into_owned());
        let mut xattrs = Vec::new();
        if let Some(pax) = e.pax_extensions().map_err(|x| bad("PAX header", x))? {
            for ext in pax {
                let ext = ext.map_err(|x| bad("PAX record", x))?;
                let key = ext.key_bytes();
                if key == b"mtime" {
                    // PAX keeps sub-second precision the ustar field cannot.
                    if let Some(t) = pax_time(ext.value_bytes()) {
                        mtime = t;
                    }
                } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    let name = CString::new(name).map_err(|_| wrong(EntryError::XattrNameNul))?;
                    xattrs.push((name, ext.value_bytes().to_vec()));
                }
            }
        }
        Ok(Head {
            kind,
            path,
            link,
            mode,
            uid,
            gid,
            mtime,
            dev,
            xattrs,
        })
    }
}

/// Parse a PAX time (`1700000000.123456789`, possibly negative) into sec/nsec.
fn pax_time(v: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(v).ok()?;
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i64 = int.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nsec: i64 = digits.parse().ok()?;
    // -1.5 means 1.5 s before the epoch: sec -2, nsec 0.5e9.
    Some(if int.starts_with('-') && nsec > 0 {
        (sec - 1, 1_000_000_000 - nsec)
    } else {
        (sec, nsec)
    })
}

struct Unpacker {
    tree: Tree,
    st: State,
}

/// Deferred directory metadata: applied after everything inside is written,
/// since creating children changes a directory's mtime and a read-only mode
/// would stop us from creating them.
struct DirMeta {
    mode: u32,
    mtime: (i64, i64),
}

struct State {
    owners: Owners,
    /// Our own uid/gid: new inodes already have them, no chown needed.
    me: (u32, u32),
    /// Keyed by `EntryPath::key`, whose byte order puts a directory before its
    /// contents; walking it backwards handles children before parents.
    dirs: BTreeMap<Vec<u8>, DirMeta>,
    report: UnpackReport,
    /// (uid, gid) → (entries, first entry) that fell back to 0:0.
    unmapped: BTreeMap<(u32, u32), (usize, String)>,
    buf: Vec<u8>,
}

/// What went wrong with the entry at `path`.
fn wrong(path: &EntryPath, why: EntryError) -> UnpackError {
    UnpackError::Entry {
        entry: path.display(),
        why,
    }
}

/// A failed system call on the entry at `path`.
fn at(path: &EntryPath) -> impl Fn(SysError) -> UnpackError + '_ {
    move |e| wrong(path, EntryError::Sys(e))
}

impl Unpacker {
    fn entry<R: Read>(
        &mut self,
        h: &Head,
        data: &mut tar::Entry<'_, R>,
    ) -> Result<(), UnpackError> {
        if h.kind == EntryType::XGlobalHeader {
            // Global PAX records (a comment, a charset) carry nothing we keep.
            return Ok(());
        }
        let Some(name) = h.path.name() else {
            return self.root_entry(h);
        };
        match whiteout::classify(name.to_bytes()) {
            OciName::Opaque => self.opaque(h),
            OciName::Whiteout(target) => self.whiteout(h, target),
            OciName::AufsMeta => {
                self.st.report.skipped.push(Skipped {
                    what: h.path.display().to_string(),
                    why: "aufs metadata has no meaning here".into(),
                });
                Ok(())
            }
            OciName::Plain => self.create(h, name, data),
        }
    }

    /// `./` itself: only a directory makes sense there.
    fn root_entry(&mut self, h: &Head) -> Result<(), UnpackError> {
        if h.kind != EntryType::Directory {
            return Err(wrong(&h.path, EntryError::ReplaceRoot(h.kind)));
        }
        let root = self.tree.root();
        self.st
            .owner(&h.path, h.uid, h.gid, |u, g| fsat::fchown(root, u, g))?;
        self.st
            .xattrs(&h.path, &h.xattrs, |k, v| fsat::fsetxattr(root, k, v))?;
        self.st.dirs.insert(
            Vec::new(),
            DirMeta {
                mode: h.mode,
                mtime: h.mtime,
            },
        );
        Ok(())
    }

    fn opaque(&mut self, h: &Head) -> Result<(), UnpackError> {
        // Only the xattr, nothing removed: the marker hides the lower layers,
        // while this layer's own entries in the directory (before or after
        // the marker in the tar) must stay.
        let dir = self.tree.dir_for(h.path.parent(), &h.path)?;
        let key = CString::new(whiteout::OPAQUE_XATTR).expect("constant has no NUL");
        fsat::fsetxattr(dir, &key, b"y").map_err(|e| wrong(&h.path, EntryError::Opaque(e)))
    }

    fn whiteout(&mut self, h: &Head, target: &[u8]) -> Result<(), UnpackError> {
        if target.is_empty() || target == b"." || target == b".." {
            return Err(wrong(&h.path, EntryError::WhiteoutNoName));
        }
        let target = CString::new(target).expect("a CStr's bytes have no NUL");
        let mut gone = h.path.parent().to_vec();
        gone.push(target.clone());
        let dir = self.tree.dir_for(h.path.parent(), &h.path)?;
        // Mode 0 and device 0/0: exactly what overlayfs itself creates.
        let made = self.st.create_at(dir, &target, &gone, &h.path, || {
            fsat::mknod_at(dir, &target, Kind::Char, 0, 0, 0)
        })?;
        made.map_err(|e| wrong(&h.path, EntryError::Whiteout(e)))?;
        fsat::set_times_at(dir, &target, h.mtime.0, h.mtime.1).map_err(at(&h.path))
    }

    fn create<R: Read>(
        &mut self,
        h: &Head,
        name: &CStr,
        data: &mut tar::Entry<'_, R>,
    ) -> Result<(), UnpackError> {
        let p = &h.path;
        match h.kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let dir = self.tree.dir_for(p.parent(), p)?;
                let f = self
                    .st
                    .create_at(dir, name, p.parts(), p, || fsat::create_file_at(dir, name))?
                    .map_err(at(p))?;
                self.st.file(f, h, data)
            }
            EntryType::Directory => {
                let dir = self.tree.dir_for(p.parent(), p)?;
                // 0700 until the end: we must be able to create inside it
                // whatever mode the tar gives it.
                match fsat::mkdir_at(dir, name, 0o700) {
                    Ok(()) => {}
                    Err(e) if e.errno == Errno::EEXIST => {
                        if !self.st.replace(dir, name, p.parts(), true, p)? {
                            fsat::mkdir_at(dir, name, 0o700).map_err(at(p))?;
                        }
                    }
                    Err(e) => return Err(at(p)(e)),
                }
                let fd = fsat::open_dir_at(dir, name).map_err(at(p))?;
                self.st
                    .owner(p, h.uid, h.gid, |u, g| fsat::fchown(fd.as_fd(), u, g))?;
                self.st
                    .xattrs(p, &h.xattrs, |k, v| fsat::fsetxattr(fd.as_fd(), k, v))?;
                self.st.dirs.insert(
                    p.key(),
                    DirMeta {
                        mode: h.mode,
                        mtime: h.mtime,
                    },
                );
                Ok(())
            }
            EntryType::Symlink => {
                let target = h.link.as_deref().unwrap_or_default();
                let target = CString::new(target).map_err(|_| wrong(p, EntryError::SymlinkNul))?;
                let dir = self.tree.dir_for(p.parent(), p)?;
                self.st
                    .create_at(dir, name, p.parts(), p, || {
                        fsat::symlink_at(&target, dir, name)
                    })?
                    .map_err(at(p))?;
                self.st.finish_special(dir, name, h, false)
            }
            EntryType::Link => self.hardlink(h, name),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let kind = match h.kind {
                    EntryType::Char => Kind::Char,
                    EntryType::Block => Kind::Block,
                    _ => Kind::Fifo,
                };
                let dir = self.tree.dir_for(p.parent(), p)?;
                let made = self.st.create_at(dir, name, p.parts(), p, || {
                    fsat::mknod_at(dir, name, kind, h.mode, h.dev.0, h.dev.1)
                })?;
                match made {
                    Ok(()) => self.st.finish_special(dir, name, h, true),
                    Err(e) if e.errno == Errno::EPERM && kind != Kind::Fifo => {
                        self.st.report.skipped.push(Skipped {
                            what: p.display().to_string(),
                            why: "device nodes cannot be created without root".into(),
                        });
                        Ok(())
                    }
                    Err(e) => Err(at(p)(e)),
                }
            }
            other => {
                self.st.report.skipped.push(Skipped {
                    what: p.display().to_string(),
                    why: format!("unsupported tar entry type {:?}", other.as_byte() as char),
                });
                Ok(())
            }
        }
    }

    fn hardlink(&mut self, h: &Head, name: &CStr) -> Result<(), UnpackError> {
        let p = &h.path;
        let raw = h.link.as_deref().unwrap_or_default();
        let target =
            EntryPath::parse(raw).map_err(|e| wrong(p, EntryError::LinkName(Box::new(e))))?;
        let Some(tname) = target.name() else {
            return Err(wrong(p, EntryError::LinkToRoot));
        };
        if target == *p {
            // A link to itself: the file is already there.
            return Ok(());
        }
        // Links nearly always point into their own directory (busybox's
        // applets): reuse its open fd instead of walking from the root.
        let other_dir = if target.parent() == p.parent() {
            None
        } else {
            let fd = self.tree.existing_dir(target.parent()).map_err(|(i, e)| {
                let source = step_error(&target, &target.parent()[..=i], e);
                wrong(
                    p,
                    EntryError::LinkPath {
                        target: show(raw),
                        source,
                    },
                )
            })?;
            Some(fd)
        };
        let dir = self.tree.dir_for(p.parent(), p)?;
        let tdir = other_dir.as_ref().map_or(dir, |fd| fd.as_fd());
        let linked = self.st.create_at(dir, name, p.parts(), p, || {
            fsat::link_at(tdir, tname, dir, name)
        })?;
        linked.map_err(|source| {
            // linkat says ENOENT or EPERM; say which rule the tar broke.
            let target = show(raw);
            let why = match fsat::lstat_at(tdir, tname) {
                Ok(None) => EntryError::LinkMissing(target),
                Ok(Some(st)) if st.kind == Kind::Dir => EntryError::LinkToDir(target),
                _ => EntryError::Link { target, source },
            };
            wrong(p, why)
        })
    }

    fn finish(mut self) -> Result<UnpackReport, UnpackError> {
        let dirs = std::mem::take(&mut self.st.dirs);
        // Backwards: every directory after its contents, so a read-only or
        // 0000 mode never blocks reaching a child, and no later change
        // touches an mtime already set.
        for (key, meta) in dirs.iter().rev() {
            let path = EntryPath::parse(key)?;
            let fd = self.tree.dir_for(path.parts(), &path)?;
            fsat::fchmod(fd, meta.mode).map_err(at(&path))?;
            fsat::set_times(fd, meta.mtime.0, meta.mtime.1).map_err(at(&path))?;
        }
        let mut report = self.st.report;
        for ((uid, gid), (n, first)) in self.st.unmapped {
            report.warnings.push(format!(
                "{n} entr{} owned by {uid}:{gid} (first {first}) got 0:0: the user namespace does not map those ids",
                if n == 1 { "y" } else { "ies" }
            ));
        }
        Ok(report)
    }
}

impl State {
    /// Run `make`, which creates `name` in `dir`; when the name is already
    /// taken by an earlier entry, clear it (`replace`) and run `make` again.
    /// Trying first costs nothing in the usual case, where the name is new.
    fn create_at<T>(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        parts: &[CString],
        entry: &EntryPath,
        mut make: impl FnMut() -> Result<T, SysError>,
    ) -> Result<Result<T, SysError>, UnpackError> {
        match make() {
            Err(e) if e.errno == Errno::EEXIST => {
                self.replace(dir, name, parts, false, entry)?;
                Ok(make())
            }
            other => Ok(other),
        }
    }

    /// Clear the way for a new entry `name` in `dir`: keep an existing
    /// directory when the new entry is one too (tar semantics: dir over dir
    /// merges), otherwise remove whatever is there. Returns whether a
    /// directory was kept.
    fn replace(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        parts: &[CString],
        new_is_dir: bool,
        entry: &EntryPath,
    ) -> Result<bool, UnpackError> {
        let Some(st) = fsat::lstat_at(dir, name).map_err(at(entry))? else {
            return Ok(false);
        };
        if st.kind == Kind::Dir && new_is_dir {
            return Ok(true);
        }
        remove_all_at(dir, name, st.kind).map_err(|e| wrong(entry, EntryError::Replace(e)))?;
        if st.kind == Kind::Dir {
            self.forget_dirs(parts);
        }
        Ok(false)
    }

    /// Drop deferred metadata of a removed directory and everything below it.
    fn forget_dirs(&mut self, parts: &[CString]) {
        let mut key = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                key.push(b'/');
            }
            key.extend_from_slice(p.to_bytes());
        }
        self.dirs.remove(&key);
        key.push(b'/');
        let below: Vec<Vec<u8>> = self
            .dirs
            .range(key.clone()..)
            .take_while(|(k, _)| k.starts_with(&key))
            .map(|(k, _)| k.clone())
            .collect();
        for k in below {
            self.dirs.remove(&k);
        }
    }

    fn file<R: Read>(
        &mut self,
        mut f: std::fs::File,
        h: &Head,
        data: &mut tar::Entry<'_, R>,
    ) -> Result<(), UnpackError> {
        let p = &h.path;
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(wrong(p, EntryError::Data(e))),
            };
            f.write_all(&self.buf[..n])
                .map_err(|e| wrong(p, EntryError::Write(e)))?;
        }
        // chown first: it clears setuid/setgid, which the chmod then sets;
        // xattrs after both, since chown also drops security.capability.
        self.owner(p, h.uid, h.gid, |u, g| fsat::fchown(f.as_fd(), u, g))?;
        fsat::fchmod(f.as_fd(), h.mode).map_err(at(p))?;
        self.xattrs(p, &h.xattrs, |k, v| fsat::fsetxattr(f.as_fd(), k, v))?;
        fsat::set_times(f.as_fd(), h.mtime.0, h.mtime.1).map_err(at(p))
    }

    /// Owner, mode, xattrs and times of a symlink, device or fifo, by name.
    fn finish_special(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        h: &Head,
        chmod: bool,
    ) -> Result<(), UnpackError> {
        let p = &h.path;
        self.owner(p, h.uid, h.gid, |u, g| fsat::chown_at(dir, name, u, g))?;
        if chmod {
            // mknod honoured the umask.
            fsat::chmod_at(dir, name, h.mode).map_err(at(p))?;
        }
        self.xattrs(p, &h.xattrs, |k, v| fsat::lsetxattr_at(dir, name, k, v))?;
        fsat::set_times_at(dir, name, h.mtime.0, h.mtime.1).map_err(at(p))
    }

    /// Apply the tar's owner under the chosen policy.
    fn owner(
        &mut self,
        p: &EntryPath,
        uid: u32,
        gid: u32,
        chown: impl Fn(u32, u32) -> Result<(), SysError>,
    ) -> Result<(), UnpackError> {
        if self.owners == Owners::Caller || (uid, gid) == self.me {
            return Ok(());
        }
        match chown(uid, gid) {
            Ok(()) => Ok(()),
            // EINVAL: the id has no mapping in this user namespace.
            Err(e) if e.errno == Errno::EINVAL => {
                chown(0, 0).map_err(at(p))?;
                let slot = self.unmapped.entry((uid, gid)).or_insert((0, p.display()));
                slot.0 += 1;
                Ok(())
            }
            Err(e) => Err(wrong(p, EntryError::Chown(e))),
        }
    }

    /// Apply PAX xattrs; what the kernel refuses is reported, not fatal.
    fn xattrs(
        &mut self,
        p: &EntryPath,
        xattrs: &[(CString, Vec<u8>)],
        set: impl Fn(&CStr, &[u8]) -> Result<(), SysError>,
    ) -> Result<(), UnpackError> {
        for (key, value) in xattrs {
            let shown = key.to_string_lossy();
            if whiteout::is_overlay_xattr(key.to_bytes()) {
                self.report.skipped.push(Skipped {
                    what: format!("xattr {shown} on {}", p.display()),
                    why: "overlay bookkeeping is not taken from layers".into(),
                });
                continue;
            }
            match set(key, value) {
                Ok(()) => {}
                Err(e) if matches!(e.errno, Errno::EPERM | Errno::EACCES | Errno::ENOTSUP) => {
                    self.report.skipped.push(Skipped {
                        what: format!("xattr {shown} on {}", p.display()),
                        why: e.to_string(),
                    });
                }
                Err(source) => {
                    return Err(wrong(
                        p,
                        EntryError::Xattr {
                            name: shown.into_owned(),
                            source,
                        },
                    ))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::testutil::{lstat, xattr, Scratch, TarBuf};
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

    fn mode(p: &Path) -> u32 {
        lstat(p).permissions().mode() & 0o7777
    }

    #[test]
    fn modes_and_mtimes_survive() {
        let s = Scratch::new();
        let tar = TarBuf::new()
            .dir("d/", 0o1777, 1_500_000_000)
            .file_with("d/suid", b"x", 0o4755, (0, 0), 1_400_000_000)
            .file_with("d/sgid", b"y", 0o2711, (0, 0), 1_400_000_001)
            .dir("ro/", 0o555, 1_500_000_001)
            .file("ro/inside", b"z")
            .symlink("d/link", "suid")
            .bytes();
        s.unpack(&tar, Owners::FromTar).unwrap();
        assert_eq!(mode(&s.path("d")), 0o1777);
        assert_eq!(mode(&s.path("d/suid")), 0o4755);
        assert_eq!(mode(&s.path("d/sgid")), 0o2711);
        assert_eq!(mode(&s.path("ro")), 0o555);
        assert_eq!(std::fs::read(s.path("ro/inside")).unwrap(), b"z");
        // Directory mtimes are set after their contents were written.
        assert_eq!(lstat(&s.path("d")).mtime(), 1_500_000_000);
        assert_eq!(lstat(&s.path("ro")).mtime(), 1_500_000_001);
        assert_eq!(lstat(&s.path("d/suid")).mtime(), 1_400_000_000);
        assert_eq!(lstat(&s.path("d/link")).mtime(), 1_600_000_000);
        assert_eq!(
            std::fs::read_link(s.path("d/link")).unwrap(),
            Path::new("suid")
        );
    }

    #[test]
    fn whiteouts_become_char_devices() {
        let s = Scratch::new();
        let tar = TarBuf::new()
            .file("a/x", b"earlier")
            .dir("a/sub/", 0o755, 1)
            .file("a/sub/f", b"")
            .file("a/.wh.x", b"")
            .file("a/.wh.sub", b"")
            .file("a/.wh.y", b"")
            .bytes();
        s.unpack(&tar, Owners::FromTar).unwrap();
        for name in ["a/x", "a/sub", "a/y"] {
            let m = lstat(&s.path(name));
            assert!(
                m.file_type().is_char_device(),
                "{name} is {:?}",
                m.file_type()
            );
            assert_eq!(m.rdev(), 0, "{name}");
        }
        assert!(!s.path("a/.wh.x").exists());
    }

    #[test]
    fn opaque_marker_keeps_this_layers_entries() {
        let s = Scratch::new();
        let tar = TarBuf::new()
            .file("d/before", b"1")
            .file("d/.wh..wh..opq", b"")
            .file("d/after", b"2")
            .file("e/.wh..wh..opq", b"")
            .dir("e/", 0o750, 7)
            .file("e/c", b"3")
            .file("new/.wh..wh..opq", b"")
            .bytes();
        s.unpack(&tar, Owners::FromTar).unwrap();
        assert_eq!(
            xattr(&s.path("d"), "user.overlay.opaque").as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(
            xattr(&s.path("e"), "user.overlay.opaque").as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(
            xattr(&s.path("new"), "user.overlay.opaque").as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(std::fs::read(s.path("d/before")).unwrap(), b"1");
        assert_eq!(std::fs::read(s.path("d/after")).unwrap(), b"2");
        assert_eq!(std::fs::read(s.path("e/c")).unwrap(), b"3");
        assert_eq!(mode(&s.path("e")), 0o750);
        assert!(!s.path("d/.wh..wh..opq").exists());
    }

    #[test]
    fn dotdot_escape_is_rejected_and_absolute_lands_inside() {
        let s = Scratch::new();
        let tar = TarBuf::new().file("../escaped", b"x").bytes();
        let e = s.unpack(&tar, Owners::FromTar).unwrap_err();
        assert!(e.contains("\"../escaped\"") && e.contains("escapes"), "{e}");
        assert!(!s.dir.path().join("escaped").exists());

        let tar = TarBuf::new()
            .file("/abs/file", b"in")
            .file("a/b/../../c", b"c")
            .bytes();
        s.unpack(&tar, Owners::FromTar).unwrap();
        assert_eq!(std::fs::read(s.path("abs/file")).unwrap(), b"in");
        assert_eq!(std::fs::read(s.path("c")).unwrap(), b"c");
    }

    #[test]
    fn symlinked_parents_are_never_followed() {
        let s = Scratch::new();
        let outside = s.dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "abs",
                TarBuf::new()
                    .symlink("a", outside.to_str().unwrap())
                    .file("a/owned", b"x")
                    .bytes(),
            ),
            (
                "relative",
                TarBuf::new()
                    .symlink("a", "../outside")
                    .file("a/owned", b"x")
                    .bytes(),
            ),
            (
                "deep",
                TarBuf::new()
                    .symlink("a", "../../../../..")
                    .file("a/tmp/owned", b"x")
                    .bytes(),
            ),
            (
                "chain",
                TarBuf::new()
                    .dir("d/", 0o755, 1)
                    .symlink("d/up", "..")
                    .symlink("d/far", "up/../../outside")
                    .file("d/far/owned", b"x")
                    .bytes(),
            ),
            (
                "self",
                TarBuf::new()
                    .symlink("a", ".")
                    .file("a/a/a/owned", b"x")
                    .bytes(),
            ),
        ];
        for (what, tar) in cases {
            let e = s.unpack(&tar, Owners::FromTar).unwrap_err();
            assert!(
                e.contains("is a symlink; refusing to follow"),
                "{what}: {e}"
            );
            assert!(
                std::fs::read_dir(&outside).unwrap().next().is_none(),
                "{what} wrote outside"
            );
            s.in_userns(|| {
                std::fs::remove_dir_all(s.dest()).map_err(|e| e.to_string())?;
                std::fs::create_dir(s.dest()).map_err(|e| e.to_string())
            })
            .unwrap();
        }
    }

    #[test]
    fn hardlinks_stay_inside() {
        let s = Scratch::new();
        let outside = s.dir.path().join("secret");
        std::fs::write(&outside, b"secret").unwrap();
        let bad = [
            (
                TarBuf::new().hardlink("h", "../secret").bytes(),
                "escapes the layer root",
            ),
            (
                TarBuf::new()
                    .symlink("s", "..")
                    .hardlink("h", "s/secret")
                    .bytes(),
                "/s is a symlink; refusing to follow it",
            ),
            (
                TarBuf::new().hardlink("h", "missing").bytes(),
                "hardlink target \"missing\" has not been unpacked before it",
            ),
            (
                TarBuf::new().dir("d/", 0o755, 1).hardlink("h", "d").bytes(),
                "hardlink target \"d\" is a directory",
            ),
        ];
        for (tar, why) in bad {
            let e = s.unpack(&tar, Owners::FromTar).unwrap_err();
            assert!(e.starts_with("entry /h: ") && e.contains(why), "{e}");
            assert_eq!(lstat(&outside).nlink(), 1);
        }
        let tar = TarBuf::new()
            .file("bin/busybox", b"elf")
            .hardlink("bin/sh", "bin/busybox")
            .hardlink("/usr/bin/env", "/bin/busybox")
            .bytes();
        s.unpack(&tar, Owners::FromTar).unwrap();
        let ino = lstat(&s.path("bin/busybox")).ino();
        assert_eq!(lstat(&s.path("bin/sh")).ino(), ino);
        assert_eq!(lstat(&s.path("usr/bin/env")).ino(), ino);
    }

    #[test]
    fn devices_are_skipped_with_a_reason_and_fifos_made() {
        let s = Scratch::new();
        let tar = TarBuf::new()
            .node("dev/console", tar::EntryType::Char, 5, 1)
            .node("dev/sda", tar::EntryType::Block, 8, 0)
            .node("run/fifo", tar::EntryType::Fifo, 0, 0)
            .bytes();
        let r = s.unpack(&tar, Owners::FromTar).unwrap();
        assert!(
            r.skipped.contains(&Skipped {
                what: "/dev/console".into(),
                why: "device nodes cannot be created without root".into()
            }),
            "{r:?}"
        );
        assert!(r.skipped.iter().any(|l| l.what == "/dev/sda"), "{r:?}");
        assert!(!s.path("dev/console").exists());
        let m = lstat(&s.path("run/fifo"));
        assert!(m.file_type().is_fifo());
        assert_eq!(m.permissions().mode() & 0o7777, 0o620);
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let s = Scratch::new();
        let tar = TarBuf::new()
            .dir("x/", 0o700, 1)
            .file("x/inner", b"gone")
            .file("x", b"file now")
            .file("y", b"file")
            .dir("y/", 0o711, 2)
            .dir("z/", 0o755, 3)
            .file("z/kept", b"kept")
            .dir("z/", 0o750, 4)
            .file("w", b"old")
            .symlink("w", "x")
            .file("v", b"old")
            .file("v", b"new")
            .bytes();
        s.unpack(&tar, Owners::FromTar).unwrap();
        assert_eq!(std::fs::read(s.path("x")).unwrap(), b"file now");
        assert!(lstat(&s.path("y")).is_dir());
        assert_eq!(mode(&s.path("y")), 0o711);
        assert_eq!(std::fs::read(s.path("z/kept")).unwrap(), b"kept");
        assert_eq!(mode(&s.path("z")), 0o750);
        assert_eq!(lstat(&s.path("z")).mtime(), 4);
        assert!(lstat(&s.path("w")).file_type().is_symlink());
        assert_eq!(std::fs::read(s.path("v")).unwrap(), b"new");
    }

    #[test]
    fn owners_follow_the_tar_or_fall_back_to_root() {
        let s = Scratch::new();
        let tar = TarBuf::new()
            .file_with("owned", b"", 0o644, (1000, 1001), 1)
            .file_with("huge", b"", 0o644, (4_000_000, 4_000_000), 1)
            .bytes();
        let r = s.unpack(&tar, Owners::FromTar).unwrap();
        let m = lstat(&s.path("owned"));
        match (s.map.host_uid_of(1000), s.map.host_gid_of(1001)) {
            (Some(u), Some(g)) => assert_eq!((m.uid(), m.gid()), (u, g)),
            _ => {
                assert_eq!(m.uid(), s.map.host_uid_of(0).unwrap());
                assert!(r.warnings.iter().any(|w| w.contains("1000:1001")), "{r:?}");
            }
        }
        let m = lstat(&s.path("huge"));
        assert_eq!(
            (m.uid(), m.gid()),
            (s.map.host_uid_of(0).unwrap(), s.map.host_gid_of(0).unwrap())
        );
        assert!(
            r.warnings
                .iter()
                .any(|w| w.starts_with("1 entry owned by 4000000:4000000 (first /huge)")),
            "{r:?}"
        );
    }

    #[test]
    fn caller_mode_does_not_chown() {
        let s = Scratch::new();
        let tar = TarBuf::new()
            .file_with("f", b"", 0o644, (1000, 1000), 1)
            .bytes();
        let r = s.unpack(&tar, Owners::Caller).unwrap();
        assert_eq!(lstat(&s.path("f")).uid(), s.map.host_uid_of(0).unwrap());
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn pax_xattrs_and_times_apply_but_overlay_ones_do_not() {
        let s = Scratch::new();
        let tar = TarBuf::new()
            .pax(&[
                ("SCHILY.xattr.user.note", b"hello"),
                ("SCHILY.xattr.user.overlay.redirect", b"/etc"),
                ("mtime", b"1600000000.25"),
            ])
            .file("f", b"data")
            .bytes();
        let r = s.unpack(&tar, Owners::FromTar).unwrap();
        assert_eq!(
            xattr(&s.path("f"), "user.note").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(xattr(&s.path("f"), "user.overlay.redirect"), None);
        assert!(
            r.skipped
                .iter()
                .any(|l| l.what.contains("user.overlay.redirect")),
            "{r:?}"
        );
        assert_eq!(lstat(&s.path("f")).mtime_nsec(), 250_000_000);
        assert_eq!(pax_time(b"-1.5"), Some((-2, 500_000_000)));
    }

    #[test]
    fn skipped_entries_are_summed_up_per_reason() {
        let s = Scratch::new();
        let mut tar = TarBuf::new();
        for (i, n) in [
            "console", "null", "zero", "full", "tty", "random", "urandom", "ptmx",
        ]
        .iter()
        .enumerate()
        {
            tar.node(&format!("dev/{n}"), tar::EntryType::Char, 1, i as u32);
        }
        let r = s.unpack(&tar.bytes(), Owners::FromTar).unwrap();
        assert_eq!(r.skipped.len(), 8);
        assert_eq!(
            r.skipped_summary(),
            ["skipped 8 entries (/dev/console, /dev/null, /dev/zero, ...): device nodes cannot be created without root"]
        );
        let one = UnpackReport {
            skipped: vec![Skipped {
                what: "/dev/console".into(),
                why: "device nodes cannot be created without root".into(),
            }],
            warnings: vec![],
        };
        assert_eq!(
            one.skipped_summary(),
            ["skipped /dev/console: device nodes cannot be created without root"]
        );
    }

    #[test]
    fn gzip_and_zstd_are_detected() {
        use std::io::Write;
        let tar = TarBuf::new().file("hello", b"world").bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 1).unwrap();
        for (what, blob) in [("plain", tar.clone()), ("gzip", gz), ("zstd", zst)] {
            let s = Scratch::new();
            s.unpack(&blob, Owners::Caller)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(std::fs::read(s.path("hello")).unwrap(), b"world", "{what}");
        }
        let d = tempfile::tempdir().unwrap();
        let opts = UnpackOptions {
            owners: Owners::Caller,
        };
        let e = unpack(&b"\x1f\x8bnot gzip at all"[..], d.path(), &opts)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot read the layer tar"), "{e}");
        // A stream cut inside the gzip trailer still holds a whole tar.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&TarBuf::new().bytes()).unwrap();
        let mut gz = gz.finish().unwrap();
        gz.truncate(gz.len() - 4);
        let e = unpack(&gz[..], d.path(), &opts).unwrap_err().to_string();
        assert!(e.starts_with("the layer stream is damaged"), "{e}");
    }

    /// The first layer of the test busybox image.
    fn busybox_layer() -> Vec<u8> {
        std::fs::read(crate::testing::busybox_layer()).unwrap()
    }

    #[test]
    fn busybox_layer_unpacks() {
        let s = Scratch::new();
        let layer = busybox_layer();
        let t = std::time::Instant::now();
        let r = s.unpack(&layer, Owners::FromTar).unwrap();
        eprintln!("busybox layer unpacked in {:?}", t.elapsed());
        let bb = lstat(&s.path("bin/busybox"));
        assert!(bb.is_file() && bb.len() > 500_000);
        assert_eq!(mode(&s.path("bin/busybox")) & 0o111, 0o111);
        let sh = lstat(&s.path("bin/sh"));
        if sh.file_type().is_symlink() {
            let t = std::fs::read_link(s.path("bin/sh")).unwrap();
            assert!(t.ends_with("busybox"), "{t:?}");
        } else {
            assert_eq!(sh.ino(), bb.ino());
        }
        assert!(lstat(&s.path("etc")).is_dir());
        // The image owns a few dirs by 1, 8 and 65534: mapped only with subids.
        let subids = s.map.mode == crate::userns::idmap::MapMode::SubIds;
        assert_eq!(r.warnings.is_empty(), subids, "{r:?}");
        if subids {
            assert_eq!(
                lstat(&s.path("home")).uid(),
                s.map.host_uid_of(65534).unwrap()
            );
        }
    }
}
