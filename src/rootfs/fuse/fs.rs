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
//! directories and pages), and no OPEN-free requests the kernel can skip
//! (FLUSH, ACCESS answer ENOSYS once).
//!
//! It runs as root in the container's user namespace, so the kernel checks
//! permissions itself (`default_permissions`) and new files are given the
//! caller's owner here.

use super::ids::IdShift;
use super::node::{bfd, Inner, Key, Node, Sharded, Table};
use crate::layer::whiteout::OPAQUE_XATTR;
use crate::sys::fuse as sys;
use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use nix::errno::Errno as NixErrno;
use std::collections::HashSet;
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Entries and attributes that only this mount can change (every write goes
/// through it and the kernel updates its caches on the way): cached long.
const TTL_LONG: Duration = Duration::from_secs(24 * 3600);

/// The layer directories, already open (O_PATH): upper first, then the
/// lowers top first; and `/proc` for reopening O_PATH descriptors.
pub struct Layers {
    pub upper: OwnedFd,
    pub lowers: Vec<OwnedFd>,
    pub proc: OwnedFd,
}

/// One open file or directory.
#[derive(Clone)]
enum Handle {
    File(Arc<OwnedFd>),
    Dir(Arc<Vec<Entry>>),
}

/// One merged directory entry.
struct Entry {
    name: CString,
    ino: u64,
    kind: FileType,
}

pub struct OverlayFs {
    proc: OwnedFd,
    table: Table,
    shift: IdShift,
    handles: Sharded<u64, Handle>,
    next_fh: AtomicU64,
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
            },
        );
        let table = Table::new(root);
        let st = sys::stat_at(upper.as_fd(), c"")?;
        table.alias(st.st_dev, st.st_ino, INodeNo::ROOT.0);
        Ok(OverlayFs {
            proc: layers.proc,
            table,
            shift,
            handles: Sharded::new(),
            next_fh: AtomicU64::new(1),
            devs,
            upper_root: upper,
        })
    }

    fn node(&self, ino: INodeNo) -> R<Arc<Node>> {
        self.table.get(ino.0).ok_or(NixErrno::ESTALE)
    }

    /// Resolve `name` in directory `dir` through its layers.
    fn find(&self, dir: &Inner, name: &CStr) -> R<Option<Found>> {
        let dirs = dir.dirs();
        let mut found: Option<Found> = None;
        for (i, (layer, dfd)) in dirs.iter().enumerate() {
            let st = match sys::stat_at(bfd(dfd), name) {
                Ok(st) => st,
                Err(NixErrno::ENOENT) | Err(NixErrno::ENOTDIR) => continue,
                Err(e) => return Err(e),
            };
            if is_whiteout(&st) {
                break;
            }
            let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
            if !is_dir {
                // A file ends the search; below a directory it is hidden.
                if found.is_none() {
                    found = Some(Found {
                        layer: *layer,
                        dir_fd: dfd.clone(),
                        st,
                        lower_dirs: Vec::new(),
                    });
                }
                break;
            }
            let last = i + 1 == dirs.len();
            let opaque = !last && {
                let fd = Arc::new(sys::path_at(bfd(dfd), name)?);
                let o = is_opaque(&self.proc, &fd);
                if let Some(f) = &mut found {
                    f.lower_dirs.push((*layer, fd));
                }
                o
            };
            if found.is_none() {
                found = Some(Found {
                    layer: *layer,
                    dir_fd: dfd.clone(),
                    st,
                    lower_dirs: Vec::new(),
                });
            } else if last {
                let fd = Arc::new(sys::path_at(bfd(dfd), name)?);
                if let Some(f) = &mut found {
                    f.lower_dirs.push((*layer, fd));
                }
            }
            if opaque {
                break;
            }
        }
        Ok(found)
    }

    /// Whether a lower layer of `dir` has `name` (so deleting it in the
    /// upper dir needs a whiteout).
    fn in_lower(&self, dir: &Inner, name: &CStr) -> bool {
        let mut layers = dir.dirs();
        if dir.layer == 0 {
            layers.remove(0);
        }
        for (_, dfd) in layers {
            match sys::stat_at(bfd(&dfd), name) {
                Ok(st) if is_whiteout(&st) => return false,
                Ok(_) => return true,
                Err(_) => continue,
            }
        }
        false
    }

    /// The node for a found entry, registered with the kernel (one more lookup).
    fn register(&self, parent: &Arc<Node>, name: &CStr, f: Found) -> R<(Arc<Node>, FileAttr)> {
        let is_dir = f.st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let key = if f.layer > 0 && !is_dir && f.st.st_nlink > 1 {
            Key::Name(parent.ino, name.to_owned())
        } else {
            Key::Inode(f.st.st_dev, f.st.st_ino)
        };
        let ino = self.table.ino_for(key);
        let fd = if is_dir {
            Arc::new(sys::path_at(bfd(&f.dir_fd), name)?)
        } else {
            f.dir_fd.clone()
        };
        let node = self.table.lookup_or_insert(ino, || {
            Node::new(
                ino,
                Inner {
                    parent: Some(parent.clone()),
                    name: name.to_owned(),
                    layer: f.layer,
                    fd,
                    kind: f.st.st_mode & libc::S_IFMT,
                    lower_dirs: f.lower_dirs,
                },
            )
        });
        let attr = {
            let inner = node.read();
            self.attr(ino, &f.st, inner.layer, inner.merged())
        };
        Ok((node, attr))
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

    /// Open the node's topmost instance with `flags`.
    fn open_node(&self, inner: &Inner, flags: i32) -> R<OwnedFd> {
        if inner.is_dir() {
            self.reopen(&inner.fd, flags | libc::O_DIRECTORY)
        } else {
            sys::open_at(bfd(&inner.fd), &inner.name, flags, 0)
        }
    }

    /// Open the node's topmost instance for real access.
    fn reopen(&self, fd: &Arc<OwnedFd>, flags: i32) -> R<OwnedFd> {
        sys::reopen(self.proc.as_fd(), bfd(fd), flags)
    }

    /// Make sure `node` exists in the upper dir, copying it (and its parent
    /// directories) up from the layer it is in.
    fn copy_up(&self, node: &Arc<Node>) -> R<()> {
        let parent = {
            let inner = node.read();
            if inner.layer == 0 {
                return Ok(());
            }
            inner.parent.clone().ok_or(NixErrno::EIO)?
        };
        self.copy_up(&parent)?;
        let upper_parent = parent.fd();
        let mut inner = node.write();
        if inner.layer == 0 {
            return Ok(());
        }
        let name = inner.name.clone();
        let src = inner.fd.clone();
        let st = stat_node(&inner)?;
        let uid = self.shift.uid(st.st_uid);
        let gid = self.shift.gid(st.st_gid);
        let dir = bfd(&upper_parent);
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                sys::mkdir_at(dir, &name, 0o700)?;
                let made = sys::open_at(dir, &name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
                let from = self.reopen(&src, libc::O_RDONLY | libc::O_DIRECTORY)?;
                crate::rootfs::copy::copy_xattrs(from.as_fd(), made.as_fd())?;
                sys::chown_at(made.as_fd(), c"", uid, gid)?;
                sys::fchmod(made.as_fd(), st.st_mode & 0o7777)?;
                times(made.as_fd(), &st)?;
            }
            libc::S_IFREG => {
                let from = sys::open_at(bfd(&src), &name, libc::O_RDONLY, 0)?;
                let tmp = match sys::tmpfile_in(dir, 0o600) {
                    Ok(t) => Some(t),
                    Err(NixErrno::EOPNOTSUPP) | Err(NixErrno::EISDIR) => None,
                    Err(e) => return Err(e),
                };
                let made = match tmp {
                    Some(t) => t,
                    None => sys::open_at(
                        dir,
                        &name,
                        libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
                        0o600,
                    )?,
                };
                sys::copy_all(from.as_fd(), made.as_fd(), st.st_size as u64)?;
                crate::rootfs::copy::copy_xattrs(from.as_fd(), made.as_fd())?;
                sys::chown_at(made.as_fd(), c"", uid, gid)?;
                sys::fchmod(made.as_fd(), st.st_mode & 0o7777)?;
                times(made.as_fd(), &st)?;
                // An O_TMPFILE appears complete or not at all.
                if sys::stat_at(dir, &name) == Err(NixErrno::ENOENT) {
                    sys::link_tmpfile(self.proc.as_fd(), made.as_fd(), dir, &name)?;
                }
            }
            libc::S_IFLNK => {
                let target = sys::readlink_at(bfd(&src), &name)?;
                let target = CString::new(target).map_err(|_| NixErrno::EINVAL)?;
                sys::symlink_at(&target, dir, &name)?;
                sys::chown_at(dir, &name, uid, gid)?;
                let t = |s, n| sys::Time::At(s, n);
                sys::utimens_at(
                    dir,
                    &name,
                    t(st.st_atime, st.st_atime_nsec),
                    t(st.st_mtime, st.st_mtime_nsec),
                )?;
            }
            kind => {
                sys::mknod_at(dir, &name, kind | (st.st_mode & 0o7777), st.st_rdev)?;
                sys::chown_at(dir, &name, uid, gid)?;
            }
        }
        let new = sys::stat_at(dir, &name)?;
        self.table.alias(new.st_dev, new.st_ino, node.ino);
        let fd = if inner.is_dir() {
            Arc::new(sys::path_at(dir, &name)?)
        } else {
            upper_parent.clone()
        };
        if inner.is_dir() {
            let old = inner.layer;
            inner.lower_dirs.insert(0, (old, src));
        }
        inner.layer = 0;
        inner.fd = fd;
        Ok(())
    }

    /// Make room for a new entry `name` in `parent`'s upper dir: copy the
    /// parent up and remove a whiteout there. True when a whiteout was
    /// removed (a new directory must then be opaque).
    fn prepare_create(&self, parent: &Arc<Node>, name: &CStr) -> R<(Arc<OwnedFd>, bool)> {
        self.copy_up(parent)?;
        let dir = parent.fd();
        match sys::stat_at(bfd(&dir), name) {
            Ok(st) if is_whiteout(&st) => {
                sys::unlink_at(bfd(&dir), name, false)?;
                Ok((dir, true))
            }
            Ok(_) => Err(NixErrno::EEXIST),
            Err(NixErrno::ENOENT) => Ok((dir, false)),
            Err(e) => Err(e),
        }
    }

    /// Owner for a new file: the caller, with the group of a setgid parent.
    fn new_owner(&self, req: &Request, dir: &Arc<OwnedFd>) -> R<(u32, u32, bool)> {
        let st = sys::stat_at(bfd(dir), c"")?;
        if st.st_mode & libc::S_ISGID != 0 {
            Ok((req.uid(), st.st_gid, true))
        } else {
            Ok((req.uid(), req.gid(), false))
        }
    }

    /// After creating `name` in the upper `dir`: set its owner, look it up.
    fn finish_create(
        &self,
        req: &Request,
        parent: &Arc<Node>,
        dir: &Arc<OwnedFd>,
        name: &CStr,
    ) -> R<(Arc<Node>, FileAttr)> {
        let (uid, gid, _) = self.new_owner(req, dir)?;
        sys::chown_at(bfd(dir), name, uid, gid)?;
        let st = sys::stat_at(bfd(dir), name)?;
        self.register(
            parent,
            name,
            Found {
                layer: 0,
                dir_fd: dir.clone(),
                st,
                lower_dirs: Vec::new(),
            },
        )
    }

    /// A directory's merged listing, whiteouts applied.
    fn list(&self, dir: &Inner) -> R<Vec<Entry>> {
        let mut seen: HashSet<CString> = HashSet::new();
        let mut out = Vec::new();
        for (layer, dfd) in dir.dirs() {
            for e in sys::read_dir(bfd(&dfd))? {
                if seen.contains(&e.name) {
                    continue;
                }
                let kind = match dt_kind(e.kind) {
                    Some(k) => k,
                    // Char devices may be whiteouts; unknown types need a stat.
                    None => {
                        let st = match sys::stat_at(bfd(&dfd), &e.name) {
                            Ok(st) => st,
                            Err(_) => continue,
                        };
                        if is_whiteout(&st) {
                            seen.insert(e.name);
                            continue;
                        }
                        kind_of(st.st_mode)
                    }
                };
                let ino = self.table.ino_for(Key::Inode(self.devs[layer], e.ino));
                seen.insert(e.name.clone());
                out.push(Entry {
                    name: e.name,
                    ino,
                    kind,
                });
            }
        }
        Ok(out)
    }

    /// Empty `dir`'s upper instance of its whiteouts so it can be removed or
    /// replaced; ENOTEMPTY when its merged view has entries.
    fn clear_for_removal(&self, node: &Node) -> R<()> {
        let inner = node.read();
        if !self.list(&inner)?.is_empty() {
            return Err(NixErrno::ENOTEMPTY);
        }
        if inner.layer == 0 {
            for e in sys::read_dir(bfd(&inner.fd))? {
                sys::unlink_at(bfd(&inner.fd), &e.name, false)?;
            }
        }
        Ok(())
    }

    fn whiteout(&self, dir: &Arc<OwnedFd>, name: &CStr) -> R<()> {
        sys::mknod_at(bfd(dir), name, libc::S_IFCHR, 0)
    }

    /// The child `name` of `parent` as a node (looked up without telling the
    /// kernel: the caller drops the extra reference with `release`).
    fn child(&self, parent: &Arc<Node>, name: &CStr) -> R<Arc<Node>> {
        let f = {
            let inner = parent.read();
            self.find(&inner, name)?
        };
        let f = f.ok_or(NixErrno::ENOENT)?;
        let (node, _) = self.register(parent, name, f)?;
        Ok(node)
    }

    /// After removing a name: once the underlying inode is gone, its number
    /// may be reused by the filesystem for a new file, which must not be
    /// taken for this node.
    /// `st` is the removed entry as it was before.
    fn drop_if_last(&self, st: &sys::Stat) {
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR || st.st_nlink <= 1 {
            self.table.unalias(st.st_dev, st.st_ino);
        }
    }

    fn release(&self, node: &Node) {
        self.table.forget(node.ino, 1);
    }

    fn do_lookup(&self, parent: INodeNo, name: &OsStr) -> R<Option<(Arc<Node>, FileAttr)>> {
        let p = self.node(parent)?;
        let name = cname(name)?;
        let f = {
            let inner = p.read();
            if !inner.is_dir() {
                return Err(NixErrno::ENOTDIR);
            }
            self.find(&inner, &name)?
        };
        match f {
            None => Ok(None),
            Some(f) => self.register(&p, &name, f).map(Some),
        }
    }

    fn do_unlink(&self, parent: INodeNo, name: &OsStr, dir: bool) -> R<()> {
        let p = self.node(parent)?;
        let name = cname(name)?;
        let child = self.child(&p, &name)?;
        let res = (|| {
            let is_dir = child.read().is_dir();
            if dir && !is_dir {
                return Err(NixErrno::ENOTDIR);
            }
            if !dir && is_dir {
                return Err(NixErrno::EISDIR);
            }
            if dir {
                self.clear_for_removal(&child)?;
            }
            self.copy_up(&p)?;
            let upper = p.fd();
            let lower = self.in_lower(&p.read(), &name);
            if child.read().layer == 0 {
                let st = sys::stat_at(bfd(&upper), &name)?;
                sys::unlink_at(bfd(&upper), &name, dir)?;
                self.drop_if_last(&st);
            }
            if lower {
                self.whiteout(&upper, &name)?;
            }
            Ok(())
        })();
        self.release(&child);
        res
    }

    fn do_rename(
        &self,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> R<()> {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return Err(NixErrno::EINVAL);
        }
        let p = self.node(parent)?;
        let np = self.node(newparent)?;
        let name = cname(name)?;
        let newname = cname(newname)?;
        let src = self.child(&p, &name)?;
        let dst = match self.child(&np, &newname) {
            Ok(d) => Some(d),
            Err(NixErrno::ENOENT) => None,
            Err(e) => {
                self.release(&src);
                return Err(e);
            }
        };
        let res = self.rename_nodes(&p, &name, &src, &np, &newname, dst.as_ref(), flags);
        self.release(&src);
        if let Some(d) = &dst {
            self.release(d);
        }
        res
    }

    #[allow(clippy::too_many_arguments)]
    fn rename_nodes(
        &self,
        p: &Arc<Node>,
        name: &CStr,
        src: &Arc<Node>,
        np: &Arc<Node>,
        newname: &CStr,
        dst: Option<&Arc<Node>>,
        flags: RenameFlags,
    ) -> R<()> {
        if let Some(d) = dst {
            if Arc::ptr_eq(d, src) {
                return Ok(());
            }
        }
        let src_dir = src.read().is_dir();
        if src_dir {
            let s = src.read();
            // overlayfs without redirect_dir: only pure upper dirs move.
            if s.layer != 0 || s.merged() {
                return Err(NixErrno::EXDEV);
            }
        }
        if let Some(d) = dst {
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(NixErrno::EEXIST);
            }
            let dst_dir = d.read().is_dir();
            match (src_dir, dst_dir) {
                (true, false) => return Err(NixErrno::ENOTDIR),
                (false, true) => return Err(NixErrno::EISDIR),
                (true, true) => self.clear_for_removal(d)?,
                _ => {}
            }
        }
        self.copy_up(src)?;
        self.copy_up(np)?;
        let from = p.fd();
        let to = np.fd();
        let src_lower = self.in_lower(&p.read(), name);
        let dst_lower = self.in_lower(&np.read(), newname);
        // What the upper dir has at the new name: a whiteout or an emptied
        // directory must go first when a directory moves there.
        let replaced = sys::stat_at(bfd(&to), newname)
            .ok()
            .filter(|st| !is_whiteout(st));
        match sys::stat_at(bfd(&to), newname) {
            Ok(st) if is_whiteout(&st) && src_dir => sys::unlink_at(bfd(&to), newname, false)?,
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                sys::unlink_at(bfd(&to), newname, true)?
            }
            _ => {}
        }
        sys::rename_at(bfd(&from), name, bfd(&to), newname, 0)?;
        if let Some(st) = replaced {
            self.drop_if_last(&st);
        }
        if src_dir && dst_lower {
            let moved = sys::open_at(bfd(&to), newname, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            sys::fsetxattr(moved.as_fd(), &opaque_key(), b"y", 0)?;
        }
        if src_lower {
            self.whiteout(&from, name)?;
        }
        let mut s = src.write();
        s.parent = Some(np.clone());
        s.name = newname.to_owned();
        if !s.is_dir() {
            s.fd = to;
        }
        Ok(())
    }

    fn do_setattr(&self, ino: INodeNo, set: SetAttr) -> R<FileAttr> {
        let SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
            fh,
        } = set;
        let node = self.node(ino)?;
        self.copy_up(&node)?;
        let (fd, kind, name) = {
            let i = node.read();
            (i.fd.clone(), i.kind, i.name.clone())
        };
        // For directories `fd` is the directory; for the rest its parent.
        let own = if kind == libc::S_IFDIR {
            c""
        } else {
            name.as_c_str()
        };
        let open_fd = |flags: i32| -> R<Arc<OwnedFd>> {
            if let Some(Handle::File(f)) = fh.and_then(|fh| self.handles.get(&fh.0)) {
                return Ok(f);
            }
            self.open_node(&node.read(), flags | libc::O_NONBLOCK)
                .map(Arc::new)
        };
        if let Some(size) = size {
            if kind == libc::S_IFDIR {
                return Err(NixErrno::EISDIR);
            }
            let f = match fh.and_then(|fh| self.handles.get(&fh.0)) {
                Some(Handle::File(f)) => f,
                _ => Arc::new(self.open_node(&node.read(), libc::O_WRONLY)?),
            };
            sys::ftruncate(bfd(&f), size)?;
        }
        if uid.is_some() || gid.is_some() {
            let u = uid.map(|u| u as i64).unwrap_or(-1) as u32;
            let g = gid.map(|g| g as i64).unwrap_or(-1) as u32;
            sys::chown_at(bfd(&fd), own, u, g)?;
        }
        if let Some(mode) = mode {
            if kind == libc::S_IFLNK {
                return Err(NixErrno::EOPNOTSUPP);
            }
            sys::fchmod(bfd(&open_fd(libc::O_RDONLY)?), mode & 0o7777)?;
        }
        if atime.is_some() || mtime.is_some() {
            let (a, m) = (sys_time(atime), sys_time(mtime));
            match kind {
                // Neither can be opened: by name in their directory.
                libc::S_IFLNK | libc::S_IFSOCK => sys::utimens_at(bfd(&fd), &name, a, m)?,
                _ => sys::futimens(bfd(&open_fd(libc::O_RDONLY)?), a, m)?,
            }
        }
        self.node_attr(&node)
    }

    fn new_fh(&self, h: Handle) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.handles.insert(fh, h);
        fh
    }

    fn file(&self, fh: FileHandle) -> R<Arc<OwnedFd>> {
        match self.handles.get(&fh.0) {
            Some(Handle::File(f)) => Ok(f),
            _ => Err(NixErrno::EBADF),
        }
    }

    /// A descriptor on which xattrs can be read or written, or None for
    /// file types that carry no user xattrs (symlinks, fifos, sockets).
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

/// A node's own attributes: a directory by its descriptor, anything else
/// by name in the directory it is in.
fn stat_node(inner: &Inner) -> R<sys::Stat> {
    if inner.is_dir() {
        sys::stat_at(bfd(&inner.fd), c"")
    } else {
        sys::stat_at(bfd(&inner.fd), &inner.name)
    }
}

fn opaque_key() -> CString {
    CString::new(OPAQUE_XATTR).unwrap_or_default()
}

/// Whether a directory (O_PATH descriptor) is marked opaque.
fn is_opaque(proc: &OwnedFd, dir: &Arc<OwnedFd>) -> bool {
    match sys::reopen(proc.as_fd(), bfd(dir), libc::O_RDONLY | libc::O_DIRECTORY) {
        Ok(d) => sys::fgetxattr(d.as_fd(), &opaque_key()).is_ok_and(|v| v == b"y"),
        Err(_) => false,
    }
}

fn times(fd: std::os::fd::BorrowedFd<'_>, st: &sys::Stat) -> R<()> {
    sys::futimens(
        fd,
        sys::Time::At(st.st_atime, st.st_atime_nsec),
        sys::Time::At(st.st_mtime, st.st_mtime_nsec),
    )
}

/// Answer a request that made or found an entry.
fn entry(reply: ReplyEntry, r: R<(Arc<Node>, FileAttr)>) {
    match r {
        Ok((_, a)) => reply.entry(&TTL_LONG, &a, Generation(0)),
        Err(e) => reply.error(errno(e)),
    }
}

fn negative() -> FileAttr {
    FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind: FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 0,
        flags: 0,
    }
}

impl Filesystem for OverlayFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Each one only if the kernel offers it; none is required.
        for cap in [
            InitFlags::FUSE_PARALLEL_DIROPS,
            InitFlags::FUSE_CACHE_SYMLINKS,
            InitFlags::FUSE_ATOMIC_O_TRUNC,
            InitFlags::FUSE_EXPORT_SUPPORT,
            InitFlags::FUSE_SPLICE_READ,
            InitFlags::FUSE_SPLICE_WRITE,
            InitFlags::FUSE_SPLICE_MOVE,
        ] {
            let _ = config.add_capabilities(cap);
        }
        let _ = config.set_max_readahead(1 << 20);
        let _ = config.set_max_background(64);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.do_lookup(parent, name) {
            Ok(Some((_, attr))) => reply.entry(&TTL_LONG, &attr, Generation(0)),
            // A negative entry the kernel may keep: only this mount can
            // create the name, and creating it replaces the entry.
            Ok(None) => reply.entry(&TTL_LONG, &negative(), Generation(0)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.table.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self
            .node(ino)
            .and_then(|n| self.node_attr(&n).map(|a| (n, a)))
        {
            Ok((_, a)) => reply.attr(&TTL_LONG, &a),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let set = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
            fh,
        };
        match self.do_setattr(ino, set) {
            Ok(a) => reply.attr(&TTL_LONG, &a),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.node(ino).and_then(|n| {
            let i = n.read();
            sys::readlink_at(bfd(&i.fd), &i.name)
        }) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let r = (|| {
            let kind = mode & libc::S_IFMT;
            // Devices cannot be made in a user namespace anyway, and a char
            // 0/0 would be taken for a whiteout.
            if !matches!(kind, libc::S_IFIFO | libc::S_IFSOCK | libc::S_IFREG) {
                return Err(NixErrno::EPERM);
            }
            let p = self.node(parent)?;
            let name = cname(name)?;
            let (dir, _) = self.prepare_create(&p, &name)?;
            sys::mknod_at(bfd(&dir), &name, kind | (mode & 0o7777 & !umask), 0)?;
            self.finish_create(req, &p, &dir, &name)
        })();
        entry(reply, r)
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let r = (|| {
            let p = self.node(parent)?;
            let name = cname(name)?;
            let (dir, over_whiteout) = self.prepare_create(&p, &name)?;
            let (_, _, sgid) = self.new_owner(req, &dir)?;
            let mut m = mode & 0o7777 & !umask;
            if sgid {
                m |= libc::S_ISGID;
            }
            sys::mkdir_at(bfd(&dir), &name, m)?;
            if over_whiteout {
                let made = sys::open_at(bfd(&dir), &name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
                sys::fsetxattr(made.as_fd(), &opaque_key(), b"y", 0)?;
            }
            self.finish_create(req, &p, &dir, &name)
        })();
        entry(reply, r)
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.do_unlink(parent, name, false) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.do_unlink(parent, name, true) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let r = (|| {
            let p = self.node(parent)?;
            let name = cname(link_name)?;
            let target = cname(target.as_os_str())?;
            let (dir, _) = self.prepare_create(&p, &name)?;
            sys::symlink_at(&target, bfd(&dir), &name)?;
            self.finish_create(req, &p, &dir, &name)
        })();
        entry(reply, r)
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        match self.do_rename(parent, name, newparent, newname, flags) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let r = (|| {
            let node = self.node(ino)?;
            if node.read().is_dir() {
                return Err(NixErrno::EPERM);
            }
            self.copy_up(&node)?;
            let np = self.node(newparent)?;
            let newname = cname(newname)?;
            let (dir, _) = self.prepare_create(&np, &newname)?;
            let (from_dir, from_name) = {
                let i = node.read();
                (i.fd.clone(), i.name.clone())
            };
            sys::link_at(bfd(&from_dir), &from_name, bfd(&dir), &newname)?;
            let st = sys::stat_at(bfd(&dir), &newname)?;
            self.register(
                &np,
                &newname,
                Found {
                    layer: 0,
                    dir_fd: dir,
                    st,
                    lower_dirs: Vec::new(),
                },
            )
        })();
        entry(reply, r)
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let r = (|| {
            let node = self.node(ino)?;
            let f = flags.0;
            let writes = f & libc::O_ACCMODE != libc::O_RDONLY || f & libc::O_TRUNC != 0;
            if writes {
                self.copy_up(&node)?;
            }
            let keep = libc::O_ACCMODE
                | libc::O_APPEND
                | libc::O_TRUNC
                | libc::O_NONBLOCK
                | libc::O_DIRECT
                | libc::O_SYNC
                | libc::O_DSYNC
                | libc::O_NOATIME;
            let fd = self.open_node(&node.read(), f & keep)?;
            Ok(self.new_fh(Handle::File(Arc::new(fd))))
        })();
        match r {
            // Pages stay valid across opens: the file changes only through
            // this mount, which keeps the page cache up to date itself.
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let r = self.file(fh).and_then(|f| {
            let mut buf = vec![0u8; size as usize];
            let n = sys::pread(bfd(&f), &mut buf, offset)?;
            buf.truncate(n);
            Ok(buf)
        });
        match r {
            Ok(b) => reply.data(&b),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self
            .file(fh)
            .and_then(|f| sys::pwrite(bfd(&f), data, offset))
        {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Nothing is buffered here; ENOSYS stops the kernel sending FLUSH
        // on every close.
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.handles.remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.file(fh).and_then(|f| sys::fsync(bfd(&f), datasync)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let r = self.node(ino).and_then(|n| {
            let inner = n.read();
            if !inner.is_dir() {
                return Err(NixErrno::ENOTDIR);
            }
            let mut entries = vec![
                Entry {
                    name: c".".to_owned(),
                    ino: n.ino,
                    kind: FileType::Directory,
                },
                Entry {
                    name: c"..".to_owned(),
                    ino: inner.parent.as_ref().map_or(INodeNo::ROOT.0, |p| p.ino),
                    kind: FileType::Directory,
                },
            ];
            entries.extend(self.list(&inner)?);
            Ok(self.new_fh(Handle::Dir(Arc::new(entries))))
        });
        match r {
            // The kernel may cache the listing: it drops it itself when
            // an entry is added or removed through this mount.
            Ok(fh) => reply.opened(
                FileHandle(fh),
                FopenFlags::FOPEN_CACHE_DIR | FopenFlags::FOPEN_KEEP_CACHE,
            ),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(Handle::Dir(entries)) = self.handles.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            let name = OsStr::from_bytes(e.name.as_bytes());
            if reply.add(INodeNo(e.ino), (i + 1) as u64, e.kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.handles.remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let r = self.node(ino).and_then(|n| {
            let fd = n.fd();
            let d = self.reopen(&fd, libc::O_RDONLY | libc::O_DIRECTORY)?;
            sys::fsync(d.as_fd(), false)
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match sys::statvfs(bfd(&self.upper_root)) {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                s.f_namemax as u32,
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let r = (|| {
            if private_xattr(name.as_bytes()) {
                return Err(NixErrno::EPERM);
            }
            let node = self.node(ino)?;
            self.copy_up(&node)?;
            let fd = self.xattr_fd(&node)?.ok_or(NixErrno::EPERM)?;
            sys::fsetxattr(fd.as_fd(), &cname(name)?, value, flags)
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let r = (|| {
            if private_xattr(name.as_bytes()) {
                return Err(NixErrno::ENODATA);
            }
            let node = self.node(ino)?;
            let fd = self.xattr_fd(&node)?.ok_or(NixErrno::ENODATA)?;
            sys::fgetxattr(fd.as_fd(), &cname(name)?)
        })();
        match r {
            Ok(v) if size == 0 => reply.size(v.len() as u32),
            Ok(v) if v.len() > size as usize => reply.error(Errno::ERANGE),
            Ok(v) => reply.data(&v),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let r = (|| {
            let node = self.node(ino)?;
            let Some(fd) = self.xattr_fd(&node)? else {
                return Ok(Vec::new());
            };
            let list = sys::flistxattr(fd.as_fd())?;
            let mut out = Vec::with_capacity(list.len());
            for k in list.split(|&b| b == 0).filter(|k| !k.is_empty()) {
                if !private_xattr(k) {
                    out.extend_from_slice(k);
                    out.push(0);
                }
            }
            Ok(out)
        })();
        match r {
            Ok(v) if size == 0 => reply.size(v.len() as u32),
            Ok(v) if v.len() > size as usize => reply.error(Errno::ERANGE),
            Ok(v) => reply.data(&v),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = (|| {
            if private_xattr(name.as_bytes()) {
                return Err(NixErrno::ENODATA);
            }
            let node = self.node(ino)?;
            self.copy_up(&node)?;
            let fd = self.xattr_fd(&node)?.ok_or(NixErrno::ENODATA)?;
            sys::fremovexattr(fd.as_fd(), &cname(name)?)
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // default_permissions: the kernel checks; ENOSYS stops it asking.
        reply.error(Errno::ENOSYS);
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let r = (|| {
            let p = self.node(parent)?;
            let name = cname(name)?;
            let (dir, _) = self.prepare_create(&p, &name)?;
            let keep = libc::O_ACCMODE
                | libc::O_APPEND
                | libc::O_NONBLOCK
                | libc::O_DIRECT
                | libc::O_SYNC
                | libc::O_DSYNC;
            let fd = sys::open_at(
                bfd(&dir),
                &name,
                (flags & keep) | libc::O_CREAT | libc::O_EXCL,
                mode & 0o7777 & !umask,
            )?;
            let (node, attr) = self.finish_create(req, &p, &dir, &name)?;
            Ok((node, attr, self.new_fh(Handle::File(Arc::new(fd)))))
        })();
        match r {
            Ok((_, a, fh)) => reply.created(
                &TTL_LONG,
                &a,
                Generation(0),
                FileHandle(fh),
                FopenFlags::FOPEN_KEEP_CACHE,
            ),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let r = self
            .file(fh)
            .and_then(|f| sys::fallocate(bfd(&f), mode, offset, length));
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }
}
