//! The FUSE requests: each answered with the lookup and copy-up helpers,
//! plus removal, rename and attribute changes.

use super::*;

impl OverlayFs {
    pub(super) fn do_unlink(&self, parent: INodeNo, name: &OsStr, dir: bool) -> R<()> {
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
            let removed = {
                // Held from the removal until the node no longer stands
                // for the name: a read in between (a page cache fill) would
                // find nothing there, or whatever is created in its place.
                let mut c = child.write();
                if c.layer == 0 {
                    let st = sys::stat_at(bfd(&upper), &name)?;
                    // Without a descriptor to spare (EMFILE) the file can
                    // still go; only a reader that kept it open loses it.
                    let kept = if dir {
                        None
                    } else {
                        sys::path_at(bfd(&upper), &name).ok()
                    };
                    sys::unlink_at(bfd(&upper), &name, dir)?;
                    if !dir && !c.forget_name(&p, &name) {
                        if let Some(file) = kept {
                            c.orphan(file);
                        }
                    }
                    Some(st)
                } else {
                    // The lower file stays, but its name no longer leads
                    // to it once the whiteout (or a new file) is there: a
                    // copy-up through a descriptor still open needs it.
                    if !dir {
                        if let Ok(file) = sys::path_at(bfd(&c.fd), &c.name) {
                            c.orphan(file);
                        }
                    }
                    None
                }
            };
            if let Some(st) = removed {
                self.drop_if_last(&st);
            }
            if lower {
                self.whiteout(&upper, &name)?;
            }
            // Only now: the kernel keeps the directory locked through the
            // rmdir, so nothing copies it up in between.
            if dir {
                child.write().removed = true;
            }
            Ok(())
        })();
        self.release(&child);
        res
    }

    pub(super) fn do_rename(
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
        // Both nodes are held from the rename until they stand for their
        // new names (a read in between would find the wrong file or
        // none), in the one order `write_pair` keeps.
        let (mut s, mut d) = write_pair(src, dst.map(|d| &**d));
        // A replaced upper file may still be open (dpkg renames over a
        // library a running program has mapped): keep a way to it, when a
        // descriptor is to be had.
        let kept = match &d {
            Some(d) if !d.is_dir() && d.layer == 0 => sys::path_at(bfd(&to), newname).ok(),
            Some(d) if !d.is_dir() => sys::path_at(bfd(&d.fd), &d.name).ok(),
            _ => None,
        };
        match sys::stat_at(bfd(&to), newname) {
            Ok(st) if is_whiteout(&st) && src_dir => sys::unlink_at(bfd(&to), newname, false)?,
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                sys::unlink_at(bfd(&to), newname, true)?
            }
            _ => {}
        }
        sys::rename_at(bfd(&from), name, bfd(&to), newname, 0)?;
        if let Some(d) = d.as_mut().filter(|d| d.is_dir()) {
            d.removed = true;
        }
        if let Some(d) = d.as_mut().filter(|d| !d.is_dir()) {
            if !d.forget_name(np, newname) {
                if let Some(file) = kept {
                    d.orphan(file);
                }
            }
        }
        drop(d);
        if src_dir || !s.forget_name(p, name) {
            s.parent = Some(np.clone());
            s.name = newname.to_owned();
            if !src_dir {
                s.fd = to.clone();
            }
        } else {
            // Another name still stands for it; the new one is known too.
            s.add_name(np, newname, to.clone());
        }
        drop(s);
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
        Ok(())
    }

    pub(super) fn do_link(
        &self,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
    ) -> R<(Arc<Node>, FileAttr)> {
        let node = self.node(ino)?;
        {
            let i = node.read();
            if i.is_dir() {
                return Err(NixErrno::EPERM);
            }
            // A file with no name left gets no new one, as linkat(2) of any
            // file whose link count is 0 fails (the kernel checks first;
            // this holds when its count was stale).
            if i.name.is_empty() {
                return Err(NixErrno::ENOENT);
            }
        }
        self.copy_up(&node)?;
        let np = self.node(newparent)?;
        let newname = cname(newname)?;
        let (dir, _) = self.prepare_create(&np, &newname)?;
        let (from_dir, from_name) = {
            let i = node.read();
            (i.fd.clone(), i.name.clone())
        };
        // Lost its name meanwhile (an unlink in between).
        if from_name.is_empty() {
            return Err(NixErrno::ENOENT);
        }
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
    }

    pub(super) fn do_setxattr(
        &self,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
    ) -> R<()> {
        if private_xattr(name.as_bytes()) {
            return Err(NixErrno::EPERM);
        }
        let fd = self.xattr_target(ino)?;
        sys::fsetxattr(fd.as_fd(), &cname(name)?, value, flags)
    }

    /// The copied-up node `ino`, open for an xattr change (set or remove).
    fn xattr_target(&self, ino: INodeNo) -> R<OwnedFd> {
        let node = self.node(ino)?;
        // The kernel refuses user xattrs on other file types before any
        // request; other names for them are refused here, before a copy-up
        // that would be for nothing.
        if !xattr_kind(&node) {
            return Err(NixErrno::EPERM);
        }
        self.copy_up(&node)?;
        let inner = node.read();
        self.open_node(&inner, libc::O_RDONLY | libc::O_NONBLOCK)
    }

    pub(super) fn do_setattr(&self, ino: INodeNo, set: SetAttr) -> R<FileAttr> {
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
        // For directories, and files with no name left, `fd` is the file
        // itself (`name` is empty); for the rest its parent.
        let own = if kind == libc::S_IFDIR {
            c""
        } else {
            name.as_c_str()
        };
        let open_fd = |flags: i32| -> R<Arc<OwnedFd>> {
            if let Some(f) = fh.and_then(|fh| self.handles.get(&fh.0)) {
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
                Some(f) => f,
                None => Arc::new(self.open_node(&node.read(), libc::O_WRONLY)?),
            };
            sys::ftruncate(bfd(&f), size)?;
        }
        if uid.is_some() || gid.is_some() {
            let u = uid.map(|u| u as i64).unwrap_or(-1) as u32;
            let g = gid.map(|g| g as i64).unwrap_or(-1) as u32;
            sys::chown_at(bfd(&fd), own, u, g)?;
        }
        // Symlinks, fifos, sockets and devices are never opened here (a
        // symlink or socket cannot be, a fifo or device should not be):
        // changed by name, or through the O_PATH descriptor that holds one
        // with no name left.
        let special = !matches!(kind, libc::S_IFDIR | libc::S_IFREG);
        if let Some(mode) = mode {
            if kind == libc::S_IFLNK {
                return Err(NixErrno::EOPNOTSUPP);
            }
            if special {
                let held = if own.is_empty() {
                    fd.clone()
                } else {
                    Arc::new(sys::path_at(bfd(&fd), own)?)
                };
                sys::chmod_fd(self.proc.as_fd(), bfd(&held), mode & 0o7777)?;
            } else {
                sys::fchmod(bfd(&open_fd(libc::O_RDONLY)?), mode & 0o7777)?;
            }
        }
        if atime.is_some() || mtime.is_some() {
            let (a, m) = (sys_time(atime), sys_time(mtime));
            if special {
                sys::utimens_at(bfd(&fd), own, a, m)?;
            } else {
                sys::futimens(bfd(&open_fd(libc::O_RDONLY)?), a, m)?;
            }
        }
        self.node_attr(&node)
    }
}

/// Whether the node's file type carries user xattrs.
fn xattr_kind(node: &Node) -> bool {
    matches!(node.read().kind, libc::S_IFDIR | libc::S_IFREG)
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
        let offered = config.capabilities();
        // No OPEN, RELEASE, OPENDIR or RELEASEDIR round trips: two of the
        // three requests per file of a `cat`, and the kernel then keeps
        // pages and listings cached as FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR.
        self.no_open = offered.contains(InitFlags::FUSE_NO_OPEN_SUPPORT);
        self.no_opendir = offered.contains(InitFlags::FUSE_NO_OPENDIR_SUPPORT);
        // With OPEN skipped an O_TRUNC must come as a SETATTR, which the
        // kernel leaves out when it believes OPEN truncated.
        if !self.no_open {
            let _ = config.add_capabilities(InitFlags::FUSE_ATOMIC_O_TRUNC);
        }
        // Not FUSE_WRITEBACK_CACHE: with it the kernel marks a file's block
        // count stale at every close, even of a file only read, so the next
        // stat of each file read costs a GETATTR (a warm `du -s` or `cat` pass
        // after a `cat` of 20,000 files went from 0 to 20,000 requests), and
        // a 256 MiB `dd ... conv=fsync` gained nothing measurable: it still
        // sends the same 1 MiB WRITEs (FUSE_MAX_PAGES) before the fsync.
        // Each one only if the kernel offers it; none is required.
        for cap in [
            InitFlags::FUSE_NO_OPEN_SUPPORT,
            InitFlags::FUSE_NO_OPENDIR_SUPPORT,
            InitFlags::FUSE_PARALLEL_DIROPS,
            InitFlags::FUSE_CACHE_SYMLINKS,
            InitFlags::FUSE_EXPORT_SUPPORT,
            InitFlags::FUSE_SPLICE_READ,
            InitFlags::FUSE_SPLICE_WRITE,
            InitFlags::FUSE_SPLICE_MOVE,
            // Entries with their attributes when the kernel expects stats
            // to follow (`ls -l`, `du`): no LOOKUP per entry.
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_READDIRPLUS_AUTO,
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
        entry(reply, self.do_link(ino, newparent, newname))
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if self.no_open {
            // Once: the kernel then opens without asking, and a write
            // copies the file up when it comes (`file`).
            return reply.error(Errno::ENOSYS);
        }
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
            Ok(self.new_fh(fd))
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
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let r = self.file(ino, fh, false).and_then(|f| {
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
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self
            .file(ino, fh, true)
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
        ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self
            .file(ino, fh, false)
            .and_then(|f| sys::fsync(bfd(&f), datasync))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if self.no_opendir {
            return reply.error(Errno::ENOSYS);
        }
        match self.node(ino) {
            Ok(n) if !n.read().is_dir() => reply.error(Errno::ENOTDIR),
            // READDIR works by node (`listing`), never by handle. The
            // kernel may cache the listing: it drops it itself when an
            // entry is added or removed through this mount.
            Ok(_) => reply.opened(
                FileHandle(0),
                FopenFlags::FOPEN_CACHE_DIR | FopenFlags::FOPEN_KEEP_CACHE,
            ),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match self.read_listing(ino, offset) {
            Ok(e) => e,
            Err(e) => return reply.error(errno(e)),
        };
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            let name = OsStr::from_bytes(e.name.as_bytes());
            if reply.add(INodeNo(e.ino), (i + 1) as u64, e.kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let entries = match self.read_listing(ino, offset) {
            Ok(e) => e,
            Err(e) => return reply.error(errno(e)),
        };
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            let name = OsStr::from_bytes(e.name.as_bytes());
            // The kernel takes no reference for "." and "..": no lookup.
            let dots = i < 2;
            let found = if dots {
                self.node(INodeNo(e.ino))
                    .and_then(|n| self.node_attr(&n).map(|a| (n, a)))
            } else {
                match self.do_lookup(ino, name) {
                    Ok(Some(found)) => Ok(found),
                    Ok(None) => Err(NixErrno::ENOENT),
                    Err(err) => Err(err),
                }
            };
            // Gone since the listing was made: left out.
            let Ok((node, attr)) = found else { continue };
            if reply.add(
                attr.ino,
                (i + 1) as u64,
                name,
                &TTL_LONG,
                &attr,
                Generation(0),
            ) {
                if !dots {
                    // Not sent: the kernel never saw this lookup.
                    self.release(&node);
                }
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
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
        match self.do_setxattr(ino, name, value, flags) {
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
            let fd = self.xattr_target(ino)?;
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
            // Without OPEN the kernel sends no RELEASE for it either: no
            // handle to keep, writes come by node like any other.
            let fh = if self.no_open { 0 } else { self.new_fh(fd) };
            Ok((node, attr, fh))
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
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let r = self
            .file(ino, fh, true)
            .and_then(|f| sys::fallocate(bfd(&f), mode, offset, length));
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }
}
