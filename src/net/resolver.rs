//! The name server of user-defined networks (the role of Docker's embedded
//! DNS and Podman's aardvark-dns): a UDP responder in the shared network
//! namespace that answers A queries for the containers on the asker's
//! network by name, alias and short id, and passes every other query on to
//! the upstream server unchanged.
//!
//! Members are looked up at each query (through the `Lookup` it is given),
//! so a container started or restarted after the asker resolves at once.
//! This module knows the DNS wire format (RFC 1035) and the relay; who is a
//! member is `bridge`'s business.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

/// How long a forwarded query may wait for the upstream server.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);

/// At most this many queries wait for the upstream at once; more are
/// dropped (the asker's resolver retries), so a container sending a flood
/// of questions cannot make the server start threads without end.
const MAX_RELAYS: usize = 64;

/// The question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub id: u16,
    /// Lower case, without the final dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Where the question section ends in the packet.
    end: usize,
}

pub const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;

/// What the network knows about a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A member's address.
    Member(Ipv4Addr),
    /// A member, but the query is not for its IPv4 address: an empty answer,
    /// so the resolver does not look further afield.
    MemberNoData,
    /// Not a member: ask upstream.
    Forward,
}

/// The one question of a standard query, or None for anything else.
pub fn parse(p: &[u8]) -> Option<Question> {
    if p.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([p[0], p[1]]);
    let flags = u16::from_be_bytes([p[2], p[3]]);
    let qd = u16::from_be_bytes([p[4], p[5]]);
    // A query (QR 0) with opcode QUERY and one question.
    if flags & 0x8000 != 0 || (flags >> 11) & 0xf != 0 || qd != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = *p.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        // No compression in a question of a query.
        if len > 63 {
            return None;
        }
        let label = p.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += len;
    }
    let t = p.get(i..i + 4)?;
    Some(Question {
        id,
        name: labels.join("."),
        qtype: u16::from_be_bytes([t[0], t[1]]),
        qclass: u16::from_be_bytes([t[2], t[3]]),
        end: i + 4,
    })
}

/// The reply to `query` (whose question is `q`) with `ip` as its A record,
/// or with no records when `ip` is None.
pub fn reply(query: &[u8], q: &Question, ip: Option<Ipv4Addr>) -> Vec<u8> {
    let rd = query[2] & 0x01;
    let mut out = Vec::with_capacity(q.end + 16);
    out.extend_from_slice(&q.id.to_be_bytes());
    // QR, AA, RD as asked; RA; NOERROR.
    out.push(0x84 | rd);
    out.push(0x80);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&u16::from(ip.is_some()).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..q.end]);
    if let Some(ip) = ip {
        // The name by pointer to the question (offset 12), type A, class IN,
        // a short TTL (members come and go), four bytes of address.
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&5u32.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// Answer queries on `sock` until `idle` says to stop (asked about once a
/// second): members through `lookup` (the asker's address and the name),
/// everything else relayed to `upstream` on a thread per query, so a slow
/// upstream never holds up the members' answers.
pub fn serve(
    sock: &UdpSocket,
    lookup: &dyn Fn(Ipv4Addr, &str) -> Answer,
    upstream: SocketAddr,
    idle: &mut dyn FnMut() -> bool,
) -> std::io::Result<()> {
    sock.set_read_timeout(Some(Duration::from_secs(1)))?;
    // Answers leave from the address asked at: a resolver ignores replies
    // from another, and one asked at a gateway of a network its container
    // has left reaches this one through another network's bridge.
    crate::sys::net::want_dest_addr(sock).map_err(std::io::Error::other)?;
    let relays = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut buf = [0u8; 1500];
    loop {
        let (n, from, asked_at) = match crate::sys::net::recv_with_dest(sock, &mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                if idle() {
                    return Ok(());
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let packet = &buf[..n];
        let answer = match parse(packet) {
            Some(q) if q.qclass == CLASS_IN => match lookup(*from.ip(), &q.name) {
                Answer::Member(ip) if q.qtype == TYPE_A => Some(reply(packet, &q, Some(ip))),
                Answer::Member(_) | Answer::MemberNoData => Some(reply(packet, &q, None)),
                Answer::Forward => None,
            },
            _ => None,
        };
        match answer {
            Some(a) => {
                let _ = crate::sys::net::send_from(sock, &a, from, asked_at);
            }
            None => {
                use std::sync::atomic::Ordering;
                if relays.fetch_add(1, Ordering::SeqCst) >= MAX_RELAYS {
                    relays.fetch_sub(1, Ordering::SeqCst);
                    continue;
                }
                let (query, reply_to, relays) =
                    (packet.to_vec(), sock.try_clone()?, relays.clone());
                let left = relays.clone();
                let spawned = std::thread::Builder::new().spawn(move || {
                    relay(&query, upstream, &reply_to, (from, asked_at));
                    relays.fetch_sub(1, Ordering::SeqCst);
                });
                if spawned.is_err() {
                    left.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
    }
}

/// Send `query` upstream and its answer back to `asker` (from the address
/// it asked at); nothing when the upstream stays silent (the asker's
/// resolver retries and times out).
fn relay(
    query: &[u8],
    upstream: SocketAddr,
    reply_to: &UdpSocket,
    (asker, asked_at): (SocketAddrV4, Option<Ipv4Addr>),
) {
    let Ok(s) = UdpSocket::bind(("0.0.0.0", 0)) else {
        return;
    };
    let _ = s.set_read_timeout(Some(UPSTREAM_TIMEOUT));
    if s.send_to(query, upstream).is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    if let Ok((n, from)) = s.recv_from(&mut buf) {
        if from == upstream {
            let _ = crate::sys::net::send_from(reply_to, &buf[..n], asker, asked_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as busybox nslookup sends it.
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            p.push(l.len() as u8);
            p.extend_from_slice(l.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&1u16.to_be_bytes());
        p
    }

    #[test]
    fn questions_parse_case_insensitively() {
        let q = parse(&query("Db.Example", TYPE_A)).unwrap();
        assert_eq!((q.id, q.name.as_str(), q.qtype), (0x1234, "db.example", 1));
        assert!(parse(&[0; 11]).is_none());
        let mut resp = query("db", 1);
        resp[2] |= 0x80;
        assert!(parse(&resp).is_none(), "a response is not a query");
        let mut cut = query("db", 1);
        cut.truncate(cut.len() - 2);
        assert!(parse(&cut).is_none());
    }

    #[test]
    fn replies_carry_the_address_or_nothing() {
        let p = query("db", TYPE_A);
        let q = parse(&p).unwrap();
        let r = reply(&p, &q, Some(Ipv4Addr::new(10, 89, 1, 2)));
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80, "a response");
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(&r[6..8], &[0, 1], "one answer");
        assert_eq!(&r[r.len() - 4..], &[10, 89, 1, 2]);
        let empty = reply(&p, &q, None);
        assert_eq!(&empty[6..8], &[0, 0]);
        assert_eq!(empty.len(), p.len());
    }

    #[test]
    fn serve_answers_members_and_relays_the_rest() {
        let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
        let up_addr = upstream.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut b = [0u8; 512];
            let (n, from) = upstream.recv_from(&mut b).unwrap();
            let q = parse(&b[..n]).unwrap();
            let r = reply(&b[..n], &q, Some(Ipv4Addr::new(192, 0, 2, 7)));
            upstream.send_to(&r, from).unwrap();
        });
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        std::thread::spawn(move || {
            let lookup = |_: Ipv4Addr, n: &str| match n {
                "db" => Answer::Member(Ipv4Addr::new(10, 89, 1, 3)),
                _ => Answer::Forward,
            };
            let _ = serve(&server, &lookup, up_addr, &mut || false);
        });
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 512];
        c.send_to(&query("db", TYPE_A), addr).unwrap();
        let n = c.recv(&mut b).unwrap();
        assert_eq!(&b[n - 4..n], &[10, 89, 1, 3]);
        c.send_to(&query("example.org", TYPE_A), addr).unwrap();
        let n = c.recv(&mut b).unwrap();
        assert_eq!(&b[n - 4..n], &[192, 0, 2, 7]);
    }
}
