//! The process's umask policy and the modes of what hutch makes for
//! containers to see (a writable layer's upper dir, which is the
//! container's `/`, a volume's data, a layer's root, the skeleton layer):
//! Docker's and Podman's 0755, whatever the caller's umask. hutch keeps the
//! caller's umask for what it writes for the caller (`save -o`,
//! `--cidfile`), so these are made with their mode explicitly; under a
//! umask of 077 they were 0700, which no user but root in a container
//! could enter.
//!
//! It only sets this process's umask and makes directories at the paths it
//! is given.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// The umask [`keep_owner_access`] left, or `u32::MAX` before it ran (a
/// library caller's umask, unknown: every mode is then set explicitly).
static UMASK: AtomicU32 = AtomicU32::new(u32::MAX);

/// What hutch makes must stay its owner's to change: under a umask that
/// takes the owner's own bits away (`umask 0277`) the store's first
/// directory would be made read-only, and every later command, under any
/// umask, would fail on it. The owner's bits leave the umask; the group's
/// and others' stay as the user set them (they decide the modes of `save
/// -o`, `--cidfile` and the like). Called first by the command line.
pub fn keep_owner_access() {
    use nix::sys::stat::{umask, Mode};
    let others = Mode::from_bits_truncate(0o077);
    let old = umask(others);
    let kept = old & others;
    umask(kept);
    UMASK.store(kept.bits(), Ordering::Relaxed);
}

/// Whether a directory made with mode 0755 under umask `umask` comes out
/// with less.
fn umask_strips_0755(umask: u32) -> bool {
    umask & 0o755 != 0
}

/// Make `path` (and its missing parents) a directory of mode 0755. It is
/// made with that mode, which the usual umasks (022, and 002 with user
/// private groups) leave whole; only under one that takes from it is the
/// mode set again, so a container's start makes its upper dir in one call.
pub fn create_public_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("failed to create directory `{}`: {e}", path.display()),
            )
        })?;
    if umask_strips_0755(UMASK.load(Ordering::Relaxed)) {
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_umask_that_takes_from_0755_needs_the_mode_set_again() {
        for kept in [0o022, 0o002, 0o000, 0o020] {
            assert!(!umask_strips_0755(kept), "{kept:o}");
        }
        for strips in [0o077, 0o027, 0o007, 0o200, u32::MAX] {
            assert!(umask_strips_0755(strips), "{strips:o}");
        }
    }
}
