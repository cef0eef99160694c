//! Who a process is and what it runs: the credential, exec and
//! namespace-entry calls. nix already makes them safe functions; they are
//! wrapped here (same signatures) so that every call that changes a
//! process's identity sits in `sys`, where it can be audited in one place.
//! clippy.toml forbids the nix originals everywhere else.

use nix::sched::CloneFlags;
use nix::unistd::{Gid, Uid};
use std::convert::Infallible;
use std::ffi::CStr;

/// setresuid(2).
pub fn setresuid(ruid: Uid, euid: Uid, suid: Uid) -> nix::Result<()> {
    nix::unistd::setresuid(ruid, euid, suid)
}

/// setresgid(2).
pub fn setresgid(rgid: Gid, egid: Gid, sgid: Gid) -> nix::Result<()> {
    nix::unistd::setresgid(rgid, egid, sgid)
}

/// setgroups(2).
pub fn setgroups(groups: &[Gid]) -> nix::Result<()> {
    nix::unistd::setgroups(groups)
}

/// execve(2): returns only on failure.
pub fn execve<SA: AsRef<CStr>, SE: AsRef<CStr>>(
    path: &CStr,
    args: &[SA],
    env: &[SE],
) -> nix::Result<Infallible> {
    nix::unistd::execve(path, args, env)
}

/// unshare(2).
pub fn unshare(flags: CloneFlags) -> nix::Result<()> {
    nix::sched::unshare(flags)
}
