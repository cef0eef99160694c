//! The sandbox's error type and the exit codes it maps to (Docker's: 125 for
//! the launcher's own failures, 126 when the command cannot be executed, 127
//! when it is not found).

use super::sync::{ChildError, ChildErrorKind};
use crate::sys::SysError;
use nix::sys::wait::WaitStatus;
use std::path::PathBuf;

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
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A bind mount's source that cannot be used.
    #[error("volume source '{}' cannot be used: {source}", path.display())]
    BindSource {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A namespace of a container being joined cannot be opened.
    #[error("cannot open {path}: {source} (has the container exited?)")]
    Namespace {
        path: String,
        source: std::io::Error,
    },
    #[error("the container exited while hutch was joining it")]
    ExitedWhileJoining,
    #[error("the go-between into the container's namespaces died")]
    GoBetweenDied,
    #[error("a user-defined network needs the user namespace keeper")]
    NoKeeper,
    /// `-t` was asked for and the pty master never came (the process or
    /// the container).
    #[error("the {0} did not hand over its terminal")]
    NoTerminal(&'static str),
    #[error("unexpected wait status {0:?}")]
    WaitStatus(WaitStatus),
    /// Deleting a directory inside the container's user namespace.
    #[error("cannot remove {}: {source}", path.display())]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
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

/// A value of the container's spec that cannot be used: a mount target, a
/// tmpfs option, a capability, a user or group the image does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("container path '{0}' must be absolute")]
    RelativePath(String),
    #[error("container path '{0}' must not contain '..'")]
    ParentInPath(String),
    #[error("cannot mount over the container's root ('{0}')")]
    MountOverRoot(String),
    #[error("unknown tmpfs option '{0}'")]
    TmpfsOption(String),
    #[error("unknown capability '{0}' (see capabilities(7); e.g. NET_ADMIN or CAP_SYS_PTRACE)")]
    UnknownCapability(String),
    /// A `--cap-add`/`--cap-drop` value (the flag first).
    #[error("{0}: {1}")]
    CapFlag(&'static str, Box<SpecError>),
    #[error("unable to find user {0}: no matching entries in the image's /etc/passwd")]
    UnknownUser(String),
    #[error("unable to find group {0}: no matching entries in the image's /etc/group")]
    UnknownGroup(String),
    #[error(
        "--group-add {0}: no such group in the container's /etc/group \
         (use a number or a group the image defines)"
    )]
    UnknownExtraGroup(String),
    #[error("no command given and the image has none")]
    NoCommand,
    #[error("arguments and environment must not contain NUL bytes")]
    Nul,
    #[error("environment entry '{0}' is not KEY=VALUE")]
    EnvEntry(String),
    #[error("working directory '{0}' must be absolute")]
    RelativeCwd(String),
    #[error("invalid hostname '{0}': use at most 64 letters, digits, '-' and '.'")]
    Hostname(String),
    #[error("volume source '{}' must be an absolute path", .0.display())]
    RelativeSource(PathBuf),
    #[error("volume directory '{}' is missing", .0.display())]
    NoVolumeDir(PathBuf),
    /// A `--tmpfs` value (its target first).
    #[error("--tmpfs {0}: {1}")]
    TmpfsFlag(String, Box<SpecError>),
    #[error("overlay volume on {target}: {} must be an existing directory given by its absolute path", dir.display())]
    OverlayDir { target: String, dir: PathBuf },
    #[error("duplicate mount point /{}", .0.display())]
    DuplicateMount(PathBuf),
    #[error("an in-memory writable layer needs the native overlay driver")]
    MemoryLayerDriver,
    #[error("an in-memory writable layer needs its dirs directly in {}", .0.display())]
    MemoryLayerDirs(PathBuf),
    #[error("mount source {} lies in the directory the root filesystem is mounted over", .0.display())]
    HiddenByRoot(PathBuf),
}
