//! What can go wrong with user namespaces: each message names the file, the
//! tool or the call, and says what to do where there is something to do.

use crate::sys::SysError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown --userns mode '{0}': use auto, subids, single or keep-id")]
    UnknownMode(String),
    #[error("--userns=subids cannot be used: {0}")]
    NoSubIds(NoSubIds),
    #[error("cannot {action} {path}: {error}")]
    File {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{path} is not a private directory of this user (owner {owner}, mode {mode:o}); \
         remove it or set XDG_RUNTIME_DIR"
    )]
    NotPrivate {
        path: PathBuf,
        owner: u32,
        mode: u32,
    },
    #[error("{0} not found: install the 'uidmap' package or use --userns=single")]
    NoTool(&'static str),
    #[error("cannot run {path}: {error}")]
    Spawn {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("waiting for {tool}: {error}")]
    Wait {
        tool: &'static str,
        error: std::io::Error,
    },
    #[error(
        "{tool} failed: {stderr} (check the ranges in /etc/subuid and /etc/subgid, \
         or use --userns=single)"
    )]
    ToolFailed { tool: &'static str, stderr: String },
    #[error("the user-namespace keeper {0}")]
    Keeper(#[source] KeeperError),
    #[error("{0}: user namespaces are unavailable (see `hutch info`)")]
    Unshare(SysError),
    #[error(transparent)]
    Sys(#[from] SysError),
    /// What the work done inside the namespace (or the child's own set-up)
    /// reported; it comes back from the forked child as text.
    #[error("{0}")]
    Inside(String),
    #[error("user-namespace helper ended with {0:?}")]
    HelperEnded(nix::sys::wait::WaitStatus),
}

/// Why subordinate ids cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoSubIds {
    #[error("newuidmap/newgidmap not found (install the 'uidmap' package)")]
    NoTools,
    /// The /etc/subuid or /etc/subgid without a range for this user.
    #[error("no range for this user in {}", .0.display())]
    NoRange(PathBuf),
}

/// What became of the user-namespace keeper that was being started.
#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    #[error("cannot be started: {0}")]
    Start(#[source] std::io::Error),
    #[error("could not create its namespace")]
    NoNamespace,
    #[error("exited")]
    Exited,
    #[error("cannot report to its parent: {0}")]
    Report(#[source] std::io::Error),
    #[error("cannot read its own /proc entry")]
    OwnProc,
}

impl Error {
    pub(crate) fn file(
        action: &'static str,
        path: impl Into<PathBuf>,
        error: std::io::Error,
    ) -> Self {
        Error::File {
            action,
            path: path.into(),
            error,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
