//! Finding names: lookup down the layers (whiteouts and opaque
//! directories stop it), the node and inode number each entry gets, and the
//! merged listing of a directory. Nothing here writes to a layer.

use super::*;

impl OverlayFs {
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
    pub(super) fn in_lower(&self, dir: &Inner, name: &CStr) -> bool {
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
    pub(super) fn register(
        &self,
        parent: &Arc<Node>,
        name: &CStr,
        f: Found,
    ) -> R<(Arc<Node>, FileAttr)> {
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
                    links: Vec::new(),
                    removed: false,
                },
            )
        });
        if !is_dir && f.layer == 0 && f.st.st_nlink > 1 {
            node.write().add_name(parent, name, f.dir_fd.clone());
        }
        let attr = {
            let inner = node.read();
            self.attr(ino, &f.st, inner.layer, inner.merged())
        };
        Ok((node, attr))
    }

    /// A directory's merged listing, whiteouts applied.
    pub(super) fn list(&self, dir: &Inner) -> R<Vec<Entry>> {
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

    /// The child `name` of `parent` as a node (looked up without telling the
    /// kernel: the caller drops the extra reference with `release`).
    pub(super) fn child(&self, parent: &Arc<Node>, name: &CStr) -> R<Arc<Node>> {
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
    pub(super) fn drop_if_last(&self, st: &sys::Stat) {
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR || st.st_nlink <= 1 {
            self.table.unalias(st.st_dev, st.st_ino);
        }
    }

    pub(super) fn release(&self, node: &Node) {
        self.table.forget(node.ino, 1);
    }

    pub(super) fn do_lookup(
        &self,
        parent: INodeNo,
        name: &OsStr,
    ) -> R<Option<(Arc<Node>, FileAttr)>> {
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
}

/// A node's own attributes: by name in the directory it is in, or, for a
/// directory or a file with no name left (empty `name`), by its own
/// descriptor.
pub(super) fn stat_node(inner: &Inner) -> R<sys::Stat> {
    if inner.is_dir() {
        sys::stat_at(bfd(&inner.fd), c"")
    } else {
        sys::stat_at(bfd(&inner.fd), &inner.name)
    }
}

pub(super) fn opaque_key() -> CString {
    CString::new(OPAQUE_XATTR).unwrap_or_default()
}

/// Whether a directory (O_PATH descriptor) is marked opaque.
pub(super) fn is_opaque(proc: &OwnedFd, dir: &Arc<OwnedFd>) -> bool {
    match sys::reopen(proc.as_fd(), bfd(dir), libc::O_RDONLY | libc::O_DIRECTORY) {
        Ok(d) => sys::fgetxattr(d.as_fd(), &opaque_key()).is_ok_and(|v| v == b"y"),
        Err(_) => false,
    }
}
