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

/// Install one program for this thread (and everything it execs).
pub fn install(program: &[sock_filter]) -> Result<(), SysError> {
    let len = libc::c_ushort::try_from(program.len())
        .map_err(|_| SysError::new("seccomp(SECCOMP_SET_MODE_FILTER)", Errno::E2BIG))?;
    let prog = SockFprog {
        len,
        filter: program.as_ptr(),
    };
    // SAFETY: `prog` points at `len` valid sock_filter structs (repr(C),
    // the kernel's layout) that outlive the call; the kernel copies them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as libc::c_ulong,
            &prog as *const SockFprog,
        )
    };
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
