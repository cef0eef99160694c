//! The tar side of `cp`: a file or directory tree written as an archive
//! whose entries start with one top-level name, and an archive extracted
//! into a directory with its top-level entry renamed (Docker's placement
//! rules, `rules`). Used on both sides: on the host as the user, and
//! inside a container's root as its root.
//!
//! Archives are hostile input: only plain relative names are accepted,
//! only files, directories and symbolic links are made, and nothing is
//! ever written through a symbolic link below the destination directory.

use super::rules::{Placement, Rename, SrcInfo};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// Who owns what an archive says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    /// The ids the files have.
    Keep,
    /// Root (Docker's `cp` into a container without `-a`).
    Root,
}

/// Why an archive could not be written or extracted: each message names
/// the path or the archive entry.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{what} {}: {error}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write the archive: {0}")]
    WriteArchive(std::io::Error),
    #[error("cannot read the archive: {0}")]
    ReadArchive(std::io::Error),
    #[error("the archive's first entry has no name")]
    NoName,
    #[error("destination '{}' must be a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("cannot overwrite non-directory {} with a directory", .0.display())]
    DirectoryOverFile(PathBuf),
    /// tar's own message names the entry; the cause below it is shown.
    #[error("cannot extract {}: {}", path.display(), innermost(error))]
    Extract {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("refusing archive entry '{}': not a plain relative name", .0.display())]
    NotPlain(PathBuf),
    #[error("refusing to write through the symbolic link {}", .0.display())]
    ThroughLink(PathBuf),
}

fn innermost(e: &std::io::Error) -> String {
    std::error::Error::source(e).map_or_else(|| e.to_string(), |c| c.to_string())
}

fn io(what: &'static str, p: &Path, error: std::io::Error) -> TreeError {
    TreeError::Io {
        what,
        path: p.to_path_buf(),
        error,
    }
}

/// Write `path` (a file, a directory with everything below it, or a
/// symbolic link unless `follow`) into `out` as entries named `name/...`.
pub fn write(
    path: &Path,
    name: &str,
    follow: bool,
    owners: Owners,
    out: impl Write,
) -> Result<(), TreeError> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let meta = match follow {
        true => path.metadata(),
        false => path.symlink_metadata(),
    }
    .map_err(|e| io("cannot stat", path, e))?;
    let mut todo = vec![(path.to_path_buf(), PathBuf::from(name), meta)];
    while let Some((p, n, m)) = todo.pop() {
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&m, tar::HeaderMode::Complete);
        if owners == Owners::Root {
            h.set_uid(0);
            h.set_gid(0);
            let _ = h.set_username("");
            let _ = h.set_groupname("");
        }
        let ft = m.file_type();
        let r = if ft.is_dir() {
            b.append_data(&mut h, &n, std::io::empty())
                .map_err(|e| io("cannot archive", &p, e))?;
            let mut children: Vec<_> = std::fs::read_dir(&p)
                .map_err(|e| io("cannot read", &p, e))?
                .collect::<Result<_, _>>()
                .map_err(|e| io("cannot read", &p, e))?;
            children.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
            for c in children {
                let cm = c
                    .path()
                    .symlink_metadata()
                    .map_err(|e| io("cannot stat", &c.path(), e))?;
                todo.push((c.path(), n.join(c.file_name()), cm));
            }
            Ok(())
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&p).map_err(|e| io("cannot read", &p, e))?;
            b.append_link(&mut h, &n, &target)
        } else if ft.is_file() {
            let f = std::fs::File::open(&p).map_err(|e| io("cannot open", &p, e))?;
            b.append_data(&mut h, &n, f)
        } else {
            // Devices, fifos and sockets are not copied (a user namespace
            // could not make the devices anyway).
            Ok(())
        };
        r.map_err(|e| io("cannot archive", &p, e))?;
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(TreeError::WriteArchive)
}

/// What the archive in `file` holds at its top: read from its first entry.
pub fn peek(file: &mut std::fs::File, contents: bool) -> Result<Option<SrcInfo>, TreeError> {
    use std::io::Seek;
    file.rewind().map_err(TreeError::ReadArchive)?;
    let first_info = {
        let mut a = tar::Archive::new(&mut *file);
        let first = a
            .entries()
            .map_err(TreeError::ReadArchive)?
            .next()
            .transpose()
            .map_err(TreeError::ReadArchive)?;
        let info = match first {
            None => None,
            Some(e) => {
                let path = e.path().map_err(TreeError::ReadArchive)?.into_owned();
                let base = path
                    .components()
                    .find_map(|c| match c {
                        Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                        _ => None,
                    })
                    .ok_or(TreeError::NoName)?;
                Some(SrcInfo {
                    is_dir: e.header().entry_type().is_dir(),
                    base,
                    contents,
                })
            }
        };
        info
    };
    let info = first_info;
    file.rewind().map_err(TreeError::ReadArchive)?;
    Ok(info)
}

/// Extract `archive` into `placement.into`, its top-level entry renamed
/// (or dropped, for a directory's content); `None` extracts every entry
/// as named. `owners` Keep gives files the archive's ids (root in a
/// container), Root leaves them to whoever extracts (the host user).
pub fn extract(
    archive: impl Read,
    placement: Option<&Placement>,
    into: &Path,
    owners: Owners,
) -> Result<(), TreeError> {
    let mut a = tar::Archive::new(archive);
    a.set_preserve_permissions(true);
    a.set_preserve_mtime(true);
    a.set_preserve_ownerships(owners == Owners::Keep);
    a.set_unpack_xattrs(false);
    a.set_overwrite(true);
    let into = match placement {
        Some(p) => p.into.as_path(),
        None => into,
    };
    let m = into
        .metadata()
        .map_err(|e| io("cannot use destination directory", into, e))?;
    if !m.is_dir() {
        return Err(TreeError::NotADirectory(into.to_path_buf()));
    }
    for e in a.entries().map_err(TreeError::ReadArchive)? {
        let mut e = e.map_err(TreeError::ReadArchive)?;
        let raw = e.path().map_err(TreeError::ReadArchive)?.into_owned();
        let Some(rel) = rename(&raw, placement.map(|p| &p.rename))? else {
            continue;
        };
        let kind = e.header().entry_type();
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
            // Hard links, devices and fifos are not made: a hard link
            // names a path the archive does not control the meaning of.
            continue;
        }
        let dest = into.join(&rel);
        no_links_below(into, &rel)?;
        if let Ok(old) = dest.symlink_metadata() {
            if old.file_type().is_symlink() || (old.is_dir() && !kind.is_dir()) {
                let r = match old.is_dir() {
                    true => std::fs::remove_dir_all(&dest),
                    false => std::fs::remove_file(&dest),
                };
                r.map_err(|e| io("cannot replace", &dest, e))?;
            } else if !old.is_dir() && kind.is_dir() {
                return Err(TreeError::DirectoryOverFile(dest));
            }
        }
        e.unpack(&dest)
            .map_err(|error| TreeError::Extract { path: dest, error })?;
    }
    Ok(())
}

/// The name an entry is extracted under, relative to the destination;
/// None for the top-level directory of a content copy. Only plain names.
fn rename(raw: &Path, how: Option<&Rename>) -> Result<Option<PathBuf>, TreeError> {
    let mut parts = Vec::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_os_string()),
            Component::CurDir => {}
            _ => return Err(TreeError::NotPlain(raw.to_path_buf())),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    match how {
        None => {}
        Some(Rename::To(name)) => parts[0] = name.into(),
        Some(Rename::Contents) => {
            parts.remove(0);
            if parts.is_empty() {
                return Ok(None);
            }
        }
    }
    Ok(Some(parts.iter().collect()))
}

/// Refuse `rel` below `dir` when a directory on the way is a symbolic
/// link (an archive's own link would otherwise carry later entries out).
fn no_links_below(dir: &Path, rel: &Path) -> Result<(), TreeError> {
    let mut p = dir.to_path_buf();
    let parent = rel.parent().unwrap_or(Path::new(""));
    for c in parent.components() {
        p.push(c);
        match p.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => return Err(TreeError::ThroughLink(p)),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_rename_and_contents() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", src.join("link")).unwrap();
        let mut buf = Vec::new();
        write(&src, "src", false, Owners::Root, &mut buf).unwrap();
        let out = t.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let p = Placement {
            into: out.clone(),
            rename: Rename::To("renamed".into()),
        };
        extract(&buf[..], Some(&p), &out, Owners::Root).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("renamed/sub/f")).unwrap(),
            "x"
        );
        assert!(out
            .join("renamed/link")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink());
        let p = Placement {
            into: out.clone(),
            rename: Rename::Contents,
        };
        extract(&buf[..], Some(&p), &out, Owners::Root).unwrap();
        assert!(out.join("sub/f").is_file());
    }

    #[test]
    fn hostile_archives_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "a", &outside).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, "a/evil", &b"x"[..]).unwrap();
        let buf = b.into_inner().unwrap();
        let into = t.path().join("into");
        std::fs::create_dir(&into).unwrap();
        let e = extract(&buf[..], None, &into, Owners::Root)
            .unwrap_err()
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(!outside.join("evil").exists());
        assert!(rename(Path::new("../x"), None).is_err());
        assert!(rename(Path::new("/x"), None).is_err());
    }
}
