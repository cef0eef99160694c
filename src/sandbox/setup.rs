//! The child's side of the plan: execute each `Op` in order inside the new
//! namespaces, up to and including pivot_root.
//!
//! Runs only in the sandbox child, after the parent installed the id mapping;
//! every failure is returned as a `ChildError` naming the step and the call.

use super::plan::{Op, Plan};
use super::sync::ChildError;
use crate::rootfs::resolve::resolve_in_root;
use crate::sys::fsat::{entries, fstat, lstat_at, open_dir_nofollow, open_path_beneath, Kind};
use crate::sys::mount::{
    bind_read_only_over, clone_mount, mount, move_mount_to, open_path, pivot_root,
    setattr_recursive, umount_detach, At, Flags, FsContext, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
};
use crate::sys::SysError;
use nix::errno::Errno;
use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Host devices every container gets (the OCI runtime spec's default set).
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Execute every operation of `plan`, in order.
pub fn run_plan(plan: &Plan) -> Result<(), ChildError> {
    let root = &plan.rootfs_mountpoint;
    let mut seen = Seen::default();
    for op in &plan.ops {
        step(plan, root, op, &mut seen)
            .map_err(|e| ChildError::setup(format!("{}: {e}", describe(plan, op))))?;
    }
    Ok(())
}

/// What the steps share: the container directories they resolved, and the
/// masks' empty tmpfs. Each of the 17 mask and read-only paths lies in /proc
/// or /sys, and /dev and /etc are resolved once for the /etc files (and
/// /dev/.hutch-fake-root-apt.conf): resolving each path from the root took
/// 2-3 statx per path, each a lookup through the overlay (about 0.1 ms a
/// start).
///
/// A resolved path has no symlink left in it, but the host kernel walks it
/// again at each use, through whatever is mounted by then: a filesystem
/// mounted since on it or on a directory above it can put a symlink in its
/// way (Op::Dev's tmpfs holds `fd -> /proc/self/fd`, procfs and sysfs hold
/// others, a user's mount anything), and that symlink is followed on the
/// host, out of the root. So every step forgets what was resolved before
/// it ([`Seen::before`]), but three, whose mounts hold no symlink the
/// target did not: a mask (an empty directory or /dev/null), a read-only
/// path (a copy of the mount already there) and an /etc file (a regular
/// file, over a regular file or over a symlink it unlinks). A walk into
/// one of those finds the same names or none, and fails rather than leads
/// elsewhere.
///
/// The mask steps hold /proc and /sys open (opened with O_NOFOLLOW, which
/// is the whole of resolving a directory the root holds directly, when it
/// is not a link) and name their paths relative to those descriptors: no
/// walk from / per call, no O_PATH descriptor per target, and a path below
/// (/sys/devices/virtual/powercap) found by one openat2 that refuses any
/// symlink on the way. A link, there or as the path itself, is resolved
/// inside the root as before, and then handled by its host path and one
/// descriptor. A name is looked up again by each call on it (a read-only
/// path's open_tree_attr, then its move_mount), never followed and always
/// in the one directory: in a volume's directory that another container
/// changes in between, the two can find two of its entries, and a
/// read-only copy of one lands on the other, both in the container's view.
///
/// A masked file is the exception: /dev/null is bound on it by mount(2)
/// with its host path, which the kernel walks from / and whose last
/// component it follows if that is a link by then (it was not when looked
/// at just before; only a directory another container shares can change
/// in between). The mount is this process's own, in its own mount
/// namespace: on a host path outside the root it goes with the old root
/// at pivot_root, and on one inside it the container sees /dev/null where
/// the link led. By descriptor it would be an open_tree of /dev/null, a
/// move_mount and a close per file where mount(2) is one call.
///
/// The names a directory holds may change; /proc's listing cannot go
/// stale the other way: it is taken at the first mask step, and only mask
/// and read-only steps follow, which hide names or bind a path over itself
/// but never add one, and procfs gains none of the mask names. A name it
/// lists may be hidden since: an image whose /proc links to /sys/firmware
/// (with a volume there) has it covered by that mask. The held descriptor
/// still reaches the directory under the cover, so that name's steps mount
/// there, out of the container's sight, and the start goes on. No mask is
/// skipped: what the container sees at the path is the cover, and as every
/// mask step runs before every read-only step, a read-only copy taken of a
/// tree has all of its masks in it.
#[derive(Default)]
pub(super) struct Seen {
    dirs: Vec<SeenDir>,
    /// The first masked directory's empty read-only tmpfs.
    empty: Option<OwnedFd>,
}

/// A container directory a step resolved: its host path, for the mask
/// steps the directory itself held open (none where it could not be
/// opened: a missing one, or one the mask steps look at through its host
/// path), and once a mask step looks in /proc, its entries. A lookup in
/// the just-mounted procfs allocates a dentry, and an inode for a name
/// that exists, and 7 of /proc's 15 names are missing on a typical
/// kernel: one read of the directory (two getdents64) answers all 15
/// without a lookup, and only a symlink among them needs one.
struct SeenDir {
    rel: PathBuf,
    host: PathBuf,
    fd: Option<Rc<OwnedFd>>,
    entries: Option<HashMap<OsString, Kind>>,
}

/// A mask or read-only path that exists: its host path, whether it is a
/// directory, and how the mount calls reach it.
pub(super) struct Found {
    pub host: PathBuf,
    pub is_dir: bool,
    place: Place,
}

enum Place {
    /// This name in a directory [`SeenDir`] holds open.
    Name(Rc<OwnedFd>, CString),
    /// Opened (O_PATH) with no symlink on the way.
    Fd(OwnedFd),
    /// Only by `host` (resolved through a symlink).
    Path,
}

/// An empty, read-only, nosuid, nodev, noexec directory mounted on `t`
/// (`what` names it in errors). The first is a new tmpfs, kept in `empty`;
/// later ones are clones of it rather than a new superblock each (18 us
/// against 10 us here). Clones come from the descriptor, never from the
/// first one's path: a volume shared with another container may hold that
/// path, and a symlink put there would make the source a host directory
/// (this runs before pivot_root).
pub(super) fn mask_dir(
    empty: &mut Option<OwnedFd>,
    t: At<'_>,
    what: &Path,
) -> Result<(), SysError> {
    if let Some(first) = empty {
        let copy = clone_mount(first.as_fd(), false)?;
        return move_mount_to(copy.as_fd(), t, what);
    }
    let fs = FsContext::open("tmpfs")?;
    fs.set_string("mode", b"555")?;
    fs.set_flag("ro")?;
    let mnt =
        fs.detached(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)?;
    move_mount_to(mnt.as_fd(), t, what)?;
    *empty = Some(mnt);
    Ok(())
}

/// What the mount calls take for `f`: a descriptor [`Seen::find`] holds,
/// or one opened here (kept in `held`) for a path known only by its host
/// path.
fn target<'a>(f: &'a Found, held: &'a mut Option<OwnedFd>) -> Result<At<'a>, SysError> {
    Ok(match &f.place {
        Place::Name(dir, name) => At::Name(dir.as_fd(), name),
        Place::Fd(fd) => At::Fd(fd.as_fd()),
        Place::Path => {
            let fd: &'a OwnedFd = held.insert(open_path(&f.host)?);
            At::Fd(fd.as_fd())
        }
    })
}

impl Seen {
    /// Index of container directory `rel` in `dirs`, resolved as
    /// [`in_root`] does, looked up once.
    fn index(&mut self, root: &Path, rel: &Path) -> Result<usize, SysError> {
        if let Some(i) = self.dirs.iter().position(|d| d.rel == rel) {
            return Ok(i);
        }
        let host = in_root(root, rel)?;
        self.dirs.push(SeenDir {
            rel: rel.to_path_buf(),
            host,
            fd: None,
            entries: None,
        });
        Ok(self.dirs.len() - 1)
    }

    /// Index of the directory `rel` the root holds directly, opened: a
    /// directory there opens with O_NOFOLLOW as it is; a link (or anything
    /// else) is resolved as [`in_root`] does and what it leads to opened.
    fn open_index(&mut self, root: &Path, rel: &Path) -> Result<usize, SysError> {
        if let Some(i) = self.dirs.iter().position(|d| d.rel == rel) {
            return Ok(i);
        }
        let direct = root.join(rel);
        let (host, fd) = match open_dir_nofollow(&direct) {
            Ok(fd) => (direct, Some(Rc::new(fd))),
            Err(_) => {
                let host = in_root(root, rel)?;
                let fd = open_dir_nofollow(&host).ok().map(Rc::new);
                (host, fd)
            }
        };
        self.dirs.push(SeenDir {
            rel: rel.to_path_buf(),
            host,
            fd,
            entries: None,
        });
        Ok(self.dirs.len() - 1)
    }

    /// Container directory `rel` resolved as [`in_root`] does, looked up
    /// once.
    fn dir(&mut self, root: &Path, rel: &Path) -> Result<PathBuf, SysError> {
        let i = self.index(root, rel)?;
        Ok(self.dirs[i].host.clone())
    }

    /// Step `op` is next: see [`Seen`] for which steps keep what was
    /// resolved before them.
    pub(super) fn before(&mut self, op: &Op) {
        if !matches!(op, Op::Mask(_) | Op::ReadOnlyPath(_) | Op::EtcFile { .. }) {
            self.dirs.clear();
        }
    }

    /// `rel` as a file to mount over, as [`file_at`] makes it, with its
    /// directory looked up once (hutch's own files: no /proc check).
    fn file(&mut self, root: &Path, rel: &Path) -> Result<PathBuf, SysError> {
        let parent = rel.parent().unwrap_or(Path::new(""));
        let dir = self.dir(root, parent)?;
        file_at(&dir, rel.file_name().unwrap_or_default())
    }

    /// Container path `rel` under `root` (a mask or read-only path: in a
    /// directory the root holds), resolved as [`in_root`] does; `None` when
    /// it does not exist.
    pub(super) fn find(&mut self, root: &Path, rel: &Path) -> Result<Option<Found>, SysError> {
        let mut parts = rel.components();
        let top = parts.next().map(|c| Path::new(c.as_os_str()));
        let below = parts.as_path();
        let Some(top) = top.filter(|_| !below.as_os_str().is_empty()) else {
            return by_host_path(root, rel);
        };
        let i = self.open_index(root, top)?;
        let dir = &mut self.dirs[i];
        let Some(fd) = &dir.fd else {
            return by_host_path(root, rel);
        };
        let host = dir.host.join(below);
        let name = below.as_os_str();
        let kind = if below.components().count() > 1 {
            match open_path_beneath(fd.as_fd(), below) {
                Ok(t) => match fstat(t.as_fd())?.kind {
                    Kind::Symlink => return by_host_path(root, rel),
                    kind => {
                        return Ok(Some(Found {
                            host,
                            is_dir: kind == Kind::Dir,
                            place: Place::Fd(t),
                        }))
                    }
                },
                Err(e) if matches!(e.errno, Errno::ENOENT | Errno::ENOTDIR) => return Ok(None),
                // A link on the way (ELOOP: RESOLVE_NO_SYMLINKS refuses
                // every one, wherever it leads), a `..` that would leave
                // (EXDEV; the mask paths hold none), or no openat2 (before
                // Linux 5.6).
                Err(e) if matches!(e.errno, Errno::ELOOP | Errno::EXDEV | Errno::ENOSYS) => {
                    return by_host_path(root, rel)
                }
                Err(e) => {
                    return Err(SysError::new(
                        format!("openat2({})", host.display()),
                        e.errno,
                    ))
                }
            }
        } else if top == Path::new("proc") {
            // Only /proc holds more mask paths (15) than the two calls a
            // read costs; /sys holds one. Listed at the first mask step
            // that looks there, so after procfs's mount (the masks come
            // after Op::Proc).
            if dir.entries.is_none() {
                dir.entries = Some(list(fd.as_fd(), top, &dir.host)?);
            }
            match dir.entries.as_ref().and_then(|e| e.get(name)) {
                None => return Ok(None),
                Some(kind) => *kind,
            }
        } else {
            let c = cname(name, &host)?;
            match lstat_at(fd.as_fd(), &c) {
                Ok(Some(st)) => st.kind,
                Ok(None) => return Ok(None),
                Err(e) => return Err(SysError::new(format!("lstat({})", host.display()), e.errno)),
            }
        };
        // procfs and sysfs have none of these as links; a volume mounted
        // there may: resolve it inside the root as any other path.
        if kind == Kind::Symlink {
            return by_host_path(root, rel);
        }
        Ok(Some(Found {
            place: Place::Name(Rc::clone(fd), cname(name, &host)?),
            host,
            is_dir: kind == Kind::Dir,
        }))
    }

    /// Hide `rel`: /dev/null over a file, the empty tmpfs over a directory.
    fn mask(&mut self, root: &Path, rel: &Path) -> Result<(), SysError> {
        let Some(f) = self.find(root, rel)? else {
            return Ok(());
        };
        if !f.is_dir {
            let none: Option<&str> = None;
            return mount(Some("/dev/null"), &f.host, none, Flags::MS_BIND, none);
        }
        let mut held = None;
        let t = target(&f, &mut held)?;
        mask_dir(&mut self.empty, t, &f.host)
    }

    /// Bind `rel` over itself read-only.
    fn read_only(&mut self, root: &Path, rel: &Path) -> Result<(), SysError> {
        let Some(f) = self.find(root, rel)? else {
            return Ok(());
        };
        let mut held = None;
        bind_read_only_over(target(&f, &mut held)?, &f.host)
    }
}

/// Container path `rel` resolved as [`in_root`] does, looked at by its
/// host path.
fn by_host_path(root: &Path, rel: &Path) -> Result<Option<Found>, SysError> {
    let t = in_root(root, rel)?;
    match t.symlink_metadata() {
        Ok(m) => Ok(Some(Found {
            is_dir: m.is_dir(),
            host: t,
            place: Place::Path,
        })),
        // Not on this kernel (no /proc/acpi without ACPI): nothing to
        // mask. Any other error leaves it unknown, and a mask is not
        // skipped on a guess.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => Ok(None),
        Err(e) => Err(io_err("lstat", &t, e)),
    }
}

/// `name` (of the path `host`) as the *at calls take it.
fn cname(name: &OsStr, host: &Path) -> Result<CString, SysError> {
    CString::new(name.as_bytes()).map_err(|_| {
        SysError::new(
            format!("{}: a NUL byte in the name", host.display()),
            Errno::EINVAL,
        )
    })
}

/// The mask paths' names in the open directory `dir` (container directory
/// `rel`, host path `host`), and their kinds. Only those are asked for
/// their kind: where the filesystem does not report it (a FUSE volume over
/// /proc) it is looked up, and a name nothing masks must neither cost that
/// nor fail the start by going away in between.
pub(super) fn list(
    dir: BorrowedFd<'_>,
    rel: &Path,
    host: &Path,
) -> Result<HashMap<OsString, Kind>, SysError> {
    let wanted: Vec<&OsStr> = super::masks::names_in(rel).collect();
    let found = entries(dir, |n| wanted.contains(&n))
        .map_err(|e| SysError::new(format!("readdir({})", host.display()), e.errno))?;
    let mut out = HashMap::new();
    for (name, kind) in found {
        let kind = match kind {
            Some(k) => k,
            None => {
                let at = host.join(&name);
                match lstat_at(dir, &cname(&name, &at)?) {
                    Ok(Some(st)) => st.kind,
                    Ok(None) => continue,
                    Err(e) => {
                        return Err(SysError::new(format!("lstat({})", at.display()), e.errno))
                    }
                }
            }
        };
        out.insert(name, kind);
    }
    Ok(out)
}

fn describe(plan: &Plan, op: &Op) -> String {
    match op {
        Op::IsolatePropagation => "making mounts private".into(),
        Op::Hostname(h) => format!("setting the hostname to {h}"),
        Op::LoopbackUp => "bringing up lo".into(),
        Op::LayerTmpfs => format!(
            "mounting the in-memory writable layer on {}",
            plan.scratch.display()
        ),
        Op::RootOverlay => format!(
            "mounting the root filesystem ({})",
            plan.rootfs_driver.kind()
        ),
        Op::Proc => "mounting /proc".into(),
        Op::Dev { .. } => "setting up /dev".into(),
        Op::Cgroup => "mounting /sys/fs/cgroup".into(),
        Op::Mask(p) => format!("masking /{}", p.display()),
        Op::ReadOnlyPath(p) => format!("making /{} read-only", p.display()),
        Op::Sys { .. } => "mounting /sys".into(),
        Op::EtcFile { target, .. } => format!("mounting /{}", target.display()),
        Op::Tmpfs { target, .. } => format!("mounting a tmpfs on /{}", target.display()),
        Op::Bind { source, target, .. } | Op::Volume { source, target, .. } => {
            format!("mounting {} on /{}", source.display(), target.display())
        }
        Op::Overlay {
            overlay, target, ..
        } => format!(
            "mounting an overlay of {} on /{}",
            overlay.lowers[0].display(),
            target.display()
        ),
        Op::ReadOnlyRoot => "making the root filesystem read-only".into(),
        Op::PivotRoot => "switching to the new root (pivot_root)".into(),
    }
}

/// The in-memory writable layer's tmpfs. Its size is written out rather
/// than left to the kernel's default (the same half of RAM) because it is
/// the container's limit on what it writes outside its volumes: past it
/// the container sees ENOSPC, and README.md tells users so and how to put
/// the layer on disk. Pages are allocated only as files are written, and
/// a memory limit (`--memory`) still counts them.
pub const LAYER_TMPFS_OPTIONS: &str = "mode=755,size=50%";

/// Why a step failed: a call the kernel refused, or a mount the sandbox
/// itself refuses before asking the kernel (said in words, not as an
/// errno the kernel never returned).
#[derive(Debug)]
pub(super) enum StepError {
    Sys(SysError),
    Refused(String),
}

impl From<SysError> for StepError {
    fn from(e: SysError) -> Self {
        StepError::Sys(e)
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Sys(e) => e.fmt(f),
            StepError::Refused(why) => f.write_str(why),
        }
    }
}

fn step(plan: &Plan, root: &Path, op: &Op, seen: &mut Seen) -> Result<(), StepError> {
    let none: Option<&str> = None;
    seen.before(op);
    match op {
        Op::IsolatePropagation => mount(
            none,
            Path::new("/"),
            none,
            Flags::MS_SLAVE | Flags::MS_REC,
            none,
        )?,
        Op::Hostname(h) => nix::unistd::sethostname(h)
            .map_err(|e| SysError::new(format!("sethostname({h})"), e))?,
        Op::LoopbackUp => crate::sys::net::interface_up("lo")?,
        Op::LayerTmpfs => {
            // Seen only in this mount namespace: the host's scratch dir stays
            // as it is, and the tmpfs (upper dir included) is freed with the
            // last mount that uses it.
            mount(
                Some("tmpfs"),
                &plan.scratch,
                Some("tmpfs"),
                Flags::MS_NOSUID | Flags::MS_NODEV,
                Some(LAYER_TMPFS_OPTIONS),
            )?;
            // Under the container's umask (022), as on disk: the upper
            // dir's mode, that of the container's `/`, is 0755.
            for d in [&plan.overlay.upper, &plan.overlay.work, root] {
                std::fs::create_dir(d).map_err(|e| io_err("mkdir", d, e))?;
            }
        }
        Op::RootOverlay => plan
            .overlay
            .mount(root, &plan.rootfs_driver, &plan.scratch)?,
        Op::Proc => {
            let t = kernel_fs_dir(root, "proc")?;
            mount(
                Some("proc"),
                &t,
                Some("proc"),
                Flags::MS_NOSUID | Flags::MS_NODEV | Flags::MS_NOEXEC,
                none,
            )?
        }
        Op::Dev { shm_size } => setup_dev(&mkdir_in(root, Path::new("dev"))?, *shm_size)?,
        Op::Cgroup => {
            let t = in_root(root, Path::new("sys/fs/cgroup"))?;
            mount(
                Some("cgroup2"),
                &t,
                Some("cgroup2"),
                Flags::MS_RDONLY | Flags::MS_NOSUID | Flags::MS_NODEV | Flags::MS_NOEXEC,
                none,
            )?
        }
        Op::Mask(rel) => seen.mask(root, rel)?,
        Op::ReadOnlyPath(rel) => seen.read_only(root, rel)?,
        Op::Sys { fresh } => {
            let t = kernel_fs_dir(root, "sys")?;
            if *fresh {
                mount(
                    Some("sysfs"),
                    &t,
                    Some("sysfs"),
                    Flags::MS_RDONLY | Flags::MS_NOSUID | Flags::MS_NODEV | Flags::MS_NOEXEC,
                    none,
                )?
            } else {
                mount(Some("/sys"), &t, none, Flags::MS_BIND | Flags::MS_REC, none)?;
                setattr_recursive(&t, MOUNT_ATTR_RDONLY)?
            }
        }
        Op::EtcFile { target, contents } => {
            // Written on the container's own /dev tmpfs (mounted by Op::Dev),
            // bound into place, then unlinked: the mount keeps the file and
            // /dev shows nothing extra.
            let dev = seen.dir(root, Path::new("dev"))?;
            let name = target.file_name().unwrap_or_default().to_string_lossy();
            let src = dev.join(format!(".hutch-{name}"));
            std::fs::write(&src, contents).map_err(|e| io_err("write", &src, e))?;
            let t = seen.file(root, target)?;
            mount(
                Some(&*src.to_string_lossy()),
                &t,
                none,
                Flags::MS_BIND,
                none,
            )?;
            std::fs::remove_file(&src).map_err(|e| io_err("unlink", &src, e))?
        }
        Op::Tmpfs {
            target,
            flags,
            data,
        } => {
            let t = user_dir(root, target)?;
            let data = (!data.is_empty()).then_some(data.as_str());
            mount(Some("tmpfs"), &t, Some("tmpfs"), *flags, data)?
        }
        Op::Bind {
            source,
            target,
            read_only,
        } => {
            let t = if source.is_dir() {
                user_dir(root, target)?
            } else {
                user_file(root, target)?
            };
            bind(source, &t, *read_only)?
        }
        Op::Volume {
            source,
            target,
            read_only,
            fill,
            chown,
        } => {
            // Resolved once: the /proc check, the image's files to copy
            // and the mount all take the same path.
            let resolved = in_root(root, target)?;
            outside_proc(root, &resolved)?;
            let image_dir = resolved.is_dir().then(|| resolved.clone());
            let t = dir_at(resolved)?;
            let ids = || super::volume::container_ids(plan, root);
            if *fill && super::volume::is_empty(source)? {
                super::volume::fill(source, image_dir.as_deref(), ids())?;
            }
            if *chown {
                super::volume::chown_tree(source, ids())?;
            }
            bind(source, &t, *read_only)?
        }
        Op::Overlay {
            overlay,
            target,
            fresh,
        } => {
            // Refused before a fresh overlay's dirs are touched: a refused
            // start changes nothing on disk.
            let t = user_dir(root, target)?;
            if *fresh {
                // Root of the container's user namespace may delete what the
                // last start left, whoever in the container owned it.
                for d in [&overlay.upper, &overlay.work] {
                    if d.exists() {
                        std::fs::remove_dir_all(d).map_err(|e| io_err("rmdir", d, e))?;
                    }
                    std::fs::create_dir_all(d).map_err(|e| io_err("mkdir", d, e))?;
                }
            }
            // An overlay volume is native overlayfs whatever the root's
            // driver; the root's own API choice when it is overlay too.
            let api = match plan.rootfs_driver {
                crate::rootfs::Driver::Overlay(api) => api,
                _ => crate::rootfs::MountApi::Legacy,
            };
            overlay.mount(&t, &crate::rootfs::Driver::Overlay(api), &plan.scratch)?
        }
        Op::ReadOnlyRoot => mount(
            none,
            root,
            none,
            Flags::MS_REMOUNT | Flags::MS_BIND | Flags::MS_RDONLY,
            none,
        )?,
        Op::PivotRoot => {
            // pivot_root(".", ".") stacks the old root on top of the new one;
            // detaching it then leaves only the new root (pivot_root(2) NOTES).
            nix::unistd::chdir(root)
                .map_err(|e| SysError::new(format!("chdir({})", root.display()), e))?;
            pivot_root(Path::new("."), Path::new("."))?;
            umount_detach(Path::new("."))?;
            nix::unistd::chdir("/").map_err(|e| SysError::new("chdir(/)", e))?
        }
    }
    Ok(())
}

/// A recursive bind of `source` on `t`, read-only when asked.
fn bind(source: &Path, t: &Path, read_only: bool) -> Result<(), SysError> {
    let none: Option<&str> = None;
    mount(
        Some(&*source.to_string_lossy()),
        t,
        none,
        Flags::MS_BIND | Flags::MS_REC,
        none,
    )?;
    if read_only {
        setattr_recursive(t, MOUNT_ATTR_RDONLY)?;
    }
    Ok(())
}

/// /dev: a tmpfs with the host's harmless devices bound in (a user namespace
/// cannot mknod real devices), a private devpts instance, shm and mqueue.
fn setup_dev(dev: &Path, shm_size: u64) -> Result<(), SysError> {
    let none: Option<&str> = None;
    mount(
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        Flags::MS_NOSUID | Flags::MS_STRICTATIME,
        Some("mode=755"),
    )?;
    for d in DEVICES {
        let t = dev.join(d);
        create_file(&t)?;
        mount(Some(&format!("/dev/{d}")), &t, none, Flags::MS_BIND, none)?;
    }
    let pts = mkdir(&dev.join("pts"))?;
    // newinstance: the container's own pty numbering (devpts docs); gid= is
    // left out because the tty group may not be mapped in this namespace.
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        Flags::MS_NOSUID | Flags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620"),
    )?;
    let shm = mkdir(&dev.join("shm"))?;
    mount(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        Flags::MS_NOSUID | Flags::MS_NODEV | Flags::MS_NOEXEC,
        Some(&*format!("mode=1777,size={shm_size}")),
    )?;
    let mq = mkdir(&dev.join("mqueue"))?;
    mount(
        Some("mqueue"),
        &mq,
        Some("mqueue"),
        Flags::MS_NOSUID | Flags::MS_NODEV | Flags::MS_NOEXEC,
        none,
    )?;
    for (name, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        let l = dev.join(name);
        symlink(to, &l).map_err(|e| io_err("symlink", &l, e))?;
    }
    Ok(())
}

fn io_err(call: &str, p: &Path, e: std::io::Error) -> SysError {
    SysError::new(
        format!("{call}({})", p.display()),
        nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    )
}

fn mkdir(p: &Path) -> Result<PathBuf, SysError> {
    match std::fs::create_dir(p) {
        Ok(()) => Ok(p.to_path_buf()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(p.to_path_buf()),
        Err(e) => Err(io_err("mkdir", p, e)),
    }
}

/// Container path `rel` as a host path under `root`, symlinks resolved the
/// way the container sees them (never leading out of `root`).
fn in_root(root: &Path, rel: &Path) -> Result<PathBuf, SysError> {
    resolve_in_root(root, rel).map_err(|e| io_err("resolve", &root.join(rel), e))
}

/// [`mkdir_in`] for a mount the user or the Dockerfile asked for, refused
/// when it leads into /proc.
fn user_dir(root: &Path, rel: &Path) -> Result<PathBuf, StepError> {
    let p = in_root(root, rel)?;
    outside_proc(root, &p)?;
    Ok(dir_at(p)?)
}

/// Refuses a mount whose resolved host path `t` is the container's /proc
/// or inside it, but for the files [`super::plan::PROC_ALLOWED`] names.
/// The text of the container path was checked before; this is where a
/// symlink in the image (`/link -> /proc`) is seen, as runc checks at
/// mount time. A mount there could feed the container a cap_last_cap, or
/// a sysctl, the kernel never gave. /proc is `<root>/proc` itself, never
/// a link ([`kernel_fs_dir`]), so only the root itself (reached through a
/// link such as `/link -> /`) lies above it, and is refused too.
pub(super) fn outside_proc(root: &Path, t: &Path) -> Result<(), StepError> {
    if t == root {
        return Err(StepError::Refused(
            "refused: it leads to /, the container's root, which holds /proc".into(),
        ));
    }
    let Ok(under) = t.strip_prefix(root.join("proc")) else {
        return Ok(());
    };
    let rel = Path::new("proc").join(under);
    if super::plan::proc_mountable(&rel) {
        return Ok(());
    }
    // join("") would leave a trailing slash on /proc itself.
    let shown = if under.as_os_str().is_empty() {
        "/proc".to_string()
    } else {
        format!("/{}", rel.display())
    };
    Err(StepError::Refused(format!(
        "refused: it leads to {shown}, inside /proc, where only {} may be mounted over",
        super::plan::PROC_ALLOWED.join(", ")
    )))
}

/// `<root>/<name>` as the directory procfs or sysfs is mounted on, made
/// when missing. Like runc ("filesystem proc must be mounted on ordinary
/// directory"), an image's link or file there is refused rather than
/// followed: procfs mounted where a link leads could be covered by a
/// volume mounted on a directory above it, out of [`outside_proc`]'s sight.
pub(super) fn kernel_fs_dir(root: &Path, name: &str) -> Result<PathBuf, StepError> {
    let p = root.join(name);
    let m = match p.symlink_metadata() {
        Ok(m) if m.is_dir() => return Ok(p),
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(mkdir(&p)?),
        Err(e) => return Err(io_err("lstat", &p, e).into()),
    };
    let what = if m.file_type().is_symlink() {
        let to = std::fs::read_link(&p).map_err(|e| io_err("readlink", &p, e))?;
        format!("a symbolic link to {}", to.display())
    } else if m.is_file() {
        "a regular file".to_string()
    } else {
        "a special file".to_string()
    };
    Err(StepError::Refused(format!(
        "the image's /{name} is {what}: {name} must be mounted on an ordinary directory"
    )))
}

/// `rel` as a directory, created with its parents when missing.
fn mkdir_in(root: &Path, rel: &Path) -> Result<PathBuf, SysError> {
    dir_at(in_root(root, rel)?)
}

/// [`mkdir_in`] for `p`, a path already resolved inside the root.
fn dir_at(p: PathBuf) -> Result<PathBuf, SysError> {
    if p.is_dir() {
        return Ok(p);
    }
    std::fs::create_dir_all(&p).map_err(|e| io_err("mkdir", &p, e))?;
    Ok(p)
}

/// `rel` as a regular file to mount over, created when missing. A symlink
/// there (/etc/resolv.conf often is one) is replaced, as Docker does; the
/// directories above it are resolved inside `root`, and the file's path
/// in the directory they lead to refused when it is in /proc
/// ([`outside_proc`]).
fn user_file(root: &Path, rel: &Path) -> Result<PathBuf, StepError> {
    let dir = in_root(root, rel.parent().unwrap_or(Path::new("")))?;
    let name = rel.file_name().unwrap_or_default();
    outside_proc(root, &dir.join(name))?;
    Ok(file_at(&dir, name)?)
}

/// [`user_file`] for `name` in `dir`, a directory already resolved.
fn file_at(dir: &Path, name: &std::ffi::OsStr) -> Result<PathBuf, SysError> {
    let p = dir.join(name);
    match p.symlink_metadata() {
        Ok(m) if m.is_file() => return Ok(p),
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::remove_file(&p).map_err(|e| io_err("unlink", &p, e))?;
        }
        Ok(_) => return Ok(p),
        Err(_) => {}
    }
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_err("mkdir", dir, e))?;
    }
    create_file(&p)?;
    Ok(p)
}

fn create_file(p: &Path) -> Result<(), SysError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
        .map(drop)
        .map_err(|e| io_err("open(O_CREAT)", p, e))
}
