//! Preparing a volume's directory in the sandbox child, before it is bind
//! mounted: a fresh (empty) volume is given to the container user and
//! filled with what the image has at the mount point, with that
//! directory's owner and mode (Docker's copy-up, Podman's ownership fix);
//! `:U` gives every file to the container user.
//!
//! Runs as root of the container's user namespace, with the root filesystem
//! mounted and nothing of the container running yet. The image's tree is
//! hostile: it is walked without following symbolic links.

use super::plan::Plan;
use crate::sys::SysError;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn io_err(call: &str, p: &Path, e: std::io::Error) -> SysError {
    SysError::new(
        format!("{call}({})", p.display()),
        nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    )
}

/// The container user's uid and gid, as the process will run, when they
/// are mapped here (otherwise ownership is left as it is).
pub fn container_ids(plan: &Plan, root: &Path) -> Option<(u32, u32)> {
    let read = |p| crate::rootfs::read::config_file(root, p).unwrap_or_default();
    let id = super::user::resolve(
        plan.process.user.as_deref(),
        &read("/etc/passwd"),
        &read("/etc/group"),
    )
    .ok()?;
    let m = &plan.mapping;
    (m.host_uid_of(id.uid).is_some() && m.host_gid_of(id.gid).is_some()).then_some((id.uid, id.gid))
}

/// Whether directory `dir` has no entries.
pub fn is_empty(dir: &Path) -> Result<bool, SysError> {
    let mut rd = std::fs::read_dir(dir).map_err(|e| io_err("opendir", dir, e))?;
    Ok(rd.next().is_none())
}

/// Make empty volume dir `vol` the container user's, then copy `image`'s
/// tree (the image's directory at the mount point, when it has one) into
/// it, with that directory's owner and mode.
pub fn fill(vol: &Path, image: Option<&Path>, ids: Option<(u32, u32)>) -> Result<(), SysError> {
    if let Some((uid, gid)) = ids {
        lchown(vol, Some(uid), Some(gid)).map_err(|e| io_err("lchown", vol, e))?;
    }
    let Some(image) = image else {
        return Ok(());
    };
    let mut todo: Vec<(PathBuf, PathBuf)> = Vec::new();
    push_children(image, vol, &mut todo)?;
    while let Some((from, to)) = todo.pop() {
        let m = from
            .symlink_metadata()
            .map_err(|e| io_err("lstat", &from, e))?;
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to).map_err(|e| io_err("mkdir", &to, e))?;
            push_children(&from, &to, &mut todo)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&from).map_err(|e| io_err("readlink", &from, e))?;
            std::os::unix::fs::symlink(&target, &to).map_err(|e| io_err("symlink", &to, e))?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to).map_err(|e| io_err("copy", &to, e))?;
            let f = std::fs::File::options()
                .write(true)
                .open(&to)
                .map_err(|e| io_err("open", &to, e))?;
            if let Ok(t) = m.modified() {
                let _ = f.set_modified(t);
            }
        } else {
            // Devices, fifos and sockets are not data.
            continue;
        }
        same_owner_and_mode(&m, &to)?;
    }
    let m = image
        .symlink_metadata()
        .map_err(|e| io_err("lstat", image, e))?;
    same_owner_and_mode(&m, vol)
}

fn push_children(
    from: &Path,
    to: &Path,
    todo: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<(), SysError> {
    for e in std::fs::read_dir(from).map_err(|e| io_err("opendir", from, e))? {
        let e = e.map_err(|e| io_err("readdir", from, e))?;
        todo.push((e.path(), to.join(e.file_name())));
    }
    Ok(())
}

/// Give `to` the owner and (unless a symbolic link) the mode in `m`. The
/// owner first: chown clears setuid bits.
fn same_owner_and_mode(m: &std::fs::Metadata, to: &Path) -> Result<(), SysError> {
    // An owner this namespace does not map cannot be given; the file stays
    // root's, as a single-id container sees every file.
    let _ = lchown(to, Some(m.uid()), Some(m.gid()));
    if !m.file_type().is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(m.mode() & 0o7777))
            .map_err(|e| io_err("chmod", to, e))?;
    }
    Ok(())
}

/// Give `dir` and everything below it to `ids` (`:U`), links not followed.
pub fn chown_tree(dir: &Path, ids: Option<(u32, u32)>) -> Result<(), SysError> {
    let Some((uid, gid)) = ids else {
        return Ok(());
    };
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        lchown(&p, Some(uid), Some(gid)).map_err(|e| io_err("lchown", &p, e))?;
        let m = p.symlink_metadata().map_err(|e| io_err("lstat", &p, e))?;
        if m.is_dir() {
            for e in std::fs::read_dir(&p).map_err(|e| io_err("opendir", &p, e))? {
                todo.push(e.map_err(|e| io_err("readdir", &p, e))?.path());
            }
        }
    }
    Ok(())
}
