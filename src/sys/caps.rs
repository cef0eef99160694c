//! The capability bounding set (capabilities(7)): what root in the container
//! can ever hold after exec.
//!
//! Which capabilities to keep is the sandbox's decision; this only drops.

use super::SysError;
use nix::errno::Errno;

/// Drop every capability not in `keep` from the bounding set
/// (prctl(PR_CAPBSET_DROP)). Needs CAP_SETPCAP in the current user namespace,
/// so it must run before switching to a non-root user.
pub fn keep_only(keep: &[u32]) -> Result<(), SysError> {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    for cap in (0..=last).filter(|c| !keep.contains(c)) {
        // SAFETY: PR_CAPBSET_DROP takes the capability number by value; the
        // remaining arguments are unused and passed as 0.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        // EINVAL: a capability this kernel does not know; nothing to drop.
        if r < 0 && Errno::last() != Errno::EINVAL {
            return Err(SysError::new(
                format!("prctl(PR_CAPBSET_DROP, {cap})"),
                Errno::last(),
            ));
        }
    }
    Ok(())
}
