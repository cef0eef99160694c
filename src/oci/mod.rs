//! OCI plumbing that needs no store: image references and their normalisation,
//! digests, readers for the formats `hutch load` accepts, the typed image
//! config build and commit edit (`imageconfig`), image config edits
//! (`--change`) and the Docker-compatible JSON shown by `inspect`.
//!
//! Nothing here writes to the image store; callers hand results to `store`.

pub mod change;
pub mod config;
pub mod digest;
pub mod error;
pub mod imageconfig;
pub mod inspect;
pub mod reference;
pub mod source;

pub use error::{ChangeError, Error, ReferenceError, Result, SourceError};
