//! Copy-up and creation in the upper dir: a lower file or directory copied
//! up with its data, mode, owner, xattrs and times before any change; new
//! entries given the caller's owner; whiteouts left where a lower name was
//! removed.
//!
//! A copy appears whole or not at all: a regular file is filled as an
//! O_TMPFILE and then linked in; a directory, a symlink, fifo or socket
//! (which have no O_TMPFILE), and a regular file where the upper file
//! system refuses O_TMPFILE, are built under a `#copyup-` name in the work
//! dir and moved to their name with RENAME_NOREPLACE, as overlayfs does.
//! Where the upper file system has no rename2 (NFS), a file is linked to
//! its name instead, and a directory is made at its name and removed again
//! if giving it its attributes fails.

use super::*;
use std::os::fd::BorrowedFd;

impl OverlayFs {
    /// Open the node's topmost instance with `flags`.
    pub(super) fn open_node(&self, inner: &Inner, flags: i32) -> R<OwnedFd> {
        if inner.is_dir() {
            self.reopen(&inner.fd, flags | libc::O_DIRECTORY)
        } else if inner.name.is_empty() {
            self.reopen(&inner.fd, flags)
        } else {
            sys::open_at(bfd(&inner.fd), &inner.name, flags, 0)
        }
    }

    /// Open the node's topmost instance for real access.
    pub(super) fn reopen(&self, fd: &Arc<OwnedFd>, flags: i32) -> R<OwnedFd> {
        sys::reopen(self.proc.as_fd(), bfd(fd), flags)
    }

    /// Make sure `node` exists in the upper dir, copying it (and its parent
    /// directories) up from the layer it is in.
    pub(super) fn copy_up(&self, node: &Arc<Node>) -> R<()> {
        let parent = {
            let inner = node.read();
            if inner.layer == 0 {
                return Ok(());
            }
            if inner.removed {
                return Err(NixErrno::ENOENT);
            }
            // A file with no name needs no directory of its own in the
            // upper dir: the one it was in may be gone too (`rm -rf`), and
            // copying it up would bring it back.
            if inner.name.is_empty() {
                None
            } else {
                Some(inner.parent.clone().ok_or(NixErrno::EIO)?)
            }
        };
        let upper_parent = match parent {
            Some(p) => {
                self.copy_up(&p)?;
                p.fd()
            }
            None => self.upper_root.clone(),
        };
        let mut inner = node.write();
        if inner.layer == 0 {
            return Ok(());
        }
        if inner.removed {
            return Err(NixErrno::ENOENT);
        }
        let name = inner.name.clone();
        let src = inner.fd.clone();
        let st = stat_node(&inner)?;
        let uid = self.shift.uid(st.st_uid);
        let gid = self.shift.gid(st.st_gid);
        let dir = bfd(&upper_parent);
        if name.is_empty() {
            return self.copy_up_nameless(&mut inner, dir, &st);
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                let from = self.reopen(&src, libc::O_RDONLY | libc::O_DIRECTORY)?;
                self.in_work(
                    Some((dir, &name)),
                    true,
                    |at, n| sys::mkdir_at(at, n, 0o700),
                    |at, n, ()| {
                        let made = sys::open_at(at, n, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
                        crate::rootfs::copy::copy_xattrs(from.as_fd(), made.as_fd())?;
                        sys::chown_at(made.as_fd(), c"", uid, gid)?;
                        sys::fchmod(made.as_fd(), st.st_mode & 0o7777)?;
                        times(made.as_fd(), &st)?;
                        Ok(made)
                    },
                )?;
            }
            libc::S_IFREG => {
                let from = sys::open_at(bfd(&src), &name, libc::O_RDONLY, 0)?;
                let fill = |made: BorrowedFd<'_>| fill_file(from.as_fd(), made, &st, uid, gid);
                match sys::tmpfile_in(dir, 0o600) {
                    // An O_TMPFILE appears complete or not at all.
                    Ok(made) => {
                        fill(made.as_fd())?;
                        sys::link_tmpfile(self.proc.as_fd(), made.as_fd(), dir, &name)?;
                    }
                    Err(e) if tmpfile_refused(e) => {
                        self.in_work(Some((dir, &name)), false, create_file, |_, _, made| {
                            fill(made.as_fd())?;
                            Ok(made)
                        })?;
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => {
                let from = sys::path_at(bfd(&src), &name)?;
                self.copy_node(from.as_fd(), &st, uid, gid, Some((dir, &name)))?;
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

    /// Copy up a lower file that lost its name while open: into a file of
    /// the upper file system that never gets a name in the upper dir (its
    /// old name may stand for another file now), reached through its
    /// descriptor from then on. overlayfs copies such a file up to its old
    /// name (bringing a deleted file back, or replacing what was renamed
    /// over it); here it stays nameless, as it is in the merged view.
    fn copy_up_nameless(&self, inner: &mut Inner, dir: BorrowedFd<'_>, st: &sys::Stat) -> R<()> {
        let (uid, gid) = (self.shift.uid(st.st_uid), self.shift.gid(st.st_gid));
        let made = if st.st_mode & libc::S_IFMT == libc::S_IFREG {
            let from = self.reopen(&inner.fd, libc::O_RDONLY)?;
            let made = self.unnamed_file(dir)?;
            fill_file(from.as_fd(), made.as_fd(), st, uid, gid)?;
            made
        } else {
            self.copy_node(bfd(&inner.fd), st, uid, gid, None)?
        };
        inner.layer = 0;
        inner.fd = Arc::new(made);
        Ok(())
    }

    /// A new regular file with no name, on the upper dir's file system:
    /// an O_TMPFILE in `dir`, or where the file system refuses those, a file
    /// made in the work dir and unlinked at once.
    fn unnamed_file(&self, dir: BorrowedFd<'_>) -> R<OwnedFd> {
        match sys::tmpfile_in(dir, 0o600) {
            Err(e) if tmpfile_refused(e) => {
                self.in_work(None, false, create_file, |_, _, made| Ok(made))
            }
            r => r,
        }
    }

    /// A copy of a symlink, fifo or socket (O_PATH descriptor `from`,
    /// attributes `st`) owned by `uid`:`gid`, with `st`'s mode and times,
    /// held by an O_PATH descriptor: there is no O_TMPFILE for these, so it
    /// is always made in the work dir, finished there and then moved to its
    /// name `to` or, for a file with no name, unlinked ([`Self::in_work`]).
    /// A device node fails here with EPERM: none can be made in a user
    /// namespace.
    fn copy_node(
        &self,
        from: BorrowedFd<'_>,
        st: &sys::Stat,
        uid: u32,
        gid: u32,
        to: Option<(BorrowedFd<'_>, &CStr)>,
    ) -> R<OwnedFd> {
        let kind = st.st_mode & libc::S_IFMT;
        let target = if kind == libc::S_IFLNK {
            let t = sys::readlink_at(from, c"")?;
            Some(CString::new(t).map_err(|_| NixErrno::EINVAL)?)
        } else {
            None
        };
        let create = |work: BorrowedFd<'_>, name: &CStr| match &target {
            Some(t) => sys::symlink_at(t, work, name),
            None => sys::mknod_at(work, name, kind | (st.st_mode & 0o7777), st.st_rdev),
        };
        self.in_work(to, false, create, |work, name, ()| {
            sys::chown_at(work, name, uid, gid)?;
            let made = sys::path_at(work, name)?;
            if target.is_none() {
                // chown may have cleared setuid and setgid.
                sys::chmod_fd(self.proc.as_fd(), made.as_fd(), st.st_mode & 0o7777)?;
            }
            let t = |s, n| sys::Time::At(s, n);
            sys::utimens_at(
                made.as_fd(),
                c"",
                t(st.st_atime, st.st_atime_nsec),
                t(st.st_mtime, st.st_mtime_nsec),
            )?;
            Ok(made)
        })
    }

    /// Build a copy under a fresh name in the work dir and move it to `to`
    /// without replacing anything or, with no `to`, unlink it once built.
    /// `create` makes the name with O_EXCL semantics: its EEXIST, and only
    /// its, means the name was taken (left by a server killed in between)
    /// and another is tried. `finish` gives the new entry its attributes and
    /// returns a descriptor that holds it; whatever it fails with, the name
    /// is removed. The move is renameat2 RENAME_NOREPLACE, so the copy
    /// appears complete or not at all, as overlayfs does it. Where the upper
    /// file system has no rename2, a file is linked to `to` instead (linkat
    /// fails with EEXIST, never replaces; without AT_SYMLINK_FOLLOW it links
    /// a symlink itself), and a directory, which cannot be linked, is made
    /// at `to` and removed again if finishing it fails. The work dir is
    /// never shown, and is left as empty as it was found, whatever fails.
    fn in_work<T>(
        &self,
        to: Option<(BorrowedFd<'_>, &CStr)>,
        is_dir: bool,
        create: impl Fn(BorrowedFd<'_>, &CStr) -> R<T>,
        finish: impl Fn(BorrowedFd<'_>, &CStr, T) -> R<OwnedFd>,
    ) -> R<OwnedFd> {
        if let Some((dir, to)) = to {
            if is_dir && self.no_rename2.load(Ordering::Relaxed) {
                return in_place(dir, to, &create, &finish);
            }
        }
        let work = self.work.as_fd();
        let pid = std::process::id();
        for _ in 0..64 {
            let n = self.next_scratch.fetch_add(1, Ordering::Relaxed);
            let name =
                CString::new(format!("{SCRATCH}{pid:x}-{n:x}")).map_err(|_| NixErrno::EINVAL)?;
            let made = match create(work, &name) {
                Err(NixErrno::EEXIST) => continue,
                r => r?,
            };
            let fd = finish(work, &name, made).inspect_err(|_| {
                let _ = sys::unlink_at(work, &name, is_dir);
            })?;
            let moved = match to {
                None => sys::unlink_at(work, &name, false),
                Some((dir, to)) => match self.rename_noreplace(work, &name, dir, to) {
                    Some(r) => r,
                    None if is_dir => {
                        let _ = sys::unlink_at(work, &name, true);
                        drop(fd);
                        return in_place(dir, to, &create, &finish);
                    }
                    None => sys::link_at(work, &name, dir, to).map(|()| {
                        // The copy is in place: a name left behind here is
                        // only a leftover, cleared at the next start.
                        let _ = sys::unlink_at(work, &name, false);
                    }),
                },
            };
            return moved.map(|()| fd).inspect_err(|_| {
                let _ = sys::unlink_at(work, &name, is_dir);
            });
        }
        Err(NixErrno::EEXIST)
    }

    /// renameat2 RENAME_NOREPLACE of `name` in `work` to `to` in `dir`;
    /// None when the upper file system has no rename2 (EINVAL or ENOSYS,
    /// remembered so it is asked only once).
    fn rename_noreplace(
        &self,
        work: BorrowedFd<'_>,
        name: &CStr,
        dir: BorrowedFd<'_>,
        to: &CStr,
    ) -> Option<R<()>> {
        if self.no_rename2.load(Ordering::Relaxed) {
            return None;
        }
        match sys::rename_at(work, name, dir, to, libc::RENAME_NOREPLACE) {
            Err(NixErrno::EINVAL | NixErrno::ENOSYS) => {
                self.no_rename2.store(true, Ordering::Relaxed);
                None
            }
            r => Some(r),
        }
    }

    /// Make room for a new entry `name` in `parent`'s upper dir: copy the
    /// parent up and remove a whiteout there. True when a whiteout was
    /// removed (a new directory must then be opaque).
    pub(super) fn prepare_create(
        &self,
        parent: &Arc<Node>,
        name: &CStr,
    ) -> R<(Arc<OwnedFd>, bool)> {
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
    pub(super) fn new_owner(&self, req: &Request, dir: &Arc<OwnedFd>) -> R<(u32, u32, bool)> {
        let st = sys::stat_at(bfd(dir), c"")?;
        if st.st_mode & libc::S_ISGID != 0 {
            Ok((req.uid(), st.st_gid, true))
        } else {
            Ok((req.uid(), req.gid(), false))
        }
    }

    /// After creating `name` in the upper `dir`: set its owner, look it up.
    pub(super) fn finish_create(
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

    /// Empty `dir`'s upper instance of its whiteouts so it can be removed or
    /// replaced; ENOTEMPTY when its merged view has entries.
    pub(super) fn clear_for_removal(&self, node: &Node) -> R<()> {
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

    pub(super) fn whiteout(&self, dir: &Arc<OwnedFd>, name: &CStr) -> R<()> {
        sys::mknod_at(bfd(dir), name, libc::S_IFCHR, 0)
    }
}

/// How the names of copies being built in the work dir begin.
const SCRATCH: &str = "#copyup-";

/// Remove from the work dir `work` the copies a server killed while
/// building them left there: they were never shown, and would only pile
/// up. A directory copy goes with whatever is in it, symlinks not followed.
/// Best effort: what cannot be removed stays, and never stops a start
/// ([`OverlayFs::in_work`] skips a name that is taken).
pub(super) fn clear_scratch(work: BorrowedFd<'_>) {
    let Ok(entries) = sys::read_dir(work) else {
        return;
    };
    for e in entries {
        if !e.name.to_bytes().starts_with(SCRATCH.as_bytes()) {
            continue;
        }
        let _ = remove_all(work, &e.name);
    }
}

/// Remove `name` from `dir`, a directory with everything in it, never
/// following a symlink (open_at refuses one).
fn remove_all(dir: BorrowedFd<'_>, name: &CStr) -> R<()> {
    match sys::unlink_at(dir, name, false) {
        Err(NixErrno::EISDIR) => {}
        r => return r,
    }
    let sub = sys::open_at(dir, name, libc::O_PATH | libc::O_DIRECTORY, 0)?;
    for e in sys::read_dir(sub.as_fd())? {
        remove_all(sub.as_fd(), &e.name)?;
    }
    sys::unlink_at(dir, name, true)
}

/// A new regular file `name` in `dir`, open for writing; EEXIST if the
/// name is taken.
fn create_file(dir: BorrowedFd<'_>, name: &CStr) -> R<OwnedFd> {
    sys::open_at(
        dir,
        name,
        libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
        0o600,
    )
}

/// Build a directory copy at its name `to` in `dir` (where the upper file
/// system cannot move one there whole), removing it again when finishing
/// it fails so it never hides the lower directory half-made.
fn in_place<T>(
    dir: BorrowedFd<'_>,
    to: &CStr,
    create: impl Fn(BorrowedFd<'_>, &CStr) -> R<T>,
    finish: impl Fn(BorrowedFd<'_>, &CStr, T) -> R<OwnedFd>,
) -> R<OwnedFd> {
    let made = create(dir, to)?;
    finish(dir, to, made).inspect_err(|_| {
        let _ = sys::unlink_at(dir, to, true);
    })
}

/// Whether an O_TMPFILE open failed because the file system (or kernel)
/// has none, rather than for a reason a named file would share.
pub(super) fn tmpfile_refused(e: NixErrno) -> bool {
    matches!(
        e,
        NixErrno::EOPNOTSUPP | NixErrno::EISDIR | NixErrno::EINVAL
    )
}

/// Give the new regular file `made` the data, xattrs, owner `uid`:`gid`,
/// mode and times of `from` (attributes `st`).
fn fill_file(
    from: BorrowedFd<'_>,
    made: BorrowedFd<'_>,
    st: &sys::Stat,
    uid: u32,
    gid: u32,
) -> R<()> {
    sys::copy_all(from, made, st.st_size as u64)?;
    crate::rootfs::copy::copy_xattrs(from, made)?;
    sys::chown_at(made, c"", uid, gid)?;
    sys::fchmod(made, st.st_mode & 0o7777)?;
    times(made, st)
}

fn times(fd: BorrowedFd<'_>, st: &sys::Stat) -> R<()> {
    sys::futimens(
        fd,
        sys::Time::At(st.st_atime, st.st_atime_nsec),
        sys::Time::At(st.st_mtime, st.st_mtime_nsec),
    )
}
