//! `cp` between the host and a container, running or stopped: files,
//! directories and tar streams, placed by Docker's rules (`rules`). The
//! archive is made on the source side and extracted on the other
//! (`tree`); the container's side runs inside its root (`enter`), so
//! the container's paths are resolved as the container sees them and
//! never lead out of it. Files copied in belong to the container's root
//! unless `archive` keeps their ids; files copied out belong to the user.

mod enter;
mod rules;
mod tree;

use super::Containers;
use crate::dirs::Dirs;
use std::path::{Path, PathBuf};
use tree::Owners;

/// The host's end of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Path(PathBuf),
    /// `-`: a tar stream on stdin (into the container) or stdout (out).
    Stream,
}

/// How to copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `-a`: keep the source's uid and gid.
    pub archive: bool,
    /// `-L`: follow a symbolic link given as the source.
    pub follow: bool,
}

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Container(#[from] super::Error),
    #[error("cannot create a temp file in {}: {error}", dir.display())]
    Spool {
        dir: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("cannot use the temp file: {0}")]
    TempFile(#[source] std::io::Error),
    /// The host side's source (inside a container, the same failure comes
    /// back as text, across a fork: see `Inside`).
    #[error(transparent)]
    Source(SourceError),
    #[error("{0} holds nothing to copy")]
    Empty(String),
    #[error(transparent)]
    Place(#[from] rules::PlaceError),
    #[error(transparent)]
    Tree(#[from] tree::TreeError),
    #[error("container {container}: {why}")]
    Inside {
        container: String,
        why: Box<enter::EnterError>,
    },
}

/// Why a copy's source cannot be archived.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("could not find {path}: {source}")]
    NotFound {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} is not a directory")]
    NotADirectory(String),
    #[error(transparent)]
    Tree(#[from] tree::TreeError),
}

fn inside(container: &str) -> impl FnOnce(enter::EnterError) -> Error + '_ {
    move |why| Error::Inside {
        container: container.to_string(),
        why: Box::new(why),
    }
}

/// SRC ended with `/.` (the content of the directory), or `/`.
fn wants_dir(p: &str) -> (bool, bool) {
    (
        p.ends_with("/.") || p == ".",
        p.ends_with('/') || p.ends_with("/.") || p == ".",
    )
}

/// The name a source is archived under: its last component (`/` for the
/// root itself, copied as its content).
fn base_name(p: &Path) -> Option<String> {
    let clean: PathBuf = p.components().collect();
    clean.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// What `path` is at the destination, following links (Docker resolves
/// the destination as its side sees it).
fn dst_of(path: &Path) -> rules::Dst {
    match path.metadata() {
        Ok(m) if m.is_dir() => rules::Dst::Dir,
        Ok(_) => rules::Dst::File,
        Err(_) => rules::Dst::Missing,
    }
}

/// A temp file for an archive, in the state dir (beside the containers,
/// not in a possibly small /tmp).
fn spool(dirs: &Dirs) -> Result<std::fs::File, Error> {
    std::fs::create_dir_all(&dirs.state)
        .and_then(|()| tempfile::tempfile_in(&dirs.state))
        .map_err(|error| Error::Spool {
            dir: dirs.state.clone(),
            error,
        })
}

/// Archive the source `path` (as the copy's source side sees it) into
/// `out`; checks Docker's "SRC ends with /" rule.
fn archive_source(
    path: &str,
    follow: bool,
    owners: Owners,
    out: impl std::io::Write,
) -> Result<(), SourceError> {
    let (_, dir_only) = wants_dir(path);
    let p = Path::new(path);
    let m = match follow {
        true => p.metadata(),
        false => p.symlink_metadata(),
    }
    .map_err(|source| SourceError::NotFound {
        path: path.to_string(),
        source,
    })?;
    if dir_only && !m.is_dir() {
        return Err(SourceError::NotADirectory(path.to_string()));
    }
    // The root has no name: it is archived under one and copied as its
    // content (see `copy_out`).
    let name = base_name(p).unwrap_or_else(|| "rootfs".to_string());
    Ok(tree::write(p, &name, follow, owners, out)?)
}

/// Copy `src` from the host (or a tar stream on stdin) to `dest` in
/// container `name`.
pub fn copy_in(dirs: &Dirs, name: &str, src: &Host, dest: &str, o: Options) -> Result<(), Error> {
    let containers = Containers::new(&dirs.state);
    let rec = containers.resolve(name)?;
    let dest = container_path(dest);
    match src {
        Host::Stream => enter::in_container(dirs, &containers, &rec, || {
            let stdin = std::io::stdin().lock();
            tree::extract(stdin, None, Path::new(&dest), Owners::Keep).map_err(|e| e.to_string())
        })
        .map_err(inside(&rec.name)),
        Host::Path(p) => {
            let text = p.to_string_lossy().into_owned();
            let (contents, _) = wants_dir(&text);
            let mut spooled = spool(dirs)?;
            let owners = match o.archive {
                true => Owners::Keep,
                false => Owners::Root,
            };
            archive_source(&text, o.follow, owners, &mut spooled).map_err(Error::Source)?;
            let info =
                tree::peek(&mut spooled, contents)?.ok_or_else(|| Error::Empty(text.clone()))?;
            enter::in_container(dirs, &containers, &rec, move || {
                let place = rules::place(&info, &dest, dst_of(Path::new(&dest)))
                    .map_err(|e| e.to_string())?;
                tree::extract(spooled, Some(&place), Path::new(&dest), Owners::Keep)
                    .map_err(|e| e.to_string())
            })
            .map_err(inside(&rec.name))
        }
    }
}

/// Copy `src` from container `name` to the host (or as a tar stream to
/// stdout).
pub fn copy_out(dirs: &Dirs, name: &str, src: &str, dest: &Host, o: Options) -> Result<(), Error> {
    let containers = Containers::new(&dirs.state);
    let rec = containers.resolve(name)?;
    let src = container_path(src);
    match dest {
        Host::Stream => enter::in_container(dirs, &containers, &rec, || {
            // Text: it runs inside the container, across a fork.
            archive_source(&src, o.follow, Owners::Keep, std::io::stdout().lock())
                .map_err(|e| crate::chain::line(&e))
        })
        .map_err(inside(&rec.name)),
        Host::Path(p) => {
            let mut spooled = spool(dirs)?;
            let out = spooled.try_clone().map_err(Error::TempFile)?;
            enter::in_container(dirs, &containers, &rec, || {
                archive_source(&src, o.follow, Owners::Keep, out)
                    .map_err(|e| crate::chain::line(&e))
            })
            .map_err(inside(&rec.name))?;
            let (contents, _) = wants_dir(&src);
            let contents = contents || base_name(Path::new(&src)).is_none();
            let info =
                tree::peek(&mut spooled, contents)?.ok_or_else(|| Error::Empty(src.clone()))?;
            let text = p.to_string_lossy().into_owned();
            let place = rules::place(&info, &text, dst_of(p))?;
            Ok(tree::extract(spooled, Some(&place), p, Owners::Root)?)
        }
    }
}

/// A container path as `cp` takes it: relative ones start at the root.
fn container_path(p: &str) -> String {
    match p.starts_with('/') {
        true => p.to_string(),
        false => format!("/{p}"),
    }
}
