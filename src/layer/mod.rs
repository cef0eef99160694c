//! Layers as tar streams: unpacking into a directory with OCI whiteouts turned
//! into overlay whiteouts and never writing outside the target, and diffing
//! an overlay upper directory back into a reproducible layer tar.

pub mod codec;
pub mod diff;
mod digest;
mod error;
mod names;
#[cfg(test)]
pub(crate) mod testutil;
mod tree;
pub mod unpack;
pub mod whiteout;

pub use error::{DiffError, EntryError, Error, ReadError, Result, UnpackError};
