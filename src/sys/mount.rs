//! Mount system calls: mount(2), umount2(2), pivot_root(2), and the new mount
//! API (fsopen(2), fsconfig(2), fsmount(2), open_tree(2), move_mount(2),
//! mount_setattr(2)).
//!
//! Every wrapper reports failures as `call(<args>) => ERRNO`. Which mounts to
//! make, and in which order, is decided by `sandbox` and `rootfs`, not here.

use super::{Ctx, SysError};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

pub use nix::mount::MsFlags as Flags;

/// mount(2).
pub fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), SysError> {
    nix::mount::mount(source, target, fstype, flags, data).ctx(|| {
        format!(
            "mount({}, {}, {}, {:?}, {})",
            source.unwrap_or("NULL"),
            target.display(),
            fstype.unwrap_or("NULL"),
            flags,
            data.map(shorten).unwrap_or_else(|| "NULL".into())
        )
    })
}

/// umount2(2) with MNT_DETACH.
pub fn umount_detach(target: &Path) -> Result<(), SysError> {
    nix::mount::umount2(target, MntFlags::MNT_DETACH)
        .ctx(|| format!("umount2({}, MNT_DETACH)", target.display()))
}

/// pivot_root(2).
pub fn pivot_root(new_root: &Path, put_old: &Path) -> Result<(), SysError> {
    nix::unistd::pivot_root(new_root, put_old)
        .ctx(|| format!("pivot_root({}, {})", new_root.display(), put_old.display()))
}

/// chroot(2) into `dir`, then chdir("/"): a helper working on a
/// container's files sees only them, and every path it opens (symbolic
/// links included) resolves inside. Sound for that purpose only when the
/// caller holds no descriptor of a directory outside `dir`.
pub fn enter_root(dir: &Path) -> Result<(), SysError> {
    nix::unistd::chdir(dir).ctx(|| format!("chdir({})", dir.display()))?;
    nix::unistd::chroot(".").ctx(|| format!("chroot({})", dir.display()))?;
    nix::unistd::chdir("/").ctx(|| "chdir(/)".to_string())
}

/// Long option strings (overlay lowerdirs) would drown the error: keep the head.
fn shorten(s: &str) -> String {
    if s.len() <= 200 {
        s.to_string()
    } else {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...({} bytes)", &s[..end], s.len())
    }
}

fn cstr(s: &[u8]) -> Result<CString, SysError> {
    CString::new(s).map_err(|_| SysError::new("CString::new(<path with NUL>)", Errno::EINVAL))
}

// uapi/linux/mount.h; defined here so they do not depend on one libc release.
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
const OPEN_TREE_CLONE: libc::c_uint = 0x1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const AT_EMPTY_PATH: libc::c_uint = 0x1000;
const AT_SYMLINK_NOFOLLOW: libc::c_uint = 0x100;
/// open_tree_attr(2), Linux 6.15: 467 in the table the architectures
/// below share from 424 on (uapi/asm-generic/unistd.h, x86's
/// syscall_64.tbl and syscall_32.tbl); the libc crate names it for m68k
/// only. Alpha and MIPS number it apart (577, 4467/5467/6467): there it
/// is left undefined and read-only binds take the older calls.
const SYS_OPEN_TREE_ATTR: Option<libc::c_long> = if cfg!(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "riscv32",
    target_arch = "loongarch64",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "s390x",
)) {
    Some(467)
} else {
    None
};
/// MOUNT_ATTR_* from uapi/linux/mount.h.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// A filesystem context from fsopen(2), configured key by key and then mounted.
pub struct FsContext {
    fd: OwnedFd,
    fstype: String,
}

impl FsContext {
    /// fsopen(2) with FSOPEN_CLOEXEC.
    pub fn open(fstype: &str) -> Result<FsContext, SysError> {
        let name = cstr(fstype.as_bytes())?;
        // SAFETY: fsopen takes a NUL-terminated string that lives across the
        // call and a flags word; it returns a new fd or -1 with errno set.
        let fd = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
        if fd < 0 {
            return Err(SysError::new(format!("fsopen({fstype})"), Errno::last()));
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(FsContext {
            fd,
            fstype: fstype.into(),
        })
    }

    /// fsconfig(FSCONFIG_SET_STRING, key, value).
    pub fn set_string(&self, key: &str, value: &[u8]) -> Result<(), SysError> {
        let k = cstr(key.as_bytes())?;
        let v = cstr(value)?;
        // SAFETY: both strings are NUL-terminated and outlive the call; aux is 0
        // as fsconfig(2) requires for FSCONFIG_SET_STRING.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.fd.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        };
        if r < 0 {
            let errno = Errno::last();
            return Err(SysError::new(
                format!(
                    "fsconfig({}, FSCONFIG_SET_STRING, {key}, {}){}",
                    self.fstype,
                    shorten(&String::from_utf8_lossy(value)),
                    self.kernel_says()
                ),
                errno,
            ));
        }
        Ok(())
    }

    /// fsconfig(FSCONFIG_SET_FLAG, key).
    pub fn set_flag(&self, key: &str) -> Result<(), SysError> {
        let k = cstr(key.as_bytes())?;
        // SAFETY: key is NUL-terminated; value must be NULL and aux 0 for a flag.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.fd.as_raw_fd(),
                FSCONFIG_SET_FLAG,
                k.as_ptr(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        };
        if r < 0 {
            let errno = Errno::last();
            return Err(SysError::new(
                format!(
                    "fsconfig({}, FSCONFIG_SET_FLAG, {key}){}",
                    self.fstype,
                    self.kernel_says()
                ),
                errno,
            ));
        }
        Ok(())
    }

    /// The filesystem's own explanation of a failure, when it logged one to
    /// the context (fsopen(2), "Message retrieval interface"); overlayfs
    /// reports some errors there (bad option combinations) and others only
    /// to the kernel log.
    fn kernel_says(&self) -> String {
        let mut msgs = Vec::new();
        let mut buf = [0u8; 1024];
        // Each read returns one message; EAGAIN/ENODATA ends the log.
        while let Ok(n) = nix::unistd::read(self.fd.as_raw_fd(), &mut buf) {
            if n == 0 || msgs.len() >= 8 {
                break;
            }
            let m = String::from_utf8_lossy(&buf[..n]);
            // "e overlayfs: ..." — drop the severity letter.
            msgs.push(m.get(2..).unwrap_or(&m).trim().to_string());
        }
        if msgs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", msgs.join("; "))
        }
    }

    /// fsconfig(FSCONFIG_CMD_CREATE), fsmount(2), then move_mount(2) onto `target`.
    pub fn mount_at(self, target: &Path) -> Result<(), SysError> {
        let mfd = self.detached(0)?;
        move_mount_fd(&mfd, target)
    }

    /// fsconfig(FSCONFIG_CMD_CREATE) and fsmount(2) with the MOUNT_ATTR_*
    /// bits `attrs`: a mount attached nowhere yet, known by its descriptor
    /// alone, so no later path lookup can swap it for something else.
    pub fn detached(self, attrs: u64) -> Result<OwnedFd, SysError> {
        // SAFETY: no pointers; the fd is ours.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.fd.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        };
        if r < 0 {
            let errno = Errno::last();
            return Err(SysError::new(
                format!(
                    "fsconfig({}, FSCONFIG_CMD_CREATE){}",
                    self.fstype,
                    self.kernel_says()
                ),
                errno,
            ));
        }
        // SAFETY: no pointers; returns a new mount fd or -1.
        let m = unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                self.fd.as_raw_fd(),
                FSMOUNT_CLOEXEC,
                attrs as libc::c_uint,
            )
        };
        if m < 0 {
            return Err(SysError::new(
                format!("fsmount({}, {attrs:#x})", self.fstype),
                Errno::last(),
            ));
        }
        // SAFETY: m is a fresh descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(m as i32) })
    }
}

/// An O_PATH descriptor of `path` to mount on or clone from, its last
/// component not followed: every later call on it acts on this inode,
/// whatever `path` names by then.
pub fn open_path(path: &Path) -> Result<OwnedFd, SysError> {
    let p = cstr(path.as_os_str().as_bytes())?;
    let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: p is NUL-terminated and outlives the call; open returns a new
    // fd or -1.
    let fd = unsafe { libc::open(p.as_ptr(), flags) };
    if fd < 0 {
        return Err(SysError::new(
            format!("open({}, O_PATH|O_NOFOLLOW)", path.display()),
            Errno::last(),
        ));
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// open_tree(2) with OPEN_TREE_CLONE on the mount `from` is the root of
/// (or a directory in): a detached copy of it, with its submounts when
/// `recursive`, the source fixed by the descriptor rather than a path.
pub fn clone_mount(from: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, SysError> {
    let empty = cstr(b"")?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | AT_EMPTY_PATH;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: the empty path is NUL-terminated and outlives the call; with
    // AT_EMPTY_PATH the source is `from` itself. Returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, from.as_raw_fd(), empty.as_ptr(), flags) };
    if fd < 0 {
        return Err(SysError::new(
            format!("open_tree(<fd>, OPEN_TREE_CLONE, recursive={recursive})"),
            Errno::last(),
        ));
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Where a mount goes, or what is copied: the inode a descriptor holds
/// (from [`open_path`]), or a name in a directory descriptor, taken as it
/// is when a symbolic link (never followed) and looked up again by each
/// call: whatever it names then, it is in that directory.
#[derive(Clone, Copy)]
pub enum At<'a> {
    Fd(BorrowedFd<'a>),
    Name(BorrowedFd<'a>, &'a CStr),
}

impl At<'_> {
    /// The (directory, path) pair of an *at call, and whether the path is
    /// the empty one that names the descriptor itself.
    fn args(&self) -> (i32, &CStr, bool) {
        match *self {
            At::Fd(fd) => (fd.as_raw_fd(), c"", true),
            At::Name(dir, name) => (dir.as_raw_fd(), name, false),
        }
    }
}

/// move_mount(2) of the detached mount `mount` onto `to`; `what` only
/// names it in the error.
pub fn move_mount_to(mount: BorrowedFd<'_>, to: At<'_>, what: &Path) -> Result<(), SysError> {
    let (dir, path, empty) = to.args();
    let mut flags = MOVE_MOUNT_F_EMPTY_PATH;
    if empty {
        flags |= MOVE_MOUNT_T_EMPTY_PATH;
    }
    move_mount(mount.as_raw_fd(), dir, path, flags, what)
}

/// Set once open_tree_attr(2) answered ENOSYS (a kernel before 6.15) or
/// EPERM (a seccomp filter written before it, which allows open_tree,
/// mount_setattr and move_mount but not this newer call, as hutch's own
/// default with CAP_SYS_ADMIN did): every later read-only bind of this
/// process takes the older three calls.
static NO_OPEN_TREE_ATTR: AtomicBool = AtomicBool::new(false);

/// Tests take the path of kernels without open_tree_attr(2) on one that
/// has it.
#[cfg(test)]
pub fn without_open_tree_attr() {
    NO_OPEN_TREE_ATTR.store(true, Ordering::Relaxed);
}

/// A read-only copy of the mount at `at`, its submounts included, bound
/// over it: open_tree_attr(2) clones and sets MOUNT_ATTR_RDONLY in one
/// call; where the kernel lacks it, the target is opened once (O_PATH) to
/// be both the source of open_tree(2), whose copy mount_setattr(2) makes
/// read-only, and the target. `what` names it in errors.
///
/// EPERM takes the older calls too: a seccomp filter may answer it for
/// open_tree_attr alone, and where the kernel itself refuses (no
/// CAP_SYS_ADMIN over the mount namespace), open_tree refuses the same
/// clone with its own error, so nothing is bound that would not be.
pub fn bind_read_only_over(at: At<'_>, what: &Path) -> Result<(), SysError> {
    if let Some(nr) = SYS_OPEN_TREE_ATTR.filter(|_| !NO_OPEN_TREE_ATTR.load(Ordering::Relaxed)) {
        match open_tree_attr(nr, at, MOUNT_ATTR_RDONLY, what) {
            Ok(copy) => return move_mount_to(copy.as_fd(), at, what),
            Err(e) if matches!(e.errno, Errno::ENOSYS | Errno::EPERM) => {
                NO_OPEN_TREE_ATTR.store(true, Ordering::Relaxed)
            }
            Err(e) => return Err(e),
        }
    }
    let held;
    let fd = match at {
        At::Fd(fd) => fd,
        At::Name(dir, name) => {
            held = open_path_at(dir, name, what)?;
            held.as_fd()
        }
    };
    let copy = clone_mount(fd, true)?;
    setattr_fd_recursive(copy.as_fd(), MOUNT_ATTR_RDONLY)?;
    move_mount_to(copy.as_fd(), At::Fd(fd), what)
}

/// open_tree_attr(2) (syscall number `nr`): a detached recursive copy of
/// the mount at `at`, with the MOUNT_ATTR_* bits `set` on it and every
/// mount below it.
fn open_tree_attr(
    nr: libc::c_long,
    at: At<'_>,
    set: u64,
    what: &Path,
) -> Result<OwnedFd, SysError> {
    let (dir, path, empty) = at.args();
    let mut flags =
        OPEN_TREE_CLONE | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW | libc::O_CLOEXEC as libc::c_uint;
    if empty {
        flags |= AT_EMPTY_PATH;
    }
    let attr = MountAttr::setting(set);
    // SAFETY: `nr` is open_tree_attr's number on this architecture (the
    // only caller passes SYS_OPEN_TREE_ATTR); `path` is NUL-terminated and
    // `attr` a properly sized, initialised struct mount_attr
    // (MOUNT_ATTR_SIZE_VER0); both outlive the call, which only reads
    // them. Returns a new fd or -1.
    let fd = unsafe {
        libc::syscall(
            nr,
            dir,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if fd < 0 {
        return Err(SysError::new(
            format!(
                "open_tree_attr({}, OPEN_TREE_CLONE|AT_RECURSIVE, set={set:#x})",
                what.display()
            ),
            Errno::last(),
        ));
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// [`open_path`] for `name` in the directory `dir`.
fn open_path_at(dir: BorrowedFd<'_>, name: &CStr, what: &Path) -> Result<OwnedFd, SysError> {
    let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated and `dir` open for the call's
    // duration; openat returns a new fd or -1.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
    if fd < 0 {
        return Err(SysError::new(
            format!("openat({}, O_PATH|O_NOFOLLOW)", what.display()),
            Errno::last(),
        ));
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// move_mount(2) of the detached mount `from` onto `to` relative to
/// `to_dir` (the source is always the descriptor itself).
fn move_mount(from: i32, to_dir: i32, to: &CStr, flags: u32, what: &Path) -> Result<(), SysError> {
    let empty = c"";
    // SAFETY: both paths are NUL-terminated and outlive the call; with
    // MOVE_MOUNT_F_EMPTY_PATH the source is the detached mount behind
    // `from`, and the target is `to` relative to `to_dir` (`to_dir` itself
    // with MOVE_MOUNT_T_EMPTY_PATH), its last component not followed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            empty.as_ptr(),
            to_dir,
            to.as_ptr(),
            flags,
        )
    };
    if r < 0 {
        return Err(SysError::new(
            format!("move_mount(<fd>, {})", what.display()),
            Errno::last(),
        ));
    }
    Ok(())
}

/// mount_setattr(2) on the mount `fd` and every mount below it.
pub fn setattr_fd_recursive(fd: BorrowedFd<'_>, set: u64) -> Result<(), SysError> {
    let empty = cstr(b"")?;
    setattr(fd.as_raw_fd(), &empty, AT_EMPTY_PATH, set, "<fd>")
}

fn move_mount_fd(mfd: &OwnedFd, target: &Path) -> Result<(), SysError> {
    let t = cstr(target.as_os_str().as_bytes())?;
    move_mount(
        mfd.as_raw_fd(),
        libc::AT_FDCWD,
        &t,
        MOVE_MOUNT_F_EMPTY_PATH,
        target,
    )
}

/// mount_setattr(2) on `path` and every mount below it (AT_RECURSIVE).
///
/// A recursive bind mount cannot be made read-only with one MS_REMOUNT: each
/// submount would need its own remount (mount(2), "MS_REMOUNT"); mount_setattr
/// does the whole tree in one call and keeps the locked flags of each mount.
pub fn setattr_recursive(path: &Path, set: u64) -> Result<(), SysError> {
    let p = cstr(path.as_os_str().as_bytes())?;
    setattr(libc::AT_FDCWD, &p, 0, set, &path.display().to_string())
}

/// mount_setattr(2) setting `set` on `path` relative to `dir` (with
/// `flags`) and every mount below it; `what` names it in the error.
fn setattr(dir: i32, path: &CString, flags: u32, set: u64, what: &str) -> Result<(), SysError> {
    let attr = MountAttr::setting(set);
    // SAFETY: `path` is NUL-terminated and `attr` is a properly sized,
    // initialised struct mount_attr (MOUNT_ATTR_SIZE_VER0); both outlive
    // the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dir,
            path.as_ptr(),
            AT_RECURSIVE | flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(SysError::new(
            format!("mount_setattr({what}, AT_RECURSIVE, set={set:#x})"),
            Errno::last(),
        ));
    }
    Ok(())
}

/// struct mount_attr (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

impl MountAttr {
    /// Set the MOUNT_ATTR_* bits `set`, clear none, leave propagation and
    /// the id mapping alone.
    fn setting(set: u64) -> MountAttr {
        MountAttr {
            attr_set: set,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        }
    }
}
