//! Snapshots of environments: turning a container's writable layer into a new
//! image (`commit`), reading what changed (`changes`), and writing images out
//! of the store in the formats other tools read (`save`).
//!
//! This module builds on the store's writer and the layer tar code; it never
//! writes inside the store except through `store::Writer`, and it does not
//! start, stop or mount containers.

pub mod changes;
pub mod commit;
pub mod container;
mod error;
pub mod media;
pub mod output;
pub mod save;

pub use error::{Error, Result};
