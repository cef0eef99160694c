//! Network interface ioctls (netdevice(7)): bringing an interface up; and
//! UDP datagrams with their destination address (IP_PKTINFO), so a server
//! bound to every address answers from the one it was asked at.
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

/// Have `sock` (UDP, IPv4) learn each datagram's destination address
/// (IP_PKTINFO), for [`recv_with_dest`].
pub fn want_dest_addr(sock: &std::net::UdpSocket) -> Result<(), SysError> {
    nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::Ipv4PacketInfo, &true)
        .ctx(|| "setsockopt(IP_PKTINFO)".into())
}

/// One datagram from `sock` into `buf`: its length, sender and the address
/// it was sent to (when `want_dest_addr` asked for it).
pub fn recv_with_dest(
    sock: &std::net::UdpSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, std::net::SocketAddrV4, Option<std::net::Ipv4Addr>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn};
    let mut cmsg = nix::cmsg_space!(libc::in_pktinfo);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )?;
    let dest = msg.cmsgs()?.find_map(|c| match c {
        ControlMessageOwned::Ipv4PacketInfo(p) => {
            // The local address the kernel would answer from (for a query
            // to a broadcast address, not that address).
            Some(std::net::Ipv4Addr::from(u32::from_be(
                p.ipi_spec_dst.s_addr,
            )))
        }
        _ => None,
    });
    let from = msg
        .address
        .map(std::net::SocketAddrV4::from)
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
    Ok((msg.bytes, from, dest))
}

/// Send `data` from `sock` to `to`, from the local address `source` (which
/// must be this namespace's; None: the one routing picks).
pub fn send_from(
    sock: &std::net::UdpSocket,
    data: &[u8],
    to: std::net::SocketAddrV4,
    source: Option<std::net::Ipv4Addr>,
) -> std::io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrIn};
    let Some(source) = source else {
        return sock.send_to(data, to).map(drop);
    };
    let info = libc::in_pktinfo {
        ipi_ifindex: 0,
        ipi_spec_dst: libc::in_addr {
            s_addr: u32::from(source).to_be(),
        },
        ipi_addr: libc::in_addr { s_addr: 0 },
    };
    sendmsg(
        sock.as_raw_fd(),
        &[std::io::IoSlice::new(data)],
        &[ControlMessage::Ipv4PacketInfo(&info)],
        MsgFlags::empty(),
        Some(&SockaddrIn::from(to)),
    )?;
    Ok(())
}
