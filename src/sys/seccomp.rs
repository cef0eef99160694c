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

/// SECCOMP_FILTER_FLAG_TSYNC (linux/seccomp.h, Linux 3.17).
pub const FLAG_TSYNC: u32 = 1;
/// SECCOMP_FILTER_FLAG_LOG (Linux 4.14).
pub const FLAG_LOG: u32 = 1 << 1;
/// SECCOMP_FILTER_FLAG_SPEC_ALLOW (Linux 4.17).
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;

/// Install one program for this thread (and everything it execs), with
/// the seccomp(2) flags `required` (the kernel must know them: the call
/// fails otherwise) and `if_known`, which a kernel older than them (EINVAL)
/// gets the program without, as runc adds SPEC_ALLOW to a profile that
/// names no flags only where the kernel supports it.
pub fn install(program: &[sock_filter], required: u32, if_known: u32) -> Result<(), SysError> {
    let len = libc::c_ushort::try_from(program.len())
        .map_err(|_| SysError::new("seccomp(SECCOMP_SET_MODE_FILTER)", Errno::E2BIG))?;
    let prog = SockFprog {
        len,
        filter: program.as_ptr(),
    };
    let set = |flags: u32| {
        // SAFETY: `prog` points at `len` valid sock_filter structs
        // (repr(C), the kernel's layout) that outlive the call; the kernel
        // copies them.
        unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::c_ulong::from(flags),
                &prog as *const SockFprog,
            )
        }
    };
    let mut r = set(required | if_known);
    if r < 0 && Errno::last() == Errno::EINVAL && if_known & !required != 0 {
        r = set(required);
    }
    if r < 0 {
        return Err(SysError::new(
            format!(
                "seccomp(SECCOMP_SET_MODE_FILTER, {required:#x}, <{} instructions>)",
                program.len()
            ),
            Errno::last(),
        ));
    }
    Ok(())
}
