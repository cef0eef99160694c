//! Capabilities (capabilities(7)): the bounding set (what a process can ever
//! hold after exec) and the permitted/effective/inheritable sets it holds now.
//!
//! Which capabilities to keep is the sandbox's decision; this only drops.

use super::SysError;
use nix::errno::Errno;

/// The highest capability number the running kernel knows.
///
/// Read once per process: it is fixed for the kernel's life, and a start
/// asks for it twice (the flags' check and the plan). Only a process that
/// sees the host's /proc may call it: a container's process is given the
/// value instead.
pub fn last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    })
}

/// Drop every capability whose bit is not in `keep` from the bounding set
/// (prctl(PR_CAPBSET_DROP)). Needs CAP_SETPCAP in the current user namespace,
/// so it must run before switching to a non-root user.
pub fn bound_to(keep: u64, last: u32) -> Result<(), SysError> {
    for cap in (0..=last.min(63)).filter(|c| keep & (1 << c) == 0) {
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

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

/// Set this thread's permitted and effective sets to `keep` (intersected
/// with what it holds) and clear the inheritable set (capset(2)). Lowering
/// needs no privilege.
pub fn hold_only(keep: u64) -> Result<(), SysError> {
    let mut head = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: version 3 takes a header and an array of two CapData, both
    // valid and writable for the call; the kernel fills `data`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut head as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(SysError::new("capget(0)", Errno::last()));
    }
    for (i, d) in data.iter_mut().enumerate() {
        let k = (keep >> (32 * i)) as u32;
        d.permitted &= k;
        d.effective &= k;
        d.inheritable = 0;
    }
    // SAFETY: as above; capset only reads the header and the two entries.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut head as *mut CapHeader, data.as_ptr()) };
    if r < 0 {
        return Err(SysError::new(format!("capset({keep:#x})"), Errno::last()));
    }
    Ok(())
}
