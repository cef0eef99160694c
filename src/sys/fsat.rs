//! Directory-relative file operations (`*at` calls on an open directory fd).
//!
//! Layer unpacking and diffing resolve every path one component at a time from
//! an open directory, never through a path string the kernel would walk (and
//! whose symlinks it would follow). These wrappers are the only place those
//! calls are made. Most take a single name (no `/`) relative to a directory
//! descriptor and never follow a symlink in the last component; the others
//! say what they take: the openat2 lookups a relative path the kernel keeps
//! beneath (or, following links, inside) the directory, and a few a full
//! path the caller trusts (its own root, two files to swap).
//!
//! Errors name the call and its arguments; callers add which file or layer
//! entry it was for. Nothing here decides what to create or remove.

use super::SysError;
use nix::errno::Errno;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The kind of an inode, from `st_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Char,
    Block,
    Fifo,
    Socket,
}

/// The parts of `lstat` that layers care about.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub mtime_sec: i64,
    pub mtime_nsec: i64,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
}

fn check(ret: libc::c_int, call: impl FnOnce() -> String) -> Result<libc::c_int, SysError> {
    if ret == -1 {
        Err(SysError::new(call(), Errno::last()))
    } else {
        Ok(ret)
    }
}

fn check_size(ret: libc::ssize_t, call: impl FnOnce() -> String) -> Result<usize, SysError> {
    if ret < 0 {
        Err(SysError::new(call(), Errno::last()))
    } else {
        Ok(ret as usize)
    }
}

fn fd_of(dir: BorrowedFd<'_>) -> libc::c_int {
    dir.as_raw_fd()
}

/// Open a directory by a full path (the caller's own root, e.g. a layer's
/// destination; it may itself be reached through symlinks the caller trusts).
pub fn open_dir(path: &Path) -> Result<OwnedFd, SysError> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SysError::new(format!("open({path:?})"), Errno::EINVAL))?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: `c` is a valid NUL-terminated string; open only reads it.
    let fd = check(unsafe { libc::open(c.as_ptr(), flags) }, || {
        format!("open({path:?}, O_DIRECTORY)")
    })?;
    // SAFETY: open just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open the directory `name` inside `dir`, refusing symlinks (`ELOOP`) and
/// non-directories (`ENOTDIR`).
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, SysError> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated and `dir` is an open fd for the call's duration.
    let fd = check(
        unsafe { libc::openat(fd_of(dir), name.as_ptr(), flags) },
        || format!("openat({}, {name:?}, O_DIRECTORY|O_NOFOLLOW)", fd_of(dir)),
    )?;
    // SAFETY: openat just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open the directory at the host path `path` (its last component a
/// directory, not a symlink to one: `ELOOP` or `ENOTDIR` then); the
/// components above it are the caller's to trust.
pub fn open_dir_nofollow(path: &Path) -> Result<OwnedFd, SysError> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SysError::new(format!("open({path:?})"), Errno::EINVAL))?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `c` is a valid NUL-terminated string; open only reads it.
    let fd = check(unsafe { libc::open(c.as_ptr(), flags) }, || {
        format!("open({path:?}, O_DIRECTORY|O_NOFOLLOW)")
    })?;
    // SAFETY: open just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An O_PATH descriptor of the relative path `path` below `dir`, found
/// with no symbolic link on the way (openat2(2) with `RESOLVE_NO_SYMLINKS`
/// and `RESOLVE_BENEATH`: `ELOOP` for a link above the last component, `..`
/// refused); a link as the last component is opened as itself.
pub fn open_path_beneath(dir: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, SysError> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SysError::new(format!("openat2({path:?})"), Errno::EINVAL))?;
    let mut how: libc::open_how = zeroed_open_how();
    how.flags = (libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_BENEATH;
    // SAFETY: `c` is NUL-terminated, `how` is a fully initialised open_how
    // whose size is passed with it; the kernel only reads both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            fd_of(dir),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    let fd = check(ret as libc::c_int, || {
        format!("openat2({}, {path:?}, RESOLVE_NO_SYMLINKS)", fd_of(dir))
    })?;
    // SAFETY: openat2 just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// fstat(2) of an open descriptor (an O_PATH one too).
pub fn fstat(fd: BorrowedFd<'_>) -> Result<Stat, SysError> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is a valid out-pointer for one struct stat.
    check(unsafe { libc::fstat(fd_of(fd), st.as_mut_ptr()) }, || {
        format!("fstat({})", fd_of(fd))
    })?;
    // SAFETY: fstat succeeded, so it filled the whole struct.
    Ok(to_stat(unsafe { &st.assume_init() }))
}

/// The entries of the open directory `dir` whose names `keep` accepts,
/// with their kinds as getdents64(2) reports them (`None` where the file
/// system does not), read from its current position to the end: the
/// calls the directory's size needs (two for a small one), where
/// opendir(3) adds an fstat.
pub fn entries(
    dir: BorrowedFd<'_>,
    keep: impl Fn(&OsStr) -> bool,
) -> Result<Vec<(OsString, Option<Kind>)>, SysError> {
    let mut buf = vec![0u8; 8192];
    let mut out = Vec::new();
    loop {
        // SAFETY: `buf` is writable for its whole length, which is passed
        // with it; getdents64 writes at most that many bytes.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd_of(dir),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        let n = check_size(n as libc::ssize_t, || format!("getdents64({})", fd_of(dir)))?;
        if n == 0 {
            return Ok(out);
        }
        let got = buf
            .get(..n)
            .ok_or(0)
            .and_then(|got| records(got, &keep, &mut out));
        if let Err(at) = got {
            return Err(SysError::new(
                format!("getdents64({}): a record at byte {at} of {n}", fd_of(dir)),
                Errno::EIO,
            ));
        }
    }
}

/// The records of one getdents64(2) answer, `got` (the bytes the kernel
/// said it wrote), that `keep` accepts, added to `out`. A record running
/// past `got`'s end, or a tail too short for one, is a broken answer,
/// not a name to skip: `Err` with the offset where it starts.
fn records(
    got: &[u8],
    keep: impl Fn(&OsStr) -> bool,
    out: &mut Vec<(OsString, Option<Kind>)>,
) -> Result<(), usize> {
    // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type
    // (1), then the NUL-terminated name.
    let mut at = 0;
    while at < got.len() {
        let rec = got
            .get(at + 16..at + 18)
            .map(|l| u16::from_ne_bytes([l[0], l[1]]) as usize)
            .filter(|&len| len > 19)
            .and_then(|len| got.get(at..at + len))
            .ok_or(at)?;
        let name = &rec[19..];
        let name =
            OsStr::from_bytes(&name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())]);
        if keep(name) {
            let kind = match rec[18] {
                libc::DT_DIR => Some(Kind::Dir),
                libc::DT_LNK => Some(Kind::Symlink),
                libc::DT_REG => Some(Kind::File),
                libc::DT_CHR => Some(Kind::Char),
                libc::DT_BLK => Some(Kind::Block),
                libc::DT_FIFO => Some(Kind::Fifo),
                libc::DT_SOCK => Some(Kind::Socket),
                _ => None,
            };
            out.push((name.to_os_string(), kind));
        }
        at += rec.len();
    }
    Ok(())
}

/// Create a new regular file `name` in `dir` for writing (mode 0600 until the
/// caller sets the real one). Fails with `EEXIST` rather than reuse anything.
pub fn create_file_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<File, SysError> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated; the mode argument is read as an int.
    let fd = check(
        unsafe { libc::openat(fd_of(dir), name.as_ptr(), flags, 0o600 as libc::c_uint) },
        || format!("openat({}, {name:?}, O_CREAT|O_EXCL, 0600)", fd_of(dir)),
    )?;
    // SAFETY: openat just returned this fd and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Open the regular file `name` in `dir` for reading, refusing symlinks.
/// `O_NONBLOCK` keeps a FIFO swapped in since the caller's lstat from
/// blocking the open; the caller checks what it opened.
pub fn open_file_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<File, SysError> {
    let flags =
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;
    // SAFETY: `name` is NUL-terminated and `dir` is open for the call's duration.
    let fd = check(
        unsafe { libc::openat(fd_of(dir), name.as_ptr(), flags) },
        || format!("openat({}, {name:?}, O_RDONLY|O_NOFOLLOW)", fd_of(dir)),
    )?;
    // SAFETY: openat just returned this fd and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Open the file at the relative path `path` for reading as if `root` were
/// `/` (openat2(2) with `RESOLVE_IN_ROOT`): symlinks and `..` never leave
/// `root`, and magic links (`/proc/self/fd/N`) are refused. `O_NONBLOCK`
/// keeps a FIFO from blocking the open; the caller checks the file's kind.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path) -> Result<File, SysError> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SysError::new(format!("openat2({path:?})"), Errno::EINVAL))?;
    let mut how: libc::open_how = zeroed_open_how();
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `c` is NUL-terminated, `how` is a fully initialised open_how
    // whose size is passed with it; the kernel only reads both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            fd_of(root),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    let fd = check(ret as libc::c_int, || {
        format!("openat2({}, {path:?}, RESOLVE_IN_ROOT)", fd_of(root))
    })?;
    // SAFETY: openat2 just returned this fd and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn zeroed_open_how() -> libc::open_how {
    // SAFETY: open_how is plain integers; all-zero is its documented default.
    unsafe { std::mem::zeroed() }
}

/// mkdirat(2).
pub fn mkdir_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<(), SysError> {
    // SAFETY: `name` is NUL-terminated and `dir` is open for the call's duration.
    check(
        unsafe { libc::mkdirat(fd_of(dir), name.as_ptr(), mode as libc::mode_t) },
        || format!("mkdirat({}, {name:?}, {mode:04o})", fd_of(dir)),
    )
    .map(drop)
}

/// mknodat(2) for a device or fifo; `kind` must be Char, Block or Fifo.
pub fn mknod_at(
    dir: BorrowedFd<'_>,
    name: &CStr,
    kind: Kind,
    mode: u32,
    major: u32,
    minor: u32,
) -> Result<(), SysError> {
    let (fmt, letter) = match kind {
        Kind::Char => (libc::S_IFCHR, 'c'),
        Kind::Block => (libc::S_IFBLK, 'b'),
        Kind::Fifo => (libc::S_IFIFO, 'p'),
        other => {
            return Err(SysError::new(
                format!("mknodat({}, {name:?}, {other:?})", fd_of(dir)),
                Errno::EINVAL,
            ))
        }
    };
    let dev = libc::makedev(major, minor);
    let full = fmt | (mode & 0o7777) as libc::mode_t;
    // SAFETY: `name` is NUL-terminated and `dir` is open for the call's duration.
    check(
        unsafe { libc::mknodat(fd_of(dir), name.as_ptr(), full, dev) },
        || {
            format!(
                "mknodat({}, {name:?}, {letter} {major}:{minor}, {mode:04o})",
                fd_of(dir)
            )
        },
    )
    .map(drop)
}

/// symlinkat(2): store `target` verbatim as the link's contents.
pub fn symlink_at(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> Result<(), SysError> {
    // SAFETY: both strings are NUL-terminated; `dir` is open for the call's duration.
    check(
        unsafe { libc::symlinkat(target.as_ptr(), fd_of(dir), name.as_ptr()) },
        || format!("symlinkat({target:?}, {}, {name:?})", fd_of(dir)),
    )
    .map(drop)
}

/// linkat(2) without following a symlink in `old_name` (the link names the
/// symlink itself, as tar hardlinks mean).
pub fn link_at(
    old_dir: BorrowedFd<'_>,
    old_name: &CStr,
    new_dir: BorrowedFd<'_>,
    new_name: &CStr,
) -> Result<(), SysError> {
    // SAFETY: both names are NUL-terminated; both fds are open for the call's duration.
    let ret = unsafe {
        libc::linkat(
            fd_of(old_dir),
            old_name.as_ptr(),
            fd_of(new_dir),
            new_name.as_ptr(),
            0,
        )
    };
    check(ret, || {
        format!(
            "linkat({}, {old_name:?}, {}, {new_name:?})",
            fd_of(old_dir),
            fd_of(new_dir)
        )
    })
    .map(drop)
}

/// renameat2(2) with `RENAME_EXCHANGE` on two full paths (as `open_dir`
/// takes one): `a` and `b` swap names in one step, so a reader opening
/// either path finds one of the two files whole at every moment, as with
/// a rename over it; unlike that rename, it never makes ext4 write out
/// the file it puts in place (`auto_da_alloc` does for a rename that
/// replaces a file). Both must exist; a filesystem without the flag says
/// `EINVAL`.
pub fn exchange(a: &Path, b: &Path) -> Result<(), SysError> {
    let call = || format!("renameat2({a:?}, {b:?}, RENAME_EXCHANGE)");
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|_| SysError::new(call(), Errno::EINVAL))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: AT_FDCWD is not a descriptor to keep open but the value every
    // *at call reads as "the working directory"; the borrow only passes it on.
    let cwd = unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };
    super::fuse::rename_at(cwd, &ca, cwd, &cb, libc::RENAME_EXCHANGE)
        .map_err(|e| SysError::new(call(), e))
}

/// unlinkat(2); `is_dir` removes an (empty) directory.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &CStr, is_dir: bool) -> Result<(), SysError> {
    let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: `name` is NUL-terminated and `dir` is open for the call's duration.
    check(
        unsafe { libc::unlinkat(fd_of(dir), name.as_ptr(), flags) },
        || {
            let what = if is_dir { ", AT_REMOVEDIR" } else { "" };
            format!("unlinkat({}, {name:?}{what})", fd_of(dir))
        },
    )
    .map(drop)
}

fn to_stat(st: &libc::stat) -> Stat {
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink,
        libc::S_IFCHR => Kind::Char,
        libc::S_IFBLK => Kind::Block,
        libc::S_IFIFO => Kind::Fifo,
        libc::S_IFSOCK => Kind::Socket,
        _ => Kind::File,
    };
    Stat {
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        size: st.st_size as u64,
        rdev_major: libc::major(st.st_rdev),
        rdev_minor: libc::minor(st.st_rdev),
        mtime_sec: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec,
        dev: st.st_dev,
        ino: st.st_ino,
        nlink: st.st_nlink,
    }
}

/// fstatat(2) without following a symlink; `Ok(None)` when `name` does not exist.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<Option<Stat>, SysError> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is a valid out-pointer for one struct stat; `name` is NUL-terminated.
    let ret = unsafe {
        libc::fstatat(
            fd_of(dir),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if ret == -1 {
        let e = Errno::last();
        if e == Errno::ENOENT {
            return Ok(None);
        }
        return Err(SysError::new(
            format!("fstatat({}, {name:?})", fd_of(dir)),
            e,
        ));
    }
    // SAFETY: fstatat succeeded, so it filled the whole struct.
    Ok(Some(to_stat(unsafe { &st.assume_init() })))
}

/// fchownat(2) with `AT_SYMLINK_NOFOLLOW` (changes a symlink itself).
pub fn chown_at(dir: BorrowedFd<'_>, name: &CStr, uid: u32, gid: u32) -> Result<(), SysError> {
    // SAFETY: `name` is NUL-terminated and `dir` is open for the call's duration.
    let ret = unsafe {
        libc::fchownat(
            fd_of(dir),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    check(ret, || {
        format!("fchownat({}, {name:?}, {uid}, {gid})", fd_of(dir))
    })
    .map(drop)
}

/// fchown(2).
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> Result<(), SysError> {
    // SAFETY: plain integer arguments on an open fd.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }, || {
        format!("fchown({}, {uid}, {gid})", fd.as_raw_fd())
    })
    .map(drop)
}

/// fchmod(2) with the full permission bits (setuid/setgid/sticky included).
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> Result<(), SysError> {
    let mode = mode & 0o7777;
    // SAFETY: plain integer arguments on an open fd.
    check(
        unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) },
        || format!("fchmod({}, {mode:04o})", fd.as_raw_fd()),
    )
    .map(drop)
}

fn times(sec: i64, nsec: i64) -> [libc::timespec; 2] {
    let t = libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as _,
    };
    [t, t]
}

/// utimensat(2) with `AT_SYMLINK_NOFOLLOW`: access and modification time both
/// set to `sec.nsec` (tar carries no separate atime worth keeping).
pub fn set_times_at(dir: BorrowedFd<'_>, name: &CStr, sec: i64, nsec: i64) -> Result<(), SysError> {
    let ts = times(sec, nsec);
    // SAFETY: `ts` holds the two timespecs utimensat reads; `name` is NUL-terminated.
    let ret = unsafe {
        libc::utimensat(
            fd_of(dir),
            name.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    check(ret, || {
        format!("utimensat({}, {name:?}, {sec}.{nsec:09})", fd_of(dir))
    })
    .map(drop)
}

/// futimens(3) with access and modification time both `sec.nsec`.
pub fn set_times(fd: BorrowedFd<'_>, sec: i64, nsec: i64) -> Result<(), SysError> {
    let ts = times(sec, nsec);
    // SAFETY: `ts` holds the two timespecs futimens reads.
    check(
        unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) },
        || format!("futimens({}, {sec}.{nsec:09})", fd.as_raw_fd()),
    )
    .map(drop)
}

/// readlinkat(2).
pub fn readlink_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<Vec<u8>, SysError> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: `buf` is writable for `buf.len()` bytes; `name` is NUL-terminated.
        let ret = unsafe {
            libc::readlinkat(
                fd_of(dir),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        let n = check_size(ret, || format!("readlinkat({}, {name:?})", fd_of(dir)))?;
        if n < buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        // The target may have been cut off: retry with more room.
        buf.resize(buf.len() * 4, 0);
    }
}

/// The names in an open directory, without `.` and `..`. Reads through a
/// duplicate of `dir`, so the caller's fd keeps its position and stays open.
pub fn read_dir_names(dir: BorrowedFd<'_>) -> Result<Vec<CString>, SysError> {
    let dup = dir
        .try_clone_to_owned()
        .map_err(|e| SysError::new(format!("dup({})", fd_of(dir)), io_errno(&e)))?;
    let mut d = nix::dir::Dir::from(dup)
        .map_err(|e| SysError::new(format!("fdopendir({})", fd_of(dir)), e))?;
    let mut names = Vec::new();
    for ent in d.iter() {
        let ent = ent.map_err(|e| SysError::new(format!("readdir({})", fd_of(dir)), e))?;
        let name = ent.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// fsetxattr(2) on an open regular file or directory.
pub fn fsetxattr(fd: BorrowedFd<'_>, key: &CStr, value: &[u8]) -> Result<(), SysError> {
    // SAFETY: `key` is NUL-terminated and `value` is readable for its length.
    let ret = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    check(ret, || format!("fsetxattr({}, {key:?})", fd.as_raw_fd())).map(drop)
}

/// The `/proc/self/fd/N/name` path that reaches `name` in `dir` without any
/// lookup of ours: the only way to hand an inode that cannot be opened (a
/// symlink, device or fifo) to the path-based `lsetxattr`.
fn proc_path(dir: BorrowedFd<'_>, name: &CStr) -> CString {
    let mut p = format!("/proc/self/fd/{}/", fd_of(dir)).into_bytes();
    p.extend_from_slice(name.to_bytes());
    CString::new(p).expect("no NUL in a CStr's bytes")
}

/// lsetxattr(2) on `name` in `dir` (for inodes that cannot be opened).
pub fn lsetxattr_at(
    dir: BorrowedFd<'_>,
    name: &CStr,
    key: &CStr,
    value: &[u8],
) -> Result<(), SysError> {
    let p = proc_path(dir, name);
    // SAFETY: both strings are NUL-terminated and `value` is readable for its length.
    let ret = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    check(ret, || format!("lsetxattr({p:?}, {key:?})")).map(drop)
}

/// All xattrs of an open file or directory, sorted by key.
pub fn fxattrs(fd: BorrowedFd<'_>) -> Result<Vec<(CString, Vec<u8>)>, SysError> {
    let raw = fd.as_raw_fd();
    let list = grow(|buf| {
        // SAFETY: `buf` is writable for its length.
        let ret = unsafe { libc::flistxattr(raw, buf.as_mut_ptr().cast(), buf.len()) };
        check_size(ret, || format!("flistxattr({raw})"))
    })?;
    let mut out = Vec::new();
    for key in list.split(|b| *b == 0).filter(|k| !k.is_empty()) {
        let key = CString::new(key).expect("split on NUL leaves no NUL");
        let value = grow(|buf| {
            // SAFETY: `buf` is writable for its length; `key` is NUL-terminated.
            let ret =
                unsafe { libc::fgetxattr(raw, key.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            check_size(ret, || format!("fgetxattr({raw}, {key:?})"))
        })?;
        out.push((key, value));
    }
    out.sort();
    Ok(out)
}

/// Call `f` with a buffer, growing it while the kernel says `ERANGE` (the
/// value changed size between calls, or the first guess was too small).
fn grow(mut f: impl FnMut(&mut [u8]) -> Result<usize, SysError>) -> Result<Vec<u8>, SysError> {
    let mut buf = vec![0u8; 256];
    loop {
        match f(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.errno == Errno::ERANGE && buf.len() < (1 << 20) => {
                let n = buf.len() * 4;
                buf.resize(n, 0);
            }
            Err(e) => return Err(e),
        }
    }
}

/// fchmodat(2) on a device, fifo or whiteout just created by the caller.
///
/// Linux's fchmodat has no working no-follow flag before fchmodat2 (6.6), and
/// such inodes cannot be opened for fchmod without side effects (a fifo
/// blocks, a device may do anything). Callers only use it on a name they
/// created a moment ago in a directory that nothing else writes to.
pub fn chmod_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<(), SysError> {
    let mode = mode & 0o7777;
    // SAFETY: `name` is NUL-terminated and `dir` is open for the call's duration.
    let ret = unsafe { libc::fchmodat(fd_of(dir), name.as_ptr(), mode as libc::mode_t, 0) };
    check(ret, || {
        format!("fchmodat({}, {name:?}, {mode:04o})", fd_of(dir))
    })
    .map(drop)
}

/// Start writing `len` bytes of `file` from `offset` back to the disk without
/// waiting for them (`sync_file_range(SYNC_FILE_RANGE_WRITE)`): a large file
/// written this way as it grows leaves its final fsync little to wait for.
/// It guarantees nothing about durability; only fsync does.
pub fn start_writeback(file: BorrowedFd<'_>, offset: u64, len: u64) -> Result<(), SysError> {
    let (off, n) = match (i64::try_from(offset), i64::try_from(len)) {
        (Ok(o), Ok(n)) => (o, n),
        _ => return Err(SysError::new("sync_file_range", Errno::EOVERFLOW)),
    };
    // SAFETY: sync_file_range takes no pointers; `file` is an open fd for
    // the call's duration.
    check(
        unsafe { libc::sync_file_range(fd_of(file), off, n, libc::SYNC_FILE_RANGE_WRITE) },
        || format!("sync_file_range({}, {offset}, {len}, WRITE)", fd_of(file)),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// A directory several getdents64 batches long (600 names of about 64
    /// bytes a record against an 8 KiB buffer) is read to its end: every
    /// name once, and the wanted ones, created last, with their kinds.
    #[test]
    fn entries_reads_past_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for i in 0..600 {
            std::fs::write(d.join(format!("filler-{i:04}-{}", "x".repeat(30))), "").unwrap();
        }
        std::fs::create_dir(d.join("wanted-dir")).unwrap();
        std::fs::write(d.join("wanted-file"), "").unwrap();
        std::os::unix::fs::symlink("wanted-dir", d.join("wanted-link")).unwrap();
        let fd = open_dir(d).unwrap();
        let mut got = entries(fd.as_fd(), |n| n.as_bytes().starts_with(b"wanted-")).unwrap();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let kinds: Vec<(&str, Option<Kind>)> =
            got.iter().map(|(n, k)| (n.to_str().unwrap(), *k)).collect();
        assert_eq!(
            kinds,
            [
                ("wanted-dir", Some(Kind::Dir)),
                ("wanted-file", Some(Kind::File)),
                ("wanted-link", Some(Kind::Symlink)),
            ]
        );
        let all = open_dir(d).unwrap();
        let mut names: Vec<OsString> = entries(all.as_fd(), |_| true)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        names.sort();
        let read = names.len();
        names.dedup();
        assert_eq!((read, names.len()), (605, 605), "600 + 3 names, `.`, `..`");
    }

    fn record(name: &str, kind: u8, len: usize) -> Vec<u8> {
        let mut r = vec![0u8; 19];
        r[16..18].copy_from_slice(&(len as u16).to_ne_bytes());
        r[18] = kind;
        r.extend_from_slice(name.as_bytes());
        r.resize(len, 0);
        r
    }

    /// Only the bytes the kernel wrote are records: one running past them
    /// or a tail too short for one is refused, whatever the buffer holds
    /// beyond them.
    #[test]
    fn records_stop_at_the_bytes_returned() {
        let keep = |_: &OsStr| true;
        let mut buf = record("a", libc::DT_REG, 24);
        buf.extend(record("bb", libc::DT_DIR, 24));
        let mut out = Vec::new();
        assert_eq!(records(&buf, keep, &mut out), Ok(()));
        let names: Vec<_> = out.iter().map(|(n, k)| (n.to_str().unwrap(), *k)).collect();
        assert_eq!(names, [("a", Some(Kind::File)), ("bb", Some(Kind::Dir))]);
        let mut out = Vec::new();
        assert_eq!(
            records(&buf[..44], keep, &mut out),
            Err(24),
            "record past the end"
        );
        assert_eq!(
            records(&buf[..30], keep, &mut out),
            Err(24),
            "a tail of 6 bytes"
        );
        assert_eq!(records(&buf[..24], keep, &mut out), Ok(()));
    }
}
