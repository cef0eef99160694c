//! The files a COPY, ADD or WORKDIR step adds, collected in memory and
//! written out as one layer tar.
//!
//! Entries are written sorted by path (parents before children) with GNU
//! headers, empty user/group names and whole-second mtimes, so the same
//! files give the same bytes and the same diff id. Regular file contents
//! stay where they are (a context file) until the tar is written. It does
//! not decide where files go (see `copy`) nor store the layer.

use crate::build::Result;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

/// Where a regular file's bytes come from.
#[derive(Debug, Clone)]
pub enum Data {
    Bytes(Vec<u8>),
    /// A file on the host, read when the tar is written.
    Path(PathBuf),
}

/// What an entry is.
#[derive(Debug, Clone)]
pub enum Node {
    Dir,
    File(Data),
    Symlink(String),
    /// A hard link to another path of this layer.
    Hardlink(String),
}

/// One entry with its metadata.
#[derive(Debug, Clone)]
pub struct Item {
    pub node: Node,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    /// Regular files with the same key are one file with several names (hard
    /// links in the source): the first written is the file, the others hard
    /// links to it, as Docker keeps them.
    pub inode: Option<String>,
}

/// A layer being assembled; keys are paths without a leading `/`.
#[derive(Debug, Default)]
pub struct Tree {
    pub items: BTreeMap<String, Item>,
}

impl Tree {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Add or replace an entry. A later source wins over an earlier one, as
    /// when Docker copies several sources in order.
    pub fn put(&mut self, path: &str, item: Item) {
        let path = path.trim_matches('/').to_string();
        if path.is_empty() {
            return;
        }
        if !matches!(item.node, Node::Dir) {
            let prefix = format!("{path}/");
            self.items.retain(|k, _| !k.starts_with(&prefix));
        }
        self.items.insert(path, item);
    }

    /// Write the tar to `out`.
    pub fn write(&self, out: impl Write) -> Result<()> {
        let mut b = tar::Builder::new(out);
        let mut written: BTreeMap<&str, &str> = BTreeMap::new();
        for (path, item) in &self.items {
            let mut h = tar::Header::new_gnu();
            h.set_mode(item.mode);
            h.set_uid(item.uid.into());
            h.set_gid(item.gid.into());
            h.set_mtime(item.mtime.max(0) as u64);
            if let (Node::File(_), Some(key)) = (&item.node, item.inode.as_deref()) {
                if let Some(first) = written.get(key) {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, path, first)?;
                    continue;
                }
                written.insert(key, path);
            }
            match &item.node {
                Node::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{path}/"), std::io::empty())?;
                }
                Node::File(Data::Bytes(bytes)) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(bytes.len() as u64);
                    b.append_data(&mut h, path, &bytes[..])?;
                }
                Node::File(Data::Path(p)) => {
                    let f = fs_err::File::open(p)?;
                    let len = f.metadata()?.len();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(len);
                    // The size is fixed in the header: a file that grows while
                    // it is copied must not make the tar inconsistent.
                    b.append_data(&mut h, path, f.take(len))?;
                }
                Node::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, path, target)?;
                }
                Node::Hardlink(target) => {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, path, target)?;
                }
            }
        }
        b.finish()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_files_same_bytes_and_replacement() {
        let item = |node| Item {
            node,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 5,
            inode: None,
        };
        let mut a = Tree::default();
        a.put("/b/x", item(Node::File(Data::Bytes(b"x".to_vec()))));
        a.put("a", item(Node::Dir));
        a.put("b", item(Node::Dir));
        let mut b = Tree::default();
        b.put("b", item(Node::Dir));
        b.put("a", item(Node::Dir));
        b.put("b/x", item(Node::File(Data::Bytes(b"x".to_vec()))));
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        a.write(&mut ta).unwrap();
        b.write(&mut tb).unwrap();
        assert_eq!(ta, tb);
        let names: Vec<String> = tar::Archive::new(&ta[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a/", "b/", "b/x"]);
        // A file replacing a directory drops what was under it.
        a.put("b", item(Node::Symlink("a".into())));
        assert_eq!(a.items.len(), 2);
    }

    #[test]
    fn files_sharing_an_inode_key_become_hard_links() {
        let file = |key: Option<&str>| Item {
            node: Node::File(Data::Bytes(b"same".to_vec())),
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 5,
            inode: key.map(String::from),
        };
        let mut t = Tree::default();
        t.put("b", file(Some("1")));
        t.put("a", file(Some("1")));
        t.put("c", file(None));
        // Replaced after the fact: no longer part of the group.
        t.put("d", file(Some("1")));
        t.put("d", file(Some("2")));
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        let entries: Vec<(String, Option<String>)> = tar::Archive::new(&out[..])
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e.link_name().unwrap().map(|l| l.display().to_string());
                (e.path().unwrap().display().to_string(), link)
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("a".to_string(), None),
                ("b".to_string(), Some("a".to_string())),
                ("c".to_string(), None),
                ("d".to_string(), None),
            ]
        );
    }
}
