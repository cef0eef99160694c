//! The stdin of a detached container started with `-i`: a FIFO in its
//! directory, `<state>/<id>/stdin`. The supervisor opens it read-write and
//! makes it pid 1's stdin, so a writer (`hutch attach`) can come and go
//! without the container ever reading end of file — Docker's daemon keeps
//! such a stdin open the same way. Without `-i` a detached container reads
//! /dev/null and has no FIFO.
//!
//! It does not copy anything; `attach` writes to the FIFO itself.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The FIFO's name inside the container's directory.
const FIFO: &str = "stdin";

fn path(dir: &Path) -> PathBuf {
    dir.join(FIFO)
}

/// Make (or reuse, on a later start) the FIFO in container directory `dir`
/// and open it read-write for the supervisor: pid 1's stdin.
pub fn open_for_container(dir: &Path) -> std::io::Result<OwnedFd> {
    let p = path(dir);
    match nix::unistd::mkfifo(
        &p,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    ) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(std::io::Error::from(e)),
    }
    // Anything else under that name was not made here.
    if !std::fs::symlink_metadata(&p)?.file_type().is_fifo() {
        return Err(std::io::Error::other(format!(
            "{} is not a FIFO",
            p.display()
        )));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        // O_NOCTTY: a run that detached is a session leader without a
        // terminal, which must not get one by an open.
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(&p)?;
    Ok(f.into())
}

/// Open the running container's stdin for writing; None when it has none
/// (not started with `-i`, or nothing holds it open: it is not running).
pub fn open_for_writer(dir: &Path) -> Option<std::fs::File> {
    // Non-blocking, so that a FIFO nobody reads fails (ENXIO) rather than
    // waiting for a reader; then blocking again for the copy.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path(dir))
        .ok()?;
    if !f.metadata().ok()?.file_type().is_fifo() {
        return None;
    }
    let flags = nix::fcntl::fcntl(f.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).ok()?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) & !nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(f.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags)).ok()?;
    Some(f)
}
