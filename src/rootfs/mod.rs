//! Root filesystems for containers: the overlay mount (image layers as lower
//! dirs, a per-container upper) by native overlayfs or hutch's own FUSE
//! overlay, and the kernel feature probes that decide how to mount it, run
//! once per kernel and cached.
//!
//! It does not unpack layers (that is `store`/`layer`) and does not set up
//! /proc, /dev or the other mounts of a sandbox (that is `sandbox`).

pub mod copy;
pub mod driver;
pub mod fuse;
mod kinds;
pub mod merge;
pub mod metacopy;
pub mod overlay;
pub mod probe;
pub mod read;
pub mod resolve;
pub mod skeleton;

pub use driver::{Driver, DriverKind};
pub use overlay::{MountApi, Overlay};
pub use probe::Features;
