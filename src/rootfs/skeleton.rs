//! The skeleton layer: an empty-file-and-directory layer put *below* the
//! image's layers holding the mount points every container needs (`/proc`,
//! `/sys`, `/dev`, `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`).
//!
//! Most images lack some of them (busybox has no /proc, /sys or /etc/hosts),
//! and creating them in each container's upper dir costs a copy-up of /etc and
//! half a dozen inodes created and deleted per start. At the bottom of the
//! stack it never masks anything the image has: the image's own /etc keeps
//! its owner and mode, and a whiteout in the image still hides a file. The
//! upper dir stays empty unless the container writes, so commits are unchanged.
//!
//! Created once per state dir, atomically (build in a temp dir, rename).

use std::path::{Path, PathBuf};

/// Bump when the contents change, so old skeletons are not reused.
const NAME: &str = "skeleton-v2";
const DIRS: [&str; 4] = ["proc", "sys", "dev", "etc"];
const FILES: [&str; 3] = ["etc/hostname", "etc/hosts", "etc/resolv.conf"];

/// Where the skeleton layer under `state` is.
pub fn path(state: &Path) -> PathBuf {
    state.join(NAME)
}

/// The skeleton layer under `state`, created if missing.
pub fn ensure(state: &Path) -> std::io::Result<PathBuf> {
    let dir = path(state);
    if dir.is_dir() {
        return Ok(dir);
    }
    fs_err::create_dir_all(state)?;
    let tmp = tempfile::Builder::new()
        .prefix(".skeleton-")
        .tempdir_in(state)?;
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    // Docker's modes whatever the umask: an image without its own /etc
    // shows this one, which a 077 made root's alone (v1 skeletons may be so).
    for d in DIRS {
        crate::modes::create_public_dir(&tmp.path().join(d))?;
    }
    for f in FILES {
        fs_err::write(tmp.path().join(f), "")?;
        fs_err::set_permissions(tmp.path().join(f), std::fs::Permissions::from_mode(0o644))?;
    }
    let tmp = tmp.keep();
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another hutch won the race: use its skeleton, drop ours.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skeleton_is_created_once_with_the_mount_points() {
        let d = tempfile::tempdir().unwrap();
        let s = ensure(d.path()).unwrap();
        for p in DIRS {
            assert!(s.join(p).is_dir(), "{p}");
        }
        for p in FILES {
            assert!(s.join(p).is_file(), "{p}");
        }
        std::fs::write(s.join("marker"), "").unwrap();
        assert_eq!(ensure(d.path()).unwrap(), s);
        assert!(s.join("marker").exists(), "reused, not rebuilt");
    }
}
