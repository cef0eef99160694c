//! The overlay itself: the FUSE requests answered over one upper dir and N
//! read-only lower dirs with overlayfs's semantics and on-disk format.
//!
//! - Lookup goes down the layers, stops at a whiteout (a char 0/0 device)
//!   and, for directories, at one marked `user.overlay.opaque=y`; a directory
//!   found in several layers is merged.
//! - Every change happens in the upper dir. A lower file or directory is
//!   first copied up with its data, mode, owner, xattrs and times; deleting a
//!   name that a lower layer has leaves a whiteout; a directory created over
//!   a whiteout is made opaque. The upper dir is thus exactly what native
//!   overlayfs (`userxattr`) would leave, so `commit` reads it the same way.
//! - Renaming a directory that exists in a lower layer fails with EXDEV, as
//!   overlayfs does without `redirect_dir`; `mv` then copies.
//! - Lower owners go through an [`IdShift`] (keep-id without a chown copy).
//!
//! Why it is fast where fuse-overlayfs is not: no global lock (sharded
//! tables, one lock per node), one O_PATH descriptor per inode (no path
//! rebuilding), a directory merged in one getdents pass per layer that also
//! yields its whiteouts, kernel caching wherever every change goes through
//! this mount (long entry, negative-entry and attribute TTLs, cached
//! directories and pages), and no request the kernel can skip: OPEN and
//! OPENDIR (and with them RELEASE and RELEASEDIR), FLUSH and ACCESS answer
//! ENOSYS once, so a warm `cat` costs no round trip and a cold one a READ,
//! served by node (the file opened for that request, copied up first when
//! it is a write). `FUSE_HANDLE_KILLPRIV_V2` is not negotiated: with it
//! the kernel leaves clearing setuid and setgid on write to the server and
//! never refreshes the mode it caches, so an in-place write followed at
//! once by an exec could run a stale setuid bit. What stays per new file
//! (an untar: three LOOKUPs, CREATE, WRITE, GETXATTRs, GETATTRs, three
//! SETATTRs) the kernel asks for whatever the answers.
//!
//! It runs as root in the container's user namespace, so the kernel checks
//! permissions itself (`default_permissions`) and new files are given the
//! caller's owner here.
//!
//! `lookup` finds names, `copyup` writes the upper dir, `ops` answers the
//! requests with both.

use super::ids::IdShift;
use super::node::{bfd, write_pair, Entry, Inner, Key, Node, Sharded, Table};
use crate::layer::whiteout::OPAQUE_XATTR;
use crate::sys::fuse as sys;
use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use nix::errno::Errno as NixErrno;
use std::collections::HashSet;
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Entries and attributes that only this mount can change (every write goes
/// through it and the kernel updates its caches on the way): cached long.
const TTL_LONG: Duration = Duration::from_secs(24 * 3600);

/// The layer directories, already open (O_PATH): upper first, then the
/// lowers top first; the work dir beside the upper dir, for copies that
/// must never show in the merged view; and `/proc` for reopening O_PATH
/// descriptors.
pub struct Layers {
    pub upper: OwnedFd,
    pub lowers: Vec<OwnedFd>,
    pub work: OwnedFd,
    pub proc: OwnedFd,
}

pub struct OverlayFs {
    proc: OwnedFd,
    /// The work dir: copies that cannot be O_TMPFILEs are built there under
    /// passing names, then moved to their names or unlinked (`copyup`).
    work: OwnedFd,
    /// Makes those passing names unique.
    next_scratch: AtomicU64,
    /// The upper file system answered renameat2 RENAME_NOREPLACE with
    /// EINVAL or ENOSYS (NFS, a FUSE server without rename2): copies are
    /// then moved with linkat, a directory made at its name (`copyup`).
    /// Tests set it to take that path on a file system that has rename2.
    no_rename2: AtomicBool,
    table: Table,
    shift: IdShift,
    /// Files opened by CREATE (or by OPEN, on a kernel that cannot skip
    /// it); handle 0 means none: the request is served by its node.
    handles: Sharded<u64, Arc<OwnedFd>>,
    next_fh: AtomicU64,
    /// The kernel skips OPEN and RELEASE when OPEN answers ENOSYS
    /// (`FUSE_NO_OPEN_SUPPORT`): reads and writes then come by node.
    no_open: bool,
    /// The same for OPENDIR and RELEASEDIR.
    no_opendir: bool,
    /// st_dev of each layer (index as in `Inner::layer`).
    devs: Vec<u64>,
    upper_root: Arc<OwnedFd>,
}

type R<T> = Result<T, NixErrno>;

fn errno(e: NixErrno) -> Errno {
    Errno::from_i32(e as i32)
}

fn cname(name: &OsStr) -> R<CString> {
    CString::new(name.as_bytes()).map_err(|_| NixErrno::EINVAL)
}

fn is_whiteout(st: &sys::Stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

fn kind_of(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

fn dt_kind(dt: u8) -> Option<FileType> {
    Some(match dt {
        libc::DT_DIR => FileType::Directory,
        libc::DT_LNK => FileType::Symlink,
        libc::DT_FIFO => FileType::NamedPipe,
        libc::DT_SOCK => FileType::Socket,
        libc::DT_REG => FileType::RegularFile,
        libc::DT_BLK => FileType::BlockDevice,
        _ => return None,
    })
}

fn time(sec: i64, nsec: i64) -> SystemTime {
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs())
    }
}

fn sys_time(t: Option<TimeOrNow>) -> sys::Time {
    match t {
        None => sys::Time::Omit,
        Some(TimeOrNow::Now) => sys::Time::Now,
        Some(TimeOrNow::SpecificTime(t)) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => sys::Time::At(d.as_secs() as i64, d.subsec_nanos() as i64),
            Err(e) => sys::Time::At(-(e.duration().as_secs() as i64), 0),
        },
    }
}

/// overlayfs's own xattrs are bookkeeping, neither shown nor settable.
fn private_xattr(name: &[u8]) -> bool {
    crate::layer::whiteout::is_overlay_xattr(name)
}

/// The changes one SETATTR asks for.
struct SetAttr {
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    size: Option<u64>,
    atime: Option<TimeOrNow>,
    mtime: Option<TimeOrNow>,
    fh: Option<FileHandle>,
}

/// What a name resolves to in a directory's layers.
struct Found {
    layer: usize,
    dir_fd: Arc<OwnedFd>,
    st: sys::Stat,
    /// For a directory: its instances in lower layers below `layer`.
    lower_dirs: Vec<(usize, Arc<OwnedFd>)>,
}

mod copyup;
mod lookup;
mod ops;

use lookup::{is_opaque, opaque_key, stat_node};

impl OverlayFs {
    pub fn new(layers: Layers, shift: IdShift) -> R<OverlayFs> {
        let upper = Arc::new(layers.upper);
        let mut devs = vec![sys::stat_at(upper.as_fd(), c"")?.st_dev];
        let mut lower_dirs = Vec::new();
        for (i, l) in layers.lowers.into_iter().enumerate() {
            devs.push(sys::stat_at(l.as_fd(), c"")?.st_dev);
            let l = Arc::new(l);
            let opaque = is_opaque(&layers.proc, &l);
            lower_dirs.push((i + 1, l));
            if opaque {
                break;
            }
        }
        let root = Node::new(
            INodeNo::ROOT.0,
            Inner {
                parent: None,
                name: CString::default(),
                layer: 0,
                fd: upper.clone(),
                kind: libc::S_IFDIR,
                lower_dirs,
                links: Vec::new(),
                removed: false,
            },
        );
        copyup::clear_scratch(layers.work.as_fd());
        let table = Table::new(root);
        let st = sys::stat_at(upper.as_fd(), c"")?;
        table.alias(st.st_dev, st.st_ino, INodeNo::ROOT.0);
        Ok(OverlayFs {
            proc: layers.proc,
            work: layers.work,
            next_scratch: AtomicU64::new(0),
            no_rename2: AtomicBool::new(false),
            table,
            shift,
            handles: Sharded::new(),
            next_fh: AtomicU64::new(1),
            no_open: false,
            no_opendir: false,
            devs,
            upper_root: upper,
        })
    }

    fn node(&self, ino: INodeNo) -> R<Arc<Node>> {
        self.table.get(ino.0).ok_or(NixErrno::ESTALE)
    }

    fn attr(&self, ino: u64, st: &sys::Stat, layer: usize, merged: bool) -> FileAttr {
        let (uid, gid) = if layer == 0 {
            (st.st_uid, st.st_gid)
        } else {
            (self.shift.uid(st.st_uid), self.shift.gid(st.st_gid))
        };
        FileAttr {
            ino: INodeNo(ino),
            size: st.st_size as u64,
            blocks: st.st_blocks as u64,
            atime: time(st.st_atime, st.st_atime_nsec),
            mtime: time(st.st_mtime, st.st_mtime_nsec),
            ctime: time(st.st_ctime, st.st_ctime_nsec),
            crtime: UNIX_EPOCH,
            kind: kind_of(st.st_mode),
            perm: (st.st_mode & 0o7777) as u16,
            // A merged directory's link count says nothing about its
            // subdirectories; 1 tells find(1) not to rely on it.
            nlink: if merged { 1 } else { st.st_nlink as u32 },
            uid,
            gid,
            rdev: st.st_rdev as u32,
            blksize: st.st_blksize as u32,
            flags: 0,
        }
    }

    fn node_attr(&self, node: &Node) -> R<FileAttr> {
        let inner = node.read();
        let st = stat_node(&inner)?;
        Ok(self.attr(node.ino, &st, inner.layer, inner.merged()))
    }

    fn new_fh(&self, f: OwnedFd) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.handles.insert(fh, Arc::new(f));
        fh
    }

    /// The file behind handle `fh`, or, for handle 0 (the kernel sent no
    /// OPEN), node `ino`'s topmost instance opened for this one request;
    /// `write` copies it up first.
    fn file(&self, ino: INodeNo, fh: FileHandle, write: bool) -> R<Arc<OwnedFd>> {
        if fh.0 != 0 {
            return self.handles.get(&fh.0).ok_or(NixErrno::EBADF);
        }
        let node = self.node(ino)?;
        let flags = if write {
            self.copy_up(&node)?;
            libc::O_WRONLY
        } else {
            libc::O_RDONLY
        };
        let f = self.open_node(&node.read(), flags)?;
        Ok(Arc::new(f))
    }

    /// The merged listing of directory `ino` for a READDIR at `offset`:
    /// made afresh when a reading starts (offset 0), the same one for the
    /// rest of it, so offsets stay valid without an OPENDIR handle; let go
    /// once read to the end (the kernel keeps its own copy).
    fn read_listing(&self, ino: INodeNo, offset: u64) -> R<Arc<Vec<Entry>>> {
        let node = self.node(ino)?;
        let mut kept = node.listing();
        if offset != 0 {
            if let Some(l) = kept.as_ref() {
                let l = l.clone();
                if offset as usize >= l.len() {
                    *kept = None;
                }
                return Ok(l);
            }
        }
        let inner = node.read();
        if !inner.is_dir() {
            return Err(NixErrno::ENOTDIR);
        }
        let mut entries = vec![
            Entry {
                name: c".".to_owned(),
                ino: node.ino,
                kind: FileType::Directory,
            },
            Entry {
                name: c"..".to_owned(),
                ino: inner.parent.as_ref().map_or(INodeNo::ROOT.0, |p| p.ino),
                kind: FileType::Directory,
            },
        ];
        entries.extend(self.list(&inner)?);
        let l = Arc::new(entries);
        *kept = Some(l.clone());
        Ok(l)
    }

    /// A descriptor to read xattrs from, or None for file types that carry
    /// no user xattrs (symlinks, fifos, sockets).
    fn xattr_fd(&self, node: &Node) -> R<Option<OwnedFd>> {
        let inner = node.read();
        match inner.kind {
            libc::S_IFDIR | libc::S_IFREG => self
                .open_node(&inner, libc::O_RDONLY | libc::O_NONBLOCK)
                .map(Some),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
