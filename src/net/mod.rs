//! Container networking: which network namespace a container gets, and the
//! /etc/hosts and /etc/resolv.conf it sees.
//!
//! Two modes exist today: `none` (a private network namespace with only `lo`,
//! brought up) and `host` (share the caller's). User-mode networking helpers
//! (pasta, slirp4netns) attach to the child's network namespace after the id
//! mapping and before the child is released; `sandbox::launch` has that one
//! place, and a new variant here makes the compiler point at it. This module
//! does not create namespaces itself.

use std::path::Path;

/// The network a container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// A private network namespace holding only the loopback interface.
    #[default]
    None,
    /// The caller's network namespace, shared.
    Host,
}

impl std::str::FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Network::None),
            "host" => Ok(Network::Host),
            other => Err(format!(
                "unknown --network mode '{other}': use none or host"
            )),
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Network::None => "none",
            Network::Host => "host",
        })
    }
}

impl Network {
    /// Whether the container gets its own network namespace (CLONE_NEWNET).
    pub fn private_namespace(&self) -> bool {
        match self {
            Network::None => true,
            Network::Host => false,
        }
    }

    /// The container's /etc/hosts.
    pub fn hosts(&self, hostname: &str, host_hosts: &Path) -> String {
        let mut s = String::new();
        if *self == Network::Host {
            // Same interfaces as the host: its names resolve the same way.
            if let Ok(h) = std::fs::read_to_string(host_hosts) {
                s.push_str(&h);
                if !s.ends_with('\n') {
                    s.push('\n');
                }
            }
        } else {
            s.push_str("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        }
        s.push_str(&format!("127.0.1.1\t{hostname}\n"));
        s
    }

    /// The container's /etc/resolv.conf.
    pub fn resolv_conf(&self, host_resolv: &Path) -> String {
        match self {
            // A loopback stub resolver (127.0.0.53) on the host is reachable too.
            Network::Host => std::fs::read_to_string(host_resolv).unwrap_or_default(),
            // Programs expect the file; there is nothing to point it at.
            Network::None => "# --network none: no name servers are reachable\n".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_for_none_maps_the_hostname_to_loopback() {
        let h = Network::None.hosts("abc", Path::new("/nonexistent"));
        assert!(h.contains("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("127.0.1.1\tabc\n"));
    }

    #[test]
    fn network_modes_parse() {
        assert_eq!("host".parse::<Network>(), Ok(Network::Host));
        assert!("bridge"
            .parse::<Network>()
            .unwrap_err()
            .contains("none or host"));
    }
}
