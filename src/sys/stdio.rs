//! Pointing this process's stdout somewhere else for a while, so that a
//! child it starts (which inherits fd 1) writes there: `hutch build` sends
//! RUN output to stderr (stdout carries only the image id) or, with `-q`,
//! to /dev/null. The caller must be single-threaded while the guard lives.
//! Also pointing stdio elsewhere for good, for a process that outlives its
//! caller (a keeper, a detached supervisor).

use super::SysError;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Restores the original stdout (and stderr) when dropped.
pub struct Redirect {
    saved: Vec<(RawFd, OwnedFd)>,
}

fn dup2(from: RawFd, to: RawFd) -> Result<(), SysError> {
    nix::unistd::dup2(from, to)
        .map(|_| ())
        .map_err(|e| SysError::new(format!("dup2({from}, {to})"), e))
}

fn save(fd: RawFd) -> Result<OwnedFd, SysError> {
    let copy = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))
        .map_err(|e| SysError::new(format!("fcntl({fd}, F_DUPFD_CLOEXEC)"), e))?;
    // SAFETY: fcntl just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

impl Redirect {
    /// Make fd 1 a copy of fd 2.
    pub fn stdout_to_stderr() -> Result<Redirect, SysError> {
        let saved = vec![(1, save(1)?)];
        dup2(2, 1)?;
        Ok(Redirect { saved })
    }

    /// Make fds 1 and 2 point at /dev/null.
    pub fn quiet() -> Result<Redirect, SysError> {
        use nix::fcntl::OFlag;
        let raw = nix::fcntl::open(
            "/dev/null",
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| SysError::new("open(/dev/null, O_WRONLY|O_CLOEXEC)", e))?;
        // SAFETY: open just returned this descriptor; nothing else owns it.
        let null = unsafe { OwnedFd::from_raw_fd(raw) };
        let saved = vec![(1, save(1)?), (2, save(2)?)];
        dup2(null.as_raw_fd(), 1)?;
        dup2(null.as_raw_fd(), 2)?;
        Ok(Redirect { saved })
    }
}

impl Drop for Redirect {
    fn drop(&mut self) {
        for (fd, orig) in &self.saved {
            let _ = dup2(orig.as_raw_fd(), *fd);
        }
    }
}

/// Make `to` a copy of `from` for good (dup2(2)): a process that becomes a
/// detached supervisor points its stdin, stdout and stderr elsewhere.
pub fn point(from: BorrowedFd<'_>, to: RawFd) -> Result<(), SysError> {
    dup2(from.as_raw_fd(), to)
}

/// chdir("/"): a process that outlives its caller does not keep the
/// caller's directory (a mount) busy.
pub fn leave_directory() -> Result<(), SysError> {
    nix::unistd::chdir("/").map_err(|e| SysError::new("chdir(/)", e))
}

/// Point fds 0, 1 and 2 at /dev/null for good: a process that outlives its
/// caller (the user-namespace keeper) must not hold the caller's pipes or
/// terminal.
pub fn all_to_dev_null() -> Result<(), SysError> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| {
            SysError::new(
                "open(/dev/null, O_RDWR)",
                nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        })?;
    for fd in 0..=2 {
        dup2(null.as_raw_fd(), fd)?;
    }
    Ok(())
}
