//! What can go wrong reading or writing a layer: each message names the
//! entry, the directory or the stream step it is about.

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
    Unpack { dest: PathBuf, why: String },
    /// Writing the layer of `upper` stopped; `why` names the entry.
    #[error("{why}")]
    Diff { upper: PathBuf, why: String },
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
