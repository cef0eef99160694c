//! User namespaces as a service for the floors above: id mappings from
//! /etc/subuid and /etc/subgid (`idmap`), where newuidmap/newgidmap live, the
//! long-lived keeper that holds a mapped namespace (`keeper`), and "run this
//! closure as root of a user namespace with that mapping" (`run`), and
//! paths that root reaches below directories closed to it (`reach`).
//!
//! Layer unpacking, the store, rootfs probes, snapshots and the sandbox all
//! use it; it knows nothing of containers, images or the CLI.

pub mod error;
pub mod idmap;
pub mod keeper;
pub mod reach;
pub mod run;

pub use error::{Error, KeeperError, NoSubIds, Result};
pub use reach::Reach;
pub use run::run_in_userns;
