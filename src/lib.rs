//! hutch: rootless, daemonless sandboxes and dev environments.
//!
//! The binary is a thin shell over this library; see docs/ARCHITECTURE.md for
//! how data flows from images and Dockerfiles through the store into a sandbox.

pub mod build;
pub mod cli;
pub mod container;
pub mod dirs;
pub mod dockerfile;
pub mod layer;
pub mod net;
pub mod oci;
pub mod registry;
pub mod rootfs;
pub mod sandbox;
pub mod snapshot;
pub mod store;
pub mod sys;
#[cfg(test)]
mod testing;
pub mod ui;
