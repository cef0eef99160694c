//! Published ports: parsing `-p [IP:][HOSTPORT:]CTRPORT[/tcp|/udp]` and `-P`,
//! choosing host addresses and free ports, and refusing what cannot work
//! (privileged ports, the same port twice, ports already in use) before any
//! helper starts.
//!
//! The result, a list of [`PortMapping`]s, is what the helpers forward and what
//! the container record keeps for `hutch port`. This module must not start
//! helpers or talk to their APIs.
//!
//! Unlike Docker, a port published without an address listens on 127.0.0.1
//! only: a development container should not be reachable from the network by
//! accident. `-p 0.0.0.0:8080:80` opts in to every interface.

use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::path::Path;

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One published range as stored in the container record (the shape of
/// podman's `PortMapping`: a start port on each side and a length).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMapping {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
    /// How many consecutive ports, 1 for a single port.
    pub range: u16,
}

impl PortMapping {
    /// `hutch port` lines, Docker's format: `80/tcp -> 127.0.0.1:8080`.
    pub fn lines(&self) -> Vec<String> {
        (0..self.range)
            .map(|i| {
                let host = match self.host_ip {
                    IpAddr::V6(a) => format!("[{a}]"),
                    IpAddr::V4(a) => a.to_string(),
                };
                format!(
                    "{}/{} -> {host}:{}",
                    self.container_port + i,
                    self.protocol.name(),
                    self.host_port + i
                )
            })
            .collect()
    }

    /// `hutch ps`'s PORTS entry, Docker's format: `127.0.0.1:8080->80/tcp`,
    /// `127.0.0.1:8000-8002->80-82/tcp` for a range.
    pub fn ps_entry(&self) -> String {
        let host = match self.host_ip {
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) => a.to_string(),
        };
        let span = |start: u16| match self.range {
            1 => start.to_string(),
            n => format!("{start}-{}", start + (n - 1)),
        };
        format!(
            "{host}:{}->{}/{}",
            span(self.host_port),
            span(self.container_port),
            self.protocol.name()
        )
    }

    fn host_ports(&self) -> std::ops::RangeInclusive<u32> {
        let start = u32::from(self.host_port);
        start..=start + u32::from(self.range) - 1
    }
}

/// An inclusive range of ports, `80` or `8000-8010`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    fn len(&self) -> u16 {
        self.end - self.start + 1
    }
}

/// A parsed `-p` value (or one `-P` port), before host ports are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// The text the user wrote, for error messages.
    pub text: String,
    pub host_ip: Option<IpAddr>,
    /// None (or port 0): any free port.
    pub host: Option<PortRange>,
    pub container: PortRange,
    pub protocol: Protocol,
}

/// The errno of a failed bind, shown as the I/O error it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindErrno(pub i32);

impl std::fmt::Display for BindErrno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::io::Error::from_raw_os_error(self.0).fmt(f)
    }
}

/// Why ports cannot be published.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    #[error("invalid port spec {text:?}: {why}; write [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp], e.g. -p 8080:80")]
    Syntax { text: String, why: SpecError },
    #[error("invalid exposed port {text:?} in the image: {why}")]
    Exposed { text: String, why: SpecError },
    #[error("cannot publish {text:?}: host port {port} is below net.ipv4.ip_unprivileged_port_start ({start}), which an unprivileged user cannot bind; use a host port of {start} or more (e.g. -p {suggest}:{container}), or lower that sysctl")]
    Privileged {
        text: String,
        port: u16,
        start: u16,
        suggest: u32,
        container: u16,
    },
    #[error("host port {addr}/{proto} is published twice ({first:?} and {second:?}); give each -p its own host port")]
    Twice {
        addr: String,
        proto: &'static str,
        first: String,
        second: String,
    },
    #[error("cannot publish {text:?}: host port {addr}/{proto} is already in use; pick another host port, or leave it out to get a free one")]
    InUse {
        text: String,
        addr: String,
        proto: &'static str,
    },
    #[error("cannot publish {text:?}: {ip} is not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its addresses")]
    NotLocal { text: String, ip: IpAddr },
    #[error("cannot publish {text:?}: binding {addr}/{proto} failed: {err}")]
    Bind {
        text: String,
        addr: String,
        proto: &'static str,
        /// As an errno: the error keeps `PartialEq`.
        err: BindErrno,
    },
}

/// What is wrong in a `-p` value or an image's exposed port.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("sctp cannot be published by user-mode networking; use tcp or udp")]
    Sctp,
    #[error("unknown protocol {0:?}; use tcp or udp")]
    Protocol(String),
    #[error("{0:?} is not a port number (0-65535)")]
    NotAPort(String),
    #[error("the range {0:?} ends before it starts")]
    Reversed(String),
    #[error("missing ']' after the IPv6 address")]
    UnclosedIpv6,
    #[error("{0:?} is not an IPv6 address")]
    NotIpv6(String),
    #[error("expected ':' after the IPv6 address")]
    NoColonAfterIpv6,
    #[error("{0:?} is not an IPv4 address (write IPv6 addresses in brackets)")]
    NotIpv4(String),
    #[error("too many ':'")]
    TooManyColons,
    #[error("missing the container port")]
    NoContainerPort,
    #[error("container port 0 does not exist")]
    ContainerPortZero,
    #[error("host port ranges cannot start at 0")]
    HostRangeAtZero,
    #[error("the host range has {host} ports but the container range has {container}")]
    RangeSizes { host: u16, container: u16 },
}

/// Parse one `-p` value.
pub fn parse_publish(text: &str) -> Result<PortSpec, PortError> {
    let err = |why: SpecError| PortError::Syntax {
        text: text.to_string(),
        why,
    };
    let (rest, protocol) = split_protocol(text).map_err(err)?;
    let (host_ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        // Docker's form for IPv6: [::1]:8080:80
        let (ip, r) = r
            .split_once(']')
            .ok_or_else(|| err(SpecError::UnclosedIpv6))?;
        let ip: std::net::Ipv6Addr = ip
            .parse()
            .map_err(|_| err(SpecError::NotIpv6(ip.to_string())))?;
        let r = r
            .strip_prefix(':')
            .ok_or_else(|| err(SpecError::NoColonAfterIpv6))?;
        (Some(IpAddr::V6(ip)), r)
    } else {
        match rest.split(':').count() {
            1 | 2 => (None, rest),
            3 => {
                let (ip, r) = rest.split_once(':').unwrap_or_default();
                if ip.is_empty() {
                    (None, r)
                } else {
                    let ip: Ipv4Addr = ip
                        .parse()
                        .map_err(|_| err(SpecError::NotIpv4(ip.to_string())))?;
                    (Some(IpAddr::V4(ip)), r)
                }
            }
            _ => return Err(err(SpecError::TooManyColons)),
        }
    };
    let (host, container) = match rest.split_once(':') {
        Some((h, c)) => (Some(h), c),
        None if host_ip.is_some() => return Err(err(SpecError::NoContainerPort)),
        None => (None, rest),
    };
    let container = parse_range(container).map_err(err)?;
    if container.start == 0 {
        return Err(err(SpecError::ContainerPortZero));
    }
    let host = match host {
        None | Some("") => None,
        Some(h) => {
            Some(parse_range(h).map_err(err)?).filter(|r| *r != PortRange { start: 0, end: 0 })
        }
    };
    if let Some(h) = host {
        if h.start == 0 {
            return Err(err(SpecError::HostRangeAtZero));
        }
        if h.len() != container.len() {
            return Err(err(SpecError::RangeSizes {
                host: h.len(),
                container: container.len(),
            }));
        }
    }
    Ok(PortSpec {
        text: text.to_string(),
        host_ip,
        host,
        container,
        protocol,
    })
}

/// Parse an image's `ExposedPorts` key (`80/tcp`, `8000-8010/udp`) for `-P`.
pub fn parse_exposed(text: &str) -> Result<PortSpec, PortError> {
    let err = |why: SpecError| PortError::Exposed {
        text: text.to_string(),
        why,
    };
    let (port, protocol) = split_protocol(text).map_err(err)?;
    let container = parse_range(port).map_err(err)?;
    Ok(PortSpec {
        text: format!("-P {text}"),
        host_ip: None,
        host: None,
        container,
        protocol,
    })
}

fn split_protocol(text: &str) -> Result<(&str, Protocol), SpecError> {
    match text.rsplit_once('/') {
        None => Ok((text, Protocol::Tcp)),
        Some((r, "tcp")) => Ok((r, Protocol::Tcp)),
        Some((r, "udp")) => Ok((r, Protocol::Udp)),
        Some((_, "sctp")) => Err(SpecError::Sctp),
        Some((_, p)) => Err(SpecError::Protocol(p.to_string())),
    }
}

fn parse_range(s: &str) -> Result<PortRange, SpecError> {
    let port = |p: &str| -> Result<u16, SpecError> {
        p.parse::<u16>()
            .map_err(|_| SpecError::NotAPort(p.to_string()))
    };
    let r = match s.split_once('-') {
        Some((a, b)) => PortRange {
            start: port(a)?,
            end: port(b)?,
        },
        None => {
            let p = port(s)?;
            PortRange { start: p, end: p }
        }
    };
    if r.end < r.start {
        return Err(SpecError::Reversed(s.to_string()));
    }
    Ok(r)
}

/// What the host allows: the lowest port an unprivileged user may bind.
#[derive(Debug, Clone, Copy)]
pub struct PortPolicy {
    /// `net.ipv4.ip_unprivileged_port_start` (default 1024).
    pub unprivileged_port_start: u16,
    /// True when hutch itself may bind any port (it runs as root).
    pub privileged: bool,
}

impl PortPolicy {
    /// Read the sysctl under `proc_root` (normally `/proc`).
    pub fn from_host(proc_root: &Path) -> PortPolicy {
        let start =
            std::fs::read_to_string(proc_root.join("sys/net/ipv4/ip_unprivileged_port_start"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(1024);
        PortPolicy {
            unprivileged_port_start: start,
            privileged: nix::unistd::geteuid().is_root(),
        }
    }
}

/// The default host address: loopback only (see the module comment).
pub const DEFAULT_HOST_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Turn `-p` specs (and, for `-P`, the image's exposed ports not published
/// explicitly) into concrete mappings: fill in 127.0.0.1, pick free ports,
/// and refuse privileged, duplicate and busy ports.
pub fn resolve(
    specs: &[PortSpec],
    publish_all: &[PortSpec],
    policy: PortPolicy,
) -> Result<Vec<PortMapping>, PortError> {
    let explicit = |p: &PortSpec| {
        specs.iter().any(|s| {
            s.protocol == p.protocol
                && s.container.start <= p.container.end
                && p.container.start <= s.container.end
        })
    };
    let all: Vec<&PortSpec> = specs
        .iter()
        .chain(publish_all.iter().filter(|p| !explicit(p)))
        .collect();
    let mut out: Vec<(PortMapping, &str)> = Vec::new();
    // Probe sockets stay open until every port is chosen, so two random
    // choices cannot land on the same port.
    let mut held = Vec::new();
    for spec in all {
        let ip = spec.host_ip.unwrap_or(DEFAULT_HOST_IP);
        match spec.host {
            Some(h) => {
                if h.start < policy.unprivileged_port_start && !policy.privileged {
                    return Err(PortError::Privileged {
                        text: spec.text.clone(),
                        port: h.start,
                        start: policy.unprivileged_port_start,
                        suggest: u32::from(h.start) + 8000,
                        container: spec.container.start,
                    });
                }
                let m = PortMapping {
                    host_ip: ip,
                    host_port: h.start,
                    container_port: spec.container.start,
                    protocol: spec.protocol,
                    range: h.len(),
                };
                check_twice(&out, &m, &spec.text)?;
                for port in h.start..=h.end {
                    held.push(probe(spec, ip, port)?);
                }
                out.push((m, &spec.text));
            }
            // A random port per container port: free ports are rarely consecutive.
            None => {
                for cport in spec.container.start..=spec.container.end {
                    let (sock, port) = probe_free(spec, ip)?;
                    held.push(sock);
                    out.push((
                        PortMapping {
                            host_ip: ip,
                            host_port: port,
                            container_port: cport,
                            protocol: spec.protocol,
                            range: 1,
                        },
                        &spec.text,
                    ));
                }
            }
        }
    }
    Ok(out.into_iter().map(|(m, _)| m).collect())
}

fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    a == b || (a.is_ipv4() == b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
}

fn check_twice(done: &[(PortMapping, &str)], m: &PortMapping, text: &str) -> Result<(), PortError> {
    for (d, dtext) in done {
        let same_ports = d.host_ports().start() <= m.host_ports().end()
            && m.host_ports().start() <= d.host_ports().end();
        if d.protocol == m.protocol && same_ports && overlaps(d.host_ip, m.host_ip) {
            let port = (*d.host_ports().start()).max(*m.host_ports().start());
            return Err(PortError::Twice {
                addr: sock_text(m.host_ip, port as u16),
                proto: m.protocol.name(),
                first: dtext.to_string(),
                second: text.to_string(),
            });
        }
    }
    Ok(())
}

fn sock_text(ip: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

/// A socket bound to the host port, proving it is free right now.
enum Probe {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

fn bind(proto: Protocol, ip: IpAddr, port: u16) -> std::io::Result<Probe> {
    match proto {
        Protocol::Tcp => TcpListener::bind((ip, port)).map(Probe::Tcp),
        Protocol::Udp => UdpSocket::bind((ip, port)).map(Probe::Udp),
    }
}

fn probe(spec: &PortSpec, ip: IpAddr, port: u16) -> Result<Probe, PortError> {
    bind(spec.protocol, ip, port).map_err(|e| bind_error(spec, ip, port, e))
}

fn probe_free(spec: &PortSpec, ip: IpAddr) -> Result<(Probe, u16), PortError> {
    let p = probe(spec, ip, 0)?;
    let addr = match &p {
        Probe::Tcp(l) => l.local_addr(),
        Probe::Udp(u) => u.local_addr(),
    };
    let port = addr.map_err(|e| bind_error(spec, ip, 0, e))?.port();
    Ok((p, port))
}

fn bind_error(spec: &PortSpec, ip: IpAddr, port: u16, e: std::io::Error) -> PortError {
    let text = spec.text.clone();
    let addr = sock_text(ip, port);
    let proto = spec.protocol.name();
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => PortError::InUse { text, addr, proto },
        Some(libc::EADDRNOTAVAIL) => PortError::NotLocal { text, ip },
        _ => PortError::Bind {
            text,
            addr,
            proto,
            err: BindErrno(e.raw_os_error().unwrap_or(libc::EIO)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: PortPolicy = PortPolicy {
        unprivileged_port_start: 1024,
        privileged: false,
    };

    fn spec(s: &str) -> PortSpec {
        parse_publish(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn ps_entries_follow_docker() {
        let m = |host_ip: &str, range| PortMapping {
            host_ip: host_ip.parse().unwrap(),
            host_port: 8000,
            container_port: 80,
            protocol: Protocol::Tcp,
            range,
        };
        assert_eq!(m("127.0.0.1", 1).ps_entry(), "127.0.0.1:8000->80/tcp");
        assert_eq!(m("::1", 3).ps_entry(), "[::1]:8000-8002->80-82/tcp");
    }

    #[test]
    fn publish_forms() {
        let s = spec("8080:80");
        assert_eq!(
            (s.host_ip, s.host.unwrap().start, s.container.start),
            (None, 8080, 80)
        );
        assert_eq!(s.protocol, Protocol::Tcp);
        let s = spec("0.0.0.0:8080:80/udp");
        assert_eq!(s.host_ip, Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert_eq!(s.protocol, Protocol::Udp);
        let s = spec("127.0.0.1::80");
        assert_eq!((s.host, s.container.start), (None, 80));
        let s = spec("[::1]:8080:80");
        assert_eq!(s.host_ip, Some("::1".parse().unwrap()));
        let s = spec("8000-8010:80-90");
        assert_eq!(
            s.host,
            Some(PortRange {
                start: 8000,
                end: 8010
            })
        );
        assert_eq!(s.container, PortRange { start: 80, end: 90 });
        assert_eq!(spec("80").host, None);
        assert_eq!(spec("0:80").host, None);
    }

    #[test]
    fn bad_publish_specs_explain() {
        let e = |s: &str| parse_publish(s).unwrap_err().to_string();
        assert!(e("80/sctp").contains("sctp"));
        assert!(e("80/icmp").contains("unknown protocol"));
        assert!(e("http").contains("not a port number"));
        assert!(e("70000").contains("not a port number"));
        assert!(e("8000-8010:80").contains("11 ports but the container range has 1"));
        assert!(e("90-80").contains("ends before it starts"));
        assert!(e("localhost:8080:80").contains("not an IPv4 address"));
        assert!(e("1:2:3:4").contains("too many"));
        assert!(e("8080:0").contains("port 0"));
        assert!(e("[::1:8080:80").contains("']'"));
        assert!(e("x").contains("e.g. -p 8080:80"));
    }

    #[test]
    fn default_host_ip_is_loopback_and_random_ports_are_distinct() {
        let m = resolve(
            &[spec("80"), spec("81"), spec("127.0.0.1::90-91/udp")],
            &[],
            POLICY,
        )
        .unwrap();
        assert_eq!(m.len(), 4);
        assert!(m
            .iter()
            .all(|m| m.host_ip == DEFAULT_HOST_IP && m.host_port >= 1024 && m.range == 1));
        assert_ne!(m[0].host_port, m[1].host_port);
        assert_eq!(m[3].container_port, 91);
        assert_eq!(m[3].protocol, Protocol::Udp);
    }

    #[test]
    fn privileged_host_ports_are_refused_unless_allowed() {
        let e = resolve(&[spec("80:80")], &[], POLICY)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("below net.ipv4.ip_unprivileged_port_start (1024)"),
            "{e}"
        );
        assert!(e.contains("-p 8080:80"), "{e}");
        let low = PortPolicy {
            unprivileged_port_start: 0,
            privileged: false,
        };
        // Port 1 is never in use on loopback here; what matters is the policy passing.
        assert!(!matches!(
            resolve(&[spec("1:80")], &[], low),
            Err(PortError::Privileged { .. })
        ));
    }

    #[test]
    fn same_host_port_twice_is_a_conflict() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let free = l.local_addr().unwrap().port();
        drop(l);
        let a = format!("{free}:80");
        let b = format!("0.0.0.0:{free}:81");
        let e = resolve(&[spec(&a), spec(&b)], &[], POLICY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("published twice"), "{e}");
        // Same port, different protocol: fine.
        let b = format!("{free}:80/udp");
        assert_eq!(
            resolve(&[spec(&a), spec(&b)], &[], POLICY).unwrap().len(),
            2
        );
    }

    #[test]
    fn busy_ports_and_foreign_addresses_are_refused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = l.local_addr().unwrap().port();
        let e = resolve(&[spec(&format!("{busy}:80"))], &[], POLICY).unwrap_err();
        assert!(matches!(e, PortError::InUse { .. }), "{e}");
        assert!(e.to_string().contains("already in use"));
        // 192.0.2.0/24 is TEST-NET-1 (RFC 5737); binding it only asks the local kernel.
        let e = resolve(&[spec("192.0.2.77::80")], &[], POLICY).unwrap_err();
        assert!(
            matches!(e, PortError::NotLocal { .. }) || matches!(e, PortError::InUse { .. }),
            "{e}"
        );
    }

    #[test]
    fn publish_all_skips_ports_published_explicitly() {
        let exposed = [
            parse_exposed("80/tcp").unwrap(),
            parse_exposed("53/udp").unwrap(),
        ];
        let m = resolve(&[spec("127.0.0.1::80")], &exposed, POLICY).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].container_port, m[0].protocol), (80, Protocol::Tcp));
        assert_eq!((m[1].container_port, m[1].protocol), (53, Protocol::Udp));
        assert!(parse_exposed("80/xyz")
            .unwrap_err()
            .to_string()
            .contains("in the image"));
    }

    #[test]
    fn port_lines_and_record_shape() {
        let m = PortMapping {
            host_ip: "::1".parse().unwrap(),
            host_port: 8000,
            container_port: 80,
            protocol: Protocol::Tcp,
            range: 2,
        };
        assert_eq!(m.lines(), ["80/tcp -> [::1]:8000", "81/tcp -> [::1]:8001"]);
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(
            j,
            r#"{"host_ip":"::1","host_port":8000,"container_port":80,"protocol":"tcp","range":2}"#
        );
        assert_eq!(serde_json::from_str::<PortMapping>(&j).unwrap(), m);
    }
}
