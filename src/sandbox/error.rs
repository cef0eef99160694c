//! The sandbox's error type and the exit codes it maps to (Docker's: 125 for
//! the launcher's own failures, 126 when the command cannot be executed, 127
//! when it is not found).

use super::sync::{ChildError, ChildErrorKind};
use crate::sys::SysError;

/// Exit code for failures of hutch itself.
pub const EXIT_SETUP: i32 = 125;
/// Exit code when the command exists but cannot be executed.
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit code when the command is not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// Why a container could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec asks for something impossible; found before any clone.
    #[error("{0}")]
    Invalid(String),
    /// A system call in the parent failed.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// Installing the id mapping failed.
    #[error("cannot set up the user namespace: {0}")]
    IdMap(crate::userns::Error),
    /// The child reported a failure before exec.
    #[error("{0}")]
    Child(ChildError),
    /// The network helper did not come up.
    #[error(transparent)]
    Network(#[from] crate::net::helper::HelperError),
    /// The container could not join its user-defined network.
    #[error(transparent)]
    Bridge(#[from] crate::net::bridge::BridgeError),
    /// The container's own cgroup could not be made or entered.
    #[error(transparent)]
    Cgroup(#[from] super::cgroup::CgroupError),
}

impl Error {
    /// The exit code `hutch run` reports for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Child(c) => match c.kind {
                ChildErrorKind::NotFound => EXIT_NOT_FOUND,
                ChildErrorKind::NotExecutable => EXIT_CANNOT_EXECUTE,
                ChildErrorKind::Setup => EXIT_SETUP,
            },
            _ => EXIT_SETUP,
        }
    }
}
