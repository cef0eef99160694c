//! Building images from Dockerfiles: the build context and its ignore
//! file, the plan (which stages run), cache keys, the step executors and
//! the builder that strings them together.
//!
//! Owns turning a parsed Dockerfile and a context directory into image
//! layers. It must not parse Dockerfile text (see `dockerfile`) nor write
//! to the store other than through `store::Writer`.

pub mod builder;
pub mod cache;
pub mod context;
mod error;
pub mod glob;
pub mod ignore;
pub mod imagefs;
pub mod plan;
pub mod steps;

pub use error::{Error, Result};

pub use builder::{build, build_tracked, Images, Options};
