//! hutch: rootless, daemonless sandboxes and dev environments.
//!
//! The binary is a thin shell over this library; see docs/ARCHITECTURE.md for
//! how data flows from images and Dockerfiles through the store into a sandbox.
//! Modules import only from floors below their own (the table there; a test
//! in tests/it/floors.rs enforces it).

// Unsafe code and raw credential, exec, namespace and mount calls live in
// `sys` only, each wrapper saying why it is sound (clippy.toml names the
// calls).
#![deny(unsafe_code)]

pub mod build;
pub mod chain;
pub mod cli;
pub mod container;
pub mod dirs;
pub mod dockerfile;
pub mod fault;
pub mod layer;
pub mod modes;
pub mod named;
pub mod net;
pub mod oci;
pub mod procid;
pub mod project;
pub mod registry;
pub mod report;
pub mod rootfs;
pub mod sandbox;
pub mod snapshot;
pub mod store;
#[allow(unsafe_code, clippy::disallowed_methods)]
pub mod sys;
#[cfg(test)]
mod testing;
pub mod ui;
pub mod userns;
pub mod volume;
