//! What hutch's FUSE overlay needs from the kernel: opening `/dev/fuse` and
//! mounting it without the fusermount helper, and the descriptor-relative
//! file operations the server performs on its layer directories.
//!
//! The server answers kernel requests with an errno, so the file operations
//! here return a bare [`Errno`]; only the mount, which hutch itself reports,
//! returns a [`SysError`] naming the call. Every operation takes a directory
//! descriptor and a single name and never follows a symlink in it: the
//! upper dir is written by the container, and a path walked by the kernel
//! could be led out of the layers.

use super::SysError;
use nix::errno::Errno;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// A full `struct stat`, as the server reports attributes from it.
pub type Stat = libc::stat;

fn ret(r: libc::c_int) -> Result<libc::c_int, Errno> {
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

fn ret_size(r: libc::ssize_t) -> Result<usize, Errno> {
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as usize)
    }
}

/// Open `/dev/fuse` read-write, close-on-exec.
pub fn open_dev_fuse(dev: &Path) -> Result<OwnedFd, SysError> {
    let c = CString::new(dev.as_os_str().as_encoded_bytes())
        .map_err(|_| SysError::new(format!("open({})", dev.display()), Errno::EINVAL))?;
    // SAFETY: `c` is NUL-terminated; the returned descriptor is owned below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(SysError::new(
            format!("open({}, O_RDWR)", dev.display()),
            Errno::last(),
        ));
    }
    // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// mount(2) a FUSE filesystem served through `fd` on `target`. `uid`/`gid`
/// are the mounter's ids in its own user namespace (the kernel only lets
/// that user, or everyone with `allow_other`, use the mount).
pub fn mount_fuse(
    fd: BorrowedFd<'_>,
    target: &Path,
    source: &str,
    uid: u32,
    gid: u32,
    options: &str,
) -> Result<(), SysError> {
    let data = format!(
        "fd={},rootmode=40000,user_id={uid},group_id={gid}{}{options}",
        fd.as_raw_fd(),
        if options.is_empty() { "" } else { "," }
    );
    super::mount::mount(
        Some(source),
        target,
        Some("fuse.hutch"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some(&data),
    )
}

/// Raise the soft limit on open descriptors to the hard limit: the server
/// keeps one descriptor per inode the kernel remembers.
pub fn raise_nofile_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Clear this process's umask. Each request brings the container's umask,
/// which the server applies itself; the kernel would otherwise strip the
/// modes again with the umask the server inherited from whoever ran hutch.
/// The umask is process-wide: only for a process that serves and nothing
/// else.
pub fn clear_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
}

/// fstatat(2) without following a symlink. An empty `name` stats `dir` itself.
pub fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<Stat, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    let flags = if name.is_empty() {
        libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH
    } else {
        libc::AT_SYMLINK_NOFOLLOW
    };
    // SAFETY: `st` is a valid out-pointer for one struct stat; `name` is NUL-terminated.
    ret(unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), flags) })?;
    // SAFETY: fstatat succeeded, so it filled the whole struct.
    Ok(unsafe { st.assume_init() })
}

/// openat(2) of one name, never following a symlink in it.
pub fn open_at(dir: BorrowedFd<'_>, name: &CStr, flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: `name` is NUL-terminated; the descriptor is owned below.
    let fd = ret(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: `fd` was just returned by openat(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An O_PATH descriptor for one name (any file type, symlinks not followed).
pub fn path_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, Errno> {
    open_at(dir, name, libc::O_PATH, 0)
}

/// Reopen an O_PATH descriptor with real access `flags`, through the
/// `/proc` directory `proc`: Linux has no other way to turn an O_PATH
/// descriptor into an open file.
pub fn reopen(proc: BorrowedFd<'_>, fd: BorrowedFd<'_>, flags: i32) -> Result<OwnedFd, Errno> {
    let name = CString::new(format!("self/fd/{}", fd.as_raw_fd())).map_err(|_| Errno::EINVAL)?;
    // Not `open_at`: O_NOFOLLOW would refuse the magic link itself.
    // SAFETY: `name` is NUL-terminated; the descriptor is owned below.
    let fd = ret(unsafe {
        libc::openat(
            proc.as_raw_fd(),
            name.as_ptr(),
            (flags & !libc::O_NOFOLLOW) | libc::O_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: `fd` was just returned by openat(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An unnamed regular file in `dir` (O_TMPFILE), to be linked in with
/// [`link_tmpfile`] once complete.
pub fn tmpfile_in(dir: BorrowedFd<'_>, mode: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: "." is NUL-terminated; the descriptor is owned below.
    let fd = ret(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c".".as_ptr(),
            libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: `fd` was just returned by openat(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Give an O_TMPFILE file the name `name` in `dir` (linkat(2) through /proc,
/// which needs no capability, unlike AT_EMPTY_PATH).
pub fn link_tmpfile(
    proc: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &CStr,
) -> Result<(), Errno> {
    let from = CString::new(format!("self/fd/{}", file.as_raw_fd())).map_err(|_| Errno::EINVAL)?;
    // SAFETY: both names are NUL-terminated.
    ret(unsafe {
        libc::linkat(
            proc.as_raw_fd(),
            from.as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    })
    .map(drop)
}

/// mkdirat(2).
pub fn mkdir_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated.
    ret(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// mknodat(2); `mode` includes the file type.
pub fn mknod_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32, rdev: u64) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated.
    ret(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t, rdev) })
        .map(drop)
}

/// symlinkat(2).
pub fn symlink_at(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    // SAFETY: both strings are NUL-terminated.
    ret(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// linkat(2) without following a symlink.
pub fn link_at(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<(), Errno> {
    // SAFETY: both names are NUL-terminated.
    ret(unsafe {
        libc::linkat(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// unlinkat(2); `dir_entry` removes a directory.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &CStr, dir_entry: bool) -> Result<(), Errno> {
    let flags = if dir_entry { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: `name` is NUL-terminated.
    ret(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// renameat2(2) with `flags` (RENAME_NOREPLACE, RENAME_EXCHANGE).
pub fn rename_at(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
    flags: u32,
) -> Result<(), Errno> {
    // SAFETY: both names are NUL-terminated.
    ret(unsafe {
        libc::renameat2(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
            flags,
        )
    })
    .map(drop)
}

/// readlinkat(2), bounded to PATH_MAX.
pub fn readlink_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` is writable for its length; `name` is NUL-terminated.
    let n = ret_size(unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    })?;
    buf.truncate(n);
    Ok(buf)
}

/// fchownat(2) with AT_SYMLINK_NOFOLLOW; an empty `name` changes `dir`
/// itself (AT_EMPTY_PATH works on O_PATH descriptors).
pub fn chown_at(dir: BorrowedFd<'_>, name: &CStr, uid: u32, gid: u32) -> Result<(), Errno> {
    let flags = if name.is_empty() {
        libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH
    } else {
        libc::AT_SYMLINK_NOFOLLOW
    };
    // SAFETY: `name` is NUL-terminated.
    ret(unsafe { libc::fchownat(dir.as_raw_fd(), name.as_ptr(), uid, gid, flags) }).map(drop)
}

/// fchmod(2) on an open (not O_PATH) descriptor.
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    ret(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// chmod(2) of the inode an O_PATH descriptor `fd` holds, through its
/// `/proc` link under `proc`: a fifo, socket or device, which cannot be
/// opened for fchmod without side effects (a device may do anything) and
/// may have no name left. The link leads to the inode itself, whatever now
/// stands at its old name. A symlink is refused with EOPNOTSUPP, as
/// fchmodat2(AT_SYMLINK_NOFOLLOW) refuses it: the /proc link of an O_PATH
/// symlink leads to the symlink itself, and what chmod does to one depends
/// on the kernel (Linux 6.18 fails with EOPNOTSUPP; older kernels changed
/// the link's own mode, as glibc's fchmodat notes).
pub fn chmod_fd(proc: BorrowedFd<'_>, fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
    // The descriptor holds the inode, so its type cannot change after this.
    if stat_at(fd, c"")?.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(Errno::EOPNOTSUPP);
    }
    let name = CString::new(format!("self/fd/{}", fd.as_raw_fd())).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `name` is NUL-terminated.
    ret(unsafe { libc::fchmodat(proc.as_raw_fd(), name.as_ptr(), mode as libc::mode_t, 0) })
        .map(drop)
}

/// A time for [`utimens_at`]: seconds and nanoseconds, or "now", or "leave".
#[derive(Debug, Clone, Copy)]
pub enum Time {
    At(i64, i64),
    Now,
    Omit,
}

fn timespec(t: Time) -> libc::timespec {
    match t {
        Time::At(s, n) => libc::timespec {
            tv_sec: s,
            tv_nsec: n,
        },
        Time::Now => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Time::Omit => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
    }
}

/// utimensat(2) of one name, without following a symlink; an empty `name`
/// changes `dir` itself (AT_EMPTY_PATH works on O_PATH descriptors, of a
/// symlink or socket too, which cannot be opened for futimens).
pub fn utimens_at(dir: BorrowedFd<'_>, name: &CStr, atime: Time, mtime: Time) -> Result<(), Errno> {
    let ts = [timespec(atime), timespec(mtime)];
    let flags = if name.is_empty() {
        libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH
    } else {
        libc::AT_SYMLINK_NOFOLLOW
    };
    // SAFETY: `ts` holds two timespecs; `name` is NUL-terminated.
    ret(unsafe { libc::utimensat(dir.as_raw_fd(), name.as_ptr(), ts.as_ptr(), flags) }).map(drop)
}

/// futimens(2) on an open descriptor.
pub fn futimens(fd: BorrowedFd<'_>, atime: Time, mtime: Time) -> Result<(), Errno> {
    let ts = [timespec(atime), timespec(mtime)];
    // SAFETY: `ts` holds two timespecs.
    ret(unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) }).map(drop)
}

/// ftruncate(2).
pub fn ftruncate(fd: BorrowedFd<'_>, size: u64) -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    ret(unsafe { libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) }).map(drop)
}

/// pread(2) into `buf`; the number of bytes read.
pub fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    // SAFETY: `buf` is writable for its length.
    ret_size(unsafe {
        libc::pread(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            offset as libc::off_t,
        )
    })
}

/// pwrite(2) of `buf`; the number of bytes written.
pub fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> Result<usize, Errno> {
    // SAFETY: `buf` is readable for its length.
    ret_size(unsafe {
        libc::pwrite(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            offset as libc::off_t,
        )
    })
}

/// Copy all of `from` into `to` (both open, `to` empty): copy_file_range(2),
/// which shares extents where the filesystem can, else plain reads and writes.
pub fn copy_all(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: u64) -> Result<(), Errno> {
    let mut done: u64 = 0;
    while done < len {
        let chunk = (len - done).min(1 << 30) as usize;
        // SAFETY: null offsets use and advance the descriptors' own positions.
        let n = unsafe {
            libc::copy_file_range(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                to.as_raw_fd(),
                std::ptr::null_mut(),
                chunk,
                0,
            )
        };
        if n < 0 {
            let e = Errno::last();
            if matches!(
                e,
                Errno::EXDEV | Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP
            ) {
                return copy_plain(from, to, done, len);
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        done += n as u64;
    }
    Ok(())
}

fn copy_plain(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    mut at: u64,
    len: u64,
) -> Result<(), Errno> {
    let mut buf = vec![0u8; 1 << 20];
    while at < len {
        let n = pread(from, &mut buf, at)?;
        if n == 0 {
            break;
        }
        let mut w = 0;
        while w < n {
            w += pwrite(to, &buf[w..n], at + w as u64)?;
        }
        at += n as u64;
    }
    Ok(())
}

/// fsync(2) or fdatasync(2).
pub fn fsync(fd: BorrowedFd<'_>, data_only: bool) -> Result<(), Errno> {
    // SAFETY: plain integer argument.
    ret(unsafe {
        if data_only {
            libc::fdatasync(fd.as_raw_fd())
        } else {
            libc::fsync(fd.as_raw_fd())
        }
    })
    .map(drop)
}

/// fstatvfs(2).
pub fn statvfs(fd: BorrowedFd<'_>) -> Result<libc::statvfs, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `st` is a valid out-pointer for one struct statvfs.
    ret(unsafe { libc::fstatvfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatvfs succeeded, so it filled the whole struct.
    Ok(unsafe { st.assume_init() })
}

/// Call `get(buf, len)` (an xattr call that fills `buf`, or with a null
/// buffer returns the size needed) until the value fits.
fn sized(mut get: impl FnMut(*mut libc::c_void, usize) -> libc::ssize_t) -> Result<Vec<u8>, Errno> {
    loop {
        let len = ret_size(get(std::ptr::null_mut(), 0))?;
        let mut buf = vec![0u8; len];
        match ret_size(get(buf.as_mut_ptr().cast(), buf.len())) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            // Grew between the two calls: ask again.
            Err(Errno::ERANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// fgetxattr(2): the whole value, or ENODATA.
pub fn fgetxattr(fd: BorrowedFd<'_>, key: &CStr) -> Result<Vec<u8>, Errno> {
    // SAFETY: `sized` passes a buffer writable for `len` bytes, or null
    // with 0; `key` is NUL-terminated.
    sized(|buf, len| unsafe { libc::fgetxattr(fd.as_raw_fd(), key.as_ptr(), buf, len) })
}

/// flistxattr(2): the NUL-separated key list.
pub fn flistxattr(fd: BorrowedFd<'_>) -> Result<Vec<u8>, Errno> {
    // SAFETY: as in `fgetxattr`.
    sized(|buf, len| unsafe { libc::flistxattr(fd.as_raw_fd(), buf.cast(), len) })
}

/// fsetxattr(2) with `flags` (XATTR_CREATE, XATTR_REPLACE).
pub fn fsetxattr(fd: BorrowedFd<'_>, key: &CStr, value: &[u8], flags: i32) -> Result<(), Errno> {
    // SAFETY: `value` is readable for its length; `key` is NUL-terminated.
    ret(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            flags,
        )
    })
    .map(drop)
}

/// fremovexattr(2).
pub fn fremovexattr(fd: BorrowedFd<'_>, key: &CStr) -> Result<(), Errno> {
    // SAFETY: `key` is NUL-terminated.
    ret(unsafe { libc::fremovexattr(fd.as_raw_fd(), key.as_ptr()) }).map(drop)
}

/// One directory entry as getdents64(2) returns it.
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: CString,
    pub ino: u64,
    /// `DT_*`.
    pub kind: u8,
}

/// Every entry of the directory `dir` (an O_PATH descriptor is fine) except
/// `.` and `..`, in one pass of getdents64(2) calls.
pub fn read_dir(dir: BorrowedFd<'_>) -> Result<Vec<DirEntry>, Errno> {
    let fd = open_at(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let raw: RawFd = fd.as_raw_fd();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: `buf` is writable for its length; getdents64 fills it with
        // whole `linux_dirent64` records.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, raw, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            return Err(Errno::last());
        }
        if n == 0 {
            return Ok(out);
        }
        let mut at = 0usize;
        while at < n as usize {
            // linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
            let ino = u64::from_ne_bytes(buf[at..at + 8].try_into().unwrap_or_default());
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            let kind = buf[at + 18];
            let name_bytes = &buf[at + 19..at + reclen];
            let end = name_bytes
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(name_bytes.len());
            let name = &name_bytes[..end];
            if name != b"." && name != b".." {
                if let Ok(name) = CString::new(name) {
                    out.push(DirEntry { name, ino, kind });
                }
            }
            if reclen == 0 {
                return Err(Errno::EIO);
            }
            at += reclen;
        }
    }
}

/// fallocate(2).
pub fn fallocate(fd: BorrowedFd<'_>, mode: i32, offset: u64, len: u64) -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    ret(unsafe {
        libc::fallocate(
            fd.as_raw_fd(),
            mode,
            offset as libc::off_t,
            len as libc::off_t,
        )
    })
    .map(drop)
}

/// An O_PATH descriptor for a directory given by a full path (the caller's
/// own layer and state directories, before pivot_root).
pub fn open_path(p: &Path) -> Result<OwnedFd, SysError> {
    let c = CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| SysError::new(format!("open({})", p.display()), Errno::EINVAL))?;
    // SAFETY: `c` is NUL-terminated; the descriptor is owned below.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(SysError::new(
            format!("open({}, O_PATH|O_DIRECTORY)", p.display()),
            Errno::last(),
        ));
    }
    // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
