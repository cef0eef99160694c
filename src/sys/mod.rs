//! The only layer with `unsafe` and raw system calls. Each wrapper says why it
//! is sound and returns errors that name the call and its arguments, in the
//! form `mount(<args>) => EPERM`.
//!
//! Nothing here decides policy (which mounts, which ids): that is `sandbox`'s job.

pub mod caps;
pub mod cred;
pub mod entry;
pub mod flock;
pub mod fsat;
pub mod fuse;
pub mod math;
pub mod mount;
pub mod net;
pub mod process;
pub mod pty;
pub mod seccomp;
pub mod signal;
pub mod spawn;
pub mod splice;
pub mod stdio;
pub mod term;

/// A failed system call, named with its arguments.
#[derive(Debug, thiserror::Error)]
#[error("{call} => {errno}")]
pub struct SysError {
    pub call: String,
    pub errno: nix::errno::Errno,
}

impl SysError {
    pub fn new(call: impl Into<String>, errno: nix::errno::Errno) -> Self {
        SysError {
            call: call.into(),
            errno,
        }
    }
}

/// Shorthand for wrapping a nix result with the call's description.
pub trait Ctx<T> {
    fn ctx(self, call: impl FnOnce() -> String) -> Result<T, SysError>;
}

impl<T> Ctx<T> for nix::Result<T> {
    fn ctx(self, call: impl FnOnce() -> String) -> Result<T, SysError> {
        self.map_err(|e| SysError::new(call(), e))
    }
}
