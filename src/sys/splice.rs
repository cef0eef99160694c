//! Moving bytes between two sockets without copying them through user
//! memory: a pipe per direction and splice(2) in and out of it, as
//! rootlesskit's port driver and pasta's spliced paths do.
//!
//! This holds the calls only; which sockets are paired and when to call is
//! `net::forward`'s business.

use super::{Ctx, SysError};
use nix::errno::Errno;
use nix::fcntl::{fcntl, splice, FcntlArg, OFlag, SpliceFFlags};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// A non-blocking pipe of about `want` bytes (fewer when the user's pipe
/// buffer allowance, pipe(7) "pipe-user-pages-soft", is used up), and its
/// capacity in bytes.
pub fn pipe(want: usize) -> Result<(OwnedFd, OwnedFd, usize), SysError> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .ctx(|| "pipe2(O_CLOEXEC | O_NONBLOCK)".into())?;
    let size = i32::try_from(want).unwrap_or(i32::MAX);
    // Bigger pipes mean fewer splice calls per byte. A refusal (EPERM over the
    // allowance) leaves the default size, which still works.
    let _ = fcntl(w.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(size));
    let capacity =
        fcntl(w.as_raw_fd(), FcntlArg::F_GETPIPE_SZ).ctx(|| "fcntl(F_GETPIPE_SZ)".into())?;
    Ok((r, w, usize::try_from(capacity).unwrap_or(0)))
}

/// Move up to `len` bytes from `from` to `to` (one of them a pipe) without
/// blocking: Ok(0) is end of file on `from`, EAGAIN means nothing could
/// move now.
pub fn splice_some(from: impl AsFd, to: impl AsFd, len: usize) -> Result<usize, Errno> {
    loop {
        match splice(
            from.as_fd(),
            None,
            to.as_fd(),
            None,
            len,
            SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK,
        ) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// Raise this process's soft limit on open descriptors to its hard limit:
/// every forwarded connection holds two sockets and two pipes.
pub fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Whether the next byte to read from TCP socket `sock` is urgent data
/// (SIOCATMARK, tcp(7)): splice(2) stops in front of that byte for good,
/// while the socket stays readable.
pub fn at_urgent_mark(sock: impl AsFd) -> bool {
    // asm-generic/sockios.h; the libc crate does not export it for Linux.
    const SIOCATMARK: libc::c_ulong = 0x8905;
    let mut at: libc::c_int = 0;
    // SAFETY: SIOCATMARK writes one int through the pointer, which points
    // at `at`, alive for the whole call.
    let r = unsafe { libc::ioctl(sock.as_fd().as_raw_fd(), SIOCATMARK as _, &mut at) };
    r == 0 && at != 0
}

/// Copy one byte from socket `from` into pipe `to`: the urgent byte at the
/// mark (kept in the stream by SO_OOBINLINE), which splice cannot pass. The
/// pipe must have room for it. Ok(0) is end of file.
pub fn copy_one_byte(from: impl AsFd, to: impl AsFd) -> Result<usize, Errno> {
    use nix::sys::socket::{recv, MsgFlags};
    let mut b = [0u8; 1];
    let n = recv(from.as_fd().as_raw_fd(), &mut b, MsgFlags::MSG_DONTWAIT)?;
    if n == 1 {
        nix::unistd::write(to, &b)?;
    }
    Ok(n)
}
