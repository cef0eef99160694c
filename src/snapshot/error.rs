//! What can go wrong in the snapshot module: each message names the image, blob,
//! file or instruction it is about (the `Context` a step adds says which).

use crate::chain::Context;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Docker-format images cannot have zstd layers: use --format oci, or gzip")]
    ZstdInDocker,
    #[error(transparent)]
    Context(#[from] Context),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
    #[error(transparent)]
    OciSpec(#[from] oci_spec::OciSpecError),
}

impl Error {
    /// Whether this says that an image asked for does not exist.
    pub fn is_no_such_image(&self) -> bool {
        match self {
            Error::Store(e) => e.is_no_such_image(),
            _ => false,
        }
    }

    /// The I/O error this is, when it is one (a closed pipe, say).
    pub fn io(&self) -> Option<&std::io::Error> {
        match self {
            Error::Io(e) => Some(e),
            Error::Store(e) => e.io(),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
