//! Root filesystems for containers: the overlay mount (image layers as lower
//! dirs, a per-container upper) and the kernel feature probes that decide how
//! to mount it, run once per kernel and cached.
//!
//! It does not unpack layers (that is `store`/`layer`) and does not set up
//! /proc, /dev or the other mounts of a sandbox (that is `sandbox`).

pub mod overlay;
pub mod probe;
pub mod read;
pub mod resolve;
pub mod skeleton;

pub use overlay::{MountApi, Overlay};
pub use probe::Features;
