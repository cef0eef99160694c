//! Installing seccomp BPF programs (seccomp(2), SECCOMP_SET_MODE_FILTER).
//!
//! What the programs contain is `sandbox::seccomp`'s business; this only
//! hands them to the kernel. The caller must hold no_new_privs or
//! CAP_SYS_ADMIN in its user namespace, as the kernel requires.

use super::SysError;
use libc::sock_filter;
use nix::errno::Errno;

#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const sock_filter,
}

/// SECCOMP_FILTER_FLAG_SPEC_ALLOW (linux/seccomp.h, Linux 4.17).
const FLAG_SPEC_ALLOW: libc::c_ulong = 1 << 2;

/// Install one program for this thread (and everything it execs).
///
/// With SECCOMP_FILTER_FLAG_SPEC_ALLOW, as runc installs every profile
/// that names no flags (so Docker's default does): without it, a kernel
/// booted with `spec_store_bypass_disable=seccomp` (the default before
/// Linux 5.16) turns on the speculative-store-bypass mitigation for every
/// process of the container, which slows whatever runs there and buys
/// nothing against the container's own code. Since 5.16 the default is
/// `prctl`, where the flag changes nothing, and a process that wants the
/// mitigation still asks for it with prctl(PR_SET_SPECULATION_CTRL).
/// A kernel older than the flag gets the program without it.
pub fn install(program: &[sock_filter]) -> Result<(), SysError> {
    let len = libc::c_ushort::try_from(program.len())
        .map_err(|_| SysError::new("seccomp(SECCOMP_SET_MODE_FILTER)", Errno::E2BIG))?;
    let prog = SockFprog {
        len,
        filter: program.as_ptr(),
    };
    let set = |flags: libc::c_ulong| {
        // SAFETY: `prog` points at `len` valid sock_filter structs
        // (repr(C), the kernel's layout) that outlive the call; the kernel
        // copies them.
        unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const SockFprog,
            )
        }
    };
    let mut r = set(FLAG_SPEC_ALLOW);
    if r < 0 && Errno::last() == Errno::EINVAL {
        r = set(0);
    }
    if r < 0 {
        return Err(SysError::new(
            format!(
                "seccomp(SECCOMP_SET_MODE_FILTER, <{} instructions>)",
                program.len()
            ),
            Errno::last(),
        ));
    }
    Ok(())
}
