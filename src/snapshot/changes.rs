//! What changed, as `docker diff` prints it: `A` added, `C` changed, `D`
//! deleted, one absolute path per line, sorted.
//!
//! Between two images the final trees (layer tars applied in order, whiteouts
//! and opaque markers honoured) are compared by metadata; a deleted directory
//! is listed once, not with its contents. For a container, its upper dir is
//! read against the image's tree: a whiteout is `D`, an entry that exists
//! below is `C`, a new one `A`; everything inside an opaque directory is new
//! (`A`) and the directory itself `C`.
//!
//! It reads layer blobs and (inside the user-namespace helper) upper dirs; it
//! writes nothing.

use crate::chain::WithContext;
use crate::layer::codec;
use crate::layer::whiteout::{self, OciName, OPAQUE_XATTR, OPAQUE_XATTR_TRUSTED};
use crate::snapshot::Result;
use crate::store::{Image, Store};
use crate::sys::fsat;
use crate::userns::idmap::{IdMapping, IdSources};
use crate::userns::{run_in_userns, Reach};
use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::Path;

/// What a tree remembers about an entry: enough to tell that it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: u8,
    pub mode: u32,
    pub owner: (u64, u64),
    pub size: u64,
    pub mtime: u64,
    pub link: Vec<u8>,
}

/// Paths (relative, no trailing `/`) to their metadata.
pub type Tree = BTreeMap<String, Meta>;

/// One line of output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub path: String,
    pub kind: char,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} /{}", self.kind, self.path)
    }
}

/// The tree of the first `layers` layers of `image`.
pub fn image_tree(store: &Store, image: &Image, layers: usize) -> Result<Tree> {
    let mut tree = Tree::new();
    for (n, l) in image.manifest.layers().iter().take(layers).enumerate() {
        let what = format!("layer {} of image {}", n + 1, image.short_id());
        let f = fs_err::File::open(store.blob_path(l.digest()))
            .with_context(|| format!("{what} is missing"))?;
        let (_, r) = codec::decompressed(BufReader::with_capacity(1 << 16, f))
            .map_err(crate::chain::Context::msg)?;
        apply_layer(&mut tree, r).with_context(|| format!("cannot read {what}"))?;
    }
    Ok(tree)
}

/// Apply one layer tar to `tree`: its whiteouts and opaque markers hide what
/// the layers below had, then its entries are added.
pub fn apply_layer(tree: &mut Tree, tar: impl Read) -> Result<()> {
    apply_layer_reading(tree, tar, &|_| false, &mut Contents::new())
}

/// Largest file [`apply_layer_reading`] keeps the content of: package
/// databases run from a few MiB (apk, dpkg, rpm's sqlite) to tens of MiB
/// in images and past a hundred on big systems (rpm's Berkeley DB).
pub const CONTENT_LIMIT: u64 = 256 << 20;

/// Largest total of the contents kept over all layers.
pub const CONTENTS_LIMIT: u64 = 512 << 20;

/// The contents of chosen regular files of a tree, by relative path.
pub type Contents = BTreeMap<String, Vec<u8>>;

/// [`apply_layer`], also keeping in `contents` the content of each regular
/// file whose path `want` accepts (and dropping what this layer hides or
/// replaces by something else). A file larger than [`CONTENT_LIMIT`], or
/// contents over [`CONTENTS_LIMIT`] in all, is an error: layers are not
/// trusted.
pub fn apply_layer_reading(
    tree: &mut Tree,
    tar: impl Read,
    want: &dyn Fn(&str) -> bool,
    contents: &mut Contents,
) -> Result<()> {
    let mut added: Vec<(String, Meta)> = Vec::new();
    let mut hidden: Vec<String> = Vec::new();
    let mut opaque: Vec<String> = Vec::new();
    let mut read: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    let mut total: u64 = contents.values().map(|v| v.len() as u64).sum();
    let mut a = tar::Archive::new(tar);
    for e in a.entries()? {
        let mut e = e?;
        let raw = e.path_bytes().into_owned();
        let path = clean(&String::from_utf8_lossy(&raw));
        if path.is_empty() {
            continue;
        }
        let (dir, base) = match path.rsplit_once('/') {
            Some((d, b)) => (d.to_string(), b.to_string()),
            None => (String::new(), path.clone()),
        };
        match whiteout::classify(base.as_bytes()) {
            OciName::Opaque => opaque.push(dir),
            OciName::Whiteout(name) => hidden.push(join(&dir, &String::from_utf8_lossy(name))),
            OciName::AufsMeta => {}
            OciName::Plain => {
                if want(&path) {
                    let regular = e.header().entry_type().is_file();
                    let size = e.header().size().unwrap_or(0);
                    if regular && size > CONTENT_LIMIT {
                        crate::chain::bail!("/{path} is larger than {CONTENT_LIMIT} bytes");
                    }
                    total += size;
                    if total > CONTENTS_LIMIT {
                        crate::chain::bail!(
                            "the files to read are larger than {CONTENTS_LIMIT} bytes in all"
                        );
                    }
                    let data = if regular {
                        let mut buf = Vec::with_capacity(size as usize);
                        (&mut e).take(CONTENT_LIMIT).read_to_end(&mut buf)?;
                        Some(buf)
                    } else {
                        None
                    };
                    read.push((path.clone(), data));
                }
                let h = e.header();
                added.push((
                    path,
                    Meta {
                        kind: h.entry_type().as_byte(),
                        mode: h.mode().unwrap_or(0) & 0o7777,
                        owner: (h.uid().unwrap_or(0), h.gid().unwrap_or(0)),
                        size: h.size().unwrap_or(0),
                        mtime: h.mtime().unwrap_or(0),
                        link: e
                            .link_name_bytes()
                            .map(|l| l.into_owned())
                            .unwrap_or_default(),
                    },
                ));
            }
        }
    }
    contents.retain(|have, _| {
        let under = |d: &String| d.is_empty() || have.starts_with(&format!("{d}/"));
        !(hidden.iter().any(|h| h == have || under(h)) || opaque.iter().any(under))
    });
    for p in hidden {
        remove_tree(tree, &p, true);
    }
    for d in opaque {
        remove_tree(tree, &d, false);
    }
    for (path, data) in read {
        match data {
            Some(d) => contents.insert(path, d),
            None => contents.remove(&path),
        };
    }
    tree.extend(added);
    Ok(())
}

/// Remove everything below `path` (and `path` itself when `itself`).
fn remove_tree(tree: &mut Tree, path: &str, itself: bool) {
    if itself {
        tree.remove(path);
    }
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let doomed: Vec<String> = tree
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        tree.remove(&k);
    }
}

/// `docker diff` between two trees; a deleted directory hides its contents.
pub fn between(a: &Tree, b: &Tree) -> Vec<Change> {
    let mut out = Vec::new();
    for (p, m) in b {
        match a.get(p) {
            None => out.push(Change {
                path: p.clone(),
                kind: 'A',
            }),
            Some(old) if old != m => out.push(Change {
                path: p.clone(),
                kind: 'C',
            }),
            Some(_) => {}
        }
    }
    for p in a.keys().filter(|p| !b.contains_key(*p)) {
        let parent_gone = p
            .rsplit_once('/')
            .is_some_and(|(d, _)| a.contains_key(d) && !b.contains_key(d));
        if !parent_gone {
            out.push(Change {
                path: p.clone(),
                kind: 'D',
            });
        }
    }
    out.sort();
    out
}

/// What one upper-dir entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upper {
    Whiteout,
    Dir { opaque: bool },
    Other,
}

/// `docker diff` of a container: its upper dir's entries against `lower`.
pub fn of_upper(entries: &[(String, Upper)], lower: &Tree) -> Vec<Change> {
    let mut out = Vec::new();
    let mut opaque: Vec<String> = Vec::new();
    for (p, kind) in entries {
        let inside_opaque = opaque.iter().any(|d| p.starts_with(&format!("{d}/")));
        let kind = match kind {
            Upper::Whiteout => 'D',
            Upper::Dir { opaque: true } => {
                opaque.push(p.clone());
                if lower.contains_key(p) && !inside_opaque {
                    'C'
                } else {
                    'A'
                }
            }
            _ if inside_opaque || !lower.contains_key(p) => 'A',
            _ => 'C',
        };
        out.push(Change {
            path: p.clone(),
            kind,
        });
    }
    out.sort();
    out
}

/// List an upper dir (depth first) from inside the user namespace, where its
/// files are readable. Paths come back NUL-separated through a scratch file.
pub fn read_upper(
    upper: &Path,
    scratch: &Path,
    map: &IdMapping,
    src: &IdSources,
) -> Result<Vec<(String, Upper)>> {
    let list_path = scratch.join("upper.list");
    let list = fs_err::File::create(&list_path)?;
    // Held open here: with keep-id the namespace's root may not traverse
    // the state dir's parents (see `userns::reach`).
    let upper_at = Reach::new(upper)?;
    run_in_userns(map, src, || {
        let mut w = std::io::BufWriter::new(&list);
        walk(&upper_at.path(), upper, &mut w)?;
        w.flush().map_err(|e| e.to_string())
    })
    .map_err(crate::chain::Context::msg)
    .with_context(|| format!("cannot read {}", upper.display()))?;
    let bytes = fs_err::read(&list_path)?;
    let mut out = Vec::new();
    for rec in bytes.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let kind = match rec[0] {
            b'W' => Upper::Whiteout,
            b'O' => Upper::Dir { opaque: true },
            b'D' => Upper::Dir { opaque: false },
            _ => Upper::Other,
        };
        out.push((String::from_utf8_lossy(&rec[1..]).into_owned(), kind));
    }
    Ok(out)
}

/// Walk the directory opened at `open`, named `root` in messages.
fn walk(open: &Path, root: &Path, out: &mut impl Write) -> Result<(), String> {
    let dir = fsat::open_dir(open).map_err(|e| format!("cannot list {}: {e}", root.display()))?;
    walk_at(root, dir.as_fd(), "", out)
}

/// One directory, by descriptor: a running container can swap any name
/// for a symlink between two looks, and a walk by path would then list
/// whatever the link points at on the host. An entry that vanishes or
/// stops being a directory meanwhile is what the container did: it is
/// listed as it was seen, or left out when it is gone.
fn walk_at(
    root: &Path,
    dir: std::os::fd::BorrowedFd<'_>,
    rel: &str,
    out: &mut impl Write,
) -> Result<(), String> {
    let shown = || root.join(rel).display().to_string();
    let mut names =
        fsat::read_dir_names(dir).map_err(|e| format!("cannot list {}: {e}", shown()))?;
    names.sort();
    for n in names {
        let p = join(rel, &String::from_utf8_lossy(n.to_bytes()));
        let Some(st) = fsat::lstat_at(dir, &n).map_err(|e| format!("cannot stat {p}: {e}"))? else {
            continue;
        };
        let sub = match st.kind {
            fsat::Kind::Dir => fsat::open_dir_at(dir, &n).ok(),
            _ => None,
        };
        let tag = if st.kind == fsat::Kind::Char && st.rdev_major == 0 && st.rdev_minor == 0 {
            b'W'
        } else if st.kind == fsat::Kind::Dir {
            if sub.as_ref().is_some_and(|d| is_opaque(d.as_fd())) {
                b'O'
            } else {
                b'D'
            }
        } else {
            b'F'
        };
        let mut rec = vec![tag];
        rec.extend_from_slice(p.as_bytes());
        rec.push(0);
        out.write_all(&rec).map_err(|e| e.to_string())?;
        if let Some(sub) = sub {
            walk_at(root, sub.as_fd(), &p, out)?;
        }
    }
    Ok(())
}

fn is_opaque(dir: std::os::fd::BorrowedFd<'_>) -> bool {
    fsat::fxattrs(dir)
        .map(|all| {
            all.iter().any(|(k, v)| {
                let k = k.to_bytes();
                (k == OPAQUE_XATTR.as_bytes() || k == OPAQUE_XATTR_TRUSTED.as_bytes()) && v == b"y"
            })
        })
        .unwrap_or(false)
}

fn clean(p: &str) -> String {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::testutil::TarBuf;

    fn tree(layers: &[Vec<u8>]) -> Tree {
        let mut t = Tree::new();
        for l in layers {
            apply_layer(&mut t, &l[..]).unwrap();
        }
        t
    }

    fn lines(c: &[Change]) -> Vec<String> {
        c.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn contents_follow_whiteouts_opaque_dirs_and_re_adds() {
        let want = |p: &str| p.starts_with("db/") || p == "c";
        let base = TarBuf::new()
            .dir("db/", 0o755, 1)
            .file("db/a", b"a1")
            .file("db/b", b"b1")
            .symlink("c", "db/a")
            .file("other", b"x")
            .bytes();
        let mut t = Tree::new();
        let mut c = Contents::new();
        apply_layer_reading(&mut t, &base[..], &want, &mut c).unwrap();
        assert_eq!(
            c.keys().collect::<Vec<_>>(),
            ["db/a", "db/b"],
            "a symlink has no content"
        );
        assert_eq!(c["db/a"], b"a1");
        let top = TarBuf::new()
            .dir("db/", 0o755, 2)
            .file("db/.wh..wh..opq", b"")
            .file("db/b", b"b2")
            .bytes();
        apply_layer_reading(&mut t, &top[..], &want, &mut c).unwrap();
        assert!(!c.contains_key("db/a"), "hidden by the opaque directory");
        assert_eq!(c["db/b"], b"b2");
        let gone = TarBuf::new().file(".wh.db", b"").bytes();
        apply_layer_reading(&mut t, &gone[..], &want, &mut c).unwrap();
        assert!(c.is_empty());
    }

    #[test]
    fn image_trees_and_their_differences() {
        let base = TarBuf::new()
            .dir("etc/", 0o755, 1)
            .file("etc/passwd", b"root")
            .file("etc/group", b"root")
            .dir("opt/", 0o755, 1)
            .file("opt/a", b"a")
            .dir("var/", 0o755, 1)
            .dir("var/cache/", 0o755, 1)
            .file("var/cache/x", b"x")
            .bytes();
        let top = TarBuf::new()
            .dir("etc/", 0o755, 2)
            .file("etc/.wh.group", b"")
            .file_with("etc/passwd", b"root2", 0o644, (0, 0), 2)
            .file("etc/motd", b"hi")
            .dir("opt/", 0o755, 2)
            .file("opt/.wh..wh..opq", b"")
            .file("opt/b", b"b")
            .file(".wh.var", b"")
            .bytes();
        let a = tree(std::slice::from_ref(&base));
        let b = tree(&[base, top]);
        assert!(b.contains_key("opt/b") && !b.contains_key("opt/a"));
        assert!(!b.contains_key("var/cache/x"));
        assert_eq!(
            lines(&between(&a, &b)),
            [
                "C /etc",
                "D /etc/group",
                "A /etc/motd",
                "C /etc/passwd",
                "C /opt",
                "D /opt/a",
                "A /opt/b",
                "D /var",
            ]
        );
        assert!(between(&b, &b).is_empty());
    }

    #[test]
    fn upper_dirs_read_like_docker_diff() {
        let lower = tree(&[TarBuf::new()
            .dir("etc/", 0o755, 1)
            .file("etc/passwd", b"root")
            .dir("opt/", 0o755, 1)
            .file("opt/a", b"a")
            .bytes()]);
        let entries = vec![
            ("etc".to_string(), Upper::Dir { opaque: false }),
            ("etc/new".to_string(), Upper::Other),
            ("etc/passwd".to_string(), Upper::Whiteout),
            ("opt".to_string(), Upper::Dir { opaque: true }),
            ("opt/a".to_string(), Upper::Other),
            ("srv".to_string(), Upper::Dir { opaque: false }),
        ];
        assert_eq!(
            lines(&of_upper(&entries, &lower)),
            [
                "C /etc",
                "A /etc/new",
                "D /etc/passwd",
                "C /opt",
                "A /opt/a",
                "A /srv"
            ]
        );
    }
}
