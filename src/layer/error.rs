//! What can go wrong reading or writing a layer: each message names the
//! entry, the directory or the stream step it is about.

use super::tree::StepError;
use crate::sys::SysError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the layer stream: {0}")]
    Stream(std::io::Error),
    #[error("cannot {action}: {error}")]
    Codec {
        action: &'static str,
        error: std::io::Error,
    },
    #[error("a compressor needs gzip or zstd")]
    NoCompression,
    #[error("nothing to flatten: no layers")]
    NothingToFlatten,
    /// Unpacking into `dest` stopped; `why` names the entry.
    #[error("{why}")]
    Unpack {
        dest: PathBuf,
        #[source]
        why: Box<UnpackError>,
    },
    /// Writing the layer of `upper` stopped; `why` names the entry.
    #[error("{why}")]
    Diff {
        upper: PathBuf,
        #[source]
        why: DiffError,
    },
    /// A tar entry name (quoted) that climbs out of the layer root.
    #[error("entry {0} escapes the layer root with '..'")]
    Escapes(String),
    /// A tar entry name (quoted) with a NUL byte in it.
    #[error("entry {0} contains a NUL byte")]
    Nul(String),
    #[error("cannot open {path}: {error}")]
    Open { path: PathBuf, error: SysError },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why writing a layer tar from a directory (or a stack of them) stopped.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("cannot diff {}: {source}", dir.display())]
    Open { dir: PathBuf, source: SysError },
    /// Reading `path` below the upper directory `upper`.
    #[error("cannot diff {}/{path}: {source}", upper.display())]
    Entry {
        upper: PathBuf,
        path: String,
        source: ReadError,
    },
    #[error("cannot write the layer tar: {0}")]
    Write(#[source] std::io::Error),
}

/// A system call or a read that failed on an entry being diffed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Why unpacking a layer stopped.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The stream, the destination or an entry's name (the error says which).
    #[error(transparent)]
    Layer(Box<Error>),
    /// An entry's directory cannot be reached (the error names the entry).
    #[error(transparent)]
    Step(#[from] StepError),
    #[error("cannot read the layer tar: {0}")]
    Tar(#[source] std::io::Error),
    #[error("cannot read the layer tar after {after}: {source}")]
    TarAfter {
        after: String,
        source: std::io::Error,
    },
    #[error("the layer stream is damaged after its last entry: {0}")]
    Trailer(#[source] std::io::Error),
    #[error("entry {entry}: {why}")]
    Entry {
        entry: String,
        #[source]
        why: EntryError,
    },
}

impl From<Error> for UnpackError {
    fn from(e: Error) -> Self {
        UnpackError::Layer(Box::new(e))
    }
}

/// What is wrong with one tar entry, or what unpacking it ran into.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("bad {what}: {source}")]
    Field {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{what} {value} is out of range")]
    OutOfRange { what: &'static str, value: u64 },
    #[error("xattr name contains NUL")]
    XattrNameNul,
    #[error("symlink target contains NUL")]
    SymlinkNul,
    #[error("a {0:?} entry cannot replace the layer root")]
    ReplaceRoot(tar::EntryType),
    #[error("whiteout names no file")]
    WhiteoutNoName,
    #[error("cannot mark the directory opaque: {0}")]
    Opaque(#[source] SysError),
    #[error("cannot create the overlay whiteout: {0} (whiteouts need a user namespace or root)")]
    Whiteout(#[source] SysError),
    #[error("hardlink target: {0}")]
    LinkName(#[source] Box<Error>),
    #[error("hardlink to the layer root")]
    LinkToRoot,
    #[error("hardlink target {target}: {source}")]
    LinkPath { target: String, source: StepError },
    #[error("hardlink target {0} has not been unpacked before it")]
    LinkMissing(String),
    #[error("hardlink target {0} is a directory")]
    LinkToDir(String),
    #[error("hardlink target {target} cannot be linked: {source}")]
    Link { target: String, source: SysError },
    #[error("cannot replace the earlier entry: {0}")]
    Replace(#[source] SysError),
    #[error("cannot read its data: {0}")]
    Data(#[source] std::io::Error),
    #[error("write => {0}")]
    Write(#[source] std::io::Error),
    #[error("{0} (keeping the tar's owners needs root in a user namespace)")]
    Chown(#[source] SysError),
    #[error("xattr {name}: {source}")]
    Xattr { name: String, source: SysError },
    /// A system call on the entry (the error names it).
    #[error(transparent)]
    Sys(SysError),
}
