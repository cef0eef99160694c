//! The server's inode table: one [`Node`] per inode the kernel knows, found
//! by its FUSE inode number, and stable inode numbers per underlying
//! `(st_dev, st_ino)` so that `stat` and `readdir` agree.
//!
//! Both maps are sharded so that requests on different inodes never wait on
//! one lock (fuse-overlayfs 2.x takes one global lock on every slow lookup).
//!
//! The lock order, which keeps concurrent requests from waiting on each
//! other in a circle:
//! 1. A request holds at most one node's `inner` lock at a time, except
//!    through [`write_pair`], the only way to hold two: both write locks,
//!    taken in ascending inode number (a rename, which may also replace a
//!    file that has names in other directories).
//! 2. A directory's listing mutex comes before its own `inner` lock.
//! 3. A table shard may be locked under node locks, never the reverse (the
//!    table builds and counts nodes under a shard lock without locking them).

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::hash::Hash;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

const SHARDS: usize = 64;

/// A map split into independently locked shards.
pub struct Sharded<K, V> {
    shards: Vec<Mutex<HashMap<K, V>>>,
}

impl<K: Hash + Eq, V: Clone> Sharded<K, V> {
    pub fn new() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, k: &K) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one(k) as usize;
        // A poisoned shard only means a panicking thread held it; the map
        // itself is still consistent (every update is one insert or remove).
        self.shards[h % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, k: &K) -> Option<V> {
        self.shard(k).get(k).cloned()
    }

    pub fn insert(&self, k: K, v: V) {
        self.shard(&k).insert(k, v);
    }

    pub fn remove(&self, k: &K) -> Option<V> {
        self.shard(k).remove(k)
    }

    /// The value for `k`, inserting `make()` when there is none.
    pub fn get_or_insert(&self, k: K, make: impl FnOnce() -> V) -> V {
        self.shard(&k).entry(k).or_insert_with(make).clone()
    }
}

/// Where one inode lives in the layer stack.
pub struct Inner {
    /// The directory it was found in, None for the root.
    pub parent: Option<Arc<Node>>,
    /// Its name there (one of its names, for hard links); empty once a
    /// file has no name left ([`Inner::orphan`]).
    pub name: CString,
    /// The topmost layer holding it: 0 is the upper dir, 1.. the lowers.
    pub layer: usize,
    /// Directories: O_PATH descriptor of the topmost instance. Other files:
    /// the directory holding `name` in `layer` (shared with the parent
    /// node, so a file costs no descriptor: the open-file limit may be as
    /// low as the number of files in an image), or, once the file has no
    /// name left, the file itself with an empty `name` ([`Inner::orphan`]).
    pub fd: Arc<OwnedFd>,
    /// `st_mode & S_IFMT`.
    pub kind: u32,
    /// Directories only: the same directory in lower layers below `layer`,
    /// top first, down to the first opaque one.
    pub lower_dirs: Vec<(usize, Arc<OwnedFd>)>,
    /// Upper files with several links: the other names the kernel knows
    /// (parent, name, the directory's descriptor), one of which takes over
    /// when `name` is removed or renamed away.
    pub links: Vec<(Arc<Node>, CString, Arc<OwnedFd>)>,
    /// Directories: removed (rmdir, or renamed over) while the kernel may
    /// still hold it (a working directory). A lower one is never copied up
    /// then: its name stands for a whiteout or another directory.
    pub removed: bool,
}

impl Inner {
    /// Every layer instance of a directory, top first.
    pub fn dirs(&self) -> Vec<(usize, Arc<OwnedFd>)> {
        let mut v = Vec::with_capacity(1 + self.lower_dirs.len());
        v.push((self.layer, self.fd.clone()));
        v.extend(self.lower_dirs.iter().cloned());
        v
    }

    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }

    fn is_name(&self, parent: &Node, name: &CStr) -> bool {
        self.parent.as_ref().is_some_and(|p| p.ino == parent.ino) && self.name.as_c_str() == name
    }

    /// Remember another name of this (upper, multiply linked) file.
    pub fn add_name(&mut self, parent: &Arc<Node>, name: &CStr, dir: Arc<OwnedFd>) {
        let known = self.is_name(parent, name)
            || self
                .links
                .iter()
                .any(|(p, n, _)| p.ino == parent.ino && n.as_c_str() == name);
        if !known {
            self.links.push((parent.clone(), name.to_owned(), dir));
        }
    }

    /// `name` in `parent` no longer names this file. When it was the name
    /// kept, another known one takes over; false when none is known.
    pub fn forget_name(&mut self, parent: &Node, name: &CStr) -> bool {
        self.links
            .retain(|(p, n, _)| !(p.ino == parent.ino && n.as_c_str() == name));
        if !self.is_name(parent, name) {
            return true;
        }
        match self.links.pop() {
            Some((p, n, dir)) => {
                self.parent = Some(p);
                self.name = n;
                self.fd = dir;
                true
            }
            None => false,
        }
    }

    /// The file lost its last name while the kernel may still hold it open
    /// (an unlinked temporary file, a library dpkg replaced under a running
    /// program): from now on it is reached through `file`, an O_PATH
    /// descriptor taken before the name went (a lower file's, until a
    /// copy-up puts it in an upper file that never gets a name). With no OPEN handles
    /// there is nothing else to read, write or stat it by, and its old name
    /// may already stand for another file.
    pub fn orphan(&mut self, file: OwnedFd) {
        self.fd = Arc::new(file);
        self.name = CString::default();
        self.links.clear();
    }

    /// A directory that shows entries of more than one layer.
    pub fn merged(&self) -> bool {
        !self.lower_dirs.is_empty()
    }
}

/// One merged directory entry.
pub struct Entry {
    pub name: CString,
    pub ino: u64,
    pub kind: fuser::FileType,
}

pub struct Node {
    pub ino: u64,
    /// How many times the kernel was handed this inode (FUSE `nlookup`).
    pub lookups: AtomicU64,
    pub inner: RwLock<Inner>,
    /// Directories: the listing a reading in progress walks (the kernel
    /// sends no OPENDIR to keep one per handle).
    listing: Mutex<Option<Arc<Vec<Entry>>>>,
}

impl Node {
    pub fn new(ino: u64, inner: Inner) -> Node {
        Node {
            ino,
            lookups: AtomicU64::new(0),
            inner: RwLock::new(inner),
            listing: Mutex::new(None),
        }
    }

    pub fn listing(&self) -> std::sync::MutexGuard<'_, Option<Arc<Vec<Entry>>>> {
        self.listing.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The topmost instance's descriptor, held beyond the lock.
    pub fn fd(&self) -> Arc<OwnedFd> {
        self.read().fd.clone()
    }
}

/// Write-lock `a` and `b` (when given and not `a` itself) in ascending
/// inode order: two requests each locking the same two nodes, in either
/// role, never hold one each and wait for the other.
pub fn write_pair<'a>(
    a: &'a Node,
    b: Option<&'a Node>,
) -> (
    std::sync::RwLockWriteGuard<'a, Inner>,
    Option<std::sync::RwLockWriteGuard<'a, Inner>>,
) {
    match b.filter(|b| b.ino != a.ino) {
        Some(b) if b.ino < a.ino => {
            let bg = b.write();
            (a.write(), Some(bg))
        }
        Some(b) => {
            let ag = a.write();
            (ag, Some(b.write()))
        }
        None => (a.write(), None),
    }
}

/// What an inode number stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// An underlying inode, `(st_dev, st_ino)`.
    Inode(u64, u64),
    /// A lower file with several hard links, by directory and name: each
    /// name is its own file (copying one up must not change the others), as
    /// in overlayfs without an index.
    Name(u64, CString),
}

/// All nodes, and the inode number of every underlying inode seen.
pub struct Table {
    nodes: Sharded<u64, Arc<Node>>,
    inos: Sharded<Key, u64>,
    next: AtomicU64,
}

impl Table {
    pub fn new(root: Node) -> Table {
        let t = Table {
            nodes: Sharded::new(),
            inos: Sharded::new(),
            next: AtomicU64::new(2),
        };
        root.lookups.store(1, Ordering::Relaxed);
        t.nodes.insert(root.ino, Arc::new(root));
        t
    }

    pub fn get(&self, ino: u64) -> Option<Arc<Node>> {
        self.nodes.get(&ino)
    }

    /// The inode number shown for `key`.
    pub fn ino_for(&self, key: Key) -> u64 {
        self.inos
            .get_or_insert(key, || self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Tie underlying inode `(dev, ino)` to the existing inode number `to`
    /// (after a copy-up moved a node to a new underlying inode).
    pub fn alias(&self, dev: u64, ino: u64, to: u64) {
        self.inos.insert(Key::Inode(dev, ino), to);
    }

    /// Forget underlying inode `(dev, ino)`: the filesystem may reuse its
    /// number for a new file, which must get a fresh inode number.
    pub fn unalias(&self, dev: u64, ino: u64) {
        self.inos.remove(&Key::Inode(dev, ino));
    }

    /// The node with number `ino`, or `make()` registered under it. Either
    /// way the kernel now holds one more reference.
    pub fn lookup_or_insert(&self, ino: u64, make: impl FnOnce() -> Node) -> Arc<Node> {
        // Counted under the shard lock, so a concurrent forget cannot drop
        // the node between finding it and counting the new reference.
        let mut shard = self.nodes.shard(&ino);
        let n = shard.entry(ino).or_insert_with(|| Arc::new(make())).clone();
        n.lookups.fetch_add(1, Ordering::Relaxed);
        n
    }

    /// The kernel dropped `n` references.
    pub fn forget(&self, ino: u64, n: u64) {
        if ino == fuser::INodeNo::ROOT.0 {
            return;
        }
        let mut shard = self.nodes.shard(&ino);
        let gone = shard
            .get(&ino)
            .is_some_and(|node| node.lookups.fetch_sub(n, Ordering::Relaxed) <= n);
        if gone {
            shard.remove(&ino);
        }
    }
}

/// Borrow an `Arc<OwnedFd>` as a descriptor.
pub fn bfd(fd: &Arc<OwnedFd>) -> BorrowedFd<'_> {
    fd.as_fd()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn node(ino: u64) -> Arc<Node> {
        Arc::new(Node::new(
            ino,
            Inner {
                parent: None,
                name: CString::default(),
                layer: 0,
                fd: Arc::new(OwnedFd::from(std::fs::File::open("/").unwrap())),
                kind: libc::S_IFREG,
                lower_dirs: Vec::new(),
                links: Vec::new(),
                removed: false,
            },
        ))
    }

    /// Two threads locking the same two nodes in opposite roles, as two
    /// renames `x -> y` and `y -> x` do, both get through.
    #[test]
    fn write_pair_in_opposite_roles_never_deadlocks() {
        let (x, y) = (node(7), node(3));
        let (tx, rx) = std::sync::mpsc::channel();
        for (a, b) in [(x.clone(), y.clone()), (y.clone(), x.clone())] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for _ in 0..100_000 {
                    let (mut ag, bg) = write_pair(&a, Some(&b));
                    ag.layer += 1;
                    assert!(bg.is_some());
                }
                tx.send(()).unwrap();
            });
        }
        for _ in 0..2 {
            rx.recv_timeout(Duration::from_secs(60))
                .expect("two write_pair callers deadlocked");
        }
        assert_eq!(x.read().layer + y.read().layer, 200_000);
        // The same node twice is locked once, not waited on by itself.
        let (_first, second) = write_pair(&x, Some(&x));
        assert!(second.is_none());
    }
}
