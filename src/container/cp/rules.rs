//! Where `docker cp` puts things: the rules of its reference ("SRC_PATH
//! specifies a file / a directory ...") as one pure function, used on
//! whichever side the destination is (the host, or inside the container).

use std::path::{Path, PathBuf};

/// What was copied, as the archive's first entry shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrcInfo {
    pub is_dir: bool,
    /// The top-level name of the archive's entries.
    pub base: String,
    /// SRC ended with `/.`: the directory's content, not the directory.
    pub contents: bool,
}

/// The destination as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dst {
    Missing,
    File,
    Dir,
}

/// What to do with the archive's top-level entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rename {
    /// Extract under this name.
    To(String),
    /// Drop the top-level directory; its entries go straight in.
    Contents,
}

/// The directory to extract into and how to name what is extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub into: PathBuf,
    pub rename: Rename,
}

/// Why a copy cannot be placed at its destination (Docker's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    #[error("invalid destination path '{0}'")]
    InvalidDest(String),
    #[error(
        "destination directory '{0}' does not exist (a path ending in / must be an existing directory)"
    )]
    MissingDir(String),
    #[error("destination '{0}' is not a directory")]
    NotDirectory(String),
    #[error("cannot copy a directory to a file: '{0}' is a file")]
    DirToFile(String),
}

/// Docker's rules for copying `src` to `dest` (as the user wrote it),
/// which is `dst` now.
pub fn place(src: &SrcInfo, dest: &str, dst: Dst) -> Result<Placement, PlaceError> {
    let slash = dest.ends_with('/') || dest.ends_with("/.");
    let path = Path::new(dest);
    let parent_and_name = || {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| PlaceError::InvalidDest(dest.into()))?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok::<_, PlaceError>((parent, name))
    };
    match (src.is_dir, dst) {
        (false, Dst::Dir) => Ok(Placement {
            into: path.to_path_buf(),
            rename: Rename::To(src.base.clone()),
        }),
        (false, Dst::Missing) if slash => Err(PlaceError::MissingDir(dest.into())),
        (false, _) => {
            if slash {
                return Err(PlaceError::NotDirectory(dest.into()));
            }
            let (into, name) = parent_and_name()?;
            Ok(Placement {
                into,
                rename: Rename::To(name),
            })
        }
        (true, Dst::File) => Err(PlaceError::DirToFile(dest.into())),
        (true, Dst::Missing) => {
            // Created as a directory with the source's content, whether or
            // not SRC ended in `/.`: the top-level entry takes its name.
            let (into, name) = parent_and_name()?;
            Ok(Placement {
                into,
                rename: Rename::To(name),
            })
        }
        (true, Dst::Dir) => Ok(Placement {
            into: path.to_path_buf(),
            rename: match src.contents {
                true => Rename::Contents,
                false => Rename::To(src.base.clone()),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(is_dir: bool, contents: bool) -> SrcInfo {
        SrcInfo {
            is_dir,
            base: "s".into(),
            contents,
        }
    }

    fn to(into: &str, name: &str) -> Placement {
        Placement {
            into: into.into(),
            rename: Rename::To(name.into()),
        }
    }

    #[test]
    fn file_sources() {
        let f = src(false, false);
        assert_eq!(place(&f, "/d/new", Dst::Missing).unwrap(), to("/d", "new"));
        assert!(place(&f, "/d/new/", Dst::Missing)
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
        assert_eq!(place(&f, "/d/file", Dst::File).unwrap(), to("/d", "file"));
        assert_eq!(place(&f, "/d", Dst::Dir).unwrap(), to("/d", "s"));
        assert_eq!(place(&f, "new", Dst::Missing).unwrap(), to(".", "new"));
    }

    #[test]
    fn directory_sources() {
        let d = src(true, false);
        assert_eq!(place(&d, "/d/new", Dst::Missing).unwrap(), to("/d", "new"));
        assert!(place(&d, "/d/f", Dst::File)
            .unwrap_err()
            .to_string()
            .contains("directory to a file"));
        assert_eq!(place(&d, "/d", Dst::Dir).unwrap(), to("/d", "s"));
        let c = src(true, true);
        assert_eq!(
            place(&c, "/d", Dst::Dir).unwrap(),
            Placement {
                into: "/d".into(),
                rename: Rename::Contents
            }
        );
        assert_eq!(place(&c, "/d/new", Dst::Missing).unwrap(), to("/d", "new"));
    }
}
