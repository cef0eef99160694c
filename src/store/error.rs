//! What can go wrong in the store: each message names the image, blob, file
//! or directory it is about (the `Context` a step adds says which).

use crate::chain::Context;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    NoSuchImage(#[from] super::NoSuchImage),
    /// An index entry whose manifest or config cannot be read; `hutch rmi`
    /// removes it (and, when asked for by name, loading it again restores it).
    #[error(
        "image {name} is damaged ({}): remove it with `hutch rmi {name}`{}",
        crate::chain::line(why.as_ref()),
        if *.asked { " and load it again" } else { "" }
    )]
    Damaged {
        name: String,
        #[source]
        why: Box<Error>,
        asked: bool,
    },
    #[error(transparent)]
    Context(#[from] Context),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
    #[error(transparent)]
    Oci(#[from] crate::oci::Error),
}

impl Error {
    /// Whether this says that the image asked for does not exist.
    pub fn is_no_such_image(&self) -> bool {
        matches!(self, Error::NoSuchImage(_))
    }

    /// The I/O error this is, when it is one (a closed pipe, say).
    pub fn io(&self) -> Option<&std::io::Error> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `is_no_such_image` and `io` for the error of a module above the store
/// (registry, build, snapshot) with `Store` and `Io` variants: what the CLI
/// asks of a failure for its exit code, through the module's wrapping.
macro_rules! over_store {
    ($error:ident) => {
        impl $error {
            /// Whether this says that an image asked for does not exist.
            pub fn is_no_such_image(&self) -> bool {
                match self {
                    $error::Store(e) => e.is_no_such_image(),
                    _ => false,
                }
            }

            /// The I/O error this is, when it is one (a closed pipe, say).
            pub fn io(&self) -> Option<&std::io::Error> {
                match self {
                    $error::Io(e) => Some(e),
                    $error::Store(e) => e.io(),
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use over_store;
