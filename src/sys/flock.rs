//! Advisory whole-file locks (flock(2)) on lock files.
//!
//! The store uses them to serialise index updates and to keep garbage
//! collection away from blobs that a writer is still putting in place. This
//! module only takes and releases locks; what a lock protects is the caller's
//! business.

use super::SysError;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::Path;

/// How a lock is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// A held lock; dropping it releases the lock (and closes the file).
#[derive(Debug)]
pub struct Held {
    _lock: Flock<File>,
}

fn arg(mode: Mode, wait: bool) -> FlockArg {
    match (mode, wait) {
        (Mode::Shared, true) => FlockArg::LockShared,
        (Mode::Exclusive, true) => FlockArg::LockExclusive,
        (Mode::Shared, false) => FlockArg::LockSharedNonblock,
        (Mode::Exclusive, false) => FlockArg::LockExclusiveNonblock,
    }
}

/// Open `path` (creating it) and wait for the lock.
///
/// Lock files may be unlinked by whoever holds them (scratch-dir cleanup), so
/// a lock taken on a file that has meanwhile left its path protects nothing:
/// check that the path still names the locked inode, and start again if not.
pub fn lock(path: &Path, mode: Mode) -> Result<Held, SysError> {
    loop {
        let file = open(path)?;
        let held = Flock::lock(file, arg(mode, true))
            .map(|l| Held { _lock: l })
            .map_err(|(_, e)| SysError::new(format!("flock({}, {mode:?})", path.display()), e))?;
        if still_named(&held, path) {
            return Ok(held);
        }
    }
}

/// Like [`lock`], for a lock file that only its owner creates: `Ok(None)`
/// when it does not exist, and it is never created here. A lock file inside
/// a directory that someone else deletes must not come back (the deletion
/// would then fail on a directory that is not empty).
pub fn lock_existing(path: &Path, mode: Mode) -> Result<Option<Held>, SysError> {
    loop {
        let file = match std::fs::OpenOptions::new().read(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(path, e)),
        };
        let held = Flock::lock(file, arg(mode, true))
            .map(|l| Held { _lock: l })
            .map_err(|(_, e)| SysError::new(format!("flock({}, {mode:?})", path.display()), e))?;
        if still_named(&held, path) {
            return Ok(Some(held));
        }
    }
}

/// Take the lock only if nobody holds a conflicting one. `Ok(None)` when it is
/// held elsewhere, or when the file is gone (someone else cleaned it up).
pub fn try_lock(path: &Path, mode: Mode) -> Result<Option<Held>, SysError> {
    match std::fs::OpenOptions::new().read(true).open(path) {
        Ok(f) => try_lock_open(f, path, mode),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, e)),
    }
}

/// [`try_lock`] on a directory found in a place others can write to: a
/// symbolic link is not followed and anything but a directory is refused
/// (ENOTDIR, ELOOP) before it is opened, so a FIFO put there cannot block
/// the open.
pub fn try_lock_dir(path: &Path, mode: Mode) -> Result<Option<Held>, SysError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => try_lock_open(f, path, mode),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, e)),
    }
}

fn try_lock_open(file: File, path: &Path, mode: Mode) -> Result<Option<Held>, SysError> {
    match Flock::lock(file, arg(mode, false)) {
        Ok(l) => {
            let held = Held { _lock: l };
            Ok(still_named(&held, path).then_some(held))
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(SysError::new(
            format!("flock({}, {mode:?}, nonblocking)", path.display()),
            e,
        )),
    }
}

/// Whether `path` still names the file the lock is held on.
fn still_named(held: &Held, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(ours) = held._lock.metadata() else {
        return false;
    };
    std::fs::metadata(path).is_ok_and(|m| m.dev() == ours.dev() && m.ino() == ours.ino())
}

fn open(path: &Path) -> Result<File, SysError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io_err(path, e))
}

fn io_err(path: &Path, e: std::io::Error) -> SysError {
    let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    SysError::new(format!("open({})", path.display()), errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_release_frees() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        let held = lock(&p, Mode::Exclusive).unwrap();
        assert!(try_lock(&p, Mode::Shared).unwrap().is_none());
        drop(held);
        let a = try_lock(&p, Mode::Shared).unwrap();
        assert!(a.is_some());
        assert!(try_lock(&p, Mode::Shared).unwrap().is_some());
        assert!(try_lock(&p, Mode::Exclusive).unwrap().is_none());
        assert!(try_lock(&d.path().join("missing"), Mode::Shared)
            .unwrap()
            .is_none());
        drop(a);
        let missing = d.path().join("gone");
        assert!(lock_existing(&missing, Mode::Exclusive).unwrap().is_none());
        assert!(!missing.exists(), "never created");
        assert!(lock_existing(&p, Mode::Exclusive).unwrap().is_some());
    }

    #[test]
    fn a_lock_on_an_unlinked_file_is_not_handed_out() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        let first = lock(&p, Mode::Exclusive).unwrap();
        let waiter = {
            let p = p.clone();
            std::thread::spawn(move || {
                let h = lock(&p, Mode::Exclusive).unwrap();
                assert!(still_named(&h, &p));
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        // The holder cleans up: unlink, then release.
        std::fs::remove_file(&p).unwrap();
        drop(first);
        waiter.join().unwrap();
        assert!(p.exists(), "the waiter must lock a fresh file at the path");
    }

    #[test]
    fn a_directory_lock_refuses_links_fifos_and_files_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("dir");
        std::fs::create_dir(&dir).unwrap();
        let held = try_lock_dir(&dir, Mode::Exclusive).unwrap().unwrap();
        assert!(try_lock_dir(&dir, Mode::Exclusive).unwrap().is_none());
        drop(held);
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(try_lock_dir(&link, Mode::Exclusive).is_err());
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(try_lock_dir(&fifo, Mode::Exclusive).is_err());
        let file = d.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(try_lock_dir(&file, Mode::Exclusive).is_err());
        assert!(try_lock_dir(&d.path().join("missing"), Mode::Exclusive)
            .unwrap()
            .is_none());
    }
}
