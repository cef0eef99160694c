//! Resolving a container path to a host path under the container's root the
//! way the container will see it: symlinks are followed as if the root were
//! `/` (an absolute link restarts at the root, `..` stops at it), like
//! containers' securejoin or openat2(2)'s RESOLVE_IN_ROOT.
//!
//! Without this, an image whose `/etc` is a symlink to `/home/you` would make
//! the sandbox create and mount files in your real home while it sets up the
//! container. The result is a path, looked up again by whatever uses it:
//! the container's own processes start only after every mount exists, but
//! a volume shared with another running container can change under it
//! (rename, put a symlink in) between this call and that use. Callers that
//! take content from such a path (a bind's source) hold a descriptor of it
//! instead, so only where a mount lands can move, never what it shows.
//! This module only reads (lstat, readlink); it creates nothing.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Links followed before giving up (Linux's MAXSYMLINKS).
const MAX_LINKS: usize = 40;

/// The host path of container path `path` under `root`, with every symlink
/// resolved inside `root`. Components that do not exist are kept as they are
/// (the caller may create them); the result contains no symlink.
pub fn resolve_in_root(root: &Path, path: &Path) -> std::io::Result<PathBuf> {
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_front(&mut pending, path);
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            done.pop();
            continue;
        }
        let mut here = root.to_path_buf();
        here.extend(&done);
        here.push(&c);
        match here.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(std::io::Error::other(format!(
                        "too many levels of symbolic links in {}",
                        path.display()
                    )));
                }
                let target = std::fs::read_link(&here)?;
                if target.is_absolute() {
                    done.clear();
                }
                push_front(&mut pending, &target);
            }
            _ => done.push(c),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(done);
    Ok(out)
}

/// Put the components of `p` at the front of the queue, in order; `.` and
/// the root vanish, `..` stays as a marker.
fn push_front(q: &mut VecDeque<OsString>, p: &Path) {
    let comps: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    for c in comps.into_iter().rev() {
        q.push_front(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::create_dir_all(d.path().join("outside")).unwrap();
        // Absolute links restart at the root, not at the host's /.
        symlink(d.path().join("outside"), root.join("etc")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("../../../../..", root.join("up")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let outside = d.path().join("outside");
        let inside_outside = root.join(outside.strip_prefix("/").unwrap());
        assert_eq!(
            resolve_in_root(&root, Path::new("/etc/hosts")).unwrap(),
            inside_outside.join("hosts")
        );
        assert_eq!(
            resolve_in_root(&root, Path::new("lib/x")).unwrap(),
            root.join("usr/lib/x")
        );
        assert_eq!(
            resolve_in_root(&root, Path::new("up/lib/../tmp")).unwrap(),
            root.join("usr/tmp")
        );
        assert!(resolve_in_root(&root, Path::new("loop/x")).is_err());
        assert_eq!(
            resolve_in_root(&root, Path::new("/new/dir")).unwrap(),
            root.join("new/dir")
        );
    }
}
