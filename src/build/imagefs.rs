//! A read-only view of an image's file tree, read straight from its layer
//! tars (no unpacking, no user namespace): which paths exist with what
//! kind, mode and owner, and the contents of the few files a step asks for
//! (`/etc/passwd` for `--chown` names, the sources of `COPY --from`).
//!
//! Layers are applied in order with OCI whiteouts (`.wh.<name>` deletes,
//! `.wh..wh..opq` hides what lower layers put in a directory). It owns
//! nothing on disk and must not write anything.

use crate::build::Result;
use crate::chain::WithContext;
use crate::layer::codec;
use crate::layer::whiteout::{classify, OciName};
use crate::store::{Image, Store};
use std::collections::BTreeMap;
use std::io::Read;

/// What a path is in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsKind {
    Dir,
    File,
    Symlink(String),
    /// A hard link to another path of the image (tar link name, relative).
    Hardlink(String),
    Other,
}

/// One path of the image.
#[derive(Debug, Clone)]
pub struct FsNode {
    pub kind: FsKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    /// The contents, when the loader was asked to keep them.
    pub data: Option<Vec<u8>>,
    pub(crate) layer: usize,
}

/// An image's merged tree; keys are paths without a leading `/` (`etc/passwd`).
#[derive(Debug, Clone, Default)]
pub struct ImageFs {
    pub nodes: BTreeMap<String, FsNode>,
}

/// Clean a tar path: no leading `/` or `./`, no trailing `/`.
fn tar_path(raw: &str) -> String {
    crate::build::ignore::clean(raw.trim_start_matches('/'))
        .trim_start_matches("./")
        .to_string()
}

impl ImageFs {
    /// The tree of `image` (empty for `scratch`, i.e. `None`), keeping the
    /// contents of regular files for which `keep(path)` holds.
    pub fn load(
        store: &Store,
        image: Option<&Image>,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<ImageFs> {
        let mut fs = ImageFs::default();
        let Some(image) = image else {
            return Ok(fs);
        };
        for (n, desc) in image.manifest.layers().iter().enumerate() {
            let what = format!("layer {} of image {}", n + 1, image.short_id());
            let file = fs_err::File::open(store.blob_path(desc.digest()))
                .with_context(|| format!("cannot read {what}"))?;
            let (_, tar) = codec::decompressed(file).map_err(crate::chain::Context::msg)?;
            fs.apply_layer(tar, n, keep)
                .with_context(|| format!("cannot read {what}"))?;
        }
        Ok(fs)
    }

    fn apply_layer(
        &mut self,
        tar: impl Read,
        layer: usize,
        keep: &dyn Fn(&str) -> bool,
    ) -> std::io::Result<()> {
        let mut ar = tar::Archive::new(tar);
        for e in ar.entries()? {
            let mut e = e?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let path = tar_path(&raw);
            if path == "." || path.starts_with("..") {
                continue;
            }
            let (parent, base) = match path.rsplit_once('/') {
                Some((p, b)) => (p.to_string(), b.to_string()),
                None => (String::new(), path.clone()),
            };
            match classify(base.as_bytes()) {
                OciName::Whiteout(name) => {
                    let victim = join(&parent, &String::from_utf8_lossy(name));
                    self.remove_tree(&victim);
                    continue;
                }
                OciName::Opaque => {
                    let prefix = format!("{parent}/");
                    self.remove_children(&prefix, &parent, layer);
                    continue;
                }
                OciName::AufsMeta => continue,
                OciName::Plain => {}
            }
            let h = e.header();
            let mode = h.mode().unwrap_or(0o644) & 0o7777;
            let uid = h.uid().unwrap_or(0) as u32;
            let gid = h.gid().unwrap_or(0) as u32;
            let mtime = h.mtime().unwrap_or(0) as i64;
            let link = || {
                e.link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default()
            };
            let kind = match h.entry_type() {
                tar::EntryType::Directory => FsKind::Dir,
                tar::EntryType::Regular | tar::EntryType::Continuous => FsKind::File,
                tar::EntryType::Symlink => FsKind::Symlink(link()),
                tar::EntryType::Link => FsKind::Hardlink(tar_path(&link())),
                _ => FsKind::Other,
            };
            // A non-directory replaces whatever was there, children included.
            if kind != FsKind::Dir {
                self.remove_tree(&path);
            }
            let mut data = None;
            if kind == FsKind::File && keep(&path) {
                let mut buf = Vec::new();
                e.read_to_end(&mut buf)?;
                data = Some(buf);
            } else if let FsKind::Hardlink(target) = &kind {
                if keep(&path) {
                    data = self.nodes.get(target).and_then(|n| n.data.clone());
                }
            }
            self.nodes.insert(
                path,
                FsNode {
                    kind,
                    mode,
                    uid,
                    gid,
                    mtime,
                    data,
                    layer,
                },
            );
        }
        Ok(())
    }

    fn remove_tree(&mut self, path: &str) {
        self.nodes.remove(path);
        let prefix = format!("{path}/");
        let doomed: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    /// Opaque directory: drop what earlier layers put under it.
    fn remove_children(&mut self, prefix: &str, parent: &str, layer: usize) {
        let prefix = if parent.is_empty() { "" } else { prefix };
        let doomed: Vec<String> = self
            .nodes
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, n)| n.layer < layer && k.as_str() != parent)
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    /// The node at an absolute or relative path, following symlinks in the
    /// parent directories (not the last element) inside the image.
    pub fn get(&self, path: &str) -> Option<&FsNode> {
        self.nodes.get(&self.resolve(path, false)?)
    }

    /// Resolve symlinks in `path` within the image root; with `last`, the
    /// final element too. Returns the image-relative path.
    pub fn resolve(&self, path: &str, last: bool) -> Option<String> {
        resolve_in_root(path, last, |p| match self.nodes.get(p).map(|n| &n.kind) {
            Some(FsKind::Symlink(t)) => Some(t.clone()),
            _ => None,
        })
    }

    /// Whether `path` is a directory (following symlinks all the way).
    pub fn is_dir(&self, path: &str) -> bool {
        match self.resolve(path, true) {
            Some(p) if p.is_empty() => true,
            Some(p) => self.nodes.get(&p).is_some_and(|n| n.kind == FsKind::Dir),
            None => false,
        }
    }

    /// The paths a `COPY --from` wildcard source matches, sorted, one path
    /// element at a time as in the build context (`*` never crosses `/`).
    /// Matches keep the pattern's spelling, so symlinks in it still resolve.
    pub fn glob(&self, pattern: &str) -> Result<Vec<String>, super::glob::BadPattern> {
        let mut found = vec![String::new()];
        for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
            let mut next = Vec::new();
            for base in &found {
                if !super::glob::has_wildcards(part) {
                    let p = join(base, part);
                    if self
                        .resolve(&p, false)
                        .is_some_and(|k| self.nodes.contains_key(&k))
                    {
                        next.push(p);
                    }
                    continue;
                }
                let Some(dir) = self.resolve(base, true) else {
                    continue;
                };
                let prefix = if dir.is_empty() {
                    dir
                } else {
                    format!("{dir}/")
                };
                for k in self.nodes.range(prefix.clone()..).map(|(k, _)| k) {
                    if !k.starts_with(&prefix) {
                        break;
                    }
                    let name = &k[prefix.len()..];
                    if !name.contains('/') && super::glob::glob_match(part, name)? {
                        next.push(join(base, name));
                    }
                }
            }
            found = next;
        }
        Ok(found)
    }

    /// The contents of a kept file.
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        let p = self.resolve(path, true)?;
        self.nodes.get(&p)?.data.as_deref()
    }
}

/// Resolve the symlinks in `path` as if its root were `/`: an absolute
/// target starts again at the root and `..` stops there, so nothing resolves
/// outside it. `link(p)` gives the target of the root-relative `p` when `p`
/// is a symlink; it is only asked about paths whose parents are resolved.
/// With `last` the final element is followed too. Returns the root-relative
/// path, or None after 40 links (a loop).
pub fn resolve_in_root(
    path: &str,
    last: bool,
    link: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let mut done = String::new();
    let mut queue: std::collections::VecDeque<String> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(String::from)
        .collect();
    let mut hops = 0;
    while let Some(part) = queue.pop_front() {
        if part == ".." {
            done = done
                .rsplit_once('/')
                .map(|(a, _)| a.to_string())
                .unwrap_or_default();
            continue;
        }
        let cand = join(&done, &part);
        let target = (last || !queue.is_empty()).then(|| link(&cand)).flatten();
        match target {
            Some(t) => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                if t.starts_with('/') {
                    done.clear();
                }
                let mut rest: Vec<String> = t
                    .split('/')
                    .filter(|p| !p.is_empty() && *p != ".")
                    .map(String::from)
                    .collect();
                rest.extend(queue.drain(..));
                queue = rest.into();
            }
            None => done = cand,
        }
    }
    Some(done)
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            h.set_size(data.len() as u64);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            h.set_path(name).unwrap();
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn layers_whiteouts_and_symlinks() {
        use tar::EntryType::*;
        let mut fs = ImageFs::default();
        let keep = |p: &str| p.starts_with("etc");
        let l0 = tar(&[
            ("etc/", Directory, b"", ""),
            ("etc/passwd", Regular, b"root:x:0:0::/root:/bin/sh\n", ""),
            ("usr/bin/", Directory, b"", ""),
            ("usr/bin/gone", Regular, b"", ""),
            ("bin", Symlink, b"", "usr/bin"),
            ("old/a", Regular, b"", ""),
        ]);
        fs.apply_layer(&l0[..], 0, &keep).unwrap();
        let l1 = tar(&[
            ("usr/bin/.wh.gone", Regular, b"", ""),
            ("old/.wh..wh..opq", Regular, b"", ""),
            ("old/b", Regular, b"", ""),
        ]);
        fs.apply_layer(&l1[..], 1, &keep).unwrap();
        assert!(fs.read("/etc/passwd").unwrap().starts_with(b"root"));
        assert!(fs.is_dir("/bin"));
        assert!(fs.get("/usr/bin/gone").is_none());
        assert!(fs.get("old/a").is_none());
        assert!(fs.get("old/b").is_some());
        assert_eq!(fs.resolve("/bin/x", false).unwrap(), "usr/bin/x");
    }
}
