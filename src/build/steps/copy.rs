//! Where COPY and ADD put things, by Docker's rules: a directory source
//! copies its contents (not itself), a destination ending in `/` (or one
//! that is a directory in the image, or any copy of several sources) is a
//! directory the sources go into under their own names, missing parent
//! directories are created (existing ones keep their metadata), files keep
//! their permission bits and mtime and belong to root unless `--chown` says
//! otherwise, `--chmod` replaces the permission bits, symlinks inside a
//! source are copied as symlinks (one named as the source was followed when
//! the context resolved it), hard links stay hard links. ADD unpacks local
//! tar archives (plain, gzip or zstd) into the destination directory.
//!
//! It fills a [`Tree`]; it does not read the context (see `context`) nor
//! write the layer.

use super::tree::{Data, Item, Node, Tree};
use crate::build::error::FileError;
use crate::build::imagefs::{resolve_in_root, FsKind, ImageFs};
use std::io::Read;

/// What one source entry is.
#[derive(Debug, Clone)]
pub enum SrcKind {
    Dir,
    File(Data),
    Symlink(String),
}

/// One entry of a source, relative to it (`""` is the source itself).
#[derive(Debug, Clone)]
pub struct SrcEntry {
    pub rel: String,
    pub kind: SrcKind,
    pub mode: u32,
    pub mtime: i64,
    /// Files with the same key are hard links of one another.
    pub inode: Option<String>,
}

/// One matched source: its base name and its entries (itself first).
#[derive(Debug, Clone)]
pub struct Src {
    pub name: String,
    pub entries: Vec<SrcEntry>,
}

impl Src {
    fn is_dir(&self) -> bool {
        matches!(self.entries.first().map(|e| &e.kind), Some(SrcKind::Dir))
    }
}

/// How the sources of one step are placed.
pub struct Placement<'a> {
    /// Absolute destination (WORKDIR already applied).
    pub dest: String,
    /// The destination must be a directory (trailing `/`, several sources).
    pub dest_is_dir: bool,
    pub owner: Option<(u32, u32)>,
    pub chmod: Option<u32>,
    /// The image the layer goes on.
    pub lower: &'a ImageFs,
}

fn join(base: &str, name: &str) -> String {
    let base = base.trim_matches('/');
    if base.is_empty() {
        name.to_string()
    } else if name.is_empty() {
        base.to_string()
    } else {
        format!("{base}/{name}")
    }
}

impl Placement<'_> {
    fn item(&self, node: Node, mode: u32, mtime: i64) -> Item {
        let (uid, gid) = self.owner.unwrap_or((0, 0));
        Item {
            node,
            mode: self.chmod.unwrap_or(mode),
            uid,
            gid,
            mtime,
            inode: None,
        }
    }

    /// Create the directories leading to `path` that neither the image nor
    /// the tree has. They get mode 0755, the `--chown` owner and mtime 0
    /// (a fixed time keeps the layer reproducible).
    fn parents(&self, tree: &mut Tree, path: &str) {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut cur = String::new();
        for p in &parts[..parts.len().saturating_sub(1)] {
            cur = join(&cur, p);
            if !tree.items.contains_key(&cur) && !self.lower.is_dir(&cur) {
                let (uid, gid) = self.owner.unwrap_or((0, 0));
                tree.put(
                    &cur,
                    Item {
                        node: Node::Dir,
                        mode: 0o755,
                        uid,
                        gid,
                        mtime: 0,
                        inode: None,
                    },
                );
            }
        }
    }

    /// The destination with the image's symlinks in its parents resolved,
    /// so that `/bin/x` on an image whose /bin links to usr/bin lands in
    /// usr/bin rather than replacing the link with a directory.
    fn resolved(&self, path: &str, follow_last: bool) -> String {
        self.lower
            .resolve(path, follow_last)
            .unwrap_or_else(|| path.trim_start_matches('/').to_string())
    }

    /// `path` with the symlinks in its parent directories resolved inside
    /// the image root, the step's own entries before the image's: an entry
    /// written through a link lands where the link points inside the image
    /// (as Docker's unpacking in a chroot does), never under the link in
    /// the layer and never outside the root. None after 40 links (a loop).
    fn through_links(&self, tree: &Tree, path: &str) -> Option<String> {
        resolve_in_root(path, false, |p| match tree.items.get(p) {
            Some(Item {
                node: Node::Symlink(t),
                ..
            }) => Some(t.clone()),
            Some(_) => None,
            None => match self.lower.nodes.get(p).map(|n| &n.kind) {
                Some(FsKind::Symlink(t)) => Some(t.clone()),
                _ => None,
            },
        })
    }

    /// Place every source.
    pub fn place(&self, tree: &mut Tree, sources: &[Src]) {
        let dest_dir = self.dest_is_dir || self.lower.is_dir(&self.dest);
        for src in sources {
            if src.is_dir() {
                let root = self.resolved(&self.dest, true);
                self.put_all(tree, &root, &src.entries);
            } else {
                let target = if dest_dir {
                    join(&self.resolved(&self.dest, true), &src.name)
                } else {
                    self.resolved(&self.dest, false)
                };
                self.put_all(tree, &target, &src.entries[..1.min(src.entries.len())]);
            }
        }
    }

    fn put_all(&self, tree: &mut Tree, root: &str, entries: &[SrcEntry]) {
        if root.is_empty() && entries.len() == 1 {
            return;
        }
        self.parents(tree, &join(root, "x"));
        for e in entries {
            let path = join(root, &e.rel);
            let Some(path) = self.through_links(tree, &path).filter(|p| !p.is_empty()) else {
                continue;
            };
            let node = match &e.kind {
                SrcKind::Dir => {
                    // An existing directory keeps its own mode and owner.
                    if e.rel.is_empty() && self.lower.is_dir(&path) {
                        continue;
                    }
                    Node::Dir
                }
                SrcKind::File(d) => Node::File(d.clone()),
                SrcKind::Symlink(t) => Node::Symlink(t.clone()),
            };
            self.parents(tree, &path);
            let item = Item {
                inode: e.inode.clone(),
                ..self.item(node, e.mode, e.mtime)
            };
            tree.put(&path, item);
        }
    }

    /// Unpack a tar archive into the destination directory, keeping the
    /// archive's owners, modes and mtimes (ADD's auto-extraction).
    pub fn extract(
        &self,
        tree: &mut Tree,
        archive: impl Read,
        what: &str,
    ) -> Result<(), FileError> {
        let root = self.resolved(&self.dest, true);
        self.parents(tree, &join(&root, "x"));
        if !root.is_empty() && !self.lower.is_dir(&root) && !tree.items.contains_key(&root) {
            tree.put(&root, self.item(Node::Dir, 0o755, 0));
        }
        let bad = |error| FileError::Extract {
            archive: what.to_string(),
            error,
        };
        let mut ar = tar::Archive::new(archive);
        for e in ar.entries().map_err(bad)? {
            let mut e = e.map_err(bad)?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let rel = crate::build::ignore::clean(&format!("/{raw}"));
            let rel = rel.trim_start_matches('/');
            if rel.is_empty() {
                continue;
            }
            let loops = || FileError::Loops(format!("{what}: {raw}"));
            let path = self
                .through_links(tree, &join(&root, rel))
                .ok_or_else(loops)?;
            if path.is_empty() {
                continue;
            }
            let h = e.header();
            let mode = h.mode().unwrap_or(0o644) & 0o7777;
            let (uid, gid) = (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32);
            let mtime = h.mtime().unwrap_or(0) as i64;
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            let node = match h.entry_type() {
                tar::EntryType::Directory => Node::Dir,
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut buf = Vec::new();
                    e.read_to_end(&mut buf).map_err(bad)?;
                    Node::File(Data::Bytes(buf))
                }
                tar::EntryType::Symlink => Node::Symlink(link),
                tar::EntryType::Link => {
                    let target = crate::build::ignore::clean(&format!("/{link}"));
                    let target = join(&root, target.trim_start_matches('/'));
                    let target = self.through_links(tree, &target).ok_or_else(loops)?;
                    // Only to a file the archive made before: a name outside
                    // it would link the layer to whatever has that name.
                    let node = tree.items.get(&target).map(|i| &i.node);
                    if !matches!(node, Some(Node::File(_) | Node::Hardlink(_))) {
                        return Err(FileError::HardLink {
                            archive: what.to_string(),
                            entry: raw,
                            link,
                        });
                    }
                    Node::Hardlink(target)
                }
                // Devices, fifos and pax/GNU bookkeeping: a root filesystem
                // tarball made by an unprivileged user has none, and hutch
                // could not create devices when running the image anyway.
                _ => continue,
            };
            self.parents(tree, &path);
            tree.put(
                &path,
                Item {
                    node,
                    mode,
                    uid,
                    gid,
                    mtime,
                    inode: None,
                },
            );
        }
        Ok(())
    }
}

/// Give the layer every directory above its entries that the image already
/// has, with the image's mode, owner and mtime. An unpacked layer creates
/// the parents it lacks as 0755 root directories, and the upper layer's
/// directory is what a container sees: without this, `COPY f /tmp/` would
/// turn the image's 1777 /tmp into 0755. BuildKit's layer carries these
/// parents too, with the image's mode and owner; its mtime is the time of
/// the copy (the kernel's doing), where hutch keeps the image's, so the same
/// sources give the same layer.
pub fn keep_parents(tree: &mut Tree, lower: &ImageFs) {
    let mut parents = std::collections::BTreeSet::new();
    for path in tree.items.keys() {
        let mut p = path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if tree.items.contains_key(parent) || !parents.insert(parent.to_string()) {
                break;
            }
            p = parent;
        }
    }
    for p in parents {
        if let Some(n) = lower.nodes.get(&p).filter(|n| n.kind == FsKind::Dir) {
            let (mode, uid, gid, mtime) = (n.mode, n.uid, n.gid, n.mtime);
            tree.put(
                &p,
                Item {
                    node: Node::Dir,
                    mode,
                    uid,
                    gid,
                    mtime,
                    inode: None,
                },
            );
        }
    }
}

/// What ADD does with a local file, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archive {
    /// A tar (plain, gzip or zstd): unpack it.
    Tar,
    /// bzip2 or xz: an archive hutch cannot unpack yet.
    Unsupported(&'static str),
    /// Anything else: copy as a file.
    NotArchive,
}

/// Sniff a local ADD source the way Docker does: by magic bytes, and for an
/// uncompressed stream by the tar header's `ustar` magic.
pub fn sniff(head: &[u8], decompressed_head: Option<&[u8]>) -> Archive {
    if head.starts_with(b"BZh") {
        return Archive::Unsupported("bzip2");
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Archive::Unsupported("xz");
    }
    let tar_head = decompressed_head.unwrap_or(head);
    if tar_head.len() >= 262 && &tar_head[257..262] == b"ustar" {
        Archive::Tar
    } else {
        Archive::NotArchive
    }
}

/// The entries of a subtree of an image (`COPY --from`), as a source.
pub fn from_image(fs: &ImageFs, path: &str) -> Option<Src> {
    let key = fs.resolve(path, true)?;
    // Files of the image that are hard links of one another stay so.
    let inode_of = |k: &str, n: &crate::build::imagefs::FsNode| match &n.kind {
        FsKind::File => Some(k.to_string()),
        FsKind::Hardlink(target) => Some(target.clone()),
        _ => None,
    };
    let kind_of = |n: &crate::build::imagefs::FsNode| match &n.kind {
        FsKind::Dir => Some(SrcKind::Dir),
        FsKind::File | FsKind::Hardlink(_) => Some(SrcKind::File(Data::Bytes(
            n.data.clone().unwrap_or_default(),
        ))),
        FsKind::Symlink(t) => Some(SrcKind::Symlink(t.clone())),
        FsKind::Other => None,
    };
    // The name the source was given, as for a link in the context: a link
    // copies its target's content under its own name.
    let name = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .unwrap_or_else(|| key.rsplit('/').next().unwrap_or(""))
        .to_string();
    let mut entries = Vec::new();
    if key.is_empty() {
        entries.push(SrcEntry {
            rel: String::new(),
            kind: SrcKind::Dir,
            mode: 0o755,
            mtime: 0,
            inode: None,
        });
    } else {
        let n = fs.nodes.get(&key)?;
        entries.push(SrcEntry {
            rel: String::new(),
            kind: kind_of(n)?,
            mode: n.mode,
            mtime: n.mtime,
            inode: inode_of(&key, n),
        });
    }
    if matches!(entries[0].kind, SrcKind::Dir) {
        let prefix = if key.is_empty() {
            String::new()
        } else {
            format!("{key}/")
        };
        for (k, n) in fs.nodes.range(prefix.clone()..) {
            if !k.starts_with(&prefix) {
                break;
            }
            if let Some(kind) = kind_of(n) {
                entries.push(SrcEntry {
                    rel: k[prefix.len()..].to_string(),
                    kind,
                    mode: n.mode,
                    mtime: n.mtime,
                    inode: inode_of(k, n),
                });
            }
        }
    }
    Some(Src { name, entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str) -> SrcEntry {
        SrcEntry {
            rel: rel.into(),
            kind: SrcKind::File(Data::Bytes(rel.as_bytes().to_vec())),
            mode: 0o640,
            mtime: 7,
            inode: None,
        }
    }

    fn dir(rel: &str) -> SrcEntry {
        SrcEntry {
            rel: rel.into(),
            kind: SrcKind::Dir,
            mode: 0o700,
            mtime: 7,
            inode: None,
        }
    }

    fn paths(t: &Tree) -> Vec<String> {
        t.items.keys().cloned().collect()
    }

    #[test]
    fn docker_destination_rules() {
        let lower = ImageFs::default();
        let p = |dest: &str, dir: bool| Placement {
            dest: dest.into(),
            dest_is_dir: dir,
            owner: None,
            chmod: None,
            lower: &lower,
        };
        let f = Src {
            name: "a.txt".into(),
            entries: vec![file("")],
        };
        let d = Src {
            name: "src".into(),
            entries: vec![dir(""), file("x"), dir("sub"), file("sub/y")],
        };
        let mut t = Tree::default();
        p("/app/b.txt", false).place(&mut t, std::slice::from_ref(&f));
        assert_eq!(paths(&t), ["app", "app/b.txt"]);
        let mut t = Tree::default();
        p("/app/", true).place(&mut t, std::slice::from_ref(&f));
        assert_eq!(paths(&t), ["app", "app/a.txt"]);
        // A directory's contents are copied, not the directory.
        let mut t = Tree::default();
        p("/app", false).place(&mut t, std::slice::from_ref(&d));
        assert_eq!(paths(&t), ["app", "app/sub", "app/sub/y", "app/x"]);
        assert_eq!(
            t.items["app"].mode, 0o700,
            "the new dir takes the source dir's mode"
        );
        let mut t = Tree::default();
        Placement {
            owner: Some((5, 6)),
            chmod: Some(0o600),
            ..p("/o/", true)
        }
        .place(&mut t, &[f]);
        let it = &t.items["o/a.txt"];
        assert_eq!((it.uid, it.gid, it.mode, it.mtime), (5, 6, 0o600, 7));
    }

    #[test]
    fn sniffing() {
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar, None), Archive::Tar);
        assert_eq!(sniff(b"hello", None), Archive::NotArchive);
        assert_eq!(sniff(b"BZh91AY", None), Archive::Unsupported("bzip2"));
        assert_eq!(sniff(&[0x1f, 0x8b], Some(&tar)), Archive::Tar);
    }
}
