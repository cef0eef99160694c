//! The container's /etc/hosts: localhost, the container's own hostname,
//! `--add-host` entries and, only when the user allowed the container to reach
//! the host's loopback, `host.containers.internal` / `host.docker.internal`.
//!
//! This module only computes text; it must not write into the container or
//! decide which address reaches the host (the helper options know that).

use std::net::IpAddr;

/// Where an `--add-host` name points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostTarget {
    Ip(IpAddr),
    /// Docker's `host-gateway`: the address that reaches the host.
    HostGateway,
}

/// One `--add-host NAME:IP` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddHost {
    pub name: String,
    pub target: HostTarget,
}

/// Why /etc/hosts cannot be written as asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostsError {
    #[error("invalid --add-host {text:?}: {why}; write NAME:IP, e.g. --add-host db:192.0.2.10 or --add-host db:host-gateway")]
    Syntax { text: String, why: AddHostSyntax },
    #[error("--add-host {0}:host-gateway needs the container to reach the host: use --network pasta:--map-gw or --network slirp4netns:allow_host_loopback=true")]
    NoHostGateway(String),
}

/// What is wrong in an `--add-host` value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddHostSyntax {
    #[error("missing ':' between the name and the address")]
    NoSeparator,
    #[error("{0:?} is not a host name")]
    BadName(String),
    #[error("{0:?} is not an IP address")]
    BadAddress(String),
}

/// Parse `NAME:IP`, `NAME=IP` (Docker 25), `NAME:[IPV6]`, `NAME:host-gateway`.
pub fn parse_add_host(text: &str) -> Result<AddHost, HostsError> {
    let err = |why: AddHostSyntax| HostsError::Syntax {
        text: text.to_string(),
        why,
    };
    // Split at the first separator: IPv6 addresses contain ':' themselves.
    let (name, target) = text
        .split_once(['=', ':'])
        .ok_or_else(|| err(AddHostSyntax::NoSeparator))?;
    if !valid_name(name) {
        return Err(err(AddHostSyntax::BadName(name.to_string())));
    }
    let target = match target {
        "host-gateway" => HostTarget::HostGateway,
        t => {
            let t = t
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .unwrap_or(t);
            HostTarget::Ip(
                t.parse()
                    .map_err(|_| err(AddHostSyntax::BadAddress(t.to_string())))?,
            )
        }
    };
    Ok(AddHost {
        name: name.to_string(),
        target,
    })
}

/// Letters, digits, '-', '.' and '_' (seen in the wild), as hosts(5) expects.
pub fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

/// Everything /etc/hosts is made from.
#[derive(Debug, Clone)]
pub struct HostsSpec<'a> {
    pub hostname: &'a str,
    /// The container's own address, when known; else 127.0.1.1 stands for it
    /// (Debian's convention for a host name without a fixed address).
    pub container_ip: Option<IpAddr>,
    pub add_hosts: &'a [AddHost],
    /// The address that reaches the host's loopback, present only when the
    /// user enabled that access (slirp4netns `allow_host_loopback`, pasta
    /// `--map-gw` / `--map-host-loopback`).
    pub host_loopback: Option<IpAddr>,
}

/// Names that reach the host, as Podman and Docker Desktop spell them.
pub const HOST_NAMES: &str = "host.containers.internal host.docker.internal";

/// The container's /etc/hosts.
pub fn hosts_file(spec: &HostsSpec) -> Result<String, HostsError> {
    let mut out = String::from(
        "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n\
         ::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n",
    );
    // User entries first: resolvers take the first match, so they win.
    for h in spec.add_hosts {
        let ip = match h.target {
            HostTarget::Ip(ip) => ip,
            HostTarget::HostGateway => spec
                .host_loopback
                .ok_or_else(|| HostsError::NoHostGateway(h.name.clone()))?,
        };
        out.push_str(&format!("{ip}\t{}\n", h.name));
    }
    let own = spec
        .container_ip
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 1, 1)));
    out.push_str(&format!("{own}\t{}\n", spec.hostname));
    if let Some(ip) = spec.host_loopback {
        out.push_str(&format!("{ip}\t{HOST_NAMES}\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn add_host_forms() {
        assert_eq!(
            parse_add_host("db:192.0.2.10").unwrap().target,
            HostTarget::Ip(ip("192.0.2.10"))
        );
        assert_eq!(parse_add_host("db=192.0.2.10").unwrap().name, "db");
        assert_eq!(
            parse_add_host("v6:2001:db8::1").unwrap().target,
            HostTarget::Ip(ip("2001:db8::1"))
        );
        assert_eq!(
            parse_add_host("v6:[2001:db8::1]").unwrap().target,
            HostTarget::Ip(ip("2001:db8::1"))
        );
        assert_eq!(
            parse_add_host("gw:host-gateway").unwrap().target,
            HostTarget::HostGateway
        );
        let e = |s: &str| parse_add_host(s).unwrap_err().to_string();
        assert!(e("db").contains("missing ':'"));
        assert!(e("db:nowhere").contains("not an IP address"));
        assert!(e("a b:192.0.2.1").contains("not a host name"));
        assert!(e(":192.0.2.1").contains("not a host name"));
    }

    #[test]
    fn hosts_without_host_access() {
        let add = [parse_add_host("db:192.0.2.10").unwrap()];
        let h = hosts_file(&HostsSpec {
            hostname: "box",
            container_ip: Some(ip("10.0.2.100")),
            add_hosts: &add,
            host_loopback: None,
        })
        .unwrap();
        assert!(h.starts_with("127.0.0.1\tlocalhost "), "{h}");
        assert!(h.contains("\n::1\tlocalhost "), "{h}");
        assert!(h.contains("192.0.2.10\tdb\n10.0.2.100\tbox\n"), "{h}");
        assert!(!h.contains("host.containers.internal"), "{h}");
        let gw = [parse_add_host("gw:host-gateway").unwrap()];
        let e = hosts_file(&HostsSpec {
            hostname: "box",
            container_ip: None,
            add_hosts: &gw,
            host_loopback: None,
        })
        .unwrap_err();
        assert!(e.to_string().contains("allow_host_loopback=true"), "{e}");
    }

    #[test]
    fn hosts_with_host_access() {
        let gw = [parse_add_host("gw:host-gateway").unwrap()];
        let h = hosts_file(&HostsSpec {
            hostname: "box",
            container_ip: None,
            add_hosts: &gw,
            host_loopback: Some(ip("10.0.2.2")),
        })
        .unwrap();
        assert!(h.contains("10.0.2.2\tgw\n127.0.1.1\tbox\n10.0.2.2\thost.containers.internal host.docker.internal\n"), "{h}");
    }
}
