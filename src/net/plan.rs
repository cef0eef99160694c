//! From `hutch run`'s network flags to a checked plan, before any process is
//! cloned: which helper, which ports, and the text of /etc/resolv.conf and
//! /etc/hosts. Every mistake in the flags surfaces here as one clear line.
//!
//! This module decides and computes; it must not start helpers (see
//! `helper`) or write files into the container (the sandbox places them).
//! `--network none` and `--network host` need no plan.

use super::addrs::addresses;
use super::choose::{choose, ChooseError, ChosenHelper, SearchPath};
use super::dns::{self, DnsOptions, ResolvPaths};
use super::hosts::{self, HostsError, HostsSpec};
use super::options::{HelperKind, HelperRequest, OptionsError};
use super::pasta;
use super::ports::{self, PortError, PortMapping, PortPolicy};
use std::path::PathBuf;

/// The network flags of `hutch run`, as typed; kept in the container record
/// so `hutch start` plans the same network again.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NetFlags {
    /// `--network pasta[:...]` / `slirp4netns[:...]`; None: the default helper.
    pub network: Option<String>,
    /// `-p` values.
    pub publish: Vec<String>,
    /// `-P`: publish every port the image exposes.
    pub publish_all: bool,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_option: Vec<String>,
    pub add_host: Vec<String>,
    /// `--network-alias` values (user-defined networks only).
    pub aliases: Vec<String>,
    /// `--ip` (user-defined networks only).
    pub ip: Option<String>,
    /// User-defined networks beyond the one `network` names: more
    /// `--network` flags, or `network connect`. Each has its own address.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more_networks: Vec<Attachment>,
}

/// A container's place on one more user-defined network.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Attachment {
    pub network: String,
    pub aliases: Vec<String>,
    pub ip: Option<String>,
}

/// Whether `--network` value `n` is a built-in mode rather than the name of
/// a user-defined network.
pub fn built_in_mode(n: &str) -> bool {
    matches!(n, "none" | "host") || n.starts_with("container:") || HelperRequest::is_helper_mode(n)
}

impl NetFlags {
    /// Whether these flags give the container its own network namespace
    /// (everything but `--network host`).
    pub fn private_namespace(&self) -> bool {
        self.network.as_deref() != Some("host")
    }

    /// The mode a container has no network of its own to add another
    /// beside (`none`, `host`, `container:NAME`); helper modes (pasta,
    /// slirp4netns) are replaced by a first user-defined network instead.
    pub fn exclusive_mode(&self) -> Option<&str> {
        self.network
            .as_deref()
            .filter(|n| matches!(*n, "none" | "host") || n.starts_with("container:"))
    }

    /// The container whose network `--network container:NAME` joins.
    pub fn joined_container(&self) -> Option<&str> {
        self.network.as_deref()?.strip_prefix("container:")
    }

    /// Every user-defined network these flags name, the first one (whose
    /// address published ports reach) first.
    pub fn attachments(&self) -> Vec<Attachment> {
        let first = self
            .network
            .as_deref()
            .filter(|n| !built_in_mode(n))
            .map(|n| Attachment {
                network: n.to_string(),
                aliases: self.aliases.clone(),
                ip: self.ip.clone(),
            });
        first
            .into_iter()
            .chain(self.more_networks.clone())
            .collect()
    }

    /// Put the container on one more user-defined network: the first one
    /// when it has none (replacing a built-in mode), else one more.
    pub fn add_attachment(&mut self, a: Attachment) {
        if self.attachments().is_empty() {
            self.network = Some(a.network);
            self.aliases = a.aliases;
            self.ip = a.ip;
        } else {
            self.more_networks.push(a);
        }
    }

    /// Take the container off the user-defined network for which `named`
    /// is true; the next one becomes the first (or the default network
    /// when none is left). Whether it was on it.
    pub fn remove_attachment(&mut self, named: impl Fn(&str) -> bool) -> bool {
        if self.more_networks.iter().any(|a| named(&a.network)) {
            self.more_networks.retain(|a| !named(&a.network));
            return true;
        }
        if !self
            .network
            .as_deref()
            .is_some_and(|n| !built_in_mode(n) && named(n))
        {
            return false;
        }
        let next = match self.more_networks.is_empty() {
            true => Attachment::default(),
            false => self.more_networks.remove(0),
        };
        self.network = Some(next.network).filter(|n| !n.is_empty());
        self.aliases = next.aliases;
        self.ip = next.ip;
        true
    }

    /// The first flag used that only a helper-connected network can honour.
    pub fn helper_only_flag(&self) -> Option<&'static str> {
        let used = [
            (!self.publish.is_empty() || self.publish_all, "-p/-P"),
            (
                !self.dns.is_empty() || !self.dns_search.is_empty() || !self.dns_option.is_empty(),
                "--dns",
            ),
            (!self.add_host.is_empty(), "--add-host"),
        ];
        used.iter().find(|(u, _)| *u).map(|(_, flag)| *flag)
    }
}

/// What the host looks like; fields so tests can point them elsewhere.
#[derive(Debug, Clone)]
pub struct HostEnv {
    pub search_path: SearchPath,
    /// Normally `/proc`.
    pub proc_root: PathBuf,
    pub resolv: ResolvPaths,
    pub port_policy: PortPolicy,
}

impl HostEnv {
    /// The real host.
    pub fn detect() -> HostEnv {
        let proc_root = PathBuf::from("/proc");
        HostEnv {
            search_path: SearchPath::from_env(),
            port_policy: PortPolicy::from_host(&proc_root),
            proc_root,
            resolv: ResolvPaths::default(),
        }
    }
}

/// Everything the sandbox needs to connect one container.
#[derive(Debug, Clone)]
pub struct NetPlan {
    pub helper: ChosenHelper,
    pub ports: Vec<PortMapping>,
    pub resolv_conf: String,
    pub hosts: String,
}

/// A mistake in the network flags.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Choose(#[from] ChooseError),
    #[error(transparent)]
    Ports(#[from] PortError),
    #[error(transparent)]
    Dns(#[from] dns::BadServer),
    #[error(transparent)]
    Hosts(#[from] HostsError),
    #[error("cannot publish {0:?} with slirp4netns: its API takes IPv4 host addresses only; use an IPv4 address such as 127.0.0.1, or --network pasta")]
    SlirpIpv6(String),
}

fn parse_add_hosts(flags: &NetFlags) -> Result<Vec<hosts::AddHost>, PlanError> {
    Ok(flags
        .add_host
        .iter()
        .map(|h| hosts::parse_add_host(h))
        .collect::<Result<Vec<_>, _>>()?)
}

fn parse_dns(flags: &NetFlags) -> Result<Vec<std::net::IpAddr>, PlanError> {
    Ok(flags
        .dns
        .iter()
        .map(|s| dns::parse_server(s))
        .collect::<Result<_, _>>()?)
}

/// The `-p` specs, and with `-P` every port of `exposed` in port order.
fn publish_specs(
    flags: &NetFlags,
    exposed: &[String],
) -> Result<(Vec<ports::PortSpec>, Vec<ports::PortSpec>), PlanError> {
    let specs = flags
        .publish
        .iter()
        .map(|p| ports::parse_publish(p))
        .collect::<Result<Vec<_>, _>>()?;
    let all = if flags.publish_all {
        let mut all = exposed
            .iter()
            .map(|e| ports::parse_exposed(e))
            .collect::<Result<Vec<_>, _>>()?;
        // The image config's ExposedPorts is a JSON object, read in no
        // fixed order: sort so `hutch port` lists -P ports the same way
        // every time.
        all.sort_by_key(|s| (s.container.start, s.protocol.name()));
        all
    } else {
        Vec::new()
    };
    Ok((specs, all))
}

/// What a container on the user-defined network `def` gets from its flags:
/// the published ports (forwarded to its address), /etc/hosts and
/// /etc/resolv.conf (the network's name server first).
pub fn bridge_parts(
    flags: &NetFlags,
    exposed: &[String],
    hostname: &str,
    env: &HostEnv,
    def: &super::netdef::NetworkDef,
) -> Result<(Vec<PortMapping>, String, String), PlanError> {
    let add_hosts = parse_add_hosts(flags)?;
    let hosts = hosts::hosts_file(&HostsSpec {
        hostname,
        container_ip: None,
        add_hosts: &add_hosts,
        host_loopback: None,
    })?;
    let resolv = super::bridge::resolv_conf(
        def,
        &parse_dns(flags)?,
        &flags.dns_search,
        &flags.dns_option,
    );
    let (specs, all) = publish_specs(flags, exposed)?;
    let ports = ports::resolve(&specs, &all, env.port_policy)?;
    Ok((ports, hosts, resolv))
}

/// Check the flags and compute the plan. `exposed` is the image's
/// `ExposedPorts` keys (used with `-P`); `hostname` the container's.
pub fn plan(
    flags: &NetFlags,
    exposed: &[String],
    hostname: &str,
    env: &HostEnv,
) -> Result<NetPlan, PlanError> {
    let request = flags
        .network
        .as_deref()
        .map(HelperRequest::parse)
        .transpose()?;
    let add_hosts = parse_add_hosts(flags)?;
    let dns = DnsOptions {
        servers: parse_dns(flags)?,
        search: flags.dns_search.clone(),
        options: flags.dns_option.clone(),
    };
    let (specs, all) = publish_specs(flags, exposed)?;
    let mut helper = choose(request, &env.search_path)?;
    if helper.kind() == HelperKind::Slirp4netns {
        if let Some(s) = specs
            .iter()
            .find(|s| s.host_ip.is_some_and(|ip| ip.is_ipv6()))
        {
            return Err(PlanError::SlirpIpv6(s.text.clone()));
        }
    }
    if let HelperRequest::Pasta(p) = &mut helper.request {
        pasta::prefer_map_host_loopback(p, &helper.binary);
    }
    let addrs = addresses(&helper.request, &env.proc_root);
    let hosts = hosts::hosts_file(&HostsSpec {
        hostname,
        container_ip: addrs.container_ip,
        add_hosts: &add_hosts,
        host_loopback: addrs.host_loopback,
    })?;
    let resolv_conf = dns::resolv_conf(Some(addrs.dns_forwarder), &env.resolv, &dns);
    // Last: resolving binds probe sockets, so only once everything else is valid.
    let ports = ports::resolve(&specs, &all, env.port_policy)?;
    Ok(NetPlan {
        helper,
        ports,
        resolv_conf,
        hosts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    struct Fake {
        dir: tempfile::TempDir,
        env: HostEnv,
    }

    /// A host with fake pasta/slirp4netns programs, a resolv.conf and a route.
    fn fake(helpers: &[&str]) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(dir.path().join("proc/net")).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        for h in helpers {
            std::fs::write(bin.join(h), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(bin.join(h), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(
            dir.path().join("resolv.conf"),
            "nameserver 192.0.2.53\nsearch example.org\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("proc/net/route"),
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
             eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\n",
        )
        .unwrap();
        let env = HostEnv {
            search_path: SearchPath(bin.into()),
            proc_root: dir.path().join("proc"),
            resolv: ResolvPaths {
                resolv_conf: dir.path().join("resolv.conf"),
                resolved_upstream: dir.path().join("none"),
            },
            port_policy: PortPolicy {
                unprivileged_port_start: 1024,
                privileged: false,
            },
        };
        Fake { dir, env }
    }

    #[test]
    fn only_none_host_and_container_modes_are_exclusive() {
        let mode = |n: Option<&str>| NetFlags {
            network: n.map(Into::into),
            ..NetFlags::default()
        };
        for n in ["none", "host", "container:db"] {
            assert_eq!(mode(Some(n)).exclusive_mode(), Some(n));
        }
        for n in [None, Some("pasta"), Some("slirp4netns"), Some("mynet")] {
            assert_eq!(mode(n).exclusive_mode(), None, "{n:?}");
        }
    }

    #[test]
    fn attachments_are_added_and_removed_in_order() {
        let mut f = NetFlags {
            network: Some("pasta".into()),
            ..NetFlags::default()
        };
        assert!(f.attachments().is_empty());
        let on = |n: &str| Attachment {
            network: n.into(),
            aliases: vec![format!("{n}-alias")],
            ip: None,
        };
        f.add_attachment(on("a"));
        f.add_attachment(on("b"));
        f.add_attachment(on("c"));
        assert_eq!(f.network.as_deref(), Some("a"));
        let names = |f: &NetFlags| -> Vec<String> {
            f.attachments().into_iter().map(|a| a.network).collect()
        };
        assert_eq!(names(&f), ["a", "b", "c"]);
        assert!(!f.remove_attachment(|n| n == "x"));
        assert!(f.remove_attachment(|n| n == "b"));
        assert!(f.remove_attachment(|n| n == "a"));
        assert_eq!(names(&f), ["c"]);
        assert_eq!(f.aliases, ["c-alias"]);
        assert!(f.remove_attachment(|n| n == "c"));
        assert_eq!(f.network, None);
        assert!(f.aliases.is_empty());
        let none = NetFlags {
            network: Some("none".into()),
            ..NetFlags::default()
        };
        assert!(!none.clone().remove_attachment(|_| true));
    }

    #[test]
    fn default_pasta_plan() {
        let f = fake(&["pasta", "slirp4netns"]);
        let flags = NetFlags {
            publish: vec!["80".into()],
            add_host: vec!["db:192.0.2.10".into()],
            ..NetFlags::default()
        };
        let p = plan(&flags, &[], "box", &f.env).unwrap();
        assert_eq!(p.helper.kind(), HelperKind::Pasta);
        assert_eq!(p.ports.len(), 1);
        assert_eq!(
            p.resolv_conf,
            "search example.org\nnameserver 169.254.1.1\n"
        );
        assert!(
            p.hosts.contains("192.0.2.10\tdb\n127.0.1.1\tbox\n"),
            "{}",
            p.hosts
        );
        assert!(!p.hosts.contains("host.containers.internal"));
        assert!(f.dir.path().exists());
    }

    #[test]
    fn slirp_plan_with_host_access_and_publish_all() {
        let f = fake(&["slirp4netns"]);
        let flags = NetFlags {
            network: Some("slirp4netns:allow_host_loopback=true".into()),
            publish_all: true,
            dns: vec!["192.0.2.99".into()],
            add_host: vec!["gw:host-gateway".into()],
            ..NetFlags::default()
        };
        let p = plan(&flags, &["8080/tcp".into(), "53/udp".into()], "box", &f.env).unwrap();
        let published: Vec<u16> = p.ports.iter().map(|m| m.container_port).collect();
        assert_eq!(published, [53, 8080], "-P publishes in port order");
        assert_eq!(p.resolv_conf, "search example.org\nnameserver 192.0.2.99\n");
        assert!(
            p.hosts
                .contains("10.0.2.2\tgw\n10.0.2.100\tbox\n10.0.2.2\thost.containers.internal"),
            "{}",
            p.hosts
        );
        let flags = NetFlags {
            network: Some("pasta:--map-gw".into()),
            ..NetFlags::default()
        };
        let f = fake(&["pasta"]);
        let p = plan(&flags, &[], "box", &f.env).unwrap();
        assert!(
            p.hosts.contains("10.0.2.1\thost.containers.internal"),
            "{}",
            p.hosts
        );
    }

    #[test]
    fn every_bad_flag_is_one_clear_line() {
        let f = fake(&["pasta"]);
        let e = |flags: NetFlags| {
            plan(&flags, &["x/tcp".into()], "box", &f.env)
                .unwrap_err()
                .to_string()
        };
        let msgs = [
            e(NetFlags {
                network: Some("slirp4netns:mtu=1".into()),
                ..NetFlags::default()
            }),
            e(NetFlags {
                network: Some("slirp4netns".into()),
                ..NetFlags::default()
            }),
            e(NetFlags {
                publish: vec!["80:80".into()],
                ..NetFlags::default()
            }),
            e(NetFlags {
                publish_all: true,
                ..NetFlags::default()
            }),
            e(NetFlags {
                dns: vec!["dns.example".into()],
                ..NetFlags::default()
            }),
            e(NetFlags {
                add_host: vec!["gw:host-gateway".into()],
                ..NetFlags::default()
            }),
            plan(
                &NetFlags {
                    network: Some("slirp4netns".into()),
                    publish: vec!["[::1]::80".into()],
                    ..NetFlags::default()
                },
                &[],
                "box",
                &fake(&["slirp4netns"]).env,
            )
            .unwrap_err()
            .to_string(),
        ];
        for m in &msgs {
            assert!(!m.contains('\n'), "{m}");
        }
        assert!(msgs[0].contains("68 to 65521"));
        assert!(msgs[1].contains("apt-get install slirp4netns"));
        assert!(msgs[2].contains("ip_unprivileged_port_start"));
        assert!(msgs[3].contains("in the image"));
        assert!(msgs[4].contains("not an IP address"));
        assert!(msgs[5].contains("host-gateway needs"));
        assert!(msgs[6].contains("IPv4 host addresses only"));
    }
}
