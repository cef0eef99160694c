//! Network interface ioctls (netdevice(7)): bringing an interface up.
//!
//! Which interfaces exist and why is `net`'s business; this only flips flags.

use super::{Ctx, SysError};
use nix::errno::Errno;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use std::os::fd::AsRawFd;

/// Set IFF_UP on interface `name` (SIOCGIFFLAGS then SIOCSIFFLAGS).
pub fn interface_up(name: &str) -> Result<(), SysError> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ctx(|| "socket(AF_INET, SOCK_DGRAM)".into())?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(SysError::new(format!("ifreq({name})"), Errno::ENAMETOOLONG));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads ifr_name and writes ifr_flags of the valid,
    // NUL-terminated request struct.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(SysError::new(
            format!("ioctl({name}, SIOCGIFFLAGS)"),
            Errno::last(),
        ));
    }
    // SAFETY: the union member ifru_flags is the one SIOCGIFFLAGS just filled.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the same valid request struct.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(SysError::new(
            format!("ioctl({name}, SIOCSIFFLAGS, IFF_UP)"),
            Errno::last(),
        ));
    }
    Ok(())
}

/// A non-blocking TCP socket connecting to `to` in this process's network
/// namespace: Ok once the connection is under way (EINPROGRESS); it becomes
/// writable when established or failed (SO_ERROR says which).
pub fn connect_nonblocking(to: std::net::SocketAddr) -> Result<std::net::TcpStream, Errno> {
    use nix::sys::socket::{connect, SockaddrIn, SockaddrIn6};
    let family = match to {
        std::net::SocketAddr::V4(_) => AddressFamily::Inet,
        std::net::SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let sock = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    let r = match to {
        std::net::SocketAddr::V4(a) => connect(sock.as_raw_fd(), &SockaddrIn::from(a)),
        std::net::SocketAddr::V6(a) => connect(sock.as_raw_fd(), &SockaddrIn6::from(a)),
    };
    match r {
        Ok(()) | Err(Errno::EINPROGRESS) => Ok(std::net::TcpStream::from(sock)),
        Err(e) => Err(e),
    }
}
