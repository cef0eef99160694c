//! Pseudo-terminals: the ioctls on a pty master (unlock, open its peer),
//! controlling-terminal and window-size ioctls, and passing a descriptor over
//! a unix socket with SCM_RIGHTS.
//!
//! It knows nothing about containers; `sandbox::tty` uses it.

use super::{Ctx, SysError};
use nix::errno::Errno;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// TIOCSPTLCK(0): unlock the slave of a freshly opened master (unlockpt(3)).
pub fn unlock(master: BorrowedFd<'_>) -> Result<(), SysError> {
    let zero: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, which is valid.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &zero) };
    if r < 0 {
        return Err(SysError::new("ioctl(<ptmx>, TIOCSPTLCK, 0)", Errno::last()));
    }
    Ok(())
}

/// TIOCGPTN: the number N of the slave `/dev/pts/N` (ptsname(3)).
pub fn number(master: BorrowedFd<'_>) -> Result<u32, SysError> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the valid pointer.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    if r < 0 {
        return Err(SysError::new("ioctl(<ptmx>, TIOCGPTN)", Errno::last()));
    }
    Ok(n)
}

/// TIOCGPTPEER: open the slave through the master, without a path lookup
/// (ioctl_tty(2); avoids racing on /dev/pts/N).
pub fn open_peer(master: BorrowedFd<'_>) -> Result<OwnedFd, SysError> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if r < 0 {
        return Err(SysError::new(
            "ioctl(<ptmx>, TIOCGPTPEER, O_RDWR|O_NOCTTY)",
            Errno::last(),
        ));
    }
    // SAFETY: r is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// TIOCSCTTY: make `tty` the controlling terminal of this (new) session.
pub fn set_controlling(tty: BorrowedFd<'_>) -> Result<(), SysError> {
    // SAFETY: TIOCSCTTY takes an int argument by value (0: do not steal).
    let r = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if r < 0 {
        return Err(SysError::new("ioctl(<pts>, TIOCSCTTY, 0)", Errno::last()));
    }
    Ok(())
}

/// A terminal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

/// TIOCGWINSZ; None when `fd` is not a terminal.
pub fn window_size(fd: BorrowedFd<'_>) -> Option<WinSize> {
    let mut ws: libc::winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one struct winsize through the valid pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (r == 0).then_some(WinSize {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

/// TIOCSWINSZ; the kernel then sends SIGWINCH to the terminal's foreground group.
pub fn set_window_size(fd: BorrowedFd<'_>, size: WinSize) -> Result<(), SysError> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one struct winsize through the valid pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if r < 0 {
        return Err(SysError::new(
            format!("ioctl(<pty>, TIOCSWINSZ, {}x{})", size.rows, size.cols),
            Errno::last(),
        ));
    }
    Ok(())
}

/// Send one descriptor over a unix socket (unix(7), SCM_RIGHTS).
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Result<(), SysError> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(b"t")];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .ctx(|| "sendmsg(<socket>, SCM_RIGHTS)".into())?;
    Ok(())
}

/// Receive one descriptor sent with [`send_fd`]; None when the peer closed
/// the socket without sending (it failed before it could).
pub fn recv_fd(sock: BorrowedFd<'_>) -> Result<Option<OwnedFd>, SysError> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ctx(|| "recvmsg(<socket>, SCM_RIGHTS)".into())?;
    for c in msg
        .cmsgs()
        .ctx(|| "recvmsg(<socket>): control data".into())?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&raw) = fds.first() {
                // SAFETY: the kernel just installed this descriptor in our
                // table for us (SCM_RIGHTS); nothing else owns it.
                return Ok(Some(unsafe { OwnedFd::from_raw_fd(raw) }));
            }
        }
    }
    Ok(None)
}
