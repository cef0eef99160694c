//! What can go wrong in the build module: each message names the image, blob,
//! file or instruction it is about (the `Context` a step adds says which).

use crate::chain::Context;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A step that failed, with the Dockerfile line that asked for it.
    #[error("{file}:{line}: {instruction}: {reason}")]
    Instruction {
        file: String,
        line: usize,
        instruction: String,
        reason: String,
    },
    #[error(transparent)]
    Context(#[from] Context),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
    #[error(transparent)]
    Dockerfile(#[from] crate::dockerfile::ParseError),
    #[error(transparent)]
    Ignore(#[from] super::ignore::IgnoreFileError),
    #[error(transparent)]
    Launch(#[from] crate::container::launch::Error),
    /// What the caller's image source (a pull, usually) said, whole.
    #[error("{}", crate::chain::line(.0.as_ref()))]
    Image(crate::chain::Cause),
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
