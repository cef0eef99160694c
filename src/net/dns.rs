//! The container's /etc/resolv.conf: which name servers, search domains and
//! options it gets, from the helper's DNS forwarder, the host's own
//! configuration and `--dns`, `--dns-search`, `--dns-option`.
//!
//! This module only computes text from text; it must not write into the
//! container (the sandbox places the file) or send any DNS query.

use std::net::IpAddr;
use std::path::PathBuf;

/// Where the host's resolver configuration lives; fields so tests can point
/// them elsewhere.
#[derive(Debug, Clone)]
pub struct ResolvPaths {
    /// `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
    /// `/run/systemd/resolve/resolv.conf`: systemd-resolved's list of the real
    /// upstream servers (systemd-resolved.service(8), "/etc/resolv.conf").
    pub resolved_upstream: PathBuf,
}

impl Default for ResolvPaths {
    fn default() -> Self {
        ResolvPaths {
            resolv_conf: "/etc/resolv.conf".into(),
            resolved_upstream: "/run/systemd/resolve/resolv.conf".into(),
        }
    }
}

/// The parts of a resolv.conf(5) that matter here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Parse resolv.conf(5) text; unknown lines and bad addresses are skipped,
    /// as the C library does.
    pub fn parse(text: &str) -> ResolvConf {
        let mut out = ResolvConf::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // A scoped IPv6 address (fe80::1%eth0) means nothing inside
                    // the container's network namespace.
                    if let Some(a) = words.next().and_then(|w| w.parse().ok()) {
                        out.nameservers.push(a);
                    }
                }
                // The last search/domain line wins (resolv.conf(5)).
                Some("search") | Some("domain") => out.search = words.map(String::from).collect(),
                Some("options") => out.options.extend(words.map(String::from)),
                _ => {}
            }
        }
        out
    }

    fn read(path: &std::path::Path) -> ResolvConf {
        std::fs::read_to_string(path)
            .map(|t| ResolvConf::parse(&t))
            .unwrap_or_default()
    }
}

/// `--dns`, `--dns-search` and `--dns-option` as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsOptions {
    pub servers: Vec<IpAddr>,
    /// `.` alone means "no search domains" (Docker's convention).
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// A bad `--dns` value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--dns {0:?} is not an IP address: give the name server's IPv4 or IPv6 address, e.g. --dns 192.0.2.53")]
pub struct BadServer(pub String);

/// Parse one `--dns` value.
pub fn parse_server(s: &str) -> Result<IpAddr, BadServer> {
    s.parse().map_err(|_| BadServer(s.to_string()))
}

/// The container's resolv.conf.
///
/// Name servers: `--dns` if given; else, when the host lists only loopback
/// stubs (systemd-resolved's 127.0.0.53, dnsmasq's 127.0.0.1), the real
/// upstream servers systemd-resolved knows, because a stub on the host's
/// loopback is not reachable from the container; else the helper's
/// `forwarder` (pasta `--dns-forward`, slirp4netns' .3 address), which relays
/// to the host's resolver; with no forwarder, the host's own servers.
pub fn resolv_conf(forwarder: Option<IpAddr>, paths: &ResolvPaths, opts: &DnsOptions) -> String {
    let host = ResolvConf::read(&paths.resolv_conf);
    let routable = |c: &ResolvConf| -> Vec<IpAddr> {
        c.nameservers
            .iter()
            .copied()
            .filter(|a| !a.is_loopback())
            .collect()
    };
    let only_stubs = !host.nameservers.is_empty() && routable(&host).is_empty();
    let servers = if !opts.servers.is_empty() {
        opts.servers.clone()
    } else {
        let upstream = if only_stubs {
            routable(&ResolvConf::read(&paths.resolved_upstream))
        } else {
            Vec::new()
        };
        match (upstream.is_empty(), forwarder) {
            (false, _) => upstream,
            (true, Some(f)) => vec![f],
            (true, None) => routable(&host),
        }
    };
    let search = if opts.search.is_empty() {
        host.search
    } else if opts.search == ["."] {
        Vec::new()
    } else {
        opts.search.clone()
    };
    let mut options = host.options;
    options.extend(opts.options.iter().cloned());

    let mut out = String::new();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Host {
        _dir: tempfile::TempDir,
        paths: ResolvPaths,
    }

    fn host(resolv: &str, upstream: Option<&str>) -> Host {
        let d = tempfile::tempdir().unwrap();
        let paths = ResolvPaths {
            resolv_conf: d.path().join("resolv.conf"),
            resolved_upstream: d.path().join("upstream.conf"),
        };
        std::fs::write(&paths.resolv_conf, resolv).unwrap();
        if let Some(u) = upstream {
            std::fs::write(&paths.resolved_upstream, u).unwrap();
        }
        Host { _dir: d, paths }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarder_replaces_the_host_servers() {
        let h = host(
            "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n",
            None,
        );
        let r = resolv_conf(Some(ip("169.254.1.1")), &h.paths, &DnsOptions::default());
        assert_eq!(
            r,
            "search corp.example\nnameserver 169.254.1.1\noptions edns0\n"
        );
    }

    #[test]
    fn loopback_stubs_are_replaced_by_the_real_upstream() {
        let h = host(
            "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n",
            Some("nameserver 192.0.2.1\nnameserver 2001:db8::1\nnameserver 127.0.0.1\n"),
        );
        let r = resolv_conf(Some(ip("10.0.2.3")), &h.paths, &DnsOptions::default());
        assert!(
            r.contains("nameserver 192.0.2.1\nnameserver 2001:db8::1\n"),
            "{r}"
        );
        assert!(!r.contains("127.0.0") && !r.contains("10.0.2.3"), "{r}");
        // Without systemd-resolved's file, keep the helper's forwarder.
        let h = host("nameserver 127.0.0.53\n", None);
        let r = resolv_conf(Some(ip("10.0.2.3")), &h.paths, &DnsOptions::default());
        assert_eq!(r, "nameserver 10.0.2.3\n");
    }

    #[test]
    fn flags_override_and_extend() {
        let h = host(
            "nameserver 192.0.2.53\nsearch a.example\noptions edns0\n",
            None,
        );
        let opts = DnsOptions {
            servers: vec![ip("192.0.2.99"), ip("2001:db8::53")],
            search: vec!["b.example".into(), "c.example".into()],
            options: vec!["ndots:2".into()],
        };
        let r = resolv_conf(Some(ip("169.254.1.1")), &h.paths, &opts);
        assert_eq!(
            r,
            "search b.example c.example\nnameserver 192.0.2.99\nnameserver 2001:db8::53\noptions edns0 ndots:2\n"
        );
        let dot = DnsOptions {
            search: vec![".".into()],
            ..DnsOptions::default()
        };
        assert!(!resolv_conf(None, &h.paths, &dot).contains("search"));
        assert_eq!(
            resolv_conf(None, &h.paths, &DnsOptions::default())
                .lines()
                .nth(1),
            Some("nameserver 192.0.2.53")
        );
    }

    #[test]
    fn parse_skips_junk_and_bad_servers() {
        let c = ResolvConf::parse("# c\nnameserver fe80::1%eth0\nnameserver nope\nnameserver 192.0.2.1\ndomain x\nsearch y z\n");
        assert_eq!(c.nameservers, [ip("192.0.2.1")]);
        assert_eq!(c.search, ["y", "z"]);
        assert!(parse_server("dns.google")
            .unwrap_err()
            .to_string()
            .contains("not an IP address"));
        assert_eq!(parse_server("::1"), Ok(ip("::1")));
    }
}
