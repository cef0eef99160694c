//! The addresses a helper gives the container, known before it starts so that
//! /etc/resolv.conf and /etc/hosts can be written in parallel: its DNS
//! forwarder, the address that reaches the host's loopback (only when the user
//! allowed that), and the container's own address when it is fixed.
//!
//! This module reads the host's routing table from a `/proc` it is given and
//! nothing else; it must not start helpers.

use super::options::{HelperRequest, PastaOptions};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// Where pasta forwards DNS: podman 5 uses the link-local 169.254.1.1, which
/// no real network uses, so the forwarder never shadows a real server.
pub const PASTA_DNS_FORWARD: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// The address that reaches the host's loopback with a pasta that has
/// `--map-host-loopback` (2024 and later): link-local like the DNS forwarder,
/// so the real gateway stays reachable. Older pasta maps the gateway instead.
pub const PASTA_HOST_LOOPBACK: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 2);

/// What the container will see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    /// The helper's DNS forwarder for resolv.conf.
    pub dns_forwarder: IpAddr,
    /// The address that reaches the host's loopback, if access is enabled.
    pub host_loopback: Option<IpAddr>,
    /// The container's own address, when the helper fixes it (slirp4netns);
    /// pasta copies the host's address, so it is left to /etc/hosts' default.
    pub container_ip: Option<IpAddr>,
}

/// The addresses for `request`; `proc_root` is normally `/proc`.
pub fn addresses(request: &HelperRequest, proc_root: &Path) -> Addresses {
    match request {
        HelperRequest::Pasta(p) => Addresses {
            dns_forwarder: pasta_dns_forward(p),
            host_loopback: p
                .host_loopback()
                .then(|| pasta_host_loopback(p, proc_root))
                .flatten(),
            container_ip: None,
        },
        HelperRequest::Slirp4netns(s) => Addresses {
            dns_forwarder: IpAddr::V4(s.cidr.dns()),
            host_loopback: s.allow_host_loopback.then_some(IpAddr::V4(s.cidr.host())),
            container_ip: Some(IpAddr::V4(s.cidr.guest())),
        },
    }
}

/// The user's `--dns-forward`, else hutch's.
pub fn pasta_dns_forward(p: &PastaOptions) -> IpAddr {
    p.dns_forward()
        .and_then(|a| a.parse().ok())
        .unwrap_or(IpAddr::V4(PASTA_DNS_FORWARD))
}

/// pasta(1): connections to the address given with `--map-host-loopback`
/// (newer pasta), or by default to the gateway, reach the host's loopback.
/// The gateway is the user's `-g`, else the host's IPv4 default gateway,
/// which pasta copies into the namespace.
fn pasta_host_loopback(p: &PastaOptions, proc_root: &Path) -> Option<IpAddr> {
    if let Some(a) = p.map_host_loopback().and_then(|a| a.parse().ok()) {
        return Some(a);
    }
    if let Some(g) = p.gateway().and_then(|a| a.parse().ok()) {
        return Some(g);
    }
    let routes = std::fs::read_to_string(proc_root.join("net/route")).ok()?;
    default_gateway(&routes).map(IpAddr::V4)
}

/// The gateway of the first IPv4 default route in `/proc/net/route` text.
/// Its addresses are hex in the kernel's (native) byte order.
fn default_gateway(routes: &str) -> Option<Ipv4Addr> {
    routes.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        let (dest, gw, mask) = (hex(f.get(1)?)?, hex(f.get(2)?)?, hex(f.get(7)?)?);
        (dest == 0 && mask == 0 && gw != 0).then(|| Ipv4Addr::from(gw.to_ne_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_with_route(gw: Ipv4Addr) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("net")).unwrap();
        let hex = format!("{:08X}", u32::from_ne_bytes(gw.octets()));
        let text = format!(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
             eth0\t00000000\t{hex}\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        );
        std::fs::write(d.path().join("net/route"), text).unwrap();
        d
    }

    #[test]
    fn slirp_addresses_follow_the_cidr() {
        let r =
            HelperRequest::parse("slirp4netns:cidr=10.9.0.0/16,allow_host_loopback=true").unwrap();
        let a = addresses(&r, Path::new("/nonexistent"));
        assert_eq!(a.dns_forwarder, "10.9.0.3".parse::<IpAddr>().unwrap());
        assert_eq!(a.host_loopback, Some("10.9.0.2".parse().unwrap()));
        assert_eq!(a.container_ip, Some("10.9.0.100".parse().unwrap()));
        let r = HelperRequest::parse("slirp4netns").unwrap();
        assert_eq!(addresses(&r, Path::new("/nonexistent")).host_loopback, None);
    }

    #[test]
    fn pasta_host_loopback_is_the_gateway_only_when_asked() {
        let proc_root = proc_with_route(Ipv4Addr::new(192, 0, 2, 1));
        let off = HelperRequest::parse("pasta").unwrap();
        let a = addresses(&off, proc_root.path());
        assert_eq!(a.host_loopback, None);
        assert_eq!(a.dns_forwarder, IpAddr::V4(PASTA_DNS_FORWARD));
        let on = HelperRequest::parse("pasta:--map-gw").unwrap();
        assert_eq!(
            addresses(&on, proc_root.path()).host_loopback,
            Some("192.0.2.1".parse().unwrap())
        );
        let gw = HelperRequest::parse("pasta:--map-gw,-g,198.51.100.1").unwrap();
        assert_eq!(
            addresses(&gw, proc_root.path()).host_loopback,
            Some("198.51.100.1".parse().unwrap())
        );
        let new =
            HelperRequest::parse("pasta:--map-host-loopback,169.254.1.2,--dns-forward,169.254.1.9")
                .unwrap();
        let a = addresses(&new, proc_root.path());
        assert_eq!(a.host_loopback, Some("169.254.1.2".parse().unwrap()));
        assert_eq!(a.dns_forwarder, "169.254.1.9".parse::<IpAddr>().unwrap());
    }
}
