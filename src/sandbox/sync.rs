//! The parent/child protocol around clone: the child waits on a pipe until
//! the parent has installed its id mapping, and reports any failure before
//! exec as a typed [`ChildError`] on a close-on-exec pipe, so the parent reads
//! either one error or end-of-file (exec succeeded).
//!
//! It only moves bytes; what the steps are is `launch` and `setup`'s business.

use crate::sys::SysError;
use nix::fcntl::OFlag;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

/// What kind of failure the child hit; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChildErrorKind {
    /// Setting up the sandbox failed (mounts, ids, user lookup, ...).
    Setup,
    /// The command was not found (exit 127).
    NotFound,
    /// The command exists but could not be executed (exit 126).
    NotExecutable,
}

/// A failure inside the sandbox child, before exec.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ChildError {
    pub kind: ChildErrorKind,
    pub message: String,
}

impl ChildError {
    pub fn setup(message: impl Into<String>) -> Self {
        ChildError {
            kind: ChildErrorKind::Setup,
            message: message.into(),
        }
    }
}

impl From<SysError> for ChildError {
    fn from(e: SysError) -> Self {
        ChildError::setup(e.to_string())
    }
}

/// Both ends of a close-on-exec pipe.
pub fn pipe() -> Result<(OwnedFd, OwnedFd), SysError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| SysError::new("pipe2(O_CLOEXEC)", e))
}

/// Child side: block until the parent says go. False when the parent went
/// away instead (it reports its own error).
pub fn wait_for_go(r: OwnedFd) -> bool {
    let mut b = [0u8; 1];
    matches!(std::fs::File::from(r).read(&mut b), Ok(1))
}

/// Parent side: release the child.
pub fn send_go(w: OwnedFd) -> Result<(), SysError> {
    std::fs::File::from(w)
        .write_all(b"g")
        .map_err(|e| SysError::new("write(<sync pipe>)", errno_of(&e)))
}

/// Child side: report a failure (best effort: if the parent is gone, nobody listens).
pub fn send_error(w: &OwnedFd, err: &ChildError) {
    if let Ok(json) = serde_json::to_vec(err) {
        // Messages are far below PIPE_BUF, so one write(2) is atomic (pipe(7)).
        let _ = nix::unistd::write(w, &json);
    }
}

/// Parent side: read until end-of-file; None means the child reached exec.
pub fn read_error(r: OwnedFd) -> Option<ChildError> {
    let mut buf = Vec::new();
    let _ = std::fs::File::from(r).read_to_end(&mut buf);
    if buf.is_empty() {
        return None;
    }
    Some(serde_json::from_slice(&buf).unwrap_or_else(|_| {
        ChildError::setup(format!(
            "the sandbox child sent an unreadable error: {}",
            String::from_utf8_lossy(&buf)
        ))
    }))
}

fn errno_of(e: &std::io::Error) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
